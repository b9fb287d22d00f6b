//! One consumer group under the classic protocol (Kafka's `ClassicGroup` and the
//! classic half of its `GroupMetadataManager`): members, generations, the rebalance state
//! machine, and committed offsets in memory. No I/O and no channels: a JoinGroup or
//! SyncGroup that must wait is parked under its [`ResponseId`], and its answer later goes
//! into the group's outbox ([`ClassicGroup::take_answers`]); the shard
//! ([`super::shard`]) turns the outbox into the runtime's effects and persists what
//! [`ClassicGroup::take_dirty`] says changed.
//!
//! ```text
//!            join                      all joined / timeout        leader's SyncGroup
//!   Empty ─────────▶ PreparingRebalance ───────────────▶ CompletingRebalance ───────▶ Stable
//!     ▲                  ▲    │ no members left                  │ join, leave,         │
//!     └──────────────────┼────┘                                  │ expiry               │
//!                        └───────────────────────────────────────┴──────────────────────┘
//! ```
//!
//! Invariants: `generation` only grows; in CompletingRebalance and Stable every member
//! belongs to the current generation and `leader` is one of them; a member id is in at
//! most one of `members` and `pending`; a parked request's id is in at most one member's
//! `join_waiter` or `sync_waiter`, until its answer is in the outbox.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;
use uuid::Uuid;

