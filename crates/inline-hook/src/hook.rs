//! One hook: what is written at its target, and the handles a caller keeps.

use crate::trampoline::PATCH_LEN;

/// A hook of a group being prepared: its place in the group, and its
/// trampoline's address, known before the group goes live so that the
/// detour can find the original from its very first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HookId {
    pub(crate) index: usize,
    pub(crate) trampoline: usize,
}

impl HookId {
    /// Its place among what was added to the group (hooks and raw patches),
    /// as a refusal's [`GroupError::Target`](crate::GroupError) names it.
    pub fn index(self) -> usize {
        self.index
    }

    /// Where the original's moved instructions go on: call this to call the
    /// original. Nothing is there to execute until the group goes live.
    pub fn trampoline(self) -> usize {
        self.trampoline
    }
}

/// A live hook. Hooks stay for the life of the process: their trampolines
/// are never freed, since a thread may be inside one or return into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hook {
    pub(crate) target: usize,
    pub(crate) detour: usize,
    pub(crate) trampoline: usize,
}

impl Hook {
    /// The hooked function, which now jumps to the detour.
    pub fn target(&self) -> usize {
        self.target
    }

    /// The function every call to the target reaches.
    pub fn detour(&self) -> usize {
        self.detour
    }

    /// The original function: its moved instructions, then a jump back.
    pub fn trampoline(&self) -> usize {
        self.trampoline
    }
}

/// The bytes written at `target`: `jmp detour` (`E9 rel32`), then `int3`
/// over the rest of the `moved_len` moved bytes, so that nothing jumping
/// there by mistake runs half an instruction.
pub fn jump_patch(target: usize, detour: usize, moved_len: usize) -> Vec<u8> {
    let rel = (detour as u32).wrapping_sub(target as u32).wrapping_sub(PATCH_LEN as u32);
    let mut patch = Vec::with_capacity(moved_len.max(PATCH_LEN));
    patch.push(0xE9);
    patch.extend_from_slice(&rel.to_le_bytes());
    patch.resize(moved_len.max(PATCH_LEN), 0xCC);
    patch
}

#[cfg(all(windows, target_arch = "x86"))]
pub use memory::read_code;
#[cfg(all(windows, target_arch = "x86"))]
pub(crate) use memory::Unprotected;

/// Reading code and lifting page protection around writes to it.
#[cfg(all(windows, target_arch = "x86"))]
mod memory {
    use windows_sys::Win32::Foundation::GetLastError;
    use windows_sys::Win32::System::Memory::{
        VirtualProtect, VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, PAGE_EXECUTE_READWRITE, PAGE_GUARD,
        PAGE_PROTECTION_FLAGS,
    };

    /// Any `PAGE_EXECUTE_*`: on x86 an executable page is readable.
    const EXECUTABLE: PAGE_PROTECTION_FLAGS = 0xF0;

    /// Up to `len` bytes from `address`, as far as committed executable
    /// memory goes; `None` if `address` itself is not in such memory.
    pub fn read_code(address: usize, len: usize) -> Option<Vec<u8>> {
        let mut readable = 0;
        while readable < len {
            match executable_after(address + readable) {
                Some(more) => readable += more,
                None => break,
            }
        }
        if readable == 0 {
            return None;
        }
        let len = len.min(readable);
        let mut code = vec![0u8; len];
        // SAFETY: the `len` bytes from `address` are committed and executable,
        // hence readable; `code` holds `len` bytes.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, code.as_mut_ptr(), len) };
        Some(code)
    }

    /// How many bytes of committed executable memory start at `address`.
    fn executable_after(address: usize) -> Option<usize> {
        let info = query(address)?;
        let usable = info.State == MEM_COMMIT && info.Protect & EXECUTABLE != 0 && info.Protect & PAGE_GUARD == 0;
        usable.then(|| info.BaseAddress as usize + info.RegionSize - address)
    }

    fn query(address: usize) -> Option<MEMORY_BASIC_INFORMATION> {
        // SAFETY: MEMORY_BASIC_INFORMATION is plain data.
        let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
        let size = core::mem::size_of::<MEMORY_BASIC_INFORMATION>();
        // SAFETY: `info` is a valid out-buffer of `size` bytes; any address may be queried.
        (unsafe { VirtualQuery(address as *const _, &mut info, size) } == size).then_some(info)
    }

    /// Code pages made writable, given their protection back on drop
    /// (latest first, so a page changed twice ends as it was before the first).
    #[derive(Default)]
    pub(crate) struct Unprotected {
        changed: Vec<(usize, PAGE_PROTECTION_FLAGS)>,
    }

    impl Unprotected {
        /// Makes every page of `len` bytes at `address` writable and
        /// executable (never only writable: a thread may be running there).
        pub(crate) fn lift(&mut self, address: usize, len: usize) -> Result<(), u32> {
            const PAGE: usize = 4096;
            let first = address / PAGE;
            let last = (address + len - 1) / PAGE;
            for page in first..=last {
                let mut old: PAGE_PROTECTION_FLAGS = 0;
                // SAFETY: changes the protection of one committed code page
                // (the caller read code there); it stays executable.
                let ok = unsafe { VirtualProtect((page * PAGE) as *const _, 1, PAGE_EXECUTE_READWRITE, &mut old) };
                if ok == 0 {
                    // SAFETY: reads the calling thread's last error.
                    return Err(unsafe { GetLastError() });
                }
                self.changed.push((page * PAGE, old));
            }
            Ok(())
        }
    }

    impl Drop for Unprotected {
        fn drop(&mut self) {
            for &(page, old) in self.changed.iter().rev() {
                let mut ignored: PAGE_PROTECTION_FLAGS = 0;
                // SAFETY: gives a page changed by `lift` the protection it had.
                unsafe { VirtualProtect(page as *const _, 1, old, &mut ignored) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_jumps_to_the_detour_and_fills_the_rest_with_int3() {
        let patch = jump_patch(0x0040_1000, 0x1000_0000, 7);
        let rel = 0x1000_0000u32 - 0x0040_1005;
        let mut expected = vec![0xE9];
        expected.extend_from_slice(&rel.to_le_bytes());
        expected.extend_from_slice(&[0xCC, 0xCC]);
        assert_eq!(patch, expected);
    }

    #[test]
    fn a_backward_jump_wraps() {
        let patch = jump_patch(0x1000_0000, 0x0040_1000, 5);
        assert_eq!(&patch[1..], &(0x0040_1000u32.wrapping_sub(0x1000_0005)).to_le_bytes());
    }
}
