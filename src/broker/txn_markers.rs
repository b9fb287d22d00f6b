//! Writing a decided transaction's markers (Kafka's `TransactionMarkerChannelManager`):
//! a COMMIT or ABORT control batch to every partition of the transaction, then the
//! transaction recorded complete in `__transaction_state`.
//!
//! - A partition this broker leads gets its marker here ([`Broker::write_txn_marker`],
//!   also what WriteTxnMarkers does): appended, fsynced, and replicated to the ISR, as
//!   Kafka writes markers with acks=all. On `__consumer_offsets` the group coordinator
//!   writes it, so the transaction's offsets count (or are dropped) at once.
//! - A partition another broker leads gets a WriteTxnMarkers request on the inter-broker
//!   listener.
//! - Retriable failures (a leader moving, a replica catching up) are retried with a
//!   backoff until the marker is written, as Kafka retries forever; a partition whose
//!   topic was deleted is skipped. The run stops when this broker no longer coordinates
//!   the transaction: the new coordinator writes the markers again from its loaded state.
//! - One run per transactional id at a time; the transaction coordinator's periodic pass
//!   starts runs for decided transactions none is writing (after a restart, say).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, info, warn};

use super::Broker;
use crate::error::ErrorCode;
use crate::log::producer_state::TxnMarker;
use crate::topic::OFFSETS_TOPIC;
use crate::txn::{MarkerJob, TxnCoordinator};

/// How long a marker write waits for the partition's ISR.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between two tries of one partition's marker.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Why one partition's marker was not written.
enum Failure {
    /// Try again later.
    Retry(ErrorCode),
    /// Give up on this partition (its topic is gone, or the marker is refused for good).
    Skip(ErrorCode),
}

fn classify(code: ErrorCode) -> Failure {
    match code {
        // the producer or the coordinator moved on: another run (or nobody) writes it
        ErrorCode::InvalidProducerEpoch
        | ErrorCode::TransactionCoordinatorFenced
        | ErrorCode::InvalidTopicException => Failure::Skip(code),
        other => Failure::Retry(other),
    }
}

impl Broker {
    /// Starts writing `job`'s markers, unless a run for its transactional id is under way.
    pub fn spawn_markers(self: &Arc<Self>, txns: &Arc<TxnCoordinator>, job: MarkerJob) {
        if !txns.claim(&job.transactional_id) {
            return;
        }
        let broker = Arc::clone(self);
        let txns = Arc::clone(txns);
        tokio::spawn(async move {
            let tid = job.transactional_id.clone();
            broker.write_markers(&txns, &job).await;
            txns.release(&tid);
        });
    }

    /// Writes every partition's marker (the partitions at once: each waits for its own
    /// fsync and replicas), then records the transaction complete.
    async fn write_markers(self: &Arc<Self>, txns: &Arc<TxnCoordinator>, job: &MarkerJob) {
        let tid = &job.transactional_id;
        let Some(coordinator_epoch) = txns.coordinator_epoch(tid) else {
            return;
        };
        if !txns.is_current(job) {
            debug!(transactional_id = %tid, "a stale marker job: the transaction moved on");
            return;
        }
        let marker = TxnMarker {
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            coordinator_epoch,
            commit: job.commit,
        };
        let mut writes = tokio::task::JoinSet::new();
        let shared = Arc::new(job.clone());
        for (topic, partition) in job.partitions.iter().cloned() {
            let (broker, txns, job) = (Arc::clone(self), Arc::clone(txns), Arc::clone(&shared));
            writes.spawn(async move {
                broker
                    .marker_until_written(&txns, &job, &topic, partition, &marker)
                    .await
            });
        }
        let mut still_coordinator = true;
        while let Some(done) = writes.join_next().await {
            still_coordinator &= matches!(done, Ok(true));
        }
        if !still_coordinator {
            debug!(transactional_id = %tid, "no longer the coordinator: markers left to the next");
            return;
        }
        match txns.complete(job).await {
            Ok(true) => {
                debug!(transactional_id = %tid, commit = job.commit, "transaction complete")
            }
            Ok(false) => {}
            // the next periodic pass starts another run
            Err(code) => info!(transactional_id = %tid, error = code.name(),
                "transaction's markers written, completion not stored yet"),
        }
    }

