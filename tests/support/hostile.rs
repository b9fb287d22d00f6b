//! Hostile clients of issue #13 (items 1-3) and a well-behaved producer and consumer, for
//! `tests/hostile_clients.rs` and `examples/hostile.rs` (both include this file by path).
//! Every loop here is bounded in count and time; every socket goes to 127.0.0.1.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// One request frame, size prefix included.
pub fn frame<Req: Encodable>(api: ApiKey, version: i16, correlation_id: i32, body: &Req) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("hostile")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .expect("header encodes");
    body.encode(&mut buf, version).expect("body encodes");
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

/// A Fetch (v12) of partition 0 of `topic` from offset 0.
pub fn fetch(topic: &str, max_wait_ms: i32, min_bytes: i32, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(max_bytes)])])
}

/// A fetch that waits as long as a client may ask (`i32::MAX` ms, 24.8 days) for data
/// that never comes (min_bytes above what the partition holds).
pub fn parked_fetch(topic: &str) -> Bytes {
    frame(
        ApiKey::Fetch,
        12,
        1,
        &fetch(topic, i32::MAX, i32::MAX, 1 << 20),
    )
}

/// A TCP connection to `to` from the address `from` (any 127.x.y.z is loopback on
/// Linux, so a test can be two clients). `recv_buffer`: SO_RCVBUF, if set.
pub async fn connect_from(
    from: IpAddr,
    to: SocketAddr,
    recv_buffer: Option<u32>,
) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(to).await
}

/// True if the broker closes `stream` (EOF or reset) within `within`.
pub async fn closed_by_broker(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response: keep reading
            Err(_) => return false,
        }
    }
}

/// Appends `total` bytes of one-record batches (values of `value_len` bytes) to
/// partition 0 of `topic` with raw Produce requests (acks=1): small batches are what a
/// fetch reads into memory rather than sending from the file.
pub async fn fill_small_batches(kafka: SocketAddr, topic: &str, total: usize, value_len: usize) {
    let mut stream = TcpStream::connect(kafka).await.expect("connect");
    let value = vec![b'x'; value_len];
    let batch = Bytes::from(rafka::log::records::encode_batch(
        &[rafka::log::records::NewRecord::new(None::<&[u8]>, &value[..]).at(rafka::log::now_ms())],
        -1,
    ));
    let per_request = (256 * 1024 / batch.len()).max(1);
    let mut records = BytesMut::new();
    for _ in 0..per_request {
        records.extend_from_slice(&batch);
    }
    let records = records.freeze();
    let requests = total / records.len() + 1;
    for i in 0..requests {
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records.clone()))])]);
        let f = frame(ApiKey::Produce, 9, i as i32, &produce);
        stream.write_all(&f).await.expect("produce");
        let size = stream.read_i32().await.expect("produce response");
        let mut body = vec![0u8; size as usize];
        stream
            .read_exact(&mut body)
            .await
            .expect("produce response");
    }
}

/// What the attack did, for the report.
#[derive(Debug, Default)]
pub struct AttackStats {
    /// Long-poll fetches sent and then abandoned (item 1).
    pub parked_fetches: u64,
    /// Fetches pipelined on connections that never read (item 2).
    pub unread_fetches: u64,
    /// Connections opened to sit idle or trickle a request (item 3), and how many of them
    /// the broker refused or closed.
    pub idle_opened: u64,
    pub idle_closed: u64,
}

/// The hostile clients, running until [`Attack::stop`].
pub struct Attack {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<()>,
    parked: Arc<AtomicU64>,
    unread: Arc<AtomicU64>,
    idle_opened: Arc<AtomicU64>,
    idle_closed: Arc<AtomicU64>,
}

