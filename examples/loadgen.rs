//! A light load generator on librdkafka (the `rdkafka` crate), used by hand and by
//! `bench/compare.sh`. Every mode is bounded in records and time, and prints one
//! `RESULT key=value ...` line for scripts (the legacy mode prints its old line).
//!
//! ```text
//! loadgen [--bootstrap A] [--records N] [--size B] [--partitions P] [--acks 1|all]
//!     legacy: produce N records as fast as possible, then consume them back.
//! loadgen produce --topic T [--create] [--rate R] [--e2e] [--idle-conns C] [--curve FILE]
//!         [--idempotence] [--set KEY=VALUE]... [--warmup]
//!     N records round-robin over P partitions, as fast as possible or at R records/s.
//!     --idempotence sets `enable.idempotence=true` (librdkafka then caps
//!     `max.in.flight.requests.per.connection` at 5); --set passes any other producer
//!     setting through (e.g. `--set max.in.flight.requests.per.connection=5`).
//!     --warmup produces one record (an extra one) and waits for its delivery before the
//!     clock starts, and reports that time as startup_ms: the producer's start-up (an
//!     idempotent librdkafka producer first waits for its producer id, 0.5-1 s) is then
//!     not part of the throughput.
//!     Produce latency is send() to delivery report (as Kafka's ProducerPerformance
//!     measures it); --e2e runs a consumer (assign(), no group) tailing the topic and
//!     measures produce timestamp (first 8 payload bytes) to receipt; --idle-conns opens
//!     C extra connections that each send one ApiVersions and then stay open and idle.
//! loadgen consume --topic T
//!     read N records from the beginning of P partitions with assign().
//! loadgen create --topic T
//! loadgen ready [--last T:PER_PARTITION] [--log FILE -- CMD ARGS...]
//!     with a command: spawn it (the broker) and time from the spawn. Wait until the
//!     broker answers a Metadata request listing a broker, then (--last) until the record
//!     at offset PER_PARTITION-1 of every partition of T can be fetched.
//!     Prints epoch nanoseconds of each event, so a caller that launched the broker
//!     itself can subtract its own start time.
//! ```
//!
//! cargo run --release --example loadgen -- --bootstrap 127.0.0.1:9092 --records 1000000 --size 1024

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

/// Upper bound on any single run, so a stuck broker cannot hang a benchmark.
const DEADLINE: Duration = Duration::from_secs(300);

