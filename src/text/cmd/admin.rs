//! The small commands: TOPICS, CREATE, DESCRIBE, OFFSETS and HELP.

use std::fmt::Write;
use std::sync::Arc;

use super::{partition, topic, Context, TextError};
use crate::broker::Broker;
use crate::log::checkpoint::uuid_to_kafka;

/// `TOPICS` → `<name> <partitions>` per topic (in a cluster, every topic of the metadata),
/// sorted by name, then `END`.
pub fn topics(broker: &Broker) -> String {
    let mut topics = broker.topic_views();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for t in topics {
        let _ = writeln!(out, "{} {}", t.name, t.partitions.len());
    }
    out.push_str("END\n");
    out
}

/// `CREATE <topic> [partitions]` → `OK`; without a count, `num.partitions`. In a cluster
/// the controller creates it (with `default.replication.factor`).
pub async fn create(
    ctx: &Arc<Context>,
    name: String,
    partitions: Option<i32>,
) -> Result<String, TextError> {
    ctx.broker
        .create_topic_anywhere(&name, partitions.unwrap_or(-1))
        .await?;
    Ok("OK\n".to_string())
}

/// `DESCRIBE <topic>` → `TOPIC <name> <id> <partitions>`, then `PARTITION <p>
/// <log_start_offset> <high_watermark>` per partition, then `END`. The id is in Kafka's
/// textual form (base64url, as `kafka-topics.sh --describe` prints it).
pub fn describe(broker: &Broker, name: &str) -> Result<String, TextError> {
    let t = topic(broker, name)?;
    let mut out = format!(
        "TOPIC {} {} {}\n",
        t.name,
        uuid_to_kafka(t.id),
        t.partitions.len()
    );
    for p in &t.partitions {
        let _ = writeln!(
            out,
            "PARTITION {} {} {}",
            p.index(),
            p.log_start_offset(),
            p.high_watermark()
        );
    }
    out.push_str("END\n");
    Ok(out)
}

/// `OFFSETS <topic> <partition>` → `OFFSETS <log_start_offset> <high_watermark>`.
pub fn offsets(broker: &Broker, name: &str, index: i32) -> Result<String, TextError> {
    let log = partition(broker, name, index)?;
    Ok(format!(
        "OFFSETS {} {}\n",
        log.log_start_offset(),
        log.high_watermark()
    ))
}

/// The command summary.
pub const HELP: &str = "\
PRODUCE <topic> <key|-> <value...>  append a record; replies OK <partition> <offset>
CONSUME <topic> <partition> <offset> [max]  records as <offset> <key> <value>, then END <next-offset>
TOPICS  each topic as <name> <partitions>, then END
CREATE <topic> [partitions]  create a topic; replies OK
DESCRIBE <topic>  TOPIC <name> <id> <partitions>, PARTITION <p> <log-start> <high-watermark> lines, END
OFFSETS <topic> <partition>  replies OFFSETS <log-start> <high-watermark>
HELP  this list
QUIT  replies BYE and closes the connection
END
";

pub fn help() -> String {
    HELP.to_string()
}
