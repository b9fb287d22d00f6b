//! Bad input on the Kafka wire, one test per kind, through real frames on a real socket.
//!
//! Every test checks two things:
//! - what the client that sent the bad input sees: a Kafka error code in a normal response
//!   where Kafka answers with one, otherwise the connection closed by the broker;
//! - that the broker carries on: a new connection gets ApiVersions and Metadata answers, and
//!   a connection opened (and served) *before* the bad input still produces and fetches.

// The broker runs inside this test process, and some tests send array lengths of 2^31: the
// guarded allocator keeps the resulting huge `Vec::with_capacity` from aborting the process.
#[global_allocator]
static A: rafka::alloc_guard::GuardedAlloc = rafka::alloc_guard::GuardedAlloc;

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rafka::BrokerHandle;
use support::{batch, start_broker, start_broker_with, Client};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The topic the bystander connection produces to and fetches from.
const TOPIC: &str = "bystander";
/// Upper bound for any one step of a test (a connect, a call, a read).
const STEP: Duration = Duration::from_secs(20);

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// Runs `f`, failing the test if it takes longer than [`STEP`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(STEP, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A whole request frame built by hand: size prefix, header (key, version, correlation id,
/// client id "evil", plus an empty tagged-field section when the API's version needs header
/// v2), then `body` as given.
fn raw_frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let flexible = ApiKey::try_from(api_key)
        .map(|k| k.request_header_version(version) >= 2)
        .unwrap_or(false);
    let mut f = Vec::new();
    f.put_i32(0);
    f.put_i16(api_key);
    f.put_i16(version);
    f.put_i32(correlation_id);
    f.put_i16(4);
    f.put_slice(b"evil");
    if flexible {
        f.put_u8(0);
    }
    f.put_slice(body);
    sized(f)
}

/// Fills in the size prefix of a frame built with a placeholder prefix.
fn sized(mut f: Vec<u8>) -> Vec<u8> {
    let size = i32::try_from(f.len() - 4).expect("frame fits an i32");
    f[..4].copy_from_slice(&size.to_be_bytes());
    f
}

/// A well-formed request frame for `req`.
fn frame<Req: Encodable>(api: ApiKey, version: i16, correlation_id: i32, req: &Req) -> Vec<u8> {
    let mut body = BytesMut::new();
    req.encode(&mut body, version).expect("request encodes");
    raw_frame(api as i16, version, correlation_id, &body)
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])])
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

fn latest_offset_request(topic: &str, partition: i32) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1),
            ])])
}

/// Produces `records` (Produce v9) and returns the partition's response.
async fn produce(
    c: &mut Client,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let req = produce_request(topic, partition, records, -1);
    let r: ProduceResponse = within("produce", c.call(ApiKey::Produce, 9, &req)).await;
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].partition_responses.len(), 1);
    r.responses[0].partition_responses[0].clone()
}

/// Fetches from `offset` (Fetch v12) and returns the partition's response.
async fn fetch(c: &mut Client, topic: &str, partition: i32, offset: i64) -> PartitionData {
    let req = fetch_request(topic, partition, offset, 500);
    let r: FetchResponse = within("fetch", c.call(ApiKey::Fetch, 12, &req)).await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].partitions.len(), 1);
    r.responses[0].partitions[0].clone()
}

