//! The record of a game session on the replica of FalloutNV.exe
//! (`FalloutNV.exe --session`): the session's blocks made and freed through
//! the game heap's own functions, with the plugin installed at Preload, at
//! Load or not at all, and the vanilla heaps as large as xNVSE's `[Memory]`
//! settings make them. What `cargo xtask bench` shows in its late-install
//! table and writes into `results.json` beside the other records.
//!
//! ```json
//! {"workload":"game-session-1t","platform":"i686-windows-wine","plugin_at":"load","game_heap":"vanilla",
//!  "default_heap_mb":200,"file_heap_mb":64,"vanilla_reserved_bytes":415236096,"ops":5200000,
//!  "peak_live_bytes":315621376,"peak_in_use_bytes":692060160,"live_after_drop_bytes":99090432,
//!  "in_use_after_drop_bytes":620756992,"in_use_empty_bytes":501219328,"min_largest_free_bytes":343932928}
//! ```
//!
//! - `plugin_at`: `preload`, `load` or `none` (no plugin); `game_heap`:
//!   whose blocks the game heap's Allocate returned during the session
//!   (`plugin` or `vanilla`).
//! - `default_heap_mb`, `file_heap_mb`: what the Default and File heaps
//!   were to reserve (the dwords their creation pushes).
//! - `vanilla_reserved_bytes`: the address space the vanilla heaps and pools
//!   held when the plugin loaded (after the start-up, without the plugin).
//! - `*_in_use_bytes`: the private address space the process held over what
//!   it held before the game's start-up (before the plugin, too): at the
//!   session's peak, after its last cell change and settling, and with
//!   nothing of it live; the process's own, wherever it lies (under Wine,
//!   Wine's ranges set aside for later are not counted: see
//!   `crates/address-space`).
//! - `min_largest_free_bytes`: the smallest largest region a reservation
//!   could take, free or (under Wine) set aside by Wine, of any walk.
//!
//! Every key is required; the values are counts but for the three strings.

use std::fmt::Write as _;

use crate::record::{parse_object, quote, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateRecord {
    pub workload: String,
    pub platform: String,
    pub plugin_at: String,
    pub game_heap: String,
    pub default_heap_mb: u64,
    pub file_heap_mb: u64,
    pub vanilla_reserved_bytes: u64,
    pub ops: u64,
    pub peak_live_bytes: u64,
    pub peak_in_use_bytes: u64,
    pub live_after_drop_bytes: u64,
    pub in_use_after_drop_bytes: u64,
    pub in_use_empty_bytes: u64,
    pub min_largest_free_bytes: u64,
}

/// The keys of the strings, then of the counts, in the order written.
const STRINGS: [&str; 4] = ["workload", "platform", "plugin_at", "game_heap"];
const COUNTS: [&str; 10] = [
    "default_heap_mb",
    "file_heap_mb",
    "vanilla_reserved_bytes",
    "ops",
    "peak_live_bytes",
    "peak_in_use_bytes",
    "live_after_drop_bytes",
    "in_use_after_drop_bytes",
    "in_use_empty_bytes",
    "min_largest_free_bytes",
];

impl LateRecord {
    fn strings(&self) -> [&str; 4] {
        [&self.workload, &self.platform, &self.plugin_at, &self.game_heap]
    }

    fn counts(&self) -> [u64; 10] {
        [
            self.default_heap_mb,
            self.file_heap_mb,
            self.vanilla_reserved_bytes,
            self.ops,
            self.peak_live_bytes,
            self.peak_in_use_bytes,
            self.live_after_drop_bytes,
            self.in_use_after_drop_bytes,
            self.in_use_empty_bytes,
            self.min_largest_free_bytes,
        ]
    }

    /// One line of JSON, without a line break.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (key, value) in STRINGS.iter().zip(self.strings()) {
            let _ = write!(out, "{}{}:{}", if out.len() > 1 { "," } else { "" }, quote(key), quote(value));
        }
        for (key, value) in COUNTS.iter().zip(self.counts()) {
            let _ = write!(out, ",{}:{value}", quote(key));
        }
        out.push('}');
        out
    }

    /// Whether a line is a late-install record rather than another.
    pub fn is_one(line: &str) -> bool {
        line.starts_with('{') && line.contains("\"plugin_at\":")
    }

    /// Reads a line [`LateRecord::to_json`] wrote (any key order).
    pub fn parse(line: &str) -> Result<LateRecord, String> {
        let fields = parse_object(line.trim())?;
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or(format!("no field {key:?}"));
        let string = |key: &str| match get(key)? {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("{key}: expected a string, got {other:?}")),
        };
        let count = |key: &str| match get(key)? {
            Value::Num(n) if *n >= 0.0 && n.fract() == 0.0 => Ok(*n as u64),
            other => Err(format!("{key}: expected a count, got {other:?}")),
        };
        Ok(LateRecord {
            workload: string("workload")?,
            platform: string("platform")?,
            plugin_at: string("plugin_at")?,
            game_heap: string("game_heap")?,
            default_heap_mb: count("default_heap_mb")?,
            file_heap_mb: count("file_heap_mb")?,
            vanilla_reserved_bytes: count("vanilla_reserved_bytes")?,
            ops: count("ops")?,
            peak_live_bytes: count("peak_live_bytes")?,
            peak_in_use_bytes: count("peak_in_use_bytes")?,
            live_after_drop_bytes: count("live_after_drop_bytes")?,
            in_use_after_drop_bytes: count("in_use_after_drop_bytes")?,
            in_use_empty_bytes: count("in_use_empty_bytes")?,
            min_largest_free_bytes: count("min_largest_free_bytes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LateRecord {
        LateRecord {
            workload: "game-session-1t".into(),
            platform: "i686-windows-wine".into(),
            plugin_at: "load".into(),
            game_heap: "vanilla".into(),
            default_heap_mb: 200,
            file_heap_mb: 64,
            vanilla_reserved_bytes: 415_236_096,
            ops: 5_200_000,
            peak_live_bytes: 315_621_376,
            peak_in_use_bytes: 692_060_160,
            live_after_drop_bytes: 99_090_432,
            in_use_after_drop_bytes: 620_756_992,
            in_use_empty_bytes: 501_219_328,
            min_largest_free_bytes: 343_932_928,
        }
    }

    #[test]
    fn late_records_round_trip_and_are_told_apart() {
        let line = sample().to_json();
        assert!(line.starts_with("{\"workload\":\"game-session-1t\",\"platform\":"), "{line}");
        assert!(line.ends_with(",\"min_largest_free_bytes\":343932928}"), "{line}");
        assert_eq!(LateRecord::parse(&line).unwrap(), sample());
        assert!(LateRecord::is_one(&line));
        assert!(!LateRecord::is_one("{\"workload\":\"small-churn\",\"allocator\":\"rpmalloc\"}"));
        assert!(!LateRecord::is_one("nvse-host: \"plugin_at\":"));
    }

    #[test]
    fn broken_late_records_are_errors() {
        let line = sample().to_json();
        for broken in [
            line.replace(",\"ops\":5200000", ""),
            line.replace("\"ops\":5200000", "\"ops\":null"),
            line.replace("\"ops\":5200000", "\"ops\":1.5"),
            line.replace("\"game_heap\":\"vanilla\"", "\"game_heap\":1"),
            line[..line.len() - 1].to_string(),
        ] {
            assert!(LateRecord::parse(&broken).is_err(), "{broken} parsed");
        }
    }
}
