//! SASL listeners (issue #18, part 2): SASL_PLAINTEXT and SASL_SSL with PLAIN, Kafka's
//! `sasl.*` keys and JAAS users, SaslHandshake v0-v1 and SaslAuthenticate v0-v2, what is
//! refused before authentication, and re-authentication (KIP-368); SCRAM credentials set
//! with AlterUserScramCredentials, on a single node and in a cluster. Real frames on real
//! sockets, and librdkafka as a real client.

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::config::{parse_properties, Config};
use rafka::BrokerHandle;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Message;
use support::{Client, Received};

const JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
    org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" \
    user_admin=\"admin-secret\" user_alice=\"alice-secret\";\n";

/// A broker with a PLAINTEXT and a SASL_PLAINTEXT listener offering PLAIN to admin and
/// alice, plus `extra` Kafka keys.
async fn start(data: &Path, extra: &str) -> BrokerHandle {
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
         sasl.enabled.mechanisms=PLAIN\n{JAAS}{extra}"
    );
    let parsed = Config::from_properties(&parse_properties(&text)).expect("config");
    let mut builder = rafka::BrokerBuilder::for_tests(data);
    builder.config_mut().listeners = parsed.listeners;
    builder.start().await.expect("starts")
}

/// Node `id`'s SASL_PLAINTEXT listener.
fn sasl_addr_of(cluster: &rafka::ClusterHandle, id: i32) -> SocketAddr {
    sasl_addr(cluster.node(id).expect("node"))
}

fn sasl_addr(b: &BrokerHandle) -> SocketAddr {
    b.listener_addr("SASL_PLAINTEXT").expect("SASL listener")
}

fn plain_token(user: &str, password: &str) -> Bytes {
    Bytes::from(format!("\0{user}\0{password}"))
}

async fn handshake(c: &mut Client, version: i16, mechanism: &'static str) -> SaslHandshakeResponse {
    c.call(
        ApiKey::SaslHandshake,
        version,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )
    .await
}

async fn authenticate(c: &mut Client, version: i16, token: Bytes) -> SaslAuthenticateResponse {
    c.call(
        ApiKey::SaslAuthenticate,
        version,
        &SaslAuthenticateRequest::default().with_auth_bytes(token),
    )
    .await
}

/// Logs in as `user` with handshake v1 and SaslAuthenticate v2.
async fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
    let mut c = Client::connect(addr).await;
    let hs = handshake(&mut c, 1, "PLAIN").await;
    assert_eq!(hs.error_code, 0);
    let auth = authenticate(&mut c, 2, plain_token(user, password)).await;
    assert_eq!(auth.error_code, 0, "{:?}", auth.error_message);
    c
}

async fn create_topic(c: &mut Client, name: &str) -> i16 {
    let r: CreateTopicsResponse = c
        .call(
            ApiKey::CreateTopics,
            7,
            &CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.into())))
                    .with_num_partitions(1)
                    .with_replication_factor(1)])
                .with_timeout_ms(5000),
        )
        .await;
    r.topics[0].error_code
}

