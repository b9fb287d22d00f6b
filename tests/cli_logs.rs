//! `rafka serve`'s own logs (issue #19): `log.format=json` writes one JSON object per line
//! from the first line on, `log.level` filters them, `RUST_LOG` wins over `log.level`, and
//! a `log.level` that is not a tracing filter is a configuration error (exit 2). The
//! configuration is read before logging starts, so these keys apply to every line; its
//! warnings (an unknown key) are still logged.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rafka");

/// `rafka serve` on ephemeral ports in `dir`, no HTTP listener, with `extra` flags and
/// `RUST_LOG` set to `rust_log` (unset when `None`).
fn serve(dir: &std::path::Path, extra: &[&str], rust_log: Option<&str>) -> Child {
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--listener",
            "127.0.0.1:0",
            "--text-listener",
            "127.0.0.1:0",
            "--http-listener",
            "",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    command.spawn().expect("rafka serve starts")
}

/// Reads stdout up to the "text listener: " line (printed once every listener is up,
/// after the "ready" log lines), returning the Kafka listener's address.
fn wait_until_up(stdout: ChildStdout) -> String {
    let mut kafka = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout line");
        if let Some(addr) = line.strip_prefix("Kafka listener: ") {
            kafka = Some(addr.to_string());
        }
        if line.starts_with("text listener: ") {
            return kafka.expect("the Kafka listener's line comes first");
        }
    }
    panic!("rafka serve exited before its listeners were up");
}

/// SIGTERM, then the exit code and everything left on stderr.
fn stop(mut child: Child, mut stderr: impl Read) -> (Option<i32>, String) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    let status = child.wait().expect("wait");
    (status.code(), rest)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = serve(
        dir.path(),
        &["-o", "log.format=json", "-o", "no.such.key=1"],
        None,
    );
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // every line up to the listener's is JSON; the unknown key's warning is among them
    let mut seen = Vec::new();
    let ready = loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("stderr line");
        assert!(n > 0, "rafka serve exited; it logged: {seen:#?}");
        let value = json(line.trim_end());
        if value["fields"]["message"] == "Kafka listener ready" {
            break value;
        }
        seen.push(value);
    };
    let kafka = wait_until_up(stdout);
    assert_eq!(ready["level"], "INFO", "{ready}");
    assert_eq!(ready["target"], "rafka::server", "{ready}");
    assert_eq!(ready["fields"]["addr"], kafka.as_str(), "{ready}");
    assert_eq!(ready["fields"]["listener"], "PLAINTEXT", "{ready}");
    assert_eq!(
        ready["fields"]["data_dir"],
        dir.path().to_str().expect("utf-8"),
        "{ready}"
    );
    assert!(ready["timestamp"].is_string(), "{ready}");
    let warned = seen
        .iter()
        .find(|v| v["fields"]["message"] == "unknown configuration key ignored")
        .unwrap_or_else(|| panic!("no warning for no.such.key: {seen:#?}"));
    assert_eq!(warned["level"], "WARN");
    assert_eq!(warned["fields"]["key"], "no.such.key");
    // logged once: the configuration is read quietly before logging starts
    let warnings = seen
        .iter()
        .filter(|v| v["fields"]["message"] == "unknown configuration key ignored")
        .count();
    assert_eq!(warnings, 1, "{seen:#?}");

    let (code, rest) = stop(child, stderr);
    assert_eq!(code, Some(0), "{rest}");
    for line in rest.lines() {
        json(line);
    }
    assert!(rest.contains("\"shutting down\""), "{rest}");
}

/// The fields of the spans an event is in come with it: `span` (the innermost) and
/// `spans` (outermost first). A frame with a negative size is refused with a warning
/// inside the connection's span, which names the peer.
#[test]
fn json_lines_carry_their_spans() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = serve(dir.path(), &["-o", "log.format=json"], None);
    let kafka = wait_until_up(child.stdout.take().expect("stdout"));
    let mut socket = std::net::TcpStream::connect(&kafka).expect("connect");
    let peer = socket.local_addr().expect("local addr").to_string();
    socket
        .write_all(&[0xff; 4])
        .expect("a negative size prefix");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let refused = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no warning"
        );
        let value = json(line.trim_end());
        if value["fields"]["message"] == "closing connection" {
            break value;
        }
    };
    assert_eq!(refused["level"], "WARN", "{refused}");
    assert_eq!(refused["span"]["name"], "connection", "{refused}");
    assert_eq!(refused["span"]["peer"], peer.as_str(), "{refused}");
    assert_eq!(refused["span"]["listener"], "PLAINTEXT", "{refused}");
    assert_eq!(refused["spans"][0]["name"], "connection", "{refused}");
    let (code, _) = stop(child, stderr);
    assert_eq!(code, Some(0));
}

