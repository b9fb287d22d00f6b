//! Kafka's `ssl.*` keys for a listener whose security protocol is SSL: where its
//! certificate and key are, which clients it trusts, whether it asks them for a
//! certificate, which TLS versions and cipher suites it speaks, and how a client
//! certificate's subject becomes a principal.
//!
//! Each key is read as Kafka reads it: `listener.name.<listener>.ssl.<key>` (the listener
//! name in lower case) wins over `ssl.<key>`. Only PEM stores exist here (Kafka's
//! `ssl.keystore.type=PEM`, KIP-651): a JKS or PKCS12 store is refused with a message
//! that says how to convert it. The files are read when the listener starts
//! ([`crate::security::tls`]), not here, so a wrong path is reported with the listener's
//! name at start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{invalid, ConfigError};

/// Every `ssl.*` key a listener reads (also under `listener.name.<listener>.`).
const KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
    "ssl.principal.mapping.rules",
    "ssl.allow.dn.changes",
    "ssl.allow.san.changes",
    "ssl.engine.factory.class",
];

/// Kafka's `ssl.*` keys that say nothing Rafka's TLS needs (Java's providers, algorithms;
/// the client-side host check, always on, with a warning when set empty): accepted and
/// ignored.
const IGNORED: &[&str] = &[
    "ssl.protocol",
    "ssl.provider",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.endpoint.identification.algorithm",
];

/// Whether `key` is an `ssl.*` key, bare or under `listener.name.<listener>.`: the
/// properties loop leaves those to [`parse`].
pub(super) fn is_ssl_key(key: &str) -> bool {
    let bare = match key.strip_prefix("listener.name.") {
        Some(rest) => rest.split_once('.').map_or("", |(_, k)| k),
        None => key,
    };
    KEYS.contains(&bare) || IGNORED.contains(&bare)
}

/// Where a listener's certificate chain and private key come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyStore {
    /// `ssl.keystore.location`: one PEM file holding the private key and the certificate
    /// chain (leaf first).
    File(PathBuf),
    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key`: PEM text in the
    /// configuration itself.
    Inline {
        certificate_chain: String,
        key: String,
    },
}

// the key is never printed
impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyStore::File(path) => f.debug_tuple("File").field(path).finish(),
            KeyStore::Inline { .. } => f.write_str("Inline { .. }"),
        }
    }
}

/// Which certificate authorities a listener trusts for client certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustStore {
    /// `ssl.truststore.location`: a PEM file of CA certificates.
    File(PathBuf),
    /// `ssl.truststore.certificates`: PEM text in the configuration itself.
    Inline(String),
}

/// `ssl.client.auth`: whether a client is asked for a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Kafka's default: no client certificate is asked for; the principal is ANONYMOUS.
    #[default]
    None,
    /// Asked for; a client without one is let in as ANONYMOUS, one with a certificate the
    /// truststore does not vouch for is refused.
    Requested,
    /// A client without a certificate the truststore vouches for is refused.
    Required,
}

/// A TLS version a listener may speak (`ssl.enabled.protocols`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLSv1.2`
    V1_2,
    /// `TLSv1.3`
    V1_3,
}

/// One SSL listener's settings, as read from Kafka's keys. (`ssl.key.password`, for an
/// encrypted private key, is refused for now: the error says how to decrypt the key.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslConfig {
    pub keystore: KeyStore,
    /// `None`: no truststore, so a client certificate cannot be checked; with
    /// `ssl.client.auth` other than `none` that is an error at start.
    pub truststore: Option<TrustStore>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols` (Kafka's default: `TLSv1.2,TLSv1.3`), the versions rustls
    /// speaks among them; never empty.
    pub enabled_protocols: Vec<TlsVersion>,
    /// `ssl.cipher.suites` (IANA names, as Java's); empty: the TLS library's defaults.
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules` (Kafka's default: `DEFAULT`), checked at start.
    pub principal_mapping_rules: String,
    /// `ssl.allow.dn.changes` (false): a reloaded keystore may have another subject.
    pub allow_dn_changes: bool,
    /// `ssl.allow.san.changes` (false): a reloaded keystore may have other subject
    /// alternative names.
    pub allow_san_changes: bool,
}

