//! The one error vocabulary: Kafka's error codes ([`ErrorCode`]), with Kafka's names.
//!
//! Every module keeps its own typed error (`LogError`, `PartitionError`, `BrokerError`,
//! `TextError`, ...); each maps to an [`ErrorCode`] in one `code()` method, and only the
//! protocol edges turn that into the wire's `i16` (Kafka responses) or a name (the text
//! protocol's `ERR <NAME>` lines). This module is a leaf: it depends on nothing in the
//! crate, so the log engine can use it without knowing any protocol type.

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal; )*) => {
        /// A Kafka error code (`org.apache.kafka.common.protocol.Errors`). Only the codes
        /// Rafka sends or reads are listed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl ErrorCode {
            /// Every listed code, in code order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// Kafka's name of the code, as in the `Errors` enum (`UNKNOWN_TOPIC_OR_PARTITION`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $name, )*
                }
            }

            /// The code for a wire value; codes Rafka does not list become
            /// [`ErrorCode::UnknownServerError`].
            pub const fn from_code(code: i16) -> ErrorCode {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    _ => ErrorCode::UnknownServerError,
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR";
    None = 0, "NONE";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE";
    CorruptMessage = 2, "CORRUPT_MESSAGE";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE";
    NotCoordinator = 16, "NOT_COORDINATOR";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS";
    IllegalGeneration = 22, "ILLEGAL_GENERATION";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL";
    InvalidGroupId = 24, "INVALID_GROUP_ID";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS";
    InvalidPartitions = 37, "INVALID_PARTITIONS";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT";
    InvalidConfig = 40, "INVALID_CONFIG";
    NotController = 41, "NOT_CONTROLLER";
    InvalidRequest = 42, "INVALID_REQUEST";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT";
    PolicyViolation = 44, "POLICY_VIOLATION";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH";
    InvalidTxnState = 48, "INVALID_TXN_STATE";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT";
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
    SecurityDisabled = 54, "SECURITY_DISABLED";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC";
    InvalidRecord = 87, "INVALID_RECORD";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT";
    ProducerFenced = 90, "PRODUCER_FENCED";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND";
    DuplicateResource = 92, "DUPLICATE_RESOURCE";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION";
}

impl ErrorCode {
    /// The value on the wire.
    pub const fn code(self) -> i16 {
        self as i16
    }

    pub const fn is_none(self) -> bool {
        matches!(self, ErrorCode::None)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<ErrorCode> for i16 {
    fn from(e: ErrorCode) -> i16 {
        e.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::error::ResponseError;

    /// Each listed code is the one Kafka gives that name: the kafka-protocol crate (generated
    /// from Kafka's `Errors`) names it the same, in its CamelCase spelling.
    #[test]
    fn codes_and_names_match_kafkas() {
        for &e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(e.code()), e);
            if e == ErrorCode::None {
                continue;
            }
            let theirs = ResponseError::try_from_code(e.code()).expect("an error");
            let camel: String = e
                .name()
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map_or(String::new(), |f| {
                        f.to_string() + &c.as_str().to_ascii_lowercase()
                    })
                })
                .collect();
            assert_eq!(format!("{theirs:?}"), camel, "code {}", e.code());
        }
        assert_eq!(ErrorCode::from_code(9999), ErrorCode::UnknownServerError);
    }
}
