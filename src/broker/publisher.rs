//! A cluster broker follows the metadata image (Kafka's `BrokerMetadataPublisher` and
//! `ReplicaManager.applyDelta`): the view its handlers answer from, the partitions it
//! hosts (a log for every partition it is a replica of, made when the image assigns it,
//! deleted when the topic or the assignment goes), each hosted partition's leader, epoch,
//! replicas and ISR, and topic config overrides.
//!
//! The image is the truth: a local log the image does not assign here is deleted. So the
//! first publish waits until the broker has caught up with the metadata log (its own
//! registration applied); before that the image may still be empty.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tracing::{info, warn};

use super::{topic_config, Broker, BrokerError, Topic};
use crate::log::TopicPartition;
use crate::metadata::image::MetadataImage;
use crate::partition::{Partition, ReplicaState};

impl Broker {
    /// Brings the metadata view and the hosted partitions in line with `image`.
    pub fn publish(&self, image: &MetadataImage) {
        let view = image.cluster_view(self.cluster_id());
        *self.metadata.write() = Arc::new(view);
        let me = self.config.node_id;
        // topics assigned here (any partition), by name
        let mut wanted: BTreeMap<&str, (&crate::metadata::image::TopicImage, BTreeSet<i32>)> =
            BTreeMap::new();
        for t in image.topics() {
            let here: BTreeSet<i32> = t
                .partitions
                .iter()
                .filter(|(_, p)| p.replicas.contains(&me))
                .map(|(&i, _)| i)
                .collect();
            if !here.is_empty() {
                wanted.insert(t.name.as_str(), (t, here));
            }
        }
        // hosted topics the image does not assign here (or under another id): deleted
        for t in self.topics() {
            let keep = wanted
                .get(t.name.as_str())
                .is_some_and(|(ti, _)| ti.id == t.id);
            if !keep {
                match self.delete_topic(&t.name) {
                    Ok(_) => info!(topic = %t.name, "topic no longer assigned here: deleted"),
                    Err(e) => warn!(topic = %t.name, cause = %e, "could not delete a topic"),
                }
            }
        }
        for (name, (ti, here)) in wanted {
            let mut overrides = image.topic_config(name).cloned().unwrap_or_default();
            // Kafka's keys Rafka does not have (Kafka writes compression.type=producer
            // for __consumer_offsets; metadata adopted from Kafka may hold any of them)
            // are not applied, and never keep a topic from being hosted; a key Kafka does
            // not know either still does
            overrides
                .retain(|k, _| !super::topic_config::UNSUPPORTED_KAFKA_KEYS.contains(&k.as_str()));
            if let Err(e) = self.host_assigned(ti, &here, overrides) {
                warn!(topic = name, cause = %e, "could not host the topic's partitions");
                continue;
            }
            if let Some(topic) = self.topic(name) {
                for p in &topic.partitions {
                    if let Some(pi) = ti.partitions.get(&p.index()) {
                        p.apply_replica_state(ReplicaState {
                            leader: pi.leader,
                            leader_epoch: pi.leader_epoch,
                            partition_epoch: pi.partition_epoch,
                            replicas: pi.replicas.clone(),
                            isr: pi.isr.clone(),
                        });
                    }
                }
            }
        }
    }

    /// Makes the hosted topic `ti` hold exactly the partitions `here` with `overrides`:
    /// new logs made (all or nothing), those no longer assigned deleted.
    fn host_assigned(
        &self,
        ti: &crate::metadata::image::TopicImage,
        here: &BTreeSet<i32>,
        overrides: BTreeMap<String, String>,
    ) -> Result<(), BrokerError> {
        let name = ti.name.as_str();
        let _claim = self.claim_name(name);
        // a hosted topic of the same name under another id is not this topic (the
        // delete pass above removes it; a creation that raced in is replaced here)
        let stale = self.topic(name).filter(|t| t.id != ti.id);
        if let Some(t) = stale {
            let tps: Vec<TopicPartition> = t
                .partitions
                .iter()
                .map(|p| p.topic_partition().clone())
                .collect();
            self.topics.write().shift_remove(name);
            self.logs.delete_logs(&tps)?;
            warn!(
                topic = name,
                "a hosted topic with another id replaced by the metadata's"
            );
        }
        let current = self.topic(name);
        let hosted: BTreeSet<i32> = current
            .as_ref()
            .map(|t| t.partitions.iter().map(|p| p.index()).collect())
            .unwrap_or_default();
        let same_overrides = current.as_ref().is_some_and(|t| t.overrides == overrides);
        if hosted == *here && same_overrides {
            return Ok(());
        }
        let mut log_config = topic_config::log_config(&self.config.log, &overrides)?;
        if name == crate::topic::OFFSETS_TOPIC && !overrides.contains_key("cleanup.policy") {
            // created by a Rafka that compacted it by rewriting (its metadata says nothing
            // of cleanup.policy): compacted as Kafka's, which no longer needs the rewrite
            log_config.cleanup_policy = crate::log::CleanupPolicy::COMPACT;
        }
        let store = topic_config::Store::new(&self.config.data_dir);
        if !same_overrides {
            store.save(name, ti.id, &overrides)?;
        }
        let missing: Vec<TopicPartition> = here
            .difference(&hosted)
            .map(|&i| TopicPartition::new(name, i))
            .collect();
        let gone: Vec<TopicPartition> = hosted
            .difference(here)
            .map(|&i| TopicPartition::new(name, i))
            .collect();
        // a log of this topic id already open but not served (a restart kept it aside, as
        // another dir of the same name came first) is taken as it is; others are made new
        let (kept, missing): (Vec<TopicPartition>, Vec<TopicPartition>) =
            missing.into_iter().partition(|tp| {
                self.logs
                    .get(tp)
                    .is_some_and(|l| l.topic_id() == Some(ti.id))
            });
        let mut new_logs: Vec<_> = kept.iter().filter_map(|tp| self.logs.get(tp)).collect();
        if !missing.is_empty() {
            new_logs.extend(self.fresh_logs(&missing, ti.id, log_config)?);
        }
        if !gone.is_empty() {
            self.logs.delete_logs(&gone)?;
        }
        let mut partitions: Vec<Arc<Partition>> = current
            .as_ref()
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| here.contains(&p.index()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let hosting_more = !new_logs.is_empty();
        partitions.extend(new_logs.into_iter().map(|log| self.host(log)));
        partitions.sort_by_key(|p| p.index());
        for p in &partitions {
            p.set_config(log_config);
        }
        if hosting_more {
            info!(topic = name, partitions = ?here, "hosting partitions");
        }
        self.topics.write().insert(
            name.to_string(),
            Arc::new(Topic {
                name: name.to_string(),
                id: ti.id,
                partitions,
                overrides,
            }),
        );
        Ok(())
    }
}
