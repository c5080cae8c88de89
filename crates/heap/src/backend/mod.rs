//! The allocator behind the heap, chosen once at start-up.
//!
//! A backend answers five questions: allocate (optionally aligned), free,
//! usable size, resize, and "is this yours?" ([`Engine`]). The active one is a
//! byte read once per call of the family, whose hot paths are monomorphised
//! per engine: dispatch costs one predictable branch.
//!
//! rpmalloc with guard pages (`crate::guard`) is a backend of its own,
//! [`Active::Guarded`], so that the checks it needs cost the other backends
//! nothing: its engine, [`Gd`], tells the pool's blocks from rpmalloc's by
//! their granule's owner.
//!
//! Until [`start`] succeeds the active backend is [`Active::Passthrough`], in
//! which nothing is owned and every call goes to the original functions.

mod mimalloc;
mod record;
pub(crate) mod rpmalloc;

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::config::{Backend, Config};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Active {
    Passthrough = 0,
    Rpmalloc = 1,
    Mimalloc = 2,
    Guarded = 3,
}

static ACTIVE: AtomicU8 = AtomicU8::new(Active::Passthrough as u8);

/// The backend serving allocations now.
#[inline(always)]
pub fn active() -> Active {
    match ACTIVE.load(Ordering::Relaxed) {
        1 => Active::Rpmalloc,
        2 => Active::Mimalloc,
        3 => Active::Guarded,
        _ => Active::Passthrough,
    }
}

/// Why a backend did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The backend's initialisation reported failure.
    Failed(&'static str),
    /// A backend is already running: the choice is made once per process.
    AlreadyStarted(Backend),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Failed(why) => f.write_str(why),
            StartError::AlreadyStarted(backend) => write!(f, "{} already runs", backend.name()),
        }
    }
}

/// Starts the configured backend and makes it the active one.
pub fn start(config: &Config) -> Result<Backend, StartError> {
    if active() != Active::Passthrough {
        return Err(StartError::AlreadyStarted(current_backend()));
    }
    #[cfg(feature = "fault-injection")]
    if crate::fault::take_start_failure() {
        return Err(StartError::Failed("start-up failure injected"));
    }
    let chosen = match config.backend {
        Backend::Rpmalloc => rpmalloc::start(config).map(|()| Active::Rpmalloc)?,
        Backend::Mimalloc => mimalloc::start().map(|()| Active::Mimalloc)?,
        Backend::Passthrough => Active::Passthrough,
    };
    ACTIVE.store(chosen as u8, Ordering::Release);
    Ok(config.backend)
}

/// Starts guard pages over a running rpmalloc and makes them active. The
/// heap keeps serving unguarded if the pool cannot be had.
pub fn start_guard(config: &crate::guard::GuardConfig) -> Result<crate::guard::Layout, &'static str> {
    if active() != Active::Rpmalloc {
        return Err("guard pages need the rpmalloc backend");
    }
    let layout = crate::guard::start(config)?;
    ACTIVE.store(Active::Guarded as u8, Ordering::Release);
    Ok(layout)
}

/// The backend as configuration names it.
pub fn current_backend() -> Backend {
    match active() {
        Active::Rpmalloc | Active::Guarded => Backend::Rpmalloc,
        Active::Mimalloc => Backend::Mimalloc,
        Active::Passthrough => Backend::Passthrough,
    }
}

/// Whether the active backend allocated `p`.
#[inline(always)]
pub fn owns(p: *const u8) -> bool {
    match active() {
        Active::Rpmalloc => rpmalloc::owns(p),
        Active::Mimalloc => mimalloc::owns(p),
        Active::Guarded => crate::owner::contains(p),
        Active::Passthrough => false,
    }
}

/// Starts the calling thread's backend heap: the handle the thread passes
/// to [`Engine::alloc`] (never null: a backend that finds its heaps itself
/// gives one it does not use), or `None` if no heap can be had now.
/// Passthrough starts no heap: its calls only count.
pub fn thread_start() -> Option<*mut c_void> {
    match active() {
        Active::Rpmalloc | Active::Guarded => rpmalloc::thread_start(),
        Active::Mimalloc => mimalloc::thread_start(),
        Active::Passthrough => None,
    }
}

