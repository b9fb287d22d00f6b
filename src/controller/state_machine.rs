//! openraft's state machine over ours ([`MetadataStateMachine`]): committed Normal entries
//! are handed to it in order with their Kafka offsets; Blank and Membership entries only
//! move the applied position.
//!
//! Kafka offsets: every entry is one batch, its records at consecutive offsets right after
//! the previous entry's (a Normal entry's n records take n, a Blank or Membership entry's
//! single control record one), so the offsets follow from the Kafka end offset of the last
//! applied entry (`applied_end`): 0 for an empty log, a snapshot's end offset after one is
//! restored or installed. An entry's offset, as handed to the state machine and answered
//! to its proposer, is that of its last record (Kafka's image counts so).
//!
//! Snapshots are the state machine's records at its last applied entry, written as
//! Kafka's `<end offset>-<epoch>.checkpoint` ([`super::snapshot`]) before openraft may
//! purge the log below them, and sent whole to a follower that is behind the leader's log
//! start; their openraft id is Kafka's snapshot id (`<end offset>-<epoch>`), so the
//! follower learns the end offset with them. At start the newest snapshot is restored,
//! then the log after it replayed.

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
    /// The Kafka offset after the last applied entry's last record.
    applied_end: i64,
    membership: StoredMembership,
    snapshot: Option<Snapshot>,
    snapshots_built: u64,
}

