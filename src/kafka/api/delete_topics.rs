//! DeleteTopics (v1-v6; v6 by name or id): removes the topics and their files.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DeleteTopicsRequest,
) -> Answer<DeleteTopicsResponse> {
    respond(broker, req, ctx.api_version).into()
}

fn respond(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    // (name, id) pairs: v0-5 send names, v6 sends a name or an id per topic
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let topic = match &name {
                Some(n) => broker.topic(&n.0),
                None => broker.topic_by_id(id),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            let with_message = |r: DeletableTopicResult, m: String| {
                if version >= 5 {
                    r.with_error_message(Some(str_bytes(m)))
                } else {
                    r
                }
            };
            let Some(topic) = topic else {
                let c = if name.is_some() {
                    ErrorCode::UnknownTopicOrPartition.code()
                } else {
                    ErrorCode::UnknownTopicId.code()
                };
                return result.with_error_code(c);
            };
            if topic.name == crate::group::OFFSETS_TOPIC {
                return with_message(
                    result.with_error_code(ErrorCode::InvalidTopicException.code()),
                    "internal topics cannot be deleted".into(),
                );
            }
            match broker.delete_topic(&topic.name) {
                Ok(t) if version >= 6 => result
                    .with_name(Some(TopicName(str_bytes(t.name.clone()))))
                    .with_topic_id(t.id),
                Ok(_) => result,
                Err(e) => with_message(result.with_error_code(e.code().code()), e.to_string()),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
