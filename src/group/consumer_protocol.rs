//! Kafka's consumer protocol (`ConsumerProtocolAssignment`), the bytes a classic group's
//! leader hands each member in SyncGroup: which partitions it owns. The broker only
//! stores them; the status page and `rafka groups describe` read them.

/// Why a member's assignment bytes could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// The bytes end inside a field.
    #[error("{0} bytes short")]
    Truncated(usize),
    /// A negative version or array length, or a null topic name.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A topic name that is not UTF-8.
    #[error("a topic name is not UTF-8")]
    NotUtf8,
}

/// The partitions of a `ConsumerProtocolAssignment` (Kafka's
/// `clients/src/main/resources/common/message/ConsumerProtocolAssignment.json`, v0-v3:
/// `version: int16`, `assigned_partitions: [topic: string, partitions: [int32]]`,
/// `user_data: nullable bytes`; never flexible). A version past 3 is read as 3, as
/// Kafka's `ConsumerProtocol` does. Every length is checked against what is left.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<(String, Vec<i32>)>, AssignmentError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version < 0 {
        return Err(AssignmentError::Invalid("version"));
    }
    let topics = r.len("topic count")?;
    let mut assigned = Vec::new();
    for _ in 0..topics {
        let name_len = usize::try_from(r.i16()?).map_err(|_| AssignmentError::Invalid("topic"))?;
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| AssignmentError::NotUtf8)?
            .to_string();
        let count = r.len("partition count")?;
        let mut partitions = Vec::new();
        for _ in 0..count {
            partitions.push(r.i32()?);
        }
        assigned.push((name, partitions));
    }
    // the user data (nullable bytes) that follows is the assignor's own: not shown
    Ok(assigned)
}

/// A `ConsumerProtocolSubscription` (v0-v3): the topics, and from v1 the partitions the
/// member owns (a cooperative member lists them when it rejoins), from v3 its rack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    pub version: i16,
    pub topics: Vec<String>,
    pub owned: Vec<(String, Vec<i32>)>,
    pub rack: Option<String>,
}

/// Decodes a `ConsumerProtocolSubscription` (`version: int16`, `topics: [string]`,
/// `user_data: nullable bytes`, v1+ `owned_partitions: [topic: string, partitions:
/// [int32]]`, v2+ `generation_id: int32`, v3+ `rack_id: nullable string`), every length
/// checked.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, AssignmentError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version < 0 {
        return Err(AssignmentError::Invalid("version"));
    }
    let mut out = Subscription {
        version,
        ..Subscription::default()
    };
    for _ in 0..r.len("topic count")? {
        out.topics.push(r.string()?);
    }
    // user data: nullable bytes
    if let Ok(n) = usize::try_from(r.i32()?) {
        r.take(n)?;
    }
    if version >= 1 {
        for _ in 0..r.len("owned topic count")? {
            let topic = r.string()?;
            let mut ps = Vec::new();
            for _ in 0..r.len("owned partition count")? {
                ps.push(r.i32()?);
            }
            out.owned.push((topic, ps));
        }
    }
    if version >= 2 {
        r.i32()?;
    }
    if version >= 3 {
        let n = r.i16()?;
        if let Ok(n) = usize::try_from(n) {
            let rack = std::str::from_utf8(r.take(n)?).map_err(|_| AssignmentError::NotUtf8)?;
            out.rack = Some(rack.to_string());
        }
    }
    Ok(out)
}

/// Encodes a `ConsumerProtocolAssignment` of `version` (0 to 3; the fields are the same)
/// with no user data.
pub fn encode_assignment(version: i16, assigned: &[(String, Vec<i32>)]) -> bytes::Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&version.clamp(0, 3).to_be_bytes());
    out.extend_from_slice(
        &i32::try_from(assigned.len())
            .unwrap_or(i32::MAX)
            .to_be_bytes(),
    );
    for (topic, ps) in assigned {
        out.extend_from_slice(&i16::try_from(topic.len()).unwrap_or(i16::MAX).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&i32::try_from(ps.len()).unwrap_or(i32::MAX).to_be_bytes());
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    bytes::Bytes::from(out)
}

