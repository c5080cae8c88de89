//! Redirecting one module's C runtime imports.

use heap::Function;
use pe_imports::{Image, Symbol, View};

use crate::crt::{self, Crt};
use crate::policy::{Policy, Skip};
use crate::slot::{self, Outcome};

/// What happened to one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    /// The module's file name.
    pub name: String,
    /// The verdict.
    pub outcome: ModuleOutcome,
    /// Slots redirected, by imported DLL name (as the module names it).
    pub redirected: Vec<(String, u32)>,
    /// Slots already pointing at us.
    pub already: u32,
    /// Slots another hooker owns: function and the address found.
    pub foreign: Vec<(&'static str, usize)>,
    /// Slots whose page could not be made writable.
    pub unwritable: u32,
    /// Delay-load slots of a runtime not bound yet (patched when bound, at a rescan).
    pub delay_unbound: u32,
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

impl ModuleReport {
    fn new(name: &str, outcome: ModuleOutcome) -> ModuleReport {
        ModuleReport {
            name: name.to_owned(),
            outcome,
            redirected: Vec::new(),
            already: 0,
            foreign: Vec::new(),
            unwritable: 0,
            delay_unbound: 0,
        }
    }

    /// Slots redirected in all.
    pub fn total_redirected(&self) -> u32 {
        self.redirected.iter().map(|(_, n)| n).sum()
    }

    fn count(&mut self, dll: &str, outcome: Outcome, function: Function) {
        match outcome {
            Outcome::Patched => match self.redirected.iter_mut().find(|(name, _)| name.eq_ignore_ascii_case(dll)) {
                Some((_, n)) => *n += 1,
                None => self.redirected.push((dll.to_ascii_lowercase(), 1)),
            },
            Outcome::AlreadyOurs => self.already += 1,
            Outcome::Foreign(address) => self.foreign.push((function.export_name(), address)),
            Outcome::Unwritable => self.unwritable += 1,
        }
    }
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
    let mut report = ModuleReport::new(name, ModuleOutcome::Examined);
    if let Err(error) = imports(&image, base, &mut report) {
        report.outcome = ModuleOutcome::Malformed(error);
        return report;
    }
    if let Err(error) = delay_imports(&image, base, &mut report) {
        report.outcome = ModuleOutcome::Malformed(error);
    }
    report
}

fn imports(image: &Image<'_>, base: usize, report: &mut ModuleReport) -> Result<(), pe_imports::Error> {
    for dll in image.imports() {
        let dll = dll?;
        let Some(dll_name) = dll.name().to_str() else { continue };
        let Some(crt) = crt::find(dll_name) else { continue };
        if !crt.resolve() {
            // The module imports a runtime that is not loaded: it is itself
            // being loaded, its dependencies not yet.
            report.outcome = ModuleOutcome::NotBoundYet;
            return Ok(());
        }
        for import in dll.entries() {
            let import = import?;
            let Some(function) = family_function(crt, &import.symbol, import.slot_value) else { continue };
            if import.slot_value < u64::from(image.size_of_image()) {
                // Still the name-table copy: the loader has not bound it.
                report.outcome = ModuleOutcome::NotBoundYet;
                return Ok(());
            }
            let outcome = redirect(crt, function, base, import.iat_rva);
            report.count(dll_name, outcome, function);
        }
    }
    Ok(())
}

fn delay_imports(image: &Image<'_>, base: usize, report: &mut ModuleReport) -> Result<(), pe_imports::Error> {
    for dll in image.delay_imports() {
        let dll = dll?;
        let Some(dll_name) = dll.name().to_str() else { continue };
        let Some(crt) = crt::find(dll_name) else { continue };
        if !crt.resolve() {
            continue;
        }
        for import in dll.entries() {
            let import = import?;
            let Some(function) = family_function(crt, &import.symbol, import.slot_value) else { continue };
            if !import.bound {
                report.delay_unbound += 1;
                continue;
            }
            let outcome = redirect(crt, function, base, import.iat_rva);
            report.count(dll_name, outcome, function);
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

fn redirect(crt: &Crt, function: Function, base: usize, iat_rva: u32) -> Outcome {
    let expected = crt.originals.get(function);
    let entry = (crt.entry)(function);
    if expected == 0 || entry == 0 {
        return Outcome::Unwritable;
    }
    // SAFETY: the slot lies inside the mapped module (the reader checked the
    // RVA against SizeOfImage), which stays mapped under the loader lock.
    unsafe { slot::redirect(base + iat_rva as usize, expected, entry) }
}
