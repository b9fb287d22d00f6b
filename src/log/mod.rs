//! The log engine: Kafka-format partition logs on disk.
//!
//! It owns everything under a log dir and knows neither Tokio nor Kafka request types.
//! The broker calls it to append a producer's record batches, read whole batches from an
//! offset, look up offsets, roll, recover, truncate and delete.
//!
//! - [`batch`]: the v2 batch header.
//! - [`validate`]: validation of appends and header rewrites (Kafka's `LogValidator`).
//! - [`records`]: records inside a batch; decompression; encoding new batches.
//! - [`index`]: `.index` and `.timeindex`.
//! - [`segment`]: one `.log` file and its indexes (Kafka's `LogSegment`).
//! - [`partition_log`]: one partition's segments and offsets (Kafka's `UnifiedLog`).
//! - [`producer_state`]: idempotent producers' epochs and sequences (Kafka's
//!   `ProducerStateManager`), with snapshot files.
//! - [`txn_index`]: `.txnindex`, the aborted transactions of a segment.
//! - [`checkpoint`]: the small text files Kafka keeps beside the logs.
//! - [`manager`]: every partition log of a log dir, checkpoints, clean shutdown.
//! - [`creation`]: creation intents, which make creating partition dirs all or nothing
//!   across a crash.
//! - [`open_files`]: the budget of open segment files, and the process's open-file limit.
//!
//! The on-disk layout is Apache Kafka's, so its `DumpLogSegments` tool reads Rafka's files
//! and Rafka opens partition directories written by Kafka: see `docs/log-format.md`.

pub mod batch;
pub mod checkpoint;
pub mod cleaner;
pub mod creation;
pub mod index;
pub mod manager;
pub mod open_files;
pub mod partition_log;
pub mod producer_state;
pub mod records;
pub mod segment;
pub mod stats;
pub mod txn_index;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ErrorCode;

pub use batch::TimestampType;
pub use cleaner::CleanerConfig;
pub use manager::LogManager;
pub use partition_log::{
    AppendInfo, FetchData, OffsetSpec, PartitionLog, Records, TimestampOffset, FILE_RANGE_MIN,
};
pub use producer_state::TxnMarker;
pub use segment::FileRange;
pub use txn_index::AbortedTxn;

