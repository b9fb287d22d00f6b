//! The group coordinator's shard: every group of one `__consumer_offsets` partition, with
//! their committed offsets (the classic half of Kafka's `GroupMetadataManager` and its
//! `OffsetMetadataManager`, for one partition). The group APIs are its events; each
//! returns a [`GroupResult`] for the runtime ([`crate::coordinator`]) to carry out: the
//! records to append (group metadata, offset commits, tombstones), the answers to parked
//! JoinGroup and SyncGroup requests, and one timer per group (its next session expiry or
//! rebalance deadline). No I/O, no channels, no clock: time comes in the
//! [`EventContext`].
//!
//! Which records change the state when: group metadata describes a change the event
//! already made (written, not replayed); offsets and tombstones change the state only
//! once written (replayed), so a failed append changes nothing.

use std::collections::{BTreeMap, HashMap};

use super::classic::{
    ClassicGroup, DeferredResponse, GroupState, JoinRequest, JoinResponse, MemberSummary, Reply,
    SyncRequest, SyncResponse,
};
use super::consumer::{self, ConsumerGroup, TopicImage};
use super::consumer_records::ConsumerRecord;
use super::records::{self, Entry, GroupValue, OffsetValue};
use crate::config::GroupConfig;
use crate::coordinator::{CoordinatorResult, Effect, EventContext, Ms, Shard};
use crate::error::ErrorCode;
use crate::log::records::NewRecord;
use tracing::{debug, warn};

/// What a group event returns.
pub type GroupResult<T> = CoordinatorResult<T, GroupShard>;

/// Committed offsets as OffsetFetch answers them: by topic, `None` where there is none.
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<OffsetValue>)>)>;

/// A group, for ListGroups and DescribeGroups.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    /// "classic" or "consumer" (KIP-848), as ListGroups v5 reports it.
    pub group_type: &'static str,
    /// The state's name as ListGroups reports it (a consumer group's own states).
    pub state_name: &'static str,
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

/// An OffsetCommit request, decoded (the partitions that passed the handler's checks).
#[derive(Clone, Debug, Default)]
pub struct CommitRequest {
    /// The OffsetCommit version: from v9 a commit with a generation to a group that does
    /// not exist is GROUP_ID_NOT_FOUND, before it ILLEGAL_GENERATION.
    pub version: i16,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub commits: Vec<Commit>,
}

/// One open transaction's offsets: (group, topic, partition) → offset (`None`: deleted).
type PendingOffsets = BTreeMap<(String, String, i32), Option<OffsetValue>>;

/// The groups of one partition of `__consumer_offsets`.
#[derive(Debug)]
pub struct GroupShard {
    config: GroupConfig,
    /// Classic groups, and the committed offsets of every group (a consumer group's are
    /// here too, in an entry without classic members: both protocols share them).
    groups: HashMap<String, ClassicGroup>,
    /// KIP-848 consumer groups (`group.protocol=consumer`), stored as their records
    /// (`consumer_records`) and rebuilt from them at load.
    consumer_groups: HashMap<String, ConsumerGroup>,
    /// Offsets open transactions committed (TxnOffsetCommit), by producer id: they become
    /// the groups' when the transaction's COMMIT marker is written, and are dropped on
    /// its ABORT (Kafka's `pendingTransactionalOffsets`).
    pending_txn: HashMap<i64, PendingOffsets>,
    /// The partition's index, for the load's log lines.
    partition: i32,
    /// Records replayed since the last load that Rafka does not read: other key types
    /// (Kafka 4's KIP-848 consumer, share and streams group records), and records of a
    /// known type it cannot decode. Logged once per load, so a migration does not lose
    /// them silently.
    skipped_other: usize,
    unreadable: usize,
}

/// What a misplaced group carries to its new partition ([`GroupShard::export`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedGroup {
    pub offsets: Vec<((String, i32), OffsetValue)>,
    /// Its stored metadata, if it has any (not for an offsets-only group).
    pub metadata: Option<GroupValue>,
}

fn tombstone(key: Vec<u8>, wall: i64) -> NewRecord {
    NewRecord {
        key: Some(key),
        value: None,
        headers: Vec::new(),
        timestamp: wall,
    }
}

fn group_record(g: &ClassicGroup, wall: i64) -> NewRecord {
    NewRecord {
        key: Some(records::group_key(&g.id)),
        value: Some(records::group_value(&g.to_stored())),
        headers: Vec::new(),
        timestamp: wall,
    }
}

fn offset_record(group: &str, topic: &str, partition: i32, v: &OffsetValue) -> NewRecord {
    NewRecord {
        key: Some(records::offset_key(group, topic, partition)),
        value: Some(records::offset_value(v)),
        headers: Vec::new(),
        timestamp: v.commit_timestamp,
    }
}

/// The records of `commits` to `group`, committed at `wall`.
fn commit_records(group: &str, commits: Vec<Commit>, wall: i64) -> Vec<NewRecord> {
    commits
        .into_iter()
        .map(|c| {
            let v = OffsetValue {
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: c.metadata,
                commit_timestamp: wall,
            };
            offset_record(group, &c.topic, c.partition, &v)
        })
        .collect()
}

/// KIP-848 records of `group`, as appended.
fn consumer_records_of(
    group: &str,
    records: &[super::consumer_records::ConsumerRecord],
    wall: i64,
) -> Vec<NewRecord> {
    records
        .iter()
        .map(|r| {
            let (key, value) = super::consumer_records::encode(group, r);
            NewRecord {
                key: Some(key),
                value,
                headers: Vec::new(),
                timestamp: wall,
            }
        })
        .collect()
}

/// The (topic, partition) of each commit.
fn commit_parts(commits: &[Commit]) -> Vec<(&str, i32)> {
    commits
        .iter()
        .map(|c| (c.topic.as_str(), c.partition))
        .collect()
}

fn summary_without_members(g: &ClassicGroup) -> GroupSummary {
    GroupSummary {
        group_id: g.id.clone(),
        state: g.state(),
        group_type: "classic",
        state_name: g.state().name(),
        protocol_type: g.protocol_type().unwrap_or_default().to_string(),
        protocol: g.protocol().unwrap_or_default().to_string(),
        members: Vec::new(),
    }
}

impl GroupShard {
    pub fn new(config: GroupConfig) -> GroupShard {
        GroupShard::for_partition(config, -1)
    }

    /// The shard of `__consumer_offsets` partition `partition`.
    pub fn for_partition(config: GroupConfig, partition: i32) -> GroupShard {
        GroupShard {
            config,
            groups: HashMap::new(),
            consumer_groups: HashMap::new(),
            pending_txn: HashMap::new(),
            partition,
            skipped_other: 0,
            unreadable: 0,
        }
    }

    /// Every group id of the shard.
    pub fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// A group's offsets and metadata, to write in another partition (a group an older
    /// Rafka placed in the wrong one); `None` for an unknown group.
    pub fn export(&self, group_id: &str) -> Option<ExportedGroup> {
        let g = self.groups.get(group_id)?;
        Some(ExportedGroup {
            offsets: g
                .offsets
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            metadata: g.protocol_type().map(|_| g.to_stored()),
        })
    }

