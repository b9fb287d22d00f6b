//! The Kafka APIs a controller serves on its controller port (Kafka 4.x's `ControllerApis`):
//! broker registration and heartbeats, the admin requests brokers forward, DescribeQuorum
//! and DescribeCluster for `--bootstrap-controller` tools. The quorum's listener hands
//! every frame that is not its own Raft traffic to [`ControllerApis`] ([`ForeignApis`]).
//!
//! One table ([`CONTROLLER_APIS`]) lists each API with its versions and how it is served,
//! as [`crate::kafka::route`] does on the broker port; ApiVersions is derived from it.
//! Every handler has one signature, in `<name>.rs`:
//!
//! ```text
//! pub async fn handle(ctl: &Controller, version: i16, req: XRequest) -> XResponse
//! ```
//!
//! Everything that changes metadata goes through [`Controller::run`], so the answer is
//! given once the records are committed; a node that is not the active controller answers
//! NOT_CONTROLLER in each response's error fields, and the broker's channel tries the next.
//!
//! As Kafka does: an unknown API key, an API not in the table, a version outside its range
//! (but ApiVersions) or a body that does not decode closes the connection; an ApiVersions
//! of an unknown version is answered with UNSUPPORTED_VERSION and the list (KIP-511).

mod allocate_producer_ids;
mod alter_partition;
mod alter_partition_reassignments;
mod alter_user_scram_credentials;
mod broker_heartbeat;
mod broker_registration;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_topics;
mod describe_cluster;
mod describe_quorum;
mod elect_leaders;
mod fetch;
mod fetch_snapshot;
mod incremental_alter_configs;
mod list_partition_reassignments;
mod unregister_broker;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tracing::debug;

use crate::controller::driver::{Controller, DriverError};
use crate::controller::ForeignApis;
use crate::error::ErrorCode;
use crate::kafka::api::api_versions;
use crate::kafka::codec::{encode_response, parse_request, Request};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serves one request whose header decoded and whose version is in range: the whole
/// response frame, or `None` to close the connection.
type Serve = for<'a> fn(&'a ControllerApis, Request) -> BoxFuture<'a, Option<Bytes>>;

/// One line of the table.
pub struct ControllerApi {
    pub api: ApiKey,
    pub min: i16,
    pub max: i16,
    serve: Serve,
}

/// A table line: `api!(ApiName, min, max, module)`.
macro_rules! api {
    ($api:ident, $min:literal, $max:literal, $module:ident) => {
        ControllerApi {
            api: ApiKey::$api,
            min: $min,
            max: $max,
            serve: |apis, req| {
                Box::pin(async move {
                    let (version, correlation_id) = (req.api_version, req.correlation_id);
                    let body = decode(&req)?;
                    let resp = $module::handle(&apis.ctl, version, body).await;
                    encode(ApiKey::$api, version, correlation_id, &resp)
                })
            },
        }
    };
}

/// Every API the controller port serves, with the versions (the `kafka-protocol` crate's,
/// capped at what Kafka 4.x serves).
pub const CONTROLLER_APIS: &[ControllerApi] = &[
    ControllerApi {
        api: ApiKey::ApiVersions,
        min: 0,
        max: 4,
        serve: |_apis, req| {
            Box::pin(async move {
                let body = api_versions::response(ErrorCode::None, &advertised());
                encode(
                    ApiKey::ApiVersions,
                    req.api_version,
                    req.correlation_id,
                    &body,
                )
            })
        },
    },
    api!(CreateTopics, 2, 7, create_topics),
    api!(DeleteTopics, 1, 6, delete_topics),
    api!(CreatePartitions, 0, 3, create_partitions),
    api!(ElectLeaders, 0, 2, elect_leaders),
    api!(IncrementalAlterConfigs, 0, 1, incremental_alter_configs),
    api!(CreateAcls, 1, 3, create_acls),
    api!(DeleteAcls, 1, 3, delete_acls),
    api!(
        AlterUserScramCredentials,
        0,
        0,
        alter_user_scram_credentials
    ),
    api!(
        AlterPartitionReassignments,
        0,
        1,
        alter_partition_reassignments
    ),
    api!(
        ListPartitionReassignments,
        0,
        0,
        list_partition_reassignments
    ),
    api!(Fetch, 12, 17, fetch),
    api!(FetchSnapshot, 0, 1, fetch_snapshot),
    api!(DescribeQuorum, 0, 2, describe_quorum),
    api!(AlterPartition, 2, 3, alter_partition),
    ControllerApi {
        // v0 has no endpoint type: a controller cannot describe itself in it (Kafka)
        api: ApiKey::DescribeCluster,
        min: 1,
        max: 2,
        serve: |apis, req| {
            Box::pin(async move {
                let (version, correlation_id) = (req.api_version, req.correlation_id);
                let body = decode(&req)?;
                let resp = describe_cluster::handle(&apis.ctl, &apis.cluster_id, version, body);
                encode(ApiKey::DescribeCluster, version, correlation_id, &resp)
            })
        },
    },
    api!(BrokerRegistration, 0, 4, broker_registration),
    api!(BrokerHeartbeat, 0, 1, broker_heartbeat),
    api!(UnregisterBroker, 0, 0, unregister_broker),
    api!(AllocateProducerIds, 0, 0, allocate_producer_ids),
];

