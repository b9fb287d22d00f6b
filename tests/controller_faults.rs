//! Controller faults (issue #14): three controller voters, each applying the metadata log
//! to a `MetadataImage`, take a stream of topic creations, deletions and config changes
//! (KRaft records) while the active controller is killed (its Quorum dropped: its tasks
//! are aborted, so it neither answers nor proposes again; writes already handed to the
//! blocking pool may still finish, and the page cache survives, so this is not a test of
//! fsync, which the process-level kill -9 tests of the log are) again and again, and
//! restarted from its data dir. Snapshots are off here, so every node's tap holds the
//! whole log (the snapshot paths are tested in `controller_quorum` and the unit tests).
//!
//! Afterwards:
//! - every acknowledged operation is in every node's applied log exactly once: a proposal
//!   whose answer was lost (the leader died) is checked on the new leader, after a NoOp of
//!   its own has committed, before it is proposed again (what a controller does: it
//!   decides from the committed image);
//! - no two nodes ever saw different leaders in one epoch;
//! - every node's image has the same digest, the one the operations give in ack order.
//!
//! Bounded: 36 operations, 4 kills, loopback only; elections take 1-2 timeouts of
//! 400-800 ms. The operations and the kill points are fixed (no randomness).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rafka::controller::image_state::{ImageStateMachine, SharedImage};
use rafka::controller::{MetadataStateMachine, Quorum, QuorumConfig, QuorumError};
use rafka::metadata::image::MetadataImage;
use rafka::metadata::records::{
    config_resource, ConfigRecord, MetadataRecord, NoOpRecord, PartitionRecord, RemoveTopicRecord,
    TopicRecord,
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use uuid::Uuid;

const BOUND: Duration = Duration::from_secs(20);

/// The image state machine, with a tap that keeps every record applied (in order), so the
/// test can count each operation's records.
struct Tap {
    inner: ImageStateMachine,
    seen: Arc<Mutex<Vec<Bytes>>>,
}

impl MetadataStateMachine for Tap {
    fn apply(&mut self, offset: i64, records: &[Bytes]) {
        self.seen.lock().extend(records.iter().cloned());
        self.inner.apply(offset, records);
    }
    fn snapshot(&self) -> Vec<Bytes> {
        self.inner.snapshot()
    }
    fn restore(&mut self, end_offset: i64, records: Vec<Bytes>) {
        self.inner.restore(end_offset, records);
    }
}

struct Node {
    quorum: Option<Quorum>,
    image: SharedImage,
    seen: Arc<Mutex<Vec<Bytes>>>,
    dir: TempDir,
}

struct Cluster {
    voters: BTreeMap<i32, SocketAddr>,
    nodes: BTreeMap<i32, Node>,
    /// (epoch, leader) as any node saw it.
    leaders: Arc<Mutex<BTreeSet<(i64, i32)>>>,
}

async fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot bind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Cluster {
    async fn start() -> Cluster {
        let mut listeners = BTreeMap::new();
        for id in 1..=3 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listeners.insert(id, l);
        }
        let voters = listeners
            .iter()
            .map(|(&id, l)| (id, l.local_addr().expect("addr")))
            .collect();
        let mut c = Cluster {
            voters,
            nodes: BTreeMap::new(),
            leaders: Arc::default(),
        };
        for (id, l) in listeners {
            let dir = tempfile::tempdir().expect("tempdir");
            let node = c.start_node(id, dir, l).await;
            c.nodes.insert(id, node);
        }
        c
    }

    /// Starts `id` on `dir` with a fresh image (it replays the log it has).
    async fn start_node(&self, id: i32, dir: TempDir, listener: TcpListener) -> Node {
        let mut config = QuorumConfig::new(id, self.voters.clone(), dir.path().to_path_buf());
        config.election_timeout_min = Duration::from_millis(400);
        config.election_timeout_max = Duration::from_millis(800);
        config.propose_timeout = Duration::from_secs(3);
        // no snapshot: every node's tap then holds the whole log
        config.snapshot_every = 1_000_000;
        let image = SharedImage::new();
        let seen = Arc::<Mutex<Vec<Bytes>>>::default();
        let tap = Tap {
            inner: image.state_machine(),
            seen: seen.clone(),
        };
        let quorum = Quorum::start(config, tap, listener).await.expect("start");
        let mut watch = quorum.watch();
        let leaders = self.leaders.clone();
        tokio::spawn(async move {
            loop {
                let seen = *watch.borrow_and_update();
                if let Some(l) = seen.leader {
                    leaders.lock().insert((seen.epoch, l));
                }
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
        Node {
            quorum: Some(quorum),
            image,
            seen,
            dir,
        }
    }

    fn live(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.quorum.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    fn quorum(&self, id: i32) -> &Quorum {
        self.nodes[&id].quorum.as_ref().expect("live node")
    }

    /// The leader that the live nodes agree on, waiting for one.
    async fn leader(&self) -> i32 {
        let deadline = Instant::now() + BOUND;
        loop {
            let live = self.live();
            let seen: Vec<Option<i32>> = live.iter().map(|&id| self.quorum(id).leader()).collect();
            if let Some(Some(l)) = seen.first() {
                if live.contains(l) && seen.iter().all(|s| s == &Some(*l)) {
                    return *l;
                }
            }
            assert!(Instant::now() < deadline, "no leader: {seen:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Proposes `op` until it is committed exactly once. Returns how many times its answer
    /// was lost.
    /// With `kill_after`, the leader is killed that long after the first proposal went
    /// out, whether or not it was answered: (the killed node, its epoch, when) is returned too.
    async fn commit_once(
        &mut self,
        op: &[MetadataRecord],
        kill_after: Option<Duration>,
    ) -> (usize, Option<(i32, i64, Instant)>) {
        let bytes: Vec<Bytes> = op.iter().map(MetadataRecord::encode).collect();
        let marker = bytes.first().cloned().expect("an op has records");
        let deadline = Instant::now() + BOUND * 3;
        let mut lost = 0;
        let mut killed = None;
        loop {
            assert!(Instant::now() < deadline, "{op:?} never committed");
            let leader = self.leader().await;
            let answer = match kill_after.filter(|_| killed.is_none()) {
                Some(after) => {
                    let epoch = self.quorum(leader).leader_and_epoch().epoch;
                    let propose = self.quorum(leader).propose(bytes.clone());
                    let answer = tokio::time::timeout(after, propose)
                        .await
                        .unwrap_or(Err(QuorumError::Timeout));
                    self.kill(leader);
                    killed = Some((leader, epoch, Instant::now()));
                    answer
                }
                None => self.quorum(leader).propose(bytes.clone()).await,
            };
            match answer {
                Ok(_) => return (lost, killed),
                Err(QuorumError::NotLeader { .. } | QuorumError::Timeout) => lost += 1,
                Err(e) => panic!("propose: {e}"),
            }
            // did it commit after all? Once a NoOp of the current leader has committed,
            // everything before it in the log is applied there
            loop {
                assert!(Instant::now() < deadline, "no NoOp committed");
                let leader = self.leader().await;
                let q = self.quorum(leader);
                if q.propose(vec![MetadataRecord::NoOpRecord(NoOpRecord).encode()])
                    .await
                    .is_ok()
                {
                    if self.nodes[&leader].seen.lock().contains(&marker) {
                        return (lost, killed);
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// "Kill": the node's tasks are aborted (see the top of the file for what this is not).
    fn kill(&mut self, id: i32) {
        drop(self.nodes.get_mut(&id).expect("node").quorum.take());
    }

    async fn restart(&mut self, id: i32) {
        let listener = bind(self.voters[&id]).await;
        let old = self.nodes.remove(&id).expect("node");
        let node = self.start_node(id, old.dir, listener).await;
        self.nodes.insert(id, node);
    }
}

fn topic_id(i: usize) -> Uuid {
    Uuid::from_u128(0xc0ff_ee00_0000_4000_8000_0000_0000_0000 | i as u128)
}

/// Operation `i`: mostly topic creations (a TopicRecord and two PartitionRecords, one
/// batch: all or nothing), with config changes and deletions of earlier topics mixed in.
fn operation(i: usize) -> Vec<MetadataRecord> {
    match i % 4 {
        3 if i >= 7 => vec![MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
            topic_id: topic_id(i - 7),
        })],
        2 => vec![MetadataRecord::ConfigRecord(ConfigRecord {
            resource_type: config_resource::TOPIC,
            resource_name: format!("t{}", i - 1),
            name: "retention.ms".into(),
            value: Some(format!("{}", 1000 + i)),
        })],
        _ => {
            let id = topic_id(i);
            let mut op = vec![MetadataRecord::TopicRecord(TopicRecord {
                name: format!("t{i}"),
                topic_id: id,
            })];
            for p in 0..2 {
                op.push(MetadataRecord::PartitionRecord(PartitionRecord {
                    partition_id: p,
                    topic_id: id,
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2, 3],
                    removing_replicas: Vec::new(),
                    adding_replicas: Vec::new(),
                    leader: 1 + p,
                    leader_recovery_state: 0,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    directories: Vec::new(),
                    eligible_leader_replicas: None,
                    last_known_elr: None,
                }));
            }
            op
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_active_controller_loses_and_duplicates_no_acknowledged_operation() {
    const OPS: usize = 36;
    const KILL_DURING: [usize; 4] = [5, 13, 21, 29];
    let mut c = Cluster::start().await;
    let mut acked = Vec::new();
    let mut killed: Option<(i32, usize)> = None;
    let mut lost_answers = 0;
    let mut failovers = Vec::new();
    for i in 0..OPS {
        let op = operation(i);
        // the kills land while an operation is in flight, at a different point each time
        let kill_at = KILL_DURING.iter().position(|&k| k == i);
        let kill_after = kill_at.map(|n| Duration::from_micros(700 * n as u64));
        let (lost, dead) = c.commit_once(&op, kill_after).await;
        lost_answers += lost;
        acked.push(op);
        if let Some((leader, before, t)) = dead {
            let new = c.leader().await;
            assert_ne!(new, leader);
            assert!(c.quorum(new).leader_and_epoch().epoch > before);
            failovers.push(t.elapsed());
            killed = Some((leader, i));
        }
        if let Some((id, at)) = killed {
            if i == at + 3 {
                c.restart(id).await;
                killed = None;
            }
        }
    }
    if let Some((id, _)) = killed {
        c.restart(id).await;
    }
    println!(
        "failovers: {failovers:?}; answers lost, then checked on the new leader: {lost_answers}"
    );
    assert_eq!(failovers.len(), KILL_DURING.len());

    // every acknowledged operation exactly once, everywhere, and the same images
    let expected = MetadataImage::from_records(acked.iter().flatten()).digest();
    let deadline = Instant::now() + BOUND;
    loop {
        let digests: Vec<u32> = c.nodes.values().map(|n| n.image.digest()).collect();
        if digests.iter().all(|&d| d == expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "images did not converge on {expected:08x}: {digests:08x?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, node) in &c.nodes {
        let seen = node.seen.lock();
        for op in &acked {
            let marker = op[0].encode();
            let n = seen.iter().filter(|b| **b == marker).count();
            assert_eq!(n, 1, "node {id}: {:?} applied {n} times", op[0]);
        }
    }
    // never two leaders in one epoch
    let leaders = c.leaders.lock().clone();
    let mut by_epoch: BTreeMap<i64, BTreeSet<i32>> = BTreeMap::new();
    for (epoch, leader) in &leaders {
        by_epoch.entry(*epoch).or_default().insert(*leader);
    }
    for (epoch, ls) in &by_epoch {
        assert_eq!(ls.len(), 1, "epoch {epoch} had leaders {ls:?}");
    }
    assert!(by_epoch.len() >= 5, "at least five epochs: {by_epoch:?}");
    for id in c.live() {
        c.nodes.get_mut(&id).expect("node").quorum.take();
    }
}
