//! Replication's half of a partition (Kafka's `Partition` with its `Replica`s): what the
//! leader knows of each follower, the high watermark that follows from it, the ISR changes
//! the leader wants, and the follower's own appends and high watermark.
//!
//! Leader side:
//! - every follower fetch reports the follower's log end ([`Partition::read_for_follower`]);
//!   a follower whose fetch reached the leader's log end, or the log end the leader had at
//!   its previous fetch, was caught up then (Kafka's `lastCaughtUpTimeMs`);
//! - the high watermark is the smallest log end across the *maximal* ISR: the committed
//!   ISR plus any replica an ISR change in flight adds (KIP-497), so a change the
//!   controller has not committed yet can never make the high watermark too high. A
//!   follower whose log end is not known yet (just after this broker became leader) holds
//!   the high watermark where it is;
//! - [`Partition::wanted_isr_change`] proposes one ISR change at a time: out-of-sync
//!   followers (not caught up for `replica.lag.time.max.ms`) leave, caught-up replicas
//!   (log end at the high watermark and within the leader's epoch) join. The change takes
//!   effect when the controller commits it ([`Partition::isr_change_done`]).
//!
//! Follower side: batches from the leader are appended unchanged
//! ([`Partition::append_as_follower`]); the follower's high watermark is the leader's,
//! capped at its own log end.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{Partition, PartitionError, ReplicaState};
use crate::log::{now_ms, Records};

/// How long a leader waits after a refused ISR change before it proposes one again.
const ISR_RETRY_BACKOFF_MS: i64 = 500;

/// What the leader knows of one follower.
#[derive(Clone, Copy, Debug)]
pub(super) struct FollowerState {
    /// The follower's log end, as its last fetch said (-1: not known yet).
    pub log_end: i64,
    /// When the follower was last caught up with the leader's log end.
    pub last_caught_up_ms: i64,
    /// When it last fetched, and the leader's log end then.
    last_fetch_ms: i64,
    last_fetch_leader_end: i64,
}

impl FollowerState {
    pub(super) fn new(now: i64, in_isr: bool) -> Self {
        FollowerState {
            log_end: -1,
            // an ISR member gets a full lag period from the leadership change on
            last_caught_up_ms: if in_isr { now } else { 0 },
            last_fetch_ms: 0,
            last_fetch_leader_end: -1,
        }
    }
}

/// The leader's replication state: followers, and the ISR change in flight.
#[derive(Debug, Default)]
pub(super) struct LeaderState {
    pub followers: HashMap<i32, FollowerState>,
    /// The ISR change proposed and not known to be refused: the high watermark counts
    /// its members too until the metadata shows a newer partition epoch (or a refusal
    /// proves nothing was applied). KIP-497's maximal ISR.
    pub pending: Option<PendingIsr>,
    /// After a refused or unanswered change, nothing is sent before this time (ms).
    pub retry_at_ms: i64,
}

/// An ISR change proposed to the controller.
#[derive(Clone, Debug)]
pub(super) struct PendingIsr {
    /// The committed ISR plus the replicas the change adds.
    pub maximal: Vec<i32>,
    pub change: IsrChange,
    /// A request with it is on its way; false after an unknown outcome (sent again).
    pub in_flight: bool,
}

/// How an ISR change ended, as the controller's answer (or its absence) says.
#[derive(Debug)]
pub enum IsrOutcome {
    /// Committed: the partition's new state.
    Committed(ReplicaState),
    /// Refused before anything was applied (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED,
    /// INVALID_REQUEST): proposed again from the metadata's state later.
    Refused,
    /// Not known (no answer, or an answer that may follow a commit this broker has not
    /// seen yet): kept in flight, sent again, until the metadata moves past it.
    Unknown,
}

impl LeaderState {
    /// Fresh follower states for a new leadership.
    pub(super) fn for_leadership(state: &ReplicaState, me: i32) -> Self {
        let now = now_ms();
        LeaderState {
            followers: state
                .replicas
                .iter()
                .filter(|&&r| r != me)
                .map(|&r| (r, FollowerState::new(now, state.isr.contains(&r))))
                .collect(),
            pending: None,
            retry_at_ms: 0,
        }
    }
}

/// An ISR change the leader wants the controller to commit (AlterPartition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrChange {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// What a follower's fetch gets: records, or the point where its log diverges from the
/// leader's (KIP-595's diverging epoch: the follower truncates there first).
#[derive(Debug)]
pub enum FollowerRead {
    Records {
        records: Records,
        high_watermark: i64,
        log_start_offset: i64,
    },
    Diverging {
        epoch: i32,
        end_offset: i64,
        high_watermark: i64,
        log_start_offset: i64,
    },
}

