//! The game session: what an allocator holds of the address space over a
//! game's life, rather than how fast it serves.
//!
//! `game-session-1t` and `game-session-4t`: one or four loader threads grow
//! the live set to the scale's peak (300 MiB at full scale) with the sizes of
//! `game-mix` (mostly 8-264 B, a ninth of them 256 B-16 KiB, 1.5% 64 KiB-
//! 1 MiB, one in 16 by `calloc`, and arrays grown by `realloc`), hold it while
//! freeing each block twice on average and allocating new ones in their
//! place (as many bytes, not as many blocks), then at a cell change hand 7 blocks
//! in 10 to the conductor (the calling thread, another thread than the one
//! that allocated them), which frees them; six cycles. Then the process
//! settles: the loader threads live on and make a few operations every
//! 10 ms, as game threads do between frames, for a few seconds; then they
//! free everything and settle again.
//!
//! A sampling thread walks the address space (the walk is given, see
//! [`Walk`]: this crate has no dependencies) every half second and at each
//! phase boundary, while the loader threads wait. Reserved bytes are counted
//! over a walk taken before the session's threads allocate anything (the
//! baseline). The session reports:
//!
//! - its peak of live bytes (its own account of the bytes it asked for) and
//!   the peak of reserved bytes over any sample;
//! - reserved bytes and live bytes after the last cell change and the first
//!   settling pause;
//! - reserved bytes with nothing live, after the second;
//! - the smallest largest-free-region any sample saw.
//!
//! The sizes, the blocks replaced and the blocks freed at each cell change
//! are the same in every run and for every allocator (one random stream per
//! thread); only the operations made while settling depend on time.

mod player;
mod sampler;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

use crate::{Allocator, Block, Scale};
use player::{Player, Shared};
use sampler::Sampler;

/// What a walk of the address space found, as far as the session cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// Private bytes reserved or committed.
    pub reserved: u64,
    /// The largest free region.
    pub largest_free: u64,
}

/// A walk of the process's address space. It must not allocate: it runs on
/// the sampling thread while the loader threads allocate.
pub type Walk = fn() -> Space;

/// The session with one loader thread or four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    OneThread,
    FourThreads,
}

impl Session {
    pub const ALL: [Session; 2] = [Session::OneThread, Session::FourThreads];

    pub fn name(self) -> &'static str {
        match self {
            Session::OneThread => "game-session-1t",
            Session::FourThreads => "game-session-4t",
        }
    }

    pub fn from_name(name: &str) -> Option<Session> {
        Session::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn threads(self) -> usize {
        match self {
            Session::OneThread => 1,
            Session::FourThreads => 4,
        }
    }

    /// Runs the session once with `A` (started on the calling thread, which
    /// frees what the cell changes drop), sampling with `walk`.
    pub fn run<A: Allocator>(self, scale: Scale, walk: Walk) -> SessionOutcome {
        run::<A>(self.threads(), &Shape::of(scale), walk)
    }
}

/// The size of a session at a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Live bytes at each cycle's peak, all threads together.
    pub peak_live: u64,
    /// Blocks freed (and bytes allocated anew) per block held, in each hold.
    pub hold_per_block: u64,
    /// How long the process settles before each of the last two samples.
    pub settle: Duration,
    /// How often the sampling thread walks, besides the phase boundaries.
    pub period: Duration,
}

/// Cycles of growing, holding and changing cells.
pub const CYCLES: u32 = 6;

impl Shape {
    pub fn of(scale: Scale) -> Shape {
        const MIB: u64 = 1 << 20;
        let (peak_live, hold_per_block, settle_ms, period_ms) = match scale {
            Scale::Full => (300 * MIB, 2, 3000, 500),
            Scale::Quick => (100 * MIB, 2, 3000, 500),
            Scale::Smoke => (4 * MIB, 1, 100, 50),
        };
        Shape {
            peak_live,
            hold_per_block,
            settle: Duration::from_millis(settle_ms),
            period: Duration::from_millis(period_ms),
        }
    }
}

/// What one session measured. Reserved bytes are over the baseline walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Calls made to the allocator, settling included.
    pub ops: u64,
    /// The whole session, settling included.
    pub elapsed: Duration,
    pub peak_live_bytes: u64,
    pub peak_reserved_bytes: u64,
    pub live_after_drop_bytes: u64,
    pub reserved_after_drop_bytes: u64,
    pub reserved_empty_bytes: u64,
    pub min_largest_free_bytes: u64,
    /// Walks made, the baseline included.
    pub samples: u64,
    /// The baseline's reserved bytes, which the figures above are over.
    pub baseline_reserved_bytes: u64,
}

/// Where the conductor and the loader threads meet: each phase ends at a
/// boundary, where the threads wait while the conductor samples.
struct Stage<'a> {
    barrier: Barrier,
    sampler: &'a Sampler,
    shared: &'a Shared,
    /// Ends a settling pause.
    settled: AtomicBool,
}

/// The address space and the live bytes at a boundary.
#[derive(Clone, Copy)]
struct Sample {
    space: Space,
    live: u64,
}

