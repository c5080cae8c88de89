//! Instructions per operation on the plugin's own architecture. callgrind
//! cannot run the Windows DLL, but it runs the benchmark built for
//! `i686-unknown-linux-gnu`: the heap's code compiled for 32-bit x86 as the
//! DLL's is (its thread-local slot and its OS layer are Linux's). `cargo
//! xtask bench` installs what that build needs (the Rust target, and
//! gcc-multilib for rpmalloc's and mimalloc's C); without it, this step
//! says so and the records have no i686 counts.

use std::path::PathBuf;
use std::process::Command;

use workloads::Record;

use super::{instructions, CALLGRIND_ALLOCATORS};
use crate::run::{self, Result};

pub const TARGET: &str = "i686-unknown-linux-gnu";
/// The records' platform, as the benchmark names it there.
pub const PLATFORM: &str = "i686-linux";

/// Adds an `i686-linux` record of `small-churn` per callgrind allocator,
/// with its instructions per operation (and no time: under callgrind it
/// means nothing), or says why it cannot.
pub fn callgrind(ops: (u64, u64), records: &mut Vec<Record>) -> Result {
    let bench = match build() {
        Ok(bench) => bench,
        Err(why) => {
            println!("bench: {PLATFORM}: no instruction counts for the i686 build: {why}");
            return Ok(());
        }
    };
    for allocator in CALLGRIND_ALLOCATORS {
        let (per_op, record) = instructions(ops, &bench, allocator, PLATFORM)?;
        if record.platform != PLATFORM {
            return Err(format!("the {TARGET} benchmark says it runs on {}", record.platform));
        }
        records.push(Record {
            ns_per_op: None,
            peak_mapped_bytes: None,
            mapped_source: None,
            peak_rss_delta_bytes: None,
            instructions_per_op: Some(per_op),
            ..record
        });
    }
    Ok(())
}

/// Builds the benchmark for [`TARGET`]; why not, if it cannot.
fn build() -> std::result::Result<PathBuf, String> {
    let installed = run::output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == TARGET) {
        return Err(format!("the Rust target {TARGET} is not installed (`cargo xtask bench` installs it)"));
    }
    let (ok, output) = run::output_all(
        Command::new("cargo")
            .args(["build", "--release", "--locked", "--target", TARGET, "-p", "bench"])
            .current_dir(run::root()),
    );
    if !ok {
        let tail: Vec<&str> = output.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`cargo build --target {TARGET} -p bench` failed (32-bit C libraries missing? gcc-multilib):\n{}",
            tail.join("\n")
        ));
    }
    Ok(run::target_dir().join(TARGET).join("release").join("bench"))
}
