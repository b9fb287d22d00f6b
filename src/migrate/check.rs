//! `rafka migrate --check`: a report of what a stopped Kafka node's log dir holds and
//! what Rafka carries over, made without writing anything (no log is opened: every file
//! is read directly, so nothing is recovered, truncated, locked or created).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::inventory::{self, LocalPartition, Plan};
use super::{kafka_metadata, MigrateError};
use crate::group::records::{self as group_records, Entry};
use crate::log::batch::{check_integrity, BatchIter};
use crate::log::checkpoint;
use crate::log::producer_state::{list_snapshots, snapshot_path, ProducerStates};
use crate::log::records::decode_batch;
use crate::topic::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use crate::txn::records::{self as txn_records, TxnStatus};

/// The report and its verdict.
#[derive(Clone, Debug)]
pub struct Report {
    /// Human-readable, one fact a line, ending with the verdict line.
    pub text: String,
    /// What cannot be carried over; empty when everything can.
    pub not_carried: Vec<String>,
}

/// One partition's log as its files say.
#[derive(Clone, Debug, Default)]
struct PartitionFacts {
    log_start: i64,
    log_end: i64,
    /// The newest producer snapshot: its offset, producers, open transactions.
    snapshot: Option<(i64, usize, usize)>,
    damaged_tail: bool,
}

/// Checks `data_dir`, a Kafka node's log dir.
/// `defaults`: the topic defaults of the Rafka that will serve the dir (its configuration's,
/// or Rafka's own), which Kafka's dynamic broker configs are compared with.
pub fn check(
    data_dir: &Path,
    cluster: bool,
    defaults: &crate::log::LogConfig,
) -> Result<Report, MigrateError> {
    let mut out = String::new();
    let mut not_carried = Vec::new();
    let meta = checkpoint::read_meta_properties(&data_dir.join(checkpoint::META_PROPERTIES_FILE))?;
    match &meta {
        Some(m) => {
            let _ = writeln!(
                out,
                "node id: {} (start Rafka with --node-id {})",
                m.node_id, m.node_id
            );
            let _ = writeln!(out, "cluster id: {}", m.cluster_id);
        }
        None => not_carried.push("no meta.properties: not a Kafka log dir".to_string()),
    }
    let clean = data_dir.join(checkpoint::CLEAN_SHUTDOWN_FILE).is_file();
    let _ = writeln!(
        out,
        "clean shutdown: {}",
        if clean {
            "yes (.kafka_cleanshutdown)"
        } else {
            "NO"
        }
    );
    if !clean {
        not_carried.push(
            "Kafka did not shut down cleanly (or is still running): stop it cleanly first".into(),
        );
    }
    let local = inventory::local_partitions(data_dir)?;
    let metadata_dir = inventory::metadata_dir(data_dir);
    let plan = if metadata_dir.is_dir() {
        let metadata = kafka_metadata::read(&metadata_dir)?;
        write_metadata(&mut out, &metadata);
        Some(inventory::plan(metadata, &local, defaults))
    } else {
        let _ = writeln!(
            out,
            "metadata: no __cluster_metadata-0 (topics carry no configs)"
        );
        None
    };
    let starts = offsets_file(&data_dir.join(checkpoint::LOG_START_OFFSET_FILE))?;
    let mut facts = BTreeMap::new();
    for l in &local {
        facts.insert(
            l.tp.clone(),
            partition_facts(l, starts.get(&l.tp).copied())?,
        );
    }
    if let Some(plan) = &plan {
        write_topics(&mut out, plan);
        not_carried.extend(plan.not_carried_as(cluster));
    }
    let _ = writeln!(out, "partitions here: {}", local.len());
    for l in &local {
        let Some(f) = facts.get(&l.tp) else { continue };
        let id = l
            .topic_id
            .map_or_else(|| "none".into(), checkpoint::uuid_to_kafka);
        let snapshot = match f.snapshot {
            Some((at, producers, open)) => {
                if open > 0 {
                    not_carried.push(format!(
                        "partition {}: {open} open transaction(s) in its producer state",
                        l.tp
                    ));
                }
                format!("producer snapshot at {at}: {producers} producer(s), {open} open transaction(s)")
            }
            None => "no producer snapshot".into(),
        };
        let _ = writeln!(
            out,
            "  {}: topic id {id}, log start {}, log end {}{}, {snapshot}",
            l.tp,
            f.log_start,
            f.log_end,
            if f.damaged_tail {
                " (damaged tail: Rafka's recovery truncates it)"
            } else {
                ""
            }
        );
    }
    if let Some(plan) = &plan {
        for tp in &plan.unknown_local {
            let _ = writeln!(
                out,
                "  {tp}: not in Kafka's metadata (served without configs)"
            );
        }
    }
    write_groups(&mut out, &local)?;
    let in_flight = write_transactions(&mut out, &local)?;
    not_carried.extend(in_flight);
    if not_carried.is_empty() {
        let _ = writeln!(out, "verdict: everything can be carried over");
    } else {
        let _ = writeln!(
            out,
            "verdict: {} thing(s) cannot be carried over:",
            not_carried.len()
        );
        for n in &not_carried {
            let _ = writeln!(out, "  - {n}");
        }
    }
    Ok(Report {
        text: out,
        not_carried,
    })
}

