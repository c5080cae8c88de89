//! Per-thread state: found through a thread-local pointer on every call,
//! taken lazily on a thread's first call, given back when the thread ends.
//!
//! Any thread may call at any moment: threads the game started before the
//! heap existed, threads nobody announces, threads that are ending. The
//! thread-local slot says which:
//!
//! | slot | meaning | an allocation | a free, a size |
//! |---|---|---|---|
//! | null | not started | starts it ([`slow_path`]) | takes a state without a heap ([`adopt`]) |
//! | a state, no heap | it only freed so far | starts its heap in that state | counted by the thread |
//! | a state with a heap | started | served by the thread's backend heap | counted by the thread |
//! | [`EXITED`] | its end was signalled ([`thread_exit`]) | goes to the original runtime | counts into [`stats::SHARED`] |
//!
//! Only an allocation starts a backend heap: a thread that merely frees or
//! asks a size (an engine thread freeing what another made) takes a state
//! for its counters alone, so that its frees cost plain stores rather than
//! locked additions to shared counters, and gives it back when it ends like
//! any other. A thread that frees after its end was signalled (another DLL's
//! `DLL_THREAD_DETACH`, after ours) counts into the shared counters and
//! leaves nothing behind. The hot path is one thread-local load, one
//! comparison, and for an allocation a test of the heap it reads anyway.
//!
//! States live in chunks mapped from the OS (never from `malloc`), on one
//! lock-free list that only grows; an ended thread's state is reused by the
//! next new thread, counters and all, so totals never lose a thread's work.
//!
//! [`stats::SHARED`]: crate::stats::SHARED

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use crate::stats::{Count as _, Counters, Event, SHARED};

/// What the heap keeps per thread. Cache-line aligned: neighbouring
/// threads' counters never share a line.
#[repr(align(64))]
pub struct ThreadState {
    /// This thread's statistics.
    pub counters: Counters,
    /// The thread's backend heap, as [`crate::backend::thread_start`] gave
    /// it; null until the thread allocates. Written by the owner only.
    heap: AtomicPtr<c_void>,
    /// How deep the thread is in fallbacks of failed requests (owner only;
    /// see [`Fallback`]).
    fallback_depth: AtomicU32,
    /// The thread's delayed frees (see `crate::delay`), mapped on its first;
    /// kept for the next thread that takes this state.
    pub(crate) delay: crate::delay::RingPtr,
    /// The OS's id of the thread that holds the state (for reports).
    os_thread: AtomicU32,
    in_use: AtomicBool,
    next: AtomicPtr<ThreadState>,
}

impl ThreadState {
    /// The OS's id of the thread that holds (or last held) the state.
    pub fn os_thread(&self) -> u32 {
        self.os_thread.load(Ordering::Relaxed)
    }

    /// The thread's backend heap.
    #[inline(always)]
    pub fn heap(&self) -> *mut c_void {
        self.heap.load(Ordering::Relaxed)
    }

    /// Whether the thread has a backend heap (it allocated): from any thread.
    pub fn started(&self) -> bool {
        !self.heap().is_null()
    }
}

