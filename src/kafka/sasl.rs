//! SASL on a Kafka connection (a SASL_PLAINTEXT or SASL_SSL listener), run as Kafka's
//! `SaslServerAuthenticator` runs it. [`Authenticator`] is a state machine the connection
//! feeds each frame before the route; it answers the handshake and the authentication
//! itself and says what the connection does next ([`Verdict`]). The mechanisms are in
//! [`crate::security::sasl`].
//!
//! - Before authentication only ApiVersions (once, answered by the route) and
//!   SaslHandshake are taken; any other request closes the connection unanswered, and
//!   frames are bounded by `sasl.server.max.receive.size` (512 KiB), not
//!   `socket.request.max.bytes`.
//! - SaslHandshake v1 (every current client): SaslAuthenticate requests carry the tokens.
//!   v0: the tokens follow as bare size-prefixed frames, as clients before Kafka 1.0 sent
//!   them.
//! - A mechanism the listener does not offer gets UNSUPPORTED_SASL_MECHANISM with the
//!   ones it does; a failed authentication gets SASL_AUTHENTICATION_FAILED with Kafka's
//!   message. Both close the connection, after `connection.failed.authentication.delay.ms`
//!   (the connection waits it out: [`Verdict::Fail`]).
//! - Re-authentication (KIP-368): with `connections.max.reauth.ms` set, SaslAuthenticate
//!   v1+ tells the client how long its session lasts; before then the client sends
//!   SaslHandshake and SaslAuthenticate again on the same connection, with the same
//!   mechanism and as the same principal. A request that arrives once the session has
//!   expired closes the connection, as Kafka closes it.
//!
//! Once authenticated, SaslHandshake starts a re-authentication and every other request
//! goes to the route as the authenticated principal (a SaslAuthenticate there gets
//! ILLEGAL_SASL_STATE, as from Kafka).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::time::{Duration, Instant};

use super::codec::{encode_response, Request};
use crate::config::{SaslConfig, SaslMechanism};
use crate::error::ErrorCode;
use crate::log::now_ms;
use crate::security::{KafkaPrincipal, SaslServer, SaslStep, ScramCredentials};

/// What the connection does with a frame after the authenticator has seen it.
#[derive(Debug)]
pub enum Verdict {
    /// Serve it through the route, as this principal.
    Route(Arc<KafkaPrincipal>),
    /// Send this response frame (size prefix included) and read the next request.
    Answer(Bytes),
    /// Authentication failed: wait the failed-authentication delay, send `answer` if any,
    /// and close. `reason` is for the log (it holds no secret).
    Fail {
        answer: Option<Bytes>,
        reason: String,
        delay: Duration,
    },
    /// Close at once, unanswered, as Kafka closes it.
    Close(String),
}

/// An authenticated session.
#[derive(Debug)]
struct Session {
    mechanism: SaslMechanism,
    principal: Arc<KafkaPrincipal>,
    /// When the client must have re-authenticated (`None`: never).
    expires: Option<Instant>,
}

#[derive(Debug)]
enum State {
    /// Waiting for SaslHandshake; ApiVersions is taken once before the first one.
    Handshake { versions_seen: bool },
    /// A mechanism was chosen; its tokens come in SaslAuthenticate requests (`framed`) or
    /// bare (after a v0 handshake).
    Authenticate { server: SaslServer, framed: bool },
    /// A re-authentication asked for another mechanism than the session's: the next token
    /// fails it, as in Kafka.
    BadMechanism(String),
    /// Authenticated: requests go to the route.
    Authenticated,
}

/// One connection's SASL state.
#[derive(Debug)]
pub struct Authenticator {
    config: Arc<SaslConfig>,
    /// Where SCRAM looks its users up: the broker's current credentials.
    credentials: Arc<dyn ScramCredentials>,
    state: State,
    session: Option<Session>,
    /// When the last re-authentication began: Kafka starts at most one a second.
    last_reauthentication: Option<Instant>,
}

