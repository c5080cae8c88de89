//! The plugins' memory system calls, counted by thread while the frame
//! session plays (`nvse-host bench --workload game-frames`): each loaded
//! plugin's import slots of `VirtualAlloc` and `VirtualFree` point at
//! counting functions that call the originals, as another tool's hook
//! would. A call made on one of the game's threads counts by kind; one made
//! on any other thread (the plugin's maintenance thread) counts apart.
//!
//! Every memory system call the plugin's heap makes goes through those two
//! imports (its own mappings and rpmalloc's, which it maps for rpmalloc).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::Memory::{MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE};
use windows_sys::Win32::System::Threading::GetCurrentThreadId;
use workloads::record::OsCalls;

use crate::imports;

type VirtualAllocFn = unsafe extern "system" fn(*const c_void, usize, u32, u32) -> *mut c_void;
type VirtualFreeFn = unsafe extern "system" fn(*mut c_void, usize, u32) -> BOOL;

/// The originals the counting functions call (0 until installed).
static VIRTUAL_ALLOC: AtomicUsize = AtomicUsize::new(0);
static VIRTUAL_FREE: AtomicUsize = AtomicUsize::new(0);

/// The game's threads, by id (0: a free place).
static GAME_THREADS: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];

/// Counts by [`Kind`].
static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

#[derive(Clone, Copy)]
enum Kind {
    Map = 0,
    Unmap = 1,
    Commit = 2,
    Decommit = 3,
    /// Any of those, on a thread that is not the game's.
    Elsewhere = 4,
}

/// Counts a call of `kind` for the calling thread.
fn count(kind: Kind) {
    // SAFETY: plain Win32 call; it does not touch the thread's last error.
    let me = unsafe { GetCurrentThreadId() };
    let game = GAME_THREADS.iter().any(|id| id.load(Relaxed) == me);
    COUNTS[if game { kind } else { Kind::Elsewhere } as usize].fetch_add(1, Relaxed);
}

unsafe extern "system" fn virtual_alloc(address: *const c_void, size: usize, kind: u32, protect: u32) -> *mut c_void {
    if kind & MEM_RESERVE != 0 {
        count(Kind::Map);
    } else if kind & MEM_COMMIT != 0 {
        count(Kind::Commit);
    }
    // SAFETY: `install` stored the original before any slot led here; the
    // arguments are the caller's, passed on unchanged.
    unsafe { std::mem::transmute::<usize, VirtualAllocFn>(VIRTUAL_ALLOC.load(Relaxed))(address, size, kind, protect) }
}

unsafe extern "system" fn virtual_free(address: *mut c_void, size: usize, kind: u32) -> BOOL {
    if kind & MEM_RELEASE != 0 {
        count(Kind::Unmap);
    } else if kind & MEM_DECOMMIT != 0 {
        count(Kind::Decommit);
    }
    // SAFETY: as in `virtual_alloc`.
    unsafe { std::mem::transmute::<usize, VirtualFreeFn>(VIRTUAL_FREE.load(Relaxed))(address, size, kind) }
}

/// Points `module`'s imports of `VirtualAlloc` and `VirtualFree` (every
/// slot of either) at the counting functions.
///
/// # Safety
/// `module` is a loaded PE32 image whose import table nothing else writes
/// meanwhile, and whose imports of those names are kernel32's.
pub unsafe fn install(module: HMODULE) -> Result<(), String> {
    let hooks: [(&std::ffi::CStr, &AtomicUsize, usize); 2] = [
        (c"VirtualAlloc", &VIRTUAL_ALLOC, virtual_alloc as *const () as usize),
        (c"VirtualFree", &VIRTUAL_FREE, virtual_free as *const () as usize),
    ];
    for (name, original, hook) in hooks {
        // SAFETY: the caller's contract.
        for slot in unsafe { imports::slots(module, name) }? {
            let mut differs = false;
            // SAFETY: a slot of the module's import table, nothing else
            // writes it; the hook has the function's signature, and the
            // original it calls is stored before the slot leads to it.
            unsafe {
                imports::point(slot, hook, |held| {
                    if held != hook {
                        let first = original.compare_exchange(0, held, Relaxed, Relaxed);
                        differs = first.is_err_and(|stored| stored != held);
                    }
                })
            }?;
            if differs {
                return Err(format!("{name:?}: the module's slots lead to different functions"));
            }
        }
    }
    Ok(())
}

/// Counts the calling thread's calls as the game's from now on.
pub fn game_thread() {
    // SAFETY: plain Win32 call.
    let me = unsafe { GetCurrentThreadId() };
    for id in &GAME_THREADS {
        if id.compare_exchange(0, me, Relaxed, Relaxed).is_ok() {
            return;
        }
    }
    println!("nvse-host: os calls: more game threads than places; thread {me} counts as another");
}

/// Starts the counts over and forgets the game's threads.
pub fn reset() {
    GAME_THREADS.iter().for_each(|id| id.store(0, Relaxed));
    COUNTS.iter().for_each(|count| count.store(0, Relaxed));
}

/// The counts since [`reset`].
pub fn counts() -> OsCalls {
    let n = |kind: Kind| COUNTS[kind as usize].load(Relaxed);
    OsCalls {
        maps: n(Kind::Map),
        unmaps: n(Kind::Unmap),
        commits: n(Kind::Commit),
        decommits: n(Kind::Decommit),
        elsewhere: n(Kind::Elsewhere),
    }
}
