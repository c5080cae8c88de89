//! The settings in force: `MemoryPoolNVSE.ini` beside the DLL (named after
//! it, like the log), read once, at Preload or at Load when there was no
//! Preload, before anything is hooked.
//!
//! The file is read with the standard library, whose allocations go to this
//! DLL's own C runtime imports: those are never redirected (see
//! `crt_hooks::policy`), so reading never reaches the heap being configured.

use std::ffi::OsString;
use std::os::windows::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use config::{Problem, Settings};

use crate::log::{info, warning};
use crate::module;

/// What reading the file gave, kept for the log.
struct Loaded {
    settings: Settings,
    /// The file's path, when the DLL's own path is known.
    path: Option<PathBuf>,
    outcome: Outcome,
}

enum Outcome {
    Read { problems: Vec<Problem> },
    Missing,
    Unreadable(std::io::Error),
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// The settings in force, reading the file on the first call.
pub fn get() -> &'static Settings {
    &LOADED.get_or_init(load).settings
}

fn load() -> Loaded {
    let Some(path) = ini_path() else {
        return Loaded { settings: Settings::default(), path: None, outcome: Outcome::Missing };
    };
    let (settings, outcome) = match std::fs::read(&path) {
        Ok(bytes) => {
            let parsed = config::parse(&bytes);
            (parsed.settings, Outcome::Read { problems: parsed.problems })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Settings::default(), Outcome::Missing),
        Err(e) => (Settings::default(), Outcome::Unreadable(e)),
    };
    Loaded { settings, path: Some(path), outcome }
}

/// `<this DLL's path>` with the extension `ini`.
fn ini_path() -> Option<PathBuf> {
    let mut path = module::own_path()?;
    path.replace_extension("ini")?;
    Some(OsString::from_wide(path.as_slice()).into())
}

/// Writes what the file gave: where it is, each of its problems (one line
/// each), and the settings in force, one line per section.
pub fn log() {
    let loaded = LOADED.get_or_init(load);
    let file = loaded.path.as_deref().map_or_else(|| "MemoryPoolNVSE.ini".into(), |p| p.display().to_string());
    let name = loaded
        .path
        .as_deref()
        .and_then(|p| p.file_name())
        .map_or("MemoryPoolNVSE.ini".into(), |n| n.to_string_lossy().into_owned());
    match &loaded.outcome {
        Outcome::Read { problems } if problems.is_empty() => info!("Config: read {file}"),
        Outcome::Read { problems } => {
            warning!("Config: read {file}: {} problem(s), each given its default", problems.len());
            for problem in problems {
                warning!("Config: {name} {problem}");
            }
        }
        Outcome::Missing => info!("Config: {file} not found; using the defaults"),
        Outcome::Unreadable(e) => warning!("Config: {file} cannot be read ({e}); using the defaults"),
    }
    info!("Config: settings in force (* differs from the default):");
    for line in config::describe(&loaded.settings) {
        info!("Config:   {line}");
    }
}
