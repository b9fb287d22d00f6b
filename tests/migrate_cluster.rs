//! Rafka started on the stopped nodes of a Kafka KRaft cluster: three data dirs as Kafka's
//! nodes leave them (a `__cluster_metadata-0` of Kafka's format, `meta.properties` with
//! Kafka's cluster id, partition dirs with data), each taken by a combined Rafka node with
//! the same node id. The quorum adopts Kafka's topic, partitions, configs and producer ids;
//! the data is served; the cluster keeps Kafka's cluster id; a restart adopts nothing
//! again.

mod support;

use support::eventually;

use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, MetadataResponse,
};
use rafka::log::checkpoint::{self, MetaProperties};
use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{LogConfig, PartitionLog, TopicPartition};
use rafka::metadata::metadata_log::{
    append_batch, CLUSTER_METADATA_TOPIC, CLUSTER_METADATA_TOPIC_ID,
};
use rafka::metadata::records::{
    config_resource, ConfigRecord, FeatureLevelRecord, MetadataRecord, PartitionChangeRecord,
    PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord, TopicRecord,
};
use rafka::{ClusterBuilder, ClusterHandle};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use uuid::Uuid;

const TOPIC: &str = "kafka-orders";
const PARTITIONS: i32 = 3;
const RECORDS_EACH: usize = 5;
const KAFKA_CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qg";
const TOPIC_ID: Uuid = Uuid::from_u128(0x6b61_666b_615f_746f_7069_635f_6964_0001);
const NEXT_PRODUCER_ID: i64 = 7_000;
const RETENTION_MS: &str = "86400000";
const KAFKA_LEADER_EPOCH: i32 = 4;
/// The partition Kafka left with only eligible leader replicas (3 and 1).
const ELR_PARTITION: i32 = 2;
/// The broker-only node.
const BROKER_ONLY: i32 = 4;

fn open_log(dir: &Path, tp: TopicPartition, topic_id: Uuid) -> PartitionLog {
    let opts = LoadOptions {
        clean_shutdown: false,
        recovery_point: 0,
        log_start_offset: 0,
    };
    PartitionLog::open(
        dir.to_path_buf(),
        tp,
        LogConfig::default(),
        Some(topic_id),
        opts,
    )
    .expect("test setup: log opens")
    .0
}

/// What Kafka's metadata log holds: brokers registered, the topic with its partitions
/// (leader 2, ISR all three, leader epoch 4), a retention config, a producer id block.
fn kafka_metadata_records() -> Vec<Vec<MetadataRecord>> {
    let features = vec![FeatureLevelRecord {
        name: "metadata.version".into(),
        feature_level: 25,
    }
    .into()];
    let brokers = (1..=3)
        .map(|id| {
            RegisterBrokerRecord {
                broker_id: id,
                is_migrating_zk_broker: false,
                incarnation_id: Uuid::from_u128(0x1000 + id as u128),
                broker_epoch: 10 + i64::from(id),
                end_points: vec![],
                features: vec![],
                rack: None,
                fenced: false,
                in_controlled_shutdown: false,
                log_dirs: vec![],
            }
            .into()
        })
        .collect();
    let mut topic: Vec<MetadataRecord> = vec![TopicRecord {
        name: TOPIC.into(),
        topic_id: TOPIC_ID,
    }
    .into()];
    for p in 0..PARTITIONS {
        topic.push(
            PartitionRecord {
                partition_id: p,
                topic_id: TOPIC_ID,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 2,
                leader_recovery_state: 0,
                leader_epoch: KAFKA_LEADER_EPOCH,
                partition_epoch: 6,
                directories: vec![],
                eligible_leader_replicas: None,
                last_known_elr: None,
            }
            .into(),
        );
    }
    // Kafka 4's controlled shutdown of the last brokers leaves a partition with an empty
    // ISR and its eligible leader replicas (KIP-966), as DumpLogSegments shows
    let mut elr = PartitionChangeRecord::new(TOPIC_ID, ELR_PARTITION);
    elr.isr = Some(vec![]);
    elr.leader = -1;
    elr.eligible_leader_replicas = Some(vec![3, 1]);
    elr.last_known_elr = Some(vec![3, 1]);
    topic.push(elr.into());
    let config = vec![
        ConfigRecord {
            resource_type: config_resource::TOPIC,
            resource_name: TOPIC.into(),
            name: "retention.ms".into(),
            value: Some(RETENTION_MS.into()),
        }
        .into(),
        // a key Kafka has and Rafka does not (Kafka writes it for __consumer_offsets): the
        // topic is hosted all the same
        ConfigRecord {
            resource_type: config_resource::TOPIC,
            resource_name: TOPIC.into(),
            name: "compression.type".into(),
            value: Some("producer".into()),
        }
        .into(),
    ];
    let pids = vec![ProducerIdsRecord {
        broker_id: 1,
        broker_epoch: 11,
        next_producer_id: NEXT_PRODUCER_ID,
    }
    .into()];
    vec![features, brokers, topic, config, pids]
}

