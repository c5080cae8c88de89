//! Real i686 PE files built with MinGW-w64, mapped to image layout, read and
//! checked against `objdump -p` and the linker's symbols.
//!
//! Needs `i686-w64-mingw32-gcc`, `-dlltool`, `-objdump` and `-nm` (Debian:
//! `gcc-mingw-w64-i686`); without them these tests fail, saying so. They run
//! on the build machine: a Windows test binary has no cross toolchain to call.
#![cfg(not(windows))]

use std::path::{Path, PathBuf};
use std::process::Command;

use pe_imports::{Image, Symbol, View};

const GCC: &str = "i686-w64-mingw32-gcc";
const DLLTOOL: &str = "i686-w64-mingw32-dlltool";
const OBJDUMP: &str = "i686-w64-mingw32-objdump";
const NM: &str = "i686-w64-mingw32-nm";

fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e}): install MinGW-w64 for i686 (Debian: gcc-mingw-w64-i686)")
    });
    assert!(
        out.status.success(),
        "`{tool} {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

/// A fresh directory holding `files`.
fn workdir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pe-imports-mingw").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A PE file laid out as the loader maps it: the headers, then each section's
/// raw data at its virtual address, zero-filled up to `SizeOfImage`.
fn map_image(file: &[u8]) -> Vec<u8> {
    let nt = u32_at(file, 0x3c) as usize;
    assert_eq!(&file[nt..nt + 4], b"PE\0\0");
    let sections = u16_at(file, nt + 6) as usize;
    let opt = nt + 24;
    let size_of_image = u32_at(file, opt + 56) as usize;
    let size_of_headers = u32_at(file, opt + 60) as usize;
    let mut image = vec![0u8; size_of_image];
    image[..size_of_headers].copy_from_slice(&file[..size_of_headers]);
    let table = opt + u16_at(file, nt + 20) as usize;
    for i in 0..sections {
        let s = table + 40 * i;
        let virtual_size = u32_at(file, s + 8) as usize;
        let va = u32_at(file, s + 12) as usize;
        let raw_size = u32_at(file, s + 16) as usize;
        let raw = u32_at(file, s + 20) as usize;
        let len = if virtual_size == 0 { raw_size } else { raw_size.min(virtual_size) };
        image[va..va + len].copy_from_slice(&file[raw..raw + len]);
    }
    image
}

/// One DLL of `objdump -p`'s import tables.
#[derive(Debug)]
struct DumpedDll {
    name: String,
    lookup: u32,
    iat: u32,
    /// (value column, hint or ordinal, name; `None` for ordinals)
    entries: Vec<(u32, u16, Option<String>)>,
}

fn objdump_imports(dir: &Path, file: &str) -> (u64, Vec<DumpedDll>) {
    let text = run(OBJDUMP, &["-p", file], dir);
    let image_base = text
        .lines()
        .find_map(|l| l.strip_prefix("ImageBase\t\t"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .expect("objdump prints ImageBase");
    let mut dlls = Vec::new();
    let mut lines = text.lines().skip_while(|l| !l.starts_with("The Import Tables")).peekable();
    let mut row: Option<(u32, u32)> = None;
    while let Some(line) = lines.next() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with(' ') && fields.len() == 6 && fields.iter().all(|f| u32::from_str_radix(f, 16).is_ok()) {
            let hex = |i: usize| u32::from_str_radix(fields[i], 16).unwrap();
            row = Some((hex(1), hex(5)));
        } else if let Some(name) = line.trim().strip_prefix("DLL Name: ") {
            let (lookup, iat) = row.take().expect("descriptor row before its DLL name");
            let mut dll = DumpedDll { name: name.to_string(), lookup, iat, entries: Vec::new() };
            assert!(lines.next().unwrap().contains("Hint/Ord"));
            while let Some(entry) = lines.next_if(|l| l.starts_with('\t') && !l.trim().is_empty()) {
                let f: Vec<&str> = entry.split_whitespace().collect();
                let value = u32::from_str_radix(f[0], 16).unwrap();
                let hint: u16 = f[1].parse().unwrap();
                let name = (f[2] != "<none>").then(|| f[2].to_string());
                dll.entries.push((value, hint, name));
            }
            dlls.push(dll);
        } else if line.starts_with("There is an export table") || line.starts_with("The Export Tables") {
            break;
        }
    }
    (image_base, dlls)
}

/// Reads the image's imports and checks them against `objdump -p`, entry by
/// entry; returns (DLL, import names) for further checks.
fn check_against_objdump(dir: &Path, file: &str) -> Vec<(String, Vec<String>)> {
    let bytes = map_image(&std::fs::read(dir.join(file)).unwrap());
    let (image_base, dumped) = objdump_imports(dir, file);
    assert!(!dumped.is_empty(), "objdump lists no imports of {file}");
    let image = Image::new(View::from_bytes(&bytes)).unwrap();
    assert_eq!(image.image_base(), image_base);
    let dlls: Vec<_> = image.imports().collect::<Result<_, _>>().unwrap();
    assert_eq!(dlls.len(), dumped.len());
    let mut summary = Vec::new();
    for (dll, dump) in dlls.iter().zip(&dumped) {
        assert_eq!(dll.name(), dump.name.as_str());
        assert_eq!(dll.lookup_rva(), Some(dump.lookup));
        assert_eq!(dll.iat_rva(), dump.iat);
        let entries: Vec<_> = dll.entries().collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), dump.entries.len(), "{}", dump.name);
        let mut names = Vec::new();
        for (i, (entry, (value, hint, name))) in entries.iter().zip(&dump.entries).enumerate() {
            assert_eq!(entry.iat_rva, dump.iat + 4 * i as u32);
            // Not bound: the slot holds a copy of the name-table entry, which
            // objdump prints in its first column.
            assert_eq!(entry.slot_value, u64::from(*value));
            match (&entry.symbol, name) {
                (Symbol::Name { hint: h, name: n }, Some(name)) => {
                    assert_eq!((h, n.as_bytes()), (hint, name.as_bytes()));
                    names.push(name.clone());
                }
                (Symbol::Ordinal(o), None) => {
                    assert_eq!(o, hint);
                    names.push(format!("#{o}"));
                }
                (symbol, name) => panic!("{symbol:?} but objdump says {name:?}"),
            }
        }
        summary.push((dump.name.clone(), names));
    }
    summary
}

