//! Scrape time: reads every figure of a broker into [`Family`]s (the request path's
//! counters, and what is read from the broker now: partitions, groups, controller), then
//! writes them as OpenMetrics text with prometheus-client's encoder.

use std::sync::atomic::Ordering;

use indexmap::IndexMap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::requests::api_name;
use crate::broker::Broker;
use crate::log::stats::{HistogramSnapshot, FSYNC};

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
enum Value {
    Counter(u64),
    Gauge(i64),
    Histogram(HistogramSnapshot),
}

/// One metric family: its name (without `_total` for counters: the encoder adds it), help,
/// and samples.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Labels, Value)>,
}

/// Every family of one scrape, read before encoding, by name in the order first added.
#[derive(Debug, Default)]
struct Scrape {
    families: IndexMap<&'static str, Family>,
}

impl Scrape {
    /// The samples of family `name` (made empty if new).
    fn family(&mut self, name: &'static str, help: &'static str) -> &mut Vec<(Labels, Value)> {
        &mut self
            .families
            .entry(name)
            .or_insert_with(|| Family {
                name,
                help,
                samples: Vec::new(),
            })
            .samples
    }

    fn one(&mut self, name: &'static str, help: &'static str, value: Value) {
        self.family(name, help).push((Vec::new(), value));
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in self.families.values() {
            let Some((_, first)) = f.samples.first() else {
                continue;
            };
            let kind = match first {
                Value::Counter(_) => MetricType::Counter,
                Value::Gauge(_) => MetricType::Gauge,
                Value::Histogram(_) => MetricType::Histogram,
            };
            let mut family = encoder.encode_descriptor(f.name, f.help, None, kind)?;
            for (labels, value) in &f.samples {
                let mut m = family.encode_family(labels)?;
                match value {
                    Value::Counter(v) => m.encode_counter::<NoLabelSet, _, f64>(v, None)?,
                    Value::Gauge(v) => m.encode_gauge(v)?,
                    Value::Histogram(h) => {
                        m.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of every metric of `broker`, read now.
pub fn render(broker: &Broker) -> String {
    let mut scrape = Scrape::default();
    broker_figures(broker, &mut scrape);
    request_figures(broker, &mut scrape);
    partition_figures(broker, &mut scrape);
    group_figures(broker, &mut scrape);
    txn_figures(broker, &mut scrape);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        // writing to a String does not fail; an encoder error leaves a valid empty answer
        return String::from("# EOF\n");
    }
    out
}

fn broker_figures(broker: &Broker, s: &mut Scrape) {
    let m = broker.metrics();
    let t = m.totals();
    s.one(
        "rafka_bytes_in",
        "Record batch bytes appended by clients (BrokerTopicMetrics BytesInPerSec).",
        Value::Counter(t.bytes_in),
    );
    s.one(
        "rafka_bytes_out",
        "Record batch bytes sent to consumers (BrokerTopicMetrics BytesOutPerSec).",
        Value::Counter(t.bytes_out),
    );
    s.one(
        "rafka_records_in",
        "Records appended by clients (BrokerTopicMetrics MessagesInPerSec).",
        Value::Counter(t.records_in),
    );
    s.one(
        "rafka_records_out",
        "Records sent to consumers, from batches read into memory only (no Kafka equivalent).",
        Value::Counter(t.records_out),
    );
    // topics that exist now: a deleted topic's counters go with it (as Kafka's beans do)
    let hosted: std::collections::HashSet<String> = broker
        .topics()
        .into_iter()
        .map(|t| t.name.clone())
        .collect();
    let mut topics: Vec<(String, std::sync::Arc<super::TopicStats>)> = m
        .topics
        .read()
        .iter()
        .filter(|(k, _)| hosted.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), std::sync::Arc::clone(v)))
        .collect();
    topics.sort_by(|a, b| a.0.cmp(&b.0));
    type Field = fn(&super::TopicStats) -> &std::sync::atomic::AtomicU64;
    let per_topic: [(&'static str, &'static str, Field); 9] = [
        (
            "rafka_topic_bytes_in",
            "Record batch bytes appended by clients, per topic.",
            |t| &t.bytes_in,
        ),
        (
            "rafka_topic_bytes_out",
            "Record batch bytes sent to consumers, per topic.",
            |t| &t.bytes_out,
        ),
        (
            "rafka_topic_records_in",
            "Records appended by clients, per topic.",
            |t| &t.records_in,
        ),
        (
            "rafka_topic_records_out",
            "Records sent to consumers (batches read into memory only), per topic.",
            |t| &t.records_out,
        ),
        (
            "rafka_topic_produce_requests",
            "Produce requests per topic (one per topic of a request).",
            |t| &t.produce_requests,
        ),
        (
            "rafka_topic_failed_produce_requests",
            "Produce requests with an error for a partition of the topic.",
            |t| &t.failed_produce_requests,
        ),
        (
            "rafka_topic_fetch_requests",
            "Fetch requests per topic (consumers and followers).",
            |t| &t.fetch_requests,
        ),
        (
            "rafka_topic_failed_fetch_requests",
            "Fetch requests with an error for a partition of the topic.",
            |t| &t.failed_fetch_requests,
        ),
        (
            "rafka_topic_replication_bytes_out",
            "Record batch bytes sent to follower replicas, per topic.",
            |t| &t.replication_bytes_out,
        ),
    ];
    for (name, help, field) in per_topic {
        let f = s.family(name, help);
        for (topic, stats) in &topics {
            f.push((
                vec![("topic", topic.clone())],
                Value::Counter(field(stats).load(Ordering::Relaxed)),
            ));
        }
    }
    s.one(
        "rafka_produce_waiting",
        "acks=all produce requests waiting for their fsync and in-sync replicas (DelayedOperationPurgatory Produce).",
        Value::Gauge(m.produce_waiting.load(Ordering::Relaxed)),
    );
    s.one(
        "rafka_fetch_waiting",
        "Fetch requests waiting for min.bytes (DelayedOperationPurgatory Fetch).",
        Value::Gauge(m.fetch_waiting.load(Ordering::Relaxed)),
    );
    let mut listeners: Vec<(String, i64, u64)> = m
        .connections
        .read()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.open.load(Ordering::Relaxed),
                v.accepted.load(Ordering::Relaxed),
            )
        })
        .collect();
    listeners.sort();
    let f = s.family(
        "rafka_connections",
        "Open client connections per listener (socket-server-metrics connection-count).",
    );
    for (l, open, _) in &listeners {
        f.push((vec![("listener", l.clone())], Value::Gauge(*open)));
    }
    let f = s.family(
        "rafka_connections_accepted",
        "Connections accepted per listener (socket-server-metrics connection-creation-total).",
    );
    for (l, _, accepted) in &listeners {
        f.push((vec![("listener", l.clone())], Value::Counter(*accepted)));
    }
    s.one(
        "rafka_log_fsync_seconds",
        "fdatasync of segment files (LogFlushStats LogFlushRateAndTimeMs); one per process.",
        Value::Histogram(FSYNC.snapshot()),
    );
    // a single node is its own controller; in a cluster a voter knows the quorum's leader
    // (the metadata view's controller id is the lowest live broker, what clients are
    // told, not the active controller); a broker-only node reports none, as in Kafka
    let quorum = broker.cluster().map(|c| c.forward.quorum_view());
    let (active, view) = match quorum {
        None => (Some(1), None),
        Some(None) => (None, None),
        Some(Some(view)) => (
            Some(i64::from(view.leader == Some(broker.node_id()))),
            Some(view),
        ),
    };
    if let Some(active) = active {
        s.one(
            "rafka_controller_active",
            "1 if this node is the active controller (KafkaController ActiveControllerCount); voters only.",
            Value::Gauge(active),
        );
    }
    if let Some(view) = view {
        s.one(
            "rafka_raft_current_leader",
            "The metadata quorum's leader as this voter sees it, -1 if none (raft-metrics current-leader).",
            Value::Gauge(view.leader.map_or(-1, i64::from)),
        );
        s.one(
            "rafka_raft_current_epoch",
            "The metadata quorum's epoch (term) as this voter sees it (raft-metrics current-epoch).",
            Value::Gauge(view.epoch),
        );
    }
}

