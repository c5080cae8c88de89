//! Profiles: for one executable, which of its functions to hook and which
//! bytes to patch, as data, so that supporting another build of the game, or
//! a test program, is a file rather than a rebuild.
//!
//! ```toml
//! [executable]
//! name = "FalloutNV.exe 1.4.0.525"
//! [[executable.expect]]            # code that identifies the executable
//! address = 0x00AA3E40
//! bytes = "55 8B EC 83 EC 3C 89 4D D0 8B 45 D0"
//!
//! [[group]]
//! name = "game-heap"               # applied all or nothing
//! when = "any"                     # "any": at Preload or Load; "preload": only at Preload
//! [[group.hook]]
//! address = 0x00AA3E40
//! role = "heap-allocate"
//! bytes = "55 8B EC"               # optional: expected first bytes
//!
//! [[group.hook]]
//! address = 0x00AA4150
//! role = "heap-realloc"
//! [[group.hook.expect]]            # optional: bytes elsewhere in the function,
//! address = 0x00AA41D9             # here its `ret 8`: the entry pops two
//! bytes = "C2 08 00"               # arguments, as the role's does
//!
//! [[group]]
//! name = "vanilla-heaps-off"       # raw patches: `expect` is checked, then `bytes` written
//! when = "preload"
//! requires = ["game-heap"]         # optional: groups that must have gone live first
//! [[group.patch]]
//! address = 0x0086EED4
//! expect = "75 13"
//! bytes = "EB 55"
//! ```
//!
//! Expected bytes may hold `??` (or `xx`) for a byte that can be anything.
//! [`Profile::parse`] checks everything that can be checked without the
//! executable; the plugin checks the rest (the bytes) before it writes.
//!
//! A hook's `bytes` say where the function starts; its `[[group.hook.expect]]`
//! entries say what its frame is, as far as the entry that replaces it relies
//! on it: a `ret n` popping as many arguments as the role takes, say. All of a
//! hook's expected bytes are checked before anything of its group is written;
//! if any differ, the group is left alone, and the plugin's log names the
//! address and the bytes it found there.

mod pattern;

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;

pub use pattern::Pattern;

/// The profile built in for Fallout: New Vegas 1.4.0.525.
pub const FALLOUT_NV_1_4_0_525: &str = include_str!("../profiles/FalloutNV-1.4.0.525.toml");

/// One executable's profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub executable: Executable,
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
}

/// What identifies the executable.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Executable {
    pub name: String,
    /// Code bytes at fixed addresses, all of which must match.
    pub expect: Vec<Expect>,
}

/// Bytes expected at an address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub address: u32,
    pub bytes: Pattern,
}

/// Targets that go live together, or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub when: When,
    /// Groups (named earlier in the file) that must have gone live before
    /// this one is applied: switching the vanilla heaps off is only sound
    /// once their functions are hooked.
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default, rename = "hook")]
    pub hooks: Vec<Hook>,
    #[serde(default, rename = "patch")]
    pub patches: Vec<Patch>,
}

/// When a group may be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// At Preload or at Load.
    Any,
    /// Only at Preload, before the game's heaps exist.
    Preload,
}

/// A function whose calls go to the heap.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub address: u32,
    pub role: Role,
    /// The function's expected first bytes.
    #[serde(default)]
    pub bytes: Option<Pattern>,
    /// Bytes expected elsewhere in the function (its frame: a `ret n`).
    #[serde(default)]
    pub expect: Vec<Expect>,
}

/// Bytes written over others.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub address: u32,
    /// What must be there before (wildcards allowed).
    pub expect: Pattern,
    /// What is written (no wildcards).
    pub bytes: Pattern,
}

/// What a hooked function is, which fixes its calling convention and the
/// entry point that replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    HeapAllocate,
    HeapFree,
    HeapSize,
    HeapRealloc,
    Malloc,
    Calloc,
    Realloc,
    Recalloc,
    Msize,
    Free,
}

/// The two allocators of an executable a profile can hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The game's own heap object (thiscall methods).
    GameHeap,
    /// The statically linked C runtime (cdecl functions).
    StaticCrt,
}

impl Family {
    /// The roles a group must hook as soon as it hooks an allocating role
    /// of this family: without them a block of the heap would reach the
    /// original's free, size or resize.
    pub fn release_roles(self) -> &'static [Role] {
        match self {
            Family::GameHeap => &[Role::HeapFree, Role::HeapSize],
            Family::StaticCrt => &[Role::Free, Role::Msize, Role::Realloc],
        }
    }
}

/// How a role's function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// `this` in ECX, arguments on the stack, popped by the callee.
    Thiscall,
    /// Arguments on the stack, popped by the caller.
    Cdecl,
}

impl Role {
    /// Every role, in the order the profile documents them.
    pub const ALL: [Role; 10] = [
        Role::HeapAllocate,
        Role::HeapFree,
        Role::HeapSize,
        Role::HeapRealloc,
        Role::Malloc,
        Role::Calloc,
        Role::Realloc,
        Role::Recalloc,
        Role::Msize,
        Role::Free,
    ];

