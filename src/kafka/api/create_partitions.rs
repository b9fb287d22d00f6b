//! CreatePartitions (v0-v3): grows a topic to `count` partitions; `validate_only` checks
//! and creates nothing. A count that does not grow the topic is INVALID_PARTITIONS; manual
//! assignments must give exactly one replica list per new partition, each just this broker
//! (else INVALID_REPLICA_ASSIGNMENT). A topic named twice in one request gets
//! INVALID_REQUEST, as in Kafka.
//!
//! In a cluster the request goes to the active controller ([`super::forward`]); the answer
//! waits until this broker's image shows the new partition counts.
//!
//! Each topic named once needs ALTER on it (no cluster-wide shortcut, as in Kafka): the
//! refused ones are answered TOPIC_AUTHORIZATION_FAILED, first, and only the others are
//! grown.

use std::sync::Arc;

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::forward::forward;
use super::str_bytes;
use crate::broker::cluster::ClusterLink;
use crate::broker::{Broker, BrokerError};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    mut req: CreatePartitionsRequest,
) -> Answer<CreatePartitionsResponse> {
    let mut times_named: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *times_named.entry(t.name.as_str()).or_default() += 1;
    }
    let once = times_named
        .iter()
        .filter(|(_, n)| **n == 1)
        .map(|(t, _)| *t);
    let denied = authz::denied_topics(ctx, broker, once, AclOperation::Alter);
    let refused: Vec<CreatePartitionsTopicResult> = req
        .topics
        .iter()
        .filter(|t| denied.contains(t.name.as_str()))
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                .with_error_message(None)
        })
        .collect();
    req.topics.retain(|t| !denied.contains(t.name.as_str()));
    let mut resp = match broker.cluster() {
        _ if req.topics.is_empty() => CreatePartitionsResponse::default(),
        Some(cluster) => forwarded(ctx, cluster, req).await,
        None => respond(broker, req, ctx.api_version),
    };
    resp.results.splice(0..0, refused);
    resp.into()
}

/// The controller's answer, once this broker's image shows the grown topics.
async fn forwarded(
    ctx: &RequestContext,
    cluster: &ClusterLink,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let codes = |r: &CreatePartitionsResponse| r.results.iter().map(|t| t.error_code).collect();
    let resp = match forward(cluster, ctx, &req, codes).await {
        Ok(resp) => resp,
        Err(e) => {
            let results = req
                .topics
                .iter()
                .map(|t| {
                    CreatePartitionsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(e.code().code())
                        .with_error_message(Some(str_bytes(e.to_string())))
                })
                .collect();
            return CreatePartitionsResponse::default().with_results(results);
        }
    };
    if req.validate_only {
        return resp;
    }
    let grown: Vec<(String, usize)> = resp
        .results
        .iter()
        .filter(|t| t.error_code == ErrorCode::None.code())
        .filter_map(|t| {
            let asked = req.topics.iter().find(|r| r.name == t.name)?;
            Some((t.name.0.to_string(), usize::try_from(asked.count).ok()?))
        })
        .collect();
    if !grown.is_empty() {
        cluster
            .wait_for(|img| {
                grown
                    .iter()
                    .all(|(name, n)| img.topic(name).is_some_and(|t| t.partitions.len() >= *n))
            })
            .await;
    }
    resp
}

fn respond(
    broker: &Broker,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut times_named: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *times_named.entry(t.name.0.to_string()).or_default() += 1;
    }
    let results = req
        .topics
        .iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let name = t.name.0.to_string();
            let outcome = if times_named.get(&name).is_some_and(|&n| n > 1) {
                Err((
                    ErrorCode::InvalidRequest.code(),
                    "Duplicate topic in request.".to_string(),
                ))
            } else {
                grow(broker, &name, t, req.validate_only)
            };
            match outcome {
                Ok(()) => result.with_error_code(ErrorCode::None.code()),
                Err((c, m)) => result
                    .with_error_code(c)
                    .with_error_message(Some(str_bytes(m))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

fn grow(
    broker: &Broker,
    name: &str,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let topic = broker.topic(name).ok_or_else(|| {
        (
            ErrorCode::UnknownTopicOrPartition.code(),
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let have = topic.partitions.len() as i32;
    if t.count == have {
        return Err((
            ErrorCode::InvalidPartitions.code(),
            format!("Topic already has {have} partition(s)."),
        ));
    }
    if t.count < have {
        return Err((
            ErrorCode::InvalidPartitions.code(),
            format!(
                "The topic {name} currently has {have} partition(s); {} would not be an increase.",
                t.count
            ),
        ));
    }
    if let Some(assignments) = &t.assignments {
        let additional = t.count - have;
        if assignments.len() as i64 != i64::from(additional) {
            return Err((
                ErrorCode::InvalidReplicaAssignment.code(),
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} \
                     assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        let view = broker.metadata();
        for a in assignments {
            if a.broker_ids.is_empty() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment.code(),
                    "The manual partition assignment includes an empty replica list.".to_string(),
                ));
            }
            if let Some(other) = a.broker_ids.iter().find(|b| !view.has_broker(b.0)) {
                return Err((
                    ErrorCode::InvalidReplicaAssignment.code(),
                    format!(
                        "The manual partition assignment includes broker {}, but no such \
                         broker is registered.",
                        other.0
                    ),
                ));
            }
            if a.broker_ids.len() != 1 {
                return Err((
                    ErrorCode::InvalidReplicaAssignment.code(),
                    format!(
                        "The manual partition assignment includes a partition with {} \
                         replica(s), but this is not consistent with previous partitions, \
                         which have 1 replica(s).",
                        a.broker_ids.len()
                    ),
                ));
            }
        }
    }
    broker
        .add_partitions(name, t.count, validate_only)
        .map(|_| ())
        .map_err(|e| match e {
            // grown (or deleted) concurrently since the checks above
            BrokerError::InvalidPartitions(c) => (
                ErrorCode::InvalidPartitions.code(),
                format!("Cannot grow topic {name} to {c} partition(s)."),
            ),
            e => (e.code().code(), e.to_string()),
        })
}
