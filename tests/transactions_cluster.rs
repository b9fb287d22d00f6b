//! Transactions on a three-node in-process cluster (combined nodes): transactional ids
//! whose coordinators (the leaders of their `__transaction_state` partitions) are spread
//! over the brokers, writing to a topic whose partition leaders are spread too, so markers
//! travel between brokers (WriteTxnMarkers) and a transaction's first write to a
//! partition is verified with a coordinator on another broker (AddPartitionsToTxn v4).
//! librdkafka's producers commit and abort; a read_committed consumer must read exactly
//! the committed records, in order per partition.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rafka::ClusterBuilder;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const TIMEOUT: Duration = Duration::from_secs(30);
const TOPIC: &str = "ctx";
const PARTITIONS: i32 = 3;

/// Creates the topic (replication factor 3) once every broker is registered.
async fn create_topic(bootstrap: &str) {
    let b = bootstrap.to_string();
    let registered = tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .create()
            .expect("consumer");
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let n = c
                .fetch_metadata(None, Duration::from_secs(5))
                .map_or(0, |md| md.brokers().len());
            if n == 3 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    })
    .await
    .expect("metadata");
    assert!(registered, "three brokers registered");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        match admin.create_topics(&[topic], &options).await {
            Ok(results) if results.iter().all(|r| r.is_ok()) => return,
            other => assert!(Instant::now() < deadline, "topic not created: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The partition leaders of the topic, as the broker at `bootstrap` answers Metadata.
fn leaders(bootstrap: &str) -> BTreeMap<i32, i32> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .expect("metadata");
    md.topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| (p.id(), p.leader()))
        .collect()
}

/// Runs `rounds` transactions for `transactional_id`: each writes one record to every
/// partition; every third is aborted. The committed values.
fn run_producer(bootstrap: &str, transactional_id: &str, rounds: usize) -> Vec<String> {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "10000")
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    p.init_transactions(TIMEOUT).expect("init");
    let mut committed = Vec::new();
    for round in 0..rounds {
        p.begin_transaction().expect("begin");
        let values: Vec<String> = (0..PARTITIONS)
            .map(|part| format!("{transactional_id}-{round}-{part}"))
            .collect();
        for (part, v) in values.iter().enumerate() {
            p.send(
                BaseRecord::<str, str>::to(TOPIC)
                    .partition(part as i32)
                    .key(v)
                    .payload(v),
            )
            .map_err(|(e, _)| e)
            .expect("send");
        }
        p.flush(TIMEOUT).expect("flush");
        if round % 3 == 2 {
            p.abort_transaction(TIMEOUT).expect("abort");
        } else {
            p.commit_transaction(TIMEOUT).expect("commit");
            committed.extend(values);
        }
    }
    committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_span_brokers_and_read_committed_sees_only_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ClusterBuilder::new(3, dir.path())
        .configure(|_, c| {
            c.txn.num_partitions = 6;
            c.group.offsets_topic_num_partitions = 3;
        })
        .start()
        .await
        .expect("cluster starts");
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap).await;
    let b = bootstrap.clone();
    let leaders = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let l = leaders(&b);
            if l.len() == PARTITIONS as usize && l.values().all(|&x| x > 0) {
                return l;
            }
            assert!(Instant::now() < deadline, "no leaders: {l:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .expect("leaders");
    let distinct: std::collections::BTreeSet<i32> = leaders.values().copied().collect();
    assert!(
        distinct.len() > 1,
        "leaders on several brokers: {leaders:?}"
    );

    // four transactional ids: their coordinators land on different brokers
    let ids = ["tx-alpha", "tx-beta", "tx-gamma", "tx-delta"];
    let mut handles = Vec::new();
    for id in ids {
        let b = bootstrap.clone();
        handles.push(tokio::task::spawn_blocking(move || run_producer(&b, id, 6)));
    }
    let mut committed = Vec::new();
    for h in handles {
        committed.extend(h.await.expect("producer"));
    }
    let b = bootstrap.clone();
    let read = tokio::task::spawn_blocking(move || {
        support::read_all(&b, TOPIC, PARTITIONS, "read_committed")
    })
    .await
    .expect("consumer");
    // exactly the committed records, each once, in each producer's order per partition
    for part in 0..PARTITIONS {
        let got = read.get(&part).cloned().unwrap_or_default();
        let mut want: Vec<&String> = committed
            .iter()
            .filter(|v| v.ends_with(&format!("-{part}")))
            .collect();
        let mut got_sorted: Vec<&String> = got.iter().collect();
        want.sort();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "partition {part}: the committed records");
        for id in ids {
            let mine: Vec<&String> = got.iter().filter(|v| v.starts_with(id)).collect();
            let rounds: Vec<usize> = mine
                .iter()
                .filter_map(|v| v.split('-').nth(2).and_then(|r| r.parse().ok()))
                .collect();
            assert!(
                rounds.windows(2).all(|w| w[0] < w[1]),
                "partition {part}, {id}: in order: {mine:?}"
            );
        }
    }
    cluster.shutdown().await;
}
