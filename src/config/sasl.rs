//! Kafka's SASL keys for a listener whose security protocol is SASL_PLAINTEXT or
//! SASL_SSL: which mechanisms it offers (`sasl.enabled.mechanisms`), who may log in with
//! PLAIN (the `user_<name>="<password>"` entries of its JAAS configuration; SCRAM's users
//! are in the metadata, and its JAAS configuration names the login module only), how
//! OAUTHBEARER's unsecured tokens are checked (the `unsecuredValidator*` options), how long a
//! session lasts before the client must re-authenticate (KIP-368,
//! `connections.max.reauth.ms`), how long a failed authentication is held before the
//! connection closes, and how large a frame may be before authentication.
//!
//! Each key is read as Kafka reads it: `listener.name.<listener>.<mechanism>.<key>` (for
//! the JAAS configuration and the session lifetime), then `listener.name.<listener>.<key>`,
//! then `<key>`. A broker's JAAS configuration must be scoped to a listener and a
//! mechanism (`listener.name.sasl_plaintext.plain.sasl.jaas.config`), as in Kafka; the
//! static JAAS file (`java.security.auth.login.config`) is not read.

use std::collections::BTreeMap;
use std::fmt;

use super::{invalid, ConfigError};

/// A SASL mechanism a listener may offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// RFC 4616: a user name and a password, in the clear (use SASL_SSL beyond loopback).
    Plain,
    /// RFC 7628 with Kafka's unsecured tokens (KIP-255): for development, never in
    /// production, as Kafka's own documentation says.
    OAuthBearer,
    /// RFC 5802 / 7677, with the credentials kept in the broker's metadata
    /// (AlterUserScramCredentials).
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// Kafka's (and the IANA registry's) name for it.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Whether `name` names this mechanism (names are case-sensitive, as in Kafka).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        match name {
            "PLAIN" => Some(SaslMechanism::Plain),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            _ => None,
        }
    }

    /// Kafka's JAAS login module for the mechanism.
    fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            SaslMechanism::OAuthBearer => {
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            }
        }
    }

    /// What a JAAS configuration for the mechanism looks like, for error messages.
    fn jaas_example(self) -> String {
        match self {
            SaslMechanism::Plain => format!(
                "{} required user_<name>=\"<password>\" ...;",
                self.login_module()
            ),
            _ => format!("{} required;", self.login_module()),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// PLAIN's users: name and password, from the `user_<name>="<password>"` options of
/// `PlainLoginModule`. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PlainUsers(BTreeMap<String, String>);

impl PlainUsers {
    /// The password `user` logs in with, if it is a user.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.0.get(user).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The user this broker logs in as when it is the client (to another broker's listener):
/// the `username` and `password` options of the mechanism's JAAS entry, as Kafka's login
/// modules take them. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({}, [hidden])", self.username)
    }
}

/// Users built in code (a broker started in-process): `(name, password)` pairs.
impl<N: Into<String>, P: Into<String>> FromIterator<(N, P)> for PlainUsers {
    fn from_iter<I: IntoIterator<Item = (N, P)>>(iter: I) -> Self {
        PlainUsers(
            iter.into_iter()
                .map(|(n, p)| (n.into(), p.into()))
                .collect(),
        )
    }
}

impl SaslConfig {
    /// PLAIN with these users, Kafka's defaults otherwise (no re-authentication, a failed
    /// authentication held 100 ms, 512 KiB frames before authentication).
    pub fn plain(users: PlainUsers) -> Self {
        SaslConfig {
            mechanisms: vec![SaslMechanism::Plain],
            plain_users: users,
            oauthbearer: UnsecuredTokens::default(),
            logins: Vec::new(),
            reauth_ms: vec![(SaslMechanism::Plain, 0)],
            failed_authentication_delay_ms: 100,
            max_receive_size: 524_288,
        }
    }
}

impl fmt::Debug for PlainUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainUsers({} users)", self.0.len())
    }
}