#[tokio::test]
async fn plain_logs_in_and_then_serves_every_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), "").await;
    let mut c = Client::connect(sasl_addr(&broker)).await;
    // ApiVersions before the handshake, as clients send it; it lists both SASL APIs
    let versions = support::advertised(&mut c).await;
    assert_eq!(versions.get(&(ApiKey::SaslHandshake as i16)), Some(&(0, 1)));
    assert_eq!(
        versions.get(&(ApiKey::SaslAuthenticate as i16)),
        Some(&(0, 2))
    );
    let hs = handshake(&mut c, 1, "PLAIN").await;
    assert_eq!(hs.error_code, 0);
    assert_eq!(hs.mechanisms, vec![StrBytes::from_static_str("PLAIN")]);
    let auth = authenticate(&mut c, 2, plain_token("alice", "alice-secret")).await;
    assert_eq!((auth.error_code, auth.session_lifetime_ms), (0, 0));
    assert_eq!(create_topic(&mut c, "secured").await, 0);
    support::produce_values(&mut c, "secured", 0, &["a", "b"]).await;
    // Metadata on the SASL listener advertises the SASL listener
    let md: MetadataResponse = c
        .call(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(md.brokers[0].port, i32::from(sasl_addr(&broker).port()));
    // a SaslAuthenticate after authentication: Kafka's ILLEGAL_SASL_STATE
    let again = authenticate(&mut c, 2, plain_token("alice", "alice-secret")).await;
    assert_eq!(again.error_code, 34);
    assert_eq!(
        again.error_message.as_deref(),
        Some("SaslAuthenticate request received after successful authentication")
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn wrong_passwords_unknown_mechanisms_and_early_requests_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), "connection.failed.authentication.delay.ms=20\n").await;
    let addr = sasl_addr(&broker);

    // a wrong password, and a user that does not exist, read the same
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret")] {
        let mut c = Client::connect(addr).await;
        assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
        let auth = authenticate(&mut c, 1, plain_token(user, password)).await;
        assert_eq!(auth.error_code, 58, "SASL_AUTHENTICATION_FAILED");
        assert_eq!(
            auth.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        assert!(c.is_closed_by_broker().await, "closed after a failure");
    }

    // a mechanism not offered: UNSUPPORTED_SASL_MECHANISM with the offered ones, closed
    let mut c = Client::connect(addr).await;
    let hs = handshake(&mut c, 1, "SCRAM-SHA-512").await;
    assert_eq!(hs.error_code, 33);
    assert_eq!(hs.mechanisms, vec![StrBytes::from_static_str("PLAIN")]);
    assert!(c.is_closed_by_broker().await);

    // any other request before authentication: closed, unanswered
    for before_handshake in [true, false] {
        let mut c = Client::connect(addr).await;
        if !before_handshake {
            assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
        }
        c.send(ApiKey::Metadata, 12, &MetadataRequest::default())
            .await;
        assert_eq!(c.frame_or_close().await, Received::Closed);
    }

    // a frame over sasl.server.max.receive.size (512 KiB) before authentication
    let mut c = Client::connect(addr).await;
    c.send_raw(&(1_i32 << 20).to_be_bytes()).await;
    assert_eq!(c.frame_or_close().await, Received::Closed);

    // the broker and its PLAINTEXT listener are unaffected; SaslHandshake there is
    // ILLEGAL_SASL_STATE, as in Kafka
    let mut plain = Client::connect(broker.kafka_addr()).await;
    assert_eq!(handshake(&mut plain, 1, "PLAIN").await.error_code, 34);
    let mut c = login(addr, "admin", "admin-secret").await;
    assert_eq!(create_topic(&mut c, "after").await, 0);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn handshake_v0_takes_bare_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), "").await;
    let mut c = Client::connect(sasl_addr(&broker)).await;
    assert_eq!(handshake(&mut c, 0, "PLAIN").await.error_code, 0);
    let token = plain_token("alice", "alice-secret");
    let mut frame = (token.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&token);
    c.send_raw(&frame).await;
    // PLAIN's (empty) answer, size-prefixed and bare
    assert_eq!(c.frame_or_close().await, Received::Frame(Bytes::new()));
    assert_eq!(create_topic(&mut c, "old-client").await, 0);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sessions_are_renewed_on_the_connection_and_end_when_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), "connections.max.reauth.ms=1500\n").await;
    let addr = sasl_addr(&broker);

    let mut c = Client::connect(addr).await;
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
    let auth = authenticate(&mut c, 1, plain_token("alice", "alice-secret")).await;
    assert_eq!((auth.error_code, auth.session_lifetime_ms), (0, 1500));
    // re-authenticated on the same connection, the session renewed
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
    let renewed = authenticate(&mut c, 2, plain_token("alice", "alice-secret")).await;
    assert_eq!((renewed.error_code, renewed.session_lifetime_ms), (0, 1500));
    assert_eq!(create_topic(&mut c, "renewed").await, 0);
    // once the session is over, the next request closes the connection unanswered
    tokio::time::sleep(Duration::from_millis(1600)).await;
    c.send(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(c.frame_or_close().await, Received::Closed);

    // re-authenticating as somebody else fails
    let mut c = login(addr, "alice", "alice-secret").await;
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
    let other = authenticate(&mut c, 2, plain_token("admin", "admin-secret")).await;
    assert_eq!(other.error_code, 58);
    assert!(other
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("Cannot change principals")));
    broker.shutdown().await.expect("shutdown");
}

/// librdkafka (sasl.mechanism=PLAIN) produces and consumes; with a wrong password it gets
/// an authentication error, not data.
#[tokio::test]
async fn librdkafka_produces_and_consumes_over_sasl_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), "").await;
    let bootstrap = sasl_addr(&broker).to_string();
    let client = move |password: &str| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap)
            .set("security.protocol", "sasl_plaintext")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", "alice")
            .set("sasl.password", password);
        c
    };
    let producer: FutureProducer = client("alice-secret")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    for i in 0..3 {
        producer
            .send(
                FutureRecord::to("rd-sasl")
                    .key("k")
                    .payload(&format!("v{i}")),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    let values = tokio::task::spawn_blocking({
        let config = client("alice-secret");
        move || {
            let consumer: BaseConsumer = config
                .clone()
                .set("group.id", "g")
                .set("auto.offset.reset", "earliest")
                .create()
                .expect("consumer");
            consumer.subscribe(&["rd-sasl"]).expect("subscribe");
            let mut values = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while values.len() < 3 && std::time::Instant::now() < deadline {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                    values.push(
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    );
                }
            }
            values
        }
    })
    .await
    .expect("consumer task");
    assert_eq!(values, ["v0", "v1", "v2"]);

    let refused = tokio::task::spawn_blocking(move || {
        let producer: rdkafka::producer::BaseProducer = client("wrong").create().expect("producer");
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(5))
            .err()
            .map(|e| e.to_string())
    })
    .await
    .expect("task");
    assert!(refused.is_some(), "metadata with a wrong password");
    broker.shutdown().await.expect("shutdown");
}

