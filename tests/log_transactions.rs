//! Transactions in the log (Kafka's `ProducerStateManager` and `TransactionIndex`), on real
//! files through `PartitionLog` and `Partition`: the last stable offset while a
//! transaction is open and after its marker, aborted transactions and their `.txnindex`
//! bytes, reopening after a clean close and after a crash, truncation below a marker, a
//! follower replaying the leader's bytes, fencing, coordinator appends, and the cleaner
//! (aborted records are neither mapped nor kept; markers and index entries survive).

use std::path::Path;
use std::sync::Arc;

use rafka::log::batch::{self, BatchIter};
use rafka::log::cleaner::{Cleaner, CleanerConfig};
use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{decode_batch, encode_batch, NewRecord};
use rafka::log::{
    AbortedTxn, CleanupPolicy, LogConfig, PartitionLog, Ratio, TopicPartition, TxnMarker,
};
use rafka::partition::{AppendOrigin, Partition, ReadBound};

/// Kafka's `RecordBatch` attribute bit for transactional batches.
const TRANSACTIONAL: u8 = 0x10;

fn open_at(dir: &Path, config: LogConfig, clean_shutdown: bool) -> PartitionLog {
    PartitionLog::open(
        dir.join("t-0"),
        TopicPartition::new("t", 0),
        config,
        None,
        LoadOptions {
            clean_shutdown,
            recovery_point: 0,
            log_start_offset: 0,
        },
    )
    .expect("open")
    .0
}

fn open(dir: &Path) -> PartitionLog {
    open_at(dir, LogConfig::default(), true)
}

/// A batch of `values` (keyed by themselves) from producer `pid` at `epoch` starting at
/// sequence `seq`, transactional or not; `pid` -1 is a plain batch.
fn data(pid: i64, epoch: i16, seq: i32, txn: bool, values: &[&str]) -> Vec<u8> {
    let records: Vec<NewRecord> = values
        .iter()
        .map(|v| NewRecord::new(Some(v.as_bytes()), v.as_bytes()).at(rafka::log::now_ms()))
        .collect();
    let mut b = encode_batch(&records, -1);
    if txn {
        b[batch::ATTRIBUTES + 1] |= TRANSACTIONAL;
    }
    if pid >= 0 {
        batch::set_producer(&mut b, pid, epoch, seq);
    }
    b
}

fn marker(pid: i64, epoch: i16, coordinator_epoch: i32, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch,
        commit,
    }
}

fn append(log: &PartitionLog, mut b: Vec<u8>) -> i64 {
    log.append(&mut b, 0).expect("append").base_offset
}

fn txn_index_bytes(dir: &Path, base: i64) -> Option<Vec<u8>> {
    std::fs::read(dir.join("t-0").join(format!("{base:020}.txnindex"))).ok()
}

/// Producer 7 aborts a transaction of offsets 0..=1 with plain data at 2 in between:
/// its marker is offset 3, and it is the 34-byte entry (7, 0, 3, 4).
fn aborted_at_3(log: &PartitionLog) {
    assert_eq!(append(log, data(7, 0, 0, true, &["a", "b"])), 0);
    assert_eq!(append(log, data(-1, -1, -1, false, &["plain"])), 2);
    assert_eq!(
        log.append_marker(&marker(7, 0, 5, false), 0, 2_000)
            .expect("abort"),
        3
    );
}

const ABORTED_AT_3: AbortedTxn = AbortedTxn {
    producer_id: 7,
    first_offset: 0,
    last_offset: 3,
    last_stable_offset: 4,
};

