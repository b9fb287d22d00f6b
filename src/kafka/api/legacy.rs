//! Produce v0-v2 and Fetch v0-v3: advertised (as Kafka 4.0 does, because librdkafka turns
//! compression off when Produce does not start at v0) but not served. Each partition of
//! such a request is answered with UNSUPPORTED_VERSION, so an old client gets an error it
//! understands instead of a closed connection. The `kafka-protocol` crate does not know
//! these versions, so their small fixed layouts are read and written here, with every
//! length checked against the bytes that are left.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use crate::error::ErrorCode;
use crate::kafka::context::RequestContext;

/// A bounds-checked reader of the non-flexible (v0-style) encoding.
struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2)?.try_into().ok().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)?.try_into().ok().map(i32::from_be_bytes)
    }
    fn string(&mut self) -> Option<Vec<u8>> {
        let len = usize::try_from(self.i16()?).ok()?;
        self.take(len).map(<[u8]>::to_vec)
    }
    fn skip_bytes(&mut self) -> Option<()> {
        match self.i32()? {
            -1 => Some(()),
            n => self.take(usize::try_from(n).ok()?).map(|_| ()),
        }
    }
    /// An array length, refused when it claims more elements than bytes remain.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.i32()?).ok()?;
        (n <= self.buf.len()).then_some(n)
    }
}

/// (topic, partitions) of an old Produce or Fetch request; `None` if malformed.
type Partitions = Vec<(Vec<u8>, Vec<i32>)>;

fn produce_partitions(body: &[u8]) -> Option<(i16, Partitions)> {
    let mut r = Reader { buf: body };
    let acks = r.i16()?;
    let _timeout = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.count()? {
        let name = r.string()?;
        let mut parts = Vec::new();
        for _ in 0..r.count()? {
            parts.push(r.i32()?);
            r.skip_bytes()?;
        }
        topics.push((name, parts));
    }
    Some((acks, topics))
}

fn fetch_partitions(body: &[u8], version: i16) -> Option<Partitions> {
    let mut r = Reader { buf: body };
    let _replica = r.i32()?;
    let _max_wait = r.i32()?;
    let _min_bytes = r.i32()?;
    if version >= 3 {
        let _max_bytes = r.i32()?;
    }
    let mut topics = Vec::new();
    for _ in 0..r.count()? {
        let name = r.string()?;
        let mut parts = Vec::new();
        for _ in 0..r.count()? {
            parts.push(r.i32()?);
            let _fetch_offset = r.take(8)?;
            let _max_bytes = r.i32()?;
        }
        topics.push((name, parts));
    }
    Some(topics)
}

fn put_string(out: &mut BytesMut, s: &[u8]) {
    out.put_i16(s.len() as i16);
    out.put_slice(s);
}

/// Answers an old Produce or Fetch with UNSUPPORTED_VERSION for every partition. `None`
/// when the body is malformed, or for an acks=0 produce (no response is expected; the
/// connection closes).
pub fn unsupported(ctx: &RequestContext, request: &[u8]) -> Option<Bytes> {
    let version = ctx.api_version;
    let mut body = BytesMut::new();
    match ctx.api_key {
        ApiKey::Produce => {
            let (acks, topics) = produce_partitions(request)?;
            if acks == 0 {
                return None;
            }
            body.put_i32(topics.len() as i32);
            for (name, parts) in &topics {
                put_string(&mut body, name);
                body.put_i32(parts.len() as i32);
                for &p in parts {
                    body.put_i32(p);
                    body.put_i16(ErrorCode::UnsupportedVersion.code());
                    body.put_i64(-1); // base offset
                    if version >= 2 {
                        body.put_i64(-1); // log append time
                    }
                }
            }
            if version >= 1 {
                body.put_i32(0); // throttle time
            }
        }
        ApiKey::Fetch => {
            let topics = fetch_partitions(request, version)?;
            if version >= 1 {
                body.put_i32(0); // throttle time
            }
            body.put_i32(topics.len() as i32);
            for (name, parts) in &topics {
                put_string(&mut body, name);
                body.put_i32(parts.len() as i32);
                for &p in parts {
                    body.put_i32(p);
                    body.put_i16(ErrorCode::UnsupportedVersion.code());
                    body.put_i64(-1); // high watermark
                    body.put_i32(0); // no records
                }
            }
        }
        _ => return None,
    }
    // response header v0: the correlation id only
    let mut frame = BytesMut::with_capacity(8 + body.len());
    frame.put_i32((4 + body.len()) as i32);
    frame.put_i32(ctx.correlation_id);
    frame.put_slice(&body);
    Some(frame.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported_v(api_key: ApiKey, api_version: i16, body: Vec<u8>) -> Option<Bytes> {
        unsupported(&RequestContext::local(api_key, api_version, 9), &body)
    }

    #[test]
    fn old_produce_gets_unsupported_version_per_partition() {
        // acks 1, timeout 1000, one topic "t" with partitions 0 and 3 (null records)
        let mut b = vec![0, 1, 0, 0, 3, 232, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        b.extend_from_slice(&[
            0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff,
        ]);
        let frame = unsupported_v(ApiKey::Produce, 2, b).expect("answered");
        let f = &frame[4..];
        assert_eq!(&f[..4], &9i32.to_be_bytes(), "correlation id");
        // 1 topic, "t", 2 partitions; first: index 0, error 35
        assert_eq!(&f[4..8], &1i32.to_be_bytes());
        assert_eq!(&f[11..15], &2i32.to_be_bytes());
        assert_eq!(&f[15..19], &0i32.to_be_bytes());
        assert_eq!(&f[19..21], &35i16.to_be_bytes());
        assert_eq!(frame.len(), 4 + 4 + 4 + 3 + 4 + 2 * (4 + 2 + 8 + 8) + 4);
    }

    #[test]
    fn malformed_and_hostile_old_requests_are_refused() {
        assert!(unsupported_v(ApiKey::Produce, 0, vec![0, 1]).is_none());
        // a topic count far beyond the bytes sent
        let b = vec![0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(unsupported_v(ApiKey::Produce, 0, b).is_none());
        assert!(unsupported_v(ApiKey::Fetch, 3, vec![0; 11]).is_none());
    }

    #[test]
    fn old_fetch_gets_unsupported_version() {
        // replica -1, max wait 100, min bytes 1, max bytes (v3), topic "ab", partition 5
        let mut b = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 100, 0, 0, 0, 1, 0, 1, 0, 0];
        b.extend_from_slice(&[0, 0, 0, 1, 0, 2, b'a', b'b', 0, 0, 0, 1, 0, 0, 0, 5]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        let frame = unsupported_v(ApiKey::Fetch, 3, b).expect("answered");
        let f = &frame[8..]; // after size and correlation id
        assert_eq!(&f[..4], &0i32.to_be_bytes(), "throttle");
        assert_eq!(&f[16..20], &5i32.to_be_bytes(), "partition");
        assert_eq!(&f[20..22], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    }
}
