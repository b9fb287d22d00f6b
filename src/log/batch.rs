//! The record batch header (magic v2): its layout, parsing it, its CRC, walking batches.
//! Validating a producer's batches and rewriting their headers is [`super::validate`]'s.
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

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
pub(crate) const TRANSACTIONAL_MASK: i16 = 0x10;
pub(crate) const CONTROL_MASK: i16 = 0x20;
/// KIP-534: the base timestamp holds the batch's delete horizon (set by the cleaner).
pub(crate) const DELETE_HORIZON_MASK: i16 = 0x40;

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
    /// Kafka's name for the codec (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

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

pub(crate) fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    b.get(at..at + 8)?.try_into().ok().map(i64::from_be_bytes)
}
pub(crate) fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    b.get(at..at + 4)?.try_into().ok().map(i32::from_be_bytes)
}
pub(crate) fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    b.get(at..at + 2)?.try_into().ok().map(i16::from_be_bytes)
}

/// Writes `bytes` at `at` in `buf`. Callers write fields of headers they sized themselves;
/// a write that would not fit is dropped rather than panicking (and the CRC then fails).
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

impl BatchHeader {
    /// Reads the header from the first [`HEADER_SIZE`] bytes; `None` if there are fewer.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_SIZE {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET)?,
            batch_length: be_i32(b, BATCH_LENGTH)?,
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH)?,
            magic: *b.get(MAGIC)? as i8,
            crc: be_i32(b, CRC)? as u32,
            attributes: be_i16(b, ATTRIBUTES)?,
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA)?,
            base_timestamp: be_i64(b, BASE_TIMESTAMP)?,
            max_timestamp: be_i64(b, MAX_TIMESTAMP)?,
            producer_id: be_i64(b, PRODUCER_ID)?,
            producer_epoch: be_i16(b, PRODUCER_EPOCH)?,
            base_sequence: be_i32(b, BASE_SEQUENCE)?,
            records_count: be_i32(b, RECORDS_COUNT)?,
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

    /// When the cleaner may drop this batch's tombstones (KIP-534), if it set a horizon.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_MASK != 0).then_some(self.base_timestamp)
    }
}

/// CRC-32C of a whole batch as stored in its header (over attributes .. end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES..).unwrap_or_default())
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
        let header = BatchHeader::parse(self.buf.get(self.pos..)?)?;
        let size = header.size()?;
        if self.buf.len() - self.pos < size {
            return None;
        }
        let at = self.pos;
        self.pos += size;
        Some((at, header))
    }
}

/// Stamps an idempotent producer's id, epoch and first sequence on a batch and fixes its
/// CRC, as a producer does before sending it.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    put(batch, PRODUCER_ID, &producer_id.to_be_bytes());
    put(batch, PRODUCER_EPOCH, &epoch.to_be_bytes());
    put(batch, BASE_SEQUENCE, &base_sequence.to_be_bytes());
    let crc = compute_crc(batch);
    put(batch, CRC, &crc.to_be_bytes());
}
