//! The allocator benchmark: every workload of `crates/workloads` against
//!
//! - `hooked-rpmalloc`: the plugin's entry path, the heap crate's
//!   `malloc`/`calloc`/`free`/`realloc` with the C runtime's [`Originals`]
//!   (ownership check, statistics, backend call), trimmed every second by a
//!   thread of its own, as the plugin's maintenance thread does;
//! - `rpmalloc`: rpmalloc called directly, one first-class heap per thread as
//!   the heap uses it;
//! - `mimalloc`: mimalloc called directly;
//! - `system`: the C runtime this program links (glibc natively, msvcrt.dll
//!   on Windows and under Wine);
//!
//! printing one JSON line per workload and allocator ([`workloads::Record`]);
//! and the game sessions (`game-session-1t`, `game-session-4t`), once each,
//! sampled by walks of the address space (`crates/address-space`).
//!
//! ```text
//! bench [--scale full|quick|smoke] [--workload NAME]... [--allocator NAME]... [--ops N]
//! ```
//! Without `--workload` or `--allocator`, all of them (a session's name is a
//! workload's for `--workload`). `--ops N` runs each
//! combination once for N operations without a warm-up (`cargo xtask bench`
//! runs `small-churn` so under callgrind, twice, to count instructions per
//! operation). `cargo xtask bench` starts one process per combination, so
//! that the peaks of one are not another's: within one process, the mapped
//! and resident peaks are the process's since it started.

use std::cell::Cell;
use std::process::ExitCode;
use std::ptr;

use heap::{Function, Originals};
use rpmalloc_sys as rp;
use workloads::record::AddressSpace;
use workloads::{crt, memory, Allocator, Measurement, Record, Scale, Session, SessionOutcome, Space, Walk, Workload};

/// The "original" C runtime of `hooked-rpmalloc`, as a hook has it. Never
/// reached on the measured paths: no block is foreign and rpmalloc does not
/// fail here (checked after the run).
static CRT: Originals = Originals::new();

struct Hooked;

impl Allocator for Hooked {
    const NAME: &'static str = "hooked-rpmalloc";
    fn thread_end() {
        // What the plugin does at DLL_THREAD_DETACH.
        heap::thread_exit();
    }
    unsafe fn malloc(size: usize) -> *mut u8 {
        heap::malloc(&CRT, size).cast()
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        heap::calloc(&CRT, count, size).cast()
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract (a live block of the heap).
        unsafe { heap::free(&CRT, p.cast()) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { heap::realloc(&CRT, p.cast(), size).cast() }
    }
}

std::thread_local! {
    static RP_HEAP: Cell<*mut rp::rpmalloc_heap_t> = const { Cell::new(ptr::null_mut()) };
}

/// rpmalloc as the heap builds it (`crates/rpmalloc-sys`), started by
/// `heap::init` (so that its mapper counts what it maps), with a first-class
/// heap per thread in a plain thread-local.
struct Rpmalloc;

impl Allocator for Rpmalloc {
    const NAME: &'static str = "rpmalloc";
    fn thread_start() {
        if RP_HEAP.get().is_null() {
            // SAFETY: rpmalloc is initialised (heap::init, before any workload).
            RP_HEAP.set(unsafe { rp::rpmalloc_heap_acquire() });
        }
    }
    fn thread_end() {
        // SAFETY: the thread's own heap, not used by it again.
        unsafe { rp::rpmalloc_heap_release(RP_HEAP.replace(ptr::null_mut())) }
    }
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the thread's heap, acquired in `thread_start`.
        unsafe { rp::rpmalloc_heap_alloc(RP_HEAP.get(), size).cast() }
    }
    /// rpmalloc-sys binds no `rpmalloc_heap_calloc`; rpmalloc's own is this:
    /// an allocation and a `memset`.
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else { return ptr::null_mut() };
        // SAFETY: the thread's heap; the block, if any, has `total` bytes.
        unsafe {
            let p = rp::rpmalloc_heap_alloc(RP_HEAP.get(), total).cast::<u8>();
            if !p.is_null() {
                p.write_bytes(0, total);
            }
            p
        }
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract.
        unsafe { rp::rpfree(p.cast()) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract, and the thread's heap.
        unsafe { rp::rpmalloc_heap_realloc(RP_HEAP.get(), p.cast(), size, 0).cast() }
    }
}

