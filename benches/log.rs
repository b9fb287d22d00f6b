//! Log engine benchmarks (`cargo bench --bench log`). Each group pairs the engine with the
//! plain file operation it is built on, in the same run, so the figure to quote is the
//! ratio of medians (see docs/perf.md):
//!
//! - `append/{16KiB,1MiB}`: appending 1 KiB records in batches of that size, no fsync,
//!   vs a sequential `write()` of the same bytes. `log_append` rewrites the caller's copy
//!   in place; `log_append_shared` (what Produce uses) writes from bytes it may not change.
//! - `append_idempotent/{16KiB,1MiB}`: the same appends (`append_shared`) of plain batches
//!   and of an idempotent producer's (producer id, epoch, a new sequence each time), so
//!   the cost of the producer state checks is the ratio of the two.
//! - `append_compressed/{codec}/{16KiB,1MiB}`: `append_shared` of one compressed batch of
//!   1 KiB JSON-like records (16 KiB or 1 MiB before compression) per codec, as Kafka
//!   producers send them; throughput in uncompressed bytes. Validation decompresses and
//!   walks every record, so this is where its cost shows (see docs/perf.md);
//!   `{codec}_decompress_only` is the decompression alone, the floor under it.
//! - `read_cached`: reading 1 MiB of cached batches vs a plain `pread` of the same bytes;
//!   `log_read_records` is the plaintext Fetch's read (a file range for `sendfile`).
//! - `group_commit/{1,8,64}`: appenders each doing append + fsync (acks=all); throughput
//!   in batches/s. Latency percentiles are printed by `group_commit_latency`.
//! - `reopen/{clean,after_kill}`: opening a log dir of `RAFKA_BENCH_REOPEN_MB` MiB
//!   (default 2048; 64 in test mode).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{batch, LogConfig, LogManager, PartitionLog, TopicPartition};

fn batch_bytes(total: usize) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..total / 1024)
        .map(|i| {
            NewRecord::new(Some(format!("key-{i}")), vec![b'v'; 1000])
                .at(1_700_000_000_000 + i as i64)
        })
        .collect();
    encode_batch(&recs, 0)
}

fn open_log(dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open(
        dir.join("bench-0"),
        TopicPartition::new("bench", 0),
        LogConfig::default(),
        None,
        LoadOptions::default(),
    )
    .expect("open")
    .0
}

/// Criterion's test mode: `cargo test --benches` (no `--bench` flag) or `-- --test`.
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    for (name, size) in [("16KiB", 16 * 1024), ("1MiB", 1024 * 1024)] {
        let template = batch_bytes(size);
        g.throughput(Throughput::Bytes(template.len() as u64));
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        let mut buf = template.clone();
        g.bench_function(BenchmarkId::new("log_append", name), |b| {
            b.iter(|| {
                buf.copy_from_slice(&template); // the append rewrites the header in place
                log.append(&mut buf, 0).expect("append")
            })
        });
        g.bench_function(BenchmarkId::new("log_append_shared", name), |b| {
            b.iter(|| log.append_shared(&template, 0).expect("append"))
        });
        drop(log);
        let path = dir.path().join("plain.log");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("file");
        let mut buf = template.clone();
        g.bench_function(BenchmarkId::new("plain_write", name), |b| {
            b.iter(|| {
                buf.copy_from_slice(&template); // same copy as above, so only the write differs
                f.write_all(&buf).expect("write")
            })
        });
    }
    g.finish();
}

