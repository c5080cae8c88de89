//! Address space from the operating system, bypassing every allocator.
//!
//! The heap's own bookkeeping (thread states, the ownership map's leaves, the
//! leak table) and the backend's spans come from here, never from `malloc`:
//! this module is what lets the allocation path run without re-entering a
//! hooked function.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The granule the ownership map tracks and every backend mapping is aligned
/// to: Windows' allocation granularity, and rpmalloc's span size.
pub const GRANULE: usize = 64 * 1024;

/// Rounds `n` up to a multiple of [`GRANULE`]; `None` on overflow.
pub fn granule_round(n: usize) -> Option<usize> {
    n.checked_add(GRANULE - 1).map(|n| n & !(GRANULE - 1))
}

/// A region mapped by [`map`]: `base` is granule-aligned and the whole granules
/// `base .. base + granule_round(len)` belong to the region's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First usable byte, aligned to [`GRANULE`].
    pub base: *mut u8,
    /// Bytes from the start of the underlying mapping to `base` (0 on Windows).
    pub padding: usize,
}

#[cfg(windows)]
mod imp {
    use super::Region;
    use windows_sys::Win32::System::Memory::{
        VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS, PAGE_READWRITE,
    };

    pub fn map(len: usize) -> Option<Region> {
        // SAFETY: a fresh anonymous mapping aliases nothing. VirtualAlloc returns
        // addresses aligned to the allocation granularity (64 KiB) and reserves
        // whole granules, so the region needs no padding.
        let base = unsafe { VirtualAlloc(core::ptr::null(), len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) };
        (!base.is_null()).then_some(Region { base: base.cast(), padding: 0 })
    }

    pub fn reserve(len: usize) -> Option<Region> {
        // SAFETY: as in `map`; reserved pages cannot be touched until committed.
        let base = unsafe { VirtualAlloc(core::ptr::null(), len, MEM_RESERVE, PAGE_NOACCESS) };
        (!base.is_null()).then_some(Region { base: base.cast(), padding: 0 })
    }

    /// # Safety
    /// The range lies inside a reservation of ours.
    pub unsafe fn commit(base: *mut u8, len: usize) -> bool {
        // SAFETY: committing reserved pages of ours aliases nothing; they read as zero.
        !unsafe { VirtualAlloc(base.cast(), len, MEM_COMMIT, PAGE_READWRITE) }.is_null()
    }

    /// # Safety
    /// As for [`decommit`].
    pub unsafe fn withdraw(base: *mut u8, len: usize) {
        // SAFETY: forwarded contract; decommitted pages are reserved, and any
        // access to them faults.
        unsafe { decommit(base, len) }
    }

    /// # Safety
    /// `region` came from [`map`] and nothing uses it any more.
    pub unsafe fn release(region: Region, _len: usize) {
        // SAFETY: the caller hands back a whole mapping it no longer uses.
        unsafe { VirtualFree(region.base.cast(), 0, MEM_RELEASE) };
    }

    /// # Safety
    /// The range lies inside a live mapping and nothing uses its contents.
    pub unsafe fn decommit(base: *mut u8, len: usize) {
        // SAFETY: the caller guarantees the pages are ours and unused; they stay
        // reserved, so the address range keeps its owner.
        unsafe { VirtualFree(base.cast(), len, MEM_DECOMMIT) };
    }
    pub fn read_safely<const N: usize>(addr: usize) -> Option<[u8; N]> {
        use windows_sys::Win32::System::{Diagnostics::Debug::ReadProcessMemory, Threading::GetCurrentProcess};
        let mut copy = [0u8; N];
        let mut read = 0usize;
        // SAFETY: copies from this process into a local buffer of `N` bytes;
        // an address that cannot be read fails the call, never faults.
        let ok =
            unsafe { ReadProcessMemory(GetCurrentProcess(), addr as *const _, copy.as_mut_ptr().cast(), N, &mut read) };
        (ok != 0 && read == N).then_some(copy)
    }
}

#[cfg(unix)]
mod imp {
    use super::{granule_round, Region, GRANULE};

