use super::*;
use crate::controller::placement::SplitMix64;
use crate::metadata::image::{PartitionImage, TopicImage};

const TIMEOUT: u64 = 9_000;

fn config() -> ControllerConfig {
    ControllerConfig {
        broker_session_timeout_ms: TIMEOUT,
        default_replication_factor: 1,
        num_partitions: 1,
        unclean_leader_election_enable: false,
    }
}

fn machine() -> ControllerMachine {
    ControllerMachine::new(config(), MetadataImage::new())
}

/// Replays records as the quorum would once they commit; every one must fit the image.
fn commit(m: &mut ControllerMachine, records: &[MetadataRecord]) {
    for r in records {
        assert_eq!(m.replay(r), Applied::Yes, "{r:?}");
    }
}

fn registration(id: i32, incarnation: u128) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest {
        broker_id: id,
        incarnation_id: Uuid::from_u128(incarnation),
        listeners: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092 + id as u16,
            security_protocol: 0,
        }],
        features: vec![],
        rack: None,
        log_dirs: vec![],
    }
}

fn register(m: &mut ControllerMachine, id: i32, now: u64) -> i64 {
    let r = m
        .register_broker(registration(id, id as u128), now, 0)
        .expect("present");
    commit(m, &r.records);
    r.response
}

fn heartbeat(
    m: &mut ControllerMachine,
    id: i32,
    now: u64,
    want_shutdown: bool,
) -> BrokerHeartbeatReply {
    let epoch = m.image().brokers[&id].epoch;
    let r = m
        .heartbeat(
            BrokerHeartbeatRequest {
                broker_id: id,
                broker_epoch: epoch,
                current_metadata_offset: i64::MAX,
                want_fence: false,
                want_shutdown,
            },
            now,
        )
        .expect("present");
    commit(m, &r.records);
    r.response
}

/// A machine with brokers 1..=n registered and unfenced at time 0.
fn cluster(n: i32) -> ControllerMachine {
    let mut m = machine();
    for id in 1..=n {
        register(&mut m, id, 0);
        heartbeat(&mut m, id, 0, false);
    }
    m
}

fn create(m: &mut ControllerMachine, topic: CreatableTopic, seed: u64) -> Uuid {
    let r = m.create_topics(&[topic], false, &mut SplitMix64::new(seed));
    commit(m, &r.records);
    r.response[0].1.clone().expect("present").topic_id
}

fn with_assignment(name: &str, lists: &[&[i32]]) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: lists
            .iter()
            .enumerate()
            .map(|(i, r)| (i as i32, r.to_vec()))
            .collect(),
        configs: vec![],
    }
}

fn topic(m: &ControllerMachine, name: &str) -> TopicImage {
    m.image().topic(name).expect("present").clone()
}

// ---- registration ----------------------------------------------------------------------

#[test]
fn registration_is_fenced_with_a_new_epoch() {
    let mut m = machine();
    // Kafka: the epoch is the offset of the RegisterBrokerRecord
    let r = m
        .register_broker(registration(1, 10), 0, 42)
        .expect("present");
    assert_eq!(r.response, 42);
    match &r.records[..] {
        [MetadataRecord::RegisterBrokerRecord(rec)] => {
            assert!(rec.fenced);
            assert_eq!((rec.broker_id, rec.broker_epoch), (1, 42));
        }
        other => panic!("{other:?}"),
    }
    commit(&mut m, &r.records);
    assert!(!m.image().is_live(1));
    // a lower offset hint cannot give an epoch that is not new
    let r = m
        .register_broker(registration(2, 20), 0, 7)
        .expect("present");
    assert_eq!(r.response, 43);
}

#[test]
fn duplicate_registration_inside_a_live_session() {
    let mut m = cluster(1);
    let other = registration(1, 99);
    // another incarnation while the broker is unfenced and heard from
    let err = m
        .register_broker(other.clone(), TIMEOUT, 0)
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::DuplicateBrokerRegistration);
    // the same incarnation may register again (a retried request): a new epoch
    let old = m.image().brokers[&1].epoch;
    let r = m
        .register_broker(registration(1, 1), 1, 0)
        .expect("present");
    assert!(r.response > old);
    // once the session has expired, the new incarnation replaces the old one
    let mut m = cluster(1);
    let r = m.register_broker(other, TIMEOUT + 1, 0).expect("present");
    commit(&mut m, &r.records);
    assert_eq!(m.image().brokers[&1].incarnation_id, Uuid::from_u128(99));
    assert!(m.image().brokers[&1].fenced);
}

#[test]
fn reregistration_gives_up_leaderships() {
    let mut m = cluster(2);
    create(&mut m, with_assignment("t", &[&[1, 2]]), 1);
    // broker 1 restarts with a new incarnation after its session ran out
    let r = m
        .register_broker(registration(1, 77), TIMEOUT + 1, 0)
        .expect("present");
    commit(&mut m, &r.records);
    let p = &topic(&m, "t").partitions[&0];
    assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 1));
}

// ---- heartbeats and fencing -------------------------------------------------------------

#[test]
fn heartbeat_errors() {
    let mut m = cluster(1);
    let hb = |id, epoch| BrokerHeartbeatRequest {
        broker_id: id,
        broker_epoch: epoch,
        current_metadata_offset: 0,
        want_fence: false,
        want_shutdown: false,
    };
    assert_eq!(
        m.heartbeat(hb(5, 0), 0).expect_err("refused").code(),
        ErrorCode::BrokerIdNotRegistered
    );
    let epoch = m.image().brokers[&1].epoch;
    assert_eq!(
        m.heartbeat(hb(1, epoch + 1), 0)
            .expect_err("refused")
            .code(),
        ErrorCode::StaleBrokerEpoch
    );
}

