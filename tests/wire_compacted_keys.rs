//! Records without a key on a compacted topic, through real frames on a real socket (issue
//! #16, item 2). Kafka's `LogValidator.validateKey` refuses a produced batch holding a
//! record whose key is null when the topic's `cleanup.policy` includes compact: the
//! partition answers INVALID_RECORD (87), and from Produce v8 the response names each such
//! record (`record_errors`: its index in the batch and Kafka's message) and carries the
//! refusal's message (`error_message`), as Kafka's ReplicaManager fills them from the
//! `RecordValidationException`. Nothing of the batch is written. librdkafka's test
//! 0011_produce_batch checks these per-record errors.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{batch, start_broker, Client};

const INVALID_RECORD: i16 = 87;
/// Upper bound for any one call.
const STEP: Duration = Duration::from_secs(20);

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic_data(topic: &str, records: Bytes) -> TopicProduceData {
    TopicProduceData::default()
        .with_name(topic_name(topic))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(records))])
}

/// Produces to partition 0 of each `(topic, records)` in one request (acks=all, Produce
/// `version`) and returns each partition's response, in order.
async fn produce_all(
    c: &mut Client,
    version: i16,
    batches: Vec<(&str, Bytes)>,
) -> Vec<PartitionProduceResponse> {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(
            batches
                .into_iter()
                .map(|(topic, records)| topic_data(topic, records))
                .collect(),
        );
    let r: ProduceResponse = tokio::time::timeout(STEP, c.call(ApiKey::Produce, version, &req))
        .await
        .expect("a produce response in time");
    r.responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .collect()
}

async fn produce(c: &mut Client, topic: &str, records: Bytes) -> PartitionProduceResponse {
    let mut parts = produce_all(c, 9, vec![(topic, records)]).await;
    assert_eq!(parts.len(), 1);
    parts.remove(0)
}

/// The log end offset of partition 0 (ListOffsets v7, latest).
async fn log_end(c: &mut Client, topic: &str) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
            ])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &req).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// `plain`'s records compressed with `codec` (1 gzip, 4 zstd) into one batch, header and
/// CRC as a producer writes them.
fn compressed(plain: &[u8], codec: i16) -> Bytes {
    use rafka::log::batch as b;
    use std::io::Write;
    let section = &plain[b::HEADER_SIZE..];
    let packed = match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(section).expect("gzip");
            e.finish().expect("gzip")
        }
        _ => {
            ruzstd::encoding::compress_to_vec(section, ruzstd::encoding::CompressionLevel::Fastest)
        }
    };
    let mut out = plain[..b::HEADER_SIZE].to_vec();
    out.extend_from_slice(&packed);
    let len = (out.len() - b::LOG_OVERHEAD) as i32;
    out[b::BATCH_LENGTH..b::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    out[b::ATTRIBUTES..b::ATTRIBUTES + 2].copy_from_slice(&codec.to_be_bytes());
    let crc = b::compute_crc(&out);
    out[b::CRC..b::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

/// What Kafka 4.x answers (v8+) for a batch whose records at `indexes` have no key, on
/// partition 0 of compacted `topic` with log start offset 0: the messages of
/// `LogValidator.validateKey` and `processRecordErrors`, `RecordError.toString` inside.
fn kafka_refusal(topic: &str, indexes: &[i32]) -> PartitionProduceResponse {
    let message =
        format!("Compacted topic cannot accept message without key in topic partition {topic}-0");
    let shown: Vec<String> = indexes
        .iter()
        .take(3)
        .map(|i| format!("RecordError(batchIndex={i}, message='{message}')"))
        .collect();
    PartitionProduceResponse::default()
        .with_index(0)
        .with_error_code(INVALID_RECORD)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(0)
        .with_record_errors(
            indexes
                .iter()
                .map(|&i| {
                    produce_response::BatchIndexAndErrorMessage::default()
                        .with_batch_index(i)
                        .with_batch_index_error_message(Some(StrBytes::from_string(
                            message.clone(),
                        )))
                })
                .collect(),
        )
        .with_error_message(Some(StrBytes::from_string(format!(
            "One or more records have been rejected due to {} record errors in total, and only \
             showing the first three errors at most: [{}]",
            indexes.len(),
            shown.join(", ")
        ))))
}

#[tokio::test]
async fn keyless_records_to_a_compacted_topic_get_invalid_record_with_record_errors() {
    let (broker, _dir) = start_broker().await;
    let compact = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    broker
        .broker()
        .create_topic("kv", 1, 1, compact, false)
        .expect("compacted topic");
    broker
        .broker()
        .create_topic("plain", 1, 1, BTreeMap::new(), false)
        .expect("delete-policy topic");
    let mut c = Client::connect(broker.kafka_addr()).await;

    let mixed = [
        (Some("k0"), "v0"),
        (None, "v1"),
        (Some("k2"), "v2"),
        (None, "v3"),
        (None, "v4"),
        (None, "v5"),
    ];
    let plain = batch(&mixed);
    for (name, records) in [
        ("uncompressed", plain.clone()),
        ("gzip", compressed(&plain, 1)),
        ("zstd", compressed(&plain, 4)),
    ] {
        let p = produce(&mut c, "kv", records).await;
        assert_eq!(p, kafka_refusal("kv", &[1, 3, 4, 5]), "{name}");
        assert_eq!(log_end(&mut c, "kv").await, 0, "{name}: nothing appended");
    }

    // before v8 the response has no place for them: the code alone
    let old = produce_all(&mut c, 7, vec![("kv", plain.clone())]).await;
    assert_eq!(
        (
            old[0].error_code,
            old[0].base_offset,
            old[0].record_errors.len()
        ),
        (INVALID_RECORD, -1, 0)
    );

    // keyed records to the compacted topic, keyless ones to a delete-policy topic
    let keyed = produce(&mut c, "kv", batch(&[(Some("a"), "1"), (Some(""), "2")])).await;
    assert_eq!((keyed.error_code, keyed.base_offset), (0, 0));
    assert!(keyed.record_errors.is_empty() && keyed.error_message.is_none());
    let keyed = produce(&mut c, "kv", compressed(&batch(&[(Some("b"), "3")]), 4)).await;
    assert_eq!((keyed.error_code, keyed.base_offset), (0, 2));
    let delete = produce(&mut c, "plain", plain.clone()).await;
    assert_eq!((delete.error_code, delete.base_offset), (0, 0));
    assert_eq!(log_end(&mut c, "kv").await, 3);
    assert_eq!(log_end(&mut c, "plain").await, 6);

    // one request: the compacted topic's partition refused, the other's appended
    let both = produce_all(
        &mut c,
        9,
        vec![
            ("kv", batch(&[(None, "x")])),
            ("plain", batch(&[(None, "y")])),
        ],
    )
    .await;
    assert_eq!(both[0], kafka_refusal("kv", &[0]));
    assert_eq!((both[1].error_code, both[1].base_offset), (0, 6));
    assert!(both[1].record_errors.is_empty() && both[1].error_message.is_none());
    assert_eq!(log_end(&mut c, "kv").await, 3);
    assert_eq!(log_end(&mut c, "plain").await, 7);

    broker.shutdown().await.expect("clean shutdown");
}
