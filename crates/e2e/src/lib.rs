//! End-to-end scenarios: the packaged `MemoryPoolNVSE.dll`, loaded by the NVSE
//! stand-in (`nvse-host.exe`) under Wine, the way xNVSE loads it in the game.
//!
//! Each test lays out a game folder of its own under `target/e2e/<test>/`:
//!
//! ```text
//! nvse-host.exe                        the stand-in for FalloutNV.exe + xNVSE
//! bcryptprimitives.dll                 test-only shim (Wine 8 lacks it)
//! Data/NVSE/Plugins/MemoryPoolNVSE.dll the DLL a player installs
//! crt_*.dll                            test modules using a C runtime (some tests)
//! Data/NVSE/Plugins/stats_client.dll   an NVSE plugin using the C API (some tests)
//! ```
//!
//! runs a scenario and checks what the stand-in printed and what the plugin
//! wrote to its log. A folder made with `Game::replica` holds `FalloutNV.exe`,
//! the replica of the game's hook sites (crates/fnv-replica), which is a
//! stand-in too. `cargo xtask test` builds the artifacts and passes their
//! paths in `MEMORYPOOL_DLL`, `MEMORYPOOL_HOST`, `MEMORYPOOL_REPLICA` and
//! `MEMORYPOOL_TARGET_DIR`.
//! The test modules are built here with MinGW: `fixtures/crt_client.c`, and
//! `fixtures/stats_client.c`, a plugin including the C API's header, which is
//! also compiled as C89 and, in `fixtures/header_check.cpp`, as C++.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The artifacts under test.
pub struct Artifacts {
    pub dll: PathBuf,
    pub host: PathBuf,
    pub target_dir: PathBuf,
}

/// Reads a path `cargo xtask test` passes, or panics saying how to get it.
fn artifact(name: &str) -> PathBuf {
    let path = std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{name} is not set: the end-to-end tests run through `cargo xtask test`, which builds the DLL and the stand-ins")
    });
    assert!(path.exists(), "{name}={} does not exist", path.display());
    path
}

/// The replica of FalloutNV.exe (crates/fnv-replica), also an NVSE stand-in.
pub fn replica_exe() -> PathBuf {
    artifact("MEMORYPOOL_REPLICA")
}

impl Artifacts {
    /// Reads the paths `cargo xtask test` passes, or panics saying how to get them.
    pub fn from_env() -> Artifacts {
        Artifacts {
            dll: artifact("MEMORYPOOL_DLL"),
            host: artifact("MEMORYPOOL_HOST"),
            target_dir: artifact("MEMORYPOOL_TARGET_DIR"),
        }
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
    /// The stand-in's file name in the folder.
    program: &'static str,
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
    /// A fresh game folder for `test` (under `target/e2e/`), with the plugin
    /// installed as `MemoryPoolNVSE.dll`.
    pub fn new(test: &str) -> Game {
        Game::with_plugin_name(test, "MemoryPoolNVSE.dll")
    }

    /// The same, with the DLL installed under another file name.
    pub fn with_plugin_name(test: &str, plugin_name: &str) -> Game {
        assert_ne!(test, FIXTURES_FOLDER, "that folder holds the built fixtures");
        let artifacts = Artifacts::from_env();
        let dir = artifacts.target_dir.join("e2e").join(test);
        let _ = fs::remove_dir_all(&dir);
        let plugins = dir.join("Data").join("NVSE").join("Plugins");
        fs::create_dir_all(&plugins).expect("create the game folder");
        copy(&artifacts.host, &dir.join("nvse-host.exe"));
        copy(&artifacts.shim(), &dir.join("bcryptprimitives.dll"));
        copy(&artifacts.dll, &plugins.join(plugin_name));
        Game { dir, plugin_name: plugin_name.to_owned(), program: "nvse-host.exe", artifacts }
    }

    /// A fresh game folder for `test` whose executable is the replica of
    /// FalloutNV.exe (`FalloutNV.exe`), with the plugin installed; [`run`]
    /// runs the replica.
    ///
    /// [`run`]: Game::run
    pub fn replica(test: &str) -> Game {
        let mut game = Game::new(test);
        copy(&replica_exe(), &game.dir.join("FalloutNV.exe"));
        game.program = "FalloutNV.exe";
        game
    }

    /// Puts the test module for `crt` beside the stand-in (building it once
    /// per process) and returns its file name, for `--fixture` and the like.
    pub fn add_fixture(&self, crt: Crt) -> &'static str {
        self.add_fixture_as(crt, crt.file_name());
        crt.file_name()
    }