/// An allocator called straight through its C functions (it starts itself
/// and each thread lazily).
macro_rules! raw {
    ($ty:ident, $name:literal, $malloc:path, $calloc:path, $free:path, $realloc:path) => {
        struct $ty;
        impl Allocator for $ty {
            const NAME: &'static str = $name;
            unsafe fn malloc(size: usize) -> *mut u8 {
                // SAFETY: a plain allocation call.
                unsafe { $malloc(size).cast() }
            }
            unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
                // SAFETY: a plain allocation call.
                unsafe { $calloc(count, size).cast() }
            }
            unsafe fn free(p: *mut u8) {
                // SAFETY: forwarded contract.
                unsafe { $free(p.cast()) }
            }
            unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
                // SAFETY: forwarded contract.
                unsafe { $realloc(p.cast(), size).cast() }
            }
        }
    };
}

raw!(
    Mimalloc,
    "mimalloc",
    libmimalloc_sys::mi_malloc,
    libmimalloc_sys::mi_calloc,
    libmimalloc_sys::mi_free,
    libmimalloc_sys::mi_realloc
);
raw!(System, "system", crt::malloc, crt::calloc, crt::free, crt::realloc);

/// What an allocator held, read before and after a workload.
#[derive(Clone, Copy)]
enum Mapped {
    /// The heap's count of what rpmalloc's mapper holds.
    Rpmalloc,
    /// mimalloc's own count of what it made readable and writable.
    Mimalloc,
    /// Only the resident set says.
    Resident,
}

impl Mapped {
    fn source(self) -> &'static str {
        match self {
            Mapped::Rpmalloc => "rpmalloc-mapped",
            Mapped::Mimalloc => "mimalloc-committed",
            Mapped::Resident => "rss",
        }
    }

    /// `(now, peak)`.
    fn read(self) -> Option<(u64, u64)> {
        match self {
            Mapped::Rpmalloc => {
                let stats = heap::stats();
                Some((stats.mapped_bytes, stats.peak_mapped_bytes))
            }
            Mapped::Mimalloc => {
                let (mut now, mut peak) = (0usize, 0usize);
                let null = ptr::null_mut();
                // SAFETY: out-parameters that may be null, two of them given.
                unsafe { libmimalloc_sys::mi_process_info(null, null, null, null, null, &mut now, &mut peak, null) };
                (peak > 0).then_some((now as u64, peak as u64))
            }
            Mapped::Resident => memory::resident().map(|r| (r.now, r.peak)),
        }
    }
}

type Measure = fn(Workload, Scale, Option<u64>) -> Measurement;
type RunSession = fn(Session, Scale, Walk) -> SessionOutcome;

/// The fastest of the scale's runs, or one run of exactly `ops` operations.
fn run<A: Allocator>(workload: Workload, scale: Scale, ops: Option<u64>) -> Measurement {
    match ops {
        Some(ops) => Measurement { best: workload.run::<A>(ops), runs: 1 },
        None => workloads::measure::<A>(workload, scale),
    }
}

fn session<A: Allocator>(session: Session, scale: Scale, walk: Walk) -> SessionOutcome {
    session.run::<A>(scale, walk)
}

/// The sessions' walk: private bytes reserved and the largest free region.
fn walk() -> Space {
    let summary = address_space::walk();
    Space { reserved: summary.reserved_private_bytes, largest_free: summary.largest_free }
}

struct Entry {
    name: &'static str,
    /// Whether it needs `heap::init` (which starts rpmalloc).
    heap: bool,
    mapped: Mapped,
    thread_start: fn(),
    measure: Measure,
    session: RunSession,
}

fn entry<A: Allocator>(heap: bool, mapped: Mapped) -> Entry {
    Entry { name: A::NAME, heap, mapped, thread_start: A::thread_start, measure: run::<A>, session: session::<A> }
}

