//! Threads stopped inside the real prologues while the hooks go in.
//!
//! For each hooked function and each instruction the hook's jump replaces
//! (past the first), a thread is created suspended and given the registers
//! and stack it would have had, called by the game with its arguments and
//! stopped just before that instruction. The plugin's freeze finds it there
//! and must move it to the same instruction in the trampoline; resumed once
//! the hooks are live, it finishes the call in the original function and
//! returns to a landing that records the result and ends the thread.

use core::ffi::c_void;
use std::collections::HashMap;
use std::sync::Mutex;

use game_profile::Role;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Diagnostics::Debug::{GetThreadContext, SetThreadContext, CONTEXT};
use windows_sys::Win32::System::Threading::{
    CreateThread, ExitThread, GetCurrentThreadId, ResumeThread, WaitForSingleObject, CREATE_SUSPENDED,
};

use super::game::{Entry, MEMORY_MANAGER};

/// `CONTEXT_FULL` for x86: control, integer and segment registers.
const CONTEXT_FULL: u32 = 0x0001_0007;

/// What a parked call is given, in order (after `this` for the game heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub entry: Entry,
    pub args: [usize; 3],
    pub arg_count: usize,
}

/// One thread parked in a prologue.
pub struct Parked {
    pub call: Call,
    /// Where in the function it is stopped.
    pub offset: usize,
    handle: HANDLE,
    id: u32,
}

/// How a parked thread fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    pub call: Call,
    pub offset: usize,
    /// Whether the freeze moved it out of the function's first bytes.
    pub moved: bool,
    /// What the call returned, if it finished.
    pub result: Option<usize>,
}

/// Results of the parked calls that returned, by thread.
static RETURNED: Mutex<Option<HashMap<u32, usize>>> = Mutex::new(None);

// Where a parked call returns: the result (eax) is recorded, the thread ends.
core::arch::global_asm!(
    ".globl _replica_parked_landing",
    "_replica_parked_landing:",
    "    push eax",
    "    call _replica_parked_returned",
    "    ud2",
);

extern "C" {
    fn replica_parked_landing();
}

/// Records a parked call's result and ends its thread.
#[no_mangle]
extern "C" fn replica_parked_returned(result: usize) -> ! {
    // SAFETY: a plain query of the current thread.
    let id = unsafe { GetCurrentThreadId() };
    let mut returned = RETURNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    returned.get_or_insert_with(HashMap::new).insert(id, result);
    drop(returned);
    // SAFETY: ends this thread, which runs nothing of Rust's past here.
    unsafe { ExitThread(0) }
}

/// A parked thread's start routine: it never runs, the thread starts in the
/// prologue instead.
unsafe extern "system" fn never(_: *mut c_void) -> u32 {
    0
}

/// What the instruction at the start of `code` does, as far as prologues
/// go: its length, the value it pushes (`push ebp` pushes `ebp`), and whether
/// it sets `ebp` to the stack pointer; `None` for an instruction that cannot
/// be stepped over here.
fn step(code: &[u8], ebp: u32) -> Option<(usize, Option<u32>, bool)> {
    match code {
        [0x55, ..] => Some((1, Some(ebp), false)),  // push ebp
        [0x8B, 0xEC, ..] => Some((2, None, true)),  // mov ebp, esp
        [0x8B, 0xFF, ..] => Some((2, None, false)), // mov edi, edi
        [0x6A, imm, ..] => Some((2, Some(*imm as i8 as i32 as u32), false)), // push imm8
        [0x68, a, b, c, d, ..] => Some((5, Some(u32::from_le_bytes([*a, *b, *c, *d])), false)), // push imm32
        _ => None,
    }
}

/// A stack being built downwards from its pointer.
struct Stack(u32);

impl Stack {
    /// # Safety
    /// The four bytes below the pointer must be writable stack.
    unsafe fn push(&mut self, value: u32) {
        self.0 -= 4;
        // SAFETY: the caller's promise.
        unsafe { (self.0 as *mut u32).write(value) };
    }
}

/// Parks a thread in `call`'s function, `offset` bytes in (an instruction
/// start). `None` if the instructions before it cannot be stepped over.
pub fn park(call: Call, offset: usize) -> Result<Parked, String> {
    let address = call.entry.address;
    // SAFETY: reads the function's first bytes, code of this image.
    let code = unsafe { core::slice::from_raw_parts(address as *const u8, offset + 8) }.to_vec();
    let mut id = 0;
    // SAFETY: creates a suspended thread of this process; its handle is ours.
    let handle =
        unsafe { CreateThread(core::ptr::null(), 0, Some(never), core::ptr::null(), CREATE_SUSPENDED, &mut id) };
    if handle.is_null() {
        return Err(format!("CreateThread: {}", std::io::Error::last_os_error()));
    }
    let parked = Parked { call, offset, handle, id };
    // SAFETY: the thread is ours, suspended and has never run; its stack is
    // written below its first stack pointer, as its own calls would.
    unsafe { parked.set_up(&code) }.map(|()| parked)
}

