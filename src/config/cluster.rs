//! Kafka's cluster (KRaft) keys: `process.roles`, `node.id`, `controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers`, the controller listeners, the broker lease
//! (`broker.session.timeout.ms`, `broker.heartbeat.interval.ms`), the quorum's timing
//! (`controller.quorum.*.ms`) and the replication defaults (`default.replication.factor`,
//! `min.insync.replicas`, `unclean.leader.election.enable`), parsed into one
//! [`ClusterConfig`] and checked against each other as Kafka 4 checks them
//! (`KafkaConfig.validateValues`, `QuorumConfig`), with Kafka's wording where it has one.
//!
//! What this module does not do: start a quorum, bind a controller listener or register
//! a broker. Today a node runs alone whatever it reads here (it is its own controller);
//! the parsed configuration is complete so that the controller and the broker lifecycle
//! can start from it.
//!
//! Where Rafka differs from Kafka:
//! - No `process.roles` is not ZooKeeper mode but Rafka's single node: zero
//!   configuration, one node that is its own controller, `node.id` defaulting to 1.
//! - Rafka refuses what Kafka lets through and fails on later: a voter id given twice
//!   (Kafka keeps the last), a heartbeat interval not below the session timeout, a
//!   negative node id, a replication factor or timing value below 1.
//! - Hosts of voters and bootstrap servers are kept as written (not resolved): they name
//!   other machines, which need not resolve from here at start.

use std::collections::BTreeMap;
use std::fmt;

use tracing::warn;

use super::listeners::{ListenerConfig, Listeners};
use super::{invalid, ConfigError};

/// `process.roles`: what this node is in a KRaft cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessRoles {
    /// `broker`: serves clients, registers with the controller quorum.
    Broker,
    /// `controller`: a member of the controller quorum only.
    Controller,
    /// `broker,controller` (Kafka's combined mode, its sample `server.properties`).
    BrokerAndController,
}

impl ProcessRoles {
    /// Has the broker role.
    pub fn is_broker(self) -> bool {
        matches!(
            self,
            ProcessRoles::Broker | ProcessRoles::BrokerAndController
        )
    }

    /// Has the controller role.
    pub fn is_controller(self) -> bool {
        matches!(
            self,
            ProcessRoles::Controller | ProcessRoles::BrokerAndController
        )
    }

    /// As written in `process.roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRoles::Broker => "broker",
            ProcessRoles::Controller => "controller",
            ProcessRoles::BrokerAndController => "broker,controller",
        }
    }
}

impl fmt::Display for ProcessRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `host:port` another node is reached at, as written (not resolved).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// A host name or an IP address (an IPv6 one without brackets).
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The cluster keys, with Kafka's defaults. `Default` is Rafka's single node (no
/// `process.roles`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `process.roles`. `None`: not set, Rafka's single node that is its own controller.
    pub roles: Option<ProcessRoles>,
    /// `controller.quorum.voters`: the static quorum, voter id → its controller
    /// endpoint. Empty when the quorum is dynamic (bootstrap servers) or there is none.
    pub voters: BTreeMap<i32, HostPort>,
    /// `controller.quorum.bootstrap.servers`: controllers to ask for the quorum (KIP-853),
    /// in the order given.
    pub bootstrap_servers: Vec<HostPort>,
    /// `controller.listener.names`, upper-cased, in the order given (a broker-only node
    /// talks to the controllers on the first).
    pub controller_listener_names: Vec<String>,
    /// The listeners of `listeners` named in `controller.listener.names` (with their
    /// `advertised.listeners` entries), in `listeners` order: what the controller will
    /// bind. Not bound yet. Invariant after validation: non-empty iff the node has the
    /// controller role, or (no `process.roles`) `controller.listener.names` names some.
    pub controller_listeners: Vec<ListenerConfig>,
    /// `broker.session.timeout.ms` (9000): a broker without a heartbeat this long is
    /// fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms` (2000). Invariant: less than the session timeout.
    pub broker_heartbeat_interval_ms: u64,
    /// `controller.quorum.election.timeout.ms` (1000).
    pub quorum_election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms` (2000).
    pub quorum_fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms` (1000).
    pub quorum_election_backoff_max_ms: u64,
    /// `default.replication.factor` (1): for auto-created topics and CreateTopics with -1.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` (1): the topic default.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (false): the topic default.
    pub unclean_leader_election_enable: bool,
    /// `replica.lag.time.max.ms` (30000): a follower not caught up this long leaves the
    /// ISR.
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms` (500): how long a follower's fetch waits for data.
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.fetch.backoff.ms` (1000): a follower's pause after a failed fetch.
    pub replica_fetch_backoff_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            roles: None,
            voters: BTreeMap::new(),
            bootstrap_servers: Vec::new(),
            controller_listener_names: Vec::new(),
            controller_listeners: Vec::new(),
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            quorum_election_timeout_ms: 1_000,
            quorum_fetch_timeout_ms: 2_000,
            quorum_election_backoff_max_ms: 1_000,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_backoff_ms: 1_000,
        }
    }
}

