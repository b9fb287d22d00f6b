//! The running broker: binds every Kafka listener (`listeners`, see [`crate::config`])
//! and the text listener, accepts connections on all of them up to `max.connections` and
//! `max.connections.per.ip` (one count for all listeners, [`limits`]), hands each to its
//! protocol with the listener it came in on, and shuts down gracefully: stop accepting,
//! let connections finish the requests they have in flight (bounded wait; waiting fetches
//! are not waited for), stop the periodic jobs ([`jobs`]: retention, `flush.ms`,
//! checkpoints, group timers, ...), then seal and checkpoint every log and write the clean
//! shutdown marker, so the next start needs no recovery.
//!
//! Every listener bound to an address other than loopback is logged with a warning at
//! start: there is no authentication yet, so anyone who can reach it can read and write
//! every topic.
//!
//! The HTTP listener ([`crate::http`]) is bound after the Kafka and text listeners but
//! before the logs are recovered, so `/healthz` answers during a long recovery while
//! `/readyz` says why it is not ready yet. Its default address (`http.listener` not
//! given) is best-effort: on the port of a listener this node is configured with, it is
//! skipped (logged at info); taken by another process, skipped with a warning. An address
//! asked for on another listener's port is a configuration error, and one that cannot be
//! bound stops the start.
//!
//! Connections get a stream that is already set up (`TCP_NODELAY`, peer address known):
//! the protocol code takes any async byte stream, so TLS or SASL can wrap it here later.

mod cluster;
mod in_process;
mod jobs;
pub mod limits;

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, error, info, warn};

use crate::broker::{Broker, BrokerError};
use crate::config::{Config, ConfigError, ListenerConfig, SecurityProtocol};
use crate::http::{self, Readiness};
use crate::kafka;
use crate::security::ServerTls;
use crate::text;
pub use in_process::{ClusterBuilder, ClusterHandle};
use jobs::Jobs;
use limits::{ConnectionLimits, Slot};

/// How long shutdown waits for connections to finish their in-flight requests (fetches
/// waiting for data are not waited for: they end at once).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration cannot be served (a listener's security protocol, say).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An SSL listener's certificates or settings cannot be used.
    #[error("listener {listener}: {source}")]
    Tls {
        listener: String,
        #[source]
        source: crate::security::TlsError,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({listener}): {source}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Opening or closing the logs failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A Kafka log dir's metadata could not be adopted.
    #[error("cannot adopt the Kafka log dir: {0}")]
    Migrate(#[from] crate::migrate::MigrateError),
    /// The accept loop task died.
    #[error("the server task failed: {0}")]
    Task(String),
}

/// Starts a broker in-process: `BrokerBuilder::new(config).start().await`.
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    config: Config,
    shutdown_grace: Duration,
    /// A controller listener already bound (tests bind every voter's port before any
    /// node starts, so the voter set can name them).
    controller_listener: Option<Arc<std::sync::Mutex<Option<TcpListener>>>>,
}

impl BrokerBuilder {
    pub fn new(config: Config) -> Self {
        BrokerBuilder {
            config,
            shutdown_grace: SHUTDOWN_GRACE,
            controller_listener: None,
        }
    }

    /// Serves the controller port on `listener` (already bound) instead of binding the
    /// CONTROLLER listener's address.
    pub fn with_controller_listener(mut self, listener: TcpListener) -> Self {
        self.controller_listener = Some(Arc::new(std::sync::Mutex::new(Some(listener))));
        self
    }

