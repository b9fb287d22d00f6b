//! The records of `__consumer_offsets`, in Kafka's own key and value schemas, so Kafka's
//! `DumpLogSegments --offsets-decoder` reads them and the topic could move to Kafka:
//!
//! - `OffsetCommitKey` v1 (group, topic, partition) → `OffsetCommitValue` v3 (offset,
//!   leader epoch, metadata, commit timestamp);
//! - `GroupMetadataKey` v2 (group) → `GroupMetadataValue` v3 (protocol type, generation,
//!   protocol, leader, state timestamp, members);
//! - a null value (tombstone) deletes the key.
//!
//! Decoding also accepts every value version Kafka writes (offsets v0-v4, groups v0-v4;
//! v4 is the first flexible one, which Kafka 4 writes: compact strings and bytes, tagged
//! fields, of which 4.3's `topicId` on offsets is skipped). KIP-848 consumer groups'
//! records (key types 3 to 8) are [`super::consumer_records`]'; other keys (share and
//! streams groups, Kafka 4.x's regex resolutions: types 9+) are skipped, and
//! [`decode_record`] tells them apart from records that cannot be read.
//!
//! Kafka 4.3.1 writes offsets v4 and groups v3 (seen in a real node's log dir). Rafka
//! keeps writing offsets v3 and groups v3: every Kafka since 2.1 reads them (4.x
//! included), and offsets v4 adds only the tagged topic id, which Rafka does not keep.

use bytes::Bytes;

/// A committed offset, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member in a group's stored metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's stored metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// What a record of the topic says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
    /// A KIP-848 consumer group's record.
    Consumer {
        group: String,
        record: super::consumer_records::ConsumerRecord,
    },
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_nullable_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + group.len() + topic.len());
    out.extend_from_slice(&1i16.to_be_bytes());
    put_str(&mut out, group);
    put_str(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

pub fn offset_value(v: &OffsetValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + v.metadata.len());
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&v.offset.to_be_bytes());
    out.extend_from_slice(&v.leader_epoch.to_be_bytes());
    put_str(&mut out, &v.metadata);
    out.extend_from_slice(&v.commit_timestamp.to_be_bytes());
    out
}

pub fn group_key(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group.len());
    out.extend_from_slice(&2i16.to_be_bytes());
    put_str(&mut out, group);
    out
}

pub fn group_value(v: &GroupValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&3i16.to_be_bytes());
    put_str(&mut out, &v.protocol_type);
    out.extend_from_slice(&v.generation.to_be_bytes());
    put_nullable_str(&mut out, v.protocol.as_deref());
    put_nullable_str(&mut out, v.leader.as_deref());
    out.extend_from_slice(&v.state_timestamp.to_be_bytes());
    out.extend_from_slice(&(v.members.len() as i32).to_be_bytes());
    for m in &v.members {
        put_str(&mut out, &m.member_id);
        put_nullable_str(&mut out, m.instance_id.as_deref());
        put_str(&mut out, &m.client_id);
        put_str(&mut out, &m.client_host);
        out.extend_from_slice(&m.rebalance_timeout_ms.to_be_bytes());
        out.extend_from_slice(&m.session_timeout_ms.to_be_bytes());
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

/// A cursor over big-endian fields; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
    }
    fn nullable_str(&mut self) -> Option<Option<String>> {
        let n = self.i16()?;
        if n < 0 {
            return Some(None);
        }
        let b = self.take(n as usize)?;
        Some(Some(String::from_utf8_lossy(b).into_owned()))
    }
    fn str(&mut self) -> Option<String> {
        self.nullable_str()?
    }
    fn bytes(&mut self) -> Option<Bytes> {
        let n = self.i32()?;
        if n < 0 {
            return Some(Bytes::new());
        }
        self.take(n as usize).map(Bytes::copy_from_slice)
    }
    /// An unsigned varint (flexible versions), at most 5 bytes for a u32.
    fn uvarint(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = *self.take(1)?.first()?;
            if i == 4 && b > 0x0f {
                return None;
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    /// A compact length: the varint is the length plus one, 0 for null.
    fn compact_len(&mut self) -> Option<Option<usize>> {
        let n = self.uvarint()?;
        Some(n.checked_sub(1).map(|n| n as usize))
    }
    fn compact_nullable_str(&mut self) -> Option<Option<String>> {
        match self.compact_len()? {
            None => Some(None),
            Some(n) => {
                let b = self.take(n)?;
                Some(Some(String::from_utf8_lossy(b).into_owned()))
            }
        }
    }
    fn compact_str(&mut self) -> Option<String> {
        self.compact_nullable_str()?
    }
    fn compact_bytes(&mut self) -> Option<Bytes> {
        match self.compact_len()? {
            None => Some(Bytes::new()),
            Some(n) => self.take(n).map(Bytes::copy_from_slice),
        }
    }
    /// Skips a tagged-field section: none of the tags Kafka defines is one Rafka keeps.
    fn skip_tagged_fields(&mut self) -> Option<()> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Some(())
    }
    /// A string of the version's encoding (compact from the first flexible version).
    fn str_v(&mut self, flexible: bool) -> Option<String> {
        if flexible {
            self.compact_str()
        } else {
            self.str()
        }
    }
    fn nullable_str_v(&mut self, flexible: bool) -> Option<Option<String>> {
        if flexible {
            self.compact_nullable_str()
        } else {
            self.nullable_str()
        }
    }
    fn bytes_v(&mut self, flexible: bool) -> Option<Bytes> {
        if flexible {
            self.compact_bytes()
        } else {
            self.bytes()
        }
    }
}

