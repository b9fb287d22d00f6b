//! Moving a stopped Kafka node's log dir to Rafka: the single-node adoption at start
//! (Kafka's topic configs and producer ids carried over, seen by a real client) and
//! `rafka migrate --check` (a report, nothing written). The Kafka dir is built with the
//! crate's own writers, which write Kafka's bytes: partition dirs with
//! `partition.metadata` and producer snapshots, and a `__cluster_metadata-0` log of
//! Topic, Partition, Config and ProducerIds records as Kafka's controller writes them.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use rafka::group::records as group_records;
use rafka::log::checkpoint::{self, MetaProperties};
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{batch, LogConfig, LogManager, TopicPartition};
use rafka::metadata::records::{
    config_resource, ConfigRecord, MetadataRecord, PartitionRecord, ProducerIdsRecord, TopicRecord,
};
use rafka::txn::records as txn_records;
use rafka::BrokerBuilder;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use uuid::Uuid;

const ORDERS: Uuid = Uuid::from_u128(0x0df3_58eb_08ea_43a0_b40a_25b5_dff2_ac26);
const COMPACTED: Uuid = Uuid::from_u128(0x06a4_9146_1b0f_452d_a8b4_02f6_8c2a_0195);
const ELSEWHERE: Uuid = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
/// Kafka's next producer id: Kafka handed out every id below it.
const KAFKA_NEXT_PRODUCER_ID: i64 = 3000;

fn topic(name: &str, id: Uuid) -> MetadataRecord {
    TopicRecord {
        name: name.into(),
        topic_id: id,
    }
    .into()
}

fn partition(id: Uuid, index: i32, replicas: Vec<i32>) -> MetadataRecord {
    PartitionRecord::new(id, index, replicas).into()
}

fn config(kind: i8, resource: &str, key: &str, value: &str) -> MetadataRecord {
    ConfigRecord {
        resource_type: kind,
        resource_name: resource.into(),
        name: key.into(),
        value: Some(value.into()),
    }
    .into()
}

/// A data batch of metadata records at `base`, as Kafka's controller writes it.
fn metadata_batch(records: &[MetadataRecord], base: i64) -> Vec<u8> {
    let new: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord::new(None::<Vec<u8>>, r.encode().to_vec()).at(1_700_000_000_000))
        .collect();
    let mut b = encode_batch(&new, 1);
    // the base offset is outside the CRC
    b[..8].copy_from_slice(&base.to_be_bytes());
    b
}

/// Appends `batches` of records to the metadata log at its end; returns the new end.
fn append_metadata(dir: &Path, batches: &[Vec<MetadataRecord>]) -> i64 {
    let md = dir.join("__cluster_metadata-0");
    std::fs::create_dir_all(&md).expect("test setup");
    let path = md.join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap_or_default();
    let mut end = batch::BatchIter::new(&bytes)
        .last()
        .map_or(0, |(_, h)| h.next_offset());
    for b in batches {
        bytes.extend(metadata_batch(b, end));
        end += b.len() as i64;
    }
    std::fs::write(&path, bytes).expect("test setup");
    end
}

