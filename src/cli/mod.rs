//! The client subcommands, `rafka produce | consume | topics | groups | cluster`: real Kafka clients
//! (librdkafka through the `rdkafka` crate) that talk to any Kafka-compatible broker over
//! the wire, Rafka or Apache Kafka. Built with the `client` cargo feature (on by default).
//!
//! This module holds what they share: the connection flags (`-b`, `-X`,
//! `--timeout`), the [`CliError`] type and its exit codes, a librdkafka context that keeps
//! librdkafka's log out of the way, the topic metadata lookup (which also tells an
//! unreachable broker apart), the progress bar and the Ctrl-C flag. It owns no protocol
//! code: every byte on the wire is librdkafka's.

pub mod cluster;
pub mod consume;
pub mod groups;
pub mod produce;
pub mod topics;

use std::io::IsTerminal;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaRespErr;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the broker could not be reached, refused a request, a record was not
/// delivered, or local I/O failed.
pub const EXIT_ERROR: u8 = 1;
/// Exit status: bad flags or values (clap uses 2 for its own usage errors too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the topic, the partition or the consumer group does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;

/// The exit codes as `rafka --help` and the README list them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes (the same for every subcommand):
  0  success
  1  error: the broker is unreachable or refused a request, a record was not
     delivered, or reading/writing a local file failed
  2  usage error: unknown flag, bad value, missing argument
  3  the topic or partition does not exist (or the consumer group, for
     rafka groups describe)";

/// Why a client command failed. [`CliError::exit_code`] maps each to the process exit
/// status; the `Display` form is the one line printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No answer from the bootstrap servers within the timeout (exit 1). `reason` says
    /// what a plain TCP connect saw, e.g. "127.0.0.1:1: Connection refused (os error 111)".
    #[error("cannot reach the broker at {bootstrap}: {reason}")]
    Unreachable { bootstrap: String, reason: String },
    /// The topic does not exist (exit 3).
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    /// The topic exists but not that partition (exit 3).
    #[error("partition {partition} of topic '{topic}' does not exist (it has {count})")]
    UnknownPartition {
        topic: String,
        partition: i32,
        count: usize,
    },
    /// The consumer group does not exist (exit 3): no broker lists it, or it is Dead (no
    /// members, no offsets), as Kafka's `kafka-consumer-groups.sh` words it.
    #[error("consumer group '{0}' does not exist")]
    UnknownGroup(String),
    /// The broker or librdkafka refused an operation (exit 1).
    #[error("{context}: {reason}")]
    Kafka { context: String, reason: String },
    /// Flags that parse one by one but not together (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Reading the input or writing the output failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::UnknownTopic(_)
            | CliError::UnknownPartition { .. }
            | CliError::UnknownGroup(_) => EXIT_NOT_FOUND,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } | CliError::Kafka { .. } | CliError::Io { .. } => {
                EXIT_ERROR
            }
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// A librdkafka error, without the crate's "KafkaError (...)" wrapping.
    pub fn kafka(context: impl Into<String>, err: &KafkaError) -> CliError {
        CliError::Kafka {
            context: context.into(),
            reason: kafka_reason(err),
        }
    }
}

/// The readable part of a librdkafka error ("Broker: Unknown topic or partition").
pub fn kafka_reason(err: &KafkaError) -> String {
    match err.rdkafka_error_code() {
        Some(code) => code_reason(code),
        None => err.to_string(),
    }
}

/// librdkafka's description of an error code, without the variant name that the
/// crate's `Display` puts first ("UnknownTopicOrPartition (Broker: Unknown topic or
/// partition)" -> "Broker: Unknown topic or partition").
pub fn code_reason(code: RDKafkaErrorCode) -> String {
    let shown = code.to_string();
    match shown.split_once(" (") {
        Some((_, rest)) if rest.ends_with(')') => rest[..rest.len() - 1].to_string(),
        _ => shown,
    }
}

