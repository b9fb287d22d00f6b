//! The metrics a broker renders (`rafka::metrics::render`, what `/metrics` serves) checked
//! against what clients did: a real producer and consumer (librdkafka), the text port,
//! and raw requests. Every figure is compared with a value found another way (the
//! records the client sent, the bytes of the segment files, the offsets it committed).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One sample of the text: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the OpenMetrics text (`name{k="v",...} value` lines), checking its shape: it
/// ends with `# EOF` and every other line is a comment or a sample.
fn parse(text: &str) -> Vec<Sample> {
    assert_eq!(text.lines().last(), Some("# EOF"), "no # EOF:\n{text}");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let labels = body
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").expect("label k=\"v\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.push((name, labels, value));
    }
    out
}

/// The sum of the samples of `name` whose labels include `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn scrape(broker: &rafka::BrokerHandle) -> Vec<Sample> {
    parse(&rafka::metrics::render(broker.broker()))
}

const TOPIC: &str = "metered";
const RECORDS: usize = 600;
/// Records go round to the two partitions: 300 each.
const PARTITIONS: i32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_what_librdkafka_produced_and_consumed() {
    let (broker, _dir) = support::start_broker().await;
    broker
        .broker()
        .create_topic(TOPIC, PARTITIONS, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();

    // produce: fixed-size records, uncompressed, acks=all (so fsyncs happen)
    tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("compression.type", "none")
                .set("acks", "all")
                .set("linger.ms", "5")
                .create()
                .expect("producer");
            for i in 0..RECORDS {
                let value = format!("value-{i:08}");
                let record = BaseRecord::<(), _>::to(TOPIC)
                    .payload(&value)
                    .partition((i % PARTITIONS as usize) as i32);
                producer.send(record).expect("queued");
                producer.poll(Duration::ZERO);
            }
            producer
                .flush(Duration::from_secs(60))
                .expect("all acknowledged");
        }
    })
    .await
    .expect("producer thread");

    // what is in the segment files: the batches appended, byte for byte
    let topic = broker.broker().topic(TOPIC).expect("topic");
    let on_disk: Vec<usize> = topic
        .partitions
        .iter()
        .map(|p| support::log_bytes(p.dir()).len())
        .collect();
    let on_disk_total = on_disk.iter().sum::<usize>() as f64;
    assert!(on_disk_total > 0.0);

    let m = scrape(&broker);
    let t = [("topic", TOPIC)];
    assert_eq!(sum(&m, "rafka_topic_records_in_total", &t), RECORDS as f64);
    assert_eq!(sum(&m, "rafka_records_in_total", &[]), RECORDS as f64);
    assert_eq!(sum(&m, "rafka_topic_bytes_in_total", &t), on_disk_total);
    assert_eq!(sum(&m, "rafka_bytes_in_total", &[]), on_disk_total);
    let totals = broker.broker().metrics().totals();
    assert_eq!(totals.records_in, RECORDS as u64);
    assert_eq!(totals.bytes_in as f64, on_disk_total);
    // the per-partition log gauges agree with the files
    for (p, bytes) in on_disk.iter().enumerate() {
        let l = [("topic", TOPIC), ("partition", &p.to_string()[..])];
        let l: Vec<(&str, &str)> = l.to_vec();
        assert_eq!(sum(&m, "rafka_log_size_bytes", &l), *bytes as f64);
        assert_eq!(sum(&m, "rafka_log_segments", &l), 1.0);
        assert_eq!(
            sum(&m, "rafka_log_end_offset", &l),
            (RECORDS / PARTITIONS as usize) as f64
        );
    }
    // every Produce request was counted and timed, without errors
    let produces = sum(&m, "rafka_requests_total", &[("api", "Produce")]);
    assert!(produces >= 1.0);
    assert_eq!(
        sum(
            &m,
            "rafka_request_duration_seconds_count",
            &[("api", "Produce")]
        ),
        produces
    );
    assert_eq!(
        sum(&m, "rafka_request_errors_total", &[("api", "Produce")]),
        0.0
    );
    // one produce request per partition it wrote to
    assert!(sum(&m, "rafka_topic_produce_requests_total", &t) >= PARTITIONS as f64);
    // acks=all made the log fsync
    assert!(sum(&m, "rafka_log_fsync_seconds_count", &[]) >= 1.0);
    assert_eq!(sum(&m, "rafka_partitions_leader", &[]), PARTITIONS as f64);
    assert_eq!(sum(&m, "rafka_partitions_under_replicated", &[]), 0.0);
    assert_eq!(sum(&m, "rafka_partitions_under_min_isr", &[]), 0.0);
    assert_eq!(sum(&m, "rafka_controller_active", &[]), 1.0);

    // consume everything once, then commit a known offset for partition 0
    let commit_at = 100i64;
    let consumer = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "metered-group")
                .set("enable.auto.commit", "false")
                .create()
                .expect("consumer");
            let mut tpl = TopicPartitionList::new();
            for p in 0..PARTITIONS {
                tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                    .expect("partition");
            }
            consumer.assign(&tpl).expect("assign");
            let mut read = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while read < RECORDS {
                assert!(std::time::Instant::now() < deadline, "read {read}");
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    assert!(m.expect("message").payload().is_some());
                    read += 1;
                }
            }
            let mut commit = TopicPartitionList::new();
            commit
                .add_partition_offset(TOPIC, 0, Offset::Offset(commit_at))
                .expect("partition");
            consumer
                .commit(&commit, CommitMode::Sync)
                .expect("committed");
            consumer
        }
    })
    .await
    .expect("consumer thread");

    let m = scrape(&broker);
    // every batch went out once: as many bytes out as in
    assert_eq!(sum(&m, "rafka_topic_bytes_out_total", &t), on_disk_total);
    assert_eq!(sum(&m, "rafka_bytes_out_total", &[]), on_disk_total);
    assert!(sum(&m, "rafka_topic_records_out_total", &t) <= RECORDS as f64);
    assert_eq!(sum(&m, "rafka_topic_replication_bytes_out_total", &t), 0.0);
    assert!(sum(&m, "rafka_requests_total", &[("api", "Fetch")]) >= 1.0);
    assert!(sum(&m, "rafka_requests_total", &[("api", "OffsetCommit")]) >= 1.0);
    // the group's committed offset and lag (high watermark 300 less 100)
    let g = [
        ("group", "metered-group"),
        ("topic", TOPIC),
        ("partition", "0"),
    ];
    assert_eq!(
        sum(&m, "rafka_group_committed_offset", &g),
        commit_at as f64
    );
    assert_eq!(
        sum(&m, "rafka_group_lag", &g),
        (RECORDS / PARTITIONS as usize) as f64 - commit_at as f64
    );
    assert_eq!(sum(&m, "rafka_groups", &[]), 1.0);
    // the consumer's connections are open now, and gone once it is dropped
    assert!(sum(&m, "rafka_connections", &[("listener", "PLAINTEXT")]) >= 1.0);
    assert!(
        sum(
            &m,
            "rafka_connections_accepted_total",
            &[("listener", "PLAINTEXT")]
        ) >= 2.0
    );
    drop(consumer);
    let closed = support::eventually(Duration::from_secs(10), || {
        sum(
            &scrape(&broker),
            "rafka_connections",
            &[("listener", "PLAINTEXT")],
        ) == 0.0
    })
    .await;
    assert!(closed, "connections gauge back to 0 once the clients left");
}