#[test]
fn unfenced_once_caught_up() {
    let mut m = machine();
    let epoch = register(&mut m, 1, 0);
    let mut hb = BrokerHeartbeatRequest {
        broker_id: 1,
        broker_epoch: epoch,
        current_metadata_offset: epoch - 1,
        want_fence: false,
        want_shutdown: false,
    };
    let r = m.heartbeat(hb, 1).expect("present");
    assert!(r.records.is_empty());
    assert_eq!(
        r.response,
        BrokerHeartbeatReply {
            is_caught_up: false,
            is_fenced: true,
            should_shut_down: false
        }
    );
    // caught up but wants to stay fenced
    hb.current_metadata_offset = epoch;
    hb.want_fence = true;
    assert!(m.heartbeat(hb, 2).expect("present").records.is_empty());
    hb.want_fence = false;
    let r = m.heartbeat(hb, 3).expect("present");
    assert!(!r.response.is_fenced && r.response.is_caught_up);
    commit(&mut m, &r.records);
    assert!(m.image().is_live(1));
    // an unfenced broker that asks to be fenced is
    hb.want_fence = true;
    let r = m.heartbeat(hb, 4).expect("present");
    assert!(r.response.is_fenced);
    commit(&mut m, &r.records);
    assert!(!m.image().is_live(1));
}

#[test]
fn session_expiry_fences_and_moves_leaders() {
    let mut m = cluster(3);
    create(
        &mut m,
        with_assignment("t", &[&[1, 2, 3], &[2, 1, 3], &[3, 2, 1]]),
        1,
    );
    // brokers 2 and 3 keep heartbeating; 1 goes silent
    heartbeat(&mut m, 2, TIMEOUT, false);
    heartbeat(&mut m, 3, TIMEOUT, false);
    assert!(m.tick(TIMEOUT).records.is_empty(), "not yet expired");
    let r = m.tick(TIMEOUT + 1);
    assert_eq!(r.response, vec![1]);
    commit(&mut m, &r.records);
    assert!(!m.image().is_live(1));
    let t = topic(&m, "t");
    // p0: led by 1; the next replica in replica order in the ISR leads; epochs bumped
    let p0 = &t.partitions[&0];
    assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2, 3]));
    assert_eq!((p0.leader_epoch, p0.partition_epoch), (1, 1));
    // p1: 1 was a follower: only the ISR shrinks, the leader epoch stays
    let p1 = &t.partitions[&1];
    assert_eq!((p1.leader, p1.isr.clone()), (2, vec![2, 3]));
    assert_eq!((p1.leader_epoch, p1.partition_epoch), (0, 1));
    // nothing more to fence
    assert!(m.tick(TIMEOUT + 2).records.is_empty());
}

#[test]
fn a_new_active_controller_gives_every_broker_a_fresh_session() {
    let old = cluster(2);
    // the standby replayed the same records but heard no heartbeat; it becomes active late
    let mut m = ControllerMachine::new(config(), old.image().clone());
    m.activate(50_000);
    assert!(m.tick(50_000 + TIMEOUT).records.is_empty());
    heartbeat(&mut m, 1, 50_000 + TIMEOUT, false);
    assert_eq!(m.tick(50_001 + TIMEOUT).response, vec![2]);
    // without activate, the first tick starts the sessions rather than fencing
    let mut m = ControllerMachine::new(config(), old.image().clone());
    assert!(m.tick(90_000).records.is_empty());
    assert_eq!(m.tick(90_001 + TIMEOUT).response, vec![1, 2]);
}

#[test]
fn last_isr_member_stays_and_leader_is_none() {
    let mut m = cluster(2);
    create(&mut m, with_assignment("t", &[&[1]]), 1);
    create(&mut m, with_assignment("u", &[&[1, 2]]), 1);
    // shrink u's ISR to [1] (as an AlterPartition would)
    let mut c = PartitionChangeRecord::new(topic(&m, "u").id, 0);
    c.isr = Some(vec![1]);
    commit(&mut m, &[c.into()]);
    heartbeat(&mut m, 2, TIMEOUT, false);
    let r = m.tick(TIMEOUT + 1);
    commit(&mut m, &r.records);
    for name in ["t", "u"] {
        let p = &topic(&m, name).partitions[&0];
        assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![1]), "{name}");
    }
    // broker 1 comes back and is unfenced: it leads again, cleanly
    let epoch = register(&mut m, 1, TIMEOUT + 2);
    assert!(epoch > 0);
    heartbeat(&mut m, 1, TIMEOUT + 3, false);
    for name in ["t", "u"] {
        let p = &topic(&m, name).partitions[&0];
        assert_eq!((p.leader, p.leader_recovery_state), (1, 0), "{name}");
    }
}

#[test]
fn unclean_election_takes_a_live_replica_outside_the_isr() {
    let mut m = cluster(2);
    m.config.unclean_leader_election_enable = true;
    create(&mut m, with_assignment("u", &[&[1, 2]]), 1);
    let mut c = PartitionChangeRecord::new(topic(&m, "u").id, 0);
    c.isr = Some(vec![1]);
    commit(&mut m, &[c.into()]);
    heartbeat(&mut m, 2, TIMEOUT, false);
    let r = m.tick(TIMEOUT + 1);
    commit(&mut m, &r.records);
    let p = &topic(&m, "u").partitions[&0];
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(p.leader_recovery_state, RECOVERING);
}

#[test]
fn unclean_election_per_topic_override() {
    // the cluster default is off; the topic turns it on
    let mut m = cluster(2);
    let t = CreatableTopic {
        configs: vec![("unclean.leader.election.enable".into(), Some("true".into()))],
        ..with_assignment("u", &[&[1, 2]])
    };
    create(&mut m, t, 1);
    let mut c = PartitionChangeRecord::new(topic(&m, "u").id, 0);
    c.isr = Some(vec![1]);
    commit(&mut m, &[c.into()]);
    heartbeat(&mut m, 2, TIMEOUT, false);
    let r = m.tick(TIMEOUT + 1);
    commit(&mut m, &r.records);
    assert_eq!(topic(&m, "u").partitions[&0].leader, 2);
}

