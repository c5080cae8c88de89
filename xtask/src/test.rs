//! `cargo xtask test`: every test there is.
//!
//! 1. native: the workspace's tests on this machine, including the
//!    end-to-end scenarios, which run the packaged DLL in the NVSE stand-ins
//!    (nvse-host and the replica of FalloutNV.exe) under Wine and read the
//!    log it leaves;
//! 2. Windows: the workspace's tests built for i686-pc-windows-gnu and run
//!    under Wine by cargo's target runner (`xtask/wine-runner.sh`);
//! 3. the benchmark's smoke run: every workload with every allocator for a
//!    few thousand operations, natively and under Wine (numbers not judged);
//! 4. the demo (`cargo xtask demo --short`): a few seconds of the synthetic
//!    game with the plugin, its statistics CSV and the report's charts;
//! 5. fuzzing: the PE import reader, fed arbitrary bytes for a bounded time.

use std::process::Command;

use crate::dist;
use crate::run::{self, cmd, cmd_with, step, Result, WINDOWS_TARGET};
use crate::setup;

/// How long `cargo xtask test` fuzzes the PE import reader.
const FUZZ_SECONDS: u32 = 60;

pub fn run(args: &[String]) -> Result {
    if let Some(extra) = args.first() {
        return Err(format!("`cargo xtask test` takes no arguments (got {extra})"));
    }
    step("setup (tests)", setup::for_tests)?;
    let _wineserver = run::WineServer::hold();
    dist::run()?;
    step(
        "build the NVSE stand-ins: nvse-host and the replica of FalloutNV.exe (release, i686-pc-windows-gnu)",
        || {
            cmd(
                "cargo",
                &["build", "--release", "--locked", "--target", WINDOWS_TARGET, "-p", "nvse-host", "-p", "fnv-replica"],
            )
        },
    )?;
    step("native tests (with end-to-end scenarios under Wine)", native)?;
    step("Windows tests under Wine (i686-pc-windows-gnu)", windows)?;
    step("benchmark smoke run", crate::bench::smoke)?;
    step("the demo, short", crate::demo::short)?;
    crate::fuzz::run(FUZZ_SECONDS)?;
    println!("\nxtask: all tests passed");
    Ok(())
}

/// Every test binary runs even after one fails (`--no-fail-fast`): a
/// failing end-to-end scenario does not hide how the others fare.
fn native() -> Result {
    let release = run::target_dir().join(WINDOWS_TARGET).join("release");
    cmd_with(
        Command::new("cargo")
            .args(["test", "--locked", "--no-fail-fast", "--workspace"])
            .env("MEMORYPOOL_DLL", dist::dist_dll())
            .env("MEMORYPOOL_HOST", release.join("nvse-host.exe"))
            .env("MEMORYPOOL_REPLICA", release.join("FalloutNV.exe"))
            .env("MEMORYPOOL_TARGET_DIR", run::target_dir()),
    )
}

fn windows() -> Result {
    cmd(
        "cargo",
        &[
            "test",
            "--locked",
            "--no-fail-fast",
            "--workspace",
            "--exclude",
            "xtask",
            "--exclude",
            "e2e",
            "--target",
            WINDOWS_TARGET,
        ],
    )
}
