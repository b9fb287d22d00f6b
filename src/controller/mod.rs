//! The controller quorum: KRaft's metadata log, replicated by openraft behind this small
//! API. Nothing outside `controller/` names an openraft type, so a version change of the
//! library touches this module only.
//!
//! - [`Quorum::start`] opens `<data dir>/__cluster_metadata-0` (Kafka-format batches, one
//!   per Raft entry, partition leader epoch = term; see [`records`]; Kafka offsets count
//!   records and Raft indexes entries, [`log_store`] maps one to the other), answers the
//!   other voters on its listener ([`network`]), and joins the static voter set (Kafka's
//!   `controller.quorum.voters`).
//! - [`Quorum::propose`] appends records on the leader as one batch (atomically) and
//!   returns the offset of the last once they are committed and applied; elsewhere it
//!   fails with [`QuorumError::NotLeader`].
//! - Committed records reach the [`MetadataStateMachine`] in offset order, on every voter.
//!
//! Forming the cluster: every voter whose log and vote are empty initializes openraft with
//! the same static voter set (the first entry, index 0 term 0, a `VotersRecord`). openraft
//! documents this as safe when the configs are equal, which they are, since they come
//! from the one `controller.quorum.voters`; a node that already has a log or a vote never
//! initializes again, so restarts are safe. So a cluster forms as soon as a majority is
//! up, with no operator step.
//!
//! Snapshots are Kafka's `<end offset>-<epoch>.checkpoint` files beside the log
//! ([`snapshot`]); the log below one is purged.
//!
//! Started on a stopped Kafka node's data dir, a node first moves Kafka's metadata log
//! aside and saves what it held ([`adoption`]); the quorum starts empty, and its first
//! active controller proposes Kafka's topics, partitions, configs and producer ids.
//!
//! Deciding what to propose is [`machine`]'s (Kafka's QuorumController): a state machine
//! over the committed image that takes broker and admin events and returns the records to
//! propose and the answers; [`placement`] spreads replicas.
//!
//! Not yet: changing the voter set at run time (KIP-853).

pub mod adoption;
pub mod client;
pub mod driver;
pub mod image_state;
pub mod link;
mod log_store;
pub mod machine;
mod network;
pub mod placement;
mod records;
pub mod sample;
mod snapshot;
pub use snapshot::write_for_kafka as write_kafka_snapshot;
mod state_machine;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, SnapshotPolicy};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use log_store::LogRead;
use log_store::LogStore;
pub use network::ForeignApis;
use network::{FaultSwitch, Network};
use state_machine::StateMachineStore;
use types::{NodeId, Proposal, Raft};

/// The metadata image's side of the quorum: what every voter does with committed
/// records. Implementations do no I/O of their own; they are called under the quorum's
/// lock, one batch at a time, in offset order.
pub trait MetadataStateMachine: Send + Sync + 'static {
    /// Applies the records of one committed entry (one batch; its records are opaque to
    /// the quorum), whose last record is at Kafka offset `offset` in the metadata log (the
    /// records are at consecutive offsets up to it).
    fn apply(&mut self, offset: i64, records: &[Bytes]);
    /// The whole state as records, such that `restore` of them rebuilds it. Each is a
    /// KRaft record, at least 3 bytes (its frame header): shorter ones are refused when a
    /// snapshot arrives from the leader.
    fn snapshot(&self) -> Vec<Bytes>;
    /// Replaces the whole state with a snapshot's records; `end_offset` is the Kafka offset
    /// after the last record the snapshot covers (the state is as of `end_offset - 1`).
    fn restore(&mut self, end_offset: i64, records: Vec<Bytes>);
}

