//! The text protocol over real TCP sessions: every command, every error line, and the
//! same records seen from both protocols (docs/text-protocol.md).

mod support;

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::log::batch;
use rafka::log::records::{decode_batch, encode_batch, NewRecord};
use rafka::partition::{AppendOrigin, ReadBound};
use support::{start_broker, start_broker_with, Client};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A raw text session.
struct Text {
    stream: BufReader<TcpStream>,
}

impl Text {
    async fn connect(addr: std::net::SocketAddr) -> Text {
        Text {
            stream: BufReader::new(TcpStream::connect(addr).await.expect("connect")),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("write");
    }

    /// One reply line, without its `\n`; `None` at EOF.
    async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(
            Duration::from_secs(10),
            self.stream.read_until(b'\n', &mut buf),
        )
        .await
        .expect("a reply within 10 s")
        .expect("read");
        if n == 0 {
            return None;
        }
        assert_eq!(buf.pop(), Some(b'\n'), "replies end with \\n");
        Some(String::from_utf8(buf).expect("replies are UTF-8"))
    }

    /// Sends a command line and returns its one-line reply.
    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes()).await;
        self.line().await.expect("a reply")
    }

    /// Sends a command and reads reply lines up to `END…` or an `ERR` line, inclusive.
    async fn list(&mut self, line: &str) -> Vec<String> {
        self.send(format!("{line}\n").as_bytes()).await;
        self.read_list().await
    }

    async fn read_list(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await.expect("a reply line");
            let last = l == "END" || l.starts_with("END ") || l.starts_with("ERR ");
            out.push(l);
            if last {
                return out;
            }
        }
    }

    async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|l| l.to_string()).collect()
}

/// Records of one partition as the Kafka side stores them, read in-process.
fn stored(
    broker: &rafka::BrokerHandle,
    topic: &str,
    partition: i32,
) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    let t = broker.broker().topic(topic).expect("topic");
    let log = t.partition(partition).expect("partition");
    let data = log
        .read(
            log.log_start_offset(),
            1 << 20,
            true,
            ReadBound::HighWatermark,
        )
        .expect("read");
    let mut out = Vec::new();
    for (at, h) in batch::BatchIter::new(&data.records) {
        for r in decode_batch(&data.records[at..at + h.size().expect("size")]).expect("decode") {
            out.push((r.offset, r.key, r.value));
        }
    }
    out
}

