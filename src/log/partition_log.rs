//! One partition's log: its segments, offsets and leader epochs (Kafka's `UnifiedLog`).
//!
//! Invariant: `log_start_offset <= log_end_offset`, and every offset in
//! `[log_start_offset, log_end_offset)` that has a record lives in exactly one segment.
//! The high watermark is not the log's business: the partition layer keeps it, and every
//! read and offset lookup takes the offset it must stop before.
//!
//! Concurrency: appends take the state write lock (so they are serialized per partition)
//! for the validation-free part only: offset assignment, the `write`, index updates.
//! Reads take the read lock just long enough to pick a segment and a start position, then
//! read the file without any lock, below the size published by the last append, so they
//! never see a half-written batch. fsync happens outside the state lock: concurrent
//! `acks=all` appenders wait on `flush_lock`, and whoever holds it syncs everything
//! written so far, so one fdatasync covers them all (group commit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};
use uuid::Uuid;

use super::batch::{self, BatchHeader, TimestampType, HEADER_SIZE, NO_TIMESTAMP};
use super::checkpoint;
use super::producer_state::{self, Check, CompletedTxn, PendingBatches, ProducerStates, TxnMarker};
use super::records;
use super::segment::{self, FileRange, LogSegment, PinnedFile, ReadBuf, ScanStart, SegmentFile};
use super::txn_index::{self, AbortedTxn};
use super::validate;
use super::{io_err, now_ms, LogConfig, LogError, TopicPartition};

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batches under LogAppendTime, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was a producer's retry of one already in the log: the offsets are the
    /// original ones and nothing was written.
    pub duplicate: bool,
    /// The leader epoch the append was made under (for a duplicate, this append's, not
    /// the original's).
    pub leader_epoch: i32,
}

/// Whole batches read from the log, with the offsets a Fetch response carries. `R` is
/// [`Bytes`] from [`PartitionLog::read`], [`Records`] from [`PartitionLog::read_records`].
#[derive(Clone, Debug)]
pub struct FetchData<R = Bytes> {
    /// Whole record batches, back to back, exactly as stored.
    pub records: R,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Whole record batches as a read found them: in memory, or left in the segment file for
/// a sender that can copy file to socket in the kernel (`sendfile`).
#[derive(Clone, Debug)]
pub enum Records {
    /// Read into memory: small sections, and batches that had to be read to check their
    /// CRC (the first read after the log was opened).
    Bytes(Bytes),
    /// Still in the file: at least [`FILE_RANGE_MIN`] bytes of already checked batches.
    File(FileRange),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::File(r) => r.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes, reading a file range into memory.
    pub fn into_bytes(self) -> Result<Bytes, LogError> {
        match self {
            Records::Bytes(b) => Ok(b),
            Records::File(r) => r.read(),
        }
    }
}

/// The smallest section [`PartitionLog::read_records`] leaves in the file: below it, one
/// `pread` into a pooled buffer costs less than walking the batch headers does.
pub const FILE_RANGE_MIN: usize = 16 * 1024;

/// Batches smaller than this are read into memory: leaving them in the file would take one
/// header `pread` per batch to find where the section ends, more than reading them costs.
const FILE_RANGE_MIN_BATCH: usize = 4 * 1024;

/// Most batch headers walked for one file range; the section ends there (the client
/// fetches the rest next).
const FILE_RANGE_MAX_BATCHES: usize = 1024;

/// What ListOffsets asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// -2: the log start offset.
    Earliest,
    /// -1: the high watermark.
    Latest,
    /// -3: the record with the largest timestamp.
    MaxTimestamp,
    /// -4: the first offset on local disk (the log start: there is no tiered storage).
    EarliestLocal,
    /// >= 0: the first record whose timestamp is at or after this.
    Timestamp(i64),
}

/// An offset with its timestamp (-1 if not applicable) and leader epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub offset: i64,
    pub timestamp: i64,
    pub leader_epoch: Option<i32>,
}

/// How the last process left this log, from the log dir's checkpoints.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// The clean shutdown marker was present: trust the files and skip recovery.
    pub clean_shutdown: bool,
    /// Everything below this offset was fsynced (recovery scans from here).
    pub recovery_point: i64,
    pub log_start_offset: i64,
}

/// What opening the log found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub segments: usize,
    pub recovered_segments: usize,
    pub truncated_bytes: u64,
    pub deleted_segments: usize,
}

struct LogState {
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// (epoch, start offset), both increasing.
    leader_epochs: Vec<(i32, i64)>,
    unflushed_messages: u64,
    first_unflushed_ms: Option<i64>,
    /// Idempotent producers' epochs and recent sequences, as of `log_end_offset`.
    producers: ProducerStates,
    /// Bumped whenever closed segments may change under a reader (truncation, deletion):
    /// the cleaner's swap checks it did not move while it read them.
    generation: u64,
}

impl LogState {
    /// The active segment. Invariant: a log always has one (`open` creates it, and
    /// nothing removes the last segment); its absence is an internal error, not a panic.
    fn active(&mut self) -> Result<&mut LogSegment, LogError> {
        self.segments
            .values_mut()
            .next_back()
            .ok_or_else(no_active_segment)
    }

    fn active_ref(&self) -> Result<&LogSegment, LogError> {
        self.segments
            .values()
            .next_back()
            .ok_or_else(no_active_segment)
    }

    fn epoch_for(&self, offset: i64) -> Option<i32> {
        epoch_at(&self.leader_epochs, offset)
    }
}

/// A batch's position in the appended bytes and its header as written to the log.
type RewrittenHeader = (usize, [u8; HEADER_SIZE]);

/// A segment file (held open) and the byte range to scan in it.
type ScanRange = (PinnedFile, u64, u64);

/// What an offset lookup needs of the log, copied out so it can read without the lock.
struct LogView {
    log_start_offset: i64,
    /// Lookups see only records below this offset (the high watermark, for consumers).
    max_offset: i64,
    leader_epochs: Vec<(i32, i64)>,
}

impl LogView {
    fn epoch_for(&self, offset: i64) -> Option<i32> {
        epoch_at(&self.leader_epochs, offset)
    }

    fn at(&self, offset: i64) -> TimestampOffset {
        TimestampOffset {
            offset,
            timestamp: NO_TIMESTAMP,
            leader_epoch: self.epoch_for(offset),
        }
    }

    /// Finds the first batch from `from` matching `batch_ok`, then its first record (at or
    /// after the log start and below the high watermark) whose timestamp matches `ts_ok`.
    fn first_record_at(
        &self,
        file: &SegmentFile,
        mut from: u64,
        end: u64,
        mut batch_ok: impl FnMut(&BatchHeader) -> bool,
        ts_ok: impl Fn(i64) -> bool,
    ) -> Result<Option<TimestampOffset>, LogError> {
        while let Some((pos, h)) = file.seek(from, end, &mut batch_ok)? {
            if h.base_offset >= self.max_offset {
                return Ok(None);
            }
            let size = h.size().unwrap_or(0);
            let mut buf = vec![0u8; size];
            if file.read_at(pos, &mut buf)? < size || file.verify(pos, &buf) < size {
                return Err(file.corrupt(pos, "batch failed its integrity check"));
            }
            let hit = records::find_record(&buf, |offset, ts| {
                offset >= self.log_start_offset && offset < self.max_offset && ts_ok(ts)
            })?;
            if let Some((offset, timestamp)) = hit {
                return Ok(Some(TimestampOffset {
                    offset,
                    timestamp,
                    leader_epoch: self.epoch_for(offset),
                }));
            }
            from = pos + size as u64;
        }
        Ok(None)
    }
}

/// A partition's log. Cheap to share: wrap it in an `Arc`.
pub struct PartitionLog {
    dir: PathBuf,
    tp: TopicPartition,
    topic_id: Option<Uuid>,
    config: RwLock<LogConfig>,
    state: RwLock<LogState>,
    /// Held while fsyncing; waiters find their data synced by the holder (group commit).
    flush_lock: Mutex<()>,
    /// Everything below this offset is durable: the recovery point.
    flushed_offset: AtomicI64,
    /// Mirror of the log end offset, readable without the lock.
    log_end: AtomicI64,
    /// Set after an fsync failed or a write could not be undone: from then on nothing more
    /// is appended or acknowledged (after a failed fsync the kernel may have dropped dirty
    /// pages, so a later successful one proves nothing).
    offline: std::sync::atomic::AtomicBool,
    /// Position of the last damage a read logged (so a retrying consumer logs it once).
    damage_warned: std::sync::atomic::AtomicU64,
    /// Set when the log is deleted: its directory is no longer its own.
    retired: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("tp", &self.tp)
            .field("log_end_offset", &self.log_end_offset())
            .finish()
    }
}

