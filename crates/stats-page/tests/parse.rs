//! Reading statistics files: a valid one, and every kind of damage named by
//! its line and column.

mod common;

use stats_page::columns::{COLUMNS, SIZE_CLASSES};
use stats_page::parse::{parse, ParseError, Problem, MAX_LINE};
use stats_page::Summary;

const FILE: &str = "MemoryPoolNVSE.stats.csv";

/// A row: the given leading fields, then the histogram.
fn row(leading: &str, histogram: [u64; SIZE_CLASSES]) -> String {
    let classes: Vec<String> = histogram.iter().map(u64::to_string).collect();
    format!("{leading},{}\n", classes.join(","))
}

/// A session of `rows` rows with `value` in place of field `column`
/// (1-based) on line `line`.
fn damaged(line: usize, column: usize, value: &str) -> String {
    edit_line(&common::session(20), line, |text| {
        let mut fields: Vec<&str> = text.split(',').collect();
        fields[column - 1] = value;
        fields.join(",")
    })
}

fn edit_line(text: &str, line: usize, edit: impl Fn(&str) -> String) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[line - 1] = edit(&lines[line - 1]);
    lines.join("\n") + "\n"
}

fn error(text: &str) -> ParseError {
    parse(FILE, text.as_bytes()).expect_err("the file is damaged")
}

/// The error's line and column, checked against its message too.
fn place(error: &ParseError) -> (usize, Option<usize>) {
    let message = error.to_string();
    let expected = match error.column {
        Some(column) => format!("{FILE} line {}, column {column}", error.line),
        None => format!("{FILE} line {}: ", error.line),
    };
    assert!(message.starts_with(&expected), "{message}");
    (error.line, error.column)
}

#[test]
fn a_valid_file_gives_every_field() {
    let mut histogram = [0; SIZE_CLASSES];
    histogram[0] = 3;
    histogram[4] = 40;
    histogram[31] = 1;
    let text = common::older_header()
        + "\n"
        + &row("0.500,1024,2048,10,1000.5,800,0,1,2,65536,131072,3", [0; SIZE_CLASSES])
        + &row("12.003,4096,8192,12,2000,1900.25,1,2,3,262144,262144,4", histogram);

    let stats = parse(FILE, text.as_bytes()).expect("a valid file");
    let last = &stats.rows[1];
    assert_eq!((last.held_bytes, last.free_space_bytes, last.largest_free_bytes), (None, None, None));

    // The same with the address-space columns.
    let text = common::header()
        + "\n"
        + &row("0.500,1024,2048,10,1000.5,800,0,1,2,65536,131072,3,70000,3000000,2000000,0", [0; SIZE_CLASSES])
        + &row("12.003,4096,8192,12,2000,1900.25,1,2,3,262144,262144,4,300000,2900000,1000000,4096", histogram);
    let stats = parse(FILE, text.as_bytes()).expect("a valid file");
    let last = &stats.rows[1];
    assert_eq!(
        (last.held_bytes, last.free_space_bytes, last.largest_free_bytes, last.delayed_bytes),
        (Some(300000), Some(2900000), Some(1000000), Some(4096))
    );

    assert_eq!(stats.rows.len(), 2);
    assert!(stats.skipped.is_none());
    let last = &stats.rows[1];
    assert_eq!(last.seconds, 12.003);
    assert_eq!((last.live_bytes, last.peak_bytes, last.live_blocks), (4096, 8192, 12));
    assert_eq!((last.allocs_per_second, last.frees_per_second), (2000.0, 1900.25));
    assert_eq!((last.failures, last.fallbacks, last.foreign_frees), (1, 2, 3));
    assert_eq!((last.mapped_bytes, last.peak_mapped_bytes, last.threads), (262144, 262144, 4));
    assert_eq!(last.histogram, histogram);
    assert_eq!(stats.rows[0].allocs_per_second, 1000.5);
}

#[test]
fn columns_are_read_by_name_in_any_order() {
    // The header and every row with the first two columns swapped.
    let swap = |line: &str| {
        let mut fields: Vec<&str> = line.split(',').collect();
        fields.swap(0, 1);
        fields.join(",")
    };
    let text = common::session(40);
    let swapped: String = text.lines().map(|line| swap(line) + "\n").collect();
    assert_eq!(parse(FILE, swapped.as_bytes()).unwrap().rows, parse(FILE, text.as_bytes()).unwrap().rows);
}

