//! `game --exhaust THREADS`: after the checks, the game runs out of address
//! space, as a long modded session does, and its code checks for NULL.
//!
//! A fixture first takes every free range of the address space (reserved,
//! nothing committed), down to 64 KiB. Then:
//! 1. the game frees a few large blocks: the heap caches their spans;
//! 2. `THREADS` game threads ask the game heap (its hooked allocate) for
//!    1 MiB blocks until each has been refused three times, then for a few
//!    small ones. A block of the heap's cache never fits a 1 MiB request, so
//!    the first requests only succeed once the heap gave its cache back;
//!    then the emergency reserve serves some; then the heap fails and the
//!    game's own C runtime heap is tried;
//! 3. the plugin's log is read before anything is given back: the warning of
//!    the reserve and the error of the failure must be there already;
//! 4. the fixture gives the address space back, the heap serves a 1 MiB
//!    block again, and within the maintenance thread's watch the emergency
//!    reserve is set aside again.
//!
//! Every block the game got is the plugin's or its C runtime heap's: the
//! vanilla heap never existed (at Preload the plugin switched it off). While
//! the space is taken nothing here allocates through Rust's allocator (the
//! process heap has no room either): arrays are sized beforehand and the
//! results printed after.
//!
//! Prints `nvse-host: game: exhaust ...` lines with what each request got.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{GetModuleFileNameW, GetModuleHandleW};
use windows_sys::Win32::System::Memory::{VirtualAlloc, VirtualFree, MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS};

use super::{game_crt_owns, game_malloc_crt, heap_allocate, heap_free, the_heap};
use crate::checks::{Checks, Fact};
use crate::fixtures::Owner;

const MIB: usize = 1 << 20;
/// Large blocks the game frees once the space is taken: two spans more than
/// 2 MiB each (33 spans), which a 1 MiB request (17 spans) cannot use.
const CACHED_BLOCKS: usize = 6;
const CACHED_SIZE: usize = 2 * MIB;
/// What the threads ask for, and how many refusals end a thread's asking.
const REQUEST: usize = MIB;
const REFUSALS: u32 = 3;
/// Small requests each thread makes after its refusals.
const SMALL_REQUESTS: usize = 16;
/// Blocks a thread can hold: more than the address space can give it.
const MOST_BLOCKS: usize = 4096;
/// A thread that has not finished by then is stuck.
const DEADLINE: Duration = Duration::from_secs(60);

/// Address space taken by the fixture: every free range, largest first.
struct Hog {
    regions: Vec<usize>,
    bytes: usize,
}

impl Hog {
    /// Reserves every range `VirtualAlloc` will still give, halving the size
    /// asked for on each refusal, down to 64 KiB (the allocation granularity).
    fn take_everything() -> Hog {
        let mut hog = Hog { regions: Vec::with_capacity(1 << 16), bytes: 0 };
        let mut size = 1usize << 30;
        while size >= 64 << 10 && hog.regions.len() < hog.regions.capacity() {
            // SAFETY: a fresh reservation of untouchable pages aliases nothing.
            let p = unsafe { VirtualAlloc(std::ptr::null(), size, MEM_RESERVE, PAGE_NOACCESS) };
            if p.is_null() {
                size /= 2;
            } else {
                hog.regions.push(p as usize);
                hog.bytes += size;
            }
        }
        hog
    }

    fn give_back(self) {
        for region in self.regions {
            // SAFETY: a reservation made by `take_everything`, released once.
            unsafe { VirtualFree(region as *mut _, 0, MEM_RELEASE) };
        }
    }
}

/// Where a block came from.
#[derive(Default)]
struct Got {
    /// The plugin's heap.
    heap: AtomicU32,
    /// The game's C runtime heap.
    crt: AtomicU32,
    /// Neither: a heap that should not exist.
    nowhere: AtomicU32,
    /// Refused.
    nulls: AtomicU32,
}