struct Args {
    mode: String,
    bootstrap: String,
    topic: String,
    records: usize,
    size: usize,
    partitions: i32,
    acks: String,
    create: bool,
    rate: Option<f64>,
    e2e: bool,
    idle_conns: usize,
    curve: Option<String>,
    idempotence: bool,
    warmup: bool,
    /// Extra producer settings (`--set KEY=VALUE`).
    set: Vec<(String, String)>,
    last: Option<(String, i64)>,
    log: Option<String>,
    timeout: Duration,
    command: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        mode: "legacy".into(),
        bootstrap: "127.0.0.1:9092".into(),
        topic: format!("loadgen-{}", std::process::id()),
        records: 1_000_000,
        size: 1024,
        partitions: 4,
        acks: "1".into(),
        create: false,
        rate: None,
        e2e: false,
        idle_conns: 0,
        curve: None,
        idempotence: false,
        warmup: false,
        set: Vec::new(),
        last: None,
        log: None,
        timeout: Duration::from_secs(120),
        command: Vec::new(),
    };
    let mut it = std::env::args().skip(1).peekable();
    if let Some(m) = it.peek() {
        if !m.starts_with("--") {
            a.mode = it.next().unwrap_or_default();
        }
    }
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--create" => a.create = true,
            "--e2e" => a.e2e = true,
            "--idempotence" => a.idempotence = true,
            "--warmup" => a.warmup = true,
            "--" => {
                a.command = it.by_ref().collect();
                break;
            }
            _ => {
                let v = it.next().unwrap_or_default();
                match flag.as_str() {
                    "--bootstrap" => a.bootstrap = v,
                    "--topic" => a.topic = v,
                    "--records" => a.records = v.parse().expect("--records N"),
                    "--size" => a.size = v.parse().expect("--size BYTES"),
                    "--partitions" => a.partitions = v.parse().expect("--partitions N"),
                    "--acks" => a.acks = v,
                    "--rate" => a.rate = Some(v.parse().expect("--rate RECORDS_PER_S")),
                    "--idle-conns" => a.idle_conns = v.parse().expect("--idle-conns N"),
                    "--curve" => a.curve = Some(v),
                    "--set" => {
                        let (k, val) = v.split_once('=').expect("--set KEY=VALUE");
                        a.set.push((k.to_string(), val.to_string()));
                    }
                    "--log" => a.log = Some(v),
                    "--timeout-s" => {
                        a.timeout = Duration::from_secs(v.parse().expect("--timeout-s S"))
                    }
                    "--last" => {
                        let (t, n) = v.rsplit_once(':').expect("--last TOPIC:PER_PARTITION");
                        a.last = Some((t.to_string(), n.parse().expect("--last TOPIC:N")));
                    }
                    _ => panic!("unknown flag {flag}"),
                }
            }
        }
    }
    assert!(
        a.size >= 8,
        "--size must be at least 8 (the payload carries a timestamp)"
    );
    a
}

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn epoch_us() -> u64 {
    (epoch_ns() / 1000) as u64
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = args();
    match a.mode.as_str() {
        "legacy" => legacy(&a).await,
        "create" => create_topic(&a).await,
        "produce" => {
            if a.create {
                create_topic(&a).await?;
            }
            produce(&a)
        }
        "consume" => consume(&a),
        "ready" => ready(&a),
        m => bail!("unknown mode {m} (produce, consume, create, ready)"),
    }
}

