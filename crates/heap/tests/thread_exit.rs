//! A thread's life around its end: after its end is signalled
//! (`heap::thread_exit`, what the plugin does at `DLL_THREAD_DETACH`), its
//! calls still work, served by the original runtime, and no call starts it
//! again; a thread that only frees never takes a state.
mod common;

use core::ffi::c_void;

use heap::Backend;

/// The tests count threads: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on a new thread and waits for it.
fn on_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("thread")
}

#[test]
fn calls_after_a_threads_end_go_to_the_originals_and_start_nothing() {
    let _serial = serial();
    let crt = common::crt();
    common::start(Backend::Rpmalloc);
    let ours = heap::malloc(crt, 100) as usize;
    assert!(heap::owns(ours as *const c_void));

    let (late, fallbacks) = on_new_thread(move || {
        let mine = heap::malloc(crt, 50);
        assert!(heap::owns(mine));
        assert!(heap::thread::existing().is_some(), "an allocation starts the thread");
        heap::thread_exit();
        // What another DLL's DLL_THREAD_DETACH may do after ours: free
        // blocks of the heap (its own and others'), allocate, resize.
        // SAFETY: live blocks of ours, freed once.
        unsafe {
            heap::free(crt, mine);
            heap::free(crt, ours as *mut c_void);
        }
        let before = heap::stats().fallbacks;
        let late = heap::malloc(crt, 64);
        assert!(!late.is_null());
        assert!(!heap::owns(late), "an ended thread's allocation goes to its runtime");
        common::fill(late.cast(), 64, 7);
        // SAFETY: a live block of the runtime's.
        let late = unsafe { heap::realloc(crt, late, 4000) };
        assert!(common::intact(late.cast(), 64, 7));
        let fallbacks = heap::stats().fallbacks - before;
        assert!(heap::thread::existing().is_none(), "nothing started the ended thread again");
        heap::thread_exit();
        (late as usize, fallbacks)
    });
    assert!(fallbacks >= 1, "the allocation was counted as served by the original");
    // SAFETY: a live block of the runtime's, from any thread.
    unsafe { heap::free(crt, late as *mut c_void) };
}

#[test]
fn threads_that_only_free_take_no_state() {
    let _serial = serial();
    let crt = common::crt();
    common::start(Backend::Rpmalloc);
    let blocks: Vec<usize> = (0..200).map(|i| heap::malloc(crt, 16 + i) as usize).collect();
    let before = heap::stats();
    let handles: Vec<_> = blocks
        .chunks(20)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for p in chunk {
                    let p = p as *mut c_void;
                    // SAFETY: live blocks of ours, each freed once.
                    assert!(unsafe { heap::msize(crt, p) } >= 16);
                    unsafe { heap::free(crt, p) };
                }
                heap::thread::existing().is_none()
            })
        })
        .collect();
    for handle in handles {
        assert!(handle.join().expect("thread"), "a freeing thread took a state");
    }
    let after = heap::stats();
    assert_eq!(after.frees, before.frees + 200, "frees on stateless threads are counted");
    assert_eq!(after.live_blocks + 200, before.live_blocks);
}

#[test]
fn a_thousand_threads_leave_nothing_behind() {
    let _serial = serial();
    let crt = common::crt();
    common::start(Backend::Rpmalloc);
    let before = heap::stats();
    for round in 0..1000usize {
        // Each thread allocates, and its last block is freed after its end
        // was signalled, as a DLL detaching after the plugin would.
        on_new_thread(move || {
            let p = heap::malloc(crt, 32 + round % 500);
            heap::thread_exit();
            // SAFETY: a live block of ours, freed once.
            unsafe { heap::free(crt, p) };
        });
    }
    let after = heap::stats();
    // At most as many: a thread of an earlier test may have ended meanwhile.
    assert!(after.threads <= before.threads, "{} threads before, {} after", before.threads, after.threads);
    assert_eq!(after.live_blocks, before.live_blocks);
    // Heaps of ended threads are handed to new ones, their caches given back:
    // the address space held does not grow with the number of threads.
    assert!(
        after.mapped_bytes <= before.mapped_bytes + (4 << 20),
        "mapped {} KiB after, {} KiB before",
        after.mapped_bytes >> 10,
        before.mapped_bytes >> 10
    );
}
