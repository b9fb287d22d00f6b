//! AlterPartition (v2-v3; topics by id): a leader's new ISRs, all in one event. A broker
//! that is not registered or sends a stale epoch is refused top level, as Kafka does;
//! everything else per partition. v3's ISR members come with broker epochs, whose check
//! is not done here, nor is the leader recovery state the leader reports taken (the
//! answer carries the committed one).

use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};

use super::code;
use crate::controller::driver::Controller;
use crate::controller::machine::{
    AlterPartitionReply, AlterPartitionRequest as Change, ControllerError, ControllerResult,
};

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: AlterPartitionRequest,
) -> AlterPartitionResponse {
    let (broker_id, broker_epoch) = (req.broker_id.0, req.broker_epoch);
    // (topic index, partition index, change)
    let changes: Vec<(usize, i32, Change)> = req
        .topics
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| {
            t.partitions.iter().map(move |p| {
                let new_isr = if version >= 3 {
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| b.broker_id.0)
                        .collect()
                } else {
                    p.new_isr.iter().map(|b| b.0).collect()
                };
                let change = Change {
                    broker_id,
                    broker_epoch,
                    topic_id: t.topic_id,
                    partition: p.partition_index,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    new_isr,
                };
                (ti, p.partition_index, change)
            })
        })
        .collect();
    let outcome = ctl
        .run(move |m, _| {
            let mut records = Vec::new();
            let mut answers = Vec::with_capacity(changes.len());
            for (ti, index, change) in &changes {
                match m.alter_partition(change) {
                    Ok(r) => {
                        records.extend(r.records);
                        answers.push((*ti, *index, Ok(r.response)));
                    }
                    Err(
                        e @ (ControllerError::StaleBrokerEpoch { .. }
                        | ControllerError::BrokerIdNotRegistered(_)),
                    ) => return Err(e),
                    Err(e) => answers.push((*ti, *index, Err(e))),
                }
            }
            Ok(ControllerResult {
                records,
                response: answers,
            })
        })
        .await;
    let answers: Vec<(usize, i32, Result<AlterPartitionReply, ControllerError>)> = match outcome {
        Ok(a) => a,
        Err(e) => return AlterPartitionResponse::default().with_error_code(code(&e)),
    };
    let mut topics: Vec<TopicData> = req
        .topics
        .iter()
        .map(|t| TopicData::default().with_topic_id(t.topic_id))
        .collect();
    for (ti, index, r) in answers {
        let p = PartitionData::default().with_partition_index(index);
        let p = match r {
            Ok(reply) => p
                .with_leader_recovery_state(recovery_state(ctl, &req, ti, index))
                .with_leader_id(BrokerId(reply.leader))
                .with_leader_epoch(reply.leader_epoch)
                .with_isr(reply.isr.into_iter().map(BrokerId).collect())
                .with_partition_epoch(reply.partition_epoch),
            Err(e) => p.with_error_code(e.code().code()),
        };
        if let Some(t) = topics.get_mut(ti) {
            t.partitions.push(p);
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}

/// The partition's leader recovery state as committed (the reply does not carry it).
fn recovery_state(ctl: &Controller, req: &AlterPartitionRequest, ti: usize, index: i32) -> i8 {
    let Some(topic_id) = req.topics.get(ti).map(|t| t.topic_id) else {
        return 0;
    };
    ctl.image().read(|i| {
        i.topic_by_id(&topic_id)
            .and_then(|t| t.partitions.get(&index))
            .map_or(0, |p| p.leader_recovery_state)
    })
}
