//! Blocks made through the game's entries, filled with a pattern, and later
//! checked: whose they are, their size, their bytes.

use nvse_host::checks::{fill, has_pattern, is_zeroed};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};

use game_profile::Role;

use super::game::{Calls, Entry, Family, Release};

/// The plugin's `MemoryPoolNVSE_IsOwned`, if it is loaded.
#[derive(Clone, Copy)]
pub struct Owner(Option<unsafe extern "C" fn(*const u8) -> bool>);

impl Owner {
    /// The plugin's export, looked up now (after the load pass).
    pub fn find() -> Owner {
        // SAFETY: NUL-terminated names; the export's contract is
        // `bool MemoryPoolNVSE_IsOwned(const void *)`.
        Owner(unsafe {
            let module = GetModuleHandleA(c"MemoryPoolNVSE.dll".as_ptr().cast());
            if module.is_null() {
                None
            } else {
                GetProcAddress(module, c"MemoryPoolNVSE_IsOwned".as_ptr().cast())
                    .map(|f| core::mem::transmute::<unsafe extern "system" fn() -> isize, _>(f))
            }
        })
    }

    /// Whether the plugin is loaded.
    pub fn plugin(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the plugin serves `p`; without the plugin, no.
    pub fn owns(&self, p: *const u8) -> bool {
        // SAFETY: the export takes any pointer.
        self.0.is_some_and(|is_owned| unsafe { is_owned(p) })
    }
}

/// A block and what it should hold.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub p: *mut u8,
    pub size: usize,
    pub family: Family,
    pub seed: u8,
}

/// Whether an entry's new blocks are zeroed.
pub fn zeroes(entry: Entry) -> bool {
    matches!(entry.role, Role::Calloc | Role::Recalloc)
}

/// A new block of `size` from `entry`, checked zeroed if it should be, then
/// filled with the pattern of `seed`. `None` if no block came, and whether
/// the zeroes were there.
///
/// # Safety
/// The replica's start-up ran.
pub unsafe fn make(calls: &Calls, entry: Entry, size: usize, seed: u8) -> Option<(Block, bool)> {
    // SAFETY: the caller's promise.
    let p = unsafe { calls.allocate(entry, size) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a fresh block of at least `size` bytes.
    let zeroed = !zeroes(entry) || unsafe { is_zeroed(p, size) };
    // SAFETY: as above.
    unsafe { fill(p, size, seed) };
    Some((Block { p, size, family: entry.family(), seed }, zeroed))
}

/// Whether `block` still holds its pattern and is sized at least its size.
///
/// # Safety
/// `block` is live.
pub unsafe fn intact(release: &Release, block: &Block) -> (bool, bool) {
    // SAFETY: the caller's promise.
    unsafe { (has_pattern(block.p, block.size, block.seed), release.size(block.family, block.p) >= block.size) }
}

/// The resizing entries of `family`.
pub fn resizers(entries: &[Entry], family: Family) -> Vec<Entry> {
    let resizing = |e: &&Entry| matches!(e.role, Role::HeapRealloc | Role::Realloc | Role::Recalloc);
    entries.iter().filter(|e| e.family() == family).filter(resizing).copied().collect()
}

/// `block` grown to `size` by `entry`: whether its bytes were kept (and the
/// new ones zeroed, for the zeroing entries), or `None` if it could not be.
///
/// # Safety
/// `block` is live and of `entry`'s family; on success it is the new block.
pub unsafe fn grow(calls: &Calls, release: &Release, entry: Entry, block: &mut Block, size: usize) -> Option<bool> {
    // SAFETY: the caller's promise.
    let old = unsafe { release.size(block.family, block.p) };
    // SAFETY: as above.
    let q = unsafe { calls.resize(entry, block.p, size) };
    if q.is_null() {
        return None;
    }
    // SAFETY: the new block holds at least `size` bytes, of which the
    // first `block.size` were kept.
    let kept = unsafe { has_pattern(q, block.size, block.seed) };
    // SAFETY: as above.
    let zeroed = !zeroes(entry) || old >= size || unsafe { is_zeroed(q.add(old), size - old) };
    block.p = q;
    Some(kept && zeroed)
}
