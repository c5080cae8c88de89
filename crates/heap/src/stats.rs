//! Statistics: per-thread counters, summed when read.
//!
//! Each thread counts into its own [`Counters`] (see [`crate::thread`]) with
//! plain loads and stores of machine words: one writer, no `lock` prefix,
//! and on 32-bit x86 one `add` to memory rather than a 64-bit update through
//! SSE registers. A word cannot count a whole session, so the owner folds
//! its words into 64-bit totals whenever it publishes (below), under a
//! sequence counter that lets readers take totals and words as one. A thread
//! that only frees takes a state for its counters too (see
//! [`crate::thread`]); one without a state (it has ended its use of the
//! heap, or none could be had) counts into [`SHARED`] with 64-bit atomic
//! additions instead.
//! A reader sums every thread's counters; the sums are exact once the threads
//! are quiet and at most a few operations behind while they run.
//!
//! Peaks are the one global quantity. A thread publishes its net change in
//! live bytes and blocks to a global total every [`PUBLISH_EVERY`]
//! operations (and at once for a block of [`PUBLISH_BYTES`] or more), and the
//! peak is taken there: it is exact to within that many small operations per
//! running thread.

use core::sync::atomic::{fence, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

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
/// too: rpmalloc every block alone in its span). Between two publications a
/// thread's words grow by less than [`PUBLISH_EVERY`] times this: far from
/// wrapping, even in 32 bits.
pub const PUBLISH_BYTES: usize = 64 * 1024;

/// What a set of counters counts: indices of its words.
const FREES: usize = 0;
const BYTES_ALLOCATED: usize = 1;
const BYTES_FREED: usize = 2;
const FAILURES: usize = 3;
const FOREIGN_FREES: usize = 4;
const FOREIGN_REALLOCS: usize = 5;
const FOREIGN_SIZES: usize = 6;
const FALLBACKS: usize = 7;
const BAD_RECORDS: usize = 8;
/// Allocations by slot (see [`slot`]); folded into the size classes when
/// read. Their sum is the allocation count.
const HISTOGRAM: usize = 9;
const WORDS: usize = HISTOGRAM + SLOTS;

/// Publications between two folds of a thread's words: a word's counts grow
/// by at most [`PUBLISH_EVERY`] per publication, so they stay far from
/// wrapping; the byte counts are watched (see [`FOLD_BYTES`]). Counts of
/// foreign blocks and failures, which publish nothing, wrap only after
/// 2^32 such events on a 32-bit thread that never allocates nor frees.
const FOLD_EVERY: u32 = 64;
/// A byte count past this folds at the next publication: a quarter of a
/// word's range, which the few operations before it cannot overflow.
const FOLD_BYTES: usize = usize::MAX / 4;

/// Reads of a thread's totals that meet a fold spin this many times, then
/// yield between tries, so that an owner preempted in the middle of its fold
/// on the reader's core gets to finish it.
const READ_SPINS: u32 = 64;
/// Tries that see the same fold unfinished, after which the last read is
/// taken as it is (a thread killed in the middle of a fold never finishes
/// it), off by at most one publication's worth.
const READ_STUCK: u32 = 10_000;
/// Tries in all, however the owner's folds come and go.
const READ_ATTEMPTS: u32 = 1_000_000;

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
    /// A block's record of its request did not validate: code wrote past
    /// its request over it.
    BadRecord,
}

/// One thread's counters, written by that thread alone; all zeros is the
/// initial state (states live in zeroed pages).
pub struct Counters {
    /// Counts since the last fold, in machine words: the hot path's.
    words: [AtomicUsize; WORDS],
    /// Counts up to the last fold.
    totals: [AtomicU64; WORDS],
    /// Odd while the owner folds `words` into `totals`.
    sequence: AtomicU32,
    /// Operations left before the next publication, minus one: the
    /// operation that takes it below zero publishes.
    countdown: AtomicI32,
    /// Publications left before the next fold (owner only).
    countdown_to_fold: AtomicU32,
    /// The histogram's sum in `totals`: allocations up to the last fold
    /// (owner only), so that a publication sums only the words.
    folded_allocations: AtomicU64,
    /// Net live bytes and blocks already published.
    published: Published,
    /// The last trim the owner looked at its heap for (see `crate::trim`).
    trim_seen: AtomicU32,
}

