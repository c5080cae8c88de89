//! The session's page, `MemoryPoolNVSE.report.html`, which the plugin
//! writes beside its log when the statistics CSV ends (`[Stats]
//! CsvIntervalSeconds`): read back with an HTML5 parser against the CSV of
//! the same session, rendered by a real browser, kept for one session as
//! `.prev.html`, written when the process ends without the exit message,
//! and never more than one warning when it cannot be written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use e2e::{Game, Run};
use scraper::{ElementRef, Html, Selector};
use stats_page::charts::palette;
use stats_page::svg::Colour;

const CSV: &str = "MemoryPoolNVSE.stats.csv";
const PAGE: &str = "MemoryPoolNVSE.report.html";
const PREVIOUS_PAGE: &str = "MemoryPoolNVSE.report.prev.html";

/// A game folder with the plugin hooking the synthetic game, a CSV row a
/// second, and `ini`.
fn game_with(test: &str, ini: &str) -> Game {
    let game = Game::new(test);
    game.write_game_profile(|profile| profile);
    game.write_ini(&format!("[GameHeap]\nProfile = game.toml\n[Stats]\nCsvIntervalSeconds = 1\n{ini}"));
    game
}

/// The game played and its blocks came back intact.
#[track_caller]
fn assert_played(run: &Run) {
    assert!(run.success, "{}", run.describe());
    run.assert_fact("game", "play", "corrupted", "0");
    run.assert_fact("game", "play", "failed", "0");
}

fn read(game: &Game, name: &str) -> String {
    let path = game.plugins_dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The CSV as the plugin wrote it: the header's names and the rows' fields.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn of(game: &Game) -> Csv {
        let text = read(game, CSV);
        let mut lines = text.split_terminator("\r\n");
        let header: Vec<String> = lines.next().expect("a header").split(',').map(str::to_owned).collect();
        let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(str::to_owned).collect()).collect();
        assert!(rows.iter().all(|r| r.len() == header.len()), "{text}");
        Csv { header, rows }
    }

    fn has(&self, column: &str) -> bool {
        self.header.iter().any(|name| name == column)
    }

    /// A field of the last row.
    fn last<T: std::str::FromStr>(&self, column: &str) -> T {
        let index = self.header.iter().position(|name| name == column).unwrap_or_else(|| panic!("no {column}"));
        let field = &self.rows.last().expect("rows")[index];
        field.parse().unwrap_or_else(|_| panic!("{column} = {field:?}"))
    }

    /// The last row's size classes.
    fn histogram(&self) -> Vec<u64> {
        (0..self.header.len())
            .filter(|&i| self.header[i].starts_with("size_"))
            .map(|i| self.rows.last().expect("rows")[i].parse().expect("a count"))
            .collect()
    }
}

/// The page, which must parse without a single error.
fn parsed(text: &str) -> Html {
    let html = Html::parse_document(text);
    assert!(html.errors.is_empty(), "the page does not parse cleanly: {:?}", html.errors);
    html
}

fn select<'a>(html: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    html.select(&Selector::parse(selector).expect("a selector")).collect()
}

fn content(element: &ElementRef) -> String {
    element.text().collect()
}

/// The summary table: label and text of each line.
fn summary(html: &Html) -> Vec<(String, String)> {
    let cell = |row: &ElementRef, name: &str| {
        row.select(&Selector::parse(name).expect("a selector")).next().map(|e| content(&e)).unwrap_or_default()
    };
    select(html, "#summary tr").iter().map(|row| (cell(row, "th"), cell(row, "td"))).collect()
}

fn summary_line(html: &Html, label: &str) -> String {
    let lines = summary(html);
    lines.iter().find(|(l, _)| l == label).map(|(_, t)| t.clone()).unwrap_or_else(|| panic!("no {label}: {lines:?}"))
}

