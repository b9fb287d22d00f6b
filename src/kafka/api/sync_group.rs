//! SyncGroup (v0-v5): the leader hands out the assignment; every member gets its own
//! bytes, untouched. Followers wait for the leader; the leader's answer waits until the
//! group metadata is durable. v5 checks the protocol type and name.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{GroupCoordinator, Reply, SyncResponse};
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

fn response(r: SyncResponse, version: i16) -> SyncGroupResponse {
    let resp = SyncGroupResponse::default()
        .with_error_code(r.error)
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
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Arc<Broker>, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let Ok(gc) = broker.groups() else {
        return response(
            SyncResponse::error(ErrorCode::CoordinatorNotAvailable.code()),
            version,
        );
    };
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let (reply, written) = gc.sync(
        &req.group_id.0,
        req.generation_id,
        &req.member_id,
        req.group_instance_id.as_deref(),
        req.protocol_type.as_deref(),
        req.protocol_name.as_deref(),
        assignments,
    );
    if written.is_some() {
        let durable =
            tokio::task::spawn_blocking(move || GroupCoordinator::make_durable(written)).await;
        if !matches!(durable, Ok(Ok(()))) {
            // as Kafka when it cannot store the group: the leader hears of it and rejoins
            tracing::warn!(group = %req.group_id.0, "group metadata not durable");
            return response(
                SyncResponse::error(ErrorCode::CoordinatorNotAvailable.code()),
                version,
            );
        }
    }
    let answer = match reply {
        Reply::Now(r) => r,
        Reply::Later(rx) => rx
            .await
            .unwrap_or_else(|_| SyncResponse::error(ErrorCode::UnknownServerError.code())),
    };
    response(answer, version)
}
