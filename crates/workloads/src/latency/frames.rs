//! `game-frames`: a game's allocations at 60 frames per second, every call
//! timed.
//!
//! Four game threads: the calling thread is the main thread, three workers
//! run beside it. Each first loads a live set of `game-mix`'s sizes (not
//! timed), then every frame (16.7 ms apart, started together, ended
//! together):
//!
//! - each thread frees a random block of its own and allocates another in
//!   its place, some hundred times (one in 16 by `calloc`), and grows one of
//!   its arrays by `realloc` every 32 such steps, as in `game-mix`;
//! - each worker allocates a few dozen blocks more and hands them to the
//!   main thread, which frees them the next frame (what a loading or AI
//!   thread makes and the main thread consumes);
//! - every 150th frame (2.5 s) is a cell change: the main thread frees
//!   seven blocks in ten of its live set and allocates as many anew, within
//!   the frame.
//!
//! Every call of the allocator is timed with the time-stamp counter
//! ([`super::clock`]); a frame's allocation time is what all four threads
//! spent inside the allocator during it. The sizes and choices are the same
//! for every allocator (one random stream per thread); only the time
//! between frames depends on the machine.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use super::clock::{self, Clock};
use super::histogram::Histogram;
use crate::{mix_size, Allocator, Block, Rng, Scale};

/// The session's name in the records.
pub const NAME: &str = "game-frames";

/// Game threads, the calling thread (the main thread) included.
pub const THREADS: usize = 4;
const FRAME: Duration = Duration::from_nanos(1_000_000_000 / 60);
/// Steps (a free and an allocation) per frame: the main thread's, a worker's.
const MAIN_STEPS: usize = 500;
const WORKER_STEPS: usize = 150;
/// Blocks a worker hands to the main thread per frame.
const HANDED: usize = 48;
/// An array grows every so many steps; past this size it starts over.
const ARRAY_EVERY: usize = 32;
const ARRAYS: usize = 4;
const ARRAY_MAX: usize = 256 * 1024;
/// A cell change every so many frames; of ten blocks, so many change.
const CELL_EVERY: u64 = 150;
const CHANGED_OF_TEN: usize = 7;

/// The session's size at a scale: frames, and the live blocks of the main
/// thread and of each worker.
fn shape(scale: Scale) -> (u64, usize, usize) {
    match scale {
        Scale::Full => (600, 8192, 2048),
        Scale::Quick => (180, 4096, 1024),
        Scale::Smoke => (10, 512, 128),
    }
}

/// What a session measured; times in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramesOutcome {
    /// Calls of the allocator in the frames (the loading not counted).
    pub ops: u64,
    pub frames: u64,
    /// The session's own account of the bytes it asked for and still
    /// holds, at its peak (taken at the end of each frame).
    pub peak_live_bytes: u64,
    /// One call's time: the median, the 99th and 99.9th percentiles (within
    /// 3%), and the longest.
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    /// A frame's allocation time (all game threads): the slowest frame's
    /// and the median frame's.
    pub slowest_frame_ns: u64,
    pub median_frame_ns: u64,
    /// Which frame was the slowest (counted from 0; cell changes are
    /// frames 149, 299, ...).
    pub slowest_frame: u64,
}

/// Runs the session with `A` (started on the calling thread). `game_thread`
/// runs on each game thread before its first call of the allocator (the
/// caller's way to tell the game's threads from others).
pub fn run<A: Allocator>(scale: Scale, game_thread: fn()) -> FramesOutcome {
    let (frames, main_slots, worker_slots) = shape(scale);
    let clock = Clock::calibrate();
    let spent: Vec<AtomicU64> = (0..frames as usize * THREADS).map(|_| AtomicU64::new(0)).collect();
    let live: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
    let handed: Vec<Mutex<Vec<Block>>> = (1..THREADS).map(|_| Mutex::new(Vec::with_capacity(HANDED))).collect();
    let (start, end) = (Barrier::new(THREADS), Barrier::new(THREADS));
    let shared = Shared { frames, spent: &spent, live: &live, handed: &handed, start: &start, end: &end };
    let shared = &shared;
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..THREADS)
            .map(|index| {
                s.spawn(move || {
                    game_thread();
                    A::thread_start();
                    let mut thread = GameThread::new::<A>(index, worker_slots, clock);
                    let ops = thread.play::<A>(shared);
                    thread.free_all::<A>();
                    A::thread_end();
                    (thread.histogram, ops)
                })
            })
            .collect();
        game_thread();
        let mut main = GameThread::new::<A>(0, main_slots, clock);
        let mut ops = main.play::<A>(shared);
        let mut histogram = main.histogram.clone();
        for worker in workers {
            let (worker_histogram, worker_ops) = worker.join().expect("a game thread finishes");
            histogram.merge(&worker_histogram);
            ops += worker_ops;
        }
        for blocks in &handed {
            for block in blocks.lock().expect("no game thread panicked").drain(..) {
                // SAFETY: a live block of `A`, handed over once.
                unsafe { A::free(block.p) };
            }
        }
        let peak_live_bytes = main.peak_live;
        main.free_all::<A>();
        outcome(&clock, &histogram, &spent, frames, ops, peak_live_bytes)
    })
}

