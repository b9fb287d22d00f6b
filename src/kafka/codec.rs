//! Kafka frames: a 4-byte big-endian size, then a request header (v1, or v2 with tagged
//! fields for flexible versions) and the body; responses get header v0 or v1 as each API
//! version requires (ApiVersions always v0). Pure functions over bytes, so they can be
//! fuzzed; lengths are checked before the `kafka-protocol` decoders see the bytes.
//!
//! A Fetch response is encoded as a [`Frame`] of chunks: the fetched record batches stay in
//! the buffers they were read into and are written beside the other bytes of the frame,
//! byte for byte what `kafka-protocol` would have encoded (see [`encode_fetch_response`]).

use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, FetchResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::log::{FileRange, LogError, Records};

/// Bytes before the client id in every request header: key, version, correlation id.
const FIXED_HEADER: usize = 8;

/// A request frame that cannot be served. [`FrameError::correlation_id`] says whether the
/// header was readable (then the connection logs it with the request's identity).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative or over `socket.request.max.bytes`: the connection is
    /// closed before anything is buffered, as Kafka does.
    #[error("request size {size} outside 0..={max}")]
    BadSize { size: i64, max: usize },
    /// Fewer bytes than a request header needs.
    #[error("request of {0} bytes is shorter than a request header")]
    TooShort(usize),
    /// An API key Kafka does not define.
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    /// The header after the fixed fields does not decode (client id, tagged fields).
    #[error("malformed request header for API key {api_key}: {reason}")]
    BadHeader { api_key: i16, reason: String },
}

/// Checks a frame's size prefix against the limit before the body is read.
pub fn check_size(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    match usize::try_from(size) {
        Ok(s) if s <= max => Ok(s),
        _ => Err(FrameError::BadSize {
            size: i64::from(size),
            max,
        }),
    }
}

/// A request whose header decoded; the body is still bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    pub body: Bytes,
}

/// Splits a frame (without its size prefix) into header and body.
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    let Some(&[k0, k1, v0, v1, c0, c1, c2, c3]) = frame.get(..FIXED_HEADER) else {
        return Err(FrameError::TooShort(frame.len()));
    };
    let key = i16::from_be_bytes([k0, k1]);
    let version = i16::from_be_bytes([v0, v1]);
    let correlation_id = i32::from_be_bytes([c0, c1, c2, c3]);
    let api_key = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey {
        api_key: key,
        correlation_id,
    })?;
    // v1 and v2 headers both carry a 2-byte client id length after the fixed fields
    if frame.len() < FIXED_HEADER + 2 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| FrameError::BadHeader {
            api_key: key,
            reason: e.to_string(),
        })?;
    Ok(Request {
        api_key,
        api_version: version,
        correlation_id,
        client_id: header.client_id,
        body: frame,
    })
}

/// Encodes a whole response frame: size prefix, header, body.
pub fn encode_response<M: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &M,
) -> anyhow::Result<Bytes> {
    let header_version = api_key.response_header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header.compute_size(header_version)? + body.compute_size(api_version)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(i32::try_from(size)?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, api_version)?;
    Ok(buf.freeze())
}

/// A response frame: in-memory chunks, and for a Fetch, record sections that are still
/// in segment files ([`FileRange`]s). The connection's writer sends each [`Part`] in
/// order: runs of in-memory chunks with vectored writes, file ranges with `sendfile` on a
/// plaintext TCP connection, or read and written on any other stream.
#[derive(Debug, Default)]
pub struct Frame {
    parts: Vec<Part>,
    len: usize,
}

/// One piece of a [`Frame`], as the writer sends it.
#[derive(Debug)]
pub enum Part {
    /// Consecutive in-memory chunks (never empty).
    Bytes(Chunks),
    /// A record section in a segment file (never empty).
    File(FileRange),
}