/// While alive, the calling thread is inside the fallback of a request the
/// heap could not serve: the original allocator it called may call a hooked
/// function again, whose failure the outer request already went through
/// `crate::oom` for, and counts once. A thread without a state has nothing
/// to mark (its requests never reach the backend).
pub struct Fallback(Option<&'static ThreadState>);

impl Fallback {
    pub fn enter() -> Fallback {
        let state = existing();
        if let Some(state) = state {
            let depth = &state.fallback_depth;
            depth.store(depth.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        Fallback(state)
    }
}

impl Drop for Fallback {
    fn drop(&mut self) {
        if let Some(state) = self.0 {
            let depth = &state.fallback_depth;
            depth.store(depth.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        }
    }
}

/// Whether the calling thread is inside a fallback (see [`Fallback`]).
#[inline]
pub fn in_fallback() -> bool {
    existing().is_some_and(|state| state.fallback_depth.load(Ordering::Relaxed) > 0)
}

/// The calling thread's id, as the OS numbers it.
pub fn os_thread_id() -> u32 {
    #[cfg(windows)]
    {
        // SAFETY: a plain Win32 call.
        unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadId() }
    }
    #[cfg(unix)]
    {
        // SAFETY: a plain system call.
        (unsafe { libc::syscall(libc::SYS_gettid) }) as u32
    }
}

/// Keeps the thread's last-error code across the heap's own system calls.
pub(crate) use tls::PreserveLastError;

/// The slot value of a thread whose end was signalled. States are 64-byte
/// aligned and never at the bottom of the address space: no state is here.
const EXITED: usize = 1;

/// Every state ever made, newest first.
static STATES: AtomicPtr<ThreadState> = AtomicPtr::new(core::ptr::null_mut());

/// Bytes mapped at a time for new states.
const CHUNK: usize = 64 * 1024;

/// Prepares per-thread state for the heap; called once by [`crate::init`]
/// before anything can start a thread. False if the platform has no
/// thread-local slot to give: then no thread ever starts, and every call
/// goes to the original functions.
pub fn init() -> bool {
    #[cfg(feature = "fault-injection")]
    if crate::fault::take_tls_failure() {
        return false;
    }
    tls::init()
}

/// The calling thread's state with its backend heap, starting it if this is
/// the thread's first allocation. `None` if the thread has ended its use of
/// the heap, the heap has no thread-local slot, or the OS refused the memory
/// a new state or heap needs: the call then goes to the original runtime.
#[inline(always)]
pub fn current() -> Option<&'static ThreadState> {
    current_heap().map(|(state, _)| state)
}

/// [`current`], with the heap it read: the allocation path's, which passes
/// the heap on and so reads it once.
#[inline(always)]
pub fn current_heap() -> Option<(&'static ThreadState, *mut c_void)> {
    started().or_else(|| slow_path(tls::get()).map(|state| (state, state.heap())))
}

/// The calling thread's state and heap if it started one; never starts
/// anything. The allocation path's fast path: one thread-local load, a
/// comparison, and the heap's load and test.
#[inline(always)]
pub fn started() -> Option<(&'static ThreadState, *mut c_void)> {
    let slot = tls::get();
    if slot as usize > EXITED {
        // SAFETY: the slot holds a state, and states are never freed.
        let state = unsafe { &*slot };
        let heap = state.heap();
        if !heap.is_null() {
            return Some((state, heap));
        }
    }
    None
}

/// Whether the calling thread may start its heap: it has none, has not
/// ended its use of the heap, and the heap has its thread-local slot. Then
/// only a lack of memory keeps [`current`] from starting one.
pub fn startable() -> bool {
    if !tls::ready() {
        return false;
    }
    let slot = tls::get();
    // SAFETY: as in `current`.
    slot.is_null() || (slot as usize > EXITED && !unsafe { &*slot }.started())
}

/// The calling thread's state if it has one (with or without a heap);
/// never starts anything.
#[inline(always)]
pub fn existing() -> Option<&'static ThreadState> {
    let slot = tls::get();
    // SAFETY: as in `current`.
    (slot as usize > EXITED).then(|| unsafe { &*slot })
}

/// Counts `event` for the calling thread, into a state taken for it if it
/// has none yet ([`adopt`]), or into the shared counters once it has ended
/// its use of the heap; never starts a backend heap.
#[inline(always)]
pub fn count(event: Event) {
    match existing() {
        Some(state) => state.counters.record(event),
        None => count_unstarted(event),
    }
}

/// [`count`] of a block of `usable` bytes freed: the free path's, which
/// builds no [`Event`] unless the thread has no state yet.
#[inline(always)]
pub fn count_freed(usable: usize) {
    match existing() {
        Some(state) => state.counters.freed(usable),
        None => count_unstarted(Event::Freed { usable }),
    }
}

#[cold]
#[inline(never)]
fn count_unstarted(event: Event) {
    match adopt() {
        Some(state) => state.counters.record(event),
        None => SHARED.record(event),
    }
}

/// A state for a thread that has none and has not ended its use of the
/// heap, without a backend heap: its counters only, so that a thread that
/// only frees counts as cheaply as one that allocates, and gives it back at
/// its end as they do. `None` (the caller counts into the shared counters)
/// if the heap has no thread-local slot, the OS refused the memory, or the
/// thread's end could not be watched (natively: its thread-locals are being
/// destroyed), which would leave the state taken for good.
fn adopt() -> Option<&'static ThreadState> {
    if !tls::get().is_null() || !tls::ready() {
        return None;
    }
    let _last_error = tls::PreserveLastError::new();
    let state = claim()?;
    if !exit_guard::arm() {
        state.in_use.store(false, Ordering::Release);
        return None;
    }
    state.os_thread.store(os_thread_id(), Ordering::Relaxed);
    tls::set(state);
    Some(state)
}

/// The calling thread's state, with or without a backend heap, taking one
/// without a heap if it has none (see [`adopt`]); `None` if it has ended
/// its use of the heap or no state can be had.
pub fn with_state() -> Option<&'static ThreadState> {
    existing().or_else(adopt)
}

