//! KIP-848 consumer groups' records in `__consumer_offsets`, in Kafka's schemas (the
//! group coordinator's `ConsumerGroup*Key`/`Value` messages): keys are the key type (an
//! int16, Kafka's "version" of a coordinator key) and non-flexible strings; values are
//! version 0 (an int16) in the flexible encoding (compact strings and arrays, tagged-field
//! sections, which Rafka writes empty and skips when reading).
//!
//! | key type | key | value |
//! |---|---|---|
//! | 3 ConsumerGroupMetadata | group | group epoch |
//! | 4 ConsumerGroupPartitionMetadata | group | (Kafka 4.0's; read as nothing) |
//! | 5 ConsumerGroupMemberMetadata | group, member | instance, rack, client id and host, subscription, rebalance timeout, server assignor |
//! | 6 ConsumerGroupTargetAssignmentMetadata | group | assignment epoch |
//! | 7 ConsumerGroupTargetAssignmentMember | group, member | target partitions |
//! | 8 ConsumerGroupCurrentMemberAssignment | group, member | member and previous epoch, state, assigned and pending-revocation partitions |
//!
//! A null value is a tombstone. Kafka's later tagged fields (4.1's metadata hash, a
//! classic member's metadata) are skipped.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignor::Assignment;
use super::consumer::{ClassicMeta, ConsumerMember, MemberState};

/// A member's metadata record (type 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// A classic-protocol member's (tagged field 0, `ClassicMemberMetadata`).
    pub classic: Option<ClassicMeta>,
}

impl MemberValue {
    pub fn of(m: &ConsumerMember) -> MemberValue {
        MemberValue {
            instance_id: m.instance_id.clone(),
            rack_id: m.rack_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            subscribed_topic_names: m.subscribed_topic_names.clone(),
            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            server_assignor: m.server_assignor.clone(),
            classic: m.classic.clone(),
        }
    }
}

/// A member's current assignment record (type 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

impl CurrentValue {
    pub fn of(m: &ConsumerMember) -> CurrentValue {
        CurrentValue {
            member_epoch: m.epoch,
            previous_member_epoch: m.previous_epoch,
            state: m.state,
            assigned: m.assigned.clone(),
            pending_revocation: m.pending_revocation.clone(),
        }
    }
}

/// One KIP-848 record of a group (`None` values are tombstones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerRecord {
    GroupEpoch(Option<i32>),
    /// Kafka 4.0's subscription metadata: Rafka recomputes it, so only its key is read.
    PartitionMetadata,
    Member {
        member_id: String,
        value: Option<MemberValue>,
    },
    TargetEpoch(Option<i32>),
    TargetMember {
        member_id: String,
        value: Option<Assignment>,
    },
    Current {
        member_id: String,
        value: Option<CurrentValue>,
    },
}

fn state_byte(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
    }
}

// ---------------------------------------------------------------- encoding