impl Partition {
    /// A follower's fetch, on the leader: checks leadership and the follower's view of the
    /// leader epoch, finds where its log diverges (its last fetched epoch ends earlier
    /// here, or is unknown), else reads from `fetch_offset` up to the log end. Then the
    /// follower's log end is recorded and the high watermark moves if it can.
    #[allow(clippy::too_many_arguments)]
    pub fn read_for_follower(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        current_leader_epoch: i32,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FollowerRead, PartitionError> {
        self.check_current_epoch(current_leader_epoch)?;
        self.check_leader()?;
        if !self.replicas.read().replicas.contains(&replica_id) {
            // Kafka's `followerReplicaOrThrow`: only an assigned replica reads past the
            // high watermark and moves it
            return Err(PartitionError::NotLeader(format!(
                "{}: broker {replica_id} is not one of its replicas",
                self.topic_partition()
            )));
        }
        if last_fetched_epoch >= 0 {
            let (epoch, end_offset) = self.log.end_offset_for_epoch(last_fetched_epoch);
            if (epoch, end_offset) == (-1, -1) {
                // no epoch to compare with (absent on the wire as a diverging epoch):
                // out of range, and the follower cuts back to the high watermark
                return Err(PartitionError::Log(
                    crate::log::LogError::OffsetOutOfRange {
                        offset: fetch_offset,
                        log_start_offset: self.log.log_start_offset(),
                        log_end_offset: self.log.log_end_offset(),
                    },
                ));
            }
            if epoch < last_fetched_epoch || end_offset < fetch_offset {
                return Ok(FollowerRead::Diverging {
                    epoch,
                    end_offset,
                    high_watermark: self.high_watermark(),
                    log_start_offset: self.log.log_start_offset(),
                });
            }
        }
        let leader_end = self.log.log_end_offset();
        let data = self
            .log
            .read_records(fetch_offset, max_bytes, min_one_batch, leader_end)?;
        self.record_follower_fetch(replica_id, fetch_offset, leader_end);
        Ok(FollowerRead::Records {
            records: data.records,
            high_watermark: self.high_watermark(),
            log_start_offset: data.log_start_offset,
        })
    }

    /// Notes a follower's fetch at `fetch_offset` (its log end) when the leader's log end
    /// was `leader_end`, and moves the high watermark.
    fn record_follower_fetch(&self, replica_id: i32, fetch_offset: i64, leader_end: i64) {
        let now = now_ms();
        {
            let mut leader = self.leader_state.lock();
            let Some(f) = leader.followers.get_mut(&replica_id) else {
                return;
            };
            if fetch_offset >= leader_end {
                f.last_caught_up_ms = now;
            } else if fetch_offset >= f.last_fetch_leader_end {
                f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
            }
            f.log_end = fetch_offset;
            f.last_fetch_ms = now;
            f.last_fetch_leader_end = leader_end;
        }
        self.maybe_advance_high_watermark();
    }

    /// The smallest log end across the maximal ISR (this broker's is its log end), or
    /// `None` while some member's is not known. Called with the replica state and the
    /// leader state locked, so the ISR and the change in flight are read as one.
    pub(super) fn isr_log_end(&self, st: &ReplicaState, leader: &LeaderState) -> Option<i64> {
        let mut min = self.log.log_end_offset();
        let pending = leader.pending.iter().flat_map(|p| p.maximal.iter());
        for &r in st.isr.iter().chain(pending) {
            if r == self.local_id {
                continue;
            }
            match leader.followers.get(&r) {
                Some(f) if f.log_end >= 0 => min = min.min(f.log_end),
                // a member whose log end is unknown holds the high watermark
                _ => return None,
            }
        }
        Some(min)
    }

    /// The ISR change this leader wants now, if any and none is in flight: replicas not
    /// caught up for `lag_max_ms` leave, caught-up ones join if `eligible` (KIP-841: the
    /// metadata has them registered, unfenced and not shutting down). The change is then
    /// in flight (the high watermark counts the joining ones) until
    /// [`Self::isr_change_done`].
    pub fn wanted_isr_change(
        &self,
        lag_max_ms: i64,
        eligible: impl Fn(i32) -> bool,
    ) -> Option<IsrChange> {
        let epoch_start = {
            let epoch = self.replicas.read().leader_epoch;
            self.log
                .leader_epochs()
                .iter()
                .find(|&&(e, _)| e == epoch)
                .map(|&(_, s)| s)
        };
        let now = now_ms();
        // the replica state, then the leader state (the order everywhere), held while the
        // change is decided: the high watermark moves only under the leader state, so a
        // replica admitted at the high watermark read here is not behind it
        let st = self.replicas.read();
        if st.leader != self.local_id {
            return None;
        }
        let state = st.clone();
        let mut leader = self.leader_state.lock();
        if now < leader.retry_at_ms {
            return None;
        }
        if let Some(p) = leader.pending.as_mut() {
            if p.in_flight {
                return None;
            }
            // its outcome was not known: the same change again (Kafka resends it)
            p.in_flight = true;
            return Some(p.change.clone());
        }
        let hw = self.high_watermark();
        let mut new_isr: Vec<i32> = Vec::with_capacity(state.replicas.len());
        for &r in &state.replicas {
            let keep = if r == self.local_id {
                true
            } else {
                let f = leader.followers.get(&r);
                if state.isr.contains(&r) {
                    f.is_some_and(|f| now - f.last_caught_up_ms <= lag_max_ms)
                } else {
                    // Kafka's `isFollowerInSync`, checked as a fetch comes in: at the high
                    // watermark, past the start of this leader's epoch, and fetching (caught
                    // up within the lag limit), so a replica that stopped fetching at the
                    // high watermark is not added back only to be dropped again
                    eligible(r)
                        && f.is_some_and(|f| {
                            f.log_end >= hw
                                && epoch_start.is_none_or(|s| f.log_end >= s)
                                && now - f.last_caught_up_ms <= lag_max_ms
                        })
                }
            };
            if keep {
                new_isr.push(r);
            }
        }
        let same =
            new_isr.len() == state.isr.len() && new_isr.iter().all(|r| state.isr.contains(r));
        if same {
            return None;
        }
        let mut maximal = state.isr.clone();
        maximal.extend(new_isr.iter().filter(|r| !state.isr.contains(r)));
        let change = IsrChange {
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            new_isr,
        };
        leader.pending = Some(PendingIsr {
            maximal,
            change: change.clone(),
            in_flight: true,
        });
        Some(change)
    }

    /// The controller's answer to the ISR change in flight ([`IsrOutcome`]). A committed
    /// state is taken at once, as Kafka's leader does; applying it ends the change (its
    /// partition epoch is past the proposal's) in the same locked section that writes the
    /// new ISR, so the high watermark never sees neither.
    pub fn isr_change_done(&self, outcome: IsrOutcome) {
        match outcome {
            IsrOutcome::Committed(state) => {
                self.apply_replica_state(state);
            }
            IsrOutcome::Refused => {
                let mut leader = self.leader_state.lock();
                leader.pending = None;
                leader.retry_at_ms = now_ms() + ISR_RETRY_BACKOFF_MS;
            }
            IsrOutcome::Unknown => {
                let mut leader = self.leader_state.lock();
                if let Some(p) = leader.pending.as_mut() {
                    p.in_flight = false;
                }
                leader.retry_at_ms = now_ms() + ISR_RETRY_BACKOFF_MS;
            }
        }
        self.maybe_advance_high_watermark();
    }

    /// An ISR change is in flight.
    pub fn isr_change_pending(&self) -> bool {
        self.leader_state.lock().pending.is_some()
    }

    /// The replica state read-locked while this broker still follows `leader` at
    /// `epoch`, the leadership a fetch was sent under: a fetcher's answer is applied only
    /// then (Kafka checks the fetch state's epoch the same way), and no leadership change
    /// is applied while it is. Otherwise NOT_LEADER_OR_FOLLOWER, and nothing is done.
    fn following(
        &self,
        leader: i32,
        epoch: i32,
    ) -> Result<parking_lot::RwLockReadGuard<'_, ReplicaState>, PartitionError> {
        let st = self.replicas.read();
        if st.leader != leader || st.leader_epoch != epoch || leader == self.local_id {
            return Err(PartitionError::NotLeader(format!(
                "{}: no longer following {leader} at epoch {epoch}",
                self.topic_partition()
            )));
        }
        Ok(st)
    }

