//! Fetch (v12-v17) of `__cluster_metadata-0`: how a broker that is not a voter follows the
//! metadata log (Kafka's observers fetch it the same way). Only the quorum's leader answers
//! (another voter: NOT_LEADER_OR_FOLLOWER with the leader it knows, and the broker tries
//! the next): it reads its log up to what it has applied, which is committed, so the answer
//! holds only committed batches, as they are stored (control batches too; the broker skips
//! them).
//!
//! A fetch at the end waits (up to `max_wait_ms`, at most 5 s) for the next commit. A fetch
//! below the log start (purged after a snapshot) is answered with a snapshot id, and the
//! broker then asks FetchSnapshot for the image; its end offset is the offset after what
//! the image holds, or the log start if that is further (what lies between is control
//! batches, which change no image). Its epoch is the leader's current one (not the epoch of
//! the snapshot's last record, as Kafka's). Any other topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION (or UNKNOWN_TOPIC_ID by id).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, LeaderIdAndEpoch, PartitionData, SnapshotId,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use uuid::Uuid;

use crate::controller::driver::Controller;
use crate::controller::LogRead;
use crate::error::ErrorCode;
use crate::metadata::metadata_log::{CLUSTER_METADATA_TOPIC, CLUSTER_METADATA_TOPIC_ID};

/// The longest a fetch at the end waits for a commit.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// The most bytes one answer carries.
const MAX_BYTES: usize = 8 << 20;

pub async fn handle(ctl: &Controller, version: i16, req: FetchRequest) -> FetchResponse {
    let by_id = version >= 13;
    let mut responses = Vec::new();
    for t in &req.topics {
        let ours = if by_id {
            t.topic_id == CLUSTER_METADATA_TOPIC_ID
        } else {
            t.topic.0.as_str() == CLUSTER_METADATA_TOPIC
        };
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let data = if !ours || p.partition != 0 {
                let code = if by_id && !ours {
                    ErrorCode::UnknownTopicId
                } else {
                    ErrorCode::UnknownTopicOrPartition
                };
                PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_error_code(code.code())
            } else {
                let max = usize::try_from(p.partition_max_bytes)
                    .unwrap_or(0)
                    .clamp(1, MAX_BYTES);
                read(ctl, p.fetch_offset, max, req.max_wait_ms).await
            };
            partitions.push(data);
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(if by_id {
                    TopicName::default()
                } else {
                    t.topic.clone()
                })
                .with_topic_id(if by_id { t.topic_id } else { Uuid::nil() })
                .with_partitions(partitions),
        );
    }
    FetchResponse::default().with_responses(responses)
}

/// The committed batches from `from`, waiting for one if there is none yet.
async fn read(ctl: &Controller, from: i64, max_bytes: usize, max_wait_ms: i32) -> PartitionData {
    let out = PartitionData::default().with_partition_index(0);
    let le = ctl.leader_and_epoch();
    if le.leader != Some(ctl.quorum().node_id()) {
        return out
            .with_error_code(ErrorCode::NotLeaderOrFollower.code())
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(le.leader.unwrap_or(-1)))
                    .with_leader_epoch(i32::try_from(le.epoch).unwrap_or(-1)),
            );
    }
    let image = ctl.image();
    // everything up to the applied offset is committed
    let committed_end = || image.applied_offset().saturating_add(1);
    if from >= committed_end() && max_wait_ms > 0 {
        let wait = Duration::from_millis(u64::try_from(max_wait_ms).unwrap_or(0)).min(MAX_WAIT);
        let mut changes = image.subscribe();
        let _ = tokio::time::timeout(wait, async {
            while from >= committed_end() {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }
    let end = committed_end();
    let read = {
        let log = ctl.quorum().log_reader();
        tokio::task::spawn_blocking(move || log.read(from, end, max_bytes)).await
    };
    match read {
        Ok(Ok(LogRead::Batches { records, log_start })) => out
            .with_high_watermark(end)
            .with_last_stable_offset(end)
            .with_log_start_offset(log_start)
            .with_records(Some(records)),
        Ok(Ok(LogRead::Purged { log_start })) => {
            // the broker fetches the image as a snapshot
            out.with_high_watermark(end)
                .with_last_stable_offset(end)
                .with_log_start_offset(log_start)
                .with_snapshot_id(
                    SnapshotId::default()
                        .with_end_offset(end.max(log_start))
                        .with_epoch(i32::try_from(le.epoch).unwrap_or(-1)),
                )
                .with_records(Some(Bytes::new()))
        }
        Ok(Err(e)) => {
            tracing::warn!(from, cause = %e, "metadata log read failed");
            out.with_error_code(ErrorCode::KafkaStorageError.code())
        }
        Err(_) => out.with_error_code(ErrorCode::UnknownServerError.code()),
    }
}
