//! ApiVersions (v0-v4): what Rafka implements, from the route table (its route line hands
//! the table over, so this file depends on nothing of the route). An unsupported version is
//! answered with UNSUPPORTED_VERSION and the list in a v0 body, so the client can pick a
//! version (KIP-511). The response header is always v0. The request's fields (client
//! software name and version) do not change the answer.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use crate::error::ErrorCode;
use crate::kafka::answer::RouteError;
use crate::kafka::codec::{encode_response, Frame};
use crate::kafka::context::RequestContext;

/// The response listing `apis`: (API, lowest advertised version, highest version).
pub fn response(error: ErrorCode, apis: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    let api_keys = apis
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error.into())
        .with_api_keys(api_keys)
}

/// The frame for a version Rafka does not know: a v0 body, whatever version was asked.
pub fn encode_v0(ctx: &RequestContext, body: ApiVersionsResponse) -> Result<Frame, RouteError> {
    encode_response(ApiKey::ApiVersions, 0, ctx.correlation_id, &body)
        .map(Frame::from)
        .map_err(|e| RouteError::Encode {
            api: ApiKey::ApiVersions,
            reason: e.to_string(),
        })
}
