//! Running commands and finding the workspace's folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub type Result<T = ()> = std::result::Result<T, String>;

/// The Windows target the plugin is built for.
pub const WINDOWS_TARGET: &str = "i686-pc-windows-gnu";

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
pub fn cmd(program: &str, args: &[&str]) -> Result {
    cmd_with(Command::new(program).args(args))
}

pub fn cmd_with(command: &mut Command) -> Result {
    println!("$ {}", describe(command));
    let status = command
        .current_dir(root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// Runs a command quietly and returns its stdout, or `None` if it fails.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The program's combined output and whether it succeeded.
pub fn output_all(command: &mut Command) -> (bool, String) {
    match command.stdin(Stdio::null()).output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Err(e) => (false, e.to_string()),
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Times a step and prints how long it took.
pub fn step<T>(name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("\n== {name}");
    let start = Instant::now();
    let result = body();
    let verdict = if result.is_ok() { "done" } else { "FAILED" };
    println!("== {name}: {verdict} in {:.1} s", start.elapsed().as_secs_f64());
    result
}

/// A wineserver kept running for as long as this value lives.
///
/// Each Wine program connects to the prefix's wineserver, which ends a few
/// seconds after its last client. A program started just as it ends fails
/// with "wine client error:0: recvmsg: Connection reset by peer", which the
/// test and benchmark runs, starting hundreds of programs one after another,
/// would meet now and then. A persistent server, stopped when the run ends,
/// closes that window.
///
/// The prefix's services (services.exe, winedevice.exe, ...) live as long as
/// the server and inherit the standard handles of the program that started
/// them: a test reading a program's output to its end would wait for them.
/// They are started here, from a program whose handles go nowhere.
pub struct WineServer {
    started: bool,
}

impl WineServer {
    /// Starts a persistent wineserver for the workspace's prefix (the one
    /// `xtask/wine-runner.sh` and the end-to-end tests use) and its services.
    /// A server already running is left as it is.
    pub fn hold() -> WineServer {
        let started = wine("wineserver", &["-p"]);
        if started {
            wine("wine", &["cmd", "/c", "exit"]);
        }
        WineServer { started }
    }
}

impl Drop for WineServer {
    fn drop(&mut self) {
        if self.started {
            wine("wineserver", &["-k"]);
        }
    }
}

/// Runs a Wine tool on the workspace's prefix, every handle to nowhere.
fn wine(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .env("WINEPREFIX", target_dir().join("wine-prefix"))
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
