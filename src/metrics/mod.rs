//! The broker's metrics, in Prometheus' text format (`/metrics` on the HTTP listener).
//!
//! SKELETON: the metrics helper fills this in (families, instrumentation, scrape-time
//! gauges). The interface the HTTP listener uses: [`Metrics::totals`] and [`render`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::broker::Broker;

/// Every metric of one broker (each in-process broker has its own).
#[derive(Debug, Default)]
pub struct Metrics {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    records_in: AtomicU64,
    records_out: AtomicU64,
}

/// The broker-wide counters the status page samples for its sparklines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_in: u64,
    pub records_out: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::default()
    }

    /// The running totals since start.
    pub fn totals(&self) -> Totals {
        Totals {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
        }
    }
}

/// The OpenMetrics text of every metric of `broker`, read now.
pub fn render(broker: &Broker) -> String {
    let _ = broker;
    String::from("# EOF\n")
}
