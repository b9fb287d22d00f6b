//! `PRODUCE <topic> <key> <value>` → `OK <partition> <offset>`: one record in its own v2
//! batch (CreateTime = now), appended like a Kafka `acks=1` produce — the reply comes after
//! the append, before any fsync (`flush.messages` / `flush.ms` still apply). The partition
//! layer applies the same rules as to a Kafka Produce: an internal topic such as
//! `__consumer_offsets` is refused with `ERR INVALID_TOPIC_EXCEPTION`.

use std::sync::Arc;

use super::{blocking, Context, TextError};
use crate::log::now_ms;
use crate::log::records::{encode_batch, NewRecord};
use crate::partition::{AppendOrigin, PartitionError};
use crate::text::partitioner::partition_for_key;

pub async fn produce(
    ctx: &Arc<Context>,
    topic: String,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
) -> Result<String, TextError> {
    // a cluster auto-creates through the controller, as a Metadata request would
    if let Some(cluster) = ctx.broker.cluster() {
        if ctx.broker.topic_view(&topic).is_none()
            && ctx.broker.config().auto_create_topics
            && !crate::topic::is_internal(&topic)
        {
            cluster.auto_create(std::slice::from_ref(&topic)).await;
        }
    }
    let c = Arc::clone(ctx);
    let (partition, offset) = blocking(move || {
        // auto-created as a Metadata request would (an internal topic only by its coordinator)
        let t = c.broker.topic_or_auto_create(&topic, true)?;
        // every partition the metadata has (a cluster broker hosts some of them)
        let count = c
            .broker
            .topic_view(&topic)
            .map_or(t.partitions.len(), |v| v.partitions.len());
        let index = match &key {
            Some(k) => partition_for_key(k, count),
            None => c.next_round_robin(&t.name, count),
        };
        let at = i32::try_from(index).unwrap_or(i32::MAX);
        let partition = match t.partition(at) {
            Some(p) => p,
            // in a cluster, another broker's: it is not the leader here
            None if c.broker.cluster().is_some() => {
                return Err(PartitionError::NotLeader(format!("{topic}-{at}")).into())
            }
            None => {
                return Err(TextError::UnknownPartition {
                    topic: topic.clone(),
                    partition: at,
                })
            }
        };
        let record = NewRecord {
            key,
            value: Some(value),
            headers: Vec::new(),
            timestamp: now_ms(),
        };
        // the partition assigns the offset and stamps its leader epoch
        let batch = encode_batch(&[record], -1);
        let info = partition.append(&batch, AppendOrigin::Client)?;
        // counted as a Kafka produce's batches are (rafka_bytes_in, rafka_records_in)
        let metrics = c.broker.metrics();
        metrics.record_in(&metrics.topic(&t.name), batch.len() as u64, 1);
        Ok((index, info.base_offset))
    })
    .await?;
    Ok(format!("OK {partition} {offset}\n"))
}
