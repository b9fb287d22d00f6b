//! CreateTopics (v2-v7): partitions (-1: `num.partitions`), replication factor 1 only
//! (else INVALID_REPLICATION_FACTOR), topic configs (unknown keys: INVALID_CONFIG),
//! `validate_only`. v5+ responses echo the partitions, replication factor and configs.
//!
//! In a cluster the request goes to the active controller ([`super::forward`]); the answer
//! waits until this broker's image shows the created topics with their partitions, so the
//! client's next Metadata here sees them.
//!
//! Authorization as Kafka's: CREATE on the cluster or on each topic; a topic created by a
//! principal that may not DESCRIBE_CONFIGS it is answered (v5+) without its configs,
//! partition count and replication factor, and TOPIC_AUTHORIZATION_FAILED as its
//! `topic_config_error_code`.

use std::sync::Arc;

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};

use super::forward::forward;
use super::str_bytes;
use crate::broker::cluster::ClusterLink;
use crate::broker::{topic_config, Broker};
use crate::controller::client::ClientError;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// DescribeConfigs' config sources, as CreateTopics v5+ reports them.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    mut req: CreateTopicsRequest,
) -> Answer<CreateTopicsResponse> {
    // Kafka: CREATE on the cluster, or on each topic (TOPIC_AUTHORIZATION_FAILED,
    // "Authorization failed.", before the name or its existence is looked at)
    let order: Vec<TopicName> = req.topics.iter().map(|t| t.name.clone()).collect();
    let mut denied = Vec::new();
    if broker.authorizer().is_some()
        && !authz::allowed_on_cluster(ctx, broker, AclOperation::Create)
    {
        req.topics.retain(|t| {
            let ok = authz::allowed(
                ctx,
                broker,
                AclOperation::Create,
                ResourceType::Topic,
                &t.name,
            );
            if !ok {
                denied.push(t.name.clone());
            }
            ok
        });
    }
    let mut resp = create(ctx, broker, req).await;
    if ctx.api_version >= 5 {
        let op = AclOperation::DescribeConfigs;
        for t in resp.topics.iter_mut().filter(|t| t.error_code == 0) {
            if !authz::allowed(ctx, broker, op, ResourceType::Topic, &t.name) {
                t.topic_config_error_code = ErrorCode::TopicAuthorizationFailed.code();
                t.configs = Some(Vec::new());
                t.num_partitions = -1;
                t.replication_factor = -1;
            }
        }
    }
    if !denied.is_empty() {
        resp.topics.extend(denied.into_iter().map(|name| {
            CreatableTopicResult::default()
                .with_name(name)
                .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                .with_error_message(Some(str_bytes("Authorization failed.")))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        }));
        let at = |n: &TopicName| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
        resp.topics.sort_by_key(|t| at(&t.name));
    }
    Answer::Now(resp)
}

async fn create(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    if let Some(cluster) = broker.cluster() {
        let mut resp = forwarded(ctx, cluster, &req).await;
        // the Java admin client needs a created topic's configs (v5+); the controller
        // does not know this broker's defaults, so they are filled in here
        if ctx.api_version >= 5 {
            for t in resp.topics.iter_mut().filter(|t| t.error_code == 0) {
                if t.configs.is_none() {
                    let overrides: BTreeMap<String, String> = req
                        .topics
                        .iter()
                        .filter(|r| r.name == t.name)
                        .flat_map(|r| &r.configs)
                        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                        .collect();
                    t.configs = Some(config_entries(broker, &overrides));
                }
            }
        }
        return resp;
    }
    respond(broker, req, ctx.api_version)
}

/// The controller's answer, once the topics it created are in this broker's image.
async fn forwarded(
    ctx: &RequestContext,
    cluster: &ClusterLink,
    req: &CreateTopicsRequest,
) -> CreateTopicsResponse {
    let codes = |r: &CreateTopicsResponse| r.topics.iter().map(|t| t.error_code).collect();
    let resp = match forward(cluster, ctx, req, codes).await {
        Ok(resp) => resp,
        Err(e) => return failed(req, &e),
    };
    if req.validate_only {
        return resp;
    }
    // (name, the partitions it must have: at least 1 when the controller chose the count)
    let created: Vec<(String, usize)> = resp
        .topics
        .iter()
        .filter(|t| t.error_code == ErrorCode::None.code())
        .map(|t| {
            let asked = req.topics.iter().find(|r| r.name == t.name).map(|r| {
                if r.assignments.is_empty() {
                    r.num_partitions
                } else {
                    r.assignments.len() as i32
                }
            });
            let count = if t.num_partitions > 0 {
                t.num_partitions
            } else {
                asked.unwrap_or(1)
            };
            (
                t.name.0.to_string(),
                usize::try_from(count).unwrap_or(1).max(1),
            )
        })
        .collect();
    if !created.is_empty() {
        cluster
            .wait_for(|img| {
                created
                    .iter()
                    .all(|(name, n)| img.topic(name).is_some_and(|t| t.partitions.len() >= *n))
            })
            .await;
    }
    resp
}

/// A created topic's configs as CreateTopics v5+ answers them: every supported key with its
/// effective value and whether the topic overrides it.
fn config_entries(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    let effective =
        topic_config::log_config(&broker.config().log, overrides).unwrap_or(broker.config().log);
    topic_config::KEYS
        .iter()
        .map(|k| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(*k))
                .with_value(topic_config::value_of(&effective, k).map(str_bytes))
                .with_config_source(if overrides.contains_key(*k) {
                    SOURCE_TOPIC
                } else {
                    SOURCE_DEFAULT
                })
        })
        .collect()
}

/// Every topic answered with the forwarding failure's code.
fn failed(req: &CreateTopicsRequest, e: &ClientError) -> CreateTopicsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(e.code().code())
                .with_error_message(Some(str_bytes(e.to_string())))
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn respond(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let view = broker.metadata();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let mut partitions = t.num_partitions;
            if !t.assignments.is_empty() {
                let unknown = t
                    .assignments
                    .iter()
                    .flat_map(|a| &a.broker_ids)
                    .find(|b| !view.has_broker(b.0));
                if let Some(b) = unknown {
                    return result
                        .with_error_code(ErrorCode::InvalidReplicaAssignment.code())
                        .with_error_message(Some(str_bytes(format!(
                            "broker {} is not registered",
                            b.0
                        ))));
                }
                partitions = t.assignments.len() as i32;
            }
            let overrides: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            match broker.create_topic(
                &name,
                partitions,
                t.replication_factor,
                overrides.clone(),
                req.validate_only,
            ) {
                Ok(topic) => {
                    let configs = config_entries(broker, &overrides);
                    let partitions = if partitions == -1 {
                        broker.config().num_partitions
                    } else {
                        partitions
                    };
                    let mut result = result.with_error_code(ErrorCode::None.code());
                    if version >= 5 {
                        result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(configs));
                    }
                    if version >= 7 {
                        result = result.with_topic_id(topic.id);
                    }
                    result
                }
                Err(e) => result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}
