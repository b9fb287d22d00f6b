//! Transactions end to end with librdkafka (rdkafka): a transactional producer commits and
//! aborts, read_committed consumers see only what was committed while read_uncommitted
//! ones see everything, a second instance with the same transactional id fences the
//! first, offsets sent to a transaction count only once it commits, and an open
//! transaction left by a producer that vanished is aborted on its timeout, also across a
//! broker restart.

mod support;

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use support::start_broker_with;

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

const TIMEOUT: Duration = Duration::from_secs(30);

fn producer(bootstrap: &str, transactional_id: &str) -> TxnProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "5000")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

fn send(p: &TxnProducer, topic: &str, partition: i32, value: &str) {
    p.send(
        BaseRecord::<str, str>::to(topic)
            .partition(partition)
            .key(value)
            .payload(value),
    )
    .map_err(|(e, _)| e)
    .expect("send");
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_data_is_read_and_aborted_data_is_not() {
    let (broker, _dir) = start_broker_with(|c| {
        c.txn.num_partitions = 3;
        c.group.offsets_topic_num_partitions = 3;
    })
    .await;
    broker
        .broker()
        .create_topic("tx", 2, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let p = producer(&b, "writer-1");
        p.init_transactions(TIMEOUT).expect("init");
        // commit 10 to each partition, abort 5, then commit 5 more: interleaved
        p.begin_transaction().expect("begin");
        for v in values("c1", 10) {
            send(&p, "tx", 0, &v);
            send(&p, "tx", 1, &v);
        }
        p.commit_transaction(TIMEOUT).expect("commit");
        p.begin_transaction().expect("begin");
        for v in values("a1", 5) {
            send(&p, "tx", 0, &v);
            send(&p, "tx", 1, &v);
        }
        p.flush(TIMEOUT).expect("flush");
        p.abort_transaction(TIMEOUT).expect("abort");
        p.begin_transaction().expect("begin");
        for v in values("c2", 5) {
            send(&p, "tx", 0, &v);
        }
        p.commit_transaction(TIMEOUT).expect("commit");
    })
    .await
    .expect("producer");

    let b = bootstrap.clone();
    let (committed, everything) = tokio::task::spawn_blocking(move || {
        (
            support::read_all(&b, "tx", 2, "read_committed"),
            support::read_all(&b, "tx", 2, "read_uncommitted"),
        )
    })
    .await
    .expect("consumers");
    let mut want0 = values("c1", 10);
    want0.extend(values("c2", 5));
    assert_eq!(committed[&0], want0, "read_committed, partition 0");
    assert_eq!(
        committed[&1],
        values("c1", 10),
        "read_committed, partition 1"
    );
    let mut all0 = values("c1", 10);
    all0.extend(values("a1", 5));
    all0.extend(values("c2", 5));
    assert_eq!(
        everything[&0], all0,
        "read_uncommitted sees the aborted records too"
    );

    // the aborted transaction is in partition 0's .txnindex, in Kafka's 34-byte entries
    let p0 = broker.broker().topic("tx").expect("t").partitions[0].clone();
    let txnindex: Vec<_> = std::fs::read_dir(p0.dir())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "txnindex"))
        .collect();
    assert_eq!(txnindex.len(), 1, "one .txnindex file");
    let bytes = std::fs::read(txnindex[0].path()).expect("read");
    assert_eq!(bytes.len(), 34, "one aborted transaction");
    // the last stable offset reached the log end: nothing open
    assert_eq!(p0.last_stable_offset(), p0.log_end_offset());

    // the text protocol's CONSUME shows committed data only, markers left out
    let shown = text_consume(broker.text_addr(), "tx", 0).await;
    let values: Vec<&str> = shown.iter().filter_map(|l| l.split(' ').nth(2)).collect();
    assert_eq!(values, want0.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        shown.last().map(String::as_str),
        Some(format!("END {}", p0.log_end_offset()).as_str())
    );
    broker.shutdown().await.expect("shutdown");
}

