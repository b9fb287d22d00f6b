//! CreateTopics (v2-v7): topics placed or assigned, with their config overrides;
//! `validate_only` checks and answers without writing. A created topic's answer carries
//! its id (v7), partition count and replication factor (v5+); its configs are not
//! returned (null, which v5+ allows).

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::controller::machine::CreatableTopic;

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let topics: Vec<CreatableTopic> = req
        .topics
        .iter()
        .map(|t| CreatableTopic {
            name: t.name.0.to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
        })
        .collect();
    let validate_only = req.validate_only;
    let answers = ctl
        .run(move |m, ctx| Ok(m.create_topics(&topics, validate_only, ctx.rng)))
        .await;
    let results = match answers {
        Ok(answers) => answers
            .into_iter()
            .map(|(name, result)| {
                let r = CreatableTopicResult::default().with_name(str_bytes(name).into());
                match result {
                    Ok(created) => {
                        let mut r = r.with_error_message(None);
                        if version >= 5 {
                            r = r
                                .with_num_partitions(created.num_partitions)
                                .with_replication_factor(created.replication_factor)
                                .with_configs(None);
                        }
                        if version >= 7 {
                            r = r.with_topic_id(created.topic_id);
                        }
                        r
                    }
                    Err(e) => r
                        .with_error_code(e.code().code())
                        .with_error_message(Some(str_bytes(e.to_string()))),
                }
            })
            .collect(),
        // nothing was decided (NOT_CONTROLLER, a failed commit): every topic gets the code
        Err(e) => req
            .topics
            .into_iter()
            .map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(code(&e))
                    .with_error_message(message(&e))
            })
            .collect(),
    };
    CreateTopicsResponse::default().with_topics(results)
}