/// Rewrites an uncompressed batch with `codec_bits` and the given records section, with
/// the length and CRC fixed (as a Kafka client writes a compressed batch).
fn recompress(plain: &[u8], codec_bits: i16, section: &[u8]) -> Vec<u8> {
    let mut b = plain[..batch::HEADER_SIZE].to_vec();
    b.extend_from_slice(section);
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&codec_bits.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

fn lz4(data: &[u8]) -> Vec<u8> {
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(data).expect("lz4");
    enc.finish().expect("lz4")
}

/// An lz4 batch of `records`, as a Java producer with compression.type=lz4 sends it.
fn lz4_batch(records: &[NewRecord]) -> Bytes {
    let plain = encode_batch(records, -1);
    let section = lz4(&plain[batch::HEADER_SIZE..]);
    Bytes::from(recompress(&plain, 3, &section))
}

/// Produces `records` (raw batch bytes) to a partition through the Kafka protocol.
async fn kafka_produce(c: &mut Client, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test]
async fn every_command_round_trip() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;

    assert_eq!(t.list("TOPICS").await, s(&["END"]));
    assert_eq!(t.cmd("CREATE orders 3").await, "OK");
    assert_eq!(
        t.cmd("create audit").await,
        "OK",
        "num.partitions (1) by default"
    );
    assert_eq!(t.list("topics").await, s(&["audit 1", "orders 3", "END"]));

    let id = rafka::log::checkpoint::uuid_to_kafka(broker.broker().topic("orders").expect("t").id);
    assert_eq!(
        t.list("DESCRIBE orders").await,
        vec![
            format!("TOPIC orders {id} 3"),
            "PARTITION 0 0 0".into(),
            "PARTITION 1 0 0".into(),
            "PARTITION 2 0 0".into(),
            "END".into()
        ]
    );

    // "key1" → toPositive(murmur2) % 3 == 2 in the Java client
    assert_eq!(t.cmd("PRODUCE orders key1 HelloWorld").await, "OK 2 0");
    assert_eq!(t.cmd("\"PRODUCE orders key1 Hello again\"").await, "OK 2 1");
    assert_eq!(t.cmd("Produce orders key1  two  spaces ").await, "OK 2 2");
    assert_eq!(t.cmd("PRODUCE audit - no key at all").await, "OK 0 0");
    // CRLF line endings work as well
    t.send(b"PRODUCE audit - crlf\r\n").await;
    assert_eq!(t.line().await.as_deref(), Some("OK 0 1"));

    assert_eq!(t.cmd("OFFSETS orders 2").await, "OFFSETS 0 3");
    assert_eq!(t.cmd("offsets orders 0").await, "OFFSETS 0 0");
    assert_eq!(
        t.list("DESCRIBE orders").await,
        vec![
            format!("TOPIC orders {id} 3"),
            "PARTITION 0 0 0".into(),
            "PARTITION 1 0 0".into(),
            "PARTITION 2 0 3".into(),
            "END".into()
        ]
    );

    assert_eq!(
        t.list("CONSUME orders 2 0").await,
        s(&[
            "0 key1 HelloWorld",
            "1 key1 Hello again",
            "2 key1  two  spaces ",
            "END 3"
        ])
    );
    assert_eq!(
        t.list("consume orders 2 1 1").await,
        s(&["1 key1 Hello again", "END 2"])
    );
    assert_eq!(
        t.list("CONSUME orders 2 3").await,
        s(&["END 3"]),
        "at the end"
    );
    assert_eq!(
        t.list("CONSUME audit 0 0 99999").await,
        s(&["0 - no key at all", "1 - crlf", "END 2"])
    );

    let help = t.list("HELP").await;
    assert_eq!(help.last().map(String::as_str), Some("END"));
    for verb in [
        "PRODUCE", "CONSUME", "TOPICS", "CREATE", "DESCRIBE", "OFFSETS", "HELP", "QUIT",
    ] {
        assert!(
            help.iter().any(|l| l.starts_with(verb)),
            "HELP lists {verb}"
        );
    }

    // a blank line gets no reply; the next command does
    t.send(b"\n\r\n   \n").await;
    assert_eq!(t.cmd("OFFSETS audit 0").await, "OFFSETS 0 2");

    assert_eq!(t.cmd("QUIT").await, "BYE");
    assert!(t.is_closed().await);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn every_error_line_and_the_connection_stays_usable() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE e 2").await, "OK");
    assert_eq!(t.cmd("PRODUCE e - zero").await, "OK 0 0");
    assert_eq!(t.cmd("PRODUCE e - one").await, "OK 1 0");
    assert_eq!(t.cmd("PRODUCE e - two").await, "OK 0 1");

    let cases: &[(&str, &str)] = &[
        ("FETCH e 0", "ERR INVALID_REQUEST unknown command 'FETCH' (try HELP)"),
        ("PRODUCE e", "ERR INVALID_REQUEST usage: PRODUCE <topic> <key> <value>"),
        ("PRODUCE e k", "ERR INVALID_REQUEST usage: PRODUCE <topic> <key> <value>"),
        ("PRODUCE e bad\\ v", "ERR INVALID_REQUEST key ends with a lone backslash"),
        ("PRODUCE e b\\q v", "ERR INVALID_REQUEST unknown escape '\\q' in key"),
        ("PRODUCE e k\\x4 v", "ERR INVALID_REQUEST '\\x' must be followed by two hex digits"),
        ("PRODUCE e k\\xzz v", "ERR INVALID_REQUEST '\\x' must be followed by two hex digits"),
        ("CONSUME e 0", "ERR INVALID_REQUEST usage: CONSUME <topic> <partition> <offset> [max]"),
        ("CONSUME e x 0", "ERR INVALID_REQUEST partition 'x' is not a number"),
        ("CONSUME e 0 x", "ERR INVALID_REQUEST offset 'x' is not a number"),
        ("CONSUME e 0 0 0", "ERR INVALID_REQUEST max '0' is not a positive number"),
        ("CONSUME e 0 0 -3", "ERR INVALID_REQUEST max '-3' is not a positive number"),
        ("TOPICS now", "ERR INVALID_REQUEST usage: TOPICS"),
        ("CREATE", "ERR INVALID_REQUEST usage: CREATE <topic> [partitions]"),
        ("CREATE x lots", "ERR INVALID_REQUEST number of partitions 'lots' is not a number"),
        ("DESCRIBE", "ERR INVALID_REQUEST usage: DESCRIBE <topic>"),
        ("OFFSETS e", "ERR INVALID_REQUEST usage: OFFSETS <topic> <partition>"),
        ("OFFSETS e x", "ERR INVALID_REQUEST partition 'x' is not a number"),
        ("HELP me", "ERR INVALID_REQUEST usage: HELP"),
        ("QUIT now", "ERR INVALID_REQUEST usage: QUIT"),
        ("CONSUME nope 0 0", "ERR UNKNOWN_TOPIC_OR_PARTITION unknown topic 'nope'"),
        ("CONSUME e 2 0", "ERR UNKNOWN_TOPIC_OR_PARTITION topic 'e' has no partition 2"),
        ("CONSUME e -1 0", "ERR UNKNOWN_TOPIC_OR_PARTITION topic 'e' has no partition -1"),
        ("DESCRIBE nope", "ERR UNKNOWN_TOPIC_OR_PARTITION unknown topic 'nope'"),
        ("OFFSETS nope 0", "ERR UNKNOWN_TOPIC_OR_PARTITION unknown topic 'nope'"),
        ("OFFSETS e 9", "ERR UNKNOWN_TOPIC_OR_PARTITION topic 'e' has no partition 9"),
        ("CONSUME e 0 3", "ERR OFFSET_OUT_OF_RANGE offset 3 is out of range [0, 2]"),
        ("CONSUME e 0 -1", "ERR OFFSET_OUT_OF_RANGE offset -1 is out of range [0, 2]"),
        ("CREATE e", "ERR TOPIC_ALREADY_EXISTS topic 'e' already exists"),
        (
            "CREATE a/b",
            "ERR INVALID_TOPIC_EXCEPTION invalid topic name 'a/b': only ASCII letters, digits, '.', '_' and '-' are allowed",
        ),
        ("CREATE .. 1", "ERR INVALID_TOPIC_EXCEPTION invalid topic name '..': '.' and '..' are not allowed"),
        (
            "PRODUCE bad! - v",
            "ERR INVALID_TOPIC_EXCEPTION invalid topic name 'bad!': only ASCII letters, digits, '.', '_' and '-' are allowed",
        ),
        ("CREATE z 0", "ERR INVALID_PARTITIONS invalid number of partitions 0"),
        ("CREATE z -1", "ERR INVALID_PARTITIONS invalid number of partitions -1"),
        ("CREATE z 100001", "ERR INVALID_PARTITIONS invalid number of partitions 100001"),
        ("CREATE z 99999999999", "ERR INVALID_PARTITIONS invalid number of partitions 99999999999"),
    ];
    for (line, want) in cases {
        assert_eq!(&t.cmd(line).await, want, "{line}");
    }
    let long = "t".repeat(250);
    assert_eq!(
        t.cmd(&format!("CREATE {long}")).await,
        format!(
            "ERR INVALID_TOPIC_EXCEPTION invalid topic name '{long}': longer than 249 characters"
        )
    );

    // not UTF-8
    t.send(b"PRODUCE e - \xff\xfe\n").await;
    assert_eq!(
        t.line().await.as_deref(),
        Some("ERR INVALID_REQUEST the line is not valid UTF-8 (at byte 12)")
    );

    // a line over 1 MiB is read in chunks, discarded and refused; the next one works
    let mut huge = b"PRODUCE e k ".to_vec();
    huge.resize(3 * 1024 * 1024, b'x');
    huge.push(b'\n');
    t.send(&huge).await;
    assert_eq!(
        t.line().await.as_deref(),
        Some("ERR MESSAGE_TOO_LARGE line longer than 1048576 bytes")
    );
    assert_eq!(
        t.cmd("OFFSETS e 0").await,
        "OFFSETS 0 2",
        "nothing was appended"
    );

    // below the log start, after DeleteRecords moved it
    broker
        .broker()
        .topic("e")
        .expect("t")
        .partition(0)
        .expect("p")
        .delete_records_before(1, AppendOrigin::Client)
        .expect("delete");
    assert_eq!(t.cmd("OFFSETS e 0").await, "OFFSETS 1 2");
    assert_eq!(
        t.cmd("CONSUME e 0 0").await,
        "ERR OFFSET_OUT_OF_RANGE offset 0 is out of range [1, 2]"
    );
    assert_eq!(t.list("CONSUME e 0 1").await, s(&["1 - two", "END 2"]));
    assert_eq!(t.cmd("QUIT").await, "BYE");
    broker.shutdown().await.expect("shutdown");
}

