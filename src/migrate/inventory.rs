//! What a Kafka log dir holds and what of it Rafka carries over: the plan that the
//! single-node adoption ([`super::adopt`]) carries out and `rafka migrate --check`
//! ([`super::check`]) prints. Built from files read directly, never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::kafka_metadata::KafkaMetadata;
use super::MigrateError;
use crate::broker::topic_config;
use crate::log::{checkpoint, LogConfig, TopicPartition};
use crate::metadata::metadata_log::CLUSTER_METADATA_TOPIC;
use crate::metadata::records::config_resource;

/// The directory Kafka keeps its metadata log in, under a log dir.
pub fn metadata_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("{CLUSTER_METADATA_TOPIC}-0"))
}

/// A partition directory of the log dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPartition {
    pub tp: TopicPartition,
    pub dir: PathBuf,
    /// From its `partition.metadata`, if it has one.
    pub topic_id: Option<Uuid>,
}

/// One topic of Kafka's metadata and what happens to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicPlan {
    pub name: String,
    /// Its id in Kafka's metadata.
    pub id: Uuid,
    /// Partitions with a directory here.
    pub local: Vec<i32>,
    /// Partitions of the topic this node has no directory for (another broker's, in a
    /// multi-node cluster): not carried.
    pub not_hosted: Vec<i32>,
    /// Local partitions whose `partition.metadata` names another topic id, with that id.
    pub id_mismatches: Vec<(i32, Option<Uuid>)>,
    /// Overrides carried into Rafka's topic override store.
    pub carried: BTreeMap<String, String>,
    /// Overrides of keys Rafka does not support whose value is Kafka's default: nothing
    /// is lost by leaving them out.
    pub defaults: BTreeMap<String, String>,
    /// Overrides that cannot be carried: keys Rafka does not support, with their values.
    pub unsupported: BTreeMap<String, String>,
    /// Overrides Rafka supports but whose value it refuses, with the reason.
    pub invalid: BTreeMap<String, (String, String)>,
}

/// A broker-level dynamic config (a broker id, or "" for the cluster default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub resource: String,
    pub key: String,
    pub value: String,
    /// The value is what Rafka uses anyway (a topic default of the same name).
    pub same_as_rafka: bool,
}

/// Everything carried, and everything not.
#[derive(Clone, Debug)]
pub struct Plan {
    pub metadata: KafkaMetadata,
    pub topics: Vec<TopicPlan>,
    /// Local partition directories of topics Kafka's metadata does not know (Rafka
    /// serves them as today: their ids from `partition.metadata`, no configs).
    pub unknown_local: Vec<TopicPartition>,
    pub broker_configs: Vec<BrokerConfig>,
    /// Kafka's next producer id: Rafka hands out none below it.
    pub producer_id_floor: Option<i64>,
    /// Config resources of other types (client metrics, groups, broker loggers), as
    /// (type, name, key).
    pub other_configs: Vec<(i8, String, String)>,
}

/// Unsupported topic keys and Kafka's defaults for them: an override equal to the default
/// changes nothing (Kafka writes `compression.type=producer` for `__consumer_offsets`).
const KAFKA_DEFAULTS: &[(&str, &str)] = &[
    ("compression.type", "producer"),
    ("preallocate", "false"),
    ("unclean.leader.election.enable", "false"),
    ("segment.jitter.ms", "0"),
    ("remote.storage.enable", "false"),
    ("file.delete.delay.ms", "60000"),
    ("follower.replication.throttled.replicas", ""),
    ("leader.replication.throttled.replicas", ""),
];

/// Kafka metadata record types Rafka does not model that matter nothing to a single-node
/// Rafka: the controllers' registrations, ZooKeeper migration state, and the markers of
/// the metadata transaction Kafka writes its bootstrap records in.
pub const IRRELEVANT_TYPES: &[i16] = &[21, 23, 24, 27];

