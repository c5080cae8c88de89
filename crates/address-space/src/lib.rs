//! A walk of this process's virtual address space: how much of it is free,
//! the largest free region, and how much private memory is reserved and
//! committed.
//!
//! [`walk`] neither allocates nor takes a lock of this process, so that the
//! heap may call it from its out-of-memory path and the statistics thread
//! while any other thread is inside the allocator.
//!
//! - Windows: `VirtualQuery` from the lowest to the highest application
//!   address that `GetSystemInfo` gives, one call per region (0.5-1 µs each
//!   under Wine 8; a game has a few thousand regions). A region is `MEM_FREE`,
//!   or reserved or committed memory of a type: `MEM_PRIVATE` (what
//!   `VirtualAlloc` and the heaps hand out), `MEM_MAPPED` (file mappings) or
//!   `MEM_IMAGE` (executables and DLLs).
//! - Linux (the native benchmark): `/proc/self/maps`, read into a buffer on
//!   the stack. Anonymous private mappings are "private" (committed unless
//!   `PROT_NONE`), file mappings "mapped", and the gaps between mappings in
//!   the 47-bit user range (from 64 KiB, the default `vm.mmap_min_addr`) are
//!   free.
//!
//! # Under Wine
//!
//! Measured with Wine 8.0 (Debian 12) in a Large Address Aware i686 process,
//! before it allocated anything of its own (`cargo run --release -p
//! address-space --example walk --target i686-pc-windows-gnu`; one walk of
//! these 75 regions took 41 µs):
//!
//! ```text
//! 0x00010000..0xffff0000: free 1042.0 MiB (largest 1008.6 MiB at 0x00d71000);
//! private 3037.6 MiB reserved, 3.8 MiB committed; image 12.0 MiB; mapped 4.2 MiB; 75 regions
//! ```
//!
//! Wine reports as `MEM_RESERVE` / `MEM_PRIVATE` every range it has not set
//! aside for the program's own allocations: 2016 MiB at
//! `0x82000000..0xFFFF0000`, 540 MiB at `0x40000000..0x61C40000`, 244 MiB at
//! `0x6BC59000..0x7B000000` and smaller ones. `VirtualAlloc` places a
//! reservation in Wine's free areas while one fits (there the walk sees it
//! move from free to reserved private, as on Windows), and in those
//! "reserved" ranges once none does: reserving 256 MiB again and again, the
//! first three came from the free areas (free fell to 271 MiB, the largest
//! free region to 238 MiB), the fourth to the twelfth went to
//! `0xE7BE0000` and below, and changed neither figure. So:
//!
//! - compare walks with a walk taken before (a baseline), never with zero:
//!   about 3 GiB of "reserved private" bytes are Wine's, not the process's;
//! - under Wine, free bytes and the largest free region under-count what
//!   `VirtualAlloc` can still hand out, and a process that has used up
//!   Wine's free areas (about 1 GiB) grows without the walk seeing it.
//!
//! Wine's ranges can be told apart: `VirtualQuery` reports them reserved
//! with a protection (`PAGE_NOACCESS`), where Windows reports none for a
//! reserved page, and Wine too for the process's own reservations, whatever
//! protection they were asked with (measured: a 1 GiB reservation placed
//! inside `0x82000000..0xFFFF0000` splits it into Wine's part below, the
//! process's reservation with no protection, and Wine's part above, each
//! with its own allocation base). [`Summary::wine_reserved_bytes`] counts
//! them (always 0 on Windows): `reserved_private_bytes` less those is what
//! the process holds, wherever `VirtualAlloc` put it.

#![deny(unsafe_op_in_unsafe_fn)]

use core::fmt;

#[cfg(target_os = "linux")]
mod linux;
mod maps;
#[cfg(windows)]
mod windows;

/// What a walk of the address space found. Bytes are counted over
/// `lowest..highest` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The first address walked.
    pub lowest: u64,
    /// One past the last address walked.
    pub highest: u64,
    /// Bytes in no region at all (`MEM_FREE`).
    pub free_bytes: u64,
    /// The largest free region, in bytes, and where it starts.
    pub largest_free: u64,
    pub largest_free_base: u64,
    /// Private memory (`MEM_PRIVATE`; anonymous private mappings natively),
    /// reserved or committed.
    pub reserved_private_bytes: u64,
    /// The committed part of it.
    pub committed_private_bytes: u64,
    /// The part of it that is Wine's ranges set aside for later
    /// allocations (reserved with a protection, which Windows never
    /// reports: 0 there), and the largest of them; see the crate's doc.
    pub wine_reserved_bytes: u64,
    pub largest_wine_reserved: u64,
    /// Executables and DLLs (`MEM_IMAGE`; 0 natively, where they are file
    /// mappings).
    pub image_bytes: u64,
    /// File mappings (`MEM_MAPPED`; file-backed mappings natively).
    pub mapped_bytes: u64,
    /// Regions walked, free ones included.
    pub regions: u64,
    /// Whether the walk reached `highest` (a failed query ends it early).
    pub complete: bool,
}

