//! The statistics as CSV: a header and one row per [`Sample`], the format of
//! `MemoryPoolNVSE.stats.csv` (plain ASCII, comma separated, no quoting).
//!
//! The columns are listed here and nowhere else: the scalar ones in
//! [`COLUMNS`], then one per histogram size class (see
//! [`crate::stats::size_class`]): `size_le_1` ... `size_le_1073741824`,
//! `size_gt_1073741824`. Counts are cumulative; the two rates are per second
//! since the previous row.

use core::fmt::{self, Write};

use crate::stats::{Snapshot, SIZE_CLASSES};

/// A snapshot and when it was taken, in seconds since the heap started,
/// with the process's address space then.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub seconds: f64,
    pub stats: Snapshot,
    pub space: Space,
}

/// The process's address space when a sample was taken, as the embedder
/// found it (a walk of it; zeros when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// Bytes in no region at all.
    pub free_bytes: u64,
    /// The largest free region.
    pub largest_free_bytes: u64,
}

/// How a row reads a column.
enum Column {
    /// The sample's time.
    Seconds,
    /// A value as it is now.
    Now(fn(&Sample) -> u64),
    /// A cumulative count's change per second since the previous row.
    Rate(fn(&Snapshot) -> u64),
}

/// The columns before the histogram's, in order.
const COLUMNS: [(&str, Column); 16] = [
    ("seconds", Column::Seconds),
    ("live_bytes", Column::Now(|s| s.stats.live_bytes)),
    ("peak_bytes", Column::Now(|s| s.stats.peak_bytes)),
    ("live_blocks", Column::Now(|s| s.stats.live_blocks)),
    ("allocs_per_second", Column::Rate(|s| s.allocations)),
    ("frees_per_second", Column::Rate(|s| s.frees)),
    ("failures", Column::Now(|s| s.stats.failures)),
    ("fallbacks", Column::Now(|s| s.stats.fallbacks)),
    ("foreign_frees", Column::Now(|s| s.stats.foreign_frees)),
    ("mapped_bytes", Column::Now(|s| s.stats.mapped_bytes)),
    ("peak_mapped_bytes", Column::Now(|s| s.stats.peak_mapped_bytes)),
    ("threads", Column::Now(|s| s.stats.threads)),
    ("held_bytes", Column::Now(|s| s.stats.held_bytes())),
    ("free_space_bytes", Column::Now(|s| s.space.free_bytes)),
    ("largest_free_bytes", Column::Now(|s| s.space.largest_free_bytes)),
    ("delayed_bytes", Column::Now(|s| s.stats.delayed_bytes)),
];

/// Fields per line.
pub const FIELDS: usize = COLUMNS.len() + SIZE_CLASSES;

/// Every line ends so, as the log's lines do.
const LINE_END: &str = "\r\n";

/// Writes the header line.
pub fn header(out: &mut impl Write) -> fmt::Result {
    for (name, _) in &COLUMNS {
        write!(out, "{name},")?;
    }
    // Class k holds requests up to 2^k bytes; the last, everything above
    // the class before it.
    for class in 0..SIZE_CLASSES - 1 {
        write!(out, "size_le_{},", 1u64 << class)?;
    }
    write!(out, "size_gt_{}{LINE_END}", 1u64 << (SIZE_CLASSES - 2))
}

/// Writes the row of `now`, its rates taken since `previous` (for the first
/// row: a [`Sample::default`], the heap's start).
pub fn row(out: &mut impl Write, previous: &Sample, now: &Sample) -> fmt::Result {
    // Two samples a moment apart (the exit's right after a periodic row)
    // still give finite rates.
    let elapsed = (now.seconds - previous.seconds).max(1e-3);
    for (_, column) in &COLUMNS {
        match column {
            Column::Seconds => write!(out, "{:.3},", now.seconds)?,
            Column::Now(read) => write!(out, "{},", read(now))?,
            Column::Rate(read) => {
                let change = read(&now.stats).saturating_sub(read(&previous.stats));
                write!(out, "{:.1},", change as f64 / elapsed)?
            }
        }
    }
    for (class, count) in now.stats.histogram.iter().enumerate() {
        let separator = if class + 1 < SIZE_CLASSES { "," } else { LINE_END };
        write!(out, "{count}{separator}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_text() -> String {
        let mut text = String::new();
        header(&mut text).unwrap();
        text
    }

    fn row_text(previous: &Sample, now: &Sample) -> String {
        let mut text = String::new();
        row(&mut text, previous, now).unwrap();
        text
    }

    #[test]
    fn the_header_names_every_column_in_order() {
        let mut expected = String::from(
            "seconds,live_bytes,peak_bytes,live_blocks,allocs_per_second,frees_per_second,failures,fallbacks,\
             foreign_frees,mapped_bytes,peak_mapped_bytes,threads,held_bytes,free_space_bytes,largest_free_bytes,delayed_bytes",
        );
        for k in 0..=30 {
            expected += &format!(",size_le_{}", 1u64 << k);
        }
        expected += ",size_gt_1073741824\r\n";
        assert_eq!(header_text(), expected);
        assert_eq!(header_text().split(',').count(), FIELDS);
    }

    #[test]
    fn a_row_has_the_snapshot_and_its_rates() {
        let mut histogram = [0; SIZE_CLASSES];
        histogram[0] = 3;
        histogram[4] = 7;
        histogram[SIZE_CLASSES - 1] = 1;
        let stats = Snapshot {
            allocations: 11,
            frees: 4,
            live_blocks: 7,
            live_bytes: 4096,
            peak_bytes: 8192,
            failures: 1,
            fallbacks: 2,
            foreign_frees: 5,
            mapped_bytes: 65_536,
            peak_mapped_bytes: 131_072,
            threads: 3,
            reserved_bytes: 1024,
            delayed_bytes: 2048,
            histogram,
            ..Snapshot::default()
        };
        let space = Space { free_bytes: 3 << 30, largest_free_bytes: 1 << 30 };
        let now = Sample { seconds: 2.0, stats, space };
        let mut expected =
            String::from("2.000,4096,8192,7,5.5,2.0,1,2,5,65536,131072,3,66560,3221225472,1073741824,2048,3,0,0,0,7");
        expected += &",0".repeat(SIZE_CLASSES - 6);
        expected += ",1\r\n";
        assert_eq!(row_text(&Sample::default(), &now), expected);

        let later = Sample { seconds: 2.5, stats: Snapshot { allocations: 21, frees: 4, ..now.stats.clone() }, space };
        let fields: Vec<String> = row_text(&now, &later).trim_end().split(',').map(String::from).collect();
        assert_eq!(fields.len(), FIELDS);
        assert_eq!((fields[0].as_str(), fields[4].as_str(), fields[5].as_str()), ("2.500", "20.0", "0.0"));
    }

    #[test]
    fn samples_a_moment_apart_give_finite_rates() {
        let stats = Snapshot { allocations: 5, ..Snapshot::default() };
        let now = Sample { seconds: 1.0, stats, ..Sample::default() };
        let text = row_text(&Sample { seconds: 1.0, ..Sample::default() }, &now);
        assert!(text.starts_with("1.000,0,0,0,5000.0,0.0,"), "{text}");
    }
}
