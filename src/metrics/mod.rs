//! The broker's metrics, in the OpenMetrics text format (`/metrics` on the HTTP listener;
//! docs/metrics.md lists every metric and the Kafka JMX name it stands for).
//!
//! Two kinds of figures:
//!
//! - **Counted on the request path** ([`Metrics`], one per broker): requests, errors and
//!   latencies per API and version, bytes and records in and out per topic, waiting
//!   produces and fetches, open connections per listener. Each is a relaxed atomic add on
//!   a handle found without allocating: a fixed table per API key and version
//!   ([`requests`]), and per topic a map read under a read lock (written once per topic).
//! - **Read at scrape time** ([`render`] walks the broker, [`collect`]): log size and
//!   segments per partition, under-replicated / offline / under-min-ISR partitions,
//!   controller state, groups and their lag, the cleaner. Nothing is counted for them
//!   on the request path.
//!
//! Plus the log's fsync latency histogram ([`crate::log::stats::FSYNC`]), kept by the log
//! itself in plain atomics (the log knows no metrics crate).
//!
//! The text is written with `prometheus-client` (the Prometheus project's Rust client):
//! its encoder gives the OpenMetrics text (escaping, `_total`, `# EOF`) and it has no
//! global registry, so each broker of a process (tests run several) renders its own.

mod collect;
pub mod requests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::broker::Broker;
pub use requests::{RequestStats, RequestTimer};

/// Every metric of one broker that the request path counts (each in-process broker has
/// its own).
#[derive(Debug)]
pub struct Metrics {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    records_in: AtomicU64,
    records_out: AtomicU64,
    /// Per topic; an entry is made on a topic's first produce or fetch.
    topics: RwLock<HashMap<String, Arc<TopicStats>>>,
    /// Per API key and version.
    requests: requests::RequestTable,
    /// acks=all produces waiting for their fsync and in-sync replicas.
    produce_waiting: AtomicI64,
    /// Fetches waiting for `min_bytes` (long poll).
    fetch_waiting: AtomicI64,
    /// Open connections per listener (the text port's is `text`).
    connections: RwLock<HashMap<String, Arc<ConnectionStats>>>,
    /// ISR changes of partitions this broker leads, committed by the controller.
    isr_shrinks: AtomicU64,
    isr_expands: AtomicU64,
    /// The log cleaner's passes (Kafka's `LogCleaner` / `LogCleanerManager` beans).
    pub(crate) cleaner: CleanerStats,
}

/// What the log cleaner has done since start.
#[derive(Debug, Default)]
pub struct CleanerStats {
    /// Logs cleaned (one pass over one partition's dirty part).
    pub passes: AtomicU64,
    /// Passes that failed (a damaged segment, a full disk).
    pub failures: AtomicU64,
    /// Bytes read while rewriting, and written (Kafka's "MB of log processed").
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub records_read: AtomicU64,
    pub records_kept: AtomicU64,
}

/// The broker-wide counters the status page samples for its sparklines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_in: u64,
    /// Records sent to consumers: counted from batch headers only where the fetch read
    /// them into memory; batches sent from their segment file with `sendfile` are not
    /// decoded, so this undercounts (Kafka has no records-out metric at all).
    pub records_out: u64,
}

/// One topic's counters (Kafka's `BrokerTopicMetrics` with a `topic` tag).
#[derive(Debug, Default)]
pub struct TopicStats {
    /// Record batch bytes appended by clients (duplicates of retried batches excluded).
    pub bytes_in: AtomicU64,
    /// Record batch bytes sent to consumers (follower fetches excluded).
    pub bytes_out: AtomicU64,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Produce requests for the topic, and those that failed (per partition).
    pub produce_requests: AtomicU64,
    pub failed_produce_requests: AtomicU64,
    pub fetch_requests: AtomicU64,
    pub failed_fetch_requests: AtomicU64,
    /// Bytes from follower fetches (Kafka's `ReplicationBytesOutPerSec`).
    pub replication_bytes_out: AtomicU64,
}

/// One listener's connections.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub open: AtomicI64,
    pub accepted: AtomicU64,
}

/// Holds one open connection in its listener's gauge; dropping it closes it there.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<ConnectionStats>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds one waiting request in a gauge; dropping it ends the wait.
#[derive(Debug)]
pub struct WaitGuard<'a>(&'a AtomicI64);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds one waiting request in a gauge, owned (for a task of its own).
#[derive(Debug)]
pub struct OwnedWaitGuard(Arc<Metrics>);