/// Everything that can go wrong in the log engine. [`LogError::error_code`] maps each
/// variant to the Kafka error code a client sees for that partition.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Bytes sent by a client are not well-formed batches (length, CRC, magic > 2):
    /// CORRUPT_MESSAGE (2).
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// A well-formed batch that breaks a rule (offsets, counts, base offset):
    /// INVALID_RECORD (87).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// Records of a well-formed batch refused one by one, as Kafka's `LogValidator` does
    /// (its `RecordValidationException`): so far, records without a key sent to a
    /// compacted topic. INVALID_RECORD (87); the Produce response lists each record in
    /// `record_errors` and this message (Kafka's) in `error_message`. `errors` holds at
    /// most [`records::MAX_RECORD_ERRORS`] of the `total`.
    #[error("{}", record_errors_summary(errors, *total))]
    RecordErrors {
        errors: Vec<RecordError>,
        total: usize,
    },
    /// One batch larger than the topic's `max.message.bytes`: MESSAGE_TOO_LARGE (10).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: usize },
    /// A compressed batch whose records decompress to more than
    /// [`records::MAX_DECOMPRESSED_BYTES`] (a decompression bomb, or a batch too big to
    /// take apart); decompression stopped there: MESSAGE_TOO_LARGE (10), on which a Java
    /// producer splits the batch and retries.
    #[error("{codec} record batch decompresses to more than {max} bytes")]
    DecompressedTooLarge { codec: &'static str, max: u64 },
    /// A zstd batch whose frame asks for a window larger than
    /// [`records::MAX_ZSTD_WINDOW`], memory the decoder would hold: MESSAGE_TOO_LARGE (10).
    #[error("zstd record batch asks for a {window}-byte window, more than {max}")]
    ZstdWindowTooLarge { window: u64, max: u64 },
    /// An append larger than `segment.bytes`: RECORD_LIST_TOO_LARGE (18).
    #[error("append of {size} bytes exceeds segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: u64 },
    /// A batch with magic 0 or 1: UNSUPPORTED_FOR_MESSAGE_FORMAT (43).
    #[error("record batch magic {0} is not supported (only v2)")]
    UnsupportedForMessageFormat(i8),
    /// A fetch or delete offset outside `[log_start_offset, log_end_offset]`:
    /// OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Data on disk failed its checksum or structure check; it is never served:
    /// CORRUPT_MESSAGE (2) on read.
    #[error("corrupt data in {path} at position {position}: {reason}")]
    CorruptOnDisk {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// A file operation failed: KAFKA_STORAGE_ERROR (56).
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that should hold Kafka metadata does not parse: KAFKA_STORAGE_ERROR (56).
    #[error("malformed {path}: {reason}")]
    BadMetadata { path: PathBuf, reason: String },
    /// The log took an I/O error it cannot vouch for having recovered from (a failed fsync,
    /// a write that could not be undone) and refuses appends and flushes from then on, as
    /// Kafka takes a log dir offline: KAFKA_STORAGE_ERROR (56).
    #[error("log offline after an I/O error: {0}")]
    Offline(String),
    /// A producer's batch does not follow its last sequence: OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A producer's epoch is older than the partition's: INVALID_PRODUCER_EPOCH (47).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A producer with an open transaction sent a non-transactional batch:
    /// INVALID_TXN_STATE (48).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A transaction marker from a coordinator older than the one that wrote the
    /// producer's last marker: TRANSACTION_COORDINATOR_FENCED (52).
    #[error("transaction coordinator fenced: {0}")]
    TransactionCoordinatorFenced(String),
    /// The log dir's `meta.properties` names another node than this broker's `node.id`
    /// (a data dir of another broker): fatal at start, as in Kafka.
    #[error(
        "{path} says this log dir belongs to node.id {found}, but this broker is node.id \
         {expected}: point --data-dir at this node's own log dir, or set node.id={found}"
    )]
    NodeMismatch {
        path: PathBuf,
        found: i32,
        expected: i32,
    },
    /// Another process holds the log dir's `.lock` (a running broker, or `rafka log` on
    /// it): KAFKA_STORAGE_ERROR (56).
    #[error("log dir {0} is in use by another process (its .lock is held)")]
    DirInUse(PathBuf),
    /// A caller broke the API's contract (a bug, not a client error):
    /// UNKNOWN_SERVER_ERROR (-1).
    #[error("internal log error: {0}")]
    Internal(String),
}

impl LogError {
    /// The Kafka error code for a partition-level response.
    pub fn code(&self) -> ErrorCode {
        match self {
            LogError::Corrupt(_) | LogError::CorruptOnDisk { .. } => ErrorCode::CorruptMessage,
            LogError::InvalidRecord(_) | LogError::RecordErrors { .. } => ErrorCode::InvalidRecord,
            LogError::MessageTooLarge { .. }
            | LogError::DecompressedTooLarge { .. }
            | LogError::ZstdWindowTooLarge { .. } => ErrorCode::MessageTooLarge,
            LogError::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
            LogError::UnsupportedForMessageFormat(_) => ErrorCode::UnsupportedForMessageFormat,
            LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            LogError::OutOfOrderSequence(_) => ErrorCode::OutOfOrderSequenceNumber,
            LogError::InvalidProducerEpoch(_) => ErrorCode::InvalidProducerEpoch,
            LogError::InvalidTxnState(_) => ErrorCode::InvalidTxnState,
            LogError::TransactionCoordinatorFenced(_) => ErrorCode::TransactionCoordinatorFenced,
            LogError::Io { .. }
            | LogError::BadMetadata { .. }
            | LogError::Offline(_)
            | LogError::NodeMismatch { .. }
            | LogError::DirInUse(_) => ErrorCode::KafkaStorageError,
            LogError::Internal(_) => ErrorCode::UnknownServerError,
        }
    }
}

/// One record a partition refused, by its index in its batch (Kafka's
/// `ProduceResponse.RecordError`; a Produce response's `record_errors` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch (0 for the first record).
    pub batch_index: i32,
    /// Why it was refused.
    pub message: String,
}

impl RecordError {
    /// A record without a key sent to a compacted topic: Kafka's `LogValidator.validateKey`
    /// message, word for word (clients and tests match on it).
    pub fn keyless_in_compacted_topic(batch_index: i32, tp: &TopicPartition) -> Self {
        RecordError {
            batch_index,
            message: format!(
                "Compacted topic cannot accept message without key in topic partition {tp}"
            ),
        }
    }
}

