//! What `cargo xtask dist` packages beside the DLL: the shipped files, and the
//! zip a mod manager installs, which holds the same files under
//! `NVSE/Plugins/`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// `target/dist/NVSE/Plugins`, where the packaged DLL is.
fn plugins_dir() -> PathBuf {
    e2e::Artifacts::from_env().dll.parent().expect("the DLL's folder").to_path_buf()
}

/// `target/dist/MemoryPoolNVSE-<version>.zip`.
fn zip_path() -> PathBuf {
    let dist = plugins_dir().join("../..");
    dist.join(format!("MemoryPoolNVSE-{}.zip", env!("CARGO_PKG_VERSION")))
}

fn source(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin").join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Opens the package's zip.
fn package_zip() -> zip::ZipArchive<std::fs::File> {
    let file = std::fs::File::open(zip_path()).expect("the package's zip");
    zip::ZipArchive::new(file).expect("a zip archive")
}

/// Checks that the source file `path` (under `crates/plugin`) is packaged as
/// `name` beside the DLL and in the zip, byte for byte; returns it.
fn assert_shipped(path: &str, name: &str) -> Vec<u8> {
    let source = source(path);
    let beside = std::fs::read(plugins_dir().join(name)).unwrap_or_else(|e| panic!("{name} beside the DLL: {e}"));
    assert_eq!(beside, source, "the packaged {name} is not the source's");
    let mut zipped = Vec::new();
    let entry = format!("NVSE/Plugins/{name}");
    package_zip().by_name(&entry).unwrap_or_else(|e| panic!("{entry}: {e}")).read_to_end(&mut zipped).expect("unzip");
    assert_eq!(zipped, source, "the zipped {name} is not the source's");
    source
}

#[test]
fn the_zip_holds_the_plugins_folder_and_nothing_else() {
    let mut names: Vec<String> =
        package_zip().file_names().map(|name| name.expect("an entry name").into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "NVSE/Plugins/MemoryPoolNVSE-README.txt",
            "NVSE/Plugins/MemoryPoolNVSE.dll",
            "NVSE/Plugins/MemoryPoolNVSE.h",
            "NVSE/Plugins/MemoryPoolNVSE.ini"
        ]
    );
}

#[test]
fn the_c_api_header_is_shipped_beside_the_dll_and_in_the_zip() {
    assert_shipped("include/MemoryPoolNVSE.h", "MemoryPoolNVSE.h");
}

#[test]
fn the_players_readme_is_shipped_beside_the_dll_and_in_the_zip() {
    let readme = assert_shipped("MemoryPoolNVSE-README.txt", "MemoryPoolNVSE-README.txt");
    // What a player needs from it, and every INI key it names is a real one.
    let text = String::from_utf8(readme).expect("UTF-8");
    for needed in ["Installing", "What the log says", "Switching it off", "Reporting a problem", "Enabled = 0"] {
        assert!(text.contains(needed), "the README lacks {needed:?}");
    }
    let ini = String::from_utf8(source("MemoryPoolNVSE.ini")).expect("UTF-8");
    for key in ["LogIntervalSeconds", "CsvIntervalSeconds", "LeakTracking", "GuardPages", "ImportHooks"] {
        assert!(text.contains(key) && ini.contains(&format!("{key} =")), "{key}: named in the README and the INI");
    }
}
