//! `MemoryPoolNVSE.stats.csv` beside the log (`[Stats] CsvIntervalSeconds`):
//! the heap's statistics over the session, one row per interval and a last
//! one at exit, in the format of `heap::csv`.
//!
//! Each session starts a new file; the previous session's is kept as
//! `MemoryPoolNVSE.stats.prev.csv`. Rows are written by the plugin's own
//! statistics thread (and the exit's by NVSE's message), from lock-free
//! snapshots: an allocating thread never waits for the disk. Each row goes
//! to Windows in one write as soon as it is formatted, so a game that is
//! killed keeps every row but the one being written. A file that cannot be
//! written gets one warning in the log and the rows stop; nothing else
//! changes.
//!
//! When the file ends (the exit's row, or the process's end without one),
//! the session's page is made from it (see [`crate::report`]).

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, TryLockError};

use heap::csv::Sample;

use crate::log::{info, warning};
use crate::space::Space;
use crate::{allocator, module, report};

/// The open file; `last` is the previous row's sample.
struct Writer {
    file: File,
    name: String,
    last: Sample,
}

/// `None` before [`start`], and once the exit's row is written or writing
/// failed: no rows then. Only the statistics thread and NVSE's messages take
/// the lock, never the allocation path.
static WRITER: Mutex<Option<Writer>> = Mutex::new(None);

fn writer() -> MutexGuard<'static, Option<Writer>> {
    // A panic while the lock was held cannot leave the writer half-changed.
    WRITER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the file: keeps the previous session's, writes the header, and
/// says so in the log (or why not). True if rows are to be written.
pub fn start(stage: &str, every_seconds: u32) -> bool {
    let Some((path, previous)) = paths() else {
        warning!("{stage}: no statistics CSV: the plugin's own path is unknown");
        return false;
    };
    let (name, previous_name) = (file_name(&path), file_name(&previous));
    let kept = match keep_previous(&path, &previous) {
        Ok(kept) => kept,
        Err(e) => {
            warning!(
                "{stage}: no statistics CSV: {name} of the previous session cannot be kept as {previous_name} ({e})"
            );
            return false;
        }
    };
    let file = match create(&path) {
        Ok(file) => file,
        Err(e) => {
            warning!("{stage}: no statistics CSV: {} cannot be written ({e})", path.display());
            return false;
        }
    };
    let kept = if kept { format!(" (the previous session's kept as {previous_name})") } else { String::new() };
    info!("{stage}: statistics to {name} every {every_seconds} s{kept}");
    *writer() = Some(Writer { file, name, last: Sample::default() });
    report::keep_previous(stage);
    true
}

/// Writes a row of `stats` and `space`, taken now.
pub fn row(stats: heap::Snapshot, space: Space) {
    write_row(&mut writer(), Sample { seconds: allocator::uptime(), stats, space: space.sampled() });
}

/// Writes the exit's row, the same numbers as the exit summary in the log,
/// ends the file (no row follows it) and makes the session's page of it.
pub fn finish(stage: &str, stats: heap::Snapshot) {
    let space = Space::now().sampled();
    let mut writer = writer();
    write_row(&mut writer, Sample { seconds: allocator::uptime(), stats, space });
    let ended = end(&mut writer, stage);
    // The page reads the file: the lock is not held meanwhile.
    drop(writer);
    if ended {
        report::write(stage, report::Ending::Quit);
    }
}

/// The process ends and the game never said it quits: the file ends with
/// the last row it has, and the session's page is made of it. Other threads
/// are gone by now, and one may have died holding the lock: then nothing
/// is done.
pub fn at_process_end(stage: &str) {
    let mut writer = match WRITER.try_lock() {
        Ok(writer) => writer,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let ended = end(&mut writer, stage);
    drop(writer);
    if ended {
        report::write(stage, report::Ending::ProcessEnd);
    }
}

/// Closes the file, if rows are still being written; true if it did.
fn end(writer: &mut Option<Writer>, stage: &str) -> bool {
    let Some(Writer { file, name, .. }) = writer.take() else { return false };
    // Nothing is sure to run after the exit message.
    let _ = file.sync_data();
    info!("{stage}: statistics written to {name}");
    true
}

fn write_row(writer: &mut Option<Writer>, sample: Sample) {
    let Some(Writer { file, name, last }) = writer else { return };
    let mut line = String::with_capacity(512);
    // Formatting into a String cannot fail.
    let _ = heap::csv::row(&mut line, last, &sample);
    if let Err(e) = file.write_all(line.as_bytes()) {
        warning!("Stats: {name} cannot be written ({e}); no more rows this session");
        *writer = None;
        return;
    }
    *last = sample;
}

/// The file and the previous session's, beside the DLL and named after it.
pub(crate) fn paths() -> Option<(PathBuf, PathBuf)> {
    Some((module::beside("stats.csv")?, module::beside("stats.prev.csv")?))
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// Renames the previous session's file, replacing an older one. False if
/// there was none; anything but a file there is left for [`create`] to
/// report.
pub(crate) fn keep_previous(path: &Path, previous: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => fs::rename(path, previous).map(|()| true),
        _ => Ok(false),
    }
}

/// Creates the file with its header line.
fn create(path: &Path) -> io::Result<File> {
    let mut file = File::create(path)?;
    let mut header = String::with_capacity(512);
    let _ = heap::csv::header(&mut header);
    file.write_all(header.as_bytes())?;
    Ok(file)
}
