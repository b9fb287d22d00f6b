//! Broker configuration: Kafka-style `server.properties` (`--config FILE`) overlaid by
//! command-line flags (each with a `RAFKA_*` environment variable), validated once into a
//! [`Config`]. Precedence: built-in defaults < file < flags. Unknown keys in the file are
//! warned about; invalid values are a startup error. The listener keys have a module of
//! their own ([`listeners`]), and so do Kafka's cluster keys (`process.roles`,
//! `controller.quorum.*`, ..., [`cluster`]): without them a node is Rafka's single node,
//! its own controller.

mod cluster;
mod listeners;
mod observe;
mod sasl;
mod ssl;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

pub use observe::{LogFormat, ObserveConfig, DEFAULT_HTTP_PORT};
pub use sasl::{Login, PlainUsers, SaslConfig, SaslMechanism, UnsecuredTokens};
pub use ssl::{ClientAuth, KeyStore, SslConfig, TlsVersion, TrustStore};

use crate::log::{CleanerConfig, CleanupPolicy, LogConfig, Ratio, TimestampType};
pub use cluster::{ClusterConfig, HostPort, ProcessRoles};
pub use listeners::{
    ListenerConfig, SecurityProtocol, DEFAULT_LISTENERS, DEFAULT_SECURITY_PROTOCOL_MAP,
};

/// The text listener's default port, on 127.0.0.1. Not 9093: Kafka's sample
/// configurations put the CONTROLLER listener there.
pub const DEFAULT_TEXT_PORT: u16 = 9192;

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key has a value of the wrong form.
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    /// A key that has no default is missing (`node.id` with `process.roles`, say).
    #[error("missing {key}: {reason}")]
    Missing { key: String, reason: String },
    /// A listener's security protocol is one Rafka cannot serve (yet), or not in that
    /// place (TLS between brokers).
    #[error("listener {listener} uses security protocol {protocol}: {reason}")]
    UnsupportedSecurityProtocol {
        listener: String,
        protocol: SecurityProtocol,
        reason: String,
    },
}

impl ConfigError {
    /// The configuration itself is wrong (a bad, missing or unservable value): a usage
    /// error, exit status 2. A file that cannot be read is not.
    pub fn is_usage_error(&self) -> bool {
        match self {
            ConfigError::Invalid { .. }
            | ConfigError::Missing { .. }
            | ConfigError::UnsupportedSecurityProtocol { .. } => true,
            ConfigError::Read { .. } => false,
        }
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Flags of `rafka serve`. Every one is optional: unset flags fall back to the file, then
/// to Kafka's defaults.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// A Kafka-style server.properties file (listeners, log.dirs, num.partitions, ...).
    #[arg(long, env = "RAFKA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka listeners: `host:port` or `NAME://host:port`, comma-separated [default:
    /// PLAINTEXT://127.0.0.1:9092] (Kafka: listeners).
    #[arg(long, env = "RAFKA_LISTENER")]
    pub listener: Option<String>,
    /// Addresses advertised to clients in Metadata, `NAME://host:port` per listener
    /// (`host:port`: the first listener's) [default: each listener's own] (Kafka:
    /// advertised.listeners).
    #[arg(long, env = "RAFKA_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    /// Text protocol listener address [default: 127.0.0.1:9192] (Rafka's text.listener;
    /// not 9093, Kafka's CONTROLLER port).
    #[arg(long, env = "RAFKA_TEXT_LISTENER")]
    pub text_listener: Option<String>,
    /// HTTP listener for /metrics, /healthz, /readyz and the status page at / [default:
    /// 127.0.0.1:9193, skipped with a warning if taken; "" for none] (Rafka's
    /// http.listener).
    #[arg(long, env = "RAFKA_HTTP_LISTENER")]
    pub http_listener: Option<String>,
    /// Log directory [default: ./data] (Kafka: log.dirs).
    #[arg(long, env = "RAFKA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// This broker's id [default: 1] (Kafka: node.id).
    #[arg(long, env = "RAFKA_NODE_ID")]
    pub node_id: Option<i32>,
    /// Any server.properties key, as key=value; repeatable (e.g. -o num.partitions=3).
    #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Create this topic at start unless it exists, with PARTITIONS partitions [default:
    /// num.partitions]; repeatable. Prints "Topic Created: NAME" or "Topic Exists: NAME".
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]", value_parser = parse_topic_spec)]
    pub topics: Vec<TopicSpec>,
}

/// A topic `rafka serve --topic NAME[:PARTITIONS]` creates at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// `None`: the broker's `num.partitions`.
    pub partitions: Option<i32>,
}

/// Parses `NAME` or `NAME:PARTITIONS`, checking the name as CreateTopics would (`:` is
/// not allowed in a topic name, so the split is unambiguous).
pub fn parse_topic_spec(s: &str) -> Result<TopicSpec, String> {
    let (name, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((name, n)) => match n.parse::<i32>() {
            Ok(n) if (1..=100_000).contains(&n) => (name, Some(n)),
            _ => return Err(format!("'{n}' is not a partition count in 1..=100000")),
        },
    };
    crate::topic::validate_name(name).map_err(|e| e.to_string())?;
    Ok(TopicSpec {
        name: name.to_string(),
        partitions,
    })
}

