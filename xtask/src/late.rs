//! The late-install table of `cargo xtask bench`: what the plugin costs the
//! game's address space when xNVSE loads it at Load (no Preload), measured
//! on the replica of FalloutNV.exe (`crates/fnv-replica`).
//!
//! Each game session (`game-session-1t`, `game-session-4t`) runs in
//! `FalloutNV.exe --moment load --session NAME` (or `--moment preload`),
//! its blocks made and freed through the game heap's own functions, in a
//! game folder of its own:
//!
//! | install | the folder | what serves the game heap |
//! |---|---|---|
//! | `vanilla` | no plugin | the vanilla heaps and pools |
//! | `load-vanilla` | the plugin at Load, the shipped INI (`[GameHeap] AtLoad = vanilla`) | the vanilla heaps; the plugin serves the C runtime and imports |
//! | `load-plugin` | the plugin at Load, `AtLoad = plugin` | the plugin, for every new block |
//! | `preload` | the plugin at Preload | the plugin; the vanilla heaps are never made |
//!
//! with the vanilla Default heap (200 MB) and with xNVSE's largest
//! (`[Memory] DefaultHeapInitialAllocMB = 1024`, `--default-heap-mb 1024`;
//! at Preload the heaps are never made, so only 200 is run). The replica
//! checks that the game heap's blocks were whose the install says; each
//! prints one `workloads::late` record.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use workloads::late::LateRecord;
use workloads::{Scale, Session};

use crate::bench::{mib, scale_name};
use crate::game;
use crate::run::{self, cmd, step, Result, WINDOWS_TARGET};

/// What is installed, in the table's order: name, whether the plugin is
/// there, `[GameHeap] AtLoad`, the moment, and the replica's `--expect`.
const INSTALLS: [Install; 4] = [
    Install { name: "vanilla", plugin: false, at_load: "vanilla", moment: "load", expect: "vanilla" },
    Install { name: "load-vanilla", plugin: true, at_load: "vanilla", moment: "load", expect: "runtime-only" },
    Install { name: "load-plugin", plugin: true, at_load: "plugin", moment: "load", expect: "ours" },
    Install { name: "preload", plugin: true, at_load: "vanilla", moment: "preload", expect: "ours" },
];

/// The Default heap's sizes run: vanilla's, and xNVSE's largest.
const DEFAULT_HEAP_MB: [u32; 2] = [200, 1024];

#[derive(Clone, Copy)]
struct Install {
    name: &'static str,
    plugin: bool,
    at_load: &'static str,
    moment: &'static str,
    expect: &'static str,
}

impl Install {
    /// What its record says: where the plugin loaded, whose the game heap's blocks were.
    fn matches(&self, r: &LateRecord) -> bool {
        let at = if self.plugin { self.moment } else { "none" };
        let heap = if self.expect == "ours" { "plugin" } else { "vanilla" };
        r.plugin_at == at && r.game_heap == heap
    }
}

/// Builds the replica and runs every install, session and heap size at
/// `scale` (`Smoke`: one session, to see that everything still runs).
pub fn collect(scale: Scale) -> Result<Vec<LateRecord>> {
    step("build the replica of FalloutNV.exe (release, i686-pc-windows-gnu)", || {
        cmd("cargo", &["build", "--release", "--locked", "--target", WINDOWS_TARGET, "-p", "fnv-replica"])
    })?;
    let replica = run::target_dir().join(WINDOWS_TARGET).join("release").join("FalloutNV.exe");
    let sessions: &[Session] = if scale == Scale::Smoke { &[Session::OneThread] } else { &Session::ALL };
    let mut records = Vec::new();
    step("bench i686-windows-wine: a late install on the replica of FalloutNV.exe", || {
        for install in INSTALLS {
            let dir = folder(install, &replica)?;
            for &session in sessions {
                for heap_mb in DEFAULT_HEAP_MB.into_iter().filter(|&mb| install.moment == "load" || mb == 200) {
                    records.push(measure(install, &dir, session, heap_mb, scale)?);
                }
            }
        }
        Ok(())
    })?;
    Ok(records)
}

/// A game folder with the replica as the executable, the plugin and its
/// INI as the install says.
fn folder(install: Install, replica: &Path) -> Result<PathBuf> {
    let dir = run::target_dir().join("bench").join(format!("late-{}", install.name));
    let ini = |text: String| game::set_key(&text, "GameHeap", "AtLoad", install.at_load);
    game::folder_with(&dir, replica, "FalloutNV.exe", install.plugin, ini)?;
    Ok(dir)
}

/// One run of the replica; its record, checked to be the install's.
fn measure(install: Install, dir: &Path, session: Session, heap_mb: u32, scale: Scale) -> Result<LateRecord> {
    let heap = heap_mb.to_string();
    let args = [
        "--moment",
        install.moment,
        "--expect",
        install.expect,
        "--session",
        session.name(),
        "--scale",
        scale_name(scale),
        "--default-heap-mb",
        &heap,
    ];
    let what = format!("FalloutNV.exe {} ({})", args.join(" "), install.name);
    let stdout = crate::bench::stdout_of(&mut game::wine_program(dir, "FalloutNV.exe", &args), &what)?;
    let line = stdout.lines().find(|l| LateRecord::is_one(l)).ok_or(format!("{what}: no record\n{stdout}"))?;
    let record = LateRecord::parse(line).map_err(|e| format!("{what}: a record does not parse ({e}): {line}"))?;
    if !install.matches(&record) || u64::from(heap_mb) != record.default_heap_mb {
        return Err(format!("{what} measured something else: {line}"));
    }
    println!(
        "bench: late {} {} {heap_mb} MB: {} MiB in use at the peak, {} MiB for {} MiB live after the drop",
        install.name,
        session.name(),
        mib(record.peak_in_use_bytes),
        mib(record.in_use_after_drop_bytes),
        mib(record.live_after_drop_bytes)
    );
    Ok(record)
}