/// The partition's latest offset (ListOffsets v7, timestamp -1).
async fn latest_offset(c: &mut Client, topic: &str, partition: i32) -> i64 {
    let req = latest_offset_request(topic, partition);
    let r: ListOffsetsResponse = within("list offsets", c.call(ApiKey::ListOffsets, 7, &req)).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// The values of every record in fetched batches.
fn values(records: &Bytes) -> Vec<String> {
    let mut out = Vec::new();
    for (at, h) in rafka::log::batch::BatchIter::new(records) {
        let size = h.size().expect("batch size");
        for r in rafka::log::records::decode_batch(&records[at..at + size]).expect("decodes") {
            let v = r.value.expect("value");
            out.push(String::from_utf8(v.to_vec()).expect("utf-8"));
        }
    }
    out
}

/// Checks that the broker closed `c` without sending anything more.
async fn assert_closed(c: &mut Client, what: &str) {
    assert!(
        within(what, c.is_closed_by_broker()).await,
        "{what}: the broker should close the connection"
    );
}

/// A broker with the bystander topic, and a bystander connection that was served before any
/// bad input arrived.
struct Fixture {
    broker: BrokerHandle,
    _dir: TempDir,
    bystander: Client,
}

async fn fixture() -> Fixture {
    setup(start_broker().await).await
}

async fn fixture_with(f: impl FnOnce(&mut rafka::config::Config)) -> Fixture {
    setup(start_broker_with(f).await).await
}

async fn setup((broker, dir): (BrokerHandle, TempDir)) -> Fixture {
    broker
        .broker()
        .create_topic(TOPIC, 1, 1, BTreeMap::new(), false)
        .expect("bystander topic");
    let mut bystander = within("connect", Client::connect(broker.kafka_addr())).await;
    // served once, so the broker has accepted it before anything bad arrives
    let r: ApiVersionsResponse = within(
        "bystander ApiVersions",
        bystander.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
    )
    .await;
    assert_eq!(r.error_code, NONE);
    Fixture {
        broker,
        _dir: dir,
        bystander,
    }
}

impl Fixture {
    fn addr(&self) -> std::net::SocketAddr {
        self.broker.kafka_addr()
    }

    /// A new raw connection.
    async fn connect(&self) -> Client {
        within("connect", Client::connect(self.addr())).await
    }

    /// (b): the broker still answers a new connection, the bystander connection still
    /// produces and fetches, and the broker shuts down cleanly.
    async fn assert_still_serving(mut self) {
        let mut fresh = self.connect().await;
        let av: ApiVersionsResponse = within(
            "ApiVersions on a new connection",
            fresh.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
        )
        .await;
        assert_eq!(av.error_code, NONE);
        assert!(av
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Metadata as i16));
        let md: MetadataResponse = within(
            "Metadata on a new connection",
            fresh.call(
                ApiKey::Metadata,
                12,
                &MetadataRequest::default().with_topics(None),
            ),
        )
        .await;
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(md.brokers[0].port, i32::from(self.addr().port()));
        let t = md
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(TOPIC))
            .expect("bystander topic in Metadata");
        assert_eq!((t.error_code, t.partitions.len()), (NONE, 1));

        let value = "still here";
        let p = produce(&mut self.bystander, TOPIC, 0, batch(&[(None, value)])).await;
        assert_eq!(p.error_code, NONE, "bystander produce");
        let f = fetch(&mut self.bystander, TOPIC, 0, p.base_offset).await;
        assert_eq!(f.error_code, NONE, "bystander fetch");
        assert_eq!(f.high_watermark, p.base_offset + 1);
        let got = values(f.records.as_ref().expect("records"));
        assert_eq!(got.last().map(String::as_str), Some(value));

        drop(fresh);
        drop(self.bystander);
        within("shutdown", self.broker.shutdown())
            .await
            .expect("clean shutdown");
    }
}

/// Sends a good ApiVersions request and `bad` in one write on a new connection; checks that
/// the good request is still answered and that the broker then closes the connection.
async fn answered_then_closed(fx: &Fixture, bad: &[u8], what: &str) {
    let mut c = fx.connect().await;
    let mut bytes = frame(ApiKey::ApiVersions, 3, 41, &ApiVersionsRequest::default());
    bytes.extend_from_slice(bad);
    within(what, c.send_raw(&bytes)).await;
    let r: ApiVersionsResponse = within(what, c.recv(ApiKey::ApiVersions, 3, 41)).await;
    assert_eq!(
        r.error_code, NONE,
        "{what}: the request before the bad one is answered"
    );
    assert_closed(&mut c, what).await;
}

