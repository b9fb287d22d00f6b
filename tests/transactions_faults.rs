//! Fault test of transactions: a `rafka serve` process killed with SIGKILL at random
//! points of a librdkafka transactional producer's work, round after round on the same data
//! dir, and Kafka's exactly-once guarantees checked at the end.
//!
//! Each round starts a transactional producer with the same `transactional.id` (so the
//! coordinator must fence the previous incarnation and abort what it left open;
//! `transaction.timeout.ms` 3000), runs 2 to 5 transactions of 1 to 5 uniquely numbered
//! records over the 3 partitions of one topic, each committed (2 in 3) or aborted, and
//! kills the broker at a seeded random point: between two transactions (or after the
//! last), in the middle of a transaction after some sends (flushed or not), or while
//! `commit_transaction` is in flight on another thread. The broker is restarted on the same
//! dir. Every transaction's outcome as the client saw it is recorded: committed
//! (`commit_transaction` returned Ok, also when it returned after the restart), aborted
//! (`abort_transaction` returned Ok, or commit was never called), or unknown (commit
//! returned an error).
//!
//! After the rounds: the last stable offset of each partition must reach its log end
//! within a bounded wait (ListOffsets read_committed vs read_uncommitted; the last round
//! may leave a transaction open that only the coordinator's timeout ends), then a
//! read_committed consumer reads every partition to its end and
//!
//! 1. every record of every acknowledged commit is present exactly once;
//! 2. no record of an aborted transaction is present;
//! 3. a transaction of unknown outcome is all or nothing;
//! 4. within each partition the records are in the order they were sent;
//!
//! and a read_uncommitted consumer sees every committed record. `TXN_FAULT_ROUNDS` (8) and
//! `TXN_FAULT_SEED` set the run; `TXN_FAULT_KEEP=1` keeps the temp dir of a passing run,
//! `TXN_FAULT_RUST_LOG` sets the broker's `RUST_LOG` and `TXN_FAULT_RDKAFKA_DEBUG` the
//! producer's librdkafka `debug` (printed to stderr), to look into a round. The long form
//! and its results are in docs/transactions-faults.md. No assert depends on timing (only the kill moments do);
//! every wait has a deadline. On a failure the broker's log (all incarnations, appended to
//! one file kept in the temp dir) is printed in part and its path given.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka::controller::placement::{RandomSource, SplitMix64};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use support::Client;

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

const ROUNDS_ENV: &str = "TXN_FAULT_ROUNDS";
const SEED_ENV: &str = "TXN_FAULT_SEED";
/// `1`: the temp dir (data dir and broker log) is kept after a passing run too.
const KEEP_ENV: &str = "TXN_FAULT_KEEP";
/// The broker's `RUST_LOG` (default `info`).
const RUST_LOG_ENV: &str = "TXN_FAULT_RUST_LOG";
/// librdkafka `debug` contexts for the producer (e.g. `eos,protocol`), logged to stderr.
const RDKAFKA_DEBUG_ENV: &str = "TXN_FAULT_RDKAFKA_DEBUG";
const DEFAULT_ROUNDS: u64 = 8;
const DEFAULT_SEED: u64 = 0x5EED_7A45_2026_0001;
const TOPIC: &str = "eos";
const PARTITIONS: i32 = 3;
const TRANSACTIONAL_ID: &str = "fault-writer";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A `rafka serve` process on a fixed loopback port and data dir, its stderr appended to
/// one log file across restarts.
struct Broker {
    dir: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    kills: u64,
}

