//! AllocateProducerIds (v0): the next block of producer ids for a broker.

use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, ProducerId,
};

use super::code;
use crate::controller::driver::Controller;
use crate::controller::machine::PRODUCER_ID_BLOCK_SIZE;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    let (id, epoch) = (req.broker_id.0, req.broker_epoch);
    match ctl
        .run(move |m, _| m.allocate_producer_ids(id, epoch))
        .await
    {
        Ok(first) => AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(first))
            .with_producer_id_len(i32::try_from(PRODUCER_ID_BLOCK_SIZE).unwrap_or(i32::MAX)),
        Err(e) => AllocateProducerIdsResponse::default()
            .with_error_code(code(&e))
            .with_producer_id_start(ProducerId(-1))
            .with_producer_id_len(-1),
    }
}