impl Authenticator {
    pub fn new(config: Arc<SaslConfig>, credentials: Arc<dyn ScramCredentials>) -> Self {
        Authenticator {
            config,
            credentials,
            state: State::Handshake {
                versions_seen: false,
            },
            session: None,
            last_reauthentication: None,
        }
    }

    /// The largest frame to read next: `sasl.server.max.receive.size` during an
    /// authentication (a re-authentication's too), `socket_max` once authenticated.
    pub fn max_frame(&self, socket_max: usize) -> usize {
        if matches!(self.state, State::Authenticated) {
            socket_max
        } else {
            socket_max.min(self.config.max_receive_size)
        }
    }

    /// Whether the next frame is a bare token (after a v0 handshake), not a request.
    pub fn wants_bare_token(&self) -> bool {
        matches!(self.state, State::Authenticate { framed: false, .. })
    }

    /// A bare token (see [`Authenticator::wants_bare_token`]).
    pub fn bare_token(&mut self, token: &[u8], now: Instant) -> Verdict {
        let State::Authenticate { server, .. } = &mut self.state else {
            return Verdict::Close("a SASL token outside an authentication".into());
        };
        let mechanism = server.mechanism();
        match server.evaluate(&self.config, &*self.credentials, token, now_ms()) {
            Ok(SaslStep::Challenge(bytes)) => Verdict::Answer(size_prefixed(&bytes)),
            Ok(SaslStep::Complete {
                response,
                principal,
                expires_ms,
            }) => match self.complete(mechanism, principal, expires_ms, now) {
                Ok(_) => Verdict::Answer(size_prefixed(&response)),
                Err(reason) => self.fail(None, reason),
            },
            Err(e) => self.fail(None, e.0),
        }
    }

    /// A request whose header decoded.
    pub fn request(&mut self, req: &Request, now: Instant) -> Verdict {
        match &self.state {
            State::Authenticated => {
                let Some(session) = &self.session else {
                    return Verdict::Close("authenticated without a session".into());
                };
                // as Kafka's SocketServer: a SaslHandshake starts a re-authentication, even
                // past the session's end (clients re-authenticate on their next send), if
                // sessions expire at all and none began in the last second; otherwise it
                // goes to the route (ILLEGAL_SASL_STATE)
                let may_reauthenticate = session.expires.is_some()
                    && self.last_reauthentication.is_none_or(|at| {
                        now.saturating_duration_since(at) >= Duration::from_secs(1)
                    });
                if req.api_key == ApiKey::SaslHandshake && may_reauthenticate {
                    self.last_reauthentication = Some(now);
                    return self.handshake(req);
                }
                if session.expires.is_some_and(|at| now >= at) {
                    return Verdict::Close(
                        "SASL session expired (connections.max.reauth.ms, or the credential's \
                         own expiry) before the client re-authenticated"
                            .into(),
                    );
                }
                Verdict::Route(Arc::clone(&session.principal))
            }
            State::Handshake { versions_seen } => match req.api_key {
                ApiKey::ApiVersions if !versions_seen && self.session.is_none() => {
                    // a version Rafka does not serve gets UNSUPPORTED_VERSION from the route
                    // and the client tries again (KIP-511): only a served one counts
                    let served = super::route::route_of(ApiKey::ApiVersions)
                        .is_some_and(|r| (r.min..=r.max).contains(&req.api_version));
                    self.state = State::Handshake {
                        versions_seen: served,
                    };
                    Verdict::Route(Arc::new(KafkaPrincipal::anonymous()))
                }
                ApiKey::SaslHandshake => self.handshake(req),
                api => Verdict::Close(format!(
                    "unexpected {api:?} request during the SASL handshake"
                )),
            },
            State::Authenticate { framed: true, .. } if req.api_key == ApiKey::SaslAuthenticate => {
                self.authenticate(req, now)
            }
            State::BadMechanism(reason) if req.api_key == ApiKey::SaslAuthenticate => {
                let reason = reason.clone();
                self.fail(None, reason)
            }
            _ => Verdict::Close(format!(
                "unexpected {:?} request during SASL authentication",
                req.api_key
            )),
        }
    }

