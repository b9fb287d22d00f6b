//! Fault test of the log cleaner (issue #16): kill -9 at random points during cleaning.
//!
//! A child process appends keyed records to a compacted log (`cleanup.policy=compact`,
//! 4 KiB segments) with acks=all durability (fsync, then `ACK <offset> <key> <value>`
//! on stdout) and cleans it again and again with [`Cleaner::clean`], and is killed with
//! SIGKILL at seeded random moments, round after round on the same log dir. The child is
//! this test binary itself, re-run with `RAFKA_COMPACTION_FAULT_CHILD_DIR` set (as
//! tests/crash.rs does). It runs in one of two modes:
//!
//! - **mixed**: an appender thread (single records, multi-record batches, some gzip
//!   batches, 10% tombstones) and a cleaner thread that cleans after every roll, as the
//!   broker's cleaner runs beside produce requests;
//! - **bulk**: a log of a few thousand records written first, then bursts of appends each
//!   followed by a pass. Every pass rewrites the whole log from its start (about a dozen
//!   groups, each a `.cleaned` segment and a swap), so nearly all the time is cleaning.
//!
//! Passes vary: `delete.retention.ms` 0 (tombstones removed at the next pass) or a day, a
//! dedupe buffer of a few KiB (the map fills: a pass covers part of the dirty log), and a
//! cleaner made anew (a restarted broker: checkpoint re-read, horizons forgotten).
//!
//! The parent kills the child after its n-th pass started plus a fraction of a pass's
//! duration, when the partition dir shows `.swap` files (the swap window) plus up to 3 ms,
//! after its n-th acknowledgement, or at a random moment after it started (possibly
//! inside its own recovery, which finishes the swaps the last kill interrupted). It lists the partition directory (are `.cleaned` or `.swap` files there:
//! was the kill inside the rewrite or the swap?), copies the log dir as the kill left it,
//! and reopens the copy with crash recovery. The checks, against what the child wrote
//! (the record at offset `o` is a function of `o`, so the checker knows what belongs at
//! every offset below the log end) and acknowledged:
//!
//! - the log end is at or past every acknowledged offset, and never moves back;
//! - every record present is the one written at its offset (key and value), offsets
//!   strictly increase (nothing duplicated or reordered), every batch passes its CRC;
//! - for every key, its last record below the log end is present at its offset with its
//!   value; a last record that is a tombstone may be gone only once a pass ran with
//!   `delete.retention.ms` 0, and then with no older record of its key left (a deleted key
//!   never comes back). So every acknowledged record is present or superseded;
//! - a consumer fetching from any offset (64 seeded ones per round, gaps included) reaches
//!   exactly the first record present at or after it;
//! - every entry of every `.index` and `.timeindex` on disk names a batch of its segment
//!   as it should (a stale index left beside a swapped-in log fails this);
//! - no `.cleaned` or `.swap` file is left after the reopen; the cleaner checkpoint is
//!   readable and not past the log end (index files left without their log, and closed
//!   segments left without an index, are counted and printed, not failed);
//! - the log reopens the same after a second crash recovery and after a clean shutdown.
//!
//! Between rounds the original dir is left as the kill left it, or reopened in place with
//! recovery, or reopened and shut down cleanly (the next child then trusts the files).
//! `COMPACTION_FAULT_ROUNDS` (12) and `COMPACTION_FAULT_SEED` set the run, and
//! `COMPACTION_FAULT_KEEP_GOING=1` reports a failed round and goes on (the test still fails
//! at the end); the long form and its results are in docs/compaction-faults.md. No assert
//! depends on timing: the kill moments do, which is the point, and each round is
//! reproducible up to them.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rafka::log::batch::{self, BatchIter, Compression, HEADER_SIZE};
use rafka::log::checkpoint;
use rafka::log::cleaner::{Cleaner, CleanerConfig, CHECKPOINT_FILE};
use rafka::log::partition_log::OffsetSpec;
use rafka::log::records::{self, decode_batch, encode_batch, NewRecord};
use rafka::log::{CleanupPolicy, LogConfig, LogManager, PartitionLog, Ratio, TopicPartition};

const CHILD_DIR_ENV: &str = "RAFKA_COMPACTION_FAULT_CHILD_DIR";
const CHILD_MODE_ENV: &str = "RAFKA_COMPACTION_FAULT_CHILD_MODE";
const CHILD_SEED_ENV: &str = "RAFKA_COMPACTION_FAULT_CHILD_SEED";
const ROUNDS_ENV: &str = "COMPACTION_FAULT_ROUNDS";
const SEED_ENV: &str = "COMPACTION_FAULT_SEED";
/// `1`: a failed round is reported and the run goes on (the long form, to count them); the
/// test still fails at the end.
const KEEP_GOING_ENV: &str = "COMPACTION_FAULT_KEEP_GOING";
const DEFAULT_ROUNDS: u64 = 12;
const DEFAULT_SEED: u64 = 0x5EED_C1EA_2026_0016;

const TOPIC: &str = "compacted";
const INDEX_INTERVAL_BYTES: u64 = 256;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Keys: a few hot ones, updated often, and many cold ones, so that a cleaned log still
/// has a dozen segments to rewrite.
const HOT_KEYS: u64 = 16;
const COLD_KEYS: u64 = 600;
/// The bulk child writes this many records first when the log is shorter.
const BULK_PREFILL: i64 = 3_000;

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

fn config(delete_retention_ms: i64) -> LogConfig {
    LogConfig {
        segment_bytes: 4 * 1024,
        index_interval_bytes: INDEX_INTERVAL_BYTES,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: Ratio::from_millionths(0),
        delete_retention_ms,
        ..LogConfig::default()
    }
}

