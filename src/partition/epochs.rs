//! Leader epochs as requests see them (KIP-320): the check of a request's current leader
//! epoch against this partition's, and OffsetForLeaderEpoch's answer (Kafka's
//! `Partition.checkCurrentLeaderEpoch` and `Partition.lastOffsetForLeaderEpoch`). The
//! epoch cache itself is the log's ([`PartitionLog::end_offset_for_epoch`]).
//!
//! [`PartitionLog::end_offset_for_epoch`]: crate::log::PartitionLog::end_offset_for_epoch

use std::cmp::Ordering;

use super::{Partition, PartitionError};

/// The current leader epoch of a request that asks for no check (Kafka's
/// `RecordBatch.NO_PARTITION_LEADER_EPOCH`).
const NO_EPOCH_CHECK: i32 = -1;

impl Partition {
    /// Checks a request's `current_leader_epoch` against this partition's leader epoch:
    /// -1 asks for no check; an older one is FENCED_LEADER_EPOCH (the client's metadata is
    /// stale), a newer one UNKNOWN_LEADER_EPOCH (this broker's is).
    pub fn check_current_epoch(&self, current_leader_epoch: i32) -> Result<(), PartitionError> {
        self.check_epoch(current_leader_epoch, self.leader_epoch())
    }

    /// [`Self::check_current_epoch`] against `current`, this partition's leader epoch as
    /// the caller read it.
    fn check_epoch(&self, current_leader_epoch: i32, current: i32) -> Result<(), PartitionError> {
        if current_leader_epoch == NO_EPOCH_CHECK {
            return Ok(());
        }
        let partition = || self.topic_partition().to_string();
        match current_leader_epoch.cmp(&current) {
            Ordering::Equal => Ok(()),
            Ordering::Less => Err(PartitionError::FencedLeaderEpoch {
                partition: partition(),
                requested: current_leader_epoch,
                current,
            }),
            Ordering::Greater => Err(PartitionError::UnknownLeaderEpoch {
                partition: partition(),
                requested: current_leader_epoch,
                current,
            }),
        }
    }

    /// OffsetForLeaderEpoch: the end offset of `leader_epoch` in this partition's log, as
    /// (epoch, end offset), (-1, -1) when undefined. The current epoch is checked first,
    /// then leadership when `fetch_only_from_leader` (Kafka's ReplicaManager asks with true
    /// for consumers and followers alike: only the leader's epoch cache is authoritative).
    pub fn last_offset_for_leader_epoch(
        &self,
        current_leader_epoch: i32,
        leader_epoch: i32,
        fetch_only_from_leader: bool,
    ) -> Result<(i32, i64), PartitionError> {
        // epoch and leadership from one read of the replica state, as Kafka reads both
        // under its leader-ISR lock
        let (epoch, leader) = {
            let st = self.replicas.read();
            (st.leader_epoch, st.leader)
        };
        self.check_epoch(current_leader_epoch, epoch)?;
        if fetch_only_from_leader && leader != self.local_id {
            return Err(PartitionError::NotLeader(
                self.topic_partition().to_string(),
            ));
        }
        Ok(self.log.end_offset_for_epoch(leader_epoch))
    }
}
