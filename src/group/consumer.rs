//! One KIP-848 consumer group (`group.protocol=consumer`), Kafka's `ConsumerGroup` with
//! the parts of `GroupMetadataManager` and `CurrentAssignmentBuilder` that drive it: no
//! I/O, no clock (time comes in as arguments).
//!
//! - **Epochs.** A change of membership, of a subscription or of the subscribed topics'
//!   partitions bumps the group epoch; the next heartbeat then computes a new target
//!   assignment with the group's assignor ([`super::assignor`]) at that epoch.
//! - **Reconciliation.** Each member moves towards its target on its own heartbeats: it
//!   first gives up what the target takes from it (state UNREVOKED_PARTITIONS, at its old
//!   epoch, until a heartbeat no longer lists them), and gets a partition only once its
//!   previous owner has given it up (UNRELEASED_PARTITIONS until then). So a partition
//!   never has two owners.
//! - **Deadlines.** A member missing heartbeats for its session timeout, or keeping
//!   partitions it was told to revoke past its rebalance timeout, is fenced: removed,
//!   its partitions freed, the epoch bumped.
//! - **Static members** (`group.instance.id`) leave with epoch -2 keeping their
//!   assignment; a new member with the same instance id takes it over without a
//!   rebalance.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;
use uuid::Uuid;

use super::assignor::{self, Assignment, AssignorMember};
use super::consumer_records::{ConsumerRecord, CurrentValue, MemberValue};
use crate::coordinator::Ms;
use crate::error::ErrorCode;

/// The topics a heartbeat can subscribe to: name → (id, partition count).
pub type TopicImage = BTreeMap<String, (Uuid, i32)>;

pub use crate::config::ConsumerGroupConfig as ConsumerConfig;

/// A member's reconciliation state (the int8 Kafka stores).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

/// One member of a consumer group.
#[derive(Clone, Debug)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    /// What it owns now (acknowledged or not), without what it must revoke.
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    /// The member epoch at which it got each partition it owns (KIP-1251): a commit at
    /// an older epoch is taken for the partitions it has owned since.
    assigned_at: HashMap<(Uuid, i32), i32>,
    session_deadline: Ms,
    rebalance_deadline: Option<Ms>,
    /// Set for a member speaking the classic protocol (JoinGroup, SyncGroup, Heartbeat)
    /// in a consumer group, after an online upgrade.
    pub classic: Option<ClassicMeta>,
}

impl ConsumerMember {
    /// A member with nothing set yet (its heartbeat or records fill it in), its session
    /// running out at `session_deadline`.
    fn new(member_id: &str, session_deadline: Ms) -> ConsumerMember {
        ConsumerMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 300_000,
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            assigned_at: HashMap::new(),
            session_deadline,
            rebalance_deadline: None,
            classic: None,
        }
    }
}

/// What a classic-protocol member of a consumer group joined with (Kafka's
/// `ClassicMemberMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassicMeta {
    pub session_timeout_ms: i32,
    /// Its JoinGroup protocols: (assignor name, subscription bytes), in its order.
    pub protocols: Vec<(String, bytes::Bytes)>,
}

/// A classic JoinGroup to a consumer group, decoded.
#[derive(Clone, Debug)]
pub struct ClassicJoin {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, bytes::Bytes)>,
}

/// A ConsumerGroupHeartbeat, validated by the handler.
#[derive(Clone, Debug, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Vec<(Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
    /// A classic member's JoinGroup, run as a heartbeat (a static member switching
    /// protocols replaces the old one without it leaving first).
    pub classic: bool,
}

/// Its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatResponse {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Set when the assignment changed or the request was a full one.
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

impl Default for HeartbeatResponse {
    fn default() -> Self {
        HeartbeatResponse {
            error: ErrorCode::None,
            message: None,
            member_id: None,
            member_epoch: 0,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

impl HeartbeatResponse {
    pub fn error(error: ErrorCode, message: impl Into<String>) -> Self {
        HeartbeatResponse {
            error,
            message: Some(message.into()),
            ..HeartbeatResponse::default()
        }
    }
}

/// A consumer group's state as ConsumerGroupDescribe and ListGroups name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One consumer group.
#[derive(Clone, Debug)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// instance id → member id.
    static_members: HashMap<String, String>,
    /// Each member's target at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// The epoch of each owned partition's owner (assigned or pending revocation): a
    /// partition is given to another member only once it is not here.
    partition_epochs: HashMap<(Uuid, i32), i32>,
    /// The subscribed topics that exist, as last seen: name → (id, partitions).
    subscribed_metadata: TopicImage,
    /// Compiled subscription regexes (RE2 syntax, whole-name match).
    regexes: HashMap<String, Regex>,
    /// When the group became empty (wall clock), for offset expiry.
    pub empty_since: i64,
    /// Loaded from records, which do not keep the subscribed topics' metadata: the first
    /// heartbeat takes it from the topics as they are, without a new epoch, if the target
    /// covers exactly their partitions (nothing changed meanwhile).
    metadata_from_load: bool,
}

/// Compiles a subscription regex as Kafka's RE2/J does: the whole topic name must match.
/// Rust's `regex` speaks RE2's syntax; [`re2j`] bridges what differs.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("longer than {MAX_REGEX_LEN} bytes"));
    }
    let pattern = re2j(pattern)?;
    // alone first: `a)|(b` must not close the anchoring group
    Regex::new(&pattern).map_err(|e| e.to_string())?;
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())
}

/// The longest subscription regex taken (bounds the work of one heartbeat).
const MAX_REGEX_LEN: usize = 16 * 1024;

