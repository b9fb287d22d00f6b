//! The group coordinator: classic consumer groups and their committed offsets.
//!
//! - [`state`]: one group's rebalance state machine (no I/O).
//! - [`records`]: Kafka's key/value schemas of `__consumer_offsets`.
//!
//! Every group lives in one partition of the internal topic `__consumer_offsets`
//! (`abs(hash(group)) % offsets.topic.num.partitions`, as Kafka places it). Offset commits
//! and group metadata are appended there as records in Kafka's format; a commit is
//! acknowledged only after an fsync of that partition. At start every partition is
//! replayed from its log start. The topic is kept from growing without bound by
//! rewriting: once a partition has more than two segments, its live records (the latest
//! offset per group and partition, the group metadata) are appended again and everything
//! before them is deleted, the same result Kafka's log compaction reaches.
//!
//! One mutex guards all groups; appends to the internal topic happen under it (page cache
//! writes, in order), fsyncs after it is released.

pub mod records;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tracing::{info, warn};

use crate::config::GroupConfig;
use crate::log::batch::BatchIter;
use crate::log::records::{decode_batch, encode_batch, NewRecord};
use crate::log::{now_ms, LogError};
use crate::partition::{AppendOrigin, Partition, PartitionError, ReadBound};
use records::{Entry, OffsetValue};
use state::{Group, Ms};
pub use state::{GroupState, JoinRequest, JoinResponse, MemberSummary, Reply, SyncResponse};

pub use crate::topic::OFFSETS_TOPIC;

/// Kafka error codes of the group APIs, as the wire's values (from [`ErrorCode`](crate::error::ErrorCode)).
pub mod code {
    use crate::error::ErrorCode;

    pub const NONE: i16 = ErrorCode::None.code();
    pub const UNKNOWN_SERVER_ERROR: i16 = ErrorCode::UnknownServerError.code();
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = ErrorCode::UnknownTopicOrPartition.code();
    pub const OFFSET_METADATA_TOO_LARGE: i16 = ErrorCode::OffsetMetadataTooLarge.code();
    pub const COORDINATOR_NOT_AVAILABLE: i16 = ErrorCode::CoordinatorNotAvailable.code();
    pub const ILLEGAL_GENERATION: i16 = ErrorCode::IllegalGeneration.code();
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = ErrorCode::InconsistentGroupProtocol.code();
    pub const INVALID_GROUP_ID: i16 = ErrorCode::InvalidGroupId.code();
    pub const UNKNOWN_MEMBER_ID: i16 = ErrorCode::UnknownMemberId.code();
    pub const INVALID_SESSION_TIMEOUT: i16 = ErrorCode::InvalidSessionTimeout.code();
    pub const REBALANCE_IN_PROGRESS: i16 = ErrorCode::RebalanceInProgress.code();
    pub const INVALID_COMMIT_OFFSET_SIZE: i16 = ErrorCode::InvalidCommitOffsetSize.code();
    pub const INVALID_REQUEST: i16 = ErrorCode::InvalidRequest.code();
    pub const NON_EMPTY_GROUP: i16 = ErrorCode::NonEmptyGroup.code();
    pub const GROUP_ID_NOT_FOUND: i16 = ErrorCode::GroupIdNotFound.code();
    pub const MEMBER_ID_REQUIRED: i16 = ErrorCode::MemberIdRequired.code();
    pub const GROUP_MAX_SIZE_REACHED: i16 = ErrorCode::GroupMaxSizeReached.code();
    pub const FENCED_INSTANCE_ID: i16 = ErrorCode::FencedInstanceId.code();
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = ErrorCode::GroupSubscribedToTopic.code();
}

/// A group, for ListGroups and DescribeGroups.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

/// One offset to commit.
#[derive(Clone, Debug)]
pub struct Commit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// The coordinator; one per broker.
pub struct GroupCoordinator {
    config: GroupConfig,
    /// Partition i of `__consumer_offsets`.
    logs: Vec<Arc<Partition>>,
    groups: Mutex<HashMap<String, Group>>,
    clock: Instant,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("partitions", &self.logs.len())
            .finish()
    }
}