#[test]
fn controlled_shutdown_moves_leadership_first() {
    let mut m = cluster(2);
    create(&mut m, with_assignment("t", &[&[1, 2], &[2, 1]]), 1);
    let reply = heartbeat(&mut m, 1, 1, true);
    assert!(!reply.should_shut_down && !reply.is_fenced);
    let b = &m.image().brokers[&1];
    assert!(b.in_controlled_shutdown && !b.fenced);
    let t = topic(&m, "t");
    assert_eq!(
        (t.partitions[&0].leader, t.partitions[&0].isr.clone()),
        (2, vec![2])
    );
    assert_eq!(t.partitions[&1].isr, vec![2]);
    // new topics avoid it
    assert_eq!(m.usable_brokers(), vec![2]);
    // it leads nothing now: it may go, fenced
    let reply = heartbeat(&mut m, 1, 2, true);
    assert!(reply.should_shut_down && reply.is_fenced);
    assert!(m.image().brokers[&1].fenced);
    // an unfenced broker that leads nothing may go at once (fenced, out of the ISRs)
    let reply = heartbeat(&mut m, 2, 3, false);
    assert!(!reply.should_shut_down);
    let mut m2 = cluster(2);
    create(&mut m2, with_assignment("f", &[&[2, 1]]), 1);
    let reply = heartbeat(&mut m2, 1, 1, true);
    assert!(reply.should_shut_down && reply.is_fenced);
    assert_eq!(topic(&m2, "f").partitions[&0].isr, vec![2]);
    // a fenced broker that wants to shut down may at once
    let mut m = machine();
    register(&mut m, 3, 0);
    let epoch = m.image().brokers[&3].epoch;
    let r = m
        .heartbeat(
            BrokerHeartbeatRequest {
                broker_id: 3,
                broker_epoch: epoch,
                current_metadata_offset: 0,
                want_fence: false,
                want_shutdown: true,
            },
            0,
        )
        .expect("present");
    assert!(r.records.is_empty() && r.response.should_shut_down);
}

#[test]
fn unregister_moves_leadership_and_removes_the_broker() {
    let mut m = cluster(2);
    create(&mut m, with_assignment("t", &[&[1, 2]]), 1);
    let r = m.unregister_broker(1).expect("registered");
    assert!(matches!(
        r.records.last(),
        Some(MetadataRecord::UnregisterBrokerRecord(_))
    ));
    commit(&mut m, &r.records);
    assert!(!m.image().brokers.contains_key(&1));
    let p = &topic(&m, "t").partitions[&0];
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(
        m.unregister_broker(1).expect_err("refused").code(),
        ErrorCode::BrokerIdNotRegistered
    );
}

// ---- CreateTopics -----------------------------------------------------------------------

fn counts(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        ..Default::default()
    }
}

#[test]
fn create_topics_rules() {
    let mut m = cluster(3);
    m.config.num_partitions = 2;
    m.config.default_replication_factor = 2;
    create(&mut m, counts("exists", 1, 1), 1);
    create(&mut m, counts("a_b", 1, 1), 1);
    type Case = (CreatableTopic, Result<(i32, i16), ErrorCode>);
    let cases: Vec<Case> = vec![
        (counts("a", 6, 3), Ok((6, 3))),
        (counts("defaults", -1, -1), Ok((2, 2))),
        (
            counts("too-many", 1, 4),
            Err(ErrorCode::InvalidReplicationFactor),
        ),
        (
            counts("zero-rf", 1, 0),
            Err(ErrorCode::InvalidReplicationFactor),
        ),
        (counts("zero-p", 0, 1), Err(ErrorCode::InvalidPartitions)),
        (counts("neg-p", -2, 1), Err(ErrorCode::InvalidPartitions)),
        (counts("exists", 1, 1), Err(ErrorCode::TopicAlreadyExists)),
        (counts("a.b", 1, 1), Err(ErrorCode::InvalidTopicException)),
        (
            counts("bad name", 1, 1),
            Err(ErrorCode::InvalidTopicException),
        ),
        (with_assignment("manual", &[&[3, 1], &[1, 2]]), Ok((2, 2))),
        (
            with_assignment("uneven", &[&[3, 1], &[1]]),
            Err(ErrorCode::InvalidReplicaAssignment),
        ),
        (
            with_assignment("repeat", &[&[1, 1]]),
            Err(ErrorCode::InvalidReplicaAssignment),
        ),
        (
            with_assignment("unknown", &[&[1, 9]]),
            Err(ErrorCode::InvalidReplicaAssignment),
        ),
        (
            with_assignment("empty", &[&[]]),
            Err(ErrorCode::InvalidReplicaAssignment),
        ),
        (
            CreatableTopic {
                num_partitions: 1,
                ..with_assignment("both", &[&[1]])
            },
            Err(ErrorCode::InvalidRequest),
        ),
        (
            CreatableTopic {
                assignments: vec![(1, vec![1])],
                ..with_assignment("gap", &[])
            },
            Err(ErrorCode::InvalidReplicaAssignment),
        ),
        (
            CreatableTopic {
                configs: vec![("retention.ms".into(), None)],
                ..counts("null-config", 1, 1)
            },
            Err(ErrorCode::InvalidConfig),
        ),
    ];
    for (t, want) in cases {
        let name = t.name.clone();
        let r = m.create_topics(&[t], true, &mut SplitMix64::new(3));
        assert!(r.records.is_empty(), "validate_only writes nothing");
        let got = r.response[0]
            .1
            .clone()
            .map(|c| (c.num_partitions, c.replication_factor))
            .map_err(|e| e.code());
        assert_eq!(got, want, "{name}");
    }
    // a hostile partition count is refused before anything is built (Kafka:
    // MAX_RECORDS_PER_USER_OP), and so is a request whose topics add up past it
    let r = m.create_topics(
        &[counts("huge", i32::MAX, 1)],
        false,
        &mut SplitMix64::new(1),
    );
    assert_eq!(
        r.response[0].1.clone().expect_err("refused").code(),
        ErrorCode::PolicyViolation
    );
    let r = m.create_topics(
        &[counts("half1", 6_000, 1), counts("half2", 6_000, 1)],
        true,
        &mut SplitMix64::new(1),
    );
    assert!(r.response[0].1.is_ok());
    assert_eq!(
        r.response[1].1.clone().expect_err("refused").code(),
        ErrorCode::PolicyViolation
    );
    // a name twice in one request: both refused
    let r = m.create_topics(
        &[counts("twice", 1, 1), counts("twice", 1, 1)],
        false,
        &mut SplitMix64::new(1),
    );
    assert!(r.records.is_empty());
    assert!(r
        .response
        .iter()
        .all(|(_, res)| res.as_ref().expect_err("refused").code() == ErrorCode::InvalidRequest));
}

