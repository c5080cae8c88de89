//! The plugin in the NVSE stand-in: accepted in the game, declined elsewhere,
//! and a log that says which phase it went through.

use e2e::Game;

#[test]
fn a_normal_session_loads_listens_and_logs_every_phase() {
    let game = Game::new("normal_session");
    let run = game.run(&["session"]);
    assert!(run.success, "{}", run.describe());

    run.assert_printed("nvse-host: preload MemoryPoolNVSE.dll -> true");
    run.assert_printed(
        "nvse-host: query MemoryPoolNVSE.dll -> true (name \"MemoryPoolNVSE\", version 100, infoVersion 1)",
    );
    run.assert_printed("nvse-host: plugin 1 listens to NVSE");
    // Every other plugin too, for the C API's statistics message.
    run.assert_printed("nvse-host: plugin 1 listens to every plugin");
    run.assert_printed("nvse-host: load MemoryPoolNVSE -> true (handle 1, 2 listener(s))");
    for message in [
        "PostLoad",
        "PostPostLoad",
        "DeferredInit",
        "MainGameLoop",
        "LoadGame",
        "PostLoadGame",
        "SaveGame",
        "ExitToMainMenu",
        "ExitGame",
    ] {
        run.assert_printed(&format!("nvse-host: message {message} delivered to 1 listener(s)"));
    }
    run.assert_printed("nvse-host: session over");

    run.assert_log_in_order(&[
        "MemoryPoolNVSE 0.1.0",
        "Config: ",
        "Config: settings in force",
        "Config:   [General] Enabled=1 Backend=rpmalloc LogLevel=info",
        "Preload:",
        "Preload: heap started in ",
        "Preload: hooks installed in ",
        "Query: NVSE 6.4.8, runtime 1.4.0.525",
        "Query: accepted",
        "Load: listening to NVSE's messages",
        "Load: answering other plugins' statistics queries (message 0x4D505354)",
        "PostLoad:",
        "PostPostLoad:",
        "DeferredInit:",
        "ExitToMainMenu:",
        "ExitToMainMenu: heap rpmalloc:",
        "ExitGame: heap rpmalloc:",
        "ExitGame: the game is quitting",
    ]);
    let started = run.log_message("Preload: heap started in ");
    assert!(started.ends_with(" ms: rpmalloc (64.0 KiB mapped at a time), leak tracking off"), "{started}");
}

#[test]
fn quitting_from_the_console_is_an_exit_too() {
    let game = Game::new("console_exit");
    let run = game.run(&["session", "--exit", "console"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: message ExitGame_Console delivered to 1 listener(s)");
    run.assert_log_in_order(&["DeferredInit:", "ExitGame_Console: the game is quitting"]);
}

#[test]
fn the_editor_is_declined_and_the_log_says_why() {
    let game = Game::new("editor");
    let run = game.run(&["editor"]);
    assert!(run.success, "{}", run.describe());
    run.assert_not_printed("preload");
    run.assert_printed(
        "nvse-host: query MemoryPoolNVSE.dll -> false (name \"MemoryPoolNVSE\", version 100, infoVersion 1)",
    );
    run.assert_printed("nvse-host: plugin MemoryPoolNVSE.dll (MemoryPoolNVSE) reported as incompatible during query");
    run.assert_not_printed("nvse-host: load ");
    run.assert_log_in_order(&[
        "Query: NVSE 6.4.8, runtime none, editor 1",
        "Query: declined: running in the GECK (editor 1.4.0.518)",
    ]);
    assert!(!run.log().contains("Load:"), "{}", run.describe());
}

#[test]
fn another_runtime_is_declined_and_the_log_says_which() {
    let game = Game::new("wrong_runtime");
    let run = game.run(&["session", "--runtime", "0x03001C40"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: plugin MemoryPoolNVSE.dll (MemoryPoolNVSE) reported as incompatible during query");
    run.assert_printed("nvse-host: message ExitGame delivered to 0 listener(s)");
    run.assert_log_in_order(&[
        "Preload:",
        "Query: declined: unsupported game runtime 1.3.0.452 (0x03001C40); this plugin needs Fallout: New Vegas 1.4.0.525 (0x040020D0)",
    ]);
    assert!(!run.log().contains("Load:"), "{}", run.describe());
}

#[test]
fn the_log_is_named_after_the_installed_dll() {
    let game = Game::with_plugin_name("renamed", "zz_MemoryPool.dll");
    let run = game.run(&["session"]);
    assert!(run.success, "{}", run.describe());
    assert!(game.log_path().ends_with("zz_MemoryPool.log"));
    run.assert_log_in_order(&["Query: accepted", "ExitGame:"]);
}
