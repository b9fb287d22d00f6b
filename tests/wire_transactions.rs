//! Transactions on the wire, as `kafka-transactions.sh abort` and consumers see them:
//! transactional batches produced raw (the crate's record encoder, the transactional bit),
//! Fetch with `read_committed` (isolation level 1) against `read_uncommitted`, ListOffsets
//! with both isolation levels, DescribeProducers (v0) and WriteTxnMarkers (v1), and a
//! waiting `read_committed` fetch woken by a marker.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::log::batch::{self, BatchIter};
use support::{start_broker_with, Client};

const PID: i64 = 1000;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// A batch of `values` from producer `PID` at `epoch` from sequence `seq`, transactional.
fn txn_batch(epoch: i16, seq: i32, values: &[&str]) -> Bytes {
    let mut b = support::batch(&values.iter().map(|v| (None, *v)).collect::<Vec<_>>()).to_vec();
    b[batch::ATTRIBUTES + 1] |= 0x10;
    batch::set_producer(&mut b, PID, epoch, seq);
    Bytes::from(b)
}

async fn produce(c: &mut Client, records: Bytes, transactional_id: Option<&str>) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
        )
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("tx"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_request(isolation: i8, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("tx"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

struct Fetched {
    high_watermark: i64,
    last_stable_offset: i64,
    /// (base offset, is control) of each batch.
    batches: Vec<(i64, bool)>,
    aborted: Option<Vec<(i64, i64)>>,
}

async fn fetch(c: &mut Client, isolation: i8, offset: i64) -> Fetched {
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &fetch_request(isolation, offset, 0))
        .await;
    fetched(&r)
}

fn fetched(r: &FetchResponse) -> Fetched {
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let records = p.records.clone().unwrap_or_default();
    Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        batches: BatchIter::new(&records)
            .map(|(_, h)| (h.base_offset, h.is_control()))
            .collect(),
        aborted: p.aborted_transactions.as_ref().map(|a| {
            a.iter()
                .map(|t| (t.producer_id.0, t.first_offset))
                .collect()
        }),
    }
}

async fn latest(c: &mut Client, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("tx"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 5, &req).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// (producer id, epoch, last sequence, coordinator epoch, current txn start offset)
async fn describe_producers(c: &mut Client) -> Vec<(i64, i32, i32, i32, i64)> {
    let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(name("tx"))
        .with_partition_indexes(vec![0])]);
    let r: DescribeProducersResponse = c.call(ApiKey::DescribeProducers, 0, &req).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.active_producers
        .iter()
        .map(|s| {
            (
                s.producer_id.0,
                s.producer_epoch,
                s.last_sequence,
                s.coordinator_epoch,
                s.current_txn_start_offset,
            )
        })
        .collect()
}

/// WriteTxnMarkers v1 for partitions `partitions` of "tx": each partition's error code.
async fn write_marker(
    c: &mut Client,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    partitions: Vec<i32>,
) -> Vec<i16> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(PID))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(name("tx"))
            .with_partition_indexes(partitions)])]);
    let r: WriteTxnMarkersResponse = c.call(ApiKey::WriteTxnMarkers, 1, &req).await;
    assert_eq!(r.markers[0].producer_id.0, PID);
    r.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

