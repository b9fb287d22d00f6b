//! A broker's channel to the active controller: Kafka requests (BrokerRegistration,
//! BrokerHeartbeat, the admin requests a broker forwards) sent to the controller port of
//! the voter that leads, as Kafka's `NodeToControllerChannelManager` does.
//!
//! One connection at a time, one request at a time (callers that must not wait behind
//! each other, the heartbeat and the admin forwarding, each have their own client). The
//! target is the leader this node's own quorum reports when it is a voter, else the voters
//! in turn. A request that fails to send, or whose answer says NOT_CONTROLLER, is tried on
//! the next candidate until its deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Mutex};
use tracing::debug;

use super::link::{connect, Conn, LinkSecurity};
use super::LeaderAndEpoch;
use crate::error::ErrorCode;

/// The largest response accepted from a controller.
const MAX_RESPONSE: usize = 64 << 20;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No controller answered before the deadline.
    #[error("no controller answered: {0}")]
    Unavailable(String),
    /// The request could not be encoded, or the answer decoded.
    #[error("bad controller exchange: {0}")]
    Protocol(String),
}

impl ClientError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Unavailable(_) => ErrorCode::RequestTimedOut,
            ClientError::Protocol(_) => ErrorCode::UnknownServerError,
        }
    }
}

/// One Kafka request as a size-prefixed frame: header (the version's header version),
/// then the body. Shared by the broker's own clients (this one, the replica fetchers).
pub fn encode_request<Req: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    req: &Req,
) -> Result<Bytes, String> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let header_version = api.request_header_version(version);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .and_then(|_| req.encode(&mut buf, version))
        .map_err(|e| e.to_string())?;
    let size = i32::try_from(buf.len() - 4).map_err(|e| e.to_string())?;
    if let Some(prefix) = buf.get_mut(..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
    Ok(buf.freeze())
}

/// Reads one size-prefixed response frame (at most `max` bytes) and decodes its header
/// and body, checking the correlation id.
pub async fn read_response<Resp: Decodable>(
    stream: &mut (impl AsyncRead + Unpin),
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    max: usize,
) -> Result<Resp, String> {
    let body = read_frame(stream, max).await?;
    decode_response(body, api, version, correlation_id)
}

/// Reads one size-prefixed frame of at most `max` bytes.
async fn read_frame(stream: &mut (impl AsyncRead + Unpin), max: usize) -> Result<Bytes, String> {
    let size = stream.read_i32().await.map_err(|e| e.to_string())?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= max)
        .ok_or_else(|| format!("bad response size {size}"))?;
    let mut body = vec![0u8; size];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Bytes::from(body))
}

/// Decodes a response frame's body: its header (checking the correlation id), then the
/// response.
fn decode_response<Resp: Decodable>(
    mut body: Bytes,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<Resp, String> {
    let header = ResponseHeader::decode(&mut body, api.response_header_version(version))
        .map_err(|e| e.to_string())?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "answer to request {} where {correlation_id} was sent",
            header.correlation_id
        ));
    }
    Resp::decode(&mut body, version).map_err(|e| e.to_string())
}

/// The channel to the active controller.
pub struct ControllerClient {
    /// Voter id → controller `host:port`.
    voters: BTreeMap<i32, String>,
    /// This node's own view of the leader, if it is a voter.
    leader: Option<watch::Receiver<LeaderAndEpoch>>,
    client_id: String,
    conn: Mutex<Option<(i32, Conn)>>,
    /// TLS and SASL for the peer's listener (another broker's inter-broker one), or none.
    security: Arc<LinkSecurity>,
    /// The voter to try next when no leader is known.
    next: AtomicI32,
    correlation: AtomicI32,
}

impl std::fmt::Debug for ControllerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerClient")
            .field("voters", &self.voters)
            .finish()
    }
}

impl ControllerClient {
    pub fn new(
        voters: BTreeMap<i32, String>,
        leader: Option<watch::Receiver<LeaderAndEpoch>>,
        client_id: String,
    ) -> Self {
        ControllerClient {
            voters,
            leader,
            client_id,
            conn: Mutex::new(None),
            security: LinkSecurity::plaintext(),
            next: AtomicI32::new(0),
            correlation: AtomicI32::new(0),
        }
    }

