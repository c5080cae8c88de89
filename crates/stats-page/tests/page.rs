//! The page of a statistics file, read back with an HTML5 parser: valid
//! markup, one chart per group of columns the file has, the lines through
//! every row (or decimated as documented), the summary of the file, and a
//! page that says what is wrong with a damaged file.

mod common;

use std::time::Instant;

use scraper::{ElementRef, Html, Selector};
use stats_page::columns::COLUMNS;
use stats_page::parse::parse;
use stats_page::series::BUCKETS;
use stats_page::{page, About, Page, Summary};

const FILE: &str = "MemoryPoolNVSE.stats.csv";

fn about() -> About<'static> {
    About { file: FILE, made_by: "the page's tests" }
}

fn page_of(text: &str) -> Page {
    page(&about(), text.as_bytes())
}

/// The document, which must parse without a single error.
fn parsed(page: &Page) -> Html {
    let html = Html::parse_document(&page.html);
    assert!(html.errors.is_empty(), "the page does not parse cleanly: {:?}", html.errors);
    html
}

fn select<'a>(html: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    html.select(&Selector::parse(selector).expect("a selector")).collect()
}

fn content(element: &ElementRef) -> String {
    element.text().collect()
}

/// Each line's column and its number of points.
fn polylines(html: &Html, chart: &str) -> Vec<(String, usize)> {
    select(html, &format!("svg#{chart} polyline.series"))
        .iter()
        .map(|line| {
            let column = line.value().attr("data-column").expect("a line names its column").to_owned();
            let points = line.value().attr("points").expect("points").split(' ').filter(|p| !p.is_empty()).count();
            (column, points)
        })
        .collect()
}

fn charts(html: &Html) -> Vec<String> {
    select(html, "svg.chart").iter().map(|svg| svg.value().id().unwrap_or_default().to_owned()).collect()
}

#[test]
fn a_session_has_its_summary_and_a_chart_per_group_of_columns() {
    let text = common::session(300);
    let page = page_of(&text);
    let html = parsed(&page);

    assert_eq!((page.rows, page.charts, page.damage.is_none()), (300, 4, true));
    assert_eq!(charts(&html), ["memory", "free-space", "rate", "sizes"]);
    assert_eq!(select(&html, "svg").len(), 4, "one SVG per chart and no other");
    let columns = |chart| polylines(&html, chart).into_iter().map(|(c, _)| c).collect::<Vec<_>>();
    assert_eq!(columns("memory"), ["live_bytes", "mapped_bytes", "held_bytes", "delayed_bytes"]);
    assert_eq!(columns("free-space"), ["free_space_bytes", "largest_free_bytes"]);
    assert_eq!(columns("rate"), ["frees_per_second", "allocs_per_second"]);
    for chart in ["memory", "free-space", "rate"] {
        for (column, points) in polylines(&html, chart) {
            assert_eq!(points, 300, "{chart}: {column}: a point per row");
            assert!(COLUMNS.contains(&column.as_str()));
        }
    }
    // The warning levels, dashed, in the free-space chart only.
    assert_eq!(select(&html, "svg#free-space line.level").len(), 2);
    assert_eq!(select(&html, "line.level").len(), 2);
    // A bar per size class from the smallest used to the largest.
    let bars = select(&html, "svg#sizes rect.bar");
    assert_eq!(bars.len(), 20 - 3 + 1);

    // The summary is the report tool's, line for line, from the same rows.
    let stats = parse(FILE, text.as_bytes()).unwrap();
    let summary = Summary::of(&stats.rows);
    let shown: Vec<(String, String)> = select(&html, "#summary tr")
        .iter()
        .map(|row| {
            let th = row.select(&Selector::parse("th").unwrap()).next().map(|e| content(&e)).unwrap_or_default();
            let td = row.select(&Selector::parse("td").unwrap()).next().map(|e| content(&e)).unwrap_or_default();
            (th, td)
        })
        .collect();
    let expected: Vec<(String, String)> = summary.lines().into_iter().map(|(l, t)| (l.to_owned(), t)).collect();
    assert_eq!(shown, expected);
    assert!(shown.iter().any(|(label, _)| label == "free space"));
    assert!(select(&html, ".notice").is_empty());
}

