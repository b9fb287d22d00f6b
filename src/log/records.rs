//! Records inside a v2 batch: decoding (with decompression of gzip, snappy, lz4 and zstd
//! batches), validation of a producer's batches, compressed or not, and encoding new
//! uncompressed batches (for the text protocol, the `rafka log write` tool and tests).
//!
//! Batches are stored and served as the producer sent them (only the header is rewritten).
//! An append walks the records of every batch, decompressing compressed ones as a stream
//! through a small buffer and at most [`MAX_DECOMPRESSED_BYTES`] of them, so neither
//! garbage inside a valid CRC nor a decompression bomb gets into the log. Decoding into
//! [`Record`]s is for tools, offset-by-timestamp lookups and the text protocol.

use std::io::Read;

use bytes::Bytes;

use super::batch::{self, BatchHeader, Compression, TimestampType, HEADER_SIZE};
use super::LogError;

/// One decoded record with its absolute offset and effective timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A record to encode into a new batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

impl NewRecord {
    pub fn new(key: Option<impl Into<Vec<u8>>>, value: impl Into<Vec<u8>>) -> Self {
        NewRecord {
            key: key.map(Into::into),
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: 0,
        }
    }

    pub fn at(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }
}

// ---- varints (zig-zag, as Kafka's ByteUtils) ----

fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, i64::from(v));
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A bounds-checked reader over record bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varlong(&mut self) -> Result<i64, LogError> {
        // one byte: most lengths, deltas and counts in a batch of small or KiB records
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        let mut z: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| LogError::Corrupt("truncated varint".into()))?;
            self.pos += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(LogError::Corrupt("varint longer than 10 bytes".into()))
    }

    fn varint(&mut self) -> Result<i32, LogError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| LogError::Corrupt(format!("varint {v} out of range")))
    }

    fn byte(&mut self) -> Result<u8, LogError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| LogError::Corrupt("truncated record".into()))?;
        self.pos += 1;
        Ok(b)
    }

    /// [`Self::varlong`] for the validation walk: `None` wherever that one fails, and no
    /// error value to build or carry (that plumbing was most of the walk's cost).
    #[inline]
    fn try_varlong(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        let mut pos = self.pos;
        for shift in (0..70).step_by(7) {
            let b = *self.buf.get(pos)?;
            pos += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                self.pos = pos;
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        None
    }

    #[inline]
    fn try_varint(&mut self) -> Option<i32> {
        i32::try_from(self.try_varlong()?).ok()
    }

    /// Steps over a length-prefixed field, with the checks of [`Self::bytes`]: `Some(false)`
    /// if it is null, `None` where that one fails.
    #[inline]
    fn try_skip_bytes(&mut self) -> Option<bool> {
        let len = self.try_varint()?;
        let Ok(len) = usize::try_from(len) else {
            return Some(false);
        };
        if self.buf.len() - self.pos < len {
            return None;
        }
        self.pos += len;
        Some(true)
    }

    /// A length-prefixed field; length -1 is null.
    fn bytes(&mut self) -> Result<Option<&'a [u8]>, LogError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        let Some(s) = self.buf.get(self.pos..self.pos.saturating_add(len)) else {
            return Err(LogError::Corrupt(format!(
                "field of {len} bytes overruns the record"
            )));
        };
        self.pos += len;
        Ok(Some(s))
    }
}

/// The parts of one record, borrowed from the (decompressed) records buffer.
struct RawRecord<'a> {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

fn parse_record<'a>(r: &mut Reader<'a>) -> Result<RawRecord<'a>, LogError> {
    let length = r.varint()?;
    if length < 0 || (r.buf.len() - r.pos) < length as usize {
        return Err(LogError::Corrupt(format!(
            "record length {length} overruns the batch"
        )));
    }
    let end = r.pos + length as usize;
    let mut body = Reader {
        buf: r.buf.get(..end).unwrap_or_default(),
        pos: r.pos,
    };
    let _attributes = body.byte()?;
    let timestamp_delta = body.varlong()?;
    let offset_delta = body.varint()?;
    let key = body.bytes()?;
    let value = body.bytes()?;
    let header_count = body.varint()?;
    if header_count < 0 {
        return Err(LogError::InvalidRecord(format!(
            "negative header count {header_count}"
        )));
    }
    let mut headers = Vec::new();
    for _ in 0..header_count {
        let hk = body
            .bytes()?
            .ok_or_else(|| LogError::InvalidRecord("null header key".into()))?;
        let hv = body.bytes()?;
        headers.push((hk, hv));
    }
    if body.pos != end {
        return Err(LogError::Corrupt(format!(
            "record length {length} disagrees with its fields"
        )));
    }
    r.pos = end;
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

/// What the validation walk keeps of one record: its timestamp and offset deltas, and
/// whether it has a key (a null key is refused by a compacted topic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Walked {
    timestamp_delta: i64,
    offset_delta: i32,
    has_key: bool,
}