    /// How long shutdown waits for in-flight requests before closing connections anyway
    /// ([`SHUTDOWN_GRACE`] unless set).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// A broker on ephemeral loopback ports with its data in `data_dir`, for tests: one
    /// PLAINTEXT listener (push more onto `config_mut().listeners`) and the text one.
    pub fn for_tests(data_dir: impl Into<std::path::PathBuf>) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = ListenerConfig::new("PLAINTEXT", SecurityProtocol::Plaintext, loopback);
        let config = Config {
            data_dir: data_dir.into(),
            listeners: vec![listener],
            text_listener: loopback,
            observe: crate::config::ObserveConfig {
                http_listener: None,
                ..Default::default()
            },
            ..Config::default()
        };
        BrokerBuilder::new(config)
    }

    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Binds the listeners, opens the logs, and starts serving.
    pub async fn start(self) -> Result<BrokerHandle, ServerError> {
        let mut config = self.config;
        config.check_listeners()?;
        warn_open_listeners(&config);
        // a controller-only node serves its controller port alone: no text listener
        let controller_only = config.cluster.is_controller_only();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // dropped with `shutdown_tx` if the start fails below
        let readiness = Arc::new(Readiness::new(
            config.cluster.is_kraft() && !controller_only,
        ));
        let mut bound = Vec::with_capacity(config.listeners.len() + 1);
        let mut kafka_addrs = Vec::with_capacity(config.listeners.len());
        for l in &mut config.listeners {
            // certificates first: a listener that cannot serve TLS is not bound at all
            let tls = match &l.ssl {
                Some(ssl) => Some(Arc::new(ServerTls::new(&l.name, Arc::clone(ssl)).map_err(
                    |source| ServerError::Tls {
                        listener: l.name.clone(),
                        source,
                    },
                )?)),
                None => None,
            };
            let (listener, addr) = bind(&l.name, l.addr).await?;
            // port 0 asked: advertise the port given
            if l.advertised.1 == 0 {
                l.advertised.1 = addr.port();
            }
            kafka_addrs.push((l.name.clone(), addr));
            bound.push((listener, Protocol::Kafka(Arc::new(l.clone()), tls)));
        }
        let text_addr = if controller_only {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            let (text_listener, text_addr) = bind("text", config.text_listener).await?;
            bound.push((text_listener, Protocol::Text));
            text_addr
        };
        // after the other listeners (its default address gives way to theirs), before the
        // recovery (`/healthz` answers during it)
        let (http_addr, http_task) = start_http(&config, &readiness, &shutdown_rx).await?.unzip();
        let prebound = self
            .controller_listener
            .and_then(|slot| slot.lock().ok().and_then(|mut l| l.take()));
        let node = if config.cluster.is_kraft() {
            Some(cluster::start(&config, prebound).await?)
        } else {
            None
        };
        let kafka_addr = kafka_addrs
            .first()
            .map(|(_, a)| *a)
            .or_else(|| node.as_ref().and_then(|n| n.controller_addr()))
            .ok_or_else(|| ConfigError::Invalid {
                key: "listeners".into(),
                value: String::new(),
                reason: "no listener".into(),
            })?;
        let broker = {
            let config = config.clone();
            // (a controller-only node's broker has no listener: it neither registers nor
            // follows the image)
            let link = node
                .as_ref()
                .filter(|_| !controller_only)
                .map(|n| n.link(&config));
            tokio::task::spawn_blocking(move || -> Result<Broker, ServerError> {
                // a single node on a stopped Kafka's log dir: Kafka's topic configs and
                // producer ids first (a cluster node's come from the quorum)
                let adopted = if config.cluster.is_kraft() {
                    None
                } else {
                    crate::migrate::adopt::adopt_if_needed(
                        &config.data_dir,
                        config.node_id,
                        &config.log,
                    )?
                };
                let broker = Broker::open_with(config, link)?;
                let mut bumped = false;
                for (tp, epoch) in adopted.iter().flat_map(|a| &a.leader_epochs) {
                    // lead in the epoch after Kafka's last, as its controller would elect
                    // (the new epoch goes into the log's epoch cache, so it lasts)
                    let part = broker.topic(&tp.topic);
                    if let Some(p) = part.as_ref().and_then(|t| t.partition(tp.partition)) {
                        let mut state = p.replica_state();
                        if *epoch >= state.leader_epoch {
                            state.leader_epoch = epoch.saturating_add(1);
                            bumped |= p.apply_replica_state(state);
                        }
                    }
                }
                if bumped {
                    // the coordinators loaded their partitions in the old epoch, and serve
                    // a partition only once loaded in its current one
                    if let Some(groups) = broker.groups_if_started() {
                        groups.sync_leadership();
                    }
                    if let Some(txns) = broker.txns_if_started() {
                        txns.runtime().sync_leadership();
                    }
                }
                // done only now: a start cut short before the epochs are in the logs'
                // epoch caches adopts again
                if let Some(a) = &adopted {
                    crate::migrate::adopt::mark_adopted(&broker.config().data_dir, a)?;
                }
                Ok(broker)
            })
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??
        };
        let broker = Arc::new(broker);
        readiness.set_broker(&broker);
        let node = node.map(|n| {
            if controller_only {
                n
            } else {
                n.start_broker(&broker, &config)
            }
        });
        if let Some(published) = node.as_ref().and_then(|n| n.metadata_published()) {
            readiness.set_metadata(published);
        }
        let jobs = Jobs::start(&broker);
        let task = tokio::spawn(serve(
            Arc::clone(&broker),
            bound,
            jobs,
            shutdown_rx,
            self.shutdown_grace,
        ));
        readiness.set_serving();
        for (name, addr) in &kafka_addrs {
            info!(listener = %name, %addr, data_dir = %config.data_dir.display(), "Kafka listener ready");
        }
        info!(addr = %text_addr, "text listener ready");
        Ok(BrokerHandle {
            kafka_addr,
            kafka_addrs,
            text_addr,
            broker,
            shutdown_tx,
            task,
            cluster: node,
            http_addr,
            http_task,
            readiness,
        })
    }
}