impl PartitionLog {
    /// Opens the partition directory `dir` (creating it when missing), recovering from
    /// a crash when `opts.clean_shutdown` is false. `topic_id` is written to
    /// `partition.metadata` if the directory has none.
    pub fn open(
        dir: PathBuf,
        tp: TopicPartition,
        config: LogConfig,
        topic_id: Option<Uuid>,
        opts: LoadOptions,
    ) -> Result<(Self, LoadReport), LogError> {
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let meta_path = dir.join(checkpoint::PARTITION_METADATA_FILE);
        let topic_id = match checkpoint::read_partition_metadata(&meta_path) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                if let Some(id) = topic_id {
                    checkpoint::write_partition_metadata(&meta_path, id)?;
                }
                topic_id
            }
            Err(LogError::BadMetadata { reason, .. }) => {
                warn!(partition = %tp, file = %meta_path.display(), %reason, replaced_by = ?topic_id,
                    "unreadable partition.metadata");
                if let Some(id) = topic_id {
                    checkpoint::write_partition_metadata(&meta_path, id)?;
                }
                topic_id
            }
            Err(e) => return Err(e),
        };

        // a cleaning interrupted after its commit point is finished first
        super::cleaner::complete_swaps(&dir, &tp, config.index_interval_bytes)?;
        let mut report = LoadReport::default();
        let mut bases = Vec::new();
        let mut indexed = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = segment::parse_base_offset(name, "log") {
                bases.push(base);
            } else if let Some(base) = segment::parse_base_offset(name, "index")
                .or_else(|| segment::parse_base_offset(name, "timeindex"))
                .or_else(|| segment::parse_base_offset(name, txn_index::SUFFIX))
            {
                indexed.push((base, entry.path()));
            } else if name.ends_with(".deleted") || name.ends_with(".cleaned") {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        bases.sort_unstable();
        // an index whose segment is gone (a crash while a swap deleted the segments it
        // replaced) is deleted, as Kafka's loader deletes orphaned index files
        for (base, path) in indexed {
            if bases.binary_search(&base).is_err() {
                warn!(partition = %tp, file = %path.display(), "deleted an index file without its segment");
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }

        let mut segments = BTreeMap::new();
        let mut needs_recovery = !opts.clean_shutdown;
        let first_to_recover = bases
            .iter()
            .rev()
            .find(|&&b| b <= opts.recovery_point)
            .copied()
            .unwrap_or(i64::MIN);
        let mut cut = false;
        let mut first_recovered: Option<i64> = None;
        for base in bases {
            let mut seg = LogSegment::open_files(&dir, base)?;
            if cut {
                // after a torn or corrupt point every later segment is unreliable
                seg.delete_files()?;
                report.deleted_segments += 1;
                warn!(partition = %tp, base_offset = base, "deleted a segment after a truncated one");
                continue;
            }
            let recover = needs_recovery && base >= first_to_recover;
            let loaded = if recover { None } else { Some(seg.load_tail()) };
            if let Some(Err(e)) = &loaded {
                warn!(partition = %tp, base_offset = base, cause = %e,
                    "damaged segment or index found on open; recovering from here on");
                needs_recovery = true;
            }
            if !matches!(loaded, Some(Ok(()))) {
                first_recovered.get_or_insert(base);
                let found = seg.recover(config.index_interval_bytes)?;
                seg.sync_all()?;
                report.recovered_segments += 1;
                report.truncated_bytes += found.truncated_bytes;
                for &(position, found, restored) in &found.repaired {
                    warn!(partition = %tp, base_offset = base, offset = restored, found, position,
                        "restored a batch's changed base offset (not covered by its CRC) from its neighbours");
                }
                for &(from, to) in &found.gaps {
                    warn!(partition = %tp, base_offset = base, from, to,
                        "offsets missing between batches (only a compacted log has such gaps)");
                }
                if let Some(c) = &found.cut {
                    warn!(partition = %tp, base_offset = base, offset = c.offset, position = c.position,
                        bytes = found.truncated_bytes, reason = %c.reason,
                        "truncated the segment at a torn or damaged batch");
                    cut = true;
                }
            }
            segments.insert(base, seg);
        }
        check_segment_offsets(
            &tp,
            &mut segments,
            config.index_interval_bytes,
            config.cleanup_policy.compact,
        )?;
        if segments.is_empty() {
            let base = opts.log_start_offset.max(0);
            segments.insert(base, LogSegment::create(&dir, base)?);
        }
        report.segments = segments.len();
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let log_end_offset = segments
            .values()
            .next_back()
            .map_or(0, LogSegment::next_offset);
        let log_start_offset = opts.log_start_offset.max(first_base).min(log_end_offset);

        let epoch_path = dir.join(checkpoint::LEADER_EPOCH_FILE);
        let (mut leader_epochs, mut rewrite) = match checkpoint::read_leader_epochs(&epoch_path) {
            Ok(epochs) => (epochs, false),
            Err(LogError::BadMetadata { reason, .. }) => {
                // Kafka takes the log dir offline here; every batch header carries its
                // leader epoch, so the cache can be rebuilt from the log instead
                warn!(partition = %tp, file = %epoch_path.display(), %reason,
                    "unreadable leader-epoch-checkpoint; rebuilding it from the batch headers");
                (epochs_from_batches(&segments, log_start_offset)?, true)
            }
            Err(e) => return Err(e),
        };
        let before = leader_epochs.len();
        leader_epochs.retain(|&(_, start)| start < log_end_offset);
        rewrite |= leader_epochs.len() != before;
        if rewrite {
            checkpoint::write_leader_epochs(&epoch_path, &leader_epochs)?;
        }
        if report.recovered_segments > 0 {
            info!(partition = %tp, ?report, log_end_offset, "recovered log");
        }
        // a transaction index never holds entries past the log end (a crash can leave
        // an entry whose marker did not survive)
        for &base in segments.keys() {
            txn_index::truncate(&dir, base, log_end_offset)?;
        }
        let producers = load_producer_states(
            &dir,
            &segments,
            log_start_offset,
            log_end_offset,
            opts.clean_shutdown,
            first_recovered,
        )?;
        let log = PartitionLog {
            dir,
            tp,
            topic_id,
            config: RwLock::new(config),
            state: RwLock::new(LogState {
                segments,
                log_start_offset,
                log_end_offset,
                leader_epochs,
                unflushed_messages: 0,
                first_unflushed_ms: None,
                producers,
                generation: 0,
            }),
            flush_lock: Mutex::new(()),
            flushed_offset: AtomicI64::new(log_end_offset),
            log_end: AtomicI64::new(log_end_offset),
            offline: std::sync::atomic::AtomicBool::new(false),
            damage_warned: std::sync::atomic::AtomicU64::new(u64::MAX),
            retired: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((log, report))
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn topic_id(&self) -> Option<Uuid> {
        self.topic_id
    }
    pub fn config(&self) -> LogConfig {
        *self.config.read()
    }
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }
    pub fn log_start_offset(&self) -> i64 {
        self.state.read().log_start_offset
    }
    /// Everything below this offset is on disk.
    pub fn recovery_point(&self) -> i64 {
        self.flushed_offset.load(Ordering::Acquire)
    }
    pub fn size_in_bytes(&self) -> u64 {
        self.state
            .read()
            .segments
            .values()
            .map(LogSegment::size)
            .sum()
    }
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.state.read().segments.keys().copied().collect()
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.state.read().leader_epochs.last().map(|&(e, _)| e)
    }
    pub fn leader_epochs(&self) -> Vec<(i32, i64)> {
        self.state.read().leader_epochs.clone()
    }

    /// Validates a producer's batches, assigns offsets (rewriting the headers in place),
    /// and writes them. Nothing is written if any batch is invalid. The data is in the OS
    /// page cache when this returns; call [`Self::flush_to`] before acknowledging `acks=all`.
    pub fn append(&self, records: &mut [u8], leader_epoch: i32) -> Result<AppendInfo, LogError> {
        let (info, headers) = self.append_batches(records, leader_epoch, Mode::Client)?;
        for (position, header) in headers {
            if let Some(dst) = records.get_mut(position..position + HEADER_SIZE) {
                dst.copy_from_slice(&header);
            }
        }
        Ok(info)
    }

    /// [`Self::append`] for bytes the caller cannot change, such as a Produce request's
    /// shared buffer: each batch goes to the file as its rewritten header followed by its
    /// body straight from `records` (one vectored write), so the records are not copied.
    /// `records` is left as it was.
    pub fn append_shared(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo, LogError> {
        self.append_batches(records, leader_epoch, Mode::Client)
            .map(|(info, _)| info)
    }

    /// [`Self::append_shared`] for batches a coordinator writes to its internal topic
    /// (Kafka's `AppendOrigin.COORDINATOR`): a batch with a producer id needs no sequence
    /// (the transaction coordinator's offset commits carry -1) and is checked for its
    /// epoch and transaction state only; a transactional one opens or continues the
    /// producer's transaction.
    pub fn append_coordinator(
        &self,
        records: &[u8],
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        self.append_batches(records, leader_epoch, Mode::Coordinator)
            .map(|(info, _)| info)
    }

    /// Appends one control batch (Kafka's control record: key = version i16 0, type i16
    /// (0 ABORT, 1 COMMIT); value = version i16 0, coordinator epoch i32; batch attributes
    /// transactional|control, the producer id and epoch, base sequence -1), completing the
    /// producer's open transaction (if any: a marker for a producer with no open
    /// transaction is still written, as Kafka does). Checks as Kafka's
    /// `ProducerAppendInfo.appendEndTxnMarker`: marker epoch < producer's epoch ->
    /// INVALID_PRODUCER_EPOCH; coordinator epoch < the stored one ->
    /// TRANSACTION_COORDINATOR_FENCED. An ABORT adds an [`AbortedTxn`] to the active
    /// segment's `.txnindex`. Returns the marker's offset.
    pub fn append_marker(
        &self,
        marker: &TxnMarker,
        leader_epoch: i32,
        timestamp: i64,
    ) -> Result<i64, LogError> {
        let batch = encode_marker(marker, timestamp);
        self.append_batches(&batch, leader_epoch, Mode::Marker(*marker))
            .map(|(info, _)| info.base_offset)
    }

    /// The first offset of the oldest transaction that is open, or completed with its
    /// marker at or above `high_watermark` (Kafka's `firstUnstableOffset`, unreplicated
    /// transactions included); `None` when there is none.
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        self.state
            .read()
            .producers
            .first_unstable_offset(high_watermark)
    }

    /// Forgets completed transactions whose marker is below `high_watermark` (the
    /// partition calls this when its high watermark moves).
    pub fn on_high_watermark(&self, high_watermark: i64) {
        let st = self.state.upgradable_read();
        if st.producers.has_replicated(high_watermark) {
            parking_lot::RwLockUpgradableReadGuard::upgrade(st)
                .producers
                .on_high_watermark(high_watermark);
        }
    }

    /// Aborted transactions overlapping `[from, to)` (`last_offset >= from && first_offset
    /// < to`), from the `.txnindex` files of the segments that can hold them, oldest first
    /// (Kafka's `collectAbortedTransactions`): from the segment holding `from` on, until a
    /// segment's entries show that no transaction open before `to` is left to find.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Result<Vec<AbortedTxn>, LogError> {
        // the files are read under the state lock: a cleaner's swap (which holds it for
        // writing) moves entries between them, and a read across it could miss some
        let st = self.state.read();
        let first = st
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(&b, _)| b);
        let bases: Vec<i64> = st.segments.range(first..).map(|(&b, _)| b).collect();
        let mut out = Vec::new();
        for base in bases {
            let entries = txn_index::read(&self.dir, base)?;
            let mut complete = false;
            for t in entries {
                if t.last_offset >= from && t.first_offset < to {
                    out.push(t);
                }
                complete |= t.last_stable_offset >= to;
            }
            if complete {
                break;
            }
        }
        Ok(out)
    }

    /// [`Self::append_shared`] for batches the broker writes itself (the metadata quorum's
    /// log): the same checks, except that control batches are allowed.
    pub fn append_internal(
        &self,
        records: &[u8],
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        self.append_batches(records, leader_epoch, Mode::Internal)
            .map(|(info, _)| info)
    }

    /// Appends batches replicated from the partition's leader exactly as they are (Kafka's
    /// `appendAsFollower`): their offsets and leader epochs are the leader's, nothing is
    /// rewritten. Each batch is checked whole (length, magic, CRC) and they must follow one
    /// another from the log end on (a gap is allowed, as compaction leaves them; an overlap
    /// is refused). A trailing partial batch (a fetch cut at its byte limit) is left for the
    /// next fetch. The epoch cache takes every new epoch the batches carry; producer state
    /// is replayed without checks, as the leader made them. Returns the new log end offset
    /// (unchanged when nothing whole was given).
    pub fn append_as_follower(&self, records: &[u8]) -> Result<i64, LogError> {
        self.check_online()?;
        let mut batches: Vec<RewrittenHeader> = Vec::new();
        let mut parsed: Vec<BatchHeader> = Vec::new();
        let mut iter = crate::log::batch::BatchIter::new(records);
        for (at, h) in iter.by_ref() {
            let size = h.size().unwrap_or(0);
            let batch = records
                .get(at..at + size)
                .ok_or_else(|| LogError::Internal("a batch out of range".into()))?;
            crate::log::batch::check_integrity(batch)?;
            let header: [u8; HEADER_SIZE] = batch
                .get(..HEADER_SIZE)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| LogError::Corrupt("batch shorter than its header".into()))?;
            if h.last_offset_delta < 0 {
                return Err(LogError::Corrupt(format!(
                    "replicated batch at {} has a negative offset delta",
                    h.base_offset
                )));
            }
            if let Some(prev) = parsed.last() {
                if h.base_offset < prev.next_offset() {
                    return Err(LogError::Corrupt(format!(
                        "replicated batches out of order: {} after {}",
                        h.base_offset,
                        prev.last_offset()
                    )));
                }
            }
            batches.push((at, header));
            parsed.push(h);
        }
        let used = iter.position();
        let (Some(first), Some(last)) = (parsed.first(), parsed.last()) else {
            return Ok(self.log_end_offset());
        };
        let bytes = records
            .get(..used)
            .ok_or_else(|| LogError::Internal("batches past the buffer".into()))?;
        let config = self.config();
        let now = now_ms();
        let mut st = self.state.write();
        if first.base_offset < st.log_end_offset {
            return Err(LogError::Corrupt(format!(
                "replicated batch at {} overlaps the log end {}",
                first.base_offset, st.log_end_offset
            )));
        }
        let max_timestamp = parsed.iter().map(|h| h.max_timestamp).max().unwrap_or(-1);
        self.maybe_roll(
            &mut st,
            used as u64,
            last.last_offset(),
            (now, max_timestamp),
            &config,
        )?;
        let mut epochs_changed = false;
        for h in &parsed {
            if h.partition_leader_epoch >= 0
                && st
                    .leader_epochs
                    .last()
                    .is_none_or(|&(e, _)| h.partition_leader_epoch > e)
            {
                st.leader_epochs
                    .push((h.partition_leader_epoch, h.base_offset));
                epochs_changed = true;
            }
        }
        if epochs_changed {
            self.write_epochs(&st)?;
        }
        self.write_active(&mut st, bytes, &batches, config.index_interval_bytes)?;
        let next = last.next_offset();
        let mut aborted = Vec::new();
        for (h, &(at, _)) in parsed.iter().zip(&batches) {
            let marker = if h.is_control() && h.producer_id >= 0 {
                records
                    .get(at..at + h.size().unwrap_or(0))
                    .and_then(marker_of)
            } else {
                None
            };
            if let Some(c) = st.producers.replay(h, marker) {
                if c.aborted {
                    aborted.push(st.producers.aborted_entry(&c));
                }
            }
        }
        self.index_aborted(&st, &aborted)?;
        st.log_end_offset = next;
        self.log_end.store(next, Ordering::Release);
        st.unflushed_messages += parsed
            .iter()
            .map(|h| h.records_count.max(0) as u64)
            .sum::<u64>();
        st.first_unflushed_ms.get_or_insert(now);
        Ok(next)
    }

    /// The append itself; also returns each written batch's position in `records` and its
    /// header as written (none for a duplicate).
    fn append_batches(
        &self,
        records: &[u8],
        leader_epoch: i32,
        mode: Mode,
    ) -> Result<(AppendInfo, Vec<RewrittenHeader>), LogError> {
        self.check_online()?;
        let allow_control = matches!(mode, Mode::Internal | Mode::Marker(_));
        let config = self.config();
        let validated = validate::validate_append_with(
            records,
            &validate::Rules {
                max_message_bytes: config.max_message_bytes,
                allow_control,
                allow_no_sequence: mode == Mode::Coordinator,
                // keys required of every record on a compacted topic, but not of the
                // broker's own batches (the metadata quorum's have none)
                compacted: (config.cleanup_policy.compact && !allow_control).then_some(&self.tp),
            },
        )?;
        if records.len() as u64 > config.segment_bytes {
            return Err(LogError::RecordListTooLarge {
                size: records.len(),
                max: config.segment_bytes,
            });
        }
        let now = now_ms();
        let mut st = self.state.write();
        let base_offset = st.log_end_offset;
        let mut next = base_offset;
        let mut headers = Vec::with_capacity(validated.len());
        let mut messages = 0u64;
        let mut max_timestamp = NO_TIMESTAMP;
        let mut producers = PendingBatches::default();
        for v in &validated {
            let check = match mode {
                Mode::Marker(m) => {
                    st.producers.check_marker(&m)?;
                    producers.push_marker(&m, next, v.header.max_timestamp);
                    Check::Untracked
                }
                _ => st
                    .producers
                    .check_origin(&v.header, &producers, mode == Mode::Coordinator)?,
            };
            if let Check::Duplicate(dup) = check {
                // a retry of a batch already in the log: its original offsets, nothing written
                let info = AppendInfo {
                    base_offset: dup.first_offset,
                    last_offset: dup.last_offset,
                    log_append_time: match config.timestamp_type {
                        TimestampType::LogAppendTime => dup.timestamp,
                        TimestampType::CreateTime => -1,
                    },
                    log_start_offset: st.log_start_offset,
                    duplicate: true,
                    leader_epoch,
                };
                return Ok((info, Vec::new()));
            }
            let bytes = records
                .get(v.position..v.position + v.size)
                .ok_or_else(|| LogError::Internal("a validated batch out of range".into()))?;
            let mut header: [u8; HEADER_SIZE] = bytes
                .get(..HEADER_SIZE)
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| LogError::Internal("a validated batch without header".into()))?;
            let ts = validate::assign(
                &mut header,
                bytes,
                v,
                next,
                leader_epoch,
                config.timestamp_type,
                now,
            );
            max_timestamp = max_timestamp.max(ts);
            let h =
                BatchHeader::parse(&header).ok_or_else(|| LogError::Internal("header".into()))?;
            if check == Check::Append {
                producers.push(&h, next);
            }
            next = h.next_offset();
            messages += h.records_count as u64;
            headers.push((v.position, header));
        }
        self.maybe_roll(
            &mut st,
            records.len() as u64,
            next - 1,
            (now, max_timestamp),
            &config,
        )?;
        if st
            .leader_epochs
            .last()
            .is_none_or(|&(e, _)| leader_epoch > e)
        {
            st.leader_epochs.push((leader_epoch, base_offset));
            self.write_epochs(&st)?;
        }
        self.write_active(&mut st, records, &headers, config.index_interval_bytes)?;
        st.log_end_offset = next;
        let completed = st.producers.commit(producers, next);
        self.log_end.store(next, Ordering::Release);
        self.index_completed(&st, &completed)?;
        st.unflushed_messages += messages;
        st.first_unflushed_ms.get_or_insert(now);
        let flush_now = config
            .flush_messages
            .is_some_and(|n| st.unflushed_messages >= n);
        let log_start_offset = st.log_start_offset;
        drop(st);
        if flush_now {
            self.flush_to(next)?;
        }
        let info = AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: match config.timestamp_type {
                TimestampType::LogAppendTime => now,
                TimestampType::CreateTime => -1,
            },
            log_start_offset,
            duplicate: false,
            leader_epoch,
        };
        Ok((info, headers))
    }

    /// Writes whole batches (their headers as given, bodies from `bytes`) to the active
    /// segment; a failure that leaves the file unknown takes the log offline.
    fn write_active(
        &self,
        st: &mut LogState,
        bytes: &[u8],
        batches: &[RewrittenHeader],
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        let written = st.active()?.append(bytes, batches, index_interval_bytes);
        if let Err(e) = &written {
            if matches!(e, LogError::Offline(_)) {
                self.take_offline(e);
            }
        }
        written
    }

    /// Adds the aborted ones of `completed` to the active segment's `.txnindex`.
    fn index_completed(&self, st: &LogState, completed: &[CompletedTxn]) -> Result<(), LogError> {
        let aborted: Vec<AbortedTxn> = completed
            .iter()
            .filter(|c| c.aborted)
            .map(|c| st.producers.aborted_entry(c))
            .collect();
        self.index_aborted(st, &aborted)
    }

    /// Appends `aborted` to the active segment's `.txnindex`. The markers are in the log
    /// already: an index that cannot be written takes the log offline (recovery rebuilds
    /// it from the markers).
    fn index_aborted(&self, st: &LogState, aborted: &[AbortedTxn]) -> Result<(), LogError> {
        if aborted.is_empty() {
            return Ok(());
        }
        let base = st.active_ref()?.base_offset();
        let written = txn_index::append(&self.dir, base, aborted);
        if let Err(e) = &written {
            self.take_offline(e);
        }
        written
    }

    /// Rewrites `leader-epoch-checkpoint` from the epoch cache.
    fn write_epochs(&self, st: &LogState) -> Result<(), LogError> {
        checkpoint::write_leader_epochs(
            &self.dir.join(checkpoint::LEADER_EPOCH_FILE),
            &st.leader_epochs,
        )
    }

    /// Rolls to a new segment when the next append would not fit Kafka's rules:
    /// `segment.bytes`, `segment.ms`, a full index, or relative offsets overflowing.
    fn maybe_roll(
        &self,
        st: &mut LogState,
        append_bytes: u64,
        last_offset: i64,
        (now, max_timestamp): (i64, i64),
        config: &LogConfig,
    ) -> Result<(), LogError> {
        let next_base = st.log_end_offset;
        let active = st.active()?;
        if active.is_empty() {
            return Ok(());
        }
        let max_entries = (config.segment_index_bytes / 8).max(2) as usize;
        let max_time_entries = (config.segment_index_bytes / 12).max(2) as usize;
        let should_roll = active.size() + append_bytes > config.segment_bytes
            || active.time_waited_for_roll(now, max_timestamp) > config.max_segment_ms()
            || active.offset_index().len() >= max_entries - 1
            || active.time_index().len() >= max_time_entries - 1
            || last_offset - active.base_offset() > i64::from(i32::MAX);
        if should_roll {
            self.roll_locked(st, next_base)?;
        }
        Ok(())
    }

    fn roll_locked(&self, st: &mut LogState, next_base: i64) -> Result<(), LogError> {
        st.active()?.seal()?;
        // the producer state as of the new segment's base, so recovery replays one segment
        producer_state::write_snapshot(&self.dir, next_base, &st.producers)?;
        let seg = LogSegment::create(&self.dir, next_base)?;
        checkpoint::sync_dir(&self.dir)?;
        st.segments.insert(next_base, seg);
        info!(partition = %self.tp, base_offset = next_base, "rolled new segment");
        Ok(())
    }

    /// Starts a new segment at the log end offset (no-op if the active one is empty).
    pub fn roll(&self) -> Result<(), LogError> {
        let mut st = self.state.write();
        if st.active_ref()?.is_empty() {
            return Ok(());
        }
        let next = st.log_end_offset;
        self.roll_locked(&mut st, next)
    }

    fn check_online(&self) -> Result<(), LogError> {
        if self.offline.load(Ordering::Acquire) {
            return Err(LogError::Offline(format!("partition {}", self.tp)));
        }
        Ok(())
    }

    fn take_offline(&self, cause: &LogError) {
        if !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(partition = %self.tp, %cause, "log offline: no more appends or acknowledgements");
        }
    }

    /// Makes everything below `offset` durable. Concurrent callers share one fdatasync.
    pub fn flush_to(&self, offset: i64) -> Result<(), LogError> {
        self.check_online()?;
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _guard = self.flush_lock.lock();
        self.check_online()?;
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(()); // the previous holder's sync covered us
        }
        // Rolled segments were synced when sealed: only the active file needs it. Pinned,
        // so the open-file budget cannot close it before the sync.
        let (target, file) = {
            let st = self.state.read();
            (st.log_end_offset, st.active_ref()?.file().pin()?)
        };
        if let Err(e) = file.sync_data() {
            self.take_offline(&e);
            return Err(e);
        }
        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
        let mut st = self.state.write();
        if st.log_end_offset == target {
            st.unflushed_messages = 0;
            st.first_unflushed_ms = None;
        }
        Ok(())
    }

    /// Flushes everything appended so far.
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_to(self.log_end_offset())
    }

    /// Flushes if `flush.ms` says unflushed data is too old (call it periodically).
    pub fn flush_if_due(&self, now: i64) -> Result<(), LogError> {
        let due = {
            let st = self.state.read();
            let flush_ms = self.config.read().flush_ms;
            matches!((flush_ms, st.first_unflushed_ms), (Some(ms), Some(first)) if now - first >= ms)
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that contains `fetch_offset`, up to
    /// `max_bytes` and never a batch at or past `max_offset` (the partition layer's bound:
    /// the high watermark for consumers, the log end for followers; anything larger means
    /// the log end). With `min_one_batch`, the first batch
    /// is returned whole even if it is larger than `max_bytes` (as Kafka does for the first
    /// partition of a fetch). Batches are CRC-checked the first time they are read after
    /// the log was opened; corrupt data is an error, never served.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset: i64,
    ) -> Result<FetchData, LogError> {
        let data = self.read_at_most(fetch_offset, max_bytes, min_one_batch, max_offset, false)?;
        Ok(FetchData {
            records: data.records.into_bytes()?,
            log_start_offset: data.log_start_offset,
            log_end_offset: data.log_end_offset,
        })
    }

    /// [`Self::read`] for a sender that can send from a file: a large section of batches
    /// already CRC-checked is returned as a [`FileRange`] of the segment, not read
    /// (`sendfile` then copies it to the socket in the kernel). Everything else is read
    /// into memory, as `read` does.
    pub fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset: i64,
    ) -> Result<FetchData<Records>, LogError> {
        self.read_at_most(fetch_offset, max_bytes, min_one_batch, max_offset, true)
    }

    fn read_at_most(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset: i64,
        file_ranges: bool,
    ) -> Result<FetchData<Records>, LogError> {
        let (upto, log_start, leo, candidates) = {
            let st = self.state.read();
            if fetch_offset < st.log_start_offset || fetch_offset > st.log_end_offset {
                return Err(LogError::OffsetOutOfRange {
                    offset: fetch_offset,
                    log_start_offset: st.log_start_offset,
                    log_end_offset: st.log_end_offset,
                });
            }
            let floor = st
                .segments
                .range(..=fetch_offset)
                .next_back()
                .map_or(i64::MIN, |(&b, _)| b);
            let candidates: Vec<(PinnedFile, (u64, ScanStart), u64)> = st
                .segments
                .range(floor..)
                .filter(|(_, s)| s.next_offset() > fetch_offset && !s.is_empty())
                .take(2)
                .map(|(_, s)| Ok((s.file().pin()?, s.lookup_start(fetch_offset), s.size())))
                .collect::<Result<_, LogError>>()?;
            (
                max_offset.min(st.log_end_offset),
                st.log_start_offset,
                st.log_end_offset,
                candidates,
            )
        };
        let mut out = FetchData {
            records: Records::Bytes(Bytes::new()),
            log_start_offset: log_start,
            log_end_offset: leo,
        };
        if fetch_offset >= upto {
            return Ok(out);
        }
        for (file, (from, start), end) in candidates {
            let found = file
                .seek_checked(from, end, start, |h| h.last_offset() >= fetch_offset)
                .map_err(|e| self.damage_found(e, fetch_offset))?;
            let Some(segment::Found {
                position: pos,
                header: first,
                expected,
                suspect,
            }) = found
            else {
                continue;
            };
            if first.base_offset >= upto {
                break;
            }
            let at = Section {
                pos,
                end,
                max_bytes,
                min_one_batch,
                upto,
                expected,
                suspect,
            };
            let range = if file_ranges {
                file_range(&file, &first, &at).map_err(|e| self.damage_found(e, fetch_offset))?
            } else {
                None
            };
            out.records = match range {
                Some(range) => Records::File(range),
                None => {
                    let (bytes, damage) =
                        read_batches(&file, &at).map_err(|e| self.damage_found(e, fetch_offset))?;
                    if let Some((e, offset)) = damage {
                        self.damage_found(e, offset); // served what comes before it
                    }
                    Records::Bytes(bytes)
                }
            };
            break;
        }
        Ok(out)
    }

    /// Logs damage a read found (once per place, as a consumer retries), and returns it.
    fn damage_found(&self, e: LogError, offset: i64) -> LogError {
        if let LogError::CorruptOnDisk {
            path,
            position,
            reason,
        } = &e
        {
            if self.damage_warned.swap(*position, Ordering::AcqRel) != *position {
                warn!(partition = %self.tp, offset, file = %path.display(), position, %reason,
                    "damaged data on disk: not served");
            }
        }
        e
    }

    /// Answers a ListOffsets query, seeing only records below `max_offset` (the high
    /// watermark, which is also the answer for latest); `None` when no record matches
    /// (Kafka sends -1, -1).
    /// Timestamp lookups decode the batch that holds the answer (decompressing it) with no
    /// lock held, so they never stall appends.
    pub fn list_offset(
        &self,
        spec: OffsetSpec,
        max_offset: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        let (view, candidates, batch_ok_ts): (LogView, Vec<ScanRange>, i64) = {
            let st = self.state.read();
            let view = LogView {
                log_start_offset: st.log_start_offset,
                max_offset: max_offset.min(st.log_end_offset),
                leader_epochs: st.leader_epochs.clone(),
            };
            match spec {
                OffsetSpec::Earliest | OffsetSpec::EarliestLocal => {
                    return Ok(Some(view.at(st.log_start_offset)))
                }
                OffsetSpec::Latest => return Ok(Some(view.at(view.max_offset))),
                OffsetSpec::MaxTimestamp => {
                    let Some(seg) = st
                        .segments
                        .values()
                        .filter(|s| !s.is_empty() && s.max_timestamp() != NO_TIMESTAMP)
                        // on a tie the earliest segment wins, as Kafka's maxBy picks the first
                        .max_by(|a, b| {
                            a.max_timestamp()
                                .cmp(&b.max_timestamp())
                                .then(b.base_offset().cmp(&a.base_offset()))
                        })
                    else {
                        return Ok(None);
                    };
                    let from = seg.lookup(seg.offset_of_max_timestamp());
                    (
                        view,
                        vec![(seg.file().pin()?, from, seg.size())],
                        seg.max_timestamp(),
                    )
                }
                OffsetSpec::Timestamp(target) => {
                    let c = st
                        .segments
                        .values()
                        .filter(|s| !s.is_empty() && s.max_timestamp() >= target)
                        .map(|s| Ok((s.file().pin()?, s.lookup_timestamp(target), s.size())))
                        .collect::<Result<_, LogError>>()?;
                    (view, c, target)
                }
            }
        };
        for (file, from, end) in candidates {
            let found = match spec {
                OffsetSpec::MaxTimestamp => view.first_record_at(
                    &file,
                    from,
                    end,
                    |h| h.max_timestamp == batch_ok_ts,
                    |ts| ts == batch_ok_ts,
                )?,
                _ => view.first_record_at(
                    &file,
                    from,
                    end,
                    |h| h.max_timestamp >= batch_ok_ts && h.last_offset() >= view.log_start_offset,
                    |ts| ts >= batch_ok_ts,
                )?,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The leader epoch of the batch holding `offset`, from the epoch cache.
    pub fn epoch_for(&self, offset: i64) -> Option<i32> {
        self.state.read().epoch_for(offset)
    }

    /// The end offset of `requested_epoch`: (the largest epoch at or below it, the start
    /// offset of the first epoch above it), or the log end for the latest epoch; (-1, -1)
    /// when it is undefined (Kafka's `LeaderEpochFileCache.endOffsetFor`, what
    /// OffsetForLeaderEpoch answers). Epochs and log end are read under one lock.
    pub fn end_offset_for_epoch(&self, requested_epoch: i32) -> (i32, i64) {
        let st = self.state.read();
        end_offset_for(&st.leader_epochs, requested_epoch, st.log_end_offset)
    }

    /// Starts leader epoch `epoch` at the log end in the epoch cache (Kafka's leader does
    /// this on taking the leadership, before any append), unless the cache already has it
    /// or a newer one.
    pub fn assign_epoch(&self, epoch: i32) -> Result<(), LogError> {
        let mut st = self.state.write();
        if epoch < 0 || st.leader_epochs.last().is_some_and(|&(e, _)| e >= epoch) {
            return Ok(());
        }
        let start = st.log_end_offset;
        st.leader_epochs.push((epoch, start));
        self.write_epochs(&st)
    }

    /// Removes everything from the first batch whose last offset is >= `offset` on
    /// (replication's truncation). Returns the new log end offset.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        // no fsync in progress: one that began before the cut would set the recovery
        // point past it when it ends, and what is appended after the cut would pass for
        // durable unsynced
        let _no_flush = self.flush_lock.lock();
        let mut st = self.state.write();
        st.generation += 1;
        if offset >= st.log_end_offset {
            // nothing to cut, but an epoch started at the log end with no record yet (a
            // leadership this replica had) goes as Kafka's `truncateFromEnd` drops it
            let before = st.leader_epochs.len();
            st.leader_epochs.retain(|&(_, start)| start < offset);
            if st.leader_epochs.len() != before {
                self.write_epochs(&st)?;
            }
            return Ok(st.log_end_offset);
        }
        let interval = self.config.read().index_interval_bytes;
        let doomed: Vec<i64> = st
            .segments
            .range(offset.max(st.log_start_offset) + 1..)
            .map(|(&b, _)| b)
            .filter(|&b| b >= offset)
            .collect();
        for b in doomed {
            if st.segments.len() == 1 {
                break;
            }
            if let Some(seg) = st.segments.remove(&b) {
                seg.delete_files()?;
            }
        }
        let new_end = st.active()?.truncate_to(offset, interval)?;
        for &base in st.segments.keys() {
            txn_index::truncate(&self.dir, base, new_end)?;
        }
        st.log_end_offset = new_end;
        st.log_start_offset = st.log_start_offset.min(new_end);
        st.leader_epochs.retain(|&(_, start)| start < new_end);
        self.write_epochs(&st)?;
        st.producers = load_producer_states(
            &self.dir,
            &st.segments,
            st.log_start_offset,
            new_end,
            false,
            None,
        )?;
        self.log_end.store(new_end, Ordering::Release);
        // the cut must be durable before anything is appended after it
        st.active()?.sync_all()?;
        self.flushed_offset.fetch_min(new_end, Ordering::AcqRel);
        Ok(new_end)
    }

    /// Removes every segment and starts the log empty at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): for a replica that installs a snapshot past its log
    /// end (the metadata quorum's followers). Returns the new log end offset.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<i64, LogError> {
        let _no_flush = self.flush_lock.lock();
        let mut st = self.state.write();
        st.generation += 1;
        let bases: Vec<i64> = st.segments.keys().copied().collect();
        for b in bases {
            if let Some(seg) = st.segments.remove(&b) {
                seg.delete_files()?;
            }
        }
        for snap in producer_state::list_snapshots(&self.dir)? {
            producer_state::delete_snapshot(&self.dir, snap)?;
        }
        let seg = LogSegment::create(&self.dir, offset)?;
        checkpoint::sync_dir(&self.dir)?;
        st.segments.insert(offset, seg);
        st.log_start_offset = offset;
        st.log_end_offset = offset;
        st.leader_epochs.clear();
        self.write_epochs(&st)?;
        st.producers = ProducerStates::new(offset);
        st.unflushed_messages = 0;
        st.first_unflushed_ms = None;
        self.log_end.store(offset, Ordering::Release);
        self.flushed_offset.store(offset, Ordering::Release);
        info!(partition = %self.tp, offset, "truncated fully, log starts again");
        Ok(offset)
    }

    /// Advances the log start offset (DeleteRecords) and deletes segments wholly below it.
    /// Returns the new log start offset (the "low watermark"). The partition layer keeps
    /// it at or below the high watermark.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let mut st = self.state.write();
        if offset > st.log_end_offset || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: st.log_start_offset,
                log_end_offset: st.log_end_offset,
            });
        }
        if offset > st.log_start_offset {
            st.log_start_offset = offset;
            self.delete_segments_below_start(&mut st)?;
        }
        Ok(st.log_start_offset)
    }

    /// Deletes closed segments whose records are all below the log start offset.
    fn delete_segments_below_start(&self, st: &mut LogState) -> Result<usize, LogError> {
        let start = st.log_start_offset;
        let active = st.active_ref()?.base_offset();
        let doomed: Vec<i64> = st
            .segments
            .iter()
            .filter(|(&b, s)| b != active && s.next_offset() <= start)
            .map(|(&b, _)| b)
            .collect();
        self.delete_segments(st, &doomed)
    }

    fn delete_segments(&self, st: &mut LogState, bases: &[i64]) -> Result<usize, LogError> {
        st.generation += 1;
        for b in bases {
            if let Some(seg) = st.segments.remove(b) {
                seg.delete_files()?;
                info!(partition = %self.tp, base_offset = b, "deleted segment");
            }
        }
        if let Some(&first) = st.segments.keys().next() {
            st.log_start_offset = st.log_start_offset.max(first);
            for offset in producer_state::list_snapshots(&self.dir)? {
                if offset < first {
                    producer_state::delete_snapshot(&self.dir, offset)?;
                }
            }
        }
        let start = st.log_start_offset;
        st.producers.evict_below(start);
        // the epoch entry covering the new start now starts there
        if let Some(i) = st.leader_epochs.iter().rposition(|&(_, s)| s <= start) {
            st.leader_epochs.drain(..i);
            if let Some(first) = st.leader_epochs.first_mut() {
                first.1 = start;
            }
        }
        Ok(bases.len())
    }

    /// Applies `retention.ms` and `retention.bytes`: deletes the oldest whole segments that
    /// break either; an expired non-empty active segment is rolled first so it can go too.
    /// Returns how many segments were deleted.
    pub fn enforce_retention(&self, now: i64) -> Result<usize, LogError> {
        let config = self.config();
        if !config.cleanup_policy.delete {
            // a compact-only log keeps its segments; the cleaner shrinks them
            return Ok(0);
        }
        let mut st = self.state.write();
        let expired = |s: &LogSegment| {
            config.retention_ms >= 0
                && s.max_timestamp() != NO_TIMESTAMP
                && now - s.max_timestamp() > config.retention_ms
        };
        if !st.active_ref()?.is_empty()
            && st.segments.values().all(|s| s.is_empty() || expired(s))
            && config.retention_ms >= 0
        {
            let next = st.log_end_offset;
            self.roll_locked(&mut st, next)?;
        }
        let active = st.active_ref()?.base_offset();
        let mut doomed = Vec::new();
        let mut total: i64 = st.segments.values().map(|s| s.size() as i64).sum();
        for (&b, s) in &st.segments {
            if b == active {
                break;
            }
            let over_size =
                config.retention_bytes >= 0 && total - s.size() as i64 >= config.retention_bytes;
            if expired(s) || over_size {
                doomed.push(b);
                total -= s.size() as i64;
            } else {
                break;
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        self.delete_segments(&mut st, &doomed)
    }

    /// Seals the active segment (final time index entry) and syncs it: the files are then
    /// complete for the next clean open.
    pub fn close(&self) -> Result<(), LogError> {
        let _guard = self.flush_lock.lock();
        let mut st = self.state.write();
        st.active()?.seal()?;
        producer_state::write_snapshot(&self.dir, st.log_end_offset, &st.producers)?;
        self.flushed_offset
            .store(st.log_end_offset, Ordering::Release);
        Ok(())
    }

    /// Forgets producers idle longer than `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now: i64, expiration_ms: i64) -> usize {
        self.state.write().producers.expire(now, expiration_ms)
    }

    /// Whether `producer_id` has an open transaction here at `epoch` (KIP-890: a
    /// transaction's later writes to a partition need no verification).
    pub fn has_open_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.state
            .read()
            .producers
            .get(producer_id)
            .is_some_and(|e| e.epoch == epoch && e.current_txn_first_offset.is_some())
    }

    /// The idempotent producer state of this partition (a copy).
    pub fn producer_states(&self) -> ProducerStates {
        self.state.read().producers.clone()
    }
}

