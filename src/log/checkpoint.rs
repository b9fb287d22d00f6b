//! The small text files Kafka keeps beside its logs, in Kafka's exact formats:
//!
//! - offset checkpoints in the log dir root (`recovery-point-offset-checkpoint`,
//!   `log-start-offset-checkpoint`): `0\n<count>\n<topic> <partition> <offset>\n…`
//! - `leader-epoch-checkpoint` in a partition dir: `0\n<count>\n<epoch> <start offset>\n…`
//! - `partition.metadata`: `version: 0\ntopic_id: <base64url uuid>` (no final newline)
//! - `meta.properties` (KRaft, version 1): `node.id`, `cluster.id`, `directory.id`
//! - `.kafka_cleanshutdown`: `{"version":0,"brokerEpoch":N}`
//!
//! Every write goes to a `.tmp` file that is synced, then renamed over the old one.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use uuid::Uuid;

use super::{io_err, LogError, TopicPartition};

pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
pub const META_PROPERTIES_FILE: &str = "meta.properties";
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// Writes `content` to `path` atomically and durably.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), LogError> {
    write_atomic_dir_unsynced(path, content)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// [`write_atomic`] without the directory fsync: the content is durable before the file
/// takes its name (after a crash `path` is whole or absent, never torn), but the name
/// itself is durable only once the caller syncs the parent directory. For callers that
/// write several files in one directory and sync it once.
pub fn write_atomic_dir_unsynced(path: &Path, content: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(content).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// fsync of a directory, so that file creations and renames in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The file's text, `None` if it does not exist; bytes that are not UTF-8 are
/// [`LogError::BadMetadata`] (damage, not an I/O failure).
fn read_optional(path: &Path) -> Result<Option<String>, LogError> {
    match fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| bad(path, "not UTF-8 text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::BadMetadata {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Parses Kafka's `CheckpointFile` framing: version 0, a count, then that many lines.
fn parse_checkpoint<'a>(path: &Path, text: &'a str) -> Result<Vec<Vec<&'a str>>, LogError> {
    let mut lines = text.lines();
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    if lines.next().map(str::trim) != Some("0") {
        return Err(bad(path, "version is not 0"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad(path, "missing entry count"))?;
    let entries: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    if entries.len() != count {
        return Err(bad(
            path,
            format!("expected {count} entries, found {}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Reads `topic partition offset` entries; a missing file is empty.
pub fn read_offsets(path: &Path) -> Result<Vec<(TopicPartition, i64)>, LogError> {
    let Some(text) = read_optional(path)? else {
        return Ok(Vec::new());
    };
    parse_checkpoint(path, &text)?
        .into_iter()
        .map(|f| match f.as_slice() {
            [topic, partition, offset] => Ok((
                TopicPartition::new(
                    *topic,
                    partition.parse().map_err(|_| bad(path, "partition"))?,
                ),
                offset.parse().map_err(|_| bad(path, "offset"))?,
            )),
            _ => Err(bad(path, "entry is not `topic partition offset`")),
        })
        .collect()
}

pub fn write_offsets(path: &Path, entries: &[(TopicPartition, i64)]) -> Result<(), LogError> {
    let mut s = format!("0\n{}\n", entries.len());
    for (tp, offset) in entries {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, offset));
    }
    write_atomic(path, s.as_bytes())
}

/// Reads `epoch start_offset` entries of a leader epoch checkpoint.
pub fn read_leader_epochs(path: &Path) -> Result<Vec<(i32, i64)>, LogError> {
    let Some(text) = read_optional(path)? else {
        return Ok(Vec::new());
    };
    parse_checkpoint(path, &text)?
        .into_iter()
        .map(|f| match f.as_slice() {
            [epoch, offset] => Ok((
                epoch.parse().map_err(|_| bad(path, "epoch"))?,
                offset.parse().map_err(|_| bad(path, "offset"))?,
            )),
            _ => Err(bad(path, "entry is not `epoch offset`")),
        })
        .collect()
}

pub fn write_leader_epochs(path: &Path, entries: &[(i32, i64)]) -> Result<(), LogError> {
    let mut s = format!("0\n{}\n", entries.len());
    for (epoch, offset) in entries {
        s.push_str(&format!("{epoch} {offset}\n"));
    }
    write_atomic(path, s.as_bytes())
}

/// Kafka's textual form of a UUID: base64url of the 16 bytes, no padding (22 chars).
pub fn uuid_to_kafka(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn uuid_from_kafka(s: &str) -> Option<Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Reads a partition's topic id, if the file exists.
pub fn read_partition_metadata(path: &Path) -> Result<Option<Uuid>, LogError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let mut version = None;
    let mut topic_id = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "version" => version = v.trim().parse::<i32>().ok(),
                "topic_id" => topic_id = uuid_from_kafka(v),
                _ => {}
            }
        }
    }
    match (version, topic_id) {
        (Some(v), Some(id)) if v >= 0 && !id.is_nil() => Ok(Some(id)),
        _ => Err(bad(path, "expected `version: 0` and a non-zero `topic_id`")),
    }
}

pub fn write_partition_metadata(path: &Path, topic_id: Uuid) -> Result<(), LogError> {
    write_atomic(path, partition_metadata_text(topic_id).as_bytes())
}

/// [`write_partition_metadata`] for a new partition dir that the caller syncs afterwards
/// (see [`write_atomic_dir_unsynced`]).
pub fn write_partition_metadata_dir_unsynced(path: &Path, topic_id: Uuid) -> Result<(), LogError> {
    write_atomic_dir_unsynced(path, partition_metadata_text(topic_id).as_bytes())
}

fn partition_metadata_text(topic_id: Uuid) -> String {
    format!("version: 0\ntopic_id: {}", uuid_to_kafka(topic_id))
}

/// The identity of a log dir in a KRaft cluster (`meta.properties`, version 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaProperties {
    pub node_id: i32,
    pub cluster_id: String,
    pub directory_id: Option<Uuid>,
}

pub fn read_meta_properties(path: &Path) -> Result<Option<MetaProperties>, LogError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let mut node_id = None;
    let mut cluster_id = None;
    let mut directory_id = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "node.id" | "broker.id" => node_id = v.trim().parse().ok(),
                "cluster.id" => cluster_id = Some(v.trim().to_string()),
                "directory.id" => directory_id = uuid_from_kafka(v),
                _ => {}
            }
        }
    }
    match (node_id, cluster_id) {
        (Some(node_id), Some(cluster_id)) => Ok(Some(MetaProperties {
            node_id,
            cluster_id,
            directory_id,
        })),
        _ => Err(bad(path, "needs node.id and cluster.id")),
    }
}

