//! Hooks made live in this process while other threads call the targets.
//!
//! The targets are machine code written into pages of their own, so their
//! prologues are exactly the ones wanted; the pages are then made
//! execute-read, as code pages are.
#![cfg(all(windows, target_arch = "x86"))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use inline_hook::{Error, GroupError, PlanError, Transaction};
use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualProtect, VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, MEM_RESERVE, PAGE_EXECUTE_READ,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE,
};

/// `int f(int x) { return 3 * x + 1; }`: push ebp; mov ebp,esp;
/// mov eax,[ebp+8]; lea eax,[eax+eax*2]; inc eax; pop ebp; ret.
/// Instructions start at 0, 1, 3, 6: six bytes are moved.
const FRAMED: &[u8] = &[0x55, 0x8B, 0xEC, 0x8B, 0x45, 0x08, 0x8D, 0x04, 0x40, 0x40, 0x5D, 0xC3];
/// The same with the hot-patch `mov edi,edi` first (instructions at 0, 2, 3).
const HOT_PATCH: &[u8] = &[0x8B, 0xFF, 0x55, 0x8B, 0xEC, 0x8B, 0x45, 0x08, 0x8D, 0x04, 0x40, 0x40, 0x5D, 0xC3];
/// FRAMED after three `pause`: a thread is often stopped inside the six
/// bytes moved (instructions at 0, 2, 4), and must be moved to the trampoline.
const SLOW: &[u8] =
    &[0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90, 0x55, 0x8B, 0xEC, 0x8B, 0x45, 0x08, 0x8D, 0x04, 0x40, 0x40, 0x5D, 0xC3];
/// `int __thiscall get(int *this, int x) { return *this + x; }`: mov edi,edi;
/// push ebp; mov ebp,esp; mov eax,[ecx]; add eax,[ebp+8]; pop ebp; ret 4.
const THISCALL_GET: &[u8] = &[0x8B, 0xFF, 0x55, 0x8B, 0xEC, 0x8B, 0x01, 0x03, 0x45, 0x08, 0x5D, 0xC2, 0x04, 0x00];
/// `inc eax; ret`: too short for a jump.
const TOO_SHORT: &[u8] = &[0x40, 0xC3];

type Fn1 = extern "C" fn(i32) -> i32;

fn original(x: i32) -> i32 {
    x.wrapping_mul(3).wrapping_add(1)
}

/// Writes each function 64 bytes after the previous one into a fresh page,
/// makes it execute-read, and returns their addresses. The page is never
/// freed: hooks into it stay.
fn code_page(functions: &[&[u8]]) -> Vec<usize> {
    // SAFETY: a fresh private page, written within its 4096 bytes (at most
    // 64 functions of at most 64 bytes), then made execute-read.
    unsafe {
        let page = VirtualAlloc(core::ptr::null(), 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) as usize;
        assert_ne!(page, 0);
        let mut addresses = Vec::new();
        for (i, code) in functions.iter().enumerate() {
            assert!(code.len() <= 64 && i < 64);
            let at = page + 64 * i;
            // int3 between functions, as a linker pads them.
            core::ptr::write_bytes(at as *mut u8, 0xCC, 64);
            core::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len());
            addresses.push(at);
        }
        let mut old = 0;
        assert_ne!(VirtualProtect(page as *const _, 4096, PAGE_EXECUTE_READ, &mut old), 0);
        addresses
    }
}

fn bytes(address: usize, len: usize) -> Vec<u8> {
    // SAFETY: reads a committed code page made by `code_page`.
    unsafe { core::slice::from_raw_parts(address as *const u8, len) }.to_vec()
}

fn protection(address: usize) -> PAGE_PROTECTION_FLAGS {
    // SAFETY: MEMORY_BASIC_INFORMATION is plain data; the out-buffer is valid.
    unsafe {
        let mut info: MEMORY_BASIC_INFORMATION = core::mem::zeroed();
        VirtualQuery(address as *const _, &mut info, core::mem::size_of::<MEMORY_BASIC_INFORMATION>());
        info.Protect
    }
}

fn as_fn(address: usize) -> Fn1 {
    // SAFETY: every address given is one of `code_page`'s cdecl `int f(int)`
    // functions, or a trampoline for one.
    unsafe { core::mem::transmute::<usize, Fn1>(address) }
}

/// The trampoline of the target hooked last. Every target computes the
/// same, so any of their trampolines serves as the original of all.
static ORIGINAL: AtomicUsize = AtomicUsize::new(0);
static DETOUR_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Counts the call, then calls the original.
extern "C" fn detour(x: i32) -> i32 {
    DETOUR_CALLS.fetch_add(1, Ordering::Relaxed);
    as_fn(ORIGINAL.load(Ordering::Acquire))(x)
}

