//! The C API (`crates/plugin/include/MemoryPoolNVSE.h`) as another plugin uses
//! it: `stats_client.dll`, an NVSE plugin in C (`fixtures/stats_client.c`),
//! installed beside the packaged DLL, calls the exports and sends the
//! statistics message at ExitGame and prints what it got.
//!
//! It loads after MemoryPoolNVSE (file name order), so its ExitGame listener
//! runs right after MemoryPoolNVSE's, which writes the exit summary. Nothing
//! allocates through a redirected import in between, nor between the API's
//! snapshot and the message's: the session's fixtures have finished and run
//! no threads, the plugin's own allocations are not its heap's, the
//! stand-in's Rust code allocates from the process heap rather than through
//! its C runtime imports (and delivers a message to a named receiver without
//! allocating at all, as xNVSE does), and the client writes its lines with
//! `WriteFile`. So all three must agree on every number exactly: one
//! `malloc` between the two snapshots fails the test.

use e2e::{Crt, Game, Run, STATS_CLIENT};

const RPMALLOC: i64 = 1;
const MIMALLOC: i64 = 2;
const PASSTHROUGH: i64 = 3;
const NONE: i64 = 0;

/// The fields of `MemoryPoolNVSE_Stats` the fixture prints, in its order.
const FIELDS: [&str; 21] = [
    "size",
    "filled",
    "version",
    "backend",
    "allocations",
    "frees",
    "live_blocks",
    "peak_blocks",
    "bytes_allocated",
    "bytes_freed",
    "live_bytes",
    "peak_bytes",
    "failures",
    "fallbacks",
    "foreign_frees",
    "foreign_reallocs",
    "foreign_sizes",
    "mapped_bytes",
    "peak_mapped_bytes",
    "threads",
    "reserved_bytes",
];

const STATS_SIZE: i64 = 408;

/// A session with the client installed, `ini` as the plugin's settings and
/// two of the stand-in's C runtime fixtures allocating (one loaded before
/// the plugin, whose early blocks are foreign), so that every count moves.
fn session(test: &str, ini: &str, args: &[&str]) -> Run {
    let game = Game::new(test);
    assert_eq!(game.add_stats_client(), STATS_CLIENT);
    game.write_ini(ini);
    let early = game.add_fixture(Crt::Msvcrt);
    let late = game.add_fixture(Crt::Msvcr90);
    let mut all = vec!["session", "--fixture", early, "--late-fixture", late];
    all.extend_from_slice(args);
    let run = game.run(&all);
    assert!(run.success, "{}", run.describe());
    run.assert_printed("nvse-host: load StatsClient -> true (handle 2, 1 listener(s))");
    for fixture in [early, late] {
        run.assert_printed(&format!("nvse-host: {fixture}: ok"));
    }
    run
}

/// One number the client printed.
fn number(run: &Run, check: &str, key: &str) -> i64 {
    run.fact_number(STATS_CLIENT, check, key)
}

/// A snapshot's fields, and its histogram, as the client printed them.
fn snapshot(run: &Run, check: &str) -> (Vec<(&'static str, i64)>, Vec<u64>) {
    let fields = FIELDS.iter().map(|&key| (key, number(run, check, key))).collect();
    let checks = run.checks(STATS_CLIENT);
    let histogram = checks
        .iter()
        .find(|(c, _)| c == check)
        .and_then(|(_, facts)| facts.iter().find(|(k, _)| k == "histogram"))
        .map(|(_, v)| v.split(',').map(|n| n.parse().expect("a histogram count")).collect())
        .unwrap_or_else(|| panic!("no histogram in {check:?}\n{}", run.describe()));
    (fields, histogram)
}

fn field(fields: &[(&str, i64)], key: &str) -> i64 {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).expect("a printed field")
}

/// `PluginInfo::version` of this package: major * 10000 + minor * 100 + patch.
fn package_version() -> i64 {
    env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<i64>().expect("a version number"))
        .fold(0, |v, p| v * 100 + p)
}

/// The version NVSE saw in the plugin's `PluginInfo`, from the stand-in's line.
fn version_nvse_saw(run: &Run) -> i64 {
    let marker = "nvse-host: query MemoryPoolNVSE.dll -> true (name \"MemoryPoolNVSE\", version ";
    e2e::number_after(&run.stdout, marker).unwrap_or_else(|| panic!("no query line\n{}", run.describe())) as i64
}

