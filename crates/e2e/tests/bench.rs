//! The stand-in's `bench` scenario, which `cargo xtask bench` runs for the
//! `plugin-crt` and `crt` columns: the workloads go through the stand-in's
//! own C runtime imports, served by the plugin's heap when it is installed;
//! with `--via`, through the synthetic game's heap object or static C
//! runtime, hooked by the plugin through the game's profile.

use e2e::Game;
use workloads::latency::frames;
use workloads::{Record, Session, Workload};

fn records(stdout: &str) -> Vec<Record> {
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| Record::parse(l).expect("a record parses")).collect()
}

#[test]
fn with_the_plugin_its_heap_serves_every_workload() {
    let game = Game::new("bench_plugin_crt");
    let run = game.run(&["bench", "--scale", "smoke"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(
        "nvse-host: bench: plugin-crt, 5 workload(s), 2 session(s) and the frame session at Smoke scale",
    );
    let records = records(&run.stdout);
    let names: Vec<&str> = records.iter().map(|r| r.workload.as_str()).collect();
    let expected: Vec<&str> = Workload::ALL
        .map(Workload::name)
        .into_iter()
        .chain(Session::ALL.map(Session::name))
        .chain([frames::NAME])
        .collect();
    assert_eq!(names, expected, "{}", run.describe());
    for r in &records {
        assert_eq!((r.allocator.as_str(), r.platform.as_str()), ("plugin-crt", "i686-windows-wine"));
        // The sessions measure address space, the frame session single
        // calls and frames, rather than throughput.
        let session = Session::from_name(&r.workload).is_some();
        let frames = r.workload == frames::NAME;
        assert!(r.ops > 0 && r.peak_live_bytes > 0 && r.ns_per_op.is_some() != (session || frames), "{r:?}");
        assert_eq!(r.address_space.is_some(), session, "{r:?}");
        assert_eq!(r.latency.is_some(), frames, "{r:?}");
    }
    // The frame session timed its calls and frames, and counted the heap's
    // system calls: its game threads map what their live set needs.
    let latency = records.last().and_then(|r| r.latency).expect("the frame session's figures");
    assert!(
        latency.frames == 10 && latency.p50_ns <= latency.p999_ns && latency.p999_ns <= latency.max_ns,
        "{latency:?}"
    );
    assert!(latency.median_frame_ns <= latency.slowest_frame_ns, "{latency:?}");
    let calls = latency.os_calls.expect("the plugin's system calls are counted");
    assert!(calls.maps > 0, "the game threads' live set was mapped on no game thread: {calls:?}");
    // Every block of the workloads was the heap's: nothing fell back to
    // msvcrt, nothing failed, nothing was left.
    let exit = run.log_message("ExitGame: heap rpmalloc:");
    assert!(exit.contains(" 0 live blocks") && exit.contains(" 0 fallbacks, 0 failures"), "{exit}");
}

#[test]
fn without_a_plugin_msvcrt_serves_them() {
    let game = Game::new("bench_crt");
    std::fs::remove_file(game.plugins_dir().join("MemoryPoolNVSE.dll")).expect("uninstall the plugin");
    let run = game.run(&["bench", "--scale", "smoke", "--workload", "larson-like"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: bench: crt, 1 workload(s) and 0 session(s) at Smoke scale");
    let records = records(&run.stdout);
    assert_eq!(records.len(), 1, "{}", run.describe());
    assert_eq!((records[0].workload.as_str(), records[0].allocator.as_str()), ("larson-like", "crt"));
    assert!(run.log.is_none(), "no plugin, no log");
}

/// The synthetic game's heap object and static C runtime, hooked through its
/// profile: the plugin's heap serves every workload through them.
#[test]
fn through_the_games_own_paths_the_plugins_heap_serves_them() {
    let game = Game::new("bench_game_paths");
    game.write_game_profile(|profile| profile);
    game.write_ini("[GameHeap]\nProfile = game.toml\n");
    for (via, allocator) in [("game-heap", "game-heap"), ("static-crt", "static-crt")] {
        let run = game.run(&[
            "bench",
            "--via",
            via,
            "--scale",
            "smoke",
            "--workload",
            "game-mix",
            "--workload",
            "larson-like",
        ]);
        assert!(run.success, "{}", run.describe());
        let records = records(&run.stdout);
        let found: Vec<(&str, &str)> = records.iter().map(|r| (r.workload.as_str(), r.allocator.as_str())).collect();
        assert_eq!(found, [("game-mix", allocator), ("larson-like", allocator)], "{}", run.describe());
        // Nothing fell back to the game's functions and nothing failed (the
        // game's start-up keeps a few blocks for good: some stay live).
        let exit = run.log_message("ExitGame: heap rpmalloc:");
        assert!(exit.contains(" 0 fallbacks, 0 failures"), "{exit}");
    }
}

#[test]
fn without_a_plugin_the_games_own_heap_serves_them() {
    let game = Game::new("bench_vanilla_game_heap");
    std::fs::remove_file(game.plugins_dir().join("MemoryPoolNVSE.dll")).expect("uninstall the plugin");
    let run = game.run(&["bench", "--via", "game-heap", "--scale", "smoke", "--workload", frames::NAME]);
    assert!(run.success, "{}", run.describe());
    let records = records(&run.stdout);
    assert_eq!(records.len(), 1, "{}", run.describe());
    assert_eq!((records[0].workload.as_str(), records[0].allocator.as_str()), (frames::NAME, "vanilla-game-heap"));
    let latency = records[0].latency.expect("the frame session's figures");
    assert_eq!(latency.os_calls, None, "no plugin, no system calls counted");
}
