//! A thread's life around its end: after its end is signalled
//! (`heap::thread_exit`, what the plugin does at `DLL_THREAD_DETACH`), its
//! calls still work, served by the original runtime, and no call starts it
//! again; a thread that only frees takes a state for its counts alone, and
//! gives it back when it ends.
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

/// Every thread state there is, and those in use.
fn states() -> (usize, usize) {
    let (mut all, mut in_use) = (0, 0);
    heap::thread::for_each(|_, used| {
        all += 1;
        in_use += usize::from(used);
    });
    (all, in_use)
}

/// Eight threads free what this one allocated: each takes a state for its
/// counts but starts no heap, and every free and byte is counted exactly.
#[test]
fn threads_that_only_free_count_exactly_and_start_no_heap() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 500;
    let _serial = serial();
    let crt = common::crt();
    common::start(Backend::Rpmalloc);
    let before_alloc = heap::stats();
    let blocks: Vec<usize> = (0..THREADS * PER_THREAD).map(|i| heap::malloc(crt, 16 + i % 3000) as usize).collect();
    let allocated = heap::stats();
    let bytes = allocated.bytes_allocated - before_alloc.bytes_allocated;
    assert_eq!(allocated.allocations - before_alloc.allocations, (THREADS * PER_THREAD) as u64);
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = blocks
        .chunks(PER_THREAD)
        .map(|chunk| {
            let (chunk, start) = (chunk.to_vec(), std::sync::Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for p in chunk {
                    let p = p as *mut c_void;
                    // SAFETY: live blocks of ours, each freed once.
                    assert!(unsafe { heap::msize(crt, p) } >= 16);
                    unsafe { heap::free(crt, p) };
                }
                let state = heap::thread::existing();
                (state.is_some(), state.is_some_and(|s| s.started()))
            })
        })
        .collect();
    for handle in handles {
        let (has_state, started) = handle.join().expect("thread");
        assert!(has_state, "a freeing thread counts in a state of its own");
        assert!(!started, "a freeing thread started a heap");
    }
    let after = heap::stats();
    assert_eq!(after.frees - allocated.frees, (THREADS * PER_THREAD) as u64, "every free is counted once");
    assert_eq!(after.bytes_freed - allocated.bytes_freed, bytes, "every byte freed is counted once");
    assert_eq!(after.live_blocks, before_alloc.live_blocks);
    assert_eq!(after.live_bytes, before_alloc.live_bytes);
    // Threads that only free are not counted as threads (at most as many: a
    // thread of an earlier test may have ended meanwhile).
    assert!(after.threads <= allocated.threads, "{} threads, then {}", allocated.threads, after.threads);
}

/// A thousand threads that only free, one after another: each gives its
/// state back as it ends, so that the next one takes it again.
#[test]
fn a_thousand_threads_that_only_free_leave_nothing_behind() {
    let _serial = serial();
    let crt = common::crt();
    common::start(Backend::Rpmalloc);
    let blocks: Vec<usize> = (0..1000).map(|i| heap::malloc(crt, 24 + i % 700) as usize).collect();
    let before = heap::stats();
    let (states_before, in_use_before) = states();
    for p in blocks {
        on_new_thread(move || {
            // SAFETY: a live block of ours, freed once.
            unsafe { heap::free(crt, p as *mut c_void) };
            assert!(heap::thread::existing().is_some());
        });
    }
    let after = heap::stats();
    let (states_after, in_use_after) = states();
    assert_eq!(after.frees - before.frees, 1000);
    assert_eq!(after.live_blocks + 1000, before.live_blocks);
    // A thread of an earlier test may end meanwhile, none may be left.
    assert!(in_use_after <= in_use_before, "{in_use_before} states in use before, {in_use_after} after");
    // Ended threads' states are taken again: at most a chunk of new ones.
    assert!(states_after <= states_before.max(1) + 128, "{states_before} states before, {states_after} after");
    assert!(
        after.mapped_bytes <= before.mapped_bytes,
        "{} then {} bytes mapped",
        before.mapped_bytes,
        after.mapped_bytes
    );
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
