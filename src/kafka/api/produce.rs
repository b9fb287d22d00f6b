//! Produce (v3-v13; v13 addresses topics by id): each partition's record batches go to its
//! [`Partition`] as they are (validated, offsets assigned in place; internal topics are
//! refused there). `acks=1` answers after the write, `acks=-1` after an fsync shared with
//! concurrent producers (group commit), `acks=0` gets no response at all.
//! Transactional batches are appended like any (the log opens the producer's
//! transaction); without the request's transactional id they are refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka does. A transaction's first write to a
//! partition is verified first (KIP-890, `broker/txn_verify.rs`): the transaction
//! coordinator must have the partition in the producer's open transaction, else the
//! partition is answered INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v11) and nothing
//! is written, so a late write cannot open a transaction nobody will end.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, BrokerId, ProduceRequest, ProduceResponse};
use tracing::{debug, warn};

use super::leader_hint::LeaderHints;
use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::log::{LogError, RecordError};
use crate::partition::{AppendOrigin, Partition, PartitionError};
use crate::security::acl::{AclOperation, ResourceType};

fn partition_error(
    index: i32,
    error_code: i16,
    message: Option<String>,
    version: i16,
) -> PartitionProduceResponse {
    let p = PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error_code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    if version >= 8 {
        p.with_error_message(message.map(str_bytes))
    } else {
        p
    }
}

/// A partition whose append refused records one by one (Kafka's
/// `RecordValidationException`: records without a key on a compacted topic), answered as
/// Kafka's ReplicaManager does: INVALID_RECORD, each record's index in its batch and
/// message in `record_errors`, the refusal's message in `error_message` (both from v8),
/// and the partition's log start offset (from v5).
fn records_refused(
    index: i32,
    errors: &[RecordError],
    message: String,
    log_start_offset: i64,
    version: i16,
) -> PartitionProduceResponse {
    let p = partition_error(
        index,
        ErrorCode::InvalidRecord.code(),
        Some(message),
        version,
    );
    let p = if version >= 5 {
        p.with_log_start_offset(log_start_offset)
    } else {
        p
    };
    if version < 8 {
        return p;
    }
    p.with_record_errors(
        errors
            .iter()
            .map(|e| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(e.batch_index)
                    .with_batch_index_error_message(Some(str_bytes(e.message.as_str())))
            })
            .collect(),
    )
}

/// One partition's append that acks=all must see replicated.
struct Written {
    partition: Arc<Partition>,
    /// The offset after the records: every in-sync replica must reach it.
    end: i64,
    /// The leader epoch the append was made under.
    epoch: i32,
    /// Where its answer is in the response (topic, partition).
    topic: usize,
    index: usize,
}

/// The appends of one Produce request are done; what is left is the fsync (acks=all)
/// and the response.
pub struct Appended {
    acks: i16,
    version: i16,
    /// How long acks=all may wait for the in-sync replicas.
    timeout: Duration,
    response: ProduceResponse,
    /// The acks=all appends: made durable, then waited for.
    to_flush: Vec<Written>,
}

/// True if any batch of the request is transactional (Kafka's
/// `RequestUtils.hasTransactionalRecords`).
fn has_transactional_records(req: &ProduceRequest) -> bool {
    req.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records.as_ref().is_some_and(|r| {
                crate::log::batch::BatchIter::new(r).any(|(_, h)| h.is_transactional())
            })
        })
    })
}

/// The partitions of a transactional produce that need KIP-890's verification: those
/// with a transactional batch whose producer has no open transaction there yet. With the
/// producer's id and epoch.
fn to_verify(
    broker: &Broker,
    req: &ProduceRequest,
    version: i16,
) -> (Vec<(String, i32)>, i64, i16) {
    let mut out = Vec::new();
    let (mut pid, mut epoch) = (-1, -1);
    for td in &req.topic_data {
        let topic = if version >= 13 {
            broker.topic_by_id(td.topic_id)
        } else {
            broker.topic(&td.name.0)
        };
        let Some(topic) = topic else { continue };
        for pd in &td.partition_data {
            let Some(records) = pd.records.as_ref() else {
                continue;
            };
            let Some((_, h)) = crate::log::batch::BatchIter::new(records)
                .find(|(_, h)| h.is_transactional() && !h.is_control())
            else {
                continue;
            };
            let Some(partition) = topic.partition(pd.index) else {
                continue;
            };
            if partition.is_leader()
                && !partition.has_open_transaction(h.producer_id, h.producer_epoch)
            {
                (pid, epoch) = (h.producer_id, h.producer_epoch);
                out.push((topic.name.clone(), pd.index));
            }
        }
    }
    (out, pid, epoch)
}

