//! Rafka: a small Kafka-compatible broker that keeps Kafka's own on-disk log format.
//!
//! Module map (data flows socket → decode → one route → handler → partition → log →
//! response):
//! - [`server`]: listeners, connection limit, periodic jobs, graceful shutdown;
//!   [`BrokerBuilder`] starts a broker in-process (tests use it with ephemeral ports).
//! - [`kafka`]: the Kafka wire protocol — frames, connections, the one request route with
//!   each request's context, one file per API.
//! - [`text`]: the line-based text protocol (`nc`-friendly) — line reading, command
//!   parsing, one function per command, escaping, Kafka's murmur2 key partitioner.
//! - [`broker`]: the topic registry (names, ids, configs, hosted partitions), fetch
//!   sessions, producer ids.
//! - [`metadata`]: the view every broker answers from — brokers and their endpoints, the
//!   controller, each partition's leader, epoch, replicas and ISR.
//! - [`coordinator`]: the runtime of coordinators whose state lives in an internal topic:
//!   one shard (a state machine returning effects) per partition, each behind its own lock.
//! - [`group`]: the group coordinator — consumer groups and committed offsets, stored in
//!   `__consumer_offsets`, as shards on the coordinator runtime.
//! - [`partition`]: one [`partition::Partition`] per hosted partition — its log, leader
//!   epoch, replicas, ISR and high watermark; every append and read goes through it.
//! - [`controller`]: the controller quorum — KRaft's `__cluster_metadata` log replicated
//!   by openraft (kept inside this module), its RPCs on the controller port, and the
//!   [`controller::MetadataStateMachine`] trait the metadata image implements; the
//!   controller's decisions as a state machine of effects (`controller::machine`).
//! - [`log`]: the partition log engine — Kafka-format segments, indexes, recovery,
//!   retention. It knows nothing of the network.
//! - [`metrics`]: the broker's Prometheus metrics (counters on the request path, gauges
//!   read from the broker when scraped).
//! - [`http`]: the HTTP listener — `/metrics`, `/healthz`, `/readyz` and the status page.
//! - [`security`]: TLS on a listener (certificates, client certificates, reloading) and
//!   the principal a connection acts as.
//! - [`config`]: `server.properties` and flags, validated once.
//! - [`error`]: Kafka's error codes, the one vocabulary; [`topic`]: topic name rules.
//! - [`alloc_guard`]: keeps a hostile array length from aborting the process.
//!
//! Nothing in the library may panic on bytes from a socket or a disk: `expect`, `unwrap`
//! and indexing that can panic are denied outside tests (use `get`, `?`, typed errors).

#![cfg_attr(
    not(test),
    deny(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)
)]

pub mod alloc_guard;
pub mod broker;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod error;
pub mod group;
pub mod http;
pub mod kafka;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod migrate;
pub mod partition;
pub mod security;
pub mod server;
pub mod text;
pub mod topic;
pub mod txn;

pub use server::{BrokerBuilder, BrokerHandle, ClusterBuilder, ClusterHandle};
