//! Fetch (v4-v18; v13+ addresses topics by id): whole batches from each partition, below
//! its high watermark (`read_uncommitted`) or its last stable offset (`read_committed`,
//! isolation level 1), sent as stored (records are not decoded).
//!
//! - `read_committed`: the aborted transactions overlapping the returned range go with
//!   it (producer id, first offset), for the consumer to drop their records; every
//!   partition response carries the real last stable offset. A marker moves the LSO and
//!   wakes waiting fetches as an append does.
//!
//! - Long poll: if fewer than `min_bytes` are available, the fetch registers with each
//!   partition it reads and waits up to `max_wait_ms`; an append to one of them (or a
//!   high-watermark move) wakes it, appends elsewhere never do.
//! - Fetch sessions (KIP-227): a request's session id and epoch go to the broker's
//!   [`FetchSessionCache`](crate::broker::fetch_session::FetchSessionCache), which says
//!   which partitions to read (an incremental fetch reads its whole session) and which of
//!   them the response carries (an incremental response only what changed). librdkafka
//!   sends sessionless fetches (id 0, epoch -1); the Java client opens a session.
//!
//! Record sections come from [`Partition::read_records`]: large sections of batches
//! already checked stay in their segment file ([`Records::File`]) and are sent from it
//! with `sendfile` on a plaintext connection (the connection's writer decides); the rest
//! are the buffers the log read them into. Its route line encodes the response with
//! [`encode`]: a [`Frame`] with those sections between the encoded bytes (no copy).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use tokio::sync::Notify;
use uuid::Uuid;

use super::leader_hint::LeaderHints;
use super::str_bytes;
use crate::broker::fetch_session::{
    FetchContext, FetchMetadata, FetchPartitionRequest, PartitionKey, PartitionResult, TopicKey,
};
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::codec::{self, Frame, Section};
use crate::kafka::context::RequestContext;
use crate::log::batch::BatchIter;
use crate::log::{now_ms, FileRange, LogError, Records};
use crate::metrics::TopicStats;
use crate::partition::{
    FetchWaker, FollowerRead, Partition, PartitionError, ReadBound, Registration,
};
use crate::security::acl::{AclOperation, ResourceType};

/// A Fetch response, and the record sections kept out of it because they are still in
/// their segment files (their partitions in `response` hold empty records until encoded).
/// Dereferences to the response.
#[derive(Debug, Default)]
pub struct FetchAnswer {
    response: FetchResponse,
    sections: Vec<Section>,
}

impl FetchAnswer {
    /// The record sections that are still in segment files, in response order.
    pub fn file_sections(&self) -> impl Iterator<Item = (usize, usize, &Records)> {
        self.sections
            .iter()
            .map(|s| (s.topic, s.partition, &s.records))
    }
}

impl From<FetchResponse> for FetchAnswer {
    fn from(response: FetchResponse) -> Self {
        FetchAnswer {
            response,
            sections: Vec::new(),
        }
    }
}

impl std::ops::Deref for FetchAnswer {
    type Target = FetchResponse;
    fn deref(&self) -> &FetchResponse {
        &self.response
    }
}

/// Encodes the response as a [`Frame`] whose record sections are the buffers the log read
/// them into or the file ranges they are in ([`codec::encode_fetch_response`]): fetched
/// bytes are never copied.
pub fn encode(ctx: &RequestContext, answer: FetchAnswer) -> Result<Frame, RouteError> {
    codec::encode_fetch_response(
        ctx.api_version,
        ctx.correlation_id,
        answer.response,
        answer.sections,
    )
    .map_err(|e| RouteError::Encode {
        api: ApiKey::Fetch,
        reason: e.to_string(),
    })
}

fn partition(index: i32, error_code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error_code)
        .with_high_watermark(-1)
        .with_records(Some(Bytes::new()))
}

/// Sets the offsets a partition response carries, where the version has them.
fn with_offsets(
    p: PartitionData,
    version: i16,
    hw: i64,
    lso: i64,
    log_start: i64,
) -> PartitionData {
    let p = p.with_high_watermark(hw).with_last_stable_offset(lso);
    if version >= 5 {
        p.with_log_start_offset(log_start)
    } else {
        p
    }
}

