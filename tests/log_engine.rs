//! The log engine against a simple in-memory model, plus recovery, corruption, retention
//! and offset-lookup behaviour, all through the public API and real files.

use std::path::Path;

use proptest::prelude::*;
use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{decode_batch, encode_batch, NewRecord, Record};
use rafka::log::{
    batch, LogConfig, LogError, LogManager, OffsetSpec, PartitionLog, TimestampType, TopicPartition,
};

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig, opts: LoadOptions) -> PartitionLog {
    PartitionLog::open(
        dir.join("t-0"),
        TopicPartition::new("t", 0),
        config,
        None,
        opts,
    )
    .expect("open")
    .0
}

fn batch_of(values: &[String], ts: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| NewRecord::new(Some(format!("k{i}")), v.clone()).at(ts + i as i64))
        .collect();
    encode_batch(&recs, 0)
}

/// Decodes every record in a fetch response.
fn decode_all(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    for (at, h) in batch::BatchIter::new(bytes) {
        let size = h.size().expect("size");
        batch::check_integrity(&bytes[at..at + size]).expect("served batches are intact");
        out.extend(decode_batch(&bytes[at..at + size]).expect("decodes"));
    }
    out
}

/// Reads everything from `from` to the high watermark.
fn read_all(log: &PartitionLog, from: i64) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1500, true, i64::MAX).expect("read");
        let recs = decode_all(&data.records);
        assert!(
            !recs.is_empty(),
            "a read below the high watermark returns data"
        );
        offset = recs.last().expect("non-empty").offset + 1;
        out.extend(recs.into_iter().filter(|r| r.offset >= from));
    }
    out
}

#[derive(Clone, Debug)]
enum Op {
    Append { count: usize, len: usize },
    Read { pick: usize, max_bytes: usize },
    Roll,
    Reopen { clean: bool },
    Truncate { pick: usize },
    DeleteBefore { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..12, 0usize..300).prop_map(|(count, len)| Op::Append { count, len }),
        3 => (any::<usize>(), 1usize..3000).prop_map(|(pick, max_bytes)| Op::Read { pick, max_bytes }),
        1 => Just(Op::Roll),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => any::<usize>().prop_map(|pick| Op::Truncate { pick }),
        1 => any::<usize>().prop_map(|pick| Op::DeleteBefore { pick }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Append / read / roll / restart / truncate / delete-records against a model: a list
    /// of batches, each a list of values, plus the log start offset.
    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), small_config(), LoadOptions::default());
        let mut batches: Vec<(i64, Vec<String>)> = Vec::new();
        let mut start = 0i64;
        let mut seq = 0usize;
        for op in ops {
            let end = batches.last().map_or(start.max(0), |(b, v)| b + v.len() as i64).max(start);
            match op {
                Op::Append { count, len } => {
                    let values: Vec<String> = (0..count).map(|_| { seq += 1; format!("{seq}:{}", "x".repeat(len)) }).collect();
                    let mut b = batch_of(&values, 1_000 + seq as i64);
                    let info = log.append(&mut b, 0).expect("append");
                    prop_assert_eq!(info.base_offset, end);
                    prop_assert_eq!(info.last_offset, end + count as i64 - 1);
                    batches.push((end, values));
                }
                Op::Read { pick, max_bytes } => {
                    let offset = start + (pick % (end - start + 1) as usize) as i64;
                    let data = log.read(offset, max_bytes, true, i64::MAX).expect("read");
                    let recs = decode_all(&data.records);
                    prop_assert_eq!(data.log_end_offset, end);
                    if offset == end {
                        prop_assert!(recs.is_empty());
                    } else {
                        prop_assert!(!recs.is_empty(), "min_one_batch returns a batch");
                        prop_assert!(recs[0].offset <= offset, "starts with the batch holding the offset");
                        prop_assert!(recs.last().expect("some").offset >= offset);
                        let served = batch::BatchIter::new(&data.records).count();
                        if served > 1 && data.records.len() > max_bytes {
                            prop_assert!(false, "more than one batch over max_bytes");
                        }
                        for r in &recs {
                            let (b, vals) = batches.iter().rev().find(|(b, _)| *b <= r.offset).expect("in model");
                            let want = &vals[(r.offset - b) as usize];
                            prop_assert_eq!(r.value.as_deref(), Some(want.as_bytes()));
                        }
                    }
                }
                Op::Roll => log.roll().expect("roll"),
                Op::Reopen { clean } => {
                    let opts = if clean {
                        log.close().expect("close");
                        LoadOptions { clean_shutdown: true, recovery_point: end, log_start_offset: start }
                    } else {
                        LoadOptions { clean_shutdown: false, recovery_point: 0, log_start_offset: start }
                    };
                    drop(log);
                    log = open(dir.path(), small_config(), opts);
                }
                Op::Truncate { pick } => {
                    if end > start {
                        let offset = start + (pick % (end - start) as usize) as i64;
                        let new_end = log.truncate_to(offset).expect("truncate");
                        // the model cuts at the batch holding `offset`
                        batches.retain(|(b, v)| b + v.len() as i64 <= offset);
                        // (a cut into the batch that straddles the log start empties the log
                        // at that batch's base offset)
                        let model_end = batches.last().map_or(0, |(b, v)| b + v.len() as i64);
                        prop_assert_eq!(new_end, model_end);
                        start = start.min(new_end);
                    }
                }
                Op::DeleteBefore { pick } => {
                    let offset = start + (pick % (end - start + 1) as usize) as i64;
                    let low = log.delete_records_before(offset).expect("delete records");
                    prop_assert!(low >= offset);
                    start = low;
                    if start > 0 {
                        let below = log.read(start - 1, 100, true, i64::MAX);
                        let out_of_range = matches!(below, Err(LogError::OffsetOutOfRange { .. }));
                        prop_assert!(out_of_range, "below the log start is out of range");
                    }
                }
            }
            let end = batches.last().map_or(start, |(b, v)| b + v.len() as i64).max(start);
            prop_assert_eq!(log.log_end_offset(), end);
            prop_assert_eq!(log.log_start_offset(), start);
            let all = read_all(&log, start);
            let want: Vec<String> = batches.iter()
                .flat_map(|(b, v)| v.iter().enumerate().map(move |(i, s)| (b + i as i64, s)))
                .filter(|(o, _)| *o >= start)
                .map(|(_, s)| s.clone())
                .collect();
            let got: Vec<String> = all.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect();
            prop_assert_eq!(got, want);
        }
    }
}

