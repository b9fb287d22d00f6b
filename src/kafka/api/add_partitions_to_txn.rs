//! AddPartitionsToTxn (v0-v3, what clients send): partitions join the producer's open
//! transaction on its transaction coordinator, which opens one if there is none. Per
//! partition: UNKNOWN_TOPIC_OR_PARTITION for one that does not exist (and
//! OPERATION_NOT_ATTEMPTED for the others, as Kafka answers); otherwise the
//! transaction's answer for every partition (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
//! before v2, CONCURRENT_TRANSACTIONS while the previous transaction's markers are being
//! written, NOT_COORDINATOR, ...).
//!
//! v4+ is what brokers send (KIP-890): many transactions in one request, each either
//! added as above or, with `verify_only`, only checked (a partition leader asks before a
//! transaction's first write to it): NONE for a partition in the open transaction,
//! TRANSACTION_ABORTABLE for one that is not, or the transaction's error for all of them.
//!
//! Authorization as Kafka's: v0-v3 need WRITE on the transactional id (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition) and on each topic (else
//! TOPIC_AUTHORIZATION_FAILED on its partitions; an internal topic is never authorized);
//! v4+ needs CLUSTER_ACTION (else CLUSTER_AUTHORIZATION_FAILED for the request).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::txn::{fenced_for, txn_coordinator};
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: AddPartitionsToTxnRequest,
) -> Answer<AddPartitionsToTxnResponse> {
    if ctx.api_version >= 4 {
        if !authz::allowed_on_cluster(ctx, broker, AclOperation::ClusterAction) {
            return AddPartitionsToTxnResponse::default()
                .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
                .into();
        }
        // v5 is what a partition leader sends for a transaction version 2 producer's
        // first write (an implicit add)
        let client_version = if ctx.api_version >= 5 { 2 } else { 0 };
        return batched(broker, req, client_version).await.into();
    }
    let topics = req.v3_and_below_topics;
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect();
    let tid = req.v3_and_below_transactional_id.0.to_string();
    let denied = authz::denied_topics(
        ctx,
        broker,
        partitions.iter().map(|(t, _)| t.as_str()),
        AclOperation::Write,
    );
    // per partition: the error that fails the transaction, if any
    let refused: Vec<Option<ErrorCode>> = partitions
        .iter()
        .map(|(t, p)| {
            if crate::topic::is_internal(t) || denied.contains(t) {
                Some(ErrorCode::TopicAuthorizationFailed)
            } else if !broker.knows_partition(t, *p) {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else {
                None
            }
        })
        .collect();
    let result: Vec<ErrorCode> = if let Some(code) = super::txn::refusal(ctx, broker, &tid, None) {
        vec![code; partitions.len()]
    } else if refused.iter().any(Option::is_some) {
        refused
            .iter()
            .map(|r| r.unwrap_or(ErrorCode::OperationNotAttempted))
            .collect()
    } else {
        let answer = match txn_coordinator(broker, &tid) {
            Err(code) => Err(code),
            Ok(txns) => {
                txns.add_partitions(
                    &tid,
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                    &partitions,
                    0,
                )
                .await
            }
        };
        let code = match answer {
            Ok(()) => ErrorCode::None,
            Err(e) => fenced_for(e, ctx.api_version, 2),
        };
        vec![code; partitions.len()]
    };
    let mut codes = result.into_iter();
    let results = topics
        .into_iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name)
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(
                                    codes.next().unwrap_or(ErrorCode::UnknownServerError).code(),
                                )
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default()
        .with_results_by_topic_v3_and_below(results)
        .into()
}

/// v4+: every transaction of the request, verified or added.
async fn batched(
    broker: &Arc<Broker>,
    req: AddPartitionsToTxnRequest,
    client_version: i16,
) -> AddPartitionsToTxnResponse {
    let mut results = Vec::with_capacity(req.transactions.len());
    for t in req.transactions {
        let tid = t.transactional_id.0.to_string();
        let partitions: Vec<(String, i32)> = t
            .topics
            .iter()
            .flat_map(|x| x.partitions.iter().map(|p| (x.name.0.to_string(), *p)))
            .collect();
        let codes: Vec<ErrorCode> = match txn_coordinator(broker, &tid) {
            Err(code) => vec![code; partitions.len()],
            Ok(txns) if t.verify_only => txns
                .verify(&tid, t.producer_id.0, t.producer_epoch, &partitions)
                .unwrap_or_else(|code| vec![code; partitions.len()]),
            Ok(txns) => {
                let code = match txns
                    .add_partitions(
                        &tid,
                        t.producer_id.0,
                        t.producer_epoch,
                        &partitions,
                        client_version,
                    )
                    .await
                {
                    Ok(()) => ErrorCode::None,
                    Err(e) => e,
                };
                vec![code; partitions.len()]
            }
        };
        let mut codes = codes.into_iter();
        let topic_results = t
            .topics
            .into_iter()
            .map(|x| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(x.name)
                    .with_results_by_partition(
                        x.partitions
                            .iter()
                            .map(|p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(*p)
                                    .with_partition_error_code(
                                        codes
                                            .next()
                                            .unwrap_or(ErrorCode::UnknownServerError)
                                            .code(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id)
                .with_topic_results(topic_results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}
