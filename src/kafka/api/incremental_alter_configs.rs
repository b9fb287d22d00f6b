//! IncrementalAlterConfigs (v0-v1): topic config overrides. SET (0) works on every key of
//! [`topic_config::KEYS`]; APPEND (2) and SUBTRACT (3) only on the list key
//! `cleanup.policy` (`delete`, `compact` or both), elsewhere INVALID_CONFIG as in Kafka. The whole new override set is validated
//! before anything is stored; `validate_only` stores nothing.
//!
//! DELETE (1) of any key succeeds, as in Kafka 4: its controller
//! (`ConfigurationControlManager.incrementalAlterConfigResource`) writes a record only for
//! a key whose value changes, and validates only the resulting configs, so deleting a key
//! with no override checks nothing. That includes Kafka's topic keys Rafka does not
//! support yet ([`topic_config::UNSUPPORTED_KAFKA_KEYS`]): MirrorMaker 2 sends, every
//! sync, one request that SETs the keys it copies and DELETEs every other Kafka topic key
//! (compression.type, preallocate, ...); refusing those DELETEs would refuse its SETs too
//! (issue #16). SET, APPEND or SUBTRACT of such a key is INVALID_CONFIG, saying Rafka
//! does not support it yet; of a key Kafka does not know either, INVALID_CONFIG "unknown
//! topic config".
//!
//! Per-resource errors: UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION, INVALID_CONFIG
//! (unknown or unsupported key, bad value) and INVALID_REQUEST (duplicate keys, null SET
//! value, unknown operation, broker and other resource types: broker configs cannot be
//! altered), each with a message.
//!
//! In a cluster the whole request goes to the active controller ([`super::forward`]), whose
//! answer is returned; for topic and broker resources it altered with SET and DELETE only,
//! the answer waits until this broker's image shows the new values.
//!
//! Authorization as Kafka's: ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED), on
//! the cluster for broker resources (CLUSTER_AUTHORIZATION_FAILED), on the group for
//! groups (GROUP_AUTHORIZATION_FAILED). Before that, as Kafka's broker does, a resource
//! named twice, a key named twice and a null value to set are refused with
//! INVALID_REQUEST, and never forwarded; only the authorized resources are altered, or
//! forwarded.

use std::sync::Arc;

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::{config_refusal, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::forward::forward;
use super::str_bytes;
use crate::broker::cluster::ClusterLink;
use crate::broker::{topic_config, validate_topic_name, Broker, BrokerError, TopicConfigError};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Topic keys whose values are comma-separated lists (APPEND/SUBTRACT apply).
const LIST_KEYS: &[&str] = &["cleanup.policy"];

/// Kafka's message for a resource that names a key twice.
const DUPLICATE_KEYS: &str = "Error due to duplicate config keys";

/// A resource's failure: (error code, message).
type Failure = (i16, String);

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    mut req: IncrementalAlterConfigsRequest,
) -> Answer<IncrementalAlterConfigsResponse> {
    let mut times_named: HashMap<(i8, &str), usize> = HashMap::new();
    for r in &req.resources {
        *times_named
            .entry((r.resource_type, r.resource_name.as_str()))
            .or_default() += 1;
    }
    let refusals: Vec<Option<(ErrorCode, String)>> = req
        .resources
        .iter()
        .map(|r| {
            let (kind, name) = (r.resource_type, &r.resource_name);
            let named = times_named.get(&(kind, name.as_str())).copied();
            invalid(r, named.unwrap_or(1)).or_else(|| {
                config_refusal(ctx, broker, AclOperation::AlterConfigs, kind, name)
                    .map(|(code, message)| (code, message.to_string()))
            })
        })
        .collect();
    if refusals.iter().all(Option::is_none) {
        return alter_all(ctx, broker, req).await.into();
    }
    let all = std::mem::take(&mut req.resources);
    req.resources = all
        .iter()
        .zip(&refusals)
        .filter(|(_, refused)| refused.is_none())
        .map(|(r, _)| r.clone())
        .collect();
    let mut altered = match req.resources.is_empty() {
        true => Vec::new(),
        false => alter_all(ctx, broker, req).await.responses,
    }
    .into_iter();
    let responses = all
        .into_iter()
        .zip(refusals)
        .map(|(r, refused)| {
            let failed = |code: ErrorCode, message: &str| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(message)))
            };
            match refused {
                Some((code, message)) => failed(code, &message),
                None => altered.next().unwrap_or_else(|| {
                    failed(ErrorCode::UnknownServerError, "no answer for this resource")
                }),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default()
        .with_responses(responses)
        .into()
}

