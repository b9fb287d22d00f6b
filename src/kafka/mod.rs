//! The Kafka wire protocol: frames in ([`codec`]), one task per connection with pipelined,
//! in-order responses ([`connection`]), one match on the API key ([`dispatch`]), and one
//! file per Kafka API under [`api`]. Requests and responses are decoded and encoded with the
//! `kafka-protocol` crate.

pub mod api;
pub mod codec;
pub mod connection;
pub mod dispatch;
pub mod fetch_session;

pub use dispatch::SUPPORTED_APIS;
