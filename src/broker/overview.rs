//! What this broker knows of the cluster, in one read, for people: the status page and
//! `/metrics` (group lag, log sizes) read it. Brokers and partitions as the metadata
//! says, the log figures of the partitions hosted here, and the groups this broker
//! coordinates with their members, committed offsets and lag.
//!
//! Lag is the high watermark less the committed offset, known for the partitions hosted
//! here (in a cluster, a group's offsets may name partitions led elsewhere: their lag is
//! `None`, as `kafka-consumer-groups` prints `-` for an offset it cannot read).

use super::Broker;
use crate::group::consumer_protocol::decode_assignment;
use crate::topic;

/// The cluster from this broker, read now.
#[derive(Clone, Debug)]
pub struct Overview {
    pub node_id: i32,
    pub cluster_id: String,
    /// The active controller (on a single node, this node).
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerRow>,
    /// Every topic the metadata has, by name, internal ones included.
    pub topics: Vec<TopicRow>,
    /// The groups this broker coordinates, by id.
    pub groups: Vec<GroupRow>,
}

#[derive(Clone, Debug)]
pub struct BrokerRow {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TopicRow {
    pub name: String,
    pub id: uuid::Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionRow>,
}

#[derive(Clone, Debug)]
pub struct PartitionRow {
    pub partition: i32,
    /// `None`: no leader (offline).
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The log figures, when this broker hosts a replica.
    pub hosted: Option<HostedRow>,
}

/// A hosted replica's log.
#[derive(Clone, Copy, Debug)]
pub struct HostedRow {
    pub log_start: i64,
    pub high_watermark: i64,
    pub log_end: i64,
    pub last_stable: i64,
    pub size_bytes: u64,
    pub segments: usize,
}

#[derive(Clone, Debug)]
pub struct GroupRow {
    pub group_id: String,
    /// Kafka's name of the state (`Stable`, `Empty`, ...).
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberRow>,
    /// Committed offsets, by topic and partition.
    pub offsets: Vec<OffsetRow>,
}

#[derive(Clone, Debug)]
pub struct MemberRow {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// The partitions of a `consumer` group member's assignment, by topic (empty for
    /// other protocol types, or an assignment that does not decode).
    pub assignment: Vec<(String, Vec<i32>)>,
}

#[derive(Clone, Debug)]
pub struct OffsetRow {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// The partition's high watermark, if hosted here.
    pub end: Option<i64>,
    /// `end - committed` (never below 0), if `end` is known.
    pub lag: Option<i64>,
}

impl Overview {
    /// Reads the broker's view now: locks are taken one at a time, so the parts may be
    /// a moment apart. No I/O beyond what the logs hold in memory.
    pub fn of(broker: &Broker) -> Overview {
        let view = broker.metadata();
        let brokers = view
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
            .collect();
        let mut topics: Vec<TopicRow> = broker
            .topic_views()
            .into_iter()
            .map(|t| {
                let hosted = broker.topic(&t.name);
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| PartitionRow {
                        partition: p.index,
                        leader: (p.leader >= 0).then_some(p.leader),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        hosted: hosted.as_ref().and_then(|h| h.partition(p.index)).map(|p| {
                            HostedRow {
                                log_start: p.log_start_offset(),
                                high_watermark: p.high_watermark(),
                                log_end: p.log_end_offset(),
                                last_stable: p.last_stable_offset(),
                                size_bytes: p.size_in_bytes(),
                                segments: p.segment_base_offsets().len(),
                            }
                        }),
                    })
                    .collect();
                TopicRow {
                    internal: topic::is_internal(&t.name),
                    name: t.name,
                    id: t.id,
                    partitions,
                }
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Overview {
            node_id: broker.node_id(),
            cluster_id: view.cluster_id.clone(),
            controller: (view.controller_id >= 0).then_some(view.controller_id),
            brokers,
            groups: groups(broker),
            topics,
        }
    }
}

/// The groups this broker coordinates, with their members and committed offsets.
fn groups(broker: &Broker) -> Vec<GroupRow> {
    let Some(coordinator) = broker.groups_if_started() else {
        return Vec::new();
    };
    coordinator
        .list()
        .into_iter()
        // ListGroups' summaries carry no members: DescribeGroups' do
        .map(|g| match coordinator.describe(&g.group_id) {
            Ok(Some(described)) => described,
            _ => g,
        })
        .map(|g| {
            let consumer = g.protocol_type == "consumer";
            let members = g
                .members
                .iter()
                .map(|m| MemberRow {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    host: m.client_host.clone(),
                    assignment: if consumer {
                        decode_assignment(&m.assignment).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            let offsets = coordinator
                .fetch(&g.group_id, None)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(topic, partitions)| {
                    let hosted = broker.topic(&topic);
                    partitions
                        .into_iter()
                        .filter_map(move |(partition, value)| {
                            let committed = value?.offset;
                            let end = hosted
                                .as_ref()
                                .and_then(|t| t.partition(partition))
                                .map(|p| p.high_watermark());
                            Some(OffsetRow {
                                topic: topic.clone(),
                                partition,
                                committed,
                                end,
                                lag: end.map(|e| e.saturating_sub(committed).max(0)),
                            })
                        })
                })
                .collect();
            GroupRow {
                group_id: g.group_id,
                state: g.state.name().to_string(),
                protocol_type: g.protocol_type,
                protocol: g.protocol,
                members,
                offsets,
            }
        })
        .collect()
}
