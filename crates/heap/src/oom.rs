//! When the OS refuses the heap memory: what the heap tries before a request
//! fails, and what it tells the embedder.
//!
//! A 32-bit game runs out of address space long before it runs out of RAM.
//! When the backend cannot map, an allocation goes through three stages:
//!
//! 1. everything the heap caches goes back to the OS ([`crate::trim::release_all`]:
//!    every thread's heap free at that moment, never waiting for one), and
//!    the request is tried again;
//! 2. the emergency reserve, address space set aside at start, is given
//!    back, the embedder is told ([`Stage::ReserveReleased`]: its report is
//!    the player's warning to save), and the request is tried again. Only a
//!    request the reserve could hold releases it, once; the embedder may
//!    set it aside again once space has come back ([`rearm`]);
//! 3. the request fails here: the embedder is told once per size class
//!    ([`Stage::Failed`]), so that a flood of failures neither floods its
//!    log nor slows the game; the caller then tries its own fallback.
//!
//! A request made while the calling thread is already inside the fallback of
//! a failed one (an original allocator that calls a hooked function) skips
//! the stages and its report: the outer request has been through them, and
//! is counted once.

use core::sync::atomic::{
    AtomicPtr, AtomicU32, AtomicUsize,
    Ordering::{Relaxed, Release, SeqCst},
};

use crate::{os, stats, trim};

/// How far an allocation the backend could not serve has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The emergency reserve was given back to make room for it.
    ReserveReleased,
    /// Nothing could make room: the heap fails it.
    Failed,
}

/// What the heap tells the embedder when the OS refuses it memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhaustion {
    pub stage: Stage,
    /// The request, in bytes.
    pub size: usize,
    /// Address space the heap holds now, its own reservations included.
    pub held: u64,
    /// The emergency reserve given back at this stage (0 for `Failed`).
    pub released: usize,
}

/// Called with each report; set by [`start`]. Runs on the allocating thread:
/// it must not allocate through the heap (the heap just failed) nor take a
/// lock an allocating thread may hold.
static REPORT: AtomicPtr<()> = AtomicPtr::new(ignore as *mut ());

fn ignore(_: &Exhaustion) {}

/// The emergency reserve while it is set aside: its base (null: none), the
/// padding before it (see [`os::Region`]), written before the base is, and
/// its size.
static RESERVE_BASE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static RESERVE_PADDING: AtomicUsize = AtomicUsize::new(0);
static RESERVE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Size classes (see [`stats::size_class`]) whose failure has been reported.
static REPORTED: AtomicU32 = AtomicU32::new(0);

/// Threads between taking the reserve and having reported it. A request
/// that finds the reserve already taken waits for them, then tries again:
/// the room it made may serve that request too, and a failure is never
/// reported before the release that came first.
static RELEASING: AtomicU32 = AtomicU32::new(0);

/// Sets the reserve aside (`reserve` bytes, 0 for none) and the report
/// callback. False if the reserve's address space could not be had; the
/// heap runs without one.
pub fn start(reserve: usize, report: fn(&Exhaustion)) -> bool {
    REPORT.store(report as *mut (), Relaxed);
    RESERVE_SIZE.store(reserve, Relaxed);
    reserve == 0 || rearm()
}

/// Sets the emergency reserve aside again if it was given back. True if it
/// is set aside now (or none was asked for).
pub fn rearm() -> bool {
    let size = RESERVE_SIZE.load(Relaxed);
    if size == 0 || !RESERVE_BASE.load(Relaxed).is_null() {
        return true;
    }
    let Some(region) = os::reserve(size) else { return false };
    // Only the maintenance thread and `start` set the reserve aside, one
    // at a time; the padding is read after the base, which is published last.
    RESERVE_PADDING.store(region.padding, Relaxed);
    if RESERVE_BASE.compare_exchange(core::ptr::null_mut(), region.base, Release, Relaxed).is_err() {
        // Another thread set one aside meanwhile.
        // SAFETY: the region was reserved just above and never shared.
        unsafe { os::release(region, size) };
        return true;
    }
    stats::reserved(size as i64);
    true
}

/// Bytes of the emergency reserve set aside now.
pub fn reserve() -> usize {
    if RESERVE_BASE.load(Relaxed).is_null() {
        0
    } else {
        RESERVE_SIZE.load(Relaxed)
    }
}

/// Gives the reserve back if it can hold `size` bytes and is set aside;
/// returns the bytes released.
fn release_reserve(size: usize) -> usize {
    let reserve = RESERVE_SIZE.load(Relaxed);
    if size > reserve {
        return 0;
    }
    if RESERVE_BASE.load(SeqCst).is_null() {
        return 0;
    }
    // Counted before the swap (one total order: SeqCst), so that a thread
    // that sees the base gone also sees the release in progress, or done.
    RELEASING.fetch_add(1, SeqCst);
    let base = RESERVE_BASE.swap(core::ptr::null_mut(), SeqCst);
    if base.is_null() {
        RELEASING.fetch_sub(1, SeqCst);
        return 0;
    }
    let padding = RESERVE_PADDING.load(Relaxed);
    // SAFETY: the reserve was made by `os::reserve(reserve)` in `rearm`,
    // and taking its base out of RESERVE_BASE made this thread its only user.
    unsafe { os::release(os::Region { base, padding }, reserve) };
    stats::reserved(-(reserve as i64));
    reserve
}

fn report(stage: Stage, size: usize, released: usize) {
    let held = stats::held();
    let report = REPORT.load(Relaxed);
    // SAFETY: REPORT only ever holds `ignore` or the `fn(&Exhaustion)` given
    // to `start`, stored as a pointer.
    let report: fn(&Exhaustion) = unsafe { core::mem::transmute::<*mut (), fn(&Exhaustion)>(report) };
    report(&Exhaustion { stage, size, held, released });
}

/// Runs `attempt` again after each stage that could make room for a request
/// of `size` bytes the OS just refused the heap (for the block itself, or
/// for the calling thread's first use of the heap), reporting as it goes;
/// `None` if nothing did. `attempt` asks the heap only.
#[cold]
#[inline(never)]
pub(crate) fn recover<T>(size: usize, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    trim::release_all();
    if let Some(got) = attempt() {
        return Some(got);
    }
    let released = release_reserve(size);
    if released > 0 {
        report(Stage::ReserveReleased, size, released);
        RELEASING.fetch_sub(1, SeqCst);
        if let Some(got) = attempt() {
            return Some(got);
        }
    } else if wait_for_release() {
        if let Some(got) = attempt() {
            return Some(got);
        }
    }
    let class = 1u32 << stats::size_class(size);
    if REPORTED.fetch_or(class, Relaxed) & class == 0 {
        report(Stage::Failed, size, 0);
    }
    None
}

/// Waits while another thread releases the reserve and reports it; true if
/// there was one (its room may now serve this request). The wait is as long
/// as one report: the releasing thread holds no lock this thread could want.
fn wait_for_release() -> bool {
    if RELEASING.load(SeqCst) == 0 {
        return false;
    }
    while RELEASING.load(SeqCst) != 0 {
        std::thread::yield_now();
    }
    true
}
