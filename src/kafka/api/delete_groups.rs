//! DeleteGroups (v0-v2): removes groups without members and their committed offsets
//! (tombstones in `__consumer_offsets`). NON_EMPTY_GROUP while members remain,
//! GROUP_ID_NOT_FOUND for an unknown group. Each group needs DELETE on it
//! (GROUP_AUTHORIZATION_FAILED). A group named twice is answered once, and the refused
//! ones come after the others, as in Kafka.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

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
    // as Kafka: each group once, the refused ones after the others
    let mut seen = HashSet::new();
    let (allowed, refused): (Vec<_>, Vec<_>) = req
        .groups_names
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .partition(|id| authz::allowed(ctx, broker, AclOperation::Delete, ResourceType::Group, id));
    let gc = broker.groups().ok();
    let mut results = Vec::with_capacity(allowed.len() + refused.len());
    for id in allowed {
        let error = match &gc {
            Some(gc) => gc.delete(&id.0).await,
            None => ErrorCode::CoordinatorNotAvailable,
        };
        results.push(result(id, error));
    }
    results.extend(
        refused
            .into_iter()
            .map(|id| result(id, ErrorCode::GroupAuthorizationFailed)),
    );
    DeleteGroupsResponse::default().with_results(results)
}

fn result(id: GroupId, error: ErrorCode) -> DeletableGroupResult {
    DeletableGroupResult::default()
        .with_group_id(id)
        .with_error_code(error.code())
}