pub fn write_meta_properties(path: &Path, meta: &MetaProperties) -> Result<(), LogError> {
    let mut s = String::from("#\n#Written by Rafka\n");
    s.push_str(&format!("node.id={}\n", meta.node_id));
    if let Some(d) = meta.directory_id {
        s.push_str(&format!("directory.id={}\n", uuid_to_kafka(d)));
    }
    s.push_str("version=1\n");
    s.push_str(&format!("cluster.id={}\n", meta.cluster_id));
    write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_checkpoint_text_is_kafkas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(RECOVERY_POINT_FILE);
        let entries = vec![
            (TopicPartition::new("orders", 0), 42),
            (TopicPartition::new("my-topic", 3), 7),
        ];
        write_offsets(&p, &entries).expect("write");
        assert_eq!(
            fs::read_to_string(&p).expect("read"),
            "0\n2\norders 0 42\nmy-topic 3 7\n"
        );
        assert_eq!(read_offsets(&p).expect("read"), entries);
        assert!(read_offsets(&dir.path().join("missing"))
            .expect("missing")
            .is_empty());
        fs::write(&p, "0\n3\norders 0 1\n").expect("write");
        assert!(read_offsets(&p).is_err(), "count mismatch is an error");
    }

    #[test]
    fn partition_metadata_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(PARTITION_METADATA_FILE);
        let id = Uuid::new_v4();
        write_partition_metadata(&p, id).expect("write");
        let text = fs::read_to_string(&p).expect("read");
        assert!(text.starts_with("version: 0\ntopic_id: "));
        assert_eq!(text.len(), "version: 0\ntopic_id: ".len() + 22);
        assert_eq!(read_partition_metadata(&p).expect("read"), Some(id));
    }

    #[test]
    fn kafka_uuid_text() {
        // Kafka's METADATA_TOPIC_ID is Uuid(0, 1).
        let id = Uuid::from_u64_pair(0, 1);
        assert_eq!(uuid_to_kafka(id), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(uuid_from_kafka("AAAAAAAAAAAAAAAAAAAAAQ"), Some(id));
    }

    #[test]
    fn meta_properties_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(META_PROPERTIES_FILE);
        let m = MetaProperties {
            node_id: 1,
            cluster_id: "abcdefghijklmnopqrstuv".into(),
            directory_id: Some(Uuid::new_v4()),
        };
        write_meta_properties(&p, &m).expect("write");
        assert_eq!(read_meta_properties(&p).expect("read"), Some(m));
    }
}
