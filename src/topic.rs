//! Topic names: Kafka's rules for a valid name and the internal topics (Kafka's
//! `org.apache.kafka.common.internals.Topic`). A leaf: config, broker, group and the
//! protocols all check names here, so none of them depends on another for it.

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The internal topic holding the transaction coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The longest name Kafka accepts.
pub const MAX_NAME_LENGTH: usize = 249;

/// Topics only the broker's coordinators write to; a client's append is refused with
/// INVALID_TOPIC_EXCEPTION, whichever protocol it comes from.
pub fn is_internal(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC
}

/// A name Kafka would refuse: INVALID_TOPIC_EXCEPTION (17).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic name '{name}': {reason}")]
pub struct InvalidTopicName {
    pub name: String,
    pub reason: &'static str,
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), InvalidTopicName> {
    let bad = |reason| {
        Err(InvalidTopicName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > MAX_NAME_LENGTH {
        return bad("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for ok in ["a", "my-topic", "a.b_c-1", &"x".repeat(249)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(is_internal(OFFSETS_TOPIC) && !is_internal("orders"));
    }
}
