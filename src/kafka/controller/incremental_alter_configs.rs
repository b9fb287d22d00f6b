//! IncrementalAlterConfigs (v0-v1): per resource (2 TOPIC, 4 BROKER; "" is the
//! cluster-wide broker default) the operations 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT, one
//! event (and one commit) per resource; `validate_only` checks without writing.

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::controller::machine::AlterConfigOp;
use crate::error::ErrorCode;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let validate_only = req.validate_only;
    let mut responses = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let answer = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let ops = match ops_of(&resource) {
            Ok(ops) => ops,
            Err(msg) => {
                responses.push(
                    answer
                        .with_error_code(ErrorCode::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(msg))),
                );
                continue;
            }
        };
        let (kind, name) = (resource.resource_type, resource.resource_name.to_string());
        let outcome = ctl
            .run(move |m, _| m.alter_configs(kind, &name, &ops, validate_only))
            .await;
        responses.push(match outcome {
            Ok(()) => answer,
            Err(e) => answer
                .with_error_code(code(&e))
                .with_error_message(message(&e)),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The resource's operations, or why they are not valid.
fn ops_of(resource: &AlterConfigsResource) -> Result<Vec<AlterConfigOp>, String> {
    resource
        .configs
        .iter()
        .map(|c| {
            let key = c.name.to_string();
            let value = || {
                c.value
                    .as_ref()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("null value not supported for: {key}"))
            };
            Ok(match c.config_operation {
                0 => AlterConfigOp::Set(key.clone(), value()?),
                1 => AlterConfigOp::Delete(key),
                2 => AlterConfigOp::Append(key.clone(), value()?),
                3 => AlterConfigOp::Subtract(key.clone(), value()?),
                other => return Err(format!("unknown config operation {other} for {key}")),
            })
        })
        .collect()
}