#[tokio::test]
async fn negative_size_prefix_closes_the_connection() {
    let fx = fixture().await;
    for size in [-1i32, -4096, i32::MIN] {
        answered_then_closed(&fx, &size.to_be_bytes(), &format!("size prefix {size}")).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn size_over_socket_request_max_bytes_closes_the_connection() {
    let fx = fixture_with(|c| c.socket_request_max_bytes = 4096).await;

    // exactly at the limit: a real produce request padded to 4096 bytes is served
    let mut c = fx.connect().await;
    let at_limit = (3000..4096)
        .map(|n| {
            let value = "x".repeat(n);
            let req = produce_request(TOPIC, 0, batch(&[(None, &value)]), 1);
            frame(ApiKey::Produce, 9, 5, &req)
        })
        .find(|f| f.len() == 4 + 4096)
        .expect("a padding that makes a 4096-byte request");
    within("send", c.send_raw(&at_limit)).await;
    let r: ProduceResponse = within("recv", c.recv(ApiKey::Produce, 9, 5)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);

    // one byte over, and 2 GiB: only the 4-byte prefix is sent and the socket stays open, so
    // a broker that accepted the size would sit waiting for (and buffering) the body
    for size in [4097i32, 0x7fff_ffff] {
        answered_then_closed(&fx, &size.to_be_bytes(), &format!("size prefix {size}")).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn truncated_frame_then_client_eof_is_dropped_quietly() {
    let fx = fixture().await;
    let whole = frame(
        ApiKey::Metadata,
        12,
        3,
        &MetadataRequest::default().with_topics(None),
    );
    // mid-prefix, just the prefix, mid-header, one byte short of the end
    for cut in [2, 4, 10, whole.len() - 1] {
        let mut s = within("connect", TcpStream::connect(fx.addr()))
            .await
            .expect("connect");
        within("write", s.write_all(&whole[..cut]))
            .await
            .expect("write");
        within("half-close", s.shutdown())
            .await
            .expect("half-close"); // EOF mid-frame
        let mut buf = [0u8; 64];
        let n = within("read", s.read(&mut buf)).await.expect("read");
        assert_eq!(
            n, 0,
            "cut at {cut}: no response, the broker closes its side"
        );
    }
    // and a client that vanishes mid-frame without waiting for anything
    let mut c = fx.connect().await;
    within("send", c.send_raw(&whole[..whole.len() / 2])).await;
    drop(c);
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn frame_shorter_than_a_header_closes_the_connection() {
    let fx = fixture().await;
    // an ApiVersions v3 header (key 18, version 3, correlation id 9, client id length 4),
    // cut short: every API key and version needs at least these 10 bytes
    let header = [0u8, 18, 0, 3, 0, 0, 0, 9, 0, 4];
    for n in 0..header.len() {
        let mut bad = i32::try_from(n).expect("small").to_be_bytes().to_vec();
        bad.extend_from_slice(&header[..n]);
        answered_then_closed(&fx, &bad, &format!("{n}-byte frame")).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn garbage_header_closes_the_connection() {
    let fx = fixture().await;
    let metadata = ApiKey::Metadata as i16;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            // header v1: a client id of 32767 bytes, 3 sent
            "client id overruns (header v1)",
            sized([&[0u8; 4][..], &[0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff], b"abc"].concat()),
        ),
        (
            // header v2 (Metadata v12): a client id of 300 bytes, 5 sent
            "client id overruns (header v2)",
            sized(
                [
                    &[0u8; 4][..],
                    &[0, 3, 0, 12, 0, 0, 0, 1, 0x01, 0x2c],
                    b"abcde",
                ]
                .concat(),
            ),
        ),
        (
            "negative client id length",
            sized([&[0u8; 4][..], &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe]].concat()),
        ),
        (
            "client id is not UTF-8",
            sized([&[0u8; 4][..], &[0, 3, 0, 1, 0, 0, 0, 1, 0, 2, 0xff, 0xfe]].concat()),
        ),
        (
            // header v2: 2^32-1 tagged fields announced, none sent
            "tagged fields overrun (header v2)",
            sized(
                [
                    &[0u8; 4][..],
                    &[
                        0, 3, 0, 12, 0, 0, 0, 1, 0, 1, b'x', 0xff, 0xff, 0xff, 0xff, 0x0f,
                    ],
                ]
                .concat(),
            ),
        ),
    ];
    assert!(cases.iter().all(|(_, f)| f[4..6] == metadata.to_be_bytes()));
    for (what, bad) in cases {
        answered_then_closed(&fx, &bad, what).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn unknown_api_key_closes_the_connection() {
    let fx = fixture().await;
    for key in [999i16, -1, i16::MAX] {
        let bad = raw_frame(key, 0, 77, &[]);
        answered_then_closed(&fx, &bad, &format!("API key {key}")).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn unsupported_version_of_a_supported_api_closes_the_connection() {
    let fx = fixture().await;
    // Produce v0-v2 and Fetch v0-v3 are advertised (as Kafka 4 does) but not served
    let old_produce_body = [
        &1i16.to_be_bytes()[..],
        &1000i32.to_be_bytes(),
        &0i32.to_be_bytes(),
    ]
    .concat();
    let cases = [
        (
            "Metadata v99",
            raw_frame(ApiKey::Metadata as i16, 99, 8, &[]),
        ),
        (
            "Metadata v-1",
            raw_frame(ApiKey::Metadata as i16, -1, 8, &[0, 0, 0, 0]),
        ),
        // a malformed body of an advertised-but-unserved version (a well-formed one gets
        // UNSUPPORTED_VERSION per partition: tests/wire.rs)
        (
            "Produce v1, cut short",
            raw_frame(ApiKey::Produce as i16, 1, 8, &old_produce_body[..5]),
        ),
        ("Produce v14", raw_frame(ApiKey::Produce as i16, 14, 8, &[])),
        ("Fetch v3", raw_frame(ApiKey::Fetch as i16, 3, 8, &[])),
    ];
    for (what, bad) in cases {
        answered_then_closed(&fx, &bad, what).await;
    }
    fx.assert_still_serving().await;
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[tokio::test]
async fn undecodable_body_closes_the_connection() {
    let fx = fixture().await;
    // random bytes that the decoder rejects (checked here, so the case cannot go stale)
    let body = (1..1000u64)
        .map(|seed| noise(seed, 64))
        .find(|b| MetadataRequest::decode(&mut Bytes::copy_from_slice(b), 12).is_err())
        .expect("random bytes that are not a Metadata v12 body");
    let bad = raw_frame(ApiKey::Metadata as i16, 12, 12, &body);
    answered_then_closed(&fx, &bad, "Metadata v12 with a random body").await;
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn hostile_array_length_in_produce_v3_closes_the_connection() {
    let fx = fixture().await;
    // transactional id null, acks -1, timeout 1000 ms, then 2^31-1 topics and no bytes
    // for them: the decoder reserves room for them all (~2^31 x the topic struct) first
    let body = [
        &(-1i16).to_be_bytes()[..],
        &(-1i16).to_be_bytes(),
        &1000i32.to_be_bytes(),
        &0x7fff_ffffi32.to_be_bytes(),
    ]
    .concat();
    let bad = raw_frame(ApiKey::Produce as i16, 3, 13, &body);
    answered_then_closed(&fx, &bad, "Produce v3 with 2^31-1 topics").await;
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn hostile_array_length_in_metadata_closes_the_connection() {
    let fx = fixture().await;
    let cases = [
        (
            "Metadata v1 with 2^31-1 topics",
            raw_frame(
                ApiKey::Metadata as i16,
                1,
                14,
                &0x7fff_ffffi32.to_be_bytes(),
            ),
        ),
        (
            // compact array: varint 2^32-1, i.e. 2^32-2 topics
            "Metadata v12 with 2^32-2 topics",
            raw_frame(
                ApiKey::Metadata as i16,
                12,
                14,
                &[0xff, 0xff, 0xff, 0xff, 0x0f],
            ),
        ),
    ];
    for (what, bad) in cases {
        answered_then_closed(&fx, &bad, what).await;
    }
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn corrupt_batch_gets_corrupt_message_and_nothing_is_appended() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let good = produce(&mut c, TOPIC, 0, batch(&[(None, "before")])).await;
    assert_eq!(good.error_code, NONE);
    let before = latest_offset(&mut c, TOPIC, 0).await;
    assert_eq!(before, 1);

    let mut bad = batch(&[(Some("k"), "v1"), (None, "v2")]).to_vec();
    bad[rafka::log::batch::CRC] ^= 0x01; // one bit of the stored CRC-32C
    let p = produce(&mut c, TOPIC, 0, Bytes::from(bad)).await;
    assert_eq!(p.error_code, CORRUPT_MESSAGE);
    assert_eq!(p.base_offset, -1);
    assert_eq!(
        latest_offset(&mut c, TOPIC, 0).await,
        before,
        "nothing appended"
    );
    let f = fetch(&mut c, TOPIC, 0, 0).await;
    assert_eq!(values(f.records.as_ref().expect("records")), ["before"]);
    fx.assert_still_serving().await;
}

/// `data` compressed with `codec` (attribute bits: 1 gzip, 2 snappy, 3 lz4, 4 zstd).
fn compress(codec: i16, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy"),
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).expect("lz4");
            e.finish().expect("lz4")
        }
        _ => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
    }
}

/// `plain`'s header marked with `codec`, then `section` as its records, length and CRC
/// fixed: what a producer sends, with a valid checksum whatever `section` holds.
fn with_section(plain: &[u8], codec: i16, section: &[u8]) -> Bytes {
    use rafka::log::batch as b;
    let mut out = plain[..b::HEADER_SIZE].to_vec();
    out.extend_from_slice(section);
    let len = (out.len() - b::LOG_OVERHEAD) as i32;
    out[b::BATCH_LENGTH..b::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    out[b::ATTRIBUTES..b::ATTRIBUTES + 2].copy_from_slice(&codec.to_be_bytes());
    let crc = b::compute_crc(&out);
    out[b::CRC..b::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

const CODECS: [(i16, &str); 4] = [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")];

/// Issue #13, item 8: a compressed batch with a valid CRC and garbage inside used to be
/// stored (and then stalled consumers on `_BAD_COMPRESSION`). As Kafka's LogValidator
/// does, the broker decompresses and walks the records: records that do not parse are
/// INVALID_RECORD, a section its codec cannot decompress is CORRUPT_MESSAGE, a gzip bomb
/// (70 KiB that inflate past 64 MiB) is MESSAGE_TOO_LARGE; nothing of them is stored, and
/// valid batches of every codec still are, fetched back as sent.
#[tokio::test]
async fn compressed_batches_with_garbage_inside_are_refused_and_valid_ones_stored() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let plain = batch(&[(Some("k"), "one"), (None, "two")]);
    let section = &plain[rafka::log::batch::HEADER_SIZE..];
    for (codec, name) in CODECS {
        let garbage = with_section(&plain, codec, &compress(codec, b"not records, only text"));
        let p = produce(&mut c, TOPIC, 0, garbage).await;
        assert_eq!(
            (p.error_code, p.base_offset),
            (INVALID_RECORD, -1),
            "{name}"
        );

        let mut truncated = compress(codec, section);
        truncated.truncate(truncated.len() / 2);
        let mut noise = b"\x00\xff not compressed at all ".to_vec();
        noise.extend_from_slice(&truncated);
        let p = produce(&mut c, TOPIC, 0, with_section(&plain, codec, &noise)).await;
        assert_eq!(
            (p.error_code, p.base_offset),
            (CORRUPT_MESSAGE, -1),
            "{name}"
        );
    }

    // a gzip bomb: one record whose value claims 1 GiB, then gzip members of 1 MiB of zeros
    // (record length 2^30 + 10, attributes, deltas, null key, value length 2^30: zig-zag)
    let prefix = [
        0x94, 0x80, 0x80, 0x80, 0x08, 0, 0, 0, 0x01, 0x80, 0x80, 0x80, 0x80, 0x08,
    ];
    let mut bomb = compress(1, &prefix);
    let mut zeros = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut zeros, &vec![0u8; 1 << 20]).expect("gzip");
    let zeros = zeros.finish().expect("gzip");
    for _ in 0..70 {
        bomb.extend_from_slice(&zeros);
    }
    assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
    let p = produce(&mut c, TOPIC, 0, with_section(&plain, 1, &bomb)).await;
    assert_eq!(
        (p.error_code, p.base_offset),
        (MESSAGE_TOO_LARGE, -1),
        "bomb"
    );
    assert_eq!(latest_offset(&mut c, TOPIC, 0).await, 0, "nothing appended");

    for (codec, name) in CODECS {
        let good = with_section(&plain, codec, &compress(codec, section));
        let p = produce(&mut c, TOPIC, 0, good.clone()).await;
        assert_eq!(p.error_code, NONE, "{name}");
        let f = fetch(&mut c, TOPIC, 0, p.base_offset).await;
        let records = f.records.expect("records");
        let first = rafka::log::batch::BatchHeader::parse(&records).expect("a batch");
        assert_eq!(
            first.compression().ok(),
            rafka::log::batch::BatchHeader::parse(&good).and_then(|h| h.compression().ok())
        );
        assert_eq!(
            records[rafka::log::batch::HEADER_SIZE..first.size().expect("size")],
            good[rafka::log::batch::HEADER_SIZE..],
            "{name}: stored as sent"
        );
        assert_eq!(values(&records)[..2], ["one", "two"], "{name}");
    }
    assert_eq!(latest_offset(&mut c, TOPIC, 0).await, 8);
    fx.assert_still_serving().await;
}

/// The symptom, seen by a real client: librdkafka (what confluent-kafka wraps)
/// reading a partition where a producer sent an lz4 batch that does not decompress between
/// two good ones. The bad batch used to be stored, and the consumer then stalled on it,
/// repeating `BadCompression (Local: Invalid compressed data)` and never reaching `b0`; now
/// the batch is refused, and the consumer reads every good record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_consumer_reads_past_a_refused_bad_compressed_batch() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;

    let fx = fixture().await;
    let mut c = fx.connect().await;
    let good = |values: &[&str]| {
        let records: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, *v)).collect();
        let plain = batch(&records);
        let section = compress(3, &plain[rafka::log::batch::HEADER_SIZE..]);
        with_section(&plain, 3, &section)
    };
    let p = produce(&mut c, TOPIC, 0, good(&["a0", "a1", "a2"])).await;
    assert_eq!(p.error_code, NONE);
    let plain = batch(&[(None, "never stored")]);
    let bad = with_section(&plain, 3, b"\x04\x22\x4d\x18 this is not an lz4 frame");
    let p = produce(&mut c, TOPIC, 0, bad).await;
    assert_eq!(p.error_code, CORRUPT_MESSAGE);
    let p = produce(&mut c, TOPIC, 0, good(&["b0"])).await;
    assert_eq!((p.error_code, p.base_offset), (NONE, 3));

    let bootstrap = fx.addr().to_string();
    let (values, errors) = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "unused-with-assign")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let (mut values, mut errors) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + STEP;
        while values.len() < 4 && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => values.push(
                    String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8"),
                ),
                // (the first few: a stalled consumer repeats its error until the deadline)
                Some(Err(e)) if errors.len() < 3 => errors.push(e.to_string()),
                Some(Err(_)) => {}
                None => {}
            }
        }
        (values, errors)
    })
    .await
    .expect("consumer thread");
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(values, ["a0", "a1", "a2", "b0"]);
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn batch_over_max_message_bytes_gets_message_too_large() {
    let fx = fixture().await;
    let overrides = BTreeMap::from([("max.message.bytes".to_string(), "1024".to_string())]);
    fx.broker
        .broker()
        .create_topic("small", 1, 1, overrides, false)
        .expect("topic");
    let mut c = fx.connect().await;
    let big = "x".repeat(2000);
    let p = produce(&mut c, "small", 0, batch(&[(None, &big)])).await;
    assert_eq!(p.error_code, MESSAGE_TOO_LARGE);
    assert_eq!(
        latest_offset(&mut c, "small", 0).await,
        0,
        "nothing appended"
    );
    // under the limit it is accepted: the limit, not something else, refused the first
    let p = produce(&mut c, "small", 0, batch(&[(None, &big[..500])])).await;
    assert_eq!((p.error_code, p.base_offset), (NONE, 0));
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn produce_to_unknown_topic_gets_unknown_topic_or_partition() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let p = produce(&mut c, "no-such-topic", 0, batch(&[(None, "v")])).await;
    assert_eq!(p.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(
        fx.broker.broker().topic("no-such-topic").is_none(),
        "Produce does not create topics"
    );
    let p = produce(&mut c, TOPIC, 7, batch(&[(None, "v")])).await;
    assert_eq!(
        p.error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "unknown partition"
    );
    // v13 addresses topics by id
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_topic_id(uuid::Uuid::new_v4())
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_records(Some(batch(&[(None, "v")]))),
            ])]);
    let r: ProduceResponse = within("produce v13", c.call(ApiKey::Produce, 13, &req)).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_ID
    );
    assert_eq!(latest_offset(&mut c, TOPIC, 0).await, 0, "nothing appended");
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn fetch_at_out_of_range_offset_gets_offset_out_of_range() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let p = produce(&mut c, TOPIC, 0, batch(&[(None, "a"), (None, "b")])).await;
    assert_eq!(p.error_code, NONE);
    for offset in [3, 100, i64::MAX, -1] {
        // a long max wait: an error is answered at once, not after the long poll
        let started = Instant::now();
        let req = fetch_request(TOPIC, 0, offset, 30_000);
        let r: FetchResponse = within("fetch", c.call(ApiKey::Fetch, 12, &req)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "offset {offset}"
        );
        let part = &r.responses[0].partitions[0];
        assert_eq!(part.error_code, OFFSET_OUT_OF_RANGE, "offset {offset}");
        assert_eq!(
            (part.high_watermark, part.log_start_offset),
            (2, 0),
            "offset {offset}: the valid range comes with the error"
        );
    }
    // the log end itself is in range (nothing to read yet)
    let part = fetch(&mut c, TOPIC, 0, 2).await;
    assert_eq!(part.error_code, NONE);
    fx.assert_still_serving().await;
}

