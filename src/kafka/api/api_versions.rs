//! ApiVersions (v0-v4): what Rafka implements, derived from the dispatch table. An
//! unsupported version is answered with UNSUPPORTED_VERSION and the list in a v0 body, so
//! the client can pick a version (KIP-511). The response header is always v0.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use super::code;
use crate::kafka::codec::{encode_response, Request};
use crate::kafka::dispatch::{version_range, DispatchError, SUPPORTED_APIS};

pub fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|&(key, advertised_min, _, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(advertised_min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

/// Answers without decoding the body: its fields (client software name and version) do
/// not change the answer, and an unknown version's body cannot be decoded anyway.
pub fn handle(req: Request) -> Result<Option<Bytes>, DispatchError> {
    let (min, max) = version_range(ApiKey::ApiVersions).unwrap_or((0, 0));
    let (version, body) = if (min..=max).contains(&req.api_version) {
        (req.api_version, response(code::NONE))
    } else {
        (0, response(code::UNSUPPORTED_VERSION))
    };
    encode_response(ApiKey::ApiVersions, version, req.correlation_id, &body)
        .map(Some)
        .map_err(|e| DispatchError::Encode {
            api: ApiKey::ApiVersions,
            reason: e.to_string(),
        })
}
