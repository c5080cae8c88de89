//! Allocation failures: injected backend failures fall back to the original
//! allocator; impossible requests fail with `ENOMEM`. One test, run alone:
//! injected failures are process-wide.
mod common;

use common::{crt, foreign};
use core::ffi::c_void;
use heap::Backend;

#[test]
fn failures_fall_back_then_fail_cleanly() {
    common::start(Backend::Rpmalloc);
    let crt = crt();

    // The backend fails once: the heap gives back what it caches and tries
    // again, which serves it; nothing falls back, nothing fails.
    let before = heap::stats();
    heap::fault::fail_next_allocations(1);
    let p = heap::malloc(crt, 100);
    assert!(heap::owns(p), "served by the heap's second try");
    let after = heap::stats();
    assert_eq!((after.fallbacks, after.failures), (before.fallbacks, before.failures));
    // SAFETY: a live block of ours.
    unsafe { heap::free(crt, p) };

    // The second try fails too (no emergency reserve here): the original
    // allocator serves, and it counts once.
    let before = heap::stats();
    heap::fault::fail_next_allocations(2);
    let p = heap::malloc(crt, 100);
    assert!(!p.is_null(), "the original allocator served the request");
    assert!(!heap::owns(p), "the block is the original allocator's");
    assert_eq!(heap::stats().fallbacks, before.fallbacks + 1);
    // SAFETY: a live block; freed through the heap, it goes back to its allocator.
    unsafe { heap::free(crt, p) };
    assert_eq!(heap::stats().foreign_frees, before.foreign_frees + 1);

    // An allocator with an object of its own (the game's heap) serves it the same way.
    let before = heap::stats();
    heap::fault::fail_next_allocations(2);
    let mut asked = 0;
    let p = heap::malloc_or_else(48, || {
        asked += 1;
        heap::malloc(crt, 48)
    });
    assert_eq!(asked, 1, "the other allocator was asked once");
    assert!(!p.is_null() && heap::owns(p), "here, through the heap again");
    let after = heap::stats();
    assert_eq!((after.fallbacks, after.failures), (before.fallbacks + 1, before.failures), "a fallback, no failure");
    let q = heap::malloc_or_else(0, core::ptr::null_mut);
    assert!(heap::owns(q), "served by the heap, without asking");
    // SAFETY: live blocks of ours.
    unsafe { heap::free(crt, p) };
    // SAFETY: as above.
    unsafe { heap::free(crt, q) };

    // A resize our heap cannot serve moves the block out to the original.
    let p = heap::malloc(crt, 64).cast::<u8>();
    assert!(heap::owns(p as *const c_void));
    common::fill(p, 64, 5);
    heap::fault::fail_next_allocations(2);
    // SAFETY: a live block of ours, resized.
    let q = unsafe { heap::realloc(crt, p.cast(), 100_000) }.cast::<u8>();
    assert!(!q.is_null());
    assert!(!heap::owns(q as *const c_void));
    assert!(common::intact(q, 64, 5));
    // SAFETY: a live block.
    unsafe { heap::free(crt, q.cast()) };

    // The same for an allocator with an object of its own: the block moves
    // to what the other allocator gives, counted once as a fallback.
    let p = heap::malloc(crt, 64).cast::<u8>();
    common::fill(p, 64, 6);
    let before = heap::stats();
    heap::fault::fail_next_allocations(2);
    // SAFETY: a live block of ours, resized.
    let q = unsafe { heap::realloc_or_else(p.cast(), 100_000, || heap::malloc(crt, 100_000)) }.cast::<u8>();
    assert!(!q.is_null() && common::intact(q, 64, 6));
    let after = heap::stats();
    assert_eq!((after.fallbacks, after.failures), (before.fallbacks + 1, before.failures));
    assert_eq!(after.frees, before.frees + 1, "the old block went back");
    // SAFETY: a live block.
    unsafe { heap::free(crt, q.cast()) };
    // If the other allocator gives nothing, the block stays as it was.
    let p = heap::malloc(crt, 64).cast::<u8>();
    common::fill(p, 64, 7);
    heap::fault::fail_next_allocations(2);
    // SAFETY: a live block of ours, resized.
    let q = unsafe { heap::realloc_or_else(p.cast(), 100_000, core::ptr::null_mut) };
    assert!(q.is_null() && common::intact(p, 64, 7));
    // SAFETY: still live.
    unsafe { heap::free(crt, p.cast()) };

    // calloc overflow: NULL and ENOMEM, without asking anyone.
    foreign::set_errno(0);
    assert!(heap::calloc(crt, usize::MAX / 4, 8).is_null());
    assert_eq!(foreign::last_errno(), heap::crt::ENOMEM);
    foreign::set_errno(0);
    // SAFETY: null is a valid `_recalloc` argument.
    assert!(unsafe { heap::recalloc(crt, core::ptr::null_mut(), usize::MAX / 2, 3) }.is_null());
    assert_eq!(foreign::last_errno(), heap::crt::ENOMEM);

    // A request no heap can serve: 3.75 GiB on 32-bit, half the space on 64-bit.
    let huge = if cfg!(target_pointer_width = "32") { 0xF000_0000usize } else { usize::MAX / 2 };
    let failures = heap::stats().failures;
    foreign::set_errno(0);
    assert!(heap::malloc(crt, huge).is_null());
    assert_eq!(foreign::last_errno(), heap::crt::ENOMEM);
    assert!(heap::aligned_malloc(crt, huge, 64).is_null());
    let p = heap::malloc(crt, 10);
    // SAFETY: a live block; the failed resize leaves it untouched.
    assert!(unsafe { heap::realloc(crt, p, huge) }.is_null());
    // SAFETY: still live.
    unsafe { heap::free(crt, p) };
    assert!(heap::stats().failures >= failures + 3);

    // Bad alignments are EINVAL.
    foreign::set_errno(0);
    assert!(heap::aligned_malloc(crt, 10, 24).is_null());
    assert_eq!(foreign::last_errno(), heap::crt::EINVAL);

    // _msize(NULL) is -1 with EINVAL, not a crash.
    // SAFETY: null is handled.
    assert_eq!(unsafe { heap::msize(crt, core::ptr::null_mut()) }, usize::MAX);
}
