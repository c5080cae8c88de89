//! When the game dies of an unhandled exception, the log gets a short note
//! of what the heap knows of the addresses involved: the address the
//! faulting instruction read or wrote, and each register, as a live block
//! (its start, size and, with `LeakTracking`, the code that allocated it),
//! a block the game freed that waits before reuse (how many frames ago, by
//! which thread), the heap's bookkeeping, or not the heap's. Crash loggers
//! name the faulting module and address; none knows the heap.
//!
//! The note comes from a top-level exception filter, which Windows calls
//! only for an exception nothing else handled, so an exception the game
//! handles itself writes nothing. The filter installed before this one is
//! called after the note, with the same arguments, and its answer is
//! returned: which handlers run, and in what order, stays as it was. A crash
//! logger that installs its filter later and does not call ours leaves no
//! note (and one that captures ours, as Yvile's does at Preload, calls it
//! after its own log is written).
//!
//! The note is written once, on the faulting thread, which may have died
//! anywhere, even inside the heap or the log: it allocates nothing, looks
//! addresses up with `heap::locate` (no lock), waits for the log's lock only
//! briefly, and names modules only if the loader's lock is free at that
//! moment.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use heap::locate::{locate, Bookkeeping, Place, State};
use windows_sys::Win32::Foundation::{
    EXCEPTION_ACCESS_VIOLATION, EXCEPTION_BREAKPOINT, EXCEPTION_ILLEGAL_INSTRUCTION, EXCEPTION_INT_DIVIDE_BY_ZERO,
    EXCEPTION_STACK_OVERFLOW, STATUS_HEAP_CORRUPTION,
};
use windows_sys::Win32::System::Diagnostics::Debug::{
    SetUnhandledExceptionFilter, CONTEXT, EXCEPTION_CONTINUE_SEARCH, EXCEPTION_POINTERS,
};
use windows_sys::Win32::System::Threading::GetCurrentThreadId;

use crate::callers::Code;
use crate::log::{error, info};

/// The filter that was installed before ours (0: none).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Set by the first note: a second exception (in a filter after ours, or
/// one the game survived) writes nothing more.
static WRITTEN: AtomicBool = AtomicBool::new(false);

type Filter = unsafe extern "system" fn(*const EXCEPTION_POINTERS) -> i32;

/// Installs the filter, once.
pub fn install(stage: &str) {
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    // SAFETY: `on_unhandled` has the filter's signature and lives as long as
    // the DLL, which is pinned once the heap runs.
    let previous = unsafe { SetUnhandledExceptionFilter(Some(on_unhandled)) };
    PREVIOUS.store(previous.map_or(0, |f| f as usize), Ordering::Release);
    info!(
        "{stage}: if the game dies of an exception, this log gets a note of what the heap knows of the addresses \
         involved (lines starting \"Crash:\")"
    );
}

unsafe extern "system" fn on_unhandled(info: *const EXCEPTION_POINTERS) -> i32 {
    if !info.is_null() && !WRITTEN.swap(true, Ordering::AcqRel) {
        // SAFETY: Windows passes valid exception pointers to the filter.
        crate::nvse::guarded("Crash", (), || unsafe { note(&*info) });
    }
    match PREVIOUS.load(Ordering::Acquire) {
        0 => EXCEPTION_CONTINUE_SEARCH,
        previous => {
            // SAFETY: the value `SetUnhandledExceptionFilter` returned: a filter.
            let previous: Filter = unsafe { core::mem::transmute::<usize, Filter>(previous) };
            // SAFETY: the same arguments Windows gave this filter.
            unsafe { previous(info) }
        }
    }
}