/// The late-install table: a row per session, Default heap size and install.
pub fn table(records: &[LateRecord]) -> String {
    let mut out = String::from(
        "\naddress space of a late install: the replica of FalloutNV.exe, the session through the game heap \
         (one run each; MiB in use over the process before the game's start-up):\n\n\
         | session | Default heap MB | install | vanilla heaps at Load | peak live | peak in use | vs vanilla | \
         after the drop: live | in use | nothing live: in use | smallest largest free |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for session in Session::ALL {
        for heap_mb in DEFAULT_HEAP_MB {
            let row = |name: &str| {
                let install = INSTALLS.iter().find(|i| i.name == name)?;
                records.iter().find(|r| {
                    r.workload == session.name() && r.default_heap_mb == u64::from(heap_mb) && install.matches(r)
                })
            };
            let vanilla = row("vanilla");
            for install in INSTALLS {
                if let Some(r) = row(install.name) {
                    let _ =
                        writeln!(out, "| {} | {heap_mb} | {} | {} |", session.name(), install.name, cells(r, vanilla));
                }
            }
        }
    }
    out
}

fn cells(r: &LateRecord, vanilla: Option<&LateRecord>) -> String {
    let versus = match vanilla {
        Some(v) => {
            let delta = (r.peak_in_use_bytes as f64 - v.peak_in_use_bytes as f64) / (1024.0 * 1024.0);
            if delta.abs() < 0.05 {
                "0.0".to_string()
            } else {
                format!("{delta:+.1}")
            }
        }
        None => "–".into(),
    };
    [
        mib(r.vanilla_reserved_bytes),
        mib(r.peak_live_bytes),
        mib(r.peak_in_use_bytes),
        versus,
        mib(r.live_after_drop_bytes),
        mib(r.in_use_after_drop_bytes),
        mib(r.in_use_empty_bytes),
        format!("{:.0}", r.min_largest_free_bytes as f64 / (1024.0 * 1024.0)),
    ]
    .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(plugin_at: &str, game_heap: &str, heap_mb: u64, peak_mib: u64) -> LateRecord {
        const MIB: u64 = 1 << 20;
        LateRecord {
            workload: "game-session-1t".into(),
            platform: "i686-windows-wine".into(),
            plugin_at: plugin_at.into(),
            game_heap: game_heap.into(),
            default_heap_mb: heap_mb,
            file_heap_mb: 64,
            vanilla_reserved_bytes: if plugin_at == "preload" { 0 } else { 396 * MIB },
            ops: 1000,
            peak_live_bytes: 300 * MIB,
            peak_in_use_bytes: peak_mib * MIB,
            live_after_drop_bytes: 95 * MIB,
            in_use_after_drop_bytes: 500 * MIB,
            in_use_empty_bytes: 400 * MIB,
            min_largest_free_bytes: 2016 * MIB,
        }
    }

    #[test]
    fn the_late_table_compares_each_install_with_vanilla() {
        let records = [
            record("none", "vanilla", 200, 643),
            record("load", "vanilla", 200, 613),
            record("load", "plugin", 200, 861),
            record("preload", "plugin", 200, 463),
            record("load", "plugin", 1024, 1685),
        ];
        let table = table(&records);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| game-session")).collect();
        assert_eq!(
            rows,
            [
                "| game-session-1t | 200 | vanilla | 396.0 | 300.0 | 643.0 | 0.0 | 95.0 | 500.0 | 400.0 | 2016 |",
                "| game-session-1t | 200 | load-vanilla | 396.0 | 300.0 | 613.0 | -30.0 | 95.0 | 500.0 | 400.0 | 2016 |",
                "| game-session-1t | 200 | load-plugin | 396.0 | 300.0 | 861.0 | +218.0 | 95.0 | 500.0 | 400.0 | 2016 |",
                "| game-session-1t | 200 | preload | 0.0 | 300.0 | 463.0 | -180.0 | 95.0 | 500.0 | 400.0 | 2016 |",
                "| game-session-1t | 1024 | load-plugin | 396.0 | 300.0 | 1685.0 | – | 95.0 | 500.0 | 400.0 | 2016 |",
            ]
        );
    }

    #[test]
    fn an_install_knows_its_records() {
        let [vanilla, load_vanilla, load_plugin, preload] = INSTALLS;
        assert!(vanilla.matches(&record("none", "vanilla", 200, 1)));
        assert!(load_vanilla.matches(&record("load", "vanilla", 200, 1)));
        assert!(!load_vanilla.matches(&record("load", "plugin", 200, 1)));
        assert!(load_plugin.matches(&record("load", "plugin", 200, 1)));
        assert!(preload.matches(&record("preload", "plugin", 200, 1)));
        assert!(!preload.matches(&record("load", "plugin", 200, 1)));
    }
}
