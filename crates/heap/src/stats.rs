//! Statistics: per-thread counters, summed when read.
//!
//! Each thread counts into its own [`Counters`] (see [`crate::thread`]) with
//! plain loads and stores: one writer, no `lock` prefix on the hot path.
//! A thread without a state of its own (it only frees, or it has ended its
//! use of the heap) counts into [`SHARED`] with atomic additions instead.
//! A reader sums every thread's counters; the sums are exact once the threads
//! are quiet and at most a few operations behind while they run.
//!
//! Peaks are the one global quantity. A thread publishes its net change in
//! live bytes and blocks to a global total every [`PUBLISH_EVERY`]
//! operations (and at once for a block of [`PUBLISH_BYTES`] or more), and the
//! peak is taken there: it is exact to within that many small operations per
//! running thread.

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Power-of-two size classes of the histogram: class `k` counts requests of
/// `2^(k-1) < size <= 2^k` bytes (class 0: 0 and 1 byte); the last class
/// also takes everything larger.
pub const SIZE_CLASSES: usize = 32;

/// Operations a thread makes between publishing its net change; a block of
/// at least [`PUBLISH_BYTES`] is published at once.
pub const PUBLISH_EVERY: u32 = 256;

/// Histogram slots a thread counts into: one per bit of a request, so that
/// the slot is one `bsr` away from the request (see [`slot`]).
const SLOTS: usize = usize::BITS as usize;
/// Blocks this large are published as soon as they are allocated, so that
/// the peak never misses one (a backend may publish smaller ones at once
/// too: rpmalloc every block alone in its span).
pub const PUBLISH_BYTES: usize = 64 * 1024;

/// Something the heap counts.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// A block of `usable` bytes was handed out for a request of `requested`
    /// (at most [`crate::alloc::MAX_REQUEST`]).
    Allocated { requested: usize, usable: usize },
    /// A block of `usable` bytes went back to the heap.
    Freed { usable: usize },
    /// A request could not be served, by the heap nor by the fallback.
    Failed,
    /// A request the heap could not serve went to the original allocator.
    FellBack,
    /// A foreign block was freed by its original allocator.
    ForeignFree,
    /// A foreign block was resized (moved into the heap, or by its original).
    ForeignRealloc,
    /// A foreign block's size was asked of its original allocator.
    ForeignSize,
}

/// A set of counters. `SHARED == false`: one thread's, written by that thread
/// alone with plain loads and stores; all zeros is the initial state (states
/// live in zeroed pages). `SHARED == true`: [`SHARED`], written by any thread
/// with atomic additions.
pub struct Counters<const SHARED: bool = false> {
    frees: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_freed: AtomicU64,
    failures: AtomicU64,
    foreign_frees: AtomicU64,
    foreign_reallocs: AtomicU64,
    foreign_sizes: AtomicU64,
    fallbacks: AtomicU64,
    /// Allocations by slot (see [`slot`]); folded into the size classes
    /// when read. Their sum is the allocation count.
    histogram: [AtomicU64; SLOTS],
    /// Operations left before the next publication, minus one: the
    /// operation that takes it below zero publishes.
    countdown: AtomicI32,
    /// Net live bytes and blocks already published.
    published_bytes: AtomicI64,
    published_blocks: AtomicI64,
}

/// Global totals of published live bytes and blocks, and their peaks.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);
static PEAK_BLOCKS: AtomicI64 = AtomicI64::new(0);
/// Address space the backend holds, and its peak (updated by the mapper).
static MAPPED: AtomicI64 = AtomicI64::new(0);
static PEAK_MAPPED: AtomicI64 = AtomicI64::new(0);

/// The counters of threads that have no state of their own.
pub static SHARED: Counters<true> = Counters::new();

