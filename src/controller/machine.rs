//! The controller's decisions as a pure state machine (Kafka's `QuorumController` with its
//! `ClusterControlManager`, `BrokerHeartbeatManager`, `ReplicationControlManager`,
//! `PartitionChangeBuilder` and `ProducerIdControlManager`): [`ControllerMachine`] takes an
//! event (a broker registers, heartbeats, the clock ticks, an admin request) and returns a
//! [`ControllerResult`]: the [`MetadataRecord`]s to propose and the answer for the caller.
//! The quorum only replicates: the driver proposes the records, and once they are
//! committed hands each one back to [`ControllerMachine::replay`], which applies it to the
//! image. No I/O, no clock (time comes in as `now_ms`), no randomness of its own (a
//! [`RandomSource`] comes in with the events that need one).
//!
//! State:
//! - the committed [`MetadataImage`] (brokers, topics, partitions, configs, producer ids);
//! - soft state, never written to the log: each broker's last heartbeat (its session), the
//!   highest broker epoch and producer id handed out (so two events decided before their
//!   records come back never hand out the same one).
//!
//! The driver replays one result's records before it hands the machine the next event
//! that reads the same state (Kafka applies them at once and reverts on a failed commit;
//! a driver with one event queue that waits for the commit is the simple equivalent). An
//! event decided on a stale image is still safe, only redundant (a fence proposed twice).
//!
//! A standby controller replays too; when it becomes active, [`ControllerMachine::activate`]
//! gives every registered broker a fresh session, as Kafka's new active controller does,
//! so no broker is fenced for the time the quorum had no leader.
//!
//! Broker epochs: Kafka uses the offset of the RegisterBrokerRecord. The driver passes the
//! offset the record will get (`next_offset`, its log end); the machine takes the larger
//! of that and one past the highest epoch it has seen, so epochs still only go up if the
//! hint is off (a proposal that did not commit). A broker is caught up, and can be
//! unfenced, once the metadata offset it reports reaches its broker epoch (with an exact
//! offset: its own registration).
//!
//! A driver's loop, in short (the quorum's commit stands in as a plain replay here):
//!
//! ```
//! use rafka::controller::machine::{BrokerHeartbeatRequest, BrokerRegistrationRequest,
//!     ControllerConfig, ControllerMachine, CreatableTopic};
//! use rafka::controller::placement::SplitMix64;
//! use rafka::metadata::image::MetadataImage;
//!
//! let mut m = ControllerMachine::new(ControllerConfig::default(), MetadataImage::new());
//! let reg = BrokerRegistrationRequest { broker_id: 1, incarnation_id: uuid::Uuid::from_u128(7),
//!     listeners: vec![], features: vec![], rack: None, log_dirs: vec![] };
//! let r = m.register_broker(reg, 0, 0).unwrap();
//! for rec in &r.records { m.replay(rec); } // once committed by the quorum
//! let hb = BrokerHeartbeatRequest { broker_id: 1, broker_epoch: r.response,
//!     current_metadata_offset: 1, want_fence: false, want_shutdown: false };
//! let r = m.heartbeat(hb, 100).unwrap();
//! for rec in &r.records { m.replay(rec); }
//! assert!(m.image().is_live(1));
//! let topic = CreatableTopic { name: "t".into(), num_partitions: 3, replication_factor: 1,
//!     ..Default::default() };
//! let r = m.create_topics(&[topic], false, &mut SplitMix64::new(42));
//! for rec in &r.records { m.replay(rec); }
//! assert_eq!(m.image().topic("t").unwrap().partitions.len(), 3);
//! let r = m.tick(100 + 9_001); // no heartbeat for broker.session.timeout.ms: fenced
//! for rec in &r.records { m.replay(rec); }
//! assert!(!m.image().is_live(1));
//! ```
//!
//! Events in ([`ControllerMachine`] methods) and what each proposes:
//! - brokers: `register_broker` (RegisterBrokerRecord), `heartbeat` (BrokerRegistrationChange
//!   records: unfence, controlled shutdown, fence), `tick` (fences expired sessions),
//!   `unregister_broker` (UnregisterBrokerRecord); each with the PartitionChangeRecords
//!   that move leaderships and ISR places;
//! - topics (`machine/topics.rs`): `create_topics`, `delete_topics`, `create_partitions`;
//! - partitions (`machine/partitions.rs`): `elect_leaders`, `alter_partition`,
//!   `alter_partition_reassignments` / `list_partition_reassignments`;
//! - `allocate_producer_ids` (ProducerIdsRecord), `alter_configs` (ConfigRecords),
//!   `alter_user_scram_credentials` (UserScramCredentialRecords and their removals),
//!   `create_acls` / `delete_acls` (AccessControlEntryRecords and their removals).
//!
//! Not done here (yet), and where Rafka differs from Kafka:
//! - racks: placement is rack-unaware; KIP-966's eligible leader replicas; `min.insync.replicas`
//!   plays no part in elections;
//! - a broker in controlled shutdown is let go once it leads nothing; Kafka also waits until
//!   every active broker has replayed past its shutdown (that needs offsets);
//! - registration does not check the cluster id, features or log dirs; configs are not
//!   validated against the known keys; no CreateTopicPolicy;
//! - a re-registration of the same incarnation also clears the broker's leaderships (Kafka
//!   only does it for a new incarnation): the new registration is fenced, and a fenced
//!   broker must lead nothing;
//! - `tick` and elections look at every partition (Kafka keeps a broker → partitions
//!   index, `BrokersToIsrs`); fine for thousands of partitions, an index later.
//!
//! Invariants the machine keeps (checked by the sequence test): every partition's leader
//! is -1 or an unfenced, registered replica in its ISR; ISR ⊆ replicas, never empty while
//! the replicas are not; adding and removing replicas ⊆ replicas; leader epochs never go
//! down; topic names and ids are unique.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info};
use uuid::Uuid;

