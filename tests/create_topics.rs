//! Creating wide topics through the broker API (issue #12: a 1000-partition topic): every
//! partition dir is there with its files, and stays there across a restart.

use std::collections::BTreeMap;
use std::path::Path;

use rafka::broker::Broker;
use rafka::config::Config;
use rafka::log::checkpoint;

fn open(dir: &Path) -> Broker {
    Broker::open(Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    })
    .expect("broker opens")
}

/// What a new Kafka partition dir holds: `partition.metadata` with the topic id and the
/// first (empty) segment's three files, and nothing half-written.
fn assert_partition_dir(dir: &Path, topic_id: uuid::Uuid) {
    let meta = checkpoint::read_partition_metadata(&dir.join(checkpoint::PARTITION_METADATA_FILE))
        .expect("partition.metadata parses");
    assert_eq!(meta, Some(topic_id), "{}: topic id", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            "partition.metadata",
        ],
        "{}",
        dir.display()
    );
}

#[test]
fn a_1000_partition_topic_has_every_dir_after_a_restart() {
    const N: i32 = 1000;
    let tmp = tempfile::tempdir().expect("tempdir");
    let id = {
        let broker = open(tmp.path());
        let topic = broker
            .create_topic("wide", N, 1, BTreeMap::new(), false)
            .expect("create");
        assert_eq!(topic.partitions.len(), N as usize);
        for (i, p) in topic.partitions.iter().enumerate() {
            assert_eq!(p.topic_partition().partition, i as i32, "in order");
            assert_partition_dir(p.dir(), topic.id);
        }
        assert!(
            broker
                .create_topic("wide", 3, 1, BTreeMap::new(), false)
                .is_err_and(|e| e.code().code() == 36),
            "TOPIC_ALREADY_EXISTS"
        );
        topic.id
    };
    // no clean shutdown: what creation made durable is what a crash would leave
    let broker = open(tmp.path());
    let topic = broker.topic("wide").expect("the topic is back");
    assert_eq!(topic.id, id);
    assert_eq!(topic.partitions.len(), N as usize);
    for p in 0..N {
        assert_partition_dir(&tmp.path().join(format!("wide-{p}")), id);
    }

    // deleting it removes every dir; the name can be used again at once
    broker.delete_topic("wide").expect("delete");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("wide"))
        .collect();
    assert!(left.is_empty(), "{} dirs left", left.len());
    let again = broker
        .create_topic("wide", 2, 1, BTreeMap::new(), false)
        .expect("create again");
    assert_ne!(again.id, id);
    assert_partition_dir(&tmp.path().join("wide-1"), again.id);
}

/// CreatePartitions on a wide topic: the new partitions get the topic's id and files.
#[test]
fn growing_a_topic_by_500_partitions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broker = open(tmp.path());
    let topic = broker
        .create_topic("grow", 500, 1, BTreeMap::new(), false)
        .expect("create");
    let grown = broker.add_partitions("grow", 1000, false).expect("grow");
    assert_eq!(grown.partitions.len(), 1000);
    for (i, p) in grown.partitions.iter().enumerate() {
        assert_eq!(p.topic_partition().partition, i as i32);
        assert_partition_dir(p.dir(), topic.id);
    }
    assert!(
        broker
            .add_partitions("grow", 1000, false)
            .is_err_and(|e| e.code().code() == 37),
        "INVALID_PARTITIONS: no growth"
    );
}