/// Produce answered with an error code is counted by code, once per partition, and the
/// request once as failed.
#[tokio::test]
async fn produce_errors_are_counted_by_code() {
    let (broker, _dir) = support::start_broker().await;
    broker
        .broker()
        .create_topic("known", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = support::Client::connect(broker.kafka_addr()).await;
    let part = |i| {
        PartitionProduceData::default()
            .with_index(i)
            .with_records(Some(support::batch(&[(None, "v")])))
    };
    // partition 0 exists, 5 and 6 do not
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("known")))
            .with_partition_data(vec![part(0), part(5), part(6)])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    let codes: Vec<i16> = r.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![0, 3, 3]);
    let m = scrape(&broker);
    let p9 = [("api", "Produce"), ("version", "9")];
    assert_eq!(sum(&m, "rafka_requests_total", &p9), 1.0);
    assert_eq!(sum(&m, "rafka_request_errors_total", &p9), 1.0);
    assert_eq!(
        sum(
            &m,
            "rafka_request_error_codes_total",
            &[("api", "Produce"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")]
        ),
        2.0
    );
    // the one record that was appended; every partition asked for is a produce request
    // of the topic; an unknown partition is one of the errors Kafka's
    // FailedProduceRequestsPerSec leaves out
    assert_eq!(
        sum(&m, "rafka_topic_records_in_total", &[("topic", "known")]),
        1.0
    );
    assert_eq!(
        sum(
            &m,
            "rafka_topic_produce_requests_total",
            &[("topic", "known")]
        ),
        3.0
    );
    assert_eq!(
        sum(
            &m,
            "rafka_topic_failed_produce_requests_total",
            &[("topic", "known")]
        ),
        0.0
    );
    // acks=all below min.insync.replicas: NOT_ENOUGH_REPLICAS, which does count
    broker
        .broker()
        .create_topic(
            "strict",
            1,
            1,
            BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]),
            false,
        )
        .expect("topic");
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("strict")))
            .with_partition_data(vec![part(0)])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 19);
    let m = scrape(&broker);
    assert_eq!(
        sum(
            &m,
            "rafka_topic_failed_produce_requests_total",
            &[("topic", "strict")]
        ),
        1.0
    );
    // a Fetch of a topic that does not exist counts its error code too
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, FetchResponse};
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("nope")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 3);
    let m = scrape(&broker);
    assert_eq!(
        sum(
            &m,
            "rafka_request_error_codes_total",
            &[("api", "Fetch"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &m,
            "rafka_request_errors_total",
            &[("api", "Fetch"), ("version", "12")]
        ),
        1.0
    );
    // an unknown topic makes no per-topic series
    assert!(!m.iter().any(|(n, l, _)| n.starts_with("rafka_topic_")
        && l.get("topic")
            .is_some_and(|t| t != "known" && t != "strict")));
}

/// The text port's PRODUCE counts as a Kafka produce does, and its connections have
/// their own listener label.
#[tokio::test]
async fn text_produce_and_connections_are_counted() {
    let (broker, _dir) = support::start_broker().await;
    let stream = TcpStream::connect(broker.text_addr())
        .await
        .expect("connect");
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    for i in 0..25 {
        wr.write_all(format!("PRODUCE texted k{i} value-{i}\n").as_bytes())
            .await
            .expect("write");
        let reply = lines.next_line().await.expect("read").expect("a reply");
        assert!(reply.starts_with("OK "), "{reply}");
    }
    let topic = broker.broker().topic("texted").expect("auto-created");
    let on_disk: usize = topic
        .partitions
        .iter()
        .map(|p| support::log_bytes(p.dir()).len())
        .sum();
    let m = scrape(&broker);
    assert_eq!(
        sum(&m, "rafka_topic_records_in_total", &[("topic", "texted")]),
        25.0
    );
    assert_eq!(
        sum(&m, "rafka_topic_bytes_in_total", &[("topic", "texted")]),
        on_disk as f64
    );
    assert_eq!(sum(&m, "rafka_connections", &[("listener", "text")]), 1.0);
    drop((lines, wr));
    let closed = support::eventually(Duration::from_secs(10), || {
        sum(
            &scrape(&broker),
            "rafka_connections",
            &[("listener", "text")],
        ) == 0.0
    })
    .await;
    assert!(closed);
}

/// Every histogram's buckets are cumulative and end at `+Inf` with its count.
#[tokio::test]
async fn histograms_are_well_formed() {
    let (broker, _dir) = support::start_broker().await;
    broker
        .broker()
        .create_topic("h", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = support::Client::connect(broker.kafka_addr()).await;
    support::produce_values(&mut c, "h", 0, &["a", "b"]).await;
    let m = scrape(&broker);
    let mut checked = 0;
    for (name, labels, count) in m.iter().filter(|(n, _, _)| n.ends_with("_seconds_count")) {
        let base = name.trim_end_matches("_count");
        let mut buckets: Vec<(f64, f64)> = m
            .iter()
            .filter(|(n, l, _)| {
                *n == format!("{base}_bucket") && labels.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .map(|(_, l, v)| {
                let le = l.get("le").expect("le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                (le, *v)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name} cumulative"
        );
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, *count)), "{name}");
        checked += 1;
    }
    // the fsync histogram and the Produce request histogram at least
    assert!(checked >= 2, "{checked} histograms");
}

/// A follower lost: the leader's ISR shrinks (3 to 2, below min.insync.replicas = 3) and
/// its metrics say so: one ISR shrink, one under-replicated and one under-min-ISR
/// partition; before, none and one at min ISR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrunk_isr_is_counted_and_the_partition_is_under_replicated() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(|_, c| {
            c.cluster.broker_session_timeout_ms = 3_000;
            c.cluster.broker_heartbeat_interval_ms = 300;
            c.cluster.replica_lag_time_max_ms = 3_000;
            c.cluster.replica_fetch_backoff_ms = 100;
        })
        .start()
        .await
        .expect("cluster starts");
    let registered = support::eventually(Duration::from_secs(30), || {
        cluster.ids().iter().all(|&id| {
            cluster
                .node(id)
                .is_some_and(|h| h.broker().metadata().brokers.len() == 3)
        })
    })
    .await;
    assert!(registered, "every broker registered");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("admin");
    let topic = NewTopic::new("isr", 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "3");
    for r in admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .expect("create_topics answered")
    {
        r.expect("topic created");
    }
    // the leader, once its ISR is whole
    let leader_with_isr = |cluster: &rafka::ClusterHandle, n: usize| {
        cluster.ids().into_iter().find(|&id| {
            cluster
                .node(id)
                .and_then(|h| h.broker().topic("isr"))
                .and_then(|t| t.partition(0).cloned())
                .is_some_and(|p| p.is_leader() && p.replica_state().isr.len() == n)
        })
    };
    let whole = support::eventually(Duration::from_secs(30), || {
        leader_with_isr(&cluster, 3).is_some()
    })
    .await;
    assert!(whole, "a leader with 3 in sync");
    let leader = leader_with_isr(&cluster, 3).expect("leader");
    let scrape_leader = |cluster: &rafka::ClusterHandle| {
        parse(&rafka::metrics::render(
            cluster.node(leader).expect("leader node").broker(),
        ))
    };
    let m = scrape_leader(&cluster);
    assert_eq!(sum(&m, "rafka_partitions_under_replicated", &[]), 0.0);
    assert_eq!(sum(&m, "rafka_partitions_under_min_isr", &[]), 0.0);
    assert_eq!(sum(&m, "rafka_partitions_at_min_isr", &[]), 1.0);
    assert_eq!(sum(&m, "rafka_isr_shrinks_total", &[]), 0.0);
    assert_eq!(sum(&m, "rafka_partitions_offline", &[]), 0.0);

    let follower = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    cluster.kill(follower);
    let shrunk = support::eventually(Duration::from_secs(30), || {
        leader_with_isr(&cluster, 2) == Some(leader)
    })
    .await;
    assert!(shrunk, "the ISR shrank on the leader");
    // the metadata may apply the change before the leader reads the controller's answer
    let counted = support::eventually(Duration::from_secs(10), || {
        sum(&scrape_leader(&cluster), "rafka_isr_shrinks_total", &[]) >= 1.0
    })
    .await;
    assert!(counted, "the shrink counted");
    let m = scrape_leader(&cluster);
    assert_eq!(sum(&m, "rafka_isr_shrinks_total", &[]), 1.0);
    assert_eq!(sum(&m, "rafka_partitions_under_replicated", &[]), 1.0);
    assert_eq!(sum(&m, "rafka_partitions_under_min_isr", &[]), 1.0);
    assert_eq!(sum(&m, "rafka_partitions_at_min_isr", &[]), 0.0);
    // every live voter names the same quorum leader, and that one alone is active
    let one_active = support::eventually(Duration::from_secs(30), || {
        let mut active = Vec::new();
        let mut leaders = std::collections::BTreeSet::new();
        for id in cluster.ids() {
            let Some(node) = cluster.node(id) else {
                continue;
            };
            let m = scrape(node);
            if sum(&m, "rafka_controller_active", &[]) == 1.0 {
                active.push(f64::from(id));
            }
            leaders.insert(sum(&m, "rafka_raft_current_leader", &[]) as i64);
        }
        active.len() == 1
            && leaders.len() == 1
            && leaders.first().map(|&l| l as f64) == active.first().copied()
    })
    .await;
    assert!(one_active, "one active controller, named by every voter");
    cluster.shutdown().await;
}