impl Got {
    fn count(&self, p: *mut u8, owner: &Owner) {
        let counter = if p.is_null() {
            &self.nulls
        } else if owner.owns(p) == Some(true) {
            &self.heap
        } else if game_crt_owns(p) {
            &self.crt
        } else {
            &self.nowhere
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(counter: &AtomicU32) -> u32 {
        counter.load(Ordering::Relaxed)
    }
}

/// Runs the scenario with `threads` game threads, the plugin loaded as
/// `MemoryPoolNVSE.dll` (its `IsOwned` and its log). Returns the verdict.
pub fn exhaust(threads: usize) -> bool {
    // SAFETY: a NUL-terminated name; nothing is loaded.
    let module = unsafe { GetModuleHandleW(windows_sys::w!("MemoryPoolNVSE.dll")) };
    let plugins: Vec<(String, HMODULE)> =
        if module.is_null() { Vec::new() } else { vec![("MemoryPoolNVSE.dll".into(), module)] };
    let plugins = &plugins[..];
    let owner = Arc::new(Owner::find(plugins));
    let log = plugins.iter().find_map(|&(_, module)| log_path(module));
    // Opened, and room to read it, before the space is taken.
    let mut log_file = log.as_ref().and_then(|path| std::fs::File::open(path).ok());
    let mut said = vec![0u8; 1 << 20];
    let got = Arc::new(Got::default());
    // SAFETY: the game heap's allocate, with its object.
    let cached: Vec<*mut u8> = (0..CACHED_BLOCKS).map(|_| unsafe { heap_allocate(the_heap(), CACHED_SIZE) }).collect();
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (start, owner, got) = (Arc::clone(&start), Arc::clone(&owner), Arc::clone(&got));
            std::thread::spawn(move || ask_until_refused(&start, &owner, &got))
        })
        .collect();
    // The threads' first allocations have given them their heaps by now.
    std::thread::sleep(Duration::from_millis(100));

    let hog = Hog::take_everything();
    for &p in &cached {
        // SAFETY: blocks of the game heap, freed once.
        unsafe { heap_free(the_heap(), p) };
    }
    // The first request fits only once the heap gave its cache back, and
    // needs nothing more: the log has nothing to say of it.
    // SAFETY: the game heap's allocate, with its object.
    let first = unsafe { heap_allocate(the_heap(), REQUEST) };
    let first_from_cache = owner.owns(first) == Some(true);
    let quiet = log_file.as_mut().map_or(0, |file| read_into(file, &mut said));
    let asked = Instant::now();
    start.wait();
    let mut stuck = 0;
    let mut held = Vec::with_capacity(threads);
    for handle in handles {
        while !handle.is_finished() && asked.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            held.push(handle.join().unwrap_or_default());
        } else {
            stuck += 1;
        }
    }
    // Before anything is given back: what the log says already.
    let len = quiet + log_file.as_mut().map_or(0, |file| read_into(file, &mut said[quiet..]));
    for p in held.into_iter().flatten().chain([first as usize]) {
        // SAFETY: blocks the game heap handed out, freed once.
        unsafe { heap_free(the_heap(), p as *mut u8) };
    }
    let hogged = hog.bytes;
    hog.give_back();
    let quiet = !String::from_utf8_lossy(&said[..quiet]).contains("Out of address space");
    let said = String::from_utf8_lossy(&said[..len]).into_owned();

    // SAFETY: as above.
    let again = unsafe { heap_allocate(the_heap(), REQUEST) };
    let recovered = owner.owns(again) == Some(true);
    // SAFETY: the block just made.
    unsafe { heap_free(the_heap(), again) };
    let rearmed = wait_for(log.as_ref(), "The emergency reserve (", Duration::from_secs(8));

    let first = (first_from_cache, quiet);
    report(threads, hogged, first, &got, stuck, &said, (recovered, rearmed))
}

/// One game thread: a first block (its heap starts), then at the signal
/// 1 MiB blocks until refused [`REFUSALS`] times, then small ones. Returns
/// the blocks it holds, as addresses.
fn ask_until_refused(start: &Barrier, owner: &Owner, got: &Got) -> Vec<usize> {
    let mut held = Vec::with_capacity(MOST_BLOCKS);
    // SAFETY: the game heap's methods, with its object.
    unsafe { heap_free(the_heap(), heap_allocate(the_heap(), 64)) };
    start.wait();
    let mut refused = 0;
    while refused < REFUSALS && held.len() + SMALL_REQUESTS < held.capacity() {
        // SAFETY: as above.
        let p = unsafe { heap_allocate(the_heap(), REQUEST) };
        got.count(p, owner);
        if p.is_null() {
            refused += 1;
        } else {
            // The game writes what it gets, at both ends.
            // SAFETY: a fresh block of REQUEST bytes.
            unsafe { p.write(1) };
            // SAFETY: as above.
            unsafe { p.add(REQUEST - 1).write(1) };
            held.push(p as usize);
        }
    }
    for _ in 0..SMALL_REQUESTS {
        // SAFETY: as above.
        let p = unsafe { heap_allocate(the_heap(), 64) };
        got.count(p, owner);
        if !p.is_null() {
            held.push(p as usize);
        }
    }
    held
}

