//! `rafka groups list | describe` and `rafka cluster` (issue #19), run as the real binary
//! against a broker in this process: a consumer group with a live member and committed
//! offsets, a group with offsets and no member, a group that does not exist, and the
//! cluster's id, broker and controller. Output values are checked cell by cell.

mod support;

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use support::start_broker;

use support::run::{rafka, Run, COMMAND_DEADLINE};

async fn ok(args: &[&str], stdin: &[u8]) -> Run {
    let run = rafka(args, stdin).await;
    assert_eq!(run.code, 0, "rafka {args:?}: {run:?}");
    run
}

/// The table rows of `describe` output for `group`, split on whitespace (no cell holds
/// a space).
fn rows<'a>(stdout: &'a str, group: &str) -> Vec<Vec<&'a str>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.first() == Some(&group) && cells.len() == 9)
        .collect()
}

/// A member of `group` subscribed to `topic` that has read `expect` records, then
/// committed `commits` (partition, offset). It stays in the group (librdkafka heartbeats
/// on its own thread) until dropped.
fn join_and_commit(
    bootstrap: &str,
    group: &str,
    topic: &str,
    expect: usize,
    commits: &[(i32, i64)],
) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", "member-one")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    let mut seen = 0;
    while seen < expect {
        assert!(
            started.elapsed() < COMMAND_DEADLINE,
            "read {seen} of {expect}"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.expect("record");
            seen += 1;
        }
    }
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in commits {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .expect("offset");
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    consumer
}

/// Commits `commits` for `group` without joining it (assign, not subscribe), as a tool
/// that resets offsets does: the group is left with offsets and no member.
fn commit_without_joining(bootstrap: &str, group: &str, topic: &str, commits: &[(i32, i64)]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in commits {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .expect("offset");
    }
    consumer.assign(&tpl).expect("assign");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_list_and_describe_show_offsets_lag_and_members() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("orders", 2, 1, Default::default(), false)
        .expect("topic");
    broker
        .broker()
        .create_topic("audit", 1, 1, Default::default(), false)
        .expect("topic");
    let b = broker.kafka_addr().to_string();
    let ten: String = (0..10).map(|i| format!("order-{i}\n")).collect();
    ok(
        &["produce", "-b", &b, "-t", "orders", "-p", "0"],
        ten.as_bytes(),
    )
    .await;
    ok(
        &["produce", "-b", &b, "-t", "orders", "-p", "1"],
        b"a\nb\nc\nd\n",
    )
    .await;
    ok(&["produce", "-b", &b, "-t", "audit"], b"x\ny\nz\n").await;

    let bootstrap = b.clone();
    let member = tokio::task::spawn_blocking(move || {
        join_and_commit(&bootstrap, "billing", "orders", 14, &[(0, 7), (1, 4)])
    })
    .await
    .expect("member");
    let bootstrap = b.clone();
    tokio::task::spawn_blocking(move || {
        commit_without_joining(&bootstrap, "reports", "audit", &[(0, 1)])
    })
    .await
    .expect("reports");

    // list: every group, sorted, with its state and protocol type
    let list = ok(&["groups", "list", "-b", &b], b"").await;
    let lines: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["GROUP", "STATE", "PROTOCOL-TYPE"], "{list:?}");
    assert_eq!(lines[1], ["billing", "Stable", "consumer"], "{list:?}");
    // a group that only commits offsets has no protocol type
    assert_eq!(lines[2], ["reports", "Empty"], "{list:?}");
    assert_eq!(lines.len(), 3, "{list:?}");

    // describe a live group: per partition the committed offset, the log end offset,
    // the lag, and the member that owns it
    let described = ok(&["groups", "describe", "-b", &b, "billing"], b"").await;
    let out = &described.stdout;
    assert!(
        out.starts_with(
            "Group: billing\tState: Stable\tProtocolType: consumer\tProtocol: range\tMembers: 1\n"
        ),
        "{described:?}"
    );
    assert!(
        out.contains(
            "\nGROUP    TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID"
        ),
        "{described:?}"
    );
    let table = rows(out, "billing");
    assert_eq!(table.len(), 2, "{described:?}");
    assert_eq!(table[0][..6], ["billing", "orders", "0", "7", "10", "3"]);
    assert_eq!(table[1][..6], ["billing", "orders", "1", "4", "4", "0"]);
    for row in &table {
        assert!(row[6].starts_with("member-one-"), "member id: {row:?}");
        assert_eq!(row[7], "/127.0.0.1", "{row:?}");
        assert_eq!(row[8], "member-one", "{row:?}");
    }
    assert_eq!(table[0][6], table[1][6], "one member owns both");
    // the group's offsets in topic audit: none, so no row for it
    assert!(!out.contains("audit"), "{described:?}");

    // a group with offsets and no member: every topic is searched for its offsets
    let empty = ok(&["groups", "describe", "-b", &b, "reports"], b"").await;
    assert!(
        empty
            .stdout
            .starts_with("Group: reports\tState: Empty\tProtocolType: \tProtocol: \tMembers: 0\n"),
        "{empty:?}"
    );
    assert!(
        empty
            .stdout
            .contains("Consumer group 'reports' has no active members.\n"),
        "{empty:?}"
    );
    assert_eq!(
        rows(&empty.stdout, "reports"),
        [["reports", "audit", "0", "1", "3", "2", "-", "-", "-"]],
        "{empty:?}"
    );
    // --topic narrows the search: nothing committed in orders
    let narrowed = ok(
        &[
            "groups", "describe", "-b", &b, "reports", "--topic", "orders",
        ],
        b"",
    )
    .await;
    assert!(rows(&narrowed.stdout, "reports").is_empty(), "{narrowed:?}");
    assert!(
        narrowed
            .stdout
            .contains("Consumer group 'reports' has no committed offsets.\n"),
        "{narrowed:?}"
    );

    // --all-groups: both, in name order
    let all = ok(&["groups", "describe", "-b", &b, "--all-groups"], b"").await;
    assert_eq!(rows(&all.stdout, "billing").len(), 2, "{all:?}");
    assert_eq!(rows(&all.stdout, "reports").len(), 1, "{all:?}");
    assert!(
        all.stdout.find("Group: billing") < all.stdout.find("Group: reports"),
        "{all:?}"
    );

    // a group no broker knows: exit 3, Kafka's words
    let missing = rafka(&["groups", "describe", "-b", &b, "nope"], b"").await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert_eq!(
        missing.stderr, "error: consumer group 'nope' does not exist\n",
        "{missing:?}"
    );
    assert_eq!(missing.stdout, "", "{missing:?}");
    // the known one is still described, the exit status says one was missing
    let mixed = rafka(&["groups", "describe", "-b", &b, "nope", "billing"], b"").await;
    assert_eq!(mixed.code, 3, "{mixed:?}");
    assert_eq!(rows(&mixed.stdout, "billing").len(), 2, "{mixed:?}");
    // an unknown --topic is the usual "no such topic"
    let bad_topic = rafka(
        &["groups", "describe", "-b", &b, "billing", "--topic", "none"],
        b"",
    )
    .await;
    assert_eq!(bad_topic.code, 3, "{bad_topic:?}");
    assert_eq!(bad_topic.stderr, "error: topic 'none' does not exist\n");
    // a group id or --all-groups, not neither
    let usage = rafka(&["groups", "describe", "-b", &b], b"").await;
    assert_eq!(usage.code, 2, "{usage:?}");

    // the describing never joined the group: still one member, still Stable
    let again = ok(&["groups", "describe", "-b", &b, "billing"], b"").await;
    assert!(
        again.stdout.contains("State: Stable") && again.stdout.contains("Members: 1\n"),
        "{again:?}"
    );

    drop(member);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_shows_id_brokers_and_controller() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let run = ok(&["cluster", "-b", &b], b"").await;
    let id = broker.broker().node_id();
    assert_eq!(
        run.stdout,
        format!(
            "Cluster ID: {}\nController: {id}\nBrokers: 1\n\tBroker: {id}\tAddress: {b}\t(controller)\n",
            broker.broker().cluster_id()
        ),
        "{run:?}"
    );
    broker.shutdown().await.expect("shutdown");

    // no broker there: exit 1 at once, as the other client commands
    let down = rafka(&["cluster", "-b", &b], b"").await;
    assert_eq!(down.code, 1, "{down:?}");
    assert!(
        down.stderr
            .starts_with(&format!("error: cannot reach the broker at {b}: ")),
        "{down:?}"
    );
}