/// `12.3 MiB`, as the summary writes bytes.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// The number in a log message right before ` {unit}`, e.g. `5` of `(5 rows`.
fn number_before(message: &str, unit: &str) -> u64 {
    let end = message.find(&format!(" {unit}")).unwrap_or_else(|| panic!("no {unit:?} in {message}"));
    let start = message[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    message[start..end].parse().unwrap_or_else(|e| panic!("{unit:?} in {message}: {e}"))
}

/// The page agrees with the CSV of its session: a chart per group of
/// columns the file has, every row a point of every line, and the summary's
/// numbers those of the last row.
fn assert_page_shows(html: &Html, csv: &Csv) {
    let rows = csv.rows.len();
    let mut expected = vec!["memory"];
    if csv.has("free_space_bytes") && csv.has("largest_free_bytes") {
        expected.push("free-space");
    }
    expected.extend(["rate", "sizes"]);
    let charts: Vec<&str> = select(html, "svg").iter().map(|svg| svg.value().id().unwrap_or_default()).collect();
    assert_eq!(charts, expected, "one SVG per chart");
    for line in select(html, "polyline.series") {
        let column = line.value().attr("data-column").expect("a line names its column");
        assert!(csv.has(column), "a line of {column}, which the CSV lacks");
        let points = line.value().attr("points").expect("points").split(' ').count();
        assert_eq!(points, rows, "{column}: a point per row");
    }
    for column in ["live_bytes", "mapped_bytes", "allocs_per_second", "frees_per_second"] {
        assert_eq!(select(html, &format!("polyline[data-column={column}]")).len(), 1, "{column}");
    }

    let last_seconds: f64 = csv.last("seconds");
    assert!(summary_line(html, "duration").ends_with(&format!("({last_seconds:.1} s), {rows} rows")));
    let live = summary_line(html, "memory in use");
    assert!(live.ends_with(&format!(", {} at the end", mib(csv.last("live_bytes")))), "{live}");
    let peak = csv.last::<u64>("peak_bytes");
    assert!(live.starts_with(&format!("peak {} at ", mib(peak))), "{live}");
    let held = summary_line(html, "address space");
    assert!(held.ends_with(&format!(", {} at the end", mib(csv.last("mapped_bytes")))), "{held}");
    let end = summary_line(html, "at the end");
    let counts: Vec<u64> =
        end.split(", ").map(|part| part.rsplit(' ').next().unwrap().replace(',', "").parse().unwrap()).collect();
    assert_eq!(counts, [csv.last::<u64>("failures"), csv.last("fallbacks"), csv.last("foreign_frees")], "{end}");
    let histogram = csv.histogram();
    let total: u64 = histogram.iter().sum();
    let top = histogram.iter().copied().max().unwrap_or(0);
    let sizes = summary_line(html, "common sizes");
    assert!(sizes.contains(&format!(" {:.1}%", top as f64 * 100.0 / total as f64)), "{sizes}");
    // A bar per size class from the smallest used to the largest.
    let used: Vec<usize> = (0..histogram.len()).filter(|&c| histogram[c] > 0).collect();
    let bars = used.last().unwrap() - used.first().unwrap() + 1;
    assert_eq!(select(html, "svg#sizes rect.bar").len(), bars);
}

#[test]
fn the_page_of_a_session_shows_its_csv() {
    let game = game_with("report_html_session", "");
    let run = game.run(&["game", "--play", "4"]);
    assert_played(&run);
    run.assert_log_in_order(&[
        "ExitGame: heap rpmalloc: ",
        "ExitGame: statistics written to MemoryPoolNVSE.stats.csv",
        "ExitGame: session report written to MemoryPoolNVSE.report.html (",
    ]);
    let csv = Csv::of(&game);
    let written = run.log_message("ExitGame: session report written to ");
    assert_eq!(number_before(&written, "rows"), csv.rows.len() as u64, "{written}");
    println!("{written}");
    assert!(number_before(&written, "ms)") < 2000, "{written}");

    let text = read(&game, PAGE);
    let html = parsed(&text);
    assert_page_shows(&html, &csv);
    let footer = content(&select(&html, "footer")[0]);
    assert!(footer.starts_with(&format!("Written by MemoryPoolNVSE {} when the game quit.", env!("CARGO_PKG_VERSION"))));
    assert!(select(&html, ".notice").is_empty(), "{text}");
    assert!(!game.plugins_dir().join(PREVIOUS_PAGE).exists(), "a first session has no previous page");
    assert!(!game.plugins_dir().join(format!("{PAGE}.tmp")).exists());
}

#[test]
fn the_next_session_keeps_the_page_and_one_ending_without_exit_writes_its_own() {
    let game = game_with("report_html_sessions", "");
    let first = game.run(&["game", "--play", "2"]);
    assert_played(&first);
    let first_page = read(&game, PAGE);

    // The process ends without ExitGame: the page comes from the last row
    // the CSV has, as the process ends.
    let second = game.run(&["game", "--play", "3", "--exit", "none"]);
    assert_played(&second);
    assert_eq!(read(&game, PREVIOUS_PAGE), first_page);
    assert!(!second.log().contains("ExitGame"), "{}", second.describe());
    second.assert_log_in_order(&[
        "DeferredInit: statistics to MemoryPoolNVSE.stats.csv every 1 s (the previous session's kept as \
         MemoryPoolNVSE.stats.prev.csv)",
        "process end: statistics written to MemoryPoolNVSE.stats.csv",
        "process end: session report written to MemoryPoolNVSE.report.html (",
    ]);
    let csv = Csv::of(&game);
    let written = second.log_message("process end: session report written to ");
    assert_eq!(number_before(&written, "rows"), csv.rows.len() as u64, "{written}");
    let html = parsed(&read(&game, PAGE));
    assert_page_shows(&html, &csv);
    let footer = content(&select(&html, "footer")[0]);
    assert!(footer.contains("as the game's process ended without quitting through the game"), "{footer}");
}

#[test]
fn a_page_that_cannot_be_written_is_one_warning_and_nothing_else() {
    let game = game_with("report_html_unwritable", "");
    // A folder where the page should be.
    let folder = game.plugins_dir().join(PAGE);
    fs::create_dir(&folder).expect("create the folder");
    let run = game.run(&["game", "--play", "2"]);
    assert_played(&run);
    let warnings: Vec<&str> =
        run.log().lines().filter_map(e2e::parse_log_line).filter(|(l, _)| *l != "INFO").map(|(_, m)| m).collect();
    assert_eq!(warnings.len(), 1, "{}", run.describe());
    assert!(
        warnings[0].starts_with("ExitGame: no session report: MemoryPoolNVSE.report.html cannot be written ("),
        "{warnings:?}"
    );
    // The exit went on as usual, and nothing was left behind.
    run.assert_log_in_order(&[
        "ExitGame: statistics written to MemoryPoolNVSE.stats.csv",
        "ExitGame: the game is quitting",
    ]);
    assert!(folder.is_dir() && fs::read_dir(&folder).expect("the folder").next().is_none());
    assert!(!game.plugins_dir().join(format!("{PAGE}.tmp")).exists());
    assert!(!game.plugins_dir().join(PREVIOUS_PAGE).exists());
}

/// Where `cargo xtask test`'s setup notes why it could not install Chromium.
fn chromium_unavailable_note(target_dir: &Path) -> PathBuf {
    target_dir.join("chromium-unavailable.txt")
}

#[test]
fn a_browser_renders_the_page_with_its_charts_and_no_error() {
    let artifacts = e2e::Artifacts::from_env();
    if Command::new("chromium").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        let note = fs::read_to_string(chromium_unavailable_note(&artifacts.target_dir)).unwrap_or_else(|_| {
            panic!("chromium is not installed: `cargo xtask test` installs Debian's chromium for this test")
        });
        println!("skipped: Debian's chromium could not be installed: {}", note.trim());
        return;
    }
    let game = game_with("report_html_browser", "");
    let run = game.run(&["game", "--play", "3"]);
    assert_played(&run);
    let page = game.plugins_dir().join(PAGE);
    let url = format!("file://{}", page.canonicalize().expect("the page exists").display());

    let screenshot = game.dir.join("page.png");
    let (ok, log) = chromium(
        &game.dir.join("browser-shot"),
        &[&format!("--screenshot={}", screenshot.display()), "--window-size=1000,2600", &url],
    );
    assert!(ok, "chromium failed:\n{log}");
    // The page's own messages: console output, a blocked load, a script
    // error. (Chromium's complaints about this machine, such as having no
    // D-Bus, name no page.)
    let about_page: Vec<&str> =
        log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("file://") || l.contains(PAGE)).collect();
    assert!(about_page.is_empty(), "the browser reported about the page:\n{}", about_page.join("\n"));
    assert_painted(&screenshot, &[palette::IN_USE, palette::MAPPED, palette::FREES, palette::MARK]);

    // The document the browser built: the page's charts and summary, all there.
    let (ok, dom) = chromium(&game.dir.join("browser-dom"), &["--dump-dom", &url]);
    assert!(ok, "chromium failed:\n{dom}");
    let html = Html::parse_document(&dom);
    assert_eq!(select(&html, "svg.chart").len(), 3 + usize::from(Csv::of(&game).has("free_space_bytes")), "{dom}");
    assert!(select(&html, "#summary tr").len() >= 6, "{dom}");
}

/// Runs headless Chromium with a fresh profile in `profile`, offline; its
/// success and everything it printed.
fn chromium(profile: &Path, args: &[&str]) -> (bool, String) {
    let _ = fs::remove_dir_all(profile);
    fs::create_dir_all(profile).expect("create the browser's profile folder");
    let output = Command::new("timeout")
        .args(["120", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The screenshot is a picture of the charts: many colours, and pixels of
/// each colour given (lines are anti-aliased: a few exact pixels per line
/// at least, within a small tolerance).
fn assert_painted(png_path: &Path, colours: &[Colour]) {
    let file = fs::File::open(png_path).unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a PNG frame");
    let channels = frame.color_type.samples();
    let pixels: Vec<&[u8]> = pixels[..frame.buffer_size()].chunks(channels).collect();
    let distinct: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    assert!(distinct.len() > 50, "a blank page: {} colours", distinct.len());
    for colour in colours {
        let near = |p: &&&[u8]| {
            p[0].abs_diff(colour.0) <= 12 && p[1].abs_diff(colour.1) <= 12 && p[2].abs_diff(colour.2) <= 12
        };
        let count = pixels.iter().filter(near).count();
        assert!(count >= 40, "{colour}: {count} pixels in {}", png_path.display());
    }
}
