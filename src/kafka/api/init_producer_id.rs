//! InitProducerId (v0-v5): a producer id and epoch for an idempotent producer, or for a
//! transactional id (bumping its epoch, which fences the previous instance).
//!
//! In a cluster, ids come in blocks of 1000 from the controller (AllocateProducerIds), so
//! no two brokers hand out the same one; on a single node, from a durable local block.
//!
//! As in Kafka, an idempotent producer (no transactional id) that calls again, with or
//! without its old id and epoch (v3+, after an error), gets a brand-new producer id.
//!
//! A transactional id goes to its transaction coordinator (NOT_COORDINATOR elsewhere),
//! which keeps its producer id and bumps the epoch, fencing the previous instance
//! (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH before v4). If that instance left a
//! transaction open, it is aborted first and the answer is CONCURRENT_TRANSACTIONS: the
//! producer asks again once the abort's markers are written.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{debug, warn};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

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
    // Kafka: WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the cluster
    // or WRITE on some topic (KIP-679), before anything else is checked
    // any transactional id, "" too, as Kafka checks it
    let denied = match req.transactional_id.as_deref() {
        Some(t) => (!authz::allowed(
            ctx,
            broker,
            AclOperation::Write,
            ResourceType::TransactionalId,
            t,
        ))
        .then_some(ErrorCode::TransactionalIdAuthorizationFailed),
        None => (!authz::allowed_on_cluster(ctx, broker, AclOperation::IdempotentWrite)
            && !authz::allowed_on_some(ctx, broker, AclOperation::Write, ResourceType::Topic))
        .then_some(ErrorCode::ClusterAuthorizationFailed),
    };
    if let Some(code) = denied {
        return answer(code.code(), -1, -1).into();
    }
    // a cluster broker's ids come in blocks from the controller, unique across brokers;
    // a block used up by concurrent requests in between is fetched again (a few times)
    let Some(cluster) = broker.cluster() else {
        return respond(ctx, broker, req).await.into();
    };
    for _ in 0..3 {
        if broker.producer_ids().needs_block() {
            match cluster.allocate_producer_ids(broker.node_id()).await {
                Ok((first, len)) => broker.producer_ids().add_block(first, len),
                Err(code) => return answer(code.code(), -1, -1).into(),
            }
        }
        let resp = respond(ctx, broker, req.clone()).await;
        if broker.producer_ids().needs_block() && resp.error_code != 0 {
            continue;
        }
        return resp.into();
    }
    // retriable: the client asks again
    answer(ErrorCode::CoordinatorLoadInProgress.code(), -1, -1).into()
}

/// A new producer id (on the blocking pool: a new block is written durably).
pub(super) async fn new_producer(broker: &Arc<Broker>) -> Result<(i64, i16), ErrorCode> {
    let b = Arc::clone(broker);
    match tokio::task::spawn_blocking(move || b.producer_ids().new_producer()).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => {
            warn!(cause = %e, "could not allocate a producer id");
            Err(e.code())
        }
        Err(_) => Err(ErrorCode::UnknownServerError),
    }
}

async fn respond(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let version = ctx.api_version;
    let Some(tid) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) else {
        return match new_producer(broker).await {
            Ok((pid, epoch)) => {
                debug!(producer_id = pid, "new idempotent producer");
                answer(ErrorCode::None.code(), pid, epoch)
            }
            Err(code) => answer(code.code(), -1, -1),
        };
    };
    if req.transaction_timeout_ms <= 0
        || req.transaction_timeout_ms > broker.config().txn.max_timeout_ms
    {
        return answer(ErrorCode::InvalidTransactionTimeout.code(), -1, -1);
    }
    let txns = match super::txn::txn_coordinator(broker, &tid.0) {
        Ok(t) => t,
        Err(code) => return answer(code.code(), -1, -1),
    };
    // an unused producer id, in case the id is new or its epoch is spent
    let fresh = match new_producer(broker).await {
        Ok((pid, _)) => pid,
        Err(code) => return answer(code.code(), -1, -1),
    };
    let expected =
        (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let outcome = txns
        .init_producer_id(&tid.0, req.transaction_timeout_ms, expected, fresh)
        .await;
    if let Some(job) = outcome.abort {
        broker.spawn_markers(&txns, job);
    }
    match outcome.answer {
        Ok((pid, epoch)) => answer(ErrorCode::None.code(), pid, epoch),
        Err(code) => answer(super::txn::fenced_for(code, version, 4).code(), -1, -1),
    }
}
