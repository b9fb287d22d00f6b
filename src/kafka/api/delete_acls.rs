//! DeleteAcls (v1-v3): Rafka has no authorizer yet (issue #18 adds one), so every filter
//! fails as on an Apache Kafka 4.x broker without an authorizer (`AclApis.handleDeleteAcls`,
//! `DeleteAclsRequest.getErrorResponse`): one result per filter, in request order, each
//! SECURITY_DISABLED (54) with the message "No Authorizer is configured." and no matching
//! ACLs.

use std::sync::Arc;

use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::create_acls::NO_AUTHORIZER;
use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    req: DeleteAclsRequest,
) -> Answer<DeleteAclsResponse> {
    let results = req
        .filters
        .iter()
        .map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(ErrorCode::SecurityDisabled.code())
                .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        })
        .collect();
    DeleteAclsResponse::default()
        .with_filter_results(results)
        .into()
}