#[test]
fn created_topic_records() {
    let mut m = cluster(3);
    let t = CreatableTopic {
        configs: vec![("retention.ms".into(), Some("1000".into()))],
        ..counts("t", 3, 2)
    };
    let r = m.create_topics(&[t], false, &mut SplitMix64::new(5));
    let id = r.response[0].1.clone().expect("present").topic_id;
    assert!(matches!(&r.records[0], MetadataRecord::TopicRecord(t) if t.topic_id == id));
    assert_eq!(r.records.len(), 1 + 3 + 1);
    commit(&mut m, &r.records);
    let t = topic(&m, "t");
    for p in t.partitions.values() {
        assert_eq!(p.replicas.len(), 2);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
    }
    // leaders spread: three partitions on three brokers, one each
    let leaders: BTreeSet<i32> = t.partitions.values().map(|p| p.leader).collect();
    assert_eq!(leaders.len(), 3);
    assert_eq!(
        m.image().topic_config("t").expect("present")["retention.ms"],
        "1000"
    );
    // the replication factor counts only unfenced brokers
    let mut m = cluster(2);
    register(&mut m, 3, 0);
    let r = m.create_topics(&[counts("x", 1, 3)], false, &mut SplitMix64::new(1));
    assert_eq!(
        r.response[0].1.clone().expect_err("refused").code(),
        ErrorCode::InvalidReplicationFactor
    );
}

// ---- DeleteTopics, CreatePartitions, ElectLeaders, producer ids, configs -----------------

#[test]
fn delete_topics_by_name_and_id() {
    let mut m = cluster(1);
    let id = create(&mut m, counts("a", 1, 1), 1);
    create(&mut m, counts("b", 1, 1), 2);
    let r = m.delete_topics(&[
        TopicRef::Id(id),
        TopicRef::Name("b".into()),
        TopicRef::Name("nope".into()),
        TopicRef::Id(Uuid::from_u128(5)),
    ]);
    let codes: Vec<ErrorCode> = r
        .response
        .iter()
        .map(|(_, res)| res.as_ref().map_or_else(|e| e.code(), |_| ErrorCode::None))
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::None,
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::UnknownTopicId
        ]
    );
    commit(&mut m, &r.records);
    assert_eq!(m.image().topics().count(), 0);
}

#[test]
fn create_partitions() {
    let mut m = cluster(3);
    create(&mut m, counts("t", 2, 2), 1);
    let mut rng = SplitMix64::new(2);
    let err = |r: Result<ControllerResult<()>, ControllerError>| r.expect_err("refused").code();
    assert_eq!(
        err(m.create_partitions("t", 2, None, false, &mut rng)),
        ErrorCode::InvalidPartitions
    );
    assert_eq!(
        err(m.create_partitions("t", i32::MAX, None, false, &mut rng)),
        ErrorCode::PolicyViolation
    );
    assert_eq!(
        err(m.create_partitions("nope", 3, None, false, &mut rng)),
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(
        err(m.create_partitions("t", 3, Some(&[vec![1]]), false, &mut rng)),
        ErrorCode::InvalidReplicaAssignment
    );
    assert_eq!(
        err(m.create_partitions("t", 4, Some(&[vec![1, 2]]), false, &mut rng)),
        ErrorCode::InvalidReplicaAssignment
    );
    let r = m
        .create_partitions("t", 3, Some(&[vec![3, 1]]), false, &mut rng)
        .expect("present");
    commit(&mut m, &r.records);
    let r = m
        .create_partitions("t", 5, None, false, &mut rng)
        .expect("present");
    commit(&mut m, &r.records);
    let t = topic(&m, "t");
    assert_eq!(t.partitions.len(), 5);
    assert_eq!(t.partitions[&2].replicas, vec![3, 1]);
    assert!(t.partitions.values().all(|p| p.replicas.len() == 2));
}

#[test]
fn elect_leaders() {
    let mut m = cluster(2);
    create(&mut m, with_assignment("t", &[&[1, 2], &[2, 1]]), 1);
    // 1 leaves its leadership through a controlled shutdown, then restarts
    heartbeat(&mut m, 1, 1, true);
    heartbeat(&mut m, 1, 2, true);
    register(&mut m, 1, 3);
    heartbeat(&mut m, 1, 4, false);
    // 1 is back but not in t-0's ISR: the preferred leader is not available
    let parts = vec![
        ("t".to_string(), 0),
        ("t".to_string(), 1),
        ("x".to_string(), 0),
    ];
    let r = m.elect_leaders(ElectionType::Preferred, &parts);
    let codes: Vec<ErrorCode> = r
        .response
        .iter()
        .map(|(_, res)| res.as_ref().map_or_else(|e| e.code(), |_| ErrorCode::None))
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::PreferredLeaderNotAvailable,
            ErrorCode::ElectionNotNeeded,
            ErrorCode::UnknownTopicOrPartition
        ]
    );
    assert!(r.records.is_empty());
    // it catches up (the leader adds it to the ISR): now it can take its place back
    let mut c = PartitionChangeRecord::new(topic(&m, "t").id, 0);
    c.isr = Some(vec![2, 1]);
    commit(&mut m, &[c.into()]);
    let r = m.elect_leaders(ElectionType::Preferred, &parts[..1]);
    assert!(r.response[0].1.is_ok());
    commit(&mut m, &r.records);
    let p = &topic(&m, "t").partitions[&0];
    assert_eq!((p.leader, p.leader_epoch), (1, 2));
    // unclean: not needed while the leader is live
    let r = m.elect_leaders(ElectionType::Unclean, &parts[..1]);
    assert_eq!(
        r.response[0].1.clone().expect_err("refused").code(),
        ErrorCode::ElectionNotNeeded
    );
}

