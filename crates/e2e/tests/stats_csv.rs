//! `[Stats] CsvIntervalSeconds`: the statistics CSV the plugin writes beside
//! its log while the synthetic game plays (`nvse-host game --play`), read as
//! a chart or a report tool reads it.

use std::fs;
use std::path::Path;

use e2e::{Game, Run};

const CSV: &str = "MemoryPoolNVSE.stats.csv";
const PREVIOUS: &str = "MemoryPoolNVSE.stats.prev.csv";

/// The header reads as the report tool and the page read it: every name a
/// column they know, none twice, none they need missing; and in the order
/// their list gives (the plugin writes them so).
#[track_caller]
fn assert_header_is_read(header: &str) {
    if let Err((column, problem)) = stats_page::Header::parse(header) {
        panic!("the report tool cannot read the header (column {column:?}): {problem}\n{header}");
    }
    let names: Vec<&str> = header.split(',').collect();
    let known: Vec<&str> = stats_page::columns::COLUMNS.iter().copied().filter(|c| names.contains(c)).collect();
    assert_eq!(names, known, "the columns in the order of the reader's list");
}

/// A row, by column.
struct Row {
    seconds: f64,
    live_bytes: u64,
    peak_bytes: u64,
    live_blocks: u64,
    allocs_per_second: f64,
    failures: u64,
    fallbacks: u64,
    foreign_frees: u64,
    mapped_bytes: u64,
    peak_mapped_bytes: u64,
    threads: u64,
    held_bytes: u64,
    free_space_bytes: u64,
    largest_free_bytes: u64,
    histogram: Vec<u64>,
}

/// The header and the rows of `text`; every line ends with CRLF and has as
/// many fields as the header.
fn parse(text: &str) -> (String, Vec<Row>) {
    assert!(text.ends_with("\r\n"), "the last line is not ended: {text:?}");
    let mut lines = text.split_terminator("\r\n");
    let header = lines.next().expect("a header").to_owned();
    let names: Vec<&str> = header.split(',').collect();
    let at = |name: &str| names.iter().position(|&n| n == name).unwrap_or_else(|| panic!("no {name} in {header}"));
    let sizes: Vec<usize> = (0..names.len()).filter(|&i| names[i].starts_with("size_")).collect();
    let rows = lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), names.len(), "{line}");
            let int = |i: usize| f[i].parse::<u64>().unwrap_or_else(|e| panic!("field {i} of {line}: {e}"));
            let dec = |i: usize| f[i].parse::<f64>().unwrap_or_else(|e| panic!("field {i} of {line}: {e}"));
            Row {
                seconds: dec(at("seconds")),
                live_bytes: int(at("live_bytes")),
                peak_bytes: int(at("peak_bytes")),
                live_blocks: int(at("live_blocks")),
                allocs_per_second: dec(at("allocs_per_second")),
                failures: int(at("failures")),
                fallbacks: int(at("fallbacks")),
                foreign_frees: int(at("foreign_frees")),
                mapped_bytes: int(at("mapped_bytes")),
                peak_mapped_bytes: int(at("peak_mapped_bytes")),
                threads: int(at("threads")),
                held_bytes: int(at("held_bytes")),
                free_space_bytes: int(at("free_space_bytes")),
                largest_free_bytes: int(at("largest_free_bytes")),
                histogram: sizes.iter().map(|&i| int(i)).collect(),
            }
        })
        .collect();
    (header, rows)
}

fn read_csv(game: &Game, name: &str) -> String {
    let path = game.plugins_dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A game folder with the plugin hooking the synthetic game, and `ini`.
fn game_with(test: &str, ini: &str) -> Game {
    let game = Game::new(test);
    game.write_game_profile(|profile| profile);
    game.write_ini(&format!("[GameHeap]\nProfile = game.toml\n{ini}"));
    game
}

/// The game played and its blocks came back intact.
#[track_caller]
fn assert_played(run: &Run) {
    assert!(run.success, "{}", run.describe());
    run.assert_fact("game", "play", "corrupted", "0");
    run.assert_fact("game", "play", "failed", "0");
    assert!(run.fact_number("game", "play", "operations") > 0, "{}", run.describe());
}

/// A byte count as the log writes it (`allocator::Bytes`).
fn log_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < 2 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", ["KiB", "MiB", "GiB"][unit])
}

