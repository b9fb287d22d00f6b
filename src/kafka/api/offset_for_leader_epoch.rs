//! OffsetForLeaderEpoch (v2-v4, as Kafka 4 serves): for each partition, the end offset of
//! a leader epoch in the leader's log (KIP-101, KIP-279), which consumers use to detect
//! log truncation after a leader change (KIP-320) and followers to truncate. The request's
//! current leader epoch is checked first (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), then
//! leadership: as in Kafka, only the leader answers, whoever asks (`replica_id` -1 for a
//! consumer, -2 for a debugging tool, a broker id for a follower). Unknown topics and
//! partitions are UNKNOWN_TOPIC_OR_PARTITION; a failed partition reports epoch and offset
//! -1. The answer comes from the epoch cache in memory: no file is read.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`, for a partition with no answer.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetForLeaderEpochRequest,
) -> Answer<OffsetForLeaderEpochResponse> {
    // Kafka: CLUSTER_ACTION on the cluster (a follower) allows every topic; otherwise
    // DESCRIBE on each, TOPIC_AUTHORIZATION_FAILED per partition
    let denied = if authz::allowed_on_cluster(ctx, broker, AclOperation::ClusterAction) {
        HashSet::new()
    } else {
        authz::denied_topics(
            ctx,
            broker,
            req.topics.iter().map(|t| t.topic.as_str()),
            AclOperation::Describe,
        )
    };
    respond(broker, req, &denied).into()
}

fn respond(
    broker: &Broker,
    req: OffsetForLeaderEpochRequest,
    denied: &HashSet<String>,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic_denied = denied.contains(t.topic.as_str());
            let topic = broker.topic(&t.topic.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    if topic_denied {
                        return resp.with_error_code(ErrorCode::TopicAuthorizationFailed.code());
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition))
                    else {
                        return resp.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
                    };
                    match partition.last_offset_for_leader_epoch(
                        p.current_leader_epoch,
                        p.leader_epoch,
                        true,
                    ) {
                        Ok((leader_epoch, end_offset)) => resp
                            .with_leader_epoch(leader_epoch)
                            .with_end_offset(end_offset),
                        Err(e) => resp.with_error_code(e.code().into()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
