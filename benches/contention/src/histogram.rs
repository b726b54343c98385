//! A latency histogram in the style of HdrHistogram: fixed memory, constant
//! time per sample, mergeable across client threads, and percentiles within
//! 1/64 (about 1.6%) of the true value.
//!
//! Values are nanoseconds. Below 128 ns each value has its own bucket; above,
//! every power of two is split into `SUB_BUCKETS` equal buckets. The maximum is
//! kept exactly. A sorted vector of every sample would be exact too, but the
//! in-process runs record millions of samples per second.

/// Linear buckets per power of two (and the size of the exact range below 2 × this).
const SUB_BUCKETS: u64 = 64;
const SUB_BITS: u32 = 6;
/// Highest power of two tracked: 2^40 ns is about 18 minutes; longer samples clamp.
const MAX_EXPONENT: u32 = 40;
const BUCKETS: usize = (2 * SUB_BUCKETS + (MAX_EXPONENT - SUB_BITS) as u64 * SUB_BUCKETS) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    let exponent = (63 - value.leading_zeros()).min(MAX_EXPONENT - 1);
    let shift = exponent - SUB_BITS;
    let sub = ((value >> shift) - SUB_BUCKETS).min(SUB_BUCKETS - 1);
    let index = 2 * SUB_BUCKETS + (exponent - SUB_BITS - 1) as u64 * SUB_BUCKETS + sub;
    debug_assert!((index as usize) < BUCKETS, "bucket {index} for {value}");
    index as usize
}

/// The middle of bucket `index` (its only value below the linear range).
fn value_of(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB_BUCKETS {
        return index;
    }
    let above = index - 2 * SUB_BUCKETS;
    let exponent = above / SUB_BUCKETS + SUB_BITS as u64 + 1;
    let sub = above % SUB_BUCKETS;
    let shift = exponent - SUB_BITS as u64;
    let low = (SUB_BUCKETS + sub) << shift;
    low + (1u64 << shift) / 2
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at `quantile` (0..=1), in nanoseconds; 0 when empty.
    pub fn quantile(&self, quantile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return value_of(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1_000);
        }
        for (q, exact) in [(0.5, 50_000_000f64), (0.99, 99_000_000f64)] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 0.02, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn small_values_are_exact_and_merge_adds() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(5);
        b.record(100);
        a.merge(&b);
        assert_eq!(a.quantile(0.5), 5);
        assert_eq!(a.quantile(1.0), 100);
        assert_eq!(a.count(), 2);
    }

    #[test]
    fn every_bucket_maps_back_into_itself() {
        for v in [
            128u64,
            129,
            1_000,
            65_535,
            1 << 20,
            (1 << 39) + 12_345,
            u64::MAX,
        ] {
            let b = bucket_of(v);
            assert!(b < BUCKETS);
            if v < 1 << MAX_EXPONENT {
                assert_eq!(bucket_of(value_of(b)), b, "value {v}");
            }
        }
    }
}
