//! The passthrough backend: every call goes to the original function and is
//! counted (into the shared counters: no thread starts in passthrough).
//! Used when configured, and when the chosen backend cannot start.
//!
//! Bytes are measured with the original `_msize` where the runtime has one.

use core::ffi::c_void;

use crate::crt::{Originals, ENOMEM};
use crate::stats::Event;
use crate::thread;

fn size_of(crt: &Originals, p: *mut c_void) -> usize {
    // SAFETY: `p` is a live block of this runtime (callers' contracts).
    unsafe { crt.size_of(p) }.unwrap_or(0)
}

fn allocated(crt: &Originals, requested: usize, p: *mut c_void) -> *mut c_void {
    // Larger requests are in the histogram's last class all the same.
    let requested = requested.min(crate::alloc::MAX_REQUEST);
    thread::count(if p.is_null() { Event::Failed } else { Event::Allocated { requested, usable: size_of(crt, p) } });
    p
}

fn missing(crt: &Originals) -> *mut c_void {
    crt.set_errno(ENOMEM);
    core::ptr::null_mut()
}

pub fn malloc(crt: &Originals, size: usize) -> *mut c_void {
    match crt.malloc() {
        // SAFETY: the original malloc.
        Some(f) => allocated(crt, size, unsafe { f(size) }),
        None => missing(crt),
    }
}

pub fn calloc(crt: &Originals, count: usize, size: usize) -> *mut c_void {
    match crt.calloc() {
        // SAFETY: the original calloc.
        Some(f) => allocated(crt, count.saturating_mul(size), unsafe { f(count, size) }),
        None => missing(crt),
    }
}

/// # Safety
/// `p` is a live, non-null block of this runtime's `malloc` family.
pub unsafe fn free(crt: &Originals, p: *mut c_void) {
    thread::count(Event::Freed { usable: size_of(crt, p) });
    if let Some(f) = crt.free() {
        // SAFETY: forwarded contract.
        unsafe { f(p) }
    }
}

/// # Safety
/// As for [`free`].
pub unsafe fn realloc(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    let old = size_of(crt, p);
    match crt.realloc() {
        Some(f) => {
            // SAFETY: forwarded contract.
            let q = unsafe { f(p, size) };
            if !q.is_null() {
                thread::count(Event::Freed { usable: old });
            }
            allocated(crt, size, q)
        }
        None => missing(crt),
    }
}

/// # Safety
/// As for [`free`].
pub unsafe fn recalloc(crt: &Originals, p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let old = size_of(crt, p);
    match crt.recalloc() {
        Some(f) => {
            // SAFETY: forwarded contract.
            let q = unsafe { f(p, count, size) };
            if !q.is_null() {
                thread::count(Event::Freed { usable: old });
            }
            allocated(crt, count.saturating_mul(size), q)
        }
        // A runtime without `_recalloc` (msvcrt.dll): compose it from the
        // originals it has, as its callers would see it.
        None => match (crt.realloc(), count.checked_mul(size)) {
            (Some(f), Some(total)) if crt.msize().is_some() => {
                // SAFETY: forwarded contract; the grown part is zeroed.
                let q = unsafe { f(p, total) };
                if !q.is_null() {
                    if total > old {
                        // SAFETY: the block has `total` bytes, `old` of them kept.
                        unsafe { core::ptr::write_bytes(q.cast::<u8>().add(old), 0, total - old) };
                    }
                    thread::count(Event::Freed { usable: old });
                }
                allocated(crt, total, q)
            }
            _ => missing(crt),
        },
    }
}

pub fn aligned_malloc(crt: &Originals, size: usize, align: usize) -> *mut c_void {
    match crt.aligned_malloc() {
        Some(f) => {
            // SAFETY: the original _aligned_malloc.
            let p = unsafe { f(size, align) };
            // Aligned blocks are counted by number; their bytes as 0 both
            // ways, since `_aligned_msize` needs the caller's alignment.
            thread::count(if p.is_null() {
                Event::Failed
            } else {
                Event::Allocated { requested: size.min(crate::alloc::MAX_REQUEST), usable: 0 }
            });
            p
        }
        None => missing(crt),
    }
}

/// # Safety
/// `p` is a live, non-null block of this runtime's `_aligned_*` family.
pub unsafe fn aligned_free(crt: &Originals, p: *mut c_void) {
    thread::count(Event::Freed { usable: 0 });
    if let Some(f) = crt.aligned_free() {
        // SAFETY: forwarded contract.
        unsafe { f(p) }
    }
}
