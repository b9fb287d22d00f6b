//! The running broker: binds the Kafka and text listeners, accepts connections on both up
//! to `max.connections` (one limit for the two), and shuts down gracefully: stop
//! accepting, let connections finish the requests they have in flight (bounded wait), stop
//! the periodic jobs ([`jobs`]: retention, `flush.ms`, checkpoints, group timers, ...),
//! then seal and checkpoint every log and write the clean shutdown marker, so the next
//! start needs no recovery.
//!
//! Connections get a stream that is already set up (`TCP_NODELAY`, peer address known):
//! the protocol code takes any async byte stream, so TLS or SASL can wrap it here later.

mod jobs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, info, warn};

use crate::broker::{Broker, BrokerError};
use crate::config::Config;
use crate::kafka;
use crate::text;
use jobs::Jobs;

/// How long shutdown waits for connections to finish their in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Opening or closing the logs failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The accept loop task died.
    #[error("the server task failed: {0}")]
    Task(String),
}

/// Starts a broker in-process: `BrokerBuilder::new(config).start().await`.
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    config: Config,
}

impl BrokerBuilder {
    pub fn new(config: Config) -> Self {
        BrokerBuilder { config }
    }

    /// A broker on ephemeral loopback ports with its data in `data_dir`, for tests.
    pub fn for_tests(data_dir: impl Into<std::path::PathBuf>) -> Self {
        let mut config = Config {
            data_dir: data_dir.into(),
            ..Config::default()
        };
        config.listener = SocketAddr::from(([127, 0, 0, 1], 0));
        config.text_listener = SocketAddr::from(([127, 0, 0, 1], 0));
        config.advertised.1 = 0;
        BrokerBuilder { config }
    }

    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Binds the listeners, opens the logs, and starts serving.
    pub async fn start(self) -> Result<BrokerHandle, ServerError> {
        let mut config = self.config;
        let (listener, addr) = bind(config.listener).await?;
        let (text_listener, text_addr) = bind(config.text_listener).await?;
        if config.advertised.1 == 0 {
            config.advertised.1 = addr.port();
        }
        let broker = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Broker::open(config))
                .await
                .map_err(|e| ServerError::Task(e.to_string()))??
        };
        let broker = Arc::new(broker);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let jobs = Jobs::start(&broker);
        let task = tokio::spawn(accept_loop(
            Arc::clone(&broker),
            listener,
            text_listener,
            jobs,
            shutdown_rx,
        ));
        info!(%addr, data_dir = %config.data_dir.display(), "Kafka listener ready");
        info!(addr = %text_addr, "text listener ready");
        Ok(BrokerHandle {
            kafka_addr: addr,
            text_addr,
            broker,
            shutdown_tx,
            task,
        })
    }
}

/// A running broker.
pub struct BrokerHandle {
    kafka_addr: SocketAddr,
    text_addr: SocketAddr,
    broker: Arc<Broker>,
    shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<Result<(), BrokerError>>,
}

impl BrokerHandle {
    /// The bound Kafka listener address (the real port when 0 was asked for).
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    /// The bound text listener address (the real port when 0 was asked for).
    pub fn text_addr(&self) -> SocketAddr {
        self.text_addr
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Graceful shutdown; returns once the logs are closed cleanly.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown_tx.send(true);
        self.task
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_err = |source| ServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    Ok((listener, bound))
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener: TcpListener,
    text_listener: TcpListener,
    jobs: Jobs,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    let text_context = Arc::new(text::Context::new(Arc::clone(&broker)));
    let permits = Arc::new(Semaphore::new(broker.config().max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, "max.connections reached; closing the new connection");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let (b, rx) = (Arc::clone(&broker), shutdown.clone());
                    connections.spawn(async move {
                        kafka::connection::serve(b, stream, peer, rx).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    error!(cause = %e, "failed to accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            accepted = text_listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, "max.connections reached; closing the new text connection");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let (c, rx) = (Arc::clone(&text_context), shutdown.clone());
                    connections.spawn(async move {
                        text::serve(c, stream, peer, rx).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    error!(cause = %e, "failed to accept a text connection");
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
    drop(listener);
    drop(text_listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
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
