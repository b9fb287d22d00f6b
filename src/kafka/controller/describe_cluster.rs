//! DescribeCluster (v1-v2) on the controller port (KIP-919): what an admin client with
//! `bootstrap.controllers` asks first. Answers the voters as the nodes (endpoint type 2,
//! CONTROLLER) with the leader as the controller id; a request for brokers (endpoint type
//! 1) gets MISMATCHED_ENDPOINT_TYPE, as Kafka answers it.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::controller::driver::Controller;
use crate::error::ErrorCode;

/// `endpoint_type` for controllers.
const CONTROLLER_ENDPOINTS: i8 = 2;

pub fn handle(
    ctl: &Controller,
    cluster_id: &str,
    _version: i16,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_endpoint_type(CONTROLLER_ENDPOINTS)
        .with_cluster_id(str_bytes(cluster_id));
    if req.endpoint_type != CONTROLLER_ENDPOINTS {
        return resp
            .with_error_code(ErrorCode::MismatchedEndpointType.code())
            .with_error_message(Some(str_bytes(
                "the request was sent to an endpoint of type CONTROLLER, but we wanted an endpoint of type BROKER",
            )));
    }
    let d = ctl.quorum().describe();
    let brokers = d
        .voters
        .iter()
        .filter_map(|v| {
            let (host, port) = v.address.rsplit_once(':')?;
            let port = port.parse::<i32>().ok()?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(v.replica_id))
                    .with_host(str_bytes(
                        host.trim_start_matches('[').trim_end_matches(']'),
                    ))
                    .with_port(port),
            )
        })
        .collect();
    resp.with_controller_id(BrokerId(d.leader.unwrap_or(-1)))
        .with_brokers(brokers)
}