fn request_figures(broker: &Broker, s: &mut Scrape) {
    let table = broker.metrics().requests();
    // only versions that have been asked for: the others would be rows of zeroes
    let used: Vec<_> = table
        .iter()
        .filter(|(_, _, st)| st.requests.load(Ordering::Relaxed) > 0 || st.latency.count() > 0)
        .map(|(api, v, st)| (vec![("api", api_name(api)), ("version", v.to_string())], st))
        .collect();
    let f = s.family(
        "rafka_requests",
        "Requests received, per API and version (RequestMetrics RequestsPerSec).",
    );
    for (labels, st) in &used {
        f.push((
            labels.clone(),
            Value::Counter(st.requests.load(Ordering::Relaxed)),
        ));
    }
    let f = s.family(
        "rafka_request_errors",
        "Requests that failed, per API and version (see docs/metrics.md for what counts).",
    );
    for (labels, st) in &used {
        f.push((
            labels.clone(),
            Value::Counter(st.errors.load(Ordering::Relaxed)),
        ));
    }
    let f = s.family(
        "rafka_request_duration_seconds",
        "From the request read to its response sent, per API and version (RequestMetrics TotalTimeMs).",
    );
    for (labels, st) in &used {
        f.push((labels.clone(), Value::Histogram(st.latency.snapshot())));
    }
    let f = s.family(
        "rafka_request_error_codes",
        "Error codes answered by Produce and Fetch, per partition (RequestMetrics ErrorsPerSec).",
    );
    for (api, error, n) in table.error_codes() {
        f.push((
            vec![("api", api_name(api)), ("error", error.to_string())],
            Value::Counter(n),
        ));
    }
}

