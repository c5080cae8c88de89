//! Guard pages: small blocks that end where an inaccessible page begins, and
//! freed ones kept out of reach for a while, so that an overrun or a use
//! after free faults at the instruction that makes it.
//!
//! The pool is one reservation of address space, made at start-up and marked
//! in the owner map as [`owner::GUARDED`], cut into slots of one size: the
//! pages the largest guarded request needs, then a guard page that is never
//! committed. A block of `n` bytes lies at the end of its slot's data pages,
//! `n` rounded up to [`ALIGN`] before the guard page; only its own pages are
//! committed. Its request is kept beside the pool, one word per slot.
//!
//! A freed block's pages are withdrawn (any access faults) and its slot
//! joins a FIFO queue. A slot is used again only once `quarantine` slots
//! freed after it wait behind it; until then fresh slots are taken. When
//! neither is left (the budget is full), requests are served unguarded.
//!
//! Only the queue takes a lock ([`SpinLock`]); committing and withdrawing
//! pages happen outside it. Nothing here allocates or calls a hooked
//! function.

use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::os::{self, PAGE};
use crate::owner;
use crate::spin::SpinLock;

/// Alignment of a guarded block's start: what MSVC's `malloc` guarantees (8
/// bytes on 32-bit, 16 on 64-bit). An overrun that stays within the padding
/// up to it is not caught unless the request is a multiple of it.
pub const ALIGN: usize = 2 * core::mem::size_of::<usize>();

/// The request word of a slot holding no block.
const EMPTY: u32 = u32::MAX;

/// What the pool is asked for (`[Debug] GuardMaxSize`, `GuardQuarantine`,
/// `GuardBudgetMiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Guard blocks at all.
    pub enabled: bool,
    /// The largest request guarded, in bytes.
    pub max_size: usize,
    /// Freed guarded blocks kept out of reach before their slot is reused.
    pub quarantine: usize,
    /// Address space for the pool, in bytes, reserved at start-up.
    pub budget: usize,
}

impl GuardConfig {
    /// Off; the sizes as the shipped INI's defaults.
    pub const OFF: GuardConfig = GuardConfig { enabled: false, max_size: 4096, quarantine: 4096, budget: 128 << 20 };
}

/// The pool as it was laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The largest request guarded.
    pub max_size: usize,
    /// Bytes of address space per slot, guard page included.
    pub slot_size: usize,
    /// Slots in the reservation.
    pub slots: usize,
    /// The quarantine in force (at most half the slots).
    pub quarantine: usize,
    /// Bytes reserved.
    pub reserved: usize,
}

/// What the pool did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Blocks handed out guarded.
    pub guarded: u64,
    /// Requests small enough to guard that were served unguarded because
    /// every slot was live or in quarantine.
    pub budget_misses: u64,
    /// Slots ever used: the most blocks live and in quarantine at once.
    pub slots_used: usize,
    /// Frees of a guarded slot holding no block at that address (a double
    /// free, or a pointer into a block): ignored.
    pub bad_frees: u64,
}

/// The free slots' queue and the counters kept with it.
struct Queue {
    /// Slot numbers, `slots` of them: a ring from `head`, `len` long.
    ring: *mut u32,
    head: usize,
    len: usize,
    /// Slots below this number have been used.
    fresh: usize,
    guarded: u64,
    budget_misses: u64,
}

// SAFETY: the ring is the queue's own mapping, reached only under the lock.
unsafe impl Send for Queue {}

