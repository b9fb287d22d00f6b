//! openraft's log storage on our log engine: the `__cluster_metadata-0` partition
//! directory, one record batch per entry ([`super::records`]), and Kafka's `quorum-state`
//! file for the vote.
//!
//! Invariants: the partition's offsets are the Raft indexes (`log_start_offset` is the
//! first index kept, `log_end_offset` the next to write); every batch's partition leader
//! epoch is its entry's term; an append is fsynced before openraft is told it is done; the
//! vote is fsynced (written atomically) before `save_vote` returns, so before a vote is
//! answered.
//!
//! Files of ours besides Kafka's: `quorum-purged` (the term and index of the last purged
//! entry: openraft needs its term, which the purged batch no longer holds). Writes happen
//! on the blocking pool; reads of batches just written come from the page cache.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, StorageIOError};
use parking_lot::Mutex;

use super::records::{decode_entry, encode_entry, LeaderHint};
use super::types::{log_id, Entry, LogId, StorageError, TypeConfig, Vote};
use crate::log::batch::{self, BatchIter};
use crate::log::partition_log::LoadOptions;
use crate::log::{checkpoint, LogConfig, LogError, PartitionLog, TopicPartition};

/// Kafka's name for the metadata log's partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Kafka's vote file, in the partition directory.
pub const QUORUM_STATE_FILE: &str = "quorum-state";
const PURGED_FILE: &str = "quorum-purged";
/// How much one read of the log asks for.
const READ_BYTES: usize = 4 << 20;

/// The log store; clones share it (openraft's log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    log: PartitionLog,
    dir: PathBuf,
    voters: Vec<i32>,
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

fn io(e: impl std::error::Error + 'static, verb: ErrorVerb) -> StorageError {
    StorageIOError::new(ErrorSubject::Logs, verb, openraft::AnyError::new(&e)).into()
}

fn log_err(e: LogError, verb: ErrorVerb) -> StorageError {
    io(e, verb)
}

impl LogStore {
    /// Opens (or creates) `<data_dir>/__cluster_metadata-0`, recovering its tail.
    pub fn open(data_dir: &Path, voters: Vec<i32>) -> Result<Self, LogError> {
        let tp = TopicPartition::new(METADATA_TOPIC, 0);
        let dir = data_dir.join(tp.dir_name());
        std::fs::create_dir_all(&dir).map_err(|e| LogError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let purged = read_purged(&dir.join(PURGED_FILE))?;
        let opts = LoadOptions {
            clean_shutdown: false,
            recovery_point: 0,
            log_start_offset: purged.map_or(0, |p| p.index as i64 + 1),
        };
        let (log, report) = PartitionLog::open(dir.clone(), tp, LogConfig::default(), None, opts)?;
        let vote = read_quorum_state(&dir.join(QUORUM_STATE_FILE))?;
        tracing::info!(dir = %dir.display(), segments = report.segments,
            truncated_bytes = report.truncated_bytes, log_end_offset = log.log_end_offset(),
            "opened the metadata log");
        Ok(LogStore {
            inner: Arc::new(Inner {
                log,
                dir,
                voters,
                state: Mutex::new(StoreState { vote, purged }),
            }),
        })
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `f` on the blocking pool (writes fsync); its error is reported as `verb`.
    async fn blocking<T: Send + 'static>(
        &self,
        verb: ErrorVerb,
        f: impl FnOnce(&Inner) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| io(e, verb))?
            .map_err(|e| log_err(e, verb))
    }
}

impl Inner {
    fn last_log_id(&self) -> Result<Option<LogId>, LogError> {
        let end = self.log.log_end_offset();
        if end > self.log.log_start_offset() {
            let index = end - 1;
            let term = self
                .log
                .epoch_for(index)
                .ok_or_else(|| LogError::Internal(format!("no epoch for offset {index}")))?;
            return Ok(Some(log_id(term as u64, index as u64)));
        }
        Ok(self.state.lock().purged)
    }

