//! Profiles applied to functions of this test program, standing in for the
//! game's: a heap object with thiscall methods and a cdecl C runtime, each
//! over a private Win32 heap, counting the calls that reach them.
//!
//! Each test has its own copy of the functions (a module made by
//! `fake_game!`): a hooked function stays hooked for the life of the process.
#![cfg(all(windows, target_arch = "x86"))]

use core::ffi::c_void;
use std::hint::black_box;
use std::sync::Once;

use game_hooks::{apply, GroupOutcome, Moment, Profile, Skipped, Switches};

const ALL_ON: Switches =
    Switches { game_heap: true, static_crt: true, vanilla_heaps_off: true, game_heap_at_load: true };

fn start_heap() {
    static START: Once = Once::new();
    START.call_once(|| {
        heap::init(&heap::Config::DEFAULT).expect("the heap starts");
    });
}

/// The first `len` bytes of the function at `address`, as a profile writes them.
fn hex_at(address: usize, len: usize) -> String {
    let code = inline_hook::read_code(address, len).expect("code");
    code.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

/// A game heap and a C runtime whose functions count their calls.
macro_rules! fake_game {
    ($name:ident) => {
        #[allow(dead_code)]
        mod $name {
            use core::ffi::c_void;
            use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

            use windows_sys::Win32::System::Memory::{HeapAlloc, HeapCreate, HeapFree, HeapReAlloc, HeapSize};

            /// The heap object the game passes in ECX.
            pub struct GameHeap {
                handle: AtomicPtr<c_void>,
                /// Calls of allocate, free, size, realloc that reached the originals.
                pub calls: [AtomicUsize; 4],
            }

            pub static HEAP: GameHeap =
                GameHeap { handle: AtomicPtr::new(core::ptr::null_mut()), calls: [const { AtomicUsize::new(0) }; 4] };
            /// Calls of malloc, free, _msize, realloc that reached the C runtime's originals.
            pub static CRT_CALLS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

            fn handle() -> *mut c_void {
                let h = HEAP.handle.load(Ordering::Acquire);
                if !h.is_null() {
                    return h;
                }
                // SAFETY: creates a private growable heap.
                let h = unsafe { HeapCreate(0, 0, 0) };
                match HEAP.handle.compare_exchange(core::ptr::null_mut(), h, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => h,
                    Err(other) => other,
                }
            }

            fn count(calls: &[AtomicUsize; 4], i: usize) {
                calls[i].fetch_add(1, Ordering::Relaxed);
            }

            pub fn this() -> *mut GameHeap {
                &HEAP as *const GameHeap as *mut GameHeap
            }

            #[inline(never)]
            pub extern "thiscall" fn allocate(this: *mut GameHeap, size: usize) -> *mut c_void {
                // SAFETY: `this` is HEAP, a static.
                count(unsafe { &(*this).calls }, 0);
                // SAFETY: a private heap of this module.
                unsafe { HeapAlloc(handle(), 0, size.max(1)) }
            }

            #[inline(never)]
            pub extern "thiscall" fn free(this: *mut GameHeap, p: *mut c_void) {
                // SAFETY: `this` is HEAP, a static.
                count(unsafe { &(*this).calls }, 1);
                if !p.is_null() {
                    // SAFETY: a block of this module's heap.
                    unsafe { HeapFree(handle(), 0, p) };
                }
            }

            #[inline(never)]
            pub extern "thiscall" fn size(this: *mut GameHeap, p: *mut c_void) -> usize {
                // SAFETY: `this` is HEAP, a static.
                count(unsafe { &(*this).calls }, 2);
                if p.is_null() {
                    return 0;
                }
                // SAFETY: a block of this module's heap.
                unsafe { HeapSize(handle(), 0, p) }
            }

            #[inline(never)]
            pub extern "thiscall" fn realloc(this: *mut GameHeap, p: *mut c_void, size: usize) -> *mut c_void {
                // SAFETY: `this` is HEAP, a static.
                count(unsafe { &(*this).calls }, 3);
                // SAFETY: a block of this module's heap.
                unsafe { HeapReAlloc(handle(), 0, p, size.max(1)) }
            }

            #[inline(never)]
            pub extern "C" fn malloc(size: usize) -> *mut c_void {
                count(&CRT_CALLS, 0);
                // SAFETY: a private heap of this module.
                unsafe { HeapAlloc(handle(), 0, size.max(1)) }
            }

            #[inline(never)]
            pub extern "C" fn crt_free(p: *mut c_void) {
                count(&CRT_CALLS, 1);
                if !p.is_null() {
                    // SAFETY: a block of this module's heap.
                    unsafe { HeapFree(handle(), 0, p) };
                }
            }

            #[inline(never)]
            pub extern "C" fn msize(p: *mut c_void) -> usize {
                count(&CRT_CALLS, 2);
                // SAFETY: a block of this module's heap.
                unsafe { HeapSize(handle(), 0, p) }
            }

            #[inline(never)]
            pub extern "C" fn crt_realloc(p: *mut c_void, size: usize) -> *mut c_void {
                count(&CRT_CALLS, 3);
                if p.is_null() {
                    return malloc(size);
                }
                // SAFETY: a block of this module's heap.
                unsafe { HeapReAlloc(handle(), 0, p, size.max(1)) }
            }

            /// Creates the vanilla heaps; a preload patch turns it into `return 0`.
            #[inline(never)]
            pub extern "C" fn create_heaps() -> i32 {
                handle();
                core::hint::black_box(7)
            }

            pub type Allocate = extern "thiscall" fn(*mut GameHeap, usize) -> *mut c_void;
            pub type Free = extern "thiscall" fn(*mut GameHeap, *mut c_void);
            pub type Size = extern "thiscall" fn(*mut GameHeap, *mut c_void) -> usize;
            pub type Realloc = extern "thiscall" fn(*mut GameHeap, *mut c_void, usize) -> *mut c_void;

            pub fn addresses() -> [usize; 9] {
                [
                    allocate as Allocate as usize,
                    free as Free as usize,
                    size as Size as usize,
                    realloc as Realloc as usize,
                    malloc as extern "C" fn(usize) -> *mut c_void as usize,
                    crt_free as extern "C" fn(*mut c_void) as usize,
                    msize as extern "C" fn(*mut c_void) -> usize as usize,
                    crt_realloc as extern "C" fn(*mut c_void, usize) -> *mut c_void as usize,
                    create_heaps as extern "C" fn() -> i32 as usize,
                ]
            }

            pub fn calls(calls: &[AtomicUsize; 4]) -> [usize; 4] {
                [0, 1, 2, 3].map(|i| calls[i].load(Ordering::Relaxed))
            }
        }
    };
}

/// The profile of a fake game: its identity, its heap, its C runtime and a
/// preload patch that requires the heap group.
fn profile_of(a: [usize; 9]) -> String {
    let hook = |address: usize, role: &str| {
        format!("[[group.hook]]\naddress = {address:#x}\nrole = \"{role}\"\nbytes = \"{}\"\n", hex_at(address, 6))
    };
    let roles = ["heap-allocate", "heap-free", "heap-size", "heap-realloc", "malloc", "free", "msize", "realloc"];
    let hooks: Vec<String> = (0..8).map(|i| hook(a[i], roles[i])).collect();
    format!(
        "[executable]\nname = \"fake game\"\n[[executable.expect]]\naddress = {:#x}\nbytes = \"{}\"\n\n\
         [[group]]\nname = \"game-heap\"\nwhen = \"any\"\n{}\n\
         [[group]]\nname = \"static-crt\"\nwhen = \"any\"\n{}\n\
         [[group]]\nname = \"vanilla-heaps-off\"\nwhen = \"preload\"\nrequires = [\"game-heap\"]\n\
         [[group.patch]]\naddress = {:#x}\nexpect = \"{}\"\nbytes = \"31 C0 C3\"\n",
        a[0],
        hex_at(a[0], 8),
        hooks[..4].concat(),
        hooks[4..].concat(),
        a[8],
        hex_at(a[8], 3),
    )
}

fn outcomes(report: &game_hooks::Report) -> Vec<(String, GroupOutcome)> {
    let groups = report.outcome.as_ref().expect("the profile applies");
    groups.iter().map(|g| (g.name.clone(), g.outcome.clone())).collect()
}

fn live(hooks: usize, patches: usize) -> GroupOutcome {
    GroupOutcome::Live { hooks, patches }
}

fn fill(p: *mut c_void, len: usize, seed: u8) {
    // SAFETY: `p` is a block of at least `len` bytes.
    unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), len) }
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = seed ^ i as u8);
}