struct Pool {
    base: usize,
    layout: Layout,
    /// Each slot's request, or [`EMPTY`].
    requests: &'static [AtomicU32],
    queue: SpinLock<Queue>,
    bad_frees: AtomicU32,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Lays the pool out and reserves it. Call once, before any block is asked
/// for. Returns why not if the address space or the tables cannot be had.
pub fn start(config: &GuardConfig) -> Result<Layout, &'static str> {
    let max_size = config.max_size.clamp(1, 1 << 20);
    let slot_size = round_up(max_size, PAGE) + PAGE;
    let slots = (config.budget / slot_size).min(EMPTY as usize - 1);
    if slots < 2 {
        return Err("the budget holds fewer than two guarded blocks");
    }
    // Whole granules, as the owner map marks them; the tail past the last
    // slot holds no block.
    let reserved = os::granule_round(slots * slot_size).ok_or("the budget is too large")?;
    let region = os::reserve(reserved).ok_or("the budget's address space could not be reserved")?;
    let table = os::map_forever(slots * 2 * core::mem::size_of::<u32>());
    if table.is_null() {
        // SAFETY: the reservation was made just above and never shared.
        unsafe { os::release(region, reserved) };
        return Err("no memory for the guarded pool's tables");
    }
    crate::stats::reserved(reserved as i64);
    // SAFETY: `table` holds `2 * slots` zeroed u32s for the life of the
    // process: the first half the requests, the second the ring.
    let requests = unsafe { core::slice::from_raw_parts(table.cast::<AtomicU32>(), slots) };
    requests.iter().for_each(|r| r.store(EMPTY, Ordering::Relaxed));
    let ring = table.cast::<u32>().wrapping_add(slots);
    let layout = Layout { max_size, slot_size, slots, quarantine: config.quarantine.min(slots / 2), reserved };
    let queue = Queue { ring, head: 0, len: 0, fresh: 0, guarded: 0, budget_misses: 0 };
    let pool = Pool {
        base: region.base as usize,
        layout,
        requests,
        queue: SpinLock::new(queue),
        bad_frees: AtomicU32::new(0),
    };
    if !owner::mark(region.base, reserved, owner::GUARDED) {
        // SAFETY: as above.
        unsafe { os::release(region, reserved) };
        return Err("the owner map could not cover the guarded pool");
    }
    POOL.set(pool).map_err(|_| "guard pages are already started")?;
    Ok(layout)
}

/// The pool's layout, if it started.
pub fn layout() -> Option<Layout> {
    POOL.get().map(|pool| pool.layout)
}

/// What the pool did so far, if it started.
pub fn summary() -> Option<Summary> {
    let pool = POOL.get()?;
    let (guarded, budget_misses, slots_used) = pool.queue.with(|q| (q.guarded, q.budget_misses, q.fresh));
    let bad_frees = u64::from(pool.bad_frees.load(Ordering::Relaxed));
    Some(Summary { guarded, budget_misses, slots_used, bad_frees })
}

/// Whether a request of `size` bytes is small enough to guard.
pub fn takes(size: usize) -> bool {
    POOL.get().is_some_and(|pool| size <= pool.layout.max_size)
}

/// Whether `p` lies in the guarded pool (checked off the hot path).
#[inline]
pub fn contains(p: *const u8) -> bool {
    owner::owner_of(p) == owner::GUARDED
}

fn round_up(n: usize, to: usize) -> usize {
    (n + to - 1) & !(to - 1)
}

/// The bytes from a block of `request` bytes to the guard page.
fn footprint(request: usize) -> usize {
    round_up(request.max(1), ALIGN)
}

impl Pool {
    fn slot_of(&self, p: *const u8) -> usize {
        (p as usize).wrapping_sub(self.base) / self.layout.slot_size
    }

    /// The request word of the slot `p` lies in; `None` past the last slot.
    fn request_of(&self, p: *const u8) -> Option<(usize, &AtomicU32)> {
        let slot = self.slot_of(p);
        self.requests.get(slot).map(|word| (slot, word))
    }

    /// Where slot `slot`'s guard page begins.
    fn guard_page(&self, slot: usize) -> usize {
        self.base + (slot + 1) * self.layout.slot_size - PAGE
    }

    /// The first committed page of a block of `request` bytes in `slot`, and
    /// the bytes committed from there.
    fn pages(&self, slot: usize, request: usize) -> (*mut u8, usize) {
        let len = round_up(footprint(request), PAGE);
        ((self.guard_page(slot) - len) as *mut u8, len)
    }

    fn block(&self, slot: usize, request: usize) -> *mut u8 {
        (self.guard_page(slot) - footprint(request)) as *mut u8
    }

