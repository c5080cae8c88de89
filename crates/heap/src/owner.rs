//! Ownership: did our heap allocate this pointer?
//!
//! Every backend mapping is granule-aligned (see [`crate::os`]) and covers
//! whole granules, so a map of granules answers the question exactly, in
//! constant time and without a lock. The backend marks a mapping's granules
//! before it hands out a block from it and clears them when it releases the
//! mapping; a pointer into a granule that is not marked was allocated by
//! someone else (the game heap, a C runtime before the hook, another process
//! component), and goes back to that allocator.
//!
//! - 32-bit: one flat map, one byte per 64 KiB granule of the 4 GiB address
//!   space: 64 KiB, zero-initialised in the image (untouched pages cost no
//!   memory).
//! - 64-bit: a two-level table over the 48-bit address space. The top level
//!   has one pointer per 4 GiB; a leaf is the 64 KiB map of that 4 GiB,
//!   mapped from the OS on first use and never freed.
//!
//! A byte rather than a bit per granule: the check every `free` makes is one
//! shift and one byte compare (a bit costs two more shifts and a bit test),
//! and marking needs no read-modify-write, since no two granules share a byte.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::os::GRANULE;

const GRANULE_SHIFT: u32 = GRANULE.trailing_zeros();

/// Entries in one leaf: the granules of 4 GiB.
const LEAF_ENTRIES: usize = 1 << (32 - GRANULE_SHIFT);

type Leaf = [AtomicU8; LEAF_ENTRIES];

#[cfg(target_pointer_width = "32")]
mod table {
    use super::*;

    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU8 = AtomicU8::new(0);
    static MAP: Leaf = [ZERO; LEAF_ENTRIES];

    #[inline(always)]
    pub fn leaf(_addr: usize) -> Option<&'static Leaf> {
        Some(&MAP)
    }

    pub fn leaf_or_create(_addr: usize) -> Option<&'static Leaf> {
        Some(&MAP)
    }
}

#[cfg(target_pointer_width = "64")]
mod table {
    use super::*;
    use core::sync::atomic::AtomicPtr;

    /// User address space covered: 48 bits (x86-64 and AArch64 user space).
    const TOP_ENTRIES: usize = 1 << (48 - 32);

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: AtomicPtr<Leaf> = AtomicPtr::new(core::ptr::null_mut());
    static TOP: [AtomicPtr<Leaf>; TOP_ENTRIES] = [EMPTY; TOP_ENTRIES];

    #[inline(always)]
    pub fn leaf(addr: usize) -> Option<&'static Leaf> {
        let slot = TOP.get(addr >> 32)?;
        // SAFETY: a non-null entry points at a leaf mapped for the life of the
        // process, published with Release below.
        unsafe { slot.load(Ordering::Acquire).as_ref() }
    }

    pub fn leaf_or_create(addr: usize) -> Option<&'static Leaf> {
        let slot = TOP.get(addr >> 32)?;
        if let Some(leaf) = leaf(addr) {
            return Some(leaf);
        }
        let fresh = crate::os::map_forever(core::mem::size_of::<Leaf>()).cast::<Leaf>();
        if fresh.is_null() {
            return None;
        }
        match slot.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: zeroed memory is a valid array of atomics; it is never freed.
            Ok(_) => Some(unsafe { &*fresh }),
            // Another thread won the race; its leaf is the one. Ours stays
            // mapped (one 64 KiB mapping lost, at most once per 4 GiB).
            // SAFETY: as above, for the winner's leaf.
            Err(winner) => Some(unsafe { &*winner }),
        }
    }
}

/// The entry of `addr`'s granule in its leaf.
#[inline(always)]
fn entry(leaf: &Leaf, addr: usize) -> &AtomicU8 {
    &leaf[(addr >> GRANULE_SHIFT) & (LEAF_ENTRIES - 1)]
}