#[tokio::test]
async fn read_committed_sees_up_to_the_lso_and_an_abort_over_the_wire() {
    // raw batches of a producer no coordinator knows: KIP-890's check (tested below) off
    let (broker, _dir) = start_broker_with(|c| c.txn.partition_verification = false).await;
    broker
        .broker()
        .create_topic("tx", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let advertised = support::advertised(&mut c).await;
    assert_eq!(
        advertised.get(&(ApiKey::DescribeProducers as i16)),
        Some(&(0, 0))
    );
    assert_eq!(
        advertised.get(&(ApiKey::WriteTxnMarkers as i16)),
        Some(&(1, 1))
    );

    // Kafka's KafkaApis: transactional records need a transactional id
    assert_eq!(
        produce(&mut c, txn_batch(0, 0, &["a", "b"]), None).await.0,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    assert_eq!(
        produce(&mut c, txn_batch(0, 0, &["a", "b"]), Some("t1")).await,
        (0, 0)
    );
    let plain = support::batch(&[(None, "c")]);
    assert_eq!(produce(&mut c, plain, None).await, (0, 2));

    let all = fetch(&mut c, 0, 0).await;
    assert_eq!((all.high_watermark, all.last_stable_offset), (3, 0));
    assert_eq!(all.batches, vec![(0, false), (2, false)]);
    assert_eq!(all.aborted, None, "read_uncommitted gets no aborted list");
    let committed = fetch(&mut c, 1, 0).await;
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (3, 0)
    );
    assert!(committed.batches.is_empty(), "nothing is stable yet");
    assert_eq!(committed.aborted, Some(vec![]));
    assert_eq!(latest(&mut c, 0).await, 3);
    assert_eq!(
        latest(&mut c, 1).await,
        0,
        "read_committed's latest is the LSO"
    );
    assert_eq!(describe_producers(&mut c).await, vec![(PID, 0, 1, -1, 0)]);

    // kafka-transactions.sh abort: a marker from the producer's state; partition 7 is
    // not hosted
    assert_eq!(
        write_marker(&mut c, 0, 4, false, vec![0, 7]).await,
        vec![0, 3]
    );
    let committed = fetch(&mut c, 1, 0).await;
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (4, 4)
    );
    assert_eq!(committed.batches, vec![(0, false), (2, false), (3, true)]);
    assert_eq!(committed.aborted, Some(vec![(PID, 0)]));
    // from inside the transaction's range (its marker is at 3) it is still listed
    // (Kafka's rule: last offset >= fetch offset)
    assert_eq!(fetch(&mut c, 1, 2).await.aborted, Some(vec![(PID, 0)]));
    assert_eq!(latest(&mut c, 1).await, 4);
    assert_eq!(describe_producers(&mut c).await, vec![(PID, 0, 1, 4, -1)]);

    // fencing: an older coordinator epoch, an older producer epoch
    assert_eq!(write_marker(&mut c, 0, 3, true, vec![0]).await, vec![52]);
    assert_eq!(write_marker(&mut c, -1, 4, true, vec![0]).await, vec![47]);

    // a read_committed fetch waiting at the LSO wakes when a commit marker moves it
    assert_eq!(
        produce(&mut c, txn_batch(0, 2, &["d"]), Some("t1")).await,
        (0, 4)
    );
    let mut waiter = Client::connect(broker.kafka_addr()).await;
    let started = Instant::now();
    let id = waiter
        .send(ApiKey::Fetch, 12, &fetch_request(1, 4, 20_000))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(write_marker(&mut c, 0, 4, true, vec![0]).await, vec![0]);
    let r: FetchResponse = waiter.recv(ApiKey::Fetch, 12, id).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the marker, not the timeout"
    );
    let woken = fetched(&r);
    assert_eq!(woken.batches, vec![(4, false), (5, true)]);
    assert_eq!(woken.last_stable_offset, 6);
    assert_eq!(woken.aborted, Some(vec![]));
    broker.shutdown().await.expect("shutdown");
}

/// KIP-890's verification: a transactional produce to a partition the producer's
/// transaction does not hold is refused (INVALID_TXN_STATE before Produce v11,
/// TRANSACTION_ABORTABLE from it) and nothing is written; once AddPartitionsToTxn added
/// the partition, the same batch is written. A producer id the coordinator does not know
/// is INVALID_PRODUCER_ID_MAPPING.
#[tokio::test]
async fn a_transactional_write_to_a_partition_outside_the_transaction_is_refused() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let (broker, _dir) = start_broker_with(|c| c.txn.num_partitions = 1).await;
    broker
        .broker()
        .create_topic("tx", 1, 1, Default::default(), false)
        .expect("topic");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let tid = TransactionalId(StrBytes::from_static_str("verified"));
    let init: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(tid.clone()))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let batch = |seq: i32| {
        let mut b = support::batch(&[(None, "v")]).to_vec();
        b[batch::ATTRIBUTES + 1] |= 0x10;
        batch::set_producer(&mut b, pid, epoch, seq);
        Bytes::from(b)
    };
    let send = |records: Bytes, tid: &str| {
        ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(tid.into()))))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("tx"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records))])])
    };
    for (version, want) in [(9i16, 48i16), (11, 120)] {
        let req = send(batch(0), "verified");
        let r: ProduceResponse = c.call(ApiKey::Produce, version, &req).await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, want,
            "Produce v{version}: not in the transaction"
        );
    }
    let req = send(batch(0), "nobody");
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 49,
        "INVALID_PRODUCER_ID_MAPPING"
    );
    let p = broker.broker().topic("tx").expect("t").partitions[0].clone();
    assert_eq!(p.log_end_offset(), 0, "nothing written");

    let add: AddPartitionsToTxnResponse = c
        .call(
            ApiKey::AddPartitionsToTxn,
            3,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid)
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(name("tx"))
                    .with_partitions(vec![0])]),
        )
        .await;
    assert_eq!(
        add.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let req = send(batch(0), "verified");
    let r: ProduceResponse = c.call(ApiKey::Produce, 11, &req).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 0,
        "added: written"
    );
    assert_eq!(p.log_end_offset(), 1);
    assert_eq!(p.last_stable_offset(), 0, "the transaction is open");
    broker.shutdown().await.expect("shutdown");
}