/// What ApiVersions advertises: (API, lowest version, highest version).
pub fn advertised() -> Vec<(ApiKey, i16, i16)> {
    CONTROLLER_APIS
        .iter()
        .map(|a| (a.api, a.min, a.max))
        .collect()
}

/// The table's line for `api`.
pub fn api_of(api: ApiKey) -> Option<&'static ControllerApi> {
    CONTROLLER_APIS.iter().find(|a| a.api == api)
}

/// The Kafka APIs of one controller node, over its [`Controller`]. Construct it once the
/// quorum runs and hand it to [`crate::controller::Quorum::serve_foreign_apis`]:
///
/// ```text
/// let ctl = Controller::new(quorum, image, config);
/// ctl.quorum().serve_foreign_apis(Arc::new(ControllerApis::new(ctl.clone())));
/// ```
pub struct ControllerApis {
    ctl: Arc<Controller>,
    /// DescribeCluster's cluster id ("" until set).
    cluster_id: String,
}

impl std::fmt::Debug for ControllerApis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerApis")
            .field("controller", &self.ctl)
            .finish()
    }
}

impl ControllerApis {
    pub fn new(ctl: Arc<Controller>) -> Self {
        ControllerApis {
            ctl,
            cluster_id: String::new(),
        }
    }

    /// The cluster id DescribeCluster answers.
    pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = cluster_id.into();
        self
    }

    /// Serves one frame (without its size prefix): the response frame with its size
    /// prefix, or `None` to close the connection.
    pub async fn serve(&self, frame: Bytes) -> Option<Bytes> {
        let req = match parse_request(frame) {
            Ok(req) => req,
            Err(e) => {
                debug!(cause = %e, "unreadable request on the controller port");
                return None;
            }
        };
        let Some(line) = api_of(req.api_key) else {
            debug!(api = ?req.api_key, "API not served on the controller port");
            return None;
        };
        if req.api_version < line.min || req.api_version > line.max {
            if req.api_key == ApiKey::ApiVersions {
                // KIP-511: a v0 body with the list, so the client can pick a version
                let body = api_versions::response(ErrorCode::UnsupportedVersion, &advertised());
                return encode(ApiKey::ApiVersions, 0, req.correlation_id, &body);
            }
            debug!(api = ?req.api_key, version = req.api_version, "unsupported version");
            return None;
        }
        (line.serve)(self, req).await
    }
}

impl ForeignApis for ControllerApis {
    fn handle(&self, frame: Bytes) -> Pin<Box<dyn Future<Output = Option<Bytes>> + Send + '_>> {
        Box::pin(self.serve(frame))
    }
}

fn decode<R: Decodable>(req: &Request) -> Option<R> {
    let mut body = req.body.clone();
    match R::decode(&mut body, req.api_version) {
        Ok(r) => Some(r),
        Err(e) => {
            debug!(api = ?req.api_key, version = req.api_version, cause = %e, "malformed body");
            None
        }
    }
}

fn encode<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, resp: &R) -> Option<Bytes> {
    match encode_response(api, version, correlation_id, resp) {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::warn!(?api, version, cause = %e, "cannot encode a controller response");
            None
        }
    }
}

/// A `StrBytes` of `s`.
fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A driver error's Kafka code, as the wire carries it.
fn code(e: &DriverError) -> i16 {
    e.code().code()
}

/// A driver error's message (None for NOT_CONTROLLER, which needs no words).
fn message(e: &DriverError) -> Option<StrBytes> {
    match e.code() {
        ErrorCode::NotController => None,
        _ => Some(str_bytes(e.to_string())),
    }
}