    /// One partition's marker, retried until it is written or skipped; false if this
    /// broker stopped coordinating the transaction meanwhile (or it moved on).
    async fn marker_until_written(
        &self,
        txns: &TxnCoordinator,
        job: &MarkerJob,
        topic: &str,
        partition: i32,
        marker: &TxnMarker,
    ) -> bool {
        let tid = job.transactional_id.as_str();
        let mut backoff = Duration::from_millis(20);
        loop {
            if !txns.is_current(job) {
                return false;
            }
            let result = if self.topic_view(topic).is_none() {
                Err(Failure::Skip(ErrorCode::UnknownTopicOrPartition))
            } else {
                self.marker_to_leader(topic, partition, marker)
                    .await
                    .map_err(classify)
            };
            match result {
                Ok(()) => return true,
                Err(Failure::Skip(code)) => {
                    warn!(transactional_id = %tid, topic, partition, error = code.name(),
                        "transaction marker not written: partition skipped");
                    return true;
                }
                Err(Failure::Retry(code)) => {
                    debug!(transactional_id = %tid, topic, partition, error = code.name(),
                        "transaction marker not written yet: retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One partition's marker: here if this broker leads it, else WriteTxnMarkers to its
    /// leader.
    async fn marker_to_leader(
        &self,
        topic: &str,
        partition: i32,
        marker: &TxnMarker,
    ) -> Result<(), ErrorCode> {
        let local = self
            .topic(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?).cloned());
        if local.as_ref().is_some_and(|p| p.is_leader()) || self.cluster().is_none() {
            return self.write_txn_marker(topic, partition, marker).await;
        }
        let client = self
            .client_to_leader(topic, partition, "txn-markers")
            .ok_or(ErrorCode::NotLeaderOrFollower)?;
        let req =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(marker.producer_id))
                .with_producer_epoch(marker.producer_epoch)
                .with_transaction_result(marker.commit)
                .with_coordinator_epoch(marker.coordinator_epoch)
                .with_topics(vec![WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_indexes(vec![partition])])]);
        let resp: WriteTxnMarkersResponse = client
            .call(
                ApiKey::WriteTxnMarkers,
                1,
                &req,
                Duration::from_secs(10),
                |_| false,
            )
            .await
            .map_err(|e| e.code())?;
        let code = resp
            .markers
            .iter()
            .flat_map(|m| m.topics.iter())
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0);
        match ErrorCode::from_code(code) {
            ErrorCode::None => Ok(()),
            other => Err(other),
        }
    }

    /// A Kafka-protocol client to the live leader of `topic`-`partition` on the
    /// inter-broker listener (one request at a time; `purpose` names it in the client id).
    pub(crate) fn client_to_leader(
        &self,
        topic: &str,
        partition: i32,
        purpose: &str,
    ) -> Option<crate::controller::client::ControllerClient> {
        let leader = self
            .topic_view(topic)?
            .partitions
            .iter()
            .find(|p| p.index == partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)?;
        let addr = super::replication::endpoint_of(self, leader)?;
        Some(
            crate::controller::client::ControllerClient::new(
                std::iter::once((leader, addr)).collect(),
                None,
                format!("rafka-{purpose}-{}", self.node_id()),
            )
            .with_security(std::sync::Arc::clone(&self.link)),
        )
    }

    /// WriteTxnMarkers for one partition this broker leads: the marker appended, durable
    /// and replicated to the ISR. On `__consumer_offsets`, through the group coordinator.
    pub async fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        marker: &TxnMarker,
    ) -> Result<(), ErrorCode> {
        if topic == OFFSETS_TOPIC {
            let groups = self
                .groups()
                .map_err(|_| ErrorCode::UnknownTopicOrPartition)?;
            return groups.complete_transaction(partition, marker).await;
        }
        let p = self
            .topic(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?).cloned())
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let epoch = p.leader_epoch();
        let m = *marker;
        let part = Arc::clone(&p);
        let offset = tokio::task::spawn_blocking(move || {
            let offset = part.append_marker(&m)?;
            part.flush_to(offset + 1)?;
            Ok::<i64, crate::partition::PartitionError>(offset)
        })
        .await
        .map_err(|_| ErrorCode::UnknownServerError)?
        .map_err(|e| e.code())?;
        p.wait_replicated(offset + 1, epoch, REPLICATION_TIMEOUT)
            .await
    }
}
