//! The records of `__transaction_state`, in Kafka's own key and value schemas
//! (`transaction-coordinator/src/main/resources/common/message/TransactionLog{Key,Value}.json`),
//! so Kafka's tools read them and the topic could move to Kafka:
//!
//! - key: version 0 (the coordinator record type of the transaction log), then
//!   `TransactionLogKey` v0: the transactional id as a classic string (i16 length);
//! - value: `TransactionLogValue`, version-prefixed. Version 0 is classic (i16/i32
//!   lengths, no tagged fields); version 1 is flexible (compact strings and arrays, tagged
//!   fields), and carries the previous and next producer ids (tags 0 and 1), the client's
//!   transaction version (tag 2) and the next producer epoch (tag 3) as tagged fields;
//! - a null value (tombstone) is the coordinator deleting an expired transactional id:
//!   there is nothing to decode.
//!
//! Which value version Kafka writes does not depend on the value: `TransactionLog.valueToBytes`
//! takes the *cluster's* finalized `transaction.version` feature level and writes version 1
//! when it is at least 1 (`TransactionVersion.transactionLogValueVersion`), else version 0.
//! A Kafka 4.x cluster is created at `transaction.version` 2, so [`txn_value`] writes
//! version 1; [`txn_value_for_level`] follows the rule for any level. At version 0 Kafka
//! leaves the tagged fields out, and refuses (UnsupportedVersionException) a client
//! transaction version other than 0, as [`txn_value_for_level`] does.
//!
//! Decoding reads both versions; fields a version lacks get Kafka's defaults (-1 for the
//! producer ids and the next epoch, 0 for the client transaction version). Unknown tagged
//! fields are skipped, bytes after the value are ignored (Kafka's generated reader does not
//! look at them), and no length is trusted: every one is checked against the bytes left
//! before anything is allocated, so hostile input is a [`RecordError`], never a panic.

/// The key's version prefix: Kafka's coordinator record type of the transaction log.
pub const KEY_VERSION: i16 = 0;
/// The value version Kafka 4.x writes on a cluster at `transaction.version` >= 1.
pub const VALUE_VERSION: i16 = 1;

/// Kafka refuses strings longer than `i16::MAX` bytes.
const MAX_STRING_LEN: usize = 0x7fff;