/// A stopped single Kafka node's log dir: topics `orders` (2 partitions, retention.ms and
/// max.message.bytes set) and `compacted` (compact, dirty ratio 0.2), each partition with
/// idempotent records. With `extras`, what cannot be carried: an unsupported topic
/// config, a topic hosted on another broker, a broker-level dynamic config.
fn kafka_dir(root: &Path, extras: bool) -> PathBuf {
    let dir = root.join("kafka-data");
    std::fs::create_dir_all(&dir).expect("test setup");
    checkpoint::write_meta_properties(
        &dir.join(checkpoint::META_PROPERTIES_FILE),
        &MetaProperties {
            node_id: 1,
            cluster_id: "HmypeRknS8CPfIwfOU7uOA".into(),
            directory_id: None,
        },
    )
    .expect("test setup");
    let logs = LogManager::open(&dir, LogConfig::default(), 1).expect("test setup");
    let mut pid = 0;
    for (name, n, id) in [("orders", 2, ORDERS), ("compacted", 1, COMPACTED)] {
        for p in 0..n {
            let log = logs
                .get_or_create(
                    &TopicPartition::new(name, p),
                    Some(id),
                    LogConfig::default(),
                )
                .expect("test setup");
            let mut b = encode_batch(
                &[
                    NewRecord::new(Some("k1"), "v1").at(1_700_000_000_000),
                    NewRecord::new(Some("k2"), "v2").at(1_700_000_000_000),
                ],
                0,
            );
            batch::set_producer(&mut b, pid, 0, 0);
            pid += 1;
            log.append(&mut b, 0).expect("test setup");
        }
    }
    // a group's committed offsets, and with extras a transaction in flight
    let offsets = logs
        .get_or_create(
            &TopicPartition::new("__consumer_offsets", 0),
            Some(Uuid::from_u128(9)),
            LogConfig::default(),
        )
        .expect("test setup");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let commit = |p: i32, offset: i64| NewRecord {
        key: Some(group_records::offset_key("billing", "orders", p)),
        value: Some(group_records::offset_value(&group_records::OffsetValue {
            offset,
            leader_epoch: 0,
            metadata: String::new(),
            // recent: older commits of an empty group expire as the broker loads them
            commit_timestamp: now,
        })),
        headers: vec![],
        timestamp: now,
    };
    offsets
        .append(&mut encode_batch(&[commit(0, 2), commit(1, 1)], 0), 0)
        .expect("test setup");
    if extras {
        let txns = logs
            .get_or_create(
                &TopicPartition::new("__transaction_state", 0),
                Some(Uuid::from_u128(10)),
                LogConfig::default(),
            )
            .expect("test setup");
        let value = txn_records::TxnLogValue {
            producer_id: 9,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 0,
            next_producer_epoch: -1,
            timeout_ms: 60_000,
            status: txn_records::TxnStatus::Ongoing,
            partitions: vec![("orders".into(), vec![0])],
            last_update_ms: 1_700_000_000_000,
            start_ms: 1_700_000_000_000,
            client_transaction_version: 0,
        };
        let record = NewRecord {
            key: Some(txn_records::txn_key("payments")),
            value: Some(txn_records::txn_value(&value)),
            headers: vec![],
            timestamp: 1_700_000_000_000,
        };
        txns.append(&mut encode_batch(&[record], 0), 0)
            .expect("test setup");
    }
    logs.shutdown().expect("test setup");
    drop(logs);
    let mut first = vec![
        topic("orders", ORDERS),
        partition(ORDERS, 0, vec![1]),
        partition(ORDERS, 1, vec![1]),
        topic("__consumer_offsets", Uuid::from_u128(9)),
        partition(Uuid::from_u128(9), 0, vec![1]),
        config(
            config_resource::TOPIC,
            "orders",
            "retention.ms",
            "123456789",
        ),
        config(
            config_resource::TOPIC,
            "orders",
            "max.message.bytes",
            "2000000",
        ),
    ];
    if extras {
        first.push(config(
            config_resource::TOPIC,
            "orders",
            "compression.gzip.level",
            "5",
        ));
    }
    let mut batches = vec![
        vec![config(
            config_resource::BROKER,
            "",
            "min.insync.replicas",
            "1",
        )],
        first,
        vec![
            topic("compacted", COMPACTED),
            partition(COMPACTED, 0, vec![1]),
            config(
                config_resource::TOPIC,
                "compacted",
                "cleanup.policy",
                "compact",
            ),
            config(
                config_resource::TOPIC,
                "compacted",
                "min.cleanable.dirty.ratio",
                "0.2",
            ),
        ],
        vec![ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 5,
            next_producer_id: KAFKA_NEXT_PRODUCER_ID,
        }
        .into()],
    ];
    if extras {
        batches.push(vec![
            topic("elsewhere", ELSEWHERE),
            partition(ELSEWHERE, 0, vec![2]),
            config(config_resource::BROKER, "1", "log.retention.hours", "1"),
        ]);
    }
    append_metadata(&dir, &batches);
    dir
}

/// Every file under `dir` with its size, mtime and bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, SystemTime, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let m = std::fs::metadata(&p).expect("metadata");
            if m.is_dir() {
                stack.push(p.clone());
                out.push((p, 0, m.modified().expect("mtime"), Vec::new()));
            } else {
                let bytes = std::fs::read(&p).expect("read");
                out.push((p, m.len(), m.modified().expect("mtime"), bytes));
            }
        }
    }
    out.sort();
    out
}

async fn describe(addr: std::net::SocketAddr, topic: &str) -> Vec<(String, String)> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(20)));
    let res = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &opts)
        .await
        .expect("DescribeConfigs");
    let resource = res
        .into_iter()
        .next()
        .expect("one resource")
        .expect("topic described");
    let mut wanted = Vec::new();
    for key in [
        "retention.ms",
        "max.message.bytes",
        "cleanup.policy",
        "min.cleanable.dirty.ratio",
    ] {
        if let Some(v) = resource.get(key).and_then(|e| e.value.clone()) {
            wanted.push((key.to_string(), v));
        }
    }
    wanted
}

