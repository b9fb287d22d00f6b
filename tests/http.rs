//! The HTTP listener (`http.listener`, issue #19): `/healthz`, `/readyz`, `/metrics`, the
//! status page at `/`, and how it answers what is not a request it serves (404, 405, a
//! malformed request, a header too large) without harming the broker. Requests are raw
//! HTTP/1.1 bytes on a TCP socket, so the tests see exactly what a client would.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rafka::server::ServerError;
use rafka::{BrokerBuilder, BrokerHandle};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any one exchange may take before the test fails.
const EXCHANGE: Duration = Duration::from_secs(10);

/// A broker with its HTTP listener on an ephemeral loopback port.
async fn start() -> (BrokerHandle, tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    builder.config_mut().observe.http_listener = Some("127.0.0.1:0".parse().expect("addr"));
    builder.config_mut().observe.http_listener_set = true;
    let broker = builder.start().await.expect("broker starts");
    let http = broker.http_addr().expect("an HTTP listener");
    (broker, dir, http)
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as is, reads until the server closes, and parses the first response;
/// `None` if the connection ended with no response (closed or reset).
async fn exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // the server may answer and close before all of a large request is written
    let _ = tokio::time::timeout(EXCHANGE, stream.write_all(request)).await;
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(EXCHANGE, stream.read_to_end(&mut bytes)).await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed in time"
    );
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: rafka\r\nConnection: close\r\n\r\n");
    exchange(addr, req.as_bytes())
        .await
        .unwrap_or_else(|| panic!("no response to {method} {path}"))
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

