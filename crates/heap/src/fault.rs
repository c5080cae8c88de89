//! Fault injection for tests: make the backend fail on demand.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static START_FAILURE: AtomicBool = AtomicBool::new(false);
static TLS_FAILURE: AtomicBool = AtomicBool::new(false);
static ALLOC_FAILURES: AtomicUsize = AtomicUsize::new(0);

/// The next [`crate::init`] fails as if the backend could not start.
pub fn fail_next_start() {
    START_FAILURE.store(true, Ordering::SeqCst);
}

/// The next [`crate::init`] finds no thread-local slot, as if `TlsAlloc`
/// had none left.
pub fn fail_next_tls_alloc() {
    TLS_FAILURE.store(true, Ordering::SeqCst);
}

pub(crate) fn take_tls_failure() -> bool {
    TLS_FAILURE.swap(false, Ordering::SeqCst)
}

/// The next `n` backend allocations (on any thread) return null.
pub fn fail_next_allocations(n: usize) {
    ALLOC_FAILURES.store(n, Ordering::SeqCst);
}

pub(crate) fn take_start_failure() -> bool {
    START_FAILURE.swap(false, Ordering::SeqCst)
}

#[inline(always)]
pub(crate) fn take_alloc_failure() -> bool {
    ALLOC_FAILURES.load(Ordering::Relaxed) != 0
        && ALLOC_FAILURES.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}
