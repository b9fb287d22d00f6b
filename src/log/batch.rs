//! The record batch header (magic v2): parsing it, validating a producer's batch the way
//! Kafka's `LogValidator` does, and the header rewrites an append makes (base offset,
//! partition leader epoch, LogAppendTime).
//!
//! Layout of a v2 batch (all big-endian), offsets from the start of the batch:
//!
//! | field                  | at | size |
//! |------------------------|----|------|
//! | base_offset            |  0 | 8    |
//! | batch_length           |  8 | 4    |  bytes after this field
//! | partition_leader_epoch | 12 | 4    |
//! | magic                  | 16 | 1    |
//! | crc (CRC-32C)          | 17 | 4    |  covers attributes .. end of batch
//! | attributes             | 21 | 2    |
//! | last_offset_delta      | 23 | 4    |
//! | base_timestamp         | 27 | 8    |
//! | max_timestamp          | 35 | 8    |
//! | producer_id            | 43 | 8    |
//! | producer_epoch         | 51 | 2    |
//! | base_sequence          | 53 | 4    |
//! | records_count          | 57 | 4    |
//! | records                | 61 | ...  |
//!
//! This module never trusts a length from the bytes it is given: every read is bounds-checked.

use super::LogError;

pub const BASE_OFFSET: usize = 0;
pub const BATCH_LENGTH: usize = 8;
pub const PARTITION_LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORDS_COUNT: usize = 57;
/// Size of the fixed header; the records follow it.
pub const HEADER_SIZE: usize = 61;
/// base_offset + batch_length: the bytes not counted by `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// The only record format Rafka writes and accepts.
pub const CURRENT_MAGIC: i8 = 2;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;

/// No timestamp (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// Compression codec from the low three attribute bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_attributes(attributes: i16) -> Result<Self, LogError> {
        Ok(match attributes & COMPRESSION_MASK {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => {
                return Err(LogError::Corrupt(format!(
                    "unknown compression codec {other}"
                )))
            }
        })
    }
}

/// How a topic stamps its records (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// The fixed header of one record batch, as read from bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Reads the header from the first [`HEADER_SIZE`] bytes; `None` if there are fewer.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_SIZE {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, BATCH_LENGTH),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            records_count: be_i32(b, RECORDS_COUNT),
        })
    }

    /// Whole size of the batch on disk, or `None` when `batch_length` cannot describe a v2
    /// batch (negative, or shorter than the fixed header).
    pub fn size(&self) -> Option<usize> {
        let len = usize::try_from(self.batch_length).ok()?;
        if len + LOG_OVERHEAD < HEADER_SIZE {
            return None;
        }
        Some(len + LOG_OVERHEAD)
    }

    /// Saturating: headers come from sockets and disks, and arithmetic on them must not
    /// panic (a hostile base offset near `i64::MAX` is rejected elsewhere, not here).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    pub fn compression(&self) -> Result<Compression, LogError> {
        Compression::from_attributes(self.attributes)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }
}

/// CRC-32C of a whole batch as stored in its header (over attributes .. end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// Checks that `batch` (exactly one whole batch) is intact: length, magic and CRC.
/// Used on recovery and on reads of data not yet verified since it was opened.
pub fn check_integrity(batch: &[u8]) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::parse(batch)
        .ok_or_else(|| LogError::Corrupt(format!("batch of {} bytes is too short", batch.len())))?;
    if header.magic != CURRENT_MAGIC {
        return Err(LogError::Corrupt(format!("magic {}", header.magic)));
    }
    match header.size() {
        Some(size) if size == batch.len() => {}
        _ => {
            return Err(LogError::Corrupt(format!(
                "batch length {} does not match {} bytes",
                header.batch_length,
                batch.len()
            )))
        }
    }
    let crc = compute_crc(batch);
    if crc != header.crc {
        return Err(LogError::Corrupt(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            header.crc
        )));
    }
    Ok(header)
}

/// Splits a buffer into whole batches, yielding `(position, header)`; stops at the first
/// incomplete or malformed batch, whose position [`BatchIter::position`] then reports.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0 }
    }

    /// Position just past the last batch yielded.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (usize, BatchHeader);

    fn next(&mut self) -> Option<Self::Item> {
        let header = BatchHeader::parse(&self.buf[self.pos..])?;
        let size = header.size()?;
        if self.buf.len() - self.pos < size {
            return None;
        }
        let at = self.pos;
        self.pos += size;
        Some((at, header))
    }
}

