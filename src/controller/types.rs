//! openraft's type configuration for the controller quorum: what an entry carries, what a
//! node is, what a snapshot holds. Only `controller/` sees these types.

use bytes::Bytes;

/// A Normal entry's payload: opaque records (KRaft's `ApiMessageAndVersion`s, encoded by
/// the metadata module), each the value of one Kafka record with a null key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal(pub Vec<Bytes>);

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} records", self.0.len())
    }
}

/// A snapshot: the state machine's records at its last applied offset, sent whole
/// (`generic-snapshot-data`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotData {
    pub records: Vec<Bytes>,
}

openraft::declare_raft_types!(
    /// The controller quorum's Raft types. A write's response is the Kafka offset of its
    /// entry's last record. Node ids are Kafka node ids (`i32` ≥ 0 on the
    /// wire); a node's address is `host:port` of its controller listener.
    pub TypeConfig:
        D = Proposal,
        R = i64,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, Node>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;

/// A log id from a Kafka batch's epoch and offset (with `single-term-leader` a committed
/// leader id is the term alone).
pub fn log_id(term: u64, index: u64) -> LogId {
    openraft::LogId::new(openraft::CommittedLeaderId::new(term, 0), index)
}

/// A vote in `term` for node `voted` (for no one when negative), committed (granted by a
/// quorum: `voted` leads) or not.
pub fn vote_for(term: u64, voted: i64, committed: bool) -> Vote {
    let mut vote = match u64::try_from(voted) {
        Ok(n) => Vote::new(term, n),
        Err(_) => Vote {
            leader_id: openraft::LeaderId {
                term,
                voted_for: None,
            },
            committed: false,
        },
    };
    if committed {
        vote.commit();
    }
    vote
}
