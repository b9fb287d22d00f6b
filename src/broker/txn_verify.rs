//! KIP-890's verification of a transactional produce (Kafka's `AddPartitionsToTxnManager`):
//! before a transaction's first write to a partition, its leader asks the transaction
//! coordinator whether the partition was added to the producer's open transaction. A
//! write that arrives late, after its transaction was aborted, is refused instead of
//! opening a transaction nobody will ever end (a "hanging" one, which holds the last
//! stable offset back for good).
//!
//! The coordinator is asked here when this broker is it, else with AddPartitionsToTxn v4
//! (`verify_only`) on the inter-broker listener.
//!
//! With transaction version 2 the producer does not add partitions itself: its first
//! write to a partition (Produce v12+), and a TxnOffsetCommit v5, *add* the partition
//! (AddPartitionsToTxn v5, not `verify_only`), as Kafka's `addPartition` operation. The answer per partition, as Kafka maps
//! it for the producer: NONE, INVALID_TXN_STATE (TRANSACTION_ABORTABLE from Produce v11),
//! INVALID_PRODUCER_EPOCH for a fenced producer, or the coordinator's error
//! (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...), all retriable or final as the
//! client knows them.

use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProducerId, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::Broker;
use crate::error::ErrorCode;
use crate::topic::TRANSACTION_STATE_TOPIC;

impl Broker {
    /// Per partition (in `partitions`' order), whether the producer may write to it in
    /// its open transaction; with `add` (transaction version 2), the partitions are added
    /// to it. `produce_version` decides how a partition outside the transaction is
    /// reported.
    pub async fn verify_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        produce_version: i16,
        add: bool,
    ) -> Vec<ErrorCode> {
        let answer = self
            .ask_coordinator(transactional_id, producer_id, epoch, partitions, add)
            .await;
        let codes = answer.unwrap_or_else(|code| vec![code; partitions.len()]);
        codes
            .into_iter()
            .map(|code| match code {
                ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
                ErrorCode::TransactionAbortable if produce_version < 11 => {
                    ErrorCode::InvalidTxnState
                }
                other => other,
            })
            .collect()
    }

    async fn ask_coordinator(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        add: bool,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let txns = self
            .txns()
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
        if txns.coordinates(transactional_id) || self.cluster().is_none() {
            if add {
                let code = match txns
                    .add_partitions(transactional_id, producer_id, epoch, partitions, 2)
                    .await
                {
                    Ok(()) => ErrorCode::None,
                    Err(e) => e,
                };
                return Ok(vec![code; partitions.len()]);
            }
            return txns.verify(transactional_id, producer_id, epoch, partitions);
        }
        // another broker coordinates the id: the leader of its partition
        let index = txns.partition_index_of(transactional_id);
        let client = self
            .client_to_leader(TRANSACTION_STATE_TOPIC, index, "txn-verify")
            .ok_or(ErrorCode::CoordinatorNotAvailable)?;
        let mut by_topic: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (t, p) in partitions {
            match by_topic.iter_mut().find(|x| x.name.0.as_str() == t) {
                Some(x) => x.partitions.push(*p),
                None => by_topic.push(
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(vec![*p]),
                ),
            }
        }
        let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(
                    transactional_id.to_string(),
                )))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch)
                .with_verify_only(!add)
                .with_topics(by_topic),
        ]);
        let resp: AddPartitionsToTxnResponse = client
            .call(
                ApiKey::AddPartitionsToTxn,
                if add { 5 } else { 4 },
                &req,
                Duration::from_secs(5),
                |_| false,
            )
            .await
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
        if resp.error_code != 0 {
            return Err(ErrorCode::from_code(resp.error_code));
        }
        let found = |t: &str, p: i32| {
            resp.results_by_transaction
                .iter()
                .flat_map(|r| r.topic_results.iter())
                .filter(|x| x.name.0.as_str() == t)
                .flat_map(|x| x.results_by_partition.iter())
                .find(|r| r.partition_index == p)
                .map_or(ErrorCode::UnknownServerError, |r| {
                    ErrorCode::from_code(r.partition_error_code)
                })
        };
        Ok(partitions.iter().map(|(t, p)| found(t, *p)).collect())
    }
}
