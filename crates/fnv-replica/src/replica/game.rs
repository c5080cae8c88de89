//! The replica's functions and data, called and read at their addresses as
//! the game's own code and plugins do: the allocation entries where the
//! built-in profile names them, the rest where the facts file and replica/
//! put them.

use core::ffi::c_void;

use game_profile::{Profile, Role};

/// The MemoryManager singleton (the game heap's `this`).
pub const MEMORY_MANAGER: usize = 0x011F_6238;
/// `_crtheap`, the static C runtime's heap.
pub const CRT_HEAP: usize = 0x0127_05BC;
/// The pool tables: by address >> 24, and by rounded size / 4.
pub const POOLS_BY_REGION: usize = 0x011F_63B8;
pub const POOLS_BY_SIZE: usize = 0x011F_67B8;
/// The main loop's maintenance: the pool decayed next (a byte).
pub const MAINTENANCE_INDEX: usize = 0x011D_EEF5;
/// The branch of the main loop that the preload group patches.
pub const MAINTENANCE_BRANCH: usize = 0x0086_EED4;

/// The C runtime's own wrappers, through which its start-up allocates.
pub const MALLOC_CRT: usize = 0x00ED_0CDF;
pub const CALLOC_CRT: usize = 0x00ED_0D24;

/// The C runtime's start-up, in `___tmainCRTStartup`'s order.
const SECURITY_INIT_COOKIE: usize = 0x00ED_DB9A;
const HEAP_INIT: usize = 0x00ED_DB6A;
/// The C runtime's initialiser that constructs the MemoryManager (`__cinit`).
const CONSTRUCT_MEMORY_MANAGER: usize = 0x00FB_66A0;
/// The main loop (fastcall, the game's main object).
const MAIN_LOOP: usize = 0x0086_E650;

/// One allocation entry of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub role: Role,
    pub address: usize,
}

/// Every entry the built-in profile hooks, in its order.
pub fn entries() -> Vec<Entry> {
    let profile = Profile::fallout_nv().expect("the built-in profile reads (its own tests say so)");
    profile.groups.iter().flat_map(|g| &g.hooks).map(|h| Entry { role: h.role, address: h.address as usize }).collect()
}

/// Which allocator a block is of: whose size and free functions take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Heap,
    Runtime,
}

impl Entry {
    pub fn family(&self) -> Family {
        match self.role {
            Role::HeapAllocate | Role::HeapFree | Role::HeapSize | Role::HeapRealloc => Family::Heap,
            _ => Family::Runtime,
        }
    }

    /// Whether the entry makes blocks (from nothing, or by resizing).
    pub fn allocates(&self) -> bool {
        !matches!(self.role, Role::HeapFree | Role::HeapSize | Role::Msize | Role::Free)
    }
}

type HeapAllocate = unsafe extern "thiscall" fn(usize, usize) -> *mut u8;
type HeapFree = unsafe extern "thiscall" fn(usize, *mut u8);
type HeapSize = unsafe extern "thiscall" fn(usize, *mut u8) -> usize;
type HeapRealloc = unsafe extern "thiscall" fn(usize, *mut u8, usize) -> *mut u8;
/// The second reallocate of another build, which pops a third argument.
type HeapRealloc3 = unsafe extern "thiscall" fn(usize, *mut u8, usize, usize) -> *mut u8;
type Malloc = unsafe extern "C" fn(usize) -> *mut u8;
type Calloc = unsafe extern "C" fn(usize, usize) -> *mut u8;
type Realloc = unsafe extern "C" fn(*mut u8, usize) -> *mut u8;
type Recalloc = unsafe extern "C" fn(*mut u8, usize, usize) -> *mut u8;
type Msize = unsafe extern "C" fn(*mut u8) -> usize;
type Free = unsafe extern "C" fn(*mut u8);

/// The function at `address`, as type `F`.
///
/// # Safety
/// A function of signature `F` must be at `address`.
unsafe fn at<F: Copy>(address: usize) -> F {
    // SAFETY: the caller's promise; `F` is a function pointer type.
    unsafe { core::mem::transmute_copy::<usize, F>(&address) }
}

/// The game heap's Allocate, Free and first Reallocate, as the game's code
/// calls them: thiscall on the MemoryManager singleton.
const HEAP_ALLOCATE: usize = 0x00AA_3E40;
const HEAP_FREE: usize = 0x00AA_4060;
const HEAP_REALLOCATE: usize = 0x00AA_4150;

/// A block of the game heap.
///
/// # Safety
/// The MemoryManager is constructed.
pub unsafe fn heap_allocate(size: usize) -> *mut u8 {
    // SAFETY: the game heap's Allocate; the caller's promise.
    unsafe { at::<HeapAllocate>(HEAP_ALLOCATE)(MEMORY_MANAGER, size) }
}

/// Frees a block of the game heap.
///
/// # Safety
/// `p` is null or a live block of the game heap, not used again.
pub unsafe fn heap_free(p: *mut u8) {
    // SAFETY: the game heap's Free; the caller's promise.
    unsafe { at::<HeapFree>(HEAP_FREE)(MEMORY_MANAGER, p) }
}