/// What Kafka's broker refuses before it authorizes or forwards anything
/// (`ConfigAdminManager.preprocess`): a resource named more than once (`times` times, both
/// copies refused), a key named twice, a null value to set, append or subtract.
fn invalid(r: &AlterConfigsResource, times: usize) -> Option<(ErrorCode, String)> {
    let refused = |message: String| Some((ErrorCode::InvalidRequest, message));
    if times > 1 {
        return refused("Each resource must appear at most once.".into());
    }
    let mut seen = HashSet::new();
    if !r.configs.iter().all(|c| seen.insert(c.name.as_str())) {
        return refused(DUPLICATE_KEYS.into());
    }
    let nulls: Vec<&str> = r
        .configs
        .iter()
        .filter(|c| c.value.is_none() && c.config_operation != OP_DELETE)
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return refused(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        ));
    }
    None
}

/// Every resource of the request altered, by the controller or here.
async fn alter_all(
    ctx: &RequestContext,
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    match broker.cluster() {
        Some(cluster) => forwarded(ctx, cluster, req).await,
        None => respond(broker, req, ctx.api_version),
    }
}

/// One altered resource as the image should come to show it: (topic, or broker id `None`
/// for the cluster default) and each key's new value (`None`: deleted).
type Expected = (Result<String, Option<i32>>, Vec<(String, Option<String>)>);

