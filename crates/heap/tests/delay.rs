//! Delayed frees (`heap::delay`): a block freed through the game heap's
//! entries keeps every byte until the heap hands it out again, which it does
//! only after the configured frames, for a request of its size class; the
//! budget, a thread's end and a failed map give the blocks to rpmalloc.
mod common;

use core::ffi::c_void;
use core::ptr;

use heap::{delay, Backend, Delay};

/// The tests change the delay and count waiting bytes: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const MIB: usize = 1 << 20;

/// Starts the heap (once) and sets `delay`, with nothing waiting in the
/// calling thread's ring.
fn setup(delay: Delay) -> std::sync::MutexGuard<'static, ()> {
    let serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    common::start(Backend::Rpmalloc);
    delay::start(delay);
    if let Some(state) = heap::thread::existing() {
        delay::flush(state);
    }
    // The threads of earlier tests give theirs back as they end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while delay::waiting() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(delay::waiting(), 0, "blocks of earlier tests still wait");
    serial
}

fn none() -> *mut c_void {
    ptr::null_mut()
}

/// A game-heap block of `size` bytes filled with `seed`'s pattern.
fn game_block(size: usize, seed: u8) -> *mut u8 {
    let p = heap::malloc_delayed_or_else(size, none).cast::<u8>();
    assert!(heap::owns(p.cast()), "allocate({size})");
    common::fill(p, size, seed);
    p
}

fn game_free(p: *mut u8) {
    // SAFETY: a live block of ours, given up here.
    unsafe { heap::free_delayed_or_else(p.cast(), || panic!("a block of ours went to the original")) };
}

fn frames(n: u32) {
    for _ in 0..n {
        delay::frame();
    }
}

/// Requests of every kind of class: small, medium, large, huge.
const SIZES: [usize; 7] = [8, 100, 1000, 5000, 30_000, 300_000, 3 * MIB];
/// The sizes whose blocks are delayed (small and medium classes); larger
/// ones are freed at once.
const DELAYED: usize = 5;

#[test]
fn a_freed_block_keeps_every_byte_and_is_not_reused_before_its_frames() {
    let _serial = setup(Delay { frames: 3, budget: 64 * MIB });
    for (k, size) in SIZES.into_iter().take(DELAYED).enumerate() {
        let p = game_block(size, k as u8);
        game_free(p);
        for frame in 0..3 {
            // Churn in the same class, through the game heap and the C runtime.
            for _ in 0..200 {
                let q = game_block(size, 0xEE);
                assert_ne!(q, p, "{size} bytes handed out again after {frame} of 3 frames");
                // SAFETY: a live block of ours.
                unsafe { heap::free(common::crt(), q.cast()) };
                let r = heap::malloc(common::crt(), size);
                // SAFETY: a live block of ours.
                unsafe { heap::free(common::crt(), r) };
            }
            assert!(common::intact(p, size, k as u8), "{size} bytes written after being freed");
            delay::frame();
        }
        let again = game_block(size, 0x55);
        assert_eq!(again, p, "{size} bytes: the block that waited is handed out again first");
        game_free(again);
    }
}

#[test]
fn a_large_block_is_freed_at_once() {
    let _serial = setup(Delay { frames: 3, budget: 64 * MIB });
    for size in &SIZES[DELAYED..] {
        let before = heap::stats();
        game_free(game_block(*size, 1));
        let after = heap::stats();
        assert_eq!(after.delayed_bytes, 0, "{size} bytes");
        assert_eq!(after.live_bytes, before.live_bytes, "{size} bytes");
    }
}

#[test]
fn with_no_frames_the_next_request_of_its_class_reuses_it_and_nothing_writes_it_before() {
    let _serial = setup(Delay { frames: 0, budget: 64 * MIB });
    for (k, size) in SIZES.into_iter().take(DELAYED).enumerate() {
        let p = game_block(size, k as u8);
        game_free(p);
        // Other classes, and the C runtime's own, do not take it.
        let other = game_block(size * 2 + 64, 1);
        let crt = heap::malloc(common::crt(), size);
        assert!(common::intact(p, size, k as u8), "{size} bytes written after being freed");
        assert_eq!(game_block(size, 2), p, "{size} bytes: reused by the next request of its class");
        // SAFETY: live blocks of ours, freed once.
        unsafe { heap::free(common::crt(), crt) };
        game_free(other);
        game_free(p);
    }
}

