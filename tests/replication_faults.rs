//! The replication fault suite, in the manner of Jepsen's Kafka and Redpanda analyses:
//! three `rafka serve` processes (combined broker and controller nodes), a topic with
//! replication factor 3 and `min.insync.replicas=2`, an idempotent acks=all producer per
//! partition, and for a number of rounds one fault at a time, chosen from a seeded shuffle:
//!
//! - kill -9 of a partition leader (restarted after a while);
//! - SIGSTOP / SIGCONT of a partition leader (paused past its session timeout);
//! - a network partition isolating a partition leader (each node runs in a network
//!   namespace this test creates, joined by a bridge; the leader's link goes down);
//! - a restart of every node at once (kill -9 of all three, then start);
//! - a follower's partition data wiped (killed, its topic dirs removed, restarted).
//!
//! After every round the cluster settles (every partition's ISR whole again). Then the
//! checker verifies that every acknowledged record is read exactly once, at the offset it
//! was acknowledged at, in order; that the three replicas' logs are byte-identical; that a
//! consumer group's committed offset survived; and it reports the unavailability windows
//! (gaps of more than a second between acknowledgements).
//!
//! Network namespaces need root (CI runs as root); without them the nodes bind 127.0.0.1
//! ports and the partition fault is replaced by a kill -9, which the output says.
//!
//! Bounded by default (5 rounds, every fault once). The long form is a documented command
//! (docs/replication.md): `FAULT_ROUNDS=50 FAULT_SEED=7 cargo test --release --test
//! replication_faults -- --nocapture`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const BIN: &str = env!("CARGO_BIN_EXE_rafka");
const TOPIC: &str = "faults";
const PARTITIONS: i32 = 3;
const GROUP: &str = "fault-group";

/// A small seeded generator (SplitMix64): the same seed, the same schedule.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Three network namespaces joined by a bridge in this namespace: node `i` is
/// `10.213.<net>.<i>`, reachable from this process; cutting its link isolates it.
struct Net {
    tag: String,
    subnet: String,
}

impl Net {
    fn create() -> Option<Net> {
        let pid = std::process::id();
        let tag = format!("{}", pid % 100_000);
        let net = Net {
            subnet: format!("10.213.{}", pid % 250),
            tag,
        };
        let bridge = net.bridge();
        let ok = sh(&["ip", "link", "add", &bridge, "type", "bridge"])
            && sh(&[
                "ip",
                "addr",
                "add",
                &format!("{}.254/24", net.subnet),
                "dev",
                &bridge,
            ])
            && sh(&["ip", "link", "set", &bridge, "up"]);
        if !ok {
            return None;
        }
        for i in 1..=3 {
            let (ns, outer, inner) = (net.ns(i), net.outer(i), net.inner(i));
            let ok = sh(&["ip", "netns", "add", &ns])
                && sh(&[
                    "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
                ])
                && sh(&["ip", "link", "set", &inner, "netns", &ns])
                && sh(&["ip", "link", "set", &outer, "master", &bridge])
                && sh(&["ip", "link", "set", &outer, "up"])
                && sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])
                && sh(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", net.ip(i)),
                    "dev",
                    &inner,
                ])
                && sh(&[
                    "ip", "netns", "exec", &ns, "ip", "link", "set", &inner, "up",
                ]);
            if !ok {
                return None;
            }
        }
        Some(net)
    }
    fn bridge(&self) -> String {
        format!("rfb{}", self.tag)
    }
    fn ns(&self, i: i32) -> String {
        format!("rafka-faults-{}-{i}", self.tag)
    }
    fn outer(&self, i: i32) -> String {
        format!("rfo{}{i}", self.tag)
    }
    fn inner(&self, i: i32) -> String {
        format!("rfi{}{i}", self.tag)
    }
    fn ip(&self, i: i32) -> String {
        format!("{}.{i}", self.subnet)
    }
    fn cut(&self, i: i32) {
        assert!(
            sh(&["ip", "link", "set", &self.outer(i), "down"]),
            "cut {i}"
        );
    }
    fn heal(&self, i: i32) {
        assert!(sh(&["ip", "link", "set", &self.outer(i), "up"]), "heal {i}");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 1..=3 {
            sh(&["ip", "link", "del", &self.outer(i)]);
            sh(&["ip", "netns", "del", &self.ns(i)]);
        }
        sh(&["ip", "link", "del", &self.bridge()]);
    }
}