/// The controller's answer, once this broker's image shows the SET and DELETE changes of
/// the topic and broker resources it altered.
async fn forwarded(
    ctx: &RequestContext,
    cluster: &ClusterLink,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let codes =
        |r: &IncrementalAlterConfigsResponse| r.responses.iter().map(|r| r.error_code).collect();
    let resp = match forward(cluster, ctx, &req, codes).await {
        Ok(resp) => resp,
        Err(e) => {
            let responses = req
                .resources
                .iter()
                .map(|r| {
                    AlterConfigsResourceResponse::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone())
                        .with_error_code(e.code().code())
                        .with_error_message(Some(str_bytes(e.to_string())))
                })
                .collect();
            return IncrementalAlterConfigsResponse::default().with_responses(responses);
        }
    };
    if req.validate_only {
        return resp;
    }
    let expected: Vec<Expected> = resp
        .responses
        .iter()
        .filter(|r| r.error_code == ErrorCode::None.code())
        .filter_map(|done| {
            let asked = req.resources.iter().find(|r| {
                r.resource_type == done.resource_type && r.resource_name == done.resource_name
            })?;
            let target = match asked.resource_type {
                RESOURCE_TOPIC => Ok(asked.resource_name.to_string()),
                RESOURCE_BROKER if asked.resource_name.is_empty() => Err(None),
                RESOURCE_BROKER => Err(Some(asked.resource_name.parse::<i32>().ok()?)),
                _ => return None,
            };
            let changes = asked
                .configs
                .iter()
                .map(|c| match c.config_operation {
                    OP_SET => Some((c.name.to_string(), Some(c.value.as_ref()?.to_string()))),
                    OP_DELETE => Some((c.name.to_string(), None)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some((target, changes))
        })
        .collect();
    if !expected.is_empty() {
        cluster
            .wait_for(|img| {
                expected.iter().all(|(target, changes)| {
                    let configs = match target {
                        Ok(topic) => img.topic_config(topic),
                        Err(id) => img.broker_config(*id),
                    };
                    changes.iter().all(|(key, value)| {
                        configs.and_then(|c| c.get(key)).map(String::as_str) == value.as_deref()
                    })
                })
            })
            .await;
    }
    resp
}

fn respond(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let validate_only = req.validate_only;
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            match alter(broker, &r, validate_only) {
                Ok(()) => response,
                Err((c, m)) => response
                    .with_error_code(c)
                    .with_error_message(Some(str_bytes(m))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter(broker: &Broker, r: &AlterConfigsResource, validate_only: bool) -> Result<(), Failure> {
    let name = r.resource_name.to_string();
    match r.resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            return Err((
                ErrorCode::InvalidRequest.code(),
                "Rafka does not support altering broker configs".to_string(),
            ))
        }
        other => {
            return Err((
                ErrorCode::InvalidRequest.code(),
                format!("Unsupported resource type: {other}"),
            ))
        }
    }
    if name.is_empty() {
        return Err((
            ErrorCode::InvalidRequest.code(),
            "Default topic resources are not allowed.".to_string(),
        ));
    }
    validate_topic_name(&name).map_err(|e| (e.code().code(), e.to_string()))?;
    let mut seen = HashSet::new();
    if !r.configs.iter().all(|c| seen.insert(c.name.as_str())) {
        return Err((ErrorCode::InvalidRequest.code(), DUPLICATE_KEYS.to_string()));
    }
    let topic = broker.topic(&name).ok_or_else(|| {
        (
            ErrorCode::UnknownTopicOrPartition.code(),
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let defaults = broker.config().log;
    let mut overrides = topic.overrides.clone();
    for c in &r.configs {
        let key = c.name.to_string();
        let value = c.value.as_ref().map(|v| v.to_string());
        match c.config_operation {
            OP_DELETE => {
                // any key, as Kafka: a key Rafka does not take has no override to delete
                overrides.remove(&key);
            }
            op @ (OP_SET | OP_APPEND | OP_SUBTRACT) => {
                check_settable(&key)?;
                let Some(value) = value else {
                    return Err((
                        ErrorCode::InvalidRequest.code(),
                        format!("Null value not supported for : {key}"),
                    ));
                };
                let new = if op == OP_SET {
                    value
                } else {
                    list_op(&defaults, &overrides, &key, op == OP_APPEND, &value)?
                };
                overrides.insert(key, new);
            }
            other => {
                return Err((
                    ErrorCode::InvalidRequest.code(),
                    format!("Unknown config operation {other} for {key}"),
                ))
            }
        }
    }
    broker
        .set_topic_configs(&name, overrides, validate_only)
        .map_err(|e| match e {
            BrokerError::UnknownTopic(_) => (
                ErrorCode::UnknownTopicOrPartition.code(),
                format!("The topic '{name}' does not exist."),
            ),
            e => (e.code().code(), e.to_string()),
        })
}

/// INVALID_CONFIG unless `key` is one Rafka can set.
fn check_settable(key: &str) -> Result<(), Failure> {
    if topic_config::KEYS.contains(&key) {
        return Ok(());
    }
    let message = if topic_config::UNSUPPORTED_KAFKA_KEYS.contains(&key) {
        format!("Rafka does not support topic config '{key}' yet")
    } else {
        TopicConfigError::UnknownKey(key.to_string()).to_string()
    };
    Err((ErrorCode::InvalidConfig.code(), message))
}

/// APPEND (`append`) or SUBTRACT `value`'s items to/from the list key's current value (the
/// override, else the default).
fn list_op(
    defaults: &crate::log::LogConfig,
    overrides: &BTreeMap<String, String>,
    key: &str,
    append: bool,
    value: &str,
) -> Result<String, Failure> {
    if !LIST_KEYS.contains(&key) {
        let verb = if append { "append" } else { "subtract" };
        return Err((
            ErrorCode::InvalidConfig.code(),
            format!("Config value {verb} is not allowed for config key: {key}"),
        ));
    }
    let current = overrides
        .get(key)
        .cloned()
        .or_else(|| topic_config::value_of(defaults, key))
        .unwrap_or_default();
    let items = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut list = items(&current);
    for item in items(value) {
        if append {
            if !list.contains(&item) {
                list.push(item);
            }
        } else {
            list.retain(|i| *i != item);
        }
    }
    Ok(list.join(","))
}
