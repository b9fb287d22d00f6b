//! The text protocol's errors and the one place they become `ERR <KAFKA_ERROR_NAME>
//! <message>` lines. Every error leaves the connection usable.

use crate::broker::BrokerError;
use crate::error::ErrorCode;
use crate::log::LogError;
use crate::partition::PartitionError;

/// Why a command failed; [`TextError::name`] is the Kafka error name put on the line.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// An unknown command or bad arguments (not UTF-8, missing, not a number):
    /// INVALID_REQUEST (42).
    #[error("{0}")]
    InvalidRequest(String),
    /// A line longer than the limit; it was read and discarded: MESSAGE_TOO_LARGE (10).
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// A partition number the topic does not have: UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("topic '{topic}' has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    /// A partition count that is not a positive number: INVALID_PARTITIONS (37).
    #[error("invalid number of partitions {0}")]
    InvalidPartitions(String),
    /// A topic operation failed (its own code).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The log engine failed (its own code).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A partition refused or failed the operation (its own code).
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// A stored batch that does not decode (written before appends validated compressed
    /// batches, or damaged on disk since; its CRC may still be valid): the code of the
    /// log's error, CORRUPT_MESSAGE (2), INVALID_RECORD (87) or MESSAGE_TOO_LARGE (10).
    #[error("the batch at offsets {base_offset}-{last_offset} does not decode: {cause}")]
    BadBatch {
        base_offset: i64,
        last_offset: i64,
        cause: LogError,
    },
    /// A blocking task failed (a bug): UNKNOWN_SERVER_ERROR (-1).
    #[error("internal error: {0}")]
    Internal(String),
}

impl TextError {
    /// The Kafka error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            TextError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            TextError::LineTooLong { .. } => ErrorCode::MessageTooLarge,
            TextError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            TextError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
            TextError::Broker(e) => e.code(),
            TextError::Log(e) | TextError::BadBatch { cause: e, .. } => e.code(),
            TextError::Partition(e) => e.code(),
            TextError::Internal(_) => ErrorCode::UnknownServerError,
        }
    }

    /// The Kafka error name (`Errors` enum constant in the Java code).
    pub fn name(&self) -> &'static str {
        self.code().name()
    }

    /// The reply line, `ERR <NAME> <message>\n`, with any line break in the message
    /// replaced so the reply stays one line.
    pub fn to_line(&self) -> String {
        let message: String = self
            .to_string()
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        format!("ERR {} {message}\n", self.name())
    }

    /// True for faults of the broker rather than of the request: logged at error level.
    pub fn is_internal(&self) -> bool {
        matches!(
            self.code(),
            ErrorCode::UnknownServerError | ErrorCode::KafkaStorageError
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_errors_keep_their_kafka_names() {
        let cases: Vec<(LogError, &str)> = vec![
            (LogError::Corrupt("x".into()), "CORRUPT_MESSAGE"),
            (LogError::InvalidRecord("x".into()), "INVALID_RECORD"),
            (
                LogError::MessageTooLarge { size: 2, max: 1 },
                "MESSAGE_TOO_LARGE",
            ),
            (
                LogError::OffsetOutOfRange {
                    offset: 9,
                    log_start_offset: 0,
                    log_end_offset: 3,
                },
                "OFFSET_OUT_OF_RANGE",
            ),
            (LogError::Internal("x".into()), "UNKNOWN_SERVER_ERROR"),
        ];
        for (e, name) in cases {
            assert_eq!(TextError::from(e).name(), name);
        }
        assert_eq!(
            TextError::from(BrokerError::TopicExists("t".into())).to_line(),
            "ERR TOPIC_ALREADY_EXISTS topic 't' already exists\n"
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = TextError::Internal("a\nb\rc".into());
        assert_eq!(
            e.to_line(),
            "ERR UNKNOWN_SERVER_ERROR internal error: a b c\n"
        );
    }
}
