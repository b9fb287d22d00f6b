//! Heartbeat (v0-v4): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: HeartbeatRequest,
) -> Answer<HeartbeatResponse> {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return HeartbeatResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code())
            .into();
    }
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Broker, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let error = match broker.groups() {
        Ok(gc) => {
            gc.heartbeat(
                &req.group_id.0,
                req.generation_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
            )
            .await
        }
        Err(_) => ErrorCode::CoordinatorNotAvailable,
    };
    HeartbeatResponse::default().with_error_code(error.code())
}
