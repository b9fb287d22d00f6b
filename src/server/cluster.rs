//! Starting a node of a KRaft cluster (`process.roles`): the controller quorum on the
//! CONTROLLER listener, with the controller's Kafka APIs on the same port, the periodic
//! check that fences brokers whose sessions expired, and the broker's lifecycle
//! (registration, heartbeats, publishing the image, controlled shutdown).
//!
//! Combined nodes (`process.roles=broker,controller`), broker-only nodes
//! (`process.roles=broker`: the metadata log followed from the quorum's leader by Fetch, as
//! Kafka's observers do, `broker::metadata_follower`) and controller-only nodes
//! (`process.roles=controller`: the quorum and the controller's Kafka APIs on the
//! controller port, no broker listener, no text listener, no registration).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::{bind, ServerError};
use crate::broker::cluster::ClusterLink;
use crate::broker::lifecycle::Lifecycle;
use crate::broker::Broker;
use crate::config::{Config, ConfigError, ProcessRoles};
use crate::controller::adoption;
use crate::controller::client::ControllerClient;
use crate::controller::driver::Controller;
use crate::controller::image_state::SharedImage;
use crate::controller::machine::ControllerConfig;
use crate::controller::{Quorum, QuorumConfig};
use crate::kafka::controller::ControllerApis;

/// How often the active controller looks for expired broker sessions.
const TICK: Duration = Duration::from_millis(250);
/// How long a controlled shutdown waits for the controller to let the broker go.
const CONTROLLED_SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// A node's cluster side: its controller (a voter) or its metadata follower (a broker
/// alone), and its broker's lifecycle.
pub struct ClusterNode {
    /// A voter's controller; `None` on a broker-only node.
    controller: Option<Arc<Controller>>,
    /// The committed metadata as this node has it.
    image: SharedImage,
    /// A voter's bound controller port.
    controller_addr: Option<SocketAddr>,
    voters: BTreeMap<i32, String>,
    /// Kafka's, on a data dir adopted from a Kafka node; else derived from the voter set;
    /// `None` for a one-voter quorum of its own, which keeps its log dir's.
    cluster_id: Option<String>,
    /// The controller's tick (a voter), or the metadata follower (a broker alone).
    task: JoinHandle<()>,
    lifecycle: Option<Lifecycle>,
}

fn invalid(key: &str, value: String, reason: &str) -> ServerError {
    ServerError::Config(ConfigError::Invalid {
        key: key.into(),
        value,
        reason: reason.into(),
    })
}

/// The cluster id every node of the same voter set derives alike (Kafka has the operator
/// format each node's storage with one; here the voter set names the cluster).
fn cluster_id(voters: &BTreeMap<i32, String>) -> String {
    let text: Vec<String> = voters.iter().map(|(id, at)| format!("{id}@{at}")).collect();
    let joined = text.join(",");
    let hi = u128::from(crc32c::crc32c(joined.as_bytes()));
    let lo = u128::from(crc32c::crc32c_append(0x5afe, joined.as_bytes()));
    let len = joined.len() as u128;
    let id = uuid::Uuid::from_u128((hi << 96) | (lo << 64) | (len << 32) | 0x4000_8000);
    crate::log::checkpoint::uuid_to_kafka(id)
}

/// Moves a Kafka node's `__cluster_metadata-0` aside (saving its metadata first on a
/// voter, `adopt`), and answers what this data dir saved from Kafka, if anything.
async fn take_over_kafka_metadata(
    config: &Config,
    adopt: bool,
) -> Result<Option<adoption::Saved>, ServerError> {
    let data_dir = config.data_dir.clone();
    tokio::task::spawn_blocking(move || {
        adoption::convert(&data_dir, adopt)?;
        adoption::load(&data_dir)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))?
    .map_err(|e| ServerError::Task(format!("taking over Kafka's metadata log: {e}")))
}

/// Kafka's cluster id, kept by a cluster adopted from Kafka.
fn adopted_cluster_id(saved: Option<&adoption::Saved>) -> Option<String> {
    saved.and_then(|s| s.cluster_id.clone())
}

/// The voters' resolved addresses and their `host:port`s.
type Voters = (BTreeMap<i32, SocketAddr>, BTreeMap<i32, String>);

