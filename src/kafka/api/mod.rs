//! One module per Kafka API: each takes the decoded request and returns the response,
//! with Kafka's error codes per topic and partition.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod forward;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leader_hint;
pub mod leave_group;
pub mod legacy;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use std::sync::Arc;

use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::context::RequestContext;

/// Runs a handler's `respond(broker, req, version)` on the blocking pool, for the APIs
/// that read or write files (and decompress) on the way: off the runtime threads.
pub async fn on_blocking_pool<Req, Resp>(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: Req,
    respond: fn(&Broker, Req, i16) -> Resp,
) -> Answer<Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    let (b, version) = (Arc::clone(broker), ctx.api_version);
    match tokio::task::spawn_blocking(move || respond(&b, req, version)).await {
        Ok(resp) => Answer::Now(resp),
        Err(e) => Answer::Fail(RouteError::Internal(format!(
            "the {:?} task failed: {e}",
            ctx.api_key
        ))),
    }
}

/// A response string from a Rust string.
/// Every topic's id and partition count by name, as the consumer group coordinator
/// matches subscriptions against them (KIP-848; every ConsumerGroupHeartbeat asks, so
/// no partition views are built).
pub fn topic_image(broker: &crate::broker::Broker) -> crate::group::consumer::TopicImage {
    let count = |n: usize| i32::try_from(n).ok();
    match &broker.metadata().topics {
        Some(all) => all
            .values()
            .filter_map(|t| Some((t.name.clone(), (t.id, count(t.partitions.len())?))))
            .collect(),
        None => broker
            .topics()
            .iter()
            .filter_map(|t| Some((t.name.clone(), (t.id, count(t.partitions.len())?))))
            .collect(),
    }
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