/// Kafka's name of a metadata record type (`MetadataRecordType`), for reports.
pub fn record_type_name(api_key: i16) -> &'static str {
    match api_key {
        0 => "RegisterBrokerRecord",
        1 => "UnregisterBrokerRecord",
        2 => "TopicRecord",
        3 => "PartitionRecord",
        4 => "ConfigRecord",
        5 => "PartitionChangeRecord",
        7 => "FenceBrokerRecord",
        8 => "UnfenceBrokerRecord",
        9 => "RemoveTopicRecord",
        10 => "DelegationTokenRecord",
        11 => "UserScramCredentialRecord",
        12 => "FeatureLevelRecord",
        14 => "ClientQuotaRecord",
        15 => "ProducerIdsRecord",
        17 => "BrokerRegistrationChangeRecord",
        18 => "AccessControlEntryRecord",
        19 => "RemoveAccessControlEntryRecord",
        20 => "NoOpRecord",
        21 => "ZkMigrationRecord",
        22 => "RemoveUserScramCredentialRecord",
        23 => "BeginTransactionRecord",
        24 => "EndTransactionRecord",
        25 => "AbortTransactionRecord",
        26 => "RemoveDelegationTokenRecord",
        27 => "RegisterControllerRecord",
        _ => "unknown type",
    }
}

/// The partition directories of `data_dir` (not Kafka's metadata log, not directories
/// being deleted or moved: their names do not parse).
pub fn local_partitions(data_dir: &Path) -> Result<Vec<LocalPartition>, MigrateError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir).map_err(MigrateError::io(data_dir))? {
        let entry = entry.map_err(MigrateError::io(data_dir))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(tp) = entry
            .file_name()
            .to_str()
            .and_then(TopicPartition::from_dir_name)
        else {
            continue;
        };
        if tp.topic == CLUSTER_METADATA_TOPIC {
            continue;
        }
        let topic_id =
            checkpoint::read_partition_metadata(&path.join(checkpoint::PARTITION_METADATA_FILE))?;
        out.push(LocalPartition {
            tp,
            dir: path,
            topic_id,
        });
    }
    out.sort_by(|a, b| (&a.tp.topic, a.tp.partition).cmp(&(&b.tp.topic, b.tp.partition)));
    Ok(out)
}

/// Splits a topic's Kafka overrides into carried, defaults, unsupported and invalid.
fn sort_configs(plan: &mut TopicPlan, configs: &BTreeMap<String, String>) {
    for (k, v) in configs {
        if topic_config::KEYS.contains(&k.as_str()) {
            let one = BTreeMap::from([(k.clone(), v.clone())]);
            match topic_config::log_config(&LogConfig::default(), &one) {
                Ok(_) => {
                    plan.carried.insert(k.clone(), v.clone());
                }
                Err(e) => {
                    plan.invalid.insert(k.clone(), (v.clone(), e.to_string()));
                }
            }
        } else if KAFKA_DEFAULTS.contains(&(k.as_str(), v.as_str())) {
            plan.defaults.insert(k.clone(), v.clone());
        } else {
            plan.unsupported.insert(k.clone(), v.clone());
        }
    }
}

