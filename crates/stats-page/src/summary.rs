//! The few numbers worth reading first, computed from the rows as they are
//! read ([`Tally`]), so that a file of any length is summed up in constant
//! memory. The report tool prints them and the page shows them, from the
//! same [`Summary::lines`].

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

/// The lowest and the last value of a column a file may lack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Low {
    pub least: Moment<u64>,
    pub end: u64,
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
    /// Most address space the heap held, its reservations included, and at
    /// the end (files with `held_bytes`).
    pub held_bytes: Option<(u64, u64)>,
    /// Free address space in the process (files with `free_space_bytes`).
    pub free_space: Option<Low>,
    /// Its largest free region (files with `largest_free_bytes`).
    pub largest_free: Option<Low>,
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
    /// `rows` is in time order (and not empty: a parsed file never is;
    /// no rows give a summary of zeros).
    pub fn of(rows: &[Row]) -> Self {
        let mut tally = Tally::default();
        rows.iter().for_each(|row| tally.add(row));
        tally.summary().unwrap_or_else(Summary::empty)
    }

    fn empty() -> Self {
        let zero = Moment { value: 0, seconds: 0.0 };
        Summary {
            rows: 0,
            seconds: 0.0,
            peak: zero,
            end_live_bytes: 0,
            peak_mapped_bytes: 0,
            end_mapped_bytes: 0,
            held_bytes: None,
            free_space: None,
            largest_free: None,
            mean_allocs_per_second: 0.0,
            highest_allocs_per_second: Moment { value: 0.0, seconds: 0.0 },
            mean_frees_per_second: 0.0,
            failures: 0,
            fallbacks: 0,
            foreign_frees: 0,
            top_classes: Vec::new(),
        }
    }

    /// The summary as lines of a label and a text, in the order to read them.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut lines = vec![
            ("duration", format!("{} ({:.1} s), {} rows", duration(self.seconds), self.seconds, self.rows)),
            (
                "memory in use",
                format!(
                    "peak {} at {:.1} s, {} at the end",
                    mib_text(self.peak.value),
                    self.peak.seconds,
                    mib_text(self.end_live_bytes)
                ),
            ),
            (
                "address space",
                format!(
                    "peak {} held, {} at the end",
                    mib_text(self.peak_mapped_bytes),
                    mib_text(self.end_mapped_bytes)
                ),
            ),
        ];
        if let Some((peak, end)) = self.held_bytes {
            let text = format!("peak {}, {} at the end, reservations included", mib_text(peak), mib_text(end));
            lines.push(("heap holds", text));
        }
        for (label, low) in [("free space", self.free_space), ("largest free", self.largest_free)] {
            if let Some(Low { least, end }) = low {
                let text =
                    format!("least {} at {:.1} s, {} at the end", mib_text(least.value), least.seconds, mib_text(end));
                lines.push((label, text));
            }
        }
        lines.push((
            "allocations",
            format!(
                "{} on average, highest {} at {:.1} s; frees {} on average",
                rate(self.mean_allocs_per_second),
                rate(self.highest_allocs_per_second.value),
                self.highest_allocs_per_second.seconds,
                rate(self.mean_frees_per_second)
            ),
        ));
        lines.push((
            "at the end",
            format!(
                "failures {}, fallbacks {}, foreign frees {}",
                grouped(self.failures),
                grouped(self.fallbacks),
                grouped(self.foreign_frees)
            ),
        ));
        lines.push(("common sizes", self.common_sizes()));
        lines
    }

    /// `up to 32 B 30.0%, up to 16 B 22.0%, ...`
    fn common_sizes(&self) -> String {
        if self.top_classes.is_empty() {
            return "no allocations".to_owned();
        }
        let shares: Vec<String> = self
            .top_classes
            .iter()
            .map(|class| format!("{} {:.1}%", class_range(class.class), class.share * 100.0))
            .collect();
        shares.join(", ")
    }
}

