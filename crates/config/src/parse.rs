//! Reading the file: every line either sets a key or becomes one
//! [`Problem`] saying what was found, what is allowed and what is used
//! instead. Nothing here fails: the result is always complete settings.

use core::fmt;

use ini_roundtrip::{Item, Parser};

use crate::keys::{self, Key, Kind, Settings, Value, KEYS};

/// One mistake in the file, on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What was found, what is allowed, and what is used instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The settings the file gives, and what was wrong with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub settings: Settings,
    pub problems: Vec<Problem>,
    /// `(key, line)` of every key the file set, in file order.
    pub set: Vec<(&'static Key, usize)>,
}

/// Where keys go while reading.
#[derive(Clone, Copy)]
enum Section {
    /// Before any header.
    None,
    /// A known section, by its canonical name.
    Known(&'static str),
    /// An unknown or broken header, already reported: its keys are ignored.
    Ignored,
}

/// Reads `bytes` (the whole file). A UTF-8 byte-order mark is skipped; a
/// line that is not valid UTF-8 is reported and ignored.
pub fn parse(bytes: &[u8]) -> Parsed {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut parsed = Parsed::default();
    let text = valid_lines(bytes, &mut parsed.problems);
    let mut section = Section::None;
    let mut line = 0;
    for item in Parser::new(&text) {
        if item == Item::SectionEnd {
            continue;
        }
        line += 1;
        match item {
            Item::Section { name, .. } => section = enter_section(name, line, &mut parsed),
            Item::Error(raw) => {
                parsed.problem(
                    line,
                    format!(
                        "{:?}: a section header needs its closing ]; it and the keys under it are ignored",
                        raw.trim()
                    ),
                );
                section = Section::Ignored;
            }
            Item::Property { key, val: Some(value), .. } => property(section, key, value, line, &mut parsed),
            Item::Property { raw, val: None, .. } => parsed
                .problem(line, format!("{:?}: not a [Section] header nor a Key = value line; ignored", raw.trim())),
            Item::Comment { .. } | Item::Blank { .. } | Item::SectionEnd => {}
        }
    }
    parsed.problems.sort_by_key(|problem| problem.line);
    parsed
}

impl Parsed {
    fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem { line, message });
    }
}

/// The file as text, each line that is not valid UTF-8 blanked (and
/// reported), so that line numbers stay those of the file.
fn valid_lines(bytes: &[u8], problems: &mut Vec<Problem>) -> String {
    if let Ok(text) = core::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut text = String::with_capacity(bytes.len());
    let mut rest = bytes;
    let mut line = 1;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(rest.len());
        let newline = match rest[end..] {
            [b'\r', b'\n', ..] => 2,
            [] => 0,
            _ => 1,
        };
        match core::str::from_utf8(&rest[..end]) {
            Ok(valid) => text.push_str(valid),
            Err(_) => problems.push(Problem { line, message: "not valid UTF-8; the line is ignored".into() }),
        }
        text.push('\n');
        rest = &rest[end + newline..];
        line += 1;
    }
    text
}

fn enter_section(name: &str, line: usize, parsed: &mut Parsed) -> Section {
    if let Some(known) = keys::sections().find(|s| s.eq_ignore_ascii_case(name)) {
        return Section::Known(known);
    }
    let hint = nearest(name, keys::sections()).map(|s| format!(" (did you mean [{s}]?)")).unwrap_or_default();
    parsed.problem(line, format!("[{name}]: no such section{hint}; the keys under it are ignored"));
    Section::Ignored
}

fn property(section: Section, name: &str, raw_value: &str, line: usize, parsed: &mut Parsed) {
    let value = clean(raw_value);
    let section = match section {
        Section::Known(section) => section,
        Section::Ignored => return,
        Section::None => {
            let home = KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(name));
            let hint = home.map(|k| format!(" (it belongs in [{}])", k.section)).unwrap_or_default();
            return parsed.problem(line, format!("{name} = {value:?}: not under any [Section]{hint}; ignored"));
        }
    };
    let Some(key) = keys::find(section, name) else {
        return parsed
            .problem(line, format!("[{section}] {name} = {value:?}: {}; ignored", unknown_key(section, name)));
    };
    let shown = format!("[{section}] {} = {value:?}", key.name);
    if let Some(&(_, first)) = parsed.set.iter().find(|(k, _)| core::ptr::eq(*k, key)) {
        let kept = key.get(&parsed.settings);
        return parsed.problem(line, format!("{shown}: already set on line {first}; keeping {kept}"));
    }
    match read(key.kind, value) {
        Ok(read) => {
            key.set(&mut parsed.settings, read);
            parsed.set.push((key, line));
        }
        Err(allowed) => {
            let default = key.default_value();
            parsed.problem(line, format!("{shown}: expected {allowed}; using {default} (the default)"));
        }
    }
}

/// A value without its inline `;` comment, surrounding blanks and quotes.
fn clean(raw: &str) -> &str {
    let value = raw.split(';').next().unwrap_or_default().trim();
    value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value).trim()
}

/// What to say of a key `section` does not have.
fn unknown_key(section: &str, name: &str) -> String {
    if let Some(elsewhere) = KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(name)) {
        return format!("{} belongs in [{}]", elsewhere.name, elsewhere.section);
    }
    let in_section = KEYS.iter().filter(|k| k.section == section).map(|k| k.name);
    match nearest(name, in_section).or_else(|| nearest(name, KEYS.iter().map(|k| k.name))) {
        Some(close) => format!("no such key (did you mean {close}?)"),
        None => "no such key".into(),
    }
}

/// Reads a value of `kind`; `Err` says what is allowed.
fn read(kind: Kind, value: &str) -> Result<Value, String> {
    match kind {
        Kind::Switch => match value {
            "1" => Ok(Value::Switch(true)),
            "0" => Ok(Value::Switch(false)),
            _ => Err("0 or 1".into()),
        },
        Kind::Number { min, max } => match value.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Value::Number(n)),
            _ => Err(format!("a whole number from {min} to {max}")),
        },
        Kind::Choice(names) => match names.iter().find(|n| n.eq_ignore_ascii_case(value)) {
            Some(name) => Ok(Value::Choice(name)),
            None => Err(format!("one of {}", names.join(", "))),
        },
        Kind::Modules => modules(value).ok_or_else(|| "file names separated by commas, like a.dll, b.dll".into()),
        Kind::Path => {
            path(value).ok_or_else(|| "a file in the plugin's folder or below it, like profiles\\game.toml".into())
        }
    }
}

/// A path relative to the plugin's folder, never leaving it: no drive, no
/// root, no `..`; empty for none.
fn path(value: &str) -> Option<Value> {
    let mut parts = value.split(['\\', '/']);
    let relative = !value.starts_with(['\\', '/']) && !value.contains(':');
    (relative && parts.all(|p| p != "..")).then(|| Value::Path(value.to_owned()))
}

/// Comma-separated module file names, lower case; `None` if one is a path.
fn modules(value: &str) -> Option<Value> {
    let names: Vec<String> =
        value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_ascii_lowercase).collect();
    names.iter().all(|n| !n.contains(['\\', '/', ':'])).then_some(Value::Modules(names))
}

/// The candidate closest to `word`, if it is close enough to be a typo.
fn nearest(word: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|&(distance, c)| distance <= (c.len() / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}
