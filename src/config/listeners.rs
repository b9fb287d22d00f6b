//! Kafka's listener keys: `listeners`, `listener.security.protocol.map`,
//! `advertised.listeners`, `inter.broker.listener.name` and `controller.listener.names`,
//! parsed together (they refer to each other) into [`ListenerConfig`]s.
//!
//! As Kafka: `listeners` is a comma-separated list of `NAME://host:port`; each name must
//! be in the security protocol map (default `PLAINTEXT:PLAINTEXT,SSL:SSL,
//! SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL`; setting the key replaces it); names
//! are case-insensitive (kept upper-cased) and unique, and so are ports. An empty host or
//! `0.0.0.0` binds every interface. `advertised.listeners` names a subset of the listeners;
//! one without an entry advertises its own host and port.
//!
//! Where Rafka differs: an entry without `NAME://` (`127.0.0.1:9092`, the `--listener`
//! flag's old form) is a `PLAINTEXT` listener, and an advertised entry without it is the
//! first listener's. A listener bound to every interface, or advertised with an empty
//! host, advertises the bound IP (127.0.0.1 for `0.0.0.0`/`::`) where Kafka would
//! advertise the machine's canonical host name. Listeners named in
//! `controller.listener.names` are parsed, checked and kept apart (their advertised
//! entries too, as Kafka 4 allows) for the controller quorum, which a node with the
//! controller role serves on them. Which of them a node must or must not have depends on
//! `process.roles` ([`super::cluster`]). Every security protocol is served; [`check`]
//! refuses an SSL or SASL listener without its settings.
//!
//! As Kafka does in KRaft mode: when `listener.security.protocol.map` is not set, each
//! controller listener name missing from the default map is mapped to `PLAINTEXT`, unless
//! a listener or controller listener is named `SSL` or `SASL_*` (then every controller
//! listener needs an explicit entry).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::{invalid, ConfigError, SaslConfig, SslConfig};

/// Kafka's `listener.security.protocol.map` default.
pub const DEFAULT_SECURITY_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// The `listeners` default: Kafka clients on loopback port 9092.
pub const DEFAULT_LISTENERS: &str = "PLAINTEXT://127.0.0.1:9092";

/// Kafka's `SecurityProtocol`: what a listener speaks below the Kafka protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// Plain TCP: the only one Rafka serves so far.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name for it (`SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's id for it (`SecurityProtocol.id`: PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2,
    /// SASL_SSL 3), as BrokerRegistration carries it.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Parses Kafka's name, in any case.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One Kafka listener: where it binds, what it speaks, what it advertises. Each accepted
/// connection gets its listener's (as `Arc<ListenerConfig>`), so the request route can
/// tell which listener a request came in on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Kafka's listener name, upper-cased (`PLAINTEXT`, `INTERNAL`).
    pub name: String,
    pub security_protocol: SecurityProtocol,
    /// The address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Host and port clients are told to connect to (Metadata's broker endpoint). Port 0
    /// means the bound port; the broker fills it in at start.
    pub advertised: (String, u16),
    /// An SSL or SASL_SSL listener's `ssl.*` settings (`None` for any other).
    pub ssl: Option<Arc<SslConfig>>,
    /// A SASL_PLAINTEXT or SASL_SSL listener's SASL settings (`None` for any other).
    pub sasl: Option<Arc<SaslConfig>>,
}

impl ListenerConfig {
    /// Whether only known clients get in: a SASL listener (its users; not one offering
    /// OAUTHBEARER, whose unsecured tokens anyone can make for anyone), or an SSL one
    /// requiring client certificates (those its truststore vouches for).
    pub fn authenticates(&self) -> bool {
        self.sasl
            .as_ref()
            .is_some_and(|s| !s.mechanisms.contains(&super::SaslMechanism::OAuthBearer))
            || self
                .ssl
                .as_ref()
                .is_some_and(|s| s.client_auth == super::ClientAuth::Required)
    }

    /// A listener advertising its own address (127.0.0.1 when bound to every interface).
    pub fn new(
        name: impl Into<String>,
        security_protocol: SecurityProtocol,
        addr: SocketAddr,
    ) -> Self {
        ListenerConfig {
            name: name.into().to_ascii_uppercase(),
            security_protocol,
            addr,
            advertised: (advertised_host(addr.ip()), addr.port()),
            ssl: None,
            sasl: None,
        }
    }
}