impl<S: MetadataStateMachine> StateMachineStore<S> {
    /// Wraps `sm`, first restoring it from the newest snapshot in `dir` (blocking I/O).
    pub fn open(sm: S, dir: PathBuf) -> Result<Self, LogError> {
        let mut st = SmState {
            last_applied: None,
            applied_end: 0,
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
            st.sm.restore(found.end_offset, found.records.clone());
            st.last_applied = Some(found.last_log_id);
            st.applied_end = found.end_offset;
            st.membership = found.membership.clone();
            st.snapshot = Some(Snapshot {
                meta: SnapshotMeta {
                    last_log_id: Some(found.last_log_id),
                    last_membership: found.membership,
                    snapshot_id: snapshot::snapshot_id(
                        found.end_offset,
                        found.last_log_id.leader_id.term,
                    ),
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

    /// The index of the last entry applied (or restored from a snapshot), if any.
    pub fn last_applied_index(&self) -> Option<u64> {
        self.inner.lock().last_applied.map(|l| l.index)
    }

    /// Writes a snapshot file on the blocking pool.
    async fn write_file(&self, meta: &SnapshotMeta, records: &[Bytes]) -> Result<(), StorageError> {
        let Some(last) = meta.last_log_id else {
            return Ok(()); // nothing applied: nothing to keep
        };
        let end_offset = end_offset(meta).ok_or_else(|| bad_snapshot_id(meta))?;
        let dir = self.dir.clone();
        let membership = meta.last_membership.clone();
        let records = records.to_vec();
        let res = tokio::task::spawn_blocking(move || {
            snapshot::write(&dir, &last, end_offset, &membership, &records).map(|_| ())
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
                snapshot_id: match st.last_applied {
                    Some(l) => snapshot::snapshot_id(st.applied_end, l.leader_id.term),
                    None => format!("empty-{}", st.snapshots_built),
                },
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

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<i64>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut st = self.inner.lock();
        for e in entries {
            st.last_applied = Some(e.log_id);
            // the batch's records, each one offset (control batches hold one record)
            let records = match &e.payload {
                EntryPayload::Normal(p) => p.0.len().max(1),
                EntryPayload::Blank | EntryPayload::Membership(_) => 1,
            };
            st.applied_end += records as i64;
            let offset = st.applied_end - 1;
            match e.payload {
                EntryPayload::Normal(p) => st.sm.apply(offset, &p.0),
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(e.log_id), m);
                }
                EntryPayload::Blank => {}
            }
            out.push(offset);
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
        let end = end_offset(meta).ok_or_else(|| bad_snapshot_id(meta))?;
        let mut st = self.inner.lock();
        st.sm.restore(end, snapshot.records.clone());
        st.last_applied = meta.last_log_id;
        st.applied_end = end;
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

/// The Kafka end offset a snapshot's id names.
fn end_offset(meta: &SnapshotMeta) -> Option<i64> {
    snapshot::parse_id(&meta.snapshot_id).map(|(end, _)| end)
}

fn bad_snapshot_id(meta: &SnapshotMeta) -> StorageError {
    let e = std::io::Error::other(format!(
        "snapshot id {:?} is not `<end offset>-<epoch>`",
        meta.snapshot_id
    ));
    openraft::StorageIOError::read_snapshot(Some(meta.signature()), openraft::AnyError::new(&e))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::records::proposal;
    use crate::controller::types::{log_id, Membership, Node, NodeId};

    type Applied = Vec<(i64, Vec<Bytes>)>;

    /// Keeps (offset, records) of every apply.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Applied>>);

    impl MetadataStateMachine for Seen {
        fn apply(&mut self, offset: i64, records: &[Bytes]) {
            self.0.lock().push((offset, records.to_vec()));
        }
        fn snapshot(&self) -> Vec<Bytes> {
            self.0.lock().iter().flat_map(|(_, r)| r.clone()).collect()
        }
        fn restore(&mut self, _end_offset: i64, records: Vec<Bytes>) {
            *self.0.lock() = vec![(-1, records)];
        }
    }

    fn membership() -> Membership {
        let ids: std::collections::BTreeSet<NodeId> = [1, 2, 3].into_iter().collect();
        let nodes: std::collections::BTreeMap<NodeId, Node> = ids
            .iter()
            .map(|&i| (i, Node::new(format!("127.0.0.1:{}", 9000 + i))))
            .collect();
        Membership::new(vec![ids], nodes)
    }

    fn multi(term: u64, index: u64, n: usize) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(proposal(
                (0..n).map(|i| Bytes::from(format!("{index}.{i}"))),
            )),
        }
    }

    /// Entries 0..=3: the voters (one record), a leader change (one), then entries of
    /// 3 and 2 records: offsets 0, 1, 2..=4, 5..=6.
    fn history() -> Vec<Entry> {
        vec![
            Entry {
                log_id: log_id(0, 0),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            multi(1, 2, 3),
            multi(1, 3, 2),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_of_multi_record_history_carry_the_kafka_end_offset() {
        let leader_dir = tempfile::tempdir().expect("test setup");
        let seen = Seen::default();
        let mut leader = StateMachineStore::open(seen.clone(), leader_dir.path().to_path_buf())
            .expect("test setup");
        let offsets = leader.apply(history()).await.expect("test setup");
        // each entry answers the offset of its last record
        assert_eq!(offsets, [0, 1, 4, 6]);
        assert_eq!(
            seen.0
                .lock()
                .iter()
                .map(|(o, r)| (*o, r.len()))
                .collect::<Vec<_>>(),
            [(4, 3), (6, 2)]
        );

        let snap = leader.build_snapshot().await.expect("test setup");
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 3)));
        assert_eq!(snap.meta.snapshot_id, snapshot::snapshot_id(7, 1));
        assert!(leader_dir.path().join(snapshot::file_name(7, 1)).exists());

        // a restart restores it and goes on at offset 7
        let seen_again = Seen::default();
        let mut restarted =
            StateMachineStore::open(seen_again.clone(), leader_dir.path().to_path_buf())
                .expect("test setup");
        let (applied, _) = restarted.applied_state().await.expect("test setup");
        assert_eq!(applied, Some(log_id(1, 3)));
        let offsets = restarted
            .apply(vec![multi(2, 4, 3)])
            .await
            .expect("test setup");
        assert_eq!(offsets, [9]);

        // a follower installs it and goes on at the same offsets
        let follower_dir = tempfile::tempdir().expect("test setup");
        let seen_f = Seen::default();
        let mut follower = StateMachineStore::open(seen_f.clone(), follower_dir.path().into())
            .expect("test setup");
        follower
            .install_snapshot(&snap.meta, snap.snapshot.clone())
            .await
            .expect("test setup");
        let stored = snapshot::read_latest(follower_dir.path())
            .expect("test setup")
            .expect("a snapshot");
        assert_eq!(stored.last_log_id, log_id(1, 3));
        assert_eq!(stored.end_offset, 7);
        assert_eq!(
            stored.records,
            ["2.0", "2.1", "2.2", "3.0", "3.1"].map(|s| Bytes::from(s.as_bytes()))
        );
        let offsets = follower
            .apply(vec![multi(2, 4, 3)])
            .await
            .expect("test setup");
        assert_eq!(offsets, [9]);
        assert_eq!(seen_f.0.lock().last().map(|(o, _)| *o), Some(9));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_whose_id_names_no_offset_is_refused() {
        let dir = tempfile::tempdir().expect("test setup");
        let mut sm =
            StateMachineStore::open(Seen::default(), dir.path().to_path_buf()).expect("test setup");
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(1, 3)),
            last_membership: StoredMembership::new(Some(log_id(0, 0)), membership()),
            snapshot_id: "3-1x".into(),
        };
        assert!(sm.install_snapshot(&meta, Box::default()).await.is_err());
    }
}