use super::records::{GroupValue, OffsetValue, StoredMember};
use crate::config::GroupConfig;
pub use crate::coordinator::Ms;
use crate::coordinator::ResponseId;
use crate::error::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A member a classic group hands to a consumer group (KIP-848's online upgrade): as
/// stored, with every protocol it supports.
pub type HandedOver = (StoredMember, Vec<(String, Bytes)>);

/// A JoinGroup request, decoded.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED and its id (KIP-394).
    pub require_known_member_id: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member's metadata for the chosen protocol: the leader's answer only.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    pub fn error(error: ErrorCode, member_id: &str) -> Self {
        JoinResponse {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request, decoded.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// v5+: must match the group's.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment: member id → bytes, handed over untouched.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResponse {
    pub fn error(error: ErrorCode) -> Self {
        SyncResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer now, or parked: the rebalance or the leader's sync answers it later, in the
/// outbox, under the request's [`ResponseId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<T> {
    Now(T),
    Parked,
}

/// The answer to a parked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeferredResponse {
    Join(JoinResponse),
    Sync(SyncResponse),
}

/// A member, for DescribeGroups.
#[derive(Clone, Debug)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Clone, Debug)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    heartbeat_deadline: Ms,
    /// The member's parked JoinGroup.
    join_waiter: Option<ResponseId>,
    /// The member's parked SyncGroup.
    sync_waiter: Option<ResponseId>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// As stored in the group's metadata, with its subscription for `protocol`.
    fn stored(&self, protocol: &str) -> StoredMember {
        StoredMember {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            session_timeout_ms: self.session_timeout_ms,
            subscription: self.metadata(protocol),
            assignment: self.assignment.clone(),
        }
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn touch(&mut self, now: Ms) {
        self.heartbeat_deadline = now + i64::from(self.session_timeout_ms);
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` for more
/// members, extended while they keep coming, up to the rebalance timeout (Kafka's
/// `InitialDelayedJoin`); it never completes early, nor later than its timer for members
/// that have not joined yet.
#[derive(Clone, Copy, Debug)]
struct InitialDelay {
    deadline: Ms,
    hard_deadline: Ms,
    delay: Ms,
}

/// One group.
#[derive(Clone, Debug)]
pub struct ClassicGroup {
    pub id: String,
    state: GroupState,
    /// Wall-clock time of the last state change (Kafka's `currentStateTimestamp`).
    state_since: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    /// In join order: the first one becomes leader when the old leader is gone.
    members: IndexMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not joined yet, with their expiry.
    pending: HashMap<String, Ms>,
    /// group.instance.id → member id (static membership, KIP-345).
    static_members: HashMap<String, String>,
    join_deadline: Ms,
    initial_delay: Option<InitialDelay>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    /// The stored group metadata is out of date.
    dirty: bool,
    /// Answers to parked requests, for the shard to hand to the runtime.
    answers: Vec<(ResponseId, DeferredResponse)>,
}

impl ClassicGroup {
    pub fn new(id: &str, wall: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            state_since: wall,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            join_deadline: 0,
            initial_delay: None,
            offsets: BTreeMap::new(),
            dirty: false,
            answers: Vec::new(),
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn state_since(&self) -> i64 {
        self.state_since
    }
    pub fn generation(&self) -> i32 {
        self.generation
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
    pub fn member_count(&self) -> usize {
        self.members.len()
    }
    pub fn has_members(&self) -> bool {
        !self.members.is_empty() || !self.pending.is_empty()
    }

    /// True once, after a change that must be written to `__consumer_offsets`.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The answers to parked requests given since the last call.
    pub fn take_answers(&mut self) -> Vec<(ResponseId, DeferredResponse)> {
        std::mem::take(&mut self.answers)
    }

    /// When [`Self::tick`] next has something to do: a pending member id or a session
    /// runs out, or the join phase's deadline (or the initial delay) passes. `None`: no
    /// timer needed.
    pub fn next_deadline(&self) -> Option<Ms> {
        let pending = self.pending.values().copied().min();
        let sessions = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.heartbeat_deadline)
            .min();
        let join = (self.state == GroupState::PreparingRebalance).then(|| {
            self.initial_delay
                .map_or(self.join_deadline, |d| d.deadline)
        });
        [pending, sessions, join].into_iter().flatten().min()
    }

    fn set_state(&mut self, state: GroupState, wall: i64) {
        self.state = state;
        self.state_since = wall;
    }

    fn new_member_id(prefix: &str) -> String {
        format!("{prefix}-{}", Uuid::new_v4())
    }

    /// The protocols every member (and the candidate) supports.
    fn common_protocols(&self, candidate: Option<&[(String, Bytes)]>) -> Vec<String> {
        let mut lists: Vec<Vec<&str>> = self
            .members
            .values()
            .map(|m| m.protocols.iter().map(|(n, _)| n.as_str()).collect())
            .collect();
        if let Some(c) = candidate {
            lists.push(c.iter().map(|(n, _)| n.as_str()).collect());
        }
        let Some(first) = lists.first() else {
            return Vec::new();
        };
        first
            .iter()
            .filter(|p| lists.iter().all(|l| l.contains(p)))
            .map(|p| p.to_string())
            .collect()
    }

    /// Each member votes for its most preferred common protocol; the most votes win.
    fn select_protocol(&self) -> Option<String> {
        let common = self.common_protocols(None);
        let mut votes: Vec<(String, usize)> = common.iter().map(|p| (p.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| common.contains(n)) {
                if let Some(v) = votes.iter_mut().find(|(p, _)| p == name) {
                    v.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == best).map(|(p, _)| p)
    }

    /// Kafka's member validation: a static member whose instance now belongs to another
    /// member id is fenced (checked first), then the member must exist.
    fn check_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        self.check_instance(member_id, instance_id)?;
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    fn check_instance(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
            }
        }
        Ok(())
    }

    fn joined_answer(&self, member_id: &str, with_members: bool) -> JoinResponse {
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinResponse {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// JoinGroup. `waiter`: the request's token, should it be parked.
    pub fn join(
        &mut self,
        req: JoinRequest,
        waiter: ResponseId,
        cfg: &GroupConfig,
        now: Ms,
        wall: i64,
    ) -> Reply<JoinResponse> {
        let err = |e: ErrorCode| Reply::Now(JoinResponse::error(e, &req.member_id));
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            return err(ErrorCode::InvalidSessionTimeout);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let known = self.members.contains_key(&req.member_id);
        if !known
            && !self.members.is_empty()
            && (self.protocol_type.as_deref() != Some(req.protocol_type.as_str())
                || self.common_protocols(Some(&req.protocols)).is_empty())
        {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            return self.join_unknown(req, waiter, cfg, now, wall);
        }
        if self.pending.remove(&req.member_id).is_some() {
            return self.add_member_and_rebalance(
                req.member_id.clone(),
                req,
                waiter,
                cfg,
                now,
                wall,
            );
        }
        if let Err(e) = self.check_member(&req.member_id, req.instance_id.as_deref()) {
            return err(e);
        }
        if self.protocol_type.as_deref() != Some(req.protocol_type.as_str())
            || self.common_protocols(Some(&req.protocols)).is_empty()
        {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let id = req.member_id.clone();
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        let Some(m) = self.members.get_mut(&id) else {
            return err(ErrorCode::UnknownMemberId);
        };
        let unchanged = m.same_protocols(&req.protocols);
        match self.state {
            GroupState::CompletingRebalance if unchanged => {
                m.touch(now);
                Reply::Now(self.joined_answer(&id, is_leader))
            }
            GroupState::Stable if unchanged && !is_leader => {
                m.touch(now);
                Reply::Now(self.joined_answer(&id, false))
            }
            GroupState::Empty => err(ErrorCode::UnknownMemberId),
            _ => self.update_member_and_rebalance(&id, req, waiter, now, wall),
        }
    }

    fn join_unknown(
        &mut self,
        req: JoinRequest,
        waiter: ResponseId,
        cfg: &GroupConfig,
        now: Ms,
        wall: i64,
    ) -> Reply<JoinResponse> {
        if self.members.len() + self.pending.len() >= cfg.max_size {
            return Reply::Now(JoinResponse::error(ErrorCode::GroupMaxSizeReached, ""));
        }
        if let Some(instance) = req.instance_id.clone() {
            let new_id = Self::new_member_id(&instance);
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(&old_id, new_id, req, waiter, now, wall);
            }
            return self.add_member_and_rebalance(new_id, req, waiter, cfg, now, wall);
        }
        let new_id = Self::new_member_id(&req.client_id);
        if req.require_known_member_id {
            self.pending
                .insert(new_id.clone(), now + i64::from(req.session_timeout_ms));
            return Reply::Now(JoinResponse::error(ErrorCode::MemberIdRequired, &new_id));
        }
        self.add_member_and_rebalance(new_id, req, waiter, cfg, now, wall)
    }

    /// A static member rejoining with a new member id: the old id is fenced. In a stable
    /// group with unchanged protocols it keeps its assignment without a rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        waiter: ResponseId,
        now: Ms,
        wall: i64,
    ) -> Reply<JoinResponse> {
        let Some(mut m) = self.members.shift_remove(old_id) else {
            self.static_members
                .remove(req.instance_id.as_deref().unwrap_or_default());
            return Reply::Now(JoinResponse::error(ErrorCode::UnknownMemberId, ""));
        };
        if let Some(w) = m.join_waiter.take() {
            let answer = JoinResponse::error(ErrorCode::FencedInstanceId, old_id);
            self.answers.push((w, DeferredResponse::Join(answer)));
        }
        if let Some(w) = m.sync_waiter.take() {
            let answer = SyncResponse::error(ErrorCode::FencedInstanceId);
            self.answers.push((w, DeferredResponse::Sync(answer)));
        }
        let unchanged = m.same_protocols(&req.protocols);
        m.id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.touch(now);
        self.members.insert(new_id.clone(), m);
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            self.dirty = true;
            let is_leader = self.leader.as_deref() == Some(new_id.as_str());
            let mut answer = self.joined_answer(&new_id, is_leader);
            // the leader must not reassign: the group did not change (JoinGroup v9)
            answer.skip_assignment = is_leader;
            return Reply::Now(answer);
        }
        self.update_member_and_rebalance(&new_id, req, waiter, now, wall)
    }

    fn add_member_and_rebalance(
        &mut self,
        id: String,
        req: JoinRequest,
        waiter: ResponseId,
        cfg: &GroupConfig,
        now: Ms,
        wall: i64,
    ) -> Reply<JoinResponse> {
        let mut m = Member {
            id: id.clone(),
            instance_id: req.instance_id.clone(),
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            heartbeat_deadline: 0,
            join_waiter: Some(waiter),
            sync_waiter: None,
        };
        m.touch(now);
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type);
        }
        self.members.insert(id, m);
        if let Some(d) = self.initial_delay.as_mut() {
            // another member during the initial delay: wait a little longer
            d.deadline = (now + d.delay).min(d.hard_deadline);
        }
        self.maybe_prepare_rebalance(cfg, now, wall);
        self.try_complete_join(now, wall);
        Reply::Parked
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: JoinRequest,
        waiter: ResponseId,
        now: Ms,
        wall: i64,
    ) -> Reply<JoinResponse> {
        let Some(m) = self.members.get_mut(id) else {
            return Reply::Now(JoinResponse::error(ErrorCode::UnknownMemberId, id));
        };
        m.protocols = req.protocols;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        if let Some(old) = m.join_waiter.replace(waiter) {
            let answer = JoinResponse::error(ErrorCode::UnknownMemberId, id);
            self.answers.push((old, DeferredResponse::Join(answer)));
        }
        m.touch(now);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(None, now, wall);
        }
        self.try_complete_join(now, wall);
        Reply::Parked
    }

    fn maybe_prepare_rebalance(&mut self, cfg: &GroupConfig, now: Ms, wall: i64) {
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(Some(cfg), now, wall);
        }
    }

    /// Starts a rebalance. `cfg` given and the group empty: the initial delay applies.
    fn prepare_rebalance(&mut self, cfg: Option<&GroupConfig>, now: Ms, wall: i64) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let answer = SyncResponse::error(ErrorCode::RebalanceInProgress);
                    self.answers.push((w, DeferredResponse::Sync(answer)));
                }
            }
        }
        let rebalance_timeout = self
            .members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0);
        self.initial_delay = None;
        if let Some(cfg) = cfg.filter(|_| self.state == GroupState::Empty) {
            // even with no delay: the first generation forms on the timer, with whoever
            // has joined, not waiting for members that only got an id (as Kafka's
            // InitialDelayedJoin does)
            let delay = cfg.initial_rebalance_delay_ms as i64;
            self.initial_delay = Some(InitialDelay {
                deadline: now + delay.min(rebalance_timeout),
                hard_deadline: now + rebalance_timeout,
                delay,
            });
        }
        self.join_deadline = now + rebalance_timeout;
        self.set_state(GroupState::PreparingRebalance, wall);
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Completes the join phase when it is due: everyone has rejoined, or the deadline
    /// passed (members that did not rejoin are removed).
    fn try_complete_join(&mut self, now: Ms, wall: i64) {
        self.complete_join_if_due(now, wall, false);
    }

    /// `from_timer`: called by [`Self::tick`]. The initial delay only ever ends there, as
    /// Kafka's `InitialDelayedJoin` only completes on expiry. With no delay the coordinator
    /// runtime fires that timer at the end of the join that set it, so the first
    /// generation has the members that have joined by then, as Kafka's does.
    fn complete_join_if_due(&mut self, now: Ms, wall: i64, from_timer: bool) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let due = match self.initial_delay {
            Some(d) => from_timer && now >= d.deadline,
            None => self.all_joined() || now >= self.join_deadline,
        };
        if !due {
            return;
        }
        self.initial_delay = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.protocol_type = if self.offsets.is_empty() {
                None
            } else {
                self.protocol_type.take()
            };
            self.set_state(GroupState::Empty, wall);
            self.dirty = true;
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.set_state(GroupState::CompletingRebalance, wall);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let answer = self.joined_answer(&id, is_leader);
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            m.touch(now);
            if let Some(w) = m.join_waiter.take() {
                self.answers.push((w, DeferredResponse::Join(answer)));
            }
        }
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(id) {
                    self.static_members.remove(instance);
                }
            }
            if let Some(w) = m.join_waiter.take() {
                let answer = JoinResponse::error(ErrorCode::UnknownMemberId, id);
                self.answers.push((w, DeferredResponse::Join(answer)));
            }
            if let Some(w) = m.sync_waiter.take() {
                let answer = SyncResponse::error(ErrorCode::UnknownMemberId);
                self.answers.push((w, DeferredResponse::Sync(answer)));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    /// A member left or expired: the others rebalance.
    fn remove_member_and_rebalance(&mut self, id: &str, now: Ms, wall: i64) {
        self.remove_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(None, now, wall);
                self.try_complete_join(now, wall);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, wall),
            GroupState::Empty => {}
        }
    }

    /// SyncGroup. `waiter`: the request's token, should it be parked.
    pub fn sync(
        &mut self,
        req: SyncRequest,
        waiter: ResponseId,
        now: Ms,
        wall: i64,
    ) -> Reply<SyncResponse> {
        let err = |e| Reply::Now(SyncResponse::error(e));
        if let Err(e) = self.check_member(&req.member_id, req.instance_id.as_deref()) {
            return err(e);
        }
        if req.generation != self.generation {
            return err(ErrorCode::IllegalGeneration);
        }
        if req
            .protocol_type
            .as_deref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || req
                .protocol_name
                .as_deref()
                .is_some_and(|n| Some(n) != self.protocol.as_deref())
        {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let state = self.state;
        let Some(m) = self.members.get_mut(&req.member_id) else {
            return err(ErrorCode::UnknownMemberId);
        };
        match state {
            GroupState::Empty => err(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => err(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                m.touch(now);
                let assignment = m.assignment.clone();
                Reply::Now(self.sync_answer(assignment))
            }
            GroupState::CompletingRebalance => {
                m.touch(now);
                if let Some(old) = m.sync_waiter.replace(waiter) {
                    let answer = SyncResponse::error(ErrorCode::RebalanceInProgress);
                    self.answers.push((old, DeferredResponse::Sync(answer)));
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut given: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    self.set_state(GroupState::Stable, wall);
                    self.dirty = true;
                    let (protocol_type, protocol_name) =
                        (self.protocol_type.clone(), self.protocol.clone());
                    for m in self.members.values_mut() {
                        if let Some(w) = m.sync_waiter.take() {
                            let answer = SyncResponse {
                                error: ErrorCode::None,
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment: m.assignment.clone(),
                            };
                            self.answers.push((w, DeferredResponse::Sync(answer)));
                        }
                    }
                }
                Reply::Parked
            }
        }
    }

    fn sync_answer(&self, assignment: Bytes) -> SyncResponse {
        SyncResponse {
            error: ErrorCode::None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment,
        }
    }

    /// Heartbeat: the error code.
    pub fn heartbeat(
        &mut self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: Ms,
    ) -> ErrorCode {
        if let Err(e) = self.check_member(member_id, instance_id) {
            return e;
        }
        if generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = self.state;
        let Some(m) = self.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        match state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::CompletingRebalance | GroupState::Stable => {
                m.touch(now);
                ErrorCode::None
            }
            GroupState::PreparingRebalance => {
                m.touch(now);
                ErrorCode::RebalanceInProgress
            }
        }
    }

    /// LeaveGroup for one member (by member id, or by instance id alone): the error code.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: Ms,
        wall: i64,
    ) -> ErrorCode {
        let id = match (member_id.is_empty(), instance_id) {
            (true, Some(instance)) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return ErrorCode::UnknownMemberId,
            },
            _ => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            self.try_complete_join(now, wall);
            return ErrorCode::None;
        }
        if let Err(e) = self.check_member(&id, instance_id) {
            return e;
        }
        self.remove_member_and_rebalance(&id, now, wall);
        ErrorCode::None
    }

    /// May `member_id` commit offsets for `generation`? (Kafka's classic
    /// `validateOffsetCommit`.) A commit with a negative generation to a group without
    /// members is a "simple" commit, as admin tools and assign() consumers make; Kafka
    /// accepts it whatever member id it carries.
    pub fn validate_commit(
        &mut self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: Ms,
    ) -> Result<(), ErrorCode> {
        if generation < 0 && self.members.is_empty() {
            return Ok(());
        }
        self.check_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        match self.members.get_mut(member_id) {
            Some(m) => {
                m.touch(now);
                Ok(())
            }
            None => Err(ErrorCode::UnknownMemberId),
        }
    }

    /// Expires members whose session ran out and pending ids never used, and completes a
    /// join phase whose deadline passed.
    pub fn tick(&mut self, now: Ms, wall: i64) {
        let before = self.pending.len();
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.heartbeat_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "session timed out; removing the member");
            self.remove_member_and_rebalance(id, now, wall);
        }
        if before != self.pending.len() || self.state == GroupState::PreparingRebalance {
            self.complete_join_if_due(now, wall, true);
        }
    }

    /// Members for DescribeGroups: metadata and assignments only when Stable, as in Kafka.
    pub fn members(&self) -> Vec<MemberSummary> {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| MemberSummary {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect()
    }

    /// The topics the members subscribe to, from the consumer protocol's subscription
    /// (version i16, then an array of topic names). Empty for other protocol types.
    pub fn subscribed_topics(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        if self.protocol_type.as_deref() != Some("consumer") {
            return out;
        }
        let protocol = self.protocol.clone().unwrap_or_default();
        for m in self.members.values() {
            let meta = m.metadata(&protocol);
            let mut b: &[u8] = &meta;
            let mut take = |n: usize| -> Option<&[u8]> {
                if b.len() < n {
                    return None;
                }
                let (h, r) = b.split_at(n);
                b = r;
                Some(h)
            };
            let Some(_version) = take(2) else { continue };
            let Some(count) = take(4)
                .and_then(|c| <[u8; 4]>::try_from(c).ok())
                .map(i32::from_be_bytes)
            else {
                continue;
            };
            for _ in 0..count.max(0) {
                let Some(len) = take(2)
                    .and_then(|l| <[u8; 2]>::try_from(l).ok())
                    .map(i16::from_be_bytes)
                else {
                    break;
                };
                let Some(name) = take(len.max(0) as usize) else {
                    break;
                };
                out.insert(String::from_utf8_lossy(name).into_owned());
            }
        }
        out
    }

    /// KIP-848's online upgrade: the members as the consumer group takes them over (with
    /// every protocol each supports), the generation and the chosen protocol; the
    /// group's own state is dropped, its offsets kept, and parked JoinGroup and SyncGroup
    /// requests are answered REBALANCE_IN_PROGRESS (they rejoin the consumer group).
    pub fn hand_over(&mut self, wall: i64) -> (i32, String, Vec<HandedOver>) {
        let protocol = self.protocol.clone().unwrap_or_default();
        let generation = self.generation;
        let members = self
            .members
            .values()
            .map(|m| (m.stored(&protocol), m.protocols.clone()))
            .collect();
        for m in self.members.values_mut() {
            if let Some(w) = m.join_waiter.take() {
                let answer = JoinResponse::error(ErrorCode::RebalanceInProgress, &m.id);
                self.answers.push((w, DeferredResponse::Join(answer)));
            }
            if let Some(w) = m.sync_waiter.take() {
                let answer = SyncResponse::error(ErrorCode::RebalanceInProgress);
                self.answers.push((w, DeferredResponse::Sync(answer)));
            }
        }
        let offsets = std::mem::take(&mut self.offsets);
        let answers = std::mem::take(&mut self.answers);
        *self = ClassicGroup::new(&self.id, wall);
        self.offsets = offsets;
        self.answers = answers;
        (generation, protocol, members)
    }

    /// KIP-848's online downgrade: the group takes the consumer group's classic members
    /// back (`stored`, Stable at the consumer group's epoch), then rebalances at once so
    /// they rejoin under the classic protocol.
    pub fn take_back(
        &mut self,
        stored: GroupValue,
        protocols: &HashMap<String, Vec<(String, Bytes)>>,
        now: Ms,
        wall: i64,
    ) {
        self.restore(stored, now);
        for m in self.members.values_mut() {
            if let Some(p) = protocols.get(&m.id).filter(|p| !p.is_empty()) {
                m.protocols = p.clone();
            }
        }
        self.dirty = true;
        self.prepare_rebalance(None, now, wall);
    }

    /// The group metadata as stored in `__consumer_offsets`.
    pub fn to_stored(&self) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_since,
            members: self.members.values().map(|m| m.stored(&protocol)).collect(),
        }
    }

    /// Restores stored metadata at start: a group with members is Stable (they keep their
    /// generation and heartbeat as before; those that don't come back expire).
    pub fn restore(&mut self, v: GroupValue, now: Ms) {
        self.generation = v.generation;
        self.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
        self.protocol = v.protocol.clone();
        self.leader = v.leader;
        self.state_since = v.state_timestamp;
        self.members.clear();
        self.static_members.clear();
        let protocol = v.protocol.unwrap_or_default();
        for sm in v.members {
            let mut m = Member {
                id: sm.member_id.clone(),
                instance_id: sm.instance_id.clone(),
                client_id: sm.client_id,
                client_host: sm.client_host,
                session_timeout_ms: sm.session_timeout_ms,
                rebalance_timeout_ms: sm.rebalance_timeout_ms,
                protocols: vec![(protocol.clone(), sm.subscription)],
                assignment: sm.assignment,
                heartbeat_deadline: 0,
                join_waiter: None,
                sync_waiter: None,
            };
            m.touch(now);
            if let Some(instance) = sm.instance_id {
                self.static_members.insert(instance, sm.member_id.clone());
            }
            self.members.insert(sm.member_id, m);
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

/// A consumer's JoinGroup with a 10 s session, for the group modules' tests.
#[cfg(test)]
pub(crate) fn test_join_request(member: &str, v4: bool) -> JoinRequest {
    JoinRequest {
        member_id: member.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
        require_known_member_id: v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        }
    }

    fn req(member: &str, v4: bool) -> JoinRequest {
        test_join_request(member, v4)
    }

    fn sync_req(generation: i32, member: &str) -> SyncRequest {
        SyncRequest {
            generation,
            member_id: member.into(),
            ..SyncRequest::default()
        }
    }

    fn now_answer<T>(r: Reply<T>) -> T {
        match r {
            Reply::Now(t) => t,
            Reply::Parked => panic!("expected an immediate answer"),
        }
    }

    /// A group and what the runtime would do for it: token allocation, and the answers
    /// given to parked requests, by token.
    struct Driven {
        g: ClassicGroup,
        next: u64,
        answers: HashMap<ResponseId, DeferredResponse>,
    }

    impl Driven {
        fn new(id: &str) -> Driven {
            Driven {
                g: ClassicGroup::new(id, 0),
                next: 0,
                answers: HashMap::new(),
            }
        }

        fn token(&mut self) -> ResponseId {
            self.next += 1;
            ResponseId::new(self.next)
        }

        fn collect(&mut self) {
            for (id, a) in self.g.take_answers() {
                assert!(self.answers.insert(id, a).is_none(), "answered twice");
            }
        }

        /// A join: its token and the immediate reply.
        fn join(
            &mut self,
            r: JoinRequest,
            cfg: &GroupConfig,
            now: Ms,
        ) -> (ResponseId, Reply<JoinResponse>) {
            let id = self.token();
            let reply = self.g.join(r, id, cfg, now, now);
            self.collect();
            (id, reply)
        }

        /// A join that must be parked: its token.
        fn join_parked(&mut self, r: JoinRequest, cfg: &GroupConfig, now: Ms) -> ResponseId {
            let (id, reply) = self.join(r, cfg, now);
            assert_eq!(reply, Reply::Parked, "expected to wait");
            id
        }

        fn sync(&mut self, r: SyncRequest, now: Ms) -> (ResponseId, Reply<SyncResponse>) {
            let id = self.token();
            let reply = self.g.sync(r, id, now, now);
            self.collect();
            (id, reply)
        }

        fn sync_parked(&mut self, r: SyncRequest, now: Ms) -> ResponseId {
            let (id, reply) = self.sync(r, now);
            assert_eq!(reply, Reply::Parked, "expected to wait");
            id
        }

        fn tick(&mut self, now: Ms) {
            self.g.tick(now, now);
            self.collect();
        }

        fn leave(&mut self, member: &str, instance: Option<&str>, now: Ms) -> ErrorCode {
            let e = self.g.leave(member, instance, now, now);
            self.collect();
            e
        }

        /// The answer of a parked JoinGroup, if it has come.
        fn joined(&mut self, id: ResponseId) -> Option<JoinResponse> {
            match self.answers.remove(&id) {
                Some(DeferredResponse::Join(r)) => Some(r),
                Some(other) => panic!("not a join answer: {other:?}"),
                None => None,
            }
        }

        fn synced(&mut self, id: ResponseId) -> Option<SyncResponse> {
            match self.answers.remove(&id) {
                Some(DeferredResponse::Sync(r)) => Some(r),
                Some(other) => panic!("not a sync answer: {other:?}"),
                None => None,
            }
        }

        /// A join into an empty group completes on the coordinator's next tick.
        fn first_join(&mut self, r: JoinRequest, now: Ms) -> JoinResponse {
            let id = self.join_parked(r, &cfg(), now);
            assert_eq!(self.g.next_deadline(), Some(now), "a timer for the tick");
            self.tick(now);
            self.joined(id)
                .expect("the first generation forms on the tick")
        }
    }

    #[test]
    fn member_id_required_only_from_v4() {
        let mut d = Driven::new("g");
        let a = now_answer(d.join(req("", true), &cfg(), 0).1);
        assert_eq!(a.error, ErrorCode::MemberIdRequired);
        assert!(!a.member_id.is_empty());
        let joined = d.first_join(req(&a.member_id, true), 1);
        assert_eq!((joined.error, joined.generation), (ErrorCode::None, 1));
        assert_eq!(joined.leader, a.member_id);
        assert_eq!(joined.members.len(), 1);

        let mut old = Driven::new("h");
        let joined = old.first_join(req("", false), 0);
        assert_eq!(joined.error, ErrorCode::None);
        assert!(!joined.member_id.is_empty());
    }

    #[test]
    fn two_members_rebalance_sync_and_a_leave_rebalances_again() {
        let mut d = Driven::new("g");
        let a = d.first_join(req("", false), 0);
        assert_eq!(d.g.state(), GroupState::CompletingRebalance);
        // b joins while a is about to sync: a must rejoin
        let b_join = d.join_parked(req("", false), &cfg(), 1);
        assert_eq!(d.g.state(), GroupState::PreparingRebalance);
        let s = now_answer(d.sync(sync_req(1, &a.member_id), 2).1);
        assert_eq!(s.error, ErrorCode::RebalanceInProgress);
        assert_eq!(
            d.g.heartbeat(1, &a.member_id, None, 2),
            ErrorCode::RebalanceInProgress
        );
        let a_join = d.join_parked(req(&a.member_id, false), &cfg(), 3);
        let a2 = d.joined(a_join).expect("all rejoined");
        let b = d.joined(b_join).expect("b");
        assert_eq!(a2.generation, 2);
        assert_eq!(a2.leader, a.member_id, "the leader stays");
        assert_eq!(a2.members.len(), 2);
        assert!(b.members.is_empty(), "only the leader gets the members");
        // the follower syncs first and waits; the leader's sync answers both, bytes intact
        let b_sync = d.sync_parked(sync_req(2, &b.member_id), 4);
        assert_eq!(d.synced(b_sync), None);
        let assign_a = Bytes::from_static(b"\x00\x01A");
        let assign_b = Bytes::from(vec![0u8, 255, 7, 9]);
        let a_sync = d.sync_parked(
            SyncRequest {
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignments: vec![
                    (a.member_id.clone(), assign_a.clone()),
                    (b.member_id.clone(), assign_b.clone()),
                ],
                ..sync_req(2, &a.member_id)
            },
            5,
        );
        assert_eq!(d.synced(a_sync).expect("a").assignment, assign_a);
        assert_eq!(d.synced(b_sync).expect("b").assignment, assign_b);
        assert_eq!(d.g.state(), GroupState::Stable);
        assert!(d.g.take_dirty());
        // wrong generation, unknown member
        assert_eq!(
            d.g.heartbeat(1, &b.member_id, None, 6),
            ErrorCode::IllegalGeneration
        );
        assert_eq!(
            d.g.heartbeat(2, "nobody", None, 6),
            ErrorCode::UnknownMemberId
        );
        // b leaves: a is the only member after a rebalance
        assert_eq!(d.leave(&b.member_id, None, 7), ErrorCode::None);
        assert_eq!(d.g.state(), GroupState::PreparingRebalance);
        let a_join = d.join_parked(req(&a.member_id, false), &cfg(), 8);
        assert_eq!(d.joined(a_join).expect("a").generation, 3);
        assert_eq!(d.leave(&a.member_id, None, 9), ErrorCode::None);
        assert_eq!(d.g.state(), GroupState::Empty);
        assert_eq!(d.g.generation(), 4);
        assert!(d.answers.is_empty(), "every parked request answered once");
    }

    #[test]
    fn a_rejoin_answers_the_members_earlier_parked_join() {
        let mut d = Driven::new("g");
        let a = d.first_join(req("", false), 0);
        let b_join = d.join_parked(req("", false), &cfg(), 1);
        let first = d.join_parked(req(&a.member_id, false), &cfg(), 2);
        // b's join and a's completed the rebalance at once; a joins again (new protocols)
        assert!(d.joined(first).is_some() && d.joined(b_join).is_some());
        let mut changed = req(&a.member_id, false);
        changed.protocols = vec![("range".into(), Bytes::from_static(b"other"))];
        let again = d.join_parked(changed.clone(), &cfg(), 3);
        let twice = d.join_parked(changed, &cfg(), 4);
        assert_eq!(
            d.joined(again).expect("replaced").error,
            ErrorCode::UnknownMemberId
        );
        assert_eq!(d.joined(twice), None, "still waiting for b");
    }

    #[test]
    fn session_expiry_removes_a_silent_member() {
        let mut d = Driven::new("g");
        let a = d.first_join(req("", false), 0);
        let b_join = d.join_parked(req("", false), &cfg(), 0);
        let a_join = d.join_parked(req(&a.member_id, false), &cfg(), 0);
        let b = d.joined(b_join).expect("b");
        d.joined(a_join).expect("a");
        let _ = d.sync(sync_req(2, &a.member_id), 1);
        assert_eq!(d.g.state(), GroupState::Stable);
        // b heartbeats, a goes silent past its 10 s session: the group's timer is a's
        assert_eq!(d.g.heartbeat(2, &b.member_id, None, 9_000), ErrorCode::None);
        assert_eq!(d.g.next_deadline(), Some(10_001));
        d.tick(10_500);
        assert_eq!(d.g.member_count(), 1);
        assert_eq!(d.g.state(), GroupState::PreparingRebalance);
        assert_eq!(
            d.g.heartbeat(2, &b.member_id, None, 10_600),
            ErrorCode::RebalanceInProgress
        );
    }

    #[test]
    fn static_members_are_fenced_by_a_newer_instance() {
        let mut d = Driven::new("g");
        let mut r = req("", true);
        r.instance_id = Some("i1".into());
        let first = d.first_join(r.clone(), 0);
        assert_eq!(
            first.error,
            ErrorCode::None,
            "static members skip MEMBER_ID_REQUIRED"
        );
        let _ = d.sync(
            SyncRequest {
                instance_id: Some("i1".into()),
                ..sync_req(1, &first.member_id)
            },
            1,
        );
        let second = now_answer(d.join(r, &cfg(), 2).1);
        assert_eq!(second.error, ErrorCode::None);
        assert_ne!(second.member_id, first.member_id);
        assert_eq!(
            second.generation, 1,
            "no rebalance for a returning static member"
        );
        assert!(d.g.take_dirty(), "the new member id is stored");
        assert_eq!(
            d.g.heartbeat(1, &first.member_id, Some("i1"), 3),
            ErrorCode::FencedInstanceId
        );
        assert_eq!(
            d.g.heartbeat(1, &second.member_id, Some("i1"), 3),
            ErrorCode::None
        );
        assert_eq!(
            d.leave(&first.member_id, Some("i1"), 4),
            ErrorCode::FencedInstanceId
        );
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let mut d = Driven::new("g");
        let _ = d.join(req("", false), &cfg(), 0);
        let mut other = req("", false);
        other.protocols = vec![("roundrobin".into(), Bytes::new())];
        assert_eq!(
            now_answer(d.join(other, &cfg(), 1).1).error,
            ErrorCode::InconsistentGroupProtocol
        );
        let mut bad_type = req("", false);
        bad_type.protocol_type = "connect".into();
        assert_eq!(
            now_answer(d.join(bad_type, &cfg(), 1).1).error,
            ErrorCode::InconsistentGroupProtocol
        );
    }

    #[test]
    fn the_initial_delay_waits_for_more_members() {
        let cfg = GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            ..GroupConfig::default()
        };
        let mut d = Driven::new("g");
        let a = d.join_parked(req("", false), &cfg, 0);
        assert_eq!(d.g.next_deadline(), Some(3_000));
        d.tick(1_000);
        assert_eq!(d.joined(a), None, "waits for the delay");
        let b = d.join_parked(req("", false), &cfg, 2_000);
        assert_eq!(d.g.next_deadline(), Some(5_000), "extended by b's join");
        d.tick(3_500);
        assert_eq!(d.joined(a), None, "extended by b's join");
        d.tick(5_000);
        assert_eq!(d.joined(a).expect("a").members.len(), 2);
        assert_eq!(d.joined(b).expect("b").generation, 1);
    }

    #[test]
    fn commits_need_membership_unless_the_group_is_empty() {
        let mut d = Driven::new("g");
        assert_eq!(d.g.validate_commit(-1, "", None, 0), Ok(()));
        // an empty group takes a generation -1 commit whatever member id it names
        assert_eq!(d.g.validate_commit(-1, "gone-member", None, 0), Ok(()));
        let a = d.first_join(req("", false), 0);
        assert_eq!(
            d.g.validate_commit(-1, "", None, 0),
            Err(ErrorCode::UnknownMemberId)
        );
        assert_eq!(
            d.g.validate_commit(1, &a.member_id, None, 0),
            Err(ErrorCode::RebalanceInProgress)
        );
        let _ = d.sync(sync_req(1, &a.member_id), 1);
        assert_eq!(d.g.validate_commit(1, &a.member_id, None, 2), Ok(()));
        assert_eq!(
            d.g.validate_commit(0, &a.member_id, None, 2),
            Err(ErrorCode::IllegalGeneration)
        );
    }

    #[test]
    fn subscriptions_are_read_from_consumer_protocol_metadata() {
        let mut d = Driven::new("g");
        let mut r = req("", false);
        // version 1, two topics "ab" and "c", then user data we ignore
        let meta = vec![
            0, 1, 0, 0, 0, 2, 0, 2, b'a', b'b', 0, 1, b'c', 0xff, 0xff, 0xff, 0xff,
        ];
        r.protocols = vec![("range".into(), Bytes::from(meta))];
        d.first_join(r, 0);
        let topics = d.g.subscribed_topics();
        assert!(topics.contains("ab") && topics.contains("c") && topics.len() == 2);
    }
}
