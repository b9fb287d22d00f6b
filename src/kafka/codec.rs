//! Kafka frames: a 4-byte big-endian size, then a request header (v1, or v2 with tagged
//! fields for flexible versions) and the body; responses get header v0 or v1 as each API
//! version requires (ApiVersions always v0). Pure functions over bytes, so they can be
//! fuzzed; lengths are checked before the `kafka-protocol` decoders see the bytes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Bytes before the client id in every request header: key, version, correlation id.
const FIXED_HEADER: usize = 8;

/// A request frame that cannot be served. [`FrameError::correlation_id`] says whether the
/// header was readable (then the connection logs it with the request's identity).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative or over `socket.request.max.bytes`: the connection is
    /// closed before anything is buffered, as Kafka does.
    #[error("request size {size} outside 0..={max}")]
    BadSize { size: i64, max: usize },
    /// Fewer bytes than a request header needs.
    #[error("request of {0} bytes is shorter than a request header")]
    TooShort(usize),
    /// An API key Kafka does not define.
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    /// The header after the fixed fields does not decode (client id, tagged fields).
    #[error("malformed request header for API key {api_key}: {reason}")]
    BadHeader { api_key: i16, reason: String },
}

/// Checks a frame's size prefix against the limit before the body is read.
pub fn check_size(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    match usize::try_from(size) {
        Ok(s) if s <= max => Ok(s),
        _ => Err(FrameError::BadSize {
            size: i64::from(size),
            max,
        }),
    }
}

/// A request whose header decoded; the body is still bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    /// The client's address, set by the connection (JoinGroup reports it as client host).
    pub peer: Option<std::net::SocketAddr>,
    pub body: Bytes,
}

/// Splits a frame (without its size prefix) into header and body.
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    if frame.len() < FIXED_HEADER {
        return Err(FrameError::TooShort(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey {
        api_key: key,
        correlation_id,
    })?;
    // v1 and v2 headers both carry a 2-byte client id length after the fixed fields
    if frame.len() < FIXED_HEADER + 2 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| FrameError::BadHeader {
            api_key: key,
            reason: e.to_string(),
        })?;
    Ok(Request {
        api_key,
        api_version: version,
        correlation_id,
        client_id: header.client_id,
        peer: None,
        body: frame,
    })
}

/// Encodes a whole response frame: size prefix, header, body.
pub fn encode_response<M: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &M,
) -> anyhow::Result<Bytes> {
    let header_version = api_key.response_header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header.compute_size(header_version)? + body.compute_size(api_version)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(i32::try_from(size)?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, api_version)?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn size_prefix_limits() {
        assert_eq!(check_size(10i32.to_be_bytes(), 100).expect("ok"), 10);
        assert!(check_size((-1i32).to_be_bytes(), 100).is_err());
        assert!(check_size(0x7fff_ffffi32.to_be_bytes(), 100 << 20).is_err());
    }

    #[test]
    fn short_and_unknown_frames_are_errors() {
        for n in 0..10 {
            assert!(
                parse_request(Bytes::from(vec![0u8; n])).is_err(),
                "{n} bytes"
            );
        }
        let mut f = vec![0x7f, 0x00, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
        assert!(matches!(
            parse_request(Bytes::from(f.clone())),
            Err(FrameError::UnknownApiKey {
                correlation_id: 7,
                ..
            })
        ));
        f[0] = 0; // Produce v0 header: key 0, version 0, null client id
        let r = parse_request(Bytes::from(f)).expect("header decodes");
        assert_eq!(r.api_key, ApiKey::Produce);
        assert!(r.body.is_empty());
    }

    /// The ApiVersions response header is v0 even for flexible (v3+) versions: no tagged
    /// field byte after the correlation id (a trap that broke other Kafka-compatible brokers).
    #[test]
    fn api_versions_response_header_is_always_v0() {
        let body = ApiVersionsResponse::default();
        let frame = encode_response(ApiKey::ApiVersions, 3, 42, &body).expect("encode");
        let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(size, frame.len() - 4);
        assert_eq!(&frame[4..8], &42i32.to_be_bytes());
        assert_eq!(size, 4 + body.compute_size(3).expect("size"));
    }
}
