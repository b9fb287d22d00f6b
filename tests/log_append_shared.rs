//! `PartitionLog::append_shared` (what Produce uses: the request's bytes are not copied,
//! rewritten headers are written beside them) against `append` (which rewrites the
//! caller's buffer in place): the same files, the caller's bytes untouched, and nothing
//! written when any batch of an append is invalid.

use std::path::Path;

use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{batch, LogConfig, PartitionLog, TimestampType, TopicPartition};

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(
        dir.join("t-0"),
        TopicPartition::new("t", 0),
        config,
        None,
        LoadOptions::default(),
    )
    .expect("open")
    .0
}

/// `n` records from offset delta 0; the header's max timestamp is set to `header_max_ts`
/// (a producer's mistake the log corrects under CreateTime, rewriting the CRC).
fn batch_with(n: usize, ts: i64, header_max_ts: Option<i64>) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..n)
        .map(|i| NewRecord::new(Some(format!("k{i}")), "v".repeat(300 + i)).at(ts + i as i64))
        .collect();
    let mut b = encode_batch(&recs, -1);
    if let Some(max) = header_max_ts {
        b[batch::MAX_TIMESTAMP..batch::MAX_TIMESTAMP + 8].copy_from_slice(&max.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    b
}

fn segment_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("t-0").join("00000000000000000000.log")).expect("segment")
}

/// Appends of one and of several batches, with and without a header the log must rewrite
/// (CRC included), under both timestamp types: byte-identical segment files either way.
#[test]
fn shared_and_in_place_appends_write_the_same_bytes() {
    for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let config = LogConfig {
            timestamp_type,
            ..LogConfig::default()
        };
        let appends: Vec<Vec<u8>> = vec![
            batch_with(3, 1_000, None),
            [batch_with(2, 2_000, None), batch_with(5, 3_000, Some(0))].concat(),
            batch_with(1, 4_000, Some(99)),
        ];
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (in_place, shared) = (open(a.path(), config), open(b.path(), config));
        let mut written = Vec::new();
        for (i, bytes) in appends.iter().enumerate() {
            let mut buf = bytes.clone();
            let x = in_place.append(&mut buf, 3).expect("append");
            let y = shared.append_shared(bytes, 3).expect("append_shared");
            assert_eq!(x.base_offset, y.base_offset, "append {i}");
            assert_eq!(x.last_offset, y.last_offset, "append {i}");
            written.extend_from_slice(&buf);
        }
        let file = segment_bytes(b.path());
        assert_eq!(
            segment_bytes(a.path()),
            written,
            "append rewrote the caller's buffer as it wrote it"
        );
        for (at, h) in batch::BatchIter::new(&file) {
            let whole = batch::check_integrity(&file[at..at + h.size().expect("size")]);
            assert_eq!(whole.expect("intact").partition_leader_epoch, 3);
        }
        // LogAppendTime stamps each log's own clock: compare without it (and its CRC)
        let without_clock = |mut f: Vec<u8>| {
            if timestamp_type == TimestampType::LogAppendTime {
                let starts: Vec<usize> = batch::BatchIter::new(&f).map(|(at, _)| at).collect();
                for at in starts {
                    f[at + batch::CRC..at + batch::CRC + 4].fill(0);
                    f[at + batch::MAX_TIMESTAMP..at + batch::MAX_TIMESTAMP + 8].fill(0);
                }
            }
            f
        };
        assert_eq!(
            without_clock(file.clone()),
            without_clock(written),
            "{timestamp_type:?}"
        );
        let read = shared.read(0, 1 << 20, true, i64::MAX).expect("read");
        assert_eq!(&read.records[..], &file[..]);
        // the offsets were assigned on disk, not in the caller's bytes
        assert_eq!(
            batch::BatchHeader::parse(&appends[1])
                .expect("h")
                .base_offset,
            0
        );
    }
}

/// Kafka validates the whole request before writing: a bad second batch means the good
/// first one is not written either.
#[test]
fn an_invalid_batch_means_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let log = open(dir.path(), LogConfig::default());
    log.append_shared(&batch_with(2, 1, None), 0)
        .expect("append");
    let size = log.size_in_bytes();
    let mut bad = batch_with(2, 5, None);
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // CRC mismatch
    let two = [batch_with(1, 9, None), bad].concat();
    let err = log.append_shared(&two, 0).expect_err("corrupt");
    assert_eq!(err.code().code(), 2, "CORRUPT_MESSAGE: {err}");
    assert_eq!(log.size_in_bytes(), size);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(segment_bytes(dir.path()).len() as u64, size);
}
