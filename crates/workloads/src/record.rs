//! One measurement as one line of JSON: what the benchmark binary and
//! `nvse-host bench` print, and `cargo xtask bench` collects into
//! `target/bench/results.json`.
//!
//! ```json
//! {"workload":"small-churn","allocator":"rpmalloc","platform":"x86_64-linux","ns_per_op":12.3,"ops":8000000,
//!  "peak_live_bytes":17000000,"peak_mapped_bytes":20971520,"mapped_source":"rpmalloc-mapped",
//!  "peak_rss_delta_bytes":18000000,"runs":3,"instructions_per_op":null}
//! ```
//!
//! - `ns_per_op`: wall time of the measured phase over its operations (one
//!   `malloc`, `calloc`, `realloc` or `free` call each), the best of `runs`;
//!   multi-threaded workloads count both threads' operations against the
//!   wall time.
//! - `peak_live_bytes`: the workload's own account of requested bytes live
//!   at their peak.
//! - `peak_mapped_bytes`: what the allocator held at its peak over the
//!   baseline before the workload, as `mapped_source` says:
//!   `rpmalloc-mapped` (the heap's count of address space rpmalloc mapped),
//!   `mimalloc-committed` (mimalloc's peak commit), `rss` (resident set
//!   growth: touched pages only), or null.
//! - `peak_rss_delta_bytes`: the resident set's growth, for every allocator.
//! - `instructions_per_op`: from callgrind, for the records that have it.
//! - the game sessions' records (see [`crate::session`]) also have, from
//!   walks of the address space, in bytes over the walk before the session:
//!   `peak_reserved_bytes`, `reserved_after_drop_bytes` and
//!   `live_after_drop_bytes`, `reserved_empty_bytes`, and
//!   `min_largest_free_bytes` (the smallest largest free region, absolute);
//! - the frame session's records ([`crate::latency::frames`]) also have
//!   `p50_ns`, `p99_ns`, `p999_ns`, `max_ns`, `frames`, `slowest_frame`,
//!   `slowest_frame_ns`, `median_frame_ns`, and the allocator's memory
//!   system calls `game_thread_maps`, `game_thread_unmaps`,
//!   `game_thread_commits`, `game_thread_decommits`, `other_thread_os_calls`
//!   (all null where they are not counted);
//!
//! other records leave these keys out.
//!
//! The lines are flat objects of strings, numbers and nulls; [`Record::parse`]
//! reads exactly what [`Record::to_json`] writes (and any key order).

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub workload: String,
    pub allocator: String,
    pub platform: String,
    pub ns_per_op: Option<f64>,
    pub ops: u64,
    pub peak_live_bytes: u64,
    pub peak_mapped_bytes: Option<u64>,
    pub mapped_source: Option<String>,
    pub peak_rss_delta_bytes: Option<u64>,
    pub runs: u32,
    pub instructions_per_op: Option<f64>,
    /// The session's figures (game sessions only).
    pub address_space: Option<AddressSpace>,
    /// The frame session's figures (`game-frames` only).
    pub latency: Option<Latency>,
}

/// What the frame session measured (see [`crate::latency::frames`]); times
/// in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub frames: u64,
    pub slowest_frame: u64,
    pub slowest_frame_ns: u64,
    pub median_frame_ns: u64,
    /// The allocator's memory system calls, where they can be counted.
    pub os_calls: Option<OsCalls>,
}

/// Memory system calls an allocator made while the frame session played:
/// on the game's threads by kind, and on any other thread (a maintenance
/// thread's) in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsCalls {
    /// Address space reserved (and perhaps committed) anew.
    pub maps: u64,
    /// Whole mappings given back.
    pub unmaps: u64,
    /// Pages of a reservation committed.
    pub commits: u64,
    /// Pages decommitted, the range kept.
    pub decommits: u64,
    /// Any of those, on threads that are not the game's.
    pub elsewhere: u64,
}

