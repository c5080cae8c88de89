//! The Windows loader: its lock, the loaded modules, and notifications of
//! modules that load later.
//!
//! Every scan and patch runs with the loader lock held, as loader
//! notifications do anyway: no module can be mapped, unmapped or have its
//! imports bound meanwhile, and patching is serialised. Rules under the loader
//! lock: load nothing, wait for no other thread.

use core::ffi::{c_void, CStr};

use windows_sys::Win32::Foundation::{HMODULE, UNICODE_STRING};
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GetModuleHandleW, GetProcAddress, GET_MODULE_HANDLE_EX_FLAG_PIN,
};
use windows_sys::Win32::System::ProcessStatus::K32EnumProcessModules;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

/// `LdrLockLoaderLock(Flags, Disposition, Cookie)`.
type LockFn = unsafe extern "system" fn(u32, *mut u32, *mut usize) -> i32;
/// `LdrUnlockLoaderLock(Flags, Cookie)`.
type UnlockFn = unsafe extern "system" fn(u32, usize) -> i32;

/// An ntdll export as `GetProcAddress` returns it.
type NtProc = unsafe extern "system" fn() -> isize;

fn ntdll_export(name: &CStr) -> Option<NtProc> {
    // SAFETY: ntdll is mapped in every process; the name is a NUL-terminated literal.
    let module = unsafe { GetModuleHandleW(windows_sys::w!("ntdll.dll")) };
    if module.is_null() {
        return None;
    }
    // SAFETY: a lookup in a loaded module with a NUL-terminated name.
    unsafe { GetProcAddress(module, name.as_ptr().cast()) }
}

/// Runs `body` with the loader lock held (re-entrant: fine inside a loader
/// notification or a DllMain).
pub fn with_loader_lock<R>(body: impl FnOnce() -> R) -> R {
    let lock = ntdll_export(c"LdrLockLoaderLock");
    let unlock = ntdll_export(c"LdrUnlockLoaderLock");
    let (Some(lock), Some(unlock)) = (lock, unlock) else { return body() };
    // SAFETY: both are ntdll exports with these signatures since Windows XP.
    let (lock, unlock) =
        unsafe { (core::mem::transmute::<NtProc, LockFn>(lock), core::mem::transmute::<NtProc, UnlockFn>(unlock)) };
    let mut cookie = 0usize;
    // SAFETY: flags 0 = wait for the lock; disposition may be null then.
    let status = unsafe { lock(0, core::ptr::null_mut(), &mut cookie) };
    let result = body();
    if status >= 0 {
        // SAFETY: releases the lock taken above with its cookie.
        unsafe { unlock(0, cookie) };
    }
    result
}

/// The modules loaded in this process. The caller holds the loader lock.
pub fn modules() -> Vec<HMODULE> {
    let mut handles: Vec<HMODULE> = vec![core::ptr::null_mut(); 512];
    loop {
        let bytes = (handles.len() * core::mem::size_of::<HMODULE>()) as u32;
        let mut needed = 0u32;
        // SAFETY: the buffer holds `bytes` bytes; `needed` is a valid out-pointer.
        let ok = unsafe { K32EnumProcessModules(GetCurrentProcess(), handles.as_mut_ptr(), bytes, &mut needed) };
        if ok == 0 {
            return Vec::new();
        }
        let count = needed as usize / core::mem::size_of::<HMODULE>();
        if count <= handles.len() {
            handles.truncate(count);
            return handles;
        }
        handles.resize(count, core::ptr::null_mut());
    }
}

