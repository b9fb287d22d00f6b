//! A cluster broker's replication (Kafka's `ReplicaFetcherManager`, its fetcher threads,
//! and the ISR half of `ReplicaManager`):
//!
//! - **Fetchers.** One task per leader this broker follows, fetching every partition it
//!   follows from that leader in one Kafka Fetch (v15: the follower's id and broker epoch
//!   in `ReplicaState`, topics by id), on one connection. Each partition's batches are
//!   appended unchanged ([`Partition::append_as_follower`]) and fsynced before the next
//!   fetch, whose offset tells the leader this replica has them: so the leader's high
//!   watermark only passes records that are on the disk of every in-sync replica. A
//!   diverging epoch in the answer (KIP-595) truncates the log to where it agrees with the
//!   leader's first; an offset below the leader's log start starts the log again there.
//! - **ISR changes.** A task asks the controller (AlterPartition) for the ISR changes the
//!   partitions this broker leads want ([`Partition::wanted_isr_change`]): every 250 ms,
//!   and after every metadata publish. An answer whose outcome is unknown (no answer, or
//!   the metadata moved) keeps the change in flight and sends it again; only a refusal
//!   that proves nothing was applied ends it.
//!
//! [`Replication::sync`] runs after every metadata publish: each hosted partition goes to
//! the fetcher of its leader, or to none when this broker leads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::alter_partition_request::{
    BrokerState, PartitionData as AlterPartitionData, TopicData as AlterTopicData,
};
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ReplicaState as FetchReplicaState,
};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, ApiKey, BrokerId, FetchRequest, FetchResponse,
};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::Broker;
use crate::controller::client::{encode_request, read_response, ControllerClient};
use crate::controller::link::{connect, Conn};
use crate::error::ErrorCode;
use crate::partition::{IsrChange, IsrOutcome, Partition, ReplicaState};

/// Fetch v15: the first with the follower in `ReplicaState`.
const FETCH_VERSION: i16 = 15;
const ALTER_PARTITION_VERSION: i16 = 3;
/// `replica.fetch.max.bytes` and `replica.fetch.response.max.bytes`, Kafka's defaults.
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const RESPONSE_MAX_BYTES: i32 = 10 << 20;
const MAX_FRAME: usize = 64 << 20;
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// A partition a fetcher replicates, keyed by (topic id, index).
type Key = (Uuid, i32);

struct Fetcher {
    partitions: Arc<Mutex<BTreeMap<Key, Arc<Partition>>>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

/// The running replication of one broker.
pub struct Replication {
    fetchers: Mutex<HashMap<i32, Fetcher>>,
    isr_wake: Arc<Notify>,
    isr_task: JoinHandle<()>,
}

impl Drop for Replication {
    fn drop(&mut self) {
        self.isr_task.abort();
        for f in self.fetchers.lock().values() {
            f.task.abort();
        }
    }
}

impl Replication {
    /// Starts the ISR task; fetchers start as [`Self::sync`] finds partitions to follow.
    pub fn start(broker: &Arc<Broker>, controller: ControllerClient) -> Replication {
        let isr_wake = Arc::new(Notify::new());
        let isr_task = tokio::spawn(isr_loop(
            Arc::clone(broker),
            controller,
            Arc::clone(&isr_wake),
        ));
        Replication {
            fetchers: Mutex::new(HashMap::new()),
            isr_wake,
            isr_task,
        }
    }