/// Whose granules: rpmalloc's mapper marks its own with [`RPMALLOC`], the
/// guarded pool (`crate::guard`) its reservation with [`GUARDED`]. The
/// family's fast path compares with [`RPMALLOC`], as cheap as a test for
/// zero, so that the guarded pool costs it nothing.
pub type Owner = u8;
/// Granules of rpmalloc's spans.
pub const RPMALLOC: Owner = 1;
/// Granules of the guarded pool.
pub const GUARDED: Owner = 2;

/// The owner of `ptr`'s granule, 0 if it is not the heap's. Wait-free: one
/// load on 32-bit, two on 64-bit.
#[inline(always)]
pub fn owner_of(ptr: *const u8) -> Owner {
    let addr = ptr as usize;
    let Some(leaf) = table::leaf(addr) else { return 0 };
    entry(leaf, addr).load(Ordering::Acquire)
}

/// Whether `ptr` lies in a granule the heap has mapped. Wait-free: one load
/// on 32-bit, two on 64-bit.
#[inline(always)]
pub fn contains(ptr: *const u8) -> bool {
    let addr = ptr as usize;
    let Some(leaf) = table::leaf(addr) else { return false };
    entry(leaf, addr).load(Ordering::Acquire) != 0
}

/// Marks the granules of `base .. base + len` as `owner`'s (not 0). `base`
/// is granule-aligned. Returns false (marking nothing) if a leaf could not be
/// mapped; the caller then must not hand out memory from the range.
pub fn mark(base: *const u8, len: usize, owner: Owner) -> bool {
    let granules = granules(base, len);
    // Create every leaf first, so that failure leaves nothing half-marked.
    for addr in granules.clone() {
        if table::leaf_or_create(addr).is_none() {
            return false;
        }
    }
    for addr in granules {
        if let Some(leaf) = table::leaf(addr) {
            entry(leaf, addr).store(owner, Ordering::Release);
        }
    }
    true
}

/// Clears the granules of `base .. base + len`, which the heap is giving back.
pub fn unmark(base: *const u8, len: usize) {
    for addr in granules(base, len) {
        if let Some(leaf) = table::leaf(addr) {
            entry(leaf, addr).store(0, Ordering::Release);
        }
    }
}

/// The granule start addresses of `base .. base + len`.
fn granules(base: *const u8, len: usize) -> impl Iterator<Item = usize> + Clone {
    let first = base as usize & !(GRANULE - 1);
    let count = crate::os::granule_round(len).unwrap_or(usize::MAX & !(GRANULE - 1)) >> GRANULE_SHIFT;
    (0..count).map(move |i| first.wrapping_add(i << GRANULE_SHIFT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_whole_granules_and_nothing_else() {
        let region = crate::os::map(3 * GRANULE).unwrap();
        let base = region.base;
        // The neighbours may be the heap's own (other tests start it): they
        // must only stay as they were.
        let below = base.wrapping_sub(1);
        let above = base.wrapping_add(3 * GRANULE);
        let (below_before, above_before) = (contains(below), contains(above));
        assert!(!contains(base));
        assert!(mark(base, 2 * GRANULE + 1, GUARDED));
        assert_eq!(owner_of(base.wrapping_add(GRANULE)), GUARDED);
        for offset in [0, 1, GRANULE - 1, GRANULE, 2 * GRANULE, 3 * GRANULE - 1] {
            assert!(contains(base.wrapping_add(offset)), "offset {offset:#x}");
        }
        assert_eq!((contains(below), contains(above)), (below_before, above_before));
        unmark(base, 2 * GRANULE + 1);
        assert!(!contains(base));
        assert!(!contains(base.wrapping_add(2 * GRANULE)));
        assert_eq!((contains(below), contains(above)), (below_before, above_before));
        // SAFETY: the test is done with its region.
        unsafe { crate::os::release(region, 3 * GRANULE) };
    }

    #[test]
    fn null_and_extreme_addresses_are_not_ours() {
        assert!(!contains(core::ptr::null()));
        assert!(!contains(usize::MAX as *const u8));
    }
}