/// The log's own errors keep their Kafka names: a batch over max.message.bytes, and
/// (through the Kafka port) compressed batches whose section is not lz4 or whose records
/// are invalid, refused on append as Kafka's LogValidator refuses them.
#[tokio::test]
async fn log_errors_become_their_kafka_names() {
    let (broker, _dir) = start_broker_with(|c| c.log.max_message_bytes = 200).await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE big").await, "OK");
    let reply = t.cmd(&format!("PRODUCE big - {}", "v".repeat(300))).await;
    assert!(
        reply.starts_with("ERR MESSAGE_TOO_LARGE record batch of ")
            && reply.ends_with(" bytes exceeds max.message.bytes 200"),
        "{reply}"
    );
    assert_eq!(t.cmd("OFFSETS big 0").await, "OFFSETS 0 0");

    let mut k = Client::connect(broker.kafka_addr()).await;
    let plain = encode_batch(&[NewRecord::new(Some("k"), "v")], -1);
    // lz4 frame that is not lz4: CORRUPT_MESSAGE
    let garbage = recompress(&plain, 3, b"definitely not an lz4 frame");
    assert_eq!(
        kafka_produce(&mut k, "big", 0, Bytes::from(garbage)).await,
        (2, -1)
    );

    // valid lz4 of a record whose header count is -1: INVALID_RECORD
    let record = [
        0x0e, // length 7 (zig-zag)
        0x00, // attributes
        0x00, // timestamp delta 0
        0x00, // offset delta 0
        0x01, // key: null (-1)
        0x02, b'v', // value: 1 byte
        0x01, // header count -1
    ];
    let invalid = recompress(&plain, 3, &lz4(&record));
    assert_eq!(
        kafka_produce(&mut k, "big", 0, Bytes::from(invalid)).await,
        (87, -1)
    );
    assert_eq!(
        t.cmd("OFFSETS big 0").await,
        "OFFSETS 0 0",
        "nothing stored"
    );
    assert_eq!(t.cmd("PRODUCE big - fine").await, "OK 0 0", "still usable");
    assert_eq!(t.list("CONSUME big 0 0").await, s(&["0 - fine", "END 1"]));

    // one record larger than the topic's segment.bytes (and within max.message.bytes)
    let configs = [("segment.bytes".to_string(), "100".to_string())].into();
    broker
        .broker()
        .create_topic("tiny", 1, 1, configs, false)
        .expect("topic");
    let reply = t.cmd(&format!("PRODUCE tiny - {}", "v".repeat(60))).await;
    assert!(
        reply.starts_with("ERR RECORD_LIST_TOO_LARGE append of ")
            && reply.ends_with(" bytes exceeds segment.bytes 100"),
        "{reply}"
    );
    assert_eq!(t.cmd("OFFSETS tiny 0").await, "OFFSETS 0 0");
    broker.shutdown().await.expect("shutdown");
}

