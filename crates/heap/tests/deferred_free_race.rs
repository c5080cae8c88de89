//! Stress on the race rpmalloc 1.4.4 fixed: a block of one thread's span
//! freed by another thread (a deferred free, which counts itself in the
//! span's deferred list before it links the block in) while the owner frees
//! the span's last block of its own and releases the span to its cache,
//! where the owner takes it again. Lost, the race links a block into a span
//! that started a new life: one block is handed out twice, or a free list
//! is corrupted; either shows here as a block whose bytes changed under its
//! holder (or as a crash).
//!
//! Each round, the owner thread allocates blocks of one size (medium spans
//! of 3 to 42 blocks, small ones of 63 and 4,088, and spans of one block),
//! writes a tag into every byte, keeps one block of each span and hands the
//! others to freer threads, which check every byte of them. Then, at one
//! signal, the freers free theirs span by span while the owner frees its own
//! in the same order, each free followed by a fresh allocation of the same
//! size (likely from the span just emptied). The owner checks every byte of
//! its blocks before it frees them, and that no block it holds is handed
//! out to it again.
//!
//! A few seconds by default; `HEAP_STRESS_ROUNDS` sets the number of rounds
//! for a longer run.
mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use heap::Backend;

/// More threads than the two cores CI has: a freer preempted inside a
/// deferred free holds the race's window open.
const FREERS: usize = 4;
/// Blocks the owner allocates per round.
const BLOCKS: usize = 128;
/// Request sizes: medium (16,000, 8,000, 1,536 bytes: spans of 3, 7 and 42
/// blocks), small (1,024 and 16: 63 and 4,088), large (a span of its own).
/// The few-block spans, where the race is likeliest, come most often.
const SIZES: [usize; 8] = [16_000, 8_000, 16_000, 1_536, 8_000, 1_024, 16, 40_000];

/// A block in flight: its address (raw pointers are not `Send`), size, tag.
type Block = (usize, usize, u8);

fn rounds() -> usize {
    let default = if cfg!(windows) { 1_500 } else { 2_000 };
    std::env::var("HEAP_STRESS_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(default)
}

fn check(p: *const u8, size: usize, tag: u8, who: &str) {
    // SAFETY: a live block of at least `size` bytes, held by the caller.
    let bytes = unsafe { core::slice::from_raw_parts(p, size) };
    if let Some(at) = bytes.iter().position(|&b| b != tag) {
        panic!("{who}: block {p:p} of {size} bytes: byte {at} is {:#x}, not its tag {tag:#x}", bytes[at]);
    }
}

fn allocate(size: usize, tag: u8) -> Block {
    let p = heap::malloc(common::crt(), size).cast::<u8>();
    assert!(!p.is_null(), "malloc({size}) failed");
    assert!(heap::owns(p.cast()), "the heap serves malloc({size})");
    // SAFETY: a fresh block of `size` bytes.
    unsafe { core::ptr::write_bytes(p, tag, size) };
    (p as usize, size, tag)
}

fn free_checked((p, size, tag): Block, who: &str) {
    check(p as *const u8, size, tag, who);
    // SAFETY: a live block of ours, freed once, by its holder.
    unsafe { heap::free(common::crt(), p as *mut _) };
}

/// What the owner and the freers share: each freer's blocks for the round,
/// the round handed out (0: none yet; `usize::MAX`: the end), how many
/// freers have checked their blocks, the round whose frees may start, and
/// how many freers have freed theirs.
struct Shared {
    batches: Vec<Mutex<Vec<Block>>>,
    round: AtomicUsize,
    ready: AtomicUsize,
    go: AtomicUsize,
    finished: AtomicUsize,
}

/// Waits, spinning (so that the round starts on every thread at once), until
/// `value` is not `seen`.
fn wait_change(value: &AtomicUsize, seen: usize) -> usize {
    let mut spins = 0u32;
    loop {
        let now = value.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        spins += 1;
        if spins % 1024 == 0 {
            // Fewer cores than threads: let the others run.
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

#[test]
fn cross_thread_frees_race_the_owner_emptying_its_spans() {
    common::start(Backend::Rpmalloc);
    let rounds = rounds();
    let shared = Arc::new(Shared {
        batches: (0..FREERS).map(|_| Mutex::new(Vec::new())).collect(),
        round: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        go: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    });
    let freers: Vec<_> = (0..FREERS)
        .map(|k| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut seen = 0;
                loop {
                    seen = wait_change(&shared.round, seen);
                    if seen == usize::MAX {
                        return;
                    }
                    let batch = std::mem::take(&mut *shared.batches[k].lock().unwrap());
                    for &(p, size, tag) in &batch {
                        check(p as *const u8, size, tag, "freer");
                    }
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                    wait_change(&shared.go, seen - 1);
                    for (p, ..) in batch {
                        // SAFETY: a live block of ours, checked above, freed once.
                        unsafe { heap::free(common::crt(), p as *mut _) };
                    }
                    shared.finished.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();

    let mut next_tag = 0u8;
    let mut tag = || {
        next_tag = next_tag.wrapping_add(1).max(1);
        next_tag
    };
    let mut fresh: Vec<Block> = Vec::new();
    // The blocks the owner holds, by address.
    let mut live = HashSet::new();
    for round in 1..=rounds {
        let size = SIZES[round % SIZES.len()];
        // Blocks by span, in allocation order within each span.
        let mut spans: BTreeMap<usize, Vec<Block>> = BTreeMap::new();
        for _ in 0..BLOCKS {
            let block = allocate(size, tag());
            assert!(live.insert(block.0), "block {:#x} handed out twice", block.0);
            spans.entry(block.0 & !0xFFFF).or_default().push(block);
        }
        let mut kept = Vec::new();
        for blocks in spans.into_values() {
            let mut blocks = blocks.into_iter();
            kept.extend(blocks.next_back());
            for (i, block) in blocks.enumerate() {
                live.remove(&block.0);
                shared.batches[i % FREERS].lock().unwrap().push(block);
            }
        }
        shared.finished.store(0, Ordering::Release);
        shared.ready.store(0, Ordering::Release);
        shared.round.store(round, Ordering::Release);
        while shared.ready.load(Ordering::Acquire) < FREERS {
            assert!(!freers.iter().any(|f| f.is_finished()), "a freer found a block changed under it");
            std::thread::yield_now();
        }
        for &(p, size, tag) in &kept {
            check(p as *const u8, size, tag, "owner");
        }
        shared.go.store(round, Ordering::Release);
        // The owner empties the same spans as the freers, in the same order.
        for block in kept {
            // SAFETY: a live block of ours, checked above, freed once.
            unsafe { heap::free(common::crt(), block.0 as *mut _) };
            live.remove(&block.0);
            let new = allocate(size, tag());
            assert!(live.insert(new.0), "block {:#x} handed out twice", new.0);
            fresh.push(new);
        }
        while shared.finished.load(Ordering::Acquire) < FREERS {
            assert!(!freers.iter().any(|f| f.is_finished()), "a freer found a block changed under it");
            std::thread::yield_now();
        }
        if fresh.len() > 4 * BLOCKS {
            for block in fresh.drain(..) {
                live.remove(&block.0);
                free_checked(block, "owner, fresh");
            }
        }
    }
    shared.round.store(usize::MAX, Ordering::Release);
    for freer in freers {
        freer.join().expect("a freer found a block changed under it");
    }
    for block in fresh {
        free_checked(block, "owner, fresh");
    }
}