struct Node {
    id: i32,
    config: PathBuf,
    data: PathBuf,
    log: PathBuf,
    kafka: String,
    ns: Option<String>,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let mut cmd = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(["serve", "--config"])
            .arg(&self.config)
            .env(
                "RUST_LOG",
                "info,openraft=warn,rafka::broker::replication=debug",
            )
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("rafka starts"));
    }
    fn pid(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn signal(&self, sig: &str) {
        assert!(
            sh(&["kill", sig, &self.pid()]),
            "kill {sig} node {}",
            self.id
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-CONT");
        }
        self.kill9();
    }
}

struct Cluster {
    nodes: Vec<Node>,
    net: Option<Net>,
    dir: PathBuf,
}

impl Cluster {
    fn new(dir: &Path) -> Cluster {
        let net = Net::create();
        let ports = |i: i32| -> (String, u16, u16, u16) {
            match &net {
                Some(n) => (n.ip(i), 9092, 9093, 9192),
                None => {
                    let base = 20_000 + (std::process::id() % 2_000) as u16 * 10;
                    let b = base + (i as u16) * 3;
                    ("127.0.0.1".to_string(), b, b + 1, b + 2)
                }
            }
        };
        let voters: Vec<String> = (1..=3)
            .map(|i| {
                let (h, _, c, _) = ports(i);
                format!("{i}@{h}:{c}")
            })
            .collect();
        let nodes = (1..=3)
            .map(|i| {
                let (host, k, c, t) = ports(i);
                let data = dir.join(format!("node-{i}"));
                let config = dir.join(format!("node{i}.properties"));
                std::fs::write(
                    &config,
                    format!(
                        "process.roles=broker,controller\nnode.id={i}\n\
                         controller.quorum.voters={}\n\
                         listeners=PLAINTEXT://{host}:{k},CONTROLLER://{host}:{c}\n\
                         controller.listener.names=CONTROLLER\n\
                         inter.broker.listener.name=PLAINTEXT\n\
                         text.listener={host}:{t}\nlog.dirs={}\n\
                         broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500\n\
                         replica.lag.time.max.ms=3000\nreplica.fetch.backoff.ms=200\n\
                         default.replication.factor=3\nmin.insync.replicas=2\n\
                         num.partitions={PARTITIONS}\n",
                        voters.join(","),
                        data.display()
                    ),
                )
                .expect("config");
                Node {
                    id: i,
                    config,
                    data,
                    log: dir.join(format!("node{i}.log")),
                    kafka: format!("{host}:{k}"),
                    ns: net.as_ref().map(|n| n.ns(i)),
                    child: None,
                }
            })
            .collect();
        Cluster {
            nodes,
            net,
            dir: dir.to_path_buf(),
        }
    }
    fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.kafka.clone())
            .collect::<Vec<_>>()
            .join(",")
    }
    fn node(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a node of the cluster")
    }
    fn logs_tail(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- node {} ---\n", n.id));
            for l in lines.iter().skip(lines.len().saturating_sub(30)) {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

/// partition → (leader, ISR) from the first node that answers Metadata.
fn partition_states(bootstrap: &str) -> Option<BTreeMap<i32, (i32, BTreeSet<i32>)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "2000")
        .create()
        .ok()?;
    let md = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(3))
        .ok()?;
    let t = md.topics().iter().find(|t| t.name() == TOPIC)?;
    if t.error().is_some() {
        return None;
    }
    Some(
        t.partitions()
            .iter()
            .map(|p| (p.id(), (p.leader(), p.isr().iter().copied().collect())))
            .collect(),
    )
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// Every partition led, with the whole ISR.
fn settled(bootstrap: &str) -> bool {
    partition_states(bootstrap).is_some_and(|s| {
        s.len() == PARTITIONS as usize && s.values().all(|(l, isr)| *l >= 0 && isr.len() == 3)
    })
}

