//! A group's partition of `__consumer_offsets` is Kafka's (`Utils.abs(hashCode) %
//! partitions`). An older Rafka cleared the hash's sign bit instead, so a data dir it
//! wrote holds a group with a negative hash in another partition: the coordinator moves
//! it at load (its records written to Kafka's partition, tombstones in the old one), a
//! real client then finds its committed offsets, and a second restart changes nothing.

mod support;

use std::time::Duration;

use rafka::group::records::{
    group_key, group_value, legacy_partition_for, offset_key, offset_value, partition_for,
    GroupValue, OffsetValue,
};
use rafka::log::records::{encode_batch, NewRecord};
use rafka::partition::AppendOrigin;
use rafka::{BrokerBuilder, BrokerHandle};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const OFFSETS: &str = "__consumer_offsets";
/// `"miggrp".hashCode()` is -1_074_249_030: Kafka's partition 30 of 50, the old one 18.
const GROUP: &str = "miggrp";
const TOPIC: &str = "orders";

async fn start(dir: &std::path::Path) -> BrokerHandle {
    BrokerBuilder::for_tests(dir)
        .start()
        .await
        .expect("broker starts")
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// The group's committed offsets of `orders` 0 and 1, as a real client reads them.
async fn committed(bootstrap: String, group: &'static str) -> Vec<Option<i64>> {
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, group);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(TOPIC, 0);
        tpl.add_partition(TOPIC, 1);
        let got = c
            .committed_offsets(tpl, Duration::from_secs(20))
            .expect("committed offsets");
        got.elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("client thread")
}

/// The group's state and protocol type, as a real client lists them (DescribeGroups).
async fn group_state(bootstrap: String) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, "observer");
        let list = c
            .fetch_group_list(Some(GROUP), Duration::from_secs(20))
            .expect("group list");
        let g = list
            .groups()
            .iter()
            .find(|g| g.name() == GROUP)
            .expect("the group");
        (g.state().to_string(), g.protocol_type().to_string())
    })
    .await
    .expect("client thread")
}

/// The log end offset of every partition of `__consumer_offsets`.
fn offsets_log_ends(broker: &BrokerHandle) -> Vec<i64> {
    broker
        .broker()
        .topic(OFFSETS)
        .expect("offsets topic")
        .partitions
        .iter()
        .map(|p| p.log_end_offset())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_an_older_rafka_misplaced_is_moved_and_its_offsets_found() {
    let old = legacy_partition_for(GROUP, 50);
    let new = partition_for(GROUP, 50);
    assert_eq!(
        (old, new),
        (18, 30),
        "a group the two placements disagree on"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path()).await;
    broker
        .broker()
        .create_topic(TOPIC, 2, 1, Default::default(), false)
        .expect("topic");
    // a commit of another group makes the coordinator and its 50 partitions
    let bootstrap = broker.kafka_addr().to_string();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&b, "warmup");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Offset(1))
            .expect("offset");
        c.assign(&tpl).expect("assign");
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("client thread");
    assert_eq!(offsets_log_ends(&broker).len(), 50);

    // what an older Rafka wrote: the group's metadata (a consumer group whose members
    // left at generation 3) and offsets in the partition it picked
    let metadata = NewRecord {
        key: Some(group_key(GROUP)),
        value: Some(group_value(&GroupValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: None,
            leader: None,
            state_timestamp: rafka::log::now_ms(),
            members: Vec::new(),
        })),
        headers: Vec::new(),
        timestamp: rafka::log::now_ms(),
    };
    let records: Vec<NewRecord> = [(0, 30i64), (1, 50)]
        .iter()
        .map(|&(p, offset)| NewRecord {
            key: Some(offset_key(GROUP, TOPIC, p)),
            value: Some(offset_value(&OffsetValue {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: rafka::log::now_ms(),
            })),
            headers: Vec::new(),
            timestamp: rafka::log::now_ms(),
        })
        .chain([metadata])
        .collect();
    let topic = broker.broker().topic(OFFSETS).expect("offsets topic");
    let legacy = &topic.partitions[old as usize];
    let info = legacy
        .append(&encode_batch(&records, 0), AppendOrigin::Coordinator)
        .expect("append");
    legacy.flush_to(info.last_offset + 1).expect("fsync");
    drop(topic);
    broker.shutdown().await.expect("shutdown");

    // the load moves it: Kafka's partition gets its offsets, the old one tombstones
    let broker = start(dir.path()).await;
    let ends = offsets_log_ends(&broker);
    assert_eq!(
        ends[new as usize], 3,
        "the group and two offsets written to partition {new}"
    );
    assert_eq!(
        ends[old as usize],
        3 + 3,
        "two offset tombstones and the group's in partition {old}"
    );
    let bootstrap = broker.kafka_addr().to_string();
    assert_eq!(
        committed(bootstrap.clone(), GROUP).await,
        vec![Some(30), Some(50)]
    );
    assert_eq!(
        committed(bootstrap, "warmup").await,
        vec![Some(1), None],
        "a group in its right place stays"
    );
    assert_eq!(
        group_state(broker.kafka_addr().to_string()).await,
        ("Empty".to_string(), "consumer".to_string()),
        "its metadata moved with it"
    );
    broker.shutdown().await.expect("shutdown");

    // a second restart finds nothing to move
    let broker = start(dir.path()).await;
    assert_eq!(offsets_log_ends(&broker), ends, "nothing written");
    let bootstrap = broker.kafka_addr().to_string();
    assert_eq!(committed(bootstrap, GROUP).await, vec![Some(30), Some(50)]);
    broker.shutdown().await.expect("shutdown");
}

