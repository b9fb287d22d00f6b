//! Topics and partitions: the registry every handler reads (names, ids, the hosted
//! [`Partition`]s, per-topic configs), and topic creation and deletion.
//!
//! Topics are rebuilt at start from the partition directories (`<topic>-<n>`, ids from
//! `partition.metadata`); per-topic config overrides live in `<log dir>/.rafka/topics/
//! <topic>.properties`. Kafka keeps both in its metadata log instead.

pub mod cluster;
pub mod fetch_session;
pub mod lifecycle;
pub mod local_metadata;
pub mod metadata_follower;
pub mod overview;
pub mod producer_ids;
mod publisher;
pub mod replication;
pub mod topic_config;
mod txn_markers;
mod txn_verify;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use parking_lot::{Condvar, Mutex, RwLock};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::Config;
use crate::error::ErrorCode;
use crate::group::GroupCoordinator;
use crate::log::cleaner::Cleaner;
use crate::log::{LogError, LogManager, PartitionLog, TopicPartition};
use crate::metadata::{MetadataView, TopicView};
use crate::partition::{Partition, PartitionError};
use crate::topic::TRANSACTION_STATE_TOPIC;
use crate::topic::{self, InvalidTopicName, OFFSETS_TOPIC};
use crate::txn::TxnCoordinator;
pub use topic_config::TopicConfigError;

/// Why a topic operation failed; [`BrokerError::error_code`] gives the Kafka code.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// TOPIC_ALREADY_EXISTS (36).
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// INVALID_TOPIC_EXCEPTION (17).
    #[error(transparent)]
    InvalidTopic(#[from] InvalidTopicName),
    /// INVALID_PARTITIONS (37).
    #[error("invalid number of partitions {0}")]
    InvalidPartitions(i32),
    /// INVALID_REPLICATION_FACTOR (38).
    #[error("replication factor {factor} is not between 1 and the {brokers} available brokers")]
    InvalidReplicationFactor { factor: i16, brokers: usize },
    /// INVALID_CONFIG (40).
    #[error(transparent)]
    Config(#[from] TopicConfigError),
    /// The log engine failed (its own code).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A partition operation failed (its own code).
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The cluster's controller refused or did not answer (its code).
    #[error("the controller answered {code}: {message}")]
    Controller { code: ErrorCode, message: String },
    /// The inter-broker listener's TLS stores cannot be used (at start only).
    #[error("inter-broker listener: {0}")]
    InterBrokerTls(#[from] crate::security::TlsError),
}

impl BrokerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::TopicExists(_) => ErrorCode::TopicAlreadyExists,
            BrokerError::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
            BrokerError::InvalidTopic(_) => ErrorCode::InvalidTopicException,
            BrokerError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
            BrokerError::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
            BrokerError::Config(_) => ErrorCode::InvalidConfig,
            BrokerError::Log(e) => e.code(),
            BrokerError::Partition(e) => e.code(),
            BrokerError::Controller { code, .. } => *code,
            BrokerError::InterBrokerTls(_) => ErrorCode::UnknownServerError,
        }
    }
}

/// One topic: an immutable snapshot, replaced whole when partitions or configs change.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Arc<Partition>>,
    /// Config overrides set on this topic (the rest are broker defaults).
    pub overrides: BTreeMap<String, String>,
}

impl Topic {
    /// The hosted partition `index` (a cluster broker hosts the partitions it is a
    /// replica of: not always all of them, kept in index order).
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        let by_position = usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .filter(|p| p.index() == index);
        by_position.or_else(|| {
            self.partitions
                .binary_search_by_key(&index, |p| p.index())
                .ok()
                .and_then(|i| self.partitions.get(i))
        })
    }
}

/// A topic name claimed in [`Broker::busy_names`]; released, and waiters woken, when
/// dropped, whichever way the operation ends.
struct NameClaim<'a> {
    broker: &'a Broker,
    name: String,
}

impl Drop for NameClaim<'_> {
    fn drop(&mut self) {
        self.broker.busy_names.lock().remove(&self.name);
        self.broker.names_idle.notify_all();
    }
}