#[test]
fn an_older_file_without_the_address_space_columns_reads() {
    let older = parse(FILE, common::older_session(30).as_bytes()).expect("an older file");
    let newer = parse(FILE, common::session(30).as_bytes()).expect("a newer file");
    assert_eq!(older.rows.len(), 30);
    for (old, new) in older.rows.iter().zip(&newer.rows) {
        assert_eq!((old.held_bytes, old.free_space_bytes, old.largest_free_bytes), (None, None, None));
        assert_eq!(old.delayed_bytes, None);
        assert!(new.held_bytes.is_some() && new.free_space_bytes.is_some() && new.largest_free_bytes.is_some());
        assert!(new.delayed_bytes.is_some());
        let without = stats_page::Row {
            held_bytes: None,
            free_space_bytes: None,
            largest_free_bytes: None,
            delayed_bytes: None,
            ..new.clone()
        };
        assert_eq!(old, &without);
    }
}

#[test]
fn crlf_line_ends_read_the_same() {
    let text = common::session(50);
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(parse(FILE, crlf.as_bytes()).unwrap(), parse(FILE, text.as_bytes()).unwrap());
    assert_eq!(parse(FILE, text.as_bytes()).unwrap().rows.len(), 50);
}

#[test]
fn rows_at_the_same_time_are_accepted() {
    let line = "1.0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0";
    let text = common::header() + "\n" + &row(line, [0; SIZE_CLASSES]) + &row(line, [0; SIZE_CLASSES]);
    assert_eq!(parse(FILE, text.as_bytes()).unwrap().rows.len(), 2);
}

#[test]
fn a_bad_whole_number_is_named_with_its_line_and_column() {
    let error = error(&damaged(7, 3, "12a"));
    assert_eq!(
        error.to_string(),
        r#"MemoryPoolNVSE.stats.csv line 7, column 3 (peak_bytes): "12a" is not a whole number"#
    );
    assert_eq!(error.problem, Problem::NotWhole("12a".into()));
}

#[test]
fn numbers_of_the_wrong_kind_are_named() {
    let cases: [(usize, usize, &str, Problem); 9] = [
        (4, 1, "1.2.3", Problem::NotDecimal("1.2.3".into())),
        (5, 1, "inf", Problem::NotDecimal("inf".into())),
        (5, 5, &"9".repeat(400), Problem::NotDecimal(format!("{}...", "9".repeat(40)))),
        (6, 5, "-5", Problem::Negative("-5".into())),
        (8, 2, "1e6", Problem::NotWhole("1e6".into())),
        (9, 12, "-1", Problem::Negative("-1".into())),
        (10, 47, "99999999999999999999", Problem::TooLarge("99999999999999999999".into())),
        (11, 6, "", Problem::NotDecimal(String::new())),
        (12, 30, " 7", Problem::NotWhole(" 7".into())),
    ];
    for (line, column, value, problem) in cases {
        let error = error(&damaged(line, column, value));
        assert_eq!(place(&error), (line, Some(column)), "{error}");
        assert_eq!(error.problem, problem, "{error}");
        assert!(error.to_string().contains(&format!("({})", COLUMNS[column - 1])), "{error}");
    }
}