/// The host a listener bound to `ip` advertises when none is configured.
fn advertised_host(ip: IpAddr) -> String {
    if ip.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        ip.to_string()
    }
}

/// The listener keys as found in the properties (`None`: not set).
#[derive(Debug, Default)]
pub(super) struct ListenerKeys<'a> {
    pub listeners: Option<&'a str>,
    pub advertised_listeners: Option<&'a str>,
    pub security_protocol_map: Option<&'a str>,
    pub inter_broker_listener_name: Option<&'a str>,
    pub security_inter_broker_protocol: Option<&'a str>,
    pub controller_listener_names: Option<&'a str>,
}

/// What [`parse`] makes of the listener keys.
#[derive(Debug)]
pub(super) struct Listeners {
    /// The listeners that serve Kafka clients, in the order of `listeners`. May be empty
    /// here: whether that is allowed depends on `process.roles`.
    pub listeners: Vec<ListenerConfig>,
    /// The listeners of `listeners` named in `controller.listener.names`, in the order
    /// of `listeners`, with their advertised endpoints.
    pub controller_listeners: Vec<ListenerConfig>,
    pub inter_broker_listener_name: Option<String>,
    pub controller_listener_names: Vec<String>,
    /// The effective `listener.security.protocol.map` (controller names added to the
    /// default as Kafka does).
    pub security_protocol_map: BTreeMap<String, SecurityProtocol>,
}

/// One `NAME://host:port` entry; `name` is `None` without a `NAME://`.
struct Endpoint {
    name: Option<String>,
    host: String,
    port: u16,
}