/// SASL_SSL: TLS first (the test CA's server certificate), then PLAIN inside it.
#[tokio::test]
async fn sasl_ssl_authenticates_inside_tls() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig as TlsConfig, RootCertStore};

    let fixtures = certs::dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         ssl.keystore.type=PEM\nssl.keystore.location={}/server.pem\n\
         sasl.enabled.mechanisms=PLAIN\n{}",
        fixtures.display(),
        JAAS.replace("sasl_plaintext", "sasl_ssl")
    );
    let parsed = Config::from_properties(&parse_properties(&text)).expect("config");
    let mut builder = rafka::BrokerBuilder::for_tests(dir.path());
    builder.config_mut().listeners = parsed.listeners;
    let broker = builder.start().await.expect("starts");

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixtures.join("ca.pem")).expect("ca") {
        roots.add(cert.expect("ca cert")).expect("root");
    }
    let config = TlsConfig::builder_with_provider(Arc::new(rafka::security::tls::ring_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(broker.listener_addr("SASL_SSL").expect("listener"))
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let mut c = Client::over(tls);
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
    let auth = authenticate(&mut c, 2, plain_token("admin", "admin-secret")).await;
    assert_eq!(auth.error_code, 0);
    assert_eq!(create_topic(&mut c, "over-tls").await, 0);
    broker.shutdown().await.expect("shutdown");
}

const OAUTH: &str = "sasl.enabled.mechanisms=PLAIN,OAUTHBEARER\n\
    listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=\
    org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n";

/// An unsecured token (KIP-255) for `sub`, expiring `exp` (seconds since the epoch).
fn unsecured_token(claims: &str) -> String {
    use base64::Engine;
    let b64 = |j: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j);
    format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(claims))
}

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// OAUTHBEARER with unsecured tokens: a good one logs in (its session ends when the token
/// does), an expired one gets RFC 7628's JSON error as a challenge and fails once
/// acknowledged, as in Kafka.
#[tokio::test]
async fn oauthbearer_takes_unsecured_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (the second sasl.enabled.mechanisms line wins, as in a .properties file)
    let broker = start(dir.path(), OAUTH).await;
    let addr = sasl_addr(&broker);
    let first = |token: &str| Bytes::from(format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}"));

    let mut c = Client::connect(addr).await;
    let hs = handshake(&mut c, 1, "OAUTHBEARER").await;
    assert_eq!(hs.error_code, 0);
    assert_eq!(
        hs.mechanisms,
        vec![
            StrBytes::from_static_str("PLAIN"),
            StrBytes::from_static_str("OAUTHBEARER")
        ]
    );
    let exp = epoch_seconds() + 3600;
    let token = unsecured_token(&format!(r#"{{"sub":"carol","exp":{exp}}}"#));
    let auth = authenticate(&mut c, 2, first(&token)).await;
    assert_eq!(auth.error_code, 0, "{:?}", auth.error_message);
    // the session lasts until the token expires (give or take the test's own seconds)
    assert!(
        (3_590_000..=3_600_000).contains(&auth.session_lifetime_ms),
        "{}",
        auth.session_lifetime_ms
    );
    assert_eq!(create_topic(&mut c, "by-token").await, 0);

    let mut c = Client::connect(addr).await;
    assert_eq!(handshake(&mut c, 1, "OAUTHBEARER").await.error_code, 0);
    let expired = unsecured_token(r#"{"sub":"carol","exp":1600000000}"#);
    let challenge = authenticate(&mut c, 2, first(&expired)).await;
    assert_eq!(challenge.error_code, 0);
    assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let failed = authenticate(&mut c, 2, Bytes::from_static(&[1])).await;
    assert_eq!(failed.error_code, 58);
    assert_eq!(
        failed.error_message.as_deref(),
        Some(r#"{"status":"invalid_token"}"#)
    );
    assert!(c.is_closed_by_broker().await);
    broker.shutdown().await.expect("shutdown");
}

// ------------------------------------------------------------------- SCRAM (part 3)

const SCRAM_JAAS: &str = "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
    listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=\
    org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
    listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
    org.apache.kafka.common.security.scram.ScramLoginModule required;\n";

/// An upsertion as Kafka's admin client makes it: the password salted on the client side.
fn upsertion(
    user: &str,
    mechanism: rafka::security::ScramMechanism,
    password: &str,
    iterations: i32,
) -> alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let salt = format!("salt-of-{user}-{mechanism}").into_bytes();
    let salted = mechanism
        .salted_password(password.as_bytes(), &salt, iterations)
        .expect("iterations");
    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.into()))
        .with_mechanism(mechanism.type_code())
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted))
}

fn deletion(
    user: &str,
    mechanism: rafka::security::ScramMechanism,
) -> alter_user_scram_credentials_request::ScramCredentialDeletion {
    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
        .with_name(StrBytes::from_string(user.into()))
        .with_mechanism(mechanism.type_code())
}

async fn alter_scram(
    addr: SocketAddr,
    upsertions: Vec<alter_user_scram_credentials_request::ScramCredentialUpsertion>,
    deletions: Vec<alter_user_scram_credentials_request::ScramCredentialDeletion>,
) -> Vec<(String, i16)> {
    let mut c = Client::connect(addr).await;
    let resp: AlterUserScramCredentialsResponse = c
        .call(
            ApiKey::AlterUserScramCredentials,
            0,
            &AlterUserScramCredentialsRequest::default()
                .with_upsertions(upsertions)
                .with_deletions(deletions),
        )
        .await;
    resp.results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

/// (user, error code, [(mechanism, iterations)]) of every user with a credential.
async fn describe_scram(addr: SocketAddr) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let mut c = Client::connect(addr).await;
    let resp: DescribeUserScramCredentialsResponse = c
        .call(
            ApiKey::DescribeUserScramCredentials,
            0,
            &DescribeUserScramCredentialsRequest::default().with_users(None),
        )
        .await;
    resp.results
        .iter()
        .map(|r| {
            let creds = r
                .credential_infos
                .iter()
                .map(|i| (i.mechanism, i.iterations))
                .collect();
            (r.user.to_string(), r.error_code, creds)
        })
        .collect()
}

/// Logs in on `addr` with SCRAM with Rafka's own client side of RFC 5802 (what a broker
/// logs in to another with; the server side is checked against RFC 7677's vector, and
/// kcat, the Java clients, confluent-kafka and kafka-python log in with SCRAM in
/// `compat-tests/tls.sh`), checks the server's signature, then asks for metadata as the
/// user: whether all of it worked.
async fn scram_login(addr: String, mechanism: &'static str, user: &str, password: &str) -> bool {
    use rafka::security::scram::ScramClient;
    use rafka::security::ScramMechanism;
    let m = ScramMechanism::from_name(mechanism).expect("a SCRAM mechanism");
    let mut c = Client::connect(addr.parse().expect("address")).await;
    if handshake(&mut c, 1, mechanism).await.error_code != 0 {
        return false;
    }
    let mut scram = ScramClient::new(m, user, password).expect("a nonce");
    let first = authenticate(&mut c, 2, Bytes::from(scram.first_message())).await;
    if first.error_code != 0 {
        return false;
    }
    let last = scram
        .final_message(&first.auth_bytes)
        .expect("a server-first message extending the client's nonce");
    let done = authenticate(&mut c, 2, Bytes::from(last)).await;
    if done.error_code != 0 {
        return false;
    }
    scram
        .verify_final(&done.auth_bytes)
        .expect("the server proves it holds the credential");
    let md: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    !md.brokers.is_empty()
}

