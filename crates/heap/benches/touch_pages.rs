//! What `[Heap] TouchPages` costs and buys: the heap started without and
//! with it, each in a process of its own (the heap starts once per process).
//!
//! ```text
//! cargo bench -p heap --bench touch_pages
//! cargo bench -p heap --bench touch_pages --target i686-pc-windows-gnu
//! ```
//! Prints, per setting: the memory the process holds in RAM after its first
//! small block (touching commits the whole first mapping), then the time to
//! allocate and fill 256 MiB in 64 KiB blocks, and the slowest single block
//! (the stall a frame would see).

use std::process::Command;
use std::time::{Duration, Instant};

use heap::Originals;

const CHILD: &str = "MEMORYPOOL_TOUCH_PAGES_CHILD";
const BLOCK: usize = 64 * 1024;
const BLOCKS: usize = 4096;
const PAGE: usize = 4096;

static CRT: Originals = Originals::new();

fn main() {
    if let Ok(touch) = std::env::var(CHILD) {
        return child(touch == "1");
    }
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets`: nothing to smoke-test here.
    }
    println!(
        "{:<11} {:>14} {:>10} {:>12} {:>14}",
        "TouchPages", "RAM 1st block", "fill MiB", "µs per MiB", "slowest block"
    );
    for touch in ["0", "1"] {
        let exe = std::env::current_exe().expect("this program's path");
        let out = Command::new(exe).env(CHILD, touch).output().expect("run the measurement");
        print!("{:<11} {}", touch, String::from_utf8_lossy(&out.stdout));
    }
}

fn child(touch_pages: bool) {
    // The heap never falls back in this run: the originals stay empty.
    heap::init(&heap::Config { touch_pages, ..heap::Config::DEFAULT }).expect("heap starts");
    let before = resident();
    let first = heap::malloc(&CRT, 100);
    let first_cost = resident().saturating_sub(before);

    let mut blocks = Vec::with_capacity(BLOCKS);
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..BLOCKS {
        let t = Instant::now();
        let p = heap::malloc(&CRT, BLOCK).cast::<u8>();
        assert!(!p.is_null());
        for offset in (0..BLOCK).step_by(PAGE) {
            // SAFETY: inside the fresh block.
            unsafe { p.add(offset).write_volatile(1) };
        }
        slowest = slowest.max(t.elapsed());
        blocks.push(p);
    }
    let total = start.elapsed();
    let mib = (BLOCKS * BLOCK) >> 20;
    println!(
        "{:>10} KiB {:>10} {:>12.1} {:>11.1} µs",
        first_cost >> 10,
        mib,
        total.as_secs_f64() * 1e6 / mib as f64,
        slowest.as_secs_f64() * 1e6
    );
    for p in blocks.into_iter().chain([first.cast()]) {
        // SAFETY: live blocks of the heap, freed once.
        unsafe { heap::free(&CRT, p.cast()) };
    }
}

/// Bytes of the process in RAM.
#[cfg(windows)]
fn resident() -> usize {
    use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    // SAFETY: plain data, filled by the call below.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-buffer of the size given, for this process.
    unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, size_of::<PROCESS_MEMORY_COUNTERS>() as u32) };
    counters.WorkingSetSize
}

/// Bytes of the process in RAM.
#[cfg(not(windows))]
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    pages * PAGE
}