/// The counters of threads that have no state of their own, written by any
/// thread with atomic additions.
pub struct SharedCounters {
    totals: [AtomicU64; WORDS],
    /// As in [`Counters`]; racy (two threads may take the same value): it
    /// only spaces publications out, which any thread may make.
    countdown: AtomicI32,
    published: Published,
}

/// What a set of counters last published.
struct Published {
    bytes: AtomicI64,
    blocks: AtomicI64,
}

/// Global totals of published live bytes and blocks, and their peaks.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);
static PEAK_BLOCKS: AtomicI64 = AtomicI64::new(0);
/// Address space the backend holds, and its peak (updated by the mapper).
static MAPPED: AtomicI64 = AtomicI64::new(0);
static PEAK_MAPPED: AtomicI64 = AtomicI64::new(0);
/// Address space the heap holds for itself: its bookkeeping, and what it
/// sets aside (the emergency reserve, the guarded pool's budget).
static RESERVED: AtomicI64 = AtomicI64::new(0);

/// The counters of threads that have no state of their own.
pub static SHARED: SharedCounters = SharedCounters {
    totals: [const { AtomicU64::new(0) }; WORDS],
    countdown: AtomicI32::new(0),
    published: Published { bytes: AtomicI64::new(0), blocks: AtomicI64::new(0) },
};

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

/// A set of counters as the hot path sees it: [`Counters`] or
/// [`SharedCounters`]. Everything an event changes is independent of the
/// rest; only a block of [`PUBLISH_BYTES`] or more, or the end of a
/// countdown, takes the cold path.
pub trait Count {
    /// Adds `n` to word `index`.
    fn bump(&self, index: usize, n: usize);
    /// The countdown to the next publication, one operation further.
    fn tick(&self) -> i32;
    /// Moves the net change since the last publication into the global
    /// totals and updates the peaks.
    fn publish(&self);

    /// Counts `event`.
    #[inline(always)]
    fn record(&self, event: Event) {
        match event {
            Event::Allocated { requested, usable } => self.allocated(requested, usable, usable >= PUBLISH_BYTES),
            Event::Freed { usable } => self.freed(usable),
            Event::Failed => self.bump(FAILURES, 1),
            Event::FellBack => self.bump(FALLBACKS, 1),
            Event::ForeignFree => self.bump(FOREIGN_FREES, 1),
            Event::ForeignRealloc => self.bump(FOREIGN_REALLOCS, 1),
            Event::ForeignSize => self.bump(FOREIGN_SIZES, 1),
            Event::BadRecord => self.bump(BAD_RECORDS, 1),
        }
    }

    /// Counts a block of `usable` bytes freed.
    #[inline(always)]
    fn freed(&self, usable: usize) {
        self.bump(FREES, 1);
        self.bump(BYTES_FREED, usable);
        self.operation();
    }

    /// Counts an allocation of `usable` bytes for `requested`; `large` if
    /// `usable` may be [`PUBLISH_BYTES`] or more (then it is published at
    /// once). A backend that knows a block's kind from its metadata passes
    /// that, and spares the hot path a comparison.
    #[inline(always)]
    fn allocated(&self, requested: usize, usable: usize, large: bool) {
        debug_assert!(large || usable < PUBLISH_BYTES);
        self.bump(BYTES_ALLOCATED, usable);
        self.bump(HISTOGRAM + slot(requested), 1);
        if large {
            self.publish();
        } else {
            self.operation();
        }
    }

    /// Counts an operation towards the next publication.
    #[inline(always)]
    fn operation(&self) {
        if self.tick() < 0 {
            self.publish();
        }
    }
}

