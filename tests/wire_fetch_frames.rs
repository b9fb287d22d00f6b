//! Fetch responses leave the broker in chunks (the fetched batches are not copied into the
//! frame): the bytes on the wire must still be exactly what `kafka-protocol` encodes for
//! the same response, in every version, for a fetch of several MiB.

mod support;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rafka::log::records::{encode_batch, NewRecord};
use support::{start_broker, Client};

const TOPIC: &str = "frames";
const PARTITIONS: i32 = 3;

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_string(TOPIC.to_string()))
}

/// 400 records of 1 KiB: about 410 KiB per batch (stamped now: older ones would be
/// retention's to delete).
fn big_batch(seed: usize) -> Bytes {
    let now = rafka::log::now_ms();
    let recs: Vec<NewRecord> = (0..400)
        .map(|i| {
            NewRecord::new(Some(format!("k{seed}-{i}")), vec![(seed + i) as u8; 1024])
                .at(now + i as i64)
        })
        .collect();
    Bytes::from(encode_batch(&recs, -1))
}

#[tokio::test]
async fn large_fetch_frames_match_the_kafka_protocol_encoding() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic_name())
        .with_num_partitions(PARTITIONS)
        .with_replication_factor(1)]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0);
    let topic_id = r.topics[0].topic_id;

    // partitions 0 and 1 get about 1.2 MiB each, partition 2 stays empty
    for round in 0..3 {
        let parts = (0..2)
            .map(|p| {
                produce_request::PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(big_batch(round * 10 + p as usize)))
            })
            .collect();
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name())
                .with_partition_data(parts)]);
        let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce).await;
        assert!(r.responses[0]
            .partition_responses
            .iter()
            .all(|p| p.error_code == 0));
    }

    for version in [4i16, 5, 7, 11, 12, 13, 15, 16, 17, 18] {
        let partitions = [(0, 0), (1, 400), (2, 0), (7, 0)] // 7: no such partition
            .into_iter()
            .map(|(p, offset)| {
                fetch_request::FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(4 << 20)
            })
            .collect();
        let topic = if version >= 13 {
            fetch_request::FetchTopic::default().with_topic_id(topic_id)
        } else {
            fetch_request::FetchTopic::default().with_topic(topic_name())
        };
        let fetch = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(50 << 20)
            .with_topics(vec![topic.with_partitions(partitions)]);
        let id = c.send(ApiKey::Fetch, version, &fetch).await;
        let frame = c.recv_frame().await.expect("a response frame");

        let mut buf = frame.clone();
        let hv = ApiKey::Fetch.response_header_version(version);
        let header = ResponseHeader::decode(&mut buf, hv).expect("header");
        assert_eq!(header.correlation_id, id);
        let resp = FetchResponse::decode(&mut buf, version).expect("body");
        let p = &resp.responses[0].partitions;
        let sizes: Vec<usize> = p
            .iter()
            .map(|p| p.records.as_ref().map_or(0, Bytes::len))
            .collect();
        assert!(
            sizes[0] > 1 << 20 && sizes[1] > 800 << 10,
            "v{version}: {sizes:?}"
        );
        assert_eq!((sizes[2], sizes[3]), (0, 0), "v{version}");
        let unknown = if version >= 13 { 100 } else { 3 }; // UNKNOWN_TOPIC_ID / _OR_PARTITION
        assert_eq!(p[3].error_code, unknown, "v{version}");

        let mut expected = BytesMut::new();
        header.encode(&mut expected, hv).expect("encode header");
        resp.encode(&mut expected, version).expect("encode body");
        assert!(
            expected[..] == frame[..],
            "v{version}: the frame differs from kafka-protocol's encoding of its response"
        );
    }
    broker.shutdown().await.expect("shutdown");
}
