//! Kafka's KRaft metadata log (`__cluster_metadata-0`), read without writing anything.
//!
//! The directory holds log segments (`<base offset:020>.log`, record batches whose values
//! are framed [`MetadataRecord`]s, control batches for Raft's own records) and snapshots
//! (`<end offset:020>-<epoch:010>.checkpoint`: a header control batch, optional voters
//! and kraft-version control batches, data batches of records from offset 0, a footer
//! control batch). Kafka writes a snapshot whole (`.checkpoint.part`, then a rename), so a
//! `.checkpoint` without its footer is damaged and an older one is used.
//!
//! Unlike [`crate::log::PartitionLog::open`], this never recovers, truncates or creates a
//! file: a torn or corrupt tail ends the read where Kafka's recovery would truncate it,
//! and the files stay as they were, so Kafka can start on the directory again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::MigrateError;
use crate::log::batch::{check_integrity, BatchIter};
use crate::log::records::{decode_batch, decode_control_batch};
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;

/// `ControlRecordType.SNAPSHOT_FOOTER`.
const SNAPSHOT_FOOTER: i16 = 4;
const CHECKPOINT_SUFFIX: &str = ".checkpoint";
const LOG_SUFFIX: &str = ".log";

/// What a metadata directory holds, read.
#[derive(Clone, Debug)]
pub struct KafkaMetadata {
    /// The latest snapshot's records, then the log's records after it, in order; control
    /// records left out.
    pub records: Vec<MetadataRecord>,
    /// Every record applied in order.
    pub image: MetadataImage,
    /// The offset after the last record read (snapshot or log).
    pub end_offset: i64,
    /// The snapshot used, Kafka's id `<end offset:020>-<epoch:010>`, if any.
    pub snapshot_id: Option<String>,
    /// Record types this Rafka does not know, with how many of each.
    pub unknown_types: BTreeMap<i16, u64>,
}

/// Reads a `__cluster_metadata-0` directory written by Kafka (or by Rafka) without
/// writing anything: the newest readable `.checkpoint`, then the log's batches after its
/// end offset (segments in order, CRC checked, a torn or corrupt tail ends the read as
/// Kafka's recovery would truncate it).
pub fn read(metadata_dir: &Path) -> Result<KafkaMetadata, MigrateError> {
    let (snapshots, segments) = list(metadata_dir)?;
    let mut records = Vec::new();
    let mut end_offset = 0i64;
    let mut snapshot_id = None;
    for (end, epoch, path) in snapshots.iter().rev() {
        match read_snapshot(path) {
            Ok(recs) => {
                records = recs;
                end_offset = *end;
                snapshot_id = Some(format!("{end:020}-{epoch:010}"));
                break;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), cause = %e, "skipping an unreadable metadata snapshot")
            }
        }
    }
    'segments: for (_, path) in &segments {
        let bytes = std::fs::read(path).map_err(MigrateError::io(path))?;
        let mut iter = BatchIter::new(&bytes);
        for (at, h) in iter.by_ref() {
            let whole = h
                .size()
                .and_then(|size| bytes.get(at..at.saturating_add(size)));
            let Some(batch) = whole else {
                stop_at(path, at, "batch cut short");
                break 'segments;
            };
            if let Err(e) = check_integrity(batch) {
                stop_at(path, at, &e.to_string());
                break 'segments;
            }
            if h.next_offset() <= end_offset {
                continue;
            }
            if h.base_offset > end_offset {
                // the log starts past what the snapshot read ends at (Kafka deleted the
                // segments below a newer snapshot, which did not read whole)
                return Err(MigrateError::Gap {
                    file: path.clone(),
                    expected: end_offset,
                    found: h.base_offset,
                });
            }
            if !h.is_control() {
                for r in decode_batch(batch)? {
                    if r.offset < end_offset {
                        continue;
                    }
                    let value = r.value.ok_or_else(|| MigrateError::NoValue {
                        file: path.clone(),
                        offset: r.offset,
                    })?;
                    let record =
                        MetadataRecord::decode(&value).map_err(|source| MigrateError::Decode {
                            file: path.clone(),
                            offset: r.offset,
                            source,
                        })?;
                    records.push(record);
                }
            }
            end_offset = h.next_offset();
        }
        if iter.position() != bytes.len() {
            stop_at(path, iter.position(), "torn batch");
            break;
        }
    }
    let mut image = MetadataImage::new();
    let mut unknown_types = BTreeMap::new();
    for r in &records {
        if let MetadataRecord::Unknown { api_key, .. } = r {
            *unknown_types.entry(*api_key as i16).or_insert(0) += 1;
        }
        image.apply(r);
    }
    Ok(KafkaMetadata {
        records,
        image,
        end_offset,
        snapshot_id,
        unknown_types,
    })
}

