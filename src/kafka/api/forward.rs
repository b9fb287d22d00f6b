//! Admin requests on a broker of a cluster go to the active controller: the request as the
//! client sent it, at the client's version, and the controller's answer goes back as it
//! is. Kafka 4 brokers forward the same requests (wrapped in an Envelope; Rafka sends the
//! request itself). On a single node ([`Broker::cluster`] is `None`) nothing is forwarded.

use std::time::Duration;

use kafka_protocol::protocol::{Decodable, Encodable};

use crate::broker::cluster::ClusterLink;
use crate::controller::client::ClientError;
use crate::error::ErrorCode;
use crate::kafka::context::RequestContext;

/// How long a forwarded request may take, retries on other controllers included. Below the
/// clients' default `request.timeout.ms` (30 s), with room for the propagation wait
/// ([`crate::broker::cluster::METADATA_PROPAGATION_WAIT`]) after it.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `req` (the API and version of `ctx`) to the active controller and returns its
/// typed answer. `codes` lists the error codes of an answer: one equal to NOT_CONTROLLER
/// has it tried on the next controller.
pub async fn forward<Req, Resp>(
    cluster: &ClusterLink,
    ctx: &RequestContext,
    req: &Req,
    codes: impl Fn(&Resp) -> Vec<i16>,
) -> Result<Resp, ClientError>
where
    Req: Encodable,
    Resp: Decodable,
{
    let not_controller = ErrorCode::NotController.code();
    cluster
        .forward
        .call(
            ctx.api_key,
            ctx.api_version,
            req,
            FORWARD_TIMEOUT,
            |resp: &Resp| codes(resp).contains(&not_controller),
        )
        .await
}
