//! The idempotent producer over the wire: InitProducerId, duplicate and out-of-order
//! batches in raw Produce requests, and librdkafka's idempotent producer sending 100k
//! numbered records through a TCP proxy of this test's own that cuts connections at random
//! byte counts (mid-request and mid-response), once against an in-process broker and once
//! against a `rafka` process that is killed (SIGKILL) and restarted half-way. Each number
//! must be read back exactly once, in order within its partition.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::log::batch;
use rafka::log::records::{encode_batch, NewRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use support::{start_broker, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 4;

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.into()))
}

fn produce(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records)),
            ])])
}

fn idempotent_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let recs: Vec<NewRecord> = (0..n)
        .map(|i| {
            NewRecord::new(None::<Vec<u8>>, format!("s{}", seq + i as i32)).at(rafka::log::now_ms())
        })
        .collect();
    let mut b = encode_batch(&recs, -1);
    batch::set_producer(&mut b, pid, epoch, seq);
    Bytes::from(b)
}

/// One raw Produce of `b` to partition 0 of `idem`: (error code, base offset).
async fn send(c: &mut Client, b: Bytes) -> (i16, i64) {
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce("idem", b)).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test]
async fn init_producer_id_and_sequence_checks_over_the_wire() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("idem", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let mut pids = Vec::new();
    for version in 0..=5 {
        let r: InitProducerIdResponse = c
            .call(
                ApiKey::InitProducerId,
                version,
                &InitProducerIdRequest::default()
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        assert_eq!(r.error_code, 0, "v{version}");
        assert_eq!(r.producer_epoch, 0);
        pids.push(r.producer_id.0);
    }
    let mut unique = pids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        pids.len(),
        "every call gets a new id: {pids:?}"
    );

    let pid = pids[0];
    assert_eq!(send(&mut c, idempotent_batch(pid, 0, 0, 2)).await, (0, 0));
    assert_eq!(send(&mut c, idempotent_batch(pid, 0, 2, 2)).await, (0, 2));
    // a retry: success, the original offset
    assert_eq!(send(&mut c, idempotent_batch(pid, 0, 0, 2)).await, (0, 0));
    // a gap: OUT_OF_ORDER_SEQUENCE_NUMBER
    assert_eq!(send(&mut c, idempotent_batch(pid, 0, 9, 1)).await.0, 45);
    // a newer epoch at 0 is accepted, then the old epoch is fenced: INVALID_PRODUCER_EPOCH
    assert_eq!(send(&mut c, idempotent_batch(pid, 1, 0, 1)).await, (0, 4));
    assert_eq!(send(&mut c, idempotent_batch(pid, 0, 4, 1)).await.0, 47);

    // transactional ids: the epoch is bumped on every init, fencing the older instance
    let tx = |pid: i64, epoch: i16| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    };
    let a: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &tx(-1, -1)).await;
    let b: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &tx(-1, -1)).await;
    assert_eq!((a.error_code, b.error_code), (0, 0));
    assert_eq!(a.producer_id, b.producer_id);
    assert_eq!(b.producer_epoch, a.producer_epoch + 1);
    let fenced: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &tx(a.producer_id.0, a.producer_epoch),
        )
        .await;
    assert_eq!(fenced.error_code, 90, "PRODUCER_FENCED");
    let old: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            3,
            &tx(a.producer_id.0, a.producer_epoch),
        )
        .await;
    assert_eq!(old.error_code, 47, "INVALID_PRODUCER_EPOCH before v4");
    let bad_timeout: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &tx(-1, -1).with_transaction_timeout_ms(0),
        )
        .await;
    assert_eq!(bad_timeout.error_code, 50, "INVALID_TRANSACTION_TIMEOUT");
    broker.shutdown().await.expect("shutdown");
}