/// A running broker.
pub struct BrokerHandle {
    /// The first (default) Kafka listener's bound address.
    kafka_addr: SocketAddr,
    /// Every Kafka listener's name and bound address, in `listeners` order.
    kafka_addrs: Vec<(String, SocketAddr)>,
    text_addr: SocketAddr,
    broker: Arc<Broker>,
    shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<Result<(), BrokerError>>,
    /// In a KRaft cluster: the controller and the broker's lifecycle.
    cluster: Option<cluster::ClusterNode>,
    /// The HTTP listener's bound address, if it serves.
    http_addr: Option<SocketAddr>,
    http_task: Option<JoinHandle<()>>,
    /// What `/readyz` answers from.
    readiness: Arc<Readiness>,
}

impl BrokerHandle {
    /// The first (default) Kafka listener's bound address (the real port when 0 was
    /// asked for); a controller-only node's controller port, where the controller's Kafka
    /// APIs are served (`--bootstrap-controller`).
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    /// The bound address of the Kafka listener `name` (any case), if there is one.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.kafka_addrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| *a)
    }

    /// Every Kafka listener's name and bound address, the default one first.
    pub fn listener_addrs(&self) -> impl Iterator<Item = (&str, SocketAddr)> {
        self.kafka_addrs.iter().map(|(n, a)| (n.as_str(), *a))
    }

    /// The bound text listener address (the real port when 0 was asked for); `0.0.0.0:0`
    /// on a controller-only node, which has none.
    pub fn text_addr(&self) -> SocketAddr {
        self.text_addr
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The HTTP listener's bound address (the real port when 0 was asked for); `None`
    /// when there is none (`http.listener` empty, or its default address was taken).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// `Ok` when `/readyz` says ready, else why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        self.readiness.check()
    }

    /// Stops at once, as kill -9 would: no controlled shutdown, nothing flushed or closed
    /// (what was written stays in the page cache, as after a process crash).
    pub fn kill(mut self) {
        self.task.abort();
        if let Some(t) = self.http_task.take() {
            t.abort();
        }
        self.cluster.take();
    }

    /// The controller of a cluster node (tests look at its quorum and image).
    pub fn controller(&self) -> Option<&Arc<crate::controller::driver::Controller>> {
        self.cluster.as_ref().and_then(|c| c.controller())
    }

    /// Graceful shutdown; returns once the logs are closed cleanly. In a cluster, a
    /// controlled shutdown first: the controller moves this broker's leaderships away.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.shutdown_reporting().await.map(|_| ())
    }

    /// [`Self::shutdown`], saying whether a cluster node's controlled shutdown was
    /// confirmed by the controller (its leaderships moved before it stopped serving).
    pub async fn shutdown_reporting(mut self) -> Result<bool, ServerError> {
        // not ready from now on; HTTP still answers until the listeners close
        self.readiness.set_stopping();
        let mut node = self.cluster.take();
        let mut confirmed = false;
        if let Some(node) = &mut node {
            confirmed = node.controlled_shutdown().await;
        }
        let _ = self.shutdown_tx.send(true);
        if let Some(t) = self.http_task.take() {
            let _ = t.await;
        }
        let served = (&mut self.task)
            .await
            .map_err(|e| ServerError::Task(e.to_string()));
        if let Some(node) = node {
            node.stop().await;
        }
        served??;
        Ok(confirmed)
    }
}

/// What a bound socket serves.
enum Protocol {
    /// Kafka, on this listener (with its TLS if it is an SSL one).
    Kafka(Arc<ListenerConfig>, Option<Arc<ServerTls>>),
    /// The line protocol.
    Text,
}