/// Reads what `file` holds from where it stands into `buffer`, without
/// allocating; returns the bytes read.
fn read_into(file: &mut std::fs::File, buffer: &mut [u8]) -> usize {
    use std::io::Read as _;
    let mut len = 0;
    while len < buffer.len() {
        match file.read(&mut buffer[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    len
}

/// `MemoryPoolNVSE.log` beside a plugin that exports the heap's `IsOwned`.
fn log_path(module: HMODULE) -> Option<PathBuf> {
    let mut buffer = [0u16; 1024];
    // SAFETY: the buffer holds as many u16s as the size argument says.
    let len = unsafe { GetModuleFileNameW(module, buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    let path = PathBuf::from(String::from_utf16_lossy(&buffer[..len.min(buffer.len())]));
    let log = path.with_extension("log");
    log.exists().then_some(log)
}

/// Whether a line containing `text` reaches the log within `patience`.
fn wait_for(log: Option<&PathBuf>, text: &str, patience: Duration) -> bool {
    let Some(log) = log else { return false };
    let until = Instant::now() + patience;
    loop {
        if std::fs::read_to_string(log).is_ok_and(|said| said.contains(text)) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints the facts and the verdict. `first`: whether the first request was
/// served by the heap, and with nothing in the log; `after`: whether the
/// heap served again once the space came back, and set its reserve aside.
fn report(
    threads: usize,
    hogged: usize,
    first: (bool, bool),
    got: &Got,
    stuck: usize,
    said: &str,
    after: (bool, bool),
) -> bool {
    let (recovered, rearmed) = after;
    let line_at = |level: &str| said.lines().position(|l| l.contains(level) && l.contains("Out of address space: "));
    let (warned, failed) = (line_at("[WARN]"), line_at("[ERROR]"));
    let read = Got::read;
    let mut checks = Checks::new("game");
    checks.line(
        "exhaust",
        &[
            Fact { key: "threads", shown: threads.to_string(), ok: true },
            Fact { key: "hogged_mib", shown: (hogged / MIB).to_string(), ok: hogged > 0 },
            Fact { key: "stuck", shown: stuck.to_string(), ok: stuck == 0 },
        ],
    );
    checks.line(
        "exhaust first",
        &[
            Fact { key: "from_cache", shown: u8::from(first.0).to_string(), ok: first.0 },
            Fact { key: "quiet", shown: u8::from(first.1).to_string(), ok: first.1 },
        ],
    );
    let nulls = read(&got.nulls);
    checks.line(
        "exhaust got",
        &[
            Fact { key: "heap", shown: read(&got.heap).to_string(), ok: read(&got.heap) > 0 },
            Fact { key: "crt", shown: read(&got.crt).to_string(), ok: true },
            Fact { key: "nowhere", shown: read(&got.nowhere).to_string(), ok: read(&got.nowhere) == 0 },
            Fact { key: "nulls", shown: nulls.to_string(), ok: nulls >= threads as u32 * REFUSALS },
        ],
    );
    let in_order = matches!((warned, failed), (Some(w), Some(f)) if w < f);
    checks.line(
        "exhaust logged",
        &[
            Fact { key: "warning", shown: u8::from(warned.is_some()).to_string(), ok: warned.is_some() },
            Fact { key: "error", shown: u8::from(failed.is_some()).to_string(), ok: failed.is_some() },
            Fact { key: "in_order", shown: u8::from(in_order).to_string(), ok: in_order },
        ],
    );
    checks.line(
        "exhaust after",
        &[
            Fact { key: "served", shown: u8::from(recovered).to_string(), ok: recovered },
            Fact { key: "reserve_again", shown: u8::from(rearmed).to_string(), ok: rearmed },
        ],
    );
    checks.verdict()
}

/// `game --exhaust-before-runtime`: the address space runs out before the
/// game's C runtime made its heap (a Preload plugin hooked the runtime by
/// then), and the runtime's internal `malloc` is called, as its start-up does.
/// The heap cannot serve it, and the original runtime ends the process
/// (R6030) once the plugin's log has said why. Never returns if so.
pub fn exhaust_before_runtime() {
    let hog = Hog::take_everything();
    println!("nvse-host: game: exhaust before the runtime hogged_mib={}", hog.bytes / MIB);
    // SAFETY: the runtime's internal malloc, with any size.
    let p = unsafe { game_malloc_crt(REQUEST) };
    hog.give_back();
    println!("nvse-host: game: FAILED exhaust before the runtime: malloc returned {p:p}");
}
