//! Rafka: a small Kafka-compatible broker that keeps Kafka's own on-disk log format.
//!
//! Module map (data flows socket → decode → handler → log → response):
//! - [`config`]: the broker's flags, validated once.
//! - [`log`]: the partition log engine — Kafka-format segments, indexes, recovery,
//!   retention. It knows nothing of the network.
//!
//! The Kafka wire server, the text protocol and the group coordinator build on `log` in
//! later modules.

pub mod config;
pub mod log;