/// SCRAM on a single node: credentials set and removed with AlterUserScramCredentials (as
/// `kafka-configs` sends it), described without their keys, kept across a restart; a
/// client logs in with each mechanism only with the right password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_users_are_set_over_the_admin_api_and_log_in() {
    use rafka::security::ScramMechanism::{Sha256, Sha512};
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start(dir.path(), SCRAM_JAAS).await;
    let admin = broker.kafka_addr();
    let results = alter_scram(
        admin,
        vec![
            upsertion("carol", Sha512, "carol-secret", 4096),
            upsertion("dave", Sha256, "dave-secret", 8192),
            upsertion("weak", Sha256, "pw", 1000),
        ],
        vec![deletion("nobody", Sha512)],
    )
    .await;
    assert_eq!(
        results,
        [
            ("carol".to_string(), 0),
            ("dave".to_string(), 0),
            ("nobody".to_string(), 91), // RESOURCE_NOT_FOUND
            ("weak".to_string(), 93),   // UNACCEPTABLE_CREDENTIAL
        ]
    );
    assert_eq!(
        describe_scram(admin).await,
        [
            ("carol".to_string(), 0, vec![(2, 4096)]),
            ("dave".to_string(), 0, vec![(1, 8192)]),
        ]
    );
    let sasl = sasl_addr(&broker).to_string();
    assert!(scram_login(sasl.clone(), "SCRAM-SHA-512", "carol", "carol-secret").await);
    assert!(scram_login(sasl.clone(), "SCRAM-SHA-256", "dave", "dave-secret").await);
    assert!(!scram_login(sasl.clone(), "SCRAM-SHA-512", "carol", "carol-wrong").await);
    assert!(
        !scram_login(sasl.clone(), "SCRAM-SHA-256", "carol", "carol-secret").await,
        "carol has no SCRAM-SHA-256 credential"
    );
    assert!(!scram_login(sasl, "SCRAM-SHA-512", "erin", "x").await);

    // kept across a restart; a removed credential no longer logs in
    broker.shutdown().await.expect("shutdown");
    let broker = start(dir.path(), SCRAM_JAAS).await;
    let sasl = sasl_addr(&broker).to_string();
    assert!(scram_login(sasl.clone(), "SCRAM-SHA-512", "carol", "carol-secret").await);
    let results = alter_scram(broker.kafka_addr(), vec![], vec![deletion("carol", Sha512)]).await;
    assert_eq!(results, [("carol".to_string(), 0)]);
    assert!(!scram_login(sasl, "SCRAM-SHA-512", "carol", "carol-secret").await);
    assert_eq!(describe_scram(broker.kafka_addr()).await.len(), 1);
    broker.shutdown().await.expect("shutdown");
}

/// SCRAM in a cluster: a credential set through one broker is committed by the controller
/// quorum and logs in on every broker (each answers from its own metadata image).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_replicated_with_the_cluster_metadata() {
    use rafka::security::ScramMechanism::Sha512;
    let dir = tempfile::tempdir().expect("tempdir");
    let props = parse_properties(&format!(
        "listeners=SASL_PLAINTEXT://127.0.0.1:0\n{SCRAM_JAAS}{JAAS}"
    ));
    let sasl = Config::from_properties(&props)
        .expect("config")
        .listeners
        .remove(0);
    let cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(move |_, config| config.listeners.push(sasl.clone()))
        .start()
        .await
        .expect("cluster starts");
    let node = |id: i32| cluster.node(id).expect("node");
    // every broker registered and unfenced (Metadata lists live brokers only)
    for id in cluster.ids() {
        let mut c = Client::connect(node(id).kafka_addr()).await;
        let mut live = 0;
        for _ in 0..200 {
            let md: MetadataResponse = c
                .call(
                    ApiKey::Metadata,
                    12,
                    &MetadataRequest::default().with_topics(None),
                )
                .await;
            live = md.brokers.len();
            if live == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(live, 3, "node {id} lists every broker");
    }
    let results = alter_scram(
        node(1).kafka_addr(),
        vec![upsertion("carol", Sha512, "carol-secret", 4096)],
        vec![],
    )
    .await;
    assert_eq!(results, [("carol".to_string(), 0)]);
    for id in cluster.ids() {
        // the answer waited for the node that was asked; the others follow the log
        let addr = node(id).kafka_addr();
        let mut described = Vec::new();
        for _ in 0..100 {
            described = describe_scram(addr).await;
            if !described.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            described,
            [("carol".to_string(), 0, vec![(2, 4096)])],
            "node {id}"
        );
        let bootstrap = node(id)
            .listener_addr("SASL_PLAINTEXT")
            .expect("SASL listener")
            .to_string();
        assert!(
            scram_login(bootstrap.clone(), "SCRAM-SHA-512", "carol", "carol-secret").await,
            "node {id}"
        );
        assert!(!scram_login(bootstrap, "SCRAM-SHA-512", "carol", "wrong").await);
    }
    cluster.shutdown().await;
}

// -------------------------------------------------------------------- ACLs (part 4)

