//! openraft's state machine over ours ([`MetadataStateMachine`]): committed Normal entries
//! are handed to it in order with their offsets; Blank and Membership entries only move
//! the applied position.
//!
//! Snapshots are kept in memory: the state machine's records at its last applied offset,
//! built on demand and sent whole to a follower that needs one. They are not written to
//! disk (Kafka's `<offset>-<epoch>.checkpoint` is not written yet), so the log is never
//! purged past what a restarted node can replay: the quorum sets openraft's snapshot
//! policy to never, and a restarted node rebuilds its state by replaying the log.

use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder};
use parking_lot::Mutex;

use super::types::{
    Entry, LogId, Snapshot, SnapshotData, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use super::MetadataStateMachine;

/// The adapter openraft drives; clones share the state (a clone builds snapshots).
pub struct StateMachineStore<S> {
    inner: Arc<Mutex<SmState<S>>>,
}

impl<S> Clone for StateMachineStore<S> {
    fn clone(&self) -> Self {
        StateMachineStore {
            inner: self.inner.clone(),
        }
    }
}

struct SmState<S> {
    sm: S,
    /// Invariant: every entry up to `last_applied` was handed to `sm` (or is in the
    /// snapshot it was restored from), none after.
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot: Option<Snapshot>,
    snapshots_built: u64,
}

impl<S: MetadataStateMachine> StateMachineStore<S> {
    pub fn new(sm: S) -> Self {
        StateMachineStore {
            inner: Arc::new(Mutex::new(SmState {
                sm,
                last_applied: None,
                membership: StoredMembership::default(),
                snapshot: None,
                snapshots_built: 0,
            })),
        }
    }
}

impl<S: MetadataStateMachine> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<S> {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let mut st = self.inner.lock();
        st.snapshots_built += 1;
        let records = st.sm.snapshot();
        let meta = SnapshotMeta {
            last_log_id: st.last_applied,
            last_membership: st.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                st.last_applied.map_or(-1, |l| l.index as i64),
                st.snapshots_built
            ),
        };
        let snapshot = Snapshot {
            meta,
            snapshot: Box::new(SnapshotData { records }),
        };
        st.snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }
}

impl<S: MetadataStateMachine> RaftStateMachine<TypeConfig> for StateMachineStore<S> {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let st = self.inner.lock();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut st = self.inner.lock();
        for e in entries {
            st.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Normal(p) => st.sm.apply(e.log_id.index as i64, &p.0),
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(e.log_id), m);
                }
                EntryPayload::Blank => {}
            }
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let mut st = self.inner.lock();
        st.sm.restore(snapshot.records.clone());
        st.last_applied = meta.last_log_id;
        st.membership = meta.last_membership.clone();
        st.snapshot = Some(Snapshot {
            meta: meta.clone(),
            snapshot,
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.inner.lock().snapshot.clone())
    }
}
