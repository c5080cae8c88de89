//! Giving address space back, from outside the allocation path.
//!
//! rpmalloc keeps the spans it frees for reuse. Built with its patch 4
//! (`crates/rpmalloc-sys/rpmalloc/README.md`), a thread keeps only a few of
//! its own and hands the rest to a global cache of bounded size, and any
//! thread may trim: every heap's unused spans go to the global cache, which
//! gives the OS what stayed idle since the last trim. Nothing here runs on
//! the allocation path but [`on_publish`], one comparison on a thread's
//! statistics publication.
//!
//! - [`tick`], called by the embedder every second or so from a thread of
//!   its own, trims; a span freed and not used again goes back to the OS
//!   within two ticks.
//! - Only a thread can see which of its partially used spans other threads
//!   have emptied since: each tick asks every thread to look, which it does
//!   when it next publishes its statistics (every few hundred operations; a
//!   thread that makes none keeps them until it does).
//! - [`release_all`], after a mapping failed, gives back everything cached
//!   at once, from every thread's heap whose owner is not changing its
//!   caches at that moment, without waiting for any.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::{backend, thread};

/// Ticks so far: a thread whose last look is older looks again.
static EPOCH: AtomicU32 = AtomicU32::new(0);

/// Trims the heap: call every second or so, from a thread that allocates
/// nothing through the heap itself at that moment (the embedder's own
/// maintenance thread).
pub fn tick() {
    EPOCH.fetch_add(1, Relaxed);
    backend::trim(false);
}

/// Gives back everything the heap caches, from the calling thread's own heap
/// and every other heap free at that moment: what an allocation that could
/// not be served does before it tries again.
pub fn release_all() {
    crate::delay::flush_all();
    if let Some(state) = thread::existing() {
        crate::delay::flush(state);
        backend::trim_own(state.heap(), true);
    }
    backend::trim(true);
}

/// Called by a thread that publishes its statistics, `seen` being its own
/// record of the last tick it looked at: if a tick came since, the thread
/// trims its own heap.
#[cold]
pub(crate) fn on_publish(seen: &AtomicU32) {
    let epoch = EPOCH.load(Relaxed);
    if seen.load(Relaxed) == epoch {
        return;
    }
    seen.store(epoch, Relaxed);
    if let Some(state) = thread::existing() {
        let _last_error = thread::PreserveLastError::new();
        crate::delay::expire(state);
        backend::trim_own(state.heap(), false);
    }
}
