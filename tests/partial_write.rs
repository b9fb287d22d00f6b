//! A write that fails halfway (here: the file size limit, as a full disk would) must not
//! leave bytes behind that later appends land after: every batch acknowledged afterwards
//! has to survive a crash and recovery. Its own test binary, because RLIMIT_FSIZE is
//! process-wide.
#![allow(unsafe_code)] // setrlimit and signal: test-only, no Rust wrapper in std

use rafka::log::partition_log::LoadOptions;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::log::{LogConfig, PartitionLog, TopicPartition};

fn batch(value: &str) -> Vec<u8> {
    encode_batch(&[NewRecord::new(None::<Vec<u8>>, value).at(1)], 0)
}

fn set_fsize_limit(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscalls with a valid struct; SIGXFSZ is ignored so the write fails
    // with EFBIG instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

#[test]
fn a_failed_write_leaves_no_bytes_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = |opts| {
        PartitionLog::open(
            dir.path().join("t-0"),
            TopicPartition::new("t", 0),
            LogConfig::default(),
            None,
            opts,
        )
        .expect("open")
        .0
    };
    let log = open(LoadOptions::default());
    log.append(&mut batch("first"), 0).expect("append");
    let size = log.size_in_bytes();

    set_fsize_limit(size + 1000);
    let err = log
        .append(&mut batch(&"x".repeat(2000)), 0)
        .expect_err("the file size limit stops it");
    set_fsize_limit(libc::RLIM_INFINITY);
    assert_eq!(err.code().code(), 56, "KAFKA_STORAGE_ERROR: {err}");
    assert_eq!(log.log_end_offset(), 1, "nothing appended");

    for v in ["second", "third"] {
        let info = log
            .append(&mut batch(v), 0)
            .expect("append after the failure");
        log.flush_to(info.last_offset + 1).expect("fsync");
    }
    let read = |log: &PartitionLog| -> Vec<String> {
        let data = log.read(0, 1 << 20, true, i64::MAX).expect("read");
        let mut out = Vec::new();
        for (at, h) in rafka::log::batch::BatchIter::new(&data.records) {
            for r in
                rafka::log::records::decode_batch(&data.records[at..at + h.size().expect("size")])
                    .expect("decode")
            {
                out.push(
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
                );
            }
        }
        out
    };
    assert_eq!(read(&log), ["first", "second", "third"]);
    drop(log); // a crash: recovery scans everything
    let log = open(LoadOptions::default());
    assert_eq!(
        log.log_end_offset(),
        3,
        "every acknowledged batch survives recovery"
    );
    assert_eq!(read(&log), ["first", "second", "third"]);
}
