//! Suspending every other thread of the process around a group's writes.
//!
//! While threads are suspended nothing may take a lock one of them could
//! hold, the heaps' above all: every list and buffer is allocated before the
//! first thread is suspended, and nothing here allocates after.
//!
//! The threads are those of one snapshot taken before the freeze: one born
//! after it runs on (taking another snapshot while frozen is not possible,
//! as making one allocates), and `write` writes each patch so that such a
//! thread never runs it half-written. Hooks are meant to go live early,
//! before the process's workers start.

use core::sync::atomic::{AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::Debug::{
    GetThreadContext, SetThreadContext, CONTEXT, CONTEXT_CONTROL_X86,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcessId, GetCurrentThreadId, OpenThread, ResumeThread, SuspendThread, THREAD_GET_CONTEXT,
    THREAD_QUERY_INFORMATION, THREAD_SET_CONTEXT, THREAD_SUSPEND_RESUME,
};

/// Threads moved into a trampoline so far, in the whole process.
static MOVED: AtomicUsize = AtomicUsize::new(0);

/// How many threads were found stopped in the bytes a hook replaced, and
/// moved to the same instruction in its trampoline, since the process began.
pub fn threads_moved() -> usize {
    MOVED.load(Ordering::Relaxed)
}

/// The IDs of every other thread of the process.
pub(crate) fn other_threads() -> Result<Vec<u32>, u32> {
    // SAFETY: a snapshot of the system's threads, closed below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snapshot == INVALID_HANDLE_VALUE {
        // SAFETY: reads the calling thread's last error.
        return Err(unsafe { GetLastError() });
    }
    // SAFETY: plain queries of the current process and thread.
    let (process, me) = unsafe { (GetCurrentProcessId(), GetCurrentThreadId()) };
    let mut ids = Vec::with_capacity(64);
    let mut entry = THREADENTRY32 { dwSize: core::mem::size_of::<THREADENTRY32>() as u32, ..Default::default() };
    // SAFETY: `entry` is a valid THREADENTRY32 with its size set; the
    // snapshot handle is open.
    let mut more = unsafe { Thread32First(snapshot, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == process && entry.th32ThreadID != me {
            ids.push(entry.th32ThreadID);
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snapshot, &mut entry) } != 0;
    }
    // SAFETY: closes the snapshot opened above.
    unsafe { CloseHandle(snapshot) };
    Ok(ids)
}

/// One suspended thread.
struct Thread {
    handle: HANDLE,
    /// Its registers (EIP, ESP, flags), if they could be read.
    context: Option<CONTEXT>,
    /// Whether its EIP was changed, to be written back.
    moved: bool,
}

/// The other threads, suspended until this is dropped.
pub(crate) struct Frozen {
    threads: Vec<Thread>,
}

impl Frozen {
    /// Suspends the threads `ids` and reads where each stopped. A thread
    /// that cannot be opened or suspended (it may have ended) is left alone
    /// and will not be resumed.
    pub(crate) fn suspend(ids: &[u32]) -> Frozen {
        // Every allocation happens here, before the first suspension.
        let mut frozen = Frozen { threads: Vec::with_capacity(ids.len()) };
        const ACCESS: u32 = THREAD_SUSPEND_RESUME | THREAD_GET_CONTEXT | THREAD_SET_CONTEXT | THREAD_QUERY_INFORMATION;
        for &id in ids {
            // SAFETY: opens a thread of this process by ID; the handle is
            // closed on drop or below.
            let handle = unsafe { OpenThread(ACCESS, 0, id) };
            if handle.is_null() {
                continue;
            }
            // SAFETY: a thread handle opened with THREAD_SUSPEND_RESUME.
            if unsafe { SuspendThread(handle) } == u32::MAX {
                // SAFETY: the handle opened above, not kept.
                unsafe { CloseHandle(handle) };
                continue;
            }
            // Within the capacity reserved above: no allocation.
            frozen.threads.push(Thread { handle, context: context_of(handle), moved: false });
        }
        frozen
    }

    /// Moves every thread whose EIP `map` sends elsewhere: `map(eip)` is
    /// `None` for an EIP to leave alone, `Some(Ok(new))` to move it to `new`,
    /// `Some(Err(e))` if it cannot be moved; the first such `e` is returned
    /// and nothing is moved. The changes are written back by [`apply`].
    ///
    /// [`apply`]: Frozen::apply
    pub(crate) fn move_ips<E>(&mut self, map: impl Fn(usize) -> Option<Result<usize, E>>) -> Result<(), E> {
        for thread in &self.threads {
            if let Some(Err(e)) = thread.context.and_then(|context| map(context.Eip as usize)) {
                return Err(e);
            }
        }
        for thread in &mut self.threads {
            let Some(context) = thread.context.as_mut() else { continue };
            if let Some(Ok(new)) = map(context.Eip as usize) {
                context.Eip = new as u32;
                MOVED.fetch_add(1, Ordering::Relaxed);
                thread.moved = true;
            }
        }
        Ok(())
    }

    /// Writes back the registers of the threads moved.
    pub(crate) fn apply(&self) {
        for thread in self.threads.iter().filter(|thread| thread.moved) {
            if let Some(context) = &thread.context {
                // SAFETY: the thread is suspended; the context was read from
                // it with CONTEXT_CONTROL and only its EIP changed, to the
                // same instruction in a trampoline.
                unsafe { SetThreadContext(thread.handle, context) };
            }
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for thread in &self.threads {
            // SAFETY: each handle was suspended once by `suspend` and is
            // resumed once and closed here.
            unsafe {
                ResumeThread(thread.handle);
                CloseHandle(thread.handle);
            }
        }
    }
}

/// The control registers of a suspended thread, or `None` if they cannot be
/// read (Wine refuses some of its own threads): such a thread is not moved.
fn context_of(handle: HANDLE) -> Option<CONTEXT> {
    // SAFETY: CONTEXT is plain data.
    let mut context: CONTEXT = unsafe { core::mem::zeroed() };
    context.ContextFlags = CONTEXT_CONTROL_X86;
    // SAFETY: a suspended thread's handle with THREAD_GET_CONTEXT; `context`
    // is a valid out-buffer with its flags set.
    (unsafe { GetThreadContext(handle, &mut context) } != 0).then_some(context)
}