/// The full path of the module at `base`, or `None` if Windows cannot say
/// (no module is there).
pub fn module_path(base: usize) -> Option<String> {
    let module = base as HMODULE;
    let mut buffer = [0u16; 1024];
    // SAFETY: the buffer holds as many u16s as the size argument says.
    let len = unsafe { GetModuleFileNameW(module, buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    (len > 0 && len < buffer.len()).then(|| String::from_utf16_lossy(&buffer[..len]))
}

/// Keeps the loaded module named `dll` loaded until the process ends, however
/// often it is freed. False if it is not loaded.
pub fn pin(dll: &str) -> bool {
    let wide: Vec<u16> = dll.encode_utf16().chain(Some(0)).collect();
    let mut module: HMODULE = core::ptr::null_mut();
    // SAFETY: the name is NUL-terminated and `module` a valid out-pointer;
    // GetModuleHandleExW loads nothing, it only marks a loaded module.
    unsafe { GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_PIN, wide.as_ptr(), &mut module) != 0 }
}

/// The address of `function` in the loaded module named `dll`, following forwarders.
pub fn export_address(dll: &str, function: &str) -> Option<usize> {
    let wide: Vec<u16> = dll.encode_utf16().chain(Some(0)).collect();
    // SAFETY: NUL-terminated; GetModuleHandleW loads nothing.
    let module = unsafe { GetModuleHandleW(wide.as_ptr()) };
    if module.is_null() {
        return None;
    }
    let name: Vec<u8> = function.bytes().chain(Some(0)).collect();
    // SAFETY: `module` is loaded (the loader lock is held); the name is NUL-terminated.
    unsafe { GetProcAddress(module, name.as_ptr()) }.map(|f| f as usize)
}

/// `LDR_DLL_LOADED_NOTIFICATION_DATA` (the loaded and unloaded variants share it).
#[repr(C)]
pub struct LoadedNotification {
    pub flags: u32,
    pub full_dll_name: *const UNICODE_STRING,
    pub base_dll_name: *const UNICODE_STRING,
    pub dll_base: *mut c_void,
    pub size_of_image: u32,
}

/// `LDR_DLL_NOTIFICATION_REASON_LOADED`.
pub const REASON_LOADED: u32 = 1;
/// `LDR_DLL_NOTIFICATION_REASON_UNLOADED`.
pub const REASON_UNLOADED: u32 = 2;

pub type NotificationFn = unsafe extern "system" fn(u32, *const LoadedNotification, *mut c_void);
type RegisterFn = unsafe extern "system" fn(u32, NotificationFn, *mut c_void, *mut *mut c_void) -> i32;

/// Registers `callback` for loader notifications (Windows Vista and later, and Wine).
pub fn register_notification(callback: NotificationFn) -> Result<(), i32> {
    let register = ntdll_export(c"LdrRegisterDllNotification").ok_or(-1)?;
    // SAFETY: ntdll's LdrRegisterDllNotification has this signature.
    let register = unsafe { core::mem::transmute::<NtProc, RegisterFn>(register) };
    let mut cookie = core::ptr::null_mut();
    // SAFETY: the callback is a static function of a DLL that is never unloaded.
    let status = unsafe { register(0, callback, core::ptr::null_mut(), &mut cookie) };
    if status >= 0 {
        Ok(())
    } else {
        Err(status)
    }
}

/// Reads a `UNICODE_STRING` into a `String`.
///
/// # Safety
/// `text` must be null or point at a valid `UNICODE_STRING`.
pub unsafe fn unicode(text: *const UNICODE_STRING) -> String {
    // SAFETY: caller's contract.
    let Some(text) = (unsafe { text.as_ref() }) else { return String::new() };
    if text.Buffer.is_null() {
        return String::new();
    }
    // SAFETY: Length is in bytes and describes the buffer.
    let units = unsafe { core::slice::from_raw_parts(text.Buffer, text.Length as usize / 2) };
    String::from_utf16_lossy(units)
}

/// Windows' own folders: the system directory (System32, or SysWOW64 for a
/// 32-bit process on 64-bit Windows), the Windows directory's System32 and
/// SysWOW64, and WinSxS.
pub fn system_dirs() -> Vec<String> {
    use windows_sys::Win32::System::SystemInformation::{GetSystemDirectoryW, GetWindowsDirectoryW};
    let mut dirs = Vec::new();
    let mut buffer = [0u16; 512];
    // SAFETY: the buffer holds as many u16s as the size argument says.
    let len = unsafe { GetSystemDirectoryW(buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    if len > 0 && len < buffer.len() {
        dirs.push(String::from_utf16_lossy(&buffer[..len]));
    }
    // SAFETY: as above.
    let len = unsafe { GetWindowsDirectoryW(buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    if len > 0 && len < buffer.len() {
        let windows = String::from_utf16_lossy(&buffer[..len]);
        let windows = windows.trim_end_matches('\\');
        for sub in ["System32", "SysWOW64", "WinSxS"] {
            dirs.push(format!("{windows}\\{sub}"));
        }
    }
    dirs
}
