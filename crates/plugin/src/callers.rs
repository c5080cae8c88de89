//! Who called the heap: the code address leak reports attribute a block to,
//! and how such an address is shown (`module.dll+0x1a2b`).

use core::sync::atomic::{AtomicUsize, Ordering};

use crt_hooks::{loader, policy};
use windows_sys::Win32::System::Diagnostics::Debug::RtlCaptureStackBackTrace;

/// This DLL's address range, found once.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);

/// Frames walked at most: the heap's own frames, then the caller's.
const MAX_FRAMES: usize = 24;

/// The first return address on the stack outside this DLL: the code in the
/// game or a mod that called an allocation function (0 if none is found).
/// Only used when leak tracking is on; walks frame pointers, and does not
/// allocate.
pub fn caller() -> usize {
    let (start, end) = own_range();
    let mut frames = [core::ptr::null_mut(); MAX_FRAMES];
    // SAFETY: the buffer holds MAX_FRAMES entries; the hash is optional.
    let count = unsafe { RtlCaptureStackBackTrace(1, MAX_FRAMES as u32, frames.as_mut_ptr(), core::ptr::null_mut()) };
    frames[..usize::from(count).min(MAX_FRAMES)]
        .iter()
        .map(|&frame| frame as usize)
        .find(|&address| address != 0 && !(start..end).contains(&address))
        .unwrap_or(0)
}

fn own_range() -> (usize, usize) {
    let start = OWN_START.load(Ordering::Relaxed);
    if start != 0 {
        return (start, OWN_END.load(Ordering::Relaxed));
    }
    let Some(base) = crate::module::own_handle().map(|h| h as usize) else { return (0, 0) };
    // SAFETY: the base of a loaded module: its header page is readable.
    let Ok(size) = (unsafe { pe_imports::size_of_image(base as *const u8) }) else { return (0, 0) };
    let end = base + size as usize;
    OWN_END.store(end, Ordering::Relaxed);
    OWN_START.store(base, Ordering::Relaxed);
    (base, end)
}

/// A code address shown as `module+0xoffset` (`0x12345678` outside any
/// module), without allocating: for lines written where the heap may have
/// no memory to give.
pub struct Code(pub usize);

impl core::fmt::Display for Code {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let address = self.0;
        let Some((base, path)) = crate::module::path_containing(address) else {
            return write!(f, "{address:#010x}");
        };
        for c in char::decode_utf16(path.file_name().iter().copied()) {
            write!(f, "{}", c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
        write!(f, "+{:#x}", address - base)
    }
}

/// Shows a code address as `module+0xoffset` (`0x12345678` outside any module).
pub fn describe(address: usize) -> String {
    let Some(base) = crate::module::containing(address).map(|h| h as usize) else {
        return format!("{address:#010x}");
    };
    let path = loader::module_path(base).unwrap_or_default();
    format!("{}+{:#x}", policy::file_name(&path), address - base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn call_through_caller() -> usize {
        caller()
    }

    #[test]
    fn addresses_show_as_module_and_offset() {
        let inside = describe as *const () as usize;
        let shown = describe(inside);
        assert!(shown.ends_with(&format!("+{:#x}", inside - crate::module::own_handle().unwrap() as usize)), "{shown}");
        assert!(shown.to_ascii_lowercase().contains(".exe+") || shown.contains(".dll+"), "{shown}");
        assert_eq!(describe(0x10), "0x00000010");
    }

    #[test]
    fn code_addresses_show_as_describe_shows_them() {
        for address in [describe as *const () as usize, 0x10] {
            assert_eq!(Code(address).to_string().to_ascii_lowercase(), describe(address).to_ascii_lowercase());
        }
    }

    #[test]
    fn the_caller_is_outside_this_module() {
        // In a test binary the plugin's code is the executable itself, so the
        // first frame outside it is the thread's start in a system DLL.
        let (start, end) = own_range();
        assert!(start != 0 && end > start);
        let caller = call_through_caller();
        assert!(caller != 0 && !(start..end).contains(&caller), "{}", describe(caller));
    }
}
