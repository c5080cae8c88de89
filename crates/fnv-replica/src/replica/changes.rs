//! Changes to the executable's code before anything runs: another heap
//! mod's jump, another build's bytes, xNVSE's heap sizes.

use core::sync::atomic::{AtomicU32, Ordering};

use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_EXECUTE_READWRITE};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::heap_sizes;
use crate::options::HeapSizes;

/// MemoryManager::Free, whose start another heap mod's jump replaces.
pub const FREE: usize = 0x00AA_4060;
/// A byte of the bytes that identify the executable (`test ecx, ecx`'s
/// opcode in MemoryManager::Allocate): another build's `test cl, cl`
/// (84 C9) does the same.
const IDENTITY_BYTE: usize = 0x00AA_3E4F;
/// The second reallocate's `ret 8`: another build's `ret 0Ch` pops a third
/// argument.
pub const SECOND_REALLOC: usize = 0x00AA_4200;
const SECOND_REALLOC_RET: usize = 0x00AA_4289;

/// Calls of the other mod's Free.
pub static OTHER_FREE_CALLS: AtomicU32 = AtomicU32::new(0);

// The other mod's Free: counts the call, runs the three instructions its
// jump replaced (push ebp; mov ebp, esp; sub esp, 14h) and goes on in the
// game's Free after them, as simple hook mods do.
core::arch::global_asm!(
    ".globl _replica_other_mod_free",
    "_replica_other_mod_free:",
    "    lock inc dword ptr [{calls}]",
    "    push ebp",
    "    mov ebp, esp",
    "    sub esp, 0x14",
    "    push 0x00AA4066",
    "    ret",
    calls = sym OTHER_FREE_CALLS,
);

extern "C" {
    fn replica_other_mod_free();
}

/// Writes `bytes` over the code at `address`.
///
/// # Safety
/// `address` must be code of this executable that no thread runs meanwhile,
/// and the bytes must leave it correct code.
pub unsafe fn write(address: usize, bytes: &[u8]) -> Result<(), String> {
    let mut old = 0;
    // SAFETY: code pages of this image; the caller's promise.
    unsafe {
        if VirtualProtect(address as *const _, bytes.len(), PAGE_EXECUTE_READWRITE, &mut old) == 0 {
            return Err(format!("VirtualProtect: {}", std::io::Error::last_os_error()));
        }
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len());
        VirtualProtect(address as *const _, bytes.len(), old, &mut old);
        FlushInstructionCache(GetCurrentProcess(), address as *const _, bytes.len());
    }
    Ok(())
}

/// Another heap mod's hook: MemoryManager::Free starts with `jmp` to its own.
pub fn other_free() -> Result<String, String> {
    let to = replica_other_mod_free as *const () as usize;
    let mut jump = [0xE9, 0, 0, 0, 0];
    jump[1..].copy_from_slice(&(to.wrapping_sub(FREE + 5) as u32).to_le_bytes());
    // SAFETY: nothing runs yet; the jump goes to a function that does what
    // the bytes it replaces did, then the rest of Free.
    unsafe { write(FREE, &jump) }?;
    Ok(format!("other-free from=0x{FREE:08x} to=0x{to:08x}"))
}

/// Another build's identity: one byte differs, the code does the same.
pub fn other_identity() -> Result<String, String> {
    // SAFETY: nothing runs yet; `84 C9` (test cl, cl) sets the flags the
    // following jnz reads as `85 C9` (test ecx, ecx) does on a byte.
    unsafe { write(IDENTITY_BYTE, &[0x84]) }?;
    Ok(format!("other-identity at=0x{IDENTITY_BYTE:08x} byte=84"))
}

/// Another build's second reallocate, popping three arguments.
pub fn realloc_three_arguments() -> Result<String, String> {
    // SAFETY: nothing runs yet; its callers here pass a third argument.
    unsafe { write(SECOND_REALLOC_RET, &[0xC2, 0x0C, 0x00]) }?;
    Ok(format!("realloc-three-arguments at=0x{SECOND_REALLOC_RET:08x} bytes=C2.0C.00"))
}

/// xNVSE's `[Memory]` sizes, written as its loader writes them; its log
/// lines, and the sizes in force (MB, Default and File).
pub fn heap_sizes(sizes: HeapSizes) -> Result<(Vec<String>, u32, u32), String> {
    let mut lines = Vec::new();
    let mut in_force = [heap_sizes::DEFAULT.vanilla_mb, heap_sizes::FILE.vanilla_mb];
    for ((heap, asked), mb) in
        [(heap_sizes::DEFAULT, sizes.default_mb), (heap_sizes::FILE, sizes.file_mb)].into_iter().zip(&mut in_force)
    {
        let Some(asked) = asked else { continue };
        let applied = heap.apply(asked);
        if applied.written {
            let bytes = heap_sizes::Heap::bytes(applied.mb).to_le_bytes();
            // SAFETY: nothing runs yet; the dword is the immediate of the
            // game's `push` of the heap's size (the facts), which the
            // game's code then passes on unchanged.
            unsafe { write(heap.address, &bytes) }?;
        }
        *mb = applied.mb;
        lines.extend(applied.lines);
    }
    Ok((lines, in_force[0], in_force[1]))
}

/// Calls of the other mod's Free so far.
pub fn other_free_calls() -> u32 {
    OTHER_FREE_CALLS.load(Ordering::Relaxed)
}