/// The main cleaner's settings: small reads and writes, so a group is written in several
/// appends and large batches take the "batch larger than the buffer" path.
fn cleaner_config(dedupe_buffer_size: u64) -> CleanerConfig {
    CleanerConfig {
        dedupe_buffer_size,
        io_buffer_size: 2048,
        ..CleanerConfig::default()
    }
}

/// SplitMix64: the record at an offset is a function of the offset alone.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny deterministic generator for choices and kill points (as tests/crash.rs).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The record every child writes at offset `o`: its key, and its value (`None`: a
/// tombstone, one in ten). Whichever round writes offset `o`, it writes this.
fn written(o: i64) -> (String, Option<String>) {
    let h = mix(o as u64);
    let key = if h.is_multiple_of(4) {
        format!("h{}", (h >> 8) % HOT_KEYS)
    } else {
        format!("c{}", (h >> 8) % COLD_KEYS)
    };
    let value = (!(h >> 24).is_multiple_of(10))
        .then(|| format!("{o}:{}", "v".repeat(((h >> 32) % 120) as usize)));
    (key, value)
}

/// One batch of the records written at `base..base + n`, gzip-compressed if asked (as a
/// Java producer with compression.type=gzip sends it).
fn batch_at(base: i64, n: i64, gzip: bool) -> Vec<u8> {
    let ts = rafka::log::now_ms();
    let recs: Vec<NewRecord> = (base..base + n)
        .map(|o| {
            let (key, value) = written(o);
            NewRecord {
                key: Some(key.into_bytes()),
                value: value.map(String::into_bytes),
                headers: Vec::new(),
                timestamp: ts,
            }
        })
        .collect();
    let plain = encode_batch(&recs, 0);
    if !gzip {
        return plain;
    }
    let section =
        records::compress(Compression::Gzip, &plain[HEADER_SIZE..]).expect("gzip a section");
    let mut b = plain[..HEADER_SIZE].to_vec();
    b.extend_from_slice(&section);
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&1i16.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Prints lines to the parent, flushed at once (a line in the pipe survives the kill).
fn say(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").expect("stdout");
    }
    out.flush().expect("stdout");
}

/// Appends the records at the log end in one batch, fsyncs, and acknowledges each.
fn append_acked(log: &PartitionLog, n: i64, gzip: bool) {
    let base = log.log_end_offset();
    let mut bytes = batch_at(base, n, gzip);
    let info = log.append(&mut bytes, 0).expect("append");
    assert_eq!(
        info.base_offset, base,
        "the only writer appends at the log end"
    );
    log.flush_to(info.last_offset + 1).expect("fsync");
    say(&acks(base, info.last_offset + 1));
}

fn acks(from: i64, to: i64) -> Vec<String> {
    (from..to)
        .map(|o| {
            let (k, v) = written(o);
            format!("ACK {o} {k} {}", v.as_deref().unwrap_or("null"))
        })
        .collect()
}

/// The child's cleaner and how it varies its passes.
struct Cleaning {
    dir: PathBuf,
    main: Cleaner,
    dedupe_buffer_size: u64,
    rng: u64,
    passes: u64,
}

impl Cleaning {
    fn new(dir: &Path, rng: u64) -> Self {
        let mut rng = rng;
        // some children run a cleaner whose map never holds the whole dirty log
        let dedupe_buffer_size = if xorshift(&mut rng).is_multiple_of(4) {
            6_000 + xorshift(&mut rng) % 10_000
        } else {
            1 << 20
        };
        Cleaning {
            dir: dir.to_path_buf(),
            main: Cleaner::new(dir, cleaner_config(dedupe_buffer_size)),
            dedupe_buffer_size,
            rng,
            passes: 0,
        }
    }

    /// One pass over the log, announced (`PASS`) before it starts and reported (`DONE`)
    /// after it ends.
    fn pass(&mut self, log: &PartitionLog) {
        let r = xorshift(&mut self.rng);
        let retention = if r.is_multiple_of(3) { 0 } else { DAY_MS };
        let kind = match (r >> 8) % 8 {
            0 => "small",
            1 => "fresh",
            _ => "main",
        };
        self.passes += 1;
        // announced first: the parent allows tombstones to go once it has seen retention=0
        say(&[format!(
            "PASS {} retention={retention} cleaner={kind} log_end={}",
            self.passes,
            log.log_end_offset()
        )]);
        log.set_config(config(retention));
        let started = Instant::now();
        let now = rafka::log::now_ms();
        let upper = log.log_end_offset();
        let result = match kind {
            "small" => {
                // a pass whose map fills after a segment or two
                let size = 3_000 + (r >> 16) % 9_000;
                Cleaner::new(&self.dir, cleaner_config(size)).clean(log, upper, now)
            }
            "fresh" => {
                // a restarted broker's cleaner: the checkpoint re-read, horizons forgotten
                self.main = Cleaner::new(&self.dir, cleaner_config(self.dedupe_buffer_size));
                self.main.clean(log, upper, now)
            }
            _ => self.main.clean(log, upper, now),
        };
        let stats = result.expect("a cleaning pass");
        let us = started.elapsed().as_micros();
        say(&[match stats {
            Some(s) => format!(
                "DONE {} us={us} segments={} read={} kept={} cleaned_to={}",
                self.passes, s.segments_cleaned, s.records_read, s.records_kept, s.cleaned_to
            ),
            None => format!("DONE {} us={us} nothing", self.passes),
        }]);
    }
}

