//! mimalloc, through `libmimalloc-sys`.
//!
//! mimalloc keeps its own map of the pages it owns; `mi_is_in_heap_region`
//! reads it in constant time without a lock, so ownership needs no help from
//! [`crate::owner`].

use core::ffi::c_void;

use libmimalloc_sys as mi;

use super::{Settled, StartError};

pub fn start() -> Result<(), StartError> {
    // SAFETY: idempotent process initialisation.
    unsafe { mi::mi_process_init() };
    Ok(())
}

#[inline(always)]
pub fn owns(p: *const u8) -> bool {
    // SAFETY: a query on any address; mimalloc checks it against its page map.
    unsafe { mi::mi_is_in_heap_region(p.cast()) }
}

#[inline(always)]
pub fn alloc(_heap: *mut c_void, size: usize, align: usize) -> *mut u8 {
    // SAFETY: plain allocation calls; `align` is a power of two.
    unsafe {
        // mimalloc aligns small blocks to their size only (8 for 8 bytes).
        if align == 0 {
            mi::mi_malloc(size).cast()
        } else {
            mi::mi_malloc_aligned(size, align).cast()
        }
    }
}

#[inline(always)]
pub fn free(p: *mut u8) {
    // SAFETY: `p` is a live block of ours (checked by the caller).
    unsafe { mi::mi_free(p.cast()) }
}

#[inline(always)]
pub fn usable_size(p: *const u8) -> usize {
    // SAFETY: `p` is a live block of ours (checked by the caller).
    unsafe { mi::mi_usable_size(p.cast::<c_void>()) }
}

/// A block just handed out: its usable size. mimalloc blocks have no room
/// for a recorded request; their slack is zeroed instead.
#[inline(always)]
pub fn settle(p: *mut u8, size: usize, _capacity: usize, _align: usize) -> Settled {
    let usable = usable_size(p);
    // SAFETY: a fresh block of `usable` bytes, nothing in it written yet.
    unsafe { zero_slack(p, size, usable) };
    Settled { usable, counted: usable, recorded: false }
}

/// A block resized in place: its slack zeroed.
pub fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled> {
    let usable = usable_size(p);
    // SAFETY: `size .. usable` lies in the block; what lies there is given up
    // (a shrink) or already zero (a growth within the slack).
    unsafe { core::ptr::write_bytes(p.add(size), 0, usable - size) };
    Some(Settled { usable, counted: usable, recorded: false })
}

/// Zeroes `p[size..usable]` of a fresh block. Most slack is under 16 bytes
/// (small size classes step by 8 or 16): one 16-byte store ending at the
/// block's end covers it, and whatever it overwrites before `size` is still
/// uninitialised.
///
/// # Safety
/// `p` is a fresh block of `usable` bytes, nothing in it written yet, and
/// `size <= usable`.
#[inline(always)]
unsafe fn zero_slack(p: *mut u8, size: usize, usable: usize) {
    let slack = usable - size;
    if slack <= 16 && usable >= 16 {
        // SAFETY: `usable - 16 .. usable` lies in the block.
        unsafe { p.add(usable - 16).cast::<[u8; 16]>().write_unaligned([0; 16]) };
    } else {
        // SAFETY: `size .. usable` lies in the block.
        unsafe { core::ptr::write_bytes(p.add(size), 0, slack) };
    }
}

/// Statistics count a block's usable size.
#[inline(always)]
pub fn counted_size(p: *const u8) -> usize {
    usable_size(p)
}

pub fn recorded_request(_p: *const u8) -> Option<usize> {
    None
}

/// mimalloc keeps each thread's heap itself: no handle.
pub fn thread_start() -> Option<*mut c_void> {
    // SAFETY: idempotent per thread.
    unsafe { mi::mi_thread_init() };
    Some(core::ptr::null_mut())
}

pub fn thread_finish() {
    // On Windows mimalloc ends its thread heaps itself, from a fiber-local
    // storage callback (and starts a thread again if it allocates after
    // that). `mi_thread_done` cannot be called at DLL_THREAD_DETACH: MinGW
    // frees the emulated TLS holding mimalloc's default-heap variable in
    // the DLL's TLS callback, which runs before DllMain.
    #[cfg(not(windows))]
    // SAFETY: releases the calling thread's heap; a later call on the thread
    // starts a new one.
    unsafe {
        mi::mi_thread_done()
    }
}
