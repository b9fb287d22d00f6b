//! One match on the API key: decode the body as the version asks, run the API's handler,
//! encode its response. [`SUPPORTED_APIS`] is both the dispatch table's range check and
//! what ApiVersions advertises, so the two cannot drift apart.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ProduceRequest};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::task::JoinHandle;

use super::api;
use super::codec::{encode_response, Request};
use crate::broker::Broker;

/// (API, lowest version advertised, lowest version decoded, highest version).
///
/// Produce and Fetch are advertised from v0 as Kafka 4.0 does (librdkafka disables
/// compression otherwise) though only v3+ / v4+ are decoded; older versions are refused.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16, i16)] = &[
    (ApiKey::Produce, 0, 3, 13),
    (ApiKey::Fetch, 0, 4, 18),
    (ApiKey::ListOffsets, 1, 1, 10),
    (ApiKey::Metadata, 0, 0, 13),
    (ApiKey::ApiVersions, 0, 0, 4),
    (ApiKey::CreateTopics, 2, 2, 7),
    (ApiKey::DeleteTopics, 1, 1, 6),
    (ApiKey::DeleteRecords, 0, 0, 2),
    (ApiKey::DescribeConfigs, 1, 1, 4),
    (ApiKey::CreatePartitions, 0, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 0, 1),
    (ApiKey::DescribeCluster, 0, 0, 2),
    (ApiKey::DescribeTopicPartitions, 0, 0, 0),
    (ApiKey::InitProducerId, 0, 0, 5),
    (ApiKey::FindCoordinator, 0, 0, 6),
    (ApiKey::JoinGroup, 0, 0, 9),
    (ApiKey::SyncGroup, 0, 0, 5),
    (ApiKey::Heartbeat, 0, 0, 4),
    (ApiKey::LeaveGroup, 0, 0, 5),
    (ApiKey::OffsetCommit, 2, 2, 9),
    (ApiKey::OffsetFetch, 1, 1, 9),
    (ApiKey::ListGroups, 0, 0, 5),
    (ApiKey::DescribeGroups, 0, 0, 6),
    (ApiKey::DeleteGroups, 0, 0, 2),
    (ApiKey::OffsetDelete, 0, 0, 0),
];

/// Why a request got no normal response; the connection logs it and closes.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The API is not implemented (not in [`SUPPORTED_APIS`]).
    #[error("API {0:?} is not supported")]
    UnsupportedApi(ApiKey),
    /// The version is outside what Rafka decodes for this API.
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    /// The body does not decode for its version.
    #[error("malformed {api:?} v{version} body: {reason}")]
    Decode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    /// The response could not be encoded (a bug).
    #[error("cannot encode the {api:?} response: {reason}")]
    Encode { api: ApiKey, reason: String },
    /// An acks=0 produce failed: Kafka closes the connection so the producer notices.
    #[error("an acks=0 produce failed with error {error_code}")]
    UnacknowledgedProduceFailed { error_code: i16 },
    /// A task serving the request failed (a bug).
    #[error("{0}")]
    Internal(String),
}

/// The supported range of `api`, if it is supported: (decoded min, max).
pub fn version_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, ..)| *k == api)
        .map(|&(_, _, min, max)| (min, max))
}

/// Decodes the body as `Req`, runs `handler`, encodes its response (`None`: no response,
/// as for `acks=0` produce).
async fn run<Req, Resp, Fut>(
    req: Request,
    handler: impl FnOnce(Req, i16) -> Fut,
) -> Result<Option<Bytes>, DispatchError>
where
    Req: Decodable,
    Resp: Encodable,
    Fut: Future<Output = Result<Option<Resp>, DispatchError>>,
{
    let (api, version) = (req.api_key, req.api_version);
    let mut body = req.body;
    let decoded = Req::decode(&mut body, version).map_err(|e| DispatchError::Decode {
        api,
        version,
        reason: e.to_string(),
    })?;
    match handler(decoded, version).await? {
        None => Ok(None),
        Some(resp) => encode_response(api, version, req.correlation_id, &resp)
            .map(Some)
            .map_err(|e| DispatchError::Encode {
                api,
                reason: e.to_string(),
            }),
    }
}

/// What the connection does with a request it has started.
pub enum Reply {
    /// The response is ready (`None`: none is sent), or the request failed.
    Ready(Result<Option<Bytes>, DispatchError>),
    /// The response comes from this task (Produce waiting for its fsync).
    Deferred(JoinHandle<Result<Option<Bytes>, DispatchError>>),
}

/// [`run`] for handlers that answer at once.
async fn run_now<Req: Decodable, Resp: Encodable>(
    req: Request,
    broker: &Broker,
    handler: fn(&Broker, Req, i16) -> Resp,
) -> Result<Option<Bytes>, DispatchError> {
    run(req, |r, v| async move { Ok(Some(handler(broker, r, v))) }).await
}

