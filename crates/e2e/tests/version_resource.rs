//! The packaged DLL's version resource (`VERSIONINFO`), read back with a PE
//! reader as Windows' file properties, mod managers and crash loggers read
//! it: the package's version, which the DLL also reports to NVSE.

use e2e::Game;
use pelite::pe32::{Pe, PeFile};
use pelite::resources::version_info::VersionInfo;

/// Cargo.toml's version: every crate of the workspace, the plugin's
/// included, takes `[workspace.package] version`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version's three numbers.
fn version_parts() -> [u16; 3] {
    let parts: Vec<u16> = VERSION.split('.').map(|p| p.parse().expect("a numeric version")).collect();
    [parts[0], parts[1], parts[2]]
}

fn with_version_info<R>(check: impl FnOnce(VersionInfo) -> R) -> R {
    let artifacts = e2e::Artifacts::from_env();
    let bytes = std::fs::read(&artifacts.dll).expect("read the packaged DLL");
    let file = PeFile::from_bytes(&bytes).expect("a PE32 image");
    let resources = file.resources().expect("the DLL has a resource section");
    let info = resources.version_info().expect("the resources hold a VERSIONINFO");
    check(info)
}

#[test]
fn file_and_product_version_are_the_packages() {
    let [major, minor, patch] = version_parts();
    with_version_info(|info| {
        let fixed = info.fixed().expect("VS_FIXEDFILEINFO");
        assert_eq!(fixed.dwSignature, 0xFEEF_04BD);
        for (what, version) in [("file", fixed.dwFileVersion), ("product", fixed.dwProductVersion)] {
            let found = (version.Major, version.Minor, version.Patch, version.Build);
            assert_eq!(found, (major, minor, patch, 0), "{what} version");
        }
        // VFT_DLL, for Windows NT.
        assert_eq!(fixed.dwFileType, 2);
        assert_eq!(fixed.dwFileOS, 0x0004_0004);
    });
}

#[test]
fn the_strings_name_the_plugin_its_version_and_licence() {
    with_version_info(|info| {
        let languages = info.translation();
        assert_eq!(languages.len(), 1, "one language: {languages:?}");
        let value = |key: &str| info.value(languages[0], key).unwrap_or_else(|| panic!("no {key} string"));
        assert_eq!(value("ProductName"), "MemoryPoolNVSE");
        assert_eq!(value("OriginalFilename"), "MemoryPoolNVSE.dll");
        assert_eq!(value("InternalName"), "MemoryPoolNVSE");
        assert_eq!(value("FileVersion"), VERSION);
        assert_eq!(value("ProductVersion"), VERSION);
        assert!(value("FileDescription").contains("rpmalloc"), "{}", value("FileDescription"));
        assert!(value("LegalCopyright").contains("MIT"), "{}", value("LegalCopyright"));
    });
}

#[test]
fn nvse_is_told_the_same_version() {
    let [major, minor, patch] = version_parts();
    let packed = u32::from(major) * 10_000 + u32::from(minor) * 100 + u32::from(patch);
    let game = Game::new("version_resource");
    let run = game.run(&["session"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(&format!(
        "nvse-host: query MemoryPoolNVSE.dll -> true (name \"MemoryPoolNVSE\", version {packed}, infoVersion 1)"
    ));
    run.log_message(&format!("MemoryPoolNVSE {VERSION} (plugin version {packed};"));
}