/// Reads the `ssl.*` keys of the listener `listener` (upper case, as
/// [`super::ListenerConfig::name`]). On a SASL_SSL listener (`sasl`) only the listener's
/// own `listener.name.<listener>.ssl.client.auth` asks clients for certificates, as in
/// Kafka (KIP-684): the bare `ssl.client.auth` is for SSL listeners.
pub fn parse(
    props: &BTreeMap<String, String>,
    listener: &str,
    sasl: bool,
) -> Result<SslConfig, ConfigError> {
    let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
    // (the key as found, its value)
    let get = |key: &str| -> Option<(String, &str)> {
        let scoped = format!("{prefix}{key}");
        if let Some(v) = props.get(&scoped) {
            return Some((scoped, v.trim()));
        }
        props.get(key).map(|v| (key.to_string(), v.trim()))
    };

    if let Some((k, "")) = get("ssl.endpoint.identification.algorithm") {
        // Kafka's way to stop a client checking the host name in a server's certificate;
        // a broker connecting to another's listener always checks it here
        tracing::warn!(
            key = %k,
            "ignored: a broker always checks the host name or IP in the certificate of \
             another broker's listener"
        );
    }
    for store in ["ssl.keystore.type", "ssl.truststore.type"] {
        if let Some((k, v)) = get(store) {
            if !v.eq_ignore_ascii_case("PEM") {
                return Err(invalid(
                    &k,
                    v,
                    "Rafka reads PEM stores only (Kafka's ssl.keystore.type=PEM): convert a \
                     JKS or PKCS12 store with `keytool -importkeystore -deststoretype \
                     PKCS12` then `openssl pkcs12 -nodes`, and set the type to PEM",
                ));
            }
        }
    }
    // as Kafka: a PEM store has no store password, only the key's
    for key in ["ssl.keystore.password", "ssl.truststore.password"] {
        if let Some((k, _)) = get(key) {
            return Err(invalid(
                &k,
                "(hidden)",
                "a PEM store has no password; leave it out",
            ));
        }
    }
    if let Some((k, _)) = get("ssl.key.password") {
        return Err(invalid(
            &k,
            "(hidden)",
            "encrypted private keys are not read yet: decrypt the key with `openssl pkcs8 \
             -in KEY -out KEY.plain`, keep that file private, and leave ssl.key.password out",
        ));
    }
    if let Some((k, v)) = get("ssl.engine.factory.class") {
        return Err(invalid(
            &k,
            v,
            "Rafka's TLS is rustls; no Java SSL engine can be plugged in",
        ));
    }
    let location = get("ssl.keystore.location");
    let chain = get("ssl.keystore.certificate.chain");
    let key = get("ssl.keystore.key");
    let keystore = match (location, chain, key) {
        (Some((k, v)), None, None) => {
            if v.is_empty() {
                return Err(invalid(&k, v, "empty"));
            }
            KeyStore::File(PathBuf::from(v))
        }
        (None, Some((_, c)), Some((_, k))) => KeyStore::Inline {
            certificate_chain: c.to_string(),
            key: k.to_string(),
        },
        (Some((k, v)), _, _) => {
            return Err(invalid(
                &k,
                v,
                "give either ssl.keystore.location or ssl.keystore.certificate.chain with \
                 ssl.keystore.key, not both",
            ))
        }
        (None, Some((k, _)), None) | (None, None, Some((k, _))) => {
            return Err(invalid(
                &k,
                "(PEM)",
                "ssl.keystore.certificate.chain and ssl.keystore.key go together",
            ))
        }
        (None, None, None) => {
            return Err(ConfigError::Missing {
                key: format!("{prefix}ssl.keystore.location"),
                reason: format!(
                    "listener {listener} is SSL: give its certificate and key (a PEM file \
                     with ssl.keystore.type=PEM, or ssl.keystore.certificate.chain and \
                     ssl.keystore.key)"
                ),
            })
        }
    };
    let truststore = match (
        get("ssl.truststore.location"),
        get("ssl.truststore.certificates"),
    ) {
        (Some((k, v)), Some(_)) => {
            return Err(invalid(
                &k,
                v,
                "give either ssl.truststore.location or ssl.truststore.certificates, not both",
            ))
        }
        (Some((_, v)), None) if !v.is_empty() => Some(TrustStore::File(PathBuf::from(v))),
        (None, Some((_, v))) if !v.is_empty() => Some(TrustStore::Inline(v.to_string())),
        _ => None,
    };
    let client_auth_key = format!("{prefix}ssl.client.auth");
    let client_auth = get("ssl.client.auth").filter(|(k, _)| !sasl || *k == client_auth_key);
    let client_auth = match client_auth {
        None => ClientAuth::None,
        Some((k, v)) => match v.to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => return Err(invalid(&k, v, "required, requested or none")),
        },
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(ConfigError::Missing {
            key: format!("{prefix}ssl.truststore.location"),
            reason: format!(
                "listener {listener} asks clients for certificates (ssl.client.auth): give \
                 the CAs that sign them (ssl.truststore.type=PEM)"
            ),
        });
    }
    let enabled_protocols = match get("ssl.enabled.protocols") {
        None => vec![TlsVersion::V1_2, TlsVersion::V1_3],
        Some((k, v)) => {
            let mut versions = Vec::new();
            for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match name {
                    "TLSv1.2" => versions.push(TlsVersion::V1_2),
                    "TLSv1.3" => versions.push(TlsVersion::V1_3),
                    // Java's names for versions rustls does not speak (nor do Kafka's
                    // default JVMs enable them any more)
                    "TLSv1" | "TLSv1.1" | "SSLv3" | "SSLv2Hello" => {
                        tracing::warn!(key = %k, protocol = name, "TLS version not served (only TLSv1.2 and TLSv1.3 are)")
                    }
                    _ => return Err(invalid(&k, v, format!("{name}: not a TLS version"))),
                }
            }
            versions.sort();
            versions.dedup();
            if versions.is_empty() {
                return Err(invalid(&k, v, "needs TLSv1.2 or TLSv1.3"));
            }
            versions
        }
    };
    let cipher_suites = get("ssl.cipher.suites")
        .map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let rules = get("ssl.principal.mapping.rules");
    let principal_mapping_rules = rules.as_ref().map_or("DEFAULT", |(_, v)| v).to_string();
    if let Err(reason) = crate::security::PrincipalMapper::parse(&principal_mapping_rules) {
        let key = rules.map_or("ssl.principal.mapping.rules".to_string(), |(k, _)| k);
        return Err(invalid(&key, &principal_mapping_rules, reason));
    }
    let flag = |key: &str| -> Result<bool, ConfigError> {
        match get(key) {
            None => Ok(false),
            Some((k, v)) => super::parse_bool(&k, v),
        }
    };
    Ok(SslConfig {
        keystore,
        truststore,
        client_auth,
        enabled_protocols,
        cipher_suites,
        principal_mapping_rules,
        allow_dn_changes: flag("ssl.allow.dn.changes")?,
        allow_san_changes: flag("ssl.allow.san.changes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> BTreeMap<String, String> {
        crate::config::parse_properties(text)
    }

    #[test]
    fn a_listeners_own_keys_win_over_the_bare_ones() {
        let p = props(
            "ssl.keystore.type=PEM\nssl.keystore.location=/all.pem\n\
             listener.name.external.ssl.keystore.location=/external.pem\n\
             ssl.truststore.location=/ca.pem\nssl.client.auth=required\n",
        );
        let ext = parse(&p, "EXTERNAL", false).expect("external");
        assert_eq!(ext.keystore, KeyStore::File("/external.pem".into()));
        assert_eq!(ext.client_auth, ClientAuth::Required);
        assert_eq!(ext.truststore, Some(TrustStore::File("/ca.pem".into())));
        let other = parse(&p, "SSL", false).expect("ssl");
        assert_eq!(other.keystore, KeyStore::File("/all.pem".into()));
        assert_eq!(
            other.enabled_protocols,
            vec![TlsVersion::V1_2, TlsVersion::V1_3]
        );
        assert_eq!(other.principal_mapping_rules, "DEFAULT");
    }

    /// KIP-684: a SASL_SSL listener asks for client certificates only when its own
    /// `listener.name.<l>.ssl.client.auth` says so.
    #[test]
    fn sasl_ssl_takes_only_its_own_client_auth() {
        let p = props(
            "ssl.keystore.location=/k.pem\nssl.truststore.location=/ca.pem\n\
             ssl.client.auth=required\n",
        );
        assert_eq!(
            parse(&p, "SASL_SSL", true).expect("ok").client_auth,
            ClientAuth::None
        );
        assert_eq!(
            parse(&p, "SSL", false).expect("ok").client_auth,
            ClientAuth::Required
        );
        let mut p = p;
        p.insert(
            "listener.name.sasl_ssl.ssl.client.auth".into(),
            "requested".into(),
        );
        assert_eq!(
            parse(&p, "SASL_SSL", true).expect("ok").client_auth,
            ClientAuth::Requested
        );
    }

    #[test]
    fn what_cannot_be_served_is_refused() {
        let err = |text: &str| {
            parse(&props(text), "SSL", false)
                .expect_err(text)
                .to_string()
        };
        assert!(err("").contains("ssl.keystore.location"));
        assert!(err("ssl.keystore.type=JKS\nssl.keystore.location=/k.jks\n").contains("PEM"));
        assert!(
            err("ssl.keystore.location=/k.pem\nssl.client.auth=required\n").contains("truststore")
        );
        assert!(err("ssl.keystore.location=/k.pem\nssl.client.auth=maybe\n")
            .contains("required, requested or none"));
        assert!(
            err("ssl.keystore.location=/k.pem\nssl.enabled.protocols=TLSv1.1\n")
                .contains("TLSv1.2 or TLSv1.3")
        );
        assert!(err("ssl.keystore.certificate.chain=x\n").contains("go together"));
        assert!(
            err("ssl.keystore.location=/k.pem\nssl.principal.mapping.rules=RULE:x\n")
                .contains("ssl.principal.mapping.rules")
        );
        assert!(
            err("ssl.keystore.location=/k.pem\nssl.keystore.password=x\n").contains("no password")
        );
        assert!(err("ssl.keystore.location=/k.pem\nssl.key.password=x\n").contains("decrypt"));
        assert!(
            err("ssl.keystore.location=/k.pem\nssl.engine.factory.class=a.B\n").contains("rustls")
        );
        let ok = parse(
            &props("ssl.keystore.location=/k.pem\nssl.enabled.protocols=TLSv1.3, TLSv1.1\n"),
            "SSL",
            false,
        )
        .expect("1.3");
        assert_eq!(ok.enabled_protocols, vec![TlsVersion::V1_3]);
    }

    #[test]
    fn ssl_keys_are_recognised_bare_and_per_listener() {
        assert!(is_ssl_key("ssl.keystore.location"));
        assert!(is_ssl_key("listener.name.external.ssl.client.auth"));
        assert!(is_ssl_key("ssl.endpoint.identification.algorithm"));
        assert!(!is_ssl_key(
            "listener.name.external.sasl.enabled.mechanisms"
        ));
        assert!(!is_ssl_key("ssl.nonsense"));
    }
}