/// RE2/J's syntax where Rust's `regex` differs: `\Q...\E` quotes literal text (what
/// Java's `Pattern.quote` writes), and a repetition operator applied to a repetition
/// (`a**`, `a++`, `a{2}{3}`; a single `?` after one makes it lazy) is an error, where
/// Rust's `regex` would accept it.
fn re2j(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    // after a repetition operator: 1, after its lazy `?`: 2
    let mut repeated = 0u8;
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    return Err("trailing \\".into());
                };
                if next == 'Q' && !in_class {
                    let mut literal = String::new();
                    while let Some(q) = chars.next() {
                        if q == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        literal.push(q);
                    }
                    out.push_str(&regex::escape(&literal));
                } else {
                    out.push('\\');
                    out.push(next);
                }
                repeated = 0;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // a `]` first in the class is a literal
                for first in ['^', ']'] {
                    if chars.peek() == Some(&first) {
                        out.push(first);
                        chars.next();
                    }
                }
                repeated = 0;
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
                repeated = 0;
            }
            '*' | '+' | '?' | '{' if !in_class => {
                if c == '{' {
                    // a counted repetition only if it is one: RE2 reads any other `{` as
                    // a literal brace (Rust's regex would refuse it)
                    // (a count is at most `{1000,1000}`: a bounded look ahead)
                    let ahead: String = chars.clone().take(12).collect();
                    let rest: String = ahead.chars().take_while(|x| *x != '}').collect();
                    let counted = ahead.contains('}')
                        && rest.starts_with(|x: char| x.is_ascii_digit())
                        && rest.chars().all(|x| x.is_ascii_digit() || x == ',');
                    if !counted {
                        out.push_str("\\{");
                        repeated = 0;
                        continue;
                    }
                }
                let lazy = c == '?' && repeated == 1;
                if repeated == 2 || (repeated == 1 && !lazy) {
                    return Err(format!("bad repetition operator: {c}"));
                }
                out.push(c);
                if c == '{' {
                    for x in chars.by_ref() {
                        out.push(x);
                        if x == '}' {
                            break;
                        }
                    }
                }
                repeated = if lazy { 2 } else { 1 };
            }
            _ => {
                out.push(c);
                repeated = 0;
            }
        }
    }
    Ok(out)
}

fn to_wire(a: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
        .collect()
}

fn from_wire(owned: &[(Uuid, Vec<i32>)]) -> Assignment {
    let mut a = Assignment::new();
    for (t, ps) in owned {
        if !ps.is_empty() {
            a.entry(*t).or_default().extend(ps.iter().copied());
        }
    }
    a
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|qs| !ps.is_disjoint(qs)))
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|qs| ps.is_subset(qs)))
}

