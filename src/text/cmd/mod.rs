//! One function per command, each applying it to the [`Broker`] and returning the whole
//! reply (every line ends with `\n`; multi-line replies end with `END`). Anything that
//! touches files (appends, reads, topic creation) runs on the blocking pool.

mod admin;
mod consume;
mod produce;

use std::sync::Arc;

use super::command::Command;
use super::error::TextError;
use super::Context;
use crate::broker::{Broker, BrokerError, Topic};
use crate::partition::Partition;

pub use consume::MAX_REPLY_BYTES;

/// Runs one command. QUIT is the connection's business; here it only says BYE.
pub async fn apply(ctx: &Arc<Context>, cmd: Command) -> Result<String, TextError> {
    match cmd {
        Command::Produce { topic, key, value } => produce::produce(ctx, topic, key, value).await,
        Command::Consume {
            topic,
            partition,
            offset,
            max,
        } => consume::consume(ctx, topic, partition, offset, max).await,
        Command::Topics => Ok(admin::topics(&ctx.broker)),
        Command::Create { topic, partitions } => admin::create(ctx, topic, partitions).await,
        Command::Describe { topic } => admin::describe(&ctx.broker, &topic),
        Command::Offsets { topic, partition } => admin::offsets(&ctx.broker, &topic, partition),
        Command::Help => Ok(admin::help()),
        Command::Quit => Ok("BYE\n".to_string()),
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TextError> + Send + 'static,
) -> Result<T, TextError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TextError::Internal(format!("blocking task failed: {e}")))?
}

/// An existing topic, or UNKNOWN_TOPIC_OR_PARTITION.
fn topic(broker: &Broker, name: &str) -> Result<Arc<Topic>, TextError> {
    broker
        .topic(name)
        .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()).into())
}

/// One partition of an existing topic, or UNKNOWN_TOPIC_OR_PARTITION.
fn partition(broker: &Broker, name: &str, index: i32) -> Result<Arc<Partition>, TextError> {
    topic(broker, name)?
        .partition(index)
        .cloned()
        .ok_or_else(|| TextError::UnknownPartition {
            topic: name.to_string(),
            partition: index,
        })
}
