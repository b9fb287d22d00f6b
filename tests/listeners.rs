//! Listeners as Kafka configures them: `listeners` as a list of `NAME://host:port`,
//! `listener.security.protocol.map`, `advertised.listeners` per listener; and a broker
//! serving Kafka clients on two listeners at once.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka::config::{
    parse_properties, Config, ConfigError, ListenerConfig, SecurityProtocol, ServeArgs,
};
use rafka::server::ServerError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use support::{batch, Client};

fn config(text: &str) -> Result<Config, ConfigError> {
    Config::from_properties(&parse_properties(text))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn advertised(host: &str, port: u16) -> (String, u16) {
    (host.to_string(), port)
}

/// The reason of an `Invalid` error, for checking that it says what is wrong.
fn reason(text: &str) -> String {
    match config(text) {
        Err(ConfigError::Invalid { key, reason, .. }) => format!("{key}: {reason}"),
        other => panic!("{text:?}: expected an invalid value, got {other:?}"),
    }
}

/// The text listener's default is 9192, not 9093 (Kafka's CONTROLLER port in its sample
/// configurations).
#[test]
fn defaults_are_one_plaintext_listener_on_9092_and_text_on_9192() {
    let c = config("").expect("valid");
    assert_eq!(
        c.listeners,
        [ListenerConfig {
            name: "PLAINTEXT".into(),
            security_protocol: SecurityProtocol::Plaintext,
            addr: addr("127.0.0.1:9092"),
            advertised: advertised("127.0.0.1", 9092),
            ssl: None,
            sasl: None,
        }]
    );
    assert_eq!(c.listeners[0].advertised, advertised("127.0.0.1", 9092));
    assert_eq!(c.text_listener, addr("127.0.0.1:9192"));
    // Kafka's default: the listener named after security.inter.broker.protocol (PLAINTEXT)
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
    assert!(c.cluster.controller_listener_names.is_empty());
    assert!(c.cluster.controller_listeners.is_empty());
}

#[test]
fn a_list_of_listeners_with_a_security_protocol_map_and_advertised_listeners() {
    let c = config(
        "listeners=PLAINTEXT://127.0.0.1:9092,internal://127.0.0.1:9095,EXTERNAL://:9096\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:plaintext,EXTERNAL:PLAINTEXT\n\
         advertised.listeners=EXTERNAL://kafka.example.com:19096,INTERNAL://10.0.0.5:9095\n\
         inter.broker.listener.name=INTERNAL\n",
    )
    .expect("valid");
    let got: Vec<_> = c
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), l.addr, l.advertised.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "PLAINTEXT",
                addr("127.0.0.1:9092"),
                advertised("127.0.0.1", 9092)
            ),
            // names are case-insensitive (Kafka's ListenerName.normalised)
            (
                "INTERNAL",
                addr("127.0.0.1:9095"),
                advertised("10.0.0.5", 9095)
            ),
            // an empty host binds every interface
            (
                "EXTERNAL",
                addr("0.0.0.0:9096"),
                advertised("kafka.example.com", 19096)
            ),
        ]
    );
    assert!(c
        .listeners
        .iter()
        .all(|l| l.security_protocol == SecurityProtocol::Plaintext));
    assert_eq!(
        c.listeners[0].advertised,
        advertised("127.0.0.1", 9092),
        "the first's"
    );
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("INTERNAL"));
}