    pub fn map(len: usize) -> Option<Region> {
        // mmap aligns to pages only: over-map by one granule and start at the
        // first granule boundary. The mapping covers whole granules from there.
        let total = granule_round(len)?.checked_add(GRANULE)?;
        // SAFETY: a fresh anonymous private mapping aliases nothing.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let padding = (GRANULE - (raw as usize & (GRANULE - 1))) & (GRANULE - 1);
        Some(Region { base: raw.cast::<u8>().wrapping_add(padding), padding })
    }

    pub fn reserve(len: usize) -> Option<Region> {
        let total = granule_round(len)?.checked_add(GRANULE)?;
        // SAFETY: a fresh anonymous private mapping no one may touch aliases
        // nothing; MAP_NORESERVE: no swap is set aside for it.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let padding = (GRANULE - (raw as usize & (GRANULE - 1))) & (GRANULE - 1);
        Some(Region { base: raw.cast::<u8>().wrapping_add(padding), padding })
    }

    /// # Safety
    /// The range lies inside a reservation of ours, page-aligned.
    pub unsafe fn commit(base: *mut u8, len: usize) -> bool {
        // SAFETY: the pages are ours (the caller's contract); they read as
        // zero, having never been written or having been discarded.
        unsafe { libc::mprotect(base.cast(), len, libc::PROT_READ | libc::PROT_WRITE) == 0 }
    }

    /// # Safety
    /// As for [`decommit`], page-aligned.
    pub unsafe fn withdraw(base: *mut u8, len: usize) {
        // SAFETY: forwarded contract: the contents are discarded, then any
        // access faults.
        unsafe {
            libc::madvise(base.cast(), len, libc::MADV_DONTNEED);
            libc::mprotect(base.cast(), len, libc::PROT_NONE);
        }
    }

    /// # Safety
    /// `region` came from [`map`]`(len)` and nothing uses it any more.
    pub unsafe fn release(region: Region, len: usize) {
        let total = granule_round(len).unwrap_or(len) + GRANULE;
        // SAFETY: the caller hands back the whole mapping `map` made.
        unsafe { libc::munmap(region.base.wrapping_sub(region.padding).cast(), total) };
    }

    /// # Safety
    /// The range lies inside a live mapping and nothing uses its contents.
    pub unsafe fn decommit(base: *mut u8, len: usize) {
        // SAFETY: the caller guarantees the pages are ours and unused; they stay
        // mapped (and read as zero when touched again).
        unsafe { libc::madvise(base.cast(), len, libc::MADV_DONTNEED) };
    }
    pub fn read_safely<const N: usize>(addr: usize) -> Option<[u8; N]> {
        let mut copy = [0u8; N];
        let local = libc::iovec { iov_base: copy.as_mut_ptr().cast(), iov_len: N };
        let remote = libc::iovec { iov_base: addr as *mut _, iov_len: N };
        // SAFETY: copies from this process into a local buffer of `N` bytes;
        // an address that cannot be read fails the call, never faults.
        let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        (read == N as isize).then_some(copy)
    }
}

/// Maps `len` bytes of zeroed, readable and writable memory at a granule
/// boundary. `None` when the address space or commit limit is exhausted.
pub fn map(len: usize) -> Option<Region> {
    if len == 0 {
        return None;
    }
    imp::map(len)
}

/// Gives a whole mapping back to the operating system.
///
/// # Safety
/// `region` came from [`map`]`(len)`, and no pointer into it is used again.
pub unsafe fn release(region: Region, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { imp::release(region, len) }
}

/// Returns the physical memory behind part of a mapping, keeping the range.
///
/// # Safety
/// The range lies inside a live mapping and its contents are no longer needed.
pub unsafe fn decommit(base: *mut u8, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { imp::decommit(base, len) }
}

/// Reserves `len` bytes of address space at a granule boundary that no code
/// may touch until [`commit`]ted. Released with [`release`]`(region, len)`.
pub fn reserve(len: usize) -> Option<Region> {
    if len == 0 {
        return None;
    }
    imp::reserve(len)
}