/// Walks one record with the checks of [`parse_record`] but keeps only [`Walked`]: keys,
/// values and headers are stepped over, nothing is collected, and no error is built.
/// `None` where [`parse_record`] would fail (which then says why).
#[inline]
fn walk_record(r: &mut Reader<'_>) -> Option<Walked> {
    let length = usize::try_from(r.try_varint()?).ok()?;
    if r.buf.len() - r.pos < length {
        return None;
    }
    let end = r.pos + length;
    let mut body = Reader {
        buf: r.buf.get(..end)?,
        pos: r.pos,
    };
    if body.pos >= end {
        return None; // no attributes byte
    }
    body.pos += 1;
    let timestamp_delta = body.try_varlong()?;
    let offset_delta = body.try_varint()?;
    let has_key = body.try_skip_bytes()?;
    body.try_skip_bytes()?; // value
    let header_count = body.try_varint()?;
    if header_count < 0 {
        return None;
    }
    for _ in 0..header_count {
        if !body.try_skip_bytes()? {
            return None; // a null header key
        }
        body.try_skip_bytes()?;
    }
    if body.pos != end {
        return None;
    }
    r.pos = end;
    Some(Walked {
        timestamp_delta,
        offset_delta,
        has_key,
    })
}

/// The most records without a key one refusal lists (one `record_errors` entry each in
/// the Produce response). Kafka lists them all; a 100 KiB zstd batch can hold millions of
/// tiny keyless records, and their messages would make a response of hundreds of MiB. The
/// count in the refusal's message stays exact. librdkafka's default batch
/// (`batch.num.messages`) fits whole.
pub const MAX_RECORD_ERRORS: usize = 10_000;

/// What walking a batch's records found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BatchWalk {
    /// The max record timestamp.
    pub max_timestamp: i64,
    /// The index in the batch of each record without a key, in order, the first
    /// [`MAX_RECORD_ERRORS`] of them; only looked for when the walk was asked to (a
    /// compacted topic), empty otherwise.
    pub keyless: Vec<i32>,
    /// How many records have no key (when looked for), listed in `keyless` or not.
    pub keyless_total: usize,
}

impl BatchWalk {
    fn new() -> Self {
        BatchWalk {
            max_timestamp: batch::NO_TIMESTAMP,
            keyless: Vec::new(),
            keyless_total: 0,
        }
    }

    /// Takes in record `index`, walked as `w`, once its offset delta is known to be right.
    #[inline]
    fn add(&mut self, header: &BatchHeader, index: i32, w: Walked, find_keyless: bool) {
        self.max_timestamp = self
            .max_timestamp
            .max(header.base_timestamp.wrapping_add(w.timestamp_delta));
        if find_keyless && !w.has_key {
            if self.keyless.len() < MAX_RECORD_ERRORS {
                self.keyless.push(index);
            }
            self.keyless_total += 1;
        }
    }
}

/// Walks every record of an uncompressed batch, as Kafka's `LogValidator` iterates them:
/// lengths in bounds, fields consistent with the record length, header keys not null,
/// offset deltas consecutive from 0, the count matching the header. Returns the max record
/// timestamp and, when `find_keyless`, the records without a key (a malformed record is
/// the error even after a keyless one, as in Kafka, which gives record errors only for a
/// batch it could walk to its end).
pub(crate) fn validate_uncompressed(
    batch: &[u8],
    header: &BatchHeader,
    find_keyless: bool,
) -> Result<BatchWalk, LogError> {
    let mut r = Reader {
        buf: batch,
        pos: HEADER_SIZE,
    };
    let mut walk = BatchWalk::new();
    for i in 0..header.records_count {
        let start = r.pos;
        let w = match walk_record(&mut r) {
            Some(w) => w,
            None => {
                // a bad record: parse it again, for the exact error
                r.pos = start;
                let rec = parse_record(&mut r)?;
                Walked {
                    timestamp_delta: rec.timestamp_delta,
                    offset_delta: rec.offset_delta,
                    has_key: rec.key.is_some(),
                }
            }
        };
        if w.offset_delta != i {
            return Err(LogError::InvalidRecord(format!(
                "record {i} has offset delta {}",
                w.offset_delta
            )));
        }
        walk.add(header, i, w, find_keyless);
    }
    if r.pos != batch.len() {
        return Err(LogError::Corrupt(format!(
            "{} bytes after the last of {} records",
            batch.len() - r.pos,
            header.records_count
        )));
    }
    Ok(walk)
}

/// Kafka's words for a compressed stream that ends before the records its header counts.
fn premature_end() -> LogError {
    LogError::InvalidRecord("incorrect declared batch size, premature end of records".into())
}

/// A compressed batch's records section, decompressed as a stream through a fixed buffer
/// (the record walk of [`validate_compressed`] holds no more than this, however large the
/// batch decompresses to), stopping with [`LogError::DecompressedTooLarge`] once more than
/// [`MAX_DECOMPRESSED_BYTES`] came out.
struct Inflow<R> {
    inner: R,
    codec: Compression,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes the decompressor has produced so far.
    produced: u64,
}

/// The buffer of [`Inflow`].
const INFLOW_BUFFER: usize = 16 * 1024;

impl<R: Read> Inflow<R> {
    fn new(inner: R, codec: Compression) -> Self {
        Inflow {
            inner,
            codec,
            buf: vec![0; INFLOW_BUFFER],
            pos: 0,
            end: 0,
            produced: 0,
        }
    }

