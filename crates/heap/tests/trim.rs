//! Trimming (`heap::trim`): address space comes back once blocks are freed,
//! whichever thread frees them, and trimming from another thread while
//! threads allocate and free never hands a block out twice nor loses one.
//! One process, tests run one after the other: they measure the heap's
//! address space, which every thread shares.
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use heap::Backend;

const MIB: u64 = 1 << 20;

/// Runs the tests in order in one thread: each measures the whole heap.
#[test]
fn trimming() {
    common::start(Backend::Rpmalloc);
    freed_by_another_thread_comes_back_within_two_ticks();
    release_all_takes_what_idle_threads_hold();
    trimming_while_threads_churn_keeps_every_block();
}

/// A mix of sizes: small, medium and large blocks (one span or several).
fn size(i: usize) -> usize {
    match i % 16 {
        0 => 64 * 1024 + (i * 4099) % (512 * 1024),
        1..=3 => 1024 + (i * 97) % (15 * 1024),
        _ => 8 + (i * 13) % 256,
    }
}

fn mapped() -> u64 {
    heap::stats().mapped_bytes
}

/// Blocks as addresses, so that they can cross threads.
fn allocate(bytes: u64, seed: usize) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut total = 0;
    let mut i = seed;
    while total < bytes {
        let size = size(i);
        let p = heap::malloc(common::crt(), size).cast::<u8>();
        assert!(heap::owns(p.cast()), "malloc({size}) is served by the heap");
        common::fill(p, size.min(64), i as u8);
        blocks.push((p as usize, size));
        total += size as u64;
        i += 1;
    }
    blocks
}

fn free_all(blocks: Vec<(usize, usize)>) {
    for (p, _) in blocks {
        // SAFETY: live blocks of ours, each freed once.
        unsafe { heap::free(common::crt(), p as *mut _) };
    }
}

/// A few operations, as a game thread makes every frame: enough for the
/// thread to publish its statistics, and so to trim its own heap.
fn a_few_operations() {
    for i in 0..600 {
        let p = heap::malloc(common::crt(), 8 + i % 200);
        // SAFETY: a live block of ours.
        unsafe { heap::free(common::crt(), p) };
    }
}