/// Starts the calling thread's backend heap, in the state it has (it only
/// freed so far) or in one it takes now.
#[cold]
#[inline(never)]
fn slow_path(slot: *const ThreadState) -> Option<&'static ThreadState> {
    if slot as usize == EXITED || !tls::ready() {
        return None;
    }
    let _last_error = tls::PreserveLastError::new();
    let heap = crate::backend::thread_start()?;
    if !slot.is_null() {
        // SAFETY: as in `current`: a state without a heap.
        let state = unsafe { &*slot };
        state.heap.store(heap, Ordering::Relaxed);
        return Some(state);
    }
    let Some(state) = claim() else {
        crate::backend::thread_finish(heap);
        return None;
    };
    state.heap.store(heap, Ordering::Relaxed);
    state.os_thread.store(os_thread_id(), Ordering::Relaxed);
    tls::set(state);
    exit_guard::arm();
    Some(state)
}

/// Ends the calling thread's use of the heap: its backend heap (if it
/// started one) goes back to the global caches, its state to the pool, and from now on its
/// allocations go to the original runtime (a thread that frees or allocates
/// while it ends, in another DLL's `DLL_THREAD_DETACH`, must not start
/// again: nothing would end it a second time). Call it when the thread ends;
/// safe to call more than once, and on a thread that never allocated.
pub fn thread_exit() {
    if !tls::ready() {
        return;
    }
    let _last_error = tls::PreserveLastError::new();
    let state = existing();
    tls::set(EXITED as *const ThreadState);
    if let Some(state) = state {
        crate::delay::flush(state);
        let heap = state.heap.swap(core::ptr::null_mut(), Ordering::Relaxed);
        if !heap.is_null() {
            crate::backend::thread_finish(heap);
        }
        state.counters.publish();
        state.in_use.store(false, Ordering::Release);
    }
}

/// Calls `f(state, in_use)` for every state there is.
pub fn for_each(mut f: impl FnMut(&ThreadState, bool)) {
    let mut p = STATES.load(Ordering::Acquire);
    // SAFETY: states are never freed, and `next` links were set before each
    // state was published with Release.
    while let Some(state) = unsafe { p.as_ref() } {
        f(state, state.in_use.load(Ordering::Relaxed));
        p = state.next.load(Ordering::Relaxed);
    }
}

fn claim() -> Option<&'static ThreadState> {
    loop {
        let mut p = STATES.load(Ordering::Acquire);
        // SAFETY: as in `for_each`.
        while let Some(state) = unsafe { p.as_ref() } {
            if !state.in_use.load(Ordering::Relaxed)
                && state.in_use.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return Some(state);
            }
            p = state.next.load(Ordering::Relaxed);
        }
        grow()?;
    }
}

/// Maps a chunk of free states and publishes them.
fn grow() -> Option<()> {
    let chunk = crate::os::map_forever(CHUNK).cast::<ThreadState>();
    if chunk.is_null() {
        return None;
    }
    let count = CHUNK / core::mem::size_of::<ThreadState>();
    for i in 0..count {
        // SAFETY: `i < count` states fit in the chunk, which is mapped for the
        // life of the process, zeroed (a valid `ThreadState`: atomics and
        // null pointers), aligned to 64 KiB, and not yet shared.
        let state = unsafe { &*chunk.add(i) };
        let mut head = STATES.load(Ordering::Relaxed);
        loop {
            state.next.store(head, Ordering::Relaxed);
            match STATES.compare_exchange_weak(head, chunk.wrapping_add(i), Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
    }
    Some(())
}

/// Where the platform tells us of a thread's end without help, runs
/// [`thread_exit`] then. On Windows the embedder signals it (the plugin's
/// `DllMain` sees `DLL_THREAD_DETACH`): a thread-local destructor there would
/// need a TLS index of its own, which the standard library aborts the process
/// for if none is left.
#[cfg(not(windows))]
mod exit_guard {
    struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            super::thread_exit();
        }
    }

    std::thread_local! {
        static GUARD: Guard = const { Guard };
    }

    /// False only while the thread's thread-locals are being destroyed: a
    /// state taken then is left to the next exit signal, or stays claimed.
    pub fn arm() -> bool {
        GUARD.try_with(|_| ()).is_ok()
    }
}

#[cfg(windows)]
mod exit_guard {
    pub fn arm() -> bool {
        true
    }
}

#[cfg(not(windows))]
mod tls {
    use super::{ThreadState, EXITED};
    use core::cell::Cell;
    use core::sync::atomic::{AtomicBool, Ordering};