/// The validated broker configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Kafka listeners (`listeners`, `listener.security.protocol.map`,
    /// `advertised.listeners`), controller listeners left out (they are in
    /// [`ClusterConfig::controller_listeners`]). The first is the default one. Invariant
    /// after validation: names unique, each PLAINTEXT or SSL (with its `ssl`), at least
    /// one unless `process.roles=controller`; in a cluster the controller listeners are
    /// PLAINTEXT, and a SASL inter-broker listener has a login for
    /// [`Self::inter_broker_sasl_mechanism`].
    pub listeners: Vec<ListenerConfig>,
    /// `inter.broker.listener.name`, stored for replication (one of `listeners`).
    pub inter_broker_listener_name: Option<String>,
    /// `sasl.mechanism.inter.broker.protocol`: how this broker logs in to another's SASL
    /// inter-broker listener (Kafka's default, GSSAPI, is not served: `None` until set).
    pub inter_broker_sasl_mechanism: Option<SaslMechanism>,
    /// The text protocol's listener (`text.listener`, Rafka's own key). Invariant after
    /// validation: it binds no port a Kafka or controller listener binds.
    pub text_listener: SocketAddr,
    /// `text.listener.allow.unauthenticated` (false): the text port has no
    /// authentication, so where a Kafka listener authenticates clients (SASL, or SSL with
    /// `ssl.client.auth=required`) it must stay on loopback unless this says otherwise.
    pub text_listener_allow_unauthenticated: bool,
    /// `authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer`, with
    /// `super.users` and `allow.everyone.if.no.acl.found`; `None`: no authorizer, as in
    /// Kafka without the key (everyone may do everything, the ACL APIs answer
    /// SECURITY_DISABLED).
    pub authorizer: Option<AuthorizerConfig>,
    pub data_dir: PathBuf,
    /// `node.id` (or `broker.id`): 1 by default, required with `process.roles`.
    pub node_id: i32,
    /// Kafka's cluster keys: roles, quorum, controller listeners, broker lease,
    /// replication defaults. Parsed and checked; a node still runs alone.
    pub cluster: ClusterConfig,
    /// `num.partitions` for auto-created topics and CreateTopics with -1.
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// `max.connections`: every listener's connections together, the text one included.
    pub max_connections: usize,
    /// `max.connections.per.ip`: connections from one address, on all listeners
    /// together; a new one past it is closed at once (Kafka's default: 2147483647).
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides` (`host:count,...`, Kafka's format), host names
    /// resolved once at start.
    pub max_connections_per_ip_overrides: BTreeMap<IpAddr, usize>,
    /// `connections.max.idle.ms`: a connection that has read and written nothing for this
    /// long is closed, whatever its requests wait for (Kafka's default: 10 minutes).
    /// `None` (a negative value): never.
    pub connections_max_idle_ms: Option<u64>,
    /// `socket.request.receive.timeout.ms` (Rafka's own key): once the first byte of a
    /// request (a Kafka frame, a text line) has arrived, the whole of it must arrive
    /// within this, or the connection is closed.
    pub request_receive_timeout_ms: u64,
    /// `fetch.max.bytes`: the most one Fetch response carries, whatever the client asks.
    pub fetch_max_bytes: usize,
    /// Requests read ahead on one connection before its responses are written.
    pub max_in_flight_per_connection: usize,
    pub retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: idempotent producers idle this long are forgotten.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// Defaults for every topic (`log.*` and `message.max.bytes`).
    pub log: LogConfig,
    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub group: GroupConfig,
    /// The log cleaner's settings (`log.cleaner.*`).
    pub cleaner: CleanerConfig,
    /// The transaction coordinator's settings (`transaction.*`, `transactional.id.*`).
    pub txn: TxnConfig,
    /// The HTTP listener and the logs (`http.listener`, `log.level`, `log.format`,
    /// `log.slow.request.ms`).
    pub observe: ObserveConfig,
}

/// The transaction coordinator's settings, with Kafka's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions` of `__transaction_state`.
    pub num_partitions: i32,
    /// `transaction.state.log.replication.factor` (3): in a cluster, at most this many
    /// replicas of each partition (fewer when fewer brokers are registered).
    pub replication_factor: i16,
    /// `transaction.state.log.segment.bytes`.
    pub segment_bytes: u64,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: a transactional id with no transaction for this
    /// long is forgotten.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often open
    /// transactions are checked against their timeout.
    pub abort_timed_out_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_expired_interval_ms: u64,
    /// `transaction.partition.verification.enable` (KIP-890): a transaction's first
    /// write to a partition is checked with its coordinator.
    pub partition_verification: bool,
    /// `transaction.version` (Rafka's key for Kafka's feature of that name, which Kafka
    /// sets at `kafka-storage format` / `kafka-features upgrade`): 2 (KIP-890: every EndTxn
    /// bumps the producer epoch, partitions are added by the brokers) or 0/1 (clients run
    /// the transaction protocol of version 1). ApiVersions reports it as finalized.
    pub transaction_version: i16,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            num_partitions: 50,
            replication_factor: 3,
            segment_bytes: 100 * 1024 * 1024,
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 3_600_000,
            abort_timed_out_interval_ms: 10_000,
            remove_expired_interval_ms: 3_600_000,
            partition_verification: true,
            transaction_version: 2,
        }
    }
}

/// The group coordinator's settings, with Kafka's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// `offsets.retention.minutes`, in ms: committed offsets of an empty group expire
    /// this long after it became empty.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions` of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: u64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.topic.replication.factor` (3): in a cluster, at most this many replicas of
    /// each `__consumer_offsets` partition (fewer when fewer brokers are registered).
    pub offsets_topic_replication_factor: i16,
    /// `group.coordinator.rebalance.protocols` names `consumer` (KIP-848 groups served).
    pub consumer_protocol: bool,
    /// The `group.consumer.*` settings of KIP-848 groups.
    pub consumer: ConsumerGroupConfig,
}

/// The `group.consumer.*` settings, with Kafka's defaults and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`, within `group.consumer.min/max.session.timeout.ms`.
    pub session_timeout_ms: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`, within its min and max.
    pub heartbeat_interval_ms: i32,
    pub min_heartbeat_interval_ms: i32,
    pub max_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub max_size: usize,
    /// `group.consumer.assignors`, the default first.
    pub assignors: &'static [&'static str],
    /// `group.consumer.migration.policy` (`bidirectional`, `upgrade`, `downgrade`,
    /// `disabled`): whether a classic group with members may become a consumer group
    /// online, and back.
    pub upgrade: bool,
    pub downgrade: bool,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            min_session_timeout_ms: 45_000,
            max_session_timeout_ms: 60_000,
            heartbeat_interval_ms: 5_000,
            min_heartbeat_interval_ms: 5_000,
            max_heartbeat_interval_ms: 15_000,
            max_size: i32::MAX as usize,
            assignors: &["uniform", "range"],
            upgrade: true,
            downgrade: true,
        }
    }
}

/// `group.consumer.assignors`: names or Kafka's class names of the two assignors.
fn parse_assignors(key: &str, value: &str) -> Result<&'static [&'static str], ConfigError> {
    let mut names = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = match item {
            "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => "uniform",
            "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => "range",
            _ => return Err(invalid(key, value, "the assignors are uniform and range")),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(match names.as_slice() {
        ["uniform"] => &["uniform"],
        ["range"] => &["range"],
        ["range", "uniform"] => &["range", "uniform"],
        ["uniform", "range"] => &["uniform", "range"],
        _ => return Err(invalid(key, value, "name at least one assignor")),
    })
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            offset_metadata_max_bytes: 4096,
            offsets_topic_replication_factor: 3,
            consumer_protocol: true,
            consumer: ConsumerGroupConfig::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let listener = ListenerConfig::new(
            "PLAINTEXT",
            SecurityProtocol::Plaintext,
            SocketAddr::from(([127, 0, 0, 1], 9092)),
        );
        Config {
            listeners: vec![listener],
            inter_broker_listener_name: None,
            inter_broker_sasl_mechanism: None,
            text_listener: SocketAddr::from(([127, 0, 0, 1], DEFAULT_TEXT_PORT)),
            text_listener_allow_unauthenticated: false,
            authorizer: None,
            data_dir: PathBuf::from("./data"),
            node_id: 1,
            cluster: ClusterConfig::default(),
            num_partitions: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: i32::MAX as usize,
            max_connections_per_ip_overrides: BTreeMap::new(),
            connections_max_idle_ms: Some(600_000),
            request_receive_timeout_ms: 10_000,
            fetch_max_bytes: 57_671_680,
            max_in_flight_per_connection: 64,
            retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            log: LogConfig::default(),
            group: GroupConfig::default(),
            cleaner: CleanerConfig::default(),
            txn: TxnConfig::default(),
            observe: ObserveConfig::default(),
        }
    }
}

/// Parses `host:port`, `NAME://host:port` or a comma-separated list of those (the first
/// is used), resolving `localhost` to 127.0.0.1: the text listener's form. Kafka
/// listeners are parsed by [`listeners`].
pub fn parse_listener(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    let (host, port) = parse_host_port(key, value)?;
    listeners::resolve(key, value, &host, port)
}

