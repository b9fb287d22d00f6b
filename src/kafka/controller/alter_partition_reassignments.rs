//! AlterPartitionReassignments (v0-v1): per partition a target replica list, or null to
//! cancel (KIP-455). v1's `allow_replication_factor_change` is echoed; a change of the
//! replication factor is allowed either way (the machine does not check it).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, TopicName,
};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::controller::machine::Reassignment;

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let reassignments: Vec<Reassignment> = req
        .topics
        .iter()
        .flat_map(|t| {
            let name = t.name.0.to_string();
            t.partitions.iter().map(move |p| {
                (
                    (name.clone(), p.partition_index),
                    p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
                )
            })
        })
        .collect();
    let mut resp = AlterPartitionReassignmentsResponse::default().with_error_message(None);
    if version >= 1 {
        resp = resp.with_allow_replication_factor_change(req.allow_replication_factor_change);
    }
    let outcome = ctl
        .run(move |m, _| Ok(m.alter_partition_reassignments(&reassignments)))
        .await;
    match outcome {
        Ok(results) => {
            let mut by_topic: BTreeMap<String, Vec<ReassignablePartitionResponse>> =
                BTreeMap::new();
            for ((topic, partition), r) in results {
                let p = ReassignablePartitionResponse::default().with_partition_index(partition);
                by_topic.entry(topic).or_default().push(match r {
                    Ok(()) => p.with_error_message(None),
                    Err(e) => p
                        .with_error_code(e.code().code())
                        .with_error_message(Some(str_bytes(e.to_string()))),
                });
            }
            resp.with_responses(
                by_topic
                    .into_iter()
                    .map(|(t, p)| {
                        ReassignableTopicResponse::default()
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
