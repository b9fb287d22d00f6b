//! Latency figures the log keeps for whoever watches it (the broker's `/metrics`): a
//! histogram of plain atomics, so the log needs neither a metrics crate nor a runtime.
//!
//! [`FSYNC`] counts every fdatasync of a segment file (acks=all's group commit, flushes
//! by `flush.messages` / `flush.ms`, a segment rolled or closed). It is one per process:
//! brokers started in one process (tests) share it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of a [`LatencyHistogram`]'s buckets, in seconds (the last bucket,
/// `+Inf`, is implied): 100 µs to 10 s, about three per decade.
pub const BUCKETS_SECONDS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// The same bounds in nanoseconds, for [`LatencyHistogram::observe`]'s comparisons.
const BUCKETS_NANOS: [u64; 15] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Durations counted into fixed buckets ([`BUCKETS_SECONDS`]), with their count and sum.
/// `observe` is a few relaxed atomic adds: cheap enough for every request.
#[derive(Debug)]
pub struct LatencyHistogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; 16],
    sum_nanos: AtomicU64,
}

/// What a [`LatencyHistogram`] holds at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, count in this bucket)`, `+Inf` last; not cumulative
    /// (prometheus-client's encoder adds them up as the text format wants).
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub const fn new() -> Self {
        LatencyHistogram {
            buckets: [const { AtomicU64::new(0) }; 16],
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKETS_NANOS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(BUCKETS_NANOS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Durations counted so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The buckets, count and sum now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut count = 0u64;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            count += n;
            let bound = BUCKETS_SECONDS.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        HistogramSnapshot {
            buckets,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Every fdatasync of a segment file, timed.
pub static FSYNC: LatencyHistogram = LatencyHistogram::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_past_the_last_is_inf() {
        let h = LatencyHistogram::new();
        h.observe(Duration::from_micros(100)); // on the first bound: first bucket
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60)); // past the last bound: +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets.first(), Some(&(0.0001, 1)));
        let le_5ms = s.buckets.iter().find(|(b, _)| *b == 0.005).map(|(_, c)| *c);
        assert_eq!(le_5ms, Some(1));
        assert_eq!(s.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(s.buckets.iter().map(|(_, c)| c).sum::<u64>(), 3);
        assert!((s.sum_seconds - 60.0031).abs() < 1e-9);
    }
}
