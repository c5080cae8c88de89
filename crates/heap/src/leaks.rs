//! Leak tracking: a fixed table of live blocks with their size and caller.
//!
//! Off by default. When on, every block the heap hands out is entered with
//! its usable size and the address of the code that asked for it, and removed
//! when it comes back. The table is mapped once at start-up (never from
//! `malloc`) and is lock-free: open addressing over twice the capacity, with
//! probes bounded by [`MAX_PROBE`], so a full or unlucky neighbourhood makes a
//! block *untracked* (counted) instead of slowing anything down.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Slots probed before a block is given up as untracked.
const MAX_PROBE: usize = 32;
/// A slot whose block was freed; probing goes on past it.
const TOMBSTONE: usize = 1;

#[repr(C)]
struct Slot {
    ptr: AtomicUsize,
    size: AtomicUsize,
    caller: AtomicUsize,
}

struct Table {
    slots: *const Slot,
    mask: usize,
    capacity: usize,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static TABLE: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());
static LIVE: AtomicUsize = AtomicUsize::new(0);
static UNTRACKED: AtomicU64 = AtomicU64::new(0);
static CALLER: AtomicUsize = AtomicUsize::new(0);

/// Starts tracking with room for `capacity` live blocks. False if the table
/// could not be mapped (tracking then stays off).
pub(crate) fn start(capacity: usize, caller: fn() -> usize) -> bool {
    let capacity = capacity.clamp(1024, 1 << 24);
    let slot_count = (capacity * 2).next_power_of_two();
    let table_len = core::mem::size_of::<Table>();
    let bytes = slot_count * core::mem::size_of::<Slot>() + table_len;
    let memory = crate::os::map_forever(bytes);
    if memory.is_null() {
        return false;
    }
    let table = memory.cast::<Table>();
    // SAFETY: `memory` is fresh, zeroed, 64 KiB-aligned and `bytes` long: the
    // header fits at its start and the slots after it (aligned: the header's
    // size is a multiple of a word).
    unsafe {
        table.write(Table { slots: memory.add(table_len).cast(), mask: slot_count - 1, capacity });
    }
    CALLER.store(caller as usize, Ordering::Relaxed);
    TABLE.store(table, Ordering::Release);
    ENABLED.store(true, Ordering::Release);
    true
}

/// Whether tracking is on.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn table() -> Option<&'static Table> {
    // SAFETY: the table is published once, fully written, and never freed.
    unsafe { TABLE.load(Ordering::Acquire).as_ref() }
}

impl Table {
    fn slot(&self, i: usize) -> &Slot {
        // SAFETY: `i & mask` < slot count, all mapped for the process's life.
        unsafe { &*self.slots.add(i & self.mask) }
    }

    fn home(&self, ptr: usize) -> usize {
        // Fibonacci hashing of the block address (low bits are alignment).
        (ptr >> 4).wrapping_mul(0x9E37_79B9) & self.mask
    }
}

/// Enters a block the heap just handed out.
#[cold]
pub(crate) fn record(ptr: *const u8, size: usize) {
    let Some(table) = table() else { return };
    if LIVE.load(Ordering::Relaxed) >= table.capacity {
        UNTRACKED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let caller = caller();
    let home = table.home(ptr as usize);
    for i in 0..MAX_PROBE {
        let slot = table.slot(home + i);
        let seen = slot.ptr.load(Ordering::Relaxed);
        if (seen == 0 || seen == TOMBSTONE)
            && slot.ptr.compare_exchange(seen, ptr as usize, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            slot.size.store(size, Ordering::Relaxed);
            slot.caller.store(caller, Ordering::Release);
            LIVE.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    UNTRACKED.fetch_add(1, Ordering::Relaxed);
}

/// Removes a block that came back to the heap (nothing if it was untracked).
#[cold]
pub(crate) fn forget(ptr: *const u8) {
    let Some(table) = table() else { return };
    let home = table.home(ptr as usize);
    for i in 0..MAX_PROBE {
        let slot = table.slot(home + i);
        match slot.ptr.load(Ordering::Relaxed) {
            0 => return,
            p if p == ptr as usize => {
                if slot.ptr.compare_exchange(p, TOMBSTONE, Ordering::Release, Ordering::Relaxed).is_ok() {
                    LIVE.fetch_sub(1, Ordering::Relaxed);
                }
                return;
            }
            _ => {}
        }
    }
}

/// Whether leak tracking knows `ptr` as a live block, and the code that
/// allocated it: `None` if tracking is off, `Some(None)` if the block is not
/// in the table (freed, or allocated while the table was full). Lock-free.
pub(crate) fn lookup(ptr: usize) -> Option<Option<usize>> {
    let table = table()?;
    let home = table.home(ptr);
    for i in 0..MAX_PROBE {
        let slot = table.slot(home + i);
        match slot.ptr.load(Ordering::Acquire) {
            0 => break,
            p if p == ptr => return Some(Some(slot.caller.load(Ordering::Acquire))),
            _ => {}
        }
    }
    Some(None)
}

fn caller() -> usize {
    let f = CALLER.load(Ordering::Relaxed);
    if f == 0 {
        return 0;
    }
    // SAFETY: only `start` stores here, and it stores a `fn() -> usize`.
    let f: fn() -> usize = unsafe { core::mem::transmute::<usize, fn() -> usize>(f) };
    f()
}

/// Live blocks and bytes attributed to one caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallerTotal {
    /// The return address inside the code that allocated (0: unknown).
    pub caller: usize,
    /// Live blocks.
    pub blocks: u64,
    /// Their usable bytes.
    pub bytes: u64,
}

/// What the leak table holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Whether tracking is on.
    pub enabled: bool,
    /// Tracked live blocks.
    pub blocks: u64,
    /// Their usable bytes.
    pub bytes: u64,
    /// Blocks that could not be entered (table full or probe limit).
    pub untracked: u64,
    /// The callers with the most live bytes, most first.
    pub top: Vec<CallerTotal>,
}

/// Walks the table and ranks callers by live bytes. Allocates the report
/// with Rust's global allocator (the system heap, never a hooked function).
pub fn report(top_n: usize) -> Report {
    let mut report = Report { enabled: enabled(), untracked: UNTRACKED.load(Ordering::Relaxed), ..Report::default() };
    let Some(table) = table() else { return report };
    let mut totals: Vec<CallerTotal> = Vec::new();
    for i in 0..=table.mask {
        let slot = table.slot(i);
        let ptr = slot.ptr.load(Ordering::Acquire);
        if ptr == 0 || ptr == TOMBSTONE {
            continue;
        }
        let caller = slot.caller.load(Ordering::Acquire);
        let size = slot.size.load(Ordering::Relaxed) as u64;
        report.blocks += 1;
        report.bytes += size;
        match totals.binary_search_by_key(&caller, |t| t.caller) {
            Ok(at) => {
                totals[at].blocks += 1;
                totals[at].bytes += size;
            }
            Err(at) => totals.insert(at, CallerTotal { caller, blocks: 1, bytes: size }),
        }
    }
    totals.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then(a.caller.cmp(&b.caller)));
    totals.truncate(top_n);
    report.top = totals;
    report
}
