//! Producer ids for InitProducerId: never handed out twice, across restarts and crashes
//! too.
//!
//! Ids are taken in blocks, as Kafka's controller hands out `ProducerIdsRecord` blocks:
//! the end of the current block is made durable in `<log dir>/.rafka/producer-ids` before
//! any id in it is given out, so after a crash the next block starts past every id that
//! may have been used. At start the allocator also moves past every producer id found in
//! the partitions' producer state (a log dir written by Kafka, or a lost file).
//!
//! Transactional ids and their epochs are the transaction coordinator's, in
//! `__transaction_state` (`crate::txn`). Rafka before transactions kept them in
//! `<log dir>/.rafka/transactional-ids`: if that file is there, its producer ids are only
//! read, so that new ids stay above them.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::log::checkpoint;
use crate::log::LogError;

/// How many ids one durable write covers (Kafka's block size is 1000 too).
pub const BLOCK_SIZE: i64 = 1000;
const IDS_FILE: &str = "producer-ids";
const TXN_FILE: &str = "transactional-ids";

#[derive(Debug)]
struct State {
    /// A cluster broker: blocks come from the controller (AllocateProducerIds), not the
    /// local file.
    from_controller: bool,
    next: i64,
    /// Ids below this are covered by the durable file.
    block_end: i64,
}

/// Hands out producer ids; cheap to share behind the broker.
#[derive(Debug)]
pub struct ProducerIds {
    dir: PathBuf,
    state: Mutex<State>,
}

