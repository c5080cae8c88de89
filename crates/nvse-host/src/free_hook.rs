//! `--hook-free`: another tool's hook on one fixture's `free` import, there
//! before the plugins load, as overlays and crash loggers install theirs.
//!
//! The hook counts its calls and, among the blocks it is handed, those the
//! plugin's heap allocated, then calls the runtime's `free`. Such a block must
//! never reach the runtime (its heap would be corrupted), so the hook keeps
//! it (leaks it) and counts it: a plugin that got this wrong shows as a
//! count, not as a crash.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::HMODULE;

use crate::fixtures::IsOwnedFn;
use crate::imports;

/// The runtime's `free`, which the hook calls on.
static ORIGINAL: AtomicUsize = AtomicUsize::new(0);
/// The plugin's `MemoryPoolNVSE_IsOwned`, from the moment the plugin's DLL is
/// loaded: before that, no block can be the plugin's.
static IS_OWNED: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
static OWNED: AtomicU64 = AtomicU64::new(0);

type FreeFn = unsafe extern "C" fn(*mut c_void);

/// What the hook has seen: `(calls, blocks of the plugin's among them)`.
pub fn tally() -> (u64, u64) {
    (CALLS.load(Ordering::Relaxed), OWNED.load(Ordering::Relaxed))
}

/// Lets the hook ask the plugin which blocks are its own.
pub fn set_is_owned(is_owned: IsOwnedFn) {
    IS_OWNED.store(is_owned as usize, Ordering::Release);
}

unsafe extern "C" fn hooked_free(p: *mut c_void) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let is_owned = IS_OWNED.load(Ordering::Acquire);
    if is_owned != 0 {
        // SAFETY: only ever set from a plugin's `MemoryPoolNVSE_IsOwned`
        // export, which takes any pointer; the plugin is never unloaded.
        let is_owned = unsafe { std::mem::transmute::<usize, IsOwnedFn>(is_owned) };
        // SAFETY: as above.
        if unsafe { is_owned(p) } {
            OWNED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    // SAFETY: set by `install` to the runtime's free before the slot pointed
    // here; `p` is the caller's, under free's contract.
    unsafe { std::mem::transmute::<usize, FreeFn>(ORIGINAL.load(Ordering::Acquire))(p) };
}

/// Points `module`'s import of `free` at the hook and returns the hook's
/// address. Call once, for one module.
///
/// # Safety
/// `module` must be a loaded PE32 image whose import table nothing else
/// writes meanwhile, and whose `free` import is the C runtime's.
pub unsafe fn install(module: HMODULE) -> Result<usize, String> {
    // SAFETY: the caller's contract.
    let slot = unsafe { imports::slots(module, c"free") }?[0];
    let hook = hooked_free as *const () as usize;
    // SAFETY: a slot of the module's import address table, which nothing
    // else writes; the hook has `free`'s signature and calls the runtime's
    // free, stored before the slot leads to it.
    unsafe { imports::point(slot, hook, |original| ORIGINAL.store(original, Ordering::Release)) }?;
    Ok(hook)
}