    /// Appends batches fetched from `leader` at `epoch`, unchanged
    /// ([`PartitionLog::append_as_follower`](crate::log::PartitionLog::append_as_follower)),
    /// then takes its high watermark (capped at this log's end). Returns the new log end.
    pub fn append_as_follower(
        &self,
        records: &[u8],
        leader_high_watermark: i64,
        (leader, epoch): (i32, i32),
    ) -> Result<i64, PartitionError> {
        let _following = self.following(leader, epoch)?;
        // an empty log started at the leader's log start, inside a batch (DeleteRecords
        // cut there): it starts again at that batch, the first one the leader serves
        // (Kafka's UnexpectedAppendOffsetException path)
        let first = crate::log::batch::BatchHeader::parse(records).map(|h| h.base_offset);
        if let Some(base) = first {
            let end = self.log.log_end_offset();
            if base < end && self.log.log_start_offset() == end {
                self.log.truncate_fully_and_start_at(base)?;
            }
        }
        let end = if records.is_empty() {
            self.log.log_end_offset()
        } else {
            self.log.append_as_follower(records)?
        };
        let hw = leader_high_watermark.min(end);
        let old = self.high_watermark.swap(hw, Ordering::AcqRel);
        if old != hw {
            // completed transactions below it no longer hold the last stable offset
            self.log.on_high_watermark(hw);
        }
        if old != hw || !records.is_empty() {
            self.waiters.wake_all();
        }
        Ok(end)
    }