/// Connection flags every client subcommand takes.
#[derive(Clone, Debug, clap::Args)]
pub struct ClientArgs {
    /// Bootstrap broker(s), host:port[,host:port...].
    #[arg(
        short = 'b',
        long = "bootstrap-server",
        env = "RAFKA_BOOTSTRAP_SERVER",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT"
    )]
    pub bootstrap: String,
    /// A librdkafka client property, passed through as is (as kcat's -X); repeatable.
    /// Applied last, so it overrides what the other flags set.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
    /// Seconds to wait for the broker: metadata, admin requests, and each record's
    /// delivery (librdkafka's message.timeout.ms).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
}

impl ClientArgs {
    /// The librdkafka configuration: bootstrap, quiet logging, then `extra` (the
    /// subcommand's settings), then `-X` (the user's word is last).
    pub fn client_config(&self, extra: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "rafka-cli")
            .set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in extra {
            config.set(*k, v);
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// The bootstrap servers librdkafka is given: `-b`, unless `-X bootstrap.servers=`
    /// overrides it.
    fn bootstrap_servers(&self) -> &str {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers")
            .map_or(self.bootstrap.as_str(), |(_, v)| v.as_str())
    }

    /// A plain TCP connect to every address of every bootstrap server, each bounded by
    /// `wait`, in order: what each one saw.
    fn probe(&self, wait: Duration) -> Vec<Probe> {
        let mut seen = Vec::new();
        for server in self.bootstrap_servers().split(',').map(str::trim) {
            if server.is_empty() {
                continue;
            }
            let server = server.split_once("://").map_or(server, |(_, a)| a);
            let addrs = match with_default_port(server).to_socket_addrs() {
                Ok(addrs) => addrs.collect::<Vec<_>>(),
                Err(e) => {
                    seen.push(Probe::Failed {
                        at: server.to_string(),
                        why: format!("cannot resolve the host name: {e}"),
                    });
                    continue;
                }
            };
            for addr in addrs {
                seen.push(match TcpStream::connect_timeout(&addr, wait) {
                    Ok(_) => Probe::Connected(addr),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        Probe::TimedOut(format!("{addr}: {e}"))
                    }
                    Err(e) => Probe::Failed {
                        at: addr.to_string(),
                        why: e.to_string(),
                    },
                });
            }
        }
        seen
    }

    /// Fails at once, instead of after `--timeout`, when no bootstrap address can be
    /// connected to: every one refuses the connection (nothing listens there), does not
    /// resolve, or fails in some other way that is not a timeout. librdkafka would retry
    /// them until the timeout, which helps no one when the broker is down. A broker that
    /// is just starting gets about a second: the probe is repeated until then.
    pub fn fail_fast_if_down(&self) -> Result<(), CliError> {
        let grace = self.timeout.min(FAIL_FAST_GRACE);
        let started = Instant::now();
        for round in 0..FAIL_FAST_ROUNDS {
            let seen = self.probe(grace);
            let down = !seen.is_empty() && seen.iter().all(|p| matches!(p, Probe::Failed { .. }));
            if !down {
                return Ok(());
            }
            if round + 1 == FAIL_FAST_ROUNDS || started.elapsed() >= grace {
                return Err(CliError::Unreachable {
                    bootstrap: self.bootstrap_servers().to_string(),
                    reason: failures(&seen, self.bootstrap_servers()),
                });
            }
            std::thread::sleep(grace / FAIL_FAST_ROUNDS);
        }
        Ok(())
    }

    /// The error for "no answer from the broker". librdkafka queues its own account of
    /// a failed connection for a poll that a failed metadata call never makes, so this
    /// tries a plain TCP connect to each bootstrap address to say which of "refused",
    /// "timed out" or "connects but does not answer" it is.
    pub fn unreachable(&self, err: &KafkaError) -> CliError {
        let seen = self.probe(self.timeout.min(Duration::from_secs(2)));
        let bootstrap = self.bootstrap_servers().to_string();
        if let Some(addr) = seen.iter().find_map(|p| match p {
            Probe::Connected(addr) => Some(addr),
            _ => None,
        }) {
            return CliError::Unreachable {
                bootstrap,
                reason: format!(
                    "{addr} accepts connections but gave no Kafka answer within {}s ({})",
                    self.timeout.as_secs_f64(),
                    kafka_reason(err)
                ),
            };
        }
        let reason = match failures(&seen, &bootstrap) {
            reason if reason.is_empty() => kafka_reason(err),
            reason => reason,
        };
        CliError::Unreachable { bootstrap, reason }
    }