impl Count for Counters {
    #[inline(always)]
    fn bump(&self, index: usize, n: usize) {
        let word = &self.words[index];
        word.store(word.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline(always)]
    fn tick(&self) -> i32 {
        let countdown = self.countdown.as_ptr();
        // SAFETY: a thread's own countdown is read and written by that
        // thread alone (its operations, its `publish`, its exit), never by a
        // reader of the statistics: plain accesses race with nothing, and
        // let the decrement and its test be one instruction on memory.
        unsafe {
            *countdown = (*countdown).wrapping_sub(1);
            *countdown
        }
    }

    /// Called by the owner, and when the owner exits. Folds the words into
    /// the totals every [`FOLD_EVERY`] publications, or sooner when a byte
    /// count nears a quarter of a word's range: no word ever wraps.
    #[cold]
    fn publish(&self) {
        let folds_in = self.countdown_to_fold.load(Relaxed);
        let bytes = self.words[BYTES_ALLOCATED].load(Relaxed).max(self.words[BYTES_FREED].load(Relaxed));
        if folds_in == 0 || bytes >= FOLD_BYTES {
            self.fold();
            self.countdown_to_fold.store(FOLD_EVERY - 1, Relaxed);
        } else {
            self.countdown_to_fold.store(folds_in - 1, Relaxed);
        }
        self.countdown.store(PUBLISH_EVERY as i32 - 1, Relaxed);
        let own = |index: usize| self.totals[index].load(Relaxed).wrapping_add(self.words[index].load(Relaxed) as u64);
        let recent: u64 = self.words[HISTOGRAM..].iter().map(|slot| slot.load(Relaxed) as u64).sum();
        let allocations = self.folded_allocations.load(Relaxed).wrapping_add(recent);
        let live_bytes = own(BYTES_ALLOCATED).wrapping_sub(own(BYTES_FREED));
        self.published.publish_owned(live_bytes, allocations.wrapping_sub(own(FREES)));
        crate::trim::on_publish(&self.trim_seen);
    }
}

impl Counters {
    /// Adds every word to its total and clears it, as one change for
    /// readers (see [`Counters::read`]). Owner only.
    fn fold(&self) {
        let sequence = self.sequence.load(Relaxed);
        self.sequence.store(sequence.wrapping_add(1), Relaxed);
        fence(Release);
        let allocations: u64 = self.words[HISTOGRAM..].iter().map(|slot| slot.load(Relaxed) as u64).sum();
        self.folded_allocations.store(self.folded_allocations.load(Relaxed).wrapping_add(allocations), Relaxed);
        for (word, total) in self.words.iter().zip(&self.totals) {
            let n = word.load(Relaxed) as u64;
            total.store(total.load(Relaxed).wrapping_add(n), Relaxed);
            word.store(0, Relaxed);
        }
        self.sequence.store(sequence.wrapping_add(2), Release);
    }

