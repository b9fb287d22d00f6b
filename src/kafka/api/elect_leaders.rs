//! ElectLeaders (v0-v2). In a cluster the request goes to the active controller
//! ([`super::forward`]). A single node leads every partition it has, which is also each
//! partition's preferred (only) replica, so no election is ever needed: each named
//! partition that exists gets ELECTION_NOT_NEEDED, others UNKNOWN_TOPIC_OR_PARTITION. With
//! null partitions (all of them), every topic is listed with no partition results: Kafka's
//! `ReplicationControlManager.electLeaders` leaves out the partitions whose election is not
//! needed. An unknown election type is INVALID_REQUEST for the request and each partition.
//! It needs ALTER on the cluster, else the request and each partition get
//! CLUSTER_AUTHORIZATION_FAILED.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::forward::forward;
use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

/// Kafka's `ElectionType`: PREFERRED (0) and UNCLEAN (1).
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ElectLeadersRequest,
) -> Answer<ElectLeadersResponse> {
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Alter) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        return failed(&req, ctx.api_version, code, authz::CLUSTER_DENIED.into()).into();
    }
    if let Some(cluster) = broker.cluster() {
        let codes = |r: &ElectLeadersResponse| {
            let parts = r.replica_election_results.iter();
            let parts = parts.flat_map(|t| t.partition_result.iter().map(|p| p.error_code));
            std::iter::once(r.error_code).chain(parts).collect()
        };
        return match forward(cluster, ctx, &req, codes).await {
            Ok(resp) => resp.into(),
            Err(e) => failed(&req, ctx.api_version, e.code(), e.to_string()).into(),
        };
    }
    respond(broker, &req, ctx.api_version).into()
}

fn respond(broker: &Broker, req: &ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    // v0 has no election type: preferred
    if version >= 1 && req.election_type != PREFERRED && req.election_type != UNCLEAN {
        let message = format!("Unknown election type {}", req.election_type);
        return failed(req, version, ErrorCode::InvalidRequest, message);
    }
    let Some(wanted) = &req.topic_partitions else {
        let results = broker
            .topics()
            .iter()
            .map(|t| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(t.name.clone())))
                    .with_partition_result(Vec::new())
            })
            .collect();
        return ElectLeadersResponse::default().with_replica_election_results(results);
    };
    let results = wanted
        .iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let topic = broker.topic(&name);
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let result = PartitionResult::default().with_partition_id(p);
                    let (code, message) = match &topic {
                        None => (
                            ErrorCode::UnknownTopicOrPartition,
                            format!("No such topic as {name}"),
                        ),
                        Some(topic)
                            if usize::try_from(p).map_or(true, |i| i >= topic.partitions.len()) =>
                        {
                            (
                                ErrorCode::UnknownTopicOrPartition,
                                format!("No such partition as {name}-{p}"),
                            )
                        }
                        Some(_) => (
                            ErrorCode::ElectionNotNeeded,
                            "Leader election not needed for topic partition.".to_string(),
                        ),
                    };
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// The whole request failed with `code`: every named partition gets it (as Kafka's
/// `ElectLeadersRequest.getErrorResponse`), and the top-level code from v1.
fn failed(
    req: &ElectLeadersRequest,
    version: i16,
    code: ErrorCode,
    message: String,
) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message.clone())))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(partitions)
        })
        .collect();
    let resp = ElectLeadersResponse::default().with_replica_election_results(results);
    if version >= 1 {
        resp.with_error_code(code.code())
    } else {
        resp
    }
}
