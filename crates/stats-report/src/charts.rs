//! The three charts, drawn with plotters into PNG files beside the CSV:
//! memory in use (`<stem>.memory.png`), allocation rate (`<stem>.rate.png`)
//! and allocations by size class (`<stem>.sizes.png`).
//!
//! Text is drawn with DejaVu Sans, embedded in the program (the `dejavu`
//! crate): the charts look the same on a machine without any fonts and on
//! Windows, and nothing is looked up at run time.

use std::error::Error as StdError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::columns::{class_label, SIZE_CLASSES};
use crate::parse::{Row, Stats};
use crate::summary::{peak, Summary};
use crate::Error;
use stats_page::units::{mib, mib_text, short};

/// The family plotters asks for by default; the embedded font answers it.
const FONT: &str = "sans-serif";
const CAPTION_PX: u32 = 28;
const LABEL_PX: u32 = 16;
/// Room above the highest value, for the peak's label and the legend.
const HEADROOM: f64 = 1.2;

type Drawn = Result<(), Box<dyn StdError>>;
/// Draws one chart on a drawing area.
type Draw<'a> = &'a dyn Fn(&Area) -> Drawn;

/// A chart's size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const DEFAULT: Size = Size { width: 1200, height: 700 };
    /// Below this the axes' labels leave no room for the plot.
    pub const MIN: Size = Size { width: 400, height: 300 };
    pub const MAX: Size = Size { width: 10_000, height: 10_000 };
}

impl Default for Size {
    fn default() -> Self {
        Size::DEFAULT
    }
}

impl FromStr for Size {
    type Err = String;

    /// `WIDTHxHEIGHT`, e.g. `1200x700`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (width, height) = text
            .split_once(['x', 'X'])
            .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
            .ok_or_else(|| format!("{text:?} is not a size; expected WIDTHxHEIGHT in pixels, e.g. 1200x700"))?;
        let (min, max) = (Size::MIN, Size::MAX);
        if !(min.width..=max.width).contains(&width) || !(min.height..=max.height).contains(&height) {
            return Err(format!(
                "{text:?} is out of range: from {}x{} to {}x{} pixels",
                min.width, min.height, max.width, max.height
            ));
        }
        Ok(Size { width, height })
    }
}

/// Where the charts of `csv` go: `<stem>.memory.png`, `<stem>.rate.png`,
/// `<stem>.sizes.png` in its folder.
pub fn paths(csv: &Path) -> [PathBuf; 3] {
    let stem = csv.file_stem().unwrap_or(csv.as_os_str());
    ["memory", "rate", "sizes"].map(|chart| {
        let mut name = OsString::from(stem);
        name.push(format!(".{chart}.png"));
        csv.with_file_name(name)
    })
}

/// Draws the three charts of `stats` read from `csv`; returns their paths.
pub fn write_all(csv: &Path, stats: &Stats, summary: &Summary, size: Size) -> Result<Vec<PathBuf>, Error> {
    let [memory_png, rate_png, sizes_png] = paths(csv);
    let title = csv.file_name().map_or_else(|| stats.file.clone(), |name| name.to_string_lossy().into_owned());
    let charts: [(&PathBuf, Draw); 3] = [
        (&memory_png, &|area| memory(area, &title, &stats.rows)),
        (&rate_png, &|area| rate(area, &title, &stats.rows, summary)),
        (&sizes_png, &|area| sizes(area, &title, stats.rows.last())),
    ];
    for (path, draw) in charts {
        write(path, size, draw)?;
    }
    Ok(vec![memory_png, rate_png, sizes_png])
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn write(path: &Path, size: Size, draw: Draw) -> Result<(), Error> {
    let failed = |message: String| Error::Chart { path: path.to_owned(), message };
    register_font().map_err(failed)?;
    let area = BitMapBackend::new(path, (size.width, size.height)).into_drawing_area();
    let drawn = area.fill(&WHITE).map_err(Into::into).and_then(|()| draw(&area));
    drawn.and_then(|()| Ok(area.present()?)).map_err(|error| failed(error.to_string()))
}

/// Registers the embedded font once for the whole process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    registered.then_some(()).ok_or_else(|| "the embedded font (DejaVu Sans) cannot be read".to_owned())
}

/// The time axis: from the heap's start to the last row (at least a second).
fn time_range(rows: &[Row]) -> core::ops::Range<f64> {
    0.0..rows.last().map_or(0.0, |r| r.seconds).max(1.0)
}

/// A value axis from 0 with room above `highest`.
fn value_range(highest: f64) -> core::ops::Range<f64> {
    0.0..(highest * HEADROOM).max(1.0)
}

