//! openraft's log storage on our log engine: the `__cluster_metadata-0` partition
//! directory, one record batch per entry ([`super::records`]), and Kafka's `quorum-state`
//! file for the vote.
//!
//! Raft indexes count entries, Kafka offsets count records: an entry is one batch, and a
//! batch of n records takes n consecutive offsets (as Kafka writes KRaft batches), so the
//! two differ as soon as one entry holds more than one record. The store keeps the map in
//! memory: the base offset of every kept entry, in index order from the first kept index
//! (`first`), rebuilt at open by scanning the batches from the log start.
//!
//! Invariants: the kept entries are exactly the batches in `[log_start_offset,
//! log_end_offset)`, entry `first + i` the i-th of them (`bases[i]` its base offset);
//! `first` is the last purged index + 1 (0 if none), also when nothing is kept; every
//! batch's partition leader epoch is its entry's term; an append is fsynced before
//! openraft is told it is done; the vote is fsynced (written atomically) before
//! `save_vote` returns, so before a vote is answered.
//!
//! Files of ours besides Kafka's: `quorum-purged` (`<term> <index> <offset>`: the last
//! purged entry, whose term openraft needs and the purged batch no longer holds, and the
//! Kafka offset after it, where the kept log starts; a file of two fields is the older
//! form, where offsets were indexes; ` restart` after them while a purge past the log end
//! empties the log, so a crash in it is finished at open). A follower that installs a snapshot past its log
//! end restarts its log at the snapshot's Kafka end offset: the network records it as the
//! snapshot arrives ([`SnapshotEnds`]), before openraft asks to purge, and the snapshot
//! files on disk answer after a restart. Writes happen on the blocking pool; reads of
//! batches just written come from the page cache.

use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, StorageIOError};
use parking_lot::Mutex;

use super::records::{decode_entry, encode_entry, LeaderHint};
use super::snapshot;
use super::types::{log_id, Entry, LogId, StorageError, TypeConfig, Vote};
use crate::log::batch::{self, BatchIter};
use crate::log::partition_log::LoadOptions;
use crate::log::{checkpoint, LogConfig, LogError, PartitionLog, TopicPartition};

/// Kafka's name for the metadata log's partition.
pub use crate::metadata::metadata_log::CLUSTER_METADATA_TOPIC as METADATA_TOPIC;
/// Kafka's vote file, in the partition directory.
pub const QUORUM_STATE_FILE: &str = "quorum-state";
const PURGED_FILE: &str = "quorum-purged";
/// How much one read of the log asks for.
const READ_BYTES: usize = 4 << 20;
/// Snapshot ends remembered in memory (a follower needs only the latest).
const SNAPSHOT_ENDS_KEPT: usize = 8;

/// The log store; clones share it (openraft's log reader is a clone).
/// What a read of the metadata log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRead {
    /// Whole batches (possibly none), and the log start.
    Batches { records: Bytes, log_start: i64 },
    /// The offset asked for is below the log start: purged after a snapshot.
    Purged { log_start: i64 },
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

/// The Kafka end offsets of snapshots this node received, by their last Raft index:
/// the network writes the snapshot's file and notes its end before handing it to
/// openraft, which then purges the log up to it (without waiting for the install).
#[derive(Clone)]
pub struct SnapshotEnds(Arc<Mutex<BTreeMap<u64, i64>>>, Arc<PathBuf>);

impl SnapshotEnds {
    fn new(dir: PathBuf) -> Self {
        SnapshotEnds(Arc::default(), Arc::new(dir))
    }

    /// Writes a received snapshot's `.checkpoint` durably (blocking I/O). Done before
    /// openraft sees the snapshot: it purges the log below it at once, and a crash between
    /// that purge and the install must find the snapshot on disk at the next start.
    pub fn persist(
        &self,
        last: &LogId,
        end: i64,
        membership: &crate::controller::types::StoredMembership,
        records: &[bytes::Bytes],
    ) -> Result<(), LogError> {
        super::snapshot::write(&self.1, last, end, membership, records).map(|_| ())
    }