/// A broker with PLAINTEXT and SASL_PLAINTEXT (PLAIN: admin, alice, bob) listeners and
/// Kafka's StandardAuthorizer, admin its super user.
async fn start_with_acls(data: &Path) -> BrokerHandle {
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
         sasl.enabled.mechanisms=PLAIN\n{JAAS}\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:admin\n"
    );
    let parsed = Config::from_properties(&parse_properties(&text)).expect("config");
    let mut builder = rafka::BrokerBuilder::for_tests(data);
    builder.config_mut().listeners = parsed.listeners;
    builder.config_mut().authorizer = parsed.authorizer;
    builder.start().await.expect("starts")
}

/// (resource type, name, pattern, principal, operation, permission) as wire codes.
type AclSpec = (i8, &'static str, i8, &'static str, i8, i8);

fn creation(a: AclSpec) -> create_acls_request::AclCreation {
    create_acls_request::AclCreation::default()
        .with_resource_type(a.0)
        .with_resource_name(StrBytes::from_static_str(a.1))
        .with_resource_pattern_type(a.2)
        .with_principal(StrBytes::from_static_str(a.3))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(a.4)
        .with_permission_type(a.5)
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;

/// DescribeAcls of every ACL (null strings: any).
fn describe_all_acls() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1)
}

/// Metadata for `topics` (`None`: all) as the logged-in client: (name, error code).
async fn topics_seen(c: &mut Client, topics: Option<&[&str]>) -> Vec<(String, i16)> {
    let req = MetadataRequest::default().with_topics(topics.map(|ts| {
        ts.iter()
            .map(|t| {
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
            })
            .collect()
    }));
    let md: MetadataResponse = c.call(ApiKey::Metadata, 12, &req).await;
    let mut seen: Vec<(String, i16)> = md
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (name, t.error_code)
        })
        .collect();
    seen.sort();
    seen
}

/// Kafka's StandardAuthorizer on a single node: ACLs made, listed and removed by the super
/// user over the ACL APIs (refused to others), kept across a restart, and enforced on
/// Metadata, Produce and the group APIs through real clients, and on every other API with
/// Kafka's error codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_managed_by_super_users_and_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_with_acls(dir.path()).await;
    let addr = sasl_addr(&broker);
    let mut admin = login(addr, "admin", "admin-secret").await;
    for t in ["orders", "secret"] {
        assert_eq!(create_topic(&mut admin, t).await, 0, "{t}");
    }
    // alice may do nothing yet: the topics are hidden, a named one is denied
    let mut alice = login(addr, "alice", "alice-secret").await;
    assert!(topics_seen(&mut alice, None).await.is_empty());
    assert_eq!(
        topics_seen(&mut alice, Some(&["secret"])).await,
        [("secret".to_string(), 29)]
    );
    // alice may not make ACLs
    let create = CreateAclsRequest::default().with_creations(vec![creation((
        TOPIC,
        "secret",
        LITERAL,
        "User:alice",
        READ,
        ALLOW,
    ))]);
    let denied: CreateAclsResponse = alice.call(ApiKey::CreateAcls, 3, &create).await;
    assert_eq!(denied.results[0].error_code, 31);
    // admin lets alice write and read "orders" (prefix "ord"), in group "g"
    let create = CreateAclsRequest::default().with_creations(vec![
        creation((TOPIC, "ord", PREFIXED, "User:alice", WRITE, ALLOW)),
        creation((TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW)),
        creation((GROUP, "g", LITERAL, "User:alice", READ, ALLOW)),
        creation((TOPIC, "x", LITERAL, "alice", READ, ALLOW)),
    ]);
    let made: CreateAclsResponse = admin.call(ApiKey::CreateAcls, 3, &create).await;
    let codes: Vec<i16> = made.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [0, 0, 0, 42],
        "a principal without its type is refused"
    );
    let listed: DescribeAclsResponse = admin
        .call(ApiKey::DescribeAcls, 3, &describe_all_acls())
        .await;
    assert_eq!(listed.error_code, 0);
    let count: usize = listed.resources.iter().map(|r| r.acls.len()).sum();
    assert_eq!(count, 3);
    let not_admin: DescribeAclsResponse = alice
        .call(ApiKey::DescribeAcls, 3, &describe_all_acls())
        .await;
    assert_eq!(not_admin.error_code, 31);
    // WRITE and READ imply DESCRIBE: alice now sees "orders", still not "secret"
    assert_eq!(
        topics_seen(&mut alice, None).await,
        [("orders".to_string(), 0)]
    );

    // librdkafka as alice: produce to "orders" works, to "secret" is refused; a consumer
    // in group "g" reads, one in group "h" is refused
    let bootstrap = addr.to_string();
    let client = move |group: Option<&str>| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap)
            .set("security.protocol", "sasl_plaintext")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", "alice")
            .set("sasl.password", "alice-secret")
            .set("message.timeout.ms", "10000");
        if let Some(g) = group {
            c.set("group.id", g).set("auto.offset.reset", "earliest");
        }
        c
    };
    let producer: FutureProducer = client(None).create().expect("producer");
    producer
        .send(
            FutureRecord::to("orders").key("k").payload("o1"),
            Duration::from_secs(10),
        )
        .await
        .expect("allowed");
    let refused = producer
        .send(
            FutureRecord::to("secret").key("k").payload("s1"),
            Duration::from_secs(10),
        )
        .await
        .expect_err("denied");
    assert!(
        refused.0.to_string().contains("Authorization"),
        "{}",
        refused.0
    );
    let consume = |group: &'static str| {
        let config = client(Some(group));
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create().expect("consumer");
            consumer.subscribe(&["orders"]).expect("subscribe");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        return Ok(
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
                        )
                    }
                    Some(Err(e)) => return Err(e.to_string()),
                    None => {}
                }
            }
            Err("nothing read".to_string())
        })
    };
    assert_eq!(consume("g").await.expect("task"), Ok("o1".to_string()));
    let other = consume("h").await.expect("task");
    assert!(
        other.as_ref().is_err_and(|e| e.contains("uthoriz")),
        "group h: {other:?}"
    );

    // every other API checks what Kafka checks, with Kafka's codes
    every_api_is_authorized(&mut admin, &mut alice).await;

    // kept across a restart; then removed, and alice is refused again
    drop((admin, alice));
    broker.shutdown().await.expect("shutdown");
    let broker = start_with_acls(dir.path()).await;
    let addr = sasl_addr(&broker);
    let mut alice = login(addr, "alice", "alice-secret").await;
    assert_eq!(
        topics_seen(&mut alice, None).await,
        [("orders".to_string(), 0)]
    );
    let mut admin = login(addr, "admin", "admin-secret").await;
    let delete = DeleteAclsRequest::default().with_filters(vec![
        delete_acls_request::DeleteAclsFilter::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(1)
            .with_principal_filter(Some(StrBytes::from_static_str("User:alice")))
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    ]);
    let gone: DeleteAclsResponse = admin.call(ApiKey::DeleteAcls, 3, &delete).await;
    assert_eq!(gone.filter_results[0].matching_acls.len(), 3);
    assert!(topics_seen(&mut alice, None).await.is_empty());
    broker.shutdown().await.expect("shutdown");
}

