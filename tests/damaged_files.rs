//! Damaged files on disk (issue #13, items 5 and 9): a garbage checkpoint, a damaged
//! index, a deleted segment or a changed base offset. Each test writes a real log dir
//! through the public API, damages one file the way a disk or an operator could, reopens
//! it, and checks what is served and what was logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rafka::log::records::{decode_batch, encode_batch, NewRecord, Record};
use rafka::log::{batch, checkpoint, LogConfig, LogError, LogManager, OffsetSpec, TopicPartition};

/// Everything logged (at any level) while `f` runs on this thread.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().expect("log buffer")).into_owned();
    (r, text)
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// A batch of `n` records, each value its intended offset, timestamps from `ts`.
fn batch_at(first: i64, n: i64, ts: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = (first..first + n)
        .map(|o| NewRecord::new(None::<Vec<u8>>, format!("v{o:04}")).at(ts + o))
        .collect();
    encode_batch(&recs, 0)
}

/// Writes `batches` batches of 10 records (offset o has value `v{o}`) to `t-0` with
/// leader epoch `epoch` for the first half and `epoch + 2` for the rest; `clean` says
/// whether the manager is shut down cleanly.
fn write_log(dir: &Path, batches: i64, clean: bool) -> PathBuf {
    let logs = LogManager::open(dir, config(), 1).expect("open");
    let log = logs
        .get_or_create(&tp(), Some(uuid::Uuid::new_v4()), config())
        .expect("log");
    for b in 0..batches {
        let epoch = if b < batches / 2 { 3 } else { 5 };
        let mut bytes = batch_at(b * 10, 10, 1_000_000);
        log.append(&mut bytes, epoch).expect("append");
    }
    log.flush().expect("flush");
    if clean {
        logs.shutdown().expect("shutdown");
    } else {
        logs.checkpoint().expect("checkpoint");
    }
    dir.join("t-0")
}

fn decode_all(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    for (at, h) in batch::BatchIter::new(bytes) {
        let size = h.size().expect("size");
        out.extend(decode_batch(&bytes[at..at + size]).expect("decodes"));
    }
    out
}

/// Every record from offset 0 up, checking that each one's value names its offset.
fn read_checked(logs: &LogManager) -> i64 {
    let log = logs.get(&tp()).expect("partition loaded");
    let mut offset = log.log_start_offset();
    let mut n = 0;
    while offset < log.log_end_offset() {
        let data = log.read(offset, 4096, true, i64::MAX).expect("read");
        let recs = decode_all(&data.records);
        assert!(!recs.is_empty(), "a read at {offset} returned nothing");
        for r in recs {
            if r.offset < offset {
                continue;
            }
            let value = String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8");
            assert_eq!(
                value,
                format!("v{:04}", r.offset),
                "record served at its offset"
            );
            offset = r.offset + 1;
            n += 1;
        }
    }
    n
}

const GARBAGE: &[u8] = b"\x00\xffnot a checkpoint\nzz 12 q\n\x7f";

/// Kafka's `LogManager.loadLogs`: a recovery point checkpoint that cannot be read is
/// logged and ignored (every recovery point 0). Rafka then starts and, after a crash,
/// recovers every segment: all 120 records are served at their offsets.
#[test]
fn garbage_recovery_point_checkpoint_is_ignored_with_a_warning() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_log(dir.path(), 12, clean);
        let path = dir.path().join(checkpoint::RECOVERY_POINT_FILE);
        std::fs::write(&path, GARBAGE).expect("damage");
        let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
        let logs = logs.expect("a garbage recovery point checkpoint does not stop the start");
        assert!(
            text.contains("WARN") && text.contains(checkpoint::RECOVERY_POINT_FILE),
            "warning naming the file (clean={clean}):\n{text}"
        );
        assert_eq!(read_checked(&logs), 120);
        if !clean {
            assert!(
                text.contains("recovered"),
                "a crash still recovers:\n{text}"
            );
        }
        drop(logs);
        let again = checkpoint::read_offsets(&path).expect("rewritten whole");
        assert_eq!(again.len(), 1);
    }
}

