//! An inline hook engine for 32-bit x86 Windows.
//!
//! A hook replaces the first instructions of a function (the target) with a
//! `jmp` to another (the detour). The instructions replaced are moved, with
//! their relative branches fixed, into a trampoline that then jumps back to
//! the rest of the target: calling the trampoline calls the original.
//!
//! - [`trampoline`]: which instructions are moved and how (pure: plans from
//!   bytes and addresses, on any host);
//! - [`hook`]: the bytes written at a target, and the hooks handed out;
//! - `buffer`: the pages trampolines live in (Windows);
//! - `freeze`: suspending the other threads around the writes (Windows);
//! - `write`: each patch written so that a thread not suspended never runs
//!   it half-written (Windows);
//! - [`Transaction`]: a group of hooks that goes live in one suspension, or
//!   not at all (Windows).
//!
//! ```ignore
//! let mut group = Transaction::new();
//! let id = group.hook(target, detour as usize, Some(&[0x8B, 0xFF, 0x55, 0x8B, 0xEC]))?;
//! ORIGINAL.store(id.trampoline(), Ordering::Release); // before the detour can run
//! let hooks = group.commit()?;
//! ```

mod error;
pub mod hook;
pub mod trampoline;

#[cfg(all(windows, target_arch = "x86"))]
mod buffer;
#[cfg(all(windows, target_arch = "x86"))]
mod freeze;
#[cfg(all(windows, target_arch = "x86"))]
mod transaction;
#[cfg(all(windows, target_arch = "x86"))]
mod write;

pub use error::{Error, GroupError};
#[cfg(all(windows, target_arch = "x86"))]
pub use freeze::threads_moved;
#[cfg(all(windows, target_arch = "x86"))]
pub use hook::read_code;
pub use hook::{Hook, HookId};
pub use trampoline::{first_redirect, plan, Moved, Plan, PlanError, Redirect};
#[cfg(all(windows, target_arch = "x86"))]
pub use transaction::Transaction;
