//! The `game` scenario: a synthetic game's allocators (`game.c`), linked into
//! this executable at a fixed address, for a plugin's profile to hook.
//!
//! [`profile`] prints the profile that names them (`game-profile`). A game
//! session starts the game's C runtime and heap at the moment the real game
//! does relative to NVSE's passes ([`Game::start`]), lets threads allocate
//! while the plugin hooks, and checks afterwards ([`Game::check`]) whose
//! functions served which blocks, from the counters the game's own functions
//! keep: a function the plugin serves never runs, so never counts.
//!
//! Each check prints `nvse-host: game: <check> key=value ...`; the verdict is
//! `nvse-host: game: ok` or `nvse-host: game: FAILED <check> <key>, ...`.
//! With `--play SECONDS`, [`play`] runs the game for a while after the
//! checks, its threads allocating as a game does.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_EXECUTE_READWRITE};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetCurrentThreadId};

use crate::checks::{draws, fill, has_pattern, is_zeroed, seed_of, size_fact, Checks, Fact};
use crate::session::GameModel;
use crate::{nvse, Expect, GameOptions, Moment, Prehook};

mod crash;
mod exhaust;
mod paths;
mod play;
mod stale;
pub use exhaust::{exhaust, exhaust_before_runtime};
pub use paths::{GameHeapPath, StaticCrtPath};
pub use play::play;
pub use stale::stale;

/// The game's heap object (`struct GameHeap` in game.c), only ever used by address.
#[repr(C)]
struct GameHeap {
    _opaque: [u8; 0],
}

/// The C runtime's functions, as indexes of `game_crt_calls` (game.c's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum CrtFn {
    Malloc,
    MallocCrt,
    Calloc,
    CallocCrt,
    Realloc,
    ReallocCrt,
    Recalloc,
    RecallocCrt,
    Msize,
    Free,
}

const CRT_ROLES: usize = 10;

impl CrtFn {
    /// The functions that make blocks.
    const ALLOCATING: [CrtFn; 8] = [
        CrtFn::Malloc,
        CrtFn::MallocCrt,
        CrtFn::Calloc,
        CrtFn::CallocCrt,
        CrtFn::Realloc,
        CrtFn::ReallocCrt,
        CrtFn::Recalloc,
        CrtFn::RecallocCrt,
    ];

    /// The function a runtime-internal `*_crt` wrapper calls.
    fn inner(self) -> Option<CrtFn> {
        match self {
            CrtFn::MallocCrt => Some(CrtFn::Malloc),
            CrtFn::CallocCrt => Some(CrtFn::Calloc),
            CrtFn::ReallocCrt => Some(CrtFn::Realloc),
            CrtFn::RecallocCrt => Some(CrtFn::Recalloc),
            _ => None,
        }
    }
}

/// The heap's methods, as indexes of `game_heap_calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Heap {
    Allocate,
    Free,
    Size,
    Realloc,
}

const HEAP_ROLES: usize = 5;

#[allow(non_upper_case_globals)]
extern "C" {
    /// Calls of each C runtime function in the checks' thread (game.c also
    /// counts them over all threads, in `game_crt_calls`).
    static game_crt_probe: [AtomicI32; CRT_ROLES];
    /// Calls of each heap method, likewise.
    static game_heap_probe: [AtomicI32; HEAP_ROLES];
    /// The thread counted in the `*_probe` counters.
    static game_probe_thread: AtomicU32;
    /// Old blocks released by the game's own functions (see `game_watch_old`).
    static game_old_released: AtomicI32;
    /// Calls of the other heap mod's `GameHeap_Free` (`--prehook heap-free`).
    static othermod_free_calls: AtomicI32;
    static g_game_heap: GameHeap;

    fn game_crt_init();
    fn game_cinit();
    #[link_name = "game_crt_owns"]
    fn game_crt_block(p: *mut u8) -> i32;
    fn game_watch_old(sorted: *const *mut u8, seen: *const AtomicI32, count: usize);
    fn game_heap_arena() -> *mut u8;
    fn game_heap_arena_blocks() -> i32;
    fn game_heap_bad_frees() -> i32;

    fn game_malloc(size: usize) -> *mut u8;
    fn game_malloc_crt(size: usize) -> *mut u8;
    fn game_calloc(count: usize, size: usize) -> *mut u8;
    fn game_calloc_crt(count: usize, size: usize) -> *mut u8;
    fn game_realloc(p: *mut u8, size: usize) -> *mut u8;
    fn game_realloc_crt(p: *mut u8, size: usize) -> *mut u8;
    fn game_recalloc(p: *mut u8, count: usize, size: usize) -> *mut u8;
    fn game_recalloc_crt(p: *mut u8, count: usize, size: usize) -> *mut u8;
    fn game_msize(p: *mut u8) -> usize;
    fn game_free(p: *mut u8);
}