/// Where a write went, to fsync before answering.
type Written = (Arc<Partition>, i64);

impl GroupCoordinator {
    /// Replays `logs` (the partitions of `__consumer_offsets`, in order).
    pub fn load(config: GroupConfig, logs: Vec<Arc<Partition>>) -> Result<Self, PartitionError> {
        let clock = Instant::now();
        let mut groups: HashMap<String, Group> = HashMap::new();
        let wall = now_ms();
        let mut records = 0usize;
        for log in &logs {
            let mut offset = log.log_start_offset();
            while offset < log.log_end_offset() {
                let data = log.read(offset, 1 << 20, true, ReadBound::LogEnd)?;
                if data.records.is_empty() {
                    break;
                }
                for (at, h) in BatchIter::new(&data.records) {
                    let Some(size) = h.size() else { break };
                    let Some(batch) = data.records.get(at..at + size) else {
                        break;
                    };
                    for r in decode_batch(batch)? {
                        if r.offset < offset {
                            continue;
                        }
                        records += 1;
                        let Some(key) = r.key.as_deref() else {
                            continue;
                        };
                        match records::decode(key, r.value.as_deref()) {
                            Some(Entry::Offset {
                                group,
                                topic,
                                partition,
                                value,
                            }) => {
                                let g = groups
                                    .entry(group.clone())
                                    .or_insert_with(|| Group::new(&group, wall));
                                match value {
                                    Some(v) => {
                                        g.offsets.insert((topic, partition), v);
                                    }
                                    None => {
                                        g.offsets.remove(&(topic, partition));
                                    }
                                }
                            }
                            Some(Entry::Group { group, value }) => match value {
                                Some(v) => groups
                                    .entry(group.clone())
                                    .or_insert_with(|| Group::new(&group, wall))
                                    .restore(v, 0),
                                None => {
                                    groups.remove(&group);
                                }
                            },
                            None => {}
                        }
                    }
                    offset = h.next_offset();
                }
            }
        }
        info!(
            groups = groups.len(),
            records, "loaded consumer groups from {OFFSETS_TOPIC}"
        );
        Ok(GroupCoordinator {
            config,
            logs,
            groups: Mutex::new(groups),
            clock,
        })
    }

    fn now(&self) -> Ms {
        self.clock.elapsed().as_millis() as Ms
    }

    /// The partition of `__consumer_offsets` that holds `group`: its leader coordinates
    /// the group.
    /// `None` only if the topic has no partitions (`offsets.topic.num.partitions` >= 1).
    pub fn partition_of(&self, group: &str) -> Option<&Arc<Partition>> {
        let p = records::partition_for(group, self.logs.len() as i32);
        usize::try_from(p).ok().and_then(|p| self.logs.get(p))
    }

    /// Appends records to the group's partition (under the groups lock, so in order).
    fn append(&self, group: &str, recs: &[NewRecord]) -> Result<Written, PartitionError> {
        let log = self.partition_of(group).ok_or_else(|| {
            PartitionError::Log(LogError::Internal(format!(
                "{OFFSETS_TOPIC} has no partitions"
            )))
        })?;
        let batch = encode_batch(recs, -1);
        let info = log.append(&batch, AppendOrigin::Coordinator)?;
        Ok((Arc::clone(log), info.last_offset + 1))
    }

    fn group_record(g: &Group, wall: i64) -> NewRecord {
        NewRecord {
            key: Some(records::group_key(&g.id)),
            value: Some(records::group_value(&g.to_stored())),
            headers: Vec::new(),
            timestamp: wall,
        }
    }

