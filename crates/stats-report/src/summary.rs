//! The few numbers worth reading first, computed from the rows.

use core::fmt;

use crate::columns::{class_label, SIZE_CLASSES};
use crate::parse::Row;
use crate::units::{duration, grouped, mib_text, rate};

/// Size classes the summary names.
const TOP_CLASSES: usize = 3;

/// A value and when it was first seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moment<T> {
    pub value: T,
    /// The row that first shows it: the moment itself lies between that
    /// row and the one before.
    pub seconds: f64,
}

/// One size class's share of all allocations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassShare {
    pub class: usize,
    pub allocations: u64,
    /// Of all allocations, 0 to 1.
    pub share: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub rows: usize,
    /// The last row's time.
    pub seconds: f64,
    /// Most usable bytes in use at once.
    pub peak: Moment<u64>,
    pub end_live_bytes: u64,
    pub peak_mapped_bytes: u64,
    pub end_mapped_bytes: u64,
    /// Allocations over the whole run, by the rows' rates, per second.
    pub mean_allocs_per_second: f64,
    pub highest_allocs_per_second: Moment<f64>,
    pub mean_frees_per_second: f64,
    pub failures: u64,
    pub fallbacks: u64,
    pub foreign_frees: u64,
    /// The most common size classes at the end, most common first; classes
    /// without allocations are left out.
    pub top_classes: Vec<ClassShare>,
}

impl Summary {
    /// `rows` is not empty (a parsed file never is) and in time order.
    pub fn of(rows: &[Row]) -> Self {
        let first = rows.first().cloned().unwrap_or_else(empty_row);
        let last = rows.last().unwrap_or(&first);
        let highest =
            rows.iter().fold(Moment { value: first.allocs_per_second, seconds: first.seconds }, |best, row| {
                if row.allocs_per_second > best.value {
                    Moment { value: row.allocs_per_second, seconds: row.seconds }
                } else {
                    best
                }
            });
        Summary {
            rows: rows.len(),
            seconds: last.seconds,
            peak: peak(rows),
            end_live_bytes: last.live_bytes,
            peak_mapped_bytes: rows.iter().map(|r| r.peak_mapped_bytes.max(r.mapped_bytes)).max().unwrap_or(0),
            end_mapped_bytes: last.mapped_bytes,
            mean_allocs_per_second: mean(rows, |r| r.allocs_per_second),
            highest_allocs_per_second: highest,
            mean_frees_per_second: mean(rows, |r| r.frees_per_second),
            failures: last.failures,
            fallbacks: last.fallbacks,
            foreign_frees: last.foreign_frees,
            top_classes: top_classes(&last.histogram),
        }
    }
}

/// The peak in use: the last row's `peak_bytes` (exact, the heap takes it
/// at every change), or a higher `live_bytes` should a row show one; with
/// the first row that shows it.
pub fn peak(rows: &[Row]) -> Moment<u64> {
    let value = rows.iter().map(|r| r.peak_bytes.max(r.live_bytes)).max().unwrap_or(0);
    let seconds = rows.iter().find(|r| r.peak_bytes.max(r.live_bytes) >= value).map_or(0.0, |r| r.seconds);
    Moment { value, seconds }
}

/// The mean of a per-second rate over the run: each row's rate holds from
/// the row before (the first: from 0 s) to its own time.
fn mean(rows: &[Row], rate: impl Fn(&Row) -> f64) -> f64 {
    let mut since = 0.0;
    let mut total = 0.0;
    for row in rows {
        total += rate(row) * (row.seconds - since);
        since = row.seconds;
    }
    if since > 0.0 {
        total / since
    } else {
        0.0
    }
}

fn top_classes(histogram: &[u64; SIZE_CLASSES]) -> Vec<ClassShare> {
    let total: u64 = histogram.iter().sum();
    let mut classes: Vec<ClassShare> = (0..SIZE_CLASSES)
        .filter(|&class| histogram[class] > 0)
        .map(|class| ClassShare { class, allocations: histogram[class], share: histogram[class] as f64 / total as f64 })
        .collect();
    // Most allocations first; the smaller class first among equals.
    classes.sort_by(|a, b| b.allocations.cmp(&a.allocations).then(a.class.cmp(&b.class)));
    classes.truncate(TOP_CLASSES);
    classes
}

fn empty_row() -> Row {
    Row {
        seconds: 0.0,
        live_bytes: 0,
        peak_bytes: 0,
        live_blocks: 0,
        allocs_per_second: 0.0,
        frees_per_second: 0.0,
        failures: 0,
        fallbacks: 0,
        foreign_frees: 0,
        mapped_bytes: 0,
        peak_mapped_bytes: 0,
        threads: 0,
        histogram: [0; SIZE_CLASSES],
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "duration:      {} ({:.1} s), {} rows", duration(self.seconds), self.seconds, self.rows)?;
        writeln!(
            f,
            "memory in use: peak {} at {:.1} s, {} at the end",
            mib_text(self.peak.value),
            self.peak.seconds,
            mib_text(self.end_live_bytes)
        )?;
        writeln!(
            f,
            "address space: peak {} held, {} at the end",
            mib_text(self.peak_mapped_bytes),
            mib_text(self.end_mapped_bytes)
        )?;
        writeln!(
            f,
            "allocations:   {} on average, highest {} at {:.1} s; frees {} on average",
            rate(self.mean_allocs_per_second),
            rate(self.highest_allocs_per_second.value),
            self.highest_allocs_per_second.seconds,
            rate(self.mean_frees_per_second)
        )?;
        writeln!(
            f,
            "at the end:    failures {}, fallbacks {}, foreign frees {}",
            grouped(self.failures),
            grouped(self.fallbacks),
            grouped(self.foreign_frees)
        )?;
        write!(f, "common sizes: ")?;
        if self.top_classes.is_empty() {
            write!(f, " no allocations")?;
        }
        for (index, class) in self.top_classes.iter().enumerate() {
            let separator = if index == 0 { " " } else { ", " };
            write!(f, "{separator}{} {:.1}%", class_range(class.class), class.share * 100.0)?;
        }
        Ok(())
    }
}

/// `up to 32 B`, or `over 1 GiB` for the last class.
fn class_range(class: usize) -> String {
    let label = class_label(class);
    match label.strip_prefix("> ") {
        Some(bound) => format!("over {bound}"),
        None => format!("up to {label}"),
    }
}
