//! End-to-end scenarios: the packaged `MemoryPoolNVSE.dll`, loaded by the NVSE
//! stand-in (`nvse-host.exe`) under Wine, the way xNVSE loads it in the game.
//!
//! Each test lays out a game folder of its own under `target/e2e/<test>/`:
//!
//! ```text
//! nvse-host.exe                        the stand-in for FalloutNV.exe + xNVSE
//! bcryptprimitives.dll                 test-only shim (Wine 8 lacks it)
//! Data/NVSE/Plugins/MemoryPoolNVSE.dll the DLL a player installs
//! ```
//!
//! runs a scenario and checks what the stand-in printed and what the plugin
//! wrote to its log. `cargo xtask test` builds the artifacts and passes their
//! paths in `MEMORYPOOL_DLL`, `MEMORYPOOL_HOST` and `MEMORYPOOL_TARGET_DIR`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The artifacts under test.
pub struct Artifacts {
    pub dll: PathBuf,
    pub host: PathBuf,
    pub target_dir: PathBuf,
}

impl Artifacts {
    /// Reads the paths `cargo xtask test` passes, or panics saying how to get them.
    pub fn from_env() -> Artifacts {
        let var = |name: &str| -> PathBuf {
            let path = std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
                panic!("{name} is not set: the end-to-end tests run through `cargo xtask test`, which builds the DLL and the stand-in")
            });
            assert!(path.exists(), "{name}={} does not exist", path.display());
            path
        };
        Artifacts { dll: var("MEMORYPOOL_DLL"), host: var("MEMORYPOOL_HOST"), target_dir: var("MEMORYPOOL_TARGET_DIR") }
    }

    fn shim(&self) -> PathBuf {
        self.target_dir.join("wine-shim").join("bcryptprimitives.dll")
    }

    fn wine_prefix(&self) -> PathBuf {
        self.target_dir.join("wine-prefix")
    }
}

/// A game folder with the stand-in and the plugin installed.
pub struct Game {
    pub dir: PathBuf,
    plugin_name: String,
    artifacts: Artifacts,
}

/// What one run of the stand-in left behind.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The plugin's log file, if it wrote one.
    pub log: Option<String>,
}

impl Game {
    /// A fresh game folder for `test`, with the plugin installed as `MemoryPoolNVSE.dll`.
    pub fn new(test: &str) -> Game {
        Game::with_plugin_name(test, "MemoryPoolNVSE.dll")
    }

    /// The same, with the DLL installed under another file name.
    pub fn with_plugin_name(test: &str, plugin_name: &str) -> Game {
        let artifacts = Artifacts::from_env();
        let dir = artifacts.target_dir.join("e2e").join(test);
        let _ = fs::remove_dir_all(&dir);
        let plugins = dir.join("Data").join("NVSE").join("Plugins");
        fs::create_dir_all(&plugins).expect("create the game folder");
        copy(&artifacts.host, &dir.join("nvse-host.exe"));
        copy(&artifacts.shim(), &dir.join("bcryptprimitives.dll"));
        copy(&artifacts.dll, &plugins.join(plugin_name));
        Game { dir, plugin_name: plugin_name.to_owned(), artifacts }
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.join("Data").join("NVSE").join("Plugins")
    }

    /// The log the plugin writes beside itself.
    pub fn log_path(&self) -> PathBuf {
        let stem = Path::new(&self.plugin_name).file_stem().expect("plugin file name").to_string_lossy().into_owned();
        self.plugins_dir().join(format!("{stem}.log"))
    }

    /// Runs `nvse-host.exe <args>` under Wine in the game folder.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new("wine")
            .arg(self.dir.join("nvse-host.exe"))
            .args(args)
            .current_dir(&self.dir)
            .env("WINEPREFIX", self.artifacts.wine_prefix())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .stdin(Stdio::null())
            .output()
            .expect("run wine (is Wine installed? `cargo xtask test` installs it)");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            log: fs::read_to_string(self.log_path()).ok().map(|l| l.replace("\r\n", "\n")),
        }
    }
}

impl Run {
    /// The log, or a panic that shows what the stand-in printed.
    pub fn log(&self) -> &str {
        self.log.as_deref().unwrap_or_else(|| panic!("the plugin wrote no log\n{}", self.describe()))
    }

    /// Asserts that the stand-in printed `line` (exactly, as one line).
    pub fn assert_printed(&self, line: &str) {
        assert!(self.stdout.lines().any(|l| l == line), "expected the line {line:?}\n{}", self.describe());
    }

    pub fn assert_not_printed(&self, fragment: &str) {
        assert!(!self.stdout.contains(fragment), "did not expect {fragment:?}\n{}", self.describe());
    }

    /// The log's messages (without timestamp and level), in order.
    pub fn log_messages(&self) -> Vec<String> {
        self.log()
            .lines()
            .map(|line| parse_log_line(line).unwrap_or_else(|| panic!("malformed log line {line:?}")).1.to_owned())
            .collect()
    }

    /// Asserts that log messages starting with each prefix appear, in this order.
    pub fn assert_log_in_order(&self, prefixes: &[&str]) {
        let messages = self.log_messages();
        let mut next = 0;
        for prefix in prefixes {
            match messages[next..].iter().position(|m| m.starts_with(prefix)) {
                Some(i) => next += i + 1,
                None => panic!("no log line starting with {prefix:?} after line {next}\n{}", self.describe()),
            }
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "--- stdout\n{}--- stderr\n{}--- log\n{}",
            self.stdout,
            self.stderr,
            self.log.as_deref().unwrap_or("(none)\n")
        )
    }
}

/// Splits `[hh:mm:ss.mmm] [LEVEL] message` into `(level, message)`.
pub fn parse_log_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] [")?;
    let bytes = time.as_bytes();
    let time_ok = bytes.len() == 12
        && bytes.iter().enumerate().all(|(i, b)| match i {
            2 | 5 => *b == b':',
            8 => *b == b'.',
            _ => b.is_ascii_digit(),
        });
    let (level, message) = rest.split_once("] ")?;
    (time_ok && ["DEBUG", "INFO", "WARN", "ERROR"].contains(&level)).then_some((level, message))
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

#[cfg(test)]
mod tests {
    use super::parse_log_line;

    #[test]
    fn log_lines_are_parsed() {
        assert_eq!(parse_log_line("[12:34:56.789] [INFO] Query: accepted"), Some(("INFO", "Query: accepted")));
        assert_eq!(parse_log_line("[12:34:56.789] [WARN] x"), Some(("WARN", "x")));
        assert_eq!(parse_log_line("[12:34:56] [INFO] no millis"), None);
        assert_eq!(parse_log_line("[12:34:56.789] [LOUD] x"), None);
        assert_eq!(parse_log_line("plain text"), None);
    }
}
