//! The log cleaner: compaction of `cleanup.policy=compact` logs, as Kafka's `LogCleaner`.
//!
//! One pass over a log ([`Cleaner::clean`]):
//!
//! 1. **What may be cleaned**: closed segments wholly below the bound the partition gives
//!    (its last stable offset: no open transaction is cleaned) and older
//!    than `min.compaction.lag.ms` ([`PartitionLog::cleanable`]); the active segment never.
//! 2. **Whether to clean**: the dirty part (from the cleaner checkpoint on) is at least
//!    `min.cleanable.dirty.ratio` of the cleanable bytes, or its oldest record is older than
//!    `max.compaction.lag.ms`, or a tombstone's delete horizon has passed.
//! 3. **The offset map**: key → last offset over the dirty segments, bounded by
//!    `log.cleaner.dedupe.buffer.size` (keys are kept whole, not hashed: no collision can
//!    drop a record). A map that fills ends the pass at the last whole segment it holds.
//! 4. **Rewriting**: segments from the log start up to the map's end, in groups that fit
//!    in one segment, are copied into a `.cleaned` segment keeping a record if its key's last
//!    offset is its own (or not in the map) and, for a tombstone, while its batch's delete
//!    horizon (KIP-534) has not passed; records without a key are dropped. A batch that keeps
//!    every record and needs no horizon is copied byte for byte; one that loses records is
//!    rebuilt with the same base and last offset, producer fields, epoch and codec. A batch
//!    emptied of records is dropped, unless it is its producer's last (kept empty so the
//!    producer's sequence survives), as Kafka's `RETAIN_EMPTY`. Offsets never change.
//!    Transactions: markers are kept; the records of aborted transactions (from the
//!    `.txnindex` files) are neither mapped nor kept, as Kafka discards them, so an aborted
//!    value never displaces a committed one; the old segments' `.txnindex` entries move to
//!    the cleaned segment (`<base>.txnindex.cleaned`, swapped with the other files).
//! 5. **The swap**: [`PartitionLog::replace_segments`]. `.cleaned` files are fsynced, then
//!    renamed `.swap` (the commit point), the old segments deleted, and the `.swap` files
//!    renamed to Kafka's names. After a crash, [`complete_swaps`] (called when a log is
//!    opened) finishes a committed swap and `.cleaned` files are deleted.
//!
//! Reads and writes are throttled to `log.cleaner.io.max.bytes.per.second`. The cleaner
//! checkpoint (`cleaner-offset-checkpoint`, Kafka's format) remembers where each log's
//! dirty part starts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{info, warn};

use super::batch::{BatchHeader, HEADER_SIZE};
use super::checkpoint;
use super::partition_log::{PartitionLog, SegmentRef};
use super::records;
use super::segment::{self, LogSegment};
use super::txn_index;
use super::{io_err, LogError, TopicPartition};

/// Suffix of a segment's files while the cleaner writes them.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment's files between the commit point and the swap's end.
pub const SWAP_SUFFIX: &str = ".swap";
/// Kafka's file of each compacted log's first dirty offset, in the log dir.
pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// Bytes an offset map entry costs beyond its key (the map's own bookkeeping).
const ENTRY_OVERHEAD: u64 = 48;