#[test]
fn an_older_file_has_no_free_space_chart() {
    let page = page_of(&common::older_session(120));
    let html = parsed(&page);
    assert_eq!(charts(&html), ["memory", "rate", "sizes"]);
    assert_eq!(
        polylines(&html, "memory").into_iter().map(|(c, _)| c).collect::<Vec<_>>(),
        ["live_bytes", "mapped_bytes"]
    );
    assert!(select(&html, "line.level").is_empty());
    assert!(!page.html.contains("free space"), "no summary line of a column the file lacks");
}

#[test]
fn the_page_loads_and_runs_nothing() {
    let page = page_of(&common::session(60));
    let html = parsed(&page);
    assert!(select(&html, "script, link, img, iframe, object, embed, image, use").is_empty());
    for element in select(&html, "*") {
        for (name, value) in element.value().attrs() {
            assert!(!name.starts_with("on"), "an event handler: {name}");
            assert!(!value.contains("://") || value == "http://www.w3.org/2000/svg", "{name}={value}");
        }
    }
    let policy = select(&html, "meta[http-equiv=Content-Security-Policy]");
    assert_eq!(policy[0].value().attr("content"), Some("default-src 'none'; style-src 'unsafe-inline'"));
}

#[test]
fn a_long_session_is_drawn_decimated_and_quickly() {
    // Ten hours at one row a second.
    const ROWS: usize = 36_000;
    let text = common::session(ROWS);
    let dir = common::scratch("long");
    let (csv, html_path) = (dir.join(FILE), dir.join("MemoryPoolNVSE.report.html"));
    std::fs::write(&csv, &text).unwrap();

    // As the plugin does at exit: the file read a row at a time, the page
    // written out.
    let started = Instant::now();
    let input = std::io::BufReader::with_capacity(128 * 1024, std::fs::File::open(&csv).unwrap());
    let page = page(&about(), input);
    std::fs::write(&html_path, &page.html).unwrap();
    let elapsed = started.elapsed();
    println!(
        "{ROWS} rows ({} KiB of CSV): page of {} KiB made in {elapsed:.1?}",
        text.len() / 1024,
        page.html.len() / 1024
    );

    let html = parsed(&page);
    assert_eq!(page.rows, ROWS);
    for chart in ["memory", "free-space", "rate"] {
        for (column, points) in polylines(&html, chart) {
            assert!((BUCKETS / 2..=2 * BUCKETS).contains(&points), "{chart}: {column}: {points} points");
        }
    }
    let caption = text_of(&html, "#memory-section figcaption");
    assert!(caption.contains("for 36,000 rows: the lowest and the highest value of each run of 64"), "{caption}");
    // The peak survives decimation: the mark is the summary's.
    let summary = Summary::of(&parse(FILE, text.as_bytes()).unwrap().rows);
    let mark = text_of(&html, "svg#memory .mark text");
    assert_eq!(mark, format!("peak {:.1} MiB at {:.1} s", summary.peak.value as f64 / 1048576.0, summary.peak.seconds));
    // The plugin has 200 ms at exit; this build may be unoptimised and the
    // machine busy, so only ten times that is a failure.
    assert!(elapsed.as_millis() < 2000, "{ROWS} rows took {elapsed:?}");
}

fn text_of(html: &Html, selector: &str) -> String {
    select(html, selector).first().map(content).unwrap_or_else(|| panic!("no {selector}"))
}