use crate::config::ClusterConfig;
use crate::error::ErrorCode;
use crate::metadata::image::{Applied, MetadataImage, PartitionImage};
use crate::metadata::records::{
    config_resource, BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord, ConfigRecord,
    MetadataRecord, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord,
    RegisterBrokerRecord, RemoveTopicRecord, TopicRecord, UnregisterBrokerRecord, NO_LEADER,
    NO_LEADER_CHANGE,
};
use crate::metadata::scram;

use super::placement::{place_replicas, PlacementError, RandomSource};

/// Kafka hands producer ids to brokers in blocks of this size
/// (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The most records one admin request may produce (Kafka's `MAX_RECORDS_PER_USER_OP`);
/// beyond it the request is refused with POLICY_VIOLATION.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// `leader_recovery_state`: the leader was elected from outside the ISR.
const RECOVERING: i8 = 1;

/// Why the controller refused an event (or one item of a batch request). Each maps to
/// Kafka's code in [`ControllerError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// Another incarnation of the broker id holds a live session.
    #[error("another broker is registered with id {0}")]
    DuplicateBrokerRegistration(i32),
    /// A heartbeat (or request) for a broker id that is not registered.
    #[error("broker {0} is not registered")]
    BrokerIdNotRegistered(i32),
    /// A broker epoch that is not the broker's current one.
    #[error("broker {broker_id}: epoch {got} is not the current {current}")]
    StaleBrokerEpoch {
        broker_id: i32,
        got: i64,
        current: i64,
    },
    /// A replication factor that is not positive or above the usable brokers.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// A partition count that is not positive, or not above the current one.
    #[error("{0}")]
    InvalidPartitions(String),
    /// An explicit assignment that is empty, repeats a broker, names an unusable broker or
    /// differs in length between partitions.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// The topic name is taken.
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    /// A name Kafka refuses, or one that collides with another after '.' → '_'.
    #[error("{0}")]
    InvalidTopic(String),
    /// No topic of that name (or no such partition).
    #[error("unknown topic or partition: {0}")]
    UnknownTopicOrPartition(String),
    /// No topic with that id.
    #[error("unknown topic id {0}")]
    UnknownTopicId(Uuid),
    /// A config without a value, or a resource that cannot hold configs.
    #[error("{0}")]
    InvalidConfig(String),
    /// A request that contradicts itself (a topic twice, counts and an assignment).
    #[error("{0}")]
    InvalidRequest(String),
    /// AlterPartition from a broker that is not the partition's leader, or with a leader
    /// epoch newer than the controller's.
    #[error("broker {0} is not the leader of the partition")]
    NotLeader(i32),
    /// AlterPartition with an older leader epoch than the partition's.
    #[error("leader epoch {got} is older than {current}")]
    FencedLeaderEpoch { got: i32, current: i32 },
    /// AlterPartition with a partition epoch that is not the partition's.
    #[error("partition epoch {got} is not the current {current}")]
    InvalidUpdateVersion { got: i32, current: i32 },
    /// AlterPartition adding a replica to the ISR that is fenced or shutting down.
    #[error("replica {0} is not eligible to join the ISR")]
    IneligibleReplica(i32),
    /// Every producer id up to `i64::MAX` has been handed out (Kafka answers
    /// UNKNOWN_SERVER_ERROR).
    #[error("exhausted all producer ids")]
    ProducerIdsExhausted,
    /// A request that would write more than [`MAX_RECORDS_PER_USER_OP`] records.
    #[error("{0}")]
    PolicyViolation(String),
    /// AlterPartitionReassignments: a cancel for a partition not being reassigned.
    #[error("no partition reassignment is in progress")]
    NoReassignmentInProgress,
    /// ElectLeaders: the partition already has the leader the election would give it.
    #[error("leader election not needed")]
    ElectionNotNeeded,
    /// ElectLeaders (preferred): the preferred replica is not live or not in the ISR.
    #[error("the preferred leader is not available")]
    PreferredLeaderNotAvailable,
    /// ElectLeaders (unclean): no live replica.
    #[error("no eligible leader is available")]
    EligibleLeadersNotAvailable,
}