#[test]
fn todays_single_listener_forms_still_work() {
    // no NAME:// is PLAINTEXT; an advertised entry without one is the first listener's
    let c = config("listeners=127.0.0.1:19092\nadvertised.listeners=broker.example.com:29092")
        .expect("valid");
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].name, "PLAINTEXT");
    assert_eq!(c.listeners[0].addr, addr("127.0.0.1:19092"));
    assert_eq!(
        c.listeners[0].advertised,
        advertised("broker.example.com", 29092)
    );

    // localhost binds loopback; every interface advertises 127.0.0.1 (Kafka: the host name)
    let c = config("listeners=PLAINTEXT://localhost:19092").expect("valid");
    assert_eq!(c.listeners[0].addr, addr("127.0.0.1:19092"));
    let c = config("listeners=PLAINTEXT://0.0.0.0:19092").expect("valid");
    assert_eq!(c.listeners[0].addr, addr("0.0.0.0:19092"));
    assert_eq!(c.listeners[0].advertised, advertised("127.0.0.1", 19092));
    // an advertised listener with no host: the bound IP, as without an entry
    let c =
        config("listeners=PLAINTEXT://127.0.0.2:19092\nadvertised.listeners=PLAINTEXT://:19093")
            .expect("valid");
    assert_eq!(c.listeners[0].advertised, advertised("127.0.0.2", 19093));
    let c = config("listeners=PLAINTEXT://[::1]:19092").expect("valid");
    assert_eq!(c.listeners[0].addr, addr("[::1]:19092"));
    assert_eq!(c.listeners[0].advertised, advertised("::1", 19092));

    // the flags, as rafka serve --listener / --advertised-listener / --text-listener
    let args = ServeArgs {
        listener: Some("127.0.0.1:19092".into()),
        advertised_listener: Some("PLAINTEXT://broker.example.com:29092".into()),
        text_listener: Some("127.0.0.1:19093".into()),
        ..ServeArgs::default()
    };
    let c = Config::from_args(&args).expect("valid");
    assert_eq!(c.listeners[0].addr, addr("127.0.0.1:19092"));
    assert_eq!(
        c.listeners[0].advertised,
        advertised("broker.example.com", 29092)
    );
    assert_eq!(c.text_listener, addr("127.0.0.1:19093"));
}

/// The configuration compat-tests/kafka-ref.sh gives Apache Kafka (KRaft, combined
/// mode): the controller listener is parsed and kept for the controller, but not bound,
/// there being no quorum yet.
#[test]
fn controller_listeners_are_stored_not_served() {
    let c = config(
        "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.voters=1@127.0.0.1:19093\n\
         listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:19092\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n",
    )
    .expect("valid");
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].name, "PLAINTEXT");
    assert_eq!(c.cluster.controller_listener_names, ["CONTROLLER"]);
    let controller = c.cluster.controller_listener().expect("CONTROLLER");
    assert_eq!(controller.addr, addr("127.0.0.1:19093"));
    assert_eq!(controller.advertised, advertised("127.0.0.1", 19093));
    // a controller listener is not served, so its protocol is not refused either
    let c = config(
        "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:SSL,PLAINTEXT:PLAINTEXT\n",
    );
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn listener_errors() {
    for (text, says) in [
        // Kafka: "No security protocol defined for listener INTERNAL"
        (
            "listeners=PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9095",
            "listener INTERNAL has no security protocol",
        ),
        (
            "listeners=INTERNAL://127.0.0.1:9095\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT",
            "listener INTERNAL has no security protocol",
        ),
        (
            "listeners=PLAINTEXT://127.0.0.1:9092,plaintext://127.0.0.1:9095",
            "listener PLAINTEXT appears twice",
        ),
        (
            "listeners=127.0.0.1:9092,127.0.0.1:9095",
            "listener PLAINTEXT appears twice",
        ),
        (
            "listeners=PLAINTEXT://127.0.0.1:9092,SSL://:9092",
            "listeners PLAINTEXT and SSL have the same port",
        ),
        (
            "listeners=PLAINTEXT://127.0.0.1:9092\n\
             advertised.listeners=PLAINTEXT://a:1,INTERNAL://b:2",
            "INTERNAL is not one of the listeners",
        ),
        (
            "listeners=PLAINTEXT://127.0.0.1:9092\n\
             advertised.listeners=PLAINTEXT://a:1,PLAINTEXT://b:2",
            "listener PLAINTEXT appears twice",
        ),
        // Kafka: "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0"
        (
            "listeners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://0.0.0.0:9092",
            "nonroutable meta-address",
        ),
        (
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:TLS",
            "TLS: not a security protocol",
        ),
        (
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PLAINTEXT:SSL",
            "PLAINTEXT appears twice",
        ),
        (
            "listener.security.protocol.map=PLAINTEXT",
            "expected NAME:PROTOCOL",
        ),
        ("listeners=", "no listener"),
        (
            "listeners=PLAIN TEXT://127.0.0.1:9092",
            "not a listener name",
        ),
        ("listeners=PLAINTEXT://127.0.0.1", "expected host:port"),
        ("listeners=PLAINTEXT://127.0.0.1:99999", "bad port"),
        (
            "listeners=CONTROLLER://127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT",
            "every listener is a controller listener",
        ),
        (
            "inter.broker.listener.name=REPLICATION",
            "not one of the listeners",
        ),
    ] {
        let got = reason(text);
        assert!(got.contains(says), "{text:?}: {got:?} should say {says:?}");
    }
}

