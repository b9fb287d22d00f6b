//! EndTxn (v0-v4): the producer commits or aborts its open transaction. The answer comes
//! once the decision (`PrepareCommit` / `PrepareAbort`) is durable in
//! `__transaction_state`; the markers are then written to every partition of the
//! transaction in the background (`broker/txn_markers.rs`), and until they are, the
//! producer's next AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS, as in Kafka.
//! It needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::txn::{fenced_for, txn_coordinator};
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: EndTxnRequest,
) -> Answer<EndTxnResponse> {
    let version = ctx.api_version;
    let ended = match super::txn::refusal(ctx, broker, &req.transactional_id, None) {
        Some(code) => Err(code),
        None => end(broker, &req, version).await,
    };
    let (code, (pid, epoch)) = match ended {
        Ok(going_on) => (ErrorCode::None, going_on),
        Err(e) => (fenced_for(e, version, 2), (-1, -1)),
    };
    EndTxnResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .into()
}

async fn end(
    broker: &Arc<Broker>,
    req: &EndTxnRequest,
    version: i16,
) -> Result<(i64, i16), ErrorCode> {
    let tid = req.transactional_id.0.as_str();
    let txns = txn_coordinator(broker, tid)?;
    // v5 is transaction version 2: the epoch is bumped; one that runs out makes the
    // producer go on with a new id, allocated here in case
    let v2 = match version >= 5 {
        false => None,
        true if req.producer_epoch >= i16::MAX - 2 => {
            Some(super::init_producer_id::new_producer(broker).await?.0)
        }
        true => Some(-1),
    };
    let (answer, markers) = txns
        .end_txn(
            tid,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
            v2,
        )
        .await;
    if let Some(job) = markers {
        broker.spawn_markers(&txns, job);
    }
    answer
}
