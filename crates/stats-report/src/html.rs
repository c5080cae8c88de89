//! `--html`: the page the plugin writes when the game quits
//! (`MemoryPoolNVSE.report.html`), made by the same code (`stats_page`) from
//! any saved statistics file, as `<stem>.html` beside it.

use std::ffi::OsString;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::Error;

/// Where the page of `csv` goes: `<stem>.html` in its folder.
pub fn path(csv: &Path) -> PathBuf {
    let mut name = OsString::from(csv.file_stem().unwrap_or(csv.as_os_str()));
    name.push(".html");
    csv.with_file_name(name)
}

/// Writes the page of `csv` beside it; a damaged file gives a page that
/// says where. Returns the page's path and what it shows.
pub fn write(csv: &Path) -> Result<(PathBuf, stats_page::Page), Error> {
    let file = std::fs::File::open(csv).map_err(|source| Error::Read { path: csv.to_owned(), source })?;
    let name = csv.file_name().map_or_else(|| csv.display().to_string(), |n| n.to_string_lossy().into_owned());
    let made_by = format!("stats-report {}", env!("CARGO_PKG_VERSION"));
    let about = stats_page::About { file: &name, made_by: &made_by };
    let page = stats_page::page(&about, BufReader::new(file));
    let path = path(csv);
    std::fs::write(&path, &page.html).map_err(|source| Error::Write { path: path.clone(), source })?;
    Ok((path, page))
}
