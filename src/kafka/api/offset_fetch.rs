//! OffsetFetch (v1-v9): committed offsets of the asked partitions (-1 where there is
//! none), or of every partition with one when the topic list is null (v2+). v8+ asks for
//! many groups at once. With `require_stable` (v7+), a partition an open transaction has
//! committed an offset for (TxnOffsetCommit, not yet decided) is answered
//! UNSTABLE_OFFSET_COMMIT with offset -1, as Kafka does; the client asks again.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::records::OffsetValue;
use crate::group::FetchedOffsets;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// One partition's answer: an offset (`None`: none), or UNSTABLE_OFFSET_COMMIT.
type Fetched = Vec<(String, Vec<(i32, Result<Option<OffsetValue>, ErrorCode>)>)>;

/// The offsets of one group, or a group-level error; with `require_stable`, the
/// partitions an open transaction committed for are UNSTABLE_OFFSET_COMMIT.
fn fetch(
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Fetched, ErrorCode> {
    if group.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    let gc = broker
        .groups()
        .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
    let (fetched, unstable): (FetchedOffsets, HashSet<(String, i32)>) = if require_stable {
        let (fetched, unstable) = gc.fetch_stable(group, topics)?;
        (fetched, unstable.into_iter().collect())
    } else {
        (gc.fetch(group, topics)?, HashSet::new())
    };
    Ok(fetched
        .into_iter()
        .map(|(t, ps)| {
            let ps = ps
                .into_iter()
                .map(|(p, v)| {
                    if unstable.contains(&(t.clone(), p)) {
                        (p, Err(ErrorCode::UnstableOffsetCommit))
                    } else {
                        (p, Ok(v))
                    }
                })
                .collect();
            (t, ps)
        })
        .collect())
}

fn parts(v: Result<Option<OffsetValue>, ErrorCode>) -> (i64, i32, String, ErrorCode) {
    match v {
        Ok(Some(v)) => (v.offset, v.leader_epoch, v.metadata, ErrorCode::None),
        Ok(None) => (-1, -1, String::new(), ErrorCode::None),
        Err(e) => (-1, -1, String::new(), e),
    }
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetFetchRequest,
) -> Answer<OffsetFetchResponse> {
    respond(ctx, broker, req).into()
}

/// [`fetch`] as Kafka authorizes it: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED),
/// DESCRIBE on each topic asked for (its partitions TOPIC_AUTHORIZATION_FAILED, after the
/// others); of all the group's topics, those one may not describe are left out.
fn authorized_fetch(
    ctx: &RequestContext,
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Fetched, ErrorCode> {
    if !authz::allowed(
        ctx,
        broker,
        AclOperation::Describe,
        ResourceType::Group,
        group,
    ) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let may = |t: &str| authz::allowed(ctx, broker, AclOperation::Describe, ResourceType::Topic, t);
    match topics {
        None => {
            let mut fetched = fetch(broker, group, None, require_stable)?;
            fetched.retain(|(t, _)| may(t));
            Ok(fetched)
        }
        Some(asked) => {
            let (allowed, denied): (Vec<_>, Vec<_>) = asked.into_iter().partition(|(t, _)| may(t));
            let mut fetched = fetch(broker, group, Some(allowed), require_stable)?;
            fetched.extend(denied.into_iter().map(|(t, ps)| {
                let ps = ps
                    .into_iter()
                    .map(|p| (p, Err(ErrorCode::TopicAuthorizationFailed)))
                    .collect();
                (t, ps)
            }));
            Ok(fetched)
        }
    }
}

fn respond(ctx: &RequestContext, broker: &Broker, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = ctx.api_version;
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let resp = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match authorized_fetch(ctx, broker, &g.group_id.0, topics, req.require_stable) {
                    Err(e) => resp.with_error_code(e.code()),
                    Ok(fetched) => resp.with_topics(
                        fetched
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(t)))
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|(p, v)| {
                                                let (offset, epoch, meta, e) = parts(v);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_error_code(e.code())
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(str_bytes(meta)))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let stable = version >= 7 && req.require_stable;
    match authorized_fetch(ctx, broker, &req.group_id.0, topics, stable) {
        Err(e) => {
            if version >= 2 {
                OffsetFetchResponse::default().with_error_code(e.code())
            } else {
                OffsetFetchResponse::default()
            }
        }
        Ok(fetched) => OffsetFetchResponse::default().with_topics(
            fetched
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(str_bytes(t)))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, v)| {
                                    let (offset, epoch, meta, e) = parts(v);
                                    let r = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(e.code())
                                        .with_committed_offset(offset)
                                        .with_metadata(Some(str_bytes(meta)));
                                    if version >= 5 {
                                        r.with_committed_leader_epoch(epoch)
                                    } else {
                                        r
                                    }
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