extern "thiscall" {
    #[link_name = "GameHeap_Allocate"]
    fn heap_allocate(heap: *const GameHeap, size: usize) -> *mut u8;
    #[link_name = "GameHeap_Free"]
    fn heap_free(heap: *const GameHeap, p: *mut u8);
    #[link_name = "GameHeap_Size"]
    fn heap_size(heap: *const GameHeap, p: *mut u8) -> usize;
    #[link_name = "GameHeap_Realloc"]
    fn heap_realloc(heap: *const GameHeap, p: *mut u8, size: usize) -> *mut u8;
    #[link_name = "GameHeap_CreateHeaps"]
    fn heap_create_heaps(heap: *const GameHeap);
    #[link_name = "OtherMod_GameHeapFree"]
    fn othermod_heap_free(heap: *const GameHeap, p: *mut u8);
}

/// The synthetic game as a session's game: started, checked and played as
/// the `game` scenario's options say.
pub struct Synthetic {
    options: GameOptions,
    game: Option<Game>,
}

impl Synthetic {
    pub fn new(options: GameOptions) -> Synthetic {
        Synthetic { options, game: None }
    }
}

impl GameModel for Synthetic {
    fn before_plugins(&mut self) -> bool {
        if self.options.crash.is_some() {
            crash::install_first();
        }
        self.options.prehook.is_none_or(prehook)
    }

    fn preload_pass(&self) -> bool {
        self.options.moment == Moment::Preload
    }

    fn start(&mut self) {
        self.game = Some(Game::start(&self.options));
    }

