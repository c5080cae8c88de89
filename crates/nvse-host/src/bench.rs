//! The `bench` scenario: the benchmark's workloads through this program's
//! own C runtime imports, as a game module calls `malloc`.
//!
//! The calls below go through the import address table of `nvse-host.exe`
//! (msvcrt.dll's `malloc` family, imported by MinGW's code as by Rust's
//! std): with MemoryPoolNVSE installed, the plugin has redirected those
//! slots to its heap by now (`plugin-crt`); without it they are msvcrt's
//! own (`crt`). The difference between the two is what the plugin changes
//! for a module of the game.
//!
//! The game sessions are sampled by walks of this process's address space
//! (`crates/address-space`), which under Wine count the plugin's heap and
//! msvcrt's alike.

use windows_sys::Win32::Foundation::HMODULE;
use workloads::record::AddressSpace;
use workloads::{memory, Allocator, Record, Space};

use crate::fixtures::Owner;
use crate::BenchOptions;

extern "C" {
    // This program's own C runtime functions, through its import table.
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn realloc(p: *mut u8, size: usize) -> *mut u8;
    fn free(p: *mut u8);
}

/// msvcrt's `malloc` family as this program imports it.
struct Crt;

impl Allocator for Crt {
    /// Replaced by the label `run` finds; the workloads only use it in messages.
    const NAME: &'static str = "crt imports";
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: a plain allocation call.
        unsafe { malloc(size) }
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        // SAFETY: a plain allocation call.
        unsafe { calloc(count, size) }
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract (a live block of these imports).
        unsafe { free(p) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { realloc(p, size) }
    }
}

/// Runs the workloads and prints one record each. False if a plugin is
/// loaded and yet does not serve this program's `malloc`: the records would
/// not measure what their name says.
pub fn run(options: &BenchOptions, plugins: &[(String, HMODULE)]) -> bool {
    let owner = Owner::find(plugins);
    // SAFETY: msvcrt's malloc and free, the block freed once.
    let served = unsafe {
        let probe = malloc(64);
        let served = owner.owns(probe);
        free(probe);
        served
    };
    let allocator = match (plugins.is_empty(), served) {
        (true, _) => "crt",
        (false, Some(true)) => "plugin-crt",
        (false, _) => {
            println!(
                "nvse-host: bench: FAILED: a plugin is loaded but this program's malloc is not its (owned {served:?})"
            );
            return false;
        }
    };
    println!(
        "nvse-host: bench: {allocator}, {} workload(s) and {} session(s) at {:?} scale",
        options.workloads.len(),
        options.sessions.len(),
        options.scale
    );
    let platform = memory::platform();
    for &workload in &options.workloads {
        let before = memory::resident();
        let measured = workloads::measure::<Crt>(workload, options.scale);
        // Neither allocator's own accounting is readable from here: the
        // resident set's growth stands for both.
        let rss = before.zip(memory::resident()).map(|(before, after)| after.peak.saturating_sub(before.now));
        let record = Record {
            workload: workload.name().into(),
            allocator: allocator.into(),
            platform: platform.clone(),
            ns_per_op: Some(measured.best.ns_per_op()),
            ops: measured.best.ops,
            peak_live_bytes: measured.best.peak_live_bytes,
            peak_mapped_bytes: rss,
            mapped_source: rss.map(|_| "rss".into()),
            peak_rss_delta_bytes: rss,
            runs: measured.runs,
            instructions_per_op: None,
            address_space: None,
        };
        println!("{}", record.to_json());
    }
    for &session in &options.sessions {
        let before = memory::resident();
        let outcome = session.run::<Crt>(options.scale, walk);
        let rss = before.zip(memory::resident()).map(|(before, after)| after.peak.saturating_sub(before.now));
        let record = Record {
            workload: session.name().into(),
            allocator: allocator.into(),
            platform: platform.clone(),
            // Measures address space, not speed: settling is most of its time.
            ns_per_op: None,
            ops: outcome.ops,
            peak_live_bytes: outcome.peak_live_bytes,
            peak_mapped_bytes: rss,
            mapped_source: rss.map(|_| "rss".into()),
            peak_rss_delta_bytes: rss,
            runs: 1,
            instructions_per_op: None,
            address_space: Some(AddressSpace::from(&outcome)),
        };
        println!("{}", record.to_json());
    }
    true
}

/// The sessions' walk: private bytes reserved and the largest free region.
fn walk() -> Space {
    let summary = address_space::walk();
    Space { reserved: summary.reserved_private_bytes, largest_free: summary.largest_free }
}
