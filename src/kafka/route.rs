//! The one request route: a table with one line per Kafka API ([`ROUTES`]). Every request,
//! Produce and Fetch included, is served by [`serve`]: the version is checked against the
//! table, the body decoded for its version, the API's handler called with the
//! [`RequestContext`], and its [`Answer`] encoded. ApiVersions is derived from the same
//! table, so what is advertised and what is served cannot drift apart.
//!
//! Every handler has one signature, in `api/<name>.rs`:
//!
//! ```text
//! pub async fn handle(ctx: &RequestContext, broker: &Arc<Broker>, req: XRequest) -> Answer<XResponse>
//! ```
//!
//! Adding an API is that file and one line in [`ROUTES`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tracing::Instrument;

use super::answer::{Answer, Outcome, RouteError};
use super::api;
use super::codec::{encode_response, Frame};
use super::context::RequestContext;
use crate::broker::Broker;
use crate::error::ErrorCode;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Serves one decoded-header request: what a route line runs.
pub type Serve = fn(Arc<Broker>, RequestContext, Bytes) -> BoxFuture<Outcome>;

/// How a response becomes a frame.
pub type Encode<R> = fn(&RequestContext, R) -> Result<Frame, RouteError>;

/// One line of the table.
pub struct Route {
    pub api: ApiKey,
    /// The lowest version advertised. Below `min`, versions are advertised for old
    /// clients' sake (Produce v0: librdkafka disables compression otherwise) and answered
    /// with UNSUPPORTED_VERSION per partition ([`api::legacy`]).
    pub advertised_min: i16,
    /// The lowest version decoded and served.
    pub min: i16,
    pub max: i16,
    /// Advertised only by a broker of a cluster (DescribeQuorum: a single node has no
    /// quorum). The line still serves the API either way; its handler answers a single
    /// node's request with an error.
    pub cluster_only: bool,
    serve: Serve,
}

/// A table line: `route!(ApiName, advertised min, min, max, module)`, optionally with the
/// function that encodes the response (Fetch's keeps record bytes out of copies).
macro_rules! route {
    ($api:ident, $adv:literal, $min:literal, $max:literal, $module:ident) => {
        route!($api, $adv, $min, $max, $module, encode_whole)
    };
    ($api:ident, $adv:literal, $min:literal, $max:literal, $module:ident, $encode:path) => {
        Route {
            api: ApiKey::$api,
            advertised_min: $adv,
            min: $min,
            max: $max,
            cluster_only: false,
            serve: |broker, ctx, body| {
                Box::pin(async move {
                    let req = match decode(&ctx, body) {
                        Ok(req) => req,
                        Err(e) => return Outcome::Ready(Err(e)),
                    };
                    let answer = api::$module::handle(&ctx, &broker, req).await;
                    finish(ctx, answer, $encode)
                })
            },
        }
    };
}

/// Every API Rafka serves, and the versions.
pub const ROUTES: &[Route] = &[
    route!(Produce, 0, 3, 13, produce),
    route!(Fetch, 0, 4, 18, fetch, api::fetch::encode),
    route!(ListOffsets, 1, 1, 10, list_offsets),
    route!(OffsetForLeaderEpoch, 2, 2, 4, offset_for_leader_epoch),
    route!(Metadata, 0, 0, 13, metadata),
    Route {
        // ApiVersions describes this table, so its line hands the handler the table
        api: ApiKey::ApiVersions,
        advertised_min: 0,
        min: 0,
        max: 4,
        cluster_only: false,
        serve: |broker, ctx, _body| {
            let body = api::api_versions::with_features(
                api::api_versions::response(ErrorCode::None, &advertised(in_cluster(&broker))),
                broker.config().txn.transaction_version,
            );
            Box::pin(async move { finish(ctx, Answer::Now(body), encode_whole) })
        },
    },
    route!(CreateTopics, 2, 2, 7, create_topics),
    route!(DeleteTopics, 1, 1, 6, delete_topics),
    route!(DeleteRecords, 0, 0, 2, delete_records),
    route!(DescribeConfigs, 1, 1, 4, describe_configs),
    route!(CreatePartitions, 0, 0, 3, create_partitions),
    route!(IncrementalAlterConfigs, 0, 0, 1, incremental_alter_configs),
    route!(DescribeCluster, 0, 0, 2, describe_cluster),
    route!(DescribeAcls, 1, 1, 3, describe_acls),
    route!(CreateAcls, 1, 1, 3, create_acls),
    route!(DeleteAcls, 1, 1, 3, delete_acls),
    route!(DescribeTopicPartitions, 0, 0, 0, describe_topic_partitions),
    route!(InitProducerId, 0, 0, 5, init_producer_id),
    route!(FindCoordinator, 0, 0, 6, find_coordinator),
    route!(JoinGroup, 0, 0, 9, join_group),
    route!(SyncGroup, 0, 0, 5, sync_group),
    route!(Heartbeat, 0, 0, 4, heartbeat),
    route!(LeaveGroup, 0, 0, 5, leave_group),
    route!(OffsetCommit, 2, 2, 9, offset_commit),
    route!(OffsetFetch, 1, 1, 9, offset_fetch),
    route!(ListGroups, 0, 0, 5, list_groups),
    route!(ConsumerGroupHeartbeat, 0, 0, 1, consumer_group_heartbeat),
    route!(ConsumerGroupDescribe, 0, 0, 1, consumer_group_describe),
    route!(DescribeGroups, 0, 0, 6, describe_groups),
    route!(DescribeLogDirs, 1, 1, 4, describe_log_dirs),
    route!(DeleteGroups, 0, 0, 2, delete_groups),
    route!(OffsetDelete, 0, 0, 0, offset_delete),
    route!(DescribeProducers, 0, 0, 0, describe_producers),
    route!(WriteTxnMarkers, 1, 1, 1, write_txn_markers),
    route!(ElectLeaders, 0, 0, 2, elect_leaders),
    route!(AddPartitionsToTxn, 0, 0, 5, add_partitions_to_txn),
    route!(AddOffsetsToTxn, 0, 0, 4, add_offsets_to_txn),
    route!(EndTxn, 0, 0, 5, end_txn),
    route!(TxnOffsetCommit, 0, 0, 5, txn_offset_commit),
    route!(DescribeTransactions, 0, 0, 0, describe_transactions),
    route!(ListTransactions, 0, 0, 2, list_transactions),
    route!(
        AlterPartitionReassignments,
        0,
        0,
        1,
        alter_partition_reassignments
    ),
    route!(
        ListPartitionReassignments,
        0,
        0,
        0,
        list_partition_reassignments
    ),
    Route {
        cluster_only: true,
        ..route!(DescribeQuorum, 0, 0, 2, describe_quorum)
    },
    route!(DescribeClientQuotas, 0, 0, 1, describe_client_quotas),
    route!(
        DescribeUserScramCredentials,
        0,
        0,
        0,
        describe_user_scram_credentials
    ),
    route!(
        AlterUserScramCredentials,
        0,
        0,
        0,
        alter_user_scram_credentials
    ),
    route!(SaslHandshake, 0, 0, 1, sasl_handshake),
    route!(SaslAuthenticate, 0, 0, 2, sasl_authenticate),
];