#[test]
fn an_open_transaction_holds_the_lso_until_its_commit_marker_is_replicated() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    assert_eq!(log.first_unstable_offset(0), None);
    append(&log, data(-1, -1, -1, false, &["before"]));
    assert_eq!(append(&log, data(3, 0, 0, true, &["t1", "t2"])), 1);
    // later plain data does not move it: the transaction still starts at 1
    append(&log, data(-1, -1, -1, false, &["x"]));
    append(&log, data(3, 0, 2, true, &["t3"]));
    assert_eq!(log.first_unstable_offset(log.log_end_offset()), Some(1));
    let at = log
        .append_marker(&marker(3, 0, 0, true), 0, 2_000)
        .expect("commit");
    assert_eq!(at, 5);
    // completed, but unreplicated while the high watermark is at or below the marker
    assert_eq!(log.first_unstable_offset(5), Some(1));
    assert_eq!(log.first_unstable_offset(6), None);
    assert!(log.aborted_transactions(0, 6).expect("read").is_empty());
    assert_eq!(
        txn_index_bytes(tmp.path(), 0),
        None,
        "created by aborts only"
    );
    let e = log.producer_states();
    let e = e.get(3).expect("producer");
    assert_eq!((e.current_txn_first_offset, e.coordinator_epoch), (None, 0));
    // the marker is Kafka's control batch: transactional|control, no sequence, one
    // record with key (0, COMMIT=1) and value (0, coordinator epoch 0)
    let bytes = log.read(5, 1 << 20, true, 6).expect("read").records;
    let (_, h) = BatchIter::new(&bytes).next().expect("marker batch");
    assert!(h.is_control() && h.is_transactional());
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (3, 0, -1)
    );
    let recs = rafka::log::records::decode_control_batch(&bytes).expect("decode");
    assert_eq!(recs[0].key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
    assert_eq!(recs[0].value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 0][..]));
}

#[test]
fn an_abort_is_listed_and_written_to_the_txnindex_as_kafkas_34_bytes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    aborted_at_3(&log);
    assert_eq!(
        log.aborted_transactions(0, 4).expect("read"),
        vec![ABORTED_AT_3]
    );
    // overlap rule: last offset >= from and first offset < to
    assert_eq!(log.aborted_transactions(3, 4).expect("read").len(), 1);
    assert!(log.aborted_transactions(4, 10).expect("read").is_empty());
    let mut want = vec![0u8, 0];
    for v in [7i64, 0, 3, 4] {
        want.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(txn_index_bytes(tmp.path(), 0), Some(want));
}

#[test]
fn reopening_after_a_close_or_a_crash_gives_the_same_lso_and_aborted_list() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    aborted_at_3(&log);
    // and a second transaction left open at 4
    assert_eq!(append(&log, data(8, 1, 0, true, &["open"])), 4);
    let lso = log.first_unstable_offset(log.log_end_offset());
    assert_eq!(lso, Some(4));
    log.close().expect("close");
    drop(log);

    let log = open(tmp.path());
    assert_eq!(log.first_unstable_offset(5), lso, "after a clean close");
    assert_eq!(
        log.aborted_transactions(0, 5).expect("read"),
        vec![ABORTED_AT_3]
    );
    drop(log);

    // a crash: no snapshot, no transaction index; both are rebuilt from the log
    let dir = tmp.path().join("t-0");
    for e in std::fs::read_dir(&dir).expect("dir") {
        let p = e.expect("entry").path();
        let name = p.to_string_lossy().into_owned();
        if name.ends_with(".snapshot") || name.ends_with(".txnindex") {
            std::fs::remove_file(&p).expect("remove");
        }
    }
    let log = open_at(tmp.path(), LogConfig::default(), false);
    assert_eq!(log.first_unstable_offset(5), lso, "after a crash");
    assert_eq!(
        log.aborted_transactions(0, 5).expect("read"),
        vec![ABORTED_AT_3]
    );
    assert_eq!(
        txn_index_bytes(tmp.path(), 0).map(|b| b.len()),
        Some(34),
        "the recovered segment's index was rebuilt"
    );
    // the rebuilt state still fences and completes as before
    let e = log.producer_states();
    assert_eq!(e.get(7).expect("7").coordinator_epoch, 5);
    assert_eq!(e.get(8).expect("8").current_txn_first_offset, Some(4));
}

#[test]
fn a_crash_drops_index_entries_past_the_log_end() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    aborted_at_3(&log);
    log.close().expect("close");
    drop(log);
    // the marker's batch is lost (the .log cut before it), its index entry survived
    let seg = tmp.path().join("t-0").join(format!("{:020}.log", 0));
    let bytes = std::fs::read(&seg).expect("log");
    let keep: usize = BatchIter::new(&bytes)
        .take(2)
        .map(|(_, h)| h.size().expect("size"))
        .sum();
    std::fs::write(&seg, &bytes[..keep]).expect("cut");
    let log = open_at(tmp.path(), LogConfig::default(), false);
    assert_eq!(log.log_end_offset(), 3);
    assert!(log.aborted_transactions(0, 10).expect("read").is_empty());
    assert_eq!(txn_index_bytes(tmp.path(), 0), None);
    // the transaction is open again
    assert_eq!(log.first_unstable_offset(3), Some(0));
}

