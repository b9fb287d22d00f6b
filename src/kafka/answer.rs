//! What a handler answers ([`Answer`]), what the connection sends for a request
//! ([`Outcome`]), and why a request can get no answer ([`RouteError`]). The handlers under
//! `api/` and the route both use these; neither depends on the other for them.

use std::future::Future;
use std::pin::Pin;

use kafka_protocol::messages::ApiKey;
use tokio::task::JoinHandle;

use super::codec::Frame;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a request got no normal response; the connection logs it and closes.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The API is not implemented (not in [`ROUTES`]).
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

/// What a handler gives back.
pub enum Answer<R> {
    /// The response.
    Now(R),
    /// No response at all (a successful acks=0 produce).
    Silent,
    /// The response comes later, from this future, run as a task of its own: the
    /// connection reads and starts its next requests meanwhile (a Produce waiting for its
    /// fsync, so the next one can share it). `None`: no response.
    Later(BoxFuture<Result<Option<R>, RouteError>>),
    /// No response can be given: the connection closes.
    Fail(RouteError),
}

impl<R> From<R> for Answer<R> {
    fn from(r: R) -> Self {
        Answer::Now(r)
    }
}

/// What the connection sends for a request, in request order.
pub enum Outcome {
    /// The response frame is ready (`None`: none is sent), or the request failed.
    Ready(Result<Option<Frame>, RouteError>),
    /// The response comes from this task.
    Deferred(JoinHandle<Result<Option<Frame>, RouteError>>),
}
