//! Going back: `rafka migrate --to-kafka DIR` makes the log dir of a stopped single Rafka
//! node one that an Apache Kafka 4.x node (KRaft, `process.roles=broker,controller`, the
//! same `node.id`) starts on and serves.
//!
//! Everything but two things is in Kafka's format already (segments, indexes, producer
//! snapshots, `.txnindex`, checkpoints, `partition.metadata`, `meta.properties`,
//! `__consumer_offsets`, `__transaction_state`). The two:
//! - **the metadata.** Kafka reads its topics, topic ids, partitions and configs from its
//!   KRaft log, `__cluster_metadata-0`, which a single Rafka node does not keep. This
//!   writes one: an empty log with one snapshot (`<end offset>-<epoch>.checkpoint`, as a
//!   Kafka follower has after fetching a snapshot), holding `metadata.version`, one
//!   TopicRecord and PartitionRecords per topic (the replicas and ISR this node, no leader,
//!   so Kafka elects this node once it registers, with the next leader epoch), a
//!   ConfigRecord per topic override and the producer id block Rafka reached.
//! - **Rafka's own directory, `.rafka/`** (topic overrides, the producer id block): Kafka
//!   refuses to start on a log dir holding a directory that is not a partition's. It is
//!   moved beside the log dir (`<log dir>.rafka-backup`), with any `__cluster_metadata-0`
//!   found (the Kafka metadata the dir was adopted with, older than Rafka's changes).
//!
//! Nothing is changed until everything was read, and the steps are ordered so that a run
//! cut short can be run again: the backup dir first, the old metadata moved into it, the
//! new metadata written, `.rafka/` moved last (so a second run still finds the overrides).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use uuid::Uuid;

use super::MigrateError;
use crate::broker::topic_config;
use crate::log::{checkpoint, LogError, TopicPartition};
use crate::metadata::records::{
    config_resource, ConfigRecord, FeatureLevelRecord, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, TopicRecord, METADATA_VERSION_FEATURE,
};

/// `metadata.version` 4.0-IV3 (level 25): every Kafka 4.x knows it, and it has
/// PartitionRecord's directories.
pub const METADATA_VERSION: i16 = 25;
/// The other features, at the levels whose behaviour Rafka has: `transaction.version` 2
/// (KIP-890: Rafka's EndTxn bumps the epoch at every commit) and `group.version` 1 (the
/// group coordinator of KIP-848's runtime, which `__consumer_offsets` is written for).
/// Kafka 4.0 and later accept both under `metadata.version` 4.0-IV3.
pub const FEATURES: &[(&str, i16)] = &[("transaction.version", 2), ("group.version", 1)];
/// The metadata log's directory.
pub const METADATA_DIR: &str = "__cluster_metadata-0";
/// Rafka's own state in a log dir.
const RAFKA_DIR: &str = ".rafka";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
    MigrateError::io(path)
}

/// One topic as Kafka's metadata will have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaTopic {
    pub name: String,
    pub id: Uuid,
    /// The last leader epoch of each partition's log (its `leader-epoch-checkpoint`), in
    /// partition order.
    pub leader_epochs: Vec<i32>,
    pub configs: BTreeMap<String, String>,
}

/// What `--to-kafka` wrote, and where Rafka's own files went.
#[derive(Clone, Debug)]
pub struct Handover {
    pub node_id: i32,
    pub cluster_id: String,
    pub topics: Vec<KafkaTopic>,
    pub next_producer_id: i64,
    /// The snapshot written.
    pub snapshot: PathBuf,
    /// Where `.rafka/` (and an older `__cluster_metadata-0`) went.
    pub backup: PathBuf,
}

