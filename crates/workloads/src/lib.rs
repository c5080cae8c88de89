//! The allocation workloads of `cargo xtask bench`, over any allocator.
//!
//! Each workload is deterministic (xorshift64 with fixed seeds: every
//! allocator sees the same sizes in the same order), counts its own
//! operations (one `malloc`, `calloc`, `realloc` or `free` call is one
//! operation), times only its measured phase and keeps its own account of
//! the bytes it asked for and still holds, whose peak it reports.
//!
//! | workload | what it does |
//! |---|---|
//! | `small-churn` | one thread, 16k live blocks of 16–2048 B; frees a random one and allocates its replacement |
//! | `game-mix` | one thread, 16k live slots: 88 : 11 : 1.5 of 8–264 B, 256 B–16 KiB, 64 KiB–1 MiB (one in 16 by `calloc`), and four arrays grown by `realloc` |
//! | `cross-thread` | a producer allocates 16–512 B blocks in batches of 256, a consumer frees them |
//! | `larson-like` | two threads churn 4096 blocks of 16–1024 B each and swap their arrays every 1024 steps: each frees blocks the other allocated |
//! | `realloc-growth` | arrays grown by doubling (16 B to 256 KiB) and by steps of 16–64 B (to 16 KiB) |
//!
//! and the [`session`]s `game-session-1t` and `game-session-4t`, which
//! measure the address space an allocator holds over a game-like session
//! (growing to 300 MiB live, cell changes, settling) rather than its speed,
//! and [`latency`]'s `game-frames`, which times every call of a game's
//! allocations at 60 frames per second.
//!
//! Every block is written when allocated (its first byte) and when grown
//! (its new last byte), as a caller would. Peaks of the multi-threaded
//! workloads are taken at batch (`cross-thread`) or round (`larson-like`)
//! granularity, so that the accounting adds no shared write per operation.
//!
//! The crate has no dependencies: the benchmark binary (`crates/bench`) and
//! the NVSE stand-in (`nvse-host bench`) both run it, and [`record`] is the
//! JSON line they print and `cargo xtask bench` reads.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod late;
pub mod latency;
pub mod memory;
pub mod record;
pub mod session;

/// The C runtime every Rust program links (glibc natively, msvcrt.dll on
/// windows-gnu: under Wine, what the plugin replaces), called directly.
pub mod crt {
    use std::ffi::c_void;

    extern "C" {
        pub fn malloc(size: usize) -> *mut c_void;
        pub fn calloc(count: usize, size: usize) -> *mut c_void;
        pub fn realloc(p: *mut c_void, size: usize) -> *mut c_void;
        pub fn free(p: *mut c_void);
    }
}

use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

pub use record::Record;
pub use session::{Session, SessionOutcome, Space, Walk};

/// An allocator under test: its `malloc` family, called directly, so that
/// each workload is monomorphised over it.
pub trait Allocator {
    /// The allocator's name in the records (`hooked-rpmalloc`, `system`...).
    const NAME: &'static str;
    /// Called on a thread before its first allocation.
    fn thread_start() {}
    /// Called on a thread once it makes no more calls.
    fn thread_end() {}
    /// # Safety
    /// The allocator is started, and the thread too ([`Allocator::thread_start`]).
    unsafe fn malloc(size: usize) -> *mut u8;
    /// # Safety
    /// As [`Allocator::malloc`].
    unsafe fn calloc(count: usize, size: usize) -> *mut u8;
    /// # Safety
    /// `p` is a live block of this allocator, freed once.
    unsafe fn free(p: *mut u8);
    /// # Safety
    /// `p` is a live block of this allocator; `size > 0`. On success `p` is no
    /// longer live.
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8;
}

/// The workloads, by the names the records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    SmallChurn,
    GameMix,
    CrossThread,
    LarsonLike,
    ReallocGrowth,
}

impl Workload {
    pub const ALL: [Workload; 5] =
        [Workload::SmallChurn, Workload::GameMix, Workload::CrossThread, Workload::LarsonLike, Workload::ReallocGrowth];