#[test]
fn producer_id_blocks() {
    let mut m = cluster(1);
    let epoch = m.image().brokers[&1].epoch;
    let a = m.allocate_producer_ids(1, epoch).expect("present");
    // two blocks decided before the first is replayed are still distinct
    let b = m.allocate_producer_ids(1, epoch).expect("present");
    assert_eq!((a.response, b.response), (0, PRODUCER_ID_BLOCK_SIZE));
    commit(&mut m, &a.records);
    commit(&mut m, &b.records);
    assert_eq!(
        m.image().producer_ids.expect("present").next_producer_id,
        2 * PRODUCER_ID_BLOCK_SIZE
    );
    assert_eq!(
        m.allocate_producer_ids(1, epoch + 1)
            .expect_err("refused")
            .code(),
        ErrorCode::StaleBrokerEpoch
    );
    assert_eq!(
        m.allocate_producer_ids(2, 0).expect_err("refused").code(),
        ErrorCode::BrokerIdNotRegistered
    );
    // the last ids are never handed out twice
    let mut full = m.clone();
    full.next_producer_id = i64::MAX - 10;
    assert_eq!(
        full.allocate_producer_ids(1, epoch)
            .expect_err("refused")
            .code(),
        ErrorCode::UnknownServerError
    );
    // a new controller restored from the image carries on
    let mut restored = ControllerMachine::new(config(), m.image().clone());
    assert_eq!(
        restored
            .allocate_producer_ids(1, epoch)
            .expect("present")
            .response,
        2 * PRODUCER_ID_BLOCK_SIZE
    );
}

