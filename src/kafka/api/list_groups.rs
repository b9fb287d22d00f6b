//! ListGroups (v0-v5): every group, with its state (v4+, filterable by state) and type
//! (v5+, filterable: "classic", or "consumer" for a KIP-848 group).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ListGroupsRequest,
) -> Answer<ListGroupsResponse> {
    let mut resp = respond(broker, req, ctx.api_version);
    // Kafka: DESCRIBE on the cluster lists every group; without it, the groups one may
    // DESCRIBE, the others left out
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) {
        resp.groups.retain(|g| {
            authz::allowed(
                ctx,
                broker,
                AclOperation::Describe,
                ResourceType::Group,
                &g.group_id,
            )
        });
    }
    resp.into()
}

fn respond(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let Ok(gc) = broker.groups() else {
        return ListGroupsResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let states: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let types: Vec<String> = req
        .types_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let groups = gc
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state_name.to_ascii_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(str_bytes(g.state_name))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(str_bytes(g.group_type))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
