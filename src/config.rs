//! Broker configuration: command-line flags (with `RAFKA_*` environment variables), one
//! validated [`Config`]. Kafka's `server.properties` keys come with the wire server.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::log::LogConfig;

/// Flags of `rafka serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address of the Kafka protocol listener.
    #[arg(long, env = "RAFKA_LISTENER", default_value = "127.0.0.1:9092")]
    pub listener: SocketAddr,
    /// Address of the line-based text protocol listener.
    #[arg(long, env = "RAFKA_TEXT_LISTENER", default_value = "127.0.0.1:9093")]
    pub text_listener: SocketAddr,
    /// Log directory (Kafka's `log.dirs`): one sub-directory per partition.
    #[arg(long, env = "RAFKA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// This broker's id (Kafka's `node.id`), recorded in meta.properties.
    #[arg(long, env = "RAFKA_NODE_ID", default_value_t = 1)]
    pub node_id: i32,
    /// How often retention is applied, in ms (`log.retention.check.interval.ms`).
    #[arg(long, default_value_t = 300_000)]
    pub retention_check_interval_ms: u64,
}

impl Config {
    /// The log settings every topic starts from (Kafka's defaults for now).
    pub fn log_config(&self) -> LogConfig {
        LogConfig::default()
    }
}
