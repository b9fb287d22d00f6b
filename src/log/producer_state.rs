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

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader};
use super::checkpoint;
use super::segment;
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
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
        }
    }
    pub fn last(&self) -> Option<&BatchMetadata> {
        self.batches.back()
    }
    /// Remembers a batch written at `epoch`: a new epoch forgets the old one's batches,
    /// and only the last [`BATCHES_TO_RETAIN`] are kept.
    fn apply(&mut self, epoch: i16, batch: BatchMetadata) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() >= BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
    /// The max timestamp of the last batch: expiration counts from it, as Kafka's does.
    pub fn last_timestamp(&self) -> i64 {
        self.last().map_or(-1, |b| b.timestamp)
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
}

impl PendingBatch {
    fn new(h: &BatchHeader, base_offset: i64) -> Self {
        PendingBatch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
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

    fn has(&self, producer_id: i64) -> bool {
        self.batches.iter().any(|p| p.producer_id == producer_id)
    }

    fn of(&self, producer_id: i64) -> impl Iterator<Item = &PendingBatch> {
        self.batches
            .iter()
            .filter(move |p| p.producer_id == producer_id)
    }
}

/// Every producer's state in one partition, as of `end_offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// The offset up to which batches have been applied.
    end_offset: i64,
}

impl ProducerStates {
    pub fn new(end_offset: i64) -> Self {
        ProducerStates {
            producers: HashMap::new(),
            end_offset,
        }
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
        if h.producer_epoch == entry.epoch {
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
        if h.producer_epoch != entry.epoch {
            if h.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence(format!(
                    "invalid sequence number {} for the new epoch {} of producer {} (expected 0)",
                    h.base_sequence, h.producer_epoch, h.producer_id
                )));
            }
        } else if let Some(last) = entry.last() {
            if !in_sequence(last.last_seq, h.base_sequence) {
                return Err(LogError::OutOfOrderSequence(format!(
                    "out of order sequence number for producer {}: {} (incoming), {} (current end)",
                    h.producer_id, h.base_sequence, last.last_seq
                )));
            }
        }
        Ok(Check::Append)
    }

    /// Makes the batches of a written append current (in place: an entry that already
    /// holds its five batches allocates nothing) and moves the end offset.
    pub fn commit(&mut self, pending: PendingBatches, end_offset: i64) {
        for p in pending.batches {
            self.apply(p);
        }
        self.end_offset = end_offset;
    }

    fn apply(&mut self, p: PendingBatch) {
        self.producers
            .entry(p.producer_id)
            .or_insert_with(|| ProducerEntry::new(p.epoch))
            .apply(p.epoch, p.batch);
    }

    /// Applies a batch read back from the log (recovery), without checks, as Kafka does
    /// for batches it replays.
    pub fn replay(&mut self, h: &BatchHeader) {
        if h.producer_id >= 0 && !h.is_control() && h.base_sequence >= 0 {
            self.apply(PendingBatch::new(h, h.base_offset));
        }
        self.end_offset = self.end_offset.max(h.next_offset());
    }

    /// Moves the end offset without applying anything (the log end after a replay).
    pub fn set_end_offset(&mut self, end_offset: i64) {
        self.end_offset = end_offset;
    }

    /// Forgets producers idle for `expiration_ms` (by their last batch's timestamp).
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms - e.last_timestamp() < expiration_ms);
        before - self.producers.len()
    }

    /// Forgets producers whose last batch is below the log start offset (its data was
    /// deleted), as Kafka does when the log start moves.
    pub fn evict_below(&mut self, log_start_offset: i64) {
        self.producers
            .retain(|_, e| e.last().is_some_and(|b| b.last_offset >= log_start_offset));
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
            let (last_seq, last_offset, offset_delta, timestamp) = match e.last() {
                Some(b) => (
                    b.last_seq,
                    b.last_offset,
                    (b.last_offset - b.first_offset) as i32,
                    b.timestamp,
                ),
                None => (-1, -1, 0, -1),
            };
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&last_seq.to_be_bytes());
            out.extend_from_slice(&last_offset.to_be_bytes());
            out.extend_from_slice(&offset_delta.to_be_bytes());
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(&(-1i32).to_be_bytes()); // coordinator epoch
            out.extend_from_slice(&(-1i64).to_be_bytes()); // no open transaction
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
            states
                .producers
                .insert(producer_id, ProducerEntry { epoch, batches });
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
