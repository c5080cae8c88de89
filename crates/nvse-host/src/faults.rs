//! Memory bugs a fixture commits on request (`--provoke`), and the access
//! violation they cause, reported as a crash logger would see it: the
//! faulting instruction, the module it lies in, and the address accessed.
//!
//! Before the bug: `nvse-host: provoke <bug>: function=0x.. size=N` (the
//! fixture's export committing it). If it faults:
//! `nvse-host: access violation: ip=0x.. module=<file> address=0x.. write=<0|1> block=0x..`
//! and the process ends with code 3; if not:
//! `nvse-host: provoke <bug>: no fault block=0x..`.

use std::io::Write as _;
use std::sync::atomic::{AtomicPtr, Ordering};

use windows_sys::Win32::Foundation::{EXCEPTION_ACCESS_VIOLATION, HMODULE};
use windows_sys::Win32::System::Diagnostics::Debug::{AddVectoredExceptionHandler, EXCEPTION_POINTERS};
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};

use crate::Bug;

/// A fixture's bug: `fx_overrun` or `fx_use_after_free` (`crt_client.c`),
/// which store the block's address through the pointer before the bug.
pub type BugFn = unsafe extern "C" fn(usize, *mut *mut u8) -> i32;

/// The size of the block the bug is committed on: a multiple of 8, so that
/// one byte past it is the guard page's first byte.
const SIZE: usize = 56;

/// The exit code of a process an access violation ended.
const FAULTED: u32 = 3;

/// The block the fixture allocated, for the report.
static BLOCK: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// Commits `bug` through the fixture export `function`.
pub fn provoke(bug: Bug, fixture: &str, function: BugFn) {
    let name = bug.name();
    say(format_args!("provoke {name}: {fixture} function={:#x} size={SIZE}", function as usize));
    // SAFETY: a handler that only reads the exception record and ends the
    // process; it stays installed for the rest of the process.
    if unsafe { AddVectoredExceptionHandler(1, Some(on_exception)) }.is_null() {
        return say(format_args!("provoke {name}: FAILED, no exception handler"));
    }
    // SAFETY: the export's real signature; the pointer is valid for the call.
    unsafe { function(SIZE, BLOCK.as_ptr()) };
    say(format_args!("provoke {name}: no fault block={:#x}", BLOCK.load(Ordering::Relaxed) as usize));
}

fn say(line: core::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "nvse-host: {line}");
    let _ = out.flush();
}

/// Reports an access violation and ends the process; anything else goes on
/// to the next handler.
unsafe extern "system" fn on_exception(info: *mut EXCEPTION_POINTERS) -> i32 {
    const CONTINUE_SEARCH: i32 = 0;
    // SAFETY: Windows passes valid exception pointers to a vectored handler.
    let record = unsafe { &*(*info).ExceptionRecord };
    if record.ExceptionCode != EXCEPTION_ACCESS_VIOLATION || record.NumberParameters < 2 {
        return CONTINUE_SEARCH;
    }
    let ip = record.ExceptionAddress as usize;
    let [write, address, ..] = record.ExceptionInformation;
    say(format_args!(
        "access violation: ip={ip:#x} module={} address={address:#x} write={write} block={:#x}",
        module_of(ip),
        BLOCK.load(Ordering::Relaxed) as usize
    ));
    // SAFETY: ends this process, as a crash would.
    unsafe { TerminateProcess(GetCurrentProcess(), FAULTED) };
    CONTINUE_SEARCH
}

/// The file name of the module holding `address`, or `?`.
fn module_of(address: usize) -> String {
    let mut module: HMODULE = core::ptr::null_mut();
    let flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
    // SAFETY: a lookup by address, into a local.
    if unsafe { GetModuleHandleExW(flags, address as *const u16, &mut module) } == 0 {
        return "?".into();
    }
    let mut path = [0u16; 260];
    // SAFETY: the buffer's length is passed with it.
    let len = unsafe { GetModuleFileNameW(module, path.as_mut_ptr(), path.len() as u32) } as usize;
    let path = String::from_utf16_lossy(&path[..len.min(path.len())]);
    crate::file_name_of(&path).to_owned()
}