/// Kafka's topic name rules (see [`topic::validate_name`]).
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    Ok(topic::validate_name(name)?)
}

/// The broker's shared state.
pub struct Broker {
    config: Config,
    logs: LogManager,
    topics: RwLock<IndexMap<String, Arc<Topic>>>,
    /// Topic names with a create, grow or delete in flight. The `topics` lock is not held
    /// across their disk I/O, so this keeps operations on one name in order: the next one
    /// waits for `names_idle`. Invariant: a name is here only while one of
    /// [`Broker::create_topic`], [`Broker::add_partitions`], [`Broker::delete_topic`] works
    /// on it.
    busy_names: Mutex<HashSet<String>>,
    names_idle: Condvar,
    /// How many callers wait for a busy name (tests check that a second create is
    /// parked behind the first).
    #[cfg(test)]
    name_waiters: std::sync::atomic::AtomicUsize,
    metadata: RwLock<Arc<MetadataView>>,
    /// KIP-227 fetch sessions; locked only to open and to complete a fetch's context.
    fetch_sessions: parking_lot::Mutex<fetch_session::FetchSessionCache>,
    producer_ids: producer_ids::ProducerIds,
    /// Started on first use (creating `__consumer_offsets`), or at open if it exists.
    groups: parking_lot::Mutex<Option<Arc<GroupCoordinator>>>,
    /// Started on first use (creating `__transaction_state`), or at open if it exists.
    txns: parking_lot::Mutex<Option<Arc<TxnCoordinator>>>,
    /// In a KRaft cluster: the metadata image and the channel to the controller.
    cluster: Option<cluster::ClusterLink>,
    /// Compacts `cleanup.policy=compact` logs (driven by the `log_cleaner` job).
    cleaner: Cleaner,
    /// This broker's metrics (`/metrics`).
    metrics: Arc<crate::metrics::Metrics>,
    /// SCRAM credentials (and, next, ACLs): a single node's own store, or the cluster's
    /// metadata image.
    local_metadata: Arc<local_metadata::BrokerMetadata>,
    /// Kafka's StandardAuthorizer settings, when `authorizer.class.name` names it.
    authorizer: Option<crate::security::acl::Authorizer>,
    /// TLS and SASL of this broker's connections to the others' inter-broker listener.
    link: Arc<crate::controller::link::LinkSecurity>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("node_id", &self.config.node_id)
            .finish()
    }
}

impl Broker {
    /// Opens the log dir and rebuilds the topic registry from it.
    pub fn open(config: Config) -> Result<Broker, BrokerError> {
        Broker::open_with(config, None)
    }