    /// Every count, from any thread: totals and words taken between two
    /// equal, even reads of the sequence counter, so that no fold is seen
    /// half done.
    fn read(&self) -> [u64; WORDS] {
        let mut counts = [0; WORDS];
        let mut stuck = 0;
        for attempt in 0..READ_ATTEMPTS {
            let before = self.sequence.load(Acquire);
            self.read_into(&mut counts);
            fence(Acquire);
            let after = self.sequence.load(Relaxed);
            if before % 2 == 0 && after == before {
                return counts;
            }
            stuck = if after == before { stuck + 1 } else { 0 };
            if stuck == READ_STUCK {
                break;
            }
            if attempt < READ_SPINS {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        counts
    }

    fn read_into(&self, counts: &mut [u64; WORDS]) {
        for ((count, word), total) in counts.iter_mut().zip(&self.words).zip(&self.totals) {
            *count = total.load(Relaxed).wrapping_add(word.load(Relaxed) as u64);
        }
    }
}

impl Count for SharedCounters {
    #[inline(always)]
    fn bump(&self, index: usize, n: usize) {
        self.totals[index].fetch_add(n as u64, Relaxed);
    }

    #[inline(always)]
    fn tick(&self) -> i32 {
        let left = self.countdown.load(Relaxed).wrapping_sub(1);
        self.countdown.store(left, Relaxed);
        left
    }

    /// Racing publishers may leave the global totals off by their last
    /// events; the next publication corrects them.
    #[cold]
    fn publish(&self) {
        self.countdown.store(PUBLISH_EVERY as i32 - 1, Relaxed);
        let counts = self.read();
        let allocations: u64 = counts[HISTOGRAM..].iter().fold(0, |sum, &n| sum.wrapping_add(n));
        let live_bytes = counts[BYTES_ALLOCATED].wrapping_sub(counts[BYTES_FREED]);
        self.published.publish(live_bytes, allocations.wrapping_sub(counts[FREES]));
    }
}

impl SharedCounters {
    fn read(&self) -> [u64; WORDS] {
        core::array::from_fn(|index| self.totals[index].load(Relaxed))
    }
}

impl Published {
    /// Publishes this set's live bytes and blocks, as a change since its
    /// last publication, and takes the peaks. Any thread may publish a set
    /// (the shared counters): the swaps make each change count once.
    fn publish(&self, live_bytes: u64, live_blocks: u64) {
        let (live_bytes, live_blocks) = (live_bytes as i64, live_blocks as i64);
        let bytes = live_bytes.wrapping_sub(self.bytes.swap(live_bytes, Relaxed));
        let blocks = live_blocks.wrapping_sub(self.blocks.swap(live_blocks, Relaxed));
        add_live(bytes, blocks);
    }

    /// [`Published::publish`] for a set only its owner publishes (a
    /// thread's own counters): plain loads and stores, where a swap of a
    /// 64-bit value is a locked loop on 32-bit x86.
    fn publish_owned(&self, live_bytes: u64, live_blocks: u64) {
        let (live_bytes, live_blocks) = (live_bytes as i64, live_blocks as i64);
        let bytes = live_bytes.wrapping_sub(self.bytes.load(Relaxed));
        let blocks = live_blocks.wrapping_sub(self.blocks.load(Relaxed));
        self.bytes.store(live_bytes, Relaxed);
        self.blocks.store(live_blocks, Relaxed);
        add_live(bytes, blocks);
    }
}

/// Adds a change of live bytes and blocks to the global totals and takes
/// the peaks; a peak that does not grow is only read (`fetch_max` is a
/// locked loop on 32-bit x86 even when it changes nothing).
fn add_live(bytes: i64, blocks: i64) {
    let global_bytes = LIVE_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
    let global_blocks = LIVE_BLOCKS.fetch_add(blocks, Relaxed).wrapping_add(blocks);
    if global_bytes > PEAK_BYTES.load(Relaxed) {
        PEAK_BYTES.fetch_max(global_bytes, Relaxed);
    }
    if global_blocks > PEAK_BLOCKS.load(Relaxed) {
        PEAK_BLOCKS.fetch_max(global_blocks, Relaxed);
    }
}

/// Adds one set of counts (see [`Counters::read`]) into a snapshot.
fn add_into(counts: &[u64; WORDS], s: &mut Snapshot) {
    s.allocations += counts[HISTOGRAM..].iter().sum::<u64>();
    s.frees += counts[FREES];
    s.bytes_allocated += counts[BYTES_ALLOCATED];
    s.bytes_freed += counts[BYTES_FREED];
    s.failures += counts[FAILURES];
    s.foreign_frees += counts[FOREIGN_FREES];
    s.foreign_reallocs += counts[FOREIGN_REALLOCS];
    s.foreign_sizes += counts[FOREIGN_SIZES];
    s.fallbacks += counts[FALLBACKS];
    s.bad_records += counts[BAD_RECORDS];
    for (slot, count) in counts[HISTOGRAM..].iter().enumerate() {
        s.histogram[slot.min(SIZE_CLASSES - 1)] += count;
    }
}

/// The backend mapped (`bytes > 0`) or released (`bytes < 0`) address space.
pub fn mapped(bytes: i64) {
    let now = MAPPED.fetch_add(bytes, Relaxed).wrapping_add(bytes);
    PEAK_MAPPED.fetch_max(now, Relaxed);
}

/// The heap mapped (`bytes > 0`) or released address space for itself.
pub fn reserved(bytes: i64) {
    RESERVED.fetch_add(bytes, Relaxed);
}

/// Address space the heap holds now: the backend's and its own.
pub fn held() -> u64 {
    (MAPPED.load(Relaxed).max(0) + RESERVED.load(Relaxed).max(0)) as u64
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
    /// Blocks whose record of their request was found overwritten (code
    /// wrote past what it asked for), each time one was read.
    pub bad_records: u64,
    /// Requests by power-of-two size class (see [`size_class`]).
    pub histogram: [u64; SIZE_CLASSES],
    /// Address space the backend holds now.
    pub mapped_bytes: u64,
    /// Most address space the backend held at once.
    pub peak_mapped_bytes: u64,
    /// Address space the heap holds for itself (see [`reserved`]): with
    /// `mapped_bytes`, everything it holds.
    pub reserved_bytes: u64,
    /// Of `mapped_bytes`, what the backend keeps free for reuse in its
    /// shared cache (see `crate::trim`). Each thread's own cache (up to 32
    /// spans of small blocks and 32 of large ones) is not counted.
    pub cached_bytes: u64,
    /// Of `mapped_bytes`, blocks the game heap freed that wait, unchanged,
    /// before they are handed out again (see `crate::delay`); not live.
    pub delayed_bytes: u64,
    /// Threads that allocated from the heap (they have a backend heap) and
    /// have not exited; a thread that only frees is not one.
    pub threads: u64,
}

impl Snapshot {
    /// Address space the heap holds: the backend's and its own.
    pub fn held_bytes(&self) -> u64 {
        self.mapped_bytes + self.reserved_bytes
    }

    /// Mean usable bytes per allocation.
    pub fn average_size(&self) -> u64 {
        self.bytes_allocated.checked_div(self.allocations).unwrap_or(0)
    }
}

/// Sums the counters of every thread into a snapshot.
pub fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    add_into(&SHARED.read(), &mut s);
    crate::thread::for_each(|state, live| {
        add_into(&state.counters.read(), &mut s);
        s.threads += u64::from(live && state.started());
    });
    s.live_blocks = s.allocations.saturating_sub(s.frees);
    s.live_bytes = s.bytes_allocated.saturating_sub(s.bytes_freed);
    s.peak_blocks = (PEAK_BLOCKS.load(Relaxed).max(0) as u64).max(s.live_blocks);
    s.peak_bytes = (PEAK_BYTES.load(Relaxed).max(0) as u64).max(s.live_bytes);
    s.mapped_bytes = MAPPED.load(Relaxed).max(0) as u64;
    s.peak_mapped_bytes = PEAK_MAPPED.load(Relaxed).max(0) as u64;
    s.reserved_bytes = RESERVED.load(Relaxed).max(0) as u64;
    s.cached_bytes = crate::backend::cached() as u64;
    s.delayed_bytes = crate::delay::waiting() as u64;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Box<Counters> {
        // SAFETY: all zeros is a valid `Counters` (atomics), its initial state.
        Box::new(unsafe { core::mem::zeroed() })
    }

    /// Counts stay exact across folds, large blocks and byte counts past a
    /// quarter of a word, which fold at once.
    #[test]
    fn counts_are_exact_across_folds() {
        let counters = fresh();
        let (mut allocated, mut freed) = (0u64, 0u64);
        for i in 0..100_000usize {
            let usable = if i % 1000 == 0 { 1 << 20 } else { 16 + i % 512 };
            counters.record(Event::Allocated { requested: usable, usable });
            counters.record(Event::Freed { usable });
            (allocated, freed) = (allocated + usable as u64, freed + usable as u64);
        }
        let big = FOLD_BYTES + 1;
        counters.record(Event::Allocated { requested: 1, usable: big });
        counters.record(Event::Allocated { requested: 1, usable: big });
        allocated += 2 * big as u64;
        let counts = counters.read();
        assert_eq!(counts[BYTES_ALLOCATED], allocated);
        assert_eq!(counts[BYTES_FREED], freed);
        assert_eq!(counts[FREES], 100_000);
        assert_eq!(counts[HISTOGRAM..].iter().sum::<u64>(), 100_002);
        assert!(counters.words.iter().all(|w| (w.load(Relaxed) as u64) < FOLD_BYTES as u64));
    }

    /// A reader never sees a fold half done: the count it reads never goes
    /// back, while the owner counts and folds at every other allocation
    /// (byte counts past [`FOLD_BYTES`] fold at once).
    #[test]
    fn readers_see_counts_only_grow() {
        const ALLOCATIONS: u64 = 2_000_000;
        let counters: &'static Counters = Box::leak(fresh());
        let done = std::sync::atomic::AtomicBool::new(false);
        let blocks = HISTOGRAM + slot(64);
        let mut reads = 0u64;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..ALLOCATIONS {
                    counters.record(Event::Allocated { requested: 64, usable: FOLD_BYTES / 2 + 1 });
                }
                done.store(true, Release);
            });
            let mut last = 0;
            while !done.load(Acquire) {
                let now = counters.read()[blocks];
                assert!(now >= last, "a count went back from {last} to {now}");
                last = now;
                reads += 1;
            }
        });
        assert_eq!(counters.read()[blocks], ALLOCATIONS);
        assert!(reads > 100, "the reader ran {reads} times only");
    }

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