impl Broker {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("broker log");
        let addr = format!("127.0.0.1:{}", self.port);
        let child = Command::new(env!("CARGO_BIN_EXE_rafka"))
            .args([
                "serve",
                "--listener",
                &addr,
                "--text-listener",
                "127.0.0.1:0",
            ])
            .args(["--advertised-listener", &addr, "--data-dir"])
            .arg(&self.dir)
            .args(["-o", "transaction.state.log.num.partitions=3"])
            .args(["-o", "offsets.topic.num.partitions=3"])
            .args([
                "-o",
                "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
            ])
            .env(
                "RUST_LOG",
                std::env::var(RUST_LOG_ENV).unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rafka");
        self.child = Some(child);
        let deadline = Instant::now() + TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "rafka did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            self.kills += 1;
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The last `n` lines of the broker's log.
    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Committed,
    Aborted,
    Unknown,
}

#[derive(Debug)]
struct Txn {
    round: u64,
    /// (record number, partition), in send order.
    records: Vec<(u64, i32)>,
    outcome: Outcome,
    /// How it ended, for the failure report.
    how: String,
}

/// Where in a round the broker is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillAt {
    /// Before transaction k begins (k = the round's count: after the last one).
    Before(usize),
    /// In transaction k after `sends` of its records; `flush` first or not. With `resume`
    /// the broker is restarted at once and the same producer carries on with the
    /// transaction (its remaining sends, then its commit or abort) and the round's next
    /// ones; else the round ends there and the transaction is left open.
    MidSends {
        txn: usize,
        sends: usize,
        flush: bool,
        resume: bool,
    },
    /// While transaction k's commit_transaction runs on another thread, `delay_us` after
    /// it was called. With `slow_restart` the commit is given only 1.5 s and the broker
    /// is restarted after it returned (a timeout: an unknown outcome, settled by the next
    /// incarnation's init), else at once and the commit waited for.
    DuringCommit {
        txn: usize,
        delay_us: u64,
        slow_restart: bool,
    },
}

fn producer(bootstrap: &str) -> TxnProducer {
    let mut config = ClientConfig::new();
    if let Ok(debug) = std::env::var(RDKAFKA_DEBUG_ENV) {
        // rdkafka logs through the `log` crate: shown on stderr by a tracing subscriber
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        config.set("debug", debug);
    }
    config
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", TRANSACTIONAL_ID)
        .set("transaction.timeout.ms", "3000")
        .set("linger.ms", "0")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("producer")
}