/// Issue #13, item 8: a stored compressed batch that does not decode (written before
/// appends validated compressed batches, or damaged on disk with its CRC fixed up) used
/// to fail the whole CONSUME, valid records before it included. CONSUME now prints those
/// records, then an `ERR` line naming the bad batch's offsets; records after it are read
/// from the next offset.
#[tokio::test]
async fn consume_prints_the_records_before_a_bad_stored_batch_then_err() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = rafka::BrokerBuilder::for_tests(dir.path())
        .start()
        .await
        .expect("start");
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE dmg 1").await, "OK");
    assert_eq!(t.cmd("PRODUCE dmg - a").await, "OK 0 0");
    assert_eq!(t.cmd("PRODUCE dmg - b").await, "OK 0 1");
    let mut k = Client::connect(broker.kafka_addr()).await;
    let recs: Vec<NewRecord> = (0..3)
        .map(|i| NewRecord::new(None::<Vec<u8>>, format!("lz4 {i}")).at(1))
        .collect();
    assert_eq!(
        kafka_produce(&mut k, "dmg", 0, lz4_batch(&recs)).await,
        (0, 2)
    );
    assert_eq!(t.cmd("PRODUCE dmg - c").await, "OK 0 5");
    drop((t, k));
    broker.shutdown().await.expect("shutdown");

    // damage the lz4 batch's compressed section on disk, then fix its CRC up
    let path = dir.path().join("dmg-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&path).expect("segment");
    let (at, h) = batch::BatchIter::new(&bytes)
        .find(|(_, h)| h.base_offset == 2)
        .expect("the lz4 batch");
    let end = at + h.size().expect("size");
    for b in &mut bytes[at + batch::HEADER_SIZE..end] {
        *b = 0x5a;
    }
    let crc = batch::compute_crc(&bytes[at..end]);
    bytes[at + batch::CRC..at + batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, &bytes).expect("write the damage");

    let broker = rafka::BrokerBuilder::for_tests(dir.path())
        .start()
        .await
        .expect("restart");
    let mut t = Text::connect(broker.text_addr()).await;
    let reply = t.list("CONSUME dmg 0 0").await;
    assert_eq!(reply[..2], s(&["0 - a", "1 - b"]), "{reply:?}");
    assert_eq!(reply.len(), 3, "{reply:?}");
    assert!(
        reply[2].starts_with(
            "ERR CORRUPT_MESSAGE the batch at offsets 2-4 does not decode: corrupt record batch: lz4 decompression"
        ),
        "{reply:?}"
    );
    // a reply that is full before the bad batch ends as usual
    assert_eq!(
        t.list("CONSUME dmg 0 0 2").await,
        s(&["0 - a", "1 - b", "END 2"])
    );
    // from inside the bad batch: the ERR line alone
    let reply = t.list("CONSUME dmg 0 3").await;
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert!(reply[0].starts_with("ERR CORRUPT_MESSAGE the batch at offsets 2-4 "));
    // past it, the records after it
    assert_eq!(t.list("CONSUME dmg 0 5").await, s(&["5 - c", "END 6"]));
    assert_eq!(t.cmd("PRODUCE dmg - d").await, "OK 0 6", "still usable");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn missing_topics_are_auto_created_only_when_allowed() {
    let (broker, _dir) = start_broker_with(|c| c.num_partitions = 2).await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(
        t.cmd("PRODUCE fresh k1 v").await.split(' ').next(),
        Some("OK")
    );
    assert_eq!(t.list("TOPICS").await, s(&["fresh 2", "END"]));
    broker.shutdown().await.expect("shutdown");

    let (broker, _dir) = start_broker_with(|c| c.auto_create_topics = false).await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(
        t.cmd("PRODUCE fresh k1 v").await,
        "ERR UNKNOWN_TOPIC_OR_PARTITION unknown topic 'fresh'"
    );
    assert_eq!(t.list("TOPICS").await, s(&["END"]));
    broker.shutdown().await.expect("shutdown");
}

/// Keyed records land where the Java client's default partitioner puts them:
/// `toPositive(Utils.murmur2(key)) % 4`, values computed with kafka-clients 4.3.1.
#[tokio::test]
async fn keyed_produce_picks_the_java_partition() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE keyed 4").await, "OK");
    for (key, partition) in [
        ("key1", 0),
        ("hello", 1),
        ("ab", 2),
        ("abc", 3),
        ("foobar", 2),
        ("a-little-bit-longer-string", 3),
        ("21", 0),
    ] {
        let reply = t.cmd(&format!("PRODUCE keyed {key} v")).await;
        assert_eq!(
            reply.split(' ').nth(1),
            Some(&*partition.to_string()),
            "{key}: {reply}"
        );
    }
    // an escaped key is hashed as the bytes it stands for
    let reply = t.cmd("PRODUCE keyed a\\sb v").await;
    let p = rafka::text::partitioner::partition_for_key(b"a b", 4);
    assert_eq!(reply.split(' ').nth(1), Some(&*p.to_string()), "{reply}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unkeyed_records_go_round_robin_per_topic() {
    let (broker, _dir) = start_broker().await;
    let mut a = Text::connect(broker.text_addr()).await;
    let mut b = Text::connect(broker.text_addr()).await;
    assert_eq!(a.cmd("CREATE rr 3").await, "OK");
    assert_eq!(a.cmd("CREATE other 2").await, "OK");
    assert_eq!(a.cmd("PRODUCE rr - 1").await, "OK 0 0");
    assert_eq!(
        b.cmd("PRODUCE rr - 2").await,
        "OK 1 0",
        "shared across connections"
    );
    assert_eq!(
        a.cmd("PRODUCE other - x").await,
        "OK 0 0",
        "a counter per topic"
    );
    assert_eq!(a.cmd("PRODUCE rr - 3").await, "OK 2 0");
    assert_eq!(b.cmd("PRODUCE rr - 4").await, "OK 0 1");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn consume_escapes_keys_and_values() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE esc").await, "OK");
    // from the text side: keys take escapes, values are verbatim
    assert_eq!(t.cmd("PRODUCE esc \\- literal dash key").await, "OK 0 0");
    assert_eq!(t.cmd("PRODUCE esc a\\sb\\\\c back\\slash").await, "OK 0 1");
    assert_eq!(t.cmd("PRODUCE esc \\x00\\xff\\n v").await, "OK 0 2");
    // from the Kafka side: anything at all
    let mut k = Client::connect(broker.kafka_addr()).await;
    let mut tombstone = NewRecord::new(Some("gone"), "");
    tombstone.value = None;
    let recs = vec![
        NewRecord::new(Some(&b"-"[..]), &b"line1\nline2\r\n\ttabbed \\ end"[..]),
        NewRecord::new(Some(&b""[..]), &b"\xff\xfebinary \xc3( ok"[..]),
        NewRecord::new(None::<&[u8]>, "grüße ✓"),
        tombstone,
    ];
    let (code, base) = kafka_produce(&mut k, "esc", 0, Bytes::from(encode_batch(&recs, -1))).await;
    assert_eq!((code, base), (0, 3));
    assert_eq!(
        t.list("CONSUME esc 0 0").await,
        s(&[
            "0 \\- literal dash key",
            "1 a\\sb\\\\c back\\\\slash",
            "2 \\x00\\xff\\n v",
            "3 \\- line1\\nline2\\r\\n\\ttabbed \\\\ end",
            "4  \\xff\\xfebinary \\xc3( ok",
            "5 - grüße ✓",
            "6 gone",
            "END 7"
        ])
    );
    // what the text side wrote is stored as the bytes meant
    let rows = stored(&broker, "esc", 0);
    assert_eq!(rows[0].1.as_deref(), Some(&b"-"[..]));
    assert_eq!(rows[1].1.as_deref(), Some(&b"a b\\c"[..]));
    assert_eq!(rows[1].2.as_deref(), Some(&b"back\\slash"[..]));
    assert_eq!(rows[2].1.as_deref(), Some(&b"\x00\xff\n"[..]));
    broker.shutdown().await.expect("shutdown");
}

/// A text PRODUCE is an ordinary batch to Kafka clients: a Fetch long-polling at the log
/// end is woken by it and returns the record.
#[tokio::test]
async fn text_produce_is_visible_to_kafka_fetch() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE x").await, "OK");
    let mut consumer = Client::connect(broker.kafka_addr()).await;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name("x"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let start = std::time::Instant::now();
    let id = consumer.send(ApiKey::Fetch, 12, &fetch).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.cmd("PRODUCE x user-42 hello from text").await, "OK 0 0");
    let r: FetchResponse = consumer.recv(ApiKey::Fetch, 12, id).await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "woken by the append"
    );
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    let records = p.records.clone().expect("records");
    let (at, h) = batch::BatchIter::new(&records).next().expect("a batch");
    assert_eq!(h.partition_leader_epoch, 0);
    assert!(h.base_timestamp > 0, "CreateTime = now");
    let decoded = decode_batch(&records[at..at + h.size().expect("size")]).expect("decodes");
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].key.as_deref(), Some(&b"user-42"[..]));
    assert_eq!(decoded[0].value.as_deref(), Some(&b"hello from text"[..]));
    assert_eq!(stored(&broker, "x", 0).len(), 1);
    broker.shutdown().await.expect("shutdown");
}

