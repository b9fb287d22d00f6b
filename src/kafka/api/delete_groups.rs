//! DeleteGroups (v0-v2): removes groups without members and their committed offsets
//! (tombstones in `__consumer_offsets`). NON_EMPTY_GROUP while members remain,
//! GROUP_ID_NOT_FOUND for an unknown group.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
) -> Answer<DeleteGroupsResponse> {
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Broker, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
    let gc = broker.groups().ok();
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let error = match &gc {
            Some(gc) => gc.delete(&id.0).await,
            None => ErrorCode::CoordinatorNotAvailable,
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(error.code()),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
