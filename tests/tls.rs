//! SSL listeners (issue #18, part 1): Kafka's `ssl.*` keys with PEM stores, TLS 1.2 and
//! 1.3, client certificates (`ssl.client.auth`), `ssl.principal.mapping.rules`, and
//! certificates reloaded without a restart. Real TLS handshakes (rustls as the client)
//! and real Kafka frames over them; the certificates are made when the tests run
//! (support/certs.rs).

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::config::{parse_properties, Config};
use rafka::server::ServerError;
use rafka::BrokerHandle;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{produce_values, Client, Received};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio_rustls::TlsConnector;
use x509_cert::der::Decode;

fn fixture(name: &str) -> PathBuf {
    certs::path(name)
}

/// A broker with a PLAINTEXT and an SSL listener, the SSL one configured by `ssl` (Kafka
/// keys, one per line; `{dir}` is the certificates' dir).
async fn start(data: &Path, ssl: &str) -> Result<BrokerHandle, ServerError> {
    start_with(data, ssl, |_| {}).await
}

/// [`start`], with a chance to adjust the rest of the configuration first.
async fn start_with(
    data: &Path,
    ssl: &str,
    adjust: impl FnOnce(&mut Config),
) -> Result<BrokerHandle, ServerError> {
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\n{}",
        ssl.replace("{dir}", &certs::dir().display().to_string())
    );
    let parsed = Config::from_properties(&parse_properties(&text)).expect("config");
    let mut builder = rafka::BrokerBuilder::for_tests(data);
    builder.config_mut().listeners = parsed.listeners;
    adjust(builder.config_mut());
    builder.start().await
}

const SERVER: &str = "ssl.keystore.type=PEM\nssl.keystore.location={dir}/server.pem\n";

fn ssl_addr(b: &BrokerHandle) -> SocketAddr {
    b.listener_addr("SSL").expect("SSL listener")
}