/// Decodes one response frame sent for `api`/`version`, checks its body, and returns its
/// correlation id.
fn check_response(api: ApiKey, version: i16, mut frame: Bytes) -> i32 {
    let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
        .expect("response header");
    match api {
        ApiKey::ApiVersions => {
            let r = ApiVersionsResponse::decode(&mut frame, version).expect("body");
            assert_eq!(r.error_code, NONE);
        }
        ApiKey::Metadata => {
            let r = MetadataResponse::decode(&mut frame, version).expect("body");
            assert_eq!(r.topics[0].error_code, NONE);
        }
        ApiKey::Produce => {
            let r = ProduceResponse::decode(&mut frame, version).expect("body");
            assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);
        }
        ApiKey::Fetch => {
            let r = FetchResponse::decode(&mut frame, version).expect("body");
            assert_eq!(r.responses[0].partitions[0].error_code, NONE);
        }
        ApiKey::ListOffsets => {
            let r = ListOffsetsResponse::decode(&mut frame, version).expect("body");
            assert_eq!(r.topics[0].partitions[0].error_code, NONE);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(frame.remaining(), 0, "no trailing bytes");
    header.correlation_id
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let fx = fixture().await;
    fx.broker
        .broker()
        .create_topic("quiet", 1, 1, BTreeMap::new(), false)
        .expect("topic");
    // 20 requests of mixed APIs, written back to back before reading anything. The first
    // is a fetch on a topic nobody writes to, which waits out its 300 ms: the 19 quick ones
    // after it must not overtake it. Correlation ids are not monotonic on purpose.
    let mut sent = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..20i32 {
        let id = 1000 - 37 * i;
        let (api, version, f) = match i % 5 {
            0 if i == 0 => (
                ApiKey::Fetch,
                12,
                frame(ApiKey::Fetch, 12, id, &fetch_request("quiet", 0, 0, 300)),
            ),
            0 => (
                ApiKey::ApiVersions,
                3,
                frame(ApiKey::ApiVersions, 3, id, &ApiVersionsRequest::default()),
            ),
            1 => {
                let req = MetadataRequest::default()
                    .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                    )
                    .with_name(Some(topic_name(TOPIC)))]));
                (ApiKey::Metadata, 12, frame(ApiKey::Metadata, 12, id, &req))
            }
            2 => {
                let value = format!("pipelined {i}");
                let req = produce_request(TOPIC, 0, batch(&[(None, &value)]), 1);
                (ApiKey::Produce, 9, frame(ApiKey::Produce, 9, id, &req))
            }
            3 => (
                ApiKey::ListOffsets,
                7,
                frame(ApiKey::ListOffsets, 7, id, &latest_offset_request(TOPIC, 0)),
            ),
            _ => (
                ApiKey::Fetch,
                12,
                frame(ApiKey::Fetch, 12, id, &fetch_request(TOPIC, 0, 0, 0)),
            ),
        };
        sent.push((api, version, id));
        bytes.extend_from_slice(&f);
    }
    let mut c = fx.connect().await;
    within("send", c.send_raw(&bytes)).await;
    for &(api, version, id) in &sent {
        let frame = within("recv", c.recv_frame())
            .await
            .unwrap_or_else(|| panic!("a response to {api:?} (correlation id {id})"));
        assert_eq!(
            check_response(api, version, frame),
            id,
            "responses come back in request order"
        );
    }
    let p = produce(&mut c, TOPIC, 0, batch(&[(None, "after")])).await;
    assert_eq!(p.error_code, NONE, "the connection is still usable");
    assert_eq!(p.base_offset, 4, "4 pipelined produces were appended");
    fx.assert_still_serving().await;
}

