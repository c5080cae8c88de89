//! The facts file (`facts/*.toml`) and the profile, merged into the runs of
//! known bytes the replica holds: one source of truth for every byte of
//! FalloutNV.exe the replica reproduces.

use std::collections::BTreeMap;
use std::fmt;

use game_profile::{Pattern, Profile};
use serde::Deserialize;

/// The facts file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub image: Image,
    pub code: Vec<Code>,
    pub pools: Pools,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub base: u32,
    /// Where the replica's part of the image ends and the stand-in's begins.
    pub end: u32,
}

/// Known bytes of code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub address: u32,
    pub name: String,
    /// The function's size, where the dump gives it.
    #[serde(default)]
    pub size: Option<u32>,
    /// The bytes just before `address`.
    #[serde(default)]
    pub before: Option<Bytes>,
    pub bytes: Bytes,
    /// How many of `bytes` the build writes (the rest: the body's).
    #[serde(default)]
    pub emit: Option<usize>,
    pub source: String,
}

/// The small-block pools the pool creation makes, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pools {
    /// Where the pools' names are (the first, "Pool 8", is known).
    pub names: u32,
    /// The function each is made by.
    pub create: u32,
    /// `[block size, bytes reserved]`.
    pub list: Vec<[u32; 2]>,
}

/// Hex bytes, whitespace anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.split_whitespace()
            .map(|word| u8::from_str_radix(word, 16).map_err(|_| format!("{word:?} is not a byte")))
            .collect::<Result<Vec<u8>, String>>()
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A run of known bytes at a fixed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub address: u32,
    pub bytes: Vec<u8>,
    /// How many of them the build writes.
    pub emit: usize,
    /// Where they come from, for messages.
    pub from: String,
}

/// Why the facts and the profile cannot make a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict(pub String);

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Facts {
    pub fn parse(text: &str) -> Result<Facts, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Every run of known bytes: the facts' and the profile's, checked
    /// against each other (a byte both give must be the same, a byte the
    /// profile leaves open must be known from the facts), sorted by address.
    pub fn runs(&self, profile: &Profile) -> Result<Vec<Run>, Conflict> {
        let mut runs = Vec::new();
        for code in &self.code {
            let emit = code.emit.unwrap_or(code.bytes.0.len());
            if emit > code.bytes.0.len() {
                return Err(Conflict(format!("{}: emits {emit} of {} bytes", code.name, code.bytes.0.len())));
            }
            if let Some(before) = &code.before {
                let address = code.address - before.0.len() as u32;
                let from = format!("the bytes before {}", code.name);
                runs.push(Run { address, bytes: before.0.clone(), emit: before.0.len(), from });
            }
            let from = format!("{} ({})", code.name, code.source);
            runs.push(Run { address: code.address, bytes: code.bytes.0.clone(), emit, from });
        }
        let known = ByteMap::of(&runs)?;
        for (address, pattern, what) in profile_patterns(profile) {
            match known.check(address, &pattern) {
                Coverage::All => {}
                Coverage::None if !pattern.has_wildcards() => {
                    runs.push(Run { address, bytes: pattern.bytes(), emit: pattern.len(), from: what })
                }
                Coverage::None | Coverage::Part => {
                    return Err(Conflict(format!(
                        "the profile's {what} ({pattern}) at 0x{address:08X} is not all among the facts' bytes"
                    )))
                }
                Coverage::Differs(at, fact) => {
                    return Err(Conflict(format!(
                        "the profile's {what} ({pattern}) at 0x{address:08X} differs from the facts at 0x{at:08X} ({fact:02X})"
                    )))
                }
            }
        }
        runs.sort_by_key(|run| run.address);
        ByteMap::of(&runs)?;
        Ok(runs)
    }
}

/// Every byte pattern the profile expects, with what it is.
fn profile_patterns(profile: &Profile) -> Vec<(u32, Pattern, String)> {
    let mut patterns: Vec<(u32, Pattern, String)> =
        profile.executable.expect.iter().map(|e| (e.address, e.bytes.clone(), "identity".to_owned())).collect();
    for group in &profile.groups {
        for hook in &group.hooks {
            if let Some(bytes) = &hook.bytes {
                patterns.push((hook.address, bytes.clone(), format!("{} entry", hook.role.name())));
            }
            for frame in &hook.expect {
                patterns.push((frame.address, frame.bytes.clone(), format!("{} frame", hook.role.name())));
            }
        }
        for patch in &group.patches {
            patterns.push((patch.address, patch.expect.clone(), format!("patch of group {}", group.name)));
        }
    }
    patterns
}

/// How much of a pattern the known bytes hold.
enum Coverage {
    All,
    None,
    Part,
    /// A known byte differs: where, and what it is.
    Differs(u32, u8),
}

/// Known bytes by address; no address twice with two values.
struct ByteMap(BTreeMap<u32, u8>);

impl ByteMap {
    fn of(runs: &[Run]) -> Result<ByteMap, Conflict> {
        let mut map = BTreeMap::new();
        for run in runs {
            for (address, &byte) in (run.address..).zip(&run.bytes) {
                if let Some(other) = map.insert(address, byte).filter(|&other| other != byte) {
                    return Err(Conflict(format!(
                        "0x{address:08X} is {other:02X} in one run and {byte:02X} in {}",
                        run.from
                    )));
                }
            }
        }
        Ok(ByteMap(map))
    }

    fn check(&self, address: u32, pattern: &Pattern) -> Coverage {
        let mut known = 0;
        for (at, want) in (address..).zip(pattern.iter()) {
            match (self.0.get(&at), want) {
                (None, _) => {}
                (Some(&byte), Some(want)) if byte != want => return Coverage::Differs(at, byte),
                (Some(_), _) => known += 1,
            }
        }
        match known {
            0 => Coverage::None,
            n if n == pattern.len() => Coverage::All,
            _ => Coverage::Part,
        }
    }
}