impl ConsumerGroup {
    pub fn new(id: &str, wall: i64) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            target: BTreeMap::new(),
            partition_epochs: HashMap::new(),
            subscribed_metadata: TopicImage::new(),
            regexes: HashMap::new(),
            empty_since: wall,
            metadata_from_load: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.state != MemberState::Stable || m.epoch != self.assignment_epoch)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The assignor the members prefer most (ties to the first named in the config), or
    /// the config's first.
    pub fn assignor_name(&self, config: &ConsumerConfig) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *votes.entry(a.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max().unwrap_or(0);
        config
            .assignors
            .iter()
            .find(|a| best > 0 && votes.get(**a) == Some(&best))
            .or(config.assignors.first())
            .map_or_else(|| "uniform".to_string(), |a| a.to_string())
    }

    /// The earliest deadline of a member (session or rebalance), for the group's timer.
    pub fn next_deadline(&self) -> Option<Ms> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline), m.rebalance_deadline])
            .flatten()
            .min()
    }

    /// Every topic any member subscribes to (names, and regex matches in `image`).
    pub fn subscribed_topic_names(&self, image: &TopicImage) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for m in self.members.values() {
            out.extend(self.member_topics(m, image));
        }
        out
    }

    /// The names a member subscribes to that exist in `image`.
    fn member_topics(&self, m: &ConsumerMember, image: &TopicImage) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = m
            .subscribed_topic_names
            .iter()
            .filter(|t| image.contains_key(*t))
            .cloned()
            .collect();
        if let Some(re) = m
            .subscribed_topic_regex
            .as_ref()
            .and_then(|r| self.regexes.get(r))
        {
            out.extend(
                image
                    .keys()
                    .filter(|t| !crate::topic::is_internal(t) && re.is_match(t))
                    .cloned(),
            );
        }
        out
    }

    /// A ConsumerGroupHeartbeat of a joining or present member (epochs -1 and -2 go to
    /// [`Self::leave`]).
    pub fn heartbeat(
        &mut self,
        hb: Heartbeat,
        image: &TopicImage,
        config: &ConsumerConfig,
        now: Ms,
    ) -> HeartbeatResponse {
        let joining = hb.member_epoch == 0;
        // a bad pattern changes nothing (compiled here, kept once a member subscribes)
        let mut compiled = None;
        if let Some(re) = hb.subscribed_topic_regex.as_ref().filter(|r| !r.is_empty()) {
            if !self.regexes.contains_key(re) {
                match compile_regex(re) {
                    Ok(c) => compiled = Some((re.clone(), c)),
                    Err(e) => {
                        return HeartbeatResponse::error(
                            ErrorCode::InvalidRegularExpression,
                            format!(
                            "SubscribedTopicRegex `{re}` is not a valid regular expression: {e}"
                        ),
                        )
                    }
                }
            }
        }
        // static membership: the instance id names the member
        if let Some(instance) = &hb.instance_id {
            if let Some(owner) = self.static_members.get(instance).cloned() {
                if joining && owner != hb.member_id {
                    let Some(old) = self.members.get(&owner) else {
                        return HeartbeatResponse::error(ErrorCode::UnknownServerError, "lost");
                    };
                    // (a member switching protocols replaces the old one at once, as Kafka)
                    if old.epoch != -2 && old.classic.is_none() && !hb.classic {
                        return HeartbeatResponse::error(
                            ErrorCode::UnreleasedInstanceId,
                            format!(
                                "Static member {instance} with member id {owner} has not left \
                                 the group yet"
                            ),
                        );
                    }
                    self.replace_static(&owner, &hb.member_id);
                } else if !joining && owner != hb.member_id {
                    return HeartbeatResponse::error(
                        ErrorCode::FencedInstanceId,
                        format!("Static member {instance} is owned by another member"),
                    );
                }
            } else if !joining {
                return HeartbeatResponse::error(
                    ErrorCode::UnknownMemberId,
                    format!("Instance id {instance} is unknown"),
                );
            }
        }
        let known = self.members.contains_key(&hb.member_id);
        if !known && !joining {
            return HeartbeatResponse::error(
                ErrorCode::UnknownMemberId,
                format!(
                    "Member {} is not a member of group {}",
                    hb.member_id, self.id
                ),
            );
        }
        if !known && self.members.len() >= config.max_size {
            return HeartbeatResponse::error(
                ErrorCode::GroupMaxSizeReached,
                format!(
                    "The group has reached its maximum size of {}",
                    config.max_size
                ),
            );
        }
        let owned = hb.owned.as_deref().map(from_wire);
        if let Some(m) = self.members.get(&hb.member_id) {
            if !joining && hb.member_epoch != m.epoch {
                // a lost answer: the previous epoch with no more than what was assigned
                let retry = hb.member_epoch == m.previous_epoch
                    && owned.as_ref().is_some_and(|o| is_subset(o, &m.assigned));
                if !retry {
                    return HeartbeatResponse::error(
                        ErrorCode::FencedMemberEpoch,
                        format!(
                            "The consumer group member has a {} member epoch ({}) than the \
                             one known by the group coordinator ({})",
                            if hb.member_epoch > m.epoch {
                                "greater"
                            } else {
                                "smaller"
                            },
                            hb.member_epoch,
                            m.epoch
                        ),
                    );
                }
            }
        }
        if joining && known {
            // a member starting over (it lost its state, or was fenced): its partitions are
            // freed, its target kept, so it reconciles back to it
            self.reset_member(&hb.member_id);
        }

        // the member's record: what the request sets
        let mut bump = false;
        let interval = config.heartbeat_interval_ms;
        if !self.members.contains_key(&hb.member_id) {
            self.members.insert(
                hb.member_id.clone(),
                ConsumerMember::new(&hb.member_id, now),
            );
            bump = true;
        }
        if let Some(instance) = &hb.instance_id {
            self.static_members
                .insert(instance.clone(), hb.member_id.clone());
        }
        let Some(m) = self.members.get_mut(&hb.member_id) else {
            return HeartbeatResponse::error(ErrorCode::UnknownServerError, "member lost");
        };
        if hb.instance_id.is_some() {
            m.instance_id = hb.instance_id.clone();
        }
        if hb.rack_id.is_some() {
            m.rack_id = hb.rack_id.clone();
        }
        if hb.rebalance_timeout_ms != -1 {
            m.rebalance_timeout_ms = hb.rebalance_timeout_ms;
        }
        if hb.server_assignor.is_some() && hb.server_assignor != m.server_assignor {
            m.server_assignor = hb.server_assignor.clone();
            bump = true;
        }
        if let Some(mut names) = hb.subscribed_topic_names.clone() {
            names.sort();
            names.dedup();
            if names != m.subscribed_topic_names {
                m.subscribed_topic_names = names;
                bump = true;
            }
        }
        if let Some(re) = &hb.subscribed_topic_regex {
            let re = (!re.is_empty()).then(|| re.clone());
            if re != m.subscribed_topic_regex {
                m.subscribed_topic_regex = re;
                bump = true;
            }
        }
        if let Some((re, c)) = compiled {
            self.regexes.insert(re, c);
        }
        m.client_id = hb.client_id.clone();
        m.client_host = hb.client_host.clone();
        m.session_deadline = now + Ms::from(config.session_timeout_ms);

        // the subscribed topics' metadata: a new partition or a new matching topic is a
        // new epoch
        let metadata: TopicImage = self
            .subscribed_topic_names(image)
            .into_iter()
            .filter_map(|t| image.get(&t).map(|v| (t, *v)))
            .collect();
        if std::mem::take(&mut self.metadata_from_load) && self.target_covers(&metadata) {
            self.subscribed_metadata = metadata.clone();
        }
        if metadata != self.subscribed_metadata {
            self.subscribed_metadata = metadata;
            bump = true;
        }
        if bump {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(image, config);
        }

        let before = self
            .members
            .get(&hb.member_id)
            .map(|m| m.assigned.clone())
            .unwrap_or_default();
        self.reconcile(&hb.member_id, owned.as_ref(), now);
        let Some(m) = self.members.get(&hb.member_id) else {
            return HeartbeatResponse::error(ErrorCode::UnknownServerError, "member lost");
        };
        let full = joining
            || (hb.rebalance_timeout_ms != -1
                && (hb.subscribed_topic_names.is_some() || hb.subscribed_topic_regex.is_some())
                && hb.owned.is_some());
        HeartbeatResponse {
            error: ErrorCode::None,
            message: None,
            member_id: Some(m.member_id.clone()),
            member_epoch: m.epoch,
            heartbeat_interval_ms: interval,
            assignment: (full || before != m.assigned).then(|| to_wire(&m.assigned)),
        }
    }

    /// Whether the targets assign exactly the partitions of `metadata`'s topics.
    fn target_covers(&self, metadata: &TopicImage) -> bool {
        let wanted: BTreeSet<(Uuid, i32)> = metadata
            .values()
            .flat_map(|(id, n)| (0..*n).map(move |p| (*id, p)))
            .collect();
        let targeted: BTreeSet<(Uuid, i32)> = self
            .target
            .values()
            .flat_map(|a| {
                a.iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            })
            .collect();
        wanted == targeted
    }

    /// Frees what a member owns and sets it back to epoch 0 (its target stays).
    fn reset_member(&mut self, member_id: &str) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        let freed: Vec<(Uuid, i32)> = m
            .assigned
            .iter()
            .chain(m.pending_revocation.iter())
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect();
        m.assigned.clear();
        m.pending_revocation.clear();
        m.assigned_at.clear();
        m.epoch = 0;
        m.previous_epoch = 0;
        m.state = MemberState::Stable;
        m.rebalance_deadline = None;
        for k in freed {
            self.partition_epochs.remove(&k);
        }
    }

    /// A static member's replacement: the new member id takes over the old one's target
    /// and subscription, and starts from epoch 0.
    fn replace_static(&mut self, old_id: &str, new_id: &str) {
        self.reset_member(old_id);
        let Some(mut m) = self.members.remove(old_id) else {
            return;
        };
        m.member_id = new_id.to_string();
        self.members.insert(new_id.to_string(), m);
        if let Some(t) = self.target.remove(old_id) {
            self.target.insert(new_id.to_string(), t);
        }
    }

    /// A new target for every member at the group epoch.
    fn compute_target(&mut self, image: &TopicImage, config: &ConsumerConfig) {
        let name = self.assignor_name(config);
        let subscriptions: BTreeMap<String, BTreeSet<Uuid>> = self
            .members
            .values()
            .map(|m| {
                let ids = self
                    .member_topics(m, image)
                    .iter()
                    .filter_map(|t| image.get(t).map(|(id, _)| *id))
                    .collect();
                (m.member_id.clone(), ids)
            })
            .collect();
        let topics: BTreeMap<Uuid, i32> = self.subscribed_metadata.values().copied().collect();
        let members: Vec<AssignorMember<'_>> = self
            .members
            .values()
            .filter_map(|m| {
                Some(AssignorMember {
                    member_id: &m.member_id,
                    instance_id: m.instance_id.as_deref(),
                    subscribed: subscriptions.get(&m.member_id)?,
                    current: self.target.get(&m.member_id),
                })
            })
            .collect();
        let target = assignor::assign(&name, &members, &topics);
        self.target = target;
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves a member towards its target (Kafka's CurrentAssignmentBuilder).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Ms) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        if m.state == MemberState::Stable && m.epoch == target_epoch {
            return;
        }
        let next_epoch = match m.state {
            MemberState::UnrevokedPartitions => {
                // still holding what it must give up: nothing changes
                let holding = owned.is_none_or(|o| intersects(o, &m.pending_revocation));
                if holding {
                    return;
                }
                m.epoch + 1
            }
            _ => m.epoch,
        };
        let current = m.assigned.clone();
        let mut keep = Assignment::new();
        let mut revoke = Assignment::new();
        let mut newly = Assignment::new();
        let mut unreleased = false;
        let topics: BTreeSet<Uuid> = current.keys().chain(target.keys()).copied().collect();
        for t in topics {
            let cur = current.get(&t).cloned().unwrap_or_default();
            let tgt = target.get(&t).cloned().unwrap_or_default();
            for p in &cur {
                if tgt.contains(p) {
                    keep.entry(t).or_default().insert(*p);
                } else {
                    revoke.entry(t).or_default().insert(*p);
                }
            }
            for p in tgt.difference(&cur) {
                if self.partition_epochs.contains_key(&(t, *p)) {
                    unreleased = true;
                } else {
                    newly.entry(t).or_default().insert(*p);
                }
            }
        }
        let still_owns_revoked = owned.is_none_or(|o| intersects(o, &revoke));
        let (state, epoch, assigned, pending) = if !revoke.is_empty() && still_owns_revoked {
            (MemberState::UnrevokedPartitions, next_epoch, keep, revoke)
        } else {
            let mut assigned = keep;
            for (t, ps) in newly {
                assigned.entry(t).or_default().extend(ps);
            }
            let state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            (state, target_epoch, assigned, Assignment::new())
        };
        self.set_member_assignment(member_id, state, epoch, assigned, pending, now);
    }

    /// Stores a member's new assignment and moves its partitions' owner epochs with it.
    fn set_member_assignment(
        &mut self,
        member_id: &str,
        state: MemberState,
        epoch: i32,
        assigned: Assignment,
        pending: Assignment,
        now: Ms,
    ) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
            for p in ps {
                self.partition_epochs.remove(&(*t, *p));
            }
        }
        for (t, ps) in assigned.iter().chain(pending.iter()) {
            for p in ps {
                self.partition_epochs.insert((*t, *p), epoch);
            }
        }
        if m.epoch != epoch {
            m.previous_epoch = m.epoch;
        }
        m.assigned_at
            .retain(|(t, p), _| assigned.get(t).is_some_and(|ps| ps.contains(p)));
        for (t, ps) in &assigned {
            for p in ps {
                m.assigned_at.entry((*t, *p)).or_insert(epoch);
            }
        }
        m.rebalance_deadline = match state {
            MemberState::UnrevokedPartitions => m
                .rebalance_deadline
                .filter(|_| m.state == MemberState::UnrevokedPartitions && m.epoch == epoch)
                .or(Some(now + Ms::from(m.rebalance_timeout_ms))),
            _ => None,
        };
        m.epoch = epoch;
        m.state = state;
        m.assigned = assigned;
        m.pending_revocation = pending;
    }

    /// LeaveGroup through the heartbeat: epoch -1 removes the member; -2 (a static
    /// member) keeps its assignment for a replacement, until its session expires.
    pub fn leave(&mut self, hb: &Heartbeat, wall: i64) -> HeartbeatResponse {
        let member_id = match (&hb.instance_id, hb.member_epoch) {
            (Some(instance), _) => match self.static_members.get(instance) {
                Some(owner) if *owner == hb.member_id => owner.clone(),
                Some(_) => {
                    return HeartbeatResponse::error(
                        ErrorCode::FencedInstanceId,
                        format!("Static member {instance} is owned by another member"),
                    )
                }
                None => {
                    return HeartbeatResponse::error(
                        ErrorCode::UnknownMemberId,
                        format!("Instance id {instance} is unknown"),
                    )
                }
            },
            (None, _) => hb.member_id.clone(),
        };
        if !self.members.contains_key(&member_id) {
            return HeartbeatResponse::error(
                ErrorCode::UnknownMemberId,
                format!("Member {member_id} is not a member of group {}", self.id),
            );
        }
        if hb.member_epoch == -2 {
            if let Some(m) = self.members.get_mut(&member_id) {
                m.previous_epoch = m.epoch;
                m.epoch = -2;
                m.rebalance_deadline = None;
                let pending = std::mem::take(&mut m.pending_revocation);
                for (t, ps) in pending {
                    for p in ps {
                        self.partition_epochs.remove(&(t, p));
                    }
                }
            }
        } else {
            self.remove_member(&member_id, wall);
        }
        HeartbeatResponse {
            member_id: Some(hb.member_id.clone()),
            member_epoch: hb.member_epoch,
            ..HeartbeatResponse::default()
        }
    }

    /// Removes a member (it left or was fenced): its partitions are free, its target is
    /// gone, and the epoch is bumped so the others get a new target.
    pub fn remove_member(&mut self, member_id: &str, wall: i64) {
        self.reset_member(member_id);
        if let Some(m) = self.members.remove(member_id) {
            if let Some(instance) = m.instance_id {
                if self.static_members.get(&instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(&instance);
                }
            }
        }
        self.target.remove(member_id);
        self.group_epoch += 1;
        if self.members.is_empty() {
            self.empty_since = wall;
            self.subscribed_metadata.clear();
        }
        let used: BTreeSet<String> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.clone())
            .collect();
        self.regexes.retain(|r, _| used.contains(r));
    }

    /// Fences the members whose session or rebalance deadline passed; their ids.
    pub fn expire(&mut self, now: Ms, wall: i64) -> Vec<String> {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now || m.rebalance_deadline.is_some_and(|d| d <= now))
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            self.remove_member(id, wall);
        }
        expired
    }

    /// An OffsetCommit's member check (`version` of the request; transactional commits
    /// pass the highest) for the partitions `parts` (topic names): an empty group takes a
    /// commit with a negative epoch; otherwise the member must exist and commit with v9+,
    /// at its epoch, or (KIP-1251) at an older one for partitions it has owned since.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        epoch: i32,
        version: i16,
        parts: &[(&str, i32)],
    ) -> Result<(), ErrorCode> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let Some(m) = self.members.get(member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        // a classic member commits with its generation, at any version
        if m.classic.is_some() {
            return match m.epoch == epoch {
                true => Ok(()),
                false => Err(ErrorCode::IllegalGeneration),
            };
        }
        if version < 9 {
            return Err(ErrorCode::UnsupportedVersion);
        }
        if epoch == m.epoch {
            return Ok(());
        }
        if epoch > m.epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        let owned_since = |(topic, p): &(&str, i32)| {
            self.subscribed_metadata
                .get(*topic)
                .and_then(|(id, _)| m.assigned_at.get(&(*id, *p)))
                .is_some_and(|since| *since <= epoch)
        };
        match parts.iter().all(owned_since) {
            true => Ok(()),
            false => Err(ErrorCode::StaleMemberEpoch),
        }
    }

    /// The topics the group subscribes to: by name, and the regex matches last seen.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.subscribed_metadata.keys().cloned().collect();
        for m in self.members.values() {
            out.extend(m.subscribed_topic_names.iter().cloned());
        }
        out
    }
}

