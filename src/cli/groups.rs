//! `rafka groups list | describe`: consumer groups as Kafka's `kafka-consumer-groups.sh`
//! shows them, through librdkafka: ListGroups + DescribeGroups (`fetch_group_list`) for
//! the state and members, OffsetFetch (`committed_offsets`, from a consumer that has the
//! group's id but never subscribes, so it never joins the group) for the committed
//! offsets, and ListOffsets (`fetch_watermarks`) for the log end offsets.
//!
//! Which partitions a group has offsets for: librdkafka cannot ask a broker for "every
//! offset of this group" (OffsetFetch with no topics), so `describe` asks for the
//! partitions in the members' assignments plus every partition of the topics given with
//! `--topic`, or of every topic but the internal ones when none is given, in one
//! OffsetFetch, and shows those that have a committed offset or an owner.

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};

use rafka::group::consumer_protocol::decode_assignment;

use super::{CliContext, CliError, ClientArgs};

pub const EXAMPLES: &str = "\
Examples:
  rafka groups list                                # every group: state, protocol type
  rafka groups describe orders-app                 # offsets, log end offsets, lag, members
  rafka groups describe orders-app --topic orders  # only the offsets of topic orders
  rafka groups describe --all-groups";

/// `rafka groups` subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// Print every group with its state and protocol type ("consumer" for consumer
    /// groups, empty for a group that only commits offsets), sorted by name.
    #[command(after_help = EXAMPLES)]
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show groups as `kafka-consumer-groups.sh --describe` does: a line with the group's
    /// state, protocol and member count, then one row per partition (committed offset,
    /// log end offset, lag and the member it is assigned to) and one per member with no
    /// partition. A group that does not exist is exit status 3.
    #[command(after_help = EXAMPLES)]
    Describe {
        #[command(flatten)]
        client: ClientArgs,
        /// Group ids.
        #[arg(value_name = "GROUP", required_unless_present = "all_groups")]
        groups: Vec<String>,
        /// Describe every group the brokers know.
        #[arg(long, conflicts_with = "groups")]
        all_groups: bool,
        /// Look for committed offsets in these topics only (default: every topic but the
        /// internal ones; partitions assigned to a member are always shown); repeatable.
        #[arg(long = "topic", short = 't', value_name = "TOPIC")]
        topics: Vec<String>,
    },
}

pub fn run(command: GroupsCommand) -> Result<(), CliError> {
    match command {
        GroupsCommand::List { client } => list(&client),
        GroupsCommand::Describe {
            client,
            groups,
            all_groups,
            topics,
        } => describe(&client, &groups, all_groups, &topics),
    }
}

/// A consumer used as a plain client: metadata, group list, watermarks. `group`: the
/// group id whose committed offsets it reads; it never subscribes, so it never joins.
fn client(args: &ClientArgs, group: &str) -> Result<BaseConsumer<CliContext>, CliError> {
    args.client_config(&[
        ("group.id", group.to_string()),
        ("enable.auto.commit", "false".to_string()),
        ("enable.auto.offset.store", "false".to_string()),
        // log end offsets are high watermarks, as kafka-consumer-groups reads them
        // (librdkafka's ListOffsets follows the consumer's isolation level, by default
        // read_committed: the last stable offset)
        ("isolation.level", "read_uncommitted".to_string()),
    ])
    .create_with_context(CliContext)
    .map_err(|e| CliError::kafka("creating the client", &e))
}

/// Every group, or the one asked for, from the brokers.
fn fetch_groups(
    args: &ClientArgs,
    consumer: &BaseConsumer<CliContext>,
    group: Option<&str>,
) -> Result<rdkafka::groups::GroupList, CliError> {
    consumer
        .fetch_group_list(group, args.timeout)
        .map_err(|e| CliError::kafka("listing groups", &e))
}

