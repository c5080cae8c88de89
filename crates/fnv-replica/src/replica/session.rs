//! A game session (`crates/workloads`) whose blocks are the game heap's:
//! made, resized and freed through MemoryManager's Allocate, Reallocate and
//! Free as the game's code calls them, so that they reach whoever serves
//! the game heap (the vanilla heaps and pools, or the plugin). The walks
//! count the address space the process holds over what it held before the
//! game's start-up, and print it as a late-install record
//! (`workloads::late`).

use workloads::late::LateRecord;
use workloads::{memory, Allocator, Space};

use super::blocks::Owner;
use super::game;
use crate::options::SessionRun;

/// The game heap as the session's allocator.
struct GameHeap;

impl Allocator for GameHeap {
    const NAME: &'static str = "game-heap";
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the start-up ran before the session.
        unsafe { game::heap_allocate(size) }
    }
    /// The game heap has no calloc: the game's code clears what it needs.
    unsafe fn calloc(count: usize, size: usize) -> *mut u8 {
        let Some(bytes) = count.checked_mul(size) else { return core::ptr::null_mut() };
        // SAFETY: the start-up ran; a block of `bytes` is cleared.
        unsafe {
            let p = game::heap_allocate(bytes);
            if !p.is_null() {
                p.write_bytes(0, bytes);
            }
            p
        }
    }
    unsafe fn free(p: *mut u8) {
        // SAFETY: forwarded contract (a live block of the game heap).
        unsafe { game::heap_free(p) }
    }
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { game::heap_reallocate(p, size) }
    }
}

/// The walk's figures: the process's own private bytes (Wine's ranges set
/// aside for later are not its own), and the largest region a reservation
/// could take (free, or one of those ranges).
pub fn walk() -> Space {
    let s = address_space::walk();
    Space {
        reserved: s.reserved_private_bytes - s.wine_reserved_bytes,
        largest_free: s.largest_free.max(s.largest_wine_reserved),
    }
}

/// What the replica knew before the session.
pub struct Before {
    /// The process's own private bytes before the game's start-up.
    pub process: u64,
    /// What the vanilla heaps and pools reserved when the plugin loaded.
    pub vanilla_reserved: u64,
    pub default_heap_mb: u32,
    pub file_heap_mb: u32,
    pub plugin_at: &'static str,
}

/// Whose block the game heap's Allocate gives now.
pub fn game_heap_owner(owner: &Owner) -> &'static str {
    // SAFETY: the start-up ran; the block is freed at once.
    let served = unsafe {
        let p = game::heap_allocate(64);
        let served = owner.owns(p);
        game::heap_free(p);
        served
    };
    if served {
        "plugin"
    } else {
        "vanilla"
    }
}

/// Runs the session and returns its record.
pub fn run(run: SessionRun, before: &Before, game_heap: &str) -> LateRecord {
    let outcome = run.session.run::<GameHeap>(run.scale, walk);
    // The session's figures are over its own baseline; these are over the
    // process's before the start-up.
    let over = |bytes: u64| (bytes + outcome.baseline_reserved_bytes).saturating_sub(before.process);
    LateRecord {
        workload: run.session.name().into(),
        platform: memory::platform(),
        plugin_at: before.plugin_at.into(),
        game_heap: game_heap.into(),
        default_heap_mb: before.default_heap_mb.into(),
        file_heap_mb: before.file_heap_mb.into(),
        vanilla_reserved_bytes: before.vanilla_reserved,
        ops: outcome.ops,
        peak_live_bytes: outcome.peak_live_bytes,
        peak_in_use_bytes: over(outcome.peak_reserved_bytes),
        live_after_drop_bytes: outcome.live_after_drop_bytes,
        in_use_after_drop_bytes: over(outcome.reserved_after_drop_bytes),
        in_use_empty_bytes: over(outcome.reserved_empty_bytes),
        min_largest_free_bytes: outcome.min_largest_free_bytes,
    }
}
