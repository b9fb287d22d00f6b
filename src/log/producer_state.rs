//! Idempotent producer state of one partition (Kafka's `ProducerStateManager`): per
//! producer id, its epoch and the sequence ranges of its last five batches, so that a
//! retried batch is recognised and answered with its original offsets instead of being
//! written twice, and a gap in the sequence is refused.
//!
//! This is a state machine with no I/O of its own except the snapshot files, which use
//! Kafka's format (version 1) and names (`<offset:020>.snapshot`, the state as of that
//! offset), so Kafka's `DumpLogSegments` reads them and Kafka could load them.
//!
//! The rules, as `ProducerAppendInfo` in Kafka 4 applies them to a client's batch:
//! - an epoch lower than the producer's current one: INVALID_PRODUCER_EPOCH;
//! - a batch whose epoch and first and last sequence match one of the last five batches:
//!   a duplicate, answered with success and that batch's offsets, nothing appended;
//! - same epoch: the first sequence must follow the last one (wrapping after
//!   `i32::MAX` to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a new, higher epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer id this partition has no state for (new, expired, or whose batches were
//!   all deleted) is accepted at any sequence: Kafka 4 no longer answers
//!   UNKNOWN_PRODUCER_ID for it.
//!
//! Transactions (Kafka's `ProducerAppendInfo.appendDataBatch` / `appendEndTxnMarker`):
//! - a transactional data batch from a producer with no open transaction opens one at the
//!   batch's base offset; a non-transactional batch from a producer with an open one is
//!   INVALID_TXN_STATE;
//! - a marker ([`TxnMarker`]) with an epoch below the producer's is INVALID_PRODUCER_EPOCH,
//!   with a coordinator epoch below the stored one TRANSACTION_COORDINATOR_FENCED; it
//!   completes the open transaction (if any), which then stays "unreplicated" until the
//!   high watermark passes its marker, so that [`ProducerStates::first_unstable_offset`]
//!   is Kafka's `firstUnstableOffset`;
//! - batches the coordinator writes itself (offset commits inside a transaction, base
//!   sequence -1) open and continue transactions without sequence checks
//!   (`AppendOrigin.COORDINATOR`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader};
use super::checkpoint;
use super::segment;
use super::txn_index::AbortedTxn;
use super::{io_err, LogError};

/// How many batches per producer are remembered for duplicate detection (Kafka's
/// `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`, and the most in-flight requests an
/// idempotent producer may have).
pub const BATCHES_TO_RETAIN: usize = 5;
/// `producer.id.expiration.ms`'s default: one day.
pub const DEFAULT_EXPIRATION_MS: i64 = 86_400_000;

const SNAPSHOT_VERSION: i16 = 1;
const SNAPSHOT_SUFFIX: &str = "snapshot";
/// version (2) + crc (4) + entry count (4)
const SNAPSHOT_HEADER: usize = 10;
/// producer id 8, epoch 2, last sequence 4, last offset 8, offset delta 4, timestamp 8,
/// coordinator epoch 4, current transaction first offset 8
const SNAPSHOT_ENTRY: usize = 46;

/// One appended batch of a producer, as remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

/// What the partition knows of one producer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    /// The coordinator epoch of the last marker written for this producer; -1 until then.
    pub coordinator_epoch: i32,
    /// The open transaction's first offset.
    pub current_txn_first_offset: Option<i64>,
    /// The timestamp of the last marker (a producer whose last write was a marker is idle
    /// from then on, as Kafka's `lastTimestamp`); -1 when none.
    pub last_marker_timestamp: i64,
}

/// A COMMIT or ABORT control batch for one producer (WriteTxnMarkers' one marker, one partition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// Control record types of transaction markers (Kafka's `ControlRecordType`).
pub const CONTROL_TYPE_ABORT: i16 = 0;
pub const CONTROL_TYPE_COMMIT: i16 = 1;

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_marker_timestamp: -1,
        }
    }
    /// Takes `epoch`: a new one forgets the old one's batches.
    fn set_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
    pub fn last(&self) -> Option<&BatchMetadata> {
        self.batches.back()
    }
    /// Remembers a batch written at `epoch`: a new epoch forgets the old one's batches,
    /// and only the last [`BATCHES_TO_RETAIN`] are kept.
    fn apply(&mut self, epoch: i16, batch: BatchMetadata) {
        self.set_epoch(epoch);
        if batch.first_seq < 0 {
            // a coordinator's batch has no sequence: nothing to detect duplicates by
            return;
        }
        if self.batches.len() >= BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
    /// The max timestamp of the last batch: expiration counts from it, as Kafka's does.
    pub fn last_timestamp(&self) -> i64 {
        self.last()
            .map_or(-1, |b| b.timestamp)
            .max(self.last_marker_timestamp)
    }
    /// The last sequence number written, -1 when none (DescribeProducers).
    pub fn last_sequence(&self) -> i32 {
        self.last().map_or(-1, |b| b.last_seq)
    }
}

