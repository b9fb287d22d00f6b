//! Records inside a v2 batch: decoding (with decompression of gzip, snappy, lz4 and zstd
//! batches), validation of uncompressed batches, and encoding new uncompressed batches
//! (for the text protocol, the `rafka log write` tool and tests).
//!
//! The append and fetch paths never decode records of compressed batches: batches are
//! stored and served as the producer sent them. Decoding is for tools, offset-by-timestamp
//! lookups and the text protocol.

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

/// Walks one record with the checks of [`parse_record`] but keeps only its timestamp and
/// offset deltas: keys, values and headers are stepped over, nothing is collected, and no
/// error is built. `None` where [`parse_record`] would fail (which then says why).
#[inline]
fn walk_record(r: &mut Reader<'_>) -> Option<(i64, i32)> {
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
    body.try_skip_bytes()?; // key
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
    Some((timestamp_delta, offset_delta))
}

/// Walks every record of an uncompressed batch, as Kafka's `LogValidator` iterates them:
/// lengths in bounds, fields consistent with the record length, header keys not null,
/// offset deltas consecutive from 0, the count matching the header. Returns the max record
/// timestamp.
pub(crate) fn validate_uncompressed(batch: &[u8], header: &BatchHeader) -> Result<i64, LogError> {
    let mut r = Reader {
        buf: batch,
        pos: HEADER_SIZE,
    };
    let mut max_ts = batch::NO_TIMESTAMP;
    for i in 0..header.records_count {
        let start = r.pos;
        let (timestamp_delta, offset_delta) = match walk_record(&mut r) {
            Some(deltas) => deltas,
            None => {
                // a bad record: parse it again, for the exact error
                r.pos = start;
                let rec = parse_record(&mut r)?;
                (rec.timestamp_delta, rec.offset_delta)
            }
        };
        if offset_delta != i {
            return Err(LogError::InvalidRecord(format!(
                "record {i} has offset delta {offset_delta}"
            )));
        }
        max_ts = max_ts.max(header.base_timestamp.wrapping_add(timestamp_delta));
    }
    if r.pos != batch.len() {
        return Err(LogError::Corrupt(format!(
            "{} bytes after the last of {} records",
            batch.len() - r.pos,
            header.records_count
        )));
    }
    Ok(max_ts)
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
    let header = BatchHeader::parse(batch)
        .ok_or_else(|| LogError::Corrupt("batch shorter than its header".into()))?;
    if header.is_control() {
        return Ok(None);
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
    let Some((header, records)) = open_batch(batch)? else {
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

/// The most a batch's records may decompress to. Producers can store any compressed batch
/// (it is not decompressed on append), so a small "decompression bomb" must not become
/// gigabytes when a tool, the text protocol or ListOffsets decodes it. 64 MiB leaves a 64x
/// ratio for a batch at the default 1 MiB `max.message.bytes`.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a decoder to the end, failing past [`MAX_DECOMPRESSED_BYTES`].
fn read_bounded(codec: Compression, decoder: impl Read, out: &mut Vec<u8>) -> Result<(), LogError> {
    decoder
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(out)
        .map_err(|e| LogError::Corrupt(format!("{codec:?} decompression: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(LogError::Corrupt(format!(
            "{codec:?} batch decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Decompresses a batch's records section, to at most [`MAX_DECOMPRESSED_BYTES`]. Snappy
/// accepts both the xerial framing the Java client writes (magic header, then
/// length-prefixed chunks) and raw snappy blocks.
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    match codec {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(data), &mut out)?
        }
        Compression::Lz4 => {
            read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), &mut out)?
        }
        Compression::Zstd => {
            let d = ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| LogError::Corrupt(format!("zstd decompression: {e}")))?;
            read_bounded(codec, d, &mut out)?;
        }
        Compression::Snappy => {
            const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
            let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), LogError> {
                let len = snap::raw::decompress_len(block)
                    .map_err(|e| LogError::Corrupt(format!("snappy decompression: {e}")))?;
                if (out.len() + len) as u64 > MAX_DECOMPRESSED_BYTES {
                    return Err(LogError::Corrupt(format!(
                        "snappy batch decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
                    )));
                }
                let v = snap::raw::Decoder::new()
                    .decompress_vec(block)
                    .map_err(|e| LogError::Corrupt(format!("snappy decompression: {e}")))?;
                out.extend_from_slice(&v);
                Ok(())
            };
            if data.starts_with(XERIAL_MAGIC) && data.len() >= 16 {
                // magic (8) + version (4) + compatible version (4), then [len i32][block]...
                let mut pos = 16;
                while pos < data.len() {
                    let len_bytes: [u8; 4] = data
                        .get(pos..pos + 4)
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| LogError::Corrupt("truncated snappy chunk".into()))?;
                    let len = usize::try_from(i32::from_be_bytes(len_bytes))
                        .map_err(|_| LogError::Corrupt("negative snappy chunk".into()))?;
                    pos += 4;
                    let block = data
                        .get(pos..pos + len)
                        .ok_or_else(|| LogError::Corrupt("truncated snappy chunk".into()))?;
                    raw(block, &mut out)?;
                    pos += len;
                }
            } else {
                raw(data, &mut out)?;
            }
        }
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
        rec.clear();
        rec.push(0); // attributes
        put_varlong(&mut rec, r.timestamp - base_ts);
        put_varint(&mut rec, i as i32);
        put_field(&mut rec, r.key.as_deref());
        put_field(&mut rec, r.value.as_deref());
        put_varint(&mut rec, r.headers.len() as i32);
        for (k, v) in &r.headers {
            put_field(&mut rec, Some(k.as_bytes()));
            put_field(&mut rec, v.as_deref());
        }
        put_varint(&mut out, rec.len() as i32);
        out.extend_from_slice(&rec);
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

fn put_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
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
        assert_eq!(err.code().code(), 2, "{err}");
        let ok = decompress(Compression::Gzip, &bomb[..0]);
        assert!(ok.is_err() || ok.expect("empty").is_empty());
    }

    /// What `validate_uncompressed` did before it stopped collecting fields: every record
    /// through `parse_record`. The walk must agree with it on every input.
    fn validate_by_parsing(batch: &[u8], header: &BatchHeader) -> Result<i64, LogError> {
        let mut r = Reader {
            buf: batch,
            pos: HEADER_SIZE,
        };
        let mut max_ts = batch::NO_TIMESTAMP;
        for i in 0..header.records_count {
            let rec = parse_record(&mut r)?;
            if rec.offset_delta != i {
                return Err(LogError::InvalidRecord(format!(
                    "record {i} has offset delta {}",
                    rec.offset_delta
                )));
            }
            max_ts = max_ts.max(header.base_timestamp.wrapping_add(rec.timestamp_delta));
        }
        if r.pos != batch.len() {
            return Err(LogError::Corrupt(format!(
                "{} bytes after the last of {} records",
                batch.len() - r.pos,
                header.records_count
            )));
        }
        Ok(max_ts)
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
        assert_eq!(validate_uncompressed(&plain, &h).expect("valid"), 5_000);
        let mut cases = 0;
        for i in HEADER_SIZE..plain.len() {
            for x in [0x00u8, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff] {
                let mut b = plain.clone();
                b[i] = x;
                let walk = validate_uncompressed(&b, &h);
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
                    let _ = validate_uncompressed(&b, &h);
                }
            }
        }
    }
}