/// A closed segment as the cleaner sees it: enough to read it without the log's lock,
/// and to check at swap time that it is still the same segment.
#[derive(Clone, Debug)]
pub struct SegmentRef {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size: u64,
    pub max_timestamp: i64,
    /// Max timestamp of its first batch (what `max.compaction.lag.ms` measures from).
    pub first_timestamp: Option<i64>,
    pub file: std::sync::Arc<SegmentFile>,
}

/// What the cleaner may clean of a log now.
#[derive(Clone, Debug)]
pub struct Cleanable {
    pub log_start_offset: i64,
    /// Closed segments wholly below the first uncleanable offset, in order.
    pub segments: Vec<SegmentRef>,
    /// Each idempotent producer's last offset: its last batch is kept, if emptied, so
    /// that producer state survives cleaning (Kafka's `RETAIN_EMPTY`).
    pub producer_last_offsets: std::collections::HashMap<i64, i64>,
    /// The log's generation when this was taken (see [`PartitionLog::replace_segments`]).
    pub generation: u64,
}

/// The cleaner's access to a log (`cleaner.rs`): what it may clean, and the swap of
/// cleaned segments for the ones they replace.
impl PartitionLog {
    /// The closed segments the cleaner may rewrite: below the active segment, wholly below
    /// `upper_bound` (the high watermark), and older than `min.compaction.lag.ms` (the
    /// first segment with a newer record and all after it are left, as Kafka's
    /// `firstUncleanableDirtyOffset`).
    pub fn cleanable(&self, upper_bound: i64, now: i64) -> Result<Cleanable, LogError> {
        self.check_online()?;
        let config = self.config();
        let st = self.state.read();
        let active = st.active_ref()?.base_offset();
        let mut segments = Vec::new();
        for (&base, seg) in &st.segments {
            let too_new = config.min_compaction_lag_ms > 0
                && seg.max_timestamp() != NO_TIMESTAMP
                && now.saturating_sub(seg.max_timestamp()) < config.min_compaction_lag_ms;
            if base == active || seg.next_offset() > upper_bound || too_new {
                break;
            }
            segments.push(SegmentRef {
                base_offset: base,
                next_offset: seg.next_offset(),
                size: seg.size(),
                max_timestamp: seg.max_timestamp(),
                first_timestamp: seg.first_timestamp(),
                file: seg.file().clone(),
            });
        }
        let producer_last_offsets = st
            .producers
            .iter()
            .filter_map(|(&id, e)| e.last().map(|b| (id, b.last_offset)))
            .collect();
        Ok(Cleanable {
            log_start_offset: st.log_start_offset,
            segments,
            producer_last_offsets,
            generation: st.generation,
        })
    }

