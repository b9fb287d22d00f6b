//! Replication in a three-node in-process cluster, through librdkafka: followers copy the
//! leader's log byte for byte, acks=all waits for the in-sync replicas and
//! `min.insync.replicas` is enforced, and a leader killed while an idempotent producer
//! writes loses no acknowledged record, duplicates none and reorders none.

mod support;

use support::eventually;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rafka::{ClusterBuilder, ClusterHandle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "replicated";

async fn start(dir: &Path) -> ClusterHandle {
    start_with(dir, 0).await
}

/// Three combined nodes and `brokers` broker-only ones, quick failure detection; returns
/// once every broker sees every other registered.
async fn start_with(dir: &Path, brokers: usize) -> ClusterHandle {
    let cluster = ClusterBuilder::new(3, dir)
        .brokers(brokers)
        .configure(|_, c| {
            c.cluster.broker_session_timeout_ms = 3_000;
            c.cluster.broker_heartbeat_interval_ms = 300;
            c.cluster.replica_lag_time_max_ms = 3_000;
            c.cluster.replica_fetch_backoff_ms = 100;
        })
        .start()
        .await
        .expect("cluster starts");
    let ready = eventually(Duration::from_secs(30), || {
        cluster.ids().iter().all(|&id| {
            cluster
                .node(id)
                .is_some_and(|h| h.broker().metadata().brokers.len() == 3 + brokers)
        })
    })
    .await;
    assert!(ready, "every broker registered");
    cluster
}

async fn create_topic(bootstrap: &str, partitions: i32, min_isr: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let topic = NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(3))
        .set("min.insync.replicas", min_isr);
    for r in admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .expect("create_topics answered")
    {
        r.expect("topic created");
    }
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .set("retry.backoff.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("producer")
}

/// Sends `count` records per partition (`p<partition>-<n>`), one at a time per partition
/// in rounds; returns what was acknowledged, per partition in send order.
async fn produce(
    producer: &FutureProducer,
    partitions: i32,
    from: usize,
    count: usize,
) -> BTreeMap<i32, Vec<String>> {
    let mut acked: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for n in from..from + count {
        let sends: Vec<_> = (0..partitions)
            .map(|p| {
                let value = format!("p{p}-{n}");
                let fut = producer
                    .send_result(
                        FutureRecord::<(), _>::to(TOPIC)
                            .partition(p)
                            .payload(&value),
                    )
                    .ok();
                (p, value, fut)
            })
            .collect();
        for (p, value, fut) in sends {
            if let Some(fut) = fut {
                if matches!(fut.await, Ok(Ok(_))) {
                    acked.entry(p).or_default().push(value);
                }
            }
        }
    }
    acked
}

/// Every record of `partition` from the start, read through `bootstrap` (values).
fn read_all(bootstrap: &str, partition: i32, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "replication-checker")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, partition, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    // anything past what was expected would be a duplicate: give it a moment to show
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// The bytes of every `.log` segment of `partition` in a node's data dir, in order.
fn log_bytes(dir: &Path, node: i32, partition: i32) -> Vec<u8> {
    support::log_bytes(
        &dir.join(format!("node-{node}"))
            .join(format!("{TOPIC}-{partition}")),
    )
}

/// (log end, high watermark, ISR) of `partition` on every live node.
fn states(cluster: &ClusterHandle, partition: i32) -> BTreeMap<i32, (i64, i64, Vec<i32>)> {
    cluster
        .ids()
        .into_iter()
        .filter_map(|id| {
            let b = cluster.node(id)?.broker();
            let t = b.topic(TOPIC)?;
            let p = t.partition(partition)?;
            let mut isr = p.replica_state().isr;
            isr.sort();
            Some((id, (p.log_end_offset(), p.high_watermark(), isr)))
        })
        .collect()
}

fn leader_of(cluster: &ClusterHandle, partition: i32) -> Option<i32> {
    cluster.ids().into_iter().find(|&id| {
        cluster
            .node(id)
            .and_then(|h| h.broker().topic(TOPIC))
            .and_then(|t| t.partition(partition).map(|p| p.is_leader()))
            .unwrap_or(false)
    })
}

fn check_exactly_once_in_order(
    bootstrap: &str,
    acked: &BTreeMap<i32, Vec<String>>,
    partitions: i32,
) {
    for p in 0..partitions {
        let want = acked.get(&p).cloned().unwrap_or_default();
        let got = read_all(bootstrap, p, want.len());
        // every acknowledged record once, in order; unacknowledged ones (a send that
        // timed out) may be there too, but nothing twice
        let mut seen = std::collections::BTreeSet::new();
        for v in &got {
            assert!(seen.insert(v.clone()), "partition {p}: {v} read twice");
        }
        let positions: Vec<usize> = want
            .iter()
            .map(|v| {
                got.iter()
                    .position(|g| g == v)
                    .unwrap_or_else(|| panic!("partition {p}: acknowledged {v} lost"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: acknowledged records reordered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_copy_the_log_and_a_killed_leader_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = start(dir.path()).await;
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap, 2, "2").await;
    let producer = producer(&bootstrap);
    let mut acked = produce(&producer, 2, 0, 50).await;
    assert_eq!(
        acked.values().map(Vec::len).sum::<usize>(),
        100,
        "all acked"
    );

    // every replica has the whole log, byte for byte, and the high watermark with it
    for p in 0..2 {
        let settled = eventually(Duration::from_secs(20), || {
            let s = states(&cluster, p);
            s.len() == 3
                && s.values()
                    .all(|(leo, hw, isr)| *leo == 50 && *hw == 50 && isr == &vec![1, 2, 3])
        })
        .await;
        assert!(
            settled,
            "partition {p} replicated: {:?}",
            states(&cluster, p)
        );
        let leader = leader_of(&cluster, p).expect("a leader");
        let reference = log_bytes(dir.path(), leader, p);
        assert!(!reference.is_empty());
        for id in cluster.ids() {
            assert_eq!(
                log_bytes(dir.path(), id, p),
                reference,
                "node {id}'s copy of partition {p} differs from leader {leader}'s"
            );
        }
    }

    // kill partition 0's leader while producing: the ISR shrinks, a follower leads, and
    // nothing acknowledged is lost
    let victim = leader_of(&cluster, 0).expect("a leader");
    let killer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cluster.kill(victim);
    };
    let (more, ()) = tokio::join!(produce(&producer, 2, 50, 40), killer);
    for (p, vs) in more {
        acked.entry(p).or_default().extend(vs);
    }
    let shrunk = eventually(Duration::from_secs(20), || {
        let s = states(&cluster, 0);
        s.values().all(|(_, _, isr)| !isr.contains(&victim))
    })
    .await;
    assert!(
        shrunk,
        "the ISR lost the dead leader: {:?}",
        states(&cluster, 0)
    );
    let bootstrap_live = cluster.bootstrap_servers();
    check_exactly_once_in_order(&bootstrap_live, &acked, 2);

    // the old leader comes back, truncates where it diverged, catches up and rejoins
    cluster.restart(victim).await.expect("restart");
    let rejoined = eventually(Duration::from_secs(30), || {
        let s = states(&cluster, 0);
        s.len() == 3 && s.values().all(|(_, _, isr)| isr == &vec![1, 2, 3])
    })
    .await;
    assert!(
        rejoined,
        "the restarted broker rejoined the ISR: {:?}",
        states(&cluster, 0)
    );
    let more = produce(&producer, 2, 90, 10).await;
    for (p, vs) in more {
        acked.entry(p).or_default().extend(vs);
    }
    for p in 0..2 {
        let same = eventually(Duration::from_secs(20), || {
            let s = states(&cluster, p);
            let ends: std::collections::BTreeSet<i64> = s.values().map(|v| v.0).collect();
            s.len() == 3 && ends.len() == 1
        })
        .await;
        assert!(same, "partition {p} converged: {:?}", states(&cluster, p));
        let leader = leader_of(&cluster, p).expect("a leader");
        let reference = log_bytes(dir.path(), leader, p);
        for id in cluster.ids() {
            assert_eq!(
                log_bytes(dir.path(), id, p),
                reference,
                "after the restart, node {id}'s partition {p} differs from leader {leader}'s"
            );
        }
    }
    check_exactly_once_in_order(&cluster.bootstrap_servers(), &acked, 2);
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_is_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = start(dir.path()).await;
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap, 1, "3").await;
    let acked = produce(&producer(&bootstrap), 1, 0, 5).await;
    assert_eq!(acked.get(&0).map(Vec::len), Some(5));
    // one follower gone: the ISR shrinks to 2 < min.insync.replicas
    let leader = leader_of(&cluster, 0).expect("leader");
    let follower = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    cluster.kill(follower);
    let shrunk = eventually(Duration::from_secs(20), || {
        states(&cluster, 0)
            .get(&leader)
            .is_some_and(|(_, _, isr)| isr.len() == 2)
    })
    .await;
    assert!(shrunk, "ISR shrank: {:?}", states(&cluster, 0));
    let strict: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    let err = strict
        .send(
            FutureRecord::<(), _>::to(TOPIC)
                .partition(0)
                .payload("refused"),
            Duration::from_secs(10),
        )
        .await
        .expect_err("refused");
    assert!(
        err.0.to_string().contains("NotEnoughReplicas")
            || err
                .0
                .to_string()
                .contains("Broker: Not enough in-sync replicas"),
        "NOT_ENOUGH_REPLICAS: {}",
        err.0
    );
    // acks=1 does not care
    let one: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("acks", "1")
        .create()
        .expect("producer");
    one.send(
        FutureRecord::<(), _>::to(TOPIC)
            .partition(0)
            .payload("fine"),
        Duration::from_secs(10),
    )
    .await
    .expect("acks=1 is answered");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_the_coordinators_death() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = start(dir.path()).await;
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap, 1, "2").await;
    produce(&producer(&bootstrap), 1, 0, 10).await;
    let group = "survivors";
    // the first commit creates __consumer_offsets: until its partitions have leaders and
    // the coordinator has loaded, a commit may be answered with a retriable error, which
    // a client retries (as the Java consumer does)
    let committed = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()
                    .expect("consumer");
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(TOPIC, 0, Offset::Offset(7))
                    .expect("tpl");
                match consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
                    Ok(()) => return Ok(()),
                    Err(e) if Instant::now() > deadline => return Err(e.to_string()),
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        }
    })
    .await
    .expect("join");
    committed.expect("committed");
    // the coordinator: the leader of the group's __consumer_offsets partition
    let coordinator = cluster
        .ids()
        .into_iter()
        .find(|&id| {
            cluster
                .node(id)
                .and_then(|h| h.broker().groups_if_started())
                .is_some_and(|g| g.partition_of(group).is_some_and(|p| p.is_leader()))
        })
        .expect("a coordinator");
    cluster.kill(coordinator);
    let fetched = tokio::task::spawn_blocking({
        let bootstrap = cluster.bootstrap_servers();
        move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .set("group.id", group)
                    .create()
                    .expect("consumer");
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(TOPIC, 0);
                match consumer.committed_offsets(tpl, Duration::from_secs(5)) {
                    Ok(c) => {
                        let offset = c.find_partition(TOPIC, 0).map(|e| e.offset());
                        if offset == Some(Offset::Offset(7)) || Instant::now() > deadline {
                            return offset;
                        }
                    }
                    Err(_) if Instant::now() < deadline => {}
                    Err(e) => panic!("no committed offsets: {e}"),
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    })
    .await
    .expect("fetch");
    assert_eq!(
        fetched,
        Some(Offset::Offset(7)),
        "the committed offset survived node {coordinator}'s death"
    );
    cluster.shutdown().await;
}