/// The cleaner's broker-wide settings, with Kafka's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map of one cleaning
    /// (128 MiB).
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.max.bytes.per.second`: read and write rate of the cleaner
    /// (unlimited).
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: pause when no log needs cleaning (15 s).
    pub backoff_ms: u64,
    /// `log.cleaner.io.buffer.size`: bytes read at a time (512 KiB).
    pub io_buffer_size: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_max_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
            io_buffer_size: 512 * 1024,
        }
    }
}

/// What one pass over a log did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_cleaned: usize,
    /// Bytes read to build the offset map.
    pub map_bytes_read: u64,
    /// Bytes read while rewriting (what Kafka's "MB of log processed" counts).
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    /// Where the next pass's dirty part starts.
    pub cleaned_to: i64,
}

/// Per log: where its dirty part starts, and when a kept tombstone's horizon passes.
#[derive(Clone, Copy, Debug, Default)]
struct LogProgress {
    first_dirty: i64,
    next_horizon: Option<i64>,
    /// The dedupe buffer cannot hold one segment's keys: not cleaned until restart.
    uncleanable: bool,
}

/// The log cleaner of one log dir. Its passes run on the caller's thread (a blocking one:
/// they read and write whole segments).
pub struct Cleaner {
    config: CleanerConfig,
    checkpoint_path: std::path::PathBuf,
    progress: Mutex<HashMap<TopicPartition, LogProgress>>,
    stopping: Arc<AtomicBool>,
}

impl std::fmt::Debug for Cleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleaner")
            .field("config", &self.config)
            .finish()
    }
}

impl Cleaner {
    /// The cleaner of log dir `dir`, with its checkpoint read (a damaged one is logged and
    /// ignored: every log is then cleaned from its start, which only costs time).
    pub fn new(dir: &Path, config: CleanerConfig) -> Cleaner {
        let checkpoint_path = dir.join(CHECKPOINT_FILE);
        let entries = checkpoint::read_offsets(&checkpoint_path).unwrap_or_else(|e| {
            warn!(file = %checkpoint_path.display(), cause = %e, "unreadable cleaner checkpoint ignored");
            Vec::new()
        });
        let progress = entries
            .into_iter()
            .map(|(tp, first_dirty)| {
                let p = LogProgress {
                    first_dirty,
                    ..LogProgress::default()
                };
                (tp, p)
            })
            .collect();
        Cleaner {
            config,
            checkpoint_path,
            progress: Mutex::new(progress),
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn config(&self) -> &CleanerConfig {
        &self.config
    }

    /// Makes a pass in progress give up at its next batch (shutdown); later passes do
    /// nothing.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Forgets a deleted log.
    pub fn forget(&self, tp: &TopicPartition) {
        self.progress.lock().remove(tp);
    }

    /// Cleans `log` once if it needs it, everything below `upper_bound` (its high
    /// watermark) being eligible. `Ok(None)`: nothing to do.
    pub fn clean(
        &self,
        log: &PartitionLog,
        upper_bound: i64,
        now: i64,
    ) -> Result<Option<CleanStats>, LogError> {
        let config = log.config();
        if !config.cleanup_policy.compact || self.stopping.load(Ordering::Acquire) {
            return Ok(None);
        }
        let tp = log.topic_partition().clone();
        let progress = self.progress.lock().get(&tp).copied().unwrap_or_default();
        if progress.uncleanable {
            return Ok(None);
        }
        let view = log.cleanable(upper_bound, now)?;
        let aborted = Aborted::new(match (view.segments.first(), view.segments.last()) {
            (Some(first), Some(last)) => {
                log.aborted_transactions(first.base_offset, last.next_offset)?
            }
            _ => Vec::new(),
        });
        let horizon_due = progress.next_horizon.is_some_and(|h| h <= now);
        // a horizon that passed means re-reading everything: the tombstones to drop may
        // sit anywhere in the clean part
        let first_dirty = if horizon_due {
            view.log_start_offset
        } else {
            progress.first_dirty.max(view.log_start_offset)
        };
        let dirty: Vec<&SegmentRef> = view
            .segments
            .iter()
            .filter(|s| s.next_offset > first_dirty)
            .collect();
        let Some(first) = dirty.first() else {
            return Ok(None);
        };
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size).sum();
        let total: u64 = view.segments.iter().map(|s| s.size).sum();
        let ratio = if total == 0 {
            0.0
        } else {
            dirty_bytes as f64 / total as f64
        };
        let lagging = first
            .first_timestamp
            .filter(|&t| t >= 0)
            .is_some_and(|t| now.saturating_sub(t) > config.max_compaction_lag_ms);
        // (strictly above the ratio, as Kafka's `LogCleanerManager` compares)
        if !(horizon_due || lagging || ratio > config.min_cleanable_dirty_ratio.as_f64()) {
            return Ok(None);
        }
        let started = Instant::now();
        let mut io = Io {
            throttle: Throttle::new(self.config.io_max_bytes_per_second, &self.stopping),
            stats: CleanStats::default(),
        };
        let mut map = OffsetMap::new(self.config.dedupe_buffer_size);
        let mut map_end = first_dirty;
        for seg in &dirty {
            match self.map_segment(seg, first_dirty, &mut map, &mut io, &aborted)? {
                // full: the map holds every key below this offset (Kafka's map also ends
                // inside a segment, at its latest offset + 1)
                Some(end) => {
                    map_end = end;
                    break;
                }
                None => map_end = seg.next_offset,
            }
        }
        io.stats.map_bytes_read = std::mem::take(&mut io.stats.bytes_read);
        if map_end <= first_dirty {
            warn!(partition = %tp, base_offset = first.base_offset,
                dedupe_buffer_size = self.config.dedupe_buffer_size,
                "log.cleaner.dedupe.buffer.size cannot hold one key: log not cleaned");
            self.progress.lock().entry(tp).or_default().uncleanable = true;
            return Ok(None);
        }
        let segments: Vec<&SegmentRef> = view
            .segments
            .iter()
            .filter(|s| s.base_offset < map_end)
            .collect();
        let mut next_horizon: Option<i64> = None;
        let pass = Pass {
            map: &map,
            map_end,
            now,
            delete_retention_ms: config.delete_retention_ms,
            producer_last_offsets: &view.producer_last_offsets,
            index_interval_bytes: config.index_interval_bytes,
            aborted: &aborted,
        };
        for group in group_segments(&segments, config.segment_bytes) {
            if self.stopping.load(Ordering::Acquire) {
                return Ok(None);
            }
            let cleaned = self.clean_group(log, &pass, &group, &mut io, &mut next_horizon)?;
            let old: Vec<SegmentRef> = group.iter().map(|s| (*s).clone()).collect();
            if !log.replace_segments(&old, view.generation, cleaned)? {
                info!(partition = %tp, "log changed while it was cleaned; cleaning again later");
                return Ok(None);
            }
            io.stats.segments_cleaned += group.len();
        }
        let mut stats = io.stats;
        stats.cleaned_to = map_end;
        {
            let mut all = self.progress.lock();
            let p = all.entry(tp.clone()).or_default();
            p.first_dirty = map_end;
            p.next_horizon = next_horizon;
        }
        self.write_checkpoint()?;
        let secs = started.elapsed().as_secs_f64();
        info!(partition = %tp, segments = stats.segments_cleaned, map_read = stats.map_bytes_read,
            read = stats.bytes_read,
            written = stats.bytes_written, records = stats.records_read, kept = stats.records_kept,
            cleaned_to = map_end, seconds = format_args!("{secs:.3}"),
            // as Kafka's log-cleaner.log counts: MiB rewritten over the whole pass's time
            mb_per_sec = format_args!("{:.1}", stats.bytes_read as f64 / 1048576.0 / secs.max(1e-9)),
            "cleaned log");
        Ok(Some(stats))
    }

    fn write_checkpoint(&self) -> Result<(), LogError> {
        let entries: Vec<(TopicPartition, i64)> = {
            let all = self.progress.lock();
            let mut e: Vec<_> = all
                .iter()
                .map(|(tp, p)| (tp.clone(), p.first_dirty))
                .collect();
            e.sort_by(|a, b| (&a.0.topic, a.0.partition).cmp(&(&b.0.topic, b.0.partition)));
            e
        };
        checkpoint::write_offsets(&self.checkpoint_path, &entries)
    }

    /// Adds the keys of a segment's records from `from` on to the map. `Some(offset)` if
    /// the map filled there: every key below it is mapped, none from it on.
    fn map_segment(
        &self,
        seg: &SegmentRef,
        from: i64,
        map: &mut OffsetMap,
        io: &mut Io,
        aborted: &Aborted,
    ) -> Result<Option<i64>, LogError> {
        let mut full = None;
        for_each_batch(seg, self.config.io_buffer_size, io, |h, batch, _| {
            if self.stopping.load(Ordering::Acquire) {
                return Err(LogError::Internal("the cleaner is stopping".into()));
            }
            if h.is_control() || h.last_offset() < from || aborted.contains(h) {
                return Ok(true);
            }
            for r in records::decode_batch(batch)? {
                if r.offset < from {
                    continue;
                }
                if let Some(key) = &r.key {
                    if !map.put(key, r.offset) {
                        // full: the rest of the segment is not read
                        full = Some(r.offset);
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        Ok(full)
    }

    /// Writes the cleaned copy of `group` (consecutive segments) as one `.cleaned` segment
    /// named after the first, sealed and fsynced.
    fn clean_group(
        &self,
        log: &PartitionLog,
        pass: &Pass<'_>,
        group: &[&SegmentRef],
        io: &mut Io,
        next_horizon: &mut Option<i64>,
    ) -> Result<LogSegment, LogError> {
        let base = group.first().map_or(0, |s| s.base_offset);
        let mut out = LogSegment::create_with_suffix(log.dir(), base, CLEANED_SUFFIX)?;
        // the aborted transactions indexed by the old segments stay indexed (their
        // markers are kept), now by the cleaned one
        let mut txns = Vec::new();
        for seg in group {
            txns.extend(txn_index::read(log.dir(), seg.base_offset)?);
        }
        txn_index::append_file(&txn_index::path(log.dir(), base, CLEANED_SUFFIX), &txns)?;
        for seg in group {
            let mut pending: Vec<u8> = Vec::new();
            let mut headers: Vec<(usize, [u8; HEADER_SIZE])> = Vec::new();
            for_each_batch(seg, self.config.io_buffer_size, io, |h, batch, io| {
                if self.stopping.load(Ordering::Acquire) {
                    return Err(LogError::Internal("the cleaner is stopping".into()));
                }
                let kept = pass.filter(h, batch, &mut io.stats, next_horizon)?;
                let bytes: &[u8] = match &kept {
                    Kept::Whole => batch,
                    Kept::Rebuilt(b) => b,
                    Kept::Nothing => return Ok(true),
                };
                let header: [u8; HEADER_SIZE] = bytes
                    .get(..HEADER_SIZE)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        LogError::Internal("cleaned batch shorter than a header".into())
                    })?;
                headers.push((pending.len(), header));
                pending.extend_from_slice(bytes);
                if pending.len() >= self.config.io_buffer_size {
                    out.append(&pending, &headers, pass.index_interval_bytes)?;
                    io.wrote(pending.len() as u64);
                    pending.clear();
                    headers.clear();
                }
                Ok(true)
            })?;
            if !pending.is_empty() {
                out.append(&pending, &headers, pass.index_interval_bytes)?;
                io.wrote(pending.len() as u64);
            }
        }
        out.seal()?;
        Ok(out)
    }
}

/// What one pass keeps: the map, and the rules of [`Pass::filter`].
struct Pass<'a> {
    map: &'a OffsetMap,
    map_end: i64,
    now: i64,
    delete_retention_ms: i64,
    producer_last_offsets: &'a HashMap<i64, i64>,
    index_interval_bytes: u64,
    aborted: &'a Aborted,
}

/// The aborted transactions of the cleaned range, by producer: (first offset, marker
/// offset).
struct Aborted(HashMap<i64, Vec<(i64, i64)>>);

impl Aborted {
    fn new(txns: Vec<txn_index::AbortedTxn>) -> Self {
        let mut by_producer: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for t in txns {
            by_producer
                .entry(t.producer_id)
                .or_default()
                .push((t.first_offset, t.last_offset));
        }
        Aborted(by_producer)
    }

    /// True for a data batch of an aborted transaction.
    fn contains(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.0.get(&h.producer_id).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|&(first, last)| first <= h.base_offset && h.base_offset < last)
            })
    }
}

enum Kept {
    Whole,
    Rebuilt(Vec<u8>),
    Nothing,
}

impl Pass<'_> {
    /// Kafka's `shouldRetainRecord` over one batch, and its `filterTo` for the batch.
    fn filter(
        &self,
        h: &BatchHeader,
        batch: &[u8],
        stats: &mut CleanStats,
        next_horizon: &mut Option<i64>,
    ) -> Result<Kept, LogError> {
        if h.is_control() {
            // transaction markers are kept (Kafka drops them only once their transaction
            // is empty and past the delete horizon; not done here)
            return Ok(Kept::Whole);
        }
        let horizon = h.delete_horizon();
        let retain_deletes = horizon.is_none_or(|t| self.now < t);
        let all = records::decode_batch(batch)?;
        stats.records_read += all.len() as u64;
        let keep = |r: &records::Record| {
            if r.offset >= self.map_end {
                return true;
            }
            let Some(key) = &r.key else { return false };
            let latest = self.map.get(key).is_none_or(|o| r.offset >= o);
            latest && (r.value.is_some() || retain_deletes)
        };
        let aborted = self.aborted.contains(h);
        let kept: Vec<&records::Record> = all.iter().filter(|r| !aborted && keep(r)).collect();
        stats.records_kept += kept.len() as u64;
        let tombstones = kept.iter().any(|r| r.value.is_none());
        let new_horizon = (tombstones && horizon.is_none())
            .then(|| self.now.saturating_add(self.delete_retention_ms));
        if tombstones {
            if let Some(t) = horizon.or(new_horizon) {
                *next_horizon = Some(next_horizon.map_or(t, |n| n.min(t)));
            }
        }
        if kept.len() == all.len() && new_horizon.is_none() {
            return Ok(Kept::Whole);
        }
        if kept.is_empty() {
            let last_of_producer = h.producer_id >= 0
                && self.producer_last_offsets.get(&h.producer_id) == Some(&h.last_offset());
            return Ok(if last_of_producer {
                Kept::Rebuilt(records::encode_retained(h, &[], None)?)
            } else {
                Kept::Nothing
            });
        }
        Ok(Kept::Rebuilt(records::encode_retained(
            h,
            &kept,
            horizon.or(new_horizon),
        )?))
    }
}

/// Groups consecutive segments so that each group's copy fits in one segment: at most
/// `segment.bytes`, and offsets within an index's u32 of the first base (Kafka's
/// `groupSegmentsBySize`).
fn group_segments<'a>(segments: &[&'a SegmentRef], segment_bytes: u64) -> Vec<Vec<&'a SegmentRef>> {
    let mut groups: Vec<Vec<&SegmentRef>> = Vec::new();
    let mut size = 0u64;
    for &s in segments {
        let fits = groups.last().and_then(|g| g.first()).is_some_and(|first| {
            size + s.size <= segment_bytes
                && s.next_offset - 1 - first.base_offset <= i64::from(i32::MAX)
        });
        if fits {
            if let Some(g) = groups.last_mut() {
                g.push(s);
            }
            size += s.size;
        } else {
            groups.push(vec![s]);
            size = s.size;
        }
    }
    groups
}

/// Calls `f` with every whole batch of a closed segment, in order, reading
/// `buffer_size` bytes at a time (more for a larger batch), until `f` says to stop
/// (`Ok(false)`). A damaged batch ends the pass with an error: the cleaner never writes
/// what it could not read. The bytes of the batches handed to `f` are counted (a batch
/// read again because it crossed the buffer's end counts once).
fn for_each_batch(
    seg: &SegmentRef,
    buffer_size: usize,
    io: &mut Io,
    mut f: impl FnMut(&BatchHeader, &[u8], &mut Io) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    let file = seg.file.pin()?;
    let mut pos = 0u64;
    let mut buf = Vec::new();
    while pos < seg.size {
        let want = ((seg.size - pos) as usize).min(buffer_size.max(HEADER_SIZE));
        buf.resize(want, 0);
        let n = file.read_at(pos, &mut buf)?;
        buf.truncate(n);
        let mut off = 0usize;
        while let Some(h) = buf.get(off..).and_then(BatchHeader::parse) {
            let size = h
                .size()
                .ok_or_else(|| file.corrupt(pos + off as u64, "bad batch length"))?;
            let Some(batch) = buf.get(off..off + size) else {
                break;
            };
            super::batch::check_integrity(batch)
                .map_err(|_| file.corrupt(pos + off as u64, "batch failed its CRC check"))?;
            io.read(size as u64);
            let more = f(&h, batch, io)?;
            off += size;
            if !more {
                return Ok(());
            }
        }
        if off == 0 {
            // one batch larger than the buffer: read it whole
            let h = buf
                .get(..HEADER_SIZE)
                .and_then(BatchHeader::parse)
                .ok_or_else(|| file.corrupt(pos, "truncated batch header"))?;
            let size = h
                .size()
                .ok_or_else(|| file.corrupt(pos, "bad batch length"))?;
            if pos + size as u64 > seg.size {
                return Err(file.corrupt(pos, "batch past the segment's end"));
            }
            buf.resize(size, 0);
            if file.read_at(pos, &mut buf)? < size {
                return Err(file.corrupt(pos, "short read"));
            }
            io.read(size as u64);
            super::batch::check_integrity(&buf)
                .map_err(|_| file.corrupt(pos, "batch failed its CRC check"))?;
            if !f(&h, &buf, io)? {
                return Ok(());
            }
            off = size;
        }
        pos += off as u64;
    }
    Ok(())
}

/// A pass's I/O: counted, and throttled.
struct Io {
    throttle: Throttle,
    stats: CleanStats,
}

impl Io {
    fn read(&mut self, n: u64) {
        self.stats.bytes_read += n;
        self.throttle.spent(n);
    }
    fn wrote(&mut self, n: u64) {
        self.stats.bytes_written += n;
        self.throttle.spent(n);
    }
}

/// Key → last offset, with a memory budget (keys whole: no hash collision can drop a
/// record that should stay).
struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    bytes: u64,
    limit: u64,
}

impl OffsetMap {
    fn new(limit: u64) -> Self {
        OffsetMap {
            map: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Records `offset` as `key`'s latest. False, and nothing stored, when a new key does
    /// not fit in the budget.
    fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if let Some(o) = self.map.get_mut(key) {
            *o = offset;
            return true;
        }
        let cost = key.len() as u64 + ENTRY_OVERHEAD;
        if self.bytes + cost > self.limit {
            return false;
        }
        self.bytes += cost;
        self.map.insert(key.into(), offset);
        true
    }

    fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }
}

/// Keeps the cleaner's I/O under a rate (Kafka's `Throttler`): sleeps once it is ahead.
struct Throttle {
    rate: f64,
    start: Instant,
    bytes: u64,
    /// A sleep ends early when the cleaner stops.
    stopping: Arc<AtomicBool>,
}

impl Throttle {
    fn new(rate: f64, stopping: &Arc<AtomicBool>) -> Self {
        Throttle {
            rate,
            start: Instant::now(),
            bytes: 0,
            stopping: Arc::clone(stopping),
        }
    }

    fn spent(&mut self, n: u64) {
        if !self.rate.is_finite() || self.rate >= f64::MAX / 2.0 {
            return;
        }
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate);
        loop {
            let elapsed = self.start.elapsed();
            if due <= elapsed || self.stopping.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
        }
    }
}

/// File names of a segment's files with `suffix`, the `.log` last: renamed in this
/// order, a `.log.swap` (the marker of a swap to finish) outlives its indexes' renames.
fn names(base: i64, suffix: &str) -> [String; 4] {
    ["index", "timeindex", txn_index::SUFFIX, "log"]
        .map(|kind| segment::file_name(base, kind) + suffix)
}

/// Deletes a segment's files with `suffix` (missing ones are fine).
pub fn remove_files(dir: &Path, base: i64, suffix: &str) -> Result<(), LogError> {
    for name in names(base, suffix) {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    Ok(())
}

/// Renames a segment's files from suffix `from` to suffix `to` (missing ones are skipped:
/// indexes are rebuilt when absent).
pub fn rename_files(dir: &Path, base: i64, from: &str, to: &str) -> Result<(), LogError> {
    for (a, b) in names(base, from).into_iter().zip(names(base, to)) {
        let (pa, pb) = (dir.join(a), dir.join(b));
        match std::fs::rename(&pa, &pb) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&pa)(e)),
        }
    }
    Ok(())
}

/// Finishes swaps a crash interrupted (Kafka's `completeSwapOperations`): a `.log.swap` is a
/// cleaned segment past its commit point, so the segments it replaces (those whose base
/// offset falls in its range: their `.log` and indexes, whichever are left) are deleted,
/// its indexes are rebuilt from it as `.swap` files, and it takes Kafka's names, its
/// `.log` last: a crash anywhere in here leaves the `.log.swap`, and the next open does
/// it all again. Segments past its range that it replaced are left: everything in them
/// was superseded, and the next cleaning removes them again.
pub fn complete_swaps(
    dir: &Path,
    tp: &TopicPartition,
    index_interval_bytes: u64,
) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    let mut txn_swaps = Vec::new();
    let mut bases = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            if let Some(base) = segment::parse_base_offset(stem, "log") {
                swaps.push(base);
            } else if let Some(base) = segment::parse_base_offset(stem, txn_index::SUFFIX) {
                // not rebuilt from the log: kept if its `.log.swap` is there (below)
                txn_swaps.push((base, entry.path()));
            } else {
                // an index's swap: rebuilt from the log instead
                let p = entry.path();
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        } else if let Some(base) = ["log", "index", "timeindex", txn_index::SUFFIX]
            .iter()
            .find_map(|kind| segment::parse_base_offset(name, kind))
        {
            bases.insert(base);
        }
    }
    swaps.sort_unstable();
    for (base, p) in txn_swaps {
        if swaps.binary_search(&base).is_err() {
            std::fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    for base in swaps {
        let swap_path = dir.join(segment::file_name(base, "log") + SWAP_SUFFIX);
        let end = next_offset_of(&swap_path)?.unwrap_or(base);
        // a `<base>.txnindex` without its `.swap` is the cleaned one, already renamed (the
        // old segment's went before any rename; the cleaned one holds all its entries)
        let new_txn_index = !txn_index::path(dir, base, SWAP_SUFFIX).exists();
        for &old in bases
            .iter()
            .filter(|&&b| b >= base && (b < end || b == base))
        {
            for name in names(old, "") {
                if old == base && new_txn_index && name.ends_with(txn_index::SUFFIX) {
                    continue;
                }
                let p = dir.join(name);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&p)(e)),
                }
            }
        }
        let mut seg = LogSegment::open_files_with_suffix(dir, base, SWAP_SUFFIX)?;
        seg.recover(index_interval_bytes)?;
        seg.seal()?;
        drop(seg);
        rename_files(dir, base, SWAP_SUFFIX, "")?;
        checkpoint::sync_dir(dir)?;
        warn!(partition = %tp, base_offset = base, replaced_to = end,
            "finished a log cleaning swap interrupted by a crash");
    }
    Ok(())
}

/// The offset after the last whole batch of a segment file (`None` if it has none).
fn next_offset_of(path: &Path) -> Result<Option<i64>, LogError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut pos = 0u64;
    let mut next = None;
    let mut head = [0u8; HEADER_SIZE];
    while pos + HEADER_SIZE as u64 <= len {
        file.read_exact_at(&mut head, pos).map_err(io_err(path))?;
        let Some(h) = BatchHeader::parse(&head) else {
            break;
        };
        let Some(size) = h.size() else { break };
        if pos + size as u64 > len {
            break;
        }
        next = Some(h.next_offset());
        pos += size as u64;
    }
    Ok(next)
}
