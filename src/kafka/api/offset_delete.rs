//! OffsetDelete (v0): deletes a group's committed offsets for some partitions, unless the
//! group's members subscribe to the topic (GROUP_SUBSCRIBED_TO_TOPIC).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetDeleteRequest,
) -> Answer<OffsetDeleteResponse> {
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Broker, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
    let Ok(gc) = broker.groups() else {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let mut asked = Vec::new();
    let mut known = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let exists = broker.knows_partition(&t.name.0, p.partition_index);
            known.push(exists);
            if exists {
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
                    let error = if known.next().unwrap_or(false) {
                        codes.next().unwrap_or(ErrorCode::UnknownServerError)
                    } else {
                        ErrorCode::UnknownTopicOrPartition
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
