//! Writing a group of import address table slots, all or nothing.
//!
//! A slot is one pointer-sized, pointer-aligned word, so each write is a
//! single atomic compare-and-swap: a thread calling through the slot at that
//! moment sees either the old or the new function, never a torn pointer.
//!
//! The slots of one group belong together (one runtime's allocation family in
//! one module): either every one of them is redirected or none is. So the
//! whole group is checked before anything is written, every page is made
//! writable before the first write, and a write that finds its slot changed
//! puts back the ones written before it.
//!
//! Callers hold the loader lock (see [`crate::loader`]), which serialises every
//! patch: two writers could otherwise race on restoring a page's protection.

use core::sync::atomic::{AtomicUsize, Ordering};

use windows_sys::Win32::System::Memory::{
    VirtualProtect, VirtualQuery, MEMORY_BASIC_INFORMATION, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE, PAGE_WRITECOPY,
};

/// One slot of a group: where it is, the value it must hold, and the value it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The slot's address.
    pub slot: usize,
    /// What it holds before: the runtime's function.
    pub expected: usize,
    /// What it holds after: ours.
    pub replacement: usize,
}

/// A group that was written (or needed no writing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Slots that held the expected value and now hold the replacement.
    pub patched: u32,
    /// Slots that already held the replacement.
    pub already: u32,
}

/// Why a group was left as it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The slot holds something else: another hook's function.
    Foreign(usize),
    /// The slot is misaligned, or its page cannot be made writable.
    Unwritable,
    /// The slot changed to this value between the check and the write; the
    /// slots written before it were put back.
    LostRace(usize),
}

/// The slot of a group (its index in the group) that stopped the writing, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub refusal: Refusal,
}

/// Redirects every slot of `group`, or none: in the order given, each slot
/// that holds its `expected` value gets its `replacement`.
///
/// Nothing is written if a slot holds neither value, or a page cannot be made
/// writable. If a slot changes between the check and its write, the slots
/// already written get their `expected` value back. Every page's protection
/// is restored in any case.
///
/// # Safety
/// Every slot must be the address of an import address table entry inside a
/// module that stays mapped for the duration of the call (the caller holds the
/// loader lock, so no module is unloaded meanwhile).
pub unsafe fn redirect_group(group: &[Redirect]) -> Result<Written, Refused> {
    let mut written = Written::default();
    let mut pending = Vec::with_capacity(group.len());
    for (index, redirect) in group.iter().enumerate() {
        // SAFETY: the caller's contract.
        match unsafe { read(redirect.slot) } {
            None => return Err(Refused { index, refusal: Refusal::Unwritable }),
            Some(current) if current == redirect.replacement => written.already += 1,
            Some(current) if current == redirect.expected => pending.push(index),
            Some(current) => return Err(Refused { index, refusal: Refusal::Foreign(current) }),
        }
    }
    if pending.is_empty() {
        return Ok(written);
    }
    let slots: Vec<usize> = pending.iter().map(|&i| group[i].slot).collect();
    // SAFETY: the slots are inside mapped images (caller's contract).
    let pages = unsafe { Unprotected::pages_of(&slots) }
        .map_err(|at| Refused { index: pending[at], refusal: Refusal::Unwritable })?;
    // SAFETY: every slot is aligned, mapped and now writable.
    let swapped = unsafe { swap_all(group, &pending) };
    drop(pages);
    written.patched = swapped?;
    Ok(written)
}

/// The slot's cell, if it is aligned.
///
/// # Safety
/// `slot` must be mapped for as long as the cell is used.
unsafe fn cell<'a>(slot: usize) -> Option<&'a AtomicUsize> {
    // SAFETY: aligned and mapped (the caller's contract); AtomicUsize has the
    // layout of usize. Other writers (the loader) are excluded by the loader
    // lock; readers only ever see whole words.
    (slot % core::mem::align_of::<usize>() == 0).then(|| unsafe { &*(slot as *const AtomicUsize) })
}