    /// The same module under another file name: a second module of the same
    /// runtime.
    pub fn add_fixture_as(&self, crt: Crt, file_name: &str) {
        let built = fixtures_dir(&self.artifacts.target_dir).join(crt.file_name());
        copy(&built, &self.dir.join(file_name));
    }

    /// Installs the C API's client plugin (`fixtures/stats_client.c`) beside
    /// the plugin, building it once per process; returns its file name.
    pub fn add_stats_client(&self) -> &'static str {
        let built = fixtures_dir(&self.artifacts.target_dir).join(STATS_CLIENT);
        copy(&built, &self.plugins_dir().join(STATS_CLIENT));
        STATS_CLIENT
    }

    /// Writes the plugin's settings file (`<plugin name>.ini` beside it).
    pub fn write_ini(&self, text: &str) {
        let path = self.plugins_dir().join(self.file_beside_plugin("ini"));
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Installs the settings file the package ships, as a player does.
    pub fn install_shipped_ini(&self) {
        let shipped = self.artifacts.dll.with_extension("ini");
        copy(&shipped, &self.plugins_dir().join(self.file_beside_plugin("ini")));
    }

    /// `<plugin name>.<ext>`, the file the plugin finds beside itself.
    fn file_beside_plugin(&self, ext: &str) -> String {
        let stem = Path::new(&self.plugin_name).file_stem().expect("plugin file name").to_string_lossy().into_owned();
        format!("{stem}.{ext}")
    }

    /// Writes the synthetic game's own profile (from `nvse-host game-profile`),
    /// edited by `edit`, as `game.toml` in the plugins folder, for an INI's
    /// `[GameHeap] Profile = game.toml`.
    pub fn write_game_profile(&self, edit: impl FnOnce(String) -> String) {
        let printed = self.run(&["game-profile"]);
        assert!(printed.success, "{}", printed.describe());
        let path = self.plugins_dir().join("game.toml");
        fs::write(&path, edit(printed.stdout.clone())).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.join("Data").join("NVSE").join("Plugins")
    }

    /// The log the plugin writes beside itself.
    pub fn log_path(&self) -> PathBuf {
        self.plugins_dir().join(self.file_beside_plugin("log"))
    }

    /// Runs the stand-in (`nvse-host.exe`, or the replica) with `args` under
    /// Wine in the game folder.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// The same, with more environment variables for Wine (e.g. a
    /// `WINEDEBUG` channel to read on standard error).
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = Command::new("wine")
            .arg(self.dir.join(self.program))
            .args(args)
            .current_dir(&self.dir)
            .env("WINEPREFIX", self.artifacts.wine_prefix())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .envs(env.iter().copied())
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
    #[track_caller]
    pub fn log(&self) -> &str {
        self.log.as_deref().unwrap_or_else(|| panic!("the plugin wrote no log\n{}", self.describe()))
    }

    /// Asserts that the stand-in printed `line` (exactly, as one line).
    #[track_caller]
    pub fn assert_printed(&self, line: &str) {
        assert!(self.stdout.lines().any(|l| l == line), "expected the line {line:?}\n{}", self.describe());
    }

    #[track_caller]
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

    /// The log's messages at `level` (`DEBUG`, `INFO`, `WARN`, `ERROR`), in order.
    pub fn log_messages_at(&self, level: &str) -> Vec<String> {
        self.log().lines().filter_map(parse_log_line).filter(|(l, _)| *l == level).map(|(_, m)| m.to_owned()).collect()
    }

    /// Asserts that log messages starting with each prefix appear, in this order.
    #[track_caller]
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

    /// The check lines the stand-in printed for `module` (a fixture's file
    /// name, or `nvse-host.exe`): `nvse-host: <module>: <check> key=value ...`,
    /// as `(check, [(key, value)])`.
    pub fn checks(&self, module: &str) -> Vec<(String, Vec<(String, String)>)> {
        let prefix = format!("nvse-host: {module}: ");
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(|rest| {
                let words: Vec<&str> = rest.split(' ').collect();
                let facts_from = words.iter().position(|w| w.contains('=')).unwrap_or(words.len());
                let facts = words[facts_from..]
                    .iter()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (words[..facts_from].join(" "), facts)
            })
            .collect()
    }

    /// Asserts that the check `check` of `module` printed `key=value`.
    #[track_caller]
    pub fn assert_fact(&self, module: &str, check: &str, key: &str, value: &str) {
        let checks = self.checks(module);
        let facts = checks
            .iter()
            .find(|(c, _)| c == check)
            .map(|(_, facts)| facts)
            .unwrap_or_else(|| panic!("no check {check:?} printed for {module}\n{}", self.describe()));
        let actual = facts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(actual, Some(value), "{module}: {check} {key}\n{}", self.describe());
    }

    /// The replica of FalloutNV.exe ran, its checks passed, and it printed
    /// these `(check, key, value)` facts.
    #[track_caller]
    pub fn assert_replica(&self, facts: &[(&str, &str, &str)]) {
        assert!(self.success, "{}", self.describe());
        self.assert_printed("nvse-host: replica: ok");
        for &(check, key, value) in facts {
            self.assert_fact("replica", check, key, value);
        }
    }

    /// The number the check `check` of `module` printed for `key`, or a panic.
    #[track_caller]
    pub fn fact_number(&self, module: &str, check: &str, key: &str) -> i64 {
        let checks = self.checks(module);
        let value = checks
            .iter()
            .find(|(c, _)| c == check)
            .and_then(|(_, facts)| facts.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key} in the check {check:?} of {module}\n{}", self.describe()));
        value.parse().unwrap_or_else(|e| panic!("{module}: {check} {key}={value}: {e}"))
    }

    /// The churn threads' tally, `<calls> calls, <bad> corrupted`, or a panic.
    #[track_caller]
    pub fn churn_tally(&self) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("nvse-host: churn: "))
            .unwrap_or_else(|| panic!("no churn tally\n{}", self.describe()))
    }

    /// The first log message starting with `prefix`, or a panic.
    #[track_caller]
    pub fn log_message(&self, prefix: &str) -> String {
        self.log_messages()
            .into_iter()
            .find(|m| m.starts_with(prefix))
            .unwrap_or_else(|| panic!("no log line starting with {prefix:?}\n{}", self.describe()))
    }
}

