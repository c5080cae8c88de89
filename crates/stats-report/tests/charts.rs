//! The charts of a realistic session: three PNG files of the size asked
//! for, beside the CSV, each with a drawing in it.

#[path = "../../stats-page/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use stats_report::{report, Error, Size};

/// A decoded chart: its size, how many distinct colours it has, and how many
/// of its pixels are clearly blue (the colour of the allocation series and
/// the bars; nothing else in the charts is).
struct Decoded {
    width: u32,
    height: u32,
    colours: usize,
    blue: usize,
}

fn decode(path: &Path) -> Decoded {
    let decoder = png::Decoder::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a PNG frame");
    let channels = frame.color_type.samples();
    let pixels: Vec<&[u8]> = pixels[..frame.buffer_size()].chunks(channels).collect();
    let colours: HashSet<&[u8]> = pixels.iter().copied().collect();
    let blue = pixels.iter().filter(|p| p[2] > 200 && p[0] < 120 && p[1] < 120).count();
    Decoded { width: frame.width, height: frame.height, colours: colours.len(), blue }
}

/// Enough for a two-pixel line across the plot, far more than the legend's
/// sample of it.
const BLUE_PIXELS: usize = 1000;

#[test]
fn a_session_gives_three_charts_of_the_default_size() {
    let dir = common::scratch("default-size");
    let csv = dir.join("MemoryPoolNVSE.stats.csv");
    std::fs::write(&csv, common::session(300)).unwrap();

    let report = report(&csv, Size::DEFAULT).expect("a report");

    let names: Vec<_> = report.charts.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
    assert_eq!(
        names,
        ["MemoryPoolNVSE.stats.memory.png", "MemoryPoolNVSE.stats.rate.png", "MemoryPoolNVSE.stats.sizes.png"]
    );
    for chart in &report.charts {
        assert_eq!(chart.parent(), Some(dir.as_path()));
        let png = decode(chart);
        assert_eq!((png.width, png.height), (1200, 700), "{}", chart.display());
        // Lines, bars and anti-aliased text give hundreds; a blank or
        // single-colour image gives one or two.
        assert!(png.colours > 20, "{}: only {} colours", chart.display(), png.colours);
        assert!(png.blue > BLUE_PIXELS, "{}: the data is not drawn ({} blue pixels)", chart.display(), png.blue);
    }
}

#[test]
fn charts_take_the_size_asked_for() {
    let dir = common::scratch("other-size");
    let csv = dir.join("session.csv");
    std::fs::write(&csv, common::session(200)).unwrap();

    let report = report(&csv, "800x450".parse().unwrap()).expect("a report");

    assert_eq!(report.charts.len(), 3);
    for chart in &report.charts {
        assert!(chart.file_name().unwrap().to_str().unwrap().starts_with("session."));
        let png = decode(chart);
        assert_eq!((png.width, png.height), (800, 450));
        assert!(png.colours > 20, "{}: only {} colours", chart.display(), png.colours);
        assert!(png.blue > BLUE_PIXELS, "{}: the data is not drawn ({} blue pixels)", chart.display(), png.blue);
    }
}

#[test]
fn a_chart_that_cannot_be_written_is_an_error_naming_it() {
    let dir = common::scratch("unwritable");
    let csv = dir.join("session.csv");
    std::fs::write(&csv, common::session(20)).unwrap();
    // A folder where the rate chart goes: no file can be created there.
    std::fs::create_dir(dir.join("session.rate.png")).unwrap();

    let error = report(&csv, Size::DEFAULT).expect_err("the rate chart cannot be written");

    let Error::Chart { path, message } = &error else { panic!("{error}") };
    assert_eq!(path, &dir.join("session.rate.png"));
    assert!(!message.is_empty());
    assert!(error.to_string().contains("session.rate.png: cannot draw it: "), "{error}");
}