/// A transactional id whose transaction was committed shows in its state; the records
/// of the transaction count as records in (the markers do not: they are the broker's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_counted_by_state() {
    use rdkafka::producer::{DefaultProducerContext, ThreadedProducer};
    let (broker, _dir) = support::start_broker_with(|c| {
        c.txn.num_partitions = 1;
        c.group.offsets_topic_num_partitions = 1;
    })
    .await;
    broker
        .broker()
        .create_topic("tx", 1, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(30);
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("transactional.id", "metered-tx")
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        p.init_transactions(timeout).expect("init");
        p.begin_transaction().expect("begin");
        for i in 0..7 {
            p.send(
                BaseRecord::<(), str>::to("tx")
                    .partition(0)
                    .payload(&format!("v{i}")),
            )
            .map_err(|(e, _)| e)
            .expect("send");
        }
        p.commit_transaction(timeout).expect("commit");
    })
    .await
    .expect("producer thread");
    // the coordinator completes the commit once its markers are written
    let completed = support::eventually(Duration::from_secs(10), || {
        sum(
            &scrape(&broker),
            "rafka_transactions",
            &[("state", "CompleteCommit")],
        ) == 1.0
    })
    .await;
    assert!(completed, "{:?}", rafka::metrics::render(broker.broker()));
    let m = scrape(&broker);
    assert_eq!(sum(&m, "rafka_transactions", &[]), 1.0);
    assert_eq!(
        sum(&m, "rafka_topic_records_in_total", &[("topic", "tx")]),
        7.0
    );
}