/// Ends the calling thread's backend heap, `heap` as [`thread_start`] gave it.
pub fn thread_finish(heap: *mut c_void) {
    match active() {
        Active::Rpmalloc | Active::Guarded => rpmalloc::thread_finish(heap),
        Active::Mimalloc => mimalloc::thread_finish(),
        Active::Passthrough => {}
    }
}

/// The size class of a block of rpmalloc's (see `crate::delay`).
pub fn rpmalloc_block_class(p: *const u8) -> u32 {
    rpmalloc::block_class(p)
}

/// The size class of rpmalloc's a request of `size` bytes comes from.
pub fn rpmalloc_request_class(size: usize) -> u32 {
    rpmalloc::request_class(size)
}

/// Trims the backend's caches from any thread (see `crate::trim`); nothing
/// for the backends without trimmable caches.
pub fn trim(release: bool) {
    match active() {
        Active::Rpmalloc | Active::Guarded => rpmalloc::trim(release),
        Active::Mimalloc | Active::Passthrough => {}
    }
}

/// Trims the calling thread's own backend heap, `heap` as [`thread_start`]
/// gave it.
pub fn trim_own(heap: *mut c_void, release: bool) {
    match active() {
        Active::Rpmalloc | Active::Guarded => rpmalloc::trim_own(heap, release),
        Active::Mimalloc | Active::Passthrough => {}
    }
}

/// Bytes the backend caches for reuse, where it says (rpmalloc's global
/// cache); 0 otherwise.
pub fn cached() -> usize {
    match active() {
        Active::Rpmalloc | Active::Guarded => rpmalloc::cached(),
        Active::Mimalloc | Active::Passthrough => 0,
    }
}

/// One backend's operations, for code monomorphised per backend: the family's
/// hot paths read [`active`] once and then call the backend directly.
pub trait Engine {
    /// Whether the game heap's frees of the backend's blocks may be delayed
    /// (see `crate::delay`, which keeps rpmalloc's blocks alone).
    const DELAYS: bool = false;
    /// Whether the backend allocated `p`.
    fn owns(p: *const u8) -> bool;
    /// `size` bytes from the calling thread's `heap` (see [`thread_start`]):
    /// `align == 0` for `malloc`'s alignment (at least 8), or a power of
    /// two. Null when the backend cannot serve it.
    fn alloc(heap: *mut c_void, size: usize, align: usize) -> *mut u8;
    /// Frees a block [`Engine::owns`] said is ours.
    fn free(p: *mut u8);
    /// Usable bytes of a block of ours, from `p` to the block's end.
    fn usable_size(p: *const u8) -> usize;
    /// A block the calling thread's heap just handed out for `size` bytes
    /// aligned to `align`, asked of [`Engine::alloc`] as `capacity` bytes (at
    /// least `size`), nothing in it written yet: after this its request is
    /// recorded, or the bytes past `size` read as zero (see `alloc.rs`).
    fn settle(p: *mut u8, size: usize, capacity: usize, align: usize) -> Settled;
    /// A block of ours resized in place to `size` bytes, at most its usable
    /// size, from any thread: as [`Engine::settle`]; `None` if the block
    /// cannot hold `size` in place (the caller moves it).
    fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled>;
    /// The bytes statistics count for a block of ours ([`Settled::counted`]).
    fn counted_size(p: *const u8) -> usize;
    /// The request recorded by [`Engine::settle`] or
    /// [`Engine::settle_in_place`], if they recorded one.
    fn recorded_request(p: *const u8) -> Option<usize>;
    /// Whether a block growing to `size` bytes may be given room to grow
    /// further (see `alloc::grown_capacity`), rather than exactly `size`.
    #[inline(always)]
    fn room_to_grow(_size: usize) -> bool {
        true
    }
}