/// What validation learned about one batch of an append.
#[derive(Clone, Copy, Debug)]
pub struct ValidatedBatch {
    pub position: usize,
    pub size: usize,
    pub header: BatchHeader,
    /// Max record timestamp, recomputed from the records of uncompressed batches.
    pub max_timestamp: i64,
}

/// Validates a producer's records (one or more v2 batches back to back) as Kafka's
/// `LogValidator` and `UnifiedLog.analyzeAndValidateRecords` do, before anything is written:
///
/// - every batch whole, `batch_length` consistent with the bytes (CORRUPT_MESSAGE);
/// - magic 2 (older: UNSUPPORTED_FOR_MESSAGE_FORMAT, unknown: CORRUPT_MESSAGE);
/// - CRC-32C over attributes..end (CORRUPT_MESSAGE);
/// - size <= `max_message_bytes` (MESSAGE_TOO_LARGE);
/// - base offset 0, as clients send it; `last_offset_delta + 1 == records_count > 0`;
///   a compressed v2 append carries exactly one batch (INVALID_RECORD);
/// - no control batches (only a transaction coordinator writes those), and a batch with a
///   producer id carries a sequence number (INVALID_RECORD): the stateless half of the
///   idempotent producer's checks, the rest being [`super::producer_state`]'s;
/// - for uncompressed batches every record is parsed: lengths in bounds, offset deltas
///   0, 1, 2… (INVALID_RECORD / CORRUPT_MESSAGE).
///
/// Compressed batches are stored as they came, so their records are not decompressed here.
pub fn validate_append(
    records: &[u8],
    max_message_bytes: usize,
) -> Result<Vec<ValidatedBatch>, LogError> {
    if records.is_empty() {
        return Err(LogError::Corrupt("empty record set".into()));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD + 5 {
            return Err(LogError::Corrupt(format!(
                "truncated record batch: {} bytes left",
                rest.len()
            )));
        }
        let magic = rest[MAGIC] as i8;
        if magic < CURRENT_MAGIC {
            return Err(LogError::UnsupportedForMessageFormat(magic));
        }
        if magic > CURRENT_MAGIC {
            return Err(LogError::Corrupt(format!("unknown magic {magic}")));
        }
        let header = BatchHeader::parse(rest)
            .ok_or_else(|| LogError::Corrupt("record batch shorter than its header".into()))?;
        let size = header
            .size()
            .ok_or_else(|| LogError::Corrupt(format!("batch length {}", header.batch_length)))?;
        if size > max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        if size > rest.len() {
            return Err(LogError::Corrupt(format!(
                "batch of {size} bytes but only {} bytes sent",
                rest.len()
            )));
        }
        let batch = &rest[..size];
        check_integrity(batch)?;
        if header.base_offset != 0 {
            return Err(LogError::InvalidRecord(format!(
                "the base offset of a produced batch must be 0, not {}",
                header.base_offset
            )));
        }
        if header.last_offset_delta < 0 {
            return Err(LogError::InvalidRecord(
                "batch has an invalid offset range".into(),
            ));
        }
        if header.records_count <= 0 {
            return Err(LogError::InvalidRecord(format!(
                "invalid record count {}",
                header.records_count
            )));
        }
        if i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count) {
            return Err(LogError::InvalidRecord(format!(
                "inconsistent batch offset range (last offset delta {}) and record count {}",
                header.last_offset_delta, header.records_count
            )));
        }
        if header.is_control() {
            return Err(LogError::InvalidRecord(
                "clients are not allowed to write control records".into(),
            ));
        }
        if header.producer_id >= 0 && header.base_sequence < 0 {
            return Err(LogError::InvalidRecord(format!(
                "invalid sequence number {} in a record batch with producer id {}",
                header.base_sequence, header.producer_id
            )));
        }
        let compression = header.compression()?;
        let max_timestamp = if compression == Compression::None {
            super::records::validate_uncompressed(batch, &header)?
        } else {
            if pos != 0 || size != records.len() {
                return Err(LogError::InvalidRecord(
                    "compressed append carries more than one batch".into(),
                ));
            }
            header.max_timestamp
        };
        out.push(ValidatedBatch {
            position: pos,
            size,
            header,
            max_timestamp,
        });
        pos += size;
    }
    Ok(out)
}