fn name(s: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(s))
}

/// IncrementalAlterConfigs of topic orders' retention.ms, the key named `times` times: its
/// error code.
async fn alter_retention(c: &mut Client, times: usize) -> i16 {
    let set = incremental_alter_configs_request::AlterableConfig::default()
        .with_name(StrBytes::from_static_str("retention.ms"))
        .with_value(Some(StrBytes::from_static_str("1000")));
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("orders"))
            .with_configs(vec![set; times]),
    ]);
    let r: IncrementalAlterConfigsResponse =
        c.call(ApiKey::IncrementalAlterConfigs, 1, &alter).await;
    r.responses[0].error_code
}

/// The ACL checks of the admin, config, transaction and group APIs, as alice (READ and
/// WRITE on topic orders, READ on group g) and as admin (a super user).
async fn every_api_is_authorized(admin: &mut Client, alice: &mut Client) {
    // configs: READ/WRITE do not imply DESCRIBE_CONFIGS or ALTER_CONFIGS
    let describe_configs = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("orders")),
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("")),
    ]);
    let ok: DescribeConfigsResponse = admin
        .call(ApiKey::DescribeConfigs, 4, &describe_configs)
        .await;
    assert_eq!(ok.results[0].error_code, 0);
    let denied: DescribeConfigsResponse = alice
        .call(ApiKey::DescribeConfigs, 4, &describe_configs)
        .await;
    let codes: Vec<i16> = denied.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [29, 31]);
    assert_eq!(alter_retention(alice, 1).await, 29);
    assert_eq!(alter_retention(alice, 2).await, 42);

    // topics: ALTER, DELETE and READ on the topic
    let grow = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(name("orders"))
            .with_count(2),
    ]);
    let r: CreatePartitionsResponse = alice.call(ApiKey::CreatePartitions, 3, &grow).await;
    assert_eq!(r.results[0].error_code, 29);
    let delete = DeleteRecordsRequest::default().with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(name("orders"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(-1),
            ]),
    ]);
    let r: DeleteRecordsResponse = alice.call(ApiKey::DeleteRecords, 2, &delete).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 29);
    assert_eq!(r.topics[0].partitions[0].low_watermark, -1);
    let producers = DescribeProducersRequest::default().with_topics(
        ["orders", "secret"]
            .map(|t| {
                describe_producers_request::TopicRequest::default()
                    .with_name(name(t))
                    .with_partition_indexes(vec![0])
            })
            .to_vec(),
    );
    let r: DescribeProducersResponse = alice.call(ApiKey::DescribeProducers, 0, &producers).await;
    let codes: Vec<i16> = r
        .topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    assert_eq!(codes, [0, 29]);
    // DescribeTopicPartitions: the refused topic last, no id; operations as a bit field
    let described = DescribeTopicPartitionsRequest::default()
        .with_response_partition_limit(100)
        .with_topics(
            ["secret", "orders"]
                .map(|t| {
                    describe_topic_partitions_request::TopicRequest::default().with_name(name(t))
                })
                .to_vec(),
        );
    let r: DescribeTopicPartitionsResponse = alice
        .call(ApiKey::DescribeTopicPartitions, 0, &described)
        .await;
    let seen: Vec<(String, i16, i32)> = r
        .topics
        .iter()
        .map(|t| {
            let n = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (n, t.error_code, t.topic_authorized_operations)
        })
        .collect();
    let read_write_describe = (1 << 3) | (1 << 4) | (1 << 8);
    assert_eq!(
        seen,
        [
            ("orders".to_string(), 0, read_write_describe),
            ("secret".to_string(), 29, i32::MIN)
        ]
    );
    assert!(r.topics[1].topic_id.is_nil());
    let r: DescribeTopicPartitionsResponse = admin
        .call(ApiKey::DescribeTopicPartitions, 0, &described)
        .await;
    assert!(r
        .topics
        .iter()
        .all(|t| t.topic_authorized_operations == 3576));

    // the cluster: DESCRIBE or ALTER on it
    let r: DescribeLogDirsResponse = alice
        .call(
            ApiKey::DescribeLogDirs,
            4,
            &DescribeLogDirsRequest::default().with_topics(None),
        )
        .await;
    assert_eq!((r.error_code, r.results.len()), (31, 0));
    let elect = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
        elect_leaders_request::TopicPartitions::default()
            .with_topic(name("orders"))
            .with_partitions(vec![0]),
    ]));
    let r: ElectLeadersResponse = alice.call(ApiKey::ElectLeaders, 2, &elect).await;
    assert_eq!(r.error_code, 31);
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        31
    );
    let r: ListPartitionReassignmentsResponse = alice
        .call(
            ApiKey::ListPartitionReassignments,
            0,
            &ListPartitionReassignmentsRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.error_code, 31);
    let cluster_ops = |with: bool| {
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(with)
    };
    let r: DescribeClusterResponse = alice
        .call(ApiKey::DescribeCluster, 1, &cluster_ops(true))
        .await;
    assert_eq!(
        r.cluster_authorized_operations, 0,
        "no DESCRIBE on the cluster"
    );
    let r: DescribeClusterResponse = admin
        .call(ApiKey::DescribeCluster, 1, &cluster_ops(true))
        .await;
    assert_eq!(r.cluster_authorized_operations, 8096);

    // groups: DELETE to delete it or its offsets; operations as a bit field
    let r: DeleteGroupsResponse = alice
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_static_str("g"))]),
        )
        .await;
    assert_eq!(r.results[0].error_code, 30);
    let offsets = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default(),
                ]),
        ]);
    let r: OffsetDeleteResponse = alice.call(ApiKey::OffsetDelete, 0, &offsets).await;
    assert_eq!(r.error_code, 30);
    let groups = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_static_str("g"))])
        .with_include_authorized_operations(true);
    let r: DescribeGroupsResponse = alice.call(ApiKey::DescribeGroups, 5, &groups).await;
    assert_eq!(r.groups[0].authorized_operations, (1 << 3) | (1 << 8));

    // transactions: WRITE or DESCRIBE on the transactional id
    let tid = || TransactionalId(StrBytes::from_static_str("t1"));
    let end = EndTxnRequest::default().with_transactional_id(tid());
    let r: EndTxnResponse = alice.call(ApiKey::EndTxn, 4, &end).await;
    assert_eq!(r.error_code, 53);
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid())
        .with_group_id(GroupId(StrBytes::from_static_str("g")));
    let r: AddOffsetsToTxnResponse = alice.call(ApiKey::AddOffsetsToTxn, 3, &add).await;
    assert_eq!(r.error_code, 53);
    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id(tid())
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_topics(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
                ]),
        ]);
    let r: TxnOffsetCommitResponse = alice.call(ApiKey::TxnOffsetCommit, 3, &commit).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 53);
    let r: DescribeTransactionsResponse = alice
        .call(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![tid()]),
        )
        .await;
    assert_eq!(r.transaction_states[0].error_code, 53);
    let markers = WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default().with_topics(vec![
            write_txn_markers_request::WritableTxnMarkerTopic::default()
                .with_name(name("orders"))
                .with_partition_indexes(vec![0]),
        ]),
    ]);
    let r: WriteTxnMarkersResponse = alice.call(ApiKey::WriteTxnMarkers, 1, &markers).await;
    assert_eq!(r.markers[0].topics[0].partitions[0].error_code, 31);
}

