//! Redirecting one module's C runtime imports.
//!
//! A module's allocation imports of one runtime (from its import table and
//! its delay-load table, under any of the runtime's names) are one group,
//! redirected all or nothing: if `malloc` were ours while `free` still went
//! to the runtime (another hook holds it, or its page is read-only), the
//! runtime would be handed our blocks and corrupt its heap. A group that
//! cannot be redirected whole keeps calling its runtime, which is safe.

use core::fmt;

use heap::Function;
use pe_imports::{Image, Symbol, View};

use crate::crt::{self, Crt};
use crate::policy::{Policy, Skip};
use crate::slot::{self, Redirect, Refusal, Refused};

/// What happened to one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    /// The module's file name.
    pub name: String,
    /// The verdict.
    pub outcome: ModuleOutcome,
    /// Slots redirected, by runtime (its own DLL name, whatever alias the
    /// module imports it by).
    pub redirected: Vec<(&'static str, u32)>,
    /// Slots already pointing at us.
    pub already: u32,
    /// The runtimes whose group was left alone, and why.
    pub left_alone: Vec<LeftAlone>,
}

/// The verdict on a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleOutcome {
    /// Its runtime imports were examined (see the counts).
    Examined,
    /// Left alone by policy.
    Skipped(Skip),
    /// Its import table could not be read.
    Malformed(pe_imports::Error),
    /// Its imports are not bound yet: it is being loaded. Try again later.
    NotBoundYet,
}

/// One runtime's group in one module, left alone: nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftAlone {
    /// The runtime's own DLL name.
    pub runtime: &'static str,
    /// The function whose slot decided it.
    pub function: &'static str,
    pub reason: Reason,
}

/// Why a group was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The slot points at this address: another hook's function.
    Foreign(usize),
    /// The slot is delay-loaded and the loader has not bound it yet; a later
    /// look redirects the group once every slot is bound.
    DelayNotBound,
    /// The runtime does not export the function, so the slot's value cannot
    /// be told apart from another hook's.
    NotExported,
    /// The slot is misaligned, or its page could not be made writable.
    Unwritable,
    /// The slot changed to this address while the group was written; the
    /// slots written before it were put back.
    LostRace(usize),
}

impl Reason {
    /// Whether the group waits for the loader rather than for something wrong.
    pub fn is_waiting(self) -> bool {
        self == Reason::DelayNotBound
    }
}

impl fmt::Display for LeftAlone {
    /// The slot and the reason, e.g. `free's slot points at 0x10001000, another hook's`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = self.function;
        match self.reason {
            Reason::Foreign(address) => write!(f, "{function}'s slot points at {address:#010x}, another hook's"),
            Reason::DelayNotBound => write!(f, "{function} is delay-loaded, not bound yet; a later rescan retries"),
            Reason::NotExported => write!(f, "{function} is not exported by the runtime"),
            Reason::Unwritable => write!(f, "{function}'s slot could not be made writable"),
            Reason::LostRace(address) => {
                write!(f, "{function}'s slot changed to {address:#010x} while it was written; all put back")
            }
        }
    }
}

impl ModuleReport {
    fn new(name: &str, outcome: ModuleOutcome) -> ModuleReport {
        ModuleReport { name: name.to_owned(), outcome, redirected: Vec::new(), already: 0, left_alone: Vec::new() }
    }

    /// Slots redirected in all.
    pub fn total_redirected(&self) -> u32 {
        self.redirected.iter().map(|(_, n)| n).sum()
    }

    fn leave(&mut self, crt: &Crt, function: Function, reason: Reason) {
        self.left_alone.push(LeftAlone { runtime: crt.dll, function: function.export_name(), reason });
    }
}

/// One family slot of a module.
struct Found {
    function: Function,
    iat_rva: u32,
    /// False for a delay-load slot the loader has not bound yet.
    bound: bool,
}

/// Every family slot of one runtime in one module.
struct Group {
    crt: &'static Crt,
    slots: Vec<Found>,
}

/// Redirects the runtime imports of the module mapped at `base`.
///
/// # Safety
/// `base` is a module the loader has mapped and that stays mapped during the
/// call (the caller holds the loader lock).
pub unsafe fn patch_module(base: usize, path: &str, policy: &Policy) -> ModuleReport {
    let name = crate::policy::file_name(path);
    if let Err(skip) = policy.check(base, path) {
        return ModuleReport::new(name, ModuleOutcome::Skipped(skip));
    }
    // SAFETY: a mapped module's headers and image are readable (caller).
    let image = match unsafe { View::from_module(base as *const u8) }.and_then(Image::new) {
        Ok(image) => image,
        Err(error) => return ModuleReport::new(name, ModuleOutcome::Malformed(error)),
    };
    let mut groups = Vec::new();
    let collected = imports(&image, &mut groups).and_then(|bound| {
        if bound {
            delay_imports(&image, &mut groups)?;
        }
        Ok(bound)
    });
    let mut report = match collected {
        Ok(true) => ModuleReport::new(name, ModuleOutcome::Examined),
        Ok(false) => return ModuleReport::new(name, ModuleOutcome::NotBoundYet),
        Err(error) => return ModuleReport::new(name, ModuleOutcome::Malformed(error)),
    };
    for group in &groups {
        patch_group(group, base, &mut report);
    }
    report
}

