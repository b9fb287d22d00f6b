//! The Kafka wire protocol: frames in ([`codec`]), one task per connection with pipelined,
//! in-order responses ([`connection`]) and, on a SASL listener, its authenticator
//! ([`sasl`]), the one request route ([`route`]) with each request's [`context`] and its
//! authorization ([`authz`]), and one
//! file per Kafka API under [`api`]. The APIs a controller
//! serves on its controller port are in [`controller`]. Requests and responses
//! are decoded and encoded with the `kafka-protocol` crate.

pub mod answer;
pub mod api;
pub mod authz;
pub mod codec;
pub mod connection;
pub mod context;
pub mod controller;
pub mod route;
pub mod sasl;

pub use route::ROUTES;