/// Parses and cross-checks the listener keys.
pub(super) fn parse(keys: &ListenerKeys<'_>) -> Result<Listeners, ConfigError> {
    const MAP_KEY: &str = "listener.security.protocol.map";
    let map_value = keys
        .security_protocol_map
        .unwrap_or(DEFAULT_SECURITY_PROTOCOL_MAP);
    let mut map = parse_protocol_map(MAP_KEY, map_value)?;

    let key = "listeners";
    let value = keys.listeners.unwrap_or(DEFAULT_LISTENERS);
    let endpoints = parse_endpoints(key, value)?;
    let controller_listener_names = keys
        .controller_listener_names
        .map(names)
        .unwrap_or_default();
    if keys.security_protocol_map.is_none() {
        // Kafka (KRaft): controller listeners default to PLAINTEXT unless SSL or SASL is
        // in use by name
        let secure = |name: &str| matches!(name, "SSL" | "SASL_SSL" | "SASL_PLAINTEXT");
        let any_secure = controller_listener_names.iter().any(|n| secure(n))
            || endpoints
                .iter()
                .any(|e| e.name.as_deref().is_some_and(secure));
        if !any_secure {
            for name in &controller_listener_names {
                map.entry(name.clone())
                    .or_insert(SecurityProtocol::Plaintext);
            }
        }
    }
    let mut bound = Vec::new();
    for e in endpoints {
        let name = e.name.unwrap_or_else(|| "PLAINTEXT".to_string());
        if bound.iter().any(|(n, _, _)| *n == name) {
            return Err(invalid(
                key,
                value,
                format!("listener {name} appears twice"),
            ));
        }
        let Some(&protocol) = map.get(&name) else {
            return Err(invalid(
                key,
                value,
                format!("listener {name} has no security protocol in {MAP_KEY} ({map_value})"),
            ));
        };
        let addr = resolve(key, value, &e.host, e.port)?;
        bound.push((name, protocol, addr));
    }
    if bound.is_empty() {
        return Err(invalid(key, value, "no listener"));
    }
    // Kafka: ports are unique across every listener, controller ones included
    for (i, (a, _, a_addr)) in bound.iter().enumerate() {
        if let Some((b, _, _)) = bound
            .iter()
            .take(i)
            .find(|(_, _, b_addr)| same_port(*a_addr, *b_addr))
        {
            return Err(invalid(
                key,
                value,
                format!("listeners {b} and {a} have the same port"),
            ));
        }
    }

    let (mut controller_listeners, mut listeners): (Vec<ListenerConfig>, Vec<ListenerConfig>) =
        bound
            .into_iter()
            .map(|(name, protocol, addr)| ListenerConfig::new(name, protocol, addr))
            .partition(|l| controller_listener_names.contains(&l.name));

    if let Some(value) = keys.advertised_listeners {
        let key = "advertised.listeners";
        let mut seen: Vec<String> = Vec::new();
        for e in parse_endpoints(key, value)? {
            let name = e.name.unwrap_or_else(|| {
                listeners
                    .first()
                    .map(|l| l.name.clone())
                    .unwrap_or_default()
            });
            if seen.contains(&name) {
                return Err(invalid(
                    key,
                    value,
                    format!("listener {name} appears twice"),
                ));
            }
            let Some(l) = listeners
                .iter_mut()
                .chain(controller_listeners.iter_mut())
                .find(|l| l.name == name)
            else {
                return Err(invalid(
                    key,
                    value,
                    format!("{name} is not one of the listeners (listeners)"),
                ));
            };
            let host = match e.host.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() => {
                    return Err(invalid(
                        key,
                        value,
                        format!("{name}: cannot advertise the nonroutable meta-address {ip}"),
                    ))
                }
                _ if e.host.is_empty() => advertised_host(l.addr.ip()),
                _ => e.host,
            };
            l.advertised = (host, e.port);
            seen.push(name);
        }
    }

    let inter_broker_listener_name = match (
        keys.inter_broker_listener_name,
        keys.security_inter_broker_protocol,
    ) {
        (Some(_), Some(p)) => {
            return Err(invalid(
                "security.inter.broker.protocol",
                p,
                "only one of inter.broker.listener.name and security.inter.broker.protocol \
                 may be set (as in Kafka)",
            ))
        }
        // Kafka: the listener named after security.inter.broker.protocol (PLAINTEXT by
        // default); Rafka falls back to the first listener when there is none of that name
        (None, protocol) => {
            let protocol = protocol.map_or("PLAINTEXT", str::trim);
            if SecurityProtocol::from_name(protocol).is_none() {
                return Err(invalid(
                    "security.inter.broker.protocol",
                    protocol,
                    "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                ));
            }
            let named = listeners
                .iter()
                .find(|l| l.name == protocol.to_ascii_uppercase())
                .map(|l| l.name.clone());
            if named.is_none() && !protocol.eq_ignore_ascii_case("PLAINTEXT") {
                return Err(invalid(
                    "security.inter.broker.protocol",
                    protocol,
                    "no listener has that name (set inter.broker.listener.name instead)",
                ));
            }
            named
        }
        (Some(v), None) => {
            let name = v.trim().to_ascii_uppercase();
            if !listeners.iter().any(|l| l.name == name) {
                return Err(invalid(
                    "inter.broker.listener.name",
                    v,
                    "not one of the listeners (controller listeners excepted)",
                ));
            }
            Some(name)
        }
    };
    Ok(Listeners {
        listeners,
        controller_listeners,
        inter_broker_listener_name,
        controller_listener_names,
        security_protocol_map: map,
    })
}

/// Refuses what the broker cannot serve: no listener, two with one name, an SSL one
/// without its `ssl.*` settings, a SASL one without its mechanisms.
pub fn check(listeners: &[ListenerConfig]) -> Result<(), ConfigError> {
    if listeners.is_empty() {
        return Err(invalid("listeners", "", "no listener"));
    }
    for (i, l) in listeners.iter().enumerate() {
        if listeners.iter().take(i).any(|o| o.name == l.name) {
            return Err(invalid(
                "listeners",
                &l.name,
                format!("listener {} appears twice", l.name),
            ));
        }
        match l.security_protocol {
            SecurityProtocol::Plaintext => {}
            SecurityProtocol::Ssl if l.ssl.is_some() => {}
            SecurityProtocol::Ssl => {
                return Err(ConfigError::Missing {
                    key: format!(
                        "listener.name.{}.ssl.keystore.location",
                        l.name.to_ascii_lowercase()
                    ),
                    reason: format!("listener {} is SSL: give its certificate and key", l.name),
                })
            }
            SecurityProtocol::SaslPlaintext if l.sasl.is_some() => {}
            SecurityProtocol::SaslSsl if l.sasl.is_some() && l.ssl.is_some() => {}
            SecurityProtocol::SaslSsl if l.sasl.is_some() => {
                return Err(ConfigError::Missing {
                    key: format!(
                        "listener.name.{}.ssl.keystore.location",
                        l.name.to_ascii_lowercase()
                    ),
                    reason: format!(
                        "listener {} is SASL_SSL: give its certificate and key",
                        l.name
                    ),
                })
            }
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                return Err(ConfigError::Missing {
                    key: format!(
                        "listener.name.{}.sasl.enabled.mechanisms",
                        l.name.to_ascii_lowercase()
                    ),
                    reason: format!(
                        "listener {} is {}: give its SASL mechanisms and users",
                        l.name, l.security_protocol
                    ),
                })
            }
        }
    }
    Ok(())
}