#[test]
fn a_damaged_file_gives_a_page_that_says_where_with_the_rows_before() {
    let mut rows: Vec<String> = common::session(20).lines().map(str::to_owned).collect();
    let mut fields: Vec<&str> = rows[12].split(',').collect();
    fields[1] = "<b>12a</b>";
    rows[12] = fields.join(",");
    let page = page_of(&(rows.join("\n") + "\n"));
    let html = parsed(&page);

    assert_eq!(page.rows, 11);
    let damage = page.damage.as_ref().expect("the damage is reported");
    assert_eq!((damage.line, damage.column), (13, Some(2)));
    let notice = text_of(&html, ".notice");
    assert!(notice.starts_with("The statistics file is damaged: MemoryPoolNVSE.stats.csv line 13, column 2 (live_bytes): \"<b>12a</b>\" is not a whole number"), "{notice}");
    assert!(notice.ends_with("The page shows the 11 rows before the damage."), "{notice}");
    assert!(select(&html, "b").is_empty(), "text from the file is never markup");
    assert_eq!(charts(&html), ["memory", "free-space", "rate", "sizes"]);
    for (column, points) in polylines(&html, "memory") {
        assert_eq!(points, 11, "{column}");
    }
}

#[test]
fn a_file_with_nothing_to_show_gives_a_page_that_says_why() {
    let cases = [
        ("", "MemoryPoolNVSE.stats.csv line 1: the file is empty"),
        ("seconds,live\n1,2\n", "MemoryPoolNVSE.stats.csv line 1, column 2: \"live\" is not a column"),
        (&*(common::header() + "\n"), "MemoryPoolNVSE.stats.csv line 2: no complete row after the header"),
        (&*(common::header() + "\n1.0,12"), "MemoryPoolNVSE.stats.csv line 2: no complete row after the header"),
        ("\u{fffd}\u{0}", "line 1, column 1: byte 0xEF is not plain ASCII text"),
    ];
    for (text, message) in cases {
        let page = page_of(text);
        let html = parsed(&page);
        assert_eq!((page.rows, page.charts), (0, 0));
        assert!(select(&html, "svg").is_empty() && select(&html, "#summary").is_empty());
        let notice = text_of(&html, ".notice");
        assert!(notice.starts_with("The statistics file is damaged, and no row can be shown: "), "{notice}");
        assert!(notice.contains(message), "{notice}");
    }
}

#[test]
fn a_last_row_cut_short_is_left_out_and_said() {
    let whole = common::session(30);
    let page = page_of(&whole[..whole.len() - 40]);
    let html = parsed(&page);
    assert_eq!((page.rows, page.damage.is_none()), (29, true));
    assert_eq!(page.skipped.as_ref().map(|s| s.line), Some(31));
    let notice = text_of(&html, ".notice");
    assert!(notice.starts_with("The game stopped while writing the last row, which is left out: "), "{notice}");
    for (_, points) in polylines(&html, "rate") {
        assert_eq!(points, 29);
    }
}

#[test]
fn one_row_is_a_dot_and_names_are_escaped() {
    let text: String = common::session(1);
    let about = About { file: "<script>alert(1)</script>.csv", made_by: "\"quoted\" & <b>bold</b>" };
    let page = page(&about, text.as_bytes());
    let html = parsed(&page);
    assert!(select(&html, "script, b").is_empty());
    assert!(text_of(&html, "title").contains("<script>alert(1)</script>.csv"));
    assert!(text_of(&html, "footer").starts_with("Written by \"quoted\" & <b>bold</b>."));
    assert_eq!(select(&html, "svg#memory circle").len(), 4 + 1, "a dot per line and the peak's");
}

/// A page to look at: `target/tmp/stats-page/look/`.
#[test]
fn pages_to_look_at() {
    let dir = common::scratch("look");
    for (name, text) in [("session", common::session(3600)), ("older", common::older_session(90))] {
        std::fs::write(dir.join(format!("{name}.html")), page_of(&text).html).unwrap();
    }
}