/// KIP-890: asks the transaction coordinator about the partitions a transactional
/// produce writes to first; those it refuses, with their errors.
async fn verify(
    broker: &Broker,
    req: &ProduceRequest,
    version: i16,
) -> std::collections::HashMap<(String, i32), ErrorCode> {
    let Some(tid) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) else {
        return Default::default();
    };
    let (partitions, pid, epoch) = to_verify(broker, req, version);
    if partitions.is_empty() {
        return Default::default();
    }
    // transaction version 2's producers (Produce v12+) leave the adding to this broker
    let add = version >= 12 && broker.config().txn.transaction_version >= 2;
    let codes = broker
        .verify_transaction(&tid.0, pid, epoch, &partitions, version, add)
        .await;
    partitions
        .into_iter()
        .zip(codes)
        .filter(|(_, c)| !c.is_none())
        .map(|(p, c)| (p, produce_error(c)))
        .collect()
}

/// A verification that could not be done now (the coordinator moving, loading, or
/// writing the previous transaction's markers) is NOT_ENOUGH_REPLICAS to the producer,
/// which every client retries, as Kafka's ReplicaManager maps it (a coordinator that
/// cannot be reached is COORDINATOR_NOT_AVAILABLE here, so mapped the same way).
fn produce_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::CoordinatorNotAvailable
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::NotCoordinator
        | ErrorCode::ConcurrentTransactions => ErrorCode::NotEnoughReplicas,
        other => other,
    }
}

/// What the request's principal may not do (under an authorizer): write with its
/// transactional id, write to these topics.
#[derive(Default)]
struct Denied {
    /// An authorizer decided (else nothing is denied).
    on: bool,
    txn: bool,
    topics: std::collections::HashSet<String>,
    /// The topics decided on: a topic the append finds that is not among them (an id
    /// that became known in between) is denied, not let through unchecked.
    checked: std::collections::HashSet<String>,
}

impl Denied {
    fn topic(&self, name: &str) -> bool {
        self.on && (self.topics.contains(name) || !self.checked.contains(name))
    }
}

/// Kafka's checks (`KafkaApis.handleProduceRequest`): WRITE on the transactional id when
/// the request carries transactional batches, WRITE on each topic (by name, or by id once
/// the id is known). No IDEMPOTENT_WRITE check, as in Kafka 4.
fn denied(ctx: &RequestContext, broker: &Broker, req: &ProduceRequest, version: i16) -> Denied {
    if broker.authorizer().is_none() {
        return Denied::default();
    }
    let txn = match req.transactional_id.as_deref() {
        Some(t) if !t.is_empty() && has_transactional_records(req) => !authz::allowed(
            ctx,
            broker,
            AclOperation::Write,
            ResourceType::TransactionalId,
            t,
        ),
        _ => false,
    };
    let checked: std::collections::HashSet<String> = req
        .topic_data
        .iter()
        .filter_map(|td| {
            if version >= 13 {
                broker.topic_by_id(td.topic_id).map(|t| t.name.clone())
            } else {
                Some(td.name.to_string())
            }
        })
        .collect();
    let topics = checked
        .iter()
        .filter(|name| !authz::allowed(ctx, broker, AclOperation::Write, ResourceType::Topic, name))
        .cloned()
        .collect();
    Denied {
        on: true,
        txn,
        topics,
        checked,
    }
}