/// A member of `group` on `topic` with client id `client_id`, polled on its own thread
/// until `stop` is set (a member that is not polled cannot take part in a rebalance).
fn polled_member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    client_id: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = consumer.poll(Duration::from_millis(50));
        }
    })
}

/// Two members, one partition: the member with no partition gets a row of its own with
/// `-` for the topic and offsets, as in `kafka-consumer-groups --describe`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_partitions_has_a_row_of_its_own() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("single", 1, 1, Default::default(), false)
        .expect("topic");
    let b = broker.kafka_addr().to_string();
    ok(&["produce", "-b", &b, "-t", "single"], b"x\ny\n").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let members = [
        polled_member(&b, "pair", "single", "first", stop.clone()),
        polled_member(&b, "pair", "single", "second", stop.clone()),
    ];
    // waits for the condition (both members in, the group settled), bounded
    let started = Instant::now();
    let described = loop {
        let run = rafka(&["groups", "describe", "-b", &b, "pair"], b"").await;
        // exit 3 until the first member has joined: the group does not exist yet
        assert!(run.code == 0 || run.code == 3, "{run:?}");
        if run.stdout.contains("State: Stable") && run.stdout.contains("Members: 2\n") {
            break run;
        }
        assert!(
            started.elapsed() < COMMAND_DEADLINE,
            "never Stable with 2: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let table = rows(&described.stdout, "pair");
    assert_eq!(table.len(), 2, "{described:?}");
    // the owner of partition 0: nothing committed, the log end offset 2
    let owned = table.iter().find(|r| r[1] == "single").expect("owned row");
    assert_eq!(owned[2..6], ["0", "-", "2", "-"], "{described:?}");
    let idle = table.iter().find(|r| r[1] == "-").expect("idle row");
    assert_eq!(idle[2..6], ["-", "-", "-", "-"], "{described:?}");
    let mut clients = [owned[8], idle[8]];
    clients.sort_unstable();
    assert_eq!(clients, ["first", "second"], "{described:?}");
    assert!(idle[6].starts_with(idle[8]), "{described:?}");
    assert_ne!(owned[6], idle[6]);

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for m in members {
        m.join().expect("member thread");
    }
    broker.shutdown().await.expect("shutdown");
}
