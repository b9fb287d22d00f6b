//! DescribeProducers (v0, KIP-664): the active producers of each requested partition this
//! broker leads, as its log's producer state has them: id, epoch, last sequence, last
//! timestamp, coordinator epoch and the open transaction's first offset (-1 when none).
//! `kafka-transactions.sh describe-producers` and `abort` read it. A partition this broker
//! does not host is UNKNOWN_TOPIC_OR_PARTITION; one it does not lead
//! NOT_LEADER_OR_FOLLOWER (Kafka's `ReplicaManager.activeProducerState`). As in Kafka, an
//! invalid topic name is INVALID_TOPIC_EXCEPTION, then a topic needs READ on it
//! (TOPIC_AUTHORIZATION_FAILED), and only then is its existence looked at.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::str_bytes;
use crate::broker::{validate_topic_name, Broker};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeProducersRequest,
) -> Answer<DescribeProducersResponse> {
    respond(ctx, broker, req).into()
}

fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let refused = match validate_topic_name(&t.name) {
                Err(e) => Some((e.code(), e.to_string())),
                Ok(())
                    if !authz::allowed(
                        ctx,
                        broker,
                        AclOperation::Read,
                        ResourceType::Topic,
                        &t.name,
                    ) =>
                {
                    let code = ErrorCode::TopicAuthorizationFailed;
                    Some((code, authz::TOPIC_DENIED.to_string()))
                }
                Ok(()) => None,
            };
            let topic = broker.topic(&t.name.0);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let resp = PartitionResponse::default().with_partition_index(index);
                    if let Some((code, message)) = &refused {
                        return resp
                            .with_error_code(code.code())
                            .with_error_message(Some(str_bytes(message.clone())));
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(index)) else {
                        return resp.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
                    };
                    match partition.producer_states() {
                        Ok(states) => {
                            let mut producers: Vec<ProducerState> = states
                                .iter()
                                .map(|(&id, e)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(id))
                                        .with_producer_epoch(i32::from(e.epoch))
                                        .with_last_sequence(e.last_sequence())
                                        .with_last_timestamp(e.last_timestamp())
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(
                                            e.current_txn_first_offset.unwrap_or(-1),
                                        )
                                })
                                .collect();
                            producers.sort_by_key(|p| p.producer_id.0);
                            resp.with_error_code(ErrorCode::None.code())
                                .with_active_producers(producers)
                        }
                        Err(e) => resp
                            .with_error_code(e.code().into())
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
