//! KIP-848 consumer groups (`group.protocol=consumer`): ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe through raw frames (epochs, revoke-before-assign, the request
//! checks, offsets under member epochs, the group type in ListGroups and DescribeGroups),
//! and librdkafka consumers with `group.protocol=consumer` (joins, a leave, a regex
//! subscription that picks up a new topic). Checked against Apache Kafka 4.3 with
//! `GROUPS_TEST_BOOTSTRAP` like the others (the broker then needs
//! `group.consumer.heartbeat.interval.ms=500`, `group.consumer.min.heartbeat.interval.ms=100`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;

use crate::support::Client;
use crate::wire::*;

const INVALID_REQUEST: i16 = 42;
const FENCED_MEMBER_EPOCH: i16 = 110;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const STALE_MEMBER_EPOCH: i16 = 113;
const INVALID_REGULAR_EXPRESSION: i16 = 128;

/// A raw consumer-protocol member: its id (client-made, KIP-1082), epoch and partitions.
struct Member {
    group: String,
    id: String,
    epoch: i32,
    topic_id: uuid::Uuid,
    owned: BTreeSet<i32>,
}

impl Member {
    fn new(group: &str, topic_id: uuid::Uuid) -> Member {
        Member {
            group: group.into(),
            id: uuid::Uuid::new_v4().to_string(),
            epoch: 0,
            topic_id,
            owned: BTreeSet::new(),
        }
    }

    fn request(&self) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(s(&self.id))
            .with_member_epoch(self.epoch)
            .with_instance_id(None)
            .with_rack_id(None)
            .with_rebalance_timeout_ms(-1)
            .with_subscribed_topic_names(None)
            .with_subscribed_topic_regex(None)
            .with_server_assignor(None)
            .with_topic_partitions(Some(vec![TopicPartitions::default()
                .with_topic_id(self.topic_id)
                .with_partitions(self.owned.iter().copied().collect())]))
    }

    async fn send(
        &mut self,
        c: &mut Client,
        req: ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        let r: ConsumerGroupHeartbeatResponse =
            c.call(ApiKey::ConsumerGroupHeartbeat, 1, &req).await;
        if r.error_code == NONE {
            self.epoch = r.member_epoch;
            if let Some(a) = &r.assignment {
                self.owned = a
                    .topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect();
            }
        }
        r
    }

    async fn join(&mut self, c: &mut Client, topic: &str) -> ConsumerGroupHeartbeatResponse {
        let req = self
            .request()
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![topic_name(topic)]))
            .with_topic_partitions(Some(Vec::new()));
        self.send(c, req).await
    }

    async fn beat(&mut self, c: &mut Client) -> ConsumerGroupHeartbeatResponse {
        let req = self.request();
        self.send(c, req).await
    }
}

async fn topic_id(c: &mut Client, topic: &str) -> uuid::Uuid {
    let r: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(topic_name(topic)))])),
        )
        .await;
    r.topics[0].topic_id
}

async fn consumer_describe(
    c: &mut Client,
    group: &str,
) -> consumer_group_describe_response::DescribedGroup {
    let r: ConsumerGroupDescribeResponse = c
        .call(
            ApiKey::ConsumerGroupDescribe,
            0,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]),
        )
        .await;
    r.groups.into_iter().next().expect("one group")
}

/// Heartbeats `m` (100 ms apart, at most 100 times) until `done` holds of it.
async fn beat_until(c: &mut Client, m: &mut Member, done: impl Fn(&Member) -> bool) {
    for _ in 0..100 {
        if done(m) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = m.beat(c).await;
        assert_eq!(r.error_code, NONE, "{r:?}");
    }
    panic!(
        "member {} never got there: epoch {}, owns {:?}",
        m.id, m.epoch, m.owned
    );
}