impl Drop for OwnedWaitGuard {
    fn drop(&mut self) {
        self.0.produce_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            topics: RwLock::new(HashMap::new()),
            requests: requests::RequestTable::new(),
            produce_waiting: AtomicI64::new(0),
            fetch_waiting: AtomicI64::new(0),
            connections: RwLock::new(HashMap::new()),
            isr_shrinks: AtomicU64::new(0),
            isr_expands: AtomicU64::new(0),
            cleaner: CleanerStats::default(),
        }
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

    /// The counters of `topic`, made on first use (a read lock and a lookup by `&str`
    /// afterwards: no allocation).
    pub fn topic(&self, topic: &str) -> Arc<TopicStats> {
        // the read guard is dropped before the write lock is taken
        let found = self.topics.read().get(topic).map(Arc::clone);
        found.unwrap_or_else(|| {
            Arc::clone(self.topics.write().entry(topic.to_string()).or_default())
        })
    }

    /// Forgets a deleted topic's counters (as Kafka removes its beans).
    pub fn remove_topic(&self, topic: &str) {
        self.topics.write().remove(topic);
    }

    /// Counts records appended by a client: `bytes` of record batches holding `records`.
    pub fn record_in(&self, topic: &TopicStats, bytes: u64, records: u64) {
        topic.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        topic.records_in.fetch_add(records, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.records_in.fetch_add(records, Ordering::Relaxed);
    }

    /// Counts record batches sent to a consumer (`records`: those known, see
    /// [`Totals::records_out`]).
    pub fn record_out(&self, topic: &TopicStats, bytes: u64, records: u64) {
        topic.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        topic.records_out.fetch_add(records, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.records_out.fetch_add(records, Ordering::Relaxed);
    }

    /// The request counters (per API and version).
    pub fn requests(&self) -> &requests::RequestTable {
        &self.requests
    }

    /// Counts a connection opened on `listener` until the guard is dropped.
    pub fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        // the read guard is dropped before the write lock is taken
        let found = self.connections.read().get(listener).map(Arc::clone);
        let stats = found.unwrap_or_else(|| {
            Arc::clone(
                self.connections
                    .write()
                    .entry(listener.to_string())
                    .or_default(),
            )
        });
        stats.open.fetch_add(1, Ordering::Relaxed);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(stats)
    }

    /// Counts an ISR change the controller committed for a partition this broker leads,
    /// from `before` in-sync replicas to `after` (Kafka's IsrShrinksPerSec /
    /// IsrExpandsPerSec).
    pub fn isr_changed(&self, before: usize, after: usize) {
        if after < before {
            self.isr_shrinks.fetch_add(1, Ordering::Relaxed);
        } else if after > before {
            self.isr_expands.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one cleaner pass over a log: `Some` its figures, `None` a pass that failed.
    pub fn cleaned(&self, stats: Option<&crate::log::cleaner::CleanStats>) {
        let c = &self.cleaner;
        let Some(stats) = stats else {
            c.failures.fetch_add(1, Ordering::Relaxed);
            return;
        };
        c.passes.fetch_add(1, Ordering::Relaxed);
        c.bytes_read.fetch_add(stats.bytes_read, Ordering::Relaxed);
        c.bytes_written
            .fetch_add(stats.bytes_written, Ordering::Relaxed);
        c.records_read
            .fetch_add(stats.records_read, Ordering::Relaxed);
        c.records_kept
            .fetch_add(stats.records_kept, Ordering::Relaxed);
    }

    /// Counts a fetch waiting for data until the guard is dropped.
    pub fn fetch_waiting(&self) -> WaitGuard<'_> {
        self.fetch_waiting.fetch_add(1, Ordering::Relaxed);
        WaitGuard(&self.fetch_waiting)
    }

    /// Counts an acks=all produce waiting for durability and replicas until the guard is
    /// dropped.
    pub fn produce_waiting(self: &Arc<Self>) -> OwnedWaitGuard {
        self.produce_waiting.fetch_add(1, Ordering::Relaxed);
        OwnedWaitGuard(Arc::clone(self))
    }
}

/// The OpenMetrics text of every metric of `broker`, read now.
pub fn render(broker: &Broker) -> String {
    collect::render(broker)
}
