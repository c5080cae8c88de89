//! The built-in profile against the replica of FalloutNV.exe 1.4.0.525's
//! hook sites (`FalloutNV.exe`, crates/fnv-replica): the packaged DLL with no
//! `Profile` key, loaded as xNVSE loads it, on the real first bytes, frames
//! and start-up order. The replica prints `nvse-host: replica: <check>
//! key=value ...` lines and a verdict after the first frame.

use e2e::Game;

#[test]
fn without_the_plugin_the_replica_serves_its_own_blocks_at_either_moment() {
    let game = Game::replica("replica_alone");
    std::fs::remove_file(game.plugins_dir().join("MemoryPoolNVSE.dll")).expect("remove the plugin");
    for moment in ["preload", "load"] {
        let run = game.run(&["--moment", moment, "--threads", "2", "--expect", "vanilla"]);
        run.assert_replica(&[
            ("vanilla heaps", "heaps", "3"),
            ("vanilla heaps", "pools", "37"),
            ("new blocks", "owned", "0"),
            ("maintenance", "branch", "75"),
            ("maintenance", "passes", "8"),
            ("threads", "corrupted", "0"),
        ]);
    }
}

#[test]
fn at_preload_every_group_goes_live_and_no_vanilla_heap_or_pool_is_ever_made() {
    let game = Game::replica("replica_preload");
    let run = game.run(&[]);
    run.assert_replica(&[
        // The MemoryManager was constructed (and initialised), its heaps
        // and pools never: nothing reserved, no table entry.
        ("vanilla heaps", "heaps", "0"),
        ("vanilla heaps", "pools", "0"),
        ("vanilla heaps", "reserved_mib", "0"),
        ("vanilla heaps", "pool_entries", "0"),
        ("vanilla heaps", "initialised", "1"),
        // The runtime's heap exists and holds nothing: every block since
        // start-up is the plugin's.
        ("start-up blocks", "crt_heap", "1"),
        ("start-up blocks", "crt_heap_blocks", "0"),
        ("start-up blocks", "runtime_owned", "3"),
        ("start-up blocks", "heap_owned", "3"),
        ("new blocks", "owned", "900"),
        ("new blocks", "vanilla_blocks_made", "0"),
        ("new blocks", "crt_heap_blocks_made", "0"),
        // The patched jmp at 0x0086EED4 is taken: the maintenance never ran.
        ("maintenance", "branch", "EB"),
        ("maintenance", "passes", "0"),
        ("maintenance", "decays", "0"),
    ]);
    run.assert_log_in_order(&[
        "Preload: heap started in ",
        "Preload: GameHeap: FalloutNV.exe 1.4.0.525 is Large Address Aware",
        "Preload: GameHeap: group game-heap: live: 5 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group vanilla-heaps-off: live: 0 function(s) hooked, 8 patch(es)",
        "Preload: GameHeap: FalloutNV.exe 1.4.0.525: 3 of 3 group(s) live, in ",
    ]);
    assert_eq!(run.log_messages_at("WARN"), Vec::<String>::new(), "{}", run.describe());
}

