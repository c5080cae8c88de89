//! The `bench` scenario: the benchmark's workloads through this program's
//! own C runtime imports, as a game module calls `malloc` (`--via imports`,
//! the default), or through the synthetic game's heap object or static C
//! runtime (`--via game-heap`, `--via static-crt`: see `game::paths`), which
//! the plugin hooks inline when its profile names them.
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
//! msvcrt's alike. The frame session (`game-frames`) times every call; with
//! the plugin, its memory system calls are counted meanwhile by thread
//! (`crate::os_calls`).

use windows_sys::Win32::Foundation::HMODULE;
use workloads::latency::frames;
use workloads::record::{AddressSpace, Latency};
use workloads::{memory, Allocator, Record, Space};

use crate::fixtures::Owner;
use crate::game::{GameHeapPath, StaticCrtPath};
use crate::{os_calls, BenchOptions, Via};

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

/// Runs the workloads and prints one record each, through the functions
/// `options.via` names. False if a plugin is loaded and yet does not serve
/// them: the records would not measure what their name says.
pub fn run(options: &BenchOptions, plugins: &[(String, HMODULE)]) -> bool {
    match options.via {
        Via::Imports => run_via::<Crt>(options, plugins, Labels { vanilla: "crt", plugin: "plugin-crt" }),
        Via::GameHeap => {
            run_via::<GameHeapPath>(options, plugins, Labels { vanilla: "vanilla-game-heap", plugin: "game-heap" })
        }
        Via::StaticCrt => {
            run_via::<StaticCrtPath>(options, plugins, Labels { vanilla: "vanilla-static-crt", plugin: "static-crt" })
        }
    }
}

/// The allocator's name in the records, without a plugin and with one.
struct Labels {
    vanilla: &'static str,
    plugin: &'static str,
}

fn run_via<A: Allocator>(options: &BenchOptions, plugins: &[(String, HMODULE)], labels: Labels) -> bool {
    let owner = Owner::find(plugins);
    // SAFETY: the path's malloc and free (the game started, if they are
    // its), the block freed once.
    let served = unsafe {
        let probe = A::malloc(64);
        let served = owner.owns(probe);
        A::free(probe);
        served
    };
    let allocator = match (plugins.is_empty(), served) {
        (true, _) => labels.vanilla,
        (false, Some(true)) => options.label.as_deref().unwrap_or(labels.plugin),
        (false, _) => {
            println!(
                "nvse-host: bench: FAILED: a plugin is loaded but the {} path is not served by it (owned {served:?})",
                options.via.name()
            );
            return false;
        }
    };
    let (workloads, sessions) = (options.workloads.len(), options.sessions.len());
    let what = match options.frames {
        false => format!("{workloads} workload(s) and {sessions} session(s)"),
        true => format!("{workloads} workload(s), {sessions} session(s) and the frame session"),
    };
    println!("nvse-host: bench: {allocator}, {what} at {:?} scale", options.scale);
    let platform = memory::platform();
    let print = |record: Record| {
        println!("{}", Record { allocator: allocator.into(), platform: platform.clone(), ..record }.to_json());
    };
    for &workload in &options.workloads {
        let (measured, rss) = resident_growth(|| workloads::measure::<A>(workload, options.scale));
        print(Record {
            ns_per_op: Some(measured.best.ns_per_op()),
            runs: measured.runs,
            ..rss_record(workload.name(), measured.best.ops, measured.best.peak_live_bytes, rss)
        });
    }
    for &session in &options.sessions {
        let (outcome, rss) = resident_growth(|| session.run::<A>(options.scale, walk));
        // Measures address space, not speed: settling is most of its time.
        print(Record {
            address_space: Some(AddressSpace::from(&outcome)),
            ..rss_record(session.name(), outcome.ops, outcome.peak_live_bytes, rss)
        });
    }
    if options.frames {
        print(frames::<A>(options, plugins, allocator == labels.plugin));
    }
    true
}

/// What `body` returned, and how much the resident set grew meanwhile:
/// neither allocator's own accounting is readable from here, so the
/// growth stands for both.
fn resident_growth<T>(body: impl FnOnce() -> T) -> (T, Option<u64>) {
    let before = memory::resident();
    let value = body();
    let rss = before.zip(memory::resident()).map(|(before, after)| after.peak.saturating_sub(before.now));
    (value, rss)
}

/// A record of one run of `workload` whose mapped bytes are the resident
/// set's growth; no speed, and no allocator or platform yet.
fn rss_record(workload: &str, ops: u64, peak_live_bytes: u64, rss: Option<u64>) -> Record {
    Record {
        workload: workload.into(),
        allocator: String::new(),
        platform: String::new(),
        ns_per_op: None,
        ops,
        peak_live_bytes,
        peak_mapped_bytes: rss,
        mapped_source: rss.map(|_| "rss".into()),
        peak_rss_delta_bytes: rss,
        runs: 1,
        instructions_per_op: None,
        address_space: None,
        latency: None,
    }
}

/// The frame session through `A`, and, with a plugin serving it, the
/// plugin's memory system calls meanwhile (see `crate::os_calls`).
fn frames<A: Allocator>(options: &BenchOptions, plugins: &[(String, HMODULE)], plugin: bool) -> Record {
    let counting = plugin
        && plugins.iter().all(|(name, module)| {
            // SAFETY: a loaded plugin, whose import table nothing else writes
            // now (its hooks are in place); its memory imports are kernel32's.
            let installed = unsafe { os_calls::install(*module) };
            if let Err(e) = &installed {
                println!("nvse-host: bench: the system calls of {name} are not counted: {e}");
            }
            installed.is_ok()
        });
    os_calls::reset();
    let (outcome, rss) = resident_growth(|| frames::run::<A>(options.scale, os_calls::game_thread));
    let calls = counting.then(os_calls::counts);
    // Measures single calls and frames, not throughput.
    Record {
        latency: Some(Latency::of(&outcome, calls)),
        ..rss_record(frames::NAME, outcome.ops, outcome.peak_live_bytes, rss)
    }
}

/// The sessions' walk: private bytes reserved and the largest free region.
fn walk() -> Space {
    let summary = address_space::walk();
    Space { reserved: summary.reserved_private_bytes, largest_free: summary.largest_free }
}
