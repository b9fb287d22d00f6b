//! Kafka's cluster keys read by `rafka serve`: Kafka 4's sample `config/server.properties`
//! (combined mode, `tests/fixtures/kafka/server.properties`, as Kafka ships it) starts a
//! one-node cluster (its one bootstrap controller is itself, as Kafka's `format
//! --standalone` makes it); a cluster configuration that breaks one of Kafka's rules exits
//! 2 with Kafka's reason.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use rafka::config::{ListenerConfig, SecurityProtocol};
use rafka::server::ServerError;
use support::Client;

const BIN: &str = env!("CARGO_BIN_EXE_rafka");

fn kafka_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka/server.properties")
}

/// `rafka serve` with `args`, stdout piped, stderr (logs at info) into `log`.
fn serve(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("rafka serve starts")
}

/// The Kafka listener's address, once `rafka serve` says it listens.
fn kafka_listener(child: &mut Child) -> SocketAddr {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("rafka serve printed its listener");
        if let Some(addr) = line.strip_prefix("Kafka listener: ") {
            return addr.parse().expect("listener address");
        }
    }
}

/// SIGTERM, then the exit status.
fn stop(mut child: Child) -> i32 {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rafka serve did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `rafka serve ARGS` that must fail at once: its exit status and stderr.
fn failed_start(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("rafka serve runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kafka's sample file as shipped, with free loopback ports instead of 9092/9093 (the
/// file binds every interface) and a scratch log dir: the node forms a one-voter quorum,
/// registers with it, and answers as node 1 with the file's advertised listener, its own
/// controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_sample_server_properties_starts_a_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let sample = kafka_sample();
    let mut child = serve(
        &[
            "--config",
            sample.to_str().expect("path"),
            "-o",
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "--text-listener",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().expect("path"),
        ],
        &log,
    );
    let at = kafka_listener(&mut child);

    // listed once registered and caught up with its own quorum
    let mut client = Client::connect(at).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let md = loop {
        let md: MetadataResponse = client
            .call(
                ApiKey::Metadata,
                12,
                &MetadataRequest::default().with_topics(None),
            )
            .await;
        if !md.brokers.is_empty() || Instant::now() > deadline {
            break md;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].node_id.0, 1, "node.id=1");
    // advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
    assert_eq!(md.brokers[0].host.as_str(), "localhost");
    assert_eq!(md.brokers[0].port, 9092);
    assert_eq!(md.controller_id.0, 1, "its own controller");

    assert_eq!(stop(child), 0, "graceful shutdown");
    let logs = std::fs::read_to_string(&log).expect("log");
    assert!(
        logs.contains("cluster configuration read: this node joins the KRaft cluster"),
        "{logs}"
    );
    assert!(logs.contains("registered with the controller"), "{logs}");
    assert!(logs.contains("controlled shutdown complete"), "{logs}");
    assert!(logs.contains("process_roles=broker,controller"), "{logs}");
    assert!(logs.contains("bootstrap_servers=localhost:9093"), "{logs}");
}

/// A cluster file that breaks Kafka's rules: exit status 2 (a usage error) and Kafka's
/// reason on stderr, before anything is bound or opened.
#[test]
fn a_misconfigured_cluster_file_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let base = "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n\
                controller.listener.names=CONTROLLER\n";
    for (file, says) in [
        (
            format!("process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=2@localhost:9093\n{base}"),
            "node id 1 must be included in the set of voters {2}",
        ),
        (
            format!("process.roles=broker,controller\ncontroller.quorum.voters=1@localhost:9093\n{base}"),
            "missing node.id: it is required when process.roles is set",
        ),
        (
            format!("process.roles=broker,controller\nnode.id=1\n{base}"),
            "either controller.quorum.bootstrap.servers must contain the set of bootstrap \
             controllers or controller.quorum.voters must contain a parseable set of controllers",
        ),
        (
            format!("process.roles=broker\nnode.id=2\ncontroller.quorum.voters=1@localhost:9093\n{base}"),
            "must not contain a value appearing in the 'listeners' configuration when running \
             KRaft with just the broker role",
        ),
        (
            format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@localhost:9093,1@localhost:9094\n{base}"
            ),
            "voter id 1 appears twice",
        ),
    ] {
        let path = dir.path().join("server.properties");
        std::fs::write(&path, &file).expect("write");
        let (code, stderr) = failed_start(&[
            "--config",
            path.to_str().expect("path"),
            "--text-listener",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().expect("path"),
        ]);
        assert_eq!(code, 2, "{file}\n{stderr}");
        assert!(
            stderr.starts_with("error: invalid configuration: "),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{file}\n{stderr}\nshould say {says:?}");
    }
    assert!(
        !data.exists(),
        "no log dir is made for a refused configuration"
    );
}

/// The text listener on the CONTROLLER listener's port (9093 in Kafka's sample, the text
/// listener's old default) is refused at start, naming the listener.
#[test]
fn a_text_listener_on_the_controller_port_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sample = kafka_sample();
    let (code, stderr) = failed_start(&[
        "--config",
        sample.to_str().expect("path"),
        "--text-listener",
        "127.0.0.1:9093",
        "--data-dir",
        data.to_str().expect("path"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "invalid value \"127.0.0.1:9093\" for text.listener: listener CONTROLLER \
             (listeners) binds 0.0.0.0:9093 too"
        ),
        "{stderr}"
    );
}

/// The same check when a `Config` is built in code: `BrokerBuilder::start` refuses it.
#[tokio::test]
async fn a_broker_built_in_code_refuses_a_text_listener_on_a_controller_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = rafka::BrokerBuilder::for_tests(dir.path());
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    let config = builder.config_mut();
    config.text_listener = at;
    config
        .cluster
        .controller_listeners
        .push(ListenerConfig::new(
            "CONTROLLER",
            SecurityProtocol::Plaintext,
            at,
        ));
    let err = builder.start().await.err().expect("refused");
    assert!(matches!(err, ServerError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("listener CONTROLLER"), "{err}");
}
