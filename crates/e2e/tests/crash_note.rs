//! The game crashes on purpose (`nvse-host game --crash`), with filters that
//! stand for crash loggers installed before and after the plugin: the log
//! gets one note naming what the heap knows of ECX (a block freed a frame
//! before and still waiting, a live block and who allocated it, or a wild
//! pointer) and of the address read; both filters still run, in order; the
//! exception the game raised and handled itself before writes nothing.

use e2e::{Game, Run};

fn crash(kind: &str) -> (Run, usize) {
    let game = Game::new(&format!("crash_{kind}"));
    game.write_game_profile(|profile| profile);
    game.write_ini("[GameHeap]\nProfile = game.toml\n[Debug]\nLeakTracking = 1\n");
    let run = game.run(&["game", "--crash", kind]);
    assert!(!run.success, "the game crashed: {}", run.describe());
    run.assert_printed("nvse-host: crash handled own exception code=0xe0000042");
    let stdout = &run.stdout;
    let last = stdout.find("nvse-host: crash filter last ran code=0xc0000005");
    let first = stdout.find("nvse-host: crash filter first ran code=0xc0000005");
    assert!(
        matches!((last, first), (Some(l), Some(f)) if l < f),
        "both filters ran, the last installed first\n{}",
        run.describe()
    );
    let ecx = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("nvse-host: crash {kind} ecx=0x")))
        .and_then(|rest| usize::from_str_radix(&rest[..8], 16).ok())
        .unwrap_or_else(|| panic!("no crash line\n{}", run.describe()));
    let notes: Vec<String> =
        run.log_messages().into_iter().filter(|m| m.starts_with("Crash: ") && !m.starts_with("Crash:  ")).collect();
    assert_eq!(notes.len(), 1, "one note, for the crash only: {notes:#?}");
    assert!(notes[0].starts_with("Crash: access violation (0xc0000005) at nvse-host.exe+0x"), "{}", notes[0]);
    assert!(notes[0].ends_with("; what the heap knows of the addresses involved:"), "{}", notes[0]);
    assert_eq!(run.log_message("Crash:   the address read"), "Crash:   the address read 0x00000010: not the heap's");
    (run, ecx)
}

#[test]
fn a_crash_through_a_freed_block_names_it_and_when_it_was_freed() {
    let (run, ecx) = crash("freed");
    let line = run.log_message("Crash:   ECX=");
    let expected =
        format!("Crash:   ECX={ecx:#010x}: 8 bytes into a block of 64 bytes at {:#010x} that thread ", ecx - 8);
    assert!(line.starts_with(&expected), "{line}\nexpected {expected}");
    assert!(
        line.ends_with(" freed through the game heap 1 frame(s) ago; it waits, unchanged, before it is reused"),
        "{line}"
    );
    assert!(!run.log_message("Crash:   not the heap's: ").contains("ECX"), "{}", run.describe());
}

#[test]
fn a_crash_through_a_live_block_names_it_and_who_allocated_it() {
    let (run, ecx) = crash("live");
    let line = run.log_message("Crash:   ECX=");
    let expected = format!(
        "Crash:   ECX={ecx:#010x}: 16 bytes into a live block of 208 bytes at {:#010x}, allocated by nvse-host.exe+0x",
        ecx - 16
    );
    assert!(line.starts_with(&expected), "{line}\nexpected {expected}");
}

#[test]
fn a_crash_through_a_wild_pointer_says_it_is_not_the_heaps() {
    let (run, ecx) = crash("wild");
    assert_eq!(ecx, 0x4321);
    assert!(!run.log().contains("Crash:   ECX="), "{}", run.describe());
    let others = run.log_message("Crash:   not the heap's: ");
    assert!(others.split(' ').any(|r| r == "ECX"), "{others}");
}
