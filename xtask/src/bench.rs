//! `cargo xtask bench`: every workload against every allocator, natively and
//! under Wine, in one run; prints a table and writes
//! `target/bench/results.json` (and the table as `results.md`).
//!
//! | platform | allocators | what runs |
//! |---|---|---|
//! | `x86_64-linux` | `hooked-rpmalloc`, `rpmalloc`, `mimalloc`, `system` (glibc) | `crates/bench`, built for this machine |
//! | `i686-windows-wine` | the same (`system`: Wine's msvcrt) | `crates/bench`, built for i686-pc-windows-gnu, under Wine |
//! | `i686-windows-wine` | `plugin-crt`, `crt` | `nvse-host bench` with the packaged DLL in `Data\NVSE\Plugins`, and without |
//! | `i686-windows-wine` | the game heap of the replica of FalloutNV.exe, the plugin late or not | `FalloutNV.exe --session` (`late.rs`: a table of its own) |
//! | `i686-windows-wine` | `game-heap`, `static-crt`, `vanilla-game-heap`, `vanilla-static-crt` | `nvse-host bench --via game-heap\|static-crt`: the synthetic game's heap object and static C runtime, hooked through its profile, and without the plugin ([`paths`]) |
//! | `i686-linux` | `hooked-rpmalloc`, `rpmalloc` | `crates/bench` built for i686-unknown-linux-gnu, under callgrind only ([`i686`]) |
//!
//! The frame session `game-frames` (every call timed, at 60 frames per
//! second) runs with `plugin-crt`, `crt`, `game-heap` and
//! `vanilla-game-heap`; its table is [`latency`]'s.
//!
//! Each workload and allocator runs in a process of its own, so that the
//! peaks of one are not another's. `small-churn` natively also runs under
//! callgrind for `hooked-rpmalloc` and `rpmalloc`, twice with different
//! operation counts: the difference in instructions over the difference in
//! operations is `instructions_per_op` of those two `x86_64-linux` records
//! (set-up and exit cancel out; no symbols needed).
//!
//! `peak_mapped_bytes` is the allocator's own count where there is one
//! (`mapped_source`): the heap's count of what rpmalloc mapped for
//! `hooked-rpmalloc` and `rpmalloc`, mimalloc's commit natively, the peak the
//! plugin logs at exit for `plugin-crt`; otherwise the resident set's growth
//! (`rss`), which counts touched pages only.
//!
//! The game sessions (`game-session-1t`, `game-session-4t`) run once each
//! (not the best of three: they measure address space, not time, and
//! settle for seconds), in processes of their own like the workloads, for
//! every allocator and platform. Their records carry what walks of the
//! address space found (`crates/workloads/src/session`), in a table of their
//! own.
//!
//! Benchmarks print numbers; nothing here fails on a threshold. A workload
//! that no longer runs, or a record that does not parse, is a failure.
//! `--quick`: a tenth of the operations. `--smoke` (part of `cargo xtask
//! test`): a few thousand operations, one process per platform and allocator
//! set, nothing written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use workloads::record::AddressSpace;
use workloads::{Record, Scale, Session, Workload};

use crate::run::{self, cmd, step, Result, WINDOWS_TARGET};
use crate::setup;
use crate::{dist, game, late};

mod i686;
mod latency;
mod paths;

const NATIVE_ALLOCATORS: [&str; 4] = ["hooked-rpmalloc", "rpmalloc", "mimalloc", "system"];
const HOST_ALLOCATORS: [&str; 2] = ["plugin-crt", "crt"];
const NATIVE: &str = "x86_64-linux";
const WINE: &str = "i686-windows-wine";
use workloads::latency::frames::NAME as FRAMES;
/// The allocators measured under callgrind (small-churn, natively).
const CALLGRIND_ALLOCATORS: [&str; 2] = ["hooked-rpmalloc", "rpmalloc"];

#[derive(Clone, Copy, PartialEq, Eq)]
struct Plan {
    scale: Scale,
    /// One process per workload and allocator (clean peaks) or one per
    /// allocator set (fast).
    separate: bool,
    /// Operations of the two callgrind runs, if they run.
    callgrind_ops: Option<(u64, u64)>,
}