/// A TLS client trusting the test CA, speaking `versions`, with `cert` (a fixture
/// keystore) as its client certificate if given.
fn connector(versions: &[&'static SupportedProtocolVersion], cert: Option<&str>) -> TlsConnector {
    let provider = Arc::new(rafka::security::tls::ring_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca") {
        roots.add(c.expect("ca cert")).expect("root");
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(fixture(name))
                .expect("chain")
                .collect::<Result<Vec<_>, _>>()
                .expect("certs");
            let key = PrivateKeyDer::from_pem_file(fixture(name)).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    TlsConnector::from(Arc::new(config))
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

async fn tls(addr: SocketAddr, c: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    c.connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// What the broker does with a TLS connection made with `c` and an ApiVersions on it.
#[derive(Debug, PartialEq, Eq)]
enum Served {
    Yes,
    /// Closed: a refused handshake fails at connect (TLS 1.2) or on the first read (TLS
    /// 1.3, where the server checks the client's certificate after the client thinks it
    /// is done), or the connection is closed before any answer.
    Refused,
    /// Neither answered nor closed within 10 s: a hang, never right.
    Hung,
}

async fn served(addr: SocketAddr, c: &TlsConnector) -> Served {
    let Ok(stream) = tls(addr, c).await else {
        return Served::Refused;
    };
    let mut client = Client::over(stream);
    client
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    match client.frame_or_close().await {
        Received::Frame(_) => Served::Yes,
        Received::Closed => Served::Refused,
        Received::TimedOut => Served::Hung,
    }
}

fn subject_of(stream: &TlsStream<TcpStream>) -> String {
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("server certs");
    let cert = x509_cert::Certificate::from_der(certs[0].as_ref()).expect("x509");
    rafka::security::principal::rfc2253(&cert.tbs_certificate.subject)
}

fn fetch(topic: &str) -> FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

/// Produce and Fetch over TLS (the copy path: TLS encrypts in user space) read back the
/// same bytes a PLAINTEXT fetch (sendfile) reads, and Metadata over the SSL listener
/// advertises the SSL endpoint, as Kafka answers each listener with its own endpoints.
#[tokio::test]
async fn kafka_requests_over_tls_see_the_same_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = start(dir.path(), SERVER).await.expect("starts");
    let stream = tls(ssl_addr(&broker), &connector(BOTH, None))
        .await
        .expect("handshake");
    assert_eq!(subject_of(&stream), "CN=localhost");
    let mut c = Client::over(stream);
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("secure")))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0);
    let values: Vec<String> = (0..200).map(|i| format!("value-{i}")).collect();
    for chunk in values.chunks(50) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        produce_values(&mut c, "secure", 0, &chunk).await;
    }
    let over_tls: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch("secure")).await;
    let mut plain = Client::connect(broker.kafka_addr()).await;
    let over_tcp: FetchResponse = plain.call(ApiKey::Fetch, 11, &fetch("secure")).await;
    let records = |r: &FetchResponse| r.responses[0].partitions[0].records.clone();
    assert_eq!(over_tls.responses[0].partitions[0].high_watermark, 200);
    assert_eq!(records(&over_tls), records(&over_tcp));
    let mut bytes = records(&over_tls).expect("records");
    let mut got = Vec::new();
    while !bytes.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).expect("batch");
        got.extend(
            set.records.iter().map(|r| {
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
            }),
        );
    }
    assert_eq!(got, values);

    let md: MetadataResponse = c
        .call(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(md.brokers[0].port, i32::from(ssl_addr(&broker).port()));
    let md: MetadataResponse = plain
        .call(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(md.brokers[0].port, i32::from(broker.kafka_addr().port()));
    broker.shutdown().await.expect("shutdown");
}

/// Kafka's default `ssl.enabled.protocols` is TLSv1.2,TLSv1.3: a client of either
/// version is served; narrowed to TLSv1.3, a TLS 1.2 client's handshake fails and the
/// listener serves the next client as before.
#[tokio::test]
async fn tls_versions_follow_ssl_enabled_protocols() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = start(dir.path(), SERVER).await.expect("starts");
    let v12 = connector(&[&rustls::version::TLS12], None);
    let v13 = connector(&[&rustls::version::TLS13], None);
    assert_eq!(
        served(ssl_addr(&broker), &v12).await,
        Served::Yes,
        "TLS 1.2"
    );
    assert_eq!(
        served(ssl_addr(&broker), &v13).await,
        Served::Yes,
        "TLS 1.3"
    );
    broker.shutdown().await.expect("shutdown");

    let dir = tempfile::tempdir().expect("tmp");
    let only13 = format!("{SERVER}ssl.enabled.protocols=TLSv1.3\n");
    let broker = start(dir.path(), &only13).await.expect("starts");
    assert_eq!(
        served(ssl_addr(&broker), &v12).await,
        Served::Refused,
        "TLS 1.2"
    );
    assert_eq!(
        served(ssl_addr(&broker), &v13).await,
        Served::Yes,
        "TLS 1.3"
    );
    // a client that speaks no TLS at all is closed, and nothing else is disturbed
    let mut garbage = Client::connect(ssl_addr(&broker)).await;
    garbage
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(garbage.frame_or_close().await, Received::Closed);
    assert_eq!(served(ssl_addr(&broker), &v13).await, Served::Yes);
    broker.shutdown().await.expect("shutdown");
}

/// `ssl.client.auth=required`: only a client whose certificate the truststore vouches
/// for is served; `requested`: a client without one is served too (as ANONYMOUS), one
/// with a certificate nobody vouches for is not.
#[tokio::test]
async fn client_certificates_follow_ssl_client_auth() {
    use Served::{Refused, Yes};
    let trust = "ssl.truststore.type=PEM\nssl.truststore.location={dir}/ca.pem\n";
    for (auth, none) in [("required", Refused), ("requested", Yes)] {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = format!("{SERVER}{trust}ssl.client.auth={auth}\n");
        let broker = start(dir.path(), &keys).await.expect("starts");
        let addr = ssl_addr(&broker);
        for versions in [
            &[&rustls::version::TLS12][..],
            &[&rustls::version::TLS13][..],
        ] {
            let v = format!("{auth} {:?}", versions[0].version);
            let none_ = served(addr, &connector(versions, None)).await;
            assert_eq!(none_, none, "{v}: no cert");
            let client = served(addr, &connector(versions, Some("client.pem"))).await;
            assert_eq!(client, Yes, "{v}: client");
            let stranger = served(addr, &connector(versions, Some("stranger.pem"))).await;
            assert_eq!(stranger, Refused, "{v}: stranger");
        }
        broker.shutdown().await.expect("shutdown");
    }
}

