//! InitProducerId (v0-v5): a producer id and epoch for an idempotent producer, or for a
//! transactional id (bumping its epoch, which fences the previous instance).
//!
//! In a cluster, ids come in blocks of 1000 from the controller (AllocateProducerIds), so
//! no two brokers hand out the same one; on a single node, from a durable local block.
//!
//! As in Kafka, an idempotent producer (no transactional id) that calls again, with or
//! without its old id and epoch (v3+, after an error), gets a brand-new producer id.
//! Transactions themselves are not supported yet: AddPartitionsToTxn, EndTxn and
//! TxnOffsetCommit are not advertised, and a transactional producer is refused when it
//! looks up its transaction coordinator (`find_coordinator.rs`).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{debug, warn};

use crate::broker::producer_ids::ProducerIdError;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

/// Kafka's `transaction.max.timeout.ms` default.
const TRANSACTION_MAX_TIMEOUT_MS: i32 = 900_000;

fn answer(error_code: i16, producer_id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error_code)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(epoch)
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
) -> Answer<InitProducerIdResponse> {
    // a cluster broker's ids come in blocks from the controller, unique across brokers;
    // a block used up by concurrent requests in between is fetched again (a few times)
    let Some(cluster) = broker.cluster() else {
        return super::on_blocking_pool(ctx, broker, req, respond).await;
    };
    for _ in 0..3 {
        if broker.producer_ids().needs_block() {
            match cluster.allocate_producer_ids(broker.node_id()).await {
                Ok((first, len)) => broker.producer_ids().add_block(first, len),
                Err(code) => return answer(code.code(), -1, -1).into(),
            }
        }
        let b = Arc::clone(broker);
        let r = req.clone();
        let version = ctx.api_version;
        let resp = tokio::task::spawn_blocking(move || respond(&b, r, version)).await;
        match resp {
            Ok(resp) if broker.producer_ids().needs_block() && resp.error_code != 0 => continue,
            Ok(resp) => return resp.into(),
            Err(_) => break,
        }
    }
    // retriable: the client asks again
    answer(ErrorCode::CoordinatorLoadInProgress.code(), -1, -1).into()
}

fn respond(broker: &Broker, req: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let ids = broker.producer_ids();
    let Some(tid) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) else {
        return match ids.new_producer() {
            Ok((pid, epoch)) => {
                debug!(producer_id = pid, "new idempotent producer");
                answer(ErrorCode::None.code(), pid, epoch)
            }
            Err(e) => {
                warn!(cause = %e, "could not allocate a producer id");
                answer(e.code().code(), -1, -1)
            }
        };
    };
    if req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > TRANSACTION_MAX_TIMEOUT_MS {
        return answer(ErrorCode::InvalidTransactionTimeout.code(), -1, -1);
    }
    let current =
        (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    match ids.init_transactional(tid.0.as_str(), current) {
        Ok((pid, epoch)) => answer(ErrorCode::None.code(), pid, epoch),
        Err(ProducerIdError::Fenced { .. }) => {
            let code = if version >= 4 {
                ErrorCode::ProducerFenced.code()
            } else {
                ErrorCode::InvalidProducerEpoch.code()
            };
            answer(code, -1, -1)
        }
        Err(ProducerIdError::Log(e)) => {
            warn!(cause = %e, "could not record a transactional id");
            answer(e.code().code(), -1, -1)
        }
    }
}
