//! Guard pages: with `[Debug] GuardPages = 1`, a module that writes one byte
//! past a block its C runtime's `malloc` gave it (redirected to the plugin),
//! or reads a block it freed, faults at that very instruction, in its own
//! code, at the address just past the block (or inside the freed one).
//! Without them, the same bugs go unnoticed.

use e2e::{Crt, Game, Run};

const GUARDED: &str = "[Debug]\nGuardPages = 1\n";

/// The size `nvse-host --provoke` uses (`faults.rs`).
const SIZE: u64 = 56;
/// How far into the fixture's export its faulting access may lie: the
/// function is a handful of instructions.
const FUNCTION_BYTES: u64 = 96;

fn provoke(test: &str, ini: &str, bug: &str) -> (Run, &'static str) {
    let game = Game::new(test);
    let fixture = game.add_fixture(Crt::Msvcrt);
    game.write_ini(ini);
    (game.run(&["session", "--fixture", fixture, "--provoke", bug]), fixture)
}

/// The hexadecimal value of `key=0x...` in `line`.
fn hex(line: &str, key: &str) -> u64 {
    let value = line.split(' ').find_map(|word| word.strip_prefix(&format!("{key}=0x"))).unwrap_or_else(|| {
        panic!("no {key}=0x... in {line:?}");
    });
    u64::from_str_radix(value, 16).unwrap_or_else(|e| panic!("{key} in {line:?}: {e}"))
}

fn printed(run: &Run, prefix: &str) -> String {
    let line = run.stdout.lines().find(|l| l.starts_with(prefix));
    line.unwrap_or_else(|| panic!("no line starting with {prefix:?}\n{}", run.describe())).to_owned()
}

/// The fault's report: the faulting instruction lies in the fixture's export
/// that committed the bug, and the address it touched is `offset` bytes into
/// the block.
fn assert_caught(run: &Run, fixture: &str, bug: &str, write: bool, offset: u64) {
    let function = hex(&printed(run, &format!("nvse-host: provoke {bug}: {fixture} function=")), "function");
    let fault = printed(run, "nvse-host: access violation: ");
    let (ip, address, block) = (hex(&fault, "ip"), hex(&fault, "address"), hex(&fault, "block"));
    assert!(fault.contains(&format!(" module={fixture} ")), "the culprit's module: {fault}\n{}", run.describe());
    assert!((function..function + FUNCTION_BYTES).contains(&ip), "ip {ip:#x} in {function:#x}: {fault}");
    assert_eq!(address, block + offset, "{fault}");
    assert!(fault.contains(&format!(" write={} ", u8::from(write))), "{fault}");
    assert!(!run.success, "the process ends at the fault\n{}", run.describe());
    assert_not_printed_after_fault(run, bug);
}

fn assert_not_printed_after_fault(run: &Run, bug: &str) {
    run.assert_not_printed(&format!("provoke {bug}: no fault"));
}

#[test]
fn an_overrun_by_one_byte_faults_at_the_guilty_instruction() {
    let (run, fixture) = provoke("guard_overrun", GUARDED, "overrun");
    assert_caught(&run, fixture, "overrun", true, SIZE);
    run.log_message("Preload: guard pages on for blocks of up to 4096 bytes: ");
    run.log_message("Preload: guard pages: a crash reading or writing just past a block");
}

#[test]
fn a_use_after_free_faults_at_the_guilty_instruction() {
    let (run, fixture) = provoke("guard_use_after_free", GUARDED, "use-after-free");
    assert_caught(&run, fixture, "use-after-free", false, 0);
}

#[test]
fn without_guard_pages_the_same_bugs_go_unnoticed() {
    for bug in ["overrun", "use-after-free"] {
        let (run, _) = provoke(&format!("guard_off_{bug}"), "", bug);
        assert!(run.success, "{}", run.describe());
        printed(&run, &format!("nvse-host: provoke {bug}: no fault block=0x"));
        run.assert_not_printed("access violation");
        assert!(!run.log().contains("guard pages"), "{}", run.describe());
    }
}

#[test]
fn a_session_with_guard_pages_passes_its_checks_and_counts_them_at_exit() {
    let game = Game::new("guard_session");
    let fixture = game.add_fixture(Crt::Msvcr90);
    game.write_ini("[Debug]\nGuardPages = 1\nGuardMaxSize = 3000\nGuardBudgetMiB = 4\nGuardQuarantine = 16\n");
    let run = game.run(&["session", "--fixture", fixture, "--churn-threads", "2"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed(&format!("nvse-host: {fixture}: ok"));
    run.log_message("Preload: guard pages on for blocks of up to 3000 bytes: each ends at an inaccessible page, and the last 16 freed stay inaccessible; 4.0 MiB reserved for 512 guarded blocks");
    let summary = run.log_message("ExitGame: guard pages: ");
    let guarded = e2e::number_after(&summary, "guard pages: ").expect("a count");
    assert!(guarded > 0, "{summary}");
    assert!(summary.contains(" of 512 slots live or in quarantine; "), "{summary}");
}
