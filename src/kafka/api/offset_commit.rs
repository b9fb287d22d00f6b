//! OffsetCommit (v2-v9): a member of the current generation commits offsets (or anyone,
//! with generation -1 and no member id, to a group without members: the "simple" commits
//! of assign() consumers and admin tools). The answer comes once the offsets are durable
//! in `__consumer_offsets`. Per partition: UNKNOWN_TOPIC_OR_PARTITION for partitions that
//! do not exist, OFFSET_METADATA_TOO_LARGE over `offset.metadata.max.bytes`; a group-level
//! problem (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, ...) is reported
//! on every partition.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{Commit, CommitRequest, OFFSETS_TOPIC};
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
) -> Answer<OffsetCommitResponse> {
    // Kafka: READ on the group (else every partition GROUP_AUTHORIZATION_FAILED), then
    // READ on each topic (else its partitions TOPIC_AUTHORIZATION_FAILED)
    let group_denied = !authz::allowed(
        ctx,
        broker,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    );
    let denied = authz::denied_topics(
        ctx,
        broker,
        req.topics.iter().map(|t| t.name.as_str()),
        AclOperation::Read,
    );
    respond(broker, req, ctx.api_version, group_denied, &denied)
        .await
        .into()
}

async fn respond(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
    group_denied: bool,
    denied: &HashSet<String>,
) -> OffsetCommitResponse {
    let asked = req.topics.iter().map(|t| {
        let parts = t.partitions.iter().map(|p| {
            let epoch = if version >= 6 {
                p.committed_leader_epoch
            } else {
                -1
            };
            let metadata = p.committed_metadata.as_deref().unwrap_or_default();
            (p.partition_index, p.committed_offset, epoch, metadata)
        });
        (t.name.0.as_str(), parts)
    });
    let (mut errors, commits) = check_commits(broker, asked, denied);
    if group_denied {
        errors
            .iter_mut()
            .flat_map(|errs| errs.iter_mut())
            .for_each(|e| *e = ErrorCode::GroupAuthorizationFailed);
    }
    let group_error = match broker.groups() {
        _ if group_denied => None,
        Err(_) => Some(ErrorCode::CoordinatorNotAvailable),
        Ok(gc) => {
            let commit = CommitRequest {
                version,
                generation: req.generation_id_or_member_epoch,
                member_id: req.member_id.to_string(),
                instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                commits,
            };
            gc.commit(&req.group_id.0, commit).await.err()
        }
    };
    if let Some(e) = group_error {
        fill_errors(&mut errors, e);
    }
    OffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .zip(errors)
            .map(|(t, errs)| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .zip(errs)
                            .map(|(p, e)| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(e.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// The offsets a commit asks for, checked (OffsetCommit's and TxnOffsetCommit's):
/// `topics` gives (name, [(partition, offset, leader epoch, metadata)]). An error per
/// partition (NONE: to commit): TOPIC_AUTHORIZATION_FAILED for a topic in `denied`,
/// UNKNOWN_TOPIC_OR_PARTITION for one that does not exist
/// (in a cluster, a topic of the metadata: its partitions may be on other brokers),
/// OFFSET_METADATA_TOO_LARGE over `offset.metadata.max.bytes`; and the commits.
pub(super) fn check_commits<'a, P>(
    broker: &Broker,
    topics: impl Iterator<Item = (&'a str, P)>,
    denied: &HashSet<String>,
) -> (Vec<Vec<ErrorCode>>, Vec<Commit>)
where
    P: Iterator<Item = (i32, i64, i32, &'a str)>,
{
    let max_metadata = broker.config().group.offset_metadata_max_bytes;
    let mut errors = Vec::new();
    let mut commits = Vec::new();
    for (name, parts) in topics {
        let mut errs = Vec::new();
        for (partition, offset, leader_epoch, metadata) in parts {
            let error = if denied.contains(name) {
                ErrorCode::TopicAuthorizationFailed
            } else if name == OFFSETS_TOPIC || !broker.knows_partition(name, partition) {
                ErrorCode::UnknownTopicOrPartition
            } else if metadata.len() > max_metadata {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                commits.push(Commit {
                    topic: name.to_string(),
                    partition,
                    offset,
                    leader_epoch,
                    metadata: metadata.to_string(),
                });
                ErrorCode::None
            };
            errs.push(error);
        }
        errors.push(errs);
    }
    (errors, commits)
}

/// A group-level error given to every partition that had none.
pub(super) fn fill_errors(errors: &mut [Vec<ErrorCode>], e: ErrorCode) {
    for errs in errors {
        for err in errs.iter_mut().filter(|e| e.is_none()) {
            *err = e;
        }
    }
}
