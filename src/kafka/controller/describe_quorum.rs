//! DescribeQuorum (v0-v2), as `kafka-metadata-quorum describe --status` asks it (the
//! admin client sends v2): leader, epoch, high watermark and the voters of
//! `__cluster_metadata-0`; no observers (brokers do not fetch the log by Raft here).
//! Offsets are Raft entry indexes, not record offsets ([`crate::controller::Quorum::describe`]).
//! Only the leader answers (NOT_LEADER_OR_FOLLOWER elsewhere, as Kafka). v2's nodes are the
//! voters' controller addresses, under the listener name `CONTROLLER`.

use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};

use super::str_bytes;
use crate::controller::driver::Controller;
use crate::error::ErrorCode;
use crate::metadata::metadata_log::CLUSTER_METADATA_TOPIC;

/// The listener name v2's nodes carry.
const LISTENER: &str = "CONTROLLER";

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let valid = matches!(req.topics.as_slice(), [t]
        if t.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0));
    let resp = DescribeQuorumResponse::default();
    if !valid {
        // every partition asked gets UNKNOWN_TOPIC_OR_PARTITION
        let topics = req
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                    })
                    .collect();
                TopicData::default()
                    .with_topic_name(t.topic_name)
                    .with_partitions(partitions)
            })
            .collect();
        return resp.with_topics(topics);
    }
    let d = ctl.quorum().describe();
    let me = ctl.quorum().node_id();
    let partition = PartitionData::default().with_partition_index(0);
    let partition = if d.leader != Some(me) {
        partition
            .with_error_code(ErrorCode::NotLeaderOrFollower.code())
            .with_leader_id(BrokerId(d.leader.unwrap_or(-1)))
            .with_leader_epoch(i32::try_from(d.epoch).unwrap_or(i32::MAX))
    } else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(-1, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
        let voters = d
            .voters
            .iter()
            .map(|v| {
                let state = ReplicaState::default()
                    .with_replica_id(BrokerId(v.replica_id))
                    .with_log_end_offset(v.log_end_offset);
                if version >= 1 && v.replica_id == me {
                    // the leader is caught up with itself, now
                    state
                        .with_last_fetch_timestamp(now)
                        .with_last_caught_up_timestamp(now)
                } else {
                    state
                }
            })
            .collect();
        partition
            .with_leader_id(BrokerId(me))
            .with_leader_epoch(i32::try_from(d.epoch).unwrap_or(i32::MAX))
            .with_high_watermark(d.high_watermark)
            .with_current_voters(voters)
    };
    let resp = resp.with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(str_bytes(CLUSTER_METADATA_TOPIC)))
        .with_partitions(vec![partition])]);
    if version < 2 {
        return resp;
    }
    let nodes = d
        .voters
        .iter()
        .map(|v| {
            let listeners = v
                .address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                .map(|(host, port)| {
                    Listener::default()
                        .with_name(str_bytes(LISTENER))
                        .with_host(str_bytes(
                            host.trim_start_matches('[').trim_end_matches(']'),
                        ))
                        .with_port(port)
                })
                .into_iter()
                .collect();
            Node::default()
                .with_node_id(BrokerId(v.replica_id))
                .with_listeners(listeners)
        })
        .collect();
    resp.with_nodes(nodes)
}