/// A TCP proxy that forwards to `target` and cuts each new connection after a random
/// number of bytes (both directions together), until it has cut `max_cuts` connections.
struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    cuts: Arc<AtomicUsize>,
    max_cuts: Arc<AtomicUsize>,
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl Proxy {
    async fn start(max_cuts: usize, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let target = Arc::new(Mutex::new(addr));
        let cuts = Arc::new(AtomicUsize::new(0));
        let max_cuts = Arc::new(AtomicUsize::new(max_cuts));
        let (t, cuts2, max2) = (
            Arc::clone(&target),
            Arc::clone(&cuts),
            Arc::clone(&max_cuts),
        );
        tokio::spawn(async move {
            let mut rng = seed | 1;
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let to = *t.lock().expect("target");
                let budget = (cuts2.load(Ordering::SeqCst) < max2.load(Ordering::SeqCst))
                    .then(|| 512 + (xorshift(&mut rng) % (192 * 1024)) as usize);
                let cuts = Arc::clone(&cuts2);
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(to).await else {
                        return; // the broker is down: the client sees a closed connection
                    };
                    let used = AtomicUsize::new(0);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = upstream.into_split();
                    let cut = tokio::select! {
                        c = pump(&mut cr, &mut uw, &used, budget) => c,
                        c = pump(&mut ur, &mut cw, &used, budget) => c,
                    };
                    if cut {
                        cuts.fetch_add(1, Ordering::SeqCst);
                    }
                    // dropping the halves closes both connections
                });
            }
        });
        Proxy {
            addr,
            target,
            cuts,
            max_cuts,
        }
    }

    /// New connections are no longer cut.
    fn stop_cutting(&self) {
        self.max_cuts.store(0, Ordering::SeqCst);
    }

    fn point_at(&self, broker: SocketAddr) {
        *self.target.lock().expect("target") = broker;
    }
}

/// Copies until EOF (false) or until the shared byte budget runs out (true: cut, having
/// forwarded only the bytes within the budget, so frames are cut anywhere).
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    used: &AtomicUsize,
    budget: Option<usize>,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let before = used.fetch_add(n, Ordering::SeqCst);
        let allowed = budget.map_or(n, |b| b.saturating_sub(before).min(n));
        if allowed > 0 && to.write_all(&buf[..allowed]).await.is_err() {
            return false;
        }
        if allowed < n {
            return true;
        }
    }
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("batch.num.messages", "200")
        .set("message.timeout.ms", "120000")
        .set("request.timeout.ms", "5000")
        .set("retry.backoff.ms", "20")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .set("queue.buffering.max.messages", "200000")
        .create()
        .expect("producer")
}

/// Sends `range` (record i to partition i % PARTITIONS, value i) and waits for every
/// delivery report; each must succeed.
async fn send_numbers(p: &FutureProducer, topic: &str, range: std::ops::Range<usize>) {
    send_counting(p, topic, range, &AtomicUsize::new(0)).await;
}