/// Plain vs idempotent batches through `append_shared`, no fsync. Each iteration's batch
/// is prepared (copied, and for the idempotent one stamped with the next sequence and a
/// new CRC) outside the timed part, so only the append is measured.
fn append_idempotent(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_idempotent");
    for (name, size) in [("16KiB", 16 * 1024), ("1MiB", 1024 * 1024)] {
        let template = batch_bytes(size);
        let records = (size / 1024) as i32;
        g.throughput(Throughput::Bytes(template.len() as u64));
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        g.bench_function(BenchmarkId::new("plain", name), |b| {
            b.iter_batched_ref(
                || template.clone(),
                |buf| log.append_shared(buf, 0).expect("append"),
                BatchSize::SmallInput,
            )
        });
        let mut seq = 0i32;
        g.bench_function(BenchmarkId::new("idempotent", name), |b| {
            b.iter_batched_ref(
                || {
                    let mut buf = template.clone();
                    batch::set_producer(&mut buf, 1000, 0, seq);
                    seq += records;
                    buf
                },
                |buf| {
                    let info = log.append_shared(buf, 0).expect("append");
                    assert!(!info.duplicate, "every batch is new");
                    info
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// 1 KiB records that compress about as well as JSON events do (3-6x), not as well as the
/// repeated bytes of [`batch_bytes`].
fn json_records(total: usize) -> Vec<NewRecord> {
    (0..total / 1024)
        .map(|i| {
            let mut v = String::with_capacity(1024);
            let mut n = i as u64;
            while v.len() < 1000 {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push_str(&format!(
                    "{{\"user\":{},\"event\":\"click\",\"amount\":{}.{:02}}},",
                    n >> 44,
                    (n >> 20) & 0xfff,
                    n & 0x3f
                ));
            }
            v.truncate(1000);
            NewRecord::new(Some(format!("key-{i}")), v).at(1_700_000_000_000 + i as i64)
        })
        .collect()
}

/// One batch of `records` compressed with `codec` (the attribute bits), as a producer
/// sends it: the uncompressed batch's header, then the compressed records section.
fn compressed_batch(records: &[NewRecord], codec: i16) -> Vec<u8> {
    let plain = encode_batch(records, 0);
    let section = &plain[batch::HEADER_SIZE..];
    let compressed = match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(section).expect("gzip");
            e.finish().expect("gzip")
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(section)
            .expect("snappy"),
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(section).expect("lz4");
            e.finish().expect("lz4")
        }
        _ => {
            ruzstd::encoding::compress_to_vec(section, ruzstd::encoding::CompressionLevel::Fastest)
        }
    };
    let mut b = plain[..batch::HEADER_SIZE].to_vec();
    b.extend_from_slice(&compressed);
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&codec.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

fn append_compressed(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_compressed");
    let dir = tempfile::tempdir().expect("tempdir");
    // small segments and retention (enforced between timed runs) keep the disk use to a
    // few hundred MiB however many iterations criterion makes
    let config = LogConfig {
        segment_bytes: 64 << 20,
        retention_bytes: 128 << 20,
        ..LogConfig::default()
    };
    let tp = TopicPartition::new("bench", 0);
    let log = PartitionLog::open(
        dir.path().join("bench-0"),
        tp,
        config,
        None,
        LoadOptions::default(),
    )
    .expect("open")
    .0;
    for (name, size) in [("16KiB", 16 * 1024), ("1MiB", 1024 * 1024)] {
        let records = json_records(size);
        g.throughput(Throughput::Bytes(
            (encode_batch(&records, 0).len() - batch::HEADER_SIZE) as u64,
        ));
        for (codec, bits) in [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)] {
            let template = compressed_batch(&records, bits);
            // the decompression alone, into one buffer: the floor under the validation
            let compression = batch::Compression::from_attributes(bits).expect("codec");
            g.bench_function(
                BenchmarkId::new(format!("{codec}_decompress_only"), name),
                |b| {
                    b.iter(|| {
                        rafka::log::records::decompress(
                            compression,
                            &template[batch::HEADER_SIZE..],
                        )
                        .expect("decompress")
                    })
                },
            );
            g.bench_function(BenchmarkId::new(codec, name), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for done in 0..iters {
                        let start = Instant::now();
                        std::hint::black_box(log.append_shared(&template, 0).expect("append"));
                        spent += start.elapsed();
                        if done % 256 == 255 {
                            log.enforce_retention(rafka::log::now_ms())
                                .expect("retention");
                        }
                    }
                    log.enforce_retention(rafka::log::now_ms())
                        .expect("retention");
                    spent
                })
            });
        }
    }
    g.finish();
}

fn read_cached(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    for _ in 0..64 {
        let mut b = batch_bytes(16 * 1024);
        log.append(&mut b, 0).expect("append");
    }
    let end = log.log_end_offset();
    let first = log.read(0, 1 << 20, true, i64::MAX).expect("warm");
    let len = first.records.len();
    let mut g = c.benchmark_group("read_cached");
    g.throughput(Throughput::Bytes(len as u64));
    let mut i = 0i64;
    g.bench_function("log_read_1MiB", |b| {
        b.iter(|| {
            i = (i + 16) % (end / 2);
            log.read(i, 1 << 20, true, i64::MAX).expect("read")
        })
    });
    // what a plaintext Fetch reads: a file range for sendfile, found by walking the 64
    // batch headers (one small pread each); no record byte is copied
    g.bench_function("log_read_records_1MiB", |b| {
        b.iter(|| {
            i = (i + 16) % (end / 2);
            let r = log.read_records(i, 1 << 20, true, i64::MAX).expect("read");
            assert!(matches!(r.records, rafka::log::Records::File(_)));
            r
        })
    });
    let file =
        std::fs::File::open(dir.path().join("bench-0/00000000000000000000.log")).expect("open");
    g.bench_function("plain_pread_1MiB", |b| {
        b.iter(|| {
            // a fresh buffer per read, as the log's read returns owned bytes
            let mut out = vec![0u8; len];
            file.read_at(&mut out, 0).expect("pread");
            out
        })
    });
    g.finish();
}

/// `n` threads, each appending a 16 KiB batch and waiting for it to be durable.
fn run_appenders(
    log: &Arc<PartitionLog>,
    n: usize,
    per_thread: usize,
    latencies: Option<&parking_lot::Mutex<Vec<Duration>>>,
) {
    let template = batch_bytes(16 * 1024);
    std::thread::scope(|s| {
        for _ in 0..n {
            let template = &template;
            s.spawn(move || {
                let mut buf = template.clone();
                for _ in 0..per_thread {
                    buf.copy_from_slice(template);
                    let t = Instant::now();
                    let info = log.append(&mut buf, 0).expect("append");
                    log.flush_to(info.last_offset + 1).expect("fsync");
                    if let Some(l) = latencies {
                        l.lock().push(t.elapsed());
                    }
                }
            });
        }
    });
}

fn group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("group_commit");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for n in [1usize, 8, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(open_log(dir.path()));
        let per_thread = (256 / n).max(4);
        g.throughput(Throughput::Elements((n * per_thread) as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| run_appenders(&log, n, per_thread, None))
        });
    }
    g.finish();
}