/// ACLs in a cluster: made through one broker, committed by the controller quorum, and
/// enforced by every broker from its own metadata image; removed through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_replicated_with_the_cluster_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = parse_properties(&format!(
        "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n{JAAS}\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:admin;User:ANONYMOUS\n"
    ));
    let parsed = Config::from_properties(&props).expect("config");
    let (sasl, authorizer) = (parsed.listeners[0].clone(), parsed.authorizer);
    let cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(move |_, config| {
            // brokers fetch from each other over PLAINTEXT as User:ANONYMOUS, a super user
            config.listeners.push(sasl.clone());
            config.authorizer = authorizer.clone();
        })
        .start()
        .await
        .expect("cluster starts");
    let node = |id: i32| sasl_addr_of(&cluster, id);
    let mut admin = login(node(1), "admin", "admin-secret").await;
    let mut created = -1;
    for _ in 0..100 {
        created = create_topic(&mut admin, "orders").await;
        if created == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created, 0, "topic created");
    let mut alice = login(node(3), "alice", "alice-secret").await;
    let mut seen = Vec::new();
    let described = CreateAclsRequest::default().with_creations(vec![creation((
        TOPIC,
        "orders",
        LITERAL,
        "User:alice",
        DESCRIBE,
        ALLOW,
    ))]);
    let made: CreateAclsResponse = admin.call(ApiKey::CreateAcls, 3, &described).await;
    assert_eq!(made.results[0].error_code, 0);
    for _ in 0..100 {
        seen = topics_seen(&mut alice, None).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        [("orders".to_string(), 0)],
        "node 3 enforces node 1's ACL"
    );
    // config changes are authorized before they are forwarded, a key named twice included
    assert_eq!(alter_retention(&mut alice, 1).await, 29);
    assert_eq!(
        alter_retention(&mut alice, 2).await,
        42,
        "refused, not forwarded"
    );
    let mut admin2 = login(node(2), "admin", "admin-secret").await;
    let delete = DeleteAclsRequest::default().with_filters(vec![
        delete_acls_request::DeleteAclsFilter::default()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(StrBytes::from_static_str("orders")))
            .with_pattern_type_filter(LITERAL)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    ]);
    let gone: DeleteAclsResponse = admin2.call(ApiKey::DeleteAcls, 3, &delete).await;
    assert_eq!(gone.filter_results[0].matching_acls.len(), 1);
    for _ in 0..100 {
        seen = topics_seen(&mut alice, None).await;
        if seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.is_empty(), "the ACL is gone on node 3 too: {seen:?}");
    cluster.shutdown().await;
}