#[tokio::test]
async fn acks_zero_produce_gets_no_response() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let req = produce_request(TOPIC, 0, batch(&[(None, "fire and forget")]), 0);
    let mut bytes = frame(ApiKey::Produce, 9, 1, &req);
    bytes.extend(frame(
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default(),
    ));
    within("send", c.send_raw(&bytes)).await;
    let r: ApiVersionsResponse = within(
        "the next response is for the next request",
        c.recv(ApiKey::ApiVersions, 3, 2),
    )
    .await;
    assert_eq!(r.error_code, NONE);
    // responses are written in request order, so the produce is done by now
    assert_eq!(
        latest_offset(&mut c, TOPIC, 0).await,
        1,
        "the record was appended"
    );
    let f = fetch(&mut c, TOPIC, 0, 0).await;
    assert_eq!(
        values(f.records.as_ref().expect("records")),
        ["fire and forget"]
    );
    fx.assert_still_serving().await;
}

/// Kafka serves one request per connection at a time, so a producer's pipelined batches to
/// a partition are appended in the order sent. (Before f68574f every request ran as its own
/// task and they landed in any order; on the multi-thread runtime the `rafka` binary uses,
/// this test caught that nearly every run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_produces_are_appended_in_request_order() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let mut bytes = Vec::new();
    for i in 0..50 {
        let value = format!("{i}");
        let req = produce_request(TOPIC, 0, batch(&[(None, &value)]), 1);
        bytes.extend(frame(ApiKey::Produce, 9, i, &req));
    }
    within("send", c.send_raw(&bytes)).await;
    let mut bases = Vec::new();
    for i in 0..50 {
        let r: ProduceResponse = within("recv", c.recv(ApiKey::Produce, 9, i)).await;
        bases.push(r.responses[0].partition_responses[0].base_offset);
    }
    assert_eq!(
        bases,
        (0..50).collect::<Vec<i64>>(),
        "appended in request order"
    );
    let f = fetch(&mut c, TOPIC, 0, 0).await;
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(values(f.records.as_ref().expect("records")), expected);
    fx.assert_still_serving().await;
}

