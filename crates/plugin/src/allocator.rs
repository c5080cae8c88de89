//! The heap's life in the plugin: started once, reported in the log.
//!
//! The heap is started at the first of Preload (xNVSE, before the game's
//! static initialisers) or Load (plain NVSE). Until a later stage redirects
//! the C runtime's imports to it, starting it only reserves what rpmalloc
//! needs; the log says which backend serves, or why none does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crate::log::{info, warning};

/// Starts the heap once per process and logs the outcome. True if the heap
/// runs (with any backend): only then may imports be redirected to it.
pub fn start(stage: &str) -> bool {
    static START: Once = Once::new();
    static RUNNING: AtomicBool = AtomicBool::new(false);
    START.call_once(|| {
        // Once the heap runs, other modules' import slots and blocks lead
        // into this DLL (and mimalloc registers a fiber-local-storage
        // callback in it): it must never be unmapped.
        if !crate::module::pin() {
            warning!("{stage}: could not pin the DLL in memory; heap not started, nothing is redirected");
            return;
        }
        RUNNING.store(true, Ordering::Relaxed);
        let config = heap::Config { caller: crate::callers::caller, ..heap::Config::DEFAULT };
        match heap::init(&config) {
            Ok(started) => info!(
                "{stage}: heap started: {} ({} KiB mapped at a time), leak tracking {}",
                started.backend.name(),
                config.span_map_count * 64,
                if started.tracking_leaks { "on" } else { "off" }
            ),
            Err(why) => warning!(
                "{stage}: heap could not start {}: {why}; allocations pass through to the original allocators",
                config.backend.name()
            ),
        }
    });
    RUNNING.load(Ordering::Relaxed)
}

/// Writes the heap's statistics to the log.
pub fn report(stage: &str) {
    let s = heap::stats();
    info!(
        "{stage}: heap {}: {} allocations, {} frees, {} live blocks ({} KiB; peak {} blocks, {} KiB), \
         average block {} B, {} KiB mapped (peak {} KiB), {} fallbacks, {} failures, \
         foreign blocks: {} freed, {} resized, {} sized; {} threads",
        heap::backend().name(),
        s.allocations,
        s.frees,
        s.live_blocks,
        s.live_bytes / 1024,
        s.peak_blocks,
        s.peak_bytes / 1024,
        s.average_size(),
        s.mapped_bytes / 1024,
        s.peak_mapped_bytes / 1024,
        s.fallbacks,
        s.failures,
        s.foreign_frees,
        s.foreign_reallocs,
        s.foreign_sizes,
        s.threads,
    );
}

/// Writes the leak report (live blocks by caller) to the log, if leak
/// tracking is on.
pub fn report_leaks(stage: &str) {
    let report = heap::leaks::report(10);
    if !report.enabled {
        return;
    }
    info!(
        "{stage}: leak report: {} block(s), {} KiB still live{}",
        report.blocks,
        report.bytes / 1024,
        if report.untracked > 0 {
            format!(" ({} more not tracked: the table was full)", report.untracked)
        } else {
            String::new()
        }
    );
    for top in &report.top {
        info!(
            "{stage}:   {} KiB in {} block(s) from {}",
            top.bytes / 1024,
            top.blocks,
            crate::callers::describe(top.caller)
        );
    }
}