/// A producer whose init_transactions succeeded (it fences the previous incarnation and
/// has its open transaction aborted); new producers are tried until a deadline.
fn initialized_producer(bootstrap: &str) -> TxnProducer {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = producer(bootstrap);
        match p.init_transactions(TIMEOUT) {
            Ok(()) => return p,
            Err(e) => {
                eprintln!("init_transactions: {e}; again with a new producer");
                assert!(
                    Instant::now() < deadline,
                    "init_transactions keeps failing: {e}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn value_of(num: u64) -> String {
    format!("n{num:07}")
}

fn num_of(value: &str) -> Option<u64> {
    value.strip_prefix('n')?.parse().ok()
}

fn is_fatal(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => t.is_fatal(),
        _ => false,
    }
}

fn requires_abort(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => t.txn_requires_abort(),
        _ => false,
    }
}

#[derive(Default)]
struct Counts {
    txns: usize,
    committed: usize,
    aborted: usize,
    unknown: usize,
    unknown_present: usize,
    kills_between: usize,
    kills_mid_sends: usize,
    resumed: usize,
    kills_during_commit: usize,
    commits_done_before_kill: usize,
    client_errors: usize,
}

/// One round: a new producer, a few transactions, one kill and restart.
fn round(
    round: u64,
    broker: &mut Broker,
    rng: &mut SplitMix64,
    next_num: &mut u64,
    txns: &mut Vec<Txn>,
    counts: &mut Counts,
) {
    let n_txns = 2 + rng.below(4);
    let k = rng.below(n_txns);
    let kill_at = match rng.below(3) {
        0 => KillAt::Before(rng.below(n_txns + 1)),
        1 => KillAt::MidSends {
            txn: k,
            sends: rng.below(6),
            flush: rng.below(2) == 0,
            resume: rng.below(2) == 0,
        },
        _ => KillAt::DuringCommit {
            txn: k,
            delay_us: rng.below(150_000) as u64,
            slow_restart: rng.below(3) == 0,
        },
    };
    let p = Arc::new(initialized_producer(&broker.bootstrap()));
    let mut killed = false;
    let mut restarted = false;
    for t in 0..n_txns {
        if kill_at == KillAt::Before(t) {
            broker.kill();
            counts.kills_between += 1;
            killed = true;
            break;
        }
        let n_recs = 1 + rng.below(5);
        let commit = rng.below(3) != 0;
        if let Err(e) = p.begin_transaction() {
            eprintln!("round {round}: begin_transaction: {e}");
            counts.client_errors += 1;
            break;
        }
        let mut txn = Txn {
            round,
            records: Vec::new(),
            outcome: Outcome::Aborted,
            how: String::new(),
        };
        let kill_after = match kill_at {
            KillAt::MidSends {
                txn,
                sends,
                flush,
                resume,
            } if txn == t => Some((sends.min(n_recs), flush, resume)),
            _ => None,
        };
        for j in 0..=n_recs {
            if let Some((sends, flush, resume)) = kill_after {
                if sends == j {
                    if flush {
                        let _ = p.flush(Duration::from_secs(5));
                    }
                    broker.kill();
                    counts.kills_mid_sends += 1;
                    killed = true;
                    if resume {
                        counts.resumed += 1;
                        broker.start();
                        restarted = true;
                        txn.how = format!("killed after {j} sends (flushed: {flush}), resumed: ");
                    } else {
                        txn.how =
                            format!("killed after {j} sends (flushed: {flush}), never committed");
                        break;
                    }
                }
            }
            if j == n_recs {
                break;
            }
            let num = *next_num;
            *next_num += 1;
            let partition = rng.below(PARTITIONS as usize) as i32;
            let v = value_of(num);
            p.send(
                BaseRecord::<str, str>::to(TOPIC)
                    .partition(partition)
                    .key(&v)
                    .payload(&v),
            )
            .map_err(|(e, _)| e)
            .expect("send enqueues");
            txn.records.push((num, partition));
        }
        if killed && !restarted {
            txns.push(txn);
            break;
        }
        if let KillAt::DuringCommit {
            txn: kt,
            delay_us,
            slow_restart,
        } = kill_at
        {
            if kt == t {
                let pc = Arc::clone(&p);
                let within = if slow_restart {
                    Duration::from_millis(1500)
                } else {
                    TIMEOUT
                };
                let commit = std::thread::spawn(move || pc.commit_transaction(within));
                std::thread::sleep(Duration::from_micros(delay_us));
                let done_before = commit.is_finished();
                broker.kill();
                counts.kills_during_commit += 1;
                if done_before {
                    counts.commits_done_before_kill += 1;
                }
                killed = true;
                let result = if slow_restart {
                    let r = commit.join().expect("commit thread");
                    broker.start();
                    r
                } else {
                    broker.start();
                    commit.join().expect("commit thread")
                };
                restarted = true;
                (txn.outcome, txn.how) = match result {
                    Ok(()) => (
                        Outcome::Committed,
                        format!("commit Ok, broker killed {delay_us} us after the call (returned before the kill: {done_before}, slow restart: {slow_restart})"),
                    ),
                    Err(e) => (
                        Outcome::Unknown,
                        format!("commit failed around a kill {delay_us} us after the call (slow restart: {slow_restart}): {e}"),
                    ),
                };
                txns.push(txn);
                break;
            }
        }
        if commit {
            match p.commit_transaction(TIMEOUT) {
                Ok(()) => {
                    txn.outcome = Outcome::Committed;
                    txn.how += "commit Ok";
                    txns.push(txn);
                }
                Err(e) => {
                    eprintln!("round {round}: commit_transaction: {e}");
                    counts.client_errors += 1;
                    txn.outcome = Outcome::Unknown;
                    txn.how += &format!("commit failed: {e}");
                    let abortable = requires_abort(&e);
                    txns.push(txn);
                    if !abortable || p.abort_transaction(TIMEOUT).is_err() {
                        break;
                    }
                }
            }
        } else {
            let r = p.abort_transaction(TIMEOUT);
            txn.how += &match &r {
                Ok(()) => "abort Ok".to_string(),
                Err(e) => format!("abort failed: {e}"),
            };
            txns.push(txn);
            if let Err(e) = r {
                eprintln!("round {round}: abort_transaction: {e}");
                counts.client_errors += 1;
                if is_fatal(&e) || !requires_abort(&e) {
                    break;
                }
            }
        }
    }
    if !killed {
        broker.kill();
        counts.kills_between += 1;
    }
    if !restarted {
        broker.start();
    }
    // the old incarnation goes (after the restart: its drop flushes briefly)
    drop(p);
    eprintln!("round {round}: {n_txns} transactions planned, kill at {kill_at:?}");
}

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// The latest offset of `partition` for `isolation` (0 read_uncommitted: the high
/// watermark, 1 read_committed: the last stable offset); `None` if the call fails.
async fn latest(c: &mut Client, partition: i32, isolation: i8) -> Option<i64> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let r: ListOffsetsResponse = c.try_call(ApiKey::ListOffsets, 5, &req).await?;
    let p = &r.topics[0].partitions[0];
    (p.error_code == 0).then_some(p.offset)
}

