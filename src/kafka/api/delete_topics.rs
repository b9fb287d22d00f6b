//! DeleteTopics (v1-v6; v6 by name or id): removes the topics and their files.
//!
//! In a cluster the request goes to the active controller ([`super::forward`]); the answer
//! waits until this broker's image no longer has the deleted topics.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::forward::forward;
use super::str_bytes;
use crate::broker::cluster::ClusterLink;
use crate::broker::Broker;
use crate::controller::client::ClientError;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    mut req: DeleteTopicsRequest,
) -> Answer<DeleteTopicsResponse> {
    let refused = authorize(ctx, broker, &mut req);
    let mut resp = if let Some(cluster) = broker.cluster() {
        forwarded(ctx, cluster, req).await
    } else {
        respond(broker, req, ctx.api_version)
    };
    resp.responses.extend(refused);
    resp.into()
}

/// Kafka's checks (`ControllerApis.deleteTopics`), unless the request may DELETE on the
/// cluster: a name one may not DESCRIBE, or may describe and that exists but may not
/// DELETE, is TOPIC_AUTHORIZATION_FAILED (a describable name that does not exist is left
/// to UNKNOWN_TOPIC_OR_PARTITION); a known id one may not DELETE is too, named only if
/// describable (an unknown id is left to UNKNOWN_TOPIC_ID). The refused entries leave the
/// request and are answered after the others.
fn authorize(
    ctx: &RequestContext,
    broker: &Broker,
    req: &mut DeleteTopicsRequest,
) -> Vec<DeletableTopicResult> {
    if broker.authorizer().is_none() || authz::allowed_on_cluster(ctx, broker, AclOperation::Delete)
    {
        return Vec::new();
    }
    let may = |op, n: &str| authz::allowed(ctx, broker, op, ResourceType::Topic, n);
    let denied = ErrorCode::TopicAuthorizationFailed.code();
    let by_name = |n: &str| {
        !may(AclOperation::Delete, n)
            && (!may(AclOperation::Describe, n) || broker.topic_view(n).is_some())
    };
    let mut refused = Vec::new();
    req.topic_names.retain(|n| {
        let keep = !by_name(n);
        if !keep {
            refused.push(
                DeletableTopicResult::default()
                    .with_name(Some(n.clone()))
                    .with_error_code(denied),
            );
        }
        keep
    });
    req.topics.retain(|t| {
        let result = match (&t.name, broker.topic_view_by_id(t.topic_id)) {
            (Some(n), _) if by_name(n) => Some(Some(n.clone())),
            (None, Some(view)) if !may(AclOperation::Delete, &view.name) => Some(
                may(AclOperation::Describe, &view.name)
                    .then(|| TopicName(str_bytes(view.name.clone()))),
            ),
            _ => None,
        };
        match result {
            Some(name) => {
                refused.push(
                    DeletableTopicResult::default()
                        .with_name(name)
                        .with_topic_id(t.topic_id)
                        .with_error_code(denied),
                );
                false
            }
            None => true,
        }
    });
    refused
}

/// The controller's answer, once the deleted topics are gone from this broker's image.
async fn forwarded(
    ctx: &RequestContext,
    cluster: &ClusterLink,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let codes = |r: &DeleteTopicsResponse| r.responses.iter().map(|t| t.error_code).collect();
    let resp = match forward(cluster, ctx, &req, codes).await {
        Ok(resp) => resp,
        Err(e) => return failed(req, ctx.api_version, &e),
    };
    let deleted: Vec<(Option<String>, Uuid)> = resp
        .responses
        .iter()
        .filter(|t| t.error_code == ErrorCode::None.code())
        .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
        .collect();
    if !deleted.is_empty() {
        cluster
            .wait_for(|img| {
                deleted.iter().all(|(name, id)| {
                    let by_name = name.as_ref().is_some_and(|n| img.topic(n).is_some());
                    let by_id = !id.is_nil() && img.topic_by_id(id).is_some();
                    !by_name && !by_id
                })
            })
            .await;
    }
    resp
}

/// Every topic answered with the forwarding failure's code.
fn failed(req: DeleteTopicsRequest, version: i16, e: &ClientError) -> DeleteTopicsResponse {
    let responses = wanted(req, version)
        .into_iter()
        .map(|(name, id)| {
            let r = DeletableTopicResult::default()
                .with_name(name)
                .with_topic_id(id)
                .with_error_code(e.code().code());
            if version >= 5 {
                r.with_error_message(Some(str_bytes(e.to_string())))
            } else {
                r
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The topics asked for as (name, id) pairs: v0-5 send names, v6 a name or an id each.
fn wanted(req: DeleteTopicsRequest, version: i16) -> Vec<(Option<TopicName>, Uuid)> {
    if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    }
}

fn respond(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let responses = wanted(req, version)
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
