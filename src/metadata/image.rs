//! The metadata image (Kafka's `MetadataImage`): the cluster as the metadata log says it
//! is, built by applying [`MetadataRecord`]s in log order. Brokers and their registrations,
//! topics and their partitions (replicas, ISR, leader and epochs), configs of topics and
//! brokers, the producer id block, the finalized feature levels, the users' SCRAM
//! credentials, and the ACLs.
//!
//! A pure state machine: no I/O, no clock, no locks. Whoever reads the log (the controller
//! quorum, a broker following it) applies its records here, and answers from the image.
//!
//! Invariant: every topic in `topics` has its name in `topic_ids`, and back.
//!
//! A record that does not fit the image (a change to a topic that does not exist, a fence
//! of a broker with another epoch) is logged at warn and skipped. On a broker, Kafka's
//! `MetadataLoader` hands such a replay error to a non-fatal fault handler (logged, counted
//! in a metric) and goes on with the next record, as this image does; a Kafka controller
//! treats a replay error as fatal, and never writes such a record in the first place.
//!
//! A snapshot ([`MetadataImage::snapshot_records`]) is the list of records that rebuilds
//! the image from nothing; [`MetadataImage::digest`] is a CRC-32C of their encoding, equal
//! on every node that applied the same records.

use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::{debug, warn};
use uuid::Uuid;

use super::records::{
    config_resource, BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord, ConfigRecord,
    FeatureLevelRecord, MetadataRecord, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord,
    RegisterBrokerRecord, TopicRecord, METADATA_VERSION_FEATURE, NO_LEADER_CHANGE,
};
use super::{BrokerRegistration, MetadataView, PartitionView, TopicView};
use crate::security::{ScramCredential, ScramCredentials, ScramMechanism};

/// One registered broker (Kafka's `BrokerRegistration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    pub incarnation_id: Uuid,
    /// The epoch the controller gave this registration.
    pub epoch: i64,
    pub endpoints: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub log_dirs: Vec<Uuid>,
}

/// One partition (Kafka's `PartitionRegistration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// -1: no leader.
    pub leader: i32,
    /// 0 recovered, 1 recovering from an unclean election.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub directories: Vec<Uuid>,
    /// KIP-966's eligible leader replicas (empty when not in use).
    pub elr: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

/// One topic with its partitions by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
}

/// The last producer id block handed out (Kafka's `ProducerIdsImage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdsImage {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The first id of the next block.
    pub next_producer_id: i64,
}

/// A config resource: a [`config_resource`] type id and its name (a topic name, a broker
/// id, or "" for the cluster-wide broker default).
pub type ConfigResource = (i8, String);

/// What [`MetadataImage::apply`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The image changed (or the record asks for no change, as a NoOpRecord).
    Yes,
    /// The record did not fit the image and was skipped (logged at warn).
    Skipped,
}

/// The cluster's metadata as of some offset of the metadata log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Finalized feature levels by name (`metadata.version`, `kraft.version`, ...).
    pub features: BTreeMap<String, i16>,
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// Topics by id (private: `topic_ids` must follow every change).
    topics: BTreeMap<Uuid, TopicImage>,
    /// Topic ids by name.
    topic_ids: BTreeMap<String, Uuid>,
    /// Each resource's config keys; a resource with no key is absent.
    pub configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    pub producer_ids: Option<ProducerIdsImage>,
    /// SCRAM credentials by user and mechanism (Kafka's `ScramImage`).
    pub scram: super::scram::Credentials,
    /// ACLs by id (Kafka's `AclsImage`).
    pub acls: BTreeMap<Uuid, crate::security::acl::Acl>,
}

impl ScramCredentials for MetadataImage {
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.scram.scram_credential(user, mechanism)
    }
}