/// `ssl.principal.mapping.rules` (KIP-371): a client certificate whose subject no rule
/// matches is refused, as Kafka refuses it; one a rule matches is served. (The names
/// themselves: `security::tls`'s unit tests.)
#[tokio::test]
async fn a_subject_no_mapping_rule_matches_is_refused() {
    let base = format!(
        "{SERVER}ssl.truststore.type=PEM\nssl.truststore.location={{dir}}/ca.pem\n\
         ssl.client.auth=required\n"
    );
    let client = connector(BOTH, Some("client.pem"));
    let dir = tempfile::tempdir().expect("tmp");
    let rules = format!("{base}ssl.principal.mapping.rules=RULE:^CN=admin,.*$/admin/\n");
    let broker = start(dir.path(), &rules).await.expect("starts");
    let got = served(ssl_addr(&broker), &client).await;
    assert_eq!(got, Served::Refused, "no rule matches");
    broker.shutdown().await.expect("shutdown");

    // a Java-escaped backslash in the file, as Kafka's server.properties would have it
    let dir = tempfile::tempdir().expect("tmp");
    let rules = format!(
        "{base}ssl.principal.mapping.rules=RULE:^CN=admin,.*$/admin/,\
         RULE:^CN=([\\\\w ]*?),OU=eng,.*$/$1/U\n"
    );
    let broker = start(dir.path(), &rules).await.expect("starts");
    let got = served(ssl_addr(&broker), &client).await;
    assert_eq!(got, Served::Yes, "the second rule matches");
    broker.shutdown().await.expect("shutdown");
}

/// The certificate a TLS client was shown, DER.
fn served_cert(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("server certs");
    certs[0].as_ref().to_vec()
}

fn fixture_cert(name: &str) -> Vec<u8> {
    CertificateDer::pem_file_iter(fixture(name))
        .expect("pem")
        .next()
        .expect("a certificate")
        .expect("cert")
        .as_ref()
        .to_vec()
}

/// `mv new old`, as an operator replaces a keystore.
fn replace(keystore: &Path, with: &[u8]) {
    let staged = keystore.with_extension("staged");
    std::fs::write(&staged, with).expect("write");
    std::fs::rename(&staged, keystore).expect("rename");
}

/// A keystore file replaced while the broker runs is served to the next connection
/// (connections already open carry on); one that does not parse leaves the last good
/// certificate in place until a good one comes; as in Kafka, a certificate with another
/// subject is refused unless `ssl.allow.dn.changes=true`.
#[tokio::test]
async fn certificates_are_reloaded_without_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let keystore = dir.path().join("keystore.pem");
    let read = |name: &str| std::fs::read(fixture(name)).expect("fixture");
    replace(&keystore, &read("server.pem"));
    let keys = format!(
        "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
        keystore.display()
    );
    let broker = start(&dir.path().join("data"), &keys)
        .await
        .expect("starts");
    let c = connector(BOTH, None);
    let connect = || tls(ssl_addr(&broker), &c);
    let first = connect().await.expect("handshake");
    assert_eq!(served_cert(&first), fixture_cert("server.pem"));

    // a renewal: same subject and names, another key
    replace(&keystore, &read("server-renewed.pem"));
    let second = connect().await.expect("handshake");
    assert_eq!(served_cert(&second), fixture_cert("server-renewed.pem"));
    let mut old = Client::over(first);
    let r: ApiVersionsResponse = old
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0, "the connection made before the reload");

    // half a file: not taken, twice; then a whole one is
    let pem = read("server.pem");
    replace(&keystore, &pem[..pem.len() / 3]);
    for _ in 0..2 {
        let s = connect().await.expect("handshake");
        assert_eq!(served_cert(&s), fixture_cert("server-renewed.pem"));
    }
    replace(&keystore, &pem);
    let s = connect().await.expect("handshake");
    assert_eq!(served_cert(&s), fixture_cert("server.pem"));

    // another subject: refused (Kafka's ssl.allow.dn.changes=false)
    replace(&keystore, &read("server-other.pem"));
    let s = connect().await.expect("handshake");
    assert_eq!(served_cert(&s), fixture_cert("server.pem"));
    let mut c3 = Client::over(s);
    let r: ApiVersionsResponse = c3
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    broker.shutdown().await.expect("shutdown");

    // allowed
    let dir = tempfile::tempdir().expect("tmp");
    let keystore = dir.path().join("keystore.pem");
    replace(&keystore, &read("server.pem"));
    let keys = format!(
        "ssl.keystore.type=PEM\nssl.keystore.location={}\nssl.allow.dn.changes=true\n",
        keystore.display()
    );
    let broker = start(&dir.path().join("data"), &keys)
        .await
        .expect("starts");
    replace(&keystore, &read("server-other.pem"));
    let s = tls(ssl_addr(&broker), &c).await;
    // CN=other still names localhost in its alternative names
    assert_eq!(
        served_cert(&s.expect("handshake")),
        fixture_cert("server-other.pem")
    );
    broker.shutdown().await.expect("shutdown");
}