    /// Refills the (consumed) buffer; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, LogError> {
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.produced += n as u64;
                    if self.produced > MAX_DECOMPRESSED_BYTES {
                        return Err(too_large(self.codec));
                    }
                    (self.pos, self.end) = (0, n.min(self.buf.len()));
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(stream_error(self.codec, e)),
            }
        }
    }

    /// Offset of the next byte in the decompressed stream.
    fn position(&self) -> u64 {
        self.produced - (self.end - self.pos) as u64
    }

    fn byte(&mut self) -> Result<u8, LogError> {
        if self.pos == self.end && !self.fill()? {
            return Err(premature_end());
        }
        let b = self.buf.get(self.pos).copied().ok_or_else(premature_end)?;
        self.pos += 1;
        Ok(b)
    }

    fn varlong(&mut self) -> Result<i64, LogError> {
        let mut z: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(LogError::InvalidRecord(
            "varint longer than 10 bytes".into(),
        ))
    }

    fn varint(&mut self) -> Result<i32, LogError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| LogError::InvalidRecord(format!("varint {v} out of range")))
    }

    /// Steps over `n` bytes (decompressing them: that is the only way past them).
    fn skip(&mut self, mut n: u64) -> Result<(), LogError> {
        loop {
            let here = (self.end - self.pos) as u64;
            if n <= here {
                self.pos += n as usize;
                return Ok(());
            }
            n -= here;
            self.pos = self.end;
            if !self.fill()? {
                return Err(premature_end());
            }
        }
    }

    /// True if the stream has no byte left (which reads it to its end, checksums included).
    fn at_end(&mut self) -> Result<bool, LogError> {
        Ok(self.pos == self.end && !self.fill()?)
    }

    /// Steps over a length-prefixed field of the record ending at `end`: `Some(false)`
    /// when it is null.
    fn skip_field(&mut self, end: u64, what: &str) -> Result<bool, LogError> {
        let len = self.varint()?;
        let Ok(len) = u64::try_from(len) else {
            return Ok(false);
        };
        if self.position().saturating_add(len) > end {
            return Err(LogError::InvalidRecord(format!(
                "{what} of {len} bytes overruns its record"
            )));
        }
        self.skip(len)?;
        Ok(true)
    }

    /// Walks one record as Kafka's `DefaultRecord.readFrom` reads it, keeping only its
    /// timestamp and offset deltas and whether it has a key; keys, values and header
    /// values are stepped over.
    fn walk_record(&mut self) -> Result<Walked, LogError> {
        let length = self.varint()?;
        let length = u64::try_from(length)
            .map_err(|_| LogError::InvalidRecord(format!("invalid record length {length}")))?;
        let end = self.position().saturating_add(length);
        let _attributes = self.byte()?;
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let has_key = self.skip_field(end, "key")?;
        self.skip_field(end, "value")?;
        let header_count = self.varint()?;
        if header_count < 0 {
            return Err(LogError::InvalidRecord(format!(
                "negative header count {header_count}"
            )));
        }
        for _ in 0..header_count {
            if !self.skip_field(end, "header key")? {
                return Err(LogError::InvalidRecord("null header key".into()));
            }
            self.skip_field(end, "header value")?;
        }
        if self.position() != end {
            return Err(LogError::InvalidRecord(format!(
                "record length {length} disagrees with its fields"
            )));
        }
        Ok(Walked {
            timestamp_delta,
            offset_delta,
            has_key,
        })
    }
}

/// Walks every record of a compressed batch, as Kafka's `LogValidator` does for a
/// producer's compressed batch (`DefaultRecordBatch`'s streaming iterator): the section
/// decompresses (CORRUPT_MESSAGE if not), to at most [`MAX_DECOMPRESSED_BYTES`]
/// (MESSAGE_TOO_LARGE past it: decompression stops there), into exactly as many
/// well-formed records as the header counts, with offset deltas 0, 1, 2… and nothing after
/// the last (INVALID_RECORD). Kafka rebuilds a batch whose inner offsets are out of order;
/// Rafka stores batches as sent and refuses it. Returns the max record timestamp and, when
/// `find_keyless`, the records without a key, found in the same pass (the records are
/// decompressed once).
///
/// Memory: an [`INFLOW_BUFFER`] and the decompressor's own state (gzip: its 32 KiB window;
/// lz4: a block of at most 4 MiB, twice; zstd: its window, at most [`MAX_ZSTD_WINDOW`];
/// snappy: one block, at most [`SNAPPY_MAX_EXPANSION`] times its compressed size).
pub(crate) fn validate_compressed(
    batch: &[u8],
    header: &BatchHeader,
    codec: Compression,
    find_keyless: bool,
) -> Result<BatchWalk, LogError> {
    let payload = batch.get(HEADER_SIZE..).unwrap_or_default();
    let mut inflow = Inflow::new(decoder(codec, payload)?, codec);
    let mut walk = BatchWalk::new();
    for i in 0..header.records_count {
        let w = inflow.walk_record()?;
        if w.offset_delta != i {
            return Err(LogError::InvalidRecord(format!(
                "record {i} has offset delta {}",
                w.offset_delta
            )));
        }
        walk.add(header, i, w, find_keyless);
    }
    if !inflow.at_end()? {
        return Err(LogError::InvalidRecord(format!(
            "incorrect declared batch size, records remain after the last of {}",
            header.records_count
        )));
    }
    Ok(walk)
}

