//! A broker that is not a voter follows the metadata log as Kafka's observers do: it
//! sends Fetch for `__cluster_metadata-0` to the quorum's leader (another voter answers
//! NOT_LEADER_OR_FOLLOWER, and the next is tried), applies each data batch's records to its
//! image in offset order, and skips control batches. A fetch below the log start (purged
//! after a snapshot) is answered with a snapshot id; the broker then takes the image with
//! FetchSnapshot, in parts, and goes on fetching from the snapshot's end offset. An answer
//! that brings nothing new is followed by a short pause.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
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

use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::controller::MetadataStateMachine;
use crate::error::ErrorCode;
use crate::log::batch::BatchIter;
use crate::log::records::decode_batch;
use crate::metadata::metadata_log::{CLUSTER_METADATA_TOPIC, CLUSTER_METADATA_TOPIC_ID};

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
            .with_topic_id(CLUSTER_METADATA_TOPIC_ID)
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
    for batch in data_batches(records, offset)?.0 {
        if !batch.values.is_empty() {
            sm.apply(batch.last_offset, &batch.values);
        }
        next = batch.next_offset;
    }
    Ok(next)
}

/// One batch of the metadata log: its record values (none for a control batch).
struct Batch {
    last_offset: i64,
    next_offset: i64,
    values: Vec<Bytes>,
}

/// The batches in `bytes` that end at or after offset `from` (values of records before it
/// left out), and whether they were all whole (a batch cut short ends the walk).
fn data_batches(bytes: &Bytes, from: i64) -> Result<(Vec<Batch>, bool), String> {
    let mut out = Vec::new();
    let mut iter = BatchIter::new(bytes);
    for (at, h) in iter.by_ref() {
        let Some(batch) = h
            .size()
            .and_then(|size| bytes.get(at..at.saturating_add(size)))
        else {
            return Ok((out, false));
        };
        if h.next_offset() <= from {
            continue;
        }
        let values = if h.is_control() {
            Vec::new()
        } else {
            decode_batch(batch)
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|r| r.offset >= from)
                .filter_map(|r| r.value)
                .collect()
        };
        out.push(Batch {
            last_offset: h.last_offset(),
            next_offset: h.next_offset(),
            values,
        });
    }
    Ok((out, iter.position() == bytes.len()))
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
                .with_name(TopicName(StrBytes::from_static_str(CLUSTER_METADATA_TOPIC)))
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
    let (batches, whole) = data_batches(&bytes.freeze(), 0)?;
    if !whole {
        return Err("a snapshot batch cut short".into());
    }
    let records: Vec<Bytes> = batches.into_iter().flat_map(|b| b.values).collect();
    info!(
        end_offset,
        records = records.len(),
        "metadata image taken from a snapshot"
    );
    sm.restore(end_offset, records);
    Ok(end_offset)
}
