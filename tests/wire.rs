//! The Kafka wire server through real frames on a real socket.

mod support;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{batch, start_broker, Client};

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

#[tokio::test]
async fn api_versions_lists_what_is_implemented() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    for version in 0..=4 {
        let r: ApiVersionsResponse = c
            .call(ApiKey::ApiVersions, version, &ApiVersionsRequest::default())
            .await;
        assert_eq!(r.error_code, 0);
        let produce = r
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce as i16)
            .expect("produce");
        assert_eq!(
            (produce.min_version, produce.max_version),
            (0, 13),
            "Produce advertised from v0 as Kafka 4 does"
        );
        let advertised = |key: ApiKey| r.api_keys.iter().find(|k| k.api_key == key as i16);
        let join = advertised(ApiKey::JoinGroup).expect("JoinGroup");
        assert_eq!((join.min_version, join.max_version), (0, 9));
        // transactions: clients' versions, and AddPartitionsToTxn v4-v5 for brokers
        for (key, want) in [
            (ApiKey::AddPartitionsToTxn, (0, 5)),
            (ApiKey::AddOffsetsToTxn, (0, 4)),
            (ApiKey::EndTxn, (0, 5)),
            (ApiKey::TxnOffsetCommit, (0, 5)),
            (ApiKey::WriteTxnMarkers, (1, 1)),
        ] {
            let a = advertised(key).expect("advertised");
            assert_eq!((a.min_version, a.max_version), want, "{key:?}");
        }
        // KIP-848's consumer group protocol, at Kafka 4's versions
        for key in [
            ApiKey::ConsumerGroupHeartbeat,
            ApiKey::ConsumerGroupDescribe,
        ] {
            let a = advertised(key).expect("advertised");
            assert_eq!((a.min_version, a.max_version), (0, 1), "{key:?}");
        }
        // KIP-890's transaction version 2, finalized from v3 (KIP-584's features)
        if version >= 3 {
            let finalized: Vec<(String, i16, i16)> = r
                .finalized_features
                .iter()
                .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
                .collect();
            assert_eq!(finalized, vec![("transaction.version".to_string(), 2, 2)]);
            assert!(r.finalized_features_epoch >= 0);
        }
    }
    broker.shutdown().await.expect("shutdown");
}

/// KIP-511: an ApiVersions version the broker does not know gets UNSUPPORTED_VERSION and
/// the supported list in a v0 body (with a v0 header).
#[tokio::test]
async fn unknown_api_versions_version_gets_v0_answer() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    // a future version: header v2 (key 18, version 9, correlation id 77, client id "x",
    // no tagged fields), then a body no one can decode
    let mut frame = vec![0, 18, 0, 9, 0, 0, 0, 77, 0, 1, b'x', 0, 0xde, 0xad];
    let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
    sized.append(&mut frame);
    c.send_raw(&sized).await;
    let r: ApiVersionsResponse = c.recv(ApiKey::ApiVersions, 0, 77).await;
    assert_eq!(r.error_code, 35);
    assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::Fetch as i16));
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn create_produce_fetch_list_offsets_round_trip() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic_name("orders"))
        .with_num_partitions(2)
        .with_replication_factor(1)]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].num_partitions, 2);
    let again: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");

    // Metadata v12: the topic with its id and both partitions led by this broker
    let md: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].port, i32::from(broker.kafka_addr().port()));
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("orders"))
        .expect("topic");
    assert_eq!(t.topic_id, r.topics[0].topic_id);
    assert_eq!(t.partitions.len(), 2);
    // by id, as the Java client asks for a topic it knows only by id (a KIP-848
    // assignment): the name it sends beside the id is "", its field's default
    let by_id: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_topic_id(t.topic_id)
                    .with_name(Some(topic_name(""))),
            ])),
        )
        .await;
    assert_eq!(by_id.topics.len(), 1);
    assert_eq!(by_id.topics[0].error_code, 0, "{:?}", by_id.topics[0]);
    assert_eq!(
        by_id.topics[0].name.as_ref().map(|n| n.0.as_str()),
        Some("orders")
    );

    for version in [3i16, 7, 9, 12] {
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name("orders"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(1)
                        .with_records(Some(batch(&[(Some("k"), "v1"), (None, "v2")]))),
                ])]);
        let r: ProduceResponse = c.call(ApiKey::Produce, version, &produce).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "v{version}");
    }
    let fetch = FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name("orders"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(1)
                .with_fetch_offset(3)
                .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 8);
    let records = p.records.clone().expect("records");
    let mut decoded = Vec::new();
    for (at, h) in rafka::log::batch::BatchIter::new(&records) {
        decoded.extend(
            rafka::log::records::decode_batch(&records[at..at + h.size().expect("size")])
                .expect("decode"),
        );
    }
    assert_eq!(
        decoded[0].offset, 2,
        "starts with the whole batch holding offset 3"
    );
    assert_eq!(decoded.last().expect("records").offset, 7);
    assert_eq!(decoded[1].value.as_deref(), Some(&b"v2"[..]));

    let lo = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name("orders"))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(1)
                    .with_timestamp(-2),
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(1)
                    .with_timestamp(-1),
            ])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &lo).await;
    let offsets: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, vec![0, 0, 8]);
    broker.shutdown().await.expect("shutdown");
}

/// A fetch at the log end waits (no busy answer) and is answered as soon as an append
/// arrives, well before max_wait_ms.
#[tokio::test]
async fn fetch_long_poll_is_woken_by_an_append() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("lp", 1, 1, Default::default(), false)
        .expect("topic");
    let mut consumer = Client::connect(broker.kafka_addr()).await;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name("lp"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let start = std::time::Instant::now();
    let id = consumer.send(ApiKey::Fetch, 12, &fetch).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut producer = Client::connect(broker.kafka_addr()).await;
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name("lp"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_records(Some(batch(&[(None, "wake up")]))),
            ])]);
    let _: ProduceResponse = producer.call(ApiKey::Produce, 9, &produce).await;
    let r: FetchResponse = consumer.recv(ApiKey::Fetch, 12, id).await;
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "answered on append, not at max_wait"
    );
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .expect("records")
        .is_empty());
    broker.shutdown().await.expect("shutdown");
}