fn partition_figures(broker: &Broker, s: &mut Scrape) {
    let mut topics = broker.topics();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut size = Vec::new();
    let mut segments = Vec::new();
    let mut end = Vec::new();
    let mut start = Vec::new();
    let (mut leaders, mut urp, mut under_min_isr, mut at_min_isr) = (0i64, 0i64, 0i64, 0i64);
    for t in &topics {
        for p in &t.partitions {
            let labels = vec![
                ("topic", t.name.clone()),
                ("partition", p.index().to_string()),
            ];
            size.push((labels.clone(), Value::Gauge(clamp(p.size_in_bytes()))));
            segments.push((
                labels.clone(),
                Value::Gauge(clamp(p.segment_base_offsets().len() as u64)),
            ));
            end.push((labels.clone(), Value::Gauge(p.log_end_offset())));
            start.push((labels, Value::Gauge(p.log_start_offset())));
            if !p.is_leader() {
                continue;
            }
            // Kafka counts these on the partition's leader only
            leaders += 1;
            let st = p.replica_state();
            if st.isr.len() < st.replicas.len() {
                urp += 1;
            }
            let min_isr = usize::try_from(p.config().min_insync_replicas).unwrap_or(1);
            if st.isr.len() < min_isr {
                under_min_isr += 1;
            } else if st.isr.len() == min_isr {
                at_min_isr += 1;
            }
        }
    }
    s.family(
        "rafka_log_size_bytes",
        "Bytes of a partition's log on disk (Log Size).",
    )
    .extend(size);
    s.family(
        "rafka_log_segments",
        "Segments of a partition's log (Log NumLogSegments).",
    )
    .extend(segments);
    s.family(
        "rafka_log_end_offset",
        "A partition's log end offset (Log LogEndOffset).",
    )
    .extend(end);
    s.family(
        "rafka_log_start_offset",
        "A partition's log start offset (Log LogStartOffset).",
    )
    .extend(start);
    s.one(
        "rafka_partitions_leader",
        "Partitions this broker leads (ReplicaManager LeaderCount).",
        Value::Gauge(leaders),
    );
    s.one(
        "rafka_partitions_under_replicated",
        "Led partitions with fewer in-sync replicas than replicas (ReplicaManager UnderReplicatedPartitions).",
        Value::Gauge(urp),
    );
    s.one(
        "rafka_partitions_under_min_isr",
        "Led partitions with fewer in-sync replicas than min.insync.replicas (ReplicaManager UnderMinIsrPartitionCount).",
        Value::Gauge(under_min_isr),
    );
    s.one(
        "rafka_partitions_at_min_isr",
        "Led partitions with exactly min.insync.replicas in sync (ReplicaManager AtMinIsrPartitionCount).",
        Value::Gauge(at_min_isr),
    );
    let m = broker.metrics();
    s.one(
        "rafka_isr_shrinks",
        "ISR shrinks committed for partitions this broker leads (ReplicaManager IsrShrinksPerSec).",
        Value::Counter(m.isr_shrinks.load(Ordering::Relaxed)),
    );
    s.one(
        "rafka_isr_expands",
        "ISR expands committed for partitions this broker leads (ReplicaManager IsrExpandsPerSec).",
        Value::Counter(m.isr_expands.load(Ordering::Relaxed)),
    );
    let c = &m.cleaner;
    for (name, help, v) in [
        ("rafka_cleaner_passes", "Logs cleaned, one pass over a partition's dirty part each.", &c.passes),
        ("rafka_cleaner_failures", "Cleaner passes that failed (LogCleanerManager uncleanable-partitions-count counts the logs).", &c.failures),
        ("rafka_cleaner_read_bytes", "Bytes the cleaner read while rewriting segments (LogCleaner's MB of log processed).", &c.bytes_read),
        ("rafka_cleaner_written_bytes", "Bytes the cleaner wrote in cleaned segments.", &c.bytes_written),
        ("rafka_cleaner_read_records", "Records the cleaner read while rewriting segments.", &c.records_read),
        ("rafka_cleaner_kept_records", "Records the cleaner kept (the rest were superseded or aborted).", &c.records_kept),
    ] {
        s.one(name, help, Value::Counter(v.load(Ordering::Relaxed)));
    }
    // offline: in a cluster, partitions of the metadata with no leader; a single node
    // leads all its partitions
    let offline = broker.metadata().topics.as_ref().map_or(0, |topics| {
        topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.leader < 0)
            .count()
    });
    s.one(
        "rafka_partitions_offline",
        "Partitions of the cluster with no leader, as this broker's metadata says (KafkaController OfflinePartitionsCount).",
        Value::Gauge(clamp(offline as u64)),
    );
}