/// The child: opens the log dir, says `OPENED`, then runs its mode until killed
/// (bounded loops: it ends by itself, unkilled, only if the parent never kills it).
#[test]
fn compaction_fault_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return; // only does something when the parent test runs it
    };
    let dir = PathBuf::from(dir);
    let mode = std::env::var(CHILD_MODE_ENV).expect("mode");
    let seed: u64 = std::env::var(CHILD_SEED_ENV)
        .expect("seed")
        .parse()
        .expect("seed is a number");
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let logs = LogManager::open(&dir, config(DAY_MS), 1).expect("open the log dir");
    let log = logs
        .get_or_create(&tp(), None, config(DAY_MS))
        .expect("the log");
    say(&[format!("OPENED log_end={}", log.log_end_offset())]);
    let mut rng = seed | 1;
    match mode.as_str() {
        "bulk" => child_bulk(&logs, &log, &dir, &mut rng),
        _ => child_mixed(&logs, &log, &dir, &mut rng),
    }
}

/// Appends (one acknowledgement per batch) and, beside it, cleans after every roll.
fn child_mixed(logs: &LogManager, log: &Arc<PartitionLog>, dir: &Path, rng: &mut u64) {
    let done = Arc::new(AtomicBool::new(false));
    let cleaner = {
        let (log, done, dir) = (log.clone(), done.clone(), dir.to_path_buf());
        let mut cleaning = Cleaning::new(&dir, xorshift(rng));
        std::thread::spawn(move || {
            let mut seen_active = None;
            for _ in 0..1_000_000 {
                if done.load(Ordering::Acquire) {
                    break;
                }
                let active = log.segment_base_offsets().last().copied();
                if active == seen_active {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                seen_active = active;
                cleaning.pass(&log);
            }
        })
    };
    for i in 0..20_000u64 {
        let r = xorshift(rng);
        let n = match r % 10 {
            0..=5 => 1,
            6..=8 => 2 + (r >> 8) as i64 % 5,
            _ => 10 + (r >> 8) as i64 % 21,
        };
        append_acked(log, n, (r >> 16).is_multiple_of(4));
        if i % 50 == 49 {
            // the broker writes its recovery point checkpoint now and then
            logs.checkpoint().expect("checkpoint");
        }
        if cleaner.is_finished() {
            break; // it panicked: let the join report it
        }
    }
    done.store(true, Ordering::Release);
    cleaner.join().expect("the cleaner thread");
}

/// Writes a long log first if there is none, then bursts of appends, each followed by a
/// pass that rewrites the whole log.
fn child_bulk(logs: &LogManager, log: &PartitionLog, dir: &Path, rng: &mut u64) {
    let mut cleaning = Cleaning::new(dir, xorshift(rng));
    if log.log_end_offset() < BULK_PREFILL {
        // one fsync for the whole prefill, then every record acknowledged
        let from = log.log_end_offset();
        while log.log_end_offset() < BULK_PREFILL {
            let base = log.log_end_offset();
            let mut bytes = batch_at(base, 8, base % 3 == 0);
            log.append(&mut bytes, 0).expect("append");
        }
        let end = log.log_end_offset();
        log.flush_to(end).expect("fsync");
        say(&acks(from, end));
        logs.checkpoint().expect("checkpoint");
    }
    for _ in 0..2_000 {
        let burst = 10 + xorshift(rng) % 60;
        let mut appended = 0;
        while appended < burst {
            let r = xorshift(rng);
            let n = 1 + (r % 10) as i64;
            append_acked(log, n, (r >> 8).is_multiple_of(4));
            appended += n as u64;
        }
        logs.checkpoint().expect("checkpoint");
        cleaning.pass(log);
    }
}

// ---------------------------------------------------------------------------------------
// The parent: kills, copies, reopens, checks.
// ---------------------------------------------------------------------------------------

/// How the parent picks the kill moment of a round.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// After the n-th `PASS` line, then a fraction (in thousandths) of the last pass's
    /// duration: inside cleaning, mostly.
    InPass { n: u64, permille: u64 },
    /// After the n-th `ACK` line (as tests/crash.rs).
    AfterAcks { n: u64 },
    /// This long after the spawn: possibly inside the child's own recovery.
    AfterSpawn { micros: u64 },
    /// When the partition dir shows `.swap` files (a swap past its commit point) for the
    /// (skip + 1)-th time, after a few more microseconds: inside the swap window.
    AtSwap { skip: u64, micros: u64 },
}

/// What the child said in one round.
#[derive(Default)]
struct Heard {
    acks: Vec<(i64, String, String)>,
    passes_started: u64,
    passes_done: u64,
    tombstones_may_go: bool,
    opened: bool,
    /// The child was inside a pass (announced, not reported done) when it was killed.
    in_pass: bool,
    last_pass_micros: Option<u64>,
}

impl Heard {
    fn hear(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let mut f = rest.splitn(3, ' ');
            let o = f.next().and_then(|o| o.parse().ok()).expect("ACK offset");
            let k = f.next().expect("ACK key").to_string();
            let v = f.next().expect("ACK value").to_string();
            self.acks.push((o, k, v));
        } else if line.starts_with("PASS ") {
            self.passes_started += 1;
            self.in_pass = true;
            if line.contains(" retention=0 ") {
                self.tombstones_may_go = true;
            }
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            self.passes_done += 1;
            self.in_pass = false;
            self.last_pass_micros = rest
                .split(' ')
                .find_map(|f| f.strip_prefix("us="))
                .and_then(|us| us.parse().ok());
        } else if line.contains("OPENED ") {
            // (the test harness's "test compaction_fault_child ... " comes first on its line)
            self.opened = true;
        }
    }
}