// ---------------------------------------------------------------- classic members

use super::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, version_of,
};
use super::records::{GroupValue, StoredMember};

/// Partitions by topic name to partitions by topic id, for the topics `image` has.
fn ids_of(named: &[(String, Vec<i32>)], image: &TopicImage) -> Assignment {
    let mut a = Assignment::new();
    for (topic, ps) in named {
        if let Some((id, _)) = image.get(topic) {
            a.entry(*id).or_default().extend(ps.iter().copied());
        }
    }
    a.retain(|_, ps| !ps.is_empty());
    a
}

impl ConsumerGroup {
    /// KIP-848's online upgrade: a classic group whose members speak the consumer
    /// protocol becomes a consumer group at its generation, each member Stable at that
    /// epoch with the partitions its last assignment gave it (also its target). Members
    /// keep the classic protocol until they leave; a member whose subscription cannot be
    /// read keeps no topics.
    pub fn from_classic(
        id: &str,
        generation: i32,
        members: Vec<super::classic::HandedOver>,
        image: &TopicImage,
        now: Ms,
        wall: i64,
    ) -> ConsumerGroup {
        let mut g = ConsumerGroup::new(id, wall);
        g.group_epoch = generation;
        g.assignment_epoch = generation;
        for (stored, protocols) in members {
            let subscription = decode_subscription(&stored.subscription).unwrap_or_default();
            let assigned = decode_assignment(&stored.assignment)
                .map(|a| ids_of(&a, image))
                .unwrap_or_default();
            let mut topics = subscription.topics.clone();
            topics.sort();
            topics.dedup();
            if let Some(instance) = &stored.instance_id {
                g.static_members
                    .insert(instance.clone(), stored.member_id.clone());
            }
            let member_id = stored.member_id.clone();
            g.members.insert(
                member_id.clone(),
                ConsumerMember {
                    member_id: member_id.clone(),
                    instance_id: stored.instance_id,
                    rack_id: subscription.rack,
                    client_id: stored.client_id,
                    client_host: stored.client_host,
                    rebalance_timeout_ms: stored.rebalance_timeout_ms,
                    subscribed_topic_names: topics,
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    epoch: generation,
                    previous_epoch: generation,
                    state: MemberState::Stable,
                    assigned: Assignment::new(),
                    pending_revocation: Assignment::new(),
                    assigned_at: HashMap::new(),
                    session_deadline: now + Ms::from(stored.session_timeout_ms),
                    rebalance_deadline: None,
                    classic: Some(ClassicMeta {
                        session_timeout_ms: stored.session_timeout_ms,
                        protocols,
                    }),
                },
            );
            g.target.insert(member_id.clone(), assigned.clone());
            g.set_member_assignment(
                &member_id,
                MemberState::Stable,
                generation,
                assigned,
                Assignment::new(),
                now,
            );
            if let Some(m) = g.members.get_mut(&member_id) {
                m.previous_epoch = generation;
            }
        }
        g.subscribed_metadata = g
            .subscribed_topic_names(image)
            .into_iter()
            .filter_map(|t| image.get(&t).map(|v| (t, *v)))
            .collect();
        g
    }

