//! The primitive types of Kafka's flexible message versions, as the metadata records use
//! them: big-endian integers, unsigned varints, UUIDs, compact (nullable) strings and
//! arrays (length + 1 as an unsigned varint, 0 for null), and tagged fields.
//!
//! The [`Reader`] never trusts a length: every one is checked against the bytes left
//! before anything is allocated, so a hostile length fails with a typed error.

use bytes::{BufMut, BytesMut};
use uuid::Uuid;

use super::MetadataRecordError as Error;

/// Kafka refuses strings longer than `i16::MAX` bytes.
pub(super) const MAX_STRING_LEN: usize = 0x7fff;

/// A cursor over one record's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        if n > self.buf.len() {
            return Err(Error::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(super) fn i8(&mut self, what: &'static str) -> Result<i8, Error> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    /// Kafka reads any non-zero byte as true.
    pub(super) fn bool(&mut self, what: &'static str) -> Result<bool, Error> {
        Ok(self.i8(what)? != 0)
    }

    pub(super) fn i16(&mut self, what: &'static str) -> Result<i16, Error> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, Error> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn i64(&mut self, what: &'static str) -> Result<i64, Error> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub(super) fn uuid(&mut self, what: &'static str) -> Result<Uuid, Error> {
        Ok(Uuid::from_bytes(self.array(what)?))
    }

    /// An unsigned varint of at most 5 bytes that fits a `u32` (Kafka's
    /// `readUnsignedVarint`).
    pub(super) fn uvarint(&mut self, what: &'static str) -> Result<u32, Error> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>(what)?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| Error::BadVarint(what));
            }
        }
        Err(Error::BadVarint(what))
    }

    /// A compact length: `None` for null, else the length, refused if the items cannot
    /// fit in the bytes left (each takes at least `min_item` bytes).
    fn compact_len(&mut self, what: &'static str, min_item: usize) -> Result<Option<usize>, Error> {
        let n = self.uvarint(what)?;
        let Some(len) = n.checked_sub(1) else {
            return Ok(None);
        };
        let len = len as usize;
        if len.saturating_mul(min_item) > self.remaining() {
            return Err(Error::Truncated(what));
        }
        Ok(Some(len))
    }

    pub(super) fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, Error> {
        let Some(len) = self.compact_len(what, 1)? else {
            return Ok(None);
        };
        if len > MAX_STRING_LEN {
            return Err(Error::StringTooLong(what));
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Error::InvalidUtf8(what))
    }

    /// Compact (non-null) bytes.
    pub(super) fn bytes(&mut self, what: &'static str) -> Result<Vec<u8>, Error> {
        let len = self.compact_len(what, 1)?.ok_or(Error::NullField(what))?;
        Ok(self.take(len, what)?.to_vec())
    }

    pub(super) fn string(&mut self, what: &'static str) -> Result<String, Error> {
        self.nullable_string(what)?.ok_or(Error::NullField(what))
    }

    pub(super) fn nullable_i32s(&mut self, what: &'static str) -> Result<Option<Vec<i32>>, Error> {
        let Some(len) = self.compact_len(what, 4)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(self.i32(what)?);
        }
        Ok(Some(out))
    }

    pub(super) fn i32s(&mut self, what: &'static str) -> Result<Vec<i32>, Error> {
        self.nullable_i32s(what)?.ok_or(Error::NullField(what))
    }

    pub(super) fn nullable_uuids(
        &mut self,
        what: &'static str,
    ) -> Result<Option<Vec<Uuid>>, Error> {
        let Some(len) = self.compact_len(what, 16)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(self.uuid(what)?);
        }
        Ok(Some(out))
    }

    pub(super) fn uuids(&mut self, what: &'static str) -> Result<Vec<Uuid>, Error> {
        self.nullable_uuids(what)?.ok_or(Error::NullField(what))
    }

    /// A compact array of structs, each read by `item` (each takes at least `min_item`
    /// bytes, which bounds the length before anything is allocated).
    pub(super) fn structs<T>(
        &mut self,
        what: &'static str,
        min_item: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let len = self
            .compact_len(what, min_item.max(1))?
            .ok_or(Error::NullField(what))?;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// The tagged fields section: `field(tag, reader)` reads a known tag from a reader over
    /// exactly its bytes and returns true, or returns false for a tag it does not know,
    /// which is skipped (Kafka keeps those as unknown tagged fields). A known field must
    /// use all of its bytes. Tags must be ascending, as Kafka writes and requires them.
    pub(super) fn tagged_fields(
        &mut self,
        mut field: impl FnMut(u32, &mut Reader<'a>) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let count = self.uvarint("tagged field count")?;
        let mut prev: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            if prev.is_some_and(|p| tag <= p) {
                return Err(Error::TagOrder(tag));
            }
            prev = Some(tag);
            let size = self.uvarint("tagged field size")? as usize;
            let mut sub = Reader::new(self.take(size, "tagged field")?);
            if field(tag, &mut sub)? && sub.remaining() != 0 {
                return Err(Error::TaggedFieldSize(tag));
            }
        }
        Ok(())
    }
}

