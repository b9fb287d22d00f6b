//! The metadata view every broker answers from: the brokers with their endpoints, the
//! controller, and each partition's leader, leader epoch, replicas and ISR. Metadata,
//! DescribeCluster, DescribeTopicPartitions, FindCoordinator and CreateTopics ask it; none
//! of them assumes that this broker is alone.
//!
//! Today a single node fills it: itself as the only broker and the controller, and each
//! hosted [`Partition`]'s replica state (this broker leads alone). The controller quorum
//! will fill the same view from `__cluster_metadata` records (Kafka's `MetadataImage`).

pub mod acls;
pub mod image;
pub mod metadata_log;
pub mod records;
pub mod sample;
pub mod scram;

use crate::config::ListenerConfig;
use crate::partition::Partition;

/// One broker as clients reach it on one listener (its advertised endpoint there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// One broker: its advertised endpoint on each of its listeners (Kafka's
/// `BrokerRegistration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub node_id: i32,
    pub rack: Option<String>,
    /// (listener name, host, port)
    pub endpoints: Vec<(String, String, u16)>,
}

impl BrokerRegistration {
    /// The endpoint on `listener`, if the broker has that listener.
    pub fn endpoint(&self, listener: &str) -> Option<BrokerEndpoint> {
        self.endpoints
            .iter()
            .find(|(name, ..)| name == listener)
            .map(|(_, host, port)| BrokerEndpoint {
                node_id: self.node_id,
                host: host.clone(),
                port: *port,
                rack: self.rack.clone(),
            })
    }
}

/// One partition's leadership and replicas, as the metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on brokers that are down.
    pub offline_replicas: Vec<i32>,
}

impl PartitionView {
    pub fn of(p: &Partition) -> PartitionView {
        let st = p.replica_state();
        PartitionView {
            index: p.index(),
            leader: st.leader,
            leader_epoch: st.leader_epoch,
            replicas: st.replicas,
            isr: st.isr,
            offline_replicas: Vec::new(),
        }
    }
}

/// One topic as the metadata says: every partition, hosted here or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicView {
    pub name: String,
    pub id: uuid::Uuid,
    /// By partition index, 0..n.
    pub partitions: Vec<PartitionView>,
}

impl TopicView {
    /// A hosted topic of a single node (it leads every partition).
    pub fn of(t: &crate::broker::Topic) -> TopicView {
        TopicView {
            name: t.name.clone(),
            id: t.id,
            partitions: t.partitions.iter().map(|p| PartitionView::of(p)).collect(),
        }
    }
}

/// The cluster as this broker knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataView {
    pub cluster_id: String,
    pub controller_id: i32,
    /// The live brokers, by node id.
    pub brokers: Vec<BrokerRegistration>,
    /// In a cluster, every topic of the metadata image by name; `None` on a single node,
    /// whose hosted topics are all there is.
    pub topics: Option<std::sync::Arc<indexmap::IndexMap<String, TopicView>>>,
}

impl MetadataView {
    /// A one-broker cluster: this node, with its listeners' advertised endpoints, is also
    /// the controller.
    pub fn single_node(cluster_id: &str, node_id: i32, listeners: &[ListenerConfig]) -> Self {
        MetadataView {
            cluster_id: cluster_id.to_string(),
            controller_id: node_id,
            brokers: vec![BrokerRegistration {
                node_id,
                rack: None,
                endpoints: listeners
                    .iter()
                    .map(|l| (l.name.clone(), l.advertised.0.clone(), l.advertised.1))
                    .collect(),
            }],
            topics: None,
        }
    }

    /// Every live broker reachable on `listener`, as Metadata lists them for a request
    /// that came in on it (Kafka leaves out brokers without that listener).
    pub fn endpoints(&self, listener: &str) -> Vec<BrokerEndpoint> {
        self.brokers
            .iter()
            .filter_map(|b| b.endpoint(listener))
            .collect()
    }

    /// True if `node_id` is a registered, live broker.
    pub fn has_broker(&self, node_id: i32) -> bool {
        self.brokers.iter().any(|b| b.node_id == node_id)
    }

    /// A live broker's endpoint on `listener`.
    pub fn endpoint(&self, node_id: i32, listener: &str) -> Option<BrokerEndpoint> {
        self.brokers
            .iter()
            .find(|b| b.node_id == node_id)
            .and_then(|b| b.endpoint(listener))
    }

    /// The endpoint on `listener` of a partition's leader, if it is alive.
    pub fn leader_of(&self, p: &Partition, listener: &str) -> Option<BrokerEndpoint> {
        self.endpoint(p.replica_state().leader, listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecurityProtocol;

    #[test]
    fn each_listener_has_its_own_endpoints() {
        let mut internal = ListenerConfig::new(
            "INTERNAL",
            SecurityProtocol::Plaintext,
            std::net::SocketAddr::from(([127, 0, 0, 2], 9095)),
        );
        internal.advertised = ("kafka.internal".into(), 19095);
        let plain = ListenerConfig::new(
            "PLAINTEXT",
            SecurityProtocol::Plaintext,
            std::net::SocketAddr::from(([127, 0, 0, 1], 9092)),
        );
        let view = MetadataView::single_node("c", 3, &[plain, internal]);
        let e = view.endpoint(3, "INTERNAL").expect("internal");
        assert_eq!((e.host.as_str(), e.port), ("kafka.internal", 19095));
        assert_eq!(view.endpoints("PLAINTEXT")[0].port, 9092);
        assert!(view.endpoints("SSL").is_empty());
        assert!(view.endpoint(4, "PLAINTEXT").is_none());
    }
}
