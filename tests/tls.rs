//! SSL listeners (issue #18, part 1): Kafka's `ssl.*` keys with PEM stores, TLS 1.2 and
//! 1.3, client certificates (`ssl.client.auth`), `ssl.principal.mapping.rules`, and
//! certificates reloaded without a restart. Real TLS handshakes (rustls as the client)
//! and real Kafka frames over them; the certificates are tests/fixtures/tls (make.sh).

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
use support::{produce_values, Client};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio_rustls::TlsConnector;
use x509_cert::der::Decode;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A broker with a PLAINTEXT and an SSL listener, the SSL one configured by `ssl` (Kafka
/// keys, one per line; `{dir}` is the fixtures dir).
async fn start(data: &Path, ssl: &str) -> Result<BrokerHandle, ServerError> {
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\n{}",
        ssl.replace("{dir}", &fixture("").display().to_string())
    );
    let parsed = Config::from_properties(&parse_properties(&text)).expect("config");
    let mut builder = rafka::BrokerBuilder::for_tests(data);
    builder.config_mut().listeners = parsed.listeners;
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

/// Whether the broker serves Kafka requests over a TLS connection made with `c`: an
/// ApiVersions gets its answer. A refused handshake fails at connect (TLS 1.2) or on the
/// first read (TLS 1.3, where the server checks the client's certificate after the
/// client thinks it is done).
async fn served(addr: SocketAddr, c: &TlsConnector) -> bool {
    let Ok(stream) = tls(addr, c).await else {
        return false;
    };
    let mut client = Client::over(stream);
    client
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    client.recv_frame().await.is_some()
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
    assert!(served(ssl_addr(&broker), &v12).await, "TLS 1.2");
    assert!(served(ssl_addr(&broker), &v13).await, "TLS 1.3");
    broker.shutdown().await.expect("shutdown");

    let dir = tempfile::tempdir().expect("tmp");
    let only13 = format!("{SERVER}ssl.enabled.protocols=TLSv1.3\n");
    let broker = start(dir.path(), &only13).await.expect("starts");
    assert!(!served(ssl_addr(&broker), &v12).await, "TLS 1.2 refused");
    assert!(
        served(ssl_addr(&broker), &v13).await,
        "TLS 1.3 still served"
    );
    // a client that speaks no TLS at all is closed, and nothing else is disturbed
    let mut garbage = Client::connect(ssl_addr(&broker)).await;
    garbage
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert!(garbage.recv_frame().await.is_none());
    assert!(served(ssl_addr(&broker), &v13).await);
    broker.shutdown().await.expect("shutdown");
}

/// `ssl.client.auth=required`: only a client whose certificate the truststore vouches
/// for is served; `requested`: a client without one is served too (as ANONYMOUS), one
/// with a certificate nobody vouches for is not.
#[tokio::test]
async fn client_certificates_follow_ssl_client_auth() {
    let trust = "ssl.truststore.type=PEM\nssl.truststore.location={dir}/ca.pem\n";
    for (auth, none, stranger) in [("required", false, false), ("requested", true, false)] {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = format!("{SERVER}{trust}ssl.client.auth={auth}\n");
        let broker = start(dir.path(), &keys).await.expect("starts");
        let addr = ssl_addr(&broker);
        for versions in [
            &[&rustls::version::TLS12][..],
            &[&rustls::version::TLS13][..],
        ] {
            let v = format!("{auth} {:?}", versions[0].version);
            assert_eq!(
                served(addr, &connector(versions, None)).await,
                none,
                "{v}: no cert"
            );
            assert!(
                served(addr, &connector(versions, Some("client.pem"))).await,
                "{v}: client"
            );
            assert_eq!(
                served(addr, &connector(versions, Some("stranger.pem"))).await,
                stranger,
                "{v}: stranger"
            );
        }
        broker.shutdown().await.expect("shutdown");
    }
}

/// `ssl.principal.mapping.rules` (KIP-371): a client certificate whose subject no rule
/// matches is refused, as Kafka refuses it; one a rule matches is served.
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
    assert!(!served(ssl_addr(&broker), &client).await, "no rule matches");
    broker.shutdown().await.expect("shutdown");

    let dir = tempfile::tempdir().expect("tmp");
    let rules = format!(
        "{base}ssl.principal.mapping.rules=RULE:^CN=admin,.*$/admin/,\
         RULE:^CN=(.*?),OU=eng,.*$/$1/U\n"
    );
    let broker = start(dir.path(), &rules).await.expect("starts");
    assert!(
        served(ssl_addr(&broker), &client).await,
        "the second rule matches"
    );
    broker.shutdown().await.expect("shutdown");
}

/// A keystore file replaced while the broker runs is served to the next connection;
/// connections already open carry on; a replacement that does not parse leaves the
/// last good certificate in place.
#[tokio::test]
async fn certificates_are_reloaded_without_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let keystore = dir.path().join("keystore.pem");
    std::fs::copy(fixture("server.pem"), &keystore).expect("copy");
    let keys = format!(
        "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
        keystore.display()
    );
    let broker = start(&dir.path().join("data"), &keys)
        .await
        .expect("starts");
    let c = connector(BOTH, None);
    let first = tls(ssl_addr(&broker), &c).await.expect("handshake");
    assert_eq!(subject_of(&first), "CN=localhost");

    // replaced as an operator should: a new file renamed over the old one
    let staged = dir.path().join("staged.pem");
    std::fs::copy(fixture("server-renewed.pem"), &staged).expect("copy");
    std::fs::rename(&staged, &keystore).expect("rename");
    let second = tls(ssl_addr(&broker), &c).await.expect("handshake");
    assert_eq!(subject_of(&second), "CN=renewed");
    let mut old = Client::over(first);
    let r: ApiVersionsResponse = old
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0, "the connection made before the reload");

    // half a file: not taken
    let pem = std::fs::read(fixture("server.pem")).expect("read");
    std::fs::write(&keystore, &pem[..pem.len() / 3]).expect("write");
    let third = tls(ssl_addr(&broker), &c).await.expect("handshake");
    assert_eq!(subject_of(&third), "CN=renewed");
    let mut c3 = Client::over(third);
    let r: ApiVersionsResponse = c3
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
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
    assert!(mismatch.contains("listener SSL"), "{mismatch}");
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
    assert!(served(ssl_addr(&broker), &connector(BOTH, None)).await);
    broker.shutdown().await.expect("shutdown");
}
