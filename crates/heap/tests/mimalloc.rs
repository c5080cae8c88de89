//! The heap over mimalloc.
mod common;

use heap::Backend;

const BACKEND: Backend = Backend::Mimalloc;

#[test]
fn family_matches_the_model() {
    common::start(BACKEND);
    common::model::run(true, 256);
}

#[test]
fn foreign_pointers_go_back_to_their_allocator() {
    common::start(BACKEND);
    common::suites::foreign_pointers(true);
}

#[test]
fn eight_threads_churn_ten_million_operations() {
    common::start(BACKEND);
    common::suites::cross_thread_churn(8, 10_000_000);
}

#[test]
fn leaks_are_reported_by_caller() {
    common::start(BACKEND);
    common::suites::leak_report();
}

#[test]
fn statistics_count_calls() {
    common::start(BACKEND);
    common::suites::statistics_count();
}