/// How OAUTHBEARER's unsecured tokens are checked: Kafka's
/// `OAuthBearerUnsecuredValidatorCallbackHandler` options, from the listener's
/// `OAuthBearerLoginModule` JAAS entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsecuredTokens {
    /// `unsecuredValidatorPrincipalClaimName` (default `sub`): the claim naming the user.
    pub principal_claim: String,
    /// `unsecuredValidatorScopeClaimName` (default `scope`).
    pub scope_claim: String,
    /// `unsecuredValidatorRequiredScope`: space-separated scopes a token must all have.
    pub required_scope: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs` (default 0).
    pub clock_skew_ms: u64,
}

impl Default for UnsecuredTokens {
    fn default() -> Self {
        UnsecuredTokens {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
        }
    }
}

/// One SASL listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`, in the order given (a SaslHandshake answer lists them
    /// so); never empty.
    pub mechanisms: Vec<SaslMechanism>,
    /// PLAIN's users, when PLAIN is enabled.
    pub plain_users: PlainUsers,
    /// OAUTHBEARER's token checks, when OAUTHBEARER is enabled.
    pub oauthbearer: UnsecuredTokens,
    /// For each mechanism whose JAAS entry names one, who this broker logs in as to
    /// another broker's listener (`sasl.mechanism.inter.broker.protocol`).
    pub logins: Vec<(SaslMechanism, Login)>,
    /// `connections.max.reauth.ms` for each enabled mechanism (0: sessions never expire,
    /// Kafka's default).
    pub reauth_ms: Vec<(SaslMechanism, u64)>,
    /// `connection.failed.authentication.delay.ms` (Kafka's default 100): a failed
    /// authentication's answer, and the close after it, wait this long.
    pub failed_authentication_delay_ms: u64,
    /// `sasl.server.max.receive.size` (Kafka's default 524288): the largest frame read
    /// before a connection has authenticated.
    pub max_receive_size: usize,
}

impl SaslConfig {
    /// Who this broker logs in as with `mechanism`, if its JAAS entry says.
    pub fn login(&self, mechanism: SaslMechanism) -> Option<&Login> {
        self.logins
            .iter()
            .find(|(m, _)| *m == mechanism)
            .map(|(_, l)| l)
    }

    /// The session lifetime for `mechanism` (0: none).
    pub fn reauth_ms(&self, mechanism: SaslMechanism) -> u64 {
        self.reauth_ms
            .iter()
            .find(|(m, _)| *m == mechanism)
            .map_or(0, |(_, ms)| *ms)
    }
}

/// Keys read by [`parse`] (bare, or under `listener.name.<listener>.` and, for the JAAS
/// configuration and the session lifetime, `listener.name.<listener>.<mechanism>.`).
const KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "connections.max.reauth.ms",
    "connection.failed.authentication.delay.ms",
    "sasl.server.max.receive.size",
    // the mechanism brokers log in to each other with (read by Config)
    "sasl.mechanism.inter.broker.protocol",
    // refused (below): a plugged-in validator (OAUTHBEARER with signed tokens, say) cannot
    // be run, and ignoring it would let unsecured tokens in where it was meant to check
    "sasl.server.callback.handler.class",
];

/// Whether `key` is one of the SASL keys [`parse`] reads, bare or scoped: the properties
/// loop leaves those to it.
pub(super) fn is_sasl_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("listener.name.") else {
        return KEYS.contains(&key);
    };
    // listener.name.<listener>.<key> or listener.name.<listener>.<mechanism>.<key>
    let Some((_, scoped)) = rest.split_once('.') else {
        return false;
    };
    KEYS.contains(&scoped)
        || scoped
            .split_once('.')
            .is_some_and(|(_, k)| KEYS.contains(&k))
}

