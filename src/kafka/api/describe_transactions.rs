//! DescribeTransactions (v0): each transactional id's state as its coordinator holds it
//! (`kafka-transactions.sh describe`): state name, timeout, start time, producer id and
//! epoch, the partitions of the open transaction. TRANSACTIONAL_ID_NOT_FOUND for an id
//! the coordinator does not know, NOT_COORDINATOR for one another broker coordinates.
//! An id needs DESCRIBE on it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and the topics the
//! principal may not DESCRIBE are left out of its partitions, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::txn::txn_coordinator;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeTransactionsRequest,
) -> Answer<DescribeTransactionsResponse> {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|tid| {
            let state = TransactionState::default().with_transactional_id(tid.clone());
            let may = |op, kind, name: &str| authz::allowed(ctx, broker, op, kind, name);
            let found = match may(AclOperation::Describe, ResourceType::TransactionalId, &tid) {
                false => Err(ErrorCode::TransactionalIdAuthorizationFailed),
                true => txn_coordinator(broker, &tid.0).and_then(|t| {
                    t.describe(&tid.0)?
                        .ok_or(ErrorCode::TransactionalIdNotFound)
                }),
            };
            match found {
                // (Kafka sets only the error: the other fields keep the schema's zeros)
                Err(code) => state.with_error_code(code.code()),
                Ok(m) => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    let described = m
                        .partitions
                        .iter()
                        .filter(|(t, _)| may(AclOperation::Describe, ResourceType::Topic, t));
                    for (t, p) in described {
                        by_topic.entry(t.clone()).or_default().push(*p);
                    }
                    state
                        .with_transaction_state(StrBytes::from_static_str(m.status.name()))
                        .with_transaction_timeout_ms(m.timeout_ms)
                        .with_transaction_start_time_ms(m.start_ms)
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.producer_epoch)
                        .with_topics(
                            by_topic
                                .into_iter()
                                .map(|(t, ps)| {
                                    TopicData::default()
                                        .with_topic(TopicName(StrBytes::from_string(t)))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default()
        .with_transaction_states(states)
        .into()
}
