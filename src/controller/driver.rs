//! The active controller: runs [`ControllerMachine`] events one at a time, proposes each
//! result's records through the [`Quorum`], and gives the caller its answer once they are
//! committed (Kafka's `QuorumController` event queue, with the simplest equivalent of its
//! "apply now, revert on a failed commit": one event at a time, waiting for its commit).
//!
//! Only the quorum's leader decides. Before each event the machine is brought in line with
//! the committed image: records another leader committed, or a proposal that failed, make
//! it start again from the image the quorum applied ([`ControllerMachine::resync`]); after
//! a failed proposal, only once a NoOpRecord proposed after it is applied (the failed one
//! may still commit, and must be in the image the next decision reads). When
//! this node becomes leader, it first commits a NoOpRecord, so everything the previous
//! leaders committed is applied here before it decides anything, then gives every broker
//! a fresh session ([`ControllerMachine::activate`]).
//!
//! A periodic [`Controller::tick`] fences brokers whose sessions expired.
//!
//! A node started on a Kafka node's data dir holds Kafka's metadata to adopt
//! ([`super::adoption`], given with [`Controller::adopt`]): once active, after its NoOp,
//! if the committed image has neither topics nor a producer id block, it proposes the
//! adopted records; once the image has them, the node notes the adoption done and no node
//! proposes again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Mutex;
use tracing::{debug, info};

use super::adoption::{self, AdoptionSummary};
use super::image_state::SharedImage;
use super::machine::{ControllerConfig, ControllerError, ControllerMachine, ControllerResult};
use super::placement::{RandomSource, SplitMix64};
use super::{LeaderAndEpoch, Quorum, QuorumError};
use crate::error::ErrorCode;
use crate::metadata::records::{MetadataRecord, NoOpRecord};

/// Why an event got no answer from the machine.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// This node is not the active controller (Kafka's NOT_CONTROLLER); `leader` is the one
    /// it knows of.
    #[error("not the active controller (leader: {leader:?})")]
    NotController { leader: Option<i32> },
    /// The machine refused the event.
    #[error(transparent)]
    Refused(#[from] ControllerError),
    /// The records were not committed (a lost leadership, a timeout, a stopped quorum).
    #[error(transparent)]
    Quorum(#[from] QuorumError),
}

impl DriverError {
    /// Kafka's error code for the caller.
    pub fn code(&self) -> ErrorCode {
        match self {
            DriverError::NotController { .. } => ErrorCode::NotController,
            DriverError::Refused(e) => e.code(),
            DriverError::Quorum(QuorumError::NotLeader { .. }) => ErrorCode::NotController,
            DriverError::Quorum(QuorumError::Timeout) => ErrorCode::RequestTimedOut,
            DriverError::Quorum(_) => ErrorCode::NotController,
        }
    }
}

/// What an event may use besides the machine.
pub struct EventContext<'a> {
    /// Milliseconds on this controller's clock (monotonic, from its start).
    pub now_ms: u64,
    /// The offset the event's first record is expected to get (a hint: broker epochs).
    pub next_offset: i64,
    pub rng: &'a mut dyn RandomSource,
}

struct State {
    machine: ControllerMachine,
    /// The offset of the last record the machine has applied (-1: none).
    offset: i64,
    /// A proposal failed: the machine may hold records that never committed.
    stale: bool,
    /// The epoch this node last became active in.
    active_epoch: Option<i64>,
    rng: SplitMix64,
    /// Kafka's metadata saved on this node and not yet known to be in the image.
    adoption: Option<PendingAdoption>,
}

/// Adopted records waiting for this node to lead (or for the image to hold them).
struct PendingAdoption {
    data_dir: PathBuf,
    records: Vec<MetadataRecord>,
    summary: AdoptionSummary,
}

/// One controller node's decision side, over its running quorum.
pub struct Controller {
    quorum: Quorum,
    image: SharedImage,
    state: Mutex<State>,
    config: ControllerConfig,
    started: Instant,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("node_id", &self.quorum.node_id())
            .finish()
    }
}