    /// Metadata for one topic (`Some`) or all, mapping failures to [`CliError`]s. For one
    /// topic, a topic-level error is [`CliError::UnknownTopic`] when the broker says so.
    pub fn metadata<C: ClientContext>(
        &self,
        client: &rdkafka::client::Client<C>,
        topic: Option<&str>,
    ) -> Result<Metadata, CliError> {
        // every command's first request to the broker: a broker that is down fails here
        // at once, not after the timeout
        self.fail_fast_if_down()?;
        let metadata = client.fetch_metadata(topic, self.timeout).map_err(|e| {
            match e.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::OperationTimedOut
                    | RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::AllBrokersDown
                    | RDKafkaErrorCode::Resolve
                    | RDKafkaErrorCode::BrokerNotAvailable,
                ) => self.unreachable(&e),
                _ => CliError::kafka("fetching metadata", &e),
            }
        })?;
        if let Some(name) = topic {
            let Some(t) = metadata.topics().iter().find(|t| t.name() == name) else {
                return Err(CliError::UnknownTopic(name.to_string()));
            };
            match t.error() {
                None => {}
                Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                    return Err(CliError::UnknownTopic(name.to_string()))
                }
                Some(e) => {
                    return Err(CliError::Kafka {
                        context: format!("topic '{name}'"),
                        reason: code_reason(RDKafkaErrorCode::from(e)),
                    })
                }
            }
        }
        Ok(metadata)
    }
}

/// How long a broker that refuses connections gets before a command gives up (at most
/// `--timeout`), and in how many probes: scripts that start a broker and use it at once
/// keep working.
const FAIL_FAST_GRACE: Duration = Duration::from_secs(1);
const FAIL_FAST_ROUNDS: u32 = 4;

/// What a plain TCP connect to one bootstrap address saw.
enum Probe {
    /// Something accepts connections there.
    Connected(std::net::SocketAddr),
    /// No answer within the probe's time: maybe a slow network, librdkafka may do better.
    TimedOut(String),
    /// Refused, unresolvable, unreachable: no broker there now. `at`: the address.
    Failed { at: String, why: String },
}

/// What went wrong, for the error line: "Connection refused (os error 111)" for the one
/// address given, else "ADDR: why" for each address that failed, joined by "; ".
fn failures(seen: &[Probe], bootstrap: &str) -> String {
    let mut shown = Vec::new();
    for p in seen {
        match p {
            Probe::Failed { at, why } if seen.len() == 1 && at == bootstrap => {
                shown.push(why.clone())
            }
            Probe::Failed { at, why } => shown.push(format!("{at}: {why}")),
            Probe::TimedOut(why) => shown.push(why.clone()),
            Probe::Connected(_) => {}
        }
    }
    shown.join("; ")
}

/// `host:port` as given, or `host:9092` (librdkafka's default port) when it has no port.
fn with_default_port(server: &str) -> String {
    let has_port = match server.rsplit_once(':') {
        // "[::1]:9092", "host:9092"; a bare IPv6 address ("::1") has no port
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        server.to_string()
    } else if server.contains(':') && !server.starts_with('[') {
        format!("[{server}]:9092")
    } else {
        format!("{server}:9092")
    }
}

/// The partitions of `topic` in `metadata` (which must hold it), checking `wanted` is one.
pub fn partitions_of(
    metadata: &Metadata,
    topic: &str,
    wanted: Option<i32>,
) -> Result<Vec<i32>, CliError> {
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| CliError::UnknownTopic(topic.to_string()))?;
    let mut all: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    all.sort_unstable();
    match wanted {
        None => Ok(all),
        Some(p) if all.contains(&p) => Ok(vec![p]),
        Some(p) => Err(CliError::UnknownPartition {
            topic: topic.to_string(),
            partition: p,
            count: all.len(),
        }),
    }
}

