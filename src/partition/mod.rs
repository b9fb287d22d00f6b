//! The partition layer: one [`Partition`] per partition this broker hosts (Kafka's
//! `Partition`). It owns the partition's log, its leader epoch, replica set and ISR, and its
//! high watermark, and every append and read goes through it: Kafka Produce and Fetch,
//! ListOffsets, DeleteRecords, the text protocol, and the group coordinator's
//! `__consumer_offsets` writes and replay.
//!
//! What lives here once, for every caller:
//! - the internal-topic rule: a client's append to an internal topic is refused
//!   (INVALID_TOPIC_EXCEPTION), whichever port it came in on; coordinators may append;
//! - the leader epoch stamped on appended batches;
//! - the high watermark, its own value: Kafka's rule is the smallest log end offset among
//!   the in-sync replicas. With this broker as the only replica it follows the log end at
//!   once; replication will add the followers' log ends;
//! - the bound of a read: the log end for a follower, the high watermark for a consumer
//!   and the last stable offset for a `read_committed` one;
//! - transaction markers ([`Partition::append_marker`]) and the aborted transactions a
//!   `read_committed` fetch returns;
//! - the wake-ups of fetches waiting on this partition ([`waiters`]).
//!
//! Invariant: `log_start_offset <= high_watermark <= log_end_offset`, and
//! `last_stable_offset <= high_watermark`.

mod epochs;
mod replication;
pub mod waiters;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::error::ErrorCode;
use crate::log::{
    AbortedTxn, AppendInfo, LogConfig, LogError, OffsetSpec, PartitionLog, Records,
    TimestampOffset, TopicPartition, TxnMarker,
};
use crate::topic;
pub use replication::{FollowerRead, IsrChange, IsrOutcome};
pub use waiters::{FetchWaker, Registration};

/// Why a partition operation failed; [`PartitionError::code`] gives the Kafka code.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A client tried to append to, or delete records of, an internal topic:
    /// INVALID_TOPIC_EXCEPTION (17).
    #[error("internal topic '{0}' is written by its coordinator only")]
    InternalTopic(String),
    /// DeleteRecords past the high watermark, or below zero: OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is out of range [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        high_watermark: i64,
    },
    /// A client append or read on a partition this broker does not lead (a cluster's
    /// metadata says another broker does): NOT_LEADER_OR_FOLLOWER (6).
    #[error("this broker is not the leader of {0}")]
    NotLeader(String),
    /// A request's current leader epoch is older than this partition's: the client's
    /// metadata is stale (KIP-320). FENCED_LEADER_EPOCH (74).
    #[error("leader epoch {requested} of {partition} is fenced: the current one is {current}")]
    FencedLeaderEpoch {
        partition: String,
        requested: i32,
        current: i32,
    },
    /// A request's current leader epoch is newer than this partition's: this broker has
    /// not yet seen the metadata the client has (KIP-320). UNKNOWN_LEADER_EPOCH (75).
    #[error("leader epoch {requested} of {partition} is unknown: the current one is {current}")]
    UnknownLeaderEpoch {
        partition: String,
        requested: i32,
        current: i32,
    },
    /// The log engine failed (its own code).
    #[error(transparent)]
    Log(#[from] LogError),
}

impl PartitionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::InternalTopic(_) => ErrorCode::InvalidTopicException,
            PartitionError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            PartitionError::NotLeader(_) => ErrorCode::NotLeaderOrFollower,
            PartitionError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            PartitionError::UnknownLeaderEpoch { .. } => ErrorCode::UnknownLeaderEpoch,
            PartitionError::Log(e) => e.code(),
        }
    }
}

/// Who is appending (Kafka's `AppendOrigin`): the rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer, over the Kafka or the text protocol.
    Client,
    /// One of this broker's coordinators, writing its internal topic.
    Coordinator,
}

/// How far a read may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBound {
    /// Everything in the log: a follower replicating it, or a coordinator replaying its
    /// own partition.
    LogEnd,
    /// What every in-sync replica has: consumers.
    HighWatermark,
    /// Below the last stable offset: `read_committed` consumers.
    LastStable,
}