#[test]
fn incremental_alter_configs() {
    let mut m = cluster(1);
    create(&mut m, counts("t", 1, 1), 1);
    let ops = vec![
        AlterConfigOp::Set("retention.ms".into(), "5".into()),
        AlterConfigOp::Append("cleanup.policy".into(), "delete,compact".into()),
        AlterConfigOp::Subtract("cleanup.policy".into(), "delete".into()),
    ];
    let r = m
        .alter_configs(config_resource::TOPIC, "t", &ops, false)
        .expect("present");
    commit(&mut m, &r.records);
    let c = m.image().topic_config("t").expect("present");
    assert_eq!(
        (c["retention.ms"].as_str(), c["cleanup.policy"].as_str()),
        ("5", "compact")
    );
    let r = m
        .alter_configs(
            config_resource::TOPIC,
            "t",
            &[AlterConfigOp::Delete("retention.ms".into())],
            false,
        )
        .expect("present");
    commit(&mut m, &r.records);
    assert!(!m
        .image()
        .topic_config("t")
        .expect("present")
        .contains_key("retention.ms"));
    // brokers: one id, or "" for the cluster-wide default
    for name in ["1", ""] {
        let r = m
            .alter_configs(
                config_resource::BROKER,
                name,
                &[AlterConfigOp::Set("log.cleaner.threads".into(), "2".into())],
                false,
            )
            .expect("present");
        commit(&mut m, &r.records);
    }
    assert_eq!(
        m.image().broker_config(Some(1)).expect("present")["log.cleaner.threads"],
        "2"
    );
    assert_eq!(
        m.image().broker_config(None).expect("present")["log.cleaner.threads"],
        "2"
    );
    let code = |r: Result<ControllerResult<()>, ControllerError>| r.expect_err("refused").code();
    assert_eq!(
        code(m.alter_configs(config_resource::TOPIC, "nope", &[], false)),
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(
        code(m.alter_configs(config_resource::BROKER, "x", &[], false)),
        ErrorCode::InvalidRequest
    );
    // validate_only writes nothing; setting a key to its value writes nothing
    let set = [AlterConfigOp::Set("retention.ms".into(), "9".into())];
    assert!(m
        .alter_configs(config_resource::TOPIC, "t", &set, true)
        .expect("present")
        .records
        .is_empty());
    let same = [AlterConfigOp::Set(
        "cleanup.policy".into(),
        "compact".into(),
    )];
    assert!(m
        .alter_configs(config_resource::TOPIC, "t", &same, false)
        .expect("present")
        .records
        .is_empty());
}

// ---- sequences --------------------------------------------------------------------------

/// The invariants the machine promises, on the committed image.
fn check_invariants(m: &ControllerMachine, epochs: &mut BTreeMap<(Uuid, i32), i32>) {
    let img = m.image();
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for t in img.topics() {
        assert!(names.insert(t.name.clone()), "name {} twice", t.name);
        assert!(ids.insert(t.id), "id {} twice", t.id);
        for (&i, p) in &t.partitions {
            assert!(
                p.isr.iter().all(|r| p.replicas.contains(r)),
                "{} {i}: ISR ⊄ replicas {p:?}",
                t.name
            );
            assert!(!p.isr.is_empty(), "{} {i}: empty ISR", t.name);
            let in_replicas = |v: &Vec<i32>| v.iter().all(|r| p.replicas.contains(r));
            assert!(
                in_replicas(&p.adding_replicas) && in_replicas(&p.removing_replicas),
                "{p:?}"
            );
            let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
            assert_eq!(distinct.len(), p.replicas.len(), "{p:?}");
            if p.leader != NO_LEADER {
                assert!(
                    img.is_live(p.leader),
                    "{} {i}: leader {} not live",
                    t.name,
                    p.leader
                );
                assert!(
                    p.isr.contains(&p.leader),
                    "{} {i}: leader not in ISR {p:?}",
                    t.name
                );
            }
            let last = epochs.entry((t.id, i)).or_insert(p.leader_epoch);
            assert!(
                p.leader_epoch >= *last,
                "{} {i}: leader epoch went down",
                t.name
            );
            *last = p.leader_epoch;
        }
    }
}

fn random_sequence(seed: u64, unclean: bool) {
    let mut rng = SplitMix64::new(seed);
    let mut m = machine();
    m.config.unclean_leader_election_enable = unclean;
    let mut now = 0u64;
    let mut epochs = BTreeMap::new();
    let mut incarnation = 100u128;
    // brokers that keep heartbeating (the others go silent and are fenced)
    let mut alive: BTreeSet<i32> = BTreeSet::new();
    let mut seen = [0usize; 6];
    for step in 0..3_000 {
        now += rng.below(1_500) as u64;
        let records = match rng.below(12) {
            0 => {
                let id = 1 + rng.below(5) as i32;
                incarnation += 1;
                match m.register_broker(registration(id, incarnation), now, step) {
                    Ok(r) => {
                        alive.insert(id);
                        r.records
                    }
                    Err(e) => {
                        assert_eq!(e.code(), ErrorCode::DuplicateBrokerRegistration);
                        vec![]
                    }
                }
            }
            1..=3 => {
                let mut out = vec![];
                for &id in &alive {
                    let Some(b) = m.image().brokers.get(&id) else {
                        continue;
                    };
                    let req = BrokerHeartbeatRequest {
                        broker_id: id,
                        broker_epoch: b.epoch,
                        current_metadata_offset: i64::MAX,
                        want_fence: false,
                        want_shutdown: rng.below(20) == 0,
                    };
                    let r = m.heartbeat(req, now).expect("present");
                    if r.response.should_shut_down {
                        out.push(id);
                    }
                    commit(&mut m, &r.records);
                }
                for id in out {
                    alive.remove(&id);
                }
                vec![]
            }
            4 => {
                // a broker goes silent, or is decommissioned
                let ids: Vec<i32> = alive.iter().copied().collect();
                if ids.is_empty() {
                    vec![]
                } else {
                    let id = ids[rng.below(ids.len())];
                    alive.remove(&id);
                    if rng.below(3) == 0 {
                        m.unregister_broker(id).expect("registered").records
                    } else {
                        vec![]
                    }
                }
            }
            5 | 6 => m.tick(now).records,
            7 => {
                let t = counts(
                    &format!("t{}", rng.below(6)),
                    1 + rng.below(4) as i32,
                    1 + rng.below(3) as i16,
                );
                m.create_topics(&[t], false, &mut rng).records
            }
            8 => {
                m.delete_topics(&[TopicRef::Name(format!("t{}", rng.below(6)))])
                    .records
            }
            10 => {
                // a leader changes its ISR: some replicas in, some out, itself kept
                let parts: Vec<(Uuid, i32, PartitionImage)> = m
                    .image()
                    .topics()
                    .flat_map(|t| t.partitions.iter().map(|(&i, p)| (t.id, i, p.clone())))
                    .filter(|(_, _, p)| p.leader != NO_LEADER)
                    .collect();
                if parts.is_empty() {
                    vec![]
                } else {
                    let (topic_id, partition, p) = parts[rng.below(parts.len())].clone();
                    let mut new_isr = vec![p.leader];
                    new_isr.extend(
                        p.replicas
                            .iter()
                            .copied()
                            .filter(|&r| r != p.leader && rng.below(3) != 0),
                    );
                    let req = AlterPartitionRequest {
                        broker_id: p.leader,
                        broker_epoch: m.image().brokers[&p.leader].epoch,
                        topic_id,
                        partition,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        new_isr,
                    };
                    match m.alter_partition(&req) {
                        Ok(r) => {
                            // the reply is what the image says once the record commits
                            commit(&mut m, &r.records);
                            let now = &m
                                .image()
                                .topic_by_id(&topic_id)
                                .expect("present")
                                .partitions[&partition];
                            assert_eq!(
                                (now.leader, now.leader_epoch, now.partition_epoch, &now.isr),
                                (
                                    r.response.leader,
                                    r.response.leader_epoch,
                                    r.response.partition_epoch,
                                    &r.response.isr
                                )
                            );
                            vec![]
                        }
                        Err(e) => {
                            assert_eq!(e.code(), ErrorCode::IneligibleReplica, "{e}");
                            vec![]
                        }
                    }
                }
            }
            11 => {
                // a reassignment to 1-3 registered brokers, or a cancel
                let parts: Vec<(String, i32)> = m
                    .image()
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(|&i| (t.name.clone(), i)))
                    .collect();
                let brokers: Vec<i32> = m.image().brokers.keys().copied().collect();
                if parts.is_empty() || brokers.is_empty() {
                    vec![]
                } else {
                    let part = parts[rng.below(parts.len())].clone();
                    let target = (rng.below(4) != 0).then(|| {
                        let mut t: Vec<i32> = brokers
                            .iter()
                            .copied()
                            .filter(|_| rng.below(2) == 0)
                            .take(3)
                            .collect();
                        if t.is_empty() {
                            t.push(brokers[0]);
                        }
                        t
                    });
                    m.alter_partition_reassignments(&[(part, target)]).records
                }
            }
            _ => {
                let parts: Vec<(String, i32)> = m
                    .image()
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(|&i| (t.name.clone(), i)))
                    .collect();
                let kind = if rng.below(2) == 0 {
                    ElectionType::Preferred
                } else {
                    ElectionType::Unclean
                };
                m.elect_leaders(kind, &parts).records
            }
        };
        for r in &records {
            match r {
                MetadataRecord::TopicRecord(_) => seen[0] += 1,
                MetadataRecord::PartitionChangeRecord(c) if c.replicas.is_some() => seen[5] += 1,
                MetadataRecord::PartitionChangeRecord(c) if c.leader >= 0 => seen[1] += 1,
                MetadataRecord::PartitionChangeRecord(c) if c.leader == NO_LEADER => seen[2] += 1,
                MetadataRecord::BrokerRegistrationChangeRecord(c) if c.fenced == 1 => seen[3] += 1,
                MetadataRecord::RemoveTopicRecord(_) => seen[4] += 1,
                _ => {}
            }
        }
        commit(&mut m, &records);
        check_invariants(&m, &mut epochs);
    }
    // the sequence did something: topics created and deleted, brokers fenced, leaders
    // moved and lost
    assert!(seen.iter().all(|&n| n > 0), "seed {seed}: {seen:?}");
}