impl ClusterConfig {
    /// `process.roles` is set: the node belongs to a KRaft cluster (not active yet).
    pub fn is_kraft(&self) -> bool {
        self.roles.is_some()
    }

    /// `process.roles=controller`: no broker role, so no listener for clients.
    pub fn is_controller_only(&self) -> bool {
        self.roles == Some(ProcessRoles::Controller)
    }

    /// The controller listener other nodes reach this one at: the first of
    /// `controller.listener.names` that this node has, advertised.
    pub fn controller_listener(&self) -> Option<&ListenerConfig> {
        self.controller_listener_names
            .iter()
            .find_map(|n| self.controller_listeners.iter().find(|l| l.name == *n))
    }
}

/// The keys this module reads (the rest of the configuration ignores them).
pub(super) const KEYS: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.election.backoff.max.ms",
    "default.replication.factor",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "replica.lag.time.max.ms",
    "replica.fetch.wait.max.ms",
    "replica.fetch.backoff.ms",
];

/// Parses the cluster keys of `props` and checks them against the listeners (already
/// parsed) and the node id, as Kafka does. `node.id` and `broker.id` are read here for
/// the rules; the caller keeps the node id.
pub(super) fn parse(
    props: &BTreeMap<String, String>,
    listeners: &Listeners,
) -> Result<ClusterConfig, ConfigError> {
    let get = |key: &str| props.get(key).map(String::as_str);
    let mut c = ClusterConfig {
        roles: get("process.roles").map(parse_roles).transpose()?.flatten(),
        controller_listener_names: listeners.controller_listener_names.clone(),
        controller_listeners: listeners.controller_listeners.clone(),
        ..ClusterConfig::default()
    };
    if let Some(v) = get("controller.quorum.voters") {
        c.voters = parse_voters("controller.quorum.voters", v)?;
    }
    if let Some(v) = get("controller.quorum.bootstrap.servers") {
        c.bootstrap_servers = parse_bootstrap_servers("controller.quorum.bootstrap.servers", v)?;
    }
    for (key, field) in [
        (
            "broker.session.timeout.ms",
            &mut c.broker_session_timeout_ms,
        ),
        (
            "broker.heartbeat.interval.ms",
            &mut c.broker_heartbeat_interval_ms,
        ),
        (
            "controller.quorum.election.timeout.ms",
            &mut c.quorum_election_timeout_ms,
        ),
        (
            "controller.quorum.fetch.timeout.ms",
            &mut c.quorum_fetch_timeout_ms,
        ),
        (
            "controller.quorum.election.backoff.max.ms",
            &mut c.quorum_election_backoff_max_ms,
        ),
        ("replica.lag.time.max.ms", &mut c.replica_lag_time_max_ms),
        (
            "replica.fetch.wait.max.ms",
            &mut c.replica_fetch_wait_max_ms,
        ),
        ("replica.fetch.backoff.ms", &mut c.replica_fetch_backoff_ms),
    ] {
        if let Some(v) = get(key) {
            *field = parse_ms(key, v)?;
        }
    }
    if let Some(v) = get("default.replication.factor") {
        let key = "default.replication.factor";
        c.default_replication_factor = v
            .trim()
            .parse::<i16>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| invalid(key, v, "must be a number in 1..=32767"))?;
    }
    if let Some(v) = get("min.insync.replicas") {
        let key = "min.insync.replicas";
        c.min_insync_replicas = v
            .trim()
            .parse::<i32>()
            .map_err(|_| invalid(key, v, "not a number"))?;
        if c.min_insync_replicas < 1 {
            // Kafka: "Value must be at least 1"
            return Err(invalid(key, v, "must be at least 1"));
        }
    }
    if let Some(v) = get("unclean.leader.election.enable") {
        c.unclean_leader_election_enable = super::parse_bool("unclean.leader.election.enable", v)?;
    }
    if c.broker_heartbeat_interval_ms >= c.broker_session_timeout_ms {
        return Err(invalid(
            "broker.heartbeat.interval.ms",
            &c.broker_heartbeat_interval_ms.to_string(),
            format!(
                "must be less than broker.session.timeout.ms ({}), or a broker is fenced \
                 between two heartbeats",
                c.broker_session_timeout_ms
            ),
        ));
    }
    let node_id = node_id(props, c.roles)?;
    check_roles(&c, node_id, listeners)?;
    Ok(c)
}

/// `process.roles`: `broker`, `controller` or both, in any order; empty is not set.
fn parse_roles(value: &str) -> Result<Option<ProcessRoles>, ConfigError> {
    let key = "process.roles";
    let (mut broker, mut controller) = (false, false);
    for role in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let seen = match role {
            "broker" => std::mem::replace(&mut broker, true),
            "controller" => std::mem::replace(&mut controller, true),
            _ => {
                return Err(invalid(
                    key,
                    value,
                    format!(
                        "unknown process role '{role}' (only 'broker' and 'controller' are \
                         allowed roles)"
                    ),
                ))
            }
        };
        if seen {
            return Err(invalid(key, value, "duplicate role names"));
        }
    }
    Ok(match (broker, controller) {
        (true, true) => Some(ProcessRoles::BrokerAndController),
        (true, false) => Some(ProcessRoles::Broker),
        (false, true) => Some(ProcessRoles::Controller),
        (false, false) => None,
    })
}