fn key(key_type: i16, group: &str, member: Option<&str>) -> Vec<u8> {
    let mut out = key_type.to_be_bytes().to_vec();
    for s in std::iter::once(group).chain(member) {
        out.extend_from_slice(&i16::try_from(s.len()).unwrap_or(i16::MAX).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_plus_one(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX - 1).saturating_add(1)
}

fn compact_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            uvarint(out, len_plus_one(s.len()));
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn partitions(out: &mut Vec<u8>, a: &Assignment) {
    let topics: Vec<(&Uuid, &BTreeSet<i32>)> = a.iter().filter(|(_, ps)| !ps.is_empty()).collect();
    uvarint(out, len_plus_one(topics.len()));
    for (id, ps) in topics {
        out.extend_from_slice(id.as_bytes());
        uvarint(out, len_plus_one(ps.len()));
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.push(0); // tagged fields
    }
}

/// A version-0 value: `body`, then an empty tagged-field section.
fn value(body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = 0i16.to_be_bytes().to_vec();
    body(&mut out);
    out.push(0);
    out
}

/// A member's metadata value: its fields, then its tagged section (the classic
/// metadata, tag 0, when it has some).
fn member_value(m: &MemberValue) -> Vec<u8> {
    let mut o = 0i16.to_be_bytes().to_vec();
    compact_str(&mut o, m.instance_id.as_deref());
    compact_str(&mut o, m.rack_id.as_deref());
    compact_str(&mut o, Some(&m.client_id));
    compact_str(&mut o, Some(&m.client_host));
    uvarint(&mut o, len_plus_one(m.subscribed_topic_names.len()));
    for t in &m.subscribed_topic_names {
        compact_str(&mut o, Some(t));
    }
    compact_str(&mut o, m.subscribed_topic_regex.as_deref());
    o.extend_from_slice(&m.rebalance_timeout_ms.to_be_bytes());
    compact_str(&mut o, m.server_assignor.as_deref());
    match &m.classic {
        None => o.push(0),
        Some(c) => {
            let mut field = vec![1u8]; // a nullable struct, present
            field.extend_from_slice(&c.session_timeout_ms.to_be_bytes());
            uvarint(&mut field, len_plus_one(c.protocols.len()));
            for (name, meta) in &c.protocols {
                compact_str(&mut field, Some(name));
                uvarint(&mut field, len_plus_one(meta.len()));
                field.extend_from_slice(meta);
                field.push(0);
            }
            field.push(0);
            uvarint(&mut o, 1);
            uvarint(&mut o, 0);
            uvarint(&mut o, u32::try_from(field.len()).unwrap_or(u32::MAX));
            o.extend_from_slice(&field);
        }
    }
    o
}

/// The key and value (`None`: tombstone) of one record of `group`.
pub fn encode(group: &str, record: &ConsumerRecord) -> (Vec<u8>, Option<Vec<u8>>) {
    match record {
        ConsumerRecord::GroupEpoch(v) => (
            key(3, group, None),
            v.map(|e| value(|o| o.extend_from_slice(&e.to_be_bytes()))),
        ),
        ConsumerRecord::PartitionMetadata => (key(4, group, None), None),
        ConsumerRecord::Member {
            member_id,
            value: v,
        } => (key(5, group, Some(member_id)), v.as_ref().map(member_value)),
        ConsumerRecord::TargetEpoch(v) => (
            key(6, group, None),
            v.map(|e| value(|o| o.extend_from_slice(&e.to_be_bytes()))),
        ),
        ConsumerRecord::TargetMember {
            member_id,
            value: v,
        } => (
            key(7, group, Some(member_id)),
            v.as_ref().map(|a| value(|o| partitions(o, a))),
        ),
        ConsumerRecord::Current {
            member_id,
            value: v,
        } => (
            key(8, group, Some(member_id)),
            v.as_ref().map(|c| {
                value(|o| {
                    o.extend_from_slice(&c.member_epoch.to_be_bytes());
                    o.extend_from_slice(&c.previous_member_epoch.to_be_bytes());
                    o.extend_from_slice(&state_byte(c.state).to_be_bytes());
                    partitions(o, &c.assigned);
                    partitions(o, &c.pending_revocation);
                })
            }),
        ),
    }
}

// ---------------------------------------------------------------- decoding

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
    fn i8(&mut self) -> Option<i8> {
        Some(i8::from_be_bytes(self.take(1)?.try_into().ok()?))
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = usize::try_from(self.i16()?).ok()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn uvarint(&mut self) -> Option<u32> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = *self.take(1)?.first()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// A compact length (`None`: null), no longer than what is left.
    fn compact_len(&mut self) -> Option<Option<usize>> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).ok()?;
        match n.checked_sub(1) {
            None => Some(None),
            Some(n) if n <= self.0.len() => Some(Some(n)),
            Some(_) => None,
        }
    }
    fn compact_str(&mut self) -> Option<Option<String>> {
        match self.compact_len()? {
            None => Some(None),
            Some(n) => Some(Some(String::from_utf8_lossy(self.take(n)?).into_owned())),
        }
    }
    fn tagged(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).ok()?;
            self.take(size)?;
        }
        Some(())
    }
    /// A member value's tagged section: tag 0 is the classic metadata (a nullable struct:
    /// a presence byte, the session timeout, the protocols), the others are skipped.
    fn member_tags(&mut self) -> Option<Option<ClassicMeta>> {
        let mut classic = None;
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).ok()?;
            let mut field = Reader(self.take(size)?);
            if tag != 0 || field.i8()? < 0 {
                continue;
            }
            let session_timeout_ms = field.i32()?;
            let mut protocols = Vec::new();
            for _ in 0..field.compact_len()?.unwrap_or(0) {
                let name = field.compact_str()?.unwrap_or_default();
                let n = field.compact_len()?.unwrap_or(0);
                let meta = bytes::Bytes::copy_from_slice(field.take(n)?);
                field.tagged()?;
                protocols.push((name, meta));
            }
            classic = Some(ClassicMeta {
                session_timeout_ms,
                protocols,
            });
        }
        Some(classic)
    }

    fn partitions(&mut self) -> Option<Assignment> {
        let mut a = Assignment::new();
        for _ in 0..self.compact_len()?.unwrap_or(0) {
            let id = Uuid::from_slice(self.take(16)?).ok()?;
            let mut ps = BTreeSet::new();
            for _ in 0..self.compact_len()?.unwrap_or(0) {
                ps.insert(self.i32()?);
            }
            self.tagged()?;
            if !ps.is_empty() {
                a.entry(id).or_default().extend(ps);
            }
        }
        Some(a)
    }
    fn version0(&mut self) -> Option<()> {
        (self.i16()? == 0).then_some(())
    }
}