/// Two raw members share four partitions: the second is given a partition only after
/// the first has sent a heartbeat without it, epochs only grow and end equal, the group's
/// type and state are reported, and commits are checked against the member epoch. (Kafka
/// 4.3 computes assignments a moment after the epoch changes, Rafka at once: the test
/// heartbeats until each step is reached rather than counting heartbeats.)
#[tokio::test]
async fn partitions_move_only_after_their_owner_revokes_them() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("kip848");
    create_topic(&mut c, &topic, 4).await;
    let id = topic_id(&mut c, &topic).await;
    let group = unique("kip848");
    find_coordinator(&mut c, 3, &[&group]).await;

    let mut a = Member::new(&group, id);
    let r = a.join(&mut c, &topic).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(
        r.member_id.as_deref(),
        Some(a.id.as_str()),
        "the client's id"
    );
    assert!(r.member_epoch > 0 && r.heartbeat_interval_ms > 0, "{r:?}");
    beat_until(&mut c, &mut a, |m| m.owned.len() == 4).await;
    let first_epoch = a.epoch;

    let mut b = Member::new(&group, id);
    let r = b.join(&mut c, &topic).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert!(b.owned.is_empty(), "all four are still a's: {r:?}");
    // each round: a's heartbeat lists what it was last told to own (so a revocation is
    // acknowledged by its next heartbeat), then b's; b never gets what a last listed
    for round in 0.. {
        assert!(round < 100, "not shared: a {:?}, b {:?}", a.owned, b.owned);
        let done = a.owned.len() == 2 && b.owned.len() == 2 && a.epoch == b.epoch;
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listed = a.owned.clone();
        let r = a.beat(&mut c).await;
        assert_eq!(r.error_code, NONE, "{r:?}");
        let r = b.beat(&mut c).await;
        assert_eq!(r.error_code, NONE, "{r:?}");
        assert!(
            b.owned.is_disjoint(&listed),
            "b was given {:?} while a still listed {listed:?}",
            b.owned
        );
    }
    assert!(a.epoch > first_epoch);
    assert!(a.owned.is_disjoint(&b.owned));

    let d = consumer_describe(&mut c, &group).await;
    assert_eq!(d.error_code, NONE, "{d:?}");
    assert_eq!(
        (d.group_state.as_str(), d.group_epoch, d.assignment_epoch),
        ("Stable", a.epoch, a.epoch)
    );
    assert_eq!(d.assignor_name.as_str(), "uniform");
    assert_eq!(d.members.len(), 2);
    for m in &d.members {
        assert_eq!(m.member_epoch, a.epoch);
        assert_eq!(m.subscribed_topic_names, vec![topic_name(&topic)]);
        let n: usize = m
            .assignment
            .topic_partitions
            .iter()
            .map(|t| t.partitions.len())
            .sum();
        assert_eq!(n, 2);
        assert_eq!(m.assignment, m.target_assignment);
    }

    let listed = list_groups(&mut c, 5, None).await;
    let (protocol_type, state, group_type) = &listed[&group];
    assert_eq!(
        (protocol_type.as_str(), state.as_str(), group_type.as_str()),
        ("consumer", "Stable", "consumer")
    );
    let classic = describe_at(&mut c, 6, &group).await;
    assert_eq!(
        (classic.error_code, classic.group_state.as_str()),
        (GROUP_ID_NOT_FOUND, "Dead")
    );

    // commits at the member's epoch count, and (KIP-1251) at an older one for a partition
    // owned since; a newer epoch, or one before the partition was owned, is stale
    let mine = *a.owned.first().expect("a partition");
    for (epoch, want) in [
        (a.epoch + 1, STALE_MEMBER_EPOCH),
        (first_epoch - 1, STALE_MEMBER_EPOCH),
        (a.epoch - 1, NONE),
        (a.epoch, NONE),
    ] {
        let got = commit(&mut c, 9, &group, epoch, &a.id, &topic, &[(mine, 5)]).await;
        assert_eq!(
            got,
            vec![want],
            "a commit at epoch {epoch} (a is at {})",
            a.epoch
        );
    }
    assert_eq!(committed_offset(&mut c, &group, &topic, mine).await, 5);

    // a heartbeat from the future is fenced
    let req = a.request().with_member_epoch(a.epoch + 5);
    let r: ConsumerGroupHeartbeatResponse = c.call(ApiKey::ConsumerGroupHeartbeat, 1, &req).await;
    assert_eq!(r.error_code, FENCED_MEMBER_EPOCH);

    // a leaves: b gets everything at a later epoch
    let leave = a.request().with_member_epoch(-1);
    let r: ConsumerGroupHeartbeatResponse = c.call(ApiKey::ConsumerGroupHeartbeat, 1, &leave).await;
    assert_eq!((r.error_code, r.member_epoch), (NONE, -1), "{r:?}");
    let shared_epoch = b.epoch;
    beat_until(&mut c, &mut b, |m| m.owned.len() == 4).await;
    assert!(b.epoch > shared_epoch);
    t.shutdown().await;
}

