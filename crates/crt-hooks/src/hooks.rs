//! Installing the hooks: every loaded module now, every module that loads
//! later, and rescans as a safety net.
//!
//! Windows notifies a DLL load before it binds the DLL's imports, so a module
//! found unbound is kept *pending* and patched at the next chance: the next
//! loader notification, or the next [`rescan`] (the plugin calls it at NVSE's
//! PostLoad, PostPostLoad and DeferredInit, and on MainGameLoop while
//! [`has_pending`] says so). Until then its allocations go to its runtime, and
//! later reach the heap as foreign blocks, which is safe.
//!
//! Everything runs with the loader lock held; the module list below has its
//! own lock, always taken after the loader lock, never on an allocation path.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::loader::{self, LoadedNotification};
use crate::net::{self, NetReport};
use crate::patch::{self, ModuleOutcome, ModuleReport};
use crate::policy::Policy;

/// What the plugin decides and how it hears back.
pub struct Settings {
    /// Base address of the plugin's own module (never patched).
    pub own_base: usize,
    /// File names of modules to leave alone (any case).
    pub excluded: Vec<String>,
    /// Called with the report on every module examined for the first time,
    /// and on modules where a later look redirected more slots.
    pub on_module: fn(&ModuleReport),
    /// Hook every loaded C runtime's release functions inline ([`crate::net`]).
    pub safety_net: bool,
    /// Called once per runtime the net was tried on.
    pub on_net: fn(&NetReport),
}

/// Totals of one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Modules examined.
    pub modules: u32,
    /// Modules with at least one slot redirected.
    pub patched: u32,
    /// Slots redirected.
    pub slots: u32,
    /// Modules whose imports were not bound yet.
    pub pending: u32,
}

/// Why the hooks could not be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallError {
    /// [`install`] was called before.
    AlreadyInstalled,
}

struct State {
    policy: Policy,
    on_module: fn(&ModuleReport),
    safety_net: bool,
    on_net: fn(&NetReport),
    /// Runtimes the net was tried on, by file name.
    netted: Mutex<Vec<&'static str>>,
    /// Bases of modules already examined, and those waiting for binding.
    modules: Mutex<Modules>,
}

#[derive(Default)]
struct Modules {
    seen: Vec<usize>,
    pending: Vec<usize>,
    /// Modules with groups left alone for something other than the loader,
    /// and how many: a rescan reports them again only when that changes.
    refused: Vec<(usize, usize)>,
}

impl Modules {
    /// Records how many of the module's groups are refused now; true if
    /// that differs from the last look.
    fn refusals_changed(&mut self, base: usize, refused: usize) -> bool {
        let last = self.refused.iter().position(|&(b, _)| b == base);
        let before = last.map_or(0, |i| self.refused[i].1);
        match (last, refused) {
            (Some(i), 0) => drop(self.refused.swap_remove(i)),
            (Some(i), n) => self.refused[i].1 = n,
            (None, 0) => {}
            (None, n) => self.refused.push((base, n)),
        }
        before != refused
    }
}

static STATE: OnceLock<State> = OnceLock::new();
static PENDING: AtomicBool = AtomicBool::new(false);

/// Installs the hooks: patches every loaded module and registers for loader
/// notifications. Returns the first scan's totals and whether notifications
/// work (if not, only rescans will find later modules).
pub fn install(settings: Settings) -> Result<(Summary, Result<(), i32>), InstallError> {
    let mut policy = Policy { own_base: settings.own_base, ..Policy::default() };
    for dir in loader::system_dirs() {
        policy.add_system_dir(&dir);
    }
    policy.excluded = settings.excluded.iter().map(|name| name.to_ascii_lowercase()).collect();
    let state = State {
        policy,
        on_module: settings.on_module,
        safety_net: settings.safety_net,
        on_net: settings.on_net,
        netted: Mutex::new(Vec::new()),
        modules: Mutex::new(Modules::default()),
    };
    if STATE.set(state).is_err() {
        return Err(InstallError::AlreadyInstalled);
    }
    Ok(loader::with_loader_lock(|| {
        let summary = scan_all();
        (summary, loader::register_notification(on_notification))
    }))
}