fn parse_host_port(key: &str, value: &str) -> Result<(String, u16), ConfigError> {
    let first = value.split(',').next().unwrap_or("").trim();
    let addr = first.split_once("://").map_or(first, |(_, a)| a);
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| invalid(key, value, "expected host:port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(key, value, "bad port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not a number"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// `max.connections.per.ip.overrides`: `host:count` entries separated by commas, split
/// at the last `:` (so an IPv6 address needs no brackets), as Kafka's `parseCsvMap`; a
/// host name is resolved (all its addresses get the count), as Kafka's
/// `InetAddress.getByName` does.
pub fn parse_ip_overrides(key: &str, value: &str) -> Result<BTreeMap<IpAddr, usize>, ConfigError> {
    let mut overrides = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, value, format!("{entry}: expected host:count")))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| invalid(key, value, format!("{entry}: count is not a number")))?;
        let host = host.trim().trim_matches(['[', ']']);
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| invalid(key, value, format!("{host}: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(invalid(key, value, format!("{host}: no address")));
        }
        for ip in ips {
            overrides.insert(ip, count);
        }
    }
    Ok(overrides)
}

/// Reads a `.properties` file: `key=value` (or `key: value`) lines, `#`/`!` comments.
pub fn read_properties(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_properties(&text))
}

/// Parses `.properties` text as Java's `Properties.load` does (Kafka reads
/// `server.properties` with it): `#`/`!` comments; the key ends at the first unescaped
/// `=` or `:`; a line that ends with an odd number of backslashes goes on in the next
/// one (whose leading blanks are dropped), so a PEM certificate can be given in
/// `ssl.keystore.certificate.chain`; `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\x` (for
/// any other `x`, so `\\` is one backslash) are unescaped in keys and values. Keys and
/// values are trimmed.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut logical = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let line = match pending.take() {
            Some(mut joined) => {
                joined.push_str(line.trim_start());
                joined
            }
            None => line.trim().to_string(),
        };
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 && !line.starts_with('#') && !line.starts_with('!') {
            pending = Some(line.get(..line.len() - 1).unwrap_or("").to_string());
        } else {
            logical.push(line);
        }
    }
    logical.extend(pending);
    logical
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = separator(l)?;
            let (key, value) = (l.get(..i)?, l.get(i + 1..)?);
            Some((
                unescape(key).trim().to_string(),
                unescape(value).trim().to_string(),
            ))
        })
        .collect()
}

/// The byte index of a line's first `=` or `:` not escaped by a backslash.
fn separator(line: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '=' | ':' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Java's `.properties` escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(u) if hex.len() == 4 => {
                        out.push(u);
                        chars.nth(3);
                    }
                    // Java refuses a malformed \u; kept as it is
                    _ => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

