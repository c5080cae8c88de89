//! The functions a hooked target jumps to, one per role and slot.
//!
//! A role may be hooked at more than one address (the C runtime's public
//! `malloc` and its internal `__malloc_crt` wrapper are both `malloc`), and
//! each address has its own trampoline: the entry of slot `K` of a role
//! reads slot `K`'s originals, so that a request it sends on reaches the
//! very function that was called (the wrapper keeps its retry loop). The
//! slots are const generics: `malloc::<0>` and `malloc::<1>` are distinct
//! functions with no code of their own to maintain.
//!
//! - The static C runtime's roles (cdecl) are the C runtime family of the
//!   heap crate, with an [`Originals`] per slot whose functions are
//!   trampolines: a block the heap does not own goes to the original, a
//!   request the heap cannot serve is tried there.
//! - The game heap's roles (thiscall, the heap object in ECX) keep the
//!   object for the original: a block of ours is served here, any other
//!   goes to the original method through its trampoline, with its `this`.
//!   A block of ours the game frees (or moves out of) is delayed
//!   (`heap::delay`): the engine reads some objects after it freed them.
//!
//! A request the heap cannot serve, even after it gave back what it caches
//! and its emergency reserve (`heap::oom`, which logs it), goes where the
//! game would have served it:
//! - the static C runtime's, to the original function, on the runtime's own
//!   heap (`_crtheap`): null if that has no room either, as the runtime's
//!   own `malloc` returns (before the runtime made its heap, the original
//!   ends the process; the log has said why first);
//! - the game heap's allocate, to the original allocate while the vanilla
//!   heaps exist (with its own last resorts); once a group of patches
//!   switched them off ([`vanilla_heaps_off`]), to the static C runtime's
//!   original `malloc` instead: the original allocate would find no heap
//!   and end there anyway. Null if that has no room: the engine, which
//!   never checks, will crash, as it would with any replacer that gives up.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use game_profile::Role;
use heap::{Function, Originals};

/// Addresses a role can be hooked at (the built-in profile uses two).
pub const SLOTS: usize = 4;

/// Set once a group of patches switched the vanilla heaps off.
static VANILLA_HEAPS_OFF: AtomicBool = AtomicBool::new(false);

/// Tells the game heap's entries that the vanilla heaps no longer exist: a
/// request the heap cannot serve goes to the static C runtime's original
/// `malloc`, not to the original allocate.
pub fn vanilla_heaps_off() {
    VANILLA_HEAPS_OFF.store(true, Ordering::Release);
}

/// The static C runtime's originals, by role and slot.
static CRT: [[Originals; SLOTS]; 6] = [const { [const { Originals::new() }; SLOTS] }; 6];

/// The game heap's trampolines, by role and slot (0: none).
static HEAP: [[AtomicUsize; SLOTS]; 4] = [const { [const { AtomicUsize::new(0) }; SLOTS] }; 4];

/// No originals: the game heap's entries call the heap for its own blocks
/// only, and the original methods themselves for everything else.
static NONE: Originals = Originals::new();

/// The static C runtime's roles, in [`CRT`]'s order, with the heap crate's
/// function each stands for.
const CRT_ROLES: [(Role, Function); 6] = [
    (Role::Malloc, Function::Malloc),
    (Role::Calloc, Function::Calloc),
    (Role::Realloc, Function::Realloc),
    (Role::Recalloc, Function::Recalloc),
    (Role::Msize, Function::Msize),
    (Role::Free, Function::Free),
];

/// The index of a C runtime role in [`CRT`].
fn crt_index(role: Role) -> Option<usize> {
    CRT_ROLES.iter().position(|&(r, _)| r == role)
}

/// The index of a game heap role in [`HEAP`].
fn heap_index(role: Role) -> Option<usize> {
    Some(match role {
        Role::HeapAllocate => 0,
        Role::HeapFree => 1,
        Role::HeapSize => 2,
        Role::HeapRealloc => 3,
        _ => return None,
    })
}