/// Leadership and replicas, as the metadata says (Kafka's `PartitionRegistration` as this
/// broker applied it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped by every change of the partition's registration (AlterPartition's check).
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// What a read returns: whole batches as stored, and the offsets a Fetch response carries.
/// `R` is [`Bytes`] from [`Partition::read`], [`Records`] (bytes or a range of a segment
/// file) from [`Partition::read_records`].
#[derive(Clone, Debug)]
pub struct ReadInfo<R = Bytes> {
    pub records: R,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// One hosted partition.
#[derive(Debug)]
pub struct Partition {
    log: Arc<PartitionLog>,
    internal: bool,
    /// This broker's node id: it serves clients while it is the leader.
    local_id: i32,
    replicas: RwLock<ReplicaState>,
    /// While leading: what each follower has, and the ISR change in flight.
    leader_state: parking_lot::Mutex<replication::LeaderState>,
    high_watermark: AtomicI64,
    waiters: Arc<waiters::Waiters>,
    /// Reads served, for the stats and the tests that prove a fetch was not re-run.
    reads: AtomicU64,
}

impl Partition {
    /// A partition this broker leads alone (its only replica and ISR member), at the
    /// newest leader epoch its log has seen, or 0.
    pub fn new_local_leader(log: Arc<PartitionLog>, node_id: i32) -> Partition {
        let internal = topic::is_internal(&log.topic_partition().topic);
        let leader_epoch = log.latest_epoch().unwrap_or(0).max(0);
        let high_watermark = AtomicI64::new(log.log_end_offset());
        Partition {
            log,
            internal,
            local_id: node_id,
            replicas: RwLock::new(ReplicaState {
                leader: node_id,
                leader_epoch,
                partition_epoch: 0,
                replicas: vec![node_id],
                isr: vec![node_id],
            }),
            leader_state: parking_lot::Mutex::new(replication::LeaderState::default()),
            high_watermark,
            waiters: Arc::new(waiters::Waiters::default()),
            reads: AtomicU64::new(0),
        }
    }