/// Totals over the run, printed at the end (docs/compaction-faults.md quotes them).
#[derive(Default, Debug)]
struct Totals {
    rounds: u64,
    bulk_rounds: u64,
    kills_with_cleaned_files: u64,
    kills_with_swap_files: u64,
    kills_in_pass: u64,
    kills_before_opened: u64,
    swaps_finished_at_open: u64,
    /// Rounds whose check failed (with `COMPACTION_FAULT_KEEP_GOING=1`).
    failures: Vec<String>,
    /// Index files left without their log, over the run (finding 2).
    orphan_indexes: std::collections::BTreeSet<String>,
    /// Reopens that left a closed segment without an offset index (finding 3).
    unindexed_after_reopen: u64,
    passes_started: u64,
    passes_done: u64,
    records_acked: u64,
    last_tombstones_gone: u64,
    records_present: u64,
    log_end: i64,
    segments: usize,
}

/// One verified look at a reopened log.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    log_start: i64,
    log_end: i64,
    records: Vec<(i64, String, Option<String>)>,
    /// Each record's timestamp, in the order of `records`.
    timestamps: Vec<i64>,
}

#[test]
fn killed_cleaner_keeps_every_acknowledged_record() {
    if std::env::var(CHILD_DIR_ENV).is_ok() {
        return;
    }
    let rounds: u64 = std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let keep_going = std::env::var(KEEP_GOING_ENV).is_ok_and(|v| v == "1");
    // kept on failure (the evidence), removed at the end of a passing run
    let root = tempfile::tempdir().expect("tempdir").keep();
    let dir = root.join("logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = seed | 1;
    let mut totals = Totals::default();
    let mut max_acked = -1i64;
    let mut tombstones_may_go = false;
    let mut prev_end = 0i64;
    let mut pass_micros = 50_000u64;
    let mut open_micros = 100_000u64;
    let started = Instant::now();
    for round in 1..=rounds {
        totals.rounds = round;
        let bulk = round == 1 || xorshift(&mut rng).is_multiple_of(2);
        totals.bulk_rounds += u64::from(bulk);
        let kill = match xorshift(&mut rng) % 8 {
            0 => Kill::AfterSpawn {
                micros: xorshift(&mut rng) % (open_micros * 3 / 2 + 1),
            },
            1 => Kill::AfterAcks {
                n: 1 + xorshift(&mut rng) % 300,
            },
            2..=4 => Kill::AtSwap {
                skip: xorshift(&mut rng) % 12,
                micros: xorshift(&mut rng) % 3_000,
            },
            _ => Kill::InPass {
                n: 1 + xorshift(&mut rng) % if bulk { 4 } else { 6 },
                permille: xorshift(&mut rng) % 1_200,
            },
        };
        let child_seed = xorshift(&mut rng);
        let stderr_path = root.join(format!("child-{round}.stderr"));
        let spawned = Instant::now();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "compaction_fault_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, &dir)
            .env(CHILD_MODE_ENV, if bulk { "bulk" } else { "mixed" })
            .env(CHILD_SEED_ENV, child_seed.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel::<(String, Instant)>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((line, Instant::now())).is_err() {
                    break;
                }
            }
        });
        // wait for the kill moment, hearing what the child says meanwhile
        let mut heard = Heard::default();
        let mut acks_seen = 0u64;
        let kill_at = match kill {
            Kill::AfterSpawn { micros } => spawned + Duration::from_micros(micros),
            // a child that never reaches its kill moment is killed anyway
            _ => spawned + Duration::from_secs(120),
        };
        let part_dir = dir.join(tp().to_string());
        let (mut swaps_seen, mut in_swap) = (0u64, false);
        loop {
            let wait = match kill {
                // the dir is looked at between lines, and at least every 250 µs
                Kill::AtSwap { .. } => Duration::from_micros(250),
                _ => kill_at.saturating_duration_since(Instant::now()),
            };
            match lines.recv_timeout(wait) {
                Ok((line, at)) => {
                    heard.hear(&line);
                    if line.contains("OPENED ") {
                        open_micros = at.duration_since(spawned).as_micros() as u64;
                    }
                    if line.starts_with("ACK ") {
                        acks_seen += 1;
                    }
                    if let Some(us) = heard.last_pass_micros {
                        pass_micros = us.max(1);
                    }
                    match kill {
                        Kill::InPass { n, permille } if heard.passes_started == n => {
                            let delay = Duration::from_micros(pass_micros * permille / 1_000);
                            std::thread::sleep(delay.saturating_sub(at.elapsed()));
                            break;
                        }
                        Kill::AfterAcks { n } if acks_seen >= n => break,
                        _ => {}
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break, // it ended by itself
            }
            if let Kill::AtSwap { skip, micros } = kill {
                let swap = has_swap_file(&part_dir);
                if swap && !in_swap {
                    swaps_seen += 1;
                    if swaps_seen > skip {
                        std::thread::sleep(Duration::from_micros(micros));
                        break;
                    }
                }
                in_swap = swap;
            }
            if Instant::now() >= kill_at {
                break;
            }
        }
        let exited_before_kill = child.try_wait().expect("try_wait");
        child.kill().expect("SIGKILL"); // std's kill sends SIGKILL on Unix
        let status = child.wait().expect("reap");
        let after_kill = listing(&part_dir);
        // the rest of what it said before dying
        reader.join().expect("reader");
        for (line, _) in lines.try_iter() {
            heard.hear(&line);
        }
        let child_err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        // a failed check: the evidence, then the end of the test, or (keep going) the next round
        macro_rules! failed {
            ($what:expr) => {{
                let what: String = $what;
                let msg = evidence(&root, seed, round, &after_kill, &child_err, &what);
                if !keep_going {
                    panic!("{msg}");
                }
                eprintln!("FAILED {msg}");
                let first = what.lines().next().unwrap_or_default().to_string();
                totals.failures.push(format!("round {round}: {first}"));
                continue;
            }};
        }
        if let Some(st) = exited_before_kill {
            if !st.success() {
                failed!(format!("the child failed by itself ({st}) before the kill"));
            }
        }

        totals.passes_started += heard.passes_started;
        totals.passes_done += heard.passes_done;
        totals.kills_in_pass += u64::from(heard.in_pass);
        totals.kills_before_opened += u64::from(!heard.opened);
        let cleaned_files = after_kill.iter().any(|(n, _)| n.ends_with(".cleaned"));
        let swap_files = after_kill.iter().any(|(n, _)| n.ends_with(".swap"));
        totals.kills_with_cleaned_files += u64::from(cleaned_files);
        totals.kills_with_swap_files += u64::from(swap_files);
        tombstones_may_go |= heard.tombstones_may_go;
        for (o, k, v) in &heard.acks {
            let (wk, wv) = written(*o);
            assert_eq!(
                (k.as_str(), v.as_str()),
                (wk.as_str(), wv.as_deref().unwrap_or("null")),
                "the child acknowledged at {o} what it writes there"
            );
            max_acked = max_acked.max(*o);
        }
        totals.records_acked += heard.acks.len() as u64;

        // check a copy of the dir as the kill left it
        let copy = root.join(format!("check-{round}"));
        copy_dir(&dir, &copy);
        let expect = Expect {
            max_acked,
            prev_end,
            tombstones_may_go,
        };
        let (snapshot, stats) = match check_copy(&copy, &expect, &mut (xorshift(&mut rng) | 1)) {
            Ok(s) => s,
            Err(e) => failed!(e),
        };
        totals.swaps_finished_at_open += stats.swaps_finished;
        totals
            .orphan_indexes
            .extend(stats.orphan_indexes.iter().cloned());
        totals.unindexed_after_reopen += u64::from(!stats.unindexed_segments.is_empty());
        totals.last_tombstones_gone = stats.tombstones_gone;
        totals.records_present = snapshot.records.len() as u64;
        totals.log_end = snapshot.log_end;
        totals.segments = stats.segments;
        prev_end = snapshot.log_end;
        std::fs::remove_dir_all(&copy).expect("remove the copy");

        // the next child starts from the dir as killed, recovered, or shut down cleanly
        let next = xorshift(&mut rng) % 3;
        let next_name = ["as killed", "recovered", "shut down cleanly"][next as usize];
        if next > 0 {
            let logs = LogManager::open(&dir, config(DAY_MS), 1).expect("reopen in place");
            let log = logs.get(&tp()).expect("log");
            let here = read_all(&log).and_then(|s| {
                if s == snapshot {
                    Ok(())
                } else {
                    Err("the dir reopened in place differs from its checked copy".to_string())
                }
            });
            if let Err(e) = here {
                failed!(e);
            }
            if next == 2 {
                logs.shutdown().expect("clean shutdown");
            }
        }
        eprintln!(
            "round {round}: {mode} child, kill {kill:?}, {status}; {acks} acks, passes {ps}/{pd}; \
             after the kill: .cleaned {cleaned_files}, .swap {swap_files}, in a pass {in_pass}; \
             log end {end}, {present} records present, {segs} segments; \
             orphan index files {orphans:?}, unindexed segments {unindexed:?}; next child: {next_name}",
            orphans = stats.orphan_indexes,
            unindexed = stats.unindexed_segments,
            mode = if bulk { "bulk" } else { "mixed" },
            acks = heard.acks.len(),
            ps = heard.passes_started,
            pd = heard.passes_done,
            in_pass = heard.in_pass,
            end = snapshot.log_end,
            present = snapshot.records.len(),
            segs = stats.segments,
        );
    }
    eprintln!(
        "compaction faults: seed {seed}, {rounds} rounds in {:.1} s: {totals:#?}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        totals.failures.is_empty(),
        "{} rounds failed (their evidence is above; files kept in {}): {:#?}",
        totals.failures.len(),
        root.display(),
        totals.failures
    );
    assert!(
        totals.records_acked > 0,
        "the children acknowledged records"
    );
    assert!(totals.passes_done > 0, "the children cleaned");
    std::fs::remove_dir_all(&root).expect("remove the run's files");
}

/// What a check expects from what was acknowledged so far.
struct Expect {
    max_acked: i64,
    prev_end: i64,
    tombstones_may_go: bool,
}

#[derive(Default)]
struct CheckStats {
    swaps_finished: u64,
    tombstones_gone: u64,
    segments: usize,
    /// Index files left without their `.log` (docs/compaction-faults.md, finding 2).
    orphan_indexes: Vec<String>,
    /// Closed segments with no offset index entry on disk where one is due (finding 3).
    unindexed_segments: Vec<String>,
}

/// Reopens the copy with crash recovery and checks it (the module doc's list); then a
/// second recovery and a clean shutdown and reopen must give the same contents.
fn check_copy(
    dir: &Path,
    expect: &Expect,
    rng: &mut u64,
) -> Result<(Snapshot, CheckStats), String> {
    let mut stats = CheckStats::default();
    let warnings = Arc::new(parking_lot::Mutex::new(Vec::<u8>::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let w = warnings.clone();
            move || CaptureWriter(w.clone())
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let opened =
        tracing::subscriber::with_default(subscriber, || LogManager::open(dir, config(DAY_MS), 1));
    let warned = String::from_utf8_lossy(&warnings.lock()).into_owned();
    stats.swaps_finished = warned
        .matches("finished a log cleaning swap interrupted by a crash")
        .count() as u64;
    let logs = opened.map_err(|e| format!("reopen failed: {e}\nwarnings:\n{warned}"))?;
    let log = logs.get(&tp()).ok_or("the log is gone")?;
    let with_warnings = |e: String| format!("{e}\nwarnings at reopen:\n{warned}");
    let part_dir = dir.join(tp().to_string());
    let files = listing(&part_dir);
    stats.segments = files.iter().filter(|(n, _)| n.ends_with(".log")).count();
    let stray: Vec<&String> = files
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect();
    if !stray.is_empty() {
        return Err(with_warnings(format!(
            "files left after the reopen: {stray:?}"
        )));
    }
    let logs_present: Vec<&str> = files
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".log"))
        .collect();
    let orphans: Vec<&String> = files
        .iter()
        .map(|(n, _)| n)
        .filter(|n| {
            let stem = n
                .strip_suffix(".index")
                .or_else(|| n.strip_suffix(".timeindex"));
            stem.is_some_and(|s| !logs_present.contains(&s))
        })
        .collect();
    // (open deletes an index file whose segment is gone, as Kafka's loader does)
    stats.orphan_indexes = orphans.into_iter().cloned().collect();
    if !stats.orphan_indexes.is_empty() {
        return Err(with_warnings(format!(
            "index files without their segment after open: {:?}",
            stats.orphan_indexes
        )));
    }
    let snapshot = read_all(&log).map_err(with_warnings)?;
    stats.tombstones_gone = check_contents(&snapshot, expect).map_err(with_warnings)?;
    for _ in 0..64 {
        let p = (xorshift(rng) % snapshot.log_end.max(1) as u64) as i64;
        probe(&log, p, &snapshot).map_err(with_warnings)?;
    }
    lookups_by_time(&log, &snapshot, &part_dir, rng).map_err(with_warnings)?;
    // after the reads and lookups, so a failure there is what users would see
    stats.unindexed_segments = check_indexes(&part_dir).map_err(with_warnings)?;
    if !stats.unindexed_segments.is_empty() {
        return Err(with_warnings(format!(
            "closed segments without their index on disk: {:?}",
            stats.unindexed_segments
        )));
    }
    match checkpoint::read_offsets(&dir.join(CHECKPOINT_FILE)) {
        Ok(entries) => {
            for (t, first_dirty) in entries {
                if t == tp() && first_dirty > snapshot.log_end {
                    return Err(format!(
                        "cleaner checkpoint {first_dirty} past the log end {}",
                        snapshot.log_end
                    ));
                }
            }
        }
        Err(e) => return Err(format!("unreadable cleaner checkpoint: {e}")),
    }
    // a second crash recovery, then a clean shutdown: the same contents each time
    drop(log);
    drop(logs);
    for clean in [false, true] {
        let logs = LogManager::open(dir, config(DAY_MS), 1)
            .map_err(|e| format!("second reopen (after clean shutdown: {clean}) failed: {e}"))?;
        let log = logs.get(&tp()).ok_or("the log is gone")?;
        let again = read_all(&log)?;
        if again != snapshot {
            return Err(format!(
                "reopened again (after clean shutdown: {clean}), the log differs: {}",
                first_difference(&snapshot, &again)
            ));
        }
        probe(&log, snapshot.log_end.saturating_sub(1).max(0), &snapshot)?;
        logs.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        check_indexes(&part_dir)?;
    }
    Ok((snapshot, stats))
}

/// Checks every entry of every index file on disk against its segment: an offset index
/// entry names the position of the batch whose last offset it is, a time index entry the
/// max timestamp of the batch holding its offset (a stale index left beside a swapped-in
/// log would fail this). Returns the closed segments with no offset index entry where
/// the log's rule gives at least one (lookups in them scan from the start: slow, not
/// wrong).
fn check_indexes(part_dir: &Path) -> Result<Vec<String>, String> {
    let files = listing(part_dir);
    let logs: Vec<&str> = files
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".log"))
        .collect();
    let mut unindexed = Vec::new();
    for (i, stem) in logs.iter().enumerate() {
        let base: i64 = stem.parse().map_err(|_| format!("segment name {stem}"))?;
        let read =
            |ext: &str| std::fs::read(part_dir.join(format!("{stem}.{ext}"))).unwrap_or_default();
        let log = read("log");
        // (position, base offset, last offset, max timestamp) of each batch
        let mut batches = Vec::new();
        let mut pos = 0usize;
        while let Some(h) = log.get(pos..).and_then(batch::BatchHeader::parse) {
            let Some(size) = h.size().filter(|&n| pos + n <= log.len()) else {
                break;
            };
            batches.push((pos as u64, h.base_offset, h.last_offset(), h.max_timestamp));
            pos += size;
        }
        let index = read("index");
        let mut entries = 0;
        for e in index.chunks_exact(8) {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let at = u64::from(u32::from_be_bytes([e[4], e[5], e[6], e[7]]));
            let offset = base + i64::from(rel);
            if !batches.iter().any(|b| b.0 == at && b.2 == offset) {
                return Err(format!(
                    "{stem}.index: entry ({offset}, position {at}) names no batch ending at \
                     {offset} there (a stale or wrong index)"
                ));
            }
            entries += 1;
        }
        let time = read("timeindex");
        for e in time.chunks_exact(12) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            let ts = i64::from_be_bytes(ts);
            let offset = base + i64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]]));
            if !batches
                .iter()
                .any(|b| b.1 <= offset && offset <= b.2 && b.3 == ts)
            {
                return Err(format!(
                    "{stem}.timeindex: entry ({ts}, {offset}) names no batch holding {offset} \
                     with that max timestamp (a stale or wrong index)"
                ));
            }
        }
        // the entries the log's rule (one when over index.interval.bytes were appended
        // since the last) gives these batches: a big first batch alone gets none
        let mut since = 0u64;
        let mut due = 0;
        for w in batches.windows(2) {
            since += w[1].0 - w[0].0;
            if since > INDEX_INTERVAL_BYTES {
                due += 1;
                since = 0;
            }
        }
        let closed = i + 1 < logs.len();
        if closed && entries == 0 && due > 0 {
            unindexed.push(format!("{stem}.log"));
        }
    }
    Ok(unindexed)
}