fn voter_addresses(c: &crate::config::ClusterConfig) -> Result<Voters, ServerError> {
    let mut voters = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (&id, at) in &c.voters {
        let addr: SocketAddr = (at.host.as_str(), at.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| invalid("controller.quorum.voters", at.to_string(), "unresolvable"))?;
        voters.insert(id, addr);
        names.insert(id, at.to_string());
    }
    Ok((voters, names))
}

/// Starts the cluster side of a KRaft node: the controller quorum of a combined node, or
/// the metadata follower of a broker-only one.
pub async fn start(
    config: &Config,
    prebound: Option<TcpListener>,
) -> Result<ClusterNode, ServerError> {
    match config.cluster.roles {
        Some(ProcessRoles::Broker) => start_broker_only(config).await,
        Some(_) => start_controller(config, prebound).await,
        None => Err(invalid(
            "process.roles",
            String::new(),
            "a KRaft node needs process.roles",
        )),
    }
}

/// A broker that is not a voter: it follows the metadata log from the voters.
async fn start_broker_only(config: &Config) -> Result<ClusterNode, ServerError> {
    let c = &config.cluster;
    if c.voters.is_empty() {
        return Err(invalid(
            "controller.quorum.voters",
            String::new(),
            "a broker-only node needs the voters (controller.quorum.bootstrap.servers alone \
             is not supported yet)",
        ));
    }
    let (_, names) = voter_addresses(c)?;
    // a Kafka broker's copy of the metadata log: moved aside, the quorum's is followed
    let saved = take_over_kafka_metadata(config, false).await?;
    let image = SharedImage::new();
    let client = ControllerClient::new(
        names.clone(),
        None,
        format!("rafka-{}-metadata", config.node_id),
    );
    let task = crate::broker::metadata_follower::start(config.node_id, image.clone(), client);
    info!(node_id = config.node_id, voters = ?names, "broker following the metadata quorum");
    Ok(ClusterNode {
        controller: None,
        controller_addr: None,
        image,
        cluster_id: Some(adopted_cluster_id(saved.as_ref()).unwrap_or_else(|| cluster_id(&names))),
        voters: names,
        task,
        lifecycle: None,
    })
}

/// Starts the controller quorum of a combined node.
async fn start_controller(
    config: &Config,
    prebound: Option<TcpListener>,
) -> Result<ClusterNode, ServerError> {
    let c = &config.cluster;
    let listener = match prebound {
        Some(l) => l,
        None => {
            let l = c.controller_listener().ok_or_else(|| {
                invalid(
                    "controller.listener.names",
                    String::new(),
                    "no controller listener",
                )
            })?;
            bind(&l.name, l.addr).await?.0
        }
    };
    let controller_addr = listener.local_addr().ok();
    let mut voters = BTreeMap::new();
    let mut voter_names = BTreeMap::new();
    if c.voters.is_empty() {
        // `controller.quorum.bootstrap.servers` alone (Kafka 4's sample file, formatted
        // `--standalone`): this node is the one voter of a new quorum
        if c.bootstrap_servers.len() != 1 {
            return Err(invalid(
                "controller.quorum.bootstrap.servers",
                c.bootstrap_servers
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                "a dynamic quorum of several controllers is not supported yet: list them in \
                 controller.quorum.voters (one bootstrap server alone makes this node a \
                 one-voter quorum)",
            ));
        }
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Task(format!("controller listener: {e}")))?;
        // (its own broker reaches it where it is bound)
        voters.insert(config.node_id, addr);
        voter_names.insert(config.node_id, addr.to_string());
    }
    let (resolved, names) = voter_addresses(c)?;
    voters.extend(resolved);
    voter_names.extend(names);
    let saved = take_over_kafka_metadata(config, true).await?;
    let mut qc = QuorumConfig::new(config.node_id, voters, config.data_dir.clone());
    let election = Duration::from_millis(c.quorum_election_timeout_ms.max(10));
    // a follower elects after T/2..T of silence; openraft's followers also refuse votes
    // for T after they last heard from the leader: a failover takes 1.5-2 T
    qc.election_timeout_min = election / 2;
    qc.election_timeout_max = election;
    qc.heartbeat_interval = (election / 10).max(Duration::from_millis(5));
    let image = SharedImage::new();
    let quorum = Quorum::start(qc, image.state_machine(), listener)
        .await
        .map_err(|e| ServerError::Task(format!("the controller quorum did not start: {e}")))?;
    let controller = Controller::new(
        quorum,
        image,
        ControllerConfig::new(c, config.num_partitions),
    );
    // a one-voter quorum of its own keeps the log dir's cluster id (meta.properties), an
    // adopted Kafka cluster Kafka's
    let cluster_id = match adopted_cluster_id(saved.as_ref()) {
        Some(id) => Some(id),
        None => (!c.voters.is_empty()).then(|| cluster_id(&voter_names)),
    };
    if let Some(saved) = saved {
        controller.adopt(config.data_dir.clone(), saved).await;
    }
    let mut apis = ControllerApis::new(Arc::clone(&controller));
    if let Some(id) = &cluster_id {
        apis = apis.with_cluster_id(id);
    }
    controller.quorum().serve_foreign_apis(Arc::new(apis));
    let task = {
        let ctl = Arc::clone(&controller);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                if ctl.adoption_pending().await {
                    ctl.settle_adoption().await;
                }
                match ctl.tick().await {
                    Ok(fenced) if !fenced.is_empty() => info!(?fenced, "brokers fenced"),
                    Ok(_) => {}
                    Err(e) => debug!(cause = %e, "no tick"),
                }
            }
        })
    };
    info!(node_id = config.node_id, voters = ?voter_names, "controller started");
    Ok(ClusterNode {
        controller_addr,
        image: controller.image().clone(),
        controller: Some(controller),
        cluster_id,
        voters: voter_names,
        task,
        lifecycle: None,
    })
}

