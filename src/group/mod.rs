//! The group coordinator: classic consumer groups and their committed offsets.
//!
//! - [`classic`]: one group's rebalance state machine under the classic protocol (Kafka's
//!   `ClassicGroup`), no I/O.
//! - [`shard`]: every group of one `__consumer_offsets` partition ([`GroupShard`]): the
//!   group APIs as events that return effects (records, answers, timers).
//! - [`records`]: Kafka's key/value schemas of `__consumer_offsets`.
//! - [`GroupCoordinator`] (here): what the handlers call. It routes a group to its shard
//!   and runs the event on the [`CoordinatorRuntime`], which does the I/O.
//!
//! Every group lives in one partition of the internal topic `__consumer_offsets`
//! (`Utils.abs(hash(group)) % offsets.topic.num.partitions`, as Kafka places it; groups an
//! older Rafka placed with the hash's sign bit cleared are moved at load), and so in that
//! partition's shard: groups of different partitions never wait for each other, and a
//! partition's groups could move to another broker with its leadership. Offset commits
//! and group metadata are appended there as records in Kafka's format; a commit is
//! acknowledged only after an fsync of that partition, and so is any answer of an event
//! that wrote (the leader's SyncGroup after the new assignment is stored). At start every
//! partition is replayed into its shard; one that cannot be (a corrupt batch) stays
//! failed, and its groups get NOT_COORDINATOR, as in Kafka, while the others are served. The topic is kept from growing without bound by
//! rewriting: once a partition has more than two segments, its live records (the latest
//! offset per group and partition, the group metadata) are appended again and everything
//! before them is deleted, the same result Kafka's log compaction reaches.

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod consumer_protocol;
pub mod consumer_records;
pub mod records;
pub mod shard;

use std::sync::Arc;

use tracing::{info, warn};

use crate::config::GroupConfig;
use crate::coordinator::{CoordinatorError, CoordinatorRuntime};
use crate::error::ErrorCode;
use crate::log::LogError;
use crate::partition::{Partition, PartitionError};
pub use classic::{
    DeferredResponse, GroupState, JoinRequest, JoinResponse, JoinedMember, MemberSummary,
    SyncRequest, SyncResponse,
};
pub use shard::{Commit, CommitRequest, FetchedOffsets, GroupShard, GroupSummary};

pub use crate::topic::OFFSETS_TOPIC;

/// The coordinator; one per broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    runtime: CoordinatorRuntime<GroupShard>,
    /// How many partitions `__consumer_offsets` has in all (a cluster broker may host
    /// some of them only): a group's partition is its hash modulo this.
    partition_count: i32,
    /// Partition index → the position of its shard in the runtime (the hosted ones).
    shards: std::collections::HashMap<i32, usize>,
    /// One [`Self::relocate_misplaced`] at a time (each publish of a cluster broker starts
    /// one): two would export, import and evict the same group interleaved.
    relocating: parking_lot::Mutex<()>,
    /// A run was asked for while one was under way: the running one goes again (it may
    /// have skipped a group for a partition this broker has led since).
    rerun: std::sync::atomic::AtomicBool,
    /// Misplaced groups already warned about as not movable (warned once, not per publish).
    warned: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// The error of a JoinGroup, SyncGroup, Heartbeat or LeaveGroup whose write failed, as
/// Kafka maps a failed group metadata append: the client finds the coordinator again.
fn group_write_error(e: &CoordinatorError) -> ErrorCode {
    if let Some(code) = e.placement_code() {
        return code;
    }
    match e {
        CoordinatorError::Gone => ErrorCode::UnknownServerError,
        // the partition moved while the event ran
        CoordinatorError::Append {
            code: ErrorCode::NotLeaderOrFollower,
            ..
        } => ErrorCode::NotCoordinator,
        _ => ErrorCode::CoordinatorNotAvailable,
    }
}

/// The OffsetCommit error for a failed write, as Kafka maps storage errors.
fn commit_error(e: &CoordinatorError) -> ErrorCode {
    if let Some(code) = e.placement_code() {
        return code;
    }
    match e.append_code() {
        Some(ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge) => {
            ErrorCode::InvalidCommitOffsetSize
        }
        _ => ErrorCode::CoordinatorNotAvailable,
    }
}