#[test]
fn long_fields_are_quoted_cut_short() {
    let error = error(&damaged(3, 2, &"x".repeat(500)));
    assert!(error.to_string().len() < 200, "{error}");
    assert!(error.to_string().contains(r#""xxxxxxxx"#), "{error}");
}

#[test]
fn a_wrong_header_names_the_column() {
    let renamed = edit_line(&common::session(3), 1, |h| h.replace("peak_bytes", "peak"));
    let error = error(&renamed);
    assert_eq!(place(&error), (1, Some(3)));
    assert_eq!(error.problem, Problem::UnknownColumn("peak".into()));
    assert!(
        error.to_string().ends_with(r#"line 1, column 3: "peak" is not a column of the statistics file"#),
        "{error}"
    );

    let short = edit_line(&common::session(3), 1, |h| h.rsplit_once(',').unwrap().0.to_owned());
    let error = self::error(&short);
    assert_eq!(place(&error), (1, None));
    assert_eq!(error.problem, Problem::MissingColumn("size_gt_1073741824"));

    let long = edit_line(&common::session(3), 1, |h| format!("{h},extra"));
    let error = self::error(&long);
    assert_eq!(place(&error), (1, Some(49)));
    assert_eq!(error.problem, Problem::UnknownColumn("extra".into()));

    let twice = edit_line(&common::session(3), 1, |h| format!("{h},live_bytes"));
    let error = self::error(&twice);
    assert_eq!(place(&error), (1, Some(49)));
    assert_eq!(error.problem, Problem::DuplicateColumn("live_bytes"));
}

#[test]
fn rows_with_fields_missing_or_extra_are_named() {
    let short = edit_line(&common::session(10), 5, |r| r.split(',').take(40).collect::<Vec<_>>().join(","));
    let error = error(&short);
    assert_eq!(place(&error), (5, Some(41)));
    assert_eq!(error.problem, Problem::MissingField { found: 40, expected: 48 });

    let long = edit_line(&common::session(10), 6, |r| format!("{r},5"));
    let error = self::error(&long);
    assert_eq!(place(&error), (6, Some(49)));
    assert_eq!(error.problem, Problem::ExtraField { found: "5".into(), fields: 49, expected: 48 });
    assert!(error.to_string().contains("column 49 (after the last, size_gt_1073741824)"), "{error}");

    let empty = edit_line(&common::session(10), 4, |_| String::new());
    let error = self::error(&empty);
    assert_eq!(place(&error), (4, None));
    assert_eq!(error.problem, Problem::EmptyLine(48));
}

#[test]
fn time_going_backwards_names_both_lines() {
    let error = error(&damaged(9, 1, "2.5"));
    assert_eq!(place(&error), (9, Some(1)));
    assert!(matches!(&error.problem, Problem::Backwards { seconds, previous_line: 8, .. } if seconds == "2.5"));
    assert!(error.to_string().contains("earlier than 7."), "{error}");
}

#[test]
fn an_empty_file_or_a_header_alone_is_an_error() {
    let error = error("");
    assert_eq!((place(&error), &error.problem), ((1, None), &Problem::Empty));

    let error = self::error(&(common::header() + "\n"));
    assert_eq!((place(&error), &error.problem), ((2, None), &Problem::NoRows));
}

#[test]
fn bytes_that_are_not_ascii_are_named() {
    let mut bytes = common::session(5).into_bytes();
    let third_line = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(1).unwrap().0 + 1;
    let field_4 = third_line + bytes[third_line..].iter().enumerate().filter(|(_, &b)| b == b',').nth(2).unwrap().0 + 1;
    bytes[field_4] = 0xC3;
    let error = parse(FILE, &bytes).unwrap_err();
    assert_eq!(place(&error), (3, Some(4)));
    assert_eq!(error.problem, Problem::NotAscii(0xC3));
}

#[test]
fn a_last_line_cut_short_is_skipped_and_reported() {
    let whole = common::session(30);
    let last_line = whole.lines().count();
    let last = whole.lines().last().unwrap();
    // Cut in a field, and just after a comma (all 47 fields, the last empty).
    let cut_in_field = &last[..last.len() / 2];
    let cut_at_comma = last.rsplit_once(',').unwrap().0.to_owned() + ",";
    for cut in [cut_in_field, &cut_at_comma, "1"] {
        let text = whole.strip_suffix(&format!("{last}\n")).unwrap().to_owned() + cut;
        let stats = parse(FILE, text.as_bytes()).expect("the cut line is skipped");
        assert_eq!(stats.rows.len(), 29);
        let skipped = stats.skipped.expect("the cut line is reported");
        assert_eq!(skipped.line, last_line);
        assert_eq!(skipped.fields, cut.split(',').count());
        assert!(skipped.to_string().starts_with(&format!("{FILE} line {last_line}: skipped")), "{skipped}");
    }
}

#[test]
fn only_an_unended_incomplete_last_line_is_skipped() {
    let whole = common::session(30);
    // Complete, without a line end: a row like the others.
    let stats = parse(FILE, whole.trim_end().as_bytes()).unwrap();
    assert_eq!((stats.rows.len(), stats.skipped), (30, None));

    // Incomplete but ended: damage.
    let short = edit_line(&whole, 31, |r| r.split(',').take(20).collect::<Vec<_>>().join(","));
    assert_eq!(place(&error(&short)), (31, Some(21)));

    // Unended with a field too many: damage.
    let long = edit_line(&whole, 31, |r| format!("{r},1"));
    assert_eq!(place(&error(long.trim_end())), (31, Some(49)));

    // The only row cut short: nothing left to read.
    let text = common::header() + "\n1.5,100,100";
    let error = error(&text);
    assert_eq!((place(&error), &error.problem), ((2, None), &Problem::NoRows));
}

#[test]
fn the_summary_reads_peaks_rates_and_classes() {
    let mut early = [0; SIZE_CLASSES];
    early[5] = 100;
    let mut late = early;
    late[4] = 300;
    late[5] = 500;
    late[10] = 200;
    let text = common::header()
        + "\n"
        + &row("2,1000,3000,1,100,50,0,0,0,8000,9000,1,9000,900000000,300000000,0", early)
        + &row("4,5000,7000,1,300,100,0,0,0,9000,9000,2,10000,800000000,200000000,0", early)
        + &row("10,2000,7000,1,50,400,1,2,3,6000,12000,2,7000,850000000,100000000,0", late);
    let stats = parse(FILE, text.as_bytes()).unwrap();

    let summary = Summary::of(&stats.rows);

    assert_eq!((summary.rows, summary.seconds), (3, 10.0));
    assert_eq!((summary.peak.value, summary.peak.seconds), (7000, 4.0));
    assert_eq!((summary.end_live_bytes, summary.peak_mapped_bytes, summary.end_mapped_bytes), (2000, 12000, 6000));
    // (100 * 2 + 300 * 2 + 50 * 6) / 10 and (50 * 2 + 100 * 2 + 400 * 6) / 10.
    assert_eq!((summary.mean_allocs_per_second, summary.mean_frees_per_second), (110.0, 270.0));
    assert_eq!((summary.highest_allocs_per_second.value, summary.highest_allocs_per_second.seconds), (300.0, 4.0));
    assert_eq!((summary.failures, summary.fallbacks, summary.foreign_frees), (1, 2, 3));
    let top: Vec<(usize, u64)> = summary.top_classes.iter().map(|c| (c.class, c.allocations)).collect();
    assert_eq!(top, [(5, 500), (4, 300), (10, 200)]);
    assert_eq!(summary.top_classes[0].share, 0.5);
    let text = summary.to_string();
    assert!(text.contains("up to 32 B 50.0%, up to 16 B 30.0%, up to 1 KiB 20.0%"), "{text}");
    assert!(text.contains("peak 0.0 MiB at 4.0 s"), "{text}");
    assert!(text.contains("failures 1, fallbacks 2, foreign frees 3"), "{text}");
    assert_eq!(summary.held_bytes, Some((10000, 7000)));
    let free = summary.free_space.expect("free space");
    assert_eq!((free.least.value, free.least.seconds, free.end), (800000000, 4.0, 850000000));
    let largest = summary.largest_free.expect("largest free region");
    assert_eq!((largest.least.value, largest.least.seconds, largest.end), (100000000, 10.0, 100000000));
    assert!(text.contains("free space:    least 762.9 MiB at 4.0 s, 810.6 MiB at the end"), "{text}");
    assert!(text.contains("largest free:  least 95.4 MiB at 10.0 s, 95.4 MiB at the end"), "{text}");

    // A file without those columns has no such lines.
    let older = Summary::of(&parse(FILE, common::older_session(5).as_bytes()).unwrap().rows);
    assert_eq!((older.held_bytes, older.free_space, older.largest_free), (None, None, None));
    assert!(!older.to_string().contains("free space") && !older.to_string().contains("largest"), "{older}");
}

#[test]
fn a_line_too_long_is_damage_not_a_reason_to_grow() {
    let text = common::session(5) + &"7".repeat(MAX_LINE + 10) + "\n";
    let error = error(&text);
    assert_eq!((place(&error), &error.problem), ((7, None), &Problem::TooLong));

    // At the limit exactly it is read, and is just a bad row.
    let text = common::session(5) + &"7".repeat(MAX_LINE) + "\n";
    assert_eq!(place(&error_of(&text)).0, 7);
    assert_ne!(error_of(&text).problem, Problem::TooLong);
}

fn error_of(text: &str) -> ParseError {
    error(text)
}