    /// A classic-protocol member by its ids: by instance id for a static one (another
    /// member id there is FENCED_INSTANCE_ID), else by member id.
    fn classic_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&ConsumerMember, ErrorCode> {
        let m = match instance_id {
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .ok_or(ErrorCode::UnknownMemberId)?;
                if owner != member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
                self.members.get(owner)
            }
            None => self.members.get(member_id),
        };
        let m = m.ok_or(ErrorCode::UnknownMemberId)?;
        if m.classic.is_none() {
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(m)
    }

    /// A classic JoinGroup to this consumer group: the member (new or known) is updated
    /// from its subscription, the group moves on as for a heartbeat, and the member
    /// reconciles with the partitions its subscription says it still owns (a cooperative
    /// member lists them; an eager one has given everything up). The answer comes at
    /// once: (member id, generation = its epoch, protocol name), or an error (with the
    /// member id the client must use for MEMBER_ID_REQUIRED).
    pub fn classic_join(
        &mut self,
        join: ClassicJoin,
        image: &TopicImage,
        config: &ConsumerConfig,
        now: Ms,
    ) -> Result<(String, i32, String), ErrorCode> {
        let Some((protocol, metadata)) = join.protocols.first().cloned() else {
            return Err(ErrorCode::InconsistentGroupProtocol);
        };
        let subscription =
            decode_subscription(&metadata).map_err(|_| ErrorCode::InconsistentGroupProtocol)?;
        let known = self.members.get(&join.member_id);
        if known.is_some_and(|m| m.classic.is_none()) {
            return Err(ErrorCode::UnknownMemberId);
        }
        let hb = Heartbeat {
            member_id: join.member_id.clone(),
            member_epoch: known.map_or(0, |m| m.epoch.max(0)),
            instance_id: join.instance_id.clone(),
            rack_id: subscription.rack.clone(),
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            subscribed_topic_names: Some(subscription.topics.clone()),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: Some(
                ids_of(&subscription.owned, image)
                    .into_iter()
                    .map(|(t, ps)| (t, ps.into_iter().collect()))
                    .collect(),
            ),
            client_id: join.client_id.clone(),
            client_host: join.client_host.clone(),
            classic: true,
        };
        let answer = self.heartbeat(hb, image, config, now);
        if answer.error != ErrorCode::None {
            return Err(answer.error);
        }
        let m = self
            .members
            .get_mut(&join.member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        m.classic = Some(ClassicMeta {
            session_timeout_ms: join.session_timeout_ms,
            protocols: join.protocols,
        });
        m.session_deadline = now + Ms::from(join.session_timeout_ms);
        Ok((m.member_id.clone(), m.epoch, protocol))
    }

    /// A classic SyncGroup: the member's assigned partitions (without those it must
    /// revoke) in the consumer protocol's bytes, at the version of its subscription.
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Ms,
    ) -> Result<bytes::Bytes, ErrorCode> {
        let m = self.classic_member(member_id, instance_id)?;
        if m.epoch != generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        // (after a load the topics' names come back with the next join)
        if self.metadata_from_load
            || (self.group_epoch > m.epoch && m.state != MemberState::UnrevokedPartitions)
        {
            return Err(ErrorCode::RebalanceInProgress);
        }
        let names: HashMap<Uuid, &String> = self
            .subscribed_metadata
            .iter()
            .map(|(name, (id, _))| (*id, name))
            .collect();
        let assigned: Vec<(String, Vec<i32>)> = m
            .assigned
            .iter()
            .filter_map(|(t, ps)| Some(((*names.get(t)?).clone(), ps.iter().copied().collect())))
            .collect();
        let version = m
            .classic
            .as_ref()
            .and_then(|c| c.protocols.first())
            .map_or(0, |(_, meta)| version_of(meta));
        let (id, session) = (
            m.member_id.clone(),
            m.classic.as_ref().map_or(0, |c| c.session_timeout_ms),
        );
        if let Some(m) = self.members.get_mut(&id) {
            m.session_deadline = now + Ms::from(session);
        }
        Ok(encode_assignment(version, &assigned))
    }

