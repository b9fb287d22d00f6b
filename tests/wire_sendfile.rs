//! Fetch with `sendfile`: on a plaintext listener, large record sections go from the
//! segment file to the socket without passing through user space. What a client reads
//! must be exactly what was produced, and exactly what the copy path (the generic
//! `connection::serve`, which TLS will take) sends for the same request: across segment
//! rolls, with sections mixing large batches (sent from the file) and small ones (read),
//! and to a slow reader whose tiny receive window makes every `sendfile` a partial one.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rafka::config::{ListenerConfig, SecurityProtocol};
use rafka::log::batch::BatchIter;
use rafka::log::records::{decode_batch, encode_batch, NewRecord};
use rafka::log::Records;
use rafka::partition::ReadBound;
use rafka::BrokerHandle;
use support::{start_broker, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

const TOPIC: &str = "sendfile";

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_string(TOPIC.to_string()))
}

/// The value of record `i` of batch `seed`: varied bytes, so equality means something.
fn value(seed: usize, i: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|j| (seed * 131 + i * 7 + j * 13 + j / 251) as u8)
        .collect()
}

/// A batch of `count` records of `size` bytes (stamped now: older ones would be
/// retention's to delete).
fn batch(seed: usize, count: usize, size: usize) -> Bytes {
    let now = rafka::log::now_ms();
    let recs: Vec<NewRecord> = (0..count)
        .map(|i| NewRecord::new(Some(format!("k{seed}-{i}")), value(seed, i, size)).at(now))
        .collect();
    Bytes::from(encode_batch(&recs, -1))
}

/// Every batch produced, in order: large ones (sent from the file), small ones between
/// (read), one larger than a fetch's partition limit (a first batch is sent whole).
fn batches() -> Vec<Bytes> {
    let mut out = Vec::new();
    for seed in 0..24 {
        out.push(match seed % 6 {
            0 => batch(seed, 3, 100),                   // ~0.4 KiB
            5 => batch(seed, 2, 700_000),               // ~1.4 MiB, over the fetch limit
            _ => batch(seed, 40, 2_000 + seed * 1_000), // 120 KiB to 1 MiB
        });
    }
    out
}

/// Starts a broker whose topic rolls a segment every 2 MiB, and produces [`batches`].
async fn broker_with_data() -> (BrokerHandle, tempfile::TempDir, Vec<Bytes>) {
    let (broker, dir) = start_broker().await;
    let overrides = [
        ("segment.bytes".to_string(), (2 << 20).to_string()),
        ("max.message.bytes".to_string(), (4 << 20).to_string()),
    ];
    broker
        .broker()
        .create_topic(TOPIC, 1, 1, overrides.into_iter().collect(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let batches = batches();
    for b in &batches {
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name())
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(b.clone())),
                ])]);
        let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    (broker, dir, batches)
}

/// A listener of the same broker whose connections take the copy path: the generic
/// `connection::serve` over any stream, as a TLS listener will.
async fn copy_path_listener(broker: &BrokerHandle) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Arc::new(ListenerConfig::new(
        "COPY",
        SecurityProtocol::Plaintext,
        addr,
    ));
    let b = Arc::clone(broker.broker());
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(rafka::kafka::connection::serve(
                Arc::clone(&b),
                stream,
                peer,
                Arc::clone(&config),
                rafka::security::KafkaPrincipal::anonymous(),
                rx.clone(),
            ));
        }
    });
    (addr, tx)
}

fn fetch_request(offset: i64, partition_max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(50 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name())
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)])])
}

/// The records of a Fetch v11 response frame (header and body after the size prefix),
/// checked to be kafka-protocol's encoding of what it decodes to.
fn records_of(frame: &Bytes) -> Bytes {
    let mut buf = frame.clone();
    let header = ResponseHeader::decode(&mut buf, 0).expect("header");
    let resp = FetchResponse::decode(&mut buf, 11).expect("body");
    assert_eq!(buf.remaining(), 0, "no trailing bytes");
    let mut again = BytesMut::new();
    header.encode(&mut again, 0).expect("header encodes");
    resp.encode(&mut again, 11).expect("body encodes");
    assert!(again[..] == frame[..], "kafka-protocol's encoding");
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.clone().unwrap_or_default()
}

/// The offset after the last whole batch of `records`.
fn next_offset(records: &[u8], from: i64) -> i64 {
    BatchIter::new(records)
        .last()
        .map_or(from, |(_, h)| h.next_offset())
}

