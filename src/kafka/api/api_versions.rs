//! ApiVersions (v0-v4): what Rafka implements, from the route table (its route line hands
//! the table over, so this file depends on nothing of the route). An unsupported version is
//! answered with UNSUPPORTED_VERSION and the list in a v0 body, so the client can pick a
//! version (KIP-511). The response header is always v0. The request's fields (client
//! software name and version) do not change the answer.
//!
//! v3+ also carries the features (KIP-584): `transaction.version` is supported from 0 to 2
//! and finalized at the broker's `transaction.version` (2 by default, as a new Kafka 4
//! cluster); a client that sees 2 runs transactions as KIP-890's version 2 (EndTxn v5,
//! no AddPartitionsToTxn of its own).

use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

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

/// The name of KIP-890's feature.
const TRANSACTION_VERSION: &str = "transaction.version";

/// `resp` with the features: `transaction.version` supported 0-2, finalized at `level`
/// (left out at 0, as Kafka leaves out a feature at level 0).
pub fn with_features(resp: ApiVersionsResponse, transaction_version: i16) -> ApiVersionsResponse {
    let supported = vec![SupportedFeatureKey::default()
        .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
        .with_min_version(0)
        .with_max_version(2)];
    let finalized = if transaction_version > 0 {
        vec![FinalizedFeatureKey::default()
            .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
            .with_min_version_level(transaction_version)
            .with_max_version_level(transaction_version)]
    } else {
        Vec::new()
    };
    resp.with_supported_features(supported)
        // fixed: the level changes only with a restart, and clients take any epoch >= 0
        .with_finalized_features_epoch(1)
        .with_finalized_features(finalized)
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