    /// A classic Heartbeat: REBALANCE_IN_PROGRESS when the member must rejoin (a new
    /// epoch, partitions to revoke, or partitions now free for it).
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Ms,
    ) -> ErrorCode {
        let m = match self.classic_member(member_id, instance_id) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if m.epoch != generation {
            return ErrorCode::IllegalGeneration;
        }
        let waiting = m.state == MemberState::UnreleasedPartitions && self.waiting_on_unreleased(m);
        let rejoin = m.epoch < self.group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !waiting);
        let (id, session) = (
            m.member_id.clone(),
            m.classic.as_ref().map_or(0, |c| c.session_timeout_ms),
        );
        if let Some(m) = self.members.get_mut(&id) {
            m.session_deadline = now + Ms::from(session);
        }
        match rejoin {
            true => ErrorCode::RebalanceInProgress,
            false => ErrorCode::None,
        }
    }

    /// Whether some partition of the member's target is still owned by another member.
    fn waiting_on_unreleased(&self, m: &ConsumerMember) -> bool {
        self.target.get(&m.member_id).is_some_and(|t| {
            t.iter().any(|(topic, ps)| {
                ps.iter().any(|p| {
                    !m.assigned.get(topic).is_some_and(|a| a.contains(p))
                        && self.partition_epochs.contains_key(&(*topic, *p))
                })
            })
        })
    }

    /// A classic LeaveGroup of one member.
    pub fn classic_leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        wall: i64,
    ) -> ErrorCode {
        // an admin removing a static member names only its instance
        let owner = instance_id
            .filter(|_| member_id.is_empty())
            .and_then(|i| self.static_members.get(i).cloned());
        let member_id = owner.as_deref().unwrap_or(member_id);
        let id = match self.classic_member(member_id, instance_id) {
            Ok(m) => m.member_id.clone(),
            Err(e) => return e,
        };
        self.remove_member(&id, wall);
        ErrorCode::None
    }

    /// Whether only classic-protocol members are left (and some are): KIP-848's online
    /// downgrade makes the group classic again.
    pub fn only_classic_members(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }

    /// The classic group this one becomes (online downgrade): Stable at the group epoch,
    /// the protocol every member supports (the first member's first such), each member's
    /// target as its assignment; and each member's protocols.
    pub fn to_classic(
        &self,
        wall: i64,
    ) -> (GroupValue, HashMap<String, Vec<(String, bytes::Bytes)>>) {
        let protocols: HashMap<String, Vec<(String, bytes::Bytes)>> = self
            .members
            .values()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.classic
                        .as_ref()
                        .map(|c| c.protocols.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let protocol = protocols
            .values()
            .next()
            .into_iter()
            .flatten()
            .map(|(name, _)| name.clone())
            .find(|name| {
                protocols
                    .values()
                    .all(|ps| ps.iter().any(|(n, _)| n == name))
            })
            .unwrap_or_default();
        let names: HashMap<Uuid, &String> = self
            .subscribed_metadata
            .iter()
            .map(|(name, (id, _))| (*id, name))
            .collect();
        let members = self
            .members
            .values()
            .map(|m| {
                let subscription = protocols
                    .get(&m.member_id)
                    .into_iter()
                    .flatten()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, meta)| meta.clone())
                    .unwrap_or_default();
                let target: Vec<(String, Vec<i32>)> = self
                    .target
                    .get(&m.member_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|(t, ps)| {
                        Some(((*names.get(t)?).clone(), ps.iter().copied().collect()))
                    })
                    .collect();
                StoredMember {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.classic.as_ref().map_or(45_000, |c| c.session_timeout_ms),
                    assignment: encode_assignment(version_of(&subscription), &target),
                    subscription,
                }
            })
            .collect();
        let value = GroupValue {
            protocol_type: "consumer".into(),
            generation: self.group_epoch,
            protocol: Some(protocol),
            leader: None,
            state_timestamp: wall,
            members,
        };
        (value, protocols)
    }
}

/// The records that take a group from `before` to `after`, in Kafka's order: tombstones of
/// the members gone (current assignment, target, metadata), the members' metadata, the
/// group epoch, the targets and the assignment epoch, the members' current assignments.
pub fn changes(before: &ConsumerGroup, after: &ConsumerGroup) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    for id in before
        .members
        .keys()
        .filter(|id| !after.members.contains_key(*id))
    {
        out.push(ConsumerRecord::Current {
            member_id: id.clone(),
            value: None,
        });
        out.push(ConsumerRecord::TargetMember {
            member_id: id.clone(),
            value: None,
        });
        out.push(ConsumerRecord::Member {
            member_id: id.clone(),
            value: None,
        });
    }
    for (id, m) in &after.members {
        let value = MemberValue::of(m);
        if before.members.get(id).map(MemberValue::of).as_ref() != Some(&value) {
            out.push(ConsumerRecord::Member {
                member_id: id.clone(),
                value: Some(value),
            });
        }
    }
    if after.group_epoch != before.group_epoch {
        out.push(ConsumerRecord::GroupEpoch(Some(after.group_epoch)));
    }
    for (id, t) in &after.target {
        if before.target.get(id) != Some(t) {
            out.push(ConsumerRecord::TargetMember {
                member_id: id.clone(),
                value: Some(t.clone()),
            });
        }
    }
    for id in before.target.keys() {
        if !after.target.contains_key(id) && after.members.contains_key(id) {
            out.push(ConsumerRecord::TargetMember {
                member_id: id.clone(),
                value: None,
            });
        }
    }
    if after.assignment_epoch != before.assignment_epoch {
        out.push(ConsumerRecord::TargetEpoch(Some(after.assignment_epoch)));
    }
    for (id, m) in &after.members {
        let value = CurrentValue::of(m);
        if before.members.get(id).map(CurrentValue::of).as_ref() != Some(&value) {
            out.push(ConsumerRecord::Current {
                member_id: id.clone(),
                value: Some(value),
            });
        }
    }
    out
}