/// Every record of the log, read batch by batch as a consumer would, every batch's CRC
/// checked, offsets strictly increasing.
fn read_all(log: &PartitionLog) -> Result<Snapshot, String> {
    let log_start = log.log_start_offset();
    let log_end = log.log_end_offset();
    let mut records = Vec::new();
    let mut timestamps = Vec::new();
    let mut offset = log_start;
    let mut last = -1i64;
    while offset < log_end {
        let data = log
            .read(offset, 64 * 1024, true, i64::MAX)
            .map_err(|e| format!("read at {offset}: {e}"))?;
        let bytes = data.records;
        let mut next = offset;
        let mut iter = BatchIter::new(&bytes);
        for (at, h) in iter.by_ref() {
            let whole = &bytes[at..at + h.size().ok_or("batch size")?];
            batch::check_integrity(whole)
                .map_err(|e| format!("batch at {} fails its CRC: {e}", h.base_offset))?;
            for r in decode_batch(whole).map_err(|e| format!("decode at {}: {e}", h.base_offset))? {
                if r.offset < offset {
                    continue;
                }
                if r.offset <= last {
                    return Err(format!(
                        "offset {} after {last}: duplicated or out of order",
                        r.offset
                    ));
                }
                if r.offset >= log_end {
                    return Err(format!("record at {} past the log end {log_end}", r.offset));
                }
                last = r.offset;
                let text = |b: &Option<bytes::Bytes>| {
                    b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
                };
                let key =
                    text(&r.key).ok_or_else(|| format!("record at {} has no key", r.offset))?;
                records.push((r.offset, key, text(&r.value)));
                timestamps.push(r.timestamp);
            }
            next = h.next_offset();
        }
        if iter.position() != bytes.len() {
            return Err(format!("a read at {offset} returned a partial batch"));
        }
        if next <= offset {
            return Err(format!(
                "a read at {offset} below the log end {log_end} made no progress"
            ));
        }
        offset = next;
    }
    Ok(Snapshot {
        log_start,
        log_end,
        records,
        timestamps,
    })
}

