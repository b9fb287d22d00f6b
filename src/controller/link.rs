//! How this node's own Kafka clients (the [`ControllerClient`](super::client), the replica
//! fetchers) reach a peer: TCP with Nagle off, within a short timeout, then, to another
//! broker's inter-broker listener, TLS and SASL as that listener asks. As in Kafka, a
//! broker is a client of the inter-broker listener (`inter.broker.listener.name`, or
//! `security.inter.broker.protocol`) with that listener's own settings: its truststore
//! checks the other broker's certificate (host name included), its keystore is shown when
//! the other asks for a client certificate, and it logs in with
//! `sasl.mechanism.inter.broker.protocol` as the `username` and `password` of the
//! listener's JAAS entry for that mechanism. Controller listeners are PLAINTEXT
//! (`Config::check_listeners`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::client::{encode_request, read_response};
use crate::config::{Config, Login, SaslMechanism};
use crate::security::scram::{ScramClient, ScramMechanism};
use crate::security::TlsError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest SASL answer read while logging in.
const MAX_SASL_RESPONSE: usize = 1 << 20;

/// What a connection does after TCP: TLS, and a SASL login.
#[derive(Default)]
pub struct LinkSecurity {
    tls: Option<TlsConnector>,
    sasl: Option<(SaslMechanism, Login)>,
}

impl std::fmt::Debug for LinkSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl LinkSecurity {
    /// Plain TCP: the controller listeners, and PLAINTEXT inter-broker listeners.
    pub fn plaintext() -> Arc<LinkSecurity> {
        Arc::new(LinkSecurity::default())
    }

    /// What this broker's connections to another broker's inter-broker listener do (its
    /// stores read now: an unreadable one stops the start).
    pub fn inter_broker(config: &Config) -> Result<Arc<LinkSecurity>, TlsError> {
        let Some(l) = config.inter_broker_listener() else {
            return Ok(LinkSecurity::plaintext());
        };
        let tls = match &l.ssl {
            Some(ssl) => Some(TlsConnector::from(crate::security::tls::client_config(
                ssl,
            )?)),
            None => None,
        };
        // (Config::check_listeners made sure of the mechanism and its login)
        let sasl = match &l.sasl {
            None => None,
            Some(s) => {
                let login = config
                    .inter_broker_sasl_mechanism
                    .and_then(|m| Some((m, s.login(m)?.clone())));
                Some(login.ok_or_else(|| {
                    TlsError::Config(format!(
                        "listener {} is SASL: sasl.mechanism.inter.broker.protocol and a \
                         username and password in its JAAS entry are needed",
                        l.name
                    ))
                })?)
            }
        };
        Ok(Arc::new(LinkSecurity { tls, sasl }))
    }
}

/// A connection: TCP, or TLS over TCP.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Connects to `addr` (`host:port`) and does what `security` asks: the TLS handshake,
/// the SASL login. Errors say which step failed, never a password.
pub async fn connect(addr: &str, security: &LinkSecurity) -> Result<Conn, String> {
    let work = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = match &security.tls {
            None => Conn::Plain(tcp),
            Some(tls) => {
                let host = addr
                    .rsplit_once(':')
                    .map_or(addr, |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| format!("{addr}: not a host name TLS can check: {e}"))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
                Conn::Tls(Box::new(stream))
            }
        };
        if let Some((mechanism, login)) = &security.sasl {
            sasl_login(&mut conn, *mechanism, login)
                .await
                .map_err(|e| format!("SASL {mechanism} login to {addr}: {e}"))?;
        }
        Ok(conn)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
}

/// SaslHandshake (v1), then SaslAuthenticate (v2) rounds until the mechanism is done.
async fn sasl_login(
    conn: &mut Conn,
    mechanism: SaslMechanism,
    login: &Login,
) -> Result<(), String> {
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name()));
    let answer: SaslHandshakeResponse =
        exchange(conn, ApiKey::SaslHandshake, 1, 0, &handshake).await?;
    if answer.error_code != 0 {
        return Err(format!(
            "the listener refused the mechanism (error {}; it offers {:?})",
            answer.error_code, answer.mechanisms
        ));
    }
    let scram = match mechanism {
        SaslMechanism::Plain => {
            let token = format!("\0{}\0{}", login.username, login.password);
            authenticate(conn, 1, token.into_bytes(), login).await?;
            return Ok(());
        }
        SaslMechanism::ScramSha256 => ScramMechanism::Sha256,
        SaslMechanism::ScramSha512 => ScramMechanism::Sha512,
        SaslMechanism::OAuthBearer => return Err("OAUTHBEARER is not used between brokers".into()),
    };
    let mut client =
        ScramClient::new(scram, &login.username, &login.password).map_err(|e| e.to_string())?;
    let server_first = authenticate(conn, 1, client.first_message(), login).await?;
    let last = client
        .final_message(&server_first)
        .map_err(|e| e.to_string())?;
    let server_final = authenticate(conn, 2, last, login).await?;
    client
        .verify_final(&server_final)
        .map_err(|e| e.to_string())
}

/// One SaslAuthenticate round: the server's answer bytes, or why it refused.
async fn authenticate(
    conn: &mut Conn,
    correlation: i32,
    token: Vec<u8>,
    login: &Login,
) -> Result<Bytes, String> {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    let answer: SaslAuthenticateResponse =
        exchange(conn, ApiKey::SaslAuthenticate, 2, correlation, &req).await?;
    if answer.error_code != 0 {
        return Err(format!(
            "refused as {} (error {}: {})",
            login.username,
            answer.error_code,
            answer.error_message.as_deref().unwrap_or("")
        ));
    }
    Ok(answer.auth_bytes)
}

/// One request and its answer on `conn`.
async fn exchange<Req: Encodable, Resp: kafka_protocol::protocol::Decodable>(
    conn: &mut Conn,
    api: ApiKey,
    version: i16,
    correlation: i32,
    req: &Req,
) -> Result<Resp, String> {
    let frame = encode_request(api, version, correlation, "rafka-inter-broker", req)?;
    conn.write_all(&frame).await.map_err(|e| e.to_string())?;
    conn.flush().await.map_err(|e| e.to_string())?;
    read_response(conn, api, version, correlation, MAX_SASL_RESPONSE).await
}
