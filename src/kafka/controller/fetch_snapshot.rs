//! FetchSnapshot (v0-v1) of `__cluster_metadata-0`: a broker whose fetch offset was purged
//! from the metadata log takes the image instead. Any voter answers with its image as of
//! what it has applied (so, committed): the snapshot id's end offset is the offset after
//! it, and the bytes are data batches of the image's records (a `.checkpoint` file holds
//! the same records between its header and footer control batches; this is not that file).
//! The whole image goes in one answer (up to the 64 MiB frame); a `position` is honoured
//! (clamped to the size), though the image may have moved on since an earlier part.

use bytes::Bytes;
use kafka_protocol::messages::fetch_snapshot_response::{
    PartitionSnapshot, SnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{FetchSnapshotRequest, FetchSnapshotResponse};

use super::fetch::METADATA_TOPIC;
use crate::controller::driver::Controller;
use crate::error::ErrorCode;
use crate::log::records::{encode_batch, NewRecord};

/// Records per data batch of the answer.
const RECORDS_PER_BATCH: usize = 10_000;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: FetchSnapshotRequest,
) -> FetchSnapshotResponse {
    let mut topics = Vec::new();
    for t in &req.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let out = PartitionSnapshot::default().with_index(p.partition);
            if t.name.0.as_str() != METADATA_TOPIC || p.partition != 0 {
                partitions.push(out.with_error_code(ErrorCode::UnknownTopicOrPartition.code()));
                continue;
            }
            let (applied, records) = ctl.image().snapshot_at();
            let bytes = encode(&records);
            let size = bytes.len() as i64;
            let position = p.position.clamp(0, size);
            let from = usize::try_from(position).unwrap_or(0);
            let chunk = bytes.slice(from..);
            partitions.push(
                out.with_snapshot_id(
                    SnapshotId::default()
                        .with_end_offset(applied.saturating_add(1))
                        .with_epoch(ctl.leader_and_epoch().epoch as i32),
                )
                .with_size(size)
                .with_position(position)
                .with_unaligned_records(chunk),
            );
        }
        topics.push(
            TopicSnapshot::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    FetchSnapshotResponse::default().with_topics(topics)
}

/// The records as data batches (null keys, one value each).
fn encode(records: &[Bytes]) -> Bytes {
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
