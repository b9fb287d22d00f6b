//! Rafka: a small Kafka-compatible broker that keeps Kafka's own on-disk log format.
//!
//! Module map (data flows socket → decode → handler → log → response):
//! - [`server`]: listeners, connection limit, graceful shutdown; [`BrokerBuilder`] starts a
//!   broker in-process (tests use it with ephemeral ports).
//! - [`kafka`]: the Kafka wire protocol — frames, connections, dispatch, one file per API.
//! - [`text`]: the line-based text protocol (`nc`-friendly) — line reading, command
//!   parsing, one function per command, escaping, Kafka's murmur2 key partitioner.
//! - [`broker`]: topics, partitions, topic ids and configs; producer ids.
//! - [`coordinator`]: the runtime of coordinators whose state lives in an internal topic:
//!   one shard (a state machine returning effects) per partition, each behind its own lock.
//! - [`group`]: the group coordinator — consumer groups and committed offsets, stored in
//!   `__consumer_offsets`, as shards on the coordinator runtime.
//! - [`log`]: the partition log engine — Kafka-format segments, indexes, recovery,
//!   retention. It knows nothing of the network.
//! - [`config`]: `server.properties` and flags, validated once.
//! - [`alloc_guard`]: keeps a hostile array length from aborting the process.

pub mod alloc_guard;
pub mod broker;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod group;
pub mod kafka;
pub mod log;
pub mod metadata;
pub mod partition;
pub mod server;
pub mod text;
pub mod topic;

pub use server::{BrokerBuilder, BrokerHandle};
