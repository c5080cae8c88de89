//! Statistics: per-thread counters, summed when read.
//!
//! Each thread counts into its own [`Counters`] (see [`crate::thread`]) with
//! plain loads and stores: one writer, no `lock` prefix on the hot path.
//! A reader sums every thread's counters; the sums are exact once the threads
//! are quiet and at most a few operations behind while they run.
//!
//! Peaks are the one global quantity. A thread publishes its net change in
//! live bytes and blocks to a global total once it exceeds
//! [`PUBLISH_BYTES`] or [`PUBLISH_BLOCKS`], and the peak is taken there: it is
//! exact to within that much per running thread.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Power-of-two size classes of the histogram: class `k` counts requests of
/// `2^(k-1) < size <= 2^k` bytes (class 0: 0 and 1 byte); the last class
/// also takes everything larger.
pub const SIZE_CLASSES: usize = 32;

/// Net live bytes a thread accumulates before publishing them.
pub const PUBLISH_BYTES: i64 = 256 * 1024;
/// Net live blocks a thread accumulates before publishing them.
pub const PUBLISH_BLOCKS: i64 = 256;

/// One thread's counters. Only the owning thread writes them. All zeros is
/// the initial state (states live in zeroed pages).
pub struct Counters {
    allocations: AtomicU64,
    frees: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_freed: AtomicU64,
    bytes_requested: AtomicU64,
    failures: AtomicU64,
    foreign_frees: AtomicU64,
    foreign_reallocs: AtomicU64,
    foreign_sizes: AtomicU64,
    fallbacks: AtomicU64,
    histogram: [AtomicU64; SIZE_CLASSES],
    pending_bytes: AtomicI64,
    pending_blocks: AtomicI64,
}

/// Global totals of published live bytes and blocks, and their peaks.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);
static PEAK_BLOCKS: AtomicI64 = AtomicI64::new(0);
/// Address space the backend holds, and its peak (updated by the mapper).
static MAPPED: AtomicI64 = AtomicI64::new(0);
static PEAK_MAPPED: AtomicI64 = AtomicI64::new(0);

/// Adds to a counter only this thread writes: a load and a store, no RMW.
#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

#[inline(always)]
fn bump_signed(counter: &AtomicI64, n: i64) -> i64 {
    let value = counter.load(Relaxed).wrapping_add(n);
    counter.store(value, Relaxed);
    value
}

/// The histogram class of a request of `size` bytes.
#[inline(always)]
pub fn size_class(size: usize) -> usize {
    let bits = (usize::BITS - size.saturating_sub(1).leading_zeros()) as usize;
    bits.min(SIZE_CLASSES - 1)
}

impl Counters {
    /// A block of `usable` bytes was handed out for a request of `requested`.
    #[inline(always)]
    pub fn allocated(&self, requested: usize, usable: usize) {
        bump(&self.allocations, 1);
        bump(&self.bytes_allocated, usable as u64);
        bump(&self.bytes_requested, requested as u64);
        bump(&self.histogram[size_class(requested)], 1);
        self.pend(usable as i64, 1);
    }

    /// A block of `usable` bytes went back to the heap.
    #[inline(always)]
    pub fn freed(&self, usable: usize) {
        bump(&self.frees, 1);
        bump(&self.bytes_freed, usable as u64);
        self.pend(-(usable as i64), -1);
    }

    /// A request could not be served, by the heap nor by the fallback.
    pub fn failed(&self) {
        bump(&self.failures, 1);
    }

    /// A request the heap could not serve went to the original allocator.
    pub fn fell_back(&self) {
        bump(&self.fallbacks, 1);
    }

    /// A foreign block was freed by its original allocator.
    pub fn foreign_free(&self) {
        bump(&self.foreign_frees, 1);
    }

    /// A foreign block was resized (moved into the heap, or by its original).
    pub fn foreign_realloc(&self) {
        bump(&self.foreign_reallocs, 1);
    }

    /// A foreign block's size was asked of its original allocator.
    pub fn foreign_size(&self) {
        bump(&self.foreign_sizes, 1);
    }

    #[inline(always)]
    fn pend(&self, bytes: i64, blocks: i64) {
        let pending_bytes = bump_signed(&self.pending_bytes, bytes);
        let pending_blocks = bump_signed(&self.pending_blocks, blocks);
        if pending_bytes.unsigned_abs() >= PUBLISH_BYTES as u64
            || pending_blocks.unsigned_abs() >= PUBLISH_BLOCKS as u64
        {
            self.publish();
        }
    }

