//! JoinGroup (v0-v9): a member joins or rejoins; the answer comes when the rebalance
//! completes (see `group::classic`). v4+ new members first get MEMBER_ID_REQUIRED with their
//! id (KIP-394); older versions get an id at once. v5+ carry `group.instance.id` (static
//! membership, KIP-345). The leader's answer lists every member's metadata.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{JoinRequest, JoinResponse};
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

fn response(r: JoinResponse, version: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(m.instance_id.map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    let resp = JoinGroupResponse::default()
        .with_error_code(r.error.code())
        .with_generation_id(r.generation)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(members);
    let resp = if version >= 7 {
        resp.with_protocol_type(r.protocol_type.map(str_bytes))
            .with_protocol_name(r.protocol_name.map(str_bytes))
    } else {
        // not nullable before v7
        resp.with_protocol_name(Some(str_bytes(r.protocol_name.unwrap_or_default())))
    };
    if version >= 9 {
        resp.with_skip_assignment(r.skip_assignment)
    } else {
        resp
    }
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
) -> Answer<JoinGroupResponse> {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        let member_id = req.member_id.to_string();
        return response(
            JoinResponse::error(ErrorCode::GroupAuthorizationFailed, &member_id),
            ctx.api_version,
        )
        .into();
    }
    respond(broker, req, ctx).await.into()
}

async fn respond(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    ctx: &RequestContext,
) -> JoinGroupResponse {
    let version = ctx.api_version;
    let member_id = req.member_id.to_string();
    let gc = match broker.groups() {
        Ok(gc) => gc,
        Err(_) => {
            return response(
                JoinResponse::error(ErrorCode::CoordinatorNotAvailable, &member_id),
                version,
            )
        }
    };
    let join = JoinRequest {
        member_id: member_id.clone(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: ctx
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: ctx.peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    // the topics, for a classic member joining a KIP-848 group (taken whatever the group
    // is now: it may become one before the join runs)
    let image = super::topic_image(broker);
    response(gc.join(&req.group_id.0, join, image).await, version)
}
