//! The heap over rpmalloc: 8 threads make 10^7 operations.
mod common;

use heap::Backend;

backend_suite!(Backend::Rpmalloc, ours: true, model_cases: 256, churn: 10_000_000);

#[test]
fn leaks_are_reported_by_caller() {
    common::start(Backend::Rpmalloc);
    common::suites::leak_report();
}

#[test]
fn mapped_address_space_is_counted() {
    common::start(Backend::Rpmalloc);
    let p = heap::malloc(common::crt(), 100);
    assert!(heap::stats().mapped_bytes > 0);
    // SAFETY: a live block.
    unsafe { heap::free(common::crt(), p) };
}

/// Allocations in a thread's fiber-local-storage callbacks, which Windows
/// runs before any `DLL_THREAD_DETACH`, are served by the thread's heap.
#[cfg(windows)]
#[test]
fn allocations_in_late_fls_callbacks_are_served() {
    common::start(Backend::Rpmalloc);
    common::suites::allocations_in_late_fls_callbacks();
}
