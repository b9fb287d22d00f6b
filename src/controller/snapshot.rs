//! Snapshots on disk in Kafka's format: `<end offset:020>-<epoch:010>.checkpoint` in the
//! metadata log's directory, where the end offset is the Kafka offset after the last
//! record the snapshot contains and the epoch is the term of the entry that holds it
//! (Kafka's snapshot id, `OffsetAndEpoch`). The file is record batches (offsets from 0,
//! partition leader epoch = the snapshot's epoch):
//!
//! 1. a control batch with a `SnapshotHeaderRecord` (type 3: version 0, the last
//!    contained log timestamp);
//! 2. a control batch with the voter set as a `VotersRecord` (type 6);
//! 3. data batches with the state machine's records (null keys);
//! 4. a control batch with a `SnapshotFooterRecord` (type 4: version 0).
//!
//! Kafka offsets count records and Raft indexes count entries (batches), so the name does
//! not say the snapshot's Raft log id: a file of ours beside it, `<same stem>.raft-index`
//! (`<term> <index>`), does; Kafka's tools ignore it. It is written (atomically) before
//! the checkpoint, so every checkpoint written since has one; a checkpoint without one is
//! of the older form, where offsets were indexes (last index = end offset - 1).
//!
//! A file is written whole (temp file, fsync, rename, directory fsync), so after a crash
//! it is complete or absent; one that does not read back (damage) is skipped with a
//! warning and an older one used if any is left. Older snapshots are deleted once a newer
//! one is durable, so usually none is: if the log was purged below the snapshot lost,
//! `Quorum::start` refuses the directory (`QuorumError::Damaged`).

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
const INDEX_SUFFIX: &str = ".raft-index";
/// Records per data batch.
const RECORDS_PER_BATCH: usize = 1000;

/// A snapshot as read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last entry it contains.
    pub last_log_id: LogId,
    /// The Kafka offset after that entry's last record.
    pub end_offset: i64,
    pub membership: StoredMembership,
    pub records: Vec<Bytes>,
}

/// Kafka's snapshot id, `<end offset:020>-<epoch:010>`: also the openraft snapshot id, so
/// a follower learns the end offset with the snapshot.
pub fn snapshot_id(end_offset: i64, epoch: u64) -> String {
    format!("{end_offset:020}-{epoch:010}")
}

/// Parses [`snapshot_id`] back into (end offset, epoch).
pub fn parse_id(id: &str) -> Option<(i64, u64)> {
    let (end, epoch) = id.split_once('-')?;
    let end: i64 = end.parse().ok()?;
    let epoch: u64 = epoch.parse().ok()?;
    (end >= 0).then_some((end, epoch))
}

/// The file name of the snapshot ending at `end_offset` in `epoch`.
pub fn file_name(end_offset: i64, epoch: u64) -> String {
    format!("{}{SUFFIX}", snapshot_id(end_offset, epoch))
}

fn index_file(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.as_os_str().to_owned();
    name.push(INDEX_SUFFIX);
    PathBuf::from(name)
}

/// Parses `<end offset>-<epoch>.checkpoint` into (end offset, epoch).
fn parse_name(name: &str) -> Option<(i64, u64)> {
    parse_id(name.strip_suffix(SUFFIX)?)
}