fn imports_of<'s>(summary: &'s [(String, Vec<String>)], dll: &str) -> &'s [String] {
    &summary.iter().find(|(d, _)| d.eq_ignore_ascii_case(dll)).unwrap_or_else(|| panic!("no {dll}: {summary:?}")).1
}

const HEAP_USER: &str = r#"
#include <stdlib.h>
__declspec(dllexport) void *f(size_t n) { void *p = malloc(n); p = realloc(p, 2 * n); free(p); return calloc(1, n); }
"#;

#[test]
fn msvcrt_dll() {
    let dir = workdir("msvcrt", &[("a.c", HEAP_USER)]);
    run(GCC, &["-shared", "-O1", "-o", "a.dll", "a.c"], &dir);
    let summary = check_against_objdump(&dir, "a.dll");
    let crt = imports_of(&summary, "msvcrt.dll");
    for f in ["malloc", "free", "realloc", "calloc"] {
        assert!(crt.iter().any(|n| n == f), "{f} not in {crt:?}");
    }
}

#[test]
fn ucrt_dll() {
    let ucrt = run(GCC, &["-print-file-name=libucrt.a"], Path::new("."));
    assert!(Path::new(ucrt.trim()).is_file(), "this MinGW-w64 has no libucrt.a ({})", ucrt.trim());
    let main = "#include <windows.h>\nBOOL WINAPI DllMain(HINSTANCE h, DWORD r, LPVOID p) { return TRUE; }\n";
    let dir = workdir("ucrt", &[("a.c", HEAP_USER), ("main.c", main)]);
    // Linked against the UCRT alone, without MinGW's msvcrt start-up code (GCC
    // before 13 has no -mcrtdll=ucrt).
    run(
        GCC,
        &["-shared", "-O1", "-nostdlib", "-Wl,-e,_DllMain@12", "-o", "a.dll", "a.c", "main.c", "-lucrt", "-lkernel32"],
        &dir,
    );
    let summary = check_against_objdump(&dir, "a.dll");
    let heap = imports_of(&summary, "api-ms-win-crt-heap-l1-1-0.dll");
    let mut sorted = heap.to_vec();
    sorted.sort();
    assert_eq!(sorted, ["calloc", "free", "malloc", "realloc"]);
    assert!(summary.iter().all(|(d, _)| !d.eq_ignore_ascii_case("msvcrt.dll")));
}

#[test]
fn imports_by_ordinal() {
    let def = "LIBRARY ord.dll\nEXPORTS\nord_fn @7 NONAME\nord_named @9\n";
    let c = "__declspec(dllimport) int ord_fn(int);\n__declspec(dllimport) int ord_named(int);\n\
             __declspec(dllexport) int g(int n) { return ord_fn(n) + ord_named(n); }\n";
    let dir = workdir("ordinal", &[("ord.def", def), ("a.c", c)]);
    run(DLLTOOL, &["-d", "ord.def", "-l", "libord.a"], &dir);
    run(GCC, &["-shared", "-o", "a.dll", "a.c", "libord.a"], &dir);
    let summary = check_against_objdump(&dir, "a.dll");
    assert_eq!(imports_of(&summary, "ord.dll"), ["#7", "ord_named"]);
}

/// The address of each symbol `nm` lists.
fn symbols(dir: &Path, file: &str) -> Vec<(u64, String)> {
    run(NM, &[file], dir)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let address = u64::from_str_radix(f.next()?, 16).ok()?;
            let _kind = f.next()?;
            Some((address, f.next()?.to_string()))
        })
        .collect()
}

