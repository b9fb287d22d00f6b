//! TxnOffsetCommit (v0-v4): a transactional producer commits a consumer group's offsets
//! as part of its transaction (`sendOffsetsToTransaction`). The group coordinator appends
//! them to `__consumer_offsets` as the transaction's records; they become the group's
//! committed offsets only when the transaction's COMMIT marker is written there, and an
//! ABORT drops them. Until then OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for those partitions. Per partition errors as OffsetCommit's.
//!
//! The group's `__consumer_offsets` partition must be in the transaction (KIP-890): with
//! v0-v4 it is checked (the producer sent AddOffsetsToTxn first), with v5 (transaction
//! version 2, no AddOffsetsToTxn) it is added here.
//!
//! Authorization as Kafka's: WRITE on the transactional id, then READ on the group (else
//! every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED or
//! GROUP_AUTHORIZATION_FAILED), then READ on each topic (TOPIC_AUTHORIZATION_FAILED for
//! its partitions).

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::txn::fenced_for;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::{CommitRequest, OFFSETS_TOPIC};
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: TxnOffsetCommitRequest,
) -> Answer<TxnOffsetCommitResponse> {
    let version = ctx.api_version;
    let group = Some(req.group_id.as_str());
    if let Some(code) = super::txn::refusal(ctx, broker, &req.transactional_id, group) {
        let errors = req
            .topics
            .iter()
            .map(|t| vec![code; t.partitions.len()])
            .collect();
        return response(req, errors).into();
    }
    let denied = authz::denied_topics(
        ctx,
        broker,
        req.topics.iter().map(|t| t.name.as_str()),
        AclOperation::Read,
    );
    let asked = req.topics.iter().map(|t| {
        let parts = t.partitions.iter().map(|p| {
            let epoch = if version >= 2 {
                p.committed_leader_epoch
            } else {
                -1
            };
            let metadata = p.committed_metadata.as_deref().unwrap_or_default();
            (p.partition_index, p.committed_offset, epoch, metadata)
        });
        (t.name.0.as_str(), parts)
    });
    let (mut errors, commits) = super::offset_commit::check_commits(broker, asked, &denied);
    let in_txn = if commits.is_empty() || !broker.config().txn.partition_verification {
        None
    } else {
        in_transaction(broker, &req, version).await
    };
    let group_error = match broker.groups() {
        Err(_) => Some(ErrorCode::CoordinatorNotAvailable),
        Ok(_) if commits.is_empty() => None,
        Ok(_) if in_txn.is_some() => in_txn,
        Ok(gc) => {
            let commit = CommitRequest {
                version,
                generation: if version >= 3 { req.generation_id } else { -1 },
                member_id: if version >= 3 {
                    req.member_id.to_string()
                } else {
                    String::new()
                },
                instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                commits,
            };
            gc.txn_commit(
                &req.group_id.0,
                req.producer_id.0,
                req.producer_epoch,
                commit,
            )
            .await
            .err()
            .map(|e| fenced_for(e, version, 3))
        }
    };
    if let Some(e) = group_error {
        super::offset_commit::fill_errors(&mut errors, e);
    }
    response(req, errors).into()
}

/// The response: each partition of the request with its error.
fn response(req: TxnOffsetCommitRequest, errors: Vec<Vec<ErrorCode>>) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .zip(errors)
            .map(|(t, errs)| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .zip(errs)
                            .map(|(p, e)| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(e.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// KIP-890: whether the group's `__consumer_offsets` partition is in the producer's
/// transaction (v5: added to it); `Some(error)` if not.
async fn in_transaction(
    broker: &Arc<Broker>,
    req: &TxnOffsetCommitRequest,
    version: i16,
) -> Option<ErrorCode> {
    let partition = match super::txn::offsets_partition(broker, &req.group_id.0).await {
        Ok(p) => p,
        Err(code) => return Some(code),
    };
    let add = version >= 5 && broker.config().txn.transaction_version >= 2;
    // a client of v5 knows TRANSACTION_ABORTABLE (reported as Produce v11+ reports it)
    let as_version = if version >= 5 { 11 } else { 0 };
    let codes = broker
        .verify_transaction(
            &req.transactional_id.0,
            req.producer_id.0,
            req.producer_epoch,
            &[(OFFSETS_TOPIC.to_string(), partition)],
            as_version,
            add,
        )
        .await;
    codes.into_iter().find(|c| !c.is_none())
}