/// One controller's place in the quorum.
#[derive(Clone, Debug)]
pub struct QuorumConfig {
    /// This node's id (`node.id`); must be one of `voters`.
    pub node_id: i32,
    /// Every voter's id and controller address (`controller.quorum.voters`).
    pub voters: BTreeMap<i32, SocketAddr>,
    /// The data directory; the log is `<data_dir>/__cluster_metadata-0`.
    pub data_dir: PathBuf,
    /// A follower that hears nothing from a leader for a random time between these starts
    /// an election (Kafka's `controller.quorum.election.timeout.ms`: 1000).
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// How often the leader sends heartbeats (well below the election timeout).
    pub heartbeat_interval: Duration,
    /// How long [`Quorum::propose`] waits for its entry to commit (the entry may still
    /// commit later, as a Kafka request that timed out may).
    pub propose_timeout: Duration,
    /// A snapshot is written after this many entries since the last one (Kafka's
    /// `metadata.log.max.record.bytes.between.snapshots` counts bytes; this counts entries).
    pub snapshot_every: u64,
    /// Entries kept in the log below the newest snapshot, so a follower slightly behind
    /// catches up from the log rather than by a whole snapshot.
    pub entries_kept_after_snapshot: u64,
}

impl QuorumConfig {
    /// A config with Kafka's timeouts: elections after 1-2 s of silence, heartbeats every
    /// 100 ms (openraft checks its election timer every 1.5 heartbeats: a finer tick
    /// spreads the voters' timers), proposals waited for 5 s.
    pub fn new(node_id: i32, voters: BTreeMap<i32, SocketAddr>, data_dir: PathBuf) -> Self {
        QuorumConfig {
            node_id,
            voters,
            data_dir,
            election_timeout_min: Duration::from_millis(1000),
            election_timeout_max: Duration::from_millis(2000),
            heartbeat_interval: Duration::from_millis(100),
            propose_timeout: Duration::from_secs(5),
            snapshot_every: 20_000,
            entries_kept_after_snapshot: 1000,
        }
    }
}

/// What the quorum's callers can get wrong or meet.
#[derive(Debug, Error)]
pub enum QuorumError {
    /// This node is not the leader; `leader` is the one it knows of, if any (Kafka's
    /// NOT_CONTROLLER).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<i32> },
    /// A proposal must carry at least one record (a batch cannot be empty).
    #[error("empty proposal")]
    EmptyProposal,
    /// The proposal did not commit within `propose_timeout` (it may still commit).
    #[error("proposal not committed in time")]
    Timeout,
    /// The configuration is inconsistent (this node not a voter, a negative id).
    #[error("invalid quorum config: {0}")]
    Config(String),
    /// The metadata log and snapshots on disk cannot be used together (a damaged
    /// snapshot under a purged log).
    #[error("damaged metadata log: {0}")]
    Damaged(String),
    /// The metadata log could not be opened.
    #[error("metadata log: {0}")]
    Log(#[from] crate::log::LogError),
    /// The Raft node stopped (shut down, or a storage failure made it stop).
    #[error("quorum stopped: {0}")]
    Stopped(String),
}

/// Reads of the metadata log as stored (see [`Quorum::log_reader`]).
#[derive(Clone)]
pub struct LogReader(LogStore);

impl LogReader {
    /// Whole batches from Kafka offset `from` up to `upto` (at most `max_bytes`, one batch
    /// at least), or that `from` was purged. Blocks (disk reads).
    pub fn read(&self, from: i64, upto: i64, max_bytes: usize) -> Result<LogRead, QuorumError> {
        Ok(self.0.read_range(from, upto, max_bytes)?)
    }

    /// The Kafka offset of the first record kept (the log below was purged).
    pub fn log_start_offset(&self) -> i64 {
        self.0.log_start_offset()
    }
}

/// The leader as this node last saw it, with the epoch (Raft term).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaderAndEpoch {
    pub leader: Option<i32>,
    pub epoch: i64,
}

