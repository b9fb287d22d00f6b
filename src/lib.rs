//! Rafka: a small Kafka-compatible broker that keeps Kafka's own on-disk log format.
//!
//! Module map (data flows socket → decode → handler → log → response):
//! - [`server`]: listeners, connection limit, graceful shutdown; [`BrokerBuilder`] starts a
//!   broker in-process (tests use it with ephemeral ports).
//! - [`kafka`]: the Kafka wire protocol — frames, connections, dispatch, one file per API.
//! - [`text`]: the line-based text protocol (`nc`-friendly) — line reading, command
//!   parsing, one function per command, escaping, Kafka's murmur2 key partitioner.
//! - [`broker`]: topics, partitions, topic ids and configs; producer ids.
//! - [`group`]: the group coordinator — consumer groups and committed offsets, stored in
//!   `__consumer_offsets`.
//! - [`log`]: the partition log engine — Kafka-format segments, indexes, recovery,
//!   retention. It knows nothing of the network.
//! - [`config`]: `server.properties` and flags, validated once.
//! - [`alloc_guard`]: keeps a hostile array length from aborting the process.

pub mod alloc_guard;
pub mod broker;
pub mod config;
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