fn allocators() -> [Entry; 4] {
    [
        entry::<Hooked>(true, Mapped::Rpmalloc),
        entry::<Rpmalloc>(true, Mapped::Rpmalloc),
        // On Windows mimalloc's commit count is the process's (and under Wine
        // not even that): only the resident set says.
        entry::<Mimalloc>(false, if cfg!(windows) { Mapped::Resident } else { Mapped::Mimalloc }),
        entry::<System>(false, Mapped::Resident),
    ]
}

struct Options {
    scale: Scale,
    workloads: Vec<Workload>,
    sessions: Vec<Session>,
    allocators: Vec<String>,
    ops: Option<u64>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options =
        Options { scale: Scale::Full, workloads: Vec::new(), sessions: Vec::new(), allocators: Vec::new(), ops: None };
    let names: Vec<&str> = allocators().iter().map(|a| a.name).collect();
    while let Some(flag) = args.next() {
        // `cargo bench` passes `--bench`; nothing to do with it.
        if flag == "--bench" {
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--scale" => {
                options.scale = Scale::from_name(&value).ok_or(format!("--scale {value}: full|quick|smoke"))?
            }
            "--workload" => match (Workload::from_name(&value), Session::from_name(&value)) {
                (Some(workload), _) => options.workloads.push(workload),
                (None, Some(session)) => options.sessions.push(session),
                (None, None) => {
                    let all: Vec<&str> =
                        Workload::ALL.iter().map(|w| w.name()).chain(Session::ALL.iter().map(|s| s.name())).collect();
                    return Err(format!("--workload {value}: one of {}", all.join(", ")));
                }
            },
            "--allocator" if names.contains(&value.as_str()) => options.allocators.push(value),
            "--allocator" => return Err(format!("--allocator {value}: one of {}", names.join(", "))),
            "--ops" => options.ops = Some(value.parse().map_err(|e| format!("--ops {value}: {e}"))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.workloads.is_empty() && options.sessions.is_empty() {
        options.workloads = Workload::ALL.to_vec();
        options.sessions = Session::ALL.to_vec();
    }
    if options.allocators.is_empty() {
        options.allocators = names.iter().map(|n| n.to_string()).collect();
    }
    Ok(options)
}

/// The allocator's peak over what it held before (`mapped_source`), and the
/// resident set's peak growth.
fn peaks(
    mapped: Mapped,
    mapped_before: Option<(u64, u64)>,
    resident_before: Option<memory::Resident>,
) -> (Option<u64>, Option<u64>) {
    let peak_mapped = mapped_before.zip(mapped.read()).map(|((now, _), (_, peak))| peak.saturating_sub(now));
    let peak_rss = resident_before.zip(memory::resident()).map(|(before, after)| after.peak.saturating_sub(before.now));
    (peak_mapped, peak_rss)
}

fn start_heap() {
    for (function, address) in [
        (Function::Malloc, crt::malloc as *const () as usize),
        (Function::Free, crt::free as *const () as usize),
        (Function::Realloc, crt::realloc as *const () as usize),
        (Function::Calloc, crt::calloc as *const () as usize),
    ] {
        // SAFETY: the C runtime's functions have the family's signatures and semantics.
        unsafe { CRT.set(function, address) };
    }
    heap::init(&heap::Config { backend: heap::Backend::Rpmalloc, ..heap::Config::DEFAULT }).expect("the heap starts");
    // As the plugin's maintenance thread: the heap is trimmed every second.
    std::thread::spawn(|| loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        heap::trim::tick();
    });
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench: {message}");
            return ExitCode::from(2);
        }
    };
    let platform = memory::platform();
    let chosen: Vec<Entry> =
        allocators().into_iter().filter(|a| options.allocators.iter().any(|n| n == a.name)).collect();
    if chosen.iter().any(|a| a.heap) {
        start_heap();
    }
    for allocator in &chosen {
        (allocator.thread_start)();
        for &workload in &options.workloads {
            let (mapped_before, resident_before) = (allocator.mapped.read(), memory::resident());
            let measured = (allocator.measure)(workload, options.scale, options.ops);
            let (peak_mapped, peak_rss) = peaks(allocator.mapped, mapped_before, resident_before);
            let record = Record {
                workload: workload.name().into(),
                allocator: allocator.name.into(),
                platform: platform.clone(),
                ns_per_op: Some(measured.best.ns_per_op()),
                ops: measured.best.ops,
                peak_live_bytes: measured.best.peak_live_bytes,
                peak_mapped_bytes: peak_mapped,
                mapped_source: peak_mapped.map(|_| allocator.mapped.source().into()),
                peak_rss_delta_bytes: peak_rss,
                runs: measured.runs,
                instructions_per_op: None,
                address_space: None,
                latency: None,
            };
            println!("{}", record.to_json());
        }
        for &session in &options.sessions {
            let (mapped_before, resident_before) = (allocator.mapped.read(), memory::resident());
            let outcome = (allocator.session)(session, options.scale, walk);
            let (peak_mapped, peak_rss) = peaks(allocator.mapped, mapped_before, resident_before);
            let record = Record {
                workload: session.name().into(),
                allocator: allocator.name.into(),
                platform: platform.clone(),
                // Measures address space, not speed: settling is most of its time.
                ns_per_op: None,
                ops: outcome.ops,
                peak_live_bytes: outcome.peak_live_bytes,
                peak_mapped_bytes: peak_mapped,
                mapped_source: peak_mapped.map(|_| allocator.mapped.source().into()),
                peak_rss_delta_bytes: peak_rss,
                runs: 1,
                instructions_per_op: None,
                address_space: Some(AddressSpace::from(&outcome)),
                latency: None,
            };
            println!("{}", record.to_json());
        }
    }
    let stats = heap::stats();
    if (stats.fallbacks, stats.foreign_frees, stats.failures) != (0, 0, 0) {
        eprintln!(
            "bench: hooked-rpmalloc left rpmalloc: {} fallbacks, {} foreign frees, {} failures",
            stats.fallbacks, stats.foreign_frees, stats.failures
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments_parse() {
        let all = parse(&[]).unwrap();
        assert_eq!((all.scale, all.workloads.len(), all.allocators.len(), all.ops), (Scale::Full, 5, 4, None));
        assert_eq!(all.sessions, Session::ALL);
        let session = parse(&["--workload", "game-session-4t"]).unwrap();
        assert_eq!((session.workloads, session.sessions), (vec![], vec![Session::FourThreads]));
        let one =
            parse(&["--scale", "smoke", "--workload", "game-mix", "--allocator", "system", "--ops", "10"]).unwrap();
        assert_eq!(one.scale, Scale::Smoke);
        assert_eq!(
            (one.workloads, one.sessions, one.allocators, one.ops),
            (vec![Workload::GameMix], vec![], vec!["system".into()], Some(10))
        );
        assert!(parse(&["--bench"]).is_ok());
        for bad in
            [&["--scale", "huge"][..], &["--workload", "churn"], &["--allocator", "jemalloc"], &["--ops"], &["-x", "1"]]
        {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The heap starts once per process; the tests share it.
    fn start_heap_once() {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(start_heap);
    }

    #[test]
    fn every_allocator_runs_every_workload() {
        start_heap_once();
        for allocator in allocators() {
            (allocator.thread_start)();
            for workload in Workload::ALL {
                let m = (allocator.measure)(workload, Scale::Smoke, None);
                assert!(m.best.ops > 0 && m.best.peak_live_bytes > 0, "{} {}", allocator.name, workload.name());
            }
        }
    }

    #[test]
    fn every_allocator_plays_a_session_and_the_walks_see_it() {
        start_heap_once();
        for allocator in allocators() {
            (allocator.thread_start)();
            let o = (allocator.session)(Session::FourThreads, Scale::Smoke, walk);
            let what = format!("{}: {o:?}", allocator.name);
            assert!(o.ops > 0 && o.peak_live_bytes >= 4 << 20, "{what}");
            // Every sample counts towards the peak. (Whether address space
            // was reserved for the blocks depends on what the allocator kept
            // from the tests before: the benchmark runs each in a process.)
            assert!(o.samples >= 1 + 3 * 6 + 3 && o.min_largest_free_bytes > 0, "{what}");
            assert!(o.peak_reserved_bytes >= o.reserved_after_drop_bytes.max(o.reserved_empty_bytes), "{what}");
            assert!(o.live_after_drop_bytes > 0 && o.live_after_drop_bytes < o.peak_live_bytes, "{what}");
        }
    }
}