/// The slot's value, or `None` if it is misaligned.
///
/// # Safety
/// `slot` must be mapped.
unsafe fn read(slot: usize) -> Option<usize> {
    // SAFETY: the caller's contract.
    unsafe { cell(slot) }.map(|cell| cell.load(Ordering::Acquire))
}

/// Swaps the `pending` slots of `group` in order; on a lost race, puts the
/// ones already swapped back and says which one was lost.
///
/// # Safety
/// Every pending slot is aligned, mapped and writable.
unsafe fn swap_all(group: &[Redirect], pending: &[usize]) -> Result<u32, Refused> {
    for (done, &index) in pending.iter().enumerate() {
        let Redirect { slot, expected, replacement } = group[index];
        // SAFETY: the caller's contract.
        let swapped = match unsafe { cell(slot) } {
            Some(cell) => cell.compare_exchange(expected, replacement, Ordering::AcqRel, Ordering::Acquire),
            // Alignment was checked with the group; refused all the same.
            None => Err(expected),
        };
        if let Err(current) = swapped {
            // SAFETY: the same slots, still writable.
            unsafe { put_back(group, &pending[..done]) };
            return Err(Refused { index, refusal: Refusal::LostRace(current) });
        }
    }
    Ok(pending.len() as u32)
}

/// Gives the swapped slots their expected value back, latest first. A slot
/// someone changed again since is theirs now, and is left as it is.
///
/// # Safety
/// As for [`swap_all`].
unsafe fn put_back(group: &[Redirect], swapped: &[usize]) {
    for &index in swapped.iter().rev() {
        let Redirect { slot, expected, replacement } = group[index];
        // SAFETY: the caller's contract.
        if let Some(cell) = unsafe { cell(slot) } {
            let _ = cell.compare_exchange(replacement, expected, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// Pages whose protection was lifted, restored on drop (latest first, so a
/// page changed twice ends with the protection it had before the first).
struct Unprotected {
    changed: Vec<(usize, PAGE_PROTECTION_FLAGS)>,
}

impl Unprotected {
    /// Makes the page of every slot writable; `Err(i)` if the page of
    /// `slots[i]` cannot be, after restoring the pages already changed.
    ///
    /// # Safety
    /// Every slot must be inside a mapped module image.
    unsafe fn pages_of(slots: &[usize]) -> Result<Unprotected, usize> {
        let mut pages = Unprotected { changed: Vec::with_capacity(slots.len()) };
        for (i, &slot) in slots.iter().enumerate() {
            if slots[..i].iter().any(|&earlier| same_page(earlier, slot)) {
                continue;
            }
            // SAFETY: the caller's contract.
            match unsafe { make_writable(slot) } {
                Some(None) => {}
                Some(Some(old)) => pages.changed.push((slot, old)),
                // Dropping `pages` restores the ones changed.
                None => return Err(i),
            }
        }
        Ok(pages)
    }
}

impl Drop for Unprotected {
    fn drop(&mut self) {
        for &(slot, old) in self.changed.iter().rev() {
            let mut ignored: PAGE_PROTECTION_FLAGS = 0;
            // SAFETY: restores the protection read before the writes, on the
            // page of a slot inside a mapped image.
            unsafe { VirtualProtect(slot as *const _, core::mem::size_of::<usize>(), old, &mut ignored) };
        }
    }
}

/// Whether two addresses share a page (4 KiB on every Windows that runs 32-bit
/// code). Only saves protection calls: changing a page twice is harmless.
fn same_page(a: usize, b: usize) -> bool {
    const PAGE: usize = 4096;
    a / PAGE == b / PAGE
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
    use windows_sys::Win32::System::Memory::{
        VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READONLY,
    };

    const ORIGINAL: usize = 0x1111_0000;
    const OURS: usize = 0x2222_0000;
    const THEIRS: usize = 0x3333_0000;

    /// Redirects of `ORIGINAL + i` to `OURS + i` for each slot.
    fn group(slots: &[&AtomicUsize]) -> Vec<Redirect> {
        slots
            .iter()
            .enumerate()
            .map(|(i, slot)| Redirect {
                slot: *slot as *const AtomicUsize as usize,
                expected: ORIGINAL + i,
                replacement: OURS + i,
            })
            .collect()
    }

    fn values(slots: &[&AtomicUsize]) -> Vec<usize> {
        slots.iter().map(|slot| slot.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn a_group_is_redirected_once_and_left_alone_after() {
        let (a, b) = (AtomicUsize::new(ORIGINAL), AtomicUsize::new(ORIGINAL + 1));
        let redirects = group(&[&a, &b]);
        // SAFETY: the slots are live, aligned locals.
        unsafe {
            assert_eq!(redirect_group(&redirects), Ok(Written { patched: 2, already: 0 }));
            assert_eq!(redirect_group(&redirects), Ok(Written { patched: 0, already: 2 }));
        }
        assert_eq!(values(&[&a, &b]), [OURS, OURS + 1]);
    }

    #[test]
    fn a_group_with_one_foreign_slot_is_left_untouched() {
        let (a, b, c) = (AtomicUsize::new(ORIGINAL), AtomicUsize::new(THEIRS), AtomicUsize::new(ORIGINAL + 2));
        // SAFETY: the slots are live, aligned locals.
        let result = unsafe { redirect_group(&group(&[&a, &b, &c])) };
        assert_eq!(result, Err(Refused { index: 1, refusal: Refusal::Foreign(THEIRS) }));
        assert_eq!(values(&[&a, &b, &c]), [ORIGINAL, THEIRS, ORIGINAL + 2]);
    }

    #[test]
    fn slots_already_ours_are_counted_and_the_rest_written() {
        let (a, b) = (AtomicUsize::new(OURS), AtomicUsize::new(ORIGINAL + 1));
        // SAFETY: the slots are live, aligned locals.
        let result = unsafe { redirect_group(&group(&[&a, &b])) };
        assert_eq!(result, Ok(Written { patched: 1, already: 1 }));
        assert_eq!(values(&[&a, &b]), [OURS, OURS + 1]);
    }

    #[test]
    fn a_lost_race_puts_back_the_slots_written_before() {
        let (a, b) = (AtomicUsize::new(ORIGINAL), AtomicUsize::new(ORIGINAL + 1));
        let mut redirects = group(&[&a, &b]);
        // `b` twice, with two replacements: both writes pass the check, and
        // the second finds the first one's value, as if someone else had
        // written the slot between the check and the write.
        redirects.push(Redirect { replacement: THEIRS, ..redirects[1] });
        // SAFETY: the slots are live, aligned locals.
        let result = unsafe { redirect_group(&redirects) };
        assert_eq!(result, Err(Refused { index: 2, refusal: Refusal::LostRace(OURS + 1) }));
        assert_eq!(values(&[&a, &b]), [ORIGINAL, ORIGINAL + 1]);
    }

    /// A fresh private page with `words` at its start, then made read-only.
    ///
    /// # Safety
    /// Release it with `VirtualFree(page, 0, MEM_RELEASE)`.
    unsafe fn read_only_page(words: &[usize]) -> usize {
        // SAFETY: a fresh committed page, written within its size.
        unsafe {
            let page = VirtualAlloc(core::ptr::null(), 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) as usize;
            assert_ne!(page, 0);
            core::ptr::copy_nonoverlapping(words.as_ptr(), page as *mut usize, words.len());
            let mut old = 0;
            assert_ne!(VirtualProtect(page as *const _, 4096, PAGE_READONLY, &mut old), 0);
            page
        }
    }

    fn protection(address: usize) -> PAGE_PROTECTION_FLAGS {
        // SAFETY: MEMORY_BASIC_INFORMATION is plain data; the out-buffer is valid.
        unsafe {
            let mut info: MEMORY_BASIC_INFORMATION = core::mem::zeroed();
            VirtualQuery(address as *const _, &mut info, core::mem::size_of::<MEMORY_BASIC_INFORMATION>());
            info.Protect
        }
    }

    #[test]
    fn a_read_only_page_is_written_and_its_protection_restored() {
        // SAFETY: a private page, released at the end; the slots are its first words.
        unsafe {
            let page = read_only_page(&[ORIGINAL, ORIGINAL + 1]);
            let slots = [&*(page as *const AtomicUsize), &*((page + 4) as *const AtomicUsize)];
            assert_eq!(redirect_group(&group(&slots)), Ok(Written { patched: 2, already: 0 }));
            assert_eq!(values(&slots), [OURS, OURS + 1]);
            assert_eq!(protection(page), PAGE_READONLY);
            VirtualFree(page as *mut _, 0, MEM_RELEASE);
        }
    }

    #[test]
    fn a_lost_race_on_a_read_only_page_restores_its_protection() {
        // SAFETY: as above.
        unsafe {
            let page = read_only_page(&[ORIGINAL]);
            let slot = &*(page as *const AtomicUsize);
            let mut redirects = group(&[slot]);
            redirects.push(Redirect { replacement: THEIRS, ..redirects[0] });
            let result = redirect_group(&redirects);
            assert_eq!(result, Err(Refused { index: 1, refusal: Refusal::LostRace(OURS) }));
            assert_eq!(slot.load(Ordering::Relaxed), ORIGINAL);
            assert_eq!(protection(page), PAGE_READONLY);
            VirtualFree(page as *mut _, 0, MEM_RELEASE);
        }
    }

    #[test]
    fn a_page_that_cannot_be_made_writable_leaves_the_group_untouched() {
        use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
        use windows_sys::Win32::System::Memory::{CreateFileMappingW, MapViewOfFile, UnmapViewOfFile, FILE_MAP_READ};
        // SAFETY: a private read-only page and a read-only view of a section
        // created read-only (no protection can make it writable), both
        // released at the end; the slots are their first words.
        unsafe {
            let page = read_only_page(&[ORIGINAL]);
            let section =
                CreateFileMappingW(INVALID_HANDLE_VALUE, core::ptr::null(), PAGE_READONLY, 0, 4096, core::ptr::null());
            assert!(!section.is_null());
            let view = MapViewOfFile(section, FILE_MAP_READ, 0, 0, 4096).Value as usize;
            assert_ne!(view, 0);
            let slots = [&*(page as *const AtomicUsize), &*(view as *const AtomicUsize)];
            // The section is zero-filled: its slot holds what it is expected to.
            let redirects = [group(&slots)[0], Redirect { slot: view, expected: 0, replacement: OURS }];
            let result = redirect_group(&redirects);
            assert_eq!(result, Err(Refused { index: 1, refusal: Refusal::Unwritable }));
            assert_eq!(values(&slots), [ORIGINAL, 0]);
            assert_eq!(protection(page), PAGE_READONLY);
            UnmapViewOfFile(windows_sys::Win32::System::Memory::MEMORY_MAPPED_VIEW_ADDRESS { Value: view as *mut _ });
            CloseHandle(section);
            VirtualFree(page as *mut _, 0, MEM_RELEASE);
        }
    }

    #[test]
    fn a_misaligned_slot_refuses_the_group_before_any_write() {
        let words = [AtomicUsize::new(ORIGINAL), AtomicUsize::new(0), AtomicUsize::new(0)];
        let mut redirects = group(&[&words[0]]);
        redirects.push(Redirect { slot: words[1].as_ptr() as usize + 1, expected: 0, replacement: 1 });
        // SAFETY: the misaligned slot is never read: the alignment check comes first.
        let result = unsafe { redirect_group(&redirects) };
        assert_eq!(result, Err(Refused { index: 1, refusal: Refusal::Unwritable }));
        assert_eq!(words[0].load(Ordering::Relaxed), ORIGINAL);
    }
}