    /// Writes a group moved from another partition: its offsets this shard has none of
    /// for the same partition, and its metadata if this shard has none for it (what is
    /// here was written later, by this placement, and wins). The number of records.
    pub fn import(
        &mut self,
        group_id: &str,
        group: ExportedGroup,
        ctx: &EventContext,
    ) -> GroupResult<usize> {
        let here = self.groups.get(group_id);
        let mut recs = Vec::new();
        if let Some(meta) = group.metadata {
            if here.and_then(ClassicGroup::protocol_type).is_none() {
                recs.push(NewRecord {
                    key: Some(records::group_key(group_id)),
                    value: Some(records::group_value(&meta)),
                    headers: Vec::new(),
                    timestamp: ctx.wall,
                });
            }
        }
        for ((topic, partition), v) in &group.offsets {
            let known = here.is_some_and(|g| g.offsets.contains_key(&(topic.clone(), *partition)));
            if !known {
                recs.push(offset_record(group_id, topic, *partition, v));
            }
        }
        let n = recs.len();
        CoordinatorResult::of(n).with_replayed_records(recs)
    }

    /// Sets the group's timer as its state asks (after [`Self::import`] wrote it: a moved
    /// group with members has sessions to expire).
    pub fn arm_timer(&mut self, group_id: &str) -> GroupResult<()> {
        CoordinatorResult::of(()).with_effects([self.timer(group_id)])
    }

    /// Tombstones for everything of a group (its offsets and metadata), members or not:
    /// the group moved to another partition. The group is gone once they are written.
    pub fn evict(&mut self, group_id: &str, ctx: &EventContext) -> GroupResult<usize> {
        let Some(g) = self.groups.get(group_id) else {
            return CoordinatorResult::of(0);
        };
        let mut recs: Vec<NewRecord> = g
            .offsets
            .keys()
            .map(|(t, p)| tombstone(records::offset_key(group_id, t, *p), ctx.wall))
            .collect();
        recs.push(tombstone(records::group_key(group_id), ctx.wall));
        let n = recs.len();
        CoordinatorResult::of(n)
            .with_replayed_records(recs)
            .with_effects([Effect::Cancel(group_id.to_string())])
    }

    pub fn group(&self, group_id: &str) -> Option<&ClassicGroup> {
        self.groups.get(group_id)
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
            + self
                .consumer_groups
                .keys()
                .filter(|id| !self.groups.contains_key(*id))
                .count()
    }

    /// A KIP-848 consumer group.
    pub fn consumer_group(&self, group_id: &str) -> Option<&ConsumerGroup> {
        self.consumer_groups.get(group_id)
    }

    /// The group's timer: its next deadline, or none.
    fn timer(&self, group_id: &str) -> Effect<Self> {
        let classic = self
            .groups
            .get(group_id)
            .and_then(ClassicGroup::next_deadline);
        let modern = self
            .consumer_groups
            .get(group_id)
            .and_then(ConsumerGroup::next_deadline);
        match classic.into_iter().chain(modern).min() {
            Some(deadline) => Effect::Schedule {
                key: group_id.to_string(),
                deadline,
            },
            None => Effect::Cancel(group_id.to_string()),
        }
    }

    /// After an event on a group: its metadata if it changed, the answers it gave to
    /// parked requests, its timer.
    fn finish<T>(&mut self, group_id: &str, response: T, wall: i64) -> GroupResult<T> {
        let timer = self.timer(group_id);
        let Some(g) = self.groups.get_mut(group_id) else {
            return CoordinatorResult::of(response).with_effects([timer]);
        };
        let records = if g.take_dirty() {
            vec![group_record(g, wall)]
        } else {
            Vec::new()
        };
        let answers = g
            .take_answers()
            .into_iter()
            .map(|(id, answer)| Effect::Respond(id, answer));
        CoordinatorResult::of(response)
            .with_records(records)
            .with_effects(answers.chain([timer]).collect::<Vec<_>>())
    }