/// A KIP-848 group (librdkafka, `group.protocol=consumer`) outlives its coordinator: its
/// records are replicated with `__consumer_offsets`, so the node that takes over the
/// group's partition has it at once (same members, same epochs), and the consumer goes
/// on reading there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_survives_the_coordinators_death() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = start(dir.path()).await;
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap, 2, "2").await;
    produce(&producer(&bootstrap), 2, 0, 5).await;
    let group = "kip848-survivors";
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // the consumer polls on its own thread and reports how many records it has read
    let reader = std::thread::spawn({
        let (bootstrap, stop) = (bootstrap.clone(), std::sync::Arc::clone(&stop));
        move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", group)
                .set("group.protocol", "consumer")
                .set("auto.offset.reset", "earliest")
                .create()
                .expect("consumer");
            consumer.subscribe(&[TOPIC]).expect("subscribe");
            let mut read = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    read.insert(
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    );
                    let _ = tx.send(read.len());
                }
            }
        }
    });
    let wait_read = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = 0;
        while got < n {
            assert!(Instant::now() < deadline, "read {got} of {n} records");
            if let Ok(k) = rx.recv_timeout(Duration::from_millis(200)) {
                got = k;
            }
        }
    };
    tokio::task::block_in_place(|| wait_read(10));
    let coordinator_of = |cluster: &ClusterHandle| {
        cluster.ids().into_iter().find(|&id| {
            cluster
                .node(id)
                .and_then(|h| h.broker().groups_if_started())
                .is_some_and(|g| g.partition_of(group).is_some_and(|p| p.is_leader()))
        })
    };
    let snapshot = |cluster: &ClusterHandle, id: i32| {
        let g = cluster
            .node(id)
            .and_then(|h| h.broker().groups_if_started())
            .and_then(|g| g.consumer_group(group).ok().flatten())?;
        let members: Vec<(String, i32)> = g
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.epoch))
            .collect();
        Some((g.group_epoch, g.assignment_epoch, members))
    };
    // a second member comes and goes, so the epochs are past what a new group would have
    tokio::task::block_in_place(|| {
        let second: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", group)
            .set("group.protocol", "consumer")
            .create()
            .expect("consumer");
        second.subscribe(&[TOPIC]).expect("subscribe");
        let deadline = Instant::now() + Duration::from_secs(60);
        while second.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
            assert!(
                Instant::now() < deadline,
                "the second member got no partition"
            );
            let _ = second.poll(Duration::from_millis(100));
        }
    });
    let coordinator = coordinator_of(&cluster).expect("a coordinator");
    let mut before = None;
    let settled = eventually(Duration::from_secs(60), || {
        before = snapshot(&cluster, coordinator);
        before
            .as_ref()
            .is_some_and(|(epoch, _, ms)| *epoch >= 3 && ms.len() == 1 && ms[0].1 == *epoch)
    })
    .await;
    assert!(
        settled,
        "the group did not settle after the second member left: {before:?}"
    );
    let before = before.expect("the group");
    cluster.kill(coordinator);

    let mut taken_over = None;
    let found = eventually(Duration::from_secs(30), || {
        taken_over = coordinator_of(&cluster).and_then(|id| snapshot(&cluster, id));
        taken_over.is_some()
    })
    .await;
    assert!(found, "no node took the group over");
    assert_eq!(
        taken_over,
        Some(before),
        "the new coordinator loaded the same group"
    );

    produce(&producer(&cluster.bootstrap_servers()), 2, 5, 5).await;
    tokio::task::block_in_place(|| wait_read(20));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::task::spawn_blocking(move || reader.join().expect("reader"))
        .await
        .expect("join");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_names_the_leader_and_fetch_checks_the_epoch() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use support::Client;

    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = start(dir.path()).await;
    create_topic(&cluster.bootstrap_servers(), 1, "1").await;
    let settled = eventually(Duration::from_secs(20), || leader_of(&cluster, 0).is_some()).await;
    assert!(settled);
    let leader = leader_of(&cluster, 0).expect("leader");
    let epoch = cluster
        .node(leader)
        .and_then(|h| h.broker().topic(TOPIC))
        .and_then(|t| t.partition(0).map(|p| p.leader_epoch()))
        .expect("epoch");
    let follower = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("follower");
    let leader_addr = cluster.node(leader).expect("leader").kafka_addr();
    let mut c = Client::connect(cluster.node(follower).expect("node").kafka_addr()).await;
    let topic = TopicName(StrBytes::from_static_str(TOPIC));

    // Produce v11 to the follower: NOT_LEADER_OR_FOLLOWER, with the leader and its endpoint
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic.clone())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(support::batch(&[(None, "x")])))])]);
    let resp: ProduceResponse = c.call(ApiKey::Produce, 11, &produce).await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 6, "NOT_LEADER_OR_FOLLOWER");
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (leader, epoch)
    );
    assert_eq!(resp.node_endpoints.len(), 1);
    assert_eq!(resp.node_endpoints[0].node_id.0, leader);
    assert_eq!(
        resp.node_endpoints[0].port,
        i32::from(leader_addr.port()),
        "the leader's endpoint"
    );

    // Fetch v12 (topics by name) to the follower: the same hint
    let fetch = |current_epoch: i32| {
        FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic.clone())
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(current_epoch)
                    .with_partition_max_bytes(1 << 20)])])
    };
    let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch(epoch)).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 6);
    assert_eq!(p.current_leader.leader_id.0, leader);

    // on the leader: an old epoch is fenced, a future one unknown
    let mut l = Client::connect(leader_addr).await;
    let resp: FetchResponse = l.call(ApiKey::Fetch, 12, &fetch(epoch + 1)).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 75,
        "UNKNOWN_LEADER_EPOCH"
    );
    if epoch > 0 {
        let resp: FetchResponse = l.call(ApiKey::Fetch, 12, &fetch(epoch - 1)).await;
        assert_eq!(
            resp.responses[0].partitions[0].error_code, 74,
            "FENCED_LEADER_EPOCH"
        );
    }
    let resp: FetchResponse = l.call(ApiKey::Fetch, 12, &fetch(epoch)).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassignment_copies_the_data_then_drops_the_old_replicas() {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{
        AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = start_with(dir.path(), 1).await;
    let bootstrap = cluster.bootstrap_servers();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2]]));
    for r in admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .expect("answered")
    {
        r.expect("created");
    }
    let acked = produce(&producer(&bootstrap), 1, 0, 20).await;
    assert_eq!(acked.get(&0).map(Vec::len), Some(20));

    let mut c = support::Client::connect(cluster.node(1).expect("node 1").kafka_addr()).await;
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(Some(vec![BrokerId(3), BrokerId(4)]))])]);
    let resp: AlterPartitionReassignmentsResponse =
        c.call(ApiKey::AlterPartitionReassignments, 0, &req).await;
    assert_eq!(resp.error_code, 0, "{resp:?}");
    assert_eq!(resp.responses[0].partitions[0].error_code, 0, "{resp:?}");

    // the new replicas copy the log, join the ISR, and the old ones go
    let moved = eventually(Duration::from_secs(30), || {
        let s = states(&cluster, 0);
        s.keys().copied().collect::<Vec<_>>() == vec![3, 4]
            && s.values()
                .all(|(leo, _, isr)| *leo == 20 && isr == &vec![3, 4])
    })
    .await;
    assert!(moved, "moved to 3 and 4: {:?}", states(&cluster, 0));
    assert_eq!(log_bytes(dir.path(), 3, 0), log_bytes(dir.path(), 4, 0));
    let gone = eventually(Duration::from_secs(10), || {
        !dir.path()
            .join("node-1")
            .join(format!("{TOPIC}-0"))
            .exists()
            && !dir
                .path()
                .join("node-2")
                .join(format!("{TOPIC}-0"))
                .exists()
    })
    .await;
    assert!(gone, "the old replicas' logs were deleted");
    let got = read_all(&bootstrap, 0, 20);
    assert_eq!(
        got, acked[&0],
        "every record, in order, from the new replicas"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_record_is_on_the_disk_of_every_in_sync_replica() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = start(dir.path()).await;
    let bootstrap = cluster.bootstrap_servers();
    create_topic(&bootstrap, 1, "2").await;
    let producer = producer(&bootstrap);
    for n in 0..30 {
        let value = format!("durable-{n}");
        let offset = producer
            .send(
                FutureRecord::<(), _>::to(TOPIC)
                    .partition(0)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{value} not acknowledged: {e}"))
            .offset;
        // at the moment of the acknowledgement: fsynced on the leader and on every
        // follower the ISR counted (each fsyncs before the fetch that reports it)
        let leader = leader_of(&cluster, 0).expect("leader");
        let isr = states(&cluster, 0)
            .get(&leader)
            .map(|s| s.2.clone())
            .expect("leader state");
        assert_eq!(isr.len(), 3, "a full ISR");
        for id in isr {
            let durable = cluster
                .node(id)
                .and_then(|h| h.broker().topic(TOPIC))
                .and_then(|t| t.partition(0).map(|p| p.durable_offset()))
                .expect("hosted");
            assert!(
                durable > offset,
                "record {n} at {offset} acknowledged while node {id} had only {durable} on disk"
            );
        }
    }
    cluster.shutdown().await;
}