fn write_metadata(out: &mut String, m: &kafka_metadata::KafkaMetadata) {
    let _ = writeln!(
        out,
        "metadata: end offset {}, snapshot {}, {} records",
        m.end_offset,
        m.snapshot_id.as_deref().unwrap_or("none"),
        m.records.len()
    );
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &m.records {
        let name = match r {
            crate::metadata::records::MetadataRecord::Unknown { api_key, .. } => {
                inventory::record_type_name(*api_key as i16)
            }
            known => known.name(),
        };
        *by_type.entry(name).or_default() += 1;
    }
    for (name, n) in by_type {
        let _ = writeln!(out, "  {name}: {n}");
    }
    for (kind, n) in &m.unknown_types {
        let why = if inventory::IRRELEVANT_TYPES.contains(kind) {
            "not needed by a single node"
        } else {
            "not carried"
        };
        let _ = writeln!(
            out,
            "  unknown to Rafka: type {kind} ({}) x{n}: {why}",
            inventory::record_type_name(*kind)
        );
    }
}

fn write_topics(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "topics: {}", plan.topics.len());
    for t in &plan.topics {
        let _ = writeln!(
            out,
            "  {}: id {}, partitions here {:?}, not hosted here {:?}",
            t.name,
            checkpoint::uuid_to_kafka(t.id),
            t.local,
            t.not_hosted
        );
        let kv = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !t.carried.is_empty() {
            let _ = writeln!(out, "    configs carried: {}", kv(&t.carried));
        }
        if !t.defaults.is_empty() {
            let _ = writeln!(
                out,
                "    configs at Kafka's default (nothing to carry): {}",
                kv(&t.defaults)
            );
        }
        if !t.unsupported.is_empty() {
            let _ = writeln!(
                out,
                "    configs Rafka does not support: {}",
                kv(&t.unsupported)
            );
        }
        for (k, (v, why)) in &t.invalid {
            let _ = writeln!(out, "    config refused: {k}={v} ({why})");
        }
    }
    for b in &plan.broker_configs {
        let who = if b.resource.is_empty() {
            "cluster default".to_string()
        } else {
            format!("broker {}", b.resource)
        };
        let _ = writeln!(
            out,
            "broker config ({who}): {}={}{}",
            b.key,
            b.value,
            if b.same_as_rafka {
                " (Rafka's default too)"
            } else {
                " (not carried)"
            }
        );
    }
    match plan.producer_id_floor {
        Some(next) => {
            let _ = writeln!(
                out,
                "producer ids: Kafka's next is {next}; Rafka hands out none below it"
            );
        }
        None => {
            let _ = writeln!(out, "producer ids: Kafka handed out no block");
        }
    }
}

/// `topic partition offset` lines of a Kafka offsets checkpoint file (absent: empty).
fn offsets_file(path: &Path) -> Result<BTreeMap<crate::log::TopicPartition, i64>, MigrateError> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    Ok(checkpoint::read_offsets(path)?.into_iter().collect())
}

/// The segments of a partition dir, by base offset.
fn segments(dir: &Path) -> Result<Vec<(i64, std::path::PathBuf)>, MigrateError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(MigrateError::io(dir))? {
        let entry = entry.map_err(MigrateError::io(dir))?;
        let name = entry.file_name();
        if let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .filter(|s| s.len() == 20)
            .and_then(|s| s.parse::<i64>().ok())
        {
            out.push((base, entry.path()));
        }
    }
    out.sort_by_key(|(b, _)| *b);
    Ok(out)
}

/// One intact batch: its header and bytes.
type Batch = (crate::log::batch::BatchHeader, Vec<u8>);
/// A record's key and value.
type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// Every intact batch of a segment, as (header, bytes); true if a damaged tail follows.
fn read_batches(path: &Path) -> Result<(Vec<Batch>, bool), MigrateError> {
    let bytes = std::fs::read(path).map_err(MigrateError::io(path))?;
    let mut out = Vec::new();
    let mut iter = BatchIter::new(&bytes);
    for (at, h) in iter.by_ref() {
        let Some(b) = h.size().and_then(|s| bytes.get(at..at.saturating_add(s))) else {
            return Ok((out, true));
        };
        if check_integrity(b).is_err() {
            return Ok((out, true));
        }
        out.push((h, b.to_vec()));
    }
    let damaged = iter.position() != bytes.len();
    Ok((out, damaged))
}