/// What the game threads share.
struct Shared<'a> {
    frames: u64,
    /// Ticks spent in the allocator, by frame and thread.
    spent: &'a [AtomicU64],
    /// Bytes each thread holds, as of its last frame.
    live: &'a [AtomicU64],
    /// Blocks each worker hands to the main thread.
    handed: &'a [Mutex<Vec<Block>>],
    start: &'a Barrier,
    end: &'a Barrier,
}

fn outcome(
    clock: &Clock,
    histogram: &Histogram,
    spent: &[AtomicU64],
    frames: u64,
    ops: u64,
    peak_live_bytes: u64,
) -> FramesOutcome {
    let per_frame: Vec<u64> = spent.chunks(THREADS).map(|f| f.iter().map(|t| t.load(Relaxed)).sum()).collect();
    let (slowest_frame, slowest) =
        per_frame.iter().enumerate().max_by_key(|(_, &t)| t).map_or((0, 0), |(i, &t)| (i, t));
    let mut sorted = per_frame.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let ns = |ticks: u64| clock.ns(ticks).round() as u64;
    FramesOutcome {
        ops,
        frames,
        peak_live_bytes,
        p50_ns: ns(histogram.percentile(0.5)),
        p99_ns: ns(histogram.percentile(0.99)),
        p999_ns: ns(histogram.percentile(0.999)),
        max_ns: ns(histogram.max()),
        slowest_frame_ns: ns(slowest),
        median_frame_ns: ns(median),
        slowest_frame: slowest_frame as u64,
    }
}

/// One game thread: its blocks, its arrays, its clock readings.
struct GameThread {
    index: usize,
    clock: Clock,
    rng: Rng,
    slots: Vec<Block>,
    arrays: Vec<Block>,
    /// Blocks received from the workers, freed at the next frame.
    received: Vec<Block>,
    live: u64,
    peak_live: u64,
    histogram: Histogram,
    /// Ticks in the allocator in the current frame.
    spent: u64,
    steps: usize,
}

impl GameThread {
    /// A thread with its live set loaded (not timed).
    fn new<A: Allocator>(index: usize, slots: usize, clock: Clock) -> GameThread {
        let mut thread = GameThread {
            index,
            clock,
            rng: Rng::new(40 + index as u64),
            slots: Vec::with_capacity(slots),
            arrays: Vec::with_capacity(ARRAYS),
            received: Vec::with_capacity(HANDED * (THREADS - 1)),
            live: 0,
            peak_live: 0,
            histogram: Histogram::default(),
            spent: 0,
            steps: 0,
        };
        for _ in 0..slots {
            let size = mix_size(&mut thread.rng);
            let block = thread.allocate::<A>(size);
            thread.slots.push(block);
        }
        for _ in 0..ARRAYS {
            let block = thread.allocate::<A>(16);
            thread.arrays.push(block);
        }
        thread.histogram = Histogram::default();
        thread
    }