/// Writes the note for the exception `info` describes.
///
/// # Safety
/// `info`'s record and context are valid, as Windows passes them.
unsafe fn note(info: &EXCEPTION_POINTERS) {
    crate::log::process_ending();
    // SAFETY: forwarded contract.
    let (record, context) = unsafe { (&*info.ExceptionRecord, &*info.ContextRecord) };
    let names = LoaderLock::try_take();
    let named = names.is_some();
    let ip = record.ExceptionAddress as usize;
    // SAFETY: a plain Win32 call.
    let thread = unsafe { GetCurrentThreadId() };
    let access = (record.ExceptionCode == EXCEPTION_ACCESS_VIOLATION && record.NumberParameters >= 2)
        .then(|| (record.ExceptionInformation[0], record.ExceptionInformation[1]));
    error!(
        "Crash: {} at {} on thread {thread}; what the heap knows of the addresses involved:",
        Exception(record.ExceptionCode as u32),
        Name(ip, named)
    );
    if let Some((kind, address)) = access {
        error!("Crash:   the address {} {address:#010x}: {}", Access(kind), Where::of(address, named));
    }
    let mut others = Others::default();
    for (register, value) in registers(context) {
        match Where::of(value, named) {
            Where { place: Place::NotOurs, .. } => others.push(register),
            known => error!("Crash:   {register}={value:#010x}: {known}"),
        }
    }
    if !others.is_empty() {
        error!("Crash:   not the heap's: {others}");
    }
    drop(names);
    crate::log::flush();
}

/// The registers, by name (the game and the plugin are 32-bit x86).
fn registers(c: &CONTEXT) -> [(&'static str, usize); 9] {
    [
        ("EAX", c.Eax as usize),
        ("EBX", c.Ebx as usize),
        ("ECX", c.Ecx as usize),
        ("EDX", c.Edx as usize),
        ("ESI", c.Esi as usize),
        ("EDI", c.Edi as usize),
        ("EBP", c.Ebp as usize),
        ("ESP", c.Esp as usize),
        ("EIP", c.Eip as usize),
    ]
}

/// The exception, as a person reads it.
struct Exception(u32);

impl Exception {
    /// What Visual C++'s `throw` raises (`'msc'`).
    const CPP: i32 = 0xE06D_7363_u32 as i32;
}

impl core::fmt::Display for Exception {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self.0 as i32 {
            EXCEPTION_ACCESS_VIOLATION => "access violation",
            EXCEPTION_STACK_OVERFLOW => "stack overflow",
            EXCEPTION_INT_DIVIDE_BY_ZERO => "integer division by zero",
            EXCEPTION_ILLEGAL_INSTRUCTION => "illegal instruction",
            STATUS_HEAP_CORRUPTION => "heap corruption",
            EXCEPTION_BREAKPOINT => "breakpoint",
            Self::CPP => "C++ exception",
            _ => "exception",
        };
        write!(f, "{name} ({:#010x})", self.0)
    }
}

/// What an access violation did.
struct Access(usize);

impl core::fmt::Display for Access {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.0 {
            0 => "read",
            1 => "written",
            8 => "executed",
            _ => "accessed",
        })
    }
}

/// A code address, named by module if the loader's lock could be had.
struct Name(usize, bool);

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.1 {
            true => write!(f, "{}", Code(self.0)),
            false => write!(f, "{:#010x}", self.0),
        }
    }
}

/// What the heap knows of an address, looked up once.
struct Where {
    address: usize,
    place: Place,
    /// Whether modules may be named (the loader's lock is held).
    named: bool,
}

impl Where {
    fn of(address: usize, named: bool) -> Where {
        Where { address, place: locate(address), named }
    }
}