/// The node id the rules check: `node.id` (or `broker.id`, Kafka's older name; both must
/// agree), required with `process.roles`.
fn node_id(
    props: &BTreeMap<String, String>,
    roles: Option<ProcessRoles>,
) -> Result<i32, ConfigError> {
    let read = |key: &str| -> Result<Option<i32>, ConfigError> {
        props
            .get(key)
            .map(|v| {
                let id = super::parse_num::<i32>(key, v)?;
                if id < 0 {
                    return Err(invalid(key, v, "must be at least 0"));
                }
                Ok(id)
            })
            .transpose()
    };
    let (node, broker) = (read("node.id")?, read("broker.id")?);
    match (node, broker, roles) {
        (Some(n), Some(b), _) if n != b => Err(invalid(
            "node.id",
            &n.to_string(),
            format!("you must set node.id to the same value as broker.id ({b})"),
        )),
        (Some(id), _, _) | (None, Some(id), _) => Ok(id),
        (None, None, Some(_)) => Err(ConfigError::Missing {
            key: "node.id".into(),
            reason: "it is required when process.roles is set (Kafka's KRaft mode), and has \
                     no default"
                .into(),
        }),
        (None, None, None) => Ok(super::Config::default().node_id),
    }
}

/// Kafka's rules for each `process.roles`.
fn check_roles(c: &ClusterConfig, node_id: i32, listeners: &Listeners) -> Result<(), ConfigError> {
    let names = c.controller_listener_names.join(",");
    let voter_ids = || {
        let ids: Vec<String> = c.voters.keys().map(i32::to_string).collect();
        format!("{{{}}}", ids.join(", "))
    };
    let voters_value = || {
        c.voters
            .iter()
            .map(|(id, at)| format!("{id}@{at}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let Some(roles) = c.roles else {
        // Rafka's single node: Kafka clients need a listener
        if listeners.listeners.is_empty() {
            return Err(no_broker_listener());
        }
        return Ok(());
    };
    if c.voters.is_empty() && c.bootstrap_servers.is_empty() {
        return Err(ConfigError::Missing {
            key: "controller.quorum.voters".into(),
            reason: "with process.roles set, either controller.quorum.bootstrap.servers must \
                     contain the set of bootstrap controllers or controller.quorum.voters must \
                     contain a parseable set of controllers"
                .into(),
        });
    }
    if roles.is_controller() {
        if !c.voters.is_empty() && !c.voters.contains_key(&node_id) {
            return Err(invalid(
                "controller.quorum.voters",
                &voters_value(),
                format!(
                    "process.roles contains the 'controller' role, so the node id {node_id} \
                     must be included in the set of voters {}",
                    voter_ids()
                ),
            ));
        }
        if c.controller_listener_names.is_empty() {
            return Err(ConfigError::Missing {
                key: "controller.listener.names".into(),
                reason: "it must contain at least one value appearing in the 'listeners' \
                         configuration when running the KRaft controller role"
                    .into(),
            });
        }
        if let Some(missing) = c
            .controller_listener_names
            .iter()
            .find(|n| !c.controller_listeners.iter().any(|l| l.name == **n))
        {
            return Err(invalid(
                "controller.listener.names",
                &names,
                format!(
                    "must only contain values appearing in the 'listeners' configuration when \
                     running the KRaft controller role ({missing} is not a listener)"
                ),
            ));
        }
    } else {
        // broker only
        if c.voters.contains_key(&node_id) {
            return Err(invalid(
                "controller.quorum.voters",
                &voters_value(),
                format!(
                    "process.roles contains just the 'broker' role, so the node id {node_id} \
                     must not be included in the set of voters {}",
                    voter_ids()
                ),
            ));
        }
        if c.controller_listener_names.is_empty() {
            return Err(ConfigError::Missing {
                key: "controller.listener.names".into(),
                reason: "it must contain at least one value when running KRaft with just the \
                         broker role"
                    .into(),
            });
        }
        if let Some(l) = c.controller_listeners.first() {
            return Err(invalid(
                "controller.listener.names",
                &names,
                format!(
                    "must not contain a value appearing in the 'listeners' configuration when \
                     running KRaft with just the broker role ({} is a listener)",
                    l.name
                ),
            ));
        }
        if let Some(n) = c
            .controller_listener_names
            .iter()
            .find(|n| !listeners.security_protocol_map.contains_key(*n))
        {
            return Err(invalid(
                "controller.listener.names",
                &names,
                format!(
                    "controller listener {n} has no security protocol in \
                     listener.security.protocol.map (an explicit mapping for each controller \
                     listener is required if the map is set, or if SSL or SASL is in use)"
                ),
            ));
        }
        if c.controller_listener_names.len() > 1 {
            // Kafka warns the same
            warn!(
                controller_listener_names = %names,
                "controller.listener.names has several entries; only the first is used with \
                 process.roles=broker"
            );
        }
    }
    if roles.is_broker() {
        if listeners.listeners.is_empty() {
            return Err(no_broker_listener());
        }
    } else if let Some(l) = listeners.listeners.first() {
        return Err(invalid(
            "listeners",
            &l.name,
            format!(
                "the listeners config must only contain KRaft controller listeners from \
                 controller.listener.names ({names}) when process.roles=controller; {} is not \
                 one",
                l.name
            ),
        ));
    }
    Ok(())
}

fn no_broker_listener() -> ConfigError {
    invalid(
        "listeners",
        "",
        "there must be at least one broker listener, and every listener is a controller \
         listener (controller.listener.names); Kafka clients need one that is not",
    )
}

/// A timing key: a Java int of milliseconds, at least 1.
fn parse_ms(key: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| (1..=i32::MAX as u64).contains(ms))
        .ok_or_else(|| {
            invalid(
                key,
                value,
                "must be a number of milliseconds in 1..=2147483647",
            )
        })
}

/// `{id}@{host}:{port},...`: Kafka's `controller.quorum.voters`.
fn parse_voters(key: &str, value: &str) -> Result<BTreeMap<i32, HostPort>, ConfigError> {
    const FORM: &str = "each entry should be in the form `{id}@{host}:{port}`";
    let mut voters = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, at)) = entry.split_once('@').filter(|(_, at)| !at.contains('@')) else {
            return Err(invalid(key, value, format!("{entry}: {FORM}")));
        };
        let id: i32 = id.trim().parse().map_err(|_| {
            invalid(
                key,
                value,
                format!("{entry}: failed to parse voter ID as an integer from {id}"),
            )
        })?;
        if id < 0 {
            return Err(invalid(
                key,
                value,
                format!("{entry}: voter id {id} is negative"),
            ));
        }
        let at = host_port(key, value, entry, at, FORM)?;
        if at.host == "0.0.0.0" {
            // Kafka refuses it when the quorum starts
            return Err(invalid(
                key,
                value,
                format!("{entry}: host string (0.0.0.0) is not routeable"),
            ));
        }
        if voters.insert(id, at).is_some() {
            return Err(invalid(key, value, format!("voter id {id} appears twice")));
        }
    }
    Ok(voters)
}