/// Makes page-aligned reserved pages readable and writable, reading as zero.
/// False if the system is out of memory to back them.
///
/// # Safety
/// The range lies inside a region of [`reserve`], page-aligned, and none of
/// its pages is committed.
pub unsafe fn commit(base: *mut u8, len: usize) -> bool {
    // SAFETY: forwarded contract.
    unsafe { imp::commit(base, len) }
}

/// Returns page-aligned committed pages to the reserved state: their
/// contents are gone and any access to them faults.
///
/// # Safety
/// The range lies inside a region of [`reserve`], page-aligned, and nothing
/// may use its contents any more.
pub unsafe fn withdraw(base: *mut u8, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { imp::withdraw(base, len) }
}

/// The page size guard pages are made of (Windows' and x86's).
pub const PAGE: usize = 4096;

/// Writes one byte of every page of `len` bytes at `base`, so that the OS
/// supplies them now rather than at their first use.
///
/// # Safety
/// The range is a fresh mapping of ours, readable and writable, that nothing
/// else uses yet (its bytes are zero and stay zero).
pub unsafe fn touch(base: *mut u8, len: usize) {
    for offset in (0..len).step_by(PAGE) {
        // SAFETY: `offset < len`, inside the mapping (the caller's contract);
        // a volatile write the compiler cannot drop.
        unsafe { base.add(offset).write_volatile(0) };
    }
}

/// Maps zeroed memory for the heap's own bookkeeping, for the life of the
/// process. Returns null when the system is out of address space.
pub fn map_forever(len: usize) -> *mut u8 {
    let Some(region) = map(len) else { return core::ptr::null_mut() };
    crate::stats::reserved(granule_round(len).unwrap_or(len) as i64);
    note_bookkeeping(region.base as usize, len);
    region.base
}

/// The heap's own tables ([`map_forever`]), as `(base, len)`, for
/// [`is_bookkeeping`]; a table past the last entry is not noted.
static BOOKKEEPING: [(AtomicUsize, AtomicUsize); 256] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 256];
static BOOKKEEPING_LEN: AtomicUsize = AtomicUsize::new(0);

fn note_bookkeeping(base: usize, len: usize) {
    let index = BOOKKEEPING_LEN.fetch_add(1, Ordering::Relaxed);
    if let Some((b, l)) = BOOKKEEPING.get(index) {
        l.store(len, Ordering::Relaxed);
        b.store(base, Ordering::Release);
    }
}

/// Whether `addr` lies in one of the heap's own tables (thread states,
/// delayed frees, the owner map, the leak table).
pub fn is_bookkeeping(addr: usize) -> bool {
    let noted = BOOKKEEPING_LEN.load(Ordering::Relaxed).min(BOOKKEEPING.len());
    BOOKKEEPING[..noted].iter().any(|(base, len)| {
        let base = base.load(Ordering::Acquire);
        base != 0 && addr.wrapping_sub(base) < len.load(Ordering::Relaxed)
    })
}

/// Copies `N` bytes at `addr` if they can be read, without faulting when
/// they cannot (the pages are gone or inaccessible): for looking at memory
/// while the process is dying.
pub fn read_safely<const N: usize>(addr: usize) -> Option<[u8; N]> {
    imp::read_safely(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_granule_aligned_zeroed_and_writable() {
        for len in [1, 4096, GRANULE, GRANULE + 1, 5 * GRANULE + 17] {
            let region = map(len).expect("map");
            assert_eq!(region.base as usize % GRANULE, 0, "len {len}");
            // SAFETY: `len` bytes at `base` were just mapped for this test.
            let bytes = unsafe { core::slice::from_raw_parts_mut(region.base, len) };
            assert!(bytes.iter().all(|&b| b == 0));
            bytes.fill(0xA5);
            // SAFETY: the test is done with the mapping.
            unsafe { release(region, len) };
        }
    }

    #[test]
    fn zero_length_is_refused() {
        assert!(map(0).is_none());
    }
}
