//! How many segment files are open at once, and the process's open-file limit.
//!
//! A `.log` file is opened when first read or written and stays open while it is used;
//! once more than the budget are open, the least recently opened ones that no reader or
//! writer holds are closed (after an fsync if they hold unsynced writes), and are opened
//! again on their next use. Indexes keep no descriptor at all: their entries live in
//! memory and the file is opened only to write them. So the number of descriptors no
//! longer grows with the number of segments: 10,000 partitions of 3 segments start and
//! serve under the default soft limit of 1,024 (Kafka keeps every `.log` open and needs
//! `ulimit -n` raised for that).
//!
//! The budget is half the soft `RLIMIT_NOFILE`, leaving the rest for sockets, index and
//! checkpoint writes; [`raise_limit`] first lifts the soft limit to the hard one, as the
//! broker does at start.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Weak;

use parking_lot::Mutex;

use super::segment::FileSlot;

/// Fewer descriptors than this and the broker refuses to start: a few segment files,
/// client connections, index and checkpoint writes, the runtime's own.
pub const MIN_OPEN_FILES: u64 = 128;

/// Most segment files kept open; set from the soft limit by [`set_budget_from_limit`].
static BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Segment files open now.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// The open segment files, oldest opened first (entries of closed or dropped files are
/// skipped when they come up).
static QUEUE: Mutex<VecDeque<Weak<FileSlot>>> = Mutex::new(VecDeque::new());

/// The soft and hard `RLIMIT_NOFILE` (`None`: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The current open-file limit.
pub fn limit() -> FileLimit {
    let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    FileLimit {
        soft: l.current,
        hard: l.maximum,
    }
}

/// Raises the soft open-file limit to the hard one (what a process may do by itself) and
/// returns the limit in force afterwards.
pub fn raise_limit() -> FileLimit {
    let before = limit();
    if before.soft.is_some() && before.soft != before.hard {
        let raised = rustix::process::Rlimit {
            current: before.hard,
            maximum: before.hard,
        };
        if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised) {
            tracing::warn!(cause = %e, soft = ?before.soft, hard = ?before.hard,
                "could not raise the open file limit");
        }
    }
    let after = limit();
    set_budget_from_limit(after);
    after
}

/// Sets the budget of open segment files to half the soft limit.
pub fn set_budget_from_limit(limit: FileLimit) {
    let budget = limit
        .soft
        .map_or(usize::MAX, |s| usize::try_from(s / 2).unwrap_or(usize::MAX))
        .max(16);
    BUDGET.store(budget, Ordering::Relaxed);
}

/// Sets the budget directly (tests).
pub fn set_budget(files: usize) {
    BUDGET.store(files.max(1), Ordering::Relaxed);
}

/// Segment files open now.
pub fn open_count() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// A file of `slot` was opened: counts it and closes the oldest idle ones over budget.
pub(crate) fn opened(slot: Weak<FileSlot>) {
    OPEN.fetch_add(1, Ordering::Relaxed);
    let victims: Vec<Weak<FileSlot>> = {
        let mut queue = QUEUE.lock();
        queue.push_back(slot);
        if queue.len() > 2 * open_count() + 64 {
            queue.retain(|w| w.strong_count() > 0); // entries of dropped segments
        }
        let over = open_count().saturating_sub(BUDGET.load(Ordering::Relaxed));
        // the newest (just opened) stays; a victim still in use goes back to the end
        let n = over.min(queue.len().saturating_sub(1));
        queue.drain(..n).collect()
    };
    let mut keep = Vec::new();
    for v in victims {
        if let Some(slot) = v.upgrade() {
            if !slot.try_close() {
                keep.push(v);
            }
        }
    }
    if !keep.is_empty() {
        QUEUE.lock().extend(keep);
    }
}

/// A file was closed (evicted, or its segment dropped).
pub(crate) fn closed() {
    OPEN.fetch_sub(1, Ordering::Relaxed);
}