impl Frame {
    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        match self.parts.last_mut() {
            Some(Part::Bytes(run)) => run.push(chunk),
            _ => {
                let mut run = Chunks::default();
                run.push(chunk);
                self.parts.push(Part::Bytes(run));
            }
        }
    }

    fn push_file(&mut self, range: FileRange) {
        if !range.is_empty() {
            self.len += range.len();
            self.parts.push(Part::File(range));
        }
    }

    /// The frame's size in bytes, size prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parts, in the order they go on the wire.
    pub fn into_parts(self) -> Vec<Part> {
        self.parts
    }

    /// The whole frame in memory, file ranges read (tests, and anything that must copy).
    pub fn into_bytes(self) -> Result<Bytes, LogError> {
        let mut out = BytesMut::with_capacity(self.len);
        for part in self.parts {
            match part {
                Part::Bytes(mut run) => {
                    while run.has_remaining() {
                        let n = run.chunk().len();
                        out.extend_from_slice(run.chunk());
                        run.advance(n);
                    }
                }
                Part::File(range) => out.extend_from_slice(&range.read()?),
            }
        }
        Ok(out.freeze())
    }
}

impl From<Bytes> for Frame {
    fn from(frame: Bytes) -> Frame {
        let mut f = Frame::default();
        f.push(frame);
        f
    }
}

/// In-memory chunks written with vectored writes: a [`Buf`] over them.
#[derive(Debug, Default)]
pub struct Chunks {
    /// Never an empty chunk, so `chunk()` is empty only at the end.
    chunks: Vec<Bytes>,
    next: usize,
    remaining: usize,
}

impl Chunks {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            self.chunks.push(chunk);
        }
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.get(self.next).map_or(&[], |c| c.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(c) = self.chunks.get_mut(self.next) else {
                return;
            };
            let n = cnt.min(c.len());
            c.advance(n);
            self.remaining -= n;
            cnt -= n;
            if c.is_empty() {
                self.next += 1;
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let rest = self.chunks.get(self.next..).unwrap_or_default();
        let mut n = 0;
        for (slot, c) in dst.iter_mut().zip(rest) {
            *slot = IoSlice::new(c);
            n += 1;
        }
        n
    }
}

/// Record sections smaller than this are copied into the frame like any other field:
/// for them a chunk of their own costs more than the copy.
const OWN_CHUNK_MIN: usize = 16 * 1024;

/// A record section of a Fetch response that does not go through `kafka-protocol`'s
/// encoder: where it goes (indexes into `responses` and their `partitions`) and its bytes.
#[derive(Debug)]
pub struct Section {
    pub topic: usize,
    pub partition: usize,
    pub records: Records,
}