/// The group of `crt` in `groups`, added if new.
fn group_of<'g>(groups: &'g mut Vec<Group>, crt: &'static Crt) -> &'g mut Group {
    let index = groups.iter().position(|group| core::ptr::eq(group.crt, crt)).unwrap_or_else(|| {
        groups.push(Group { crt, slots: Vec::new() });
        groups.len() - 1
    });
    &mut groups[index]
}

/// Collects the import table's family slots; false if the loader has not
/// bound them yet.
fn imports(image: &Image<'_>, groups: &mut Vec<Group>) -> Result<bool, pe_imports::Error> {
    for dll in image.imports() {
        let dll = dll?;
        let Some(crt) = dll.name().to_str().and_then(crt::find) else { continue };
        if !crt.resolve() {
            // The module imports a runtime that is not loaded: it is itself
            // being loaded, its dependencies not yet.
            return Ok(false);
        }
        for import in dll.entries() {
            let import = import?;
            let Some(function) = family_function(crt, &import.symbol, import.slot_value) else { continue };
            if import.slot_value < u64::from(image.size_of_image()) {
                // Still the name-table copy: the loader has not bound it.
                return Ok(false);
            }
            group_of(groups, crt).slots.push(Found { function, iat_rva: import.iat_rva, bound: true });
        }
    }
    Ok(true)
}

/// Collects the delay-load table's family slots, bound or not: an unbound
/// delay-load slot holds back its group only, not the module.
fn delay_imports(image: &Image<'_>, groups: &mut Vec<Group>) -> Result<(), pe_imports::Error> {
    for dll in image.delay_imports() {
        let dll = dll?;
        let Some(crt) = dll.name().to_str().and_then(crt::find) else { continue };
        if !crt.resolve() {
            // Not loaded, so nothing of it is bound: the group waits whole.
            continue;
        }
        for import in dll.entries() {
            let import = import?;
            let Some(function) = family_function(crt, &import.symbol, import.slot_value) else { continue };
            group_of(groups, crt).slots.push(Found { function, iat_rva: import.iat_rva, bound: import.bound });
        }
    }
    Ok(())
}

/// The family function an import is, by name, or by its bound address for
/// imports by ordinal.
fn family_function(crt: &Crt, symbol: &Symbol, slot_value: u64) -> Option<Function> {
    match symbol {
        Symbol::Name { name, .. } => crt::function_named(name.as_bytes()),
        Symbol::Ordinal(_) => Function::ALL
            .into_iter()
            .find(|&f| f != Function::Errno && crt.originals.get(f) != 0 && crt.originals.get(f) as u64 == slot_value),
    }
}

/// Redirects every slot of the group, or none, and says which.
fn patch_group(group: &Group, base: usize, report: &mut ModuleReport) {
    let crt = group.crt;
    if let Some(unbound) = group.slots.iter().find(|slot| !slot.bound) {
        return report.leave(crt, unbound.function, Reason::DelayNotBound);
    }
    let mut slots: Vec<&Found> = group.slots.iter().collect();
    slots.sort_by_key(|slot| write_rank(slot.function));
    let mut redirects = Vec::with_capacity(slots.len());
    for slot in &slots {
        let (expected, entry) = (crt.originals.get(slot.function), (crt.entry)(slot.function));
        if expected == 0 || entry == 0 {
            return report.leave(crt, slot.function, Reason::NotExported);
        }
        redirects.push(Redirect { slot: base + slot.iat_rva as usize, expected, replacement: entry });
    }
    // SAFETY: every slot lies inside the mapped module (the reader checked
    // the RVAs against SizeOfImage), which stays mapped under the loader lock.
    match unsafe { slot::redirect_group(&redirects) } {
        Ok(written) => {
            report.already += written.already;
            if written.patched > 0 {
                report.redirected.push((crt.dll, written.patched));
            }
        }
        Err(Refused { index, refusal }) => report.leave(crt, slots[index].function, reason(refusal)),
    }
}

fn reason(refusal: Refusal) -> Reason {
    match refusal {
        Refusal::Foreign(address) => Reason::Foreign(address),
        Refusal::Unwritable => Reason::Unwritable,
        Refusal::LostRace(address) => Reason::LostRace(address),
    }
}

/// The order a group is written in. Functions that only take blocks go
/// first and those that make them last, so that until the last writes no
/// block of ours exists for the runtime to be handed if a lost race puts the
/// group back (a thread may call through a slot in between).
fn write_rank(function: Function) -> u8 {
    use Function::*;
    match function {
        Free | Msize | Expand | AlignedFree | AlignedMsize => 0,
        Realloc | Recalloc | AlignedRealloc => 1,
        _ => 2,
    }
}
