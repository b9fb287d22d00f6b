//! AlterPartitionReassignments (v0-v1). In a cluster the request goes to the active
//! controller ([`super::forward`]). A single node can only "reassign" a partition onto
//! itself, where it already is: replicas `[node id]` succeed with nothing to do; other
//! replica lists get INVALID_REPLICA_ASSIGNMENT with Kafka's messages (empty list, a
//! broker named twice, a broker that is not registered); a cancel (null replicas) gets
//! NO_REASSIGNMENT_IN_PROGRESS, since none ever is; unknown topics and partitions get
//! UNKNOWN_TOPIC_OR_PARTITION. It needs ALTER on the cluster: without it, the request and
//! each partition get CLUSTER_AUTHORIZATION_FAILED.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::forward::forward;
use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: AlterPartitionReassignmentsRequest,
) -> Answer<AlterPartitionReassignmentsResponse> {
    let version = ctx.api_version;
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Alter) {
        let denied = || {
            (
                ErrorCode::ClusterAuthorizationFailed,
                authz::CLUSTER_DENIED.to_string(),
            )
        };
        return answer(&req, version, |_, _| Err(denied()))
            .with_error_code(denied().0.code())
            .with_error_message(Some(str_bytes(denied().1)))
            .into();
    }
    if let Some(cluster) = broker.cluster() {
        let codes = |r: &AlterPartitionReassignmentsResponse| {
            let parts = r.responses.iter();
            let parts = parts.flat_map(|t| t.partitions.iter().map(|p| p.error_code));
            std::iter::once(r.error_code).chain(parts).collect()
        };
        return match forward(cluster, ctx, &req, codes).await {
            Ok(resp) => resp.into(),
            Err(e) => answer(&req, version, |_, _| Err((e.code(), e.to_string()))).into(),
        };
    }
    let node = broker.node_id();
    answer(&req, version, |topic, p| reassign(broker, node, topic, p)).into()
}

/// The response with `result` for each partition of the request.
fn answer(
    req: &AlterPartitionReassignmentsRequest,
    version: i16,
    result: impl Fn(&str, &ReassignablePartition) -> Result<(), (ErrorCode, String)>,
) -> AlterPartitionReassignmentsResponse {
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match result(&t.name.0, p) {
                        Ok(()) => r.with_error_code(0).with_error_message(None),
                        Err((code, message)) => r
                            .with_error_code(code.code())
                            .with_error_message(Some(str_bytes(message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let resp = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses);
    if version >= 1 {
        resp.with_allow_replication_factor_change(req.allow_replication_factor_change)
    } else {
        resp
    }
}

/// One partition's reassignment on a single node.
fn reassign(
    broker: &Broker,
    node: i32,
    topic: &str,
    p: &ReassignablePartition,
) -> Result<(), (ErrorCode, String)> {
    let unknown = ErrorCode::UnknownTopicOrPartition;
    let t = broker
        .topic(topic)
        .ok_or_else(|| (unknown, format!("Unable to find a topic named {topic}.")))?;
    let index = p.partition_index;
    if usize::try_from(index).map_or(true, |i| i >= t.partitions.len()) {
        return Err((
            unknown,
            format!("Unable to find partition {topic}:{index}."),
        ));
    }
    let invalid = ErrorCode::InvalidReplicaAssignment;
    let Some(replicas) = &p.replicas else {
        return Err((
            ErrorCode::NoReassignmentInProgress,
            "No partition reassignment is in progress for this topic partition.".to_string(),
        ));
    };
    if replicas.is_empty() {
        return Err((
            invalid,
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    for b in replicas {
        if !seen.insert(b.0) {
            return Err((
                invalid,
                format!(
                    "The manual partition assignment includes the broker {} more than once.",
                    b.0
                ),
            ));
        }
    }
    if let Some(other) = replicas.iter().find(|b| b.0 != node) {
        return Err((
            invalid,
            format!(
                "The manual partition assignment includes broker {}, but no such broker is \
                 registered.",
                other.0
            ),
        ));
    }
    Ok(())
}
