//! `--hook-free`: another tool's hook on one fixture's `free` import, there
//! before the plugins load, as overlays and crash loggers install theirs.
//!
//! The hook counts its calls and, among the blocks it is handed, those the
//! plugin's heap allocated, then calls the runtime's `free`. Such a block must
//! never reach the runtime (its heap would be corrupted), so the hook keeps
//! it (leaks it) and counts it: a plugin that got this wrong shows as a
//! count, not as a crash.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::Diagnostics::Debug::{ImageDirectoryEntryToData, IMAGE_DIRECTORY_ENTRY_IMPORT};
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_READWRITE};
use windows_sys::Win32::System::SystemServices::IMAGE_IMPORT_DESCRIPTOR;

use crate::fixtures::IsOwnedFn;

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
    let slot = unsafe { import_slot(module, c"free") }?;
    let hook = hooked_free as *const () as usize;
    let mut old = 0;
    // SAFETY: the slot is a word of the module's import address table.
    if unsafe { VirtualProtect(slot.cast(), size_of::<usize>(), PAGE_READWRITE, &mut old) } == 0 {
        return Err(format!("VirtualProtect: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the page is writable now; the runtime's free is stored before
    // the slot leads to the hook, which calls it.
    unsafe {
        ORIGINAL.store(slot.read(), Ordering::Release);
        slot.write(hook);
    }
    let mut ignored = 0;
    // SAFETY: restores the protection the page had.
    unsafe { VirtualProtect(slot.cast(), size_of::<usize>(), old, &mut ignored) };
    Ok(hook)
}

/// The import address table slot `module` calls `function` through (the
/// first import of that name, from whichever DLL).
///
/// # Safety
/// `module` must be a loaded PE32 image.
unsafe fn import_slot(module: HMODULE, function: &CStr) -> Result<*mut usize, String> {
    let base = module as usize;
    let mut size = 0u32;
    // SAFETY: a loaded image, read as mapped; `size` is a valid out-pointer.
    let mut descriptor = unsafe { ImageDirectoryEntryToData(module, true, IMAGE_DIRECTORY_ENTRY_IMPORT, &mut size) }
        as *const IMAGE_IMPORT_DESCRIPTOR;
    if descriptor.is_null() {
        return Err("no import directory".into());
    }
    // SAFETY: the import directory of a loaded image: descriptors up to one
    // with no name, each with a name table (when it has one; the address
    // table holds addresses once bound) ending with a zero entry.
    unsafe {
        while (*descriptor).Name != 0 {
            let names = (*descriptor).Anonymous.OriginalFirstThunk;
            for index in (0..).take_while(|_| names != 0) {
                let entry = ((base + names as usize) as *const u32).add(index).read();
                if entry == 0 {
                    break;
                }
                // By name (not by ordinal): a hint, then the name.
                let by_name = entry & 0x8000_0000 == 0;
                if by_name && CStr::from_ptr((base + entry as usize + 2) as *const _) == function {
                    return Ok(((base + (*descriptor).FirstThunk as usize) as *mut usize).add(index));
                }
            }
            descriptor = descriptor.add(1);
        }
    }
    Err(format!("no import of {function:?}"))
}
