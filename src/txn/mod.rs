//! The transaction coordinator: transactional ids, their producer ids and epochs, and
//! their transactions, kept in the internal topic `__transaction_state`.
//!
//! - [`shard`]: every transactional id of one `__transaction_state` partition
//!   ([`TxnShard`]): the transaction APIs as events that return records and
//!   [`MarkerJob`]s, no I/O.
//! - [`records`]: Kafka's key/value schemas of `__transaction_state`.
//! - [`TxnCoordinator`] (here): what the handlers call. It routes a transactional id to
//!   its shard (`abs(hash(id)) % transaction.state.log.num.partitions`, as Kafka places
//!   it) and runs the event on the [`CoordinatorRuntime`], which appends the records and
//!   answers once they are durable.
//!
//! Writing a decided transaction's markers is `broker/txn_markers.rs`'s: it writes a
//! COMMIT or ABORT control batch to every partition of the transaction, then records the
//! transaction complete here ([`TxnCoordinator::complete`]).

pub mod records;
pub mod shard;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::TxnConfig;
use crate::coordinator::{CoordinatorError, CoordinatorRuntime};
use crate::error::ErrorCode;
use crate::log::LogError;
use crate::partition::{Partition, PartitionError};
pub use shard::{EndOutcome, InitOutcome, MarkerJob, TxnMeta, TxnShard, TxnSummary};

pub use crate::topic::TRANSACTION_STATE_TOPIC;

/// The coordinator; one per broker.
#[derive(Debug)]
pub struct TxnCoordinator {
    config: TxnConfig,
    runtime: CoordinatorRuntime<TxnShard>,
    /// How many partitions `__transaction_state` has in all.
    partition_count: i32,
    /// Partition index → the position of its shard in the runtime (the hosted ones).
    shards: HashMap<i32, usize>,
    /// Transactional ids whose markers are being written now.
    writing: parking_lot::Mutex<HashSet<String>>,
}

/// The error of an event that could not run or whose write failed, as Kafka's
/// transaction coordinator answers (the client looks for the coordinator again).
fn write_error(e: &CoordinatorError) -> ErrorCode {
    if let Some(code) = e.placement_code() {
        return code;
    }
    match e {
        CoordinatorError::Append {
            code: ErrorCode::NotLeaderOrFollower,
            ..
        } => ErrorCode::NotCoordinator,
        _ => ErrorCode::CoordinatorNotAvailable,
    }
}