/// Fetches the whole partition through `addr`, 1 MiB a partition at a time; returns
/// every response frame.
async fn fetch_all(addr: SocketAddr, end: i64) -> Vec<Bytes> {
    let mut c = Client::connect(addr).await;
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < end {
        c.send(ApiKey::Fetch, 11, &fetch_request(offset, 1 << 20))
            .await;
        let frame = c.recv_frame().await.expect("a response");
        let next = next_offset(&records_of(&frame), offset);
        assert!(next > offset, "progress at offset {offset}");
        offset = next;
        frames.push(frame);
    }
    frames
}

/// Every record value in `frames`, in order.
fn values(frames: &[Bytes]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in frames {
        let records = records_of(f);
        for (at, h) in BatchIter::new(&records) {
            let size = h.size().expect("size");
            for r in decode_batch(&records[at..at + size]).expect("decode") {
                out.push(r.value.expect("a value").to_vec());
            }
        }
    }
    out
}

fn produced_values(batches: &[Bytes]) -> Vec<Vec<u8>> {
    batches
        .iter()
        .flat_map(|b| decode_batch(b).expect("decode"))
        .map(|r| r.value.expect("a value").to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendfile_and_copy_paths_send_the_same_bytes_across_segment_rolls() {
    let (broker, _dir, batches) = broker_with_data().await;
    let partition = broker
        .broker()
        .topic(TOPIC)
        .and_then(|t| t.partition(0).cloned())
        .expect("partition");
    assert!(
        partition.segment_base_offsets().len() > 5,
        "segments rolled"
    );
    // the sections of large checked batches are file ranges (what plaintext sends with
    // sendfile), small ones are bytes
    let end = partition.high_watermark();
    let mut kinds = (0, 0);
    let mut offset = 0;
    while offset < end {
        let r = partition
            .read_records(offset, 1 << 20, true, ReadBound::HighWatermark)
            .expect("read");
        let bytes = match r.records {
            Records::File(range) => {
                kinds.0 += 1;
                range.read().expect("range")
            }
            Records::Bytes(b) => {
                kinds.1 += 1;
                b
            }
        };
        offset = next_offset(&bytes, offset);
    }
    assert!(
        kinds.0 >= 10 && kinds.1 >= 3,
        "file ranges, bytes: {kinds:?}"
    );

    let (copy_addr, _stop) = copy_path_listener(&broker).await;
    let sent = fetch_all(broker.kafka_addr(), end).await;
    let copied = fetch_all(copy_addr, end).await;
    assert_eq!(sent.len(), copied.len());
    for (i, (a, b)) in sent.iter().zip(&copied).enumerate() {
        assert!(a == b, "response {i}: sendfile and copy paths differ");
    }
    assert!(
        values(&sent) == produced_values(&batches),
        "what was produced"
    );
    broker.shutdown().await.expect("shutdown");
}

/// A request frame for Fetch v11, as a client writes it.
fn fetch_frame(correlation_id: i32, req: &FetchRequest) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(11)
        .with_correlation_id(correlation_id);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, 1).expect("header");
    req.encode(&mut buf, 11).expect("body");
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf
}

