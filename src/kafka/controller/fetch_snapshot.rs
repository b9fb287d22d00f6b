//! FetchSnapshot (v0-v1) of `__cluster_metadata-0`: a broker whose fetch offset was purged
//! from the metadata log takes the image instead. Only the quorum's leader answers
//! (NOT_LEADER_OR_FOLLOWER elsewhere), with its image as of what it has applied (so,
//! committed): the bytes are data batches of the image's records (a `.checkpoint` file holds
//! the same records between its header and footer control batches; this is not that file).
//!
//! The snapshot id is the one Fetch gave ([`super::fetch`]); the bytes go in parts of at
//! most `max_bytes` from `position`, and since the image is encoded the same way every time,
//! parts asked for the same id fit together. Once the image has moved past that id the
//! request gets SNAPSHOT_NOT_FOUND, and the broker fetches again.

use bytes::Bytes;
use kafka_protocol::messages::fetch_snapshot_response::{
    PartitionSnapshot, SnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{FetchSnapshotRequest, FetchSnapshotResponse};

use crate::controller::driver::Controller;
use crate::error::ErrorCode;
use crate::log::records::{encode_batch, NewRecord};
use crate::metadata::image::MetadataImage;
use crate::metadata::metadata_log::CLUSTER_METADATA_TOPIC;
use crate::metadata::records::MetadataRecord;

/// Records per data batch of the answer.
const RECORDS_PER_BATCH: usize = 10_000;
/// The most bytes of one part.
const MAX_PART: usize = 32 << 20;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: FetchSnapshotRequest,
) -> FetchSnapshotResponse {
    let max_part = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .clamp(1, MAX_PART);
    let mut topics = Vec::new();
    for t in &req.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let out = PartitionSnapshot::default().with_index(p.partition);
            if t.name.0.as_str() != CLUSTER_METADATA_TOPIC || p.partition != 0 {
                partitions.push(out.with_error_code(ErrorCode::UnknownTopicOrPartition.code()));
                continue;
            }
            partitions.push(part(ctl, p.snapshot_id.end_offset, p.position, max_part).await);
        }
        topics.push(
            TopicSnapshot::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    FetchSnapshotResponse::default().with_topics(topics)
}

/// The part of snapshot `end_offset` from `position`.
async fn part(ctl: &Controller, end_offset: i64, position: i64, max: usize) -> PartitionSnapshot {
    let out = PartitionSnapshot::default().with_index(0);
    let le = ctl.leader_and_epoch();
    if le.leader != Some(ctl.quorum().node_id()) {
        return out.with_error_code(ErrorCode::NotLeaderOrFollower.code());
    }
    // the image, cloned under its lock; encoded off the runtime's threads
    let (applied, image) = ctl.image().image_at();
    // what Fetch named the snapshot: the offset after the image, or the log start
    let log_start = ctl.quorum().log_reader().log_start_offset();
    let end = applied.saturating_add(1).max(log_start);
    if end_offset != end {
        return out.with_error_code(ErrorCode::SnapshotNotFound.code());
    }
    let Ok(bytes) = tokio::task::spawn_blocking(move || encode(&image)).await else {
        return out.with_error_code(ErrorCode::UnknownServerError.code());
    };
    let size = bytes.len() as i64;
    let from = position.clamp(0, size);
    let start = usize::try_from(from).unwrap_or(0);
    let stop = start.saturating_add(max).min(bytes.len());
    out.with_snapshot_id(
        SnapshotId::default()
            .with_end_offset(end)
            .with_epoch(i32::try_from(le.epoch).unwrap_or(-1)),
    )
    .with_size(size)
    .with_position(from)
    .with_unaligned_records(bytes.slice(start..stop))
}

/// The image's records as data batches (null keys, one record value each).
fn encode(image: &MetadataImage) -> Bytes {
    let records: Vec<Bytes> = image
        .snapshot_records()
        .iter()
        .map(MetadataRecord::encode)
        .collect();
    let mut out = Vec::new();
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        let batch: Vec<NewRecord> = chunk
            .iter()
            .map(|r| NewRecord::new(None::<Vec<u8>>, r.to_vec()))
            .collect();
        out.extend_from_slice(&encode_batch(&batch, -1));
    }
    Bytes::from(out)
}
