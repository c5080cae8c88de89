//! Test DLLs that allocate through their C runtime's imports
//! (`crates/e2e/fixtures/crt_client.c`): loading them before or after the
//! plugins, damaging one's import directory or hooking its `free` import,
//! churning their allocations from other threads, and checking afterwards
//! that every kind of block goes where the plugin's hooks should send it.
//!
//! Each check prints one line, `nvse-host: <module>: <check> <fact>=<value>...`,
//! and each module ends with `nvse-host: <module>: ok` or
//! `nvse-host: <module>: FAILED <check> <fact>, ...`. Whether a block is the
//! plugin's comes from its export `MemoryPoolNVSE_IsOwned`; without that export
//! the facts read `owned=?` and are not held against anyone.

use std::ffi::{c_void, CString};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::HMODULE;

use crate::checks::{fill, has_pattern, holds, is_zeroed, size_fact, Checks, Fact};
use windows_sys::Win32::System::Diagnostics::Debug::{
    IMAGE_DATA_DIRECTORY, IMAGE_DIRECTORY_ENTRY_IMPORT, IMAGE_NT_HEADERS32, IMAGE_NT_OPTIONAL_HDR32_MAGIC,
};
use windows_sys::Win32::System::LibraryLoader::GetProcAddress;
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_READWRITE};
use windows_sys::Win32::System::SystemServices::{IMAGE_DOS_HEADER, IMAGE_DOS_SIGNATURE, IMAGE_NT_SIGNATURE};

use crate::faults;
use crate::plugins::{self, Library};
use crate::{file_name_of, free_hook, Bug, Fixtures};

/// The plugin's answer to "did your heap allocate this block?".
pub const IS_OWNED_EXPORT: &str = "MemoryPoolNVSE_IsOwned";

/// Where `--corrupt-imports` points a fixture's import directory: far outside any image.
const BAD_IMPORT_DIRECTORY: IMAGE_DATA_DIRECTORY = IMAGE_DATA_DIRECTORY { VirtualAddress: 0x7FFF_FFF0, Size: 0x100 };

/// Rounds of allocation per `fx_churn` call of a churn thread.
const CHURN_ROUNDS: u32 = 500;

pub type IsOwnedFn = unsafe extern "C" fn(*const c_void) -> bool;
type ChurnFn = unsafe extern "C" fn(u32, u32) -> u32;

/// The fixture's exports (`crt_client.c`), each calling the C runtime through
/// the fixture's own import table.
#[derive(Clone, Copy)]
struct Api {
    malloc: unsafe extern "C" fn(usize) -> *mut u8,
    calloc: unsafe extern "C" fn(usize, usize) -> *mut u8,
    realloc: unsafe extern "C" fn(*mut u8, usize) -> *mut u8,
    free: unsafe extern "C" fn(*mut u8),
    msize: unsafe extern "C" fn(*mut u8) -> usize,
    expand: unsafe extern "C" fn(*mut u8, usize) -> *mut u8,
    aligned_malloc: unsafe extern "C" fn(usize, usize) -> *mut u8,
    aligned_realloc: unsafe extern "C" fn(*mut u8, usize, usize) -> *mut u8,
    aligned_free: unsafe extern "C" fn(*mut u8),
    /// Only where the C runtime has `_recalloc` (not msvcrt.dll).
    recalloc: Option<unsafe extern "C" fn(*mut u8, usize, usize) -> *mut u8>,
    early_block: unsafe extern "C" fn() -> *mut u8,
    early_zeroed: unsafe extern "C" fn() -> *mut u8,
    early_aligned: unsafe extern "C" fn() -> *mut u8,
    early_size: unsafe extern "C" fn() -> usize,
    early_aligned_size: unsafe extern "C" fn() -> usize,
    early_alignment: unsafe extern "C" fn() -> usize,
    early_intact: unsafe extern "C" fn() -> i32,
    churn: ChurnFn,
    leak: unsafe extern "C" fn(usize) -> i32,
    free_saved: unsafe extern "C" fn(*mut u8) -> i32,
    overrun: faults::BugFn,
    use_after_free: faults::BugFn,
}