/// A record's absolute offset; an error (not a panic) when a hostile header overflows it.
fn record_offset(header: &BatchHeader, rec: &RawRecord<'_>) -> Result<i64, LogError> {
    header
        .base_offset
        .checked_add(i64::from(rec.offset_delta))
        .ok_or_else(|| {
            LogError::Corrupt(format!(
                "offset {} + {} overflows",
                header.base_offset, rec.offset_delta
            ))
        })
}

/// A batch's header and its records section, decompressed if it was compressed.
type OpenBatch<'a> = (BatchHeader, std::borrow::Cow<'a, [u8]>);

/// The header and the records section (decompressed) of one whole batch; `None` for a
/// control batch (transaction markers), which has no data records.
fn open_batch(batch: &[u8]) -> Result<Option<OpenBatch<'_>>, LogError> {
    open_any_batch(batch, false)
}

/// [`open_batch`], control batches included when `control`.
fn open_any_batch(batch: &[u8], control: bool) -> Result<Option<OpenBatch<'_>>, LogError> {
    let header = BatchHeader::parse(batch)
        .ok_or_else(|| LogError::Corrupt("batch shorter than its header".into()))?;
    if header.is_control() && !control {
        return Ok(None);
    }
    if header.records_count == 0 {
        // an empty batch kept by compaction: nothing to decompress, whatever its codec bits
        return Ok(Some((header, std::borrow::Cow::Borrowed(&[][..]))));
    }
    let payload = batch.get(HEADER_SIZE..).unwrap_or_default();
    let records = match header.compression()? {
        Compression::None => std::borrow::Cow::Borrowed(payload),
        codec => std::borrow::Cow::Owned(decompress(codec, payload)?),
    };
    Ok(Some((header, records)))
}

/// Decodes every record of one whole batch (decompressing if needed). Control batches
/// (transaction markers) yield no records.
pub fn decode_batch(batch: &[u8]) -> Result<Vec<Record>, LogError> {
    decode_any_batch(batch, false)
}

/// [`decode_batch`] that also decodes a control batch's records (a control record's key
/// is its version and type; the metadata quorum's leader-change and voters records are
/// control records).
pub fn decode_control_batch(batch: &[u8]) -> Result<Vec<Record>, LogError> {
    decode_any_batch(batch, true)
}

fn decode_any_batch(batch: &[u8], control: bool) -> Result<Vec<Record>, LogError> {
    let Some((header, records)) = open_any_batch(batch, control)? else {
        return Ok(Vec::new());
    };
    let records: &[u8] = &records;
    let count = usize::try_from(header.records_count)
        .map_err(|_| LogError::Corrupt(format!("record count {}", header.records_count)))?;
    let mut r = Reader {
        buf: records,
        pos: 0,
    };
    let mut out = Vec::with_capacity(count.min(records.len()));
    for _ in 0..count {
        let rec = parse_record(&mut r)?;
        let timestamp = match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(rec.timestamp_delta),
        };
        out.push(Record {
            offset: record_offset(&header, &rec)?,
            timestamp,
            key: rec.key.map(Bytes::copy_from_slice),
            value: rec.value.map(Bytes::copy_from_slice),
            headers: rec
                .headers
                .into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        v.map(Bytes::copy_from_slice),
                    )
                })
                .collect(),
        });
    }
    Ok(out)
}

/// The first record of one whole batch for which `want(offset, timestamp)` holds, without
/// materializing the others (a batch may hold millions of tiny records).
pub fn find_record(
    batch: &[u8],
    mut want: impl FnMut(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, LogError> {
    let Some((header, records)) = open_batch(batch)? else {
        return Ok(None);
    };
    let records: &[u8] = &records;
    let mut r = Reader {
        buf: records,
        pos: 0,
    };
    for _ in 0..header.records_count.max(0) {
        if r.pos >= records.len() {
            break;
        }
        let rec = parse_record(&mut r)?;
        let offset = record_offset(&header, &rec)?;
        let timestamp = match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(rec.timestamp_delta),
        };
        if want(offset, timestamp) {
            return Ok(Some((offset, timestamp)));
        }
    }
    Ok(None)
}

/// The most a batch's records may decompress to. An append of a compressed batch that
/// decompresses to more is refused (MESSAGE_TOO_LARGE, which makes a Java producer split
/// the batch), decompression stopping at this bound; decoding a stored batch (tools, the
/// text protocol, ListOffsets) stops there too. 64 MiB leaves a 64x ratio for a batch at
/// the default 1 MiB `max.message.bytes`, more than real data compresses.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Snappy cannot expand data more than this many times (its longest copy, 64 bytes, takes
/// a 3-byte tag): a block that says it holds more is refused before anything is allocated.
pub const SNAPPY_MAX_EXPANSION: usize = 22;

fn too_large(codec: Compression) -> LogError {
    LogError::DecompressedTooLarge {
        codec: codec.name(),
        max: MAX_DECOMPRESSED_BYTES,
    }
}

/// What a decompressor's error becomes: CORRUPT_MESSAGE, or the bound when a snappy block
/// claims too much.
fn stream_error(codec: Compression, e: std::io::Error) -> LogError {
    if e.get_ref().is_some_and(|inner| inner.is::<OverBound>()) {
        return too_large(codec);
    }
    LogError::Corrupt(format!("{} decompression: {e}", codec.name()))
}

/// A snappy block that would decompress past [`MAX_DECOMPRESSED_BYTES`], carried through
/// `io::Error` to [`stream_error`].
#[derive(Debug)]
struct OverBound;

impl std::fmt::Display for OverBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the decompression bound")
    }
}

