//! Reading `MemoryPoolNVSE.stats.csv`: plain ASCII, comma separated, no
//! quoting, a header naming known [`COLUMNS`] (each once, every required one
//! present, in any order), then rows in time order with one field per
//! column. Any damage is an error naming the line, the column and what was
//! found; the one exception is a last line the game was killed while writing
//! (no line end and fields missing), which is skipped and reported.
//!
//! [`Reader`] reads a row at a time from any [`BufRead`], so that a file of
//! any length is read in a small, fixed amount of memory: a line longer than
//! [`MAX_LINE`] is damage, not a reason to grow. [`parse`] reads a whole file
//! into [`Stats`].

use core::fmt;
use std::io::{BufRead, Read};

use crate::columns::{at, kind, position, required, Kind, COLUMNS, SIZE_CLASSES};

/// Characters of a bad field quoted in a message; longer ones are cut.
const QUOTED: usize = 40;

/// Longest line read, in bytes. A row is at most about 1,000 bytes long
/// (47 fields of at most 20 digits and a comma).
pub const MAX_LINE: usize = 64 * 1024;

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
    /// Address space the heap holds, its own reservations included (files
    /// without the column: `None`).
    pub held_bytes: Option<u64>,
    /// Free address space in the process.
    pub free_space_bytes: Option<u64>,
    /// The largest free region of the process's address space.
    pub largest_free_bytes: Option<u64>,
    /// Blocks the game freed that wait, unchanged, before reuse.
    pub delayed_bytes: Option<u64>,
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
    /// Fields a row has.
    pub expected: usize,
}

impl fmt::Display for CutShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: skipped: the last line is cut short ({} of {} fields, no line end)",
            self.file, self.line, self.fields, self.expected
        )
    }
}

/// Why a file cannot be read (on), and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}{}: {problem}", ColumnName(*column, heading))]
pub struct ParseError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based; `None` when the whole line is at fault.
    pub column: Option<usize>,
    /// The column's name in the header, if it has one there.
    pub heading: Option<Box<str>>,
    pub problem: Problem,
}

/// `, column 3 (peak_bytes)`, `, column 3`, or nothing for a whole line.
struct ColumnName<'a>(Option<usize>, &'a Option<Box<str>>);

impl fmt::Display for ColumnName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnName(None, _) => Ok(()),
            ColumnName(Some(column), Some(name)) => write!(f, ", column {column} ({name})"),
            ColumnName(Some(column), None) => write!(f, ", column {column}"),
        }
    }
}