/// The pair of targets the next group hooks.
static NEXT_PAIR: AtomicUsize = AtomicUsize::new(0);

/// Threads calling every target until told to stop; each counts its calls
/// and the wrong results.
struct Callers {
    stop: Arc<AtomicBool>,
    /// Whether the threads stop by themselves after a number of calls.
    bounded: bool,
    threads: Vec<std::thread::JoinHandle<(usize, usize)>>,
}

impl Callers {
    fn start(count: usize, targets: &[usize], calls_each: Option<usize>) -> Callers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let (stop, targets) = (stop.clone(), targets.to_vec());
                let bounded = calls_each.is_some();
                std::thread::spawn(move || {
                    let (mut calls, mut wrong) = (0, 0);
                    let mut x = 0i32;
                    while !stop.load(Ordering::Relaxed) && calls_each.is_none_or(|each| calls < each * targets.len()) {
                        // Every target once, then the pair about to be hooked
                        // many times: threads are often stopped in its bytes.
                        let next = NEXT_PAIR.load(Ordering::Relaxed) * 2;
                        let pair = targets.get(next..next + 2).unwrap_or_default().repeat(16);
                        for &target in targets.iter().chain(if bounded { &[][..] } else { &pair }) {
                            x = x.wrapping_add(1);
                            wrong += usize::from(as_fn(target)(std::hint::black_box(x)) != original(x));
                            calls += 1;
                        }
                    }
                    (calls, wrong)
                })
            })
            .collect();
        Callers { stop, bounded: calls_each.is_some(), threads }
    }

    /// Total calls and wrong results.
    fn join(self) -> (usize, usize) {
        self.stop.store(!self.bounded, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).fold((0, 0), |(c, w), (c2, w2)| (c + c2, w + w2))
    }
}

fn detour_calls() -> usize {
    DETOUR_CALLS.load(Ordering::Relaxed)
}

/// Targets in groups of two.
const COPIES: usize = 128;