impl Stage<'_> {
    /// A loader thread at a boundary.
    fn arrive(&self) {
        self.barrier.wait();
        self.barrier.wait();
    }

    /// The conductor at a boundary: the threads wait while it samples.
    fn sample(&self) -> Sample {
        self.barrier.wait();
        let sample = self.take();
        self.barrier.wait();
        sample
    }

    /// The conductor: the threads idle for `settle`, then a sample.
    fn settle(&self, settle: Duration) -> Sample {
        std::thread::sleep(settle);
        self.settled.store(true, Relaxed);
        self.barrier.wait();
        let sample = self.take();
        self.settled.store(false, Relaxed);
        self.barrier.wait();
        sample
    }

    /// While the threads wait: what they published last is what they hold.
    fn take(&self) -> Sample {
        Sample { space: self.sampler.sample(), live: self.shared.live() }
    }
}

fn run<A: Allocator>(threads: usize, shape: &Shape, walk: Walk) -> SessionOutcome {
    let start = Instant::now();
    let sampler = Sampler::new(walk, shape.period);
    let shared = Shared::new(threads);
    let stage = Stage {
        barrier: Barrier::new(threads + 1),
        sampler: &sampler,
        shared: &shared,
        settled: AtomicBool::new(false),
    };
    let (to_conductor, drops) = mpsc::channel::<Vec<Block>>();
    let target = shape.peak_live / threads as u64;
    std::thread::scope(|s| {
        s.spawn(|| sampler.run());
        let players: Vec<_> = (0..threads)
            .map(|index| {
                let (stage, shared, to_conductor) = (&stage, &shared, to_conductor.clone());
                s.spawn(move || {
                    let _guard = AbortOnPanic;
                    let mut player = Player::new(index, shared, shape, threads);
                    stage.arrive();
                    A::thread_start();
                    play::<A>(&mut player, stage, shape, target, &to_conductor);
                    A::thread_end();
                    player.ops
                })
            })
            .collect();
        let outcome = conduct::<A>(&stage, shape, threads, &drops);
        let player_ops: u64 = players.into_iter().map(|p| p.join().expect("a loader thread finishes")).sum();
        sampler.stop();
        let seen = sampler.seen();
        let over = |bytes: u64| bytes.saturating_sub(outcome.baseline.space.reserved);
        SessionOutcome {
            ops: outcome.ops + player_ops,
            elapsed: start.elapsed(),
            peak_live_bytes: shared.peak(),
            peak_reserved_bytes: over(seen.peak_reserved),
            live_after_drop_bytes: outcome.after_drop.live,
            reserved_after_drop_bytes: over(outcome.after_drop.space.reserved),
            reserved_empty_bytes: over(outcome.empty.space.reserved),
            min_largest_free_bytes: seen.min_largest_free,
            samples: seen.samples,
            baseline_reserved_bytes: outcome.baseline.space.reserved,
        }
    })
}

/// Ends the process if a loader thread panics (an allocation failed): the
/// other threads and the conductor would wait for it at the next boundary
/// forever. The panic's message is printed first.
struct AbortOnPanic;

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("game session: a loader thread panicked; ending the process");
            std::process::abort();
        }
    }
}

/// A loader thread's part, boundary by boundary (the conductor's mirror is
/// [`conduct`]).
fn play<A: Allocator>(player: &mut Player, stage: &Stage, shape: &Shape, target: u64, out: &mpsc::Sender<Vec<Block>>) {
    for _ in 0..CYCLES {
        player.grow_to::<A>(target);
        stage.arrive();
        player.hold::<A>(shape.hold_per_block, target);
        stage.arrive();
        out.send(player.cell_change()).expect("the conductor takes every cell change");
        stage.arrive();
    }
    player.idle::<A>(&stage.settled, true);
    stage.arrive();
    player.free_all::<A>();
    stage.arrive();
    player.idle::<A>(&stage.settled, false);
    stage.arrive();
}

/// What the conductor saw.
struct Conducted {
    baseline: Sample,
    after_drop: Sample,
    empty: Sample,
    /// The frees it made.
    ops: u64,
}

fn conduct<A: Allocator>(
    stage: &Stage,
    shape: &Shape,
    threads: usize,
    drops: &mpsc::Receiver<Vec<Block>>,
) -> Conducted {
    // The loader threads exist and have allocated nothing yet.
    let baseline = stage.sample();
    let mut ops = 0;
    for _ in 0..CYCLES {
        stage.sample(); // grown
        stage.sample(); // held
        for _ in 0..threads {
            for block in drops.recv().expect("every loader thread changes cells") {
                // SAFETY: a live block of `A`, handed over once, freed here.
                unsafe { A::free(block.p) };
                ops += 1;
            }
        }
        stage.sample(); // dropped
    }
    let after_drop = stage.settle(shape.settle);
    stage.sample(); // freed
    let empty = stage.settle(shape.settle);
    Conducted { baseline, after_drop, empty, ops }
}
