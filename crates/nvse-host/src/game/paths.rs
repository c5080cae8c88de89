//! The synthetic game's two allocation paths as the benchmark's allocators:
//! the game heap's thiscall methods on its object, and the static C
//! runtime's cdecl functions. Called by address, as the game's code calls
//! them: with the plugin's profile live, each call enters the function,
//! whose first bytes jump to the plugin's entry; without it, the game's own
//! code serves it (the arena and the runtime's private heap, game.c).

use workloads::Allocator;

use super::{game_calloc, game_free, game_malloc, game_realloc, heap_allocate, heap_free, heap_realloc, the_heap};

/// `GameHeap_Allocate`, `_Free` and `_Realloc` on the game's heap object.
/// The heap has no `calloc`: the engine zeroes what it asked for, as here.
pub struct GameHeapPath;

impl Allocator for GameHeapPath {
    /// Replaced by the label the benchmark finds (see `crate::bench`).
    const NAME: &'static str = "game heap";
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the heap object exists once the game started (game_cinit).
        unsafe { heap_allocate(the_heap(), size) }
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else { return std::ptr::null_mut() };
        // SAFETY: as in `malloc`; a block of `total` bytes is zeroed whole.
        unsafe {
            let p = heap_allocate(the_heap(), total);
            if !p.is_null() {
                p.write_bytes(0, total);
            }
            p
        }
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract: a live block of the game heap.
        unsafe { heap_free(the_heap(), p) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { heap_realloc(the_heap(), p, size) }
    }
}

/// The static C runtime's `malloc`, `calloc`, `realloc` and `free`.
pub struct StaticCrtPath;

impl Allocator for StaticCrtPath {
    /// Replaced by the label the benchmark finds (see `crate::bench`).
    const NAME: &'static str = "static runtime";
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the runtime's heap exists once the game started (game_crt_init).
        unsafe { game_malloc(size) }
    }
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        // SAFETY: as in `malloc`.
        unsafe { game_calloc(count, size) }
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract: a live block of the runtime.
        unsafe { game_free(p) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { game_realloc(p, size) }
    }
}
