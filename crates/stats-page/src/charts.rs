//! The page's charts, gathered row by row: memory in use and the address
//! space held, the process's free address space (files that have it), the
//! allocation rate, and the allocations by request size at the end.

use crate::columns::{at, class_label, SIZE_CLASSES};
use crate::parse::{Header, Row};
use crate::series::{Series, BUCKETS};
use crate::summary::Summary;
use crate::svg::{bars, Bar, Scale, TimeChart};
use crate::units::{grouped, mib, short, trimmed, MIB};

/// The colours of the lines and bars; nothing else on the page has them.
pub mod palette {
    use crate::svg::Colour;

    pub const IN_USE: Colour = Colour(31, 95, 191);
    pub const MAPPED: Colour = Colour(230, 120, 0);
    pub const HELD: Colour = Colour(140, 80, 190);
    pub const DELAYED: Colour = Colour(150, 150, 150);
    pub const FREE_SPACE: Colour = Colour(26, 152, 80);
    pub const LARGEST_FREE: Colour = Colour(0, 130, 160);
    pub const ALLOCATIONS: Colour = IN_USE;
    pub const FREES: Colour = FREE_SPACE;
    pub const BARS: Colour = IN_USE;
    /// Peaks and lows.
    pub const MARK: Colour = Colour(214, 39, 40);
}

/// Free address space below this is a warning: the game is close to
/// running out of memory.
pub const FREE_SPACE_WARNING: u64 = 400 << 20;
/// A largest free region below this is a warning: a large allocation (a
/// texture, a cell's buffers) may find no room.
pub const LARGEST_FREE_WARNING: u64 = 128 << 20;

/// One chart of the page.
pub struct Figure {
    /// The chart's id in the page.
    pub id: &'static str,
    pub heading: &'static str,
    /// The `<svg>` element.
    pub svg: String,
    /// What it shows, for a player.
    pub caption: String,
}

/// The series of every chart, one row at a time.
pub struct Charts {
    live: Series,
    mapped: Series,
    held: Option<Series>,
    delayed: Option<Series>,
    free_space: Option<Series>,
    largest_free: Option<Series>,
    allocations: Series,
    frees: Series,
}

impl Charts {
    /// Series for the columns `header` has.
    pub fn new(header: &Header) -> Charts {
        let optional = |column| header.has(column).then(Series::default);
        Charts {
            live: Series::default(),
            mapped: Series::default(),
            held: optional(at::HELD_BYTES),
            delayed: optional(at::DELAYED_BYTES),
            free_space: optional(at::FREE_SPACE_BYTES),
            largest_free: optional(at::LARGEST_FREE_BYTES),
            allocations: Series::default(),
            frees: Series::default(),
        }
    }

    pub fn add(&mut self, row: &Row) {
        let t = row.seconds;
        self.live.push(t, row.live_bytes as f64);
        self.mapped.push(t, row.mapped_bytes as f64);
        let pairs = [
            (&mut self.held, row.held_bytes),
            (&mut self.delayed, row.delayed_bytes),
            (&mut self.free_space, row.free_space_bytes),
            (&mut self.largest_free, row.largest_free_bytes),
        ];
        for (series, value) in pairs {
            if let (Some(series), Some(value)) = (series, value) {
                series.push(t, value as f64);
            }
        }
        self.allocations.push(t, row.allocs_per_second);
        self.frees.push(t, row.frees_per_second);
    }

    /// The charts of the rows added, which `summary` sums up and `last`
    /// ends.
    pub fn figures(&self, summary: &Summary, last: &Row) -> Vec<Figure> {
        let time = Scale::time(summary.seconds);
        let mut figures = vec![self.memory(&time, summary)];
        if let (Some(free), Some(largest)) = (&self.free_space, &self.largest_free) {
            figures.push(free_space(&time, summary, free, largest));
        }
        figures.push(self.rate(&time, summary));
        figures.push(sizes(summary, last));
        figures
    }

    fn memory(&self, time: &Scale, summary: &Summary) -> Figure {
        let highest = [Some(&self.live), Some(&self.mapped), self.held.as_ref()]
            .into_iter()
            .flatten()
            .map(Series::highest)
            .fold(summary.peak.value as f64, f64::max);
        let y = Scale::values(mib(highest as u64), trimmed);
        let mut chart = TimeChart::new("memory", "Memory in use over the session", time.clone(), y, "MiB");
        chart.line("in use", "live_bytes", palette::IN_USE, in_mib(&self.live));
        chart.line("held by the allocator", "mapped_bytes", palette::MAPPED, in_mib(&self.mapped));
        if let Some(held) = &self.held {
            chart.line("held, reservations included", "held_bytes", palette::HELD, in_mib(held));
        }
        if let Some(delayed) = &self.delayed {
            chart.line("freed by the game, held back", "delayed_bytes", palette::DELAYED, in_mib(delayed));
        }
        let peak = summary.peak;
        let label = format!("peak {:.1} MiB at {:.1} s", mib(peak.value), peak.seconds);
        chart.mark(peak.seconds, mib(peak.value), palette::MARK, &label);
        let caption = "Blue: memory the game and its mods have in use through the plugin. Orange: the address space \
                       the allocator holds for it, freed memory kept for reuse included. Grey: memory the game freed that waits, \
                       unchanged, before it is reused. The red dot is the peak."
            .to_owned();
        Figure { id: "memory", heading: "Memory in use", svg: chart.finish(), caption: caption + &drawn(&self.live) }
    }