/// The compaction invariants against what was written and acknowledged; returns how many
/// keys' last records (tombstones) are gone.
fn check_contents(s: &Snapshot, expect: &Expect) -> Result<u64, String> {
    if s.log_end <= expect.max_acked {
        return Err(format!(
            "log end {} lost acknowledged offset {}",
            s.log_end, expect.max_acked
        ));
    }
    if s.log_end < expect.prev_end {
        return Err(format!(
            "log end {} went back from {}",
            s.log_end, expect.prev_end
        ));
    }
    if s.log_start != 0 {
        return Err(format!(
            "log start moved to {} (compaction keeps it)",
            s.log_start
        ));
    }
    // every record present is the one written at its offset
    let mut present_last: HashMap<&str, i64> = HashMap::new();
    for (o, k, v) in &s.records {
        let (wk, wv) = written(*o);
        if (k, v) != (&wk, &wv) {
            return Err(format!(
                "at {o}: found {k}={v:?}, but {wk}={wv:?} was written there"
            ));
        }
        present_last.insert(k, *o);
    }
    // each key's last record below the log end is there, or (a tombstone) gone with
    // every older record of its key
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for o in 0..s.log_end {
        last.insert(written(o).0, o);
    }
    let mut gone = 0;
    for (k, &o) in &last {
        let tombstone = written(o).1.is_none();
        match present_last.get(k.as_str()) {
            Some(&p) if p == o => {}
            None if tombstone && expect.tombstones_may_go => gone += 1,
            None if tombstone => {
                return Err(format!(
                    "key {k}: its last record, a tombstone at {o}, is gone though no pass \
                     ran with delete.retention.ms 0"
                ))
            }
            Some(&p) => {
                let acked = if o <= expect.max_acked { "acknowledged" } else { "written" };
                return Err(format!(
                    "key {k}: its last record ({acked}, {}) at {o} is gone and an older one at {p} \
                     is the last present (lost, or a deleted key back)",
                    if tombstone { "a tombstone" } else { "a value" }
                ));
            }
            None => {
                return Err(format!(
                    "key {k}: its last record, a value at {o} ({}), is gone with every record of the key",
                    if o <= expect.max_acked { "acknowledged" } else { "written, not acknowledged" }
                ))
            }
        }
    }
    Ok(gone)
}