/// The API and the message gave the same snapshot, of the version and backend
/// expected, whole (all 408 bytes) and self-consistent; returns it.
fn consistent_snapshots(run: &Run, backend: i64) -> Vec<(&'static str, i64)> {
    let version = version_nvse_saw(run);
    assert_eq!(version, package_version());
    assert_eq!(number(run, "api", "loaded"), 1, "{}", run.describe());
    assert_eq!(number(run, "api", "version"), version);
    assert_eq!(number(run, "api", "backend"), backend);

    let (api, api_histogram) = snapshot(run, "api stats");
    let (message, message_histogram) = snapshot(run, "message stats");
    assert_eq!(number(run, "api stats", "result"), STATS_SIZE, "GetStats returns the bytes written");
    assert_eq!(number(run, "message stats", "result"), 1, "the stand-in delivered the query");
    assert_eq!(api, message, "the API's and the message's snapshots differ\n{}", run.describe());
    assert_eq!(api_histogram, message_histogram);

    assert_eq!(field(&api, "size"), STATS_SIZE);
    assert_eq!(field(&api, "filled"), STATS_SIZE);
    assert_eq!(field(&api, "version"), version);
    assert_eq!(field(&api, "backend"), backend);
    assert_eq!(api_histogram.len(), 32);
    // The histogram counts every allocation once, by size class.
    assert_eq!(api_histogram.iter().sum::<u64>() as i64, field(&api, "allocations"));
    // Live counts never go below zero (passthrough counts frees of blocks
    // allocated before the plugin).
    assert_eq!(field(&api, "live_blocks"), (field(&api, "allocations") - field(&api, "frees")).max(0));
    assert_eq!(field(&api, "live_bytes"), (field(&api, "bytes_allocated") - field(&api, "bytes_freed")).max(0));
    assert!(field(&api, "peak_blocks") >= field(&api, "live_blocks"));
    assert!(field(&api, "peak_bytes") >= field(&api, "live_bytes"));
    assert!(field(&api, "peak_mapped_bytes") >= field(&api, "mapped_bytes"));
    api
}

/// The exit summary the plugin's log must hold for these numbers, written
/// as `allocator::report` writes it.
fn summary(s: &[(&str, i64)], backend_name: &str) -> String {
    let n = |key| field(s, key);
    let average = if n("allocations") == 0 { 0 } else { n("bytes_allocated") / n("allocations") };
    format!(
        "ExitGame: heap {backend_name}: {} allocations, {} frees, {} live blocks ({}; peak {} blocks, {}), \
         average block {average} B, {} mapped (peak {}), the heap holds {}, {} fallbacks, {} failures, \
         foreign blocks: {} freed, {} resized, {} sized; {} threads",
        n("allocations"),
        n("frees"),
        n("live_blocks"),
        bytes(n("live_bytes")),
        n("peak_blocks"),
        bytes(n("peak_bytes")),
        bytes(n("mapped_bytes")),
        bytes(n("peak_mapped_bytes")),
        bytes(n("mapped_bytes") + n("reserved_bytes")),
        n("fallbacks"),
        n("failures"),
        n("foreign_frees"),
        n("foreign_reallocs"),
        n("foreign_sizes"),
        n("threads"),
    )
}

/// A byte count as the log shows it: `512 B`, `12.5 KiB`, `301.2 MiB`.
fn bytes(n: i64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut units = ["KiB", "MiB", "GiB"].iter().peekable();
    let mut unit = units.next().expect("a unit");
    while value >= 1024.0 && units.peek().is_some() {
        value /= 1024.0;
        unit = units.next().expect("a unit");
    }
    format!("{value:.1} {unit}")
}