/// Adds to a counter: a load and a store where only this thread writes it
/// (no RMW on the hot path), an atomic addition where any thread may.
#[inline(always)]
fn bump<const SHARED: bool>(counter: &AtomicU64, n: u64) {
    if SHARED {
        counter.fetch_add(n, Relaxed);
    } else {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

/// The histogram class of a request of `size` bytes.
#[inline(always)]
pub fn size_class(size: usize) -> usize {
    slot(size.min(crate::alloc::MAX_REQUEST)).min(SIZE_CLASSES - 1)
}

/// The histogram slot of a request of `size` bytes: the bits of `size - 1`,
/// which is `ilog2(2 * size - 1)` for `size >= 1` (0 counts as 1, in the
/// same class). Two instructions and no branch on the allocation path; the
/// slots past the last class are folded into it when read. `size` is at
/// most [`crate::alloc::MAX_REQUEST`] (every request counted is: the heap
/// refuses larger ones, passthrough clamps), so `2 * size - 1` does not
/// overflow.
#[inline(always)]
fn slot(size: usize) -> usize {
    (size.max(1).wrapping_mul(2).wrapping_sub(1) | 1).ilog2() as usize
}

impl<const SHARED: bool> Counters<SHARED> {
    const fn new() -> Self {
        Counters {
            frees: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            bytes_freed: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            foreign_frees: AtomicU64::new(0),
            foreign_reallocs: AtomicU64::new(0),
            foreign_sizes: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            histogram: [const { AtomicU64::new(0) }; SLOTS],
            countdown: AtomicI32::new(0),
            published_bytes: AtomicI64::new(0),
            published_blocks: AtomicI64::new(0),
        }
    }

    /// Counts `event`. The counters an event touches are independent of
    /// each other; only a block of [`PUBLISH_BYTES`] or more, or the end of a
    /// countdown, takes the cold path.
    #[inline(always)]
    pub fn record(&self, event: Event) {
        match event {
            Event::Allocated { requested, usable } => self.allocated(requested, usable, usable >= PUBLISH_BYTES),
            Event::Freed { usable } => {
                bump::<SHARED>(&self.frees, 1);
                bump::<SHARED>(&self.bytes_freed, usable as u64);
                self.tick();
            }
            Event::Failed => bump::<SHARED>(&self.failures, 1),
            Event::FellBack => bump::<SHARED>(&self.fallbacks, 1),
            Event::ForeignFree => bump::<SHARED>(&self.foreign_frees, 1),
            Event::ForeignRealloc => bump::<SHARED>(&self.foreign_reallocs, 1),
            Event::ForeignSize => bump::<SHARED>(&self.foreign_sizes, 1),
        }
    }

    /// Counts an allocation of `usable` bytes for `requested`; `large` if
    /// `usable` may be [`PUBLISH_BYTES`] or more (then it is published at
    /// once). A backend that knows a block's kind from its metadata passes
    /// that, and spares the hot path a comparison.
    #[inline(always)]
    pub fn allocated(&self, requested: usize, usable: usize, large: bool) {
        debug_assert!(large || usable < PUBLISH_BYTES);
        bump::<SHARED>(&self.bytes_allocated, usable as u64);
        bump::<SHARED>(&self.histogram[slot(requested)], 1);
        if large {
            self.publish();
        } else {
            self.tick();
        }
    }

    /// Counts an operation towards the next publication. For [`SHARED`] the
    /// countdown is racy (two threads may take the same value): it only
    /// spaces publications out, which any thread may make.
    #[inline(always)]
    fn tick(&self) {
        let left = if SHARED {
            let left = self.countdown.load(Relaxed).wrapping_sub(1);
            self.countdown.store(left, Relaxed);
            left
        } else {
            let countdown = self.countdown.as_ptr();
            // SAFETY: a thread's own countdown is read and written by that
            // thread alone (its operations, its `publish`, its exit), never
            // by a reader of the statistics: plain accesses race with
            // nothing, and let the decrement and its test be one instruction
            // on memory.
            unsafe {
                *countdown = (*countdown).wrapping_sub(1);
                *countdown
            }
        };
        if left < 0 {
            self.publish();
        }
    }

    /// Moves this thread's net change since the last publication into the
    /// global totals and updates the peaks. Called by the owner, and when the
    /// owner exits. For [`SHARED`], racing publishers may leave the totals
    /// off by their last events; the next publication corrects them.
    #[cold]
    pub fn publish(&self) {
        self.countdown.store(PUBLISH_EVERY as i32 - 1, Relaxed);
        let live_bytes = self.bytes_allocated.load(Relaxed).wrapping_sub(self.bytes_freed.load(Relaxed)) as i64;
        let live_blocks = self.allocations().wrapping_sub(self.frees.load(Relaxed)) as i64;
        let bytes = live_bytes.wrapping_sub(self.published_bytes.swap(live_bytes, Relaxed));
        let blocks = live_blocks.wrapping_sub(self.published_blocks.swap(live_blocks, Relaxed));
        let global_bytes = LIVE_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
        let global_blocks = LIVE_BLOCKS.fetch_add(blocks, Relaxed).wrapping_add(blocks);
        PEAK_BYTES.fetch_max(global_bytes, Relaxed);
        PEAK_BLOCKS.fetch_max(global_blocks, Relaxed);
    }

    /// Allocations made: the histogram's sum (one counter less per `malloc`).
    fn allocations(&self) -> u64 {
        self.histogram.iter().map(|class| class.load(Relaxed)).fold(0, u64::wrapping_add)
    }

    fn add_into(&self, s: &mut Snapshot) {
        s.allocations += self.allocations();
        s.frees += self.frees.load(Relaxed);
        s.bytes_allocated += self.bytes_allocated.load(Relaxed);
        s.bytes_freed += self.bytes_freed.load(Relaxed);
        s.failures += self.failures.load(Relaxed);
        s.foreign_frees += self.foreign_frees.load(Relaxed);
        s.foreign_reallocs += self.foreign_reallocs.load(Relaxed);
        s.foreign_sizes += self.foreign_sizes.load(Relaxed);
        s.fallbacks += self.fallbacks.load(Relaxed);
        for (slot, count) in self.histogram.iter().enumerate() {
            s.histogram[slot.min(SIZE_CLASSES - 1)] += count.load(Relaxed);
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
    /// Most blocks live at once (exact to within [`PUBLISH_EVERY`] per thread).
    pub peak_blocks: u64,
    /// Usable bytes of the blocks handed out (an aligned rpmalloc block
    /// smaller than 32 KiB counts its whole block, as its free does).
    pub bytes_allocated: u64,
    /// Usable bytes of the blocks that came back.
    pub bytes_freed: u64,
    /// Usable bytes live now.
    pub live_bytes: u64,
    /// Most usable bytes live at once (exact to within [`PUBLISH_EVERY`]
    /// blocks under [`PUBLISH_BYTES`] per thread).
    pub peak_bytes: u64,
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
    /// Mean usable bytes per allocation.
    pub fn average_size(&self) -> u64 {
        self.bytes_allocated.checked_div(self.allocations).unwrap_or(0)
    }
}

/// Sums the counters of every thread into a snapshot.
pub fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    SHARED.add_into(&mut s);
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
