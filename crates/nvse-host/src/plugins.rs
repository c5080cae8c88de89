//! Finding, checking and loading plugin DLLs, as xNVSE's plugin manager does.

use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};

use nvse_abi::{exports, LoadFn, PreloadFn, QueryFn};
use windows_sys::Win32::Foundation::{FreeLibrary, HMODULE};
use windows_sys::Win32::System::Diagnostics::Debug::{
    ImageDirectoryEntryToData, ImageRvaToVa, MapAndLoad, UnMapAndLoad, IMAGE_DIRECTORY_ENTRY_EXPORT, LOADED_IMAGE,
};
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryExA, LOAD_WITH_ALTERED_SEARCH_PATH};
use windows_sys::Win32::System::SystemServices::IMAGE_EXPORT_DIRECTORY;

/// The folder of the "game" executable (this program).
pub fn game_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `<game>\Data\NVSE\Plugins\*.dll`, sorted case-insensitively by full path
/// (NVSE sorts with `_stricmp`), not recursive.
pub fn discover() -> Vec<PathBuf> {
    let dir = game_dir().join("Data").join("NVSE").join("Plugins");
    let mut dlls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("dll")))
                .collect()
        })
        .unwrap_or_default();
    dlls.sort_by_key(|p| p.to_string_lossy().to_ascii_lowercase());
    dlls
}

/// The named exports of a DLL file, read without loading it (imagehlp's
/// `MapAndLoad`, as NVSE's plugin checker does).
pub fn named_exports(path: &Path) -> Result<Vec<String>, String> {
    let c_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    let mut image: LOADED_IMAGE = LOADED_IMAGE::default();
    // SAFETY: `c_path` is NUL-terminated; `image` is a valid out-pointer.
    if unsafe { MapAndLoad(c_path.as_ptr().cast(), std::ptr::null(), &mut image, 0, 1) } == 0 {
        return Err("MapAndLoad failed".into());
    }
    // SAFETY: `image` was filled by a successful MapAndLoad and is unmapped below.
    let names = unsafe { export_names(&image) };
    // SAFETY: `image` came from MapAndLoad.
    unsafe { UnMapAndLoad(&mut image) };
    Ok(names)
}

/// # Safety
/// `image` must come from a successful `MapAndLoad`.
unsafe fn export_names(image: &LOADED_IMAGE) -> Vec<String> {
    let base = image.MappedAddress as *const c_void;
    let rva_to_ptr = |rva: u32| -> *const u8 {
        // SAFETY: the headers and base come from MapAndLoad; ImageRvaToVa
        // returns null for an RVA outside every section.
        unsafe { ImageRvaToVa(image.FileHeader, base, rva, std::ptr::null_mut()) as *const u8 }
    };
    let mut size = 0u32;
    // SAFETY: as above; `size` is a valid out-pointer.
    let dir = unsafe { ImageDirectoryEntryToData(base, false, IMAGE_DIRECTORY_ENTRY_EXPORT, &mut size) }
        as *const IMAGE_EXPORT_DIRECTORY;
    // SAFETY: a non-null result points at the export directory of the mapped file.
    let Some(dir) = (unsafe { dir.as_ref() }) else { return Vec::new() };
    let table = rva_to_ptr(dir.AddressOfNames) as *const u32;
    if table.is_null() {
        return Vec::new();
    }
    (0..dir.NumberOfNames as usize)
        .filter_map(|i| {
            // SAFETY: the name table has NumberOfNames entries.
            let name = rva_to_ptr(unsafe { table.add(i).read_unaligned() });
            // SAFETY: export names are NUL-terminated strings in the mapped file.
            (!name.is_null()).then(|| unsafe { CStr::from_ptr(name.cast()) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// A loaded plugin DLL.
pub struct Library {
    pub path: PathBuf,
    pub module: HMODULE,
}

impl Library {
    /// `LoadLibraryExA(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH)`, as NVSE does.
    pub fn load(path: &Path) -> Result<Library, String> {
        let c_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: `c_path` is NUL-terminated.
        let module =
            unsafe { LoadLibraryExA(c_path.as_ptr().cast(), std::ptr::null_mut(), LOAD_WITH_ALTERED_SEARCH_PATH) };
        if module.is_null() {
            return Err(format!("couldn't load ({})", std::io::Error::last_os_error()));
        }
        Ok(Library { path: path.to_owned(), module })
    }

    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn symbol(&self, name: &str) -> Option<unsafe extern "system" fn() -> isize> {
        let name = CString::new(name).ok()?;
        // SAFETY: `module` is a loaded module; `name` is NUL-terminated.
        unsafe { GetProcAddress(self.module, name.as_ptr().cast()) }
    }

    pub fn preload(&self) -> Option<PreloadFn> {
        // SAFETY: NVSE's contract: this export has the PreloadFn signature.
        self.symbol(exports::PRELOAD).map(|f| unsafe { std::mem::transmute::<_, PreloadFn>(f) })
    }

    pub fn query(&self) -> Option<QueryFn> {
        // SAFETY: NVSE's contract: this export has the QueryFn signature.
        self.symbol(exports::QUERY).map(|f| unsafe { std::mem::transmute::<_, QueryFn>(f) })
    }

    pub fn load_fn(&self) -> Option<LoadFn> {
        // SAFETY: NVSE's contract: this export has the LoadFn signature.
        self.symbol(exports::LOAD).map(|f| unsafe { std::mem::transmute::<_, LoadFn>(f) })
    }

    /// `FreeLibrary`, as NVSE does for a plugin that declined.
    pub fn free(self) {
        // SAFETY: `module` came from LoadLibraryExA and is released once.
        unsafe { FreeLibrary(self.module) };
    }
}
