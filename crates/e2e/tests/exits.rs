//! Modules that use their C runtime while threads and the process end, under
//! the plugin: the test module (`fixtures/crt_client.c`) allocates, resizes
//! and frees in every `DLL_THREAD_DETACH` and in its `DLL_PROCESS_DETACH`,
//! loaded before the plugin (it detaches after it) and after it (it detaches
//! before it), and frees the blocks short-lived threads leave behind.

use e2e::{number_after, Crt, Game, Run};

/// Threads that allocated from the heap and have not ended, from the ExitGame statistics.
fn heap_threads(run: &Run) -> u64 {
    let line = run.log_message("ExitGame: heap ");
    let threads = line.rsplit("; ").next().unwrap_or_default();
    number_after(threads, "").unwrap_or_else(|| panic!("no thread count in {line:?}"))
}

#[test]
fn threads_and_the_process_end_while_modules_allocate() {
    const THREADS: i64 = 1000;
    let game = Game::new("exits_threads_and_process");
    let early = game.add_fixture(Crt::Msvcrt);
    let late = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&[
        "session",
        "--fixture",
        early,
        "--late-fixture",
        late,
        "--churn-threads",
        "2",
        "--exit-checks",
        "--thread-storm",
        &THREADS.to_string(),
    ]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: session over");
    for module in [early, late] {
        // Every detach of every thread found a usable block, and every block
        // a thread left was freed as it ended.
        assert_eq!(run.fact_number(module, "thread exits", "freed"), THREADS);
        assert_eq!(run.fact_number(module, "thread exits", "unusable"), 0);
        assert_eq!(run.fact_number(module, "thread exits", "usable"), THREADS);
        // The process's end: the module detaches after the plugin (early) or
        // before it (late), and its runtime still serves it.
        run.assert_printed(&format!("nvse-host: {module}: process detach usable=1"));
        run.assert_printed(&format!("nvse-host: {module}: ok"));
    }
    assert!(run.churn_tally().ends_with(" calls, 0 corrupted"), "{}", run.describe());

    // Ended threads leave nothing behind: no thread state, no heap, no
    // committed memory beyond what threads that never touch the heap cost.
    assert!(heap_threads(&run) <= 1, "{}", run.describe());
    let control = run.fact_number("thread storm", "", "control_growth_kib");
    let storm = run.fact_number("thread storm", "", "storm_growth_kib");
    // The heap's maintenance thread may give cached memory back during the
    // control run: a control that shrank is taken as no growth.
    assert!(
        storm <= control.max(0) + 128,
        "{THREADS} threads grew committed memory by {storm} KiB (control {control} KiB)"
    );
}

#[test]
fn without_a_tls_index_everything_goes_to_the_original_runtimes() {
    let game = Game::new("exits_no_tls_index");
    let early = game.add_fixture(Crt::Msvcrt);
    let late = game.add_fixture(Crt::Ucrt);
    let run = game.run(&[
        "session",
        "--fixture",
        early,
        "--late-fixture",
        late,
        "--exhaust-tls",
        "--churn-threads",
        "2",
        "--exit-checks",
        "--thread-storm",
        "100",
    ]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: session over");
    assert!(run.stdout.contains("nvse-host: thread-local storage exhausted ("), "{}", run.describe());
    let line = run.log_message("Preload: heap could not start");
    assert!(line.contains("TlsAlloc failed") && line.contains("pass through"), "{line}");
    for module in [early, late] {
        // The checks expect every block to be the runtime's (owned=0).
        run.assert_printed(&format!("nvse-host: {module}: ok"));
        run.assert_printed(&format!("nvse-host: {module}: process detach usable=1"));
    }
    assert_eq!(heap_threads(&run), 0, "{}", run.describe());
}
