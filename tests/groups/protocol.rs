//! FindCoordinator, JoinGroup and SyncGroup at every version, and the error codes of the
//! classic group protocol, through raw frames.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;

use crate::wire::*;

// ---------------------------------------------------------------- ApiVersions, FindCoordinator

/// Issue #6: the classic group APIs at Kafka 4's versions, and (#20) KIP-848's
/// ConsumerGroupHeartbeat and ConsumerGroupDescribe. (In-process only: what another
/// broker advertises is its own.)
#[tokio::test]
async fn api_versions_advertise_the_group_apis() {
    let t = Target::start().await;
    if t.external() {
        return;
    }
    let mut c = t.client().await;
    let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &api_versions()).await;
    let range = |api: ApiKey| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == api as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::FindCoordinator), Some((0, 6)));
    assert_eq!(range(ApiKey::JoinGroup), Some((0, 9)));
    assert_eq!(range(ApiKey::SyncGroup), Some((0, 5)));
    assert_eq!(range(ApiKey::Heartbeat), Some((0, 4)));
    assert_eq!(range(ApiKey::LeaveGroup), Some((0, 5)));
    assert_eq!(range(ApiKey::OffsetCommit), Some((2, 9)));
    assert_eq!(range(ApiKey::OffsetFetch), Some((1, 9)));
    assert_eq!(range(ApiKey::ListGroups), Some((0, 5)));
    assert_eq!(range(ApiKey::DescribeGroups), Some((0, 6)));
    assert_eq!(range(ApiKey::DeleteGroups), Some((0, 2)));
    assert_eq!(range(ApiKey::OffsetDelete), Some((0, 0)));
    assert_eq!(range(ApiKey::ConsumerGroupHeartbeat), Some((0, 1)));
    assert_eq!(range(ApiKey::ConsumerGroupDescribe), Some((0, 1)));
    t.shutdown().await;
}

/// KIP-699: FindCoordinator v4+ answers in the batched form (`coordinators`, one per key),
/// v0-v3 in the flat form; the coordinator is this broker.
#[tokio::test]
async fn find_coordinator_flat_before_v4_batched_from_v4() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let md: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .await;
    assert_eq!(md.brokers.len(), 1);
    let node = md.brokers[0].node_id.0;
    let me = format!("{}:{}", md.brokers[0].host, md.brokers[0].port);
    assert_eq!(md.brokers[0].port, i32::from(t.addr.port()));
    for version in 0..=6 {
        let keys = if version >= 4 {
            vec!["fc-a", "fc-b", "fc-c"]
        } else {
            vec!["fc-a"]
        };
        let got = find_coordinator(&mut c, version, &keys).await;
        let want: Vec<(String, i32, String, i16)> = keys
            .iter()
            .map(|k| (k.to_string(), node, me.clone(), NONE))
            .collect();
        assert_eq!(got, want, "FindCoordinator v{version}");
    }
    // v4+ must not fill the flat fields, v0-v3 must not fill `coordinators`: both are
    // checked by the decoder (fields a version lacks are not on the wire), and the flat
    // answer of a v4 request would not decode as one coordinator per key above.
    t.shutdown().await;
}

// ---------------------------------------------------------------- JoinGroup / SyncGroup