impl MetadataImage {
    /// The empty image, before the first record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an image from records in log order (a snapshot, or a whole log).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a MetadataRecord>) -> Self {
        let mut image = Self::new();
        for r in records {
            image.apply(r);
        }
        image
    }

    /// Every topic, by id order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topics.get(id)
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// A topic's config keys.
    pub fn topic_config(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.configs
            .get(&(config_resource::TOPIC, name.to_string()))
    }

    /// A broker's config keys (`None` for the cluster-wide default).
    pub fn broker_config(&self, broker_id: Option<i32>) -> Option<&BTreeMap<String, String>> {
        let name = broker_id.map(|id| id.to_string()).unwrap_or_default();
        self.configs.get(&(config_resource::BROKER, name))
    }

    /// True if `id` is registered and not fenced.
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Applies one record, in log order. Never panics: a record that does not fit is
    /// logged and skipped.
    pub fn apply(&mut self, record: &MetadataRecord) -> Applied {
        use MetadataRecord as R;
        let ok = match record {
            R::RegisterBrokerRecord(r) => self.register_broker(r),
            R::UnregisterBrokerRecord(r) => {
                // Kafka: ClusterDelta removes the registration; the controller refuses an
                // epoch that does not match.
                match self.brokers.get(&r.broker_id) {
                    Some(b) if b.epoch == r.broker_epoch => {
                        self.brokers.remove(&r.broker_id);
                        Ok(())
                    }
                    Some(b) => Err(format!(
                        "epoch {} is not the broker's {}",
                        r.broker_epoch, b.epoch
                    )),
                    None => Err("no such broker".into()),
                }
            }
            R::FenceBrokerRecord(r) => self.broker_fencing(r.id, r.epoch, Some(true), None, &[]),
            R::UnfenceBrokerRecord(r) => self.broker_fencing(r.id, r.epoch, Some(false), None, &[]),
            R::BrokerRegistrationChangeRecord(r) => self.broker_change(r),
            R::TopicRecord(r) => self.add_topic(r),
            R::PartitionRecord(r) => self.set_partition(r),
            R::PartitionChangeRecord(r) => self.change_partition(r),
            R::RemoveTopicRecord(r) => match self.topics.remove(&r.topic_id) {
                // Kafka's MetadataDelta drops the topic's configs with it
                Some(t) => {
                    self.topic_ids.remove(&t.name);
                    self.configs.remove(&(config_resource::TOPIC, t.name));
                    Ok(())
                }
                None => Err("no such topic id".into()),
            },
            R::ConfigRecord(r) => {
                self.set_config(r);
                Ok(())
            }
            R::FeatureLevelRecord(r) => {
                // level 0: the feature is no longer finalized (Kafka's FeaturesDelta)
                if r.feature_level == 0 {
                    self.features.remove(&r.name);
                } else {
                    self.features.insert(r.name.clone(), r.feature_level);
                }
                Ok(())
            }
            R::ProducerIdsRecord(r) => self.producer_ids(r),
            R::NoOpRecord(_) => Ok(()),
            R::UserScramCredentialRecord(_) | R::RemoveUserScramCredentialRecord(_) => {
                super::scram::apply_one(&mut self.scram, record)
            }
            R::AccessControlEntryRecord(r) => match super::acls::acl_of(r) {
                Some(acl) => {
                    self.acls.insert(r.id, acl);
                    Ok(())
                }
                None => Err("an ACL with an unknown code".into()),
            },
            R::RemoveAccessControlEntryRecord(r) => match self.acls.remove(&r.id) {
                Some(_) => Ok(()),
                None => Err("no such ACL".into()),
            },
            R::ClearElrRecord(r) => {
                // as Kafka merges it, a partition change: the partitions it changes move
                // to their next partition epoch
                let clear = |t: &mut TopicImage| {
                    for p in t.partitions.values_mut() {
                        if !p.elr.is_empty() || !p.last_known_elr.is_empty() {
                            p.elr.clear();
                            p.last_known_elr.clear();
                            p.partition_epoch = p.partition_epoch.saturating_add(1);
                        }
                    }
                };
                if r.topic_name.is_empty() {
                    self.topics.values_mut().for_each(clear);
                    Ok(())
                } else {
                    match self.topic_ids.get(&r.topic_name).copied() {
                        Some(id) => {
                            self.topics.get_mut(&id).map(clear);
                            Ok(())
                        }
                        None => Err("no such topic".into()),
                    }
                }
            }
            R::Unknown {
                api_key, version, ..
            } => {
                // Kafka fails on a record type it does not know; one we do not model
                // (ACLs, quotas, ...) leaves this image as it is
                debug!(
                    api_key,
                    version, "metadata record not modelled by the image"
                );
                Ok(())
            }
        };
        match ok {
            Ok(()) => Applied::Yes,
            Err(why) => {
                warn!(record = record.name(), why = %why, "metadata record does not fit the image; skipped");
                Applied::Skipped
            }
        }
    }

    fn register_broker(&mut self, r: &RegisterBrokerRecord) -> Result<(), String> {
        // Kafka: a new registration replaces the broker's previous one
        self.brokers.insert(
            r.broker_id,
            BrokerImage {
                id: r.broker_id,
                incarnation_id: r.incarnation_id,
                epoch: r.broker_epoch,
                endpoints: r.end_points.clone(),
                features: r.features.clone(),
                rack: r.rack.clone(),
                fenced: r.fenced,
                in_controlled_shutdown: r.in_controlled_shutdown,
                log_dirs: r.log_dirs.clone(),
            },
        );
        Ok(())
    }

    /// Kafka's ClusterDelta: the broker must be registered with that epoch
    /// (`getBrokerOrThrow`).
    fn broker_fencing(
        &mut self,
        id: i32,
        epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
        log_dirs: &[Uuid],
    ) -> Result<(), String> {
        let b = self.brokers.get_mut(&id).ok_or("no such broker")?;
        if b.epoch != epoch {
            return Err(format!("epoch {epoch} is not the broker's {}", b.epoch));
        }
        if let Some(f) = fenced {
            b.fenced = f;
        }
        if let Some(cs) = in_controlled_shutdown {
            b.in_controlled_shutdown = cs;
        }
        if !log_dirs.is_empty() {
            b.log_dirs = log_dirs.to_vec();
        }
        Ok(())
    }

    fn broker_change(&mut self, r: &BrokerRegistrationChangeRecord) -> Result<(), String> {
        // Kafka: BrokerRegistrationFencingChange / InControlledShutdownChange refuse other
        // values
        let fenced = match r.fenced {
            -1 => Some(false),
            0 => None,
            1 => Some(true),
            v => return Err(format!("invalid fencing change {v}")),
        };
        let cs = match r.in_controlled_shutdown {
            0 => None,
            1 => Some(true),
            v => return Err(format!("invalid controlled shutdown change {v}")),
        };
        self.broker_fencing(r.broker_id, r.broker_epoch, fenced, cs, &r.log_dirs)
    }

    fn add_topic(&mut self, r: &TopicRecord) -> Result<(), String> {
        // Kafka's controller never writes a second topic with a live name or id
        if self.topics.contains_key(&r.topic_id) {
            return Err(format!("topic id {} exists", r.topic_id));
        }
        if self.topic_ids.contains_key(&r.name) {
            return Err(format!("topic {} exists", r.name));
        }
        self.topic_ids.insert(r.name.clone(), r.topic_id);
        self.topics.insert(
            r.topic_id,
            TopicImage {
                name: r.name.clone(),
                id: r.topic_id,
                partitions: BTreeMap::new(),
            },
        );
        Ok(())
    }

    fn set_partition(&mut self, r: &PartitionRecord) -> Result<(), String> {
        // Kafka: TopicsDelta fails on a partition of an unknown topic
        let topic = self.topics.get_mut(&r.topic_id).ok_or("no such topic id")?;
        if r.partition_id < 0 {
            return Err(format!("invalid partition id {}", r.partition_id));
        }
        topic.partitions.insert(
            r.partition_id,
            PartitionImage {
                replicas: r.replicas.clone(),
                isr: r.isr.clone(),
                removing_replicas: r.removing_replicas.clone(),
                adding_replicas: r.adding_replicas.clone(),
                leader: r.leader,
                leader_recovery_state: r.leader_recovery_state,
                leader_epoch: r.leader_epoch,
                partition_epoch: r.partition_epoch,
                directories: r.directories.clone(),
                elr: r.eligible_leader_replicas.clone().unwrap_or_default(),
                last_known_elr: r.last_known_elr.clone().unwrap_or_default(),
            },
        );
        Ok(())
    }

    /// Kafka's `PartitionRegistration.merge`: fields that are set replace the old ones,
    /// the partition epoch always goes up by one, the leader epoch by one when the leader
    /// is set (even to the same broker).
    fn change_partition(&mut self, r: &PartitionChangeRecord) -> Result<(), String> {
        let topic = self.topics.get_mut(&r.topic_id).ok_or("no such topic id")?;
        let p = topic
            .partitions
            .get_mut(&r.partition_id)
            .ok_or_else(|| format!("no partition {} in topic {}", r.partition_id, topic.name))?;
        let set = |dst: &mut Vec<i32>, src: &Option<Vec<i32>>| {
            if let Some(v) = src {
                dst.clone_from(v);
            }
        };
        set(&mut p.replicas, &r.replicas);
        set(&mut p.isr, &r.isr);
        set(&mut p.removing_replicas, &r.removing_replicas);
        set(&mut p.adding_replicas, &r.adding_replicas);
        set(&mut p.elr, &r.eligible_leader_replicas);
        set(&mut p.last_known_elr, &r.last_known_elr);
        if let Some(d) = &r.directories {
            p.directories.clone_from(d);
        }
        if r.leader != NO_LEADER_CHANGE {
            p.leader = r.leader;
            p.leader_epoch = p.leader_epoch.saturating_add(1);
        }
        if r.leader_recovery_state != -1 {
            p.leader_recovery_state = r.leader_recovery_state;
        }
        p.partition_epoch = p.partition_epoch.saturating_add(1);
        Ok(())
    }

    fn set_config(&mut self, r: &ConfigRecord) {
        let key = (r.resource_type, r.resource_name.clone());
        match &r.value {
            Some(v) => {
                self.configs
                    .entry(key)
                    .or_default()
                    .insert(r.name.clone(), v.clone());
            }
            None => {
                if let Some(keys) = self.configs.get_mut(&key) {
                    keys.remove(&r.name);
                    if keys.is_empty() {
                        self.configs.remove(&key);
                    }
                }
            }
        }
    }

    fn producer_ids(&mut self, r: &ProducerIdsRecord) -> Result<(), String> {
        // Kafka's ProducerIdControlManager refuses a block that does not move forward
        if let Some(cur) = self.producer_ids {
            if r.next_producer_id <= cur.next_producer_id {
                return Err(format!(
                    "next producer id {} is not past {}",
                    r.next_producer_id, cur.next_producer_id
                ));
            }
        }
        self.producer_ids = Some(ProducerIdsImage {
            broker_id: r.broker_id,
            broker_epoch: r.broker_epoch,
            next_producer_id: r.next_producer_id,
        });
        Ok(())
    }

    /// The records that rebuild this image from nothing, in the order Kafka's snapshots
    /// use: `metadata.version` first, then the other features, brokers, topics each followed
    /// by its partitions, configs, the producer id block, SCRAM credentials, and ACLs.
    pub fn snapshot_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        let feature = |(name, level): (&String, &i16)| {
            MetadataRecord::from(FeatureLevelRecord {
                name: name.clone(),
                feature_level: *level,
            })
        };
        out.extend(
            self.features
                .iter()
                .filter(|(n, _)| n.as_str() == METADATA_VERSION_FEATURE)
                .map(feature),
        );
        out.extend(
            self.features
                .iter()
                .filter(|(n, _)| n.as_str() != METADATA_VERSION_FEATURE)
                .map(feature),
        );
        for b in self.brokers.values() {
            out.push(
                RegisterBrokerRecord {
                    broker_id: b.id,
                    is_migrating_zk_broker: false,
                    incarnation_id: b.incarnation_id,
                    broker_epoch: b.epoch,
                    end_points: b.endpoints.clone(),
                    features: b.features.clone(),
                    rack: b.rack.clone(),
                    fenced: b.fenced,
                    in_controlled_shutdown: b.in_controlled_shutdown,
                    log_dirs: b.log_dirs.clone(),
                }
                .into(),
            );
        }
        for t in self.topics.values() {
            out.push(
                TopicRecord {
                    name: t.name.clone(),
                    topic_id: t.id,
                }
                .into(),
            );
            for (&index, p) in &t.partitions {
                let opt = |v: &Vec<i32>| (!v.is_empty()).then(|| v.clone());
                out.push(
                    PartitionRecord {
                        partition_id: index,
                        topic_id: t.id,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        removing_replicas: p.removing_replicas.clone(),
                        adding_replicas: p.adding_replicas.clone(),
                        leader: p.leader,
                        leader_recovery_state: p.leader_recovery_state,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        directories: p.directories.clone(),
                        eligible_leader_replicas: opt(&p.elr),
                        last_known_elr: opt(&p.last_known_elr),
                    }
                    .into(),
                );
            }
        }
        for ((resource_type, resource_name), keys) in &self.configs {
            for (name, value) in keys {
                out.push(
                    ConfigRecord {
                        resource_type: *resource_type,
                        resource_name: resource_name.clone(),
                        name: name.clone(),
                        value: Some(value.clone()),
                    }
                    .into(),
                );
            }
        }
        if let Some(p) = self.producer_ids {
            out.push(
                ProducerIdsRecord {
                    broker_id: p.broker_id,
                    broker_epoch: p.broker_epoch,
                    next_producer_id: p.next_producer_id,
                }
                .into(),
            );
        }
        for ((name, mechanism), c) in &self.scram {
            out.push(super::scram::record_of(name, *mechanism, c).into());
        }
        for (&id, acl) in &self.acls {
            out.push(super::acls::record_of(id, acl).into());
        }
        out
    }

    /// Rebuilds an image from [`Self::snapshot_records`] (or any record list).
    pub fn restore(records: &[MetadataRecord]) -> Self {
        Self::from_records(records)
    }

    /// The canonical encoding: each snapshot record's value with a 4-byte length before
    /// it. Two images are equal exactly when their encodings are.
    pub fn canonical_bytes(&self) -> Bytes {
        let mut out = Vec::new();
        for r in self.snapshot_records() {
            let b = r.encode();
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(&b);
        }
        Bytes::from(out)
    }

    /// A stable digest of the image (CRC-32C of [`Self::canonical_bytes`]): the same on
    /// every node, build and run that applied the same records.
    pub fn digest(&self) -> u32 {
        crc32c::crc32c(&self.canonical_bytes())
    }

    /// The view the Kafka handlers answer from, for a request that came in on `listener`:
    /// the live (registered, unfenced) brokers that have that listener, and as controller
    /// id a live broker (KRaft tells clients a random live broker; this takes the lowest id,
    /// so every node answers the same), or -1 if none is.
    pub fn metadata_view(&self, cluster_id: &str, listener: &str) -> MetadataView {
        let brokers = self.live_brokers(|b| b.endpoints.iter().any(|e| e.name == listener));
        MetadataView {
            cluster_id: cluster_id.to_string(),
            controller_id: brokers.first().map_or(-1, |b| b.node_id),
            brokers,
            topics: None,
        }
    }

    /// The unfenced brokers that pass `keep`, with their endpoints.
    fn live_brokers(&self, keep: impl Fn(&BrokerImage) -> bool) -> Vec<BrokerRegistration> {
        self.brokers
            .values()
            .filter(|b| !b.fenced && keep(b))
            .map(|b| BrokerRegistration {
                node_id: b.id,
                rack: b.rack.clone(),
                endpoints: b
                    .endpoints
                    .iter()
                    .map(|e| (e.name.clone(), e.host.clone(), e.port))
                    .collect(),
            })
            .collect()
    }

    /// The view a broker of the cluster answers from: every live broker (each request's
    /// listener picks its endpoints) and every topic with its partitions.
    pub fn cluster_view(&self, cluster_id: &str) -> MetadataView {
        let brokers = self.live_brokers(|_| true);
        let topics = self
            .topics()
            .map(|t| {
                let partitions = t
                    .partitions
                    .keys()
                    .filter_map(|&i| self.partition_view(&t.name, i))
                    .collect();
                let view = TopicView {
                    name: t.name.clone(),
                    id: t.id,
                    partitions,
                };
                (t.name.clone(), view)
            })
            .collect();
        MetadataView {
            cluster_id: cluster_id.to_string(),
            controller_id: brokers.first().map_or(-1, |b| b.node_id),
            brokers,
            topics: Some(std::sync::Arc::new(topics)),
        }
    }

    /// One partition as Metadata reports it: offline replicas are those on brokers that
    /// are fenced or not registered.
    pub fn partition_view(&self, topic: &str, index: i32) -> Option<PartitionView> {
        let p = self.topic(topic)?.partitions.get(&index)?;
        Some(PartitionView {
            index,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            offline_replicas: p
                .replicas
                .iter()
                .copied()
                .filter(|&r| !self.is_live(r))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::{FenceBrokerRecord, RemoveTopicRecord, UnregisterBrokerRecord};
    use crate::metadata::sample::{sample_cluster_records, SAMPLE_TOPIC, SAMPLE_TOPIC_ID};
    use proptest::prelude::*;

    fn sample() -> MetadataImage {
        MetadataImage::from_records(&sample_cluster_records())
    }

    #[test]
    fn sample_cluster_image() {
        let img = sample();
        assert_eq!(img.features.get(METADATA_VERSION_FEATURE), Some(&25));
        assert_eq!(img.brokers.len(), 3);
        assert!(img.is_live(1) && img.is_live(2) && !img.is_live(3));
        assert!(img.brokers[&2].in_controlled_shutdown);
        let t = img.topic(SAMPLE_TOPIC).expect("present");
        assert_eq!((t.id, t.partitions.len()), (SAMPLE_TOPIC_ID, 3));
        assert_eq!(t.partitions[&0].replicas, vec![1, 2, 3]);
        assert_eq!(t.partitions[&1].replicas, vec![2, 3, 1]);
        // PartitionChangeRecord: leader 3 -> 1 bumps both epochs; ISR shrinks
        let p2 = &t.partitions[&2];
        assert_eq!(p2.replicas, vec![3, 1, 2]);
        assert_eq!((p2.leader, p2.leader_epoch, p2.partition_epoch), (1, 1, 1));
        assert_eq!(p2.isr, vec![1, 2]);
        assert_eq!(
            img.topic_config(SAMPLE_TOPIC).expect("present")["retention.ms"],
            "86400000"
        );
        assert_eq!(
            img.broker_config(Some(1)).expect("present")["log.cleaner.threads"],
            "2"
        );
        assert_eq!(img.producer_ids.expect("present").next_producer_id, 1000);
    }

    #[test]
    fn snapshot_restores_the_same_image() {
        let img = sample();
        let restored = MetadataImage::restore(&img.snapshot_records());
        assert_eq!(restored, img);
        assert_eq!(restored.digest(), img.digest());
        // the digest depends on nothing but the records: pinned, so a change to the
        // canonical encoding is a deliberate one (nodes of mixed builds compare digests)
        assert_eq!(img.digest(), 0xd8ef_fc65);
        // snapshot records survive encoding
        let decoded: Vec<MetadataRecord> = img
            .snapshot_records()
            .iter()
            .map(|r| MetadataRecord::decode(&r.encode()).expect("present"))
            .collect();
        assert_eq!(MetadataImage::restore(&decoded).digest(), img.digest());
        // the digest changes with the image
        let mut other = img.clone();
        other.apply(&MetadataRecord::NoOpRecord(
            crate::metadata::records::NoOpRecord,
        ));
        assert_eq!(other.digest(), img.digest());
        other.apply(
            &ConfigRecord {
                resource_type: config_resource::TOPIC,
                resource_name: SAMPLE_TOPIC.into(),
                name: "retention.ms".into(),
                value: None,
            }
            .into(),
        );
        assert_ne!(other.digest(), img.digest());
        assert!(other.topic_config(SAMPLE_TOPIC).is_none());
    }

    #[test]
    fn records_that_do_not_fit_are_skipped() {
        let mut img = sample();
        let before = img.clone();
        let unknown_topic = Uuid::from_u128(42);
        let mut change = PartitionChangeRecord::new(unknown_topic, 0);
        change.leader = 2;
        assert_eq!(img.apply(&change.into()), Applied::Skipped);
        let mut change = PartitionChangeRecord::new(SAMPLE_TOPIC_ID, 9);
        change.leader = 2;
        assert_eq!(img.apply(&change.into()), Applied::Skipped);
        assert_eq!(
            img.apply(&FenceBrokerRecord { id: 1, epoch: 99 }.into()),
            Applied::Skipped
        );
        assert_eq!(
            img.apply(&FenceBrokerRecord { id: 9, epoch: 11 }.into()),
            Applied::Skipped
        );
        let dup = TopicRecord {
            name: SAMPLE_TOPIC.into(),
            topic_id: unknown_topic,
        };
        assert_eq!(img.apply(&dup.into()), Applied::Skipped);
        let back = ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 11,
            next_producer_id: 10,
        };
        assert_eq!(img.apply(&back.into()), Applied::Skipped);
        let bad = BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 11,
            fenced: 5,
            in_controlled_shutdown: 0,
            log_dirs: vec![],
        };
        assert_eq!(img.apply(&bad.into()), Applied::Skipped);
        assert_eq!(img, before);
    }

    #[test]
    fn remove_topic_and_unregister_broker() {
        let mut img = sample();
        img.apply(
            &RemoveTopicRecord {
                topic_id: SAMPLE_TOPIC_ID,
            }
            .into(),
        );
        assert!(img.topic(SAMPLE_TOPIC).is_none());
        assert!(img.topic_config(SAMPLE_TOPIC).is_none());
        // the name can be used again
        let again = TopicRecord {
            name: SAMPLE_TOPIC.into(),
            topic_id: Uuid::from_u128(7),
        };
        assert_eq!(img.apply(&again.into()), Applied::Yes);
        let unreg = UnregisterBrokerRecord {
            broker_id: 3,
            broker_epoch: 13,
        };
        assert_eq!(img.apply(&unreg.into()), Applied::Yes);
        assert!(!img.brokers.contains_key(&3));
    }

    #[test]
    fn views_for_the_handlers() {
        let img = sample();
        let view = img.metadata_view("cid", "PLAINTEXT");
        // broker 3 is fenced: not listed
        assert_eq!(
            view.brokers.iter().map(|b| b.node_id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(view.controller_id, 1);
        let e = view.endpoint(2, "PLAINTEXT").expect("present");
        assert_eq!(
            (e.host.as_str(), e.port, e.rack.as_deref()),
            ("127.0.0.1", 9093, Some("rack-2"))
        );
        assert!(img.metadata_view("cid", "SSL").brokers.is_empty());
        assert_eq!(img.metadata_view("cid", "SSL").controller_id, -1);
        let p = img.partition_view(SAMPLE_TOPIC, 0).expect("present");
        assert_eq!(p.offline_replicas, vec![3]);
        assert_eq!((p.leader, p.isr.len()), (1, 3));
        assert!(img.partition_view(SAMPLE_TOPIC, 3).is_none());
    }

    fn arb_record() -> impl Strategy<Value = MetadataRecord> {
        // small id spaces so records hit each other
        let topic = (0u128..3).prop_map(Uuid::from_u128);
        let ids = proptest::collection::vec(1i32..4, 0..4);
        prop_oneof![
            (1i32..4, 0i64..3, any::<bool>()).prop_map(|(id, epoch, fenced)| {
                RegisterBrokerRecord {
                    broker_id: id,
                    is_migrating_zk_broker: false,
                    incarnation_id: Uuid::nil(),
                    broker_epoch: epoch,
                    end_points: vec![BrokerEndpoint {
                        name: "PLAINTEXT".into(),
                        host: "h".into(),
                        port: 1,
                        security_protocol: 0,
                    }],
                    features: vec![],
                    rack: None,
                    fenced,
                    in_controlled_shutdown: false,
                    log_dirs: vec![],
                }
                .into()
            }),
            (1i32..4, 0i64..3).prop_map(|(id, epoch)| FenceBrokerRecord { id, epoch }.into()),
            (topic.clone(), 0u8..3).prop_map(|(t, n)| TopicRecord {
                name: format!("t{n}"),
                topic_id: t
            }
            .into()),
            (topic.clone(), 0i32..3, ids.clone()).prop_map(|(t, p, r)| PartitionRecord {
                partition_id: p,
                topic_id: t,
                replicas: r.clone(),
                isr: r,
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 1,
                leader_recovery_state: 0,
                leader_epoch: 0,
                partition_epoch: 0,
                directories: vec![],
                eligible_leader_replicas: None,
                last_known_elr: None,
            }
            .into()),
            (topic.clone(), 0i32..3, proptest::option::of(ids), -2i32..4).prop_map(
                |(t, p, isr, leader)| {
                    let mut c = PartitionChangeRecord::new(t, p);
                    c.isr = isr;
                    c.leader = leader;
                    c.into()
                }
            ),
            topic.prop_map(|t| RemoveTopicRecord { topic_id: t }.into()),
            (0u8..3, proptest::option::of("[a-z]{1,3}")).prop_map(|(n, v)| ConfigRecord {
                resource_type: config_resource::TOPIC,
                resource_name: format!("t{n}"),
                name: "k".into(),
                value: v,
            }
            .into()),
            (0i64..2000).prop_map(|n| ProducerIdsRecord {
                broker_id: 1,
                broker_epoch: 0,
                next_producer_id: n
            }
            .into()),
        ]
    }

    proptest! {
        /// Any sequence of records, fitting or not: no panic, and the snapshot rebuilds
        /// the same image with the same digest.
        #[test]
        fn snapshot_round_trip(records in proptest::collection::vec(arb_record(), 0..40)) {
            let img = MetadataImage::from_records(&records);
            let restored = MetadataImage::restore(&img.snapshot_records());
            prop_assert_eq!(&restored, &img);
            prop_assert_eq!(restored.digest(), img.digest());
            for (name, id) in &img.topic_ids {
                prop_assert_eq!(&img.topics[id].name, name);
            }
            prop_assert_eq!(img.topic_ids.len(), img.topics.len());
        }
    }
}
