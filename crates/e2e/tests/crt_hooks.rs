//! The plugin's C-runtime hooks, seen from other modules: test modules built
//! against msvcrt, msvcr90 and the UCRT (`fixtures/crt_client.c`) are loaded
//! before or after the plugin, and the stand-in checks where their blocks go
//! (`nvse-host: <module>: <check> owned=1 ...`, from the plugin's export
//! `MemoryPoolNVSE_IsOwned`), while the log says which modules were patched.

use e2e::{number_after, Crt, Game, Run};
use object::read::pe::PeFile32;
use object::LittleEndian as LE;

/// The C runtime functions the test module calls, by the import's name.
const HEAP_FUNCTIONS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "free",
    "_msize",
    "_expand",
    "_aligned_malloc",
    "_aligned_realloc",
    "_aligned_free",
];

/// `(dll, function names)` of every import descriptor of a PE32 file.
fn imports(bytes: &[u8]) -> Vec<(String, Vec<String>)> {
    let pe = PeFile32::parse(bytes).expect("a PE32 image");
    let table = pe.import_table().expect("import table").expect("the module imports something");
    let mut descriptors = table.descriptors().expect("import descriptors");
    let mut result = Vec::new();
    while let Some(descriptor) = descriptors.next().expect("import descriptor") {
        let dll = String::from_utf8_lossy(table.name(descriptor.name.get(LE)).expect("dll name")).to_ascii_lowercase();
        let mut thunks = table.thunks(descriptor.original_first_thunk.get(LE)).expect("import lookup table");
        let mut names = Vec::new();
        while let Some(thunk) = thunks.next::<object::pe::ImageNtHeaders32>().expect("thunk") {
            if let object::read::pe::Import::Name(_, name) =
                table.import::<object::pe::ImageNtHeaders32>(thunk).unwrap()
            {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        result.push((dll, names));
    }
    result
}

/// Asserts the facts every module whose imports the plugin redirected shows:
/// every new block is the heap's, with the C runtime's semantics, and the
/// module passed all its checks.
fn assert_redirected(run: &Run, crt: Crt) {
    let module = crt.file_name();
    run.assert_printed(&format!("nvse-host: {module}: ok"));
    for check in ["malloc", "realloc", "calloc", "aligned_malloc", "aligned_realloc"] {
        run.assert_fact(module, check, "owned", "1");
    }
    run.assert_fact(module, "realloc", "kept", "1");
    run.assert_fact(module, "calloc", "zeroed", "1");
    run.assert_fact(module, "aligned_malloc", "aligned", "1");
    if crt.has_recalloc() {
        run.assert_fact(module, "recalloc", "owned", "1");
        run.assert_fact(module, "recalloc grow", "zeroed", "1");
    }
}

/// Asserts how a module loaded before the plugin fared with the blocks its
/// DllMain made: they stayed its runtime's, were sized and freed by it, and
/// realloc moved the first into the heap.
fn assert_early_blocks_went_home(run: &Run, crt: Crt) {
    let module = crt.file_name();
    run.assert_fact(module, "early block", "intact", "1");
    run.assert_fact(module, "early block", "owned", "0");
    // The C runtime's own _msize: the exact size DllMain asked for.
    run.assert_fact(module, "early block", "msize", "200");
    run.assert_fact(module, "early realloc", "owned", "1");
    run.assert_fact(module, "early realloc", "kept", "1");
    run.assert_fact(module, "early calloc", "owned", "0");
    run.assert_fact(module, "early aligned", "owned", "0");
    run.assert_fact(module, "early aligned", "intact", "1");
}

/// The `Hooks: <module>: ...` log message for a module.
fn hooks_line(run: &Run, module: &str) -> String {
    run.log_message(&format!("Hooks: {module}: "))
}

/// `(freed, resized, sized)` foreign blocks from the ExitGame statistics.
fn foreign_blocks(run: &Run) -> (u64, u64, u64) {
    let line = run.log_message("ExitGame: heap ");
    let number =
        |marker: &str| number_after(&line, marker).unwrap_or_else(|| panic!("no number after {marker:?} in {line:?}"));
    (number("foreign blocks: "), number(" freed, "), number(" resized, "))
}

#[test]
fn the_fixtures_import_the_heap_functions_from_their_runtime() {
    let artifacts = e2e::Artifacts::from_env();
    let dir = e2e::fixtures_dir(&artifacts.target_dir);
    for crt in Crt::ALL {
        let bytes = std::fs::read(dir.join(crt.file_name())).expect("read the fixture");
        let imports = imports(&bytes);
        let heap = imports
            .iter()
            .find(|(dll, _)| dll == crt.import_dll())
            .unwrap_or_else(|| panic!("{} does not import from {}: {imports:?}", crt.file_name(), crt.import_dll()));
        for function in HEAP_FUNCTIONS.iter().chain(crt.has_recalloc().then_some(&"_recalloc")) {
            assert!(heap.1.iter().any(|n| n == function), "{}: no {function} in {heap:?}", crt.file_name());
        }
        // One C runtime only, so that every block has one home.
        for (dll, _) in &imports {
            assert!(dll == crt.import_dll() || dll == "kernel32.dll", "{}: imports {dll}", crt.file_name());
        }
    }
}

#[test]
fn modules_loaded_before_and_after_the_plugin_allocate_from_the_heap() {
    let game = Game::new("crt_early_and_late");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let ucrt = game.add_fixture(Crt::Ucrt);
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&["session", "--fixture", msvcrt, "--fixture", ucrt, "--late-fixture", msvcr90]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: session over");

    // What does not depend on the hooks: the modules load, their early blocks
    // are intact, and every C runtime function works.
    for crt in [Crt::Msvcrt, Crt::Ucrt] {
        run.assert_fact(crt.file_name(), "early block", "intact", "1");
    }
    run.assert_printed("nvse-host: MemoryPoolNVSE_IsOwned found in MemoryPoolNVSE.dll");

    // The hooks: every module's new blocks are the heap's.
    for crt in Crt::ALL {
        assert_redirected(&run, crt);
    }
    for crt in [Crt::Msvcrt, Crt::Ucrt] {
        assert_early_blocks_went_home(&run, crt);
    }

    // The log: early modules patched at Preload, the late one after PostPostLoad.
    let line = hooks_line(&run, msvcrt);
    assert!(line.contains(" slot(s) redirected (msvcrt.dll: "), "{line}\n{}", run.describe());
    let line = hooks_line(&run, ucrt);
    assert!(
        line.contains(" slot(s) redirected (api-ms-win-crt-heap-l1-1-0.dll: ")
            || line.contains(" slot(s) redirected (ucrtbase.dll: "),
        "{line}\n{}",
        run.describe()
    );
    let line = hooks_line(&run, msvcr90);
    assert!(line.contains(" slot(s) redirected (msvcr90.dll: "), "{line}\n{}", run.describe());
    for early in [msvcrt, ucrt] {
        run.assert_log_in_order(&["Preload:", &format!("Hooks: {early}: "), "Query:"]);
    }
    run.assert_log_in_order(&["PostPostLoad:", &format!("Hooks: {msvcr90}: "), "ExitGame: heap "]);

    // The early blocks reached the heap's hooks and went back to their runtimes.
    let (freed, resized, sized) = foreign_blocks(&run);
    assert!(freed > 0, "foreign blocks freed: {freed}\n{}", run.describe());
    assert!(resized > 0, "foreign blocks resized: {resized}\n{}", run.describe());
    assert!(sized > 0, "foreign blocks sized: {sized}\n{}", run.describe());
}

#[test]
fn early_blocks_of_two_runtimes_go_back_each_to_its_own() {
    let game = Game::new("crt_two_runtimes");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&["session", "--fixture", msvcrt, "--fixture", msvcr90]);
    assert!(run.success, "{}", run.describe());
    for crt in [Crt::Msvcrt, Crt::Msvcr90] {
        run.assert_fact(crt.file_name(), "early block", "intact", "1");
        run.assert_printed(&format!("nvse-host: {}: ok", crt.file_name()));
    }
    run.assert_printed("nvse-host: session over");

    for crt in [Crt::Msvcrt, Crt::Msvcr90] {
        assert_redirected(&run, crt);
        assert_early_blocks_went_home(&run, crt);
    }
    // Per module: the calloc'ed block freed, the malloc'ed one resized and sized.
    let (freed, resized, sized) = foreign_blocks(&run);
    assert!(freed >= 2 && resized >= 2 && sized >= 2, "foreign blocks {freed}/{resized}/{sized}\n{}", run.describe());
}

#[test]
fn a_module_with_a_malformed_import_table_is_left_alone() {
    let game = Game::new("crt_malformed_imports");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let ucrt = game.add_fixture(Crt::Ucrt);
    let run = game.run(&["session", "--fixture", msvcrt, "--fixture", ucrt, "--corrupt-imports", ucrt]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(
        "nvse-host: fixture crt_ucrt.dll loaded before the plugins, import directory pointed outside the image",
    );
    // Its imports, bound before the damage, still reach the UCRT, whose blocks these are.
    run.assert_printed("nvse-host: crt_ucrt.dll: ok");
    run.assert_printed("nvse-host: message ExitGame delivered to 1 listener(s)");
    run.assert_printed("nvse-host: session over");

    for check in ["malloc", "calloc", "aligned_malloc", "recalloc", "early realloc"] {
        run.assert_fact(ucrt, check, "owned", "0");
    }
    let line = hooks_line(&run, ucrt);
    assert!(line.starts_with("Hooks: crt_ucrt.dll: left alone: malformed import table"), "{line}\n{}", run.describe());
    // The others are patched all the same.
    assert_redirected(&run, Crt::Msvcrt);
    run.assert_log_in_order(&["Query: accepted", "ExitGame: the game is quitting"]);
}

#[test]
fn allocations_on_other_threads_survive_the_patching() {
    let game = Game::new("crt_churn");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let ucrt = game.add_fixture(Crt::Ucrt);
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&[
        "session",
        "--fixture",
        msvcrt,
        "--fixture",
        ucrt,
        "--late-fixture",
        msvcr90,
        "--churn-threads",
        "2",
    ]);
    let churn = run.churn_tally();
    assert!(churn.ends_with(" calls, 0 corrupted"), "{churn}\n{}", run.describe());
    let calls = number_after(churn, "").unwrap_or(0);
    assert!(calls >= 2, "{churn}\n{}", run.describe());
    assert!(run.success, "{}", run.describe());

    for crt in Crt::ALL {
        assert_redirected(&run, crt);
    }
}

#[test]
fn the_hosts_own_c_runtime_imports_are_redirected() {
    let game = Game::new("crt_host");
    let run = game.run(&["session", "--check-host"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: nvse-host.exe: ok");
    run.assert_fact("nvse-host.exe", "calloc", "zeroed", "1");
    run.assert_fact("nvse-host.exe", "realloc", "kept", "1");

    // nvse-host.exe imports malloc, calloc, realloc and free from msvcrt.dll.
    for check in ["malloc", "realloc", "calloc"] {
        run.assert_fact("nvse-host.exe", check, "owned", "1");
    }
    let line = hooks_line(&run, "nvse-host.exe");
    assert!(line.contains(" slot(s) redirected (msvcrt.dll: "), "{line}\n{}", run.describe());
}

#[test]
fn a_module_whose_free_another_hook_took_keeps_its_runtime_for_everything() {
    let game = Game::new("crt_hooked_free");
    let msvcrt = game.add_fixture(Crt::Msvcrt);
    let ucrt = game.add_fixture(Crt::Ucrt);
    let msvcr90 = game.add_fixture(Crt::Msvcr90);
    let run = game.run(&[
        "session",
        "--fixture",
        msvcrt,
        "--fixture",
        ucrt,
        "--late-fixture",
        msvcr90,
        "--hook-free",
        msvcrt,
    ]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: session over");
    let loaded = format!("nvse-host: fixture {msvcrt} loaded before the plugins, its free import hooked by ");
    let hook = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(loaded.as_str()))
        .unwrap_or_else(|| panic!("the hook's address is not printed\n{}", run.describe()))
        .to_owned();

    // Every block the module makes now is its runtime's, and none of the
    // plugin's reached the runtime's free through the hook.
    run.assert_printed(&format!("nvse-host: {msvcrt}: ok"));
    for check in ["malloc", "realloc", "calloc", "aligned_malloc", "aligned_realloc", "early realloc"] {
        run.assert_fact(msvcrt, check, "owned", "0");
    }
    run.assert_fact(msvcrt, "hooked free", "owned", "0");
    let checks = run.checks(msvcrt);
    let calls = checks
        .iter()
        .find(|(check, _)| check == "hooked free")
        .and_then(|(_, facts)| facts.iter().find(|(key, _)| key == "calls"))
        .and_then(|(_, calls)| calls.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no hooked free calls\n{}", run.describe()));
    assert!(calls > 0, "the module's frees went around the hook\n{}", run.describe());

    // The log names the module, its runtime and the slot.
    let line = hooks_line(&run, msvcrt);
    assert_eq!(
        line,
        format!(
            "Hooks: {msvcrt}: msvcrt.dll left alone (all or nothing): free's slot points at {hook}, another hook's"
        ),
        "{}",
        run.describe()
    );
    // Said once: the rescans find nothing new to say.
    let said = run.log_messages().iter().filter(|m| m.contains("left alone (all or nothing)")).count();
    assert_eq!(said, 1, "{}", run.describe());

    // The other modules are redirected as usual.
    for crt in [Crt::Ucrt, Crt::Msvcr90] {
        assert_redirected(&run, crt);
    }
}