#[test]
fn a_reused_block_answers_its_new_request_exactly_even_from_another_threads_span() {
    let _serial = setup(Delay { frames: 1, budget: 64 * MIB });
    // Allocated by another thread, so that the spans are that thread's.
    let blocks: Vec<usize> = std::thread::spawn(|| {
        let blocks = (0..64).map(|i| game_block(if i % 2 == 0 { 3000 } else { 24 }, 9) as usize).collect();
        heap::thread_exit();
        blocks
    })
    .join()
    .expect("thread");
    for &p in &blocks {
        game_free(p as *mut u8);
    }
    frames(1);
    for (i, &p) in blocks.iter().enumerate() {
        let size = if i % 2 == 0 { 2990 + i } else { 17 + i % 7 };
        let q = game_block(size, 3);
        assert!(blocks.contains(&(q as usize)), "block {i} reused");
        assert_eq!(q as usize, p, "the oldest of its class first");
        // SAFETY: a live block of ours.
        assert_eq!(unsafe { heap::msize(common::crt(), q.cast()) }, size, "the new request is recorded");
    }
    for &p in &blocks {
        game_free(p as *mut u8);
    }
}

#[test]
fn a_delayed_block_is_counted_as_freed_and_as_waiting_and_stays_the_heaps() {
    let _serial = setup(Delay { frames: 5, budget: 64 * MIB });
    let before = heap::stats();
    let p = game_block(1000, 4);
    game_free(p);
    let after = heap::stats();
    assert_eq!(after.live_bytes, before.live_bytes, "freed, for the statistics");
    assert_eq!(after.frees, before.frees + 1);
    assert!(after.delayed_bytes >= before.delayed_bytes + 1000, "{} waiting", after.delayed_bytes);
    assert!(heap::owns(p.cast()), "still the heap's");
    frames(5);
    assert_eq!(game_block(1000, 5), p);
    let reused = heap::stats();
    assert_eq!(reused.delayed_bytes, before.delayed_bytes, "no longer waiting");
    assert_eq!(reused.live_bytes, after.live_bytes + 1008, "live again, its usable size");
    game_free(p);
}

#[test]
fn the_budget_gives_the_oldest_blocks_back_first() {
    let _serial = setup(Delay { frames: 1000, budget: MIB });
    let start = delay::waiting();
    let blocks: Vec<*mut u8> = (0..64).map(|i| game_block(30_000, i as u8)).collect();
    for &p in &blocks {
        game_free(p);
        assert!(delay::waiting() <= start + MIB, "{} bytes waiting over a 1 MiB budget", delay::waiting());
    }
    // The newest are still waiting, unchanged.
    for (i, &p) in blocks.iter().enumerate().rev().take(30) {
        assert!(common::intact(p, 30_000, i as u8), "block {i} written while it waits");
    }
}

#[test]
fn a_moving_reallocate_delays_the_old_block() {
    let _serial = setup(Delay { frames: 2, budget: 64 * MIB });
    let p = game_block(100, 6);
    // SAFETY: a live block of ours; on success it is not used again.
    let q = unsafe { heap::realloc_or_else(p.cast(), 20_000, none) }.cast::<u8>();
    assert_ne!(q, p, "moved");
    assert!(common::intact(q, 100, 6), "its bytes moved");
    assert!(common::intact(p, 100, 6), "the old block stays as it was");
    assert_ne!(game_block(100, 7), p, "not before its frames");
    game_free(q);
}