    fn rate(&self, time: &Scale, summary: &Summary) -> Figure {
        let highest = self.allocations.highest().max(self.frees.highest());
        let y = Scale::values(highest, short);
        let mut chart = TimeChart::new("rate", "Allocations and frees per second", time.clone(), y, "per second");
        // Frees first: allocations, the line that matters, are drawn on top.
        chart.line("frees/s", "frees_per_second", palette::FREES, as_is(&self.frees));
        chart.line("allocations/s", "allocs_per_second", palette::ALLOCATIONS, as_is(&self.allocations));
        let caption = format!(
            "Requests to allocate (blue) and to free (green) memory each second, {} allocations a second on average.",
            grouped(summary.mean_allocs_per_second.round() as u64)
        );
        Figure {
            id: "rate",
            heading: "Allocation rate",
            svg: chart.finish(),
            caption: caption + &drawn(&self.allocations),
        }
    }
}

fn free_space(time: &Scale, summary: &Summary, free: &Series, largest: &Series) -> Figure {
    let highest = free.highest().max(largest.highest()).max(FREE_SPACE_WARNING as f64);
    let y = Scale::values(mib(highest as u64), trimmed);
    let mut chart = TimeChart::new("free-space", "Free address space over the session", time.clone(), y, "MiB");
    chart.line("free address space", "free_space_bytes", palette::FREE_SPACE, in_mib(free));
    chart.line("largest free region", "largest_free_bytes", palette::LARGEST_FREE, in_mib(largest));
    chart.level("warning: free below 400 MiB", mib(FREE_SPACE_WARNING), palette::FREE_SPACE);
    chart.level("warning: largest below 128 MiB", mib(LARGEST_FREE_WARNING), palette::LARGEST_FREE);
    if let Some(low) = summary.free_space {
        let label = format!("least {:.1} MiB at {:.1} s", mib(low.least.value), low.least.seconds);
        chart.mark(low.least.seconds, mib(low.least.value), palette::MARK, &label);
    }
    let caption = "The game's 32-bit process has at most 4 GiB of address space (with the 4GB patch). Green: how much \
                   of it is free; teal: the largest free region, the biggest block that can still be allocated. Below \
                   the dashed lines the game is close to running out of memory, and large allocations start to fail."
        .to_owned();
    Figure { id: "free-space", heading: "Free address space", svg: chart.finish(), caption: caption + &drawn(free) }
}

/// Bars of the last row's histogram, from the smallest class with an
/// allocation to the largest, each with its share.
fn sizes(summary: &Summary, last: &Row) -> Figure {
    let histogram = &last.histogram;
    let total: u64 = histogram.iter().sum();
    let used: Vec<usize> = (0..SIZE_CLASSES).filter(|&class| histogram[class] > 0).collect();
    let (first, end) = match (used.first(), used.last()) {
        (Some(&first), Some(&last)) => (first, last + 1),
        _ => (0, 0),
    };
    let entries: Vec<Bar> = (first..end)
        .map(|class| {
            let count = histogram[class];
            let note = if count > 0 { format!("{:.1}%", count as f64 * 100.0 / total as f64) } else { String::new() };
            Bar { label: class_label(class), value: count as f64, note }
        })
        .collect();
    let title = format!("Allocations by request size, at {:.1} s", summary.seconds);
    let svg = bars("sizes", &title, "allocations", &entries, palette::BARS, short);
    let caption = if total == 0 {
        "No allocations were recorded.".to_owned()
    } else {
        format!(
            "All {} allocations of the session by the size asked for, in powers of two: a bar labelled 64 B \
             counts requests of 33 to 64 bytes.",
            grouped(total)
        )
    };
    Figure { id: "sizes", heading: "Allocations by request size", svg, caption }
}

/// A series' points as they are.
fn as_is(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
    series.points().map(|p| (p.seconds, p.value))
}

/// A series' points in MiB.
fn in_mib(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
    series.points().map(|p| (p.seconds, p.value / MIB))
}

/// How the lines were drawn from the rows, when not row by row.
fn drawn(series: &Series) -> String {
    let rows = series.rows();
    if rows <= BUCKETS as u64 {
        return String::new();
    }
    format!(
        " Each line is drawn with {} points for {} rows: the lowest and the highest value of each run of \
         {} consecutive rows, so that no peak or dip is lost.",
        grouped(series.points().count() as u64),
        grouped(rows),
        grouped(series.rows_per_bucket())
    )
}
