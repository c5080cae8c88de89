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

#[test]
fn the_c_api_header_is_shipped_beside_the_dll_and_in_the_zip() {
    let header = source("include/MemoryPoolNVSE.h");
    let beside = std::fs::read(plugins_dir().join("MemoryPoolNVSE.h")).expect("MemoryPoolNVSE.h beside the DLL");
    assert_eq!(beside, header, "the packaged header is not the source's");

    let file = std::fs::File::open(zip_path()).expect("the package's zip");
    let mut zip = zip::ZipArchive::new(file).expect("a zip archive");
    let mut names: Vec<String> = zip.file_names().map(|name| name.expect("an entry name").into_owned()).collect();
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
    let mut zipped = Vec::new();
    zip.by_name("NVSE/Plugins/MemoryPoolNVSE.h").expect("the header").read_to_end(&mut zipped).expect("unzip");
    assert_eq!(zipped, header, "the zipped header is not the source's");
}

#[test]
fn the_players_readme_is_shipped_beside_the_dll_and_in_the_zip() {
    let readme = source("MemoryPoolNVSE-README.txt");
    let beside = std::fs::read(plugins_dir().join("MemoryPoolNVSE-README.txt")).expect("the README beside the DLL");
    assert_eq!(beside, readme, "the packaged README is not the source's");
    let file = std::fs::File::open(zip_path()).expect("the package's zip");
    let mut zip = zip::ZipArchive::new(file).expect("a zip archive");
    let mut zipped = Vec::new();
    zip.by_name("NVSE/Plugins/MemoryPoolNVSE-README.txt").expect("the README").read_to_end(&mut zipped).expect("unzip");
    assert_eq!(zipped, readme, "the zipped README is not the source's");
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