    /// The same client, its connections secured as `security` says (to another broker's
    /// inter-broker listener).
    pub fn with_security(mut self, security: Arc<LinkSecurity>) -> Self {
        self.security = security;
        self
    }

    /// Sends `req` (API `api`, version `version`) to the active controller and returns
    /// its answer. `not_controller` tells whether an answer says NOT_CONTROLLER (each
    /// API puts its error code somewhere else); such answers are retried on the next
    /// candidate until `timeout`, then returned as they are.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &self,
        api: ApiKey,
        version: i16,
        req: &Req,
        timeout: Duration,
        not_controller: impl Fn(&Resp) -> bool,
    ) -> Result<Resp, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_error;
        let mut backoff = Duration::from_millis(20);
        loop {
            let (correlation_id, frame) = self.encode(api, version, req)?;
            let mut slot = self.conn.lock().await;
            // the connection is out of the slot while a request is on it: a caller that
            // gives up half-way (its future dropped) leaves no half-read answer behind
            let mut conn = slot.take();
            let target = self.target(conn.as_ref().map(|(id, _)| *id));
            match self.exchange(&mut conn, target, &frame, deadline).await {
                Ok(body) => {
                    let decoded: Resp = decode_response(body, api, version, correlation_id)
                        .map_err(ClientError::Protocol)?;
                    *slot = conn;
                    if !not_controller(&decoded) || tokio::time::Instant::now() >= deadline {
                        return Ok(decoded);
                    }
                    last_error = format!("node {target} is not the controller");
                    *slot = None;
                    self.advance(target);
                }
                Err(e) => {
                    debug!(target, cause = %e, "controller request failed");
                    last_error = e;
                    self.advance(target);
                }
            }
            drop(slot);
            if tokio::time::Instant::now() + backoff >= deadline {
                return Err(ClientError::Unavailable(last_error));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    fn encode<Req: Encodable>(
        &self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<(i32, Bytes), ClientError> {
        let correlation_id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let frame = encode_request(api, version, correlation_id, &self.client_id, req)
            .map_err(ClientError::Protocol)?;
        Ok((correlation_id, frame))
    }

    /// The quorum's leader and epoch as this node's own quorum member sees them; `None`
    /// on a node that is not a voter (a broker-only node learns the leader by asking).
    pub fn quorum_view(&self) -> Option<LeaderAndEpoch> {
        self.leader.as_ref().map(|rx| *rx.borrow())
    }

    /// The voter to send to: the connected one, else the known leader, else the next in
    /// turn.
    fn target(&self, connected: Option<i32>) -> i32 {
        if let Some(id) = connected {
            return id;
        }
        if let Some(leader) = self.leader.as_ref().and_then(|rx| rx.borrow().leader) {
            if self.voters.contains_key(&leader) {
                return leader;
            }
        }
        let ids: Vec<i32> = self.voters.keys().copied().collect();
        let n = ids.len().max(1);
        let i = usize::try_from(self.next.load(Ordering::Relaxed)).unwrap_or(0) % n;
        ids.get(i).copied().unwrap_or(-1)
    }

    fn advance(&self, _failed: i32) {
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    async fn exchange(
        &self,
        conn: &mut Option<(i32, Conn)>,
        target: i32,
        frame: &[u8],
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, String> {
        let work = async {
            if conn.is_none() {
                let addr = self
                    .voters
                    .get(&target)
                    .ok_or_else(|| format!("no address for voter {target}"))?;
                *conn = Some((target, connect(addr, &self.security).await?));
            }
            let Some((_, stream)) = conn.as_mut() else {
                return Err("not connected".to_string());
            };
            stream.write_all(frame).await.map_err(|e| e.to_string())?;
            // (TLS holds what it encrypted until flushed)
            stream.flush().await.map_err(|e| e.to_string())?;
            read_frame(stream, MAX_RESPONSE).await
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_string()),
        }
    }
}
