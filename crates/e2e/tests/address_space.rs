//! The game session (`crates/workloads/src/session`) through the stand-in's
//! C runtime imports with the packaged plugin under Wine, at quick scale
//! (100 MiB live at each peak): the figures that walks of the address space
//! give are there and plausible, and the address space the heap holds once
//! the game has dropped most of its blocks stays within the bounds below.
//!
//! Reserved bytes are counted over a walk taken before the session, when the
//! plugin's heap had started: its one-time reservations are not counted.

use e2e::{Game, Run};
use workloads::record::AddressSpace;
use workloads::{Record, Session};

const MIB: u64 = 1 << 20;
/// After the last cell change and a few seconds of play, the heap holds at
/// most `HELD_PER_LIVE` times the live bytes plus `HELD_OVER_LIVE_MIB`.
const HELD_PER_LIVE: f64 = 1.3;
const HELD_OVER_LIVE_MIB: u64 = 32;
/// With nothing live, after a few seconds, at most this.
const HELD_EMPTY_MIB: u64 = 32;

/// Live bytes at each peak of a quick session.
const PEAK_LIVE: u64 = 100 * MIB;

#[test]
fn one_thread_the_heap_gives_back_what_the_game_dropped() {
    check_session(Session::OneThread);
}

#[test]
fn four_threads_the_heap_gives_back_what_the_game_dropped() {
    check_session(Session::FourThreads);
}

fn check_session(session: Session) {
    let game = Game::new(&format!("address_space_{}", session.name()));
    game.install_shipped_ini();
    let run = game.run(&["bench", "--scale", "quick", "--workload", session.name()]);
    assert!(run.success, "{}", run.describe());
    let (record, space) = the_record(&run, session);
    let figures = describe(&record, &space);
    println!("{}: {figures}", session.name());

    plausible(&record, &space, &figures);
    // The plugin's heap served every block, and got every one back.
    let exit = run.log_message("ExitGame: heap rpmalloc:");
    assert!(exit.contains(" 0 live blocks") && exit.contains(" 0 fallbacks, 0 failures"), "{exit}");

    let bound = (HELD_PER_LIVE * space.live_after_drop_bytes as f64) as u64 + HELD_OVER_LIVE_MIB * MIB;
    assert!(
        space.reserved_after_drop_bytes <= bound,
        "after the last cell change the heap holds more than {HELD_PER_LIVE} × live + {HELD_OVER_LIVE_MIB} MiB \
         ({:.1} MiB): {figures}",
        bound as f64 / MIB as f64
    );
    assert!(
        space.reserved_empty_bytes <= HELD_EMPTY_MIB * MIB,
        "with nothing live the heap holds more than {HELD_EMPTY_MIB} MiB: {figures}"
    );
}

/// The one record the stand-in printed, with its address space's figures.
fn the_record(run: &Run, session: Session) -> (Record, AddressSpace) {
    run.assert_printed("nvse-host: bench: plugin-crt, 0 workload(s) and 1 session(s) at Quick scale");
    let records: Vec<Record> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| Record::parse(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let [record] = records.as_slice() else { panic!("expected one record\n{}", run.describe()) };
    assert_eq!((record.workload.as_str(), record.allocator.as_str()), (session.name(), "plugin-crt"));
    let space = record.address_space.unwrap_or_else(|| panic!("no address space figures: {record:?}"));
    (record.clone(), space)
}

/// What a working session and walk must show, whatever the heap.
fn plausible(record: &Record, space: &AddressSpace, figures: &str) {
    let live = record.peak_live_bytes;
    // The session's own account: its peak, and 3 blocks in 10 kept at a cell change.
    assert!((PEAK_LIVE..PEAK_LIVE + 8 * MIB).contains(&live), "peak live: {figures}");
    let kept = space.live_after_drop_bytes as f64 / live as f64;
    assert!((0.2..0.5).contains(&kept), "live after the drop: {figures}");
    // The walks see the heap's blocks: at its peak it holds at least what is
    // live (only touched pages are resident, but all are reserved).
    assert!(space.peak_reserved_bytes >= live / 10 * 9, "peak reserved: {figures}");
    // Every sample counts towards the peak.
    assert!(space.peak_reserved_bytes >= space.reserved_after_drop_bytes.max(space.reserved_empty_bytes), "{figures}");
    // A free region in a 32-bit process, seen at the fullest.
    assert!((1..4096 * MIB).contains(&space.min_largest_free_bytes), "smallest largest free region: {figures}");
}

fn describe(record: &Record, space: &AddressSpace) -> String {
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / MIB as f64);
    format!(
        "peak {} reserved for {} live ({:.2}x); after the last drop {} reserved for {} live; \
         {} with nothing live; smallest largest free region {}",
        mib(space.peak_reserved_bytes),
        mib(record.peak_live_bytes),
        space.peak_reserved_bytes as f64 / record.peak_live_bytes as f64,
        mib(space.reserved_after_drop_bytes),
        mib(space.live_after_drop_bytes),
        mib(space.reserved_empty_bytes),
        mib(space.min_largest_free_bytes),
    )
}
