//! DescribeQuorum (v0-v2). In a cluster the request goes to the active controller
//! ([`super::forward`]), which answers for the `__cluster_metadata` quorum. A single node
//! has no quorum: it does not advertise DescribeQuorum (as a Kafka broker in ZooKeeper
//! mode did not), and a client that sends it anyway gets UNSUPPORTED_VERSION, with a
//! message from v2. It needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse};

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
    req: DescribeQuorumRequest,
) -> Answer<DescribeQuorumResponse> {
    let version = ctx.api_version;
    let (code, message) = match broker.cluster() {
        _ if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) => (
            ErrorCode::ClusterAuthorizationFailed,
            authz::CLUSTER_DENIED.to_string(),
        ),
        Some(cluster) => {
            let codes = |r: &DescribeQuorumResponse| {
                let parts = r.topics.iter();
                let parts = parts.flat_map(|t| t.partitions.iter().map(|p| p.error_code));
                std::iter::once(r.error_code).chain(parts).collect()
            };
            match forward(cluster, ctx, &req, codes).await {
                Ok(resp) => return resp.into(),
                Err(e) => (e.code(), e.to_string()),
            }
        }
        None => (
            ErrorCode::UnsupportedVersion,
            "this node runs alone: there is no metadata quorum to describe".to_string(),
        ),
    };
    let resp = DescribeQuorumResponse::default().with_error_code(code.code());
    if version >= 2 {
        resp.with_error_message(Some(str_bytes(message))).into()
    } else {
        resp.into()
    }
}