/// Appends everything (blocking file I/O: run on the blocking pool) and builds the response.
/// `refused`: partitions KIP-890's verification refused, answered with their errors;
/// `denied`: what ACLs do not allow, answered before anything else is looked at.
fn append_all(
    broker: &Broker,
    req: ProduceRequest,
    version: i16,
    refused: &std::collections::HashMap<(String, i32), ErrorCode>,
    denied: &Denied,
) -> Appended {
    let acks = req.acks;
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let refuse = if !matches!(acks, -1..=1) {
        Some((
            ErrorCode::InvalidRequiredAcks.code(),
            "acks must be -1, 0 or 1",
        ))
    } else if req.transactional_id.is_none() && has_transactional_records(&req) {
        // Kafka's KafkaApis.handleProduceRequest: transactional batches need the
        // transactional id they are authorized by; a request with one but plain batches
        // is not refused (nor is it by Kafka)
        Some((
            ErrorCode::TransactionalIdAuthorizationFailed.code(),
            "transactional records without a transactional id",
        ))
    } else if denied.txn {
        Some((
            ErrorCode::TransactionalIdAuthorizationFailed.code(),
            "Transactional Id authorization failed.",
        ))
    } else {
        None
    };
    let mut to_flush = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for (ti, td) in req.topic_data.into_iter().enumerate() {
        let topic = if version >= 13 {
            broker.topic_by_id(td.topic_id)
        } else {
            broker.topic(&td.name.0)
        };
        let unknown = if version >= 13 {
            ErrorCode::UnknownTopicId.code()
        } else {
            ErrorCode::UnknownTopicOrPartition.code()
        };
        let topic_denied = match &topic {
            Some(t) => denied.topic(&t.name),
            None => version < 13 && denied.topics.contains(td.name.as_str()),
        };
        let mut parts = Vec::with_capacity(td.partition_data.len());
        // the topic's counters, looked up once per topic of the request
        let stats = topic.as_ref().map(|t| broker.metrics().topic(&t.name));
        for pd in td.partition_data {
            if let Some(st) = &stats {
                st.produce_requests.fetch_add(1, Ordering::Relaxed);
            }
            if let Some((c, m)) = refuse {
                parts.push(partition_error(pd.index, c, Some(m.to_string()), version));
                continue;
            }
            if topic_denied {
                let code = ErrorCode::TopicAuthorizationFailed.code();
                parts.push(partition_error(pd.index, code, None, version));
                continue;
            }
            let Some(partition) = topic.as_ref().and_then(|t| t.partition(pd.index)) else {
                parts.push(partition_error(pd.index, unknown, None, version));
                continue;
            };
            if let Some(code) = topic
                .as_ref()
                .and_then(|t| refused.get(&(t.name.clone(), pd.index)))
            {
                parts.push(partition_error(
                    pd.index,
                    code.code(),
                    Some("the partition is not in the producer's transaction".into()),
                    version,
                ));
                continue;
            }
            let Some(records) = pd.records else {
                parts.push(partition_error(
                    pd.index,
                    ErrorCode::InvalidRequest.code(),
                    Some("null records".into()),
                    version,
                ));
                continue;
            };
            // a partition led elsewhere answers NOT_LEADER_OR_FOLLOWER (from the append),
            // which sends the client to the leader, before any min.insync.replicas check
            if acks == -1 && partition.is_leader() {
                if let Err(code) = partition.check_min_isr() {
                    parts.push(partition_error(
                        pd.index,
                        code.code(),
                        Some("fewer in-sync replicas than min.insync.replicas".into()),
                        version,
                    ));
                    continue;
                }
            }
            // the request's buffer is shared: the log writes rewritten headers beside it
            match partition.append(&records, AppendOrigin::Client) {
                Ok(info) => {
                    // Kafka's BytesInPerSec / MessagesInPerSec: the batches appended (a
                    // retried duplicate appends nothing)
                    if let (Some(st), false) = (&stats, info.duplicate) {
                        let count = u64::try_from(info.last_offset - info.base_offset + 1);
                        broker
                            .metrics()
                            .record_in(st, records.len() as u64, count.unwrap_or(0));
                    }
                    if acks == -1 {
                        to_flush.push(Written {
                            partition: Arc::clone(partition),
                            end: info.last_offset + 1,
                            epoch: info.leader_epoch,
                            topic: ti,
                            index: parts.len(),
                        });
                    }
                    parts.push(
                        PartitionProduceResponse::default()
                            .with_index(pd.index)
                            .with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(if version >= 5 {
                                info.log_start_offset
                            } else {
                                -1
                            }),
                    );
                }
                Err(e) => {
                    let message = e.to_string();
                    parts.push(match e {
                        PartitionError::Log(LogError::RecordErrors { errors, total }) => {
                            debug!(
                                partition = %partition.topic_partition(),
                                records = total,
                                "records refused one by one"
                            );
                            records_refused(
                                pd.index,
                                &errors,
                                message,
                                partition.log_start_offset(),
                                version,
                            )
                        }
                        e => partition_error(pd.index, e.code().into(), Some(message), version),
                    });
                }
            }
        }
        // Kafka's FailedProduceRequestsPerSec: a partition refused here (min ISR,
        // verification, a producer's sequence or epoch, ...), less the errors Kafka's
        // ReplicaManager leaves out as known (unknown partition, not leader, too large,
        // corrupt, storage); a failed fsync later is not counted
        if let Some(st) = &stats {
            let failed = parts
                .iter()
                .filter(|p| counts_as_failed(p.error_code))
                .count();
            st.failed_produce_requests
                .fetch_add(failed as u64, Ordering::Relaxed);
        }
        responses.push(
            if version >= 13 {
                TopicProduceResponse::default().with_topic_id(td.topic_id)
            } else {
                TopicProduceResponse::default().with_name(td.name)
            }
            .with_partition_responses(parts),
        );
    }
    Appended {
        acks,
        version,
        timeout,
        response: ProduceResponse::default().with_responses(responses),
        to_flush,
    }
}

