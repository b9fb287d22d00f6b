//! CreateTopics (v2-v7): partitions (-1: `num.partitions`), replication factor 1 only
//! (else INVALID_REPLICATION_FACTOR), topic configs (unknown keys: INVALID_CONFIG),
//! `validate_only`. v5+ responses echo the partitions, replication factor and configs.

use std::sync::Arc;

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::broker::{topic_config, Broker};
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

/// DescribeConfigs' config sources, as CreateTopics v5+ reports them.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: CreateTopicsRequest,
) -> Answer<CreateTopicsResponse> {
    respond(broker, req, ctx.api_version).into()
}

fn respond(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let view = broker.metadata();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let mut partitions = t.num_partitions;
            if !t.assignments.is_empty() {
                let unknown = t
                    .assignments
                    .iter()
                    .flat_map(|a| &a.broker_ids)
                    .find(|b| !view.has_broker(b.0));
                if let Some(b) = unknown {
                    return result
                        .with_error_code(ErrorCode::InvalidReplicaAssignment.code())
                        .with_error_message(Some(str_bytes(format!(
                            "broker {} is not registered",
                            b.0
                        ))));
                }
                partitions = t.assignments.len() as i32;
            }
            let overrides: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            match broker.create_topic(
                &name,
                partitions,
                t.replication_factor,
                overrides.clone(),
                req.validate_only,
            ) {
                Ok(topic) => {
                    let effective = topic_config::log_config(&broker.config().log, &overrides)
                        .unwrap_or(broker.config().log);
                    let configs = topic_config::KEYS
                        .iter()
                        .map(|k| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(*k))
                                .with_value(topic_config::value_of(&effective, k).map(str_bytes))
                                .with_config_source(if overrides.contains_key(*k) {
                                    SOURCE_TOPIC
                                } else {
                                    SOURCE_DEFAULT
                                })
                        })
                        .collect();
                    let partitions = if partitions == -1 {
                        broker.config().num_partitions
                    } else {
                        partitions
                    };
                    let mut result = result.with_error_code(ErrorCode::None.code());
                    if version >= 5 {
                        result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(configs));
                    }
                    if version >= 7 {
                        result = result.with_topic_id(topic.id);
                    }
                    result
                }
                Err(e) => result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}