#[test]
fn log_level_filters_and_rust_log_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = serve(
        dir.path(),
        &["-o", "log.level=warn", "-o", "no.such.key=1"],
        None,
    );
    wait_until_up(child.stdout.take().expect("stdout"));
    let stderr = child.stderr.take().expect("stderr");
    let (code, logged) = stop(child, stderr);
    assert_eq!(code, Some(0), "{logged}");
    assert!(
        logged.contains(" WARN ") && logged.contains("unknown configuration key ignored"),
        "the warning is kept: {logged}"
    );
    assert!(!logged.contains(" INFO "), "no info lines: {logged}");
    assert!(!logged.contains("Kafka listener ready"), "{logged}");

    // RUST_LOG over log.level
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = serve(dir.path(), &["-o", "log.level=warn"], Some("info"));
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no ready line"
        );
        if line.contains(" INFO ") && line.contains("Kafka listener ready") {
            break;
        }
    }
    wait_until_up(stdout);
    let (code, _) = stop(child, stderr);
    assert_eq!(code, Some(0));
}

#[test]
fn a_log_level_that_is_not_a_filter_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let run = Command::new(BIN)
        .args([
            "serve",
            "--listener",
            "127.0.0.1:0",
            "--text-listener",
            "127.0.0.1:0",
            "--http-listener",
            "",
            "-o",
            "log.level=rafka=loud",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("rafka runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: invalid configuration: invalid value \"rafka=loud\" for log.level: not a tracing filter"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!data.exists(), "stopped before the data dir");
    // a bad value elsewhere still reads as today, with logging not yet started
    let run = Command::new(BIN)
        .args(["serve", "-o", "log.format=xml"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("rafka runs");
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "error: invalid configuration: invalid value \"xml\" for log.format: expected text or json\n"
    );
}

/// `log.slow.request.ms`: a request that took longer is logged at WARN with its API,
/// version, correlation id and client id; at debug, events inside a request carry its
/// `request` span with the same fields. Creating a topic of 200 partitions (1,000 files
/// made) takes well over the 1 ms threshold set here.
#[test]
fn slow_requests_are_logged_with_their_correlation_id() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = serve(
        dir.path(),
        &[
            "-o",
            "log.format=json",
            "-o",
            "log.slow.request.ms=1",
            "-o",
            "log.level=info,rafka::kafka=debug",
        ],
        None,
    );
    let kafka = wait_until_up(child.stdout.take().expect("stdout"));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &kafka)
        .set("client.id", "slow-test")
        .create()
        .expect("admin");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let created = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new("wide", 200, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    // stderr read on a thread, so a missing line fails the test after a minute instead
    // of blocking it; the broker is killed on every way out
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let child = KillOnDrop(child);
    let mut seen = Vec::new();
    let slow = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no slow-request line ({e}); logged: {seen:#?}"));
        let value = json(line.trim_end());
        if value["fields"]["message"] == "slow request (log.slow.request.ms)"
            && value["fields"]["api"] == "CreateTopics"
        {
            break value;
        }
        seen.push(value);
    };
    assert_eq!(slow["level"], "WARN", "{slow}");
    assert_eq!(slow["fields"]["client_id"], "slow-test", "{slow}");
    assert!(slow["fields"]["correlation_id"].is_i64(), "{slow}");
    assert!(slow["fields"]["took_ms"].as_u64() >= Some(1), "{slow}");
    // the request's own span, with the same correlation id, on the events inside it
    let id = &slow["fields"]["correlation_id"];
    let in_request = seen.iter().any(|v| {
        v["spans"].as_array().is_some_and(|spans| {
            spans.iter().any(|s| {
                s["name"] == "request" && s["api"] == "CreateTopics" && &s["correlation_id"] == id
            })
        })
    });
    assert!(
        in_request,
        "no event in the CreateTopics request's span: {seen:#?}"
    );
    drop(child);
}

/// Kills the broker when dropped, so a failed assertion leaves no `rafka serve` behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