fn list(args: &ClientArgs) -> Result<(), CliError> {
    let consumer = client(args, "rafka-cli")?;
    args.metadata(consumer.client(), None)?; // an unreachable broker fails here
    let groups = fetch_groups(args, &consumer, None)?;
    let mut rows: Vec<Vec<String>> = groups
        .groups()
        .iter()
        .map(|g| {
            vec![
                g.name().to_string(),
                g.state().to_string(),
                g.protocol_type().to_string(),
            ]
        })
        .collect();
    rows.sort();
    print!(
        "{}",
        table(&["GROUP", "STATE", "PROTOCOL-TYPE"], &rows, false)
    );
    Ok(())
}

/// One row of the describe table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    member_id: String,
    host: String,
    client_id: String,
}

fn describe(
    args: &ClientArgs,
    groups: &[String],
    all_groups: bool,
    topics: &[String],
) -> Result<(), CliError> {
    let lister = client(args, "rafka-cli")?;
    let metadata = args.metadata(lister.client(), None)?;
    for topic in topics {
        super::partitions_of(&metadata, topic, None)?;
    }
    let names: Vec<String> = if all_groups {
        let mut all: Vec<String> = fetch_groups(args, &lister, None)?
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .collect();
        all.sort();
        all
    } else {
        groups.to_vec()
    };
    // the topics whose partitions may hold offsets: those asked for, else every topic
    // but Kafka's own
    let searched: Vec<String> = if topics.is_empty() {
        metadata
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|n| !super::topics::INTERNAL_TOPICS.contains(&n.as_str()))
            .collect()
    } else {
        topics.to_vec()
    };
    let mut out = String::new();
    let mut first_missing = None;
    for name in &names {
        let list = fetch_groups(args, &lister, Some(name))?;
        let Some(info) = list.groups().iter().find(|g| g.name() == name) else {
            first_missing.get_or_insert_with(|| name.clone());
            continue;
        };
        // Kafka's ConsumerGroupCommand: a Dead group (DescribeGroups' answer for an
        // unknown one) does not exist
        if info.state() == "Dead" {
            first_missing.get_or_insert_with(|| name.clone());
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&describe_one(args, &lister, &metadata, info, &searched)?);
    }
    print!("{out}");
    match first_missing {
        Some(name) => Err(CliError::UnknownGroup(name)),
        None => Ok(()),
    }
}

