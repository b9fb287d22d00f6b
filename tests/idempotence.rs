//! The idempotent producer's sequence checks through a partition log with real files:
//! duplicates, gaps, epochs, and the producer state after a clean restart (snapshot), a
//! crash (snapshot plus the log tail, or the whole log), truncation and retention.

use std::path::Path;

use rafka::log::partition_log::LoadOptions;
use rafka::log::producer_state;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{batch, LogConfig, PartitionLog, TopicPartition};

fn open(dir: &Path, config: LogConfig, clean_shutdown: bool) -> PartitionLog {
    PartitionLog::open(
        dir.join("t-0"),
        TopicPartition::new("t", 0),
        config,
        None,
        LoadOptions {
            clean_shutdown,
            ..LoadOptions::default()
        },
    )
    .expect("open")
    .0
}

/// A batch of `n` records from producer `pid` at `epoch`, first sequence `seq`.
fn idempotent(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..n)
        .map(|i| NewRecord::new(None::<Vec<u8>>, format!("p{pid}-s{}", seq + i as i32)).at(1_000))
        .collect();
    let mut b = encode_batch(&recs, 0);
    batch::set_producer(&mut b, pid, epoch, seq);
    b
}

fn append(log: &PartitionLog, b: &[u8]) -> Result<(i64, bool), i16> {
    let mut bytes = b.to_vec();
    log.append(&mut bytes, 0)
        .map(|i| (i.base_offset, i.duplicate))
        .map_err(|e| e.code().code())
}

/// Each producer's epoch and last batch: what a snapshot keeps (as Kafka's does).
fn last_batches(
    s: &producer_state::ProducerStates,
) -> Vec<(i64, i16, producer_state::BatchMetadata)> {
    let mut v: Vec<_> = s
        .iter()
        .map(|(pid, e)| (*pid, e.epoch, *e.batches.back().expect("a batch")))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 512,
        ..LogConfig::default()
    }
}

#[test]
fn retries_are_answered_with_original_offsets_and_gaps_and_old_epochs_refused() {
    let dir = tempfile::tempdir().expect("ok");
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(append(&log, &idempotent(1, 0, 0, 3)), Ok((0, false)));
    assert_eq!(append(&log, &idempotent(2, 0, 0, 1)), Ok((3, false)));
    assert_eq!(append(&log, &idempotent(1, 0, 3, 2)), Ok((4, false)));
    // the retry of the first batch: its offset, nothing written
    assert_eq!(append(&log, &idempotent(1, 0, 0, 3)), Ok((0, true)));
    assert_eq!(append(&log, &idempotent(1, 0, 3, 2)), Ok((4, true)));
    assert_eq!(log.log_end_offset(), 6);
    // a gap: OUT_OF_ORDER_SEQUENCE_NUMBER
    assert_eq!(append(&log, &idempotent(1, 0, 6, 1)), Err(45));
    // a bumped epoch must start at 0; then the old epoch is fenced
    assert_eq!(append(&log, &idempotent(1, 1, 5, 1)), Err(45));
    assert_eq!(append(&log, &idempotent(1, 1, 0, 1)), Ok((6, false)));
    assert_eq!(append(&log, &idempotent(1, 0, 5, 1)), Err(47));
    // an unknown producer is accepted at any sequence (Kafka 4 does the same)
    assert_eq!(append(&log, &idempotent(9, 3, 77, 1)), Ok((7, false)));
    // plain batches are not tracked
    let plain = encode_batch(&[NewRecord::new(None::<Vec<u8>>, "x").at(1)], 0);
    assert_eq!(append(&log, &plain), Ok((8, false)));
    assert_eq!(append(&log, &plain), Ok((9, false)));
    assert_eq!(log.log_end_offset(), 10);
}

#[test]
fn clean_restart_loads_the_snapshot_written_at_close() {
    let dir = tempfile::tempdir().expect("ok");
    let log = open(dir.path(), LogConfig::default(), false);
    append(&log, &idempotent(5, 2, 0, 4)).expect("ok");
    append(&log, &idempotent(5, 2, 4, 4)).expect("ok");
    log.close().expect("ok");
    let before = log.producer_states();
    drop(log);
    let snap = producer_state::snapshot_path(&dir.path().join("t-0"), 8);
    assert!(snap.exists(), "close writes <log end>.snapshot");
    let log = open(dir.path(), LogConfig::default(), true);
    // a snapshot keeps each producer's last batch, as Kafka's does
    assert_eq!(last_batches(&log.producer_states()), last_batches(&before));
    assert_eq!(append(&log, &idempotent(5, 2, 4, 4)), Ok((4, true)));
    assert_eq!(append(&log, &idempotent(5, 2, 9, 1)), Err(45));
    assert_eq!(append(&log, &idempotent(5, 1, 8, 1)), Err(47));
    assert_eq!(append(&log, &idempotent(5, 2, 8, 1)), Ok((8, false)));
}

