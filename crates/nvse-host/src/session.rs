//! One run of the stand-in, in the order xNVSE and the game call plugins.

use std::ffi::CStr;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nvse_abi::{exports, msg, PluginHandle, PluginInfo};
use windows_sys::Win32::Foundation::HMODULE;

use crate::fixtures::{self, Harness};
use crate::plugins::{self, Library};
use crate::{bench, exits, file_name_of, game, nvse, Exit, Mode, Scenario};

/// A game the stand-in starts, plays and checks around NVSE's passes: the
/// synthetic game of `game.c`, or another (the replica of FalloutNV.exe).
pub trait GameModel {
    /// Before anything else runs (other mods' changes to the game's code);
    /// whether it all went as it should.
    fn before_plugins(&mut self) -> bool {
        true
    }
    /// Whether xNVSE's preload pass runs, before [`start`](GameModel::start).
    fn preload_pass(&self) -> bool {
        true
    }
    /// The game's start-up, where it comes in NVSE's order: after the preload
    /// pass (if any), before the query pass.
    fn start(&mut self);
    /// After the load pass and PostPostLoad.
    fn after_load(&mut self) {}
    /// One pass of the game's main loop, after its `MainGameLoop` message.
    fn frame(&mut self) {}
    /// The checks, after the first frame; whether they passed.
    fn check(&mut self) -> bool;
}

/// Runs the scenario and returns the process exit code: 0, or 1 if a
/// fixture's or the game's check failed.
pub fn run(scenario: &Scenario) -> i32 {
    let mut synthetic = scenario.game.map(game::Synthetic::new);
    run_with(scenario, synthetic.as_mut().map(|game| game as &mut dyn GameModel))
}

/// Runs the scenario around `game`, which stands in for `scenario.game`.
pub fn run_with(scenario: &Scenario, mut game: Option<&mut dyn GameModel>) -> i32 {
    match scenario.mode {
        Mode::Game { runtime } => println!("nvse-host: game, runtime 0x{runtime:08X}"),
        Mode::Editor => println!("nvse-host: editor"),
    }
    // Another mod's hooks are in place before anything runs.
    let mut passed = game.as_mut().is_none_or(|game| game.before_plugins());
    // Test DLLs first, as modules the game loads before xNVSE: their DllMain
    // allocates from their C runtime before any plugin can hook it. The churn
    // threads start here too, and run until the checks are done.
    let mut harness = Harness::new(&scenario.fixtures);
    harness.load_early();
    let taken_tls = scenario.fixtures.exhaust_tls.then(exits::exhaust_tls);

    let dlls = plugins::discover();
    println!("nvse-host: {} DLL(s) in Data\\NVSE\\Plugins", dlls.len());
    let candidates: Vec<(usize, PathBuf, Vec<String>)> = dlls
        .iter()
        .enumerate()
        .filter_map(|(i, path)| check_exports(path).map(|names| (i, path.clone(), names)))
        .collect();

    // xNVSE's loader runs the preload pass for the game only, before the
    // game's static initialisers; the DLLs stay loaded for good. An older
    // NVSE (`game --moment load`) has no preload pass.
    let preload_pass =
        matches!(scenario.mode, Mode::Game { .. }) && game.as_ref().is_none_or(|game| game.preload_pass());
    if preload_pass {
        for (_, path, names) in &candidates {
            if names.iter().any(|n| n == exports::PRELOAD) {
                preload(path);
            }
        }
    }
    // The game's C runtime heap and static initialisers, and its threads,
    // which allocate until the checks.
    if let Some(game) = game.as_mut() {
        game.start();
    }

    let interface = nvse::interface(scenario.mode);
    let accepted = query_pass(&interface, &candidates);
    nvse::broadcast(msg::POST_QUERY_PLUGINS, std::ptr::null_mut(), 0);
    let loaded = load_pass(&interface, accepted);
    if let Some(taken) = taken_tls {
        exits::restore_tls(taken);
    }
    nvse::broadcast(msg::POST_LOAD, std::ptr::null_mut(), 0);
    nvse::broadcast(msg::POST_POST_LOAD, std::ptr::null_mut(), 0);
    if let Some(game) = game.as_mut() {
        game.after_load();
    }

    // Modules loaded once the plugins' hooks exist.
    harness.load_late();
    let fixture_names: Vec<String> =
        scenario.fixtures.early.iter().chain(&scenario.fixtures.late).map(|f| file_name_of(f).to_owned()).collect();
    if scenario.fixtures.exit_checks {
        exits::enable_exit_checks(&fixture_names);
    }
    let mut checks = |game: &mut Option<&mut dyn GameModel>| {
        let mut passed = harness.check(&loaded);
        if let Some(game) = game.as_mut() {
            passed &= game.check();
        }
        if scenario.fixtures.thread_storm > 0 {
            passed &=
                exits::thread_storm(scenario.fixtures.thread_storm, &fixture_names, scenario.fixtures.exit_checks);
        }
        if scenario.fixtures.leak > 0 {
            harness.leak(scenario.fixtures.leak);
        }
        if let Some((giver, taker)) = &scenario.fixtures.cross {
            passed &= harness.cross(giver, taker);
        }
        if let Some(bug) = scenario.fixtures.provoke {
            harness.provoke(bug);
        }
        play_for(scenario.fixtures.play_seconds, &harness);
        if let Some(options) = &scenario.bench {
            passed &= bench::run(options, &loaded);
        }
        passed
    };
    match scenario.mode {
        // The checks wait for the first frame: a plugin patches modules that
        // loaded late at the latest there.
        Mode::Game { .. } => play(scenario.exit, &mut game, |game| passed &= checks(game)),
        Mode::Editor => passed &= checks(&mut game),
    }
    println!("nvse-host: session over");
    let _ = std::io::stdout().flush();
    if passed {
        0
    } else {
        1
    }
}

