//! Crash test: a child process appends with acks=all durability (fsync before each
//! acknowledgement) and is killed with SIGKILL at random moments, round after round on the
//! same log dir. After each kill the log is reopened (recovery) and every batch the child
//! acknowledged must be there, intact, in order, with no partial batch ever served.
//!
//! The child is this test binary itself, re-run with `RAFKA_CRASH_CHILD_DIR` set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rafka::log::records::{decode_batch, encode_batch, NewRecord};
use rafka::log::{batch, LogConfig, LogManager, TopicPartition};

const CHILD_ENV: &str = "RAFKA_CRASH_CHILD_DIR";

fn config() -> LogConfig {
    // small segments so kills also land around rolls
    LogConfig {
        segment_bytes: 64 * 1024,
        ..LogConfig::default()
    }
}

/// The child: appends batches whose record values are their own offsets, forever (bounded),
/// printing `ACK <next offset>` after each batch is durable.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // only does something when the parent test runs it
    };
    let logs = LogManager::open(&dir, config(), 1).expect("open");
    let log = logs
        .get_or_create(&TopicPartition::new("crash", 0), None, config())
        .expect("log");
    let mut out = std::io::stdout().lock();
    for i in 0..200_000u64 {
        let next = log.log_end_offset();
        let n = 1 + (i % 7) as i64;
        let recs: Vec<NewRecord> = (next..next + n)
            .map(|o| {
                NewRecord::new(
                    None::<Vec<u8>>,
                    format!("{o}:{}", "p".repeat((o % 300) as usize)),
                )
                .at(o)
            })
            .collect();
        let mut bytes = encode_batch(&recs, 0);
        let info = log.append(&mut bytes, 0).expect("append");
        log.flush_to(info.last_offset + 1).expect("fsync");
        writeln!(out, "ACK {}", info.last_offset + 1).expect("stdout");
        out.flush().expect("stdout");
    }
}

/// A tiny deterministic generator for kill points (no extra dependency needed).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn killed_writer_keeps_every_acknowledged_batch() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    let mut acked_total = 0i64;
    while rounds < 12 && Instant::now() < deadline {
        rounds += 1;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let kill_after = 1 + xorshift(&mut rng) % 400;
        let mut acked = None;
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ACK ") {
                acked = Some(n.parse::<i64>().expect("ack offset"));
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        child.kill().expect("SIGKILL"); // std's kill sends SIGKILL on Unix
        child.wait().expect("reap");
        let acked = acked.expect("the child acknowledged something");
        assert!(acked >= acked_total, "acks only grow across rounds");
        acked_total = acked;

        // reopen as a restarted broker would: no clean shutdown marker, so recovery runs
        let logs = LogManager::open(dir.path(), config(), 1).expect("reopen");
        let log = logs
            .get(&TopicPartition::new("crash", 0))
            .expect("log exists");
        let end = log.log_end_offset();
        assert!(
            end >= acked,
            "round {rounds}: log end {end} lost acknowledged offset {acked}"
        );
        let mut offset = 0;
        while offset < end {
            let data = log.read(offset, 256 * 1024, true, i64::MAX).expect("read");
            assert!(!data.records.is_empty(), "no gap below the end");
            for (at, h) in batch::BatchIter::new(&data.records) {
                let b = &data.records[at..at + h.size().expect("size")];
                batch::check_integrity(b).expect("only whole, valid batches are served");
                for r in decode_batch(b).expect("decode") {
                    let v = String::from_utf8(r.value.expect("value").to_vec()).expect("utf8");
                    let (n, pad) = v.split_once(':').expect("value format");
                    assert_eq!(
                        n.parse::<i64>().expect("n"),
                        r.offset,
                        "record at its own offset"
                    );
                    assert_eq!(pad.len() as i64, r.offset % 300);
                    assert_eq!(r.offset, offset, "offsets are contiguous");
                    offset += 1;
                }
            }
        }
        assert_eq!(offset, end);
        drop(logs); // not a clean shutdown: the next child recovers again
    }
    assert!(rounds >= 3, "ran {rounds} rounds");
}