/// [`send_numbers`], counting delivery reports in `delivered` as they arrive.
async fn send_counting(
    p: &FutureProducer,
    topic: &str,
    range: std::ops::Range<usize>,
    delivered: &AtomicUsize,
) {
    let mut pending = Vec::with_capacity(range.len());
    for i in range {
        let value = i.to_string();
        let record = FutureRecord::<(), _>::to(topic)
            .payload(&value)
            .partition((i % PARTITIONS as usize) as i32);
        pending.push((i, p.send_result(record).expect("queued")));
    }
    for (i, f) in pending {
        let report = tokio::time::timeout(Duration::from_secs(150), f)
            .await
            .expect("delivery report in time")
            .expect("delivery future");
        if let Err((e, _)) = report {
            panic!("record {i} failed: {e}");
        }
        delivered.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads every partition to its end and checks that partition p holds exactly
/// p, p + 4, p + 8, … below RECORDS, in that order.
fn check_exactly_once(bootstrap: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused-with-assign")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen: HashMap<i32, Vec<usize>> = HashMap::new();
    let mut at_end = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while at_end < PARTITIONS {
        assert!(Instant::now() < deadline, "consumer stuck");
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => at_end += 1,
            // transient: librdkafka reconnects by itself
            Some(Err(e)) => eprintln!("consumer: {e}"),
            Some(Ok(m)) => {
                let n: usize = std::str::from_utf8(m.payload().expect("payload"))
                    .expect("utf8")
                    .parse()
                    .expect("a number");
                seen.entry(m.partition()).or_default().push(n);
            }
        }
    }
    let mut total = 0;
    for p in 0..PARTITIONS {
        let got = seen.remove(&p).unwrap_or_default();
        let want: Vec<usize> = (p as usize..RECORDS).step_by(PARTITIONS as usize).collect();
        if got != want {
            let dup = got.len() as i64 - want.len() as i64;
            let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "partition {p}: {} records, {} expected ({dup:+}); first difference at index {first_diff:?}",
                got.len(),
                want.len()
            );
        }
        total += got.len();
    }
    assert_eq!(total, RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_neither_duplicate_nor_reorder_records() {
    let proxy = Proxy::start(25, 0x5EED_1234_ABCD_0001).await;
    let proxy_addr = proxy.addr;
    let (broker, _dir) = support::start_broker_with(|c| {
        c.listeners[0].advertised = ("127.0.0.1".into(), proxy_addr.port());
    })
    .await;
    proxy.point_at(broker.kafka_addr());
    broker
        .broker()
        .create_topic("numbers", PARTITIONS, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = proxy.addr.to_string();
    let p = producer(&bootstrap);
    send_numbers(&p, "numbers", 0..RECORDS).await;
    proxy.stop_cutting();
    let cuts = proxy.cuts.load(Ordering::SeqCst);
    assert!(cuts >= 10, "the proxy cut only {cuts} connections");
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || check_exactly_once(&b, "numbers"))
        .await
        .expect("consumer thread");
    eprintln!("{cuts} connections cut; {RECORDS} records exactly once");
    broker.shutdown().await.expect("shutdown");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn spawn_rafka(dir: &std::path::Path, port: u16, advertised: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rafka"))
        .args([
            "serve",
            "--listener",
            &format!("127.0.0.1:{port}"),
            "--text-listener",
            "127.0.0.1:0",
            "--advertised-listener",
            &advertised.to_string(),
            "--data-dir",
        ])
        .arg(dir)
        .args(["-o", "num.partitions=4"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rafka")
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "rafka did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_broker_keeps_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = Proxy::start(15, 0x5EED_1234_ABCD_0002).await;
    let port = free_port();
    let broker_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    proxy.point_at(broker_addr);
    let mut child = spawn_rafka(dir.path(), port, proxy.addr);
    wait_for_port(port).await;
    let bootstrap = proxy.addr.to_string();
    let p = producer(&bootstrap);
    // first half, then kill -9 once the second half is partly acknowledged, then restart
    send_numbers(&p, "restart", 0..RECORDS / 2).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let second = {
        let (p, delivered) = (p.clone(), Arc::clone(&delivered));
        tokio::spawn(
            async move { send_counting(&p, "restart", RECORDS / 2..RECORDS, &delivered).await },
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(Ordering::SeqCst) < 1_000 {
        assert!(
            Instant::now() < deadline,
            "the second half does not get going"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().expect("SIGKILL");
    let at_kill = delivered.load(Ordering::SeqCst);
    assert!(
        at_kill < RECORDS / 2,
        "the kill came after the whole second half was acknowledged"
    );
    child.wait().expect("reap");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut child = spawn_rafka(dir.path(), port, proxy.addr);
    wait_for_port(port).await;
    second.await.expect("second half delivered");
    proxy.stop_cutting();
    let cuts = proxy.cuts.load(Ordering::SeqCst);
    assert!(cuts >= 5, "the proxy cut only {cuts} connections");
    eprintln!("{cuts} connections cut; killed with {at_kill} of the second half acknowledged");
    let b = bootstrap.clone();
    let checked = tokio::task::spawn_blocking(move || check_exactly_once(&b, "restart")).await;
    child.kill().expect("stop rafka");
    child.wait().expect("reap");
    checked.expect("exactly once after a restart");
}