/// Not a criterion measurement: prints p50/p99 of append+fsync latency per appender count.
fn group_commit_latency(_: &mut Criterion) {
    for n in [1usize, 8, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(open_log(dir.path()));
        let lat = parking_lot::Mutex::new(Vec::new());
        let per_thread = if test_mode() { 2 } else { (2048 / n).max(16) };
        let t = Instant::now();
        run_appenders(&log, n, per_thread, Some(&lat));
        let elapsed = t.elapsed();
        let mut lat = lat.into_inner();
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "group_commit_latency/{n}: {:.0} batches/s, p50 {:?}, p99 {:?} ({} appends)",
            lat.len() as f64 / elapsed.as_secs_f64(),
            p(0.50),
            p(0.99),
            lat.len()
        );
    }
}

fn reopen(c: &mut Criterion) {
    let mb: usize = std::env::var("RAFKA_BENCH_REOPEN_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if test_mode() { 64 } else { 2048 });
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = TopicPartition::new("bench", 0);
    {
        let logs = LogManager::open(dir.path(), LogConfig::default(), 1).expect("open");
        let log = logs
            .get_or_create(&tp, None, LogConfig::default())
            .expect("log");
        let template = batch_bytes(1024 * 1024);
        let mut buf = template.clone();
        for _ in 0..mb {
            buf.copy_from_slice(&template);
            log.append(&mut buf, 0).expect("append");
        }
        logs.shutdown().expect("shutdown");
    }
    let mut g = c.benchmark_group("reopen");
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("clean", format!("{mb}MiB")), |b| {
        b.iter(|| {
            let logs = LogManager::open(dir.path(), LogConfig::default(), 1).expect("open");
            logs.shutdown().expect("shutdown"); // leave the marker for the next iteration
        })
    });
    // After a kill: no marker, recovery point at the start of the active segment, so only
    // the active segment (bounded by segment.bytes) is scanned.
    g.bench_function(BenchmarkId::new("after_kill", format!("{mb}MiB")), |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(dir.path().join(".kafka_cleanshutdown"));
            LogManager::open(dir.path(), LogConfig::default(), 1).expect("open")
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    append,
    append_idempotent,
    append_compressed,
    read_cached,
    group_commit,
    group_commit_latency,
    reopen
);
criterion_main!(benches);