/// A block of the game heap resized.
///
/// # Safety
/// `p` is a live block of the game heap; on success it is no longer live.
pub unsafe fn heap_reallocate(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the game heap's Reallocate (two arguments); the caller's promise.
    unsafe { at::<HeapRealloc>(HEAP_REALLOCATE)(MEMORY_MANAGER, p, size) }
}

/// How the game's code calls the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calls {
    /// The reallocate at this address pops three arguments.
    pub three_argument_realloc: Option<usize>,
}

impl Calls {
    /// A new block of `size` bytes from `entry` (resizing ones from null).
    ///
    /// # Safety
    /// The replica's start-up must have run (the C runtime's heap exists).
    pub unsafe fn allocate(&self, entry: Entry, size: usize) -> *mut u8 {
        // SAFETY: the caller's promise; each role's function has its type.
        unsafe { self.resize(entry, core::ptr::null_mut(), size) }
    }

    /// `p` resized to `size` by `entry`, a resizing (or allocating) one.
    ///
    /// # Safety
    /// `p` is null or a live block of `entry`'s family.
    pub unsafe fn resize(&self, entry: Entry, p: *mut u8, size: usize) -> *mut u8 {
        let a = entry.address;
        // SAFETY: the profile's role says each function's type (the frame
        // change says the second reallocate's); the caller's promise.
        unsafe {
            match entry.role {
                Role::HeapAllocate => at::<HeapAllocate>(a)(MEMORY_MANAGER, size),
                Role::HeapRealloc if self.three_argument_realloc == Some(a) => {
                    at::<HeapRealloc3>(a)(MEMORY_MANAGER, p, size, 0)
                }
                Role::HeapRealloc => at::<HeapRealloc>(a)(MEMORY_MANAGER, p, size),
                Role::Malloc => at::<Malloc>(a)(size),
                Role::Calloc => at::<Calloc>(a)(1, size),
                Role::Realloc => at::<Realloc>(a)(p, size),
                Role::Recalloc => at::<Recalloc>(a)(p, 1, size),
                Role::HeapFree | Role::HeapSize | Role::Msize | Role::Free => core::ptr::null_mut(),
            }
        }
    }
}

/// The entries that size and free blocks of a family.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    heap_free: usize,
    heap_size: usize,
    free: usize,
    msize: usize,
}

impl Release {
    pub fn of(entries: &[Entry]) -> Release {
        let find = |role| entries.iter().find(|e| e.role == role).map(|e| e.address).expect("the profile hooks it");
        Release {
            heap_free: find(Role::HeapFree),
            heap_size: find(Role::HeapSize),
            free: find(Role::Free),
            msize: find(Role::Msize),
        }
    }

    /// The size the family's size function answers for `p`.
    ///
    /// # Safety
    /// `p` is a live block of the family.
    pub unsafe fn size(&self, family: Family, p: *mut u8) -> usize {
        // SAFETY: the profile's roles; the caller's promise.
        unsafe {
            match family {
                Family::Heap => at::<HeapSize>(self.heap_size)(MEMORY_MANAGER, p),
                Family::Runtime => at::<Msize>(self.msize)(p),
            }
        }
    }

    /// Frees `p`.
    ///
    /// # Safety
    /// `p` is a live block of the family, not used again.
    pub unsafe fn free(&self, family: Family, p: *mut u8) {
        // SAFETY: the profile's roles; the caller's promise.
        unsafe {
            match family {
                Family::Heap => at::<HeapFree>(self.heap_free)(MEMORY_MANAGER, p),
                Family::Runtime => at::<Free>(self.free)(p),
            }
        }
    }
}

/// The C runtime's start-up up to the game's static initialisers: the
/// security cookie, `__heap_init` (whether it made the heap).
///
/// # Safety
/// Once, on the main thread, before anything allocates from the runtime.
pub unsafe fn runtime_start_up() -> bool {
    // SAFETY: the replica's start-up functions: `void (void)`, `int (void)`.
    unsafe {
        at::<unsafe extern "C" fn()>(SECURITY_INIT_COOKIE)();
        at::<unsafe extern "C" fn() -> i32>(HEAP_INIT)() != 0
    }
}

/// `__cinit`'s initialiser that constructs the MemoryManager.
///
/// # Safety
/// Once, after [`runtime_start_up`].
pub unsafe fn construct_memory_manager() {
    // SAFETY: the replica's initialiser, `void (void)`.
    unsafe { at::<unsafe extern "C" fn()>(CONSTRUCT_MEMORY_MANAGER)() }
}

/// The game's main object, which the main loop is given.
static MAIN: [u32; 16] = [0; 16];

/// One pass of the main loop.
///
/// # Safety
/// After the start-up, on the main thread.
pub unsafe fn main_loop() {
    // SAFETY: the replica's main loop, fastcall with its object in ecx.
    unsafe { at::<unsafe extern "fastcall" fn(*const c_void)>(MAIN_LOOP)(MAIN.as_ptr().cast()) }
}

/// Reads a value of the game's data at `address`.
///
/// # Safety
/// `address` is data of the replica's image of type `T`.
pub unsafe fn read<T: Copy>(address: usize) -> T {
    // SAFETY: the caller's promise; the game's data may be written by other
    // threads, so it is read as volatile.
    unsafe { core::ptr::read_volatile(address as *const T) }
}
