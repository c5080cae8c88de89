//! The statistics of a game session, `MemoryPoolNVSE.stats.csv`, read and
//! shown: [`parse`] reads the file a row at a time by the names of its
//! columns (or says where it is damaged), [`summary`] sums it up in a few
//! lines, and [`page`] makes one self-contained HTML page of the summary and
//! charts (inline SVG), which any browser opens offline.
//!
//! The plugin writes that page when the game quits, and the report tool
//! (`stats-report --html`) from any saved file: both call [`page`]. Nothing
//! here draws pixels or embeds a font, so the plugin's DLL stays small, and
//! a file of any length is read in bounded memory: the rows are summed up
//! and decimated for the charts (see [`series`]) as they are read, never all
//! kept.

pub mod charts;
pub mod columns;
pub mod html;
pub mod parse;
pub mod series;
pub mod summary;
pub mod svg;
pub mod units;

use std::io::BufRead;

pub use html::About;
pub use parse::{CutShort, Header, ParseError, Problem, Reader, Row, Stats};
pub use summary::{Summary, Tally};

use charts::Charts;
use html::Notice;

/// A page made from a statistics file.
pub struct Page {
    /// The whole HTML document.
    pub html: String,
    /// Rows shown.
    pub rows: usize,
    /// Charts drawn.
    pub charts: usize,
    /// Why the file could not be read to its end, if it could not.
    pub damage: Option<ParseError>,
    /// The last line, left out because it was cut short.
    pub skipped: Option<CutShort>,
}

/// Reads a statistics file from `input` and makes its page. A damaged file
/// gives a page that says where, with the rows before the damage.
pub fn page(about: &About, input: impl BufRead) -> Page {
    let mut reader = match Reader::new(about.file, input) {
        Ok(reader) => reader,
        Err(damage) => return without_rows(about, damage),
    };
    let mut tally = Tally::default();
    let mut charts = Charts::new(reader.header());
    let mut damage = None;
    for row in reader.by_ref() {
        match row {
            Ok(row) => {
                tally.add(&row);
                charts.add(&row);
            }
            Err(error) => damage = Some(error),
        }
    }
    let skipped = reader.skipped().cloned();
    let mut notices = Vec::new();
    if let Some(error) = &damage {
        notices.push(Notice::Damaged { message: error.to_string(), rows_before: tally.rows() });
    }
    if let Some(cut) = &skipped {
        notices.push(Notice::CutShort(cut.to_string()));
    }
    let (Some(summary), Some(last)) = (tally.summary(), tally.last()) else {
        let damage = damage.unwrap_or_else(|| parse::no_rows(about.file, reader.line()));
        let mut page = without_rows(about, damage);
        page.skipped = skipped;
        return page;
    };
    let figures = charts.figures(&summary, last);
    let html = html::page(about, Some(&summary), &figures, &notices);
    Page { html, rows: tally.rows(), charts: figures.len(), damage, skipped }
}

/// The page of a file with no row to show: what is wrong with it.
fn without_rows(about: &About, damage: ParseError) -> Page {
    let notices = [Notice::Damaged { message: damage.to_string(), rows_before: 0 }];
    let html = html::page(about, None, &[], &notices);
    Page { html, rows: 0, charts: 0, damage: Some(damage), skipped: None }
}