/// The Raft log id of the checkpoint at `path` (end offset, epoch): from its index file,
/// or for the older form without one, end offset - 1.
fn read_index(path: &Path, end_offset: i64, epoch: u64) -> Result<LogId, LogError> {
    let side = index_file(path);
    let bad = |reason: String| LogError::BadMetadata {
        path: side.clone(),
        reason,
    };
    match std::fs::read_to_string(&side) {
        Ok(text) => {
            let mut it = text.split_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next()) {
                (Some(Ok(term)), Some(Ok(index))) if term == epoch => Ok(log_id(term, index)),
                _ => Err(bad(format!("not `{epoch} <index>`"))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let index = u64::try_from(end_offset - 1).map_err(|_| bad("end offset 0".into()))?;
            Ok(log_id(epoch, index))
        }
        Err(e) => Err(LogError::Io {
            path: side.clone(),
            source: e,
        }),
    }
}

/// The Kafka end offset of the snapshot on disk whose last entry is `last`, if any.
pub fn end_offset_of(dir: &Path, last: &LogId) -> Result<Option<i64>, LogError> {
    for (end, epoch, path) in list(dir)? {
        if epoch == last.leader_id.term {
            if let Ok(id) = read_index(&path, end, epoch) {
                if id == *last {
                    return Ok(Some(end));
                }
            }
        }
    }
    Ok(None)
}

/// Writes a snapshot durably and deletes older ones; returns its path. `last` is its
/// last entry, `end_offset` the Kafka offset after that entry's last record.
pub fn write(
    dir: &Path,
    last: &LogId,
    end_offset: i64,
    membership: &StoredMembership,
    records: &[Bytes],
) -> Result<PathBuf, LogError> {
    let bad = |what: String| LogError::Internal(format!("snapshot: {what}"));
    let epoch = i32::try_from(last.leader_id.term).map_err(|_| bad("epoch".into()))?;
    if end_offset <= 0 {
        return Err(bad(format!("end offset {end_offset}")));
    }
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

    let path = dir.join(file_name(end_offset, last.leader_id.term));
    // the index first: a checkpoint is never without it
    checkpoint::write_atomic(
        &index_file(&path),
        format!("{} {}\n", last.leader_id.term, last.index).as_bytes(),
    )?;
    checkpoint::write_atomic(&path, &out)?;
    for (end, _, old) in list(dir)? {
        if end < end_offset {
            // the checkpoint first: an index left alone is ignored, a checkpoint left
            // without its index would look like Kafka's
            for f in [old.clone(), index_file(&old)] {
                match std::fs::remove_file(&f) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(file = %f.display(), cause = %e, "cannot delete an old snapshot")
                    }
                }
            }
        }
    }
    Ok(path)
}

/// Writes a snapshot as Kafka's own controller would read it at start with a static voter
/// set (`controller.quorum.voters`, `kraft.version` 0): header, the records in data
/// batches, footer; no `VotersRecord` and no `.raft-index` (no Raft log of ours goes with
/// it). `rafka migrate --to-kafka` writes one into an empty `__cluster_metadata-0`.
pub fn write_for_kafka(
    dir: &Path,
    end_offset: i64,
    epoch: i32,
    records: &[Bytes],
) -> Result<PathBuf, LogError> {
    let bad = |what: String| LogError::Internal(format!("snapshot: {what}"));
    let term = u64::try_from(epoch).map_err(|_| bad(format!("epoch {epoch}")))?;
    if end_offset <= 0 {
        return Err(bad(format!("end offset {end_offset}")));
    }
    let mut out = Vec::new();
    let mut header = Vec::with_capacity(11);
    header.extend_from_slice(&0i16.to_be_bytes());
    header.extend_from_slice(&now_ms().to_be_bytes());
    header.push(0);
    out.extend_from_slice(&control_batch(SNAPSHOT_HEADER, header, epoch, 0));
    let mut offset = 1i64;
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        out.extend_from_slice(&data_batch(chunk, epoch, offset));
        offset += chunk.len() as i64;
    }
    let mut footer = Vec::with_capacity(3);
    footer.extend_from_slice(&0i16.to_be_bytes());
    footer.push(0);
    out.extend_from_slice(&control_batch(SNAPSHOT_FOOTER, footer, epoch, offset));
    let path = dir.join(file_name(end_offset, term));
    checkpoint::write_atomic(&path, &out)?;
    Ok(path)
}