impl ControllerError {
    /// Kafka's error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        use ControllerError as E;
        match self {
            E::DuplicateBrokerRegistration(_) => ErrorCode::DuplicateBrokerRegistration,
            E::BrokerIdNotRegistered(_) => ErrorCode::BrokerIdNotRegistered,
            E::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
            E::InvalidReplicationFactor(_) => ErrorCode::InvalidReplicationFactor,
            E::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
            E::InvalidReplicaAssignment(_) => ErrorCode::InvalidReplicaAssignment,
            E::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            E::InvalidTopic(_) => ErrorCode::InvalidTopicException,
            E::UnknownTopicOrPartition(_) => ErrorCode::UnknownTopicOrPartition,
            E::UnknownTopicId(_) => ErrorCode::UnknownTopicId,
            E::InvalidConfig(_) => ErrorCode::InvalidConfig,
            E::InvalidRequest(_) => ErrorCode::InvalidRequest,
            E::NoReassignmentInProgress => ErrorCode::NoReassignmentInProgress,
            E::PolicyViolation(_) => ErrorCode::PolicyViolation,
            E::ProducerIdsExhausted => ErrorCode::UnknownServerError,
            E::NotLeader(_) => ErrorCode::NotLeaderOrFollower,
            E::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            E::InvalidUpdateVersion { .. } => ErrorCode::InvalidUpdateVersion,
            E::IneligibleReplica(_) => ErrorCode::IneligibleReplica,
            E::ElectionNotNeeded => ErrorCode::ElectionNotNeeded,
            E::PreferredLeaderNotAvailable => ErrorCode::PreferredLeaderNotAvailable,
            E::EligibleLeadersNotAvailable => ErrorCode::EligibleLeadersNotAvailable,
        }
    }
}

/// The settings the controller decides with (from `server.properties`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: u64,
    /// `default.replication.factor`: CreateTopics with -1.
    pub default_replication_factor: i16,
    /// `num.partitions`: CreateTopics with -1.
    pub num_partitions: i32,
    /// `unclean.leader.election.enable`: elect a live replica outside the ISR rather than
    /// leave a partition without a leader.
    pub unclean_leader_election_enable: bool,
}

impl ControllerConfig {
    /// From the cluster keys and `num.partitions` (which the log configuration owns).
    pub fn new(cluster: &ClusterConfig, num_partitions: i32) -> Self {
        ControllerConfig {
            broker_session_timeout_ms: cluster.broker_session_timeout_ms,
            default_replication_factor: cluster.default_replication_factor,
            num_partitions,
            unclean_leader_election_enable: cluster.unclean_leader_election_enable,
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig::new(&ClusterConfig::default(), 1)
    }
}

/// What one event produced: records to propose, and the caller's answer (given once the
/// records are committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerResult<T> {
    pub records: Vec<MetadataRecord>,
    pub response: T,
}

impl<T> ControllerResult<T> {
    fn new(records: Vec<MetadataRecord>, response: T) -> Self {
        ControllerResult { records, response }
    }
}

/// BrokerRegistration, as the machine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistrationRequest {
    pub broker_id: i32,
    /// A new one every time the broker process starts.
    pub incarnation_id: Uuid,
    pub listeners: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
}

/// BrokerHeartbeat, as the machine needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatRequest {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The highest metadata offset the broker has applied.
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shutdown: bool,
}

/// The BrokerHeartbeat response's fields, as they are once the result's records commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerHeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

/// One topic of a CreateTopics request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreatableTopic {
    pub name: String,
    /// -1: `num.partitions` (must be -1 with an assignment).
    pub num_partitions: i32,
    /// -1: `default.replication.factor` (must be -1 with an assignment).
    pub replication_factor: i16,
    /// Explicit replicas by partition index (0..n, each index once); empty: placed.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Topic config overrides (a `None` value is refused).
    pub configs: Vec<(String, Option<String>)>,
}

/// A created (or, with validate_only, creatable) topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTopic {
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// One topic's answer in CreateTopics.
pub type CreateTopicResult = (String, Result<CreatedTopic, ControllerError>);

/// One partition's answer (ElectLeaders, AlterPartitionReassignments): (topic, partition)
/// and the outcome.
pub type PartitionResult = ((String, i32), Result<(), ControllerError>);

/// One partition of AlterPartitionReassignments: (topic, partition) and its target
/// replicas, `None` to cancel.
pub type Reassignment = ((String, i32), Option<Vec<i32>>);

/// One partition's reassignment in ListPartitionReassignments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// The current replicas (the target first, then those being removed).
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// AlterPartition: a leader's new ISR for one of its partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The partition's state once the AlterPartition's record is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionReply {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

/// A topic named in DeleteTopics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// ElectLeaders' election type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica, if it is live and in the ISR.
    Preferred,
    /// Only for a partition without a live leader: from the ISR, else any live replica.
    Unclean,
}

/// An IncrementalAlterConfigs operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    Delete(String),
    /// Adds values to a comma-separated list key (each once).
    Append(String, String),
    /// Removes values from a comma-separated list key.
    Subtract(String, String),
}

