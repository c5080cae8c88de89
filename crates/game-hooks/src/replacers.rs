//! Other heap replacers. Two must never both run: each would free the
//! other's blocks, and the last to patch an entry wins it silently.

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GetModuleHandleW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};

/// The DLLs of the public heap replacers for the game: NVHR's per-CPU
/// builds (loaded from `Data\NVHR` by its `d3dx9_38.dll` proxy) and psycho's.
pub const KNOWN: [&str; 8] = [
    "nvhr_avx512.dll",
    "nvhr_avx2.dll",
    "nvhr_avx.dll",
    "nvhr_sse2.dll",
    "nvhr_sse.dll",
    "nvhr_ia32.dll",
    "psycho_nvse.dll",
    "psycho_engine_fixes.dll",
];

/// The first known heap replacer loaded in the process.
pub fn loaded() -> Option<&'static str> {
    KNOWN.into_iter().find(|dll| {
        let wide: Vec<u16> = dll.encode_utf16().chain(Some(0)).collect();
        // SAFETY: NUL-terminated; GetModuleHandleW loads nothing.
        !unsafe { GetModuleHandleW(wide.as_ptr()) }.is_null()
    })
}

/// The file name of the module `address` lies in, if any.
pub fn module_of(address: usize) -> Option<String> {
    let mut module: HMODULE = core::ptr::null_mut();
    let flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
    // SAFETY: with FROM_ADDRESS the name argument is an address, any
    // address may be asked about, and `module` is a valid out-pointer.
    if unsafe { GetModuleHandleExW(flags, address as *const u16, &mut module) } == 0 {
        return None;
    }
    let mut buffer = [0u16; 1024];
    // SAFETY: the buffer holds as many u16s as the size argument says.
    let len = unsafe { GetModuleFileNameW(module, buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    let path = String::from_utf16_lossy(&buffer[..len.min(buffer.len())]);
    path.rsplit(['\\', '/']).next().filter(|name| !name.is_empty()).map(str::to_owned)
}
