//! Starting Rafka on a stopped Apache Kafka KRaft node's `log.dirs`: the node's
//! `__cluster_metadata-0`, written by Kafka's Raft client, is not a log Rafka's quorum can
//! continue (openraft keeps its own entries), so at start it is read
//! ([`crate::migrate::kafka_metadata::read`]), what the new quorum is to adopt is saved in
//! `<data dir>/.rafka/kafka-metadata`, and Kafka's directory is moved aside to
//! `__cluster_metadata-0.kafka`; the quorum then starts with an empty log as usual, and its
//! first active controller proposes the adopted topics
//! ([`super::driver::Controller::adopt`]).
//!
//! Steps, each leaving a state the next start completes after a crash: the saved file is
//! written atomically (fsynced, then renamed), then Kafka's directory is renamed (and the
//! data dir fsynced). A crash before the rename leaves Kafka's directory in place, read
//! again at the next start; after it, the saved file is there.
//!
//! Telling the two apart: Rafka's log store writes [`RAFKA_MARKER`] in its directory (and
//! never a `partition.metadata` there, nor a `.checkpoint` without its `.raft-index`);
//! Kafka's log writes `partition.metadata` naming the metadata topic's id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tracing::{info, warn};

use crate::log::checkpoint;
use crate::log::LogError;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::{MetadataRecord, NO_LEADER};

/// The metadata log's directory in a data dir.
pub const METADATA_DIR: &str = "__cluster_metadata-0";
/// Where Kafka's metadata log goes once read.
pub const KAFKA_METADATA_ASIDE: &str = "__cluster_metadata-0.kafka";
/// The file Rafka's log store keeps in its metadata log directory.
pub const RAFKA_MARKER: &str = "rafka-metadata-log";
/// The saved adoption, under `<data dir>/.rafka/`.
const SAVED: &str = "kafka-metadata";
/// Present once the adopted metadata is in the quorum's image.
const DONE: &str = "kafka-metadata.adopted";
const MAGIC: &[u8; 8] = b"RKAFKAM1";

/// Why a Kafka metadata directory could not be taken over.
#[derive(Debug, thiserror::Error)]
pub enum AdoptionError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("reading Kafka's metadata log: {0}")]
    Read(#[from] crate::migrate::MigrateError),
    #[error("{}: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// True if `<data_dir>/__cluster_metadata-0` was written by Kafka rather than by Rafka.
pub fn is_kafka_metadata_dir(dir: &Path) -> bool {
    if !dir.is_dir() || dir.join(RAFKA_MARKER).exists() {
        return false;
    }
    if dir.join("partition.metadata").exists() {
        return true;
    }
    // a Kafka snapshot has no `.raft-index` beside it (older Rafka dirs have one each);
    // any `.raft-index` or `quorum-purged` at all is Rafka's (a crash while an old
    // snapshot was deleted can leave a checkpoint without its index)
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names
        .iter()
        .any(|n| n.ends_with(".raft-index") || n == "quorum-purged")
    {
        return false;
    }
    names.iter().any(|n| n.ends_with(".checkpoint"))
}

/// Metadata saved from Kafka's log, waiting to be proposed (or already adopted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Kafka's `cluster.id` (meta.properties), if the data dir had one.
    pub cluster_id: Option<String>,
    /// Kafka's records in log order (empty on a broker-only node: nothing to propose).
    pub records: Vec<MetadataRecord>,
    /// The Kafka log's end offset read.
    pub end_offset: i64,
    /// The adoption is in the quorum's image.
    pub done: bool,
}

fn rafka_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(".rafka")
}