/// How to pick a partition's leader in [`ControllerMachine::partition_change`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Election {
    /// Keep an acceptable leader; else the first acceptable ISR member.
    Clean,
    /// The first replica if acceptable and in the ISR.
    Preferred,
    /// As `Clean`, then any acceptable replica outside the ISR.
    Unclean,
}

/// Which brokers may lead during one decision: the image's unfenced brokers not in
/// controlled shutdown, minus those leaving in this event, plus one joining.
struct Liveness<'a> {
    image: &'a MetadataImage,
    leaving: &'a BTreeSet<i32>,
    joining: Option<i32>,
}

impl Liveness<'_> {
    fn active(&self, id: i32) -> bool {
        if self.leaving.contains(&id) {
            return false;
        }
        if self.joining == Some(id) {
            return true;
        }
        self.image
            .brokers
            .get(&id)
            .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
    }
}

/// What a partition should become: Kafka's `PartitionChangeBuilder` targets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

impl Target {
    fn of(p: &PartitionImage) -> Self {
        Target {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            adding: p.adding_replicas.clone(),
            removing: p.removing_replicas.clone(),
        }
    }

    /// Kafka's `PartitionReassignmentReplicas.maybeCompleteReassignment`: a reassignment
    /// completes once the ISR, without the replicas being removed, holds every replica
    /// that stays.
    fn complete_reassignment_if_possible(&mut self) {
        if self.adding.is_empty() && self.removing.is_empty() {
            return;
        }
        let keep = |r: &i32| !self.removing.contains(r);
        let isr: Vec<i32> = self.isr.iter().copied().filter(keep).collect();
        let replicas: Vec<i32> = self.replicas.iter().copied().filter(keep).collect();
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return;
        }
        self.isr = isr;
        self.replicas = replicas;
        self.adding.clear();
        self.removing.clear();
    }
}

/// The controller's state machine.
#[derive(Clone, Debug)]
pub struct ControllerMachine {
    config: ControllerConfig,
    image: MetadataImage,
    /// Broker id → time of its last registration or heartbeat (soft state).
    last_contact_ms: BTreeMap<i32, u64>,
    /// The highest broker epoch handed out or replayed.
    highest_broker_epoch: i64,
    /// The first id of the next producer id block, counting blocks not yet replayed.
    next_producer_id: i64,
}

impl ControllerMachine {
    /// A machine over an image (empty, or restored from a snapshot).
    pub fn new(config: ControllerConfig, image: MetadataImage) -> Self {
        let highest_broker_epoch = image.brokers.values().map(|b| b.epoch).max().unwrap_or(-1);
        let next_producer_id = image.producer_ids.map_or(0, |p| p.next_producer_id);
        ControllerMachine {
            config,
            image,
            last_contact_ms: BTreeMap::new(),
            highest_broker_epoch,
            next_producer_id,
        }
    }

    /// The committed image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Applies one committed record (in log order) to the image and the soft state.
    pub fn replay(&mut self, record: &MetadataRecord) -> Applied {
        let applied = self.image.apply(record);
        match record {
            MetadataRecord::RegisterBrokerRecord(r) => {
                self.highest_broker_epoch = self.highest_broker_epoch.max(r.broker_epoch);
            }
            MetadataRecord::UnregisterBrokerRecord(r) => {
                self.last_contact_ms.remove(&r.broker_id);
            }
            MetadataRecord::ProducerIdsRecord(r) => {
                self.next_producer_id = self.next_producer_id.max(r.next_producer_id);
            }
            _ => {}
        }
        applied
    }

    /// Replaces the image with the committed one (records another leader committed, or a
    /// proposal of this one that failed), keeping the soft state: broker epochs and
    /// producer ids handed out still only go up, sessions of brokers still registered stay.
    pub fn resync(&mut self, image: MetadataImage) {
        let fresh = ControllerMachine::new(self.config.clone(), image);
        self.highest_broker_epoch = self.highest_broker_epoch.max(fresh.highest_broker_epoch);
        self.next_producer_id = self.next_producer_id.max(fresh.next_producer_id);
        self.image = fresh.image;
        let image = &self.image;
        self.last_contact_ms
            .retain(|id, _| image.brokers.contains_key(id));
    }

    /// This controller became the active one: every registered broker gets a fresh
    /// session from `now_ms` (Kafka's new active controller does the same).
    pub fn activate(&mut self, now_ms: u64) {
        self.last_contact_ms = self.image.brokers.keys().map(|&id| (id, now_ms)).collect();
    }

    fn session_valid(&self, broker_id: i32, now_ms: u64) -> bool {
        self.last_contact_ms
            .get(&broker_id)
            .is_some_and(|&t| now_ms <= t.saturating_add(self.config.broker_session_timeout_ms))
    }

    // ---- brokers -------------------------------------------------------------------