/// A running controller: its Raft node, its server task, and the leader watch.
pub struct Quorum {
    node_id: i32,
    raft: Raft,
    server: JoinHandle<()>,
    watcher: JoinHandle<()>,
    leader_rx: watch::Receiver<LeaderAndEpoch>,
    fault: FaultSwitch,
    foreign: network::ForeignSlot,
    /// The metadata log, for brokers that follow it (reads only).
    log_reader: LogStore,
    propose_timeout: Duration,
    dir: PathBuf,
    /// Set by [`Quorum::shutdown`], so that dropping it afterwards does nothing more.
    stopped: std::sync::atomic::AtomicBool,
}

fn node_id(id: i32) -> Result<NodeId, QuorumError> {
    NodeId::try_from(id).map_err(|_| QuorumError::Config(format!("negative node id {id}")))
}

impl Quorum {
    /// Opens the log, starts answering peers on `listener`, and joins the quorum.
    pub async fn start<S: MetadataStateMachine>(
        config: QuorumConfig,
        state_machine: S,
        listener: TcpListener,
    ) -> Result<Quorum, QuorumError> {
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::Config(format!(
                "node {} is not in the voter set {:?}",
                config.node_id,
                config.voters.keys().collect::<Vec<_>>()
            )));
        }
        let id = node_id(config.node_id)?;
        let mut members = BTreeMap::new();
        for (&v, addr) in &config.voters {
            members.insert(node_id(v)?, BasicNode::new(addr.to_string()));
        }
        let raft_config = openraft::Config {
            cluster_name: "rafka".into(),
            election_timeout_min: config.election_timeout_min.as_millis() as u64,
            election_timeout_max: config.election_timeout_max.as_millis() as u64,
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.entries_kept_after_snapshot,
            // a whole image travels in one snapshot RPC (up to the 64 MiB frame), decoded,
            // written and fsynced on the other side: openraft's 200 ms is for loopback
            install_snapshot_timeout: 30_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))?;

        let data_dir = config.data_dir.clone();
        let voters: Vec<i32> = config.voters.keys().copied().collect();
        let (store, sm_store) = tokio::task::spawn_blocking(move || {
            let store = LogStore::open(&data_dir, voters)?;
            let sm = StateMachineStore::open(state_machine, store.dir().to_path_buf())?;
            Ok::<_, crate::log::LogError>((store, sm))
        })
        .await
        .map_err(|e| QuorumError::Stopped(e.to_string()))??;
        let dir = store.dir().to_path_buf();
        // entries purged from the log must be in the snapshot restored, or this node could
        // never rebuild its state (openraft would stop the node at the first gap)
        if let Some(purged) = store.purged_index() {
            let restored = sm_store.last_applied_index();
            if restored.is_none_or(|r| r < purged) {
                return Err(QuorumError::Damaged(format!(
                    "{} is purged up to entry {purged} but the newest readable snapshot \
                     ends at {restored:?}: remove the directory to copy the metadata from \
                     the quorum again",
                    dir.display()
                )));
            }
        }
        let snapshot_ends = store.snapshot_ends();
        let fault = FaultSwitch::default();
        let network = Network {
            fault: fault.clone(),
        };
        let log_reader = store.clone();
        let raft = Raft::new(id, Arc::new(raft_config), network, store, sm_store)
            .await
            .map_err(|e| QuorumError::Stopped(e.to_string()))?;

        let foreign = network::ForeignSlot::default();
        let server = tokio::spawn(network::serve(
            listener,
            raft.clone(),
            fault.clone(),
            snapshot_ends,
            foreign.clone(),
        ));
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Stopped(e.to_string()))?;
        if !initialized {
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(node_id = config.node_id, "initialized the quorum"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => {
                    server.abort();
                    let _ = raft.shutdown().await;
                    return Err(QuorumError::Stopped(e.to_string()));
                }
            }
        }

        let (leader_tx, leader_rx) = watch::channel(LeaderAndEpoch::default());
        let watcher = tokio::spawn(watch_leader(
            raft.clone(),
            leader_tx,
            config.node_id,
            config.election_timeout_max,
        ));
        Ok(Quorum {
            node_id: config.node_id,
            raft,
            server,
            watcher,
            leader_rx,
            fault,
            foreign,
            log_reader,
            propose_timeout: config.propose_timeout,
            dir,
            stopped: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// A handle that reads the metadata log (for brokers that follow it).
    pub fn log_reader(&self) -> LogReader {
        LogReader(self.log_reader.clone())
    }

    /// The metadata log's directory (`__cluster_metadata-0`).
    pub fn log_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Appends `records` as one entry (one batch, its records at consecutive offsets) and
    /// waits until it is committed and applied here: returns the Kafka offset of its last
    /// record. Only the leader accepts proposals.
    pub async fn propose(&self, records: Vec<Bytes>) -> Result<i64, QuorumError> {
        if records.is_empty() {
            return Err(QuorumError::EmptyProposal);
        }
        let write = self.raft.client_write(Proposal(records));
        let res = tokio::time::timeout(self.propose_timeout, write)
            .await
            .map_err(|_| QuorumError::Timeout)?;
        match res {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id.and_then(|l| i32::try_from(l).ok()),
                })
            }
            Err(e) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<i32> {
        self.leader_rx.borrow().leader
    }

    /// The current leader and epoch.
    pub fn leader_and_epoch(&self) -> LeaderAndEpoch {
        *self.leader_rx.borrow()
    }

    /// A watch of (leader, epoch), updated as this node learns of changes.
    pub fn watch(&self) -> watch::Receiver<LeaderAndEpoch> {
        self.leader_rx.clone()
    }

    /// The voters of the committed membership (for checks and DescribeQuorum later).
    pub fn voters(&self) -> BTreeSet<i32> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .voter_ids()
            .filter_map(|v| i32::try_from(v).ok())
            .collect()
    }

    /// Serves the Kafka APIs of a controller on the controller port too (a second call
    /// replaces the handler; requests of other api keys close their connection until the
    /// first). The quorum lets go of it when it stops.
    pub fn serve_foreign_apis(&self, handler: Arc<dyn ForeignApis>) {
        *self.foreign.lock() = Some(handler);
    }

    /// Test switch: cut this node's controller traffic both ways (`true`), or heal it.
    #[doc(hidden)]
    pub fn set_isolated(&self, isolated: bool) {
        self.fault.set_isolated(isolated);
    }

    /// Stops answering peers and stops the Raft node. Every acknowledged append was
    /// fsynced when it was acknowledged, so there is nothing to flush.
    pub async fn shutdown(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        self.foreign.lock().take();
        self.server.abort();
        self.watcher.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(cause = %e, "the raft node did not stop cleanly");
        }
    }

    /// The quorum as this node sees it, for DescribeQuorum. Offsets are Raft entry
    /// indexes, not Kafka record offsets, as exclusive ends (index + 1, -1 unknown): the
    /// high watermark is one past the last entry applied here; a voter's log end offset is
    /// one past its last entry (this node's own log; the others' only on the leader, from
    /// what it has replicated to them). Timestamps are not tracked per voter (-1).
    pub fn describe(&self) -> QuorumDescription {
        let m = self.raft.metrics();
        let m = m.borrow();
        let end = |index: Option<u64>| {
            index.map_or(-1, |i| i64::try_from(i).map_or(-1, |i| i.saturating_add(1)))
        };
        let me = u64::try_from(self.node_id).ok();
        let voters = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| {
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == **id)
            })
            .filter_map(|(&id, node)| {
                let replica_id = i32::try_from(id).ok()?;
                let log_end_offset = if Some(id) == me {
                    end(m.last_log_index)
                } else {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id))
                        .map_or(-1, |matched| end(matched.map(|l| l.index)))
                };
                Some(VoterDescription {
                    replica_id,
                    address: node.addr.clone(),
                    log_end_offset,
                })
            })
            .collect();
        QuorumDescription {
            leader: m.current_leader.and_then(|l| i32::try_from(l).ok()),
            epoch: i64::try_from(m.current_term).unwrap_or(i64::MAX),
            high_watermark: end(m.last_applied.map(|l| l.index)),
            voters,
        }
    }
}

