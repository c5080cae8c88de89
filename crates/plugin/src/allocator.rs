//! The heap's life in the plugin: started once with the settings in force,
//! reported in the log while the game runs and when it exits.
//!
//! The heap is started at the first of Preload (xNVSE, before the game's
//! static initialisers) or Load (plain NVSE). Until a later stage redirects
//! the C runtime's imports to it, starting it only reserves what rpmalloc
//! needs; the log says which backend serves, or why none does.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use crate::log::{info, warning};
use crate::settings;

static RUNNING: AtomicBool = AtomicBool::new(false);
/// When the heap started: the statistics' clock.
static STARTED: OnceLock<Instant> = OnceLock::new();
/// Whether `heap::init` succeeded: only then does a backend serve.
static SERVING: AtomicBool = AtomicBool::new(false);

/// Starts the heap once per process and logs the outcome. True if the heap
/// runs (with any backend): only then may imports be redirected to it.
pub fn start(stage: &str) -> bool {
    static START: Once = Once::new();
    START.call_once(|| {
        let settings = settings::get();
        if !settings.enabled {
            info!("{stage}: Enabled = 0 in the settings: the plugin changes nothing this session");
            return;
        }
        // Once the heap runs, other modules' import slots and blocks lead
        // into this DLL (and mimalloc registers a fiber-local-storage
        // callback in it): it must never be unmapped.
        if !crate::module::pin() {
            warning!("{stage}: could not pin the DLL in memory; heap not started, nothing is redirected");
            return;
        }
        RUNNING.store(true, Ordering::Relaxed);
        // Asked now, while memory is plentiful: an out-of-memory line asks too.
        crate::space::under_wine();
        let vanilla_game_heap = stage == "Load" && crate::game::vanilla_at_load(settings);
        let config = heap_config(settings, vanilla_game_heap);
        if vanilla_game_heap && settings.emergency_reserve_mib > 0 {
            info!(
                "{stage}: no emergency reserve: the game heap stays with the vanilla heaps ([GameHeap] AtLoad = \
                 vanilla, or Enabled = 0), and a reserve would take address space the vanilla game grows into \
                 for the little the plugin serves"
            );
        }
        let started = *STARTED.get_or_init(Instant::now);
        let result = heap::init(&config);
        let took = Millis(started.elapsed());
        SERVING.store(result.is_ok(), Ordering::Relaxed);
        match result {
            Ok(started) => {
                info!(
                    "{stage}: heap started in {took}: {}{}, leak tracking {}",
                    started.backend.name(),
                    rpmalloc_mapping(&config),
                    if started.tracking_leaks { "on" } else { "off" }
                );
                report_guard_start(stage, started.guard);
                report_reserve(stage, &config, started);
                if vanilla_game_heap {
                    info!("{stage}: no delayed frees: the game heap stays with the vanilla heaps");
                } else {
                    report_delay(stage, &config, started);
                }
                crate::crash::install(stage);
            }
            Err(why) => warning!(
                "{stage}: heap could not start {}: {why}; allocations pass through to the original allocators",
                config.backend.name()
            ),
        }
    });
    RUNNING.load(Ordering::Relaxed)
}

/// Whether the heap runs (with any backend).
pub fn running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// Seconds since the heap started (0 before).
pub fn uptime() -> f64 {
    STARTED.get().map_or(0.0, |started| started.elapsed().as_secs_f64())
}

/// The backend serving allocations, or `None` if none does: the plugin is
/// disabled, or the heap could not start (calls then pass through, counted).
pub fn serving() -> Option<heap::Backend> {
    SERVING.load(Ordering::Relaxed).then(heap::backend)
}

/// The emergency reserve: set aside, or why not.
fn report_reserve(stage: &str, config: &heap::Config, started: heap::Started) {
    let size = Bytes(config.emergency_reserve as u64);
    if started.emergency_reserve {
        EMERGENCY_RESERVE.store(config.emergency_reserve, Ordering::Relaxed);
        info!(
            "{stage}: {size} of address space set aside as an emergency reserve, given back if the game runs out \
             (the log then says so at once)"
        );
    } else if config.emergency_reserve > 0 && started.backend != heap::Backend::Passthrough {
        warning!("{stage}: the emergency reserve ({size}) could not be set aside: the game runs without one");
    }
}

