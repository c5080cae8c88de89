//! Scenarios shared by every backend's test binary.

use core::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{crt, fill, foreign, intact, zeroed};

/// Blocks from the original allocator, freed, sized, resized and
/// `_recalloc`ed through the heap.
pub fn foreign_pointers(ours: bool) {
    let crt = crt();
    let before = heap::stats();

    let p = foreign::malloc(100);
    assert!(!heap::owns(p as *const c_void));
    // SAFETY: a live foreign block.
    let size = unsafe { heap::msize(crt, p.cast()) };
    assert!(size >= 100);
    fill(p, 100, 7);
    // SAFETY: a live foreign block, resized: not used again.
    let q = unsafe { heap::realloc(crt, p.cast(), 5000) }.cast::<u8>();
    assert!(!q.is_null());
    assert_eq!(heap::owns(q as *const c_void), ours, "a resized foreign block moves into the heap");
    assert!(intact(q, 100, 7));
    // SAFETY: a live block.
    unsafe { heap::free(crt, q.cast()) };

    let p = foreign::malloc(64);
    fill(p, 64, 3);
    // SAFETY: a live foreign block, resized.
    let q = unsafe { heap::recalloc(crt, p.cast(), 10, 100) }.cast::<u8>();
    assert!(!q.is_null());
    assert!(intact(q, 64, 3));
    // SAFETY: the block has 1000 bytes.
    assert!(zeroed(unsafe { q.add(64) }, 1000 - 64), "_recalloc's grown part is zero");
    // SAFETY: a live block.
    unsafe { heap::free(crt, q.cast()) };

    let p = foreign::malloc(10);
    // SAFETY: a live foreign block, freed once.
    unsafe { heap::free(crt, p.cast()) };

    let a = foreign::aligned_malloc(300, 64);
    assert_eq!(a as usize % 64, 0);
    assert!(!heap::owns(a as *const c_void));
    fill(a, 300, 9);
    // SAFETY: a live foreign aligned block.
    assert!(unsafe { heap::aligned_msize(crt, a.cast(), 64, 0) } >= 300);
    // SAFETY: a live foreign aligned block, resized.
    let b = unsafe { heap::aligned_realloc(crt, a.cast(), 4000, 64) }.cast::<u8>();
    assert_eq!(b as usize % 64, 0);
    assert!(intact(b, 300, 9));
    // Moving an aligned block in needs its size: a runtime without
    // `_aligned_msize` (msvcrt.dll) resizes it with its own `_aligned_realloc`.
    let sizable = crt.get(heap::Function::AlignedMsize) != 0;
    assert_eq!(heap::owns(b as *const c_void), ours && sizable);
    // SAFETY: a live aligned block.
    unsafe { heap::aligned_free(crt, b.cast()) };
    let a = foreign::aligned_malloc(20, 16);
    // SAFETY: a live foreign aligned block, freed once.
    unsafe { heap::aligned_free(crt, a.cast()) };

    if ours {
        let after = heap::stats();
        assert!(after.foreign_frees >= before.foreign_frees + 2);
        assert!(after.foreign_reallocs >= before.foreign_reallocs + 3);
        assert!(after.foreign_sizes > before.foreign_sizes);
    }
}