/// Why a `__transaction_state` value did not decode (or could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end inside the named field.
    #[error("transaction log value truncated in {0}")]
    Truncated(&'static str),
    /// A value version other than 0 and 1.
    #[error("unsupported transaction log value version {0}")]
    UnsupportedVersion(i16),
    /// An unsigned varint longer than 5 bytes or beyond `u32`.
    #[error("malformed unsigned varint in {0}")]
    BadVarint(&'static str),
    /// A null in a field that is not nullable.
    #[error("non-nullable field {0} was null")]
    NullField(&'static str),
    /// A string longer than Kafka allows (32,767 bytes).
    #[error("string field {0} is longer than 32767 bytes")]
    StringTooLong(&'static str),
    /// A transaction status byte Kafka does not define.
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    /// A known tagged field whose size does not match its type.
    #[error("tagged field {0} has the wrong size")]
    TaggedFieldSize(u32),
    /// A client transaction version other than 0 cannot be written at value version 0
    /// (Kafka throws UnsupportedVersionException).
    #[error("client transaction version {0} cannot be written at value version 0")]
    ClientVersionAtV0(i16),
}

type Result<T> = std::result::Result<T, RecordError>;

/// A transaction's state, as Kafka's `TransactionState` numbers and names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnStatus {
    /// Every state, in id order.
    pub const ALL: [TxnStatus; 8] = [
        TxnStatus::Empty,
        TxnStatus::Ongoing,
        TxnStatus::PrepareCommit,
        TxnStatus::PrepareAbort,
        TxnStatus::CompleteCommit,
        TxnStatus::CompleteAbort,
        TxnStatus::Dead,
        TxnStatus::PrepareEpochFence,
    ];

    /// The byte stored in `TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        usize::try_from(id)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// The name DescribeTransactions and ListTransactions report (`stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One transactional id's stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub next_producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    /// topic -> partition ids, in the order written. Kafka writes none (null) for an
    /// `Empty` transaction and ignores any it reads there, and so does this module.
    pub partitions: Vec<(String, Vec<i32>)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
    pub client_transaction_version: i16,
}

// ---------------------------------------------------------------- encoding

fn put_uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length as the compact encodings write it (length + 1); lengths come from in-memory
/// collections, far below `u32::MAX`.
fn put_compact_len(out: &mut Vec<u8>, len: usize) {
    put_uvarint(
        out,
        u32::try_from(len).unwrap_or(u32::MAX - 1).saturating_add(1),
    );
}

/// The bytes of a string Kafka can store: at most `i16::MAX` of them. Transactional ids
/// and topic names come from protocol strings, which cannot be longer.
fn capped(s: &str) -> &[u8] {
    let b = s.as_bytes();
    b.get(..MAX_STRING_LEN).unwrap_or(b)
}

fn put_classic_str(out: &mut Vec<u8>, s: &str) {
    let b = capped(s);
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_compact_str(out: &mut Vec<u8>, s: &str) {
    let b = capped(s);
    put_compact_len(out, b.len());
    out.extend_from_slice(b);
}

/// Version prefix + `TransactionLogKey` v0.
pub fn txn_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&KEY_VERSION.to_be_bytes());
    put_classic_str(&mut out, transactional_id);
    out
}

/// Version prefix + `TransactionLogValue` at the version Kafka 4.x writes on a cluster
/// created by Kafka 4.x (`transaction.version` 2): version 1.
pub fn txn_value(v: &TxnLogValue) -> Vec<u8> {
    encode_v1(v)
}

/// The value as Kafka writes it on a cluster whose finalized `transaction.version`
/// feature level is `transaction_version_level`: version 1 from level 1, else version 0
/// (without the tagged fields; a client transaction version other than 0 is an error).
pub fn txn_value_for_level(v: &TxnLogValue, transaction_version_level: i16) -> Result<Vec<u8>> {
    if transaction_version_level >= 1 {
        Ok(encode_v1(v))
    } else if v.client_transaction_version != 0 {
        Err(RecordError::ClientVersionAtV0(v.client_transaction_version))
    } else {
        Ok(encode_v0(v))
    }
}

fn put_head(out: &mut Vec<u8>, version: i16, v: &TxnLogValue) {
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.timeout_ms.to_be_bytes());
    out.push(v.status.id() as u8);
}

fn put_tail(out: &mut Vec<u8>, v: &TxnLogValue) {
    out.extend_from_slice(&v.last_update_ms.to_be_bytes());
    out.extend_from_slice(&v.start_ms.to_be_bytes());
}

