//! TEMPORARY stand-in for `crate::broker::overview` (the lead's, merged later): the same
//! types, filled from the metadata only (no hosted log figures, no groups). Deleted at
//! the merge.

use crate::broker::Broker;

pub struct Overview {
    pub node_id: i32,
    pub cluster_id: String,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerRow>,
    pub topics: Vec<TopicRow>,
    pub groups: Vec<GroupRow>,
}
pub struct BrokerRow {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}
pub struct TopicRow {
    pub name: String,
    pub id: uuid::Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionRow>,
}
pub struct PartitionRow {
    pub partition: i32,
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub hosted: Option<HostedRow>,
}
pub struct HostedRow {
    pub log_start: i64,
    pub high_watermark: i64,
    pub log_end: i64,
    pub last_stable: i64,
    pub size_bytes: u64,
    pub segments: usize,
}
pub struct GroupRow {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberRow>,
    pub offsets: Vec<OffsetRow>,
}
pub struct MemberRow {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, i32)>,
}
pub struct OffsetRow {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub end: Option<i64>,
    pub lag: Option<i64>,
}

impl Overview {
    pub fn of(broker: &Broker) -> Overview {
        let md = broker.metadata();
        Overview {
            node_id: broker.node_id(),
            cluster_id: broker.cluster_id().to_string(),
            controller: (md.controller_id >= 0).then_some(md.controller_id),
            brokers: md
                .brokers
                .iter()
                .map(|b| {
                    let (host, port) = b
                        .endpoints
                        .first()
                        .map(|(_, h, p)| (h.clone(), i32::from(*p)))
                        .unwrap_or_default();
                    BrokerRow {
                        id: b.node_id,
                        host,
                        port,
                        rack: b.rack.clone(),
                    }
                })
                .collect(),
            topics: broker
                .topic_views()
                .into_iter()
                .map(|t| TopicRow {
                    internal: crate::topic::is_internal(&t.name),
                    name: t.name,
                    id: t.id,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionRow {
                            partition: p.index,
                            leader: (p.leader >= 0).then_some(p.leader),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas,
                            isr: p.isr,
                            hosted: None,
                        })
                        .collect(),
                })
                .collect(),
            groups: Vec::new(),
        }
    }
}
