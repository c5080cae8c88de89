//! Patching real modules: Wine's builtin msvfw32.dll and xinput1_3.dll import
//! `malloc`, `free` and more from ucrtbase.dll. Runs under Wine, as every
//! Windows test of the workspace does.
#![cfg(windows)]

use crt_hooks::loader;
use crt_hooks::patch::{patch_module, ModuleOutcome};
use crt_hooks::policy::Policy;
use windows_sys::Win32::System::LibraryLoader::{LoadLibraryExW, LoadLibraryW, DONT_RESOLVE_DLL_REFERENCES};

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// A module being loaded (mapped, imports not bound) is reported as such,
/// and none of its slots is touched.
#[test]
fn a_module_whose_imports_are_not_bound_yet_waits() {
    // The runtime itself is loaded, so only the unbound slots hold the module back.
    // SAFETY: loading a runtime DLL; it stays loaded.
    assert!(!unsafe { LoadLibraryW(wide("ucrtbase.dll").as_ptr()) }.is_null());
    // SAFETY: maps msvfw32.dll without binding its imports or running its DllMain.
    let module =
        unsafe { LoadLibraryExW(wide("msvfw32.dll").as_ptr(), core::ptr::null_mut(), DONT_RESOLVE_DLL_REFERENCES) };
    assert!(!module.is_null(), "msvfw32.dll maps");
    let base = module as usize;
    let path = loader::module_path(base).expect("its path");
    // SAFETY: the module is mapped and stays so (never freed here).
    let report = loader::with_loader_lock(|| unsafe { patch_module(base, &path, &Policy::default()) });
    assert_eq!(report.outcome, ModuleOutcome::NotBoundYet, "{report:?}");
    assert_eq!(report.total_redirected(), 0);
}

/// A loaded module's runtime imports are redirected to the runtime's own
/// entry points; a second look finds them already ours.
#[test]
fn a_loaded_modules_runtime_imports_are_redirected_once() {
    // SAFETY: loading a DLL of the system; it stays loaded.
    let module = unsafe { LoadLibraryW(wide("xinput1_3.dll").as_ptr()) };
    assert!(!module.is_null(), "xinput1_3.dll loads");
    let base = module as usize;
    let path = loader::module_path(base).expect("its path");
    // A policy without system folders: this test patches a system DLL on purpose.
    let policy = Policy::default();
    // SAFETY: the module is loaded and stays so.
    let first = loader::with_loader_lock(|| unsafe { patch_module(base, &path, &policy) });
    assert_eq!(first.outcome, ModuleOutcome::Examined, "{first:?}");
    assert!(first.redirected.iter().any(|&(dll, n)| dll == "ucrtbase.dll" && n >= 2), "{first:?}");
    assert!(first.left_alone.is_empty(), "{first:?}");
    // SAFETY: as above.
    let second = loader::with_loader_lock(|| unsafe { patch_module(base, &path, &policy) });
    assert_eq!(second.total_redirected(), 0, "{second:?}");
    assert_eq!(second.already, first.total_redirected());
}

/// The system-folder rule leaves Windows' own DLLs alone.
#[test]
fn windows_dlls_are_left_alone_by_the_installed_policy() {
    let mut policy = Policy::default();
    for dir in loader::system_dirs() {
        policy.add_system_dir(&dir);
    }
    let kernel32 = loader::modules()
        .into_iter()
        .map(|m| m as usize)
        .find(|&base| loader::module_path(base).is_some_and(|p| p.to_ascii_lowercase().ends_with("kernel32.dll")))
        .expect("kernel32 is loaded");
    let path = loader::module_path(kernel32).unwrap();
    // SAFETY: kernel32 is loaded for the life of the process.
    let report = loader::with_loader_lock(|| unsafe { patch_module(kernel32, &path, &policy) });
    assert_eq!(report.outcome, ModuleOutcome::Skipped(crt_hooks::Skip::SystemDll), "{path}");
}