fn encode_v0(v: &TxnLogValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_head(&mut out, 0, v);
    if v.status == TxnStatus::Empty {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    } else {
        out.extend_from_slice(&(v.partitions.len() as i32).to_be_bytes());
        for (topic, ids) in &v.partitions {
            put_classic_str(&mut out, topic);
            out.extend_from_slice(&(ids.len() as i32).to_be_bytes());
            for id in ids {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
    put_tail(&mut out, v);
    out
}

fn encode_v1(v: &TxnLogValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_head(&mut out, 1, v);
    if v.status == TxnStatus::Empty {
        put_uvarint(&mut out, 0);
    } else {
        put_compact_len(&mut out, v.partitions.len());
        for (topic, ids) in &v.partitions {
            put_compact_str(&mut out, topic);
            put_compact_len(&mut out, ids.len());
            for id in ids {
                out.extend_from_slice(&id.to_be_bytes());
            }
            put_uvarint(&mut out, 0); // the topic's tagged fields: none
        }
    }
    put_tail(&mut out, v);
    // tagged fields that differ from their defaults, by ascending tag, as Kafka writes them
    let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
    if v.previous_producer_id != -1 {
        tagged.push((0, v.previous_producer_id.to_be_bytes().to_vec()));
    }
    if v.next_producer_id != -1 {
        tagged.push((1, v.next_producer_id.to_be_bytes().to_vec()));
    }
    if v.client_transaction_version != 0 {
        tagged.push((2, v.client_transaction_version.to_be_bytes().to_vec()));
    }
    if v.next_producer_epoch != -1 {
        tagged.push((3, v.next_producer_epoch.to_be_bytes().to_vec()));
    }
    put_uvarint(&mut out, tagged.len() as u32);
    for (tag, bytes) in tagged {
        put_uvarint(&mut out, tag);
        put_uvarint(&mut out, bytes.len() as u32);
        out.extend_from_slice(&bytes);
    }
    out
}

// ---------------------------------------------------------------- decoding

/// A cursor over big-endian fields; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(RecordError::Truncated(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// An unsigned varint of at most 5 bytes that fits a `u32` (`readUnsignedVarint`).
    fn uvarint(&mut self, what: &'static str) -> Result<u32> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>(what)?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| RecordError::BadVarint(what));
            }
        }
        Err(RecordError::BadVarint(what))
    }

    /// A count of items that take at least `min_item` bytes each, refused if they cannot
    /// fit in the bytes left (so nothing is allocated from a hostile length).
    fn checked_count(&self, n: usize, min_item: usize, what: &'static str) -> Result<usize> {
        if n.saturating_mul(min_item.max(1)) > self.0.len() {
            return Err(RecordError::Truncated(what));
        }
        Ok(n)
    }

    /// A classic array length (i32, negative for null).
    fn classic_len(&mut self, min_item: usize, what: &'static str) -> Result<Option<usize>> {
        match usize::try_from(self.i32(what)?) {
            Err(_) => Ok(None),
            Ok(n) => self.checked_count(n, min_item, what).map(Some),
        }
    }

    /// A compact length (length + 1 as an unsigned varint, 0 for null).
    fn compact_len(&mut self, min_item: usize, what: &'static str) -> Result<Option<usize>> {
        match self.uvarint(what)?.checked_sub(1) {
            None => Ok(None),
            Some(n) => self.checked_count(n as usize, min_item, what).map(Some),
        }
    }

    /// Kafka decodes strings as Java does: invalid UTF-8 becomes U+FFFD, not an error.
    fn string_of(&mut self, len: Option<usize>, what: &'static str) -> Result<String> {
        let len = len.ok_or(RecordError::NullField(what))?;
        if len > MAX_STRING_LEN {
            return Err(RecordError::StringTooLong(what));
        }
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }

    fn classic_string(&mut self, what: &'static str) -> Result<String> {
        let len = usize::try_from(self.i16(what)?).ok();
        self.string_of(len, what)
    }

    fn compact_string(&mut self, what: &'static str) -> Result<String> {
        let len = self.compact_len(1, what)?;
        self.string_of(len, what)
    }

    /// A tagged fields section; `known(tag, bytes)` reads a known tag and returns true, or
    /// returns false for one it does not know (skipped).
    fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &'a [u8]) -> Result<bool>,
    ) -> Result<()> {
        let count = self.uvarint("tagged field count")?;
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")? as usize;
            let bytes = self.take(size, "tagged field")?;
            known(tag, bytes)?;
        }
        Ok(())
    }
}

/// The transactional id of a `__transaction_state` key; `None` for a key that is not a
/// `TransactionLogKey` (another version prefix) or does not decode.
pub fn decode_key(key: &[u8]) -> Option<String> {
    let mut r = Reader(key);
    if r.i16("key version").ok()? != KEY_VERSION {
        return None;
    }
    r.classic_string("transactional id").ok()
}

