//! A real Kafka client (librdkafka through the `rdkafka` crate) against an in-process
//! broker: 1M records over 8 partitions, produced and read back with assign().

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const RECORDS: usize = 1_000_000;
const PARTITIONS: i32 = 8;

fn value_of(i: usize) -> Vec<u8> {
    // varied bytes (not just text) so byte-identity means something
    let mut v = format!("record-{i}-").into_bytes();
    v.extend((0..(i % 64)).map(|j| (i.wrapping_mul(31) + j) as u8));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_million_records_over_eight_partitions() {
    let (broker, _dir) = support::start_broker().await;
    broker
        .broker()
        .create_topic("million", PARTITIONS, 1, Default::default(), false)
        .expect("topic");
    let bootstrap = broker.kafka_addr().to_string();

    let produced = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("linger.ms", "5")
                .set("queue.buffering.max.messages", "200000")
                .set("compression.type", "lz4")
                .create()
                .expect("producer");
            let deadline = Instant::now() + Duration::from_secs(240);
            for i in 0..RECORDS {
                let key = format!("key-{i}");
                let value = value_of(i);
                let partition = (i % PARTITIONS as usize) as i32;
                let mut record = BaseRecord::to("million")
                    .key(&key)
                    .payload(&value)
                    .partition(partition);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((e, r)) => {
                            assert!(Instant::now() < deadline, "producer stuck: {e}");
                            record = r;
                            producer.poll(Duration::from_millis(10));
                        }
                    }
                }
                if i % 1000 == 0 {
                    producer.poll(Duration::ZERO);
                }
            }
            producer
                .flush(Duration::from_secs(120))
                .expect("all records acknowledged");
        }
    });
    produced.await.expect("producer thread");

    let consumed = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "unused-with-assign")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset("million", p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&tpl).expect("assign");
        let mut next: HashMap<i32, i64> = HashMap::new();
        let mut seen = 0usize;
        let deadline = Instant::now() + Duration::from_secs(240);
        while seen < RECORDS {
            assert!(Instant::now() < deadline, "consumed only {seen} records");
            let Some(m) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m.expect("no consumer error");
            let p = m.partition();
            let want = next.entry(p).or_insert(0);
            assert_eq!(
                m.offset(),
                *want,
                "offsets contiguous and in order in partition {p}"
            );
            *want += 1;
            // partition p holds records p, p+8, p+16, ... in produce order
            let i = (m.offset() as usize) * PARTITIONS as usize + p as usize;
            assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()));
            assert_eq!(
                m.payload(),
                Some(&value_of(i)[..]),
                "byte-identical value of record {i}"
            );
            seen += 1;
        }
        next
    })
    .await
    .expect("consumer thread");
    assert_eq!(consumed.len(), PARTITIONS as usize);
    assert!(consumed
        .values()
        .all(|&n| n == (RECORDS / PARTITIONS as usize) as i64));
    broker.shutdown().await.expect("shutdown");
}