impl Latency {
    const KEYS: [&'static str; 8] =
        ["p50_ns", "p99_ns", "p999_ns", "max_ns", "frames", "slowest_frame", "slowest_frame_ns", "median_frame_ns"];
    /// The system calls' keys: all numbers, or all null.
    const OS_KEYS: [&'static str; 5] = [
        "game_thread_maps",
        "game_thread_unmaps",
        "game_thread_commits",
        "game_thread_decommits",
        "other_thread_os_calls",
    ];

    fn values(&self) -> [u64; 8] {
        [
            self.p50_ns,
            self.p99_ns,
            self.p999_ns,
            self.max_ns,
            self.frames,
            self.slowest_frame,
            self.slowest_frame_ns,
            self.median_frame_ns,
        ]
    }

    fn from_values(v: [u64; 8], os_calls: Option<OsCalls>) -> Latency {
        Latency {
            p50_ns: v[0],
            p99_ns: v[1],
            p999_ns: v[2],
            max_ns: v[3],
            frames: v[4],
            slowest_frame: v[5],
            slowest_frame_ns: v[6],
            median_frame_ns: v[7],
            os_calls,
        }
    }

    /// The frame session's outcome, with the system calls counted around it.
    pub fn of(o: &crate::latency::FramesOutcome, os_calls: Option<OsCalls>) -> Latency {
        Latency {
            p50_ns: o.p50_ns,
            p99_ns: o.p99_ns,
            p999_ns: o.p999_ns,
            max_ns: o.max_ns,
            frames: o.frames,
            slowest_frame: o.slowest_frame,
            slowest_frame_ns: o.slowest_frame_ns,
            median_frame_ns: o.median_frame_ns,
            os_calls,
        }
    }
}

impl OsCalls {
    fn values(&self) -> [u64; 5] {
        [self.maps, self.unmaps, self.commits, self.decommits, self.elsewhere]
    }

    fn from_values(v: [u64; 5]) -> OsCalls {
        OsCalls { maps: v[0], unmaps: v[1], commits: v[2], decommits: v[3], elsewhere: v[4] }
    }
}

/// What a game session measured of the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressSpace {
    pub peak_reserved_bytes: u64,
    pub reserved_after_drop_bytes: u64,
    pub live_after_drop_bytes: u64,
    pub reserved_empty_bytes: u64,
    pub min_largest_free_bytes: u64,
}

impl AddressSpace {
    /// The keys, in the order they are written.
    const KEYS: [&'static str; 5] = [
        "peak_reserved_bytes",
        "reserved_after_drop_bytes",
        "live_after_drop_bytes",
        "reserved_empty_bytes",
        "min_largest_free_bytes",
    ];

    fn values(&self) -> [u64; 5] {
        [
            self.peak_reserved_bytes,
            self.reserved_after_drop_bytes,
            self.live_after_drop_bytes,
            self.reserved_empty_bytes,
            self.min_largest_free_bytes,
        ]
    }

    fn from_values(v: [u64; 5]) -> AddressSpace {
        AddressSpace {
            peak_reserved_bytes: v[0],
            reserved_after_drop_bytes: v[1],
            live_after_drop_bytes: v[2],
            reserved_empty_bytes: v[3],
            min_largest_free_bytes: v[4],
        }
    }
}

impl From<&crate::SessionOutcome> for AddressSpace {
    fn from(o: &crate::SessionOutcome) -> AddressSpace {
        AddressSpace {
            peak_reserved_bytes: o.peak_reserved_bytes,
            reserved_after_drop_bytes: o.reserved_after_drop_bytes,
            live_after_drop_bytes: o.live_after_drop_bytes,
            reserved_empty_bytes: o.reserved_empty_bytes,
            min_largest_free_bytes: o.min_largest_free_bytes,
        }
    }
}

/// A value of a flat JSON object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Num(f64),
    Null,
}

