//! The safety net: the release side of every loaded C runtime DLL, hooked
//! inline.
//!
//! Import redirection is how allocations reach the heap, but a block of the
//! heap can reach a runtime's own `free` by other paths: a module that is
//! not redirected (excluded, left alone, not bound yet) freeing a block a
//! redirected module gave it, a function pointer taken before the hooks, the
//! runtime's own internals. With the runtime's `free`, `realloc`,
//! `_recalloc`, `_expand`, `_msize` and their `_aligned_*` kin hooked inline,
//! a block of the heap goes to the heap, and every other block goes on to
//! the runtime through the trampoline, untouched and uncounted: the runtime
//! keeps serving what is its own.

use core::ffi::c_void;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use heap::Function;

use crate::crt::Crt;

/// The functions the net hooks, where a runtime exports them.
pub const RELEASE: [Function; 8] = [
    Function::Free,
    Function::Realloc,
    Function::Recalloc,
    Function::Expand,
    Function::Msize,
    Function::AlignedFree,
    Function::AlignedRealloc,
    Function::AlignedMsize,
];

/// Blocks of the heap that reached a runtime's own release functions.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// How many blocks of the heap the net has sent back to it.
pub fn caught() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// What a net entry returns when it has nowhere to send a call (a runtime
/// function without trampoline is never hooked, so this is never reached).
pub trait Nothing {
    fn nothing() -> Self;
}

impl Nothing for () {
    fn nothing() {}
}

impl Nothing for usize {
    fn nothing() -> usize {
        usize::MAX
    }
}

impl Nothing for *mut c_void {
    fn nothing() -> *mut c_void {
        core::ptr::null_mut()
    }
}

/// Sends a call on block `p` to `ours` if the heap owns `p`, else to the
/// runtime's original (`theirs`, with the trampoline).
#[inline(always)]
pub fn route<F, R: Nothing>(
    p: *mut c_void,
    ours: impl FnOnce() -> R,
    theirs: impl FnOnce(F) -> R,
    original: Option<F>,
) -> R {
    if !p.is_null() && heap::owns(p) {
        CAUGHT.fetch_add(1, Ordering::Relaxed);
        return ours();
    }
    match original {
        Some(original) => theirs(original),
        None => R::nothing(),
    }
}

/// What became of one runtime's net.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetReport {
    /// The runtime's file name.
    pub runtime: &'static str,
    /// The functions hooked, or why none was.
    pub outcome: Result<u32, Refusal>,
}

/// Why a runtime has no net (its functions are then left as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// One function could not be hooked.
    Function { function: &'static str, why: String },
    /// The group could not go live.
    Group(String),
    /// This build has no inline hooks (only 32-bit x86 has).
    Unsupported,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Function { function, why } => write!(f, "{function} cannot be hooked: {why}"),
            Refusal::Group(why) => write!(f, "the hooks could not go live: {why}"),
            Refusal::Unsupported => f.write_str("no inline hooks on this architecture"),
        }
    }
}

/// Hooks the release functions `crt` exports, all or none. Call once per
/// runtime, after [`Crt::resolve`], with the loader lock held.
#[cfg(target_arch = "x86")]
pub fn install(crt: &Crt) -> NetReport {
    let outcome = hook_all(crt);
    if outcome.is_err() {
        for function in RELEASE {
            // SAFETY: 0 means "none"; no hook is live, so no net entry reads it.
            unsafe { crt.unhooked.set(function, 0) };
        }
    }
    NetReport { runtime: crt.dll, outcome }
}

#[cfg(target_arch = "x86")]
fn hook_all(crt: &Crt) -> Result<u32, Refusal> {
    let mut group = inline_hook::Transaction::new();
    for function in RELEASE {
        let target = crt.originals.get(function);
        if target == 0 {
            continue;
        }
        let id = group
            .hook(target, (crt.net_entry)(function), None)
            .map_err(|e| Refusal::Function { function: function.export_name(), why: e.to_string() })?;
        // SAFETY: the trampoline runs the original function, with its
        // signature; the net entries read it only once the group is live.
        unsafe { crt.unhooked.set(function, id.trampoline()) };
    }
    group.commit().map(|hooks| hooks.len() as u32).map_err(|e| Refusal::Group(e.to_string()))
}

#[cfg(not(target_arch = "x86"))]
pub fn install(crt: &Crt) -> NetReport {
    NetReport { runtime: crt.dll, outcome: Err(Refusal::Unsupported) }
}
