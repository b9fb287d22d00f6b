//! Churn: many raw members joining, rebalancing and leaving at once.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::wire::*;

// ---------------------------------------------------------------- churn

/// What one churn member did.
#[derive(Default)]
struct ChurnLog {
    /// (generation, member id, assignment) of each successful SyncGroup
    received: Vec<(i32, String, Bytes)>,
    /// (generation, plan) of each SyncGroup it sent as the leader
    sent: Vec<(i32, Vec<(String, Bytes)>)>,
}

/// One member's state machine: JoinGroup (v5+: MEMBER_ID_REQUIRED, then again with the
/// id), SyncGroup (the leader assigns `partitions` round-robin), Heartbeat every 100 ms
/// until REBALANCE_IN_PROGRESS (then rejoin) or until `stop`, then LeaveGroup.
#[allow(clippy::too_many_arguments)]
async fn churn_member(
    addr: SocketAddr,
    group: String,
    topic: String,
    partitions: i32,
    v: Versions,
    synced: Arc<Mutex<i32>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    deadline: Instant,
) -> ChurnLog {
    let mut m = Member::new(addr, &group, v, &topic).await;
    let mut log = ChurnLog::default();
    'join: loop {
        assert!(
            Instant::now() < deadline,
            "{group}: a member still rebalancing"
        );
        if *stop.borrow() && !m.member_id.is_empty() {
            assert_eq!(m.leave().await, NONE, "{group}: LeaveGroup v{}", v.leave);
            return log;
        }
        let r = m.join().await;
        match r.error_code {
            NONE => {}
            MEMBER_ID_REQUIRED => {
                m.member_id = r.member_id.to_string();
                continue 'join;
            }
            UNKNOWN_MEMBER_ID => {
                m.member_id.clear();
                continue 'join;
            }
            e => panic!("{group}: JoinGroup v{} error {e}", v.join),
        }
        let plan = if m.is_leader() {
            m.round_robin(&topic, partitions)
        } else {
            Vec::new()
        };
        if m.is_leader() {
            log.sent.push((m.generation, plan.clone()));
        }
        let r = m.sync(&plan).await;
        match r.error_code {
            NONE => {
                log.received
                    .push((m.generation, m.member_id.clone(), r.assignment.clone()));
                *synced.lock() = m.generation;
            }
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => continue 'join,
            UNKNOWN_MEMBER_ID => {
                m.member_id.clear();
                continue 'join;
            }
            e => panic!("{group}: SyncGroup v{} error {e}", v.sync),
        }
        loop {
            if *stop.borrow() {
                continue 'join; // leaves at the top
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), stop.changed()).await;
            match m.heartbeat().await {
                NONE => {}
                REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => continue 'join,
                UNKNOWN_MEMBER_ID => {
                    m.member_id.clear();
                    continue 'join;
                }
                e => panic!("{group}: Heartbeat v{} error {e}", v.heartbeat),
            }
        }
    }
}

