//! What a broker in a KRaft cluster holds besides its logs: the metadata image it answers
//! from (kept in step with the quorum) and the channel admin requests are forwarded on to
//! the active controller. A single node has none of this.

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, ApiKey, BrokerId, CreateTopicsRequest,
    CreateTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::error::ErrorCode;
use crate::metadata::image::MetadataImage;

/// How long a broker waits for its own image to show what the controller committed for a
/// forwarded request (a topic created, deleted, grown) before answering anyway.
pub const METADATA_PROPAGATION_WAIT: Duration = Duration::from_secs(5);

/// A broker's link to its cluster.
#[derive(Debug)]
pub struct ClusterLink {
    /// The committed metadata as this node has applied it.
    pub image: SharedImage,
    /// Admin requests (CreateTopics, DeleteTopics, ...) forwarded to the active controller.
    pub forward: ControllerClient,
    /// The cluster's id, the same on every node (`None`: the log dir's, for a node that is
    /// a quorum of its own).
    pub cluster_id: Option<String>,
    /// This broker's epoch, once registered (-1 before).
    pub broker_epoch: std::sync::atomic::AtomicI64,
}

impl ClusterLink {
    /// Waits (at most [`METADATA_PROPAGATION_WAIT`]) until the local image satisfies
    /// `cond`: a forwarded change is answered once this broker serves it too.
    pub async fn wait_for(&self, cond: impl Fn(&MetadataImage) -> bool) -> bool {
        self.image.wait_for(cond, METADATA_PROPAGATION_WAIT).await
    }

    /// Kafka's auto-creation in a cluster: the broker asks the controller to create the
    /// topics with the defaults (`num.partitions`, `default.replication.factor`), and
    /// waits until its image has those that were created. Failures are left to the
    /// caller's lookup (the topic is then still unknown).
    pub async fn auto_create(&self, names: &[String]) {
        let topics = names
            .iter()
            .map(|n| {
                CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(n.clone())))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            })
            .collect();
        let _ = self.create(topics).await;
    }

    /// A block of producer ids from the controller (AllocateProducerIds): (first, count),
    /// or the error code to answer.
    pub async fn allocate_producer_ids(&self, broker_id: i32) -> Result<(i64, i64), ErrorCode> {
        let epoch = self.broker_epoch.load(std::sync::atomic::Ordering::Acquire);
        if epoch < 0 {
            return Err(ErrorCode::CoordinatorLoadInProgress);
        }
        let req = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(broker_id))
            .with_broker_epoch(epoch);
        let resp = self
            .forward
            .call(
                ApiKey::AllocateProducerIds,
                0,
                &req,
                AUTO_CREATE_TIMEOUT,
                |r: &AllocateProducerIdsResponse| r.error_code == ErrorCode::NotController.code(),
            )
            .await
            .map_err(|e| e.code())?;
        if resp.error_code != 0 {
            return Err(ErrorCode::from_code(resp.error_code));
        }
        Ok((resp.producer_id_start.0, i64::from(resp.producer_id_len)))
    }

    /// Creates one topic through the controller with the default replication factor and
    /// waits until this broker's image has it: `Err((code, message))` if refused.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
    ) -> Result<(), (ErrorCode, String)> {
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(-1);
        let results = self.create(vec![topic]).await?;
        match results.into_iter().next() {
            Some((_, ErrorCode::None, _)) => Ok(()),
            Some((_, code, message)) => Err((code, message)),
            None => Err((
                ErrorCode::UnknownServerError,
                "no answer for the topic".into(),
            )),
        }
    }

    /// Creates `__consumer_offsets` through the controller if the image lacks it: its
    /// partitions, replication factor and the configs the group coordinator gives it. A
    /// group's coordinator is the leader of its partition, wherever that is.
    pub async fn ensure_internal_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, String)],
    ) {
        if self.image.read(|i| i.topic(name).is_some()) {
            return;
        }
        // Kafka's offsets.topic.replication.factor, capped at the registered brokers (a
        // smaller cluster gets one replica per broker); with some of them fenced the
        // creation fails and the next lookup tries again, as Kafka refuses it
        let registered = self.image.read(|i| i.brokers.len());
        let rf = replication_factor.min(i16::try_from(registered.max(1)).unwrap_or(i16::MAX));
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.to_string()))
                    .with_value(Some(StrBytes::from_string(v.clone())))
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(configs);
        let _ = self.create(vec![topic]).await;
    }

    /// CreateTopics through the controller; each topic's (name, code, message), after
    /// waiting until the image has those created (or existing).
    async fn create(
        &self,
        topics: Vec<CreatableTopic>,
    ) -> Result<Vec<(String, ErrorCode, String)>, (ErrorCode, String)> {
        let req = CreateTopicsRequest::default()
            .with_topics(topics)
            .with_timeout_ms(AUTO_CREATE_TIMEOUT.as_millis() as i32);
        let answer = self
            .forward
            .call(
                ApiKey::CreateTopics,
                AUTO_CREATE_VERSION,
                &req,
                AUTO_CREATE_TIMEOUT,
                |r: &CreateTopicsResponse| {
                    r.topics
                        .iter()
                        .any(|t| t.error_code == ErrorCode::NotController.code())
                },
            )
            .await;
        let resp = match answer {
            Ok(resp) => resp,
            Err(e) => {
                debug!(cause = %e, "topic creation not answered");
                return Err((e.code(), e.to_string()));
            }
        };
        let results: Vec<(String, ErrorCode, String)> = resp
            .topics
            .iter()
            .map(|t| {
                let message = t
                    .error_message
                    .as_ref()
                    .map_or(String::new(), |m| m.to_string());
                (
                    t.name.0.to_string(),
                    ErrorCode::from_code(t.error_code),
                    message,
                )
            })
            .collect();
        let present: Vec<&str> = results
            .iter()
            .filter(|(_, c, _)| matches!(c, ErrorCode::None | ErrorCode::TopicAlreadyExists))
            .map(|(n, ..)| n.as_str())
            .collect();
        self.wait_for(|img| present.iter().all(|n| img.topic(n).is_some()))
            .await;
        Ok(results)
    }
}

/// The CreateTopics version auto-creation sends (any the controller serves).
const AUTO_CREATE_VERSION: i16 = 7;
const AUTO_CREATE_TIMEOUT: Duration = Duration::from_secs(5);