/// Brokers replicate over a SASL_SSL inter-broker listener, as Kafka's do with
/// `inter.broker.listener.name` and `sasl.mechanism.inter.broker.protocol`: each checks
/// the other's certificate against the listener's truststore and logs in with PLAIN as
/// the user of the listener's JAAS entry (admin, the one super user). `User:ANONYMOUS` is
/// no super user here, so followers fetching over PLAINTEXT would be refused, and a topic
/// whose every replica must be in sync could take no write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_replicate_over_a_sasl_ssl_inter_broker_listener() {
    let fixtures = certs::dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let props = parse_properties(&format!(
        "listeners=SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         inter.broker.listener.name=SASL_SSL\n\
         sasl.mechanism.inter.broker.protocol=PLAIN\n\
         listener.name.sasl_ssl.ssl.keystore.type=PEM\n\
         listener.name.sasl_ssl.ssl.keystore.location={f}/server.pem\n\
         listener.name.sasl_ssl.ssl.truststore.type=PEM\n\
         listener.name.sasl_ssl.ssl.truststore.location={f}/ca.pem\n\
         sasl.enabled.mechanisms=PLAIN\n{JAAS}{ssl_jaas}\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:admin\n",
        f = fixtures.display(),
        ssl_jaas = JAAS.replace("sasl_plaintext", "sasl_ssl"),
    ));
    let parsed = Config::from_properties(&props).expect("config");
    assert_eq!(
        parsed.inter_broker_sasl_mechanism,
        Some(rafka::config::SaslMechanism::Plain)
    );
    let cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(move |_, config| {
            config.listeners.extend(parsed.listeners.iter().cloned());
            config.inter_broker_listener_name = Some("SASL_SSL".into());
            config.inter_broker_sasl_mechanism = parsed.inter_broker_sasl_mechanism;
            config.authorizer = parsed.authorizer.clone();
        })
        .start()
        .await
        .expect("cluster starts");
    let node = |id: i32| sasl_addr_of(&cluster, id);
    let mut admin = login(node(1), "admin", "admin-secret").await;
    let create = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("replicated")))
            .with_num_partitions(1)
            .with_replication_factor(3)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("min.insync.replicas"))
                    .with_value(Some(StrBytes::from_static_str("3"))),
            ])])
        .with_timeout_ms(5000);
    let mut created = -1;
    for _ in 0..100 {
        let r: CreateTopicsResponse = admin.call(ApiKey::CreateTopics, 7, &create).await;
        created = r.topics[0].error_code;
        if created == 0 || created == 36 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created == 0 || created == 36, "topic created: {created}");

    // acks=all with min.insync.replicas=3: acknowledged only once both followers have
    // fetched the record over SASL_SSL
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", node(2).to_string())
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", "admin")
        .set("sasl.password", "admin-secret")
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for i in 0..5 {
        producer
            .send(
                FutureRecord::to("replicated")
                    .key("k")
                    .payload(&format!("r{i}")),
                Duration::from_secs(20),
            )
            .await
            .expect("acknowledged by every replica");
    }
    cluster.shutdown().await;
}

/// Brokers log in to each other with SCRAM-SHA-512 as the user of the inter-broker
/// listener's JAAS entry, once that user's credential is in the metadata (made with
/// AlterUserScramCredentials, as `kafka-configs` makes it): before, a topic whose every
/// replica must be in sync takes no acks=all write; after, replication runs over the SASL
/// listener and it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_log_in_to_each_other_with_scram() {
    use rafka::security::ScramMechanism::Sha512;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker_jaas = SCRAM_JAAS.replace(
        "ScramLoginModule required;",
        "ScramLoginModule required username=\"broker\" password=\"broker-secret\";",
    );
    let props = parse_properties(&format!(
        "listeners=SASL_PLAINTEXT://127.0.0.1:0\n{broker_jaas}{JAAS}\
         sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"
    ));
    let parsed = Config::from_properties(&props).expect("config");
    let cluster = rafka::ClusterBuilder::new(3, dir.path())
        .configure(move |_, config| {
            config.listeners.extend(parsed.listeners.iter().cloned());
            config.inter_broker_listener_name = Some("SASL_PLAINTEXT".into());
            config.inter_broker_sasl_mechanism = parsed.inter_broker_sasl_mechanism;
        })
        .start()
        .await
        .expect("cluster starts");
    let plaintext = cluster.node(1).expect("node").kafka_addr();
    let mut admin = Client::connect(plaintext).await;
    let create = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("replicated")))
            .with_num_partitions(1)
            .with_replication_factor(3)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("min.insync.replicas"))
                    .with_value(Some(StrBytes::from_static_str("3"))),
            ])])
        .with_timeout_ms(5000);
    // (until every broker has registered)
    let mut created = -1;
    for _ in 0..100 {
        let r: CreateTopicsResponse = admin.call(ApiKey::CreateTopics, 7, &create).await;
        created = r.topics[0].error_code;
        if created == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created, 0, "topic created");
    let producer = |timeout_ms: &str| -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", plaintext.to_string())
            .set("acks", "all")
            .set("message.timeout.ms", timeout_ms)
            .create()
            .expect("producer")
    };
    let send = |p: FutureProducer| async move {
        let record = FutureRecord::to("replicated").key("k").payload("r");
        p.send(record, Duration::from_secs(20)).await.map(|_| ())
    };
    // no credential for the brokers' user yet: the followers cannot log in, so no write
    // is acknowledged by every replica
    assert!(send(producer("3000")).await.is_err(), "not replicated");
    let made = alter_scram(
        plaintext,
        vec![upsertion("broker", Sha512, "broker-secret", 4096)],
        vec![],
    )
    .await;
    assert_eq!(made, [("broker".to_string(), 0)]);
    send(producer("20000"))
        .await
        .expect("acknowledged by every replica");
    cluster.shutdown().await;
}
