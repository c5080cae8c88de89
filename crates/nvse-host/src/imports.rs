//! A loaded module's import address table, read and written as another
//! tool hooks it: the slots a module calls a function through, and a slot
//! pointed elsewhere.

use std::ffi::CStr;

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::Diagnostics::Debug::{ImageDirectoryEntryToData, IMAGE_DIRECTORY_ENTRY_IMPORT};
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_READWRITE};
use windows_sys::Win32::System::SystemServices::IMAGE_IMPORT_DESCRIPTOR;

/// Every import address table slot `module` calls `function` through (by
/// name, from whichever DLL: a module may import it from two descriptors).
///
/// # Safety
/// `module` must be a loaded PE32 image.
pub unsafe fn slots(module: HMODULE, function: &CStr) -> Result<Vec<*mut usize>, String> {
    let base = module as usize;
    let mut size = 0u32;
    // SAFETY: a loaded image, read as mapped; `size` is a valid out-pointer.
    let mut descriptor = unsafe { ImageDirectoryEntryToData(module, true, IMAGE_DIRECTORY_ENTRY_IMPORT, &mut size) }
        as *const IMAGE_IMPORT_DESCRIPTOR;
    if descriptor.is_null() {
        return Err("no import directory".into());
    }
    let mut found = Vec::new();
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
                    found.push(((base + (*descriptor).FirstThunk as usize) as *mut usize).add(index));
                }
            }
            descriptor = descriptor.add(1);
        }
    }
    if found.is_empty() {
        return Err(format!("no import of {function:?}"));
    }
    Ok(found)
}

/// Points `slot` at `target`, once `before` (given what the slot held) has
/// run; the page's protection is restored after.
///
/// # Safety
/// `slot` is a word of a loaded module's import address table that nothing
/// else writes meanwhile, and `target` a function with the signature of the
/// one it held.
pub unsafe fn point(slot: *mut usize, target: usize, before: impl FnOnce(usize)) -> Result<(), String> {
    let mut old = 0;
    // SAFETY: the slot is a word of the module's import address table.
    if unsafe { VirtualProtect(slot.cast(), size_of::<usize>(), PAGE_READWRITE, &mut old) } == 0 {
        return Err(format!("VirtualProtect: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the page is writable now; `before` sees the original before
    // the slot leads anywhere else.
    unsafe {
        before(slot.read());
        slot.write(target);
    }
    let mut ignored = 0;
    // SAFETY: restores the protection the page had.
    unsafe { VirtualProtect(slot.cast(), size_of::<usize>(), old, &mut ignored) };
    Ok(())
}