/// The text of the exit summary between `before` and `after`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text.find(before).unwrap_or_else(|| panic!("no {before:?} in {text}")) + before.len();
    let len = text[start..].find(after).unwrap_or_else(|| panic!("no {after:?} after {before:?} in {text}"));
    &text[start..start + len]
}

/// The last row holds the numbers of `ExitGame: heap ...`.
#[track_caller]
fn assert_last_row_is_the_exit_summary(run: &Run, last: &Row) {
    let summary = run.log_message("ExitGame: heap rpmalloc: ");
    // The number written right before `unit`.
    let count = |unit: &str| {
        let end = summary.find(unit).unwrap_or_else(|| panic!("no {unit:?} in {summary}"));
        let start = summary[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
        summary[start..end].parse::<u64>().unwrap_or_else(|e| panic!("{unit:?} in {summary}: {e}"))
    };
    assert_eq!(last.histogram.iter().sum::<u64>(), count(" allocations,"), "{summary}");
    assert_eq!(last.live_blocks, count(" live blocks"), "{summary}");
    assert_eq!(log_bytes(last.live_bytes), between(&summary, " live blocks (", ";"), "{summary}");
    assert_eq!(log_bytes(last.peak_bytes), between(&summary, " blocks, ", "), average"), "{summary}");
    assert_eq!(log_bytes(last.mapped_bytes), between(&summary, " B, ", " mapped (peak"), "{summary}");
    assert_eq!(log_bytes(last.peak_mapped_bytes), between(&summary, " mapped (peak ", "), "), "{summary}");
    assert_eq!(last.fallbacks, count(" fallbacks,"), "{summary}");
    assert_eq!(last.failures, count(" failures,"), "{summary}");
    assert_eq!(last.foreign_frees, count(" freed,"), "{summary}");
    assert_eq!(last.threads, count(" threads"), "{summary}");
}

#[test]
fn a_row_a_second_while_the_game_plays_and_the_exit_summary_last() {
    let game = game_with("stats_csv_rows", "[Stats]\nCsvIntervalSeconds = 1\n");
    let run = game.run(&["game", "--play", "4"]);
    assert_played(&run);
    run.log_message("DeferredInit: statistics to MemoryPoolNVSE.stats.csv every 1 s");
    run.assert_log_in_order(&["ExitGame: heap rpmalloc: ", "ExitGame: statistics written to MemoryPoolNVSE.stats.csv"]);

    let text = read_csv(&game, CSV);
    let (header, rows) = parse(&text);
    assert_header_is_read(&header);
    let (last, periodic) = rows.split_last().expect("rows");
    assert!(periodic.len() >= 3, "{text}");
    for pair in rows.windows(2) {
        assert!(pair[1].seconds > pair[0].seconds, "{text}");
        assert!(pair[1].peak_bytes >= pair[0].peak_bytes, "{text}");
        assert!(pair[1].peak_mapped_bytes >= pair[0].peak_mapped_bytes, "{text}");
        for (later, earlier) in pair[1].histogram.iter().zip(&pair[0].histogram) {
            assert!(later >= earlier, "{text}");
        }
    }
    // About a second apart (a busy machine may wake the thread late).
    let gaps: Vec<f64> = periodic.windows(2).map(|p| p[1].seconds - p[0].seconds).collect();
    assert!(gaps.iter().all(|gap| (0.5..=3.0).contains(gap)), "{gaps:?}");
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!((0.8..=1.5).contains(&mean), "{gaps:?}");
    for row in &rows {
        assert!(row.live_bytes <= row.peak_bytes, "{text}");
        assert!(row.mapped_bytes <= row.peak_mapped_bytes, "{text}");
        // The heap holds its mappings and its own reservations (the
        // emergency reserve among them); the walk found free space, the
        // largest region part of it.
        assert!(row.held_bytes >= row.mapped_bytes + (64 << 20), "{text}");
        assert!(row.free_space_bytes > 0 && row.largest_free_bytes <= row.free_space_bytes, "{text}");
    }
    // The game allocated in every second it played, at its pace.
    assert!(periodic.iter().all(|row| row.allocs_per_second > 0.0), "{text}");
    assert!(periodic.iter().any(|row| row.allocs_per_second > 10_000.0), "{text}");
    // Its live set rose and fell: a cell change shows.
    let live: Vec<u64> = periodic.iter().map(|row| row.live_bytes).collect();
    assert!(live.iter().any(|&l| l > 20 << 20), "{live:?}");
    assert!(last.histogram.iter().sum::<u64>() > 0, "{text}");
    assert!(last.seconds > periodic[periodic.len() - 1].seconds, "{text}");
    assert_last_row_is_the_exit_summary(&run, last);
    assert!(!game.plugins_dir().join(PREVIOUS).exists(), "a first session has no previous file");
    assert_report_of(&game.plugins_dir().join(CSV), rows.len());

    // The next session keeps this one's file and starts its own.
    let again = game.run(&["game", "--play", "1"]);
    assert_played(&again);
    again.log_message(
        "DeferredInit: statistics to MemoryPoolNVSE.stats.csv every 1 s (the previous session's kept as \
         MemoryPoolNVSE.stats.prev.csv)",
    );
    assert_eq!(read_csv(&game, PREVIOUS), text);
    let second = read_csv(&game, CSV);
    let (header, rows) = parse(&second);
    assert_header_is_read(&header);
    assert_last_row_is_the_exit_summary(&again, rows.last().expect("rows"));

    // And the one after replaces the older file with it.
    let third = game.run(&["game"]);
    assert!(third.success, "{}", third.describe());
    assert_eq!(read_csv(&game, PREVIOUS), second);
    let (_, rows) = parse(&read_csv(&game, CSV));
    assert_last_row_is_the_exit_summary(&third, rows.last().expect("rows"));
}

/// The report tool reads the file the plugin wrote, row for row, and draws
/// its three charts beside it, at the size asked for.
fn assert_report_of(csv: &Path, rows: usize) {
    let size = stats_report::Size { width: 900, height: 500 };
    let report = stats_report::report(csv, size).unwrap_or_else(|e| panic!("the report tool refused the CSV: {e}"));
    assert_eq!(report.stats.rows.len(), rows);
    assert_eq!(report.charts, stats_report::charts::paths(csv));
    for chart in &report.charts {
        let file = std::fs::File::open(chart).unwrap_or_else(|e| panic!("{}: {e}", chart.display()));
        let reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG");
        let info = reader.info();
        assert_eq!((info.width, info.height), (size.width, size.height), "{}", chart.display());
    }
}

#[test]
fn no_file_when_the_interval_is_0() {
    let game = game_with("stats_csv_off", "[Stats]\nCsvIntervalSeconds = 0\nLogIntervalSeconds = 1\n");
    let run = game.run(&["game", "--play", "2"]);
    assert_played(&run);
    let started = run.log_message("DeferredInit: the heap is trimmed every 1 s");
    assert!(started.ends_with("; a statistics line every 1 s"), "{started}");
    let dir = game.plugins_dir();
    assert!(!dir.join(CSV).exists() && !dir.join(PREVIOUS).exists(), "{}", run.describe());
    assert!(!dir.join("MemoryPoolNVSE.report.html").exists(), "no page without the CSV");
    assert!(!run.log().contains(".stats."), "{}", run.describe());
}

#[test]
fn a_file_that_cannot_be_written_is_one_warning_and_the_game_plays_on() {
    let game = game_with("stats_csv_unwritable", "[Stats]\nCsvIntervalSeconds = 1\n");
    // A folder where the file should be.
    let folder = game.plugins_dir().join(CSV);
    fs::create_dir(&folder).expect("create the folder");
    let run = game.run(&["game", "--play", "2"]);
    assert_played(&run);
    let warnings: Vec<&str> =
        run.log().lines().filter_map(e2e::parse_log_line).filter(|(l, _)| *l == "WARN").map(|(_, m)| m).collect();
    assert_eq!(warnings.len(), 1, "{}", run.describe());
    assert!(warnings[0].starts_with("DeferredInit: no statistics CSV: "), "{warnings:?}");
    assert!(warnings[0].contains(&format!("{CSV} cannot be written (")), "{warnings:?}");
    // Nothing else changes: the exit summary is written, the folder is as it was.
    run.log_message("ExitGame: heap rpmalloc: ");
    assert!(!run.log().contains("statistics written to"), "{}", run.describe());
    assert!(folder.is_dir() && fs::read_dir(&folder).expect("the folder").next().is_none());
    assert!(!Path::new(&game.plugins_dir().join(PREVIOUS)).exists());
}