    /// Notes that the snapshot whose last entry is `index` ends at Kafka offset `end`.
    pub fn note(&self, index: u64, end: i64) {
        let mut m = self.0.lock();
        m.insert(index, end);
        while m.len() > SNAPSHOT_ENDS_KEPT {
            m.pop_first();
        }
    }

    fn get(&self, index: u64) -> Option<i64> {
        self.0.lock().get(&index).copied()
    }
}

struct Inner {
    log: PartitionLog,
    dir: PathBuf,
    voters: Vec<i32>,
    state: Mutex<StoreState>,
    snapshot_ends: SnapshotEnds,
}

struct StoreState {
    vote: Option<Vote>,
    purged: Option<LogId>,
    /// The Raft index of the first kept entry (`bases[0]`), or of the next entry when
    /// none is kept.
    first: u64,
    /// The base offset of every kept entry, from `first` on.
    bases: VecDeque<i64>,
}

impl StoreState {
    /// The index after the last kept entry.
    fn next_index(&self) -> u64 {
        self.first + self.bases.len() as u64
    }

    /// The Kafka offset where entry `index` starts, for `first <= index <= next_index()`
    /// (the next entry starts at the log end).
    fn offset_of(&self, index: u64, log_end: i64) -> Option<i64> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        if i == self.bases.len() {
            return Some(log_end);
        }
        self.bases.get(i).copied()
    }
}

fn io(e: impl std::error::Error + 'static, verb: ErrorVerb) -> StorageError {
    StorageIOError::new(ErrorSubject::Logs, verb, openraft::AnyError::new(&e)).into()
}

fn log_err(e: LogError, verb: ErrorVerb) -> StorageError {
    io(e, verb)
}

/// The last purged entry and the Kafka offset after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Purged {
    id: LogId,
    end_offset: i64,
    /// The log is being restarted empty at `end_offset` (a purge past its end): if this
    /// is still set at open, the restart did not finish and is done again.
    restart: bool,
}

impl LogStore {
    /// Opens (or creates) `<data_dir>/__cluster_metadata-0`, recovering its tail and
    /// rebuilding the index-to-offset map.
    pub fn open(data_dir: &Path, voters: Vec<i32>) -> Result<Self, LogError> {
        let tp = TopicPartition::new(METADATA_TOPIC, 0);
        let dir = data_dir.join(tp.dir_name());
        std::fs::create_dir_all(&dir).map_err(|e| LogError::Io {
            path: dir.clone(),
            source: e,
        })?;
        // names the directory Rafka's (see `adoption`): Kafka's metadata log is moved aside
        // before this opens, so a directory without the marker here is an older Rafka's
        let marker = dir.join(super::adoption::RAFKA_MARKER);
        if !marker.exists() {
            checkpoint::write_atomic(&marker, b"rafka\n")?;
        }
        let purged = read_purged(&dir.join(PURGED_FILE))?;
        let start = purged.map_or(0, |p| p.end_offset);
        let opts = LoadOptions {
            clean_shutdown: false,
            recovery_point: 0,
            log_start_offset: start,
        };
        let (log, report) = PartitionLog::open(dir.clone(), tp, LogConfig::default(), None, opts)?;
        if let Some(p) = purged.filter(|p| p.restart || log.log_end_offset() < p.end_offset) {
            // a crash in a purge past the log end, after the purged file was written and
            // before the log was restarted at its end offset: what is left of the old log
            // is not below that offset, it may not even end at it
            tracing::warn!(purged = %p.id, offset = p.end_offset,
                "finishing an interrupted restart of the metadata log");
            log.truncate_fully_and_start_at(p.end_offset)?;
            write_purged(
                &dir.join(PURGED_FILE),
                &Purged {
                    restart: false,
                    ..p
                },
            )?;
        }
        let bases = scan_bases(&log)?;
        let vote = read_quorum_state(&dir.join(QUORUM_STATE_FILE))?;
        let first = purged.map_or(0, |p| p.id.index + 1);
        tracing::info!(dir = %dir.display(), segments = report.segments,
            truncated_bytes = report.truncated_bytes, log_start_offset = log.log_start_offset(),
            log_end_offset = log.log_end_offset(), first_index = first, entries = bases.len(),
            "opened the metadata log");
        Ok(LogStore {
            inner: Arc::new(Inner {
                log,
                snapshot_ends: SnapshotEnds::new(dir.clone()),
                dir,
                voters,
                state: Mutex::new(StoreState {
                    vote,
                    purged: purged.map(|p| p.id),
                    first,
                    bases,
                }),
            }),
        })
    }

