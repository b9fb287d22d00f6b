//! Record batches from arbitrary bytes: what a producer puts in a Produce request's
//! records field, and what a log segment may hold after corruption. Each input is checked
//! as given and again with every batch's CRC fixed up (so mutations get past the checksum):
//!
//! - `records::decode_batch` and `batch::check_integrity` on the raw bytes and on every
//!   batch `BatchIter` finds in them: errors are fine, panics are not;
//! - `validate::validate_append`; when it accepts the bytes, what it accepted must hold up:
//!   whole batches back to back covering the input, intact (CRC), decoding (compressed ones
//!   decompressed: validation walks their records too) to exactly their records with
//!   consecutive offsets and the max timestamp validation found;
//! - then the append itself on a real `PartitionLog`: it must succeed (or be refused by the
//!   idempotent producer's sequence and epoch checks, or answered as a duplicate, both of
//!   which depend on earlier inputs), leave every batch intact after the in-place rewrite
//!   (offsets, epoch, CRC), and read back byte for byte.

#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rafka::log::batch::{self, BatchHeader, BatchIter, TimestampType};
use rafka::log::partition_log::LoadOptions;
use rafka::log::{records, validate, LogConfig, LogError, PartitionLog, TopicPartition};

#[global_allocator]
static A: rafka::alloc_guard::GuardedAlloc = rafka::alloc_guard::GuardedAlloc;

struct State {
    log: PartitionLog,
    appends: AtomicU64,
}

/// A fresh scratch directory for this process, under `$RAFKA_FUZZ_DIR` (.ci/fuzz.sh points
/// it at a tmpfs directory it removes afterwards) or else the temp dir.
fn scratch_dir(target: &str) -> PathBuf {
    let base = std::env::var_os("RAFKA_FUZZ_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("rafka-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch dir");
    dir
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        // small segments (rolls happen) and retention that keeps the log to a few MiB
        let config = LogConfig {
            segment_bytes: 1 << 20,
            retention_bytes: 4 << 20,
            ..LogConfig::default()
        };
        let tp = TopicPartition::new("fuzz", 0);
        let dir = scratch_dir("record_batch").join(tp.dir_name());
        let opts = LoadOptions {
            clean_shutdown: true,
            ..LoadOptions::default()
        };
        let (log, _) = PartitionLog::open(dir, tp, config, None, opts).expect("log opens");
        State {
            log,
            appends: AtomicU64::new(0),
        }
    })
}

/// Whatever the bytes, decoding ends in a value or an error.
fn decode_anything(data: &[u8]) {
    let _ = records::decode_batch(data);
    let _ = batch::check_integrity(data);
    let mut iter = BatchIter::new(data);
    for (at, header) in iter.by_ref() {
        let size = header.size().expect("BatchIter yields sized batches");
        let one = &data[at..at + size];
        let _ = batch::check_integrity(one);
        let _ = records::decode_batch(one);
    }
    assert!(iter.position() <= data.len());
}

fn append_and_read_back(data: &[u8], validated: &[validate::ValidatedBatch]) {
    let s = state();
    let log = &s.log;
    let mut bytes = data.to_vec();
    let before = log.log_end_offset();
    let info = match log.append(&mut bytes, 0) {
        Ok(info) => info,
        // the idempotent producer's checks depend on what earlier inputs appended: a
        // sequence gap or an old epoch is a refusal, not a finding
        Err(LogError::OutOfOrderSequence(_) | LogError::InvalidProducerEpoch(_)) => {
            assert_eq!(
                log.log_end_offset(),
                before,
                "a refused append wrote nothing"
            );
            return;
        }
        Err(e) => panic!("validated records were refused by the append: {e}"),
    };
    if info.duplicate {
        // a retry of a batch an earlier input appended: its offsets, nothing written
        assert_eq!(log.log_end_offset(), before, "a duplicate wrote nothing");
        assert!(info.last_offset < before);
        return;
    }
    let count: i64 = validated
        .iter()
        .map(|v| i64::from(v.header.records_count))
        .sum();
    assert_eq!(info.base_offset, before);
    assert_eq!(info.last_offset - info.base_offset + 1, count);
    assert_eq!(log.log_end_offset(), info.last_offset + 1);
    let mut next = info.base_offset;
    for v in validated {
        let stored = &bytes[v.position..v.position + v.size];
        let h = batch::check_integrity(stored).expect("a rewritten batch is intact");
        assert_eq!(h.base_offset, next, "offsets assigned in order");
        next = h.next_offset();
    }
    let read = log
        .read(info.base_offset, bytes.len(), true, i64::MAX)
        .expect("read back");
    assert_eq!(&read.records[..], &bytes[..], "read back as written");

    if s.appends.fetch_add(1, Ordering::Relaxed) % 256 == 255 {
        log.enforce_retention(rafka::log::now_ms())
            .expect("retention");
    }
}

fn check(data: &[u8]) {
    decode_anything(data);

    let max = LogConfig::default().max_message_bytes;
    let Ok(validated) = validate::validate_append(data, max) else {
        return;
    };
    let mut end = 0;
    for v in &validated {
        assert_eq!(v.position, end, "batches back to back");
        end += v.size;
        let one = &data[v.position..v.position + v.size];
        let header = batch::check_integrity(one).expect("a validated batch is intact");
        assert_eq!(header, v.header);
        assert!(v.size <= max);
        if !header.is_control() {
            let recs = records::decode_batch(one).expect("a validated batch decodes");
            assert_eq!(recs.len(), header.records_count as usize);
            for (i, r) in recs.iter().enumerate() {
                assert_eq!(r.offset, header.base_offset + i as i64);
            }
            if header.timestamp_type() == TimestampType::CreateTime {
                // (validation starts from NO_TIMESTAMP, as Kafka's LogValidator does)
                let max_ts = recs
                    .iter()
                    .map(|r| r.timestamp)
                    .fold(batch::NO_TIMESTAMP, i64::max);
                assert_eq!(max_ts, v.max_timestamp, "max timestamp");
            }
        }
    }
    assert_eq!(end, data.len(), "validation covers every byte");

    append_and_read_back(data, &validated);
}

/// The same bytes with the CRC of every whole batch recomputed: a mutation almost never
/// keeps a CRC-32C valid, and this lets it reach the checks behind the checksum.
fn with_fixed_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut pos = 0;
    while let Some(size) = BatchHeader::parse(&out[pos..]).and_then(|h| h.size()) {
        if out.len() - pos < size {
            break;
        }
        let crc = batch::compute_crc(&out[pos..pos + size]);
        out[pos + batch::CRC..pos + batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        pos += size;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let fixed = with_fixed_crcs(data);
    if fixed != data {
        check(&fixed);
    }
});
