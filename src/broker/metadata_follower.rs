//! A broker that is not a voter follows the metadata log as Kafka's observers do: it
//! sends Fetch for `__cluster_metadata-0` to the quorum's leader (another voter answers
//! NOT_LEADER_OR_FOLLOWER, and the next is tried), applies each data batch's records to its
//! image in offset order, and skips control batches. A fetch below the log start (purged
//! after a snapshot) is answered with a snapshot id; the broker then takes the image with
//! FetchSnapshot, in parts, and goes on fetching from the snapshot's end offset. An answer
//! that brings nothing new is followed by a short pause.

use std::time::Duration;

use bytes::BytesMut;
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
use tracing::{debug, info};
use uuid::Uuid;

use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::controller::MetadataStateMachine;
use crate::error::ErrorCode;
use crate::log::batch::BatchIter;
use crate::log::records::decode_batch;

const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_TOPIC_ID: Uuid = Uuid::from_u128(1);
const FETCH_VERSION: i16 = 15;
const FETCH_SNAPSHOT_VERSION: i16 = 0;
/// How long a fetch at the end waits at the controller for the next commit.
const MAX_WAIT_MS: i32 = 500;
const MAX_BYTES: i32 = 8 << 20;
/// The most bytes of one FetchSnapshot part.
const SNAPSHOT_PART: i32 = 8 << 20;
/// The most bytes of a whole snapshot (the image) a broker takes.
const SNAPSHOT_MAX: i64 = 1 << 30;
/// The pause after an answer that brought nothing new.
const IDLE: Duration = Duration::from_millis(50);

/// Starts following the metadata log into `image`.
pub fn start(node_id: i32, image: SharedImage, client: ControllerClient) -> JoinHandle<()> {
    start_with(node_id, image, client, SNAPSHOT_PART)
}

/// [`start`] with snapshots taken in parts of at most `snapshot_part` bytes (tests).
#[doc(hidden)]
pub fn start_with(
    node_id: i32,
    image: SharedImage,
    client: ControllerClient,
    snapshot_part: i32,
) -> JoinHandle<()> {
    tokio::spawn(run(node_id, image, client, snapshot_part))
}

async fn run(node_id: i32, image: SharedImage, client: ControllerClient, snapshot_part: i32) {
    let mut sm = image.state_machine();
    let mut offset: i64 = 0;
    let mut backoff = Duration::from_millis(50);
    loop {
        match fetch_once(node_id, &client, &mut sm, offset, snapshot_part).await {
            Ok(next) => {
                if next == offset {
                    tokio::time::sleep(IDLE).await;
                }
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
    snapshot_part: i32,
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
        .call(
            ApiKey::Fetch,
            FETCH_VERSION,
            &req,
            wait,
            |r: &FetchResponse| not_leader(first_code(r)),
        )
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
        let id = (p.snapshot_id.end_offset, p.snapshot_id.epoch);
        return fetch_snapshot(client, sm, id, snapshot_part).await;
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

fn first_code(r: &FetchResponse) -> i16 {
    r.responses
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(0, |p| p.error_code)
}

/// NOT_LEADER_OR_FOLLOWER: the voter asked is not the leader; try the next.
fn not_leader(code: i16) -> bool {
    code == ErrorCode::NotLeaderOrFollower.code()
}

/// Takes the image as a snapshot (the log below `end_offset` was purged), in parts.
async fn fetch_snapshot(
    client: &ControllerClient,
    sm: &mut impl MetadataStateMachine,
    (end_offset, epoch): (i64, i32),
    part: i32,
) -> Result<i64, String> {
    let mut bytes = BytesMut::new();
    loop {
        let req = FetchSnapshotRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(part)
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
                    .with_position(bytes.len() as i64)])]);
        let resp: FetchSnapshotResponse = client
            .call(
                ApiKey::FetchSnapshot,
                FETCH_SNAPSHOT_VERSION,
                &req,
                Duration::from_secs(30),
                |r: &FetchSnapshotResponse| {
                    not_leader(
                        r.topics
                            .first()
                            .and_then(|t| t.partitions.first())
                            .map_or(0, |p| p.error_code),
                    )
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or("an answer without the partition")?;
        if p.error_code != 0 {
            // SNAPSHOT_NOT_FOUND: the image moved on; fetching again names the new one
            return Err(format!("snapshot error code {}", p.error_code));
        }
        if p.snapshot_id.end_offset != end_offset
            || p.position != bytes.len() as i64
            || !(0..=SNAPSHOT_MAX).contains(&p.size)
        {
            return Err("a snapshot part that does not fit".into());
        }
        bytes.extend_from_slice(&p.unaligned_records);
        if bytes.len() as i64 >= p.size {
            break;
        }
        if p.unaligned_records.is_empty() {
            return Err("an empty snapshot part before the end".into());
        }
    }
    let bytes = bytes.freeze();
    let mut records = Vec::new();
    for (at, h) in BatchIter::new(&bytes) {
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
    info!(
        end_offset,
        records = records.len(),
        "metadata image taken from a snapshot"
    );
    sm.restore(end_offset, records);
    Ok(end_offset)
}
