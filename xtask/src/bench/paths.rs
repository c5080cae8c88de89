//! The synthetic game's own allocation paths under Wine: the workloads
//! through its heap object's thiscall methods and its static C runtime's
//! cdecl functions (`nvse-host bench --via game-heap|static-crt`), hooked
//! inline by the plugin through the game's profile, and the same without
//! the plugin (the game's own arena and runtime heap), against the
//! plugin's import path (`plugin-crt`); and the game heap with the plugin's
//! delayed frees off (`game-heap-undelayed`, `[GameHeap] FreeDelayMiB = 0`),
//! which is what the delay costs.

use std::fmt::Write as _;
use std::path::Path;

use workloads::latency::frames;
use workloads::{Record, Workload};

use super::{game_folder, records_of, scale_name, Plan, WINE};
use crate::game;
use crate::run::Result;

/// One allocator of the game's paths.
pub struct GamePath {
    pub allocator: &'static str,
    /// `nvse-host bench --via`.
    via: &'static str,
    /// With the packaged plugin (and the game's profile), or none.
    plugin: bool,
    /// The plugin's settings besides the profile.
    ini: fn(String) -> String,
}

fn defaults(ini: String) -> String {
    ini
}

fn undelayed(ini: String) -> String {
    game::set_key(&ini, "GameHeap", "FreeDelayMiB", "0")
}

pub const PATHS: [GamePath; 5] = [
    GamePath { allocator: "game-heap", via: "game-heap", plugin: true, ini: defaults },
    GamePath { allocator: "game-heap-undelayed", via: "game-heap", plugin: true, ini: undelayed },
    GamePath { allocator: "static-crt", via: "static-crt", plugin: true, ini: defaults },
    GamePath { allocator: "vanilla-game-heap", via: "game-heap", plugin: false, ini: defaults },
    GamePath { allocator: "vanilla-static-crt", via: "static-crt", plugin: false, ini: defaults },
];

impl GamePath {
    /// What it runs: every workload, and the game heap's the frame session.
    pub fn workloads(&self) -> Vec<&'static str> {
        let frames = (self.via == "game-heap" && self.allocator != "game-heap-undelayed").then_some(frames::NAME);
        Workload::ALL.iter().map(|w| w.name()).chain(frames).collect()
    }
}

/// Every path's records, each workload in a process of its own (or all of
/// a path's in one, `plan.separate` off).
pub fn run(plan: Plan, host: &Path) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for path in &PATHS {
        let dir = game_folder(path.allocator, host, path.plugin, |ini| (path.ini)(game::with_profile(ini)))?;
        if path.plugin {
            game::write_profile(&dir)?;
        }
        let scale = scale_name(plan.scale);
        let runs: Vec<Vec<&str>> = if plan.separate {
            path.workloads()
                .into_iter()
                .map(|name| {
                    let mut args = vec!["bench", "--via", path.via, "--label", path.allocator, "--scale", scale];
                    args.extend(["--workload", name]);
                    args
                })
                .collect()
        } else {
            let mut args = vec!["bench", "--via", path.via, "--label", path.allocator, "--scale", scale];
            for name in path.workloads() {
                args.extend(["--workload", name]);
            }
            vec![args]
        };
        for args in runs {
            let found = records_of(&mut game::wine(&dir, &args), &format!("nvse-host {}", args.join(" ")))?;
            if let Some(r) = found.iter().find(|r| r.allocator != path.allocator) {
                return Err(format!(
                    "nvse-host in {} measured {}, expected {}",
                    dir.display(),
                    r.allocator,
                    path.allocator
                ));
            }
            records.extend(found);
        }
    }
    Ok(records)
}

/// `(platform, workload, allocator)` of every record the paths make.
pub fn expected() -> Vec<(&'static str, &'static str, &'static str)> {
    PATHS.iter().flat_map(|p| p.workloads().into_iter().map(move |w| (WINE, w, p.allocator))).collect()
}

/// ns per operation of each path, and the plugin's paths over `plugin-crt`.
pub fn table(records: &[Record]) -> String {
    let ns = |workload: &str, allocator: &str| {
        records
            .iter()
            .find(|r| (r.platform.as_str(), r.workload.as_str(), r.allocator.as_str()) == (WINE, workload, allocator))
            .and_then(|r| r.ns_per_op)
    };
    let cell = |n: Option<f64>| n.map_or("–".to_string(), |n| format!("{n:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".to_string(),
    };
    let mut out = String::from(
        "\nthe synthetic game's own paths under Wine, ns per operation (lower is better), and the plugin's over plugin-crt:\n\n\
         | workload | plugin-crt | game-heap | game-heap / plugin-crt | game-heap, no delay | game-heap / no delay | static-crt | static-crt / plugin-crt | vanilla-game-heap | vanilla-static-crt |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for workload in Workload::ALL {
        let name = workload.name();
        let (crt, heap, statik) = (ns(name, "plugin-crt"), ns(name, "game-heap"), ns(name, "static-crt"));
        let undelayed = ns(name, "game-heap-undelayed");
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(crt),
            cell(heap),
            ratio(heap, crt),
            cell(undelayed),
            ratio(heap, undelayed),
            cell(statik),
            ratio(statik, crt),
            cell(ns(name, "vanilla-game-heap")),
            cell(ns(name, "vanilla-static-crt")),
        );
    }
    out
}