/// Four threads allocate 24 MiB each, which this thread frees; while they
/// live on and make a few operations now and then, two ticks return what
/// they held.
fn freed_by_another_thread_comes_back_within_two_ticks() {
    heap::trim::release_all();
    let baseline = mapped();
    let (to_freer, handed) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let to_freer = to_freer.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                to_freer.send(allocate(24 * MIB, t * 1000)).unwrap();
                while !done.load(Ordering::Relaxed) {
                    a_few_operations();
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    for _ in 0..4 {
        free_all(handed.recv().unwrap());
    }
    let after_frees = mapped();
    assert!(after_frees > baseline + 64 * MIB, "the blocks held address space ({after_frees} over {baseline})");
    for _ in 0..3 {
        heap::trim::tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    let trimmed = mapped();
    done.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(
        trimmed <= baseline + 8 * MIB,
        "after three ticks the heap holds {:.1} MiB over its {:.1} MiB before (with 96 MiB freed)",
        (trimmed - baseline.min(trimmed)) as f64 / MIB as f64,
        baseline as f64 / MIB as f64
    );
}

/// Threads that allocated, handed their blocks away and now sleep: their
/// owners never look at their heaps again, yet everything freed whole comes
/// back at once.
fn release_all_takes_what_idle_threads_hold() {
    heap::trim::release_all();
    let baseline = mapped();
    let (to_freer, handed) = mpsc::channel();
    let wake = Arc::new(Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let to_freer = to_freer.clone();
            let wake = wake.clone();
            std::thread::spawn(move || {
                // Large blocks only: each fills spans of its own, freed whole.
                let blocks = (0..64).map(|i| heap::malloc(common::crt(), 100_000 + t * 4096 + i) as usize).collect();
                to_freer.send(blocks).unwrap();
                wake.wait();
            })
        })
        .collect();
    for _ in 0..4 {
        let blocks: Vec<usize> = handed.recv().unwrap();
        // SAFETY: live blocks of ours, each freed once.
        blocks.into_iter().for_each(|p| unsafe { heap::free(common::crt(), p as *mut _) });
    }
    let before = mapped();
    heap::trim::release_all();
    let after = mapped();
    wake.wait();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(before >= baseline + 24 * MIB, "the blocks held address space");
    assert!(
        after <= baseline + 2 * MIB,
        "release_all left {:.1} MiB of {:.1} MiB freed by another thread",
        (after - baseline.min(after)) as f64 / MIB as f64,
        (before - baseline) as f64 / MIB as f64
    );
}

/// Four threads allocate, write, check and free blocks of every size, half
/// of them freed by a neighbour, while another thread trims and releases
/// everything without pause. Every block keeps its bytes until freed, and
/// every allocation is matched by a free.
fn trimming_while_threads_churn_keeps_every_block() {
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(windows) { 300 } else { 1000 };
    let before = heap::stats();
    let stop = Arc::new(AtomicBool::new(false));
    let trims = Arc::new(AtomicUsize::new(0));
    let trimmer = {
        let (stop, trims) = (stop.clone(), trims.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                heap::trim::tick();
                if trims.fetch_add(1, Ordering::Relaxed) % 8 == 0 {
                    heap::trim::release_all();
                }
                std::thread::yield_now();
            }
        })
    };
    let mailboxes: Arc<Vec<Mailbox>> = Arc::new((0..THREADS).map(|_| Mutex::new(Vec::new())).collect());
    let churners: Vec<_> = (0..THREADS)
        .map(|t| {
            let mailboxes = mailboxes.clone();
            std::thread::spawn(move || {
                let mut held: Vec<(usize, usize, u8)> = Vec::new();
                for round in 0..ROUNDS {
                    for i in 0..32 {
                        let size = size(round * 32 + i + t);
                        let tag = (round + i + t) as u8;
                        let p = heap::malloc(common::crt(), size).cast::<u8>();
                        assert!(!p.is_null());
                        // SAFETY: a fresh block of `size` bytes.
                        unsafe { core::ptr::write_bytes(p, tag, size) };
                        held.push((p as usize, size, tag));
                    }
                    // Half to the neighbour, who frees them; the rest freed here.
                    let neighbour = (t + 1) % THREADS;
                    let keep = held.split_off(held.len() / 2);
                    mailboxes[neighbour].lock().unwrap().extend(held.drain(..));
                    held = keep;
                    let mine: Vec<_> = mailboxes[t].lock().unwrap().drain(..).collect();
                    for block in mine.into_iter().chain(held.drain(..)) {
                        check_and_free(block);
                    }
                }
            })
        })
        .collect();
    churners.into_iter().for_each(|t| t.join().unwrap());
    for mailbox in mailboxes.iter() {
        mailbox.lock().unwrap().drain(..).for_each(check_and_free);
    }
    stop.store(true, Ordering::Relaxed);
    trimmer.join().unwrap();
    let after = heap::stats();
    assert!(trims.load(Ordering::Relaxed) > 10, "the trimmer ran alongside");
    assert_eq!(
        after.allocations - before.allocations,
        after.frees - before.frees,
        "every block allocated was freed once"
    );
}

/// Blocks handed to a thread to free: address, size, the byte they hold.
type Mailbox = Mutex<Vec<(usize, usize, u8)>>;

fn check_and_free((p, size, tag): (usize, usize, u8)) {
    // SAFETY: a live block of `size` bytes held by the caller.
    let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, size) };
    if let Some(at) = bytes.iter().position(|&b| b != tag) {
        panic!("block {p:#x} of {size} bytes: byte {at} is {:#x}, not {tag:#x}", bytes[at]);
    }
    // SAFETY: a live block of ours, freed once.
    unsafe { heap::free(common::crt(), p as *mut _) };
}
