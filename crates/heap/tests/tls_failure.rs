//! A process with no thread-local slot left: the heap does not start, and
//! every call goes to the original functions, from any number of threads,
//! without taking a state per call.
mod common;

use heap::{Backend, Config};

#[test]
fn no_tls_slot_means_passthrough() {
    let crt = common::crt();
    heap::fault::fail_next_tls_alloc();
    let error = heap::init(&Config::DEFAULT).expect_err("no TLS slot, no heap");
    assert!(format!("{error:?}").contains("TlsAlloc"), "{error:?}");
    assert_eq!(heap::backend(), Backend::Passthrough);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                for n in 0..100 {
                    let p = heap::malloc(crt, 10 + i + n);
                    assert!(!p.is_null() && !heap::owns(p));
                    // SAFETY: a live block, freed once.
                    unsafe { heap::free(crt, p) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let s = heap::stats();
    assert_eq!(s.allocations, 800);
    assert_eq!(s.frees, 800);
    assert_eq!(s.threads, 0, "no thread took a state");
}
