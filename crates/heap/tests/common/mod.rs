//! Shared by the heap's integration tests: a "foreign" C runtime (the one the
//! test binary itself links), the heap started once per process, and checks.
#![allow(dead_code)]

pub mod foreign;
pub mod model;
pub mod suites;

use std::sync::OnceLock;

use heap::{Backend, Config, Originals};

/// The originals of the C runtime this test binary links.
pub fn crt() -> &'static Originals {
    static CRT: OnceLock<Originals> = OnceLock::new();
    CRT.get_or_init(foreign::originals)
}

/// Starts the heap with `backend`, once per test process.
pub fn start(backend: Backend) {
    static STARTED: OnceLock<Backend> = OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        let _ = crt();
        let config =
            Config { backend, track_leaks: true, leak_capacity: 1 << 16, caller: test_caller, ..Config::DEFAULT };
        let started = heap::init(&config).expect("heap starts");
        assert_eq!(started.backend, backend);
        assert!(started.tracking_leaks);
        backend
    });
    assert_eq!(started, backend, "one backend per test process");
}

/// On Windows the embedder tells the heap when a thread ends (the plugin's
/// `DllMain` at `DLL_THREAD_DETACH`); a test program does it from a TLS
/// callback, which Windows calls at the same moments.
#[cfg(windows)]
mod exit_signal {
    use core::ffi::c_void;

    unsafe extern "system" fn on_tls_event(_module: *mut c_void, reason: u32, _reserved: *mut c_void) {
        const DLL_THREAD_DETACH: u32 = 3;
        if reason == DLL_THREAD_DETACH {
            heap::thread_exit();
        }
    }

    // The loader calls every pointer between MinGW's `.CRT$XLA` and
    // `.CRT$XLZ` markers for each thread attach and detach.
    #[used]
    #[link_section = ".CRT$XLM"]
    static ON_TLS_EVENT: unsafe extern "system" fn(*mut c_void, u32, *mut c_void) = on_tls_event;
}

/// A stand-in for a stack walk: leak reports group by this value.
fn test_caller() -> usize {
    CALLER.with(|c| c.get())
}

thread_local! {
    pub static CALLER: std::cell::Cell<usize> = const { std::cell::Cell::new(0x1000) };
}

/// Fills `len` bytes at `p` with a pattern derived from `seed`.
pub fn fill(p: *mut u8, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: callers pass blocks of at least `len` writable bytes.
        unsafe { *p.add(i) = seed.wrapping_add(i as u8).wrapping_mul(31) };
    }
}

/// Whether `len` bytes at `p` hold the pattern of [`fill`].
pub fn intact(p: *const u8, len: usize, seed: u8) -> bool {
    // SAFETY: callers pass blocks of at least `len` readable bytes.
    (0..len).all(|i| unsafe { *p.add(i) } == seed.wrapping_add(i as u8).wrapping_mul(31))
}

/// Whether `len` bytes at `p` are zero.
pub fn zeroed(p: *const u8, len: usize) -> bool {
    // SAFETY: callers pass blocks of at least `len` readable bytes.
    (0..len).all(|i| unsafe { *p.add(i) } == 0)
}

/// The scenarios every backend's test binary runs: `ours` says whether the
/// heap owns what it hands out (not in passthrough), `churn` how many
/// operations the eight threads make.
#[macro_export]
macro_rules! backend_suite {
    ($backend:expr, ours: $ours:expr, model_cases: $cases:expr, churn: $churn:expr) => {
        #[test]
        fn family_matches_the_model() {
            common::start($backend);
            common::model::run($ours, $cases);
        }

        #[test]
        fn foreign_pointers_go_back_to_their_allocator() {
            common::start($backend);
            common::suites::foreign_pointers($ours);
        }

        #[test]
        fn eight_threads_churn() {
            common::start($backend);
            common::suites::cross_thread_churn(8, $churn);
        }

        #[test]
        fn statistics_count_calls() {
            common::start($backend);
            common::suites::statistics_count();
        }
    };
}
