//! Reading `MemoryPoolNVSE.stats.csv`: plain ASCII, comma separated, no
//! quoting, a header of exactly [`COLUMNS`], then rows in time order. Any
//! damage is an error naming the line, the column and what was found; the
//! one exception is a last line the game was killed while writing (no line
//! end and missing fields), which is skipped and reported.

use core::fmt;

use crate::columns::{kind, Kind, COLUMNS, LEADING, SIZE_CLASSES};

/// Fields of every line.
const FIELDS: usize = COLUMNS.len();

/// Characters of a bad field quoted in a message; longer ones are cut.
const QUOTED: usize = 40;

/// One row: the heap's statistics at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Seconds since the plugin started the heap.
    pub seconds: f64,
    /// Usable bytes in use.
    pub live_bytes: u64,
    /// Most usable bytes in use at once, so far.
    pub peak_bytes: u64,
    /// Blocks in use.
    pub live_blocks: u64,
    /// Allocations per second since the previous row (the first: since start).
    pub allocs_per_second: f64,
    /// Frees per second, likewise.
    pub frees_per_second: f64,
    /// Requests that returned NULL, so far.
    pub failures: u64,
    /// Requests served by the original allocator, so far.
    pub fallbacks: u64,
    /// Foreign blocks freed by their own allocator, so far.
    pub foreign_frees: u64,
    /// Address space the backend holds.
    pub mapped_bytes: u64,
    /// Most address space held at once, so far.
    pub peak_mapped_bytes: u64,
    /// Threads using the heap.
    pub threads: u64,
    /// Allocations so far by power-of-two size class (see [`crate::columns`]).
    pub histogram: [u64; SIZE_CLASSES],
}

/// A file read: its rows, and the cut-short last line left out, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The file as the caller named it, for messages.
    pub file: String,
    /// At least one, in time order.
    pub rows: Vec<Row>,
    pub skipped: Option<CutShort>,
}

/// A last line without a line end and with fields missing: the game was
/// stopped while writing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutShort {
    pub file: String,
    pub line: usize,
    /// Fields the line has, the last one possibly partial.
    pub fields: usize,
}

impl fmt::Display for CutShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: skipped: the last line is cut short ({} of {FIELDS} fields, no line end)",
            self.file, self.line, self.fields
        )
    }
}

/// Why a file cannot be read, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}{}: {problem}", ColumnName(*column))]
pub struct ParseError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based; `None` when the whole line is at fault.
    pub column: Option<usize>,
    pub problem: Problem,
}

/// `, column 3 (peak_bytes)`, or nothing for a whole line.
struct ColumnName(Option<usize>);

impl fmt::Display for ColumnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => Ok(()),
            Some(column) if column <= FIELDS => write!(f, ", column {column} ({})", COLUMNS[column - 1]),
            Some(column) => write!(f, ", column {column} (after the last, {})", COLUMNS[FIELDS - 1]),
        }
    }
}

/// What is wrong. Texts quoted from the file are cut to [`QUOTED`] characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the file is empty; expected the header, starting {},{},{}", COLUMNS[0], COLUMNS[1], COLUMNS[2])]
    Empty,
    #[error("no complete row after the header; expected one line of {FIELDS} fields at least")]
    NoRows,
    #[error("byte 0x{0:02X} is not plain ASCII text")]
    NotAscii(u8),
    #[error("{found:?} where the header must have {expected:?}")]
    HeaderName { found: String, expected: &'static str },
    #[error("missing: the header has {0} columns, expected {FIELDS}")]
    HeaderShort(usize),
    #[error("{found:?} is past the header's last column: it has {fields} columns, expected {FIELDS}")]
    HeaderLong { found: String, fields: usize },
    #[error("the line is empty; expected a row of {FIELDS} fields")]
    EmptyLine,
    #[error("missing: the row has {0} fields, expected {FIELDS}")]
    MissingField(usize),
    #[error("{found:?} is past the last column: the row has {fields} fields, expected {FIELDS}")]
    ExtraField { found: String, fields: usize },
    #[error("{0:?} is not a whole number")]
    NotWhole(String),
    #[error("{0:?} is too large: at most {max} fits", max = u64::MAX)]
    TooLarge(String),
    #[error("{0:?} is not a decimal number")]
    NotDecimal(String),
    #[error("{0:?} is negative; expected 0 or more")]
    Negative(String),
    #[error("{seconds} is earlier than {previous} on line {previous_line}: rows must not go back in time")]
    Backwards { seconds: String, previous: String, previous_line: usize },
}

/// Reads a whole file's bytes; `file` names it in messages.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Stats, ParseError> {
    let fail = |line, column, problem| ParseError { file: file.to_owned(), line, column, problem };
    let lines = split_lines(bytes);
    let Some(header) = lines.first() else {
        return Err(fail(1, None, Problem::Empty));
    };
    let header = ascii(header.bytes).map_err(|(column, byte)| fail(1, Some(column), Problem::NotAscii(byte)))?;
    check_header(header).map_err(|(column, problem)| fail(1, Some(column), problem))?;

    let mut stats = Stats { file: file.to_owned(), rows: Vec::new(), skipped: None };
    // The previous row's time, as written, and its line.
    let mut previous: Option<(f64, &str, usize)> = None;
    for (index, line) in lines.iter().enumerate().skip(1) {
        let number = index + 1;
        if !line.ended && is_incomplete(line.bytes) {
            let fields = line.bytes.split(|&b| b == b',').count();
            stats.skipped = Some(CutShort { file: file.to_owned(), line: number, fields });
            break;
        }
        let text = ascii(line.bytes).map_err(|(column, byte)| fail(number, Some(column), Problem::NotAscii(byte)))?;
        let fields: Vec<&str> = text.split(',').collect();
        let row = parse_row(text, &fields).map_err(|(column, problem)| fail(number, column, problem))?;
        if let Some((seconds, earlier, earlier_line)) = previous {
            if row.seconds < seconds {
                let problem = Problem::Backwards {
                    seconds: quoted(fields[0]),
                    previous: quoted(earlier),
                    previous_line: earlier_line,
                };
                return Err(fail(number, Some(1), problem));
            }
        }
        previous = Some((row.seconds, fields[0], number));
        stats.rows.push(row);
    }
    if stats.rows.is_empty() {
        return Err(fail(2, None, Problem::NoRows));
    }
    Ok(stats)
}

