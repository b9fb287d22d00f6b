//! `rafka topics list | create | describe | delete`: topic administration with
//! librdkafka's admin client (CreateTopics, DeleteTopics, DescribeConfigs), Metadata and
//! ListOffsets (for each partition's log start offset and high watermark).

use std::collections::BTreeMap;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewTopic, OwnedResourceSpecifier, ResourceSpecifier,
    TopicReplication, TopicResult,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use super::{CliContext, CliError, ClientArgs};

pub const EXAMPLES: &str = "\
Examples:
  rafka topics list
  rafka topics list --exclude-internal           # without __consumer_offsets
  rafka topics create orders --partitions 3 --config retention.ms=86400000
  rafka topics create orders --if-not-exists     # exit 0 when it is already there
  rafka topics describe orders                   # partitions, leader, offsets, configs
  rafka topics delete orders";

/// `rafka topics` subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// Print the name of every topic, one per line, sorted; internal topics
    /// (`__consumer_offsets`, created when a consumer first looks up its group
    /// coordinator) included, as kafka-topics.sh --list does.
    #[command(after_help = EXAMPLES)]
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Leave out Kafka's internal topics (__consumer_offsets, __transaction_state).
        #[arg(long)]
        exclude_internal: bool,
    },
    /// Create topics; prints "Topic Created: NAME" for each.
    #[command(after_help = EXAMPLES)]
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Topic names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Partitions per topic (default: the broker's num.partitions).
        #[arg(long, default_value_t = -1, hide_default_value = true)]
        partitions: i32,
        /// Replication factor (default: the broker's).
        #[arg(long, default_value_t = -1, hide_default_value = true)]
        replication_factor: i32,
        /// A topic config, as key=value (retention.ms=3600000); repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
        configs: Vec<(String, String)>,
        /// A topic that already exists is not an error: prints "Topic Exists: NAME".
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Show topics (all when no name is given): partition count, non-default configs,
    /// and per partition the leader, replicas, in-sync replicas, log start offset and
    /// high watermark.
    #[command(after_help = EXAMPLES)]
    Describe {
        #[command(flatten)]
        client: ClientArgs,
        /// Topic names (default: every topic).
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Delete topics and their data; prints "Topic Deleted: NAME" for each.
    #[command(after_help = EXAMPLES)]
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Topic names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// A topic that does not exist is not an error (and prints nothing).
        #[arg(long)]
        if_exists: bool,
    },
}

struct Admin {
    client: AdminClient<CliContext>,
    options: AdminOptions,
    runtime: tokio::runtime::Runtime,
}

impl Admin {
    fn connect(args: &ClientArgs) -> Result<Admin, CliError> {
        let client: AdminClient<CliContext> = args
            .client_config(&[])
            .create_with_context(CliContext)
            .map_err(|e| CliError::kafka("creating the admin client", &e))?;
        let options = AdminOptions::new()
            .request_timeout(Some(args.timeout))
            .operation_timeout(Some(args.timeout));
        // the admin client's own thread completes the futures; this only waits on them
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(CliError::io("starting the async runtime"))?;
        Ok(Admin {
            client,
            options,
            runtime,
        })
    }

    /// Metadata for every topic (never auto-creates one).
    fn metadata(&self, args: &ClientArgs) -> Result<Metadata, CliError> {
        args.metadata(self.client.inner(), None)
    }
}

pub fn run(command: TopicsCommand) -> Result<(), CliError> {
    match command {
        TopicsCommand::List {
            client,
            exclude_internal,
        } => list(&client, exclude_internal),
        TopicsCommand::Create {
            client,
            names,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => create(
            &client,
            &names,
            partitions,
            replication_factor,
            &configs,
            if_not_exists,
        ),
        TopicsCommand::Describe { client, names } => describe(&client, &names),
        TopicsCommand::Delete {
            client,
            names,
            if_exists,
        } => delete(&client, &names, if_exists),
    }
}

/// Kafka's internal topics (its `Topic.isInternal`); Metadata flags them, but librdkafka's
/// metadata does not pass the flag on.
pub(super) const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

fn list(args: &ClientArgs, exclude_internal: bool) -> Result<(), CliError> {
    let admin = Admin::connect(args)?;
    let metadata = admin.metadata(args)?;
    let mut names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|name| !(exclude_internal && INTERNAL_TOPICS.contains(name)))
        .collect();
    names.sort_unstable();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

fn create(
    args: &ClientArgs,
    names: &[String],
    partitions: i32,
    replication_factor: i32,
    configs: &[(String, String)],
    if_not_exists: bool,
) -> Result<(), CliError> {
    let admin = Admin::connect(args)?;
    admin.metadata(args)?; // an unreachable broker fails here, with the reason
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            configs.iter().fold(
                NewTopic::new(
                    name,
                    partitions,
                    TopicReplication::Fixed(replication_factor),
                ),
                |topic, (k, v)| topic.set(k, v),
            )
        })
        .collect();
    let results = admin
        .runtime
        .block_on(admin.client.create_topics(&topics, &admin.options))
        .map_err(|e| CliError::kafka("creating topics", &e))?;
    report(results, "creating topic", |outcome| match outcome {
        Ok(name) => Some(format!("Topic Created: {name}")),
        Err((name, RDKafkaErrorCode::TopicAlreadyExists)) if if_not_exists => {
            Some(format!("Topic Exists: {name}"))
        }
        Err(_) => None,
    })
}