/// An export of `module` as a function pointer of type `F`.
///
/// # Safety
/// `module` must be loaded, and `F` must be a function pointer type with the
/// export's real signature.
pub(crate) unsafe fn export<F: Copy>(module: HMODULE, name: &str) -> Option<F> {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    let name = CString::new(name).ok()?;
    // SAFETY: `module` is loaded (the caller's promise); `name` is NUL-terminated.
    let address = unsafe { GetProcAddress(module, name.as_ptr().cast()) }?;
    // SAFETY: `F` is a function pointer of the export's signature (the
    // caller's promise), as large as the address it is made from.
    Some(unsafe { std::mem::transmute_copy::<_, F>(&address) })
}

impl Api {
    /// # Safety
    /// `module` must be a loaded fixture built from `crt_client.c`, whose
    /// exports have the signatures of `Api`'s fields.
    unsafe fn resolve(module: HMODULE) -> Result<Api, String> {
        macro_rules! required {
            ($name:literal) => {
                // SAFETY: the caller's promise: this export has the field's signature.
                unsafe { export(module, $name) }.ok_or(concat!("no export ", $name))?
            };
        }
        Ok(Api {
            malloc: required!("fx_malloc"),
            calloc: required!("fx_calloc"),
            realloc: required!("fx_realloc"),
            free: required!("fx_free"),
            msize: required!("fx_msize"),
            expand: required!("fx_expand"),
            aligned_malloc: required!("fx_aligned_malloc"),
            aligned_realloc: required!("fx_aligned_realloc"),
            aligned_free: required!("fx_aligned_free"),
            // SAFETY: as above, when it is exported at all.
            recalloc: unsafe { export(module, "fx_recalloc") },
            early_block: required!("fx_early_block"),
            early_zeroed: required!("fx_early_zeroed"),
            early_aligned: required!("fx_early_aligned"),
            early_size: required!("fx_early_size"),
            early_aligned_size: required!("fx_early_aligned_size"),
            early_alignment: required!("fx_early_alignment"),
            early_intact: required!("fx_early_intact"),
            churn: required!("fx_churn"),
            leak: required!("fx_leak"),
            free_saved: required!("fx_free_saved"),
            overrun: required!("fx_overrun"),
            use_after_free: required!("fx_use_after_free"),
        })
    }
}

/// What the session does to an early fixture right after loading it, before
/// the plugins load, as other tools may have done in the game.
#[derive(Debug, Clone, Copy, Default)]
struct Tampering {
    /// Its import directory points outside the image: the plugin must leave it alone.
    corrupt_imports: bool,
    /// Its `free` import leads to another hook ([`free_hook`]): the plugin
    /// must leave its runtime's imports alone, all of them.
    hook_free: bool,
}

impl Tampering {
    /// Whether the plugin must leave the fixture's C runtime imports alone.
    fn leaves_it_alone(self) -> bool {
        self.corrupt_imports || self.hook_free
    }
}

/// A loaded fixture.
struct Fixture {
    name: String,
    /// Loaded before the plugins: the blocks its `DllMain` made are its C runtime's.
    early: bool,
    tampering: Tampering,
    api: Api,
}

/// The fixtures of a session, the churn threads, and the checks.
pub struct Harness {
    options: Fixtures,
    fixtures: Vec<Fixture>,
    /// Fixtures that could not be loaded or damaged: the session fails.
    broken: Vec<String>,
    churn: Churn,
}

impl Harness {
    pub fn new(options: &Fixtures) -> Harness {
        Harness { options: options.clone(), fixtures: Vec::new(), broken: Vec::new(), churn: Churn::default() }
    }