/// The whole `__consumer_offsets-0` segment a Kafka 4.3.1 node wrote (two batches of
/// `OffsetCommitValue` v4 with the tagged topicId: miggrp mig-0 = 30, mig-1 = 50; grp2
/// mig-0 = 7, mig-1 = 9; no group metadata: the consumers never joined).
const KAFKA_4_SEGMENT: &[&str] = &[
    "0000000000000000000000bb0000000002f5678cb0000000000001000001a2482fa064000001a2482fa064ffffffffff",
    "ffffffffff0000000000000002860100000026000100066d696767727000036d69670000000054000400000000000000",
    "1effffffff01000001a2482fa0600100100df358eb08ea43a0b40a25b5dff2ac2600860100000226000100066d696767",
    "727000036d6967000000015400040000000000000032ffffffff01000001a2482fa0600100100df358eb08ea43a0b40a",
    "25b5dff2ac26000000000000000002000000b70000000002eebea81e000000000001000001a2482fa0a3000001a2482f",
    "a0a3ffffffffffffffffffff0000000000000002820100000022000100046772703200036d6967000000005400040000",
    "000000000007ffffffff01000001a2482fa0a30100100df358eb08ea43a0b40a25b5dff2ac2600820100000222000100",
    "046772703200036d6967000000015400040000000000000009ffffffff01000001a2482fa0a30100100df358eb08ea43",
    "a0b40a25b5dff2ac2600",
];

/// Kafka 4's batches, appended as they are to a one-partition `__consumer_offsets`, load
/// at the next start: a real client finds both offsets-only groups' offsets (before v4
/// was read the coordinator loaded no group) and lists them as Kafka does (Empty, no
/// protocol type).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_4_offset_commits_load() {
    let hex: String = KAFKA_4_SEGMENT.concat();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    assert_eq!(bytes.len(), 394);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = BrokerBuilder::for_tests(dir.path());
    b.config_mut().group.offsets_topic_num_partitions = 1;
    let broker = b.start().await.expect("broker starts");
    broker
        .broker()
        .create_topic("mig", 2, 1, Default::default(), false)
        .expect("topic");
    let gc = broker.broker().groups().expect("coordinator");
    drop(gc);
    let topic = broker.broker().topic(OFFSETS).expect("offsets topic");
    assert_eq!(topic.partitions.len(), 1);
    let p = &topic.partitions[0];
    // the two batches as Kafka wrote them; the second's base offset (2) zeroed as a
    // producer sends it (outside the CRC), the log assigns it again
    let (first, second) = bytes.split_at(199);
    let mut second = second.to_vec();
    second[..8].copy_from_slice(&0i64.to_be_bytes());
    for (batch, want) in [(first, (0, 1)), (&second[..], (2, 3))] {
        let info = p
            .append(batch, AppendOrigin::Coordinator)
            .expect("Kafka's batch appends");
        assert_eq!((info.base_offset, info.last_offset), want);
    }
    p.flush_to(4).expect("fsync");
    drop(topic);
    broker.shutdown().await.expect("shutdown");

    let mut b = BrokerBuilder::for_tests(dir.path());
    b.config_mut().group.offsets_topic_num_partitions = 1;
    let broker = b.start().await.expect("restart");
    let bootstrap = broker.kafka_addr().to_string();
    let read = |group: &'static str| {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            let c = consumer(&bootstrap, group);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition("mig", 0);
            tpl.add_partition("mig", 1);
            let got = c
                .committed_offsets(tpl, Duration::from_secs(20))
                .expect("committed offsets");
            let offsets: Vec<Option<i64>> = got
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .collect();
            let list = c
                .fetch_group_list(Some(group), Duration::from_secs(20))
                .expect("group list");
            let g = list.groups().first().expect("the group");
            (
                offsets,
                g.state().to_string(),
                g.protocol_type().to_string(),
            )
        })
    };
    let miggrp = read("miggrp").await.expect("client thread");
    assert_eq!(
        miggrp,
        (vec![Some(30), Some(50)], "Empty".to_string(), String::new())
    );
    let grp2 = read("grp2").await.expect("client thread");
    assert_eq!(grp2.0, vec![Some(7), Some(9)]);
    broker.shutdown().await.expect("shutdown");
}
