//! `rafka consume`: reads one partition or all of a topic from a chosen start (or, with
//! `--group`, as a member of a consumer group) and prints each record as a line of text
//! or JSON, until `--count` records, the end of every partition (`--exit`), an idle
//! `--idle-timeout`, or Ctrl-C.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, Timestamp, TopicPartitionList};

use super::{partitions_of, records, CliContext, CliError, ClientArgs};

pub const EXAMPLES: &str = "\
Examples:
  # everything in partition 0 of demo, with keys, then exit
  rafka consume -t demo -p 0 -e --print-key
  # the last 10 records of every partition, as JSON lines
  rafka consume -t demo -o -10 -e --format json
  # wait for the next 5 records written after now
  rafka consume -t demo -o end -c 5
  # timestamps, partition/offset, headers; into a file
  rafka consume -t demo -e --print-timestamp --print-offset --print-headers --output demo.txt
  # as a member of consumer group g1 (committed offsets; needs a broker with groups)
  rafka consume -t demo -g g1";

/// Where to start reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOffset {
    /// The log start offset (`beginning`, `earliest`).
    Beginning,
    /// The high watermark: only records written from now on (`end`, `latest`).
    End,
    /// An absolute offset (`N`).
    At(i64),
    /// N records before the end (`-N`).
    FromEnd(i64),
}

pub fn parse_offset(s: &str) -> Result<StartOffset, String> {
    match s {
        "beginning" | "earliest" => Ok(StartOffset::Beginning),
        "end" | "latest" => Ok(StartOffset::End),
        _ => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(StartOffset::At(n)),
            Ok(n) if n > i64::MIN => Ok(StartOffset::FromEnd(-n)),
            _ => Err(format!(
                "expected beginning, end, an offset N, or -N (N before the end); got '{s}'"
            )),
        },
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per record: the --print-* columns, then the value, separated by
    /// --separator.
    Text,
    /// One JSON object per line with every field: topic, partition, offset, timestamp,
    /// timestamp_type, key, value, headers. Keys and values that are not UTF-8 come as
    /// key_base64 / value_base64.
    Json,
}

