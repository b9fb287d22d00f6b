//! Who is on the other end of a connection: TLS on a listener ([`tls`]: the server's
//! certificate, client certificates, reloading) and the principal a connection acts as
//! ([`principal`]: Kafka's principal, a certificate subject named as Java names it, and
//! `ssl.principal.mapping.rules`).
//!
//! Owns no socket and no request: the server hands an accepted TCP stream to
//! [`tls::ServerTls::accept`] and gets back the encrypted stream and its principal, which
//! the Kafka connection then carries in every request's context. SASL mechanisms
//! ([`sasl`]; SCRAM in [`scram`]) turn a client's tokens into a principal; the Kafka connection's
//! authenticator ([`crate::kafka::sasl`]) carries them. ACLs and the authorizer's
//! decisions are in [`acl`].

pub mod acl;
pub mod oauthbearer;
pub mod principal;
pub mod sasl;
pub mod scram;
pub mod tls;

pub use principal::{KafkaPrincipal, PrincipalMapper};
pub use sasl::{SaslError, SaslServer, SaslStep};
pub use scram::{ScramCredential, ScramCredentials, ScramMechanism};
pub use tls::{ServerTls, TlsError};