/// Moves a Kafka `__cluster_metadata-0` aside, saving its metadata first when `adopt` (a
/// voter; a broker-only node's copy is only moved). Nothing when the directory is Rafka's
/// or absent. Answers whether a Kafka directory was converted.
pub fn convert(data_dir: &Path, adopt: bool) -> Result<bool, AdoptionError> {
    let dir = data_dir.join(METADATA_DIR);
    if !is_kafka_metadata_dir(&dir) {
        return Ok(false);
    }
    // a Kafka still running on the dir holds its lock: its log is not moved from under it
    crate::log::manager::ensure_not_in_use(data_dir)?;
    let aside = data_dir.join(KAFKA_METADATA_ASIDE);
    if aside.exists() {
        return Err(AdoptionError::Damaged {
            path: aside,
            reason: format!(
                "a Kafka metadata log was already moved aside here, and {} is Kafka's again",
                dir.display()
            ),
        });
    }
    let cluster_id = checkpoint::read_meta_properties(&data_dir.join("meta.properties"))
        .ok()
        .flatten()
        .map(|m| m.cluster_id);
    let (records, end_offset) = if adopt {
        let read = crate::migrate::kafka_metadata::read(&dir)?;
        info!(dir = %dir.display(), records = read.records.len(), end_offset = read.end_offset,
            snapshot = ?read.snapshot_id, unknown_types = ?read.unknown_types,
            "read Kafka's metadata log to adopt");
        (read.records, read.end_offset)
    } else {
        (Vec::new(), 0)
    };
    let saved = Saved {
        cluster_id,
        records,
        end_offset,
        done: false,
    };
    let rafka = rafka_dir(data_dir);
    std::fs::create_dir_all(&rafka).map_err(io(&rafka))?;
    // a done marker of an earlier adoption does not hold for this one
    match std::fs::remove_file(rafka.join(DONE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&rafka)(e).into()),
    }
    checkpoint::write_atomic(&rafka.join(SAVED), &encode(&saved))?;
    std::fs::rename(&dir, &aside).map_err(io(&dir))?;
    checkpoint::sync_dir(data_dir)?;
    info!(from = %dir.display(), to = %aside.display(), cluster_id = ?saved.cluster_id,
        adopt, "moved Kafka's metadata log aside");
    Ok(true)
}

/// The saved Kafka metadata of this data dir, if any.
pub fn load(data_dir: &Path) -> Result<Option<Saved>, AdoptionError> {
    let rafka = rafka_dir(data_dir);
    let path = rafka.join(SAVED);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e).into()),
    };
    let mut saved = decode(&bytes).map_err(|reason| AdoptionError::Damaged {
        path: path.clone(),
        reason,
    })?;
    saved.done = rafka.join(DONE).exists();
    Ok(Some(saved))
}

/// Notes that the saved metadata is in the quorum's image: no proposal from this node
/// again.
pub fn mark_done(data_dir: &Path) -> Result<(), AdoptionError> {
    checkpoint::write_atomic(&rafka_dir(data_dir).join(DONE), b"adopted\n")?;
    Ok(())
}

fn encode(s: &Saved) -> Bytes {
    let mut out = BytesMut::new();
    out.put_slice(MAGIC);
    let id = s.cluster_id.as_deref().unwrap_or("");
    out.put_u8(u8::from(s.cluster_id.is_some()));
    out.put_u32(id.len() as u32);
    out.put_slice(id.as_bytes());
    out.put_i64(s.end_offset);
    out.put_u32(s.records.len() as u32);
    for r in &s.records {
        let b = r.encode();
        out.put_u32(b.len() as u32);
        out.put_slice(&b);
    }
    let crc = crc32c::crc32c(&out);
    out.put_u32(crc);
    out.freeze()
}

