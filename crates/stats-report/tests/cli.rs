//! The `stats-report` program itself: its exit code, what it prints and
//! the files it leaves.

#[path = "../../stats-page/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    #[cfg(windows)]
    shim_beside_program();
    Command::new(env!("CARGO_BIN_EXE_stats-report")).args(args).output().expect("stats-report runs")
}

/// Wine 8 lacks bcryptprimitives.dll, which Rust's std imports: the target
/// runner puts a test-only shim of it beside each test program, and the
/// program under test, in the folder above, needs one too. On Windows there
/// is no shim and nothing to do.
#[cfg(windows)]
fn shim_beside_program() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let test = std::env::current_exe().expect("the test's own path");
        let shim = test.with_file_name("bcryptprimitives.dll");
        let beside = Path::new(env!("CARGO_BIN_EXE_stats-report")).with_file_name("bcryptprimitives.dll");
        if shim.exists() && !beside.exists() {
            std::fs::copy(&shim, &beside).expect("copy the shim beside the program");
        }
    });
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a test path is UTF-8")
}

#[test]
fn a_damaged_file_fails_with_its_line_and_column() {
    let dir = common::scratch("cli-damaged");
    let csv = dir.join("MemoryPoolNVSE.stats.csv");
    let mut lines: Vec<String> = common::session(20).lines().map(str::to_owned).collect();
    let mut fields: Vec<&str> = lines[6].split(',').collect();
    fields[2] = "12a";
    lines[6] = fields.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();

    let output = run(&[arg(&csv)]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 7, column 3 (peak_bytes): \"12a\" is not a whole number"), "{stderr}");
    assert!(text(&output.stdout).is_empty());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no chart is written");
}

#[test]
fn a_session_prints_its_summary_and_writes_its_charts() {
    let dir = common::scratch("cli-session");
    let csv = dir.join("MemoryPoolNVSE.stats.csv");
    // The last line cut short, as when the game is killed.
    let session = common::session(300);
    std::fs::write(&csv, &session[..session.len() - 100]).unwrap();

    let output = run(&[arg(&csv), "--size", "640x400"]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: ") && stderr.contains("line 301: skipped"), "{stderr}");
    assert!(stdout.contains("299 rows"), "{stdout}");
    assert!(stdout.contains("memory in use: peak "), "{stdout}");
    assert!(stdout.contains("common sizes:  up to 32 B 30.0%"), "{stdout}");
    for chart in ["memory", "rate", "sizes"] {
        let png = dir.join(format!("MemoryPoolNVSE.stats.{chart}.png"));
        assert!(stdout.contains(arg(&png)), "{stdout}");
        let info = png::Decoder::new(std::fs::File::open(&png).unwrap()).read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (640, 400));
    }
}

#[test]
fn bad_arguments_and_missing_files_fail_clearly() {
    let dir = common::scratch("cli-arguments");
    let csv = dir.join("session.csv");
    std::fs::write(&csv, common::session(10)).unwrap();

    let output = run(&[arg(&csv), "--size", "big"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("\"big\" is not a size; expected WIDTHxHEIGHT"), "{}", text(&output.stderr));

    let output = run(&[arg(&csv), "--size", "20x20"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("out of range"), "{}", text(&output.stderr));

    let missing = dir.join("missing.csv");
    let output = run(&[arg(&missing)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("missing.csv: cannot read it"), "{}", text(&output.stderr));
}

#[test]
fn html_writes_the_plugins_page_beside_the_file() {
    let dir = common::scratch("cli-html");
    let csv = dir.join("MemoryPoolNVSE.stats.csv");
    let session = common::session(120);
    std::fs::write(&csv, &session).unwrap();

    let output = run(&[arg(&csv), "--html", "--size", "640x400"]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let page = dir.join("MemoryPoolNVSE.stats.html");
    assert!(stdout.contains(&format!("page:          {}", arg(&page))), "{stdout}");
    // The page the plugin makes of the same rows, from the same code.
    let made_by = format!("stats-report {}", env!("CARGO_PKG_VERSION"));
    let about = stats_page::About { file: "MemoryPoolNVSE.stats.csv", made_by: &made_by };
    assert_eq!(std::fs::read_to_string(&page).unwrap(), stats_page::page(&about, session.as_bytes()).html);
    // The PNG charts are still written.
    assert!(dir.join("MemoryPoolNVSE.stats.memory.png").exists());
}

#[test]
fn html_of_a_damaged_file_is_a_page_that_says_where() {
    let dir = common::scratch("cli-html-damaged");
    let csv = dir.join("session.csv");
    let mut lines: Vec<String> = common::session(20).lines().map(str::to_owned).collect();
    lines[9] = lines[9].replacen(',', ",-3,", 1);
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();

    let output = run(&[arg(&csv), "--html"]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 10, column 2 (live_bytes): \"-3\" is negative"), "{stderr}");
    let page = dir.join("session.html");
    assert!(stderr.contains(&format!("the page says so: {}", arg(&page))), "{stderr}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("The statistics file is damaged: session.csv line 10, column 2 (live_bytes)"), "{html}");
    assert!(html.contains("The page shows the 8 rows before the damage."), "{html}");
    assert!(!dir.join("session.memory.png").exists(), "no chart of a damaged file");
}
