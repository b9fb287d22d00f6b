//! FindCoordinator (v0-v6): a group's coordinator is the leader of its
//! `__consumer_offsets` partition (the group's hash modulo the topic's partition count), as
//! the metadata says. v4+ asks for many keys at once (`coordinator_keys`) and gets one entry
//! per key; v0-v3 ask for one key and get the flat form.
//!
//! A transactional id's coordinator (key type 1) is the leader of its `__transaction_state`
//! partition, found the same way; the topic is made on first use (`__transaction_state`,
//! `transaction.state.log.num.partitions`).

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::records::partition_for;
use crate::group::OFFSETS_TOPIC;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::BrokerEndpoint;
use crate::security::acl::{AclOperation, ResourceType};
use crate::topic::TRANSACTION_STATE_TOPIC;

const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

/// Where a key's coordinator is, or (error, message) when there is none to name. A group's
/// coordinator is the leader of its `__consumer_offsets` partition, as the metadata says.
/// The coordinator of `key`, once the request may DESCRIBE the group or transactional id
/// (GROUP_AUTHORIZATION_FAILED / TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise, before
/// anything is looked up, as in Kafka).
fn authorized_locate(
    ctx: &RequestContext,
    broker: &Broker,
    key_type: i8,
    key: &str,
) -> Result<BrokerEndpoint, (i16, String)> {
    let denied = match key_type {
        KEY_GROUP => (!authz::allowed(
            ctx,
            broker,
            AclOperation::Describe,
            ResourceType::Group,
            key,
        ))
        .then_some((
            ErrorCode::GroupAuthorizationFailed,
            "Not authorized to access group.",
        )),
        KEY_TRANSACTION => (!authz::allowed(
            ctx,
            broker,
            AclOperation::Describe,
            ResourceType::TransactionalId,
            key,
        ))
        .then_some((
            ErrorCode::TransactionalIdAuthorizationFailed,
            "Transactional Id authorization failed.",
        )),
        _ => None,
    };
    if let Some((code, message)) = denied {
        return Err((code.code(), message.to_string()));
    }
    locate(broker, &ctx.listener.name, key_type, key)
}

fn locate(
    broker: &Broker,
    listener: &str,
    key_type: i8,
    key: &str,
) -> Result<BrokerEndpoint, (i16, String)> {
    let topic = match key_type {
        KEY_GROUP => OFFSETS_TOPIC,
        KEY_TRANSACTION => TRANSACTION_STATE_TOPIC,
        other => {
            return Err((
                ErrorCode::InvalidRequest.code(),
                format!("unknown key type {other}"),
            ))
        }
    };
    if key.is_empty() {
        return Err((ErrorCode::InvalidRequest.code(), "an empty key".into()));
    }
    let unavailable = |why: String| (ErrorCode::CoordinatorNotAvailable.code(), why);
    let view = match broker.topic_view(topic) {
        Some(v) => v,
        None => {
            // a single node creates it on first use
            let made = if key_type == KEY_GROUP {
                broker.groups().map(drop)
            } else {
                broker.txns().map(drop)
            };
            made.map_err(|e| unavailable(e.to_string()))?;
            broker
                .topic_view(topic)
                .ok_or_else(|| unavailable(format!("no {topic} yet")))?
        }
    };
    let count = i32::try_from(view.partitions.len()).unwrap_or(i32::MAX);
    // Kafka hashes a group id and a transactional id to their partitions the same way
    // (`Utils.abs(hashCode) % count`), and so does Rafka; the group coordinator routes
    // with the same function (`GroupCoordinator::partition_index_of`), and moves groups an
    // older Rafka placed by the hash with its sign bit cleared
    let index = if key_type == KEY_GROUP {
        partition_for(key, count)
    } else {
        crate::txn::records::partition_for(key, count)
    };
    let leader = view
        .partitions
        .iter()
        .find(|p| p.index == index)
        .map_or(-1, |p| p.leader);
    broker
        .metadata()
        .endpoint(leader, listener)
        .ok_or_else(|| unavailable(format!("{topic}-{index} has no live leader")))
}
pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: FindCoordinatorRequest,
) -> Answer<FindCoordinatorResponse> {
    if let Some(cluster) = broker.cluster() {
        // a cluster's internal topics are created by the controller, on first use
        let (topic, partitions, rf, configs) = match req.key_type {
            KEY_GROUP => {
                let gc = &broker.config().group;
                (
                    OFFSETS_TOPIC,
                    gc.offsets_topic_num_partitions,
                    gc.offsets_topic_replication_factor,
                    broker.offsets_topic_configs(),
                )
            }
            KEY_TRANSACTION => {
                let tc = &broker.config().txn;
                (
                    TRANSACTION_STATE_TOPIC,
                    tc.num_partitions,
                    tc.replication_factor,
                    broker.txn_topic_configs(),
                )
            }
            _ => return respond(broker, req, ctx).into(),
        };
        cluster
            .ensure_internal_topic(topic, partitions, rf, &configs)
            .await;
        let created = cluster.wait_for(|i| i.topic(topic).is_some()).await;
        if created {
            // in this broker's view soon after the image has it
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while broker.topic_view(topic).is_none() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    respond(broker, req, ctx).into()
}

fn respond(
    broker: &Broker,
    req: FindCoordinatorRequest,
    ctx: &RequestContext,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let found = authorized_locate(ctx, broker, req.key_type, &key);
                let c = Coordinator::default().with_key(key);
                match found {
                    Ok(b) => c
                        .with_node_id(BrokerId(b.node_id))
                        .with_host(str_bytes(b.host))
                        .with_port(i32::from(b.port)),
                    Err((e, msg)) => c
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::default())
                        .with_port(-1)
                        .with_error_code(e)
                        .with_error_message(Some(str_bytes(msg))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let resp = FindCoordinatorResponse::default();
    match authorized_locate(ctx, broker, req.key_type, &req.key) {
        Ok(b) => resp
            .with_node_id(BrokerId(b.node_id))
            .with_host(str_bytes(b.host))
            .with_port(i32::from(b.port)),
        Err((e, msg)) => {
            let r = resp
                .with_error_code(e)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            if version >= 1 {
                r.with_error_message(Some(str_bytes(msg)))
            } else {
                r
            }
        }
    }
}