fn decode_offset_value(b: &[u8]) -> Option<OffsetValue> {
    let mut r = Reader(b);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return None;
    }
    let flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str_v(flexible)?;
    // v0: timestamp; v1: commit and expire timestamps; v2+: commit timestamp
    let commit_timestamp = r.i64()?;
    if version == 1 {
        r.i64()?;
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Some(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

fn decode_group_value(b: &[u8]) -> Option<GroupValue> {
    let mut r = Reader(b);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return None;
    }
    let flexible = version >= 4;
    let protocol_type = r.str_v(flexible)?;
    let generation = r.i32()?;
    let protocol = r.nullable_str_v(flexible)?;
    let leader = r.nullable_str_v(flexible)?;
    let state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = if flexible {
        r.compact_len()?.unwrap_or(0)
    } else {
        r.i32()?.max(0) as usize
    };
    // every member takes at least 8 bytes: a count beyond that is a lie
    if count > r.0.len() / 8 + 1 {
        return None;
    }
    let mut members = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let member_id = r.str_v(flexible)?;
        let instance_id = if version >= 3 {
            r.nullable_str_v(flexible)?
        } else {
            None
        };
        let client_id = r.str_v(flexible)?;
        let client_host = r.str_v(flexible)?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout_ms = r.i32()?;
        let subscription = r.bytes_v(flexible)?;
        let assignment = r.bytes_v(flexible)?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        members.push(StoredMember {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: if rebalance_timeout_ms < 0 {
                session_timeout_ms
            } else {
                rebalance_timeout_ms
            },
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Some(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp,
        members,
    })
}

/// A record of the topic that Rafka cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unreadable key of {OFFSETS}")]
    Key,
    #[error("unreadable {OFFSETS} value of key type {0}")]
    Value(i16),
}

/// The topic's name, for messages.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
const OFFSETS: &str = OFFSETS_TOPIC;

/// Decodes one record: `Ok(None)` for a key type Rafka does not use (share and streams
/// groups' records, Kafka 4.x's regex resolutions: key types 9 and up), an error
/// for a record of a known type that cannot be read (truncated, unknown value version).
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<Option<Entry>, DecodeError> {
    let mut r = Reader(key);
    let key_type = r.i16().ok_or(DecodeError::Key)?;
    match key_type {
        0 | 1 => {
            let (group, topic, partition) =
                (|| Some((r.str()?, r.str()?, r.i32()?)))().ok_or(DecodeError::Key)?;
            let value = match value {
                None => None,
                Some(v) => Some(decode_offset_value(v).ok_or(DecodeError::Value(key_type))?),
            };
            Ok(Some(Entry::Offset {
                group,
                topic,
                partition,
                value,
            }))
        }
        2 => {
            let group = r.str().ok_or(DecodeError::Key)?;
            let value = match value {
                None => None,
                Some(v) => Some(decode_group_value(v).ok_or(DecodeError::Value(key_type))?),
            };
            Ok(Some(Entry::Group { group, value }))
        }
        3..=8 => {
            let (group, record) = super::consumer_records::decode(key_type, r.0, value)
                .ok_or(DecodeError::Value(key_type))?;
            Ok(Some(Entry::Consumer { group, record }))
        }
        k if k >= 9 => Ok(None),
        _ => Err(DecodeError::Key),
    }
}

/// Decodes one record; `None` for keys Rafka does not use or values it cannot read.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<Entry> {
    decode_record(key, value).ok().flatten()
}

