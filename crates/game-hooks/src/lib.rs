//! The game's own allocators, sent to the heap.
//!
//! The executable links its C runtime statically and serves its objects from
//! its own heap object, at fixed addresses that no import table shows. A
//! [`Profile`] names those functions; [`apply`] checks that the executable
//! is the one the profile is for, that no other heap replacer is there, and
//! then hooks each group of the profile inline, all of a group or none of it,
//! in one suspension of the process's other threads.
//!
//! | file | concern |
//! |---|---|
//! | `image` | the executable: its image, Large Address Aware, is it the profile's |
//! | `replacers` | other heap replacers, which must never run beside this one |
//! | `entries` | the functions hooked targets jump to, by role and slot |
//! | `vanilla` | the address space the vanilla heaps and pools hold (at Load) |
//!
//! Two moments:
//! - **Preload**, before the game's heaps and static initialisers exist: every
//!   group may be applied, including those that switch the vanilla heaps off
//!   (sound only because none of their blocks exists yet);
//! - **Load**, with the vanilla heaps alive: only the groups marked `any`;
//!   the vanilla heaps keep serving their old blocks, reached through the
//!   trampolines.
#![deny(unsafe_op_in_unsafe_fn)]

use std::fmt;

pub use game_profile::{Profile, ProfileError};

#[cfg(all(windows, target_arch = "x86"))]
mod apply;
#[cfg(all(windows, target_arch = "x86"))]
mod entries;
#[cfg(all(windows, target_arch = "x86"))]
mod image;
#[cfg(all(windows, target_arch = "x86"))]
mod replacers;
#[cfg(all(windows, target_arch = "x86"))]
pub mod vanilla;

#[cfg(all(windows, target_arch = "x86"))]
pub use apply::{apply, overwritten};
#[cfg(all(windows, target_arch = "x86"))]
pub use image::{Executable, Mismatch};
#[cfg(all(windows, target_arch = "x86"))]
pub use replacers::KNOWN as KNOWN_REPLACERS;

/// When the hooks go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// `NVSEPlugin_Preload`: before the game's heaps exist.
    Preload,
    /// `NVSEPlugin_Load`: the game's heaps hold blocks already.
    Load,
}

impl Moment {
    pub fn name(self) -> &'static str {
        match self {
            Moment::Preload => "Preload",
            Moment::Load => "Load",
        }
    }
}

/// What the settings allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// Groups that hook the game heap's methods (`[GameHeap] Enabled`).
    pub game_heap: bool,
    /// Groups that hook the static C runtime (`[GameHeap] StaticCrt`).
    pub static_crt: bool,
    /// Groups of raw patches (`[GameHeap] DisableVanillaHeaps`).
    pub vanilla_heaps_off: bool,
    /// Groups that hook the game heap's methods, at Load too (`[GameHeap]
    /// AtLoad = plugin`); else they are applied at Preload only.
    pub game_heap_at_load: bool,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether the executable is Large Address Aware (`None`: unknown).
    pub large_address_aware: Option<bool>,
    /// Every group was skipped, and why; else each group's outcome.
    pub outcome: Result<Vec<GroupReport>, Skipped>,
}

/// Why no group was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The executable's headers cannot be read.
    NoExecutable,
    /// The executable is not the one the profile is for.
    NotThisExecutable(String),
    /// Another heap replacer is loaded, or has hooked a target.
    OtherReplacer(String),
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::NoExecutable => f.write_str("the executable's headers cannot be read"),
            Skipped::NotThisExecutable(why) => write!(f, "not the executable of the profile: {why}"),
            Skipped::OtherReplacer(why) => write!(f, "another heap replacer is present: {why}"),
        }
    }
}

/// One group's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub name: String,
    pub outcome: GroupOutcome,
}

/// What became of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Live: this many functions hooked and raw patches written.
    Live { hooks: usize, patches: usize },
    /// Switched off by this setting.
    Off(&'static str),
    /// A `preload` group at Load.
    NeedsPreload,
    /// A group of the game heap at Load, left to the vanilla heaps.
    VanillaAtLoad,
    /// A group it requires did not go live.
    NeedsGroup(String),
    /// Refused, nothing of it written: the target and the reason.
    Refused(String),
}

impl fmt::Display for GroupOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupOutcome::Live { hooks, patches } => write!(f, "live: {hooks} function(s) hooked, {patches} patch(es)"),
            GroupOutcome::Off(key) => write!(f, "off ({key} = 0)"),
            GroupOutcome::NeedsPreload => {
                f.write_str("skipped: only at Preload, before the game's heaps hold blocks (the plugin loaded at Load)")
            }
            GroupOutcome::VanillaAtLoad => f.write_str(
                "left to the vanilla heaps, which hold their address space since the game started ([GameHeap] AtLoad = vanilla)",
            ),
            GroupOutcome::NeedsGroup(name) => write!(f, "skipped: it needs group {name:?}, which is not live"),
            GroupOutcome::Refused(why) => write!(f, "left alone, nothing written: {why}"),
        }
    }
}

/// Bytes as `8B FF 55`.
#[cfg_attr(not(all(windows, target_arch = "x86")), allow(dead_code))]
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            write!(f, "{}{byte:02X}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_sentences() {
        assert_eq!(GroupOutcome::Live { hooks: 5, patches: 0 }.to_string(), "live: 5 function(s) hooked, 0 patch(es)");
        assert_eq!(GroupOutcome::Off("[GameHeap] StaticCrt").to_string(), "off ([GameHeap] StaticCrt = 0)");
        assert_eq!(
            GroupOutcome::NeedsGroup("game-heap".into()).to_string(),
            "skipped: it needs group \"game-heap\", which is not live"
        );
        assert_eq!(Hex(&[0x8B, 0xFF, 0x55]).to_string(), "8B FF 55");
        assert_eq!(
            GroupOutcome::VanillaAtLoad.to_string(),
            "left to the vanilla heaps, which hold their address space since the game started \
             ([GameHeap] AtLoad = vanilla)"
        );
    }
}