/// Kafka: an unreadable log start offset checkpoint resets each log start to the base
/// offset of its first segment.
#[test]
fn garbage_log_start_checkpoint_falls_back_to_the_first_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 12, true);
    let logs = LogManager::open(dir.path(), config(), 1).expect("open");
    let log = logs.get(&tp()).expect("log");
    let second = log.segment_base_offsets()[1];
    log.delete_records_before(second + 3)
        .expect("delete records");
    logs.shutdown().expect("shutdown");
    drop(logs);
    let path = dir.path().join(checkpoint::LOG_START_OFFSET_FILE);
    std::fs::write(&path, GARBAGE).expect("damage");
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("starts");
    assert!(
        text.contains("WARN") && text.contains(checkpoint::LOG_START_OFFSET_FILE),
        "{text}"
    );
    assert_eq!(logs.get(&tp()).expect("log").log_start_offset(), second);
}

/// Kafka would take the whole log dir offline for this one partition's file; the epochs
/// are also in every batch header, so Rafka rebuilds the cache from them instead.
#[test]
fn garbage_leader_epoch_checkpoint_is_rebuilt_from_the_batches() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = write_log(dir.path(), 12, clean);
        let path = part.join(checkpoint::LEADER_EPOCH_FILE);
        assert_eq!(
            checkpoint::read_leader_epochs(&path).expect("epochs"),
            vec![(3, 0), (5, 60)]
        );
        std::fs::write(&path, GARBAGE).expect("damage");
        let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
        let logs = logs.expect("starts");
        assert!(
            text.contains("WARN") && text.contains(checkpoint::LEADER_EPOCH_FILE),
            "{text}"
        );
        let log = logs.get(&tp()).expect("log");
        assert_eq!(log.leader_epochs(), vec![(3, 0), (5, 60)], "clean={clean}");
        assert_eq!(
            checkpoint::read_leader_epochs(&path).expect("rewritten"),
            vec![(3, 0), (5, 60)]
        );
        let latest = log
            .list_offset(OffsetSpec::Latest, i64::MAX)
            .expect("list")
            .expect("offset");
        assert_eq!(latest.leader_epoch, Some(5));
    }
}

/// A garbage `partition.metadata` is logged and replaced: the topic id comes from the
/// topic's other partitions, so it stays the id clients know.
#[test]
fn garbage_partition_metadata_takes_the_topic_id_of_its_siblings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = uuid::Uuid::new_v4();
    let tps = [TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    {
        let logs = LogManager::open(dir.path(), config(), 1).expect("open");
        logs.create_logs(&tps, Some(id), config()).expect("create");
        logs.shutdown().expect("shutdown");
    }
    let path = dir
        .path()
        .join("t-0")
        .join(checkpoint::PARTITION_METADATA_FILE);
    std::fs::write(&path, GARBAGE).expect("damage");
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("starts");
    assert!(
        text.contains("WARN") && text.contains(checkpoint::PARTITION_METADATA_FILE),
        "{text}"
    );
    for tp in &tps {
        assert_eq!(logs.get(tp).expect("log").topic_id(), Some(id), "{tp}");
    }
    assert_eq!(
        checkpoint::read_partition_metadata(&path).expect("rewritten"),
        Some(id)
    );
}

/// A log dir that belongs to another node stays fatal (as Kafka's
/// `MetaPropertiesEnsemble.verify`), and the message names the file and both ids.
#[test]
fn meta_properties_of_another_node_is_fatal_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 2, true);
    let err = LogManager::open(dir.path(), config(), 7).expect_err("another node's dir");
    let msg = err.to_string();
    let path = dir.path().join(checkpoint::META_PROPERTIES_FILE);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("node.id 1") && msg.contains("node.id 7"),
        "{msg}"
    );
    assert!(matches!(err, LogError::NodeMismatch { .. }), "{err:?}");

    std::fs::write(&path, GARBAGE).expect("damage");
    let err = LogManager::open(dir.path(), config(), 1).expect_err("garbage identity");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// Issue #13 item 16: a new log dir is not reported as an unclean shutdown, and a log dir
/// closed cleanly is loaded without recovery.
#[test]
fn startup_line_tells_a_new_dir_from_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("open");
    assert!(!text.contains("clean_shutdown=false"), "{text}");
    assert!(text.contains("new log dir"), "{text}");
    let log = logs.get_or_create(&tp(), None, config()).expect("log");
    log.append(&mut batch_at(0, 10, 0), 0).expect("append");
    logs.shutdown().expect("shutdown");
    drop(logs);
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    drop(logs.expect("open"));
    assert!(text.contains("clean_shutdown=true"), "{text}");
    assert!(text.contains("recovered_segments=0"), "{text}");
}

