//! librdkafka group consumers (`rdkafka` StreamConsumers) against the broker: manual and
//! auto commit, the cooperative-sticky assignor across a handover, and a member that
//! disappears without LeaveGroup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::support::Client;
use crate::wire::*;

// ---------------------------------------------------------------- librdkafka consumers

/// A record as a consumer saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    partition: i32,
    offset: i64,
    value: String,
}

/// What to do with each record read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnRead {
    /// `commit_message(.., CommitMode::Sync)`
    CommitSync,
    /// `store_offset_from_message` (for auto commit with enable.auto.offset.store=false)
    Store,
    /// nothing
    Nothing,
}

/// A group consumer (librdkafka) of `group`, reading from the earliest offset when the
/// group has none committed.
fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> StreamConsumer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("consumer")
}

/// The next record within `wait` (None if there is none); serving the consumer also runs
/// its rebalances. Errors are transient for librdkafka (it retries): logged, skipped.
async fn next_record(c: &StreamConsumer, wait: Duration, on_read: OnRead) -> Option<Rec> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, c.recv()).await {
            Err(_) => return None,
            Ok(Err(e)) => eprintln!("consumer: {e}"),
            Ok(Ok(m)) => {
                let rec = Rec {
                    partition: m.partition(),
                    offset: m.offset(),
                    value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                };
                match on_read {
                    OnRead::CommitSync => tokio::task::block_in_place(|| {
                        c.commit_message(&m, CommitMode::Sync)
                            .expect("commit_message")
                    }),
                    OnRead::Store => c.store_offset_from_message(&m).expect("store offset"),
                    OnRead::Nothing => {}
                }
                return Some(rec);
            }
        }
    }
}

/// Reads `n` records (committing or storing each), within `secs` seconds.
async fn read_n(c: &StreamConsumer, n: usize, secs: u64, on_read: OnRead) -> Vec<Rec> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "read {} of {n} records in {secs} s",
            got.len()
        );
        if let Some(r) = next_record(c, Duration::from_millis(200), on_read).await {
            got.push(r);
        }
    }
    got
}

/// Reads for `wait` more; anything that comes would be a duplicate.
async fn read_rest(c: &StreamConsumer, wait: Duration, on_read: OnRead) -> Vec<Rec> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Some(r) = next_record(c, Duration::from_millis(100), on_read).await {
            got.push(r);
        }
    }
    got
}

/// The partitions of `topic` a consumer owns now.
fn owned(c: &StreamConsumer, topic: &str) -> Vec<i32> {
    let mut ps: Vec<i32> = c
        .assignment()
        .expect("assignment")
        .elements_for_topic(topic)
        .iter()
        .map(|e| e.partition())
        .collect();
    ps.sort_unstable();
    ps
}

/// Committed offsets of the consumer's group for partitions 0..n of `topic` (None: none).
fn committed(c: &StreamConsumer, topic: &str, n: i32) -> Vec<Option<i64>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition(topic, p);
    }
    let got = tokio::task::block_in_place(|| c.committed_offsets(tpl, Duration::from_secs(10)))
        .expect("committed offsets");
    (0..n)
        .map(
            |p| match got.find_partition(topic, p).expect("partition").offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            },
        )
        .collect()
}

/// Closes a consumer (commit if auto commit is on, LeaveGroup), bounded in time: rdkafka
/// closes in Drop and polls until it is done, so this runs on a blocking thread.
async fn close(c: StreamConsumer) {
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || drop(c)),
    )
    .await
    .expect("consumer closed within 30 s")
    .expect("close thread");
}

/// `per_partition` records "tag-p{p}-{i}" into each partition of `topic`.
async fn produce_tagged(
    c: &mut Client,
    topic: &str,
    partitions: &[i32],
    tag: &str,
    per_partition: usize,
) {
    for &p in partitions {
        let values: Vec<String> = (0..per_partition)
            .map(|i| format!("{tag}-p{p}-{i}"))
            .collect();
        produce(c, topic, p, &values).await;
    }
}