impl fmt::Display for RecordError {
    /// As Kafka's `RecordError.toString`, which its refusal message embeds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RecordError(batchIndex={}, message='{}')",
            self.batch_index, self.message
        )
    }
}

/// Kafka's message for a batch with refused records (`LogValidator.processRecordErrors`):
/// the count, then at most the first three errors as a Java list prints them.
fn record_errors_summary(errors: &[RecordError], total: usize) -> String {
    let shown: Vec<String> = errors.iter().take(3).map(ToString::to_string).collect();
    format!(
        "One or more records have been rejected due to {total} record errors in total, and \
         only showing the first three errors at most: [{}]",
        shown.join(", ")
    )
}

/// Wraps an `io::Error` with the path it concerns.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A topic name and partition number; its directory is `<topic>-<partition>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses a partition directory name (`my-topic-3`); the topic may contain dashes.
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(TopicPartition::new(topic, partition.parse().ok()?))
    }

    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Per-topic log settings, with Kafka's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this (1 GiB).
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is this old (7 days).
    pub segment_ms: i64,
    /// `segment.index.bytes`: roll when the offset index reaches this size (10 MiB).
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes between index entries (4096).
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: largest batch accepted (1048588).
    pub max_message_bytes: usize,
    /// `retention.ms`: delete segments whose newest record is older (7 days; -1 = never).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger (-1 = never).
    pub retention_bytes: i64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `flush.messages`: fsync after this many unflushed messages, whatever the acks
    /// (Kafka's default: never).
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync data older than this (checked by [`PartitionLog::flush_if_due`]).
    pub flush_ms: Option<i64>,
    /// `min.insync.replicas`: an acks=all produce needs this many in-sync replicas (1).
    /// Not the log's concern; carried here as Kafka's `LogConfig` carries it.
    pub min_insync_replicas: i32,
    /// `cleanup.policy`: delete old segments, compact them, or both (delete).
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: compact once the uncleaned share of the log reaches
    /// this (0.5).
    pub min_cleanable_dirty_ratio: Ratio,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long (0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a record stays uncompacted at most about this long, whatever
    /// the dirty ratio (never).
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long compaction keeps a tombstone after it first passes
    /// over it (1 day).
    pub delete_retention_ms: i64,
}

impl LogConfig {
    /// How long the active segment fills before it rolls: `segment.ms`, or, for a
    /// compacted log, `max.compaction.lag.ms` if smaller (records in the active segment
    /// cannot be cleaned), as Kafka's `LogConfig.maxSegmentMs`.
    pub fn max_segment_ms(&self) -> i64 {
        if self.cleanup_policy.compact && self.max_compaction_lag_ms > 0 {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }
}

/// `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    /// Kafka's list form: `delete`, `compact`, `compact,delete` (any order, spaces allowed).
    pub fn parse(value: &str) -> Option<Self> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim) {
            match item {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => return None,
            }
        }
        Some(p)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        })
    }
}

/// A ratio in [0, 1] (Kafka's double), kept in millionths so configs stay `Eq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ratio(u32);

impl Ratio {
    pub const fn from_millionths(m: u32) -> Self {
        Ratio(if m > 1_000_000 { 1_000_000 } else { m })
    }
    /// `0.5`, `1`, `0.01`...: `None` outside [0, 1] or not a number.
    pub fn parse(value: &str) -> Option<Self> {
        let v: f64 = value.trim().parse().ok()?;
        (0.0..=1.0)
            .contains(&v)
            .then(|| Ratio((v * 1_000_000.0).round() as u32))
    }
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }
}

impl fmt::Display for Ratio {
    /// As Java prints a double: `0.5`, `1.0`, `0.01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.as_f64();
        if v.fract() == 0.0 {
            write!(f, "{v:.1}")
        } else {
            write!(f, "{v}")
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: None,
            flush_ms: None,
            min_insync_replicas: 1,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: Ratio::from_millionths(500_000),
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}

/// Milliseconds since the Unix epoch, as Kafka timestamps are.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names() {
        assert_eq!(
            TopicPartition::from_dir_name("my-topic-12"),
            Some(TopicPartition::new("my-topic", 12))
        );
        assert_eq!(TopicPartition::from_dir_name("nodash"), None);
        assert_eq!(TopicPartition::from_dir_name("t-"), None);
        assert_eq!(TopicPartition::from_dir_name("t-x1"), None);
        assert_eq!(TopicPartition::new("a.b_c", 0).dir_name(), "a.b_c-0");
    }
}