#[test]
fn groups_go_live_one_after_another_while_threads_call_the_targets() {
    let shapes: Vec<&[u8]> = [FRAMED, HOT_PATCH, SLOW].into_iter().cycle().take(COPIES).collect();
    let targets: Vec<usize> = shapes.chunks(64).flat_map(code_page).collect();
    let callers = Callers::start(4, &targets, None);
    std::thread::sleep(std::time::Duration::from_millis(50));
    for (n, pair) in targets.chunks(2).zip(shapes.chunks(2)).enumerate() {
        NEXT_PAIR.store(n, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut group = Transaction::new();
        for (&target, &shape) in pair.0.iter().zip(pair.1) {
            let id = group.hook(target, detour as Fn1 as usize, Some(shape)).unwrap();
            // The first group's detour needs its original as soon as it is
            // live. Later ones use an earlier group's until theirs is: a
            // trampoline is executable only from its group's commit on.
            let _ = ORIGINAL.compare_exchange(0, id.trampoline(), Ordering::Release, Ordering::Relaxed);
        }
        let hooks = group.commit().unwrap();
        assert_eq!(hooks.len(), 2);
        ORIGINAL.store(hooks[1].trampoline(), Ordering::Release);
        assert_eq!(bytes(pair.0[0], 1), [0xE9]);
        assert_eq!(protection(pair.0[0]), PAGE_EXECUTE_READ);
    }
    let (calls, wrong) = callers.join();
    assert_eq!(wrong, 0, "wrong results out of {calls} calls");
    assert!(detour_calls() > 0);
    // About 20 in 64 commits here: the moving of threads was exercised.
    assert!(inline_hook::threads_moved() > 0, "no thread was ever stopped in the replaced bytes");

    // Every call now goes through the detour, which returns the original's result.
    let before = detour_calls();
    let (calls, wrong) = Callers::start(4, &targets, Some(100)).join();
    assert_eq!((calls, wrong), (4 * COPIES * 100, 0));
    assert_eq!(detour_calls() - before, calls);
}

#[test]
fn a_group_with_one_bad_target_writes_nothing() {
    let targets = code_page(&[FRAMED, TOO_SHORT]);
    let mut group = Transaction::new();
    group.hook(targets[0], detour as Fn1 as usize, None).unwrap();
    let refused = group.hook(targets[1], detour as Fn1 as usize, None).unwrap_err();
    assert_eq!(refused, Error::Plan(PlanError::TooShort { end: 2 }));
    let expected = GroupError::Target { index: 1, target: targets[1], error: refused };
    assert_eq!(group.commit(), Err(expected));
    assert_eq!(bytes(targets[0], FRAMED.len()), FRAMED);
    assert_eq!(protection(targets[0]), PAGE_EXECUTE_READ);
}

#[test]
fn unexpected_bytes_are_reported_and_nothing_is_written() {
    let targets = code_page(&[FRAMED]);
    let mut group = Transaction::new();
    let refused = group.hook(targets[0], detour as Fn1 as usize, Some(HOT_PATCH)).unwrap_err();
    // The function, then the int3 padding after it.
    let found = [FRAMED, &[0xCC, 0xCC]].concat();
    assert_eq!(refused, Error::Mismatch { found, expected: HOT_PATCH.to_vec() });
    assert!(group.commit().is_err());
    assert_eq!(bytes(targets[0], FRAMED.len()), FRAMED);
}

#[test]
fn a_target_outside_code_is_refused() {
    let data = [0x55u8, 0x8B, 0xEC, 0x90, 0x90, 0x90];
    let refused = Transaction::new().hook(data.as_ptr() as usize, detour as Fn1 as usize, None).unwrap_err();
    assert_eq!(refused, Error::NotCode);
}

#[test]
fn a_hooked_target_is_reported_as_already_hooked() {
    static TRAMPOLINE: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn counted(x: i32) -> i32 {
        as_fn(TRAMPOLINE.load(Ordering::Acquire))(x)
    }
    let targets = code_page(&[HOT_PATCH]);
    let mut group = Transaction::new();
    TRAMPOLINE.store(group.hook(targets[0], counted as Fn1 as usize, None).unwrap().trampoline(), Ordering::Release);
    group.commit().unwrap();
    let again = Transaction::new().hook(targets[0], counted as Fn1 as usize, None).unwrap_err();
    assert!(matches!(again, Error::Plan(PlanError::AlreadyHooked(_))), "{again}");
    assert_eq!(as_fn(targets[0])(5), 16);
}

static THIS_ORIGINAL: AtomicUsize = AtomicUsize::new(0);
static THIS_CALLS: AtomicUsize = AtomicUsize::new(0);
type GetFn = unsafe extern "thiscall" fn(*const i32, i32) -> i32;

/// The detour of a thiscall method: `this` arrives in ECX and goes on in ECX.
unsafe extern "thiscall" fn get_detour(this: *const i32, x: i32) -> i32 {
    THIS_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the trampoline of THISCALL_GET, a thiscall `int (int *, int)`.
    let original = unsafe { core::mem::transmute::<usize, GetFn>(THIS_ORIGINAL.load(Ordering::Acquire)) };
    // SAFETY: `this` is the caller's, passed on unchanged.
    unsafe { original(this, x) + 1000 }
}

#[test]
fn a_thiscall_method_gets_a_thiscall_detour() {
    let targets = code_page(&[THISCALL_GET]);
    let mut group = Transaction::new();
    let id = group.hook(targets[0], get_detour as GetFn as usize, Some(&THISCALL_GET[..5])).unwrap();
    THIS_ORIGINAL.store(id.trampoline(), Ordering::Release);
    group.commit().unwrap();
    let value = 42i32;
    // SAFETY: the hooked THISCALL_GET: a thiscall `int (int *, int)`; `this` points to a live i32.
    let got = unsafe { core::mem::transmute::<usize, GetFn>(targets[0])(&value, 8) };
    assert_eq!(got, 42 + 8 + 1000);
    assert_eq!(THIS_CALLS.load(Ordering::Relaxed), 1);
}

/// `mov eax, 7; ret`: a function a raw patch turns into `xor eax,eax; ret`.
const SEVEN: &[u8] = &[0xB8, 0x07, 0x00, 0x00, 0x00, 0xC3];

#[test]
fn raw_patches_go_live_with_the_hooks_of_their_group() {
    let targets = code_page(&[FRAMED, SEVEN]);
    let seven = as_fn(targets[1]);
    assert_eq!(seven(0), 7);
    let mut group = Transaction::new();
    let id = group.hook(targets[0], detour as Fn1 as usize, None).unwrap();
    ORIGINAL.store(id.trampoline(), Ordering::Release);
    let found = inline_hook::read_code(targets[1], 6).unwrap();
    group.patch(targets[1], &found, &[0x31, 0xC0, 0xC3]).unwrap();
    let hooks = group.commit().unwrap();
    assert_eq!(hooks.len(), 1, "a raw patch is no hook");
    assert_eq!(seven(0), 0);
    assert_eq!(bytes(targets[1], 6), [0x31, 0xC0, 0xC3, 0x00, 0x00, 0xC3]);
    assert_eq!(protection(targets[1]), PAGE_EXECUTE_READ);
    let before = detour_calls();
    assert_eq!(as_fn(targets[0])(5), 16);
    assert_eq!(detour_calls() - before, 1);
}

#[test]
fn a_raw_patch_over_changed_bytes_writes_nothing_of_its_group() {
    let targets = code_page(&[FRAMED, SEVEN]);
    let mut group = Transaction::new();
    group.hook(targets[0], detour as Fn1 as usize, None).unwrap();
    let stale = [0xB8, 0x08, 0x00, 0x00, 0x00, 0xC3];
    assert_eq!(group.patch(targets[1], &stale, &[0xC3]), Err(Error::Changed));
    assert!(matches!(group.commit(), Err(GroupError::Target { index: 1, error: Error::Changed, .. })));
    assert_eq!(bytes(targets[0], FRAMED.len()), FRAMED);
    assert_eq!(bytes(targets[1], SEVEN.len()), SEVEN);
}

/// Threads born one after another, each calling every target as soon as it
/// starts, until told to stop: some are born while a commit's freeze is
/// under way, after it listed the threads to suspend, and call the targets
/// while their jumps are written.
struct Births {
    stop: Arc<AtomicBool>,
    spawner: std::thread::JoinHandle<Born>,
}

/// What the born threads did.
#[derive(Default)]
struct Born {
    /// When each was born.
    at: Vec<std::time::Instant>,
    calls: usize,
    wrong: usize,
}

impl Births {
    fn start(targets: &[usize]) -> Births {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, targets) = (stop.clone(), targets.to_vec());
        let spawner = std::thread::spawn(move || {
            let mut born = Born::default();
            let mut alive = Vec::new();
            let mut join = |alive: &mut Vec<std::thread::JoinHandle<(usize, usize)>>, born: &mut Born| {
                for thread in alive.drain(..) {
                    let (calls, wrong) = thread.join().unwrap();
                    born.calls += calls;
                    born.wrong += wrong;
                }
            };
            while !flag.load(Ordering::Relaxed) {
                let targets = targets.clone();
                born.at.push(std::time::Instant::now());
                alive.push(std::thread::spawn(move || {
                    // Long enough to be calling while a freeze that began
                    // after its birth writes the jumps.
                    let until = std::time::Instant::now() + std::time::Duration::from_millis(5);
                    let (mut calls, mut wrong) = (0, 0);
                    while std::time::Instant::now() < until {
                        for &target in &targets {
                            let x = std::hint::black_box(calls as i32);
                            wrong += usize::from(as_fn(target)(x) != original(x));
                            calls += 1;
                        }
                    }
                    (calls, wrong)
                }));
                if alive.len() == 8 {
                    join(&mut alive, &mut born);
                }
            }
            join(&mut alive, &mut born);
            born
        });
        Births { stop, spawner }
    }

    fn join(self) -> Born {
        self.stop.store(true, Ordering::Relaxed);
        self.spawner.join().unwrap()
    }
}