/// Every record of `want` (partition, value) read exactly once across `reads` (in the
/// order the consumers read them, earlier consumer first): offsets ascend per partition.
fn assert_exactly_once(reads: &[&[Rec]], want: &BTreeSet<(i32, String)>) {
    let mut seen: BTreeMap<(i32, String), usize> = BTreeMap::new();
    let mut last: HashMap<i32, i64> = HashMap::new();
    for r in reads.iter().flat_map(|x| x.iter()) {
        *seen.entry((r.partition, r.value.clone())).or_default() += 1;
        let prev = last.insert(r.partition, r.offset).unwrap_or(-1);
        assert!(
            r.offset > prev,
            "partition {}: offset {} after {prev}",
            r.partition,
            r.offset
        );
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "read twice: {dups:?}");
    let got: BTreeSet<(i32, String)> = seen.into_keys().collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
}

fn tagged(partitions: &[i32], tag: &str, per_partition: usize) -> BTreeSet<(i32, String)> {
    partitions
        .iter()
        .flat_map(|&p| (0..per_partition).map(move |i| (p, format!("{tag}-p{p}-{i}"))))
        .collect()
}

/// A StreamConsumer commits by hand — `commit_message` (sync) for its first records, then
/// `commit` of a TopicPartitionList (CommitMode::Sync) — and closes; a new consumer in
/// the same group sees those committed offsets and resumes exactly there: every record
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_consumer_manual_commits_resume_at_the_committed_offsets() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("manual");
    create_topic(&mut c, &topic, 2).await;
    produce_tagged(&mut c, &topic, &[0, 1], "m", 10).await;
    let group = unique("manual");

    let first = consumer(&t.bootstrap(), &group, &[]);
    first.subscribe(&[&topic]).expect("subscribe");
    let mut read = read_n(&first, 4, 30, OnRead::CommitSync).await;
    let mut more = Vec::new();
    while more.len() < 4 {
        // read without committing, then commit all four with one TopicPartitionList
        if let Some(r) = next_record(&first, Duration::from_secs(30), OnRead::Nothing).await {
            more.push(r);
        }
    }
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for r in read.iter().chain(&more) {
        let o = next.entry(r.partition).or_default();
        *o = (*o).max(r.offset + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in &next {
        tpl.add_partition_offset(&topic, p, Offset::Offset(o))
            .expect("tpl");
    }
    tokio::task::block_in_place(|| first.commit(&tpl, CommitMode::Sync)).expect("commit");
    read.extend(more);
    let want: Vec<Option<i64>> = (0..2).map(|p| next.get(&p).copied()).collect();
    assert_eq!(
        committed(&first, &topic, 2),
        want,
        "committed = what was read"
    );
    close(first).await;

    let second = consumer(&t.bootstrap(), &group, &[]);
    assert_eq!(
        committed(&second, &topic, 2),
        want,
        "a new consumer sees the commits"
    );
    second.subscribe(&[&topic]).expect("subscribe");
    let rest = read_n(&second, 12, 30, OnRead::CommitSync).await;
    let extra = read_rest(&second, Duration::from_secs(1), OnRead::CommitSync).await;
    for p in 0..2 {
        let first_offset = rest
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .min();
        assert_eq!(
            first_offset,
            Some(next.get(&p).copied().unwrap_or(0)),
            "partition {p}: resumed at the committed offset"
        );
    }
    assert_exactly_once(&[&read, &rest, &extra], &tagged(&[0, 1], "m", 10));
    assert_eq!(committed(&second, &topic, 2), vec![Some(10), Some(10)]);
    close(second).await;
    t.shutdown().await;
}

/// Auto commit (enable.auto.commit with enable.auto.offset.store=false and
/// store_offset_from_message): the stored offsets are committed on the interval, before
/// the consumer closes; a new consumer resumes there: every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_consumer_auto_commit_resumes_at_the_committed_offsets() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("auto");
    create_topic(&mut c, &topic, 2).await;
    produce_tagged(&mut c, &topic, &[0, 1], "a", 10).await;
    let group = unique("auto");
    let auto = [
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "100"),
        ("enable.auto.offset.store", "false"),
    ];
    let first = consumer(&t.bootstrap(), &group, &auto);
    first.subscribe(&[&topic]).expect("subscribe");
    let read = read_n(&first, 8, 30, OnRead::Store).await;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &read {
        let o = next.entry(r.partition).or_default();
        *o = (*o).max(r.offset + 1);
    }
    let want: Vec<Option<i64>> = (0..2).map(|p| next.get(&p).copied()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // the consumer is open: only the interval commit can have done this
        let got = committed(&first, &topic, 2);
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "auto commit: committed {got:?}, stored {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    close(first).await;

    let second = consumer(&t.bootstrap(), &group, &auto);
    second.subscribe(&[&topic]).expect("subscribe");
    let rest = read_n(&second, 12, 30, OnRead::Store).await;
    let extra = read_rest(&second, Duration::from_secs(1), OnRead::Store).await;
    assert_exactly_once(&[&read, &rest, &extra], &tagged(&[0, 1], "a", 10));
    close(second).await;
    t.shutdown().await;
}

