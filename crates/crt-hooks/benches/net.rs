//! What the safety net costs a runtime's own callers: msvcrt.dll's `malloc`
//! and `free`, called straight (not through a redirected import), before and
//! after the net hooks msvcrt's release functions. Every block is the
//! runtime's, so every free takes the net's "not ours" path.
//!
//! ```text
//! cargo bench -p crt-hooks --bench net --target i686-pc-windows-gnu
//! ```

#[cfg(all(windows, target_arch = "x86"))]
fn main() {
    use std::time::Instant;

    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets`: nothing to smoke-test here.
    }
    heap::init(&heap::Config::DEFAULT).expect("the heap starts");
    let crt = crt_hooks::crt::find("msvcrt.dll").expect("msvcrt is a known runtime");
    assert!(crt.resolve(), "msvcrt.dll is loaded");
    let (Some(malloc), Some(free)) = (crt.originals.malloc(), crt.originals.free()) else {
        panic!("msvcrt exports malloc and free")
    };
    const N: u32 = 2_000_000;
    let measure = || {
        let start = Instant::now();
        for i in 0..N {
            // SAFETY: the runtime's own malloc and free, each block freed once.
            unsafe { free(malloc(16 + (i % 256) as usize)) };
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(N)
    };
    measure();
    let before = (0..5).map(|_| measure()).fold(f64::MAX, f64::min);
    let report = crt_hooks::net::install(crt);
    assert!(report.outcome.is_ok(), "{report:?}");
    measure();
    let after = (0..5).map(|_| measure()).fold(f64::MAX, f64::min);
    println!(
        "msvcrt malloc + free of its own blocks, best of 5: {before:.1} ns without the net, {after:.1} ns with it"
    );
}

#[cfg(not(all(windows, target_arch = "x86")))]
fn main() {}