/// `threads` threads swap blocks through shared slots for `ops` operations
/// in all: most blocks are freed by another thread than their allocator's.
/// Every block carries its size and a seed in its first bytes and a pattern
/// after them, checked byte by byte before it is freed.
pub fn cross_thread_churn(threads: usize, ops: usize) {
    const SLOTS: usize = 4096;
    let slots: Arc<Vec<AtomicPtr<u8>>> = Arc::new((0..SLOTS).map(|_| AtomicPtr::new(core::ptr::null_mut())).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let slots = Arc::clone(&slots);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let crt = crt();
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for _ in 0..ops / threads {
                    let r = next();
                    let size = match r % 16 {
                        0 => 2049 + (r >> 8) as usize % 30_000,
                        _ => 16 + (r >> 8) as usize % 2032,
                    };
                    let seed = (r >> 40) as u8;
                    let p = heap::malloc(crt, size).cast::<u8>();
                    assert!(!p.is_null());
                    stamp(p, size, seed);
                    let old = slots[(r >> 20) as usize % SLOTS].swap(p, Ordering::AcqRel);
                    if !old.is_null() {
                        check_and_free(old);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(done.load(Ordering::Relaxed), threads);
    for slot in slots.iter() {
        let p = slot.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            check_and_free(p);
        }
    }
}

const HEADER: usize = core::mem::size_of::<usize>() + 1;

fn stamp(p: *mut u8, size: usize, seed: u8) {
    // SAFETY: the block has `size >= 16 > HEADER` bytes.
    unsafe {
        p.cast::<usize>().write_unaligned(size);
        *p.add(HEADER - 1) = seed;
        fill(p.add(HEADER), size - HEADER, seed);
    }
}

fn check_and_free(p: *mut u8) {
    // SAFETY: `p` was stamped by `stamp` and is owned by the caller now.
    unsafe {
        let size = p.cast::<usize>().read_unaligned();
        let seed = *p.add(HEADER - 1);
        assert!(intact(p.add(HEADER), size - HEADER, seed), "block of {size} bytes corrupted");
        heap::free(crt(), p.cast());
    }
}

/// Blocks allocated under a distinct caller show up in the leak report, and
/// leave it when freed.
pub fn leak_report() {
    const CALLER: usize = 0x7777_0000;
    const BLOCKS: usize = 16;
    const SIZE: usize = 256 * 1024;
    let crt = crt();
    super::CALLER.with(|c| c.set(CALLER));
    let blocks: Vec<*mut c_void> = (0..BLOCKS).map(|_| heap::malloc(crt, SIZE)).collect();
    super::CALLER.with(|c| c.set(0x1000));
    let report = heap::leaks::report(8);
    assert!(report.enabled);
    let mine = report.top.iter().find(|t| t.caller == CALLER).expect("the caller is among the top ones");
    assert_eq!(mine.blocks, BLOCKS as u64);
    assert!(mine.bytes >= (BLOCKS * SIZE) as u64);
    for p in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { heap::free(crt, p) };
    }
    let report = heap::leaks::report(64);
    assert!(report.top.iter().all(|t| t.caller != CALLER), "freed blocks left the table");
}

/// The counters move as the calls are made.
pub fn statistics_count() {
    let crt = crt();
    let before = heap::stats();
    let blocks: Vec<*mut c_void> = (0..100).map(|i| heap::malloc(crt, 24 + i)).collect();
    let mid = heap::stats();
    assert!(mid.allocations >= before.allocations + 100);
    assert!(mid.bytes_allocated >= before.bytes_allocated + (24..124).sum::<usize>() as u64);
    assert!(mid.histogram[heap::stats::size_class(64)] > before.histogram[heap::stats::size_class(64)]);
    for p in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { heap::free(crt, p) };
    }
    let after = heap::stats();
    assert!(after.frees >= mid.frees + 100);
    assert!(after.peak_bytes >= after.live_bytes);
    assert!(after.average_size() > 0);
    // A thread that allocates from a backend holds a state; in passthrough
    // no thread starts, and every call counts into the shared counters.
    if heap::backend() == heap::Backend::Passthrough {
        assert_eq!(after.threads, 0);
    } else {
        assert!(after.threads >= 1);
    }
}

/// Threads whose fiber-local-storage callback, run as the thread ends (before
/// any `DLL_THREAD_DETACH`, and after the callbacks allocated before it:
/// Windows and Wine run them in index order, a backend's own included),
/// allocates, resizes and frees through the heap, as another module's
/// cleanup may. Every block must be usable.
#[cfg(windows)]
pub fn allocations_in_late_fls_callbacks() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use windows_sys::Win32::System::Threading::{FlsAlloc, FlsSetValue, FLS_OUT_OF_INDEXES};

    static USABLE: AtomicU32 = AtomicU32::new(0);
    static UNUSABLE: AtomicU32 = AtomicU32::new(0);

    unsafe extern "system" fn at_thread_end(_value: *const c_void) {
        let crt = crt();
        let p = heap::malloc(crt, 300).cast::<u8>();
        let usable = !p.is_null() && {
            super::fill(p, 300, 5);
            // SAFETY: a live block of 300 bytes, resized and freed once.
            let q = unsafe { heap::realloc(crt, p.cast(), 5000) }.cast::<u8>();
            let intact = !q.is_null() && super::intact(q, 300, 5);
            // SAFETY: as above.
            unsafe { heap::free(crt, q.cast()) };
            intact
        };
        if usable { &USABLE } else { &UNUSABLE }.fetch_add(1, Ordering::SeqCst);
    }

    // SAFETY: registers a callback with the signature Windows calls.
    let index = unsafe { FlsAlloc(Some(at_thread_end)) };
    assert_ne!(index, FLS_OUT_OF_INDEXES);
    for _ in 0..20 {
        std::thread::spawn(move || {
            let p = heap::malloc(crt(), 64);
            assert!(heap::owns(p));
            // SAFETY: a live block, freed once; a non-null value arms the callback.
            unsafe {
                heap::free(crt(), p);
                FlsSetValue(index, core::ptr::dangling::<c_void>());
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!((USABLE.load(Ordering::SeqCst), UNUSABLE.load(Ordering::SeqCst)), (20, 0));
}