impl Appended {
    /// fsyncs what acks=all asked for (blocking), then yields the response (`None` for acks=0).
    /// An acks=0 produce that failed anywhere is an error: as Kafka does, the connection
    /// closes, the only way such a producer learns of it. acks=all then waits for the
    /// in-sync replicas ([`Replicating::wait`]).
    fn flush(mut self) -> Result<Replicating, RouteError> {
        let mut written = Vec::new();
        for w in std::mem::take(&mut self.to_flush) {
            let (log, ti, pi) = (&w.partition, w.topic, w.index);
            if let Err(e) = log.flush_to(w.end) {
                warn!(partition = %log.topic_partition(), cause = %e, "fsync failed");
                let slot = self
                    .response
                    .responses
                    .get_mut(ti)
                    .and_then(|t| t.partition_responses.get_mut(pi));
                if let Some(p) = slot {
                    *p = partition_error(
                        p.index,
                        e.code().into(),
                        Some(e.to_string()),
                        self.version,
                    );
                }
            } else {
                written.push(w);
            }
        }
        if self.acks != 0 {
            return Ok(Replicating {
                response: Some(self.response),
                version: self.version,
                timeout: self.timeout,
                written,
            });
        }
        let failed = self
            .response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.error_code != ErrorCode::None.code());
        match failed {
            None => Ok(Replicating {
                response: None,
                version: self.version,
                timeout: self.timeout,
                written,
            }),
            Some(p) => Err(RouteError::UnacknowledgedProduceFailed {
                error_code: p.error_code,
            }),
        }
    }
}

/// acks=all after the local fsync: the partitions still to be replicated.
pub struct Replicating {
    response: Option<ProduceResponse>,
    version: i16,
    timeout: Duration,
    /// What was made durable here and must reach the in-sync replicas.
    written: Vec<Written>,
}

impl Replicating {
    /// Waits until every written partition's in-sync replicas have the records (at once
    /// for a partition that is its own only replica), turning those that fail into
    /// their errors (Kafka's delayed produce).
    async fn wait(mut self) -> Option<ProduceResponse> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        for w in std::mem::take(&mut self.written) {
            let (ti, pi) = (w.topic, w.index);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Err(code) = w.partition.wait_replicated(w.end, w.epoch, left).await {
                let slot = self
                    .response
                    .as_mut()
                    .and_then(|r| r.responses.get_mut(ti))
                    .and_then(|t| t.partition_responses.get_mut(pi));
                if let Some(r) = slot {
                    *r = partition_error(r.index, code.code(), None, self.version);
                }
            }
        }
        self.response
    }
}

/// Counts the response's error codes, per partition (Kafka's `ErrorsPerSec`).
fn count_errors(broker: &Broker, version: i16, resp: &ProduceResponse) {
    let mut first = true;
    let codes = resp
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| p.error_code)
        .filter(|&c| c != 0);
    for code in codes {
        broker
            .metrics()
            .requests()
            .error(ApiKey::Produce, version, code, first);
        first = false;
    }
}

/// KIP-951 (v10+): a partition answered NOT_LEADER_OR_FOLLOWER names its current leader,
/// and the response carries that leader's endpoint.
fn hint_leaders(broker: &Broker, listener: &str, version: i16, resp: &mut ProduceResponse) {
    if version < 10 {
        return;
    }
    let not_leader = ErrorCode::NotLeaderOrFollower.code();
    let mut hints = LeaderHints::new(broker, listener);
    for t in &mut resp.responses {
        for p in &mut t.partition_responses {
            if p.error_code != not_leader {
                continue;
            }
            if let Some((leader, epoch)) = hints.leader(&t.name.0, t.topic_id, p.index) {
                p.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
            }
        }
    }
    resp.node_endpoints = hints.node_endpoints(|id, host, port, rack| {
        NodeEndpoint::default()
            .with_node_id(id)
            .with_host(host)
            .with_port(port)
            .with_rack(rack)
    });
}