impl std::error::Error for OverBound {}

/// Snappy as Kafka clients write it, one block at a time: the xerial framing of the Java
/// client (magic, version, compatible version, then length-prefixed raw blocks), or one
/// raw block (librdkafka).
struct SnappyReader<'a> {
    /// Blocks not yet decompressed (xerial), or the one raw block.
    rest: &'a [u8],
    xerial: bool,
    /// The raw block was taken (or the xerial blocks all were).
    done: bool,
    block: Vec<u8>,
    pos: usize,
}

const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        // magic (8) + version (4) + compatible version (4), then [len i32][block]...
        let xerial = data.starts_with(XERIAL_MAGIC) && data.len() >= 16;
        SnappyReader {
            rest: if xerial {
                data.get(16..).unwrap_or_default()
            } else {
                data
            },
            xerial,
            done: false,
            block: Vec::new(),
            pos: 0,
        }
    }

    /// Decompresses the next block into `self.block`; `false` when there is none.
    fn next_block(&mut self) -> std::io::Result<bool> {
        let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        let compressed = if self.xerial {
            if self.rest.is_empty() {
                return Ok(false);
            }
            let (len, rest) = self
                .rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("truncated snappy chunk".into()))?;
            let len = usize::try_from(i32::from_be_bytes(*len))
                .map_err(|_| bad("negative snappy chunk length".into()))?;
            let block = rest
                .get(..len)
                .ok_or_else(|| bad("truncated snappy chunk".into()))?;
            self.rest = rest.get(len..).unwrap_or_default();
            block
        } else {
            if self.done {
                return Ok(false);
            }
            self.done = true;
            self.rest
        };
        let len = snap::raw::decompress_len(compressed).map_err(|e| bad(e.to_string()))?;
        if len as u64 > MAX_DECOMPRESSED_BYTES {
            return Err(std::io::Error::other(OverBound));
        }
        if len
            > compressed
                .len()
                .saturating_mul(SNAPPY_MAX_EXPANSION)
                .saturating_add(64)
        {
            return Err(bad(format!(
                "a snappy block of {} bytes cannot hold {len}",
                compressed.len()
            )));
        }
        self.block.clear();
        self.block.resize(len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(|e| bad(e.to_string()))?;
        self.block.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let here = self.block.get(self.pos..).unwrap_or_default();
        let n = here.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), here.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

/// The largest zstd window a batch may ask for. The decoder keeps up to a window of output
/// (and its buffer grows in doublings past it), so a 2 KiB frame declaring a 64 MiB window
/// held 190 MiB. 8 MiB is the window of zstd levels 1-19 on data of unknown size (the
/// largest a Java producer uses below its "ultra" levels 20-22, and librdkafka at any
/// level it defaults to); a frame of known size that fits its window says so
/// (single-segment) and is held to the same bound.
pub const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// The window a zstd frame header asks for (RFC 8878, 3.1.1.1): from the window descriptor,
/// or the frame content size for a single-segment frame. `None` when the header is too
/// short or not a zstd frame's: the decoder says why.
fn zstd_window(data: &[u8]) -> Option<u64> {
    let (magic, rest) = data.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*magic) != 0xFD2F_B528 {
        return None;
    }
    let (&descriptor, rest) = rest.split_first()?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let &wd = rest.first()?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let dictionary_id = match descriptor & 3 {
        0 => 0,
        3 => 4,
        n => usize::from(n),
    };
    let content_size = rest.get(dictionary_id..)?;
    Some(match descriptor >> 6 {
        0 => u64::from(*content_size.first()?),
        1 => u64::from(u16::from_le_bytes(*content_size.first_chunk::<2>()?)) + 256,
        2 => u64::from(u32::from_le_bytes(*content_size.first_chunk::<4>()?)),
        _ => u64::from_le_bytes(*content_size.first_chunk::<8>()?),
    })
}

/// One zstd frame, and nothing after it: Kafka clients write a batch as one frame, and the
/// decoder reads only the first, so bytes after it would be stored unchecked.
struct ZstdReader<'a> {
    inner: ruzstd::decoding::StreamingDecoder<&'a [u8], ruzstd::decoding::FrameDecoder>,
}

impl Read for ZstdReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let after = self.inner.get_ref().len();
        if n == 0 && !buf.is_empty() && after > 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{after} bytes after the zstd frame"),
            ));
        }
        Ok(n)
    }
}

/// A reader of a batch's records section, decompressed.
fn decoder<'a>(codec: Compression, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, LogError> {
    Ok(match codec {
        Compression::None => Box::new(data),
        // bufread: &[u8] is already a buffer, so no second one is allocated and filled
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(data)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => {
            if let Some(window) = zstd_window(data).filter(|&w| w > MAX_ZSTD_WINDOW) {
                return Err(LogError::ZstdWindowTooLarge {
                    window,
                    max: MAX_ZSTD_WINDOW,
                });
            }
            Box::new(ZstdReader {
                inner: ruzstd::decoding::StreamingDecoder::new(data)
                    .map_err(|e| LogError::Corrupt(format!("zstd decompression: {e}")))?,
            })
        }
        Compression::Snappy => Box::new(SnappyReader::new(data)),
    })
}

