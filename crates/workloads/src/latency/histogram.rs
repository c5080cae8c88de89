//! Counts of intervals by length, in fixed memory: every value below 64
//! ticks counted alone, above that 32 buckets per power of two, so that a
//! percentile is read within 1/32 (3%) of its value. The longest interval
//! is kept exactly.

/// Values counted one by one.
const LINEAR: usize = 64;
/// Sub-buckets per power of two past [`LINEAR`] (2^5).
const SUB_BITS: u32 = 5;
const SUBS: usize = 1 << SUB_BITS;
/// The powers of two past [`LINEAR`] (2^6) a `u64` reaches.
const POWERS: usize = 64 - LINEAR.trailing_zeros() as usize;
const BUCKETS: usize = LINEAR + POWERS * SUBS;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: Box::new([0; BUCKETS]), total: 0, max: 0 }
    }
}

impl Histogram {
    /// Counts one interval of `value` ticks.
    #[inline(always)]
    pub fn record(&mut self, value: u64) {
        self.counts[bucket(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Adds another histogram's counts to this one's.
    pub fn merge(&mut self, other: &Histogram) {
        for (count, more) in self.counts.iter_mut().zip(other.counts.iter()) {
            *count += more;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Intervals counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The longest interval.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at or below which a `fraction` (0 to 1) of the intervals
    /// lie: the least value of the bucket that holds it (exact below 64,
    /// within 3% above), the longest interval itself for the last one; 0
    /// if empty.
    pub fn percentile(&self, fraction: f64) -> u64 {
        let rank = ((fraction * self.total as f64).ceil() as u64).clamp(1, self.total.max(1));
        if rank == self.total {
            return self.max;
        }
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank && count > 0 {
                return lower_bound(index).min(self.max);
            }
        }
        0
    }
}

/// The bucket of `value`.
#[inline(always)]
fn bucket(value: u64) -> usize {
    if value < LINEAR as u64 {
        return value as usize;
    }
    let power = 63 - value.leading_zeros(); // at least 6
    let sub = (value >> (power - SUB_BITS)) as usize & (SUBS - 1);
    LINEAR + (power as usize - LINEAR.trailing_zeros() as usize) * SUBS + sub
}

/// The least value of bucket `index`.
fn lower_bound(index: usize) -> u64 {
    if index < LINEAR {
        return index as u64;
    }
    let power = (index - LINEAR) / SUBS + LINEAR.trailing_zeros() as usize;
    let sub = (index - LINEAR) % SUBS;
    ((SUBS + sub) as u64) << (power - SUB_BITS as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for value in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let index = bucket(value);
            assert!(index < BUCKETS, "{value}");
            let low = lower_bound(index);
            assert!(low <= value, "{value} below its bucket's {low}");
            if index + 1 < BUCKETS {
                assert!(value < lower_bound(index + 1), "{value} past its bucket");
            }
            // Within 1/32 of the value.
            assert!(value - low <= value / 32, "{value} in a bucket from {low}");
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        assert_eq!((h.percentile(0.5), h.max(), h.total()), (0, 0, 0));
        // 1..=1000, then one long interval.
        for value in 1..=1000u64 {
            h.record(value);
        }
        h.record(1_000_000);
        assert_eq!(h.total(), 1001);
        assert_eq!(h.max(), 1_000_000);
        let p50 = h.percentile(0.5);
        assert!((485..=501).contains(&p50), "p50 {p50}");
        let p99 = h.percentile(0.99);
        assert!((960..=991).contains(&p99), "p99 {p99}");
        assert_eq!(h.percentile(1.0), 1_000_000);
        assert_eq!(h.percentile(0.999), 992);
        assert_eq!(h.percentile(0.0), 1);
        let mut merged = Histogram::default();
        merged.merge(&h);
        merged.merge(&h);
        assert_eq!((merged.total(), merged.max(), merged.percentile(0.5)), (2002, 1_000_000, p50));
    }
}