impl Record {
    /// One line of JSON, without a line break.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut field = |key: &str, value: String| {
            if out.len() > 1 {
                out.push(',');
            }
            let _ = write!(out, "{}:{value}", quote(key));
        };
        field("workload", quote(&self.workload));
        field("allocator", quote(&self.allocator));
        field("platform", quote(&self.platform));
        field("ns_per_op", number(self.ns_per_op));
        field("ops", self.ops.to_string());
        field("peak_live_bytes", self.peak_live_bytes.to_string());
        field("peak_mapped_bytes", number(self.peak_mapped_bytes.map(|b| b as f64)));
        field("mapped_source", self.mapped_source.as_deref().map_or("null".into(), quote));
        field("peak_rss_delta_bytes", number(self.peak_rss_delta_bytes.map(|b| b as f64)));
        field("runs", self.runs.to_string());
        field("instructions_per_op", number(self.instructions_per_op));
        if let Some(space) = &self.address_space {
            for (key, value) in AddressSpace::KEYS.iter().zip(space.values()) {
                field(key, value.to_string());
            }
        }
        if let Some(latency) = &self.latency {
            for (key, value) in Latency::KEYS.iter().zip(latency.values()) {
                field(key, value.to_string());
            }
            let os = latency.os_calls.map(|calls| calls.values().map(|n| n.to_string()));
            for (i, key) in Latency::OS_KEYS.iter().enumerate() {
                field(key, os.as_ref().map_or("null".into(), |values| values[i].clone()));
            }
        }
        out.push('}');
        out
    }

    /// Reads a line [`Record::to_json`] wrote; every field is required but
    /// the address space's, which come all five or not at all.
    pub fn parse(line: &str) -> Result<Record, String> {
        let fields = parse_object(line.trim())?;
        let get = |key: &str| -> Result<&Value, String> {
            fields.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| format!("no field {key:?}"))
        };
        let string = |key: &str| match get(key)? {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("{key}: expected a string, got {other:?}")),
        };
        let optional_string = |key: &str| match get(key)? {
            Value::Str(s) => Ok(Some(s.clone())),
            Value::Null => Ok(None),
            other => Err(format!("{key}: expected a string or null, got {other:?}")),
        };
        let optional = |key: &str| match get(key)? {
            Value::Num(n) => Ok(Some(*n)),
            Value::Null => Ok(None),
            other => Err(format!("{key}: expected a number or null, got {other:?}")),
        };
        let count = |key: &str| match optional(key)? {
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(n as u64),
            _ => Err(format!("{key}: expected a count")),
        };
        let optional_count = |key: &str| match optional(key)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
            Some(n) => Err(format!("{key}: {n} is not a count")),
        };
        Ok(Record {
            workload: string("workload")?,
            allocator: string("allocator")?,
            platform: string("platform")?,
            ns_per_op: optional("ns_per_op")?,
            ops: count("ops")?,
            peak_live_bytes: count("peak_live_bytes")?,
            peak_mapped_bytes: optional_count("peak_mapped_bytes")?,
            mapped_source: optional_string("mapped_source")?,
            peak_rss_delta_bytes: optional_count("peak_rss_delta_bytes")?,
            runs: count("runs")? as u32,
            instructions_per_op: optional("instructions_per_op")?,
            address_space: address_space(&fields)?,
            latency: latency(&fields)?,
        })
    }
}

/// The counts under `keys`: `None` if none is there (or, `nullable`, all
/// are null), an error if only some are.
fn counts<const N: usize>(
    fields: &[(String, Value)],
    keys: [&str; N],
    nullable: bool,
    what: &str,
) -> Result<Option<[u64; N]>, String> {
    let found = keys.map(|key| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v));
    if found.iter().all(Option::is_none) || (nullable && found.iter().all(|v| v == &Some(&Value::Null))) {
        return Ok(None);
    }
    let mut values = [0u64; N];
    for ((key, value), slot) in keys.iter().zip(found).zip(&mut values) {
        *slot = match value {
            Some(Value::Num(n)) if *n >= 0.0 && n.fract() == 0.0 => *n as u64,
            Some(other) => return Err(format!("{key}: expected a count, got {other:?}")),
            None => return Err(format!("no field {key:?} ({what}'s fields come together)")),
        };
    }
    Ok(Some(values))
}