/// The request's partitions as the session cache sees them.
fn requested(broker: &Broker, req: &FetchRequest, version: i16) -> Vec<FetchPartitionRequest> {
    let mut out = Vec::new();
    for ft in &req.topics {
        let topic = topic_key(broker, version, ft.topic_id, &ft.topic);
        for fp in &ft.partitions {
            out.push(FetchPartitionRequest {
                key: PartitionKey {
                    topic: topic.clone(),
                    partition: fp.partition,
                },
                fetch_offset: fp.fetch_offset,
                log_start_offset: fp.log_start_offset,
                partition_max_bytes: fp.partition_max_bytes,
                current_leader_epoch: fp.current_leader_epoch,
                last_fetched_epoch: fp.last_fetched_epoch,
            });
        }
    }
    out
}

/// A topic as the request names it: by id from v13 (with the name this broker knows it by,
/// empty if none), by name before.
fn topic_key(broker: &Broker, version: i16, id: Uuid, name: &TopicName) -> TopicKey {
    if version >= 13 {
        let known = broker
            .topic_by_id(id)
            .map_or(String::new(), |t| t.name.clone());
        TopicKey::by_id(id, known)
    } else {
        TopicKey::by_name(name.0.as_str())
    }
}

fn forgotten(broker: &Broker, req: &FetchRequest, version: i16) -> Vec<PartitionKey> {
    req.forgotten_topics_data
        .iter()
        .flat_map(|f| {
            let topic = topic_key(broker, version, f.topic_id, &f.topic);
            f.partitions.iter().map(move |&partition| PartitionKey {
                topic: topic.clone(),
                partition,
            })
        })
        .collect()
}

/// One partition to read: what was asked, and the partition if this broker hosts it.
struct ToRead {
    ask: FetchPartitionRequest,
    hosted: Option<Arc<Partition>>,
    /// Not allowed by the ACLs: answered TOPIC_AUTHORIZATION_FAILED, read from nothing.
    denied: bool,
}

fn resolve(broker: &Broker, asks: Vec<FetchPartitionRequest>) -> Vec<ToRead> {
    asks.into_iter()
        .map(|ask| {
            let topic = if ask.key.topic.id.is_nil() {
                broker.topic(&ask.key.topic.name)
            } else {
                broker.topic_by_id(ask.key.topic.id)
            };
            let hosted = topic
                .as_ref()
                .and_then(|t| t.partition(ask.key.partition))
                .cloned();
            ToRead {
                ask,
                hosted,
                denied: false,
            }
        })
        .collect()
}

/// Kafka's checks (`KafkaApis.handleFetchRequest`): a follower's fetch needs CLUSTER_ACTION
/// on the cluster (else every partition is TOPIC_AUTHORIZATION_FAILED, as in Kafka), a
/// consumer's READ on each topic. A topic id no broker knows is left to UNKNOWN_TOPIC_ID.
fn authorize(ctx: &RequestContext, broker: &Broker, is_follower: bool, to_read: &mut [ToRead]) {
    if broker.authorizer().is_none() {
        return;
    }
    if is_follower {
        if !authz::allowed_on_cluster(ctx, broker, AclOperation::ClusterAction) {
            to_read.iter_mut().for_each(|r| r.denied = true);
        }
        return;
    }
    let mut decided: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for r in to_read.iter_mut() {
        let name = if r.ask.key.topic.id.is_nil() {
            Some(r.ask.key.topic.name.to_string())
        } else {
            broker
                .topic_by_id(r.ask.key.topic.id)
                .map(|t| t.name.clone())
        };
        let Some(name) = name else { continue };
        let allowed = *decided.entry(name).or_insert_with_key(|n| {
            authz::allowed(ctx, broker, AclOperation::Read, ResourceType::Topic, n)
        });
        r.denied = !allowed;
    }
}

/// One partition's response, and its records if they are still in a segment file (then
/// `data` holds empty records).
struct PartRead {
    data: PartitionData,
    file: Option<FileRange>,
}

impl From<PartitionData> for PartRead {
    fn from(data: PartitionData) -> Self {
        PartRead { data, file: None }
    }
}

/// A read's records as a response carries them: bytes in the response, or (for a range
/// still in its segment file) empty bytes and the range, sent from the file.
fn split(records: Records) -> (Bytes, Option<FileRange>) {
    match records {
        Records::Bytes(b) => (b, None),
        Records::File(range) => (Bytes::new(), Some(range)),
    }
}

/// Kafka's `IsolationLevel.READ_COMMITTED`.
const READ_COMMITTED: i8 = 1;

