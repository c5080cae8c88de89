//! `cargo xtask demo [--short]`: the plugin at work without the game.
//!
//! A short game session under Wine: the NVSE stand-in's synthetic game
//! (`nvse-host game`, whose game heap and static C runtime the plugin hooks
//! inline) with the packaged DLL, its statistics CSV written every second,
//! and game threads allocating like a game for a minute (`--short`: a few
//! seconds). Then the log's summary, the report tool's text summary and
//! charts of the CSV, and the page the plugin wrote when the game quit, with
//! where they are.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::{self, cmd, step, Result, WINDOWS_TARGET};
use crate::{dist, game, setup};

/// How long the game plays, in seconds.
const PLAY_SECONDS: u32 = 60;
const SHORT_PLAY_SECONDS: u32 = 5;
/// Game threads allocating while it plays.
const THREADS: u32 = 4;

pub fn run(args: &[String]) -> Result {
    let seconds = match args.first().map(String::as_str) {
        None => PLAY_SECONDS,
        Some("--short") if args.len() == 1 => SHORT_PLAY_SECONDS,
        Some(other) => return Err(format!("`cargo xtask demo` takes only --short (got {other})")),
    };
    step("setup (tests)", setup::for_tests)?;
    dist::run()?;
    let (charts, page) = demo(seconds)?;
    println!("\ndemo: the charts of this session:");
    for chart in &charts {
        println!("  {}", chart.display());
    }
    println!("demo: the page the plugin wrote when the game quit (any browser opens it):");
    println!("  {}", page.display());
    Ok(())
}

/// The short demo, for `cargo xtask test` (the DLL is packaged and Wine set
/// up by then): it fails if the session, the CSV, a chart or the page fails.
pub fn short() -> Result {
    demo(SHORT_PLAY_SECONDS).map(drop)
}

/// The whole demo, once the DLL is packaged; returns the charts' paths and
/// the page's.
fn demo(seconds: u32) -> Result<(Vec<PathBuf>, PathBuf)> {
    step("build the NVSE stand-in (release, i686-pc-windows-gnu) and the report tool (release)", || {
        cmd("cargo", &["build", "--release", "--locked", "--target", WINDOWS_TARGET, "-p", "nvse-host"])?;
        cmd("cargo", &["build", "--release", "--locked", "-p", "stats-report"])
    })?;
    let dir = run::target_dir().join("demo");
    let host = run::target_dir().join(WINDOWS_TARGET).join("release").join("nvse-host.exe");
    game::folder(&dir, &host, true, |ini| game::with_profile(game::set_key(&ini, "Stats", "CsvIntervalSeconds", "1")))?;
    let plugins = game::plugins(&dir);
    step("the synthetic game's profile (which of its functions the plugin hooks)", || game::write_profile(&dir))?;
    step(&format!("a game session of {seconds} s under Wine, {THREADS} game threads"), || {
        let (seconds, threads) = (seconds.to_string(), THREADS.to_string());
        let mut command = game::wine(&dir, &["game", "--threads", &threads, "--play", &seconds]);
        let (ok, output) = run::output_all(&mut command);
        // The game's own verdicts; its line per frame is left out.
        for line in output.lines().filter(|l| l.starts_with("nvse-host: game:")) {
            println!("  {line}");
        }
        if ok {
            Ok(())
        } else {
            Err(format!("the game session failed:\n{output}"))
        }
    })?;
    step("the plugin's log, in short", || summarise_log(&plugins.join("MemoryPoolNVSE.log")))?;
    let csv = plugins.join("MemoryPoolNVSE.stats.csv");
    let charts = step("the report of MemoryPoolNVSE.stats.csv", || {
        let tool = run::target_dir().join("release").join("stats-report");
        let (ok, report) = run::output_all(Command::new(tool).arg(&csv));
        print!("{report}");
        if !ok {
            return Err("the report tool failed".to_string());
        }
        // The charts it wrote, as it names them.
        let charts: Vec<PathBuf> = report
            .lines()
            .map(|line| line.trim().strip_prefix("charts:").unwrap_or(line).trim())
            .filter(|path| path.ends_with(".png"))
            .map(PathBuf::from)
            .collect();
        if charts.is_empty() {
            return Err("the report tool named no chart".to_string());
        }
        Ok(charts)
    })?;
    let page = plugins.join("MemoryPoolNVSE.report.html");
    for file in charts.iter().chain([&page]) {
        let size = fs::metadata(file).map(|m| m.len()).map_err(|e| format!("{}: {e}", file.display()))?;
        if size == 0 {
            return Err(format!("{} is empty", file.display()));
        }
    }
    Ok((charts, page))
}

/// Prints what the plugin did and its exit numbers: the log's warnings and
/// errors, the game heap's lines, and the exit summary.
fn summarise_log(log: &Path) -> Result {
    let text = fs::read_to_string(log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    let wanted =
        |line: &&str| ["[WARN]", "[ERROR]", "GameHeap:", "ExitGame:", "statistics to"].iter().any(|w| line.contains(w));
    for line in text.lines().filter(wanted) {
        println!("  {line}");
    }
    println!("demo: the whole log: {}", log.display());
    Ok(())
}
