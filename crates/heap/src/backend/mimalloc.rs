//! mimalloc, through `libmimalloc-sys`.
//!
//! mimalloc keeps its own map of the pages it owns; `mi_is_in_heap_region`
//! reads it in constant time without a lock, so ownership needs no help from
//! [`crate::owner`].

use core::ffi::c_void;

use libmimalloc_sys as mi;

use super::{record, Settled, StartError};

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
    // A byte more for the request's record (see `settle`).
    let size = size.saturating_add(1);
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

/// A fresh block: its request recorded in its tail (see `record`; `alloc`
/// asked for a byte more).
#[inline(always)]
pub fn settle(p: *mut u8, size: usize, _capacity: usize, _align: usize) -> Settled {
    let usable = usable_size(p);
    // SAFETY: a fresh block of `usable` bytes, `size < usable`.
    unsafe { record::write_tail(p, size, usable, true) };
    Settled { usable, counted: usable, recorded: true }
}

/// A block resized in place: its request recorded again; `None` if no byte
/// is left for the record.
pub fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled> {
    let usable = usable_size(p);
    if size >= usable {
        return None;
    }
    // SAFETY: `size < usable`; what lies past `size` is given up (a shrink)
    // or not the caller's yet (a growth within the slack).
    unsafe { record::write_tail(p, size, usable, false) };
    Some(Settled { usable, counted: usable, recorded: true })
}

/// Statistics count a block's usable size.
#[inline(always)]
pub fn counted_size(p: *const u8) -> usize {
    usable_size(p)
}

/// The request a block's tail records, if it validates (else counted, and
/// the caller answers the usable size).
pub fn recorded_request(p: *const u8) -> Option<usize> {
    // SAFETY: a live block of ours, `usable` bytes readable.
    let recorded = unsafe { record::read_tail(p, usable_size(p)) };
    if recorded.is_none() {
        crate::thread::count(crate::stats::Event::BadRecord);
    }
    recorded
}

/// What [`thread_start`] hands out: mimalloc finds each thread's heap
/// itself, and [`alloc`] never reads the handle; it only has to be non-null,
/// which says that the thread started (see `crate::thread`).
static STARTED: u8 = 0;

pub fn thread_start() -> Option<*mut c_void> {
    // SAFETY: idempotent per thread.
    unsafe { mi::mi_thread_init() };
    Some((&raw const STARTED).cast_mut().cast())
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