/// Waits (bounded) until every partition's last stable offset is its high watermark;
/// the last (LSO, HW) seen per partition, and whether they met.
fn wait_for_stable(bootstrap: &str) -> (Vec<(i64, i64)>, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr: std::net::SocketAddr = bootstrap.parse().expect("addr");
    rt.block_on(async {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = vec![(-1, -1); PARTITIONS as usize];
        loop {
            let mut c = Client::connect(addr).await;
            let mut all = true;
            for p in 0..PARTITIONS {
                let lso = latest(&mut c, p, 1).await;
                let hw = latest(&mut c, p, 0).await;
                last[p as usize] = (lso.unwrap_or(-1), hw.unwrap_or(-1));
                all &= lso.is_some() && lso == hw;
            }
            if all || Instant::now() > deadline {
                return (last, all);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Every value a consumer with `isolation` reads, per partition in offset order, once it
/// reached every partition's end; `Err` if it did not within the deadline.
fn read_all(bootstrap: &str, isolation: &str) -> Result<BTreeMap<i32, Vec<String>>, String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("fault-reader-{isolation}-{}", std::process::id()),
        )
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out: BTreeMap<i32, Vec<String>> = (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while at_end.len() < PARTITIONS as usize {
        if Instant::now() > deadline {
            return Err(format!(
                "{isolation}: only partitions {at_end:?} reached their end within {TIMEOUT:?}"
            ));
        }
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                out.entry(m.partition()).or_default().push(v);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => eprintln!("{isolation} consumer: {e}"),
            None => {}
        }
    }
    Ok(out)
}

fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1));
    let r = rt
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .expect("create_topics");
    assert!(r.iter().all(|x| x.is_ok()), "topic created: {r:?}");
}

/// Checks 1–4 against what a read_committed consumer saw; the failures, and how many
/// records were checked.
fn check_committed(
    seen: &BTreeMap<i32, Vec<String>>,
    txns: &[Txn],
    counts: &mut Counts,
) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut owner: HashMap<u64, (usize, i32)> = HashMap::new();
    for (i, t) in txns.iter().enumerate() {
        for &(num, partition) in &t.records {
            owner.insert(num, (i, partition));
        }
    }
    let mut times: HashMap<u64, usize> = HashMap::new();
    let mut checked = 0;
    for (&partition, values) in seen {
        let mut prev: Option<u64> = None;
        for v in values {
            checked += 1;
            let Some(num) = num_of(v) else {
                failures.push(format!("partition {partition}: a value never sent: {v:?}"));
                continue;
            };
            match owner.get(&num) {
                None => failures.push(format!("partition {partition}: {v} was never sent")),
                Some(&(_, p)) if p != partition => failures.push(format!(
                    "partition {partition}: {v} was sent to partition {p}"
                )),
                Some(_) => {}
            }
            if let Some(prev) = prev {
                if num <= prev {
                    failures.push(format!(
                        "partition {partition}: {v} after n{prev:07} (out of send order or duplicated)"
                    ));
                }
            }
            prev = Some(num);
            *times.entry(num).or_default() += 1;
        }
    }
    for t in txns {
        let present: Vec<u64> = t
            .records
            .iter()
            .map(|r| r.0)
            .filter(|n| times.contains_key(n))
            .collect();
        let dup: Vec<u64> = t
            .records
            .iter()
            .map(|r| r.0)
            .filter(|n| times.get(n).is_some_and(|&c| c > 1))
            .collect();
        let desc = || {
            format!(
                "round {} transaction {:?} ({}; records {:?})",
                t.round, t.outcome, t.how, t.records
            )
        };
        if !dup.is_empty() {
            failures.push(format!("{}: records {dup:?} read more than once", desc()));
        }
        match t.outcome {
            Outcome::Committed if present.len() != t.records.len() => failures.push(format!(
                "{}: acknowledged commit but only {present:?} read",
                desc()
            )),
            Outcome::Aborted if !present.is_empty() => {
                failures.push(format!("{}: aborted but {present:?} read", desc()))
            }
            Outcome::Unknown if !present.is_empty() && present.len() != t.records.len() => failures
                .push(format!(
                    "{}: unknown outcome, only part read: {present:?}",
                    desc()
                )),
            Outcome::Unknown if !present.is_empty() => counts.unknown_present += 1,
            _ => {}
        }
    }
    (failures, checked)
}