    /// Puts every hosted partition this broker follows under its leader's fetcher, and
    /// takes the others out (Kafka's `makeFollowers` / `makeLeaders` for the fetchers).
    pub fn sync(&self, broker: &Arc<Broker>) {
        let me = broker.node_id();
        let mut wanted: HashMap<i32, BTreeMap<Key, Arc<Partition>>> = HashMap::new();
        for t in broker.topics() {
            for p in &t.partitions {
                let st = p.replica_state();
                if st.leader >= 0 && st.leader != me && st.replicas.contains(&me) {
                    wanted
                        .entry(st.leader)
                        .or_default()
                        .insert((t.id, p.index()), Arc::clone(p));
                }
            }
        }
        let mut fetchers = self.fetchers.lock();
        fetchers.retain(|leader, f| {
            let keep = wanted.contains_key(leader);
            if !keep {
                f.task.abort();
                debug!(leader, "no partition left to follow: fetcher stopped");
            }
            keep
        });
        for (leader, parts) in wanted {
            match fetchers.get(&leader) {
                Some(f) => {
                    *f.partitions.lock() = parts;
                    f.wake.notify_one();
                }
                None => {
                    info!(leader, partitions = parts.len(), "following a leader");
                    let partitions = Arc::new(Mutex::new(parts));
                    let wake = Arc::new(Notify::new());
                    let task = tokio::spawn(fetch_loop(
                        Arc::clone(broker),
                        leader,
                        Arc::clone(&partitions),
                        Arc::clone(&wake),
                    ));
                    fetchers.insert(
                        leader,
                        Fetcher {
                            partitions,
                            wake,
                            task,
                        },
                    );
                }
            }
        }
        // a new leadership may want its ISR changed
        self.isr_wake.notify_one();
    }
}

/// The inter-broker endpoint (`host:port`) of broker `id`, as the metadata says.
pub(crate) fn endpoint_of(broker: &Broker, id: i32) -> Option<String> {
    let config = broker.config();
    let listener = config
        .inter_broker_listener_name
        .clone()
        .or_else(|| config.listeners.first().map(|l| l.name.clone()))?;
    broker
        .metadata()
        .endpoint(id, &listener)
        .map(|e| format!("{}:{}", e.host, e.port))
}

/// One fetcher: fetch from `leader`, apply, fsync, repeat.
async fn fetch_loop(
    broker: Arc<Broker>,
    leader: i32,
    partitions: Arc<Mutex<BTreeMap<Key, Arc<Partition>>>>,
    wake: Arc<Notify>,
) {
    let cluster = broker.config().cluster.clone();
    let backoff = Duration::from_millis(cluster.replica_fetch_backoff_ms.max(10));
    let max_wait = i32::try_from(cluster.replica_fetch_wait_max_ms).unwrap_or(500);
    let client_id = format!("rafka-replica-fetcher-{}-{leader}", broker.node_id());
    let mut conn: Option<Conn> = None;
    let mut correlation: i32 = 0;
    let mut last_failure: Option<String> = None;
    // partitions whose last answer was an error wait until then
    let mut delayed: HashMap<Key, tokio::time::Instant> = HashMap::new();
    loop {
        let now = tokio::time::Instant::now();
        delayed.retain(|_, until| *until > now);
        // each with the leader epoch it is fetched at: its answer is applied only if the
        // partition still follows this leader at that epoch
        let parts: Vec<(Key, Arc<Partition>, i32)> = partitions
            .lock()
            .iter()
            .filter(|(k, _)| !delayed.contains_key(*k))
            .map(|(k, p)| (*k, Arc::clone(p), p.leader_epoch()))
            .collect();
        if parts.is_empty() {
            let next = delayed.values().min().copied();
            match next {
                Some(until) => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                None => wake.notified().await,
            }
            continue;
        }
        let epoch = broker.cluster().map_or(-1, |c| {
            c.broker_epoch.load(std::sync::atomic::Ordering::Acquire)
        });
        let request = fetch_request(broker.node_id(), epoch, max_wait, &parts);
        correlation = correlation.wrapping_add(1);
        let exchange = exchange(
            &broker,
            leader,
            &mut conn,
            &client_id,
            correlation,
            &request,
            Duration::from_millis(u64::try_from(max_wait).unwrap_or(500)) + Duration::from_secs(10),
        );
        let response = match exchange.await {
            Ok(r) => {
                last_failure = None;
                r
            }
            Err(e) => {
                // a wrong inter-broker password or certificate stops replication: said at
                // warn once per cause, not at every retry
                if last_failure.as_deref() != Some(e.as_str()) {
                    warn!(leader, cause = %e, "replica fetch failed; retrying");
                } else {
                    debug!(leader, cause = %e, "replica fetch failed");
                }
                last_failure = Some(e);
                conn = None;
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(backoff) => {}
                }
                continue;
            }
        };
        if response.error_code != 0 {
            debug!(leader, code = response.error_code, "replica fetch refused");
            tokio::time::sleep(backoff).await;
            continue;
        }
        let by_key: HashMap<Key, (Arc<Partition>, i32)> =
            parts.into_iter().map(|(k, p, e)| (k, (p, e))).collect();
        let applied = tokio::task::spawn_blocking(move || apply(leader, &by_key, response)).await;
        match applied {
            Ok(outcome) => {
                for key in outcome.failed {
                    delayed.insert(key, tokio::time::Instant::now() + backoff);
                }
            }
            Err(e) => warn!(leader, cause = %e, "applying a replica fetch failed"),
        }
    }
}