    /// Puts `cleaned` (a sealed segment written as `.cleaned` files, its base the first old
    /// segment's) in place of `old`, crash-safely as Kafka's `replaceSegments`: the
    /// `.cleaned` files become `.swap` files (the commit point: `open` finishes a swap
    /// found there), the old segments' files are deleted, and the `.swap` files take
    /// Kafka's names. Returns false, and deletes the cleaned files, when the log changed
    /// under the cleaner (a truncation, retention, a deleted record range): the old
    /// segments are no longer exactly those it read.
    pub fn replace_segments(
        &self,
        old: &[SegmentRef],
        generation: u64,
        cleaned: LogSegment,
    ) -> Result<bool, LogError> {
        use super::cleaner::{remove_files, rename_files, CLEANED_SUFFIX, SWAP_SUFFIX};
        let base = cleaned.base_offset();
        drop(cleaned);
        let _flush = self.flush_lock.lock();
        let mut st = self.state.write();
        let active = st.active_ref()?.base_offset();
        let retired = self.retired.load(Ordering::Acquire);
        let unchanged = !retired
            && !self.offline.load(Ordering::Acquire)
            && st.generation == generation
            && old.first().is_some_and(|o| o.base_offset == base)
            && old.iter().all(|o| {
                o.base_offset != active
                    && st.segments.get(&o.base_offset).is_some_and(|s| {
                        std::sync::Arc::ptr_eq(s.file(), &o.file)
                            && s.size() == o.size
                            && s.next_offset() == o.next_offset
                    })
            })
            && self
                .dir
                .join(segment::file_name(base, "log") + CLEANED_SUFFIX)
                .is_file();
        if !unchanged {
            if !retired {
                remove_files(&self.dir, base, CLEANED_SUFFIX)?;
            }
            return Ok(false);
        }
        if let Err(e) = rename_files(&self.dir, base, CLEANED_SUFFIX, SWAP_SUFFIX)
            .and_then(|()| checkpoint::sync_dir(&self.dir))
        {
            // before the commit point, or unsure of it: the old segments stay, and no
            // .swap may be left for a later open to finish over segments written since
            let _ = remove_files(&self.dir, base, SWAP_SUFFIX);
            let _ = remove_files(&self.dir, base, CLEANED_SUFFIX);
            return Err(e);
        }
        // past the commit point: a failure now leaves the files for `open` to finish, and
        // the log in memory would not match them, so it goes offline (as Kafka takes the
        // log dir offline)
        let swapped = (|| {
            for o in old {
                if let Some(seg) = st.segments.get(&o.base_offset) {
                    seg.delete_files()?;
                }
            }
            rename_files(&self.dir, base, SWAP_SUFFIX, "")?;
            checkpoint::sync_dir(&self.dir)?;
            let mut seg = LogSegment::open_files(&self.dir, base)?;
            if let Err(e) = seg.load_tail() {
                // its files were fsynced before the swap; should they not check out, rebuild
                warn!(partition = %self.tp, base_offset = base, cause = %e, "recovering a cleaned segment");
                seg.recover(self.config().index_interval_bytes)?;
                seg.sync_all()?;
            }
            Ok::<_, LogError>(seg)
        })();
        match swapped {
            Ok(seg) => {
                for o in old {
                    st.segments.remove(&o.base_offset);
                    // the producer snapshot taken when the old segment was rolled to goes
                    // with it, as Kafka's `replaceSegments` deletes them (a compacted log's
                    // start never moves, so nothing else would)
                    if o.base_offset != base {
                        producer_state::delete_snapshot(&self.dir, o.base_offset)?;
                    }
                }
                st.segments.insert(base, seg);
                Ok(true)
            }
            Err(e) => {
                self.take_offline(&e);
                Err(e)
            }
        }
    }