    pub fn name(self) -> &'static str {
        match self {
            Workload::SmallChurn => "small-churn",
            Workload::GameMix => "game-mix",
            Workload::CrossThread => "cross-thread",
            Workload::LarsonLike => "larson-like",
            Workload::ReallocGrowth => "realloc-growth",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Operations measured in one run at full scale (a few tenths of a
    /// second with a fast allocator).
    pub fn full_ops(self) -> u64 {
        match self {
            Workload::SmallChurn => 8_000_000,
            Workload::GameMix => 2_000_000,
            Workload::CrossThread => 4_000_000,
            Workload::LarsonLike => 8_000_000,
            Workload::ReallocGrowth => 2_000_000,
        }
    }

    /// Runs the workload once for about `ops` operations with `A` (started
    /// on the calling thread) and returns what it measured.
    pub fn run<A: Allocator>(self, ops: u64) -> Outcome {
        match self {
            Workload::SmallChurn => small_churn::<A>(ops),
            Workload::GameMix => game_mix::<A>(ops),
            Workload::CrossThread => cross_thread::<A>(ops),
            Workload::LarsonLike => larson_like::<A>(ops),
            Workload::ReallocGrowth => realloc_growth::<A>(ops),
        }
    }
}

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// [`Workload::full_ops`], a warm-up run then the best of three.
    Full,
    /// A tenth of that, a warm-up then the best of two.
    Quick,
    /// A few thousand operations, once: does the workload still run?
    Smoke,
}

impl Scale {
    pub fn from_name(name: &str) -> Option<Scale> {
        match name {
            "full" => Some(Scale::Full),
            "quick" => Some(Scale::Quick),
            "smoke" => Some(Scale::Smoke),
            _ => None,
        }
    }

    pub fn ops(self, workload: Workload) -> u64 {
        match self {
            Scale::Full => workload.full_ops(),
            Scale::Quick => workload.full_ops() / 10,
            Scale::Smoke => 4_000,
        }
    }

    /// Measured runs, after the warm-up (if any).
    pub fn runs(self) -> u32 {
        match self {
            Scale::Full => 3,
            Scale::Quick => 2,
            Scale::Smoke => 1,
        }
    }

    fn warm_up(self) -> bool {
        self != Scale::Smoke
    }
}

/// One run of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Operations in the measured phase.
    pub ops: u64,
    pub elapsed: Duration,
    /// Bytes requested and not yet freed, at their peak (whole run).
    pub peak_live_bytes: u64,
}

impl Outcome {
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.ops.max(1) as f64
    }
}

/// The best of a few runs (and how many).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub best: Outcome,
    pub runs: u32,
}

/// Measures `workload` with `A` at `scale`: a warm-up run at a quarter of the
/// operations (it maps what the allocator keeps), then the fastest of
/// [`Scale::runs`]. `A` must be started on the calling thread.
pub fn measure<A: Allocator>(workload: Workload, scale: Scale) -> Measurement {
    let ops = scale.ops(workload);
    if scale.warm_up() {
        workload.run::<A>(ops / 4);
    }
    let runs = scale.runs();
    let best = (0..runs).map(|_| workload.run::<A>(ops)).min_by_key(|o| o.elapsed).expect("at least one run");
    Measurement { best, runs }
}

/// xorshift64: the same sequence for every allocator.
pub struct Rng(u64);

impl Rng {
    /// The sequence numbered `stream`.
    pub fn new(stream: u64) -> Rng {
        Rng(0x9E37_79B9_7F4A_7C15 ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    /// Uniform in `lo..=hi` (multiply-shift, no division).
    #[inline(always)]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        lo + (((x >> 32) * (hi - lo + 1) as u64) >> 32) as usize
    }
}

/// A live block and the size asked for it.
#[derive(Clone, Copy)]
struct Block {
    p: *mut u8,
    size: usize,
}

// SAFETY: a block is plain memory of a thread-safe allocator, owned by
// whoever holds the `Block`; the workloads hand it over, never share it.
unsafe impl Send for Block {}

/// The workload's own account of requested bytes.
#[derive(Default)]
struct Live {
    bytes: u64,
    peak: u64,
}

impl Live {
    #[inline(always)]
    fn add(&mut self, size: usize) {
        self.bytes += size as u64;
        self.peak = self.peak.max(self.bytes);
    }

