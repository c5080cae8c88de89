//! The plugin's own statistics thread: a line in the log every
//! `[Stats] LogIntervalSeconds` and a row of `MemoryPoolNVSE.stats.csv` every
//! `[Stats] CsvIntervalSeconds`, each on its own schedule.
//!
//! The thread reads lock-free snapshots of the heap's counters and does the
//! formatting and the writing itself: allocating threads never wait for the
//! disk, and nothing here runs on the allocation path.

use std::sync::Once;
use std::time::{Duration, Instant};

use crate::allocator::{self, Bytes};
use crate::csv;
use crate::log::{info, warning};
use crate::settings;

/// What the thread does when a schedule comes due.
enum Output {
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
        let mut jobs = Vec::new();
        let line_every = settings.log_interval_seconds;
        if line_every > 0 {
            jobs.push(Job::new(line_every, now, Output::Line));
        }
        let row_every = settings.csv_interval_seconds;
        if row_every > 0 && csv::start(stage, row_every) {
            jobs.push(Job::new(row_every, now, Output::Row));
        }
        if jobs.is_empty() {
            return;
        }
        let spawned = std::thread::Builder::new().name("MemoryPoolNVSE stats".into()).spawn(move || run(jobs));
        match spawned {
            Ok(_) if line_every > 0 => info!("{stage}: a statistics line every {line_every} s"),
            Ok(_) => {}
            Err(e) => warning!("{stage}: no periodic statistics: the thread could not start ({e})"),
        }
    });
}

impl Job {
    fn new(seconds: u32, now: Instant, output: Output) -> Job {
        let every = Duration::from_secs(u64::from(seconds));
        Job { every, next: now + every, output, last: (now, heap::stats()) }
    }

    fn run(&mut self, now: Instant, stats: &heap::Snapshot) {
        let current = (now, stats.clone());
        match self.output {
            Output::Line => line(&self.last, &current),
            // The file keeps its own last row: the exit's comes from elsewhere.
            Output::Row => csv::row(stats.clone()),
        }
        self.last = current;
        // A late wake-up (a suspended game) skips the rows it missed rather
        // than writing them all at once.
        self.next += self.every;
        if self.next <= now {
            self.next = now + self.every;
        }
    }
}

/// Sleeps until the next job is due, takes one snapshot for every job due,
/// and runs them; for good.
fn run(mut jobs: Vec<Job>) {
    loop {
        let Some(next) = jobs.iter().map(|job| job.next).min() else { return };
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let now = Instant::now();
        let stats = heap::stats();
        for job in jobs.iter_mut().filter(|job| job.next <= now) {
            job.run(now, &stats);
        }
    }
}

/// One line of the heap's state since the last one.
fn line(last: &(Instant, heap::Snapshot), now: &(Instant, heap::Snapshot)) {
    let seconds = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
    let rate = |now: u64, before: u64| (now.saturating_sub(before) as f64 / seconds).round() as u64;
    let (a, s) = (&last.1, &now.1);
    info!(
        "Stats: {} in {} blocks (peak {}); {} allocations/s, {} frees/s; {} failures, {} fallbacks; \
         foreign blocks {} freed, {} resized, {} sized; {} mapped by {} (peak {}); {} threads",
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
        s.threads,
    );
}