    /// Marks the log deleted: from now on the cleaner leaves its directory alone (it may
    /// belong to a new partition of the same name).
    pub fn retire(&self) {
        let _st = self.state.write();
        self.retired.store(true, Ordering::Release);
    }
}

/// Checks that each segment's offsets end at or before the next segment's base offset
/// (its file name). A gap (a deleted segment) is logged; a segment reaching into the next
/// one is cut back to it, and logged: records are never served at offsets that contradict
/// the segment holding them.
fn check_segment_offsets(
    tp: &TopicPartition,
    segments: &mut BTreeMap<i64, LogSegment>,
    index_interval_bytes: u64,
    compacted: bool,
) -> Result<(), LogError> {
    let bases: Vec<i64> = segments.keys().copied().collect();
    for pair in bases.windows(2) {
        let &[base, next_base] = pair else { continue };
        let Some(seg) = segments.get_mut(&base) else {
            continue;
        };
        let end = seg.next_offset();
        if end < next_base && !seg.is_empty() && !compacted {
            // (a compacted log has such gaps wherever the cleaner removed records)
            warn!(partition = %tp, from = end, to = next_base,
                "offsets missing between segments (a segment deleted?)");
        } else if end > next_base {
            warn!(partition = %tp, base_offset = base, offset = next_base, end,
                "segment reaches into the next one; cutting it back there");
            seg.truncate_to(next_base, index_interval_bytes)?;
        }
    }
    Ok(())
}