/// The sequence number `delta` after `seq`, wrapping after `i32::MAX` to 0 as producers do.
pub fn seq_add(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta {
        delta - (i32::MAX - seq) - 1
    } else {
        seq + delta
    }
}

/// The sequence number `delta` before `seq`, the inverse of [`seq_add`].
pub fn seq_sub(seq: i32, delta: i32) -> i32 {
    if seq < delta {
        i32::MAX - (delta - seq) + 1
    } else {
        seq - delta
    }
}

fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// The outcome of checking one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not an idempotent batch (no producer id): nothing to track.
    Untracked,
    /// New data in sequence: append it, then [`ProducerStates::record`] it.
    Append,
    /// Already in the log: answer with these offsets and append nothing.
    Duplicate(BatchMetadata),
}

/// One checked batch of an append, waiting for the write to be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingBatch {
    producer_id: i64,
    epoch: i16,
    batch: BatchMetadata,
    transactional: bool,
    /// For a marker: (commit, coordinator epoch).
    marker: Option<(bool, i32)>,
}

impl PendingBatch {
    fn new(h: &BatchHeader, base_offset: i64) -> Self {
        PendingBatch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            transactional: h.is_transactional(),
            marker: None,
            batch: BatchMetadata {
                first_seq: h.base_sequence,
                last_seq: seq_add(h.base_sequence, h.last_offset_delta),
                first_offset: base_offset,
                last_offset: base_offset + i64::from(h.last_offset_delta),
                timestamp: h.max_timestamp,
            },
        }
    }
}

/// The idempotent batches of one append that passed [`ProducerStates::check`], in order,
/// until the append is written and [`ProducerStates::commit`] applies them. A plain list:
/// an append holds one batch per partition from Kafka's clients, so it stays empty or
/// tiny, and neither hashing nor a copy of the producer's entry is needed per batch.
#[derive(Clone, Debug, Default)]
pub struct PendingBatches {
    batches: Vec<PendingBatch>,
}

impl PendingBatches {
    /// Records the batch `h` (tracked, checked: [`Check::Append`]) as written at
    /// `base_offset`.
    pub fn push(&mut self, h: &BatchHeader, base_offset: i64) {
        self.batches.push(PendingBatch::new(h, base_offset));
    }

    /// Records the marker `m` (checked: [`ProducerStates::check_marker`]) as written at
    /// `offset` with `timestamp`.
    pub fn push_marker(&mut self, m: &TxnMarker, offset: i64, timestamp: i64) {
        self.batches.push(PendingBatch {
            producer_id: m.producer_id,
            epoch: m.producer_epoch,
            transactional: true,
            marker: Some((m.commit, m.coordinator_epoch)),
            batch: BatchMetadata {
                first_seq: -1,
                last_seq: -1,
                first_offset: offset,
                last_offset: offset,
                timestamp,
            },
        });
    }

    fn has(&self, producer_id: i64) -> bool {
        self.batches.iter().any(|p| p.producer_id == producer_id)
    }

    fn of(&self, producer_id: i64) -> impl Iterator<Item = &PendingBatch> {
        self.batches
            .iter()
            .filter(move |p| p.producer_id == producer_id)
    }
}

/// A transaction a marker completed (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// Every producer's state in one partition, as of `end_offset`.
///
/// Invariant: `ongoing` holds exactly the `current_txn_first_offset`s of the entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// The offset up to which batches have been applied.
    end_offset: i64,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker the high watermark may not have passed yet:
    /// first offset -> marker offset (Kafka's `unreplicatedTxns`).
    unreplicated: BTreeMap<i64, i64>,
}

impl ProducerStates {
    pub fn new(end_offset: i64) -> Self {
        ProducerStates {
            producers: HashMap::new(),
            end_offset,
            ongoing: BTreeMap::new(),
            unreplicated: BTreeMap::new(),
        }
    }

    /// The first offset of the oldest transaction that is open, or completed with its
    /// marker at or above `high_watermark`.
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        let open = self.ongoing.keys().next().copied();
        let unreplicated = self
            .unreplicated
            .iter()
            .find(|(_, &last)| last >= high_watermark)
            .map(|(&first, _)| first);
        match (open, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True if [`Self::on_high_watermark`] would forget something.
    pub fn has_replicated(&self, high_watermark: i64) -> bool {
        self.unreplicated
            .values()
            .any(|&last| last < high_watermark)
    }

    /// Forgets completed transactions whose marker is below `high_watermark`.
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.unreplicated.retain(|_, last| *last >= high_watermark);
    }