/// partition.assignment.strategy=cooperative-sticky, two consumers on a 4-partition topic:
/// they split it 2+2; A reads all of its share, B reads 5 records of its share
/// (committing each) and closes; A then owns all 4 partitions without ever giving up its
/// own (incremental rebalancing), reads on from B's commits, then 40 more records:
/// every record exactly once across the handover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_split_and_handover_exactly_once() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("coop");
    create_topic(&mut c, &topic, 4).await;
    let group = unique("coop");
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = consumer(&t.bootstrap(), &group, &coop);
    let b = consumer(&t.bootstrap(), &group, &coop);
    a.subscribe(&[&topic]).expect("subscribe");
    b.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned(&a, &topic).len() != 2 || owned(&b, &topic).len() != 2 {
        assert!(
            Instant::now() < deadline,
            "no 2+2 split: A owns {:?}, B owns {:?}",
            owned(&a, &topic),
            owned(&b, &topic)
        );
        assert!(
            next_record(&a, Duration::from_millis(100), OnRead::CommitSync)
                .await
                .is_none()
        );
        assert!(
            next_record(&b, Duration::from_millis(100), OnRead::CommitSync)
                .await
                .is_none()
        );
    }
    assert!(
        matches!(
            a.rebalance_protocol(),
            rdkafka::consumer::RebalanceProtocol::Cooperative
        ),
        "cooperative-sticky rebalances incrementally"
    );
    let (pa, pb) = (owned(&a, &topic), owned(&b, &topic));
    let mut all: Vec<i32> = pa.iter().chain(&pb).copied().collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3], "A owns {pa:?}, B owns {pb:?}");

    produce_tagged(&mut c, &topic, &pa, "h1", 10).await;
    let mut read_a = read_n(&a, 20, 30, OnRead::CommitSync).await;
    produce_tagged(&mut c, &topic, &pb, "h1", 10).await;
    let read_b = read_n(&b, 5, 30, OnRead::CommitSync).await;
    assert!(
        read_b.iter().all(|r| pb.contains(&r.partition)),
        "B read only its share"
    );
    close(b).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = owned(&a, &topic);
        assert!(
            pa.iter().all(|p| now.contains(p)),
            "cooperative: A gave up one of its partitions ({now:?}, had {pa:?})"
        );
        if now == vec![0, 1, 2, 3] {
            break;
        }
        assert!(Instant::now() < deadline, "after B left A owns {now:?}");
        if let Some(r) = next_record(&a, Duration::from_millis(100), OnRead::CommitSync).await {
            read_a.push(r);
        }
    }
    produce_tagged(&mut c, &topic, &[0, 1, 2, 3], "h2", 10).await;
    let n = 75 - read_a.len();
    read_a.extend(read_n(&a, n, 30, OnRead::CommitSync).await);
    read_a.extend(read_rest(&a, Duration::from_secs(1), OnRead::CommitSync).await);
    let mut want = tagged(&[0, 1, 2, 3], "h1", 10);
    want.extend(tagged(&[0, 1, 2, 3], "h2", 10));
    // B first: on B's partitions A must go on after what B committed
    assert_exactly_once(&[&read_b, &read_a], &want);
    assert_eq!(committed(&a, &topic, 4), vec![Some(20); 4]);
    close(a).await;
    t.shutdown().await;
}