impl TxnCoordinator {
    /// Replays `logs` (the partitions of `__transaction_state` this broker hosts), one
    /// shard each; the topic has `partition_count` in all.
    pub fn load(
        config: TxnConfig,
        logs: Vec<Arc<Partition>>,
        partition_count: i32,
    ) -> Result<Self, PartitionError> {
        if logs.is_empty() {
            return Err(LogError::Internal(format!(
                "{TRANSACTION_STATE_TOPIC} has no partitions here"
            ))
            .into());
        }
        let shards = logs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.index(), i))
            .collect();
        let runtime = CoordinatorRuntime::load(logs, |_| TxnShard::new())?;
        let ids: usize = runtime.read_all(TxnShard::len).iter().sum();
        info!(
            transactional_ids = ids,
            "loaded transactions from {TRANSACTION_STATE_TOPIC}"
        );
        Ok(TxnCoordinator {
            config,
            runtime,
            partition_count: partition_count.max(1),
            shards,
            writing: parking_lot::Mutex::new(HashSet::new()),
        })
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The runtime the shards run on.
    pub fn runtime(&self) -> &CoordinatorRuntime<TxnShard> {
        &self.runtime
    }

    /// The index of the `__transaction_state` partition that holds `transactional_id`.
    pub fn partition_index_of(&self, transactional_id: &str) -> i32 {
        records::partition_for(transactional_id, self.partition_count)
    }

    fn shard_of(&self, transactional_id: &str) -> usize {
        self.shards
            .get(&self.partition_index_of(transactional_id))
            .copied()
            .unwrap_or(self.runtime.shard_count())
    }

    /// The coordinator epoch markers carry: the leader epoch of the id's partition.
    pub fn coordinator_epoch(&self, transactional_id: &str) -> Option<i32> {
        self.runtime
            .partition(self.shard_of(transactional_id))
            .map(|p| p.leader_epoch())
    }

    /// Whether this broker coordinates `transactional_id` now.
    pub fn coordinates(&self, transactional_id: &str) -> bool {
        self.runtime.is_loaded(self.shard_of(transactional_id))
    }

    /// InitProducerId for a transactional id; `fresh_pid` is an unused producer id.
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_pid: i64,
    ) -> InitOutcome {
        self.runtime
            .write(self.shard_of(transactional_id), |s, ctx| {
                s.init_producer_id(transactional_id, timeout_ms, expected, fresh_pid, ctx)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(transactional_id, cause = %e, "InitProducerId not stored");
                InitOutcome {
                    answer: Err(write_error(&e)),
                    abort: None,
                }
            })
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn, and transaction version 2's implicit adds
    /// (`client_transaction_version` 2: a partition leader's AddPartitionsToTxn v5 for a
    /// producer's first write, a TxnOffsetCommit v5).
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        client_transaction_version: i16,
    ) -> Result<(), ErrorCode> {
        self.runtime
            .write(self.shard_of(transactional_id), |s, ctx| {
                s.add_partitions(
                    transactional_id,
                    producer_id,
                    epoch,
                    partitions,
                    client_transaction_version,
                    ctx,
                )
            })
            .await
            .unwrap_or_else(|e| Err(write_error(&e)))
    }

    /// KIP-890's verification: per partition, whether it is in the id's open
    /// transaction (see [`TxnShard::verify`]).
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.runtime
            .read(self.shard_of(transactional_id), |s| {
                s.verify(transactional_id, producer_id, epoch, partitions)
            })
            .unwrap_or_else(|e| Err(write_error(&e)))
    }

    /// EndTxn: the producer id and epoch to go on with (or the error), and the markers to
    /// write when the transaction was decided now. `v2`: transaction version 2 (EndTxn
    /// v5), with an unused producer id in case the epoch runs out (see
    /// [`TxnShard::end_txn`]).
    pub async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        v2: Option<i64>,
    ) -> EndOutcome {
        self.runtime
            .write(self.shard_of(transactional_id), |s, ctx| {
                s.end_txn(transactional_id, producer_id, epoch, commit, v2, ctx)
            })
            .await
            .unwrap_or_else(|e| (Err(write_error(&e)), None))
    }

    /// Every partition has `job`'s marker: the transaction is complete.
    pub async fn complete(&self, job: &MarkerJob) -> Result<bool, ErrorCode> {
        self.runtime
            .write(self.shard_of(&job.transactional_id), |s, ctx| {
                s.complete(job, ctx)
            })
            .await
            .map_err(|e| write_error(&e))
    }

    /// Whether `job` is still what its id waits for: the same decision by the same
    /// producer id and epoch, not complete yet (a stale job, from a pass that read the
    /// state before a run completed it, must not end the producer's next transaction).
    pub fn is_current(&self, job: &MarkerJob) -> bool {
        let prepared = if job.commit {
            records::TxnStatus::PrepareCommit
        } else {
            records::TxnStatus::PrepareAbort
        };
        self.runtime
            .read(self.shard_of(&job.transactional_id), |s| {
                s.get(&job.transactional_id).is_some_and(|m| {
                    m.status == prepared
                        && m.producer_id == job.producer_id
                        && m.producer_epoch == job.producer_epoch
                })
            })
            .unwrap_or(false)
    }

    /// Whether everything appended to the id's `__transaction_state` partition is
    /// replicated (its high watermark at its log end): a decision read from the state may
    /// have its markers written only once it is.
    pub fn replicated(&self, transactional_id: &str) -> bool {
        self.runtime
            .partition(self.shard_of(transactional_id))
            .is_some_and(|p| p.high_watermark() >= p.log_end_offset())
    }

    /// Claims `transactional_id`'s marker run: false if one is under way.
    pub fn claim(&self, transactional_id: &str) -> bool {
        self.writing.lock().insert(transactional_id.to_string())
    }

    /// Ends `transactional_id`'s marker run.
    pub fn release(&self, transactional_id: &str) {
        self.writing.lock().remove(transactional_id);
    }

    /// DescribeTransactions: `None` for an unknown id.
    pub fn describe(&self, transactional_id: &str) -> Result<Option<TxnMeta>, ErrorCode> {
        self.runtime
            .read(self.shard_of(transactional_id), |s| {
                s.get(transactional_id).cloned()
            })
            .map_err(|e| write_error(&e))
    }

    /// Every transactional id this broker coordinates.
    pub fn list(&self) -> Vec<TxnSummary> {
        let mut all: Vec<TxnSummary> = self
            .runtime
            .read_all(TxnShard::list)
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    /// The periodic pass: open transactions past their timeout are aborted (their
    /// producers fenced), and decided ones whose markers no run is writing (after a
    /// restart, a new leadership, a run that gave up) are returned with them: the
    /// markers to write. Blocks: call it from the blocking pool.
    pub fn abort_timed_out(&self) -> Vec<MarkerJob> {
        let mut jobs: Vec<MarkerJob> = self
            .runtime
            .write_each_blocking(|s, ctx| s.abort_timed_out(ctx))
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| warn!(cause = %e, "could not abort timed-out transactions"))
                    .ok()
            })
            .flatten()
            .collect();
        for j in &jobs {
            info!(
                transactional_id = %j.transactional_id,
                producer_id = j.producer_id,
                "transaction timed out: aborted, producer fenced"
            );
        }
        let seen: HashSet<String> = jobs.iter().map(|j| j.transactional_id.clone()).collect();
        jobs.extend(
            self.runtime
                .read_all(TxnShard::undecided_markers)
                .into_iter()
                .flatten()
                .filter(|j| !seen.contains(&j.transactional_id)),
        );
        jobs
    }

    /// Forgets transactional ids idle past `transactional.id.expiration.ms`. Blocks.
    pub fn expire_ids(&self) -> usize {
        let expiration = self.config.id_expiration_ms;
        let n: usize = self
            .runtime
            .write_each_blocking(|s, ctx| s.expire(expiration, ctx))
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| warn!(cause = %e, "could not expire transactional ids"))
                    .ok()
            })
            .sum();
        if n > 0 {
            info!(expired = n, "expired transactional ids");
        }
        n
    }
}
