//! The plugin's log file, `MemoryPoolNVSE.log` beside the DLL.
//!
//! Lines are formatted into a fixed buffer on the stack and written with one
//! `WriteFile` call each, so logging never allocates, and in particular never
//! allocates through a C-runtime function the plugin hooks. A line reaches the
//! operating system as soon as it is written: if the game dies right after, the
//! line is still in the file. [`flush`] additionally asks Windows to write its
//! cache to disk; the plugin calls it when NVSE says the game is quitting,
//! because nothing is guaranteed to run after that.
//!
//! The log is written from the allocation path only when the heap has run
//! out of address space (`crate::oom`), once per stage or size class: a line
//! allocates nothing, and its lock is held by no allocating thread, only
//! around one `WriteFile`.

use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicBool, AtomicIsize, AtomicU8, Ordering};

use windows_sys::Win32::Foundation::{GENERIC_WRITE, INVALID_HANDLE_VALUE, SYSTEMTIME};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FlushFileBuffers, WriteFile, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ,
};
use windows_sys::Win32::System::SystemInformation::GetLocalTime;

use crate::module;

/// How serious a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Longest line written; longer ones are cut and end with `...`.
const LINE_CAPACITY: usize = 1024;

/// The open file handle, or 0 before the first line (-1 if it could not be opened).
static FILE: AtomicIsize = AtomicIsize::new(0);
const UNOPENED: isize = 0;
const UNAVAILABLE: isize = -1;

/// Serialises lines. Only log call sites take it, never the allocation path,
/// so a spin lock held for one `WriteFile` is enough.
static LOCK: AtomicBool = AtomicBool::new(false);

/// Set as the process ends: the other threads are gone, and one may have
/// died holding [`LOCK`]; from then on a line waits for it only so long.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Tries for the lock as the process ends, at most this many times.
const ENDING_TRIES: u32 = 1000;

impl From<config::LogLevel> for Level {
    fn from(level: config::LogLevel) -> Level {
        match level {
            config::LogLevel::Debug => Level::Debug,
            config::LogLevel::Info => Level::Info,
            config::LogLevel::Warn => Level::Warn,
            config::LogLevel::Error => Level::Error,
        }
    }
}

/// The least serious level written (`[General] LogLevel`).
static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Lines less serious than `level` are left out from now on.
pub fn set_min_level(level: Level) {
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a line at `level` is written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Writes one line: `[hh:mm:ss.mmm] [LEVEL] message`, if `level` is enabled.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = Line::new();
    let now = local_time();
    let _ = write!(
        line,
        "[{:02}:{:02}:{:02}.{:03}] [{}] ",
        now.wHour,
        now.wMinute,
        now.wSecond,
        now.wMilliseconds,
        level.tag()
    );
    let _ = line.write_fmt(args);
    line.finish();

    let Some(_guard) = SpinGuard::acquire() else { return };
    let handle = file_handle();
    if handle != UNAVAILABLE {
        write_all(handle, line.bytes());
    }
}

/// The process is ending: a line never waits for good for a lock that a
/// thread which no longer exists may hold.
pub fn process_ending() {
    ENDING.store(true, Ordering::Relaxed);
}

/// Asks Windows to write the file's cached data to disk.
pub fn flush() {
    let Some(_guard) = SpinGuard::acquire() else { return };
    let handle = FILE.load(Ordering::Acquire);
    if handle != UNOPENED && handle != UNAVAILABLE {
        // SAFETY: `handle` is the file this module opened and never closes.
        unsafe { FlushFileBuffers(handle as _) };
    }
}

/// Opens the log on first use. Called with `LOCK` held.
fn file_handle() -> isize {
    let current = FILE.load(Ordering::Acquire);
    if current != UNOPENED {
        return current;
    }
    let opened = open().unwrap_or(UNAVAILABLE);
    FILE.store(opened, Ordering::Release);
    opened
}

/// Creates (or truncates) the log beside the DLL: one file per game session.
fn open() -> Option<isize> {
    let mut path = module::own_path()?;
    path.replace_extension("log")?;
    // SAFETY: `path` is NUL-terminated; the other arguments are plain flags or null.
    let handle = unsafe {
        CreateFileW(
            path.as_ptr(),
            GENERIC_WRITE,
            FILE_SHARE_READ,
            core::ptr::null(),
            CREATE_ALWAYS,
            FILE_ATTRIBUTE_NORMAL,
            core::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE || handle.is_null() {
        return None;
    }
    Some(handle as isize)
}

fn write_all(handle: isize, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let mut written = 0u32;
        // SAFETY: `bytes` is a live slice no longer than `u32::MAX` (it is at most
        // LINE_CAPACITY long); `written` is a valid out-pointer; no OVERLAPPED.
        let ok =
            unsafe { WriteFile(handle as _, bytes.as_ptr(), bytes.len() as u32, &mut written, core::ptr::null_mut()) };
        if ok == 0 || written == 0 {
            return;
        }
        bytes = &bytes[(written as usize).min(bytes.len())..];
    }
}

fn local_time() -> SYSTEMTIME {
    let mut now =
        SYSTEMTIME { wYear: 0, wMonth: 0, wDayOfWeek: 0, wDay: 0, wHour: 0, wMinute: 0, wSecond: 0, wMilliseconds: 0 };
    // SAFETY: `now` is a valid out-pointer for one SYSTEMTIME.
    unsafe { GetLocalTime(&mut now) };
    now
}

/// A fixed-capacity line buffer that cuts instead of failing.
struct Line {
    buf: [u8; LINE_CAPACITY],
    len: usize,
    cut: bool,
}

impl Line {
    fn new() -> Self {
        Line { buf: [0; LINE_CAPACITY], len: 0, cut: false }
    }

    /// Ends the line with CRLF, marking a cut line with `...`.
    fn finish(&mut self) {
        const CUT: &[u8] = b"...";
        let tail_room = CUT.len() + 2;
        if self.cut || self.len > LINE_CAPACITY - tail_room {
            self.len = self.len.min(LINE_CAPACITY - tail_room);
            self.buf[self.len..self.len + CUT.len()].copy_from_slice(CUT);
            self.len += CUT.len();
        }
        self.buf[self.len..self.len + 2].copy_from_slice(b"\r\n");
        self.len += 2;
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE_CAPACITY - self.len;
        let take = s.len().min(room);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.cut = true;
        }
        Ok(())
    }
}

struct SpinGuard;

impl SpinGuard {
    /// The lock, or `None` if the process is ending and it stays taken.
    fn acquire() -> Option<Self> {
        let mut tries = 0u32;
        while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            tries = tries.saturating_add(1);
            if tries > ENDING_TRIES && ENDING.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::yield_now();
        }
        Some(SpinGuard)
    }
}

impl Drop for SpinGuard {
    fn drop(&mut self) {
        LOCK.store(false, Ordering::Release);
    }
}

/// One line at [`Level::Debug`].
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}
/// `info!("...", args)`: one line at [`Level::Info`].
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
/// One line at [`Level::Warn`].
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}
/// One line at [`Level::Error`].
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, info, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_terminated() {
        let mut line = Line::new();
        let long = "x".repeat(LINE_CAPACITY * 2);
        line.write_str(&long).unwrap();
        line.finish();
        let bytes = line.bytes();
        assert_eq!(bytes.len(), LINE_CAPACITY);
        assert!(bytes.ends_with(b"...\r\n"));
    }

    #[test]
    fn short_lines_are_kept_whole() {
        let mut line = Line::new();
        write!(line, "phase {} done", 3).unwrap();
        line.finish();
        assert_eq!(line.bytes(), b"phase 3 done\r\n");
    }
}