/// Issue #13 item 16: `rafka log dump` of a partition closed cleanly does not recover it
/// (it used to print "recovered 1").
#[test]
fn log_dump_of_a_clean_log_recovers_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = dir.path().join("t-0");
    let bin = env!("CARGO_BIN_EXE_rafka");
    let mut write = std::process::Command::new(bin)
        .args(["log", "write"])
        .arg(&part)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rafka log write");
    {
        use std::io::Write;
        let mut stdin = write.stdin.take().expect("stdin");
        stdin.write_all(b"a\nb\nc\n").expect("stdin");
    }
    assert!(write.wait().expect("wait").success());
    let dump = std::process::Command::new(bin)
        .args(["log", "dump"])
        .arg(&part)
        .env("RUST_LOG", "warn")
        .output()
        .expect("rafka log dump");
    let stderr = String::from_utf8_lossy(&dump.stderr);
    assert!(dump.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&dump.stdout).lines().count(), 3);
    assert!(stderr.contains("recovered 0"), "{stderr}");
}

/// (position, header) of every batch in a `.log` file.
fn batches_in(path: &Path) -> Vec<(usize, batch::BatchHeader)> {
    let bytes = std::fs::read(path).expect("read segment");
    batch::BatchIter::new(&bytes).collect()
}

fn segment_path(part: &Path, base: i64, suffix: &str) -> PathBuf {
    part.join(format!("{base:020}.{suffix}"))
}

/// Reads from every offset in turn and checks that no record is ever served at an offset
/// other than its own (values name offsets). Returns how many offsets were served and at
/// which offsets the read failed.
fn serve_everything(logs: &LogManager) -> (usize, Vec<i64>) {
    let log = logs.get(&tp()).expect("log");
    let mut served = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for offset in log.log_start_offset()..log.log_end_offset() {
        match log.read(offset, 4096, true, i64::MAX) {
            Ok(data) => {
                for r in decode_all(&data.records) {
                    let value =
                        String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8");
                    assert_eq!(
                        value,
                        format!("v{:04}", r.offset),
                        "served at a wrong offset"
                    );
                    served.insert(r.offset);
                }
            }
            Err(LogError::CorruptOnDisk { .. }) => failed.push(offset),
            Err(e) => panic!("read at {offset}: {e}"),
        }
    }
    (served.len(), failed)
}

/// Issue #13 item 9: a changed base offset (the CRC does not cover it) was served: 10
/// records at wrong offsets and 5 missing. Now the batch that contradicts its neighbours
/// is logged with the partition and offset and never served: after a clean shutdown the
/// read that meets it refuses it; after a crash recovery restores its base offset from
/// what both neighbours say, and every record is served at its own offset.
#[test]
fn a_changed_base_offset_is_never_served() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = write_log(dir.path(), 12, clean);
        if !clean {
            // recovery from the first segment on
            std::fs::write(dir.path().join(checkpoint::RECOVERY_POINT_FILE), "0\n0\n")
                .expect("checkpoint");
        }
        let seg = segment_path(&part, 0, "log");
        let batches = batches_in(&seg);
        let (pos, h) = batches[2];
        assert_eq!(h.base_offset, 20);
        let mut bytes = std::fs::read(&seg).expect("read");
        bytes[pos..pos + 8].copy_from_slice(&25i64.to_be_bytes());
        std::fs::write(&seg, &bytes).expect("damage");

        let (logs, mut text) = logged(|| LogManager::open(dir.path(), config(), 1));
        let logs = logs.expect("opens");
        let ((served, failed), read_text) = logged(|| serve_everything(&logs));
        text.push_str(&read_text);
        assert!(
            text.contains("WARN") && text.contains("partition=t-0") && text.contains("offset=20"),
            "clean={clean}: the damage is logged with partition and offset:\n{text}"
        );
        if clean {
            // nothing at open reads that batch: the read that meets it refuses it
            assert!(failed.contains(&20), "{failed:?}");
            assert!(served >= 110, "the other batches are served: {served}");
        } else {
            // recovery: both neighbours say where the batch starts, so it is restored
            assert!(text.contains("restored"), "{text}");
            assert_eq!((served, failed), (120, vec![]));
        }
    }
}