    fn check(&mut self) -> bool {
        let mut passed = !self.options.checks || self.game.as_mut().is_none_or(Game::check);
        if self.options.play_seconds > 0 {
            passed &= play(self.options.play_seconds, self.options.threads, || {
                nvse::broadcast(nvse_abi::msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
            });
        }
        if self.options.stale_frames > 0 {
            passed &= stale(self.options.stale_frames, self.options.threads, || {
                nvse::broadcast(nvse_abi::msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
            });
        }
        if self.options.exhaust > 0 {
            passed &= exhaust(self.options.exhaust);
        }
        if let Some(kind) = self.options.crash {
            crash::crash(kind);
        }
        passed
    }
}

fn the_heap() -> *const GameHeap {
    &raw const g_game_heap
}

/// Whether `p` is a block of the game's C runtime heap.
fn game_crt_owns(p: *mut u8) -> bool {
    // SAFETY: HeapValidate of the runtime's heap takes any pointer.
    unsafe { game_crt_block(p) != 0 }
}

/// One function the profile names.
struct Target {
    name: &'static str,
    address: usize,
    role: &'static str,
}

fn heap_targets() -> [Target; 4] {
    [
        Target { name: "GameHeap_Allocate", address: heap_allocate as *const () as usize, role: "heap-allocate" },
        Target { name: "GameHeap_Free", address: heap_free as *const () as usize, role: "heap-free" },
        Target { name: "GameHeap_Size", address: heap_size as *const () as usize, role: "heap-size" },
        Target { name: "GameHeap_Realloc", address: heap_realloc as *const () as usize, role: "heap-realloc" },
    ]
}

fn crt_targets() -> [Target; 10] {
    [
        Target { name: "game_malloc", address: game_malloc as *const () as usize, role: "malloc" },
        Target { name: "game_malloc_crt", address: game_malloc_crt as *const () as usize, role: "malloc" },
        Target { name: "game_calloc", address: game_calloc as *const () as usize, role: "calloc" },
        Target { name: "game_calloc_crt", address: game_calloc_crt as *const () as usize, role: "calloc" },
        Target { name: "game_realloc", address: game_realloc as *const () as usize, role: "realloc" },
        Target { name: "game_realloc_crt", address: game_realloc_crt as *const () as usize, role: "realloc" },
        Target { name: "game_recalloc", address: game_recalloc as *const () as usize, role: "recalloc" },
        Target { name: "game_recalloc_crt", address: game_recalloc_crt as *const () as usize, role: "recalloc" },
        Target { name: "game_msize", address: game_msize as *const () as usize, role: "msize" },
        Target { name: "game_free", address: game_free as *const () as usize, role: "free" },
    ]
}

/// `len` bytes of this executable's code at `address`, as a profile writes
/// them: hex, upper case, separated by spaces.
fn code_bytes(address: usize, len: usize) -> String {
    // SAFETY: `address` is one of game.c's functions, each longer than the
    // 16 bytes read at most, in this executable's mapped code.
    let bytes = unsafe { std::slice::from_raw_parts(address as *const u8, len) };
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

/// The profile of this executable, read from its own code (call before
/// anything hooks it).
pub fn profile() -> String {
    let mut text = String::from(
        "# The synthetic game in nvse-host.exe (image base 0x400000, no relocations): game.c's\n\
         # heap methods (thiscall) and static C runtime (cdecl), with their first bytes as built.\n\n\
         [executable]\nname = \"nvse-host synthetic game\"\n\n",
    );
    let allocate = heap_allocate as *const () as usize;
    let _ = writeln!(
        text,
        "[[executable.expect]]                 # GameHeap_Allocate\naddress = {allocate:#010X}\nbytes = \"{}\"\n",
        code_bytes(allocate, 16)
    );
    for (group, targets) in [("game-heap", &heap_targets()[..]), ("static-crt", &crt_targets()[..])] {
        let _ = writeln!(text, "[[group]]\nname = \"{group}\"\nwhen = \"any\"\n");
        for target in targets {
            let _ = writeln!(
                text,
                "[[group.hook]]                        # {}\naddress = {:#010X}\nrole = \"{}\"\nbytes = \"{}\"\n",
                target.name,
                target.address,
                target.role,
                code_bytes(target.address, 8)
            );
        }
    }
    let create = heap_create_heaps as *const () as usize;
    let _ = write!(
        text,
        "# The game never creates its heap: GameHeap_CreateHeaps returns at once (thiscall,\n\
         # no stack argument: a plain ret).\n\
         [[group]]\nname = \"vanilla-heaps-off\"\nwhen = \"preload\"\nrequires = [\"game-heap\", \"static-crt\"]\n\n\
         [[group.patch]]                       # GameHeap_CreateHeaps\naddress = {create:#010X}\n\
         expect = \"{}\"\nbytes = \"C3\"\n",
        code_bytes(create, 1)
    );
    // The `0X` of `{:#X}` reads as a typo in a profile: addresses are `0x...`.
    text.replace("= 0X", "= 0x")
}

/// Writes a `jmp rel32` at `from` to `to`, as another mod's hook does.
///
/// # Safety
/// `from` must be the start of a function of this executable at least five
/// bytes long that no thread runs meanwhile.
unsafe fn write_jump(from: usize, to: usize) -> Result<(), String> {
    let mut jump = [0xE9u8, 0, 0, 0, 0];
    jump[1..].copy_from_slice(&(to.wrapping_sub(from + 5) as u32).to_le_bytes());
    let mut old = 0;
    // SAFETY: five bytes of this executable's code (the caller's promise).
    if unsafe { VirtualProtect(from as *const _, jump.len(), PAGE_EXECUTE_READWRITE, &mut old) } == 0 {
        return Err(format!("VirtualProtect: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the bytes are writable now, and no thread runs them.
    unsafe { std::ptr::copy_nonoverlapping(jump.as_ptr(), from as *mut u8, jump.len()) };
    let mut ignored = 0;
    // SAFETY: restores the protection the page had; flushes the bytes just written.
    unsafe {
        VirtualProtect(from as *const _, jump.len(), old, &mut ignored);
        FlushInstructionCache(GetCurrentProcess(), from as *const _, jump.len());
    }
    Ok(())
}

/// Installs another mod's hook before anything else runs. Returns whether it
/// could (the session fails if not).
pub fn prehook(which: Prehook) -> bool {
    match which {
        Prehook::HeapFree => {
            let (from, to) = (heap_free as *const () as usize, othermod_heap_free as *const () as usize);
            // SAFETY: GameHeap_Free is longer than five bytes, and nothing has
            // started yet that could run it.
            let result = unsafe { write_jump(from, to) };
            match &result {
                Ok(()) => println!("nvse-host: game: prehook heap-free from={from:#010x} to={to:#010x}"),
                Err(e) => println!("nvse-host: game: FAILED prehook heap-free ({e})"),
            }
            result.is_ok()
        }
    }
}

/// Counters of the game's functions' calls in the checks' thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Calls {
    crt: [i32; CRT_ROLES],
    heap: [i32; HEAP_ROLES],
}

impl Calls {
    fn now() -> Calls {
        let mut calls = Calls::default();
        // SAFETY: the C counters are `long`s, read atomically; they live for good.
        let (crt, heap) = unsafe { (&game_crt_probe, &game_heap_probe) };
        for (count, counter) in calls.crt.iter_mut().zip(crt) {
            *count = counter.load(Ordering::Relaxed);
        }
        for (count, counter) in calls.heap.iter_mut().zip(heap) {
            *count = counter.load(Ordering::Relaxed);
        }
        calls
    }

    fn since(self, before: Calls) -> Calls {
        let mut delta = self;
        delta.crt.iter_mut().zip(before.crt).for_each(|(d, b)| *d -= b);
        delta.heap.iter_mut().zip(before.heap).for_each(|(d, b)| *d -= b);
        delta
    }

    /// One call of `role` from outside, and of what it calls when it is the original.
    fn crt_call(&mut self, role: CrtFn) {
        self.crt[role as usize] += 1;
        if let Some(inner) = role.inner() {
            self.crt[inner as usize] += 1;
        }
    }

    fn crt_allocs(&self) -> i32 {
        CrtFn::ALLOCATING.iter().map(|&r| self.crt[r as usize]).sum()
    }

    fn heap_allocs(&self) -> i32 {
        self.heap[Heap::Allocate as usize] + self.heap[Heap::Realloc as usize]
    }
}

/// Which allocator made a block, and so which functions size and free it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Heap,
    Crt,
}

/// A block the game made before the plugin loaded.
struct Block {
    p: *mut u8,
    size: usize,
    family: Family,
    seed: u8,
}

/// A block from `role` (allocating from nothing: realloc-like functions get
/// NULL), filled with the pattern of `seed`.
///
/// # Safety
/// The game's C runtime must be initialised.
unsafe fn crt_block(role: CrtFn, size: usize, seed: u8) -> *mut u8 {
    let null = std::ptr::null_mut();
    // SAFETY: the runtime is initialised (the caller's promise); every
    // function takes any size.
    let p = unsafe {
        match role {
            CrtFn::Malloc => game_malloc(size),
            CrtFn::MallocCrt => game_malloc_crt(size),
            CrtFn::Calloc => game_calloc(1, size),
            CrtFn::CallocCrt => game_calloc_crt(1, size),
            CrtFn::Realloc => game_realloc(null, size),
            CrtFn::ReallocCrt => game_realloc_crt(null, size),
            CrtFn::Recalloc => game_recalloc(null, 1, size),
            CrtFn::RecallocCrt => game_recalloc_crt(null, 1, size),
            CrtFn::Msize | CrtFn::Free => null,
        }
    };
    if !p.is_null() {
        // SAFETY: a fresh block of at least `size` bytes.
        unsafe { fill(p, size, seed) };
    }
    p
}

/// Resizes a C runtime block through `role` (one of the realloc-like ones).
///
/// # Safety
/// `p` must be a live block of the game's C runtime (or the plugin's).
unsafe fn crt_resize(role: CrtFn, p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the caller's promise.
    unsafe {
        match role {
            CrtFn::RecallocCrt => game_recalloc_crt(p, 1, size),
            CrtFn::Recalloc => game_recalloc(p, 1, size),
            CrtFn::ReallocCrt => game_realloc_crt(p, size),
            _ => game_realloc(p, size),
        }
    }
}

/// The game, from its start-up to the checks.
pub struct Game {
    options: GameOptions,
    /// Blocks made before the plugin loaded (`--moment load`).
    old: Vec<Block>,
    /// Their addresses, sorted, and whether an original released each: the
    /// C code reads both until the checks are over.
    watched: Vec<*mut u8>,
    seen: Vec<AtomicI32>,
    threads: Vec<JoinHandle<()>>,
    churn: Arc<ChurnShared>,
}

/// Old blocks per family.
const OLD_BLOCKS: usize = 1000;
/// Blocks per allocating function in the `new blocks` check.
const NEW_BLOCKS: usize = 200;

impl Game {
    /// The game's start-up, where it comes in NVSE's order: after the
    /// preload pass (if any), before the query pass. The C runtime's heap
    /// and static initialisers; with `--moment load`, old blocks from every
    /// allocating function; then the game's threads.
    pub fn start(options: &GameOptions) -> Game {
        // SAFETY: start-up runs once, on the main thread, before any other
        // thread calls the game's functions; the counters are atomics.
        unsafe {
            game_probe_thread.store(GetCurrentThreadId(), Ordering::Relaxed);
            if options.exhaust_before_runtime {
                exhaust_before_runtime();
            }
            game_crt_init();
            game_cinit();
        }
        let mut game = Game {
            options: *options,
            old: Vec::new(),
            watched: Vec::new(),
            seen: Vec::new(),
            threads: Vec::new(),
            churn: Arc::new(ChurnShared::default()),
        };
        if options.moment == Moment::Load {
            game.make_old_blocks();
        }
        for index in 0..options.threads {
            let shared = Arc::clone(&game.churn);
            game.threads.push(std::thread::spawn(move || churn_thread(index, &shared)));
        }
        // Every thread is under way before the plugins load.
        let deadline = Instant::now() + Duration::from_secs(10);
        while game.churn.rounds.load(Ordering::Relaxed) < options.threads as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        println!(
            "nvse-host: game: start-up moment={} arena={} old_blocks={} threads={}",
            match options.moment {
                Moment::Preload => "preload",
                Moment::Load => "load",
            },
            // SAFETY: reads a pointer the C code set once, in game_cinit.
            u8::from(!unsafe { game_heap_arena() }.is_null()),
            game.old.len(),
            options.threads
        );
        game
    }

    fn make_old_blocks(&mut self) {
        let heap = the_heap();
        for index in 0..OLD_BLOCKS {
            let size = if index % 50 == 49 { 20_000 + index } else { 1 + index * 37 % 1500 };
            let seed = seed_of(index, size);
            // SAFETY: the heap object exists (game_cinit); some blocks come
            // from a smaller one grown by Realloc; every block is filled
            // within its size.
            let p = unsafe {
                if index % 4 == 3 {
                    let small = heap_allocate(heap, size / 2 + 1);
                    heap_realloc(heap, small, size)
                } else {
                    heap_allocate(heap, size)
                }
            };
            if !p.is_null() {
                // SAFETY: a fresh block of `size` bytes.
                unsafe { fill(p, size, seed) };
                self.old.push(Block { p, size, family: Family::Heap, seed });
            }
            let role = CrtFn::ALLOCATING[index % CrtFn::ALLOCATING.len()];
            let seed = seed.wrapping_add(1);
            // SAFETY: the runtime was initialised by game_crt_init.
            let p = unsafe { crt_block(role, size, seed) };
            if !p.is_null() {
                self.old.push(Block { p, size, family: Family::Crt, seed });
            }
        }
        self.watched = self.old.iter().map(|b| b.p).collect();
        self.watched.sort_unstable();
        self.seen = self.watched.iter().map(|_| AtomicI32::new(0)).collect();
        // SAFETY: both vectors live in `self` until the checks, which end the
        // watch; neither is resized meanwhile.
        unsafe { game_watch_old(self.watched.as_ptr(), self.seen.as_ptr(), self.watched.len()) };
    }

    /// The checks, after the load pass and the first frame. Stops the game's
    /// threads. Returns whether everything passed.
    pub fn check(&mut self) -> bool {
        let mut checks = Checks::new("game");
        if let Some(Prehook::HeapFree) = self.options.prehook {
            // SAFETY: a C counter, read atomically.
            let calls = unsafe { othermod_free_calls.load(Ordering::Relaxed) };
            checks.line("prehook", &[size_fact("othermod_free_calls", calls as usize, 1, false)]);
        }
        if self.options.moment == Moment::Load {
            self.check_old_blocks(&mut checks);
        }
        check_new_blocks(self.options.expect, &mut checks);
        self.check_arena(&mut checks);
        self.stop_threads(&mut checks);
        checks.verdict()
    }

    fn check_old_blocks(&mut self, checks: &mut Checks) {
        let heap = the_heap();
        let (mut intact, mut sized, mut kept, mut zeroed) = (0, 0, 0, 0);
        let mut resized = 0;
        // SAFETY: every old block is live, of its family, and `size` bytes
        // long; each is resized or freed once, by its family's functions.
        unsafe {
            for block in &self.old {
                intact += usize::from(has_pattern(block.p, block.size, block.seed));
                let size = match block.family {
                    Family::Heap => heap_size(heap, block.p),
                    Family::Crt => game_msize(block.p),
                };
                sized += usize::from(size >= block.size);
            }
            for (index, block) in self.old.drain(..).enumerate() {
                let mut p = block.p;
                if index % 2 == 0 {
                    resized += 1;
                    let grown = block.size * 2;
                    let (q, zero_from) = match block.family {
                        Family::Heap => (heap_realloc(heap, p, grown), None),
                        Family::Crt => {
                            let role =
                                [CrtFn::Realloc, CrtFn::ReallocCrt, CrtFn::Recalloc, CrtFn::RecallocCrt][index / 2 % 4];
                            let old_size = game_msize(p);
                            let zeroes = matches!(role, CrtFn::Recalloc | CrtFn::RecallocCrt);
                            (crt_resize(role, p, grown), zeroes.then_some(old_size))
                        }
                    };
                    if q.is_null() {
                        // Left as it was: freed below.
                        continue;
                    }
                    p = q;
                    kept += usize::from(has_pattern(p, block.size, block.seed));
                    zeroed +=
                        usize::from(zero_from.is_none_or(|from| from >= grown || is_zeroed(p.add(from), grown - from)));
                }
                match block.family {
                    Family::Heap => heap_free(heap, p),
                    Family::Crt => game_free(p),
                }
            }
            game_watch_old(std::ptr::null(), std::ptr::null(), 0);
        }
        let blocks = self.watched.len();
        // SAFETY: a C counter, read atomically.
        let released = unsafe { game_old_released.load(Ordering::Relaxed) } as usize;
        checks.line(
            "old blocks",
            &[
                Fact { key: "blocks", shown: blocks.to_string(), ok: blocks == 2 * OLD_BLOCKS },
                size_fact("intact", intact, blocks, true),
                size_fact("sized", sized, blocks, true),
                size_fact("kept", kept, resized, true),
                size_fact("zeroed", zeroed, resized, true),
                // Only the game's own functions may release what they made:
                // each old block once, whatever the plugin hooked meanwhile.
                size_fact("released_by_originals", released, blocks, true),
            ],
        );
    }

    fn check_arena(&self, checks: &mut Checks) {
        // SAFETY: reads of the heap object's fields through game.c.
        let (created, blocks, bad_frees) =
            unsafe { (!game_heap_arena().is_null(), game_heap_arena_blocks(), game_heap_bad_frees()) };
        // Untouched, the game makes its heap; the plugin's preload patch
        // keeps it from ever existing.
        let (created_ok, blocks_ok) = match (self.options.expect, self.options.moment) {
            (Expect::Vanilla, _) => (created, true),
            (Expect::Ours, Moment::Preload) => (!created, blocks == 0),
            (Expect::Ours, Moment::Load) => (created, true),
        };
        checks.line(
            "arena",
            &[
                Fact { key: "arena_blocks", shown: blocks.to_string(), ok: blocks_ok },
                Fact { key: "created", shown: u8::from(created).to_string(), ok: created_ok },
                Fact { key: "bad_frees", shown: bad_frees.to_string(), ok: bad_frees == 0 },
            ],
        );
    }

    fn stop_threads(&mut self, checks: &mut Checks) {
        self.churn.stop.store(true, Ordering::Relaxed);
        let mut panicked = 0;
        for thread in self.threads.drain(..) {
            panicked += usize::from(thread.join().is_err());
        }
        let calls = self.churn.calls.load(Ordering::Relaxed);
        let bad = self.churn.bad.load(Ordering::Relaxed);
        checks.line(
            "threads",
            &[
                Fact { key: "threads", shown: self.options.threads.to_string(), ok: true },
                Fact { key: "calls", shown: calls.to_string(), ok: calls > 0 || self.options.threads == 0 },
                Fact { key: "corrupted", shown: bad.to_string(), ok: bad == 0 },
                Fact { key: "panicked", shown: panicked.to_string(), ok: panicked == 0 },
            ],
        );
    }
}

/// Blocks made now, through every allocating function, sized, resized and
/// freed: served by the plugin (`ours`: the game's allocating functions never
/// run) or by the game (`vanilla`: each runs exactly as often as called).
fn check_new_blocks(expect: Expect, checks: &mut Checks) {
    let heap = the_heap();
    let mut expected = Calls::default();
    let (mut made, mut sized, mut kept, mut zeroed) = (0, 0, 0, 0);
    let before = Calls::now();
    // SAFETY: the game's functions on blocks they made, each used within its
    // size and freed once, by its family's free.
    unsafe {
        for index in 0..NEW_BLOCKS {
            let size = 16 + index * 53 % 3000;
            let seed = seed_of(index, size);
            // The heap: Allocate, Size, Realloc (Size, Allocate, Free), Free.
            let p = heap_allocate(heap, size);
            expected.heap[Heap::Allocate as usize] += 1;
            if p.is_null() {
                continue;
            }
            made += 1;
            fill(p, size, seed);
            sized += usize::from(heap_size(heap, p) >= size);
            expected.heap[Heap::Size as usize] += 1;
            let q = heap_realloc(heap, p, size * 2);
            expected.heap[Heap::Realloc as usize] += 1;
            expected.heap[Heap::Size as usize] += 1;
            expected.heap[Heap::Allocate as usize] += 1;
            expected.heap[Heap::Free as usize] += 1;
            let q = if q.is_null() { p } else { q };
            kept += usize::from(has_pattern(q, size, seed));
            heap_free(heap, q);
            expected.heap[Heap::Free as usize] += 1;
        }
        for role in CrtFn::ALLOCATING {
            for index in 0..NEW_BLOCKS {
                let size = 1 + index * 71 % 4000;
                let seed = seed_of(index, size);
                let zeroing = matches!(role, CrtFn::Calloc | CrtFn::CallocCrt | CrtFn::Recalloc | CrtFn::RecallocCrt);
                let p = match role {
                    // Check the zeroes before the pattern goes in.
                    CrtFn::Calloc => game_calloc(1, size),
                    CrtFn::CallocCrt => game_calloc_crt(1, size),
                    CrtFn::Recalloc => game_recalloc(std::ptr::null_mut(), 1, size),
                    CrtFn::RecallocCrt => game_recalloc_crt(std::ptr::null_mut(), 1, size),
                    _ => crt_block(role, size, seed),
                };
                expected.crt_call(role);
                if p.is_null() {
                    continue;
                }
                made += 1;
                if zeroing {
                    zeroed += usize::from(is_zeroed(p, size));
                    fill(p, size, seed);
                } else {
                    zeroed += 1;
                }
                let mut q = p;
                if matches!(role, CrtFn::Realloc | CrtFn::ReallocCrt | CrtFn::Recalloc | CrtFn::RecallocCrt) {
                    let r = crt_resize(role, p, size * 2);
                    expected.crt_call(role);
                    if !r.is_null() {
                        q = r;
                    }
                }
                kept += usize::from(has_pattern(q, size, seed));
                sized += usize::from(game_msize(q) >= size);
                expected.crt_call(CrtFn::Msize);
                game_free(q);
                expected.crt_call(CrtFn::Free);
            }
        }
    }
    let actual = Calls::now().since(before);
    let count = |key: &'static str, actual: i32, expected: i32, ok: bool| Fact {
        key,
        shown: actual.to_string(),
        ok: match expect {
            Expect::Ours => ok,
            Expect::Vanilla => actual == expected,
        },
    };
    let blocks = NEW_BLOCKS * (1 + CrtFn::ALLOCATING.len());
    let heap_role = |role: Heap| (actual.heap[role as usize], expected.heap[role as usize]);
    let crt_role = |role: CrtFn| (actual.crt[role as usize], expected.crt[role as usize]);
    let (heap_frees, heap_frees_expected) = heap_role(Heap::Free);
    let (heap_sizes, heap_sizes_expected) = heap_role(Heap::Size);
    let (crt_frees, crt_frees_expected) = crt_role(CrtFn::Free);
    let (crt_sizes, crt_sizes_expected) = crt_role(CrtFn::Msize);
    checks.line(
        "new blocks",
        &[
            // Allocating functions: never the game's with `ours`, every call
            // (wrappers and what they wrap) with `vanilla`.
            count("heap_original_allocs", actual.heap_allocs(), expected.heap_allocs(), actual.heap_allocs() == 0),
            count("crt_original_allocs", actual.crt_allocs(), expected.crt_allocs(), actual.crt_allocs() == 0),
            count("heap_original_frees", heap_frees, heap_frees_expected, true),
            count("heap_original_sizes", heap_sizes, heap_sizes_expected, true),
            count("crt_original_frees", crt_frees, crt_frees_expected, true),
            count("crt_original_sizes", crt_sizes, crt_sizes_expected, true),
            Fact {
                key: "counts",
                shown: if actual == expected { "exact" } else { "differ" }.into(),
                ok: expect == Expect::Ours || actual == expected,
            },
            size_fact("blocks", made, blocks, true),
            size_fact("sized", sized, blocks, true),
            size_fact("kept", kept, blocks, true),
            size_fact("zeroed", zeroed, NEW_BLOCKS * CrtFn::ALLOCATING.len(), true),
            Fact {
                key: "expect",
                shown: match expect {
                    Expect::Ours => "ours",
                    Expect::Vanilla => "vanilla",
                }
                .into(),
                ok: true,
            },
        ],
    );
}

/// The game's threads' tally.
#[derive(Default)]
struct ChurnShared {
    stop: AtomicBool,
    /// Rounds completed, over all threads.
    rounds: AtomicU64,
    /// Calls of the game's functions.
    calls: AtomicU64,
    /// Blocks whose pattern or size was wrong.
    bad: AtomicU64,
}

/// Live blocks a game thread keeps at once: blocks outlive rounds, so some
/// made before a hook are freed after it.
const CHURN_WINDOW: usize = 64;

/// A game thread: allocates through every function, fills, checks pattern
/// and size, resizes some and frees, until told to stop.
fn churn_thread(index: usize, shared: &ChurnShared) {
    let heap = the_heap();
    let mut next = draws(index);
    let mut live: Vec<Block> = Vec::with_capacity(CHURN_WINDOW);
    let (mut calls, mut bad) = (0u64, 0u64);
    let check = |block: &Block, calls: &mut u64, bad: &mut u64| {
        // SAFETY: a live block of the game's (or the plugin's) of `size` bytes.
        let size = unsafe {
            match block.family {
                Family::Heap => heap_size(heap, block.p),
                Family::Crt => game_msize(block.p),
            }
        };
        *calls += 1;
        // SAFETY: as above.
        let intact = unsafe { has_pattern(block.p, block.size, block.seed) };
        *bad += u64::from(!intact || size < block.size);
    };
    while !shared.stop.load(Ordering::Relaxed) {
        for _ in 0..64 {
            let r = next();
            let size = if r % 64 == 0 { 16_384 + (r >> 8) as usize % 65_536 } else { 1 + (r >> 8) as usize % 2048 };
            let seed = seed_of(r as usize, size);
            let family = if r & 0x100 == 0 { Family::Heap } else { Family::Crt };
            // SAFETY: the runtime and heap exist (started before the threads).
            let p = unsafe {
                match family {
                    Family::Heap => {
                        let p = heap_allocate(heap, size);
                        if !p.is_null() {
                            fill(p, size, seed);
                        }
                        p
                    }
                    Family::Crt => crt_block(CrtFn::ALLOCATING[(r >> 9) as usize % 8], size, seed),
                }
            };
            calls += 1;
            if p.is_null() {
                bad += 1;
                continue;
            }
            let block = Block { p, size, family, seed };
            check(&block, &mut calls, &mut bad);
            live.push(block);
            if live.len() < CHURN_WINDOW {
                continue;
            }
            let mut old = live.swap_remove((r >> 12) as usize % live.len());
            check(&old, &mut calls, &mut bad);
            if r & 0x1000 != 0 {
                let grown = old.size + (r >> 20) as usize % 512;
                // SAFETY: a live block of its family, resized by it.
                let q = unsafe {
                    match old.family {
                        Family::Heap => heap_realloc(heap, old.p, grown),
                        Family::Crt => crt_resize(CrtFn::ALLOCATING[4 + (r >> 13) as usize % 4], old.p, grown),
                    }
                };
                calls += 1;
                if q.is_null() {
                    bad += 1;
                } else {
                    old.p = q;
                    check(&old, &mut calls, &mut bad);
                }
            }
            // SAFETY: a live block, freed once by its family.
            unsafe {
                match old.family {
                    Family::Heap => heap_free(heap, old.p),
                    Family::Crt => game_free(old.p),
                }
            }
            calls += 1;
        }
        shared.rounds.fetch_add(1, Ordering::Relaxed);
        shared.calls.fetch_add(std::mem::take(&mut calls), Ordering::Relaxed);
        shared.bad.fetch_add(std::mem::take(&mut bad), Ordering::Relaxed);
    }
    for block in live.drain(..) {
        check(&block, &mut calls, &mut bad);
        // SAFETY: a live block, freed once by its family.
        unsafe {
            match block.family {
                Family::Heap => heap_free(heap, block.p),
                Family::Crt => game_free(block.p),
            }
        }
    }
    shared.calls.fetch_add(calls, Ordering::Relaxed);
    shared.bad.fetch_add(bad, Ordering::Relaxed);
}
