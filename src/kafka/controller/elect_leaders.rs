//! ElectLeaders (v0-v2): preferred (0) or unclean (1) elections; a null topic list means
//! every partition (and then, as in Kafka, partitions that need no election are left out).
//! Each partition is answered with Kafka's code (ELECTION_NOT_NEEDED,
//! PREFERRED_LEADER_NOT_AVAILABLE, ...); NOT_CONTROLLER goes top level (v1+; on v0, on
//! every partition asked).

use std::collections::BTreeMap;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::controller::machine::ElectionType;
use crate::error::ErrorCode;

/// One partition's answer: (topic, partition), error code, message.
type Answer = ((String, i32), i16, Option<String>);

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let asked: Option<Vec<(String, i32)>> = req.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let election = match (version, req.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        (_, other) => {
            let msg = format!("unknown election type {other}");
            let answers = asked
                .unwrap_or_default()
                .into_iter()
                .map(|tp| (tp, ErrorCode::InvalidRequest.code(), Some(msg.clone())))
                .collect();
            return respond(answers, 0);
        }
    };
    let on_error = asked.clone().unwrap_or_default();
    let all = asked.is_none();
    let outcome = ctl
        .run(move |m, _| {
            // null: every partition, as the image holds them
            let partitions = asked.unwrap_or_else(|| {
                m.image()
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(|&p| (t.name.clone(), p)))
                    .collect()
            });
            Ok(m.elect_leaders(election, &partitions))
        })
        .await;
    match outcome {
        Ok(results) => {
            let topics: std::collections::BTreeSet<String> =
                results.iter().map(|((t, _), _)| t.clone()).collect();
            let answers: Vec<Answer> = results
                .into_iter()
                .map(|(tp, r)| match r {
                    Ok(()) => (tp, 0, None),
                    Err(e) => (tp, e.code().code(), Some(e.to_string())),
                })
                // for every partition, Kafka leaves out those that need no election
                // (each topic is still listed)
                .filter(|(_, c, _)| !(all && *c == ErrorCode::ElectionNotNeeded.code()))
                .collect();
            let mut resp = respond(answers, 0);
            if all {
                for t in topics {
                    let listed = resp
                        .replica_election_results
                        .iter()
                        .any(|r| r.topic.0.as_str() == t.as_str());
                    if !listed {
                        resp.replica_election_results.push(
                            ReplicaElectionResult::default().with_topic(TopicName(str_bytes(t))),
                        );
                    }
                }
            }
            resp
        }
        Err(e) if version >= 1 => respond(Vec::new(), code(&e)),
        Err(e) => {
            let (c, m) = (code(&e), message(&e).map(|m| m.to_string()));
            respond(
                on_error.into_iter().map(|tp| (tp, c, m.clone())).collect(),
                0,
            )
        }
    }
}

/// The response: the answers grouped by topic, and the top-level code.
fn respond(answers: Vec<Answer>, error_code: i16) -> ElectLeadersResponse {
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), error, msg) in answers {
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(error)
                .with_error_message(msg.map(str_bytes)),
        );
    }
    ElectLeadersResponse::default()
        .with_error_code(error_code)
        .with_replica_election_results(
            by_topic
                .into_iter()
                .map(|(t, p)| {
                    ReplicaElectionResult::default()
                        .with_topic(TopicName(str_bytes(t)))
                        .with_partition_result(p)
                })
                .collect(),
        )
}
