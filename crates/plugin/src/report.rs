//! `MemoryPoolNVSE.report.html` beside the log: the session's statistics
//! CSV as one page a player opens in any browser, offline, with no tool:
//! the summary and charts of memory in use, address space, allocation rate
//! and request sizes (made by `stats_page`, as the report tool's `--html`).
//!
//! It is written when the CSV ends: at the exit message (`ExitGame`), or,
//! when the game ends without one, as the process ends, from the rows the
//! file has. The previous session's page is kept as
//! `MemoryPoolNVSE.report.prev.html` when the CSV starts, as the CSV keeps
//! its own. The page goes to a temporary file renamed into place, so a page
//! is whole or absent. Reading and writing are bounded (the CSV is read a
//! row at a time; the page is at most a few hundred KiB whatever the
//! session's length) and take a few milliseconds for a long session. If
//! anything fails, the log gets one warning and nothing else changes.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::csv;
use crate::log::{info, warning};
use crate::module;

/// How the session ended, as the page says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The game quit (`ExitGame`, `ExitGame_Console`).
    Quit,
    /// The process ended without an exit message.
    ProcessEnd,
}

/// Reading the CSV: enough for a few hundred rows a read.
const READ_BUFFER: usize = 128 * 1024;

/// The page, the previous session's and the temporary file the page is
/// written to first.
struct Paths {
    page: PathBuf,
    previous: PathBuf,
    temporary: PathBuf,
}

fn paths() -> Option<Paths> {
    Some(Paths {
        page: module::beside("report.html")?,
        previous: module::beside("report.prev.html")?,
        temporary: module::beside("report.html.tmp")?,
    })
}

/// Keeps the previous session's page, replacing an older one, when this
/// session's CSV starts.
pub fn keep_previous(stage: &str) {
    let Some(paths) = paths() else { return };
    if let Err(e) = csv::keep_previous(&paths.page, &paths.previous) {
        warning!(
            "{stage}: {} of the previous session cannot be kept as {} ({e}); this session's replaces it",
            csv::file_name(&paths.page),
            csv::file_name(&paths.previous)
        );
    }
}

/// Makes the page of the session's CSV and says so in the log.
pub fn write(stage: &str, ending: Ending) {
    let started = Instant::now();
    let (Some(paths), Some((csv_path, _))) = (paths(), csv::paths()) else {
        warning!("{stage}: no session report: the plugin's own path is unknown");
        return;
    };
    let name = csv::file_name(&paths.page);
    match make(&csv_path, &paths, ending) {
        Ok(page) => {
            let damage =
                page.damage.map_or_else(String::new, |d| format!("; it says the statistics file is damaged: {d}"));
            info!(
                "{stage}: session report written to {name} ({} rows, {} charts, in {} ms){damage}",
                page.rows,
                page.charts,
                started.elapsed().as_millis()
            );
        }
        Err(e) => {
            // Nothing half-written is left behind.
            let _ = std::fs::remove_file(&paths.temporary);
            warning!("{stage}: no session report: {name} cannot be written ({e})");
        }
    }
}

/// Reads the CSV, writes the page to the temporary file and renames it
/// into place.
fn make(csv_path: &Path, paths: &Paths, ending: Ending) -> io::Result<stats_page::Page> {
    let input = BufReader::with_capacity(READ_BUFFER, File::open(csv_path)?);
    let made_by = match ending {
        Ending::Quit => concat!("MemoryPoolNVSE ", env!("CARGO_PKG_VERSION"), " when the game quit"),
        Ending::ProcessEnd => concat!(
            "MemoryPoolNVSE ",
            env!("CARGO_PKG_VERSION"),
            " as the game's process ended without quitting through the game"
        ),
    };
    let file = csv::file_name(csv_path);
    let page = stats_page::page(&stats_page::About { file: &file, made_by }, input);
    std::fs::write(&paths.temporary, &page.html)?;
    std::fs::rename(&paths.temporary, &paths.page)?;
    Ok(page)
}