// ---- Bugs this suite found, now fixed ----

/// A request that fails the route (here: unsupported version) closes the connection, and
/// the requests pipelined after it are not run: the client only sees the connection
/// close, so it will send them again (running them would duplicate this produce).
#[tokio::test]
async fn requests_after_a_failing_one_are_not_executed() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let mut bytes = raw_frame(ApiKey::Metadata as i16, 99, 1, &[]);
    let req = produce_request(TOPIC, 0, batch(&[(None, "after the bad one")]), 1);
    bytes.extend(frame(ApiKey::Produce, 9, 2, &req));
    within("send", c.send_raw(&bytes)).await;
    assert_closed(&mut c, "Metadata v99 then a produce").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other = fx.connect().await;
    assert_eq!(
        latest_offset(&mut other, TOPIC, 0).await,
        0,
        "nothing appended for a request the client got no answer to"
    );
    fx.assert_still_serving().await;
}

/// Kafka closes the connection when an acks=0 produce fails (the producer gets no response,
/// so that is its only signal to refresh metadata); so does Rafka.
#[tokio::test]
async fn acks_zero_produce_with_an_error_closes_the_connection() {
    let fx = fixture().await;
    let mut c = fx.connect().await;
    let mut bad = batch(&[(None, "v")]).to_vec();
    bad[rafka::log::batch::CRC] ^= 0x01;
    let req = produce_request(TOPIC, 0, Bytes::from(bad), 0);
    let mut bytes = frame(ApiKey::Produce, 9, 1, &req);
    bytes.extend(frame(
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default(),
    ));
    within("send", c.send_raw(&bytes)).await;
    assert_closed(&mut c, "acks=0 produce of a corrupt batch").await;
    fx.assert_still_serving().await;
}
