//! The plugin's own maintenance thread, started once the game is initialised
//! if the heap runs: every second it trims the heap (freed memory the game
//! does not use again goes back to Windows, see `heap::trim`); every few
//! seconds it walks the address space and warns when the game nears the end
//! of it; and as the settings ask, a line of statistics in the log every
//! `[Stats] LogIntervalSeconds` and a row of `MemoryPoolNVSE.stats.csv`
//! every `[Stats] CsvIntervalSeconds`, each on its own schedule.
//!
//! The thread reads lock-free snapshots of the heap's counters and does the
//! formatting, the walking and the writing itself: allocating threads never
//! wait for it, and nothing here runs on the allocation path.

use std::sync::Once;
use std::time::{Duration, Instant};

use crate::allocator::{self, Bytes};
use crate::csv;
use crate::log::{info, warning};
use crate::settings;
use crate::space::{self, Space};

/// How often the heap is trimmed: a span freed and not used again goes back
/// to Windows within two of these.
const TRIM_EVERY: Duration = Duration::from_secs(1);
/// How often the address space is watched: a walk costs about a microsecond
/// per region, a few milliseconds in a game.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// What the thread does when a schedule comes due.
enum Output {
    /// Trims the heap.
    Trim,
    /// Walks the address space and says when it runs low; says once that
    /// code wrote past its blocks over their records.
    Watch { low: bool, overrun_said: bool },
    /// A log line.
    Line,
    /// A CSV row.
    Row,
}

struct Job {
    every: Duration,
    next: Instant,
    output: Output,
    /// The snapshot of the job's last run, for its rates.
    last: (Instant, heap::Snapshot),
}

/// Starts the CSV and the thread, for what the settings ask, if the heap
/// runs. Call outside the loader lock (the thread starts only once it is
/// released, and nothing ever waits for it).
pub fn start(stage: &str) {
    static START: Once = Once::new();
    if !allocator::running() {
        return;
    }
    START.call_once(|| {
        let settings = settings::get();
        let now = Instant::now();
        let mut jobs = vec![
            Job::new(TRIM_EVERY, now, Output::Trim),
            Job::new(WATCH_EVERY, now, Output::Watch { low: false, overrun_said: false }),
        ];
        let line_every = settings.log_interval_seconds;
        if line_every > 0 {
            jobs.push(Job::new(seconds(line_every), now, Output::Line));
        }
        let row_every = settings.csv_interval_seconds;
        if row_every > 0 && csv::start(stage, row_every) {
            jobs.push(Job::new(seconds(row_every), now, Output::Row));
        }
        let spawned = std::thread::Builder::new().name("MemoryPoolNVSE maintenance".into()).spawn(move || run(jobs));
        match spawned {
            Ok(_) if line_every > 0 => info!(
                "{stage}: the heap is trimmed every {} s and the address space watched every {} s; a statistics line \
                 every {line_every} s",
                TRIM_EVERY.as_secs(),
                WATCH_EVERY.as_secs()
            ),
            Ok(_) => info!(
                "{stage}: the heap is trimmed every {} s and the address space watched every {} s",
                TRIM_EVERY.as_secs(),
                WATCH_EVERY.as_secs()
            ),
            Err(e) => warning!(
                "{stage}: no maintenance thread ({e}): freed memory is not given back to Windows, and no periodic \
                 statistics"
            ),
        }
    });
}

