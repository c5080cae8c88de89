//! Installs what the build and the tests need on a Debian 12 machine, and
//! nothing that is already there. Every step says what it checks and does.
//!
//! - the Rust target `i686-pc-windows-gnu` (rustup);
//! - the MinGW-w64 cross compiler for i686 (`gcc-mingw-w64-i686`), which links
//!   the DLL and compiles rpmalloc's C, and its resource compiler
//!   (`i686-w64-mingw32-windres`, from `binutils-mingw-w64-i686`, which the
//!   compiler's package brings), which compiles the DLL's version resource;
//! - for tests only: Wine with 32-bit support (`wine`, `wine32:i386`), its
//!   prefix under `target/`, and the test-only `bcryptprimitives.dll` shim;
//!   MinGW-w64's C++ compiler (`g++-mingw-w64-i686`), which checks that
//!   the C API's header compiles as C++; and Debian's Chromium (`chromium`),
//!   which renders the session's page headless. Chromium is the one optional
//!   step: if it cannot be installed, the reason goes to
//!   `target/chromium-unavailable.txt` and the browser test says it skips;
//! - for `cargo xtask bench` only: valgrind (callgrind), and what an
//!   i686-linux build of the benchmark needs for callgrind to count the
//!   32-bit code: the Rust target `i686-unknown-linux-gnu` and gcc's 32-bit
//!   libraries (`gcc-multilib`).

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::run::{self, cmd, cmd_with, output, output_all, Result, WINDOWS_TARGET};

/// What `cargo xtask dist` needs.
pub fn for_build() -> Result {
    rust_target()?;
    mingw()?;
    windres()
}

/// What `cargo xtask test` needs.
pub fn for_tests() -> Result {
    for_build()?;
    mingw_cxx()?;
    wine32()?;
    wine_prefix()?;
    chromium();
    Ok(())
}

/// What `cargo xtask bench` needs: the above, valgrind (callgrind), and
/// the i686-linux build's target and C libraries.
pub fn for_bench() -> Result {
    for_tests()?;
    valgrind()?;
    i686_linux()
}

fn valgrind() -> Result {
    if let Some(version) = output("valgrind", &["--version"]) {
        println!("setup: valgrind: {}", version.trim());
        return Ok(());
    }
    println!("setup: valgrind: missing, installing it");
    apt_update()?;
    apt_install(&["valgrind"])
}

/// The Rust target and gcc's 32-bit libraries an i686-linux build of the
/// benchmark needs (rpmalloc's and mimalloc's C are compiled with `-m32`).
fn i686_linux() -> Result {
    const TARGET: &str = "i686-unknown-linux-gnu";
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == TARGET) {
        println!("setup: Rust target {TARGET} (callgrind of the 32-bit code): present");
    } else {
        println!("setup: Rust target {TARGET} (callgrind of the 32-bit code): missing, adding it");
        cmd("rustup", &["target", "add", TARGET])?;
    }
    if output("dpkg", &["-s", "gcc-multilib"]).is_some() {
        println!("setup: gcc-multilib (32-bit C libraries for that build): present");
        return Ok(());
    }
    println!("setup: gcc-multilib (32-bit C libraries for that build): missing, installing it");
    apt_update()?;
    apt_install(&["gcc-multilib"])
}

pub fn everything() -> Result {
    for_bench()
}

fn rust_target() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == WINDOWS_TARGET) {
        println!("setup: Rust target {WINDOWS_TARGET}: present");
        return Ok(());
    }
    println!("setup: Rust target {WINDOWS_TARGET}: missing, adding it");
    cmd("rustup", &["target", "add", WINDOWS_TARGET])
}

fn mingw() -> Result {
    if let Some(version) = output("i686-w64-mingw32-gcc", &["--version"]) {
        println!("setup: MinGW-w64 for i686: {}", version.lines().next().unwrap_or("present"));
        return Ok(());
    }
    println!("setup: MinGW-w64 for i686: missing, installing gcc-mingw-w64-i686");
    apt_update()?;
    apt_install(&["gcc-mingw-w64-i686"])
}

fn windres() -> Result {
    if let Some(version) = output("i686-w64-mingw32-windres", &["--version"]) {
        println!("setup: MinGW-w64 resource compiler for i686: {}", version.lines().next().unwrap_or("present"));
        return Ok(());
    }
    println!("setup: MinGW-w64 resource compiler for i686: missing, installing binutils-mingw-w64-i686");
    apt_update()?;
    apt_install(&["binutils-mingw-w64-i686"])
}

/// Where the setup notes why Chromium could not be installed; the browser
/// test reads it to tell a skip from a missing install step.
fn chromium_note() -> std::path::PathBuf {
    run::target_dir().join("chromium-unavailable.txt")
}

/// Debian's Chromium, for the test that renders the session's page. Never
/// an error: without it that one test is skipped, saying why.
fn chromium() {
    let note = chromium_note();
    if let Some(version) = output("chromium", &["--version"]) {
        println!("setup: Chromium (renders the session's page in a test): {}", version.trim());
        let _ = fs::remove_file(&note);
        return;
    }
    println!("setup: Chromium (renders the session's page in a test): missing, installing chromium");
    let installed = apt_update().and_then(|()| apt_install(&["chromium"]));
    match installed {
        Ok(()) => {
            let _ = fs::remove_file(&note);
        }
        Err(e) => {
            println!("setup: chromium cannot be installed ({e}); the browser test will say it is skipped");
            let _ = fs::create_dir_all(run::target_dir());
            let _ = fs::write(&note, format!("apt-get install chromium failed: {e}\n"));
        }
    }
}