impl Attack {
    /// Starts every attack against the Kafka port `kafka` and the text port `text`:
    /// waves of 10 long-poll fetches of `empty_topic` whose clients leave (item 1); 3
    /// connections that pipeline fetches of `bulk_topic` (full of small batches) and read
    /// nothing (item 2); waves of 50 idle sockets on both ports and requests trickled a
    /// byte every 200 ms (item 3). The unread connections come from `unread_from`, the
    /// rest from `from`: each address has its own `max.connections.per.ip`, so the idle
    /// waves cannot take the unread connections' places and leave that attack untried.
    pub fn start(
        from: IpAddr,
        unread_from: IpAddr,
        kafka: SocketAddr,
        text: SocketAddr,
        bulk_topic: &str,
        empty_topic: &str,
    ) -> Attack {
        let a = Attack {
            stop: Arc::new(AtomicBool::new(false)),
            tasks: JoinSet::new(),
            parked: Arc::default(),
            unread: Arc::default(),
            idle_opened: Arc::default(),
            idle_closed: Arc::default(),
        };
        let mut a = a;
        // 1: parked fetches, then the client vanishes
        {
            let (stop, parked) = (Arc::clone(&a.stop), Arc::clone(&a.parked));
            let topic = empty_topic.to_string();
            a.tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let mut wave = Vec::new();
                    for _ in 0..10 {
                        if let Ok(mut s) = connect_from(from, kafka, None).await {
                            if s.write_all(&parked_fetch(&topic)).await.is_ok() {
                                parked.fetch_add(1, Ordering::Relaxed);
                            }
                            wave.push(s);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(wave);
                }
            });
        }
        // 2: pipelined fetches whose responses are never read
        for _ in 0..3 {
            let (stop, unread) = (Arc::clone(&a.stop), Arc::clone(&a.unread));
            let topic = bulk_topic.to_string();
            a.tasks.spawn(async move {
                let Ok(mut s) = connect_from(unread_from, kafka, Some(4096)).await else {
                    return;
                };
                let req = fetch(&topic, 0, 1, 64 << 20);
                for i in 0..64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let f = frame(ApiKey::Fetch, 12, i, &req);
                    // the broker stops reading once it is muted: a write that cannot
                    // finish is given up after a while
                    match tokio::time::timeout(Duration::from_secs(2), s.write_all(&f)).await {
                        Ok(Ok(())) => {
                            unread.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        // 3: idle sockets on both ports, and requests trickled a byte at a time
        {
            let stop = Arc::clone(&a.stop);
            let (opened, closed) = (Arc::clone(&a.idle_opened), Arc::clone(&a.idle_closed));
            a.tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let mut idle = JoinSet::new();
                    for i in 0..50 {
                        let to = if i % 2 == 0 { kafka } else { text };
                        let (stop, opened, closed) =
                            (Arc::clone(&stop), Arc::clone(&opened), Arc::clone(&closed));
                        idle.spawn(async move {
                            let Ok(mut s) = connect_from(from, to, None).await else {
                                return;
                            };
                            opened.fetch_add(1, Ordering::Relaxed);
                            // every fifth one trickles a request a byte per 200 ms
                            let trickle: &[u8] = if i % 5 == 0 {
                                if to == kafka {
                                    &[0, 0, 0, 40, 0, 18, 0, 0]
                                } else {
                                    b"TOPICS"
                                }
                            } else {
                                &[]
                            };
                            let mut sent = 0;
                            for _ in 0..150 {
                                if stop.load(Ordering::Relaxed) {
                                    return;
                                }
                                if let Some(b) = trickle.get(sent) {
                                    if s.write_all(&[*b]).await.is_err() {
                                        closed.fetch_add(1, Ordering::Relaxed);
                                        return;
                                    }
                                    sent += 1;
                                }
                                if closed_by_broker(&mut s, Duration::from_millis(200)).await {
                                    closed.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            }
                        });
                    }
                    while idle.join_next().await.is_some() {}
                }
            });
        }
        a
    }

    /// Stops every hostile client and closes their sockets.
    pub async fn stop(mut self) -> AttackStats {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, self.tasks.join_next()).await {}
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        AttackStats {
            parked_fetches: self.parked.load(Ordering::Relaxed),
            unread_fetches: self.unread.load(Ordering::Relaxed),
            idle_opened: self.idle_opened.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
        }
    }
}

/// What the well-behaved clients saw.
#[derive(Debug, Default)]
pub struct GoodRun {
    pub produced: usize,
    pub consumed: usize,
    /// Produce timestamp (in the payload) to receipt by the consumer, per record, sorted.
    pub e2e_ms: Vec<f64>,
}

impl GoodRun {
    /// The `q` quantile (0..=1) of the end-to-end latencies, in ms.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.e2e_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.e2e_ms.len() - 1) as f64 * q).round() as usize;
        self.e2e_ms[i.min(self.e2e_ms.len() - 1)]
    }
}

