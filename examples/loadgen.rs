//! A light load generator on librdkafka (the `rdkafka` crate): produces N records of a
//! given size as fast as it can, then consumes them back with assign(), and prints
//! records/s and MB/s for each phase. Bounded in records and time.
//!
//! cargo run --release --example loadgen -- --bootstrap 127.0.0.1:9092 --records 1000000 --size 1024

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

struct Args {
    bootstrap: String,
    topic: String,
    records: usize,
    size: usize,
    partitions: i32,
    acks: String,
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: "127.0.0.1:9092".into(),
        topic: format!("loadgen-{}", std::process::id()),
        records: 1_000_000,
        size: 1024,
        partitions: 4,
        acks: "1".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = v,
            "--topic" => a.topic = v,
            "--records" => a.records = v.parse().expect("--records N"),
            "--size" => a.size = v.parse().expect("--size BYTES"),
            "--partitions" => a.partitions = v.parse().expect("--partitions N"),
            "--acks" => a.acks = v,
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(&a.topic, a.partitions, TopicReplication::Fixed(1));
    let _ = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topic");

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .expect("producer");
    let payload: Vec<u8> = (0..a.size).map(|i| (i % 251) as u8).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    let start = Instant::now();
    for i in 0..a.records {
        let key = (i as u64).to_be_bytes();
        let mut record = BaseRecord::to(&a.topic).key(&key[..]).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    assert!(Instant::now() < deadline, "producer stuck");
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let produce = start.elapsed().as_secs_f64();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("group.id", "loadgen")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..a.partitions {
        tpl.add_partition_offset(&a.topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut seen = 0;
    while seen < a.records {
        assert!(Instant::now() < deadline, "consumer stuck at {seen}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.expect("consume");
            seen += 1;
        }
    }
    let consume = start.elapsed().as_secs_f64();
    let mb = (a.records * a.size) as f64 / 1e6;
    println!(
        "records={} size={} partitions={} acks={} produce: {:.0} records/s {:.1} MB/s ({:.2} s) consume: {:.0} records/s {:.1} MB/s ({:.2} s)",
        a.records,
        a.size,
        a.partitions,
        a.acks,
        a.records as f64 / produce,
        mb / produce,
        produce,
        a.records as f64 / consume,
        mb / consume,
        consume
    );
}
