//! Long-poll fetches are woken per partition: an append wakes the fetches waiting on that
//! partition and no other (Kafka's fetch purgatory is keyed by partition). Before the
//! partition layer one broker-wide notification woke every waiting fetch on every append,
//! and each of them read all its partitions again.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka::broker::Broker;
use rafka::config::Config;
use rafka::kafka::answer::Answer;
use rafka::kafka::api::fetch;
use rafka::kafka::context::RequestContext;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::partition::AppendOrigin;

const WAITING: i32 = 1000;

fn long_poll(topic: &str, partition: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(600_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

/// 1,001 fetches wait, one per partition; one record is appended to partition 0. Its
/// fetch answers with the record; the 1,000 others are not woken: they do not read their
/// partitions again and are still waiting.
///
/// The runtime has one thread, so once the test task yields after the append, every task
/// that a wake-up made runnable has run before the test goes on: a fetch woken by mistake
/// would have read its partition again by the time the counters are checked.
#[tokio::test(flavor = "current_thread")]
async fn an_append_wakes_only_the_fetches_waiting_on_its_partition() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let broker = Arc::new(Broker::open(config).expect("open"));
    let topic = broker
        .create_topic("wide", WAITING + 1, 1, BTreeMap::new(), false)
        .expect("create");
    let fetches: Vec<_> = (0..=WAITING)
        .map(|p| {
            let b = Arc::clone(&broker);
            tokio::spawn(async move {
                let ctx = RequestContext::local(ApiKey::Fetch, 12, p);
                match fetch::handle(&ctx, &b, long_poll("wide", p)).await {
                    Answer::Now(resp) => resp,
                    _ => panic!("a fetch always answers"),
                }
            })
        })
        .collect();
    while topic.partitions.iter().any(|p| p.waiting_fetches() != 1) {
        tokio::task::yield_now().await;
    }
    let reads_before: Vec<u64> = topic.partitions.iter().map(|p| p.reads()).collect();

    let record = NewRecord::new(None::<&[u8]>, "wake up").at(rafka::log::now_ms());
    topic.partitions[0]
        .append(&encode_batch(&[record], -1), AppendOrigin::Client)
        .expect("append");
    let mut fetches = fetches.into_iter();
    let woken = fetches
        .next()
        .expect("partition 0's fetch")
        .await
        .expect("task");
    let answered = &woken.responses[0].partitions[0];
    assert_eq!(answered.high_watermark, 1);
    assert!(answered.records.as_ref().is_some_and(|r| !r.is_empty()));
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }

    let rest: Vec<_> = fetches.collect();
    for (i, f) in rest.iter().enumerate() {
        let p = &topic.partitions[i + 1];
        assert!(!f.is_finished(), "partition {}'s fetch still waits", i + 1);
        assert_eq!(
            p.reads(),
            reads_before[i + 1],
            "partition {} was not read again",
            i + 1
        );
        assert_eq!(p.waiting_fetches(), 1);
    }
    for f in &rest {
        f.abort();
    }
    for f in rest {
        let _ = f.await;
    }
    assert!(
        topic.partitions.iter().all(|p| p.waiting_fetches() == 0),
        "an ended fetch unregisters"
    );
}