/// What a Java producer with compression.type=lz4 writes is readable by CONSUME, also from
/// an offset in the middle of the compressed batch.
#[tokio::test]
async fn kafka_lz4_batch_is_shown_by_text_consume() {
    let (broker, _dir) = start_broker().await;
    let mut k = Client::connect(broker.kafka_addr()).await;
    broker
        .broker()
        .create_topic("zipped", 1, 1, Default::default(), false)
        .expect("topic");
    let now = rafka::log::now_ms();
    let recs: Vec<NewRecord> = (0..5)
        .map(|i| NewRecord::new(Some(format!("k{i}")), format!("compressed value {i}")).at(now))
        .collect();
    assert_eq!(
        kafka_produce(&mut k, "zipped", 0, lz4_batch(&recs)).await,
        (0, 0)
    );
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("PRODUCE zipped k9 plain after").await, "OK 0 5");
    assert_eq!(
        t.list("CONSUME zipped 0 2 3").await,
        s(&[
            "2 k2 compressed value 2",
            "3 k3 compressed value 3",
            "4 k4 compressed value 4",
            "END 5"
        ])
    );
    assert_eq!(
        t.list("CONSUME zipped 0 4").await,
        s(&["4 k4 compressed value 4", "5 k9 plain after", "END 6"])
    );
    broker.shutdown().await.expect("shutdown");
}