    /// Open transactions, oldest first: (first offset, producer id).
    pub fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(&f, &p)| (f, p))
    }

    /// Checks a marker against the producer's state (Kafka's `appendEndTxnMarker` checks).
    pub fn check_marker(&self, m: &TxnMarker) -> Result<(), LogError> {
        let Some(entry) = self.producers.get(&m.producer_id) else {
            return Ok(());
        };
        if m.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "marker epoch {} of producer {} is smaller than the last seen epoch {}",
                m.producer_epoch, m.producer_id, entry.epoch
            )));
        }
        if m.coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::TransactionCoordinatorFenced(format!(
                "coordinator epoch {} for producer {} is older than the current {}",
                m.coordinator_epoch, m.producer_id, entry.coordinator_epoch
            )));
        }
        Ok(())
    }

    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer's entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&i64, &ProducerEntry)> {
        self.producers.iter()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The highest producer id seen, so an allocator never hands it out again.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.keys().copied().max()
    }

    /// Checks a client's batch against the state (see the module doc for the rules).
    /// `pending` holds the batches accepted earlier in the same append, which count as if
    /// already applied.
    pub fn check(&self, h: &BatchHeader, pending: &PendingBatches) -> Result<Check, LogError> {
        self.check_origin(h, pending, false)
    }

    /// [`Self::check`] for a batch the broker's coordinator writes (`coordinator`: Kafka's
    /// `AppendOrigin.COORDINATOR`): the epoch and transaction state are checked, neither
    /// sequence nor duplicates.
    pub fn check_origin(
        &self,
        h: &BatchHeader,
        pending: &PendingBatches,
        coordinator: bool,
    ) -> Result<Check, LogError> {
        if h.producer_id < 0 || h.is_control() {
            return Ok(Check::Untracked);
        }
        // (a producer id without a sequence never gets here: `validate_append` refuses it)
        let stored = self.producers.get(&h.producer_id);
        // The usual append has one batch per producer: then the stored entry is read in
        // place. Only a producer with earlier batches in this same append gets a copy.
        let updated;
        let entry = if pending.has(h.producer_id) {
            let mut e = stored
                .cloned()
                .unwrap_or_else(|| ProducerEntry::new(h.producer_epoch));
            for p in pending.of(h.producer_id) {
                e.apply(p.epoch, p.batch);
                if p.transactional && p.marker.is_none() {
                    e.current_txn_first_offset
                        .get_or_insert(p.batch.first_offset);
                }
            }
            updated = e;
            &updated
        } else {
            match stored {
                Some(e) => e,
                None => return Ok(Check::Append),
            }
        };
        let last_seq = seq_add(h.base_sequence, h.last_offset_delta);
        if h.producer_epoch == entry.epoch && !coordinator {
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
            {
                return Ok(Check::Duplicate(*dup));
            }
        }
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "epoch {} of producer {} is smaller than the last seen epoch {}",
                h.producer_epoch, h.producer_id, entry.epoch
            )));
        }
        if entry.current_txn_first_offset.is_some() && !h.is_transactional() {
            return Err(LogError::InvalidTxnState(format!(
                "expected a transactional write from producer {}",
                h.producer_id
            )));
        }
        if coordinator {
            return Ok(Check::Append);
        }
        if h.producer_epoch != entry.epoch {
            if h.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence(format!(
                    "invalid sequence number {} for the new epoch {} of producer {} (expected 0)",
                    h.base_sequence, h.producer_epoch, h.producer_id
                )));
            }
        } else {
            // an entry of this epoch with no batch (its epoch came with a marker, as
            // transaction version 2's bumps do) expects sequence 0, as Kafka's
            // `checkSequence` (a last sequence of -1)
            let last_seq = entry.last().map_or(-1, |b| b.last_seq);
            if !in_sequence(last_seq, h.base_sequence) {
                return Err(LogError::OutOfOrderSequence(format!(
                    "out of order sequence number for producer {}: {} (incoming), {} (current end)",
                    h.producer_id, h.base_sequence, last_seq
                )));
            }
        }
        Ok(Check::Append)
    }

    /// Makes the batches of a written append current (in place: an entry that already
    /// holds its five batches allocates nothing) and moves the end offset.
    /// Returns the transactions the markers among them completed, in order.
    pub fn commit(&mut self, pending: PendingBatches, end_offset: i64) -> Vec<CompletedTxn> {
        let mut done = Vec::new();
        for p in pending.batches {
            if let Some(c) = self.apply(p) {
                done.push(c);
            }
        }
        self.end_offset = end_offset;
        done
    }

    fn apply(&mut self, p: PendingBatch) -> Option<CompletedTxn> {
        let entry = self
            .producers
            .entry(p.producer_id)
            .or_insert_with(|| ProducerEntry::new(p.epoch));
        if let Some((commit, coordinator_epoch)) = p.marker {
            // a marker may carry a newer epoch (the coordinator bumped it on abort)
            if p.epoch > entry.epoch {
                entry.set_epoch(p.epoch);
            }
            entry.coordinator_epoch = coordinator_epoch;
            entry.last_marker_timestamp = p.batch.timestamp;
            let first = entry.current_txn_first_offset.take()?;
            self.ongoing.remove(&first);
            self.unreplicated.insert(first, p.batch.last_offset);
            return Some(CompletedTxn {
                producer_id: p.producer_id,
                first_offset: first,
                last_offset: p.batch.last_offset,
                aborted: !commit,
            });
        }
        entry.apply(p.epoch, p.batch);
        if p.transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(p.batch.first_offset);
            self.ongoing.insert(p.batch.first_offset, p.producer_id);
        }
        None
    }

    /// Kafka's `lastStableOffset(completedTxn)` for an aborted transaction's index entry:
    /// the first offset of the oldest other open transaction, else the one after its
    /// marker.
    pub fn aborted_entry(&self, c: &CompletedTxn) -> AbortedTxn {
        let last_stable_offset = self
            .ongoing
            .iter()
            .find(|(_, &pid)| pid != c.producer_id)
            .map_or(c.last_offset + 1, |(&first, _)| first);
        AbortedTxn {
            producer_id: c.producer_id,
            first_offset: c.first_offset,
            last_offset: c.last_offset,
            last_stable_offset,
        }
    }

    /// Applies a batch read back from the log (recovery, a follower's append), without
    /// checks, as Kafka does for batches it replays. `marker` is the control record's
    /// (commit, coordinator epoch) when `h` is a transaction marker. Returns the
    /// transaction a marker completed.
    pub fn replay(&mut self, h: &BatchHeader, marker: Option<(bool, i32)>) -> Option<CompletedTxn> {
        self.end_offset = self.end_offset.max(h.next_offset());
        if h.producer_id < 0 {
            return None;
        }
        if h.is_control() {
            let (commit, coordinator_epoch) = marker?;
            let m = TxnMarker {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                coordinator_epoch,
                commit,
            };
            let mut p = PendingBatches::default();
            p.push_marker(&m, h.base_offset, h.max_timestamp);
            return p.batches.pop().and_then(|b| self.apply(b));
        }
        let mut p = PendingBatch::new(h, h.base_offset);
        if h.base_sequence < 0 {
            p.batch.first_seq = -1;
            p.batch.last_seq = -1;
        }
        if let Some(e) = self.producers.get(&h.producer_id) {
            if e.current_txn_first_offset.is_some() && !p.transactional {
                // Kafka's replay refuses this too; the leader never wrote it
                return None;
            }
        }
        self.apply(p)
    }

    /// Moves the end offset without applying anything (the log end after a replay).
    pub fn set_end_offset(&mut self, end_offset: i64) {
        self.end_offset = end_offset;
    }

    /// Forgets producers idle for `expiration_ms` (by their last batch's timestamp).
    /// A producer with an open transaction is kept, as Kafka keeps it.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some() || now_ms - e.last_timestamp() < expiration_ms
        });
        before - self.producers.len()
    }

    /// Forgets producers whose last batch is below the log start offset (its data was
    /// deleted), as Kafka does when the log start moves.
    pub fn evict_below(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || e.last().is_some_and(|b| b.last_offset >= log_start_offset)
        });
        self.unreplicated
            .retain(|_, last| *last >= log_start_offset);
    }

    /// Kafka's snapshot format, version 1: version i16, CRC-32C (u32) of everything after
    /// it, then the entries (an i32 count, each 46 bytes; only the last batch of each
    /// producer is kept, as in Kafka).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER + ids.len() * SNAPSHOT_ENTRY);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for (id, e) in ids
            .into_iter()
            .filter_map(|id| Some((id, self.producers.get(id)?)))
        {
            // an entry with no batch (read from a Kafka snapshot that had one) keeps its
            // epoch; Kafka writes it with no sequence, offset or timestamp
            let (last_seq, last_offset, offset_delta) = match e.last() {
                Some(b) => (
                    b.last_seq,
                    b.last_offset,
                    (b.last_offset - b.first_offset) as i32,
                ),
                None => (-1, -1, 0),
            };
            let timestamp = e.last_timestamp();
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&last_seq.to_be_bytes());
            out.extend_from_slice(&last_offset.to_be_bytes());
            out.extend_from_slice(&offset_delta.to_be_bytes());
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
        }
        let crc = crc32c::crc32c(out.get(6..).unwrap_or_default());
        if let Some(field) = out.get_mut(2..6) {
            field.copy_from_slice(&crc.to_be_bytes());
        }
        out
    }

    /// Reads a snapshot written by [`Self::encode_snapshot`] or by Kafka.
    pub fn decode_snapshot(bytes: &[u8], end_offset: i64) -> Result<Self, String> {
        let short = || "shorter than its header".to_string();
        let field = |at: usize, len: usize| bytes.get(at..at + len).ok_or_else(short);
        let version = i16::from_be_bytes(field(0, 2)?.try_into().map_err(|_| short())?);
        if version != SNAPSHOT_VERSION {
            return Err(format!("unknown version {version}"));
        }
        let crc = u32::from_be_bytes(field(2, 4)?.try_into().map_err(|_| short())?);
        if crc != crc32c::crc32c(bytes.get(6..).unwrap_or_default()) {
            return Err("CRC mismatch".into());
        }
        let count = i32::from_be_bytes(field(6, 4)?.try_into().map_err(|_| short())?);
        let count = usize::try_from(count).map_err(|_| format!("entry count {count}"))?;
        if bytes.len() != SNAPSHOT_HEADER + count * SNAPSHOT_ENTRY {
            return Err(format!("{} bytes for {count} entries", bytes.len()));
        }
        let mut states = ProducerStates::new(end_offset);
        let entries = bytes.get(SNAPSHOT_HEADER..).unwrap_or_default();
        for e in entries.chunks_exact(SNAPSHOT_ENTRY) {
            // chunks_exact: every field below is inside the entry
            let i64_at = |at: usize| batch::be_i64(e, at).unwrap_or(-1);
            let i32_at = |at: usize| batch::be_i32(e, at).unwrap_or(-1);
            let producer_id = i64_at(0);
            let epoch = batch::be_i16(e, 8).unwrap_or(-1);
            let last_seq = i32_at(10);
            let last_offset = i64_at(14);
            let offset_delta = i32_at(22);
            let timestamp = i64_at(26);
            let coordinator_epoch = i32_at(34);
            let txn_first = i64_at(38);
            let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            let mut batches = VecDeque::new();
            if last_seq >= 0 && offset_delta >= 0 {
                batches.push_back(BatchMetadata {
                    first_seq: seq_sub(last_seq, offset_delta),
                    last_seq,
                    first_offset: last_offset - i64::from(offset_delta),
                    last_offset,
                    timestamp,
                });
            }
            let last_marker_timestamp = if batches.is_empty() { timestamp } else { -1 };
            if let Some(first) = current_txn_first_offset {
                states.ongoing.insert(first, producer_id);
            }
            states.producers.insert(
                producer_id,
                ProducerEntry {
                    epoch,
                    batches,
                    coordinator_epoch,
                    current_txn_first_offset,
                    last_marker_timestamp,
                },
            );
        }
        Ok(states)
    }
}

