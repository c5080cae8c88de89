//! Threads that existed before the heap started, and threads that exit
//! without telling it.
mod common;

use std::sync::{Arc, Barrier};

use heap::Backend;

#[test]
fn threads_from_before_start_and_silent_exits() {
    let crt = common::crt();
    let started = Arc::new(Barrier::new(5));
    let early: Vec<_> = (0..4)
        .map(|i| {
            let started = Arc::clone(&started);
            std::thread::spawn(move || {
                started.wait();
                // First call of a thread the heap never saw start.
                let blocks: Vec<_> = (0..1000).map(|n| heap::malloc(crt, 16 + n + i)).collect();
                assert!(blocks.iter().all(|&p| heap::owns(p)));
                blocks.into_iter().map(|p| p as usize).collect::<Vec<_>>()
                // The thread exits without calling heap::thread_exit.
            })
        })
        .collect();
    common::start(Backend::Rpmalloc);
    started.wait();
    // Blocks made by exited threads are freed here: cross-thread, after exit.
    for t in early {
        for p in t.join().expect("early thread") {
            // SAFETY: live blocks, freed once.
            unsafe { heap::free(crt, p as *mut core::ffi::c_void) };
        }
    }
    let s = heap::stats();
    assert!(s.allocations >= 4000);
    assert!(s.frees >= 4000);
    // Exited threads gave their state back, and this one, which only freed,
    // started no heap.
    assert_eq!(s.threads, 0);

    // A new thread reuses a released state: no state is lost, counts go on.
    std::thread::spawn(move || {
        let p = heap::malloc(crt, 10);
        // SAFETY: a live block.
        unsafe { heap::free(crt, p) };
    })
    .join()
    .unwrap();
    assert!(heap::stats().allocations > s.allocations);
}
