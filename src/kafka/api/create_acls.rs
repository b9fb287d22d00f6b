//! CreateAcls (v1-v3): Rafka has no authorizer yet (issue #18 adds one), so every creation
//! fails as on an Apache Kafka 4.x broker without an authorizer (`AclApis.handleCreateAcls`,
//! `CreateAclsRequest.getErrorResponse`): one result per creation, in request order, each
//! SECURITY_DISABLED (54) with the message "No Authorizer is configured.". Nothing is stored.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

/// Kafka's `SecurityDisabledException` message for CreateAcls and DeleteAcls.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    req: CreateAclsRequest,
) -> Answer<CreateAclsResponse> {
    let results = req
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(ErrorCode::SecurityDisabled.code())
                .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        })
        .collect();
    CreateAclsResponse::default().with_results(results).into()
}