/// Refuses a text listener that would bind where one of `listeners` (Kafka or controller
/// ones) binds: Kafka's sample configurations put CONTROLLER on 9093, the text
/// listener's old default.
pub fn check_text_listener<'a>(
    text_listener: SocketAddr,
    listeners: impl IntoIterator<Item = &'a ListenerConfig>,
) -> Result<(), ConfigError> {
    match listeners
        .into_iter()
        .find(|l| same_port(text_listener, l.addr))
    {
        Some(l) => Err(invalid(
            "text.listener",
            &text_listener.to_string(),
            format!(
                "listener {} (listeners) binds {} too: give the text listener another port \
                 (--text-listener, text.listener)",
                l.name, l.addr
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses an `http.listener` asked for on a port that one of `listeners` (name, address)
/// binds too.
pub fn check_http_listener<'a>(
    http_listener: SocketAddr,
    listeners: impl IntoIterator<Item = (&'a str, SocketAddr)>,
) -> Result<(), ConfigError> {
    match listeners
        .into_iter()
        .find(|(_, addr)| same_port(http_listener, *addr))
    {
        Some((name, addr)) => Err(invalid(
            "http.listener",
            &http_listener.to_string(),
            format!(
                "listener {name} binds {addr} too: give the HTTP listener another port \
                 (--http-listener, http.listener), or \"\" for none"
            ),
        )),
        None => Ok(()),
    }
}

/// Two listeners that cannot both bind: one non-zero port on the same IP, or on every
/// interface of the same IP family.
fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip()
            || (a.is_ipv4() == b.is_ipv4() && (a.ip().is_unspecified() || b.ip().is_unspecified())))
}

/// `NAME:PROTOCOL,...`, names upper-cased.
fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(key, value, format!("{entry}: expected NAME:PROTOCOL")))?;
        let name = listener_name(key, value, name)?;
        let protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
            invalid(
                key,
                value,
                format!(
                    "{protocol}: not a security protocol \
                     (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
                ),
            )
        })?;
        if map.insert(name.clone(), protocol).is_some() {
            return Err(invalid(key, value, format!("{name} appears twice")));
        }
    }
    Ok(map)
}

/// `[NAME://]host:port,...`; an IPv6 host in brackets.
fn parse_endpoints(key: &str, value: &str) -> Result<Vec<Endpoint>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, addr) = match entry.split_once("://") {
                Some((name, addr)) => (Some(listener_name(key, value, name)?), addr),
                None => (None, entry),
            };
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| invalid(key, value, format!("{entry}: expected host:port")))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid(key, value, format!("{entry}: bad port")))?;
            Ok(Endpoint {
                name,
                host: host.trim_matches(['[', ']']).to_string(),
                port,
            })
        })
        .collect()
}

/// A listener name: letters, digits, `_` and `-`; upper-cased as Kafka normalises it.
fn listener_name(key: &str, value: &str, name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            key,
            value,
            format!("{name:?} is not a listener name"),
        ));
    }
    Ok(name.to_ascii_uppercase())
}

/// `NAME,NAME,...` upper-cased.
fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// The address to bind for `host:port`: an empty host is every interface, `localhost`
/// is 127.0.0.1, a name is resolved (its first address).
pub(super) fn resolve(
    key: &str,
    value: &str,
    host: &str,
    port: u16,
) -> Result<SocketAddr, ConfigError> {
    let host = match host {
        "" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        h => h,
    };
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| invalid(key, value, "not an address this machine can bind"))
}
