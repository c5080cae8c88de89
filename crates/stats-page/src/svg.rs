//! Charts as inline SVG text: a frame with a time axis and a value axis,
//! lines, dashed levels and a marked point on it ([`TimeChart`]), and bars
//! ([`bars`]). Plain markup only: no script, no external font or file; the
//! page's style sheet sets the fonts.

use core::fmt::Write as _;

use crate::html::escape;

/// The drawing's size in SVG units; the page scales it to its width.
pub const WIDTH: f64 = 960.0;
pub const HEIGHT: f64 = 380.0;
/// Room around the plot for the axes' labels and the legend.
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 46.0;
/// Headroom above the highest value, for the legend and labels.
const HEADROOM: f64 = 1.15;

/// A colour, `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl core::fmt::Display for Colour {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// An axis from 0 to `end`, with labelled ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub end: f64,
    pub ticks: Vec<(f64, String)>,
}

impl Scale {
    /// Seconds from 0 to `end` (at least 1), ticks at a whole number of
    /// seconds, minutes or hours.
    pub fn time(end: f64) -> Scale {
        const STEPS: [f64; 18] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0,
            21600.0, 43200.0, 86400.0,
        ];
        let end = if end.is_finite() { end.max(1.0) } else { 1.0 };
        let step = STEPS.iter().copied().find(|&step| end / step <= 8.0).unwrap_or(end / 8.0);
        Scale { end, ticks: ticks(end, step, time_label) }
    }

    /// Values from 0 to a round number above `highest`, about five ticks,
    /// each labelled by `label`.
    pub fn values(highest: f64, label: fn(f64) -> String) -> Scale {
        let highest = if highest.is_finite() && highest > 0.0 { highest * HEADROOM } else { 1.0 };
        let step = nice(highest / 5.0);
        let end = (highest / step).ceil() * step;
        Scale { end, ticks: ticks(end, step, label) }
    }
}

fn ticks(end: f64, step: f64, label: fn(f64) -> String) -> Vec<(f64, String)> {
    let count = (end / step + 1e-9).floor() as usize;
    (0..=count.min(100)).map(|i| i as f64 * step).map(|value| (value, label(value))).collect()
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is `raw` or more.
fn nice(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|&step| step >= raw).unwrap_or(10.0 * power)
}

