//! Writing patches over code that a thread may be about to run.
//!
//! The freeze suspends the threads of a list taken just before it; a thread
//! born after the list runs on while the patches are written, and may arrive
//! at a target meanwhile. Such late threads are not frozen as well: under
//! Wine, reading the registers of a thread suspended in its first instants
//! can block forever (its suspension waits on a C library lock that its
//! creator, suspended itself, holds), which would hang the game at start-up.
//! Instead the patches are written so that a thread arriving at a target's
//! first byte never runs a mix of old and new bytes, in the hot-patching way:
//!
//! 1. the first two bytes of every patch become `jmp $` (`EB FE`), each in
//!    one atomic store: a thread arriving now waits there, jumping to itself;
//! 2. a pause of [`SETTLE`] lets a thread that was already past a first byte
//!    (born after the list, inside a prologue of a few instructions) leave
//!    the bytes about to change;
//! 3. the rest of each patch is written;
//! 4. the first two bytes of each become the new ones, each in one atomic
//!    store, and the waiting threads go on into the finished patch.
//!
//! A patch of one byte is a single store, one of two a single atomic store:
//! neither needs the steps. The threads of the list are moved out of the
//! replaced bytes before anything is written.

use std::time::Duration;

use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

/// `jmp $`: a thread arriving at it waits there until the bytes change.
const SPIN: [u8; 2] = [0xEB, 0xFE];

/// How long a thread inside the first bytes of a target is given to leave
/// them: a prologue takes nanoseconds, a thread preempted there needs the
/// scheduler to run it again.
const SETTLE: Duration = Duration::from_millis(2);

/// Writes every `(address, bytes)` patch, in the steps described above.
/// Allocates nothing.
///
/// # Safety
/// The bytes of every patch must be writable and executable, every thread of
/// the list must be suspended and none inside them, each address must start
/// an instruction (a thread arriving there runs the new bytes), and the
/// patches must not overlap.
pub(crate) unsafe fn patch_all<'a>(patches: impl Iterator<Item = (usize, &'a [u8])> + Clone) {
    let long = patches.clone().filter(|(_, bytes)| bytes.len() > 2);
    if long.clone().next().is_some() {
        for (address, bytes) in long.clone() {
            // SAFETY: the caller's contract.
            unsafe { store_pair(address, SPIN) };
            flush(address, bytes.len());
        }
        std::thread::sleep(SETTLE);
        for (address, bytes) in long {
            for (i, &byte) in bytes.iter().enumerate().skip(2) {
                // SAFETY: the caller's contract; threads arriving wait at
                // the first two bytes.
                unsafe { core::ptr::write_volatile((address + i) as *mut u8, byte) };
            }
            flush(address, bytes.len());
        }
    }
    for (address, bytes) in patches {
        match *bytes {
            [] => {}
            // SAFETY: the caller's contract; a byte store is atomic.
            [only] => unsafe { core::ptr::write_volatile(address as *mut u8, only) },
            // SAFETY: the caller's contract.
            [first, second, ..] => unsafe { store_pair(address, [first, second]) },
        }
        flush(address, bytes.len());
    }
}

/// Stores two bytes at `address` in one atomic operation, aligned or not.
///
/// # Safety
/// The two bytes at `address` must be writable.
unsafe fn store_pair(address: usize, pair: [u8; 2]) {
    let value = u16::from_le_bytes(pair);
    // SAFETY: the caller's contract. `xchg` with memory is locked: the two
    // bytes change at once for every processor, even unaligned (inside a
    // cache line, as function starts are in practice, or as a split lock,
    // slower but still atomic). It touches no other memory or register.
    unsafe {
        core::arch::asm!(
            "xchg word ptr [{address}], {value:x}",
            address = in(reg) address,
            value = inout(reg) value => _,
            options(nostack, preserves_flags),
        );
    }
}

fn flush(address: usize, len: usize) {
    // SAFETY: flushes code of this process; no memory is changed.
    unsafe { FlushInstructionCache(GetCurrentProcess(), address as *const _, len) };
}
