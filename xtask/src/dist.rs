//! `cargo xtask dist`: the package a player installs.
//!
//! ```text
//! target/dist/NVSE/Plugins/MemoryPoolNVSE.dll
//! target/dist/NVSE/Plugins/MemoryPoolNVSE.ini
//! target/dist/NVSE/Plugins/MemoryPoolNVSE.h    (the C API, for mod authors)
//! target/dist/NVSE/Plugins/MemoryPoolNVSE-README.txt  (for players: install, the log, switching off)
//! target/dist/MemoryPoolNVSE-<version>.zip     (NVSE/ at its root, as mod managers install into Data)
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::run::{self, cmd, step, Result, WINDOWS_TARGET};
use crate::setup;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const DLL: &str = "MemoryPoolNVSE.dll";
const INI: &str = "MemoryPoolNVSE.ini";
const HEADER: &str = "MemoryPoolNVSE.h";
const README: &str = "MemoryPoolNVSE-README.txt";

/// Where the packaged files go.
pub fn dist_dir() -> PathBuf {
    run::target_dir().join("dist")
}

/// The packaged DLL.
pub fn dist_dll() -> PathBuf {
    dist_dir().join("NVSE").join("Plugins").join(DLL)
}

pub fn run() -> Result {
    step("setup (build)", setup::for_build)?;
    step("build MemoryPoolNVSE.dll (release, i686-pc-windows-gnu)", build)?;
    step("package target/dist", package)
}

fn build() -> Result {
    cmd("cargo", &["build", "--release", "--locked", "--target", WINDOWS_TARGET, "-p", "plugin"])
}

fn package() -> Result {
    let built = run::target_dir().join(WINDOWS_TARGET).join("release").join(DLL);
    let plugins = dist_dll().parent().expect("the DLL has a folder").to_path_buf();
    fs::create_dir_all(&plugins).map_err(|e| format!("cannot create {}: {e}", plugins.display()))?;
    copy(&built, &plugins.join(DLL))?;
    copy(&run::root().join("crates/plugin").join(INI), &plugins.join(INI))?;
    copy(&run::root().join("crates/plugin/include").join(HEADER), &plugins.join(HEADER))?;
    copy(&run::root().join("crates/plugin").join(README), &plugins.join(README))?;

    let zip_path = dist_dir().join(format!("MemoryPoolNVSE-{VERSION}.zip"));
    let entries: Vec<(String, PathBuf)> =
        [DLL, INI, HEADER, README].iter().map(|file| (format!("NVSE/Plugins/{file}"), plugins.join(file))).collect();
    write_zip(&zip_path, &entries)?;
    let size = fs::metadata(plugins.join(DLL)).map(|m| m.len()).unwrap_or(0);
    println!("dist: {} ({size} bytes)", plugins.join(DLL).display());
    println!("dist: {}", plugins.join(INI).display());
    println!("dist: {}", plugins.join(HEADER).display());
    println!("dist: {}", plugins.join(README).display());
    println!("dist: {}", zip_path.display());
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result {
    fs::copy(from, to).map(drop).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn write_zip(path: &Path, entries: &[(String, PathBuf)]) -> Result {
    let file = fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, source) in entries {
        let bytes = fs::read(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        zip.start_file(name.as_str(), options).map_err(|e| format!("zip {name}: {e}"))?;
        zip.write_all(&bytes).map_err(|e| format!("zip {name}: {e}"))?;
    }
    zip.finish().map_err(|e| format!("zip {}: {e}", path.display()))?;
    Ok(())
}
