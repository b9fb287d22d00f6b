//! OffsetForLeaderEpoch (API key 23, v2-v4) and ListOffsets' current leader epoch check
//! through real frames (KIP-101, KIP-279, KIP-320). A single node leads at epoch 0; a
//! leader change is made as a cluster's metadata would make it
//! (`Partition::apply_replica_state`), so the fenced, unknown and not-leader answers are
//! the broker's own.

mod support;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::partition::ReplicaState;
use support::{start_broker, Client};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

fn topic_name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// (partition, current leader epoch, leader epoch) asked of one topic.
async fn offset_for_leader_epoch(
    c: &mut Client,
    version: i16,
    topic: &str,
    asks: &[(i32, i32, i32)],
) -> Vec<(i16, i32, i64)> {
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(
                    asks.iter()
                        .map(|&(partition, current, epoch)| {
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(partition)
                                .with_current_leader_epoch(current)
                                .with_leader_epoch(epoch)
                        })
                        .collect(),
                ),
        ]);
    let r: OffsetForLeaderEpochResponse = c.call(ApiKey::OffsetForLeaderEpoch, version, &req).await;
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].topic, topic_name(topic));
    r.topics[0]
        .partitions
        .iter()
        .zip(asks)
        .map(|(p, ask)| {
            assert_eq!(p.partition, ask.0, "answers in the order asked");
            (p.error_code, p.leader_epoch, p.end_offset)
        })
        .collect()
}

/// ListOffsets v7 latest with a current leader epoch: (error, offset).
async fn list_latest(c: &mut Client, topic: &str, current_leader_epoch: i32) -> (i16, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_current_leader_epoch(current_leader_epoch)
                    .with_timestamp(-1),
            ])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &req).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

#[tokio::test]
async fn advertised_at_kafka_4_versions() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let key = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::OffsetForLeaderEpoch as i16)
        .expect("OffsetForLeaderEpoch advertised");
    assert_eq!((key.min_version, key.max_version), (2, 4));
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn end_offsets_of_epochs_and_epoch_checks() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("epochs", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    support::produce_values(&mut c, "epochs", 0, &["a", "b"]).await;
    support::produce_values(&mut c, "epochs", 0, &["c", "d"]).await;
    support::produce_values(&mut c, "epochs", 0, &["e", "f"]).await;

    for version in 2..=4 {
        let answers = offset_for_leader_epoch(
            &mut c,
            version,
            "epochs",
            &[
                // the latest epoch ends at the log end
                (0, -1, 0),
                (0, 0, 0),
                // an epoch above every known one: undefined, no error
                (0, -1, 5),
                // epoch -1 asks nothing
                (0, -1, -1),
                // a current leader epoch newer than the broker's (KIP-320)
                (0, 5, 0),
                // no such partition
                (1, -1, 0),
            ],
        )
        .await;
        assert_eq!(
            answers,
            vec![
                (NONE, 0, 6),
                (NONE, 0, 6),
                (NONE, -1, -1),
                (NONE, -1, -1),
                (UNKNOWN_LEADER_EPOCH, -1, -1),
                (UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
            ],
            "v{version}"
        );
    }
    let answers = offset_for_leader_epoch(&mut c, 4, "no-such-topic", &[(0, -1, 0)]).await;
    assert_eq!(answers, vec![(UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]);

    // ListOffsets v4+ checks the current leader epoch too
    assert_eq!(list_latest(&mut c, "epochs", -1).await, (NONE, 6));
    assert_eq!(list_latest(&mut c, "epochs", 0).await, (NONE, 6));
    assert_eq!(
        list_latest(&mut c, "epochs", 7).await,
        (UNKNOWN_LEADER_EPOCH, -1)
    );

    // a new leader epoch, as the metadata of a leader change would give it; epoch 0 now
    // ends where epoch 1 starts (KIP-101)
    let partition = broker
        .broker()
        .topic("epochs")
        .and_then(|t| t.partition(0).cloned())
        .expect("partition");
    let mut state = partition.replica_state();
    state.leader_epoch = 1;
    assert!(partition.apply_replica_state(state.clone()));
    support::produce_values(&mut c, "epochs", 0, &["g", "h", "i"]).await;
    let answers = offset_for_leader_epoch(
        &mut c,
        4,
        "epochs",
        &[(0, 1, 0), (0, 1, 1), (0, -1, 2), (0, 0, 0)],
    )
    .await;
    assert_eq!(
        answers,
        vec![
            (NONE, 0, 6),
            (NONE, 1, 9),
            (NONE, -1, -1),
            // the client's epoch is older than the broker's
            (FENCED_LEADER_EPOCH, -1, -1),
        ]
    );
    assert_eq!(list_latest(&mut c, "epochs", 1).await, (NONE, 9));
    assert_eq!(
        list_latest(&mut c, "epochs", 0).await,
        (FENCED_LEADER_EPOCH, -1)
    );

    // another broker leads at epoch 2: only the leader answers, consumers and followers
    // alike (Kafka's ReplicaManager asks with fetchOnlyFromLeader = true)
    assert!(partition.apply_replica_state(ReplicaState {
        leader: state.leader + 1,
        leader_epoch: 2,
        ..state
    }));
    let answers = offset_for_leader_epoch(&mut c, 4, "epochs", &[(0, 2, 1), (0, 1, 1)]).await;
    assert_eq!(
        answers,
        vec![
            (NOT_LEADER_OR_FOLLOWER, -1, -1),
            // the epoch is checked before leadership, as in Kafka
            (FENCED_LEADER_EPOCH, -1, -1),
        ]
    );
    broker.shutdown().await.expect("shutdown");
}
