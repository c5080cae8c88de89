//! The allocator core of MemoryPoolNVSE.
//!
//! The C runtime's allocation family (`malloc`, `free`, `calloc`, `realloc`,
//! `_msize`, `_expand`, `_recalloc`, `_aligned_*`) with MSVC's semantics,
//! served by rpmalloc (or mimalloc), safe with pointers it did not allocate,
//! from any thread, with statistics and optional leak tracking. Nothing here
//! is specific to Fallout or to hooking: the hooks call these functions with
//! the [`Originals`] of the C runtime they replace.
//!
//! | file | concern |
//! |---|---|
//! | [`alloc`] | the family's semantics: sizes, zeroing, errno, foreign pointers, fallback |
//! | `backend/` | rpmalloc, mimalloc, passthrough behind one dispatch |
//! | [`owner`] | "is this pointer ours?" in O(1), lock-free |
//! | [`guard`] | guard pages: blocks ending at an inaccessible page, freed ones quarantined |
//! | [`thread`] | per-thread state, lazy start, exit |
//! | [`stats`] | counters, summed on demand |
//! | [`csv`] | the statistics as CSV lines |
//! | [`leaks`] | live-block table and caller report |
//! | [`os`] | memory straight from the OS, for the heap's own use |
//! | [`trim`] | giving address space back, from outside the allocation path |
//! | [`oom`] | when the OS refuses memory: caches released, the emergency reserve, reports |
//! | [`delay`] | blocks the game heap frees, kept unchanged for a few frames before reuse |
//! | [`locate`] | what the heap knows of an address, for the note written at a crash |
//! | [`crt`] | the family's signatures and each runtime's originals |
//!
//! # Re-entrancy
//! No function here allocates through `malloc`, takes a lock, or logs: the
//! heap's own memory comes from [`os`], and the only waits are rpmalloc's
//! internal spin on its global span cache and, with guard pages on, the
//! guarded pool's own spin lock.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod alloc;
mod backend;
pub mod config;
pub mod crt;
pub mod csv;
pub mod delay;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod guard;
pub mod leaks;
pub mod locate;
pub mod oom;
pub mod os;
pub mod owner;
mod passthrough;
mod spin;
pub mod stats;
pub mod thread;
pub mod trim;

pub use alloc::{
    aligned_free, aligned_malloc, aligned_msize, aligned_realloc, calloc, expand, free, free_delayed_or_else, malloc,
    malloc_delayed_or_else, malloc_or_else, msize, realloc, realloc_or_else, recalloc,
};
pub use backend::StartError;
pub use config::{Backend, Config};
pub use crt::{Function, Originals};
pub use delay::Delay;
pub use guard::GuardConfig;
pub use stats::{snapshot as stats, Snapshot};
pub use thread::thread_exit;

/// The version of rpmalloc the heap is built with.
pub const RPMALLOC_VERSION: &str = rpmalloc_sys::VERSION;

/// What [`init`] started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    /// The backend now serving allocations.
    pub backend: Backend,
    /// Whether leak tracking is on (it may have been asked for and not
    /// started, if its table could not be mapped).
    pub tracking_leaks: bool,
    /// Guard pages: off, on with this layout, or asked for and not started.
    pub guard: Guarding,
    /// Whether the emergency reserve is set aside (see [`oom`]); false when
    /// none was asked for, or its address space could not be had.
    pub emergency_reserve: bool,
    /// The delay in force for frees through [`free_delayed_or_else`] (off unless
    /// rpmalloc serves unguarded).
    pub free_delay: Delay,
}

/// Whether guard pages were started, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarding {
    /// Not asked for.
    Off,
    /// On, laid out so.
    On(guard::Layout),
    /// Asked for, not started, for this reason; the heap runs unguarded.
    Failed(&'static str),
}

/// Starts the heap with `config`. Call once, before any hook points at the
/// family. On error the heap stays in passthrough: every call goes to the
/// original functions, and is counted.
pub fn init(config: &Config) -> Result<Started, StartError> {
    if !thread::init() {
        return Err(StartError::Failed("no thread-local storage slot is left (TlsAlloc failed)"));
    }
    let backend = backend::start(config)?;
    let emergency_reserve = match backend {
        Backend::Passthrough => false,
        _ => oom::start(config.emergency_reserve, config.on_exhausted) && config.emergency_reserve > 0,
    };
    let tracking_leaks = config.track_leaks && leaks::start(config.leak_capacity, config.caller);
    let guard = match config.guard.enabled {
        false => Guarding::Off,
        true => backend::start_guard(&config.guard).map_or_else(Guarding::Failed, Guarding::On),
    };
    // Only rpmalloc's blocks are delayed; guard pages keep freed blocks
    // inaccessible instead.
    let delaying = backend::active() == backend::Active::Rpmalloc;
    let free_delay = if delaying { config.free_delay } else { Delay::OFF };
    delay::start(free_delay);
    Ok(Started { backend, tracking_leaks, guard, emergency_reserve, free_delay })
}

/// The backend serving allocations now (passthrough before [`init`]).
pub fn backend() -> Backend {
    backend::current_backend()
}

/// Whether the heap allocated `p` (and has not released its memory).
pub fn owns(p: *const core::ffi::c_void) -> bool {
    backend::owns(p.cast())
}