/// Encodes a Fetch response as [`encode_response`] does, byte for byte, without copying
/// the large record sections: the frame is the encoding of the response with those records
/// empty, cut where each one goes, with its real length prefix and its records in between
/// (their `Bytes`, or the [`FileRange`] they are in). `sections` are record sections kept
/// out of `body`, in response order, whose partitions in `body` hold empty records;
/// in-memory records of at least 16 KiB in `body` get a chunk of their own too.
///
/// Where each goes is found without knowing the Fetch schema: the response is encoded once
/// with those records empty and once with them null. The two encodings have the same
/// length and differ exactly in those fields' length prefixes (`00000000` / `ffffffff`
/// before v12, varints `01` / `00` from v12), in order. Should that not hold, or the
/// assembled size disagree with `kafka-protocol`'s own computation, the response is
/// encoded whole (reading file ranges into memory for it).
pub fn encode_fetch_response(
    api_version: i16,
    correlation_id: i32,
    mut body: FetchResponse,
    sections: Vec<Section>,
) -> anyhow::Result<Frame> {
    let encode = |b: &FetchResponse| encode_response(ApiKey::Fetch, api_version, correlation_id, b);
    let flexible = api_version >= 12;
    let header_version = ApiKey::Fetch.response_header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut size = header.compute_size(header_version)? + body.compute_size(api_version)?;
    // the sections kept out, and every large in-memory section, in encoding order
    let mut outside = sections.into_iter().peekable();
    let mut taken: Vec<(usize, usize, Records)> = Vec::new();
    for (ti, t) in body.responses.iter_mut().enumerate() {
        for (pi, p) in t.partitions.iter_mut().enumerate() {
            if outside
                .peek()
                .is_some_and(|s| (s.topic, s.partition) == (ti, pi))
            {
                if let Some(s) = outside.next() {
                    // in the size: its length prefix and records instead of an empty one's
                    size += prefix(s.records.len(), flexible)?.len() + s.records.len();
                    size -= prefix(0, flexible)?.len();
                    p.records = Some(Bytes::new());
                    taken.push((ti, pi, s.records));
                }
            } else if let Some(records) = p.records.as_mut().filter(|r| r.len() >= OWN_CHUNK_MIN) {
                taken.push((ti, pi, Records::Bytes(std::mem::take(records))));
            }
        }
    }
    if outside.next().is_some() {
        anyhow::bail!("a record section is not in the response, or out of order");
    }
    if taken.is_empty() {
        return encode(&body).map(Frame::from);
    }
    let empty = encode(&body)?;
    for &(ti, pi, _) in &taken {
        if let Some(p) = partition_mut(&mut body, ti, pi) {
            p.records = None;
        }
    }
    let null = encode(&body)?;
    let (empty_prefix, null_prefix): (&[u8], &[u8]) = if flexible {
        (&[1], &[0])
    } else {
        (&[0; 4], &[0xff; 4])
    };
    let cuts = find_cuts(&empty, &null, empty_prefix, null_prefix);
    let mut meta = BytesMut::with_capacity(empty.len() + 5 * taken.len());
    let mut ends = Vec::with_capacity(taken.len());
    let mut from = 0;
    if cuts.len() == taken.len() {
        for (&cut, (_, _, records)) in cuts.iter().zip(&taken) {
            meta.extend_from_slice(empty.get(from..cut).unwrap_or_default());
            meta.extend_from_slice(&prefix(records.len(), flexible)?);
            ends.push(meta.len());
            from = cut + empty_prefix.len();
        }
        meta.extend_from_slice(empty.get(from..).unwrap_or_default());
    }
    let total = meta.len() + taken.iter().map(|(_, _, r)| r.len()).sum::<usize>();
    if ends.len() != taken.len() || total != 4 + size || meta.len() < 4 {
        // not the layout expected: put the records back and encode the usual way
        for (ti, pi, records) in taken {
            let bytes = records.into_bytes()?;
            if let Some(p) = partition_mut(&mut body, ti, pi) {
                p.records = Some(bytes);
            }
        }
        return encode(&body).map(Frame::from);
    }
    if let Some(prefix) = meta.get_mut(..4) {
        prefix.copy_from_slice(&i32::try_from(size)?.to_be_bytes());
    }
    let meta = meta.freeze();
    let mut frame = Frame::default();
    let mut start = 0;
    for (end, (_, _, records)) in ends.into_iter().zip(taken) {
        frame.push(meta.slice(start..end));
        match records {
            Records::Bytes(b) => frame.push(b),
            Records::File(range) => frame.push_file(range),
        }
        start = end;
    }
    frame.push(meta.slice(start..));
    Ok(frame)
}

fn partition_mut(body: &mut FetchResponse, ti: usize, pi: usize) -> Option<&mut PartitionData> {
    body.responses
        .get_mut(ti)
        .and_then(|t| t.partitions.get_mut(pi))
}

/// The length prefix of a records field of `len` bytes: INT32 before v12, COMPACT_BYTES
/// (unsigned varint of length + 1, 7 bits a byte, low bits first) from v12.
fn prefix(len: usize, flexible: bool) -> anyhow::Result<Vec<u8>> {
    if !flexible {
        return Ok(i32::try_from(len)?.to_be_bytes().to_vec());
    }
    let mut v = u32::try_from(len + 1)?;
    let mut out = Vec::with_capacity(5);
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    Ok(out)
}

