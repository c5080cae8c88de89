//! A thread that takes spans of large blocks from the global cache keeps no
//! more of them than its budget (32 spans, patch 4): the rest stay in the
//! global cache, where every thread finds them. Its own process, so that the
//! global cache holds only what this test put there.

use rpmalloc_sys::*;

const SPAN: usize = 64 * 1024;
/// The thread's budget for spans of large blocks (`MAX_THREAD_LARGE_CACHE_SPANS`).
const BUDGET: usize = 32;
/// Sizes of large blocks, in spans: those of blocks of 64 KiB-1 MiB.
const SIZES: std::ops::RangeInclusive<usize> = 2..=17;

/// A block that takes exactly `spans` spans (its header included).
fn size_of_spans(spans: usize) -> usize {
    spans * SPAN - 256
}

/// Spans a live large block takes, from its usable size.
fn spans_of(p: *mut u8) -> usize {
    // SAFETY: `p` is a live block of rpmalloc.
    let usable = unsafe { rpmalloc_usable_size(p.cast()) };
    (usable + 128).div_ceil(SPAN)
}

#[test]
fn a_thread_keeps_no_more_large_spans_than_its_budget() {
    // SAFETY: the default configuration (all zeros: the built-in mapper).
    let config: rpmalloc_config_t = unsafe { core::mem::zeroed() };
    // SAFETY: initialisation with a valid configuration, once in this process.
    assert_eq!(unsafe { rpmalloc_initialize_config(&config) }, 0);

    // One thread frees three blocks of every size: what its own cache cannot
    // take goes to the global cache. Its heap stays, with its cache.
    std::thread::spawn(|| {
        // SAFETY: the heap is this thread's; each block is freed once.
        unsafe {
            let heap = rpmalloc_heap_acquire();
            assert!(!heap.is_null());
            let blocks: Vec<*mut u8> = SIZES
                .flat_map(|spans| [spans; 3])
                .map(|spans| rpmalloc_heap_alloc(heap, size_of_spans(spans)).cast::<u8>())
                .collect();
            for p in blocks {
                assert!(!p.is_null());
                rpfree(p.cast());
            }
        }
    })
    .join()
    .unwrap();
    // SAFETY: rpmalloc is initialised.
    let before = unsafe { rpmalloc_global_cached() };
    assert!(before >= 3 * 5 * SPAN, "the first thread left spans in the global cache ({before} bytes)");

    // Another thread, its cache empty, takes one block of every size: every
    // one comes from the global cache, and what it takes besides stays in
    // its own cache.
    let (taken_spans, after) = std::thread::spawn(|| {
        // SAFETY: the heap is this thread's; the blocks stay live.
        unsafe {
            let heap = rpmalloc_heap_acquire();
            assert!(!heap.is_null());
            let blocks: Vec<*mut u8> =
                SIZES.map(|spans| rpmalloc_heap_alloc(heap, size_of_spans(spans)).cast::<u8>()).collect();
            assert!(blocks.iter().all(|p| !p.is_null()));
            (blocks.iter().map(|&p| spans_of(p)).sum::<usize>(), rpmalloc_global_cached())
        }
    })
    .join()
    .unwrap();
    let left_global = before - after;
    assert!(left_global >= taken_spans * SPAN, "{left_global} bytes left the global cache, for {taken_spans} spans");
    let kept = left_global / SPAN - taken_spans;
    assert!(kept <= BUDGET, "the second thread keeps {kept} spans of large blocks, more than its budget of {BUDGET}");
}