fn parse_err(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::BadMetadata {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ProducerIds {
    /// Loads the allocator from `<log_dir>/.rafka`; `at_least` is one past the highest
    /// producer id seen in any partition.
    pub fn open(log_dir: &Path, at_least: i64) -> Result<Self, LogError> {
        let dir = log_dir.join(".rafka");
        std::fs::create_dir_all(&dir).map_err(crate::log::io_err(&dir))?;
        let stored = stored_next(&dir.join(IDS_FILE))?;
        let max_txn_pid = legacy_transactional_pids(&dir.join(TXN_FILE))?;
        let next = stored.max(at_least).max(max_txn_pid + 1);
        Ok(ProducerIds {
            dir,
            state: Mutex::new(State {
                from_controller: false,
                next,
                block_end: next,
            }),
        })
    }

    /// Makes sure no id below `floor` is ever handed out from `log_dir` (Kafka's next
    /// producer id, when Rafka adopts a Kafka log dir): raises the durable block start
    /// to `floor` if it is lower. True if it was raised.
    pub fn raise_floor(log_dir: &Path, floor: i64) -> Result<bool, LogError> {
        let dir = log_dir.join(".rafka");
        std::fs::create_dir_all(&dir).map_err(crate::log::io_err(&dir))?;
        let path = dir.join(IDS_FILE);
        if stored_next(&path)? >= floor {
            return Ok(false);
        }
        write_block_start(&path, floor)?;
        Ok(true)
    }

    /// Blocks come from the controller from now on (a cluster broker); the current local
    /// one is dropped, since other brokers may be handed the same ids.
    pub fn use_controller_blocks(&self) {
        let mut st = self.state.lock();
        st.from_controller = true;
        st.block_end = st.next;
    }

    /// True when a cluster broker has no id left in its block.
    pub fn needs_block(&self) -> bool {
        let st = self.state.lock();
        st.from_controller && st.next >= st.block_end
    }

    /// A block the controller handed out: ids `first..first + len`.
    pub fn add_block(&self, first: i64, len: i64) {
        let mut st = self.state.lock();
        if st.from_controller && st.next >= st.block_end {
            st.next = first;
            st.block_end = first.saturating_add(len.max(0));
        }
    }

    fn allocate(&self, st: &mut State) -> Result<i64, LogError> {
        if st.from_controller && st.next >= st.block_end {
            // (the InitProducerId handler asks the controller for a block first; this is
            // a block used up by concurrent requests in between)
            return Err(LogError::Internal(
                "the producer id block is used up: try again".into(),
            ));
        }
        if st.next >= st.block_end {
            let end = st.next + BLOCK_SIZE;
            write_block_start(&self.dir.join(IDS_FILE), end)?;
            st.block_end = end;
        }
        let id = st.next;
        st.next += 1;
        Ok(id)
    }

    /// A new producer id for an idempotent producer, epoch 0. As in Kafka, an idempotent
    /// producer that asks again (after an error) simply gets a new id.
    pub fn new_producer(&self) -> Result<(i64, i16), LogError> {
        let mut st = self.state.lock();
        Ok((self.allocate(&mut st)?, 0))
    }
}

/// The start of the next block as stored in `path`, 0 without the file.
fn stored_next(path: &Path) -> Result<i64, LogError> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let v = s
                .lines()
                .find_map(|l| l.strip_prefix("next.block.start="))
                .ok_or_else(|| parse_err(path, "no next.block.start line"))?;
            v.trim()
                .parse::<i64>()
                .map_err(|e| parse_err(path, e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(crate::log::io_err(path)(e)),
    }
}

fn write_block_start(path: &Path, start: i64) -> Result<(), LogError> {
    checkpoint::write_atomic(
        path,
        format!("# Rafka: producer ids below this were handed out\nnext.block.start={start}\n")
            .as_bytes(),
    )
}

/// The highest producer id in the transactional-ids file of Rafka before transactions
/// (`<transactional id> <producer id> <epoch>` lines), -1 if there is none.
fn legacy_transactional_pids(path: &Path) -> Result<i64, LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(-1),
        Err(e) => return Err(crate::log::io_err(path)(e)),
    };
    let mut max = -1;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let pid = line
            .rsplit(' ')
            .nth(1)
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(|| parse_err(path, format!("bad line {line:?}")))?;
        max = max.max(pid);
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopens_and_skip_seen_ones() {
        let dir = tempfile::tempdir().expect("ok");
        let a = ProducerIds::open(dir.path(), 0).expect("ok");
        let first: Vec<i64> = (0..3).map(|_| a.new_producer().expect("ok").0).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(a); // as after a crash: the rest of the block is skipped
        let b = ProducerIds::open(dir.path(), 0).expect("ok");
        assert_eq!(b.new_producer().expect("ok"), (BLOCK_SIZE, 0));
        drop(b);
        let c = ProducerIds::open(dir.path(), 5_000).expect("ok");
        assert_eq!(c.new_producer().expect("ok").0, 5_000);
    }

    #[test]
    fn an_old_transactional_ids_file_keeps_new_ids_above_its_ids() {
        let dir = tempfile::tempdir().expect("ok");
        let rafka = dir.path().join(".rafka");
        std::fs::create_dir_all(&rafka).expect("dir");
        std::fs::write(
            rafka.join(TXN_FILE),
            "# Rafka: <transactional id> <producer id> <epoch>\na b 7000 3\nc 12 0\n",
        )
        .expect("write");
        let ids = ProducerIds::open(dir.path(), 0).expect("ok");
        assert_eq!(ids.new_producer().expect("ok").0, 7001);
    }

    #[test]
    fn a_floor_from_kafka_keeps_new_ids_above_it_and_never_lowers_the_block() {
        let dir = tempfile::tempdir().expect("ok");
        assert!(ProducerIds::raise_floor(dir.path(), 1000).expect("ok"));
        let ids = ProducerIds::open(dir.path(), 3).expect("ok");
        assert_eq!(ids.new_producer().expect("ok").0, 1000);
        drop(ids);
        // the block taken since (up to 2000) stands above a lower floor
        assert!(!ProducerIds::raise_floor(dir.path(), 1500).expect("ok"));
        let ids = ProducerIds::open(dir.path(), 0).expect("ok");
        assert_eq!(ids.new_producer().expect("ok").0, 2000);
    }
}