#[test]
fn another_plugin_reads_the_same_statistics_through_the_exports_the_message_and_the_log() {
    let run = session("c_api", "", &[]);
    let stats = consistent_snapshots(&run, RPMALLOC);
    for key in ["allocations", "frees", "live_blocks", "foreign_frees", "foreign_reallocs", "mapped_bytes", "threads"] {
        assert!(field(&stats, key) > 0, "{key} = 0: the session did not exercise it\n{}", run.describe());
    }
    assert_eq!(run.log_message("ExitGame: heap "), summary(&stats, "rpmalloc"));

    // The client's malloc, through its redirected msvcrt import, is the heap's;
    // its stack and null are not.
    run.assert_fact(STATS_CLIENT, "owned", "malloc", "1");
    run.assert_fact(STATS_CLIENT, "owned", "kept", "1");
    run.assert_fact(STATS_CLIENT, "owned", "stack", "0");
    run.assert_fact(STATS_CLIENT, "owned", "null", "0");

    // A size below the head is refused, and the struct left alone; the head
    // alone is answered, and nothing past it written.
    run.assert_fact(STATS_CLIENT, "too small", "result", "0");
    run.assert_fact(STATS_CLIENT, "too small", "untouched", "1");
    run.assert_fact(STATS_CLIENT, "head only", "result", "16");
    run.assert_fact(STATS_CLIENT, "head only", "filled", "16");
    assert_eq!(number(&run, "head only", "version"), package_version());
    assert_eq!(number(&run, "head only", "backend"), RPMALLOC);
    run.assert_fact(STATS_CLIENT, "head only", "untouched", "1");
    run.assert_fact(STATS_CLIENT, "api unmapped", "result", "0");
    run.assert_fact(STATS_CLIENT, "api unmapped", "null", "0");

    // Malformed queries reach the plugin, which leaves them alone and says why.
    for check in ["malformed null", "malformed short", "malformed mismatch", "malformed unmapped"] {
        run.assert_fact(STATS_CLIENT, check, "delivered", "1");
    }
    run.assert_fact(STATS_CLIENT, "malformed short", "untouched", "1");
    run.assert_fact(STATS_CLIENT, "malformed mismatch", "untouched", "1");
    run.assert_fact(STATS_CLIENT, "unknown receiver", "delivered", "0");
    run.assert_fact(STATS_CLIENT, "unknown receiver", "filled", "0");
    // ... and still answers after them.
    run.assert_fact(STATS_CLIENT, "still answering", "delivered", "1");
    run.assert_fact(STATS_CLIENT, "still answering", "filled", "408");
    run.assert_printed("nvse-host: session over");

    run.assert_log_in_order(&[
        "Load: answering other plugins' statistics queries (message 0x4D505354)",
        "ExitGame: heap rpmalloc: ",
        "GetStats: refused: size 15 is below the 16 bytes of MemoryPoolNVSE_Stats' head",
        "GetStats: refused: the struct at 0x00000010 is not writable memory",
        "GetStats: refused: no struct (null pointer)",
        "Stats query from StatsClient: ignored: no struct (null pointer)",
        "Stats query from StatsClient: ignored: dataLen 8 is below the 16 bytes of MemoryPoolNVSE_Stats' head",
        "Stats query from StatsClient: ignored: dataLen 400 differs from the struct's size field 408",
        "Stats query from StatsClient: ignored: the struct at 0x00000010 is not writable memory",
    ]);
    let refusals = run
        .log()
        .lines()
        .filter(|l| l.contains("[WARN] GetStats: refused: ") || l.contains("[WARN] Stats query from "))
        .count();
    assert_eq!(refusals, 7, "one line per refused call or query\n{}", run.describe());
}

#[test]
fn the_backend_is_none_when_the_plugin_is_disabled() {
    let run = session("c_api_disabled", "[General]\nEnabled = 0\n", &["--expect-no-heap"]);
    let stats = consistent_snapshots(&run, NONE);
    assert_eq!(field(&stats, "allocations"), 0, "{}", run.describe());
    run.assert_fact(STATS_CLIENT, "owned", "malloc", "0");
    assert!(!run.log().contains("ExitGame: heap "), "{}", run.describe());
}

#[test]
fn the_backend_is_none_when_the_heap_cannot_start() {
    // Every TLS index taken: the heap cannot start, and calls pass through,
    // counted, as the summary says.
    let run = session("c_api_no_tls", "", &["--exhaust-tls"]);
    run.log_message("Preload: heap could not start");
    let stats = consistent_snapshots(&run, NONE);
    run.assert_fact(STATS_CLIENT, "owned", "malloc", "0");
    assert_eq!(run.log_message("ExitGame: heap "), summary(&stats, "passthrough"));
}

#[test]
fn passthrough_and_mimalloc_are_reported_as_such() {
    let run = session("c_api_passthrough", "[General]\nBackend = passthrough\n", &["--expect-no-heap"]);
    let stats = consistent_snapshots(&run, PASSTHROUGH);
    assert!(field(&stats, "allocations") > 0, "passthrough counts\n{}", run.describe());
    run.assert_fact(STATS_CLIENT, "owned", "malloc", "0");
    assert_eq!(run.log_message("ExitGame: heap "), summary(&stats, "passthrough"));

    let run = session("c_api_mimalloc", "[General]\nBackend = mimalloc\n", &[]);
    let stats = consistent_snapshots(&run, MIMALLOC);
    run.assert_fact(STATS_CLIENT, "owned", "malloc", "1");
    assert_eq!(run.log_message("ExitGame: heap "), summary(&stats, "mimalloc"));
}
