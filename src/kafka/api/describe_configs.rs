//! DescribeConfigs (v1-v4): topic resources list every key of
//! [`topic_config::KEYS`] with its effective value, source TOPIC_CONFIG (1) when the topic
//! overrides it else DEFAULT_CONFIG (5), never read-only or sensitive; v3+ add each key's
//! type. `configuration_keys` (when non-empty) filters the list. With `include_synonyms`, an
//! overridden key lists its topic-level value as its one synonym; the broker-level synonyms
//! Kafka adds (`log.retention.ms`, ...) are not sent. Documentation is never sent (null).
//!
//! Broker resources (the empty name, or this node's id) answer with the dynamic broker
//! configs a cluster's metadata holds (the node's own, source DYNAMIC_BROKER_CONFIG, then
//! the cluster-wide defaults, DYNAMIC_DEFAULT_BROKER_CONFIG: what `kafka-configs
//! --describe --entity-type brokers` prints); static configs are not described yet, so a
//! single node answers an empty list. Another node id gets INVALID_REQUEST as in Kafka.
//! In a cluster, topic configs come from the metadata image, hosted here or not. Other resource types (broker loggers, groups, client
//! metrics) get INVALID_REQUEST.
//!
//! Authorization as Kafka's `ConfigHelper`: DESCRIBE_CONFIGS on the topic (else
//! TOPIC_AUTHORIZATION_FAILED), on the cluster for broker, broker-logger and
//! client-metrics resources (CLUSTER_AUTHORIZATION_FAILED), on the group for groups
//! (GROUP_AUTHORIZATION_FAILED). The refused resources come after the others.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::create_topics::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::str_bytes;
use crate::broker::{topic_config, validate_topic_name, Broker};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// ConfigResource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// DescribeConfigs' config types (v3+), as Kafka declares each topic key.
fn config_type(key: &str) -> i8 {
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const LIST: i8 = 7;
    match key {
        "cleanup.policy" => LIST,
        "message.timestamp.type" => STRING,
        "index.interval.bytes" | "max.message.bytes" | "segment.bytes" | "segment.index.bytes" => {
            INT
        }
        "flush.messages" | "flush.ms" | "retention.bytes" | "retention.ms" | "segment.ms" => LONG,
        _ => 0,
    }
}

/// ConfigSource values of dynamic broker configs.
const SOURCE_DYNAMIC_BROKER: i8 = 2;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;

/// A topic's config overrides: in a cluster from the metadata image (hosted here or not),
/// on a single node from the hosted topic.
fn topic_overrides(
    broker: &Broker,
    name: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    match broker.cluster() {
        // without Kafka's keys Rafka does not have: metadata adopted from Kafka may hold
        // them (compression.type=producer, which Kafka writes for __consumer_offsets)
        Some(c) => c.image.read(|i| {
            i.topic(name).map(|_| {
                let mut o = i.topic_config(name).cloned().unwrap_or_default();
                o.retain(|k, _| !topic_config::UNSUPPORTED_KAFKA_KEYS.contains(&k.as_str()));
                o
            })
        }),
        None => broker.topic(name).map(|t| t.overrides.clone()),
    }
}

/// The dynamic broker configs a cluster's image holds for broker resource `name` (a node
/// id: its own, then the cluster-wide defaults it does not override; empty: the defaults),
/// as (key, value, source). A single node has none.
fn dynamic_broker_configs(broker: &Broker, name: &str) -> Vec<(String, String, i8)> {
    let Some(c) = broker.cluster() else {
        return Vec::new();
    };
    c.image.read(|i| {
        let defaults = i.broker_config(None).cloned().unwrap_or_default();
        let mut out = Vec::new();
        if let Ok(id) = name.parse::<i32>() {
            let own = i.broker_config(Some(id)).cloned().unwrap_or_default();
            for (k, v) in &own {
                out.push((k.clone(), v.clone(), SOURCE_DYNAMIC_BROKER));
            }
            for (k, v) in defaults.iter().filter(|(k, _)| !own.contains_key(*k)) {
                out.push((k.clone(), v.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER));
            }
        } else {
            for (k, v) in defaults {
                out.push((k, v, SOURCE_DYNAMIC_DEFAULT_BROKER));
            }
        }
        out
    })
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    mut req: DescribeConfigsRequest,
) -> Answer<DescribeConfigsResponse> {
    let (allowed, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.resources)
        .into_iter()
        .map(|r| {
            let op = AclOperation::DescribeConfigs;
            let denied = config_refusal(ctx, broker, op, r.resource_type, &r.resource_name);
            (r, denied)
        })
        .partition(|(_, denied)| denied.is_none());
    req.resources = allowed.into_iter().map(|(r, _)| r).collect();
    let mut resp = respond(broker, req, ctx.api_version);
    resp.results
        .extend(refused.into_iter().filter_map(|(r, denied)| {
            let (code, message) = denied?;
            Some(
                DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(message))),
            )
        }));
    resp.into()
}