fn write_batches(log: &PartitionLog, n: usize, per: usize) {
    for i in 0..n {
        let values: Vec<String> = (0..per)
            .map(|j| format!("b{i}r{j}-{}", "y".repeat(100)))
            .collect();
        let mut b = batch_of(&values, 10_000 + (i * per) as i64);
        log.append(&mut b, 0).expect("append");
    }
}

/// A torn last batch — cut at every byte — is truncated on recovery; every earlier batch
/// survives, and the log accepts appends after it.
#[test]
fn torn_tail_is_cut_at_every_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    write_batches(&log, 5, 3);
    log.close().expect("close");
    drop(log);
    let seg = dir.path().join("t-0/00000000000000000000.log");
    let full = std::fs::read(&seg).expect("read");
    let last_start = batch::BatchIter::new(&full).last().expect("batches").0;
    for cut in last_start + 1..full.len() {
        std::fs::write(&seg, &full[..cut]).expect("cut");
        let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
        assert_eq!(
            log.log_end_offset(),
            12,
            "cut at {cut}: 4 whole batches of 3 remain"
        );
        assert_eq!(read_all(&log, 0).len(), 12);
        assert_eq!(
            std::fs::metadata(&seg).expect("meta").len() as usize,
            last_start
        );
    }
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    write_batches(&log, 1, 2);
    assert_eq!(read_all(&log, 0).len(), 14);
}

/// Flipped bytes in the unflushed tail are truncated by recovery.
#[test]
fn corrupt_tail_is_truncated_on_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    write_batches(&log, 4, 2);
    drop(log); // crash: no close, no clean marker
    let seg = dir.path().join("t-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).expect("read");
    let third = batch::BatchIter::new(&bytes).nth(2).expect("third batch").0;
    bytes[third + 70] ^= 0x55; // inside the third batch's records
    std::fs::write(&seg, &bytes).expect("write");
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    assert_eq!(
        log.log_end_offset(),
        4,
        "batches 3 and 4 are gone, 1 and 2 remain"
    );
    assert_eq!(read_all(&log, 0).len(), 4);
}

