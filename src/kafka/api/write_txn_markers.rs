//! WriteTxnMarkers (v1, flexible; Kafka 4 no longer takes v0): the transaction
//! coordinator's COMMIT or ABORT marker for each listed partition of a producer, written
//! by [`Broker::write_txn_marker`] (appended, made durable, and answered once the
//! partition's in-sync replicas have it, as Kafka appends markers with acks=all; on
//! `__consumer_offsets` through the group coordinator, which then applies or drops the
//! transaction's offsets). Per partition: UNKNOWN_TOPIC_OR_PARTITION (not hosted),
//! NOT_LEADER_OR_FOLLOWER, INVALID_PRODUCER_EPOCH (an older producer epoch),
//! TRANSACTION_COORDINATOR_FENCED (an older coordinator epoch), KAFKA_STORAGE_ERROR.
//! Another broker's transaction coordinator sends these, and `kafka-transactions.sh
//! abort` sends one with DescribeProducers' answer. It needs ALTER or CLUSTER_ACTION on the
//! cluster, else every partition gets CLUSTER_AUTHORIZATION_FAILED.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::log::TxnMarker;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: WriteTxnMarkersRequest,
) -> Answer<WriteTxnMarkersResponse> {
    let may = authz::allowed_on_cluster(ctx, broker, AclOperation::Alter)
        || authz::allowed_on_cluster(ctx, broker, AclOperation::ClusterAction);
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let marker = TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for &index in &t.partition_indexes {
                let written = match may {
                    true => broker.write_txn_marker(&t.name.0, index, &marker).await,
                    false => Err(ErrorCode::ClusterAuthorizationFailed),
                };
                let code = match written {
                    Ok(()) => ErrorCode::None,
                    Err(code) => {
                        tracing::debug!(topic = %t.name.0, partition = index, error = code.name(),
                            "transaction marker refused");
                        code
                    }
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(code.code()),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default()
        .with_markers(markers)
        .into()
}