/// The tombstones of a whole group (DeleteGroups): every member's records, then the
/// group's.
pub fn tombstones(g: &ConsumerGroup) -> Vec<ConsumerRecord> {
    let mut out = changes(g, &ConsumerGroup::new(&g.id, g.empty_since));
    out.push(ConsumerRecord::TargetEpoch(None));
    out.push(ConsumerRecord::PartitionMetadata);
    out.push(ConsumerRecord::GroupEpoch(None));
    out
}

impl ConsumerGroup {
    /// A member to replay a record into (one known from a later record comes first).
    fn member_for_replay(&mut self, member_id: &str) -> &mut ConsumerMember {
        self.members
            .entry(member_id.to_string())
            .or_insert_with(|| ConsumerMember::new(member_id, 0))
    }

    /// Applies one stored record (at load). A group-epoch tombstone is the shard's (it
    /// forgets the group).
    pub fn replay(&mut self, record: ConsumerRecord) {
        match record {
            ConsumerRecord::GroupEpoch(Some(e)) => self.group_epoch = e,
            ConsumerRecord::GroupEpoch(None) | ConsumerRecord::PartitionMetadata => {}
            ConsumerRecord::TargetEpoch(e) => self.assignment_epoch = e.unwrap_or(0),
            ConsumerRecord::TargetMember { member_id, value } => match value {
                Some(a) => {
                    self.target.insert(member_id, a);
                }
                None => {
                    self.target.remove(&member_id);
                }
            },
            ConsumerRecord::Member { member_id, value } => match value {
                Some(v) => {
                    if let Some(instance) = &v.instance_id {
                        self.static_members
                            .insert(instance.clone(), member_id.clone());
                    }
                    let m = self.member_for_replay(&member_id);
                    m.instance_id = v.instance_id;
                    m.rack_id = v.rack_id;
                    m.client_id = v.client_id;
                    m.client_host = v.client_host;
                    m.subscribed_topic_names = v.subscribed_topic_names;
                    // Kafka writes an empty pattern for none
                    m.subscribed_topic_regex = v.subscribed_topic_regex.filter(|r| !r.is_empty());
                    m.rebalance_timeout_ms = v.rebalance_timeout_ms;
                    m.server_assignor = v.server_assignor;
                    m.classic = v.classic;
                }
                None => {
                    self.reset_member(&member_id);
                    if let Some(m) = self.members.remove(&member_id) {
                        if let Some(instance) = m.instance_id {
                            if self.static_members.get(&instance) == Some(&member_id) {
                                self.static_members.remove(&instance);
                            }
                        }
                    }
                }
            },
            ConsumerRecord::Current { member_id, value } => match value {
                Some(c) => {
                    self.member_for_replay(&member_id);
                    self.set_member_assignment(
                        &member_id,
                        c.state,
                        c.member_epoch,
                        c.assigned,
                        c.pending_revocation,
                        0,
                    );
                    if let Some(m) = self.members.get_mut(&member_id) {
                        m.previous_epoch = c.previous_member_epoch;
                    }
                }
                None => self.reset_member(&member_id),
            },
        }
    }

    /// After a load: every member's session starts now (as Kafka, which schedules every
    /// member's session timeout when it loads a group), a member revoking has its
    /// rebalance timeout from now, and the regexes are compiled again.
    pub fn loaded(&mut self, now: Ms, session_timeout_ms: i32, wall: i64) {
        for m in self.members.values_mut() {
            let session = m
                .classic
                .as_ref()
                .map_or(session_timeout_ms, |c| c.session_timeout_ms);
            m.session_deadline = now + Ms::from(session);
            m.rebalance_deadline = (m.state == MemberState::UnrevokedPartitions)
                .then(|| now + Ms::from(m.rebalance_timeout_ms));
        }
        for re in self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.clone())
            .collect::<Vec<_>>()
        {
            if let Ok(compiled) = compile_regex(&re) {
                self.regexes.insert(re, compiled);
            }
        }
        if self.members.is_empty() {
            self.empty_since = wall;
        }
        self.metadata_from_load = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConsumerConfig {
        ConsumerConfig {
            max_size: 100,
            ..ConsumerConfig::default()
        }
    }

    fn image(parts: i32) -> TopicImage {
        TopicImage::from([("t".to_string(), (Uuid::from_u128(7), parts))])
    }

    fn join(member: &str) -> Heartbeat {
        Heartbeat {
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 60_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned: Some(Vec::new()),
            ..Heartbeat::default()
        }
    }

    fn beat(member: &str, epoch: i32, owned: &[i32]) -> Heartbeat {
        Heartbeat {
            member_id: member.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(vec![(Uuid::from_u128(7), owned.to_vec())]),
            ..Heartbeat::default()
        }
    }

    fn parts(r: &HeartbeatResponse) -> Vec<i32> {
        r.assignment
            .as_ref()
            .map(|a| a.iter().flat_map(|(_, ps)| ps.clone()).collect())
            .unwrap_or_default()
    }

