//! SASL mechanisms, server side: a client's tokens in, the server's tokens and in the end
//! a principal out. No sockets and no Kafka framing: the Kafka connection's authenticator
//! ([`crate::kafka::sasl`]) carries the tokens in SaslHandshake / SaslAuthenticate.
//!
//! PLAIN (RFC 4616) checks a user name and password against the listener's JAAS users,
//! as Kafka's `PlainServerCallbackHandler` does; passwords are compared in constant time.
//! OAUTHBEARER (RFC 7628) takes Kafka's unsecured tokens ([`super::oauthbearer`]): a
//! refused token gets RFC 7628's JSON error as a challenge, and the exchange fails once
//! the client has acknowledged it (with a lone `0x01`), as in Kafka. SCRAM-SHA-256 and
//! SCRAM-SHA-512 ([`super::scram`]) take two round trips and the user's credential from
//! the [`ScramCredentials`] the exchange is given. The messages a failure
//! sends the client are Kafka's own, and never say whether a user exists.

use subtle::ConstantTimeEq;

use super::oauthbearer;
use super::scram::{ScramCredentials, ScramError, ScramExchange, ScramMechanism, ScramStep};
use crate::config::{SaslConfig, SaslMechanism};
use crate::security::KafkaPrincipal;

/// What one client token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// The exchange goes on: this token goes back, and another is expected.
    Challenge(Vec<u8>),
    /// Authenticated: the last token goes back (empty for PLAIN and OAUTHBEARER, SCRAM's
    /// server-final-message).
    Complete {
        response: Vec<u8>,
        principal: KafkaPrincipal,
        /// When the credential expires, in ms since the epoch (an OAUTHBEARER token's
        /// `exp`): the session ends then at the latest (KIP-368).
        expires_ms: Option<i64>,
    },
}

/// A failed authentication. Its text goes to the client (as Kafka's
/// `SaslAuthenticationException` messages do) and to the broker's log: it never holds a
/// password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SaslError(pub String);

/// One authentication exchange with one mechanism.
#[derive(Debug)]
pub struct SaslServer {
    mechanism: SaslMechanism,
    complete: bool,
    /// OAUTHBEARER: the JSON error sent as a challenge, awaiting the client's `0x01`.
    refused: Option<String>,
    /// SCRAM: the exchange so far.
    scram: Option<ScramExchange>,
}

impl SaslServer {
    pub fn new(mechanism: SaslMechanism) -> Self {
        let scram = match mechanism {
            SaslMechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramMechanism::Sha512),
            SaslMechanism::Plain | SaslMechanism::OAuthBearer => None,
        };
        SaslServer {
            mechanism,
            complete: false,
            refused: None,
            scram: scram.map(ScramExchange::new),
        }
    }

    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// Takes the client's next token; `now_ms` (ms since the epoch) is when, for a token's
    /// expiry; SCRAM looks its users up in `credentials`.
    pub fn evaluate(
        &mut self,
        config: &SaslConfig,
        credentials: &dyn ScramCredentials,
        token: &[u8],
        now_ms: i64,
    ) -> Result<SaslStep, SaslError> {
        if self.complete {
            return Err(SaslError(
                "Authentication failed: the exchange is already complete".into(),
            ));
        }
        let step = match self.mechanism {
            SaslMechanism::Plain => plain(config, token)?,
            SaslMechanism::OAuthBearer => self.oauthbearer(config, token, now_ms)?,
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                self.scram(credentials, token)?
            }
        };
        if matches!(step, SaslStep::Complete { .. }) {
            self.complete = true;
        }
        Ok(step)
    }
}

impl SaslServer {
    /// RFC 5802, as Kafka's `ScramSaslServer`: its refusals read as its generic message.
    fn scram(
        &mut self,
        credentials: &dyn ScramCredentials,
        message: &[u8],
    ) -> Result<SaslStep, SaslError> {
        let Some(exchange) = self.scram.as_mut() else {
            return Err(SaslError(invalid_credentials(self.mechanism)));
        };
        match exchange.evaluate(message, credentials) {
            Ok(ScramStep::ServerFirst(first)) => Ok(SaslStep::Challenge(first)),
            Ok(ScramStep::Complete { server_final, user }) => Ok(SaslStep::Complete {
                response: server_final,
                principal: KafkaPrincipal::user(user),
                expires_ms: None,
            }),
            Err(ScramError::Told(message)) => Err(SaslError(message)),
            Err(ScramError::Refused(reason)) => {
                tracing::debug!(mechanism = %self.mechanism, %reason, "SCRAM exchange refused");
                Err(SaslError(invalid_credentials(self.mechanism)))
            }
        }
    }

    /// RFC 7628, as Kafka's `OAuthBearerSaslServer`.
    fn oauthbearer(
        &mut self,
        config: &SaslConfig,
        message: &[u8],
        now_ms: i64,
    ) -> Result<SaslStep, SaslError> {
        if let Some(json) = self.refused.take() {
            if message == [0x01] {
                return Err(SaslError(json));
            }
        }
        // Kafka sends a SaslException's text to no client: its generic message instead
        let generic = || SaslError(invalid_credentials(SaslMechanism::OAuthBearer));
        let first = oauthbearer::initial_response(message).ok_or_else(generic)?;
        match oauthbearer::validate(&first.token, &config.oauthbearer, now_ms) {
            Err(e) => {
                let json = e.json();
                tracing::debug!(reason = %e.reason, "OAUTHBEARER token refused");
                self.refused = Some(json.clone());
                Ok(SaslStep::Challenge(json.into_bytes()))
            }
            Ok(token) => {
                if !first.authorization_id.is_empty() && first.authorization_id != token.principal {
                    return Err(SaslError(format!(
                        "Authentication failed: Client requested an authorization id ({}) that \
                         is different from the token's principal name ({})",
                        first.authorization_id, token.principal
                    )));
                }
                Ok(SaslStep::Complete {
                    response: Vec::new(),
                    principal: KafkaPrincipal::user(token.principal),
                    expires_ms: Some(token.expires_ms),
                })
            }
        }
    }
}