impl Config {
    /// Builds the configuration from flags (and the file they may name).
    pub fn from_args(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut props = match &args.config {
            Some(path) => read_properties(path)?,
            None => BTreeMap::new(),
        };
        for o in &args.overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| invalid("--override", o, "expected KEY=VALUE"))?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        let flag = |key: &str, v: &Option<String>, props: &mut BTreeMap<String, String>| {
            if let Some(v) = v {
                props.insert(key.to_string(), v.clone());
            }
        };
        flag("listeners", &args.listener, &mut props);
        flag(
            "advertised.listeners",
            &args.advertised_listener,
            &mut props,
        );
        flag("text.listener", &args.text_listener, &mut props);
        flag("http.listener", &args.http_listener, &mut props);
        flag(
            "log.dirs",
            &args.data_dir.as_ref().map(|p| p.display().to_string()),
            &mut props,
        );
        flag("node.id", &args.node_id.map(|n| n.to_string()), &mut props);
        Config::from_properties(&props)
    }

    /// Builds the configuration from Kafka-style keys.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut listener_keys = listeners::ListenerKeys::default();
        let mut retention_hours = None;
        let mut retention_ms = None;
        let mut authorizer_keys = AuthorizerConfig::default();
        for (k, v) in props {
            let (k, v) = (k.as_str(), v.as_str());
            match k {
                "listeners" => listener_keys.listeners = Some(v),
                "advertised.listeners" => listener_keys.advertised_listeners = Some(v),
                "listener.security.protocol.map" => listener_keys.security_protocol_map = Some(v),
                "inter.broker.listener.name" => listener_keys.inter_broker_listener_name = Some(v),
                "security.inter.broker.protocol" => {
                    listener_keys.security_inter_broker_protocol = Some(v)
                }
                "controller.listener.names" => listener_keys.controller_listener_names = Some(v),
                "text.listener" => c.text_listener = parse_listener(k, v)?,
                "text.listener.allow.unauthenticated" => {
                    c.text_listener_allow_unauthenticated = parse_bool(k, v)?
                }
                "log.dirs" | "log.dir" => {
                    c.data_dir = PathBuf::from(v.split(',').next().unwrap_or(v).trim())
                }
                "node.id" | "broker.id" => c.node_id = parse_num(k, v)?,
                "num.partitions" => {
                    c.num_partitions = parse_num(k, v)?;
                    if c.num_partitions < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "auto.create.topics.enable" => c.auto_create_topics = parse_bool(k, v)?,
                "socket.request.max.bytes" => c.socket_request_max_bytes = parse_num(k, v)?,
                "max.connections" => c.max_connections = parse_num(k, v)?,
                "max.connections.per.ip" => c.max_connections_per_ip = parse_num(k, v)?,
                "max.connections.per.ip.overrides" => {
                    c.max_connections_per_ip_overrides = parse_ip_overrides(k, v)?
                }
                "connections.max.idle.ms" => {
                    let ms: i64 = parse_num(k, v)?;
                    c.connections_max_idle_ms = u64::try_from(ms).ok();
                }
                "socket.request.receive.timeout.ms" => {
                    c.request_receive_timeout_ms = parse_num(k, v)?;
                    if c.request_receive_timeout_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "fetch.max.bytes" => c.fetch_max_bytes = parse_num(k, v)?,
                "log.retention.check.interval.ms" => {
                    c.retention_check_interval_ms = parse_num(k, v)?
                }
                "producer.id.expiration.ms" => {
                    c.producer_id_expiration_ms = parse_num(k, v)?;
                    if c.producer_id_expiration_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "producer.id.expiration.check.interval.ms" => {
                    c.producer_id_expiration_check_interval_ms = parse_num(k, v)?
                }
                "group.initial.rebalance.delay.ms" => {
                    c.group.initial_rebalance_delay_ms = parse_num(k, v)?
                }
                "group.min.session.timeout.ms" => c.group.min_session_timeout_ms = parse_num(k, v)?,
                "group.max.session.timeout.ms" => c.group.max_session_timeout_ms = parse_num(k, v)?,
                "group.coordinator.rebalance.protocols" => {
                    let mut consumer = false;
                    for p in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        match p {
                            "consumer" => consumer = true,
                            "classic" | "streams" | "share" => {}
                            _ => {
                                return Err(invalid(
                                    k,
                                    v,
                                    "protocols are classic, consumer, streams and share",
                                ))
                            }
                        }
                    }
                    if !v.split(',').any(|p| p.trim() == "classic") {
                        return Err(invalid(k, v, "classic is required"));
                    }
                    c.group.consumer_protocol = consumer;
                }
                "group.consumer.session.timeout.ms" => {
                    c.group.consumer.session_timeout_ms = parse_num(k, v)?
                }
                "group.consumer.min.session.timeout.ms" => {
                    c.group.consumer.min_session_timeout_ms = parse_num(k, v)?
                }
                "group.consumer.max.session.timeout.ms" => {
                    c.group.consumer.max_session_timeout_ms = parse_num(k, v)?
                }
                "group.consumer.heartbeat.interval.ms" => {
                    c.group.consumer.heartbeat_interval_ms = parse_num(k, v)?
                }
                "group.consumer.min.heartbeat.interval.ms" => {
                    c.group.consumer.min_heartbeat_interval_ms = parse_num(k, v)?
                }
                "group.consumer.max.heartbeat.interval.ms" => {
                    c.group.consumer.max_heartbeat_interval_ms = parse_num(k, v)?
                }
                "group.consumer.max.size" => {
                    c.group.consumer.max_size = parse_num(k, v)?;
                    if c.group.consumer.max_size < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "group.consumer.assignors" => c.group.consumer.assignors = parse_assignors(k, v)?,
                "group.consumer.migration.policy" => {
                    let (up, down) = match v.trim().to_ascii_lowercase().as_str() {
                        "bidirectional" => (true, true),
                        "upgrade" => (true, false),
                        "downgrade" => (false, true),
                        "disabled" => (false, false),
                        _ => {
                            return Err(invalid(
                                k,
                                v,
                                "one of bidirectional, upgrade, downgrade, disabled",
                            ))
                        }
                    };
                    c.group.consumer.upgrade = up;
                    c.group.consumer.downgrade = down;
                }
                "group.max.size" => {
                    c.group.max_size = parse_num(k, v)?;
                    if c.group.max_size < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "offsets.retention.minutes" => {
                    c.group.offsets_retention_ms = parse_num::<i64>(k, v)?.saturating_mul(60_000);
                    if c.group.offsets_retention_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "offsets.retention.check.interval.ms" => {
                    c.group.offsets_retention_check_interval_ms = parse_num(k, v)?
                }
                "offsets.topic.num.partitions" => {
                    c.group.offsets_topic_num_partitions = parse_num(k, v)?;
                    if c.group.offsets_topic_num_partitions < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "offsets.topic.segment.bytes" => {
                    c.group.offsets_topic_segment_bytes = parse_num(k, v)?;
                    if !(1024..=i32::MAX as u64).contains(&c.group.offsets_topic_segment_bytes) {
                        return Err(invalid(k, v, "must be in 1024..=2147483647"));
                    }
                }
                "offset.metadata.max.bytes" => c.group.offset_metadata_max_bytes = parse_num(k, v)?,
                "log.segment.bytes" => c.log.segment_bytes = parse_num(k, v)?,
                "log.roll.ms" => c.log.segment_ms = parse_num(k, v)?,
                "log.roll.hours" => c.log.segment_ms = parse_num::<i64>(k, v)? * 3_600_000,
                "log.retention.ms" => retention_ms = Some(parse_num::<i64>(k, v)?),
                "log.retention.minutes" => retention_ms = Some(parse_num::<i64>(k, v)? * 60_000),
                "log.retention.hours" => retention_hours = Some(parse_num::<i64>(k, v)?),
                "log.retention.bytes" => c.log.retention_bytes = parse_num(k, v)?,
                "log.index.interval.bytes" => c.log.index_interval_bytes = parse_num(k, v)?,
                "log.index.size.max.bytes" => c.log.segment_index_bytes = parse_num(k, v)?,
                "message.max.bytes" => c.log.max_message_bytes = parse_num(k, v)?,
                "log.message.timestamp.type" => {
                    c.log.timestamp_type = match v {
                        "CreateTime" => TimestampType::CreateTime,
                        "LogAppendTime" => TimestampType::LogAppendTime,
                        _ => return Err(invalid(k, v, "CreateTime or LogAppendTime")),
                    }
                }
                "log.cleanup.policy" => {
                    c.log.cleanup_policy = CleanupPolicy::parse(v)
                        .ok_or_else(|| invalid(k, v, "delete, compact or compact,delete"))?
                }
                "log.cleaner.min.cleanable.ratio" => {
                    c.log.min_cleanable_dirty_ratio =
                        Ratio::parse(v).ok_or_else(|| invalid(k, v, "a number in [0, 1]"))?
                }
                "log.cleaner.min.compaction.lag.ms" => {
                    c.log.min_compaction_lag_ms = parse_num(k, v)?
                }
                "log.cleaner.max.compaction.lag.ms" => {
                    c.log.max_compaction_lag_ms = parse_num(k, v)?
                }
                "log.cleaner.delete.retention.ms" => c.log.delete_retention_ms = parse_num(k, v)?,
                "log.cleaner.enable" => c.cleaner.enable = parse_bool(k, v)?,
                "log.cleaner.dedupe.buffer.size" => c.cleaner.dedupe_buffer_size = parse_num(k, v)?,
                "log.cleaner.io.max.bytes.per.second" => {
                    let rate: f64 = parse_num(k, v)?;
                    if rate.is_nan() || rate <= 0.0 {
                        return Err(invalid(k, v, "must be positive"));
                    }
                    c.cleaner.io_max_bytes_per_second = rate;
                }
                "log.cleaner.backoff.ms" => c.cleaner.backoff_ms = parse_num(k, v)?,
                "log.cleaner.io.buffer.size" => c.cleaner.io_buffer_size = parse_num(k, v)?,
                // one cleaner task does the work; Tokio's blocking pool runs it
                "log.cleaner.threads" | "log.cleaner.io.buffer.load.factor" => {
                    info!(
                        key = k,
                        "Kafka configuration key with no effect in Rafka ignored"
                    )
                }
                "log.flush.interval.messages" => c.log.flush_messages = Some(parse_num(k, v)?),
                "log.flush.interval.ms" => c.log.flush_ms = Some(parse_num(k, v)?),
                // read by cluster::parse below
                k if cluster::KEYS.contains(&k) => {}
                // read by ssl::parse below, for each SSL or SASL_SSL listener
                k if ssl::is_ssl_key(k) => {}
                // read by sasl::parse below, for each SASL listener
                k if sasl::is_sasl_key(k) => {}
                "offsets.topic.replication.factor" => {
                    c.group.offsets_topic_replication_factor = parse_num(k, v)?;
                    if c.group.offsets_topic_replication_factor < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.state.log.num.partitions" => {
                    c.txn.num_partitions = parse_num(k, v)?;
                    if c.txn.num_partitions < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.state.log.replication.factor" => {
                    c.txn.replication_factor = parse_num(k, v)?;
                    if c.txn.replication_factor < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.state.log.segment.bytes" => {
                    c.txn.segment_bytes = parse_num(k, v)?;
                    if !(1024..=i32::MAX as u64).contains(&c.txn.segment_bytes) {
                        return Err(invalid(k, v, "must be at least 1024 and fit an int"));
                    }
                }
                "transaction.max.timeout.ms" => {
                    c.txn.max_timeout_ms = parse_num(k, v)?;
                    if c.txn.max_timeout_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transactional.id.expiration.ms" => {
                    c.txn.id_expiration_ms = parse_num(k, v)?;
                    if c.txn.id_expiration_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    c.txn.abort_timed_out_interval_ms = parse_num(k, v)?;
                    if c.txn.abort_timed_out_interval_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                    c.txn.remove_expired_interval_ms = parse_num(k, v)?;
                    if c.txn.remove_expired_interval_ms < 1 {
                        return Err(invalid(k, v, "must be at least 1"));
                    }
                }
                "transaction.version" => {
                    c.txn.transaction_version = parse_num(k, v)?;
                    if !(0..=2).contains(&c.txn.transaction_version) {
                        return Err(invalid(k, v, "must be 0, 1 or 2"));
                    }
                }
                "transaction.partition.verification.enable" => {
                    c.txn.partition_verification = parse_bool(k, v)?
                }
                // accepted for compatibility with Kafka's sample files
                "transaction.state.log.min.isr"
                | "share.coordinator.state.topic.replication.factor"
                | "share.coordinator.state.topic.min.isr" => {}
                // Kafka's, in its sample config/server.properties, with no counterpart here:
                // Tokio's threads do the work and the OS sizes socket buffers
                "num.network.threads"
                | "num.io.threads"
                | "num.recovery.threads.per.data.dir"
                | "socket.send.buffer.bytes"
                | "socket.receive.buffer.bytes" => {
                    info!(
                        key = k,
                        "Kafka configuration key with no effect in Rafka ignored"
                    )
                }
                "authorizer.class.name" => match v.trim() {
                    "" => authorizer_keys.enabled = false,
                    STANDARD_AUTHORIZER => authorizer_keys.enabled = true,
                    // any other class (AclAuthorizer was ZooKeeper's) must not be skipped
                    // with a warning: the broker would run open to everyone it was meant to
                    // keep out
                    _ => {
                        return Err(invalid(
                            k,
                            v,
                            format!("the one authorizer Rafka runs is {STANDARD_AUTHORIZER}"),
                        ))
                    }
                },
                "super.users" => {
                    let mut users = std::collections::BTreeSet::new();
                    for u in v.split(';').map(str::trim).filter(|u| !u.is_empty()) {
                        if !u.contains(':') {
                            return Err(invalid(
                                k,
                                v,
                                "principals as <type>:<name>, separated by ;",
                            ));
                        }
                        users.insert(u.to_string());
                    }
                    authorizer_keys.super_users = users;
                }
                "allow.everyone.if.no.acl.found" => {
                    authorizer_keys.allow_everyone_if_no_acl_found = parse_bool(k, v)?
                }
                _ if c.observe.apply(k, v)? => {}
                _ => warn!(key = k, "unknown configuration key ignored"),
            }
        }
        if authorizer_keys.enabled {
            c.authorizer = Some(authorizer_keys);
        }
        // Kafka: log.retention.ms wins over minutes, which wins over hours
        if let Some(ms) = retention_ms {
            c.log.retention_ms = ms;
        } else if let Some(h) = retention_hours {
            c.log.retention_ms = h * 3_600_000;
        }
        let mut parsed = listeners::parse(&listener_keys)?;
        for l in &mut parsed.listeners {
            if matches!(
                l.security_protocol,
                SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
            ) {
                let sasl = l.security_protocol == SecurityProtocol::SaslSsl;
                l.ssl = Some(std::sync::Arc::new(ssl::parse(props, &l.name, sasl)?));
            }
            if matches!(
                l.security_protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            ) {
                l.sasl = Some(std::sync::Arc::new(sasl::parse(props, &l.name)?));
            }
        }
        c.cluster = cluster::parse(props, &parsed)?;
        c.log.min_insync_replicas = c.cluster.min_insync_replicas;
        c.listeners = parsed.listeners;
        c.inter_broker_listener_name = parsed.inter_broker_listener_name;
        if let Some(v) = props.get("sasl.mechanism.inter.broker.protocol") {
            let v = v.trim();
            c.inter_broker_sasl_mechanism = SaslMechanism::from_name(v);
            // (as in Kafka, it only matters when the inter-broker listener is SASL)
            let sasl = c.inter_broker_listener().is_some_and(|l| l.sasl.is_some());
            if c.inter_broker_sasl_mechanism.is_none() && sasl {
                return Err(invalid(
                    "sasl.mechanism.inter.broker.protocol",
                    v,
                    "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI and OAUTHBEARER are not \
                     served between brokers)",
                ));
            }
        }
        if c.listeners.is_empty() {
            // a controller-only node (cluster::parse allows no other case): parsed for the
            // controller, refused when a broker is started from it
            c.check_text_listener()?;
            c.check_http_listener()?;
        } else {
            c.check_listeners()?;
        }
        // Kafka's bounds (these are Java ints there); positions in a segment are u32
        let int_max = i32::MAX as u64;
        for (key, v, min, max) in [
            ("log.segment.bytes", c.log.segment_bytes, 14, int_max),
            (
                "message.max.bytes",
                c.log.max_message_bytes as u64,
                0,
                int_max,
            ),
            (
                "log.index.size.max.bytes",
                c.log.segment_index_bytes,
                4,
                int_max,
            ),
            (
                "log.index.interval.bytes",
                c.log.index_interval_bytes,
                0,
                int_max,
            ),
        ] {
            if v < min || v > max {
                return Err(invalid(
                    key,
                    &v.to_string(),
                    format!("must be in {min}..={max}"),
                ));
            }
        }
        if c.group.min_session_timeout_ms < 1
            || c.group.min_session_timeout_ms > c.group.max_session_timeout_ms
        {
            return Err(invalid(
                "group.min.session.timeout.ms",
                &c.group.min_session_timeout_ms.to_string(),
                "must be at least 1 and at most group.max.session.timeout.ms",
            ));
        }
        let cg = c.group.consumer;
        let within = |v: i32, min: i32, max: i32| 1 <= min && min <= v && v <= max;
        if !within(
            cg.session_timeout_ms,
            cg.min_session_timeout_ms,
            cg.max_session_timeout_ms,
        ) {
            return Err(invalid(
                "group.consumer.session.timeout.ms",
                &cg.session_timeout_ms.to_string(),
                "must be within group.consumer.min.session.timeout.ms and \
                 group.consumer.max.session.timeout.ms",
            ));
        }
        if !within(
            cg.heartbeat_interval_ms,
            cg.min_heartbeat_interval_ms,
            cg.max_heartbeat_interval_ms,
        ) || cg.heartbeat_interval_ms >= cg.session_timeout_ms
        {
            return Err(invalid(
                "group.consumer.heartbeat.interval.ms",
                &cg.heartbeat_interval_ms.to_string(),
                "must be within group.consumer.min/max.heartbeat.interval.ms and below \
                 group.consumer.session.timeout.ms",
            ));
        }
        if c.log.retention_ms < -1 || c.log.segment_ms < 1 {
            return Err(invalid(
                "log.retention.ms / log.roll.ms",
                "",
                "retention >= -1, roll >= 1",
            ));
        }
        // Kafka: "max.connections.per.ip can be set to zero only if
        // max.connections.per.ip.overrides property is set"
        if c.max_connections_per_ip == 0 && c.max_connections_per_ip_overrides.is_empty() {
            return Err(invalid(
                "max.connections.per.ip",
                "0",
                "can be 0 only if max.connections.per.ip.overrides is set",
            ));
        }
        if c.socket_request_max_bytes < 1024 {
            return Err(invalid(
                "socket.request.max.bytes",
                &c.socket_request_max_bytes.to_string(),
                "must be at least 1024",
            ));
        }
        Ok(c)
    }

    /// Refuses listeners the broker cannot serve: none (but on a controller-only node,
    /// which serves its controller port alone), two with one name, a controller listener
    /// other than PLAINTEXT, an inter-broker listener a broker cannot log in to, or a text
    /// listener on a Kafka or controller listener's port
    /// (or beyond loopback while a Kafka listener authenticates clients).
    /// [`Config::from_properties`] calls it, and so does the broker's start (a `Config`
    /// may be built in code).
    pub fn check_listeners(&self) -> Result<(), ConfigError> {
        // a controller-only node binds no Kafka and no text listener
        if !self.cluster.is_controller_only() {
            listeners::check(&self.listeners)?;
            self.check_text_listener()?;
            self.check_text_listener_stays_local()?;
        }
        if self.cluster.is_kraft() {
            // the quorum's own connections speak plaintext TCP
            for l in &self.cluster.controller_listeners {
                if l.security_protocol != SecurityProtocol::Plaintext {
                    return Err(ConfigError::UnsupportedSecurityProtocol {
                        listener: l.name.clone(),
                        protocol: l.security_protocol,
                        reason: "controllers talk to each other and to brokers over \
                                 PLAINTEXT only for now: give them a PLAINTEXT listener on a \
                                 private address (controller.listener.names)"
                            .into(),
                    });
                }
            }
            if let Some(l) = self.inter_broker_listener() {
                self.check_inter_broker_login(l)?;
            }
        }
        self.check_http_listener()
    }

    /// The listener brokers fetch from each other on (`inter.broker.listener.name`, else
    /// the first).
    pub fn inter_broker_listener(&self) -> Option<&ListenerConfig> {
        self.inter_broker_listener_name
            .as_deref()
            .and_then(|n| self.listeners.iter().find(|l| l.name == n))
            .or(self.listeners.first())
    }

    /// A broker can log in to another's inter-broker listener: over SSL it has a
    /// truststore to check the other's certificate with; over SASL a mechanism
    /// (`sasl.mechanism.inter.broker.protocol`) the listener offers, and a user and password
    /// for it in the listener's JAAS entry, as Kafka's brokers need.
    fn check_inter_broker_login(&self, l: &ListenerConfig) -> Result<(), ConfigError> {
        if let Some(ssl) = &l.ssl {
            if ssl.truststore.is_none() {
                return Err(ConfigError::Missing {
                    key: format!(
                        "listener.name.{}.ssl.truststore.location",
                        l.name.to_ascii_lowercase()
                    ),
                    reason: format!(
                        "listener {} is the inter-broker listener: brokers check each \
                         other's certificates against its truststore",
                        l.name
                    ),
                });
            }
        }
        let Some(sasl) = &l.sasl else {
            return Ok(());
        };
        let key = "sasl.mechanism.inter.broker.protocol";
        let mechanism = match self.inter_broker_sasl_mechanism {
            None => {
                return Err(ConfigError::Missing {
                    key: key.into(),
                    reason: format!(
                        "listener {} is the inter-broker listener: Kafka's default mechanism \
                         between brokers, GSSAPI, is not served; set {key}=PLAIN (or \
                         SCRAM-SHA-512)",
                        l.name
                    ),
                })
            }
            Some(SaslMechanism::OAuthBearer) => {
                return Err(invalid(
                    key,
                    "OAUTHBEARER",
                    "unsecured tokens are not for brokers",
                ))
            }
            Some(m) => m,
        };
        if !sasl.mechanisms.contains(&mechanism) {
            return Err(invalid(
                key,
                mechanism.name(),
                format!(
                    "listener {} does not offer it (sasl.enabled.mechanisms)",
                    l.name
                ),
            ));
        }
        if sasl.login(mechanism).is_none() {
            let jaas = format!(
                "listener.name.{}.{}.sasl.jaas.config",
                l.name.to_ascii_lowercase(),
                mechanism.name().to_ascii_lowercase()
            );
            return Err(ConfigError::Missing {
                key: jaas,
                reason: "brokers log in to each other as the user its username=\"...\" \
                         password=\"...\" options name, as in Kafka"
                    .into(),
            });
        }
        Ok(())
    }

    /// The text port has no authentication nor ACLs: once a Kafka listener authenticates
    /// clients, or an authorizer checks them, an open text port would be a way around it,
    /// so it stays on loopback unless `text.listener.allow.unauthenticated=true`.
    fn check_text_listener_stays_local(&self) -> Result<(), ConfigError> {
        let authenticates =
            self.listeners.iter().any(ListenerConfig::authenticates) || self.authorizer.is_some();
        if authenticates
            && !self.text_listener.ip().is_loopback()
            && !self.text_listener_allow_unauthenticated
        {
            return Err(invalid(
                "text.listener",
                &self.text_listener.to_string(),
                "the Kafka listeners authenticate (or authorize) clients and the text port \
                 cannot: bind it to 127.0.0.1, or set text.listener.allow.unauthenticated=true to open it \
                 to anyone anyway",
            ));
        }
        Ok(())
    }

    fn check_text_listener(&self) -> Result<(), ConfigError> {
        listeners::check_text_listener(
            self.text_listener,
            self.listeners
                .iter()
                .chain(&self.cluster.controller_listeners),
        )
    }

    /// An `http.listener` given on the port of a listener this node binds. (The default
    /// address is not refused: the server skips it there, see [`crate::server`].)
    fn check_http_listener(&self) -> Result<(), ConfigError> {
        let Some(http) = self.observe.http_listener else {
            return Ok(());
        };
        if !self.observe.http_listener_set {
            return Ok(());
        }
        listeners::check_http_listener(http, self.bound_listeners())
    }

    /// The name and configured address of every listener this node binds but HTTP: its
    /// Kafka and text listeners (none on a controller-only node) and controller ones.
    pub fn bound_listeners(&self) -> impl Iterator<Item = (&str, SocketAddr)> + '_ {
        let broker = !self.cluster.is_controller_only();
        let kafka = self.listeners.iter().filter(move |_| broker);
        let text = broker.then_some(("text", self.text_listener));
        kafka
            .chain(&self.cluster.controller_listeners)
            .map(|l| (l.name.as_str(), l.addr))
            .chain(text)
    }

    /// Logs at info the cluster configuration read, if any, and that clustering is not
    /// active yet (the node runs alone, as its own controller). Nothing without
    /// `process.roles` and controller listeners: the single node needs no words.
    pub fn log_cluster(&self) {
        let c = &self.cluster;
        let join = |items: Vec<String>| items.join(",");
        let voters = join(
            c.voters
                .iter()
                .map(|(id, at)| format!("{id}@{at}"))
                .collect(),
        );
        let bootstrap_servers = join(c.bootstrap_servers.iter().map(|s| s.to_string()).collect());
        let controller_listeners = join(
            c.controller_listeners
                .iter()
                .map(|l| format!("{}://{}", l.name, l.addr))
                .collect(),
        );
        match c.roles {
            Some(roles) => info!(
                process_roles = %roles,
                node_id = self.node_id,
                %voters,
                %bootstrap_servers,
                %controller_listeners,
                broker_session_timeout_ms = c.broker_session_timeout_ms,
                broker_heartbeat_interval_ms = c.broker_heartbeat_interval_ms,
                default_replication_factor = c.default_replication_factor,
                min_insync_replicas = c.min_insync_replicas,
                unclean_leader_election_enable = c.unclean_leader_election_enable,
                "cluster configuration read: this node joins the KRaft cluster"
            ),
            None if !c.controller_listeners.is_empty()
                || !c.voters.is_empty()
                || !c.bootstrap_servers.is_empty() =>
            {
                info!(
                    %voters,
                    %bootstrap_servers,
                    %controller_listeners,
                    "controller keys read without process.roles: they have no effect; this \
                     node runs alone as its own controller"
                )
            }
            None => {}
        }
    }
}

/// The one authorizer class Rafka runs (Kafka's KRaft authorizer).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// `super.users` and `allow.everyone.if.no.acl.found`, for the StandardAuthorizer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Set by `authorizer.class.name` (read with the other keys, then dropped).
    enabled: bool,
    /// `User:name` strings, `;`-separated in the key, compared exactly.
    pub super_users: std::collections::BTreeSet<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// An authorizer with these super users (a broker started in-process).
    pub fn with_super_users<S: Into<String>>(users: impl IntoIterator<Item = S>) -> Self {
        AuthorizerConfig {
            enabled: true,
            super_users: users.into_iter().map(Into::into).collect(),
            allow_everyone_if_no_acl_found: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_keys_file_then_flags() {
        let props = parse_properties(
            "# comment\nlisteners=PLAINTEXT://localhost:19092\nlog.dirs=/tmp/x,/tmp/y\n\
             num.partitions=3\nauto.create.topics.enable=false\nlog.retention.hours=1\n\
             message.max.bytes=2000000\n",
        );
        let c = Config::from_properties(&props).expect("valid");
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].name, "PLAINTEXT");
        assert_eq!(
            c.listeners[0].addr,
            "127.0.0.1:19092".parse().expect("addr")
        );
        assert_eq!(c.listeners[0].advertised, ("127.0.0.1".to_string(), 19092));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.num_partitions, 3);
        assert!(!c.auto_create_topics);
        assert_eq!(c.log.retention_ms, 3_600_000);
        assert_eq!(c.log.max_message_bytes, 2_000_000);
    }

    /// Kafka's StandardAuthorizer keys; any other authorizer class stops the start rather
    /// than be ignored (the broker would be open to everyone).
    #[test]
    fn the_standard_authorizer_and_its_keys() {
        let props = parse_properties(concat!(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n",
            "super.users=User:admin; User:CN=broker,O=x\n",
            "allow.everyone.if.no.acl.found=true\n",
        ));
        let z = Config::from_properties(&props)
            .expect("valid")
            .authorizer
            .expect("on");
        let users: Vec<&str> = z.super_users.iter().map(String::as_str).collect();
        assert_eq!(users, ["User:CN=broker,O=x", "User:admin"]);
        assert!(z.allow_everyone_if_no_acl_found);
        let props =
            parse_properties("authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n");
        let err = Config::from_properties(&props)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("StandardAuthorizer"), "{err}");
        let props = parse_properties("super.users=admin\n");
        assert!(
            Config::from_properties(&props).is_err(),
            "a principal without its type"
        );
        let props = parse_properties("authorizer.class.name=\nsuper.users=User:admin\n");
        let c = Config::from_properties(&props).expect("valid");
        assert!(c.authorizer.is_none(), "empty: no authorizer, as in Kafka");
        // the text port has no ACLs: beside an authorizer it stays on loopback
        let props = parse_properties(concat!(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n",
            "text.listener=0.0.0.0:9192\n",
        ));
        let err = Config::from_properties(&props)
            .and_then(|c| c.check_listeners().map(|()| c))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("text.listener"), "{err}");
    }

    #[test]
    fn an_http_listener_on_another_listeners_port_is_refused() {
        let props =
            |extra: &str| parse_properties(&format!("text.listener=127.0.0.1:19192\n{extra}"));
        let err = Config::from_properties(&props("http.listener=127.0.0.1:19192\n"))
            .expect_err("on the text listener's port");
        assert!(err.to_string().contains("http.listener"), "{err}");
        assert!(Config::from_properties(&props("http.listener=0.0.0.0:9092\n")).is_err());
        assert!(Config::from_properties(&props("http.listener=127.0.0.1:19193\n")).is_ok());
        // the default address is not refused (the server skips it on a taken port)
        let c = Config::from_properties(&parse_properties("text.listener=127.0.0.1:9193\n"))
            .expect("valid");
        assert!(!c.observe.http_listener_set);
    }

    #[test]
    fn connection_limits_in_kafkas_formats() {
        let props = parse_properties(
            "max.connections.per.ip=5\n\
             max.connections.per.ip.overrides=127.0.0.2:100, ::1:7 ,localhost:0\n\
             connections.max.idle.ms=-1\nsocket.request.receive.timeout.ms=250\n",
        );
        let c = Config::from_properties(&props).expect("valid");
        assert_eq!(c.max_connections_per_ip, 5);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            c.max_connections_per_ip_overrides.get(&ip("127.0.0.2")),
            Some(&100)
        );
        assert_eq!(c.max_connections_per_ip_overrides.get(&ip("::1")), Some(&7));
        assert_eq!(
            c.max_connections_per_ip_overrides.get(&ip("127.0.0.1")),
            Some(&0)
        );
        assert_eq!(c.connections_max_idle_ms, None);
        assert_eq!(c.request_receive_timeout_ms, 250);
        let d = Config::default();
        assert_eq!(d.connections_max_idle_ms, Some(600_000));
        assert_eq!(d.max_connections_per_ip, i32::MAX as usize);
        for (k, v) in [
            ("max.connections.per.ip", "0"),
            ("max.connections.per.ip", "-1"),
            ("max.connections.per.ip.overrides", "127.0.0.1"),
            ("max.connections.per.ip.overrides", "127.0.0.1:x"),
            ("socket.request.receive.timeout.ms", "0"),
        ] {
            let props = BTreeMap::from([(k.to_string(), v.to_string())]);
            assert!(Config::from_properties(&props).is_err(), "{k}={v}");
        }
        let props = BTreeMap::from([
            ("max.connections.per.ip".to_string(), "0".to_string()),
            (
                "max.connections.per.ip.overrides".to_string(),
                "10.0.0.1:3".to_string(),
            ),
        ]);
        assert!(Config::from_properties(&props).is_ok(), "0 with overrides");
    }

    #[test]
    fn topic_specs() {
        let spec = |name: &str, partitions| TopicSpec {
            name: name.to_string(),
            partitions,
        };
        assert_eq!(parse_topic_spec("orders"), Ok(spec("orders", None)));
        assert_eq!(parse_topic_spec("a.b_c-1:3"), Ok(spec("a.b_c-1", Some(3))));
        for bad in [
            "", ":3", "a:", "a:0", "a:-1", "a:x", "a:3:4", "a b", "a:100001",
        ] {
            assert!(parse_topic_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn properties_lines_go_on_after_a_backslash() {
        let p = parse_properties("a=one \\\n   two\\\n three\nb=ends\\\\\n# c=x \\\nd=4\n");
        assert_eq!(p.get("a").map(String::as_str), Some("one twothree"));
        // an even number of backslashes is no continuation, and two are one
        assert_eq!(p.get("b").map(String::as_str), Some("ends\\"));
        // nor is a comment's
        assert_eq!(p.get("d").map(String::as_str), Some("4"));
        // Java's escapes: a regex's \\w is written \\\\w; an escaped = is in the key
        let p = parse_properties("r=RULE:^CN=(\\\\w+)$/$1/\na\\=b=c\nu=\\u0041\\t.\n");
        assert_eq!(p.get("r").map(String::as_str), Some("RULE:^CN=(\\w+)$/$1/"));
        assert_eq!(p.get("a=b").map(String::as_str), Some("c"));
        assert_eq!(p.get("u").map(String::as_str), Some("A\t."));
    }

    #[test]
    fn the_text_port_stays_local_beside_authenticated_listeners() {
        let sasl = "listeners=SASL_PLAINTEXT://127.0.0.1:9092\nsasl.enabled.mechanisms=PLAIN\n\
            listener.name.sasl_plaintext.plain.sasl.jaas.config=\
            org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\";\n";
        let config =
            |extra: &str| Config::from_properties(&parse_properties(&format!("{sasl}{extra}")));
        assert!(config("text.listener=127.0.0.1:19192").is_ok());
        let err = config("text.listener=0.0.0.0:19192").expect_err("refused");
        assert!(
            err.to_string()
                .contains("text.listener.allow.unauthenticated"),
            "{err}"
        );
        assert!(
            config("text.listener=0.0.0.0:19192\ntext.listener.allow.unauthenticated=true").is_ok()
        );
        // without authentication anywhere it is only warned about, at start
        let open = "listeners=PLAINTEXT://127.0.0.1:9092\ntext.listener=0.0.0.0:19192";
        assert!(Config::from_properties(&parse_properties(open)).is_ok());
    }

    #[test]
    fn invalid_values_are_errors() {
        for (k, v) in [
            ("num.partitions", "zero"),
            ("num.partitions", "0"),
            ("auto.create.topics.enable", "yes"),
            ("listeners", "nohostport"),
            ("log.message.timestamp.type", "Never"),
            ("log.segment.bytes", "8589934592"),
            ("message.max.bytes", "-1"),
        ] {
            let props = BTreeMap::from([(k.to_string(), v.to_string())]);
            assert!(Config::from_properties(&props).is_err(), "{k}={v}");
        }
    }
}