/// Flags of `rafka consume`.
#[derive(Clone, Debug, clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The topic to read.
    #[arg(short, long)]
    pub topic: String,
    /// Read only this partition (default: every partition).
    #[arg(short, long, conflicts_with = "group")]
    pub partition: Option<i32>,
    /// Where to start: beginning, end, an offset N, or -N (N records before the end of
    /// each partition). With --group: where to start when the group has no committed
    /// offset (beginning or end).
    #[arg(short, long, default_value = "beginning", allow_hyphen_values = true,
          value_parser = parse_offset, value_name = "OFFSET")]
    pub offset: StartOffset,
    /// Join this consumer group: partitions are assigned by the group and offsets are
    /// committed.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Stop after this many records.
    #[arg(short, long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop at the end of every partition (exit status 0).
    #[arg(short, long)]
    pub exit: bool,
    /// Stop after this many seconds without a record.
    #[arg(long, value_name = "SECS", value_parser = super::parse_seconds)]
    pub idle_timeout: Option<Duration>,
    /// Text format: print the key before the value ("null" when there is none).
    #[arg(long)]
    pub print_key: bool,
    /// Text format: print the headers, as key=value,key=value (a null value: just key).
    #[arg(long)]
    pub print_headers: bool,
    /// Text format: print the timestamp in milliseconds since the epoch (-1 if none).
    #[arg(long)]
    pub print_timestamp: bool,
    /// Text format: print the partition and the offset.
    #[arg(long)]
    pub print_offset: bool,
    /// Text format: the column separator.
    #[arg(short, long, default_value = "\t", value_name = "SEP")]
    pub separator: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the records to this file instead of stdout (shows a progress bar when
    /// stderr is a terminal).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How long one poll waits, so Ctrl-C and --idle-timeout are noticed quickly.
const POLL: Duration = Duration::from_millis(200);

pub fn run(args: ConsumeArgs) -> Result<(), CliError> {
    let mut extra = vec![(
        "enable.partition.eof",
        if args.exit { "true" } else { "false" }.to_string(),
    )];
    match &args.group {
        Some(group) => {
            let reset = match args.offset {
                StartOffset::Beginning => "earliest",
                StartOffset::End => "latest",
                StartOffset::At(_) | StartOffset::FromEnd(_) => {
                    return Err(CliError::Usage(
                        "with --group, --offset is where to start without a committed offset: \
                         beginning or end"
                            .into(),
                    ))
                }
            };
            extra.push(("group.id", group.clone()));
            extra.push(("auto.offset.reset", reset.to_string()));
            // commit what was printed, not what librdkafka fetched ahead: each record's
            // offset is stored by hand once it is written out
            extra.push(("enable.auto.offset.store", "false".to_string()));
        }
        None => {
            // librdkafka wants a group.id even for assign(); with no commits and no
            // subscribe() it never joins the group
            extra.push(("group.id", "rafka-cli".to_string()));
            extra.push(("enable.auto.commit", "false".to_string()));
        }
    }
    let consumer: BaseConsumer<CliContext> = args
        .client
        .client_config(&extra)
        .create_with_context(CliContext)
        .map_err(|e| CliError::kafka("creating the consumer", &e))?;
    let metadata = args.client.metadata(consumer.client(), Some(&args.topic))?;
    let partitions = partitions_of(&metadata, &args.topic, args.partition)?;
    if args.group.is_some() {
        consumer
            .subscribe(&[&args.topic])
            .map_err(|e| CliError::kafka("subscribing", &e))?;
    } else {
        let offset = match args.offset {
            StartOffset::Beginning => Offset::Beginning,
            StartOffset::End => Offset::End,
            StartOffset::At(n) => Offset::Offset(n),
            StartOffset::FromEnd(n) => Offset::OffsetTail(n),
        };
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            assignment
                .add_partition_offset(&args.topic, *p, offset)
                .map_err(|e| CliError::kafka("assigning partitions", &e))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| CliError::kafka("assigning partitions", &e))?;
    }

    let stop = super::stop_on_signal()?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(CliError::io(format!("creating {}", path.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let bar = args
        .output
        .as_ref()
        .and_then(|_| super::progress_bar(args.count, super::Unit::Records));
    let mut line = String::new();
    let mut at_eof = BTreeSet::new();
    let mut consumed = 0u64;
    let mut last_record = Instant::now();
    let result = loop {
        if stop.load(Ordering::SeqCst) || args.count.is_some_and(|c| consumed >= c) {
            break Ok(());
        }
        if args
            .idle_timeout
            .is_some_and(|idle| last_record.elapsed() >= idle)
        {
            break Ok(());
        }
        match consumer.poll(POLL) {
            None => {
                // idle: let a reader of the pipe see what came so far
                if let Err(e) = out.flush() {
                    break Err(e);
                }
            }
            Some(Ok(m)) => {
                at_eof.remove(&m.partition());
                last_record = Instant::now();
                line.clear();
                match args.format {
                    Format::Text => format_text(&args, &m, &mut line),
                    Format::Json => format_json(&m, &mut line),
                }
                if let Err(e) = out.write_all(line.as_bytes()) {
                    break Err(e);
                }
                consumed += 1;
                if args.group.is_some() {
                    if let Err(e) = consumer.store_offset_from_message(&m) {
                        tracing::warn!(cause = %super::kafka_reason(&e), "could not store the offset");
                    }
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p);
                let assigned = if args.group.is_some() {
                    assigned_partitions(&consumer)
                } else {
                    partitions.clone()
                };
                if args.exit && !assigned.is_empty() && assigned.iter().all(|p| at_eof.contains(p))
                {
                    break Ok(());
                }
            }
            Some(Err(e)) => match e.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownPartition,
                ) => return Err(CliError::UnknownTopic(args.topic.clone())),
                _ if matches!(e, KafkaError::MessageConsumptionFatal(_)) => {
                    return Err(CliError::kafka("consuming", &e))
                }
                // librdkafka retries the rest itself (a broker restart, a slow fetch)
                _ => tracing::warn!(cause = %super::kafka_reason(&e), "consumer error; retrying"),
            },
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let result = result.and_then(|()| out.flush());
    match result {
        // a closed pipe (`rafka consume ... | head -1`) is the reader saying "enough"
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Io {
            context: match &args.output {
                Some(path) => format!("writing {}", path.display()),
                None => "writing to stdout".to_string(),
            },
            source: e,
        }),
        Ok(()) => {
            if let Some(path) = &args.output {
                eprintln!("{} written to {}", records(consumed), path.display());
            }
            Ok(())
        }
    }
}

fn assigned_partitions(consumer: &BaseConsumer<CliContext>) -> Vec<i32> {
    consumer
        .assignment()
        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// `[timestamp SEP] [partition SEP offset SEP] [headers SEP] [key SEP] value \n`
fn format_text(args: &ConsumeArgs, m: &BorrowedMessage<'_>, line: &mut String) {
    let sep = &args.separator;
    if args.print_timestamp {
        let _ = write!(line, "{}{sep}", m.timestamp().to_millis().unwrap_or(-1));
    }
    if args.print_offset {
        let _ = write!(line, "{}{sep}{}{sep}", m.partition(), m.offset());
    }
    if args.print_headers {
        if let Some(headers) = m.headers() {
            for (i, h) in headers.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(h.key);
                if let Some(v) = h.value {
                    line.push('=');
                    line.push_str(&String::from_utf8_lossy(v));
                }
            }
        }
        line.push_str(sep);
    }
    if args.print_key {
        match m.key() {
            Some(k) => line.push_str(&String::from_utf8_lossy(k)),
            None => line.push_str("null"),
        }
        line.push_str(sep);
    }
    match m.payload() {
        Some(v) => line.push_str(&String::from_utf8_lossy(v)),
        None => line.push_str("null"),
    }
    line.push('\n');
}

/// One JSON object and a newline; fields in a fixed order.
fn format_json(m: &BorrowedMessage<'_>, line: &mut String) {
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::CreateTime(t) => (Some(t), "\"CreateTime\""),
        Timestamp::LogAppendTime(t) => (Some(t), "\"LogAppendTime\""),
        Timestamp::NotAvailable => (None, "null"),
    };
    line.push_str("{\"topic\":");
    json_string(line, m.topic());
    let _ = write!(
        line,
        ",\"partition\":{},\"offset\":{},\"timestamp\":{},\"timestamp_type\":{timestamp_type},",
        m.partition(),
        m.offset(),
        timestamp.map_or("null".to_string(), |t| t.to_string()),
    );
    json_bytes(line, "key", m.key());
    line.push(',');
    json_bytes(line, "value", m.payload());
    line.push_str(",\"headers\":[");
    if let Some(headers) = m.headers() {
        for (i, h) in headers.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str("{\"key\":");
            json_string(line, h.key);
            line.push(',');
            json_bytes(line, "value", h.value);
            line.push('}');
        }
    }
    line.push_str("]}\n");
}

