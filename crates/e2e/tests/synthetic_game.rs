//! The stand-in's synthetic game (`nvse-host game`), with no plugin at all:
//! the game's own allocators serve everything, in both NVSE moments and
//! behind another mod's hook, and its profile is the same from run to run
//! (the executable has a fixed image base).

use std::fs;

use e2e::Game;

/// A game folder without the plugin.
fn game_without_plugin(test: &str) -> Game {
    let game = Game::new(test);
    fs::remove_file(game.plugins_dir().join("MemoryPoolNVSE.dll")).expect("remove the plugin");
    game
}

#[test]
fn the_game_alone_serves_its_own_blocks_at_either_moment() {
    let game = game_without_plugin("synthetic_game_alone");
    for moment in ["preload", "load"] {
        let run = game.run(&["game", "--moment", moment, "--expect", "vanilla"]);
        assert!(run.success, "{}", run.describe());
        run.assert_printed("nvse-host: game: ok");
        run.assert_fact("game", "new blocks", "counts", "exact");
        run.assert_fact("game", "arena", "created", "1");
        run.assert_fact("game", "threads", "corrupted", "0");
        if moment == "load" {
            run.assert_fact("game", "old blocks", "released_by_originals", "2000");
        }
    }
}

#[test]
fn another_mods_heap_free_hook_does_the_games_work() {
    let game = game_without_plugin("synthetic_game_prehook");
    let run = game.run(&["game", "--moment", "load", "--prehook", "heap-free", "--expect", "vanilla"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: game: ok");
    assert!(run.fact_number("game", "prehook", "othermod_free_calls") > 0, "{}", run.describe());
}

#[test]
fn without_the_plugin_the_game_is_not_served_by_it() {
    let game = game_without_plugin("synthetic_game_not_ours");
    let run = game.run(&["game", "--threads", "1"]);
    assert!(!run.success, "{}", run.describe());
    run.assert_printed(
        "nvse-host: game: FAILED new blocks heap_original_allocs, new blocks crt_original_allocs, arena arena_blocks, arena created",
    );
}

#[test]
fn the_profile_is_the_same_every_run() {
    let game = game_without_plugin("synthetic_game_profile");
    let first = game.run(&["game-profile"]);
    assert!(first.success, "{}", first.describe());
    assert!(first.stdout.starts_with("# The synthetic game"), "{}", first.describe());
    for key in
        ["heap-allocate", "heap-free", "heap-size", "heap-realloc", "msize", "free", "name = \"vanilla-heaps-off\""]
    {
        assert!(first.stdout.contains(key), "no {key} in\n{}", first.stdout);
    }
    // The profile names code by address: the executable is never moved.
    let second = game.run(&["game-profile"]);
    assert_eq!(first.stdout, second.stdout);
}

/// A game folder with the plugin and an INI naming the synthetic game's own
/// profile (`game.toml`, written from `nvse-host game-profile`), edited by
/// `edit` first; `ini` adds more settings.
fn game_with_profile(test: &str, ini: &str, edit: impl FnOnce(String) -> String) -> Game {
    let game = Game::new(test);
    game.write_game_profile(edit);
    game.write_ini(&format!("[GameHeap]\nProfile = game.toml\n{ini}"));
    game
}

/// The game's checks passed, and printed these `(check, key, value)` facts.
#[track_caller]
fn assert_game(run: &e2e::Run, facts: &[(&str, &str, &str)]) {
    run.assert_printed("nvse-host: game: ok");
    for &(check, key, value) in facts {
        run.assert_fact("game", check, key, value);
    }
}

#[test]
fn at_preload_the_game_heap_is_born_in_the_plugin_and_the_vanilla_heap_never_made() {
    let game = game_with_profile("synthetic_game_preload", "", |p| p);
    let run = game.run(&["game", "--moment", "preload", "--expect", "ours"]);
    assert!(run.success, "{}", run.describe());
    assert_game(
        &run,
        &[
            ("new blocks", "heap_original_allocs", "0"),
            ("new blocks", "crt_original_allocs", "0"),
            ("arena", "created", "0"),
            ("arena", "arena_blocks", "0"),
            ("threads", "corrupted", "0"),
        ],
    );
    run.assert_log_in_order(&[
        "Preload: heap started in ",
        "Preload: GameHeap: nvse-host synthetic game is Large Address Aware",
        "Preload: GameHeap: group game-heap: live: 4 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group vanilla-heaps-off: live: 0 function(s) hooked, 1 patch(es)",
        "Preload: GameHeap: nvse-host synthetic game: 3 of 3 group(s) live, in ",
    ]);
    let warnings: Vec<_> = run.log().lines().filter_map(e2e::parse_log_line).filter(|(l, _)| *l == "WARN").collect();
    assert_eq!(warnings, [], "{}", run.describe());
}

#[test]
fn at_load_live_vanilla_blocks_go_back_through_the_trampolines_while_threads_run() {
    let game = game_with_profile("synthetic_game_load", "AtLoad = plugin\n", |p| p);
    let run = game.run(&["game", "--moment", "load", "--threads", "4", "--expect", "ours"]);
    assert!(run.success, "{}", run.describe());
    // Every block made before the hooks was freed, sized and resized by the game's own code.
    assert_game(
        &run,
        &[
            ("old blocks", "blocks", "2000"),
            ("old blocks", "intact", "2000"),
            ("old blocks", "released_by_originals", "2000"),
            ("new blocks", "heap_original_allocs", "0"),
            ("new blocks", "crt_original_allocs", "0"),
            ("arena", "created", "1"),
            ("arena", "bad_frees", "0"),
            ("threads", "corrupted", "0"),
        ],
    );
    run.assert_log_in_order(&[
        "Load: GameHeap: group game-heap: live: 4 function(s) hooked, 0 patch(es)",
        "Load: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Load: GameHeap: group vanilla-heaps-off: skipped: only at Preload",
        "Load: GameHeap: nvse-host synthetic game: 2 of 3 group(s) live, in ",
    ]);
}

#[test]
fn a_target_another_mod_hooked_leaves_the_game_to_itself() {
    let game = game_with_profile("synthetic_game_prehooked", "", |p| p);
    let run = game.run(&["game", "--moment", "load", "--prehook", "heap-free", "--expect", "vanilla"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: game: ok");
    let line = run.log_message("Load: GameHeap: another heap replacer is present: ");
    assert!(line.contains("(heap-free) of group \"game-heap\" already jumps to 0x"), "{line}");
    assert!(line.ends_with("in nvse-host.exe; nvse-host synthetic game's allocators are left alone"), "{line}");
}

#[test]
fn another_executable_is_left_alone_entirely() {
    let game = game_with_profile("synthetic_game_wrong_exe", "", |profile| {
        // The identifying bytes of another build.
        let (head, tail) = profile.split_once("[[group]]").expect("groups");
        let at = head.rfind("bytes = \"").expect("expected bytes") + "bytes = \"".len();
        format!("{}90 90 90{}[[group]]{tail}", &head[..at], &head[at + 8..])
    });
    let run = game.run(&["game", "--moment", "preload", "--expect", "vanilla"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: game: ok");
    let line = run.log_message("Preload: GameHeap: this is not nvse-host synthetic game (");
    assert!(line.contains(" was expected)"), "{line}");
}

#[test]
fn the_static_runtime_can_be_left_alone_and_then_the_heap_stays() {
    let game = game_with_profile("synthetic_game_no_crt", "StaticCrt = 0\n", |p| p);
    // The C runtime's blocks are the game's, its heap's ours: neither
    // `--expect` fits, so only the facts below are checked.
    let run = game.run(&["game", "--moment", "preload", "--threads", "2", "--expect", "vanilla"]);
    run.assert_fact("game", "new blocks", "heap_original_allocs", "0");
    assert_eq!(run.fact_number("game", "new blocks", "crt_original_allocs"), 3600, "{}", run.describe());
    // The heap group requires nothing, but the vanilla-heaps-off group requires both.
    run.assert_log_in_order(&[
        "Preload: GameHeap: group game-heap: live: 4 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group static-crt: off ([GameHeap] StaticCrt = 0)",
        "Preload: GameHeap: group vanilla-heaps-off: skipped: it needs group \"static-crt\", which is not live",
    ]);
    run.assert_fact("game", "arena", "created", "1");
    run.assert_fact("game", "threads", "corrupted", "0");
}
