//! Heartbeat (v0-v4): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::code;
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let error = match broker.groups() {
        Ok(gc) => gc.heartbeat(
            &req.group_id.0,
            req.generation_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
        ),
        Err(_) => code::COORDINATOR_NOT_AVAILABLE,
    };
    HeartbeatResponse::default().with_error_code(error)
}