fn partition_facts(l: &LocalPartition, start: Option<i64>) -> Result<PartitionFacts, MigrateError> {
    let segs = segments(&l.dir)?;
    let first_base = segs.first().map_or(0, |(b, _)| *b);
    let mut f = PartitionFacts {
        log_start: start.unwrap_or(first_base).max(first_base),
        ..PartitionFacts::default()
    };
    if let Some((base, path)) = segs.last() {
        let (batches, damaged) = read_batches(path)?;
        f.log_end = batches.last().map_or(*base, |(h, _)| h.next_offset());
        f.damaged_tail = damaged;
    }
    if let Some(&at) = list_snapshots(&l.dir)?.last() {
        let path = snapshot_path(&l.dir, at);
        let bytes = std::fs::read(&path).map_err(MigrateError::io(&path))?;
        match ProducerStates::decode_snapshot(&bytes, at) {
            Ok(states) => {
                let open = states.ongoing_transactions().count();
                f.snapshot = Some((at, states.len(), open));
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), cause = %e, "unreadable producer snapshot");
            }
        }
    }
    Ok(f)
}

/// Every (key, value) of a partition's intact data batches, in log order.
fn records_of(l: &LocalPartition) -> Result<Vec<KeyValue>, MigrateError> {
    let mut out = Vec::new();
    for (_, path) in segments(&l.dir)? {
        let (batches, damaged) = read_batches(&path)?;
        for (h, b) in batches {
            if h.is_control() {
                continue;
            }
            for r in decode_batch(&b)? {
                if let Some(k) = r.key {
                    out.push((k.to_vec(), r.value.map(|v| v.to_vec())));
                }
            }
        }
        if damaged {
            break;
        }
    }
    Ok(out)
}

fn write_groups(out: &mut String, local: &[LocalPartition]) -> Result<(), MigrateError> {
    let mut groups: BTreeMap<String, BTreeMap<(String, i32), i64>> = BTreeMap::new();
    let mut unread = 0u64;
    for l in local.iter().filter(|l| l.tp.topic == OFFSETS_TOPIC) {
        for (k, v) in records_of(l)? {
            match group_records::decode(&k, v.as_deref()) {
                Some(Entry::Offset {
                    group,
                    topic,
                    partition,
                    value,
                }) => {
                    let g = groups.entry(group).or_default();
                    match value {
                        Some(v) => {
                            g.insert((topic, partition), v.offset);
                        }
                        None => {
                            g.remove(&(topic, partition));
                        }
                    }
                }
                Some(Entry::Consumer { .. }) => {}
                Some(Entry::Group { group, value }) => {
                    if value.is_some() {
                        groups.entry(group).or_default();
                    } else if groups.get(&group).is_some_and(BTreeMap::is_empty) {
                        groups.remove(&group);
                    }
                }
                None => unread += 1,
            }
        }
    }
    let _ = writeln!(out, "consumer groups: {}", groups.len());
    for (g, offsets) in &groups {
        let list: Vec<String> = offsets
            .iter()
            .map(|((t, p), o)| format!("{t}-{p}@{o}"))
            .collect();
        let _ = writeln!(out, "  {g}: {}", list.join(", "));
    }
    if unread > 0 {
        let _ = writeln!(
            out,
            "  {unread} record(s) of __consumer_offsets this Rafka does not read (other key or value versions)"
        );
    }
    Ok(())
}

/// Writes the transactions; returns those in flight, which cannot be carried.
fn write_transactions(
    out: &mut String,
    local: &[LocalPartition],
) -> Result<Vec<String>, MigrateError> {
    let mut txns: BTreeMap<String, TxnStatus> = BTreeMap::new();
    for l in local
        .iter()
        .filter(|l| l.tp.topic == TRANSACTION_STATE_TOPIC)
    {
        for (k, v) in records_of(l)? {
            let Some(id) = txn_records::decode_key(&k) else {
                continue;
            };
            match v.as_deref().map(txn_records::decode_value) {
                Some(Ok(value)) => {
                    txns.insert(id, value.status);
                }
                Some(Err(_)) => {}
                None => {
                    txns.remove(&id);
                }
            }
        }
    }
    let mut in_flight = Vec::new();
    let _ = writeln!(out, "transactional ids: {}", txns.len());
    for (id, status) in &txns {
        let _ = writeln!(out, "  {id}: {}", status.name());
        if matches!(
            status,
            TxnStatus::Ongoing
                | TxnStatus::PrepareCommit
                | TxnStatus::PrepareAbort
                | TxnStatus::PrepareEpochFence
        ) {
            in_flight.push(format!("transaction {id} is {} (in flight)", status.name()));
        }
    }
    Ok(in_flight)
}