/// A corrupted batch length: recovery cuts the segment there and says where, and each
/// later segment it deletes is logged too; after a clean shutdown a read that meets it
/// fails and is logged.
#[test]
fn a_corrupted_batch_length_is_reported() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = write_log(dir.path(), 12, clean);
        if !clean {
            std::fs::write(dir.path().join(checkpoint::RECOVERY_POINT_FILE), "0\n0\n")
                .expect("checkpoint");
        }
        let seg = segment_path(&part, 0, "log");
        let (pos, h) = batches_in(&seg)[2];
        assert_eq!(h.base_offset, 20);
        let mut bytes = std::fs::read(&seg).expect("read");
        bytes[pos + 8..pos + 12].copy_from_slice(&7i32.to_be_bytes());
        std::fs::write(&seg, &bytes).expect("damage");

        let (logs, mut text) = logged(|| LogManager::open(dir.path(), config(), 1));
        let logs = logs.expect("opens");
        let ((served, _), read_text) = logged(|| serve_everything(&logs));
        text.push_str(&read_text);
        assert!(served >= 20, "{served}");
        assert!(
            text.contains("WARN") && text.contains("partition=t-0") && text.contains("offset=20"),
            "clean={clean}:\n{text}"
        );
        if !clean {
            assert!(text.contains("deleted a segment after"), "{text}");
        }
    }
}

/// A deleted middle segment leaves a gap in the offsets: logged with the partition and
/// the missing range; the records around it are still served at their offsets.
#[test]
fn a_deleted_middle_segment_is_reported() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = write_log(dir.path(), 30, clean);
        let bases: Vec<i64> = {
            let mut b: Vec<i64> = std::fs::read_dir(&part)
                .expect("ls")
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.strip_suffix(".log")?.parse().ok()
                })
                .collect();
            b.sort();
            b
        };
        assert!(bases.len() >= 3, "{bases:?}");
        for suffix in ["log", "index", "timeindex"] {
            std::fs::remove_file(segment_path(&part, bases[1], suffix)).expect("rm");
        }
        let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
        let logs = logs.expect("opens");
        assert!(
            text.contains("WARN")
                && text.contains("partition=t-0")
                && text.contains(&format!("from={}", bases[1]))
                && text.contains(&format!("to={}", bases[2])),
            "clean={clean}:\n{text}"
        );
        let (served, failed) = serve_everything(&logs);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(served as i64, 300 - (bases[2] - bases[1]));
    }
}

/// Issue #13 item 9: a garbage `.timeindex` made a lookup by timestamp 0 return a later
/// offset. The index is checked on open, as Kafka's sanity check does, and rebuilt.
#[test]
fn a_garbage_time_index_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = write_log(dir.path(), 12, true);
    let path = segment_path(&part, 0, "timeindex");
    let before = std::fs::read(&path).expect("read");
    assert!(!before.is_empty(), "the test needs time index entries");
    // one entry: timestamp 0 at relative offset 15 (in range, increasing: it looks valid)
    let mut garbage = 0i64.to_be_bytes().to_vec();
    garbage.extend_from_slice(&15u32.to_be_bytes());
    std::fs::write(&path, &garbage).expect("damage");

    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("opens");
    let log = logs.get(&tp()).expect("log");
    let found = log
        .list_offset(OffsetSpec::Timestamp(0), i64::MAX)
        .expect("list")
        .expect("offset");
    assert_eq!(found.offset, 0);
    assert!(
        text.contains("WARN") && text.contains("partition=t-0") && text.contains("timeindex"),
        "{text}"
    );
    drop(logs);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "rebuilt as it was"
    );
}

/// A garbage `.index` entry pointing past the segment is caught on open and rebuilt.
#[test]
fn a_garbage_offset_index_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = write_log(dir.path(), 12, true);
    let path = segment_path(&part, 0, "index");
    let before = std::fs::read(&path).expect("read");
    assert!(before.len() >= 8, "the test needs index entries");
    let mut damaged = before.clone();
    // the last entry's position points at the middle of a batch
    let n = damaged.len();
    let pos = u32::from_be_bytes(damaged[n - 4..].try_into().expect("4")) + 3;
    damaged[n - 4..].copy_from_slice(&pos.to_be_bytes());
    std::fs::write(&path, &damaged).expect("damage");
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("opens");
    assert_eq!(read_checked(&logs), 120);
    assert!(
        text.contains("WARN") && text.contains("partition=t-0") && text.contains(".index"),
        "{text}"
    );
    drop(logs);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "rebuilt as it was"
    );
}