/// Reads the SASL keys of the listener `listener` (upper case, as
/// [`super::ListenerConfig::name`]).
pub fn parse(props: &BTreeMap<String, String>, listener: &str) -> Result<SaslConfig, ConfigError> {
    let lower = listener.to_ascii_lowercase();
    // (the key as found, its value): mechanism scope, then listener scope, then bare
    let get = |mechanism: Option<SaslMechanism>, key: &str| -> Option<(String, String)> {
        let mut keys = Vec::with_capacity(3);
        if let Some(m) = mechanism {
            keys.push(format!(
                "listener.name.{lower}.{}.{key}",
                m.name().to_ascii_lowercase()
            ));
        }
        keys.push(format!("listener.name.{lower}.{key}"));
        keys.push(key.to_string());
        keys.into_iter()
            .find_map(|k| props.get(&k).map(|v| (k, v.trim().to_string())))
    };

    let mechanisms_key = format!("listener.name.{lower}.sasl.enabled.mechanisms");
    let mechanisms = match get(None, "sasl.enabled.mechanisms") {
        None => {
            return Err(ConfigError::Missing {
                key: mechanisms_key,
                reason: format!(
                    "listener {listener} is SASL: Kafka's default mechanism, GSSAPI \
                     (Kerberos), is not served; set sasl.enabled.mechanisms=PLAIN"
                ),
            })
        }
        Some((k, v)) => {
            let mut list = Vec::new();
            for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let m = SaslMechanism::from_name(name).ok_or_else(|| {
                    invalid(
                        &k,
                        &v,
                        format!(
                            "mechanism {name} is not served (PLAIN, SCRAM-SHA-256, \
                             SCRAM-SHA-512 and OAUTHBEARER are)"
                        ),
                    )
                })?;
                if !list.contains(&m) {
                    list.push(m);
                }
            }
            if list.is_empty() {
                return Err(invalid(&k, &v, "no mechanism"));
            }
            list
        }
    };

    if let Some((k, v)) = (mechanisms.iter().copied().map(Some))
        .chain(std::iter::once(None))
        .find_map(|m| get(m, "sasl.server.callback.handler.class"))
    {
        return Err(invalid(
            &k,
            &v,
            "a Java callback handler cannot run in Rafka: PLAIN takes its users from the JAAS \
             configuration, SCRAM its credentials from the metadata, and OAUTHBEARER checks \
             unsecured tokens only",
        ));
    }
    let mut plain_users = PlainUsers::default();
    let mut oauthbearer = UnsecuredTokens::default();
    let mut logins = Vec::new();
    let mut reauth_ms = Vec::new();
    for &m in &mechanisms {
        let jaas_key = format!(
            "listener.name.{lower}.{}.sasl.jaas.config",
            m.name().to_ascii_lowercase()
        );
        let jaas = match get(Some(m), "sasl.jaas.config") {
            Some((k, v)) if k == jaas_key => v,
            Some((k, _)) => {
                return Err(invalid(
                    &k,
                    "(hidden)",
                    format!(
                        "a broker's JAAS configuration is scoped to a listener and a \
                         mechanism, as in Kafka: set {jaas_key}"
                    ),
                ))
            }
            None => {
                return Err(ConfigError::Missing {
                    key: jaas_key,
                    reason: format!(
                        "listener {listener} offers {m}: give its JAAS configuration ({})",
                        m.jaas_example()
                    ),
                })
            }
        };
        let module = parse_jaas(&jaas).map_err(|reason| invalid(&jaas_key, "(hidden)", reason))?;
        if module.class != m.login_module() {
            return Err(invalid(
                &jaas_key,
                "(hidden)",
                format!(
                    "login module {} does not serve {m}; use {}",
                    module.class,
                    m.login_module()
                ),
            ));
        }
        let option = |name: &str| {
            module
                .options
                .iter()
                .find(|(o, _)| o == name)
                .map(|(_, v)| v.clone())
        };
        if let (Some(username), Some(password)) = (option("username"), option("password")) {
            logins.push((m, Login { username, password }));
        }
        match m {
            SaslMechanism::Plain => {
                for (option, value) in &module.options {
                    if let Some(user) = option.strip_prefix("user_") {
                        plain_users.0.insert(user.to_string(), value.clone());
                    }
                }
            }
            // the users and their credentials are in the metadata, not in the JAAS options
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {}
            SaslMechanism::OAuthBearer => {
                for (option, value) in &module.options {
                    let value = value.trim();
                    match option.as_str() {
                        "unsecuredValidatorPrincipalClaimName" if !value.is_empty() => {
                            oauthbearer.principal_claim = value.to_string()
                        }
                        "unsecuredValidatorScopeClaimName" if !value.is_empty() => {
                            oauthbearer.scope_claim = value.to_string()
                        }
                        "unsecuredValidatorRequiredScope" => {
                            oauthbearer.required_scope =
                                value.split_whitespace().map(str::to_string).collect()
                        }
                        "unsecuredValidatorAllowableClockSkewMs" if !value.is_empty() => {
                            oauthbearer.clock_skew_ms = value.parse().map_err(|_| {
                                invalid(
                                    &jaas_key,
                                    value,
                                    "unsecuredValidatorAllowableClockSkewMs: a non-negative \
                                     number of milliseconds",
                                )
                            })?
                        }
                        _ => {}
                    }
                }
            }
        }
        let ms = match get(Some(m), "connections.max.reauth.ms") {
            None => 0,
            Some((k, v)) => {
                let ms: i64 = v
                    .parse()
                    .map_err(|_| invalid(&k, &v, "a number of milliseconds"))?;
                // Kafka: 0 or less turns re-authentication off
                u64::try_from(ms).unwrap_or(0)
            }
        };
        reauth_ms.push((m, ms));
    }

    let number = |key: &str, default: u64| -> Result<u64, ConfigError> {
        match get(None, key) {
            None => Ok(default),
            Some((k, v)) => v
                .parse::<u64>()
                .map_err(|_| invalid(&k, &v, "a non-negative number")),
        }
    };
    let failed_authentication_delay_ms = number("connection.failed.authentication.delay.ms", 100)?;
    let max_receive_size = number("sasl.server.max.receive.size", 524_288)?;
    let max_receive_size = usize::try_from(max_receive_size)
        .ok()
        .filter(|&n| n >= 64 && n <= i32::MAX as usize)
        .ok_or_else(|| {
            invalid(
                "sasl.server.max.receive.size",
                &max_receive_size.to_string(),
                "between 64 and 2147483647",
            )
        })?;
    Ok(SaslConfig {
        mechanisms,
        plain_users,
        oauthbearer,
        logins,
        reauth_ms,
        failed_authentication_delay_ms,
        max_receive_size,
    })
}