/// Config resource types authorized on the cluster, and groups'.
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_CLIENT_METRICS: i8 = 16;
pub const RESOURCE_GROUP: i8 = 32;

/// Why the request may not `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) the configs of the
/// resource: Kafka's error and message; `None` if it may (or the type is unknown, which
/// the handler refuses on its own).
pub fn config_refusal(
    ctx: &RequestContext,
    broker: &Broker,
    op: AclOperation,
    resource_type: i8,
    name: &str,
) -> Option<(ErrorCode, &'static str)> {
    match resource_type {
        RESOURCE_TOPIC if !authz::allowed(ctx, broker, op, ResourceType::Topic, name) => {
            Some((ErrorCode::TopicAuthorizationFailed, authz::TOPIC_DENIED))
        }
        RESOURCE_GROUP if !authz::allowed(ctx, broker, op, ResourceType::Group, name) => {
            Some((ErrorCode::GroupAuthorizationFailed, authz::GROUP_DENIED))
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER | RESOURCE_CLIENT_METRICS
            if !authz::allowed_on_cluster(ctx, broker, op) =>
        {
            Some((ErrorCode::ClusterAuthorizationFailed, authz::CLUSTER_DENIED))
        }
        _ => None,
    }
}

fn respond(broker: &Broker, req: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let include_synonyms = req.include_synonyms;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            let error = |c: i16, m: Option<String>| {
                result
                    .clone()
                    .with_error_code(c)
                    .with_error_message(m.map(str_bytes))
            };
            let name = r.resource_name.to_string();
            match r.resource_type {
                RESOURCE_TOPIC => {
                    if let Err(e) = validate_topic_name(&name) {
                        return error(e.code().code(), Some(e.to_string()));
                    }
                    let Some(overrides) = topic_overrides(broker, &name) else {
                        return error(ErrorCode::UnknownTopicOrPartition.code(), None);
                    };
                    let effective = topic_config::log_config(&broker.config().log, &overrides)
                        .unwrap_or(broker.config().log);
                    let wanted = |k: &str| match &r.configuration_keys {
                        Some(keys) if !keys.is_empty() => keys.iter().any(|w| w.as_str() == k),
                        _ => true,
                    };
                    let configs = topic_config::KEYS
                        .iter()
                        .filter(|k| wanted(k))
                        .map(|k| {
                            let value = topic_config::value_of(&effective, k).map(str_bytes);
                            let overridden = overrides.contains_key(*k);
                            let synonyms = if overridden && include_synonyms {
                                vec![DescribeConfigsSynonym::default()
                                    .with_name(str_bytes(*k))
                                    .with_value(value.clone())
                                    .with_source(SOURCE_TOPIC)]
                            } else {
                                Vec::new()
                            };
                            let entry = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(*k))
                                .with_value(value)
                                .with_config_source(if overridden {
                                    SOURCE_TOPIC
                                } else {
                                    SOURCE_DEFAULT
                                })
                                .with_read_only(false)
                                .with_is_sensitive(false)
                                .with_synonyms(synonyms)
                                .with_documentation(None);
                            if version >= 3 {
                                entry.with_config_type(config_type(k))
                            } else {
                                entry
                            }
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    let me = broker.node_id();
                    if name.is_empty() || name.parse::<i32>() == Ok(me) {
                        let dynamic = dynamic_broker_configs(broker, &name);
                        let configs = dynamic
                            .into_iter()
                            .filter(|(k, ..)| match &r.configuration_keys {
                                Some(keys) if !keys.is_empty() => {
                                    keys.iter().any(|w| w.as_str() == k)
                                }
                                _ => true,
                            })
                            .map(|(k, v, source)| {
                                let synonyms = if include_synonyms {
                                    vec![DescribeConfigsSynonym::default()
                                        .with_name(str_bytes(k.clone()))
                                        .with_value(Some(str_bytes(v.clone())))
                                        .with_source(source)]
                                } else {
                                    Vec::new()
                                };
                                DescribeConfigsResourceResult::default()
                                    .with_name(str_bytes(k))
                                    .with_value(Some(str_bytes(v)))
                                    .with_config_source(source)
                                    .with_read_only(false)
                                    .with_is_sensitive(false)
                                    .with_synonyms(synonyms)
                                    .with_documentation(None)
                            })
                            .collect();
                        result.with_configs(configs)
                    } else {
                        error(
                            ErrorCode::InvalidRequest.code(),
                            Some(format!(
                                "Unexpected broker id, expected {me} or empty string, \
                                 but received {name}"
                            )),
                        )
                    }
                }
                other => error(
                    ErrorCode::InvalidRequest.code(),
                    Some(format!("Unsupported resource type: {other}")),
                ),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