/// The aborted transactions a `read_committed` fetch from `fetch_offset` returns with
/// `records`: those overlapping [fetch offset, offset after the last returned batch).
/// For a section still in its segment file the end is not walked; the LSO bounds it (a
/// superset, as Kafka's own bound is when a fetch reaches the LSO: consumers match
/// aborted transactions by producer and offsets, so an extra one drops nothing).
fn aborted_in(
    p: &Partition,
    fetch_offset: i64,
    records: &Records,
    last_stable_offset: i64,
) -> Result<Vec<AbortedTransaction>, PartitionError> {
    let end = match records {
        Records::Bytes(b) => crate::log::batch::BatchIter::new(b)
            .last()
            .map_or(fetch_offset, |(_, h)| h.next_offset()),
        Records::File(_) => last_stable_offset,
    };
    if end <= fetch_offset {
        return Ok(Vec::new());
    }
    Ok(p.aborted_transactions(fetch_offset, end)?
        .into_iter()
        .map(|t| {
            AbortedTransaction::default()
                .with_producer_id(kafka_protocol::messages::ProducerId(t.producer_id))
                .with_first_offset(t.first_offset)
        })
        .collect())
}

/// A partition's answer to a read that failed: its code, and for an offset out of range
/// the offsets the client resets from.
fn failed_read(p: &Partition, index: i32, version: i16, e: PartitionError) -> PartRead {
    let d = partition(index, e.code().into());
    PartRead::from(match e {
        PartitionError::Log(LogError::OffsetOutOfRange {
            log_start_offset, ..
        }) => with_offsets(
            d,
            version,
            p.high_watermark(),
            p.last_stable_offset(),
            log_start_offset,
        ),
        _ => d,
    })
}

/// One pass over the partitions: each one's response (in order), how many record bytes
/// they hold, and whether any had an error (then there is no point in waiting).
fn read_once(
    broker: &Broker,
    req: &FetchRequest,
    to_read: &[ToRead],
    version: i16,
) -> (Vec<PartRead>, usize, bool) {
    // the client's limit, within the broker's fetch.max.bytes (Kafka caps it the same way)
    let cap = broker.config().fetch_max_bytes;
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0).min(cap);
    let unknown = if version >= 13 {
        ErrorCode::UnknownTopicId.code()
    } else {
        ErrorCode::UnknownTopicOrPartition.code()
    };
    // a follower's fetch (Fetch v15+ says so in its replica state)
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut parts = Vec::with_capacity(to_read.len());
    for r in to_read {
        let index = r.ask.key.partition;
        if r.denied {
            any_error = true;
            parts.push(partition(index, ErrorCode::TopicAuthorizationFailed.code()).into());
            continue;
        }
        let Some(p) = &r.hosted else {
            any_error = true;
            parts.push(partition(index, unknown).into());
            continue;
        };
        let limit = usize::try_from(r.ask.partition_max_bytes)
            .unwrap_or(0)
            .min(cap)
            .min(max_bytes.saturating_sub(total));
        // the first partition with data may exceed the limits by one batch (KIP-74)
        let min_one = total == 0;
        if replica_id >= 0 {
            let read = p.read_for_follower(
                replica_id,
                r.ask.fetch_offset,
                r.ask.last_fetched_epoch,
                r.ask.current_leader_epoch,
                limit,
                min_one,
            );
            match read {
                Ok(FollowerRead::Records {
                    records,
                    high_watermark,
                    log_start_offset,
                }) => {
                    total += records.len();
                    let (records, file) = split(records);
                    let d = partition(index, ErrorCode::None.code()).with_records(Some(records));
                    let d =
                        with_offsets(d, version, high_watermark, high_watermark, log_start_offset);
                    parts.push(PartRead { data: d, file });
                }
                Ok(FollowerRead::Diverging {
                    epoch,
                    end_offset,
                    high_watermark,
                    log_start_offset,
                }) => {
                    // an answer the follower must act on at once: no waiting
                    any_error = true;
                    let d = with_offsets(
                        partition(index, ErrorCode::None.code()),
                        version,
                        high_watermark,
                        high_watermark,
                        log_start_offset,
                    )
                    .with_diverging_epoch(
                        EpochEndOffset::default()
                            .with_epoch(epoch)
                            .with_end_offset(end_offset),
                    );
                    parts.push(d.into());
                }
                Err(e) => {
                    any_error = true;
                    parts.push(failed_read(p, index, version, e));
                }
            }
            continue;
        }
        let read_committed = req.isolation_level == READ_COMMITTED;
        let bound = if read_committed {
            ReadBound::LastStable
        } else {
            ReadBound::HighWatermark
        };
        let read = p
            .check_current_epoch(r.ask.current_leader_epoch)
            .and_then(|()| p.read_records(r.ask.fetch_offset, limit, min_one, bound))
            .and_then(|data| {
                if !read_committed {
                    return Ok((data, None));
                }
                let aborted = aborted_in(
                    p,
                    r.ask.fetch_offset,
                    &data.records,
                    data.last_stable_offset,
                )?;
                Ok((data, Some(aborted)))
            });
        match read {
            Ok((data, aborted)) => {
                total += data.records.len();
                let (records, file) = split(data.records);
                let d = partition(index, ErrorCode::None.code()).with_records(Some(records));
                let d = with_offsets(
                    d,
                    version,
                    data.high_watermark,
                    data.last_stable_offset,
                    data.log_start_offset,
                )
                .with_aborted_transactions(aborted);
                parts.push(PartRead { data: d, file });
            }
            Err(e) => {
                any_error = true;
                parts.push(failed_read(p, index, version, e));
            }
        }
    }
    (parts, total, any_error)
}

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: FetchRequest,
) -> Answer<FetchAnswer> {
    respond(ctx, broker, req).await.into()
}