#[test]
fn a_thread_that_ends_gives_back_what_it_delayed() {
    let _serial = setup(Delay { frames: 1000, budget: 64 * MIB });
    let before = delay::waiting();
    let (held, after_exit) = std::thread::spawn(move || {
        for i in 0..500 {
            game_free(game_block(64 + i, 1));
        }
        let held = delay::waiting();
        heap::thread_exit();
        (held, delay::waiting())
    })
    .join()
    .expect("thread");
    assert!(held >= before + 500 * 64, "{held} bytes waited in the thread");
    assert_eq!(after_exit, before, "all given back at the thread's end");
}

#[test]
fn running_out_of_memory_empties_every_threads_delay() {
    let _serial = setup(Delay { frames: 1000, budget: 64 * MIB });
    let before = delay::waiting();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (done, held) = std::sync::mpsc::channel::<usize>();
    let other = std::thread::spawn(move || {
        for _ in 0..200 {
            game_free(game_block(4000, 1));
        }
        done.send(delay::waiting()).unwrap();
        wait.recv().unwrap();
        // Its next free empties what it held first.
        game_free(game_block(16, 1));
        let left = delay::waiting();
        heap::thread_exit();
        left
    });
    assert!(held.recv().unwrap() >= before + 200 * 4000);
    // What a map that failed does first.
    heap::trim::release_all();
    go.send(()).unwrap();
    let left = other.join().expect("thread");
    assert!(left <= before + 16 + 16, "{left} bytes still waiting after the heap ran out (before {before})");
}

#[test]
fn with_no_budget_frees_are_not_delayed() {
    let _serial = setup(Delay::OFF);
    let before = heap::stats().delayed_bytes;
    let p = game_block(100, 1);
    game_free(p);
    assert_eq!(heap::stats().delayed_bytes, before);
    assert!(!delay::enabled());
}

#[test]
fn blocks_nobody_takes_go_back_a_second_after_they_waited_their_frames() {
    let _serial = setup(Delay { frames: 2, budget: 64 * MIB });
    let before = delay::waiting();
    for _ in 0..100 {
        game_free(game_block(700, 1));
    }
    assert!(delay::waiting() >= before + 100 * 700);
    // Ready, and then 60 frames (a second) more nobody took them.
    frames(2 + 60);
    heap::trim::tick();
    // The thread looks at its next statistics publication.
    for _ in 0..2000 {
        // SAFETY: a live block of ours, freed at once.
        unsafe { heap::free(common::crt(), heap::malloc(common::crt(), 40)) };
    }
    assert_eq!(delay::waiting(), before, "given back to rpmalloc by the thread's trim");
}

#[test]
fn a_thread_that_only_frees_delays_in_a_state_without_a_heap() {
    let _serial = setup(Delay { frames: 1000, budget: 64 * MIB });
    let blocks: Vec<usize> = (0..10).map(|i| game_block(100, i) as usize).collect();
    let (heap_started, held, after_exit) = std::thread::spawn(move || {
        for p in blocks {
            game_free(p as *mut u8);
        }
        let started = heap::thread::existing().map(|state| state.started());
        let held = delay::waiting();
        heap::thread_exit();
        (started, held, delay::waiting())
    })
    .join()
    .expect("thread");
    assert_eq!(heap_started, Some(false), "a state for its counters and ring, no rpmalloc heap");
    assert!(held >= 10 * 100, "{held} bytes waited");
    assert_eq!(after_exit, 0, "given back at its end");
}

#[test]
fn when_no_frame_ends_for_five_trims_every_wait_ends() {
    let _serial = setup(Delay { frames: 2, budget: 64 * MIB });
    for _ in 0..100 {
        game_free(game_block(300, 1));
    }
    // A frame ends; then none does.
    delay::frame();
    let publish = || {
        for _ in 0..2000 {
            // SAFETY: a live block of ours, freed at once.
            unsafe { heap::free(common::crt(), heap::malloc(common::crt(), 40)) };
        }
    };
    // Trims that see no frame: the first notes the frame, four more wait.
    for trim in 0..5 {
        heap::trim::tick();
        publish();
        assert!(delay::waiting() >= 100 * 300, "trim {trim}: {} bytes waiting", delay::waiting());
    }
    heap::trim::tick();
    publish();
    assert_eq!(delay::waiting(), 0, "no frame for five trims: every wait ended");
}
