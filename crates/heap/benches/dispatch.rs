//! What the heap's entry path costs over the allocator underneath it.
//!
//! Not a test: a binary that prints a table. Compares, per workload:
//! - `dispatch`: `heap::malloc`/`free`/`realloc` over rpmalloc (ownership
//!   check, statistics, slack zeroing, backend call);
//! - `rpmalloc raw`, `mimalloc raw`, `system` (the C runtime: glibc natively,
//!   msvcrt.dll on Windows): the allocators called directly.
//!
//! ```text
//! cargo bench -p heap --bench dispatch [-- --quick] [-- --only <workload> <allocator>]
//! ```
//! Workloads: `churn` (small blocks freed and refilled at random), `xthread`
//! (blocks freed by another thread), and realloc growth of one array at a
//! time: `realloc` (by half again), `double`, `step` (by 16 bytes).
//!
//! `--guard` starts the heap with guard pages at the shipped INI's settings
//! (`dispatch` is then the guarded engine) and prints what the pool used.
//!
//! `--quick` divides operation counts by 10. `--only churn dispatch` runs one
//! combination once after a warm-up (for `valgrind --tool=callgrind`, with
//! `--toggle-collect='*churn_steps*'` to count only the measured loop; build
//! with `CARGO_PROFILE_BENCH_STRIP=none` to keep the symbols). Without
//! `--bench` (under `cargo test --all-targets`) it is a quick smoke run.
//!
//! On the plugin's own target, under Wine (Wine's msvcrt as `system`):
//! `cargo bench -p heap --bench dispatch --target i686-pc-windows-gnu`.

use std::cell::Cell;
use std::ptr;
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

use heap::{Function, Originals};

use rpmalloc_sys as rp;
use workloads::{crt, Rng};

/// The "original" C runtime for `dispatch`. Never used on the measured
/// paths (no block is foreign and rpmalloc never fails here), checked below.
static CRT: Originals = Originals::new();

/// One allocator under test. Monomorphised, so each loop calls it directly.
trait Allocator {
    const NAME: &'static str;
    /// Called on a thread before its first allocation.
    fn thread_start() {}
    /// Called on a thread once every block it touched is freed.
    fn thread_end() {}
    fn malloc(size: usize) -> *mut u8;
    /// # Safety
    /// `p` is a live block of this allocator.
    unsafe fn free(p: *mut u8);
    /// # Safety
    /// `p` is a live block of this allocator; `size > 0`.
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8;
}

struct Dispatch;