/// Starts a request. Connections call this for one request at a time, in arrival order,
/// as Kafka processes them: a producer's pipelined batches for one partition are appended
/// in the order they were sent. Produce returns once its records are appended; waiting for
/// the fsync that acks=all needs happens in a task of its own, so the connection's next
/// request can append meanwhile and share that fsync (group commit).
pub async fn start(broker: Arc<Broker>, req: Request) -> Reply {
    let in_range = version_range(ApiKey::Produce)
        .is_some_and(|(min, max)| (min..=max).contains(&req.api_version));
    if req.api_key != ApiKey::Produce || !in_range {
        return Reply::Ready(dispatch(broker, req).await);
    }
    let (version, correlation_id) = (req.api_version, req.correlation_id);
    let mut body = req.body;
    let decoded = match ProduceRequest::decode(&mut body, version) {
        Ok(d) => d,
        Err(e) => {
            return Reply::Ready(Err(DispatchError::Decode {
                api: ApiKey::Produce,
                version,
                reason: e.to_string(),
            }))
        }
    };
    let appended = match api::produce::append(&broker, decoded, version).await {
        Ok(appended) => appended,
        Err(e) => return Reply::Ready(Err(e)),
    };
    Reply::Deferred(tokio::spawn(async move {
        match api::produce::finish(appended).await? {
            None => Ok(None),
            Some(resp) => encode_response(ApiKey::Produce, version, correlation_id, &resp)
                .map(Some)
                .map_err(|e| DispatchError::Encode {
                    api: ApiKey::Produce,
                    reason: e.to_string(),
                }),
        }
    }))
}

/// Serves one request.
pub async fn dispatch(broker: Arc<Broker>, req: Request) -> Result<Option<Bytes>, DispatchError> {
    let api = req.api_key;
    if api == ApiKey::ApiVersions {
        // an unknown ApiVersions version still gets an answer (KIP-511)
        return api::api_versions::handle(req);
    }
    let Some((min, max)) = version_range(api) else {
        return Err(DispatchError::UnsupportedApi(api));
    };
    let advertised_min = SUPPORTED_APIS
        .iter()
        .find(|(k, ..)| *k == api)
        .map_or(min, |&(_, m, ..)| m);
    if (advertised_min..min).contains(&req.api_version) {
        // advertised for old clients' sake but not served: UNSUPPORTED_VERSION per partition
        return api::legacy::unsupported(&req)
            .map(Some)
            .ok_or(DispatchError::Decode {
                api,
                version: req.api_version,
                reason: "malformed body (or an acks=0 produce) of an old version".into(),
            });
    }
    if req.api_version < min || req.api_version > max {
        return Err(DispatchError::UnsupportedVersion {
            api,
            version: req.api_version,
        });
    }
    let b = &broker;
    match api {
        ApiKey::Metadata => run_now(req, b, api::metadata::handle).await,
        ApiKey::Produce => run(req, |r, v| api::produce::handle(b, r, v)).await,
        ApiKey::Fetch => {
            run(req, |r, v| async move {
                Ok(Some(api::fetch::handle(b, r, v).await))
            })
            .await
        }
        // timestamp lookups read and decompress a batch: keep that off the runtime threads
        ApiKey::ListOffsets => {
            let broker = Arc::clone(&broker);
            run(req, |r, v| async move {
                tokio::task::spawn_blocking(move || Some(api::list_offsets::handle(&broker, r, v)))
                    .await
                    .map_err(|e| {
                        DispatchError::Internal(format!("the ListOffsets task failed: {e}"))
                    })
            })
            .await
        }
        ApiKey::CreateTopics => run_now(req, b, api::create_topics::handle).await,
        ApiKey::DeleteTopics => run_now(req, b, api::delete_topics::handle).await,
        ApiKey::DeleteRecords => run_now(req, b, api::delete_records::handle).await,
        ApiKey::DescribeConfigs => run_now(req, b, api::describe_configs::handle).await,
        ApiKey::CreatePartitions => run_now(req, b, api::create_partitions::handle).await,
        ApiKey::IncrementalAlterConfigs => {
            run_now(req, b, api::incremental_alter_configs::handle).await
        }
        ApiKey::DescribeCluster => run_now(req, b, api::describe_cluster::handle).await,
        ApiKey::FindCoordinator => run_now(req, b, api::find_coordinator::handle).await,
        ApiKey::JoinGroup => {
            let (client_id, peer) = (req.client_id.clone(), req.peer);
            run(req, |r, v| async move {
                Ok(Some(
                    api::join_group::handle(b, r, v, client_id, peer).await,
                ))
            })
            .await
        }
        ApiKey::SyncGroup => {
            run(req, |r, v| async move {
                Ok(Some(api::sync_group::handle(b, r, v).await))
            })
            .await
        }
        ApiKey::Heartbeat => run_now(req, b, api::heartbeat::handle).await,
        ApiKey::LeaveGroup => run_now(req, b, api::leave_group::handle).await,
        ApiKey::OffsetCommit => {
            run(req, |r, v| async move {
                Ok(Some(api::offset_commit::handle(b, r, v).await))
            })
            .await
        }
        ApiKey::OffsetFetch => run_now(req, b, api::offset_fetch::handle).await,
        ApiKey::ListGroups => run_now(req, b, api::list_groups::handle).await,
        ApiKey::DescribeGroups => run_now(req, b, api::describe_groups::handle).await,
        ApiKey::DeleteGroups => run_now(req, b, api::delete_groups::handle).await,
        ApiKey::OffsetDelete => run_now(req, b, api::offset_delete::handle).await,
        // allocating an id may write the allocator's file: off the runtime threads
        ApiKey::InitProducerId => {
            let broker = Arc::clone(&broker);
            run(req, |r, v| async move {
                tokio::task::spawn_blocking(move || {
                    Some(api::init_producer_id::handle(&broker, r, v))
                })
                .await
                .map_err(|e| {
                    DispatchError::Internal(format!("the InitProducerId task failed: {e}"))
                })
            })
            .await
        }
        ApiKey::DescribeTopicPartitions => {
            run_now(req, b, api::describe_topic_partitions::handle).await
        }
        other => Err(DispatchError::UnsupportedApi(other)),
    }
}
