//! Routes every module's C runtime allocation imports to the heap.
//!
//! A module that imports `malloc` from `msvcrt.dll` calls through one word of
//! its import address table; writing the address of our entry point there
//! redirects every call the module makes, with no code patched anywhere.
//! Under that, the safety net patches the code of each runtime's own release
//! functions, so that a block of the heap that reaches the runtime by any
//! other path still comes back.
//!
//! | file | concern |
//! |---|---|
//! | [`crt`] | the runtimes, their originals and generated entry points |
//! | [`policy`] | which modules are left alone, and why |
//! | [`patch`] | one module: read its imports, redirect each runtime's slots all or nothing |
//! | [`slot`] | a group of slots: checked, then written under lifted page protection, or put back |
//! | [`loader`] | the loader lock, the module list, load notifications |
//! | [`hooks`] | installing, pending modules, rescans |
//! | [`net`] | the safety net: each runtime's own release functions, hooked inline |
//!
//! Hooks are never removed: once installed, blocks of our heap live in other
//! modules' hands, and a free that reached the runtime would corrupt its heap.
#![cfg(windows)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod crt;
pub mod hooks;
pub mod loader;
pub mod net;
pub mod patch;
pub mod policy;
pub mod slot;

pub use hooks::{has_pending, install, rescan, InstallError, Settings, Summary};
pub use patch::{LeftAlone, ModuleOutcome, ModuleReport, Reason};
pub use policy::Skip;