/// A `__transaction_state` value of any version Kafka wrote (0 or 1).
pub fn decode_value(value: &[u8]) -> Result<TxnLogValue> {
    let mut r = Reader(value);
    let version = r.i16("value version")?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::UnsupportedVersion(version));
    }
    let flexible = version >= 1;
    let producer_id = r.i64("producer id")?;
    let producer_epoch = r.i16("producer epoch")?;
    let timeout_ms = r.i32("transaction timeout")?;
    let status_id = r.i8("transaction status")?;
    let status = TxnStatus::from_id(status_id).ok_or(RecordError::UnknownStatus(status_id))?;
    // a topic takes at least 6 bytes classic (i16 + i32 lengths), 3 compact (two lengths
    // and its tagged fields count)
    let count = if flexible {
        r.compact_len(3, "transaction partitions")?
    } else {
        r.classic_len(6, "transaction partitions")?
    };
    let mut partitions = Vec::with_capacity(count.unwrap_or(0));
    for _ in 0..count.unwrap_or(0) {
        let topic = if flexible {
            r.compact_string("topic")?
        } else {
            r.classic_string("topic")?
        };
        let n = if flexible {
            r.compact_len(4, "partition ids")?
        } else {
            r.classic_len(4, "partition ids")?
        };
        let n = n.ok_or(RecordError::NullField("partition ids"))?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(r.i32("partition ids")?);
        }
        if flexible {
            r.tagged_fields(|_, _| Ok(false))?;
        }
        partitions.push((topic, ids));
    }
    let last_update_ms = r.i64("last update timestamp")?;
    let start_ms = r.i64("start timestamp")?;
    let mut previous_producer_id = -1;
    let mut next_producer_id = -1;
    let mut client_transaction_version = 0;
    let mut next_producer_epoch = -1;
    if flexible {
        r.tagged_fields(|tag, bytes| {
            let wrong = || RecordError::TaggedFieldSize(tag);
            match tag {
                0 => {
                    previous_producer_id =
                        i64::from_be_bytes(bytes.try_into().map_err(|_| wrong())?)
                }
                1 => next_producer_id = i64::from_be_bytes(bytes.try_into().map_err(|_| wrong())?),
                2 => {
                    client_transaction_version =
                        i16::from_be_bytes(bytes.try_into().map_err(|_| wrong())?)
                }
                3 => {
                    next_producer_epoch = i16::from_be_bytes(bytes.try_into().map_err(|_| wrong())?)
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
    }
    if status == TxnStatus::Empty {
        // Kafka's reader ignores the partitions of an Empty transaction
        partitions.clear();
    }
    Ok(TxnLogValue {
        producer_id,
        previous_producer_id,
        next_producer_id,
        producer_epoch,
        next_producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_ms,
        start_ms,
        client_transaction_version,
    })
}

/// The partition of `__transaction_state` that holds a transactional id, as Kafka's
/// `TransactionStateManager.partitionFor` computes it: `Utils.abs(id.hashCode()) %
/// partitions`, with Java's UTF-16 string hash and Kafka's `abs` (which maps
/// `i32::MIN` to 0), as `group::records::partition_for` places groups (clearing the
/// sign bit instead, as Rafka placed groups before, differs for every negative hash:
/// "my-txn" hashes to -1061187895, partition 45 of 50 by `abs`, 3 by clearing the bit).
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    let hash = transactional_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The expected bytes below were printed by Kafka 4.3.1's own classes
    // (TransactionLog.keyToBytes / valueToBytes, and the generated TransactionLogValue with
    // MessageUtil.toVersionPrefixedBytes) with compat-tests/transactions/TxnLogOracle.java:
    //   javac -d /tmp/txnlog -cp '/work/cache/kafka-libs/*' compat-tests/transactions/TxnLogOracle.java
    //   java -cp "/tmp/txnlog:/work/cache/kafka-libs/*" TxnLogOracle

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn base(status: TxnStatus) -> TxnLogValue {
        TxnLogValue {
            producer_id: 1000,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 0,
            next_producer_epoch: -1,
            timeout_ms: 60_000,
            status,
            partitions: vec![],
            last_update_ms: 1_700_000_000_000,
            start_ms: -1,
            client_transaction_version: 0,
        }
    }

    fn empty() -> TxnLogValue {
        base(TxnStatus::Empty)
    }

    fn ongoing_two_topics(client_tv: i16) -> TxnLogValue {
        TxnLogValue {
            producer_epoch: 3,
            // Kafka groups the partitions through a HashMap: "payments" came out first
            partitions: vec![("payments".into(), vec![1]), ("orders".into(), vec![0, 2])],
            start_ms: 1_700_000_000_100,
            last_update_ms: 1_700_000_000_200,
            client_transaction_version: client_tv,
            ..base(TxnStatus::Ongoing)
        }
    }

    fn prepare_commit() -> TxnLogValue {
        TxnLogValue {
            previous_producer_id: 999,
            next_producer_id: 1001,
            producer_epoch: 4,
            timeout_ms: 30_000,
            partitions: vec![("orders".into(), vec![1])],
            start_ms: 1_700_000_000_300,
            last_update_ms: 1_700_000_000_400,
            client_transaction_version: 2,
            ..base(TxnStatus::PrepareCommit)
        }
    }

    fn complete_abort() -> TxnLogValue {
        TxnLogValue {
            producer_id: 42,
            producer_epoch: 7,
            timeout_ms: 15_000,
            partitions: vec![("t".into(), vec![0])],
            start_ms: 1_700_000_000_500,
            last_update_ms: 1_700_000_000_600,
            ..base(TxnStatus::CompleteAbort)
        }
    }

    const V1_EMPTY: &str = "000100000000000003e800000000ea6000000000018bcfe56800ffffffffffffffff00";
    const V1_ONGOING: &str = "000100000000000003e800030000ea600103097061796d656e74730200000001\
        00076f7264657273030000000000000002000000018bcfe568c80000018bcfe568640102020002";
    const V1_PREPARE_COMMIT: &str =
        "000100000000000003e80004000075300202076f7264657273020000000100\
        0000018bcfe569900000018bcfe5692c03000800000000000003e7010800000000000003e902020002";
    const V1_COMPLETE_ABORT: &str =
        "0001000000000000002a000700003a98050202740200000000000000018bcf\
        e56a580000018bcfe569f400";
    const V0_EMPTY: &str =
        "000000000000000003e800000000ea6000ffffffff0000018bcfe56800ffffffffffffffff";
    const V0_ONGOING: &str = "000000000000000003e800030000ea60010000000200087061796d656e74730000\
        00010000000100066f72646572730000000200000000000000020000018bcfe568c80000018bcfe56864";
    const V0_COMPLETE_COMMIT: &str =
        "0000000000000000000500010000ea6004000000010001610000000100000000\
        0000018bcfe56b200000018bcfe56abc";
    // every tagged field (NextProducerEpoch, tag 3, set to 0) and an unknown tag 9
    const V1_ALL_TAGS: &str = "000100000000000000077fff000dbba0070202780200000003000000000000000\
        00200000000000000010500080000000000000006010800000000000000080202000203020000090301\
        0203";

    #[test]
    fn keys_match_kafka() {
        assert_eq!(txn_key("my-txn"), hex("000000066d792d74786e"));
        assert_eq!(txn_key(""), hex("00000000"));
        assert_eq!(
            decode_key(&hex("000000066d792d74786e")).as_deref(),
            Some("my-txn")
        );
        assert_eq!(decode_key(&hex("00000000")).as_deref(), Some(""));
        // __consumer_offsets keys (versions 1 and 2) are not transaction log keys
        assert_eq!(decode_key(&[0, 2, 0, 1, b'g']), None);
        assert_eq!(
            decode_key(&[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 7]),
            None
        );
        // truncated, null
        assert_eq!(decode_key(&[0, 0, 0, 6, b'm']), None);
        assert_eq!(decode_key(&[0, 0, 0xff, 0xff]), None);
        assert_eq!(decode_key(&[0]), None);
        assert_eq!(decode_key(&[]), None);
    }

    #[test]
    fn values_match_kafka_at_version_1() {
        for (name, v, expected) in [
            ("empty", empty(), V1_EMPTY),
            ("ongoing", ongoing_two_topics(2), V1_ONGOING),
            ("prepare commit", prepare_commit(), V1_PREPARE_COMMIT),
            ("complete abort", complete_abort(), V1_COMPLETE_ABORT),
        ] {
            let expected = hex(expected);
            assert_eq!(txn_value(&v), expected, "{name}");
            assert_eq!(txn_value_for_level(&v, 2).expect("ok"), expected, "{name}");
            assert_eq!(txn_value_for_level(&v, 1).expect("ok"), expected, "{name}");
            assert_eq!(decode_value(&expected).expect("ok"), v, "{name}");
        }
    }

    #[test]
    fn values_match_kafka_at_version_0() {
        let complete_commit = TxnLogValue {
            producer_id: 5,
            producer_epoch: 1,
            partitions: vec![("a".into(), vec![0])],
            start_ms: 1_700_000_000_700,
            last_update_ms: 1_700_000_000_800,
            ..base(TxnStatus::CompleteCommit)
        };
        for (name, v, expected) in [
            ("empty", empty(), V0_EMPTY),
            ("ongoing", ongoing_two_topics(0), V0_ONGOING),
            ("complete commit", complete_commit, V0_COMPLETE_COMMIT),
        ] {
            let expected = hex(expected);
            assert_eq!(txn_value_for_level(&v, 0).expect("ok"), expected, "{name}");
            assert_eq!(decode_value(&expected).expect("ok"), v, "{name}");
        }
        // Kafka: UnsupportedVersionException
        assert_eq!(
            txn_value_for_level(&ongoing_two_topics(2), 0),
            Err(RecordError::ClientVersionAtV0(2))
        );
        // at version 0 the tagged fields are left out, as Kafka does, and read as defaults
        let v0 = txn_value_for_level(
            &TxnLogValue {
                client_transaction_version: 0,
                ..prepare_commit()
            },
            0,
        )
        .expect("ok");
        let back = decode_value(&v0).expect("ok");
        assert_eq!((back.previous_producer_id, back.next_producer_id), (-1, -1));
        assert_eq!(back.next_producer_epoch, -1);
    }

    #[test]
    fn every_tagged_field_and_unknown_ones() {
        let expected = TxnLogValue {
            producer_id: 7,
            previous_producer_id: 6,
            next_producer_id: 8,
            producer_epoch: i16::MAX,
            next_producer_epoch: 0,
            timeout_ms: 900_000,
            status: TxnStatus::PrepareEpochFence,
            partitions: vec![("x".into(), vec![3])],
            last_update_ms: 2,
            start_ms: 1,
            client_transaction_version: 2,
        };
        let bytes = hex(V1_ALL_TAGS);
        assert_eq!(decode_value(&bytes).expect("ok"), expected, "tag 9 skipped");
        // the same, without Kafka's unknown tag 9 (4 fields instead of 5, 5 bytes shorter)
        let mut without = bytes[..bytes.len() - 5].to_vec();
        let count_at = without.len() - (2 * 10 + 2 * 4) - 1;
        assert_eq!(without[count_at], 5);
        without[count_at] = 4;
        assert_eq!(txn_value(&expected), without);
    }

    #[test]
    fn states_have_kafkas_ids_and_names() {
        // TxnLogOracle: `state <id> <stateName>`
        let kafka = [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "CompleteCommit",
            "CompleteAbort",
            "Dead",
            "PrepareEpochFence",
        ];
        for (id, name) in kafka.iter().enumerate() {
            let s = TxnStatus::from_id(id as i8).expect("known id");
            assert_eq!((s.id(), s.name()), (id as i8, *name));
        }
        assert_eq!(TxnStatus::from_id(8), None);
        assert_eq!(TxnStatus::from_id(-1), None);
    }

    #[test]
    fn partitions_follow_kafkas_abs_of_javas_string_hash() {
        // TxnLogOracle: `partition "<id>" <hashCode> <Utils.abs(hashCode) % 50>`
        for (id, p) in [
            ("my-txn", 45),
            ("", 0),
            ("abc", 4),
            ("polygenelubricants", 0),
            ("tx-neg", 21),
            ("zzzzzzz", 18),
        ] {
            assert_eq!(partition_for(id, 50), p, "{id}");
        }
        assert_eq!(partition_for("abc", 0), 0, "no panic on 0 partitions");
    }

    #[test]
    fn hostile_values_are_errors() {
        let good = hex(V1_ONGOING);
        // every truncation of a valid value (short of the whole) fails
        for n in 0..good.len() {
            assert!(decode_value(&good[..n]).is_err(), "truncated to {n}");
        }
        let good0 = hex(V0_ONGOING);
        for n in 0..good0.len() {
            assert!(decode_value(&good0[..n]).is_err(), "v0 truncated to {n}");
        }
        assert_eq!(
            decode_value(&[0, 2, 0, 0]),
            Err(RecordError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode_value(&[0xff, 0xff]),
            Err(RecordError::UnsupportedVersion(-1))
        );
        // huge array lengths, in both encodings, are refused before any allocation
        let mut huge1 = good[..17].to_vec();
        huge1.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode_value(&huge1),
            Err(RecordError::Truncated("transaction partitions"))
        );
        let mut huge0 = good0[..17].to_vec();
        huge0.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(
            decode_value(&huge0),
            Err(RecordError::Truncated("transaction partitions"))
        );
        // an over-long varint
        let mut varint = good[..17].to_vec();
        varint.extend_from_slice(&[0xff; 6]);
        assert_eq!(
            decode_value(&varint),
            Err(RecordError::BadVarint("transaction partitions"))
        );
        // a huge partition id count
        let mut ids = good[..17].to_vec();
        ids.extend_from_slice(&[2, 2, b'x', 0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode_value(&ids),
            Err(RecordError::Truncated("partition ids"))
        );
        // an unknown status
        let mut status = good.clone();
        status[16] = 9;
        assert_eq!(decode_value(&status), Err(RecordError::UnknownStatus(9)));
        // a null topic name
        let mut null_topic = good.clone();
        null_topic[18] = 0;
        assert_eq!(
            decode_value(&null_topic),
            Err(RecordError::NullField("topic"))
        );
        // a known tagged field of the wrong size (tag 2, client version, 3 bytes)
        let mut tag = good[..good.len() - 5].to_vec();
        tag.extend_from_slice(&[1, 2, 3, 0, 0, 2]);
        assert_eq!(decode_value(&tag), Err(RecordError::TaggedFieldSize(2)));
        // a tagged field longer than what is left
        let mut tag_len = good[..good.len() - 5].to_vec();
        tag_len.extend_from_slice(&[1, 9, 0x7f, 0]);
        assert_eq!(
            decode_value(&tag_len),
            Err(RecordError::Truncated("tagged field"))
        );
    }

    fn any_status() -> impl Strategy<Value = TxnStatus> {
        (0i8..8).prop_map(|i| TxnStatus::from_id(i).expect("known id"))
    }

    fn any_string() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
    }

    prop_compose! {
        fn any_value()(
            ids in (any::<i64>(), any::<i64>(), any::<i64>()),
            epochs in (any::<i16>(), any::<i16>()),
            timeout_ms in any::<i32>(),
            status in any_status(),
            partitions in prop::collection::vec(
                (any_string(), prop::collection::vec(any::<i32>(), 0..5)), 0..4),
            times in (any::<i64>(), any::<i64>()),
            client_transaction_version in any::<i16>(),
        ) -> TxnLogValue {
            TxnLogValue {
                producer_id: ids.0,
                previous_producer_id: ids.1,
                next_producer_id: ids.2,
                producer_epoch: epochs.0,
                next_producer_epoch: epochs.1,
                timeout_ms,
                status,
                partitions: if status == TxnStatus::Empty { vec![] } else { partitions },
                last_update_ms: times.0,
                start_ms: times.1,
                client_transaction_version,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            rng_seed: proptest::test_runner::RngSeed::Fixed(17),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn values_round_trip(v in any_value(), id in any_string()) {
            prop_assert_eq!(decode_value(&txn_value(&v)), Ok(v.clone()));
            prop_assert_eq!(decode_key(&txn_key(&id)), Some(id));
            // version 0 keeps everything but the tagged fields
            let plain = TxnLogValue {
                previous_producer_id: -1,
                next_producer_id: -1,
                next_producer_epoch: -1,
                client_transaction_version: 0,
                ..v
            };
            let v0 = txn_value_for_level(&plain, 0).expect("ok");
            prop_assert_eq!(decode_value(&v0), Ok(plain));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..96),
            version in 0u8..3,
        ) {
            let mut b = vec![0, version];
            b.extend_from_slice(&bytes);
            let _ = decode_value(&b);
            let _ = decode_key(&b);
        }
    }
}