    fn handshake(&mut self, req: &Request) -> Verdict {
        let handshake: SaslHandshakeRequest = match decode_request(req) {
            Ok(r) => r,
            Err(close) => return close,
        };
        let enabled: Vec<StrBytes> = self
            .config
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let asked = handshake.mechanism.as_str();
        let chosen = SaslMechanism::from_name(asked).filter(|m| self.config.mechanisms.contains(m));
        let Some(mechanism) = chosen else {
            let body = SaslHandshakeResponse::default()
                .with_error_code(ErrorCode::UnsupportedSaslMechanism.code())
                .with_mechanisms(enabled);
            let answer = encode(req, &body).ok();
            return self.fail(answer, format!("Unsupported SASL mechanism {asked}"));
        };
        let body = SaslHandshakeResponse::default()
            .with_error_code(ErrorCode::None.code())
            .with_mechanisms(enabled);
        let Ok(answer) = encode(req, &body) else {
            return Verdict::Close("cannot encode the SaslHandshake response".into());
        };
        self.state = match &self.session {
            Some(s) if s.mechanism != mechanism => State::BadMechanism(format!(
                "SASL mechanism '{mechanism}' requested by client is not supported for \
                 re-authentication of mechanism '{}'",
                s.mechanism
            )),
            _ => State::Authenticate {
                server: SaslServer::new(mechanism),
                framed: req.api_version >= 1,
            },
        };
        Verdict::Answer(answer)
    }

    fn authenticate(&mut self, req: &Request, now: Instant) -> Verdict {
        let auth: SaslAuthenticateRequest = match decode_request(req) {
            Ok(r) => r,
            Err(close) => return close,
        };
        let State::Authenticate { server, .. } = &mut self.state else {
            return Verdict::Close("SaslAuthenticate outside an authentication".into());
        };
        let mechanism = server.mechanism();
        let failed = |message: &str| {
            let body = SaslAuthenticateResponse::default()
                .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(message.to_string())));
            encode(req, &body).ok()
        };
        match server.evaluate(&self.config, &*self.credentials, &auth.auth_bytes, now_ms()) {
            Ok(SaslStep::Challenge(bytes)) => {
                let body = SaslAuthenticateResponse::default()
                    .with_error_code(ErrorCode::None.code())
                    .with_auth_bytes(Bytes::from(bytes));
                match encode(req, &body) {
                    Ok(answer) => Verdict::Answer(answer),
                    Err(reason) => Verdict::Close(reason),
                }
            }
            Ok(SaslStep::Complete {
                response,
                principal,
                expires_ms,
            }) => match self.complete(mechanism, principal, expires_ms, now) {
                Ok(lifetime_ms) => {
                    let body = SaslAuthenticateResponse::default()
                        .with_error_code(ErrorCode::None.code())
                        .with_auth_bytes(Bytes::from(response))
                        .with_session_lifetime_ms(lifetime_ms);
                    match encode(req, &body) {
                        Ok(answer) => Verdict::Answer(answer),
                        Err(reason) => Verdict::Close(reason),
                    }
                }
                Err(reason) => {
                    let answer = failed(&reason);
                    self.fail(answer, reason)
                }
            },
            Err(e) => {
                let answer = failed(&e.0);
                self.fail(answer, e.0)
            }
        }
    }

    /// Starts (or renews) the session; its lifetime in ms (0: none). As Kafka computes it:
    /// `connections.max.reauth.ms`, or the time left until the credential expires
    /// (`expires_ms`, an OAUTHBEARER token's), whichever is shorter. A re-authentication as
    /// another principal fails.
    fn complete(
        &mut self,
        mechanism: SaslMechanism,
        principal: KafkaPrincipal,
        expires_ms: Option<i64>,
        now: Instant,
    ) -> Result<i64, String> {
        if let Some(previous) = &self.session {
            if *previous.principal != principal {
                return Err(format!(
                    "Cannot change principals during re-authentication from {}.{}: {}.{}",
                    previous.principal.principal_type,
                    previous.principal.name,
                    principal.principal_type,
                    principal.name
                ));
            }
        }
        let max_reauth = i64::try_from(self.config.reauth_ms(mechanism)).unwrap_or(i64::MAX);
        let left = expires_ms.map(|at| at.saturating_sub(now_ms()).max(0));
        let lifetime_ms = match (left, max_reauth > 0) {
            (None, false) => None,
            (None, true) => Some(max_reauth),
            (Some(left), false) => Some(left),
            (Some(left), true) => Some(left.min(max_reauth)),
        };
        self.session = Some(Session {
            mechanism,
            principal: Arc::new(principal),
            expires: lifetime_ms
                .map(|ms| now + Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        });
        self.state = State::Authenticated;
        Ok(lifetime_ms.unwrap_or(0))
    }

    fn fail(&mut self, answer: Option<Bytes>, reason: String) -> Verdict {
        Verdict::Fail {
            answer,
            reason,
            delay: Duration::from_millis(self.config.failed_authentication_delay_ms),
        }
    }
}