/// Polls `/readyz` until 200, up to 30 s; the last reply.
async fn ready(addr: SocketAddr) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(addr, "/readyz").await;
        if r.status == 200 || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let (broker, _dir, http) = start().await;

    let r = get(http, "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    let r = ready(http).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"), "{r:?}");
    assert_eq!(broker.ready(), Ok(()));

    // prometheus-client writes OpenMetrics, ending "# EOF"
    let r = get(http, "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.body.trim_end().ends_with("# EOF"), "{}", r.body);

    // HEAD: the headers of GET, no body
    let r = request(http, "HEAD", "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));

    broker.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_keep_alive_connection_serves_several_requests() {
    let (broker, _dir, http) = start().await;
    let mut stream = TcpStream::connect(http).await.expect("connect");
    let one = b"GET /healthz HTTP/1.1\r\nHost: rafka\r\n\r\n";
    let last = b"GET /healthz HTTP/1.1\r\nHost: rafka\r\nConnection: close\r\n\r\n";
    stream.write_all(one).await.expect("write");
    stream.write_all(one).await.expect("write");
    stream.write_all(last).await.expect("write");
    let mut bytes = Vec::new();
    tokio::time::timeout(EXCHANGE, stream.read_to_end(&mut bytes))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    broker.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn what_is_not_served_is_refused_and_the_broker_goes_on() {
    let (broker, _dir, http) = start().await;

    let r = get(http, "/no-such-page").await;
    assert_eq!((r.status, r.body.as_str()), (404, "not found\n"));

    for method in ["POST", "PUT", "DELETE"] {
        let r = request(http, method, "/").await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }

    // not HTTP at all: 400, or closed with no answer
    let r = exchange(http, b"\x00\x01GARBAGE \xff\r\n\r\n").await;
    assert!(r.as_ref().is_none_or(|r| r.status == 400), "{r:?}");

    // a 64 KiB header, four times the limit: 431, or closed
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: rafka\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let r = exchange(http, huge.as_bytes()).await;
    assert!(r.as_ref().is_none_or(|r| r.status == 431), "{r:?}");

    // a body announced and never sent: answered, and the connection closed (not waited on)
    let r = exchange(
        http,
        b"GET /healthz HTTP/1.1\r\nHost: rafka\r\nContent-Length: 1000000\r\n\r\nabc",
    )
    .await
    .expect("an answer");
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    let r = exchange(
        http,
        b"POST / HTTP/1.1\r\nHost: rafka\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    )
    .await
    .expect("an answer");
    assert_eq!((r.status, r.header("connection")), (405, Some("close")));

    // the HTTP listener and the broker still serve
    assert_eq!(get(http, "/healthz").await.status, 200);
    assert_eq!(ready(http).await.status, 200);
    let mut kafka = support::Client::connect(broker.kafka_addr()).await;
    assert!(!support::advertised(&mut kafka).await.is_empty());

    broker.shutdown().await.expect("clean shutdown");
    // and after shutdown, nothing listens there
    assert!(TcpStream::connect(http).await.is_err());
}

/// A client that starts a request and never finishes its headers, or one that sends
/// nothing, holds a task of its own for the read timeout, then is closed; others are
/// served meanwhile.
#[tokio::test]
async fn a_slow_client_is_closed_after_the_read_timeout() {
    let (broker, _dir, http) = start().await;
    let mut slow = TcpStream::connect(http).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: ra")
        .await
        .expect("write");
    // and one that connects and says nothing at all
    let mut silent = TcpStream::connect(http).await.expect("connect");
    assert_eq!(get(http, "/healthz").await.status, 200, "served meanwhile");
    let within = rafka::http::READ_TIMEOUT + Duration::from_secs(20);
    let mut nothing = Vec::new();
    let closed = tokio::time::timeout(within, silent.read_to_end(&mut nothing)).await;
    assert!(closed.is_ok(), "the silent connection is closed");
    let mut bytes = Vec::new();
    let closed = tokio::time::timeout(within, slow.read_to_end(&mut bytes)).await;
    assert!(closed.is_ok(), "the slow connection is closed");
    // closed with no answer, or with 408
    let r = parse(&bytes);
    assert!(r.as_ref().is_none_or(|r| r.status == 408), "{r:?}");
    broker.shutdown().await.expect("clean shutdown");
}

/// At most `MAX_CONNECTIONS` HTTP connections at once: the next is closed at accept, and
/// once some go, new ones are served again.
#[tokio::test]
async fn connections_past_the_limit_are_closed_at_accept() {
    let (broker, _dir, http) = start().await;
    let mut held = Vec::new();
    for _ in 0..rafka::http::MAX_CONNECTIONS {
        let mut c = TcpStream::connect(http).await.expect("connect");
        // a request started, so each is surely accepted and served by its own task
        c.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        held.push(c);
    }
    // the listener accepts in order: once one more is closed at once, all are counted
    let deadline = Instant::now() + EXCHANGE;
    let refused = loop {
        let mut extra = TcpStream::connect(http).await.expect("connect");
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            .await;
        let mut bytes = Vec::new();
        let read = tokio::time::timeout(EXCHANGE, extra.read_to_end(&mut bytes)).await;
        // closed: EOF or a reset, in time (a timeout is a hanging server, not a refusal)
        let closed = read.is_ok();
        let refused = closed && parse(&bytes).is_none();
        if refused || Instant::now() > deadline {
            break refused;
        }
    };
    assert!(
        refused,
        "a connection past the limit is closed (EOF or reset, not a timeout) with no answer"
    );
    drop(held);
    let deadline = Instant::now() + EXCHANGE;
    let served = loop {
        let req = b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
        let r = exchange(http, req).await;
        if r.as_ref().is_some_and(|r| r.status == 200) || Instant::now() > deadline {
            break r.is_some_and(|r| r.status == 200);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(served, "served again once the held connections are gone");
    broker.shutdown().await.expect("clean shutdown");
}

/// A consumer group on `topic`, its consumer kept alive until the returned sender is
/// dropped: subscribes with `group_id`, polls until it has a record, commits `committed`
/// on partition 0.
fn run_group(
    bootstrap: String,
    group_id: &'static str,
    topic: &'static str,
    committed: i64,
) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", group_id)
            .set("client.id", "status-page-test")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "the consumer got no record");
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                m.expect("no consumer error");
                break;
            }
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(committed))
            .expect("offset");
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
        let _ = joined_tx.send(());
        // stay in the group (heartbeats are sent by poll) until told to go, or the
        // sender is dropped (Disconnected)
        while matches!(
            stop_rx.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Empty)
        ) {
            consumer.poll(Duration::from_millis(100));
        }
    });
    (joined_rx, stop_tx)
}

/// The partition rows of `topic`'s table on the status page.
fn partition_rows(page: &str, topic: &str) -> usize {
    let start = format!("data-topic=\"{topic}\"");
    page.split_once(&start)
        .and_then(|(_, rest)| rest.split_once("</table>"))
        .map_or(0, |(table, _)| {
            table.matches("<tr class=\"partition\">").count()
        })
}