    /// A partition moves from a to b only after a stops listing it: b is told of it on
    /// the heartbeat after a's revocation, never before.
    #[test]
    fn a_partition_is_revoked_before_it_is_assigned_elsewhere() {
        let (img, cfg) = (image(2), config());
        let mut g = ConsumerGroup::new("g", 0);
        let a = g.heartbeat(join("a"), &img, &cfg, 0);
        assert_eq!((a.member_epoch, parts(&a)), (1, vec![0, 1]));
        let b = g.heartbeat(join("b"), &img, &cfg, 10);
        assert_eq!(b.member_epoch, 2);
        assert!(parts(&b).is_empty(), "a still owns b's partition: {b:?}");
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        // a is told to give one up, at its old epoch
        let a = g.heartbeat(beat("a", 1, &[0, 1]), &img, &cfg, 20);
        assert_eq!(a.member_epoch, 1);
        let kept = parts(&a);
        assert_eq!(kept.len(), 1);
        // b still waits
        let b = g.heartbeat(beat("b", 2, &[]), &img, &cfg, 30);
        assert!(b.assignment.is_none(), "{b:?}");
        // a acknowledges: it gets the new epoch, b its partition
        let a = g.heartbeat(beat("a", 1, &kept), &img, &cfg, 40);
        assert_eq!(a.member_epoch, 2);
        let b = g.heartbeat(beat("b", 2, &[]), &img, &cfg, 50);
        let got = parts(&b);
        assert_eq!(got.len(), 1);
        assert_ne!(got, kept);
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn epochs_are_checked_and_sessions_expire() {
        let (img, cfg) = (image(1), config());
        let mut g = ConsumerGroup::new("g", 0);
        g.heartbeat(join("a"), &img, &cfg, 0);
        let r = g.heartbeat(beat("a", 5, &[0]), &img, &cfg, 1);
        assert_eq!(r.error, ErrorCode::FencedMemberEpoch);
        let r = g.heartbeat(beat("z", 1, &[]), &img, &cfg, 1);
        assert_eq!(r.error, ErrorCode::UnknownMemberId);
        let t0 = [("t", 0)];
        assert_eq!(g.validate_offset_commit("a", 1, 9, &t0), Ok(()));
        assert_eq!(
            g.validate_offset_commit("a", 0, 9, &t0),
            Err(ErrorCode::StaleMemberEpoch),
            "owned since epoch 1"
        );
        assert_eq!(
            g.validate_offset_commit("a", 2, 9, &t0),
            Err(ErrorCode::StaleMemberEpoch)
        );
        assert_eq!(
            g.validate_offset_commit("a", 1, 8, &t0),
            Err(ErrorCode::UnsupportedVersion)
        );
        assert_eq!(
            g.validate_offset_commit("", -1, 9, &t0),
            Err(ErrorCode::UnknownMemberId)
        );
        assert_eq!(g.next_deadline(), Some(45_000));
        assert_eq!(g.expire(44_999, 0), Vec::<String>::new());
        assert_eq!(g.expire(45_000, 0), vec!["a".to_string()]);
        assert!(g.is_empty());
        assert_eq!(g.group_epoch, 2);
    }

    #[test]
    fn new_partitions_and_regex_matches_bump_the_epoch() {
        let cfg = config();
        let mut g = ConsumerGroup::new("g", 0);
        let hb = Heartbeat {
            subscribed_topic_names: None,
            subscribed_topic_regex: Some("t.*".into()),
            ..join("a")
        };
        let r = g.heartbeat(hb, &image(1), &cfg, 0);
        assert_eq!((r.member_epoch, parts(&r)), (1, vec![0]));
        let r = g.heartbeat(beat("a", 1, &[0]), &image(3), &cfg, 1);
        assert_eq!((r.member_epoch, parts(&r)), (2, vec![0, 1, 2]));
        let mut more = image(3);
        more.insert("t2".into(), (Uuid::from_u128(8), 1));
        more.insert("other".into(), (Uuid::from_u128(9), 1));
        let r = g.heartbeat(beat("a", 2, &[0, 1, 2]), &more, &cfg, 2);
        assert_eq!(r.member_epoch, 3);
        let total: usize = r.assignment.iter().flatten().map(|(_, ps)| ps.len()).sum();
        assert_eq!(total, 4, "t's three and t2's one, not other's: {r:?}");
        let bad = Heartbeat {
            subscribed_topic_regex: Some("(".into()),
            ..join("b")
        };
        assert_eq!(
            g.heartbeat(bad, &more, &cfg, 3).error,
            ErrorCode::InvalidRegularExpression
        );
    }

    /// RE2/J's syntax: `\Q..\E` quotes (Java's `Pattern.quote`), a repetition of a
    /// repetition is refused, lazy operators and counted repetitions are fine.
    #[test]
    fn regexes_follow_re2j() {
        let matches = |p: &str, t: &str| compile_regex(p).map(|r| r.is_match(t));
        assert_eq!(matches(r"\Qa.b\E-.*", "a.b-1"), Ok(true));
        assert_eq!(matches(r"\Qa.b\E-.*", "axb-1"), Ok(false));
        assert_eq!(matches(r"orders|pay.*", "payments"), Ok(true));
        assert_eq!(matches(r"orders", "orders-2"), Ok(false), "the whole name");
        assert_eq!(matches(r"a{2}b+?", "aab"), Ok(true));
        assert_eq!(matches(r"[*+]x{", "*x{"), Ok(true));
        assert_eq!(matches(r"a*{x}", "aa{x}"), Ok(true));
        let long = "a".repeat(MAX_REGEX_LEN + 1);
        for bad in [
            r"a**", r"a++", r"a{2}{3}", r"a*??", r"(", r"\1", r"a)|(b", &long,
        ] {
            assert!(compile_regex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_static_member_is_replaced_without_a_rebalance() {
        let (img, cfg) = (image(2), config());
        let mut g = ConsumerGroup::new("g", 0);
        let s = |m: &str, e| Heartbeat {
            instance_id: Some("i1".into()),
            member_epoch: e,
            ..join(m)
        };
        let r = g.heartbeat(s("a", 0), &img, &cfg, 0);
        assert_eq!(parts(&r), vec![0, 1]);
        assert_eq!(
            g.heartbeat(s("b", 0), &img, &cfg, 1).error,
            ErrorCode::UnreleasedInstanceId
        );
        // a member of the other protocol takes the instance over at once (KIP-848's
        // migration of static members)
        let mut g2 = g.clone();
        let switch = Heartbeat {
            classic: true,
            ..s("c", 0)
        };
        assert_eq!(g2.heartbeat(switch, &img, &cfg, 2).error, ErrorCode::None);
        assert!(!g2.members.contains_key("a"));

        let left = g.leave(&s("a", -2), 2);
        assert_eq!((left.error, left.member_epoch), (ErrorCode::None, -2));
        let epoch = g.group_epoch;
        let r = g.heartbeat(s("b", 0), &img, &cfg, 3);
        assert_eq!((r.error, parts(&r)), (ErrorCode::None, vec![0, 1]));
        assert_eq!(g.group_epoch, epoch, "no rebalance");
        assert!(!g.members.contains_key("a"));
    }
}