/// The topics of a stopped single node's log dir, read without writing anything.
pub fn read_topics(dir: &Path) -> Result<Vec<KafkaTopic>, MigrateError> {
    let store = topic_config::Store::new(dir);
    let mut by_topic: BTreeMap<String, BTreeMap<i32, PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if !entry.file_type().map_err(io(dir))?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == METADATA_DIR || name == RAFKA_DIR {
            continue;
        }
        let Some(tp) = TopicPartition::from_dir_name(name) else {
            continue;
        };
        by_topic
            .entry(tp.topic)
            .or_default()
            .insert(tp.partition, entry.path());
    }
    let mut topics = Vec::new();
    for (name, parts) in by_topic {
        let count = parts.len();
        let mut leader_epochs = Vec::with_capacity(count);
        let mut id = None;
        for (i, (p, path)) in parts.iter().enumerate() {
            let want = i32::try_from(i).unwrap_or(i32::MAX);
            if *p != want {
                return Err(MigrateError::PartitionGap {
                    topic: name,
                    missing: want,
                    count,
                });
            }
            if id.is_none() {
                id = checkpoint::read_partition_metadata(&path.join("partition.metadata"))?;
            }
            let epochs = checkpoint::read_leader_epochs(&path.join("leader-epoch-checkpoint"))?;
            leader_epochs.push(epochs.last().map_or(0, |(e, _)| *e));
        }
        // a Rafka dir names every partition's topic id; one that does not gets a new id,
        // which Kafka writes into its partition.metadata as it loads the log
        let id = id.unwrap_or_else(Uuid::new_v4);
        let configs = store.load(&name, id)?;
        topics.push(KafkaTopic {
            name,
            id,
            leader_epochs,
            configs,
        });
    }
    Ok(topics)
}

/// The records of Kafka's metadata for `topics` on node `node_id` (log dir `directory`).
pub fn metadata_records(
    node_id: i32,
    directory: Option<Uuid>,
    topics: &[KafkaTopic],
    next_producer_id: i64,
) -> Vec<MetadataRecord> {
    let mut out = vec![MetadataRecord::from(FeatureLevelRecord {
        name: METADATA_VERSION_FEATURE.into(),
        feature_level: METADATA_VERSION,
    })];
    out.extend(FEATURES.iter().map(|(name, level)| {
        MetadataRecord::from(FeatureLevelRecord {
            name: (*name).into(),
            feature_level: *level,
        })
    }));
    for t in topics {
        out.push(
            TopicRecord {
                name: t.name.clone(),
                topic_id: t.id,
            }
            .into(),
        );
        for (p, epoch) in t.leader_epochs.iter().enumerate() {
            out.push(
                PartitionRecord {
                    partition_id: i32::try_from(p).unwrap_or(i32::MAX),
                    topic_id: t.id,
                    replicas: vec![node_id],
                    isr: vec![node_id],
                    removing_replicas: vec![],
                    adding_replicas: vec![],
                    // no leader: the controller elects the ISR's one broker as it unfences,
                    // in the next epoch, as after a broker's unclean stop
                    leader: -1,
                    leader_recovery_state: 0,
                    leader_epoch: *epoch,
                    partition_epoch: 0,
                    directories: vec![directory.unwrap_or(Uuid::nil())],
                    eligible_leader_replicas: None,
                    last_known_elr: None,
                }
                .into(),
            );
        }
        for (k, v) in &t.configs {
            out.push(
                ConfigRecord {
                    resource_type: config_resource::TOPIC,
                    resource_name: t.name.clone(),
                    name: k.clone(),
                    value: Some(v.clone()),
                }
                .into(),
            );
        }
    }
    out.push(
        ProducerIdsRecord {
            broker_id: node_id,
            broker_epoch: -1,
            next_producer_id,
        }
        .into(),
    );
    out
}

/// The first producer id Rafka has not handed out: its durable block end (`.rafka/
/// producer-ids`), 0 if it never handed one out.
fn next_producer_id(dir: &Path) -> Result<i64, MigrateError> {
    let path = dir.join(RAFKA_DIR).join("producer-ids");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("next.block.start="))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| LogError::BadMetadata {
                path: path.clone(),
                reason: "no next.block.start line".into(),
            })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(&path)(e)),
    }
}

