//! AddOffsetsToTxn (v0-v4): the group's `__consumer_offsets` partition joins the
//! producer's open transaction, so the TxnOffsetCommit that follows is part of it. It
//! needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ
//! on the group (GROUP_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::txn::{fenced_for, refusal, txn_coordinator};
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::group::OFFSETS_TOPIC;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: AddOffsetsToTxnRequest,
) -> Answer<AddOffsetsToTxnResponse> {
    let added = match refusal(ctx, broker, &req.transactional_id, Some(&req.group_id)) {
        Some(code) => Err(code),
        None => add(broker, &req).await,
    };
    let code = match added {
        Ok(()) => ErrorCode::None,
        Err(e) => fenced_for(e, ctx.api_version, 2),
    };
    AddOffsetsToTxnResponse::default()
        .with_error_code(code.code())
        .into()
}

async fn add(broker: &Arc<Broker>, req: &AddOffsetsToTxnRequest) -> Result<(), ErrorCode> {
    let tid = req.transactional_id.0.as_str();
    let group = req.group_id.0.as_str();
    if group.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    let txns = txn_coordinator(broker, tid)?;
    let offsets = super::txn::offsets_partition(broker, group).await?;
    txns.add_partitions(
        tid,
        req.producer_id.0,
        req.producer_epoch,
        &[(OFFSETS_TOPIC.to_string(), offsets)],
        0,
    )
    .await
}