/// Stamps an idempotent producer's id, epoch and first sequence on a batch and fixes its
/// CRC, as a producer does before sending it.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    batch[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites a validated batch's header for the log: its base offset, the partition leader
/// epoch, and, under LogAppendTime, the timestamp type and max timestamp (then the CRC,
/// which covers attributes and timestamps but not the offset or epoch). Under CreateTime an
/// uncompressed batch whose header max timestamp disagrees with its records is corrected.
/// `header` starts as a copy of the batch's first [`HEADER_SIZE`] bytes and is the only
/// thing written: `batch` (the whole batch as sent) is read for the CRC, never changed, so
/// the body can go to the log straight from the request. Returns the batch's max timestamp
/// as stored.
pub fn assign(
    header: &mut [u8; HEADER_SIZE],
    batch: &[u8],
    v: &ValidatedBatch,
    base_offset: i64,
    leader_epoch: i32,
    timestamp_type: TimestampType,
    now_ms: i64,
) -> i64 {
    header[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    let (attributes, max_timestamp) = match timestamp_type {
        TimestampType::LogAppendTime => (v.header.attributes | TIMESTAMP_TYPE_MASK, now_ms),
        TimestampType::CreateTime => (v.header.attributes & !TIMESTAMP_TYPE_MASK, v.max_timestamp),
    };
    if attributes != v.header.attributes || max_timestamp != v.header.max_timestamp {
        header[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        header[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
        // the CRC runs from the attributes (in the new header) to the end (in the batch)
        let crc =
            crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES..]), &batch[HEADER_SIZE..]);
        header[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    max_timestamp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::records::{encode_batch, NewRecord};

    fn sample(n: usize) -> Vec<u8> {
        let recs: Vec<NewRecord> = (0..n)
            .map(|i| {
                NewRecord::new(Some(format!("k{i}")), format!("value {i}")).at(1_000 + i as i64)
            })
            .collect();
        encode_batch(&recs, 0)
    }

    #[test]
    fn validates_a_well_formed_batch() {
        let b = sample(3);
        let v = validate_append(&b, 1 << 20).expect("valid");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].header.records_count, 3);
        assert_eq!(v[0].max_timestamp, 1_002);
    }

    #[test]
    fn rejects_bad_crc_as_corrupt_message() {
        let mut b = sample(2);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let err = validate_append(&b, 1 << 20).expect_err("rejected");
        assert_eq!(err.error_code(), 2, "{err}");
    }

    #[test]
    fn rejects_oversized_batch_as_message_too_large() {
        let b = sample(50);
        let err = validate_append(&b, 100).expect_err("rejected");
        assert_eq!(err.error_code(), 10, "{err}");
    }

    #[test]
    fn rejects_old_magic_and_wrong_counts() {
        let mut b = sample(2);
        b[MAGIC] = 1;
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .error_code(),
            43
        );

        let mut b = sample(2);
        b[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&3i32.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .error_code(),
            87
        );
    }

    #[test]
    fn rejects_control_batches_and_producer_ids_without_a_sequence() {
        // as Kafka's LogValidator does for a client's batch: INVALID_RECORD for both
        let mut b = sample(1);
        let attributes = be_i16(&b, ATTRIBUTES) | CONTROL_MASK;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let err = validate_append(&b, 1 << 20).expect_err("control batch refused");
        assert_eq!(err.error_code(), 87, "{err}");

        let mut b = sample(2);
        set_producer(&mut b, 7, 0, -1);
        let err = validate_append(&b, 1 << 20).expect_err("no sequence refused");
        assert_eq!(err.error_code(), 87, "{err}");
        set_producer(&mut b, 7, 0, 0);
        validate_append(&b, 1 << 20).expect("sequence 0 accepted");
        set_producer(&mut b, -1, -1, -1);
        validate_append(&b, 1 << 20).expect("no producer, no sequence accepted");
    }

    #[test]
    fn rejects_truncated_and_negative_lengths() {
        let b = sample(2);
        for cut in [1, 10, 20, HEADER_SIZE, b.len() - 1] {
            let err = validate_append(&b[..cut], 1 << 20).expect_err("rejected");
            assert_eq!(err.error_code(), 2, "cut at {cut}: {err}");
        }
        let mut b = sample(1);
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .error_code(),
            2
        );
    }

    #[test]
    fn assign_sets_offset_epoch_and_log_append_time_with_a_valid_crc() {
        let mut b = sample(2);
        let sent = b.clone();
        let v = validate_append(&b, 1 << 20).expect("valid")[0];
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&b[..HEADER_SIZE]);
        let ts = assign(
            &mut header,
            &b,
            &v,
            42,
            7,
            TimestampType::LogAppendTime,
            99_999,
        );
        assert_eq!(ts, 99_999);
        assert_eq!(b, sent, "the batch itself is not changed");
        b[..HEADER_SIZE].copy_from_slice(&header);
        let h = check_integrity(&b).expect("crc still valid");
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(h.last_offset(), 43);
    }
}