/// After a clean shutdown nothing is scanned, so damage in old data is found on read:
/// the corrupt batch is never served, the data before it still is.
#[test]
fn corruption_in_flushed_data_is_detected_on_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    write_batches(&log, 6, 2);
    log.close().expect("close");
    drop(log);
    let seg = dir.path().join("t-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).expect("read");
    let (third, _) = batch::BatchIter::new(&bytes).nth(2).expect("third batch");
    bytes[third + 80] ^= 0x01;
    std::fs::write(&seg, &bytes).expect("write");
    let (log, report) = PartitionLog::open(
        dir.path().join("t-0"),
        TopicPartition::new("t", 0),
        LogConfig::default(),
        None,
        LoadOptions {
            clean_shutdown: true,
            recovery_point: 12,
            log_start_offset: 0,
        },
    )
    .expect("open");
    assert_eq!(report.recovered_segments, 0, "a clean open scans nothing");
    assert_eq!(log.log_end_offset(), 12);
    let err = log
        .read(4, 1 << 20, true, i64::MAX)
        .expect_err("corrupt batch");
    assert_eq!(err.code().code(), 2, "CORRUPT_MESSAGE: {err}");
    let data = log
        .read(0, 1 << 20, true, i64::MAX)
        .expect("read before the damage");
    let recs = decode_all(&data.records);
    assert_eq!(
        recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        log.read(6, 1 << 20, true, i64::MAX).is_ok(),
        "data after the damage is still served"
    );
}

#[test]
fn rejected_appends_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 600,
            ..LogConfig::default()
        },
        LoadOptions::default(),
    );
    write_batches(&log, 1, 2);
    let mut big = batch_of(&["z".repeat(700)], 1);
    assert_eq!(
        log.append(&mut big, 0)
            .expect_err("too large")
            .code()
            .code(),
        10
    );
    let mut good = batch_of(&["ok".into()], 1);
    let mut bad = batch_of(&["bad".into()], 1);
    let n = bad.len();
    bad[n - 1] ^= 1;
    good.extend_from_slice(&bad);
    assert_eq!(log.append(&mut good, 0).expect_err("crc").code().code(), 2);
    assert_eq!(
        log.log_end_offset(),
        2,
        "the valid batch before the bad one was not appended"
    );
    assert_eq!(read_all(&log, 0).len(), 2);
}

#[test]
fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_config(), LoadOptions::default());
    write_batches(&log, 40, 3);
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3, "4 KiB segments roll: {bases:?}");
    for b in &bases {
        assert!(dir.path().join(format!("t-0/{b:020}.log")).exists());
        assert!(dir.path().join(format!("t-0/{b:020}.index")).exists());
        assert!(dir.path().join(format!("t-0/{b:020}.timeindex")).exists());
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 120);
    assert!(all.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    let data = log.read(bases[2], 100, false, i64::MAX).expect("read");
    assert!(
        data.records.is_empty(),
        "without min_one_batch a batch over max_bytes is not returned"
    );
}

#[test]
fn offsets_by_timestamp_max_timestamp_and_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_config(), LoadOptions::default());
    // batch i has records at 10_000 + 3i + j
    write_batches(&log, 30, 3);
    let at = |spec| log.list_offset(spec, i64::MAX).expect("list offsets");
    assert_eq!(at(OffsetSpec::Earliest).expect("some").offset, 0);
    assert_eq!(at(OffsetSpec::Latest).expect("some").offset, 90);
    let t = at(OffsetSpec::Timestamp(10_040)).expect("found");
    assert_eq!(
        (t.offset, t.timestamp),
        (40, 10_040),
        "first record at or after the time, mid-batch"
    );
    assert_eq!(t.leader_epoch, Some(0));
    assert_eq!(at(OffsetSpec::Timestamp(0)).expect("found").offset, 0);
    assert_eq!(
        at(OffsetSpec::Timestamp(99_999)),
        None,
        "no record that late: -1"
    );
    let m = at(OffsetSpec::MaxTimestamp).expect("found");
    assert_eq!((m.offset, m.timestamp), (89, 10_089));
    assert!(matches!(
        log.read(91, 10, true, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log
        .read(90, 10, true, i64::MAX)
        .expect("at the end")
        .records
        .is_empty());
}

#[test]
fn log_append_time_stamps_the_broker_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, LoadOptions::default());
    let before = rafka::log::now_ms();
    let mut b = batch_of(&["a".into(), "b".into()], 5);
    let info = log.append(&mut b, 0).expect("append");
    assert!(info.log_append_time >= before);
    let recs = read_all(&log, 0);
    assert!(recs.iter().all(|r| r.timestamp == info.log_append_time));
}

