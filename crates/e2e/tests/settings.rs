//! `MemoryPoolNVSE.ini` as players write it, and the log as they read it:
//! the packaged DLL in the stand-in under Wine, with the test modules of
//! `fixtures/crt_client.c`.

use e2e::{number_after, Crt, Game};

/// What the built-in profile says of the stand-in, which is not FalloutNV.exe.
const NOT_THE_GAME: &str =
    "Preload: GameHeap: this is not FalloutNV.exe 1.4.0.525 (0x00AA3E40 lies outside the executable's image";

#[test]
fn the_shipped_file_gives_the_defaults_and_no_complaint() {
    let game = Game::new("settings_shipped");
    game.install_shipped_ini();
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let run = game.run(&["session", "--fixture", msvcrt]);
    assert!(run.success, "{}", run.describe());
    let read = run.log_message("Config: read ");
    assert!(read.ends_with("MemoryPoolNVSE.ini"), "{read}");
    run.assert_log_in_order(&[
        "MemoryPoolNVSE 0.1.0 (plugin version 100; release build ",
        "Config: read ",
        "Config: settings in force (* differs from the default):",
        "Config:   [General] Enabled=1 Backend=rpmalloc LogLevel=info",
        "Config:   [Hooks] ImportHooks=1 ExcludeModules=(none)",
        "Config:   [GameHeap] Enabled=1 StaticCrt=1 DisableVanillaHeaps=1 AtLoad=vanilla Profile=(built in)",
        "Config:   [Heap] SpanMapCount=1 TouchPages=0 EmergencyReserveMiB=64",
        "Config:   [Stats] LogIntervalSeconds=0 CsvIntervalSeconds=0",
        "Config:   [Debug] LeakTracking=0 LeakTableSize=32768 GuardPages=0 GuardMaxSize=4096 GuardQuarantine=4096 \
         GuardBudgetMiB=128",
        "Preload: heap started in ",
    ]);
    // The one warning: the stand-in is not the game the built-in profile is for.
    let warnings = run.log_messages_at("WARN");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].starts_with(NOT_THE_GAME), "{warnings:#?}");
    run.assert_fact(msvcrt, "malloc", "owned", "1");
}

#[test]
fn a_missing_file_means_the_defaults_said_once() {
    let game = Game::new("settings_missing");
    let run = game.run(&["session"]);
    assert!(run.success, "{}", run.describe());
    let said: Vec<String> = run.log_messages().into_iter().filter(|m| m.contains("not found")).collect();
    assert_eq!(said.len(), 1, "{}", run.describe());
    assert!(said[0].ends_with("MemoryPoolNVSE.ini not found; using the defaults"), "{said:?}");
}

#[test]
fn mimalloc_a_log_level_and_an_excluded_module() {
    let game = Game::new("settings_mimalloc");
    game.write_ini(
        "[General]\r\nBackend = mimalloc\r\nLogLevel = debug\r\n[Hooks]\r\nExcludeModules = CRT_UCRT.dll, other.dll\r\n",
    );
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let ucrt = game.add_fixture(Crt::Ucrt);
    let run = game.run(&["session", "--fixture", msvcrt, "--fixture", ucrt, "--expect-left-alone", ucrt]);
    assert!(run.success, "{}", run.describe());
    run.assert_log_in_order(&[
        "Config:   [General] Enabled=1 Backend=mimalloc* LogLevel=debug*",
        "Config:   [Hooks] ImportHooks=1 ExcludeModules=crt_ucrt.dll, other.dll*",
        "Preload: heap started in ",
    ]);
    assert!(
        run.log_message("Preload: heap started in ").ends_with(" ms: mimalloc, leak tracking off"),
        "{}",
        run.describe()
    );
    // Debug lines are written.
    assert!(!run.log_messages_at("DEBUG").is_empty(), "{}", run.describe());

    // The redirected module's blocks are the heap's, and the heap is
    // mimalloc's: rpmalloc never mapped a byte.
    run.assert_printed(&format!("nvse-host: {msvcrt}: ok"));
    run.assert_fact(msvcrt, "malloc", "owned", "1");
    let stats = run.log_message("ExitGame: heap mimalloc: ");
    assert!(number_after(&stats, "heap mimalloc: ").is_some_and(|n| n > 0), "{stats}");
    assert!(stats.contains(", 0 B mapped (peak 0 B), "), "{stats}");

    // The excluded module keeps its own runtime for everything.
    run.assert_printed(&format!("nvse-host: {ucrt}: ok"));
    run.assert_fact(ucrt, "malloc", "owned", "0");
    assert_eq!(
        run.log_message(&format!("Hooks: {ucrt}: ")),
        format!("Hooks: {ucrt}: left alone: excluded by the settings")
    );
}