/// KIP-394: JoinGroup v4+ from a new dynamic member gets MEMBER_ID_REQUIRED (79) with the
/// id to rejoin with; v0-v3 get a member id at once. Each version then syncs, heartbeats
/// and leaves at a matching version.
#[tokio::test]
async fn member_id_required_only_from_join_group_v4() {
    let t = Target::start().await;
    let topic = unique("mir");
    for join in 0..=9i16 {
        let v = Versions {
            join,
            sync: [0, 0, 1, 2, 3, 3, 4, 4, 5, 5][join as usize],
            heartbeat: [0, 0, 1, 2, 3, 3, 4, 4, 4, 4][join as usize],
            leave: [0, 0, 1, 2, 3, 3, 4, 4, 5, 5][join as usize],
        };
        let group = unique(&format!("mir-v{join}"));
        let mut m = Member::new(t.addr, &group, v, &topic).await;
        let first = m.join().await;
        assert!(
            !first.member_id.is_empty(),
            "v{join}: a member id comes back"
        );
        if join >= 4 {
            assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{join}");
            m.member_id = first.member_id.to_string();
            let second = m.join().await;
            assert_eq!(second.error_code, NONE, "rejoin v{join}: {second:?}");
            assert_eq!(
                second.member_id, first.member_id,
                "v{join}: joined with the given id"
            );
        } else {
            assert_eq!(first.error_code, NONE, "JoinGroup v{join}: {first:?}");
            m.member_id = first.member_id.to_string();
        }
        assert_eq!(m.generation, 1, "v{join}: first generation");
        assert!(m.is_leader(), "v{join}: the only member leads");
        assert_eq!(m.protocol_name.as_deref(), Some("range"), "v{join}");
        assert_eq!(m.members.len(), 1, "v{join}: the leader gets the members");
        assert_eq!(
            m.members[0].1, m.protocols[0].1,
            "v{join}: metadata relayed"
        );
        let mine = assignment(&topic, &[0], b"v");
        let r = m.sync(&[(m.member_id.clone(), mine.clone())]).await;
        assert_eq!(
            (r.error_code, r.assignment),
            (NONE, mine),
            "SyncGroup v{}",
            v.sync
        );
        assert_eq!(m.heartbeat().await, NONE, "Heartbeat v{}", v.heartbeat);
        assert_eq!(m.leave().await, NONE, "LeaveGroup v{}", v.leave);
        let d = describe(&mut m.c, &group).await;
        assert_eq!(
            d.group_state.as_str(),
            "Empty",
            "v{join}: empty after leaving"
        );
    }
    t.shutdown().await;
}

