//! A value over the session, kept for a line chart in bounded memory.
//!
//! Rows come in one at a time. Up to [`BUCKETS`] rows, each is a point of
//! its own: the line passes through every row. Past that, consecutive rows
//! share a bucket, and a bucket is drawn as its lowest and its highest value,
//! in the order they came (min-max decimation): the line still reaches every
//! peak and every dip, which averaging would flatten. Buckets hold 1, 2, 4,
//! 8, ... rows: when [`BUCKETS`] buckets are full, neighbours merge in pairs
//! and each holds twice as many rows from then on. A series of any length
//! is so drawn with at most `2 * BUCKETS` points, and more than `BUCKETS / 2`
//! buckets once it has that many rows.

/// Buckets a series keeps, about one per unit of a chart's width.
pub const BUCKETS: usize = 1024;

/// One row's value and its time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub seconds: f64,
    pub value: f64,
    /// The row's place in the file, which orders points of equal times.
    row: u64,
}

/// Consecutive rows: their lowest and highest value.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    low: Point,
    high: Point,
    rows: u64,
}

impl Bucket {
    fn of(point: Point) -> Bucket {
        Bucket { low: point, high: point, rows: 1 }
    }

    /// Takes in a later point or bucket; the first of equal values stays.
    fn absorb(&mut self, later: &Bucket) {
        if later.low.value < self.low.value {
            self.low = later.low;
        }
        if later.high.value > self.high.value {
            self.high = later.high;
        }
        self.rows += later.rows;
    }
}

#[derive(Clone, Debug)]
pub struct Series {
    /// Full buckets, then the one filling (if any), in time order.
    buckets: Vec<Bucket>,
    /// Rows per full bucket.
    per_bucket: u64,
    rows: u64,
}

impl Default for Series {
    fn default() -> Self {
        Series { buckets: Vec::new(), per_bucket: 1, rows: 0 }
    }
}

impl Series {
    /// Adds the next row's value.
    pub fn push(&mut self, seconds: f64, value: f64) {
        let point = Point { seconds, value, row: self.rows };
        self.rows += 1;
        let full = self.buckets.last().is_none_or(|last| last.rows >= self.per_bucket);
        if full && self.buckets.len() == BUCKETS {
            self.merge_pairs();
        }
        match self.buckets.last_mut() {
            Some(last) if last.rows < self.per_bucket => last.absorb(&Bucket::of(point)),
            _ => self.buckets.push(Bucket::of(point)),
        }
    }

    /// Halves the buckets: each pair of neighbours becomes one.
    fn merge_pairs(&mut self) {
        let merged: Vec<Bucket> = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut bucket = pair[0];
                if let Some(second) = pair.get(1) {
                    bucket.absorb(second);
                }
                bucket
            })
            .collect();
        self.buckets = merged;
        self.per_bucket *= 2;
    }

    /// Rows added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The points to draw, in time order: every row's while there are at
    /// most [`BUCKETS`] rows, else each bucket's lowest and highest.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        self.buckets.iter().flat_map(|bucket| {
            let (first, second) =
                if bucket.low.row <= bucket.high.row { (bucket.low, bucket.high) } else { (bucket.high, bucket.low) };
            let second = (second.row != first.row).then_some(second);
            core::iter::once(first).chain(second)
        })
    }

    /// Rows a full bucket holds: 1 while every row is a point.
    pub fn rows_per_bucket(&self) -> u64 {
        self.per_bucket
    }

    /// The highest value of any row (0 for none).
    pub fn highest(&self) -> f64 {
        self.buckets.iter().map(|bucket| bucket.high.value).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: impl IntoIterator<Item = f64>) -> Series {
        let mut series = Series::default();
        for (row, value) in values.into_iter().enumerate() {
            series.push(row as f64, value);
        }
        series
    }

    #[test]
    fn up_to_the_bucket_count_every_row_is_a_point() {
        for rows in [0, 1, 2, 100, BUCKETS] {
            let values: Vec<f64> = (0..rows).map(|r| (r * 7 % 13) as f64).collect();
            let points: Vec<(f64, f64)> = series(values.clone()).points().map(|p| (p.seconds, p.value)).collect();
            let expected: Vec<(f64, f64)> = values.iter().enumerate().map(|(r, &v)| (r as f64, v)).collect();
            assert_eq!(points, expected);
        }
    }

    #[test]
    fn a_long_series_keeps_its_extremes_within_the_point_budget() {
        for rows in [BUCKETS + 1, 3 * BUCKETS + 5, 36_000, 100_000] {
            // A slow wave with one spike and one dip.
            let values: Vec<f64> = (0..rows)
                .map(|r| match r {
                    _ if r == rows / 3 => 1e9,
                    _ if r == rows / 2 => -1e9,
                    _ => (r as f64 / 500.0).sin() * 100.0,
                })
                .collect();
            let series = series(values);
            let points: Vec<Point> = series.points().collect();
            assert!(points.len() <= 2 * BUCKETS, "{rows} rows: {} points", points.len());
            assert!(series.buckets.len() > BUCKETS / 2, "{rows} rows: {} buckets", series.buckets.len());
            assert_eq!(series.rows(), rows as u64);
            assert_eq!(series.buckets.iter().map(|b| b.rows).sum::<u64>(), rows as u64);
            assert!(points.iter().any(|p| p.value == 1e9 && p.seconds == (rows / 3) as f64));
            assert!(points.iter().any(|p| p.value == -1e9 && p.seconds == (rows / 2) as f64));
            assert!(points.windows(2).all(|w| w[0].row < w[1].row), "{rows} rows: points out of order");
            assert_eq!(series.highest(), 1e9);
        }
    }

    #[test]
    fn a_flat_bucket_is_one_point() {
        let series = series(core::iter::repeat_n(5.0, 4 * BUCKETS));
        assert_eq!(series.points().count(), series.buckets.len());
    }
}