fn delete(args: &ClientArgs, names: &[String], if_exists: bool) -> Result<(), CliError> {
    let admin = Admin::connect(args)?;
    admin.metadata(args)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin
        .runtime
        .block_on(admin.client.delete_topics(&names, &admin.options))
        .map_err(|e| CliError::kafka("deleting topics", &e))?;
    report(results, "deleting topic", |outcome| match outcome {
        Ok(name) => Some(format!("Topic Deleted: {name}")),
        Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) if if_exists => Some(String::new()),
        Err(_) => None,
    })
}

/// Prints the line `accept` gives for each result it accepts (an empty one: nothing) and
/// returns the first result it does not accept as the error.
fn report(
    results: Vec<TopicResult>,
    what: &str,
    accept: impl Fn(&TopicResult) -> Option<String>,
) -> Result<(), CliError> {
    let mut first_error = None;
    for outcome in &results {
        match (accept(outcome), outcome) {
            (Some(line), _) => {
                if !line.is_empty() {
                    println!("{line}");
                }
            }
            (None, Ok(_)) => {}
            (None, Err((name, code))) => {
                let err = match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition => {
                        CliError::UnknownTopic(name.clone())
                    }
                    RDKafkaErrorCode::TopicAlreadyExists => CliError::Kafka {
                        context: format!("{what} '{name}'"),
                        reason: "it already exists (--if-not-exists makes that not an error)"
                            .into(),
                    },
                    _ => CliError::Kafka {
                        context: format!("{what} '{name}'"),
                        reason: super::code_reason(*code),
                    },
                };
                first_error.get_or_insert(err);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn describe(args: &ClientArgs, names: &[String]) -> Result<(), CliError> {
    let admin = Admin::connect(args)?;
    let metadata = admin.metadata(args)?;
    let by_name: BTreeMap<&str, _> = metadata.topics().iter().map(|t| (t.name(), t)).collect();
    let wanted: Vec<&str> = if names.is_empty() {
        by_name.keys().copied().collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    if let Some(missing) = wanted.iter().find(|n| !by_name.contains_key(*n)) {
        return Err(CliError::UnknownTopic(missing.to_string()));
    }
    let overrides = topic_overrides(&admin, &wanted)?;
    let mut out = String::new();
    for name in &wanted {
        let topic = by_name[name];
        let mut partitions: Vec<_> = topic.partitions().iter().collect();
        partitions.sort_by_key(|p| p.id());
        let replication = partitions.first().map_or(0, |p| p.replicas().len());
        let configs = overrides.get(*name).map_or(String::new(), |c| c.join(","));
        out.push_str(&format!(
            "Topic: {name}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {configs}\n",
            partitions.len()
        ));
        for p in partitions {
            let (low, high) = admin
                .client
                .inner()
                .fetch_watermarks(name, p.id(), args.timeout)
                .map_err(|e| {
                    CliError::kafka(format!("reading the offsets of {name}-{}", p.id()), &e)
                })?;
            out.push_str(&format!(
                "\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {low}\tHighWatermark: {high}\n",
                p.id(),
                p.leader(),
                join_ids(p.replicas()),
                join_ids(p.isr()),
            ));
        }
    }
    print!("{out}");
    Ok(())
}

/// Each topic's configs set on the topic itself (not defaults), as sorted `key=value`.
fn topic_overrides(
    admin: &Admin,
    names: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, CliError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let resources: Vec<ResourceSpecifier<'_>> =
        names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let results = admin
        .runtime
        .block_on(admin.client.describe_configs(&resources, &admin.options))
        .map_err(|e| CliError::kafka("describing topic configs", &e))?;
    let mut overrides = BTreeMap::new();
    for (asked, result) in names.iter().zip(results) {
        let resource = result.map_err(|code| CliError::Kafka {
            context: format!("describing the configs of '{asked}'"),
            reason: super::code_reason(code),
        })?;
        let OwnedResourceSpecifier::Topic(name) = &resource.specifier else {
            continue;
        };
        let mut set: Vec<String> = resource
            .entries
            .iter()
            .filter(|e| e.source == ConfigSource::DynamicTopic)
            .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
            .collect();
        set.sort_unstable();
        overrides.insert(name.clone(), set);
    }
    Ok(overrides)
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