fn memory(area: &Area, title: &str, rows: &[Row]) -> Drawn {
    let peak = peak(rows);
    let mapped = rows.iter().map(|r| r.mapped_bytes).max().unwrap_or(0);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Memory in use - {title}"), (FONT, CAPTION_PX))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(time_range(rows), value_range(mib(peak.value.max(mapped))))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("MiB")
        .axis_desc_style((FONT, LABEL_PX))
        .label_style((FONT, LABEL_PX - 2))
        .draw()?;

    let series = [
        ("in use (live_bytes)", BLUE, rows.iter().map(|r| (r.seconds, mib(r.live_bytes))).collect::<Vec<_>>()),
        (
            "address space held (mapped_bytes)",
            RGBColor(230, 120, 0),
            rows.iter().map(|r| (r.seconds, mib(r.mapped_bytes))).collect(),
        ),
    ];
    for (label, color, points) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2)));
    }

    chart.draw_series([Circle::new((peak.seconds, mib(peak.value)), 6, RED.filled())])?;
    let text = format!("peak {} at {:.1} s", mib_text(peak.value), peak.seconds);
    let right = peak.seconds > time_range(rows).end / 2.0;
    peak_label(area, chart.backend_coord(&(peak.seconds, mib(peak.value))), &text, right)?;
    legend(&mut chart)
}

/// The peak's text above its point (in pixels), on a light background so
/// that the lines behind it do not cross it; to the point's left when
/// `right` (the text ends at the point), else to its right.
fn peak_label(area: &Area, (x, y): (i32, i32), text: &str, right: bool) -> Drawn {
    const ABOVE: i32 = 12;
    const PAD: i32 = 3;
    let anchor = if right { HPos::Right } else { HPos::Left };
    let style = TextStyle::from((FONT, LABEL_PX).into_font()).color(&RED).pos(Pos::new(anchor, VPos::Bottom));
    let (width, height) = area.estimate_text_size(text, &style)?;
    let (width, height) = (width as i32, height as i32);
    let left = if right { x - width } else { x };
    let bottom = y - ABOVE;
    let background = [(left - PAD, bottom - height - PAD), (left + width + PAD, bottom + PAD)];
    area.draw(&Rectangle::new(background, WHITE.mix(0.85).filled()))?;
    area.draw_text(text, &style, (x, bottom))?;
    Ok(())
}

fn rate(area: &Area, title: &str, rows: &[Row], summary: &Summary) -> Drawn {
    let highest = rows.iter().map(|r| r.allocs_per_second.max(r.frees_per_second)).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Allocation rate - {title}"), (FONT, CAPTION_PX))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(time_range(rows), value_range(highest))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("per second")
        .y_label_formatter(&|v| short(*v))
        .axis_desc_style((FONT, LABEL_PX))
        .label_style((FONT, LABEL_PX - 2))
        .draw()?;

    let mean = format!("allocations/s (mean {})", short(summary.mean_allocs_per_second));
    let series = [
        (mean, BLUE, rows.iter().map(|r| (r.seconds, r.allocs_per_second)).collect::<Vec<_>>()),
        ("frees/s".to_owned(), RGBColor(0, 150, 60), rows.iter().map(|r| (r.seconds, r.frees_per_second)).collect()),
    ];
    for (label, color, points) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

/// Bars of the last row's histogram, from the smallest class with an
/// allocation to the largest, each with its share.
fn sizes(area: &Area, title: &str, last: Option<&Row>) -> Drawn {
    let histogram = last.map_or([0; SIZE_CLASSES], |r| r.histogram);
    let total: u64 = histogram.iter().sum();
    let used = (0..SIZE_CLASSES).filter(|&c| histogram[c] > 0);
    // Segmented coordinates give a segment to both ends of their range.
    let (first, last_class) = match (used.clone().min(), used.max()) {
        (Some(first), Some(last)) => (first as u32, last as u32),
        _ => (0, 0),
    };
    let end = last_class + 1;
    let highest = histogram.iter().copied().max().unwrap_or(0) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Allocations by request size, at {:.1} s - {title}", last.map_or(0.0, |r| r.seconds)),
            (FONT, CAPTION_PX),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((first..last_class).into_segmented(), value_range(highest))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("request size, up to")
        .y_desc("allocations")
        .x_labels((end - first) as usize)
        .x_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(class) => class_label(*class as usize),
            _ => String::new(),
        })
        .y_label_formatter(&|v| short(*v))
        .axis_desc_style((FONT, LABEL_PX))
        .label_style((FONT, LABEL_PX - 3))
        .draw()?;
    if total == 0 {
        let style = TextStyle::from((FONT, CAPTION_PX).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let (width, height) = area.dim_in_pixel();
        area.draw_text("no allocations recorded", &style, (width as i32 / 2, height as i32 / 2))?;
        return Ok(());
    }

    let bars = (first..end).map(|class| (class, histogram[class as usize] as f64));
    chart.draw_series(Histogram::vertical(&chart).style(BLUE.mix(0.7).filled()).margin(6).data(bars))?;
    let share = TextStyle::from((FONT, LABEL_PX - 3).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series((first..end).filter(|&c| histogram[c as usize] > 0).map(|class| {
        let count = histogram[class as usize];
        let text = format!("{:.1}%", count as f64 * 100.0 / total as f64);
        EmptyElement::at((SegmentValue::CenterOf(class), count as f64)) + Text::new(text, (0, -4), share.clone())
    }))?;
    Ok(())
}

fn legend<'a, X: Ranged, Y: Ranged>(chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>) -> Drawn {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, LABEL_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