#[test]
fn retention_by_bytes_and_time_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_bytes: 8192,
        ..small_config()
    };
    let log = open(dir.path(), config, LoadOptions::default());
    write_batches(&log, 60, 3);
    let before = log.segment_base_offsets();
    let deleted = log.enforce_retention(10_000).expect("retention");
    assert!(deleted > 0);
    assert!(log.size_in_bytes() <= 8192 + 4096);
    let after = log.segment_base_offsets();
    assert_eq!(log.log_start_offset(), after[0]);
    assert_eq!(after.last(), before.last(), "the active segment stays");
    assert!(!dir
        .path()
        .join(format!("t-0/{:020}.log", before[0]))
        .exists());
    assert_eq!(
        read_all(&log, log.log_start_offset()).len() as i64,
        180 - log.log_start_offset()
    );

    // retention.ms: everything is older than a day at "now" = far future; the active
    // segment is rolled so that it can go too, leaving an empty log at the end offset
    log.set_config(LogConfig {
        retention_ms: 86_400_000,
        ..config
    });
    log.enforce_retention(10_000 + 2 * 86_400_000)
        .expect("retention");
    assert_eq!(log.log_start_offset(), 180);
    assert_eq!(log.log_end_offset(), 180);
    assert!(log
        .read(180, 100, true, i64::MAX)
        .expect("read")
        .records
        .is_empty());
}

/// The epoch cache records where each leader epoch starts, in Kafka's checkpoint format.
#[test]
fn leader_epoch_cache_is_checkpointed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogConfig::default(), LoadOptions::default());
    let mut b = batch_of(&["a".into()], 1);
    log.append(&mut b, 0).expect("append");
    let mut b = batch_of(&["b".into(), "c".into()], 1);
    log.append(&mut b, 3).expect("append");
    assert_eq!(log.leader_epochs(), vec![(0, 0), (3, 1)]);
    let text =
        std::fs::read_to_string(dir.path().join("t-0/leader-epoch-checkpoint")).expect("read");
    assert_eq!(text, "0\n2\n0 0\n3 1\n");
    assert_eq!(log.epoch_for(2), Some(3));
    let data = log.read(1, 1000, true, i64::MAX).expect("read");
    let h = batch::BatchHeader::parse(&data.records).expect("header");
    assert_eq!(h.partition_leader_epoch, 3);
}

/// The checks Kafka's `DumpLogSegments` makes, on Rafka's own files after a clean close:
/// every offset index entry is (last offset, start position) of a batch, every time index
/// entry's timestamp is the max timestamp of the batch ending at its offset, timestamps
/// strictly increase, and the files hold whole entries only.
#[test]
fn index_files_pass_dump_log_segments_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 64 * 1024,
            ..LogConfig::default()
        },
        LoadOptions::default(),
    );
    write_batches(&log, 200, 3);
    log.close().expect("close");
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 1);
    for base in bases {
        let p = |ext: &str| dir.path().join(format!("t-0/{base:020}.{ext}"));
        let data = std::fs::read(p("log")).expect("log");
        let batches: Vec<_> = batch::BatchIter::new(&data).collect();
        let index = std::fs::read(p("index")).expect("index");
        assert_eq!(index.len() % 8, 0);
        assert!(!index.is_empty(), "a 64 KiB segment has index entries");
        for e in index.chunks(8) {
            let rel = u32::from_be_bytes(e[..4].try_into().expect("4")) as i64;
            let pos = u32::from_be_bytes(e[4..].try_into().expect("4")) as usize;
            let (_, h) = batches
                .iter()
                .find(|(at, _)| *at == pos)
                .expect("entry points at a batch start");
            assert_eq!(
                h.last_offset(),
                base + rel,
                "offset index entry = last offset of its batch"
            );
        }
        let time = std::fs::read(p("timeindex")).expect("timeindex");
        assert_eq!(time.len() % 12, 0);
        let mut prev = i64::MIN;
        for e in time.chunks(12) {
            let ts = i64::from_be_bytes(e[..8].try_into().expect("8"));
            let rel = u32::from_be_bytes(e[8..].try_into().expect("4")) as i64;
            assert!(ts > prev, "time index timestamps strictly increase");
            prev = ts;
            let (_, h) = batches
                .iter()
                .find(|(_, h)| h.last_offset() == base + rel)
                .expect("entry offset ends a batch");
            assert_eq!(h.max_timestamp, ts);
        }
    }
}