    /// Loads the `--fixture` DLLs (damaging the `--corrupt-imports` one and
    /// hooking the `--hook-free` one), then starts the churn threads. Call
    /// before plugin discovery.
    pub fn load_early(&mut self) {
        for path in self.options.early.clone() {
            let named = |option: &Option<String>| {
                option.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(file_name_of(&path)))
            };
            let tampering = Tampering {
                corrupt_imports: named(&self.options.corrupt_imports),
                hook_free: named(&self.options.hook_free),
            };
            self.load(&path, true, tampering);
        }
        self.churn = Churn::start(self.options.churn_threads, &self.fixtures);
    }

    /// Loads the `--late-fixture` DLLs; the churn threads pick them up.
    pub fn load_late(&mut self) {
        for path in self.options.late.clone() {
            self.load(&path, false, Tampering::default());
        }
    }

    fn load(&mut self, path: &str, early: bool, tampering: Tampering) {
        let name = file_name_of(path).to_owned();
        match load_fixture(path, tampering) {
            Ok((api, damage)) => {
                let when = if early { "before the plugins" } else { "after the load phase" };
                println!("nvse-host: fixture {name} loaded {when}{damage}");
                self.churn.add(api.churn);
                self.fixtures.push(Fixture { name, early, tampering, api });
            }
            Err(e) => {
                println!("nvse-host: {name}: FAILED to load ({e})");
                self.broken.push(name);
            }
        }
    }

    /// Checks every fixture (and the host, with `--check-host`), then stops
    /// the churn threads. `plugins` are the modules of the plugins that
    /// loaded. Returns whether everything passed; prints nothing when the
    /// session has no fixtures.
    pub fn check(&mut self, plugins: &[(String, HMODULE)]) -> bool {
        let mut ok = self.broken.is_empty();
        if !self.fixtures.is_empty() || self.options.check_host {
            let owner = Owner::find(plugins);
            // Without a TLS index the plugin's heap cannot start.
            let heap_runs = !self.options.exhaust_tls && !self.options.expect_no_heap;
            for fixture in &self.fixtures {
                let excluded = self.options.left_alone.iter().any(|name| name.eq_ignore_ascii_case(&fixture.name));
                ok &= check_fixture(fixture, &owner, heap_runs && !excluded);
            }
            if self.options.check_host {
                ok &= check_host(&owner);
            }
        }
        ok & std::mem::take(&mut self.churn).stop()
    }

    /// One frame's worth of allocation in every fixture.
    pub fn frame(&self, frame: u32) {
        for fixture in &self.fixtures {
            // SAFETY: fx_churn takes any round count and seed, and frees
            // everything it allocated before returning.
            unsafe { (fixture.api.churn)(CHURN_ROUNDS, frame) };
        }
    }

    /// Blocks made by fixture `giver` are sized, resized and freed by fixture
    /// `taker` through its own imports, and one through the runtime's `free`
    /// pointer `giver` saved when it loaded (`--cross`). Prints one check
    /// line; returns whether every block was usable.
    pub fn cross(&self, giver: &str, taker: &str) -> bool {
        let find = |name: &str| self.fixtures.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.api);
        let (Some(giver_api), Some(taker_api)) = (find(giver), find(taker)) else {
            println!("nvse-host: cross {giver} -> {taker}: FAILED, no such fixtures");
            return false;
        };
        let mut checks = Checks::new(&format!("cross {giver} -> {taker}"));
        // SAFETY: the fixtures' exports forward to one C runtime's functions;
        // every block is used within its size and freed once.
        unsafe {
            let p = (giver_api.malloc)(100);
            fill(p, 100, 7);
            let size = (taker_api.msize)(p);
            let q = (taker_api.realloc)(p, 5000);
            checks.line(
                "realloc",
                &[size_fact("msize", size, 100, false), holds("kept", !q.is_null() && has_pattern(q, 100, 7))],
            );
            (taker_api.free)(q);
            let a = (giver_api.aligned_malloc)(100, 64);
            fill(a, 100, 8);
            let b = (taker_api.aligned_realloc)(a, 300, 64);
            checks.line(
                "aligned_realloc",
                &[holds("aligned", is_aligned(b, 64)), holds("kept", !b.is_null() && has_pattern(b, 100, 8))],
            );
            (taker_api.aligned_free)(b);
            let s = (giver_api.malloc)(64);
            checks.line("saved free", &[holds("called", (giver_api.free_saved)(s) == 1)]);
        }
        checks.verdict()
    }

    /// Makes every fixture leak a block of `bytes` (`--leak`), for the
    /// plugin's leak report to find.
    /// Makes the first fixture commit `bug` (see `faults.rs`).
    pub fn provoke(&self, bug: Bug) {
        let Some(fixture) = self.fixtures.first() else {
            return println!("nvse-host: provoke {}: FAILED, no fixture", bug.name());
        };
        let function = match bug {
            Bug::Overrun => fixture.api.overrun,
            Bug::UseAfterFree => fixture.api.use_after_free,
        };
        faults::provoke(bug, &fixture.name, function);
    }

    pub fn leak(&self, bytes: usize) {
        for fixture in &self.fixtures {
            // SAFETY: fx_leak allocates and keeps the block; any size is valid.
            let ok = unsafe { (fixture.api.leak)(bytes) };
            println!("nvse-host: {}: leaked {bytes} bytes ok={ok}", fixture.name);
        }
    }
}

