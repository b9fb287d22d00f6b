//! ListPartitionReassignments (v0). In a cluster the request goes to the active controller
//! ([`super::forward`]). A single node never reassigns anything: the list is empty (Kafka
//! leaves unknown topics out too). It needs DESCRIBE on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
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
    req: ListPartitionReassignmentsRequest,
) -> Answer<ListPartitionReassignmentsResponse> {
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes(authz::CLUSTER_DENIED)))
            .into();
    }
    if let Some(cluster) = broker.cluster() {
        let codes = |r: &ListPartitionReassignmentsResponse| vec![r.error_code];
        return match forward(cluster, ctx, &req, codes).await {
            Ok(resp) => resp.into(),
            Err(e) => ListPartitionReassignmentsResponse::default()
                .with_error_code(e.code().code())
                .with_error_message(Some(str_bytes(e.to_string())))
                .into(),
        };
    }
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(Vec::new())
        .into()
}
