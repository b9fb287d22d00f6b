//! What the transaction APIs share: finding this broker's transaction coordinator for an
//! id, and the version rule for a fenced producer's error.

use std::sync::Arc;

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};
use crate::txn::TxnCoordinator;

/// This broker's transaction coordinator, if it coordinates `transactional_id`:
/// NOT_COORDINATOR when another broker does (or none is loaded yet, as a client then
/// looks it up again), COORDINATOR_NOT_AVAILABLE when `__transaction_state` cannot be had.
pub fn txn_coordinator(
    broker: &Broker,
    transactional_id: &str,
) -> Result<Arc<TxnCoordinator>, ErrorCode> {
    if transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let txns = broker
        .txns()
        .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
    if !txns.coordinates(transactional_id) {
        return Err(ErrorCode::NotCoordinator);
    }
    Ok(txns)
}

/// Kafka's checks of a transactional request: WRITE on the transactional id
/// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on its group if it names one
/// (GROUP_AUTHORIZATION_FAILED); the first refusal, if any.
pub fn refusal(
    ctx: &RequestContext,
    broker: &Broker,
    transactional_id: &str,
    group: Option<&str>,
) -> Option<ErrorCode> {
    let may = |op, kind, name: &str| authz::allowed(ctx, broker, op, kind, name);
    if !may(
        AclOperation::Write,
        ResourceType::TransactionalId,
        transactional_id,
    ) {
        return Some(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    group
        .filter(|g| !may(AclOperation::Read, ResourceType::Group, g))
        .map(|_| ErrorCode::GroupAuthorizationFailed)
}

/// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH for the versions before `since`, which
/// older clients know (as Kafka's handlers map it).
pub fn fenced_for(code: ErrorCode, version: i16, since: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < since {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// The `__consumer_offsets` partition of `group` (the topic made first if need be).
pub async fn offsets_partition(broker: &Arc<Broker>, group: &str) -> Result<i32, ErrorCode> {
    if broker.cluster().is_none() {
        broker
            .groups()
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
    }
    let view = broker
        .topic_view(crate::group::OFFSETS_TOPIC)
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let count = i32::try_from(view.partitions.len()).unwrap_or(i32::MAX);
    Ok(crate::group::records::partition_for(group, count))
}