/// A librdkafka context that sends librdkafka's log and global errors to `tracing` at
/// debug level (`RUST_LOG=debug` shows them) instead of the default warn/error, which
/// would repeat every failed reconnect on stderr. The commands report failures
/// themselves, one line each.
#[derive(Debug, Default)]
pub struct CliContext;

// the consumer's rebalance and commit callbacks keep their defaults (logging)
impl rdkafka::consumer::ConsumerContext for CliContext {}

impl ClientContext for CliContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(target: "librdkafka", level = level as i32, facility, "{message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason}");
    }
}

/// `key=value` (the value may contain `=`; the key may not be empty).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// A positive number of seconds, fractions allowed ("0.5").
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("expected seconds in (0, 86400], got '{s}'")),
    }
}

/// "1 record", "2 records".
pub fn records(n: u64) -> String {
    if n == 1 {
        "1 record".to_string()
    } else {
        format!("{n} records")
    }
}

/// What a progress bar counts.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Bytes,
    Records,
}

/// A progress bar on stderr, only when stderr is a terminal (never in a pipe or a log).
/// `len`: a known total, else a spinner with a count.
pub fn progress_bar(len: Option<u64>, unit: Unit) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (template, fallback) = match (len, unit) {
        (Some(_), Unit::Bytes) => (
            "{bar:40} {bytes}/{total_bytes} ({elapsed}, eta {eta})",
            indicatif::ProgressStyle::default_bar(),
        ),
        (Some(_), Unit::Records) => (
            "{bar:40} {pos}/{len} records ({elapsed}, eta {eta})",
            indicatif::ProgressStyle::default_bar(),
        ),
        (None, Unit::Bytes) => (
            "{spinner} {bytes} ({elapsed})",
            indicatif::ProgressStyle::default_spinner(),
        ),
        (None, Unit::Records) => (
            "{spinner} {pos} records ({elapsed})",
            indicatif::ProgressStyle::default_spinner(),
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template).unwrap_or(fallback);
    let bar = match len {
        Some(len) => indicatif::ProgressBar::new(len),
        None => {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.enable_steady_tick(Duration::from_millis(200));
            spinner
        }
    };
    bar.set_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    Some(bar)
}

/// A flag set by the first SIGINT or SIGTERM, for loops that must stop cleanly (flush
/// their output, leave their group) instead of dying mid-write. The signals stay
/// caught for the rest of the process.
pub fn stop_on_signal() -> Result<Arc<AtomicBool>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(CliError::io("starting the signal handler"))?;
    // registered here, before returning, so a signal right after this call is seen
    let (mut interrupt, mut terminate) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .map_err(CliError::io("installing the signal handler"))?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("rafka-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            flag.store(true, Ordering::SeqCst);
        })
        .map_err(CliError::io("starting the signal handler"))?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_and_seconds() {
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".to_string(), "b=c".to_string()))
        );
        assert_eq!(parse_key_value("a="), Ok(("a".to_string(), String::new())));
        assert!(parse_key_value("=b").is_err());
        assert!(parse_key_value("ab").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "NaN", "1e9"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bootstrap_addresses_get_librdkafkas_default_port() {
        assert_eq!(with_default_port("localhost"), "localhost:9092");
        assert_eq!(with_default_port("127.0.0.1:19092"), "127.0.0.1:19092");
        assert_eq!(with_default_port("[::1]:19092"), "[::1]:19092");
        assert_eq!(with_default_port("::1"), "[::1]:9092");
        assert_eq!(with_default_port("[::1]"), "[::1]:9092");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            CliError::UnknownTopic("t".into()).exit_code(),
            EXIT_NOT_FOUND
        );
        assert_eq!(
            CliError::UnknownGroup("g".into()).exit_code(),
            EXIT_NOT_FOUND
        );
        assert_eq!(CliError::Usage("u".into()).exit_code(), EXIT_USAGE);
        let unreachable = CliError::Unreachable {
            bootstrap: "127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        assert_eq!(unreachable.exit_code(), EXIT_ERROR);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the broker at 127.0.0.1:1: refused"
        );
    }
}