pub fn run(args: &[String]) -> Result {
    let scale = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => Scale::Full,
        ["--quick"] => Scale::Quick,
        ["--smoke"] => {
            step("setup (tests)", setup::for_tests)?;
            let _wineserver = run::WineServer::hold();
            dist::run()?;
            return smoke();
        }
        _ => return Err("`cargo xtask bench` takes `--quick`, `--smoke` or nothing".into()),
    };
    let started = Instant::now();
    step("setup (bench)", setup::for_bench)?;
    let _wineserver = run::WineServer::hold();
    dist::run()?;
    let plan = Plan { scale, separate: true, callgrind_ops: Some((200_000, 400_000)) };
    let records = collect(plan)?;
    let late = late::collect(scale)?;
    let table = table(&records) + &late::table(&late);
    let out = run::target_dir().join("bench");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let json = out.join("results.json");
    let mut lines: Vec<String> = records.iter().map(|r| format!("  {}", r.to_json())).collect();
    lines.extend(late.iter().map(|r| format!("  {}", r.to_json())));
    write(&json, &format!("[\n{}\n]\n", lines.join(",\n")))?;
    write(&out.join("results.md"), &table)?;
    println!("\n{table}");
    println!(
        "bench: {} records in {} ({:.0} s)",
        records.len() + late.len(),
        json.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A few thousand operations of everything: does every workload still run
/// with every allocator, and does every record parse? Expects the packaged
/// DLL and Wine (`cargo xtask test` has them by then); callgrind runs if
/// valgrind is installed (`cargo xtask bench` installs it).
pub fn smoke() -> Result {
    let valgrind = run::output("valgrind", &["--version"]).is_some();
    if !valgrind {
        println!("bench: valgrind is not installed: the smoke run skips callgrind");
    }
    let plan = Plan { scale: Scale::Smoke, separate: false, callgrind_ops: valgrind.then_some((2_000, 4_000)) };
    let records = collect(plan)?;
    let late = late::collect(Scale::Smoke)?;
    println!("\n{}{}", table(&records), late::table(&late));
    println!("bench: smoke run: {} records, all parsed", records.len() + late.len());
    Ok(())
}

/// Builds and runs everything; the DLL is packaged already.
fn collect(plan: Plan) -> Result<Vec<Record>> {
    step("build the benchmark (release, native and i686-pc-windows-gnu) and the NVSE stand-in", || {
        cmd("cargo", &["build", "--release", "--locked", "-p", "bench"])?;
        cmd("cargo", &["build", "--release", "--locked", "--target", WINDOWS_TARGET, "-p", "bench", "-p", "nvse-host"])
    })?;
    let release = run::target_dir().join("release");
    let windows_release = run::target_dir().join(WINDOWS_TARGET).join("release");
    let mut records = Vec::new();
    step(&format!("bench {NATIVE}"), || {
        records.extend(bench_binary(plan, &|| Command::new(release.join("bench")))?);
        Ok(())
    })?;
    step(&format!("bench {WINE}"), || {
        let runner = run::root().join("xtask/wine-runner.sh");
        let exe = windows_release.join("bench.exe");
        records.extend(bench_binary(plan, &|| {
            let mut command = Command::new(&runner);
            command.arg(&exe);
            command
        })?);
        Ok(())
    })?;
    step(&format!("bench {WINE}: the NVSE stand-in with and without the plugin"), || {
        records.extend(host(plan, &windows_release.join("nvse-host.exe"))?);
        Ok(())
    })?;
    step(
        &format!("bench {WINE}: the synthetic game's heap and static C runtime, with and without the plugin"),
        || {
            records.extend(paths::run(plan, &windows_release.join("nvse-host.exe"))?);
            Ok(())
        },
    )?;
    if let Some(ops) = plan.callgrind_ops {
        step(&format!("bench {NATIVE}: small-churn under callgrind"), || {
            callgrind(ops, &release.join("bench"), &mut records)
        })?;
        step(&format!("bench {}: small-churn under callgrind", i686::PLATFORM), || i686::callgrind(ops, &mut records))?;
    }
    check_complete(&records)?;
    Ok(records)
}

/// Runs `command` with no input and returns what it printed (line ends as
/// `\n`), or an error that shows its output if it fails.
pub(crate) fn stdout_of(command: &mut Command, what: &str) -> Result<String> {
    let out = command.stdin(Stdio::null()).output().map_err(|e| format!("{what}: cannot run: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({})\n--- stdout\n{stdout}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// Runs `command` and returns the records it printed (lines starting with
/// `{`); other lines are shown only if it fails.
fn records_of(command: &mut Command, what: &str) -> Result<Vec<Record>> {
    if command.get_current_dir().is_none() {
        command.current_dir(run::root());
    }
    let stdout = stdout_of(command, what)?;
    let records = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| Record::parse(line).map_err(|e| format!("{what}: a record does not parse ({e}): {line}")))
        .collect::<Result<Vec<Record>>>()?;
    for r in &records {
        let measured = match (&r.address_space, r.ns_per_op) {
            (Some(space), _) => held(space, r.peak_live_bytes),
            (None, Some(ns)) => format!("{ns:.1} ns/op"),
            (None, None) => "-".into(),
        };
        println!("bench: {} {} {}: {measured}, {} ops", r.platform, r.workload, r.allocator, r.ops);
    }
    Ok(records)
}

/// A session's figures in a line.
fn held(space: &AddressSpace, peak_live: u64) -> String {
    format!(
        "peak {} MiB reserved for {} MiB live, after the drop {} MiB for {} MiB live, {} MiB with nothing live",
        mib(space.peak_reserved_bytes),
        mib(peak_live),
        mib(space.reserved_after_drop_bytes),
        mib(space.live_after_drop_bytes),
        mib(space.reserved_empty_bytes)
    )
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// `crates/bench`, per workload and allocator (or all at once).
fn bench_binary(plan: Plan, command: &dyn Fn() -> Command) -> Result<Vec<Record>> {
    let scale = scale_name(plan.scale);
    if !plan.separate {
        return records_of(command().args(["--scale", scale]), "bench");
    }
    let mut records = Vec::new();
    for name in workload_names() {
        for allocator in NATIVE_ALLOCATORS {
            let mut c = command();
            c.args(["--scale", scale, "--workload", name, "--allocator", allocator]);
            records.extend(records_of(&mut c, &format!("bench {name} {allocator}"))?);
        }
    }
    Ok(records)
}

/// The workloads' names, then the sessions'.
fn workload_names() -> Vec<&'static str> {
    Workload::ALL.iter().map(|w| w.name()).chain(Session::ALL.iter().map(|s| s.name())).collect()
}

/// `scale` as the benchmark programs' `--scale` takes it.
pub(crate) fn scale_name(scale: Scale) -> &'static str {
    match scale {
        Scale::Full => "full",
        Scale::Quick => "quick",
        Scale::Smoke => "smoke",
    }
}

/// A game folder under `target/bench/` (see [`game::folder`]), with the
/// packaged plugin and its shipped INI (edited by `ini`) if `plugin`.
fn game_folder(name: &str, host: &Path, plugin: bool, ini: impl FnOnce(String) -> String) -> Result<PathBuf> {
    let dir = run::target_dir().join("bench").join(name);
    game::folder(&dir, host, plugin, ini)?;
    Ok(dir)
}

/// `nvse-host bench` in a folder with the plugin (`plugin-crt`) and in one
/// without (`crt`).
fn host(plan: Plan, host: &Path) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for allocator in HOST_ALLOCATORS {
        let with_plugin = allocator == "plugin-crt";
        let dir = game_folder(allocator, host, with_plugin, |ini| ini)?;
        let scale = scale_name(plan.scale);
        // Every workload and session, then the frame session.
        let runs: Vec<Vec<&str>> = if plan.separate {
            workload_names()
                .into_iter()
                .chain([FRAMES])
                .map(|name| vec!["bench", "--scale", scale, "--workload", name])
                .collect()
        } else {
            vec![vec!["bench", "--scale", scale]]
        };
        for args in runs {
            let mut command = game::wine(&dir, &args);
            let mut found = records_of(&mut command, &format!("nvse-host {}", args.join(" ")))?;
            if let Some(r) = found.iter().find(|r| r.allocator != allocator) {
                return Err(format!("nvse-host in {} measured {}, expected {allocator}", dir.display(), r.allocator));
            }
            if with_plugin && plan.separate {
                // The plugin's heap logs its peak of mapped address space at
                // exit: with one workload per process, that workload's.
                let log = dir.join("Data/NVSE/Plugins/MemoryPoolNVSE.log");
                if let Some(peak) = fs::read_to_string(&log).ok().as_deref().and_then(logged_peak_mapped) {
                    for r in &mut found {
                        r.peak_mapped_bytes = Some(peak);
                        r.mapped_source = Some("plugin-log".into());
                    }
                }
            }
            records.extend(found);
        }
    }
    Ok(records)
}

/// The peak in the plugin's last `... mapped (peak 183.5 MiB)` log line.
fn logged_peak_mapped(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains(": heap ") && l.contains(" mapped (peak "))?;
    let rest = &line[line.find(" mapped (peak ")? + " mapped (peak ".len()..];
    let (number, rest) = rest.split_once(' ')?;
    let unit = rest.split(')').next()?;
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((number.parse::<f64>().ok()? * scale) as u64)
}