fn decode(bytes: &[u8]) -> Result<Saved, String> {
    let body_len = bytes.len().checked_sub(4).ok_or("too short")?;
    let (body, crc) = bytes.split_at(body_len);
    let mut b = body;
    let mut c = crc;
    if c.get_u32() != crc32c::crc32c(body) {
        return Err("checksum mismatch".into());
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        let (head, rest) = b.split_at_checked(n).ok_or("truncated")?;
        *b = rest;
        Ok(head)
    }
    fn u32_of(b: &mut &[u8]) -> Result<usize, String> {
        let mut x = take(b, 4)?;
        Ok(x.get_u32() as usize)
    }
    if take(&mut b, MAGIC.len())? != MAGIC {
        return Err("not a saved Kafka metadata file".into());
    }
    let has_id = take(&mut b, 1)? != [0];
    let len = u32_of(&mut b)?;
    let id = String::from_utf8(take(&mut b, len)?.to_vec()).map_err(|_| "cluster id not UTF-8")?;
    let end_offset = take(&mut b, 8)?.get_i64();
    let count = u32_of(&mut b)?;
    let mut records = Vec::with_capacity(count.min(1 << 16));
    for i in 0..count {
        let len = u32_of(&mut b)?;
        let r =
            MetadataRecord::decode(take(&mut b, len)?).map_err(|e| format!("record {i}: {e}"))?;
        records.push(r);
    }
    if !b.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(Saved {
        cluster_id: has_id.then_some(id),
        records,
        end_offset,
        done: false,
    })
}

/// What a proposal of adopted records holds, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdoptionSummary {
    pub topics: usize,
    pub partitions: usize,
    pub configs: usize,
    pub features: usize,
    pub producer_ids: bool,
    /// Kafka's records not adopted, by type name (brokers register again).
    pub skipped: BTreeMap<&'static str, u64>,
}

