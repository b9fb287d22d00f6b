//! OffsetCommit (v2-v9): a member of the current generation commits offsets (or anyone,
//! with generation -1 and no member id, to a group without members: the "simple" commits
//! of assign() consumers and admin tools). The answer comes once the offsets are durable
//! in `__consumer_offsets`. Per partition: UNKNOWN_TOPIC_OR_PARTITION for partitions that
//! do not exist, OFFSET_METADATA_TOO_LARGE over `offset.metadata.max.bytes`; a group-level
//! problem (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, ...) is reported
//! on every partition.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{Commit, CommitRequest, OFFSETS_TOPIC};
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
) -> Answer<OffsetCommitResponse> {
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let max_metadata = broker.config().group.offset_metadata_max_bytes;
    // an error per partition (NONE: to commit)
    let mut errors: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut commits = Vec::new();
    for t in &req.topics {
        // (in a cluster, a topic of the metadata: its partitions may be on other brokers)
        let name = t.name.0.as_str();
        let mut errs = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let metadata = p.committed_metadata.as_deref().unwrap_or_default();
            let error = if name == OFFSETS_TOPIC || !broker.knows_partition(name, p.partition_index)
            {
                ErrorCode::UnknownTopicOrPartition
            } else if metadata.len() > max_metadata {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                commits.push(Commit {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: metadata.to_string(),
                });
                ErrorCode::None
            };
            errs.push(error);
        }
        errors.push(errs);
    }
    let group_error = match broker.groups() {
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
        for errs in &mut errors {
            for err in errs.iter_mut().filter(|e| e.is_none()) {
                *err = e;
            }
        }
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
