//! LeaveGroup (v0-v5): one member (v0-v2) or a batch of members by member id or
//! group.instance.id (v3+, KIP-345); the rest of the group rebalances.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: LeaveGroupRequest,
) -> Answer<LeaveGroupResponse> {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return LeaveGroupResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code())
            .into();
    }
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let Ok(gc) = broker.groups() else {
        return LeaveGroupResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    if version < 3 {
        let error = match gc
            .leave(&req.group_id.0, &[(req.member_id.to_string(), None)])
            .await
        {
            Ok(codes) => codes
                .first()
                .copied()
                .unwrap_or(ErrorCode::UnknownServerError),
            Err(e) => e,
        };
        return LeaveGroupResponse::default().with_error_code(error.code());
    }
    let members: Vec<(String, Option<String>)> = req
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|s| s.to_string()),
            )
        })
        .collect();
    match gc.leave(&req.group_id.0, &members).await {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(codes) => LeaveGroupResponse::default().with_members(
            req.members
                .into_iter()
                .zip(codes)
                .map(|(m, e)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(e.code())
                })
                .collect(),
        ),
    }
}