    /// Opens the log dir as [`Broker::open`] does; with a cluster link, the broker is one
    /// of a KRaft cluster's (its topics follow the metadata image).
    pub fn open_with(
        config: Config,
        cluster: Option<cluster::ClusterLink>,
    ) -> Result<Broker, BrokerError> {
        let logs = LogManager::open(&config.data_dir, config.log, config.node_id)?;
        let cleaner = Cleaner::new(&config.data_dir, config.cleaner);
        let store = topic_config::Store::new(&config.data_dir);
        let mut by_topic: BTreeMap<String, Vec<Arc<PartitionLog>>> = BTreeMap::new();
        for log in logs.logs() {
            by_topic
                .entry(log.topic_partition().topic.clone())
                .or_default()
                .push(log);
        }
        let mut topics = IndexMap::new();
        for (name, mut parts) in by_topic {
            parts.sort_by_key(|l| l.topic_partition().partition);
            let id = if cluster.is_some() {
                // a cluster broker hosts the partitions assigned to it, any of them; each
                // dir names its topic id, which the metadata image is checked against
                // (one without an id is left to the publisher: it is not served)
                let id = parts.iter().find_map(|l| l.topic_id());
                parts.retain(|l| l.topic_id().is_some() && l.topic_id() == id);
                match id {
                    Some(id) => id,
                    None => continue,
                }
            } else {
                // partitions must be 0..n; a gap means a broken directory set: serve the
                // prefix
                let n = parts
                    .iter()
                    .enumerate()
                    .take_while(|(i, l)| l.topic_partition().partition == *i as i32)
                    .count();
                parts.truncate(n);
                parts
                    .iter()
                    .find_map(|l| l.topic_id())
                    .unwrap_or_else(Uuid::new_v4)
            };
            let mut overrides = store.load(&name, id)?;
            if name == OFFSETS_TOPIC
                && cluster.is_none()
                && !overrides.contains_key("cleanup.policy")
            {
                // made by a Rafka that compacted it by rewriting: compacted as Kafka's now
                overrides.remove("retention.ms");
                overrides.insert("cleanup.policy".into(), "compact".into());
                store.save(&name, id, &overrides)?;
            }
            let log_config = topic_config::log_config(&config.log, &overrides)?;
            for p in &parts {
                p.set_config(log_config);
            }
            let partitions = parts
                .into_iter()
                .map(|log| {
                    Arc::new(if cluster.is_some() {
                        Partition::new_unassigned(log, config.node_id)
                    } else {
                        Partition::new_local_leader(log, config.node_id)
                    })
                })
                .collect();
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name,
                    id,
                    partitions,
                    overrides,
                }),
            );
        }
        info!(topics = topics.len(), "topics loaded");
        let producer_ids =
            producer_ids::ProducerIds::open(&config.data_dir, logs.next_unseen_producer_id())?;
        if cluster.is_some() {
            producer_ids.use_controller_blocks();
        }
        let authorizer = config
            .authorizer
            .as_ref()
            .map(|a| crate::security::acl::Authorizer {
                super_users: a.super_users.clone(),
                allow_everyone_if_no_acl_found: a.allow_everyone_if_no_acl_found,
            });
        let local_metadata = Arc::new(match &cluster {
            Some(link) => local_metadata::BrokerMetadata::Cluster(link.image.clone()),
            None => local_metadata::BrokerMetadata::Local(Arc::new(
                local_metadata::LocalMetadata::open(&config.data_dir)?,
            )),
        });
        let link = match &cluster {
            Some(_) => crate::controller::link::LinkSecurity::inter_broker(&config)?,
            None => crate::controller::link::LinkSecurity::plaintext(),
        };
        let metadata = match &cluster {
            // nothing is known until the image is published
            Some(link) => {
                let id = link.cluster_id.as_deref().unwrap_or(logs.cluster_id());
                link.image.read(|i| i.cluster_view(id))
            }
            None => MetadataView::single_node(logs.cluster_id(), config.node_id, &config.listeners),
        };
        Ok(Broker {
            config,
            logs,
            topics: RwLock::new(topics),
            busy_names: Mutex::new(HashSet::new()),
            names_idle: Condvar::new(),
            #[cfg(test)]
            name_waiters: std::sync::atomic::AtomicUsize::new(0),
            metadata: RwLock::new(Arc::new(metadata)),
            fetch_sessions: parking_lot::Mutex::new(fetch_session::FetchSessionCache::new(
                fetch_session::DEFAULT_MAX_SLOTS,
            )),
            producer_ids,
            groups: parking_lot::Mutex::new(None),
            txns: parking_lot::Mutex::new(None),
            cluster,
            cleaner,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            local_metadata,
            authorizer,
            link,
        })
        .and_then(|b: Broker| {
            if b.topic(OFFSETS_TOPIC).is_some() {
                b.groups()?;
            }
            if b.topic(TRANSACTION_STATE_TOPIC).is_some() {
                b.txns()?;
            }
            Ok(b)
        })
    }

    /// This broker's metrics: counters the request path adds to, read by `/metrics`.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The metadata beyond topics (SCRAM credentials), for logins and the admin APIs: a
    /// cluster's image, or a single node's own store.
    pub fn local_metadata(&self) -> &Arc<local_metadata::BrokerMetadata> {
        &self.local_metadata
    }

    /// TLS and SASL of this broker's connections to another broker's inter-broker listener.
    pub fn inter_broker_link(&self) -> &crate::controller::link::LinkSecurity {
        &self.link
    }

    /// The authorizer (`authorizer.class.name`), if one is configured.
    pub fn authorizer(&self) -> Option<&crate::security::acl::Authorizer> {
        self.authorizer.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn cleaner(&self) -> &Cleaner {
        &self.cleaner
    }

    /// One pass of the log cleaner over every hosted partition of a compacted topic, each
    /// up to its high watermark. Blocks (it reads and writes segments). Returns how many
    /// logs were cleaned.
    pub fn clean_logs(&self) -> usize {
        let mut cleaned = 0;
        for topic in self.topics() {
            for p in &topic.partitions {
                match p.clean(&self.cleaner, crate::log::now_ms()) {
                    Ok(Some(stats)) => {
                        self.metrics.cleaned(Some(&stats));
                        cleaned += 1
                    }
                    Ok(None) => {}
                    Err(_) if self.cleaner.is_stopping() => return cleaned,
                    Err(e) => {
                        self.metrics.cleaned(None);
                        warn!(partition = %p.topic_partition(), cause = %e, "cleaning failed");
                    }
                }
            }
        }
        cleaned
    }
    pub fn logs(&self) -> &LogManager {
        &self.logs
    }
    pub fn producer_ids(&self) -> &producer_ids::ProducerIds {
        &self.producer_ids
    }
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }
    pub fn cluster_id(&self) -> &str {
        match self.cluster.as_ref().and_then(|l| l.cluster_id.as_deref()) {
            Some(id) => id,
            None => self.logs.cluster_id(),
        }
    }
    /// The fetch sessions (KIP-227).
    pub fn fetch_sessions(&self) -> &parking_lot::Mutex<fetch_session::FetchSessionCache> {
        &self.fetch_sessions
    }
    /// The cluster link when this broker belongs to a KRaft cluster (`process.roles`).
    pub fn cluster(&self) -> Option<&cluster::ClusterLink> {
        self.cluster.as_ref()
    }

    /// The brokers, the controller and the cluster id, as this broker knows them.
    pub fn metadata(&self) -> Arc<MetadataView> {
        Arc::clone(&self.metadata.read())
    }

    /// The group coordinator, started on first use: that creates `__consumer_offsets`
    /// (`offsets.topic.num.partitions`, never deleted by retention) if it does not exist
    /// and replays it.
    pub fn groups(&self) -> Result<Arc<GroupCoordinator>, BrokerError> {
        let mut slot = self.groups.lock();
        if let Some(g) = slot.as_ref() {
            return Ok(Arc::clone(g));
        }
        let gc = &self.config.group;
        let topic = match self.topic(OFFSETS_TOPIC) {
            Some(t) => t,
            // a cluster creates it through the controller (`ClusterLink::ensure_internal_topic`)
            None if self.cluster.is_some() => {
                return Err(BrokerError::UnknownTopic(OFFSETS_TOPIC.to_string()))
            }
            None => {
                let overrides = self
                    .offsets_topic_configs()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                self.create_topic(
                    OFFSETS_TOPIC,
                    gc.offsets_topic_num_partitions,
                    1,
                    overrides,
                    false,
                )?
            }
        };
        // the topic's partition count in all (a cluster broker may host some only)
        let count = self
            .topic_view(OFFSETS_TOPIC)
            .map_or(topic.partitions.len(), |v| v.partitions.len());
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let coordinator = Arc::new(GroupCoordinator::load(
            *gc,
            topic.partitions.clone(),
            count,
        )?);
        *slot = Some(Arc::clone(&coordinator));
        Ok(coordinator)
    }

    /// The config overrides `__consumer_offsets` is created with, as Kafka's: compacted,
    /// `offsets.topic.segment.bytes` segments.
    pub fn offsets_topic_configs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("cleanup.policy", "compact".to_string()),
            (
                "segment.bytes",
                self.config.group.offsets_topic_segment_bytes.to_string(),
            ),
        ]
    }

    /// The transaction coordinator, started on first use: that creates
    /// `__transaction_state` (`transaction.state.log.num.partitions`, compacted) if it
    /// does not exist and replays it.
    pub fn txns(&self) -> Result<Arc<TxnCoordinator>, BrokerError> {
        let mut slot = self.txns.lock();
        if let Some(t) = slot.as_ref() {
            return Ok(Arc::clone(t));
        }
        let tc = &self.config.txn;
        let topic = match self.topic(TRANSACTION_STATE_TOPIC) {
            Some(t) => t,
            // a cluster creates it through the controller (`ClusterLink::ensure_internal_topic`)
            None if self.cluster.is_some() => {
                return Err(BrokerError::UnknownTopic(
                    TRANSACTION_STATE_TOPIC.to_string(),
                ))
            }
            None => {
                let overrides = self
                    .txn_topic_configs()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                self.create_topic(
                    TRANSACTION_STATE_TOPIC,
                    tc.num_partitions,
                    1,
                    overrides,
                    false,
                )?
            }
        };
        let count = self
            .topic_view(TRANSACTION_STATE_TOPIC)
            .map_or(topic.partitions.len(), |v| v.partitions.len());
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let coordinator = Arc::new(TxnCoordinator::load(*tc, topic.partitions.clone(), count)?);
        *slot = Some(Arc::clone(&coordinator));
        Ok(coordinator)
    }

    /// The config overrides `__transaction_state` is created with, as Kafka's: compacted,
    /// `transaction.state.log.segment.bytes` segments.
    pub fn txn_topic_configs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("cleanup.policy", "compact".to_string()),
            ("segment.bytes", self.config.txn.segment_bytes.to_string()),
        ]
    }

    /// The transaction coordinator if it has been started.
    pub fn txns_if_started(&self) -> Option<Arc<TxnCoordinator>> {
        self.txns.lock().clone()
    }

    /// The group coordinator if it has been started.
    pub fn groups_if_started(&self) -> Option<Arc<GroupCoordinator>> {
        self.groups.lock().clone()
    }

    /// The topic `name`, created as Kafka's auto-creation does when it does not exist, the
    /// caller may create it (`requested`: Metadata v4+ carries the client's wish) and
    /// `auto.create.topics.enable` allows it. An internal topic is only ever created by its
    /// coordinator, with its own partition count and configs. A concurrent creation of the
    /// same name is fine.
    pub fn topic_or_auto_create(
        &self,
        name: &str,
        requested: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let unknown = || BrokerError::UnknownTopic(name.to_string());
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        validate_topic_name(name)?;
        // a cluster auto-creates through the controller (`ClusterLink::auto_create`)
        if !(requested && self.config.auto_create_topics) || self.cluster.is_some() {
            return Err(unknown());
        }
        if name == OFFSETS_TOPIC {
            self.groups()?;
            return self.topic(name).ok_or_else(unknown);
        }
        if name == TRANSACTION_STATE_TOPIC {
            self.txns()?;
            return self.topic(name).ok_or_else(unknown);
        }
        match self.create_topic(name, -1, -1, BTreeMap::new(), false) {
            Ok(t) => Ok(t),
            Err(BrokerError::TopicExists(_)) => self.topic(name).ok_or_else(unknown),
            Err(e) => Err(e),
        }
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic as Metadata reports it: in a cluster every topic of the metadata image,
    /// on a single node the hosted ones.
    pub fn topic_views(&self) -> Vec<TopicView> {
        match &self.metadata().topics {
            Some(all) => all.values().cloned().collect(),
            None => self.topics().iter().map(|t| TopicView::of(t)).collect(),
        }
    }

    /// One topic as Metadata reports it (see [`Self::topic_views`]).
    pub fn topic_view(&self, name: &str) -> Option<TopicView> {
        match &self.metadata().topics {
            Some(all) => all.get(name).cloned(),
            None => self.topic(name).map(|t| TopicView::of(&t)),
        }
    }

    /// One topic by id as Metadata reports it.
    pub fn topic_view_by_id(&self, id: Uuid) -> Option<TopicView> {
        match &self.metadata().topics {
            Some(all) => all.values().find(|t| t.id == id).cloned(),
            None => self.topic_by_id(id).map(|t| TopicView::of(&t)),
        }
    }

    /// Whether partition `index` of topic `name` exists: in a cluster in the metadata image
    /// (hosted here or not), on a single node among the hosted ones.
    pub fn knows_partition(&self, name: &str, index: i32) -> bool {
        match &self.metadata().topics {
            Some(all) => all.get(name).is_some_and(|t| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
                    .is_some_and(|p| p.index == index)
            }),
            None => self
                .topic(name)
                .is_some_and(|t| t.partition(index).is_some()),
        }
    }

    /// Every hosted topic, in creation order.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Creates a topic with `partitions` partitions (-1: `num.partitions`) and the default
    /// replication factor: on a single node here, in a cluster through the controller
    /// (waiting until this broker's image has it). For the text protocol's CREATE and
    /// `serve --topic`.
    pub async fn create_topic_anywhere(
        self: &Arc<Self>,
        name: &str,
        partitions: i32,
    ) -> Result<(), BrokerError> {
        if let Some(cluster) = self.cluster() {
            validate_topic_name(name)?;
            return match cluster.create_topic(name, partitions).await {
                Ok(()) => Ok(()),
                Err((ErrorCode::TopicAlreadyExists, _)) => {
                    Err(BrokerError::TopicExists(name.to_string()))
                }
                Err((code, message)) => Err(BrokerError::Controller { code, message }),
            };
        }
        let broker = Arc::clone(self);
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            broker
                .create_topic(&name, partitions, -1, BTreeMap::new(), false)
                .map(|_| ())
        })
        .await
        .map_err(|e| BrokerError::Log(LogError::Internal(e.to_string())))?
    }

    /// Creates a topic with `partitions` partitions and the given config overrides.
    /// With `validate_only`, checks everything and creates nothing. A single node's only
    /// (a cluster broker's topics come from the controller).
    ///
    /// The name is claimed first (a concurrent create of it waits, then gets
    /// TOPIC_ALREADY_EXISTS); the partition dirs are made with no lock held
    /// ([`LogManager::create_logs`]: all or nothing, fsyncs batched), and the topic is
    /// published once all of them exist. A crash in the middle leaves a creation intent
    /// that the next start resolves: the topic comes back whole or not at all.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        validate_topic_name(name)?;
        if self.cluster.is_some() {
            return Err(BrokerError::Controller {
                code: ErrorCode::InvalidRequest,
                message: "a cluster broker creates topics through the controller".into(),
            });
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if !(1..=100_000).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        // -1: `default.replication.factor`, which is 1
        let brokers = self.metadata().brokers.len();
        let factor = if replication_factor == -1 {
            1
        } else {
            replication_factor
        };
        if factor < 1 || usize::try_from(factor).map_or(true, |f| f > brokers) {
            return Err(BrokerError::InvalidReplicationFactor {
                factor: replication_factor,
                brokers,
            });
        }
        let log_config = topic_config::log_config(&self.config.log, &overrides)?;
        let _claim = self.claim_name(name);
        if self.topics.read().contains_key(name) {
            return Err(BrokerError::TopicExists(name.to_string()));
        }
        let id = Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                id,
                partitions: Vec::new(),
                overrides,
            }));
        }
        let store = topic_config::Store::new(&self.config.data_dir);
        store.save(name, id, &overrides)?;
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(name, p))
            .collect();
        let logs = match self.fresh_logs(&tps, id, log_config) {
            Ok(logs) => logs,
            Err(e) => {
                if let Err(cause) = store.remove(name, id) {
                    warn!(topic = name, %cause, "could not remove the config of a failed topic");
                }
                return Err(e);
            }
        };
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            partitions: logs.into_iter().map(|log| self.host(log)).collect(),
            overrides,
        });
        self.topics
            .write()
            .insert(name.to_string(), Arc::clone(&topic));
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its files. It leaves the registry at once; its name stays
    /// claimed until every partition directory is out of the way, so a topic created again
    /// under the same name (by CreateTopics or auto-creation) starts from fresh directories.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        let _claim = self.claim_name(name);
        let topic = self
            .topics
            .write()
            .shift_remove(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        // out of the registry, out of the metrics, whatever happens to its files
        self.metrics.remove_topic(name);
        let tps: Vec<TopicPartition> = topic
            .partitions
            .iter()
            .map(|p| p.topic_partition().clone())
            .collect();
        self.logs.delete_logs(&tps)?;
        for tp in &tps {
            self.cleaner.forget(tp);
        }
        topic_config::Store::new(&self.config.data_dir).remove(name, topic.id)?;
        info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions (CreatePartitions). Like [`Self::create_topic`],
    /// the new partition dirs are made with the name claimed and no lock held.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let _claim = self.claim_name(name);
        let topic = self
            .topic(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        let have = topic.partitions.len() as i32;
        if count <= have || count > 100_000 {
            return Err(BrokerError::InvalidPartitions(count));
        }
        if validate_only {
            return Ok(topic);
        }
        let log_config = topic_config::log_config(&self.config.log, &topic.overrides)?;
        let tps: Vec<TopicPartition> = (have..count)
            .map(|p| TopicPartition::new(name, p))
            .collect();
        let logs = self.fresh_logs(&tps, topic.id, log_config)?;
        let mut topics = self.topics.write();
        // the claim keeps the topic and its partitions; its configs may have changed since
        let current = topics.get(name).cloned().unwrap_or(topic);
        if let Ok(config) = topic_config::log_config(&self.config.log, &current.overrides) {
            for log in &logs {
                log.set_config(config);
            }
        }
        let mut partitions = current.partitions.clone();
        partitions.extend(logs.into_iter().map(|log| self.host(log)));
        let updated = Arc::new(Topic {
            name: current.name.clone(),
            id: current.id,
            partitions,
            overrides: current.overrides.clone(),
        });
        topics.insert(name.to_string(), Arc::clone(&updated));
        drop(topics);
        info!(topic = name, partitions = count, "added partitions");
        Ok(updated)
    }

    /// New, empty logs for `tps`. Logs of these partitions that the registry does not
    /// serve (past a gap in a topic's partitions; a creation a crash interrupted is
    /// resolved at start, see `log::creation`) are deleted first, so the new partitions
    /// never start with old data.
    fn fresh_logs(
        &self,
        tps: &[TopicPartition],
        id: Uuid,
        config: crate::log::LogConfig,
    ) -> Result<Vec<Arc<PartitionLog>>, BrokerError> {
        let stale: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| self.logs.get(tp).is_some())
            .cloned()
            .collect();
        if !stale.is_empty() {
            warn!(
                topic = tps.first().map_or("", |tp| tp.topic.as_str()),
                partitions = stale.len(),
                "deleting unserved partition logs before creating them again"
            );
            self.logs.delete_logs(&stale)?;
        }
        Ok(self.logs.create_logs(tps, Some(id), config)?)
    }

    /// Waits until no other create, grow or delete works on `name`, then claims it until
    /// the returned guard is dropped.
    fn claim_name(&self, name: &str) -> NameClaim<'_> {
        let mut busy = self.busy_names.lock();
        while busy.contains(name) {
            #[cfg(test)]
            self.name_waiters
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.names_idle.wait(&mut busy);
            #[cfg(test)]
            self.name_waiters
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        busy.insert(name.to_string());
        NameClaim {
            broker: self,
            name: name.to_string(),
        }
    }

    /// Replaces a topic's config overrides (IncrementalAlterConfigs computes the new set).
    pub fn set_topic_configs(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let log_config = topic_config::log_config(&self.config.log, &overrides)?;
        let mut topics = self.topics.write();
        let topic = topics
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        topic_config::Store::new(&self.config.data_dir).save(name, topic.id, &overrides)?;
        for p in &topic.partitions {
            p.set_config(log_config);
        }
        topics.insert(
            name.to_string(),
            Arc::new(Topic {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partitions.clone(),
                overrides,
            }),
        );
        Ok(())
    }

    /// A new partition log as a partition this broker leads alone, or in a cluster, one
    /// waiting for the metadata to say who leads it.
    fn host(&self, log: Arc<PartitionLog>) -> Arc<Partition> {
        Arc::new(if self.cluster.is_some() {
            Partition::new_unassigned(log, self.config.node_id)
        } else {
            Partition::new_local_leader(log, self.config.node_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn open(dir: &std::path::Path) -> Arc<Broker> {
        Arc::new(
            Broker::open(Config {
                data_dir: dir.to_path_buf(),
                ..Config::default()
            })
            .expect("broker opens"),
        )
    }

    /// While a topic's partition dirs are being made, the registry is not locked (other
    /// topics can be read, created and deleted) and the name is claimed: a second create
    /// of it waits, then gets TOPIC_ALREADY_EXISTS (Kafka's controller answers a second
    /// CreateTopics of a name it has just accepted the same way). Deterministic: the
    /// checks run from the log manager's hook, in the middle of the first creation.
    #[test]
    fn creation_does_its_io_with_the_name_claimed_and_no_lock_held() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let broker = open(tmp.path());
        broker
            .create_topic("other", 1, 1, BTreeMap::new(), false)
            .expect("create other");
        let second = Arc::new(Mutex::new(None));
        let (b, slot) = (Arc::clone(&broker), Arc::clone(&second));
        broker.logs().set_create_hook(move || {
            assert!(b.topics.try_write().is_some(), "the registry is not locked");
            assert!(b.topic("wide").is_none(), "not published yet");
            assert!(b.busy_names.lock().contains("wide"), "the name is claimed");
            // another topic can be created and deleted meanwhile
            b.create_topic("third", 2, 1, BTreeMap::new(), false)
                .expect("create third");
            b.delete_topic("other").expect("delete other");
            let b2 = Arc::clone(&b);
            let waiter = std::thread::spawn(move || {
                b2.create_topic("wide", 1, 1, BTreeMap::new(), false)
                    .map(|t| t.partitions.len())
            });
            while b.name_waiters.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            *slot.lock() = Some(waiter);
        });
        let wide = broker
            .create_topic("wide", 64, 1, BTreeMap::new(), false)
            .expect("create wide");
        assert_eq!(wide.partitions.len(), 64);
        let waiter = second.lock().take().expect("the hook ran");
        let answer = waiter.join().expect("second create");
        assert!(
            answer
                .as_ref()
                .is_err_and(|e| e.code() == ErrorCode::TopicAlreadyExists),
            "{answer:?}"
        );
        assert_eq!(
            broker.topic("wide").map(|t| t.partitions.len()),
            Some(64),
            "the first creation stands"
        );
        assert!(broker.topic("third").is_some() && broker.topic("other").is_none());
        assert!(broker.busy_names.lock().is_empty(), "every claim released");
    }

    /// A creation that fails half way leaves nothing behind: no topic, no partition dir,
    /// no config file, and the name can be created afterwards.
    #[test]
    fn a_failed_creation_leaves_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let broker = open(tmp.path());
        // a stray directory where partition 5 would go makes that partition fail
        std::fs::create_dir(tmp.path().join("t-5")).expect("stray dir");
        let err = broker
            .create_topic("t", 10, 1, BTreeMap::new(), false)
            .expect_err("partition 5 cannot be created");
        assert!(
            matches!(err, BrokerError::Log(LogError::Io { .. })),
            "{err:?}"
        );
        assert!(broker.topic("t").is_none());
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("t-"))
            .collect();
        assert_eq!(left, ["t-5"], "only the stray dir is left");
        assert!(broker.logs().get(&TopicPartition::new("t", 0)).is_none());
        std::fs::remove_dir(tmp.path().join("t-5")).expect("rm stray");
        let t = broker
            .create_topic("t", 10, 1, BTreeMap::new(), false)
            .expect("create after the failure");
        assert_eq!(t.partitions.len(), 10);
    }
}