    static READY: AtomicBool = AtomicBool::new(false);

    std::thread_local! {
        static CURRENT: Cell<*const ThreadState> = const { Cell::new(core::ptr::null()) };
    }

    pub fn init() -> bool {
        READY.store(true, Ordering::Release);
        true
    }

    pub fn ready() -> bool {
        READY.load(Ordering::Acquire)
    }

    /// The slot; [`EXITED`] once the thread's thread-locals are destroyed
    /// (the thread is ending).
    #[inline(always)]
    pub fn get() -> *const ThreadState {
        CURRENT.try_with(Cell::get).unwrap_or(EXITED as *const ThreadState)
    }

    pub fn set(state: *const ThreadState) {
        let _ = CURRENT.try_with(|c| c.set(state));
    }

    pub struct PreserveLastError;

    impl PreserveLastError {
        pub fn new() -> Self {
            PreserveLastError
        }
    }
}

/// On Windows the pointer lives in a TLS slot of our own. Rust's
/// `thread_local!` is not native on `windows-gnu`, and `TlsGetValue` clears
/// the thread's last-error code, which a `malloc` must not touch: the hot path
/// reads the slot straight from the thread environment block instead.
#[cfg(windows)]
mod tls {
    use super::ThreadState;
    use core::sync::atomic::{AtomicU32, Ordering};
    use windows_sys::Win32::Foundation::{GetLastError, SetLastError};
    use windows_sys::Win32::System::Threading::{TlsAlloc, TlsGetValue, TlsSetValue, TLS_OUT_OF_INDEXES};

    static INDEX: AtomicU32 = AtomicU32::new(TLS_OUT_OF_INDEXES);

    /// Slots stored inline in the TEB (`TlsSlots`); higher indices live in
    /// `TlsExpansionSlots`.
    #[cfg(target_arch = "x86")]
    const INLINE_SLOTS: u32 = 64;

    #[inline(always)]
    pub fn get() -> *const ThreadState {
        let index = INDEX.load(Ordering::Relaxed);
        #[cfg(target_arch = "x86")]
        if index < INLINE_SLOTS {
            let value: usize;
            // SAFETY: on 32-bit Windows (and Wine), FS points at the thread's
            // TEB and `TlsSlots[64]` lies at offset 0xE10; `index < 64` keeps the
            // read inside it. A plain load of our own slot, which only this
            // thread writes.
            unsafe {
                core::arch::asm!(
                    "mov {value}, dword ptr fs:[0xE10 + {index} * 4]",
                    index = in(reg) index,
                    value = lateout(reg) value,
                    options(nostack, readonly, preserves_flags),
                );
            }
            return value as *const ThreadState;
        }
        if index == TLS_OUT_OF_INDEXES {
            return core::ptr::null();
        }
        let _last_error = PreserveLastError::new();
        // SAFETY: `index` was allocated by TlsAlloc and is never freed.
        unsafe { TlsGetValue(index) as *const ThreadState }
    }

    pub fn set(state: *const ThreadState) {
        let index = INDEX.load(Ordering::Acquire);
        if index != TLS_OUT_OF_INDEXES {
            // SAFETY: a valid index of ours; the slot is this thread's.
            unsafe { TlsSetValue(index, state as *const core::ffi::c_void) };
        }
    }

    /// Allocates the heap's TLS index, once. False if Windows has none left
    /// (1088 per process).
    pub fn init() -> bool {
        if ready() {
            return true;
        }
        // SAFETY: plain Win32 call.
        let fresh = unsafe { TlsAlloc() };
        if fresh == TLS_OUT_OF_INDEXES {
            return false;
        }
        // `crate::init` runs once at a time; a lost race would only leave a
        // spare index allocated.
        let _ = INDEX.compare_exchange(TLS_OUT_OF_INDEXES, fresh, Ordering::AcqRel, Ordering::Acquire);
        true
    }

    pub fn ready() -> bool {
        INDEX.load(Ordering::Acquire) != TLS_OUT_OF_INDEXES
    }

    /// Saves the thread's last-error code and restores it when dropped, so
    /// that the heap's own system calls stay invisible to its callers.
    pub struct PreserveLastError(u32);

    impl PreserveLastError {
        pub fn new() -> Self {
            // SAFETY: plain Win32 call.
            PreserveLastError(unsafe { GetLastError() })
        }
    }

    impl Drop for PreserveLastError {
        fn drop(&mut self) {
            // SAFETY: plain Win32 call.
            unsafe { SetLastError(self.0) };
        }
    }
}
