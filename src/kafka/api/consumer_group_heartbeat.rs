//! ConsumerGroupHeartbeat (v0-v1, KIP-848): a `group.protocol=consumer` member joins
//! (epoch 0), heartbeats, acknowledges revocations and leaves (-1, or -2 for a static
//! member) through this one API; the coordinator answers with its epoch and, when it
//! changed, its assignment. Checked here as Kafka's broker checks the request; the group
//! logic is [`crate::group::consumer`].

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::assignor::ASSIGNORS;
use crate::group::consumer::{Heartbeat, HeartbeatResponse, TopicImage};
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ConsumerGroupHeartbeatRequest,
) -> Answer<ConsumerGroupHeartbeatResponse> {
    let answer = respond(ctx, broker, req).await;
    let assignment = answer.assignment.map(|a| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(id, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_partitions(ps)
                })
                .collect(),
        )
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(answer.error.code())
        .with_error_message(answer.message.map(str_bytes))
        .with_member_id(answer.member_id.map(str_bytes))
        .with_member_epoch(answer.member_epoch)
        .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
        .with_assignment(assignment)
        .into()
}

/// Kafka's request checks (INVALID_REQUEST with its messages).
fn invalid(req: &ConsumerGroupHeartbeatRequest, version: i16) -> Option<&'static str> {
    let blank = |s: &str| s.trim().is_empty();
    if blank(&req.group_id) {
        return Some("GroupId can't be empty.");
    }
    // ids are stored as int16-length strings (Kafka's keys)
    let long = |s: &str| s.len() > i16::MAX as usize;
    if long(&req.group_id)
        || long(&req.member_id)
        || req.instance_id.as_deref().is_some_and(long)
        || req.rack_id.as_deref().is_some_and(long)
    {
        return Some("An id is longer than 32767 bytes.");
    }
    if req.instance_id.as_deref().is_some_and(blank) {
        return Some("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref().is_some_and(blank) {
        return Some("RackId can't be empty.");
    }
    if version >= 1 && blank(&req.member_id) {
        return Some("MemberId can't be empty.");
    }
    match req.member_epoch {
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return Some("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                return Some("TopicPartitions must be empty when (re-)joining.");
            }
            if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                return Some(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        e if e > 0 || e == -1 => {
            if blank(&req.member_id) {
                return Some("MemberId can't be empty.");
            }
        }
        -2 => {
            if blank(&req.member_id) {
                return Some("MemberId can't be empty.");
            }
            if req.instance_id.is_none() {
                return Some("InstanceId can't be null.");
            }
        }
        _ => return Some("MemberEpoch is invalid."),
    }
    if version == 0 && req.subscribed_topic_regex.is_some() {
        return Some("SubscribedTopicRegex is not supported in version 0.");
    }
    None
}

async fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: ConsumerGroupHeartbeatRequest,
) -> HeartbeatResponse {
    let version = ctx.api_version;
    if !broker.config().group.consumer_protocol {
        return HeartbeatResponse::error(
            ErrorCode::UnsupportedVersion,
            "The new consumer group protocol is not enabled \
             (group.coordinator.rebalance.protocols).",
        );
    }
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return HeartbeatResponse::error(ErrorCode::GroupAuthorizationFailed, "");
    }
    if let Some(why) = invalid(&req, version) {
        return HeartbeatResponse::error(ErrorCode::InvalidRequest, why);
    }
    let configured = broker.config().group.consumer.assignors;
    if let Some(a) = req.server_assignor.as_deref() {
        if !configured.contains(&a) || !ASSIGNORS.contains(&a) {
            return HeartbeatResponse::error(
                ErrorCode::UnsupportedAssignor,
                format!(
                    "ServerAssignor {a} is not supported. Supported assignors: {}.",
                    configured.join(", ")
                ),
            );
        }
    }
    let Ok(gc) = broker.groups() else {
        return HeartbeatResponse::error(ErrorCode::CoordinatorNotAvailable, "");
    };
    let member_id = match req.member_id.is_empty() {
        // v0: the coordinator names a joining member
        true => uuid::Uuid::new_v4().to_string(),
        false => req.member_id.to_string(),
    };
    let image: TopicImage = super::topic_image(broker);
    let hb = Heartbeat {
        member_id,
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: req.server_assignor.map(|s| s.to_string()),
        owned: req.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| (tp.topic_id, tp.partitions))
                .collect()
        }),
        client_id: ctx
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: ctx.peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
        classic: false,
    };
    gc.consumer_heartbeat(&req.group_id.0, hb, image).await
}