/// `{host}:{port},...`: Kafka's `controller.quorum.bootstrap.servers`.
fn parse_bootstrap_servers(key: &str, value: &str) -> Result<Vec<HostPort>, ConfigError> {
    const FORM: &str = "each entry should be in the form \"{host}:{port}\"";
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| host_port(key, value, entry, entry, FORM))
        .collect()
}

/// `host:port` (an IPv6 host in brackets), with the characters Kafka allows in a host.
fn host_port(
    key: &str,
    value: &str,
    entry: &str,
    at: &str,
    form: &str,
) -> Result<HostPort, ConfigError> {
    let Some((host, port)) = at.trim().rsplit_once(':') else {
        return Err(invalid(
            key,
            value,
            format!("failed to parse host port from entry {entry}: {form}"),
        ));
    };
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':'));
    if !valid_host {
        return Err(invalid(
            key,
            value,
            format!("failed to parse host name from entry {entry}: {form}"),
        ));
    }
    let port = port.parse::<u16>().map_err(|_| {
        invalid(
            key,
            value,
            format!("failed to parse host port from entry {entry}: {form}"),
        )
    })?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::config::{parse_properties, Config, SaslMechanism};

    /// Kafka 4.0's `config/server.properties` as shipped (combined mode).
    const KAFKA_SAMPLE: &str = include_str!("../../tests/fixtures/kafka/server.properties");

    fn config(text: &str) -> Result<Config, ConfigError> {
        Config::from_properties(&parse_properties(text))
    }

    /// The error's text for a configuration that must be refused.
    fn refused(text: &str) -> String {
        match config(text) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{text:?} accepted: {:?}", c.cluster),
        }
    }

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.to_string(),
            port,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// A combined node as kafka-ref.sh configures Kafka, with `extra` lines appended
    /// (a later key overrides an earlier one).
    fn combined(extra: &str) -> String {
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:19093\n\
             listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
             controller.listener.names=CONTROLLER\n{extra}"
        )
    }

    /// The inter-broker listener may be SASL or SSL (Kafka's keys): its SASL mechanism must
    /// be set, offered, and have a login in the listener's JAAS entry; over SSL it needs a
    /// truststore. Controller listeners stay PLAINTEXT.
    #[test]
    fn inter_broker_listener_logins() {
        let sasl = |extra: &str| {
            combined(&format!(
                "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,\
                 INTERNAL://127.0.0.1:19094
\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,\
                 INTERNAL:SASL_PLAINTEXT
\
                 inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=PLAIN
{extra}"
            ))
        };
        let jaas = "listener.name.internal.plain.sasl.jaas.config=\
            org.apache.kafka.common.security.plain.PlainLoginModule required \
            username=\"broker\" password=\"pw\" user_broker=\"pw\";\n";
        let ok = config(&sasl(&format!(
            "{jaas}sasl.mechanism.inter.broker.protocol=PLAIN\n"
        )))
        .expect("valid");
        assert_eq!(ok.inter_broker_sasl_mechanism, Some(SaslMechanism::Plain));
        let login = ok
            .inter_broker_listener()
            .and_then(|l| l.sasl.as_ref())
            .and_then(|s| s.login(SaslMechanism::Plain).cloned())
            .expect("a login");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("broker", "pw")
        );
        assert!(
            !format!("{login:?}").contains("pw"),
            "the password is never printed"
        );
        // Kafka's default mechanism between brokers is GSSAPI, not served
        assert!(refused(&sasl(jaas)).contains("sasl.mechanism.inter.broker.protocol"));
        // not offered by the listener
        let e = refused(&sasl(&format!(
            "{jaas}sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"
        )));
        assert!(e.contains("does not offer it"), "{e}");
        // no username/password in the JAAS entry
        let e = refused(&sasl(
            "listener.name.internal.plain.sasl.jaas.config=\
             org.apache.kafka.common.security.plain.PlainLoginModule required user_b=\"pw\";\n\
             sasl.mechanism.inter.broker.protocol=PLAIN\n",
        ));
        assert!(
            e.contains("listener.name.internal.plain.sasl.jaas.config"),
            "{e}"
        );
        // SSL without a truststore: the other brokers' certificates cannot be checked
        let e = refused(&combined(
            "listeners=SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
             listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT\n\
             ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\n",
        ));
        assert!(e.contains("truststore"), "{e}");
        // security.inter.broker.protocol names a listener
        let e = refused(&combined("security.inter.broker.protocol=SSL\n"));
        assert!(e.contains("no listener has that name"), "{e}");
    }

    /// A broker-only node of a three-controller quorum.
    fn broker_only(extra: &str) -> String {
        format!(
            "process.roles=broker\nnode.id=4\n\
             controller.quorum.voters=1@c1:9093,2@c2:9093,3@c3:9093\n\
             listeners=PLAINTEXT://127.0.0.1:19092\n\
             controller.listener.names=CONTROLLER\n{extra}"
        )
    }

    #[test]
    fn no_cluster_keys_is_the_single_node() {
        let c = config("").expect("valid");
        assert_eq!(c.cluster, ClusterConfig::default());
        assert_eq!(c.cluster.roles, None);
        assert!(!c.cluster.is_kraft());
        assert_eq!(c.node_id, 1);
        assert_eq!(c.text_listener, addr("127.0.0.1:9192"));
        // Kafka's defaults
        let d = ClusterConfig::default();
        assert_eq!(d.broker_session_timeout_ms, 9_000);
        assert_eq!(d.broker_heartbeat_interval_ms, 2_000);
        assert_eq!(d.quorum_election_timeout_ms, 1_000);
        assert_eq!(d.quorum_fetch_timeout_ms, 2_000);
        assert_eq!(d.quorum_election_backoff_max_ms, 1_000);
        assert_eq!(d.default_replication_factor, 1);
        assert_eq!(d.min_insync_replicas, 1);
        assert!(!d.unclean_leader_election_enable);
    }

    /// Kafka 4's sample file, as shipped, is accepted and read completely.
    #[test]
    fn kafkas_sample_server_properties() {
        let c = config(KAFKA_SAMPLE).expect("Kafka's sample is valid");
        let k = &c.cluster;
        assert_eq!(k.roles, Some(ProcessRoles::BrokerAndController));
        assert_eq!(c.node_id, 1);
        assert!(k.voters.is_empty());
        assert_eq!(k.bootstrap_servers, [hp("localhost", 9093)]);
        assert_eq!(k.controller_listener_names, ["CONTROLLER"]);
        assert_eq!(
            k.controller_listeners,
            [ListenerConfig {
                name: "CONTROLLER".into(),
                security_protocol: crate::config::SecurityProtocol::Plaintext,
                addr: addr("0.0.0.0:9093"),
                advertised: ("localhost".into(), 9093),
                ssl: None,
                sasl: None,
            }]
        );
        assert_eq!(
            k.controller_listener().map(|l| l.name.as_str()),
            Some("CONTROLLER")
        );
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].name, "PLAINTEXT");
        assert_eq!(c.listeners[0].addr, addr("0.0.0.0:9092"));
        assert_eq!(c.listeners[0].advertised, ("localhost".into(), 9092));
        assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
        // the text listener's default no longer collides with CONTROLLER on 9093
        assert_eq!(c.text_listener, addr("127.0.0.1:9192"));
        assert_eq!(
            c.data_dir,
            std::path::PathBuf::from("/tmp/kraft-combined-logs")
        );
        assert_eq!(k.broker_session_timeout_ms, 9_000);
    }

    #[test]
    fn every_key_is_read() {
        let c = config(&combined(
            "controller.quorum.voters=1@127.0.0.1:19093,2@[::1]:19094,3@c3.example.com:9093\n\
             controller.quorum.bootstrap.servers=c1:9093, 10.0.0.2:9093,[::1]:9093\n\
             broker.session.timeout.ms=18000\nbroker.heartbeat.interval.ms=3000\n\
             controller.quorum.election.timeout.ms=1500\n\
             controller.quorum.fetch.timeout.ms=3000\n\
             controller.quorum.election.backoff.max.ms=800\n\
             default.replication.factor=3\nmin.insync.replicas=2\n\
             unclean.leader.election.enable=true\n",
        ))
        .expect("valid");
        let k = &c.cluster;
        assert_eq!(
            k.voters,
            BTreeMap::from([
                (1, hp("127.0.0.1", 19093)),
                (2, hp("::1", 19094)),
                (3, hp("c3.example.com", 9093)),
            ])
        );
        assert_eq!(k.voters[&2].to_string(), "[::1]:19094");
        assert_eq!(
            k.bootstrap_servers,
            [hp("c1", 9093), hp("10.0.0.2", 9093), hp("::1", 9093)]
        );
        assert_eq!(
            (k.broker_session_timeout_ms, k.broker_heartbeat_interval_ms),
            (18_000, 3_000)
        );
        assert_eq!(
            (
                k.quorum_election_timeout_ms,
                k.quorum_fetch_timeout_ms,
                k.quorum_election_backoff_max_ms
            ),
            (1_500, 3_000, 800)
        );
        assert_eq!(k.default_replication_factor, 3);
        assert_eq!(k.min_insync_replicas, 2);
        assert!(k.unclean_leader_election_enable);
        // the controller listener is kept for the controller, not served to clients
        assert_eq!(k.controller_listeners.len(), 1);
        assert_eq!(k.controller_listeners[0].addr, addr("127.0.0.1:19093"));
        assert_eq!(c.listeners.len(), 1);
    }

    #[test]
    fn roles_as_kafka_reads_them() {
        for (value, roles) in [
            ("broker,controller", ProcessRoles::BrokerAndController),
            ("controller, broker", ProcessRoles::BrokerAndController),
        ] {
            let c = config(&combined(&format!("process.roles={value}\n"))).expect(value);
            assert_eq!(c.cluster.roles, Some(roles));
            assert!(roles.is_broker() && roles.is_controller());
        }
        let c = config(&broker_only("")).expect("broker");
        assert_eq!(c.cluster.roles, Some(ProcessRoles::Broker));
        assert_eq!(c.node_id, 4);
        // an empty list is not set, as Kafka reads a LIST
        let c = config("process.roles=\n").expect("empty");
        assert_eq!(c.cluster.roles, None);
        for (value, says) in [
            (
                "broker,zookeeper",
                "unknown process role 'zookeeper' (only 'broker' and 'controller' are allowed",
            ),
            ("broker,broker", "duplicate role names"),
        ] {
            let err = refused(&combined(&format!("process.roles={value}\n")));
            assert!(err.contains(says), "{value}: {err}");
            assert!(err.contains("for process.roles"), "{err}");
        }
    }

    #[test]
    fn node_id_is_required_with_process_roles() {
        let text = combined("").replace("node.id=1\n", "");
        assert_eq!(
            refused(&text),
            "missing node.id: it is required when process.roles is set (Kafka's KRaft \
             mode), and has no default"
        );
        // broker.id, Kafka's older name, stands in for it
        let c = config(&format!("{text}broker.id=1\n")).expect("broker.id");
        assert_eq!(c.node_id, 1);
        // both: they must agree
        let err = refused(&combined("broker.id=2\n"));
        assert!(
            err.contains("you must set node.id to the same value as broker.id (2)"),
            "{err}"
        );
        let err = refused(&combined("node.id=-1\n"));
        assert!(err.contains("must be at least 0"), "{err}");
        // without process.roles it defaults to 1, as before
        assert_eq!(config("").expect("valid").node_id, 1);
        assert_eq!(config("broker.id=7").expect("valid").node_id, 7);
    }

    #[test]
    fn voters_or_bootstrap_servers_are_required() {
        let text = combined("").replace("controller.quorum.voters=1@127.0.0.1:19093\n", "");
        let err = refused(&text);
        assert!(
            err.starts_with(
                "missing controller.quorum.voters: with process.roles set, either \
                 controller.quorum.bootstrap.servers must contain the set of bootstrap \
                 controllers or controller.quorum.voters must contain a parseable set"
            ),
            "{err}"
        );
        // a dynamic quorum (KIP-853) names no voters
        let c = config(&format!(
            "{text}controller.quorum.bootstrap.servers=127.0.0.1:19093\n"
        ))
        .expect("bootstrap servers alone");
        assert!(c.cluster.voters.is_empty());
        assert_eq!(c.cluster.bootstrap_servers, [hp("127.0.0.1", 19093)]);
    }

    #[test]
    fn a_controller_is_one_of_the_voters() {
        let err = refused(&combined(
            "controller.quorum.voters=2@127.0.0.1:19094,3@127.0.0.1:19095\n",
        ));
        assert!(
            err.contains(
                "process.roles contains the 'controller' role, so the node id 1 must be \
                 included in the set of voters {2, 3}"
            ),
            "{err}"
        );
        assert!(
            err.starts_with(
                "invalid value \"2@127.0.0.1:19094,3@127.0.0.1:19095\" for controller.quorum.voters"
            ),
            "{err}"
        );
        // a broker-only node is not
        let err = refused(&broker_only("node.id=2\n"));
        assert!(
            err.contains(
                "process.roles contains just the 'broker' role, so the node id 2 must not be \
                 included in the set of voters {1, 2, 3}"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_controller_has_its_controller_listener() {
        // named, but not among the listeners
        let err = refused(&combined("listeners=PLAINTEXT://127.0.0.1:19092\n"));
        assert!(
            err.contains(
                "must only contain values appearing in the 'listeners' configuration when \
                 running the KRaft controller role (CONTROLLER is not a listener)"
            ),
            "{err}"
        );
        // not named at all: CONTROLLER would be a broker listener, with no protocol
        let err = refused(&combined("controller.listener.names=\n").replace(
            "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n",
            "listeners=PLAINTEXT://127.0.0.1:19092\n",
        ));
        assert!(
            err.starts_with(
                "missing controller.listener.names: it must contain at least one \
                 value appearing in the 'listeners' configuration when running the KRaft \
                 controller role"
            ),
            "{err}"
        );
        // two controller listeners, the second missing
        let err = refused(&combined(
            "controller.listener.names=CONTROLLER,CONTROLLER2\n",
        ));
        assert!(err.contains("(CONTROLLER2 is not a listener)"), "{err}");
    }

    #[test]
    fn a_broker_only_node_has_no_controller_listener() {
        let c = config(&broker_only("")).expect("valid");
        assert!(c.cluster.controller_listeners.is_empty());
        assert_eq!(c.cluster.controller_listener(), None);
        // Kafka maps CONTROLLER to PLAINTEXT when the map is not set
        assert_eq!(c.cluster.controller_listener_names, ["CONTROLLER"]);
        let err = refused(&broker_only(
            "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n",
        ));
        assert!(
            err.contains(
                "must not contain a value appearing in the 'listeners' configuration when \
                 running KRaft with just the broker role (CONTROLLER is a listener)"
            ),
            "{err}"
        );
        let err = refused(&broker_only("controller.listener.names=\n"));
        assert_eq!(
            err,
            "missing controller.listener.names: it must contain at least one value when \
             running KRaft with just the broker role"
        );
        // an explicit map must name the controller listener
        let err = refused(&broker_only(
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT\n",
        ));
        assert!(
            err.contains(
                "controller listener CONTROLLER has no security protocol in \
                 listener.security.protocol.map"
            ),
            "{err}"
        );
        let c = config(&broker_only(
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n",
        ));
        assert!(c.is_ok(), "{c:?}");
    }

    /// A controller-only node's configuration is read for the controller: no Kafka
    /// listener of its own, the controller port only.
    #[test]
    fn a_controller_only_node() {
        let text = "process.roles=controller\nnode.id=1\n\
                    controller.quorum.voters=1@127.0.0.1:19093\n\
                    listeners=CONTROLLER://127.0.0.1:19093\n\
                    advertised.listeners=CONTROLLER://c1.example.com:19093\n\
                    controller.listener.names=CONTROLLER\n";
        let c = config(text).expect("valid");
        assert!(c.cluster.is_controller_only());
        assert!(c.listeners.is_empty());
        let l = c
            .cluster
            .controller_listener()
            .expect("controller listener");
        assert_eq!(l.advertised, ("c1.example.com".into(), 19093));
        c.check_listeners()
            .expect("a controller needs no broker listener");
        // a broker listener on a controller-only node
        let err = refused(&text.replace(
            "listeners=CONTROLLER://127.0.0.1:19093",
            "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
        ));
        assert!(
            err.contains(
                "the listeners config must only contain KRaft controller listeners from \
                 controller.listener.names (CONTROLLER) when process.roles=controller; \
                 PLAINTEXT is not one"
            ),
            "{err}"
        );
        // a broker role needs a broker listener
        let err = refused(&text.replace(
            "process.roles=controller",
            "process.roles=broker,controller",
        ));
        assert!(
            err.contains("there must be at least one broker listener"),
            "{err}"
        );
    }

    #[test]
    fn voter_and_bootstrap_server_forms() {
        for (value, says) in [
            (
                "1@127.0.0.1:9093,1@127.0.0.2:9093",
                "voter id 1 appears twice",
            ),
            (
                "127.0.0.1:9093",
                "127.0.0.1:9093: each entry should be in the form `{id}@{host}:{port}`",
            ),
            ("1@a@b:9093", "each entry should be in the form"),
            (
                "x@127.0.0.1:9093",
                "failed to parse voter ID as an integer from x",
            ),
            ("-1@127.0.0.1:9093", "voter id -1 is negative"),
            (
                "1@127.0.0.1",
                "failed to parse host port from entry 1@127.0.0.1",
            ),
            ("1@127.0.0.1:port", "failed to parse host port"),
            ("1@127.0.0.1:70000", "failed to parse host port"),
            ("1@:9093", "failed to parse host name from entry 1@:9093"),
            ("1@a/b:9093", "failed to parse host name"),
            ("1@0.0.0.0:9093", "host string (0.0.0.0) is not routeable"),
        ] {
            let err = refused(&combined(&format!("controller.quorum.voters={value}\n")));
            assert!(err.contains(says), "{value}: {err} should say {says:?}");
            assert!(err.contains("for controller.quorum.voters"), "{err}");
        }
        for (value, says) in [
            (
                "localhost",
                "failed to parse host port from entry localhost",
            ),
            ("localhost:x", "failed to parse host port"),
            (":9093", "failed to parse host name from entry :9093"),
        ] {
            let err = refused(&combined(&format!(
                "controller.quorum.bootstrap.servers={value}\n"
            )));
            assert!(err.contains(says), "{value}: {err} should say {says:?}");
            assert!(
                err.contains("each entry should be in the form \"{host}:{port}\""),
                "{err}"
            );
        }
    }

    #[test]
    fn lease_timing_and_replication_values() {
        let err = refused(&combined("broker.heartbeat.interval.ms=9000\n"));
        assert!(
            err.contains(
                "for broker.heartbeat.interval.ms: must be less than broker.session.timeout.ms \
                 (9000)"
            ),
            "{err}"
        );
        let err = refused(&combined("broker.session.timeout.ms=1000\n"));
        assert!(
            err.contains("must be less than broker.session.timeout.ms (1000)"),
            "{err}"
        );
        for key in [
            "broker.session.timeout.ms",
            "broker.heartbeat.interval.ms",
            "controller.quorum.election.timeout.ms",
            "controller.quorum.fetch.timeout.ms",
            "controller.quorum.election.backoff.max.ms",
        ] {
            for value in ["0", "-1", "x", "2147483648"] {
                let err = refused(&combined(&format!("{key}={value}\n")));
                assert!(
                    err.contains(&format!("for {key}: must be a number of milliseconds")),
                    "{key}={value}: {err}"
                );
            }
        }
        for value in ["0", "-1", "32768", "three"] {
            let err = refused(&combined(&format!("default.replication.factor={value}\n")));
            assert!(err.contains("must be a number in 1..=32767"), "{err}");
        }
        let err = refused(&combined("min.insync.replicas=0\n"));
        assert!(
            err.contains("for min.insync.replicas: must be at least 1"),
            "{err}"
        );
        let err = refused(&combined("unclean.leader.election.enable=yes\n"));
        assert!(err.contains("expected true or false"), "{err}");
        // the same keys are checked without process.roles too
        let err = refused("min.insync.replicas=0\n");
        assert!(err.contains("must be at least 1"), "{err}");
    }

    /// The text listener's old default port (9093) is Kafka's CONTROLLER port: a text
    /// listener on any listener's address is refused, naming it.
    #[test]
    fn the_text_listener_collides_with_no_listener() {
        let err = refused(&combined("text.listener=127.0.0.1:19093\n"));
        assert_eq!(
            err,
            "invalid value \"127.0.0.1:19093\" for text.listener: listener CONTROLLER \
             (listeners) binds 127.0.0.1:19093 too: give the text listener another port \
             (--text-listener, text.listener)"
        );
        let err = refused(&combined("text.listener=127.0.0.1:19092\n"));
        assert!(err.contains("listener PLAINTEXT (listeners)"), "{err}");
        // every interface against loopback
        let err = refused(&format!("{KAFKA_SAMPLE}\ntext.listener=127.0.0.1:9093\n"));
        assert!(
            err.contains("listener CONTROLLER (listeners) binds 0.0.0.0:9093"),
            "{err}"
        );
        let err = refused("listeners=PLAINTEXT://127.0.0.1:9192");
        assert!(err.contains("for text.listener"), "{err}");
        // other ports, or other addresses, are fine
        assert!(config(&combined("text.listener=127.0.0.1:19094\n")).is_ok());
        assert!(config(&combined("text.listener=127.0.0.2:19093\n")).is_ok());
    }

    /// Controller keys without process.roles are parsed (and checked for form), with no
    /// effect: kafka-ref.sh's older form of this configuration stays accepted.
    #[test]
    fn controller_keys_without_process_roles() {
        let c = config(
            "controller.quorum.voters=1@127.0.0.1:19093\n\
             listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
             controller.listener.names=CONTROLLER\n",
        )
        .expect("valid");
        assert_eq!(c.cluster.roles, None);
        assert_eq!(c.cluster.voters.len(), 1);
        assert_eq!(c.cluster.controller_listeners.len(), 1);
        let err = refused("controller.quorum.voters=1@x\n");
        assert!(err.contains("failed to parse host port"), "{err}");
    }

    #[test]
    fn usage_errors_exit_2() {
        assert!(refused_error(&combined("node.id=x\n")).is_usage_error());
        let missing = combined("").replace("node.id=1\n", "");
        assert!(refused_error(&missing).is_usage_error());
        let read = ConfigError::Read {
            path: "/nonexistent".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(!read.is_usage_error());
    }

    fn refused_error(text: &str) -> ConfigError {
        config(text).expect_err("refused")
    }
}
