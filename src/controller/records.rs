//! One Raft entry = one Kafka v2 record batch, partition leader epoch = Raft term. The
//! encoded batch's base offset is the Raft index (the network's form); the log store
//! zeroes it and the log assigns Kafka offsets, one per record, so in the metadata log the
//! index and the offset differ ([`super::log_store`] maps them). What each entry becomes:
//!
//! - Normal: a data batch, one record per proposed record (null key, the record as value);
//! - Blank (a new leader's first entry): a control batch holding KRaft's LeaderChange
//!   control record (key: version 0, type 2; value: `LeaderChangeMessage` v0);
//! - Membership: a control batch holding KRaft's `VotersRecord` (key: version 0, type 6;
//!   value: `VotersRecord` v0). Only a single voter set without learners can be written,
//!   which is all a static `controller.quorum.voters` needs; a joint configuration is
//!   refused (it has no KRaft form).
//!
//! The control record values are hand-encoded from Kafka's JSON schemas (flexible
//! versions: compact arrays and strings, tagged-field sections). Decoding never trusts a
//! length: every read is bounds-checked.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use openraft::EntryPayload;
use thiserror::Error;

use super::types::{log_id, Entry, Membership, Node, NodeId, Proposal};
use crate::log::batch::{self, BatchHeader};
use crate::log::records::{decode_control_batch, encode_batch, NewRecord};
use crate::log::{now_ms, LogError};

/// `ControlRecordType.LEADER_CHANGE`.
pub const LEADER_CHANGE: i16 = 2;
/// `ControlRecordType.KRAFT_VOTERS`.
pub const KRAFT_VOTERS: i16 = 6;
/// The endpoint name a voter's address is stored under in a `VotersRecord`.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// A batch that is not a controller entry.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The batch itself is damaged (length, magic, CRC, records).
    #[error("bad batch: {0}")]
    Batch(#[from] LogError),
    /// A control record this module does not know, or a malformed one.
    #[error("bad control record: {0}")]
    Control(String),
    /// An entry that has no Kafka form (a joint membership, an empty proposal, a node id
    /// outside `i32`).
    #[error("unencodable entry: {0}")]
    Unencodable(String),
}

/// What a Blank entry's LeaderChange record says besides the epoch: who wrote it and the
/// voter set. A follower that stores a leader's Blank entry knows the leader from the
/// vote it saved for that term; one that replicates an older term's Blank writes -1.
#[derive(Clone, Debug, Default)]
pub struct LeaderHint {
    pub leader_id: i32,
    pub voters: Vec<i32>,
}

/// Encodes `entry` as one batch with base offset = index and epoch = term (the log store
/// replaces the offset with the Kafka one).
pub fn encode_entry(entry: &Entry, hint: &LeaderHint) -> Result<Vec<u8>, CodecError> {
    let term = i32::try_from(entry.log_id.leader_id.term)
        .map_err(|_| CodecError::Unencodable(format!("term {}", entry.log_id.leader_id.term)))?;
    let index = i64::try_from(entry.log_id.index)
        .map_err(|_| CodecError::Unencodable(format!("index {}", entry.log_id.index)))?;
    match &entry.payload {
        EntryPayload::Normal(Proposal(recs)) => {
            if recs.is_empty() {
                return Err(CodecError::Unencodable("empty proposal".into()));
            }
            Ok(data_batch(recs, term, index))
        }
        EntryPayload::Blank => Ok(control_batch(
            LEADER_CHANGE,
            encode_leader_change(hint.leader_id, &hint.voters),
            term,
            index,
        )),
        EntryPayload::Membership(m) => {
            Ok(control_batch(KRAFT_VOTERS, encode_voters(m)?, term, index))
        }
    }
}

/// A data batch of `records` (null keys), at `base_offset` with `epoch`.
pub fn data_batch(records: &[Bytes], epoch: i32, base_offset: i64) -> Vec<u8> {
    let now = now_ms();
    let records: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord {
            key: None,
            value: Some(r.to_vec()),
            headers: Vec::new(),
            timestamp: now,
        })
        .collect();
    let mut b = encode_batch(&records, epoch);
    batch::put(&mut b, batch::BASE_OFFSET, &base_offset.to_be_bytes());
    b
}

/// A control batch of one control record of type `kind`, at `base_offset` with `epoch`.
pub fn control_batch(kind: i16, value: Vec<u8>, epoch: i32, base_offset: i64) -> Vec<u8> {
    let mut b = encode_batch(&[control_record(kind, value, now_ms())], epoch);
    batch::put(&mut b, batch::BASE_OFFSET, &base_offset.to_be_bytes());
    batch::put(
        &mut b,
        batch::ATTRIBUTES,
        &batch::CONTROL_MASK.to_be_bytes(),
    );
    let crc = batch::compute_crc(&b);
    batch::put(&mut b, batch::CRC, &crc.to_be_bytes());
    b
}