/// What ApiVersions advertises: (API, lowest advertised version, highest version); the
/// cluster-only lines only `in_cluster`.
pub fn advertised(in_cluster: bool) -> Vec<(ApiKey, i16, i16)> {
    ROUTES
        .iter()
        .filter(|r| in_cluster || !r.cluster_only)
        .map(|r| (r.api, r.advertised_min, r.max))
        .collect()
}

fn in_cluster(broker: &Broker) -> bool {
    broker.cluster().is_some()
}

/// The table's line for `api`.
pub fn route_of(api: ApiKey) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.api == api)
}

/// Serves one request. Connections call this for one request at a time, in arrival order,
/// as Kafka processes them: a producer's pipelined batches for one partition are appended
/// in the order they were sent. A Produce returns once its records are appended; waiting
/// for the fsync that acks=all needs happens in a task of its own ([`Answer::Later`]).
pub async fn serve(broker: Arc<Broker>, ctx: RequestContext, body: Bytes) -> Outcome {
    let (api, version) = (ctx.api_key, ctx.api_version);
    let Some(route) = route_of(api) else {
        return Outcome::Ready(Err(RouteError::UnsupportedApi(api)));
    };
    if version < route.advertised_min || version > route.max {
        if api == ApiKey::ApiVersions {
            // an unknown ApiVersions version still gets an answer (KIP-511)
            let body = api::api_versions::response(
                ErrorCode::UnsupportedVersion,
                &advertised(in_cluster(&broker)),
            );
            return Outcome::Ready(api::api_versions::encode_v0(&ctx, body).map(Some));
        }
        return Outcome::Ready(Err(RouteError::UnsupportedVersion { api, version }));
    }
    if version < route.min {
        // advertised for old clients' sake but not served: UNSUPPORTED_VERSION per partition
        return Outcome::Ready(
            api::legacy::unsupported(&ctx, &body)
                .map(|b| Some(Frame::from(b)))
                .ok_or(RouteError::Decode {
                    api,
                    version,
                    reason: "malformed body (or an acks=0 produce) of an old version".into(),
                }),
        );
    }
    (route.serve)(broker, ctx, body).await
}

fn decode<Req: Decodable>(ctx: &RequestContext, mut body: Bytes) -> Result<Req, RouteError> {
    Req::decode(&mut body, ctx.api_version).map_err(|e| RouteError::Decode {
        api: ctx.api_key,
        version: ctx.api_version,
        reason: e.to_string(),
    })
}

/// Encodes a response whole, header and body, with its size prefix.
pub fn encode_whole<R: Encodable>(ctx: &RequestContext, resp: R) -> Result<Frame, RouteError> {
    encode_response(ctx.api_key, ctx.api_version, ctx.correlation_id, &resp)
        .map(Frame::from)
        .map_err(|e| RouteError::Encode {
            api: ctx.api_key,
            reason: e.to_string(),
        })
}

fn finish<R: Send + 'static>(ctx: RequestContext, answer: Answer<R>, encode: Encode<R>) -> Outcome {
    match answer {
        Answer::Now(r) => Outcome::Ready(encode(&ctx, r).map(Some)),
        Answer::Silent => Outcome::Ready(Ok(None)),
        Answer::Fail(e) => Outcome::Ready(Err(e)),
        // in the request's span: what the task logs carries its API and correlation id
        Answer::Later(later) => Outcome::Deferred(tokio::spawn(
            async move {
                match later.await? {
                    Some(r) => encode(&ctx, r).map(Some),
                    None => Ok(None),
                }
            }
            .in_current_span(),
        )),
    }
}