#[test]
fn random_sequences_keep_the_invariants() {
    for seed in 0..16 {
        random_sequence(seed, seed % 2 == 1);
    }
}

// ---- AlterPartition and reassignments ---------------------------------------------------

fn alter_isr(
    m: &mut ControllerMachine,
    name: &str,
    index: i32,
    isr: &[i32],
) -> Result<AlterPartitionReply, ErrorCode> {
    let t = topic(m, name);
    let p = &t.partitions[&index];
    let req = AlterPartitionRequest {
        broker_id: p.leader,
        broker_epoch: m.image().brokers[&p.leader].epoch,
        topic_id: t.id,
        partition: index,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.to_vec(),
    };
    let r = m.alter_partition(&req).map_err(|e| e.code())?;
    commit(m, &r.records);
    Ok(r.response)
}

#[test]
fn alter_partition_rules() {
    let mut m = cluster(3);
    create(&mut m, with_assignment("t", &[&[1, 2, 3]]), 1);
    // shrink, then grow back: partition epoch moves, leader epoch does not
    let r = alter_isr(&mut m, "t", 0, &[1, 2]).expect("present");
    assert_eq!(
        (r.leader, r.leader_epoch, r.partition_epoch, r.isr),
        (1, 0, 1, vec![1, 2])
    );
    let p = topic(&m, "t").partitions[&0].clone();
    assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
    // the reply says what the image now says
    let r = alter_isr(&mut m, "t", 0, &[1, 2, 3]).expect("present");
    assert_eq!(r.isr, topic(&m, "t").partitions[&0].isr);
    let t = topic(&m, "t");
    let base = AlterPartitionRequest {
        broker_id: 1,
        broker_epoch: m.image().brokers[&1].epoch,
        topic_id: t.id,
        partition: 0,
        leader_epoch: 0,
        partition_epoch: 2,
        new_isr: vec![1, 2],
    };
    let code = |m: &mut ControllerMachine, req: AlterPartitionRequest| {
        m.alter_partition(&req)
            .map(|_| ErrorCode::None)
            .unwrap_or_else(|e| e.code())
    };
    let cases = vec![
        (AlterPartitionRequest { ..base.clone() }, ErrorCode::None),
        (
            AlterPartitionRequest {
                partition_epoch: 1,
                ..base.clone()
            },
            ErrorCode::InvalidUpdateVersion,
        ),
        (
            AlterPartitionRequest {
                broker_id: 2,
                broker_epoch: m.image().brokers[&2].epoch,
                ..base.clone()
            },
            ErrorCode::NotLeaderOrFollower,
        ),
        (
            AlterPartitionRequest {
                broker_epoch: 12_345,
                ..base.clone()
            },
            ErrorCode::StaleBrokerEpoch,
        ),
        (
            AlterPartitionRequest {
                new_isr: vec![2, 3],
                ..base.clone()
            },
            ErrorCode::InvalidRequest,
        ),
        (
            AlterPartitionRequest {
                new_isr: vec![1, 4],
                ..base.clone()
            },
            ErrorCode::InvalidRequest,
        ),
        (
            AlterPartitionRequest {
                topic_id: Uuid::from_u128(9),
                ..base.clone()
            },
            ErrorCode::UnknownTopicId,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(code(&mut m, req.clone()), want, "{req:?}");
    }
    // a leader epoch from before the last election is fenced
    let mut c = PartitionChangeRecord::new(t.id, 0);
    c.leader = 1;
    commit(&mut m, &[c.into()]);
    assert_eq!(
        code(
            &mut m,
            AlterPartitionRequest {
                partition_epoch: 3,
                ..base.clone()
            }
        ),
        ErrorCode::FencedLeaderEpoch
    );
    // a fenced replica may not join the ISR
    alter_isr(&mut m, "t", 0, &[1, 2]).expect("present");
    heartbeat(&mut m, 1, TIMEOUT, false);
    heartbeat(&mut m, 2, TIMEOUT, false);
    let fenced = m.tick(TIMEOUT + 1);
    commit(&mut m, &fenced.records);
    assert!(!m.image().is_live(3));
    assert_eq!(
        alter_isr(&mut m, "t", 0, &[1, 2, 3]),
        Err(ErrorCode::IneligibleReplica)
    );
}

#[test]
fn reassignments() {
    let mut m = cluster(4);
    create(
        &mut m,
        with_assignment("t", &[&[1, 2, 3], &[1, 2, 3], &[1, 2, 3]]),
        1,
    );
    let r = m.alter_partition_reassignments(&[
        (("t".into(), 0), Some(vec![3, 2, 1])),
        (("t".into(), 1), Some(vec![2, 3])),
        (("t".into(), 2), Some(vec![2, 3, 4])),
        (("t".into(), 9), Some(vec![1])),
        (("t".into(), 0), Some(vec![1, 1])),
        (("t".into(), 0), Some(vec![1, 7])),
    ]);
    let codes: Vec<ErrorCode> = r
        .response
        .iter()
        .map(|(_, res)| res.as_ref().map_or_else(|e| e.code(), |_| ErrorCode::None))
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::None,
            ErrorCode::None,
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidReplicaAssignment,
            ErrorCode::InvalidReplicaAssignment,
        ]
    );
    commit(&mut m, &r.records);
    let t = topic(&m, "t");
    // a reordering completes at once; the leader stays
    let p0 = &t.partitions[&0];
    assert_eq!(
        (p0.replicas.clone(), p0.leader, p0.leader_epoch),
        (vec![3, 2, 1], 1, 0)
    );
    // a shrink completes at once; the removed leader is replaced, epochs bumped
    let p1 = &t.partitions[&1];
    assert_eq!(
        (
            p1.replicas.clone(),
            p1.isr.clone(),
            p1.leader,
            p1.leader_epoch
        ),
        (vec![2, 3], vec![2, 3], 2, 1)
    );
    // a move waits for the new replica: recorded, and listed
    let p2 = &t.partitions[&2];
    assert_eq!(
        (
            p2.replicas.clone(),
            p2.adding_replicas.clone(),
            p2.removing_replicas.clone()
        ),
        (vec![2, 3, 4, 1], vec![4], vec![1])
    );
    assert_eq!(p2.leader, 1);
    let listed = m.list_partition_reassignments();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].topic.as_str(), listed[0].partition), ("t", 2));
    // the new replica catches up: the leader adds it to the ISR, which completes the move
    let r = alter_isr(&mut m, "t", 2, &[1, 2, 3, 4]).expect("present");
    let p2 = topic(&m, "t").partitions[&2].clone();
    assert_eq!(
        (p2.replicas.clone(), p2.isr.clone()),
        (vec![2, 3, 4], vec![2, 3, 4])
    );
    assert!(p2.adding_replicas.is_empty() && p2.removing_replicas.is_empty());
    assert_eq!((p2.leader, r.leader, r.isr), (2, 2, vec![2, 3, 4]));
    assert!(m.list_partition_reassignments().is_empty());
    // cancel: nothing in progress, then a move cancelled back to where it was
    let r = m.alter_partition_reassignments(&[(("t".into(), 0), None)]);
    assert_eq!(
        r.response[0].1.clone().expect_err("refused").code(),
        ErrorCode::NoReassignmentInProgress
    );
    let r = m.alter_partition_reassignments(&[(("t".into(), 0), Some(vec![4, 2, 1]))]);
    commit(&mut m, &r.records);
    assert_eq!(topic(&m, "t").partitions[&0].replicas, vec![4, 2, 1, 3]);
    let r = m.alter_partition_reassignments(&[(("t".into(), 0), None)]);
    commit(&mut m, &r.records);
    let p0 = topic(&m, "t").partitions[&0].clone();
    assert_eq!(
        (p0.replicas, p0.adding_replicas, p0.removing_replicas),
        (vec![2, 1, 3], vec![], vec![])
    );
}