/// The control type of a control batch's first record (its key is version + type).
pub fn control_type(records: &[crate::log::records::Record]) -> Result<i16, CodecError> {
    let first = records
        .first()
        .ok_or_else(|| CodecError::Control("empty control batch".into()))?;
    first
        .key
        .as_deref()
        .and_then(|k| k.get(2..4))
        .and_then(|k| k.try_into().ok())
        .map(i16::from_be_bytes)
        .ok_or_else(|| CodecError::Control("short control key".into()))
}

fn control_record(kind: i16, value: Vec<u8>, timestamp: i64) -> NewRecord {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    NewRecord {
        key: Some(key),
        value: Some(value),
        headers: Vec::new(),
        timestamp,
    }
}

/// Decodes one whole batch (CRC checked) back into the entry it stores, its index taken
/// from the base offset (the log store puts the entry's own index in its place).
pub fn decode_entry(b: &[u8]) -> Result<Entry, CodecError> {
    let header: BatchHeader = batch::check_integrity(b)?;
    let term = u64::try_from(header.partition_leader_epoch)
        .map_err(|_| CodecError::Control(format!("epoch {}", header.partition_leader_epoch)))?;
    let index = u64::try_from(header.base_offset)
        .map_err(|_| CodecError::Control(format!("offset {}", header.base_offset)))?;
    let records = decode_control_batch(b)?;
    let payload = if header.is_control() {
        let first = records
            .first()
            .ok_or_else(|| CodecError::Control("empty control batch".into()))?;
        let key = first.key.as_deref().unwrap_or_default();
        let kind = key
            .get(2..4)
            .and_then(|k| k.try_into().ok())
            .map(i16::from_be_bytes)
            .ok_or_else(|| CodecError::Control("short control key".into()))?;
        match kind {
            LEADER_CHANGE => EntryPayload::Blank,
            KRAFT_VOTERS => {
                EntryPayload::Membership(decode_voters(first.value.as_deref().unwrap_or_default())?)
            }
            other => return Err(CodecError::Control(format!("control type {other}"))),
        }
    } else {
        EntryPayload::Normal(Proposal(
            records
                .into_iter()
                .map(|r| r.value.unwrap_or_default())
                .collect(),
        ))
    };
    Ok(Entry {
        log_id: log_id(term, index),
        payload,
    })
}

/// `LeaderChangeMessage` v0: Version, LeaderId, Voters, GrantingVoters (empty: openraft
/// does not report who granted the vote).
pub fn encode_leader_change(leader_id: i32, voters: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 5 * voters.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&leader_id.to_be_bytes());
    put_uvarint(&mut out, voters.len() as u64 + 1);
    for v in voters {
        out.extend_from_slice(&v.to_be_bytes());
        out.push(0); // tagged fields
    }
    put_uvarint(&mut out, 1); // GrantingVoters: empty
    out.push(0);
    out
}

/// `VotersRecord` v0 from a single voter set: each voter with a zero directory id, one
/// `CONTROLLER` endpoint (its address), and kraft.version 0..=0 supported.
pub fn encode_voters(m: &Membership) -> Result<Vec<u8>, CodecError> {
    let configs = m.get_joint_config();
    if configs.len() != 1 {
        return Err(CodecError::Unencodable("a joint membership".into()));
    }
    if m.learner_ids().next().is_some() {
        return Err(CodecError::Unencodable("a membership with learners".into()));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    let voters: Vec<(NodeId, Option<&Node>)> =
        m.voter_ids().map(|id| (id, m.get_node(&id))).collect();
    put_uvarint(&mut out, voters.len() as u64 + 1);
    for (id, node) in voters {
        let id = i32::try_from(id).map_err(|_| CodecError::Unencodable(format!("node {id}")))?;
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0u8; 16]);
        match node.map(|n| n.addr.as_str()).and_then(split_addr) {
            Some((host, port)) => {
                put_uvarint(&mut out, 2);
                put_compact_str(&mut out, CONTROLLER_LISTENER);
                put_compact_str(&mut out, host);
                out.extend_from_slice(&port.to_be_bytes());
                out.push(0);
            }
            None => put_uvarint(&mut out, 1),
        }
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.push(0); // KRaftVersionFeature's tagged fields
        out.push(0); // the voter's tagged fields
    }
    out.push(0);
    Ok(out)
}