/// The number right after `marker` in `text`, e.g. `number_after("3 freed", "")`.
pub fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The C runtimes the test module `fixtures/crt_client.c` is built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crt {
    /// `msvcrt.dll`, Windows' own C runtime (no `_recalloc`).
    Msvcrt,
    /// `msvcr90.dll`, Visual C++ 2008's runtime.
    Msvcr90,
    /// The Universal C Runtime, through `api-ms-win-crt-heap-l1-1-0.dll`.
    Ucrt,
}

impl Crt {
    pub const ALL: [Crt; 3] = [Crt::Msvcrt, Crt::Msvcr90, Crt::Ucrt];

    /// The test module's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Crt::Msvcrt => "crt_msvcrt.dll",
            Crt::Msvcr90 => "crt_msvcr90.dll",
            Crt::Ucrt => "crt_ucrt.dll",
        }
    }

    /// The DLL the test module imports its heap functions from.
    pub fn import_dll(self) -> &'static str {
        match self {
            Crt::Msvcrt => "msvcrt.dll",
            Crt::Msvcr90 => "msvcr90.dll",
            Crt::Ucrt => "api-ms-win-crt-heap-l1-1-0.dll",
        }
    }

    /// Whether the runtime has `_recalloc` (the module then exports `fx_recalloc`).
    pub fn has_recalloc(self) -> bool {
        self != Crt::Msvcrt
    }

    /// The runtime DLL itself (the UCRT's API set resolves to ucrtbase.dll).
    fn runtime_dll(self) -> &'static str {
        match self {
            Crt::Msvcrt => "msvcrt.dll",
            Crt::Msvcr90 => "msvcr90.dll",
            Crt::Ucrt => "ucrtbase.dll",
        }
    }

    /// MinGW's import library for the runtime.
    fn library(self) -> &'static str {
        match self {
            Crt::Msvcrt => "-lmsvcrt",
            Crt::Msvcr90 => "-lmsvcr90",
            Crt::Ucrt => "-lucrt",
        }
    }
}

/// The folder under `target/e2e/` that holds the built test modules.
const FIXTURES_FOLDER: &str = "fixtures";

/// The C API's client plugin, built from `fixtures/stats_client.c`.
pub const STATS_CLIENT: &str = "stats_client.dll";

/// Builds every test module once per process, into `target/e2e/fixtures/`,
/// and returns that folder. Each is built under a temporary name and renamed
/// into place, so a concurrent test process never sees half a DLL.
pub fn fixtures_dir(target_dir: &Path) -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = target_dir.join("e2e").join(FIXTURES_FOLDER);
        fs::create_dir_all(&dir).expect("create the fixtures folder");
        for crt in Crt::ALL {
            build_fixture(crt, &dir);
        }
        check_header();
        build_stats_client(&dir);
        dir
    })
}

