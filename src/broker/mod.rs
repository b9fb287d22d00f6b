//! Topics and partitions: the registry every handler reads (names, ids, partition logs,
//! per-topic configs), topic creation and deletion, and the append notification that wakes
//! long-polling fetches.
//!
//! Topics are rebuilt at start from the partition directories (`<topic>-<n>`, ids from
//! `partition.metadata`); per-topic config overrides live in `<log dir>/.rafka/topics/
//! <topic>.properties`. Kafka keeps both in its metadata log instead.

pub mod producer_ids;
pub mod topic_config;

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use parking_lot::RwLock;
use tokio::sync::Notify;
use tracing::info;
use uuid::Uuid;

use crate::config::Config;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::{LogError, LogManager, PartitionLog, TopicPartition};
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
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    /// INVALID_PARTITIONS (37).
    #[error("invalid number of partitions {0}")]
    InvalidPartitions(i32),
    /// INVALID_REPLICATION_FACTOR (38).
    #[error("replication factor {0} is larger than the 1 available broker")]
    InvalidReplicationFactor(i16),
    /// INVALID_CONFIG (40).
    #[error(transparent)]
    Config(#[from] TopicConfigError),
    /// The log engine failed (its own code).
    #[error(transparent)]
    Log(#[from] LogError),
}

impl BrokerError {
    pub fn error_code(&self) -> i16 {
        match self {
            BrokerError::TopicExists(_) => 36,
            BrokerError::UnknownTopic(_) => 3,
            BrokerError::InvalidTopic { .. } => 17,
            BrokerError::InvalidPartitions(_) => 37,
            BrokerError::InvalidReplicationFactor(_) => 38,
            BrokerError::Config(_) => 40,
            BrokerError::Log(e) => e.error_code(),
        }
    }
}

/// One topic: an immutable snapshot, replaced whole when partitions or configs change.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Arc<PartitionLog>>,
    /// Config overrides set on this topic (the rest are broker defaults).
    pub overrides: BTreeMap<String, String>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<PartitionLog>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let bad = |reason| {
        Err(BrokerError::InvalidTopic {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// The broker's shared state.
pub struct Broker {
    config: Config,
    logs: LogManager,
    topics: RwLock<IndexMap<String, Arc<Topic>>>,
    /// Woken after every append, for long-polling fetches.
    appended: Notify,
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
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name,
                    id,
                    partitions: parts,
                    overrides,
                }),
            );
        }
        info!(topics = topics.len(), "topics loaded");
        let producer_ids =
            producer_ids::ProducerIds::open(&config.data_dir, logs.next_unseen_producer_id())?;
        Ok(Broker {
            config,
            logs,
            topics: RwLock::new(topics),
            appended: Notify::new(),
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
        if replication_factor != -1 && replication_factor != 1 {
            return Err(BrokerError::InvalidReplicationFactor(replication_factor));
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
        let mut logs = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            logs.push(self.logs.get_or_create(
                &TopicPartition::new(name, p),
                Some(id),
                log_config,
            )?);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            partitions: logs,
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
            partitions.push(self.logs.get_or_create(
                &TopicPartition::new(name, p),
                Some(topic.id),
                log_config,
            )?);
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

    /// Wakes every fetch waiting for data.
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// A future that completes at the next [`Broker::notify_appended`]. Create it (and
    /// `enable` it) before checking for data, so no append is missed in between.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for ok in ["a", "my-topic", "a.b_c-1", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).expect_err("invalid").error_code(),
                17,
                "{bad}"
            );
        }
    }
}