/// The leader epoch cache as the batch headers give it: where each larger epoch first
/// appears, from `log_start` on (Kafka's `LeaderEpochFileCache.assign` during recovery).
fn epochs_from_batches(
    segments: &BTreeMap<i64, LogSegment>,
    log_start: i64,
) -> Result<Vec<(i32, i64)>, LogError> {
    let mut epochs: Vec<(i32, i64)> = Vec::new();
    for seg in segments.values().filter(|s| !s.is_empty()) {
        seg.file().seek(0, seg.size(), |h| {
            let epoch = h.partition_leader_epoch;
            if epoch >= 0 && epochs.last().is_none_or(|&(e, _)| epoch > e) {
                epochs.push((epoch, h.base_offset.max(log_start)));
            }
            false
        })?;
    }
    Ok(epochs)
}

/// Rebuilds the producer state at `log_end`: from the newest snapshot at or below it, then
/// the batches after the snapshot. Without a snapshot, a clean shutdown means there were
/// no idempotent producers to remember (Kafka assumes the same) and a crash means a replay
/// from the log start.
///
/// Transactions are rebuilt with it: markers are read back from their control records.
/// `rebuild_from` (the first segment recovery rebuilt, after a crash) makes the replay
/// start at or below that segment, and rewrites the `.txnindex` of it and every later
/// segment from the aborts the replay finds, as Kafka's segment recovery rebuilds them.
fn load_producer_states(
    dir: &Path,
    segments: &BTreeMap<i64, LogSegment>,
    log_start: i64,
    log_end: i64,
    clean_shutdown: bool,
    rebuild_from: Option<i64>,
) -> Result<ProducerStates, LogError> {
    let max_snapshot = rebuild_from.map_or(log_end, |b| b.min(log_end));
    let mut states = match producer_state::load_latest(dir, max_snapshot)? {
        Some(s) => s,
        None if clean_shutdown && rebuild_from.is_none() => {
            return Ok(ProducerStates::new(log_end))
        }
        None => ProducerStates::new(log_start),
    };
    let from = states.end_offset().max(log_start);
    let rebuild_from = rebuild_from.unwrap_or(i64::MAX);
    for &base in segments.keys().filter(|&&b| b >= rebuild_from) {
        txn_index::delete(dir, base, "")?;
    }
    for seg in segments.values() {
        if seg.next_offset() <= from || seg.is_empty() {
            continue;
        }
        let file = seg.file();
        let start = seg.lookup(from);
        let mut pos = start;
        let mut failed = None;
        let mut aborted = Vec::new();
        file.seek(start, seg.size(), |h| {
            let at = pos;
            pos += h.size().unwrap_or(0) as u64;
            if h.last_offset() < from {
                return false;
            }
            let marker = if h.is_control() && h.producer_id >= 0 {
                let mut buf = vec![0u8; h.size().unwrap_or(0)];
                match file.read_at(at, &mut buf) {
                    Ok(n) if n == buf.len() => marker_of(&buf),
                    Ok(_) => None,
                    Err(e) => {
                        failed = Some(e);
                        return true;
                    }
                }
            } else {
                None
            };
            if let Some(c) = states.replay(h, marker) {
                if c.aborted && seg.base_offset() >= rebuild_from {
                    aborted.push(states.aborted_entry(&c));
                }
            }
            false
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        txn_index::append(dir, seg.base_offset(), &aborted)?;
    }
    states.set_end_offset(log_end);
    Ok(states)
}

/// The marker of a control batch (`batch`, whole): (commit, coordinator epoch), or `None`
/// when it is not a transaction marker (or its record does not parse).
fn marker_of(batch: &[u8]) -> Option<(bool, i32)> {
    let records = super::records::decode_control_batch(batch).ok()?;
    let first = records.first()?;
    let key = first.key.as_deref()?;
    let kind = super::batch::be_i16(key, 2)?;
    let commit = match kind {
        producer_state::CONTROL_TYPE_ABORT => false,
        producer_state::CONTROL_TYPE_COMMIT => true,
        _ => return None,
    };
    let coordinator_epoch = first
        .value
        .as_deref()
        .and_then(|v| super::batch::be_i32(v, 2))
        .unwrap_or(-1);
    Some((commit, coordinator_epoch))
}

/// A transaction marker as Kafka's `EndTransactionMarker` writes it: one control record,
/// key = version 0 + type, value = version 0 + coordinator epoch; the batch transactional
/// and control, with the producer id and epoch and no sequence.
fn encode_marker(m: &TxnMarker, timestamp: i64) -> Vec<u8> {
    use super::batch;
    let kind = if m.commit {
        producer_state::CONTROL_TYPE_COMMIT
    } else {
        producer_state::CONTROL_TYPE_ABORT
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&m.coordinator_epoch.to_be_bytes());
    let record = super::records::NewRecord {
        key: Some(key),
        value: Some(value),
        headers: Vec::new(),
        timestamp,
    };
    let mut b = super::records::encode_batch(&[record], -1);
    batch::put(
        &mut b,
        batch::ATTRIBUTES,
        &(batch::CONTROL_MASK | batch::TRANSACTIONAL_MASK).to_be_bytes(),
    );
    batch::set_producer(&mut b, m.producer_id, m.producer_epoch, -1);
    b
}

/// Who an append is for: the checks differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A producer's batches: every check.
    Client,
    /// The broker's own batches (the metadata quorum's): control batches allowed.
    Internal,
    /// A coordinator's batches: no sequence needed or checked.
    Coordinator,
    /// One transaction marker, built by [`encode_marker`].
    Marker(TxnMarker),
}

/// Where a read takes whole batches from: `pos` (a batch boundary) up to `end`, at most
/// `max_bytes` (but one whole batch with `min_one_batch`), none at or past `upto`;
/// `expected` is the offset the first batch must not start below, if known.
struct Section {
    pos: u64,
    end: u64,
    max_bytes: usize,
    min_one_batch: bool,
    upto: i64,
    expected: Option<i64>,
    /// The first batch must be confirmed by the one after it.
    suspect: bool,
}

/// The section [`read_batches`] would return (`first` the batch at its start), left in the
/// file, if it is worth leaving there: at least [`FILE_RANGE_MIN`] bytes of batches of at
/// least [`FILE_RANGE_MIN_BATCH`], all of them CRC-checked already. Finds where the
/// section ends by reading the batch headers alone. `None`: read it instead.
fn file_range(
    file: &PinnedFile,
    first: &BatchHeader,
    at: &Section,
) -> Result<Option<FileRange>, LogError> {
    let (pos, end, max_bytes, min_one_batch) = (at.pos, at.end, at.max_bytes, at.min_one_batch);
    let verified = file.verified_to().min(end);
    let first_size = first.size().unwrap_or(0);
    let worth = |len: u64| len >= FILE_RANGE_MIN as u64;
    // enough checked bytes to fill a section, or one large batch a first partition takes
    let could_fill = worth(verified.saturating_sub(pos).min(max_bytes as u64));
    let one_large = min_one_batch && worth(first_size as u64);
    if !(could_fill || one_large) || first_size < FILE_RANGE_MIN_BATCH {
        return Ok(None);
    }
    let mut here = pos;
    let mut header = *first;
    let mut taken = Vec::new();
    for _ in 0..FILE_RANGE_MAX_BATCHES {
        let size = header
            .size()
            .filter(|&s| here + s as u64 <= end)
            .ok_or_else(|| file.corrupt(here, "bad batch length"))?;
        let next = here + size as u64;
        let fits = next - pos <= max_bytes as u64 || (here == pos && min_one_batch);
        if header.base_offset >= at.upto || !fits || size < FILE_RANGE_MIN_BATCH {
            break;
        }
        taken.push((here, header));
        here = next;
        if here >= end {
            break;
        }
        header = file.header_at(here)?;
    }
    let n = segment::consistent_batches(at.expected, at.suspect, &taken, || {
        (here < end).then(|| file.header_at(here).ok()).flatten()
    });
    if let Some(&(cut, _)) = taken.get(n) {
        here = cut; // a batch contradicting its neighbours ends the section
    }
    let len = here - pos;
    if !worth(len) || here > verified {
        return Ok(None);
    }
    Ok(usize::try_from(len).ok().map(|len| file.range(pos, len)))
}

/// Reads whole batches of `at`; CRC-checks what was never verified, and checks that their
/// offsets follow one another ([`segment::consistent_batches`]). Damage after the first
/// batch ends what is returned, and comes back with the damaged batch's offset to be
/// logged; damage at the first batch is the error.
fn read_batches(
    file: &SegmentFile,
    at: &Section,
) -> Result<(Bytes, Option<(LogError, i64)>), LogError> {
    let (pos, end) = (at.pos, at.end);
    let avail = (end - pos) as usize;
    let mut buf = ReadBuf::new(avail.min(at.max_bytes.max(batch::HEADER_SIZE)));
    let n = file.read_at(pos, &mut buf)?;
    buf.resize(n);
    let mut whole = 0;
    let mut batches = Vec::new();
    for (start, h) in batch::BatchIter::new(&buf) {
        if h.base_offset >= at.upto {
            break;
        }
        whole = start + h.size().unwrap_or(0);
        batches.push((start, h));
    }
    if whole == 0 {
        let Some(h) = BatchHeader::parse(&buf) else {
            return Err(file.corrupt(pos, "truncated batch header"));
        };
        let size = h
            .size()
            .filter(|&s| s as u64 <= end - pos)
            .ok_or_else(|| file.corrupt(pos, "bad batch length"))?;
        if !at.min_one_batch {
            return Ok((Bytes::new(), None));
        }
        buf.resize(size);
        if file.read_at(pos, &mut buf)? < size {
            return Err(file.corrupt(pos, "batch cut short"));
        }
        whole = size;
        batches.push((0, h));
    }
    let next_at = pos + whole as u64;
    let consistent = segment::consistent_batches(at.expected, at.suspect, &batches, || {
        (next_at < end)
            .then(|| file.header_at(next_at).ok())
            .flatten()
    });
    let mut damage = None;
    if let Some(&(cut, h)) = batches.get(consistent) {
        let e = file.corrupt(
            pos + cut as u64,
            &format!(
                "batch at offset {} contradicts the offsets of the batches around it",
                h.base_offset
            ),
        );
        let Some(before) = consistent.checked_sub(1).and_then(|i| batches.get(i)) else {
            return Err(e);
        };
        // where the damaged batch should start: the next offset of the one before it
        damage = Some((e, before.1.next_offset()));
        whole = cut;
    }
    let good = file.verify(pos, buf.get(..whole).unwrap_or_default());
    if good == 0 {
        return Err(file.corrupt(pos, "batch failed its CRC check"));
    }
    if good < whole {
        let offset = batches
            .iter()
            .find(|&&(start, _)| start == good)
            .map_or(-1, |(_, h)| h.base_offset);
        let at = pos + good as u64;
        damage = Some((file.corrupt(at, "batch failed its CRC check"), offset));
    }
    Ok((buf.into_bytes(good), damage))
}

fn no_active_segment() -> LogError {
    LogError::Internal("a log without an active segment".into())
}

/// The epoch of the entry covering `offset` in (epoch, start offset) pairs sorted by start.
fn epoch_at(leader_epochs: &[(i32, i64)], offset: i64) -> Option<i32> {
    let i = leader_epochs.partition_point(|&(_, start)| start <= offset);
    leader_epochs
        .get(i.checked_sub(1)?)
        .map(|&(epoch, _)| epoch)
}

/// Kafka's `LeaderEpochFileCache.endOffsetFor` over (epoch, start offset) pairs, both
/// increasing: (-1, -1) for an undefined answer (epoch -1 asked, or no epoch above it);
/// the log end for the latest epoch; otherwise the start of the first epoch above the
/// requested one, with the largest epoch at or below it (or the requested one itself when
/// none is known: its entries were removed with the log's start).
fn end_offset_for(leader_epochs: &[(i32, i64)], requested: i32, log_end_offset: i64) -> (i32, i64) {
    const UNDEFINED: (i32, i64) = (-1, -1);
    if requested == -1 {
        return UNDEFINED;
    }
    if leader_epochs.last().is_some_and(|&(e, _)| e == requested) {
        return (requested, log_end_offset);
    }
    let above = leader_epochs.partition_point(|&(e, _)| e <= requested);
    let Some(&(_, higher_start)) = leader_epochs.get(above) else {
        return UNDEFINED;
    };
    match above.checked_sub(1).and_then(|i| leader_epochs.get(i)) {
        Some(&(floor_epoch, _)) => (floor_epoch, higher_start),
        None => (requested, higher_start),
    }
}

#[cfg(test)]
mod tests {
    use super::end_offset_for;

    // Kafka's LeaderEpochFileCacheTest cases, over the cache [(1, 10), (3, 20), (5, 30)]
    // and a log end of 40.
    const EPOCHS: &[(i32, i64)] = &[(1, 10), (3, 20), (5, 30)];

    #[test]
    fn undefined_epoch_is_undefined() {
        assert_eq!(end_offset_for(EPOCHS, -1, 40), (-1, -1));
    }

    #[test]
    fn latest_epoch_ends_at_the_log_end() {
        assert_eq!(end_offset_for(EPOCHS, 5, 40), (5, 40));
        assert_eq!(end_offset_for(&[(0, 0)], 0, 7), (0, 7));
    }

    #[test]
    fn an_epoch_above_every_known_one_is_undefined() {
        assert_eq!(end_offset_for(EPOCHS, 6, 40), (-1, -1));
        assert_eq!(end_offset_for(&[], 0, 40), (-1, -1));
        assert_eq!(end_offset_for(&[], 3, 40), (-1, -1));
    }

    #[test]
    fn a_known_epoch_ends_where_the_next_starts() {
        assert_eq!(end_offset_for(EPOCHS, 1, 40), (1, 20));
        assert_eq!(end_offset_for(EPOCHS, 3, 40), (3, 30));
    }

    #[test]
    fn an_unknown_epoch_between_known_ones_answers_the_one_below() {
        assert_eq!(end_offset_for(EPOCHS, 2, 40), (1, 20));
        assert_eq!(end_offset_for(EPOCHS, 4, 40), (3, 30));
    }

    #[test]
    fn an_epoch_below_every_known_one_ends_at_the_first_start() {
        assert_eq!(end_offset_for(EPOCHS, 0, 40), (0, 10));
    }
}