fn intact(p: *const c_void, len: usize, seed: u8) -> bool {
    // SAFETY: `p` is a block of at least `len` bytes.
    unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) }.iter().enumerate().all(|(i, &b)| b == seed ^ i as u8)
}

fake_game!(at_load);

#[test]
fn at_load_new_blocks_are_ours_and_old_ones_reach_the_originals() {
    use at_load::*;
    start_heap();
    // Calls through pointers the optimiser cannot see through, as the game's are.
    let allocate = black_box(allocate as Allocate);
    let (free, size, realloc) = (black_box(free as Free), black_box(size as Size), black_box(realloc as Realloc));
    let old: Vec<*mut c_void> = (0..50).map(|i| allocate(this(), 40 + i)).collect();
    old.iter().enumerate().for_each(|(i, &p)| fill(p, 40 + i, i as u8));
    let crt_old = at_load::malloc(100);

    let profile = Profile::parse(&profile_of(addresses())).expect("the profile");
    let report = apply(&profile, Moment::Load, ALL_ON);
    assert_eq!(report.large_address_aware, Some(true));
    assert_eq!(
        outcomes(&report),
        [
            ("game-heap".into(), live(4, 0)),
            ("static-crt".into(), live(4, 0)),
            ("vanilla-heaps-off".into(), GroupOutcome::NeedsPreload),
        ]
    );
    assert_eq!(create_heaps(), 7, "a preload group is not applied at Load");

    // New blocks: ours, and no original runs.
    let before = calls(&HEAP.calls);
    let ours = allocate(this(), 300);
    assert!(heap::owns(ours));
    fill(ours, 300, 9);
    assert!(size(this(), ours) >= 300);
    let ours = realloc(this(), ours, 5000);
    assert!(heap::owns(ours) && intact(ours, 300, 9));
    free(this(), ours);
    assert_eq!(calls(&HEAP.calls), before, "none of our blocks reached the game heap");

    // Old blocks: sized, resized and freed by the originals, bytes kept.
    for (i, &p) in old.iter().enumerate() {
        assert!(!heap::owns(p));
        assert!(intact(p, 40 + i, i as u8));
        assert_eq!(size(this(), p), 40 + i);
    }
    let grown = realloc(this(), old[0], 4000);
    assert!(intact(grown, 40, 0));
    free(this(), grown);
    old[1..].iter().for_each(|&p| free(this(), p));
    let after = calls(&HEAP.calls);
    assert_eq!([after[1] - before[1], after[2] - before[2], after[3] - before[3]], [50, 50, 1]);
    assert_eq!(size(this(), core::ptr::null_mut()), 0);

    // The C runtime's: the same.
    let (malloc, crt_free, msize) = (black_box(malloc as extern "C" fn(usize) -> *mut c_void), crt_free, msize);
    let crt_before = calls(&CRT_CALLS);
    let p = malloc(64);
    assert!(heap::owns(p) && msize(p) >= 64);
    crt_free(p);
    assert_eq!(msize(crt_old), 100);
    crt_free(crt_old);
    let crt_after = calls(&CRT_CALLS);
    assert_eq!(crt_after[0], crt_before[0], "malloc served by the heap");
    assert_eq!([crt_after[1] - crt_before[1], crt_after[2] - crt_before[2]], [1, 1], "the old block's free and size");
}