fn split_addr(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// Reads a `VotersRecord` v0 back into a single-config membership.
pub fn decode_voters(b: &[u8]) -> Result<Membership, CodecError> {
    let mut r = Reader { b, pos: 0 };
    let version = r.i16()?;
    if version != 0 {
        return Err(CodecError::Control(format!(
            "VotersRecord version {version}"
        )));
    }
    let n = r.compact_len()?;
    let mut ids = BTreeSet::new();
    let mut nodes = BTreeMap::new();
    for _ in 0..n {
        let id = r.i32()?;
        r.skip(16)?;
        let endpoints = r.compact_len()?;
        let mut addr = String::new();
        for _ in 0..endpoints {
            let name = r.compact_str()?;
            let host = r.compact_str()?;
            let port = r.u16()?;
            r.skip_tags()?;
            if name == CONTROLLER_LISTENER || addr.is_empty() {
                addr = format!("{host}:{port}");
            }
        }
        r.i16()?;
        r.i16()?;
        r.skip_tags()?;
        r.skip_tags()?;
        let id = NodeId::try_from(id).map_err(|_| CodecError::Control(format!("voter {id}")))?;
        ids.insert(id);
        nodes.insert(id, Node { addr });
    }
    r.skip_tags()?;
    Ok(Membership::new(vec![ids], nodes))
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_compact_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64 + 1);
    out.extend_from_slice(s.as_bytes());
}

/// A bounds-checked cursor over a control record's value.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| CodecError::Control("length overflow".into()))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| CodecError::Control("truncated control record".into()))?;
        self.pos = end;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        self.take(n).map(|_| ())
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        self.take(N)?
            .try_into()
            .map_err(|_| CodecError::Control("truncated control record".into()))
    }
    fn i16(&mut self) -> Result<i16, CodecError> {
        self.arr().map(i16::from_be_bytes)
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        self.arr().map(u16::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, CodecError> {
        self.arr().map(i32::from_be_bytes)
    }
    fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let [byte] = self.arr::<1>()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Control("varint too long".into()))
    }
    /// A compact array's length, bounded by the bytes left (each element is ≥ 1 byte).
    fn compact_len(&mut self) -> Result<usize, CodecError> {
        let n = self.uvarint()?;
        let n = usize::try_from(n.saturating_sub(1))
            .map_err(|_| CodecError::Control("array length".into()))?;
        if n > self.b.len().saturating_sub(self.pos) {
            return Err(CodecError::Control(format!("array of {n} elements")));
        }
        Ok(n)
    }
    fn compact_str(&mut self) -> Result<String, CodecError> {
        let n = self.compact_len()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| CodecError::Control("string not UTF-8".into()))
    }
    fn skip_tags(&mut self) -> Result<(), CodecError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()?;
            let size = usize::try_from(size).map_err(|_| CodecError::Control("tag size".into()))?;
            self.skip(size)?;
        }
        Ok(())
    }
}

/// A proposal from records (tests).
#[cfg(test)]
pub fn proposal(records: impl IntoIterator<Item = Bytes>) -> Proposal {
    Proposal(records.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership() -> Membership {
        let ids: BTreeSet<NodeId> = [1, 2, 3].into_iter().collect();
        let nodes: BTreeMap<NodeId, Node> = ids
            .iter()
            .map(|&i| {
                (
                    i,
                    Node {
                        addr: format!("127.0.0.1:{}", 9090 + i),
                    },
                )
            })
            .collect();
        Membership::new(vec![ids], nodes)
    }

    #[test]
    fn entries_round_trip_as_kafka_batches() {
        let hint = LeaderHint {
            leader_id: 2,
            voters: vec![1, 2, 3],
        };
        let entries = vec![
            Entry {
                log_id: log_id(0, 0),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 2),
                payload: EntryPayload::Normal(proposal([
                    Bytes::from_static(b"a"),
                    Bytes::from_static(b"bc"),
                ])),
            },
        ];
        for e in entries {
            let b = encode_entry(&e, &hint).expect("test setup");
            let h = batch::check_integrity(&b).expect("test setup");
            assert_eq!(h.base_offset as u64, e.log_id.index);
            assert_eq!(h.partition_leader_epoch as u64, e.log_id.leader_id.term);
            assert_eq!(
                h.is_control(),
                !matches!(e.payload, EntryPayload::Normal(_))
            );
            let back = decode_entry(&b).expect("test setup");
            assert_eq!(back.log_id, e.log_id);
            assert_eq!(format!("{:?}", back.payload), format!("{:?}", e.payload));
        }
    }

    #[test]
    fn leader_change_matches_the_schema_layout() {
        // Version 0, LeaderId 2, Voters [1, 3], GrantingVoters [] and no tags
        let v = encode_leader_change(2, &[1, 3]);
        assert_eq!(v, [0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 1, 0]);
    }

    #[test]
    fn garbage_voters_records_are_errors() {
        let good = encode_voters(&membership()).expect("test setup");
        for cut in 0..good.len() {
            assert!(decode_voters(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_voters(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[test]
    fn a_joint_membership_is_refused() {
        let a: BTreeSet<NodeId> = [1].into_iter().collect();
        let b: BTreeSet<NodeId> = [2].into_iter().collect();
        let m = Membership::new(vec![a, b], ());
        assert!(encode_voters(&m).is_err());
    }
}
