//! DescribeClientQuotas (v0-v1): Rafka has no client quotas (no AlterClientQuotas, no
//! throttling), so every valid filter matches no entity: an empty list, as Kafka answers
//! when none are set. `kafka-configs --describe --entity-type users` asks this before it
//! describes the users' SCRAM credentials, so it must be answered. The filter is checked as
//! Kafka's `ClientQuotasImage.describe` checks it, with its messages: an empty or repeated
//! entity type, a match string where the match type allows none (or none where it needs
//! one), an unknown match type, or an IP component beside a user or client id one is
//! INVALID_REQUEST; an entity type other than `user`, `client-id` and `ip` is
//! UNSUPPORTED_VERSION.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeClientQuotasRequest,
) -> Answer<DescribeClientQuotasResponse> {
    // Kafka: DESCRIBE_CONFIGS on the cluster
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes(authz::CLUSTER_DENIED)))
            .with_entries(None)
            .into();
    }
    match check(&req) {
        Ok(()) => DescribeClientQuotasResponse::default().with_entries(Some(Vec::new())),
        Err((code, message)) => DescribeClientQuotasResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(message)))
            .with_entries(None),
    }
    .into()
}

fn check(req: &DescribeClientQuotasRequest) -> Result<(), (ErrorCode, String)> {
    let invalid = |m: String| Err((ErrorCode::InvalidRequest, m));
    let mut seen = HashSet::new();
    for c in &req.components {
        let kind = c.entity_type.as_str();
        if kind.is_empty() {
            return invalid("Invalid empty entity type.".into());
        }
        if !seen.insert(kind) {
            return invalid(format!(
                "Entity type {kind} cannot appear more than once in the filter."
            ));
        }
        if !matches!(kind, "user" | "client-id" | "ip") {
            return Err((
                ErrorCode::UnsupportedVersion,
                format!("Unsupported entity type {kind}"),
            ));
        }
        match (c.match_type, c._match.is_some()) {
            (MATCH_EXACT, false) => {
                return invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                )
            }
            (MATCH_DEFAULT, true) => {
                return invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                        .into(),
                )
            }
            (MATCH_SPECIFIED, true) => {
                return invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .into(),
                )
            }
            (MATCH_EXACT | MATCH_DEFAULT | MATCH_SPECIFIED, _) => {}
            (other, _) => return invalid(format!("Unknown match type {other}")),
        }
    }
    if seen.contains("ip") && (seen.contains("user") || seen.contains("client-id")) {
        return invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component."
                .into(),
        );
    }
    Ok(())
}