/// The export check NVSE makes before loading a DLL.
fn check_exports(path: &std::path::Path) -> Option<Vec<String>> {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let names = match plugins::named_exports(path) {
        Ok(names) => names,
        Err(e) => {
            println!("nvse-host: {file}: skipped, cannot read exports ({e})");
            return None;
        }
    };
    println!("nvse-host: {file}: {} named export(s): {}", names.len(), names.join(" "));
    if names.len() > exports::MAX_NAMED_EXPORTS {
        println!("nvse-host: {file}: skipped, over {} exports", exports::MAX_NAMED_EXPORTS);
        return None;
    }
    if !names.iter().any(|n| n == exports::QUERY) {
        println!("nvse-host: {file}: skipped, no {} export", exports::QUERY);
        return None;
    }
    Some(names)
}

fn preload(path: &std::path::Path) {
    let library = match Library::load(path) {
        Ok(library) => library,
        Err(e) => return println!("nvse-host: preload {}: {e}", path.display()),
    };
    fixtures::plugin_loaded(library.module);
    let Some(preload) = library.preload() else { return };
    // SAFETY: the export has NVSE's Preload signature.
    let result = unsafe { preload() };
    println!("nvse-host: preload {} -> {result}", library.file_name());
    // Never freed, as in xNVSE.
    std::mem::forget(library);
}

struct Accepted {
    library: Library,
    name: String,
}

/// Queries every plugin; the handle is the 1-based index over all DLLs.
fn query_pass(interface: &nvse_abi::NVSEInterface, candidates: &[(usize, PathBuf, Vec<String>)]) -> Vec<Accepted> {
    let mut accepted = Vec::new();
    for (index, path, _) in candidates {
        let handle = *index as PluginHandle + 1;
        let library = match Library::load(path) {
            Ok(library) => library,
            Err(e) => {
                println!("nvse-host: query {}: {e}", path.display());
                continue;
            }
        };
        fixtures::plugin_loaded(library.module);
        let file = library.file_name();
        let (Some(query), Some(_)) = (library.query(), library.load_fn()) else {
            println!("nvse-host: query {file}: does not appear to be an NVSE plugin");
            library.free();
            continue;
        };
        let mut info = PluginInfo { info_version: 0, name: std::ptr::null(), version: 0 };
        nvse::enter_plugin(handle, &file);
        // SAFETY: the export has NVSE's Query signature; both pointers are valid.
        let result = unsafe { query(interface, &mut info) };
        nvse::leave_plugin();
        let name = if info.name.is_null() {
            String::new()
        } else {
            // SAFETY: PluginInfo::name is a NUL-terminated static string.
            unsafe { CStr::from_ptr(info.name) }.to_string_lossy().into_owned()
        };
        println!(
            "nvse-host: query {file} -> {result} (name {name:?}, version {}, infoVersion {})",
            info.version, info.info_version
        );
        if !result || name.is_empty() {
            let why = if result { "disabled, no name specified" } else { "reported as incompatible during query" };
            println!("nvse-host: plugin {file} ({name}) {why}");
            nvse::forget_plugin(handle);
            library.free();
            continue;
        }
        accepted.push(Accepted { library, name });
    }
    accepted
}