/// The version of a consumer-protocol subscription's bytes (0 if unreadable).
pub fn version_of(bytes: &[u8]) -> i16 {
    bytes
        .get(..2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, i16::from_be_bytes)
        .max(0)
}

/// A cursor over bytes that never reads past their end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AssignmentError> {
        let head = self
            .0
            .get(..n)
            .ok_or(AssignmentError::Truncated(n.saturating_sub(self.0.len())))?;
        self.0 = self.0.get(n..).unwrap_or_default();
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, AssignmentError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes(
            b.try_into().map_err(|_| AssignmentError::Truncated(2))?,
        ))
    }

    fn string(&mut self) -> Result<String, AssignmentError> {
        let n = usize::try_from(self.i16()?).map_err(|_| AssignmentError::Invalid("string"))?;
        Ok(std::str::from_utf8(self.take(n)?)
            .map_err(|_| AssignmentError::NotUtf8)?
            .to_string())
    }

    fn i32(&mut self) -> Result<i32, AssignmentError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes(
            b.try_into().map_err(|_| AssignmentError::Truncated(4))?,
        ))
    }

    /// An array length: not negative (the assignment's arrays are not nullable), and no
    /// more elements than bytes left, so a hostile length allocates nothing.
    fn len(&mut self, what: &'static str) -> Result<usize, AssignmentError> {
        let n = usize::try_from(self.i32()?).map_err(|_| AssignmentError::Invalid(what))?;
        if n > self.0.len() {
            return Err(AssignmentError::Truncated(n - self.0.len()));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An assignment as Kafka's ConsumerProtocol writes it.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            b.extend((name.len() as i16).to_be_bytes());
            b.extend(name.as_bytes());
            b.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                b.extend(p.to_be_bytes());
            }
        }
        match user_data {
            Some(d) => {
                b.extend((d.len() as i32).to_be_bytes());
                b.extend(d);
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
        b
    }

    #[test]
    fn decodes_every_version() {
        for version in 0..=4 {
            let bytes = encode(version, &[("orders", &[0, 2]), ("audit", &[1])], Some(b"x"));
            assert_eq!(
                decode_assignment(&bytes),
                Ok(vec![
                    ("orders".to_string(), vec![0, 2]),
                    ("audit".to_string(), vec![1])
                ]),
                "v{version}"
            );
        }
        assert_eq!(decode_assignment(&encode(0, &[], None)), Ok(vec![]));
    }

    #[test]
    fn every_cut_is_an_error_not_a_panic() {
        let bytes = encode(1, &[("orders", &[0, 1, 2])], None);
        // the user data is not read: cutting it off still decodes
        let needed = bytes.len() - 4;
        for cut in 0..needed {
            assert!(decode_assignment(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_assignment(&bytes[..needed]).is_ok());
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend(i32::MAX.to_be_bytes());
        assert!(matches!(
            decode_assignment(&huge),
            Err(AssignmentError::Truncated(_))
        ));
        let mut negative = 0i16.to_be_bytes().to_vec();
        negative.extend((-1i32).to_be_bytes());
        assert_eq!(
            decode_assignment(&negative),
            Err(AssignmentError::Invalid("topic count"))
        );
        assert_eq!(
            decode_assignment(&(-1i16).to_be_bytes()),
            Err(AssignmentError::Invalid("version"))
        );
        let mut null_topic = 0i16.to_be_bytes().to_vec();
        null_topic.extend(1i32.to_be_bytes());
        null_topic.extend((-1i16).to_be_bytes());
        assert_eq!(
            decode_assignment(&null_topic),
            Err(AssignmentError::Invalid("topic"))
        );
    }
}
