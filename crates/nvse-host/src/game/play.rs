//! `game --play SECONDS`: after the checks, the game plays for a while. Its
//! threads allocate as a game does, through the game's own functions (the
//! heap's thiscall methods and the static C runtime), at 60 frames a second:
//! a churn of live blocks, mostly small (8-264 B), some medium (256 B-16 KiB),
//! a few large (64 KiB-1 MiB), in the proportions of the benchmark's
//! `game-mix`, and arrays grown by realloc.
//!
//! How many blocks are live follows the session ([`live_share`]): a cell
//! loads (it grows), the player stays (a plateau), a cell change frees most
//! of it at once, the next cell loads and stays; at the end every block is
//! freed. Each thread's sequence depends only on its index, and a session
//! makes a fixed number of frames, so every run makes the same operations;
//! only how long they take varies.
//!
//! Prints `nvse-host: game: play key=value ...` with the operations made.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use workloads::Rng;

use super::{game_calloc, game_free, game_malloc, game_realloc, heap_allocate, heap_free, heap_realloc, the_heap};
use super::{Block, Family};
use crate::checks::{Checks, Fact};

const FRAMES_PER_SECOND: u32 = 60;
/// Operations a thread makes per frame.
const FRAME_OPS: usize = 400;
/// Blocks a thread keeps live at most.
const SLOTS: usize = 2048;
/// Arrays a thread grows by realloc, and how large they grow before they
/// are dropped and started again.
const ARRAYS: usize = 4;
const ARRAY_MAX: usize = 256 * 1024;
/// Bytes of a block written when it is made: a game writes what it
/// allocates, but 1 MiB per large block would make the session a memset.
const WRITTEN: usize = 16 * 1024;

/// The share of a thread's slots live at `x`, from 0 (the session starts) to
/// 1 (it ends).
fn live_share(x: f64) -> f64 {
    match x {
        x if x < 0.35 => 0.05 + 0.95 * x / 0.35,
        x if x < 0.6 => 1.0,
        x if x < 0.65 => 0.25,
        x if x < 0.85 => 0.25 + 0.45 * (x - 0.65) / 0.2,
        _ => 0.7,
    }
}

/// What the threads did, summed.
#[derive(Default)]
struct Tally {
    operations: AtomicU64,
    allocations: AtomicU64,
    frees: AtomicU64,
    reallocs: AtomicU64,
    /// Peak live blocks of a thread, the largest over threads.
    peak_live: AtomicU64,
    /// Requests that returned NULL.
    failed: AtomicU64,
    /// Blocks whose first or last byte was not what was written.
    corrupted: AtomicU64,
}

/// Plays `seconds` with `threads` game threads; `frame` runs on this thread
/// about 60 times a second meanwhile (the game's main loop). Returns whether
/// every block came back intact.
pub fn play(seconds: u32, threads: usize, mut frame: impl FnMut()) -> bool {
    let frames = seconds * FRAMES_PER_SECOND;
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let tally = Arc::clone(&tally);
            std::thread::spawn(move || Player::new(index, &tally).play(start, frames))
        })
        .collect();
    let mut main_frames = 0u32;
    while !handles.iter().all(|h| h.is_finished()) {
        frame();
        main_frames += 1;
        sleep_until(start + frame_time(main_frames));
    }
    let panicked = handles.into_iter().map(|h| h.join().is_err()).filter(|&p| p).count();
    let elapsed = start.elapsed();
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let operations = read(&tally.operations);
    let mut checks = Checks::new("game");
    checks.line(
        "play",
        &[
            Fact { key: "seconds", shown: seconds.to_string(), ok: true },
            Fact { key: "elapsed_ms", shown: elapsed.as_millis().to_string(), ok: true },
            Fact { key: "threads", shown: threads.to_string(), ok: true },
            Fact { key: "frames", shown: frames.to_string(), ok: true },
            Fact { key: "operations", shown: operations.to_string(), ok: operations > 0 || threads == 0 },
            Fact { key: "allocations", shown: read(&tally.allocations).to_string(), ok: true },
            Fact { key: "frees", shown: read(&tally.frees).to_string(), ok: true },
            Fact { key: "reallocs", shown: read(&tally.reallocs).to_string(), ok: true },
            Fact { key: "peak_live_blocks", shown: read(&tally.peak_live).to_string(), ok: true },
            Fact { key: "failed", shown: read(&tally.failed).to_string(), ok: read(&tally.failed) == 0 },
            Fact { key: "corrupted", shown: read(&tally.corrupted).to_string(), ok: read(&tally.corrupted) == 0 },
            Fact { key: "panicked", shown: panicked.to_string(), ok: panicked == 0 },
        ],
    );
    checks.verdict()
}

