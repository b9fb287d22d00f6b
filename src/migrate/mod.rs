//! Moving between Apache Kafka and Rafka on the same log dirs.

pub mod to_kafka;