#[test]
fn after_a_crash_the_state_is_rebuilt_from_the_roll_snapshot_and_the_log_tail() {
    let dir = tempfile::tempdir().expect("ok");
    let log = open(dir.path(), small(), false);
    let mut seq = 0;
    for _ in 0..30 {
        append(&log, &idempotent(7, 0, seq, 3)).expect("ok");
        seq += 3;
    }
    append(&log, &idempotent(8, 4, 100, 2)).expect("ok");
    assert!(
        log.segment_base_offsets().len() > 2,
        "the small segments rolled"
    );
    let pdir = dir.path().join("t-0");
    let snaps = producer_state::list_snapshots(&pdir).expect("ok");
    assert!(!snaps.is_empty(), "each roll writes a snapshot");
    let expected = last_batches(&log.producer_states());
    drop(log); // no close: as after kill -9
    let log = open(dir.path(), small(), false);
    assert_eq!(
        last_batches(&log.producer_states()),
        expected,
        "snapshot + tail replay"
    );
    assert_eq!(append(&log, &idempotent(7, 0, seq - 3, 3)), Ok((87, true)));
    assert_eq!(append(&log, &idempotent(8, 4, 100, 2)), Ok((90, true)));
    assert_eq!(append(&log, &idempotent(7, 0, seq, 1)), Ok((92, false)));

    // without any snapshot, a crash replays the whole log
    let expected = last_batches(&log.producer_states());
    drop(log);
    for s in producer_state::list_snapshots(&pdir).expect("ok") {
        producer_state::delete_snapshot(&pdir, s).expect("ok");
    }
    let log = open(dir.path(), small(), false);
    let replayed = log.producer_states();
    assert_eq!(last_batches(&replayed), expected, "full replay");
    assert_eq!(
        replayed.get(7).expect("ok").batches.len(),
        producer_state::BATCHES_TO_RETAIN,
        "a replay remembers the last five batches"
    );
}

#[test]
fn a_corrupt_snapshot_is_ignored_and_the_log_replayed() {
    let dir = tempfile::tempdir().expect("ok");
    let log = open(dir.path(), LogConfig::default(), false);
    append(&log, &idempotent(3, 0, 0, 2)).expect("ok");
    append(&log, &idempotent(3, 0, 2, 2)).expect("ok");
    log.close().expect("ok");
    let expected = log.producer_states();
    drop(log);
    let snap = producer_state::snapshot_path(&dir.path().join("t-0"), 4);
    let mut bytes = std::fs::read(&snap).expect("ok");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snap, bytes).expect("ok");
    let log = open(dir.path(), LogConfig::default(), false);
    assert!(!snap.exists(), "the corrupt snapshot was deleted");
    assert_eq!(log.producer_states(), expected);
    assert_eq!(append(&log, &idempotent(3, 0, 2, 2)), Ok((2, true)));
}

#[test]
fn truncation_rebuilds_the_state_and_retention_evicts_deleted_producers() {
    let dir = tempfile::tempdir().expect("ok");
    let log = open(dir.path(), small(), false);
    for i in 0..20 {
        append(&log, &idempotent(1, 0, i * 2, 2)).expect("ok");
    }
    append(&log, &idempotent(2, 0, 0, 1)).expect("ok"); // offset 40
    log.truncate_to(40).expect("ok");
    assert!(log.producer_states().get(2).is_none(), "its batch was cut");
    assert_eq!(append(&log, &idempotent(1, 0, 38, 2)), Ok((38, true)));
    // producer 2 is unknown again: accepted at any sequence
    assert_eq!(append(&log, &idempotent(2, 0, 5, 1)), Ok((40, false)));

    log.delete_records_before(40).expect("ok");
    let states = log.producer_states();
    assert!(
        states.get(1).is_none(),
        "producer 1's last batch is below the log start"
    );
    assert!(states.get(2).is_some());
}
