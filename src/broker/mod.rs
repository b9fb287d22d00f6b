//! Topics and partitions: the registry every handler reads (names, ids, the hosted
//! [`Partition`]s, per-topic configs), and topic creation and deletion.
//!
//! Topics are rebuilt at start from the partition directories (`<topic>-<n>`, ids from
//! `partition.metadata`); per-topic config overrides live in `<log dir>/.rafka/topics/
//! <topic>.properties`. Kafka keeps both in its metadata log instead.

pub mod fetch_session;
pub mod producer_ids;
pub mod topic_config;

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use parking_lot::RwLock;
use tracing::info;
use uuid::Uuid;

use crate::config::Config;
use crate::error::ErrorCode;
use crate::group::GroupCoordinator;
use crate::log::{LogError, LogManager, PartitionLog, TopicPartition};
use crate::metadata::MetadataView;
use crate::partition::{Partition, PartitionError};
use crate::topic::{self, InvalidTopicName, OFFSETS_TOPIC};
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
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
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
    metadata: RwLock<Arc<MetadataView>>,
    /// KIP-227 fetch sessions; locked only to open and to complete a fetch's context.
    fetch_sessions: parking_lot::Mutex<fetch_session::FetchSessionCache>,
    producer_ids: producer_ids::ProducerIds,
    /// Started on first use (creating `__consumer_offsets`), or at open if it exists.
    groups: parking_lot::Mutex<Option<Arc<GroupCoordinator>>>,
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
        let logs = LogManager::open(&config.data_dir, config.log, config.node_id)?;
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
            // partitions must be 0..n; a gap means a broken directory set: serve the prefix
            let n = parts
                .iter()
                .enumerate()
                .take_while(|(i, l)| l.topic_partition().partition == *i as i32)
                .count();
            parts.truncate(n);
            let id = parts
                .iter()
                .find_map(|l| l.topic_id())
                .unwrap_or_else(Uuid::new_v4);
            let overrides = store.load(&name)?;
            let log_config = topic_config::log_config(&config.log, &overrides)?;
            for p in &parts {
                p.set_config(log_config);
            }
            let partitions = parts
                .into_iter()
                .map(|log| Arc::new(Partition::new_local_leader(log, config.node_id)))
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
        let metadata =
            MetadataView::single_node(logs.cluster_id(), config.node_id, &config.listeners);
        Ok(Broker {
            config,
            logs,
            topics: RwLock::new(topics),
            metadata: RwLock::new(Arc::new(metadata)),
            fetch_sessions: parking_lot::Mutex::new(fetch_session::FetchSessionCache::new(
                fetch_session::DEFAULT_MAX_SLOTS,
            )),
            producer_ids,
            groups: parking_lot::Mutex::new(None),
        })
        .and_then(|b: Broker| {
            if b.topic(OFFSETS_TOPIC).is_some() {
                b.groups()?;
            }
            Ok(b)
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
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
        self.logs.cluster_id()
    }
    /// The fetch sessions (KIP-227).
    pub fn fetch_sessions(&self) -> &parking_lot::Mutex<fetch_session::FetchSessionCache> {
        &self.fetch_sessions
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
            None => {
                let overrides = BTreeMap::from([
                    ("retention.ms".to_string(), "-1".to_string()),
                    (
                        "segment.bytes".to_string(),
                        gc.offsets_topic_segment_bytes.to_string(),
                    ),
                ]);
                self.create_topic(
                    OFFSETS_TOPIC,
                    gc.offsets_topic_num_partitions,
                    1,
                    overrides,
                    false,
                )?
            }
        };
        let coordinator = Arc::new(GroupCoordinator::load(*gc, topic.partitions.clone())?);
        *slot = Some(Arc::clone(&coordinator));
        Ok(coordinator)
    }

    /// The group coordinator if it has been started.
    pub fn groups_if_started(&self) -> Option<Arc<GroupCoordinator>> {
        self.groups.lock().clone()
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, in creation order.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Creates a topic with `partitions` partitions and the given config overrides.
    /// With `validate_only`, checks everything and creates nothing.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        validate_topic_name(name)?;
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
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
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
        topic_config::Store::new(&self.config.data_dir).save(name, &overrides)?;
        let mut hosted = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            hosted.push(self.host(self.logs.get_or_create(
                &TopicPartition::new(name, p),
                Some(id),
                log_config,
            )?));
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            partitions: hosted,
            overrides,
        });
        topics.insert(name.to_string(), Arc::clone(&topic));
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its files. The registry stays locked until every partition
    /// directory is out of the way, so a topic created again under the same name (by
    /// CreateTopics or auto-creation) starts from fresh directories.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        let mut topics = self.topics.write();
        let topic = topics
            .shift_remove(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        for p in &topic.partitions {
            self.logs.delete(p.topic_partition())?;
        }
        topic_config::Store::new(&self.config.data_dir).remove(name)?;
        drop(topics);
        info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions (CreatePartitions).
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let mut topics = self.topics.write();
        let topic = topics
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        let have = topic.partitions.len() as i32;
        if count <= have || count > 100_000 {
            return Err(BrokerError::InvalidPartitions(count));
        }
        if validate_only {
            return Ok(topic);
        }
        let log_config = topic_config::log_config(&self.config.log, &topic.overrides)?;
        let mut partitions = topic.partitions.clone();
        for p in have..count {
            partitions.push(self.host(self.logs.get_or_create(
                &TopicPartition::new(name, p),
                Some(topic.id),
                log_config,
            )?));
        }
        let updated = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions,
            overrides: topic.overrides.clone(),
        });
        topics.insert(name.to_string(), Arc::clone(&updated));
        Ok(updated)
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
        topic_config::Store::new(&self.config.data_dir).save(name, &overrides)?;
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

    /// A new partition log as a partition this broker leads alone.
    fn host(&self, log: Arc<PartitionLog>) -> Arc<Partition> {
        Arc::new(Partition::new_local_leader(log, self.config.node_id))
    }
}