/// What [`Quorum::describe`] reports (offsets are Raft entry indexes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader: Option<i32>,
    /// The Raft term (KRaft's epoch).
    pub epoch: i64,
    /// One past the last entry applied on this node (-1: none).
    pub high_watermark: i64,
    pub voters: Vec<VoterDescription>,
}

/// One voter in a [`QuorumDescription`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoterDescription {
    pub replica_id: i32,
    /// `host:port` of its controller listener.
    pub address: String,
    /// One past its last entry, as this node knows it (-1: unknown).
    pub log_end_offset: i64,
}

/// Publishes (leader, epoch) as this node learns it, and breaks election livelocks.
///
/// openraft 0.9 draws each node's election timeout once, at start, and checks it on a
/// tick (1.5 heartbeat intervals). Nodes started together tick in phase, so two
/// candidates whose timeouts round to the same tick split the vote again every round,
/// forever: with five voters and two down, the three left need all three votes. So a node
/// that has seen no leader for longer than `election_timeout_max` plus a fresh random
/// jitter (up to another `election_timeout_max`) starts an election itself, off the tick.
/// The jitter comes from a generator seeded with the node id: different on every node,
/// reproducible in tests.
async fn watch_leader(
    raft: Raft,
    tx: watch::Sender<LeaderAndEpoch>,
    node_id: i32,
    election_timeout_max: Duration,
) {
    let mut metrics = raft.metrics();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (node_id as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut jitter = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let max = election_timeout_max.as_millis().max(1) as u64;
        election_timeout_max + Duration::from_millis(rng % max)
    };
    let mut next_nudge: Option<tokio::time::Instant> = None;
    loop {
        let now = {
            let m = metrics.borrow_and_update();
            LeaderAndEpoch {
                leader: m.current_leader.and_then(|l| i32::try_from(l).ok()),
                epoch: m.current_term as i64,
            }
        };
        tx.send_if_modified(|old| {
            let changed = *old != now;
            *old = now;
            changed
        });
        if now.leader.is_some() {
            next_nudge = None;
        } else if next_nudge.is_none() {
            next_nudge = Some(tokio::time::Instant::now() + jitter());
        }
        match next_nudge {
            None => {
                if metrics.changed().await.is_err() {
                    return;
                }
            }
            Some(at) => {
                tokio::select! {
                    changed = metrics.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    _ = tokio::time::sleep_until(at) => {
                        tracing::info!(node_id, epoch = now.epoch, "no leader for a while: starting an election");
                        if raft.trigger().elect().await.is_err() {
                            return;
                        }
                        next_nudge = Some(tokio::time::Instant::now() + jitter());
                    }
                }
            }
        }
    }
}