/// Graceful shutdown seals the logs and writes the clean shutdown marker; the next start
/// consumes the marker (no recovery) and serves the same records under the same topic id.
#[tokio::test]
async fn restart_after_graceful_shutdown_serves_the_same_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = rafka::BrokerBuilder::for_tests(dir.path())
        .start()
        .await
        .expect("start");
    let topic = broker
        .broker()
        .create_topic("kept", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name("kept"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_records(Some(batch(&[(Some("a"), "1"), (Some("b"), "2")]))),
            ])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    broker.shutdown().await.expect("shutdown");
    assert!(
        dir.path().join(".kafka_cleanshutdown").exists(),
        "clean shutdown marker written"
    );

    let broker = rafka::BrokerBuilder::for_tests(dir.path())
        .start()
        .await
        .expect("restart");
    assert!(
        !dir.path().join(".kafka_cleanshutdown").exists(),
        "marker consumed at start"
    );
    assert_eq!(broker.broker().topic("kept").expect("topic").id, topic.id);
    let log = broker.broker().topic("kept").expect("topic").partitions[0].clone();
    assert_eq!(log.log_end_offset(), 2);
    let data = log
        .read(0, 1 << 20, true, rafka::partition::ReadBound::HighWatermark)
        .expect("read");
    let recs = rafka::log::records::decode_batch(&data.records).expect("decode");
    assert_eq!(recs[1].value.as_deref(), Some(&b"2"[..]));
    broker.shutdown().await.expect("shutdown");
}

/// Produce v0-v2 and Fetch v0-v3 are advertised (as Kafka 4.0 does, for librdkafka) but not
/// served: each partition gets UNSUPPORTED_VERSION (35), and the connection stays usable.
#[tokio::test]
async fn old_produce_and_fetch_versions_get_unsupported_version() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    // Produce v2: acks 1, timeout 1000, topic "t", partition 4 with an empty record set
    let mut body = vec![
        0, 1, 0, 0, 3, 232, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0,
    ];
    // header v1: key 0, version 2, correlation id 41, null client id
    let mut frame = vec![0, 0, 0, 2, 0, 0, 0, 41, 0xff, 0xff];
    frame.append(&mut body);
    let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
    sized.append(&mut frame);
    c.send_raw(&sized).await;
    let resp = c
        .recv_frame()
        .await
        .expect("an answer, not a closed connection");
    assert_eq!(&resp[..4], &41i32.to_be_bytes());
    // topics: 1, "t", partitions: 1, index 4, error 35
    assert_eq!(&resp[4..8], &1i32.to_be_bytes());
    assert_eq!(&resp[15..19], &4i32.to_be_bytes());
    assert_eq!(&resp[19..21], &35i16.to_be_bytes());
    // the same connection still serves a current request
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    broker.shutdown().await.expect("shutdown");
}

/// `max.connections`: a connection over the limit is closed at once; the others are served.
#[tokio::test]
async fn connections_over_max_connections_are_closed() {
    let (broker, _dir) = support::start_broker_with(|c| c.max_connections = 2).await;
    let mut a = Client::connect(broker.kafka_addr()).await;
    let mut b = Client::connect(broker.kafka_addr()).await;
    let _: ApiVersionsResponse = a
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let _: ApiVersionsResponse = b
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let mut third = Client::connect(broker.kafka_addr()).await;
    assert!(
        third.is_closed_by_broker().await,
        "the third connection is refused"
    );
    let _: ApiVersionsResponse = a
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut fourth = Client::connect(broker.kafka_addr()).await;
    let r: ApiVersionsResponse = fourth
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0, "a freed slot is usable again");
    broker.shutdown().await.expect("shutdown");
}

/// Deleting a topic while it is created again under the same name (auto-creation racing a
/// DeleteTopics) must never hand the new topic the old data or delete its files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_racing_recreate_never_mixes_old_and_new_data() {
    let (handle, dir) = start_broker().await;
    let broker = std::sync::Arc::clone(handle.broker());
    for round in 0..20 {
        let t = broker
            .create_topic("race", 8, 1, Default::default(), false)
            .expect("create");
        for p in &t.partitions {
            p.append(
                &rafka::log::records::encode_batch(
                    &[rafka::log::records::NewRecord::new(None::<Vec<u8>>, "old").at(1)],
                    0,
                ),
                rafka::partition::AppendOrigin::Client,
            )
            .expect("append");
        }
        let b = std::sync::Arc::clone(&broker);
        let deleter = std::thread::spawn(move || b.delete_topic("race").is_ok());
        let created = broker.create_topic("race", 8, 1, Default::default(), false);
        assert!(
            deleter.join().expect("deleter"),
            "round {round}: the delete went through"
        );
        if let Ok(t) = created {
            for p in &t.partitions {
                assert_eq!(
                    p.log_end_offset(),
                    0,
                    "round {round}: a new topic starts empty"
                );
                assert!(p.dir().exists(), "round {round}: its directory exists");
                let tp = p.topic_partition();
                let registered = broker.logs().get(tp).expect("registered");
                assert!(
                    p.is_backed_by(&registered),
                    "round {round}: the log manager serves the new log"
                );
            }
            broker.delete_topic("race").expect("cleanup");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("race"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no partition directories left behind: {leftovers:?}"
    );
    handle.shutdown().await.expect("shutdown");
}
