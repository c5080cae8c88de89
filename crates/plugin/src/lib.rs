//! MemoryPoolNVSE: an NVSE plugin that serves Fallout: New Vegas's memory
//! allocations from rpmalloc.
//!
//! This crate is the DLL itself: the Windows entry point, the NVSE exports and
//! the wiring between them. The allocation machinery lives in the `heap` crate.
//!
//! - [`nvse`]: `NVSEPlugin_Preload`, `NVSEPlugin_Query`, `NVSEPlugin_Load` and
//!   the message listeners.
//! - [`api`]: the C API for other plugins (`include/MemoryPoolNVSE.h`): its
//!   exports and its NVSE message.
//! - [`log`]: the log file beside the DLL.
//! - [`settings`]: `MemoryPoolNVSE.ini` beside the DLL.
//! - [`module`]: the DLL's own handle and path.
//! - [`allocator`]: starting the heap and reporting its statistics.
//! - [`periodic`]: the maintenance thread: trimming the heap, watching the
//!   address space ([`space`]), log lines and CSV rows.
//! - [`oom`]: what the log says when the heap runs out of address space.
//! - [`crash`]: what the log says of the heap when the game dies of an exception.
//! - [`csv`]: the statistics file, `MemoryPoolNVSE.stats.csv`.
//! - [`report`]: the session's page made of it, `MemoryPoolNVSE.report.html`.
//! - [`callers`]: who called the heap, for leak reports.
//! - [`imports`]: redirecting other modules' C runtime imports to the heap.
//! - [`game`]: hooking the game's own heap and static C runtime, as a profile says.
// Before the `cfg`, so that it holds for the empty crate of other platforms too.
#![allow(non_snake_case)] // The DLL is named MemoryPoolNVSE.dll, and NVSE's exports are PascalCase.
#![cfg(windows)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod allocator;
pub mod api;
pub mod callers;
pub mod crash;
pub mod csv;
pub mod game;
pub mod imports;
pub mod log;
pub mod module;
pub mod nvse;
pub mod oom;
pub mod periodic;
pub mod report;
pub mod settings;
pub mod space;

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{HINSTANCE, TRUE};
use windows_sys::Win32::System::SystemServices::{DLL_PROCESS_DETACH, DLL_THREAD_DETACH};

/// The DLL's entry point. It does as little as possible: it runs under the
/// loader lock.
///
/// A thread that ends gives its heap back; DLLs that detach after this one
/// (those loaded before it) and still allocate on that thread are served by
/// their original runtime from then on. The process's end leaves the heap
/// as it is until the process is gone: DLLs detach after this one too, and
/// may still free and allocate. If the game never said it quits, the
/// statistics CSV ends there and the session's page is made of it (files
/// only: no thread is started or waited for).
#[no_mangle]
extern "system" fn DllMain(_module: HINSTANCE, reason: u32, reserved: *mut core::ffi::c_void) -> BOOL {
    match reason {
        DLL_THREAD_DETACH => heap::thread_exit(),
        // A null `reserved` is FreeLibrary, which the pinned DLL never sees.
        DLL_PROCESS_DETACH if !reserved.is_null() => {
            log::process_ending();
            nvse::guarded("process end", (), || csv::at_process_end("process end"));
        }
        _ => {}
    }
    TRUE
}
