//! A compacted topic through the Kafka port of an in-process broker: created with Kafka's
//! topic configs, described back, produced to with keyed records, cleaned by the broker's
//! own `log_cleaner` job, fetched (each key's last record at its offset, the active
//! segment untouched), and the same after a restart on the same data dir.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::log::batch::BatchIter;
use rafka::log::records::decode_batch;
use rafka::{BrokerBuilder, BrokerHandle};
use support::Client;

const TOPIC: &str = "compacted";

async fn start(dir: &std::path::Path) -> BrokerHandle {
    let mut b = BrokerBuilder::for_tests(dir);
    b.config_mut().cleaner.backoff_ms = 100;
    b.start().await.expect("broker starts")
}

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

async fn produce(c: &mut Client, key: &str, value: &str) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(support::batch(&[(Some(key), value)])))])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

/// Every (offset, key, value) from offset 0 to the high watermark, over Fetch v12.
async fn fetch_all(c: &mut Client) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name())
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let r: FetchResponse = c.call(ApiKey::Fetch, 12, &req).await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        let bytes = p.records.clone().unwrap_or_default();
        let mut next = offset;
        for (at, h) in BatchIter::new(&bytes) {
            let whole = &bytes[at..at + h.size().expect("size")];
            for r in decode_batch(whole).expect("decodes") {
                let text = |b: &Option<bytes::Bytes>| {
                    String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
                };
                out.push((r.offset, text(&r.key), text(&r.value)));
            }
            next = h.next_offset();
        }
        if next == offset || next >= p.high_watermark {
            return out;
        }
        offset = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_is_cleaned_by_the_broker_and_stays_cleaned_after_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = start(dir.path()).await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let config = |k: &str, v: &str| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(k.into()))
            .with_value(Some(StrBytes::from_string(v.into())))
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name())
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                config("cleanup.policy", "compact"),
                config("segment.bytes", "1024"),
                config("min.cleanable.dirty.ratio", "0.01"),
            ])]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str(TOPIC))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("cleanup.policy")]))]);
    let r: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, 4, &req).await;
    let entry = &r.results[0].configs[0];
    assert_eq!(
        entry.value.as_ref().map(|s| s.to_string()).as_deref(),
        Some("compact")
    );

    let mut last: HashMap<String, String> = HashMap::new();
    for i in 0..120 {
        let (k, v) = (format!("key-{}", i % 6), format!("value-{i:0>30}"));
        produce(&mut c, &k, &v).await;
        last.insert(k, v);
    }
    let partition = broker.broker().topic(TOPIC).expect("topic").partitions[0].clone();
    let active = || *partition.segment_base_offsets().last().expect("a segment");
    assert!(partition.segment_base_offsets().len() > 5);
    // the job cleans every 100 ms: wait until below the active segment each key is once
    let once_each = |got: &[(i64, String, String)], active: i64| {
        let mut seen = std::collections::HashSet::new();
        got.iter()
            .filter(|r| r.0 < active)
            .all(|r| seen.insert(r.1.clone()))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut got = fetch_all(&mut c).await;
    while !once_each(&got, active()) {
        assert!(
            std::time::Instant::now() < deadline,
            "never cleaned: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = fetch_all(&mut c).await;
    }
    for (k, v) in &last {
        assert!(
            got.iter().any(|r| &r.1 == k && &r.2 == v),
            "{k}'s last value {v} is served"
        );
    }
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(got.len() < 120);
    drop(c);
    broker.shutdown().await.expect("shutdown");

    let broker = start(dir.path()).await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    assert_eq!(fetch_all(&mut c).await, got, "the same after a restart");
    broker.shutdown().await.expect("shutdown");
}