impl ClusterNode {
    /// The broker's link: the image and a channel for forwarded admin requests.
    pub fn link(&self, config: &Config) -> ClusterLink {
        ClusterLink {
            image: self.image.clone(),
            forward: self.client(config, "forward"),
            cluster_id: self.cluster_id.clone(),
            broker_epoch: std::sync::atomic::AtomicI64::new(-1),
        }
    }

    fn client(&self, config: &Config, purpose: &str) -> ControllerClient {
        ControllerClient::new(
            self.voters.clone(),
            self.controller.as_ref().map(|c| c.quorum().watch()),
            format!("rafka-{}-{purpose}", config.node_id),
        )
    }

    /// Starts the broker's registration, heartbeats and publishing.
    pub fn start_broker(mut self, broker: &Arc<Broker>, config: &Config) -> ClusterNode {
        self.lifecycle = Some(Lifecycle::start(
            Arc::clone(broker),
            self.image.clone(),
            self.client(config, "lifecycle"),
            self.client(config, "alter-partition"),
            Duration::from_millis(config.cluster.broker_heartbeat_interval_ms.max(10)),
        ));
        self
    }

    /// The broker's "caught up with the metadata and published it" signal (see
    /// [`Lifecycle::published`]); `None` before [`Self::start_broker`] or on a
    /// controller-only node.
    pub fn metadata_published(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.lifecycle.as_ref().map(Lifecycle::published)
    }

    /// A voter's bound controller port.
    pub fn controller_addr(&self) -> Option<SocketAddr> {
        self.controller_addr
    }

    /// The controller, on a voter.
    pub fn controller(&self) -> Option<&Arc<Controller>> {
        self.controller.as_ref()
    }

    /// Controlled shutdown of the broker side: the controller moves its leaderships away
    /// before it stops serving.
    /// True if the controller let it go (false: it timed out, or there was no broker).
    pub async fn controlled_shutdown(&mut self) -> bool {
        match self.lifecycle.take() {
            Some(l) => l.shutdown(CONTROLLED_SHUTDOWN_WAIT).await,
            None => false,
        }
    }

    /// Stops the controller (after [`Self::controlled_shutdown`]).
    pub async fn stop(mut self) {
        self.lifecycle.take();
        self.task.abort();
        if let Some(c) = &self.controller {
            c.shutdown().await;
        }
    }
}

impl Drop for ClusterNode {
    /// A node dropped without [`ClusterNode::stop`] (killed) stops its quorum at once: the
    /// controller's Kafka APIs hold the controller, so it would not drop by itself.
    fn drop(&mut self) {
        self.task.abort();
        if let Some(c) = &self.controller {
            c.quorum().kill();
        }
    }
}
