//! DeleteGroups (v0-v2): removes groups without members and their committed offsets
//! (tombstones in `__consumer_offsets`). NON_EMPTY_GROUP while members remain,
//! GROUP_ID_NOT_FOUND for an unknown group. Each group needs DELETE on it
//! (GROUP_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
) -> Answer<DeleteGroupsResponse> {
    respond(ctx, broker, req).await.into()
}

async fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let gc = broker.groups().ok();
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let may = authz::allowed(ctx, broker, AclOperation::Delete, ResourceType::Group, &id);
        let error = match &gc {
            _ if !may => ErrorCode::GroupAuthorizationFailed,
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
