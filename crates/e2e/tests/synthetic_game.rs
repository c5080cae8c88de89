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
