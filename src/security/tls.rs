//! TLS on an SSL listener, with rustls: the server's certificate chain and key, the CAs
//! that client certificates must chain to, the TLS versions and cipher suites, and the
//! principal of each connection.
//!
//! Certificates are reloaded without a restart: before each handshake the store files'
//! modification time, size and inode are compared with those last loaded, and a changed
//! file is read again (replace it with `mv` for an atomic switch). A store that no longer
//! parses (a half-written file) is not taken: the listener keeps its last good
//! certificates, logs a warning, and tries again on the next connection. Connections
//! already open keep the session they made.
//!
//! A client that does not finish its handshake within `socket.request.receive.timeout.ms`
//! is closed. A handshake that fails (no certificate where one is required, one the
//! truststore does not vouch for, a version the listener does not speak) closes the
//! connection before any Kafka request is read, logged at info as Kafka logs it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};
use x509_cert::der::Decode;

use super::principal::{rfc2253, KafkaPrincipal, PrincipalMapper};
use crate::config::{ClientAuth, KeyStore, SslConfig, TlsVersion, TrustStore};

/// Why a listener's TLS cannot start, or a connection's handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A store file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// A store holds no usable PEM of the kind needed.
    #[error("{what}: {reason}")]
    Pem { what: String, reason: String },
    /// The private key is encrypted (`ssl.key.password`), which is not read yet.
    #[error(
        "{what}: the private key is encrypted (ssl.key.password); Rafka reads unencrypted \
         PKCS#8 keys only for now: decrypt it with `openssl pkcs8 -in KEY -out KEY.plain` \
         and keep that file private"
    )]
    EncryptedKey { what: String },
    /// rustls refused the configuration (a key that does not fit the certificate, no
    /// cipher suite left).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The handshake failed (or the peer left during it).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The handshake did not finish in time.
    #[error("TLS handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),
    /// The client's certificate cannot be read to name its principal.
    #[error("client certificate unreadable: {0}")]
    Certificate(String),
    /// No `ssl.principal.mapping.rules` rule matches the client's subject.
    #[error("no ssl.principal.mapping.rules rule applies to {subject}")]
    NoMatchingRule { subject: String },
}

/// One SSL listener's TLS: its current rustls configuration (reloaded when a store file
/// changes) and its principal mapping.
pub struct ServerTls {
    listener: String,
    ssl: Arc<SslConfig>,
    mapper: PrincipalMapper,
    current: Mutex<Loaded>,
}

/// A loaded configuration and the files it was loaded from.
struct Loaded {
    config: Arc<ServerConfig>,
    stamps: Vec<Stamp>,
}

/// What a store file looked like when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = fs::metadata(path).ok()?;
        Some(Stamp {
            path: path.to_path_buf(),
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        })
    }
}

impl ServerTls {
    /// Loads the listener's stores; an error names what is wrong.
    pub fn new(listener: &str, ssl: Arc<SslConfig>) -> Result<ServerTls, TlsError> {
        let mapper = PrincipalMapper::parse(&ssl.principal_mapping_rules).map_err(|reason| {
            TlsError::Pem {
                what: "ssl.principal.mapping.rules".into(),
                reason,
            }
        })?;
        let loaded = load(&ssl)?;
        Ok(ServerTls {
            listener: listener.to_string(),
            ssl,
            mapper,
            current: Mutex::new(loaded),
        })
    }

    /// The configuration to handshake with: the current one, reloaded first if a store
    /// file changed since it was read.
    fn config(&self) -> Arc<ServerConfig> {
        let mut current = self.current.lock();
        let changed = current
            .stamps
            .iter()
            .any(|s| Stamp::of(&s.path).as_ref() != Some(s));
        if changed {
            match load(&self.ssl) {
                Ok(loaded) => {
                    info!(listener = %self.listener, "TLS certificates reloaded");
                    *current = loaded;
                }
                // keep the last good ones; the next connection tries again
                Err(e) => warn!(
                    listener = %self.listener,
                    cause = %e,
                    "TLS store changed but cannot be loaded; serving the previous certificates"
                ),
            }
        }
        Arc::clone(&current.config)
    }

    /// The TLS handshake on an accepted connection, within `timeout`, and the principal
    /// it authenticates (`User:ANONYMOUS` without a client certificate).
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<(TlsStream<TcpStream>, KafkaPrincipal), TlsError> {
        let acceptor = TlsAcceptor::from(self.config());
        let stream = tokio::time::timeout(timeout, acceptor.accept(stream))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(TlsError::Handshake)?;
        let principal = match stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
        {
            None => KafkaPrincipal::anonymous(),
            Some(cert) => self.principal_of(cert)?,
        };
        Ok((stream, principal))
    }

    /// `User:<name>` for a verified client certificate, its subject mapped by the rules.
    fn principal_of(&self, cert: &CertificateDer<'_>) -> Result<KafkaPrincipal, TlsError> {
        let cert = x509_cert::Certificate::from_der(cert.as_ref())
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let subject = rfc2253(&cert.tbs_certificate.subject);
        match self.mapper.name(&subject) {
            Some(name) => Ok(KafkaPrincipal::user(name)),
            None => Err(TlsError::NoMatchingRule { subject }),
        }
    }
}

