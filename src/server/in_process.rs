//! An in-process cluster for tests, in the style of [`BrokerBuilder`]: N combined nodes
//! (`process.roles=broker,controller`), each with its own loopback listeners (Kafka, text,
//! controller) and data dir, its controller port bound before any node starts so the
//! voter set can name every port.
//!
//! ```no_run
//! # async fn demo() {
//! let dir = tempfile::tempdir().unwrap();
//! let mut cluster = rafka::ClusterBuilder::new(3, dir.path()).start().await.unwrap();
//! let bootstrap = cluster.bootstrap_servers();
//! // ... clients against `bootstrap`; `cluster.kill(2)`, `cluster.restart(2).await` ...
//! cluster.shutdown().await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;

use super::{BrokerBuilder, BrokerHandle, ServerError};
use crate::config::{
    ClusterConfig, Config, HostPort, ListenerConfig, ProcessRoles, SecurityProtocol,
};

/// Builds an in-process cluster of combined nodes with ids 1..=N.
pub struct ClusterBuilder {
    nodes: usize,
    /// Broker-only nodes after the voters (ids N+1..).
    brokers: usize,
    /// The voters are controller-only nodes (no broker).
    dedicated_controllers: bool,
    dir: PathBuf,
    tune: Vec<Tune>,
}

/// A change to one node's config (given its id).
type Tune = Box<dyn Fn(i32, &mut Config) + Send + Sync>;

/// A running in-process cluster: voters 1..=N, then any broker-only nodes; a killed node
/// is `None` until restarted.
pub struct ClusterHandle {
    configs: BTreeMap<i32, Config>,
    controller_addrs: BTreeMap<i32, SocketAddr>,
    nodes: BTreeMap<i32, Option<BrokerHandle>>,
}

impl ClusterBuilder {
    /// `nodes` combined nodes with their data under `dir/node-<id>`. Timing is quick for
    /// tests: elections after 300-600 ms of silence, heartbeats every 100 ms, sessions of
    /// 1.5 s.
    pub fn new(nodes: usize, dir: impl AsRef<Path>) -> Self {
        ClusterBuilder {
            nodes,
            brokers: 0,
            dedicated_controllers: false,
            dir: dir.as_ref().to_path_buf(),
            tune: Vec::new(),
        }
    }

    /// Adds `n` broker-only nodes (`process.roles=broker`, ids after the voters'), which
    /// follow the voters' metadata log.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// Makes the voters controller-only nodes (`process.roles=controller`: no broker, no
    /// Kafka listener of their own); the brokers are then the [`Self::brokers`] ones.
    pub fn dedicated_controllers(mut self) -> Self {
        self.dedicated_controllers = true;
        self
    }

    /// Adjusts every node's config (given the node id) before it starts.
    pub fn configure(mut self, f: impl Fn(i32, &mut Config) + Send + Sync + 'static) -> Self {
        self.tune.push(Box::new(f));
        self
    }

    pub async fn start(self) -> Result<ClusterHandle, ServerError> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut listeners = BTreeMap::new();
        let mut controller_addrs = BTreeMap::new();
        for i in 1..=self.nodes {
            let id = i32::try_from(i).unwrap_or(i32::MAX);
            let (l, addr) = super::bind("CONTROLLER", loopback).await?;
            listeners.insert(id, l);
            controller_addrs.insert(id, addr);
        }
        let voters: BTreeMap<i32, HostPort> = controller_addrs
            .iter()
            .map(|(&id, a)| {
                (
                    id,
                    HostPort {
                        host: a.ip().to_string(),
                        port: a.port(),
                    },
                )
            })
            .collect();
        // one node's config: loopback listeners, its own data dir, quick timings
        let node = |id: i32, roles: ProcessRoles, controller: Option<SocketAddr>| {
            let mut config = Config {
                node_id: id,
                data_dir: self.dir.join(format!("node-{id}")),
                listeners: if roles.is_broker() {
                    vec![ListenerConfig::new(
                        "PLAINTEXT",
                        SecurityProtocol::Plaintext,
                        loopback,
                    )]
                } else {
                    Vec::new()
                },
                text_listener: loopback,
                // no HTTP unless a test asks (`configure`): the default port is one
                observe: crate::config::ObserveConfig {
                    http_listener: None,
                    ..Default::default()
                },
                ..Config::default()
            };
            config.cluster = ClusterConfig {
                roles: Some(roles),
                voters: voters.clone(),
                controller_listener_names: vec!["CONTROLLER".into()],
                controller_listeners: controller
                    .map(|a| ListenerConfig::new("CONTROLLER", SecurityProtocol::Plaintext, a))
                    .into_iter()
                    .collect(),
                broker_session_timeout_ms: 1_500,
                broker_heartbeat_interval_ms: 100,
                quorum_election_timeout_ms: 300,
                ..ClusterConfig::default()
            };
            for f in &self.tune {
                f(id, &mut config);
            }
            config
        };
        let voter_roles = if self.dedicated_controllers {
            ProcessRoles::Controller
        } else {
            ProcessRoles::BrokerAndController
        };
        let mut configs = BTreeMap::new();
        for (&id, &addr) in &controller_addrs {
            configs.insert(id, node(id, voter_roles, Some(addr)));
        }
        for i in 1..=self.brokers {
            let id = i32::try_from(self.nodes + i).unwrap_or(i32::MAX);
            configs.insert(id, node(id, ProcessRoles::Broker, None));
        }
        let mut handle = ClusterHandle {
            configs,
            controller_addrs,
            nodes: BTreeMap::new(),
        };
        for (id, l) in listeners {
            let node = handle.start_node(id, Some(l)).await?;
            handle.nodes.insert(id, Some(node));
        }
        let broker_ids: Vec<i32> = handle
            .configs
            .keys()
            .copied()
            .filter(|id| !handle.controller_addrs.contains_key(id))
            .collect();
        for id in broker_ids {
            let node = handle.start_node(id, None).await?;
            handle.nodes.insert(id, Some(node));
        }
        Ok(handle)
    }
}

