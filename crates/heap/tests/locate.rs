//! What the heap knows of an address (`heap::locate`), for the note written
//! when the process crashes: blocks live, freed and waiting, inside and at
//! their start, of every kind of size class; the heap's bookkeeping; and
//! addresses that are not the heap's.
mod common;

use core::ffi::c_void;

use heap::locate::{locate, Bookkeeping, Place, State};
use heap::{delay, Backend, Delay};

/// The caller the common start-up's leak tracking records (see `common`).
const TEST_CALLER: usize = 0x1000;

fn malloc(size: usize) -> usize {
    let p = heap::malloc(common::crt(), size) as usize;
    assert!(heap::owns(p as *const c_void));
    p
}

fn free(p: usize) {
    // SAFETY: a live block of ours, freed once.
    unsafe { heap::free(common::crt(), p as *mut c_void) };
}

fn block(place: Place) -> (usize, usize, State) {
    match place {
        Place::Block { start, size, state } => (start, size, state),
        other => panic!("not a block: {other:?}"),
    }
}

#[test]
fn a_live_block_is_found_from_any_byte_with_its_size_and_caller() {
    common::start(Backend::Rpmalloc);
    for (size, usable) in [(100, 112), (3000, 3072), (200_000, 200_000), (5 << 20, 5 << 20)] {
        let p = malloc(size);
        for offset in [0, 1, size / 2, size - 1] {
            let (start, found, state) = block(locate(p + offset));
            assert_eq!(start, p, "{size} bytes, offset {offset}");
            assert_eq!(found, usable, "{size} bytes");
            assert_eq!(state, State::Live { caller: TEST_CALLER }, "{size} bytes");
        }
        free(p);
    }
}

#[test]
fn a_freed_block_is_no_longer_live() {
    common::start(Backend::Rpmalloc);
    let p = malloc(48);
    free(p);
    let (start, _, state) = block(locate(p + 4));
    assert_eq!(start, p);
    assert_eq!(state, State::NotTracked);
}

#[test]
fn a_block_the_game_heap_freed_waits_and_says_since_when_and_by_whom() {
    common::start(Backend::Rpmalloc);
    delay::start(Delay { frames: 100, budget: 1 << 20 });
    let p = heap::malloc_delayed_or_else(40, core::ptr::null_mut) as usize;
    // SAFETY: a live block of ours, freed once.
    unsafe { heap::free_delayed_or_else(p as *mut c_void, || unreachable!("a block of ours")) };
    delay::frame();
    delay::frame();
    let (start, _, state) = block(locate(p + 8));
    assert_eq!(start, p);
    assert_eq!(state, State::Waiting { frames_ago: 2, thread: heap::thread::os_thread_id() });
    delay::flush(heap::thread::existing().expect("a state"));
    delay::start(Delay::OFF);
}

#[test]
fn bookkeeping_and_other_memory_are_told_apart() {
    common::start(Backend::Rpmalloc);
    let p = malloc(64);
    let span = p & !0xFFFF;
    assert_eq!(locate(span + 8), Place::Bookkeeping(Bookkeeping::SpanHeader));
    let state = heap::thread::existing().expect("a state") as *const _ as usize;
    assert_eq!(locate(state), Place::Bookkeeping(Bookkeeping::Tables));
    let local = 0u64;
    assert_eq!(locate(&raw const local as usize), Place::NotOurs);
    assert_eq!(locate(0x10), Place::NotOurs);
    assert_eq!(locate(locate as *const () as usize), Place::NotOurs);
    free(p);
}
