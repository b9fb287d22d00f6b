//! SyncGroup (v0-v5): the leader hands out the assignment; every member gets its own
//! bytes, untouched. Followers wait for the leader; the leader's answer waits until the
//! group metadata is durable. v5 checks the protocol type and name.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{SyncRequest, SyncResponse};
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

fn response(r: SyncResponse, version: i16) -> SyncGroupResponse {
    let resp = SyncGroupResponse::default()
        .with_error_code(r.error.code())
        .with_assignment(r.assignment);
    if version >= 5 {
        resp.with_protocol_type(r.protocol_type.map(str_bytes))
            .with_protocol_name(r.protocol_name.map(str_bytes))
    } else {
        resp
    }
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
) -> Answer<SyncGroupResponse> {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return response(
            SyncResponse::error(ErrorCode::GroupAuthorizationFailed),
            ctx.api_version,
        )
        .into();
    }
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Arc<Broker>, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let Ok(gc) = broker.groups() else {
        return response(
            SyncResponse::error(ErrorCode::CoordinatorNotAvailable),
            version,
        );
    };
    let sync = SyncRequest {
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    response(gc.sync(&req.group_id.0, sync).await, version)
}
