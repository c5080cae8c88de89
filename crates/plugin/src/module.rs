//! The plugin's own module: its handle, its path, and pinning it in memory.

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};

/// Any address inside this DLL identifies it to `GetModuleHandleExW`.
static ANCHOR: u8 = 0;

/// The handle of this DLL, whatever name it was installed under.
pub fn own_handle() -> Option<HMODULE> {
    handle_with(GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT)
}

/// Keeps this DLL mapped until the process ends, whatever `FreeLibrary` calls follow.
///
/// Once the heap has started, other modules hold blocks and function pointers
/// that lead into this DLL (and mimalloc registers a fiber-local-storage
/// callback here): unmapping it would leave all of those dangling.
pub fn pin() -> bool {
    handle_with(GET_MODULE_HANDLE_EX_FLAG_PIN).is_some()
}

fn handle_with(flags: u32) -> Option<HMODULE> {
    module_at((&raw const ANCHOR).cast(), flags)
}

/// The module that contains `address`, if any (its reference count untouched).
pub fn containing(address: usize) -> Option<HMODULE> {
    module_at(address as *const u8, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT)
}

fn module_at(address: *const u8, flags: u32) -> Option<HMODULE> {
    let mut module: HMODULE = core::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the "name" is an address, looked up, never
    // read; `module` is a valid out-pointer.
    let ok = unsafe { GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | flags, address.cast(), &mut module) };
    (ok != 0 && !module.is_null()).then_some(module)
}

/// A NUL-terminated UTF-16 path in a fixed buffer (no allocation).
pub struct WidePath {
    buf: [u16; Self::CAPACITY],
    len: usize,
}

impl WidePath {
    const CAPACITY: usize = 1024;

    /// The path, NUL-terminated, for Win32 calls.
    pub fn as_ptr(&self) -> *const u16 {
        self.buf.as_ptr()
    }

    /// The path without its terminator.
    pub fn as_slice(&self) -> &[u16] {
        &self.buf[..self.len]
    }

    /// What follows the last `\` or `/`: the file name.
    pub fn file_name(&self) -> &[u16] {
        let path = self.as_slice();
        let start = path.iter().rposition(|&c| c == u16::from(b'\\') || c == u16::from(b'/')).map_or(0, |i| i + 1);
        &path[start..]
    }

    /// Replaces what follows the last `.` of the file name with `ext`
    /// (`MemoryPoolNVSE.dll` becomes `MemoryPoolNVSE.log`).
    pub fn replace_extension(&mut self, ext: &str) -> Option<()> {
        let name_start = self.as_slice().iter().rposition(|&c| c == u16::from(b'\\')).map_or(0, |i| i + 1);
        let dot = self.as_slice()[name_start..].iter().rposition(|&c| c == u16::from(b'.'))? + name_start;
        let new_len = dot + 1 + ext.len();
        if new_len >= Self::CAPACITY {
            return None;
        }
        for (slot, byte) in self.buf[dot + 1..new_len].iter_mut().zip(ext.bytes()) {
            *slot = u16::from(byte);
        }
        self.len = new_len;
        self.buf[new_len] = 0;
        Some(())
    }
}

/// The full path of this DLL, or `None` if it does not fit the buffer.
pub fn own_path() -> Option<WidePath> {
    path_of(own_handle()?)
}

/// The module containing `address`: its base and full path, without
/// allocating.
pub fn path_containing(address: usize) -> Option<(usize, WidePath)> {
    let module = containing(address)?;
    Some((module as usize, path_of(module)?))
}

/// The full path of a loaded module, or `None` if it does not fit the buffer.
fn path_of(module: HMODULE) -> Option<WidePath> {
    let mut path = WidePath { buf: [0; WidePath::CAPACITY], len: 0 };
    // SAFETY: the buffer holds CAPACITY u16s, as the size argument says.
    let len = unsafe { GetModuleFileNameW(module, path.buf.as_mut_ptr(), WidePath::CAPACITY as u32) } as usize;
    // A full buffer means the path was truncated.
    if len == 0 || len >= WidePath::CAPACITY {
        return None;
    }
    path.len = len;
    Some(path)
}

/// A file beside this DLL and named after it, with extension `ext`
/// (`stats.csv` gives `...\MemoryPoolNVSE.stats.csv`).
pub fn beside(ext: &str) -> Option<std::path::PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    let mut path = own_path()?;
    path.replace_extension(ext)?;
    Some(std::ffi::OsString::from_wide(path.as_slice()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(s: &str) -> WidePath {
        let mut path = WidePath { buf: [0; WidePath::CAPACITY], len: 0 };
        for (slot, c) in path.buf.iter_mut().zip(s.encode_utf16()) {
            *slot = c;
        }
        path.len = s.encode_utf16().count();
        path
    }

    #[test]
    fn extension_of_the_file_name_is_replaced() {
        let mut path = wide(r"C:\Games\FNV.v2\Data\NVSE\Plugins\MemoryPoolNVSE.dll");
        path.replace_extension("log").unwrap();
        assert_eq!(
            String::from_utf16(path.as_slice()).unwrap(),
            r"C:\Games\FNV.v2\Data\NVSE\Plugins\MemoryPoolNVSE.log"
        );
        assert_eq!(path.buf[path.len], 0);
    }

    #[test]
    fn a_dot_in_a_folder_name_is_not_an_extension() {
        let mut path = wide(r"C:\Games\FNV.v2\plugin");
        assert!(path.replace_extension("log").is_none());
    }

    #[test]
    fn own_path_names_the_running_module() {
        let path = own_path().expect("module path");
        let text = String::from_utf16(path.as_slice()).unwrap().to_ascii_lowercase();
        assert!(text.ends_with(".exe") || text.ends_with(".dll"), "{text}");
    }
}