/// Looks at every loaded module again: patches pending ones and any slot
/// bound since (delay loads). Does nothing before [`install`].
pub fn rescan() -> Summary {
    if STATE.get().is_none() {
        return Summary::default();
    }
    loader::with_loader_lock(scan_all)
}

/// Whether some module is waiting for its imports to be bound: a cheap check
/// for callers on hot paths (one relaxed load).
pub fn has_pending() -> bool {
    PENDING.load(Ordering::Relaxed)
}

fn scan_all() -> Summary {
    let mut summary = Summary::default();
    for module in loader::modules() {
        visit(module as usize, None, &mut summary);
    }
    cover_runtimes();
    summary
}

/// Spreads the safety net under every loaded runtime it has not been tried
/// on yet. Runs with the loader lock held, after the imports of the modules
/// seen so far are redirected.
fn cover_runtimes() {
    let Some(state) = STATE.get() else { return };
    if !state.safety_net {
        return;
    }
    for crt in crate::crt::CRTS {
        let mut netted = state.netted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if netted.contains(&crt.dll) || !crt.resolve() {
            continue;
        }
        netted.push(crt.dll);
        drop(netted);
        (state.on_net)(&net::install(crt));
    }
}

/// Examines one module; `path` if the caller already knows it.
fn visit(base: usize, path: Option<String>, summary: &mut Summary) {
    let Some(state) = STATE.get() else { return };
    let Some(path) = path.or_else(|| loader::module_path(base)) else { return };
    // SAFETY: the module is loaded and the loader lock is held by every caller.
    let report = unsafe { patch::patch_module(base, &path, &state.policy) };
    summary.modules += 1;
    let mut modules = state.modules.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first_time = !modules.seen.contains(&base);
    modules.pending.retain(|&b| b != base);
    if report.outcome == ModuleOutcome::NotBoundYet {
        modules.pending.push(base);
        summary.pending += 1;
    } else if first_time {
        modules.seen.push(base);
    }
    PENDING.store(!modules.pending.is_empty(), Ordering::Relaxed);
    let refused = report.left_alone.iter().filter(|left| !left.reason.is_waiting()).count();
    let refusals_changed = modules.refusals_changed(base, refused);
    drop(modules);
    if report.total_redirected() > 0 {
        summary.patched += 1;
        summary.slots += report.total_redirected();
    }
    let news = report.total_redirected() > 0 || refusals_changed;
    if (first_time && report.outcome != ModuleOutcome::NotBoundYet) || (!first_time && news) {
        (state.on_module)(&report);
    }
}

/// The loader's callback: a module was mapped (imports not bound yet) or is
/// being unmapped. Runs under the loader lock.
unsafe extern "system" fn on_notification(reason: u32, data: *const LoadedNotification, _context: *mut c_void) {
    // SAFETY: the loader passes valid notification data for the call.
    let Some(data) = (unsafe { data.as_ref() }) else { return };
    let base = data.dll_base as usize;
    let Some(state) = STATE.get() else { return };
    if reason == loader::REASON_UNLOADED {
        let mut modules = state.modules.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        modules.seen.retain(|&b| b != base);
        modules.pending.retain(|&b| b != base);
        modules.refused.retain(|&(b, _)| b != base);
        PENDING.store(!modules.pending.is_empty(), Ordering::Relaxed);
        return;
    }
    // Earlier modules whose imports have been bound since.
    let pending: Vec<usize> = state.modules.lock().map(|m| m.pending.clone()).unwrap_or_default();
    let mut summary = Summary::default();
    for earlier in pending {
        visit(earlier, None, &mut summary);
    }
    // SAFETY: the loader passes a valid UNICODE_STRING for the full name.
    let path = unsafe { loader::unicode(data.full_dll_name) };
    visit(base, Some(path), &mut summary);
    cover_runtimes();
}
