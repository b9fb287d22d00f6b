//! The log cleaner (compaction) on real files, through the public log API: what survives
//! a cleaning, against a model (property test); tombstones and their delete horizon;
//! records without a key; idempotent producers' last batches; and the crash-safety of the
//! swap (`.cleaned` and `.swap` files found at open).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use proptest::prelude::*;
use rafka::log::batch::{self, BatchIter};
use rafka::log::cleaner::{Cleaner, CleanerConfig};
use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{decode_batch, encode_batch, NewRecord};
use rafka::log::{CleanupPolicy, LogConfig, PartitionLog, Ratio, TopicPartition};

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: Ratio::from_millionths(0),
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig, clean_shutdown: bool) -> PartitionLog {
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

/// Appends one record (a tombstone when `value` is `None`); returns its offset.
fn put(log: &PartitionLog, key: Option<&str>, value: Option<&str>, ts: i64) -> i64 {
    let rec = NewRecord {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        headers: Vec::new(),
        timestamp: ts,
    };
    let mut b = encode_batch(&[rec], 0);
    log.append(&mut b, 0).expect("append").last_offset
}

/// (offset, key, value) of every record in the log, read batch by batch from the files
/// as a consumer would (a read inside a gap returns the next batch).
fn contents(log: &PartitionLog) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let text =
        |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, true, i64::MAX).expect("read");
        let bytes = data.records;
        let mut next = offset;
        for (at, h) in BatchIter::new(&bytes) {
            let size = h.size().expect("size");
            let whole = &bytes[at..at + size];
            batch::check_integrity(whole).expect("a cleaned batch is intact");
            for r in decode_batch(whole).expect("decodes") {
                if r.offset >= offset {
                    out.push((r.offset, text(&r.key), text(&r.value)));
                }
            }
            next = h.next_offset();
        }
        assert!(
            next > offset,
            "a read at {offset} below the log end made progress"
        );
        offset = next;
    }
    out
}

fn cleaner(dir: &Path) -> Cleaner {
    Cleaner::new(dir, CleanerConfig::default())
}

#[test]
fn cleaning_keeps_the_last_record_of_each_key_at_its_offset_and_leaves_the_active_segment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = open(tmp.path(), compact_config(), true);
    let mut last: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for i in 0..200 {
        let key = format!("k{}", i % 7);
        let value = format!("v{i}");
        let o = put(&log, Some(&key), Some(&value), 1_000 + i);
        last.insert(key, (o, value));
    }
    let before = contents(&log);
    let active_base = *log.segment_base_offsets().last().expect("segments");
    assert!(
        log.segment_base_offsets().len() > 3,
        "several segments to clean"
    );
    let stats = cleaner(tmp.path())
        .clean(&log, log.log_end_offset(), 10_000)
        .expect("clean")
        .expect("a dirty log is cleaned");
    assert_eq!(
        stats.cleaned_to, active_base,
        "everything below the active segment"
    );
    let after = contents(&log);
    // the active segment is untouched
    let tail = |c: &[(i64, Option<String>, Option<String>)]| {
        c.iter()
            .filter(|r| r.0 >= active_base)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&after), tail(&before));
    // below it: exactly the records that are their key's last below the active segment
    let mut last_below: HashMap<String, i64> = HashMap::new();
    for (o, k, _) in before.iter().filter(|r| r.0 < active_base) {
        last_below.insert(k.clone().expect("key"), *o);
    }
    // (the map covers what is below the active segment only: a key whose last record is
    // in the active segment keeps its last one below it too)
    let expected: Vec<_> = before
        .iter()
        .filter(|r| r.0 < active_base && last_below.get(r.1.as_deref().unwrap_or("")) == Some(&r.0))
        .cloned()
        .collect();
    let below: Vec<_> = after
        .iter()
        .filter(|r| r.0 < active_base)
        .cloned()
        .collect();
    assert_eq!(below, expected);
    // every key's latest value is still there, at its offset
    for (k, (o, v)) in &last {
        assert!(
            after.contains(&(*o, Some(k.clone()), Some(v.clone()))),
            "{k} at {o}"
        );
    }
    // the cleaned log reopens (after a clean shutdown and after a crash) with the same contents
    log.close().expect("close");
    drop(log);
    for clean in [true, false] {
        let again = open(tmp.path(), compact_config(), clean);
        assert_eq!(contents(&again), after, "reopened, clean shutdown {clean}");
        again.close().expect("close");
    }
}