/// Warns about every listener (Kafka or text) bound to an address other than loopback
/// that lets anyone in (all but a SASL one, or an SSL one requiring client
/// certificates): whoever reaches it can read, write and delete topics.
fn warn_open_listeners(config: &Config) {
    let kafka = config
        .listeners
        .iter()
        .filter(|l| !l.authenticates())
        .map(|l| (l.name.as_str(), l.addr));
    for (listener, addr) in kafka.chain(std::iter::once(("text", config.text_listener))) {
        if !addr.ip().is_loopback() {
            warn!(
                %listener,
                %addr,
                "listener open beyond this machine with no authentication: anyone who can \
                 reach it can read, write and delete every topic (bind 127.0.0.1 or firewall it)"
            );
        }
    }
    if let Some(addr) = config
        .observe
        .http_listener
        .filter(|a| !a.ip().is_loopback())
    {
        warn!(
            listener = "http",
            %addr,
            "HTTP listener open beyond this machine with no authentication: its status page \
             and metrics show every topic, group and client name to anyone who can reach it"
        );
    }
}

/// Binds and serves the HTTP listener, if there is one: its address and task. The
/// default address is skipped on another listener's port ([`default_http_gives_way`])
/// and when taken, with a warning (a second broker on one machine serves no HTTP); an
/// address asked for that cannot be bound is an error, as for any listener.
async fn start_http(
    config: &Config,
    readiness: &Arc<Readiness>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<(SocketAddr, JoinHandle<()>)>, ServerError> {
    let Some(addr) = config.observe.http_listener else {
        return Ok(None);
    };
    if let Some((listener, taken)) = default_http_gives_way(config) {
        info!(
            %addr,
            %listener,
            listener_addr = %taken,
            "the default HTTP listener's port is another listener's; serving \
             no HTTP (/metrics, /healthz, /readyz, status page): set http.listener to \
             choose another port"
        );
        return Ok(None);
    }
    match bind("http", addr).await {
        Ok((listener, bound)) => {
            let task = http::spawn(listener, Arc::clone(readiness), shutdown.clone());
            info!(addr = %bound, "HTTP listener ready (/healthz, /readyz, /metrics, status page at /)");
            Ok(Some((bound, task)))
        }
        Err(e) if !config.observe.http_listener_set => {
            warn!(
                cause = %e,
                "the default HTTP listener address cannot be bound; serving no HTTP \
                 (/metrics, /healthz, /readyz, status page): set http.listener to choose \
                 another, or \"\" for none"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The listener (name, configured address) whose port the default HTTP address would
/// take, if `http.listener` was not given: that listener keeps its port and the node
/// serves no HTTP. (One given is refused on another listener's port by
/// [`Config::check_listeners`].) Ports are compared alone, whatever the addresses.
fn default_http_gives_way(config: &Config) -> Option<(&str, SocketAddr)> {
    let http = config.observe.http_listener?;
    if config.observe.http_listener_set || http.port() == 0 {
        return None;
    }
    config
        .bound_listeners()
        .find(|(_, addr)| addr.port() == http.port())
}

async fn bind(name: &str, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_err = |source| ServerError::Bind {
        listener: name.to_string(),
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    Ok((listener, bound))
}

/// The first connection any listener has, trying them from `*next` round-robin so that
/// a flood on one cannot starve the others.
async fn accept_any<'a>(
    listeners: &'a [(TcpListener, Protocol)],
    next: &mut usize,
) -> (&'a Protocol, std::io::Result<(TcpStream, SocketAddr)>) {
    poll_fn(|cx| {
        let n = listeners.len();
        let from_next = listeners.iter().enumerate().cycle().skip(*next).take(n);
        for (i, (listener, protocol)) in from_next {
            if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                *next = (i + 1) % n;
                return Poll::Ready((protocol, accepted));
            }
        }
        Poll::Pending
    })
    .await
}

/// Accepts until shutdown, then drains the connections, stops the jobs and closes the
/// logs.
async fn serve(
    broker: Arc<Broker>,
    listeners: Vec<(TcpListener, Protocol)>,
    jobs: Jobs,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), BrokerError> {
    let text_context = Arc::new(text::Context::new(Arc::clone(&broker)));
    let config = broker.config();
    let limits = ConnectionLimits::new(
        config.max_connections,
        config.max_connections_per_ip,
        config.max_connections_per_ip_overrides.clone(),
    );
    let mut connections = JoinSet::new();
    let mut next = 0;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            (protocol, accepted) = accept_any(&listeners, &mut next) => match accepted {
                Ok((stream, peer)) => {
                    let slot = match limits.try_admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(refused) => {
                            warn!(%peer, cause = %refused, "closing the new connection");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let rx = shutdown.clone();
                    let connection = match protocol {
                        Protocol::Kafka(l, tls) => {
                            Connection::Kafka(Arc::clone(&broker), Arc::clone(l), tls.clone())
                        }
                        Protocol::Text => Connection::Text(Arc::clone(&text_context)),
                    };
                    connections.spawn(connection.serve(stream, peer, rx, slot));
                }
                Err(e) => {
                    error!(cause = %e, "failed to accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    info!(
        connections = connections.len(),
        "shutting down: no new connections"
    );
    drop(listeners);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("connections still busy after the grace period; closing them");
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    jobs.stop().await;
    let b = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || b.logs().shutdown())
        .await
        .unwrap_or_else(|_| {
            Err(crate::log::LogError::Internal(
                "shutdown task failed".into(),
            ))
        })?;
    Ok(())
}

/// One accepted connection, about to be served.
enum Connection {
    Kafka(Arc<Broker>, Arc<ListenerConfig>, Option<Arc<ServerTls>>),
    Text(Arc<text::Context>),
}

impl Connection {
    async fn serve(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
        slot: Slot,
    ) {
        match self {
            // plaintext: fetched records go from the segment files with sendfile; TLS
            // wraps the stream and takes the copy path (`serve`)
            Connection::Kafka(broker, listener, tls) => match (listener.security_protocol, tls) {
                // (on SASL_PLAINTEXT the connection authenticates the client itself)
                (SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext, _) => {
                    kafka::connection::serve_tcp(broker, stream, peer, listener, shutdown).await
                }
                (SecurityProtocol::Ssl | SecurityProtocol::SaslSsl, Some(tls)) => {
                    let timeout = Duration::from_millis(broker.config().request_receive_timeout_ms);
                    let mut stop = shutdown.clone();
                    let handshake = tokio::select! {
                        r = tls.accept(stream, timeout) => r,
                        _ = stop.changed() => return,
                    };
                    match handshake {
                        Ok((stream, principal)) => {
                            debug!(%peer, listener = %listener.name, %principal, "TLS connection");
                            kafka::connection::serve(
                                broker, stream, peer, listener, principal, shutdown,
                            )
                            .await
                        }
                        // a peer that just left (a TCP probe) at debug, as Kafka logs a
                        // disconnect; a failed handshake at info, as a failed authentication
                        Err(e) if e.is_peer_gone() => {
                            debug!(%peer, listener = %listener.name, cause = %e, "connection closed during the TLS handshake")
                        }
                        Err(e) => {
                            info!(%peer, listener = %listener.name, cause = %e, "closing the connection: TLS handshake failed")
                        }
                    }
                }
                // refused at start (Config::check_listeners)
                (protocol, _) => {
                    error!(%peer, listener = %listener.name, %protocol, "closing the connection: security protocol not served")
                }
            },
            Connection::Text(ctx) => text::serve(ctx, stream, peer, shutdown).await,
        }
        drop(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ObserveConfig;

    fn with_http(http: &str, set: bool) -> Config {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        Config {
            listeners: vec![ListenerConfig::new(
                "PLAINTEXT",
                SecurityProtocol::Plaintext,
                addr("127.0.0.1:9092"),
            )],
            text_listener: addr("0.0.0.0:9193"),
            observe: ObserveConfig {
                http_listener: Some(addr(http)),
                http_listener_set: set,
                ..ObserveConfig::default()
            },
            ..Config::default()
        }
    }

    #[test]
    fn the_default_http_listener_gives_way_to_another_listeners_port() {
        let c = with_http("127.0.0.1:9193", false);
        assert_eq!(
            default_http_gives_way(&c),
            Some(("text", "0.0.0.0:9193".parse().expect("addr")))
        );
        let c = with_http("127.0.0.1:9092", false);
        assert_eq!(
            default_http_gives_way(&c).map(|(n, _)| n),
            Some("PLAINTEXT")
        );
        assert_eq!(
            default_http_gives_way(&with_http("127.0.0.1:9194", false)),
            None
        );
        // one asked for is not skipped: the configuration check refuses it
        let c = with_http("127.0.0.1:9193", true);
        assert_eq!(default_http_gives_way(&c), None);
        assert!(c.check_listeners().is_err());
    }
}
