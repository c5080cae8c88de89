//! Statistics files for the tests: a realistic session, with or without the
//! address-space columns, and the pieces to damage one. Shared with the
//! report tool's tests.

#![allow(dead_code)]

use std::path::PathBuf;

use stats_page::columns::{required, COLUMNS, LEADING, SIZE_CLASSES};

/// Every column, as the plugin writes them.
pub fn header() -> String {
    COLUMNS.join(",")
}

/// The columns of a file from before the optional ones.
pub fn older_header() -> String {
    older_columns().join(",")
}

fn older_columns() -> Vec<&'static str> {
    (0..COLUMNS.len()).filter(|&c| required(c)).map(|c| COLUMNS[c]).collect()
}

/// A plausible game session of `rows` rows, one a second, with every
/// column: loading (memory climbs), play with a cell change every minute (a
/// rise and a partial fall), then a quiet end; the process's free address
/// space shrinks as the heap grows and fragments. Deterministic.
pub fn session(rows: usize) -> String {
    write(rows, true)
}

/// The same session as a file of an earlier version writes it: without
/// `held_bytes`, `free_space_bytes` and `largest_free_bytes`.
pub fn older_session(rows: usize) -> String {
    write(rows, false)
}

fn write(rows: usize, every_column: bool) -> String {
    let mut text = if every_column { header() } else { older_header() };
    text.push('\n');
    for row in Session::new().take(rows) {
        let fields: Vec<String> = row
            .into_iter()
            .enumerate()
            .filter(|&(column, _)| every_column || required(column))
            .map(|(_, field)| field)
            .collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

/// Rows of every column, as text, one a second.
struct Session {
    random: u64,
    row: usize,
    histogram: [u64; SIZE_CLASSES],
    peak: u64,
    peak_mapped: u64,
    failures: u64,
    fallbacks: u64,
    foreign: u64,
}

/// Shares of allocations by class (in 1/1000): most requests are small.
const SHARES: [(usize, u64); 12] =
    [(3, 60), (4, 220), (5, 300), (6, 180), (7, 90), (8, 60), (9, 40), (10, 25), (12, 15), (14, 6), (16, 3), (20, 1)];

impl Session {
    fn new() -> Session {
        Session {
            random: 0x2545_F491_4F6C_DD1D,
            row: 0,
            histogram: [0; SIZE_CLASSES],
            peak: 0,
            peak_mapped: 0,
            failures: 0,
            fallbacks: 0,
            foreign: 0,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random % 1000
    }
}

impl Iterator for Session {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        let row = self.row;
        self.row += 1;
        let seconds = row as f64 + 1.0 + self.next_random() as f64 / 100_000.0;
        let loading = row < 30;
        let cell = (row % 60) as u64;
        let live = if loading {
            (4 << 20) + ((row as u64 * 5) << 20)
        } else {
            (150 << 20) + cell * (1 << 20) + self.next_random() * 4096
        };
        self.peak = self.peak.max(live);
        let mapped = (live + (24 << 20)) / (4 << 20) * (4 << 20);
        self.peak_mapped = self.peak_mapped.max(mapped);
        let allocs = if loading {
            400_000 + self.next_random() * 200
        } else {
            60_000 + self.next_random() * 60 + if cell == 0 { 250_000 } else { 0 }
        };
        let frees = allocs as f64 * if loading { 0.8 } else { 0.99 };
        for (class, share) in SHARES {
            self.histogram[class] += allocs * share / 1000;
        }
        self.fallbacks += u64::from(self.next_random() < 5);
        self.foreign += self.next_random() / 100;
        self.failures += u64::from(row == 1000);
        let held = mapped + (64 << 20);
        // The rest of the game's 4 GiB, less what the heap holds, shrinking
        // a little every row; its largest region fragments faster.
        let free = (2400u64 << 20).saturating_sub(held).saturating_sub(row as u64 * 4096);
        let largest = (free / 3).saturating_sub(row as u64 * 8192).max(96 << 20);
        let threads = 4 + self.next_random() % 3;
        let mut fields = vec![
            format!("{seconds:.3}"),
            live.to_string(),
            self.peak.to_string(),
            (live / 48).to_string(),
            format!("{allocs}.000"),
            format!("{frees:.3}"),
            self.failures.to_string(),
            self.fallbacks.to_string(),
            self.foreign.to_string(),
            mapped.to_string(),
            self.peak_mapped.to_string(),
            threads.to_string(),
            held.to_string(),
            free.to_string(),
            largest.to_string(),
            // Freed blocks waiting: the budget filled while cells load.
            (if loading { row as u64 * (1 << 20) } else { 30 << 20 }).to_string(),
        ];
        debug_assert_eq!(fields.len(), LEADING);
        fields.extend(self.histogram.iter().map(u64::to_string));
        Some(fields)
    }
}

/// A fresh folder under the target directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_PKG_NAME")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's folder");
    dir
}
