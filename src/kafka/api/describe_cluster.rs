//! DescribeCluster (v0-v2): the cluster id, the controller and the brokers (advertised host
//! and port, rack, never fenced), from the [metadata view](crate::metadata). Like a Kafka broker listener, a
//! request for controller endpoints (endpoint_type 2) gets MISMATCHED_ENDPOINT_TYPE and an
//! unknown endpoint type UNSUPPORTED_ENDPOINT_TYPE (v0 requests can only ask for brokers).
//! Kafka checks no ACL for it; the cluster's authorized operations, when asked for, are
//! what the principal may do to the cluster if it may DESCRIBE it, else 0.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

const ENDPOINT_BROKERS: i8 = 1;
const ENDPOINT_CONTROLLERS: i8 = 2;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeClusterRequest,
) -> Answer<DescribeClusterResponse> {
    respond(broker, req, ctx).into()
}

fn respond(
    broker: &Broker,
    req: DescribeClusterRequest,
    ctx: &RequestContext,
) -> DescribeClusterResponse {
    // (v0 requests always decode as endpoint_type 1, so the errors below are v1+ only)
    match req.endpoint_type {
        ENDPOINT_BROKERS => {}
        ENDPOINT_CONTROLLERS => {
            return DescribeClusterResponse::default()
                .with_error_code(ErrorCode::MismatchedEndpointType.code())
                .with_error_message(Some(str_bytes(
                    "The request was sent to an endpoint of type BROKER, but we wanted an \
                     endpoint of type CONTROLLER",
                )))
        }
        other => {
            return DescribeClusterResponse::default()
                .with_error_code(ErrorCode::UnsupportedEndpointType.code())
                .with_error_message(Some(str_bytes(format!(
                    "Unsupported endpoint type {other}"
                ))))
        }
    }
    let view = broker.metadata();
    let brokers = view
        .endpoints(&ctx.listener.name)
        .into_iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(str_bytes(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(str_bytes))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_id(str_bytes(view.cluster_id.clone()))
        .with_controller_id(BrokerId(view.controller_id))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(match req.include_cluster_authorized_operations {
            false => authz::OPS_NOT_REQUESTED,
            true if authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) => {
                authz::authorized_operations(ctx, broker, ResourceType::Cluster, CLUSTER_NAME)
            }
            true => 0,
        })
}
