//! The report on a `MemoryPoolNVSE.stats.csv`: `stats_page` reads it (or
//! says where it is damaged) and sums it up, [`charts`] draws memory in use,
//! allocation rate and request sizes as PNG files beside it, and [`html`]
//! writes the page the plugin writes at exit, from the same code.
//! [`report`] reads the file and draws its charts.

pub mod charts;
pub mod html;

use std::path::{Path, PathBuf};

pub use charts::Size;
pub use stats_page::{columns, parse, summary};
pub use stats_page::{CutShort, ParseError, Problem, Row, Stats, Summary};

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read it: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{}: cannot draw it: {message}", path.display())]
    Chart { path: PathBuf, message: String },
    #[error("{}: cannot write it: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What [`report`] made of a file.
#[derive(Clone, Debug)]
pub struct Report {
    pub stats: Stats,
    pub summary: Summary,
    /// The PNG files written, memory, rate and sizes in that order.
    pub charts: Vec<PathBuf>,
}

/// Reads `csv` and writes its charts of `size` beside it.
pub fn report(csv: &Path, size: Size) -> Result<Report, Error> {
    let stats = read(csv)?;
    let summary = Summary::of(&stats.rows);
    let charts = charts::write_all(csv, &stats, &summary, size)?;
    Ok(Report { stats, summary, charts })
}

/// Reads and parses `csv`; messages name it as given.
pub fn read(csv: &Path) -> Result<Stats, Error> {
    let bytes = std::fs::read(csv).map_err(|source| Error::Read { path: csv.to_owned(), source })?;
    Ok(stats_page::parse::parse(&csv.display().to_string(), &bytes)?)
}

impl core::fmt::Display for Report {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(f, "{}", self.stats.file)?;
        writeln!(f, "{}", self.summary)?;
        for (index, chart) in self.charts.iter().enumerate() {
            let label = if index == 0 { "charts:" } else { "" };
            writeln!(f, "{label:<15}{}", chart.display())?;
        }
        Ok(())
    }
}