/// KIP-951 (v12+): a partition answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
/// names its current leader; v16+ also carries that leader's endpoint.
fn hint_leaders(broker: &Broker, listener: &str, version: i16, resp: &mut FetchResponse) {
    if version < 12 {
        return;
    }
    let moved = [
        ErrorCode::NotLeaderOrFollower.code(),
        ErrorCode::FencedLeaderEpoch.code(),
    ];
    let mut hints = LeaderHints::new(broker, listener);
    for t in &mut resp.responses {
        for p in &mut t.partitions {
            if !moved.contains(&p.error_code) {
                continue;
            }
            if let Some((leader, epoch)) = hints.leader(&t.topic.0, t.topic_id, p.partition_index) {
                p.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
            }
        }
    }
    if version >= 16 {
        resp.node_endpoints = hints.node_endpoints(|id, host, port, rack| {
            NodeEndpoint::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        });
    }
}

async fn respond(ctx: &RequestContext, broker: &Arc<Broker>, req: FetchRequest) -> FetchAnswer {
    let (version, listener) = (ctx.api_version, ctx.listener.name.as_str());
    let metadata = FetchMetadata {
        session_id: req.session_id,
        epoch: req.session_epoch,
    };
    let is_follower = req.replica_id.0 >= 0 || req.replica_state.replica_id.0 >= 0;
    let asks = requested(broker, &req, version);
    let forgotten = forgotten(broker, &req, version);
    let (session, asks) = broker.fetch_sessions().lock().new_context(
        metadata,
        version >= 13,
        is_follower,
        asks,
        &forgotten,
        now_ms(),
    );
    if let FetchContext::Error { error_code } = session {
        broker
            .metrics()
            .requests()
            .error(ApiKey::Fetch, version, error_code, true);
        return FetchResponse::default().with_error_code(error_code).into();
    }
    let mut to_read = resolve(broker, asks);
    authorize(ctx, broker, is_follower, &mut to_read);
    let parts = read_until_ready(broker, &req, &to_read, version).await;
    let results: Vec<PartitionResult> = to_read
        .iter()
        .zip(&parts)
        .map(|(r, PartRead { data: d, file })| PartitionResult {
            key: r.ask.key.clone(),
            error_code: d.error_code,
            high_watermark: d.high_watermark,
            last_stable_offset: d.last_stable_offset,
            log_start_offset: d.log_start_offset,
            has_records: file.is_some() || d.records.as_ref().is_some_and(|b| !b.is_empty()),
            must_respond: false,
        })
        .collect();
    let done = broker
        .fetch_sessions()
        .lock()
        .complete(session, &results, now_ms());
    let mut parts: Vec<Option<PartRead>> = parts.into_iter().map(Some).collect();
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    let mut sections = Vec::new();
    let mut last: Option<&TopicKey> = None;
    let mut stats: Option<Arc<TopicStats>> = None;
    let mut first_error = true;
    for i in done.include {
        let (Some(r), Some(PartRead { data: d, file })) =
            (to_read.get(i), parts.get_mut(i).and_then(Option::take))
        else {
            continue;
        };
        // consecutive partitions of one topic share a topic entry
        let same = last.is_some_and(|k| *k == r.ask.key.topic);
        if !same {
            // hosted topics only: names asked for that do not exist make no counters
            let name = r.ask.key.topic.name.as_ref();
            stats = broker.topic(name).map(|_| broker.metrics().topic(name));
        }
        count(
            broker,
            version,
            stats.as_deref(),
            is_follower,
            &d,
            file.as_ref(),
            &mut first_error,
        );
        match topics.last_mut() {
            Some(t) if same => t.partitions.push(d),
            _ => topics.push(
                if version >= 13 {
                    FetchableTopicResponse::default().with_topic_id(r.ask.key.topic.id)
                } else {
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(str_bytes(r.ask.key.topic.name.as_ref())))
                }
                .with_partitions(vec![d]),
            ),
        }
        last = Some(&r.ask.key.topic);
        if let (Some(range), Some(t)) = (file, topics.last()) {
            sections.push(Section {
                topic: topics.len() - 1,
                partition: t.partitions.len().saturating_sub(1),
                records: Records::File(range),
            });
        }
    }
    let mut response = FetchResponse::default()
        .with_error_code(done.error_code)
        .with_session_id(done.session_id)
        .with_responses(topics);
    hint_leaders(broker, listener, version, &mut response);
    FetchAnswer { response, sections }
}

