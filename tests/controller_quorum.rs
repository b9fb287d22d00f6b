//! The controller quorum in-process on loopback: elections, commits, a killed leader, a
//! restarted node catching up, a cut-off minority, five voters losing two, and garbage on
//! the controller port. Time bounds are generous (the machine is shared); the measured
//! election and failover times are printed (`--nocapture`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rafka::controller::{MetadataStateMachine, Quorum, QuorumConfig, QuorumError};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ELECTION_MIN: Duration = Duration::from_millis(400);
const ELECTION_MAX: Duration = Duration::from_millis(800);
/// Bound on any election: 10x the longest election timeout.
const ELECTION_BOUND: Duration = Duration::from_millis(8000);

type Applied = Arc<Mutex<Vec<(i64, Vec<Bytes>)>>>;

/// A state machine that records what it was given. Its snapshot is one record per entry
/// (offset, then the entry's single record), so a node restored from a snapshot compares
/// equal to one that applied every entry.
struct Recorder(Applied);

impl MetadataStateMachine for Recorder {
    fn apply(&mut self, offset: i64, records: &[Bytes]) {
        self.0.lock().push((offset, records.to_vec()));
    }
    fn snapshot(&self) -> Vec<Bytes> {
        self.0
            .lock()
            .iter()
            .map(|(o, r)| {
                let mut b = o.to_be_bytes().to_vec();
                b.extend_from_slice(&r.concat());
                Bytes::from(b)
            })
            .collect()
    }
    fn restore(&mut self, _end_offset: i64, records: Vec<Bytes>) {
        *self.0.lock() = records
            .into_iter()
            .map(|b| {
                let offset = i64::from_be_bytes(b[..8].try_into().expect("test setup"));
                (offset, vec![b.slice(8..)])
            })
            .collect();
    }
}

struct Node {
    quorum: Option<Quorum>,
    applied: Applied,
    dir: TempDir,
}

struct Cluster {
    voters: BTreeMap<i32, SocketAddr>,
    nodes: BTreeMap<i32, Node>,
}

async fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

/// Logs into the test's captured output (shown only when it fails).
fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG")
                .unwrap_or_else(|_| "warn,rafka::controller=debug,openraft=info".into()),
        )
        .with_test_writer()
        .try_init();
}