/// Decodes the record of key type `key_type` (3 to 8) whose key after the type is
/// `key_rest`: `(group, record)`, or `None` for one that cannot be read (another value
/// version included).
pub fn decode(
    key_type: i16,
    key_rest: &[u8],
    value: Option<&[u8]>,
) -> Option<(String, ConsumerRecord)> {
    let mut k = Reader(key_rest);
    let group = k.str()?;
    let member = match key_type {
        5 | 7 | 8 => Some(k.str()?),
        _ => None,
    };
    let mut v = value.map(Reader);
    let record = match (key_type, member, v.as_mut()) {
        (3, _, v) => ConsumerRecord::GroupEpoch(match v {
            None => None,
            Some(r) => {
                r.version0()?;
                Some(r.i32()?)
            }
        }),
        (4, _, _) => ConsumerRecord::PartitionMetadata,
        (6, _, v) => ConsumerRecord::TargetEpoch(match v {
            None => None,
            Some(r) => {
                r.version0()?;
                Some(r.i32()?)
            }
        }),
        (5, Some(member_id), v) => ConsumerRecord::Member {
            member_id,
            value: match v {
                None => None,
                Some(r) => {
                    r.version0()?;
                    let instance_id = r.compact_str()?;
                    let rack_id = r.compact_str()?;
                    let client_id = r.compact_str()?.unwrap_or_default();
                    let client_host = r.compact_str()?.unwrap_or_default();
                    let mut names = Vec::new();
                    for _ in 0..r.compact_len()?.unwrap_or(0) {
                        names.push(r.compact_str()?.unwrap_or_default());
                    }
                    let regex = r.compact_str()?;
                    let rebalance_timeout_ms = r.i32()?;
                    let server_assignor = r.compact_str()?;
                    let classic = r.member_tags()?;
                    Some(MemberValue {
                        instance_id,
                        rack_id,
                        client_id,
                        client_host,
                        subscribed_topic_names: names,
                        subscribed_topic_regex: regex,
                        rebalance_timeout_ms,
                        server_assignor,
                        classic,
                    })
                }
            },
        },
        (7, Some(member_id), v) => ConsumerRecord::TargetMember {
            member_id,
            value: match v {
                None => None,
                Some(r) => {
                    r.version0()?;
                    let a = r.partitions()?;
                    r.tagged()?;
                    Some(a)
                }
            },
        },
        (8, Some(member_id), v) => ConsumerRecord::Current {
            member_id,
            value: match v {
                None => None,
                Some(r) => {
                    r.version0()?;
                    let member_epoch = r.i32()?;
                    let previous_member_epoch = r.i32()?;
                    let state = match r.i8()? {
                        0 => MemberState::Stable,
                        1 => MemberState::UnrevokedPartitions,
                        2 => MemberState::UnreleasedPartitions,
                        _ => return None,
                    };
                    let assigned = r.partitions()?;
                    let pending_revocation = r.partitions()?;
                    r.tagged()?;
                    Some(CurrentValue {
                        member_epoch,
                        previous_member_epoch,
                        state,
                        assigned,
                        pending_revocation,
                    })
                }
            },
        },
        _ => return None,
    };
    Some((group, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: ConsumerRecord) {
        let (k, v) = encode("g", &r);
        let key_type = i16::from_be_bytes([k[0], k[1]]);
        let back = decode(key_type, &k[2..], v.as_deref()).expect("decodes");
        assert_eq!(back, ("g".to_string(), r));
    }

    #[test]
    fn every_record_round_trips() {
        let a: Assignment = [(Uuid::from_u128(5), BTreeSet::from([0, 3]))].into();
        round_trip(ConsumerRecord::GroupEpoch(Some(7)));
        round_trip(ConsumerRecord::GroupEpoch(None));
        round_trip(ConsumerRecord::TargetEpoch(Some(6)));
        round_trip(ConsumerRecord::Member {
            member_id: "m".into(),
            value: Some(MemberValue {
                instance_id: None,
                rack_id: Some("r".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["a".into(), "b".into()],
                subscribed_topic_regex: Some("x.*".into()),
                rebalance_timeout_ms: 300_000,
                server_assignor: None,
                classic: None,
            }),
        });
        round_trip(ConsumerRecord::Member {
            member_id: "c".into(),
            value: Some(MemberValue {
                instance_id: Some("i".into()),
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["a".into()],
                subscribed_topic_regex: None,
                rebalance_timeout_ms: 60_000,
                server_assignor: None,
                classic: Some(ClassicMeta {
                    session_timeout_ms: 45_000,
                    protocols: vec![("range".into(), bytes::Bytes::from_static(b"\x00\x03sub"))],
                }),
            }),
        });
        round_trip(ConsumerRecord::TargetMember {
            member_id: "m".into(),
            value: Some(a.clone()),
        });
        round_trip(ConsumerRecord::Current {
            member_id: "m".into(),
            value: Some(CurrentValue {
                member_epoch: 4,
                previous_member_epoch: 3,
                state: MemberState::UnrevokedPartitions,
                assigned: a.clone(),
                pending_revocation: Assignment::new(),
            }),
        });
        round_trip(ConsumerRecord::Current {
            member_id: "m".into(),
            value: None,
        });
    }

    /// Kafka's layout, byte for byte: ConsumerGroupMetadataValue v0 with epoch 7 is
    /// version 0, the int32, and an empty tagged-field section.
    #[test]
    fn the_layout_is_kafkas() {
        let (k, v) = encode("g", &ConsumerRecord::GroupEpoch(Some(7)));
        assert_eq!(k, [0, 3, 0, 1, b'g']);
        assert_eq!(v.expect("value"), [0, 0, 0, 0, 0, 7, 0]);
        let a: Assignment = [(Uuid::from_u128(1), BTreeSet::from([2]))].into();
        let (_, v) = encode(
            "g",
            &ConsumerRecord::TargetMember {
                member_id: "m".into(),
                value: Some(a),
            },
        );
        let mut want = vec![0, 0, 2];
        want.extend_from_slice(Uuid::from_u128(1).as_bytes());
        want.extend_from_slice(&[2, 0, 0, 0, 2, 0, 0]);
        assert_eq!(v.expect("value"), want);
    }

    #[test]
    fn truncated_or_hostile_values_are_refused() {
        let (k, v) = encode(
            "g",
            &ConsumerRecord::Member {
                member_id: "m".into(),
                value: Some(MemberValue {
                    instance_id: None,
                    rack_id: None,
                    client_id: "c".into(),
                    client_host: "h".into(),
                    subscribed_topic_names: vec!["t".into()],
                    subscribed_topic_regex: None,
                    rebalance_timeout_ms: 1,
                    server_assignor: None,
                    classic: None,
                }),
            },
        );
        let v = v.expect("value");
        for cut in 0..v.len() {
            assert!(
                decode(5, &k[2..], Some(&v[..cut])).is_none(),
                "cut at {cut}"
            );
        }
        let mut huge = vec![0, 0];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(7, &k[2..], Some(&huge)).is_none());
        assert!(
            decode(3, &k[2..], Some(&[0, 1, 0, 0, 0, 1, 0])).is_none(),
            "v1"
        );
    }
}