/// Does the appends (on the blocking pool: file I/O) before returning, so a connection's
/// pipelined produces are appended in the order they were sent. For acks=all the same
/// blocking task goes on to the fsync at once, after telling this connection that the
/// appends are done: the connection's next request appends meanwhile and shares that
/// fsync (group commit), and the response comes from the task ([`Answer::Later`]).
/// Starting the fsync on the thread that wrote, rather than after a round trip through
/// the connection task and a second blocking task, matters to producers that wait for
/// each response before sending the next request (librdkafka's idempotent producer does:
/// see docs/perf.md), where every hop is on the critical path. An append task that fails
/// acknowledges nothing, and the connection closes.
pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ProduceRequest,
) -> Answer<ProduceResponse> {
    let (b, version) = (Arc::clone(broker), ctx.api_version);
    let denied = denied(ctx, broker, &req, version);
    // the coordinator hears of a transaction's partitions only once they are authorized
    let refused = if denied.txn {
        Default::default()
    } else if req.transactional_id.is_some() && broker.config().txn.partition_verification {
        if denied.topics.is_empty() {
            verify(broker, &req, version).await
        } else {
            let mut allowed = req.clone();
            allowed.topic_data.retain(|td| {
                let name = if version >= 13 {
                    broker.topic_by_id(td.topic_id).map(|t| t.name.clone())
                } else {
                    Some(td.name.to_string())
                };
                name.is_some_and(|n| !denied.topic(&n))
            });
            verify(broker, &allowed, version).await
        }
    } else {
        Default::default()
    };
    if req.acks != -1 {
        let appended = match tokio::task::spawn_blocking(move || {
            append_all(&b, req, version, &refused, &denied)
        })
        .await
        {
            Ok(appended) => appended,
            Err(e) => {
                return Answer::Fail(RouteError::Internal(format!(
                    "the produce task failed: {e}"
                )))
            }
        };
        return match appended.flush() {
            Ok(Replicating {
                response: Some(mut resp),
                ..
            }) => {
                count_errors(broker, version, &resp);
                hint_leaders(broker, &ctx.listener.name, version, &mut resp);
                Answer::Now(resp)
            }
            Ok(_) => Answer::Silent,
            Err(e) => Answer::Fail(e),
        };
    }
    let (appended_tx, appended_rx) = tokio::sync::oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        let appended = append_all(&b, req, version, &refused, &denied);
        // the receiver is gone only if the connection is closing: fsync all the same
        let _ = appended_tx.send(());
        appended.flush()
    });
    if appended_rx.await.is_err() {
        // the task ended before the appends were done: it panicked
        let cause = match task.await {
            Err(e) => e.to_string(),
            Ok(_) => "it ended early".to_string(),
        };
        return Answer::Fail(RouteError::Internal(format!(
            "the produce task failed: {cause}"
        )));
    }
    let (b, listener) = (Arc::clone(broker), ctx.listener.name.clone());
    let waiting = broker.metrics().produce_waiting();
    Answer::Later(Box::pin(async move {
        // counted as waiting (Kafka's produce purgatory) until its answer is ready
        let _waiting = waiting;
        let replicating = task
            .await
            .map_err(|e| RouteError::Internal(format!("the produce task failed: {e}")))??;
        let mut resp = replicating.wait().await;
        if let Some(r) = resp.as_mut() {
            count_errors(&b, version, r);
            hint_leaders(&b, &listener, version, r);
        }
        Ok(resp)
    }))
}

/// Whether a partition's error counts in `failed_produce_requests`: any error but the
/// ones Kafka's `ReplicaManager.appendToLocalLog` does not count ("known exceptions").
fn counts_as_failed(code: i16) -> bool {
    code != 0
        && ![
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::MessageTooLarge,
            ErrorCode::RecordListTooLarge,
            ErrorCode::CorruptMessage,
            ErrorCode::KafkaStorageError,
        ]
        .iter()
        .any(|known| known.code() == code)
}
