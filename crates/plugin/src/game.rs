//! The game's own heap and its statically linked C runtime, hooked inline as
//! the profile says: once, at Preload if xNVSE calls it, else at Load.

use std::ffi::OsString;
use std::os::windows::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use address_space::Mib;
use config::AtLoad;
use game_hooks::{GroupOutcome, Moment, Profile, Report, Skipped, Switches};

use crate::allocator::Millis;
use crate::log::{info, warning};
use crate::{module, settings};

/// Set by the first call: the hooks go in at one moment only.
static TRIED: AtomicBool = AtomicBool::new(false);

/// Hooks the game as the settings and the profile say, the first time it is
/// called; the heap must be serving allocations.
pub fn install(moment: Moment) {
    if TRIED.swap(true, Ordering::Relaxed) {
        return;
    }
    let settings = settings::get();
    let stage = moment.name();
    if !settings.game_heap && !settings.static_crt {
        info!("{stage}: GameHeap: Enabled = 0 and StaticCrt = 0 in the settings: the game's allocators are left alone");
        return;
    }
    if heap::backend() == heap::Backend::Passthrough {
        info!("{stage}: GameHeap: the heap is not serving allocations: the game's allocators are left alone");
        return;
    }
    let profile = match profile(&settings.game_profile) {
        Ok(profile) => profile,
        Err(why) => {
            warning!("{stage}: GameHeap: {why}; the game's allocators are left alone");
            return;
        }
    };
    let switches = Switches {
        game_heap: settings.game_heap,
        static_crt: settings.static_crt,
        vanilla_heaps_off: settings.disable_vanilla_heaps,
        game_heap_at_load: settings.game_heap_at_load == AtLoad::Plugin,
    };
    if moment == Moment::Load && settings.game_heap {
        late(settings.game_heap_at_load, settings.game_profile.is_empty());
    }
    let started = Instant::now();
    let report = game_hooks::apply(&profile, moment, switches);
    log_report(stage, &profile, &report, Millis(started.elapsed()));
}

/// Whether, loaded at Load, the plugin leaves the game heap to the vanilla
/// heaps: `[GameHeap] AtLoad = vanilla`, or the game heap not served at all.
pub fn vanilla_at_load(settings: &config::Settings) -> bool {
    !settings.game_heap || settings.game_heap_at_load == AtLoad::Vanilla
}

/// Loaded at Load, with no Preload before: what the vanilla heaps hold
/// already, and what serves the game heap from now on.
fn late(at_load: AtLoad, built_in_profile: bool) {
    // The built-in profile's executable is the one whose heaps are known.
    let held = built_in_profile.then(game_hooks::vanilla::held).filter(|held| held.total() > 0);
    let figure = match held {
        Some(held) => format!(
            "already hold {} of address space (the Default and File heaps {}, {} pools {})",
            Mib(held.total()),
            Mib(held.heap_bytes),
            held.pools,
            Mib(held.pool_bytes)
        ),
        None => "already hold their address space".into(),
    };
    match at_load {
        AtLoad::Vanilla => info!(
            "Load: loaded without Preload: the vanilla heaps {figure}; the game heap stays with them \
             ([GameHeap] AtLoad = vanilla), the plugin serves the game's C runtime and other modules"
        ),
        AtLoad::Plugin => warning!(
            "Load: loaded without Preload: the vanilla heaps {figure}, and the plugin serves every new block \
             of the game heap besides ([GameHeap] AtLoad = plugin): more address space in use than without \
             the plugin"
        ),
    }
}

/// The profile the settings name, or the built-in one.
fn profile(file: &str) -> Result<Profile, String> {
    if file.is_empty() {
        return Profile::fallout_nv().map_err(|e| format!("the built-in profile is broken: {e}"));
    }
    let path = beside_plugin(file).ok_or("the plugin's own folder is unknown")?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("profile {} cannot be read ({e})", path.display()))?;
    Profile::parse(&text).map_err(|e| format!("profile {}: {e}", path.display()))
}

/// `file`, relative to the folder this DLL is in.
fn beside_plugin(file: &str) -> Option<PathBuf> {
    let own = module::own_path()?;
    let own: PathBuf = OsString::from_wide(own.as_slice()).into();
    Some(own.parent()?.join(file))
}

fn log_report(stage: &str, profile: &Profile, report: &Report, took: Millis) {
    let name = &profile.executable.name;
    let groups = match &report.outcome {
        Ok(groups) => groups,
        Err(Skipped::NotThisExecutable(why)) => {
            return warning!(
                "{stage}: GameHeap: this is not {name} ({why}): the game's allocators are left alone; \
                 [GameHeap] Profile can name a profile for this executable"
            );
        }
        Err(skipped) => {
            log_address_space(stage, name, report.large_address_aware);
            return warning!("{stage}: GameHeap: {skipped}; {name}'s allocators are left alone");
        }
    };
    log_address_space(stage, name, report.large_address_aware);
    for group in groups {
        match &group.outcome {
            GroupOutcome::Refused(_) => warning!("{stage}: GameHeap: group {}: {}", group.name, group.outcome),
            outcome => info!("{stage}: GameHeap: group {}: {outcome}", group.name),
        }
    }
    let live = groups.iter().filter(|g| matches!(g.outcome, GroupOutcome::Live { .. })).count();
    info!("{stage}: GameHeap: {name}: {live} of {} group(s) live, in {took}", groups.len());
}

fn log_address_space(stage: &str, name: &str, large_address_aware: Option<bool>) {
    match large_address_aware {
        Some(true) => info!("{stage}: GameHeap: {name} is Large Address Aware (4 GiB of address space)"),
        Some(false) => warning!(
            "{stage}: GameHeap: {name} is not Large Address Aware: the game can use only 2 GiB of address space; \
             apply the 4GB patch"
        ),
        None => {}
    }
}

/// Warns if another module has overwritten a hook of the game since it went
/// live: a second heap replacer that loaded later, which the first look
/// could not see.
pub fn verify(stage: &str) {
    let lost = game_hooks::overwritten();
    if lost.is_empty() {
        return;
    }
    warning!(
        "{stage}: GameHeap: {} hook(s) overwritten since they went live: two heap replacers are running; \
         keep only one",
        lost.len()
    );
    for line in lost {
        warning!("{stage}: GameHeap:   {line}");
    }
}