    /// A follower's truncation at `offset` (where its log diverges from `leader`'s at
    /// `epoch`), if it still follows it there.
    pub fn truncate_as_follower(
        &self,
        offset: i64,
        (leader, epoch): (i32, i32),
    ) -> Result<i64, PartitionError> {
        let _following = self.following(leader, epoch)?;
        let end = self.log.truncate_to(offset)?;
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        Ok(end)
    }

    /// Kafka's `endOffsetForEpoch` on this replica's log: (the largest epoch at or below
    /// `epoch`, the offset where the next one starts or the log end).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(epoch)
    }

    /// The newest leader epoch in this replica's log, if any.
    pub fn latest_log_epoch(&self) -> Option<i32> {
        self.log.latest_epoch()
    }

    /// Empties the log and starts it again at `offset` (a follower behind the log start of
    /// `leader` at `epoch`), if it still follows it there.
    pub fn restart_as_follower(
        &self,
        offset: i64,
        (leader, epoch): (i32, i32),
    ) -> Result<i64, PartitionError> {
        let _following = self.following(leader, epoch)?;
        let end = self.log.truncate_fully_and_start_at(offset)?;
        self.high_watermark.store(end, Ordering::Release);
        Ok(end)
    }

    /// The number of in-sync replicas the metadata gives now.
    pub fn isr_len(&self) -> usize {
        self.replicas.read().isr.len()
    }
}

impl Partition {
    /// acks=all: waits until the high watermark reaches `offset` (every in-sync replica
    /// has the records below it), as Kafka's delayed produce does. `epoch` is the leader
    /// epoch the append was made under ([`AppendInfo::leader_epoch`](crate::log::AppendInfo)):
    /// once this broker no longer leads at it, the records may have been cut away, and
    /// the answer is NOT_LEADER_OR_FOLLOWER. NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
    /// shrank below `min.insync.replicas` meanwhile, REQUEST_TIMED_OUT after `timeout`.
    pub async fn wait_replicated(
        &self,
        offset: i64,
        epoch: i32,
        timeout: std::time::Duration,
    ) -> Result<(), crate::error::ErrorCode> {
        use crate::error::ErrorCode;
        let check = || -> Option<Result<(), ErrorCode>> {
            let st = self.replicas.read();
            if st.leader != self.local_id || st.leader_epoch != epoch {
                return Some(Err(ErrorCode::NotLeaderOrFollower));
            }
            if self.high_watermark() >= offset {
                let min_isr = usize::try_from(self.log.config().min_insync_replicas).unwrap_or(1);
                return Some(if st.isr.len() < min_isr {
                    Err(ErrorCode::NotEnoughReplicasAfterAppend)
                } else {
                    Ok(())
                });
            }
            None
        };
        if let Some(done) = check() {
            return done;
        }
        let waker: super::FetchWaker = std::sync::Arc::new(tokio::sync::Notify::new());
        let _registration = self.watch(&waker);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(done) = check() {
                return done;
            }
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return check().unwrap_or(Err(ErrorCode::RequestTimedOut));
                }
            }
        }
    }

    /// acks=all's check before the append: fewer in-sync replicas than
    /// `min.insync.replicas` is NOT_ENOUGH_REPLICAS (19).
    pub fn check_min_isr(&self) -> Result<(), crate::error::ErrorCode> {
        let min_isr = usize::try_from(self.log.config().min_insync_replicas).unwrap_or(1);
        if self.replicas.read().isr.len() < min_isr {
            Err(crate::error::ErrorCode::NotEnoughReplicas)
        } else {
            Ok(())
        }
    }
}

impl Partition {
    /// The log's size on disk (DescribeLogDirs).
    pub fn size_in_bytes(&self) -> u64 {
        self.log.size_in_bytes()
    }
}

impl Partition {
    /// Everything below this offset is on disk (fsynced): the log's recovery point.
    pub fn durable_offset(&self) -> i64 {
        self.log.recovery_point()
    }
}