impl Cluster {
    async fn start(n: i32) -> Cluster {
        trace();
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
            listeners.insert(id, l);
        }
        let voters: BTreeMap<i32, SocketAddr> = listeners
            .iter()
            .map(|(&id, l)| (id, l.local_addr().expect("test setup")))
            .collect();
        let mut cluster = Cluster {
            voters,
            nodes: BTreeMap::new(),
        };
        for (id, l) in listeners {
            let dir = tempfile::tempdir().expect("test setup");
            let applied = Applied::default();
            let quorum = cluster.start_quorum(id, dir.path(), &applied, l).await;
            cluster.nodes.insert(
                id,
                Node {
                    quorum: Some(quorum),
                    applied,
                    dir,
                },
            );
        }
        cluster
    }

    async fn start_quorum(
        &self,
        id: i32,
        dir: &std::path::Path,
        applied: &Applied,
        listener: TcpListener,
    ) -> Quorum {
        let mut config = QuorumConfig::new(id, self.voters.clone(), dir.to_path_buf());
        config.election_timeout_min = ELECTION_MIN;
        config.election_timeout_max = ELECTION_MAX;
        config.heartbeat_interval = Duration::from_millis(100);
        config.propose_timeout = Duration::from_secs(3);
        // snapshots and purges happen within every test, so a restarted node may need one
        config.snapshot_every = 4;
        config.entries_kept_after_snapshot = 0;
        Quorum::start(config, Recorder(applied.clone()), listener)
            .await
            .expect("test setup")
    }

    fn quorum(&self, id: i32) -> &Quorum {
        self.nodes[&id].quorum.as_ref().expect("test setup")
    }

    fn live(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.quorum.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Kills a node in-process: its tasks are aborted, so it neither answers nor writes a
    /// new entry (writes already on the blocking pool may finish; the page cache survives).
    fn kill(&mut self, id: i32) {
        drop(self.nodes.get_mut(&id).expect("test setup").quorum.take());
    }

    /// Restarts a killed node from its data dir with a fresh (empty) state machine.
    async fn restart(&mut self, id: i32) {
        let listener = bind(self.voters[&id]).await;
        let applied = Applied::default();
        let dir = self.nodes[&id].dir.path().to_path_buf();
        let q = self.start_quorum(id, &dir, &applied, listener).await;
        let node = self.nodes.get_mut(&id).expect("test setup");
        node.quorum = Some(q);
        node.applied = applied;
    }

    /// Waits until every live node in `among` names the same leader, itself in `among`.
    async fn leader_among(&self, among: &[i32]) -> i32 {
        let deadline = Instant::now() + ELECTION_BOUND;
        loop {
            let seen: Vec<Option<i32>> = among.iter().map(|&id| self.quorum(id).leader()).collect();
            if let Some(Some(l)) = seen.first() {
                if among.contains(l) && seen.iter().all(|s| s == &Some(*l)) {
                    return *l;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {among:?} within {ELECTION_BOUND:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Proposes on whichever live node leads, retrying through elections.
    async fn propose(&self, records: Vec<Bytes>) -> i64 {
        let deadline = Instant::now() + ELECTION_BOUND * 2;
        loop {
            let live = self.live();
            let leader = live
                .iter()
                .find_map(|&id| self.quorum(id).leader().filter(|l| live.contains(l)));
            if let Some(l) = leader {
                match self.quorum(l).propose(records.clone()).await {
                    Ok(offset) => return offset,
                    Err(QuorumError::NotLeader { .. } | QuorumError::Timeout) => {}
                    Err(e) => panic!("propose: {e}"),
                }
            }
            assert!(Instant::now() < deadline, "no proposal accepted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `id` has applied every (offset, record) of `want`, and returns what it
    /// applied.
    async fn applied(&self, id: i32, want: &[(i64, Bytes)]) -> Vec<(i64, Vec<Bytes>)> {
        let deadline = Instant::now() + ELECTION_BOUND * 2;
        loop {
            let got = self.nodes[&id].applied.lock().clone();
            let has_all = want
                .iter()
                .all(|(o, r)| got.iter().any(|(go, gr)| go == o && gr == &vec![r.clone()]));
            if has_all {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not apply {want:?}; it has {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn rec(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_elect_commit_survive_a_killed_leader_and_catch_up_a_restart() {
    let started = Instant::now();
    let mut c = Cluster::start(3).await;
    let all = c.live();
    let leader = c.leader_among(&all).await;
    println!(
        "first election: leader {leader} after {:?}",
        started.elapsed()
    );
    let epoch = c.quorum(leader).leader_and_epoch().epoch;

    // proposals commit and apply on all three, in order, with increasing offsets
    let mut acked = Vec::new();
    for i in 0..5 {
        let r = rec(&format!("a{i}"));
        let offset = c.propose(vec![r.clone()]).await;
        acked.push((offset, r));
    }
    assert!(acked.windows(2).all(|w| w[0].0 < w[1].0));
    let reference = c.applied(leader, &acked).await;
    for &id in &all {
        let got = c.applied(id, &acked).await;
        assert_eq!(got, reference, "node {id} applied differently");
    }
    // a follower refuses proposals and names the leader
    let follower = *all.iter().find(|&&id| id != leader).expect("test setup");
    match c.quorum(follower).propose(vec![rec("x")]).await {
        Err(QuorumError::NotLeader { leader: Some(l) }) => assert_eq!(l, leader),
        other => panic!("follower propose: {other:?}"),
    }

    // kill the leader: a new one within the bound, nothing committed lost
    c.kill(leader);
    let killed_at = Instant::now();
    let rest: Vec<i32> = all.iter().copied().filter(|&id| id != leader).collect();
    let new_leader = c.leader_among(&rest).await;
    let failover = killed_at.elapsed();
    println!("failover: leader {leader} killed, {new_leader} leads after {failover:?}");
    assert_ne!(new_leader, leader);
    assert!(c.quorum(new_leader).leader_and_epoch().epoch > epoch);
    // enough entries that the leader snapshots and purges past the killed node's log end,
    // so the restart catches up by a snapshot (written as a .checkpoint) and then the log
    for i in 0..12 {
        let r = rec(&format!("b{i}"));
        let offset = c.propose(vec![r.clone()]).await;
        acked.push((offset, r));
    }
    for &id in &rest {
        c.applied(id, &acked).await;
    }

    // the killed node restarts from its data dir and catches up
    c.restart(leader).await;
    let restarted_at = Instant::now();
    let got = c.applied(leader, &acked).await;
    println!(
        "restart: node {leader} caught up after {:?}",
        restarted_at.elapsed()
    );
    let reference = c.applied(new_leader, &acked).await;
    assert_eq!(got, reference);
    assert_eq!(c.quorum(leader).voters().len(), 3);

    // its log is Kafka's __cluster_metadata-0 with a quorum-state file
    let dir = c.quorum(leader).log_dir().to_path_buf();
    assert!(dir.ends_with("__cluster_metadata-0"));
    assert!(dir.join("quorum-state").exists());
    let checkpoints = std::fs::read_dir(&dir)
        .expect("test setup")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
        .count();
    assert!(checkpoints >= 1, "no snapshot written in {}", dir.display());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("test setup")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    println!("restarted node's metadata dir: {files:?}");
    for id in c.live() {
        c.nodes
            .get_mut(&id)
            .expect("test setup")
            .quorum
            .take()
            .expect("test setup")
            .shutdown()
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_off_minority_cannot_commit() {
    let mut c = Cluster::start(3).await;
    let all = c.live();
    let old = c.leader_among(&all).await;
    let first = c.propose(vec![rec("before")]).await;

    // cut the leader off: its proposal cannot commit
    c.quorum(old).set_isolated(true);
    let res = c.quorum(old).propose(vec![rec("lost")]).await;
    assert!(res.is_err(), "an isolated leader committed: {res:?}");

    // the majority elects another leader and goes on
    let rest: Vec<i32> = all.iter().copied().filter(|&id| id != old).collect();
    let new_leader = c.leader_among(&rest).await;
    assert_ne!(new_leader, old);
    let offset = c
        .quorum(new_leader)
        .propose(vec![rec("after")])
        .await
        .expect("test setup");
    let acked = vec![(first, rec("before")), (offset, rec("after"))];

    // heal: the old leader's uncommitted entry is truncated, it converges
    c.quorum(old).set_isolated(false);
    let reference = c.applied(new_leader, &acked).await;
    let got = c.applied(old, &acked).await;
    assert_eq!(got, reference);
    for id in all {
        let applied = c.nodes[&id].applied.lock().clone();
        assert!(
            !applied.iter().any(|(_, r)| r.contains(&rec("lost"))),
            "node {id} applied an uncommitted proposal"
        );
    }
    // let the minority's proposal's absence settle: nothing else to check
    c.kill(old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_voters_survive_two_kills() {
    let mut c = Cluster::start(5).await;
    let all = c.live();
    let leader = c.leader_among(&all).await;
    let mut acked = Vec::new();
    for i in 0..3 {
        let r = rec(&format!("c{i}"));
        acked.push((c.propose(vec![r.clone()]).await, r));
    }
    let other = *all.iter().find(|&&id| id != leader).expect("test setup");
    c.kill(leader);
    c.kill(other);
    let killed_at = Instant::now();
    let rest = c.live();
    assert_eq!(rest.len(), 3);
    let new_leader = c.leader_among(&rest).await;
    println!(
        "5 voters, 2 killed: {new_leader} leads after {:?}",
        killed_at.elapsed()
    );
    for i in 0..3 {
        let r = rec(&format!("d{i}"));
        acked.push((c.propose(vec![r.clone()]).await, r));
    }
    let reference = c.applied(new_leader, &acked).await;
    for id in rest {
        assert_eq!(c.applied(id, &acked).await, reference);
    }
}

/// xorshift64: deterministic bytes from a fixed seed.
fn garbage(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_controller_port_does_not_crash_the_node() {
    let c = Cluster::start(1).await;
    let id = c.leader_among(&[1]).await;
    let addr = c.voters[&id];
    let mut seed = 0x5eed_1234_abcd_0001u64;
    let mut frames: Vec<Vec<u8>> = vec![
        (-1i32).to_be_bytes().to_vec(),
        i32::MAX.to_be_bytes().to_vec(),
        [&8i32.to_be_bytes()[..], &[0x7d, 0x01, 0, 0, 0, 0, 0, 1]].concat(), // vote, no body
        [&8i32.to_be_bytes()[..], &[0, 3, 0, 0, 0, 0, 0, 1]].concat(),       // a Kafka api key
        [&100i32.to_be_bytes()[..], &[0x7d, 0x01]].concat(),                 // cut short
    ];
    for _ in 0..200 {
        let n = (garbage(&mut seed, 1)[0] as usize) % 64 + 1;
        let body = garbage(&mut seed, n);
        // half with a size prefix that fits, so the body reaches the decoders
        if n.is_multiple_of(2) {
            let mut f = (n as i32 + 8).to_be_bytes().to_vec();
            f.extend_from_slice(&[0x7d, (n % 3) as u8, 0, 0, 0, 0, 0, 7]);
            f.extend_from_slice(&body);
            frames.push(f);
        } else {
            frames.push(body);
        }
    }
    for f in frames {
        let mut s = TcpStream::connect(addr).await.expect("test setup");
        let _ = s.write_all(&f).await;
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut sink)).await;
    }
    // still the leader, still committing
    let offset = c
        .quorum(id)
        .propose(vec![rec("alive")])
        .await
        .expect("test setup");
    c.applied(id, &[(offset, rec("alive"))]).await;
}
