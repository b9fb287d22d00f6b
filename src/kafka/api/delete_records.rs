//! DeleteRecords (v0-v2): moves each partition's log start offset up to the given offset
//! (-1: the high watermark), deleting the segments wholly below it, and answers with the
//! new low watermark. An offset past the high watermark (or negative other than -1) is
//! OFFSET_OUT_OF_RANGE; unknown topics and partitions UNKNOWN_TOPIC_OR_PARTITION. Failed
//! partitions report low watermark -1, as Kafka does. Each topic needs DELETE on it, else
//! its partitions get TOPIC_AUTHORIZATION_FAILED (before their existence is looked at).

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::partition::AppendOrigin;
use crate::security::acl::AclOperation;

/// The request's "up to the high watermark" offset.
const HIGH_WATERMARK: i64 = -1;
/// Kafka's low watermark for a partition that failed.
const INVALID_LOW_WATERMARK: i64 = -1;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DeleteRecordsRequest,
) -> Answer<DeleteRecordsResponse> {
    respond(ctx, broker, req).into()
}

fn respond(
    ctx: &RequestContext,
    broker: &Broker,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let denied = authz::denied_topics(
        ctx,
        broker,
        req.topics.iter().map(|t| t.name.as_str()),
        AclOperation::Delete,
    );
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let may = !denied.contains(t.name.as_str());
            let topic = broker.topic(&t.name.0).filter(|_| may);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        let code = match may {
                            true => ErrorCode::UnknownTopicOrPartition,
                            false => ErrorCode::TopicAuthorizationFailed,
                        };
                        return result
                            .with_error_code(code.code())
                            .with_low_watermark(INVALID_LOW_WATERMARK);
                    };
                    let offset = if p.offset == HIGH_WATERMARK {
                        partition.high_watermark()
                    } else {
                        p.offset
                    };
                    match partition.delete_records_before(offset, AppendOrigin::Client) {
                        Ok(low) => result
                            .with_error_code(ErrorCode::None.code())
                            .with_low_watermark(low),
                        Err(e) => result
                            .with_error_code(e.code().into())
                            .with_low_watermark(INVALID_LOW_WATERMARK),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
