//! BrokerHeartbeat (v0-v1): keeps a broker's session, unfences it once it caught up,
//! fences it or lets it shut down as it asks. Offline log dirs (v1) are not tracked.

use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerHeartbeatResponse};

use super::code;
use crate::controller::driver::Controller;
use crate::controller::machine::BrokerHeartbeatRequest as Heartbeat;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    let heartbeat = Heartbeat {
        broker_id: req.broker_id.0,
        broker_epoch: req.broker_epoch,
        current_metadata_offset: req.current_metadata_offset,
        want_fence: req.want_fence,
        want_shutdown: req.want_shut_down,
    };
    match ctl
        .run(move |m, ctx| m.heartbeat(heartbeat, ctx.now_ms))
        .await
    {
        Ok(reply) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shut_down),
        // Kafka's error answer: fenced, not caught up, not told to shut down
        Err(e) => BrokerHeartbeatResponse::default()
            .with_error_code(code(&e))
            .with_is_caught_up(false)
            .with_is_fenced(true)
            .with_should_shut_down(false),
    }
}
