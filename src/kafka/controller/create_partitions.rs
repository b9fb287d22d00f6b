//! CreatePartitions (v0-v3): grows topics, placed or with explicit assignments;
//! `validate_only` checks without writing. One event per topic, each committed before
//! the next (a topic named twice is refused, as Kafka does).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::error::ErrorCode;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut seen = BTreeMap::<String, usize>::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let validate_only = req.validate_only;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if seen.get(&name).copied().unwrap_or(0) > 1 {
            results.push(
                result
                    .with_error_code(ErrorCode::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "duplicate topic name '{name}' in the request"
                    )))),
            );
            continue;
        }
        let assignments: Option<Vec<Vec<i32>>> = t.assignments.map(|a| {
            a.into_iter()
                .map(|p| p.broker_ids.into_iter().map(|b| b.0).collect())
                .collect()
        });
        let count = t.count;
        let outcome = ctl
            .run(move |m, ctx| {
                m.create_partitions(&name, count, assignments.as_deref(), validate_only, ctx.rng)
            })
            .await;
        results.push(match outcome {
            Ok(()) => result.with_error_message(None),
            Err(e) => result
                .with_error_code(code(&e))
                .with_error_message(message(&e)),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