/// What is wrong. Texts quoted from the file are cut to [`QUOTED`] characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the file is empty; expected the header, starting {},{},{}", COLUMNS[0], COLUMNS[1], COLUMNS[2])]
    Empty,
    #[error("no complete row after the header")]
    NoRows,
    #[error("byte 0x{0:02X} is not plain ASCII text")]
    NotAscii(u8),
    #[error("the line is longer than {MAX_LINE} bytes; a row is about a thousand at most")]
    TooLong,
    #[error("cannot read on: {0}")]
    Unreadable(String),
    #[error("{0:?} is not a column of the statistics file")]
    UnknownColumn(String),
    #[error("{0:?} is in the header twice")]
    DuplicateColumn(&'static str),
    #[error("the header has no column {0:?}")]
    MissingColumn(&'static str),
    #[error("the line is empty; expected a row of {0} fields")]
    EmptyLine(usize),
    #[error("missing: the row has {found} fields, expected {expected}")]
    MissingField { found: usize, expected: usize },
    #[error("{found:?} is past the last column: the row has {fields} fields, expected {expected}")]
    ExtraField { found: String, fields: usize, expected: usize },
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

/// The header of a file: which column each field of a row holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// For each field, its column in [`COLUMNS`].
    fields: Vec<usize>,
    /// The field of `seconds`.
    seconds: usize,
}

impl Header {
    /// Reads a header line: every name known, none twice, every required
    /// column present. The error is the problem and its 1-based column.
    pub fn parse(text: &str) -> Result<Header, (Option<usize>, Problem)> {
        let mut fields = Vec::with_capacity(COLUMNS.len());
        for (index, name) in text.split(',').enumerate() {
            let column = position(name).ok_or_else(|| (Some(index + 1), Problem::UnknownColumn(quoted(name))))?;
            if fields.contains(&column) {
                return Err((Some(index + 1), Problem::DuplicateColumn(COLUMNS[column])));
            }
            fields.push(column);
        }
        if let Some(missing) = (0..COLUMNS.len()).find(|&c| required(c) && !fields.contains(&c)) {
            return Err((None, Problem::MissingColumn(COLUMNS[missing])));
        }
        let seconds = fields.iter().position(|&c| c == at::SECONDS).unwrap_or_default();
        Ok(Header { fields, seconds })
    }

    /// Whether the file has column `index` of [`COLUMNS`].
    pub fn has(&self, index: usize) -> bool {
        self.fields.contains(&index)
    }

    /// Fields per row.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Never true: a header has every required column.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The name of field `index` (0-based), or where it is past the last.
    fn heading(&self, index: usize) -> String {
        match self.fields.get(index) {
            Some(&column) => COLUMNS[column].to_owned(),
            None => format!("after the last, {}", self.fields.last().map_or("", |&c| COLUMNS[c])),
        }
    }
}

/// Reads a file a row at a time. After an error or the last row, it yields
/// nothing more.
pub struct Reader<R> {
    file: String,
    input: R,
    header: Header,
    /// The number of the line read last.
    line: usize,
    buffer: Vec<u8>,
    /// The previous row's time, as written, and its line.
    previous: Option<(f64, String, usize)>,
    skipped: Option<CutShort>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// Reads the header; `file` names the file in messages.
    pub fn new(file: &str, mut input: R) -> Result<Self, ParseError> {
        let mut buffer = Vec::with_capacity(1024);
        let fail = |column, problem| ParseError { file: file.to_owned(), line: 1, column, heading: None, problem };
        match read_line(&mut input, &mut buffer) {
            Ok(None) => return Err(fail(None, Problem::Empty)),
            Ok(Some(_)) => {}
            Err(problem) => return Err(fail(None, problem)),
        }
        let text = ascii(&buffer).map_err(|(column, byte)| fail(Some(column), Problem::NotAscii(byte)))?;
        let header = Header::parse(text).map_err(|(column, problem)| fail(column, problem))?;
        Ok(Reader { file: file.to_owned(), input, header, line: 1, buffer, previous: None, skipped: None, done: false })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The last line, if it was cut short and skipped (known once the
    /// reader has yielded its last row).
    pub fn skipped(&self) -> Option<&CutShort> {
        self.skipped.as_ref()
    }

    /// The number of the line read last.
    pub fn line(&self) -> usize {
        self.line
    }

    fn fail(&self, column: Option<usize>, problem: Problem) -> ParseError {
        let heading = column.map(|c| self.header.heading(c - 1).into_boxed_str());
        ParseError { file: self.file.clone(), line: self.line, column, heading, problem }
    }

    fn next_row(&mut self) -> Result<Option<Row>, ParseError> {
        let ended = match read_line(&mut self.input, &mut self.buffer) {
            Ok(None) => return Ok(None),
            Ok(Some(ended)) => ended,
            Err(problem) => {
                self.line += 1;
                return Err(self.fail(None, problem));
            }
        };
        self.line += 1;
        let fields = self.header.len();
        if !ended && is_incomplete(&self.buffer, fields) {
            let found = self.buffer.split(|&b| b == b',').count();
            self.skipped = Some(CutShort { file: self.file.clone(), line: self.line, fields: found, expected: fields });
            return Ok(None);
        }
        let text = match ascii(&self.buffer) {
            Ok(text) => text,
            Err((column, byte)) => return Err(self.fail(Some(column), Problem::NotAscii(byte))),
        };
        let row = parse_row(text, &self.header);
        let row = row.map_err(|(column, problem)| self.fail(column, problem))?;
        let field = self.header.seconds;
        let written = quoted(text.split(',').nth(field).unwrap_or_default());
        if let Some((seconds, earlier, earlier_line)) = &self.previous {
            if row.seconds < *seconds {
                let problem =
                    Problem::Backwards { seconds: written, previous: earlier.clone(), previous_line: *earlier_line };
                return Err(self.fail(Some(field + 1), problem));
            }
        }
        self.previous = Some((row.seconds, written, self.line));
        Ok(Some(row))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Row, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_row().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// Reads a whole file's bytes; `file` names it in messages.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Stats, ParseError> {
    let mut reader = Reader::new(file, bytes)?;
    let rows = reader.by_ref().collect::<Result<Vec<Row>, ParseError>>()?;
    if rows.is_empty() {
        return Err(no_rows(file, reader.line()));
    }
    Ok(Stats { file: file.to_owned(), rows, skipped: reader.skipped().cloned() })
}

/// No row to read: the header alone, or the only row cut short.
pub(crate) fn no_rows(file: &str, line: usize) -> ParseError {
    ParseError { file: file.to_owned(), line: line.max(2), column: None, heading: None, problem: Problem::NoRows }
}

/// Reads the next line into `buffer`, without its line end (`\n` or
/// `\r\n`): `None` at the end of the input, else whether a `\n` ended it.
fn read_line(input: &mut impl BufRead, buffer: &mut Vec<u8>) -> Result<Option<bool>, Problem> {
    buffer.clear();
    // One byte over the limit tells a line at the limit from a longer one.
    let limit = (MAX_LINE + 2) as u64;
    let read = input.by_ref().take(limit).read_until(b'\n', buffer);
    match read {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(Problem::Unreadable(e.to_string())),
    }
    let ended = buffer.last() == Some(&b'\n');
    if ended {
        buffer.pop();
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
    }
    if buffer.len() > MAX_LINE {
        return Err(Problem::TooLong);
    }
    Ok(Some(ended))
}

/// A last line the writer did not finish: fields missing, or the last one
/// empty because the line stops at a comma.
fn is_incomplete(line: &[u8], fields: usize) -> bool {
    let commas = line.iter().filter(|&&b| b == b',').count();
    commas + 1 < fields || (commas + 1 == fields && line.last() == Some(&b','))
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

fn parse_row(text: &str, header: &Header) -> Result<Row, (Option<usize>, Problem)> {
    let expected = header.len();
    if text.is_empty() {
        return Err((None, Problem::EmptyLine(expected)));
    }
    let mut whole = [0u64; COLUMNS.len()];
    let mut decimal = [0f64; COLUMNS.len()];
    let mut fields = text.split(',');
    for (index, &column) in header.fields.iter().enumerate() {
        let Some(field) = fields.next() else {
            return Err((Some(index + 1), Problem::MissingField { found: index, expected }));
        };
        let parsed = match kind(column) {
            Kind::Whole => parse_whole(field).map(|value| whole[column] = value),
            Kind::Decimal => parse_decimal(field).map(|value| decimal[column] = value),
        };
        parsed.map_err(|problem| (Some(index + 1), problem))?;
    }
    if let Some(extra) = fields.next() {
        let problem = Problem::ExtraField { found: quoted(extra), fields: expected + 1 + fields.count(), expected };
        return Err((Some(expected + 1), problem));
    }
    let optional = |column: usize| header.has(column).then_some(whole[column]);
    Ok(Row {
        seconds: decimal[at::SECONDS],
        live_bytes: whole[at::LIVE_BYTES],
        peak_bytes: whole[at::PEAK_BYTES],
        live_blocks: whole[at::LIVE_BLOCKS],
        allocs_per_second: decimal[at::ALLOCS_PER_SECOND],
        frees_per_second: decimal[at::FREES_PER_SECOND],
        failures: whole[at::FAILURES],
        fallbacks: whole[at::FALLBACKS],
        foreign_frees: whole[at::FOREIGN_FREES],
        mapped_bytes: whole[at::MAPPED_BYTES],
        peak_mapped_bytes: whole[at::PEAK_MAPPED_BYTES],
        threads: whole[at::THREADS],
        held_bytes: optional(at::HELD_BYTES),
        free_space_bytes: optional(at::FREE_SPACE_BYTES),
        largest_free_bytes: optional(at::LARGEST_FREE_BYTES),
        delayed_bytes: optional(at::DELAYED_BYTES),
        histogram: core::array::from_fn(|class| whole[at::SIZE_CLASS + class]),
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
    // Hundreds of digits parse, to infinity: not a number a row holds.
    field.parse().ok().filter(|value: &f64| value.is_finite()).ok_or_else(|| Problem::NotDecimal(quoted(field)))
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