/// The control batch Kafka's Raft client writes first when node 1 becomes leader in epoch
/// 1: one LeaderChange record (key: version 0, type 2; value: LeaderChangeMessage v0 with
/// the three voters, node 1 granting).
fn leader_change_batch() -> Vec<u8> {
    let voter = |id: i32| {
        let mut v = id.to_be_bytes().to_vec();
        v.push(0); // no tagged fields
        v
    };
    let mut value = vec![0, 0]; // Version
    value.extend(1i32.to_be_bytes()); // LeaderId
    value.push(4); // Voters: a compact array of 3
    for id in 1..=3 {
        value.extend(voter(id));
    }
    value.push(2); // GrantingVoters: 1
    value.extend(voter(1));
    value.push(0);
    let record = NewRecord::new(Some(vec![0u8, 0, 0, 2]), value).at(1_700_000_000_000);
    let mut batch = encode_batch(&[record], 1);
    // the control attribute, and the CRC again (it covers the attributes on)
    batch[21..23].copy_from_slice(&0x20i16.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn record_value(p: i32, i: usize) -> String {
    format!("from-kafka-{p}-{i}")
}

/// One data dir as Kafka node `id` leaves it (a broker-only node has no replicas here).
fn kafka_node(data: &Path, id: i32) {
    std::fs::create_dir_all(data).expect("test setup");
    checkpoint::write_meta_properties(
        &data.join("meta.properties"),
        &MetaProperties {
            node_id: id,
            cluster_id: KAFKA_CLUSTER_ID.into(),
            directory_id: Some(Uuid::from_u128(0xd1d0 + id as u128)),
        },
    )
    .expect("test setup");
    // the metadata log, with Kafka's partition.metadata (the metadata topic's id) and
    // quorum-state (v1, as Kafka 4 writes it)
    let meta_dir = data.join("__cluster_metadata-0");
    let log = open_log(
        &meta_dir,
        TopicPartition::new(CLUSTER_METADATA_TOPIC, 0),
        CLUSTER_METADATA_TOPIC_ID,
    );
    log.append_as_follower(&leader_change_batch())
        .expect("test setup: control batch");
    assert_eq!(
        log.log_end_offset(),
        1,
        "the LeaderChange batch at offset 0"
    );
    for batch in kafka_metadata_records() {
        append_batch(&log, &batch, 1, 1_700_000_000_000).expect("test setup: batch");
    }
    drop(log);
    std::fs::write(
        meta_dir.join("quorum-state"),
        "{\"leaderId\":1,\"leaderEpoch\":1,\"votedId\":-1,\
         \"votedDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"data_version\":1}",
    )
    .expect("test setup");
    assert!(meta_dir.join("partition.metadata").exists());
    if id == BROKER_ONLY {
        return;
    }
    // the topic's partitions, each replica with the same records in leader epoch 4
    for p in 0..PARTITIONS {
        let log = open_log(
            &data.join(format!("{TOPIC}-{p}")),
            TopicPartition::new(TOPIC, p),
            TOPIC_ID,
        );
        // (recent: retention.ms is a day)
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let records: Vec<NewRecord> = (0..RECORDS_EACH)
            .map(|i| NewRecord::new(None::<Vec<u8>>, record_value(p, i)).at(now))
            .collect();
        let mut bytes = encode_batch(&records, KAFKA_LEADER_EPOCH);
        log.append(&mut bytes, KAFKA_LEADER_EPOCH)
            .expect("test setup: data");
        log.flush().expect("test setup: flush");
    }
}

async fn start(dir: &Path) -> ClusterHandle {
    let cluster = ClusterBuilder::new(3, dir)
        .brokers(1)
        .configure(|_, c| {
            c.cluster.broker_session_timeout_ms = 3_000;
            c.cluster.broker_heartbeat_interval_ms = 300;
            c.cluster.replica_lag_time_max_ms = 3_000;
            c.cluster.replica_fetch_backoff_ms = 100;
        })
        .start()
        .await
        .expect("cluster starts");
    let ready = eventually(Duration::from_secs(30), || {
        cluster.ids().iter().all(|&id| {
            cluster.node(id).is_some_and(|h| {
                let md = h.broker().metadata();
                md.brokers.len() == 4
                    && md.topics.as_ref().is_some_and(|t| {
                        t.get(TOPIC)
                            .is_some_and(|t| t.partitions.iter().all(|p| p.leader >= 0))
                    })
            })
        })
    })
    .await;
    assert!(
        ready,
        "every broker registered and the adopted partitions led"
    );
    cluster
}

async fn metadata(cluster: &ClusterHandle) -> MetadataResponse {
    let addr = cluster.node(1).expect("node 1").kafka_addr();
    let mut client = support::Client::connect(addr).await;
    client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await
}

/// Every record of the topic, by partition, read from the beginning.
fn read_all(bootstrap: &str, expected: usize) -> Vec<(i32, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "migrate-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            out.push((m.partition(), v));
        }
    }
    out.sort();
    out
}