/// The summary of the rows seen so far, one row at a time.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    rows: usize,
    last: Option<Row>,
    peak: Option<Moment<u64>>,
    peak_mapped_bytes: u64,
    peak_held_bytes: Option<u64>,
    least_free_space: Option<Moment<u64>>,
    least_largest_free: Option<Moment<u64>>,
    highest_allocs_per_second: Option<Moment<f64>>,
    /// The time up to which the sums run, and the sums of rate times time.
    since: f64,
    allocations: f64,
    frees: f64,
}

impl Tally {
    /// Adds the next row; rows come in time order.
    pub fn add(&mut self, row: &Row) {
        self.rows += 1;
        higher(&mut self.peak, row.peak_bytes.max(row.live_bytes), row.seconds);
        higher(&mut self.highest_allocs_per_second, row.allocs_per_second, row.seconds);
        self.peak_mapped_bytes = self.peak_mapped_bytes.max(row.peak_mapped_bytes.max(row.mapped_bytes));
        if let Some(held) = row.held_bytes {
            self.peak_held_bytes = Some(self.peak_held_bytes.unwrap_or(0).max(held));
        }
        if let Some(free) = row.free_space_bytes {
            lower(&mut self.least_free_space, free, row.seconds);
        }
        if let Some(largest) = row.largest_free_bytes {
            lower(&mut self.least_largest_free, largest, row.seconds);
        }
        // Each row's rate holds from the row before (the first: from 0 s)
        // to its own time.
        let span = row.seconds - self.since;
        self.allocations += row.allocs_per_second * span;
        self.frees += row.frees_per_second * span;
        self.since = row.seconds;
        match &mut self.last {
            Some(last) => last.clone_from(row),
            None => self.last = Some(row.clone()),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The last row added.
    pub fn last(&self) -> Option<&Row> {
        self.last.as_ref()
    }

    /// `None` before the first row.
    pub fn summary(&self) -> Option<Summary> {
        let last = self.last.as_ref()?;
        let mean = |total: f64| if self.since > 0.0 { total / self.since } else { 0.0 };
        let low = |least: Option<Moment<u64>>, end: Option<u64>| Some(Low { least: least?, end: end? });
        Some(Summary {
            rows: self.rows,
            seconds: last.seconds,
            peak: self.peak?,
            end_live_bytes: last.live_bytes,
            peak_mapped_bytes: self.peak_mapped_bytes,
            end_mapped_bytes: last.mapped_bytes,
            held_bytes: self.peak_held_bytes.zip(last.held_bytes),
            free_space: low(self.least_free_space, last.free_space_bytes),
            largest_free: low(self.least_largest_free, last.largest_free_bytes),
            mean_allocs_per_second: mean(self.allocations),
            highest_allocs_per_second: self.highest_allocs_per_second?,
            mean_frees_per_second: mean(self.frees),
            failures: last.failures,
            fallbacks: last.fallbacks,
            foreign_frees: last.foreign_frees,
            top_classes: top_classes(&last.histogram),
        })
    }
}

/// Keeps the first moment of the highest value.
fn higher<T: PartialOrd + Copy>(best: &mut Option<Moment<T>>, value: T, seconds: f64) {
    if best.is_none_or(|best| value > best.value) {
        *best = Some(Moment { value, seconds });
    }
}

/// Keeps the first moment of the lowest value.
fn lower(best: &mut Option<Moment<u64>>, value: u64, seconds: f64) {
    if best.is_none_or(|best| value < best.value) {
        *best = Some(Moment { value, seconds });
    }
}

/// The peak in use: the last row's `peak_bytes` (exact, the heap takes it
/// at every change), or a higher `live_bytes` should a row show one; with
/// the first row that shows it.
pub fn peak(rows: &[Row]) -> Moment<u64> {
    let mut best = None;
    for row in rows {
        higher(&mut best, row.peak_bytes.max(row.live_bytes), row.seconds);
    }
    best.unwrap_or(Moment { value: 0, seconds: 0.0 })
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

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.lines();
        for (index, (label, text)) in lines.iter().enumerate() {
            let end = if index + 1 < lines.len() { "\n" } else { "" };
            write!(f, "{:<15}{text}{end}", format!("{label}:"))?;
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
