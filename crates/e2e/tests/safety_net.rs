//! The safety net: blocks of the heap that reach a C runtime's own release
//! functions, by paths import redirection cannot see, go back to the heap.

use e2e::{number_after, Crt, Game, Run};

const GIVER: &str = "crt_msvcrt.dll";
/// The same module under another name, excluded from redirection: it calls
/// msvcrt.dll's own functions.
const TAKER: &str = "crt_msvcrt_b.dll";

fn cross_session(test: &str, ini: &str, env: &[(&str, &str)]) -> Run {
    let game = Game::new(test);
    game.add_fixture(Crt::Msvcrt);
    game.add_fixture_as(Crt::Msvcrt, TAKER);
    game.write_ini(ini);
    game.run_with_env(
        &["session", "--fixture", GIVER, "--fixture", TAKER, "--expect-left-alone", TAKER, "--cross", GIVER, TAKER],
        env,
    )
}

#[test]
fn blocks_crossing_to_a_module_left_alone_come_back_to_the_heap() {
    let run = cross_session("net_cross", "[Hooks]\nExcludeModules = crt_msvcrt_b.dll\n", &[("WINEDEBUG", "warn+heap")]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(&format!("nvse-host: cross {GIVER} -> {TAKER}: ok"));
    run.assert_printed(&format!("nvse-host: {TAKER}: ok"));
    run.log_message("Hooks: msvcrt.dll: safety net on (");
    // msize, realloc, free, aligned_realloc, aligned_free and the saved free.
    let caught = run.log_message("ExitGame: safety net: ");
    assert!(number_after(&caught, "safety net: ").is_some_and(|n| n >= 6), "{caught}");
    assert_eq!(invalid_blocks(&run), 0, "{}", run.describe());
}

/// Wine's reports of blocks a heap was handed that it does not own.
fn invalid_blocks(run: &Run) -> usize {
    run.stderr.lines().filter(|l| l.contains(":heap:") && l.contains("invalid")).count()
}

#[test]
fn without_the_net_those_blocks_reach_the_runtime_and_break() {
    let run = cross_session(
        "net_off",
        "[Hooks]\nExcludeModules = crt_msvcrt_b.dll\nRuntimeSafetyNet = 0\n",
        &[("WINEDEBUG", "warn+heap")],
    );
    run.log_message("Config:   [Hooks] ImportHooks=1 ExcludeModules=crt_msvcrt_b.dll* RuntimeSafetyNet=0*");
    assert!(!run.log_messages().iter().any(|m| m.contains("safety net")), "{}", run.describe());
    // The hazard the net closes: msvcrt.dll is handed the heap's blocks.
    run.assert_fact(&format!("cross {GIVER} -> {TAKER}"), "realloc", "kept", "0");
    assert!(invalid_blocks(&run) > 0, "{}", run.describe());
    assert!(!run.success);
}