#[test]
fn threads_born_while_groups_go_live_never_run_a_half_written_jump() {
    let shapes: Vec<&[u8]> = [FRAMED, HOT_PATCH, SLOW].into_iter().cycle().take(64).collect();
    let targets: Vec<usize> = code_page(&shapes);
    let births = Births::start(&targets);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut commits = Vec::new();
    for (pair, pair_shapes) in targets.chunks(2).zip(shapes.chunks(2)) {
        let mut group = Transaction::new();
        for (&target, &shape) in pair.iter().zip(pair_shapes) {
            let id = group.hook(target, detour as Fn1 as usize, Some(shape)).unwrap();
            let _ = ORIGINAL.compare_exchange(0, id.trampoline(), Ordering::Release, Ordering::Relaxed);
        }
        let started = std::time::Instant::now();
        let hooks = group.commit().unwrap();
        commits.push(started..std::time::Instant::now());
        ORIGINAL.store(hooks[1].trampoline(), Ordering::Release);
    }
    let born = births.join();
    assert_eq!(born.wrong, 0, "wrong results out of {} calls by {} threads", born.calls, born.at.len());
    let during = born.at.iter().filter(|at| commits.iter().any(|commit| commit.contains(at))).count();
    assert!(during > 0, "no thread was born while a group went live ({} born)", born.at.len());
    for (&target, &shape) in targets.iter().zip(&shapes) {
        assert_eq!(bytes(target, 1), [0xE9], "{target:#x}");
        assert_eq!(as_fn(target)(4), original(4));
        assert!(shape.len() > 5);
    }
}