/// The C API's header, in `crates/plugin/include`.
fn header_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/include")
}

/// The header must compile, warning-free and pedantic, as C89 on its own and
/// as C++98 and C++17 in `fixtures/header_check.cpp`.
fn check_header() {
    let header = header_dir().join("MemoryPoolNVSE.h");
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("header_check.cpp");
    let strict = ["-Wall", "-Wextra", "-pedantic", "-Werror"];
    let mut c89 = Command::new("i686-w64-mingw32-gcc");
    c89.args(["-std=c89", "-fsyntax-only", "-x", "c"]).args(strict).arg(&header);
    compile(c89, "MemoryPoolNVSE.h as C89", "i686-w64-mingw32-gcc");
    for std in ["-std=c++98", "-std=c++17"] {
        let mut cxx = Command::new("i686-w64-mingw32-g++");
        cxx.args([std, "-fsyntax-only"]).args(strict).arg("-I").arg(header_dir()).arg(&check);
        compile(cxx, &format!("header_check.cpp ({std})"), "i686-w64-mingw32-g++");
    }
}

/// Builds `stats_client.dll`, a real NVSE plugin in C that includes the
/// header: C99, pedantic, no MinGW startup code, msvcrt.dll's `malloc`.
fn build_stats_client(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("stats_client.c");
    let temporary = dir.join(format!("{STATS_CLIENT}.{}.tmp", std::process::id()));
    let mut gcc = Command::new("i686-w64-mingw32-gcc");
    gcc.args(["-O2", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-shared", "-nostdlib"])
        .args(["-e", "_DllMain@12", "-I"])
        .arg(header_dir())
        .arg("-o")
        .arg(&temporary)
        .arg(&source)
        .args(["-lmsvcrt", "-lkernel32", "-lgcc"]);
    compile(gcc, STATS_CLIENT, "i686-w64-mingw32-gcc");
    let output = dir.join(STATS_CLIENT);
    fs::rename(&temporary, &output)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", temporary.display(), output.display()));
}

/// Runs a compiler and panics with its output if it fails.
fn compile(mut command: Command, what: &str, compiler: &str) {
    let result = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {compiler} (MinGW-w64; `cargo xtask test` installs it): {e}"));
    assert!(
        result.status.success(),
        "compiling {what} failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

fn build_fixture(crt: Crt, dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("crt_client.c");
    let output = dir.join(crt.file_name());
    let temporary = dir.join(format!("{}.{}.tmp", crt.file_name(), std::process::id()));
    let mut gcc = Command::new("i686-w64-mingw32-gcc");
    // No MinGW startup code: DllMain is the entry point, and every C runtime
    // function comes from the one runtime DLL.
    gcc.args(["-O2", "-Wall", "-shared", "-nostdlib", "-e", "_DllMain@12"]);
    if crt.has_recalloc() {
        gcc.arg("-DHAVE_RECALLOC");
    }
    gcc.arg(format!("-DRUNTIME_DLL=\"{}\"", crt.runtime_dll()));
    gcc.arg("-o").arg(&temporary).arg(&source).args([crt.library(), "-lkernel32"]);
    compile(gcc, crt.file_name(), "i686-w64-mingw32-gcc");
    fs::rename(&temporary, &output)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", temporary.display(), output.display()));
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
    use super::{number_after, parse_log_line};

    #[test]
    fn numbers_are_read_after_a_marker() {
        let line = "ExitGame: heap rpmalloc: 5 allocations, foreign blocks: 46 freed, 40 resized, 2 sized; 1 threads";
        assert_eq!(number_after(line, "foreign blocks: "), Some(46));
        assert_eq!(number_after(line, "freed, "), Some(40));
        assert_eq!(number_after(line, "nowhere"), None);
        assert_eq!(number_after("x: y", "x: "), None);
    }

    #[test]
    fn log_lines_are_parsed() {
        assert_eq!(parse_log_line("[12:34:56.789] [INFO] Query: accepted"), Some(("INFO", "Query: accepted")));
        assert_eq!(parse_log_line("[12:34:56.789] [WARN] x"), Some(("WARN", "x")));
        assert_eq!(parse_log_line("[12:34:56] [INFO] no millis"), None);
        assert_eq!(parse_log_line("[12:34:56.789] [LOUD] x"), None);
        assert_eq!(parse_log_line("plain text"), None);
    }
}
