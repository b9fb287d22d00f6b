//! ApiVersions (v0-v4): what Rafka implements, derived from the route table. An
//! unsupported version is answered with UNSUPPORTED_VERSION and the list in a v0 body, so
//! the client can pick a version (KIP-511). The response header is always v0.

use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::code;
use crate::broker::Broker;
use crate::kafka::codec::{encode_response, Frame};
use crate::kafka::context::RequestContext;
use crate::kafka::route::{Answer, RouteError, ROUTES};

pub fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = ROUTES
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.api as i16)
                .with_min_version(r.advertised_min)
                .with_max_version(r.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

/// The request's fields (client software name and version) do not change the answer.
pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    _req: ApiVersionsRequest,
) -> Answer<ApiVersionsResponse> {
    response(code::NONE).into()
}

/// The answer to a version Rafka does not know: its body cannot be decoded, and the
/// answer is a v0 body that lists what is supported.
pub fn unsupported_version(ctx: &RequestContext) -> Result<Frame, RouteError> {
    encode_response(
        ApiKey::ApiVersions,
        0,
        ctx.correlation_id,
        &response(code::UNSUPPORTED_VERSION),
    )
    .map(Frame::from)
    .map_err(|e| RouteError::Encode {
        api: ApiKey::ApiVersions,
        reason: e.to_string(),
    })
}
