//! `MemoryPoolNVSE.ini`: the plugin's settings, in the format Fallout: New
//! Vegas players know from other plugins (`[Section]`, `Key = value`, `;`
//! comments).
//!
//! | file | concern |
//! |---|---|
//! | [`keys`] | every key: section, name, kind, default, range; [`Settings`] |
//! | [`parse`] | reading a file that may be wrong in any way, and saying how |
//!
//! [`parse`](parse()) never fails: bad input gives the default for what it
//! touched and one [`Problem`] naming the line, the key, the value found, what
//! is allowed and the value used. [`describe`] turns settings back into the
//! log's one line per section. Nothing here touches the file system or
//! Windows: the plugin reads the bytes and logs the lines.

pub mod keys;
pub mod parse;

pub use keys::{AtLoad, Backend, LogLevel, Settings};
pub use parse::{parse, Parsed, Problem};

/// One line per section, e.g. `[Heap] SpanMapCount=32* TouchPages=0`, with
/// `*` after each value that differs from its default.
pub fn describe(settings: &Settings) -> Vec<String> {
    keys::sections()
        .map(|section| {
            let values: Vec<String> = keys::KEYS
                .iter()
                .filter(|key| key.section == section)
                .map(|key| {
                    let value = key.get(settings);
                    let changed = if value == key.default_value() { "" } else { "*" };
                    format!("{}={value}{changed}", key.name)
                })
                .collect();
            format!("[{section}] {}", values.join(" "))
        })
        .collect()
}