impl Drop for Quorum {
    /// A quorum dropped without [`Quorum::shutdown`] (a killed node, in tests) stops at
    /// once: its server and Raft tasks are aborted (writes already on the blocking pool may
    /// still finish).
    fn drop(&mut self) {
        self.kill();
    }
}

impl Quorum {
    /// Stops at once, as a killed process would (see `Drop`); a no-op after
    /// [`Quorum::shutdown`]. For holders that cannot drop it (it is shared).
    pub fn kill(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        self.foreign.lock().take();
        self.server.abort();
        self.watcher.abort();
        let raft = self.raft.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = raft.shutdown().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::time::Instant;

    type Applied = Arc<Mutex<Vec<(i64, Bytes)>>>;

    /// Keeps (offset, record) for every record applied, each at the offset of its entry's
    /// last record; its snapshot is the same pairs, so a restored node compares equal.
    struct Recorder(Applied);

    impl MetadataStateMachine for Recorder {
        fn apply(&mut self, offset: i64, records: &[Bytes]) {
            self.0
                .lock()
                .extend(records.iter().map(|r| (offset, r.clone())));
        }
        fn snapshot(&self) -> Vec<Bytes> {
            self.0
                .lock()
                .iter()
                .map(|(o, r)| {
                    let mut b = o.to_be_bytes().to_vec();
                    b.extend_from_slice(r);
                    Bytes::from(b)
                })
                .collect()
        }
        fn restore(&mut self, _end_offset: i64, records: Vec<Bytes>) {
            *self.0.lock() = records
                .into_iter()
                .map(|b| {
                    let o = i64::from_be_bytes(b[..8].try_into().expect("test setup"));
                    (o, b.slice(8..))
                })
                .collect();
        }
    }

    async fn start(
        id: i32,
        voters: &BTreeMap<i32, SocketAddr>,
        dir: &std::path::Path,
        applied: &Applied,
        listener: TcpListener,
    ) -> Quorum {
        let mut config = QuorumConfig::new(id, voters.clone(), dir.to_path_buf());
        config.election_timeout_min = Duration::from_millis(400);
        config.election_timeout_max = Duration::from_millis(800);
        config.propose_timeout = Duration::from_secs(3);
        config.snapshot_every = 4;
        config.entries_kept_after_snapshot = 0;
        Quorum::start(config, Recorder(applied.clone()), listener)
            .await
            .expect("test setup")
    }

    /// A log purged below a snapshot that is then lost (damaged, deleted) cannot be
    /// rebuilt: the node refuses to start and says what to do, rather than stopping at
    /// the first missing entry. The state is made by hand (a `quorum-purged` naming entry
    /// 5 and no snapshot): snapshots are built in the background, so one made by a live
    /// node could land after the test removed it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_purged_log_without_its_snapshot_is_refused_at_start() {
        let tmp = tempfile::tempdir().expect("test setup");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
        let addr = listener.local_addr().expect("test setup");
        let voters = BTreeMap::from([(1, addr)]);
        let config = || {
            let mut c = QuorumConfig::new(1, voters.clone(), tmp.path().to_path_buf());
            c.election_timeout_min = Duration::from_millis(150);
            c.election_timeout_max = Duration::from_millis(300);
            c.snapshot_every = 1_000_000;
            c
        };
        let q = Quorum::start(config(), Recorder(Applied::default()), listener)
            .await
            .expect("test setup");
        let deadline = Instant::now() + Duration::from_secs(20);
        while q.leader() != Some(1) {
            assert!(Instant::now() < deadline, "no leader");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for i in 0..8u8 {
            q.propose(vec![Bytes::from(vec![i])])
                .await
                .expect("propose");
        }
        let dir = q.log_dir().to_path_buf();
        q.shutdown().await;
        std::fs::write(dir.join("quorum-purged"), "1 5 6\n").expect("test setup");

        let listener = TcpListener::bind(addr).await.expect("test setup");
        match Quorum::start(config(), Recorder(Applied::default()), listener).await {
            Err(QuorumError::Damaged(why)) => {
                assert!(why.contains("purged up to entry 5"), "{why}")
            }
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("started on a log it cannot rebuild"),
        }
    }

    async fn leader(nodes: &BTreeMap<i32, Option<Quorum>>) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let live: Vec<&Quorum> = nodes.values().flatten().collect();
            let seen: Vec<Option<i32>> = live.iter().map(|q| q.leader()).collect();
            if let Some(Some(l)) = seen.first() {
                if seen.iter().all(|s| s == &Some(*l)) && nodes.get(l).is_some_and(Option::is_some)
                {
                    return *l;
                }
            }
            assert!(Instant::now() < deadline, "no leader: {seen:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Proposes on the leader, again on a new one if it moved.
    async fn propose(nodes: &BTreeMap<i32, Option<Quorum>>, records: Vec<Bytes>) -> i64 {
        loop {
            let l = leader(nodes).await;
            let q = nodes[&l].as_ref().expect("test setup");
            match q.propose(records.clone()).await {
                Ok(offset) => return offset,
                Err(QuorumError::NotLeader { .. }) => continue,
                Err(e) => panic!("propose: {e}"),
            }
        }
    }

    /// Three voters commit entries of three records each; a follower is killed while
    /// the leader snapshots and purges past its log end, then restarts and catches up
    /// by a snapshot: every node ends with the same Kafka offsets, in its log and in what
    /// its state machine was told.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn multi_record_entries_replicate_snapshot_and_catch_up_at_the_same_offsets() {
        let mut listeners = BTreeMap::new();
        for id in 1..=3 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
            listeners.insert(id, l);
        }
        let voters: BTreeMap<i32, SocketAddr> = listeners
            .iter()
            .map(|(&id, l)| (id, l.local_addr().expect("test setup")))
            .collect();
        let mut dirs = BTreeMap::new();
        let mut applied = BTreeMap::new();
        let mut nodes = BTreeMap::new();
        for (id, l) in listeners {
            let dir = tempfile::tempdir().expect("test setup");
            let a = Applied::default();
            nodes.insert(id, Some(start(id, &voters, dir.path(), &a, l).await));
            dirs.insert(id, dir);
            applied.insert(id, a);
        }
        let op = |i: usize| -> Vec<Bytes> {
            (0..3).map(|r| Bytes::from(format!("op{i}.{r}"))).collect()
        };
        let mut last = -1;
        let l = leader(&nodes).await;
        for i in 0..3 {
            let offset = propose(&nodes, op(i)).await;
            assert!(offset >= last + 3, "offset {offset} after {last}");
            last = offset;
        }
        let follower = *nodes.keys().find(|&&id| id != l).expect("test setup");
        drop(nodes.get_mut(&follower).expect("test setup").take());
        for i in 3..15 {
            let offset = propose(&nodes, op(i)).await;
            assert!(offset >= last + 3, "offset {offset} after {last}");
            last = offset;
        }
        let listener = loop {
            match TcpListener::bind(voters[&follower]).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let a = Applied::default();
        let q = start(follower, &voters, dirs[&follower].path(), &a, listener).await;
        nodes.insert(follower, Some(q));
        applied.insert(follower, a);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ends: Vec<Option<i64>> = applied
                .values()
                .map(|a| a.lock().last().map(|(o, _)| *o))
                .collect();
            if ends.iter().all(|e| *e == Some(last)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not caught up to {last}: {ends:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let l = leader(&nodes).await;
        let reference = applied[&l].lock().clone();
        assert_eq!(reference.len(), 45);
        for (id, a) in &applied {
            assert_eq!(*a.lock(), reference, "node {id}");
        }
        for q in nodes.into_values().flatten() {
            q.shutdown().await;
        }
        // the same log on every node: the entry after the last one goes at one offset
        let mut tails = BTreeMap::new();
        for (id, dir) in &dirs {
            let store = LogStore::open(dir.path(), vec![1, 2, 3]).expect("test setup");
            let end = store.log_end_offset();
            tails.insert(*id, end);
        }
        assert!(
            tails.values().all(|&e| e == tails[&l] && e > last),
            "log ends {tails:?}, last record at {last}"
        );
        let checkpoint = std::fs::read_dir(dirs[&follower].path().join("__cluster_metadata-0"))
            .expect("test setup")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".checkpoint"))
            .expect("the follower installed a snapshot");
        let (end, _) =
            snapshot::parse_id(checkpoint.trim_end_matches(".checkpoint")).expect("test setup");
        assert!(end > 15, "{checkpoint}: the end offset counts records");
    }
}