    #[inline(always)]
    fn sub(&mut self, size: usize) {
        self.bytes -= size as u64;
    }
}

#[cold]
#[inline(never)]
fn failed(allocator: &str, what: &str, size: usize) -> ! {
    panic!("{allocator}: {what} of {size} bytes failed")
}

/// Allocates `size` bytes (zeroed by `calloc` if `zeroed`) and writes the
/// first byte, as a caller would.
#[inline(always)]
fn alloc<A: Allocator>(size: usize, zeroed: bool, live: &mut Live) -> Block {
    // SAFETY: the allocator and this thread are started (the workloads'
    // contract with their callers and `thread_start`).
    let p = unsafe {
        if zeroed {
            A::calloc(1, size)
        } else {
            A::malloc(size)
        }
    };
    if p.is_null() {
        failed(A::NAME, "an allocation", size);
    }
    // SAFETY: a fresh block of at least one byte.
    unsafe { ptr::write_volatile(p, 1) };
    live.add(size);
    Block { p, size }
}

#[inline(always)]
fn release<A: Allocator>(block: Block, live: &mut Live) {
    // SAFETY: every `Block` is a live block of `A`, consumed here.
    unsafe { A::free(block.p) };
    live.sub(block.size);
}

/// Resizes `block` to `size` bytes and writes its new last byte.
#[inline(always)]
fn grow<A: Allocator>(block: Block, size: usize, live: &mut Live) -> Block {
    // SAFETY: a live block of `A`, replaced by the result; `size > 0`.
    let p = unsafe { A::realloc(block.p, size) };
    if p.is_null() {
        failed(A::NAME, "a reallocation", size);
    }
    // SAFETY: the block has `size` bytes.
    unsafe { ptr::write_volatile(p.add(size - 1), 1) };
    live.sub(block.size);
    live.add(size);
    Block { p, size }
}

const CHURN_SLOTS: usize = 16 * 1024;

fn small_churn<A: Allocator>(ops: u64) -> Outcome {
    let mut rng = Rng::new(1);
    let mut live = Live::default();
    let mut slots: Vec<Block> = (0..CHURN_SLOTS).map(|_| alloc::<A>(rng.range(16, 2048), false, &mut live)).collect();
    let steps = ops / 2;
    let start = Instant::now();
    churn_steps::<A>(&mut slots, &mut rng, &mut live, steps);
    let elapsed = start.elapsed();
    for block in slots {
        release::<A>(block, &mut live);
    }
    Outcome { ops: steps * 2, elapsed, peak_live_bytes: live.peak }
}

/// The measured loop of `small-churn`, kept out of line so that a profile
/// shows it by name.
#[inline(never)]
fn churn_steps<A: Allocator>(slots: &mut [Block], rng: &mut Rng, live: &mut Live, steps: u64) {
    for _ in 0..steps {
        let i = rng.range(0, slots.len() - 1);
        release::<A>(slots[i], live);
        slots[i] = alloc::<A>(rng.range(16, 2048), false, live);
    }
}

const MIX_SLOTS: usize = 16 * 1024;
const MIX_ARRAYS: usize = 4;
/// A grown array starts over once past this size.
const MIX_ARRAY_MAX: usize = 256 * 1024;

/// A size of `game-mix`: 88 : 11 : 1.5 (in 201 half-percents) of small
/// (8-264 B), medium (256 B-16 KiB) and large (64 KiB-1 MiB) blocks.
#[inline(always)]
pub fn mix_size(rng: &mut Rng) -> usize {
    match rng.range(0, 200) {
        0..=175 => rng.range(8, 264),
        176..=197 => rng.range(256, 16 * 1024),
        _ => rng.range(64 * 1024, 1024 * 1024),
    }
}

fn game_mix<A: Allocator>(ops: u64) -> Outcome {
    let mut rng = Rng::new(2);
    let mut live = Live::default();
    let mut slots: Vec<Block> = (0..MIX_SLOTS).map(|_| alloc::<A>(mix_size(&mut rng), false, &mut live)).collect();
    let mut arrays: Vec<Block> = (0..MIX_ARRAYS).map(|_| alloc::<A>(16, false, &mut live)).collect();
    let mut done = 0;
    let mut step = 0usize;
    let start = Instant::now();
    while done < ops {
        let i = rng.range(0, MIX_SLOTS - 1);
        release::<A>(slots[i], &mut live);
        let size = mix_size(&mut rng);
        slots[i] = alloc::<A>(size, rng.range(0, 15) == 0, &mut live);
        done += 2;
        step += 1;
        if step % 32 == 0 {
            let array = &mut arrays[(step / 32) % MIX_ARRAYS];
            let size = array.size + array.size / 2 + 16;
            if size > MIX_ARRAY_MAX {
                release::<A>(*array, &mut live);
                *array = alloc::<A>(16, false, &mut live);
                done += 2;
            } else {
                *array = grow::<A>(*array, size, &mut live);
                done += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    for block in slots.into_iter().chain(arrays) {
        release::<A>(block, &mut live);
    }
    Outcome { ops: done, elapsed, peak_live_bytes: live.peak }
}

const BATCH: usize = 256;
/// Batches sent and not yet freed, at most: the consumer keeps up.
const IN_FLIGHT: usize = 16;

/// Bytes live across threads, published per batch or round, and their peak.
#[derive(Default)]
struct SharedLive {
    parts: [AtomicU64; 2],
    peak: AtomicU64,
}

impl SharedLive {
    /// Part `i` now holds `bytes`, having held up to `local_peak` since it
    /// last published.
    fn publish(&self, i: usize, bytes: u64, local_peak: u64) {
        self.parts[i].store(bytes, Relaxed);
        let others = self.parts[1 - i].load(Relaxed);
        self.peak.fetch_max(local_peak + others, Relaxed);
    }
}

fn cross_thread<A: Allocator>(ops: u64) -> Outcome {
    let batches = (ops / 2 / BATCH as u64).max(1);
    let (tx, rx) = mpsc::sync_channel::<(Vec<Block>, u64)>(IN_FLIGHT);
    let (ready, done) = (Barrier::new(2), Barrier::new(2));
    let shared = SharedLive::default();
    // Producer's bytes sent and consumer's bytes freed: live = sent - freed.
    let freed = AtomicU64::new(0);
    let (ready, done, shared, freed) = (&ready, &done, &shared, &freed);
    // Each thread reads the clock itself once past the barrier: a third
    // thread reading it could be scheduled after both had finished.
    let elapsed = std::thread::scope(|s| {
        let producer = s.spawn(move || {
            A::thread_start();
            let mut rng = Rng::new(3);
            let mut sent = 0;
            ready.wait();
            let start = Instant::now();
            for _ in 0..batches {
                let mut live = Live::default();
                let batch: Vec<Block> = (0..BATCH).map(|_| alloc::<A>(rng.range(16, 512), false, &mut live)).collect();
                sent += live.bytes;
                let now = sent - freed.load(Relaxed);
                shared.publish(0, now, now);
                tx.send((batch, live.bytes)).expect("the consumer runs until the channel closes");
            }
            drop(tx);
            done.wait();
            A::thread_end();
            start
        });
        let consumer = s.spawn(move || {
            A::thread_start();
            ready.wait();
            let start = Instant::now();
            let mut total = 0;
            for (batch, bytes) in rx {
                for block in batch {
                    // SAFETY: each block was allocated by `A` and is sent once.
                    unsafe { A::free(block.p) };
                }
                total += bytes;
                freed.store(total, Relaxed);
            }
            let end = Instant::now();
            done.wait();
            A::thread_end();
            (start, end)
        });
        let (consumer_start, end) = consumer.join().expect("the consumer finishes");
        end - producer.join().expect("the producer finishes").min(consumer_start)
    });
    Outcome { ops: batches * BATCH as u64 * 2, elapsed, peak_live_bytes: shared.peak.load(Relaxed) }
}

const LARSON_SLOTS: usize = 4096;
const LARSON_ROUND: u64 = 1024;

fn larson_like<A: Allocator>(ops: u64) -> Outcome {
    // Two threads, each round `LARSON_ROUND` steps of two operations.
    let rounds = (ops / (2 * 2 * LARSON_ROUND)).max(1);
    let (to_b, from_a) = mpsc::sync_channel::<(Vec<Block>, u64)>(1);
    let (to_a, from_b) = mpsc::sync_channel::<(Vec<Block>, u64)>(1);
    let ready = Barrier::new(2);
    let shared = SharedLive::default();
    let (ready, shared) = (&ready, &shared);
    let elapsed = std::thread::scope(|s| {
        let threads: Vec<_> = [(0, to_b, from_b), (1, to_a, from_a)]
            .into_iter()
            .map(|(me, give, take)| {
                s.spawn(move || {
                    A::thread_start();
                    let mut rng = Rng::new(4 + me as u64);
                    let mut live = Live::default();
                    let mut slots: Vec<Block> =
                        (0..LARSON_SLOTS).map(|_| alloc::<A>(rng.range(16, 1024), false, &mut live)).collect();
                    shared.publish(me, live.bytes, live.peak);
                    ready.wait();
                    // Read past the barrier by each thread itself (see `cross_thread`).
                    let start = Instant::now();
                    for _ in 0..rounds {
                        live.peak = live.bytes;
                        for _ in 0..LARSON_ROUND {
                            let i = rng.range(0, LARSON_SLOTS - 1);
                            release::<A>(slots[i], &mut live);
                            slots[i] = alloc::<A>(rng.range(16, 1024), false, &mut live);
                        }
                        shared.publish(me, live.bytes, live.peak);
                        // Swap arrays: from now on this thread frees what the other allocated.
                        give.send((slots, live.bytes)).expect("the other thread takes every round");
                        let bytes;
                        (slots, bytes) = take.recv().expect("the other thread gives every round");
                        live.bytes = bytes;
                    }
                    let end = Instant::now();
                    for block in slots {
                        release::<A>(block, &mut live);
                    }
                    A::thread_end();
                    (start, end)
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> =
            threads.into_iter().map(|t| t.join().expect("a larson thread finishes")).collect();
        let start = spans.iter().map(|s| s.0).min().expect("two threads");
        spans.iter().map(|s| s.1).max().expect("two threads") - start
    });
    Outcome { ops: rounds * LARSON_ROUND * 2 * 2, elapsed, peak_live_bytes: shared.peak.load(Relaxed) }
}

fn realloc_growth<A: Allocator>(ops: u64) -> Outcome {
    let mut rng = Rng::new(6);
    let mut live = Live::default();
    let mut done = 0;
    let start = Instant::now();
    while done < ops {
        // Doubling, as a vector grows.
        let mut block = alloc::<A>(16, false, &mut live);
        while block.size < 256 * 1024 {
            block = grow::<A>(block, block.size * 2, &mut live);
            done += 1;
        }
        release::<A>(block, &mut live);
        // Small steps, as a string is appended to.
        let mut block = alloc::<A>(16, false, &mut live);
        while block.size < 16 * 1024 {
            block = grow::<A>(block, block.size + rng.range(16, 64), &mut live);
            done += 1;
        }
        release::<A>(block, &mut live);
        done += 4;
    }
    Outcome { ops: done, elapsed: start.elapsed(), peak_live_bytes: live.peak }
}