/// The request checks of Kafka's broker, each with its error code.
#[tokio::test]
async fn bad_heartbeats_get_kafkas_error_codes() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("kip848-bad");
    create_topic(&mut c, &topic, 1).await;
    let id = topic_id(&mut c, &topic).await;
    let group = unique("kip848-bad");
    find_coordinator(&mut c, 3, &[&group]).await;
    let m = Member::new(&group, id);
    let join = m
        .request()
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![topic_name(&topic)]))
        .with_topic_partitions(Some(Vec::new()));
    let cases = [
        (
            "no rebalance timeout",
            join.clone().with_rebalance_timeout_ms(-1),
            INVALID_REQUEST,
        ),
        (
            "no member id",
            join.clone().with_member_id(s("")),
            INVALID_REQUEST,
        ),
        (
            "no subscription",
            join.clone().with_subscribed_topic_names(None),
            INVALID_REQUEST,
        ),
        (
            "epoch -3",
            join.clone().with_member_epoch(-3),
            INVALID_REQUEST,
        ),
        (
            "owned partitions on a join",
            m.request()
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic_name(&topic)])),
            INVALID_REQUEST,
        ),
        (
            "unknown assignor",
            join.clone().with_server_assignor(Some(s("sticky"))),
            UNSUPPORTED_ASSIGNOR,
        ),
        (
            "bad regex",
            join.clone()
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(s("(("))),
            INVALID_REGULAR_EXPRESSION,
        ),
        (
            "unknown member",
            join.clone().with_member_epoch(3),
            GROUP_ID_NOT_FOUND,
        ),
    ];
    for (what, req, want) in cases {
        let r: ConsumerGroupHeartbeatResponse =
            c.call(ApiKey::ConsumerGroupHeartbeat, 1, &req).await;
        assert_eq!(r.error_code, want, "{what}: {r:?}");
    }
    t.shutdown().await;
}

