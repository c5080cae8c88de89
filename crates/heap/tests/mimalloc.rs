//! The heap over mimalloc: 8 threads make 10^7 operations.
mod common;

use heap::Backend;

backend_suite!(Backend::Mimalloc, ours: true, model_cases: 256, churn: 10_000_000);

#[test]
fn leaks_are_reported_by_caller() {
    common::start(Backend::Mimalloc);
    common::suites::leak_report();
}