/// One JAAS login module entry: `<class> <flag> <option>="<value>" ... ;`.
#[derive(Debug, PartialEq, Eq)]
struct JaasModule {
    class: String,
    options: Vec<(String, String)>,
}

/// Reads a `sasl.jaas.config` value as Kafka's `JaasConfig` does: one login module, its
/// control flag (`required`, `requisite`, `sufficient`, `optional`), then `name=value`
/// options, a value being a bare word or a double-quoted string (in which `\"` and `\\`
/// stand for `"` and `\`), and a closing `;`. Errors never repeat a value: they may be
/// passwords.
fn parse_jaas(text: &str) -> Result<JaasModule, String> {
    let tokens = jaas_tokens(text)?;
    let mut it = tokens.into_iter().peekable();
    let class = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err("a JAAS configuration starts with the login module's class".into()),
    };
    match it.next() {
        Some(Token::Word(flag))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) => {}
        _ => {
            return Err(format!(
                "login module {class}: a control flag (required, requisite, sufficient or \
                 optional) follows the class"
            ))
        }
    }
    let mut options = Vec::new();
    loop {
        match it.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(name)) => {
                if it.next() != Some(Token::Equals) {
                    return Err(format!("option {name}: `=` and a value follow its name"));
                }
                match it.next() {
                    Some(Token::Word(v) | Token::Quoted(v)) => options.push((name, v)),
                    _ => return Err(format!("option {name} has no value")),
                }
            }
            _ => return Err("a JAAS configuration ends with `;` after its options".into()),
        }
    }
    if it.peek().is_some() {
        return Err("more than one login module: a JAAS configuration here holds one".into());
    }
    Ok(JaasModule { class, options })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