/// A line without its line end (`\n` or `\r\n`).
struct Line<'a> {
    bytes: &'a [u8],
    /// Whether a `\n` followed it.
    ended: bool,
}

/// The file's lines; nothing after a final line end counts as a line.
fn split_lines(bytes: &[u8]) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (raw, ended, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], true, &rest[end + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        lines.push(Line { bytes: raw.strip_suffix(b"\r").unwrap_or(raw), ended });
        rest = next;
    }
    lines
}

/// A last line the writer did not finish: fields missing, or the last one
/// empty because the line stops at a comma.
fn is_incomplete(line: &[u8]) -> bool {
    let commas = line.iter().filter(|&&b| b == b',').count();
    commas + 1 < FIELDS || (commas + 1 == FIELDS && line.last() == Some(&b','))
}

/// The line as text, or the first byte that is not ASCII and its 1-based
/// column.
fn ascii(line: &[u8]) -> Result<&str, (usize, u8)> {
    match line.iter().position(|b| !b.is_ascii()) {
        Some(at) => Err((line[..at].iter().filter(|&&b| b == b',').count() + 1, line[at])),
        // ASCII is UTF-8: this cannot fall back.
        None => Ok(core::str::from_utf8(line).unwrap_or_default()),
    }
}

fn check_header(text: &str) -> Result<(), (usize, Problem)> {
    let names: Vec<&str> = text.split(',').collect();
    for (index, expected) in COLUMNS.iter().enumerate() {
        match names.get(index) {
            None => return Err((index + 1, Problem::HeaderShort(names.len()))),
            Some(found) if found != expected => {
                return Err((index + 1, Problem::HeaderName { found: quoted(found), expected }));
            }
            Some(_) => {}
        }
    }
    match names.get(FIELDS) {
        Some(found) => Err((FIELDS + 1, Problem::HeaderLong { found: quoted(found), fields: names.len() })),
        None => Ok(()),
    }
}

fn parse_row(text: &str, fields: &[&str]) -> Result<Row, (Option<usize>, Problem)> {
    if text.is_empty() {
        return Err((None, Problem::EmptyLine));
    }
    if fields.len() < FIELDS {
        return Err((Some(fields.len() + 1), Problem::MissingField(fields.len())));
    }
    if fields.len() > FIELDS {
        let problem = Problem::ExtraField { found: quoted(fields[FIELDS]), fields: fields.len() };
        return Err((Some(FIELDS + 1), problem));
    }
    let mut whole = [0u64; FIELDS];
    let mut decimal = [0f64; FIELDS];
    for (index, field) in fields.iter().enumerate() {
        let parsed = match kind(index) {
            Kind::Whole => parse_whole(field).map(|value| whole[index] = value),
            Kind::Decimal => parse_decimal(field).map(|value| decimal[index] = value),
        };
        parsed.map_err(|problem| (Some(index + 1), problem))?;
    }
    Ok(Row {
        seconds: decimal[0],
        live_bytes: whole[1],
        peak_bytes: whole[2],
        live_blocks: whole[3],
        allocs_per_second: decimal[4],
        frees_per_second: decimal[5],
        failures: whole[6],
        fallbacks: whole[7],
        foreign_frees: whole[8],
        mapped_bytes: whole[9],
        peak_mapped_bytes: whole[10],
        threads: whole[11],
        histogram: core::array::from_fn(|class| whole[LEADING + class]),
    })
}

/// Digits only: no sign, no spaces, no exponent.
fn parse_whole(field: &str) -> Result<u64, Problem> {
    if is_digits(field.strip_prefix('-').unwrap_or("")) {
        return Err(Problem::Negative(quoted(field)));
    }
    if !is_digits(field) {
        return Err(Problem::NotWhole(quoted(field)));
    }
    field.parse().map_err(|_| Problem::TooLarge(quoted(field)))
}

/// Digits with at most one decimal point among or after them (`12`, `12.003`,
/// `.5`): no sign, no exponent, no `inf` or `NaN`.
fn parse_decimal(field: &str) -> Result<f64, Problem> {
    if is_decimal(field.strip_prefix('-').unwrap_or("")) {
        return Err(Problem::Negative(quoted(field)));
    }
    if !is_decimal(field) {
        return Err(Problem::NotDecimal(quoted(field)));
    }
    field.parse().map_err(|_| Problem::NotDecimal(quoted(field)))
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0
}

/// A field as messages quote it: cut to [`QUOTED`] characters.
fn quoted(field: &str) -> String {
    match field.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}...", &field[..end]),
        None => field.to_owned(),
    }
}
