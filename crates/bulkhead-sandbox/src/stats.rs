//! Per-sandbox resource accounting: counters and a fixed-bucket log-linear
//! histogram of callback wall time.
//!
//! Recording a sample is a handful of integer operations on a fixed array:
//! no allocation, no floating point, no locking.

/// Sub-buckets per power of two (2^3 = 8): relative bucket width ≤ 12.5 %.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;

/// Number of buckets: values `0..8` are exact, then 8 sub-buckets for every
/// power of two from 2^3 up to 2^63, so every `u64` has a bucket.
pub const WALL_HIST_BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Log-linear histogram of nanosecond durations (HDR-style, 3 significant
/// bits). Quantiles are reported as the upper bound of the bucket that holds
/// them, clamped to the largest value seen, so they over-estimate by at most
/// 12.5 % and never exceed the true maximum.
#[derive(Clone)]
pub struct WallHistogram {
    counts: [u64; WALL_HIST_BUCKETS],
    count: u64,
    sum: u64,
    max: u64,
}

impl Default for WallHistogram {
    fn default() -> Self {
        WallHistogram { counts: [0; WALL_HIST_BUCKETS], count: 0, sum: 0, max: 0 }
    }
}

impl std::fmt::Debug for WallHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WallHistogram")
            .field("count", &self.count)
            .field("p50_ns", &self.quantile(0.50))
            .field("p99_ns", &self.quantile(0.99))
            .field("max_ns", &self.max)
            .finish()
    }
}

/// Bucket index of `v`.
#[inline]
pub(crate) fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (e - SUB_BITS + 1) as usize * SUB + sub
}

/// Inclusive `(low, high)` value range of bucket `i`.
pub(crate) fn bucket_range(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, i as u64);
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let width = 1u64 << (e - SUB_BITS);
    let low = (SUB as u64 + sub) << (e - SUB_BITS);
    (low, low + (width - 1))
}

impl WallHistogram {
    /// Record one duration. O(1), no allocation.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let b = &mut self.counts[bucket_of(ns)];
        *b = b.saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(ns);
        self.max = self.max.max(ns);
    }

    /// Add every sample of `other` (exact: same buckets, same max).
    pub fn merge(&mut self, other: &WallHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest sample (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean (exact, integer), 0 when empty.
    pub fn mean(&self) -> u64 {
        self.sum.checked_div(self.count).unwrap_or(0)
    }

    /// Sum of all samples (saturating).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The non-empty buckets in increasing order, as (inclusive upper bound
    /// of the bucket in ns, samples in it). For exporting the distribution
    /// (e.g. as a Prometheus histogram).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (bucket_range(i).1, *c))
    }

    /// The `q`-quantile (`0.0..=1.0`), 0 when empty. See the type docs for
    /// the precision.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // Rank of the sample we want, 1-based: ceil(q * count), at least 1.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                return bucket_range(i).1.min(self.max);
            }
        }
        self.max
    }
}

/// Counters for one sandbox.
///
/// `callbacks` counts `bulkhead_on_events` calls; fuel, host calls, log
/// bytes and peak memory count every call. Wall time is *sampled*: about
/// one `bulkhead_on_events` call in [`crate::WALL_SAMPLE_EVERY`] is timed
/// (always the first; the gaps are pseudo-random, 1 to 2 × that many
/// calls), because reading a clock twice per call cost more than the rest
/// of an empty call. The histogram [`SandboxStats::wall`] (and so
/// [`SandboxStats::wall_p50_ns`] / [`SandboxStats::wall_p99_ns`] /
/// [`SandboxStats::wall_max_ns`] / [`SandboxStats::wall_mean_ns`]) holds
/// the timed `bulkhead_on_events` calls only: an estimate of the
/// distribution, and a maximum that a rare slow call can escape (the
/// deadline still holds every call). `fuel_used`, `wall_ns_total` and
/// `wall_ns_max` also include instantiation (start, version, buffer, init),
/// whose guest calls are all timed; `wall_ns_total` / `wall_ns_max` are
/// over the timed calls. `instantiate_ns` is the wall time of the whole
/// instantiation.
#[derive(Clone, Debug, Default)]
pub struct SandboxStats {
    pub callbacks: u64,
    pub fuel_used: u64,
    pub host_calls: u64,
    pub log_bytes: u64,
    pub invalid_records: u64,
    pub peak_memory_bytes: u64,
    /// Wall time of the timed guest calls (all of instantiation's, the
    /// sampled callbacks), ns.
    pub wall_ns_total: u64,
    /// Slowest timed guest call, ns.
    pub wall_ns_max: u64,
    /// Host calls refused because the per-callback budget was spent.
    pub host_calls_refused: u64,
    /// Fuel used by the most recent guest call.
    pub fuel_used_last: u64,
    /// Largest fuel used by one guest call.
    pub fuel_used_max: u64,
    /// Wall time of instantiation (allocation, `start`, version, buffer,
    /// init), ns.
    pub instantiate_ns: u64,
    /// Wall time of the timed (sampled) `bulkhead_on_events` calls.
    pub wall: WallHistogram,
}

