//! The engine's stale readers against the plugin (`nvse-host game --stale`):
//! an IO thread calls through tasks the main thread freed 1-4 ms before,
//! another thread reads structs freed in its frame, and the game threads
//! churn the same size classes meanwhile. With the plugin at its defaults,
//! every stale read finds the old bytes; with the delay at 0 frames a block
//! still reads as it was until something allocates from its class; with no
//! delay at all, the reads see what the heap wrote into freed blocks, which
//! is what the checks are there to catch.

use e2e::{Game, Run};

/// Frames of stale readers: a little over a second at 60 a second.
const FRAMES: &str = "80";

fn run(test: &str, settings: &str) -> Run {
    let game = Game::new(test);
    game.write_game_profile(|profile| profile);
    game.write_ini(&format!("[GameHeap]\nProfile = game.toml\n{settings}"));
    game.run(&["game", "--stale", FRAMES, "--threads", "2"])
}

#[test]
fn at_the_defaults_every_stale_read_finds_the_old_bytes() {
    let run = run("stale_defaults", "");
    run.assert_printed("nvse-host: game: ok");
    assert!(run.success, "{}", run.describe());
    let fact = |check: &str, key: &str| run.fact_number("game", check, key);
    assert_eq!(fact("stale tasks", "tasks"), 80 * 8, "{}", run.describe());
    run.assert_fact("game", "stale tasks", "vtable_wrong", "0");
    run.assert_fact("game", "stale tasks", "payload_wrong", "0");
    assert!(fact("stale tasks", "churned") > 1000, "{}", run.describe());
    assert_eq!(fact("stale structs", "structs"), 80 * 2, "{}", run.describe());
    run.assert_fact("game", "stale structs", "struct_wrong", "0");
    run.assert_fact("game", "stale untouched", "untouched_wrong", "0");
    assert_eq!(
        run.log_message("Preload: blocks the game heap frees"),
        "Preload: blocks the game heap frees stay unchanged and wait 30 frame(s) before reuse, 32.0 MiB of them at most"
    );
}

#[test]
fn with_no_frames_of_delay_a_freed_block_stays_as_it_was_until_its_class_is_allocated() {
    let run = run("stale_no_frames", "FreeDelayFrames = 0\n");
    run.assert_fact("game", "stale untouched", "untouched_wrong", "0");
    run.assert_fact("game", "stale structs", "struct_wrong", "0");
    // The main thread's next task takes the block the IO thread has yet to
    // read: the engine would process another task's payload.
    assert!(run.fact_number("game", "stale tasks", "payload_wrong") > 0, "{}", run.describe());
    run.assert_fact("game", "stale tasks", "vtable_wrong", "0");
}

#[test]
fn without_the_delay_the_checks_see_what_the_heap_writes_into_freed_blocks() {
    let run = run("stale_off", "FreeDelayMiB = 0\n");
    assert_eq!(
        run.log_message("Preload: blocks the game heap frees"),
        "Preload: blocks the game heap frees are reused at once ([GameHeap] FreeDelayMiB = 0)"
    );
    let fact = |check: &str, key: &str| run.fact_number("game", check, key);
    assert!(fact("stale tasks", "vtable_wrong") > 0, "{}", run.describe());
    assert!(fact("stale untouched", "untouched_wrong") > 0, "{}", run.describe());
    assert!(!run.success, "{}", run.describe());
}
