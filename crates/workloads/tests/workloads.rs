//! Every workload runs, counts what it did, and frees everything it allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use workloads::{measure, Allocator, Scale, Session, Space, Workload};

/// Calls and live blocks of [`Counted`]; the tests run one at a time through
/// [`LOCK`] because these are global.
static CALLS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The system allocator with the block's size in a header.
struct Counted;

const HEADER: usize = 16;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size + HEADER, HEADER).unwrap()
}

impl Allocator for Counted {
    const NAME: &'static str = "counted";
    unsafe fn malloc(size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        LIVE.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(size as i64, Relaxed);
        // SAFETY: a non-zero layout; the header holds the size.
        unsafe {
            let p = System.alloc(layout(size));
            p.cast::<usize>().write(size);
            p.add(HEADER)
        }
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        let total = count * size;
        // SAFETY: forwarded contract; the block has `total` bytes.
        unsafe {
            let p = Self::malloc(total);
            p.write_bytes(0, total);
            p
        }
    }
    unsafe fn free(p: *mut u8) {
        CALLS.fetch_add(1, Relaxed);
        LIVE.fetch_sub(1, Relaxed);
        // SAFETY: a live block of `malloc` above, with its header.
        unsafe {
            let base = p.sub(HEADER);
            let size = base.cast::<usize>().read();
            LIVE_BYTES.fetch_sub(size as i64, Relaxed);
            System.dealloc(base, layout(size))
        }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        // SAFETY: a live block of `malloc` above, with its header.
        unsafe {
            let base = p.sub(HEADER);
            let old = base.cast::<usize>().read();
            LIVE_BYTES.fetch_add(size as i64 - old as i64, Relaxed);
            let q = System.realloc(base, layout(old), size + HEADER);
            q.cast::<usize>().write(size);
            q.add(HEADER)
        }
    }
}

#[test]
fn every_workload_runs_and_frees_all() {
    let _one_at_a_time = LOCK.lock().unwrap();
    for workload in Workload::ALL {
        CALLS.store(0, Relaxed);
        let ops = Scale::Smoke.ops(workload);
        let outcome = workload.run::<Counted>(ops);
        assert_eq!(LIVE.load(Relaxed), 0, "{}: blocks left", workload.name());
        assert!(outcome.ops >= ops / 2 && outcome.ops <= ops * 2, "{}: {} ops for {ops}", workload.name(), outcome.ops);
        // The measured phase is part of all the calls made (set-up, clean-up).
        assert!(CALLS.load(Relaxed) >= outcome.ops, "{}: fewer calls than ops", workload.name());
        assert!(outcome.peak_live_bytes > 0, "{}: no peak", workload.name());
        assert!(outcome.ns_per_op() > 0.0, "{}: {outcome:?}", workload.name());
    }
}

#[test]
fn peaks_are_the_workloads_own() {
    let _one_at_a_time = LOCK.lock().unwrap();
    // 16k blocks of 16..=2048 bytes: about 16 MiB, whatever the allocator.
    let peak = Workload::SmallChurn.run::<Counted>(1000).peak_live_bytes;
    assert!((15 << 20..19 << 20).contains(&peak), "small-churn peak {peak}");
    // Deterministic: the same sizes every run.
    assert_eq!(Workload::SmallChurn.run::<Counted>(1000).peak_live_bytes, peak);
    // A producer's batches of 256 blocks of 16..=512 bytes, at most a few dozen in flight.
    let peak = Workload::CrossThread.run::<Counted>(100_000).peak_live_bytes;
    assert!((60_000..=40 * 256 * 512).contains(&peak), "cross-thread peak {peak}");
}

#[test]
fn names_and_scales() {
    for workload in Workload::ALL {
        assert_eq!(Workload::from_name(workload.name()), Some(workload));
    }
    assert_eq!(Workload::from_name("churn"), None);
    assert_eq!(Scale::from_name("quick"), Some(Scale::Quick));
    let _one_at_a_time = LOCK.lock().unwrap();
    let m = measure::<Counted>(Workload::ReallocGrowth, Scale::Smoke);
    assert_eq!(m.runs, 1);
    assert!(m.best.ops >= 4000);
}

/// A walk that finds exactly the bytes [`Counted`] holds reserved, and the
/// rest of a GiB free.
fn counted_walk() -> Space {
    let live = LIVE_BYTES.load(Relaxed).max(0) as u64;
    Space { reserved: live, largest_free: (1 << 30) - live }
}

