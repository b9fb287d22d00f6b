//! Starting a node of a KRaft cluster (`process.roles`): the controller quorum on the
//! CONTROLLER listener, with the controller's Kafka APIs on the same port, the periodic
//! check that fences brokers whose sessions expired, and the broker's lifecycle
//! (registration, heartbeats, publishing the image, controlled shutdown).
//!
//! Only combined nodes (`process.roles=broker,controller`) are supported yet: a broker
//! alone would need the metadata log replicated to it as an observer, and a controller
//! alone no Kafka listener at all.

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

/// A node's cluster side once its controller runs.
pub struct ClusterNode {
    controller: Arc<Controller>,
    voters: BTreeMap<i32, String>,
    /// Derived from the voter set; `None` for a one-voter quorum of its own, which keeps
    /// its log dir's.
    cluster_id: Option<String>,
    ticker: JoinHandle<()>,
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

/// Starts the controller quorum of a KRaft node.
pub async fn start_controller(
    config: &Config,
    prebound: Option<TcpListener>,
) -> Result<ClusterNode, ServerError> {
    let c = &config.cluster;
    if c.roles != Some(ProcessRoles::BrokerAndController) {
        return Err(invalid(
            "process.roles",
            c.roles.map_or(String::new(), |r| r.to_string()),
            "only combined nodes (process.roles=broker,controller) are supported yet",
        ));
    }
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
    for (&id, at) in &c.voters {
        let addr: SocketAddr = (at.host.as_str(), at.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| invalid("controller.quorum.voters", at.to_string(), "unresolvable"))?;
        voters.insert(id, addr);
        voter_names.insert(id, at.to_string());
    }
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
    // a one-voter quorum of its own keeps the log dir's cluster id (meta.properties)
    let cluster_id = (!c.voters.is_empty()).then(|| cluster_id(&voter_names));
    let mut apis = ControllerApis::new(Arc::clone(&controller));
    if let Some(id) = &cluster_id {
        apis = apis.with_cluster_id(id);
    }
    controller.quorum().serve_foreign_apis(Arc::new(apis));
    let ticker = {
        let ctl = Arc::clone(&controller);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
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
        controller,
        cluster_id,
        voters: voter_names,
        ticker,
        lifecycle: None,
    })
}

impl ClusterNode {
    /// The broker's link: the image and a channel for forwarded admin requests.
    pub fn link(&self, config: &Config) -> ClusterLink {
        ClusterLink {
            image: self.controller.image().clone(),
            forward: self.client(config, "forward"),
            cluster_id: self.cluster_id.clone(),
            broker_epoch: std::sync::atomic::AtomicI64::new(-1),
        }
    }

    fn client(&self, config: &Config, purpose: &str) -> ControllerClient {
        ControllerClient::new(
            self.voters.clone(),
            Some(self.controller.quorum().watch()),
            format!("rafka-{}-{purpose}", config.node_id),
        )
    }

    /// Starts the broker's registration, heartbeats and publishing.
    pub fn start_broker(mut self, broker: &Arc<Broker>, config: &Config) -> ClusterNode {
        self.lifecycle = Some(Lifecycle::start(
            Arc::clone(broker),
            self.controller.image().clone(),
            self.client(config, "lifecycle"),
            Duration::from_millis(config.cluster.broker_heartbeat_interval_ms.max(10)),
        ));
        self
    }

    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
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
        self.ticker.abort();
        self.controller.shutdown().await;
    }
}

impl Drop for ClusterNode {
    /// A node dropped without [`ClusterNode::stop`] (killed) stops its quorum at once: the
    /// controller's Kafka APIs hold the controller, so it would not drop by itself.
    fn drop(&mut self) {
        self.ticker.abort();
        self.controller.quorum().kill();
    }
}