/// The frame session's keys of a record: all there, or none.
fn latency(fields: &[(String, Value)]) -> Result<Option<Latency>, String> {
    let Some(values) = counts(fields, Latency::KEYS, false, "the frame session")? else { return Ok(None) };
    let os_calls = counts(fields, Latency::OS_KEYS, true, "the system calls")?.map(OsCalls::from_values);
    Ok(Some(Latency::from_values(values, os_calls)))
}

/// The address space's keys of a record: all there, or none.
fn address_space(fields: &[(String, Value)]) -> Result<Option<AddressSpace>, String> {
    Ok(counts(fields, AddressSpace::KEYS, false, "the address space")?.map(AddressSpace::from_values))
}

pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite number (rounded to 3 decimals), or null.
fn number(n: Option<f64>) -> String {
    match n {
        Some(n) if n.is_finite() => {
            let rounded = (n * 1000.0).round() / 1000.0;
            format!("{rounded}")
        }
        _ => "null".into(),
    }
}

/// A flat object: `{"key": "string" | number | null, ...}`.
pub(crate) fn parse_object(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut chars = text.chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
    };
    let expect = |chars: &mut std::iter::Peekable<std::str::Chars>, want: char| match chars.next() {
        Some(c) if c == want => Ok(()),
        other => Err(format!("expected {want:?}, found {other:?}")),
    };
    let string = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Result<String, String> {
        expect(chars, '"')?;
        let mut out = String::new();
        loop {
            match chars.next().ok_or("unterminated string")? {
                '"' => return Ok(out),
                '\\' => match chars.next().ok_or("unterminated escape")? {
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|e| format!("\\u{hex}: {e}"))?;
                        out.push(char::from_u32(code).ok_or("escaped surrogate")?);
                    }
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    c @ ('"' | '\\' | '/') => out.push(c),
                    c => return Err(format!("unknown escape \\{c}")),
                },
                c => out.push(c),
            }
        }
    };
    let mut fields = Vec::new();
    skip_ws(&mut chars);
    expect(&mut chars, '{')?;
    skip_ws(&mut chars);
    if chars.peek() == Some(&'}') {
        chars.next();
    } else {
        loop {
            skip_ws(&mut chars);
            let key = string(&mut chars)?;
            skip_ws(&mut chars);
            expect(&mut chars, ':')?;
            skip_ws(&mut chars);
            let value = match chars.peek() {
                Some('"') => Value::Str(string(&mut chars)?),
                Some('n') => {
                    let word: String = chars.by_ref().take(4).collect();
                    if word != "null" {
                        return Err(format!("{key}: expected null, found {word:?}"));
                    }
                    Value::Null
                }
                _ => {
                    let mut digits = String::new();
                    while let Some(&c) = chars.peek().filter(|c| c.is_ascii_digit() || "+-.eE".contains(**c)) {
                        digits.push(c);
                        chars.next();
                    }
                    Value::Num(digits.parse().map_err(|e| format!("{key}: {digits:?}: {e}"))?)
                }
            };
            fields.push((key, value));
            skip_ws(&mut chars);
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                other => return Err(format!("expected ',' or '}}', found {other:?}")),
            }
        }
    }
    skip_ws(&mut chars);
    match chars.next() {
        None => Ok(fields),
        Some(c) => Err(format!("text after the object: {c:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            workload: "small-churn".into(),
            allocator: "hooked-rpmalloc".into(),
            platform: "x86_64-linux".into(),
            ns_per_op: Some(12.3456),
            ops: 8_000_000,
            peak_live_bytes: 17_000_000,
            peak_mapped_bytes: Some(20_971_520),
            mapped_source: Some("rpmalloc-mapped".into()),
            peak_rss_delta_bytes: None,
            runs: 3,
            instructions_per_op: None,
            address_space: None,
            latency: None,
        }
    }

    #[test]
    fn records_round_trip() {
        let record = sample();
        let line = record.to_json();
        assert!(!line.contains('\n'));
        let back = Record::parse(&line).unwrap();
        assert_eq!(back, Record { ns_per_op: Some(12.346), ..record });
        let odd = Record { workload: "a\"b\\c\u{1}".into(), ns_per_op: None, ..sample() };
        assert_eq!(Record::parse(&odd.to_json()).unwrap(), odd);
    }

    #[test]
    fn a_sessions_address_space_round_trips() {
        let space = AddressSpace {
            peak_reserved_bytes: 440_401_920,
            reserved_after_drop_bytes: 442_499_072,
            live_after_drop_bytes: 81_788_928,
            reserved_empty_bytes: 442_499_072,
            min_largest_free_bytes: 520_093_696,
        };
        let record =
            Record { workload: "game-session-4t".into(), ns_per_op: None, address_space: Some(space), ..sample() };
        let line = record.to_json();
        assert!(line.ends_with(",\"min_largest_free_bytes\":520093696}"), "{line}");
        assert_eq!(Record::parse(&line).unwrap(), record);
        // Without them, the keys are left out.
        assert!(!sample().to_json().contains("reserved"));
        // Some but not all of them, or not counts: an error.
        assert!(Record::parse(&line.replace(",\"reserved_empty_bytes\":442499072", "")).is_err());
        assert!(Record::parse(&line.replace("\"reserved_empty_bytes\":442499072", "\"reserved_empty_bytes\":null"))
            .is_err());
    }

    #[test]
    fn the_frame_sessions_figures_round_trip() {
        let latency = Latency {
            p50_ns: 41,
            p99_ns: 310,
            p999_ns: 2_200,
            max_ns: 180_000,
            frames: 600,
            slowest_frame: 149,
            slowest_frame_ns: 1_900_000,
            median_frame_ns: 45_000,
            os_calls: Some(OsCalls { maps: 12, unmaps: 0, commits: 3, decommits: 1, elsewhere: 40 }),
        };
        let record = Record { workload: "game-frames".into(), ns_per_op: None, latency: Some(latency), ..sample() };
        let line = record.to_json();
        assert!(line.ends_with(",\"other_thread_os_calls\":40}"), "{line}");
        assert_eq!(Record::parse(&line).unwrap(), record);
        // Uncounted system calls are null, all of them.
        let uncounted = Record { latency: Some(Latency { os_calls: None, ..latency }), ..record.clone() };
        let line = uncounted.to_json();
        assert!(line.contains("\"game_thread_maps\":null"), "{line}");
        assert_eq!(Record::parse(&line).unwrap(), uncounted);
        assert!(Record::parse(&line.replace("\"game_thread_maps\":null", "\"game_thread_maps\":3")).is_err());
        assert!(Record::parse(&record.to_json().replace(",\"p999_ns\":2200", "")).is_err());
        assert!(!sample().to_json().contains("frame"));
    }

    #[test]
    fn any_key_order_and_spacing_parses() {
        let line = r#" { "ops" : 5, "workload":"w","allocator":"a","platform":"p","ns_per_op":1e1,"peak_live_bytes":0,
            "peak_mapped_bytes":null,"mapped_source":null,"peak_rss_delta_bytes":7,"runs":1,"instructions_per_op":40.5 } "#;
        let record = Record::parse(line).unwrap();
        assert_eq!((record.ops, record.ns_per_op, record.peak_rss_delta_bytes), (5, Some(10.0), Some(7)));
        assert_eq!(record.instructions_per_op, Some(40.5));
    }

    #[test]
    fn broken_lines_are_errors() {
        let line = sample().to_json();
        for broken in [
            "",
            "{",
            "nvse-host: session over",
            &line[..line.len() - 1],
            &line.replace("\"ops\":8000000", "\"ops\":-1"),
            &line.replace("\"ops\":8000000,", ""),
            &line.replace("\"workload\":\"small-churn\"", "\"workload\":3"),
            &format!("{line}x"),
        ] {
            assert!(Record::parse(broken).is_err(), "{broken:?} parsed");
        }
    }
}