/// True if `metadata_dir` is a Rafka quorum's log (a cluster node's), which this does
/// not hand over: its log store's marker, or (older Rafka) a `.raft-index` beside a
/// snapshot, or `quorum-purged` once it purged.
fn is_rafka_quorum_log(metadata_dir: &Path) -> Result<bool, MigrateError> {
    let entries = match std::fs::read_dir(metadata_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(metadata_dir)(e)),
    };
    for entry in entries {
        let name = entry.map_err(io(metadata_dir))?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".raft-index")
            || name == "quorum-purged"
            || name == crate::controller::adoption::RAFKA_MARKER
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A sibling of `dir` that does not exist yet: `<dir>.rafka-backup`, or with a number.
fn backup_path(dir: &Path) -> PathBuf {
    let base = {
        let mut s = dir.as_os_str().to_owned();
        s.push(".rafka-backup");
        PathBuf::from(s)
    };
    let mut path = base.clone();
    let mut n = 1;
    while path.exists() {
        let mut s = base.as_os_str().to_owned();
        s.push(format!(".{n}"));
        path = PathBuf::from(s);
        n += 1;
    }
    path
}

/// Hands a stopped single node's log dir over to Kafka (see the module doc).
pub fn hand_over(dir: &Path) -> Result<Handover, MigrateError> {
    // `/data/` or `.` would put the backup inside the dir
    let dir = &std::fs::canonicalize(dir).map_err(io(dir))?;
    crate::log::manager::ensure_not_in_use(dir)?;
    let meta = checkpoint::read_meta_properties(&dir.join(checkpoint::META_PROPERTIES_FILE))?
        .ok_or_else(|| MigrateError::NotALogDir(dir.to_path_buf()))?;
    let metadata_dir = dir.join(METADATA_DIR);
    // a cluster node that adopted Kafka's metadata moved Kafka's log aside
    let moved_aside = dir.join(format!("{METADATA_DIR}.kafka"));
    if is_rafka_quorum_log(&metadata_dir)? || moved_aside.exists() {
        return Err(MigrateError::ClusterNode(dir.to_path_buf()));
    }
    // every Rafka node keeps `.rafka/` (its producer id block at least); without it a second
    // run would replace the metadata it wrote with one that has lost the topic overrides
    if !dir.join(RAFKA_DIR).is_dir() {
        return Err(MigrateError::NothingToHandOver(dir.to_path_buf()));
    }
    // everything read before anything changes
    let topics = read_topics(dir)?;
    let next_producer_id = next_producer_id(dir)?;
    let records: Vec<Bytes> =
        metadata_records(meta.node_id, meta.directory_id, &topics, next_producer_id)
            .iter()
            .map(MetadataRecord::encode)
            .collect();

    let backup = backup_path(dir);
    // renames only: a log dir that is a mount point cannot have its files moved beside it,
    // and finding that out halfway would leave Kafka's metadata written but `.rafka/` in
    // the dir
    {
        use std::os::unix::fs::MetadataExt as _;
        let parent = backup.parent().unwrap_or(Path::new("."));
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).map_err(io(p));
        if dev(dir)? != dev(parent)? {
            return Err(MigrateError::MountPoint(dir.to_path_buf()));
        }
    }
    std::fs::create_dir(&backup).map_err(io(&backup))?;
    if metadata_dir.exists() {
        let to = backup.join(METADATA_DIR);
        std::fs::rename(&metadata_dir, &to).map_err(io(&to))?;
    }
    std::fs::create_dir(&metadata_dir).map_err(io(&metadata_dir))?;
    let end_offset = i64::try_from(records.len()).unwrap_or(i64::MAX);
    let snapshot = crate::controller::write_kafka_snapshot(&metadata_dir, end_offset, 0, &records)?;
    checkpoint::sync_dir(&metadata_dir)?;
    let rafka = dir.join(RAFKA_DIR);
    if rafka.exists() {
        let to = backup.join(RAFKA_DIR);
        std::fs::rename(&rafka, &to).map_err(io(&to))?;
    }
    checkpoint::sync_dir(dir)?;
    if let Some(parent) = backup.parent() {
        checkpoint::sync_dir(parent)?;
    }
    Ok(Handover {
        node_id: meta.node_id,
        cluster_id: meta.cluster_id,
        topics,
        next_producer_id,
        snapshot,
        backup,
    })
}
