//! DescribeGroups (v0-v6): state, protocol and members of each group; member metadata and
//! assignments only while the group is Stable, as in Kafka. An unknown group is "Dead"
//! with no error before v6, and GROUP_ID_NOT_FOUND from v6 on; so is a KIP-848 consumer
//! group, which ConsumerGroupDescribe describes (Kafka: "not a classic group").

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

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
    mut req: DescribeGroupsRequest,
) -> Answer<DescribeGroupsResponse> {
    // Kafka: DESCRIBE on each group; the ones denied come first, GROUP_AUTHORIZATION_FAILED
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups)
        .into_iter()
        .partition(|g| authz::allowed(ctx, broker, AclOperation::Describe, ResourceType::Group, g));
    req.groups = allowed;
    let mut resp = respond(ctx, broker, req);
    let refused = denied.into_iter().map(|id| {
        let g = DescribedGroup::default()
            .with_group_id(id)
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
        if ctx.api_version >= 3 {
            g.with_authorized_operations(authz::OPS_NOT_REQUESTED)
        } else {
            g
        }
    });
    resp.groups.splice(0..0, refused);
    resp.into()
}

fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.api_version;
    let gc = broker.groups().ok();
    let ops = |id: &str| match version >= 3 && req.include_authorized_operations {
        true => authz::authorized_operations(ctx, broker, ResourceType::Group, id),
        false => authz::OPS_NOT_REQUESTED,
    };
    let mut groups: Vec<DescribedGroup> = req
        .groups
        .into_iter()
        .map(|id| {
            let base = DescribedGroup::default().with_group_id(id.clone());
            let base = if version >= 3 {
                base.with_authorized_operations(authz::OPS_NOT_REQUESTED)
            } else {
                base
            };
            let Some(gc) = &gc else {
                return base.with_error_code(ErrorCode::CoordinatorNotAvailable.code());
            };
            match gc.describe(&id.0) {
                Err(code) => base.with_error_code(code.code()),
                Ok(None) if version >= 6 => base
                    .with_error_code(ErrorCode::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!("Group {} not found.", &*id.0))))
                    .with_group_state(str_bytes("Dead")),
                Ok(None) => base.with_group_state(str_bytes("Dead")),
                Ok(Some(g)) if g.group_type != "classic" && version >= 6 => base
                    .with_error_code(ErrorCode::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Group {} is not a classic group.",
                        &*id.0
                    ))))
                    .with_group_state(str_bytes("Dead")),
                Ok(Some(g)) if g.group_type != "classic" => {
                    base.with_group_state(str_bytes("Dead"))
                }
                Ok(Some(g)) => base
                    .with_group_state(str_bytes(g.state_name))
                    .with_protocol_type(str_bytes(g.protocol_type))
                    .with_protocol_data(str_bytes(g.protocol))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                let d = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(m.member_id))
                                    .with_client_id(str_bytes(m.client_id))
                                    .with_client_host(str_bytes(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if version >= 4 {
                                    d.with_group_instance_id(m.instance_id.map(str_bytes))
                                } else {
                                    d
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    // (Kafka: only a group described without error carries its operations)
    for g in groups
        .iter_mut()
        .filter(|g| version >= 3 && g.error_code == 0)
    {
        g.authorized_operations = ops(&g.group_id);
    }
    DescribeGroupsResponse::default().with_groups(groups)
}