/// SyncGroup hands each member exactly the bytes the leader sent for it (the broker
/// relays them untouched: 100 KiB of opaque bytes, empty bytes, consumer-protocol bytes),
/// an empty assignment to a member the leader left out, and followers that sync before
/// the leader wait for it. DescribeGroups then shows the same bytes.
#[tokio::test]
async fn sync_group_relays_each_assignment_untouched() {
    let t = Target::start().await;
    let topic = unique("relay");
    let group = unique("relay");
    let versions = [
        Versions::LATEST,
        Versions {
            join: 3,
            sync: 0,
            heartbeat: 0,
            leave: 0,
        },
        Versions {
            join: 5,
            sync: 3,
            heartbeat: 3,
            leave: 3,
        },
        Versions {
            join: 7,
            sync: 4,
            heartbeat: 4,
            leave: 4,
        },
    ];
    let mut ms = Vec::new();
    for (i, v) in versions.into_iter().enumerate() {
        let mut m = Member::new(t.addr, &group, v, &topic).await;
        m.protocols = vec![(
            "range".into(),
            subscription(&[&topic], format!("member-{i}").as_bytes()),
        )];
        ms.push(m);
    }
    form_group(&mut ms).await;
    let leader = ms.iter().position(Member::is_leader).expect("a leader");
    let others: Vec<usize> = (0..ms.len()).filter(|i| *i != leader).collect();
    // the leader's view: every member with the metadata it joined with
    let joined: BTreeMap<String, Bytes> = ms[leader].members.iter().cloned().collect();
    for m in &ms {
        assert_eq!(joined.get(&m.member_id), Some(&m.protocols[0].1));
    }
    // what the leader hands out: others[2] is left out on purpose
    let mut plan: BTreeMap<String, Bytes> = BTreeMap::new();
    plan.insert(
        ms[leader].member_id.clone(),
        assignment(&topic, &[0, 1], b"lead"),
    );
    plan.insert(ms[others[0]].member_id.clone(), opaque_bytes(100 * 1024, 7));
    plan.insert(ms[others[1]].member_id.clone(), Bytes::new());
    let sent: Vec<(String, Bytes)> = plan.clone().into_iter().collect();
    // followers first: their SyncGroups wait for the leader's
    let mut waiting = Vec::new();
    for &i in &others {
        waiting.push(ms[i].send_sync(&[]).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = ms[leader].sync(&sent).await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        r.assignment, plan[&ms[leader].member_id],
        "leader's own bytes"
    );
    for (&i, id) in others.iter().zip(waiting) {
        let r = ms[i].recv_sync(id).await;
        assert_eq!(r.error_code, NONE, "SyncGroup v{}", ms[i].v.sync);
        let want = plan.get(&ms[i].member_id).cloned().unwrap_or_default();
        assert_eq!(
            r.assignment.len(),
            want.len(),
            "member {i}: assignment length"
        );
        assert!(
            r.assignment == want,
            "member {i}: assignment bytes untouched"
        );
        if ms[i].v.sync >= 5 {
            assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
            assert_eq!(r.protocol_name.as_deref(), Some("range"));
        }
    }
    for m in ms.iter_mut() {
        assert_eq!(m.heartbeat().await, NONE, "stable: heartbeat");
    }
    let d = describe(&mut ms[0].c, &group).await;
    assert_eq!(d.error_code, NONE);
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    assert_eq!(d.protocol_data.as_str(), "range");
    assert_eq!(d.members.len(), ms.len());
    for dm in &d.members {
        let id = dm.member_id.to_string();
        assert_eq!(
            Some(&dm.member_metadata),
            joined.get(&id),
            "metadata of {id}"
        );
        let want = plan.get(&id).cloned().unwrap_or_default();
        assert!(
            dm.member_assignment == want,
            "DescribeGroups: assignment of {id}"
        );
        assert_eq!(dm.client_id.as_str(), "rafka-test");
        assert!(!dm.client_host.is_empty());
    }
    t.shutdown().await;
}

/// A member joins while the others are between JoinGroup and SyncGroup: the group goes
/// back to PreparingRebalance, the stale SyncGroups get REBALANCE_IN_PROGRESS, the old
/// members rejoin, and one new generation with all three completes and syncs.
#[tokio::test]
async fn a_join_during_sync_restarts_the_rebalance_and_converges() {
    let t = Target::start().await;
    let topic = unique("conv");
    let group = unique("conv");
    let mut ms = vec![
        Member::new(t.addr, &group, Versions::LATEST, &topic).await,
        Member::new(t.addr, &group, Versions::LATEST, &topic).await,
    ];
    let g1 = form_group(&mut ms).await;
    // both have their JoinGroup answer; nobody has synced: CompletingRebalance
    let mut admin = t.client().await;
    wait_for_state(&mut admin, &group, "CompletingRebalance", 2).await;
    let mut late = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    late.get_member_id().await;
    let late_join = late.send_join().await;
    wait_for_state(&mut admin, &group, "PreparingRebalance", 3).await;
    for m in ms.iter_mut() {
        let plan = if m.is_leader() {
            m.round_robin(&topic, 4)
        } else {
            Vec::new()
        };
        let r = m.sync(&plan).await;
        assert_eq!(
            r.error_code, REBALANCE_IN_PROGRESS,
            "SyncGroup of generation {g1} after a new member joined"
        );
    }
    let mut rejoins = Vec::new();
    for m in ms.iter_mut() {
        rejoins.push(m.send_join().await);
    }
    for (m, id) in ms.iter_mut().zip(rejoins) {
        let r = m.recv_join(id).await;
        assert_eq!(r.error_code, NONE, "rejoin: {r:?}");
    }
    let r = late.recv_join(late_join).await;
    assert_eq!(
        r.error_code, NONE,
        "the late member's JoinGroup completes: {r:?}"
    );
    ms.push(late);
    let g2 = ms[0].generation;
    assert!(g2 > g1, "a new generation");
    assert!(ms.iter().all(|m| m.generation == g2));
    let leader = ms.iter().position(Member::is_leader).expect("a leader");
    assert_eq!(ms[leader].members.len(), 3);
    let mut owned: Vec<i32> = sync_all(&mut ms, &topic, 4)
        .await
        .iter()
        .flat_map(assigned_partitions)
        .collect();
    owned.sort_unstable();
    assert_eq!(owned, vec![0, 1, 2, 3], "every partition handed out once");
    wait_for_state(&mut admin, &group, "Stable", 3).await;
    for m in ms.iter_mut() {
        assert_eq!(m.heartbeat().await, NONE);
    }
    t.shutdown().await;
}

// ---------------------------------------------------------------- group errors

/// UNKNOWN_MEMBER_ID (25): Heartbeat, SyncGroup, JoinGroup and OffsetCommit from a member
/// id the group does not know; Heartbeat to a group that does not exist.
#[tokio::test]
async fn unknown_member_id() {
    let t = Target::start().await;
    let topic = unique("umi");
    create_topic(&mut t.client().await, &topic, 1).await;
    let group = unique("umi");
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    let plan = ms[0].round_robin(&topic, 1);
    assert_eq!(ms[0].sync(&plan).await.error_code, NONE);
    let mut ghost = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    ghost.member_id = "nobody-1234".into();
    ghost.generation = ms[0].generation;
    ghost.protocol_name = Some("range".into());
    assert_eq!(ghost.heartbeat().await, UNKNOWN_MEMBER_ID, "Heartbeat");
    assert_eq!(
        ghost.sync(&[]).await.error_code,
        UNKNOWN_MEMBER_ID,
        "SyncGroup"
    );
    assert_eq!(
        ghost.join().await.error_code,
        UNKNOWN_MEMBER_ID,
        "JoinGroup"
    );
    let r = commit(
        &mut ghost.c,
        8,
        &group,
        ghost.generation,
        "nobody-1234",
        &topic,
        &[(0, 1)],
    )
    .await;
    assert_eq!(r, vec![UNKNOWN_MEMBER_ID], "OffsetCommit");
    let mut stranger =
        Member::new(t.addr, &unique("no-such-group"), Versions::LATEST, &topic).await;
    stranger.member_id = "nobody-5678".into();
    stranger.generation = 1;
    assert_eq!(
        stranger.heartbeat().await,
        UNKNOWN_MEMBER_ID,
        "Heartbeat, no group"
    );
    assert_eq!(
        ms[0].heartbeat().await,
        NONE,
        "the real member is unaffected"
    );
    t.shutdown().await;
}

/// ILLEGAL_GENERATION (22): Heartbeat, SyncGroup and OffsetCommit of a known member with
/// the wrong generation; OffsetCommit v2-v8 with a generation to a group that does not
/// exist (v9 answers GROUP_ID_NOT_FOUND instead).
#[tokio::test]
async fn illegal_generation() {
    let t = Target::start().await;
    let topic = unique("ig");
    create_topic(&mut t.client().await, &topic, 1).await;
    let group = unique("ig");
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &topic).await];
    let generation = form_group(&mut ms).await;
    let plan = ms[0].round_robin(&topic, 1);
    ms[0].generation = generation + 1;
    assert_eq!(
        ms[0].sync(&plan).await.error_code,
        ILLEGAL_GENERATION,
        "SyncGroup"
    );
    ms[0].generation = generation;
    assert_eq!(ms[0].sync(&plan).await.error_code, NONE);
    ms[0].generation = generation + 1;
    assert_eq!(ms[0].heartbeat().await, ILLEGAL_GENERATION, "Heartbeat");
    let id = ms[0].member_id.clone();
    let r = commit(
        &mut ms[0].c,
        8,
        &group,
        generation + 1,
        &id,
        &topic,
        &[(0, 1)],
    )
    .await;
    assert_eq!(r, vec![ILLEGAL_GENERATION], "OffsetCommit");
    ms[0].generation = generation;
    assert_eq!(ms[0].heartbeat().await, NONE);
    let r = commit(&mut ms[0].c, 8, &group, generation, &id, &topic, &[(0, 1)]).await;
    assert_eq!(r, vec![NONE], "OffsetCommit with the right generation");
    for version in 2..=9 {
        let nowhere = unique("ig-none");
        let r = commit(&mut ms[0].c, version, &nowhere, 3, "m", &topic, &[(0, 1)]).await;
        let want = if version >= 9 {
            GROUP_ID_NOT_FOUND
        } else {
            ILLEGAL_GENERATION
        };
        assert_eq!(
            r,
            vec![want],
            "OffsetCommit v{version} to a group that does not exist"
        );
    }
    t.shutdown().await;
}