/// The records the quorum adopts from Kafka's: the image they build, as topics and their
/// partitions, configs, finalized features and the producer id block (Kafka's snapshot
/// order). Brokers' registrations and fencing are left out: the brokers register again.
/// Partitions keep Kafka's replicas, ISR, leader and partition epochs, but no leader: the
/// first of its ISR to be unfenced leads it, in a new leader epoch.
pub fn adoption_records(kafka: &[MetadataRecord]) -> (Vec<MetadataRecord>, AdoptionSummary) {
    let mut summary = AdoptionSummary::default();
    let mut image = MetadataImage::new();
    for r in kafka {
        image.apply(r);
        let kept = matches!(
            r,
            MetadataRecord::TopicRecord(_)
                | MetadataRecord::PartitionRecord(_)
                | MetadataRecord::PartitionChangeRecord(_)
                | MetadataRecord::RemoveTopicRecord(_)
                | MetadataRecord::ConfigRecord(_)
                | MetadataRecord::FeatureLevelRecord(_)
                | MetadataRecord::ProducerIdsRecord(_)
                | MetadataRecord::NoOpRecord(_)
        );
        if !kept {
            *summary.skipped.entry(r.name()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for r in image.snapshot_records() {
        match r {
            MetadataRecord::TopicRecord(_) => summary.topics += 1,
            MetadataRecord::PartitionRecord(mut p) => {
                summary.partitions += 1;
                p.leader = NO_LEADER;
                // KIP-966: a Kafka 4 cluster stopped cleanly leaves its partitions with an
                // empty ISR and the last members in the eligible leader replicas, which
                // Kafka's controller elects from; Rafka has no ELR, and they are what its
                // ISR would have kept
                let elr = p.eligible_leader_replicas.take().unwrap_or_default();
                let last_known = p.last_known_elr.take().unwrap_or_default();
                if p.isr.is_empty() {
                    if elr.is_empty() {
                        warn!(topic_id = %p.topic_id, partition = p.partition_id,
                            ?last_known, "adopted partition with neither ISR nor eligible \
                            leader replicas: it gets a leader only by unclean election");
                    }
                    p.isr = p
                        .replicas
                        .iter()
                        .copied()
                        .filter(|r| elr.contains(r))
                        .collect();
                }
                out.push(p.into());
                continue;
            }
            MetadataRecord::ConfigRecord(_) => summary.configs += 1,
            MetadataRecord::FeatureLevelRecord(_) => summary.features += 1,
            MetadataRecord::ProducerIdsRecord(_) => summary.producer_ids = true,
            _ => continue,
        }
        out.push(r);
    }
    (out, summary)
}

/// Logs a failure to mark the adoption done (it is retried; a second proposal is refused
/// by the image check anyway).
pub fn warn_not_marked(data_dir: &Path, e: &AdoptionError) {
    warn!(dir = %data_dir.display(), cause = %e, "could not mark the Kafka metadata adopted");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::{PartitionRecord, RegisterBrokerRecord, TopicRecord};

    fn kafka_records() -> Vec<MetadataRecord> {
        let topic_id = uuid::Uuid::from_u128(0x1234);
        vec![
            RegisterBrokerRecord {
                broker_id: 2,
                is_migrating_zk_broker: false,
                incarnation_id: uuid::Uuid::from_u128(9),
                broker_epoch: 7,
                end_points: vec![],
                features: vec![],
                rack: None,
                fenced: false,
                in_controlled_shutdown: false,
                log_dirs: vec![],
            }
            .into(),
            TopicRecord {
                name: "t".into(),
                topic_id,
            }
            .into(),
            PartitionRecord {
                partition_id: 0,
                topic_id,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 2,
                leader_recovery_state: 0,
                leader_epoch: 4,
                partition_epoch: 6,
                directories: vec![],
                eligible_leader_replicas: None,
                last_known_elr: None,
            }
            .into(),
        ]
    }

    #[test]
    fn a_partition_left_with_only_eligible_leader_replicas_gets_them_as_its_isr() {
        use crate::metadata::records::PartitionChangeRecord;
        let mut kafka = kafka_records();
        // Kafka 4's controlled shutdown of the last brokers (DumpLogSegments of a real one)
        let mut change = PartitionChangeRecord::new(uuid::Uuid::from_u128(0x1234), 0);
        change.isr = Some(vec![]);
        change.leader = NO_LEADER;
        change.eligible_leader_replicas = Some(vec![3, 1]);
        change.last_known_elr = Some(vec![3, 1]);
        kafka.push(change.into());
        let (records, _) = adoption_records(&kafka);
        match &records[1] {
            MetadataRecord::PartitionRecord(p) => {
                assert_eq!(p.isr, vec![1, 3], "in the replicas' order");
                assert_eq!(p.leader, NO_LEADER);
                assert_eq!(p.eligible_leader_replicas, None);
                assert_eq!(p.last_known_elr, None);
                assert_eq!(p.leader_epoch, 5, "Kafka's bump for the leader change kept");
            }
            other => panic!("not a partition record: {other:?}"),
        }
    }

    #[test]
    fn saved_metadata_reads_back_and_a_flipped_byte_is_refused() {
        let saved = Saved {
            cluster_id: Some("MkU3OEVBNTcwNTJENDM2Qg".into()),
            records: kafka_records(),
            end_offset: 42,
            done: false,
        };
        let bytes = encode(&saved);
        assert_eq!(decode(&bytes), Ok(saved));
        let mut bad = bytes.to_vec();
        bad[20] ^= 1;
        assert_eq!(decode(&bad), Err("checksum mismatch".to_string()));
    }

    #[test]
    fn adoption_keeps_topics_and_epochs_without_brokers_or_leaders() {
        let (records, summary) = adoption_records(&kafka_records());
        assert_eq!(summary.topics, 1);
        assert_eq!(summary.partitions, 1);
        assert_eq!(summary.skipped.get("RegisterBrokerRecord"), Some(&1));
        assert_eq!(records.len(), 2);
        match &records[1] {
            MetadataRecord::PartitionRecord(p) => {
                assert_eq!(p.leader, NO_LEADER);
                assert_eq!((p.leader_epoch, p.partition_epoch), (4, 6));
                assert_eq!(p.isr, vec![1, 2, 3]);
            }
            other => panic!("not a partition record: {other:?}"),
        }
    }

    /// A data dir as a Kafka node leaves it: meta.properties and a metadata log with
    /// Kafka's partition.metadata.
    fn kafka_data_dir(data: &Path) {
        use crate::log::partition_log::LoadOptions;
        use crate::log::{LogConfig, PartitionLog, TopicPartition};
        use crate::metadata::metadata_log::{append_batch, CLUSTER_METADATA_TOPIC_ID};
        checkpoint::write_meta_properties(
            &data.join("meta.properties"),
            &checkpoint::MetaProperties {
                node_id: 1,
                cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
                directory_id: None,
            },
        )
        .expect("setup");
        let opts = LoadOptions {
            clean_shutdown: false,
            recovery_point: 0,
            log_start_offset: 0,
        };
        let (log, _) = PartitionLog::open(
            data.join(METADATA_DIR),
            TopicPartition::new(crate::metadata::metadata_log::CLUSTER_METADATA_TOPIC, 0),
            LogConfig::default(),
            Some(CLUSTER_METADATA_TOPIC_ID),
            opts,
        )
        .expect("setup");
        append_batch(&log, &kafka_records(), 1, 0).expect("setup");
    }

    #[test]
    fn a_voter_saves_kafka_metadata_then_moves_it_aside_and_a_crash_in_between_is_redone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        kafka_data_dir(data);
        // a crash after an earlier start saved something and before it renamed: redone
        std::fs::create_dir_all(data.join(".rafka")).expect("setup");
        std::fs::write(data.join(".rafka").join(SAVED), b"torn").expect("setup");
        std::fs::write(data.join(".rafka").join(DONE), b"old").expect("setup");
        assert!(convert(data, true).expect("converts"));
        assert!(!data.join(METADATA_DIR).exists());
        assert!(data
            .join(KAFKA_METADATA_ASIDE)
            .join("partition.metadata")
            .exists());
        let saved = load(data).expect("reads").expect("saved");
        assert_eq!(saved.records, kafka_records());
        assert_eq!(saved.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qg"));
        assert!(!saved.done, "a done marker of before does not count");
        // the next start: nothing to convert, the saved metadata stays until adopted
        assert!(!convert(data, true).expect("nothing to do"));
        mark_done(data).expect("marks");
        assert!(load(data).expect("reads").expect("saved").done);
    }

    #[test]
    fn a_broker_only_node_moves_its_copy_aside_without_adopting_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        kafka_data_dir(data);
        assert!(convert(data, false).expect("converts"));
        assert!(data.join(KAFKA_METADATA_ASIDE).is_dir());
        let saved = load(data).expect("reads").expect("saved");
        assert!(saved.records.is_empty());
        assert_eq!(saved.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qg"));
    }

    #[test]
    fn detection_tells_kafka_from_rafka_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = dir.path().join(METADATA_DIR);
        assert!(!is_kafka_metadata_dir(&m), "absent");
        std::fs::create_dir_all(&m).expect("mkdir");
        assert!(!is_kafka_metadata_dir(&m), "empty");
        std::fs::write(m.join("00000000000000000010-0000000001.checkpoint"), b"").expect("w");
        std::fs::write(m.join("00000000000000000010-0000000001.raft-index"), b"").expect("w");
        assert!(!is_kafka_metadata_dir(&m), "an older Rafka dir");
        // a checkpoint left without its index (a crash while an old snapshot was deleted)
        // beside Rafka's own is still Rafka's
        std::fs::write(m.join("00000000000000000020-0000000001.checkpoint"), b"").expect("w");
        assert!(
            !is_kafka_metadata_dir(&m),
            "a Rafka dir with a checkpoint left alone"
        );
        let k = dir.path().join("kafka");
        std::fs::create_dir_all(&k).expect("mkdir");
        std::fs::write(k.join("00000000000000000020-0000000001.checkpoint"), b"").expect("w");
        assert!(is_kafka_metadata_dir(&k), "a Kafka snapshot");
        std::fs::write(k.join(RAFKA_MARKER), b"").expect("w");
        assert!(!is_kafka_metadata_dir(&k), "marked");
        std::fs::remove_file(m.join("00000000000000000020-0000000001.checkpoint")).expect("rm");
        std::fs::write(m.join("partition.metadata"), b"version: 0\n").expect("w");
        assert!(is_kafka_metadata_dir(&m), "Kafka's partition.metadata");
    }
}