#[test]
fn truncating_below_a_marker_reopens_the_transaction_and_drops_its_index_entry() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    aborted_at_3(&log);
    assert_eq!(log.first_unstable_offset(4), None);
    assert_eq!(log.truncate_to(3).expect("truncate"), 3);
    assert_eq!(log.first_unstable_offset(3), Some(0));
    assert!(log.aborted_transactions(0, 10).expect("read").is_empty());
    assert_eq!(txn_index_bytes(tmp.path(), 0), None);
    // and the producer can be aborted again
    log.append_marker(&marker(7, 0, 5, false), 0, 3_000)
        .expect("abort again");
    assert_eq!(
        log.aborted_transactions(0, 10).expect("read"),
        vec![ABORTED_AT_3]
    );
}

#[test]
fn a_follower_replaying_the_leaders_bytes_ends_with_the_same_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let leader = open(tmp.path());
    aborted_at_3(&leader);
    append(&leader, data(8, 1, 0, true, &["open"]));
    append(&leader, data(9, 0, 0, true, &["c"]));
    leader
        .append_marker(&marker(9, 0, 2, true), 0, 2_000)
        .expect("commit");
    let bytes = leader
        .read(0, 1 << 20, true, leader.log_end_offset())
        .expect("read")
        .records;
    let ftmp = tempfile::tempdir().expect("tmp");
    let follower = open(ftmp.path());
    follower.append_as_follower(&bytes).expect("replicate");
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    let hw = leader.log_end_offset();
    assert_eq!(
        follower.first_unstable_offset(hw),
        leader.first_unstable_offset(hw)
    );
    assert_eq!(follower.first_unstable_offset(hw), Some(4));
    assert_eq!(
        follower.aborted_transactions(0, hw).expect("f"),
        leader.aborted_transactions(0, hw).expect("l")
    );
    assert_eq!(
        txn_index_bytes(ftmp.path(), 0),
        txn_index_bytes(tmp.path(), 0)
    );
    assert_eq!(follower.producer_states(), leader.producer_states());
}

#[test]
fn markers_and_batches_are_fenced_as_kafka_fences_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path());
    append(&log, data(4, 2, 0, true, &["a"]));
    // ProducerAppendInfo.appendDataBatch: plain data while the transaction is open
    let mut plain = data(4, 2, 1, false, &["b"]);
    let err = log.append(&mut plain, 0).expect_err("refused");
    assert_eq!(err.code().code(), 48, "INVALID_TXN_STATE: {err}");
    log.append_marker(&marker(4, 2, 10, true), 0, 1)
        .expect("commit");
    let err = log
        .append_marker(&marker(4, 1, 10, false), 0, 1)
        .expect_err("old producer epoch");
    assert_eq!(err.code().code(), 47, "INVALID_PRODUCER_EPOCH: {err}");
    let err = log
        .append_marker(&marker(4, 2, 9, false), 0, 1)
        .expect_err("zombie coordinator");
    assert_eq!(
        err.code().code(),
        52,
        "TRANSACTION_COORDINATOR_FENCED: {err}"
    );
    let end = log.log_end_offset();
    // a marker for a producer with no open transaction is still written
    assert_eq!(
        log.append_marker(&marker(4, 2, 10, false), 0, 1)
            .expect("written"),
        end
    );
    assert!(log
        .aborted_transactions(0, end + 1)
        .expect("read")
        .is_empty());
}

fn offsets_partition(dir: &Path) -> Partition {
    let (log, _) = PartitionLog::open(
        dir.join("__consumer_offsets-0"),
        TopicPartition::new("__consumer_offsets", 0),
        LogConfig::default(),
        None,
        LoadOptions::default(),
    )
    .expect("open");
    Partition::new_local_leader(Arc::new(log), 1)
}