#[test]
fn delay_loaded_dll() {
    let def = "LIBRARY dep.dll\nEXPORTS\ndep_fn\ndep_other\n";
    // Declared without `dllimport`, so that the calls go through the stubs
    // (`_dep_fn`: `jmp *__imp__dep_fn`). GNU ld drops the `.text` of an import
    // library member nothing references, and the initial value of a delay-load
    // slot is an address in that `.text`: with `dllimport` the slots would hold 0.
    let c = "#include <stdlib.h>\nint dep_fn(int);\nint dep_other(int);\n\
             __declspec(dllexport) int f(int n) { void *p = malloc(n); free(p); return dep_fn(n) + dep_other(n); }\n";
    let dir = workdir("delay", &[("dep.def", def), ("a.c", c)]);
    run(DLLTOOL, &["-d", "dep.def", "--output-delaylib", "libdep.a"], &dir);
    run(GCC, &["-shared", "-o", "a.dll", "a.c", "libdep.a"], &dir);

    // The regular imports do not list the delay-loaded DLL.
    let summary = check_against_objdump(&dir, "a.dll");
    assert!(summary.iter().all(|(d, _)| d != "dep.dll"), "{summary:?}");

    let mut bytes = map_image(&std::fs::read(dir.join("a.dll")).unwrap());
    let image = Image::new(View::from_bytes(&bytes)).unwrap();
    let base = image.image_base();
    let syms = symbols(&dir, "a.dll");
    let rva_of = |name: &str| {
        let va = syms.iter().find(|(_, n)| n == name).unwrap_or_else(|| panic!("nm lists no {name}")).0;
        u32::try_from(va - base).unwrap()
    };
    let descriptor = syms
        .iter()
        .find(|(_, n)| n.starts_with("__DELAY_IMPORT_DESCRIPTOR_"))
        .map(|(va, _)| u32::try_from(va - base).unwrap())
        .expect("nm lists the delay-load descriptor");
    // GNU ld leaves the delay-load data directory empty, and puts the
    // descriptor the import library brought in (in `.text$2`) right before
    // other code, with no zero descriptor after it. Build the table the MSVC
    // linker would: a copy of that descriptor and a zero one, appended to the
    // image (growing `SizeOfImage`), and point the directory at it.
    let descriptor = match image.delay_import_directory() {
        Some(dir) => {
            assert_eq!(dir.rva, descriptor);
            descriptor
        }
        None => {
            let table = u32::try_from(bytes.len()).unwrap();
            let copy = bytes[descriptor as usize..descriptor as usize + 32].to_vec();
            bytes.extend_from_slice(&copy);
            bytes.extend_from_slice(&[0; 32]);
            let nt = u32_at(&bytes, 0x3c) as usize;
            let size_of_image = u32::try_from(bytes.len()).unwrap();
            bytes[nt + 24 + 56..nt + 24 + 60].copy_from_slice(&size_of_image.to_le_bytes());
            let entry = nt + 24 + 96 + 13 * 8;
            bytes[entry..entry + 4].copy_from_slice(&table.to_le_bytes());
            bytes[entry + 4..entry + 8].copy_from_slice(&64u32.to_le_bytes());
            table
        }
    };

    let image = Image::new(View::from_bytes(&bytes)).unwrap();
    let dlls: Vec<_> = image.delay_imports().collect::<Result<_, _>>().unwrap();
    assert_eq!(dlls.len(), 1);
    let dep = &dlls[0];
    assert_eq!(dep.name(), b"dep.dll");
    assert_eq!(dep.descriptor_rva(), descriptor);
    let entries: Vec<_> = dep.entries().collect::<Result<_, _>>().unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.symbol.name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["dep_fn", "dep_other"]);
    assert_eq!(entries[0].iat_rva, rva_of("__imp__dep_fn"));
    assert_eq!(entries[1].iat_rva, rva_of("__imp__dep_other"));
    for (e, stub) in entries.iter().zip(["_dep_fn", "_dep_other"]) {
        // Unbound: each slot points into its stub (`jmp *slot` is 6 bytes, then
        // `mov $slot, %eax; jmp ___tailMerge_libdep_a`).
        assert_eq!(e.slot_value, base + u64::from(rva_of(stub)) + 6, "{e:?}");
        assert!(image.contains_address(e.slot_value), "{e:?}");
        assert!(!e.bound);
    }

    // Bind the first slot as the delay-load helper would.
    let slot = entries[0].iat_rva as usize;
    bytes[slot..slot + 4].copy_from_slice(&0x7654_3210u32.to_le_bytes());
    let image = Image::new(View::from_bytes(&bytes)).unwrap();
    let entries: Vec<_> = image.delay_imports().next().unwrap().unwrap().entries().map(Result::unwrap).collect();
    assert_eq!((entries[0].slot_value, entries[0].bound), (0x7654_3210, true));
    assert!(!entries[1].bound);
}
