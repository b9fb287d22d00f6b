//! DescribeTopicPartitions (v0; `kafka-topics --describe` uses it from Kafka 3.8): topics by
//! name (an empty list: every topic), answered in name order with their partitions as
//! Metadata shows them (a single node leads every partition; in a cluster, each
//! partition as the metadata image says; empty ELR lists). Unknown names get UNKNOWN_TOPIC_OR_PARTITION (invalid ones
//! INVALID_TOPIC_EXCEPTION).
//!
//! Paging as in Kafka: at most `response_partition_limit` partitions (capped to 1..=2000)
//! per response; when cut, `next_cursor` names the first topic and partition not sent, and
//! a request with that cursor resumes there. A cursor with a negative partition, or naming
//! a topic missing from a non-empty topic list, gets INVALID_REQUEST on every topic.
//!
//! Authorization as Kafka's: a topic needs DESCRIBE. Asked for by name, a refused topic is
//! answered TOPIC_AUTHORIZATION_FAILED (no id, after the others); in a listing of every
//! topic it is left out. Each topic answered carries its authorized operations.

use std::sync::Arc;

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use uuid::Uuid;

use super::str_bytes;
use crate::broker::{validate_topic_name, Broker};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::TopicView;
use crate::security::acl::{AclOperation, ResourceType};

/// Kafka's `max.request.partition.size.limit` default: the most partitions in one response.
const MAX_PARTITIONS: i32 = 2000;

fn topic_name(name: &str) -> Option<TopicName> {
    Some(TopicName(str_bytes(name)))
}

fn error_topic(name: &str, error_code: i16, ops: i32) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error_code)
        .with_name(topic_name(name))
        .with_topic_id(Uuid::nil())
        .with_topic_authorized_operations(ops)
}

/// The topic with its partitions from `start`, at most `limit` of them, and the index of the
/// first partition left out (if any was).
fn topic_entry(
    t: &TopicView,
    start: i32,
    limit: i32,
    ops: i32,
) -> (DescribeTopicPartitionsResponseTopic, Option<i32>) {
    let start = usize::try_from(start).unwrap_or(0);
    let limit = usize::try_from(limit).unwrap_or(0);
    let remaining: Vec<_> = t.partitions.iter().skip(start).collect();
    let next = (remaining.len() > limit).then(|| (start + limit) as i32);
    let partitions = remaining
        .into_iter()
        .take(limit)
        .map(|v| {
            let v = v.clone();
            let ids = |ids: Vec<i32>| ids.into_iter().map(BrokerId).collect::<Vec<_>>();
            DescribeTopicPartitionsResponsePartition::default()
                .with_error_code(ErrorCode::None.code())
                .with_partition_index(v.index)
                .with_leader_id(BrokerId(v.leader))
                .with_leader_epoch(v.leader_epoch)
                .with_replica_nodes(ids(v.replicas))
                .with_isr_nodes(ids(v.isr))
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(ids(v.offline_replicas))
        })
        .collect();
    let entry = DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(ErrorCode::None.code())
        .with_name(topic_name(&t.name))
        .with_topic_id(t.id)
        .with_is_internal(crate::topic::is_internal(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(ops);
    (entry, next)
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeTopicPartitionsRequest,
) -> Answer<DescribeTopicPartitionsResponse> {
    respond(ctx, broker, req).into()
}

fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let ops = |name: &str| authz::authorized_operations(ctx, broker, ResourceType::Topic, name);
    let fetch_all = req.topics.is_empty();
    let cursor_topic = req
        .cursor
        .as_ref()
        .map(|c| c.topic_name.0.to_string())
        .unwrap_or_default();
    let cursor_partition = req.cursor.as_ref().map_or(0, |c| c.partition_index);
    // every candidate name at or after the cursor's topic, sorted and without duplicates
    let names: BTreeSet<String> = if fetch_all {
        broker.topic_views().into_iter().map(|t| t.name).collect()
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    let names: BTreeSet<String> = names
        .into_iter()
        .filter(|n| n.as_str() >= cursor_topic.as_str())
        .collect();
    let bad_cursor = req.cursor.is_some()
        && (cursor_partition < 0 || (!fetch_all && !names.contains(&cursor_topic)));
    if bad_cursor {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let code = ErrorCode::InvalidRequest.code();
                error_topic(&t.name.0, code, authz::OPS_NOT_REQUESTED)
            })
            .collect();
        return DescribeTopicPartitionsResponse::default().with_topics(topics);
    }

    let mut remaining = req.response_partition_limit.clamp(1, MAX_PARTITIONS);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    let mut refused = Vec::new();
    for name in names {
        if !authz::allowed(
            ctx,
            broker,
            AclOperation::Describe,
            ResourceType::Topic,
            &name,
        ) {
            if !fetch_all {
                let code = ErrorCode::TopicAuthorizationFailed.code();
                refused.push(error_topic(&name, code, authz::OPS_NOT_REQUESTED));
            }
            continue;
        }
        if remaining == 0 {
            // the previous topics filled the response exactly: resume at this one
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partition_index(0),
            );
            break;
        }
        let Some(topic) = broker.topic_view(&name) else {
            if !fetch_all {
                let c = validate_topic_name(&name)
                    .err()
                    .map_or(ErrorCode::UnknownTopicOrPartition.code(), |e| {
                        e.code().code()
                    });
                topics.push(error_topic(&name, c, ops(&name)));
            }
            continue;
        };
        let start = if name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let (entry, next) = topic_entry(&topic, start, remaining, ops(&name));
        remaining -= entry.partitions.len() as i32;
        topics.push(entry);
        if let Some(index) = next {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partition_index(index),
            );
            break;
        }
    }
    topics.extend(refused);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}