/// How blocks the game heap frees wait before they are reused.
fn report_delay(stage: &str, config: &heap::Config, started: heap::Started) {
    let delay = started.free_delay;
    if delay.budget > 0 {
        info!(
            "{stage}: blocks the game heap frees stay unchanged and wait {} frame(s) before reuse, {} of them at most",
            delay.frames,
            Bytes(delay.budget as u64)
        );
    } else if config.free_delay.budget == 0 {
        info!("{stage}: blocks the game heap frees are reused at once ([GameHeap] FreeDelayMiB = 0)");
    } else if started.backend == heap::Backend::Rpmalloc {
        info!(
            "{stage}: blocks the game heap frees are not delayed: guard pages keep freed blocks inaccessible instead"
        );
    } else {
        info!("{stage}: blocks the game heap frees are not delayed: only rpmalloc's blocks can be");
    }
}

/// Bytes of the emergency reserve the heap started with (0: none).
pub fn emergency_reserve() -> usize {
    EMERGENCY_RESERVE.load(Ordering::Relaxed)
}

static EMERGENCY_RESERVE: AtomicUsize = AtomicUsize::new(0);

/// Whether guard pages are on, for which blocks, and how to read the crash
/// they cause.
fn report_guard_start(stage: &str, guard: heap::Guarding) {
    match guard {
        heap::Guarding::Off => {}
        heap::Guarding::Failed(why) => {
            warning!("{stage}: guard pages are off: {why}; blocks are served unguarded")
        }
        heap::Guarding::On(layout) => {
            info!(
                "{stage}: guard pages on for blocks of up to {} bytes: each ends at an inaccessible page, \
                 and the last {} freed stay inaccessible; {} reserved for {} guarded blocks, live or freed, \
                 beyond which blocks are served unguarded",
                layout.max_size,
                layout.quarantine,
                Bytes(layout.reserved as u64),
                layout.slots
            );
            info!(
                "{stage}: guard pages: a crash reading or writing just past a block, or inside a freed one, \
                 stops at the guilty instruction: the module and address the crash logger names are the \
                 culprit, not MemoryPoolNVSE. Blocks start {}-byte aligned, so an overrun smaller than the \
                 padding to the next multiple is caught only when the size is a multiple of {}",
                heap::guard::ALIGN,
                heap::guard::ALIGN
            );
        }
    }
}

/// How rpmalloc maps memory, for the log; nothing for the other backends.
fn rpmalloc_mapping(config: &heap::Config) -> String {
    if config.backend != heap::Backend::Rpmalloc {
        return String::new();
    }
    let touched = if config.touch_pages { ", pages touched when mapped" } else { "" };
    format!(" ({} mapped at a time{touched})", Bytes(config.span_map_count as u64 * 64 * 1024))
}

/// The heap's configuration from the settings. With the game heap left to
/// the vanilla heaps (`vanilla_game_heap`), no block of it is the plugin's to
/// delay, and an emergency reserve would serve only what the plugin serves
/// at Load while taking space from everything the vanilla game grows into:
/// neither is set up.
fn heap_config(settings: &config::Settings, vanilla_game_heap: bool) -> heap::Config {
    let game_heap_mib = |mib: u32| if vanilla_game_heap { 0 } else { mib as usize * 1024 * 1024 };
    heap::Config {
        backend: match settings.backend {
            config::Backend::Rpmalloc => heap::Backend::Rpmalloc,
            config::Backend::Mimalloc => heap::Backend::Mimalloc,
            config::Backend::Passthrough => heap::Backend::Passthrough,
        },
        span_map_count: settings.span_map_count as usize,
        touch_pages: settings.touch_pages,
        track_leaks: settings.leak_tracking,
        leak_capacity: settings.leak_table_size as usize,
        caller: crate::callers::caller,
        guard: heap::GuardConfig {
            enabled: settings.guard_pages,
            max_size: settings.guard_max_size as usize,
            quarantine: settings.guard_quarantine as usize,
            budget: settings.guard_budget_mib as usize * 1024 * 1024,
        },
        emergency_reserve: game_heap_mib(settings.emergency_reserve_mib),
        on_exhausted: crate::oom::report,
        free_delay: heap::Delay { frames: settings.free_delay_frames, budget: game_heap_mib(settings.free_delay_mib) },
    }
}

