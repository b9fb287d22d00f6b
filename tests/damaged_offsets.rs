//! Issue #13 item 4: a damaged `__consumer_offsets` partition costs only that partition's
//! groups, as in Kafka, where a coordinator partition that fails to load goes to its
//! FAILED state (`CoordinatorRuntime`) and every request for its groups gets
//! NOT_COORDINATOR, while the broker and every other partition go on. Here one byte of a
//! stored batch is flipped while the broker is stopped; it must start, serve every topic
//! and the groups of the other partitions, and answer the damaged partition's groups with
//! NOT_COORDINATOR.

#[path = "support/mod.rs"]
mod support;
#[allow(dead_code)]
#[path = "groups/wire.rs"]
mod wire;

use kafka_protocol::messages::*;
use support::Client;
use wire::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_consumer_offsets_costs_only_its_partitions_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_in(dir.path(), |_| {}).await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    create_topic(&mut c, "data", 1).await;
    produce(&mut c, "data", 0, &["a".into(), "b".into()]).await;
    let gc = broker.broker().groups().expect("coordinator");
    // one group on partition 0 of __consumer_offsets (to be damaged), one elsewhere
    let damaged = (0..)
        .map(|i| format!("damaged-{i}"))
        .find(|g| gc.shard_of(g) == 0)
        .expect("a group on partition 0");
    let healthy = (0..)
        .map(|i| format!("healthy-{i}"))
        .find(|g| gc.shard_of(g) != 0)
        .expect("a group on another partition");
    drop(gc);
    assert_eq!(
        simple_commit(&mut c, &damaged, "data", &[(0, 1)]).await,
        [NONE]
    );
    assert_eq!(
        simple_commit(&mut c, &healthy, "data", &[(0, 2)]).await,
        [NONE]
    );
    drop(c);
    broker.shutdown().await.expect("clean shutdown");

    // flip the last byte of partition 0's only batch (a record byte, under the CRC)
    let log = dir
        .path()
        .join("__consumer_offsets-0")
        .join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).expect("read the segment");
    assert!(bytes.len() > 61, "one batch is stored");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&log, &bytes).expect("write the segment");

    let broker = start_in(dir.path(), |_| {}).await;
    let mut c = Client::connect(broker.kafka_addr()).await;

    // every topic is served
    produce(&mut c, "data", 0, &["c".into()]).await;
    assert_eq!(
        broker.broker().topic("data").expect("data").partitions[0].log_end_offset(),
        3
    );

    // the other partitions' groups are served as before
    assert_eq!(committed_offset(&mut c, &healthy, "data", 0).await, 2);
    assert_eq!(
        simple_commit(&mut c, &healthy, "data", &[(0, 3)]).await,
        [NONE]
    );
    assert_eq!(committed_offset(&mut c, &healthy, "data", 0).await, 3);

    // the damaged partition's groups: NOT_COORDINATOR, whatever the request
    let (error, _) = fetch(&mut c, 9, &damaged, "data", Some(&[0])).await;
    assert_eq!(error, NOT_COORDINATOR, "OffsetFetch v9");
    let (error, _) = fetch(&mut c, 5, &damaged, "data", Some(&[0])).await;
    assert_eq!(error, NOT_COORDINATOR, "OffsetFetch v5");
    assert_eq!(
        simple_commit(&mut c, &damaged, "data", &[(0, 9)]).await,
        [NOT_COORDINATOR],
        "OffsetCommit"
    );
    assert_eq!(describe(&mut c, &damaged).await.error_code, NOT_COORDINATOR);
    let mut m = Member::new(broker.kafka_addr(), &damaged, Versions::LATEST, "data").await;
    assert_eq!(m.join().await.error_code, NOT_COORDINATOR, "JoinGroup");
    let r: DeleteGroupsResponse = c
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id(&damaged)]),
        )
        .await;
    assert_eq!(r.results[0].error_code, NOT_COORDINATOR, "DeleteGroups");
    // ListGroups lists the loaded partitions' groups (Kafka: a NOT_COORDINATOR partition
    // adds nothing), and answers without error
    let listed = list_groups(&mut c, 4, None).await;
    assert!(
        listed.contains_key(&healthy) && !listed.contains_key(&damaged),
        "{listed:?}"
    );
    // nothing was written to the damaged partition
    let offsets = broker
        .broker()
        .topic("__consumer_offsets")
        .expect("offsets topic");
    assert_eq!(offsets.partitions[0].log_end_offset(), 1);
    drop((c, m));
    broker.shutdown().await.expect("shutdown");
}