/// A new idempotent producer's id (InitProducerId v4, no transactional id).
async fn init_producer_id(c: &mut support::Client) -> InitProducerIdResponse {
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(r.error_code, 0);
    r
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_log_dir_is_adopted_once_and_again_after_kafka_ran() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), true);
    let metadata_before = tree(&dir.join("__cluster_metadata-0"));
    let meta_before = std::fs::read(dir.join("meta.properties")).expect("meta");

    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts");
    let addr = broker.kafka_addr();
    assert_eq!(
        describe(addr, "orders").await,
        pairs(&[
            ("retention.ms", "123456789"),
            ("max.message.bytes", "2000000"),
            ("cleanup.policy", "delete"),
            ("min.cleanable.dirty.ratio", "0.5"),
        ])
    );
    assert_eq!(
        describe(addr, "compacted").await,
        pairs(&[
            ("retention.ms", "604800000"),
            ("max.message.bytes", "1048588"),
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "0.2"),
        ])
    );
    // no producer id Kafka handed out is handed out again
    let mut c = support::Client::connect(addr).await;
    // Kafka's metadata says leader epoch 0, the epoch its batches carry: Rafka leads in
    // the next one, as Kafka's controller would elect the node at its start, so a client
    // that saw Kafka's epoch (a controlled shutdown bumps it) does not take Rafka's as stale
    let md: kafka_protocol::messages::MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(kafka_protocol::messages::TopicName("orders".into()))),
            ])),
        )
        .await;
    let epochs: Vec<i32> = md.topics[0]
        .partitions
        .iter()
        .map(|p| p.leader_epoch)
        .collect();
    assert_eq!(epochs, vec![1, 1]);
    // the group coordinator serves in that epoch too (it had loaded in Kafka's): the
    // committed offsets are found on the first start
    let committed = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", addr.to_string())
            .set("group.id", "billing")
            .create()
            .expect("consumer");
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition("orders", 0);
        tpl.add_partition("orders", 1);
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(20))
            .expect("committed offsets");
        got.elements()
            .iter()
            .map(|e| e.offset().to_raw().unwrap_or(-1))
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    assert_eq!(committed, vec![2, 1]);
    let r = init_producer_id(&mut c).await;
    assert!(
        r.producer_id.0 >= KAFKA_NEXT_PRODUCER_ID,
        "producer id {} is below Kafka's next, {KAFKA_NEXT_PRODUCER_ID}",
        r.producer_id.0
    );
    broker.shutdown().await.expect("shutdown");
    // Kafka's metadata and identity are as Kafka left them
    assert_eq!(tree(&dir.join("__cluster_metadata-0")), metadata_before);
    assert_eq!(
        std::fs::read(dir.join("meta.properties")).expect("meta"),
        meta_before
    );
    let overrides = dir.join(".rafka/topics/orders.properties");
    assert_eq!(
        std::fs::read_to_string(&overrides).expect("overrides"),
        "max.message.bytes=2000000\nretention.ms=123456789\n",
        "the unsupported key is not carried"
    );

    // a change made in Rafka since: the second start adopts nothing again
    std::fs::write(&overrides, "max.message.bytes=2000000\nretention.ms=5000\n").expect("edit");
    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts");
    assert_eq!(
        describe(broker.kafka_addr(), "orders").await[0],
        pairs(&[("retention.ms", "5000")])[0]
    );
    broker.shutdown().await.expect("shutdown");

    // Kafka ran on the dir again and changed a config: adopted again
    let end = append_metadata(
        &dir,
        &[vec![config(
            config_resource::TOPIC,
            "orders",
            "retention.ms",
            "777000",
        )]],
    );
    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts");
    assert_eq!(
        describe(broker.kafka_addr(), "orders").await[0],
        pairs(&[("retention.ms", "777000")])[0]
    );
    broker.shutdown().await.expect("shutdown");
    let marker = std::fs::read_to_string(dir.join(".rafka/kafka-adopted")).expect("marker");
    assert!(
        marker.contains(&format!("metadata.end.offset={end}\n")),
        "{marker}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_check_reports_without_writing_anything() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), false);
    let before = tree(&dir);
    let path = dir.to_str().expect("utf-8 path");
    let run = support::run::rafka(&["migrate", "--check", path], b"").await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for line in [
        "node id: 1 (start Rafka with --node-id 1)",
        "cluster id: HmypeRknS8CPfIwfOU7uOA",
        "clean shutdown: yes",
        "metadata: end offset 13, snapshot none, 13 records",
        "  orders: id DfNY6wjqQ6C0CiW13_KsJg, partitions here [0, 1], not hosted here []",
        "    configs carried: max.message.bytes=2000000, retention.ms=123456789",
        "    configs carried: cleanup.policy=compact, min.cleanable.dirty.ratio=0.2",
        "broker config (cluster default): min.insync.replicas=1 (Rafka's default too)",
        "producer ids: Kafka's next is 3000",
        "  orders-1: topic id DfNY6wjqQ6C0CiW13_KsJg, log start 0, log end 2, producer snapshot at 2: 1 producer(s), 0 open transaction(s)",
        "consumer groups: 1\n  billing: orders-0@2, orders-1@1\n",
        "transactional ids: 0",
        "verdict: everything can be carried over",
    ] {
        assert!(run.stdout.contains(line), "no {line:?} in\n{}", run.stdout);
    }
    assert_eq!(tree(&dir), before, "the check wrote nothing");

    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), true);
    let before = tree(&dir);
    let path = dir.to_str().expect("utf-8 path");
    let run = support::run::rafka(&["migrate", "--check", path], b"").await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    for line in [
        "  payments: Ongoing",
        "verdict: 4 thing(s) cannot be carried over:",
        "  - transaction payments is Ongoing (in flight)",
        "  - topic orders: config compression.gzip.level=5 (not supported by Rafka)",
        "  - topic elsewhere: partitions [0] are not hosted on this node",
        "  - broker config log.retention.hours=1 (broker 1): set it in Rafka's configuration",
    ] {
        assert!(run.stdout.contains(line), "no {line:?} in\n{}", run.stdout);
    }
    assert_eq!(tree(&dir), before, "the check wrote nothing");
    // one node of a cluster: another node's partitions are the quorum's to carry (the
    // broker config still is not: Rafka's brokers run with their own configuration)
    let run = support::run::rafka(&["migrate", "--check", "--cluster", path], b"").await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("verdict: 3 thing(s) cannot be carried over:")
            && !run.stdout.contains("are not hosted on this node"),
        "{}",
        run.stdout
    );

    let run = support::run::rafka(&["migrate", "--check", "/nonexistent/kafka"], b"").await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_kafka_dir_is_refused_with_the_flag_to_use_and_left_alone() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), false);
    let path = dir.to_str().expect("utf-8 path");
    let run = support::run::rafka(
        &[
            "serve",
            "--data-dir",
            path,
            "--node-id",
            "2",
            "--listener",
            "127.0.0.1:0",
            "--text-listener",
            "127.0.0.1:0",
            "--http-listener",
            "",
        ],
        b"",
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("start with --node-id 1"),
        "{}",
        run.stderr
    );
    assert!(
        !dir.join(".rafka").exists(),
        "nothing adopted for another node"
    );
}

