//! The passthrough backend: everything to the originals, counted.
mod common;

use heap::Backend;

const BACKEND: Backend = Backend::Passthrough;

#[test]
fn family_matches_the_model() {
    common::start(BACKEND);
    common::model::run(false, 128);
}

#[test]
fn foreign_pointers_go_back_to_their_allocator() {
    common::start(BACKEND);
    common::suites::foreign_pointers(false);
}

#[test]
fn eight_threads_churn() {
    common::start(BACKEND);
    common::suites::cross_thread_churn(8, 1_000_000);
}

#[test]
fn statistics_count_calls() {
    common::start(BACKEND);
    common::suites::statistics_count();
}