/// Reads the stores and builds the rustls configuration.
fn load(ssl: &SslConfig) -> Result<Loaded, TlsError> {
    let mut stamps = Vec::new();
    let (chain_pem, key_pem, what) = match &ssl.keystore {
        KeyStore::File(path) => {
            let bytes = read(path, &mut stamps)?;
            (bytes.clone(), bytes, path.display().to_string())
        }
        KeyStore::Inline {
            certificate_chain,
            key,
        } => (
            normalize_pem(certificate_chain),
            normalize_pem(key),
            "ssl.keystore.certificate.chain".to_string(),
        ),
    };
    let chain = certificates(&chain_pem, &what)?;
    if contains(&key_pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(TlsError::EncryptedKey { what });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        what: what.clone(),
        reason: format!("no private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
    })?;

    let provider = Arc::new(provider(&ssl.cipher_suites)?);
    let versions: Vec<&'static SupportedProtocolVersion> = ssl
        .enabled_protocols
        .iter()
        .map(|v| match v {
            TlsVersion::V1_2 => &rustls::version::TLS12,
            TlsVersion::V1_3 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (ssl.client_auth, &ssl.truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(store)) => {
            let (pem, what) = match store {
                TrustStore::File(path) => (read(path, &mut stamps)?, path.display().to_string()),
                TrustStore::Inline(text) => (
                    normalize_pem(text),
                    "ssl.truststore.certificates".to_string(),
                ),
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates(&pem, &what)? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    what: what.clone(),
                    reason: format!("not a CA certificate rustls can use: {e}"),
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("{what}: {e}")))?;
    // Kafka speaks no ALPN; nor is a session ticket key worth its rotation here
    config.alpn_protocols.clear();
    Ok(Loaded {
        config: Arc::new(config),
        stamps,
    })
}

/// rustls on ring: ring builds with nothing but a C compiler, in seconds, where aws-lc
/// (rustls' default, with post-quantum key exchange) needs cmake and minutes. Java 17's
/// Kafka clients offer no post-quantum group either.
#[allow(deprecated)]
pub fn ring_provider() -> CryptoProvider {
    ring::default_provider()
}

/// ring's provider, its cipher suites narrowed to `ssl.cipher.suites` when given (IANA
/// names, as Java's: `TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`).
fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = ring_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let iana = |s: &rustls::SupportedCipherSuite| {
        // rustls names TLS 1.3's suites TLS13_*, IANA TLS_*
        let name = format!("{:?}", s.suite());
        match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name,
        }
    };
    provider
        .cipher_suites
        .retain(|s| names.iter().any(|n| *n == iana(s)));
    if provider.cipher_suites.is_empty() {
        let known: Vec<String> = ring_provider().cipher_suites.iter().map(iana).collect();
        return Err(TlsError::Config(format!(
            "ssl.cipher.suites names none Rafka speaks ({})",
            known.join(", ")
        )));
    }
    Ok(provider)
}

fn read(path: &Path, stamps: &mut Vec<Stamp>) -> Result<Vec<u8>, TlsError> {
    // stamped before the read: a change during it is seen on the next connection
    if let Some(stamp) = Stamp::of(path) {
        stamps.push(stamp);
    }
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_string(),
            reason: format!("bad PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_string(),
            reason: "no certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PEM given in a configuration value, where a `.properties` file's line continuations
/// may have joined its lines with spaces (as Kafka's own parser allows): each block's
/// base64 is taken without its whitespace and written out again on lines of 64.
fn normalize_pem(text: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after_begin = rest.get(start + 11..).unwrap_or("");
        let Some(label_end) = after_begin.find("-----") else {
            break;
        };
        let label = after_begin.get(..label_end).unwrap_or("");
        let body_start = after_begin.get(label_end + 5..).unwrap_or("");
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            break;
        };
        let body: String = body_start
            .get(..body_end)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        for line in body.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str(&end_marker);
        out.push('\n');
        rest = body_start.get(body_end + end_marker.len()..).unwrap_or("");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_joined_by_line_continuations_is_read() {
        let pem = "-----BEGIN CERTIFICATE----- QUJD REVG\n  R0hJ -----END CERTIFICATE-----";
        assert_eq!(
            String::from_utf8(normalize_pem(pem)).expect("utf8"),
            "-----BEGIN CERTIFICATE-----\nQUJDREVGR0hJ\n-----END CERTIFICATE-----\n"
        );
    }

    #[test]
    fn cipher_suites_by_their_iana_names() {
        let p = provider(&["TLS_AES_256_GCM_SHA384".to_string()]).expect("known");
        assert_eq!(p.cipher_suites.len(), 1);
        let err = provider(&["TLS_RSA_WITH_NULL_SHA".to_string()]).expect_err("unknown");
        assert!(err.to_string().contains("TLS_AES_128_GCM_SHA256"), "{err}");
    }
}
