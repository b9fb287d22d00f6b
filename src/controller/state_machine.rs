//! openraft's state machine over ours ([`MetadataStateMachine`]): committed Normal entries
//! are handed to it in order with their offsets; Blank and Membership entries only move
//! the applied position.
//!
//! Snapshots are the state machine's records at its last applied offset, written as
//! Kafka's `<end offset>-<epoch>.checkpoint` ([`super::snapshot`]) before openraft may
//! purge the log below them, and sent whole to a follower that is behind the leader's log
//! start. At start the newest snapshot is restored, then the log after it replayed.

use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder};
use parking_lot::Mutex;

use bytes::Bytes;

use super::snapshot;
use super::types::{
    Entry, LogId, Snapshot, SnapshotData, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use super::MetadataStateMachine;
use crate::log::LogError;

/// The adapter openraft drives; clones share the state (a clone builds snapshots).
pub struct StateMachineStore<S> {
    inner: Arc<Mutex<SmState<S>>>,
    /// Where snapshot files go: the metadata log's directory.
    dir: Arc<PathBuf>,
}

impl<S> Clone for StateMachineStore<S> {
    fn clone(&self) -> Self {
        StateMachineStore {
            inner: self.inner.clone(),
            dir: self.dir.clone(),
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
    /// Wraps `sm`, first restoring it from the newest snapshot in `dir` (blocking I/O).
    pub fn open(sm: S, dir: PathBuf) -> Result<Self, LogError> {
        let mut st = SmState {
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
            snapshots_built: 0,
            sm,
        };
        if let Some(found) = snapshot::read_latest(&dir)? {
            tracing::info!(
                last_index = found.last_log_id.index,
                records = found.records.len(),
                "restoring the metadata state from a snapshot"
            );
            st.sm.restore(found.records.clone());
            st.last_applied = Some(found.last_log_id);
            st.membership = found.membership.clone();
            st.snapshot = Some(Snapshot {
                meta: SnapshotMeta {
                    last_log_id: Some(found.last_log_id),
                    last_membership: found.membership,
                    snapshot_id: snapshot::file_name(&found.last_log_id),
                },
                snapshot: Box::new(SnapshotData {
                    records: found.records,
                }),
            });
        }
        Ok(StateMachineStore {
            inner: Arc::new(Mutex::new(st)),
            dir: Arc::new(dir),
        })
    }

    /// Writes a snapshot file on the blocking pool.
    async fn write_file(&self, meta: &SnapshotMeta, records: &[Bytes]) -> Result<(), StorageError> {
        let Some(last) = meta.last_log_id else {
            return Ok(()); // nothing applied: nothing to keep
        };
        let dir = self.dir.clone();
        let membership = meta.last_membership.clone();
        let records = records.to_vec();
        let res = tokio::task::spawn_blocking(move || {
            snapshot::write(&dir, &last, &membership, &records).map(|_| ())
        })
        .await;
        let err = match res {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => openraft::AnyError::new(&e),
            Err(e) => openraft::AnyError::new(&e),
        };
        Err(openraft::StorageIOError::write_snapshot(Some(meta.signature()), err).into())
    }
}

impl<S: MetadataStateMachine> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<S> {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (meta, records) = {
            let mut st = self.inner.lock();
            st.snapshots_built += 1;
            let meta = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
                snapshot_id: format!(
                    "{}-{}",
                    st.last_applied.map_or(-1, |l| l.index as i64),
                    st.snapshots_built
                ),
            };
            (meta, st.sm.snapshot())
        };
        // durable before openraft may purge the log it replaces
        self.write_file(&meta, &records).await?;
        let snapshot = Snapshot {
            meta,
            snapshot: Box::new(SnapshotData { records }),
        };
        self.inner.lock().snapshot = Some(snapshot.clone());
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
        self.write_file(meta, &snapshot.records).await?;
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