/// The error of a DeleteGroups or OffsetDelete that could not run.
fn admin_error(e: &CoordinatorError) -> ErrorCode {
    if let Some(code) = e.placement_code() {
        return code;
    }
    match e {
        CoordinatorError::NotLoaded { .. } | CoordinatorError::NoShard(_) => {
            ErrorCode::NotCoordinator
        }
        _ => ErrorCode::UnknownServerError,
    }
}

/// How long a group's move waits for its new partition's ISR before leaving the old copy
/// in place (the next leadership change or start tries again).
const REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl GroupCoordinator {
    /// Replays `logs` (the partitions of `__consumer_offsets` this broker hosts, all of
    /// them on a single node), one shard each; the topic has `partition_count` in all.
    pub fn load(
        config: GroupConfig,
        logs: Vec<Arc<Partition>>,
        partition_count: i32,
    ) -> Result<Self, PartitionError> {
        if logs.is_empty() {
            return Err(
                LogError::Internal(format!("{OFFSETS_TOPIC} has no partitions here")).into(),
            );
        }
        let shards = logs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.index(), i))
            .collect();
        let runtime =
            CoordinatorRuntime::load(logs, move |p| GroupShard::for_partition(config, p.index()))?;
        let groups: usize = runtime.read_all(GroupShard::group_count).iter().sum();
        info!(groups, "loaded consumer groups from {OFFSETS_TOPIC}");
        let coordinator = GroupCoordinator {
            config,
            runtime,
            partition_count: partition_count.max(1),
            shards,
            relocating: parking_lot::Mutex::new(()),
            rerun: std::sync::atomic::AtomicBool::new(false),
            warned: parking_lot::Mutex::new(std::collections::HashSet::new()),
        };
        coordinator.relocate_misplaced();
        Ok(coordinator)
    }

    /// Moves the groups that sit in another partition than Kafka's placement says (an
    /// older Rafka cleared the hash's sign bit where Kafka takes `Utils.abs`, so a group
    /// with a negative hash was elsewhere once the topic has more than one partition):
    /// its offsets and metadata are written to its partition as coordinator writes
    /// (fsynced), then tombstones for them to the old one, so nothing committed is lost
    /// and a second run finds nothing to move. Done when this broker leads both
    /// partitions (always on a single node); otherwise the group is named in a warning.
    /// Blocks (writes and fsyncs): at load, or from the blocking pool. The number of
    /// groups moved.
    pub fn relocate_misplaced(&self) -> usize {
        use std::sync::atomic::Ordering;
        // another run under way goes again for this one
        self.rerun.store(true, Ordering::SeqCst);
        let mut moved = 0;
        loop {
            let Some(one) = self.relocating.try_lock() else {
                return moved;
            };
            while self.rerun.swap(false, Ordering::SeqCst) {
                moved += self.relocate_pass();
            }
            drop(one);
            // asked again between the last pass and the unlock: nobody else saw it
            if !self.rerun.load(Ordering::SeqCst) {
                return moved;
            }
        }
    }

    /// One pass of [`Self::relocate_misplaced`] over the hosted partitions.
    fn relocate_pass(&self) -> usize {
        let mut moved = 0;
        let mut hosted: Vec<(i32, usize)> = self.shards.iter().map(|(p, i)| (*p, *i)).collect();
        hosted.sort();
        for (from_partition, from) in hosted {
            let Ok(ids) = self.runtime.read(from, GroupShard::group_ids) else {
                continue;
            };
            for group in ids {
                let to_partition = self.partition_index_of(&group);
                if to_partition == from_partition {
                    continue;
                }
                match self.relocate(&group, from, to_partition) {
                    Ok(()) => {
                        moved += 1;
                        info!(
                            group,
                            from = from_partition,
                            to = to_partition,
                            "moved a group to the {OFFSETS_TOPIC} partition Kafka places it in"
                        );
                    }
                    Err(cause) => {
                        if self.warned.lock().insert(group.clone()) {
                            warn!(
                                group,
                                from = from_partition,
                                to = to_partition,
                                %cause,
                                "a group sits in another {OFFSETS_TOPIC} partition than \
                                 Kafka's placement and could not be moved (tried again at each \
                                 leadership change and start): its coordinator will not find it"
                            );
                        }
                    }
                }
            }
        }
        moved
    }

    /// Follows the partitions' leadership ([`CoordinatorRuntime::sync_leadership`]), then
    /// moves the misplaced groups of what this broker now leads (in a cluster a group
    /// moves once this broker leads both its old and its new partition). Blocks.
    pub fn sync_leadership(&self) {
        self.runtime.sync_leadership();
        self.relocate_misplaced();
    }

    /// One group of [`Self::relocate_misplaced`]: written to its partition first, then
    /// removed from the old one (a crash between leaves it in both, and the next load
    /// moves only what its partition does not have yet).
    fn relocate(&self, group: &str, from: usize, to_partition: i32) -> Result<(), String> {
        let to = *self
            .shards
            .get(&to_partition)
            .ok_or_else(|| format!("this broker does not host partition {to_partition}"))?;
        if !self.runtime.is_loaded(to) {
            return Err(format!(
                "this broker does not lead (or could not load) partition {to_partition}"
            ));
        }
        // offsets of a transaction still open would be completed by its marker in the old
        // partition, bringing the group back there: moved once it ends
        let pending = self
            .runtime
            .read(from, |s| !s.pending_of(group).is_empty())
            .map_err(|e| e.to_string())?;
        if pending {
            return Err("it has transactional offsets pending: moved after the transaction".into());
        }
        let exported = self
            .runtime
            .read(from, |s| s.export(group))
            .map_err(|e| e.to_string())?;
        let Some(exported) = exported else {
            return Ok(());
        };
        // the leadership the import is written under: lost during the wait below, the
        // import may be truncated while the high watermark still passes it
        let epoch = self.runtime.partition(to).map(|p| p.leader_epoch());
        self.runtime
            .write_blocking(to, |s, ctx| s.import(group, exported, ctx))
            .map_err(|e| e.to_string())?;
        // in a cluster the import must be on the new partition's ISR before the old copy
        // goes (a failover could truncate an import only its leader has)
        if let Some(p) = self.runtime.partition(to) {
            let end = p.log_end_offset();
            let deadline = std::time::Instant::now() + REPLICATION_WAIT;
            while p.high_watermark() < end {
                if std::time::Instant::now() >= deadline {
                    return Err(format!(
                        "the move to partition {to_partition} is not replicated yet"
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if !p.is_leader() || Some(p.leader_epoch()) != epoch {
                return Err(format!(
                    "this broker lost the leadership of partition {to_partition} during the move"
                ));
            }
        }
        // a group with members has sessions to expire, from its new shard
        self.runtime
            .write_blocking(to, |s, _| s.arm_timer(group))
            .map_err(|e| e.to_string())?;
        self.runtime
            .write_blocking(from, |s, ctx| s.evict(group, ctx))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The runtime the shards run on.
    pub fn runtime(&self) -> &CoordinatorRuntime<GroupShard> {
        &self.runtime
    }

    /// The index of the `__consumer_offsets` partition that holds `group`.
    pub fn partition_index_of(&self, group: &str) -> i32 {
        records::partition_for(group, self.partition_count)
    }

    /// The runtime's shard of `group`'s partition; one past the shards when this broker
    /// does not host it (the runtime then answers NOT_COORDINATOR).
    pub fn shard_of(&self, group: &str) -> usize {
        self.shards
            .get(&self.partition_index_of(group))
            .copied()
            .unwrap_or(self.runtime.shard_count())
    }

    /// The hosted partition of `__consumer_offsets` that holds `group`, if this broker
    /// hosts it: its leader coordinates the group.
    pub fn partition_of(&self, group: &str) -> Option<&Arc<Partition>> {
        self.runtime.partition(self.shard_of(group))
    }

    /// JoinGroup: the answer comes when the rebalance completes (at once for a classic
    /// member of a KIP-848 group, which needs the topics of `image`).
    pub async fn join(
        &self,
        group_id: &str,
        req: JoinRequest,
        image: consumer::TopicImage,
    ) -> JoinResponse {
        let member_id = req.member_id.clone();
        let answer = self
            .runtime
            .park(self.shard_of(group_id), |s, ctx| {
                s.join(group_id, req, &image, ctx)
            })
            .await;
        match answer {
            Ok(DeferredResponse::Join(r)) => r,
            Ok(DeferredResponse::Sync(_)) => {
                warn!(group = group_id, "a JoinGroup got a SyncGroup answer");
                JoinResponse::error(ErrorCode::UnknownServerError, &member_id)
            }
            Err(e) => JoinResponse::error(group_write_error(&e), &member_id),
        }
    }

    /// SyncGroup: followers' answers come with the leader's; every answer that follows
    /// the leader's comes once the new assignment is durable.
    pub async fn sync(&self, group_id: &str, req: SyncRequest) -> SyncResponse {
        let answer = self
            .runtime
            .park(self.shard_of(group_id), |s, ctx| s.sync(group_id, req, ctx))
            .await;
        match answer {
            Ok(DeferredResponse::Sync(r)) => r,
            Ok(DeferredResponse::Join(_)) => {
                warn!(group = group_id, "a SyncGroup got a JoinGroup answer");
                SyncResponse::error(ErrorCode::UnknownServerError)
            }
            Err(e) => {
                // as Kafka when it cannot store the group: the leader hears of it and rejoins
                warn!(group = group_id, cause = %e, "group metadata not durable");
                SyncResponse::error(group_write_error(&e))
            }
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848) against the topics of `image`.
    pub async fn consumer_heartbeat(
        &self,
        group_id: &str,
        hb: consumer::Heartbeat,
        image: consumer::TopicImage,
    ) -> consumer::HeartbeatResponse {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.consumer_heartbeat(group_id, hb, &image, ctx)
            })
            .await
            .unwrap_or_else(|e| {
                consumer::HeartbeatResponse::error(group_write_error(&e), e.to_string())
            })
    }

    /// Whether `group_id` is a KIP-848 consumer group now (a classic JoinGroup to it needs
    /// the topics).
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        self.runtime
            .read(self.shard_of(group_id), |s| {
                s.consumer_group(group_id).is_some()
            })
            .unwrap_or(false)
    }

    /// A KIP-848 consumer group, for ConsumerGroupDescribe (`Ok(None)`: none by that id).
    pub fn consumer_group(
        &self,
        group_id: &str,
    ) -> Result<Option<consumer::ConsumerGroup>, ErrorCode> {
        self.runtime
            .read(self.shard_of(group_id), |s| {
                s.consumer_group(group_id).cloned()
            })
            .map_err(|e| group_write_error(&e))
    }

    /// Heartbeat: the error code.
    pub async fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.heartbeat(group_id, generation, member_id, instance_id, ctx)
            })
            .await
            .unwrap_or_else(|e| group_write_error(&e))
    }

    /// LeaveGroup: the error for each (member id, instance id), or a group-level error.
    pub async fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.leave(group_id, members, ctx)
            })
            .await
            .unwrap_or_else(|e| Err(group_write_error(&e)))
    }

    /// OffsetCommit: validates membership, appends the offsets and answers once they are
    /// durable. `Err` is an error for every partition.
    pub async fn commit(&self, group_id: &str, req: CommitRequest) -> Result<(), ErrorCode> {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.commit(group_id, req, ctx)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(group = group_id, cause = %e, "could not store committed offsets");
                Err(commit_error(&e))
            })
    }

    /// OffsetFetch: the committed offset of each asked partition (`None`: none), or of
    /// every partition with one when `topics` is `None`.
    pub fn fetch(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<FetchedOffsets, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        self.runtime
            .read(self.shard_of(group_id), |s| s.fetch(group_id, topics))
            .map_err(|e| group_write_error(&e))
    }

    /// OffsetFetch with `require_stable`: the committed offsets (as [`Self::fetch`]) and,
    /// read at the same moment (one look at the shard, so a marker cannot fall between),
    /// the partitions an open transaction has committed an offset for, which are answered
    /// UNSTABLE_OFFSET_COMMIT. With `topics` `None` those are every partition of the
    /// group with a pending offset, listed in the answer even if nothing is committed.
    pub fn fetch_stable(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<(FetchedOffsets, Vec<(String, i32)>), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        self.runtime
            .read(self.shard_of(group_id), |s| {
                let all = topics.is_none();
                let mut fetched = s.fetch(group_id, topics);
                if all {
                    for (t, p) in s.pending_of(group_id) {
                        let listed = fetched
                            .iter()
                            .any(|(ft, ps)| *ft == t && ps.iter().any(|(fp, _)| *fp == p));
                        if !listed {
                            match fetched.iter_mut().find(|(ft, _)| *ft == t) {
                                Some((_, ps)) => ps.push((p, None)),
                                None => fetched.push((t, vec![(p, None)])),
                            }
                        }
                    }
                }
                let unstable = fetched
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |(p, _)| (t.clone(), *p)))
                    .filter(|(t, p)| s.has_pending(group_id, t, *p))
                    .collect();
                (fetched, unstable)
            })
            .map_err(|e| group_write_error(&e))
    }

    /// TxnOffsetCommit: the offsets are appended as the producer's transaction's, and
    /// count once it commits. `Err` is an error for every partition.
    pub async fn txn_commit(
        &self,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        req: CommitRequest,
    ) -> Result<(), ErrorCode> {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.txn_commit(group_id, producer_id, producer_epoch, req, ctx)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(group = group_id, cause = %e, "could not store transactional offsets");
                Err(commit_error(&e))
            })
    }

    /// A transaction's marker on `__consumer_offsets` partition `partition` (what
    /// WriteTxnMarkers does there): the offsets it committed become the groups' (COMMIT)
    /// or are dropped (ABORT).
    pub async fn complete_transaction(
        &self,
        partition: i32,
        marker: &crate::log::producer_state::TxnMarker,
    ) -> Result<(), ErrorCode> {
        let index = self
            .shards
            .get(&partition)
            .copied()
            .unwrap_or(self.runtime.shard_count());
        self.runtime
            .complete_transaction(index, marker)
            .await
            .map_err(|e| match e {
                CoordinatorError::NotLeader { .. } | CoordinatorError::NoShard(_) => {
                    ErrorCode::NotLeaderOrFollower
                }
                CoordinatorError::Append { code, .. } => code,
                e => e.placement_code().unwrap_or(ErrorCode::UnknownServerError),
            })
    }

    /// Every group, for ListGroups, by group id.
    pub fn list(&self) -> Vec<GroupSummary> {
        let mut out: Vec<GroupSummary> = self
            .runtime
            .read_all(GroupShard::list)
            .into_iter()
            .flatten()
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups; `None` for an unknown group, NOT_COORDINATOR for a group whose
    /// partition failed to load.
    pub fn describe(&self, group_id: &str) -> Result<Option<GroupSummary>, ErrorCode> {
        self.runtime
            .read(self.shard_of(group_id), |s| s.describe(group_id))
            .map_err(|e| group_write_error(&e))
    }

    /// DeleteGroups for one group: tombstones for its offsets and metadata.
    pub async fn delete(&self, group_id: &str) -> ErrorCode {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| s.delete(group_id, ctx))
            .await
            .unwrap_or_else(|e| {
                warn!(group = group_id, cause = %e, "could not delete the group");
                admin_error(&e)
            })
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        parts: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.runtime
            .write(self.shard_of(group_id), |s, ctx| {
                s.delete_offsets(group_id, parts, ctx)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(group = group_id, cause = %e, "could not delete offsets");
                Err(admin_error(&e))
            })
    }

    /// Group timers: session expiry and rebalance deadlines. Call often (every 100 ms or
    /// so), from the blocking pool.
    pub fn tick(&self) {
        self.runtime.tick();
    }

    /// Expires the offsets of groups without members after `offsets.retention.minutes`
    /// (counted from when the group became empty, or from the commit for groups that
    /// never had members), and forgets groups left with nothing. Blocks.
    pub fn expire_offsets(&self) -> usize {
        let retention = self.config.offsets_retention_ms;
        let expired: usize = self
            .runtime
            .write_each_blocking(|s, ctx| s.expire_offsets(retention, ctx))
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| warn!(cause = %e, "could not expire offsets"))
                    .ok()
            })
            .sum();
        if expired > 0 {
            info!(expired, "expired committed offsets");
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::log::partition_log::LoadOptions;
    use crate::log::{LogConfig, PartitionLog, TopicPartition};

    fn partitions(dir: &std::path::Path, count: i32) -> Vec<Arc<Partition>> {
        (0..count)
            .map(|i| {
                let (log, _) = PartitionLog::open(
                    dir.join(format!("{OFFSETS_TOPIC}-{i}")),
                    TopicPartition::new(OFFSETS_TOPIC, i),
                    LogConfig::default(),
                    None,
                    LoadOptions::default(),
                )
                .expect("open");
                Arc::new(Partition::new_local_leader(Arc::new(log), 1))
            })
            .collect()
    }

    fn simple_commit(offset: i64) -> CommitRequest {
        CommitRequest {
            version: 8,
            generation: -1,
            commits: vec![Commit {
                topic: "t".into(),
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: String::new(),
            }],
            ..CommitRequest::default()
        }
    }

    fn committed(gc: &GroupCoordinator, group: &str) -> Option<i64> {
        let fetched = gc
            .fetch(group, Some(vec![("t".into(), vec![0])]))
            .expect("fetch");
        fetched
            .first()
            .and_then(|(_, ps)| ps.first())
            .and_then(|(_, v)| v.as_ref().map(|v| v.offset))
    }

    /// Groups on different `__consumer_offsets` partitions proceed in parallel: while
    /// shard A is busy (its lock held), a commit to a group of shard B is written, made
    /// durable and acknowledged; A's commit waits for A only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn groups_on_different_partitions_proceed_in_parallel() {
        let dir = tempfile::tempdir().expect("tmp");
        let parts = partitions(dir.path(), 2);
        let gc = Arc::new(
            GroupCoordinator::load(GroupConfig::default(), parts.clone(), 2).expect("load"),
        );
        let a = "group-a".to_string();
        let b = (0..)
            .map(|i| format!("group-b{i}"))
            .find(|g| gc.shard_of(g) != gc.shard_of(&a))
            .expect("a group on the other partition");

        let held = gc.runtime().hold(gc.shard_of(&a)).expect("shard a");
        let a_commit = tokio::spawn({
            let (gc, a) = (Arc::clone(&gc), a.clone());
            async move { gc.commit(&a, simple_commit(1)).await }
        });
        let b_done = tokio::time::timeout(Duration::from_secs(10), gc.commit(&b, simple_commit(2)))
            .await
            .expect("b is not held up by a");
        assert_eq!(b_done, Ok(()));
        assert_eq!(parts[gc.shard_of(&b)].log_end_offset(), 1, "b's partition");
        assert!(!a_commit.is_finished(), "a waits for its shard");
        assert_eq!(parts[gc.shard_of(&a)].log_end_offset(), 0);

        drop(held);
        let a_done = tokio::time::timeout(Duration::from_secs(10), a_commit)
            .await
            .expect("a proceeds once its shard is free")
            .expect("task");
        assert_eq!(a_done, Ok(()));
        assert_eq!((committed(&gc, &a), committed(&gc, &b)), (Some(1), Some(2)));

        // each shard replays its own partition
        drop(gc);
        let again = GroupCoordinator::load(GroupConfig::default(), parts, 2).expect("reload");
        assert_eq!(
            (committed(&again, &a), committed(&again, &b)),
            (Some(1), Some(2))
        );
    }

    /// A rebalance through the runtime. With no initial delay the first join is answered
    /// at once (its timer is due when set, and fires in the same event); with a delay it
    /// is parked until a tick after the deadline. The group's timer follows its session
    /// afterwards.
    #[tokio::test]
    async fn a_first_join_is_answered_when_its_initial_delay_is_over() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        };
        let gc =
            Arc::new(GroupCoordinator::load(config, partitions(dir.path(), 3), 3).expect("load"));
        let joined = gc
            .join(
                "g",
                classic::test_join_request("", false),
                Default::default(),
            )
            .await;
        assert_eq!((joined.error, joined.generation), (ErrorCode::None, 1));
        let shard = gc.shard_of("g");
        let session = gc.runtime().timer_deadline(shard, &"g".to_string());
        assert!(session.is_some_and(|d| d >= 10_000), "{session:?}");
        assert_eq!(
            gc.describe("g").ok().flatten().map(|g| g.state),
            Some(GroupState::CompletingRebalance)
        );

        let dir = tempfile::tempdir().expect("tmp");
        let config = GroupConfig {
            initial_rebalance_delay_ms: 20,
            ..GroupConfig::default()
        };
        let gc =
            Arc::new(GroupCoordinator::load(config, partitions(dir.path(), 3), 3).expect("load"));
        let joining = tokio::spawn({
            let gc = Arc::clone(&gc);
            async move {
                gc.join(
                    "g",
                    classic::test_join_request("", false),
                    Default::default(),
                )
                .await
            }
        });
        let shard = gc.shard_of("g");
        while gc
            .runtime()
            .timer_deadline(shard, &"g".to_string())
            .is_none()
        {
            tokio::task::yield_now().await;
        }
        assert!(!joining.is_finished(), "parked for the initial delay");
        // ticks until the delay is over (bounded: 20 ms, so 5 s is far more than enough)
        for _ in 0..500 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let ticker = Arc::clone(&gc);
            tokio::task::spawn_blocking(move || ticker.tick())
                .await
                .expect("tick");
            if joining.is_finished() {
                break;
            }
        }
        assert!(joining.is_finished(), "not answered after 500 ticks");
        let joined = joining.await.expect("task");
        assert_eq!((joined.error, joined.generation), (ErrorCode::None, 1));
    }
}
