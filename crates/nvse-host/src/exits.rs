//! Threads and a process that end while modules still use their C runtime:
//! the fixtures' exit checks, a storm of short-lived threads, and a process
//! whose thread-local storage indices are all taken.
//!
//! `--exit-checks` makes every fixture allocate, resize and free a block in
//! each `DLL_THREAD_DETACH` and in its `DLL_PROCESS_DETACH` (which prints
//! `nvse-host: <module>: process detach usable=1`). `--thread-storm N` runs N
//! threads that do nothing (the control), then N threads that each leave a
//! block in every fixture, freed by the fixture when the thread ends, and
//! prints how much committed memory each batch added:
//!
//! ```text
//! nvse-host: thread storm: threads=N control_growth_kib=C storm_growth_kib=S committed_kib=T
//! nvse-host: <module>: thread exits left=N freed=N usable=N unusable=0
//! ```

use std::ffi::CString;

use windows_sys::Win32::System::LibraryLoader::GetModuleHandleA;
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, TlsAlloc, TlsFree, TLS_OUT_OF_INDEXES};

use crate::fixtures::export;

type SetChecksFn = unsafe extern "C" fn(i32);
type LeaveFn = unsafe extern "C" fn(usize) -> i32;
type TallyFn = unsafe extern "C" fn(*mut u32, *mut u32, *mut u32);

/// Threads run before measuring, so that what every process grows once
/// (thread-state chunks, heaps handed from thread to thread) is in place.
const WARM_UP_THREADS: usize = 100;

/// The exit-related exports of one loaded fixture.
struct Fixture {
    name: String,
    set_checks: SetChecksFn,
    leave: LeaveFn,
    tally: TallyFn,
}

impl Fixture {
    fn find(name: &str) -> Option<Fixture> {
        let c_name = CString::new(name).ok()?;
        // SAFETY: a NUL-terminated name; the module, if loaded, stays loaded.
        let module = unsafe { GetModuleHandleA(c_name.as_ptr().cast()) };
        if module.is_null() {
            return None;
        }
        // SAFETY: the fixtures export these with exactly these signatures
        // (crates/e2e/fixtures/crt_client.c).
        unsafe {
            Some(Fixture {
                name: name.to_owned(),
                set_checks: export(module, "fx_set_exit_checks")?,
                leave: export(module, "fx_leave_block")?,
                tally: export(module, "fx_exit_tally")?,
            })
        }
    }

    /// `(usable, unusable, freed)` so far.
    fn tally(&self) -> (u32, u32, u32) {
        let (mut usable, mut unusable, mut freed) = (0, 0, 0);
        // SAFETY: three valid out-parameters.
        unsafe { (self.tally)(&mut usable, &mut unusable, &mut freed) };
        (usable, unusable, freed)
    }
}

/// The fixtures among `names` that are loaded.
fn fixtures(names: &[String]) -> Vec<Fixture> {
    names.iter().filter_map(|name| Fixture::find(name)).collect()
}

impl Fixture {
    fn set_checks(&self, on: bool) {
        // SAFETY: sets a flag in the fixture.
        unsafe { (self.set_checks)(i32::from(on)) };
    }
}

/// Turns on every fixture's exit checks.
pub fn enable_exit_checks(names: &[String]) {
    for fixture in fixtures(names) {
        fixture.set_checks(true);
        println!("nvse-host: {}: exit checks on", fixture.name);
    }
}

/// The storm described in the module's documentation. The control threads
/// run with the fixtures' exit checks off: they touch no heap at all, and
/// measure what a thread costs the process by itself. Returns whether every
/// fixture freed every block left to it and every exit check was usable.
pub fn thread_storm(count: usize, names: &[String], exit_checks: bool) -> bool {
    let fixtures = fixtures(names);
    let leave: Vec<LeaveFn> = fixtures.iter().map(|f| f.leave).collect();
    let leaving = move || {
        for leave in &leave {
            // SAFETY: allocates a block the fixture frees when this thread ends.
            unsafe { leave(64) };
        }
    };
    run_threads(WARM_UP_THREADS, || {});
    run_threads(WARM_UP_THREADS, leaving.clone());
    let before: Vec<_> = fixtures.iter().map(Fixture::tally).collect();
    fixtures.iter().for_each(|f| f.set_checks(false));
    let start = committed();
    run_threads(count, || {});
    let control = committed();
    fixtures.iter().for_each(|f| f.set_checks(exit_checks));
    run_threads(count, leaving);
    let storm = committed();
    println!(
        "nvse-host: thread storm: threads={count} control_growth_kib={} storm_growth_kib={} committed_kib={}",
        (control as i64 - start as i64) / 1024,
        (storm as i64 - control as i64) / 1024,
        storm / 1024,
    );
    let mut ok = true;
    for (fixture, (usable_before, _, freed_before)) in fixtures.iter().zip(before) {
        let (usable, unusable, freed) = fixture.tally();
        println!(
            "nvse-host: {}: thread exits left={count} freed={} usable={} unusable={unusable}",
            fixture.name,
            freed - freed_before,
            usable - usable_before,
        );
        ok &= freed - freed_before == count as u32 && unusable == 0;
    }
    ok
}

/// Runs `count` threads one after another, each calling `f` and ending.
fn run_threads(count: usize, f: impl Fn() + Clone + Send + 'static) {
    for _ in 0..count {
        let f = f.clone();
        std::thread::spawn(f).join().expect("a storm thread");
    }
}

/// The process's committed private memory, in bytes.
fn committed() -> usize {
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    // SAFETY: a valid out-buffer of `size` bytes for the current process.
    let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, size) };
    if ok == 0 {
        0
    } else {
        counters.PagefileUsage
    }
}

/// Thread-local storage indices taken by [`exhaust_tls`], given back by
/// [`restore_tls`].
pub struct TakenTls(Vec<u32>);

/// Takes every free TLS index, so that a plugin loaded now finds none.
pub fn exhaust_tls() -> TakenTls {
    let mut taken = Vec::new();
    loop {
        // SAFETY: plain Win32 call.
        let index = unsafe { TlsAlloc() };
        if index == TLS_OUT_OF_INDEXES {
            break;
        }
        taken.push(index);
    }
    println!("nvse-host: thread-local storage exhausted ({} indices taken)", taken.len());
    TakenTls(taken)
}

/// Gives the indices back, so that the rest of the session (and the
/// standard library's own thread-locals) can have some.
pub fn restore_tls(taken: TakenTls) {
    for index in taken.0 {
        // SAFETY: an index this program allocated and nothing else uses.
        unsafe { TlsFree(index) };
    }
}
