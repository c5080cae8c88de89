//! The project's build and test driver.
//!
//! - `cargo xtask dist`: builds `MemoryPoolNVSE.dll` for 32-bit Windows and
//!   packages it under `target/dist/`.
//! - `cargo xtask test`: every test: native, i686 Windows under Wine, the
//!   end-to-end scenarios with the real DLL and the NVSE stand-in, and a
//!   bounded fuzzing run of the PE import reader.
//! - `cargo xtask bench [--quick]`: every allocation workload against every
//!   allocator, natively and under Wine; a table and
//!   `target/bench/results.json`.
//!
//! - `cargo xtask demo [--short]`: a minute of the synthetic game under Wine
//!   with the plugin, its statistics CSV, and the report tool's charts.
//!
//! They install what is missing first (see [`setup`]) and say what they do.

mod bench;
mod demo;
mod dist;
mod fuzz;
mod game;
mod late;
mod run;
mod setup;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  dist    build MemoryPoolNVSE.dll and package it in target/dist/
  test    run every test (native, Windows under Wine, end to end)
  bench [--quick]  measure every workload with every allocator, natively and
                   under Wine: a table and target/bench/results.json
  demo [--short]   a minute (--short: 5 s) of the synthetic game under Wine
                   with the plugin: its log in short, its statistics CSV
                   and the report tool's charts
  setup   only install what the commands above need
  fuzz [SECONDS]  fuzz the PE import reader (default 60 s; part of `test`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist::run(),
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("setup") => setup::everything(),
        Some("fuzz") => match args.get(1).map(|s| s.parse::<u32>()) {
            None => fuzz::run(60),
            Some(Ok(seconds)) => fuzz::run(seconds),
            Some(Err(_)) => Err(format!("`fuzz` takes a number of seconds\n\n{USAGE}")),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
