//! One allocating thread of the session: a loader of cells. It grows its
//! share of the live set, holds it with churn, hands most of it over at a
//! cell change, and between phases waits for the conductor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::Shape;
use crate::{alloc, grow, mix_size, release, Allocator, Block, Live, Rng};

/// Arrays a thread grows by realloc (1.5 times and 16 bytes at a time), and
/// the size past which one starts over, as in `game-mix`.
const ARRAYS: usize = 4;
const ARRAY_MAX: usize = 256 * 1024;
/// Every so many steps, an array grows; every so many, the live bytes are
/// published.
const ARRAY_EVERY: u64 = 32;
const PUBLISH_EVERY: u64 = 64;
/// While the process settles, a thread makes this many steps a tick, as a
/// game thread makes a few allocations a frame.
const TICK: Duration = Duration::from_millis(10);
const TICK_STEPS: usize = 4;
/// Of 10 blocks, so many are freed at a cell change.
const DROPPED_OF_TEN: usize = 7;

/// Bytes live per thread, and the peak of their sum.
pub struct Shared {
    parts: Vec<AtomicU64>,
    peak: AtomicU64,
}

impl Shared {
    pub fn new(threads: usize) -> Shared {
        Shared { parts: (0..threads).map(|_| AtomicU64::new(0)).collect(), peak: AtomicU64::new(0) }
    }

    fn publish(&self, thread: usize, bytes: u64) {
        self.parts[thread].store(bytes, Relaxed);
        self.peak.fetch_max(self.live(), Relaxed);
    }

    /// The sum of what the threads last published.
    pub fn live(&self) -> u64 {
        self.parts.iter().map(|p| p.load(Relaxed)).sum()
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }
}

pub struct Player<'a> {
    index: usize,
    shared: &'a Shared,
    rng: Rng,
    live: Live,
    slots: Vec<Block>,
    arrays: Vec<Block>,
    steps: u64,
    pub ops: u64,
}

impl<'a> Player<'a> {
    pub fn new(index: usize, shared: &'a Shared, shape: &Shape, threads: usize) -> Player<'a> {
        // Blocks average about 9 KiB (1.5% of them 64 KiB-1 MiB): room for
        // the thread's share without growing the list on the way.
        let capacity = (shape.peak_live / threads as u64 / 4096) as usize + 64;
        Player {
            index,
            shared,
            rng: Rng::new(100 + index as u64),
            live: Live::default(),
            slots: Vec::with_capacity(capacity),
            arrays: Vec::with_capacity(ARRAYS),
            steps: 0,
            ops: 0,
        }
    }

    /// Allocates until the thread holds `target` bytes, replacing a block
    /// every fourth step on the way.
    pub fn grow_to<A: Allocator>(&mut self, target: u64) {
        if self.arrays.is_empty() {
            for _ in 0..ARRAYS {
                self.arrays.push(alloc::<A>(16, false, &mut self.live));
            }
            self.ops += ARRAYS as u64;
        }
        while self.live.bytes < target {
            let block = self.new_block::<A>();
            self.slots.push(block);
            if self.steps % 4 == 0 {
                self.replace::<A>();
            }
            self.step::<A>();
        }
        self.publish();
    }

    /// Frees `per_block` times as many blocks as the thread holds, each a
    /// random one, and after each allocates new blocks until the thread
    /// holds `target` bytes again.
    pub fn hold<A: Allocator>(&mut self, per_block: u64, target: u64) {
        for _ in 0..per_block * self.slots.len() as u64 {
            self.churn::<A>(target);
            self.step::<A>();
        }
        self.publish();
    }

    /// The cell change: 7 blocks in 10, chosen at random, leave the thread,
    /// for another to free. Their bytes are no longer this thread's.
    pub fn cell_change(&mut self) -> Vec<Block> {
        let mut dropped = Vec::with_capacity(self.slots.len() * DROPPED_OF_TEN / 10 + 64);
        let mut kept = 0;
        for i in 0..self.slots.len() {
            let block = self.slots[i];
            if self.rng.range(0, 9) < DROPPED_OF_TEN {
                self.live.sub(block.size);
                dropped.push(block);
            } else {
                self.slots[kept] = block;
                kept += 1;
            }
        }
        self.slots.truncate(kept);
        self.publish();
        dropped
    }

    /// A few steps a tick until `stop`: with `keep` the thread churns the
    /// blocks it holds at the level it holds, without it allocates blocks
    /// and frees them at once.
    pub fn idle<A: Allocator>(&mut self, stop: &AtomicBool, keep: bool) {
        let level = self.live.bytes;
        while !stop.load(Relaxed) {
            for _ in 0..TICK_STEPS {
                if keep && !self.slots.is_empty() {
                    self.churn::<A>(level);
                } else {
                    let block = self.new_block::<A>();
                    release::<A>(block, &mut self.live);
                    self.ops += 1;
                }
            }
            self.publish();
            std::thread::sleep(TICK);
        }
    }

    /// Frees every block the thread holds.
    pub fn free_all<A: Allocator>(&mut self) {
        for block in self.slots.drain(..).chain(self.arrays.drain(..)) {
            release::<A>(block, &mut self.live);
            self.ops += 1;
        }
        self.publish();
    }

    fn new_block<A: Allocator>(&mut self) -> Block {
        let size = mix_size(&mut self.rng);
        let zeroed = self.rng.range(0, 15) == 0;
        self.ops += 1;
        alloc::<A>(size, zeroed, &mut self.live)
    }

    /// Frees a random block, then allocates until the thread holds `level`
    /// bytes: the live set churns but keeps its size (replacing block for
    /// block, a few large blocks more or less would make it drift far).
    fn churn<A: Allocator>(&mut self, level: u64) {
        if !self.slots.is_empty() {
            let i = self.rng.range(0, self.slots.len() - 1);
            release::<A>(self.slots.swap_remove(i), &mut self.live);
            self.ops += 1;
        }
        while self.live.bytes < level {
            let block = self.new_block::<A>();
            self.slots.push(block);
        }
    }

    fn replace<A: Allocator>(&mut self) {
        let i = self.rng.range(0, self.slots.len() - 1);
        release::<A>(self.slots[i], &mut self.live);
        self.ops += 1;
        self.slots[i] = self.new_block::<A>();
    }

    /// Counts a step: every `ARRAY_EVERY` an array grows (or starts over),
    /// every `PUBLISH_EVERY` the live bytes are published.
    fn step<A: Allocator>(&mut self) {
        self.steps += 1;
        if self.steps % ARRAY_EVERY == 0 {
            let array = &mut self.arrays[(self.steps / ARRAY_EVERY) as usize % ARRAYS];
            let size = array.size + array.size / 2 + 16;
            if size > ARRAY_MAX {
                release::<A>(*array, &mut self.live);
                *array = alloc::<A>(16, false, &mut self.live);
                self.ops += 2;
            } else {
                *array = grow::<A>(*array, size, &mut self.live);
                self.ops += 1;
            }
        }
        if self.steps % PUBLISH_EVERY == 0 {
            self.publish();
        }
    }

    fn publish(&self) {
        self.shared.publish(self.index, self.live.bytes);
    }
}
