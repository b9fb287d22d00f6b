//! OffsetDelete (v0): deletes a group's committed offsets for some partitions, unless the
//! group's members subscribe to the topic (GROUP_SUBSCRIBED_TO_TOPIC). As in Kafka, it
//! needs DELETE on the group (else GROUP_AUTHORIZATION_FAILED for the request) and READ on
//! each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions, before their existence).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetDeleteRequest,
) -> Answer<OffsetDeleteResponse> {
    respond(ctx, broker, req).await.into()
}

async fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Delete,
        ResourceType::Group,
        &req.group_id,
    ) {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let denied = authz::denied_topics(
        ctx,
        broker,
        req.topics.iter().map(|t| t.name.as_str()),
        AclOperation::Read,
    );
    let Ok(gc) = broker.groups() else {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let mut asked = Vec::new();
    // per partition: None when asked of the coordinator, else its error
    let mut known = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let exists = if denied.contains(t.name.as_str()) {
                Some(ErrorCode::TopicAuthorizationFailed)
            } else if broker.knows_partition(&t.name.0, p.partition_index) {
                None
            } else {
                Some(ErrorCode::UnknownTopicOrPartition)
            };
            known.push(exists);
            if exists.is_none() {
                asked.push((t.name.0.to_string(), p.partition_index));
            }
        }
    }
    let codes = match gc.delete_offsets(&req.group_id.0, &asked).await {
        Ok(c) => c,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let mut codes = codes.into_iter();
    let mut known = known.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = match known.next().flatten() {
                        None => codes.next().unwrap_or(ErrorCode::UnknownServerError),
                        Some(e) => e,
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