/// Where the two encodings differ, each difference being `a_prefix` in `a` and `b_prefix`
/// in `b`; empty if they differ any other way.
fn find_cuts(a: &[u8], b: &[u8], a_prefix: &[u8], b_prefix: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    if a.len() != b.len() {
        return cuts;
    }
    let mut i = 0;
    while let (Some(ra), Some(rb)) = (a.get(i..), b.get(i..)) {
        let Some(d) = ra.iter().zip(rb).position(|(x, y)| x != y) else {
            break;
        };
        i += d;
        let (Some(ra), Some(rb)) = (a.get(i..), b.get(i..)) else {
            break;
        };
        if !(ra.starts_with(a_prefix) && rb.starts_with(b_prefix)) {
            return Vec::new();
        }
        cuts.push(i);
        i += a_prefix.len();
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn size_prefix_limits() {
        assert_eq!(check_size(10i32.to_be_bytes(), 100).expect("ok"), 10);
        assert!(check_size((-1i32).to_be_bytes(), 100).is_err());
        assert!(check_size(0x7fff_ffffi32.to_be_bytes(), 100 << 20).is_err());
    }

    #[test]
    fn short_and_unknown_frames_are_errors() {
        for n in 0..10 {
            assert!(
                parse_request(Bytes::from(vec![0u8; n])).is_err(),
                "{n} bytes"
            );
        }
        let mut f = vec![0x7f, 0x00, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
        assert!(matches!(
            parse_request(Bytes::from(f.clone())),
            Err(FrameError::UnknownApiKey {
                correlation_id: 7,
                ..
            })
        ));
        f[0] = 0; // Produce v0 header: key 0, version 0, null client id
        let r = parse_request(Bytes::from(f)).expect("header decodes");
        assert_eq!(r.api_key, ApiKey::Produce);
        assert!(r.body.is_empty());
    }

    /// A Fetch response with topics by name and by id, errors, aborted transactions, a
    /// preferred replica, null / empty / small records (copied) and large ones (own chunks)
    /// whose lengths put the v12+ varint prefix at 3 and 4 bytes.
    fn fetch_response(version: i16, sizes: &[usize]) -> FetchResponse {
        use kafka_protocol::messages::fetch_response::{
            AbortedTransaction, FetchableTopicResponse, PartitionData,
        };
        use kafka_protocol::messages::{ProducerId, TopicName};
        let records = |n: usize| {
            // contents that look like the markers the encoder looks for
            let pattern = [0u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0];
            Bytes::from(
                (0..n)
                    .map(|i| pattern[i % pattern.len()])
                    .collect::<Vec<u8>>(),
            )
        };
        let mut topics = Vec::new();
        for (t, chunk) in sizes.chunks(3).enumerate() {
            let parts = chunk
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut p = PartitionData::default()
                        .with_partition_index(i as i32 + 7)
                        .with_high_watermark(0x7fff_ffff_0000 + n as i64)
                        .with_last_stable_offset(-1);
                    if version >= 5 {
                        p.log_start_offset = 0x0101;
                    }
                    if version >= 11 {
                        p.preferred_read_replica = kafka_protocol::messages::BrokerId(0);
                    }
                    match n {
                        0 => p.with_records(None).with_error_code(3),
                        1 => p.with_records(Some(Bytes::new())),
                        _ => p
                            .with_records(Some(records(n)))
                            .with_aborted_transactions(Some(vec![AbortedTransaction::default()
                                .with_producer_id(ProducerId(n as i64))
                                .with_first_offset(-1)])),
                    }
                })
                .collect();
            let topic = if version >= 13 {
                FetchableTopicResponse::default().with_topic_id(uuid::Uuid::from_u128(
                    0xffff_0000_0000_0001_0000_0000 + t as u128,
                ))
            } else {
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(format!("topic-{t}"))))
            };
            topics.push(topic.with_partitions(parts));
        }
        FetchResponse::default()
            .with_throttle_time_ms(5)
            .with_responses(topics)
    }

    /// The in-memory chunks of a frame that has no file ranges.
    fn only_chunks(frame: Frame) -> Chunks {
        let mut parts = frame.into_parts().into_iter();
        match (parts.next(), parts.next()) {
            (Some(Part::Bytes(run)), None) => run,
            (None, None) => Chunks::default(),
            _ => panic!("expected one run of in-memory chunks"),
        }
    }

    /// Byte for byte what kafka-protocol encodes, in every Fetch version served; the large
    /// record sections are not copied (their chunks are the records' own memory).
    #[test]
    fn chunked_fetch_frames_are_the_kafka_protocol_encoding() {
        let sizes = [
            OWN_CHUNK_MIN,
            0,
            (1 << 21) - 1,
            300,
            1,
            (1 << 21) - 2,
            100_000,
            OWN_CHUNK_MIN - 1,
        ];
        for version in 4..=18 {
            let resp = fetch_response(version, &sizes);
            let whole = encode_response(ApiKey::Fetch, version, 99, &resp).expect("encode");
            let large: Vec<Bytes> = resp
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .filter_map(|p| p.records.clone())
                .filter(|r| r.len() >= OWN_CHUNK_MIN)
                .collect();
            let frame = encode_fetch_response(version, 99, resp, Vec::new()).expect("chunked");
            assert_eq!(frame.len(), whole.len());
            let mut run = only_chunks(frame);
            assert_eq!(run.chunks.len(), 2 * large.len() + 1, "v{version}");
            for (chunk, records) in run.chunks.iter().skip(1).step_by(2).zip(&large) {
                assert_eq!(chunk.as_ptr(), records.as_ptr(), "v{version}: not copied");
            }
            let mut slices = [IoSlice::new(&[]); 64];
            assert_eq!(run.chunks_vectored(&mut slices), run.chunks.len());
            let bytes = run.copy_to_bytes(run.remaining());
            assert!(
                bytes == whole,
                "v{version}: differs from kafka-protocol's encoding"
            );
        }
    }

    /// Record sections still in a segment file ([`Records::File`]): the frame has them as
    /// file parts, and its bytes (the ranges read) are kafka-protocol's encoding of the
    /// response with those records in it, in every version; sizes put the v12+ varint
    /// prefix at 3 and 4 bytes, beside in-memory sections large and small.
    #[test]
    fn fetch_frames_with_file_ranges_are_the_kafka_protocol_encoding() {
        use crate::log::partition_log::LoadOptions;
        use crate::log::records::{encode_batch, NewRecord};
        use crate::log::{LogConfig, PartitionLog, TopicPartition};
        let dir = tempfile::tempdir().expect("tmp");
        let (log, _) = PartitionLog::open(
            dir.path().join("t-0"),
            TopicPartition::new("t", 0),
            LogConfig {
                max_message_bytes: 4 << 20,
                ..LogConfig::default()
            },
            None,
            LoadOptions::default(),
        )
        .expect("open");
        // batches of ~40 KiB, 300 KiB and 2.5 MiB: sections of 2 and 4 varint bytes
        let mut starts = Vec::new();
        for (i, size) in [40_000usize, 300_000, 2_500_000].into_iter().enumerate() {
            let value: Vec<u8> = (0..size).map(|j| (i * 7 + j) as u8).collect();
            let mut b = encode_batch(&[NewRecord::new(None::<Vec<u8>>, value).at(1)], -1);
            starts.push(log.append(&mut b, 0).expect("append").base_offset);
        }
        let file = |offset: i64| match log
            .read_records(offset, 1, true, i64::MAX)
            .expect("read")
            .records
        {
            Records::File(r) => r,
            Records::Bytes(_) => panic!("a large checked batch stays in the file"),
        };
        let ranges: Vec<FileRange> = starts.iter().map(|&o| file(o)).collect();
        for version in 4..=18 {
            // partitions: file, small bytes, file, null, large bytes, file
            let sizes = [2, 300, 2, 0, 100_000, 2];
            let mut with_records = fetch_response(version, &sizes);
            let mut kept_out = fetch_response(version, &sizes);
            let mut sections = Vec::new();
            let mut files = ranges.iter();
            for (ti, (t, k)) in with_records
                .responses
                .iter_mut()
                .zip(kept_out.responses.iter_mut())
                .enumerate()
            {
                for (pi, (p, q)) in t.partitions.iter_mut().zip(&mut k.partitions).enumerate() {
                    if sizes.get(ti * 3 + pi) == Some(&2) {
                        let range = files.next().expect("a range").clone();
                        p.records = Some(range.read().expect("read range"));
                        q.records = Some(Bytes::new());
                        sections.push(Section {
                            topic: ti,
                            partition: pi,
                            records: Records::File(range),
                        });
                    }
                }
            }
            let whole = encode_response(ApiKey::Fetch, version, 7, &with_records).expect("encode");
            let frame = encode_fetch_response(version, 7, kept_out, sections).expect("frame");
            assert_eq!(frame.len(), whole.len(), "v{version}");
            let parts = frame.into_parts();
            let file_parts = parts.iter().filter(|p| matches!(p, Part::File(_))).count();
            assert_eq!(file_parts, 3, "v{version}: the ranges stay file parts");
            let mut frame = Frame::default();
            for part in parts {
                match part {
                    Part::Bytes(mut run) => frame.push(run.copy_to_bytes(run.remaining())),
                    Part::File(r) => frame.push_file(r),
                }
            }
            let bytes = frame.into_bytes().expect("ranges read");
            assert!(
                bytes == whole,
                "v{version}: differs from kafka-protocol's encoding"
            );
        }
    }

    #[test]
    fn a_section_not_in_the_response_is_an_error() {
        let resp = fetch_response(12, &[1]);
        let stray = Section {
            topic: 5,
            partition: 0,
            records: Records::Bytes(Bytes::from_static(b"x")),
        };
        assert!(encode_fetch_response(12, 1, resp, vec![stray]).is_err());
    }

    #[test]
    fn fetch_frames_without_large_records_are_one_chunk() {
        for sizes in [&[][..], &[0, 1, 500]] {
            let resp = fetch_response(12, sizes);
            let whole = encode_response(ApiKey::Fetch, 12, 1, &resp).expect("encode");
            let frame = encode_fetch_response(12, 1, resp, Vec::new()).expect("chunked");
            let mut run = only_chunks(frame);
            assert!(run.chunks.len() <= 1);
            assert_eq!(run.copy_to_bytes(run.remaining()), whole);
        }
    }

    /// Partial writes: advancing by any amount keeps the remaining bytes in order.
    #[test]
    fn chunks_advance_across_chunks() {
        let mut f = Chunks::default();
        for c in [&b"ab"[..], b"", b"cde", b"f"] {
            f.push(Bytes::copy_from_slice(c));
        }
        assert_eq!(f.remaining(), 6);
        f.advance(1);
        assert_eq!(f.chunk(), b"b");
        f.advance(2);
        assert_eq!(f.chunk(), b"de");
        f.advance(3);
        assert_eq!((f.remaining(), f.chunk()), (0, &b""[..]));
        f.advance(1); // past the end: nothing happens
        assert_eq!(f.remaining(), 0);
    }

    /// The ApiVersions response header is v0 even for flexible (v3+) versions: no tagged
    /// field byte after the correlation id (a trap that broke other Kafka-compatible brokers).
    #[test]
    fn api_versions_response_header_is_always_v0() {
        let body = ApiVersionsResponse::default();
        let frame = encode_response(ApiKey::ApiVersions, 3, 42, &body).expect("encode");
        let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(size, frame.len() - 4);
        assert_eq!(&frame[4..8], &42i32.to_be_bytes());
        assert_eq!(size, 4 + body.compute_size(3).expect("size"));
    }
}
