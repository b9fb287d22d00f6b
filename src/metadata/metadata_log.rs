//! Metadata records in a partition log, as Kafka keeps `__cluster_metadata-0`: one record
//! batch per group of records, null keys, each value a framed [`MetadataRecord`], the
//! batch's partition leader epoch the writer's (the Raft leader's) epoch. Control batches
//! (Raft's LeaderChange, snapshot markers, voters) are not metadata records and are skipped
//! on read.
//!
//! This is the bridge between the log engine and the records; who writes when (the Raft
//! log store, the controller) is not decided here.

use crate::log::records::{decode_batch, encode_batch, NewRecord};
use crate::log::{batch, LogError, PartitionLog};

use super::records::{MetadataRecord, MetadataRecordError};

/// The partition Kafka keeps its metadata log in.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";
/// Its fixed topic id (Kafka's `Topic.CLUSTER_METADATA_TOPIC_ID`), as Fetch names it.
pub const CLUSTER_METADATA_TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(1);

/// Why a metadata log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    /// The log engine failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record at `offset` has no value (a metadata record always has one).
    #[error("metadata record at offset {0} has no value")]
    NoValue(i64),
    /// A record at `offset` is not a metadata record this decoder reads.
    #[error("metadata record at offset {offset}: {source}")]
    Decode {
        offset: i64,
        #[source]
        source: MetadataRecordError,
    },
}

/// One metadata record read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRecord {
    pub offset: i64,
    /// The version it was written at.
    pub version: u16,
    pub record: MetadataRecord,
}

/// Appends `records` as one batch stamped with `leader_epoch`, fsynced. Returns the offset
/// of its last record.
pub fn append_batch(
    log: &PartitionLog,
    records: &[MetadataRecord],
    leader_epoch: i32,
    timestamp: i64,
) -> Result<i64, MetadataLogError> {
    let new: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord::new(None::<Vec<u8>>, r.encode().to_vec()).at(timestamp))
        .collect();
    let mut bytes = encode_batch(&new, leader_epoch);
    let info = log.append(&mut bytes, leader_epoch)?;
    log.flush_to(info.last_offset + 1)?;
    Ok(info.last_offset)
}

/// Every metadata record of the log from its start, with its offset, in log order.
pub fn read_all(log: &PartitionLog) -> Result<Vec<LoggedRecord>, MetadataLogError> {
    let mut out = Vec::new();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let data = log.read(offset, 1 << 20, true, end)?;
        if data.records.is_empty() {
            break;
        }
        for (at, h) in batch::BatchIter::new(&data.records) {
            let next = h.next_offset();
            let bytes = h
                .size()
                .and_then(|size| data.records.get(at..at.saturating_add(size)));
            if let (Some(bytes), false) = (bytes, h.is_control()) {
                for r in decode_batch(bytes)? {
                    if r.offset < offset {
                        continue;
                    }
                    let value = r.value.ok_or(MetadataLogError::NoValue(r.offset))?;
                    let (record, version) =
                        MetadataRecord::decode_versioned(&value).map_err(|source| {
                            MetadataLogError::Decode {
                                offset: r.offset,
                                source,
                            }
                        })?;
                    out.push(LoggedRecord {
                        offset: r.offset,
                        version,
                        record,
                    });
                }
            }
            offset = offset.max(next);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{LogConfig, LogManager, TopicPartition};
    use crate::metadata::image::MetadataImage;
    use crate::metadata::sample::{sample_cluster_batches, sample_cluster_records};

    #[test]
    fn sample_cluster_through_a_log_and_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = LogManager::open(dir.path(), LogConfig::default(), 1).expect("open");
        let tp = TopicPartition::new(CLUSTER_METADATA_TOPIC, 0);
        let log = logs
            .get_or_create(&tp, None, logs.default_config())
            .expect("create");
        let batches = sample_cluster_batches();
        for b in &batches {
            append_batch(&log, b, 7, 1_700_000_000_000).expect("append");
        }
        let read = read_all(&log).expect("read");
        let offsets: Vec<i64> = read.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..read.len() as i64).collect::<Vec<_>>());
        let records: Vec<MetadataRecord> = read.into_iter().map(|r| r.record).collect();
        assert_eq!(records, sample_cluster_records());
        assert_eq!(
            MetadataImage::from_records(&records).digest(),
            MetadataImage::from_records(&sample_cluster_records()).digest()
        );
        assert_eq!(log.latest_epoch(), Some(7));
        logs.shutdown().expect("shutdown");
    }
}