fn mingw_cxx() -> Result {
    if let Some(version) = output("i686-w64-mingw32-g++", &["--version"]) {
        println!("setup: MinGW-w64 C++ for i686: {}", version.lines().next().unwrap_or("present"));
        return Ok(());
    }
    println!("setup: MinGW-w64 C++ for i686: missing, installing g++-mingw-w64-i686");
    apt_update()?;
    apt_install(&["g++-mingw-w64-i686"])
}

fn wine32() -> Result {
    let has_wine32 = output("dpkg", &["-s", "wine32:i386"]).is_some();
    if let (true, Some(version)) = (has_wine32, output("wine", &["--version"])) {
        println!("setup: Wine with 32-bit support: {}", version.trim());
        return Ok(());
    }
    println!("setup: Wine with 32-bit support: missing, installing wine and wine32:i386");
    let arches = output("dpkg", &["--print-foreign-architectures"]).unwrap_or_default();
    if !arches.lines().any(|a| a.trim() == "i386") {
        as_root("dpkg", &["--add-architecture", "i386"])?;
        APT_UPDATED.store(false, Ordering::Relaxed);
    }
    apt_update()?;
    install_wine32_with_aligned_versions()
}

/// `wine32:i386` needs every multiarch library it pulls in at the same version
/// for amd64 and i386. When a mirror's i386 index lags its amd64 one, apt finds
/// no consistent set and refuses. Then each library apt names is pinned, on
/// both architectures, to the newest version the i386 index has (which may
/// downgrade the amd64 copy within the same release), and apt tries again.
fn install_wine32_with_aligned_versions() -> Result {
    const ROUNDS: usize = 15;
    let mut pins: Vec<(String, String)> = Vec::new();
    for _ in 0..ROUNDS {
        let mut args: Vec<String> =
            ["install", "-y", "-q", "--no-install-recommends", "--allow-downgrades", "wine", "wine32:i386"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for (package, version) in &pins {
            args.push(format!("{package}={version}"));
            args.push(format!("{package}:i386={version}"));
        }
        let (ok, text) = output_all(root_command("apt-get").args(&args).env("DEBIAN_FRONTEND", "noninteractive"));
        if ok {
            let aligned: Vec<&str> = pins.iter().map(|(p, _)| p.as_str()).collect();
            println!(
                "setup: Wine installed; versions aligned for: {}",
                if aligned.is_empty() { "none".into() } else { aligned.join(", ") }
            );
            return Ok(());
        }
        let mut added = false;
        for package in unmet_dependencies(&text) {
            if pins.iter().any(|(p, _)| *p == package) {
                continue;
            }
            if let Some(version) = version_on_both_architectures(&package) {
                println!("setup: aligning {package} on amd64 and i386 at {version}");
                pins.push((package, version));
                added = true;
            }
        }
        if !added {
            return Err(format!("apt found no consistent set of packages for wine32:\n{}", tail(&text, 25)));
        }
    }
    Err(format!("wine32 still not installable after {ROUNDS} rounds of version alignment"))
}

/// Package names from apt's "Depends: name (...)" complaints.
fn unmet_dependencies(apt_output: &str) -> Vec<String> {
    let mut names: Vec<String> = apt_output
        .split("Depends: ")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| c.is_whitespace() || c == '(').next())
        .map(|name| name.trim_end_matches(":i386").to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The newest i386 version of `package`, if amd64 has the same version too.
fn version_on_both_architectures(package: &str) -> Option<String> {
    let i386 = output("apt-cache", &["madison", &format!("{package}:i386")])?;
    let version = i386.lines().next()?.split('|').nth(1)?.trim().to_owned();
    let amd64 = output("apt-cache", &["madison", package])?;
    amd64.lines().any(|l| l.split('|').nth(1).map(str::trim) == Some(version.as_str())).then_some(version)
}

/// Creates the Wine prefix under `target/` and builds the bcryptprimitives shim
/// (both done by the target runner, which every Wine run goes through).
fn wine_prefix() -> Result {
    cmd(&run::root().join("xtask/wine-runner.sh").to_string_lossy(), &["--prepare"])
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

fn apt_update() -> Result {
    if APT_UPDATED.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    // A lagging index makes `apt-get update` fail while the other lists are fine.
    if cmd_with(root_command("apt-get").args(["update", "-q"])).is_err() {
        println!("setup: apt-get update reported errors; going on with the lists it got");
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result {
    cmd_with(
        root_command("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn as_root(program: &str, args: &[&str]) -> Result {
    cmd_with(root_command(program).args(args))
}

/// The command itself when running as root, else through `sudo -n`.
fn root_command(program: &str) -> Command {
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if is_root {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.args(["-n", program]);
        command
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_dependencies_are_read_from_apt_output() {
        let text = "The following packages have unmet dependencies:\n \
            wine32:i386 : Depends: libwine:i386 (= 8.0~repack-4) but it is not going to be installed\n \
            libgnutls30:i386 : PreDepends: libp11-kit0:i386 (>= 0.23.18.1) but it is not going to be installed\n \
            libx:i386 : Depends: libwine:i386 (= 8.0~repack-4)\n";
        assert_eq!(unmet_dependencies(text), vec!["libp11-kit0".to_owned(), "libwine".to_owned()]);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