/// A cleaner pass over a compacted topic is counted with what it read and kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_passes_are_counted() {
    // the periodic pass out of the way (it could clean the log before this test does)
    let (broker, _dir) = support::start_broker_with(|c| c.cleaner.backoff_ms = 3_600_000).await;
    let overrides = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), "1024".to_string()),
        ("min.cleanable.dirty.ratio".to_string(), "0.01".to_string()),
    ]);
    broker
        .broker()
        .create_topic("compacted", 1, -1, overrides, false)
        .expect("create");
    let stream = TcpStream::connect(broker.text_addr())
        .await
        .expect("connect");
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    for i in 0..120 {
        let line = format!("PRODUCE compacted key-{} value-{i:0>30}\n", i % 6);
        wr.write_all(line.as_bytes()).await.expect("write");
        let reply = lines.next_line().await.expect("read").expect("a reply");
        assert!(reply.starts_with("OK "), "{reply}");
    }
    let b = std::sync::Arc::clone(broker.broker());
    let cleaned = tokio::task::spawn_blocking(move || b.clean_logs())
        .await
        .expect("clean");
    assert!(cleaned >= 1, "the topic was due");
    let m = scrape(&broker);
    assert_eq!(sum(&m, "rafka_cleaner_passes_total", &[]), cleaned as f64);
    let read = sum(&m, "rafka_cleaner_read_records_total", &[]);
    let kept = sum(&m, "rafka_cleaner_kept_records_total", &[]);
    assert!(kept > 0.0 && kept < read, "kept {kept} of {read}");
    assert!(
        sum(&m, "rafka_cleaner_written_bytes_total", &[])
            < sum(&m, "rafka_cleaner_read_bytes_total", &[])
    );
    assert_eq!(sum(&m, "rafka_cleaner_failures_total", &[]), 0.0);
}

/// The controller figures are a voter's: the one voter of a cluster is the active
/// controller and names itself leader; a broker-only node renders none of them, as
/// Kafka's brokers have no ActiveControllerCount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_voters_report_the_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = rafka::ClusterBuilder::new(1, dir.path())
        .brokers(1)
        .start()
        .await
        .expect("cluster starts");
    let ids = cluster.ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (voter, broker_only) = (ids[0], ids[1]);
    assert!(cluster.is_broker(broker_only));
    let voter_node = cluster.node(voter).expect("voter");
    let led = support::eventually(Duration::from_secs(30), || {
        let m = scrape(voter_node);
        sum(&m, "rafka_controller_active", &[]) == 1.0
            && sum(&m, "rafka_raft_current_leader", &[]) == f64::from(voter)
    })
    .await;
    assert!(led, "the voter is the active controller");
    let m = scrape(cluster.node(broker_only).expect("broker"));
    assert!(
        !m.iter()
            .any(|(n, _, _)| n == "rafka_controller_active" || n.starts_with("rafka_raft_")),
        "a broker-only node renders no controller figure"
    );
    cluster.shutdown().await;
}