/// Counts one partition of a response: the topic's fetch requests and failures, error
/// codes, and bytes out (consumers' in `bytes_out`, followers' in `replication_bytes_out`,
/// as Kafka keeps them apart). Records out are counted from the batch headers of sections
/// read into memory; those sent from their file are not decoded.
fn count(
    broker: &Broker,
    version: i16,
    stats: Option<&TopicStats>,
    is_follower: bool,
    d: &PartitionData,
    file: Option<&FileRange>,
    first_error: &mut bool,
) {
    // error codes of every partition, unknown topics' too; the topic's own counters for
    // hosted topics only
    if d.error_code != 0 {
        broker
            .metrics()
            .requests()
            .error(ApiKey::Fetch, version, d.error_code, *first_error);
        *first_error = false;
    }
    let Some(st) = stats else { return };
    st.fetch_requests.fetch_add(1, Ordering::Relaxed);
    if d.error_code != 0 {
        st.failed_fetch_requests.fetch_add(1, Ordering::Relaxed);
    }
    let in_memory = d.records.as_deref().unwrap_or_default();
    let bytes = (in_memory.len() + file.map_or(0, FileRange::len)) as u64;
    if bytes == 0 {
        return;
    }
    if is_follower {
        st.replication_bytes_out.fetch_add(bytes, Ordering::Relaxed);
        return;
    }
    let records: u64 = BatchIter::new(in_memory)
        .filter(|(_, h)| !h.is_control())
        .map(|(_, h)| u64::try_from(h.records_count).unwrap_or(0))
        .sum();
    broker.metrics().record_out(st, bytes, records);
}

/// Reads until the response is ready: `min_bytes` are there, a partition has an error, or
/// `max_wait_ms` passed. While waiting it is registered with each partition it reads, so
/// an append to one of them (or a high-watermark move) wakes it and appends elsewhere never
/// do.
async fn read_until_ready(
    broker: &Broker,
    req: &FetchRequest,
    to_read: &[ToRead],
    version: i16,
) -> Vec<PartRead> {
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let waker: FetchWaker = Arc::new(Notify::new());
    let mut registrations: Option<Vec<Registration>> = None;
    // counted as waiting (Kafka's fetch purgatory) from its first wait to its answer
    let mut _waiting = None;
    loop {
        let (parts, total, any_error) = read_once(broker, req, to_read, version);
        let done = min_bytes == 0
            || total >= min_bytes
            || any_error
            || tokio::time::Instant::now() >= deadline;
        if done {
            return parts;
        }
        if registrations.is_none() {
            // register, then read again: an append between the read above and the
            // registration is seen by that read, any later one wakes the waker
            registrations = Some(
                to_read
                    .iter()
                    .filter_map(|r| r.hosted.as_ref())
                    .map(|p| p.watch(&waker))
                    .collect(),
            );
            _waiting = Some(broker.metrics().fetch_waiting());
            continue;
        }
        tokio::select! {
            _ = waker.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
