//! WriteTxnMarkers (v1, flexible; Kafka 4 no longer takes v0): the transaction
//! coordinator's COMMIT or ABORT marker for each listed partition of a producer, appended
//! by [`Partition::append_marker`](crate::partition::Partition::append_marker) and made
//! durable before the answer. Per partition: UNKNOWN_TOPIC_OR_PARTITION (not hosted),
//! NOT_LEADER_OR_FOLLOWER, INVALID_PRODUCER_EPOCH (an older producer epoch),
//! TRANSACTION_COORDINATOR_FENCED (an older coordinator epoch), KAFKA_STORAGE_ERROR.
//! `kafka-transactions.sh abort` sends one with DescribeProducers' answer.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;
use crate::log::TxnMarker;
use crate::partition::Partition;
use crate::topic;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: WriteTxnMarkersRequest,
) -> Answer<WriteTxnMarkersResponse> {
    // appends and fsyncs: off the runtime threads
    super::on_blocking_pool(ctx, broker, req, respond).await
}

/// Writes one marker to one partition and makes it durable: the error code to answer.
fn write_marker(partition: &Partition, marker: &TxnMarker) -> ErrorCode {
    match partition
        .append_marker(marker)
        .and_then(|offset| partition.flush_to(offset + 1))
    {
        Ok(()) => ErrorCode::None,
        Err(e) => {
            tracing::debug!(partition = %partition.topic_partition(), cause = %e,
                "transaction marker refused");
            e.code()
        }
    }
}

fn respond(broker: &Broker, req: WriteTxnMarkersRequest, _version: i16) -> WriteTxnMarkersResponse {
    let markers = req
        .markers
        .into_iter()
        .map(|m| {
            let marker = TxnMarker {
                producer_id: m.producer_id.0,
                producer_epoch: m.producer_epoch,
                coordinator_epoch: m.coordinator_epoch,
                commit: m.transaction_result,
            };
            let topics = m
                .topics
                .into_iter()
                .map(|t| {
                    let hosted = broker.topic(&t.name.0);
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            let code = match hosted.as_ref().and_then(|h| h.partition(index)) {
                                None => ErrorCode::UnknownTopicOrPartition,
                                Some(p) if t.name.0.as_str() == topic::OFFSETS_TOPIC => {
                                    // TODO(txn-coordinator): Kafka hands a marker for
                                    // __consumer_offsets to the group coordinator
                                    // (`completeTransaction`), which writes it and then
                                    // applies or drops the producer's pending offsets; call
                                    // that here. For now the marker is only written.
                                    write_marker(p, &marker)
                                }
                                Some(p) => write_marker(p, &marker),
                            };
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code.code())
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}