/// The lines a text-protocol `CONSUME <topic> <partition> 0 1000` answers, `END` included.
async fn text_consume(addr: std::net::SocketAddr, topic: &str, partition: i32) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("text port");
    stream
        .write_all(format!("CONSUME {topic} {partition} 0 1000\n").as_bytes())
        .await
        .expect("send");
    let mut lines = BufReader::new(stream).lines();
    let mut out = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let end = line.starts_with("END") || line.starts_with("ERR");
        out.push(line);
        if end {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_fences_the_first() {
    let (broker, _dir) = start_broker_with(|c| c.txn.num_partitions = 3).await;
    broker
        .broker()
        .create_topic("fence", 1, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let first = producer(&b, "same-id");
        first.init_transactions(TIMEOUT).expect("init 1");
        first.begin_transaction().expect("begin 1");
        send(&first, "fence", 0, "from-first");
        first.flush(TIMEOUT).expect("flush 1");
        // the second instance aborts the first's open transaction and fences it
        let second = producer(&b, "same-id");
        second.init_transactions(TIMEOUT).expect("init 2");
        let err = first
            .commit_transaction(TIMEOUT)
            .expect_err("the fenced instance cannot commit");
        eprintln!("fenced: {err}");
        second.begin_transaction().expect("begin 2");
        send(&second, "fence", 0, "from-second");
        second.commit_transaction(TIMEOUT).expect("commit 2");
    })
    .await
    .expect("producers");
    let b = bootstrap.clone();
    let committed =
        tokio::task::spawn_blocking(move || support::read_all(&b, "fence", 1, "read_committed"))
            .await
            .expect("consumer");
    assert_eq!(committed[&0], vec!["from-second".to_string()]);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_to_a_transaction_count_once_it_commits() {
    let (broker, _dir) = start_broker_with(|c| {
        c.txn.num_partitions = 3;
        c.group.offsets_topic_num_partitions = 3;
    })
    .await;
    broker
        .broker()
        .create_topic("in", 1, 1, Default::default(), false)
        .expect("topic");
    broker
        .broker()
        .create_topic("out", 1, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let group: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("group.id", "eos-group")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = group.group_metadata().expect("group metadata");
        let p = producer(&b, "eos-1");
        p.init_transactions(TIMEOUT).expect("init");
        let offsets = |n: i64| {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("in", 0, Offset::Offset(n))
                .expect("tpl");
            tpl
        };
        let stored = |c: &BaseConsumer| {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition("in", 0);
            let got = c.committed_offsets(tpl, TIMEOUT).expect("committed");
            got.find_partition("in", 0).expect("p").offset()
        };
        // aborted: the group's offset does not move
        p.begin_transaction().expect("begin");
        send(&p, "out", 0, "x");
        p.send_offsets_to_transaction(&offsets(7), &metadata, TIMEOUT)
            .expect("offsets");
        p.abort_transaction(TIMEOUT).expect("abort");
        let after_abort = stored(&group);
        // committed: it does
        p.begin_transaction().expect("begin");
        send(&p, "out", 0, "y");
        p.send_offsets_to_transaction(&offsets(9), &metadata, TIMEOUT)
            .expect("offsets");
        p.commit_transaction(TIMEOUT).expect("commit");
        (after_abort, stored(&group))
    })
    .await
    .expect("client");
    assert_eq!(
        committed.0,
        Offset::Invalid,
        "nothing committed after the abort"
    );
    assert_eq!(
        committed.1,
        Offset::Offset(9),
        "the transaction's offset after the commit"
    );
    broker.shutdown().await.expect("shutdown");
}

/// A broker on `dir` with small transaction settings: a timed-out transaction is found
/// within 200 ms.
async fn start_on(dir: &std::path::Path) -> rafka::BrokerHandle {
    let mut b = rafka::BrokerBuilder::for_tests(dir);
    let c = b.config_mut();
    c.txn.num_partitions = 3;
    c.txn.abort_timed_out_interval_ms = 200;
    b.start().await.expect("broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_transaction_is_aborted_on_its_timeout_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_on(dir.path()).await;
    broker
        .broker()
        .create_topic("left", 1, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let p = producer(&b, "abandoned");
        p.init_transactions(TIMEOUT).expect("init");
        p.begin_transaction().expect("begin");
        for v in values("open", 5) {
            send(&p, "left", 0, &v);
        }
        p.flush(TIMEOUT).expect("flush");
        // the producer vanishes with its transaction open
        std::mem::forget(p);
    })
    .await
    .expect("producer");
    let p = broker.broker().topic("left").expect("t").partitions[0].clone();
    assert_eq!(p.log_end_offset(), 5);
    assert_eq!(
        p.last_stable_offset(),
        0,
        "the open transaction holds the LSO"
    );
    broker.shutdown().await.expect("shutdown");

    // after a restart, the coordinator finds it open and aborts it on its timeout (5 s)
    let broker = start_on(dir.path()).await;
    let p = broker.broker().topic("left").expect("t").partitions[0].clone();
    assert_eq!(p.last_stable_offset(), 0, "still open after the restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.last_stable_offset() < p.log_end_offset() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p.log_end_offset(), 6, "the ABORT marker was written");
    assert_eq!(p.last_stable_offset(), 6, "nothing open any more");
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    let committed =
        tokio::task::spawn_blocking(move || support::read_all(&b, "left", 1, "read_committed"))
            .await
            .expect("consumer");
    assert!(
        committed[&0].is_empty(),
        "the aborted records are never read"
    );
    let txns = broker.broker().txns().expect("coordinator");
    let meta = txns
        .describe("abandoned")
        .expect("described")
        .expect("known");
    assert_eq!(meta.status.name(), "CompleteAbort");
    assert_eq!(meta.producer_epoch, 1, "the abandoned producer was fenced");
    broker.shutdown().await.expect("shutdown");
}
