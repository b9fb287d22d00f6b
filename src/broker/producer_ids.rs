//! Producer ids for InitProducerId: never handed out twice, across restarts and crashes
//! too, and the epochs of transactional ids.
//!
//! Ids are taken in blocks, as Kafka's controller hands out `ProducerIdsRecord` blocks:
//! the end of the current block is made durable in `<log dir>/.rafka/producer-ids` before
//! any id in it is given out, so after a crash the next block starts past every id that
//! may have been used. At start the allocator also moves past every producer id found in
//! the partitions' producer state (a log dir written by Kafka, or a lost file).
//!
//! A transactional id keeps its producer id; each InitProducerId for it bumps the epoch,
//! which fences the previous holder: its batches then fail with INVALID_PRODUCER_EPOCH.
//! The mapping lives in `<log dir>/.rafka/transactional-ids` (Kafka keeps it in
//! `__transaction_state`). Transactions themselves are not supported yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::log::checkpoint;
use crate::log::LogError;

/// How many ids one durable write covers (Kafka's block size is 1000 too).
pub const BLOCK_SIZE: i64 = 1000;
const IDS_FILE: &str = "producer-ids";
const TXN_FILE: &str = "transactional-ids";

/// Why InitProducerId failed for a transactional id.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// The caller's producer id and epoch are not the current ones: PRODUCER_FENCED (90),
    /// INVALID_PRODUCER_EPOCH (47) before InitProducerId v4.
    #[error("producer {producer_id} epoch {epoch} was fenced by a newer instance")]
    Fenced { producer_id: i64, epoch: i16 },
    /// Writing the allocator's state failed: the id can't be vouched for.
    #[error(transparent)]
    Log(#[from] LogError),
}

#[derive(Debug)]
struct State {
    /// A cluster broker: blocks come from the controller (AllocateProducerIds), not the
    /// local file.
    from_controller: bool,
    next: i64,
    /// Ids below this are covered by the durable file.
    block_end: i64,
    /// transactional id -> (producer id, epoch)
    transactional: BTreeMap<String, (i64, i16)>,
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
        let ids_path = dir.join(IDS_FILE);
        let stored = match std::fs::read_to_string(&ids_path) {
            Ok(s) => {
                let v = s
                    .lines()
                    .find_map(|l| l.strip_prefix("next.block.start="))
                    .ok_or_else(|| parse_err(&ids_path, "no next.block.start line"))?;
                v.trim()
                    .parse::<i64>()
                    .map_err(|e| parse_err(&ids_path, e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(crate::log::io_err(&ids_path)(e)),
        };
        let txn_path = dir.join(TXN_FILE);
        let mut transactional = BTreeMap::new();
        let mut max_txn_pid = -1;
        match std::fs::read_to_string(&txn_path) {
            Ok(s) => {
                for line in s
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                {
                    let mut parts = line.rsplitn(3, ' ');
                    let (Some(epoch), Some(pid), Some(tid)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(parse_err(&txn_path, format!("bad line {line:?}")));
                    };
                    let pid: i64 = pid.parse().map_err(|_| {
                        parse_err(&txn_path, format!("bad producer id in {line:?}"))
                    })?;
                    let epoch: i16 = epoch
                        .parse()
                        .map_err(|_| parse_err(&txn_path, format!("bad epoch in {line:?}")))?;
                    max_txn_pid = max_txn_pid.max(pid);
                    transactional.insert(unescape(tid), (pid, epoch));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::log::io_err(&txn_path)(e)),
        }
        let next = stored.max(at_least).max(max_txn_pid + 1);
        Ok(ProducerIds {
            dir,
            state: Mutex::new(State {
                from_controller: false,
                next,
                block_end: next,
                transactional,
            }),
        })
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
            checkpoint::write_atomic(
                &self.dir.join(IDS_FILE),
                format!(
                    "# Rafka: producer ids below this were handed out\nnext.block.start={end}\n"
                )
                .as_bytes(),
            )?;
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

    /// The producer id and a bumped epoch for `transactional_id`, fencing the previous
    /// holder. `current` is what the caller holds (InitProducerId v3+), or `None`: with it,
    /// a caller that is not the latest holder is fenced.
    pub fn init_transactional(
        &self,
        transactional_id: &str,
        current: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ProducerIdError> {
        let mut st = self.state.lock();
        let existing = st.transactional.get(transactional_id).copied();
        if let (Some((pid, epoch)), Some((cur_pid, cur_epoch))) = (existing, current) {
            if cur_pid != pid || cur_epoch != epoch {
                return Err(ProducerIdError::Fenced {
                    producer_id: cur_pid,
                    epoch: cur_epoch,
                });
            }
        }
        let next = match existing {
            // the epoch is exhausted: a new id, as Kafka does
            Some((_, epoch)) if epoch >= i16::MAX - 1 => (self.allocate(&mut st)?, 0),
            Some((pid, epoch)) => (pid, epoch + 1),
            None => (self.allocate(&mut st)?, 0),
        };
        let previous = st.transactional.insert(transactional_id.to_string(), next);
        if let Err(e) = self.write_transactional(&st.transactional) {
            match previous {
                Some(p) => st.transactional.insert(transactional_id.to_string(), p),
                None => st.transactional.remove(transactional_id),
            };
            return Err(e.into());
        }
        Ok(next)
    }

    fn write_transactional(&self, map: &BTreeMap<String, (i64, i16)>) -> Result<(), LogError> {
        let mut out = String::from("# Rafka: <transactional id> <producer id> <epoch>\n");
        for (tid, (pid, epoch)) in map {
            out.push_str(&format!("{} {pid} {epoch}\n", escape(tid)));
        }
        checkpoint::write_atomic(&self.dir.join(TXN_FILE), out.as_bytes())
    }
}

/// Transactional ids are arbitrary strings: keep each on one line.
fn escape(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    // a leading '#' would read as a comment
    match escaped.strip_prefix('#') {
        Some(rest) => format!("\\#{rest}"),
        None => escaped,
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
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
    fn transactional_ids_bump_the_epoch_and_fence_the_old_holder() {
        let dir = tempfile::tempdir().expect("ok");
        let ids = ProducerIds::open(dir.path(), 0).expect("ok");
        let tid = "# tx one\nwith newline";
        let (pid, e0) = ids.init_transactional(tid, None).expect("ok");
        assert_eq!(e0, 0);
        assert_eq!(ids.init_transactional(tid, None).expect("ok"), (pid, 1));
        // the holder of epoch 0 was fenced
        assert!(matches!(
            ids.init_transactional(tid, Some((pid, 0))),
            Err(ProducerIdError::Fenced { .. })
        ));
        assert_eq!(
            ids.init_transactional(tid, Some((pid, 1))).expect("ok"),
            (pid, 2)
        );
        drop(ids);
        let again = ProducerIds::open(dir.path(), 0).expect("ok");
        assert_eq!(again.init_transactional(tid, None).expect("ok"), (pid, 3));
        assert!(again.new_producer().expect("ok").0 > pid);
    }
}