/// What of `metadata` is carried into `data_dir`'s Rafka, given its partition dirs.
/// `defaults`: the topic defaults Rafka runs with (its configuration's), which a dynamic
/// broker config of Kafka's is compared with.
pub fn plan(metadata: KafkaMetadata, local: &[LocalPartition], defaults: &LogConfig) -> Plan {
    let image = &metadata.image;
    let mut topics = Vec::new();
    for t in image.topics() {
        let mut p = TopicPlan {
            name: t.name.clone(),
            id: t.id,
            ..TopicPlan::default()
        };
        for &index in t.partitions.keys() {
            match local
                .iter()
                .find(|l| l.tp.topic == t.name && l.tp.partition == index)
            {
                Some(l) => {
                    p.local.push(index);
                    if l.topic_id != Some(t.id) {
                        p.id_mismatches.push((index, l.topic_id));
                    }
                }
                None => p.not_hosted.push(index),
            }
        }
        if let Some(configs) = image.topic_config(&t.name) {
            sort_configs(&mut p, configs);
        }
        topics.push(p);
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let unknown_local = local
        .iter()
        .filter(|l| image.topic(&l.tp.topic).is_none())
        .map(|l| l.tp.clone())
        .collect();
    let mut broker_configs = Vec::new();
    let mut other_configs = Vec::new();
    for ((kind, name), keys) in &image.configs {
        match *kind {
            config_resource::TOPIC => {}
            config_resource::BROKER => {
                for (k, v) in keys {
                    let rafka = topic_config::value_of(defaults, k);
                    broker_configs.push(BrokerConfig {
                        resource: name.clone(),
                        key: k.clone(),
                        value: v.clone(),
                        same_as_rafka: rafka.as_deref() == Some(v.as_str()),
                    });
                }
            }
            other => {
                for k in keys.keys() {
                    other_configs.push((other, name.clone(), k.clone()));
                }
            }
        }
    }
    let producer_id_floor = image.producer_ids.map(|p| p.next_producer_id);
    Plan {
        metadata,
        topics,
        unknown_local,
        broker_configs,
        producer_id_floor,
        other_configs,
    }
}

impl Plan {
    /// What cannot be carried over to a single node, one line each; empty when
    /// everything can.
    pub fn not_carried(&self) -> Vec<String> {
        self.not_carried_as(false)
    }

    /// Same; for a node of a cluster (`cluster`), partitions hosted by other nodes are
    /// carried: the quorum adopts the whole metadata, and their data is on those nodes.
    /// (Dynamic broker configs are not: the quorum holds them, but Rafka's brokers run
    /// with their own configuration's values.)
    pub fn not_carried_as(&self, cluster: bool) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.topics {
            for (k, v) in &t.unsupported {
                out.push(format!(
                    "topic {}: config {k}={v} (not supported by Rafka)",
                    t.name
                ));
            }
            for (k, (v, why)) in &t.invalid {
                out.push(format!("topic {}: config {k}={v} ({why})", t.name));
            }
            if !t.not_hosted.is_empty() && !cluster {
                out.push(format!(
                    "topic {}: partitions {:?} are not hosted on this node",
                    t.name, t.not_hosted
                ));
            }
            for (p, id) in &t.id_mismatches {
                let local = id.map_or_else(|| "none".to_string(), checkpoint::uuid_to_kafka);
                out.push(format!(
                    "topic {}: partition {p}'s partition.metadata has topic id {local}, Kafka's metadata {}",
                    t.name,
                    checkpoint::uuid_to_kafka(t.id)
                ));
            }
        }
        for b in self.broker_configs.iter().filter(|b| !b.same_as_rafka) {
            let who = if b.resource.is_empty() {
                "cluster default".to_string()
            } else {
                format!("broker {}", b.resource)
            };
            out.push(format!(
                "broker config {}={} ({who}): set it in Rafka's configuration",
                b.key, b.value
            ));
        }
        for (kind, name, key) in &self.other_configs {
            out.push(format!("config {key} of resource type {kind} {name:?}"));
        }
        if !cluster && !self.metadata.image.acls.is_empty() {
            // a cluster's image carries them (enforced once authorizer.class.name is set)
            out.push(format!(
                "{} ACL(s): not carried to a single node (add them again with kafka-acls)",
                self.metadata.image.acls.len(),
            ));
        }
        if !cluster && !self.metadata.image.scram.is_empty() {
            // a cluster's image carries them; a single node's own store is not written
            out.push(format!(
                "{} SCRAM credential(s): not carried to a single node (set them again with \
                 kafka-configs --alter --entity-type users)",
                self.metadata.image.scram.len()
            ));
        }
        for (&kind, n) in &self.metadata.unknown_types {
            if !IRRELEVANT_TYPES.contains(&kind) {
                out.push(format!(
                    "{n} metadata record(s) of type {kind} ({}): not carried",
                    record_type_name(kind)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::image::MetadataImage;
    use crate::metadata::records::{ConfigRecord, MetadataRecord, PartitionRecord, TopicRecord};

    fn metadata(records: Vec<MetadataRecord>) -> KafkaMetadata {
        KafkaMetadata {
            image: MetadataImage::from_records(&records),
            end_offset: records.len() as i64,
            records,
            snapshot_id: None,
            unknown_types: BTreeMap::new(),
        }
    }

    fn config(kind: i8, name: &str, key: &str, value: &str) -> MetadataRecord {
        ConfigRecord {
            resource_type: kind,
            resource_name: name.into(),
            name: key.into(),
            value: Some(value.into()),
        }
        .into()
    }

    fn partition(id: Uuid, index: i32) -> MetadataRecord {
        PartitionRecord::new(id, index, vec![1]).into()
    }

    /// A cluster's image carries Kafka's SCRAM credentials and ACLs; a single node says it
    /// does not.
    #[test]
    fn scram_credentials_and_acls_are_reported() {
        use crate::metadata::records::UserScramCredentialRecord;
        let m = metadata(vec![UserScramCredentialRecord {
            name: "carol".into(),
            mechanism: 2,
            salt: vec![1],
            stored_key: vec![2; 64],
            server_key: vec![3; 64],
            iterations: 4096,
        }
        .into()]);
        let plan = plan(m, &[], &LogConfig::default());
        assert!(plan.not_carried_as(true).is_empty());
        // ACLs are kept by a cluster, not by a single node
        let acl = crate::metadata::records::AccessControlEntryRecord {
            id: Uuid::from_u128(1),
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            principal: "User:a".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        let with_acl = super::plan(metadata(vec![acl.into()]), &[], &LogConfig::default());
        assert!(
            with_acl.not_carried_as(true).is_empty(),
            "{:?}",
            with_acl.not_carried_as(true)
        );
        assert!(with_acl.not_carried_as(false)[0].contains("ACL(s): not carried"));
        let single = plan.not_carried_as(false);
        assert_eq!(single.len(), 1, "{single:?}");
        assert!(single[0].starts_with("1 SCRAM credential(s): not carried"));
    }

    #[test]
    fn configs_partitions_and_ids_are_sorted_into_carried_and_not() {
        let (a, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let m = metadata(vec![
            TopicRecord {
                name: "a".into(),
                topic_id: a,
            }
            .into(),
            partition(a, 0),
            partition(a, 1),
            partition(a, 2),
            config(config_resource::TOPIC, "a", "retention.ms", "1000"),
            config(config_resource::TOPIC, "a", "segment.bytes", "3"),
            config(config_resource::TOPIC, "a", "compression.type", "producer"),
            config(config_resource::TOPIC, "a", "compression.type", "zstd"),
            config(config_resource::TOPIC, "a", "preallocate", "false"),
            config(config_resource::BROKER, "", "min.insync.replicas", "1"),
            config(config_resource::BROKER, "1", "min.insync.replicas", "2"),
            config(config_resource::CLIENT_METRICS, "m", "interval.ms", "10"),
        ]);
        let local = vec![
            LocalPartition {
                tp: TopicPartition::new("a", 0),
                dir: PathBuf::from("/x/a-0"),
                topic_id: Some(a),
            },
            LocalPartition {
                tp: TopicPartition::new("a", 1),
                dir: PathBuf::from("/x/a-1"),
                topic_id: Some(other),
            },
            LocalPartition {
                tp: TopicPartition::new("mine", 0),
                dir: PathBuf::from("/x/mine-0"),
                topic_id: None,
            },
        ];
        let plan = plan(m, &local, &LogConfig::default());
        let t = &plan.topics[0];
        assert_eq!(
            (t.local.clone(), t.not_hosted.clone()),
            (vec![0, 1], vec![2])
        );
        assert_eq!(t.id_mismatches, vec![(1, Some(other))]);
        assert_eq!(
            t.carried,
            BTreeMap::from([("retention.ms".to_string(), "1000".to_string())])
        );
        assert!(t.invalid.contains_key("segment.bytes"));
        assert_eq!(
            t.unsupported,
            BTreeMap::from([("compression.type".to_string(), "zstd".to_string())])
        );
        assert_eq!(
            t.defaults,
            BTreeMap::from([("preallocate".to_string(), "false".to_string())])
        );
        assert_eq!(plan.unknown_local, vec![TopicPartition::new("mine", 0)]);
        let same: Vec<bool> = plan
            .broker_configs
            .iter()
            .map(|b| b.same_as_rafka)
            .collect();
        assert_eq!(same, [true, false]);
        let not = plan.not_carried();
        assert_eq!(not.len(), 6, "{not:#?}");
        assert!(not
            .iter()
            .any(|n| n.contains("partitions [2] are not hosted")));
        assert!(not
            .iter()
            .any(|n| n.contains("min.insync.replicas=2 (broker 1)")));
        assert!(not.iter().any(|n| n.contains("interval.ms")));
    }
}