    /// BrokerRegistration: a RegisterBrokerRecord with a new broker epoch, fenced until
    /// the broker catches up. A registration with a new incarnation replaces the old one
    /// unless that one is unfenced and its session is live (DUPLICATE_BROKER_REGISTRATION);
    /// a replaced registration first gives up its leaderships and ISR places, as a fenced
    /// broker does (it restarted, and may have lost what it had not synced). Kafka does
    /// this only for a new incarnation; here a retried registration of the same one does
    /// it too, since the new registration is fenced and a fenced broker must lead nothing.
    pub fn register_broker(
        &mut self,
        req: BrokerRegistrationRequest,
        now_ms: u64,
        next_offset: i64,
    ) -> Result<ControllerResult<i64>, ControllerError> {
        let mut records = Vec::new();
        if let Some(existing) = self.image.brokers.get(&req.broker_id) {
            if existing.incarnation_id != req.incarnation_id
                && !existing.fenced
                && self.session_valid(req.broker_id, now_ms)
            {
                return Err(ControllerError::DuplicateBrokerRegistration(req.broker_id));
            }
            let leaving = BTreeSet::from([req.broker_id]);
            records.extend(self.leave(&leaving, None));
        }
        let epoch = next_offset.max(self.highest_broker_epoch.saturating_add(1));
        self.highest_broker_epoch = epoch;
        self.last_contact_ms.insert(req.broker_id, now_ms);
        info!(
            broker_id = req.broker_id,
            broker_epoch = epoch,
            incarnation = %req.incarnation_id,
            "broker registers"
        );
        records.push(
            RegisterBrokerRecord {
                broker_id: req.broker_id,
                is_migrating_zk_broker: false,
                incarnation_id: req.incarnation_id,
                broker_epoch: epoch,
                end_points: req.listeners,
                features: req.features,
                rack: req.rack,
                fenced: true,
                in_controlled_shutdown: false,
                log_dirs: req.log_dirs,
            }
            .into(),
        );
        Ok(ControllerResult::new(records, epoch))
    }