/// Kafka's message for a failure whose reason the client is not told.
fn invalid_credentials(mechanism: SaslMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism {mechanism}"
    )
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`, read as Kafka's `PlainSaslServer` reads
/// it (UTF-8, invalid bytes replaced; exactly three fields).
fn plain(config: &SaslConfig, token: &[u8]) -> Result<SaslStep, SaslError> {
    let text = String::from_utf8_lossy(token);
    let fields: Vec<&str> = text.splitn(4, '\0').collect();
    let [authzid, user, password] = fields[..] else {
        return Err(SaslError(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            fields.len()
        )));
    };
    if user.is_empty() {
        return Err(SaslError(
            "Authentication failed: username not specified".into(),
        ));
    }
    if password.is_empty() {
        return Err(SaslError(
            "Authentication failed: password not specified".into(),
        ));
    }
    // compared as SHA-256 digests, in constant time: neither the password's length nor
    // where it first differs shows in the time taken, and an unknown user costs the same
    let expected = config.plain_users.password(user);
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let matches = digest(password)
        .as_ref()
        .ct_eq(digest(expected.unwrap_or(password)).as_ref());
    if expected.is_none() || !bool::from(matches) {
        return Err(SaslError(
            "Authentication failed: Invalid username or password".into(),
        ));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError(
            "Authentication failed: Client requested an authorization id that is different \
             from username"
                .into(),
        ));
    }
    Ok(SaslStep::Complete {
        response: Vec::new(),
        principal: KafkaPrincipal::user(user),
        expires_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SaslConfig {
        SaslConfig::plain(
            [("alice", "alice-secret"), ("bob", "b")]
                .into_iter()
                .collect(),
        )
    }

    fn run(token: &[u8]) -> Result<SaslStep, SaslError> {
        SaslServer::new(SaslMechanism::Plain).evaluate(&config(), &(), token, 0)
    }

    #[test]
    fn plain_answers_as_kafka() {
        assert_eq!(
            run(b"\0alice\0alice-secret"),
            Ok(SaslStep::Complete {
                response: vec![],
                principal: KafkaPrincipal::user("alice"),
                expires_ms: None
            })
        );
        assert!(run(b"alice\0alice\0alice-secret").is_ok(), "authzid = user");
        let fail = |t: &[u8]| run(t).expect_err("fails").0;
        assert_eq!(
            fail(b"\0alice\0wrong"),
            "Authentication failed: Invalid username or password"
        );
        // an unknown user reads exactly as a wrong password
        assert_eq!(fail(b"\0mallory\0alice-secret"), fail(b"\0alice\0wrong"));
        assert_eq!(
            fail(b"\0\0x"),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            fail(b"\0alice\0"),
            "Authentication failed: password not specified"
        );
        assert_eq!(
            fail(b"alice-secret"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
        );
        assert_eq!(
            fail(b"\0a\0b\0c"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 4"
        );
        assert!(fail(b"bob\0alice\0alice-secret").contains("authorization id"));
        // a password that is a prefix of the right one is wrong
        assert!(run(b"\0alice\0alice-secre").is_err());
    }

    #[test]
    fn one_exchange_completes_once() {
        let config = config();
        let mut s = SaslServer::new(SaslMechanism::Plain);
        assert!(s.evaluate(&config, &(), b"\0bob\0b", 0).is_ok());
        assert!(s.evaluate(&config, &(), b"\0bob\0b", 0).is_err());
    }

    #[test]
    fn oauthbearer_refuses_with_a_json_challenge_then_fails() {
        use base64::Engine;
        let b64 = |j: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j);
        let message = |claims: &str| {
            format!(
                "n,,\u{1}auth=Bearer {}.{}.\u{1}\u{1}",
                b64(r#"{"alg":"none"}"#),
                b64(claims)
            )
        };
        let config = config();
        let now = 1_700_000_000_000;
        let mut s = SaslServer::new(SaslMechanism::OAuthBearer);
        assert_eq!(
            s.evaluate(
                &config,
                &(),
                message(r#"{"sub":"bob","exp":1700000060}"#).as_bytes(),
                now
            ),
            Ok(SaslStep::Complete {
                response: vec![],
                principal: KafkaPrincipal::user("bob"),
                expires_ms: Some(1_700_000_060_000)
            })
        );
        let mut s = SaslServer::new(SaslMechanism::OAuthBearer);
        let expired = message(r#"{"sub":"bob","exp":1600000000}"#);
        assert_eq!(
            s.evaluate(&config, &(), expired.as_bytes(), now),
            Ok(SaslStep::Challenge(
                br#"{"status":"invalid_token"}"#.to_vec()
            ))
        );
        assert_eq!(
            s.evaluate(&config, &(), &[1], now),
            Err(SaslError(r#"{"status":"invalid_token"}"#.into()))
        );
        let mut s = SaslServer::new(SaslMechanism::OAuthBearer);
        assert!(s
            .evaluate(&config, &(), b"not a message", now)
            .expect_err("refused")
            .0
            .contains("invalid credentials with SASL mechanism OAUTHBEARER"));
    }
}