/// The group is kept in `__consumer_offsets` (Kafka's KIP-848 records): after a clean
/// restart the members carry on at their epochs with their partitions, without a
/// rebalance, and ConsumerGroupDescribe shows the same group.
#[tokio::test]
async fn a_consumer_group_survives_a_restart() {
    if external_broker() {
        return; // restarts the broker: in-process only
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_in(dir.path(), |_| {}).await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let topic = "kip848-durable";
    create_topic(&mut c, topic, 4).await;
    let id = topic_id(&mut c, topic).await;
    let group = "kip848-durable";
    let (mut a, mut b) = (Member::new(group, id), Member::new(group, id));
    a.join(&mut c, topic).await;
    beat_until(&mut c, &mut a, |m| m.owned.len() == 4).await;
    b.join(&mut c, topic).await;
    for _ in 0..100 {
        if a.owned.len() == 2 && b.owned.len() == 2 && a.epoch == b.epoch {
            break;
        }
        a.beat(&mut c).await;
        b.beat(&mut c).await;
    }
    assert_eq!((a.owned.len(), b.owned.len()), (2, 2));
    let before = consumer_describe(&mut c, group).await;
    drop(c);
    broker.shutdown().await.expect("shutdown");

    let broker = start_in(dir.path(), |_| {}).await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    find_coordinator(&mut c, 3, &[group]).await;
    for m in [&mut a, &mut b] {
        let (epoch, owned) = (m.epoch, m.owned.clone());
        let r = m.beat(&mut c).await;
        assert_eq!((r.error_code, r.member_epoch), (NONE, epoch), "{r:?}");
        assert_eq!(m.owned, owned);
    }
    let after = consumer_describe(&mut c, group).await;
    assert_eq!(
        (
            after.group_epoch,
            after.assignment_epoch,
            after.group_state.as_str()
        ),
        (before.group_epoch, before.assignment_epoch, "Stable")
    );
    assert_eq!(after.members.len(), 2);
    broker.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------- librdkafka

/// A librdkafka consumer with `group.protocol=consumer`.
fn consumer(bootstrap: &str, group: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "200")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer")
}

/// Reads until `want` values are seen (duplicates counted), within `secs`.
async fn read_until(
    consumers: &[&StreamConsumer],
    seen: &mut Vec<String>,
    want: &BTreeSet<String>,
    secs: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got: BTreeSet<String> = seen.iter().cloned().collect();
        if want.is_subset(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "read {} of {} in {secs} s",
            want.intersection(&got).count(),
            want.len()
        );
        for c in consumers {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
    }
}

/// Closes a consumer (its leave heartbeat), bounded: rdkafka closes in Drop.
async fn close(c: StreamConsumer) {
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || drop(c)),
    )
    .await
    .expect("closed in 30 s")
    .expect("close");
}

fn owned(c: &StreamConsumer) -> usize {
    c.assignment().map(|a| a.count()).unwrap_or(0)
}