    /// BrokerHeartbeat (Kafka's `BrokerHeartbeatManager.calculateNextBrokerState`):
    /// - a fenced broker that is caught up and wants neither fence nor shutdown is
    ///   unfenced, and leads the partitions that had no leader and have it in their ISR;
    /// - an unfenced broker that wants to be fenced is fenced;
    /// - an unfenced broker that wants to shut down and leads partitions enters controlled
    ///   shutdown (the registration change first, then its leaderships move and it leaves
    ///   the ISRs); at its next heartbeat after that is committed it leads nothing, and is
    ///   fenced and told to shut down. One that leads nothing is fenced and let go at once;
    /// - a fenced broker that wants to shut down may, at once.
    pub fn heartbeat(
        &mut self,
        req: BrokerHeartbeatRequest,
        now_ms: u64,
    ) -> Result<ControllerResult<BrokerHeartbeatReply>, ControllerError> {
        let broker = self
            .image
            .brokers
            .get(&req.broker_id)
            .ok_or(ControllerError::BrokerIdNotRegistered(req.broker_id))?;
        if broker.epoch != req.broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id: req.broker_id,
                got: req.broker_epoch,
                current: broker.epoch,
            });
        }
        let (id, epoch) = (broker.id, broker.epoch);
        let (fenced, in_shutdown) = (broker.fenced, broker.in_controlled_shutdown);
        self.last_contact_ms.insert(id, now_ms);
        let caught_up = req.current_metadata_offset >= epoch;
        let mut reply = BrokerHeartbeatReply {
            is_caught_up: caught_up,
            is_fenced: fenced,
            should_shut_down: false,
        };
        let mut records = Vec::new();
        let leads_any = self.leaderships(id) > 0;
        if fenced {
            if req.want_shutdown {
                reply.should_shut_down = true;
            } else if caught_up && !req.want_fence {
                // Kafka's order: the broker is unfenced, then it takes leaderless partitions
                info!(broker_id = id, broker_epoch = epoch, "broker unfenced");
                records.push(registration_change(id, epoch, -1, 0));
                records.extend(self.unfence_changes(id));
                reply.is_fenced = false;
            }
        } else if req.want_fence {
            records.extend(self.fence(id, epoch, "broker asked to be fenced"));
            reply.is_fenced = true;
            reply.should_shut_down = req.want_shutdown;
        } else if in_shutdown {
            // the leaderships were moved when it entered controlled shutdown; once that is
            // committed it leads nothing and may go (Kafka also waits until every active
            // broker has caught up to that point, which needs offsets this machine does
            // not see)
            if !leads_any {
                records.extend(self.fence(id, epoch, "controlled shutdown complete"));
                self.last_contact_ms.remove(&id);
                reply.is_fenced = true;
                reply.should_shut_down = true;
            }
        } else if req.want_shutdown {
            if leads_any {
                info!(
                    broker_id = id,
                    leaderships = self.leaderships(id),
                    "broker enters controlled shutdown"
                );
                records.push(registration_change(id, epoch, 0, 1));
                records.extend(self.leave(&BTreeSet::from([id]), None));
            } else {
                // nothing to move: it may go at once
                records.extend(self.fence(id, epoch, "shutdown without leaderships"));
                self.last_contact_ms.remove(&id);
                reply.is_fenced = true;
                reply.should_shut_down = true;
            }
        }
        Ok(ControllerResult::new(records, reply))
    }

    /// UnregisterBroker (KIP-500's decommissioning): the broker gives up its leaderships
    /// and ISR places, then its registration goes (UnregisterBrokerRecord). Its replicas
    /// stay in the partitions' replica lists until they are reassigned.
    pub fn unregister_broker(
        &mut self,
        broker_id: i32,
    ) -> Result<ControllerResult<()>, ControllerError> {
        let b = self
            .image
            .brokers
            .get(&broker_id)
            .ok_or(ControllerError::BrokerIdNotRegistered(broker_id))?;
        let epoch = b.epoch;
        let mut records = self.leave(&BTreeSet::from([broker_id]), None);
        records.push(
            UnregisterBrokerRecord {
                broker_id,
                broker_epoch: epoch,
            }
            .into(),
        );
        self.last_contact_ms.remove(&broker_id);
        info!(broker_id, broker_epoch = epoch, "broker unregistered");
        Ok(ControllerResult::new(records, ()))
    }

    /// The periodic check: fences every unfenced broker whose last heartbeat is older than
    /// `broker.session.timeout.ms`, moving its leaderships and removing it from ISRs
    /// (one record per partition, however many brokers are fenced). Answers the fenced ids.
    pub fn tick(&mut self, now_ms: u64) -> ControllerResult<Vec<i32>> {
        // a broker this controller has not heard from yet (no `activate`) gets its session
        // from now rather than being fenced at once
        for b in self.image.brokers.values() {
            self.last_contact_ms.entry(b.id).or_insert(now_ms);
        }
        let expired: BTreeSet<i32> = self
            .image
            .brokers
            .values()
            .filter(|b| !b.fenced && !self.session_valid(b.id, now_ms))
            .map(|b| b.id)
            .collect();
        if expired.is_empty() {
            return ControllerResult::new(Vec::new(), Vec::new());
        }
        let mut records = self.leave(&expired, None);
        for &id in &expired {
            let epoch = self.image.brokers.get(&id).map_or(-1, |b| b.epoch);
            info!(
                broker_id = id,
                broker_epoch = epoch,
                "broker session expired; fenced"
            );
            records.push(registration_change(id, epoch, 1, 0));
            self.last_contact_ms.remove(&id);
        }
        ControllerResult::new(records, expired.into_iter().collect())
    }

    fn fence(&mut self, id: i32, epoch: i64, why: &'static str) -> Vec<MetadataRecord> {
        info!(broker_id = id, broker_epoch = epoch, why, "broker fenced");
        let mut records = self.leave(&BTreeSet::from([id]), None);
        records.push(registration_change(id, epoch, 1, 0));
        records
    }

    /// How many partitions `id` leads in the image.
    pub fn leaderships(&self, id: i32) -> usize {
        self.image
            .topics()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.leader == id)
            .count()
    }

    /// The partition changes for `leaving` brokers to give up leaderships and ISR places
    /// (Kafka's `generateLeaderAndIsrUpdates` with a broker to remove).
    fn leave(&self, leaving: &BTreeSet<i32>, joining: Option<i32>) -> Vec<MetadataRecord> {
        let live = Liveness {
            image: &self.image,
            leaving,
            joining,
        };
        let mut out = Vec::new();
        for t in self.image.topics() {
            for (&index, p) in &t.partitions {
                let involved =
                    leaving.contains(&p.leader) || p.isr.iter().any(|r| leaving.contains(r));
                if !involved {
                    continue;
                }
                if let Some(c) = self.partition_change(t.id, index, p, &live, Election::Clean) {
                    out.push(c.into());
                }
            }
        }
        out
    }

    /// Partitions without an active leader that the unfencing broker can now lead (from
    /// the ISR; from outside it with unclean election on). A leader that is not an
    /// unfenced registered broker only happens with metadata adopted from Kafka (whose
    /// brokers register again): Kafka's controller elects from the ISR then too.
    fn unfence_changes(&self, id: i32) -> Vec<MetadataRecord> {
        let none = BTreeSet::new();
        let live = Liveness {
            image: &self.image,
            leaving: &none,
            joining: Some(id),
        };
        let mut out = Vec::new();
        for t in self.image.topics() {
            for (&index, p) in &t.partitions {
                let led = p.leader != NO_LEADER && p.leader != id && live.active(p.leader);
                if !led && p.replicas.contains(&id) {
                    if let Some(c) = self.partition_change(t.id, index, p, &live, Election::Clean) {
                        out.push(c.into());
                    }
                }
            }
        }
        out
    }

    /// Leaders for the partitions without an active one, from their ISR (Kafka's clean
    /// election): after metadata adopted from Kafka is committed on a cluster whose
    /// brokers were unfenced already (their unfencing elects otherwise).
    pub fn elect_leaderless(&self) -> ControllerResult<usize> {
        let none = BTreeSet::new();
        let live = Liveness {
            image: &self.image,
            leaving: &none,
            joining: None,
        };
        let mut out: Vec<MetadataRecord> = Vec::new();
        for t in self.image.topics() {
            for (&index, p) in &t.partitions {
                if p.leader != NO_LEADER && live.active(p.leader) {
                    continue;
                }
                if let Some(c) = self.partition_change(t.id, index, p, &live, Election::Clean) {
                    out.push(c.into());
                }
            }
        }
        let n = out.len();
        ControllerResult::new(out, n)
    }

    /// The change for brokers leaving: the ISR without them (but never empty: the last
    /// member stays, so it can lead again when it comes back clean), and a leader by
    /// `election`. `None` when nothing changes.
    fn partition_change(
        &self,
        topic_id: Uuid,
        index: i32,
        p: &PartitionImage,
        live: &Liveness<'_>,
        election: Election,
    ) -> Option<PartitionChangeRecord> {
        let mut target = Target::of(p);
        target.isr.retain(|r| !live.leaving.contains(r));
        if target.isr.is_empty() {
            // keep the member that was leading, else the first
            let keep = if p.isr.contains(&p.leader) {
                Some(p.leader)
            } else {
                p.isr.first().copied()
            };
            target.isr.extend(keep);
        }
        self.build_change(topic_id, index, p, target, live, election)
    }

    /// Kafka's `PartitionChangeBuilder.build`: completes a reassignment the target ISR
    /// allows, elects a leader by `election` among the acceptable (active) members of the
    /// target ISR (unclean: any active replica, which becomes the whole ISR, recovering),
    /// bumps the leader epoch when a replica goes away, and writes only the fields that
    /// change. `None` when nothing does. The image's replay bumps the partition epoch, and
    /// the leader epoch when the leader is set.
    fn build_change(
        &self,
        topic_id: Uuid,
        index: i32,
        p: &PartitionImage,
        mut t: Target,
        live: &Liveness<'_>,
        election: Election,
    ) -> Option<PartitionChangeRecord> {
        let election = match election {
            Election::Clean if self.unclean_enabled(topic_id) => Election::Unclean,
            e => e,
        };
        t.complete_reassignment_if_possible();
        let isr = &t.isr;
        let acceptable = |r: i32| live.active(r) && isr.contains(&r);
        let preferred = t.replicas.first().copied().filter(|&r| acceptable(r));
        let current = Some(p.leader).filter(|&r| r != NO_LEADER && acceptable(r));
        let from_isr = || t.replicas.iter().copied().find(|&r| acceptable(r));
        let mut leader = match election {
            Election::Preferred => preferred.or(current).or_else(from_isr),
            Election::Clean | Election::Unclean => current.or_else(from_isr),
        };
        let mut recovery = None;
        if leader.is_none() && election == Election::Unclean {
            if let Some(r) = t.replicas.iter().copied().find(|&r| live.active(r)) {
                info!(topic_id = %topic_id, partition = index, leader = r, "unclean leader election");
                leader = Some(r);
                t.isr = vec![r];
                recovery = Some(RECOVERING);
            }
        }
        let leader = leader.unwrap_or(NO_LEADER);
        let mut change = PartitionChangeRecord::new(topic_id, index);
        if leader != p.leader {
            change.leader = leader;
        } else if !p.replicas.iter().all(|r| t.replicas.contains(r)) {
            // a replica went away: the leader epoch must move so that it is fenced
            change.leader = p.leader;
        }
        if let Some(r) = recovery {
            change.leader_recovery_state = r;
        }
        let differs = |a: &Vec<i32>, b: &Vec<i32>| (a != b).then(|| a.clone());
        change.isr = differs(&t.isr, &p.isr);
        change.replicas = differs(&t.replicas, &p.replicas);
        change.adding_replicas = differs(&t.adding, &p.adding_replicas);
        change.removing_replicas = differs(&t.removing, &p.removing_replicas);
        let unchanged = change == PartitionChangeRecord::new(topic_id, index);
        if unchanged {
            return None;
        }
        debug!(topic_id = %topic_id, partition = index, leader, "partition change");
        Some(change)
    }

    /// `unclean.leader.election.enable` for a topic: its override, else the cluster's.
    fn unclean_enabled(&self, topic_id: Uuid) -> bool {
        self.image
            .topic_by_id(&topic_id)
            .and_then(|t| self.image.topic_config(&t.name))
            .and_then(|c| c.get("unclean.leader.election.enable"))
            .map_or(self.config.unclean_leader_election_enable, |v| {
                v.trim().eq_ignore_ascii_case("true")
            })
    }

    /// The brokers new replicas may go to: registered, unfenced, not shutting down.
    pub fn usable_brokers(&self) -> Vec<i32> {
        self.image
            .brokers
            .values()
            .filter(|b| !b.fenced && !b.in_controlled_shutdown)
            .map(|b| b.id)
            .collect()
    }

    // ---- producer ids and configs --------------------------------------------------

    /// AllocateProducerIds: the next block of [`PRODUCER_ID_BLOCK_SIZE`] ids for a
    /// registered broker with its current epoch. Answers the block's first id.
    pub fn allocate_producer_ids(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<ControllerResult<i64>, ControllerError> {
        let b = self
            .image
            .brokers
            .get(&broker_id)
            .ok_or(ControllerError::BrokerIdNotRegistered(broker_id))?;
        if b.epoch != broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id,
                got: broker_epoch,
                current: b.epoch,
            });
        }
        let first = self.next_producer_id;
        let next = first
            .checked_add(PRODUCER_ID_BLOCK_SIZE)
            .ok_or(ControllerError::ProducerIdsExhausted)?;
        self.next_producer_id = next;
        let record = ProducerIdsRecord {
            broker_id,
            broker_epoch,
            next_producer_id: next,
        };
        Ok(ControllerResult::new(vec![record.into()], first))
    }

    /// AlterUserScramCredentials: Kafka's `ScramControlManager.alterCredentials`, decided on
    /// the committed credentials ([`crate::metadata::scram::alter`]); the records commit
    /// together, and each user named gets its result.
    pub fn alter_user_scram_credentials(
        &self,
        deletions: &[scram::Deletion],
        upsertions: &[scram::Upsertion],
    ) -> ControllerResult<Vec<scram::UserResult>> {
        let (records, results) = scram::alter(&self.image.scram, deletions, upsertions);
        ControllerResult::new(records, results)
    }

    /// CreateAcls: Kafka's `AclControlManager.createAcls` on the committed ACLs
    /// ([`crate::metadata::acls::create`]), each new ACL with a random id.
    pub fn create_acls(
        &self,
        creations: &[crate::metadata::acls::Creation],
        rng: &mut dyn crate::controller::placement::RandomSource,
    ) -> ControllerResult<Vec<Result<(), crate::metadata::acls::Failure>>> {
        let new_id = || {
            let (hi, lo) = (rng.next_u64(), rng.next_u64());
            Uuid::from_u64_pair(hi, lo)
        };
        let (records, results) = crate::metadata::acls::create(&self.image.acls, creations, new_id);
        ControllerResult::new(records, results)
    }

    /// DeleteAcls: Kafka's `AclControlManager.deleteAcls` on the committed ACLs.
    pub fn delete_acls(
        &self,
        filters: &[crate::security::acl::AclFilter],
    ) -> ControllerResult<Vec<crate::metadata::acls::Deleted>> {
        let (records, results) = crate::metadata::acls::delete(&self.image.acls, filters);
        ControllerResult::new(records, results)
    }

    /// IncrementalAlterConfigs for one resource (a topic, a broker id, or "" for the
    /// cluster-wide broker default): a ConfigRecord per changed key (a `None` value
    /// deletes it).
    pub fn alter_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<ControllerResult<()>, ControllerError> {
        match resource_type {
            config_resource::TOPIC => {
                if self.image.topic(resource_name).is_none() {
                    return Err(ControllerError::UnknownTopicOrPartition(
                        resource_name.to_string(),
                    ));
                }
            }
            config_resource::BROKER => {
                if !resource_name.is_empty() && resource_name.parse::<i32>().is_err() {
                    return Err(ControllerError::InvalidRequest(format!(
                        "invalid broker name '{resource_name}'"
                    )));
                }
            }
            other => {
                return Err(ControllerError::InvalidRequest(format!(
                    "unsupported config resource type {other}"
                )))
            }
        }
        let current = self
            .image
            .configs
            .get(&(resource_type, resource_name.to_string()))
            .cloned()
            .unwrap_or_default();
        let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
        let get = |values: &BTreeMap<String, Option<String>>, key: &str| {
            values
                .get(key)
                .cloned()
                .unwrap_or_else(|| current.get(key).cloned())
        };
        for op in ops {
            match op {
                AlterConfigOp::Set(k, v) => {
                    values.insert(k.clone(), Some(v.clone()));
                }
                AlterConfigOp::Delete(k) => {
                    values.insert(k.clone(), None);
                }
                AlterConfigOp::Append(k, v) | AlterConfigOp::Subtract(k, v) => {
                    let mut list: Vec<String> = get(&values, k)
                        .map(|s| {
                            s.split(',')
                                .map(str::trim)
                                .filter(|x| !x.is_empty())
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default();
                    for item in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                        if matches!(op, AlterConfigOp::Append(..)) {
                            if !list.iter().any(|x| x == item) {
                                list.push(item.to_string());
                            }
                        } else {
                            list.retain(|x| x != item);
                        }
                    }
                    let joined = list.join(",");
                    values.insert(k.clone(), (!joined.is_empty()).then_some(joined));
                }
            }
        }
        let records = if validate_only {
            Vec::new()
        } else {
            values
                .into_iter()
                .filter(|(k, v)| current.get(k) != v.as_ref())
                .map(|(name, value)| {
                    ConfigRecord {
                        resource_type,
                        resource_name: resource_name.to_string(),
                        name,
                        value,
                    }
                    .into()
                })
                .collect()
        };
        Ok(ControllerResult::new(records, ()))
    }
}

fn registration_change(id: i32, epoch: i64, fenced: i8, shutdown: i8) -> MetadataRecord {
    BrokerRegistrationChangeRecord {
        broker_id: id,
        broker_epoch: epoch,
        fenced,
        in_controlled_shutdown: shutdown,
        log_dirs: Vec::new(),
    }
    .into()
}

mod partitions;
mod topics;

#[cfg(test)]
mod tests;
