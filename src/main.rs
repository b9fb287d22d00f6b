//! The `rafka` command line: `serve` (the default) runs the broker; `log` inspects and
//! writes partition directories directly; with the `client` feature (on by default),
//! `produce`, `consume` and `topics` are Kafka clients (see `cli/`). `anyhow` lives here
//! only; the client commands have their own error type with exit codes.

#[cfg(feature = "client")]
mod cli;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rafka::broker::BrokerError;
use rafka::config::{Config, ConfigError, LogFormat, ObserveConfig, ServeArgs};
use rafka::log::records::{self, NewRecord};
use rafka::log::{batch, LogManager, TopicPartition};
use tracing::{debug, info};

/// `println!` for a running broker's own lines (its listeners, topics made at start): a
/// reader that went away (`rafka serve | head -1`) must not bring the broker down, which
/// `println!`'s panic on a closed stdout would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[global_allocator]
static ALLOC: rafka::alloc_guard::GuardedAlloc = rafka::alloc_guard::GuardedAlloc;

/// Exit codes: the client subcommands add "3: no such topic or partition" (cli/mod.rs).
#[cfg(not(feature = "client"))]
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  error (the message on stderr says which)
  2  usage error: unknown flag, bad value, missing argument

The client tools (rafka produce, consume, topics, groups, cluster) are not in this
build:
  cargo install --path . --features client";

#[cfg(feature = "client")]
const EXIT_CODES_HELP: &str = cli::EXIT_CODES_HELP;

/// What a build without the `client` feature says to `rafka produce|consume|topics|...`,
/// instead of clap's bare "unrecognized subcommand".
#[cfg(not(feature = "client"))]
fn client_tools_missing() -> Option<ExitCode> {
    let command = std::env::args().nth(1)?;
    if !matches!(
        command.as_str(),
        "produce" | "consume" | "topics" | "groups" | "cluster"
    ) {
        return None;
    }
    eprintln!(
        "error: `rafka {command}` is one of the client tools, which this build leaves out; \
         build them with `cargo install --path . --features client`"
    );
    Some(ExitCode::from(2))
}

const SERVE_EXAMPLES: &str = "\
Examples:
  rafka                                         # 127.0.0.1:9092 (Kafka), :9192 (text), ./data
  rafka serve --topic orders:3 --topic audit    # create topics at start (if missing)
  rafka serve --data-dir /var/lib/rafka -o num.partitions=3 -o log.retention.hours=24
  rafka serve --config server.properties --listener 127.0.0.1:19092
  rafka serve --listener PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9095 \
      -o listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT";

#[derive(Parser)]
#[command(name = "rafka", version, about = "A small Kafka-compatible broker", long_about = None,
          after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (the default when no subcommand is given).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Read or write a partition directory directly, without a running broker.
    #[command(subcommand)]
    Log(LogCommand),
    /// Move a stopped Apache Kafka node's log dir to Rafka: `--check` reports what it
    /// holds and what Rafka carries over, without writing anything; `--to-kafka` hands a
    /// stopped Rafka node's log dir back to Kafka.
    #[command(after_help = MIGRATE_HELP)]
    Migrate(MigrateArgs),
    /// Write records to a topic: one per line of stdin or a file.
    #[cfg(feature = "client")]
    #[command(after_help = cli::produce::EXAMPLES)]
    Produce(cli::produce::ProduceArgs),
    /// Read records from a topic and print them, as text or JSON lines.
    #[cfg(feature = "client")]
    #[command(after_help = cli::consume::EXAMPLES)]
    Consume(cli::consume::ConsumeArgs),
    /// List, create, describe and delete topics.
    #[cfg(feature = "client")]
    #[command(subcommand, after_help = cli::topics::EXAMPLES)]
    Topics(cli::topics::TopicsCommand),
    /// List consumer groups; describe their members, committed offsets and lag.
    #[cfg(feature = "client")]
    #[command(subcommand, after_help = cli::groups::EXAMPLES)]
    Groups(cli::groups::GroupsCommand),
    /// Show the cluster id, the brokers and the controller.
    #[cfg(feature = "client")]
    #[command(after_help = cli::cluster::EXAMPLES)]
    Cluster(cli::cluster::ClusterArgs),
}

