//! Fetch (v4-v18; v13+ addresses topics by id): whole batches from each partition, below
//! its high watermark, sent as stored (records are not decoded). Long poll: if fewer than
//! `min_bytes` are available, waits up to `max_wait_ms` and is answered as soon as an
//! append to one of its partitions brings enough. Fetch sessions (KIP-227) are not kept: every fetch is a full one, answered with
//! session id 0, which tells clients to keep sending full fetches.
//!
//! Its route line encodes the response with [`encode`]: a [`Frame`] whose record sections
//! are the buffers the log read them into (no copy).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};

use tokio::sync::Notify;

use super::code;
use crate::broker::Broker;
use crate::kafka::codec::{self, Frame};
use crate::kafka::context::RequestContext;
use crate::kafka::route::{Answer, RouteError};
use crate::log::LogError;
use crate::partition::{FetchWaker, Partition, PartitionError, ReadBound, Registration};

/// Encodes the response as a [`Frame`] whose record sections are the buffers the log read
/// them into ([`codec::encode_fetch_response`]): fetched bytes are never copied.
pub fn encode(ctx: &RequestContext, resp: FetchResponse) -> Result<Frame, RouteError> {
    codec::encode_fetch_response(ctx.api_version, ctx.correlation_id, resp).map_err(|e| {
        RouteError::Encode {
            api: ApiKey::Fetch,
            reason: e.to_string(),
        }
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

/// The requested partitions, looked up once: `None` for one this broker does not host.
type Resolved = Vec<Vec<Option<Arc<Partition>>>>;

fn resolve(broker: &Broker, req: &FetchRequest, version: i16) -> Resolved {
    req.topics
        .iter()
        .map(|ft| {
            let topic = if version >= 13 {
                broker.topic_by_id(ft.topic_id)
            } else {
                broker.topic(&ft.topic.0)
            };
            ft.partitions
                .iter()
                .map(|fp| {
                    topic
                        .as_ref()
                        .and_then(|t| t.partition(fp.partition))
                        .cloned()
                })
                .collect()
        })
        .collect()
}

/// One pass over the requested partitions: the response and how many record bytes it has,
/// and whether any partition had an error (then there is no point in waiting).
fn read_once(
    broker: &Broker,
    req: &FetchRequest,
    resolved: &Resolved,
    version: i16,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    // the client's limit, within the broker's fetch.max.bytes (Kafka caps it the same way)
    let cap = broker.config().fetch_max_bytes;
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0).min(cap);
    let unknown = if version >= 13 {
        code::UNKNOWN_TOPIC_ID
    } else {
        code::UNKNOWN_TOPIC_OR_PARTITION
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for (ft, hosted) in req.topics.iter().zip(resolved) {
        let mut parts = Vec::with_capacity(ft.partitions.len());
        for (fp, p) in ft.partitions.iter().zip(hosted) {
            let Some(p) = p else {
                any_error = true;
                parts.push(partition(fp.partition, unknown));
                continue;
            };
            let limit = usize::try_from(fp.partition_max_bytes)
                .unwrap_or(0)
                .min(cap)
                .min(max_bytes.saturating_sub(total));
            // the first partition with data may exceed the limits by one batch (KIP-74)
            let min_one = total == 0;
            match p.read(fp.fetch_offset, limit, min_one, ReadBound::HighWatermark) {
                Ok(data) => {
                    total += data.records.len();
                    let r = partition(fp.partition, code::NONE).with_records(Some(data.records));
                    parts.push(with_offsets(
                        r,
                        version,
                        data.high_watermark,
                        data.last_stable_offset,
                        data.log_start_offset,
                    ));
                }
                Err(e) => {
                    any_error = true;
                    let r = partition(fp.partition, e.code().into());
                    let r = match e {
                        PartitionError::Log(LogError::OffsetOutOfRange {
                            log_start_offset,
                            ..
                        }) => with_offsets(
                            r,
                            version,
                            p.high_watermark(),
                            p.high_watermark(),
                            log_start_offset,
                        ),
                        _ => r,
                    };
                    parts.push(r);
                }
            }
        }
        topics.push(
            if version >= 13 {
                FetchableTopicResponse::default().with_topic_id(ft.topic_id)
            } else {
                FetchableTopicResponse::default().with_topic(ft.topic.clone())
            }
            .with_partitions(parts),
        );
    }
    (topics, total, any_error)
}

/// Serves a Fetch. Long poll: when fewer than `min_bytes` are there, it registers with
/// each partition it asked for and waits until one of them is appended to (or its high
/// watermark moves) or `max_wait_ms` passes; appends to other partitions never wake it.
pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: FetchRequest,
) -> Answer<FetchResponse> {
    respond(broker, req, ctx.api_version).await.into()
}

async fn respond(broker: &Arc<Broker>, req: FetchRequest, version: i16) -> FetchResponse {
    if req.session_id != 0 {
        // we never hand out session ids, so this one is not ours
        return FetchResponse::default().with_error_code(code::FETCH_SESSION_ID_NOT_FOUND);
    }
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let resolved = resolve(broker, &req, version);
    let waker: FetchWaker = Arc::new(Notify::new());
    let mut registrations: Vec<Registration> = Vec::new();
    loop {
        let (topics, total, any_error) = read_once(broker, &req, &resolved, version);
        let done = min_bytes == 0
            || total >= min_bytes
            || any_error
            || tokio::time::Instant::now() >= deadline;
        if done {
            return FetchResponse::default().with_responses(topics);
        }
        if registrations.is_empty() {
            // register, then read again: an append between the read above and the
            // registration is seen by that read, any later one wakes the waker
            registrations = resolved
                .iter()
                .flatten()
                .flatten()
                .map(|p| p.watch(&waker))
                .collect();
            continue;
        }
        tokio::select! {
            _ = waker.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