    /// A slot for a new block: the oldest freed one past the quarantine, else
    /// a fresh one; `None` when the budget is full.
    fn take(&self) -> Option<usize> {
        self.queue.with(|q| {
            let slot = if q.len > self.layout.quarantine {
                // SAFETY: `head < slots`, inside the ring.
                let slot = unsafe { q.ring.add(q.head).read() } as usize;
                q.head = (q.head + 1) % self.layout.slots;
                q.len -= 1;
                Some(slot)
            } else if q.fresh < self.layout.slots {
                q.fresh += 1;
                Some(q.fresh - 1)
            } else {
                None
            };
            match slot {
                Some(_) => q.guarded += 1,
                None => q.budget_misses += 1,
            }
            slot
        })
    }

    /// Puts a slot whose pages are withdrawn at the back of the queue.
    fn give_back(&self, slot: usize) {
        self.queue.with(|q| {
            // Every slot is queued at most once (`free` empties its request
            // first), so the ring never overflows.
            let tail = (q.head + q.len) % self.layout.slots;
            // SAFETY: `tail < slots`, inside the ring.
            unsafe { q.ring.add(tail).write(slot as u32) };
            q.len += 1;
        })
    }
}

/// A guarded block for `size` bytes, or null if `size` is too large for the
/// pool, the budget is full or the system has no memory to commit.
pub fn alloc(size: usize) -> *mut u8 {
    let Some(pool) = POOL.get() else { return ptr::null_mut() };
    if size > pool.layout.max_size {
        return ptr::null_mut();
    }
    let Some(slot) = pool.take() else { return ptr::null_mut() };
    let (pages, len) = pool.pages(slot, size);
    // SAFETY: the slot's pages lie in our reservation and are not committed
    // (fresh, or withdrawn when its last block was freed).
    if !unsafe { os::commit(pages, len) } {
        pool.give_back(slot);
        return ptr::null_mut();
    }
    pool.requests[slot].store(size as u32, Ordering::Release);
    pool.block(slot, size)
}

/// Frees a guarded block: its pages withdrawn, its slot queued. A pointer
/// that is not a live block's start is ignored and counted.
pub fn free(p: *mut u8) {
    let Some(pool) = POOL.get() else { return };
    let Some((slot, word)) = pool.request_of(p) else {
        pool.bad_frees.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let request = word.load(Ordering::Acquire);
    let live = request != EMPTY && pool.block(slot, request as usize) == p;
    if !live || word.compare_exchange(request, EMPTY, Ordering::AcqRel, Ordering::Relaxed).is_err() {
        pool.bad_frees.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let (pages, len) = pool.pages(slot, request as usize);
    // SAFETY: the block's own committed pages; its user gave it up.
    unsafe { os::withdraw(pages, len) };
    pool.give_back(slot);
}

/// The request of the guarded block `p`, 0 if its slot holds none.
pub fn request(p: *const u8) -> usize {
    let Some((_, word)) = POOL.get().and_then(|pool| pool.request_of(p)) else { return 0 };
    match word.load(Ordering::Acquire) {
        EMPTY => 0,
        request => request as usize,
    }
}

/// Where `addr` lies in the guarded pool (see [`crate::locate`]): in the
/// live block of its slot (`Some((start, request, true))`), in the slot of
/// a freed block (`Some((slot's start, 0, false))`), or `None` outside the
/// pool. Lock-free.
pub(crate) fn locate(addr: usize) -> Option<(usize, usize, bool)> {
    let pool = POOL.get()?;
    let (slot, word) = pool.request_of(addr as *const u8)?;
    let slot_start = pool.base + slot * pool.layout.slot_size;
    match word.load(Ordering::Acquire) {
        EMPTY => Some((slot_start, 0, false)),
        request => Some((pool.block(slot, request as usize) as usize, request as usize, true)),
    }
}

/// The bytes from the guarded block `p` to its guard page.
pub fn usable_size(p: *const u8) -> usize {
    let Some(pool) = POOL.get() else { return 0 };
    pool.guard_page(pool.slot_of(p)).saturating_sub(p as usize)
}

/// Records `size` as the request of the guarded block `p` resized in place,
/// if it still ends at its guard page with that size; false otherwise (the
/// caller moves it).
pub fn resize_in_place(p: *mut u8, size: usize) -> bool {
    let Some((_, word)) = POOL.get().and_then(|pool| pool.request_of(p)) else { return false };
    if footprint(size) != usable_size(p) {
        return false;
    }
    word.store(size as u32, Ordering::Release);
    true
}