/// The entry of `role`'s slot `slot`, or `None` past [`SLOTS`].
pub fn entry(role: Role, slot: usize) -> Option<usize> {
    macro_rules! per_slot {
        ($f:ident: $ty:ty) => {
            [$f::<0> as $ty as usize, $f::<1> as $ty as usize, $f::<2> as $ty as usize, $f::<3> as $ty as usize]
        };
    }
    let table = match role {
        Role::Malloc => per_slot!(crt_malloc: heap::crt::MallocFn),
        Role::Calloc => per_slot!(crt_calloc: heap::crt::CallocFn),
        Role::Realloc => per_slot!(crt_realloc: heap::crt::ReallocFn),
        Role::Recalloc => per_slot!(crt_recalloc: heap::crt::RecallocFn),
        Role::Msize => per_slot!(crt_msize: heap::crt::MsizeFn),
        Role::Free => per_slot!(crt_free: heap::crt::FreeFn),
        Role::HeapAllocate => per_slot!(heap_allocate: HeapAllocateFn),
        Role::HeapFree => per_slot!(heap_free: HeapFreeFn),
        Role::HeapSize => per_slot!(heap_size: HeapSizeFn),
        Role::HeapRealloc => per_slot!(heap_realloc: HeapReallocFn),
    };
    table.get(slot).copied()
}

/// The trampolines of one group, by role and slot, before it goes live.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Trampolines {
    entries: Vec<(Role, usize, usize)>,
}

impl Trampolines {
    /// Records `trampoline` as the original of `role`'s slot `slot`.
    pub fn add(&mut self, role: Role, slot: usize, trampoline: usize) {
        self.entries.push((role, slot, trampoline));
    }

    /// The first slot's trampoline of `role`, if the group hooks it.
    fn first(&self, role: Role) -> Option<usize> {
        self.entries.iter().filter(|e| e.0 == role).min_by_key(|e| e.1).map(|e| e.2)
    }

    /// Publishes them where the entries read them. Call before the group
    /// goes live; nothing reads a slot before its target jumps to it.
    pub fn publish(&self) {
        for &(role, slot, trampoline) in &self.entries {
            if let Some(index) = heap_index(role) {
                HEAP[index][slot].store(trampoline, Ordering::Release);
            }
            let Some(index) = crt_index(role) else { continue };
            let originals = &CRT[index][slot];
            // A slot sends its own function to its own trampoline, and the
            // others of the family to their first slot's.
            for (other, function) in CRT_ROLES {
                let address = if other == role { Some(trampoline) } else { self.first(other) };
                // SAFETY: each trampoline runs the original function of its
                // role, whose signature and semantics are the heap crate's
                // `function` (the profile's roles are the C runtime's).
                unsafe { originals.set(function, address.unwrap_or(0)) };
            }
        }
    }
}

extern "C" fn crt_malloc<const K: usize>(size: usize) -> *mut c_void {
    heap::malloc(&CRT[0][K], size)
}

extern "C" fn crt_calloc<const K: usize>(count: usize, size: usize) -> *mut c_void {
    heap::calloc(&CRT[1][K], count, size)
}

/// # Safety
/// The game's contract for `realloc`: `p` is null or a live block.
unsafe extern "C" fn crt_realloc<const K: usize>(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract; blocks not ours belong to this runtime.
    unsafe { heap::realloc(&CRT[2][K], p, size) }
}

/// # Safety
/// As for [`crt_realloc`].
unsafe extern "C" fn crt_recalloc<const K: usize>(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { heap::recalloc(&CRT[3][K], p, count, size) }
}

/// # Safety
/// `p` is a live block.
unsafe extern "C" fn crt_msize<const K: usize>(p: *mut c_void) -> usize {
    // SAFETY: forwarded contract.
    unsafe { heap::msize(&CRT[4][K], p) }
}

/// # Safety
/// `p` is null or a live block, not used again.
unsafe extern "C" fn crt_free<const K: usize>(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { heap::free(&CRT[5][K], p) }
}

