//! The `rafka produce | consume | topics` client subcommands and `rafka serve --topic`,
//! run as the real binary against a broker in this process (or, for `serve`, the binary
//! itself): round trips, output formats, topic admin, and the exit codes scripts rely on
//! (0 ok, 1 error, 2 usage, 3 no such topic or partition).

mod support;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rafka::text::partitioner::partition_for_key;
use support::{start_broker, start_broker_with};

use support::run::{rafka, rafka_blocking, Run, BIN};

/// Like [`rafka`], asserting exit status 0.
async fn ok(args: &[&str], stdin: &[u8]) -> Run {
    let run = rafka(args, stdin).await;
    assert_eq!(run.code, 0, "rafka {args:?} failed: {run:?}");
    run
}

/// Asserts `run` failed with `code` and exactly one line on stderr containing `needle`.
fn assert_fails(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one error line: {run:?}");
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains(needle),
        "stderr should say '{needle}': {run:?}"
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_lines_round_trip() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let produced = ok(
        &["produce", "-b", &b, "-t", "demo", "-K", ":"],
        b"k1:hello\nk2:world: again\nno key here\n\nk3:crlf\r\n",
    )
    .await;
    assert_eq!(produced.stderr, "5 records produced\n");
    assert_eq!(produced.stdout, "");
    let consumed = ok(
        &["consume", "-b", &b, "-t", "demo", "-e", "--print-key"],
        b"",
    )
    .await;
    assert_eq!(
        consumed.stdout,
        "k1\thello\nk2\tworld: again\nnull\tno key here\nnull\t\nk3\tcrlf\n"
    );
    // the same key separator on the way out gives back the input
    let consumed = ok(
        &[
            "consume",
            "-b",
            &b,
            "-t",
            "demo",
            "-e",
            "--print-key",
            "-s",
            ":",
            "-c",
            "2",
        ],
        b"",
    )
    .await;
    assert_eq!(consumed.stdout, "k1:hello\nk2:world: again\n");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_timestamps_and_offsets_are_printed() {
    let (broker, dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, "a\nb\nc\n").expect("input file");
    let before = now_ms();
    let produced = ok(
        &[
            "produce",
            "-b",
            &b,
            "-t",
            "hdr",
            "--file",
            file.to_str().expect("utf-8 path"),
            "-H",
            "trace=abc",
            "-H",
            "n=1=2",
        ],
        b"",
    )
    .await;
    let after = now_ms();
    // not a terminal: a summary line and no progress bar
    assert_eq!(produced.stderr, "3 records produced\n");
    let consumed = ok(
        &[
            "consume",
            "-b",
            &b,
            "-t",
            "hdr",
            "-e",
            "--print-timestamp",
            "--print-offset",
            "--print-headers",
        ],
        b"",
    )
    .await;
    let lines: Vec<Vec<&str>> = consumed
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(lines.len(), 3, "{consumed:?}");
    for (i, (cols, value)) in lines.iter().zip(["a", "b", "c"]).enumerate() {
        let ts: i64 = cols[0].parse().expect("timestamp");
        assert!(
            (before..=after).contains(&ts),
            "CreateTime {ts} set by the producer"
        );
        assert_eq!(cols[1..], ["0", &i.to_string(), "trace=abc,n=1=2", value]);
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_keyed_as_the_java_client_or_chosen() {
    let (broker, _dir) = start_broker().await;
    broker
        .broker()
        .create_topic("parts", 3, 1, Default::default(), false)
        .expect("topic");
    let b = broker.kafka_addr().to_string();
    let input: String = (0..30).map(|i| format!("key-{i}\tvalue-{i}\n")).collect();
    ok(
        &["produce", "-b", &b, "-t", "parts", "-K", "\t"],
        input.as_bytes(),
    )
    .await;
    let consumed = ok(
        &[
            "consume",
            "-b",
            &b,
            "-t",
            "parts",
            "-e",
            "--print-offset",
            "--print-key",
        ],
        b"",
    )
    .await;
    let mut used = [0usize; 3];
    for line in consumed.stdout.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let partition: usize = cols[0].parse().expect("partition");
        // murmur2 over the key bytes, as Kafka's Java client and Rafka's text protocol
        assert_eq!(
            partition,
            partition_for_key(cols[2].as_bytes(), 3),
            "{line}"
        );
        used[partition] += 1;
    }
    assert_eq!(used.iter().sum::<usize>(), 30);
    assert!(used.iter().all(|&n| n > 0), "keys spread: {used:?}");

    ok(
        &["produce", "-b", &b, "-t", "parts", "-p", "2"],
        b"chosen-1\nchosen-2\n",
    )
    .await;
    let p2 = ok(&["consume", "-b", &b, "-t", "parts", "-p", "2", "-e"], b"").await;
    assert!(p2.stdout.ends_with("chosen-1\nchosen-2\n"), "{p2:?}");
    assert_eq!(p2.stdout.lines().count(), used[2] + 2);
    let p0 = ok(&["consume", "-b", &b, "-t", "parts", "-p", "0", "-e"], b"").await;
    assert!(!p0.stdout.contains("chosen"), "{p0:?}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_acks_choices_round_trip() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let input: String = (0..200).map(|i| format!("same text again {i}\n")).collect();
    for (topic, flags) in [
        ("lz4", ["-z", "lz4", "--acks", "all"]),
        ("snappy", ["-z", "snappy", "--acks", "1"]),
        ("plain", ["-z", "none", "--acks", "-1"]),
    ] {
        let mut args = vec!["produce", "-b", &b, "-t", topic];
        args.extend(flags);
        assert_eq!(
            ok(&args, input.as_bytes()).await.stderr,
            "200 records produced\n"
        );
        let back = ok(&["consume", "-b", &b, "-t", topic, "-e"], b"").await;
        assert_eq!(back.stdout, input, "{topic}");
    }
    // compressed batches are smaller than plain ones (200 similar lines, linger.ms=5);
    // lz4 needs FindCoordinator on the broker, or librdkafka sends it uncompressed
    // (compat-tests/FINDINGS.md)
    let size = |topic: &str| {
        std::fs::read_dir(broker.broker().config().data_dir.join(format!("{topic}-0")))
            .expect("partition dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| e.metadata().expect("metadata").len())
            .sum::<u64>()
    };
    let (snappy, lz4, plain) = (size("snappy"), size("lz4"), size("plain"));
    assert!(snappy < plain / 2, "snappy {snappy} bytes, plain {plain}");
    assert!(lz4 < plain / 2, "lz4 {lz4} bytes, plain {plain}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_carry_every_field() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let mut input = b"k1|{\"a\": \"quoted\\n\"}\n".to_vec();
    input.extend_from_slice(b"k2|\xff\xfe not utf-8\n");
    ok(
        &["produce", "-b", &b, "-t", "js", "-K", "|", "-H", "h=v"],
        &input,
    )
    .await;
    let consumed = ok(&["consume", "-b", &b, "-t", "js", "-e", "-f", "json"], b"").await;
    let records: Vec<serde_json::Value> = consumed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(records.len(), 2, "{consumed:?}");
    let first = &records[0];
    assert_eq!(first["topic"], "js");
    assert_eq!(first["partition"], 0);
    assert_eq!(first["offset"], 0);
    assert_eq!(first["timestamp_type"], "CreateTime");
    assert!(first["timestamp"].as_i64().expect("timestamp") > 0);
    assert_eq!(first["key"], "k1");
    assert_eq!(first["value"], "{\"a\": \"quoted\\n\"}");
    assert_eq!(
        first["headers"],
        serde_json::json!([{"key": "h", "value": "v"}])
    );
    let second = &records[1];
    assert_eq!(second["offset"], 1);
    assert!(second.get("value").is_none(), "{second}");
    // base64 of ff fe " not utf-8"
    assert_eq!(second["value_base64"], "//4gbm90IHV0Zi04");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_and_start_offsets() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let input: String = (0..10).map(|i| format!("v{i}\n")).collect();
    ok(&["produce", "-b", &b, "-t", "offs"], input.as_bytes()).await;
    let consume = |extra: &'static [&'static str]| {
        let b = b.clone();
        async move {
            let mut args = vec!["consume", "-b", &b, "-t", "offs"];
            args.extend_from_slice(extra);
            ok(&args, b"").await.stdout
        }
    };
    assert_eq!(consume(&["-o", "5", "-c", "2"]).await, "v5\nv6\n");
    assert_eq!(consume(&["-o", "-3", "-e"]).await, "v7\nv8\nv9\n");
    assert_eq!(consume(&["-c", "1"]).await, "v0\n", "beginning by default");
    assert_eq!(consume(&["-o", "beginning", "-c", "1"]).await, "v0\n");
    assert_eq!(
        consume(&["-o", "end", "-e"]).await,
        "",
        "nothing after the end"
    );
    assert_eq!(consume(&["-o", "8", "-e", "-c", "5"]).await, "v8\nv9\n");

    // from the end: only records written after the consumer started. The consumer may
    // take a moment to find the end, so write markers until it has printed one.
    let b2 = b.clone();
    let waiter = tokio::task::spawn_blocking(move || {
        rafka_blocking(
            &["consume", "-b", &b2, "-t", "offs", "-o", "end", "-c", "1"].map(String::from),
            &[],
            Vec::new(),
        )
    });
    for i in 0..100 {
        if waiter.is_finished() {
            break;
        }
        ok(
            &["produce", "-b", &b, "-t", "offs"],
            format!("late-{i}\n").as_bytes(),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let late = waiter.await.expect("consumer thread");
    assert_eq!(late.code, 0, "{late:?}");
    assert!(
        late.stdout.starts_with("late-") && late.stdout.lines().count() == 1,
        "{late:?}"
    );

    // an idle timeout ends a consumer that would otherwise wait for more
    let idle = ok(
        &[
            "consume",
            "-b",
            &b,
            "-t",
            "offs",
            "-o",
            "end",
            "--idle-timeout",
            "0.5",
        ],
        b"",
    )
    .await;
    assert_eq!(idle.stdout, "");
    assert!(idle.took < Duration::from_secs(10), "{idle:?}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_into_a_file() {
    let (broker, dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let input: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    ok(&["produce", "-b", &b, "-t", "tofile"], input.as_bytes()).await;
    let out = dir.path().join("out.txt");
    let out_arg = out.to_str().expect("utf-8 path");
    let run = ok(
        &[
            "consume", "-b", &b, "-t", "tofile", "-e", "--output", out_arg,
        ],
        b"",
    )
    .await;
    assert_eq!(run.stdout, "");
    // not a terminal: no progress bar, just the summary
    assert_eq!(run.stderr, format!("1000 records written to {out_arg}\n"));
    assert_eq!(std::fs::read_to_string(&out).expect("output"), input);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_bar_only_on_a_terminal() {
    let (broker, dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let file = dir.path().join("in.txt");
    let input: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&file, &input).expect("input");
    let cmd = format!("{BIN} produce -b {b} -t bar --file {}", file.display());
    // script(1) gives the command a pseudo-terminal for stdin, stdout and stderr
    let run = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("script(1) runs")
    })
    .await
    .expect("thread");
    let seen = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{seen}");
    assert!(seen.contains("5000 records produced"), "{seen}");
    assert!(
        seen.contains("KiB"),
        "a progress bar counting bytes: {seen:?}"
    );
    assert!(
        seen.contains("\u{1b}[2K"),
        "the bar cleared at the end: {seen:?}"
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_list_describe_delete() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    let created = ok(
        &[
            "topics",
            "create",
            "-b",
            &b,
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
        ],
        b"",
    )
    .await;
    assert_eq!(created.stdout, "Topic Created: orders\n");
    ok(&["topics", "create", "-b", &b, "audit"], b"").await;
    assert_eq!(
        ok(&["topics", "list", "-b", &b], b"").await.stdout,
        "audit\norders\n"
    );

    ok(&["produce", "-b", &b, "-t", "orders", "-p", "1"], b"x\ny\n").await;
    let described = ok(&["topics", "describe", "-b", &b, "orders"], b"").await;
    assert_eq!(
        described.stdout,
        "Topic: orders\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=3600000\n\
         \tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tHighWatermark: 0\n\
         \tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tHighWatermark: 2\n\
         \tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tHighWatermark: 0\n"
    );
    let all = ok(&["topics", "describe", "-b", &b], b"").await;
    assert!(
        all.stdout.starts_with("Topic: audit\tPartitionCount: 1\t")
            && all.stdout.contains("Topic: orders\t"),
        "{all:?}"
    );

    assert_fails(
        &rafka(&["topics", "create", "-b", &b, "orders"], b"").await,
        1,
        "already exists",
    );
    let again = ok(
        &["topics", "create", "-b", &b, "orders", "--if-not-exists"],
        b"",
    )
    .await;
    assert_eq!(again.stdout, "Topic Exists: orders\n");
    assert_fails(
        &rafka(&["topics", "create", "-b", &b, "bad name"], b"").await,
        1,
        "bad name",
    );

    let deleted = ok(&["topics", "delete", "-b", &b, "orders"], b"").await;
    assert_eq!(deleted.stdout, "Topic Deleted: orders\n");
    assert_eq!(
        ok(&["topics", "list", "-b", &b], b"").await.stdout,
        "audit\n"
    );
    // a consumer's coordinator lookup creates __consumer_offsets: listed, as Kafka's
    // kafka-topics.sh lists it, unless --exclude-internal
    ok(&["consume", "-b", &b, "-t", "audit", "-e"], b"").await;
    assert_eq!(
        ok(&["topics", "list", "-b", &b], b"").await.stdout,
        "__consumer_offsets\naudit\n"
    );
    assert_eq!(
        ok(&["topics", "list", "-b", &b, "--exclude-internal"], b"")
            .await
            .stdout,
        "audit\n"
    );
    assert_fails(
        &rafka(&["topics", "delete", "-b", &b, "orders"], b"").await,
        3,
        "topic 'orders' does not exist",
    );
    let quiet = ok(
        &["topics", "delete", "-b", &b, "orders", "--if-exists"],
        b"",
    )
    .await;
    assert_eq!(quiet.stdout, "");
    assert_fails(
        &rafka(&["topics", "describe", "-b", &b, "orders"], b"").await,
        3,
        "topic 'orders' does not exist",
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_broker_refuses_fails_the_produce() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    ok(
        &[
            "topics",
            "create",
            "-b",
            &b,
            "small",
            "--config",
            "max.message.bytes=1000",
        ],
        b"",
    )
    .await;
    ok(&["produce", "-b", &b, "-t", "small"], b"fits\n").await;
    let mut input: Vec<u8> = std::iter::repeat_n(b'x', 5000).collect();
    input.push(b'\n');
    let run = rafka(&["produce", "-b", &b, "-t", "small"], &input).await;
    // Kafka: MESSAGE_TOO_LARGE for a batch over the topic's max.message.bytes
    assert_fails(
        &run,
        1,
        "1 record of 1 not delivered: Broker: Message size too large",
    );
    let stored = ok(&["consume", "-b", &b, "-t", "small", "-e"], b"").await;
    assert_eq!(stored.stdout, "fits\n");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_consumer_cleanly() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    ok(&["produce", "-b", &b, "-t", "tail"], b"one\ntwo\n").await;
    let status = tokio::task::spawn_blocking(move || {
        // no -e, no -c: it would wait for more records forever
        let mut child = Command::new(BIN)
            .args(["consume", "-b", &b, "-t", "tail"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rafka starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        // the records reach the pipe while the consumer waits (it flushes when idle)
        assert_eq!(lines.next().expect("a line").expect("utf-8"), "one");
        assert_eq!(lines.next().expect("a line").expect("utf-8"), "two");
        let signalled = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(lines.next().is_none(), "nothing more after the stop");
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("consumer still running 10 s after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .expect("thread");
    assert_eq!(status.code(), Some(0), "a stop on Ctrl-C is a success");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_3_for_a_missing_topic_or_partition() {
    let (broker, _dir) = start_broker_with(|c| c.auto_create_topics = false).await;
    broker
        .broker()
        .create_topic("one", 1, 1, Default::default(), false)
        .expect("topic");
    let b = broker.kafka_addr().to_string();
    assert_fails(
        &rafka(&["consume", "-b", &b, "-t", "nope", "-e"], b"").await,
        3,
        "topic 'nope' does not exist",
    );
    assert_fails(
        &rafka(&["produce", "-b", &b, "-t", "nope"], b"lost\n").await,
        3,
        "topic 'nope' does not exist",
    );
    assert!(broker.broker().topic("nope").is_none(), "not auto-created");
    assert_fails(
        &rafka(&["produce", "-b", &b, "-t", "one", "-p", "5"], b"x\n").await,
        3,
        "partition 5 of topic 'one' does not exist (it has 1)",
    );
    assert_fails(
        &rafka(&["consume", "-b", &b, "-t", "one", "-p", "1", "-e"], b"").await,
        3,
        "partition 1 of topic 'one' does not exist",
    );
    broker.shutdown().await.expect("shutdown");
}

/// Exit status 1 when the broker is unreachable. Issue #13, item 15: with nothing
/// listening at any bootstrap address, a command fails with the reason at once instead of
/// waiting for `--timeout`. The timeout here is an
/// hour, so a command that waited for it would be killed at [`COMMAND_DEADLINE`] and
/// fail the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_1_at_once_when_the_broker_refuses_connections() {
    let closed = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (one, two) = (closed(), closed());
    let single = format!("127.0.0.1:{one}");
    // a host name, resolved here as librdkafka would; port 9092 when none is given
    let both = format!("127.0.0.1:{one},localhost:{two}");
    for args in [
        &["consume", "-t", "t", "-e"][..],
        &["consume", "-t", "t", "-g", "g"][..],
        &["produce", "-t", "t"][..],
        &["topics", "list"][..],
        &["topics", "create", "t"][..],
        &["topics", "describe", "t"][..],
        &["topics", "delete", "t"][..],
    ] {
        let mut run_args = args.to_vec();
        run_args.extend_from_slice(&["-b", &single, "--timeout", "3600"]);
        assert_fails(
            &rafka(&run_args, b"x\n").await,
            1,
            &format!("cannot reach the broker at {single}: Connection refused (os error 111)"),
        );
    }
    for args in [&["consume", "-t", "t", "-e"][..], &["topics", "list"][..]] {
        let mut run_args = args.to_vec();
        run_args.extend_from_slice(&["-b", &both, "--timeout", "3600"]);
        let run = rafka(&run_args, b"x\n").await;
        assert_fails(
            &run,
            1,
            &format!("cannot reach the broker at {both}: 127.0.0.1:{one}: Connection refused"),
        );
        assert!(
            run.stderr
                .contains(&format!("; 127.0.0.1:{two}: Connection refused")),
            "each address and why: {run:?}"
        );
    }
    // -X bootstrap.servers overrides -b, as in librdkafka: the address it names is tried
    let run = rafka(
        &[
            "topics",
            "list",
            "-b",
            "127.0.0.1:9",
            "-X",
            &format!("bootstrap.servers={single}"),
            "--timeout",
            "3600",
        ],
        b"",
    )
    .await;
    assert_fails(&run, 1, &format!("cannot reach the broker at {single}: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_2_for_bad_usage() {
    for args in [
        &["consume"][..],                              // no topic
        &["consume", "-t", "t", "-o", "soon"],         // bad offset
        &["consume", "-t", "t", "-g", "g", "-o", "5"], // offset N with a group
        &["consume", "-t", "t", "-g", "g", "-p", "0"], // partition with a group
        &["consume", "-t", "t", "-f", "xml"],          // unknown format
        &["produce", "-t", "t", "--acks", "7"],        // bad acks
        &["produce", "-t", "t", "-z", "gzip"],         // not in this build
        &["produce", "-t", "t", "-H", "novalue"],      // header without =
        &["produce", "-t", "t", "-X", "=x"],           // property without key
        &["produce", "-t", "t", "--timeout", "0"],     // timeout must be positive
        &["topics", "create"],                         // no name
        &["topics", "frobnicate"],                     // no such subcommand
        &["serve", "--topic", "a b"],                  // invalid topic name
        &["serve", "--topic", "a:0"],                  // invalid partition count
        &["--no-such-flag"],
    ] {
        let run = rafka(args, b"").await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_exit_codes_and_examples() {
    let top = ok(&["--help"], b"").await.stdout;
    for line in [
        "Exit codes",
        "  0  success",
        "  2  usage error",
        "  3  the topic or partition does not exist",
    ] {
        assert!(top.contains(line), "rafka --help lacks '{line}':\n{top}");
    }
    for sub in [
        &["serve", "--help"][..],
        &["produce", "--help"],
        &["consume", "--help"],
        &["topics", "--help"],
        &["topics", "create", "--help"],
    ] {
        let help = ok(sub, b"").await.stdout;
        assert!(help.contains("Examples:\n  "), "{sub:?}:\n{help}");
    }
}

/// Reads `rafka serve`'s stdout lines as they come, for at most 30 s.
struct Serve {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start(data_dir: &std::path::Path, topics: &[&str]) -> Serve {
        let mut args = vec![
            "serve".to_string(),
            "--listener".into(),
            "127.0.0.1:0".into(),
            "--text-listener".into(),
            "127.0.0.1:0".into(),
            "--http-listener".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ];
        for t in topics {
            args.push("--topic".into());
            args.push(t.to_string());
        }
        let mut child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rafka serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Serve { child, lines }
    }

    fn lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        (0..n)
            .map(|i| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.lines
                    .recv_timeout(left)
                    .unwrap_or_else(|_| panic!("rafka serve printed only {i} of {n} lines"))
            })
            .collect()
    }

    /// SIGTERM, then the exit status (a graceful shutdown exits 0).
    fn stop(mut self) -> i32 {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("rafka serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn serve_creates_topics_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &["alpha", "beta:3"]);
    let lines = serve.lines(7);
    assert_eq!(lines[0], format!("rafka {}", env!("CARGO_PKG_VERSION")));
    let kafka: SocketAddr = lines[1]
        .strip_prefix("Kafka listener: ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("listener line: {lines:?}"));
    assert!(kafka.ip().is_loopback() && kafka.port() != 0, "{lines:?}");
    assert!(
        lines[2].starts_with("text listener: 127.0.0.1:"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("HTTP listener: http://127.0.0.1:"),
        "{lines:?}"
    );
    assert_eq!(lines[4], format!("data dir: {}", dir.path().display()));
    assert_eq!(lines[5..], ["Topic Created: alpha", "Topic Created: beta"]);
    for p in ["alpha-0", "beta-0", "beta-1", "beta-2"] {
        assert!(dir.path().join(p).is_dir(), "{p} created");
    }
    let described = rafka_blocking(
        &["topics", "describe", "-b", &kafka.to_string(), "beta"].map(String::from),
        &[],
        Vec::new(),
    );
    assert_eq!(described.code, 0, "{described:?}");
    assert!(
        described
            .stdout
            .starts_with("Topic: beta\tPartitionCount: 3\t"),
        "{described:?}"
    );
    assert_eq!(serve.stop(), 0);

    // a second start finds them: not an error, and a different count is pointed out
    let serve = Serve::start(dir.path(), &["alpha", "beta:2", "gamma:2"]);
    assert_eq!(
        serve.lines(8)[5..],
        [
            "Topic Exists: alpha",
            "Topic Exists: beta (with 3 partitions; --topic asked for 2)",
            "Topic Created: gamma"
        ]
    );
    assert_eq!(serve.stop(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_resume_from_committed_offsets() {
    let (broker, _dir) = start_broker().await;
    let b = broker.kafka_addr().to_string();
    ok(&["produce", "-b", &b, "-t", "grp"], b"r0\nr1\nr2\nr3\n").await;
    let first = ok(
        &["consume", "-b", &b, "-t", "grp", "-g", "g1", "-c", "2"],
        b"",
    )
    .await;
    assert_eq!(first.stdout, "r0\nr1\n");
    // the group committed where the first member stopped
    let rest = ok(&["consume", "-b", &b, "-t", "grp", "-g", "g1", "-e"], b"").await;
    assert_eq!(rest.stdout, "r2\nr3\n");
    broker.shutdown().await.expect("shutdown");
}
