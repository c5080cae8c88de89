//! The packaged DLL as a file: what NVSE and Windows require of it.

use object::pe::{IMAGE_FILE_MACHINE_I386, IMAGE_NT_OPTIONAL_HDR32_MAGIC};
use object::read::pe::{ImageNtHeaders, PeFile32};
use object::LittleEndian as LE;

fn read_dll() -> Vec<u8> {
    let artifacts = e2e::Artifacts::from_env();
    std::fs::read(&artifacts.dll).expect("read the packaged DLL")
}

#[test]
fn it_is_a_pe32_dll_for_i386() {
    let bytes = read_dll();
    let pe = PeFile32::parse(&*bytes).expect("a PE32 image");
    let nt = pe.nt_headers();
    assert_eq!(nt.file_header().machine.get(LE), IMAGE_FILE_MACHINE_I386);
    assert_eq!(nt.optional_header().magic.get(LE), IMAGE_NT_OPTIONAL_HDR32_MAGIC);
    assert_ne!(nt.file_header().characteristics.get(LE) & object::pe::IMAGE_FILE_DLL, 0, "not flagged as a DLL");
}

fn export_names() -> Vec<String> {
    let bytes = read_dll();
    let pe = PeFile32::parse(&*bytes).expect("a PE32 image");
    object::Object::exports(&pe)
        .expect("export table")
        .iter()
        .map(|export| String::from_utf8_lossy(export.name()).into_owned())
        .collect()
}

/// The functions `MemoryPoolNVSE.h` declares.
const C_API: [&str; 4] =
    ["MemoryPoolNVSE_GetVersion", "MemoryPoolNVSE_GetBackend", "MemoryPoolNVSE_GetStats", "MemoryPoolNVSE_IsOwned"];

#[test]
fn it_exports_nvses_three_functions_undecorated_and_few_names() {
    let names = export_names();
    for wanted in ["NVSEPlugin_Query", "NVSEPlugin_Load", "NVSEPlugin_Preload"].iter().chain(&C_API) {
        assert!(names.iter().any(|n| n == wanted), "{wanted} missing from {names:?}");
    }
    assert!(names.iter().all(|n| !n.starts_with('_') && !n.contains('@')), "decorated export names: {names:?}");
    // NVSE skips a DLL with more than 50 named exports.
    assert!(names.len() < nvse_abi::exports::MAX_NAMED_EXPORTS, "{} named exports: {names:?}", names.len());
}

#[test]
fn the_header_declares_exactly_the_c_api_the_dll_exports() {
    let header = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/include/MemoryPoolNVSE.h");
    let header = std::fs::read_to_string(&header).expect("read MemoryPoolNVSE.h");
    // Declarations: `<type> MEMORYPOOLNVSE_CALL MemoryPoolNVSE_<name>(`.
    let declared: Vec<&str> = header
        .lines()
        .filter_map(|line| line.split_once("MEMORYPOOLNVSE_CALL ")?.1.split_once('(').map(|(name, _)| name))
        .filter(|name| name.starts_with("MemoryPoolNVSE_"))
        .collect();
    assert_eq!(declared, C_API, "the header's declarations");
    let exported: Vec<String> = export_names().into_iter().filter(|n| n.starts_with("MemoryPoolNVSE_")).collect();
    let mut sorted = C_API.map(String::from).to_vec();
    sorted.sort();
    let mut exported_sorted = exported.clone();
    exported_sorted.sort();
    assert_eq!(exported_sorted, sorted, "the DLL's MemoryPoolNVSE_ exports");
    // LoadApi looks each of them up by name.
    for name in C_API {
        assert!(header.contains(&format!("MemoryPoolNVSE_Lookup(\"{name}\")")), "MemoryPoolNVSE_LoadApi misses {name}");
    }
}

#[test]
fn it_imports_only_windows_system_dlls() {
    // Everything a player's Windows 10 or 11 has in System32/SysWOW64; in
    // particular no MinGW runtime (libgcc_s_*.dll, libwinpthread-1.dll).
    const SYSTEM: &[&str] = &[
        "kernel32.dll",
        "ntdll.dll",
        "advapi32.dll",
        "msvcrt.dll",
        "user32.dll",
        "userenv.dll",
        "ws2_32.dll",
        "bcryptprimitives.dll",
        "shell32.dll",
        "ole32.dll",
        "dbghelp.dll",
        "psapi.dll",
    ];
    let bytes = read_dll();
    let pe = PeFile32::parse(&*bytes).expect("a PE32 image");
    let imports = pe.import_table().expect("import table").expect("the DLL imports something");
    let mut descriptors = imports.descriptors().expect("import descriptors");
    let mut dlls = Vec::new();
    while let Some(descriptor) = descriptors.next().expect("import descriptor") {
        let name = imports.name(descriptor.name.get(LE)).expect("import name");
        dlls.push(String::from_utf8_lossy(name).to_ascii_lowercase());
    }
    assert!(dlls.iter().any(|d| d == "kernel32.dll"), "{dlls:?}");
    for dll in &dlls {
        let system = SYSTEM.contains(&dll.as_str()) || dll.starts_with("api-ms-win-");
        assert!(system, "{dll} is not a Windows system DLL (all imports: {dlls:?})");
    }
}