impl Parked {
    /// Gives the suspended thread the stack and registers of the call
    /// stopped at its offset.
    ///
    /// # Safety
    /// The thread must be suspended and never have run.
    unsafe fn set_up(&self, code: &[u8]) -> Result<(), String> {
        // SAFETY: CONTEXT is plain data; the thread is suspended.
        let mut context: CONTEXT = unsafe { core::mem::zeroed() };
        context.ContextFlags = CONTEXT_FULL;
        // SAFETY: a suspended thread of ours; `context` is a valid buffer.
        if unsafe { GetThreadContext(self.handle, &mut context) } == 0 {
            return Err(format!("GetThreadContext: {}", std::io::Error::last_os_error()));
        }
        // As called: arguments, then the return address (the landing).
        let mut stack = Stack((context.Esp - 0x400) & !15);
        for &arg in self.call.args[..self.call.arg_count].iter().rev() {
            // SAFETY: within the thread's committed stack, below its start.
            unsafe { stack.push(arg as u32) };
        }
        // SAFETY: as above.
        unsafe { stack.push(replica_parked_landing as *const () as u32) };
        let mut ebp = 0x0BAD_F00Du32;
        let mut at = 0;
        while at < self.offset {
            let (len, pushed, frame) =
                step(&code[at..], ebp).ok_or_else(|| format!("an instruction {at} bytes in that is not stepped"))?;
            if let Some(value) = pushed {
                // SAFETY: as above.
                unsafe { stack.push(value) };
            }
            if frame {
                ebp = stack.0;
            }
            at += len;
        }
        if at != self.offset {
            return Err(format!("{} bytes in is inside an instruction", self.offset));
        }
        let esp = stack.0;
        context.Esp = esp;
        context.Ebp = ebp;
        context.Eip = (self.call.entry.address + self.offset) as u32;
        context.Ecx = MEMORY_MANAGER as u32;
        // SAFETY: the thread is suspended; the registers describe the call.
        if unsafe { SetThreadContext(self.handle, &context) } == 0 {
            return Err(format!("SetThreadContext: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Whether the thread is still where it was parked (not moved).
    fn at_its_place(&self) -> bool {
        // SAFETY: CONTEXT is plain data; the thread is still suspended by us.
        let mut context: CONTEXT = unsafe { core::mem::zeroed() };
        context.ContextFlags = CONTEXT_FULL;
        // SAFETY: a suspended thread of ours.
        let read = unsafe { GetThreadContext(self.handle, &mut context) } != 0;
        read && context.Eip as usize == self.call.entry.address + self.offset
    }

    /// Resumes the thread and waits (up to 10 s) for its call to return.
    pub fn finish(self) -> Fate {
        let moved = !self.at_its_place();
        // SAFETY: our thread's handle: resumed once, waited for, closed.
        let ended = unsafe {
            ResumeThread(self.handle);
            let ended = WaitForSingleObject(self.handle, 10_000) == WAIT_OBJECT_0;
            CloseHandle(self.handle);
            ended
        };
        let returned = RETURNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = returned.as_ref().and_then(|r| r.get(&self.id).copied()).filter(|_| ended);
        Fate { call: self.call, offset: self.offset, moved, result }
    }
}

/// The instruction starts the hook's jump replaces, past the first.
pub fn offsets(entry: Entry) -> Vec<usize> {
    // SAFETY: the function's first bytes, code of this image.
    let code = unsafe { core::slice::from_raw_parts(entry.address as *const u8, inline_hook::trampoline::LOOKAHEAD) };
    match inline_hook::plan(code, entry.address, 0x1000_0000) {
        Ok(plan) => plan.offsets().iter().map(|m| m.old).filter(|&old| old > 0).collect(),
        Err(_) => Vec::new(),
    }
}

/// The arguments of a parked call of `entry` (without `this`), given an
/// old block of its family and the size asked for.
pub fn call_of(entry: Entry, block: *mut u8, size: usize) -> Call {
    let p = block as usize;
    let (args, arg_count) = match entry.role {
        Role::HeapAllocate | Role::Malloc => ([size, 0, 0], 1),
        Role::HeapFree | Role::HeapSize | Role::Msize | Role::Free => ([p, 0, 0], 1),
        Role::HeapRealloc | Role::Realloc => ([p, size, 0], 2),
        Role::Calloc => ([1, size, 0], 2),
        Role::Recalloc => ([p, 1, size], 3),
    };
    Call { entry, args, arg_count }
}