fake_game!(at_preload);

#[test]
fn at_preload_the_patch_group_follows_the_heap_group() {
    use at_preload::*;
    start_heap();
    let profile = Profile::parse(&profile_of(addresses())).expect("the profile");
    let off = Switches { static_crt: false, ..ALL_ON };
    let report = apply(&profile, Moment::Preload, off);
    assert_eq!(
        outcomes(&report),
        [
            ("game-heap".into(), live(4, 0)),
            ("static-crt".into(), GroupOutcome::Off("[GameHeap] StaticCrt")),
            ("vanilla-heaps-off".into(), live(0, 1)),
        ]
    );
    assert_eq!(black_box(create_heaps as extern "C" fn() -> i32)(), 0, "patched to return 0");
    let p = black_box(at_preload::malloc as extern "C" fn(usize) -> *mut c_void)(10);
    assert!(!heap::owns(p), "the C runtime is left alone");
    assert_eq!(calls(&CRT_CALLS)[0], 1);
}

fake_game!(needs_heap);

#[test]
fn a_patch_group_whose_required_group_is_off_is_skipped() {
    use needs_heap::*;
    start_heap();
    let profile = Profile::parse(&profile_of(addresses())).expect("the profile");
    let report = apply(&profile, Moment::Preload, Switches { game_heap: false, ..ALL_ON });
    assert_eq!(
        outcomes(&report),
        [
            ("game-heap".into(), GroupOutcome::Off("[GameHeap] Enabled")),
            ("static-crt".into(), live(4, 0)),
            ("vanilla-heaps-off".into(), GroupOutcome::NeedsGroup("game-heap".into())),
        ]
    );
    assert_eq!(black_box(create_heaps as extern "C" fn() -> i32)(), 7);
}