/// A SASL listener without its mechanisms and users, or an SSL one without its
/// certificate, is refused with the key to set, never served as plaintext.
#[test]
fn sasl_listeners_and_ssl_ones_without_their_settings_are_refused() {
    for (protocol, key) in [
        (
            "SASL_PLAINTEXT",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
        ),
        ("SASL_SSL", "listener.name.sasl_ssl.ssl.keystore.location"),
    ] {
        let text = format!("listeners=PLAINTEXT://127.0.0.1:9092,{protocol}://127.0.0.1:9093");
        let err = config(&text).expect_err("refused");
        assert!(
            matches!(&err, ConfigError::Missing { key: k, .. } if k == key),
            "{protocol}: {err:?}"
        );
    }
    // mechanisms without their JAAS users
    let err = config(
        "listeners=SASL_PLAINTEXT://127.0.0.1:9093
sasl.enabled.mechanisms=PLAIN",
    )
    .expect_err("refused");
    assert!(
        matches!(&err, ConfigError::Missing { key, .. } if key == "listener.name.sasl_plaintext.plain.sasl.jaas.config"),
        "{err:?}"
    );
    // a listener of another name mapped to SSL, with no keystore
    let err =
        config("listeners=INTERNAL://127.0.0.1:9095\nlistener.security.protocol.map=INTERNAL:SSL")
            .expect_err("refused");
    assert!(
        matches!(&err, ConfigError::Missing { key, .. } if key == "listener.name.internal.ssl.keystore.location"),
        "{err}"
    );
    // in a cluster, brokers fetch from each other over an SSL inter-broker listener only
    // with a truststore to check each other's certificates
    let ssl_cluster = "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.voters=1@127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n\
         listeners=SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
         listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT\n\
         ssl.keystore.type=PEM\nssl.keystore.location=/k.pem";
    let err = config(ssl_cluster).expect_err("refused");
    assert!(err.to_string().contains("ssl.truststore.location"), "{err}");
    config(&format!(
        "{ssl_cluster}\nssl.truststore.type=PEM\nssl.truststore.location=/ca.pem"
    ))
    .expect("an SSL inter-broker listener with a truststore");
    // Kafka's default inter-broker listener is the one named PLAINTEXT
    // (security.inter.broker.protocol's default), wherever it is in the list
    let cluster = "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.voters=1@127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n\
         listeners=SSL://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093\n\
         listener.security.protocol.map=SSL:SSL,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\n";
    let c = config(cluster).expect("PLAINTEXT between brokers");
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
    // security.inter.broker.protocol=SSL picks the listener named SSL, which then needs a
    // truststore
    let err =
        config(&format!("{cluster}security.inter.broker.protocol=SSL\n")).expect_err("refused");
    assert!(err.to_string().contains("truststore"), "{err}");
    let err = config(&format!(
        "{cluster}security.inter.broker.protocol=PLAINTEXT\ninter.broker.listener.name=PLAINTEXT\n"
    ))
    .expect_err("refused");
    assert!(err.to_string().contains("only one of"), "{err}");
}

#[tokio::test]
async fn a_broker_refuses_to_start_a_sasl_listener_built_in_code_without_its_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = rafka::BrokerBuilder::for_tests(dir.path());
    builder.config_mut().listeners.push(ListenerConfig::new(
        "SECURE",
        SecurityProtocol::SaslSsl,
        addr("127.0.0.1:0"),
    ));
    let err = builder.start().await.err().expect("refused");
    assert!(
        matches!(err, ServerError::Config(ConfigError::Missing { .. })),
        "{err:?}"
    );
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A broker with a second PLAINTEXT listener, INTERNAL, both on ephemeral loopback ports.
async fn two_listener_broker() -> (rafka::BrokerHandle, tempfile::TempDir) {
    support::start_broker_with(|c| {
        c.listeners.push(ListenerConfig::new(
            "INTERNAL",
            SecurityProtocol::Plaintext,
            addr("127.0.0.1:0"),
        ));
    })
    .await
}

async fn metadata(at: SocketAddr) -> MetadataResponse {
    let mut c = Client::connect(at).await;
    c.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )
    .await
}