/// The header line and the table of one group. `reader`: a client for the log end
/// offsets.
fn describe_one(
    args: &ClientArgs,
    reader: &BaseConsumer<CliContext>,
    metadata: &rdkafka::metadata::Metadata,
    info: &GroupInfo,
    searched: &[String],
) -> Result<String, CliError> {
    let name = info.name();
    // who owns which partition, from the assignments (only a Stable group has them)
    let mut owners: BTreeMap<(String, i32), Owner> = BTreeMap::new();
    let mut idle: Vec<Owner> = Vec::new();
    for m in info.members() {
        let owner = Owner {
            member_id: m.id().to_string(),
            host: m.client_host().to_string(),
            client_id: m.client_id().to_string(),
        };
        let assigned = match (info.protocol_type(), m.assignment()) {
            ("consumer", Some(bytes)) if !bytes.is_empty() => {
                decode_assignment(bytes).map_err(|why| CliError::Kafka {
                    context: format!("group '{name}', member {}", m.id()),
                    reason: format!("cannot decode its assignment: {why}"),
                })?
            }
            _ => Vec::new(),
        };
        if assigned.is_empty() {
            idle.push(owner);
            continue;
        }
        for (topic, partitions) in assigned {
            for p in partitions {
                owners.insert((topic.clone(), p), owner.clone());
            }
        }
    }
    // the committed offsets of every partition that may hold one, in one OffsetFetch
    let mut wanted: BTreeSet<(String, i32)> = owners.keys().cloned().collect();
    for topic in searched {
        if let Ok(partitions) = super::partitions_of(metadata, topic, None) {
            wanted.extend(partitions.into_iter().map(|p| (topic.clone(), p)));
        }
    }
    let committed = committed_offsets(args, name, &wanted)?;
    let shown: BTreeSet<(String, i32)> = owners
        .keys()
        .cloned()
        .chain(committed.keys().cloned())
        .collect();
    let mut rows = Vec::new();
    for (topic, partition) in &shown {
        let (_, end) = reader
            .fetch_watermarks(topic, *partition, args.timeout)
            .map_err(|e| {
                CliError::kafka(format!("reading the offsets of {topic}-{partition}"), &e)
            })?;
        let current = committed.get(&(topic.clone(), *partition)).copied();
        let owner = owners.get(&(topic.clone(), *partition));
        rows.push(vec![
            name.to_string(),
            topic.clone(),
            partition.to_string(),
            current.map_or("-".into(), |c| c.to_string()),
            end.to_string(),
            current.map_or("-".into(), |c| lag(c, end).to_string()),
            owner.map_or("-".into(), |o| o.member_id.clone()),
            owner.map_or("-".into(), |o| o.host.clone()),
            owner.map_or("-".into(), |o| o.client_id.clone()),
        ]);
    }
    for o in &idle {
        rows.push(vec![
            name.to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            o.member_id.clone(),
            o.host.clone(),
            o.client_id.clone(),
        ]);
    }
    let mut text = format!(
        "Group: {name}\tState: {}\tProtocolType: {}\tProtocol: {}\tMembers: {}\n",
        info.state(),
        info.protocol_type(),
        info.protocol(),
        info.members().len()
    );
    if info.members().is_empty() {
        // as Kafka's tool says it; the offsets follow
        text.push_str(&format!("Consumer group '{name}' has no active members.\n"));
    }
    if rows.is_empty() {
        text.push_str(&format!(
            "Consumer group '{name}' has no committed offsets.\n"
        ));
    } else {
        text.push_str(&table(
            &[
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ],
            &rows,
            true,
        ));
    }
    Ok(text)
}

/// How far a group is behind: `log_end_offset - committed`, never negative (a committed
/// offset past the end, after a truncation, is no lag).
fn lag(committed: i64, log_end_offset: i64) -> i64 {
    log_end_offset.saturating_sub(committed).max(0)
}

/// The group's committed offset of each partition in `wanted` that has one. The consumer
/// has the group's id but never subscribes: OffsetFetch needs no membership.
fn committed_offsets(
    args: &ClientArgs,
    group: &str,
    wanted: &BTreeSet<(String, i32)>,
) -> Result<BTreeMap<(String, i32), i64>, CliError> {
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let consumer = client(args, group)?;
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in wanted {
        tpl.add_partition(topic, *partition);
    }
    let answer = consumer
        .committed_offsets(tpl, args.timeout)
        .map_err(|e| CliError::kafka(format!("reading the offsets of group '{group}'"), &e))?;
    let mut committed = BTreeMap::new();
    for e in answer.elements() {
        if let Offset::Offset(offset) = e.offset() {
            committed.insert((e.topic().to_string(), e.partition()), offset);
        }
    }
    Ok(committed)
}

/// Columns padded to their widest cell, two spaces apart, the last one not padded. With
/// `blank_first`, an empty line first, as Kafka's tool prints.
fn table(header: &[&str], rows: &[Vec<String>], blank_first: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = String::new();
    if blank_first {
        out.push('\n');
    }
    out.push_str(&line(&mut header.iter().copied()));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_never_negative() {
        assert_eq!(lag(3, 10), 7);
        assert_eq!(lag(10, 10), 0);
        assert_eq!(lag(12, 10), 0);
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let rows = vec![vec!["a-long-name".to_string(), "x".to_string()]];
        assert_eq!(
            table(&["GROUP", "STATE"], &rows, false),
            "GROUP        STATE\na-long-name  x\n"
        );
    }
}