/// When frame `n` starts, from the session's start.
fn frame_time(n: u32) -> Duration {
    Duration::from_secs(u64::from(n)) / FRAMES_PER_SECOND
}

fn sleep_until(when: Instant) {
    std::thread::sleep(when.saturating_duration_since(Instant::now()));
}

/// One game thread.
struct Player<'a> {
    rng: Rng,
    live: Vec<Block>,
    arrays: Vec<Block>,
    tally: &'a Tally,
    /// This thread's counts, added to the tally at the end.
    operations: u64,
    allocations: u64,
    frees: u64,
    reallocs: u64,
    peak_live: u64,
    failed: u64,
    corrupted: u64,
}

impl<'a> Player<'a> {
    fn new(index: usize, tally: &'a Tally) -> Player<'a> {
        Player {
            rng: Rng::new(100 + index as u64),
            live: Vec::with_capacity(SLOTS),
            arrays: Vec::with_capacity(ARRAYS),
            tally,
            operations: 0,
            allocations: 0,
            frees: 0,
            reallocs: 0,
            peak_live: 0,
            failed: 0,
            corrupted: 0,
        }
    }

    fn play(mut self, start: Instant, frames: u32) {
        for n in 0..frames {
            let target = (SLOTS as f64 * live_share(f64::from(n) / f64::from(frames))) as usize;
            for step in 0..FRAME_OPS {
                self.step(target);
                if step % 32 == 31 {
                    self.grow_array(step / 32 % ARRAYS);
                }
            }
            self.peak_live = self.peak_live.max(self.live.len() as u64);
            sleep_until(start + frame_time(n + 1));
        }
        for block in std::mem::take(&mut self.live).into_iter().chain(std::mem::take(&mut self.arrays)) {
            self.release(block);
        }
        let add = |counter: &AtomicU64, n: u64| counter.fetch_add(n, Ordering::Relaxed);
        add(&self.tally.operations, self.operations);
        add(&self.tally.allocations, self.allocations);
        add(&self.tally.frees, self.frees);
        add(&self.tally.reallocs, self.reallocs);
        add(&self.tally.failed, self.failed);
        add(&self.tally.corrupted, self.corrupted);
        self.tally.peak_live.fetch_max(self.peak_live, Ordering::Relaxed);
    }

    /// One operation towards `target` live blocks: make one, free one, or
    /// replace one (one in eight by realloc).
    fn step(&mut self, target: usize) {
        if self.live.len() < target {
            let size = workloads::mix_size(&mut self.rng);
            if let Some(block) = self.allocate(size) {
                self.live.push(block);
            }
            return;
        }
        if self.live.is_empty() {
            return;
        }
        let i = self.rng.range(0, self.live.len() - 1);
        if self.live.len() > target {
            let block = self.live.swap_remove(i);
            self.release(block);
        } else if self.rng.range(0, 7) == 0 {
            let size = workloads::mix_size(&mut self.rng);
            self.resize(i, size);
        } else {
            let size = workloads::mix_size(&mut self.rng);
            let old = std::mem::replace(&mut self.live[i], Block::EMPTY);
            self.release(old);
            match self.allocate(size) {
                Some(block) => self.live[i] = block,
                None => {
                    self.live.swap_remove(i);
                }
            }
        }
    }

    /// Grows array `i` by half again, through its family's realloc; one
    /// grown past [`ARRAY_MAX`] is dropped and started again.
    fn grow_array(&mut self, i: usize) {
        if self.arrays.len() <= i {
            if let Some(block) = self.allocate(16) {
                self.arrays.push(block);
            }
            return;
        }
        let size = self.arrays[i].size;
        if size > ARRAY_MAX {
            let old = std::mem::replace(&mut self.arrays[i], Block::EMPTY);
            self.release(old);
            match self.allocate(16) {
                Some(block) => self.arrays[i] = block,
                None => {
                    self.arrays.swap_remove(i);
                }
            }
            return;
        }
        let failed = resize_block(&mut self.arrays[i], size + size / 2 + 16, &mut self.corrupted);
        self.count_resize(failed);
    }

    fn resize(&mut self, i: usize, size: usize) {
        let failed = resize_block(&mut self.live[i], size, &mut self.corrupted);
        self.count_resize(failed);
    }

    fn count_resize(&mut self, failed: bool) {
        self.operations += 1;
        self.reallocs += 1;
        self.failed += u64::from(failed);
    }

    /// A block of `size` bytes, half of them from the game heap and half
    /// from the C runtime (one in eight of those by calloc), written.
    fn allocate(&mut self, size: usize) -> Option<Block> {
        let pick = self.rng.range(0, 15);
        let family = if pick < 8 { Family::Heap } else { Family::Crt };
        let seed = (pick as u8).wrapping_mul(37).wrapping_add(size as u8) | 1;
        // SAFETY: the game's runtime and heap exist (the session started
        // them before the checks); every function takes any size.
        let p = unsafe {
            match family {
                Family::Heap => heap_allocate(the_heap(), size),
                Family::Crt if pick == 8 => game_calloc(1, size),
                Family::Crt => game_malloc(size),
            }
        };
        self.operations += 1;
        if p.is_null() {
            self.failed += 1;
            return None;
        }
        self.allocations += 1;
        let block = Block { p, size, family, seed };
        // SAFETY: a fresh block of `size` bytes.
        unsafe { mark(&block) };
        Some(block)
    }

    fn release(&mut self, block: Block) {
        if block.p.is_null() {
            return;
        }
        // SAFETY: a live block of `size` bytes, written by `mark`.
        self.corrupted += u64::from(!unsafe { intact(&block, block.size) });
        // SAFETY: a live block, freed once by its family.
        unsafe { free(&block) };
        self.operations += 1;
        self.frees += 1;
    }
}

impl Block {
    /// A slot's placeholder while its block is replaced.
    const EMPTY: Block = Block { p: std::ptr::null_mut(), size: 0, family: Family::Heap, seed: 0 };
}

/// Resizes `block` to `size` through its family's realloc, checks that its
/// first bytes moved with it and marks its new end. True if the realloc
/// failed (the block is left as it was).
fn resize_block(block: &mut Block, size: usize, corrupted: &mut u64) -> bool {
    // SAFETY: a live block of its family, resized by it.
    let q = unsafe {
        match block.family {
            Family::Heap => heap_realloc(the_heap(), block.p, size),
            Family::Crt => game_realloc(block.p, size),
        }
    };
    if q.is_null() {
        return true;
    }
    let kept = block.size.min(size);
    block.p = q;
    // SAFETY: the block now holds `size` bytes, its first `kept` as they were.
    *corrupted += u64::from(!unsafe { intact(block, kept) });
    block.size = size;
    // SAFETY: as above.
    unsafe { mark(block) };
    false
}

/// Writes the block's first bytes (up to [`WRITTEN`]) and its last byte.
///
/// # Safety
/// The block must be live and hold `size` bytes.
unsafe fn mark(block: &Block) {
    if block.size == 0 {
        return;
    }
    // SAFETY: within the block (the caller's promise).
    unsafe {
        std::ptr::write_bytes(block.p, block.seed, block.size.min(WRITTEN));
        block.p.add(block.size - 1).write(block.seed);
    }
}

/// Whether the block's first byte, and byte `len - 1` if [`mark`] wrote it
/// (within the first [`WRITTEN`] bytes, or the block's last), are as written.
///
/// # Safety
/// The block must be live and hold at least `len` bytes.
unsafe fn intact(block: &Block, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let last_written = len <= WRITTEN || len == block.size;
    // SAFETY: within the block (the caller's promise).
    unsafe { block.p.read() == block.seed && (!last_written || block.p.add(len - 1).read() == block.seed) }
}

/// # Safety
/// The block must be live; it is freed once, by its family.
unsafe fn free(block: &Block) {
    // SAFETY: the caller's promise.
    unsafe {
        match block.family {
            Family::Heap => heap_free(the_heap(), block.p),
            Family::Crt => game_free(block.p),
        }
    }
}