async fn create_topic(a: &Args) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()
        .context("admin client")?;
    let topic = NewTopic::new(&a.topic, a.partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for r in admin.create_topics([&topic], &opts).await? {
        if let Err((t, e)) = r {
            bail!("create topic {t}: {e}");
        }
    }
    // CreateTopics answers before every partition has a leader on Kafka; wait for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()?;
    loop {
        let md = probe.fetch_metadata(Some(&a.topic), Duration::from_secs(10))?;
        let ready = md.topics().iter().any(|t| {
            t.error().is_none()
                && t.partitions().len() == a.partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("topic {} has no leaders after 60 s", a.topic);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Delivery reports: latency from send() (the opaque, microseconds since `start`).
struct Latencies {
    start: Instant,
    us: Mutex<Vec<u32>>,
    errors: AtomicU64,
}

impl ClientContext for Latencies {}

impl ProducerContext for Latencies {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: usize) {
        match result {
            Ok(_) => {
                let now = self.start.elapsed().as_micros() as usize;
                self.us.lock().push(now.saturating_sub(sent_us) as u32);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The value at percentile `p` (0..=100) of sorted samples, in milliseconds.
fn pct_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Percentiles written to the --curve file (HdrHistogram-style plot points).
const CURVE: &[f64] = &[
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 92.5, 95.0, 96.0, 97.0,
    98.0, 99.0, 99.5, 99.75, 99.9, 99.95, 99.99, 100.0,
];

fn produce(a: &Args) -> anyhow::Result<()> {
    let idle = open_idle_connections(&a.bootstrap, a.idle_conns)?;
    let e2e = a.e2e.then(|| start_tailer(a)).transpose()?;

    let ctx = Latencies {
        start: Instant::now(),
        us: Mutex::new(Vec::with_capacity(a.records)),
        errors: AtomicU64::new(0),
    };
    // librdkafka's defaults otherwise (linger.ms=5, batch.size=1000000, no idempotence).
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks);
    if a.idempotence {
        config.set("enable.idempotence", "true");
    }
    for (k, v) in &a.set {
        config.set(k, v);
    }
    let producer: BaseProducer<Latencies> = config.create_with_context(ctx).context("producer")?;
    let mut payload: Vec<u8> = (0..a.size).map(|i| (i % 251) as u8).collect();
    let deadline = Instant::now() + DEADLINE;
    let startup_ms = if a.warmup {
        let t = Instant::now();
        let record = BaseRecord::<(), [u8], usize>::with_opaque_to(&a.topic, 0)
            .partition(0)
            .payload(&payload[..]);
        producer
            .send(record)
            .map_err(|(e, _)| anyhow::anyhow!("warm-up record: {e}"))?;
        producer
            .flush(Duration::from_secs(60))
            .context("flush: the warm-up record was not acknowledged in 60 s")?;
        producer.context().us.lock().clear();
        if producer.context().errors.load(Ordering::Relaxed) > 0 {
            bail!("the warm-up record failed");
        }
        Some(t.elapsed().as_secs_f64() * 1e3)
    } else {
        None
    };
    let start = Instant::now();
    let mut i = 0usize;
    while i < a.records {
        // At a fixed rate, send whatever is due, then sleep in poll() (serving delivery
        // reports) for at most 1 ms: bursts of <= 1 ms, no busy loop stealing a core.
        let due = match a.rate {
            Some(r) => ((start.elapsed().as_secs_f64() * r) as usize + 1).min(a.records),
            None => a.records,
        };
        while i < due {
            payload[..8].copy_from_slice(&epoch_us().to_be_bytes());
            let sent_us = producer.context().start.elapsed().as_micros() as usize;
            let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(&a.topic, sent_us)
                .partition((i % a.partitions as usize) as i32)
                .payload(&payload[..]);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        if Instant::now() > deadline {
                            bail!("producer stuck at record {i}");
                        }
                        record = r;
                        producer.poll(Duration::from_millis(1));
                    }
                }
            }
            i += 1;
            if i.is_multiple_of(64) {
                producer.poll(Duration::ZERO);
            }
        }
        if a.rate.is_some() {
            producer.poll(Duration::from_millis(1));
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flush: not every record was acknowledged in 120 s")?;
    let secs = start.elapsed().as_secs_f64();
    let errors = producer.context().errors.load(Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *producer.context().us.lock());
    lat.sort_unstable();
    drop(producer);

    let e2e_lat = match e2e {
        Some(h) => {
            let mut v = h
                .join()
                .map_err(|_| anyhow::anyhow!("e2e consumer panicked"))??;
            v.sort_unstable();
            Some(v)
        }
        None => None,
    };
    let conns_ok = idle.len();
    drop(idle);

    let mb = (a.records * a.size) as f64 / 1e6;
    let mut line = format!(
        "RESULT mode=produce topic={} records={} size={} partitions={} acks={} idempotence={} rate={} secs={:.3} rec_s={:.0} mb_s={:.2} errors={} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        a.topic, a.records, a.size, a.partitions, a.acks, a.idempotence,
        a.rate.map_or("max".to_string(), |r| format!("{r:.0}")),
        secs, a.records as f64 / secs, mb / secs, errors,
        pct_ms(&lat, 50.0), pct_ms(&lat, 99.0), pct_ms(&lat, 99.9), pct_ms(&lat, 100.0),
    );
    if let Some(v) = &e2e_lat {
        line += &format!(
            " e2e_p50_ms={:.3} e2e_p99_ms={:.3} e2e_p999_ms={:.3} e2e_max_ms={:.3}",
            pct_ms(v, 50.0),
            pct_ms(v, 99.0),
            pct_ms(v, 99.9),
            pct_ms(v, 100.0)
        );
    }
    if let Some(ms) = startup_ms {
        line += &format!(" startup_ms={ms:.1}");
    }
    if a.idle_conns > 0 {
        line += &format!(" idle_conns={conns_ok}");
    }
    println!("{line}");
    if let Some(path) = &a.curve {
        let mut f = File::create(path).with_context(|| format!("create {path}"))?;
        writeln!(f, "# percentile produce_ms e2e_ms")?;
        for &p in CURVE {
            let e = e2e_lat.as_ref().map_or(f64::NAN, |v| pct_ms(v, p));
            writeln!(f, "{p} {:.3} {e:.3}", pct_ms(&lat, p))?;
        }
    }
    if errors > 0 {
        bail!("{errors} records failed");
    }
    Ok(())
}

fn assigned_consumer(
    a: &Args,
    offsets: &[(i32, Offset)],
    topic: &str,
) -> anyhow::Result<BaseConsumer> {
    // A group.id is needed by librdkafka's consumer, but assign() never joins the group
    // (Rafka has no consumer groups yet: issue #6).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("group.id", "loadgen")
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "100")
        .create()
        .context("consumer")?;
    let mut tpl = TopicPartitionList::new();
    for &(p, off) in offsets {
        tpl.add_partition_offset(topic, p, off)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// The --e2e consumer: tails the (fresh) topic from the beginning in its own thread and
/// returns produce-to-receipt latencies in microseconds.
fn start_tailer(a: &Args) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<Vec<u32>>>> {
    let offsets: Vec<_> = (0..a.partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(a, &offsets, &a.topic)?;
    // Let it connect and start fetching before the first record is sent.
    consumer.fetch_watermarks(&a.topic, 0, Duration::from_secs(10))?;
    let warm = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm {
        if let Some(m) = consumer.poll(Duration::from_millis(50)) {
            m?;
            bail!("topic {} is not empty: --e2e needs a fresh topic", a.topic);
        }
    }
    let records = a.records;
    Ok(std::thread::spawn(move || {
        let deadline = Instant::now() + DEADLINE;
        let mut lat = Vec::with_capacity(records);
        while lat.len() < records {
            if Instant::now() > deadline {
                bail!("e2e consumer stuck at {} of {records}", lat.len());
            }
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m?;
                let now = epoch_us();
                let sent = m.payload().and_then(|p| p.get(..8)).map_or(now, |b| {
                    u64::from_be_bytes(b.try_into().unwrap_or_default())
                });
                lat.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
            }
        }
        Ok(lat)
    }))
}

fn consume(a: &Args) -> anyhow::Result<()> {
    let offsets: Vec<_> = (0..a.partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(a, &offsets, &a.topic)?;
    let deadline = Instant::now() + DEADLINE;
    let start = Instant::now();
    let (mut seen, mut bytes) = (0usize, 0usize);
    while seen < a.records {
        if Instant::now() > deadline {
            bail!("consumer stuck at {seen}");
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            bytes += m?.payload_len();
            seen += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT mode=consume topic={} records={seen} bytes={bytes} secs={secs:.3} rec_s={:.0} mb_s={:.2}",
        a.topic,
        seen as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}

/// One request/response on a raw connection, with kafka-protocol's message types.
fn kafka_call<R: Request>(
    s: &mut TcpStream,
    req: &R,
    version: i16,
    correlation_id: i32,
) -> anyhow::Result<R::Response> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("loadgen")));
    let mut body = BytesMut::new();
    header.encode(&mut body, R::header_version(version))?;
    req.encode(&mut body, version)?;
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(4..=64 << 20).contains(&len) {
        bail!("bad response size {len}");
    }
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf)?;
    let mut buf = Bytes::from(buf);
    let h = ResponseHeader::decode(&mut buf, R::Response::header_version(version))?;
    if h.correlation_id != correlation_id {
        bail!("correlation id {} != {correlation_id}", h.correlation_id);
    }
    R::Response::decode(&mut buf, version)
}

fn connect(bootstrap: &str, timeout: Duration) -> anyhow::Result<TcpStream> {
    let addr: SocketAddr = bootstrap.parse().context("--bootstrap must be IP:PORT")?;
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Connections that each complete one ApiVersions exchange and then stay idle.
fn open_idle_connections(bootstrap: &str, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("loadgen-idle"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = connect(bootstrap, Duration::from_secs(5))
            .with_context(|| format!("idle connection {i}"))?;
        let r = kafka_call(&mut s, &req, 3, 1)
            .with_context(|| format!("ApiVersions on idle connection {i}"))?;
        if r.error_code != 0 {
            bail!("ApiVersions error {} on idle connection {i}", r.error_code);
        }
        conns.push(s);
    }
    Ok(conns)
}

/// True if the broker answers a Metadata request (v12, no topics) listing a broker.
fn metadata_ok(bootstrap: &str) -> bool {
    let Ok(mut s) = connect(bootstrap, Duration::from_millis(200)) else {
        return false;
    };
    let req = MetadataRequest::default().with_topics(Some(Vec::new()));
    matches!(kafka_call(&mut s, &req, 12, 7), Ok(r) if !r.brokers.is_empty())
}

fn ready(a: &Args) -> anyhow::Result<()> {
    let spawned_ns = epoch_ns();
    let t0 = Instant::now();
    let child = if a.command.is_empty() {
        None
    } else {
        let (out, err) = match &a.log {
            Some(p) => {
                let f = File::create(p).with_context(|| format!("create {p}"))?;
                (Stdio::from(f.try_clone()?), Stdio::from(f))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let c = Command::new(&a.command[0])
            .args(&a.command[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawn {}", a.command[0]))?;
        // The caller stops the broker by this pid, so print it before anything can fail.
        println!("PID {}", c.id());
        std::io::stdout().flush()?;
        Some(c)
    };
    let deadline = t0 + a.timeout;
    while !metadata_ok(&a.bootstrap) {
        if Instant::now() > deadline {
            bail!(
                "no Metadata answer from {} within {:?}",
                a.bootstrap,
                a.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let metadata_ns = epoch_ns();
    let metadata_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut line =
        format!("RESULT mode=ready metadata_ns={metadata_ns} metadata_ms={metadata_ms:.1}");
    if child.is_some() {
        line += &format!(" spawned_ns={spawned_ns}");
    }
    if let Some((topic, per_partition)) = &a.last {
        let offsets: Vec<_> = (0..a.partitions)
            .map(|p| (p, Offset::Offset(per_partition - 1)))
            .collect();
        let consumer = assigned_consumer(a, &offsets, topic)?;
        let mut got = vec![false; a.partitions as usize];
        while got.iter().any(|g| !g) {
            if Instant::now() > deadline {
                bail!("last records of {topic} not fetched within {:?}", a.timeout);
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(20)) {
                if m.offset() == per_partition - 1 {
                    got[m.partition() as usize] = true;
                }
            }
        }
        line += &format!(
            " last_record_ns={} last_record_ms={:.1}",
            epoch_ns(),
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    println!("{line}");
    Ok(())
}

/// The original mode (docs/perf.md's wire-server figures): produce, then consume back.
async fn legacy(a: &Args) -> anyhow::Result<()> {
    create_topic(a).await?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .context("producer")?;
    let payload: Vec<u8> = (0..a.size).map(|i| (i % 251) as u8).collect();
    let deadline = Instant::now() + DEADLINE;
    let start = Instant::now();
    for i in 0..a.records {
        let key = (i as u64).to_be_bytes();
        let mut record = BaseRecord::to(&a.topic).key(&key[..]).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    if Instant::now() > deadline {
                        bail!("producer stuck");
                    }
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120)).context("flush")?;
    let produce = start.elapsed().as_secs_f64();

    let offsets: Vec<_> = (0..a.partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(a, &offsets, &a.topic)?;
    let start = Instant::now();
    let mut seen = 0;
    while seen < a.records {
        if Instant::now() > deadline {
            bail!("consumer stuck at {seen}");
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m?;
            seen += 1;
        }
    }
    let consume = start.elapsed().as_secs_f64();
    let mb = (a.records * a.size) as f64 / 1e6;
    println!(
        "records={} size={} partitions={} acks={} produce: {:.0} records/s {:.1} MB/s ({:.2} s) consume: {:.0} records/s {:.1} MB/s ({:.2} s)",
        a.records,
        a.size,
        a.partitions,
        a.acks,
        a.records as f64 / produce,
        mb / produce,
        produce,
        a.records as f64 / consume,
        mb / consume,
        consume
    );
    Ok(())
}
