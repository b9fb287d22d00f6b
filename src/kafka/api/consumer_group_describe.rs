//! ConsumerGroupDescribe (v0-v1, KIP-848): a consumer group's state, epochs, assignor
//! and members, each with its subscription, current assignment and target.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::assignor::Assignment as Parts;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ConsumerGroupDescribeRequest,
) -> Answer<ConsumerGroupDescribeResponse> {
    let gc = broker.groups().ok();
    let names: std::collections::HashMap<uuid::Uuid, String> = broker
        .topic_views()
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let assignment = |a: &Parts| {
        Assignment::default().with_topic_partitions(
            a.iter()
                .filter(|(_, ps)| !ps.is_empty())
                .map(|(id, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_topic_name(TopicName(str_bytes(
                            names.get(id).cloned().unwrap_or_default(),
                        )))
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect(),
        )
    };
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(authz::OPS_NOT_REQUESTED);
            if !authz::allowed(
                ctx,
                broker,
                AclOperation::Describe,
                ResourceType::Group,
                &id,
            ) {
                return base.with_error_code(ErrorCode::GroupAuthorizationFailed.code());
            }
            let Some(gc) = &gc else {
                return base.with_error_code(ErrorCode::CoordinatorNotAvailable.code());
            };
            let g = match gc.consumer_group(&id.0) {
                Err(code) => return base.with_error_code(code.code()),
                Ok(None) => {
                    let message = match gc.describe(&id.0) {
                        Ok(Some(_)) => format!("Group {} is not a consumer group.", &*id.0),
                        _ => format!("Group {} not found.", &*id.0),
                    };
                    return base
                        .with_error_code(ErrorCode::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes(message)));
                }
                Ok(Some(g)) => g,
            };
            let config = broker.config().group.consumer;
            let members = g
                .members
                .values()
                .map(|m| {
                    let target = g.target.get(&m.member_id).cloned().unwrap_or_default();
                    Member::default()
                        .with_member_id(str_bytes(m.member_id.clone()))
                        .with_instance_id(m.instance_id.clone().map(str_bytes))
                        .with_rack_id(m.rack_id.clone().map(str_bytes))
                        .with_member_epoch(m.epoch)
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .iter()
                                .map(|t| TopicName(str_bytes(t.clone())))
                                .collect(),
                        )
                        .with_subscribed_topic_regex(
                            m.subscribed_topic_regex.clone().map(str_bytes),
                        )
                        .with_assignment(assignment(&m.assigned))
                        .with_target_assignment(assignment(&target))
                        // v1: 1 for the consumer protocol, 0 for a classic member
                        .with_member_type(match (ctx.api_version >= 1, m.classic.is_some()) {
                            (false, _) => -1,
                            (true, true) => 0,
                            (true, false) => 1,
                        })
                })
                .collect();
            let ops = match req.include_authorized_operations {
                true => authz::authorized_operations(ctx, broker, ResourceType::Group, &id),
                false => authz::OPS_NOT_REQUESTED,
            };
            base.with_group_state(str_bytes(g.state().name()))
                .with_group_epoch(g.group_epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_assignor_name(str_bytes(g.assignor_name(&config)))
                .with_members(members)
                .with_authorized_operations(ops)
        })
        .collect();
    ConsumerGroupDescribeResponse::default()
        .with_groups(groups)
        .into()
}
