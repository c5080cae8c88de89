//! `game --crash freed|live|wild`: the game crashes on purpose after the
//! checks, as crash loggers meet it, so that the plugin's note of what its
//! heap knows can be checked.
//!
//! Two filters of the stand-in's own stand for crash loggers: one installed
//! before the plugins load ([`install_first`]), which a plugin's filter
//! finds and should call, and one after them ([`crash`]), which calls the
//! filter it replaced, as a polite crash logger does. Each prints
//! `nvse-host: crash filter <first|last> ran code=0x..` when Windows calls
//! it; the first ends the process (`EXCEPTION_EXECUTE_HANDLER`).
//!
//! Before the crash the game raises an exception of its own and handles it
//! (a vectored handler: the top-level filters never see it). Then ECX holds
//! a block of the game heap (a freed one, still waiting; a live one; or a
//! wild pointer), and the game reads through EDX, which holds an address
//! nothing maps: `nvse-host: crash <kind> ecx=0x.. edx=0x..`.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use windows_sys::Win32::System::Diagnostics::Debug::{
    AddVectoredExceptionHandler, RemoveVectoredExceptionHandler, SetUnhandledExceptionFilter, EXCEPTION_POINTERS,
};

use super::{heap_allocate, heap_free, the_heap};
use crate::{nvse, Crash};

/// The code of the exception the game raises and handles itself.
const HANDLED_CODE: u32 = 0xE000_0042;
/// An address nothing maps: the first 64 KiB never are.
const NOWHERE: usize = 0x0000_0010;
/// The wild pointer ECX holds in the `wild` crash.
const WILD: usize = 0x0000_4321;
const EXECUTE_HANDLER: i32 = 1;
const CONTINUE_EXECUTION: i32 = -1;
const CONTINUE_SEARCH: i32 = 0;

/// The filter the last one replaced (0: none).
static REPLACED: AtomicUsize = AtomicUsize::new(0);

type Filter = unsafe extern "system" fn(*const EXCEPTION_POINTERS) -> i32;

fn say(line: core::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "nvse-host: {line}");
    let _ = out.flush();
}

fn code(info: *const EXCEPTION_POINTERS) -> u32 {
    // SAFETY: Windows passes valid exception pointers to a filter.
    unsafe { (*(*info).ExceptionRecord).ExceptionCode as u32 }
}

/// Installs the first crash logger's filter, before any plugin loads.
pub fn install_first() {
    // SAFETY: a filter with the right signature, for the process's life.
    unsafe { SetUnhandledExceptionFilter(Some(first_filter)) };
}

unsafe extern "system" fn first_filter(info: *const EXCEPTION_POINTERS) -> i32 {
    say(format_args!("crash filter first ran code={:#010x}", code(info)));
    EXECUTE_HANDLER
}

unsafe extern "system" fn last_filter(info: *const EXCEPTION_POINTERS) -> i32 {
    say(format_args!("crash filter last ran code={:#010x}", code(info)));
    match REPLACED.load(Ordering::Acquire) {
        0 => EXECUTE_HANDLER,
        replaced => {
            // SAFETY: what SetUnhandledExceptionFilter returned: a filter.
            let replaced: Filter = unsafe { core::mem::transmute::<usize, Filter>(replaced) };
            // SAFETY: the arguments Windows gave this filter.
            unsafe { replaced(info) }
        }
    }
}

unsafe extern "system" fn handle_own(info: *mut EXCEPTION_POINTERS) -> i32 {
    if code(info) == HANDLED_CODE {
        CONTINUE_EXECUTION
    } else {
        CONTINUE_SEARCH
    }
}

/// Crashes the game with ECX on a block as `kind` says. Does not return.
pub fn crash(kind: Crash) {
    // SAFETY: a filter with the right signature, for the process's life.
    let replaced = unsafe { SetUnhandledExceptionFilter(Some(last_filter)) };
    REPLACED.store(replaced.map_or(0, |f| f as usize), Ordering::Release);
    raise_and_handle();
    let ecx = match kind {
        Crash::Freed => {
            let p = game_block(48);
            // SAFETY: a live block of the game heap, freed once.
            unsafe { heap_free(the_heap(), p) };
            // A frame passes before the game reads the freed object.
            nvse::broadcast(nvse_abi::msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
            p as usize + 8
        }
        Crash::Live => game_block(200) as usize + 16,
        Crash::Wild => WILD,
    };
    say(format_args!("crash {} ecx={ecx:#010x} edx={NOWHERE:#010x}", kind.name()));
    read_through(ecx, NOWHERE);
    say(format_args!("crash {}: FAILED, no fault", kind.name()));
}

fn game_block(size: usize) -> *mut u8 {
    // SAFETY: the game heap's allocate.
    let p = unsafe { heap_allocate(the_heap(), size) };
    assert!(!p.is_null(), "the game heap refused {size} bytes");
    // SAFETY: a fresh block of `size` bytes.
    unsafe { p.write_bytes(0x5A, size) };
    p
}

/// An exception the game handles itself, before any filter could see it.
fn raise_and_handle() {
    use windows_sys::Win32::System::Diagnostics::Debug::RaiseException;
    // SAFETY: the handler only looks at the code; removed right after.
    let handler = unsafe { AddVectoredExceptionHandler(1, Some(handle_own)) };
    // SAFETY: raises a software exception the handler above resumes.
    unsafe { RaiseException(HANDLED_CODE, 0, 0, std::ptr::null()) };
    // SAFETY: the handle AddVectoredExceptionHandler gave.
    unsafe { RemoveVectoredExceptionHandler(handler) };
    say(format_args!("crash handled own exception code={HANDLED_CODE:#010x}"));
}

/// Reads through `edx` with `ecx` holding a pointer, as engine code that
/// crashes does.
#[inline(never)]
fn read_through(ecx: usize, edx: usize) {
    // SAFETY: deliberately faults: `edx` is an address nothing maps; the
    // filters end the process.
    #[cfg(target_arch = "x86")]
    unsafe {
        core::arch::asm!("mov eax, dword ptr [edx]", in("ecx") ecx, in("edx") edx, out("eax") _, options(nostack));
    }
    #[cfg(not(target_arch = "x86"))]
    let _ = (ecx, edx);
}
