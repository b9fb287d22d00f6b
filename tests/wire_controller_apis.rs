//! The controller's admin APIs on a single node's broker port, through real frames at
//! every supported version: ElectLeaders (no election is ever needed: the node leads every
//! partition), AlterPartitionReassignments (only onto the node itself), and
//! ListPartitionReassignments (none), and DescribeQuorum (no quorum: UNSUPPORTED_VERSION).
//! In a cluster these are forwarded to the active controller; that is tested end to end
//! by the cluster tests.

mod support;

use std::collections::BTreeMap;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{start_broker, Client};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_REQUEST: i16 = 42;
const ELECTION_NOT_NEEDED: i16 = 84;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn topic_name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

fn create(broker: &rafka::BrokerHandle, name: &str, partitions: i32) {
    broker
        .broker()
        .create_topic(name, partitions, 1, BTreeMap::new(), false)
        .expect("topic");
}

/// (topic, partition) → error code of an ElectLeaders answer.
fn elect_codes(r: &ElectLeadersResponse) -> BTreeMap<(String, i32), i16> {
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(move |p| ((t.topic.0.to_string(), p.partition_id), p.error_code))
        })
        .collect()
}

#[tokio::test]
async fn elect_leaders_is_never_needed_on_a_single_node() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "el", 2);
    let mut c = Client::connect(broker.kafka_addr()).await;
    for version in 0..=2i16 {
        let req = ElectLeadersRequest::default()
            .with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(topic_name("el"))
                    .with_partitions(vec![0, 1, 2]),
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(topic_name("missing"))
                    .with_partitions(vec![0]),
            ]))
            .with_timeout_ms(5000);
        let req = if version >= 1 {
            req.with_election_type(0)
        } else {
            req
        };
        let r: ElectLeadersResponse = c.call(ApiKey::ElectLeaders, version, &req).await;
        assert_eq!(r.error_code, 0, "v{version}");
        let codes = elect_codes(&r);
        let expected: BTreeMap<(String, i32), i16> = [
            (("el".to_string(), 0), ELECTION_NOT_NEEDED),
            (("el".to_string(), 1), ELECTION_NOT_NEEDED),
            (("el".to_string(), 2), UNKNOWN_TOPIC_OR_PARTITION),
            (("missing".to_string(), 0), UNKNOWN_TOPIC_OR_PARTITION),
        ]
        .into_iter()
        .collect();
        assert_eq!(codes, expected, "v{version}");

        // every partition (null): each topic listed, the partitions that need no election left out
        let all = ElectLeadersRequest::default().with_topic_partitions(None);
        let r: ElectLeadersResponse = c.call(ApiKey::ElectLeaders, version, &all).await;
        assert_eq!(r.error_code, 0, "v{version}");
        let el = r
            .replica_election_results
            .iter()
            .find(|t| t.topic.0.as_str() == "el")
            .expect("el listed");
        assert!(el.partition_result.is_empty(), "v{version}");
        assert!(elect_codes(&r).is_empty(), "v{version}");
    }

    // an unclean election is not needed either: every partition has its leader
    let req = ElectLeadersRequest::default()
        .with_election_type(1)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(topic_name("el"))
        .with_partitions(vec![1])]));
    let r: ElectLeadersResponse = c.call(ApiKey::ElectLeaders, 2, &req).await;
    assert_eq!(
        elect_codes(&r),
        [(("el".to_string(), 1), ELECTION_NOT_NEEDED)]
            .into_iter()
            .collect()
    );

    // an unknown election type fails the request and each partition
    let bad = req.with_election_type(7);
    let r: ElectLeadersResponse = c.call(ApiKey::ElectLeaders, 1, &bad).await;
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert_eq!(
        elect_codes(&r),
        [(("el".to_string(), 1), INVALID_REQUEST)]
            .into_iter()
            .collect()
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn partitions_can_only_be_reassigned_onto_the_node_itself() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "ra", 1);
    let node = broker.broker().node_id();
    let mut c = Client::connect(broker.kafka_addr()).await;
    let part = |index: i32, replicas: Option<Vec<i32>>| {
        alter_partition_reassignments_request::ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    // (topic, partition, replicas) → the expected code
    let cases: Vec<(&str, i32, Option<Vec<i32>>, i16)> = vec![
        ("ra", 0, Some(vec![node]), 0),
        ("ra", 0, None, NO_REASSIGNMENT_IN_PROGRESS),
        ("ra", 0, Some(vec![]), INVALID_REPLICA_ASSIGNMENT),
        ("ra", 0, Some(vec![node, node]), INVALID_REPLICA_ASSIGNMENT),
        (
            "ra",
            0,
            Some(vec![node, node + 1]),
            INVALID_REPLICA_ASSIGNMENT,
        ),
        ("ra", 0, Some(vec![node + 1]), INVALID_REPLICA_ASSIGNMENT),
        ("ra", 1, Some(vec![node]), UNKNOWN_TOPIC_OR_PARTITION),
        ("missing", 0, Some(vec![node]), UNKNOWN_TOPIC_OR_PARTITION),
    ];
    for version in 0..=1i16 {
        for (topic, index, replicas, code) in &cases {
            let req = AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![part(*index, replicas.clone())]),
                ]);
            let req = if version >= 1 {
                req.with_allow_replication_factor_change(false)
            } else {
                req
            };
            let r: AlterPartitionReassignmentsResponse = c
                .call(ApiKey::AlterPartitionReassignments, version, &req)
                .await;
            let what = format!("v{version} {topic}-{index} {replicas:?}");
            assert_eq!(r.error_code, 0, "{what}");
            if version >= 1 {
                assert!(!r.allow_replication_factor_change, "{what}");
            }
            assert_eq!(r.responses.len(), 1, "{what}");
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.partition_index, *index, "{what}");
            assert_eq!(p.error_code, *code, "{what}");
            assert_eq!(p.error_message.is_some(), *code != 0, "{what}");
        }
    }
    // nothing is in progress afterwards
    let r: ListPartitionReassignmentsResponse = c
        .call(
            ApiKey::ListPartitionReassignments,
            0,
            &ListPartitionReassignmentsRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(r.topics.is_empty());
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn no_reassignment_is_ever_listed() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "lr", 2);
    let mut c = Client::connect(broker.kafka_addr()).await;
    for topics in [
        None,
        Some(vec![
            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                .with_name(topic_name("lr"))
                .with_partition_indexes(vec![0, 1]),
            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                .with_name(topic_name("missing"))
                .with_partition_indexes(vec![0]),
        ]),
    ] {
        let req = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(topics);
        let r: ListPartitionReassignmentsResponse =
            c.call(ApiKey::ListPartitionReassignments, 0, &req).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.error_message, None);
        assert!(r.topics.is_empty());
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn describe_quorum_on_a_single_node_is_unsupported() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let req = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(topic_name("__cluster_metadata"))
            .with_partitions(vec![
                describe_quorum_request::PartitionData::default().with_partition_index(0)
            ]),
    ]);
    for version in 0..=2i16 {
        let r: DescribeQuorumResponse = c.call(ApiKey::DescribeQuorum, version, &req).await;
        assert_eq!(r.error_code, UNSUPPORTED_VERSION, "v{version}");
        assert!(r.topics.is_empty(), "v{version}");
        if version >= 2 {
            let message = r.error_message.expect("a message").to_string();
            assert!(message.contains("no metadata quorum"), "{message}");
        }
    }
    // the connection is still usable
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    broker.shutdown().await.expect("shutdown");
}