    /// Moves this thread's pending net change into the global totals and
    /// updates the peaks. Called by the owner, and when the owner exits.
    #[cold]
    pub fn publish(&self) {
        let bytes = self.pending_bytes.swap(0, Relaxed);
        let blocks = self.pending_blocks.swap(0, Relaxed);
        let live_bytes = LIVE_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
        let live_blocks = LIVE_BLOCKS.fetch_add(blocks, Relaxed).wrapping_add(blocks);
        PEAK_BYTES.fetch_max(live_bytes, Relaxed);
        PEAK_BLOCKS.fetch_max(live_blocks, Relaxed);
    }

    fn add_into(&self, s: &mut Snapshot) {
        s.allocations += self.allocations.load(Relaxed);
        s.frees += self.frees.load(Relaxed);
        s.bytes_allocated += self.bytes_allocated.load(Relaxed);
        s.bytes_freed += self.bytes_freed.load(Relaxed);
        s.bytes_requested += self.bytes_requested.load(Relaxed);
        s.failures += self.failures.load(Relaxed);
        s.foreign_frees += self.foreign_frees.load(Relaxed);
        s.foreign_reallocs += self.foreign_reallocs.load(Relaxed);
        s.foreign_sizes += self.foreign_sizes.load(Relaxed);
        s.fallbacks += self.fallbacks.load(Relaxed);
        for (sum, class) in s.histogram.iter_mut().zip(&self.histogram) {
            *sum += class.load(Relaxed);
        }
    }
}

/// The backend mapped (`bytes > 0`) or released (`bytes < 0`) address space.
pub fn mapped(bytes: i64) {
    let now = MAPPED.fetch_add(bytes, Relaxed).wrapping_add(bytes);
    PEAK_MAPPED.fetch_max(now, Relaxed);
}

/// Everything the heap counts, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Blocks the heap handed out.
    pub allocations: u64,
    /// Blocks that came back to the heap.
    pub frees: u64,
    /// Blocks live now (`allocations - frees`).
    pub live_blocks: u64,
    /// Most blocks live at once (exact to within [`PUBLISH_BLOCKS`] per thread).
    pub peak_blocks: u64,
    /// Usable bytes of the blocks handed out.
    pub bytes_allocated: u64,
    /// Usable bytes of the blocks that came back.
    pub bytes_freed: u64,
    /// Usable bytes live now.
    pub live_bytes: u64,
    /// Most usable bytes live at once (exact to within [`PUBLISH_BYTES`] per thread).
    pub peak_bytes: u64,
    /// Bytes the callers asked for (the usable size can be larger).
    pub bytes_requested: u64,
    /// Requests that returned NULL.
    pub failures: u64,
    /// Requests served by the original allocator because the heap could not.
    pub fallbacks: u64,
    /// Foreign blocks freed by their original allocator.
    pub foreign_frees: u64,
    /// Foreign blocks resized.
    pub foreign_reallocs: u64,
    /// Foreign blocks whose size was asked.
    pub foreign_sizes: u64,
    /// Requests by power-of-two size class (see [`size_class`]).
    pub histogram: [u64; SIZE_CLASSES],
    /// Address space the backend holds now.
    pub mapped_bytes: u64,
    /// Most address space the backend held at once.
    pub peak_mapped_bytes: u64,
    /// Threads that have used the heap and not exited.
    pub threads: u64,
}

impl Snapshot {
    /// Mean bytes requested per allocation.
    pub fn average_request(&self) -> u64 {
        self.bytes_requested.checked_div(self.allocations).unwrap_or(0)
    }
}

/// Sums the counters of every thread into a snapshot.
pub fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    crate::thread::for_each(|state, live| {
        state.counters.add_into(&mut s);
        s.threads += u64::from(live);
    });
    s.live_blocks = s.allocations.saturating_sub(s.frees);
    s.live_bytes = s.bytes_allocated.saturating_sub(s.bytes_freed);
    s.peak_blocks = (PEAK_BLOCKS.load(Relaxed).max(0) as u64).max(s.live_blocks);
    s.peak_bytes = (PEAK_BYTES.load(Relaxed).max(0) as u64).max(s.live_bytes);
    s.mapped_bytes = MAPPED.load(Relaxed).max(0) as u64;
    s.peak_mapped_bytes = PEAK_MAPPED.load(Relaxed).max(0) as u64;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_powers_of_two() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(2), 1);
        assert_eq!(size_class(3), 2);
        assert_eq!(size_class(4), 2);
        assert_eq!(size_class(5), 3);
        assert_eq!(size_class(1024), 10);
        assert_eq!(size_class(1025), 11);
        assert_eq!(size_class(1 << 30), 30);
        assert_eq!(size_class((1 << 30) + 1), 31);
        assert_eq!(size_class(usize::MAX), SIZE_CLASSES - 1);
    }
}