/// Loads a fixture (a relative path is taken from the game folder), tampers
/// with it, and resolves its exports. Returns them and what was done, as
/// printed after "loaded". The module is never unloaded.
fn load_fixture(path: &str, tampering: Tampering) -> Result<(Api, String), String> {
    let path = Path::new(path);
    let path = if path.is_absolute() { path.to_path_buf() } else { plugins::game_dir().join(path) };
    let library = Library::load(&path)?;
    let module = library.module;
    std::mem::forget(library);
    let mut done = String::new();
    if tampering.hook_free {
        // SAFETY: `module` was just loaded and stays loaded; a fixture's free
        // is its C runtime's.
        let hook = unsafe { free_hook::install(module) }?;
        let _ = write!(done, ", its free import hooked by {hook:#010x}");
    }
    if tampering.corrupt_imports {
        // SAFETY: `module` was just loaded and stays loaded.
        unsafe { corrupt_import_directory(module) }?;
        done.push_str(", import directory pointed outside the image");
    }
    // SAFETY: the fixtures are built from crt_client.c, whose exports `Api` mirrors.
    Ok((unsafe { Api::resolve(module) }?, done))
}

/// Tells the `--hook-free` hook which blocks are the plugin's, as soon as a
/// plugin DLL that can tell is loaded (before its code runs).
pub fn plugin_loaded(module: HMODULE) {
    // SAFETY: the module is a loaded plugin; the export's contract is
    // `extern "C" bool MemoryPoolNVSE_IsOwned(const void*)`.
    if let Some(is_owned) = unsafe { export::<IsOwnedFn>(module, IS_OWNED_EXPORT) } {
        free_hook::set_is_owned(is_owned);
    }
}