/// A reader with a 4 KiB receive buffer that reads a few hundred bytes at a time and
/// pauses: the broker's socket fills, each `sendfile` sends part of a range and the
/// writer waits for the socket to drain. Several fetches are pipelined, so responses
/// queue behind the slow one. The bytes are those of a fast reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_every_byte_through_partial_sendfiles() {
    let (broker, _dir, _) = broker_with_data().await;
    let end = broker
        .broker()
        .topic(TOPIC)
        .and_then(|t| t.partition(0).cloned())
        .expect("partition")
        .high_watermark();
    let offsets: Vec<i64> = vec![0, 3, end / 4, end / 2, 3 * end / 4, end - 1, 3, 0];
    let fast = {
        let mut c = Client::connect(broker.kafka_addr()).await;
        let mut out = Vec::new();
        for &o in &offsets {
            c.send(ApiKey::Fetch, 11, &fetch_request(o, 4 << 20)).await;
            out.push(c.recv_frame().await.expect("a response"));
        }
        out
    };
    assert!(fast.iter().map(Bytes::len).sum::<usize>() > 2 << 20);

    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let mut stream = socket.connect(broker.kafka_addr()).await.expect("connect");
    for (i, &o) in offsets.iter().enumerate() {
        let frame = fetch_frame(i as i32 + 1, &fetch_request(o, 4 << 20));
        stream.write_all(&frame).await.expect("write");
    }
    let total: usize = fast.iter().map(|f| 4 + f.len()).sum();
    let mut got = Vec::with_capacity(total);
    let mut piece = [0u8; 700];
    let read = async {
        while got.len() < total {
            let n = stream.read(&mut piece).await.expect("read");
            assert!(n > 0, "the broker closed the connection");
            got.extend_from_slice(&piece[..n]);
            if got.len() % 64 < 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the slow reader got everything");
    let mut got = Bytes::from(got);
    for (i, f) in fast.iter().enumerate() {
        let size = got.get_i32() as usize;
        let frame = got.split_to(size);
        // same bytes but the correlation id (the 4 bytes after the size)
        assert_eq!(frame.len(), f.len(), "response {i}");
        assert_eq!(&frame[..4], &(i as i32 + 1).to_be_bytes());
        assert!(frame[4..] == f[4..], "response {i} differs");
    }
    broker.shutdown().await.expect("shutdown");
}

/// A consumer's view: a segment deleted while a fetch's file range is being sent
/// (DeleteRecords) does not change what that fetch sends: the open file keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_outlives_its_deleted_segment() {
    let (broker, _dir, batches) = broker_with_data().await;
    let partition = broker
        .broker()
        .topic(TOPIC)
        .and_then(|t| t.partition(0).cloned())
        .expect("partition");
    let Records::File(range) = partition
        .read_records(3, 1 << 20, true, ReadBound::HighWatermark)
        .expect("read")
        .records
    else {
        panic!("a large checked batch stays in the file");
    };
    let before = range.read().expect("read");
    let hw = partition.high_watermark();
    partition
        .delete_records_before(hw, rafka::partition::AppendOrigin::Client)
        .expect("delete");
    assert!(!range.path().exists(), "the segment file is deleted");
    assert_eq!(range.read().expect("still readable"), before);
    let first = decode_batch(&before).expect("decode");
    assert_eq!(
        first[0].value.as_deref(),
        decode_batch(&batches[1]).expect("d")[0].value.as_deref()
    );
    broker.shutdown().await.expect("shutdown");
}

/// librdkafka reads back, byte for byte and in order, records it produced in large
/// uncompressed batches (sent from the segment files) over many segment rolls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rdkafka_consumer_reads_what_was_produced() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    use std::time::Instant;

    const RECORDS: usize = 20_000;
    let (broker, _dir) = start_broker().await;
    let overrides = [("segment.bytes".to_string(), (4 << 20).to_string())];
    broker
        .broker()
        .create_topic("rk", 1, 1, overrides.into_iter().collect(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    let value_of = |i: usize| value(i, i % 5, 1_000 + i % 2_000);
    tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("linger.ms", "20")
                .set("batch.size", "1000000")
                .create()
                .expect("producer");
            for i in 0..RECORDS {
                let v = value_of(i);
                let mut record = BaseRecord::<(), _>::to("rk").payload(&v).partition(0);
                while let Err((_, r)) = producer.send(record) {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(60)).expect("flushed");
        }
    })
    .await
    .expect("producer");
    let partition = broker
        .broker()
        .topic("rk")
        .and_then(|t| t.partition(0).cloned())
        .expect("partition");
    assert!(
        partition.segment_base_offsets().len() > 4,
        "segments rolled"
    );
    assert!(
        matches!(
            partition
                .read_records(RECORDS as i64 / 2, 1 << 20, true, ReadBound::HighWatermark)
                .expect("read")
                .records,
            Records::File(_)
        ),
        "librdkafka's batches are sent from the file"
    );

    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "unused-with-assign")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("rk", 0, Offset::Beginning)
            .expect("assign");
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut next = 0usize;
        while next < RECORDS {
            assert!(Instant::now() < deadline, "consumed only {next} records");
            let Some(m) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m.expect("no consumer error");
            assert_eq!(m.offset(), next as i64, "in order, none missing");
            assert!(
                m.payload() == Some(&value_of(next)[..]),
                "record {next} byte-identical"
            );
            next += 1;
        }
    })
    .await
    .expect("consumer");
    broker.shutdown().await.expect("shutdown");
}