/// Instructions per operation of `small-churn` natively, for the callgrind
/// allocators, set on their `x86_64-linux` records.
fn callgrind(ops: (u64, u64), bench: &Path, records: &mut [Record]) -> Result {
    for allocator in CALLGRIND_ALLOCATORS {
        let (per_op, _) = instructions(ops, bench, allocator, NATIVE)?;
        for r in records.iter_mut() {
            if (r.platform.as_str(), r.workload.as_str(), r.allocator.as_str()) == (NATIVE, "small-churn", allocator) {
                r.instructions_per_op = Some(per_op);
            }
        }
    }
    Ok(())
}

/// `bench` (built for `platform`) under callgrind, `small-churn` with
/// `allocator`, twice with different operation counts: the difference in
/// instructions over the difference in operations (set-up and exit cancel
/// out), and the second run's record.
fn instructions(ops: (u64, u64), bench: &Path, allocator: &str, platform: &str) -> Result<(f64, Record)> {
    let dir = run::target_dir().join("bench").join("callgrind");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut counts = Vec::new();
    let mut last = None;
    for ops in [ops.0, ops.1] {
        let out = dir.join(format!("{platform}.{allocator}.{ops}.out"));
        let mut command = Command::new("valgrind");
        command.args(["--tool=callgrind", "--quiet"]).arg(format!("--callgrind-out-file={}", out.display()));
        command.arg(bench).args(["--workload", "small-churn", "--allocator", allocator]);
        command.args(["--ops", &ops.to_string()]);
        let found = records_of(&mut command, &format!("callgrind {platform} small-churn {allocator} {ops}"))?;
        let record = found.into_iter().next().ok_or(format!("callgrind {platform} {allocator}: no record"))?;
        let text = fs::read_to_string(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        let total = callgrind_total(&text).ok_or(format!("{}: no totals line", out.display()))?;
        counts.push((record.ops, total));
        last = Some(record);
    }
    let ((ops_a, ir_a), (ops_b, ir_b)) = (counts[0], counts[1]);
    if ops_b <= ops_a || ir_b <= ir_a {
        return Err(format!(
            "callgrind {platform} {allocator}: {ir_a} then {ir_b} instructions for {ops_a} then {ops_b} ops"
        ));
    }
    let per_op = (ir_b - ir_a) as f64 / (ops_b - ops_a) as f64;
    println!("bench: {platform} small-churn {allocator}: {per_op:.1} instructions/op (callgrind)");
    Ok((per_op, last.expect("two runs")))
}

/// The instructions executed, from a callgrind output file (`totals:` or
/// `summary:`, first event: Ir).
fn callgrind_total(text: &str) -> Option<u64> {
    let line =
        text.lines().find(|l| l.starts_with("totals:")).or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Every workload and session with every allocator on every platform,
/// exactly once; sessions with their address space's figures.
fn check_complete(records: &[Record]) -> Result {
    let mut missing = Vec::new();
    for r in records {
        if r.address_space.is_some() != Session::from_name(&r.workload).is_some() {
            missing.push(format!(
                "{} {} {}: address space figures {:?}",
                r.platform, r.workload, r.allocator, r.address_space
            ));
        }
    }
    let mut expected: Vec<(&str, &str, &str)> = Vec::new();
    for workload in workload_names() {
        let allocators = NATIVE_ALLOCATORS
            .iter()
            .map(|a| (NATIVE, *a))
            .chain(NATIVE_ALLOCATORS.iter().chain(&HOST_ALLOCATORS).map(|a| (WINE, *a)));
        expected.extend(allocators.map(|(platform, allocator)| (platform, workload, allocator)));
    }
    expected.extend(HOST_ALLOCATORS.iter().map(|a| (WINE, FRAMES, *a)));
    expected.extend(paths::expected());
    for (platform, workload, allocator) in expected {
        let n = records
            .iter()
            .filter(|r| {
                (r.platform.as_str(), r.workload.as_str(), r.allocator.as_str()) == (platform, workload, allocator)
            })
            .count();
        if n != 1 {
            missing.push(format!("{platform} {workload} {allocator}: {n} records"));
        }
    }
    for r in records.iter().filter(|r| (r.workload == FRAMES) != r.latency.is_some()) {
        missing.push(format!("{} {} {}: frame session figures {:?}", r.platform, r.workload, r.allocator, r.latency));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the benchmark did not measure everything once:\n  {}", missing.join("\n  ")))
    }
}

/// A markdown table: ns/op per workload and platform (rows) and allocator
/// (columns); then peak mapped MiB the same way, and the callgrind counts.
fn table(records: &[Record]) -> String {
    let allocators: Vec<&str> = NATIVE_ALLOCATORS.iter().chain(&HOST_ALLOCATORS).copied().collect();
    let mut by_key: BTreeMap<(&str, &str, &str), &Record> = BTreeMap::new();
    for r in records {
        by_key.insert((r.platform.as_str(), r.workload.as_str(), r.allocator.as_str()), r);
    }
    let mut out = String::new();
    let section = |out: &mut String, title: &str, cell: &dyn Fn(&Record) -> Option<String>| {
        let _ = writeln!(out, "{title}\n");
        let _ = writeln!(out, "| workload | platform | {} |", allocators.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---:|".repeat(allocators.len()));
        for platform in [NATIVE, WINE] {
            for workload in Workload::ALL {
                let cells: Vec<String> = allocators
                    .iter()
                    .map(|a| by_key.get(&(platform, workload.name(), *a)).and_then(|r| cell(r)).unwrap_or("–".into()))
                    .collect();
                let _ = writeln!(out, "| {} | {platform} | {} |", workload.name(), cells.join(" | "));
            }
        }
        out.push('\n');
    };
    section(&mut out, "ns per operation (lower is better):", &|r| r.ns_per_op.map(|ns| format!("{ns:.1}")));
    section(&mut out, "peak mapped MiB (`mapped_source`: r = rpmalloc's mapper, m = mimalloc's commit, l = the plugin's log, s = resident set growth):", &|r| {
        let mark = match r.mapped_source.as_deref() {
            Some("rpmalloc-mapped") => "r",
            Some("mimalloc-committed") => "m",
            Some("plugin-log") => "l",
            Some("rss") => "s",
            _ => "?",
        };
        r.peak_mapped_bytes.map(|b| format!("{:.1} {mark}", b as f64 / (1024.0 * 1024.0)))
    });
    let _ = writeln!(
        out,
        "peak live MiB (the workloads' own accounting, the same for every allocator up to thread timing):\n"
    );
    let peaks: Vec<String> = Workload::ALL
        .iter()
        .filter_map(|w| {
            let peak = records.iter().filter(|r| r.workload == w.name()).map(|r| r.peak_live_bytes).max()?;
            Some(format!("{} {:.1}", w.name(), peak as f64 / (1024.0 * 1024.0)))
        })
        .collect();
    out.push_str(&peaks.join("; "));
    out.push_str("\n\ninstructions per operation, small-churn (callgrind):");
    for platform in [NATIVE, i686::PLATFORM] {
        let counts: Vec<String> = records
            .iter()
            .filter(|r| r.platform == platform)
            .filter_map(|r| r.instructions_per_op.map(|n| format!("{} {n:.1}", r.allocator)))
            .collect();
        let counts = if counts.is_empty() { "not measured".to_string() } else { counts.join(", ") };
        let _ = write!(out, " {platform}: {counts};");
    }
    out.pop();
    out.push('\n');
    out.push_str(&space_table(records));
    out.push_str(&paths::table(records));
    out.push_str(&latency::table(records));
    out
}

/// The sessions' table: one row per session, platform and allocator.
fn space_table(records: &[Record]) -> String {
    let mut out = String::from(
        "\naddress space of the game sessions, reserved over the walk before the session (one run each; MiB):\n\n\
         | session | platform | allocator | peak live | peak reserved / live | after the drop: live | reserved | × live | nothing live: reserved | smallest largest free |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let allocators: Vec<&str> = NATIVE_ALLOCATORS.iter().chain(&HOST_ALLOCATORS).copied().collect();
    for session in Session::ALL {
        for platform in [NATIVE, WINE] {
            for allocator in &allocators {
                let found = records.iter().find(|r| {
                    (r.workload.as_str(), r.platform.as_str(), r.allocator.as_str())
                        == (session.name(), platform, *allocator)
                });
                if let Some((r, space)) = found.and_then(|r| Some((r, r.address_space.as_ref()?))) {
                    let _ =
                        writeln!(out, "| {} | {platform} | {allocator} | {} |", session.name(), space_row(r, space));
                }
            }
        }
    }
    out
}

fn space_row(r: &Record, space: &AddressSpace) -> String {
    let ratio = |bytes: u64, live: u64| match live {
        0 => "–".to_string(),
        live => format!("{:.2}", bytes as f64 / live as f64),
    };
    // Natively the free space is the 47-bit range's, in terabytes: nothing to read.
    let largest_free = match space.min_largest_free_bytes {
        b if b >= 1 << 40 => "≥ 1 TiB".to_string(),
        b => format!("{:.0}", b as f64 / (1024.0 * 1024.0)),
    };
    [
        mib(r.peak_live_bytes),
        ratio(space.peak_reserved_bytes, r.peak_live_bytes),
        mib(space.live_after_drop_bytes),
        mib(space.reserved_after_drop_bytes),
        ratio(space.reserved_after_drop_bytes, space.live_after_drop_bytes),
        mib(space.reserved_empty_bytes),
        largest_free,
    ]
    .join(" | ")
}

fn write(path: &Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_logged_peak_is_read() {
        let log = "[16:08:11.151] [INFO] ExitGame: heap rpmalloc: 53068 allocations, 0 live blocks (0 B; peak 16388 blocks, 159.3 MiB), average block 4846 B, 183.5 MiB mapped (peak 183.5 MiB), 0 fallbacks\n";
        assert_eq!(logged_peak_mapped(log), Some((183.5 * 1024.0 * 1024.0) as u64));
        assert_eq!(logged_peak_mapped(&log.replace("183.5 MiB)", "2.0 GiB)")), Some(2 << 30));
        assert_eq!(logged_peak_mapped("no heap line"), None);
    }

    #[test]
    fn the_sessions_table_has_a_row_per_session_record() {
        const MIB: u64 = 1 << 20;
        let session = |platform: &str, largest_free: u64| Record {
            workload: "game-session-4t".into(),
            allocator: "plugin-crt".into(),
            platform: platform.into(),
            ns_per_op: None,
            ops: 1_000,
            peak_live_bytes: 300 * MIB,
            peak_mapped_bytes: None,
            mapped_source: None,
            peak_rss_delta_bytes: None,
            runs: 1,
            instructions_per_op: None,
            address_space: Some(AddressSpace {
                peak_reserved_bytes: 480 * MIB,
                reserved_after_drop_bytes: 470 * MIB,
                live_after_drop_bytes: 94 * MIB,
                reserved_empty_bytes: 465 * MIB,
                min_largest_free_bytes: largest_free,
            }),
            latency: None,
        };
        let other = Record { workload: "small-churn".into(), address_space: None, ..session(WINE, 0) };
        let table = space_table(&[session(WINE, 512 * MIB), session(NATIVE, 90 << 40), other]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| game-session")).collect();
        assert_eq!(
            rows,
            [
                "| game-session-4t | x86_64-linux | plugin-crt | 300.0 | 1.60 | 94.0 | 470.0 | 5.00 | 465.0 | ≥ 1 TiB |",
                "| game-session-4t | i686-windows-wine | plugin-crt | 300.0 | 1.60 | 94.0 | 470.0 | 5.00 | 465.0 | 512 |",
            ]
        );
    }

    #[test]
    fn callgrind_totals_are_read() {
        assert_eq!(callgrind_total("events: Ir\nfl=(1)\n0 5\nsummary: 1234\ntotals: 1234\n"), Some(1234));
        assert_eq!(callgrind_total("events: Ir\nsummary: 99\n"), Some(99));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
