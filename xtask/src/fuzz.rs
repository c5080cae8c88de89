//! Fuzzing what reads untrusted input with cargo-fuzz: the PE import reader
//! (`crates/pe-imports`, modules of any shape), the INI parser
//! (`crates/config`, files players edit) and the profile reader
//! (`crates/game-profile`, files players may supply).
//!
//! The fuzz targets live in `fuzz/`, a workspace of its own: libFuzzer needs a
//! nightly toolchain (`-Zsanitizer`), so it is kept out of the main build.
//! Installs what is missing first: the nightly toolchain (minimal profile) and
//! `cargo-fuzz`. Inputs that crash are saved under `fuzz/artifacts/<target>/`;
//! the corpus grows in `fuzz/corpus/<target>/` (both ignored by git), from
//! the shipped INI and the built-in profile ([`SEEDS`]).

use crate::run::{cmd, output, step, Result};

/// The cargo-fuzz targets (`fuzz/fuzz_targets/<name>.rs`) and their shares
/// of the time: the PE reader has far more paths to explore.
const TARGETS: &[(&str, u32)] = &[("pe_imports", 2), ("config", 1), ("profile", 1)];

/// Fuzzes every target, `seconds` in all, shared by weight; fails if one
/// finds a crash (a panic, an overflow, a sanitizer report) or cannot run.
pub fn run(seconds: u32) -> Result {
    let weights: u32 = TARGETS.iter().map(|&(_, weight)| weight).sum();
    if seconds < weights {
        // libFuzzer reads `-max_total_time=0` as "no limit".
        return Err(format!("fuzzing needs a time limit of at least {weights} seconds"));
    }
    step("setup (fuzzing)", || {
        nightly()?;
        cargo_fuzz()
    })?;
    for &(target, weight) in TARGETS {
        fuzz(target, seconds * weight / weights)?;
    }
    Ok(())
}

/// Files every run starts from, besides what earlier runs found: the shipped
/// INI holds every key, the built-in profile every part of the format, so
/// that a short run mutates what the reader must accept from the first input.
const SEEDS: &[(&str, &str)] = &[
    ("config", "crates/plugin/MemoryPoolNVSE.ini"),
    ("profile", "crates/game-profile/profiles/FalloutNV-1.4.0.525.toml"),
];

/// Copies `target`'s seeds into its corpus (`fuzz/corpus/<target>/`).
fn seed(target: &str) -> Result {
    let corpus = crate::run::root().join("fuzz/corpus").join(target);
    for &(_, file) in SEEDS.iter().filter(|(t, _)| *t == target) {
        let from = crate::run::root().join(file);
        let name = from.file_name().ok_or_else(|| format!("{file}: no file name"))?;
        std::fs::create_dir_all(&corpus).map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        std::fs::copy(&from, corpus.join(name)).map_err(|e| format!("cannot seed {target} with {file}: {e}"))?;
    }
    Ok(())
}

fn fuzz(target: &str, seconds: u32) -> Result {
    seed(target)?;
    step(&format!("fuzz {target} for {seconds} s"), || {
        // Without `-O`, cargo-fuzz builds optimised with debug assertions and
        // overflow checks on, so arithmetic overflow on input is a crash too.
        cmd("cargo", &["+nightly", "fuzz", "run", target, "--", &format!("-max_total_time={seconds}")]).map_err(|e| {
            format!(
                "{e}\nif libFuzzer found a crash, its input is in fuzz/artifacts/{target}/; \
                 replay it with `cargo +nightly fuzz run {target} <file>`"
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