/// A changed base offset in the middle of a large segment after a clean shutdown: nothing
/// at open reads that batch, so the read that meets it checks it against its neighbours
/// and refuses it (CORRUPT_MESSAGE for that offset, logged once with the partition and
/// offset) rather than serve records at wrong offsets.
#[test]
fn a_changed_base_offset_found_by_a_read_is_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = LogConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    {
        let logs = LogManager::open(dir.path(), big, 1).expect("open");
        let log = logs.get_or_create(&tp(), None, big).expect("log");
        for b in 0..40 {
            log.append(&mut batch_at(b * 10, 10, 1_000_000), 0)
                .expect("append");
        }
        logs.shutdown().expect("shutdown");
    }
    let seg = segment_path(&dir.path().join("t-0"), 0, "log");
    let (pos, h) = batches_in(&seg)[20];
    assert_eq!(h.base_offset, 200);
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[pos..pos + 8].copy_from_slice(&205i64.to_be_bytes());
    std::fs::write(&seg, &bytes).expect("damage");

    let (logs, open_text) = logged(|| LogManager::open(dir.path(), big, 1));
    let logs = logs.expect("opens");
    assert!(
        !open_text.contains("WARN"),
        "not seen at open:\n{open_text}"
    );
    let ((served, failed), text) = logged(|| serve_everything(&logs));
    assert!(failed.contains(&200) && failed.contains(&205), "{failed:?}");
    assert!(
        served >= 390,
        "everything else is served: {served} {failed:?}"
    );
    assert!(
        text.contains("WARN") && text.contains("partition=t-0") && text.contains("offset=200"),
        "{text}"
    );
}

/// A garbage producer state snapshot is deleted with a warning and the state rebuilt
/// from the log, as Kafka's `ProducerStateManager` does with a corrupt snapshot.
#[test]
fn garbage_producer_snapshot_is_deleted_and_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = write_log(dir.path(), 12, true);
    let snapshots: Vec<PathBuf> = std::fs::read_dir(&part)
        .expect("ls")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "snapshot"))
        .collect();
    assert!(!snapshots.is_empty(), "a clean shutdown writes a snapshot");
    for p in &snapshots {
        std::fs::write(p, GARBAGE).expect("damage");
    }
    let (logs, text) = logged(|| LogManager::open(dir.path(), config(), 1));
    let logs = logs.expect("starts");
    assert!(
        text.contains("WARN") && text.contains(".snapshot"),
        "{text}"
    );
    assert_eq!(read_checked(&logs), 120);
}

/// A batch whose CRC fails, met by a read after a clean shutdown: the batches before it
/// are served, it is not, and the log says which partition and offset.
#[test]
fn a_crc_failure_met_by_a_read_names_partition_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = LogConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    {
        let logs = LogManager::open(dir.path(), big, 1).expect("open");
        let log = logs.get_or_create(&tp(), None, big).expect("log");
        for b in 0..40 {
            log.append(&mut batch_at(b * 10, 10, 1_000_000), 0)
                .expect("append");
        }
        logs.shutdown().expect("shutdown");
    }
    let seg = segment_path(&dir.path().join("t-0"), 0, "log");
    let (pos, h) = batches_in(&seg)[25];
    let mut bytes = std::fs::read(&seg).expect("read");
    let last = pos + h.size().expect("size") - 1;
    bytes[last] ^= 0x55; // a record byte: the CRC no longer matches
    std::fs::write(&seg, &bytes).expect("damage");

    let logs = LogManager::open(dir.path(), big, 1).expect("opens");
    let log = logs.get(&tp()).expect("log");
    let (data, text) = logged(|| log.read(200, 1 << 20, true, i64::MAX).expect("read"));
    let recs = decode_all(&data.records);
    assert_eq!(recs.first().map(|r| r.offset), Some(200));
    assert_eq!(
        recs.last().map(|r| r.offset),
        Some(249),
        "up to the damaged batch"
    );
    assert!(
        text.contains("WARN") && text.contains("partition=t-0") && text.contains("offset=250"),
        "{text}"
    );
}