/// What [`Engine::settle`] found of a block just handed out or resized.
#[derive(Clone, Copy)]
pub struct Settled {
    /// Its usable size, from the pointer to the block's end.
    pub usable: usize,
    /// The bytes statistics count for it, the same when it is allocated and
    /// when it is freed ([`Engine::counted_size`]): its usable size, except
    /// that a small or medium rpmalloc block counts its whole block (for an
    /// aligned one handed out past its start, the bytes before it too). So
    /// a free reads one field of the block's metadata.
    pub counted: usize,
    /// Whether the request is recorded (then the slack may hold anything);
    /// otherwise the bytes past the request read as zero. See `alloc.rs`.
    pub recorded: bool,
}

/// rpmalloc as an [`Engine`].
pub struct Rp;
/// mimalloc as an [`Engine`].
pub struct Mi;

macro_rules! engine {
    ($ty:ty, $module:ident, $delays:expr) => {
        impl Engine for $ty {
            const DELAYS: bool = $delays;
            #[inline(always)]
            fn owns(p: *const u8) -> bool {
                $module::owns(p)
            }
            #[inline(always)]
            fn alloc(heap: *mut c_void, size: usize, align: usize) -> *mut u8 {
                #[cfg(feature = "fault-injection")]
                if crate::fault::take_alloc_failure() {
                    return core::ptr::null_mut();
                }
                $module::alloc(heap, size, align)
            }
            #[inline(always)]
            fn free(p: *mut u8) {
                $module::free(p)
            }
            #[inline(always)]
            fn usable_size(p: *const u8) -> usize {
                $module::usable_size(p)
            }
            #[inline(always)]
            fn settle(p: *mut u8, size: usize, capacity: usize, align: usize) -> Settled {
                $module::settle(p, size, capacity, align)
            }
            #[inline]
            fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled> {
                $module::settle_in_place(p, size)
            }
            #[inline(always)]
            fn counted_size(p: *const u8) -> usize {
                $module::counted_size(p)
            }
            #[inline]
            fn recorded_request(p: *const u8) -> Option<usize> {
                $module::recorded_request(p)
            }
        }
    };
}

engine!(Rp, rpmalloc, true);
engine!(Mi, mimalloc, false);

/// rpmalloc with guard pages as an [`Engine`]: requests the pool takes are
/// guarded, the rest are rpmalloc's; every block is told apart by its
/// granule's owner.
pub struct Gd;

#[inline]
fn guarded(p: *const u8) -> bool {
    crate::guard::contains(p)
}

impl Engine for Gd {
    fn owns(p: *const u8) -> bool {
        crate::owner::contains(p)
    }
    fn alloc(heap: *mut c_void, size: usize, align: usize) -> *mut u8 {
        // `_aligned_*` blocks are left unguarded.
        if align == 0 {
            let p = crate::guard::alloc(size);
            if !p.is_null() {
                return p;
            }
        }
        Rp::alloc(heap, size, align)
    }
    fn free(p: *mut u8) {
        if guarded(p) {
            crate::guard::free(p)
        } else {
            Rp::free(p)
        }
    }
    fn usable_size(p: *const u8) -> usize {
        if guarded(p) {
            crate::guard::usable_size(p)
        } else {
            Rp::usable_size(p)
        }
    }
    fn settle(p: *mut u8, size: usize, capacity: usize, align: usize) -> Settled {
        if guarded(p) {
            let usable = crate::guard::usable_size(p);
            Settled { usable, counted: usable, recorded: true }
        } else {
            Rp::settle(p, size, capacity, align)
        }
    }
    fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled> {
        if !guarded(p) {
            return Rp::settle_in_place(p, size);
        }
        let usable = crate::guard::usable_size(p);
        crate::guard::resize_in_place(p, size).then_some(Settled { usable, counted: usable, recorded: true })
    }
    fn counted_size(p: *const u8) -> usize {
        if guarded(p) {
            crate::guard::usable_size(p)
        } else {
            Rp::counted_size(p)
        }
    }
    fn recorded_request(p: *const u8) -> Option<usize> {
        if guarded(p) {
            Some(crate::guard::request(p))
        } else {
            Rp::recorded_request(p)
        }
    }
    fn room_to_grow(size: usize) -> bool {
        !crate::guard::takes(size)
    }
}
