//! A game folder for the NVSE stand-in, laid out as the end-to-end tests lay
//! it out, and the Wine command that runs it there.
//!
//! ```text
//! <dir>/nvse-host.exe
//! <dir>/bcryptprimitives.dll                  (test-only shim, never shipped)
//! <dir>/Data/NVSE/Plugins/MemoryPoolNVSE.dll  (the packaged plugin, if asked)
//! <dir>/Data/NVSE/Plugins/MemoryPoolNVSE.ini
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dist;
use crate::run::{self, Result};

/// The plugins folder of a game folder: the plugin's log, INI and CSV.
pub fn plugins(dir: &Path) -> PathBuf {
    dir.join("Data").join("NVSE").join("Plugins")
}

/// Makes `dir` afresh with the stand-in `host`, the shim, and the packaged
/// plugin if `plugin` (its INI edited by `ini`).
pub fn folder(dir: &Path, host: &Path, plugin: bool, ini: impl FnOnce(String) -> String) -> Result {
    folder_with(dir, host, "nvse-host.exe", plugin, ini)
}

/// The same with the stand-in `exe` named `name` (the replica is `FalloutNV.exe`).
pub fn folder_with(dir: &Path, exe: &Path, name: &str, plugin: bool, ini: impl FnOnce(String) -> String) -> Result {
    let _ = fs::remove_dir_all(dir);
    let plugins = plugins(dir);
    fs::create_dir_all(&plugins).map_err(|e| format!("cannot create {}: {e}", plugins.display()))?;
    copy(exe, &dir.join(name))?;
    copy(&run::target_dir().join("wine-shim").join("bcryptprimitives.dll"), &dir.join("bcryptprimitives.dll"))?;
    if plugin {
        let dll = dist::dist_dll();
        copy(&dll, &plugins.join("MemoryPoolNVSE.dll"))?;
        let shipped = dll.with_extension("ini");
        let text = fs::read_to_string(&shipped).map_err(|e| format!("cannot read {}: {e}", shipped.display()))?;
        let ini_path = plugins.join("MemoryPoolNVSE.ini");
        fs::write(&ini_path, ini(text)).map_err(|e| format!("cannot write {}: {e}", ini_path.display()))?;
    }
    Ok(())
}

/// The synthetic game's profile, in the plugins folder: the plugin hooks
/// FalloutNV.exe by its built-in profile, and the stand-in by this one.
pub const PROFILE: &str = "game.toml";

/// `ini` (the plugin's INI) naming [`PROFILE`] as the game's profile.
pub fn with_profile(ini: String) -> String {
    set_key(&ini, "GameHeap", "Profile", PROFILE)
}

/// Writes the profile of the stand-in in `dir` (`nvse-host game-profile`,
/// read from its own code) to [`PROFILE`] in its plugins folder.
pub fn write_profile(dir: &Path) -> Result {
    let out = wine(dir, &["game-profile"]).stdin(std::process::Stdio::null()).output();
    let out = out.map_err(|e| format!("cannot run nvse-host game-profile: {e}"))?;
    if !out.status.success() {
        return Err(format!("nvse-host game-profile failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let path = plugins(dir).join(PROFILE);
    fs::write(&path, out.stdout).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `nvse-host.exe` in `dir` under Wine, with `args`. It runs in the game
/// folder, as the game does: from elsewhere Wine does not find the plugin's
/// own imports (the shim beside the stand-in) and the plugin fails to load.
pub fn wine(dir: &Path, args: &[&str]) -> Command {
    wine_program(dir, "nvse-host.exe", args)
}

/// The same for the stand-in named `program` in `dir`.
pub fn wine_program(dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("wine");
    command
        .arg(dir.join(program))
        .args(args)
        .current_dir(dir)
        .env("WINEPREFIX", run::target_dir().join("wine-prefix"))
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
    command
}

/// `text` (an INI) with `key`'s line in `[section]` set to `value`.
pub fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = name.trim().to_string();
        }
        let is_key = trimmed.split_once('=').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(key));
        if current.eq_ignore_ascii_case(section) && is_key && !trimmed.starts_with(';') {
            out.push_str(&format!("{key} = {value}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn copy(from: &Path, to: &Path) -> Result {
    fs::copy(from, to).map(drop).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_set_in_its_own_section_only() {
        let ini = "[General]\nEnabled = 1\n; Enabled = 1\n[GameHeap]\nEnabled = 1\n";
        assert_eq!(
            set_key(ini, "GameHeap", "Enabled", "0"),
            "[General]\nEnabled = 1\n; Enabled = 1\n[GameHeap]\nEnabled = 0\n"
        );
    }
}