const MIGRATE_HELP: &str = "\
A Kafka node's log dir is adopted by starting Rafka on it, after a clean stop of Kafka:
  rafka migrate --check /var/lib/kafka/data
  rafka serve --data-dir /var/lib/kafka/data --node-id <Kafka's node.id>
One node of a multi-node Kafka cluster (each node's dir adopted by a Rafka node started
with Kafka's process.roles, node.id, controller.quorum.voters and listeners):
  rafka migrate --check --cluster /var/lib/kafka/data
And back: with Rafka stopped, write Kafka's metadata (topics, configs, producer ids) into
the log dir and move Rafka's own files (.rafka/) beside it, then start Kafka on it:
  rafka migrate --to-kafka /var/lib/kafka/data
Exit codes of --check:
  0  everything can be carried over
  1  something cannot (the report's last lines say what), or the dir cannot be read
  2  usage error (no such directory)";

#[derive(clap::Args)]
struct MigrateArgs {
    /// Report on the log dir without writing anything (exit 0 when everything can be
    /// carried over, 1 otherwise).
    #[arg(long, conflicts_with = "to_kafka")]
    check: bool,
    /// With --check: the dir is one node of a multi-node Kafka cluster, to be adopted by a
    /// Rafka cluster node (partitions other nodes host are then carried by the quorum).
    #[arg(long, requires = "check")]
    cluster: bool,
    /// With --check: the server.properties Rafka will run with (Kafka's dynamic broker
    /// configs are compared with its values, not Rafka's defaults).
    #[arg(long, requires = "check")]
    config: Option<std::path::PathBuf>,
    /// Hand a stopped single Rafka node's log dir to Apache Kafka 4.x: Kafka's KRaft
    /// metadata written from Rafka's, `.rafka/` moved to `<log dir>.rafka-backup`.
    #[arg(long)]
    to_kafka: bool,
    /// The Kafka node's log dir (one of its `log.dirs`).
    log_dir: std::path::PathBuf,
}

/// `rafka migrate`: the report of `--check`; without it, how the adoption is done.
fn migrate(args: &MigrateArgs) -> ExitCode {
    if !args.log_dir.is_dir() {
        eprintln!("error: {} is not a directory", args.log_dir.display());
        return ExitCode::from(2);
    }
    if args.to_kafka {
        return match rafka::migrate::to_kafka::hand_over(&args.log_dir) {
            Ok(h) => {
                say!(
                    "Handed over to Kafka: node.id {}, cluster.id {}; {} topics, {} partitions, {} topic configs; next producer id {}\n\
                     Kafka's metadata: {}\n\
                     Rafka's own files: {}\n\
                     Start Kafka with node.id={} and log.dirs={}",
                    h.node_id,
                    h.cluster_id,
                    h.topics.len(),
                    h.topics.iter().map(|t| t.leader_epochs.len()).sum::<usize>(),
                    h.topics.iter().map(|t| t.configs.len()).sum::<usize>(),
                    h.next_producer_id,
                    h.snapshot.display(),
                    h.backup.display(),
                    h.node_id,
                    args.log_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    if !args.check {
        say!(
            "Rafka adopts a stopped Kafka node's log dir when it starts on it:\n  \
             rafka migrate --check {dir}\n  \
             rafka serve --data-dir {dir} --node-id <Kafka's node.id>",
            dir = args.log_dir.display()
        );
        return ExitCode::SUCCESS;
    }
    // the configuration the dir will be served with, for Kafka's dynamic broker configs
    let defaults = match &args.config {
        None => rafka::log::LogConfig::default(),
        Some(path) => {
            let serve = rafka::config::ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            };
            match Config::from_args(&serve) {
                Ok(c) => c.log,
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
    };
    match rafka::migrate::check::check(&args.log_dir, args.cluster, &defaults) {
        Ok(report) => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(report.text.as_bytes());
            if report.not_carried.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Subcommand)]
enum LogCommand {
    /// Append records read from stdin, one per line: `key<TAB>value`, or just `value`
    /// (no key). Each batch is fsynced. The log dir (the parent) gets Kafka's checkpoints.
    #[command(
        after_help = "Example:\n  printf 'k1\\thello\\nworld\\n' | rafka log write data/orders-0"
    )]
    Write {
        /// The partition directory, `<log dir>/<topic>-<partition>`.
        partition_dir: PathBuf,
        /// Records per batch.
        #[arg(long, default_value_t = 100)]
        records_per_batch: usize,
    },
    /// Write a `__cluster_metadata-0` directory with a fixed sample cluster as Kafka's
    /// KRaft metadata records (3 brokers, a topic of 3 partitions with 3 replicas each,
    /// configs, a fence, a partition change, a producer id block), one batch per step; then
    /// read it back through the metadata image and print the image's digest. For checking
    /// with Kafka's `DumpLogSegments --cluster-metadata-decoder`.
    #[command(
        hide = true,
        after_help = "Example:\n  rafka log write-metadata /tmp/meta/__cluster_metadata-0"
    )]
    WriteMetadata {
        /// The partition directory, `<log dir>/__cluster_metadata-0`; must be empty or new.
        partition_dir: PathBuf,
        /// The writer's leader epoch, stamped on every batch.
        #[arg(long, default_value_t = 1)]
        leader_epoch: i32,
    },
    /// Write the same sample cluster through a one-voter controller quorum (openraft) into
    /// `<data dir>/__cluster_metadata-0`: Raft's control batches (VotersRecord,
    /// LeaderChange), one data batch per record, and a `.checkpoint` snapshot; print the
    /// image digest. For checking with Kafka's `DumpLogSegments --cluster-metadata-decoder`.
    #[command(
        hide = true,
        after_help = "Example:\n  rafka log write-quorum /tmp/controller-data"
    )]
    WriteQuorum {
        /// The data directory; `__cluster_metadata-0` is made in it and must not exist.
        data_dir: PathBuf,
    },
    /// Decode every KRaft metadata record of a `__cluster_metadata-0` directory (Kafka's
    /// or ours), print one line per record, `<offset>\t<record type> v<version>\t<fields>`,
    /// then apply them to a metadata image and print its summary and digest.
    #[command(
        hide = true,
        after_help = "Example:\n  rafka log dump-metadata /var/lib/kafka/__cluster_metadata-0"
    )]
    DumpMetadata {
        /// The partition directory, `<log dir>/__cluster_metadata-0`.
        partition_dir: PathBuf,
    },
    /// Print every record as `<offset>\t<key>\t<value>` (`null` for no key). Opens the
    /// partition as the broker would, recovering it if it was not shut down cleanly.
    #[command(after_help = "Example:\n  rafka log dump data/orders-0")]
    Dump {
        /// The partition directory, `<log dir>/<topic>-<partition>`.
        partition_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    #[cfg(not(feature = "client"))]
    if let Some(code) = client_tools_missing() {
        return code;
    }
    let cli = Cli::parse();
    // the broker logs at info; `log` and the client tools print their own results and
    // only log what went wrong (RUST_LOG=info shows more)
    let default_filter = match cli.command {
        // openraft narrates every vote and append at info: only its warnings
        None | Some(Command::Serve(_)) => "info,openraft=warn",
        #[cfg(feature = "client")]
        Some(_) => "warn",
        #[cfg(not(feature = "client"))]
        Some(Command::Log(_) | Command::Migrate(_)) => "warn",
    };
    // `serve` reads its configuration before logging starts, so that `log.level` and
    // `log.format` apply to every line; the warnings that reading gives (an unknown key)
    // are given again by the second reading in `serve`, once logging is on
    let serve_args = match &cli.command {
        None => Some(&cli.serve),
        Some(Command::Serve(args)) => Some(args),
        _ => None,
    };
    let observe = match serve_args.map(read_log_settings).transpose() {
        Ok(observe) => observe.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            return ExitCode::from(exit_code(&e));
        }
    };
    if let Err(e) = init_tracing(default_filter, &observe) {
        eprintln!("error: {}", one_line(&e));
        return ExitCode::from(exit_code(&e));
    }
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(config)) => serve(config),
        Some(Command::Log(LogCommand::Write {
            partition_dir,
            records_per_batch,
        })) => log_write(&partition_dir, records_per_batch.max(1)),
        Some(Command::Log(LogCommand::Dump { partition_dir })) => log_dump(&partition_dir),
        Some(Command::Migrate(args)) => return migrate(&args),
        Some(Command::Log(LogCommand::WriteMetadata {
            partition_dir,
            leader_epoch,
        })) => log_write_metadata(&partition_dir, leader_epoch),
        Some(Command::Log(LogCommand::WriteQuorum { data_dir })) => log_write_quorum(&data_dir),
        Some(Command::Log(LogCommand::DumpMetadata { partition_dir })) => {
            log_dump_metadata(&partition_dir)
        }
        #[cfg(feature = "client")]
        Some(Command::Produce(args)) => return client_exit(cli::produce::run(args)),
        #[cfg(feature = "client")]
        Some(Command::Consume(args)) => return client_exit(cli::consume::run(args)),
        #[cfg(feature = "client")]
        Some(Command::Topics(command)) => return client_exit(cli::topics::run(command)),
        #[cfg(feature = "client")]
        Some(Command::Groups(command)) => return client_exit(cli::groups::run(command)),
        #[cfg(feature = "client")]
        Some(Command::Cluster(args)) => return client_exit(cli::cluster::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            if let Some(found) = other_nodes_dir(&e) {
                eprintln!("hint: to serve this log dir (a Kafka node's, say), start with --node-id {found}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The node id a log dir's `meta.properties` names when it is not this broker's.
fn other_nodes_dir(e: &anyhow::Error) -> Option<i32> {
    use rafka::log::LogError;
    use rafka::server::ServerError;
    // (the broker's and the server's errors are transparent: the log error is not a cause
    // of its own in the chain)
    e.chain().find_map(|cause| {
        let log = match cause.downcast_ref::<ServerError>() {
            Some(ServerError::Broker(BrokerError::Log(l))) => Some(l),
            _ => cause.downcast_ref::<LogError>(),
        };
        match log {
            Some(LogError::NodeMismatch { found, .. }) => Some(*found),
            _ => None,
        }
    })
}

/// `log.level` and `log.format` of the configuration `serve` will run with, read with
/// logging still off (the reading's own warnings come again in `serve`).
fn read_log_settings(args: &ServeArgs) -> Result<ObserveConfig> {
    let quiet = tracing::subscriber::NoSubscriber::default();
    let config = tracing::subscriber::with_default(quiet, || Config::from_args(args))
        .context("invalid configuration")?;
    Ok(config.observe)
}

/// Installs the global subscriber on stderr. The filter: `RUST_LOG` when set (and valid),
/// else `log.level`, else `default_filter`. `log.format=json`: one JSON object per line,
/// with the fields of the event's spans (`spans`, outermost first, and the innermost as
/// `span`), for log shippers.
fn init_tracing(default_filter: &str, observe: &ObserveConfig) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match (EnvFilter::try_from_default_env(), &observe.log_level) {
        (Ok(from_env), _) => from_env,
        (Err(_), Some(level)) => EnvFilter::try_new(level)
            .map_err(|e| ConfigError::Invalid {
                key: "log.level".into(),
                value: level.clone(),
                reason: format!("not a tracing filter ({e})"),
            })
            .context("invalid configuration")?,
        (Err(_), None) => EnvFilter::new(default_filter),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match observe.log_format {
        LogFormat::Text => builder.with_ansi(colours_on_stderr()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    Ok(())
}

/// Colour in log lines only for a person at a terminal: not when stderr is a file or a
/// pipe, and not when `NO_COLOR` is set to anything but "" (no-color.org).
fn colours_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The error and its causes on one line, outermost first. A cause whose text its parent
/// already ends with (an error that shows its source in its own message, as
/// `"i/o error on {path}: {source}"` does) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// 2 (usage error, as `--help` says) for a configuration value that is wrong; 1 for any
/// other failure, a config file that cannot be read included.
fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_value = e.chain().any(|cause| {
        cause
            .downcast_ref::<ConfigError>()
            .is_some_and(ConfigError::is_usage_error)
    });
    if bad_value {
        2
    } else {
        1
    }
}

#[cfg(feature = "client")]
fn client_exit(result: Result<(), cli::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(cli::EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let config = Config::from_args(&args).context("invalid configuration")?;
    config.log_cluster();
    raise_open_file_limit()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // caught from before the first line is printed: a supervisor (or a test) that
        // stops the broker as soon as it has said it is ready gets a graceful shutdown
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("installing the SIGTERM handler")?;
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("installing the SIGINT handler")?;
        let handle = rafka::BrokerBuilder::new(config.clone())
            .start()
            .await
            .with_context(|| {
                format!(
                    "starting the broker (data dir {})",
                    config.data_dir.display()
                )
            })?;
        say!("rafka {}", env!("CARGO_PKG_VERSION"));
        if config.cluster.is_controller_only() {
            // no broker: the controller port is all it serves
            say!("controller listener: {}", handle.kafka_addr());
        } else {
            // the default listener's line is unchanged; further listeners say their names
            say!("Kafka listener: {}", handle.kafka_addr());
            for (name, addr) in handle.listener_addrs().skip(1) {
                say!("Kafka listener {name}: {addr}");
            }
            say!("text listener: {}", handle.text_addr());
        }
        if let Some(addr) = handle.http_addr() {
            say!("HTTP listener: http://{addr}/");
        }
        say!("data dir: {}", config.data_dir.display());
        if config.cluster.is_controller_only() && !args.topics.is_empty() {
            handle.shutdown().await.context("shutting down")?;
            bail!("--topic on a controller-only node: create topics through a broker");
        }
        if let Err(e) = create_topics(&handle, &args.topics).await {
            handle.shutdown().await.context("shutting down")?;
            return Err(e);
        }
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        info!("shutting down");
        handle.shutdown().await.context("shutting down")?;
        Ok(())
    })
}

/// Lifts the soft open-file limit to the hard one; fails if even that is too low to run.
fn raise_open_file_limit() -> Result<()> {
    use rafka::log::open_files;
    let limit = open_files::raise_limit();
    let show = |l: Option<u64>| l.map_or("unlimited".to_string(), |n| n.to_string());
    if let Some(soft) = limit.soft.filter(|&s| s < open_files::MIN_OPEN_FILES) {
        bail!(
            "the open file limit is {soft} (hard limit {}), and Rafka needs at least {}: \
             raise it (`ulimit -n`, or LimitNOFILE= in a systemd unit)",
            show(limit.hard),
            open_files::MIN_OPEN_FILES
        );
    }
    debug!(
        soft = %show(limit.soft),
        hard = %show(limit.hard),
        "open file limit"
    );
    Ok(())
}

/// `serve --topic NAME[:PARTITIONS]`: creates each topic that is missing (partitions
/// default to num.partitions), and says so for each; one that exists is left as it is.
async fn create_topics(
    handle: &rafka::BrokerHandle,
    topics: &[rafka::config::TopicSpec],
) -> Result<()> {
    for spec in topics {
        let created = handle
            .broker()
            .create_topic_anywhere(&spec.name, spec.partitions.unwrap_or(-1))
            .await;
        match created {
            Ok(_) => say!("Topic Created: {}", spec.name),
            Err(BrokerError::TopicExists(_)) => {
                let have = handle
                    .broker()
                    .topic(&spec.name)
                    .map_or(0, |t| t.partitions.len());
                match spec.partitions {
                    Some(asked) if asked as usize != have => say!(
                        "Topic Exists: {} (with {have} partitions; --topic asked for {asked})",
                        spec.name
                    ),
                    _ => say!("Topic Exists: {}", spec.name),
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating topic '{}'", spec.name));
            }
        }
    }
    Ok(())
}

/// Splits `<log dir>/<topic>-<partition>` into the log dir and the partition.
fn split_partition_dir(dir: &Path) -> Result<(PathBuf, TopicPartition)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no directory name", dir.display()))?;
    let Some(tp) = TopicPartition::from_dir_name(name) else {
        bail!("{name} is not a partition directory name (<topic>-<partition>)");
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((parent.to_path_buf(), tp))
}

fn log_write(dir: &Path, per_batch: usize) -> Result<()> {
    let (log_dir, tp) = split_partition_dir(dir)?;
    let logs = LogManager::open(&log_dir, rafka::log::LogConfig::default(), 1)?;
    let log = logs.get_or_create(&tp, Some(uuid::Uuid::new_v4()), logs.default_config())?;
    let mut pending = Vec::with_capacity(per_batch);
    let mut total = 0u64;
    let flush = |pending: &mut Vec<NewRecord>| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut bytes = records::encode_batch(pending, 0);
        let info = log.append(&mut bytes, 0)?;
        log.flush_to(info.last_offset + 1)?;
        pending.clear();
        Ok(())
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let (key, value) = match line.split_once('\t') {
            Some((k, v)) => (Some(k.to_string()), v.to_string()),
            None => (None, line),
        };
        pending.push(NewRecord::new(key, value).at(rafka::log::now_ms()));
        total += 1;
        if pending.len() == per_batch {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    let leo = log.log_end_offset();
    logs.shutdown()?;
    println!("appended {total} records to {tp}; log end offset {leo}");
    Ok(())
}

fn log_write_quorum(data_dir: &Path) -> Result<()> {
    if data_dir.join("__cluster_metadata-0").exists() {
        bail!("{} already holds __cluster_metadata-0", data_dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = runtime.block_on(rafka::controller::sample::write_sample_log(data_dir))?;
    if out.digest != out.expected_digest {
        bail!(
            "the quorum's image (digest {:08x}) differs from the sample's ({:08x})",
            out.digest,
            out.expected_digest
        );
    }
    println!(
        "wrote {} metadata records through a one-voter quorum to {}; snapshots: {}; image digest {:08x}",
        out.records,
        out.dir.display(),
        out.checkpoints
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(", "),
        out.digest
    );
    Ok(())
}

fn log_write_metadata(dir: &Path, leader_epoch: i32) -> Result<()> {
    use rafka::metadata::{image::MetadataImage, metadata_log, sample};
    let (log_dir, tp) = split_partition_dir(dir)?;
    let logs = LogManager::open(&log_dir, rafka::log::LogConfig::default(), 1)?;
    let log = logs.get_or_create(&tp, Some(uuid::Uuid::new_v4()), logs.default_config())?;
    if log.log_end_offset() != 0 {
        bail!("{} already holds records", dir.display());
    }
    let batches = sample::sample_cluster_batches();
    let now = rafka::log::now_ms();
    for batch in &batches {
        metadata_log::append_batch(&log, batch, leader_epoch, now)?;
    }
    let read = metadata_log::read_all(&log)?;
    let leo = log.log_end_offset();
    logs.shutdown()?;
    let written = MetadataImage::from_records(&sample::sample_cluster_records());
    let records: Vec<_> = read.into_iter().map(|r| r.record).collect();
    let image = MetadataImage::from_records(&records);
    if image != written {
        bail!(
            "the image read back (digest {:08x}) differs from the one written ({:08x})",
            image.digest(),
            written.digest()
        );
    }
    println!(
        "wrote {} metadata records in {} batches to {tp} (leader epoch {leader_epoch}); log end offset {leo}",
        records.len(),
        batches.len()
    );
    println!(
        "read back: {} brokers ({} fenced), {} topics, {} partitions; image digest {:08x}",
        image.brokers.len(),
        image.brokers.values().filter(|b| b.fenced).count(),
        image.topics().count(),
        image.topics().map(|t| t.partitions.len()).sum::<usize>(),
        image.digest()
    );
    Ok(())
}

fn log_dump_metadata(dir: &Path) -> Result<()> {
    use rafka::metadata::{image::MetadataImage, metadata_log};
    let (log_dir, tp) = split_partition_dir(dir)?;
    if !std::fs::metadata(dir)
        .with_context(|| format!("cannot open {}", dir.display()))?
        .is_dir()
    {
        bail!("{} is not a directory", dir.display());
    }
    // opening a partition may recover and truncate its tail: never under a running broker
    rafka::log::manager::ensure_not_in_use(&log_dir)?;
    let opts = rafka::log::manager::load_options(&log_dir, &tp);
    let (log, _) = rafka::log::PartitionLog::open(
        dir.to_path_buf(),
        tp,
        rafka::log::LogConfig::default(),
        None,
        opts,
    )?;
    let read = metadata_log::read_all(&log)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut image = MetadataImage::new();
    let mut skipped = 0;
    for r in &read {
        let (offset, version, r) = (r.offset, r.version, &r.record);
        writeln!(out, "{offset}\t{} v{version}\t{r:?}", r.name())?;
        if image.apply(r) == rafka::metadata::image::Applied::Skipped {
            skipped += 1;
        }
    }
    writeln!(
        out,
        "image: {} records ({skipped} skipped), {} features, {} brokers ({} fenced), {} topics, {} partitions, {} config resources; digest {:08x}",
        read.len(),
        image.features.len(),
        image.brokers.len(),
        image.brokers.values().filter(|b| b.fenced).count(),
        image.topics().count(),
        image.topics().map(|t| t.partitions.len()).sum::<usize>(),
        image.configs.len(),
        image.digest()
    )?;
    out.flush()?;
    Ok(())
}

fn log_dump(dir: &Path) -> Result<()> {
    let (log_dir, tp) = split_partition_dir(dir)?;
    // opening would create it: a typo must not look like an empty partition
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", dir.display())),
    }
    // opening a partition may recover and truncate its tail: never under a running broker
    rafka::log::manager::ensure_not_in_use(&log_dir)?;
    // loaded as the broker would: no recovery after a clean shutdown
    let opts = rafka::log::manager::load_options(&log_dir, &tp);
    let (log, report) = rafka::log::PartitionLog::open(
        dir.to_path_buf(),
        tp,
        rafka::log::LogConfig::default(),
        None,
        opts,
    )?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut offset = log.log_start_offset();
    let mut count = 0u64;
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, true, log.log_end_offset())?;
        if data.records.is_empty() {
            break;
        }
        for (at, h) in batch::BatchIter::new(&data.records) {
            let size = h.size().unwrap_or(0);
            for r in records::decode_batch(&data.records[at..at + size])? {
                if r.offset < offset {
                    continue;
                }
                let key = r
                    .key
                    .as_deref()
                    .map_or("null".into(), String::from_utf8_lossy);
                let value = r
                    .value
                    .as_deref()
                    .map_or("null".into(), String::from_utf8_lossy);
                writeln!(out, "{}\t{key}\t{value}", r.offset)?;
                count += 1;
            }
            offset = offset.max(h.next_offset());
        }
    }
    out.flush()?;
    eprintln!(
        "{count} records, log start offset {}, log end offset {}, segments {}, recovered {}, truncated {} bytes",
        log.log_start_offset(),
        log.log_end_offset(),
        report.segments,
        report.recovered_segments,
        report.truncated_bytes
    );
    Ok(())
}
