//! When the OS refuses the heap memory (`heap::oom`), made to happen with
//! injected backend failures: first the caches go back and the request is
//! tried again, then the emergency reserve is given back (said once), then
//! the request fails here (said once per size class) and goes to the
//! original allocator, counted once however deep the fallback goes. One
//! test: the reserve and the reports are the process's.
mod common;

use std::sync::Mutex;

use heap::oom::{Exhaustion, Stage};
use heap::Config;

const RESERVE: usize = 8 << 20;

static REPORTS: Mutex<Vec<Exhaustion>> = Mutex::new(Vec::new());

/// The embedder's report: here, kept for the checks (with the system's
/// allocator, not the heap's).
fn record(report: &Exhaustion) {
    REPORTS.lock().unwrap().push(*report);
}

fn reports() -> Vec<Exhaustion> {
    std::mem::take(&mut *REPORTS.lock().unwrap())
}

fn free(p: *mut core::ffi::c_void) {
    // SAFETY: live blocks of the heap or of the test's C runtime, freed once.
    unsafe { heap::free(common::crt(), p) };
}

#[test]
fn stages_of_an_allocation_the_os_refuses() {
    let crt = common::crt();
    let config = Config { emergency_reserve: RESERVE, on_exhausted: record, ..Config::DEFAULT };
    let started = heap::init(&config).expect("heap starts");
    assert!(started.emergency_reserve, "the reserve is set aside");
    assert_eq!(heap::oom::reserve(), RESERVE);

    // Stage 1: the caches go back, the second try serves; nothing is said.
    heap::fault::fail_next_allocations(1);
    let p = heap::malloc(crt, 100);
    assert!(heap::owns(p));
    free(p);
    assert!(reports().is_empty());
    // (The thread's first allocation mapped its state: held from now on.)
    let reserved = heap::stats().reserved_bytes;
    assert!(reserved >= RESERVE as u64, "the reserve counts as held ({reserved})");

    // Stage 2: the second try fails too; the reserve goes, which is said with
    // the request's size, and the third try serves.
    let before = heap::stats();
    heap::fault::fail_next_allocations(2);
    let p = heap::malloc(crt, 100);
    assert!(heap::owns(p), "served by the heap after the reserve went");
    free(p);
    let said = reports();
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!((said[0].stage, said[0].size, said[0].released), (Stage::ReserveReleased, 100, RESERVE));
    assert!(said[0].held > 0);
    let after = heap::stats();
    assert_eq!((after.failures, after.fallbacks), (before.failures, before.fallbacks));
    assert_eq!(heap::oom::reserve(), 0);
    assert_eq!(after.reserved_bytes, reserved - RESERVE as u64, "the reserve no longer counts as held");

    // Stage 3: no reserve left; the failure is said once for its size class
    // and the original allocator serves, counted as one fallback.
    let before = heap::stats();
    heap::fault::fail_next_allocations(2);
    let p = heap::malloc(crt, 200);
    assert!(!p.is_null() && !heap::owns(p), "the original allocator served it");
    free(p);
    heap::fault::fail_next_allocations(2);
    let q = heap::malloc(crt, 250);
    free(q);
    let said = reports();
    assert_eq!(said.len(), 1, "one report for the size class of 129-256 bytes: {said:?}");
    assert_eq!((said[0].stage, said[0].size), (Stage::Failed, 200));
    assert_eq!(heap::stats().fallbacks, before.fallbacks + 2);
    heap::fault::fail_next_allocations(2);
    let p = heap::malloc(crt, 5000);
    free(p);
    assert_eq!(reports().iter().map(|r| (r.stage, r.size)).collect::<Vec<_>>(), [(Stage::Failed, 5000)]);

    // The reserve can be set aside again once space has come back.
    assert!(heap::oom::rearm());
    assert_eq!(heap::oom::reserve(), RESERVE);
    assert_eq!(heap::stats().reserved_bytes, reserved);

    // A request larger than the reserve does not take it.
    heap::fault::fail_next_allocations(2);
    let p = heap::malloc(crt, RESERVE + 1);
    free(p);
    assert_eq!(heap::oom::reserve(), RESERVE, "the reserve could not have held it");
    assert_eq!(reports().iter().map(|r| r.stage).collect::<Vec<_>>(), [Stage::Failed]);

    // A fallback that calls the heap again (the game heap's original
    // allocate calls the hooked `malloc`): the inner failure goes straight to
    // its own fallback, unsaid and uncounted; the outer one counts once.
    let before = heap::stats();
    // (Four failures: the outer try, its second try, its try after the
    // reserve went, and the inner try.)
    heap::fault::fail_next_allocations(4);
    let mut inner = core::ptr::null_mut();
    let p = heap::malloc_or_else(300, || {
        inner = heap::malloc(crt, 300);
        inner
    });
    assert!(!p.is_null() && !heap::owns(p), "the inner fallback's block");
    free(p);
    let after = heap::stats();
    assert_eq!((after.fallbacks, after.failures), (before.fallbacks + 1, before.failures), "counted once");
    let said = reports();
    assert!(said.iter().all(|r| r.size == 300), "{said:?}");
    assert!(said.len() <= 2, "the outer request only: {said:?}");
}