/// One process per log dir, as Kafka's `.lock`: a second manager on the same dir is refused
/// while the first is open, and read-only tools see that it is in use; after a shutdown
/// the dir can be opened again.
#[test]
fn a_log_dir_is_locked_while_a_manager_has_it_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = LogManager::open(dir.path(), LogConfig::default(), 1).expect("open");
    let second = LogManager::open(dir.path(), LogConfig::default(), 1).expect_err("locked");
    assert!(matches!(second, LogError::DirInUse(_)), "{second}");
    assert_eq!(second.code().code(), 56);
    assert!(matches!(
        rafka::log::manager::ensure_not_in_use(dir.path()),
        Err(LogError::DirInUse(_))
    ));
    first.shutdown().expect("shutdown");
    rafka::log::manager::ensure_not_in_use(dir.path()).expect("free after shutdown");
    let again = LogManager::open(dir.path(), LogConfig::default(), 1).expect("reopen");
    drop(first);
    drop(again);
    rafka::log::manager::ensure_not_in_use(dir.path()).expect("free after drop");
}

/// `keys[i]` is record i's key (`None`: null), one batch at base offset `base_offset`.
fn keyed_batch(keys: &[Option<&str>], base_offset: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = keys
        .iter()
        .map(|k| NewRecord::new(*k, "v").at(1_000))
        .collect();
    let mut b = encode_batch(&recs, 0);
    // the CRC does not cover the base offset
    b[batch::BASE_OFFSET..batch::BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    b
}

/// Kafka's `LogValidator.validateKey` applies to a leader's appends of a client's records
/// on a topic whose `cleanup.policy` includes compact: a batch with a keyless record is
/// refused whole (INVALID_RECORD, the record's index), nothing written. The broker's own
/// batches (`append_internal`) and a follower's copies of the leader's batches are not
/// checked again, and a delete-policy log takes the same batch.
#[test]
fn compacted_logs_refuse_keyless_client_records_only() {
    use rafka::log::CleanupPolicy;
    let dir = tempfile::tempdir().expect("tempdir");
    for policy in [
        CleanupPolicy::COMPACT,
        CleanupPolicy {
            delete: true,
            compact: true,
        },
    ] {
        let log = open(
            &dir.path().join(policy.to_string()),
            LogConfig {
                cleanup_policy: policy,
                ..LogConfig::default()
            },
            LoadOptions::default(),
        );
        let mut keyed = keyed_batch(&[Some("a"), Some("b")], 0);
        log.append(&mut keyed, 0).expect("keyed records");
        let mut keyless = keyed_batch(&[Some("c"), None, Some("d")], 0);
        let err = log.append(&mut keyless, 0).expect_err("refused");
        assert_eq!(err.code().code(), 87, "{policy}: {err}");
        let LogError::RecordErrors { errors, total } = &err else {
            panic!("{policy}: {err:?}");
        };
        assert_eq!((errors[0].batch_index, errors.len(), *total), (1, 1, 1));
        assert_eq!(
            errors[0].message,
            "Compacted topic cannot accept message without key in topic partition t-0"
        );
        let shared = keyed_batch(&[None], 0);
        assert_eq!(
            log.append_shared(&shared, 0)
                .expect_err("refused")
                .code()
                .code(),
            87
        );
        assert_eq!(log.log_end_offset(), 2, "{policy}: nothing written");

        log.append_internal(&keyed_batch(&[None], 0), 0)
            .expect("the broker's own batch");
        assert_eq!(
            log.append_as_follower(&keyed_batch(&[None, None], 3))
                .expect("a follower's copy"),
            5
        );
        log.set_config(LogConfig::default());
        log.append(&mut keyed_batch(&[None], 0), 0)
            .expect("delete policy: keyless records taken");
        assert_eq!(log.log_end_offset(), 6);
    }
}
