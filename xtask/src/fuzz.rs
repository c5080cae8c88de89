//! Fuzzing the PE import reader (`crates/pe-imports`) with cargo-fuzz.
//!
//! The fuzz target lives in `fuzz/`, a workspace of its own: libFuzzer needs a
//! nightly toolchain (`-Zsanitizer`), so it is kept out of the main build.
//! Installs what is missing first: the nightly toolchain (minimal profile) and
//! `cargo-fuzz`. Inputs that crash are saved under `fuzz/artifacts/pe_imports/`;
//! the corpus grows in `fuzz/corpus/pe_imports/` (both ignored by git).

use crate::run::{cmd, output, step, Result};

/// The cargo-fuzz target (`fuzz/fuzz_targets/pe_imports.rs`).
const TARGET: &str = "pe_imports";

/// Fuzzes the `pe_imports` target for `seconds` seconds; fails if it finds a
/// crash (a panic, an overflow, a sanitizer report) or cannot run.
pub fn run(seconds: u32) -> Result {
    if seconds == 0 {
        // libFuzzer reads `-max_total_time=0` as "no limit".
        return Err("fuzzing needs a time limit of at least one second".into());
    }
    step("setup (fuzzing)", || {
        nightly()?;
        cargo_fuzz()
    })?;
    step(&format!("fuzz {TARGET} for {seconds} s"), || {
        // Without `-O`, cargo-fuzz builds optimised with debug assertions and
        // overflow checks on, so arithmetic overflow on input is a crash too.
        cmd("cargo", &["+nightly", "fuzz", "run", TARGET, "--", &format!("-max_total_time={seconds}")]).map_err(|e| {
            format!(
                "{e}\nif libFuzzer found a crash, its input is in fuzz/artifacts/{TARGET}/; \
                 replay it with `cargo +nightly fuzz run {TARGET} <file>`"
            )
        })
    })
}

fn nightly() -> Result {
    if let Some(version) = output("rustup", &["run", "nightly", "rustc", "-V"]) {
        println!("setup: nightly toolchain: {}", version.trim());
        return Ok(());
    }
    println!("setup: nightly toolchain: missing, installing it (minimal profile)");
    cmd("rustup", &["toolchain", "install", "nightly", "--profile", "minimal"])
}

fn cargo_fuzz() -> Result {
    if let Some(version) = output("cargo", &["+nightly", "fuzz", "--version"]) {
        println!("setup: cargo-fuzz: {}", version.trim());
        return Ok(());
    }
    println!("setup: cargo-fuzz: missing, installing it");
    cmd("cargo", &["install", "cargo-fuzz", "--locked"])
}