fn group_figures(broker: &Broker, s: &mut Scrape) {
    let Some(groups) = broker.groups_if_started() else {
        return;
    };
    let list = groups.list();
    let mut by_state: std::collections::BTreeMap<&'static str, i64> = Default::default();
    let mut members = Vec::new();
    let mut lag = Vec::new();
    let mut committed = Vec::new();
    for g in &list {
        *by_state.entry(g.state.name()).or_default() += 1;
        members.push((
            vec![("group", g.group_id.clone())],
            Value::Gauge(clamp(g.members.len() as u64)),
        ));
        let Ok(offsets) = groups.fetch(&g.group_id, None) else {
            continue;
        };
        for (topic, partitions) in offsets {
            let hosted = broker.topic(&topic);
            for (index, value) in partitions {
                let Some(value) = value else { continue };
                let labels = vec![
                    ("group", g.group_id.clone()),
                    ("topic", topic.clone()),
                    ("partition", index.to_string()),
                ];
                committed.push((labels.clone(), Value::Gauge(value.offset)));
                // lag where this broker leads the partition: its high watermark less the
                // committed offset (what kafka-consumer-groups.sh shows as LAG)
                if let Some(p) = hosted
                    .as_ref()
                    .and_then(|t| t.partition(index))
                    .filter(|p| p.is_leader())
                {
                    lag.push((
                        labels,
                        Value::Gauge((p.high_watermark() - value.offset).max(0)),
                    ));
                }
            }
        }
    }
    let f = s.family(
        "rafka_groups",
        "Groups this broker coordinates, per state (GroupMetadataManager NumGroups<State>).",
    );
    for (state, n) in by_state {
        f.push((vec![("state", state.to_string())], Value::Gauge(n)));
    }
    s.family(
        "rafka_group_members",
        "Members of a group this broker coordinates.",
    )
    .extend(members);
    s.family(
        "rafka_group_committed_offset",
        "A group's committed offset per partition (GroupMetadataManager NumOffsets, per offset).",
    )
    .extend(committed);
    s.family(
        "rafka_group_lag",
        "High watermark less committed offset, per group and partition this broker leads.",
    )
    .extend(lag);
}

fn txn_figures(broker: &Broker, s: &mut Scrape) {
    let Some(txns) = broker.txns_if_started() else {
        return;
    };
    let mut by_state: std::collections::BTreeMap<&'static str, i64> = Default::default();
    for t in txns.list() {
        *by_state.entry(t.meta.status.name()).or_default() += 1;
    }
    let f = s.family(
        "rafka_transactions",
        "Transactional ids this broker coordinates, per state (kafka-transactions.sh list).",
    );
    for (state, n) in by_state {
        f.push((vec![("state", state.to_string())], Value::Gauge(n)));
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
