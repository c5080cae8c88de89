//! Statistics files for the tests: a realistic session, and the pieces to
//! damage one.

#![allow(dead_code)]

use std::path::PathBuf;

use stats_report::columns::{COLUMNS, SIZE_CLASSES};

pub fn header() -> String {
    COLUMNS.join(",")
}

/// A plausible game session of `rows` rows, one a second: loading (memory
/// climbs), play with a cell change every minute (a rise and a partial
/// fall), then a quiet end. Deterministic.
pub fn session(rows: usize) -> String {
    let mut random = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % 1000
    };
    // Shares of allocations by class (in 1/1000): most requests are small.
    let mut shares = [0u64; SIZE_CLASSES];
    for (class, share) in [
        (3, 60),
        (4, 220),
        (5, 300),
        (6, 180),
        (7, 90),
        (8, 60),
        (9, 40),
        (10, 25),
        (12, 15),
        (14, 6),
        (16, 3),
        (20, 1),
    ] {
        shares[class] = share;
    }
    let mut histogram = [0u64; SIZE_CLASSES];
    let (mut peak, mut peak_mapped, mut failures, mut fallbacks, mut foreign) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut text = header();
    text.push('\n');
    for row in 0..rows {
        let seconds = row as f64 + 1.0 + next() as f64 / 100_000.0;
        let loading = row < 30;
        let cell = (row % 60) as u64;
        let live =
            if loading { (4 << 20) + ((row as u64 * 5) << 20) } else { (150 << 20) + cell * (1 << 20) + next() * 4096 };
        peak = peak.max(live);
        let mapped = (live + (24 << 20)) / (4 << 20) * (4 << 20);
        peak_mapped = peak_mapped.max(mapped);
        let allocs =
            if loading { 400_000 + next() * 200 } else { 60_000 + next() * 60 + if cell == 0 { 250_000 } else { 0 } };
        let frees = allocs as f64 * if loading { 0.8 } else { 0.99 };
        for class in 0..SIZE_CLASSES {
            histogram[class] += allocs * shares[class] / 1000;
        }
        fallbacks += u64::from(next() < 5);
        foreign += next() / 100;
        failures += u64::from(row == rows / 2);
        let leading = format!(
            "{seconds:.3},{live},{peak},{},{allocs}.000,{frees:.3},{failures},{fallbacks},{foreign},{mapped},{peak_mapped},{}",
            live / 48,
            4 + next() % 3
        );
        let classes: Vec<String> = histogram.iter().map(u64::to_string).collect();
        text.push_str(&format!("{leading},{}\n", classes.join(",")));
    }
    text
}

/// A fresh folder under the target directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stats-report").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's folder");
    dir
}