impl core::fmt::Display for Where {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let address = self.address;
        match self.place {
            Place::NotOurs => f.write_str("not the heap's"),
            Place::Bookkeeping(which) => write!(
                f,
                "the heap's bookkeeping ({})",
                match which {
                    Bookkeeping::SpanHeader => "the header of one of rpmalloc's spans",
                    Bookkeeping::SpanTail => "the unused end of one of rpmalloc's spans",
                    Bookkeeping::Backend => "rpmalloc's own structures",
                    Bookkeeping::Tables => "the plugin's own tables",
                }
            ),
            Place::Guarded { block: Some((start, size)) } => write!(
                f,
                "{} bytes past the end of the guarded block of {size} bytes at {start:#010x}: an overrun",
                address - start - size
            ),
            Place::Guarded { block: None } => {
                f.write_str("a freed guarded block, whose pages are withdrawn: a use after free")
            }
            Place::Block { start, size, state } => {
                match address - start {
                    0 => f.write_str("the start of ")?,
                    offset => write!(f, "{offset} bytes into ")?,
                }
                match state {
                    State::Live { caller: 0 } => write!(f, "a live block of {size} bytes at {start:#010x}"),
                    State::Live { caller } => write!(
                        f,
                        "a live block of {size} bytes at {start:#010x}, allocated by {}",
                        Name(caller, self.named)
                    ),
                    State::Waiting { frames_ago, thread } => write!(
                        f,
                        "a block of {size} bytes at {start:#010x} that thread {thread} freed through the game \
                         heap {frames_ago} frame(s) ago; it waits, unchanged, before it is reused"
                    ),
                    State::NotTracked => write!(
                        f,
                        "a block of {size} bytes at {start:#010x} that is not live (freed, or made while the leak \
                         table was full)"
                    ),
                    State::Unknown => write!(
                        f,
                        "a block of {size} bytes at {start:#010x}, live or freed ([Debug] LeakTracking = 1 tells \
                         which, and who allocated it)"
                    ),
                }
            }
        }
    }
}

/// Names of registers that are not the heap's, on one line.
#[derive(Default)]
struct Others {
    names: [&'static str; 9],
    len: usize,
}

impl Others {
    fn push(&mut self, name: &'static str) {
        if let Some(slot) = self.names.get_mut(self.len) {
            *slot = name;
            self.len += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Display for Others {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, name) in self.names[..self.len].iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// The loader's lock, held while the note names modules, if no other
/// thread held it at that moment: naming a module takes it, and a thread
/// that died while loading a DLL may hold it for good.
struct LoaderLock(usize);

#[link(name = "ntdll")]
extern "system" {
    fn LdrLockLoaderLock(flags: u32, disposition: *mut u32, cookie: *mut usize) -> i32;
    fn LdrUnlockLoaderLock(flags: u32, cookie: usize) -> i32;
}

impl LoaderLock {
    /// `LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY`.
    const TRY_ONLY: u32 = 2;
    /// `LDR_LOCK_LOADER_LOCK_DISPOSITION_LOCK_ACQUIRED`.
    const ACQUIRED: u32 = 1;

    fn try_take() -> Option<LoaderLock> {
        let (mut disposition, mut cookie) = (0u32, 0usize);
        // SAFETY: out-pointers to locals; with TRY_ONLY the call never waits.
        let status = unsafe { LdrLockLoaderLock(Self::TRY_ONLY, &mut disposition, &mut cookie) };
        (status == 0 && disposition == Self::ACQUIRED).then_some(LoaderLock(cookie))
    }
}

impl Drop for LoaderLock {
    fn drop(&mut self) {
        // SAFETY: the cookie of a lock this thread took in `try_take`.
        unsafe { LdrUnlockLoaderLock(0, self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_named_with_their_code() {
        let named = |code: u32| Exception(code).to_string();
        assert_eq!(named(0xC000_0005), "access violation (0xc0000005)");
        assert_eq!(named(0xC000_00FD), "stack overflow (0xc00000fd)");
        assert_eq!(named(0xC000_0094), "integer division by zero (0xc0000094)");
        assert_eq!(named(0xC000_001D), "illegal instruction (0xc000001d)");
        assert_eq!(named(0xC000_0374), "heap corruption (0xc0000374)");
        assert_eq!(named(0x8000_0003), "breakpoint (0x80000003)");
        assert_eq!(named(0xE06D_7363), "C++ exception (0xe06d7363)");
        assert_eq!(named(0xC000_0096), "exception (0xc0000096)");
    }
}