/// Writes the heap's statistics to the log: totals, peaks, failures,
/// fallbacks and foreign blocks seen. Returns the snapshot reported, if the
/// heap runs.
pub fn report(stage: &str) -> Option<heap::Snapshot> {
    if !RUNNING.load(Ordering::Relaxed) {
        return None;
    }
    let s = heap::stats();
    info!(
        "{stage}: heap {}: {} allocations, {} frees, {} live blocks ({}; peak {} blocks, {}), \
         average block {} B, {} mapped (peak {}), the heap holds {}, {} fallbacks, {} failures, \
         foreign blocks: {} freed, {} resized, {} sized; {} threads",
        heap::backend().name(),
        s.allocations,
        s.frees,
        s.live_blocks,
        Bytes(s.live_bytes),
        s.peak_blocks,
        Bytes(s.peak_bytes),
        s.average_size(),
        Bytes(s.mapped_bytes),
        Bytes(s.peak_mapped_bytes),
        Bytes(s.held_bytes()),
        s.fallbacks,
        s.failures,
        s.foreign_frees,
        s.foreign_reallocs,
        s.foreign_sizes,
        s.threads,
    );
    report_guard(stage);
    Some(s)
}

/// The guarded pool's totals, if guard pages are on.
fn report_guard(stage: &str) {
    let (Some(layout), Some(summary)) = (heap::guard::layout(), heap::guard::summary()) else { return };
    let budget = if summary.budget_misses == 0 {
        "the budget was never full".to_string()
    } else {
        format!(
            "the budget was full: {} blocks small enough were served unguarded (raise GuardBudgetMiB or lower \
             GuardMaxSize or GuardQuarantine)",
            summary.budget_misses
        )
    };
    info!(
        "{stage}: guard pages: {} blocks guarded, at most {} of {} slots live or in quarantine; {budget}",
        summary.guarded, summary.slots_used, layout.slots
    );
    if summary.bad_frees > 0 {
        warning!(
            "{stage}: guard pages: {} frees of a guarded block already freed (or of a pointer into one) were \
             ignored: a double free by the caller",
            summary.bad_frees
        );
    }
}

/// Writes the leak report (live blocks by caller) to the log, if leak
/// tracking is on.
pub fn report_leaks(stage: &str) {
    let report = heap::leaks::report(10);
    if !report.enabled {
        return;
    }
    info!(
        "{stage}: leak report: {} block(s), {} still live{}",
        report.blocks,
        Bytes(report.bytes as u64),
        if report.untracked > 0 {
            format!(" ({} more not tracked: the table was full)", report.untracked)
        } else {
            String::new()
        }
    );
    for top in &report.top {
        info!(
            "{stage}:   {} ({} bytes) in {} block(s) from {}",
            Bytes(top.bytes),
            top.bytes,
            top.blocks,
            crate::callers::describe(top.caller)
        );
    }
}

/// A byte count in the unit a player reads at a glance: `512 B`, `12.5 KiB`,
/// `301.2 MiB`, `1.8 GiB`.
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// A duration in milliseconds, to a tenth.
pub struct Millis(pub Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} ms", self.0.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_the_nearest_unit() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(1023).to_string(), "1023 B");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(301 << 20).to_string(), "301.0 MiB");
        assert_eq!(Bytes(5 << 30).to_string(), "5.0 GiB");
    }

    #[test]
    fn durations_read_in_milliseconds() {
        assert_eq!(Millis(Duration::from_micros(2345)).to_string(), "2.3 ms");
    }
}