fn fetch_request(
    me: i32,
    broker_epoch: i64,
    max_wait: i32,
    parts: &[(Key, Arc<Partition>, i32)],
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((topic_id, index), p, epoch) in parts {
        let fp = FetchPartition::default()
            .with_partition(*index)
            .with_current_leader_epoch(*epoch)
            .with_fetch_offset(p.log_end_offset())
            .with_last_fetched_epoch(p.latest_log_epoch().unwrap_or(-1))
            .with_log_start_offset(p.log_start_offset())
            .with_partition_max_bytes(PARTITION_MAX_BYTES);
        match topics.last_mut() {
            Some(t) if t.topic_id == *topic_id => t.partitions.push(fp),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic_id(*topic_id)
                    .with_partitions(vec![fp]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_state(
            FetchReplicaState::default()
                .with_replica_id(BrokerId(me))
                .with_replica_epoch(broker_epoch),
        )
        .with_max_wait_ms(max_wait)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

async fn exchange(
    broker: &Broker,
    leader: i32,
    conn: &mut Option<Conn>,
    client_id: &str,
    correlation: i32,
    request: &FetchRequest,
    timeout: Duration,
) -> Result<FetchResponse, String> {
    let frame = encode_request(
        ApiKey::Fetch,
        FETCH_VERSION,
        correlation,
        client_id,
        request,
    )?;
    let work = async {
        if conn.is_none() {
            let addr = endpoint_of(broker, leader)
                .ok_or_else(|| format!("no endpoint for broker {leader}"))?;
            *conn = Some(connect(&addr, broker.inter_broker_link()).await?);
        }
        let Some(stream) = conn.as_mut() else {
            return Err("not connected".to_string());
        };
        stream.write_all(&frame).await.map_err(|e| e.to_string())?;
        // (TLS holds what it encrypted until flushed)
        stream.flush().await.map_err(|e| e.to_string())?;
        read_response(stream, ApiKey::Fetch, FETCH_VERSION, correlation, MAX_FRAME).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// What applying one fetch answer did.
#[derive(Default)]
struct Applied {
    /// Partitions to leave out of the next fetches for a while.
    failed: Vec<Key>,
}

/// Applies a fetch answer from `leader` (blocking: appends, truncations, fsyncs).
fn apply(
    leader: i32,
    parts: &HashMap<Key, (Arc<Partition>, i32)>,
    response: FetchResponse,
) -> Applied {
    let mut out = Applied::default();
    let mut to_sync: Vec<&Arc<Partition>> = Vec::new();
    for t in response.responses {
        for pd in t.partitions {
            let key = (t.topic_id, pd.partition_index);
            let Some((p, epoch)) = parts.get(&key) else {
                continue;
            };
            let st = p.replica_state();
            if st.leader != leader || st.leader_epoch != *epoch {
                // the leadership moved while the fetch was out: dropped, not delayed (the
                // next fetch is at the new epoch, perhaps from another fetcher)
                continue;
            }
            match apply_partition(p, &pd, (leader, *epoch)) {
                Ok(grew) => {
                    if grew {
                        to_sync.push(p);
                    }
                }
                Err(reason) => {
                    debug!(partition = %p.topic_partition(), %reason, "replica fetch of a partition failed");
                    out.failed.push(key);
                }
            }
        }
    }
    // what the next fetch reports to the leader is on disk first
    for p in to_sync {
        if let Err(e) = p.flush() {
            warn!(partition = %p.topic_partition(), cause = %e, "follower fsync failed");
        }
    }
    out
}

/// One partition's answer; true if its log grew.
fn apply_partition(
    p: &Partition,
    pd: &kafka_protocol::messages::fetch_response::PartitionData,
    leadership: (i32, i32),
) -> Result<bool, String> {
    let code = ErrorCode::from_code(pd.error_code);
    match code {
        ErrorCode::None => {}
        ErrorCode::OffsetOutOfRange => {
            if p.log_end_offset() < pd.log_start_offset {
                // behind the leader's log start: start again there
                p.restart_as_follower(pd.log_start_offset, leadership)
                    .map_err(|e| e.to_string())?;
            } else {
                p.truncate_as_follower(pd.high_watermark.max(0), leadership)
                    .map_err(|e| e.to_string())?;
            }
            return Ok(false);
        }
        other => return Err(format!("leader answered {other:?}")),
    }
    let div = &pd.diverging_epoch;
    if div.epoch >= 0 || div.end_offset >= 0 {
        let to = truncation_offset(p, div.epoch, div.end_offset);
        info!(partition = %p.topic_partition(), leader_epoch = div.epoch, leader_end = div.end_offset, to, "log diverges from the leader's: truncating");
        p.truncate_as_follower(to, leadership)
            .map_err(|e| e.to_string())?;
        return Ok(false);
    }
    let before = p.log_end_offset();
    let records = pd.records.as_deref().unwrap_or_default();
    let end = p
        .append_as_follower(records, pd.high_watermark, leadership)
        .map_err(|e| e.to_string())?;
    Ok(end > before)
}

/// Where a follower truncates given the leader's end offset for an epoch (Kafka's
/// `getOffsetTruncationState`): at most the leader's end, and at most this log's own end
/// for that epoch, never at its own high watermark.
fn truncation_offset(p: &Partition, leader_epoch: i32, leader_end: i64) -> i64 {
    let leo = p.log_end_offset();
    if leader_epoch < 0 {
        return leader_end.min(leo).max(0);
    }
    let (epoch, end) = p.end_offset_for_epoch(leader_epoch);
    if epoch < 0 {
        // this log has no epoch at or below the leader's: keep nothing past its end
        return leader_end.min(leo).max(0);
    }
    leader_end.min(end).min(leo).max(0)
}

/// Sends the ISR changes the partitions led here want, every [`ISR_CHECK_INTERVAL`] or
/// when woken.
async fn isr_loop(broker: Arc<Broker>, controller: ControllerClient, wake: Arc<Notify>) {
    let lag_max = i64::try_from(broker.config().cluster.replica_lag_time_max_ms).unwrap_or(30_000);
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(ISR_CHECK_INTERVAL) => {}
        }
        let mut changes: Vec<(Uuid, Arc<Partition>, IsrChange)> = Vec::new();
        // KIP-841: only registered, unfenced brokers not shutting down may join an ISR
        let eligible: std::collections::HashSet<i32> = broker
            .cluster()
            .map(|c| {
                c.image.read(|i| {
                    i.brokers
                        .values()
                        .filter(|b| !b.fenced && !b.in_controlled_shutdown)
                        .map(|b| b.id)
                        .collect()
                })
            })
            .unwrap_or_default();
        for t in broker.topics() {
            for p in &t.partitions {
                if let Some(c) = p.wanted_isr_change(lag_max, |r| eligible.contains(&r)) {
                    changes.push((t.id, Arc::clone(p), c));
                }
            }
        }
        if changes.is_empty() {
            continue;
        }
        send_isr_changes(&broker, &controller, changes).await;
    }
}

async fn send_isr_changes(
    broker: &Broker,
    controller: &ControllerClient,
    changes: Vec<(Uuid, Arc<Partition>, IsrChange)>,
) {
    // the ISR sizes before: once committed, the metadata may apply the change before the
    // answer is read (the metrics count shrinks and expands against these)
    let before: Vec<usize> = changes
        .iter()
        .map(|(_, p, _)| p.replica_state().isr.len())
        .collect();
    let epoch = broker.cluster().map_or(-1, |c| {
        c.broker_epoch.load(std::sync::atomic::Ordering::Acquire)
    });
    let mut topics: Vec<AlterTopicData> = Vec::new();
    for (topic_id, p, c) in &changes {
        info!(partition = %p.topic_partition(), isr = ?c.new_isr, "asking the controller for a new ISR");
        let pd = AlterPartitionData::default()
            .with_partition_index(p.index())
            .with_leader_epoch(c.leader_epoch)
            .with_partition_epoch(c.partition_epoch)
            .with_new_isr_with_epochs(
                c.new_isr
                    .iter()
                    .map(|&b| {
                        BrokerState::default()
                            .with_broker_id(BrokerId(b))
                            .with_broker_epoch(-1)
                    })
                    .collect(),
            );
        match topics.last_mut() {
            Some(t) if t.topic_id == *topic_id => t.partitions.push(pd),
            _ => topics.push(
                AlterTopicData::default()
                    .with_topic_id(*topic_id)
                    .with_partitions(vec![pd]),
            ),
        }
    }
    let req = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_broker_epoch(epoch)
        .with_topics(topics);
    let answer = controller
        .call(
            ApiKey::AlterPartition,
            ALTER_PARTITION_VERSION,
            &req,
            Duration::from_secs(5),
            |r: &AlterPartitionResponse| r.error_code == ErrorCode::NotController.code(),
        )
        .await;
    let resp = match answer {
        Ok(r) if r.error_code == 0 => r,
        Ok(r) => {
            // refused as a whole (a stale broker epoch, an unregistered broker): nothing
            // was applied
            warn!(code = r.error_code, "AlterPartition refused");
            for (_, p, _) in &changes {
                p.isr_change_done(IsrOutcome::Refused);
            }
            return;
        }
        Err(e) => {
            // no answer: it may have been committed; kept in flight and sent again
            warn!(cause = %e, "AlterPartition failed");
            for (_, p, _) in &changes {
                p.isr_change_done(IsrOutcome::Unknown);
            }
            return;
        }
    };
    for ((topic_id, p, _), &before) in changes.iter().zip(&before) {
        let answer = resp
            .topics
            .iter()
            .filter(|t| t.topic_id == *topic_id)
            .flat_map(|t| &t.partitions)
            .find(|pd| pd.partition_index == p.index());
        let outcome = match answer.map(|a| (ErrorCode::from_code(a.error_code), a)) {
            Some((ErrorCode::None, a)) => IsrOutcome::Committed(ReplicaState {
                leader: a.leader_id.0,
                leader_epoch: a.leader_epoch,
                partition_epoch: a.partition_epoch,
                replicas: p.replica_state().replicas,
                isr: a.isr.iter().map(|b| b.0).collect(),
            }),
            // refused before anything was decided (Kafka retries these at once)
            Some((
                ErrorCode::IneligibleReplica
                | ErrorCode::OperationNotAttempted
                | ErrorCode::InvalidRequest
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::UnknownTopicId,
                _,
            )) => IsrOutcome::Refused,
            // INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER, none:
            // the metadata moved on (perhaps with this very change); wait for it
            _ => IsrOutcome::Unknown,
        };
        match &outcome {
            IsrOutcome::Committed(st) => broker.metrics().isr_changed(before, st.isr.len()),
            _ => {
                debug!(partition = %p.topic_partition(), code = answer.map(|a| a.error_code), "ISR change not committed")
            }
        }
        p.isr_change_done(outcome);
    }
}
