//! Per-thread state: found through a thread-local pointer on every call,
//! created lazily on a thread's first call, recycled when the thread exits.
//!
//! Any thread may call at any moment: threads the game started before the
//! heap existed, threads nobody announces. The hot path is one thread-local
//! load and a null check; the first call of a thread takes [`slow_path`],
//! which starts the backend's thread heap and claims a state.
//!
//! States live in chunks mapped from the OS (never from `malloc`), on one
//! lock-free list that only grows; an exited thread's state is reused by the
//! next new thread, counters and all, so totals never lose a thread's work.

use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::stats::Counters;

/// What the heap keeps per thread. Cache-line aligned: neighbouring
/// threads' counters never share a line.
#[repr(align(64))]
pub struct ThreadState {
    /// This thread's statistics.
    pub counters: Counters,
    in_use: AtomicBool,
    next: AtomicPtr<ThreadState>,
}

/// Every state ever made, newest first.
static STATES: AtomicPtr<ThreadState> = AtomicPtr::new(core::ptr::null_mut());

/// Bytes mapped at a time for new states.
const CHUNK: usize = 64 * 1024;

/// The calling thread's state, starting it if this is the thread's first call.
/// `None` only if the OS refused the few KiB a new state needs.
#[inline(always)]
pub fn current() -> Option<&'static ThreadState> {
    match existing() {
        Some(state) => Some(state),
        None => slow_path(),
    }
}

/// The calling thread's state if it has one; never starts anything.
#[inline(always)]
pub fn existing() -> Option<&'static ThreadState> {
    // SAFETY: the slot holds null or a state, and states are never freed.
    unsafe { tls::get().as_ref() }
}

/// The calling thread's counters, starting its state if needed.
#[inline(always)]
pub fn counters() -> Option<&'static Counters> {
    current().map(|state| &state.counters)
}

#[cold]
#[inline(never)]
fn slow_path() -> Option<&'static ThreadState> {
    let _last_error = tls::PreserveLastError::new();
    let state = claim()?;
    crate::backend::thread_start();
    tls::set(state);
    exit_guard::arm();
    Some(state)
}

/// Ends the calling thread's use of the heap: its backend heap goes back to
/// the global caches and its state to the pool. Safe to call more than once,
/// and harmless on a thread that never allocated; a later call on the same
/// thread starts it again.
pub fn thread_exit() {
    let Some(state) = existing() else { return };
    crate::backend::thread_finish();
    state.counters.publish();
    tls::set(core::ptr::null());
    state.in_use.store(false, Ordering::Release);
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

/// Runs [`thread_exit`] when a thread ends, where the platform tells us.
/// On Windows a DLL also calls it from `DLL_THREAD_DETACH`.
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

    pub fn arm() {
        // Fails only while the thread's thread-locals are being destroyed: the
        // state is then left to the next exit signal, or stays claimed.
        let _ = GUARD.try_with(|_| ());
    }
}

#[cfg(not(windows))]
mod tls {
    use super::ThreadState;
    use core::cell::Cell;

    std::thread_local! {
        static CURRENT: Cell<*const ThreadState> = const { Cell::new(core::ptr::null()) };
    }

    #[inline(always)]
    pub fn get() -> *const ThreadState {
        CURRENT.try_with(Cell::get).unwrap_or(core::ptr::null())
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
        let index = index();
        if index != TLS_OUT_OF_INDEXES {
            // SAFETY: a valid index of ours; the slot is this thread's.
            unsafe { TlsSetValue(index, state as *const core::ffi::c_void) };
        }
    }

    fn index() -> u32 {
        let index = INDEX.load(Ordering::Acquire);
        if index != TLS_OUT_OF_INDEXES {
            return index;
        }
        // SAFETY: plain Win32 call.
        let fresh = unsafe { TlsAlloc() };
        match INDEX.compare_exchange(TLS_OUT_OF_INDEXES, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            // Another thread allocated first. The spare index stays allocated:
            // freeing it would race with nothing, but it is one of 1088 and
            // this happens at most once per racing thread at start-up.
            Err(winner) => winner,
        }
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
