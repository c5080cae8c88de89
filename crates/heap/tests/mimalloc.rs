//! The heap over mimalloc: 8 threads make 10^7 operations.
mod common;

use heap::Backend;

backend_suite!(Backend::Mimalloc, ours: true, model_cases: 256, churn: 10_000_000);

#[test]
fn leaks_are_reported_by_caller() {
    common::start(Backend::Mimalloc);
    common::suites::leak_report();
}

/// mimalloc ends a thread's heap from a fiber-local-storage callback, which
/// Windows runs before any `DLL_THREAD_DETACH`: allocations after it are
/// still served (mimalloc starts the thread again).
#[cfg(windows)]
#[test]
fn allocations_after_mimallocs_thread_end_are_served() {
    common::start(Backend::Mimalloc);
    common::suites::allocations_in_late_fls_callbacks();
}
