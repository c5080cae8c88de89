//! The stand-in's `bench` scenario, which `cargo xtask bench` runs for the
//! `plugin-crt` and `crt` columns: the workloads go through the stand-in's
//! own C runtime imports, served by the plugin's heap when it is installed.

use e2e::Game;
use workloads::{Record, Session, Workload};

fn records(stdout: &str) -> Vec<Record> {
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| Record::parse(l).expect("a record parses")).collect()
}

#[test]
fn with_the_plugin_its_heap_serves_every_workload() {
    let game = Game::new("bench_plugin_crt");
    let run = game.run(&["bench", "--scale", "smoke"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: bench: plugin-crt, 5 workload(s) and 2 session(s) at Smoke scale");
    let records = records(&run.stdout);
    let names: Vec<&str> = records.iter().map(|r| r.workload.as_str()).collect();
    let expected: Vec<&str> =
        Workload::ALL.map(Workload::name).into_iter().chain(Session::ALL.map(Session::name)).collect();
    assert_eq!(names, expected, "{}", run.describe());
    for r in &records {
        assert_eq!((r.allocator.as_str(), r.platform.as_str()), ("plugin-crt", "i686-windows-wine"));
        // The sessions measure address space rather than time.
        let session = Session::from_name(&r.workload).is_some();
        assert!(r.ops > 0 && r.peak_live_bytes > 0 && r.ns_per_op.is_some() != session, "{r:?}");
        assert_eq!(r.address_space.is_some(), session, "{r:?}");
    }
    // Every block of the workloads was the heap's: nothing fell back to
    // msvcrt, nothing failed, nothing was left.
    let exit = run.log_message("ExitGame: heap rpmalloc:");
    assert!(exit.contains(" 0 live blocks") && exit.contains(" 0 fallbacks, 0 failures"), "{exit}");
}

#[test]
fn without_a_plugin_msvcrt_serves_them() {
    let game = Game::new("bench_crt");
    std::fs::remove_file(game.plugins_dir().join("MemoryPoolNVSE.dll")).expect("uninstall the plugin");
    let run = game.run(&["bench", "--scale", "smoke", "--workload", "larson-like"]);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: bench: crt, 1 workload(s) and 0 session(s) at Smoke scale");
    let records = records(&run.stdout);
    assert_eq!(records.len(), 1, "{}", run.describe());
    assert_eq!((records[0].workload.as_str(), records[0].allocator.as_str()), ("larson-like", "crt"));
    assert!(run.log.is_none(), "no plugin, no log");
}
