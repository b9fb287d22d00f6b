//! Snapshots on disk in Kafka's format: `<end offset:020>-<epoch:010>.checkpoint` in the
//! metadata log's directory, where the end offset is one past the last entry the
//! snapshot contains and the epoch is that entry's term. The file is record batches
//! (offsets from 0, partition leader epoch = the snapshot's epoch):
//!
//! 1. a control batch with a `SnapshotHeaderRecord` (type 3: version 0, the last
//!    contained log timestamp);
//! 2. a control batch with the voter set as a `VotersRecord` (type 6);
//! 3. data batches with the state machine's records (null keys);
//! 4. a control batch with a `SnapshotFooterRecord` (type 4: version 0).
//!
//! A file is written whole (temp file, fsync, rename, directory fsync), so after a crash
//! it is complete or absent; one that does not read back (damage) is skipped with a
//! warning and an older one used. Older snapshots are deleted once a newer one is durable.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::records::{
    control_batch, control_type, data_batch, decode_voters, encode_voters, KRAFT_VOTERS,
};
use super::types::{log_id, LogId, StoredMembership};
use crate::log::batch::{check_integrity, BatchIter};
use crate::log::records::decode_control_batch;
use crate::log::{checkpoint, now_ms, LogError};

/// `ControlRecordType.SNAPSHOT_HEADER`.
pub const SNAPSHOT_HEADER: i16 = 3;
/// `ControlRecordType.SNAPSHOT_FOOTER`.
pub const SNAPSHOT_FOOTER: i16 = 4;
const SUFFIX: &str = ".checkpoint";
/// Records per data batch.
const RECORDS_PER_BATCH: usize = 1000;

/// A snapshot as read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub last_log_id: LogId,
    pub membership: StoredMembership,
    pub records: Vec<Bytes>,
}

/// The file name of the snapshot whose last entry is `last`.
pub fn file_name(last: &LogId) -> String {
    format!("{:020}-{:010}{SUFFIX}", last.index + 1, last.leader_id.term)
}

/// Parses `<end offset>-<epoch>.checkpoint` into the last contained log id.
fn parse_name(name: &str) -> Option<LogId> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (end, epoch) = stem.split_once('-')?;
    let end: u64 = end.parse().ok()?;
    let epoch: u64 = epoch.parse().ok()?;
    Some(log_id(epoch, end.checked_sub(1)?))
}

/// Writes a snapshot durably and deletes older ones; returns its path.
pub fn write(
    dir: &Path,
    last: &LogId,
    membership: &StoredMembership,
    records: &[Bytes],
) -> Result<PathBuf, LogError> {
    let bad = |what: String| LogError::Internal(format!("snapshot: {what}"));
    let epoch = i32::try_from(last.leader_id.term).map_err(|_| bad("epoch".into()))?;
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut header = Vec::with_capacity(11);
    header.extend_from_slice(&0i16.to_be_bytes());
    header.extend_from_slice(&now_ms().to_be_bytes());
    header.push(0);
    out.extend_from_slice(&control_batch(SNAPSHOT_HEADER, header, epoch, offset));
    offset += 1;
    let voters = encode_voters(membership.membership()).map_err(|e| bad(e.to_string()))?;
    out.extend_from_slice(&control_batch(KRAFT_VOTERS, voters, epoch, offset));
    offset += 1;
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        out.extend_from_slice(&data_batch(chunk, epoch, offset));
        offset += chunk.len() as i64;
    }
    let mut footer = Vec::with_capacity(3);
    footer.extend_from_slice(&0i16.to_be_bytes());
    footer.push(0);
    out.extend_from_slice(&control_batch(SNAPSHOT_FOOTER, footer, epoch, offset));

    let path = dir.join(file_name(last));
    checkpoint::write_atomic(&path, &out)?;
    for (id, old) in list(dir)? {
        if id.index < last.index {
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(file = %old.display(), cause = %e, "cannot delete an old snapshot");
            }
        }
    }
    Ok(path)
}

/// Every snapshot file in `dir`, oldest first.
fn list(dir: &Path) -> Result<Vec<(LogId, PathBuf)>, LogError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(parse_name) {
            out.push((id, entry.path()));
        }
    }
    out.sort_by_key(|(id, _)| id.index);
    Ok(out)
}