/// Splits a JAAS configuration as Java's `StreamTokenizer` does for Kafka's `JaasConfig`:
/// words, `=`, `;`, values quoted with `"` or `'` (in which `\n`, `\t`, `\r`, `\b`, `\f`
/// stand for those characters and a backslash before any other character for that
/// character), and `//` and `/* */` comments.
fn jaas_tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' => tokens.push(Token::Equals),
            ';' => tokens.push(Token::Semicolon),
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    match chars.next() {
                        None => return Err("a /* comment is not closed".into()),
                        Some('/') if last == '*' => break,
                        Some(c) => last = c,
                    }
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".into()),
                        Some(c) if c == quote => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('b') => s.push('\u{8}'),
                            Some('f') => s.push('\u{c}'),
                            Some(e) => s.push(e),
                            None => return Err("a quoted value is not closed".into()),
                        },
                        Some(c) => s.push(c),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            c => {
                let mut s = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '=' | ';' | '"' | '\'') {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(s));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret"
        user_admin="admin-secret" user_alice="al\"ice" user_bob=bobpw;"#;

    #[test]
    fn plain_users_come_from_the_scoped_jaas_config() {
        let c = parse(
            &props(&[
                ("sasl.enabled.mechanisms", "PLAIN"),
                ("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS),
                ("connections.max.reauth.ms", "60000"),
            ]),
            "SASL_PLAINTEXT",
        )
        .expect("parses");
        assert_eq!(c.mechanisms, vec![SaslMechanism::Plain]);
        assert_eq!(c.plain_users.password("admin"), Some("admin-secret"));
        assert_eq!(c.plain_users.password("alice"), Some("al\"ice"));
        assert_eq!(c.plain_users.password("bob"), Some("bobpw"));
        assert_eq!(c.plain_users.password("username"), None);
        assert_eq!(c.plain_users.len(), 3);
        assert_eq!(c.reauth_ms(SaslMechanism::Plain), 60_000);
        assert_eq!(c.failed_authentication_delay_ms, 100);
        assert_eq!(c.max_receive_size, 524_288);
        // passwords never reach a log line
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn scoped_keys_win() {
        let c = parse(
            &props(&[
                ("sasl.enabled.mechanisms", "GSSAPI"),
                ("listener.name.ext.sasl.enabled.mechanisms", "PLAIN"),
                ("listener.name.ext.plain.sasl.jaas.config", JAAS),
                ("connections.max.reauth.ms", "5"),
                ("listener.name.ext.plain.connections.max.reauth.ms", "7"),
            ]),
            "EXT",
        )
        .expect("parses");
        assert_eq!(c.reauth_ms(SaslMechanism::Plain), 7);
    }

    #[test]
    fn what_cannot_be_served_is_refused() {
        let jaas = ("listener.name.s.plain.sasl.jaas.config", JAAS);
        for (pairs, needle) in [
            (vec![jaas], "GSSAPI"),
            (vec![("sasl.enabled.mechanisms", "GSSAPI"), jaas], "GSSAPI is not served"),
            (vec![("sasl.enabled.mechanisms", "PLAIN")], "listener.name.s.plain.sasl.jaas.config"),
            (
                vec![("sasl.enabled.mechanisms", "PLAIN"), ("sasl.jaas.config", JAAS)],
                "scoped to a listener",
            ),
            (
                vec![
                    ("sasl.enabled.mechanisms", "PLAIN"),
                    ("listener.name.s.plain.sasl.jaas.config", "com.Other required user_a=\"b\";"),
                ],
                "does not serve PLAIN",
            ),
            (
                vec![
                    ("sasl.enabled.mechanisms", "PLAIN"),
                    ("listener.name.s.plain.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"secret;"),
                ],
                "not closed",
            ),
        ] {
            let e = parse(&props(&pairs), "S").expect_err(needle).to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
            assert!(!e.contains("secret"), "{e} shows a password");
        }
    }

    #[test]
    fn oauthbearer_takes_the_unsecured_validator_options() {
        let c = parse(
            &props(&[
                ("sasl.enabled.mechanisms", "PLAIN, OAUTHBEARER"),
                ("listener.name.s.plain.sasl.jaas.config", JAAS),
                (
                    "listener.name.s.oauthbearer.sasl.jaas.config",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                     unsecuredValidatorRequiredScope=\"read write\" \
                     unsecuredValidatorAllowableClockSkewMs=\"30\";",
                ),
            ]),
            "S",
        )
        .expect("parses");
        assert_eq!(
            c.mechanisms,
            vec![SaslMechanism::Plain, SaslMechanism::OAuthBearer]
        );
        assert_eq!(c.oauthbearer.principal_claim, "sub");
        assert_eq!(c.oauthbearer.required_scope, vec!["read", "write"]);
        assert_eq!(c.oauthbearer.clock_skew_ms, 30);
        // a validator of signed tokens cannot be plugged in: refused, never ignored
        let e = parse(
            &props(&[
                ("sasl.enabled.mechanisms", "OAUTHBEARER"),
                (
                    "listener.name.s.oauthbearer.sasl.jaas.config",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
                ),
                (
                    "listener.name.s.oauthbearer.sasl.server.callback.handler.class",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
                ),
            ]),
            "S",
        )
        .expect_err("refused");
        assert!(e.to_string().contains("callback handler"), "{e}");
    }

    #[test]
    fn jaas_syntax() {
        let m = parse_jaas("a.B required x=1 y=\"two words\" z=\"q\\\\\";").expect("parses");
        assert_eq!(m.class, "a.B");
        assert_eq!(
            m.options,
            vec![
                ("x".into(), "1".into()),
                ("y".into(), "two words".into()),
                ("z".into(), "q\\".into())
            ]
        );
        // single quotes, escapes and comments, as Java's StreamTokenizer reads them
        let m = parse_jaas("a.B required /* users */ x='p w' // the rest\n y=\"t\\tab\";")
            .expect("parses");
        assert_eq!(
            m.options,
            vec![("x".into(), "p w".into()), ("y".into(), "t\tab".into())]
        );
        for bad in [
            "a.B required x=1",
            "a.B x=1;",
            "a.B required x;",
            "a.B required; c.D required;",
        ] {
            assert!(parse_jaas(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sasl_keys_are_recognised() {
        for k in [
            "sasl.enabled.mechanisms",
            "listener.name.x.sasl.enabled.mechanisms",
            "listener.name.x.plain.sasl.jaas.config",
            "listener.name.x.plain.connections.max.reauth.ms",
            "connection.failed.authentication.delay.ms",
        ] {
            assert!(is_sasl_key(k), "{k}");
        }
        for k in ["listeners", "listener.name.x.ssl.keystore.location", "sasl"] {
            assert!(!is_sasl_key(k), "{k}");
        }
    }
}
