//! Memory for trampolines.
//!
//! Each group gets fresh pages of its own, writable while its trampolines
//! are written and executable (never both) from just before the group goes
//! live. A page that was ever executable is never written again, so no
//! thread can be running in a page while it is not executable; and it is
//! never freed, since threads may be inside a trampoline or return into one.
//! A group that does not go live frees its pages: nothing ever ran there.
//!
//! A page holds at least 64 trampolines; a hook costs far less memory than
//! the 64 KiB of address space each page reserves, and groups are few.

use windows_sys::Win32::Foundation::GetLastError;
use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualFree, VirtualProtect, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_EXECUTE_READ,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::trampoline::MAX_TRAMPOLINE;

const PAGE: usize = 4096;
/// Trampolines start on 16-byte boundaries, as functions do.
const ALIGN: usize = 16;

/// The pages of one group's trampolines.
pub(crate) struct Stage {
    pages: Vec<usize>,
    /// Bytes used in the last page.
    used: usize,
}

impl Stage {
    pub(crate) fn new() -> Stage {
        Stage { pages: Vec::new(), used: PAGE }
    }

    /// Where the next trampoline goes: room for [`MAX_TRAMPOLINE`] bytes,
    /// in a fresh page if the last one is full.
    pub(crate) fn next(&mut self) -> Result<usize, u32> {
        if self.used + MAX_TRAMPOLINE > PAGE {
            // SAFETY: asks for a fresh private page; no memory of ours is touched.
            let page = unsafe { VirtualAlloc(core::ptr::null(), PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) };
            if page.is_null() {
                return Err(last_error());
            }
            self.pages.push(page as usize);
            self.used = 0;
        }
        Ok(self.pages[self.pages.len() - 1] + self.used)
    }

    /// Writes `code` where [`next`](Stage::next) said, and moves past it.
    pub(crate) fn fill(&mut self, code: &[u8]) -> usize {
        assert!(code.len() <= MAX_TRAMPOLINE && self.used + code.len() <= PAGE, "a trampoline outgrew its slot");
        let at = self.pages[self.pages.len() - 1] + self.used;
        // SAFETY: `at` and the `code.len()` bytes after it lie in the last
        // page, which is ours, committed and still read-write (checked above).
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        self.used += code.len().next_multiple_of(ALIGN);
        at
    }

    /// Makes every page executable and read-only, and forgets them: from
    /// now on they belong to the hooks, for the life of the process.
    pub(crate) fn seal(&mut self) -> Result<(), u32> {
        for &page in &self.pages {
            let mut old: PAGE_PROTECTION_FLAGS = 0;
            // SAFETY: one of our pages; no thread runs there yet.
            if unsafe { VirtualProtect(page as *const _, PAGE, PAGE_EXECUTE_READ, &mut old) } == 0 {
                return Err(last_error());
            }
            // SAFETY: flushes our own page in our own process.
            unsafe { FlushInstructionCache(GetCurrentProcess(), page as *const _, PAGE) };
        }
        Ok(())
    }

    /// The group went live: its pages are kept for good.
    pub(crate) fn keep(mut self) {
        self.pages.clear();
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        for &page in &self.pages {
            // SAFETY: a page of a group that never went live: nothing points
            // into it and no thread ever ran there.
            unsafe { VirtualFree(page as *mut _, 0, MEM_RELEASE) };
        }
    }
}

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() }
}
