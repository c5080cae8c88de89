//! The columns of `MemoryPoolNVSE.stats.csv`, in file order, and what each
//! holds. This is the contract with the plugin, which writes the file from a
//! `heap::Snapshot` per row.

/// Power-of-two size classes of the histogram (`heap::stats::SIZE_CLASSES`).
pub const SIZE_CLASSES: usize = 32;

/// Columns before the histogram.
pub const LEADING: usize = 12;

/// Every column of the header, exactly as the file spells them.
pub const COLUMNS: [&str; LEADING + SIZE_CLASSES] = [
    "seconds",
    "live_bytes",
    "peak_bytes",
    "live_blocks",
    "allocs_per_second",
    "frees_per_second",
    "failures",
    "fallbacks",
    "foreign_frees",
    "mapped_bytes",
    "peak_mapped_bytes",
    "threads",
    "size_le_1",
    "size_le_2",
    "size_le_4",
    "size_le_8",
    "size_le_16",
    "size_le_32",
    "size_le_64",
    "size_le_128",
    "size_le_256",
    "size_le_512",
    "size_le_1024",
    "size_le_2048",
    "size_le_4096",
    "size_le_8192",
    "size_le_16384",
    "size_le_32768",
    "size_le_65536",
    "size_le_131072",
    "size_le_262144",
    "size_le_524288",
    "size_le_1048576",
    "size_le_2097152",
    "size_le_4194304",
    "size_le_8388608",
    "size_le_16777216",
    "size_le_33554432",
    "size_le_67108864",
    "size_le_134217728",
    "size_le_268435456",
    "size_le_536870912",
    "size_le_1073741824",
    "size_gt_1073741824",
];

/// What a field must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A finite decimal number of 0 or more (`12.003`).
    Decimal,
    /// A whole number of 0 or more that fits in 64 bits.
    Whole,
}

/// The kind of column `index` (0-based).
pub fn kind(index: usize) -> Kind {
    match COLUMNS[index] {
        "seconds" | "allocs_per_second" | "frees_per_second" => Kind::Decimal,
        _ => Kind::Whole,
    }
}

/// The largest request of size class `class`, in bytes: `2^class`. The last
/// class has no bound; its label says so (see [`class_label`]).
pub fn class_bound(class: usize) -> u64 {
    1u64 << class.min(SIZE_CLASSES - 2)
}

/// A size class as charts and summaries name it: its largest request
/// (`16 B`, `1 KiB`), or `> 1 GiB` for the last class.
pub fn class_label(class: usize) -> String {
    let bound = class_bound(class);
    let text = match bound.trailing_zeros() {
        0..=9 => format!("{bound} B"),
        10..=19 => format!("{} KiB", bound >> 10),
        20..=29 => format!("{} MiB", bound >> 20),
        _ => format!("{} GiB", bound >> 30),
    };
    if class == SIZE_CLASSES - 1 {
        format!("> {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_columns_name_their_class_bounds() {
        for class in 0..SIZE_CLASSES - 1 {
            assert_eq!(COLUMNS[LEADING + class], format!("size_le_{}", 1u64 << class));
        }
        assert_eq!(COLUMNS[LEADING + SIZE_CLASSES - 1], "size_gt_1073741824");
    }

    #[test]
    fn labels_use_binary_units() {
        assert_eq!(class_label(0), "1 B");
        assert_eq!(class_label(4), "16 B");
        assert_eq!(class_label(9), "512 B");
        assert_eq!(class_label(10), "1 KiB");
        assert_eq!(class_label(21), "2 MiB");
        assert_eq!(class_label(30), "1 GiB");
        assert_eq!(class_label(31), "> 1 GiB");
    }

    #[test]
    fn only_time_and_rates_are_decimal() {
        let decimal: Vec<_> = (0..COLUMNS.len()).filter(|&i| kind(i) == Kind::Decimal).map(|i| COLUMNS[i]).collect();
        assert_eq!(decimal, ["seconds", "allocs_per_second", "frees_per_second"]);
    }
}
