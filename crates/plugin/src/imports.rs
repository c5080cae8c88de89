//! Redirecting other modules' C runtime imports to the heap, and the log of it.
//!
//! Installed right after the heap starts (Preload, or Load); NVSE's PostLoad,
//! PostPostLoad and DeferredInit rescan every module as a safety net, and
//! MainGameLoop finishes modules that were still loading at the last look.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

use crt_hooks::{LeftAlone, ModuleOutcome, ModuleReport, Skip};

use std::time::Instant;

use crate::allocator::Millis;
use crate::log::{debug, info, warning};
use crate::module;

/// While the first scan runs, Windows' own DLLs are counted rather than
/// listed one per line (there are dozens, all left alone for one reason).
static FIRST_SCAN: AtomicBool = AtomicBool::new(false);
static SYSTEM_DLLS_SKIPPED: AtomicU32 = AtomicU32::new(0);

/// Installs the hooks once per process and logs the outcome, unless the
/// settings say `ImportHooks = 0`.
pub fn install(stage: &str) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let settings = crate::settings::get();
        if !settings.import_hooks {
            info!("{stage}: ImportHooks = 0 in the settings: no module's C runtime imports are redirected");
            return;
        }
        let own_base = module::own_handle().map_or(0, |h| h as usize);
        let excluded = settings.exclude_modules.clone();
        let hooks = crt_hooks::Settings {
            own_base,
            excluded,
            on_module: log_module,
            safety_net: settings.runtime_safety_net,
            on_net: log_net,
        };
        let started = Instant::now();
        FIRST_SCAN.store(true, Ordering::Relaxed);
        let installed = crt_hooks::install(hooks);
        FIRST_SCAN.store(false, Ordering::Relaxed);
        let took = Millis(started.elapsed());
        match installed {
            Ok((summary, notifications)) => {
                NET.store(settings.runtime_safety_net, Ordering::Relaxed);
                info!(
                    "{stage}: hooks installed in {took}: {} slot(s) redirected in {} of {} module(s); \
                     {} Windows DLL(s) left alone; {} module(s) still loading",
                    summary.slots,
                    summary.patched,
                    summary.modules,
                    SYSTEM_DLLS_SKIPPED.load(Ordering::Relaxed),
                    summary.pending
                );
                if let Err(status) = notifications {
                    warning!(
                        "{stage}: no loader notifications (status {status:#x}); modules that load later are patched \
                         at NVSE's messages only"
                    );
                }
            }
            Err(why) => warning!("{stage}: hooks not installed: {why:?}"),
        }
    });
}

/// Rescans every module (cheap when nothing changed) and logs the totals if
/// anything new was redirected.
pub fn rescan(stage: &str) {
    let summary = crt_hooks::rescan();
    if summary.slots > 0 {
        info!("{stage}: rescan redirected {} more slot(s) in {} module(s)", summary.slots, summary.patched);
    }
}

/// Finishes modules that were still loading, if there are any: one atomic
/// load otherwise, so it can run every frame.
pub fn finish_pending(stage: &str) {
    if crt_hooks::has_pending() {
        rescan(stage);
    }
}

/// One log line per C runtime the safety net was tried on.
fn log_net(report: &crt_hooks::net::NetReport) {
    let runtime = report.runtime;
    match &report.outcome {
        Ok(functions) => info!("Hooks: {runtime}: safety net on ({functions} release function(s) hooked inline)"),
        Err(why) => warning!("Hooks: {runtime}: no safety net: {why}; its own functions are left as they are"),
    }
}

/// Whether the hooks were installed with the safety net.
static NET: AtomicBool = AtomicBool::new(false);

/// Writes what the safety net caught, if it is on.
pub fn report_net(stage: &str) {
    if NET.load(Ordering::Relaxed) {
        info!(
            "{stage}: safety net: {} block(s) of the heap came back through a C runtime's own functions",
            crt_hooks::net::caught()
        );
    }
}

/// One log line per module examined.
fn log_module(report: &ModuleReport) {
    let name = &report.name;
    match &report.outcome {
        ModuleOutcome::Skipped(skip @ Skip::SystemDll) if FIRST_SCAN.load(Ordering::Relaxed) => {
            SYSTEM_DLLS_SKIPPED.fetch_add(1, Ordering::Relaxed);
            debug!("Hooks: {name}: left alone: {}", skip.reason());
        }
        ModuleOutcome::Skipped(skip) => info!("Hooks: {name}: left alone: {}", skip.reason()),
        ModuleOutcome::Malformed(error) => warning!("Hooks: {name}: left alone: malformed import table ({error})"),
        ModuleOutcome::NotBoundYet => info!("Hooks: {name}: still loading; patched at the next look"),
        ModuleOutcome::Examined => {
            let total = report.total_redirected();
            if total > 0 {
                let per_dll: Vec<String> = report.redirected.iter().map(|(dll, n)| format!("{dll}: {n}")).collect();
                info!("Hooks: {name}: {total} slot(s) redirected ({})", per_dll.join(", "));
            } else if report.already == 0 && report.left_alone.is_empty() {
                debug!("Hooks: {name}: no C runtime allocation imports");
            }
            for left in &report.left_alone {
                log_left_alone(name, left);
            }
        }
    }
}

/// A runtime's allocation imports that a module keeps calling the runtime
/// through, naming the slot that decided it: a warning unless the group only
/// waits for the loader to bind it.
fn log_left_alone(name: &str, left: &LeftAlone) {
    if left.reason.is_waiting() {
        info!("Hooks: {name}: {} left alone (all or nothing): {left}", left.runtime);
    } else {
        warning!("Hooks: {name}: {} left alone (all or nothing): {left}", left.runtime);
    }
}