fn stop_at(path: &Path, position: usize, why: &str) {
    tracing::warn!(
        file = %path.display(),
        position,
        cause = why,
        "metadata log read stops before a damaged tail (Kafka's recovery would truncate it)"
    );
}

type Snapshots = Vec<(i64, u64, PathBuf)>;
type Segments = Vec<(i64, PathBuf)>;

/// The snapshots (end offset, epoch, path) and segments (base offset, path) of `dir`,
/// each oldest first.
fn list(dir: &Path) -> Result<(Snapshots, Segments), MigrateError> {
    let mut snapshots = Vec::new();
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(MigrateError::io(dir))? {
        let entry = entry.map_err(MigrateError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(CHECKPOINT_SUFFIX) {
            let parsed = stem.split_once('-').and_then(|(end, epoch)| {
                let end: i64 = end.parse().ok()?;
                let epoch: u64 = epoch.parse().ok()?;
                (end >= 0).then_some((end, epoch))
            });
            if let Some((end, epoch)) = parsed {
                snapshots.push((end, epoch, entry.path()));
            }
        } else if let Some(stem) = name.strip_suffix(LOG_SUFFIX) {
            if let (20, Ok(base)) = (stem.len(), stem.parse::<i64>()) {
                segments.push((base, entry.path()));
            }
        }
    }
    snapshots.sort_by_key(|(end, epoch, _)| (*end, *epoch));
    segments.sort_by_key(|(base, _)| *base);
    Ok((snapshots, segments))
}

/// The records of one snapshot file, which must be whole (every batch intact, a footer
/// last).
fn read_snapshot(path: &Path) -> Result<Vec<MetadataRecord>, MigrateError> {
    let bytes = std::fs::read(path).map_err(MigrateError::io(path))?;
    let corrupt = |what: &str| {
        MigrateError::Log(crate::log::LogError::Corrupt(format!(
            "{}: {what}",
            path.display()
        )))
    };
    let mut records = Vec::new();
    let mut footer = false;
    let mut iter = BatchIter::new(&bytes);
    for (at, h) in iter.by_ref() {
        let batch = h
            .size()
            .and_then(|size| bytes.get(at..at.saturating_add(size)))
            .ok_or_else(|| corrupt("batch cut short"))?;
        check_integrity(batch)?;
        if footer {
            return Err(corrupt("batches after the footer"));
        }
        if h.is_control() {
            let recs = decode_control_batch(batch)?;
            let kind = recs
                .first()
                .and_then(|r| r.key.as_deref())
                .and_then(|k| k.get(2..4))
                .and_then(|k| k.try_into().ok())
                .map(i16::from_be_bytes);
            footer = kind == Some(SNAPSHOT_FOOTER);
            continue;
        }
        for r in decode_batch(batch)? {
            let value = r.value.ok_or_else(|| MigrateError::NoValue {
                file: path.to_path_buf(),
                offset: r.offset,
            })?;
            let record = MetadataRecord::decode(&value).map_err(|source| MigrateError::Decode {
                file: path.to_path_buf(),
                offset: r.offset,
                source,
            })?;
            records.push(record);
        }
    }
    if iter.position() != bytes.len() || !footer {
        return Err(corrupt("incomplete snapshot (no footer)"));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch;
    use crate::log::records::{encode_batch, NewRecord};
    use crate::metadata::records::{
        config_resource, ConfigRecord, PartitionRecord, ProducerIdsRecord, TopicRecord,
    };

    fn topic(name: &str, id: u128) -> MetadataRecord {
        TopicRecord {
            name: name.into(),
            topic_id: uuid::Uuid::from_u128(id),
        }
        .into()
    }

    fn partition(id: u128, index: i32) -> MetadataRecord {
        PartitionRecord::new(uuid::Uuid::from_u128(id), index, vec![1]).into()
    }

    fn config(topic: &str, key: &str, value: &str) -> MetadataRecord {
        ConfigRecord {
            resource_type: config_resource::TOPIC,
            resource_name: topic.into(),
            name: key.into(),
            value: Some(value.into()),
        }
        .into()
    }

    /// A data batch of `records` at `base`, as Kafka's controller writes it.
    fn data(records: &[MetadataRecord], base: i64) -> Vec<u8> {
        let new: Vec<NewRecord> = records
            .iter()
            .map(|r| NewRecord::new(None::<Vec<u8>>, r.encode().to_vec()).at(1_700_000_000_000))
            .collect();
        let mut b = encode_batch(&new, 3);
        batch::put(&mut b, batch::BASE_OFFSET, &base.to_be_bytes());
        b
    }

    /// A control batch of one control record of type `kind` at `base`.
    fn control(kind: i16, base: i64) -> Vec<u8> {
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&kind.to_be_bytes());
        let mut b = encode_batch(&[NewRecord::new(Some(key), vec![0, 0, 0])], 3);
        batch::put(&mut b, batch::BASE_OFFSET, &base.to_be_bytes());
        batch::put(
            &mut b,
            batch::ATTRIBUTES,
            &batch::CONTROL_MASK.to_be_bytes(),
        );
        let crc = batch::compute_crc(&b);
        batch::put(&mut b, batch::CRC, &crc.to_be_bytes());
        b
    }

    fn snapshot(records: &[MetadataRecord]) -> Vec<u8> {
        let mut out = control(3, 0);
        out.extend(control(6, 1));
        out.extend(data(records, 2));
        out.extend(control(SNAPSHOT_FOOTER, 2 + records.len() as i64));
        out
    }

    /// Every file of `dir` with its bytes and mtime.
    fn state(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .expect("test setup")
            .map(|e| {
                let p = e.expect("test setup").path();
                let bytes = std::fs::read(&p).expect("test setup");
                let mtime = std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .expect("test setup");
                (p, bytes, mtime)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_log_alone_reads_into_an_image_skipping_control_records_and_the_torn_tail() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut seg0 = control(2, 0); // LeaderChange
        seg0.extend(data(
            &[topic("mig", 7), partition(7, 0), partition(7, 1)],
            1,
        ));
        seg0.extend(data(&[config("mig", "retention.ms", "123456789")], 4));
        let mut seg5 = data(
            &[
                ProducerIdsRecord {
                    broker_id: 1,
                    broker_epoch: 11,
                    next_producer_id: 1000,
                }
                .into(),
                MetadataRecord::Unknown {
                    api_key: 24,
                    version: 0,
                    body: bytes::Bytes::from_static(b"\0"),
                },
            ],
            5,
        );
        let torn = data(&[topic("lost", 9)], 7);
        seg5.extend_from_slice(&torn[..torn.len() - 3]);
        std::fs::write(tmp.path().join(format!("{:020}.log", 0)), &seg0).expect("test setup");
        std::fs::write(tmp.path().join(format!("{:020}.log", 5)), &seg5).expect("test setup");
        std::fs::write(tmp.path().join("quorum-state"), b"{}").expect("test setup");
        let before = state(tmp.path());

        let m = read(tmp.path()).expect("read");
        assert_eq!(m.end_offset, 7);
        assert_eq!(m.snapshot_id, None);
        assert_eq!(m.records.len(), 6);
        assert_eq!(m.unknown_types, BTreeMap::from([(24, 1)]));
        let t = m.image.topic("mig").expect("topic mig");
        assert_eq!(t.id, uuid::Uuid::from_u128(7));
        assert_eq!(t.partitions.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert!(m.image.topic("lost").is_none());
        assert_eq!(
            m.image
                .topic_config("mig")
                .and_then(|c| c.get("retention.ms")),
            Some(&"123456789".to_string())
        );
        assert_eq!(m.image.producer_ids.map(|p| p.next_producer_id), Some(1000));
        assert_eq!(state(tmp.path()), before, "reading wrote nothing");
    }

    #[test]
    fn a_corrupt_batch_ends_the_read_even_with_segments_after_it() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut seg0 = data(&[topic("a", 1)], 0);
        let mut bad = data(&[topic("b", 2)], 1);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        seg0.extend(bad);
        std::fs::write(tmp.path().join(format!("{:020}.log", 0)), &seg0).expect("test setup");
        std::fs::write(
            tmp.path().join(format!("{:020}.log", 2)),
            data(&[topic("c", 3)], 2),
        )
        .expect("test setup");
        let m = read(tmp.path()).expect("read");
        assert_eq!(m.end_offset, 1);
        assert!(m.image.topic("a").is_some());
        assert!(m.image.topic("b").is_none() && m.image.topic("c").is_none());
    }

    #[test]
    fn a_log_that_starts_after_the_snapshot_read_is_a_gap_not_old_metadata() {
        let tmp = tempfile::tempdir().expect("test setup");
        std::fs::write(
            tmp.path()
                .join("00000000000000000002-0000000001.checkpoint"),
            snapshot(&[topic("old", 1)]),
        )
        .expect("test setup");
        // the snapshot the log continues from is damaged: offsets 2..5 are nowhere
        let damaged = snapshot(&[topic("a", 1), topic("b", 2), topic("c", 3)]);
        std::fs::write(
            tmp.path()
                .join("00000000000000000005-0000000002.checkpoint"),
            &damaged[..damaged.len() - 10],
        )
        .expect("test setup");
        std::fs::write(
            tmp.path().join(format!("{:020}.log", 5)),
            data(&[topic("d", 4)], 5),
        )
        .expect("test setup");
        match read(tmp.path()) {
            Err(MigrateError::Gap {
                expected: 2,
                found: 5,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_newest_whole_snapshot_then_the_log_after_it() {
        let tmp = tempfile::tempdir().expect("test setup");
        // an older snapshot, a newer damaged one, the newest whole one
        std::fs::write(
            tmp.path()
                .join("00000000000000000002-0000000001.checkpoint"),
            snapshot(&[topic("old", 1)]),
        )
        .expect("test setup");
        std::fs::write(
            tmp.path()
                .join("00000000000000000003-0000000002.checkpoint"),
            snapshot(&[topic("a", 1), partition(1, 0), topic("b", 2)]),
        )
        .expect("test setup");
        let damaged = snapshot(&[topic("a", 1), partition(1, 0), topic("x", 5), topic("y", 6)]);
        std::fs::write(
            tmp.path()
                .join("00000000000000000004-0000000002.checkpoint"),
            &damaged[..damaged.len() - 10],
        )
        .expect("test setup");
        // the log from offset 1: a batch straddling the snapshot's end, then one after it
        let mut seg = data(&[partition(1, 0), topic("b", 2), partition(2, 0)], 1);
        seg.extend(data(&[config("b", "cleanup.policy", "compact")], 4));
        std::fs::write(tmp.path().join(format!("{:020}.log", 1)), &seg).expect("test setup");
        let before = state(tmp.path());

        let m = read(tmp.path()).expect("read");
        assert_eq!(
            m.snapshot_id.as_deref(),
            Some("00000000000000000003-0000000002")
        );
        assert_eq!(
            m.records,
            vec![
                topic("a", 1),
                partition(1, 0),
                topic("b", 2),
                partition(2, 0),
                config("b", "cleanup.policy", "compact"),
            ]
        );
        assert_eq!(m.end_offset, 5);
        assert!(m.image.topic("x").is_none() && m.image.topic("old").is_none());
        assert_eq!(m.image.topic("b").map(|t| t.partitions.len()), Some(1));
        assert_eq!(state(tmp.path()), before, "reading wrote nothing");
    }

    #[test]
    fn a_missing_dir_is_an_io_error() {
        let tmp = tempfile::tempdir().expect("test setup");
        let err = read(&tmp.path().join("nope")).expect_err("no dir");
        assert!(matches!(err, MigrateError::Io { .. }), "{err}");
    }
}