/// Points the import directory (data directory 1) of a loaded module outside
/// its image, as a damaged or packed module may have it. The module keeps
/// working: its import address table was bound at load time.
///
/// # Safety
/// `module` must be a loaded PE32 image that nothing else reads or writes the
/// headers of meanwhile.
unsafe fn corrupt_import_directory(module: HMODULE) -> Result<(), String> {
    let base = module.cast::<u8>();
    // SAFETY: a loaded module starts with its DOS header.
    let dos = unsafe { base.cast::<IMAGE_DOS_HEADER>().read_unaligned() };
    if dos.e_magic != IMAGE_DOS_SIGNATURE {
        return Err("no DOS header".into());
    }
    // SAFETY: e_lfanew of a loaded module is the offset of its NT headers, in its header page(s).
    let nt = unsafe { base.add(dos.e_lfanew as usize) }.cast::<IMAGE_NT_HEADERS32>();
    // SAFETY: as above; the whole IMAGE_NT_HEADERS32 is mapped for a PE32 image.
    let headers = unsafe { nt.read_unaligned() };
    if headers.Signature != IMAGE_NT_SIGNATURE
        || headers.OptionalHeader.Magic != IMAGE_NT_OPTIONAL_HDR32_MAGIC
        || headers.OptionalHeader.NumberOfRvaAndSizes <= u32::from(IMAGE_DIRECTORY_ENTRY_IMPORT)
    {
        return Err("not a PE32 image with an import directory".into());
    }
    // SAFETY: in bounds of the optional header checked above; no reference is made.
    let entry = unsafe {
        (&raw mut (*nt).OptionalHeader.DataDirectory)
            .cast::<IMAGE_DATA_DIRECTORY>()
            .add(IMAGE_DIRECTORY_ENTRY_IMPORT.into())
    };
    let size = size_of::<IMAGE_DATA_DIRECTORY>();
    let mut old = 0;
    // SAFETY: `entry` lies in the module's header page; `old` is a valid out-pointer.
    if unsafe { VirtualProtect(entry.cast(), size, PAGE_READWRITE, &mut old) } == 0 {
        return Err(format!("VirtualProtect: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the page is writable now; the entry is 4-byte aligned in a valid image,
    // but nothing depends on that.
    unsafe { entry.write_unaligned(BAD_IMPORT_DIRECTORY) };
    let mut ignored = 0;
    // SAFETY: restores the protection the page had.
    unsafe { VirtualProtect(entry.cast(), size, old, &mut ignored) };
    Ok(())
}

/// The plugin's `MemoryPoolNVSE_IsOwned`, if a loaded plugin exports it.
pub(crate) struct Owner(Option<IsOwnedFn>);

impl Owner {
    pub(crate) fn find(plugins: &[(String, HMODULE)]) -> Owner {
        for (name, module) in plugins {
            // SAFETY: the module is a loaded plugin; the export's contract is
            // `extern "C" bool MemoryPoolNVSE_IsOwned(const void*)`.
            if let Some(is_owned) = unsafe { export::<IsOwnedFn>(*module, IS_OWNED_EXPORT) } {
                println!("nvse-host: {IS_OWNED_EXPORT} found in {name}");
                return Owner(Some(is_owned));
            }
        }
        println!("nvse-host: {IS_OWNED_EXPORT}: not exported by any loaded plugin, ownership unknown");
        Owner(None)
    }

    pub(crate) fn owns(&self, p: *const u8) -> Option<bool> {
        // SAFETY: the export takes any pointer, ours or not.
        self.0.map(|is_owned| unsafe { is_owned(p.cast()) })
    }
}

/// Whose block it is: `1` the plugin's, `0` not, `?` unknown (no export);
/// wrong only when both the answer and the expectation are known and differ.
fn owned(owner: &Owner, p: *const u8, expected: Option<bool>) -> Fact {
    let actual = owner.owns(p);
    let shown = actual.map_or("?".to_owned(), |a| u8::from(a).to_string());
    let ok = match (actual, expected) {
        (Some(actual), Some(expected)) => actual == expected,
        _ => true,
    };
    Fact { key: "owned", shown, ok }
}

/// Whether `p` is a multiple of `alignment`, a power of two.
fn is_aligned(p: *const u8, alignment: usize) -> bool {
    alignment.is_power_of_two() && (p as usize) & (alignment - 1) == 0
}

/// Exercises every allocation function of one fixture and the blocks its
/// `DllMain` made, printing one line per check.
fn check_fixture(fixture: &Fixture, owner: &Owner, served: bool) -> bool {
    let api = fixture.api;
    let mut checks = Checks::new(&fixture.name);
    // Blocks allocated now come from the plugin's heap, unless the plugin had
    // to leave the module alone or is not to serve it.
    let fresh = Some(served && !fixture.tampering.leaves_it_alone());
    // Blocks made before any plugin loaded are the C runtime's. A late
    // fixture's DllMain may run before or after its imports are patched.
    let early = if fixture.early { Some(false) } else { None };
    const SEED: u8 = 0x31;

    // SAFETY: in this whole block, every call goes to the fixture's export of that
    // name, which forwards to the C runtime function of the same name through
    // the fixture's import table; every block is used within the size it was
    // asked for, and freed once, by the function of its family.
    unsafe {
        // malloc, _expand, realloc, _msize, free.
        let p = (api.malloc)(100);
        if p.is_null() {
            checks.null("malloc");
        } else {
            checks.line("malloc", &[owned(owner, p, fresh), size_fact("msize", (api.msize)(p), 100, false)]);
            fill(p, 100, SEED);
            let q = (api.realloc)(p, 5000);
            if q.is_null() {
                checks.null("realloc");
                (api.free)(p);
            } else {
                checks.line(
                    "realloc",
                    &[
                        owned(owner, q, fresh),
                        holds("kept", has_pattern(q, 100, SEED)),
                        size_fact("msize", (api.msize)(q), 5000, false),
                    ],
                );
                // _expand may refuse, but never moves the block.
                let e = (api.expand)(q, 2000);
                let result = if e.is_null() {
                    "refused"
                } else if e == q {
                    "same"
                } else {
                    "moved"
                };
                checks.line("expand", &[Fact { key: "result", shown: result.into(), ok: e.is_null() || e == q }]);
                (api.free)(q);
            }
        }

        // calloc.
        let z = (api.calloc)(10, 10);
        if z.is_null() {
            checks.null("calloc");
        } else {
            checks.line("calloc", &[owned(owner, z, fresh), holds("zeroed", is_zeroed(z, 100))]);
            (api.free)(z);
        }

        // _aligned_malloc, _aligned_realloc, _aligned_free.
        let a = (api.aligned_malloc)(100, 64);
        if a.is_null() {
            checks.null("aligned_malloc");
        } else {
            checks.line("aligned_malloc", &[owned(owner, a, fresh), holds("aligned", is_aligned(a, 64))]);
            fill(a, 100, SEED);
            let b = (api.aligned_realloc)(a, 300, 64);
            if b.is_null() {
                checks.null("aligned_realloc");
                (api.aligned_free)(a);
            } else {
                checks.line(
                    "aligned_realloc",
                    &[
                        owned(owner, b, fresh),
                        holds("aligned", is_aligned(b, 64)),
                        holds("kept", has_pattern(b, 100, SEED)),
                    ],
                );
                (api.aligned_free)(b);
            }
        }

        // _recalloc, where the C runtime has it: the grown part is zero.
        if let Some(recalloc) = api.recalloc {
            let r = recalloc(std::ptr::null_mut(), 10, 10);
            if r.is_null() {
                checks.null("recalloc");
            } else {
                checks.line("recalloc", &[owned(owner, r, fresh), holds("zeroed", is_zeroed(r, 100))]);
                fill(r, 100, SEED);
                let s = recalloc(r, 30, 10);
                if s.is_null() {
                    checks.null("recalloc grow");
                    (api.free)(r);
                } else {
                    checks.line(
                        "recalloc grow",
                        &[
                            owned(owner, s, fresh),
                            holds("kept", has_pattern(s, 100, SEED)),
                            holds("zeroed", is_zeroed(s.add(100), 200)),
                        ],
                    );
                    (api.free)(s);
                }
            }
        }

        // The blocks DllMain made: sized by their own runtime, then moved
        // into the heap by realloc, or freed by their own runtime.
        let block = (api.early_block)();
        let size = (api.early_size)();
        if block.is_null() {
            checks.null("early block");
        } else {
            let ours = owner.owns(block) == Some(true);
            checks.line(
                "early block",
                &[
                    holds("intact", (api.early_intact)() == 1),
                    owned(owner, block, early),
                    // The C runtime's _msize is exact; the heap's may round up.
                    size_fact("msize", (api.msize)(block), size, !ours),
                ],
            );
            let moved = (api.realloc)(block, 4000);
            if moved.is_null() {
                checks.null("early realloc");
                (api.free)(block);
            } else {
                checks.line("early realloc", &[owned(owner, moved, fresh), holds("kept", has_pattern(moved, size, 1))]);
                (api.free)(moved);
            }
        }

        let zeroed = (api.early_zeroed)();
        if zeroed.is_null() {
            checks.null("early calloc");
        } else {
            checks.line("early calloc", &[owned(owner, zeroed, early), holds("zeroed", is_zeroed(zeroed, size))]);
            (api.free)(zeroed);
        }

        let aligned = (api.early_aligned)();
        if aligned.is_null() {
            checks.null("early aligned");
        } else {
            checks.line(
                "early aligned",
                &[
                    owned(owner, aligned, early),
                    holds("aligned", is_aligned(aligned, (api.early_alignment)())),
                    holds("intact", has_pattern(aligned, (api.early_aligned_size)(), 2)),
                ],
            );
            (api.aligned_free)(aligned);
        }
    }
    if fixture.tampering.hook_free {
        check_free_hook(&mut checks);
    }
    checks.verdict()
}

/// What the `--hook-free` hook saw: the fixture's frees went through it, and
/// none of the blocks was the plugin's.
fn check_free_hook(checks: &mut Checks) {
    let (calls, owned) = free_hook::tally();
    checks.line(
        "hooked free",
        &[
            size_fact("calls", calls as usize, 1, false),
            Fact { key: "owned", shown: owned.to_string(), ok: owned == 0 },
        ],
    );
}

extern "C" {
    // This program's own C runtime functions (msvcrt.dll, through its import
    // table, like Rust's std and the MinGW startup code).
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn realloc(p: *mut u8, size: usize) -> *mut u8;
    fn free(p: *mut u8);
}

/// Checks that this program's own `malloc` family was redirected too.
fn check_host(owner: &Owner) -> bool {
    let mut checks = Checks::new("nvse-host.exe");
    let mine = Some(true);
    // SAFETY: msvcrt's malloc family, each block used within its size and freed once.
    unsafe {
        let p = malloc(100);
        if p.is_null() {
            checks.null("malloc");
        } else {
            checks.line("malloc", &[owned(owner, p, mine)]);
            fill(p, 100, 9);
            let q = realloc(p, 3000);
            if q.is_null() {
                checks.null("realloc");
                free(p);
            } else {
                checks.line("realloc", &[owned(owner, q, mine), holds("kept", has_pattern(q, 100, 9))]);
                free(q);
            }
        }
        let z = calloc(10, 10);
        if z.is_null() {
            checks.null("calloc");
        } else {
            checks.line("calloc", &[owned(owner, z, mine), holds("zeroed", is_zeroed(z, 100))]);
            free(z);
        }
    }
    checks.verdict()
}

/// Threads calling every fixture's `fx_churn` in a loop.
#[derive(Default)]
struct Churn {
    threads: Vec<JoinHandle<()>>,
    shared: Arc<ChurnShared>,
}

#[derive(Default)]
struct ChurnShared {
    /// The `fx_churn` of every fixture loaded so far.
    targets: Mutex<Vec<ChurnFn>>,
    stop: AtomicBool,
    calls: AtomicU64,
    /// Corrupted blocks, summed over every call.
    bad: AtomicU64,
}

impl Churn {
    /// Starts `count` threads over `fixtures` (and those added later), and
    /// waits until each fixture has been churned once, so that the churn
    /// overlaps what follows.
    fn start(count: usize, fixtures: &[Fixture]) -> Churn {
        let shared = Arc::new(ChurnShared::default());
        lock(&shared.targets).extend(fixtures.iter().map(|f| f.api.churn));
        let threads = (0..count)
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || churn_thread(index, &shared))
            })
            .collect();
        let churn = Churn { threads, shared };
        if count > 0 && !fixtures.is_empty() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while churn.shared.calls.load(Ordering::Relaxed) < count as u64 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        churn
    }

    fn add(&self, churn: ChurnFn) {
        lock(&self.shared.targets).push(churn);
    }

    /// Stops and joins the threads, prints the tally and returns whether no
    /// block was corrupted. Prints nothing if there were no threads.
    fn stop(self) -> bool {
        if self.threads.is_empty() {
            return true;
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut panicked = 0;
        for thread in self.threads {
            panicked += usize::from(thread.join().is_err());
        }
        let calls = self.shared.calls.load(Ordering::Relaxed);
        let bad = self.shared.bad.load(Ordering::Relaxed);
        println!("nvse-host: churn: {calls} calls, {bad} corrupted");
        if panicked > 0 {
            println!("nvse-host: churn: {panicked} thread(s) panicked");
        }
        bad == 0 && panicked == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn churn_thread(index: usize, shared: &ChurnShared) {
    let mut seed = (index as u32 + 1).wrapping_mul(0x9E37_79B9);
    let mut targets = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        targets.clear();
        targets.extend(lock(&shared.targets).iter().copied());
        if targets.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        for churn in &targets {
            seed = seed.wrapping_add(0x6D2B_79F5);
            // SAFETY: fx_churn takes any round count and seed, and frees
            // everything it allocated before returning.
            let bad = unsafe { churn(CHURN_ROUNDS, seed) };
            shared.calls.fetch_add(1, Ordering::Relaxed);
            shared.bad.fetch_add(u64::from(bad), Ordering::Relaxed);
        }
    }
}