    /// The partition directory.
    /// Whole batches from Kafka offset `from` up to `upto`, at most `max_bytes` (one batch
    /// at least): what a broker following the metadata log fetches.
    pub fn read_range(&self, from: i64, upto: i64, max_bytes: usize) -> Result<LogRead, LogError> {
        let log = &self.inner.log;
        let log_start = log.log_start_offset();
        if from < log_start {
            return Ok(LogRead::Purged { log_start });
        }
        let upto = upto.min(log.log_end_offset());
        if from >= upto {
            return Ok(LogRead::Batches {
                records: Bytes::new(),
                log_start,
            });
        }
        match log.read(from, max_bytes, true, upto) {
            Ok(data) => Ok(LogRead::Batches {
                records: data.records,
                log_start: data.log_start_offset,
            }),
            // purged between the check and the read
            Err(LogError::OffsetOutOfRange {
                log_start_offset, ..
            }) => Ok(LogRead::Purged {
                log_start: log_start_offset,
            }),
            Err(e) => Err(e),
        }
    }

    /// The Kafka offset of the first record kept.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log.log_start_offset()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The Kafka offset the next entry goes at.
    #[cfg(test)]
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log.log_end_offset()
    }

    /// The last purged entry's index, if any entry was purged.
    pub fn purged_index(&self) -> Option<u64> {
        self.inner.state.lock().purged.map(|p| p.index)
    }

    /// Where the network notes the Kafka end offsets of snapshots it receives.
    pub fn snapshot_ends(&self) -> SnapshotEnds {
        self.inner.snapshot_ends.clone()
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

/// The base offset of every batch from the log start to its end, in order.
fn scan_bases(log: &PartitionLog) -> Result<VecDeque<i64>, LogError> {
    let mut bases = VecDeque::new();
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let mut next = start;
    while next < end {
        let data = log.read(next, READ_BYTES, true, end)?;
        let before = next;
        for (_, h) in BatchIter::new(&data.records) {
            if h.base_offset >= next && h.base_offset < end {
                bases.push_back(h.base_offset);
            }
            next = next.max(h.next_offset());
        }
        if next == before {
            return Err(LogError::Internal(format!(
                "no batch read at offset {next}"
            )));
        }
    }
    Ok(bases)
}

impl Inner {
    fn last_log_id(&self) -> Result<Option<LogId>, LogError> {
        let st = self.state.lock();
        if let Some(&base) = st.bases.back() {
            let index = st.next_index() - 1;
            let term = self
                .log
                .epoch_for(base)
                .ok_or_else(|| LogError::Internal(format!("no epoch for offset {base}")))?;
            return Ok(Some(log_id(term as u64, index)));
        }
        Ok(st.purged)
    }

    /// The entries with indexes in `[start, end)` that are kept.
    fn read(&self, start: u64, end: u64) -> Result<Vec<Entry>, LogError> {
        let (first, wanted, end_offset) = {
            let st = self.state.lock();
            let start = start.max(st.first);
            let end = end.min(st.next_index());
            if start >= end {
                return Ok(Vec::new());
            }
            let log_end = self.log.log_end_offset();
            let missing = || LogError::Internal(format!("no offset for index {start}..{end}"));
            let wanted: Vec<i64> = st
                .bases
                .range(
                    usize::try_from(start - st.first).map_err(|_| missing())?
                        ..usize::try_from(end - st.first).map_err(|_| missing())?,
                )
                .copied()
                .collect();
            let end_offset = st.offset_of(end, log_end).ok_or_else(missing)?;
            (start, wanted, end_offset)
        };
        let mut out = Vec::with_capacity(wanted.len());
        let mut next = wanted.first().copied().unwrap_or(end_offset);
        while next < end_offset {
            let data = self.log.read(next, READ_BYTES, true, end_offset)?;
            let before = next;
            for (pos, h) in BatchIter::new(&data.records) {
                let size = h.size().unwrap_or(0);
                let Some(b) = data.records.get(pos..pos + size) else {
                    break;
                };
                if h.base_offset >= next && h.base_offset < end_offset {
                    let k = out.len();
                    if wanted.get(k) != Some(&h.base_offset) {
                        return Err(LogError::Internal(format!(
                            "batch at offset {} where entry {} was expected at {:?}",
                            h.base_offset,
                            first + k as u64,
                            wanted.get(k)
                        )));
                    }
                    let mut e = decode_entry(b).map_err(|e| LogError::Corrupt(e.to_string()))?;
                    e.log_id.index = first + k as u64;
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
        // held throughout: readers see the map and the log end move together
        let mut st = self.state.lock();
        let vote = st.vote;
        let mut last = None;
        for e in entries {
            let leader_id = match vote {
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
            // the log assigns the offsets (from its end) and stamps the epoch
            batch::put(&mut b, batch::BASE_OFFSET, &0i64.to_be_bytes());
            if st.next_index() != e.log_id.index {
                return Err(LogError::Internal(format!(
                    "entry {} appended where entry {} is next",
                    e.log_id.index,
                    st.next_index()
                )));
            }
            let term = i32::try_from(e.log_id.leader_id.term).unwrap_or(i32::MAX);
            let info = self.log.append_internal(&b, term)?;
            st.bases.push_back(info.base_offset);
            last = Some(info.last_offset + 1);
        }
        drop(st);
        if let Some(end) = last {
            self.log.flush_to(end)?;
        }
        Ok(())
    }

    /// Deletes the entries from `index` on.
    fn truncate(&self, index: u64) -> Result<(), LogError> {
        let mut st = self.state.lock();
        if index < st.first {
            return Err(LogError::Internal(format!(
                "truncation at {index}, below the first kept entry {}",
                st.first
            )));
        }
        if index >= st.next_index() {
            return Ok(());
        }
        let offset = st
            .offset_of(index, self.log.log_end_offset())
            .ok_or_else(|| LogError::Internal(format!("no offset for index {index}")))?;
        self.log.truncate_to(offset)?;
        let keep = usize::try_from(index - st.first).unwrap_or(usize::MAX);
        st.bases.truncate(keep);
        Ok(())
    }

    /// Deletes the entries up to `id` inclusive.
    fn purge(&self, id: LogId) -> Result<(), LogError> {
        let mut st = self.state.lock();
        if id.index < st.first {
            return Ok(()); // already gone
        }
        let after = id.index + 1;
        let past_end = after > st.next_index();
        let end_offset = if past_end {
            // a follower that installed a snapshot past its log: start the log after it
            self.snapshot_ends
                .get(id.index)
                .map_or_else(|| snapshot::end_offset_of(&self.dir, &id), |o| Ok(Some(o)))?
                .ok_or_else(|| {
                    LogError::Internal(format!(
                        "purge past the log end to {id}: no snapshot says where it ends"
                    ))
                })?
        } else {
            st.offset_of(after, self.log.log_end_offset())
                .ok_or_else(|| LogError::Internal(format!("no offset for index {after}")))?
        };
        // the purged id first: after a crash in between, the start offset is recomputed
        // from it (and an unfinished restart of the log done again)
        let path = self.dir.join(PURGED_FILE);
        let mut purged = Purged {
            id,
            end_offset,
            restart: past_end,
        };
        write_purged(&path, &purged)?;
        st.purged = Some(id);
        if past_end {
            self.log.truncate_fully_and_start_at(end_offset)?;
            st.bases.clear();
            purged.restart = false;
            write_purged(&path, &purged)?;
        } else {
            self.log.delete_records_before(end_offset)?;
            let drop_n = usize::try_from(after - st.first)
                .unwrap_or(usize::MAX)
                .min(st.bases.len());
            st.bases.drain(..drop_n);
        }
        st.first = after;
        tracing::debug!(upto = %id, start_offset = end_offset, "purged the metadata log");
        Ok(())
    }
}

fn index_bound(start: Bound<&u64>, end: Bound<&u64>) -> (u64, u64) {
    let start = match start {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match end {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = index_bound(range.start_bound(), range.end_bound());
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
        self.blocking(ErrorVerb::Delete, move |inner| inner.truncate(log_id.index))
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(ErrorVerb::Delete, move |inner| inner.purge(log_id))
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
    Ok(Some(super::types::vote_for(term, who, leader >= 0)))
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

fn write_purged(path: &Path, p: &Purged) -> Result<(), LogError> {
    checkpoint::write_atomic(
        path,
        format!(
            "{} {} {}{}\n",
            p.id.leader_id.term,
            p.id.index,
            p.end_offset,
            if p.restart { " restart" } else { "" }
        )
        .as_bytes(),
    )
}

fn read_purged(path: &Path) -> Result<Option<Purged>, LogError> {
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
    let bad = || LogError::BadMetadata {
        path: path.to_path_buf(),
        reason: "quorum-purged: not `<term> <index> <offset>`".into(),
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (term, index, end, restart) = match fields.as_slice() {
        [t, i] => (*t, *i, None, false),
        [t, i, o] => (*t, *i, Some(*o), false),
        [t, i, o, "restart"] => (*t, *i, Some(*o), true),
        _ => return Err(bad()),
    };
    let term: u64 = term.parse().map_err(|_| bad())?;
    let index: u64 = index.parse().map_err(|_| bad())?;
    let end_offset = match end {
        Some(o) => o.parse().map_err(|_| bad())?,
        // the older form: offsets were indexes
        None => i64::try_from(index + 1).map_err(|_| bad())?,
    };
    Ok(Some(Purged {
        id: log_id(term, index),
        end_offset,
        restart,
    }))
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
        // the leader's entries up to 9 held 25 records: the snapshot ends at offset 25
        store.snapshot_ends().note(9, 25);
        store.purge(log_id(2, 9)).await.expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(2, 9)));
        assert_eq!(store.inner.log.log_start_offset(), 25);
        assert_eq!(store.inner.log.log_end_offset(), 25);
        let text = std::fs::read_to_string(store.dir().join(PURGED_FILE)).expect("test setup");
        assert_eq!(text, "2 9 25\n", "the restart finished");
        store
            .inner
            .append(vec![multi(2, 10, 3)])
            .expect("test setup");
        assert_eq!(store.inner.log.log_end_offset(), 28);
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 9)));
        assert_eq!(state.last_log_id, Some(log_id(2, 10)));
        assert_eq!(offsets(&store), [(10, 25)]);
        let got = store.try_get_log_entries(0..20).await.expect("test setup");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], multi(2, 10, 3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_past_the_end_after_a_restart_finds_the_snapshot_on_disk() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        store
            .inner
            .append(vec![multi(1, 0, 2)])
            .expect("test setup");
        // installed (the file is written) but not yet purged when the node stopped
        let ids: std::collections::BTreeSet<u64> = [1].into_iter().collect();
        let nodes: std::collections::BTreeMap<u64, openraft::BasicNode> =
            [(1, openraft::BasicNode::new("localhost:9093"))].into();
        let voters = crate::controller::types::StoredMembership::new(
            Some(log_id(0, 0)),
            crate::controller::types::Membership::new(vec![ids], nodes),
        );
        snapshot::write(store.dir(), &log_id(3, 6), 17, &voters, &[]).expect("test setup");
        store.purge(log_id(3, 6)).await.expect("test setup");
        assert_eq!(store.inner.log.log_start_offset(), 17);
        store
            .inner
            .append(vec![normal(3, 7, b"z")])
            .expect("test setup");
        assert_eq!(offsets(&store), [(7, 17)]);
    }

    fn multi(term: u64, index: u64, n: usize) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(proposal(
                (0..n).map(|i| Bytes::from(format!("{index}.{i}"))),
            )),
        }
    }

    /// (index, base offset) of every kept entry.
    fn offsets(store: &LogStore) -> Vec<(u64, i64)> {
        let st = store.inner.state.lock();
        st.bases
            .iter()
            .enumerate()
            .map(|(i, &b)| (st.first + i as u64, b))
            .collect()
    }

    /// (base offset, last offset, epoch) of every batch in the first segment.
    fn batches_on_disk(store: &LogStore) -> Vec<(i64, i64, i32)> {
        let seg_name = format!("{:020}.log", store.inner.log.segment_base_offsets()[0]);
        let seg = std::fs::read(store.dir().join(seg_name)).expect("test setup");
        BatchIter::new(&seg)
            .filter(|(_, h)| h.next_offset() > store.inner.log.log_start_offset())
            .map(|(_, h)| (h.base_offset, h.next_offset() - 1, h.partition_leader_epoch))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_record_entries_take_one_index_and_many_offsets() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries = vec![
            Entry {
                log_id: log_id(1, 0),
                payload: EntryPayload::Blank,
            },
            multi(1, 1, 3),
            multi(1, 2, 2),
            normal(2, 3, b"one"),
        ];
        store.inner.append(entries.clone()).expect("test setup");
        assert_eq!(
            batches_on_disk(&store),
            [(0, 0, 1), (1, 3, 1), (4, 5, 1), (6, 6, 2)]
        );
        assert_eq!(offsets(&store), [(0, 0), (1, 1), (2, 4), (3, 6)]);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(2, 3)));
        let got = store.try_get_log_entries(0..10).await.expect("test setup");
        assert_eq!(got, entries);
        let got = store.try_get_log_entries(2..=2).await.expect("test setup");
        assert_eq!(got, [entries[2].clone()]);
        let got = store.try_get_log_entries(1..3).await.expect("test setup");
        assert_eq!(got, entries[1..3]);

        // the next entry follows, at the log end
        store
            .inner
            .append(vec![multi(2, 4, 4)])
            .expect("test setup");
        assert_eq!(store.inner.log.log_end_offset(), 11);
        // an entry out of place is refused
        assert!(store.inner.append(vec![normal(2, 7, b"gap")]).is_err());
        drop(store);

        // a reopen rebuilds the map from the batches
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        assert_eq!(offsets(&store), [(0, 0), (1, 1), (2, 4), (3, 6), (4, 7)]);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(2, 4)));
        let got = store.try_get_log_entries(..).await.expect("test setup");
        assert_eq!(got.len(), 5);
        assert_eq!(got[..4], entries[..]);
        assert_eq!(got[4], multi(2, 4, 4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncation_in_the_middle_of_multi_record_entries() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries: Vec<Entry> = (0..4).map(|i| multi(1, i, 3)).collect();
        store.inner.append(entries.clone()).expect("test setup");
        assert_eq!(store.inner.log.log_end_offset(), 12);
        // from entry 2 on: offsets 6.. go
        store.truncate(log_id(1, 2)).await.expect("test setup");
        assert_eq!(store.inner.log.log_end_offset(), 6);
        assert_eq!(offsets(&store), [(0, 0), (1, 3)]);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(1, 1)));
        // truncating past the end does nothing
        store.truncate(log_id(1, 9)).await.expect("test setup");
        assert_eq!(offsets(&store), [(0, 0), (1, 3)]);
        store
            .inner
            .append(vec![multi(2, 2, 2), normal(2, 3, b"x")])
            .expect("test setup");
        assert_eq!(
            batches_on_disk(&store),
            [(0, 2, 1), (3, 5, 1), (6, 7, 2), (8, 8, 2)]
        );
        drop(store);
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let got = store.try_get_log_entries(..).await.expect("test setup");
        assert_eq!(
            got,
            [
                entries[0].clone(),
                entries[1].clone(),
                multi(2, 2, 2),
                normal(2, 3, b"x")
            ]
        );
        // truncating everything leaves the log empty at its start
        store.truncate(log_id(1, 0)).await.expect("test setup");
        assert_eq!(store.inner.log.log_end_offset(), 0);
        assert_eq!(
            store.get_log_state().await.expect("test setup").last_log_id,
            None
        );
        store
            .inner
            .append(vec![multi(3, 0, 2)])
            .expect("test setup");
        assert_eq!(offsets(&store), [(0, 0)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_in_the_middle_of_multi_record_entries() {
        let tmp = tempfile::tempdir().expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries: Vec<Entry> = (0..5).map(|i| multi(1, i, i as usize + 1)).collect();
        store.inner.append(entries.clone()).expect("test setup");
        // bases 0, 1, 3, 6, 10; end 15
        store.purge(log_id(1, 2)).await.expect("test setup");
        assert_eq!(store.inner.log.log_start_offset(), 6);
        assert_eq!(offsets(&store), [(3, 6), (4, 10)]);
        let text = std::fs::read_to_string(store.dir().join(PURGED_FILE)).expect("test setup");
        assert_eq!(text, "1 2 6\n");
        // purging what is gone already does nothing
        store.purge(log_id(1, 1)).await.expect("test setup");
        assert_eq!(offsets(&store), [(3, 6), (4, 10)]);
        // truncation below the kept entries is refused
        assert!(store.truncate(log_id(1, 1)).await.is_err());
        let got = store.try_get_log_entries(0..10).await.expect("test setup");
        assert_eq!(got, entries[3..]);
        drop(store);

        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        assert_eq!(offsets(&store), [(3, 6), (4, 10)]);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        assert_eq!(state.last_log_id, Some(log_id(1, 4)));
        assert_eq!(
            store.try_get_log_entries(0..10).await.expect("test setup"),
            entries[3..]
        );
        // purging every kept entry leaves the log empty at their end
        store.purge(log_id(1, 4)).await.expect("test setup");
        assert_eq!(store.inner.log.log_start_offset(), 15);
        assert_eq!(offsets(&store), []);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(1, 4)));
        store
            .inner
            .append(vec![multi(2, 5, 2)])
            .expect("test setup");
        drop(store);
        let store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        assert_eq!(offsets(&store), [(5, 15)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_of_the_log_cut_short_by_a_crash_is_finished_at_open() {
        let tmp = tempfile::tempdir().expect("test setup");
        let store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        // a divergent tail longer than the snapshot's: its end is past the snapshot's
        let entries: Vec<Entry> = (0..4).map(|i| multi(1, i, 5)).collect();
        store.inner.append(entries).expect("test setup");
        let dir = store.dir().to_path_buf();
        drop(store);
        // the crash: the purged file written, the log not yet restarted
        std::fs::write(dir.join(PURGED_FILE), "2 5 12 restart\n").expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        assert_eq!(store.inner.log.log_start_offset(), 12);
        assert_eq!(store.inner.log.log_end_offset(), 12);
        assert_eq!(offsets(&store), []);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_log_id, Some(log_id(2, 5)));
        let text = std::fs::read_to_string(dir.join(PURGED_FILE)).expect("test setup");
        assert_eq!(text, "2 5 12\n");
        store
            .inner
            .append(vec![multi(2, 6, 2)])
            .expect("test setup");
        assert_eq!(offsets(&store), [(6, 12)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_older_purged_file_meant_offsets_were_indexes() {
        let tmp = tempfile::tempdir().expect("test setup");
        let store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        let entries: Vec<Entry> = (0..5).map(|i| normal(1, i, b"x")).collect();
        store.inner.append(entries).expect("test setup");
        let dir = store.dir().to_path_buf();
        drop(store);
        std::fs::write(dir.join(PURGED_FILE), "1 2\n").expect("test setup");
        let mut store = LogStore::open(tmp.path(), vec![1]).expect("test setup");
        assert_eq!(offsets(&store), [(3, 3), (4, 4)]);
        let state = store.get_log_state().await.expect("test setup");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
    }
}
