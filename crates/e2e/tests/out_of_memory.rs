//! The synthetic game runs out of address space (`nvse-host game --exhaust`,
//! `--exhaust-before-runtime`): the plugin hooked it at Preload and switched
//! its vanilla heap off, and a fixture takes every free range of the
//! address space. What the plugin's heap caches goes back first, then its
//! emergency reserve serves, then requests fail; the log says so at that
//! moment, each failure counts once, and the game, which checks for NULL,
//! lives on and plays again once the space comes back.

use e2e::{Game, Run};

/// The emergency reserve these games set aside (MiB): small, so that the
/// game soon gets past it.
const RESERVE_MIB: u64 = 8;

fn game(test: &str, reserve_mib: u64) -> Game {
    let game = Game::new(test);
    game.write_game_profile(|profile| profile);
    game.write_ini(&format!("[GameHeap]\nProfile = game.toml\n[Heap]\nEmergencyReserveMiB = {reserve_mib}\n"));
    game
}

#[test]
fn one_game_thread_runs_out_of_address_space_and_lives_on() {
    runs_out_and_lives_on("out_of_memory_1", 1);
}

#[test]
fn four_game_threads_run_out_of_address_space_at_once_and_live_on() {
    runs_out_and_lives_on("out_of_memory_4", 4);
}

fn runs_out_and_lives_on(test: &str, threads: usize) {
    let game = game(test, RESERVE_MIB);
    let run = game.run(&["game", "--exhaust", &threads.to_string()]);
    // The checks before the fixture: hooked at Preload, no vanilla heap.
    run.assert_printed("nvse-host: game: ok");
    assert!(run.success, "{}", run.describe());
    let fact = |check: &str, key: &str| run.fact_number("game", check, key);
    assert!(fact("exhaust", "hogged_mib") > 1000, "{}", run.describe());
    run.assert_fact("game", "exhaust", "stuck", "0");
    // The first request fitted in what the heap's cache gave back, with
    // nothing to say of it.
    run.assert_fact("game", "exhaust first", "from_cache", "1");
    run.assert_fact("game", "exhaust first", "quiet", "1");
    // The reserve served, then requests failed; every block came from the
    // plugin's heap or the game's C runtime heap, none from a heap that does
    // not exist.
    assert!(fact("exhaust got", "heap") > 0, "{}", run.describe());
    run.assert_fact("game", "exhaust got", "nowhere", "0");
    let nulls = fact("exhaust got", "nulls");
    assert!(nulls >= 3 * threads as i64, "{}", run.describe());
    // Both lines were in the log before the space came back, in order.
    run.assert_fact("game", "exhaust logged", "warning", "1");
    run.assert_fact("game", "exhaust logged", "error", "1");
    run.assert_fact("game", "exhaust logged", "in_order", "1");
    run.assert_fact("game", "exhaust after", "served", "1");
    run.assert_fact("game", "exhaust after", "reserve_again", "1");

    let warnings = lines(&run, "[WARN] Out of address space: ");
    assert_eq!(warnings.len(), 1, "the reserve goes once: {warnings:#?}");
    let warning = &warnings[0];
    for fact in [
        "1.0 MiB asked for by nvse-host.exe+0x",
        &format!("the emergency reserve ({RESERVE_MIB}.0 MiB) was released to serve it"),
        " of address space free, the largest free region ",
        "; the heap holds ",
        "Save your game now and restart it",
    ] {
        assert!(warning.contains(fact), "no {fact:?} in {warning}");
    }
    let errors = lines(&run, "[ERROR] Out of address space: ");
    assert!(!errors.is_empty(), "{}", run.describe());
    assert!(errors[0].contains("1.0 MiB asked for by nvse-host.exe+0x"), "{}", errors[0]);
    for fact in [
        "cannot be served by the heap",
        " of address space free, the largest free region ",
        "; the heap holds ",
        "further failures of requests of this size are not logged",
    ] {
        assert!(errors.iter().all(|e| e.contains(fact)), "no {fact:?} in {errors:#?}");
    }
    // Once per size class, however many failed.
    let sizes: Vec<&str> = errors.iter().map(|e| e.split(" asked for").next().unwrap_or_default()).collect();
    let mut unique = sizes.clone();
    unique.dedup();
    assert_eq!(sizes, unique, "{errors:#?}");

    // Each failure counted once, each block the game's runtime served once.
    let exit = run.log_message("ExitGame: heap rpmalloc: ");
    let failures = e2e::number_after(&exit, " fallbacks, ");
    assert_eq!(failures, Some(nulls as u64), "{exit}");
    let fallbacks = exit.split(" fallbacks,").next().and_then(|head| head.rsplit(' ').next()).unwrap_or_default();
    assert_eq!(fallbacks, fact("exhaust got", "crt").to_string(), "{exit}");
    run.log_message("The emergency reserve (8.0 MiB) is set aside again");
}

/// Log lines (level and message) that contain `text`.
fn lines(run: &Run, text: &str) -> Vec<String> {
    run.log().lines().filter(|l| l.contains(text)).map(str::to_owned).collect()
}

#[test]
fn a_runtime_allocation_before_the_runtime_has_a_heap_is_logged_before_the_process_ends() {
    let game = game("out_of_memory_before_runtime", 0);
    let run = game.run(&["game", "--exhaust-before-runtime"]);
    // The game's own runtime ends the process, as Visual C++ 2008's does.
    assert!(!run.success, "{}", run.describe());
    assert!(run.stderr.contains("runtime error R6030"), "{}", run.describe());
    run.assert_not_printed("FAILED exhaust before the runtime");
    let errors = lines(&run, "[ERROR] Out of address space: 1.0 MiB asked for by nvse-host.exe+0x");
    assert_eq!(errors.len(), 1, "{}", run.describe());
    // No reserve was asked for: nothing to release, no warning.
    assert!(lines(&run, "[WARN] Out of address space").is_empty(), "{}", run.describe());
}
