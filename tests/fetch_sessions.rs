//! Fetch sessions (KIP-227) over the wire: a full fetch with epoch 0 opens a session; an
//! incremental fetch names only the partitions whose fetch offset changed and is answered
//! with only the partitions that changed; a wrong epoch or an unknown session gets Kafka's
//! top-level error.

mod support;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::partition::AppendOrigin;
use support::{start_broker, Client};

const VERSION: i16 = 12;

fn fetch(session_id: i32, epoch: i32, partitions: &[(i32, i64)]) -> FetchRequest {
    let topics = if partitions.is_empty() {
        Vec::new()
    } else {
        vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("s")))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, offset)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

/// (partition, has records, high watermark) of every partition in the response.
fn seen(r: &FetchResponse) -> Vec<(i32, bool, i64)> {
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            (
                p.partition_index,
                p.records.as_ref().is_some_and(|b| !b.is_empty()),
                p.high_watermark,
            )
        })
        .collect()
}

#[tokio::test]
async fn incremental_fetches_carry_only_what_changed() {
    let (broker, _dir) = start_broker().await;
    let topic = broker
        .broker()
        .create_topic("s", 2, 1, Default::default(), false)
        .expect("create");
    let append = |p: usize| {
        let r = NewRecord::new(None::<&[u8]>, "v").at(rafka::log::now_ms());
        topic.partitions[p]
            .append(&encode_batch(&[r], -1), AppendOrigin::Client)
            .expect("append");
    };
    append(0);
    let mut c = Client::connect(broker.kafka_addr()).await;

    // full fetch, epoch 0: a new session, every partition answered
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(0, 0, &[(0, 0), (1, 0)]))
        .await;
    assert_eq!(r.error_code, 0);
    let session = r.session_id;
    assert_ne!(session, 0, "a session was opened");
    assert_eq!(seen(&r), vec![(0, true, 1), (1, false, 0)]);

    // epoch 1: partition 0 moved on; nothing changed anywhere, so nothing is answered
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(session, 1, &[(0, 1)]))
        .await;
    assert_eq!((r.error_code, r.session_id), (0, session));
    assert_eq!(seen(&r), vec![], "unchanged partitions are left out");

    // epoch 2: partition 1, which the request does not name, got a record
    append(1);
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(session, 2, &[]))
        .await;
    assert_eq!((r.error_code, r.session_id), (0, session));
    assert_eq!(seen(&r), vec![(1, true, 1)], "only the partition with news");

    // a replayed epoch, and a session that does not exist
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(session, 2, &[]))
        .await;
    assert_eq!(r.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
    let r: FetchResponse = c
        .call(
            ApiKey::Fetch,
            VERSION,
            &fetch(session.wrapping_add(1), 1, &[]),
        )
        .await;
    assert_eq!(r.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");

    // epoch -1 closes the session and is served without one
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(session, -1, &[(0, 0)]))
        .await;
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(seen(&r), vec![(0, true, 1)]);
    let r: FetchResponse = c
        .call(ApiKey::Fetch, VERSION, &fetch(session, 3, &[]))
        .await;
    assert_eq!(r.error_code, 70, "the closed session is gone");
    broker.shutdown().await.expect("shutdown");
}