/// Loads the plugins that accepted; the handle is the 1-based index over them.
/// Returns the file names and modules of those that loaded.
fn load_pass(interface: &nvse_abi::NVSEInterface, accepted: Vec<Accepted>) -> Vec<(String, HMODULE)> {
    let mut loaded = Vec::new();
    for (index, plugin) in accepted.into_iter().enumerate() {
        let handle = index as PluginHandle + 1;
        let Some(load) = plugin.library.load_fn() else { continue };
        nvse::enter_plugin(handle, &plugin.name);
        // SAFETY: the export has NVSE's Load signature; the interface is valid.
        let result = unsafe { load(interface) };
        nvse::leave_plugin();
        println!(
            "nvse-host: load {} -> {result} (handle {handle}, {} listener(s))",
            plugin.name,
            nvse::listener_count(handle)
        );
        if result {
            loaded.push((plugin.library.file_name(), plugin.library.module));
            std::mem::forget(plugin.library);
        } else {
            println!("nvse-host: plugin {} reported as incompatible during load", plugin.name);
            nvse::forget_plugin(handle);
            plugin.library.free();
        }
    }
    loaded
}

/// `seconds` of frames: one `MainGameLoop` each, some allocation in every
/// fixture, about 60 a second.
fn play_for(seconds: u32, harness: &Harness) {
    if seconds == 0 {
        return;
    }
    let end = Instant::now() + Duration::from_secs(u64::from(seconds));
    let mut frame = 0;
    while Instant::now() < end {
        nvse::broadcast(msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
        harness.frame(frame);
        frame += 1;
        std::thread::sleep(Duration::from_millis(16));
    }
    println!("nvse-host: played {frame} frames in {seconds} s");
}

/// The game's part: the main menu, a load, a save, back to the menu, quit
/// (or, with `Exit::None`, the process ends without a word). Each frame is a `MainGameLoop` and a pass of the game's main loop;
/// `after_first_frame` runs after the first.
fn play(
    exit: Exit,
    game: &mut Option<&mut dyn GameModel>,
    after_first_frame: impl FnOnce(&mut Option<&mut dyn GameModel>),
) {
    let frame = |game: &mut Option<&mut dyn GameModel>| {
        nvse::broadcast(msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
        if let Some(game) = game.as_mut() {
            game.frame();
        }
    };
    nvse::broadcast(msg::DEFERRED_INIT, std::ptr::null_mut(), 0);
    frame(game);
    after_first_frame(game);
    for _ in 1..3 {
        frame(game);
    }
    let save = c"Saves\\Save 1.fos";
    let save_len = save.to_bytes().len() as u32;
    nvse::broadcast(msg::PRE_LOAD_GAME, save.as_ptr().cast_mut().cast(), save_len);
    nvse::broadcast(msg::LOAD_GAME, save.as_ptr().cast_mut().cast(), save_len);
    // PostLoadGame carries the bool itself in the pointer.
    nvse::broadcast(msg::POST_LOAD_GAME, std::ptr::without_provenance_mut(1), 1);
    nvse::broadcast(msg::SAVE_GAME, save.as_ptr().cast_mut().cast(), save_len);
    nvse::broadcast(msg::EXIT_TO_MAIN_MENU, std::ptr::null_mut(), 0);
    let last = match exit {
        Exit::Game => msg::EXIT_GAME,
        Exit::Console => msg::EXIT_GAME_CONSOLE,
        Exit::None => return,
    };
    nvse::broadcast(last, std::ptr::null_mut(), 0);
}