    /// JoinGroup: parks the request (`ctx.request`) or answers it at once.
    pub fn join(
        &mut self,
        group_id: &str,
        req: JoinRequest,
        image: &TopicImage,
        ctx: &EventContext,
    ) -> GroupResult<()> {
        let me = ctx.request;
        if group_id.is_empty() {
            let answer = JoinResponse::error(ErrorCode::InvalidGroupId, &req.member_id);
            return CoordinatorResult::of(())
                .with_effects([Effect::Respond(me, DeferredResponse::Join(answer))]);
        }
        // an empty consumer group becomes classic again (its records deleted); one with
        // members takes the classic member in (KIP-848's mixed group)
        let mut converted = Vec::new();
        match self.consumer_groups.get(group_id) {
            Some(cg) if !cg.is_empty() => {
                return self.classic_join_to_consumer(group_id, req, image, ctx);
            }
            Some(cg) => {
                converted = consumer_records_of(group_id, &consumer::tombstones(cg), ctx.wall);
                self.consumer_groups.remove(group_id);
            }
            None => {}
        }
        let g = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| ClassicGroup::new(group_id, ctx.wall));
        let reply = g.join(req, me, &self.config, ctx.now, ctx.wall);
        let result = CoordinatorResult::of(())
            .with_records(converted)
            .merge(self.finish(group_id, (), ctx.wall));
        match reply {
            Reply::Now(answer) => {
                result.with_effects([Effect::Respond(me, DeferredResponse::Join(answer))])
            }
            Reply::Parked => result,
        }
    }

    /// A classic JoinGroup to a consumer group with members: answered at once, the
    /// member's generation being its epoch and its assignment coming from SyncGroup
    /// (Kafka's `classicGroupJoinToConsumerGroup`; no member is the leader).
    fn classic_join_to_consumer(
        &mut self,
        group_id: &str,
        req: JoinRequest,
        image: &TopicImage,
        ctx: &EventContext,
    ) -> GroupResult<()> {
        let me = ctx.request;
        let answer_now = |answer: JoinResponse| {
            CoordinatorResult::of(())
                .with_effects([Effect::Respond(me, DeferredResponse::Join(answer))])
        };
        if req.protocol_type != "consumer" || req.protocols.is_empty() {
            return answer_now(JoinResponse::error(
                ErrorCode::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        let mut member_id = req.member_id.clone();
        if member_id.is_empty() {
            member_id = uuid::Uuid::new_v4().to_string();
            // (a static member is known by its instance id)
            if req.require_known_member_id && req.instance_id.is_none() {
                return answer_now(JoinResponse::error(ErrorCode::MemberIdRequired, &member_id));
            }
        }
        let cfg = self.config.consumer;
        let Some(g) = self.consumer_groups.get_mut(group_id) else {
            return answer_now(JoinResponse::error(ErrorCode::UnknownMemberId, &member_id));
        };
        let before = g.clone();
        let joined = g.classic_join(
            consumer::ClassicJoin {
                member_id: member_id.clone(),
                instance_id: req.instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
            },
            image,
            &cfg,
            ctx.now,
        );
        let answer = match joined {
            Ok((id, generation, protocol)) => JoinResponse {
                error: ErrorCode::None,
                generation,
                protocol_type: Some("consumer".into()),
                protocol_name: Some(protocol),
                leader: String::new(),
                skip_assignment: false,
                member_id: id,
                members: Vec::new(),
            },
            Err(e) => JoinResponse::error(e, &member_id),
        };
        let records = consumer_records_of(group_id, &consumer::changes(&before, g), ctx.wall);
        CoordinatorResult::of(())
            .with_records(records)
            .with_effects([
                Effect::Respond(me, DeferredResponse::Join(answer)),
                self.timer(group_id),
            ])
    }

    /// KIP-848's online upgrade (a consumer-protocol member joins a classic group with
    /// members): the classic group's members become a consumer group's at its
    /// generation, its metadata is deleted (offsets kept), parked JoinGroup and SyncGroup
    /// requests are told to rejoin. `None` when the group cannot be upgraded (another
    /// protocol type, too many members for `group.consumer.max.size`).
    fn upgrade(
        &mut self,
        group_id: &str,
        image: &TopicImage,
        ctx: &EventContext,
    ) -> Option<(Vec<NewRecord>, Vec<Effect<Self>>)> {
        let g = self.groups.get_mut(group_id)?;
        let cfg = self.config.consumer;
        if !cfg.upgrade || g.protocol_type() != Some("consumer") || g.member_count() > cfg.max_size
        {
            return None;
        }
        let (generation, _protocol, members) = g.hand_over(ctx.wall);
        let answers: Vec<Effect<Self>> = g
            .take_answers()
            .into_iter()
            .map(|(id, answer)| Effect::Respond(id, answer))
            .collect();
        let cg =
            ConsumerGroup::from_classic(group_id, generation, members, image, ctx.now, ctx.wall);
        let mut records = vec![tombstone(records::group_key(group_id), ctx.wall)];
        records.extend(consumer_records_of(
            group_id,
            &consumer::changes(&ConsumerGroup::new(group_id, ctx.wall), &cg),
            ctx.wall,
        ));
        self.consumer_groups.insert(group_id.to_string(), cg);
        Some((records, answers))
    }

    /// KIP-848's online downgrade: once only classic-protocol members are left (the last
    /// consumer-protocol one left or was fenced), the group becomes classic again at its
    /// epoch, each member's target as its assignment, and rebalances so they rejoin. The
    /// consumer group's tombstones; the classic record comes with [`Self::finish`].
    fn maybe_downgrade(&mut self, group_id: &str, now: Ms, wall: i64) -> Vec<NewRecord> {
        let Some(cg) = self.consumer_groups.get(group_id) else {
            return Vec::new();
        };
        // (Kafka also keeps a group too large for group.max.size a consumer group)
        if !self.config.consumer.downgrade
            || !cg.only_classic_members()
            || cg.members.len() > self.config.max_size
        {
            return Vec::new();
        }
        let (value, protocols) = cg.to_classic(wall);
        let records = consumer_records_of(group_id, &consumer::tombstones(cg), wall);
        self.consumer_groups.remove(group_id);
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| ClassicGroup::new(group_id, wall))
            .take_back(value, &protocols, now, wall);
        records
    }

    /// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats and leaves of a consumer group
    /// member, against the topics of `image`. The records of what changed are written
    /// (the change is already made), and the answer waits for them.
    pub fn consumer_heartbeat(
        &mut self,
        group_id: &str,
        hb: consumer::Heartbeat,
        image: &TopicImage,
        ctx: &EventContext,
    ) -> GroupResult<consumer::HeartbeatResponse> {
        use consumer::HeartbeatResponse as R;
        let cfg = self.config.consumer;
        let leaving = hb.member_epoch < 0;
        let mut created = false;
        let mut upgraded = (Vec::new(), Vec::new());
        let mut backup = None;
        if !self.consumer_groups.contains_key(group_id) {
            let classic_busy = self
                .groups
                .get(group_id)
                .is_some_and(|g| g.has_members() || g.state() != GroupState::Empty);
            if classic_busy {
                backup = self.groups.get(group_id).cloned();
                match (hb.member_epoch == 0)
                    .then(|| self.upgrade(group_id, image, ctx))
                    .flatten()
                {
                    Some(done) => upgraded = done,
                    None => {
                        return CoordinatorResult::of(R::error(
                            ErrorCode::GroupIdNotFound,
                            format!("Group {group_id} is not a consumer group."),
                        ))
                    }
                }
            }
        }
        if !self.consumer_groups.contains_key(group_id) {
            if leaving {
                return CoordinatorResult::of(R::error(
                    ErrorCode::GroupIdNotFound,
                    format!("Group {group_id} not found."),
                ));
            }
            if hb.member_epoch != 0 {
                return CoordinatorResult::of(R::error(
                    ErrorCode::GroupIdNotFound,
                    format!("Group {group_id} not found."),
                ));
            }
            self.consumer_groups
                .insert(group_id.to_string(), ConsumerGroup::new(group_id, ctx.wall));
            created = true;
        }
        let Some(g) = self.consumer_groups.get_mut(group_id) else {
            return CoordinatorResult::of(R::error(ErrorCode::UnknownServerError, "group lost"));
        };
        let before = g.clone();
        let response = if leaving {
            g.leave(&hb, ctx.wall)
        } else {
            g.heartbeat(hb, image, &cfg, ctx.now)
        };
        // a join refused leaves no group behind, nor an upgrade (Kafka rolls the event
        // back): the classic group is as it was, its parked requests still parked
        if response.error != ErrorCode::None && (created || !upgraded.0.is_empty()) {
            self.consumer_groups.remove(group_id);
            if let Some(classic) = backup {
                self.groups.insert(group_id.to_string(), classic);
            }
            return CoordinatorResult::of(response);
        }
        let (mut records, answers) = upgraded;
        records.extend(consumer_records_of(
            group_id,
            &consumer::changes(&before, g),
            ctx.wall,
        ));
        if leaving {
            records.extend(self.maybe_downgrade(group_id, ctx.now, ctx.wall));
        }
        CoordinatorResult::of(())
            .with_records(records)
            .with_effects(answers)
            .merge(self.finish(group_id, response, ctx.wall))
    }

    /// SyncGroup: parks the request or answers it at once. The leader's sync stores the
    /// group's new assignment; the runtime answers every member once it is durable.
    pub fn sync(
        &mut self,
        group_id: &str,
        req: SyncRequest,
        ctx: &EventContext,
    ) -> GroupResult<()> {
        let me = ctx.request;
        if let Some(cg) = self
            .consumer_groups
            .get_mut(group_id)
            .filter(|g| !g.is_empty())
        {
            let protocol_type = req.protocol_type.clone();
            let answer = match protocol_type.as_deref() {
                Some(t) if t != "consumer" => {
                    SyncResponse::error(ErrorCode::InconsistentGroupProtocol)
                }
                _ => match cg.classic_sync(
                    &req.member_id,
                    req.instance_id.as_deref(),
                    req.generation,
                    ctx.now,
                ) {
                    Ok(assignment) => SyncResponse {
                        error: ErrorCode::None,
                        protocol_type,
                        protocol_name: req.protocol_name.clone(),
                        assignment,
                    },
                    Err(e) => SyncResponse::error(e),
                },
            };
            return CoordinatorResult::of(()).with_effects([
                Effect::Respond(me, DeferredResponse::Sync(answer)),
                self.timer(group_id),
            ]);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            let answer = SyncResponse::error(ErrorCode::UnknownMemberId);
            return CoordinatorResult::of(())
                .with_effects([Effect::Respond(me, DeferredResponse::Sync(answer))]);
        };
        let reply = g.sync(req, me, ctx.now, ctx.wall);
        let result = self.finish(group_id, (), ctx.wall);
        match reply {
            Reply::Now(answer) => {
                result.with_effects([Effect::Respond(me, DeferredResponse::Sync(answer))])
            }
            Reply::Parked => result,
        }
    }

    /// Heartbeat: the error code.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        ctx: &EventContext,
    ) -> GroupResult<ErrorCode> {
        if let Some(cg) = self
            .consumer_groups
            .get_mut(group_id)
            .filter(|g| !g.is_empty())
        {
            let code = cg.classic_heartbeat(member_id, instance_id, generation, ctx.now);
            return CoordinatorResult::of(code).with_effects([self.timer(group_id)]);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return CoordinatorResult::of(ErrorCode::UnknownMemberId);
        };
        let code = g.heartbeat(generation, member_id, instance_id, ctx.now);
        self.finish(group_id, code, ctx.wall)
    }

    /// LeaveGroup: the error for each (member id, instance id), or a group-level error.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        ctx: &EventContext,
    ) -> GroupResult<Result<Vec<ErrorCode>, ErrorCode>> {
        if let Some(cg) = self
            .consumer_groups
            .get_mut(group_id)
            .filter(|g| !g.is_empty())
        {
            let before = cg.clone();
            let codes: Vec<ErrorCode> = members
                .iter()
                .map(|(m, i)| cg.classic_leave(m, i.as_deref(), ctx.wall))
                .collect();
            let mut records =
                consumer_records_of(group_id, &consumer::changes(&before, cg), ctx.wall);
            records.extend(self.maybe_downgrade(group_id, ctx.now, ctx.wall));
            return CoordinatorResult::of(())
                .with_records(records)
                .merge(self.finish(group_id, Ok(codes), ctx.wall));
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return CoordinatorResult::of(Err(ErrorCode::UnknownMemberId));
        };
        let codes = members
            .iter()
            .map(|(m, i)| g.leave(m, i.as_deref(), ctx.now, ctx.wall))
            .collect();
        self.finish(group_id, Ok(codes), ctx.wall)
    }

    /// OffsetCommit: validates membership and returns the offsets to append; they are
    /// the group's once written (replayed), and acknowledged once durable.
    pub fn commit(
        &mut self,
        group_id: &str,
        req: CommitRequest,
        ctx: &EventContext,
    ) -> GroupResult<Result<(), ErrorCode>> {
        if group_id.is_empty() {
            return CoordinatorResult::of(Err(ErrorCode::InvalidGroupId));
        }
        let instance = req.instance_id.as_deref();
        if let Some(cg) = self.consumer_groups.get(group_id) {
            let parts = commit_parts(&req.commits);
            if let Err(e) =
                cg.validate_offset_commit(&req.member_id, req.generation, req.version, &parts)
            {
                return CoordinatorResult::of(Err(e));
            }
            let records = commit_records(group_id, req.commits, ctx.wall);
            return CoordinatorResult::of(Ok(())).with_replayed_records(records);
        }
        match self.groups.get_mut(group_id) {
            Some(g) => {
                if let Err(e) = g.validate_commit(req.generation, &req.member_id, instance, ctx.now)
                {
                    return CoordinatorResult::of(Err(e));
                }
            }
            None if req.generation < 0 => {}
            None if req.version >= 9 => {
                return CoordinatorResult::of(Err(ErrorCode::GroupIdNotFound))
            }
            None => return CoordinatorResult::of(Err(ErrorCode::IllegalGeneration)),
        }
        // the member's session was renewed: its group's timer moves
        let timer = self.timer(group_id);
        let records = commit_records(group_id, req.commits, ctx.wall);
        CoordinatorResult::of(Ok(()))
            .with_replayed_records(records)
            .with_effects([timer])
    }

    /// TxnOffsetCommit: validates membership (when the producer names its member and
    /// generation, v3+) and returns the offsets to append as the transaction's; they are
    /// the group's only once its COMMIT marker is written.
    pub fn txn_commit(
        &mut self,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        req: CommitRequest,
        ctx: &EventContext,
    ) -> GroupResult<Result<(), ErrorCode>> {
        if group_id.is_empty() {
            return CoordinatorResult::of(Err(ErrorCode::InvalidGroupId));
        }
        let instance = req.instance_id.as_deref();
        if let Some(cg) = self.consumer_groups.get(group_id) {
            // Kafka: a stale epoch is ILLEGAL_GENERATION here (the producer aborts)
            let parts = commit_parts(&req.commits);
            let checked =
                cg.validate_offset_commit(&req.member_id, req.generation, i16::MAX, &parts);
            if let Err(e) = checked {
                return CoordinatorResult::of(Err(match e {
                    ErrorCode::StaleMemberEpoch => ErrorCode::IllegalGeneration,
                    e => e,
                }));
            }
            let records = commit_records(group_id, req.commits, ctx.wall);
            return CoordinatorResult::of(Ok(()))
                .with_replayed_records(records)
                .in_transaction(producer_id, producer_epoch);
        }
        match self.groups.get_mut(group_id) {
            Some(g) if req.generation >= 0 || !req.member_id.is_empty() => {
                if let Err(e) = g.validate_commit(req.generation, &req.member_id, instance, ctx.now)
                {
                    return CoordinatorResult::of(Err(e));
                }
            }
            Some(_) => {}
            None if req.generation < 0 => {}
            None => return CoordinatorResult::of(Err(ErrorCode::IllegalGeneration)),
        }
        let records = commit_records(group_id, req.commits, ctx.wall);
        CoordinatorResult::of(Ok(()))
            .with_replayed_records(records)
            .in_transaction(producer_id, producer_epoch)
    }

    /// Whether an open transaction has committed an offset for the group's partition
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for it).
    pub fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.pending_txn.values().any(|m| m.contains_key(&key))
    }

    /// The group's partitions an open transaction has committed an offset for.
    pub fn pending_of(&self, group_id: &str) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = self
            .pending_txn
            .values()
            .flat_map(|m| m.keys())
            .filter(|(g, _, _)| g == group_id)
            .map(|(_, t, p)| (t.clone(), *p))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// OffsetFetch: the committed offset of each asked partition (`None`: none), or of
    /// every partition with one when `topics` is `None`.
    pub fn fetch(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> FetchedOffsets {
        let offsets = self.groups.get(group_id).map(|g| &g.offsets);
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

    /// Every group of the shard, without members (ListGroups).
    pub fn list(&self) -> Vec<GroupSummary> {
        let classic = self
            .groups
            .values()
            .filter(|g| !self.consumer_groups.contains_key(&g.id))
            .map(summary_without_members);
        let modern = self.consumer_groups.values().map(|g| GroupSummary {
            group_id: g.id.clone(),
            state: GroupState::Empty,
            group_type: "consumer",
            state_name: g.state().name(),
            protocol_type: "consumer".into(),
            protocol: String::new(),
            members: Vec::new(),
        });
        classic.chain(modern).collect()
    }

    /// DescribeGroups; `None` for an unknown group. A consumer group is described as
    /// Kafka's DescribeGroups does: Dead, no members, of type "consumer".
    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        if let Some(g) = self.consumer_groups.get(group_id) {
            return Some(GroupSummary {
                group_id: g.id.clone(),
                state: GroupState::Empty,
                group_type: "consumer",
                state_name: "Dead",
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        }
        self.groups.get(group_id).map(|g| GroupSummary {
            members: g.members(),
            ..summary_without_members(g)
        })
    }

    /// DeleteGroups for one group: tombstones for its offsets and metadata; the group is
    /// gone once they are written.
    pub fn delete(&mut self, group_id: &str, ctx: &EventContext) -> GroupResult<ErrorCode> {
        let mut recs = Vec::new();
        let modern = self.consumer_groups.get(group_id);
        if let Some(cg) = modern {
            if !cg.is_empty() {
                return CoordinatorResult::of(ErrorCode::NonEmptyGroup);
            }
            recs = consumer_records_of(group_id, &consumer::tombstones(cg), ctx.wall);
        }
        match self.groups.get(group_id) {
            Some(g) if g.has_members() => return CoordinatorResult::of(ErrorCode::NonEmptyGroup),
            Some(g) => {
                recs.extend(
                    g.offsets
                        .keys()
                        .map(|(t, p)| tombstone(records::offset_key(group_id, t, *p), ctx.wall)),
                );
                recs.push(tombstone(records::group_key(group_id), ctx.wall));
            }
            None if modern.is_none() => return CoordinatorResult::of(ErrorCode::GroupIdNotFound),
            None => {}
        }
        CoordinatorResult::of(ErrorCode::None)
            .with_replayed_records(recs)
            .with_effects([Effect::Cancel(group_id.to_string())])
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        parts: &[(String, i32)],
        ctx: &EventContext,
    ) -> GroupResult<Result<Vec<ErrorCode>, ErrorCode>> {
        let modern = self.consumer_groups.get(group_id);
        let Some(g) = self.groups.get(group_id) else {
            // a consumer group that committed nothing: nothing to delete
            return CoordinatorResult::of(match modern {
                Some(cg) => {
                    let subscribed = cg.subscribed_topics();
                    Ok(parts
                        .iter()
                        .map(|(t, _)| match subscribed.contains(t) {
                            true => ErrorCode::GroupSubscribedToTopic,
                            false => ErrorCode::None,
                        })
                        .collect())
                }
                None => Err(ErrorCode::GroupIdNotFound),
            });
        };
        if g.has_members() && g.protocol_type() != Some("consumer") {
            return CoordinatorResult::of(Err(ErrorCode::NonEmptyGroup));
        }
        let mut subscribed = g.subscribed_topics();
        subscribed.extend(
            modern
                .map(ConsumerGroup::subscribed_topics)
                .into_iter()
                .flatten(),
        );
        let mut codes = Vec::with_capacity(parts.len());
        let mut recs = Vec::new();
        for (t, p) in parts {
            if subscribed.contains(t) {
                codes.push(ErrorCode::GroupSubscribedToTopic);
                continue;
            }
            codes.push(ErrorCode::None);
            if g.offsets.contains_key(&(t.clone(), *p)) {
                recs.push(tombstone(records::offset_key(group_id, t, *p), ctx.wall));
            }
        }
        CoordinatorResult::of(Ok(codes)).with_replayed_records(recs)
    }

    /// Expires the offsets of groups without members after `retention_ms` (counted from
    /// when the group became empty, or from the commit for groups that never had
    /// members), and forgets groups left with nothing: the number of offsets expired.
    pub fn expire_offsets(&mut self, retention_ms: i64, ctx: &EventContext) -> GroupResult<usize> {
        let wall = ctx.wall;
        let mut recs = Vec::new();
        let mut forgotten = Vec::new();
        let mut expired = 0;
        for (id, g) in &self.groups {
            let modern = self.consumer_groups.get(id);
            if g.has_members() || modern.is_some_and(|c| !c.is_empty()) {
                continue;
            }
            // a consumer group's offsets expire by their commit time (Kafka's
            // ConsumerGroup), a classic group's from when it became empty
            let since = match modern {
                Some(_) => None,
                None => g.protocol_type().map(|_| g.state_since()),
            };
            let doomed: Vec<&(String, i32)> = g
                .offsets
                .iter()
                .filter(|(_, v)| wall - since.unwrap_or(v.commit_timestamp) >= retention_ms)
                .map(|(k, _)| k)
                .collect();
            let forget = doomed.len() == g.offsets.len();
            if doomed.is_empty() && !forget {
                continue;
            }
            expired += doomed.len();
            recs.extend(
                doomed
                    .iter()
                    .map(|(t, p)| tombstone(records::offset_key(id, t, *p), wall)),
            );
            if forget {
                if let Some(c) = modern {
                    recs.extend(consumer_records_of(id, &consumer::tombstones(c), wall));
                }
                recs.push(tombstone(records::group_key(id), wall));
                forgotten.push(Effect::Cancel(id.clone()));
            }
        }
        // empty consumer groups that hold no offsets go (Kafka's cleanup)
        for (id, c) in &self.consumer_groups {
            if !self.groups.contains_key(id) && c.is_empty() {
                recs.extend(consumer_records_of(id, &consumer::tombstones(c), wall));
                forgotten.push(Effect::Cancel(id.clone()));
            }
        }
        CoordinatorResult::of(expired)
            .with_replayed_records(recs)
            .with_effects(forgotten)
    }
}

impl GroupShard {
    /// A KIP-848 record at load (or a replayed tombstone of DeleteGroups): a tombstone of
    /// a group not here changes nothing; the group epoch's tombstone forgets the group.
    fn replay_consumer(&mut self, group: String, record: ConsumerRecord, wall: i64) {
        let tombstone = matches!(
            record,
            ConsumerRecord::GroupEpoch(None)
                | ConsumerRecord::TargetEpoch(None)
                | ConsumerRecord::PartitionMetadata
                | ConsumerRecord::Member { value: None, .. }
                | ConsumerRecord::TargetMember { value: None, .. }
                | ConsumerRecord::Current { value: None, .. }
        );
        if matches!(record, ConsumerRecord::GroupEpoch(None)) {
            self.consumer_groups.remove(&group);
            return;
        }
        if tombstone && !self.consumer_groups.contains_key(&group) {
            return;
        }
        self.consumer_groups
            .entry(group.clone())
            .or_insert_with(|| ConsumerGroup::new(&group, wall))
            .replay(record);
    }
}

impl Shard for GroupShard {
    type Deferred = DeferredResponse;
    /// A group id: each group has one timer.
    type TimerKey = String;

    fn replay(&mut self, key: &[u8], value: Option<&[u8]>, now: Ms, wall: i64) {
        let entry = match records::decode_record(key, value) {
            Ok(Some(entry)) => Some(entry),
            Ok(None) => {
                self.skipped_other += 1;
                None
            }
            Err(e) => {
                self.unreadable += 1;
                debug!(partition = self.partition, cause = %e, "unreadable record skipped");
                None
            }
        };
        match entry {
            Some(Entry::Offset {
                group,
                topic,
                partition,
                value,
            }) => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| ClassicGroup::new(&group, wall));
                match value {
                    Some(v) => {
                        g.offsets.insert((topic, partition), v);
                    }
                    None => {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            }
            Some(Entry::Consumer { group, record }) => self.replay_consumer(group, record, wall),
            Some(Entry::Group { group, value }) => match value {
                Some(v) => self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| ClassicGroup::new(&group, wall))
                    .restore(v, now),
                // the group's metadata is gone (deleted, or the group became a consumer
                // group): its offsets stay until their own tombstones
                None => match self.groups.get_mut(&group) {
                    Some(g) if !g.offsets.is_empty() => {
                        let offsets = std::mem::take(&mut g.offsets);
                        *g = ClassicGroup::new(&group, wall);
                        g.offsets = offsets;
                    }
                    _ => {
                        self.groups.remove(&group);
                    }
                },
            },
            None => {}
        }
    }

    fn replay_transactional(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
        now: Ms,
        wall: i64,
    ) {
        match records::decode(key, value) {
            Some(Entry::Offset {
                group,
                topic,
                partition,
                value,
            }) => {
                self.pending_txn
                    .entry(producer_id)
                    .or_default()
                    .insert((group, topic, partition), value);
            }
            // only offsets are written in a transaction
            _ => self.replay(key, value, now, wall),
        }
    }

    fn replay_end_txn(&mut self, producer_id: i64, commit: bool, wall: i64) {
        let Some(offsets) = self.pending_txn.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for ((group, topic, partition), value) in offsets {
            let g = self
                .groups
                .entry(group.clone())
                .or_insert_with(|| ClassicGroup::new(&group, wall));
            match value {
                Some(v) => {
                    g.offsets.insert((topic, partition), v);
                }
                None => {
                    g.offsets.remove(&(topic, partition));
                }
            }
        }
    }

    fn loaded(&mut self, now: Ms, wall: i64) -> Vec<Effect<Self>> {
        let partition = format!("{}-{}", records::OFFSETS_TOPIC, self.partition);
        let skipped = std::mem::take(&mut self.skipped_other);
        if skipped > 0 {
            warn!(
                %partition,
                skipped,
                "skipped records of group types Rafka does not serve (Kafka 4's share or \
                 streams group records, regex resolutions): their members, assignments and \
                 subscriptions are not carried over (their committed offsets are)"
            );
        }
        let unreadable = std::mem::take(&mut self.unreadable);
        if unreadable > 0 {
            warn!(%partition, unreadable, "skipped records that cannot be decoded");
        }
        let session = self.config.consumer.session_timeout_ms;
        for g in self.consumer_groups.values_mut() {
            g.loaded(now, session, wall);
        }
        let ids: std::collections::BTreeSet<&String> = self
            .groups
            .keys()
            .chain(self.consumer_groups.keys())
            .collect();
        ids.into_iter()
            .map(|id| self.timer(id))
            .filter(|e| matches!(e, Effect::Schedule { .. }))
            .collect()
    }

    fn on_timer(&mut self, group_id: String, now: Ms, wall: i64) -> GroupResult<()> {
        let mut fenced = Vec::new();
        if let Some(cg) = self.consumer_groups.get_mut(&group_id) {
            let before = cg.clone();
            for member in cg.expire(now, wall) {
                debug!(group = group_id, member, "consumer group member fenced");
            }
            fenced = consumer_records_of(&group_id, &consumer::changes(&before, cg), wall);
            fenced.extend(self.maybe_downgrade(&group_id, now, wall));
        }
        let Some(g) = self.groups.get_mut(&group_id) else {
            return CoordinatorResult::of(())
                .with_records(fenced)
                .with_effects([self.timer(&group_id)]);
        };
        g.tick(now, wall);
        CoordinatorResult::of(())
            .with_records(fenced)
            .merge(self.finish(&group_id, (), wall))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::ResponseId;
    use bytes::Bytes;

    fn ctx(now: Ms, request: u64) -> EventContext {
        EventContext {
            now,
            wall: 1_000 + now,
            request: ResponseId::new(request),
        }
    }

    fn cfg() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        }
    }

    fn join_req(member: &str) -> JoinRequest {
        super::super::classic::test_join_request(member, false)
    }

    fn responses(r: &GroupResult<impl Sized>) -> Vec<(ResponseId, DeferredResponse)> {
        r.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Respond(id, a) => Some((*id, a.clone())),
                _ => None,
            })
            .collect()
    }

    fn timers(r: &GroupResult<impl Sized>) -> Vec<(String, Option<Ms>)> {
        r.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Schedule { key, deadline } => Some((key.clone(), Some(*deadline))),
                Effect::Cancel(key) => Some((key.clone(), None)),
                _ => None,
            })
            .collect()
    }

    /// The whole first rebalance as effects, with no runtime: the join parks and sets the
    /// group's timer, the timer answers it, the leader's sync writes the metadata and
    /// answers it, a commit writes offsets that count only once replayed.
    #[test]
    fn a_rebalance_and_a_commit_are_effects() {
        let mut s = GroupShard::new(cfg());
        let r = s.join("g", join_req(""), &TopicImage::new(), &ctx(0, 1));
        assert!(responses(&r).is_empty(), "parked");
        assert!(r.records.is_empty());
        assert_eq!(timers(&r), vec![("g".to_string(), Some(0))]);

        let r = s.on_timer("g".into(), 100, 1_100);
        let answered = responses(&r);
        let [(id, DeferredResponse::Join(joined))] = answered.as_slice() else {
            panic!("one join answer: {answered:?}");
        };
        assert_eq!((*id, joined.generation), (ResponseId::new(1), 1));
        let member = joined.member_id.clone();
        assert_eq!(
            timers(&r),
            vec![("g".to_string(), Some(10_100))],
            "a's session"
        );

        let sync = SyncRequest {
            generation: 1,
            member_id: member.clone(),
            assignments: vec![(member.clone(), Bytes::from_static(b"A"))],
            ..SyncRequest::default()
        };
        let r = s.sync("g", sync, &ctx(200, 2));
        assert_eq!(r.records.len(), 1, "the group metadata");
        assert!(!r.replay, "already applied");
        let answered = responses(&r);
        let [(id, DeferredResponse::Sync(synced))] = answered.as_slice() else {
            panic!("one sync answer: {answered:?}");
        };
        assert_eq!(
            (*id, &synced.assignment[..]),
            (ResponseId::new(2), &b"A"[..])
        );

        let commit = CommitRequest {
            version: 8,
            generation: 1,
            member_id: member,
            instance_id: None,
            commits: vec![Commit {
                topic: "t".into(),
                partition: 0,
                offset: 42,
                leader_epoch: -1,
                metadata: String::new(),
            }],
        };
        let r = s.commit("g", commit, &ctx(300, 3));
        assert_eq!(r.response, Ok(()));
        assert!(r.replay && r.records.len() == 1);
        assert_eq!(s.fetch("g", None), vec![], "not before it is written");
        for rec in &r.records {
            let key = rec.key.as_deref().expect("key");
            s.replay(key, rec.value.as_deref(), 300, 1_300);
        }
        let fetched = s.fetch("g", Some(vec![("t".into(), vec![0, 1])]));
        let offsets: Vec<Option<i64>> = fetched
            .iter()
            .flat_map(|(_, ps)| ps.iter().map(|(_, v)| v.as_ref().map(|v| v.offset)))
            .collect();
        assert_eq!(offsets, vec![Some(42), None]);
    }

    #[test]
    fn group_level_errors_write_nothing() {
        let mut s = GroupShard::new(cfg());
        let r = s.join("", join_req(""), &TopicImage::new(), &ctx(0, 7));
        let answered = responses(&r);
        let [(id, DeferredResponse::Join(j))] = answered.as_slice() else {
            panic!("answered at once");
        };
        assert_eq!(
            (*id, j.error),
            (ResponseId::new(7), ErrorCode::InvalidGroupId)
        );
        let commit = |version| CommitRequest {
            version,
            generation: 3,
            ..CommitRequest::default()
        };
        let r = s.commit("nope", commit(9), &ctx(0, 8));
        assert_eq!(r.response, Err(ErrorCode::GroupIdNotFound));
        assert!(r.records.is_empty());
        let r = s.commit("nope", commit(8), &ctx(0, 9));
        assert_eq!(r.response, Err(ErrorCode::IllegalGeneration));
        assert_eq!(
            s.delete("nope", &ctx(0, 10)).response,
            ErrorCode::GroupIdNotFound
        );
        assert_eq!(
            s.heartbeat("nope", 1, "m", None, &ctx(0, 11)).response,
            ErrorCode::UnknownMemberId
        );
    }

    fn apply(s: &mut GroupShard, r: &GroupResult<usize>) {
        assert!(r.replay);
        for rec in &r.records {
            s.replay(rec.key.as_deref().expect("key"), rec.value.as_deref(), 0, 0);
        }
    }

    /// A group moved from another partition: what the target already has for it (written
    /// later, by the right placement) wins; the old shard's tombstones forget it.
    #[test]
    fn a_moved_group_keeps_the_newer_offsets_and_leaves_nothing_behind() {
        let v = |offset| OffsetValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 5,
        };
        let mut old = GroupShard::new(cfg());
        for (p, o) in [(0, 10), (1, 11)] {
            let rec = offset_record("g", "t", p, &v(o));
            old.replay(&rec.key.expect("key"), rec.value.as_deref(), 0, 0);
        }
        let mut new = GroupShard::new(cfg());
        let rec = offset_record("g", "t", 1, &v(99));
        new.replay(&rec.key.expect("key"), rec.value.as_deref(), 0, 0);

        let exported = old.export("g").expect("g");
        assert_eq!(exported.metadata, None, "an offsets-only group has none");
        let r = new.import("g", exported, &ctx(0, 1));
        assert_eq!(r.response, 1, "only t-0: t-1 is newer here");
        apply(&mut new, &r);
        let offsets: Vec<Option<i64>> = new
            .fetch("g", Some(vec![("t".into(), vec![0, 1])]))
            .into_iter()
            .flat_map(|(_, ps)| ps.into_iter().map(|(_, v)| v.map(|v| v.offset)))
            .collect();
        assert_eq!(offsets, vec![Some(10), Some(99)]);

        let r = old.evict("g", &ctx(0, 2));
        assert_eq!(r.response, 3, "two offsets and the group");
        assert!(r.records.iter().all(|rec| rec.value.is_none()));
        apply(&mut old, &r);
        assert!(old.group("g").is_none());
        assert_eq!(
            old.evict("g", &ctx(0, 3)).response,
            0,
            "nothing left to move"
        );
        // a second import of the same group writes nothing
        let again = ExportedGroup {
            offsets: vec![(("t".into(), 0), v(10))],
            metadata: None,
        };
        assert_eq!(new.import("g", again, &ctx(0, 4)).response, 0);
    }

    /// A moved group with a member: its metadata is written (replayed) in the new shard,
    /// and its timer follows the member's session there.
    #[test]
    fn a_moved_group_with_members_gets_its_timer() {
        let meta = GroupValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 0,
            members: vec![records::StoredMember {
                member_id: "m1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::new(),
                assignment: Bytes::new(),
            }],
        };
        let mut new = GroupShard::new(cfg());
        let moved = ExportedGroup {
            offsets: Vec::new(),
            metadata: Some(meta),
        };
        let r = new.import("g", moved, &ctx(100, 1));
        assert_eq!(r.response, 1);
        apply(&mut new, &r);
        assert_eq!(new.describe("g").map(|g| g.members.len()), Some(1));
        let armed = new.arm_timer("g");
        assert!(
            matches!(
                armed.effects.as_slice(),
                [Effect::Schedule { key, deadline }] if key == "g" && *deadline > 0
            ),
            "{:?}",
            timers(&armed)
        );
    }

    /// Records of group types Rafka does not serve (share groups: key type 10) and unreadable records are counted for
    /// the load's warning, and the count starts again at the next load.
    #[test]
    fn records_rafka_does_not_read_are_counted_per_load() {
        let mut s = GroupShard::for_partition(cfg(), 7);
        // a share group's record (type 10)
        let mut consumer_group_key = 10i16.to_be_bytes().to_vec();
        consumer_group_key.extend_from_slice(b"\x00\x01g");
        s.replay(&consumer_group_key, Some(b"\x00\x00"), 0, 0);
        s.replay(&consumer_group_key, None, 0, 0);
        let rec = offset_record(
            "g",
            "t",
            0,
            &OffsetValue {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
            },
        );
        let key = rec.key.expect("key");
        s.replay(&key, Some(&[0, 9, 1]), 0, 0);
        s.replay(&key, rec.value.as_deref(), 0, 0);
        assert_eq!((s.skipped_other, s.unreadable), (2, 1));
        assert_eq!(
            s.group_ids(),
            vec!["g".to_string()],
            "the readable offset counts"
        );
        s.loaded(0, 0);
        assert_eq!((s.skipped_other, s.unreadable), (0, 0));
    }

    /// A KIP-848 group's records rebuild it: a fresh shard that replays what two members'
    /// heartbeats wrote has the same epochs, targets and assignments, and answers the
    /// members at their epochs; DeleteGroups' tombstones forget it on replay.
    #[test]
    fn a_consumer_group_is_rebuilt_from_its_records() {
        use super::consumer::Heartbeat;
        let id = uuid::Uuid::from_u128(9);
        let image = TopicImage::from([("t".to_string(), (id, 4))]);
        let beat = |member: &str, epoch: i32, owned: Vec<i32>| Heartbeat {
            member_id: member.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            owned: Some(if owned.is_empty() {
                Vec::new()
            } else {
                vec![(id, owned)]
            }),
            ..Heartbeat::default()
        };
        let mut s = GroupShard::new(cfg());
        let mut written = Vec::new();
        let mut run = |s: &mut GroupShard, hb: Heartbeat, n: u64| {
            let r = s.consumer_heartbeat("g", hb, &image, &ctx(n as Ms, n));
            assert!(!r.replay, "applied already");
            written.extend(r.records.clone());
            r.response
        };
        let a = run(&mut s, beat("a", 0, vec![]), 1);
        assert_eq!(a.member_epoch, 1);
        run(&mut s, beat("b", 0, vec![]), 2);
        let a = run(&mut s, beat("a", 1, vec![0, 1, 2, 3]), 3);
        let kept: Vec<i32> = a
            .assignment
            .into_iter()
            .flatten()
            .flat_map(|(_, ps)| ps)
            .collect();
        assert_eq!(kept.len(), 2);
        run(&mut s, beat("a", 1, kept.clone()), 4);
        let b = run(&mut s, beat("b", 2, vec![]), 5);
        assert_eq!(b.member_epoch, 2);
        assert!(!written.is_empty());

        let mut again = GroupShard::new(cfg());
        for rec in &written {
            again.replay(rec.key.as_deref().expect("key"), rec.value.as_deref(), 0, 0);
        }
        assert_eq!((again.skipped_other, again.unreadable), (0, 0));
        let armed = again.loaded(100, 100);
        assert!(matches!(armed.as_slice(), [Effect::Schedule { key, .. }] if key == "g"));
        let (old, new) = (
            s.consumer_group("g").expect("g"),
            again.consumer_group("g").expect("g"),
        );
        assert_eq!(
            (new.group_epoch, new.assignment_epoch),
            (old.group_epoch, old.assignment_epoch)
        );
        assert_eq!(new.target, old.target);
        for (m, o) in &old.members {
            let n = &new.members[m];
            assert_eq!(
                (n.epoch, n.state, &n.assigned),
                (o.epoch, o.state, &o.assigned),
                "{m}"
            );
        }
        // the members carry on at their epochs against the rebuilt group
        let r = again.consumer_heartbeat("g", beat("a", 2, kept), &image, &ctx(200, 6));
        assert_eq!(
            (r.response.error, r.response.member_epoch),
            (ErrorCode::None, 2)
        );

        // deleted (once empty): the tombstones forget it on replay
        for m in ["a", "b"] {
            let leave = Heartbeat {
                member_epoch: -1,
                ..beat(m, 2, vec![])
            };
            let r = again.consumer_heartbeat("g", leave, &image, &ctx(300, 7));
            written.extend(r.records);
        }
        let r = again.delete("g", &ctx(400, 8));
        assert_eq!(r.response, ErrorCode::None);
        assert!(r.replay);
        written.extend(r.records);
        let mut third = GroupShard::new(cfg());
        for rec in &written {
            third.replay(rec.key.as_deref().expect("key"), rec.value.as_deref(), 0, 0);
        }
        assert!(third.consumer_group("g").is_none());
        assert!(third.list().is_empty());
    }

    /// KIP-848's online upgrade: a consumer-protocol join to a classic group with a
    /// member turns it into a consumer group whose classic member is Stable at the
    /// generation (its metadata tombstoned, offsets kept); with
    /// `group.consumer.migration.policy=downgrade` it is refused as Kafka does.
    #[test]
    fn a_classic_group_with_members_upgrades_unless_the_policy_forbids() {
        use super::consumer::Heartbeat;
        let stable_classic = |cfg: GroupConfig| {
            let mut s = GroupShard::new(cfg);
            s.join("g", join_req(""), &TopicImage::new(), &ctx(0, 1));
            let r = s.on_timer("g".into(), 10, 1_010);
            let answered = responses(&r);
            let Some((_, DeferredResponse::Join(joined))) = answered.first().cloned() else {
                panic!("a join answer: {answered:?}");
            };
            let sync = SyncRequest {
                generation: joined.generation,
                member_id: joined.member_id.clone(),
                assignments: vec![(joined.member_id.clone(), Bytes::new())],
                ..SyncRequest::default()
            };
            s.sync("g", sync, &ctx(20, 2));
            (s, joined.member_id, joined.generation)
        };
        let join = Heartbeat {
            member_id: "new".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned: Some(Vec::new()),
            ..Heartbeat::default()
        };
        let image = TopicImage::from([("t".to_string(), (uuid::Uuid::from_u128(1), 2))]);

        let mut refusing = cfg();
        refusing.consumer.upgrade = false;
        let (mut s, _, _) = stable_classic(refusing);
        assert_eq!(s.list()[0].state, GroupState::Stable, "{:?}", s.list());
        let r = s.consumer_heartbeat("g", join.clone(), &image, &ctx(30, 3));
        assert_eq!(r.response.error, ErrorCode::GroupIdNotFound);
        assert!(s.consumer_group("g").is_none());

        let (mut s, classic_member, generation) = stable_classic(cfg());
        let r = s.consumer_heartbeat("g", join, &image, &ctx(30, 3));
        assert_eq!(r.response.error, ErrorCode::None);
        let g = s.consumer_group("g").expect("upgraded");
        let m = &g.members[&classic_member];
        assert!(m.classic.is_some());
        assert_eq!(m.previous_epoch, generation);
        assert!(g.group_epoch > generation, "the join bumped the epoch");
        // the classic metadata's tombstone comes first
        assert_eq!(
            r.records[0].key.as_deref(),
            Some(&records::group_key("g")[..])
        );
        assert!(r.records[0].value.is_none());
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.list()[0].group_type, "consumer");
        // the classic member, told to rejoin by its heartbeat
        let code = s
            .heartbeat("g", generation, &classic_member, None, &ctx(40, 4))
            .response;
        assert_eq!(code, ErrorCode::RebalanceInProgress);
    }

    #[test]
    fn expiry_tombstones_old_offsets_and_forgets_empty_groups() {
        let mut s = GroupShard::new(cfg());
        let old = OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
        };
        let new = OffsetValue {
            commit_timestamp: 5_000,
            ..old.clone()
        };
        for (g, p, v) in [("a", 0, &old), ("a", 1, &new), ("b", 0, &old)] {
            let rec = offset_record(g, "t", p, v);
            s.replay(&rec.key.expect("key"), rec.value.as_deref(), 0, 0);
        }
        let c = EventContext {
            now: 0,
            wall: 6_000,
            request: ResponseId::new(1),
        };
        let r = s.expire_offsets(3_000, &c);
        assert_eq!(r.response, 2);
        assert!(r.replay);
        assert_eq!(r.records.len(), 3, "a-0, b-0 and b's group tombstone");
        assert!(r.records.iter().all(|rec| rec.value.is_none()));
        for rec in &r.records {
            s.replay(rec.key.as_deref().expect("key"), None, 0, 6_000);
        }
        assert!(s.group("b").is_none());
        assert_eq!(s.group("a").map(|g| g.offsets.len()), Some(1));
    }
}
