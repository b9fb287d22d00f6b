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
    Handshake(#[source] io::Error),
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

impl TlsError {
    /// The peer closed or reset the connection during the handshake without saying
    /// anything wrong (a TCP health probe, a load balancer): not worth an info line.
    pub fn is_peer_gone(&self) -> bool {
        matches!(self, TlsError::Handshake(e) if matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ))
    }
}

/// One SSL listener's TLS: its current rustls configuration (reloaded when a store file
/// changes) and its principal mapping.
pub struct ServerTls {
    listener: String,
    ssl: Arc<SslConfig>,
    mapper: PrincipalMapper,
    state: Mutex<State>,
}

struct State {
    loaded: Loaded,
    /// The store files as they were when last looked at, whether that load was taken
    /// or refused: a file is read again only once it changes again.
    seen: Vec<Stamp>,
}

/// A loaded configuration, and what Kafka compares before taking a new keystore.
struct Loaded {
    config: Arc<ServerConfig>,
    /// The server certificate's subject and subject alternative names (the extension's
    /// bytes); `None` if the certificate cannot be read for them.
    leaf: Option<(String, Option<Vec<u8>>)>,
}

/// What a store file looked like: modification time, size and inode (`None`: missing).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    seen: Option<(Option<SystemTime>, u64, u64)>,
}

impl Stamp {
    fn of(path: &Path) -> Stamp {
        Stamp {
            path: path.to_path_buf(),
            seen: fs::metadata(path)
                .ok()
                .map(|m| (m.modified().ok(), m.len(), m.ino())),
        }
    }
}

impl ServerTls {
    /// Loads the listener's stores; an error names what is wrong.
    pub fn new(listener: &str, ssl: Arc<SslConfig>) -> Result<ServerTls, TlsError> {
        let mapper = PrincipalMapper::parse(&ssl.principal_mapping_rules)
            .map_err(|reason| TlsError::Config(format!("ssl.principal.mapping.rules: {reason}")))?;
        let seen = stamps(&ssl);
        let loaded = load(&ssl)?;
        Ok(ServerTls {
            listener: listener.to_string(),
            ssl,
            mapper,
            state: Mutex::new(State { loaded, seen }),
        })
    }

    /// The configuration to handshake with: the current one, reloaded first if a store
    /// file changed since it was last looked at. As Kafka's reconfiguration, a keystore
    /// whose certificate has another subject or other subject alternative names is
    /// refused unless `ssl.allow.dn.changes` / `ssl.allow.san.changes` allow it.
    fn config(&self) -> Arc<ServerConfig> {
        let mut state = self.state.lock();
        let now = stamps(&self.ssl);
        if now != state.seen {
            // stamped before the read: a change during it is seen on the next connection
            state.seen = now;
            match load(&self.ssl).and_then(|new| self.compatible(&state.loaded, new)) {
                Ok(loaded) => {
                    info!(listener = %self.listener, "TLS certificates reloaded");
                    state.loaded = loaded;
                }
                // keep the last good ones; tried again when a file changes again
                Err(e) => warn!(
                    listener = %self.listener,
                    cause = %e,
                    "TLS store changed but cannot be taken; serving the previous certificates"
                ),
            }
        }
        Arc::clone(&state.loaded.config)
    }

    /// `new`, if its certificate may replace `old`'s (Kafka's
    /// `CertificateEntries.ensureCompatible`).
    fn compatible(&self, old: &Loaded, new: Loaded) -> Result<Loaded, TlsError> {
        let (Some((old_dn, old_san)), Some((new_dn, new_san))) = (&old.leaf, &new.leaf) else {
            return Ok(new);
        };
        if !self.ssl.allow_dn_changes && old_dn != new_dn {
            return Err(TlsError::Config(format!(
                "the new certificate's subject {new_dn} is not {old_dn} \
                 (ssl.allow.dn.changes=true allows it)"
            )));
        }
        if !self.ssl.allow_san_changes && old_san != new_san {
            return Err(TlsError::Config(
                "the new certificate's subject alternative names differ \
                 (ssl.allow.san.changes=true allows it)"
                    .into(),
            ));
        }
        Ok(new)
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
    let (chain, key, what) = keystore(ssl)?;
    let leaf = chain.first().and_then(|c| leaf_names(c));
    let provider = Arc::new(provider(&ssl.cipher_suites)?);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(ssl))
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (ssl.client_auth, &ssl.truststore) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        // never served without the check asked for (config::ssl refuses this too)
        (_, None) => {
            return Err(TlsError::Config(
                "ssl.client.auth asks for client certificates but there is no truststore".into(),
            ))
        }
        (auth, Some(store)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(store)?),
                Arc::clone(&provider),
            );
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
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("{what}: {e}")))?;
    Ok(Loaded {
        config: Arc::new(config),
        leaf,
    })
}

/// The keystore's certificate chain and private key, and what to call the store in errors.
type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

