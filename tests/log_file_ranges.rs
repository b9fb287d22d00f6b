//! `PartitionLog::read_records`: which sections stay in the segment file (to be sent with
//! `sendfile`) and which are read, and that a range covers exactly what `read` returns:
//! the same whole batches, the same limits, never an unchecked batch.

use std::path::Path;

use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{LogConfig, PartitionLog, Records, TopicPartition, FILE_RANGE_MIN};

fn open(dir: &Path, clean_shutdown: bool) -> PartitionLog {
    PartitionLog::open(
        dir.join("t-0"),
        TopicPartition::new("t", 0),
        LogConfig::default(),
        None,
        LoadOptions {
            clean_shutdown,
            ..LoadOptions::default()
        },
    )
    .expect("open")
    .0
}

/// A one-record batch of about `size` bytes; returns its size on disk.
fn append(log: &PartitionLog, seed: u8, size: usize) -> usize {
    let value: Vec<u8> = (0..size).map(|i| seed.wrapping_add(i as u8)).collect();
    let mut b = encode_batch(&[NewRecord::new(None::<Vec<u8>>, value).at(1)], -1);
    log.append(&mut b, 0).expect("append");
    b.len()
}

fn file_len(r: &Records) -> Option<usize> {
    match r {
        Records::File(range) => Some(range.len()),
        Records::Bytes(_) => None,
    }
}

/// What `read` returns for the same arguments: the bytes of the range.
fn same_as_read(log: &PartitionLog, offset: i64, max: usize, min_one: bool, upto: i64) {
    let records = log
        .read_records(offset, max, min_one, upto)
        .expect("read_records")
        .records
        .into_bytes()
        .expect("bytes");
    let bytes = log.read(offset, max, min_one, upto).expect("read").records;
    assert_eq!(records, bytes, "offset {offset} max {max} upto {upto}");
}

#[test]
fn large_checked_batches_stay_in_the_file_within_the_same_limits_as_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open(dir.path(), false);
    let sizes: Vec<usize> = (0..8u8).map(|i| append(&log, i, 40_000)).collect();
    let size = sizes[0];
    // max_bytes: whole batches that fit
    let r = log
        .read_records(0, 2 * size + 10, false, i64::MAX)
        .expect("read");
    assert_eq!(file_len(&r.records), Some(2 * size));
    // the bound: nothing at or past it
    let r = log.read_records(1, 1 << 20, true, 5).expect("read");
    assert_eq!(file_len(&r.records), Some(4 * size));
    // a first batch larger than max_bytes: whole with min_one_batch, nothing without
    let r = log.read_records(2, 100, true, i64::MAX).expect("read");
    assert_eq!(file_len(&r.records), Some(size));
    let r = log.read_records(2, 100, false, i64::MAX).expect("read");
    assert!(r.records.is_empty());
    for (offset, max, min_one, upto) in [
        (0, 2 * size + 10, false, i64::MAX),
        (1, 1 << 20, true, 5),
        (2, 100, true, i64::MAX),
        (7, 1 << 20, true, i64::MAX),
        (3, 1 << 20, false, 4),
    ] {
        same_as_read(&log, offset, max, min_one, upto);
    }
}

#[test]
fn small_sections_and_small_batches_are_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open(dir.path(), false);
    for i in 0..40 {
        append(&log, i, 1_000); // below the batch size worth a header walk
    }
    append(&log, 1, 10_000);
    let r = log.read_records(0, 1 << 20, true, i64::MAX).expect("read");
    assert!(matches!(r.records, Records::Bytes(_)));
    // one large batch, but a section smaller than the threshold
    let r = log.read_records(40, 1 << 20, true, i64::MAX).expect("read");
    assert!(r.records.len() < FILE_RANGE_MIN);
    assert!(matches!(r.records, Records::Bytes(_)));
    same_as_read(&log, 0, 1 << 20, true, i64::MAX);
}

/// After a restart no batch has had its CRC checked: they are read (and checked) first,
/// and only what was checked is left in the file afterwards.
#[test]
fn unchecked_batches_are_read_before_they_are_sent_from_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let log = open(dir.path(), false);
        for i in 0..6 {
            append(&log, i, 40_000);
        }
        log.close().expect("close");
    }
    let log = open(dir.path(), true);
    let r = log.read_records(0, 1 << 20, true, i64::MAX).expect("read");
    assert!(matches!(r.records, Records::Bytes(_)), "checked first");
    // that read checked them all (from the start of the file): now they stay in the file
    let r = log.read_records(0, 1 << 20, true, i64::MAX).expect("read");
    assert!(matches!(r.records, Records::File(_)));
    same_as_read(&log, 2, 1 << 20, true, i64::MAX);
}