/// What a user would open kafka-ui for: the topics with their partitions and the groups
/// with their lag, every client-given name escaped (group ids are any string).
#[tokio::test]
async fn the_status_page_shows_topics_partitions_and_groups() {
    let (broker, _dir, http) = start().await;
    broker
        .broker()
        .create_topic_anywhere("orders", 3)
        .await
        .expect("create orders");
    broker
        .broker()
        .create_topic_anywhere("payments.eu-1", 1)
        .await
        .expect("create payments");
    let bootstrap = broker.kafka_addr().to_string();
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("producer");
            for i in 0..5 {
                let value = format!("order {i}");
                producer
                    .send(
                        BaseRecord::<(), _>::to("orders")
                            .partition(0)
                            .payload(&value),
                    )
                    .expect("queued");
            }
            producer.flush(Duration::from_secs(30)).expect("flushed");
        })
        .await
        .expect("producer thread");
    }
    const HOSTILE: &str = "<script>alert('g')</script>&\"";
    let (joined, stop) = run_group(bootstrap, HOSTILE, "orders", 2);
    tokio::task::spawn_blocking(move || joined.recv_timeout(Duration::from_secs(90)))
        .await
        .expect("consumer thread")
        .expect("the consumer joined and committed");

    let r = get(http, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.body;
    assert!(page.contains("class=\"topic\">orders<"), "{page}");
    assert!(page.contains("class=\"topic\">payments.eu-1<"), "{page}");
    assert_eq!(partition_rows(&page, "orders"), 3, "{page}");
    assert_eq!(partition_rows(&page, "payments.eu-1"), 1, "{page}");
    // the group, its id escaped, never as markup
    assert!(
        page.contains("&lt;script&gt;alert(&#39;g&#39;)&lt;/script&gt;&amp;&quot;"),
        "{page}"
    );
    assert!(
        !page.contains("<script"),
        "no markup from a group id: {page}"
    );
    assert!(
        page.contains("status-page-test"),
        "the member's client id: {page}"
    );
    // committed 2 of 5 on orders-0: lag 3
    assert!(page.contains("<td class=\"n lag\">3</td>"), "{page}");

    drop(stop);
    broker.shutdown().await.expect("clean shutdown");
}

/// A KRaft node is ready only once it has caught up with the metadata and published it
/// (what unfences it); then `/readyz` says so.
#[tokio::test]
async fn a_cluster_node_becomes_ready_with_the_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = rafka::ClusterBuilder::new(1, dir.path())
        .configure(|_, c| {
            c.observe.http_listener = Some("127.0.0.1:0".parse().expect("addr"));
            c.observe.http_listener_set = true;
        })
        .start()
        .await
        .expect("cluster starts");
    let node = cluster.node(1).expect("node 1");
    let http = node.http_addr().expect("an HTTP listener");
    let r = ready(http).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"), "{r:?}");
    // the status page names the node, ready
    let page = get(http, "/").await.body;
    assert!(
        page.contains("<tr><th>This node</th><td>1</td></tr>"),
        "{page}"
    );
    assert!(page.contains("<span class=\"ok\">yes</span>"), "{page}");
    cluster.shutdown().await;
}

/// The default address (not given) taken: a warning, and the broker runs without HTTP.
#[tokio::test]
async fn a_taken_default_address_only_warns() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    builder.config_mut().observe.http_listener = Some(taken.local_addr().expect("addr"));
    builder.config_mut().observe.http_listener_set = false;
    let broker = builder.start().await.expect("starts without HTTP");
    assert_eq!(broker.http_addr(), None);
    let mut kafka = support::Client::connect(broker.kafka_addr()).await;
    assert!(!support::advertised(&mut kafka).await.is_empty());
    broker.shutdown().await.expect("clean shutdown");
}

/// An address asked for (`http.listener` / `--http-listener`) that cannot be bound stops
/// the start, as for any listener.
#[tokio::test]
async fn a_taken_address_asked_for_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    builder.config_mut().observe.http_listener = Some(at);
    builder.config_mut().observe.http_listener_set = true;
    match builder.start().await {
        Err(ServerError::Bind { listener, addr, .. }) => {
            assert_eq!((listener.as_str(), addr), ("http", at));
        }
        Err(e) => panic!("expected a bind error, got {e}"),
        Ok(_) => panic!("expected a bind error, the broker started"),
    }
}

