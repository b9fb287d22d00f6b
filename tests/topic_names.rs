//! Issue #13 item 10: every topic name Kafka accepts (1-249 characters of
//! `[a-zA-Z0-9._-]`) works on both ports, including the longest ones, whose file names
//! (`-delete` dirs, config overrides) would overflow the 255-byte file name limit if the
//! topic were put in them whole. Kafka shortens the topic part of such names
//! (`LocalLog.logDeleteDirName`); so does Rafka.

mod support;

use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::Client;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A name of `len` characters using every legal character class.
fn name(len: usize, seed: u8) -> String {
    const LEGAL: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    (0..len)
        .map(|i| LEGAL[(i * 7 + usize::from(seed)) % LEGAL.len()] as char)
        .collect()
}

/// Sends one text command and reads reply lines up to `OK…`, `END…` or `ERR…`.
async fn text(stream: &mut BufReader<TcpStream>, line: &str) -> Vec<String> {
    stream
        .get_mut()
        .write_all(format!("{line}\n").as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let mut l = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut l))
            .await
            .expect("a reply within 10 s")
            .expect("read");
        assert!(n > 0, "the broker closed the text connection");
        let l = l.trim_end().to_string();
        let last = l.starts_with("OK") || l.starts_with("END") || l.starts_with("ERR");
        out.push(l);
        if last {
            return out;
        }
    }
    panic!("no end of reply");
}

/// Every file and directory under `dir`, as paths relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("ls").flatten() {
            let p = e.path();
            out.push(
                p.strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned(),
            );
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

async fn create(c: &mut Client, topic: &str, partitions: i32) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("123456789")))])])
        .with_timeout_ms(10_000);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    r.topics[0].error_code
}

async fn delete(c: &mut Client, topic: &str) -> i16 {
    let req = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))])
        .with_timeout_ms(10_000);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 6, &req).await;
    r.responses[0].error_code
}

/// The names of 244 to 249 characters, on both ports: created (with a config override
/// on the Kafka port), written and read, kept with their configs across a restart, and
/// deleted, leaving no file behind (no `.tmp`, no partition or `-delete` dir).
#[tokio::test]
async fn the_longest_names_kafka_accepts_work_on_both_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || rafka::BrokerBuilder::for_tests(dir.path()).start();
    let broker = start().await.expect("broker starts");
    let before = tree(dir.path());
    let mut c = Client::connect(broker.kafka_addr()).await;
    let mut t = BufReader::new(TcpStream::connect(broker.text_addr()).await.expect("text"));
    let kafka_names: Vec<String> = (244..=249).map(|len| name(len, 1)).collect();
    let text_names: Vec<String> = (244..=249).map(|len| name(len, 2)).collect();
    for n in &kafka_names {
        assert_eq!(
            create(&mut c, n, 2).await,
            0,
            "CreateTopics of {} chars",
            n.len()
        );
    }
    for n in &text_names {
        assert_eq!(
            text(&mut t, &format!("CREATE {n} 2")).await,
            ["OK"],
            "CREATE of {} chars",
            n.len()
        );
    }
    for n in kafka_names.iter().chain(&text_names) {
        assert_eq!(
            text(&mut t, &format!("PRODUCE {n} - v")).await.len(),
            1,
            "PRODUCE to {} chars",
            n.len()
        );
    }
    assert!(
        !tree(dir.path()).iter().any(|p| p.ends_with(".tmp")),
        "no .tmp file left"
    );
    drop(c);
    broker.shutdown().await.expect("shutdown");

    let broker = start().await.expect("broker restarts");
    let mut c = Client::connect(broker.kafka_addr()).await;
    let mut t = BufReader::new(TcpStream::connect(broker.text_addr()).await.expect("text"));
    for n in kafka_names.iter().chain(&text_names) {
        let topic = broker.broker().topic(n).expect("the topic is back");
        assert_eq!(topic.partitions.len(), 2);
        let records: usize = topic
            .partitions
            .iter()
            .map(|p| p.log_end_offset() as usize)
            .sum();
        assert_eq!(records, 1, "{} chars: the record is back", n.len());
    }
    for n in &kafka_names {
        let overrides = &broker.broker().topic(n).expect("topic").overrides;
        assert_eq!(
            overrides.get("retention.ms").map(String::as_str),
            Some("123456789"),
            "{} chars: the config override is back",
            n.len()
        );
        assert_eq!(
            delete(&mut c, n).await,
            0,
            "DeleteTopics of {} chars",
            n.len()
        );
    }
    for n in &text_names {
        assert_eq!(
            delete(&mut c, n).await,
            0,
            "DeleteTopics of {} chars",
            n.len()
        );
    }
    let topics = text(&mut t, "TOPICS").await;
    assert_eq!(topics, ["END"]);
    drop(c);
    broker.shutdown().await.expect("shutdown");
    let left: Vec<String> = tree(dir.path())
        .into_iter()
        .filter(|p| !before.contains(p))
        .filter(|p| !p.ends_with("checkpoint") && !p.ends_with(".kafka_cleanshutdown"))
        .filter(|p| p != ".rafka" && p != ".rafka/topics")
        .collect();
    assert_eq!(left, Vec::<String>::new(), "nothing left of the topics");
}

/// Names Kafka accepts that look like something else on disk: a leading `.` (the dir
/// `.hidden-0` is a partition, not Rafka's own metadata), a leading `-` or `_`, dots
/// only, and names ending like the suffixes of Kafka's special dirs. Each is created,
/// written, and back after a restart.
#[tokio::test]
async fn names_that_look_like_special_dirs_survive_a_restart() {
    let names = [
        ".hidden", ".rafka", "..x", "...", "-dash", "_under", "t-delete", "t-future", "t-0",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || rafka::BrokerBuilder::for_tests(dir.path()).start();
    let broker = start().await.expect("broker starts");
    let mut c = Client::connect(broker.kafka_addr()).await;
    for n in names {
        assert_eq!(create(&mut c, n, 2).await, 0, "CreateTopics {n}");
        let topic = broker.broker().topic(n).expect("created");
        topic.partitions[1]
            .append(
                &support::batch(&[(None, "v")]),
                rafka::partition::AppendOrigin::Client,
            )
            .expect("append");
    }
    drop(c);
    broker.shutdown().await.expect("shutdown");
    let broker = start().await.expect("broker restarts");
    for n in names {
        let topic = broker.broker().topic(n);
        let parts: Vec<i64> = topic
            .map(|t| t.partitions.iter().map(|p| p.log_end_offset()).collect())
            .unwrap_or_default();
        assert_eq!(
            parts,
            [0, 1],
            "{n}: both partitions and the record are back"
        );
    }
    broker.shutdown().await.expect("shutdown");
}