/// One acknowledged record.
#[derive(Clone, Debug)]
struct Acked {
    value: String,
    offset: i64,
    at: Instant,
}

/// Writes `p<partition>-<n>` records to one partition, one at a time, until told to stop.
async fn writer(
    producer: FutureProducer,
    partition: i32,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("p{partition}-{n}");
        n += 1;
        let sent_at = Instant::now();
        let sent = producer
            .send(
                FutureRecord::<(), _>::to(TOPIC)
                    .partition(partition)
                    .payload(&value),
                Duration::from_secs(5),
            )
            .await;
        match sent {
            Ok(d) => acked.lock().expect("acked").push(Acked {
                value,
                offset: d.offset,
                at: Instant::now(),
            }),
            Err((e, _)) => {
                failures.lock().expect("failures").push(format!(
                    "{value} (sent {:?} before the failure): {e}",
                    sent_at.elapsed()
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillLeader,
    PauseLeader,
    PartitionLeader,
    RestartAll,
    WipeFollower,
}

const FAULTS: [Fault; 5] = [
    Fault::KillLeader,
    Fault::PauseLeader,
    Fault::PartitionLeader,
    Fault::RestartAll,
    Fault::WipeFollower,
];

/// Commits `offset` for partition 0 in the group: the error, if any.
fn commit(bootstrap: &str, offset: i64) -> Result<(), String> {
    let consumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create::<BaseConsumer>()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(offset))
        .map_err(|e| e.to_string())?;
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| e.to_string())
}

fn committed(bootstrap: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .create()
        .ok()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(TOPIC, 0);
    let c = consumer
        .committed_offsets(tpl, Duration::from_secs(5))
        .ok()?;
    match c.find_partition(TOPIC, 0)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Every record of `partition`, as (offset, value), up to its high watermark.
fn read_partition(bootstrap: &str, partition: i32) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fault-checker")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, partition, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out
        .last()
        .is_none_or(|(o, _): &(i64, String)| *o + 1 < high)
        && Instant::now() < deadline
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push((
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    out
}

/// (producer id, producer epoch, sequence) of the records at `offsets` in a replica's
/// log: tells a broker's failed deduplication (the same triple twice) from a client's
/// epoch bump (a new epoch).
fn producer_of(data: &Path, partition: i32, offsets: &[i64]) -> Vec<(i64, i64, i16, i32)> {
    let bytes = log_bytes(data, partition);
    let mut out = Vec::new();
    for (at, h) in rafka::log::batch::BatchIter::new(&bytes) {
        let Some(batch) = h.size().and_then(|n| bytes.get(at..at + n)) else {
            break;
        };
        for r in rafka::log::records::decode_batch(batch).unwrap_or_default() {
            if offsets.contains(&r.offset) {
                let seq = h.base_sequence + (r.offset - h.base_offset) as i32;
                out.push((r.offset, h.producer_id, h.producer_epoch, seq));
            }
        }
    }
    out
}

fn log_bytes(data: &Path, partition: i32) -> Vec<u8> {
    support::log_bytes(&data.join(format!("{TOPIC}-{partition}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_record_is_lost_duplicated_or_reordered_under_faults() {
    let rounds: usize = std::env::var("FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FAULTS.len());
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::new(dir.path());
    if cluster.net.is_none() {
        eprintln!("no network namespaces (not root?): loopback ports, partitions become kills");
    }
    for n in &mut cluster.nodes {
        n.start();
    }
    let bootstrap = cluster.bootstrap();
    {
        let b = bootstrap.clone();
        let up = tokio::task::spawn_blocking(move || {
            // auto-created with num.partitions and replication factor 3
            wait_until(Duration::from_secs(60), || {
                let p: Option<FutureProducer> = ClientConfig::new()
                    .set("bootstrap.servers", &b)
                    .create()
                    .ok();
                drop(p);
                settled(&b) || {
                    let c: Option<BaseConsumer> = ClientConfig::new()
                        .set("bootstrap.servers", &b)
                        .set("allow.auto.create.topics", "true")
                        .create()
                        .ok();
                    if let Some(c) = c {
                        let _ = c.fetch_metadata(Some(TOPIC), Duration::from_secs(2));
                    }
                    false
                }
            })
        })
        .await
        .expect("join");
        assert!(up, "the cluster came up:\n{}", cluster.logs_tail());
    }
    // a producer per partition: a client-side epoch bump (KIP-360, after a message timed
    // out) on one partition cannot re-send another partition's in-flight records
    let producer = || -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "120000")
            .set("request.timeout.ms", "5000")
            .set("retry.backoff.ms", "100")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .expect("producer")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let acked: Vec<Arc<Mutex<Vec<Acked>>>> = (0..PARTITIONS)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let writers: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            tokio::spawn(writer(
                producer(),
                p,
                Arc::clone(&stop),
                Arc::clone(&acked[p as usize]),
                Arc::clone(&failures),
            ))
        })
        .collect();

    let mut rng = Rng(seed);
    let mut order: Vec<Fault> = Vec::new();
    while order.len() < rounds {
        let mut batch = FAULTS.to_vec();
        for i in (1..batch.len()).rev() {
            batch.swap(i, rng.below(i as u64 + 1) as usize);
        }
        order.extend(batch);
    }
    order.truncate(rounds);
    let mut last_commit = -1i64;
    let started = Instant::now();
    for (round, fault) in order.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
        let b = bootstrap.clone();
        let states = tokio::task::spawn_blocking(move || partition_states(&b))
            .await
            .expect("join")
            .unwrap_or_default();
        let target = rng.below(PARTITIONS as u64) as i32;
        let leader = states.get(&target).map_or(1, |(l, _)| *l).max(1);
        let hold = Duration::from_millis(1000 + rng.below(4000));
        eprintln!(
            "round {round} at {:?} ({:?} since the epoch): {fault:?} (partition {target} leader {leader}, {hold:?})",
            started.elapsed(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
        );
        match fault {
            Fault::KillLeader => {
                cluster.node(leader).kill9();
                tokio::time::sleep(hold).await;
                cluster.node(leader).start();
            }
            Fault::PauseLeader => {
                cluster.node(leader).signal("-STOP");
                // past the session timeout: the controller moves its leaderships
                tokio::time::sleep(hold + Duration::from_secs(3)).await;
                cluster.node(leader).signal("-CONT");
            }
            Fault::PartitionLeader => match &cluster.net {
                Some(net) => {
                    net.cut(leader);
                    tokio::time::sleep(hold + Duration::from_secs(3)).await;
                    net.heal(leader);
                }
                None => {
                    cluster.node(leader).kill9();
                    tokio::time::sleep(hold).await;
                    cluster.node(leader).start();
                }
            },
            Fault::RestartAll => {
                for n in &mut cluster.nodes {
                    n.kill9();
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                for n in &mut cluster.nodes {
                    n.start();
                }
            }
            Fault::WipeFollower => {
                let follower = (1..=3).find(|&i| i != leader).unwrap_or(1);
                let node = cluster.node(follower);
                node.kill9();
                for p in 0..PARTITIONS {
                    let _ = std::fs::remove_dir_all(node.data.join(format!("{TOPIC}-{p}")));
                }
                tokio::time::sleep(hold).await;
                node.start();
            }
        }
        let b = bootstrap.clone();
        let ok = tokio::task::spawn_blocking(move || {
            wait_until(Duration::from_secs(90), || settled(&b))
        })
        .await
        .expect("join");
        assert!(
            ok,
            "round {round} ({fault:?}): the cluster settled: {:?}\n{}",
            partition_states(&bootstrap),
            cluster.logs_tail()
        );
        // the group's committed offset moves on every round
        let next = acked[0].lock().expect("acked").len() as i64;
        let b = bootstrap.clone();
        let (stored, last_error) = tokio::task::spawn_blocking(move || {
            let mut last_error = String::new();
            let stored = wait_until(Duration::from_secs(60), || match commit(&b, next) {
                Ok(()) => true,
                Err(e) => {
                    last_error = e;
                    false
                }
            });
            (stored, last_error)
        })
        .await
        .expect("join");
        assert!(
            stored,
            "round {round}: offset commit: {last_error}\n{}",
            cluster.logs_tail()
        );
        last_commit = next;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }

    // the checker
    let b = bootstrap.clone();
    let settled_all =
        tokio::task::spawn_blocking(move || wait_until(Duration::from_secs(60), || settled(&b)))
            .await
            .expect("join");
    assert!(settled_all, "settled at the end");
    let mut total = 0usize;
    for p in 0..PARTITIONS {
        let want = acked[p as usize].lock().expect("acked").clone();
        total += want.len();
        let b = bootstrap.clone();
        let got = tokio::task::spawn_blocking(move || read_partition(&b, p))
            .await
            .expect("join");
        let mut seen: BTreeMap<&str, i64> = BTreeMap::new();
        for (o, v) in &got {
            if let Some(first) = seen.insert(v.as_str(), *o) {
                let ack = want.iter().find(|a| &a.value == v);
                let leader_data = cluster.nodes[0].data.clone();
                panic!(
                    "partition {p}: {v} read twice, at {first} and {o} (acknowledged: {:?}, \
                     {:?} after the start); the copies' (producer id, epoch, sequence): \
                     {:?}; failed sends: {:?}\n{}",
                    ack.map(|a| a.offset),
                    ack.map(|a| a.at - started),
                    producer_of(&leader_data, p, &[first, *o]),
                    failures.lock().expect("failures"),
                    cluster.logs_tail()
                );
            }
        }
        let at: BTreeMap<&str, i64> = got.iter().map(|(o, v)| (v.as_str(), *o)).collect();
        let mut last = -1;
        for a in &want {
            let o = at.get(a.value.as_str()).copied();
            assert_eq!(
                o,
                Some(a.offset),
                "partition {p}: acknowledged {} at offset {} (read at {o:?})",
                a.value,
                a.offset
            );
            assert!(a.offset > last, "partition {p}: {} out of order", a.value);
            last = a.offset;
        }
        // the replicas' logs, byte for byte, once their sizes agree
        let datas: Vec<PathBuf> = cluster.nodes.iter().map(|n| n.data.clone()).collect();
        let same = wait_until(Duration::from_secs(30), || {
            let logs: Vec<Vec<u8>> = datas.iter().map(|d| log_bytes(d, p)).collect();
            logs.windows(2).all(|w| w[0] == w[1])
        });
        assert!(
            same,
            "partition {p}: replicas differ\n{}",
            cluster.logs_tail()
        );
    }
    let b = bootstrap.clone();
    let stored = tokio::task::spawn_blocking(move || committed(&b))
        .await
        .expect("join");
    assert_eq!(stored, Some(last_commit), "the committed offset survived");

    // unavailability windows: gaps of over a second between acknowledgements
    let mut times: Vec<Instant> = acked
        .iter()
        .flat_map(|a| {
            a.lock()
                .expect("acked")
                .iter()
                .map(|x| x.at)
                .collect::<Vec<_>>()
        })
        .collect();
    times.sort();
    let gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > Duration::from_secs(1))
        .collect();
    let failed = failures.lock().expect("failures").len();
    for f in failures.lock().expect("failures").iter() {
        eprintln!("failed send: {f}");
    }
    eprintln!(
        "fault suite: seed {seed}, {rounds} rounds in {:?}, {total} records acknowledged, \
         {failed} sends failed (retried as new records), {} unavailability windows (max {:?}, \
         total {:?})",
        started.elapsed(),
        gaps.len(),
        gaps.iter().max().copied().unwrap_or_default(),
        gaps.iter().sum::<Duration>()
    );
    assert!(total > 0, "something was acknowledged");
    if std::env::var("FAULT_KEEP").is_ok() {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    let _ = &cluster.dir;
}