impl Allocator for Dispatch {
    const NAME: &'static str = "dispatch";
    fn malloc(size: usize) -> *mut u8 {
        heap::malloc(&CRT, size).cast()
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

/// An allocator called straight through its C functions; `$extra` are
/// further trait items (thread hooks).
macro_rules! raw {
    ($ty:ident, $name:literal, $malloc:path, $free:path, $realloc:path $(, { $($extra:tt)* })?) => {
        struct $ty;
        impl Allocator for $ty {
            const NAME: &'static str = $name;
            $($($extra)*)?
            fn malloc(size: usize) -> *mut u8 {
                // SAFETY: a plain allocation call, on a started thread.
                unsafe { $malloc(size).cast() }
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

/// rpmalloc as the heap builds it (`crates/rpmalloc-sys`): one first-class
/// heap per thread, here kept in a plain thread-local.
struct RpmallocRaw;

std::thread_local! {
    static RP_HEAP: Cell<*mut rp::rpmalloc_heap_t> = const { Cell::new(ptr::null_mut()) };
}

impl Allocator for RpmallocRaw {
    const NAME: &'static str = "rpmalloc raw";
    fn thread_start() {
        if RP_HEAP.get().is_null() {
            // SAFETY: rpmalloc is initialised (heap::init).
            RP_HEAP.set(unsafe { rp::rpmalloc_heap_acquire() });
        }
    }
    fn thread_end() {
        // SAFETY: the thread's own heap, not used by it again.
        unsafe { rp::rpmalloc_heap_release(RP_HEAP.replace(ptr::null_mut())) }
    }
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the thread's heap, acquired in `thread_start`.
        unsafe { rp::rpmalloc_heap_alloc(RP_HEAP.get(), size).cast() }
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
// mimalloc starts itself and each thread lazily.
raw!(MimallocRaw, "mimalloc raw", libmimalloc_sys::mi_malloc, libmimalloc_sys::mi_free, libmimalloc_sys::mi_realloc);
raw!(System, "system", crt::malloc, crt::free, crt::realloc);

/// Allocates and writes the first byte, as a caller would.
#[inline(always)]
fn alloc_touch<A: Allocator>(size: usize) -> *mut u8 {
    let p = A::malloc(size);
    assert!(!p.is_null(), "{} failed to allocate {size} bytes", A::NAME);
    // SAFETY: a fresh block of at least one byte.
    unsafe { ptr::write_volatile(p, 1) };
    p
}

const SLOTS: usize = 1024;

/// Small-block churn: `steps` times, free a random slot and refill it.
#[inline(never)]
fn churn_steps<A: Allocator>(ring: &mut [*mut u8; SLOTS], rng: &mut Rng, steps: usize) {
    for _ in 0..steps {
        let i = rng.range(0, SLOTS - 1);
        // SAFETY: every slot holds a live block of `A`.
        unsafe { A::free(ring[i]) };
        ring[i] = alloc_touch::<A>(rng.range(16, 2048));
    }
}

/// `ops` operations (one free + one alloc per step), on the calling thread.
fn churn<A: Allocator>(ops: usize) -> Duration {
    let mut rng = Rng::new(0);
    let mut ring = [ptr::null_mut(); SLOTS];
    for slot in &mut ring {
        *slot = alloc_touch::<A>(rng.range(16, 2048));
    }
    let start = Instant::now();
    churn_steps::<A>(&mut ring, &mut rng, ops / 2);
    let elapsed = start.elapsed();
    for p in ring {
        // SAFETY: live blocks of `A`, freed once.
        unsafe { A::free(p) };
    }
    elapsed
}

const BATCH: usize = 256;

/// Producer/consumer: one thread allocates `blocks` blocks and sends them in
/// batches; another frees them. Timed from both threads ready to the last free.
fn cross_thread<A: Allocator>(blocks: usize) -> Duration {
    let (tx, rx) = mpsc::channel::<Vec<usize>>();
    let (ready, done) = (Barrier::new(3), Barrier::new(2));
    let (ready, done) = (&ready, &done);
    std::thread::scope(|s| {
        s.spawn(move || {
            A::thread_start();
            ready.wait();
            let mut rng = Rng::new(0);
            for _ in 0..blocks / BATCH {
                let batch = (0..BATCH).map(|_| alloc_touch::<A>(rng.range(16, 512)) as usize).collect();
                tx.send(batch).unwrap();
            }
            drop(tx);
            done.wait();
            A::thread_end();
        });
        let consumer = s.spawn(move || {
            A::thread_start();
            ready.wait();
            for p in rx.into_iter().flatten() {
                // SAFETY: each block was allocated by `A` and is sent once.
                unsafe { A::free(p as *mut u8) };
            }
            let end = Instant::now();
            done.wait();
            A::thread_end();
            end
        });
        ready.wait();
        let start = Instant::now();
        consumer.join().unwrap() - start
    })
}

/// How a realloc chain grows an array: from 16 bytes, by `next(size)`, until
/// past `limit`; `reallocs` at full scale.
#[derive(Clone, Copy)]
struct Growth {
    name: &'static str,
    next: fn(usize) -> usize,
    limit: usize,
    reallocs: usize,
}

/// By half again plus 8 bytes, to 64 KiB (the growth of many vectors).
const BY_HALF: Growth = Growth { name: "realloc", next: |n| n + n / 2 + 8, limit: 64 * 1024, reallocs: 1_000_000 };
/// By doubling, to 1 MiB.
const DOUBLING: Growth = Growth { name: "double", next: |n| 2 * n, limit: 1 << 20, reallocs: 200_000 };
/// By 16 bytes at a time, to 4 KiB (a string or a list appended to).
const SMALL_STEPS: Growth = Growth { name: "step", next: |n| n + 16, limit: 4 * 1024, reallocs: 2_000_000 };

/// Reallocs per chain.
fn chain_length(growth: Growth) -> usize {
    std::iter::successors(Some(16usize), |&n| (n <= growth.limit).then(|| (growth.next)(n))).count() - 1
}

/// Realloc growth: `chains` chains of malloc, reallocs (touching the new
/// last byte), free.
#[inline(never)]
fn realloc_chains<A: Allocator>(chains: usize, growth: Growth) {
    for _ in 0..chains {
        let (mut p, mut size) = (alloc_touch::<A>(16), 16);
        while size <= growth.limit {
            size = (growth.next)(size);
            // SAFETY: `p` is a live block of `A`; on success it is replaced.
            p = unsafe { A::realloc(p, size) };
            assert!(!p.is_null(), "{} failed to grow to {size} bytes", A::NAME);
            // SAFETY: the block has `size` bytes.
            unsafe { ptr::write_volatile(p.add(size - 1), 1) };
        }
        // SAFETY: the chain's live block, freed once.
        unsafe { A::free(p) };
    }
}

#[derive(Clone, Copy)]
enum Workload {
    Churn,
    CrossThread,
    Realloc(Growth),
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::Churn,
        Workload::CrossThread,
        Workload::Realloc(BY_HALF),
        Workload::Realloc(DOUBLING),
        Workload::Realloc(SMALL_STEPS),
    ];

    /// Name, and units measured at full scale (ops, blocks, reallocs).
    fn spec(self) -> (&'static str, usize) {
        match self {
            Workload::Churn => ("churn", 5_000_000),
            Workload::CrossThread => ("xthread", 2_000_000),
            Workload::Realloc(growth) => (growth.name, growth.reallocs),
        }
    }
}

/// One warm-up, then the best of `runs`: nanoseconds per unit.
fn measure<A: Allocator>(workload: Workload, count: usize, runs: usize) -> f64 {
    A::thread_start();
    let run = || match workload {
        Workload::Churn => churn::<A>(count),
        Workload::CrossThread => cross_thread::<A>(count),
        Workload::Realloc(growth) => {
            let start = Instant::now();
            realloc_chains::<A>(count / chain_length(growth), growth);
            start.elapsed()
        }
    };
    let units = match workload {
        Workload::Churn => count / 2 * 2,
        Workload::CrossThread => count / BATCH * BATCH,
        Workload::Realloc(growth) => count / chain_length(growth) * chain_length(growth),
    };
    run();
    let best = (0..runs).map(|_| run()).min().unwrap();
    best.as_nanos() as f64 / units as f64
}

type Measure = fn(Workload, usize, usize) -> f64;

const ALLOCATORS: [(&str, Measure); 4] = [
    (Dispatch::NAME, measure::<Dispatch>),
    (RpmallocRaw::NAME, measure::<RpmallocRaw>),
    (MimallocRaw::NAME, measure::<MimallocRaw>),
    (System::NAME, measure::<System>),
];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` passes
    // nothing, and gets a smoke run. Other arguments are ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let (scale, runs) = match () {
        _ if flag("--quick") => (10, 5),
        _ if flag("--bench") || flag("--only") => (1, 5),
        _ => (1000, 1),
    };
    for (function, address) in [
        (Function::Malloc, crt::malloc as *const () as usize),
        (Function::Free, crt::free as *const () as usize),
        (Function::Realloc, crt::realloc as *const () as usize),
        (Function::Calloc, crt::calloc as *const () as usize),
    ] {
        // SAFETY: the C runtime's functions have the family's signatures and semantics.
        unsafe { CRT.set(function, address) };
    }
    let guard = heap::GuardConfig { enabled: flag("--guard"), ..heap::GuardConfig::OFF };
    let config = heap::Config { backend: heap::Backend::Rpmalloc, guard, ..heap::Config::DEFAULT };
    let started = heap::init(&config).expect("heap starts");
    assert_eq!(matches!(started.guard, heap::Guarding::On(_)), guard.enabled, "guard pages: {:?}", started.guard);

    if let Some(i) = args.iter().position(|a| a == "--only") {
        let (w, a) = (args.get(i + 1).map(String::as_str), args.get(i + 2).map(String::as_str));
        let workload = Workload::ALL
            .into_iter()
            .find(|w2| Some(w2.spec().0) == w)
            .expect("workload: churn|xthread|realloc|double|step");
        let (name, measure) = ALLOCATORS
            .into_iter()
            .find(|(n, _)| Some(n.split(' ').next().unwrap()) == a)
            .expect("allocator: dispatch|rpmalloc|mimalloc|system");
        let (workload_name, count) = workload.spec();
        let ns = measure(workload, count / scale, 1);
        println!("{workload_name} {name}: {ns:.2} ns/op");
        print_guard();
        return;
    }

    println!("{:<8} {:<13} {:>8} {:>9}", "workload", "allocator", "ns/op", "vs rp raw");
    let mut churn = (0.0, 0.0);
    for workload in Workload::ALL {
        let (name, count) = workload.spec();
        let ns: Vec<f64> = ALLOCATORS.iter().map(|(_, m)| m(workload, count / scale, runs)).collect();
        for ((allocator, _), ns_op) in ALLOCATORS.iter().zip(&ns) {
            println!("{name:<8} {allocator:<13} {ns_op:>8.2} {:>9.2}", ns_op / ns[1]);
        }
        if matches!(workload, Workload::Churn) {
            churn = (ns[0], ns[1]);
        }
    }
    println!(
        "(op: churn = one alloc or one free; xthread = one block, alloc + cross-thread free; \
         realloc, double, step = one realloc of an array grown by half, doubled, grown by 16 bytes)"
    );
    let stats = heap::stats();
    assert_eq!((stats.fallbacks, stats.foreign_frees, stats.failures), (0, 0, 0), "dispatch stayed on rpmalloc");
    println!(
        "dispatch overhead over rpmalloc raw, small-block churn: {:+.1}% (goal: at most 10%)",
        (churn.0 / churn.1 - 1.0) * 100.0
    );
    print_guard();
}

/// With `--guard`: the pool's reservation and what it served.
fn print_guard() {
    let (Some(layout), Some(summary)) = (heap::guard::layout(), heap::guard::summary()) else { return };
    println!(
        "guard pages: {} blocks guarded, {} served unguarded (budget full); {} of {} slots used, {} KiB each, \
         {} MiB reserved",
        summary.guarded,
        summary.budget_misses,
        summary.slots_used,
        layout.slots,
        layout.slot_size / 1024,
        layout.reserved >> 20
    );
}