impl SandboxStats {
    /// Fold in the counters of another instance of the same strategy (one
    /// the supervisor replaced): counts and totals add up, peaks and maxima
    /// take the larger, `fuel_used_last` becomes `other`'s, and the
    /// histogram holds both instances' callbacks.
    pub fn merge(&mut self, other: &SandboxStats) {
        self.callbacks = self.callbacks.saturating_add(other.callbacks);
        self.fuel_used = self.fuel_used.saturating_add(other.fuel_used);
        self.host_calls = self.host_calls.saturating_add(other.host_calls);
        self.log_bytes = self.log_bytes.saturating_add(other.log_bytes);
        self.invalid_records = self.invalid_records.saturating_add(other.invalid_records);
        self.peak_memory_bytes = self.peak_memory_bytes.max(other.peak_memory_bytes);
        self.wall_ns_total = self.wall_ns_total.saturating_add(other.wall_ns_total);
        self.wall_ns_max = self.wall_ns_max.max(other.wall_ns_max);
        self.host_calls_refused = self.host_calls_refused.saturating_add(other.host_calls_refused);
        self.fuel_used_last = other.fuel_used_last;
        self.fuel_used_max = self.fuel_used_max.max(other.fuel_used_max);
        self.instantiate_ns = self.instantiate_ns.saturating_add(other.instantiate_ns);
        self.wall.merge(&other.wall);
    }

    /// Median wall time of the timed callbacks, ns (bucket upper bound;
    /// ≤ 12.5 % high).
    pub fn wall_p50_ns(&self) -> u64 {
        self.wall.quantile(0.50)
    }
    /// 99th-percentile wall time of the timed callbacks, ns.
    pub fn wall_p99_ns(&self) -> u64 {
        self.wall.quantile(0.99)
    }
    /// Slowest timed callback, ns (exact).
    pub fn wall_max_ns(&self) -> u64 {
        self.wall.max()
    }
    /// Mean wall time of the timed callbacks, ns (exact).
    pub fn wall_mean_ns(&self) -> u64 {
        self.wall.mean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_contiguously() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(7), 7);
        assert_eq!(bucket_of(8), 8);
        assert_eq!(bucket_of(u64::MAX), WALL_HIST_BUCKETS - 1);
        let mut next = 0u64;
        for i in 0..WALL_HIST_BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            assert!(hi >= lo);
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(hi), i);
            // Relative width at most 1/8.
            if lo >= 8 {
                assert!((hi - lo + 1) * 8 <= lo, "bucket {i}: {lo}..={hi}");
            }
            next = hi.wrapping_add(1);
        }
        assert_eq!(next, 0, "last bucket ends at u64::MAX");
    }

    #[test]
    fn quantiles_are_close_and_bounded_by_max() {
        let mut h = WallHistogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((500_000..=500_000 * 9 / 8).contains(&p50), "{p50}");
        assert!((990_000..=1_000_000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.mean(), 500_500);
        assert_eq!(h.count(), 1000);
        let b: Vec<(u64, u64)> = h.buckets().collect();
        assert_eq!(b.iter().map(|(_, c)| c).sum::<u64>(), 1000);
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0));
        // every sample lies at or under its bucket's bound, within 12.5 %
        assert_eq!(b.first().map(|(hi, _)| bucket_of(*hi)), Some(bucket_of(1000)));
        assert_eq!(b.last().map(|(hi, _)| bucket_of(*hi)), Some(bucket_of(1_000_000)));
        let mut one = WallHistogram::default();
        one.record(12_345);
        assert_eq!(one.buckets().collect::<Vec<_>>(), vec![(bucket_range(bucket_of(12_345)).1, 1)]);
        assert_eq!(one.quantile(0.0), 12_345);
        assert_eq!(one.quantile(0.99), 12_345);
    }

    #[test]
    fn merged_histogram_equals_one_fed_every_sample() {
        let (mut a, mut b, mut all) = (WallHistogram::default(), WallHistogram::default(), WallHistogram::default());
        for v in 1..=300u64 {
            let x = v * v * 37 % 100_003;
            if v % 3 == 0 {
                b.record(x)
            } else {
                a.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!((a.count(), a.sum(), a.max()), (all.count(), all.sum(), all.max()));
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(a.quantile(q), all.quantile(q), "q={q}");
        }
        let mut s = SandboxStats {
            callbacks: 2,
            fuel_used: 10,
            host_calls: 3,
            log_bytes: 4,
            peak_memory_bytes: 100,
            ..Default::default()
        };
        let t = SandboxStats {
            callbacks: 1,
            fuel_used: 5,
            host_calls: 1,
            log_bytes: 6,
            peak_memory_bytes: 50,
            fuel_used_last: 7,
            ..Default::default()
        };
        s.merge(&t);
        assert_eq!(
            (s.callbacks, s.fuel_used, s.host_calls, s.log_bytes, s.peak_memory_bytes, s.fuel_used_last),
            (3, 15, 4, 10, 100, 7)
        );
    }
}
