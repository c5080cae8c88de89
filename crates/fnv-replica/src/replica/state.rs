//! What the vanilla heaps, pools and C runtime hold: read from the game's
//! own data and from the account the replica's C keeps of them.

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Memory::{HeapLock, HeapUnlock, HeapWalk, PROCESS_HEAP_ENTRY};
use windows_sys::Win32::System::SystemServices::PROCESS_HEAP_ENTRY_BUSY;

use super::game::{self, CRT_HEAP, MAINTENANCE_INDEX, MEMORY_MANAGER, POOLS_BY_REGION, POOLS_BY_SIZE};

/// replica.h's `struct ReplicaState`.
#[repr(C)]
struct ReplicaState {
    heaps_created: i32,
    pools_created: i32,
    reserved: i64,
    maintenance_calls: i32,
    frames: i32,
}

extern "C" {
    static replica_state: ReplicaState;
    static replica_startup_blocks: [*mut u8; 3];
    fn replica_vanilla_blocks() -> i32;
    fn replica_enter_game();
}

/// The state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The MemoryManager's `initialized` and heap count.
    pub initialized: bool,
    pub heap_count: u16,
    /// Pool table entries set, of both tables.
    pub pool_entries: usize,
    /// The replica's account: heaps and pools made, address space reserved.
    pub heaps_created: i32,
    pub pools_created: i32,
    pub reserved: i64,
    /// Blocks live in the vanilla heaps and pools.
    pub vanilla_blocks: i32,
    /// Whether the C runtime's heap exists, and its blocks in use.
    pub crt_heap: bool,
    pub crt_blocks: usize,
    /// The pool the maintenance decays next, and how often a decay ran.
    pub maintenance_index: u8,
    pub maintenance_calls: i32,
}

impl State {
    /// Reads it. Best with no other thread allocating meanwhile.
    pub fn now() -> State {
        // SAFETY: the game's data at its addresses, of the types replica.h gives.
        let (initialized, heap_count, index, crt) = unsafe {
            (
                game::read::<u8>(MEMORY_MANAGER) != 0,
                game::read::<u16>(MEMORY_MANAGER + 2),
                game::read::<u8>(MAINTENANCE_INDEX),
                game::read::<HANDLE>(CRT_HEAP),
            )
        };
        let pool_entries = (0..256)
            .flat_map(|i| [POOLS_BY_REGION + 4 * i, POOLS_BY_SIZE + 4 * i])
            // SAFETY: both tables are 256 pointers of the game's data.
            .filter(|&entry| unsafe { game::read::<usize>(entry) } != 0)
            .count();
        // SAFETY: the C account, written with interlocked operations; a
        // plain read of each field is enough between the steps checked.
        let account = unsafe { core::ptr::read_volatile(&raw const replica_state) };
        State {
            initialized,
            heap_count,
            pool_entries,
            heaps_created: account.heaps_created,
            pools_created: account.pools_created,
            reserved: account.reserved,
            // SAFETY: reads counters under the heaps' and pools' own locks.
            vanilla_blocks: unsafe { replica_vanilla_blocks() },
            crt_heap: !crt.is_null(),
            crt_blocks: busy_blocks(crt),
            maintenance_index: index,
            maintenance_calls: account.maintenance_calls,
        }
    }
}

/// The blocks in use in a Win32 heap (0 for none).
fn busy_blocks(heap: HANDLE) -> usize {
    if heap.is_null() {
        return 0;
    }
    // SAFETY: a heap of this process; walked under its lock, which no code
    // here holds while taking another.
    unsafe {
        if HeapLock(heap) == 0 {
            return 0;
        }
        let mut entry: PROCESS_HEAP_ENTRY = core::mem::zeroed();
        let mut busy = 0;
        while HeapWalk(heap, &mut entry) != 0 {
            busy += usize::from(entry.wFlags & PROCESS_HEAP_ENTRY_BUSY as u16 != 0);
        }
        HeapUnlock(heap);
        busy
    }
}

/// The blocks the MemoryManager's construction keeps for good.
pub fn startup_blocks() -> [*mut u8; 3] {
    // SAFETY: written once by the constructor, before anyone reads them.
    unsafe { core::ptr::read_volatile(&raw const replica_startup_blocks) }
}

/// The player appears: the game is on, and the main loop asks its state.
pub fn enter_game() {
    // SAFETY: sets the player pointer of the replica's data.
    unsafe { replica_enter_game() }
}
