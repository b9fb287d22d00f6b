//! What the route knows of a request besides its body: who sent it, on which listener, as
//! which principal, and which API and version it is. Every handler receives it, so
//! authorization, quotas, metrics and tracing can plug in at one place.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use crate::config::{ListenerConfig, SecurityProtocol};

pub use crate::security::KafkaPrincipal;

/// One request's context.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    /// The client's address (JoinGroup reports it as the member's host).
    pub peer: Option<SocketAddr>,
    /// The listener the connection came in on: its name, security protocol and the
    /// endpoint it advertises (Metadata answers with each broker's endpoint for it).
    pub listener: Arc<ListenerConfig>,
    pub principal: Arc<KafkaPrincipal>,
}

impl RequestContext {
    /// A context for requests made in-process (tests, the fuzz target): the default
    /// listener, an anonymous principal, no peer.
    pub fn local(api_key: ApiKey, api_version: i16, correlation_id: i32) -> Self {
        RequestContext {
            api_key,
            api_version,
            correlation_id,
            client_id: None,
            peer: None,
            listener: Arc::new(ListenerConfig::new(
                "PLAINTEXT",
                SecurityProtocol::Plaintext,
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )),
            principal: Arc::new(KafkaPrincipal::anonymous()),
        }
    }
}
