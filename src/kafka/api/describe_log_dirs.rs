//! DescribeLogDirs (v1-v4): the broker's log dir, with the size of each hosted partition
//! asked for (all of them when `topics` is null), and the volume's total and usable bytes
//! (v4: -1, not known). Rafka has one log dir and no future replicas (no dir-to-dir moves): every offset
//! lag is 0. `kafka-reassign-partitions` asks this before it reassigns, to print each
//! replica's dir. It needs DESCRIBE on the cluster: without it, no results, and from v3
//! CLUSTER_AUTHORIZATION_FAILED.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeLogDirsRequest,
) -> Answer<DescribeLogDirsResponse> {
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) {
        let resp = DescribeLogDirsResponse::default();
        return if ctx.api_version >= 3 {
            resp.with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
        } else {
            resp
        }
        .into();
    }
    respond(broker, req, ctx.api_version).into()
}

fn respond(broker: &Broker, req: DescribeLogDirsRequest, version: i16) -> DescribeLogDirsResponse {
    // topic name → the partitions asked (None: all of them)
    let asked: Option<BTreeMap<String, Vec<i32>>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let mut topics = Vec::new();
    for t in broker.topics() {
        let wanted = match &asked {
            None => None,
            Some(a) => match a.get(&t.name) {
                Some(parts) => Some(parts),
                None => continue,
            },
        };
        let partitions: Vec<DescribeLogDirsPartition> = t
            .partitions
            .iter()
            .filter(|p| wanted.is_none_or(|w| w.contains(&p.index())))
            .map(|p| {
                DescribeLogDirsPartition::default()
                    .with_partition_index(p.index())
                    .with_partition_size(i64::try_from(p.size_in_bytes()).unwrap_or(i64::MAX))
                    .with_offset_lag(0)
                    .with_is_future_key(false)
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(str_bytes(t.name.clone())))
                    .with_partitions(partitions),
            );
        }
    }
    let dir = broker.config().data_dir.clone();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        // the volume's sizes would need statvfs, and this crate has no unsafe code outside
        // the allocator guard: -1, the schema's "unknown"
        result = result.with_total_bytes(-1).with_usable_bytes(-1);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