    /// The role's name in a profile.
    pub fn name(self) -> &'static str {
        match self {
            Role::HeapAllocate => "heap-allocate",
            Role::HeapFree => "heap-free",
            Role::HeapSize => "heap-size",
            Role::HeapRealloc => "heap-realloc",
            Role::Malloc => "malloc",
            Role::Calloc => "calloc",
            Role::Realloc => "realloc",
            Role::Recalloc => "recalloc",
            Role::Msize => "msize",
            Role::Free => "free",
        }
    }

    /// Which allocator's functions the role belongs to.
    pub fn family(self) -> Family {
        match self.convention() {
            Convention::Thiscall => Family::GameHeap,
            Convention::Cdecl => Family::StaticCrt,
        }
    }

    /// Whether a call of this role hands out new blocks.
    pub fn allocates(self) -> bool {
        matches!(self, Role::HeapAllocate | Role::Malloc | Role::Calloc)
    }

    pub fn convention(self) -> Convention {
        match self {
            Role::HeapAllocate | Role::HeapFree | Role::HeapSize | Role::HeapRealloc => Convention::Thiscall,
            _ => Convention::Cdecl,
        }
    }
}

/// Why a profile cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// 1-based line of the file, when the mistake has one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ProfileError {}

impl Group {
    /// A role whose function would receive blocks of the heap without being
    /// hooked, if the group hands out blocks of a family: such a group must
    /// not be applied (a profile may still list it, to be completed).
    pub fn missing_release_role(&self) -> Option<Role> {
        let has = |role: Role| self.hooks.iter().any(|h| h.role == role);
        let families = self.hooks.iter().filter(|h| h.role.allocates()).map(|h| h.role.family());
        families.flat_map(Family::release_roles).copied().find(|&role| !has(role))
    }

    /// The families whose functions the group hooks.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        [Family::GameHeap, Family::StaticCrt].into_iter().filter(|f| self.hooks.iter().any(|h| h.role.family() == *f))
    }
}

impl Profile {
    /// Reads and checks a profile.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError {
            line: e.span().map(|span| 1 + text[..span.start.min(text.len())].matches('\n').count()),
            message: e.message().trim().to_owned(),
        })?;
        profile.check()?;
        Ok(profile)
    }

    /// The built-in profile for Fallout: New Vegas 1.4.0.525 (its tests
    /// check that it parses; an error here is a build's own mistake).
    pub fn fallout_nv() -> Result<Profile, ProfileError> {
        Profile::parse(FALLOUT_NV_1_4_0_525)
    }

    /// What the types cannot say: something to identify the executable,
    /// groups named once and not empty, each address used once, a hook's
    /// other expected bytes not empty, patches written without wildcards and
    /// as long as what they expect, required groups named earlier.
    fn check(&self) -> Result<(), ProfileError> {
        let fail = |message: String| Err(ProfileError { line: None, message });
        if self.executable.expect.is_empty() {
            return fail(format!("{}: [[executable.expect]] needs at least one entry", self.executable.name));
        }
        let mut names = HashSet::new();
        let mut addresses = HashSet::new();
        for group in &self.groups {
            if !names.insert(group.name.as_str()) {
                return fail(format!("group {:?} is defined twice", group.name));
            }
            if group.hooks.is_empty() && group.patches.is_empty() {
                return fail(format!("group {:?} has no hook and no patch", group.name));
            }
            if let Some(unknown) = group.requires.iter().find(|r| !names.contains(r.as_str()) || *r == &group.name) {
                return fail(format!("group {:?} requires {unknown:?}, which is not a group before it", group.name));
            }

            let targets = group.hooks.iter().map(|h| h.address).chain(group.patches.iter().map(|p| p.address));
            for address in targets {
                if address == 0 || !addresses.insert(address) {
                    return fail(format!("group {:?}: address {address:#010X} is 0 or used twice", group.name));
                }
            }
            for hook in &group.hooks {
                for expect in &hook.expect {
                    if expect.address == 0 || expect.bytes.is_empty() {
                        return fail(format!(
                            "group {:?}: the hook at {:#010X} expects {} byte(s) at {:#010X}: an address and bytes are needed",
                            group.name,
                            hook.address,
                            expect.bytes.len(),
                            expect.address
                        ));
                    }
                }
            }
            for patch in &group.patches {
                if patch.bytes.is_empty() || patch.bytes.has_wildcards() {
                    return fail(format!(
                        "group {:?}: the patch at {:#010X} must write known bytes",
                        group.name, patch.address
                    ));
                }
                if patch.expect.len() < patch.bytes.len() {
                    return fail(format!(
                        "group {:?}: the patch at {:#010X} writes {} bytes but expects only {}",
                        group.name,
                        patch.address,
                        patch.bytes.len(),
                        patch.expect.len()
                    ));
                }
            }
        }
        Ok(())
    }
}
