//! WriteTxnMarkers (v1, flexible; Kafka 4 no longer takes v0): the transaction
//! coordinator's COMMIT or ABORT marker for each listed partition of a producer, appended
//! by [`Partition::append_marker`](crate::partition::Partition::append_marker), made
//! durable, and answered once the partition's in-sync replicas have it (Kafka appends
//! markers with acks=all; it waits `request.timeout.ms`, here [`REPLICATION_TIMEOUT`]).
//! Per partition: UNKNOWN_TOPIC_OR_PARTITION (not hosted),
//! NOT_LEADER_OR_FOLLOWER, INVALID_PRODUCER_EPOCH (an older producer epoch),
//! TRANSACTION_COORDINATOR_FENCED (an older coordinator epoch), KAFKA_STORAGE_ERROR.
//! `kafka-transactions.sh abort` sends one with DescribeProducers' answer.

use std::sync::Arc;
use std::time::Duration;

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

/// How long a marker waits for the in-sync replicas (Kafka's `request.timeout.ms` default).
pub const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: WriteTxnMarkersRequest,
) -> Answer<WriteTxnMarkersResponse> {
    // appends and fsyncs: off the runtime threads
    let (mut resp, written) = match super::on_blocking_pool(ctx, broker, req, respond).await {
        Answer::Now(r) => r,
        Answer::Fail(e) => return Answer::Fail(e),
        _ => {
            return Answer::Fail(crate::kafka::answer::RouteError::Internal(
                "WriteTxnMarkers answered late".into(),
            ))
        }
    };
    let deadline = tokio::time::Instant::now() + REPLICATION_TIMEOUT;
    for w in written {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(code) = w.partition.wait_replicated(w.end, w.epoch, left).await {
            if let Some(slot) = resp
                .markers
                .get_mut(w.at.0)
                .and_then(|m| m.topics.get_mut(w.at.1))
                .and_then(|t| t.partitions.get_mut(w.at.2))
            {
                slot.error_code = code.code();
            }
        }
    }
    Answer::Now(resp)
}

/// A marker written and fsynced, to wait for the in-sync replicas.
struct Written {
    partition: Arc<Partition>,
    /// The offset after the marker.
    end: i64,
    /// The leader epoch it was written under.
    epoch: i32,
    /// Where its answer is: marker, topic, partition.
    at: (usize, usize, usize),
}

/// Writes one marker to one partition and makes it durable: the offset after it and the
/// leader epoch it was written at, or the error code to answer.
fn write_marker(partition: &Partition, marker: &TxnMarker) -> Result<(i64, i32), ErrorCode> {
    let epoch = partition.leader_epoch();
    match partition
        .append_marker(marker)
        .and_then(|offset| partition.flush_to(offset + 1).map(|()| offset + 1))
    {
        Ok(end) => Ok((end, epoch)),
        Err(e) => {
            tracing::debug!(partition = %partition.topic_partition(), cause = %e,
                "transaction marker refused");
            Err(e.code())
        }
    }
}

fn respond(
    broker: &Broker,
    req: WriteTxnMarkersRequest,
    _version: i16,
) -> (WriteTxnMarkersResponse, Vec<Written>) {
    let mut written = Vec::new();
    let markers = req
        .markers
        .into_iter()
        .enumerate()
        .map(|(mi, m)| {
            let marker = TxnMarker {
                producer_id: m.producer_id.0,
                producer_epoch: m.producer_epoch,
                coordinator_epoch: m.coordinator_epoch,
                commit: m.transaction_result,
            };
            let topics = m
                .topics
                .into_iter()
                .enumerate()
                .map(|(ti, t)| {
                    let hosted = broker.topic(&t.name.0);
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .enumerate()
                        .map(|(pi, &index)| {
                            let partition = hosted.as_ref().and_then(|h| h.partition(index));
                            let result = match partition {
                                None => Err(ErrorCode::UnknownTopicOrPartition),
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
                            let code = match (result, partition) {
                                (Ok((end, epoch)), Some(p)) => {
                                    written.push(Written {
                                        partition: Arc::clone(p),
                                        end,
                                        epoch,
                                        at: (mi, ti, pi),
                                    });
                                    ErrorCode::None
                                }
                                (Ok(_), None) => ErrorCode::UnknownTopicOrPartition,
                                (Err(code), _) => code,
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
    (
        WriteTxnMarkersResponse::default().with_markers(markers),
        written,
    )
}