/// librdkafka's KIP-848 consumers: one reads everything; a second and a third join and
/// the six partitions end up two each; one closes and the others take its partitions;
/// every record is read, and with commits between no record is read twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_consumers_share_a_topic_with_the_consumer_protocol() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("kip848-rd");
    create_topic(&mut c, &topic, 6).await;
    let group = unique("kip848-rd");
    let batch = |tag: &str| -> Vec<String> { (0..5).map(|i| format!("{tag}-{i}")).collect() };
    let mut want = BTreeSet::new();
    for p in 0..6 {
        let values = batch(&format!("a-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    let one = consumer(&t.bootstrap(), &group);
    one.subscribe(&[&topic]).expect("subscribe");
    let mut seen = Vec::new();
    read_until(&[&one], &mut seen, &want, 60).await;
    assert_eq!(owned(&one), 6);

    let two = consumer(&t.bootstrap(), &group);
    two.subscribe(&[&topic]).expect("subscribe");
    let three = consumer(&t.bootstrap(), &group);
    three.subscribe(&[&topic]).expect("subscribe");
    let all = [&one, &two, &three];
    let deadline = Instant::now() + Duration::from_secs(60);
    while all.iter().map(|c| owned(c)).collect::<Vec<_>>() != vec![2, 2, 2] {
        assert!(
            Instant::now() < deadline,
            "not balanced: {:?}",
            all.iter().map(|c| owned(c)).collect::<Vec<_>>()
        );
        for c in all {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
    }
    for p in 0..6 {
        let values = batch(&format!("b-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    read_until(&all, &mut seen, &want, 60).await;

    // one closes (LeaveGroup through the heartbeat): the others take its two
    close(one).await;
    let rest = [&two, &three];
    let deadline = Instant::now() + Duration::from_secs(60);
    while rest.iter().map(|c| owned(c)).sum::<usize>() != 6 {
        assert!(
            Instant::now() < deadline,
            "the leaver's partitions were not taken over"
        );
        for c in rest {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
    }
    for p in 0..6 {
        let values = batch(&format!("c-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    read_until(&rest, &mut seen, &want, 60).await;
    let got: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(got, want, "every record read");
    assert_eq!(seen.len(), want.len(), "no record read twice");
    // closed while the broker is up (a consumer closing without it waits for it)
    for c in [two, three] {
        close(c).await;
    }
    t.shutdown().await;
}

/// A regex subscription (server-side, RE2 syntax) picks up a topic created after the
/// consumer joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_subscription_picks_up_a_new_topic() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let prefix = unique("kip848re");
    let first = format!("{prefix}-one");
    create_topic(&mut c, &first, 1).await;
    produce(&mut c, &first, 0, &["r1".to_string()]).await;
    let group = unique("kip848re");
    let rd = consumer(&t.bootstrap(), &group);
    rd.subscribe(&[&format!("^{prefix}-.*")])
        .expect("subscribe");
    let mut seen = Vec::new();
    read_until(&[&rd], &mut seen, &BTreeSet::from(["r1".to_string()]), 60).await;

    let second = format!("{prefix}-two");
    create_topic(&mut c, &second, 2).await;
    produce(&mut c, &second, 1, &["r2".to_string()]).await;
    let want = BTreeSet::from(["r1".to_string(), "r2".to_string()]);
    read_until(&[&rd], &mut seen, &want, 60).await;
    assert_eq!(owned(&rd), 3);
    close(rd).await;
    t.shutdown().await;
}

/// KIP-848's online migration with librdkafka: a classic consumer (cooperative-sticky)
/// reads a topic; a `group.protocol=consumer` one joins the same group, which becomes a
/// consumer group with the classic member still in it, and the two share the partitions;
/// the new one leaves and the classic one owns everything again. Every record read once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_group_upgrades_online_and_downgrades_back() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("kip848-mig");
    create_topic(&mut c, &topic, 4).await;
    let group = unique("kip848-mig");
    let classic: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", t.bootstrap())
        .set("group.id", &group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "200")
        .create()
        .expect("classic consumer");
    classic.subscribe(&[&topic]).expect("subscribe");
    let mut want = BTreeSet::new();
    let mut seen = Vec::new();
    let batch = |tag: &str| -> Vec<String> { (0..5).map(|i| format!("{tag}-{i}")).collect() };
    for p in 0..4 {
        let values = batch(&format!("a-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    read_until(&[&classic], &mut seen, &want, 60).await;
    assert_eq!(owned(&classic), 4);

    let modern = consumer(&t.bootstrap(), &group);
    modern.subscribe(&[&topic]).expect("subscribe");
    let both = [&classic, &modern];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(owned(&classic) >= 1 && owned(&modern) >= 1 && owned(&classic) + owned(&modern) == 4) {
        assert!(
            Instant::now() < deadline,
            "not shared: classic {}, consumer {}",
            owned(&classic),
            owned(&modern)
        );
        for c in both {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
    }
    let listed = list_groups(&mut c, 5, None).await;
    assert_eq!(
        listed[&group].2, "consumer",
        "upgraded online: {:?}",
        listed[&group]
    );
    for p in 0..4 {
        let values = batch(&format!("b-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    read_until(&both, &mut seen, &want, 60).await;

    close(modern).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while owned(&classic) != 4 {
        assert!(
            Instant::now() < deadline,
            "the classic member did not take everything back"
        );
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), classic.recv()).await {
            seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    let listed = list_groups(&mut c, 5, None).await;
    assert_eq!(
        listed[&group].2, "classic",
        "downgraded: {:?}",
        listed[&group]
    );
    for p in 0..4 {
        let values = batch(&format!("c-p{p}"));
        produce(&mut c, &topic, p, &values).await;
        want.extend(values);
    }
    read_until(&[&classic], &mut seen, &want, 60).await;
    let got: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(got, want, "every record read");
    close(classic).await;
    t.shutdown().await;
}