    /// Every frame, in step with the others; returns the calls made.
    fn play<A: Allocator>(&mut self, shared: &Shared) -> u64 {
        let began = Instant::now();
        let mut ops = 0;
        for frame in 0..shared.frames {
            if self.index == 0 {
                // The main thread paces the frames.
                let due = began + FRAME * frame as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            shared.start.wait();
            self.spent = 0;
            ops += if self.index == 0 { self.main_frame::<A>(frame) } else { self.worker_frame::<A>(shared) };
            shared.spent[frame as usize * THREADS + self.index].store(self.spent, Relaxed);
            shared.live[self.index].store(self.live, Relaxed);
            shared.end.wait();
            if self.index == 0 {
                let all: u64 = shared.live.iter().map(|l| l.load(Relaxed)).sum();
                self.peak_live = self.peak_live.max(all);
                self.receive(shared);
            }
        }
        ops
    }

    /// The main thread, between frames: takes what the workers handed over
    /// in the frame just ended, to free it in the next.
    fn receive(&mut self, shared: &Shared) {
        for handed in shared.handed {
            let mut handed = handed.lock().expect("no game thread panicked");
            self.live += handed.iter().map(|b| b.size as u64).sum::<u64>();
            self.received.append(&mut handed);
        }
    }

    fn main_frame<A: Allocator>(&mut self, frame: u64) -> u64 {
        let mut ops = 0;
        // Taken out and put back, to keep its capacity: the session's own
        // bookkeeping allocates nothing while it plays.
        let mut received = std::mem::take(&mut self.received);
        for block in received.drain(..) {
            self.release::<A>(block);
            ops += 1;
        }
        self.received = received;
        ops += self.steps_of::<A>(MAIN_STEPS);
        if frame % CELL_EVERY == CELL_EVERY - 1 {
            for i in 0..self.slots.len() {
                if self.rng.range(0, 9) < CHANGED_OF_TEN {
                    self.release::<A>(self.slots[i]);
                    let size = mix_size(&mut self.rng);
                    self.slots[i] = self.allocate::<A>(size);
                    ops += 2;
                }
            }
        }
        ops
    }

    fn worker_frame<A: Allocator>(&mut self, shared: &Shared) -> u64 {
        let ops = self.steps_of::<A>(WORKER_STEPS);
        let mut handed = shared.handed[self.index - 1].lock().expect("no game thread panicked");
        for _ in 0..HANDED {
            let size = mix_size(&mut self.rng);
            let block = self.allocate::<A>(size);
            // The main thread's now.
            self.live -= block.size as u64;
            handed.push(block);
        }
        ops + HANDED as u64
    }

    /// `steps` frees of a random block of this thread's, each followed by an
    /// allocation in its place, and an array grown every [`ARRAY_EVERY`].
    fn steps_of<A: Allocator>(&mut self, steps: usize) -> u64 {
        let mut ops = 0;
        for _ in 0..steps {
            let i = self.rng.range(0, self.slots.len() - 1);
            self.release::<A>(self.slots[i]);
            let size = mix_size(&mut self.rng);
            self.slots[i] =
                if self.rng.range(0, 15) == 0 { self.allocate_zeroed::<A>(size) } else { self.allocate::<A>(size) };
            ops += 2;
            self.steps += 1;
            if self.steps % ARRAY_EVERY == 0 {
                let which = (self.steps / ARRAY_EVERY) % ARRAYS;
                let array = self.arrays[which];
                let size = array.size + array.size / 2 + 16;
                self.arrays[which] = if size > ARRAY_MAX {
                    self.release::<A>(array);
                    ops += 1;
                    self.allocate::<A>(16)
                } else {
                    self.grow::<A>(array, size)
                };
                ops += 1;
            }
        }
        ops
    }

    /// Times one call of the allocator.
    #[inline(always)]
    fn timed<T>(&mut self, call: impl FnOnce() -> T) -> T {
        let start = clock::start();
        let result = call();
        let ticks = self.clock.interval(start, clock::stop());
        self.histogram.record(ticks);
        self.spent += ticks;
        result
    }

    fn allocate<A: Allocator>(&mut self, size: usize) -> Block {
        // SAFETY: the allocator and this thread are started.
        let p = self.timed(|| unsafe { A::malloc(size) });
        self.settle::<A>(p, size)
    }

    fn allocate_zeroed<A: Allocator>(&mut self, size: usize) -> Block {
        // SAFETY: as in `allocate`.
        let p = self.timed(|| unsafe { A::calloc(1, size) });
        self.settle::<A>(p, size)
    }

    /// A fresh block of `size` bytes, its first byte written as a caller
    /// would.
    fn settle<A: Allocator>(&mut self, p: *mut u8, size: usize) -> Block {
        if p.is_null() {
            crate::failed(A::NAME, "an allocation", size);
        }
        // SAFETY: a fresh block of at least one byte.
        unsafe { p.write_volatile(1) };
        self.live += size as u64;
        Block { p, size }
    }

    fn grow<A: Allocator>(&mut self, block: Block, size: usize) -> Block {
        // SAFETY: a live block of `A`, replaced by the result; `size > 0`.
        let p = self.timed(|| unsafe { A::realloc(block.p, size) });
        if p.is_null() {
            crate::failed(A::NAME, "a reallocation", size);
        }
        // SAFETY: the block has `size` bytes.
        unsafe { p.add(size - 1).write_volatile(1) };
        self.live = self.live + size as u64 - block.size as u64;
        Block { p, size }
    }

    fn release<A: Allocator>(&mut self, block: Block) {
        // SAFETY: every `Block` is a live block of `A`, consumed here.
        self.timed(|| unsafe { A::free(block.p) });
        self.live = self.live.saturating_sub(block.size as u64);
    }

    /// Frees everything the thread holds (not timed).
    fn free_all<A: Allocator>(&mut self) {
        for block in self.slots.drain(..).chain(self.arrays.drain(..)).chain(self.received.drain(..)) {
            // SAFETY: live blocks of `A`, each freed once.
            unsafe { A::free(block.p) };
        }
    }
}