type HeapAllocateFn = unsafe extern "thiscall" fn(*mut c_void, usize) -> *mut c_void;
type HeapFreeFn = unsafe extern "thiscall" fn(*mut c_void, *mut c_void);
type HeapSizeFn = unsafe extern "thiscall" fn(*mut c_void, *mut c_void) -> usize;
type HeapReallocFn = unsafe extern "thiscall" fn(*mut c_void, *mut c_void, usize) -> *mut c_void;

/// The original method of game heap role `index`, slot `slot`.
#[inline(always)]
fn original<F: Copy>(index: usize, slot: usize) -> Option<F> {
    let address = HEAP[index][slot].load(Ordering::Acquire);
    // SAFETY: `publish` stores in `HEAP[index]` only trampolines of the
    // role `index` stands for, whose signature `F` is (each caller names
    // its own role's type); 0 means none.
    (address != 0).then(|| unsafe { core::mem::transmute_copy::<usize, F>(&address) })
}

/// A block for a request of the game heap's the heap cannot serve, from
/// where the game would have had it (see the top of this file): slot `slot`
/// of the original allocate, or the static C runtime's original `malloc`.
#[cold]
fn allocate_original(this: *mut c_void, size: usize, slot: usize) -> *mut c_void {
    if VANILLA_HEAPS_OFF.load(Ordering::Acquire) {
        return match CRT[0][0].malloc() {
            // SAFETY: the static C runtime's original malloc (its trampoline).
            Some(malloc) => unsafe { malloc(size) },
            None => ptr::null_mut(),
        };
    }
    match original::<HeapAllocateFn>(0, slot) {
        // SAFETY: the original method, with the object the game passed.
        Some(allocate) => unsafe { allocate(this, size) },
        None => ptr::null_mut(),
    }
}

unsafe extern "thiscall" fn heap_allocate<const K: usize>(this: *mut c_void, size: usize) -> *mut c_void {
    heap::malloc_delayed_or_else(size, || allocate_original(this, size, K))
}

/// # Safety
/// The game's contract: `p` is null or a live block of the game heap.
unsafe extern "thiscall" fn heap_free<const K: usize>(this: *mut c_void, p: *mut c_void) {
    let to_original = || {
        if let Some(free) = original::<HeapFreeFn>(1, K) {
            // SAFETY: the original method, with the game's object and a
            // block (or null) that is not ours.
            unsafe { free(this, p) }
        }
    };
    // SAFETY: the game's contract: `p` is null or a live block, ours or the
    // original's, given up.
    unsafe { heap::free_delayed_or_else(p, to_original) }
}

/// # Safety
/// The game's contract: `p` is null or a pointer it holds.
unsafe extern "thiscall" fn heap_size<const K: usize>(this: *mut c_void, p: *mut c_void) -> usize {
    if !p.is_null() && heap::owns(p) {
        // SAFETY: a live block of ours.
        return unsafe { heap::msize(&NONE, p) };
    }
    match original::<HeapSizeFn>(2, K) {
        // SAFETY: the original method, which answers 0 for what no heap owns.
        Some(size) => unsafe { size(this, p) },
        None => 0,
    }
}

/// # Safety
/// The game's contract: `p` is null or a live block of the game heap.
unsafe extern "thiscall" fn heap_realloc<const K: usize>(
    this: *mut c_void,
    p: *mut c_void,
    size: usize,
) -> *mut c_void {
    if p.is_null() {
        // SAFETY: allocating has no precondition.
        return unsafe { heap_allocate::<0>(this, size) };
    }
    if !heap::owns(p) {
        return match original::<HeapReallocFn>(3, K) {
            // SAFETY: the original method, with the game's object and block.
            Some(realloc) => unsafe { realloc(this, p, size) },
            None => ptr::null_mut(),
        };
    }
    // The game's resize always hands back a block, even for 0 bytes; one
    // the heap cannot resize moves to where the game would have had it.
    let size = size.max(1);
    // SAFETY: a live block of ours, by the game's contract and `owns`.
    unsafe { heap::realloc_or_else(p, size, || allocate_original(this, size, 0)) }
}
