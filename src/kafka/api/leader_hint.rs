//! KIP-951: an answer of NOT_LEADER_OR_FOLLOWER (or, in Fetch, FENCED_LEADER_EPOCH) says
//! where the partition's leader is now: its id and epoch next to the error, and its
//! endpoint among the response's node endpoints, so the client re-routes without a
//! metadata refresh. Produce v10+ and Fetch v12+ (endpoints v16+) carry them.

use std::collections::BTreeMap;

use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::Broker;
use crate::metadata::BrokerEndpoint;

/// The leaders named so far in one response, and their endpoints on the request's
/// listener.
pub struct LeaderHints<'a> {
    broker: &'a Broker,
    listener: &'a str,
    endpoints: BTreeMap<i32, BrokerEndpoint>,
}

impl<'a> LeaderHints<'a> {
    pub fn new(broker: &'a Broker, listener: &'a str) -> Self {
        LeaderHints {
            broker,
            listener,
            endpoints: BTreeMap::new(),
        }
    }

    /// (leader id, leader epoch) of partition `index` of the topic (by id when `id` is
    /// not nil, else by name), as this broker knows it; the leader's endpoint is kept for
    /// [`Self::endpoints`]. `None` if the partition is not hosted here or has no leader.
    pub fn leader(&mut self, name: &str, id: uuid::Uuid, index: i32) -> Option<(i32, i32)> {
        let topic = if id.is_nil() {
            self.broker.topic(name)
        } else {
            self.broker.topic_by_id(id)
        }?;
        let st = topic.partition(index)?.replica_state();
        if st.leader < 0 {
            return None;
        }
        if let Some(e) = self.broker.metadata().endpoint(st.leader, self.listener) {
            self.endpoints.insert(st.leader, e);
        }
        Some((st.leader, st.leader_epoch))
    }

    /// The endpoints of the leaders named, by node id, each made into the response's own
    /// `NodeEndpoint` type by `make(node id, host, port, rack)`.
    pub fn node_endpoints<T>(
        self,
        make: impl Fn(BrokerId, StrBytes, i32, Option<StrBytes>) -> T,
    ) -> Vec<T> {
        self.endpoints
            .into_values()
            .map(|e| {
                make(
                    BrokerId(e.node_id),
                    str_bytes(e.host),
                    i32::from(e.port),
                    e.rack.map(str_bytes),
                )
            })
            .collect()
    }
}