/// Decompresses a batch's records section, to at most [`MAX_DECOMPRESSED_BYTES`]. Snappy
/// accepts both the xerial framing the Java client writes and raw snappy blocks.
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, LogError> {
    if codec == Compression::None {
        return Ok(data.to_vec());
    }
    let mut out = Vec::new();
    decoder(codec, data)?
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| stream_error(codec, e))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(too_large(codec));
    }
    Ok(out)
}

/// Encodes records into one uncompressed v2 batch with base offset 0 (the log assigns the
/// real one), no producer id, and a valid CRC. The first record's timestamp is the base.
pub fn encode_batch(records: &[NewRecord], partition_leader_epoch: i32) -> Vec<u8> {
    let base_ts = records.first().map_or(0, |r| r.timestamp);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let mut out = vec![0u8; HEADER_SIZE];
    let mut rec = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let headers = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref()));
        let fields = (r.key.as_deref(), r.value.as_deref());
        put_record(
            &mut out,
            &mut rec,
            r.timestamp - base_ts,
            i as i32,
            fields,
            headers,
        );
    }
    let batch_length = (out.len() - batch::LOG_OVERHEAD) as i32;
    let put = batch::put;
    put(&mut out, batch::BATCH_LENGTH, &batch_length.to_be_bytes());
    put(
        &mut out,
        batch::PARTITION_LEADER_EPOCH,
        &partition_leader_epoch.to_be_bytes(),
    );
    put(&mut out, batch::MAGIC, &[batch::CURRENT_MAGIC as u8]);
    let last_delta = records.len().saturating_sub(1) as i32;
    put(
        &mut out,
        batch::LAST_OFFSET_DELTA,
        &last_delta.to_be_bytes(),
    );
    put(&mut out, batch::BASE_TIMESTAMP, &base_ts.to_be_bytes());
    put(&mut out, batch::MAX_TIMESTAMP, &max_ts.to_be_bytes());
    put(&mut out, batch::PRODUCER_ID, &(-1i64).to_be_bytes());
    put(&mut out, batch::PRODUCER_EPOCH, &(-1i16).to_be_bytes());
    put(&mut out, batch::BASE_SEQUENCE, &(-1i32).to_be_bytes());
    put(
        &mut out,
        batch::RECORDS_COUNT,
        &(records.len() as i32).to_be_bytes(),
    );
    let crc = batch::compute_crc(&out);
    put(&mut out, batch::CRC, &crc.to_be_bytes());
    out
}

/// Appends one record (length-prefixed) to `out`, built in `scratch`: attributes 0, the
/// timestamp and offset deltas, key and value (`None` is null), headers.
fn put_record<'a>(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    (key, value): (Option<&[u8]>, Option<&[u8]>),
    headers: impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)>,
) {
    scratch.clear();
    scratch.push(0); // attributes
    put_varlong(scratch, timestamp_delta);
    put_varint(scratch, offset_delta);
    put_field(scratch, key);
    put_field(scratch, value);
    put_varint(scratch, headers.len() as i32);
    for (k, v) in headers {
        put_field(scratch, Some(k.as_bytes()));
        put_field(scratch, v);
    }
    put_varint(out, scratch.len() as i32);
    out.extend_from_slice(scratch);
}

fn put_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// A batch rebuilt by the cleaner from `kept`, some of `h`'s records (Kafka's
/// `buildRetainedRecordsInto`): the same base and last offset (the last sequence of an
/// idempotent producer stays what it was), producer fields, partition leader epoch,
/// timestamp type and codec; `delete_horizon` (KIP-534) goes in the base timestamp with
/// its attribute bit, else the first kept record's timestamp is the base. With no records
/// it is the empty batch Kafka keeps for a producer's last batch, written as Kafka's
/// `writeEmptyHeader` writes it: uncompressed, no base timestamp, no horizon.
pub fn encode_retained(
    h: &BatchHeader,
    kept: &[&Record],
    delete_horizon: Option<i64>,
) -> Result<Vec<u8>, LogError> {
    let log_append = h.timestamp_type() == TimestampType::LogAppendTime;
    let base_ts = delete_horizon
        .or_else(|| kept.first().map(|r| r.timestamp))
        .unwrap_or(h.max_timestamp);
    let max_ts = if log_append || kept.is_empty() {
        h.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(h.max_timestamp)
    };
    let mut section = Vec::new();
    let mut rec = Vec::new();
    for r in kept {
        let delta = i32::try_from(r.offset - h.base_offset)
            .map_err(|_| LogError::Internal(format!("record {} outside its batch", r.offset)))?;
        let ts_delta = if log_append {
            0
        } else {
            r.timestamp.wrapping_sub(base_ts)
        };
        let headers = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref()));
        let fields = (r.key.as_deref(), r.value.as_deref());
        put_record(&mut section, &mut rec, ts_delta, delta, fields, headers);
    }
    let mut attributes = h.attributes & !batch::DELETE_HORIZON_MASK;
    let (section, base_ts) = if kept.is_empty() {
        attributes &= !batch::COMPRESSION_MASK;
        (section, batch::NO_TIMESTAMP)
    } else {
        (compress(h.compression()?, &section)?, base_ts)
    };
    let mut out = vec![0u8; HEADER_SIZE];
    out.extend_from_slice(&section);
    if delete_horizon.is_some() && !kept.is_empty() {
        attributes |= batch::DELETE_HORIZON_MASK;
    }
    let put = batch::put;
    put(&mut out, batch::BASE_OFFSET, &h.base_offset.to_be_bytes());
    let batch_length = (out.len() - batch::LOG_OVERHEAD) as i32;
    put(&mut out, batch::BATCH_LENGTH, &batch_length.to_be_bytes());
    put(
        &mut out,
        batch::PARTITION_LEADER_EPOCH,
        &h.partition_leader_epoch.to_be_bytes(),
    );
    put(&mut out, batch::MAGIC, &[batch::CURRENT_MAGIC as u8]);
    put(&mut out, batch::ATTRIBUTES, &attributes.to_be_bytes());
    put(
        &mut out,
        batch::LAST_OFFSET_DELTA,
        &h.last_offset_delta.to_be_bytes(),
    );
    put(&mut out, batch::BASE_TIMESTAMP, &base_ts.to_be_bytes());
    put(&mut out, batch::MAX_TIMESTAMP, &max_ts.to_be_bytes());
    put(&mut out, batch::PRODUCER_ID, &h.producer_id.to_be_bytes());
    put(
        &mut out,
        batch::PRODUCER_EPOCH,
        &h.producer_epoch.to_be_bytes(),
    );
    put(
        &mut out,
        batch::BASE_SEQUENCE,
        &h.base_sequence.to_be_bytes(),
    );
    put(
        &mut out,
        batch::RECORDS_COUNT,
        &(kept.len() as i32).to_be_bytes(),
    );
    let crc = batch::compute_crc(&out);
    put(&mut out, batch::CRC, &crc.to_be_bytes());
    Ok(out)
}

