//! The open-file budget in process (issue #13 item 7), alone in its binary: the budget
//! and the count of open segment files are process-wide, so no other test may open logs
//! meanwhile.

use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{LogConfig, LogManager, TopicPartition};

/// In-process: with a budget of 8 open segment files, appends to 60 partitions (each
/// file left with unsynced writes, which closing syncs first) keep at most 8 open, and
/// every record reads back.
#[test]
fn the_budget_bounds_open_segment_files() {
    use rafka::log::open_files;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig::default();
    let logs = LogManager::open(dir.path(), config, 1).expect("open");
    open_files::set_budget(8);
    let tps: Vec<TopicPartition> = (0..60).map(|p| TopicPartition::new("b", p)).collect();
    let made = logs.create_logs(&tps, None, config).expect("create");
    for round in 0..3 {
        for log in &made {
            let rec = NewRecord::new(Some("k"), format!("r{round}")).at(rafka::log::now_ms());
            log.append(&mut encode_batch(&[rec], 0), 0).expect("append");
            assert!(
                open_files::open_count() <= 8,
                "{} segment files open",
                open_files::open_count()
            );
        }
    }
    for log in &made {
        let data = log.read(0, 1 << 20, true, i64::MAX).expect("read");
        let values: Vec<String> = rafka::log::batch::BatchIter::new(&data.records)
            .flat_map(|(at, h)| {
                let size = h.size().expect("size");
                rafka::log::records::decode_batch(&data.records[at..at + size]).expect("decode")
            })
            .map(|r| String::from_utf8_lossy(&r.value.expect("value")).into_owned())
            .collect();
        assert_eq!(values, ["r0", "r1", "r2"]);
        log.flush()
            .expect("flush after the file was closed and reopened");
    }
    logs.shutdown().expect("shutdown");
}