/// Java's `String.hashCode()`: over UTF-16 code units.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The partition of `__consumer_offsets` that holds a group, as Kafka computes it:
/// `Utils.abs(groupId.hashCode()) % partitions` with Java's UTF-16 string hash
/// (`Utils.abs(i32::MIN)` is 0), the same as `txn::records::partition_for`.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = java_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// Where Rafka put a group before it followed Kafka (the hash with its sign bit
/// cleared): it differs from [`partition_for`] only for a negative hash. A data dir
/// written then may hold such a group in this partition; the coordinator moves it.
pub fn legacy_partition_for(group: &str, partitions: i32) -> i32 {
    (java_hash(group) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_match_kafkas_layout() {
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        let key = offset_key("g", "t", 7);
        // version 1, "g", "t", partition 7
        assert_eq!(key, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 7]);
        let value = offset_value(&v);
        assert_eq!(&value[..2], &[0, 3]);
        assert_eq!(value.len(), 2 + 8 + 4 + 3 + 8);
        assert_eq!(
            decode(&key, Some(&value)),
            Some(Entry::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7,
                value: Some(v)
            })
        );
        assert_eq!(
            decode(&key, None),
            Some(Entry::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7,
                value: None
            })
        );
    }

    #[test]
    fn group_metadata_round_trips() {
        let v = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "m1".into(),
                instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"\x00\x01assign"),
            }],
        };
        let decoded = decode(&group_key("grp"), Some(&group_value(&v)));
        assert_eq!(
            decoded,
            Some(Entry::Group {
                group: "grp".into(),
                value: Some(v)
            })
        );
        // truncated values are rejected, not misread
        let mut bad = group_value(&GroupValue {
            protocol_type: String::new(),
            generation: 1,
            protocol: None,
            leader: None,
            state_timestamp: 0,
            members: vec![],
        });
        bad.pop();
        assert_eq!(decode(&group_key("grp"), Some(&bad)), None);
        assert_eq!(decode(&[0, 9, 0, 0], None), None, "unknown key version");
    }

    #[test]
    fn partitions_follow_kafkas_utils_abs_of_javas_string_hash() {
        // "abc".hashCode() == 96354; "" == 0
        assert_eq!(partition_for("abc", 50), 96354 % 50);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == i32::MIN: Utils.abs gives 0
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // a negative hash: "miggrp".hashCode() == -1_074_249_030, so Kafka puts it in
        // 1_074_249_030 % 50 == 30 where the sign bit cleared gave 1_073_234_618 % 50 == 18
        assert_eq!(java_hash("miggrp"), -1_074_249_030);
        assert_eq!(partition_for("miggrp", 50), 30);
        assert_eq!(legacy_partition_for("miggrp", 50), 18);
        assert_eq!(legacy_partition_for("abc", 50), partition_for("abc", 50));
        // the same as the transaction coordinator's placement, which matches Kafka's
        for id in [
            "abc",
            "group-1",
            "polygenelubricants",
            "miggrp",
            "grp2",
            "é",
        ] {
            assert_eq!(
                partition_for(id, 50),
                crate::txn::records::partition_for(id, 50),
                "{id}"
            );
        }
        assert_eq!(partition_for("abc", 0), 0, "no panic on 0 partitions");
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The exact key and value Kafka 4.3.1 wrote for `miggrp` `mig-0` = 30 (copied from a
    /// real `__consumer_offsets-0` segment; DumpLogSegments shows version 4 with the
    /// tagged topicId `DfNY6wjqQ6C0CiW13_KsJg`).
    #[test]
    fn kafka_4_offset_commit_value_v4_decodes() {
        let key = unhex("000100066d696767727000036d696700000000");
        let value = unhex(
            "0004000000000000001effffffff01000001a2482fa060\
             0100100df358eb08ea43a0b40a25b5dff2ac26",
        );
        assert_eq!(value.len(), 42);
        assert_eq!(
            decode_record(&key, Some(&value)),
            Ok(Some(Entry::Offset {
                group: "miggrp".into(),
                topic: "mig".into(),
                partition: 0,
                value: Some(OffsetValue {
                    offset: 30,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp: 1_796_507_410_528,
                }),
            }))
        );
        // grp2 mig-1 = 9, from the same segment
        let key = unhex("000100046772703200036d696700000001");
        let value = unhex(
            "00040000000000000009ffffffff01000001a2482fa0a3\
             0100100df358eb08ea43a0b40a25b5dff2ac26",
        );
        let Ok(Some(Entry::Offset { group, value, .. })) = decode_record(&key, Some(&value)) else {
            panic!("grp2 decodes");
        };
        assert_eq!((group.as_str(), value.map(|v| v.offset)), ("grp2", Some(9)));
        // every truncation is an error, not a panic nor a misread
        let full = unhex(
            "0004000000000000001effffffff01000001a2482fa060\
             0100100df358eb08ea43a0b40a25b5dff2ac26",
        );
        for n in 0..full.len() {
            assert_eq!(
                decode_record(&key, Some(&full[..n])),
                Err(DecodeError::Value(1)),
                "{n} bytes"
            );
        }
        // a tagged field that claims more bytes than there are
        let mut liar = full.clone();
        liar[25] = 0x7f;
        assert_eq!(decode_record(&key, Some(&liar)), Err(DecodeError::Value(1)));
    }

    /// GroupMetadataValue v4 as Kafka's generated serializer lays it out (compact strings
    /// and bytes, compact array, a tagged-field section after each member and at the end).
    #[test]
    fn group_metadata_value_v4_decodes() {
        let mut v = vec![0, 4];
        v.extend_from_slice(b"\x09consumer"); // compact "consumer"
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(b"\x06range"); // protocol
        v.extend_from_slice(b"\x03m1"); // leader
        v.extend_from_slice(&123i64.to_be_bytes());
        v.push(2); // one member
        v.extend_from_slice(b"\x03m1");
        v.push(0); // null instance id
        v.extend_from_slice(b"\x02c");
        v.extend_from_slice(b"\x0b/127.0.0.1");
        v.extend_from_slice(&300_000i32.to_be_bytes());
        v.extend_from_slice(&45_000i32.to_be_bytes());
        v.extend_from_slice(b"\x04sub");
        v.extend_from_slice(b"\x03as");
        v.extend_from_slice(&[1, 9, 2, 0xaa, 0xbb]); // member: unknown tag 9, 2 bytes
        v.push(0); // no tagged fields
        let want = GroupValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 123,
            members: vec![StoredMember {
                member_id: "m1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"as"),
            }],
        };
        assert_eq!(
            decode_record(&group_key("g"), Some(&v)),
            Ok(Some(Entry::Group {
                group: "g".into(),
                value: Some(want)
            }))
        );
        for n in 0..v.len() {
            assert_eq!(
                decode_record(&group_key("g"), Some(&v[..n])),
                Err(DecodeError::Value(2)),
                "{n} bytes"
            );
        }
        // a member count far beyond the bytes left
        let mut huge = v[..v.len() - 1].to_vec();
        let at = 2 + 9 + 4 + 6 + 3 + 8;
        huge.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode_record(&group_key("g"), Some(&huge)),
            Err(DecodeError::Value(2))
        );
    }

    /// Hostile values of every version (deterministic pseudo-random bytes after a valid
    /// version field, and every single-byte change of valid v4 values) decode or fail,
    /// never panic nor allocate what they claim.
    #[test]
    fn hostile_values_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u8
        };
        let offset_k = offset_key("g", "t", 0);
        let group_k = group_key("g");
        for round in 0..4_000 {
            let version = (round % 6) as i16;
            let len = usize::from(next()) % 96;
            let mut v = version.to_be_bytes().to_vec();
            v.extend((0..len).map(|_| next()));
            let _ = decode_record(&offset_k, Some(&v));
            let _ = decode_record(&group_k, Some(&v));
        }
        let offset_v4 = unhex(
            "0004000000000000001effffffff01000001a2482fa060\
             0100100df358eb08ea43a0b40a25b5dff2ac26",
        );
        for at in 0..offset_v4.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut v = offset_v4.clone();
                v[at] = b;
                let _ = decode_record(&offset_k, Some(&v));
            }
        }
    }

    #[test]
    fn other_key_types_are_skipped_not_errors() {
        // share and streams groups' records (types 9 and up): Rafka does not read them
        for k in [9i16, 11, 15, 16, 21] {
            let mut key = k.to_be_bytes().to_vec();
            key.extend_from_slice(b"\x00\x01g");
            assert_eq!(decode_record(&key, Some(b"\x00\x00junk")), Ok(None), "{k}");
        }
        // a KIP-848 record it cannot read is an error, not skipped
        assert_eq!(
            decode_record(&[0, 3, 0, 1, b'g'], Some(b"\x00\x00")),
            Err(DecodeError::Value(3))
        );
        assert_eq!(decode_record(&[0], None), Err(DecodeError::Key));
        assert_eq!(decode_record(&[0xff, 0xff], None), Err(DecodeError::Key));
        assert_eq!(
            decode_record(&[0, 1, 0, 5, b'g'], None),
            Err(DecodeError::Key),
            "truncated offset key"
        );
    }
}