fake_game!(prehooked);

/// Another replacer's detour for `free`.
extern "thiscall" fn other_free(this: *mut prehooked::GameHeap, p: *mut c_void) {
    black_box((this, p));
}

#[test]
fn a_target_another_replacer_hooked_leaves_every_group_alone() {
    use prehooked::*;
    start_heap();
    let text = profile_of(addresses());
    // Another replacer writes `jmp other_free` at `free`, after the profile was made.
    let target = addresses()[1];
    let mut group = inline_hook::Transaction::new();
    group.hook(target, other_free as Free as usize, None).expect("the other hook");
    group.commit().expect("the other hook goes live");

    let report = apply(&Profile::parse(&text).unwrap(), Moment::Preload, ALL_ON);
    let Err(Skipped::OtherReplacer(why)) = &report.outcome else { panic!("{report:?}") };
    assert!(
        why.starts_with(&format!("0x{target:08X} (heap-free) of group \"game-heap\" already jumps to 0x")),
        "{why}"
    );
    let p = black_box(allocate as Allocate)(this(), 8);
    assert!(!heap::owns(p), "nothing was hooked");
    assert_eq!(create_heaps(), 7);
}

fake_game!(elsewhere);

#[test]
fn another_executable_is_left_alone() {
    use elsewhere::*;
    start_heap();
    let text = profile_of(addresses());
    let wrong = text.replacen("name = \"fake game\"", "name = \"other game\"", 1);
    let expect_line = format!("bytes = \"{}\"", hex_at(addresses()[0], 8));
    let wrong = wrong.replacen(&expect_line, "bytes = \"90 90 90 90 90 90 90 90\"", 1);
    let report = apply(&Profile::parse(&wrong).unwrap(), Moment::Preload, ALL_ON);
    let Err(Skipped::NotThisExecutable(why)) = &report.outcome else { panic!("{report:?}") };
    assert!(why.contains("where 90 90 90 90 90 90 90 90 was expected"), "{why}");

    let outside = text.replacen(&format!("address = {:#x}", addresses()[0]), "address = 0x10", 1);
    let report = apply(&Profile::parse(&outside).unwrap(), Moment::Preload, ALL_ON);
    let Err(Skipped::NotThisExecutable(why)) = &report.outcome else { panic!("{report:?}") };
    assert!(why.starts_with("0x00000010 lies outside the executable's image"), "{why}");
    assert!(!heap::owns(black_box(allocate as Allocate)(this(), 8)));
}

fake_game!(overwritten_later);

#[test]
fn a_hook_overwritten_after_it_went_live_is_reported() {
    use overwritten_later::*;
    start_heap();
    let profile = Profile::parse(&profile_of(addresses())).expect("the profile");
    apply(&profile, Moment::Load, ALL_ON).outcome.expect("applied");
    let target = addresses()[2];
    let mine = |report: &[String]| report.iter().filter(|l| l.starts_with(&format!("0x{target:08X}"))).count();
    assert_eq!(mine(&game_hooks::overwritten()), 0);

    // A later replacer writes its own jump over ours.
    let detour = other_size as Size as usize;
    let rel = (detour as u32).wrapping_sub(target as u32 + 5).to_le_bytes();
    // SAFETY: the target's code page, made writable for five bytes no
    // thread of this test runs meanwhile, then given its protection back.
    unsafe {
        use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_EXECUTE_READWRITE};
        let mut old = 0;
        assert_ne!(VirtualProtect(target as *const _, 5, PAGE_EXECUTE_READWRITE, &mut old), 0);
        core::ptr::copy_nonoverlapping([0xE9, rel[0], rel[1], rel[2], rel[3]].as_ptr(), target as *mut u8, 5);
        VirtualProtect(target as *const _, 5, old, &mut old);
    }
    let report = game_hooks::overwritten();
    let line = report.iter().find(|l| l.starts_with(&format!("0x{target:08X}"))).expect("reported");
    assert!(line.starts_with(&format!("0x{target:08X} (heap-size) now jumps to 0x{detour:08X} in ")), "{line}");
}