/// max caps at 10,000 records; END's offset is where the next CONSUME goes on.
#[tokio::test]
async fn consume_pages_with_end_offsets() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("many", 1, 1, Default::default(), false)
        .expect("topic");
    let log = broker.broker().topic("many").expect("t").partitions[0].clone();
    let recs: Vec<NewRecord> = (0..10_050)
        .map(|i| NewRecord::new(None::<&[u8]>, format!("{i}")).at(rafka::log::now_ms()))
        .collect();
    for chunk in recs.chunks(1000) {
        log.append(&encode_batch(chunk, -1), AppendOrigin::Client)
            .expect("append");
    }
    let mut t = Text::connect(broker.text_addr()).await;
    let page = t.list("CONSUME many 0 0 1000000").await;
    assert_eq!(page.len(), 10_001);
    assert_eq!(page[9_999], "9999 - 9999");
    assert_eq!(page[10_000], "END 10000");
    let page = t.list("CONSUME many 0 10000").await;
    assert_eq!(page.len(), 51);
    assert_eq!(page[50], "END 10050");
    let page = t.list("CONSUME many 0 10").await;
    assert_eq!(page.len(), 101, "default max 100");
    assert_eq!(page[100], "END 110");
    broker.shutdown().await.expect("shutdown");
}

/// Commands pipelined in one write are answered in order.
#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let (broker, _dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    t.send(b"CREATE p\nPRODUCE p - a\nBOGUS\nPRODUCE p - b\nOFFSETS p 0\nQUIT\nTOPICS\n")
        .await;
    let mut got = Vec::new();
    while let Some(l) = t.line().await {
        got.push(l);
    }
    assert_eq!(
        got,
        s(&[
            "OK",
            "OK 0 0",
            "ERR INVALID_REQUEST unknown command 'BOGUS' (try HELP)",
            "OK 0 1",
            "OFFSETS 0 2",
            "BYE"
        ]),
        "nothing after QUIT runs"
    );
    broker.shutdown().await.expect("shutdown");
}

/// Text connections count against max.connections with Kafka ones, and shutdown does not
/// wait for idle text connections.
#[tokio::test]
async fn text_connections_share_the_limit_and_shutdown() {
    let (broker, _dir) = start_broker_with(|c| c.max_connections = 1).await;
    let mut first = Text::connect(broker.text_addr()).await;
    assert_eq!(first.list("TOPICS").await, s(&["END"]));
    let mut second = Text::connect(broker.text_addr()).await;
    assert!(second.is_closed().await, "over max.connections");
    let mut kafka = Client::connect(broker.kafka_addr()).await;
    assert!(kafka.is_closed_by_broker().await, "the limit is shared");
    let start = std::time::Instant::now();
    broker.shutdown().await.expect("shutdown");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "idle text connection closed at once"
    );
    assert!(first.is_closed().await);
}

/// `OK <partition> <offset>` → (partition, offset).
fn parse_ok(reply: &str) -> (i32, i64) {
    let mut words = reply.split(' ');
    assert_eq!(words.next(), Some("OK"), "{reply}");
    let p = words
        .next()
        .and_then(|w| w.parse().ok())
        .expect("partition");
    let o = words.next().and_then(|w| w.parse().ok()).expect("offset");
    (p, o)
}