    fn read(&self, start: i64, end: i64) -> Result<Vec<Entry>, LogError> {
        let mut out = Vec::new();
        let mut next = start.max(self.log.log_start_offset());
        let end = end.min(self.log.log_end_offset());
        while next < end {
            let data = self.log.read(next, READ_BYTES, true, end)?;
            let before = next;
            let mut it = BatchIter::new(&data.records);
            for (pos, h) in it.by_ref() {
                let size = h.size().unwrap_or(0);
                let Some(b) = data.records.get(pos..pos + size) else {
                    break;
                };
                if h.base_offset >= next && h.base_offset < end {
                    let e = decode_entry(b).map_err(|e| LogError::Corrupt(e.to_string()))?;
                    out.push(e);
                }
                next = next.max(h.next_offset());
            }
            if next == before {
                return Err(LogError::Internal(format!(
                    "no batch read at offset {next}"
                )));
            }
        }
        Ok(out)
    }

    fn append(&self, entries: Vec<Entry>) -> Result<(), LogError> {
        let hint = {
            let st = self.state.lock();
            st.vote
        };
        let mut last = None;
        for e in entries {
            let leader_id = match hint {
                Some(v) if v.leader_id.term == e.log_id.leader_id.term => v
                    .leader_id
                    .voted_for
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(-1),
                _ => -1,
            };
            let hint = LeaderHint {
                leader_id,
                voters: self.voters.clone(),
            };
            let mut b =
                encode_entry(&e, &hint).map_err(|err| LogError::Internal(err.to_string()))?;
            // the log assigns the offset (it must be the index) and stamps the epoch
            batch::put(&mut b, batch::BASE_OFFSET, &0i64.to_be_bytes());
            let expected = self.log.log_end_offset();
            if expected as u64 != e.log_id.index {
                return Err(LogError::Internal(format!(
                    "entry {} appended at offset {expected}",
                    e.log_id.index
                )));
            }
            let term = i32::try_from(e.log_id.leader_id.term).unwrap_or(i32::MAX);
            let info = self.log.append_internal(&b, term)?;
            last = Some(info.last_offset + 1);
        }
        if let Some(end) = last {
            self.log.flush_to(end)?;
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s as i64,
            Bound::Excluded(&s) => s as i64 + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => (e as i64).saturating_add(1),
            Bound::Excluded(&e) => e as i64,
            Bound::Unbounded => i64::MAX,
        };
        self.inner
            .read(start, end)
            .map_err(|e| log_err(e, ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let purged = self.inner.state.lock().purged;
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: self
                .inner
                .last_log_id()
                .map_err(|e| log_err(e, ErrorVerb::Read))?,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(ErrorVerb::Write, move |inner| {
            write_quorum_state(&inner.dir.join(QUORUM_STATE_FILE), &vote, &inner.voters)?;
            inner.state.lock().vote = Some(vote);
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.state.lock().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let res = self
            .blocking(ErrorVerb::Write, move |inner| inner.append(entries))
            .await;
        match &res {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        res
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::info!(from = log_id.index, "truncating the metadata log");
        self.blocking(ErrorVerb::Delete, move |inner| {
            inner.log.truncate_to(log_id.index as i64)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(ErrorVerb::Delete, move |inner| {
            // the purged id first: after a crash between the two, the start offset is
            // recomputed from it
            write_purged(&inner.dir.join(PURGED_FILE), &log_id)?;
            inner.state.lock().purged = Some(log_id);
            let upto = log_id.index as i64 + 1;
            if upto > inner.log.log_end_offset() {
                // a follower that installed a snapshot past its log: start the log after it
                inner.log.truncate_fully_and_start_at(upto)?;
            } else {
                inner.log.delete_records_before(upto)?;
            }
            Ok(())
        })
        .await
    }
}

/// Kafka's `quorum-state` (QuorumStateData v0, JSON): `leaderEpoch` is the term,
/// `votedId` whom this node voted for, `leaderId` the leader once the vote is committed.
fn write_quorum_state(path: &Path, vote: &Vote, voters: &[i32]) -> Result<(), LogError> {
    let voted = vote
        .leader_id
        .voted_for
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(-1);
    let leader = if vote.committed { voted } else { -1 };
    let current: Vec<String> = voters
        .iter()
        .map(|v| format!("{{\"voterId\":{v}}}"))
        .collect();
    let json = format!(
        "{{\"clusterId\":\"\",\"leaderId\":{leader},\"leaderEpoch\":{},\"votedId\":{voted},\"appliedOffset\":0,\"currentVoters\":[{}],\"data_version\":0}}",
        vote.leader_id.term,
        current.join(",")
    );
    checkpoint::write_atomic(path, json.as_bytes())
}

fn read_quorum_state(path: &Path) -> Result<Option<Vote>, LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LogError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let bad = |what: &str| LogError::BadMetadata {
        path: path.to_path_buf(),
        reason: format!("quorum-state: {what}"),
    };
    let term = json_int(&text, "leaderEpoch").ok_or_else(|| bad("no leaderEpoch"))?;
    let leader = json_int(&text, "leaderId").unwrap_or(-1);
    let voted = json_int(&text, "votedId").unwrap_or(-1);
    let term = u64::try_from(term).map_err(|_| bad("negative leaderEpoch"))?;
    let who = if voted >= 0 { voted } else { leader };
    let mut vote = match u64::try_from(who) {
        Ok(n) => Vote::new(term, n),
        Err(_) => Vote {
            leader_id: openraft::LeaderId {
                term,
                voted_for: None,
            },
            committed: false,
        },
    };
    if leader >= 0 {
        vote.commit();
    }
    Ok(Some(vote))
}

/// The integer after `"key":` in a flat JSON object (the only shape written here).
fn json_int(text: &str, key: &str) -> Option<i64> {
    let pat = format!("\"{key}\":");
    let at = text.find(&pat)? + pat.len();
    let rest = text.get(at..)?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

fn write_purged(path: &Path, id: &LogId) -> Result<(), LogError> {
    checkpoint::write_atomic(
        path,
        format!("{} {}\n", id.leader_id.term, id.index).as_bytes(),
    )
}

fn read_purged(path: &Path) -> Result<Option<LogId>, LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LogError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(term)), Some(Ok(index))) => Ok(Some(log_id(term, index))),
        _ => Err(LogError::BadMetadata {
            path: path.to_path_buf(),
            reason: "quorum-purged: not `<term> <index>`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::records::proposal;
    use bytes::Bytes;
    use openraft::EntryPayload;

    fn normal(term: u64, index: u64, v: &'static [u8]) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(proposal([Bytes::from_static(v)])),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_on_disk_are_kafka_batches_with_offsets_and_epochs() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        let entries = vec![
            Entry {
                log_id: log_id(1, 0),
                payload: EntryPayload::Blank,
            },
            normal(1, 1, b"one"),
            normal(2, 2, b"two"),
            normal(2, 3, b"three"),
        ];
        store.inner.append(entries).expect("test setup");
        // truncation of conflicting entries, then a new term
        store.truncate(log_id(2, 3)).await.expect("test setup");
        store
            .inner
            .append(vec![normal(3, 3, b"3b")])
            .expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(3, 3)));
        drop(store);

        // reopen and read the segment file raw
        let store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        let seg = std::fs::read(store.dir().join("00000000000000000000.log")).expect("test setup");
        let mut got = Vec::new();
        for (pos, h) in BatchIter::new(&seg) {
            let b = &seg[pos..pos + h.size().expect("test setup")];
            batch::check_integrity(b).expect("test setup");
            got.push((h.base_offset, h.partition_leader_epoch, h.is_control()));
        }
        assert_eq!(
            got,
            [(0, 1, true), (1, 1, false), (2, 2, false), (3, 3, false)]
        );
        let entries = store.inner.read(0, 10).expect("test setup");
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3].log_id, log_id(3, 3));
        assert!(store.dir().ends_with("__cluster_metadata-0"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vote_survives_a_reopen_as_quorum_state() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        assert_eq!(store.read_vote().await.expect("test setup"), None);
        let mut v = Vote::new(5, 2);
        store.save_vote(&v).await.expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        assert_eq!(store.read_vote().await.expect("test setup"), Some(v));
        v.commit();
        store.save_vote(&v).await.expect("test setup");
        let text =
            std::fs::read_to_string(store.dir().join(QUORUM_STATE_FILE)).expect("test setup");
        assert!(text.contains("\"leaderEpoch\":5"), "{text}");
        assert!(text.contains("\"leaderId\":2"), "{text}");
        let mut store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        assert_eq!(store.read_vote().await.expect("test setup"), Some(v));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_moves_the_start_and_survives_a_reopen() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries: Vec<Entry> = (0..5).map(|i| normal(1, i, b"x")).collect();
        store.inner.append(entries).expect("test setup");
        store.purge(log_id(1, 2)).await.expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        assert_eq!(state.last_log_id, Some(log_id(1, 4)));
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        let got = store.try_get_log_entries(0..10).await.expect("test setup");
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_change_names_the_leader_of_its_epoch() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1, 2, 3]).expect("test setup");
        store
            .save_vote(&Vote::new_committed(4, 3))
            .await
            .expect("test setup");
        store
            .inner
            .append(vec![
                Entry {
                    log_id: log_id(2, 0),
                    payload: EntryPayload::Blank,
                },
                Entry {
                    log_id: log_id(4, 1),
                    payload: EntryPayload::Blank,
                },
            ])
            .expect("test setup");
        let seg = std::fs::read(store.dir().join("00000000000000000000.log")).expect("test setup");
        let leaders: Vec<i32> = BatchIter::new(&seg)
            .map(|(pos, h)| {
                let b = &seg[pos..pos + h.size().expect("test setup")];
                let recs = crate::log::records::decode_control_batch(b).expect("test setup");
                let v = recs[0].value.clone().expect("test setup");
                i32::from_be_bytes(v[2..6].try_into().expect("test setup"))
            })
            .collect();
        // an older epoch's leader is unknown here (-1); the current one is the vote's
        assert_eq!(leaders, [-1, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_past_the_end_starts_the_log_after_it() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries: Vec<Entry> = (0..3).map(|i| normal(1, i, b"x")).collect();
        store.inner.append(entries).expect("test setup");
        store.purge(log_id(2, 9)).await.expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(2, 9)));
        store
            .inner
            .append(vec![normal(2, 10, b"y")])
            .expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 9)));
        assert_eq!(state.last_log_id, Some(log_id(2, 10)));
        let got = store.try_get_log_entries(0..20).await.expect("test setup");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].log_id, log_id(2, 10));
    }

    /// Writes a small metadata log for Kafka's `DumpLogSegments --cluster-metadata-decoder`
    /// (run by hand: `RAFKA_METADATA_LOG_DIR=/tmp/x cargo test --lib -- --ignored
    /// writes_a_metadata_log_for_kafka_tools`): a VotersRecord, a LeaderChange, and a
    /// real KRaft record (FeatureLevelRecord, metadata.version 21) as a data batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn writes_a_metadata_log_for_kafka_tools() {
        let dir = std::env::var("RAFKA_METADATA_LOG_DIR").expect("RAFKA_METADATA_LOG_DIR");
        let dir = PathBuf::from(dir);
        let store = LogStore::open(&dir, vec![1, 2, 3]).expect("test setup");
        let ids: std::collections::BTreeSet<u64> = [1, 2, 3].into_iter().collect();
        let nodes: std::collections::BTreeMap<u64, openraft::BasicNode> = ids
            .iter()
            .map(|&i| {
                (
                    i,
                    openraft::BasicNode::new(format!("localhost:{}", 9092 + i)),
                )
            })
            .collect();
        let membership = crate::controller::types::Membership::new(vec![ids], nodes);
        let membership_again = membership.clone();
        let mut feature = vec![1u8, 12, 0, 17];
        feature.extend_from_slice(b"metadata.version");
        feature.extend_from_slice(&[0, 21, 0]);
        store
            .inner
            .append(vec![
                Entry {
                    log_id: log_id(0, 0),
                    payload: EntryPayload::Membership(membership),
                },
                Entry {
                    log_id: log_id(1, 1),
                    payload: EntryPayload::Blank,
                },
                Entry {
                    log_id: log_id(1, 2),
                    payload: EntryPayload::Normal(proposal([Bytes::from(feature.clone())])),
                },
            ])
            .expect("test setup");
        let voters =
            crate::controller::types::StoredMembership::new(Some(log_id(0, 0)), membership_again);
        crate::controller::snapshot::write(
            store.dir(),
            &log_id(1, 2),
            &voters,
            &[Bytes::from(feature)],
        )
        .expect("test setup");
    }
}