/// A client that opens a connection to the SSL listener and never finishes its
/// handshake is closed after `socket.request.receive.timeout.ms`, and does not hold up
/// anyone else meanwhile.
#[tokio::test]
async fn a_stalled_handshake_is_closed_and_holds_up_nobody() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tmp");
    let broker = start_with(dir.path(), SERVER, |c| c.request_receive_timeout_ms = 500)
        .await
        .expect("starts");
    let mut silent = TcpStream::connect(ssl_addr(&broker)).await.expect("tcp");
    let mut half = TcpStream::connect(ssl_addr(&broker)).await.expect("tcp");
    // the first bytes of a TLS record header, then nothing
    half.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    assert_eq!(
        served(ssl_addr(&broker), &connector(BOTH, None)).await,
        Served::Yes
    );
    for stalled in [&mut silent, &mut half] {
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(30), stalled.read(&mut b));
        assert!(
            matches!(read.await, Ok(Ok(0)) | Ok(Err(_))),
            "closed by the broker"
        );
    }
    broker.shutdown().await.expect("shutdown");
}

/// A listener that cannot serve TLS stops the start with an error naming the listener
/// and the file: none is served as plaintext.
#[tokio::test]
async fn unusable_stores_stop_the_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = |e: ServerError| e.to_string();
    let missing = start(
        dir.path(),
        "ssl.keystore.type=PEM\nssl.keystore.location={dir}/nothing.pem\n",
    )
    .await
    .err()
    .map(err)
    .expect("refused");
    assert!(
        missing.contains("listener SSL") && missing.contains("nothing.pem"),
        "{missing}"
    );
    // a CA certificate with no key
    let no_key = start(
        dir.path(),
        "ssl.keystore.type=PEM\nssl.keystore.location={dir}/ca.pem\n",
    )
    .await
    .err()
    .map(err)
    .expect("refused");
    assert!(no_key.contains("private key"), "{no_key}");
    // the key of one certificate with another's certificate
    let client = std::fs::read_to_string(fixture("client.pem")).expect("client");
    let server = std::fs::read_to_string(fixture("server.pem")).expect("server");
    let key_end = "-----END PRIVATE KEY-----\n";
    let mixed = dir.path().join("mixed.pem");
    let client_key = &client[..client.find(key_end).expect("key") + key_end.len()];
    let server_cert = &server[server.find(key_end).expect("key") + key_end.len()..];
    std::fs::write(&mixed, format!("{client_key}{server_cert}")).expect("write");
    let mismatch = start(
        &dir.path().join("data"),
        &format!(
            "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
            mixed.display()
        ),
    )
    .await
    .err()
    .map(err)
    .expect("refused");
    assert!(
        mismatch.contains("listener SSL")
            && mismatch.contains("mixed.pem")
            && mismatch.contains("KeyMismatch"),
        "{mismatch}"
    );
}

/// The certificate and key given in the configuration itself
/// (`ssl.keystore.certificate.chain`, `ssl.keystore.key`, KIP-651), with the file's line
/// continuations, as in a Kafka `server.properties`.
#[tokio::test]
async fn inline_pem_with_line_continuations() {
    let pem = std::fs::read_to_string(fixture("server.pem")).expect("server");
    let key_end = "-----END PRIVATE KEY-----\n";
    let split = pem.find(key_end).expect("key") + key_end.len();
    let continued = |s: &str| s.trim_end().lines().collect::<Vec<_>>().join(" \\\n    ");
    let keys = format!(
        "ssl.keystore.type=PEM\nssl.keystore.key={}\nssl.keystore.certificate.chain={}\n",
        continued(&pem[..split]),
        continued(&pem[split..])
    );
    let dir = tempfile::tempdir().expect("tmp");
    let broker = start(dir.path(), &keys).await.expect("starts");
    assert_eq!(
        served(ssl_addr(&broker), &connector(BOTH, None)).await,
        Served::Yes
    );
    broker.shutdown().await.expect("shutdown");
}