fn json_string(line: &mut String, s: &str) {
    // serde_json's escaping of a plain string cannot fail
    line.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// `"name":null`, `"name":"text"` for UTF-8, else `"name_base64":"..."`.
fn json_bytes(line: &mut String, name: &str, bytes: Option<&[u8]>) {
    match bytes.map(std::str::from_utf8) {
        None => {
            let _ = write!(line, "\"{name}\":null");
        }
        Some(Ok(text)) => {
            let _ = write!(line, "\"{name}\":");
            json_string(line, text);
        }
        Some(Err(_)) => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(bytes.unwrap_or_default());
            let _ = write!(line, "\"{name}_base64\":\"{encoded}\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("beginning"), Ok(StartOffset::Beginning));
        assert_eq!(parse_offset("earliest"), Ok(StartOffset::Beginning));
        assert_eq!(parse_offset("end"), Ok(StartOffset::End));
        assert_eq!(parse_offset("latest"), Ok(StartOffset::End));
        assert_eq!(parse_offset("0"), Ok(StartOffset::At(0)));
        assert_eq!(parse_offset("42"), Ok(StartOffset::At(42)));
        assert_eq!(parse_offset("-10"), Ok(StartOffset::FromEnd(10)));
        for bad in [
            "",
            "start",
            "1.5",
            "-9223372036854775808",
            "99999999999999999999",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_bytes_fields() {
        let mut s = String::new();
        json_bytes(&mut s, "key", None);
        s.push(' ');
        json_bytes(&mut s, "value", Some(b"a \"q\"\n\\"));
        s.push(' ');
        json_bytes(&mut s, "value", Some(&[0xff, 0x00]));
        assert_eq!(
            s,
            r#""key":null "value":"a \"q\"\n\\" "value_base64":"/wA=""#
        );
    }
}