/// `45 s`, `5 min`, `2 min 30 s`, `2 h`, `1 h 30 min`.
fn time_label(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match (whole / 3600, whole / 60 % 60, whole % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// A chart over the session's time, drawn into SVG text.
pub struct TimeChart {
    svg: String,
    x: Scale,
    y: Scale,
    /// Where the next legend entry starts.
    legend: f64,
}

impl TimeChart {
    /// The frame, grid and axes; `id` names the chart in the page.
    pub fn new(id: &str, title: &str, x: Scale, y: Scale, y_name: &str) -> TimeChart {
        let mut chart = TimeChart { svg: String::with_capacity(64 * 1024), x, y, legend: LEFT + 8.0 };
        open(&mut chart.svg, id, title);
        chart.grid(y_name);
        chart
    }

    fn px(&self, seconds: f64) -> f64 {
        LEFT + (seconds / self.x.end).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, value: f64) -> f64 {
        HEIGHT - BOTTOM - (value / self.y.end).clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM)
    }

    fn grid(&mut self, y_name: &str) {
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        let _ = write!(self.svg, r#"<g class="grid">"#);
        for (value, label) in self.y.ticks.clone() {
            let y = self.py(value);
            let _ = write!(
                self.svg,
                r#"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 8.0,
                y + 4.0,
                escape(&label)
            );
        }
        for (seconds, label) in self.x.ticks.clone() {
            let x = self.px(seconds);
            let _ = write!(
                self.svg,
                r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                bottom + 18.0,
                escape(&label)
            );
        }
        let _ = write!(
            self.svg,
            r#"</g><path class="axis" d="M{left} {TOP}V{bottom}H{right}"/><text class="axis-name" x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{}</text><text class="axis-name" x="{}" y="{}" text-anchor="middle">time since the game started</text>"#,
            (TOP + bottom) / 2.0,
            (TOP + bottom) / 2.0,
            escape(y_name),
            (left + right) / 2.0,
            HEIGHT - 6.0
        );
    }

    /// A legend entry at the top, left to right.
    fn legend_entry(&mut self, name: &str, colour: Colour, dashed: bool) {
        let x = self.legend;
        // About 7.5 units a character at the page's 13 px.
        self.legend += 30.0 + 7.5 * name.chars().count() as f64 + 26.0;
        let dash = if dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = write!(
            self.svg,
            r#"<g class="legend"><line x1="{x}" y1="22" x2="{}" y2="22" stroke="{colour}" stroke-width="3"{dash}/><text x="{}" y="26">{}</text></g>"#,
            x + 24.0,
            x + 30.0,
            escape(name)
        );
    }

    /// A line through `points` (seconds, value), named in the legend and,
    /// as `data-column`, for whoever reads the page's markup.
    pub fn line(&mut self, name: &str, column: &str, colour: Colour, points: impl Iterator<Item = (f64, f64)>) {
        self.legend_entry(name, colour, false);
        let _ = write!(
            self.svg,
            r#"<polyline class="series" data-column="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round" points=""#,
            escape(column)
        );
        let mut first = None;
        let mut count = 0;
        for (seconds, value) in points {
            let (x, y) = (self.px(seconds), self.py(value));
            let separator = if count == 0 { "" } else { " " };
            let _ = write!(self.svg, "{separator}{x:.1},{y:.1}");
            first.get_or_insert((x, y));
            count += 1;
        }
        let _ = write!(self.svg, r#""/>"#);
        // One row is no line: a dot shows it.
        if let (1, Some((x, y))) = (count, first) {
            let _ = write!(self.svg, r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#);
        }
    }

    /// A dashed level across the chart, e.g. a warning threshold, with its
    /// name in the legend and its label at the right end.
    pub fn level(&mut self, name: &str, value: f64, colour: Colour) {
        self.legend_entry(name, colour, true);
        let y = self.py(value);
        let _ = write!(
            self.svg,
            r#"<line class="level" x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>"#,
            WIDTH - RIGHT
        );
    }

    /// A dot at a moment, with a label above it on a light background.
    pub fn mark(&mut self, seconds: f64, value: f64, colour: Colour, label: &str) {
        let (x, y) = (self.px(seconds), self.py(value));
        // Text ends at the dot right of the middle, else starts there.
        let right = x > (LEFT + WIDTH - RIGHT) / 2.0;
        let anchor = if right { "end" } else { "start" };
        let _ = write!(
            self.svg,
            r#"<g class="mark"><circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}"/><text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}">{}</text></g>"#,
            (y - 10.0).max(TOP + 12.0),
            escape(label)
        );
    }

    pub fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// Opens an `<svg>` element with its accessible title.
fn open(svg: &mut String, id: &str, title: &str) {
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
}

/// One bar of [`bars`]: its label below, its value and a text above.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub note: String,
}

/// A bar chart: one bar per entry, from 0 to its value, left to right.
pub fn bars(id: &str, title: &str, y_name: &str, bars: &[Bar], colour: Colour, label: fn(f64) -> String) -> String {
    let mut svg = String::with_capacity(16 * 1024);
    open(&mut svg, id, title);
    let y = Scale::values(bars.iter().map(|b| b.value).fold(0.0, f64::max), label);
    let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM - 20.0);
    let py = |value: f64| bottom - (value / y.end).clamp(0.0, 1.0) * (bottom - TOP);
    let _ = write!(svg, r#"<g class="grid">"#);
    for (value, text) in &y.ticks {
        let at = py(*value);
        let _ = write!(
            svg,
            r#"<line x1="{left}" y1="{at:.1}" x2="{right}" y2="{at:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            at + 4.0,
            escape(text)
        );
    }
    let _ = write!(
        svg,
        r#"</g><path class="axis" d="M{left} {TOP}V{bottom}H{right}"/><text class="axis-name" x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{}</text>"#,
        (TOP + bottom) / 2.0,
        (TOP + bottom) / 2.0,
        escape(y_name)
    );
    let slot = (right - left) / bars.len().max(1) as f64;
    // Many bars leave no room for level labels: they are turned.
    let turned = slot < 60.0;
    for (index, bar) in bars.iter().enumerate() {
        let x = left + index as f64 * slot;
        let (top, middle) = (py(bar.value), x + slot / 2.0);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
            x + slot * 0.12,
            slot * 0.76,
            bottom - top,
            escape(&bar.label),
            escape(&bar.note)
        );
        if !bar.note.is_empty() && bar.value > 0.0 {
            let _ = write!(
                svg,
                r#"<text class="note" x="{middle:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                top - 5.0,
                escape(&bar.note)
            );
        }
        let below = bottom + 16.0;
        let _ = if turned {
            write!(
                svg,
                r#"<text class="tick" x="{middle:.1}" y="{below:.1}" text-anchor="end" transform="rotate(-40 {middle:.1} {below:.1})">{}</text>"#,
                escape(&bar.label)
            )
        } else {
            write!(
                svg,
                r#"<text class="tick" x="{middle:.1}" y="{below:.1}" text-anchor="middle">{}</text>"#,
                escape(&bar.label)
            )
        };
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(1.3), 2.0);
        assert_eq!(nice(2.2), 2.5);
        assert_eq!(nice(37.0), 50.0);
        assert_eq!(nice(120.0), 200.0);
    }

    #[test]
    fn time_ticks_are_whole_units() {
        let labels = |end: f64| Scale::time(end).ticks.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(labels(5.0), ["0 s", "1 s", "2 s", "3 s", "4 s", "5 s"]);
        assert_eq!(labels(600.0)[..3], ["0 s", "2 min", "4 min"]);
        assert_eq!(labels(36_000.0)[..3], ["0 s", "2 h", "4 h"]);
        assert_eq!(time_label(5400.0), "1 h 30 min");
        assert_eq!(time_label(150.0), "2 min 30 s");
        assert!(Scale::time(36_000.0).ticks.len() <= 9);
    }

    #[test]
    fn value_scales_reach_past_the_highest() {
        let scale = Scale::values(183.0, |v| format!("{v}"));
        assert!(scale.end >= 183.0 * HEADROOM);
        assert!((3..=11).contains(&scale.ticks.len()), "{:?}", scale.ticks);
        assert_eq!(Scale::values(0.0, |v| format!("{v}")).end, 1.0);
        assert_eq!(Scale::values(f64::NAN, |v| format!("{v}")).end, 1.0);
    }
}
