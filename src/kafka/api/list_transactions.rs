//! ListTransactions (v0-v2): the transactional ids this broker coordinates
//! (`kafka-transactions.sh list` asks every broker), filtered by state names (an unknown
//! one is returned in `unknown_state_filters`, as Kafka does), producer ids, v1+ how long
//! the transaction has been open (`duration_filter`, ms; -1: any) and v2+ an id pattern
//! (a Java regular expression in Kafka; here a regex of the `regex` crate's syntax,
//! which agrees on the common forms). Only the ids the principal may DESCRIBE are listed.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};
use crate::txn::records::TxnStatus;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ListTransactionsRequest,
) -> Answer<ListTransactionsResponse> {
    let mut unknown = Vec::new();
    let mut states = Vec::new();
    for f in &req.state_filters {
        match TxnStatus::ALL.iter().find(|s| s.name() == f.as_str()) {
            Some(s) => states.push(*s),
            None => unknown.push(f.clone()),
        }
    }
    let pattern = match req
        .transactional_id_pattern
        .as_ref()
        .filter(|p| ctx.api_version >= 2 && !p.is_empty())
        .map(|p| regex::Regex::new(&format!("^(?:{})$", p.as_str())))
        .transpose()
    {
        Ok(p) => p,
        Err(_) => {
            return ListTransactionsResponse::default()
                .with_error_code(ErrorCode::InvalidRegularExpression.code())
                .into()
        }
    };
    let now = crate::log::now_ms();
    let duration = if ctx.api_version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let listed = broker
        .txns_if_started()
        .map(|t| t.list())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| states.is_empty() || states.contains(&s.meta.status))
        .filter(|s| {
            req.producer_id_filters.is_empty()
                || req
                    .producer_id_filters
                    .contains(&ProducerId(s.meta.producer_id))
        })
        .filter(|s| duration < 0 || (s.meta.start_ms >= 0 && now - s.meta.start_ms >= duration))
        .filter(|s| {
            pattern
                .as_ref()
                .is_none_or(|re| re.is_match(&s.transactional_id))
        })
        .filter(|s| {
            authz::allowed(
                ctx,
                broker,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &s.transactional_id,
            )
        })
        .map(|s| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(s.transactional_id)))
                .with_producer_id(ProducerId(s.meta.producer_id))
                .with_transaction_state(StrBytes::from_static_str(s.meta.status.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
        .into()
}