/// The newest snapshot in `dir` that reads back whole, if any.
pub fn read_latest(dir: &Path) -> Result<Option<StoredSnapshot>, LogError> {
    for (id, path) in list(dir)?.into_iter().rev() {
        match read(&path, id) {
            Ok(s) => return Ok(Some(s)),
            Err(e) => {
                tracing::warn!(file = %path.display(), cause = %e, "skipping an unreadable snapshot")
            }
        }
    }
    Ok(None)
}

fn read(path: &Path, last: LogId) -> Result<StoredSnapshot, LogError> {
    let bytes = std::fs::read(path).map_err(|e| LogError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let corrupt = |what: &str| LogError::Corrupt(format!("{}: {what}", path.display()));
    let mut records = Vec::new();
    let mut membership = None;
    let mut header = false;
    let mut footer = false;
    let mut iter = BatchIter::new(&bytes);
    for (pos, h) in iter.by_ref() {
        let size = h.size().ok_or_else(|| corrupt("batch length"))?;
        let b = bytes
            .get(pos..pos + size)
            .ok_or_else(|| corrupt("batch cut short"))?;
        check_integrity(b)?;
        if footer {
            return Err(corrupt("batches after the footer"));
        }
        let recs = decode_control_batch(b)?;
        if h.is_control() {
            match control_type(&recs).map_err(|e| corrupt(&e.to_string()))? {
                SNAPSHOT_HEADER => header = true,
                SNAPSHOT_FOOTER => footer = true,
                KRAFT_VOTERS => {
                    let value = recs
                        .first()
                        .and_then(|r| r.value.as_deref())
                        .unwrap_or_default();
                    membership = Some(decode_voters(value).map_err(|e| corrupt(&e.to_string()))?);
                }
                _ => {}
            }
        } else {
            if !header {
                return Err(corrupt("data before the header"));
            }
            records.extend(recs.into_iter().map(|r| r.value.unwrap_or_default()));
        }
    }
    if iter.position() != bytes.len() || !header || !footer {
        return Err(corrupt("incomplete snapshot"));
    }
    let membership = membership.ok_or_else(|| corrupt("no voters record"))?;
    // Kafka's format does not say at which entry the voter set was written; the voter
    // set is static, so the snapshot's own last entry stands for it.
    Ok(StoredSnapshot {
        last_log_id: last,
        membership: StoredMembership::new(Some(last), membership),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::types::{Membership, Node, NodeId};

    fn membership() -> StoredMembership {
        let ids: std::collections::BTreeSet<NodeId> = [1, 2, 3].into_iter().collect();
        let nodes: std::collections::BTreeMap<NodeId, Node> = ids
            .iter()
            .map(|&i| (i, Node::new(format!("127.0.0.1:{}", 9000 + i))))
            .collect();
        StoredMembership::new(Some(log_id(0, 0)), Membership::new(vec![ids], nodes))
    }

    #[test]
    fn a_snapshot_reads_back_and_replaces_older_ones() {
        let tmp = tempfile::tempdir().expect("test setup");
        let records: Vec<Bytes> = (0..2500).map(|i| Bytes::from(format!("r{i}"))).collect();
        let first = log_id(2, 9);
        write(tmp.path(), &first, &membership(), &records[..10]).expect("test setup");
        let last = log_id(3, 41);
        let path = write(tmp.path(), &last, &membership(), &records).expect("test setup");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("00000000000000000042-0000000003.checkpoint")
        );
        assert!(!tmp.path().join(file_name(&first)).exists());
        let got = read_latest(tmp.path())
            .expect("test setup")
            .expect("a snapshot");
        assert_eq!(got.last_log_id, last);
        assert_eq!(got.records, records);
        assert_eq!(
            got.membership.membership().voter_ids().collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn a_damaged_snapshot_is_skipped_for_an_older_one() {
        let tmp = tempfile::tempdir().expect("test setup");
        let old = log_id(1, 4);
        let records = vec![Bytes::from_static(b"a")];
        let old_path = write(tmp.path(), &old, &membership(), &records).expect("test setup");
        let keep = std::fs::read(&old_path).expect("test setup");
        let new = log_id(1, 8);
        let new_path = write(tmp.path(), &new, &membership(), &records).expect("test setup");
        std::fs::write(&old_path, keep).expect("test setup");
        let mut bytes = std::fs::read(&new_path).expect("test setup");
        let cut = bytes.len() - 5;
        bytes.truncate(cut);
        std::fs::write(&new_path, bytes).expect("test setup");
        let got = read_latest(tmp.path())
            .expect("test setup")
            .expect("a snapshot");
        assert_eq!(got.last_log_id, old);
    }
}