/// The TopicRecords in a node's Rafka metadata log (read after the node stopped).
fn topic_records_in_log(data: &Path) -> usize {
    let read = rafka::migrate::kafka_metadata::read(&data.join("__cluster_metadata-0"))
        .expect("the quorum's log reads");
    read.records
        .iter()
        .filter(|r| matches!(r, MetadataRecord::TopicRecord(t) if t.name == TOPIC))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_cluster_is_adopted_by_rafka_on_its_data_dirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for id in 1..=BROKER_ONLY {
        kafka_node(&dir.path().join(format!("node-{id}")), id);
    }
    let mut cluster = start(dir.path()).await;
    for id in 1..=BROKER_ONLY {
        let data = dir.path().join(format!("node-{id}"));
        assert!(
            data.join("__cluster_metadata-0.kafka").is_dir(),
            "Kafka's metadata log moved aside on node {id}"
        );
    }
    let bootstrap = cluster.bootstrap_servers();

    // the topic with Kafka's id; leaders elected from the ISR in a new leader epoch
    let md = metadata(&cluster).await;
    assert_eq!(
        md.cluster_id.as_ref().map(|s| s.to_string()).as_deref(),
        Some(KAFKA_CLUSTER_ID)
    );
    let topic = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == TOPIC))
        .expect("the adopted topic is listed");
    assert_eq!(topic.topic_id, TOPIC_ID);
    assert_eq!(topic.partitions.len(), PARTITIONS as usize);
    for p in &topic.partitions {
        assert_eq!(p.error_code, 0);
        assert!([1, 2, 3].contains(&p.leader_id.0), "{p:?}");
        assert!(p.leader_epoch > KAFKA_LEADER_EPOCH, "{p:?}");
        if p.partition_index == ELR_PARTITION {
            assert!(
                [1, 3].contains(&p.leader_id.0),
                "an eligible replica leads: {p:?}"
            );
        }
        let mut replicas: Vec<i32> = p.replica_nodes.iter().map(|r| r.0).collect();
        replicas.sort();
        assert_eq!(replicas, vec![1, 2, 3]);
    }

    // DescribeCluster: Kafka's cluster id, on a voter and on the broker-only node
    for id in [2, BROKER_ONLY] {
        let addr = cluster.node(id).expect("node").kafka_addr();
        let mut client = support::Client::connect(addr).await;
        let resp: DescribeClusterResponse = client
            .call(
                ApiKey::DescribeCluster,
                0,
                &DescribeClusterRequest::default(),
            )
            .await;
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.cluster_id.as_str(), KAFKA_CLUSTER_ID);
    }

    // Kafka's records are served
    let expected: Vec<(i32, String)> = {
        let mut v: Vec<(i32, String)> = (0..PARTITIONS)
            .flat_map(|p| (0..RECORDS_EACH).map(move |i| (p, record_value(p, i))))
            .collect();
        v.sort();
        v
    };
    let b = bootstrap.clone();
    let n = expected.len();
    let read = tokio::task::spawn_blocking(move || read_all(&b, n))
        .await
        .expect("reader");
    assert_eq!(read, expected);

    // the topic's config
    {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("admin");
        let configs = admin
            .describe_configs(&[ResourceSpecifier::Topic(TOPIC)], &AdminOptions::new())
            .await
            .expect("describe_configs answered");
        let resource = configs
            .into_iter()
            .next()
            .expect("one resource")
            .expect("described");
        let retention = resource.get("retention.ms").and_then(|e| e.value.clone());
        assert_eq!(retention.as_deref(), Some(RETENTION_MS));
    }

    // acks=all produce
    {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create()
            .expect("producer");
        let delivered = producer
            .send(
                FutureRecord::<(), str>::to(TOPIC)
                    .partition(1)
                    .payload("from-rafka"),
                Duration::from_secs(30),
            )
            .await
            .expect("delivered");
        assert_eq!(
            delivered.offset, RECORDS_EACH as i64,
            "after Kafka's records"
        );
    }

    // producer ids continue after Kafka's block
    {
        let addr = cluster.node(3).expect("node 3").kafka_addr();
        let mut client = support::Client::connect(addr).await;
        let req = InitProducerIdRequest::default()
            .with_transaction_timeout_ms(-1)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1);
        let resp: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &req).await;
        assert_eq!(resp.error_code, 0);
        assert!(resp.producer_id.0 >= NEXT_PRODUCER_ID, "{resp:?}");
    }

    // the whole cluster stopped and started again: nothing adopted twice
    // (the image also holds __consumer_offsets, made by the reader's group)
    let image_topics = |c: &ClusterHandle| {
        c.node(1)
            .and_then(|h| h.controller().cloned())
            .map(|ctl| {
                ctl.image().read(|i| {
                    let mut t: Vec<(String, Uuid, usize)> = i
                        .topics()
                        .map(|t| (t.name.clone(), t.id, t.partitions.len()))
                        .collect();
                    t.sort();
                    t
                })
            })
            .unwrap_or_default()
    };
    // every voter noted the adoption done (the leader at once, the others as they see it)
    let noted = eventually(Duration::from_secs(10), || {
        (1..=3).all(|id| {
            dir.path()
                .join(format!("node-{id}/.rafka/kafka-metadata.adopted"))
                .exists()
        })
    })
    .await;
    assert!(noted, "every voter marked its saved Kafka metadata adopted");
    let before = image_topics(&cluster);
    assert!(
        before.contains(&(TOPIC.to_string(), TOPIC_ID, PARTITIONS as usize)),
        "{before:?}"
    );
    for id in [BROKER_ONLY, 3, 2] {
        cluster.stop(id).await.expect("stops");
    }
    cluster.kill(1);
    for id in 1..=3 {
        let data = dir.path().join(format!("node-{id}"));
        assert_eq!(topic_records_in_log(&data), 1, "node {id}: adopted once");
    }
    for id in 1..=BROKER_ONLY {
        cluster.restart(id).await.expect("restarts");
    }
    let ready = eventually(Duration::from_secs(30), || {
        cluster.ids().iter().all(|&id| {
            cluster
                .node(id)
                .is_some_and(|h| h.broker().metadata().brokers.len() == 4)
        })
    })
    .await;
    assert!(ready, "every broker registered again");
    assert_eq!(image_topics(&cluster), before);
    let md = metadata(&cluster).await;
    assert_eq!(
        md.cluster_id.as_ref().map(|s| s.to_string()).as_deref(),
        Some(KAFKA_CLUSTER_ID)
    );
    let ids: Vec<Uuid> = md
        .topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.as_str() == TOPIC))
        .map(|t| t.topic_id)
        .collect();
    assert_eq!(ids, vec![TOPIC_ID]);
    let mut expected = expected;
    expected.push((1, "from-rafka".to_string()));
    expected.sort();
    let b = cluster.bootstrap_servers();
    let n = expected.len();
    let read = tokio::task::spawn_blocking(move || read_all(&b, n))
        .await
        .expect("reader");
    assert_eq!(read, expected, "the records unchanged");
    cluster.shutdown().await;
    for id in 1..=3 {
        let data = dir.path().join(format!("node-{id}"));
        assert_eq!(
            topic_records_in_log(&data),
            1,
            "node {id}: still adopted once"
        );
    }
}