/// A consumer fetching from `p` (4 KiB at a time, moving on to the next batch's offset
/// when a fetch holds no record at or after its offset, as Kafka's consumers do) must
/// reach exactly the first record present at or after `p`: a stale or wrong index would
/// make it skip records or read garbage.
fn probe(log: &PartitionLog, p: i64, s: &Snapshot) -> Result<(), String> {
    let i = s.records.partition_point(|r| r.0 < p);
    let expected = s.records.get(i).map(|r| r.0);
    let mut offset = p;
    for _ in 0..10_000 {
        if offset >= s.log_end {
            break;
        }
        let data = log
            .read(offset, 4096, true, i64::MAX)
            .map_err(|e| format!("probe read at {offset} (from {p}): {e}"))?;
        let mut next = offset;
        for (at, h) in BatchIter::new(&data.records) {
            let whole = &data.records[at..at + h.size().ok_or("batch size")?];
            batch::check_integrity(whole).map_err(|e| {
                format!(
                    "probe from {p}: batch at {} fails its CRC: {e}",
                    h.base_offset
                )
            })?;
            for r in decode_batch(whole).map_err(|e| format!("probe decode at {offset}: {e}"))? {
                if r.offset >= offset {
                    let got = Some(r.offset);
                    if got != expected {
                        return Err(format!(
                            "a consumer from {p} reads {} first (fetching at {offset}), but the \
                             first record at or after {p} is at {expected:?}",
                            r.offset
                        ));
                    }
                    return Ok(());
                }
            }
            next = next.max(h.next_offset());
        }
        if next <= offset {
            return Err(format!(
                "a consumer from {p} is stuck at {offset}: the read returned no batch past it"
            ));
        }
        offset = next;
    }
    if expected.is_some() {
        return Err(format!(
            "a consumer from {p} reached the log end without reading {expected:?}"
        ));
    }
    Ok(())
}

