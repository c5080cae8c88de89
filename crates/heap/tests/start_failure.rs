//! A backend that cannot start leaves the heap in passthrough: every call
//! goes to the original functions, and still works.
mod common;

use heap::{Backend, Config};

#[test]
fn a_backend_that_cannot_start_passes_through() {
    let crt = common::crt();
    heap::fault::fail_next_start();
    assert!(heap::init(&Config::DEFAULT).is_err());
    assert_eq!(heap::backend(), Backend::Passthrough);
    let p = heap::malloc(crt, 123);
    assert!(!p.is_null());
    assert!(!heap::owns(p));
    // SAFETY: a live block.
    assert_eq!(unsafe { heap::msize(crt, p) }, 123);
    // SAFETY: a live block, freed once.
    unsafe { heap::free(crt, p) };
    assert_eq!(heap::stats().allocations, 1);

    // The failure was not permanent damage: a second start succeeds.
    assert_eq!(heap::init(&Config::DEFAULT).map(|s| s.backend), Ok(Backend::Rpmalloc));
    let p = heap::malloc(crt, 123);
    assert!(heap::owns(p));
    // SAFETY: a live block, freed once.
    unsafe { heap::free(crt, p) };
}
