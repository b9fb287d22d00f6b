//! `rafka cluster`: the cluster id, the brokers and the controller, from a Metadata
//! request (librdkafka's `rd_kafka_clusterid` and `rd_kafka_controllerid` read them from
//! the metadata it keeps).
//!
//! The controller is what Metadata's `controller_id` says. In a KRaft cluster (Apache
//! Kafka 3.3+, and Rafka) the real controllers are not reachable by clients, and the
//! brokers answer with one of the live brokers instead (Kafka's KIP-590 redirection goes
//! through it), so the broker named here is that one, not a quorum voter.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{CliContext, CliError, ClientArgs};

pub const EXAMPLES: &str = "\
Examples:
  rafka cluster
  rafka cluster -b broker1:9092,broker2:9092";

/// Flags of `rafka cluster`.
#[derive(Clone, Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: ClusterArgs) -> Result<(), CliError> {
    let args = &args.client;
    let consumer: BaseConsumer<CliContext> = args
        .client_config(&[])
        .create_with_context(CliContext)
        .map_err(|e| CliError::kafka("creating the client", &e))?;
    let metadata = args.metadata(consumer.client(), None)?;
    // both are read from the metadata just fetched: no further request
    let cluster_id = consumer.client().fetch_cluster_id(args.timeout);
    let controller = controller_id(&consumer, args.timeout);
    let mut brokers: Vec<(i32, String)> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), host_port(b.host(), b.port())))
        .collect();
    brokers.sort();
    let mut out = String::new();
    out.push_str(&format!(
        "Cluster ID: {}\n",
        cluster_id.as_deref().unwrap_or("-")
    ));
    out.push_str(&format!(
        "Controller: {}\n",
        controller.map_or("-".to_string(), |id| id.to_string())
    ));
    out.push_str(&format!("Brokers: {}\n", brokers.len()));
    for (id, at) in &brokers {
        let mark = if Some(*id) == controller {
            "\t(controller)"
        } else {
            ""
        };
        out.push_str(&format!("\tBroker: {id}\tAddress: {at}{mark}\n"));
    }
    print!("{out}");
    Ok(())
}

/// `host:port`, with brackets around an IPv6 address.
fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The controller id of the metadata librdkafka holds, `None` when the brokers gave none
/// (-1). rdkafka 0.39 has no safe wrapper for `rd_kafka_controllerid`, unlike
/// `rd_kafka_clusterid` (`Client::fetch_cluster_id`); this is the same call.
#[allow(unsafe_code)]
fn controller_id(consumer: &BaseConsumer<CliContext>, timeout: Duration) -> Option<i32> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `native_ptr` is the live `rd_kafka_t` of `consumer`, borrowed for the
    // whole call; `rd_kafka_controllerid` only reads its metadata cache under librdkafka's
    // own lock, returns an int, and keeps no pointer.
    let id =
        unsafe { rdkafka::bindings::rd_kafka_controllerid(consumer.client().native_ptr(), ms) };
    (id >= 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(host_port("127.0.0.1", 9092), "127.0.0.1:9092");
        assert_eq!(host_port("::1", 9092), "[::1]:9092");
        assert_eq!(host_port("broker-1", 19092), "broker-1:19092");
    }
}
