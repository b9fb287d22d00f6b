//! A cluster broker's life as the controller sees it (Kafka's `BrokerLifecycleManager`):
//! it registers (BrokerRegistration: its listeners, a new incarnation id, answered with a
//! broker epoch), then heartbeats every `broker.heartbeat.interval.ms` with the metadata
//! offset it has applied. It starts fenced; once the controller says it has caught up
//! (its own registration applied) it publishes the image to its partitions
//! ([`Broker::publish`]) and is unfenced. A heartbeat answered STALE_BROKER_EPOCH or
//! BROKER_ID_NOT_REGISTERED (a controller that fenced and forgot it) registers again.
//!
//! At shutdown it asks to shut down (`want_shut_down`): the controller moves its
//! leaderships away, then lets it go (controlled shutdown), or the wait times out.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::{
    ApiKey, BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest,
    BrokerRegistrationResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::replication::Replication;
use super::Broker;
use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::error::ErrorCode;

const REGISTRATION_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 1;

/// The running lifecycle: registration, heartbeats, publishing.
pub struct Lifecycle {
    shutdown: Option<oneshot::Sender<()>>,
    /// Ends true once the controller let the broker go (controlled shutdown).
    task: JoinHandle<bool>,
    publisher: JoinHandle<()>,
    /// True once the image has been published here after catching up (`/readyz`).
    published: watch::Receiver<bool>,
}

impl Lifecycle {
    /// Starts registering `broker` with the controller reached through `client`, and
    /// publishing `image` to it once caught up.
    pub fn start(
        broker: Arc<Broker>,
        image: SharedImage,
        client: ControllerClient,
        isr_client: ControllerClient,
        heartbeat_interval: Duration,
    ) -> Lifecycle {
        let (caught_up_tx, caught_up_rx) = watch::channel(false);
        let (published_tx, published_rx) = watch::channel(false);
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            Arc::clone(&broker),
            image.clone(),
            client,
            heartbeat_interval,
            (caught_up_tx, published_rx.clone()),
            shutdown_rx,
        ));
        let publisher = tokio::spawn(publish(
            broker,
            image,
            isr_client,
            caught_up_rx,
            published_tx,
        ));
        Lifecycle {
            shutdown: Some(shutdown_tx),
            task,
            publisher,
            published: published_rx,
        }
    }

    /// Becomes true once the broker has caught up with the metadata log and published the
    /// image to its partitions (what unfences it), and stays true.
    pub fn published(&self) -> watch::Receiver<bool> {
        self.published.clone()
    }

    /// Controlled shutdown: asks the controller to let this broker go and waits until it
    /// does (its leaderships moved) or `timeout` passes. True if the controller let it go.
    pub async fn shutdown(mut self, timeout: Duration) -> bool {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let confirmed = match tokio::time::timeout(timeout, &mut self.task).await {
            Ok(Ok(confirmed)) => confirmed,
            Ok(Err(_)) => false,
            Err(_) => {
                warn!("controlled shutdown not confirmed in time; stopping anyway");
                self.task.abort();
                false
            }
        };
        self.publisher.abort();
        confirmed
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        self.task.abort();
        self.publisher.abort();
    }
}

fn registration(broker: &Broker, incarnation: Uuid) -> BrokerRegistrationRequest {
    let listeners = broker
        .config()
        .listeners
        .iter()
        .map(|l| {
            Listener::default()
                .with_name(StrBytes::from_string(l.name.clone()))
                .with_host(StrBytes::from_string(l.advertised.0.clone()))
                .with_port(l.advertised.1)
                .with_security_protocol(l.security_protocol.id())
        })
        .collect();
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_cluster_id(StrBytes::from_string(broker.cluster_id().to_string()))
        .with_incarnation_id(incarnation)
        .with_listeners(listeners)
        .with_previous_broker_epoch(-1)
}