/// A librdkafka producer (acks=all) sending `records` records to partition 0 of `topic`
/// at about `rate` per second, and a consumer (assign, no group) reading them back,
/// from the machine's own address 127.0.0.1, after one warm-up record has gone through.
/// Blocking: run it on a thread. Gives up `timeout` after it started.
pub fn good_clients(
    bootstrap: SocketAddr,
    topic: &str,
    records: usize,
    rate: u32,
    timeout: Duration,
) -> GoodRun {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Offset, TopicPartitionList};

    let start = Instant::now();
    let epoch = std::time::SystemTime::now();
    let now_us = move || epoch.elapsed().map_or(0, |d| d.as_micros() as u64);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap.to_string())
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap.to_string())
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    // warm up: both clients connected and the consumer fetching before the clock starts
    let _ = producer.send(
        BaseRecord::to(topic)
            .partition(0)
            .key("warmup")
            .payload("warmup"),
    );
    let mut warm = false;
    while !warm && start.elapsed() < timeout {
        producer.poll(Duration::ZERO);
        warm = matches!(consumer.poll(Duration::from_millis(10)), Some(Ok(_)));
    }
    let mut run = GoodRun::default();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut next_send = Instant::now();
    while run.consumed < records && start.elapsed() < timeout {
        if run.produced < records && Instant::now() >= next_send {
            let payload = now_us().to_be_bytes();
            let key = run.produced.to_string();
            if producer
                .send(
                    BaseRecord::to(topic)
                        .partition(0)
                        .key(&key)
                        .payload(&payload[..]),
                )
                .is_ok()
            {
                run.produced += 1;
                next_send += interval;
            }
        }
        producer.poll(Duration::ZERO);
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(1)) {
            if let Some(p) = m.payload().and_then(|p| <[u8; 8]>::try_from(p).ok()) {
                let sent = u64::from_be_bytes(p);
                run.e2e_ms
                    .push(now_us().saturating_sub(sent) as f64 / 1000.0);
                run.consumed += 1;
            }
        }
    }
    let _ = producer.flush(Duration::from_secs(5));
    run.e2e_ms.sort_by(f64::total_cmp);
    run
}

/// The broker process's resident memory now and at its peak (`VmRSS`, `VmHWM` of
/// /proc/PID/status), in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A `rafka serve` child process on ephemeral loopback ports.
pub struct BrokerProcess {
    pub child: std::process::Child,
    pub kafka: SocketAddr,
    pub text: SocketAddr,
}

impl BrokerProcess {
    /// Starts `bin serve` with `args` on 127.0.0.1:0 (both ports) and a data dir, and
    /// waits (at most 60 s) for it to print its addresses.
    pub fn start(
        bin: &std::path::Path,
        data_dir: &std::path::Path,
        args: &[&str],
    ) -> BrokerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(bin)
            .arg("serve")
            .args([
                "--listener",
                "127.0.0.1:0",
                "--text-listener",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("broker starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut kafka, mut text) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while kafka.is_none() || text.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the broker prints its addresses");
            if let Some(a) = line.strip_prefix("Kafka listener: ") {
                kafka = a.trim().parse().ok();
            } else if let Some(a) = line.strip_prefix("text listener: ") {
                text = a.trim().parse().ok();
            }
        }
        BrokerProcess {
            child,
            kafka: kafka.expect("kafka address"),
            text: text.expect("text address"),
        }
    }

    pub fn rss_kib(&self) -> Option<(u64, u64)> {
        rss_kib(self.child.id())
    }

    /// SIGTERM (through `kill`), then waits at most 60 s for it to exit.
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
