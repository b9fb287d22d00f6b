//! A broker that is not a voter follows the metadata log as Kafka's observers do: it
//! sends Fetch for `__cluster_metadata-0` to a controller (any voter: each answers with
//! what it has committed), applies each data batch's records to its image in offset order,
//! and skips control batches. A fetch below the log start (the voters purged it after a
//! snapshot) is answered with a snapshot id; the broker then takes the image with
//! FetchSnapshot and goes on fetching from the snapshot's end offset.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_snapshot_request::{
    PartitionSnapshot, SnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, FetchSnapshotRequest, FetchSnapshotResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::controller::MetadataStateMachine;
use crate::log::batch::BatchIter;
use crate::log::records::decode_batch;

const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_TOPIC_ID: Uuid = Uuid::from_u128(1);
const FETCH_VERSION: i16 = 15;
const FETCH_SNAPSHOT_VERSION: i16 = 0;
/// How long a fetch at the end waits at the controller for the next commit.
const MAX_WAIT_MS: i32 = 500;
const MAX_BYTES: i32 = 8 << 20;
const SNAPSHOT_MAX_BYTES: i32 = 64 << 20;

/// Starts following the metadata log into `image`.
pub fn start(node_id: i32, image: SharedImage, client: ControllerClient) -> JoinHandle<()> {
    tokio::spawn(run(node_id, image, client))
}

async fn run(node_id: i32, image: SharedImage, client: ControllerClient) {
    let mut sm = image.state_machine();
    let mut offset: i64 = 0;
    let mut backoff = Duration::from_millis(50);
    loop {
        match fetch_once(node_id, &client, &mut sm, offset).await {
            Ok(next) => {
                offset = next;
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                debug!(offset, cause = %e, "metadata fetch failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One fetch from `offset`; the offset to fetch from next.
async fn fetch_once(
    node_id: i32,
    client: &ControllerClient,
    sm: &mut impl MetadataStateMachine,
    offset: i64,
) -> Result<i64, String> {
    let req = FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(node_id))
                .with_replica_epoch(-1),
        )
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(METADATA_TOPIC_ID)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(MAX_BYTES)])]);
    let wait = Duration::from_millis(MAX_WAIT_MS as u64) + Duration::from_secs(5);
    let resp: FetchResponse = client
        .call(ApiKey::Fetch, FETCH_VERSION, &req, wait, |_| false)
        .await
        .map_err(|e| e.to_string())?;
    let p = resp
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("an answer without the partition")?;
    if p.error_code != 0 {
        return Err(format!("error code {}", p.error_code));
    }
    if p.snapshot_id.end_offset >= 0 {
        return fetch_snapshot(client, sm, p.snapshot_id.end_offset, p.snapshot_id.epoch).await;
    }
    let Some(records) = p.records.as_ref() else {
        return Ok(offset);
    };
    let mut next = offset;
    for (at, h) in BatchIter::new(records) {
        let Some(bytes) = h
            .size()
            .and_then(|size| records.get(at..at.saturating_add(size)))
        else {
            break;
        };
        if h.next_offset() <= next {
            continue;
        }
        if !h.is_control() {
            let decoded = decode_batch(bytes).map_err(|e| e.to_string())?;
            let values: Vec<bytes::Bytes> = decoded
                .into_iter()
                .filter(|r| r.offset >= next)
                .filter_map(|r| r.value)
                .collect();
            if !values.is_empty() {
                sm.apply(h.last_offset(), &values);
            }
        }
        next = h.next_offset();
    }
    Ok(next)
}

/// Takes the image as a snapshot (the log below `end_offset` was purged).
async fn fetch_snapshot(
    client: &ControllerClient,
    sm: &mut impl MetadataStateMachine,
    end_offset: i64,
    epoch: i32,
) -> Result<i64, String> {
    let req = FetchSnapshotRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(SNAPSHOT_MAX_BYTES)
        .with_topics(vec![TopicSnapshot::default()
            .with_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![PartitionSnapshot::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_snapshot_id(
                    SnapshotId::default()
                        .with_end_offset(end_offset)
                        .with_epoch(epoch),
                )
                .with_position(0)])]);
    let resp: FetchSnapshotResponse = client
        .call(
            ApiKey::FetchSnapshot,
            FETCH_SNAPSHOT_VERSION,
            &req,
            Duration::from_secs(30),
            |_| false,
        )
        .await
        .map_err(|e| e.to_string())?;
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("an answer without the partition")?;
    if p.error_code != 0 {
        return Err(format!("snapshot error code {}", p.error_code));
    }
    if p.position != 0 || p.size != p.unaligned_records.len() as i64 {
        return Err("a snapshot in parts".into());
    }
    let mut records = Vec::new();
    let bytes = &p.unaligned_records;
    for (at, h) in BatchIter::new(bytes) {
        let Some(batch) = h
            .size()
            .and_then(|size| bytes.get(at..at.saturating_add(size)))
        else {
            return Err("a snapshot batch cut short".into());
        };
        if h.is_control() {
            continue;
        }
        let decoded = decode_batch(batch).map_err(|e| e.to_string())?;
        records.extend(decoded.into_iter().filter_map(|r| r.value));
    }
    let end = p.snapshot_id.end_offset;
    info!(
        end_offset = end,
        records = records.len(),
        "metadata image taken from a snapshot"
    );
    if end < 0 {
        warn!("a snapshot without an end offset");
        return Err("no end offset".into());
    }
    sm.restore(end, records);
    Ok(end)
}
