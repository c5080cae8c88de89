//! A late install on the replica of FalloutNV.exe: the packaged DLL loaded
//! at Load only (an xNVSE that calls no Preload), when the vanilla heaps and
//! pools already hold their address space, with `[GameHeap] AtLoad` at its
//! default (`vanilla`), a wrong value, and the vanilla heaps as large as
//! xNVSE's `[Memory]` settings make them. `AtLoad = plugin` at Load is
//! `replica.rs`'s test with parked threads; the figures of each are
//! `cargo xtask bench`'s late-install table.

use e2e::Game;

/// The blocks of the game heap stay the vanilla heaps' (old and new), the C
/// runtime's new ones are the plugin's, and the pools' maintenance runs.
const GAME_HEAP_VANILLA: [(&str, &str, &str); 9] = [
    ("vanilla heaps", "heaps", "3"),
    ("vanilla heaps", "pools", "37"),
    ("old blocks", "intact", "600"),
    ("old blocks", "not_ours", "600"),
    // 100 blocks from each of the 8 C runtime entries; the game heap's 100 vanilla.
    ("new blocks", "owned", "800"),
    ("new blocks", "vanilla_blocks_made", "100"),
    ("maintenance", "branch", "75"),
    ("maintenance", "passes", "8"),
    ("threads", "corrupted", "0"),
];

#[test]
fn by_default_the_game_heap_stays_with_the_vanilla_heaps_and_the_log_says_why() {
    let game = Game::replica("replica_late_default");
    game.install_shipped_ini();
    let run = game.run(&["--moment", "load", "--threads", "2", "--expect", "runtime-only"]);
    run.assert_replica(&GAME_HEAP_VANILLA);
    run.assert_fact("replica", "vanilla heaps", "reserved_mib", "396");
    run.assert_log_in_order(&[
        "Config:   [GameHeap] Enabled=1 StaticCrt=1 DisableVanillaHeaps=1 AtLoad=vanilla Profile=(built in)",
        "Load: no emergency reserve: the game heap stays with the vanilla heaps ([GameHeap] AtLoad = vanilla, \
         or Enabled = 0)",
        "Load: heap started in ",
        "Load: no delayed frees: the game heap stays with the vanilla heaps",
        "Load: loaded without Preload: the vanilla heaps already hold 396.0 MiB of address space (the Default \
         and File heaps 264.0 MiB, 37 pools 132.0 MiB); the game heap stays with them ([GameHeap] AtLoad = \
         vanilla)",
        "Load: GameHeap: group game-heap: left to the vanilla heaps, which hold their address space since the \
         game started ([GameHeap] AtLoad = vanilla)",
        "Load: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Load: GameHeap: group vanilla-heaps-off: skipped: only at Preload",
        "Load: GameHeap: FalloutNV.exe 1.4.0.525: 1 of 3 group(s) live, in ",
    ]);
    assert!(!run.log().contains("emergency reserve, given back"), "{}", run.describe());
    assert!(!run.log().contains("blocks the game heap frees"), "{}", run.describe());
    assert_eq!(run.log_messages_at("WARN"), Vec::<String>::new(), "{}", run.describe());
}

#[test]
fn with_at_load_plugin_the_log_warns_what_it_costs() {
    let game = Game::replica("replica_late_plugin");
    game.write_ini("[GameHeap]\nAtLoad = plugin\n");
    let run = game.run(&["--moment", "load", "--expect", "ours"]);
    run.assert_replica(&[("new blocks", "owned", "900"), ("new blocks", "vanilla_blocks_made", "0")]);
    assert_eq!(
        run.log_messages_at("WARN"),
        ["Load: loaded without Preload: the vanilla heaps already hold 396.0 MiB of address space (the Default \
             and File heaps 264.0 MiB, 37 pools 132.0 MiB), and the plugin serves every new block of the game \
             heap besides ([GameHeap] AtLoad = plugin): more address space in use than without the plugin"],
        "{}",
        run.describe()
    );
    run.assert_log_in_order(&[
        "Load: 64.0 MiB of address space set aside as an emergency reserve",
        "Load: blocks the game heap frees stay unchanged and wait 30 frame(s) before reuse, 32.0 MiB of them at \
         most",
        "Load: GameHeap: group game-heap: live: 5 function(s) hooked, 0 patch(es)",
    ]);
}

#[test]
fn a_wrong_at_load_value_is_named_and_the_default_used() {
    let game = Game::replica("replica_late_wrong");
    game.write_ini("[GameHeap]\nAtLoad = overflow\n");
    let run = game.run(&["--moment", "load", "--threads", "2", "--expect", "runtime-only"]);
    run.assert_replica(&GAME_HEAP_VANILLA);
    let warnings = run.log_messages_at("WARN");
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("Config: read ") && warnings[0].ends_with(": 1 problem(s), each given its default")
    );
    assert_eq!(
        warnings[1],
        "Config: MemoryPoolNVSE.ini line 2: [GameHeap] AtLoad = \"overflow\": expected one of vanilla, plugin; \
         using vanilla (the default)"
    );
    run.assert_log_in_order(&["Load: GameHeap: group game-heap: left to the vanilla heaps"]);
}

/// xNVSE's `[Memory]` sizes, as its loader writes them before the game
/// starts: the heaps reserve what they say (clamped as xNVSE clamps), and
/// the plugin's figure is what they hold.
#[test]
fn larger_vanilla_heaps_from_xnvse_are_what_the_log_reports() {
    let game = Game::replica("replica_late_xnvse_heaps");
    game.install_shipped_ini();
    let run = game.run(&[
        "--moment",
        "load",
        "--default-heap-mb",
        "4096",
        "--file-heap-mb",
        "128",
        "--expect",
        "runtime-only",
    ]);
    run.assert_replica(&[
        ("vanilla heaps", "default_mb", "1024"),
        ("vanilla heaps", "file_mb", "128"),
        // 1024 + 128 MB of heaps and the pools' 132 MiB.
        ("vanilla heaps", "reserved_mib", "1284"),
        ("new blocks", "owned", "800"),
    ]);
    run.assert_printed(
        "nvse-host: xNVSE: Warning: Default heap size is greater than maximum allowed value. Using maximum value of 1024",
    );
    run.assert_printed("nvse-host: xNVSE: Overriding Default heap size: 1024MB");
    run.assert_printed("nvse-host: xNVSE: Overriding File heap size: 128MB");
    run.assert_log_in_order(&[
        "Load: loaded without Preload: the vanilla heaps already hold 1284.0 MiB of address space (the Default \
         and File heaps 1152.0 MiB, 37 pools 132.0 MiB); the game heap stays with them",
    ]);
}

/// At Preload the setting changes nothing: the vanilla heaps are never made.
#[test]
fn at_preload_at_load_changes_nothing() {
    let game = Game::replica("replica_late_at_preload");
    game.install_shipped_ini();
    let run = game.run(&["--default-heap-mb", "1024"]);
    run.assert_replica(&[
        ("vanilla heaps", "heaps", "0"),
        ("vanilla heaps", "reserved_mib", "0"),
        ("new blocks", "owned", "900"),
    ]);
    run.assert_log_in_order(&[
        "Preload: heap started in ",
        "Preload: 64.0 MiB of address space set aside as an emergency reserve",
        "Preload: GameHeap: FalloutNV.exe 1.4.0.525: 3 of 3 group(s) live, in ",
    ]);
    assert!(!run.log().contains("loaded without Preload"), "{}", run.describe());
}