/// Compresses a records section with `codec` as Kafka's producers do (snappy in the
/// xerial framing the Java client writes).
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, LogError> {
    use std::io::Write;
    let failed =
        |e: std::io::Error| LogError::Internal(format!("{} compression: {e}", codec.name()));
    Ok(match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).map_err(failed)?;
            e.finish().map_err(failed)?
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).map_err(failed)?;
            e.finish()
                .map_err(|e| LogError::Internal(format!("lz4 compression: {e}")))?
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        Compression::Snappy => {
            // xerial: magic, version 1, compatible version 1, then length-prefixed blocks
            let mut out = vec![
                0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ];
            let mut enc = snap::raw::Encoder::new();
            for block in data.chunks(32 * 1024) {
                let c = enc
                    .compress_vec(block)
                    .map_err(|e| LogError::Internal(format!("snappy compression: {e}")))?;
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn varint_round_trip_at_the_edges() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            let mut r = Reader { buf: &buf, pos: 0 };
            assert_eq!(r.varlong().expect("decodes"), v);
            assert_eq!(r.pos, buf.len());
        }
        let err = |bytes: &[u8]| {
            let mut r = Reader { buf: bytes, pos: 0 };
            r.varlong().expect_err("malformed").to_string()
        };
        assert!(err(&[]).contains("truncated varint"));
        assert!(err(&[0xff; 9]).contains("truncated varint"));
        assert!(err(&[0xff; 10]).contains("longer than 10 bytes"));
        assert!(err(&[0x80; 12]).contains("longer than 10 bytes"));
    }

    #[test]
    fn encode_then_decode_keeps_keys_values_headers_and_timestamps() {
        let mut r2 = NewRecord::new(None::<Vec<u8>>, "no key").at(20);
        r2.headers.push(("h".into(), Some(b"v".to_vec())));
        r2.headers.push(("null".into(), None));
        let recs = vec![NewRecord::new(Some("a"), "one").at(10), r2];
        let b = encode_batch(&recs, 0);
        let out = decode_batch(&b).expect("decodes");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].key.as_deref(), Some(&b"a"[..]));
        assert_eq!(out[1].key, None);
        assert_eq!(out[1].offset, 1);
        assert_eq!(out[1].timestamp, 20);
        assert_eq!(out[1].headers[0].0, "h");
        assert_eq!(out[1].headers[1].1, None);
    }

    /// Rewrites an uncompressed batch as a compressed one with the given records section.
    fn recompress(plain: &[u8], codec_bits: i16, compressed: &[u8]) -> Vec<u8> {
        let mut b = plain[..HEADER_SIZE].to_vec();
        b.extend_from_slice(compressed);
        let len = (b.len() - batch::LOG_OVERHEAD) as i32;
        b[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&codec_bits.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn decodes_gzip_lz4_and_both_snappy_framings() {
        let recs: Vec<NewRecord> = (0..20)
            .map(|i| NewRecord::new(Some(format!("k{i}")), format!("value number {i}")))
            .collect();
        let plain = encode_batch(&recs, 0);
        let section = &plain[HEADER_SIZE..];

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(section).expect("gzip");
        let gz = gz.finish().expect("gzip");

        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(section).expect("lz4");
        let lz = lz.finish().expect("lz4");

        let raw = snap::raw::Encoder::new()
            .compress_vec(section)
            .expect("snappy");
        let mut xerial = b"\x82SNAPPY\x00".to_vec();
        xerial.extend_from_slice(&1i32.to_be_bytes());
        xerial.extend_from_slice(&1i32.to_be_bytes());
        // two chunks, as the Java client writes for larger batches
        let (a, b) = section.split_at(section.len() / 2);
        for part in [a, b] {
            let c = snap::raw::Encoder::new()
                .compress_vec(part)
                .expect("snappy");
            xerial.extend_from_slice(&(c.len() as i32).to_be_bytes());
            xerial.extend_from_slice(&c);
        }

        for (bits, data) in [(1i16, gz), (3, lz), (2, raw), (2, xerial)] {
            let batch = recompress(&plain, bits, &data);
            let out = decode_batch(&batch).expect("decodes");
            assert_eq!(out.len(), 20, "codec bits {bits}");
            assert_eq!(out[19].value.as_deref(), Some(&b"value number 19"[..]));
        }
    }

    /// Found by the record_batch fuzz target: a base offset near i64::MAX overflowed
    /// `base_offset + offset_delta` (a panic in debug builds).
    #[test]
    fn hostile_base_offset_is_an_error_not_a_panic() {
        let mut b = encode_batch(
            &[
                NewRecord::new(Some("k"), "a"),
                NewRecord::new(Some("k"), "b"),
            ],
            0,
        );
        b[..8].copy_from_slice(&i64::MAX.to_be_bytes());
        assert!(decode_batch(&b).is_err());
        assert!(find_record(&b, |_, _| false).is_err());
        let h = BatchHeader::parse(&b).expect("header");
        assert_eq!(h.next_offset(), i64::MAX, "saturates");
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; (MAX_DECOMPRESSED_BYTES + 1) as usize];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&zeros).expect("gzip");
        let bomb = gz.finish().expect("gzip");
        assert!(bomb.len() < 1 << 20, "a small batch");
        let err = decompress(Compression::Gzip, &bomb).expect_err("over the limit");
        assert_eq!(err.code().code(), 10, "MESSAGE_TOO_LARGE: {err}");
        let ok = decompress(Compression::Gzip, &bomb[..0]);
        assert!(ok.is_err() || ok.expect("empty").is_empty());
    }

    /// What `validate_uncompressed` did before it stopped collecting fields: every record
    /// through `parse_record`. The walk must agree with it on every input, the records
    /// without a key included.
    fn validate_by_parsing(batch: &[u8], header: &BatchHeader) -> Result<BatchWalk, LogError> {
        let mut r = Reader {
            buf: batch,
            pos: HEADER_SIZE,
        };
        let mut walk = BatchWalk::new();
        for i in 0..header.records_count {
            let rec = parse_record(&mut r)?;
            if rec.offset_delta != i {
                return Err(LogError::InvalidRecord(format!(
                    "record {i} has offset delta {}",
                    rec.offset_delta
                )));
            }
            walk.max_timestamp = walk
                .max_timestamp
                .max(header.base_timestamp.wrapping_add(rec.timestamp_delta));
            if rec.key.is_none() {
                walk.keyless.push(i);
                walk.keyless_total += 1;
            }
        }
        if r.pos != batch.len() {
            return Err(LogError::Corrupt(format!(
                "{} bytes after the last of {} records",
                batch.len() - r.pos,
                header.records_count
            )));
        }
        Ok(walk)
    }

    /// Every single-byte change of a batch with keys, null keys, headers (one with a null
    /// value) and multi-byte varints gets the same answer, error included, from the
    /// validation walk as from full parsing.
    #[test]
    fn validation_walk_agrees_with_full_parsing() {
        let mut with_headers = NewRecord::new(Some("key"), "x".repeat(200)).at(5_000);
        with_headers
            .headers
            .push(("h1".into(), Some(b"v".to_vec())));
        with_headers.headers.push(("h2".into(), None));
        let recs = vec![
            NewRecord::new(None::<Vec<u8>>, "a").at(1_000),
            with_headers,
            NewRecord::new(Some("k".repeat(130)), "").at(-7),
        ];
        let plain = encode_batch(&recs, 0);
        let h = BatchHeader::parse(&plain).expect("header");
        let walk = validate_uncompressed(&plain, &h, true).expect("valid");
        assert_eq!(walk.max_timestamp, 5_000);
        assert_eq!(walk.keyless, [0], "the first record has no key");
        let mut cases = 0;
        for i in HEADER_SIZE..plain.len() {
            for x in [0x00u8, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff] {
                let mut b = plain.clone();
                b[i] = x;
                let walk = validate_uncompressed(&b, &h, true);
                let parse = validate_by_parsing(&b, &h);
                match (&walk, &parse) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "byte {i} = {x:#x}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "byte {i}"),
                    _ => panic!("byte {i} = {x:#x}: walk {walk:?}, parse {parse:?}"),
                }
                cases += 1;
            }
        }
        assert!(cases > 1000);
    }

    #[test]
    fn garbage_records_are_errors_not_panics() {
        let plain = encode_batch(&[NewRecord::new(Some("k"), "v")], 0);
        for i in HEADER_SIZE..plain.len() {
            for x in [0x00u8, 0x7f, 0x80, 0xff] {
                let mut b = plain.clone();
                b[i] = x;
                let _ = decode_batch(&b);
                if let Some(h) = BatchHeader::parse(&b) {
                    let _ = validate_uncompressed(&b, &h, true);
                }
            }
        }
    }
}
