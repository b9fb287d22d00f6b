//! EndTxn (v0-v4): the producer commits or aborts its open transaction. The answer comes
//! once the decision (`PrepareCommit` / `PrepareAbort`) is durable in
//! `__transaction_state`; the markers are then written to every partition of the
//! transaction in the background (`broker/txn_markers.rs`), and until they are, the
//! producer's next AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS, as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

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
    let tid = req.transactional_id.0.as_str();
    let answer = match txn_coordinator(broker, tid) {
        Err(code) => Err(code),
        Ok(txns) => {
            let (answer, markers) = txns
                .end_txn(tid, req.producer_id.0, req.producer_epoch, req.committed)
                .await;
            if let Some(job) = markers {
                broker.spawn_markers(&txns, job);
            }
            answer
        }
    };
    let code = match answer {
        Ok(()) => ErrorCode::None,
        Err(e) => fenced_for(e, ctx.api_version, 2),
    };
    EndTxnResponse::default()
        .with_error_code(code.code())
        .with_producer_id(req.producer_id)
        .with_producer_epoch(req.producer_epoch)
        .into()
}
