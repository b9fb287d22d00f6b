//! Metadata (v0-v13): the brokers (their advertised host and port on the listener the
//! request came in on), the cluster id and the
//! controller, and topics with their ids and partitions (leader, leader epoch, replicas,
//! ISR), all from the [metadata view](crate::metadata). A null topic list means every
//! topic, an empty one none. Unknown named topics are created when `auto.create.topics.enable` and the
//! request allows it (v4+); invalid names get INVALID_TOPIC_EXCEPTION.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::TopicView;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::topic;

fn broker_ids(ids: Vec<i32>) -> Vec<BrokerId> {
    ids.into_iter().map(BrokerId).collect()
}

fn topic_entry(t: &TopicView, version: i16, ops: i32) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|v| {
            let v = v.clone();
            let mp = MetadataResponsePartition::default()
                .with_partition_index(v.index)
                .with_leader_id(BrokerId(v.leader))
                .with_replica_nodes(broker_ids(v.replicas))
                .with_isr_nodes(broker_ids(v.isr))
                .with_offline_replicas(broker_ids(v.offline_replicas));
            if version >= 7 {
                mp.with_leader_epoch(v.leader_epoch)
            } else {
                mp
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(if version >= 10 { t.id } else { Uuid::nil() })
        .with_partitions(partitions)
        .with_is_internal(version >= 1 && topic::is_internal(&t.name))
        .with_topic_authorized_operations(ops)
}

fn error_entry(name: Option<String>, id: Uuid, error_code: i16) -> MetadataResponseTopic {
    // (an id is only ever non-nil here for v10+ requests, which look topics up by id)
    MetadataResponseTopic::default()
        .with_error_code(error_code)
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(authz::OPS_NOT_REQUESTED)
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: MetadataRequest,
) -> Answer<MetadataResponse> {
    if let Some(cluster) = broker.cluster() {
        let auto_create = ctx.api_version < 4 || req.allow_auto_topic_creation;
        if auto_create && broker.config().auto_create_topics {
            let missing: Vec<String> = req
                .topics
                .iter()
                .flatten()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .filter(|n| {
                    broker.topic_view(n).is_none()
                        && crate::broker::validate_topic_name(n).is_ok()
                        && !topic::is_internal(n)
                        && may_describe(ctx, broker, n)
                        && may_create(ctx, broker, n)
                })
                .collect();
            if !missing.is_empty() {
                cluster.auto_create(&missing).await;
            }
        }
    }
    respond(broker, req, ctx).into()
}

/// Kafka: a topic is listed, or reported, only to a principal that may DESCRIBE it.
fn may_describe(ctx: &RequestContext, broker: &Broker, name: &str) -> bool {
    authz::allowed(
        ctx,
        broker,
        AclOperation::Describe,
        ResourceType::Topic,
        name,
    )
}

/// Kafka: auto-creation needs CREATE on the cluster or on the topic.
fn may_create(ctx: &RequestContext, broker: &Broker, name: &str) -> bool {
    authz::allowed_on_cluster(ctx, broker, AclOperation::Create)
        || authz::allowed(ctx, broker, AclOperation::Create, ResourceType::Topic, name)
}

fn respond(broker: &Broker, req: MetadataRequest, ctx: &RequestContext) -> MetadataResponse {
    let version = ctx.api_version;
    // v8+: the authorized operations of each topic one may describe, if asked for
    let ops = |name: &str| match version >= 8 && req.include_topic_authorized_operations {
        true => authz::authorized_operations(ctx, broker, ResourceType::Topic, name),
        false => authz::OPS_NOT_REQUESTED,
    };
    let entry = |t: &TopicView| topic_entry(t, version, ops(&t.name));
    // v8-v10: the cluster's, if asked for (0 without DESCRIBE on it, as Kafka)
    let cluster_ops = match (8..=10).contains(&version) && req.include_cluster_authorized_operations
    {
        false => authz::OPS_NOT_REQUESTED,
        true if authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) => {
            authz::authorized_operations(ctx, broker, ResourceType::Cluster, CLUSTER_NAME)
        }
        true => 0,
    };
    let view = broker.metadata();
    let brokers = view
        .endpoints(&ctx.listener.name)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(str_bytes))
        })
        .collect();
    // v0: an empty list means all topics (null came with v1)
    let wanted = match req.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let topics = match wanted {
        // every topic this principal may describe; the others are left out, not reported
        None => broker
            .topic_views()
            .iter()
            .filter(|t| may_describe(ctx, broker, &t.name))
            .map(&entry)
            .collect(),
        Some(requested) => {
            let auto_create = version < 4 || req.allow_auto_topic_creation;
            requested
                .into_iter()
                // a topic id names the topic whatever the name says (the Java client
                // sends "" beside an id, the name field's default)
                .map(|rt| match rt.name.filter(|_| rt.topic_id.is_nil()) {
                    Some(name) => {
                        let name = name.0.to_string();
                        let denied = ErrorCode::TopicAuthorizationFailed.code();
                        // authorized before existence: a topic one may not describe is
                        // not said to exist or not
                        if !may_describe(ctx, broker, &name) {
                            return error_entry(Some(name), Uuid::nil(), denied);
                        }
                        let exists = broker.topic_view(&name).is_some();
                        let creatable = broker.config().auto_create_topics && auto_create;
                        if !exists && creatable && !may_create(ctx, broker, &name) {
                            return error_entry(Some(name), Uuid::nil(), denied);
                        }
                        let found = match broker.topic_view(&name) {
                            Some(t) => Ok(t),
                            None if broker.cluster().is_some() => {
                                // auto-created (or not) by the controller before this
                                Err(crate::broker::validate_topic_name(&name).err().unwrap_or(
                                    crate::broker::BrokerError::UnknownTopic(name.clone()),
                                ))
                            }
                            None => broker
                                .topic_or_auto_create(&name, auto_create)
                                .map(|t| TopicView::of(&t)),
                        };
                        match found {
                            Ok(t) => entry(&t),
                            Err(e) => error_entry(Some(name.clone()), Uuid::nil(), e.code().into())
                                .with_topic_authorized_operations(ops(&name)),
                        }
                    }
                    None => match broker.topic_view_by_id(rt.topic_id) {
                        // ids are not secret (Kafka): a known one is reported denied
                        Some(t) if !may_describe(ctx, broker, &t.name) => error_entry(
                            None,
                            rt.topic_id,
                            ErrorCode::TopicAuthorizationFailed.code(),
                        ),
                        Some(t) => entry(&t),
                        None => error_entry(None, rt.topic_id, ErrorCode::UnknownTopicId.code()),
                    },
                })
                .collect()
        }
    };
    let mut resp = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_ops);
    if version >= 1 {
        resp = resp.with_controller_id(BrokerId(view.controller_id));
    }
    if version >= 2 {
        resp = resp.with_cluster_id(Some(str_bytes(view.cluster_id.clone())));
    }
    resp
}