impl ClusterHandle {
    async fn start_node(
        &self,
        id: i32,
        listener: Option<TcpListener>,
    ) -> Result<BrokerHandle, ServerError> {
        let config = self
            .configs
            .get(&id)
            .cloned()
            .ok_or_else(|| ServerError::Task(format!("no node {id} in this cluster")))?;
        let mut builder = BrokerBuilder::new(config).shutdown_grace(Duration::from_secs(2));
        if !self.controller_addrs.contains_key(&id) {
            // a broker-only node
            return builder.start().await;
        }
        let listener = match listener {
            Some(l) => l,
            None => {
                let addr = self.controller_addrs.get(&id).copied().ok_or_else(|| {
                    ServerError::Task(format!("no controller address for node {id}"))
                })?;
                // the stopped node's listener closes once its aborted task is dropped,
                // which the runtime does soon after: a few tries
                let mut tries = 0;
                loop {
                    match super::bind("CONTROLLER", addr).await {
                        Ok((l, _)) => break l,
                        Err(e) if tries < 50 => {
                            tries += 1;
                            tracing::debug!(cause = %e, "controller port still held; retrying");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        builder = builder.with_controller_listener(listener);
        builder.start().await
    }

    /// The node ids, running or not.
    pub fn ids(&self) -> Vec<i32> {
        self.nodes.keys().copied().collect()
    }

    /// A running node.
    pub fn node(&self, id: i32) -> Option<&BrokerHandle> {
        self.nodes.get(&id).and_then(|n| n.as_ref())
    }

    /// Every running broker's Kafka address, comma-separated (`bootstrap.servers`).
    pub fn bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .filter(|(id, _)| self.is_broker(**id))
            .filter_map(|(_, n)| n.as_ref())
            .map(|n| n.kafka_addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether node `id` has the broker role.
    pub fn is_broker(&self, id: i32) -> bool {
        self.configs
            .get(&id)
            .and_then(|c| c.cluster.roles)
            .is_some_and(|r| r.is_broker())
    }

    /// Stops node `id` at once, as kill -9 would (nothing is flushed or closed).
    pub fn kill(&mut self, id: i32) {
        if let Some(node) = self.nodes.get_mut(&id).and_then(|n| n.take()) {
            node.kill();
        }
    }

    /// Stops node `id` gracefully (controlled shutdown); true if the controller confirmed
    /// it (the node's leaderships had moved before it stopped serving).
    pub async fn stop(&mut self, id: i32) -> Result<bool, ServerError> {
        match self.nodes.get_mut(&id).and_then(|n| n.take()) {
            Some(node) => node.shutdown_reporting().await,
            None => Ok(false),
        }
    }

    /// Starts a stopped node again, on its controller port and data dir (new Kafka and
    /// text ports).
    pub async fn restart(&mut self, id: i32) -> Result<(), ServerError> {
        self.kill(id);
        // a killed node's work still under way holds its broker, so its ports and log dir
        // lock, until it ends: work on the blocking pool (an append, an fsync: seconds on
        // a loaded machine), and an acks=all produce waiting for its replicas, until the
        // request's own timeout (librdkafka's request.timeout.ms: 30 s). Tries for up to
        // 45 s.
        let mut tries = 0;
        let node = loop {
            match self.start_node(id, None).await {
                Ok(node) => break node,
                Err(e) if tries < 450 => {
                    tries += 1;
                    tracing::debug!(node_id = id, cause = %e, "restart failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.nodes.insert(id, Some(node));
        Ok(())
    }

    /// Stops every node: the broker-only ones first, then the voters gracefully while the
    /// quorum can still commit a controlled shutdown (a majority of them running), the last
    /// ones at once.
    pub async fn shutdown(mut self) {
        let majority = self.controller_addrs.len() / 2 + 1;
        let (voters, brokers): (Vec<i32>, Vec<i32>) = self
            .ids()
            .into_iter()
            .partition(|id| self.controller_addrs.contains_key(id));
        for id in brokers.into_iter().chain(voters) {
            let running_voters = self
                .nodes
                .iter()
                .filter(|(id, n)| n.is_some() && self.controller_addrs.contains_key(id))
                .count();
            let is_voter = self.controller_addrs.contains_key(&id);
            if !is_voter || running_voters >= majority {
                if let Err(e) = self.stop(id).await {
                    tracing::warn!(node_id = id, cause = %e, "node did not stop cleanly");
                }
            } else {
                self.kill(id);
            }
        }
    }
}