/// The way back: a dir Rafka adopted and changed (a new topic with a config, producer
/// ids handed out) is handed to Kafka by `--to-kafka`: Kafka's metadata snapshot names
/// every topic with its id and configs, this node as the partitions' replica and ISR with
/// no leader, and a producer id block past Rafka's; `.rafka/` and the older Kafka metadata
/// are moved beside the dir; a second run refuses; and Rafka adopts the result again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_rafka_ran_on_is_handed_back_to_kafka_with_its_topics_configs_and_producer_ids() {
    use rafka::migrate::{kafka_metadata, to_kafka, MigrateError};
    use rdkafka::admin::{NewTopic, TopicReplication};
    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), false);
    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts");
    let addr = broker.kafka_addr();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .expect("admin");
    let made = admin
        .create_topics(
            &[NewTopic::new("fresh", 3, TopicReplication::Fixed(1))
                .set("retention.ms", "4242")
                .set("cleanup.policy", "compact")],
            &AdminOptions::new(),
        )
        .await
        .expect("create");
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    let mut c = support::Client::connect(addr).await;
    let r = init_producer_id(&mut c).await;
    let rafka_pid = r.producer_id.0;
    drop(admin);
    broker.shutdown().await.expect("shutdown");
    // (orders-0's records are older than its retention.ms: the broker deleted them)
    let segment = dir.join("compacted-0/00000000000000000000.log");
    let records_before = std::fs::read(&segment).expect("segment");

    let h = to_kafka::hand_over(&dir).expect("handed over");
    assert!(
        !dir.join(".rafka").exists(),
        "Kafka refuses a log dir with .rafka/"
    );
    assert!(h.backup.join(".rafka/topics").is_dir());
    assert!(
        h.backup.join("__cluster_metadata-0").is_dir(),
        "the Kafka metadata Rafka adopted is kept beside the dir"
    );
    assert_eq!(std::fs::read(&segment).expect("segment"), records_before);

    let md = kafka_metadata::read(&dir.join("__cluster_metadata-0")).expect("Kafka's metadata");
    assert_eq!(
        md.snapshot_id.as_deref(),
        h.snapshot.file_stem().and_then(|s| s.to_str())
    );
    let image = &md.image;
    assert_eq!(image.features.get("metadata.version"), Some(&25));
    assert_eq!(image.features.get("transaction.version"), Some(&2));
    for (name, partitions) in [("orders", 2), ("compacted", 1), ("fresh", 3)] {
        let t = image
            .topic(name)
            .unwrap_or_else(|| panic!("{name} in Kafka's metadata"));
        assert_eq!(t.partitions.len(), partitions, "{name}");
        let on_disk = checkpoint::read_partition_metadata(
            &dir.join(format!("{name}-0")).join("partition.metadata"),
        )
        .expect("partition.metadata");
        assert_eq!(Some(t.id), on_disk, "{name}'s topic id");
        for p in t.partitions.values() {
            assert_eq!(
                (p.replicas.as_slice(), p.isr.as_slice(), p.leader),
                (&[1][..], &[1][..], -1)
            );
        }
    }
    assert_eq!(image.topic("orders").map(|t| t.id), Some(ORDERS));
    let configs = |name: &str| {
        image
            .configs
            .get(&(config_resource::TOPIC, name.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        configs("orders").get("retention.ms").map(String::as_str),
        Some("123456789")
    );
    assert_eq!(
        configs("fresh").get("retention.ms").map(String::as_str),
        Some("4242")
    );
    assert_eq!(
        configs("fresh").get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    let next = image.producer_ids.as_ref().map(|p| p.next_producer_id);
    assert!(
        next.is_some_and(|n| n > rafka_pid),
        "Kafka's next producer id {next:?} must pass Rafka's {rafka_pid}"
    );

    // a second run would lose the overrides: refused
    assert!(matches!(
        to_kafka::hand_over(&dir),
        Err(MigrateError::NothingToHandOver(_))
    ));

    // and Rafka can come back: it adopts what was handed over
    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts");
    let fresh = describe(broker.kafka_addr(), "fresh").await;
    assert!(
        fresh.contains(&("retention.ms".to_string(), "4242".to_string())),
        "{fresh:?}"
    );
    broker.shutdown().await.expect("shutdown");
}

/// Apache Kafka locks `.lock` with `fcntl` (Java's `FileChannel.tryLock`), which a `flock`
/// does not see. A process holding that lock (Python's `lockf`, the same lock) stands in
/// for a running Kafka: Rafka neither adopts nor opens the dir; and while Rafka serves a
/// dir, the same lock cannot be taken, so a Kafka started on it refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_locked_as_kafka_locks_it_is_left_alone_and_rafka_holds_that_lock_too() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let root = tempfile::tempdir().expect("tempdir");
    let dir = kafka_dir(root.path(), false);
    let lock = dir.join(".lock");
    let hold = "import fcntl, sys, time\n\
                f = open(sys.argv[1], 'a')\n\
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
                print('locked', flush=True)\n\
                sys.stdin.read()\n";
    let mut kafka = Command::new("python3")
        .args(["-c", hold, lock.to_str().expect("utf-8")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(kafka.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "locked");
    let before = tree(&dir);
    let Err(err) = BrokerBuilder::for_tests(&dir).start().await else {
        panic!("a dir Kafka serves is refused");
    };
    assert!(err.to_string().contains("in use"), "{err}");
    assert!(matches!(
        rafka::migrate::to_kafka::hand_over(&dir),
        Err(rafka::migrate::MigrateError::Log(
            rafka::log::LogError::DirInUse(_)
        ))
    ));
    assert_eq!(tree(&dir), before, "nothing written beside a running Kafka");
    drop(kafka.stdin.take());
    kafka.wait().expect("python exits");

    let broker = BrokerBuilder::for_tests(&dir)
        .start()
        .await
        .expect("starts once Kafka is gone");
    let try_lock = "import fcntl, sys\n\
                    f = open(sys.argv[1], 'a')\n\
                    try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('locked')\n\
                    except OSError:\n    print('busy')\n";
    let out = Command::new("python3")
        .args(["-c", try_lock, lock.to_str().expect("utf-8")])
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "busy");
    broker.shutdown().await.expect("shutdown");
}