#[test]
fn disabled_the_plugin_changes_nothing_and_says_why() {
    let game = Game::new("settings_disabled");
    game.write_ini("[General]\nEnabled = 0\n");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&["session", "--fixture", msvcrt, "--late-fixture", msvcr90, "--expect-no-heap"]);
    assert!(run.success, "{}", run.describe());
    // Every block of every module is its runtime's (owned=0).
    run.assert_printed(&format!("nvse-host: {msvcrt}: ok"));
    run.assert_printed(&format!("nvse-host: {msvcr90}: ok"));
    run.assert_printed("nvse-host: session over");
    run.log_message("Preload: Enabled = 0 in the settings: the plugin changes nothing this session");
    assert!(!run.log_messages().iter().any(|m| m.starts_with("Hooks: ")), "{}", run.describe());
    assert!(!run.log_messages().iter().any(|m| m.contains("heap started")), "{}", run.describe());
}

#[test]
fn a_file_full_of_mistakes_gives_the_defaults_and_one_line_each() {
    let game = Game::new("settings_mistakes");
    let mistakes = "\
Enabled = 0
[General]
Backned = mimalloc
Backend = jemalloc
LogLevel = loud
[Heep]
SpanMapCount = 1
[Heap]
SpanMapCount = 100000
TouchPages = 0
TouchPages = 1
this line means nothing
[Stats
[Debug]
LeakTableSize = -1
";
    let mut bytes = mistakes.as_bytes().to_vec();
    bytes.extend_from_slice(b"LeakTracking = \xFF\r\n");
    std::fs::write(game.plugins_dir().join("MemoryPoolNVSE.ini"), &bytes).expect("write the INI");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let run = game.run(&["session", "--fixture", msvcrt]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(&format!("nvse-host: {msvcrt}: ok"));

    let warnings = run.log_messages_at("WARN");
    let problems: Vec<&String> =
        warnings.iter().filter(|w| w.starts_with("Config: MemoryPoolNVSE.ini line ")).collect();
    let lines: Vec<u64> = problems.iter().map(|p| number_after(p, "ini line ").unwrap()).collect();
    // Every mistake once, in file order (line 7 is under the unknown [Heep]).
    assert_eq!(lines, [1, 3, 4, 5, 6, 9, 11, 12, 13, 15, 16], "{problems:#?}");
    assert!(problems[0].contains("not under any [Section] (it belongs in [General])"), "{}", problems[0]);
    assert!(problems[1].contains("(did you mean Backend?)"), "{}", problems[1]);
    assert!(problems[2].contains("\"jemalloc\": expected one of rpmalloc, mimalloc, passthrough; using rpmalloc"));
    assert!(problems[4].contains("(did you mean [Heap]?)"), "{}", problems[4]);
    assert!(problems[6].contains("already set on line 10; keeping 0"), "{}", problems[6]);
    assert!(problems[10].contains("not valid UTF-8"), "{}", problems[10]);
    let read = run.log_message("Config: read ");
    assert!(read.ends_with("MemoryPoolNVSE.ini: 11 problem(s), each given its default"), "{read}");
    run.log_message("Config:   [General] Enabled=1 Backend=rpmalloc LogLevel=info");
    run.log_message("Config:   [Heap] SpanMapCount=1 TouchPages=0 EmergencyReserveMiB=64");
}

#[test]
fn leak_tracking_names_the_module_that_leaked() {
    let game = Game::new("settings_leaks");
    game.write_ini("[Debug]\nLeakTracking = 1\nLeakTableSize = 4096\n");
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&["session", "--late-fixture", msvcr90, "--leak", "100000"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(&format!("nvse-host: {msvcr90}: leaked 100000 bytes ok=1"));
    assert!(run.log_message("Preload: heap started in ").ends_with("leak tracking on"), "{}", run.describe());
    run.log_message("ExitGame: leak report: ");
    let leak = run
        .log_messages()
        .into_iter()
        .find(|m| m.starts_with("ExitGame:   ") && m.contains(&format!(" from {msvcr90}+0x")))
        .unwrap_or_else(|| panic!("no leak from {msvcr90}\n{}", run.describe()));
    let bytes = number_after(&leak, "(").expect("the leaked bytes");
    assert!(bytes >= 100_000, "{leak}");
}

#[test]
fn a_statistics_line_every_second() {
    let game = Game::new("settings_periodic");
    game.write_ini("[Stats]\nLogIntervalSeconds = 1\n");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let run = game.run(&["session", "--fixture", msvcrt, "--play-seconds", "4"]);
    assert!(run.success, "{}", run.describe());
    let started =
        run.log_message("DeferredInit: the heap is trimmed every 1 s and the address space watched every 5 s");
    assert!(started.ends_with("; a statistics line every 1 s"), "{started}");
    let stats: Vec<String> = run.log_messages().into_iter().filter(|m| m.starts_with("Stats: ")).collect();
    assert!(stats.len() >= 2, "{}", run.describe());
    // Frames churn the fixture: some second saw allocations, and the heap
    // mapped address space.
    let busiest = stats.iter().filter_map(|s| number_after(s, "; ")).max().unwrap_or(0);
    assert!(busiest > 0, "{stats:#?}");
    assert!(stats.iter().all(|s| s.contains(" mapped by rpmalloc (peak ") && s.contains(" threads")), "{stats:#?}");
    // What the heap holds, and the address space left, from a walk of it.
    assert!(
        stats.iter().all(|s| s.contains(" in the shared cache, ")
            && s.contains(" freed by the game and held back), the heap holds ")),
        "{stats:#?}"
    );
    assert!(stats.iter().all(|s| s.contains(" of address space free, the largest free region ")), "{stats:#?}");
    assert!(stats.iter().any(|s| !s.contains(" 0 B mapped by")), "{stats:#?}");
}

#[test]
fn an_unreadable_file_means_the_defaults_and_says_why() {
    let game = Game::new("settings_unreadable");
    // A folder where the file should be: it exists, and cannot be read.
    std::fs::create_dir(game.plugins_dir().join("MemoryPoolNVSE.ini")).expect("create the folder");
    let run = game.run(&["session"]);
    assert!(run.success, "{}", run.describe());
    let line = run.log_message("Config: ");
    assert!(line.contains("MemoryPoolNVSE.ini cannot be read (") && line.ends_with("); using the defaults"), "{line}");
    run.log_message("Config:   [General] Enabled=1 Backend=rpmalloc LogLevel=info");
}

#[test]
fn import_hooks_off_and_a_quiet_log() {
    let game = Game::new("settings_no_import_hooks");
    game.write_ini("[General]\nLogLevel = warn\n[Hooks]\nImportHooks = 0\n[Heep]\n");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let run = game.run(&["session", "--fixture", msvcrt, "--expect-left-alone", msvcrt]);
    assert!(run.success, "{}", run.describe());
    // The heap runs, but no module's imports lead to it.
    run.assert_printed(&format!("nvse-host: {msvcrt}: ok"));
    run.assert_fact(msvcrt, "malloc", "owned", "0");
    // Only warnings and errors are written: the one mistake in the file.
    let messages = run.log_messages();
    assert_eq!(run.log_messages_at("INFO"), Vec::<String>::new(), "{}", run.describe());
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].ends_with("MemoryPoolNVSE.ini: 1 problem(s), each given its default"), "{messages:#?}");
    assert!(messages[1].starts_with("Config: MemoryPoolNVSE.ini line 5: [Heep]: no such section"), "{messages:#?}");
    assert!(messages[2].starts_with(NOT_THE_GAME), "{messages:#?}");
}