    /// Writes the group's metadata if it changed; failures are logged (the group keeps
    /// working in memory, as Kafka's does until its next successful write).
    fn persist_if_dirty(&self, g: &mut Group, wall: i64) -> Option<Written> {
        if !g.take_dirty() {
            return None;
        }
        match self.append(&g.id, &[Self::group_record(g, wall)]) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(group = %g.id, cause = %e, "could not store group metadata");
                None
            }
        }
    }

    fn flush(written: Option<Written>) -> Result<(), PartitionError> {
        match written {
            Some((log, offset)) => log.flush_to(offset),
            None => Ok(()),
        }
    }

    /// JoinGroup.
    pub fn join(&self, group_id: &str, req: JoinRequest) -> Reply<JoinResponse> {
        if group_id.is_empty() {
            return Reply::Now(JoinResponse::error(code::INVALID_GROUP_ID, &req.member_id));
        }
        let (now, wall) = (self.now(), now_ms());
        let mut groups = self.groups.lock();
        let g = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, wall));
        let reply = g.join(req, &self.config, now, wall);
        self.persist_if_dirty(g, wall);
        reply
    }

    /// SyncGroup. The leader's answer waits until the new assignment is durable.
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, bytes::Bytes)>,
    ) -> (Reply<SyncResponse>, Option<Written>) {
        let (now, wall) = (self.now(), now_ms());
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group_id) else {
            return (
                Reply::Now(SyncResponse::error(code::UNKNOWN_MEMBER_ID)),
                None,
            );
        };
        let reply = g.sync(
            generation,
            member_id,
            instance_id,
            protocol_type,
            protocol_name,
            assignments,
            now,
            wall,
        );
        let written = self.persist_if_dirty(g, wall);
        (reply, written)
    }

    /// fsyncs what [`Self::sync`] wrote.
    pub fn make_durable(written: Option<Written>) -> Result<(), PartitionError> {
        Self::flush(written)
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        let now = self.now();
        let mut groups = self.groups.lock();
        match groups.get_mut(group_id) {
            Some(g) => g.heartbeat(generation, member_id, instance_id, now),
            None => code::UNKNOWN_MEMBER_ID,
        }
    }

    /// LeaveGroup: the error for each (member id, instance id), or a group-level error.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<i16>, i16> {
        let (now, wall) = (self.now(), now_ms());
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group_id) else {
            return Err(code::UNKNOWN_MEMBER_ID);
        };
        let out = members
            .iter()
            .map(|(m, i)| g.leave(m, i.as_deref(), now, wall))
            .collect();
        self.persist_if_dirty(g, wall);
        Ok(out)
    }

    /// OffsetCommit: validates membership, appends the offsets and waits until they are
    /// durable. `Err` is an error for every partition.
    /// `version` is the OffsetCommit version: from v9 a commit with a generation to a
    /// group that does not exist is GROUP_ID_NOT_FOUND, before it ILLEGAL_GENERATION.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        version: i16,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        commits: Vec<Commit>,
    ) -> Result<(), i16> {
        if group_id.is_empty() {
            return Err(code::INVALID_GROUP_ID);
        }
        let (now, wall) = (self.now(), now_ms());
        let written = {
            let mut groups = self.groups.lock();
            match groups.get_mut(group_id) {
                Some(g) => g.validate_commit(generation, member_id, instance_id, now)?,
                None if generation < 0 => {}
                None if version >= 9 => return Err(code::GROUP_ID_NOT_FOUND),
                None => return Err(code::ILLEGAL_GENERATION),
            }
            if commits.is_empty() {
                return Ok(());
            }
            let values: Vec<(String, i32, OffsetValue)> = commits
                .into_iter()
                .map(|c| {
                    (
                        c.topic,
                        c.partition,
                        OffsetValue {
                            offset: c.offset,
                            leader_epoch: c.leader_epoch,
                            metadata: c.metadata,
                            commit_timestamp: wall,
                        },
                    )
                })
                .collect();
            let recs: Vec<NewRecord> = values
                .iter()
                .map(|(t, p, v)| NewRecord {
                    key: Some(records::offset_key(group_id, t, *p)),
                    value: Some(records::offset_value(v)),
                    headers: Vec::new(),
                    timestamp: wall,
                })
                .collect();
            let written = self.append(group_id, &recs).map_err(|e| {
                warn!(group = group_id, cause = %e, "could not store committed offsets");
                commit_error(&e)
            })?;
            let g = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, wall));
            for (t, p, v) in values {
                g.offsets.insert((t, p), v);
            }
            written
        };
        Self::flush(Some(written)).map_err(|e| {
            warn!(group = group_id, cause = %e, "could not fsync committed offsets");
            commit_error(&e)
        })
    }

    /// OffsetFetch: the committed offset of each asked partition (`None`: none), or of
    /// every partition with one when `topics` is `None`.
    #[allow(clippy::type_complexity)]
    pub fn fetch(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, Option<OffsetValue>)>)> {
        let groups = self.groups.lock();
        let offsets = groups.get(group_id).map(|g| &g.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let ps = parts
                        .into_iter()
                        .map(|p| {
                            let v = offsets.and_then(|o| o.get(&(t.clone(), p)).cloned());
                            (p, v)
                        })
                        .collect();
                    (t, ps)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> =
                    BTreeMap::new();
                for ((t, p), v) in offsets.into_iter().flatten() {
                    by_topic
                        .entry(t.clone())
                        .or_default()
                        .push((*p, Some(v.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// Every group, for ListGroups.
    pub fn list(&self) -> Vec<GroupSummary> {
        let groups = self.groups.lock();
        let mut out: Vec<GroupSummary> = groups.values().map(summary_without_members).collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups; `None` for an unknown group.
    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let groups = self.groups.lock();
        groups.get(group_id).map(|g| GroupSummary {
            members: g.members(),
            ..summary_without_members(g)
        })
    }

    /// DeleteGroups for one group: tombstones for its offsets and metadata.
    pub fn delete(&self, group_id: &str) -> i16 {
        let wall = now_ms();
        let written = {
            let mut groups = self.groups.lock();
            let Some(g) = groups.get(group_id) else {
                return code::GROUP_ID_NOT_FOUND;
            };
            if g.has_members() {
                return code::NON_EMPTY_GROUP;
            }
            let mut recs: Vec<NewRecord> = g
                .offsets
                .keys()
                .map(|(t, p)| tombstone(records::offset_key(group_id, t, *p), wall))
                .collect();
            recs.push(tombstone(records::group_key(group_id), wall));
            match self.append(group_id, &recs) {
                Ok(w) => {
                    groups.remove(group_id);
                    w
                }
                Err(e) => {
                    warn!(group = group_id, cause = %e, "could not delete the group");
                    return code::UNKNOWN_SERVER_ERROR;
                }
            }
        };
        match Self::flush(Some(written)) {
            Ok(()) => code::NONE,
            Err(_) => code::UNKNOWN_SERVER_ERROR,
        }
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub fn delete_offsets(&self, group_id: &str, parts: &[(String, i32)]) -> Result<Vec<i16>, i16> {
        let wall = now_ms();
        let (codes, written) = {
            let mut groups = self.groups.lock();
            let Some(g) = groups.get_mut(group_id) else {
                return Err(code::GROUP_ID_NOT_FOUND);
            };
            if g.has_members() && g.protocol_type() != Some("consumer") {
                return Err(code::NON_EMPTY_GROUP);
            }
            let subscribed = g.subscribed_topics();
            let mut codes = Vec::with_capacity(parts.len());
            let mut recs = Vec::new();
            for (t, p) in parts {
                if subscribed.contains(t) {
                    codes.push(code::GROUP_SUBSCRIBED_TO_TOPIC);
                    continue;
                }
                codes.push(code::NONE);
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    recs.push(tombstone(records::offset_key(group_id, t, *p), wall));
                }
            }
            if recs.is_empty() {
                return Ok(codes);
            }
            let w = self.append(group_id, &recs).map_err(|e| {
                warn!(group = group_id, cause = %e, "could not delete offsets");
                code::UNKNOWN_SERVER_ERROR
            })?;
            for ((t, p), c) in parts.iter().zip(&codes) {
                if *c == code::NONE {
                    g.offsets.remove(&(t.clone(), *p));
                }
            }
            (codes, w)
        };
        Self::flush(Some(written)).map_err(|_| code::UNKNOWN_SERVER_ERROR)?;
        Ok(codes)
    }

    /// Timers: session expiry and rebalance deadlines. Call often (every 100 ms or so).
    pub fn tick(&self) {
        let (now, wall) = (self.now(), now_ms());
        let mut groups = self.groups.lock();
        for g in groups.values_mut() {
            g.tick(now, wall);
            self.persist_if_dirty(g, wall);
        }
    }

    /// Expires the offsets of groups without members after `offsets.retention.minutes`
    /// (counted from when the group became empty, or from the commit for groups that
    /// never had members), and forgets groups left with nothing.
    pub fn expire_offsets(&self) -> usize {
        let wall = now_ms();
        let retention = self.config.offsets_retention_ms;
        let mut expired = 0;
        let mut groups = self.groups.lock();
        let ids: Vec<String> = groups.keys().cloned().collect();
        for id in ids {
            let Some(g) = groups.get_mut(&id) else {
                continue;
            };
            if g.has_members() {
                continue;
            }
            let since = g.protocol_type().map(|_| g.state_since());
            let doomed: Vec<(String, i32)> = g
                .offsets
                .iter()
                .filter(|(_, v)| wall - since.unwrap_or(v.commit_timestamp) >= retention)
                .map(|(k, _)| k.clone())
                .collect();
            let forget = doomed.len() == g.offsets.len();
            if doomed.is_empty() && !forget {
                continue;
            }
            let mut recs: Vec<NewRecord> = doomed
                .iter()
                .map(|(t, p)| tombstone(records::offset_key(&id, t, *p), wall))
                .collect();
            if forget {
                recs.push(tombstone(records::group_key(&id), wall));
            }
            if let Err(e) = self.append(&id, &recs) {
                warn!(group = %id, cause = %e, "could not expire offsets");
                continue;
            }
            expired += doomed.len();
            for k in &doomed {
                g.offsets.remove(k);
            }
            if forget {
                groups.remove(&id);
            }
        }
        if expired > 0 {
            info!(expired, "expired committed offsets");
        }
        expired
    }

    /// Rewrites the live records of every partition of `__consumer_offsets` that has
    /// grown past two segments, then deletes what came before them.
    pub fn compact(&self) -> Result<usize, PartitionError> {
        let mut compacted = 0;
        for (p, log) in self.logs.iter().enumerate() {
            if log.segment_base_offsets().len() <= 2 {
                continue;
            }
            let wall = now_ms();
            let start = {
                let groups = self.groups.lock();
                let start = log.log_end_offset();
                let mut recs = Vec::new();
                for g in groups.values() {
                    if records::partition_for(&g.id, self.logs.len() as i32) as usize != p {
                        continue;
                    }
                    if g.protocol_type().is_some() || g.generation() > 0 {
                        recs.push(Self::group_record(g, wall));
                    }
                    for ((t, part), v) in &g.offsets {
                        recs.push(NewRecord {
                            key: Some(records::offset_key(&g.id, t, *part)),
                            value: Some(records::offset_value(v)),
                            headers: Vec::new(),
                            timestamp: wall,
                        });
                    }
                }
                for chunk in recs.chunks(500) {
                    log.append(&encode_batch(chunk, -1), AppendOrigin::Coordinator)?;
                }
                start
            };
            log.flush()?;
            log.delete_records_before(start, AppendOrigin::Coordinator)?;
            compacted += 1;
            info!(
                partition = p,
                log_start = start,
                "compacted {OFFSETS_TOPIC}"
            );
        }
        Ok(compacted)
    }
}

fn tombstone(key: Vec<u8>, wall: i64) -> NewRecord {
    NewRecord {
        key: Some(key),
        value: None,
        headers: Vec::new(),
        timestamp: wall,
    }
}

fn summary_without_members(g: &Group) -> GroupSummary {
    GroupSummary {
        group_id: g.id.clone(),
        state: g.state(),
        protocol_type: g.protocol_type().unwrap_or_default().to_string(),
        protocol: g.protocol().unwrap_or_default().to_string(),
        members: Vec::new(),
    }
}

/// The OffsetCommit error for a failed write, as Kafka maps storage errors.
fn commit_error(e: &PartitionError) -> i16 {
    match e {
        PartitionError::Log(
            LogError::MessageTooLarge { .. } | LogError::RecordListTooLarge { .. },
        ) => code::INVALID_COMMIT_OFFSET_SIZE,
        _ => code::COORDINATOR_NOT_AVAILABLE,
    }
}