/// REBALANCE_IN_PROGRESS (27): Heartbeat and SyncGroup while the group prepares a
/// rebalance; OffsetCommit between JoinGroup and SyncGroup (CompletingRebalance). A
/// commit while preparing is still accepted, as in Kafka.
#[tokio::test]
async fn rebalance_in_progress() {
    let t = Target::start().await;
    let topic = unique("rip");
    create_topic(&mut t.client().await, &topic, 1).await;
    let group = unique("rip");
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    let plan = ms[0].round_robin(&topic, 1);
    assert_eq!(ms[0].sync(&plan).await.error_code, NONE);
    let (g1, id) = (ms[0].generation, ms[0].member_id.clone());
    let mut admin = t.client().await;
    let mut second = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    second.get_member_id().await;
    let pending = second.send_join().await;
    wait_for_state(&mut admin, &group, "PreparingRebalance", 2).await;
    assert_eq!(ms[0].heartbeat().await, REBALANCE_IN_PROGRESS, "Heartbeat");
    assert_eq!(
        ms[0].sync(&plan).await.error_code,
        REBALANCE_IN_PROGRESS,
        "SyncGroup"
    );
    let r = commit(&mut admin, 8, &group, g1, &id, &topic, &[(0, 5)]).await;
    assert_eq!(r, vec![NONE], "OffsetCommit while preparing a rebalance");
    assert_eq!(ms[0].join().await.error_code, NONE);
    let r = second.recv_join(pending).await;
    assert_eq!(r.error_code, NONE);
    ms.push(second);
    let g2 = ms[0].generation;
    let r = commit(&mut admin, 8, &group, g2, &id, &topic, &[(0, 6)]).await;
    assert_eq!(
        r,
        vec![REBALANCE_IN_PROGRESS],
        "OffsetCommit before SyncGroup"
    );
    sync_all(&mut ms, &topic, 2).await;
    let r = commit(&mut admin, 8, &group, g2, &id, &topic, &[(0, 7)]).await;
    assert_eq!(r, vec![NONE], "OffsetCommit once Stable");
    t.shutdown().await;
}

