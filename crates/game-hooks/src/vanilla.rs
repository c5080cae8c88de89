//! What the vanilla heaps of FalloutNV.exe 1.4.0.525 hold of the address
//! space once the game made them (the plugin loaded at Load): the
//! reservations of the heaps the MemoryManager lists whose vtable is the
//! Default and File heaps' (the Static heap's buffer is the C runtime's),
//! and of the small-block pools the table by address lists, each a
//! reservation of at most 16 MB at its 16 MB boundary, which the pool
//! names as its base.
//!
//! The game's data is found at the built-in profile's executable's
//! addresses (`fnv-memory.md`: the MemoryManager at 0x011F6238, its heap
//! count at +2 and heap array at +8; the pools by `address >> 24` at
//! 0x011F63B8; a heap's reservation at +0x30 and vtable 0x010A28FC, from
//! the heap constructors' decompilation; a pool's base at +0x04,
//! `alloc_flow.md`). Nothing is read before
//! `VirtualQuery` says it is committed and readable, and a reservation's
//! size is what `VirtualQuery` reports, not what the game's data says:
//! another executable, or bytes that are not what they should be, give
//! smaller figures, never a fault.

use core::ffi::c_void;
use core::mem::size_of;

use windows_sys::Win32::System::Memory::{
    VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, MEM_FREE, MEM_PRIVATE, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY,
};

const MEMORY_MANAGER: usize = 0x011F_6238;
const POOLS_BY_REGION: usize = 0x011F_63B8;
/// The Default and File heaps' vtable.
const LARGE_HEAP_VTABLE: usize = 0x010A_28FC;
/// Where a heap keeps its reservation's base, and a pool its own.
const HEAP_BASE: usize = 0x30;
const POOL_BASE: usize = 0x04;
/// The heaps the MemoryManager can list (its table by context has 66).
const MAX_HEAPS: usize = 66;
const REGION_SHIFT: u32 = 24;

/// The address space the vanilla heaps and pools hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// The Default and File heaps found, and what they reserved.
    pub heaps: u32,
    pub heap_bytes: u64,
    /// The pools found, and what they reserved.
    pub pools: u32,
    pub pool_bytes: u64,
}

impl Held {
    pub fn total(&self) -> u64 {
        self.heap_bytes + self.pool_bytes
    }
}

/// Looks at the running game's vanilla heaps and pools now.
pub fn held() -> Held {
    let mut held = Held::default();
    for base in heap_bases() {
        if let Some(bytes) = reservation(base) {
            held.heaps += 1;
            held.heap_bytes += bytes;
        }
    }
    for region in 1..256usize {
        let base = region << REGION_SHIFT;
        // SAFETY: an entry of the pool table and the pool it names, each
        // read only once it is readable.
        let named = unsafe {
            read::<usize>(POOLS_BY_REGION + region * size_of::<usize>())
                .filter(|&pool| pool != 0)
                .and_then(|pool| read::<usize>(pool + POOL_BASE))
        };
        let bytes = named.filter(|&named| named == base).and_then(|_| reservation(base));
        if let Some(bytes) = bytes.filter(|&bytes| bytes <= 1 << REGION_SHIFT) {
            held.pools += 1;
            held.pool_bytes += bytes;
        }
    }
    held
}

/// The reservations' bases of the heaps whose vtable is the Default and
/// File heaps', each once.
fn heap_bases() -> Vec<usize> {
    // SAFETY: the MemoryManager's fields, each read only once it is readable.
    let (count, heaps) = unsafe { (read::<u16>(MEMORY_MANAGER + 2), read::<usize>(MEMORY_MANAGER + 8)) };
    let (Some(count), Some(heaps)) = (count, heaps) else { return Vec::new() };
    let mut bases = Vec::new();
    for index in 0..usize::from(count).min(MAX_HEAPS) {
        // SAFETY: as above, for the heap array and each heap object.
        let base = unsafe {
            read::<usize>(heaps + index * size_of::<usize>())
                .filter(|&heap| read::<usize>(heap) == Some(LARGE_HEAP_VTABLE))
                .and_then(|heap| read::<usize>(heap + HEAP_BASE))
        };
        if let Some(base) = base.filter(|base| !bases.contains(base)) {
            bases.push(base);
        }
    }
    bases
}

/// The value at `address`, if the bytes are committed and readable.
///
/// # Safety
/// Any bits are a valid `T` (an integer).
unsafe fn read<T: Copy>(address: usize) -> Option<T> {
    let region = query(address)?;
    let end = (region.BaseAddress as usize).checked_add(region.RegionSize)?;
    let readable = PAGE_READONLY
        | PAGE_READWRITE
        | PAGE_WRITECOPY
        | PAGE_EXECUTE_READ
        | PAGE_EXECUTE_READWRITE
        | PAGE_EXECUTE_WRITECOPY;
    let ok = region.State == MEM_COMMIT
        && region.Protect & readable != 0
        && region.Protect & PAGE_GUARD == 0
        && address.checked_add(size_of::<T>()).is_some_and(|last| last <= end);
    if !ok {
        return None;
    }
    // Byte by byte, volatile: at any alignment (a wrong pointer may be
    // odd), and another thread may write them (the value is only a hint,
    // checked by the queries that follow).
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    for i in 0..size_of::<T>() {
        // SAFETY: committed, readable bytes, all in one region, into our own.
        unsafe { value.as_mut_ptr().cast::<u8>().add(i).write(core::ptr::read_volatile((address + i) as *const u8)) };
    }
    // SAFETY: every byte written; any bits are a `T` (the caller's promise).
    Some(unsafe { value.assume_init() })
}

/// The size of the private reservation that starts at `base`: every region
/// of that allocation, as `VirtualQuery` reports them.
fn reservation(base: usize) -> Option<u64> {
    let first = query(base)?;
    if first.State == MEM_FREE || first.Type != MEM_PRIVATE || first.AllocationBase as usize != base {
        return None;
    }
    let mut bytes = 0u64;
    let mut at = base;
    while let Some(region) = query(at).filter(|r| r.AllocationBase as usize == base && r.State != MEM_FREE) {
        bytes += region.RegionSize as u64;
        match at.checked_add(region.RegionSize) {
            Some(next) => at = next,
            None => break,
        }
    }
    Some(bytes)
}

fn query(address: usize) -> Option<MEMORY_BASIC_INFORMATION> {
    let mut region = MEMORY_BASIC_INFORMATION::default();
    let size = size_of::<MEMORY_BASIC_INFORMATION>();
    // SAFETY: any address may be queried; the answer goes into our structure.
    let written = unsafe { VirtualQuery(address as *const c_void, &mut region, size) };
    (written == size).then_some(region)
}