/// Text PRODUCE → a real librdkafka consumer sees each record (key, value, partition,
/// offset, CreateTime), and each keyed record is on the partition librdkafka's
/// Java-compatible partitioner (`murmur2_random`) picks for the same key: `nc` and Kafka
/// producers agree on where a key goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_produce_is_read_by_rdkafka_on_the_partition_its_partitioner_picks() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{ClientConfig, Message, Offset, Timestamp, TopicPartitionList};

    let (broker, _dir) = start_broker().await;
    let bootstrap = broker.kafka_addr().to_string();
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE cross 6").await, "OK");
    let keys = ["alice", "bob", "carol", "dave", "key1", "Payments", "été"];
    let before = rafka::log::now_ms();
    let mut sent = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let value = format!("value {i} from nc");
        let (p, o) = parse_ok(&t.cmd(&format!("PRODUCE cross {key} {value}")).await);
        sent.push((p, o, key.to_string(), value));
    }
    let partitions: std::collections::BTreeSet<i32> = sent.iter().map(|s| s.0).collect();
    assert!(
        partitions.len() >= 3,
        "keys spread over partitions: {partitions:?}"
    );

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (p, _, key, _) in &sent {
        let delivery = producer
            .send(
                FutureRecord::to("cross")
                    .key(key.as_str())
                    .payload("from rdkafka"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
        assert_eq!(
            delivery.partition, *p,
            "key {key}: rdkafka and the text side agree"
        );
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "text-cross")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..6 {
        tpl.add_partition_offset("cross", p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // every text record, then the rdkafka ones: 2 per key
        while seen.len() < 2 * keys.len() {
            assert!(std::time::Instant::now() < deadline, "only {seen:?}");
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("message");
                let ts = match m.timestamp() {
                    Timestamp::CreateTime(ts) => ts,
                    other => panic!("not CreateTime: {other:?}"),
                };
                seen.push((
                    m.partition(),
                    m.offset(),
                    String::from_utf8(m.key().expect("key").to_vec()).expect("utf8"),
                    String::from_utf8(m.payload().expect("value").to_vec()).expect("utf8"),
                    ts,
                ));
            }
        }
        seen
    })
    .await
    .expect("consumer thread");
    for (p, o, key, value) in &sent {
        let got = seen
            .iter()
            .find(|s| s.0 == *p && s.1 == *o)
            .unwrap_or_else(|| panic!("no record at {p}/{o} in {seen:?}"));
        assert_eq!((&got.2, &got.3), (key, value));
        assert!(got.4 >= before, "CreateTime = when it was produced");
    }
    broker.shutdown().await.expect("shutdown");
}

/// A real librdkafka producer with compression.type=lz4 → text CONSUME shows its records,
/// escaped as documented, from the compressed batches as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_lz4_producer_is_read_by_text_consume() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;

    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("lz", 1, 1, Default::default(), false)
        .expect("topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.kafka_addr().to_string())
        .set("compression.type", "lz4")
        .set("linger.ms", "100")
        .create()
        .expect("producer");
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| match i {
            3 => b"two\nlines".to_vec(),
            4 => b"not utf-8 \xff here".to_vec(),
            _ => format!("compressed value {i} {}", "padding ".repeat(8)).into_bytes(),
        })
        .collect();
    let keys: Vec<String> = (0..values.len())
        .map(|i| {
            if i == 5 {
                "a b".into()
            } else {
                format!("k{i}")
            }
        })
        .collect();
    // queued at once (send_result), so that librdkafka batches and compresses them
    let pending: Vec<_> = values
        .iter()
        .zip(&keys)
        .map(|(v, key)| {
            producer
                .send_result(FutureRecord::to("lz").partition(0).key(key).payload(v))
                .map_err(|(e, _)| e)
                .expect("queued")
        })
        .collect();
    for (i, f) in pending.into_iter().enumerate() {
        let delivery = f.await.expect("delivery report").expect("delivered");
        assert_eq!(delivery.offset, i as i64);
    }

    // the log holds what librdkafka sent: lz4 batches (compression bits 3) of many records
    let log = broker.broker().topic("lz").expect("t").partitions[0].clone();
    let data = log
        .read(0, 1 << 20, true, ReadBound::HighWatermark)
        .expect("read");
    let batches: Vec<(i16, i32)> = batch::BatchIter::new(&data.records)
        .map(|(_, h)| (h.attributes & 0x7, h.records_count))
        .collect();
    assert!(
        batches.iter().any(|&(codec, n)| codec == 3 && n > 1),
        "no lz4 batch of several records: {batches:?}"
    );

    let mut t = Text::connect(broker.text_addr()).await;
    let lines = t.list("CONSUME lz 0 0").await;
    assert_eq!(lines.len(), 21, "{lines:?}");
    assert_eq!(
        lines[0],
        format!("0 k0 compressed value 0 {}", "padding ".repeat(8))
    );
    assert_eq!(lines[3], "3 k3 two\\nlines");
    assert_eq!(lines[4], "4 k4 not utf-8 \\xff here");
    assert!(
        lines[5].starts_with("5 a\\sb compressed value 5 "),
        "{}",
        lines[5]
    );
    assert_eq!(lines[20], "END 20");
    // and from an offset inside a compressed batch
    let tail = t.list("CONSUME lz 0 18").await;
    assert_eq!(tail.len(), 3);
    assert!(tail[0].starts_with("18 k18 compressed value 18 "));
    broker.shutdown().await.expect("shutdown");
}

