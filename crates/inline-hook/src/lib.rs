//! An inline hook engine for 32-bit x86 Windows.
//!
//! A hook replaces the first instructions of a function (the target) with a
//! `jmp` to another (the detour). The instructions replaced are moved, with
//! their relative branches fixed, into a trampoline that then jumps back to
//! the rest of the target: calling the trampoline calls the original.
//!
//! - [`trampoline`]: which instructions are moved and how (pure: plans from
//!   bytes and addresses, on any host).

pub mod trampoline;

pub use trampoline::{plan, Moved, Plan, PlanError, Redirect};
