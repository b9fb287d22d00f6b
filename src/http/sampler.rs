//! The status page's throughput history: the broker's running totals
//! ([`crate::metrics::Totals`]) sampled every [`SAMPLE_EVERY`] into a ring of
//! [`SAMPLES`], turned into per-second rates for the sparklines.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::metrics::Totals;

/// How often the totals are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How many samples are kept: five minutes at [`SAMPLE_EVERY`].
pub const SAMPLES: usize = 61;

/// The last [`SAMPLES`] totals and when each was read.
#[derive(Debug, Default)]
pub struct Sampler {
    ring: Mutex<VecDeque<(Instant, Totals)>>,
}

/// Per-second rates between consecutive samples, oldest first (one fewer than samples).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    pub bytes_in: Vec<f64>,
    pub bytes_out: Vec<f64>,
    pub records_in: Vec<f64>,
    pub records_out: Vec<f64>,
    /// The seconds the rates span.
    pub span_secs: u64,
}

impl Sampler {
    pub fn new() -> Self {
        Sampler::default()
    }

    pub fn record(&self, totals: Totals) {
        self.record_at(Instant::now(), totals);
    }

    fn record_at(&self, at: Instant, totals: Totals) {
        let mut ring = self.ring.lock();
        if ring.len() >= SAMPLES {
            ring.pop_front();
        }
        ring.push_back((at, totals));
    }

    pub fn rates(&self) -> Rates {
        let ring = self.ring.lock();
        let mut r = Rates::default();
        let mut prev: Option<&(Instant, Totals)> = None;
        for cur in ring.iter() {
            if let Some((t0, a)) = prev {
                let secs = cur.0.saturating_duration_since(*t0).as_secs_f64();
                let b = &cur.1;
                // a counter that went down (it never should) reads as 0
                let rate = |x: u64, y: u64| {
                    if secs > 0.0 {
                        y.saturating_sub(x) as f64 / secs
                    } else {
                        0.0
                    }
                };
                r.bytes_in.push(rate(a.bytes_in, b.bytes_in));
                r.bytes_out.push(rate(a.bytes_out, b.bytes_out));
                r.records_in.push(rate(a.records_in, b.records_in));
                r.records_out.push(rate(a.records_out, b.records_out));
            }
            prev = Some(cur);
        }
        if let (Some(first), Some(last)) = (ring.front(), ring.back()) {
            r.span_secs = last.0.saturating_duration_since(first.0).as_secs();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(n: u64) -> Totals {
        Totals {
            bytes_in: n * 100,
            bytes_out: n * 10,
            records_in: n,
            records_out: 0,
        }
    }

    #[test]
    fn rates_are_per_second_between_samples() {
        let s = Sampler::new();
        let t0 = Instant::now();
        s.record_at(t0, totals(0));
        s.record_at(t0 + Duration::from_secs(5), totals(10));
        s.record_at(t0 + Duration::from_secs(10), totals(10));
        let r = s.rates();
        assert_eq!(r.bytes_in, [200.0, 0.0]);
        assert_eq!(r.bytes_out, [20.0, 0.0]);
        assert_eq!(r.records_in, [2.0, 0.0]);
        assert_eq!(r.records_out, [0.0, 0.0]);
        assert_eq!(r.span_secs, 10);
    }

    #[test]
    fn the_ring_keeps_the_last_samples() {
        let s = Sampler::new();
        let t0 = Instant::now();
        for i in 0..(SAMPLES as u64 + 10) {
            s.record_at(t0 + Duration::from_secs(i), totals(i));
        }
        let r = s.rates();
        assert_eq!(r.records_in.len(), SAMPLES - 1);
        assert_eq!(r.span_secs, SAMPLES as u64 - 1);
    }
}