fn keystore(ssl: &SslConfig) -> Result<KeyPair, TlsError> {
    let (chain_pem, key_pem, what) = match &ssl.keystore {
        KeyStore::File(path) => {
            let bytes = read(path)?;
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
    Ok((chain, key, what))
}

/// The CA certificates of a truststore.
fn roots(store: &TrustStore) -> Result<RootCertStore, TlsError> {
    let (pem, what) = match store {
        TrustStore::File(path) => (read(path)?, path.display().to_string()),
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
    Ok(roots)
}

/// The TLS of this broker's connections to another broker's SSL or SASL_SSL listener
/// `ssl` (the inter-broker one, configured alike on every broker, as Kafka's brokers use
/// their listener's stores as clients too): the other's certificate checked against the
/// truststore, host name included (Kafka's default `ssl.endpoint.identification.algorithm=https`),
/// and the keystore's certificate shown when the other asks for one.
pub fn client_config(ssl: &SslConfig) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let store = ssl.truststore.as_ref().ok_or_else(|| {
        TlsError::Config("an inter-broker SSL listener needs a truststore".into())
    })?;
    let provider = Arc::new(provider(&ssl.cipher_suites)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(ssl))
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(store)?);
    let (chain, key, what) = keystore(ssl)?;
    let config = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("{what}: {e}")))?;
    Ok(Arc::new(config))
}

/// The TLS versions `ssl.enabled.protocols` allows.
fn versions(ssl: &SslConfig) -> Vec<&'static SupportedProtocolVersion> {
    ssl.enabled_protocols
        .iter()
        .map(|v| match v {
            TlsVersion::V1_2 => &rustls::version::TLS12,
            TlsVersion::V1_3 => &rustls::version::TLS13,
        })
        .collect()
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
    for name in names {
        if !provider.cipher_suites.iter().any(|s| *name == iana(s)) {
            warn!(suite = %name, "ssl.cipher.suites names a suite rustls does not speak; left out");
        }
    }
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

/// The store files a listener reads, as they are now.
fn stamps(ssl: &SslConfig) -> Vec<Stamp> {
    let keystore = match &ssl.keystore {
        KeyStore::File(path) => Some(path),
        KeyStore::Inline { .. } => None,
    };
    let truststore = match (&ssl.truststore, ssl.client_auth) {
        (Some(TrustStore::File(path)), ClientAuth::Requested | ClientAuth::Required) => Some(path),
        _ => None,
    };
    keystore
        .into_iter()
        .chain(truststore)
        .map(|p| Stamp::of(p))
        .collect()
}

/// A certificate's subject (RFC 2253) and its subject alternative names extension.
fn leaf_names(cert: &CertificateDer<'_>) -> Option<(String, Option<Vec<u8>>)> {
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let tbs = &cert.tbs_certificate;
    let san = tbs.extensions.as_ref().and_then(|exts| {
        exts.iter()
            .find(|e| e.extn_id.to_string() == "2.5.29.17")
            .map(|e| e.extn_value.as_bytes().to_vec())
    });
    Some((rfc2253(&tbs.subject), san))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
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

    /// A self-signed keystore (key then certificate) and a client certificate whose
    /// subject is, in DER order, C=US, O=Rafka, OU=eng, CN=client one: made here, with
    /// rcgen, so no key is committed.
    fn certificates(dir: &Path) -> (PathBuf, CertificateDer<'static>) {
        use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
        let key = KeyPair::generate().expect("key");
        let server = CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("server");
        let keystore = dir.join("server.pem");
        std::fs::write(
            &keystore,
            format!("{}{}", key.serialize_pem(), server.pem()),
        )
        .expect("write");
        let mut client = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "Rafka");
        dn.push(DnType::OrganizationalUnitName, "eng");
        dn.push(DnType::CommonName, "client one");
        client.distinguished_name = dn;
        let client = client.self_signed(&key).expect("client");
        (keystore, client.der().clone())
    }

    /// Kafka's `DefaultKafkaPrincipalBuilder` on a client certificate whose subject Java
    /// writes `CN=client one,OU=eng,O=Rafka,C=US` (as `openssl x509 -subject -nameopt
    /// RFC2253` does).
    #[test]
    fn a_client_certificate_names_its_principal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keystore, cert) = certificates(dir.path());
        let ssl = |rules: &str| {
            Arc::new(SslConfig {
                keystore: KeyStore::File(keystore.clone()),
                truststore: None,
                client_auth: ClientAuth::None,
                enabled_protocols: vec![TlsVersion::V1_3],
                cipher_suites: Vec::new(),
                principal_mapping_rules: rules.to_string(),
                allow_dn_changes: false,
                allow_san_changes: false,
            })
        };
        let principal = |rules: &str| {
            ServerTls::new("SSL", ssl(rules))
                .expect("loads")
                .principal_of(&cert)
                .map(|p| p.to_string())
        };
        assert_eq!(
            principal("DEFAULT").expect("default"),
            "User:CN=client one,OU=eng,O=Rafka,C=US"
        );
        assert_eq!(
            principal("RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U").expect("rule"),
            "User:CLIENT ONE@ENG"
        );
        assert!(matches!(
            principal("RULE:^CN=admin$/admin/"),
            Err(TlsError::NoMatchingRule { subject }) if subject == "CN=client one,OU=eng,O=Rafka,C=US"
        ));
    }

    #[test]
    fn cipher_suites_by_their_iana_names() {
        let p = provider(&["TLS_AES_256_GCM_SHA384".to_string()]).expect("known");
        assert_eq!(p.cipher_suites.len(), 1);
        let err = provider(&["TLS_RSA_WITH_NULL_SHA".to_string()]).expect_err("unknown");
        assert!(err.to_string().contains("TLS_AES_128_GCM_SHA256"), "{err}");
    }
}