/// With `[GameHeap] AtLoad = plugin`: the default leaves the game heap to
/// the vanilla heaps at Load (`replica_late.rs`).
#[test]
fn at_load_the_vanilla_heaps_keep_their_blocks_and_threads_inside_the_prologues_finish_their_calls() {
    let game = Game::replica("replica_load");
    game.write_ini("[GameHeap]\nAtLoad = plugin\n");
    let run = game.run(&["--moment", "load", "--threads", "4", "--parked"]);
    // A thread at each instruction the jumps replace, past the first: two in
    // each `push ebp; mov ebp, esp` and `mov edi, edi; push ebp; mov ebp,
    // esp` prologue, one in each `push n; push scope table` SEH prologue.
    let parked = 5 * 2 + 7 * 2 + 3;
    let parked = parked.to_string();
    run.assert_replica(&[
        ("vanilla heaps", "heaps", "3"),
        ("vanilla heaps", "pools", "37"),
        // 200 + 64 MB of heaps and the pools' reservations.
        ("vanilla heaps", "reserved_mib", "396"),
        ("parked", "threads", &parked),
        ("parked", "moved", &parked),
        ("parked", "finished", &parked),
        ("parked", "right", &parked),
        ("threads", "corrupted", "0"),
        ("threads", "panicked", "0"),
        ("old blocks", "blocks", "600"),
        ("old blocks", "intact", "600"),
        ("old blocks", "not_ours", "600"),
        ("new blocks", "owned", "900"),
        ("new blocks", "vanilla_blocks_made", "0"),
        ("maintenance", "branch", "75"),
        ("maintenance", "passes", "8"),
    ]);
    run.assert_log_in_order(&[
        "Load: GameHeap: group game-heap: live: 5 function(s) hooked, 0 patch(es)",
        "Load: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Load: GameHeap: group vanilla-heaps-off: skipped: only at Preload",
        "Load: GameHeap: FalloutNV.exe 1.4.0.525: 2 of 3 group(s) live, in ",
    ]);
}

#[test]
fn another_replacers_jump_at_free_leaves_every_allocator_alone() {
    let game = Game::replica("replica_other_free");
    let run = game.run(&["--change", "other-free", "--expect", "vanilla"]);
    run.assert_replica(&[("new blocks", "owned", "0"), ("vanilla heaps", "heaps", "3")]);
    assert!(run.fact_number("replica", "other mod", "free_calls") > 0, "{}", run.describe());
    let line = run.log_message("Preload: GameHeap: another heap replacer is present: ");
    assert!(line.contains("0x00AA4060 (heap-free) of group \"game-heap\" already jumps to 0x"), "{line}");
    assert!(line.ends_with(" in FalloutNV.exe; FalloutNV.exe 1.4.0.525's allocators are left alone"), "{line}");
}

#[test]
fn an_executable_whose_identity_bytes_differ_is_left_alone() {
    let game = Game::replica("replica_other_identity");
    let run = game.run(&["--change", "other-identity", "--expect", "vanilla"]);
    run.assert_replica(&[("new blocks", "owned", "0"), ("vanilla heaps", "heaps", "3")]);
    let line = run.log_message("Preload: GameHeap: this is not FalloutNV.exe 1.4.0.525 (");
    assert!(line.contains("0x00AA3E40 holds 55 8B EC 83 EC 3C 89 4D D0 8B 45 D0 0F B6 08 84 where"), "{line}");
}

/// Before the frame checks, the game heap's group went live over a
/// reallocate that pops three arguments, and its first call unbalanced the
/// caller's stack.
#[test]
fn a_reallocate_that_pops_three_arguments_keeps_the_game_heap_vanilla() {
    let game = Game::replica("replica_realloc_ret_12");
    let run = game.run(&["--change", "realloc-three-arguments", "--expect", "runtime-only"]);
    run.assert_replica(&[
        ("vanilla heaps", "heaps", "3"),
        ("start-up blocks", "runtime_owned", "3"),
        ("start-up blocks", "heap_owned", "0"),
        ("new blocks", "owned", "800"),
        ("maintenance", "branch", "75"),
    ]);
    assert_eq!(
        run.log_messages_at("WARN"),
        ["Preload: GameHeap: group game-heap: left alone, nothing written: 0x00AA4200 (heap-realloc): \
          0x00AA4289 holds C2 0C 00 where C2 08 00 was expected"],
        "{}",
        run.describe()
    );
    run.assert_log_in_order(&[
        "Preload: GameHeap: group static-crt: live: 10 function(s) hooked, 0 patch(es)",
        "Preload: GameHeap: group vanilla-heaps-off: skipped: it needs group \"game-heap\", which is not live",
    ]);
}