/// Produce on one listener, fetch on the other, both ways, with raw frames: each
/// connection talks only to the listener it was opened on.
#[tokio::test]
async fn both_listeners_serve_produce_and_fetch() {
    let (broker, _dir) = two_listener_broker().await;
    let plaintext = broker.listener_addr("PLAINTEXT").expect("PLAINTEXT");
    let internal = broker.listener_addr("internal").expect("INTERNAL");
    assert_eq!(plaintext, broker.kafka_addr(), "the first is the default");
    assert_ne!(plaintext, internal);
    assert_eq!(broker.listener_addr("EXTERNAL"), None);
    let names: Vec<&str> = broker.listener_addrs().map(|(n, _)| n).collect();
    assert_eq!(names, ["PLAINTEXT", "INTERNAL"]);
    broker
        .broker()
        .create_topic("two-doors", 1, 1, Default::default(), false)
        .expect("topic");

    for (i, (from, to)) in [(plaintext, internal), (internal, plaintext)]
        .into_iter()
        .enumerate()
    {
        let value = format!("via {from}");
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name("two-doors"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[(None, &value)]))),
                ])]);
        let r: ProduceResponse = Client::connect(from)
            .await
            .call(ApiKey::Produce, 9, &produce)
            .await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, i as i64));

        let fetch = FetchRequest::default()
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic_name("two-doors"))
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(i as i64)
                    .with_partition_max_bytes(1 << 20)])]);
        let r: FetchResponse = Client::connect(to)
            .await
            .call(ApiKey::Fetch, 11, &fetch)
            .await;
        let records = r.responses[0].partitions[0]
            .records
            .clone()
            .expect("records");
        let mut decoded = Vec::new();
        for (at, h) in rafka::log::batch::BatchIter::new(&records) {
            let size = h.size().expect("size");
            decoded.extend(
                rafka::log::records::decode_batch(&records[at..at + size]).expect("decode"),
            );
        }
        let record = decoded
            .iter()
            .find(|r| r.offset == i as i64)
            .expect("record");
        assert_eq!(record.value.as_deref(), Some(value.as_bytes()));
    }
    broker.shutdown().await.expect("shutdown");
}

/// librdkafka producing through one listener and consuming through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_produces_on_one_listener_and_consumes_on_the_other() {
    const RECORDS: usize = 1000;
    let (broker, _dir) = two_listener_broker().await;
    broker
        .broker()
        .create_topic("doors", 2, 1, Default::default(), false)
        .expect("topic");
    let plaintext = broker.listener_addr("PLAINTEXT").expect("PLAINTEXT");
    let internal = broker.listener_addr("INTERNAL").expect("INTERNAL");

    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", plaintext.to_string())
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for i in 0..RECORDS {
            let (key, value) = (format!("k{i}"), format!("v{i}"));
            let record = BaseRecord::to("doors")
                .key(&key)
                .payload(&value)
                .partition((i % 2) as i32);
            producer.send(record).map_err(|(e, _)| e).expect("queued");
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("all records acknowledged");
    })
    .await
    .expect("producer thread");

    let consumed = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", internal.to_string())
            .set("group.id", "unused-with-assign")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..2 {
            tpl.add_partition_offset("doors", p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&tpl).expect("assign");
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while values.len() < RECORDS {
            assert!(Instant::now() < deadline, "consumed {}", values.len());
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("no consumer error");
                values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        values
    })
    .await
    .expect("consumer thread");
    let mut want: Vec<String> = (0..RECORDS).map(|i| format!("v{i}")).collect();
    let mut got = consumed;
    want.sort();
    got.sort();
    assert_eq!(got, want);
    broker.shutdown().await.expect("shutdown");
}

/// Metadata through the default listener advertises that listener's address.
#[tokio::test]
async fn metadata_on_the_default_listener_advertises_it() {
    let (broker, _dir) = two_listener_broker().await;
    let md = metadata(broker.kafka_addr()).await;
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].host.as_str(), "127.0.0.1");
    assert_eq!(md.brokers[0].port, i32::from(broker.kafka_addr().port()));
    broker.shutdown().await.expect("shutdown");
}

/// Kafka answers Metadata with the brokers' endpoints for the listener the request came
/// in on, so a client bootstrapped on INTERNAL stays on INTERNAL.
#[tokio::test]
async fn metadata_on_each_listener_advertises_that_listener() {
    let (broker, _dir) = two_listener_broker().await;
    let by_name: BTreeMap<String, SocketAddr> = broker
        .listener_addrs()
        .map(|(n, a)| (n.to_string(), a))
        .collect();
    for (name, at) in by_name {
        let md = metadata(at).await;
        assert_eq!(md.brokers.len(), 1, "{name}");
        assert_eq!(md.brokers[0].port, i32::from(at.port()), "{name}");
    }
    broker.shutdown().await.expect("shutdown");
}