/// KIP-345 static membership: a second JoinGroup with the same group.instance.id
/// replaces the member (a new member id, no MEMBER_ID_REQUIRED for static members); the
/// old member id is then FENCED_INSTANCE_ID (82) on Heartbeat, SyncGroup, JoinGroup and
/// OffsetCommit, while the new one carries on.
#[tokio::test]
async fn static_member_rejoin_fences_the_old_member_id() {
    let t = Target::start().await;
    let topic = unique("fence");
    create_topic(&mut t.client().await, &topic, 1).await;
    let group = unique("fence");
    let mut old = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    old.instance_id = Some("instance-1".into());
    let r = old.join().await;
    assert_eq!(r.error_code, NONE, "static members join at once: {r:?}");
    let plan = old.round_robin(&topic, 2);
    assert_eq!(old.sync(&plan).await.error_code, NONE);
    let mut new = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    new.instance_id = Some("instance-1".into());
    let r = new.join().await;
    assert_eq!(r.error_code, NONE, "the same instance id again: {r:?}");
    assert_ne!(new.member_id, old.member_id, "a new member id");
    assert_eq!(
        new.generation, old.generation,
        "no rebalance for a static rejoin"
    );
    assert_eq!(old.heartbeat().await, FENCED_INSTANCE_ID, "Heartbeat");
    assert_eq!(
        old.sync(&plan).await.error_code,
        FENCED_INSTANCE_ID,
        "SyncGroup"
    );
    assert_eq!(old.join().await.error_code, FENCED_INSTANCE_ID, "JoinGroup");
    let req = OffsetCommitRequest::default()
        .with_group_id(group_id(&group))
        .with_generation_id_or_member_epoch(old.generation)
        .with_member_id(s(&old.member_id))
        .with_group_instance_id(Some(s("instance-1")))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let r: OffsetCommitResponse = old.c.call(ApiKey::OffsetCommit, 8, &req).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, FENCED_INSTANCE_ID,
        "OffsetCommit"
    );
    assert_eq!(
        new.heartbeat().await,
        NONE,
        "the new member id is the member"
    );
    let d = describe(&mut new.c, &group).await;
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id.as_str(), new.member_id);
    assert_eq!(
        d.members[0].group_instance_id.as_deref(),
        Some("instance-1")
    );
    t.shutdown().await;
}

