//! ListPartitionReassignments (v0): the reassignments in progress, of every partition
//! (null topics) or of those asked.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partition_indexes
                    .into_iter()
                    .map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let resp = ListPartitionReassignmentsResponse::default().with_error_message(None);
    match ctl.read(|m| m.list_partition_reassignments()).await {
        Ok(ongoing) => {
            let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
            let brokers = |ids: Vec<i32>| ids.into_iter().map(BrokerId).collect::<Vec<_>>();
            for r in ongoing {
                if wanted
                    .as_ref()
                    .is_some_and(|w| !w.contains(&(r.topic.clone(), r.partition)))
                {
                    continue;
                }
                by_topic.entry(r.topic).or_default().push(
                    OngoingPartitionReassignment::default()
                        .with_partition_index(r.partition)
                        .with_replicas(brokers(r.replicas))
                        .with_adding_replicas(brokers(r.adding_replicas))
                        .with_removing_replicas(brokers(r.removing_replicas)),
                );
            }
            resp.with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, p)| {
                        OngoingTopicReassignment::default()
                            .with_name(TopicName(str_bytes(t)))
                            .with_partitions(p)
                    })
                    .collect(),
            )
        }
        Err(e) => resp
            .with_error_code(code(&e))
            .with_error_message(message(&e)),
    }
}