#[test]
fn killed_broker_keeps_transactions_exactly_once() {
    let rounds: u64 = std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(DEFAULT_SEED);
    let started = Instant::now();
    // kept on failure (the evidence), removed at the end of a passing run (unless TXN_FAULT_KEEP=1)
    let root = tempfile::tempdir().expect("tempdir").keep();
    let mut broker = Broker {
        dir: root.join("data"),
        log: root.join("broker.log"),
        port: free_port(),
        child: None,
        kills: 0,
    };
    eprintln!(
        "transactions_faults: seed {seed:#x}, {rounds} rounds, dir {}",
        root.display()
    );
    broker.start();
    create_topic(&broker.bootstrap());
    let mut rng = SplitMix64::new(seed);
    let mut next_num = 0u64;
    let mut txns = Vec::new();
    let mut counts = Counts::default();
    for r in 0..rounds {
        round(
            r,
            &mut broker,
            &mut rng,
            &mut next_num,
            &mut txns,
            &mut counts,
        );
    }
    counts.txns = txns.len();
    for t in &txns {
        match t.outcome {
            Outcome::Committed => counts.committed += 1,
            Outcome::Aborted => counts.aborted += 1,
            Outcome::Unknown => counts.unknown += 1,
        }
    }

    let bootstrap = broker.bootstrap();
    let mut failures = Vec::new();
    // 5: no hanging transaction (the last round's open one is ended by its timeout)
    let (offsets, stable) = wait_for_stable(&bootstrap);
    if !stable {
        failures.push(format!(
            "the last stable offset did not reach the high watermark within {TIMEOUT:?}: (LSO, HW) per partition {offsets:?}"
        ));
    }
    let mut checked = 0;
    match read_all(&bootstrap, "read_committed") {
        Ok(seen) => {
            let (f, n) = check_committed(&seen, &txns, &mut counts);
            failures.extend(f);
            checked = n;
        }
        Err(e) => failures.push(e),
    }
    // sanity: read_uncommitted sees every committed record too
    match read_all(&bootstrap, "read_uncommitted") {
        Ok(seen) => {
            let all: HashSet<u64> = seen.values().flatten().filter_map(|v| num_of(v)).collect();
            for t in txns.iter().filter(|t| t.outcome == Outcome::Committed) {
                let missing: Vec<u64> = t
                    .records
                    .iter()
                    .map(|r| r.0)
                    .filter(|n| !all.contains(n))
                    .collect();
                if !missing.is_empty() {
                    failures.push(format!(
                        "read_uncommitted: round {} committed transaction misses {missing:?}",
                        t.round
                    ));
                }
            }
        }
        Err(e) => failures.push(e),
    }
    let records: usize = txns.iter().map(|t| t.records.len()).sum();
    eprintln!(
        "transactions_faults summary: seed {seed:#x}, {rounds} rounds, {} transactions \
         ({} committed, {} aborted, {} unknown of which {} present), {records} records sent, \
         {} kills ({} between transactions, {} mid-sends of which {} resumed by the same producer, {} during commit of which {} after \
         the commit returned), {} client errors, {checked} records checked, \
         LSO=HW {offsets:?}, {:.1} s",
        counts.txns,
        counts.committed,
        counts.aborted,
        counts.unknown,
        counts.unknown_present,
        broker.kills,
        counts.kills_between,
        counts.kills_mid_sends,
        counts.resumed,
        counts.kills_during_commit,
        counts.commits_done_before_kill,
        counts.client_errors,
        started.elapsed().as_secs_f64(),
    );
    if !failures.is_empty() {
        eprintln!(
            "broker log (last 80 lines of {}):\n{}",
            broker.log.display(),
            broker.log_tail(80)
        );
        for f in &failures {
            eprintln!("FAILED {f}");
        }
        panic!(
            "{} failures (seed {seed:#x}); evidence kept in {}",
            failures.len(),
            root.display()
        );
    }
    drop(broker);
    if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("kept {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}