    /// A partition of a cluster broker before the metadata says who leads it: no leader,
    /// epoch -1, so the first state the metadata gives is taken
    /// ([`Self::apply_replica_state`]) and nothing is served until then.
    pub fn new_unassigned(log: Arc<PartitionLog>, node_id: i32) -> Partition {
        let p = Partition::new_local_leader(log, node_id);
        *p.replicas.write() = ReplicaState {
            leader: -1,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
        };
        p
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        self.log.topic_partition()
    }
    pub fn index(&self) -> i32 {
        self.log.topic_partition().partition
    }
    pub fn is_internal(&self) -> bool {
        self.internal
    }
    pub fn replica_state(&self) -> ReplicaState {
        self.replicas.read().clone()
    }
    pub fn leader_epoch(&self) -> i32 {
        self.replicas.read().leader_epoch
    }
    /// True while the metadata names this broker the partition's leader.
    pub fn is_leader(&self) -> bool {
        self.replicas.read().leader == self.local_id
    }
    /// Takes the leadership and replicas a cluster's metadata gives the partition
    /// (Kafka's `makeLeader` / `makeFollower`; the fetching is the broker's replication).
    /// A stale state (an older leader epoch, or an older partition epoch within the same
    /// leader epoch) is ignored; true if it changed anything. A new leadership starts
    /// with no follower's log end known.
    pub fn apply_replica_state(&self, state: ReplicaState) -> bool {
        let mut current = self.replicas.write();
        let stale = state.leader_epoch < current.leader_epoch
            || (state.leader_epoch == current.leader_epoch
                && state.partition_epoch < current.partition_epoch);
        if stale || *current == state {
            return false;
        }
        let new_leadership = state.leader == self.local_id
            && (current.leader != self.local_id || current.leader_epoch != state.leader_epoch);
        {
            let mut leader = self.leader_state.lock();
            if new_leadership || state.leader != self.local_id {
                *leader = if state.leader == self.local_id {
                    replication::LeaderState::for_leadership(&state, self.local_id)
                } else {
                    replication::LeaderState::default()
                };
            } else {
                // same leadership, new replicas or ISR: followers kept, new ones added; a
                // replica that left the ISR starts over (a restarted or wiped replica must
                // fetch again before it can rejoin)
                let now = crate::log::now_ms();
                for &r in &state.replicas {
                    if r == self.local_id {
                        continue;
                    }
                    let left = current.isr.contains(&r) && !state.isr.contains(&r);
                    if left {
                        leader
                            .followers
                            .insert(r, replication::FollowerState::new(now, false));
                    } else {
                        leader.followers.entry(r).or_insert_with(|| {
                            replication::FollowerState::new(now, state.isr.contains(&r))
                        });
                    }
                }
                leader.followers.retain(|r, _| state.replicas.contains(r));
                // the metadata moved past the proposed change: it was committed or lost
                if leader
                    .pending
                    .as_ref()
                    .is_some_and(|p| state.partition_epoch > p.change.partition_epoch)
                {
                    leader.pending = None;
                }
            }
        }
        let epoch = state.leader_epoch;
        *current = state;
        if new_leadership {
            // under the write lock: no follower fetch is served before the epoch is known
            if let Err(e) = self.log.assign_epoch(epoch) {
                tracing::warn!(partition = %self.topic_partition(), cause = %e, "could not record the leader epoch");
            }
        }
        drop(current);
        self.maybe_advance_high_watermark();
        // waiting fetches and produces re-check leadership
        self.waiters.wake_all();
        true
    }
    fn check_leader(&self) -> Result<(), PartitionError> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(PartitionError::NotLeader(
                self.topic_partition().to_string(),
            ))
        }
    }
    /// One pass of `cleaner` over this partition's log, everything below the high
    /// watermark being eligible (what a consumer can read is what compaction may change).
    ///
    /// The bound is the last stable offset, as Kafka's cleaner stops at the first
    /// unstable offset: an open transaction's records may still be aborted.
    pub fn clean(
        &self,
        cleaner: &crate::log::cleaner::Cleaner,
        now: i64,
    ) -> Result<Option<crate::log::cleaner::CleanStats>, PartitionError> {
        Ok(cleaner.clean(&self.log, self.last_stable_offset(), now)?)
    }
    /// min(first unstable offset, high watermark)
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.high_watermark();
        self.log
            .first_unstable_offset(high_watermark)
            .map_or(high_watermark, |f| f.min(high_watermark))
    }
    /// Leader only (else NOT_LEADER_OR_FOLLOWER, as append); appended at the current
    /// leader epoch; moves the high watermark and wakes waiting fetches exactly as
    /// [`Self::append`] does. Returns the marker's offset.
    pub fn append_marker(&self, marker: &TxnMarker) -> Result<i64, PartitionError> {
        let st = self.replicas.read();
        if st.leader != self.local_id {
            return Err(PartitionError::NotLeader(
                self.topic_partition().to_string(),
            ));
        }
        let offset = self
            .log
            .append_marker(marker, st.leader_epoch, crate::log::now_ms())?;
        drop(st);
        self.maybe_advance_high_watermark();
        self.waiters.wake_all();
        Ok(offset)
    }
    /// Aborted transactions overlapping `[from, to)`, oldest first (what a
    /// `read_committed` fetch returns with its records).
    pub fn aborted_transactions(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<AbortedTxn>, PartitionError> {
        Ok(self.log.aborted_transactions(from, to)?)
    }
    /// Whether `producer_id` has an open transaction here at `epoch`.
    pub fn has_open_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.log.has_open_transaction(producer_id, epoch)
    }

    /// The producers of this partition and their state (DescribeProducers), leader only.
    pub fn producer_states(
        &self,
    ) -> Result<crate::log::producer_state::ProducerStates, PartitionError> {
        self.check_leader()?;
        Ok(self.log.producer_states())
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }
    /// The partition's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.log.dir()
    }
    /// True if this partition is backed by `log` (the log manager's entry for it).
    pub fn is_backed_by(&self, log: &Arc<PartitionLog>) -> bool {
        Arc::ptr_eq(&self.log, log)
    }
    pub fn config(&self) -> LogConfig {
        self.log.config()
    }
    pub fn set_config(&self, config: LogConfig) {
        self.log.set_config(config)
    }
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.log.segment_base_offsets()
    }
    /// Reads served so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
    /// Fetches waiting on this partition now.
    pub fn waiting_fetches(&self) -> usize {
        self.waiters.len()
    }

    /// Appends record batches as the leader: validated, offsets assigned, stamped with the
    /// leader epoch, written (not yet fsynced: see [`Self::flush_to`]). The request's
    /// bytes are not copied. Then the high watermark moves and waiting fetches wake.
    pub fn append(
        &self,
        records: &[u8],
        origin: AppendOrigin,
    ) -> Result<AppendInfo, PartitionError> {
        if self.internal && origin == AppendOrigin::Client {
            return Err(PartitionError::InternalTopic(
                self.log.topic_partition().topic.clone(),
            ));
        }
        // leadership and epoch under one read of the replica state, held across the append
        // (as Kafka's leaderIsrUpdateLock): no leadership change lands in between
        let st = self.replicas.read();
        if st.leader != self.local_id {
            return Err(PartitionError::NotLeader(
                self.topic_partition().to_string(),
            ));
        }
        let info = match origin {
            AppendOrigin::Client => self.log.append_shared(records, st.leader_epoch)?,
            AppendOrigin::Coordinator => self.log.append_coordinator(records, st.leader_epoch)?,
        };
        drop(st);
        if !info.duplicate {
            self.maybe_advance_high_watermark();
            // followers' fetches wait for the log end, which moved even if the high
            // watermark did not
            self.waiters.wake_all();
        }
        Ok(info)
    }

    /// Kafka's rule, on the leader: the high watermark is the smallest log end offset in
    /// the (maximal) ISR; it never goes back. Wakes the fetches and acks=all produces
    /// waiting here when it moves.
    fn maybe_advance_high_watermark(&self) {
        let moved = {
            let st = self.replicas.read();
            if st.leader != self.local_id {
                return;
            }
            let leader = self.leader_state.lock();
            let Some(end) = self.isr_log_end(&st, &leader) else {
                return;
            };
            // moved under the leader state: an ISR change decided meanwhile sees it
            self.high_watermark.fetch_max(end, Ordering::AcqRel) < end
        };
        if moved {
            self.log.on_high_watermark(self.high_watermark());
            self.waiters.wake_all();
        }
    }

    /// Makes everything below `offset` durable (acks=all). Concurrent callers share one
    /// fdatasync.
    pub fn flush_to(&self, offset: i64) -> Result<(), PartitionError> {
        Ok(self.log.flush_to(offset)?)
    }

    /// Makes everything appended so far durable.
    pub fn flush(&self) -> Result<(), PartitionError> {
        Ok(self.log.flush()?)
    }

    /// The offset a read up to `bound` stops before.
    fn bound_offset(&self, bound: ReadBound) -> i64 {
        match bound {
            ReadBound::LogEnd => self.log.log_end_offset(),
            ReadBound::HighWatermark => self.high_watermark(),
            ReadBound::LastStable => self.last_stable_offset(),
        }
    }

    /// Reads whole batches from the one holding `fetch_offset`, at most `max_bytes` (with
    /// `min_one_batch`, the first batch whole whatever its size, as Kafka does for the
    /// first partition of a fetch), and nothing at or past `bound`.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        bound: ReadBound,
    ) -> Result<ReadInfo, PartitionError> {
        let info = self.read_records(fetch_offset, max_bytes, min_one_batch, bound)?;
        Ok(ReadInfo {
            records: info.records.into_bytes()?,
            high_watermark: info.high_watermark,
            last_stable_offset: info.last_stable_offset,
            log_start_offset: info.log_start_offset,
            log_end_offset: info.log_end_offset,
        })
    }

    /// [`Self::read`] for a sender that can send from a file (a Fetch on a plaintext
    /// connection): large sections of already checked batches come back as ranges of the
    /// segment file ([`PartitionLog::read_records`]), to be sent with `sendfile`.
    pub fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        bound: ReadBound,
    ) -> Result<ReadInfo<Records>, PartitionError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if bound != ReadBound::LogEnd {
            self.check_leader()?;
        }
        // the high watermark first: the log end read below is never behind it
        let high_watermark = self.high_watermark();
        let last_stable_offset = self
            .log
            .first_unstable_offset(high_watermark)
            .map_or(high_watermark, |f| f.min(high_watermark));
        let upto = match bound {
            ReadBound::LogEnd => self.log.log_end_offset(),
            ReadBound::HighWatermark => high_watermark,
            ReadBound::LastStable => last_stable_offset,
        };
        let data = self
            .log
            .read_records(fetch_offset, max_bytes, min_one_batch, upto)?;
        Ok(ReadInfo {
            records: data.records,
            high_watermark,
            last_stable_offset,
            log_start_offset: data.log_start_offset,
            log_end_offset: data.log_end_offset,
        })
    }

    /// Registers a waiting fetch's waker: appends and high-watermark moves here wake it
    /// until the registration is dropped.
    pub fn watch(&self, waker: &FetchWaker) -> Registration {
        self.waiters.register(waker)
    }

    /// ListOffsets: latest is the high watermark; timestamp lookups see only records
    /// below it.
    pub fn list_offset(&self, spec: OffsetSpec) -> Result<Option<TimestampOffset>, PartitionError> {
        self.list_offset_bounded(spec, ReadBound::HighWatermark)
    }

    /// [`Self::list_offset`] for an isolation level: with [`ReadBound::LastStable`]
    /// (`read_committed`) latest is the last stable offset and timestamp lookups see only
    /// records below it, as Kafka's `fetchOffsetForTimestamp` bounds them.
    pub fn list_offset_bounded(
        &self,
        spec: OffsetSpec,
        bound: ReadBound,
    ) -> Result<Option<TimestampOffset>, PartitionError> {
        self.check_leader()?;
        Ok(self.log.list_offset(spec, self.bound_offset(bound))?)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the high
    /// watermark) and deletes the segments wholly below it. Returns the new log start. As
    /// in Kafka, a client cannot delete records of an internal topic (its coordinator's
    /// state would be lost at the next replay); the coordinator itself can, after rewriting
    /// what is live.
    pub fn delete_records_before(
        &self,
        offset: i64,
        origin: AppendOrigin,
    ) -> Result<i64, PartitionError> {
        if self.internal && origin == AppendOrigin::Client {
            return Err(PartitionError::InternalTopic(
                self.log.topic_partition().topic.clone(),
            ));
        }
        self.check_leader()?;
        let high_watermark = self.high_watermark();
        if offset < 0 || offset > high_watermark {
            return Err(PartitionError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log.log_start_offset(),
                high_watermark,
            });
        }
        Ok(self.log.delete_records_before(offset)?)
    }

    /// Cuts the log back to `offset` (a follower's truncation, or a coordinator undoing
    /// its own write); the high watermark never stays past the log end.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, PartitionError> {
        let end = self.log.truncate_to(offset)?;
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition_log::LoadOptions;
    use crate::log::records::{encode_batch, NewRecord};

    fn partition(dir: &std::path::Path, topic: &str) -> Partition {
        let (log, _) = PartitionLog::open(
            dir.join(format!("{topic}-0")),
            TopicPartition::new(topic, 0),
            LogConfig::default(),
            None,
            LoadOptions::default(),
        )
        .expect("open");
        Partition::new_local_leader(Arc::new(log), 1)
    }

    fn batch(value: &str) -> Vec<u8> {
        encode_batch(
            &[NewRecord {
                key: None,
                value: Some(value.as_bytes().to_vec()),
                headers: Vec::new(),
                timestamp: 1,
            }],
            -1,
        )
    }

    #[test]
    fn clients_cannot_append_to_internal_topics_but_coordinators_can() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = partition(dir.path(), topic::OFFSETS_TOPIC);
        let err = p
            .append(&batch("forged"), AppendOrigin::Client)
            .expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidTopicException);
        assert_eq!(p.log_end_offset(), 0, "nothing written");
        p.append(&batch("commit"), AppendOrigin::Coordinator)
            .expect("the coordinator writes");
        assert_eq!(p.high_watermark(), 1);
    }

    #[test]
    fn a_single_replica_moves_the_high_watermark_with_the_log_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = partition(dir.path(), "t");
        assert_eq!(p.replica_state().isr, vec![1]);
        p.append(&batch("a"), AppendOrigin::Client).expect("a");
        p.append(&batch("b"), AppendOrigin::Client).expect("b");
        assert_eq!((p.high_watermark(), p.log_end_offset()), (2, 2));
        let r = p
            .read(0, 1 << 20, true, ReadBound::HighWatermark)
            .expect("read");
        assert_eq!(r.high_watermark, 2);
        assert!(!r.records.is_empty());
        let err = p
            .delete_records_before(3, AppendOrigin::Client)
            .expect_err("past the hw");
        assert_eq!(err.code(), ErrorCode::OffsetOutOfRange);
        assert_eq!(p.truncate_to(1).expect("truncate"), 1);
        assert_eq!(p.high_watermark(), 1);
    }
}
