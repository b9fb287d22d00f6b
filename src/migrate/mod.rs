//! Moving from Apache Kafka to Rafka on the same disk: reading what a stopped Kafka node
//! left in its `log.dirs`, read-only.
//!
//! - [`kafka_metadata`]: Kafka's KRaft metadata log (`__cluster_metadata-0`) read without
//!   writing anything: the newest snapshot, then the log after it, into a
//!   [`crate::metadata::image::MetadataImage`].
//! - [`inventory`]: the log dir's partitions and what of Kafka's metadata is carried over.
//! - [`adopt`]: a single-node Rafka's start on a Kafka log dir carries it over.
//! - [`to_kafka`]: the way back, a stopped single node's log dir handed to Apache Kafka.

use std::path::PathBuf;

pub mod adopt;
pub mod check;
pub mod inventory;
pub mod kafka_metadata;
pub mod to_kafka;

/// Why a Kafka log dir could not be read for migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A batch passed its CRC check but could not be decoded.
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    /// A metadata record at `offset` of `file` has no value (every metadata record has one).
    #[error("{}: metadata record at offset {offset} has no value", file.display())]
    NoValue { file: PathBuf, offset: i64 },
    /// A metadata record at `offset` of `file` is of a known type at a version, or in a
    /// shape, this Rafka does not read.
    #[error("{}: metadata record at offset {offset}: {source}", file.display())]
    Decode {
        file: PathBuf,
        offset: i64,
        #[source]
        source: crate::metadata::records::MetadataRecordError,
    },
    /// The metadata log starts past the end of the newest snapshot that reads whole:
    /// records in between are missing (a damaged newest snapshot).
    #[error(
        "{}: Kafka's metadata log starts at offset {found}, but what could be read ends at {expected} (the newest snapshot is damaged): records in between are missing",
        file.display()
    )]
    Gap {
        file: PathBuf,
        expected: i64,
        found: i64,
    },
    /// `--to-kafka`: the dir has no `meta.properties`.
    #[error("{}: no meta.properties: not a log dir Rafka or Kafka wrote", .0.display())]
    NotALogDir(PathBuf),
    /// `--to-kafka`: no `.rafka/`, so nothing of Rafka's to carry (a second run).
    #[error(
        "{}: no .rafka directory: it was handed over already (see <log dir>.rafka-backup), or Rafka never ran on it",
        .0.display()
    )]
    NothingToHandOver(PathBuf),
    /// `--to-kafka`: a Rafka cluster node's dir (its quorum's log is Rafka's).
    #[error(
        "{}: a node of a Rafka cluster (its metadata quorum's log is Rafka's); only a single node's dir can be handed to Kafka",
        .0.display()
    )]
    ClusterNode(PathBuf),
    /// `--to-kafka`: the log dir is a mount point, so Rafka's files cannot be renamed to
    /// beside it.
    #[error(
        "{}: the log dir is on another file system than its parent (a mount point), so Rafka's files cannot be moved beside it; nothing was changed (mount the volume one level down, or copy the dir, and run this on the dir there)",
        .0.display()
    )]
    MountPoint(PathBuf),
    /// `--to-kafka`: a topic's partitions are not 0..n.
    #[error("topic {topic}: partition {missing} is missing (partitions must be 0..{count})")]
    PartitionGap {
        topic: String,
        missing: i32,
        count: usize,
    },
}

impl MigrateError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
        move |source| MigrateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