/// ListOffsets by timestamp (what the time index serves) must answer the first record
/// present whose timestamp is at or after `t`.
fn lookup_at(log: &PartitionLog, s: &Snapshot, t: i64) -> Result<(), String> {
    let expected = s
        .timestamps
        .iter()
        .position(|&ts| ts >= t)
        .map(|j| s.records[j].0);
    let got = log
        .list_offset(OffsetSpec::Timestamp(t), s.log_end)
        .map_err(|e| format!("ListOffsets for timestamp {t}: {e}"))?
        .map(|found| found.offset);
    if got != expected {
        return Err(format!(
            "ListOffsets for timestamp {t} answers {got:?}, but the first record at or after \
             it is at {expected:?}"
        ));
    }
    Ok(())
}

/// Timestamp lookups around 32 random records' timestamps, and around every time index
/// entry on disk (where a wrong entry would lead a lookup astray).
fn lookups_by_time(
    log: &PartitionLog,
    s: &Snapshot,
    part_dir: &Path,
    rng: &mut u64,
) -> Result<(), String> {
    if s.timestamps.is_empty() {
        return Ok(());
    }
    let mut times = Vec::new();
    for _ in 0..32 {
        let i = (xorshift(rng) % s.timestamps.len() as u64) as usize;
        times.push(s.timestamps[i]);
    }
    for (name, _) in listing(part_dir) {
        if name.ends_with(".timeindex") {
            let bytes = std::fs::read(part_dir.join(&name)).unwrap_or_default();
            for e in bytes.chunks_exact(12) {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&e[..8]);
                times.push(i64::from_be_bytes(ts));
            }
        }
    }
    for t in times {
        for d in [-1, 0, 1] {
            lookup_at(log, s, t + d)?;
        }
    }
    Ok(())
}

fn first_difference(a: &Snapshot, b: &Snapshot) -> String {
    if (a.log_start, a.log_end) != (b.log_start, b.log_end) {
        return format!(
            "log start/end {}/{} then {}/{}",
            a.log_start, a.log_end, b.log_start, b.log_end
        );
    }
    let i = a
        .records
        .iter()
        .zip(&b.records)
        .position(|(x, y)| x != y)
        .unwrap_or(a.records.len().min(b.records.len()));
    format!(
        "record {i}: {:?} then {:?} ({} then {} records)",
        a.records.get(i),
        b.records.get(i),
        a.records.len(),
        b.records.len()
    )
}

/// A writer into a shared buffer, to capture the warnings of a reopen.
struct CaptureWriter(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a directory holds a `.swap` file now.
fn has_swap_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| e.file_name().as_encoded_bytes().ends_with(b".swap"))
    })
}

/// (name, size) of every file in a directory, sorted (empty if it does not exist).
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let size = e.metadata().map_or(0, |m| m.len());
                    (e.file_name().to_string_lossy().into_owned(), size)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy a file");
        }
    }
}

/// The evidence of a failed check: seed, round, the partition dir right after the kill,
/// the child's log; the run's files stay in `root` for a look.
fn evidence(
    root: &Path,
    seed: u64,
    round: u64,
    after_kill: &[(String, u64)],
    child_err: &str,
    what: &str,
) -> String {
    let files: Vec<String> = after_kill
        .iter()
        .map(|(n, s)| format!("  {n} {s}"))
        .collect();
    let tail: Vec<&str> = child_err.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "seed {seed}, round {round}: {what}\n\
         partition dir right after the kill:\n{}\n\
         the child's last log lines:\n{}\n\
         files kept in {}",
        files.join("\n"),
        tail.join("\n"),
        root.display()
    )
}