fn seconds(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

impl Job {
    fn new(every: Duration, now: Instant, output: Output) -> Job {
        Job { every, next: now + every, output, last: (now, heap::stats()) }
    }

    fn run(&mut self, now: Instant, stats: &heap::Snapshot, space: Space) {
        match &mut self.output {
            Output::Trim => heap::trim::tick(),
            Output::Watch { low, overrun_said } => {
                watch(low, space);
                overruns(overrun_said, stats);
            }
            Output::Line => line(&self.last, &(now, stats.clone()), space),
            // The file keeps its own last row: the exit's comes from elsewhere.
            Output::Row => csv::row(stats.clone(), space),
        }
        self.last = (now, stats.clone());
        // A late wake-up (a suspended game) skips the runs it missed rather
        // than making them all at once.
        self.next += self.every;
        if self.next <= now {
            self.next = now + self.every;
        }
    }

    /// Whether the job reads the address space.
    fn walks(&self) -> bool {
        !matches!(self.output, Output::Trim)
    }
}

/// Sleeps until the next job is due, takes one snapshot and, if a job due
/// needs it, one walk for every job due, and runs them; for good.
fn run(mut jobs: Vec<Job>) {
    loop {
        let Some(next) = jobs.iter().map(|job| job.next).min() else { return };
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let now = Instant::now();
        let due = |job: &Job| job.next <= now;
        let stats = heap::stats();
        let space = if jobs.iter().any(|job| due(job) && job.walks()) {
            Space::now()
        } else {
            Space { free: 0, largest_free: 0 }
        };
        for job in jobs.iter_mut().filter(|job| due(job)) {
            job.run(now, &stats, space);
        }
    }
}

/// Says once when the address space falls below either level, and again
/// each time it does after having recovered; sets the emergency reserve
/// aside again once it is out of danger.
fn watch(low: &mut bool, space: Space) {
    let now_low = space.low();
    if now_low && !*low {
        warning!(
            "Address space is running low: {space} (below {} free or a largest region below {}); the game may \
             run out of memory and crash. Save often; fewer or smaller textures and mods use less",
            Bytes(space::LOW_FREE),
            Bytes(space::LOW_LARGEST)
        );
    } else if !now_low && *low {
        info!("Address space has recovered: {space}");
    }
    *low = now_low;
    if !now_low && heap::oom::reserve() == 0 && allocator::emergency_reserve() > 0 && heap::oom::rearm() {
        info!("The emergency reserve ({}) is set aside again", Bytes(allocator::emergency_reserve() as u64));
    }
}

/// Says once that a block's record of its request was found overwritten:
/// code wrote past what it asked for (which the heap survives: it answered
/// the block's whole usable size, keeping every byte).
fn overruns(said: &mut bool, stats: &heap::Snapshot) {
    if *said || stats.bad_records == 0 {
        return;
    }
    *said = true;
    warning!(
        "Heap: a block's record of its size was found overwritten ({} time(s) so far): code of the game or a mod \
         wrote past the end of a block it asked for. The heap answered the block's whole size and lost no byte; \
         [Debug] GuardPages = 1 stops the game at the instruction that does it",
        stats.bad_records
    );
}

/// One line of the heap's state since the last one.
fn line(last: &(Instant, heap::Snapshot), now: &(Instant, heap::Snapshot), space: Space) {
    let seconds = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
    let rate = |now: u64, before: u64| (now.saturating_sub(before) as f64 / seconds).round() as u64;
    let (a, s) = (&last.1, &now.1);
    info!(
        "Stats: {} in {} blocks (peak {}); {} allocations/s, {} frees/s; {} failures, {} fallbacks; \
         foreign blocks {} freed, {} resized, {} sized; {} mapped by {} (peak {}, {} in the shared cache, {} freed by the game \
         and held back), the heap holds {}; {space}; {} threads",
        Bytes(s.live_bytes),
        s.live_blocks,
        Bytes(s.peak_bytes),
        rate(s.allocations, a.allocations),
        rate(s.frees, a.frees),
        s.failures,
        s.fallbacks,
        s.foreign_frees,
        s.foreign_reallocs,
        s.foreign_sizes,
        Bytes(s.mapped_bytes),
        heap::backend().name(),
        Bytes(s.peak_mapped_bytes),
        Bytes(s.cached_bytes),
        Bytes(s.delayed_bytes),
        Bytes(s.held_bytes()),
        s.threads,
    );
}