/// A start that fails after the HTTP listener was bound (the logs cannot be opened: the
/// data directory is a file) leaves no HTTP behind: its port is free again.
#[tokio::test]
async fn a_failed_start_releases_the_http_port() {
    let http = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("data");
    std::fs::write(&not_a_dir, b"not a directory").expect("write");
    let mut builder = BrokerBuilder::for_tests(&not_a_dir);
    builder.config_mut().observe.http_listener = Some(http);
    builder.config_mut().observe.http_listener_set = true;
    assert!(
        matches!(builder.start().await, Err(ServerError::Broker(_))),
        "the logs cannot be opened"
    );
    let deadline = Instant::now() + EXCHANGE;
    let released = loop {
        let free = std::net::TcpListener::bind(http).is_ok();
        if free || Instant::now() > deadline {
            break free;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(released, "the HTTP port {http} is free again");
}

/// A loopback address with a port free a moment ago.
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// The default HTTP address (not given) on the port of another listener of the node (here
/// the text listener, as `--text-listener 127.0.0.1:9193` would be): skipped, and the
/// broker starts with that listener and no HTTP.
#[tokio::test]
async fn the_default_http_address_gives_way_to_another_listener() {
    let text = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    builder.config_mut().text_listener = text;
    builder.config_mut().observe.http_listener = Some(text);
    builder.config_mut().observe.http_listener_set = false;
    let broker = builder.start().await.expect("starts, without HTTP");
    assert_eq!(broker.http_addr(), None);
    assert_eq!(broker.text_addr(), text);
    broker.shutdown().await.expect("clean shutdown");
}

/// `http.listener` asked for on another listener's port: a configuration error.
#[tokio::test]
async fn an_http_address_asked_for_on_another_listeners_port_is_refused() {
    let text = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    builder.config_mut().text_listener = text;
    builder.config_mut().observe.http_listener = Some(text);
    builder.config_mut().observe.http_listener_set = true;
    match builder.start().await {
        Err(ServerError::Config(e)) => assert!(e.to_string().contains("http.listener"), "{e}"),
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("expected a configuration error, the broker started"),
    }
}

/// Every node of a three-node cluster shows the three brokers and each partition of a
/// topic with replication factor 3, its replicas and ISR; once a node is killed, the
/// partitions it held are shown under-replicated (the ISR cell marked) on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_shows_every_broker_and_an_under_replicated_partition() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(|_, c| {
            c.observe.http_listener = Some("127.0.0.1:0".parse().expect("addr"));
            c.observe.http_listener_set = true;
            c.cluster.broker_session_timeout_ms = 3_000;
            c.cluster.broker_heartbeat_interval_ms = 300;
            c.cluster.replica_lag_time_max_ms = 3_000;
            c.cluster.replica_fetch_backoff_ms = 100;
        })
        .start()
        .await
        .expect("cluster starts");
    let registered = support::eventually(Duration::from_secs(60), || {
        cluster.ids().iter().all(|&id| {
            cluster
                .node(id)
                .is_some_and(|h| h.broker().metadata().brokers.len() == 3)
        })
    })
    .await;
    assert!(registered, "every broker registered");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("admin");
    let created = admin
        .create_topics(
            &[NewTopic::new("spread", 3, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        )
        .await
        .expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    // a partition row: its replicas and a full ISR (three ids each, the ISR not marked)
    let full = regex::Regex::new(r"<td>\d,\d,\d</td><td>\d,\d,\d</td>").expect("regex");
    let spread = |page: &str| -> Option<String> {
        let start = page.find("data-topic=\"spread\"")?;
        let end = start + page.get(start..)?.find("</table>")?;
        page.get(start..end).map(str::to_string)
    };
    for id in cluster.ids() {
        let http = cluster.node(id).and_then(|n| n.http_addr()).expect("HTTP");
        let shown = loop {
            let page = get(http, "/").await.body;
            let done = page.contains("<h2>Brokers (3)</h2>")
                && spread(&page).is_some_and(|t| full.find_iter(&t).count() == 3);
            if done {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(shown, "node {id}: three brokers and three full partitions");
    }
    // node 3 gone: the others show partitions whose ISR lacks it, marked
    cluster.kill(3);
    let http = cluster.node(1).and_then(|n| n.http_addr()).expect("HTTP");
    let marked =
        regex::Regex::new(r#"<td>\d,\d,\d</td><td class="warn">\d,\d</td>"#).expect("regex");
    let deadline = Instant::now() + Duration::from_secs(60);
    let under = loop {
        let page = get(http, "/").await.body;
        if spread(&page).is_some_and(|t| marked.find_iter(&t).count() == 3) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        under,
        "every partition of spread shown under-replicated on node 1"
    );
    cluster.shutdown().await;
}