extern "thiscall" fn other_size(_this: *mut overwritten_later::GameHeap, _p: *mut c_void) -> usize {
    0
}

/// `profile` with bytes expected at `frame` for the hook at `hook`.
fn with_frame(profile: &str, hook: usize, frame: usize, bytes: &str) -> String {
    let at = profile.find(&format!("address = {hook:#x}\n")).expect("the hook");
    let end = at + profile[at..].find("\n\n").map_or(profile.len() - at, |n| n + 1);
    format!("{}[[group.hook.expect]]\naddress = {frame:#x}\nbytes = \"{bytes}\"\n{}", &profile[..end], &profile[end..])
}

fake_game!(frame_found);

#[test]
fn a_hook_whose_frame_is_as_expected_goes_live() {
    use frame_found::*;
    start_heap();
    let a = addresses();
    let text = with_frame(&profile_of(a), a[3], a[3] + 1, &hex_at(a[3] + 1, 3));
    let profile = Profile::parse(&text).expect("the profile");
    assert_eq!(profile.groups[0].hooks[3].expect.len(), 1);
    // The C runtime's group stays off here: the entries have a few slots per
    // role for the whole process, and the other tests use them.
    let report = apply(&profile, Moment::Load, Switches { static_crt: false, ..ALL_ON });
    assert_eq!(outcomes(&report)[0], ("game-heap".into(), live(4, 0)));
    assert!(heap::owns(black_box(allocate as Allocate)(this(), 8)));
}

fake_game!(vanilla_at_load);

#[test]
fn at_load_the_game_heap_can_stay_with_the_vanilla_heaps() {
    use vanilla_at_load::*;
    start_heap();
    let a = addresses();
    let before = hex_at(a[0], 5);
    let profile = Profile::parse(&profile_of(a)).expect("the profile");
    // The C runtime's group stays off: its slots are the other tests'.
    let switches = Switches { static_crt: false, game_heap_at_load: false, ..ALL_ON };
    let report = apply(&profile, Moment::Load, switches);
    assert_eq!(
        outcomes(&report),
        [
            ("game-heap".into(), GroupOutcome::VanillaAtLoad),
            ("static-crt".into(), GroupOutcome::Off("[GameHeap] StaticCrt")),
            ("vanilla-heaps-off".into(), GroupOutcome::NeedsPreload),
        ]
    );
    // Nothing written: the game heap's blocks are its own.
    assert_eq!(hex_at(a[0], 5), before);
    let p = black_box(allocate as Allocate)(this(), 8);
    assert!(!p.is_null() && !heap::owns(p));
    black_box(free as Free)(this(), p);
}

fake_game!(frame_differs);

#[test]
fn a_hook_whose_frame_differs_leaves_its_group_alone_and_says_where() {
    use frame_differs::*;
    start_heap();
    let a = addresses();
    let found = hex_at(a[3] + 1, 3);
    let wrong = if found.starts_with("C2") { "C3 90 90" } else { "C2 08 00" };
    let profile = Profile::parse(&with_frame(&profile_of(a), a[3], a[3] + 1, wrong)).expect("the profile");
    let report = apply(&profile, Moment::Preload, Switches { static_crt: false, ..ALL_ON });
    let expected =
        format!("0x{:08X} (heap-realloc): 0x{:08X} holds {found} where {wrong} was expected", a[3], a[3] + 1);
    assert_eq!(
        outcomes(&report),
        [
            ("game-heap".into(), GroupOutcome::Refused(expected)),
            ("static-crt".into(), GroupOutcome::Off("[GameHeap] StaticCrt")),
            ("vanilla-heaps-off".into(), GroupOutcome::NeedsGroup("game-heap".into())),
        ]
    );
    // Nothing of the group was written: the heap's functions are the game's.
    let p = black_box(allocate as Allocate)(this(), 8);
    assert!(!heap::owns(p));
    assert_eq!(hex_at(a[3] + 1, 3), found);
    assert_eq!(create_heaps(), 7);
}

/// This program is not the game: no MemoryManager at its address, nothing
/// held, and nothing read that is not mapped.
#[test]
fn another_executable_holds_no_vanilla_heap() {
    assert_eq!(game_hooks::vanilla::held(), game_hooks::vanilla::Held::default());
}