/// `groups` groups of `members` raw members each join (member i after i * `stagger`),
/// rebalance until every group is Stable with all its members synced in one generation,
/// then all leave. Asserts: every SyncGroup answer carried exactly the bytes the leader
/// sent for that member in that generation; in each final generation the partitions are
/// handed out once; DescribeGroups shows the same bytes; afterwards every group is Empty.
async fn churn(t: &Target, groups: usize, members: usize, stagger: Duration, budget: Duration) {
    let started = Instant::now();
    let deadline = started + budget;
    let topic = unique("churn");
    let partitions = 4;
    let names: Vec<String> = (0..groups).map(|g| unique(&format!("churn{g}"))).collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut synced = Vec::new();
    for (g, name) in names.iter().enumerate() {
        for i in 0..members {
            let k = g + i;
            let v = Versions {
                join: 5 + (k % 5) as i16,
                sync: (k % 6) as i16,
                heartbeat: (k % 5) as i16,
                leave: (k % 6) as i16,
            };
            let cell = Arc::new(Mutex::new(-1));
            synced.push((g, Arc::clone(&cell)));
            let (name, topic, stop) = (name.clone(), topic.clone(), stop_rx.clone());
            let addr = t.addr;
            let delay = stagger * i as u32;
            tasks.push((
                g,
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    churn_member(addr, name, topic, partitions, v, cell, stop, deadline).await
                }),
            ));
        }
    }

    // every group Stable with all members, all synced in the same generation
    let mut admin = t.client().await;
    let final_view = loop {
        assert!(
            Instant::now() < deadline,
            "groups did not all settle in {budget:?}"
        );
        let view = describe_many(&mut admin, &names).await;
        let generations: Vec<BTreeSet<i32>> = (0..groups)
            .map(|g| {
                synced
                    .iter()
                    .filter(|(x, _)| *x == g)
                    .map(|(_, cell)| *cell.lock())
                    .collect()
            })
            .collect();
        let settled = view.iter().zip(&generations).all(|(d, gens)| {
            d.group_state.as_str() == "Stable"
                && d.members.len() == members
                && gens.len() == 1
                && !gens.contains(&-1)
        });
        if settled {
            break (view, generations);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let settled_after = started.elapsed();
    stop_tx.send(true).expect("members listen");
    let mut logs: Vec<Vec<ChurnLog>> = (0..groups).map(|_| Vec::new()).collect();
    for (g, task) in tasks {
        let log = tokio::time::timeout_at(deadline.into(), task)
            .await
            .expect("members leave in time")
            .expect("member task");
        logs[g].push(log);
    }

    let (view, generations) = final_view;
    for g in 0..groups {
        let sent: HashMap<(i32, String), Bytes> = logs[g]
            .iter()
            .flat_map(|l| l.sent.iter())
            .flat_map(|(gen, plan)| {
                plan.iter()
                    .map(move |(m, b)| ((*gen, m.clone()), b.clone()))
            })
            .collect();
        let final_gen = *generations[g].iter().next().expect("one generation");
        let mut handed_out = Vec::new();
        for l in &logs[g] {
            for (gen, member, bytes) in &l.received {
                let want = sent.get(&(*gen, member.clone()));
                assert!(
                    want == Some(bytes),
                    "{}: generation {gen}, {member} got {} bytes that its leader did not send it",
                    names[g],
                    bytes.len()
                );
                if *gen == final_gen {
                    handed_out.extend(assigned_partitions(bytes));
                }
            }
        }
        handed_out.sort_unstable();
        assert_eq!(
            handed_out,
            (0..partitions).collect::<Vec<_>>(),
            "{}: partitions",
            names[g]
        );
        for dm in &view[g].members {
            let want = sent.get(&(final_gen, dm.member_id.to_string()));
            assert!(
                want == Some(&dm.member_assignment),
                "{}: DescribeGroups bytes",
                names[g]
            );
        }
    }

    let mut last = Vec::new();
    let all_empty = loop {
        let view = describe_many(&mut admin, &names).await;
        if view
            .iter()
            .all(|d| d.group_state.as_str() == "Empty" && d.members.is_empty())
        {
            break true;
        }
        if Instant::now() > deadline {
            last = view
                .iter()
                .map(|d| {
                    format!(
                        "{} {} ({})",
                        d.group_id.as_str(),
                        d.group_state,
                        d.members.len()
                    )
                })
                .collect();
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        all_empty,
        "groups not Empty after every member left: {last:?}"
    );
    eprintln!(
        "{groups} groups x {members} members: settled after {settled_after:?}, all left after {:?}",
        started.elapsed()
    );
}

/// Churn: 50 groups of 4 raw members join at once (JoinGroup v5-v9, SyncGroup v0-v5,
/// Heartbeat v0-v4, LeaveGroup v0-v5), rebalance until each group is Stable with 4
/// members, hand out bytes the broker must relay untouched, then all leave: every group
/// ends Empty. Bounded to 60 s (typically a few seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_groups_of_four_members_join_and_leave() {
    let t = Target::start().await;
    churn(&t, 50, 4, Duration::ZERO, Duration::from_secs(60)).await;
    t.shutdown().await;
}

/// Members of one group joining one after another, each while the previous rebalance is
/// still in flight (JoinGroup during sync, SyncGroup after a new join): the group
/// converges on one generation with all six instead of wedging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staggered_joins_converge() {
    let t = Target::start().await;
    churn(&t, 1, 6, Duration::from_millis(40), Duration::from_secs(30)).await;
    t.shutdown().await;
}
