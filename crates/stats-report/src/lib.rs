//! The report on a `MemoryPoolNVSE.stats.csv`: [`parse`] reads it (or says
//! where it is damaged), [`summary`] sums it up in a few lines of text,
//! [`charts`] draws memory in use, allocation rate and request sizes as PNG
//! files beside it. [`report`] does all three.

pub mod charts;
pub mod columns;
pub mod parse;
pub mod summary;
mod units;

use std::path::{Path, PathBuf};

pub use charts::Size;
pub use parse::{CutShort, ParseError, Problem, Row, Stats};
pub use summary::Summary;

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read it: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{}: cannot draw it: {message}", path.display())]
    Chart { path: PathBuf, message: String },
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
    Ok(parse::parse(&csv.display().to_string(), &bytes)?)
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