/// INCONSISTENT_GROUP_PROTOCOL (23): no protocol in common with the group, another
/// protocol type, an empty protocol list, and a SyncGroup v5 naming another protocol.
/// INVALID_SESSION_TIMEOUT (26) outside group.{min,max}.session.timeout.ms.
#[tokio::test]
async fn inconsistent_group_protocol_and_invalid_session_timeout() {
    let t = Target::start().await;
    let topic = unique("igp");
    let group = unique("igp");
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    let plan = ms[0].round_robin(&topic, 1);
    assert_eq!(ms[0].sync(&plan).await.error_code, NONE);

    // checked before KIP-394's MEMBER_ID_REQUIRED: the first JoinGroup already fails
    let mut other = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    other.protocols = vec![("roundrobin".into(), subscription(&[&topic], b""))];
    assert_eq!(
        other.join().await.error_code,
        INCONSISTENT_GROUP_PROTOCOL,
        "no common protocol"
    );
    let mut connect = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    connect.protocol_type = "connect".into();
    assert_eq!(
        connect.join().await.error_code,
        INCONSISTENT_GROUP_PROTOCOL,
        "protocol type"
    );
    let mut none = Member::new(t.addr, &unique("igp-new"), Versions::LATEST, &topic).await;
    none.protocols.clear();
    assert_eq!(
        none.join().await.error_code,
        INCONSISTENT_GROUP_PROTOCOL,
        "no protocols"
    );

    ms[0].protocol_name = Some("roundrobin".into());
    assert_eq!(
        ms[0].sync(&plan).await.error_code,
        INCONSISTENT_GROUP_PROTOCOL,
        "SyncGroup v5 naming another protocol"
    );
    ms[0].protocol_name = Some("range".into());
    assert_eq!(ms[0].heartbeat().await, NONE, "the member is unaffected");

    for session_ms in [500, 1_800_001] {
        let mut m = Member::new(t.addr, &unique("ist"), Versions::LATEST, &topic).await;
        m.session_ms = session_ms;
        m.member_id = String::new();
        let r = m.join().await;
        assert_eq!(
            r.error_code, INVALID_SESSION_TIMEOUT,
            "session timeout {session_ms} ms"
        );
    }
    t.shutdown().await;
}

// ---------------------------------------------------------------- limits, batched leave, keys

const GROUP_MAX_SIZE_REACHED: i16 = 81;

/// group.max.size: a new member beyond it is refused with GROUP_MAX_SIZE_REACHED and the
/// group goes on with the members it has. (In-process only: the limit is a broker setting.)
#[tokio::test]
async fn group_max_size_refuses_the_member_over_the_limit() {
    let t = Target::start_with(|c| c.group.max_size = 2).await;
    if t.external() {
        return;
    }
    let topic = unique("full");
    create_topic(&mut t.client().await, &topic, 2).await;
    let group = unique("full");
    let mut ms = Vec::new();
    for _ in 0..2 {
        ms.push(Member::new(t.addr, &group, Versions::LATEST, &topic).await);
    }
    form_group(&mut ms).await;
    sync_all(&mut ms, &topic, 2).await;
    let mut third = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    // with or without KIP-394's MEMBER_ID_REQUIRED round trip first, the join is refused
    let mut r = third.join().await;
    if r.error_code == MEMBER_ID_REQUIRED {
        third.member_id = r.member_id.to_string();
        r = third.join().await;
    }
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED, "{r:?}");
    for m in ms.iter_mut() {
        assert_eq!(m.heartbeat().await, NONE, "the members stay, no rebalance");
    }
    let mut c = t.client().await;
    wait_for_state(&mut c, &group, "Stable", 2).await;
    t.shutdown().await;
}