#[test]
fn a_session_reports_what_its_walks_found() {
    let _one_at_a_time = LOCK.lock().unwrap();
    const MIB: u64 = 1 << 20;
    for session in Session::ALL {
        let name = session.name();
        let o = session.run::<Counted>(Scale::Smoke, counted_walk);
        assert_eq!((LIVE.load(Relaxed), LIVE_BYTES.load(Relaxed)), (0, 0), "{name}: blocks left");
        // Smoke scale: 4 MiB at the peak, overshot by at most a large block
        // and an array's growth per thread.
        let most = 4 * MIB + session.threads() as u64 * 3 * MIB / 2;
        assert!((4 * MIB..most).contains(&o.peak_live_bytes), "{name}: {o:?}");
        // The walks see what is live at the boundaries, where the peak is.
        assert!(o.peak_reserved_bytes <= o.peak_live_bytes, "{name}: {o:?}");
        assert!(o.peak_reserved_bytes * 10 >= o.peak_live_bytes * 9, "{name}: {o:?}");
        assert_eq!(o.min_largest_free_bytes, (1 << 30) - o.peak_reserved_bytes, "{name}: {o:?}");
        // 7 blocks in 10 dropped at each cell change; what stays is the live
        // set then, which settling churns at its level, overshot by at most
        // a block (up to 1 MiB) per thread.
        let (least, most) =
            (o.peak_live_bytes * 15 / 100, o.peak_live_bytes * 45 / 100 + session.threads() as u64 * MIB);
        assert!((least..most).contains(&o.live_after_drop_bytes), "{name}: after the drop: {o:?}");
        assert_eq!(o.reserved_after_drop_bytes, o.live_after_drop_bytes, "{name}: {o:?}");
        assert_eq!(o.reserved_empty_bytes, 0, "{name}: {o:?}");
        // A baseline, 3 boundaries a cycle, 3 at the end; more on the period.
        assert!(o.samples >= 1 + 3 * 6 + 3, "{name}: {o:?}");
        assert!(o.ops > 1000 && CALLS.load(Relaxed) >= o.ops, "{name}: {o:?}");
        CALLS.store(0, Relaxed);
    }
    // One thread makes the same blocks every run.
    let peak = |o: workloads::SessionOutcome| o.peak_live_bytes;
    assert_eq!(
        peak(Session::OneThread.run::<Counted>(Scale::Smoke, counted_walk)),
        peak(Session::OneThread.run::<Counted>(Scale::Smoke, counted_walk))
    );
}

#[test]
fn session_names() {
    for session in Session::ALL {
        assert_eq!(Session::from_name(session.name()), Some(session));
    }
    assert_eq!(Session::from_name("game-session"), None);
    assert_eq!((Session::OneThread.threads(), Session::FourThreads.threads()), (1, 4));
}

/// Game threads the frame session announced.
static GAME_THREADS: AtomicU64 = AtomicU64::new(0);

fn game_thread() {
    GAME_THREADS.fetch_add(1, Relaxed);
}

/// [`Counted`], whose 3000th call from now on takes 3 ms more.
struct Stalling;

static STALL_IN: AtomicI64 = AtomicI64::new(i64::MAX);

fn maybe_stall() {
    if STALL_IN.fetch_sub(1, Relaxed) == 0 {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(3);
        while std::time::Instant::now() < until {}
    }
}

impl Allocator for Stalling {
    const NAME: &'static str = "stalling";
    unsafe fn malloc(size: usize) -> *mut u8 {
        maybe_stall();
        // SAFETY: forwarded contract.
        unsafe { Counted::malloc(size) }
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        maybe_stall();
        // SAFETY: forwarded contract.
        unsafe { Counted::calloc(count, size) }
    }
    unsafe fn free(p: *mut u8) {
        maybe_stall();
        // SAFETY: forwarded contract.
        unsafe { Counted::free(p) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        maybe_stall();
        // SAFETY: forwarded contract.
        unsafe { Counted::realloc(p, size) }
    }
}

/// The frame session frees what it allocated, announces its four game
/// threads, and its clock sees a call that stalls: in the longest call and
/// in the slowest frame.
#[test]
fn the_frame_session_times_every_call() {
    use workloads::latency::frames;
    let _one_at_a_time = LOCK.lock().unwrap();
    CALLS.store(0, Relaxed);
    GAME_THREADS.store(0, Relaxed);
    let o = frames::run::<Counted>(Scale::Smoke, game_thread);
    assert_eq!((LIVE.load(Relaxed), LIVE_BYTES.load(Relaxed)), (0, 0), "blocks left: {o:?}");
    assert_eq!(GAME_THREADS.load(Relaxed), frames::THREADS as u64);
    assert_eq!(o.frames, 10);
    // 10 frames of 500 + 3 * (150 + 48) steps and more, fewer than all calls.
    assert!(o.ops > 10 * 2 * (500 + 3 * 150) && CALLS.load(Relaxed) > o.ops, "{o:?}");
    assert!(o.p50_ns <= o.p99_ns && o.p99_ns <= o.p999_ns && o.p999_ns <= o.max_ns, "{o:?}");
    assert!(o.median_frame_ns <= o.slowest_frame_ns && o.slowest_frame < o.frames, "{o:?}");
    // 512 + 3 * 128 blocks of game-mix's sizes: a few MiB.
    assert!((1 << 20..64 << 20).contains(&o.peak_live_bytes), "{o:?}");

    STALL_IN.store(3000, Relaxed);
    let stalled = frames::run::<Stalling>(Scale::Smoke, game_thread);
    STALL_IN.store(i64::MAX, Relaxed);
    assert!(stalled.max_ns >= 3_000_000, "{stalled:?}");
    assert!(stalled.slowest_frame_ns >= 3_000_000, "{stalled:?}");
    assert_eq!((LIVE.load(Relaxed), LIVE_BYTES.load(Relaxed)), (0, 0), "blocks left: {stalled:?}");
}