/// A member that stops without LeaveGroup (a raw member that joins, syncs, then goes
/// silent and drops its connection, as a killed process would) is removed when its
/// session times out; the librdkafka consumer that joined meanwhile then gets all the
/// partitions. Bounded: well under 20 s with a 1.5 s session timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gone_without_leave_group_expires_and_its_partitions_move() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("expire");
    create_topic(&mut c, &topic, 4).await;
    let group = unique("expire");
    let mut dead = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    dead.session_ms = 1500;
    dead.join_new().await;
    let plan = vec![(
        dead.member_id.clone(),
        assignment(&topic, &[0, 1, 2, 3], b""),
    )];
    assert_eq!(dead.sync(&plan).await.error_code, NONE);
    let dead_id = dead.member_id.clone();
    let generation = dead.generation;
    drop(dead); // no LeaveGroup, no more heartbeats

    let started = Instant::now();
    let live = consumer(
        &t.bootstrap(),
        &group,
        &[("partition.assignment.strategy", "range")],
    );
    live.subscribe(&[&topic]).expect("subscribe");
    while owned(&live, &topic) != vec![0, 1, 2, 3] {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "after 20 s the consumer owns {:?}",
            owned(&live, &topic)
        );
        assert!(
            next_record(&live, Duration::from_millis(100), OnRead::CommitSync)
                .await
                .is_none()
        );
    }
    eprintln!(
        "the silent member's partitions moved after {:?}",
        started.elapsed()
    );
    let d = describe(&mut c, &group).await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 1);
    assert_ne!(
        d.members[0].member_id.as_str(),
        dead_id,
        "the silent member is gone"
    );
    let mut ghost = Member::new(t.addr, &group, Versions::LATEST, &topic).await;
    ghost.member_id = dead_id;
    ghost.generation = generation;
    assert_eq!(
        ghost.heartbeat().await,
        UNKNOWN_MEMBER_ID,
        "its member id is unknown now"
    );
    close(live).await;
    t.shutdown().await;
}

/// The case exactly: two real group consumers share a 4-partition topic 2+2, and
/// one of them, a `rafka consume -g` process, is killed with SIGKILL (no LeaveGroup). The
/// survivor, Stable all along, is told to rejoin once the dead member's session (2 s)
/// times out, and then owns all four partitions. (In-process only: it spawns this crate's
/// binary.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_consumer_process_loses_its_partitions_to_the_survivor() {
    let t = Target::start().await;
    if t.external() {
        return;
    }
    let mut c = t.client().await;
    let topic = unique("killed");
    create_topic(&mut c, &topic, 4).await;
    let group = unique("killed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rafka"))
        .args(["consume", "-b", &t.bootstrap(), "-t", &topic, "-g", &group])
        .args([
            "-X",
            "session.timeout.ms=2000",
            "-X",
            "heartbeat.interval.ms=300",
        ])
        .args(["-X", "partition.assignment.strategy=range"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn rafka consume");
    // the child joins first: wait until it is a member of a Stable group
    wait_for_state(&mut c, &group, "Stable", 1).await;
    let live = consumer(
        &t.bootstrap(),
        &group,
        &[("partition.assignment.strategy", "range")],
    );
    live.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned(&live, &topic).len() != 2 {
        assert!(
            Instant::now() < deadline,
            "no 2+2 split: the consumer owns {:?}",
            owned(&live, &topic)
        );
        next_record(&live, Duration::from_millis(100), OnRead::Nothing).await;
    }
    wait_for_state(&mut c, &group, "Stable", 2).await;

    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let killed = Instant::now();
    while owned(&live, &topic) != vec![0, 1, 2, 3] {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "20 s after the kill the survivor owns {:?}",
            owned(&live, &topic)
        );
        next_record(&live, Duration::from_millis(100), OnRead::Nothing).await;
    }
    eprintln!(
        "the killed process's partitions moved {:?} after the kill",
        killed.elapsed()
    );
    let d = describe(&mut c, &group).await;
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Stable", 1));
    close(live).await;
    t.shutdown().await;
}