/// Every snapshot file in `dir` as (end offset, epoch, path), oldest first.
fn list(dir: &Path) -> Result<Vec<(i64, u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some((end, epoch)) = name.to_str().and_then(parse_name) {
            out.push((end, epoch, entry.path()));
        }
    }
    out.sort_by_key(|(end, _, _)| *end);
    Ok(out)
}

/// The newest snapshot in `dir` that reads back whole, if any.
pub fn read_latest(dir: &Path) -> Result<Option<StoredSnapshot>, LogError> {
    for (end, epoch, path) in list(dir)?.into_iter().rev() {
        match read_index(&path, end, epoch).and_then(|last| read(&path, last, end)) {
            Ok(s) => return Ok(Some(s)),
            Err(e) => {
                tracing::warn!(file = %path.display(), cause = %e, "skipping an unreadable snapshot")
            }
        }
    }
    Ok(None)
}

fn read(path: &Path, last: LogId, end_offset: i64) -> Result<StoredSnapshot, LogError> {
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
        end_offset,
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
        write(tmp.path(), &first, 15, &membership(), &records[..10]).expect("test setup");
        // entries of several records: the Kafka end offset is past the Raft index
        let last = log_id(3, 41);
        let path = write(tmp.path(), &last, 57, &membership(), &records).expect("test setup");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("00000000000000000057-0000000003.checkpoint")
        );
        assert!(!tmp.path().join(file_name(15, 2)).exists());
        assert!(!index_file(&tmp.path().join(file_name(15, 2))).exists());
        let got = read_latest(tmp.path())
            .expect("test setup")
            .expect("a snapshot");
        assert_eq!(got.last_log_id, last);
        assert_eq!(got.end_offset, 57);
        assert_eq!(
            end_offset_of(tmp.path(), &last).expect("test setup"),
            Some(57)
        );
        assert_eq!(
            end_offset_of(tmp.path(), &log_id(3, 40)).expect("test setup"),
            None
        );
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
        let old_path = write(tmp.path(), &old, 7, &membership(), &records).expect("test setup");
        let keep = std::fs::read(&old_path).expect("test setup");
        let keep_index = std::fs::read(index_file(&old_path)).expect("test setup");
        let new = log_id(1, 8);
        let new_path = write(tmp.path(), &new, 12, &membership(), &records).expect("test setup");
        std::fs::write(&old_path, keep).expect("test setup");
        std::fs::write(index_file(&old_path), keep_index).expect("test setup");
        let mut bytes = std::fs::read(&new_path).expect("test setup");
        let cut = bytes.len() - 5;
        bytes.truncate(cut);
        std::fs::write(&new_path, bytes).expect("test setup");
        let got = read_latest(tmp.path())
            .expect("test setup")
            .expect("a snapshot");
        assert_eq!(got.last_log_id, old);
        assert_eq!(got.end_offset, 7);
    }

    #[test]
    fn a_checkpoint_without_its_index_file_is_of_the_older_form() {
        let tmp = tempfile::tempdir().expect("test setup");
        let records = vec![Bytes::from_static(b"a")];
        let path =
            write(tmp.path(), &log_id(2, 30), 42, &membership(), &records).expect("test setup");
        std::fs::remove_file(index_file(&path)).expect("test setup");
        let got = read_latest(tmp.path())
            .expect("test setup")
            .expect("a snapshot");
        // offsets were indexes then
        assert_eq!(got.last_log_id, log_id(2, 41));
        assert_eq!(got.end_offset, 42);
    }

    #[test]
    fn snapshot_ids_are_kafkas_and_parse_back() {
        assert_eq!(snapshot_id(57, 3), "00000000000000000057-0000000003");
        assert_eq!(parse_id(&snapshot_id(57, 3)), Some((57, 3)));
        assert_eq!(parse_id("41-1"), Some((41, 1)));
        assert_eq!(parse_id("empty-1"), None);
        assert_eq!(parse_id("-1-2"), None);
    }
}