/// The text port cannot write into `__consumer_offsets`: a forged offset-commit record
/// (the exact key and value bytes Kafka's group coordinator writes) is refused with
/// INVALID_TOPIC_EXCEPTION, as the Kafka port refuses it, and after a restart (when the
/// coordinator replays the topic) the group's committed offset is still the real one.
/// Before the partition layer, this moved a group's offset from 70 to 5.
#[tokio::test]
async fn a_forged_commit_cannot_enter_the_offsets_topic() {
    use rafka::group::records::{offset_key, offset_value, OffsetValue};
    let (broker, dir) = start_broker().await;
    let mut t = Text::connect(broker.text_addr()).await;
    assert_eq!(t.cmd("CREATE orders").await, "OK");
    let mut c = Client::connect(broker.kafka_addr()).await;
    commit_orders_70(&mut c, "victims").await;

    let mut key = String::new();
    rafka::text::escape::push_key(&mut key, Some(&offset_key("victims", "orders", 0)));
    let mut value = String::new();
    rafka::text::escape::push_value(
        &mut value,
        &offset_value(&OffsetValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: rafka::log::now_ms(),
        }),
    );
    let reply = t
        .cmd(&format!("PRODUCE __consumer_offsets {key} {value}"))
        .await;
    assert!(
        reply.starts_with("ERR INVALID_TOPIC_EXCEPTION "),
        "refused: {reply}"
    );
    let offsets = broker
        .broker()
        .topic("__consumer_offsets")
        .expect("offsets topic");
    let ends: Vec<i64> = offsets
        .partitions
        .iter()
        .map(|p| p.log_end_offset())
        .collect();
    assert_eq!(
        ends.iter().sum::<i64>(),
        1,
        "only the real commit is stored"
    );

    broker.shutdown().await.expect("shutdown");
    let broker = rafka::BrokerBuilder::for_tests(dir.path())
        .start()
        .await
        .expect("restart");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("victims")))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name("orders"))
                .with_partition_indexes(vec![0]),
        ]));
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &fetch).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 70);
    broker.shutdown().await.expect("shutdown");
}

/// An internal topic is only ever made by its coordinator and only ever trimmed by it: a
/// text PRODUCE to `__consumer_offsets` on a fresh broker (no group yet) is refused without
/// leaving a one-partition topic behind that the coordinator would then adopt, and a
/// client's DeleteRecords on it is refused with INVALID_TOPIC_EXCEPTION, as Kafka's
/// `ReplicaManager` refuses it, so no committed offset is lost at the next replay.
#[tokio::test]
async fn internal_topics_are_made_and_trimmed_by_their_coordinator_only() {
    let (broker, _dir) = start_broker_with(|c| c.group.offsets_topic_num_partitions = 3).await;
    let mut t = Text::connect(broker.text_addr()).await;
    let reply = t.cmd("PRODUCE __consumer_offsets k forged").await;
    assert!(reply.starts_with("ERR INVALID_TOPIC_EXCEPTION "), "{reply}");
    let offsets = broker
        .broker()
        .topic("__consumer_offsets")
        .expect("made by the group coordinator");
    assert_eq!(offsets.partitions.len(), 3, "offsets.topic.num.partitions");
    assert_eq!(
        offsets.overrides.get("cleanup.policy").map(String::as_str),
        Some("compact"),
        "the coordinator's configs (compacted, as Kafka's), not a client topic's defaults"
    );
    assert!(offsets.partitions.iter().all(|p| p.log_end_offset() == 0));

    assert_eq!(t.cmd("CREATE orders").await, "OK");
    let mut c = Client::connect(broker.kafka_addr()).await;
    commit_orders_70(&mut c, "g").await;
    let delete = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
            .with_name(topic_name("__consumer_offsets"))
            .with_partitions(
                (0..3)
                    .map(|p| {
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(p)
                            .with_offset(-1)
                    })
                    .collect(),
            )]);
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &delete).await;
    for p in &r.topics[0].partitions {
        assert_eq!(p.error_code, 17, "partition {}", p.partition_index);
    }
    let ends: i64 = offsets
        .partitions
        .iter()
        .map(|p| p.log_start_offset())
        .sum();
    assert_eq!(ends, 0, "nothing was deleted");
    broker.shutdown().await.expect("shutdown");
}

/// A simple commit (generation -1, no member) of offset 70 on `orders-0` for `group`.
async fn commit_orders_70(c: &mut Client, group: &'static str) {
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name("orders"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(70),
                ]),
        ]);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}