async fn register(
    broker: &Broker,
    client: &ControllerClient,
    incarnation: Uuid,
    shutdown: &mut oneshot::Receiver<()>,
) -> Option<i64> {
    let req = registration(broker, incarnation);
    let mut backoff = Duration::from_millis(100);
    loop {
        let answer = client
            .call(
                ApiKey::BrokerRegistration,
                REGISTRATION_VERSION,
                &req,
                Duration::from_secs(5),
                |r: &BrokerRegistrationResponse| r.error_code == ErrorCode::NotController.code(),
            )
            .await;
        match answer {
            Ok(r) if r.error_code == 0 => {
                info!(
                    node_id = broker.node_id(),
                    broker_epoch = r.broker_epoch,
                    "registered with the controller"
                );
                if let Some(link) = broker.cluster() {
                    link.broker_epoch
                        .store(r.broker_epoch, std::sync::atomic::Ordering::Release);
                }
                return Some(r.broker_epoch);
            }
            Ok(r) => debug!(
                code = %ErrorCode::from_code(r.error_code),
                "registration refused; trying again"
            ),
            Err(e) => debug!(cause = %e, "registration not answered; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut *shutdown => return None,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn run(
    broker: Arc<Broker>,
    image: SharedImage,
    client: ControllerClient,
    interval: Duration,
    (caught_up, published): (watch::Sender<bool>, watch::Receiver<bool>),
    mut shutdown: oneshot::Receiver<()>,
) -> bool {
    let incarnation = Uuid::new_v4();
    let Some(mut epoch) = register(&broker, &client, incarnation, &mut shutdown).await else {
        return false;
    };
    let mut shutting_down = false;
    let mut fenced = true;
    loop {
        let req = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(broker.node_id()))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(image.applied_offset())
            // fenced until the image is published here (Kafka's `readyToUnfence`): an
            // unfenced broker may be handed leaderships at once
            .with_want_fence(!*published.borrow())
            .with_want_shut_down(shutting_down);
        let answer = client
            .call(
                ApiKey::BrokerHeartbeat,
                HEARTBEAT_VERSION,
                &req,
                interval.max(Duration::from_secs(1)),
                |r: &BrokerHeartbeatResponse| r.error_code == ErrorCode::NotController.code(),
            )
            .await;
        match answer {
            Ok(r) if r.error_code == 0 => {
                if r.is_caught_up {
                    caught_up.send_if_modified(|c| !std::mem::replace(c, true));
                }
                if fenced != r.is_fenced {
                    fenced = r.is_fenced;
                    info!(node_id = broker.node_id(), fenced, "broker fencing changed");
                }
                if shutting_down && r.should_shut_down {
                    info!(node_id = broker.node_id(), "controlled shutdown complete");
                    return true;
                }
            }
            Ok(r)
                if r.error_code == ErrorCode::StaleBrokerEpoch.code()
                    || r.error_code == ErrorCode::BrokerIdNotRegistered.code() =>
            {
                if shutting_down {
                    return false;
                }
                warn!(
                    code = %ErrorCode::from_code(r.error_code),
                    "the controller no longer knows this registration; registering again"
                );
                match register(&broker, &client, incarnation, &mut shutdown).await {
                    Some(e) => epoch = e,
                    None => return false,
                }
                continue;
            }
            Ok(r) => debug!(code = %ErrorCode::from_code(r.error_code), "heartbeat refused"),
            Err(e) => debug!(cause = %e, "heartbeat not answered"),
        }
        // while shutting down, ask again soon: the controller lets go once leaderships moved
        let wait = if shutting_down {
            Duration::from_millis(100)
        } else {
            interval
        };
        if shutting_down {
            tokio::time::sleep(wait).await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => {
                    info!(node_id = broker.node_id(), "controlled shutdown requested");
                    shutting_down = true;
                }
            }
        }
    }
}

/// Publishes every image change to the broker once it has caught up; says when the
/// first publish is done.
async fn publish(
    broker: Arc<Broker>,
    image: SharedImage,
    isr_client: ControllerClient,
    mut caught_up: watch::Receiver<bool>,
    published: watch::Sender<bool>,
) {
    if caught_up.wait_for(|c| *c).await.is_err() {
        return;
    }
    // dropped with this task: fetchers and the ISR task stop with the lifecycle
    let replication = Replication::start(&broker, isr_client);
    let mut changes = image.subscribe();
    loop {
        changes.mark_unchanged();
        let snapshot = image.read(|i| i.clone());
        let b = Arc::clone(&broker);
        match tokio::task::spawn_blocking(move || b.publish(&snapshot)).await {
            Ok(()) => {
                replication.sync(&broker);
                // coordinators follow their partitions' leadership, replaying what they
                // now lead on the blocking pool, without holding up the next publish
                if let Some(groups) = broker.groups_if_started() {
                    tokio::task::spawn_blocking(move || groups.sync_leadership());
                }
                if let Some(txns) = broker.txns_if_started() {
                    tokio::task::spawn_blocking(move || txns.runtime().sync_leadership());
                }
                published.send_if_modified(|p| !std::mem::replace(p, true));
            }
            Err(e) => warn!(cause = %e, "publishing the metadata failed"),
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}
