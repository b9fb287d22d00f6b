//! The metadata view every broker answers from: the brokers with their endpoints, the
//! controller, and each partition's leader, leader epoch, replicas and ISR. Metadata,
//! DescribeCluster, DescribeTopicPartitions, FindCoordinator and CreateTopics ask it; none
//! of them assumes that this broker is alone.
//!
//! Today a single node fills it: itself as the only broker and the controller, and each
//! hosted [`Partition`]'s replica state (this broker leads alone). The controller quorum
//! will fill the same view from `__cluster_metadata` records (Kafka's `MetadataImage`).

use crate::partition::Partition;

/// One broker as clients reach it (its advertised endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
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

/// The cluster as this broker knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataView {
    pub cluster_id: String,
    pub controller_id: i32,
    /// The live brokers, by node id.
    pub brokers: Vec<BrokerEndpoint>,
}

impl MetadataView {
    /// A one-broker cluster: this node, reached at `advertised`, is also the controller.
    pub fn single_node(cluster_id: &str, node_id: i32, advertised: (String, u16)) -> Self {
        MetadataView {
            cluster_id: cluster_id.to_string(),
            controller_id: node_id,
            brokers: vec![BrokerEndpoint {
                node_id,
                host: advertised.0,
                port: advertised.1,
                rack: None,
            }],
        }
    }

    /// A live broker's endpoint.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerEndpoint> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// The endpoint of a partition's leader, if it is alive.
    pub fn leader_of(&self, p: &Partition) -> Option<&BrokerEndpoint> {
        self.broker(p.replica_state().leader)
    }
}