#[test]
fn a_coordinators_transactional_batch_without_sequence_opens_the_producers_transaction() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = offsets_partition(tmp.path());
    // the transaction coordinator's offset commit: producer id and epoch, base sequence -1
    let commit = data(11, 3, -1, true, &["offset"]);
    let err = p
        .append(&commit, AppendOrigin::Client)
        .expect_err("a client may not write here");
    assert_eq!(err.code().code(), 17);
    p.append(&commit, AppendOrigin::Coordinator)
        .expect("the coordinator may");
    p.append(&commit, AppendOrigin::Coordinator)
        .expect("no sequence: never a duplicate");
    assert_eq!(p.log_end_offset(), 2);
    assert_eq!(p.high_watermark(), 2);
    assert_eq!(p.last_stable_offset(), 0, "the transaction is open at 0");
    let r = p
        .read(0, 1 << 20, true, ReadBound::LastStable)
        .expect("read");
    assert!(r.records.is_empty(), "read_committed sees nothing yet");
    assert_eq!(r.last_stable_offset, 0);
    assert_eq!(p.append_marker(&marker(11, 3, 0, true)).expect("commit"), 2);
    // the marker moved the high watermark past itself: stable
    assert_eq!((p.high_watermark(), p.last_stable_offset()), (3, 3));
    let r = p
        .read(0, 1 << 20, true, ReadBound::LastStable)
        .expect("read");
    let offs: Vec<(i64, bool)> = BatchIter::new(&r.records)
        .map(|(_, h)| (h.base_offset, h.is_control()))
        .collect();
    assert_eq!(offs, vec![(0, false), (1, false), (2, true)]);
}

#[test]
fn the_partition_lists_aborts_and_refuses_markers_it_does_not_lead() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (log, _) = PartitionLog::open(
        tmp.path().join("t-0"),
        TopicPartition::new("t", 0),
        LogConfig::default(),
        None,
        LoadOptions::default(),
    )
    .expect("open");
    let log = Arc::new(log);
    let p = Partition::new_local_leader(Arc::clone(&log), 1);
    p.append(&data(5, 0, 0, true, &["x"]), AppendOrigin::Client)
        .expect("data");
    p.append_marker(&marker(5, 0, 0, false)).expect("abort");
    // the high watermark passed the marker: the completed transaction is forgotten (asked
    // with an older high watermark, the log no longer counts it)
    assert_eq!(p.high_watermark(), 2);
    assert_eq!(log.first_unstable_offset(0), None);
    assert_eq!(
        p.aborted_transactions(0, 2).expect("list"),
        vec![AbortedTxn {
            producer_id: 5,
            first_offset: 0,
            last_offset: 1,
            last_stable_offset: 2
        }]
    );
    let unassigned =
        Partition::new_unassigned(Arc::new(open(tempfile::tempdir().expect("tmp").path())), 1);
    let err = unassigned
        .append_marker(&marker(5, 0, 0, false))
        .expect_err("not the leader");
    assert_eq!(err.code().code(), 6);
}

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: Ratio::from_millionths(0),
        ..LogConfig::default()
    }
}

/// Every batch of the log, in order (a read returns one segment's at most).
fn all_batches(log: &PartitionLog) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(offset, 1 << 24, true, log.log_end_offset())
            .expect("read")
            .records;
        let before = out.len();
        for (at, h) in BatchIter::new(&bytes) {
            out.push(bytes[at..at + h.size().expect("size")].to_vec());
            offset = h.next_offset();
        }
        assert!(out.len() > before, "a read at {offset} returned nothing");
    }
    out
}

/// (offset, value) of every data record in the log.
fn contents(log: &PartitionLog) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in all_batches(log) {
        for r in decode_batch(&b).expect("decode") {
            let v = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            out.push((r.offset, v.unwrap_or_default()));
        }
    }
    out
}