/// What a region is, as far as a summary cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Free,
    Private {
        committed: bool,
    },
    /// Reserved with a protection: a range Wine set aside (private).
    #[cfg_attr(not(windows), allow(dead_code))]
    WineReserved,
    /// Only Windows tells images from other file mappings.
    #[cfg_attr(not(windows), allow(dead_code))]
    Image,
    Mapped,
}

impl Summary {
    pub(crate) fn new(lowest: u64, highest: u64) -> Summary {
        Summary { lowest, highest, ..Summary::default() }
    }

    /// Counts `size` bytes at `base` of kind `kind` as one region.
    pub(crate) fn add(&mut self, base: u64, size: u64, kind: Kind) {
        self.regions += 1;
        match kind {
            Kind::Free => {
                self.free_bytes += size;
                if size > self.largest_free {
                    self.largest_free = size;
                    self.largest_free_base = base;
                }
            }
            Kind::Private { committed } => {
                self.reserved_private_bytes += size;
                if committed {
                    self.committed_private_bytes += size;
                }
            }
            Kind::WineReserved => {
                self.reserved_private_bytes += size;
                self.wine_reserved_bytes += size;
                self.largest_wine_reserved = self.largest_wine_reserved.max(size);
            }
            Kind::Image => self.image_bytes += size,
            Kind::Mapped => self.mapped_bytes += size,
        }
    }
}

/// Walks this process's address space. Never allocates, never takes a lock
/// of this process, never fails: a region the system will not describe
/// ends the walk there, with `complete` false.
pub fn walk() -> Summary {
    imp::walk()
}

#[cfg(windows)]
use windows as imp;

#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(any(windows, target_os = "linux")))]
mod imp {
    /// No walk on this system: an empty, incomplete summary.
    pub fn walk() -> super::Summary {
        super::Summary::default()
    }
}

/// Bytes shown in MiB with one decimal: `Mib(3 << 20)` is `3.0 MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mib(pub u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} MiB", self.0 as f64 / (1024.0 * 1024.0))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#010x}..{:#010x}: free {} (largest {} at {:#010x}); private {} reserved, {} committed; \
             image {}; mapped {}; {} regions",
            self.lowest,
            self.highest,
            Mib(self.free_bytes),
            Mib(self.largest_free),
            self.largest_free_base,
            Mib(self.reserved_private_bytes),
            Mib(self.committed_private_bytes),
            Mib(self.image_bytes),
            Mib(self.mapped_bytes),
            self.regions,
        )?;
        if self.wine_reserved_bytes > 0 {
            write!(
                f,
                "; Wine's ranges {} of the private (largest {})",
                Mib(self.wine_reserved_bytes),
                Mib(self.largest_wine_reserved)
            )?;
        }
        if !self.complete {
            f.write_str(" (incomplete)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_add_up_by_kind() {
        let mut s = Summary::new(0x10000, 0x100000);
        s.add(0x10000, 0x10000, Kind::Free);
        s.add(0x20000, 0x30000, Kind::Private { committed: true });
        s.add(0x50000, 0x20000, Kind::Private { committed: false });
        s.add(0x70000, 0x40000, Kind::Free);
        s.add(0xb0000, 0x10000, Kind::Image);
        s.add(0xc0000, 0x10000, Kind::Mapped);
        assert_eq!((s.free_bytes, s.largest_free, s.largest_free_base), (0x50000, 0x40000, 0x70000));
        assert_eq!((s.reserved_private_bytes, s.committed_private_bytes), (0x50000, 0x30000));
        assert_eq!((s.image_bytes, s.mapped_bytes, s.regions), (0x10000, 0x10000, 6));
        assert_eq!((s.wine_reserved_bytes, s.largest_wine_reserved), (0, 0));
    }

    #[test]
    fn wines_ranges_are_private_and_counted_apart() {
        let mut s = Summary::new(0x10000, 0x100000);
        s.add(0x10000, 0x20000, Kind::WineReserved);
        s.add(0x30000, 0x10000, Kind::Private { committed: false });
        s.add(0x40000, 0x30000, Kind::WineReserved);
        assert_eq!(s.reserved_private_bytes, 0x60000);
        assert_eq!((s.wine_reserved_bytes, s.largest_wine_reserved), (0x50000, 0x30000));
        assert_eq!((s.free_bytes, s.committed_private_bytes), (0, 0));
    }

    #[test]
    fn it_prints_in_mib() {
        assert_eq!(Mib(3 << 20).to_string(), "3.0 MiB");
        assert_eq!(Mib(1536 * 1024).to_string(), "1.5 MiB");
        let mut s = Summary::new(0x10000, 0xffff0000);
        s.add(0x3fff0000, 1008 << 20, Kind::Free);
        s.complete = true;
        assert_eq!(
            s.to_string(),
            "0x00010000..0xffff0000: free 1008.0 MiB (largest 1008.0 MiB at 0x3fff0000); private 0.0 MiB reserved, \
             0.0 MiB committed; image 0.0 MiB; mapped 0.0 MiB; 1 regions"
        );
    }
}