/// Decodes a SaslHandshake or SaslAuthenticate body, in the versions the route table
/// serves for it; otherwise the connection closes (Kafka cannot answer those either).
fn decode_request<R: Decodable>(req: &Request) -> Result<R, Verdict> {
    let served = super::route::route_of(req.api_key)
        .is_some_and(|r| (r.min..=r.max).contains(&req.api_version));
    if !served {
        return Err(Verdict::Close(format!(
            "{:?} v{} is not supported",
            req.api_key, req.api_version
        )));
    }
    R::decode(&mut req.body.clone(), req.api_version)
        .map_err(|_| Verdict::Close(format!("malformed {:?} request", req.api_key)))
}

fn encode<M: Encodable>(req: &Request, body: &M) -> Result<Bytes, String> {
    encode_response(req.api_key, req.api_version, req.correlation_id, body)
        .map_err(|e| format!("cannot encode the {:?} response: {e}", req.api_key))
}

/// A bare token as a v0 client reads it: 4-byte big-endian size, then the bytes.
fn size_prefixed(token: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + token.len());
    buf.put_u32(u32::try_from(token.len()).unwrap_or(u32::MAX));
    buf.put_slice(token);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};

    use super::*;
    use crate::kafka::codec::parse_request;

    fn config(reauth_ms: u64) -> Arc<SaslConfig> {
        let mut c = SaslConfig::plain([("alice", "pw"), ("bob", "pw2")].into_iter().collect());
        c.reauth_ms = vec![(SaslMechanism::Plain, reauth_ms)];
        c.failed_authentication_delay_ms = 7;
        Arc::new(c)
    }

    fn request<M: Encodable>(api: ApiKey, version: i16, body: &M) -> Request {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(9)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        header
            .encode(&mut buf, api.request_header_version(version))
            .expect("header");
        body.encode(&mut buf, version).expect("body");
        parse_request(buf.freeze()).expect("parses")
    }

    fn handshake(version: i16, mechanism: &'static str) -> Request {
        request(
            ApiKey::SaslHandshake,
            version,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        )
    }

    fn authenticate(version: i16, token: &'static [u8]) -> Request {
        request(
            ApiKey::SaslAuthenticate,
            version,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(token)),
        )
    }

    fn decode<M: Decodable>(api: ApiKey, version: i16, frame: &Bytes) -> M {
        let mut b = frame.slice(4..);
        ResponseHeader::decode(&mut b, api.response_header_version(version)).expect("header");
        M::decode(&mut b, version).expect("body")
    }

    fn answer(v: Verdict) -> Bytes {
        match v {
            Verdict::Answer(b) => b,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn plain_over_handshake_v1_then_routes_as_the_user() {
        let now = Instant::now();
        let mut a = Authenticator::new(config(0), Arc::new(()));
        assert_eq!(a.max_frame(100 << 20), 524_288);
        let versions = request(
            ApiKey::ApiVersions,
            3,
            &kafka_protocol::messages::ApiVersionsRequest::default(),
        );
        assert!(
            matches!(a.request(&versions, now), Verdict::Route(p) if *p == KafkaPrincipal::anonymous())
        );
        let hs: SaslHandshakeResponse = decode(
            ApiKey::SaslHandshake,
            1,
            &answer(a.request(&handshake(1, "PLAIN"), now)),
        );
        assert_eq!(hs.error_code, 0);
        assert_eq!(hs.mechanisms, vec![StrBytes::from_static_str("PLAIN")]);
        let auth: SaslAuthenticateResponse = decode(
            ApiKey::SaslAuthenticate,
            2,
            &answer(a.request(&authenticate(2, b"\0alice\0pw"), now)),
        );
        assert_eq!((auth.error_code, auth.session_lifetime_ms), (0, 0));
        assert_eq!(a.max_frame(100 << 20), 100 << 20);
        let verdict = a.request(&versions, now);
        assert!(matches!(verdict, Verdict::Route(p) if *p == KafkaPrincipal::user("alice")));
        // SaslAuthenticate after authentication goes to the route (ILLEGAL_SASL_STATE there),
        // and so does SaslHandshake when sessions never expire: no re-authentication
        assert!(matches!(
            a.request(&authenticate(2, b"\0alice\0pw"), now),
            Verdict::Route(_)
        ));
        assert!(matches!(
            a.request(&handshake(1, "PLAIN"), now),
            Verdict::Route(_)
        ));
    }

    #[test]
    fn failures_are_answered_then_closed_after_the_delay() {
        let now = Instant::now();
        let mut a = Authenticator::new(config(0), Arc::new(()));
        answer(a.request(&handshake(1, "PLAIN"), now));
        let Verdict::Fail {
            answer: Some(frame),
            reason,
            delay,
        } = a.request(&authenticate(1, b"\0alice\0nope"), now)
        else {
            panic!("fails");
        };
        let auth: SaslAuthenticateResponse = decode(ApiKey::SaslAuthenticate, 1, &frame);
        assert_eq!(auth.error_code, ErrorCode::SaslAuthenticationFailed.code());
        assert_eq!(
            auth.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        assert_eq!(
            reason,
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(delay, Duration::from_millis(7));

        let mut a = Authenticator::new(config(0), Arc::new(()));
        let Verdict::Fail {
            answer: Some(frame),
            ..
        } = a.request(&handshake(1, "SCRAM-SHA-512"), now)
        else {
            panic!("fails");
        };
        let hs: SaslHandshakeResponse = decode(ApiKey::SaslHandshake, 1, &frame);
        assert_eq!(hs.error_code, ErrorCode::UnsupportedSaslMechanism.code());
        assert_eq!(hs.mechanisms, vec![StrBytes::from_static_str("PLAIN")]);
    }

    #[test]
    fn other_requests_before_authentication_close_the_connection() {
        let now = Instant::now();
        let metadata = request(
            ApiKey::Metadata,
            12,
            &kafka_protocol::messages::MetadataRequest::default(),
        );
        let mut a = Authenticator::new(config(0), Arc::new(()));
        assert!(matches!(a.request(&metadata, now), Verdict::Close(_)));
        let mut a = Authenticator::new(config(0), Arc::new(()));
        answer(a.request(&handshake(1, "PLAIN"), now));
        assert!(matches!(a.request(&metadata, now), Verdict::Close(_)));
        // an ApiVersions of a version not served may be tried again (KIP-511)
        let mut a = Authenticator::new(config(0), Arc::new(()));
        let mut v9 = request(
            ApiKey::ApiVersions,
            3,
            &kafka_protocol::messages::ApiVersionsRequest::default(),
        );
        v9.api_version = 9;
        assert!(matches!(a.request(&v9, now), Verdict::Route(_)));
        // ApiVersions only once, before the handshake
        let versions = request(
            ApiKey::ApiVersions,
            3,
            &kafka_protocol::messages::ApiVersionsRequest::default(),
        );
        let mut a = Authenticator::new(config(0), Arc::new(()));
        assert!(matches!(a.request(&versions, now), Verdict::Route(_)));
        assert!(matches!(a.request(&versions, now), Verdict::Close(_)));
        // a version the route table does not serve
        let mut a = Authenticator::new(config(0), Arc::new(()));
        let mut v2 = handshake(1, "PLAIN");
        v2.api_version = 2;
        assert!(
            matches!(a.request(&v2, now), Verdict::Close(r) if r.contains("v2 is not supported"))
        );
    }

    #[test]
    fn handshake_v0_takes_bare_tokens() {
        let now = Instant::now();
        let mut a = Authenticator::new(config(0), Arc::new(()));
        answer(a.request(&handshake(0, "PLAIN"), now));
        assert!(a.wants_bare_token());
        assert_eq!(&answer(a.bare_token(b"\0bob\0pw2", now))[..], &[0, 0, 0, 0]);
        assert!(!a.wants_bare_token());
        let mut a = Authenticator::new(config(0), Arc::new(()));
        answer(a.request(&handshake(0, "PLAIN"), now));
        assert!(matches!(
            a.bare_token(b"\0bob\0pw", now),
            Verdict::Fail { answer: None, .. }
        ));
    }

    #[test]
    fn sessions_expire_unless_renewed_as_the_same_user() {
        let t0 = Instant::now();
        let mut a = Authenticator::new(config(1_000), Arc::new(()));
        answer(a.request(&handshake(1, "PLAIN"), t0));
        let auth: SaslAuthenticateResponse = decode(
            ApiKey::SaslAuthenticate,
            1,
            &answer(a.request(&authenticate(1, b"\0alice\0pw"), t0)),
        );
        assert_eq!(auth.session_lifetime_ms, 1_000);
        let metadata = request(
            ApiKey::Metadata,
            12,
            &kafka_protocol::messages::MetadataRequest::default(),
        );
        // re-authenticated at 900 ms: good until 1900 ms
        let t1 = t0 + Duration::from_millis(900);
        answer(a.request(&handshake(1, "PLAIN"), t1));
        answer(a.request(&authenticate(1, b"\0alice\0pw"), t1));
        assert!(matches!(
            a.request(&metadata, t0 + Duration::from_millis(1_500)),
            Verdict::Route(_)
        ));
        // a second re-authentication within a second of the last: not one (the route
        // answers ILLEGAL_SASL_STATE), as in Kafka
        assert!(matches!(
            a.request(&handshake(1, "PLAIN"), t0 + Duration::from_millis(1_400)),
            Verdict::Route(_)
        ));
        // past the session's end, a re-authentication is still taken (clients start one
        // on their next send), anything else closes the connection
        let late = t0 + Duration::from_millis(2_000);
        let mut b = Authenticator::new(config(1_000), Arc::new(()));
        answer(b.request(&handshake(1, "PLAIN"), t0));
        answer(b.request(&authenticate(1, b"\0alice\0pw"), t0));
        answer(b.request(&handshake(1, "PLAIN"), late));
        answer(b.request(&authenticate(1, b"\0alice\0pw"), late));
        assert!(matches!(b.request(&metadata, late), Verdict::Route(_)));
        assert!(matches!(
            a.request(&metadata, t0 + Duration::from_millis(1_900)),
            Verdict::Close(_)
        ));
        // as another user: refused
        let mut a = Authenticator::new(config(1_000), Arc::new(()));
        answer(a.request(&handshake(1, "PLAIN"), t0));
        answer(a.request(&authenticate(1, b"\0alice\0pw"), t0));
        answer(a.request(&handshake(1, "PLAIN"), t0));
        let Verdict::Fail { reason, .. } = a.request(&authenticate(1, b"\0bob\0pw2"), t0) else {
            panic!("refused");
        };
        assert!(reason.contains("Cannot change principals"), "{reason}");
    }
}
