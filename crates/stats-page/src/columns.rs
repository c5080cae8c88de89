//! The columns of `MemoryPoolNVSE.stats.csv` and what each holds. This is
//! the contract with the plugin, which writes the file from a
//! `heap::Snapshot` per row (`heap::csv`).
//!
//! A file is read by the names of its header, in any order: a file written
//! before the [`OPTIONAL`] columns existed lacks them and still reads, and
//! its page simply has no chart of them.

/// Power-of-two size classes of the histogram (`heap::stats::SIZE_CLASSES`).
pub const SIZE_CLASSES: usize = 32;

/// Columns before the histogram.
pub const LEADING: usize = 16;

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
    "held_bytes",
    "free_space_bytes",
    "largest_free_bytes",
    "delayed_bytes",
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

/// Where each column is in [`COLUMNS`].
pub mod at {
    pub const SECONDS: usize = 0;
    pub const LIVE_BYTES: usize = 1;
    pub const PEAK_BYTES: usize = 2;
    pub const LIVE_BLOCKS: usize = 3;
    pub const ALLOCS_PER_SECOND: usize = 4;
    pub const FREES_PER_SECOND: usize = 5;
    pub const FAILURES: usize = 6;
    pub const FALLBACKS: usize = 7;
    pub const FOREIGN_FREES: usize = 8;
    pub const MAPPED_BYTES: usize = 9;
    pub const PEAK_MAPPED_BYTES: usize = 10;
    pub const THREADS: usize = 11;
    pub const HELD_BYTES: usize = 12;
    pub const FREE_SPACE_BYTES: usize = 13;
    pub const LARGEST_FREE_BYTES: usize = 14;
    pub const DELAYED_BYTES: usize = 15;
    /// The first size class's; the others follow in class order.
    pub const SIZE_CLASS: usize = super::LEADING;
}

/// Columns a file may lack: the address space the heap holds, its own
/// reservations included, the process's free address space and largest
/// free region, and the blocks the game freed that wait before reuse, which
/// files of earlier versions do not have.
pub const OPTIONAL: [usize; 4] = [at::HELD_BYTES, at::FREE_SPACE_BYTES, at::LARGEST_FREE_BYTES, at::DELAYED_BYTES];

/// Whether every file must have column `index`.
pub fn required(index: usize) -> bool {
    !OPTIONAL.contains(&index)
}

/// Where `name` is in [`COLUMNS`], if it is a column at all.
pub fn position(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|column| *column == name)
}

/// What a field must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A finite decimal number of 0 or more (`12.003`).
    Decimal,
    /// A whole number of 0 or more that fits in 64 bits.
    Whole,
}

/// The kind of column `index` of [`COLUMNS`].
pub fn kind(index: usize) -> Kind {
    match index {
        at::SECONDS | at::ALLOCS_PER_SECOND | at::FREES_PER_SECOND => Kind::Decimal,
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
            assert_eq!(COLUMNS[at::SIZE_CLASS + class], format!("size_le_{}", 1u64 << class));
        }
        assert_eq!(COLUMNS[at::SIZE_CLASS + SIZE_CLASSES - 1], "size_gt_1073741824");
    }

    #[test]
    fn positions_name_their_columns() {
        let named = [
            (at::SECONDS, "seconds"),
            (at::LIVE_BYTES, "live_bytes"),
            (at::PEAK_BYTES, "peak_bytes"),
            (at::LIVE_BLOCKS, "live_blocks"),
            (at::ALLOCS_PER_SECOND, "allocs_per_second"),
            (at::FREES_PER_SECOND, "frees_per_second"),
            (at::FAILURES, "failures"),
            (at::FALLBACKS, "fallbacks"),
            (at::FOREIGN_FREES, "foreign_frees"),
            (at::MAPPED_BYTES, "mapped_bytes"),
            (at::PEAK_MAPPED_BYTES, "peak_mapped_bytes"),
            (at::THREADS, "threads"),
            (at::HELD_BYTES, "held_bytes"),
            (at::FREE_SPACE_BYTES, "free_space_bytes"),
            (at::LARGEST_FREE_BYTES, "largest_free_bytes"),
            (at::DELAYED_BYTES, "delayed_bytes"),
            (at::SIZE_CLASS, "size_le_1"),
        ];
        for (index, name) in named {
            assert_eq!(COLUMNS[index], name);
            assert_eq!(position(name), Some(index));
        }
        assert_eq!(position("peak"), None);
        let optional: Vec<&str> = OPTIONAL.iter().map(|&i| COLUMNS[i]).collect();
        assert_eq!(optional, ["held_bytes", "free_space_bytes", "largest_free_bytes", "delayed_bytes"]);
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