#[test]
fn the_cleaner_drops_aborted_records_keeps_markers_and_moves_index_entries() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open_at(tmp.path(), compact_config(), true);
    // key "k": committed "k" at 0 (transactional), then an aborted "k" at 2 that must not
    // displace it
    append(&log, data(1, 0, 0, true, &["k"]));
    log.append_marker(&marker(1, 0, 0, true), 0, 1_000)
        .expect("commit");
    append(&log, data(2, 0, 0, true, &["k"]));
    log.append_marker(&marker(2, 0, 0, false), 0, 1_000)
        .expect("abort");
    log.roll().expect("roll");
    append(&log, data(-1, -1, -1, false, &["other"]));
    let before = log.aborted_transactions(0, 10).expect("list");
    assert_eq!(before.len(), 1);
    let c = Cleaner::new(tmp.path(), CleanerConfig::default());
    c.clean(&log, log.log_end_offset(), 10_000)
        .expect("clean")
        .expect("cleaned");
    let kept = contents(&log);
    assert_eq!(
        kept,
        vec![(0, "k".to_string()), (4, "other".to_string())],
        "the aborted record is gone and did not displace the committed one"
    );
    // both markers are still there
    let markers: Vec<i64> = all_batches(&log)
        .iter()
        .filter_map(|b| batch::BatchHeader::parse(b))
        .filter(|h| h.is_control())
        .map(|h| h.base_offset)
        .collect();
    assert_eq!(markers, vec![1, 3]);
    assert_eq!(log.aborted_transactions(0, 10).expect("list"), before);
    assert_eq!(txn_index_bytes(tmp.path(), 0).map(|b| b.len()), Some(34));
}

#[test]
fn the_cleaner_stays_below_the_last_stable_offset() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (log, _) = PartitionLog::open(
        tmp.path().join("t-0"),
        TopicPartition::new("t", 0),
        compact_config(),
        None,
        LoadOptions::default(),
    )
    .expect("open");
    let log = Arc::new(log);
    let p = Partition::new_local_leader(Arc::clone(&log), 1);
    p.append(&data(-1, -1, -1, false, &["k"]), AppendOrigin::Client)
        .expect("a");
    p.append(&data(6, 0, 0, true, &["k"]), AppendOrigin::Client)
        .expect("open txn");
    log.roll().expect("roll");
    p.append(&data(-1, -1, -1, false, &["z"]), AppendOrigin::Client)
        .expect("c");
    assert_eq!(p.last_stable_offset(), 1);
    let c = Cleaner::new(tmp.path(), CleanerConfig::default());
    // the closed segment reaches past the LSO: nothing may be cleaned
    assert!(p.clean(&c, 10_000).expect("clean").is_none());
    assert_eq!(contents(&log).len(), 3);
}

/// Kafka's `completeSwapOperations` with a transaction index: a crash at any point of the
/// swap leaves the cleaned segment's entries in place (the `.txnindex` is not rebuilt
/// from the log, so it must never be deleted as the other indexes are).
#[test]
fn a_crash_during_the_swap_keeps_the_cleaned_transaction_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let name = |suffix: &str| dir.join(format!("{:020}.{suffix}", 0));
    let build = || {
        let _ = std::fs::remove_dir_all(&dir);
        let log = open_at(tmp.path(), compact_config(), true);
        append(&log, data(2, 0, 0, true, &["k"]));
        log.append_marker(&marker(2, 0, 0, false), 0, 1_000)
            .expect("abort");
        log.roll().expect("roll");
        append(&log, data(-1, -1, -1, false, &["other"]));
        log.close().expect("close");
    };
    let reopened = || {
        let log = open_at(tmp.path(), compact_config(), true);
        let found = log.aborted_transactions(0, 10).expect("list");
        (log.log_end_offset(), found)
    };
    let want = vec![AbortedTxn {
        producer_id: 2,
        first_offset: 0,
        last_offset: 1,
        last_stable_offset: 2,
    }];

    // 1. after the commit point, before the old segment went: the .swap files win
    build();
    let entry = std::fs::read(name("txnindex")).expect("index");
    std::fs::copy(name("log"), name("log.swap")).expect("swap log");
    std::fs::write(name("txnindex.swap"), &entry).expect("swap index");
    std::fs::write(name("txnindex"), [entry.clone(), entry.clone()].concat())
        .expect("an old index that must go");
    assert_eq!(reopened(), (3, want.clone()));
    assert!(!name("txnindex.swap").exists() && !name("log.swap").exists());

    // 2. the old segment deleted and the index renamed, the .log not yet
    build();
    std::fs::rename(name("log"), name("log.swap")).expect("swap log");
    assert_eq!(reopened(), (3, want.clone()), "the renamed index is kept");

    // 3. before the commit point (no .log.swap): an index's .swap is dropped
    build();
    std::fs::write(name("txnindex.swap"), [entry.clone(), entry].concat()).expect("swap");
    assert_eq!(reopened(), (3, want));
    assert!(!name("txnindex.swap").exists());
}