/// Metadata adopted from Kafka: partitions whose leader is no registered broker (Kafka's
/// brokers register again) or none at all get a leader from their ISR as soon as one of
/// it is unfenced, in a leader epoch past Kafka's.
#[test]
fn unfencing_elects_for_partitions_led_by_an_unregistered_broker() {
    let mut m = machine();
    let topic_id = Uuid::from_u128(0xada);
    let mut adopted: Vec<MetadataRecord> = vec![TopicRecord {
        name: "kafka".into(),
        topic_id,
    }
    .into()];
    for (index, leader) in [(0, 2), (1, NO_LEADER), (2, 3)] {
        adopted.push(
            PartitionRecord {
                partition_id: index,
                topic_id,
                replicas: vec![2, 1, 3],
                isr: vec![2, 1, 3],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader,
                leader_recovery_state: 0,
                leader_epoch: 4,
                partition_epoch: 6,
                directories: vec![],
                eligible_leader_replicas: None,
                last_known_elr: None,
            }
            .into(),
        );
    }
    commit(&mut m, &adopted);
    register(&mut m, 1, 0);
    let reply = heartbeat(&mut m, 1, 0, false);
    assert!(!reply.is_fenced);
    let t = m.image().topic("kafka").expect("adopted");
    for (index, p) in &t.partitions {
        assert_eq!(
            p.leader, 1,
            "partition {index}: the one live ISR member leads"
        );
        assert!(p.leader_epoch > 4, "partition {index}: {}", p.leader_epoch);
        assert_eq!(p.isr, vec![2, 1, 3], "partition {index}: the ISR kept");
    }
    // the others come back: the leaders stay (1 is live and in the ISR)
    register(&mut m, 2, 0);
    heartbeat(&mut m, 2, 0, false);
    let t = m.image().topic("kafka").expect("adopted");
    assert!(t.partitions.values().all(|p| p.leader == 1));
}

/// Adopted partitions committed while their brokers are unfenced already get leaders from
/// their ISR at once (and only those without an active leader).
#[test]
fn leaderless_partitions_get_leaders_from_live_isr_members() {
    let mut m = cluster(3);
    let topic_id = Uuid::from_u128(0xadb);
    let mut adopted: Vec<MetadataRecord> = vec![TopicRecord {
        name: "kafka".into(),
        topic_id,
    }
    .into()];
    for (index, leader, isr) in [
        (0, NO_LEADER, vec![3, 2]),
        (1, 1, vec![1, 2]),
        (2, 9, vec![9]),
    ] {
        adopted.push(
            PartitionRecord {
                partition_id: index,
                topic_id,
                replicas: vec![1, 2, 3],
                isr,
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader,
                leader_recovery_state: 0,
                leader_epoch: 4,
                partition_epoch: 6,
                directories: vec![],
                eligible_leader_replicas: None,
                last_known_elr: None,
            }
            .into(),
        );
    }
    commit(&mut m, &adopted);
    let r = m.elect_leaderless();
    assert_eq!(r.response, 2, "partition 1 keeps its live leader");
    commit(&mut m, &r.records);
    let t = m.image().topic("kafka").expect("adopted");
    assert_eq!(
        t.partitions[&0].leader, 2,
        "the first live ISR member in replica order"
    );
    assert_eq!(t.partitions[&0].leader_epoch, 5);
    assert_eq!(t.partitions[&1].leader, 1);
    assert_eq!(
        t.partitions[&2].leader, NO_LEADER,
        "no live ISR member: no leader rather than one that is gone"
    );
    assert!(
        m.elect_leaderless().records.is_empty(),
        "nothing more to do"
    );
}
