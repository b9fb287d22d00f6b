//! `rafka produce`: one record per input line (stdin or `--file`), optionally split into
//! key and value at the first `--key-separator`, with fixed headers, to a chosen or a
//! key-hashed partition. Waits for every delivery report; any failed record fails the
//! command.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{partitions_of, records, CliContext, CliError, ClientArgs};

pub const EXAMPLES: &str = "\
Examples:
  # two keyed records; prints \"2 records produced\" on stderr
  printf 'k1:hello\\nk2:world\\n' | rafka produce -t demo -K:
  # a file, to partition 2, with a header on every record, lz4-compressed
  rafka produce -t demo --file events.txt -p 2 -H source=batch -z lz4
  # another broker, and a librdkafka property passed through
  rafka produce -b 10.0.0.5:9092 -t demo -X linger.ms=50 < lines.txt";

/// Flags of `rafka produce`.
#[derive(Clone, Debug, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The topic to write to.
    #[arg(short, long)]
    pub topic: String,
    /// Read records from this file instead of stdin (shows a progress bar when stderr is
    /// a terminal).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Split each line into key and value at the first SEP; a line without SEP is a
    /// value with no key. Without this flag every line is a value with no key.
    #[arg(short = 'K', long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Write every record to this partition. Default: keyed records go to
    /// murmur2(key) % partitions, as with the Java client; records without a key are
    /// spread over the partitions.
    #[arg(short, long)]
    pub partition: Option<i32>,
    /// Acknowledgements to wait for: all (-1), 1 (leader) or 0 (none).
    #[arg(long, default_value = "all", allow_negative_numbers = true,
          value_parser = ["all", "-1", "0", "1"])]
    pub acks: String,
    /// Compression of the record batches (gzip and zstd are left out of this build's
    /// librdkafka).
    #[arg(short = 'z', long, default_value = "none", value_parser = ["none", "snappy", "lz4"])]
    pub compression: String,
    /// A header added to every record, as key=value; repeatable.
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    pub headers: Vec<(String, String)>,
}

/// Counts delivery reports; keeps the first failure.
#[derive(Default)]
struct DeliveryContext {
    cli: CliContext,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.cli.log(level, facility, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.cli.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_failure
                    .lock()
                    .get_or_insert_with(|| super::kafka_reason(err));
            }
        }
    }
}

/// How often the send loop serves delivery reports.
const POLL_EVERY: u64 = 1_000;

pub fn run(args: ProduceArgs) -> Result<(), CliError> {
    let timeout_ms = args.client.timeout.as_millis().to_string();
    let config = args.client.client_config(&[
        ("acks", args.acks.clone()),
        ("compression.type", args.compression.clone()),
        // the Java client's default for keyed records, and the text protocol's
        ("partitioner", "murmur2_random".to_string()),
        ("message.timeout.ms", timeout_ms),
        ("linger.ms", "5".to_string()),
    ]);
    // how long librdkafka may keep a record before failing it (after -X)
    let message_timeout = config
        .get("message.timeout.ms")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(Duration::from_secs(86_400), Duration::from_millis);
    let producer: BaseProducer<DeliveryContext> = config
        .create_with_context(DeliveryContext::default())
        .map_err(|e| CliError::kafka("creating the producer", &e))?;

    // Fail fast, before reading any input: unreachable broker, unknown topic or
    // partition. (A producer's metadata request lets the broker auto-create the topic
    // if it is configured to.)
    let metadata = args.client.metadata(producer.client(), Some(&args.topic))?;
    partitions_of(&metadata, &args.topic, args.partition)?;

    let (input, size): (Box<dyn Read>, Option<u64>) = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(CliError::io(format!("opening {}", path.display())))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
        None => (Box::new(std::io::stdin().lock()), None),
    };
    let bar = args
        .file
        .as_ref()
        .and_then(|_| super::progress_bar(size, super::Unit::Bytes));
    let mut headers = OwnedHeaders::new_with_capacity(args.headers.len());
    for (k, v) in &args.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }

    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut sent = 0u64;
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(CliError::io("reading the input"))?;
        if n == 0 {
            break;
        }
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
        let mut record_bytes: &[u8] = &line;
        record_bytes = record_bytes.strip_suffix(b"\n").unwrap_or(record_bytes);
        record_bytes = record_bytes.strip_suffix(b"\r").unwrap_or(record_bytes);
        let (key, value) = split_key(record_bytes, separator);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&args.topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        if !args.headers.is_empty() {
            record = record.headers(headers.clone());
        }
        send(&producer, record, message_timeout)?;
        sent += 1;
        if sent.is_multiple_of(POLL_EVERY) {
            producer.poll(Duration::ZERO);
        }
    }
    // every record either delivered or failed by message.timeout.ms; a little more for
    // the last reports to come in
    let flushed = producer.flush(message_timeout + args.client.timeout);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let context = producer.context();
    let delivered = context.delivered.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let reason = context.first_failure.lock().clone().unwrap_or_default();
        return Err(CliError::Kafka {
            context: format!("{} of {sent} not delivered", records(failed)),
            reason,
        });
    }
    if let Err(e) = flushed {
        return Err(CliError::Kafka {
            context: format!(
                "{} of {sent} not acknowledged in time",
                records(sent - delivered)
            ),
            reason: super::kafka_reason(&e),
        });
    }
    eprintln!("{} produced", records(delivered));
    Ok(())
}

/// Hands one record to librdkafka, waiting (bounded) while its queue is full.
fn send(
    producer: &BaseProducer<DeliveryContext>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    message_timeout: Duration,
) -> Result<(), CliError> {
    let deadline = Instant::now() + message_timeout;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                if Instant::now() < deadline =>
            {
                record = r;
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(CliError::kafka("producing", &e)),
        }
    }
}

/// Splits a line at the first `separator`: `(Some(key), value)`, or `(None, line)` when
/// there is no separator (or none in the line).
fn split_key<'a>(line: &'a [u8], separator: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(sep) = separator.filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line.windows(sep.len()).position(|w| w == sep) {
        Some(at) => (Some(&line[..at]), &line[at + sep.len()..]),
        None => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::split_key;

    #[test]
    fn key_split_at_the_first_separator() {
        let sep = Some(&b"::"[..]);
        assert_eq!(split_key(b"k::v::w", sep), (Some(&b"k"[..]), &b"v::w"[..]));
        assert_eq!(split_key(b"::v", sep), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split_key(b"k::", sep), (Some(&b"k"[..]), &b""[..]));
        assert_eq!(
            split_key(b"no separator", sep),
            (None, &b"no separator"[..])
        );
        assert_eq!(split_key(b"k:v", None), (None, &b"k:v"[..]));
        assert_eq!(split_key(b"k:v", Some(&b""[..])), (None, &b"k:v"[..]));
    }
}
