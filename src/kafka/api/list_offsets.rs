//! ListOffsets (v1-v10): earliest (-2), latest (-1, the high watermark), max timestamp
//! (-3), earliest local (-4, the log start: no tiered storage), latest tiered (-5: none,
//! so -1), or the first record at or after a timestamp. No match: offset and timestamp -1.
//! With isolation level 1 (`read_committed`, v2+) latest is the last stable offset and
//! the max-timestamp and timestamp lookups see only records below it (Kafka's
//! `Partition.fetchOffsetForTimestamp` bounds them by the last fetchable offset).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::log::OffsetSpec;
use crate::partition::ReadBound;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
) -> Answer<ListOffsetsResponse> {
    // Kafka: DESCRIBE on each topic, TOPIC_AUTHORIZATION_FAILED per partition otherwise
    let denied = authz::denied_topics(
        ctx,
        broker,
        req.topics.iter().map(|t| t.name.as_str()),
        AclOperation::Describe,
    );
    let (b, version) = (Arc::clone(broker), ctx.api_version);
    match tokio::task::spawn_blocking(move || respond(&b, req, version, &denied)).await {
        Ok(resp) => Answer::Now(resp),
        Err(e) => Answer::Fail(RouteError::Internal(format!(
            "the ListOffsets task failed: {e}"
        ))),
    }
}

fn respond(
    broker: &Broker,
    req: ListOffsetsRequest,
    version: i16,
    denied: &std::collections::HashSet<String>,
) -> ListOffsetsResponse {
    let bound = if req.isolation_level == 1 {
        ReadBound::LastStable
    } else {
        ReadBound::HighWatermark
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic_denied = denied.contains(t.name.as_str());
            let topic = broker.topic(&t.name.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    if topic_denied {
                        return resp.with_error_code(ErrorCode::TopicAuthorizationFailed.code());
                    }
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return resp.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
                    };
                    // v4+ carries the client's current leader epoch (KIP-320); below v4
                    // it decodes as -1, no check
                    if let Err(e) = partition.check_current_epoch(p.current_leader_epoch) {
                        return resp.with_error_code(e.code().into());
                    }
                    let spec = match p.timestamp {
                        -1 => OffsetSpec::Latest,
                        -2 => OffsetSpec::Earliest,
                        -3 => OffsetSpec::MaxTimestamp,
                        -4 => OffsetSpec::EarliestLocal,
                        -5 => return resp, // LATEST_TIERED: nothing is tiered
                        ts if ts >= 0 => OffsetSpec::Timestamp(ts),
                        _ => return resp.with_error_code(ErrorCode::InvalidRequest.code()),
                    };
                    match partition.list_offset_bounded(spec, bound) {
                        Ok(Some(found)) => {
                            let resp = resp
                                .with_offset(found.offset)
                                .with_timestamp(found.timestamp);
                            if version >= 4 {
                                resp.with_leader_epoch(found.leader_epoch.unwrap_or(-1))
                            } else {
                                resp
                            }
                        }
                        Ok(None) => resp,
                        Err(e) => resp.with_error_code(e.code().into()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