impl Controller {
    /// The controller over `quorum`, whose state machine applies to `image`.
    pub fn new(quorum: Quorum, image: SharedImage, config: ControllerConfig) -> Arc<Self> {
        let machine = ControllerMachine::new(config.clone(), image.read(|i| i.clone()));
        let seed = u64::from(quorum.node_id().unsigned_abs()) ^ 0x5eed_0000_0000_0000;
        Arc::new(Controller {
            state: Mutex::new(State {
                machine,
                offset: image.applied_offset(),
                stale: false,
                active_epoch: None,
                rng: SplitMix64::new(seed ^ rand_seed()),
                adoption: None,
            }),
            quorum,
            image,
            config,
            started: Instant::now(),
        })
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// The committed image, as this node has applied it.
    pub fn image(&self) -> &SharedImage {
        &self.image
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Gives this node Kafka's metadata saved in `data_dir` ([`adoption::load`]), to
    /// propose once it is active if the quorum has not adopted it yet.
    pub async fn adopt(&self, data_dir: PathBuf, saved: adoption::Saved) {
        if saved.done || saved.records.is_empty() {
            return;
        }
        let (records, summary) = adoption::adoption_records(&saved.records);
        info!(topics = summary.topics, partitions = summary.partitions,
            configs = summary.configs, features = summary.features,
            producer_ids = summary.producer_ids, skipped = ?summary.skipped,
            "Kafka's metadata to adopt once this node is the active controller");
        self.state.lock().await.adoption = Some(PendingAdoption {
            data_dir,
            records,
            summary,
        });
    }

    /// True while this node holds adopted metadata not yet in the image.
    pub async fn adoption_pending(&self) -> bool {
        self.state.lock().await.adoption.is_some()
    }

    /// On any node, leader or not: notes the adoption done once the image holds it.
    pub async fn settle_adoption(&self) {
        let mut st = self.state.lock().await;
        if st.adoption.is_some() && self.image.read(adopted) {
            finish_adoption(&mut st);
        }
    }

    /// The leader and epoch as this node knows them.
    pub fn leader_and_epoch(&self) -> LeaderAndEpoch {
        self.quorum.leader_and_epoch()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs one event on the machine and, if it produced records, commits them: the
    /// answer comes once they are committed (or at once when there are none).
    pub async fn run<T>(
        &self,
        event: impl FnOnce(
            &mut ControllerMachine,
            EventContext<'_>,
        ) -> Result<ControllerResult<T>, ControllerError>,
    ) -> Result<T, DriverError> {
        let mut st = self.state.lock().await;
        self.prepare(&mut st).await?;
        let now_ms = self.now_ms();
        let next_offset = st.offset.saturating_add(1);
        let State { machine, rng, .. } = &mut *st;
        let result = event(
            machine,
            EventContext {
                now_ms,
                next_offset,
                rng,
            },
        )?;
        self.commit(&mut st, result.records).await?;
        Ok(result.response)
    }

    /// The periodic check: fences brokers whose session expired (nothing on a node that
    /// is not active).
    pub async fn tick(&self) -> Result<Vec<i32>, DriverError> {
        self.run(|m, ctx| Ok(m.tick(ctx.now_ms))).await
    }

    /// Reads the machine as the active controller sees it (ListPartitionReassignments).
    pub async fn read<T>(&self, f: impl FnOnce(&ControllerMachine) -> T) -> Result<T, DriverError> {
        let mut st = self.state.lock().await;
        self.prepare(&mut st).await?;
        Ok(f(&st.machine))
    }

    /// Checks this node leads, activates it in a new epoch, and brings the machine in line
    /// with the committed image.
    async fn prepare(&self, st: &mut State) -> Result<(), DriverError> {
        let le = self.quorum.leader_and_epoch();
        if le.leader != Some(self.quorum.node_id()) {
            return Err(DriverError::NotController { leader: le.leader });
        }
        if st.active_epoch != Some(le.epoch) {
            // everything the earlier leaders committed is applied once this commits
            let noop = MetadataRecord::NoOpRecord(NoOpRecord).encode();
            let offset = self.quorum.propose(vec![noop]).await?;
            self.resync(st, offset);
            st.machine.activate(self.now_ms());
            st.active_epoch = Some(le.epoch);
            self.propose_adoption(st).await?;
            info!(
                node_id = self.quorum.node_id(),
                epoch = le.epoch,
                offset,
                "active controller"
            );
        } else if st.stale {
            // a proposal that timed out may still commit: a NoOp after it orders it, and
            // once the NoOp is applied so is the earlier one, if it committed at all
            let noop = MetadataRecord::NoOpRecord(NoOpRecord).encode();
            let offset = self.quorum.propose(vec![noop]).await?;
            self.resync(st, offset);
        } else if self.image.applied_offset() != st.offset {
            let applied = self.image.applied_offset();
            self.resync(st, applied);
        }
        Ok(())
    }

    /// Proposes the adopted records if the committed image has none of what they bring.
    async fn propose_adoption(&self, st: &mut State) -> Result<(), DriverError> {
        let Some(pending) = &st.adoption else {
            return Ok(());
        };
        if adopted(st.machine.image()) {
            finish_adoption(st);
            return Ok(());
        }
        let bytes: Vec<Bytes> = pending.records.iter().map(MetadataRecord::encode).collect();
        let s = &pending.summary;
        info!(topics = s.topics, partitions = s.partitions, configs = s.configs,
            features = s.features, producer_ids = s.producer_ids, skipped = ?s.skipped,
            "adopting Kafka's metadata");
        match self.quorum.propose(bytes).await {
            Ok(offset) => {
                self.resync(st, offset);
                finish_adoption(st);
                // brokers already unfenced (they registered with a leader that had nothing
                // to adopt) lead the adopted partitions at once
                let elected = st.machine.elect_leaderless();
                if elected.response > 0 {
                    info!(
                        partitions = elected.response,
                        "leaders elected for adopted partitions"
                    );
                }
                self.commit(st, elected.records).await
            }
            Err(e) => {
                st.stale = true;
                // the next event activates again, and proposes again if it did not commit
                st.active_epoch = None;
                Err(e.into())
            }
        }
    }

    fn resync(&self, st: &mut State, offset: i64) {
        debug!(from = st.offset, to = offset, "controller machine resynced");
        st.machine.resync(self.image.read(|i| i.clone()));
        st.offset = offset.max(self.image.applied_offset());
        st.stale = false;
    }

    async fn commit(
        &self,
        st: &mut State,
        records: Vec<MetadataRecord>,
    ) -> Result<(), DriverError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: Vec<Bytes> = records.iter().map(MetadataRecord::encode).collect();
        match self.quorum.propose(bytes).await {
            Ok(offset) => {
                for r in &records {
                    st.machine.replay(r);
                }
                st.offset = offset;
                Ok(())
            }
            Err(e) => {
                st.stale = true;
                Err(e.into())
            }
        }
    }

    /// Stops the quorum.
    pub async fn shutdown(&self) {
        self.quorum.shutdown().await;
    }
}

/// The image holds adopted (or new) metadata: topics or a producer id block.
fn adopted(image: &crate::metadata::image::MetadataImage) -> bool {
    image.topics().next().is_some() || image.producer_ids.is_some()
}

fn finish_adoption(st: &mut State) {
    if let Some(p) = st.adoption.take() {
        if let Err(e) = adoption::mark_done(&p.data_dir) {
            adoption::warn_not_marked(&p.data_dir, &e);
        } else {
            info!("Kafka's metadata is in the quorum's image");
        }
    }
}

/// Some entropy for topic ids' placement start (not for security).
fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}