/// `<dir>/<offset:020>.snapshot`
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(segment::file_name(offset, SNAPSHOT_SUFFIX))
}

/// The offsets of the snapshot files in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(offset) = entry
            .file_name()
            .to_str()
            .and_then(|n| segment::parse_base_offset(n, SNAPSHOT_SUFFIX))
        {
            out.push(offset);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes the state as `<offset>.snapshot` (the state as of that offset), durably.
pub fn write_snapshot(dir: &Path, offset: i64, states: &ProducerStates) -> Result<(), LogError> {
    checkpoint::write_atomic(&snapshot_path(dir, offset), &states.encode_snapshot())
}

/// Deletes the snapshot at `offset` if present.
pub fn delete_snapshot(dir: &Path, offset: i64) -> Result<(), LogError> {
    let path = snapshot_path(dir, offset);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Loads the newest readable snapshot at or below `max_offset`, deleting newer ones and
/// unreadable ones on the way (a snapshot past the log end describes data that is gone).
/// `None` when there is none.
pub fn load_latest(dir: &Path, max_offset: i64) -> Result<Option<ProducerStates>, LogError> {
    for offset in list_snapshots(dir)?.into_iter().rev() {
        if offset > max_offset {
            delete_snapshot(dir, offset)?;
            continue;
        }
        let path = snapshot_path(dir, offset);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        match ProducerStates::decode_snapshot(&bytes, offset) {
            Ok(states) => return Ok(Some(states)),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "unreadable producer snapshot; deleting it");
                delete_snapshot(dir, offset)?;
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: records,
        }
    }

    /// Checks and, if new, appends at `offset`; returns the check and the next offset.
    fn append(s: &mut ProducerStates, h: &BatchHeader, offset: i64) -> Result<Check, LogError> {
        let c = s.check(h, &PendingBatches::default())?;
        if c == Check::Append {
            let mut p = PendingBatches::default();
            p.push(h, offset);
            s.commit(p, offset + i64::from(h.records_count));
        }
        Ok(c)
    }

    #[test]
    fn in_sequence_batches_append_and_a_gap_is_out_of_order() {
        let mut s = ProducerStates::new(0);
        assert_eq!(
            append(&mut s, &header(7, 0, 0, 3), 0).expect("ok"),
            Check::Append
        );
        assert_eq!(
            append(&mut s, &header(7, 0, 3, 2), 3).expect("ok"),
            Check::Append
        );
        let gap = append(&mut s, &header(7, 0, 6, 1), 5).expect_err("an error");
        assert_eq!(gap.code().code(), 45, "{gap}");
        // a batch overlapping the last one but not identical to any is out of order too
        let overlap = append(&mut s, &header(7, 0, 4, 1), 5).expect_err("an error");
        assert_eq!(overlap.code().code(), 45);
    }

    #[test]
    fn duplicates_of_the_last_five_batches_return_their_offsets() {
        let mut s = ProducerStates::new(0);
        for i in 0..6 {
            append(&mut s, &header(1, 0, i * 2, 2), i64::from(i) * 2).expect("ok");
        }
        // batches 1..=5 are remembered; batch 0 (seq 0..1) is not
        for i in 1..6 {
            match append(&mut s, &header(1, 0, i * 2, 2), 999).expect("ok") {
                Check::Duplicate(b) => {
                    assert_eq!(b.first_offset, i64::from(i) * 2);
                    assert_eq!(b.last_offset, i64::from(i) * 2 + 1);
                }
                other => panic!("batch {i}: {other:?}"),
            }
        }
        assert_eq!(
            append(&mut s, &header(1, 0, 0, 2), 999)
                .expect_err("an error")
                .code()
                .code(),
            45
        );
        assert_eq!(s.get(1).expect("ok").batches.len(), BATCHES_TO_RETAIN);
    }

    #[test]
    fn epochs_fence_older_producers_and_a_new_epoch_starts_at_zero() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &header(3, 5, 0, 1), 0).expect("ok");
        let old = append(&mut s, &header(3, 4, 1, 1), 1).expect_err("an error");
        assert_eq!(old.code().code(), 47, "{old}");
        let bad_start = append(&mut s, &header(3, 6, 1, 1), 1).expect_err("an error");
        assert_eq!(bad_start.code().code(), 45, "{bad_start}");
        assert_eq!(
            append(&mut s, &header(3, 6, 0, 1), 1).expect("ok"),
            Check::Append
        );
        assert_eq!(s.get(3).expect("ok").epoch, 6);
        assert_eq!(s.get(3).expect("ok").batches.len(), 1);
    }

    #[test]
    fn unknown_producers_are_accepted_at_any_sequence_and_untracked_batches_ignored() {
        let mut s = ProducerStates::new(0);
        assert_eq!(
            append(&mut s, &header(9, 0, 42, 1), 0).expect("ok"),
            Check::Append
        );
        assert_eq!(
            append(&mut s, &header(9, 0, 43, 1), 1).expect("ok"),
            Check::Append
        );
        assert_eq!(
            append(&mut s, &header(-1, -1, -1, 1), 2).expect("ok"),
            Check::Untracked
        );
        // (a producer id with sequence -1 is refused earlier, by validate::validate_append)
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(seq_add(i32::MAX, 1), 0);
        assert_eq!(seq_add(i32::MAX - 1, 3), 1);
        assert_eq!(seq_sub(1, 3), i32::MAX - 1);
        assert_eq!(seq_sub(5, 2), 3);
        let mut s = ProducerStates::new(0);
        append(&mut s, &header(2, 0, i32::MAX - 1, 2), 0).expect("ok");
        assert_eq!(s.get(2).expect("ok").batches[0].last_seq, i32::MAX);
        assert_eq!(
            append(&mut s, &header(2, 0, 0, 1), 2).expect("ok"),
            Check::Append
        );
    }

    #[test]
    fn snapshot_round_trips_the_last_batch_of_each_producer() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &header(1, 0, 0, 3), 0).expect("ok");
        append(&mut s, &header(1, 0, 3, 2), 3).expect("ok");
        append(&mut s, &header(2, 7, 10, 4), 5).expect("ok");
        let bytes = s.encode_snapshot();
        assert_eq!(bytes.len(), SNAPSHOT_HEADER + 2 * SNAPSHOT_ENTRY);
        let back = ProducerStates::decode_snapshot(&bytes, 9).expect("ok");
        assert_eq!(back.end_offset(), 9);
        let e1 = back.get(1).expect("ok");
        assert_eq!(e1.batches.len(), 1);
        assert_eq!(
            e1.batches[0],
            BatchMetadata {
                first_seq: 3,
                last_seq: 4,
                first_offset: 3,
                last_offset: 4,
                timestamp: 1_000
            }
        );
        assert_eq!(back.get(2).expect("ok").epoch, 7);
        // the restored state still answers a retry of the last batch as a duplicate
        let mut back = back;
        assert!(matches!(
            append(&mut back, &header(1, 0, 3, 2), 9).expect("ok"),
            Check::Duplicate(_)
        ));
        assert_eq!(
            append(&mut back, &header(1, 0, 5, 1), 9).expect("ok"),
            Check::Append
        );
        let mut corrupt = s.encode_snapshot();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(ProducerStates::decode_snapshot(&corrupt, 9).is_err());
    }

    #[test]
    fn an_entry_without_batches_survives_a_snapshot_round_trip() {
        // Kafka writes such entries (no sequence yet, e.g. after an epoch bump); reading
        // one and writing the state back must give a snapshot that still decodes
        let mut s = ProducerStates::new(0);
        append(&mut s, &header(1, 0, 0, 3), 0).expect("ok");
        s.producers.insert(
            5,
            ProducerEntry {
                epoch: 3,
                batches: VecDeque::new(),
                coordinator_epoch: -1,
                current_txn_first_offset: None,
                last_marker_timestamp: -1,
            },
        );
        let bytes = s.encode_snapshot();
        assert_eq!(bytes.len(), SNAPSHOT_HEADER + 2 * SNAPSHOT_ENTRY);
        let back = ProducerStates::decode_snapshot(&bytes, 3).expect("decodes");
        assert_eq!(back.get(5).expect("kept").epoch, 3);
        assert!(back.get(5).expect("kept").batches.is_empty());
        assert_eq!(back.get(1).expect("kept").batches.len(), 1);
        let again = ProducerStates::decode_snapshot(&back.encode_snapshot(), 3).expect("again");
        assert_eq!(again, back);
    }

    fn txn_header(pid: i64, epoch: i16, seq: i32, records: i32, offset: i64) -> BatchHeader {
        let mut h = header(pid, epoch, seq, records);
        h.attributes = super::super::batch::TRANSACTIONAL_MASK;
        h.base_offset = offset;
        h
    }

    fn marker(pid: i64, epoch: i16, coordinator_epoch: i32, commit: bool) -> TxnMarker {
        TxnMarker {
            producer_id: pid,
            producer_epoch: epoch,
            coordinator_epoch,
            commit,
        }
    }

    /// Checks and writes a marker at `offset`, as `PartitionLog::append_marker` does.
    fn end_txn(
        s: &mut ProducerStates,
        m: &TxnMarker,
        offset: i64,
    ) -> Result<Vec<CompletedTxn>, LogError> {
        s.check_marker(m)?;
        let mut p = PendingBatches::default();
        p.push_marker(m, offset, 2_000);
        Ok(s.commit(p, offset + 1))
    }

    #[test]
    fn a_transactional_batch_opens_a_transaction_and_a_marker_completes_it() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &txn_header(4, 1, 0, 2, 10), 10).expect("opens");
        append(&mut s, &txn_header(4, 1, 2, 1, 12), 12).expect("continues");
        assert_eq!(s.get(4).expect("entry").current_txn_first_offset, Some(10));
        assert_eq!(s.first_unstable_offset(0), Some(10));
        // ProducerAppendInfo: non-transactional data while a transaction is open
        let err = append(&mut s, &header(4, 1, 3, 1), 13).expect_err("refused");
        assert_eq!(err.code().code(), 48, "{err}");
        let done = end_txn(&mut s, &marker(4, 1, 5, false), 13).expect("marker");
        assert_eq!(
            done,
            vec![CompletedTxn {
                producer_id: 4,
                first_offset: 10,
                last_offset: 13,
                aborted: true
            }]
        );
        let e = s.get(4).expect("entry");
        assert_eq!((e.current_txn_first_offset, e.coordinator_epoch), (None, 5));
        // unreplicated until the high watermark passes the marker
        assert_eq!(s.first_unstable_offset(13), Some(10));
        assert_eq!(s.first_unstable_offset(14), None);
        assert!(!s.has_replicated(13) && s.has_replicated(14));
        s.on_high_watermark(14);
        assert!(!s.has_replicated(100), "forgotten");
        assert_eq!(s.first_unstable_offset(0), None);
        assert_eq!(
            s.aborted_entry(&done[0]).last_stable_offset,
            14,
            "no other open transaction: the offset after the marker"
        );
    }

    #[test]
    fn markers_are_fenced_by_producer_and_coordinator_epochs() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &txn_header(4, 3, 0, 1, 0), 0).expect("opens");
        end_txn(&mut s, &marker(4, 3, 7, true), 1).expect("commit");
        let old_epoch = end_txn(&mut s, &marker(4, 2, 7, true), 2).expect_err("fenced");
        assert_eq!(old_epoch.code().code(), 47, "{old_epoch}");
        let zombie = end_txn(&mut s, &marker(4, 3, 6, false), 2).expect_err("fenced");
        assert_eq!(zombie.code().code(), 52, "{zombie}");
        // a marker for a producer with no open transaction completes nothing
        assert!(end_txn(&mut s, &marker(4, 3, 7, false), 2)
            .expect("written")
            .is_empty());
        // a marker with a bumped epoch takes it
        end_txn(&mut s, &marker(4, 4, 7, false), 3).expect("bumped");
        assert_eq!(s.get(4).expect("entry").epoch, 4);
        // and the producer's next write at that epoch starts at sequence 0 (transaction
        // version 2: a batch that overtook a refused first one is out of order)
        let ahead = append(&mut s, &txn_header(4, 4, 1, 1, 4), 4).expect_err("a gap");
        assert_eq!(ahead.code().code(), 45, "{ahead}");
        append(&mut s, &txn_header(4, 4, 0, 1, 4), 4).expect("sequence 0");
    }

    #[test]
    fn coordinator_batches_need_no_sequence_and_open_transactions() {
        let mut s = ProducerStates::new(0);
        let h = txn_header(9, 2, -1, 1, 0);
        let p = PendingBatches::default();
        assert_eq!(s.check_origin(&h, &p, true).expect("ok"), Check::Append);
        let mut p = PendingBatches::default();
        p.push(&h, 0);
        s.commit(p, 1);
        let e = s.get(9).expect("entry");
        assert_eq!(e.current_txn_first_offset, Some(0));
        assert!(e.batches.is_empty(), "no sequence to remember");
        // the same batch again is no duplicate for the coordinator
        let p = PendingBatches::default();
        assert_eq!(s.check_origin(&h, &p, true).expect("ok"), Check::Append);
    }

    #[test]
    fn a_snapshot_keeps_open_transactions_and_coordinator_epochs() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &txn_header(1, 0, 0, 2, 0), 0).expect("opens");
        append(&mut s, &txn_header(2, 0, 0, 1, 2), 2).expect("opens");
        end_txn(&mut s, &marker(2, 0, 3, true), 3).expect("commit");
        let bytes = s.encode_snapshot();
        // producer 1's entry (the first, ids sorted): coordinator epoch -1, txn at 0
        let e1 = &bytes[SNAPSHOT_HEADER..SNAPSHOT_HEADER + SNAPSHOT_ENTRY];
        assert_eq!(&e1[34..38], &(-1i32).to_be_bytes());
        assert_eq!(&e1[38..46], &0i64.to_be_bytes());
        let e2 = &bytes[SNAPSHOT_HEADER + SNAPSHOT_ENTRY..];
        assert_eq!(&e2[34..38], &3i32.to_be_bytes());
        assert_eq!(&e2[38..46], &(-1i64).to_be_bytes());
        let back = ProducerStates::decode_snapshot(&bytes, 4).expect("decodes");
        assert_eq!(back.get(1).expect("1").current_txn_first_offset, Some(0));
        assert_eq!(back.get(2).expect("2").coordinator_epoch, 3);
        assert_eq!(back.first_unstable_offset(4), Some(0));
        assert_eq!(
            back.ongoing_transactions().collect::<Vec<_>>(),
            vec![(0, 1)]
        );
    }

    #[test]
    fn expiry_keeps_a_producer_with_an_open_transaction() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &txn_header(1, 0, 0, 1, 0), 0).expect("opens");
        append(&mut s, &header(2, 0, 0, 1), 1).expect("plain");
        assert_eq!(s.expire(1_000_000, 1_000), 1);
        assert!(s.get(1).is_some() && s.get(2).is_none());
    }

    #[test]
    fn expiry_and_eviction() {
        let mut s = ProducerStates::new(0);
        append(&mut s, &header(1, 0, 0, 1), 0).expect("ok");
        let mut h = header(2, 0, 0, 1);
        h.max_timestamp = 5_000;
        append(&mut s, &h, 1).expect("ok");
        assert_eq!(s.expire(5_500, 1_000), 1);
        assert!(s.get(1).is_none() && s.get(2).is_some());
        s.evict_below(2);
        assert!(s.is_empty());
    }
}
