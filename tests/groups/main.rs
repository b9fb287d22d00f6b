//! Consumer groups (issue #6) over the wire: the classic group protocol (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets (OffsetCommit,
//! OffsetFetch, OffsetDelete) and the group admin APIs (ListGroups, DescribeGroups,
//! DeleteGroups), through raw frames at every supported version and through librdkafka
//! (`rdkafka` StreamConsumers). `cargo test --test groups`.
//!
//! - [`wire`]: the broker under test, a raw group member, consumer-protocol bytes, and
//!   OffsetCommit / OffsetFetch / ListGroups helpers.
//! - [`protocol`]: FindCoordinator, JoinGroup / SyncGroup and the group error codes.
//! - [`offsets`]: committed offsets at every version, OffsetDelete, DeleteGroups,
//!   ListGroups / DescribeGroups, durability across a restart.
//! - [`clients`]: librdkafka StreamConsumers: manual and auto commit, cooperative-sticky
//!   handover, a member that dies without LeaveGroup.
//! - [`churn`]: many raw members joining, rebalancing and leaving at once.
//!
//! The raw tests pin Kafka's behaviour, each citing it: KIP-394's MEMBER_ID_REQUIRED,
//! KIP-345's static members, KIP-699's batched FindCoordinator, KIP-709's batched
//! OffsetFetch, KIP-1043's DescribeGroups v6, and the error codes of Kafka's classic group
//! coordinator (`GroupMetadataManager`, `ClassicGroup`, `OffsetMetadataManager`).
//!
//! By default every test starts Rafka in-process (`group.initial.rebalance.delay.ms=0`,
//! `group.min.session.timeout.ms=1000`, `offsets.topic.num.partitions=3`). With `GROUPS_TEST_BOOTSTRAP=host:port` they run
//! against a broker that is already running instead; that is how they were checked
//! against Apache Kafka 4.3:
//!
//! ```sh
//! KAFKA_REF_STATE=/tmp/ref.state KAFKA_REF_PROPS=group.min.session.timeout.ms=1000 \
//!     compat-tests/kafka-ref.sh start            # prints 127.0.0.1:PORT
//! GROUPS_TEST_BOOTSTRAP=127.0.0.1:PORT cargo test --test groups
//! ```
//!
//! Tests that restart the broker, or pin what Rafka advertises, run in-process only.

#[path = "../support/mod.rs"]
mod support;

mod churn;
mod clients;
mod kip848;
mod offsets;
mod protocol;
mod wire;