/// LeaveGroup v3+ takes several members in one request: a dynamic member by id, a static
/// member by its instance id alone, and an unknown id, each answered on its own; the one
/// left behind is told to rejoin.
#[tokio::test]
async fn leave_group_batches_members_by_id_and_instance_id() {
    let t = Target::start().await;
    let topic = unique("batch-leave");
    create_topic(&mut t.client().await, &topic, 3).await;
    let group = unique("batch-leave");
    let mut ms = Vec::new();
    for i in 0..3 {
        let mut m = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
        if i == 1 {
            m.instance_id = Some("static-b".into());
        }
        ms.push(m);
    }
    form_group(&mut ms).await;
    sync_all(&mut ms, &topic, 3).await;
    let req = LeaveGroupRequest::default()
        .with_group_id(group_id(&group))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(s(&ms[0].member_id)),
            leave_group_request::MemberIdentity::default()
                .with_member_id(s(""))
                .with_group_instance_id(Some(s("static-b"))),
            leave_group_request::MemberIdentity::default().with_member_id(s("nobody")),
        ]);
    let mut c = t.client().await;
    let r: LeaveGroupResponse = c.call(ApiKey::LeaveGroup, 5, &req).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    let answers: Vec<(String, Option<String>, i16)> = r
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
                m.error_code,
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (ms[0].member_id.clone(), None, NONE),
            (String::new(), Some("static-b".into()), NONE),
            ("nobody".into(), None, UNKNOWN_MEMBER_ID),
        ]
    );
    assert_eq!(ms[2].heartbeat().await, REBALANCE_IN_PROGRESS);
    let r = ms[2].join().await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.members.len(), 1, "alone in the group now");
    t.shutdown().await;
}

/// FindCoordinator for transactional ids (key type 1), flat before v4 and batched from v4:
/// each id's coordinator is the leader of its `__transaction_state` partition (on one
/// node, the node itself), made on first use, as Kafka answers.
#[tokio::test]
async fn find_coordinator_finds_transaction_coordinators() {
    let t = Target::start().await;
    let mut c = t.client().await;
    for version in 1..=6i16 {
        let req = if version >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn-a"), s("txn-b")])
        } else {
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_key(s("txn-a"))
        };
        // the first lookup may find the topic being made (COORDINATOR_NOT_AVAILABLE)
        let mut answers: Vec<(String, i32, i16)> = Vec::new();
        for _ in 0..50 {
            let r: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, version, &req).await;
            answers = if version >= 4 {
                r.coordinators
                    .iter()
                    .map(|x| (x.key.to_string(), x.node_id.0, x.error_code))
                    .collect()
            } else {
                vec![("txn-a".into(), r.node_id.0, r.error_code)]
            };
            if answers.iter().all(|a| a.2 == NONE) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let keys: Vec<&str> = answers.iter().map(|a| a.0.as_str()).collect();
        let want: &[&str] = if version >= 4 {
            &["txn-a", "txn-b"]
        } else {
            &["txn-a"]
        };
        assert_eq!(keys, want, "v{version}");
        for a in &answers {
            assert_eq!(a.2, NONE, "v{version}: {a:?}");
            assert!(a.1 >= 0, "v{version}: a node is named: {a:?}");
        }
    }
    // groups are still found
    let found = find_coordinator(&mut c, 4, &["a-group"]).await;
    assert_eq!(found[0].3, NONE);
    t.shutdown().await;
}

/// OffsetFetch v7+ with require_stable: with no transactions pending, the committed
/// offsets at once, no error.
#[tokio::test]
async fn offset_fetch_require_stable() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("stable");
    create_topic(&mut c, &topic, 1).await;
    let group = unique("stable");
    assert_eq!(
        simple_commit(&mut c, &group, &topic, &[(0, 42)]).await,
        vec![NONE]
    );
    let req = OffsetFetchRequest::default()
        .with_group_id(group_id(&group))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name(&topic))
                .with_partition_indexes(vec![0]),
        ]))
        .with_require_stable(true);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &req).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.committed_offset, p.error_code), (42, NONE));
    t.shutdown().await;
}
