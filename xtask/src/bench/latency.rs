//! The frame session's table: `game-frames` (every call timed at 60 frames
//! per second on four game threads, `crates/workloads/src/latency`) under
//! Wine through the plugin's import path and the game heap's, and without
//! the plugin; with the plugin, its memory system calls by thread.

use std::fmt::Write as _;

use workloads::latency::frames;
use workloads::Record;

use super::WINE;

/// The allocators the frame session runs with, in the table's order.
const ALLOCATORS: [&str; 4] = ["plugin-crt", "crt", "game-heap", "vanilla-game-heap"];

pub fn table(records: &[Record]) -> String {
    let mut out = String::from(
        "\ngame-frames under Wine (60 frames a second, 4 game threads, one run each): one call's time, a frame's \
         allocation time (all game threads), and the plugin's memory system calls (maps / unmaps / commits / \
         decommits on the game threads; on other threads in all):\n\n\
         | allocator | p50 ns | p99 ns | p99.9 ns | max µs | slowest frame µs | median frame µs | system calls, game threads | elsewhere |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let find = |allocator: &str| {
        records.iter().find(|r| {
            (r.platform.as_str(), r.workload.as_str(), r.allocator.as_str()) == (WINE, frames::NAME, allocator)
        })
    };
    for allocator in ALLOCATORS {
        let Some(l) = find(allocator).and_then(|r| r.latency) else { continue };
        let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
        let (calls, elsewhere) = match l.os_calls {
            Some(c) => {
                (format!("{} / {} / {} / {}", c.maps, c.unmaps, c.commits, c.decommits), c.elsewhere.to_string())
            }
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {allocator} | {} | {} | {} | {} | {} (frame {}) | {} | {calls} | {elsewhere} |",
            l.p50_ns,
            l.p99_ns,
            l.p999_ns,
            us(l.max_ns),
            us(l.slowest_frame_ns),
            l.slowest_frame,
            us(l.median_frame_ns),
        );
    }
    let (plugin, crt) = (find("plugin-crt").and_then(|r| r.latency), find("crt").and_then(|r| r.latency));
    if let (Some(plugin), Some(crt)) = (plugin, crt) {
        let _ = writeln!(
            out,
            "\nplugin-crt against crt: p99.9 {:.3} of the runtime's, longest call {:.2} of the runtime's, slowest frame {:.2} of the runtime's",
            plugin.p999_ns as f64 / crt.p999_ns.max(1) as f64,
            plugin.max_ns as f64 / crt.max_ns.max(1) as f64,
            plugin.slowest_frame_ns as f64 / crt.slowest_frame_ns.max(1) as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::record::{Latency, OsCalls};

    fn record(allocator: &str, p999_ns: u64, os_calls: Option<OsCalls>) -> Record {
        Record {
            workload: frames::NAME.into(),
            allocator: allocator.into(),
            platform: WINE.into(),
            ns_per_op: None,
            ops: 1000,
            peak_live_bytes: 1 << 20,
            peak_mapped_bytes: None,
            mapped_source: None,
            peak_rss_delta_bytes: None,
            runs: 1,
            instructions_per_op: None,
            address_space: None,
            latency: Some(Latency {
                p50_ns: 20,
                p99_ns: 800,
                p999_ns,
                max_ns: 1_300_000,
                frames: 600,
                slowest_frame: 149,
                slowest_frame_ns: 2_835_360,
                median_frame_ns: 373_660,
                os_calls,
            }),
        }
    }

    #[test]
    fn a_row_per_allocator_and_the_ratios_to_the_runtime() {
        let calls = OsCalls { maps: 676, unmaps: 4, commits: 0, decommits: 1, elsewhere: 2 };
        let table = table(&[record("plugin-crt", 22_000, Some(calls)), record("crt", 220_000, None)]);
        let rows: Vec<&str> =
            table.lines().filter(|l| l.starts_with("| plugin-crt") || l.starts_with("| crt")).collect();
        assert_eq!(
            rows,
            [
                "| plugin-crt | 20 | 800 | 22000 | 1300.0 | 2835.4 (frame 149) | 373.7 | 676 / 4 / 0 / 1 | 2 |",
                "| crt | 20 | 800 | 220000 | 1300.0 | 2835.4 (frame 149) | 373.7 | – | – |",
            ]
        );
        assert!(table.contains("p99.9 0.100 of the runtime's, longest call 1.00 of the runtime's"), "{table}");
    }
}
