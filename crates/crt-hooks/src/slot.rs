//! Writing one import address table slot.
//!
//! A slot is one pointer-sized, pointer-aligned word, so the write is a single
//! atomic compare-and-swap: a thread calling through the slot at that moment
//! sees either the old or the new function, never a torn pointer. The page's
//! protection is lifted only around the write and restored after it.
//!
//! Callers hold the loader lock (see [`crate::loader`]), which serialises every
//! patch: two writers could otherwise race on restoring a page's protection.

use core::sync::atomic::{AtomicUsize, Ordering};

use windows_sys::Win32::System::Memory::{
    VirtualProtect, VirtualQuery, MEMORY_BASIC_INFORMATION, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE, PAGE_WRITECOPY,
};

/// What happened to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It held the runtime's function and now holds ours.
    Patched,
    /// It already held ours.
    AlreadyOurs,
    /// It held something else: another hooker's function, left alone.
    Foreign(usize),
    /// The slot is misaligned or its page cannot be made writable.
    Unwritable,
}

/// Replaces `expected` by `replacement` in the slot at `slot`.
///
/// # Safety
/// `slot` must be the address of an import address table entry inside a
/// module that stays mapped for the duration of the call (the caller holds the
/// loader lock, so no module is unloaded meanwhile).
pub unsafe fn redirect(slot: usize, expected: usize, replacement: usize) -> Outcome {
    if slot % core::mem::align_of::<usize>() != 0 {
        return Outcome::Unwritable;
    }
    // SAFETY: the slot is aligned and mapped (caller's contract); AtomicUsize
    // has the layout of usize. Other writers (the loader) are excluded by the
    // loader lock; readers only ever see whole words.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    match cell.load(Ordering::Acquire) {
        current if current == replacement => return Outcome::AlreadyOurs,
        current if current != expected => return Outcome::Foreign(current),
        _ => {}
    }
    // SAFETY: as above; the page belongs to the module's image.
    let Some(restore) = (unsafe { make_writable(slot) }) else { return Outcome::Unwritable };
    let result = cell.compare_exchange(expected, replacement, Ordering::AcqRel, Ordering::Acquire);
    if let Some(old) = restore {
        let mut ignored: PAGE_PROTECTION_FLAGS = 0;
        // SAFETY: restores the protection read before the write on the same page.
        unsafe { VirtualProtect(slot as *const _, core::mem::size_of::<usize>(), old, &mut ignored) };
    }
    match result {
        Ok(_) => Outcome::Patched,
        Err(current) if current == replacement => Outcome::AlreadyOurs,
        Err(current) => Outcome::Foreign(current),
    }
}

/// Makes the slot's page writable. `Some(None)`: it already was;
/// `Some(Some(old))`: changed, restore `old` afterwards; `None`: impossible.
///
/// # Safety
/// `slot` must be inside a mapped module image.
unsafe fn make_writable(slot: usize) -> Option<Option<PAGE_PROTECTION_FLAGS>> {
    // SAFETY: MEMORY_BASIC_INFORMATION is plain data.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<MEMORY_BASIC_INFORMATION>();
    // SAFETY: `info` is a valid out-buffer of `size` bytes.
    if unsafe { VirtualQuery(slot as *const _, &mut info, size) } != size {
        return None;
    }
    const WRITABLE: PAGE_PROTECTION_FLAGS =
        PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY;
    if info.Protect & WRITABLE != 0 {
        return Some(None);
    }
    const EXECUTABLE: PAGE_PROTECTION_FLAGS = 0xF0; // any PAGE_EXECUTE_*
    let wanted = if info.Protect & EXECUTABLE != 0 { PAGE_EXECUTE_READWRITE } else { PAGE_READWRITE };
    let mut old: PAGE_PROTECTION_FLAGS = 0;
    // SAFETY: changes the protection of one word of a mapped image page.
    let ok = unsafe { VirtualProtect(slot as *const _, core::mem::size_of::<usize>(), wanted, &mut old) };
    (ok != 0).then_some(Some(old))
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn original() -> u32 {
        1
    }
    extern "C" fn ours() -> u32 {
        2
    }
    extern "C" fn theirs() -> u32 {
        3
    }

    #[test]
    fn a_slot_is_redirected_once_and_left_alone_after() {
        let slot = AtomicUsize::new(original as *const () as usize);
        let address = &slot as *const _ as usize;
        // SAFETY: the slot is a live, aligned local.
        unsafe {
            assert_eq!(redirect(address, original as *const () as usize, ours as *const () as usize), Outcome::Patched);
            assert_eq!(
                redirect(address, original as *const () as usize, ours as *const () as usize),
                Outcome::AlreadyOurs
            );
        }
        assert_eq!(slot.load(Ordering::Relaxed), ours as *const () as usize);
    }

    #[test]
    fn another_hookers_slot_is_left_alone() {
        let slot = AtomicUsize::new(theirs as *const () as usize);
        let address = &slot as *const _ as usize;
        // SAFETY: the slot is a live, aligned local.
        let outcome = unsafe { redirect(address, original as *const () as usize, ours as *const () as usize) };
        assert_eq!(outcome, Outcome::Foreign(theirs as *const () as usize));
        assert_eq!(slot.load(Ordering::Relaxed), theirs as *const () as usize);
    }

    #[test]
    fn a_read_only_page_is_written_and_its_protection_restored() {
        use windows_sys::Win32::System::Memory::{
            VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READONLY,
        };
        // SAFETY: a fresh private page, released at the end.
        unsafe {
            let page = VirtualAlloc(core::ptr::null(), 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) as usize;
            assert_ne!(page, 0);
            *(page as *mut usize) = original as *const () as usize;
            let mut old = 0;
            VirtualProtect(page as *const _, 4096, PAGE_READONLY, &mut old);
            assert_eq!(redirect(page, original as *const () as usize, ours as *const () as usize), Outcome::Patched);
            assert_eq!(*(page as *const usize), ours as *const () as usize);
            let mut info: MEMORY_BASIC_INFORMATION = core::mem::zeroed();
            VirtualQuery(page as *const _, &mut info, core::mem::size_of::<MEMORY_BASIC_INFORMATION>());
            assert_eq!(info.Protect, PAGE_READONLY);
            VirtualFree(page as *mut _, 0, MEM_RELEASE);
        }
    }

    #[test]
    fn a_misaligned_slot_is_refused() {
        let words = [0usize; 2];
        let address = words.as_ptr() as usize + 1;
        // SAFETY: never written: the alignment check comes first.
        assert_eq!(unsafe { redirect(address, 0, 1) }, Outcome::Unwritable);
    }
}