pub(super) fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// A length as Kafka's compact encodings write it (length + 1); lengths come from
/// in-memory collections, far below `u32::MAX`.
fn put_compact_len(out: &mut BytesMut, len: usize) {
    put_uvarint(out, u32::try_from(len).unwrap_or(u32::MAX - 1) + 1);
}

pub(super) fn put_bool(out: &mut BytesMut, v: bool) {
    out.put_u8(u8::from(v));
}

pub(super) fn put_uuid(out: &mut BytesMut, v: &Uuid) {
    out.put_slice(v.as_bytes());
}

pub(super) fn put_nullable_string(out: &mut BytesMut, v: Option<&str>) {
    match v {
        None => put_uvarint(out, 0),
        Some(s) => {
            put_compact_len(out, s.len());
            out.put_slice(s.as_bytes());
        }
    }
}

pub(super) fn put_bytes(out: &mut BytesMut, v: &[u8]) {
    put_compact_len(out, v.len());
    out.put_slice(v);
}

pub(super) fn put_string(out: &mut BytesMut, v: &str) {
    put_nullable_string(out, Some(v));
}

pub(super) fn put_i32s(out: &mut BytesMut, items: &[i32]) {
    put_compact_len(out, items.len());
    for i in items {
        out.put_i32(*i);
    }
}

pub(super) fn put_nullable_uuids(out: &mut BytesMut, v: Option<&[Uuid]>) {
    match v {
        None => put_uvarint(out, 0),
        Some(items) => {
            put_compact_len(out, items.len());
            for u in items {
                put_uuid(out, u);
            }
        }
    }
}

pub(super) fn put_uuids(out: &mut BytesMut, v: &[Uuid]) {
    put_nullable_uuids(out, Some(v));
}

pub(super) fn put_structs<T>(
    out: &mut BytesMut,
    items: &[T],
    mut item: impl FnMut(&mut BytesMut, &T),
) {
    put_compact_len(out, items.len());
    for i in items {
        item(out, i);
    }
}

/// The tagged fields of one message, written in ascending tag order as Kafka does.
#[derive(Default)]
pub(super) struct Tagged {
    fields: Vec<(u32, BytesMut)>,
}

impl Tagged {
    /// Adds a field; callers add them in ascending tag order.
    pub(super) fn add(&mut self, tag: u32, write: impl FnOnce(&mut BytesMut)) {
        let mut b = BytesMut::new();
        write(&mut b);
        self.fields.push((tag, b));
    }

    pub(super) fn write(self, out: &mut BytesMut) {
        put_uvarint(out, self.fields.len() as u32);
        for (tag, b) in self.fields {
            put_uvarint(out, tag);
            put_uvarint(out, b.len() as u32);
            out.put_slice(&b);
        }
    }
}
