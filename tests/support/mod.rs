//! Test support: a broker on ephemeral loopback ports in a temp dir, and a raw Kafka
//! client that speaks the protocol with the `kafka-protocol` crate (real frames on a real
//! socket, so tests check exactly the bytes a client would see).
#![allow(dead_code)]

pub mod run;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rafka::{BrokerBuilder, BrokerHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Any byte stream a [`Client`] can speak over (TCP, or TLS over TCP).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// A broker in a temp dir; dropped dir on drop of the tuple's second element.
pub async fn start_broker() -> (BrokerHandle, tempfile::TempDir) {
    start_broker_with(|_| {}).await
}

/// Same, with a chance to adjust the config first.
pub async fn start_broker_with(
    f: impl FnOnce(&mut rafka::config::Config),
) -> (BrokerHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = BrokerBuilder::for_tests(dir.path());
    f(builder.config_mut());
    let handle = builder.start().await.expect("broker starts");
    (handle, dir)
}

/// What [`Client::frame_or_close`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    Frame(Bytes),
    Closed,
    TimedOut,
}

/// A raw Kafka connection.
pub struct Client {
    stream: Box<dyn Stream>,
    next_correlation_id: i32,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        Client::over(TcpStream::connect(addr).await.expect("connect"))
    }

    /// A client on a stream already connected (a TLS one, say).
    pub fn over(stream: impl Stream + 'static) -> Client {
        Client {
            stream: Box::new(stream),
            next_correlation_id: 1,
        }
    }

    /// Writes one request frame (header for `api`/`version`, then `body`); returns its
    /// correlation id.
    pub async fn send<Req: Encodable>(&mut self, api: ApiKey, version: i16, body: &Req) -> i32 {
        let (correlation_id, frame) = self.frame(api, version, body);
        self.send_raw(&frame).await;
        correlation_id
    }

    /// One request frame and its correlation id.
    fn frame<Req: Encodable>(&mut self, api: ApiKey, version: i16, body: &Req) -> (i32, BytesMut) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("rafka-test")));
        let hv = api.request_header_version(version);
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, hv).expect("header encodes");
        body.encode(&mut buf, version).expect("body encodes");
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        (correlation_id, buf)
    }

    /// [`Self::call`] to a broker that may go away (a test that kills it): `None` when
    /// the request cannot be written or no response comes back.
    pub async fn try_call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Option<Resp> {
        let (id, frame) = self.frame(api, version, body);
        self.stream.write_all(&frame).await.ok()?;
        let mut frame = self.recv_frame().await?;
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, id, "responses come back in order");
        Some(Resp::decode(&mut frame, version).expect("response body decodes"))
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response frame; `None` if the broker closed the connection (or nothing
    /// came within 10 s).
    pub async fn recv_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let size = self.stream.read_i32().await.ok()?;
            let mut buf = vec![0u8; usize::try_from(size).ok()?];
            self.stream.read_exact(&mut buf).await.ok()?;
            Some(Bytes::from(buf))
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .ok()
            .flatten()
    }

    /// Reads and decodes the response to a request sent with `api`/`version`.
    pub async fn recv<Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Resp {
        let mut frame = self.recv_frame().await.expect("a response frame");
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .expect("response header");
        assert_eq!(
            header.correlation_id, correlation_id,
            "responses come back in order"
        );
        let resp = Resp::decode(&mut frame, version).expect("response body decodes");
        assert_eq!(frame.remaining(), 0, "no trailing bytes in the response");
        resp
    }

    /// Sends a request and waits for its response.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let id = self.send(api, version, body).await;
        self.recv(api, version, id).await
    }

    /// The next response frame, or whether the broker closed the connection (EOF, a
    /// reset, a TLS alert) or sent nothing within 10 s: a refusal is told from a hang.
    pub async fn frame_or_close(&mut self) -> Received {
        let read = async {
            let size = self.stream.read_i32().await?;
            let mut buf = vec![0u8; usize::try_from(size).unwrap_or(0)];
            self.stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(Bytes::from(buf))
        };
        match tokio::time::timeout(Duration::from_secs(10), read).await {
            Ok(Ok(frame)) => Received::Frame(frame),
            Ok(Err(_)) => Received::Closed,
            Err(_) => Received::TimedOut,
        }
    }

    /// True if the broker closed this connection (reads EOF within 5 s).
    pub async fn is_closed_by_broker(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// An uncompressed batch of `(key, value)` records, ready for a Produce request.
pub fn batch(records: &[(Option<&str>, &str)]) -> Bytes {
    let recs: Vec<rafka::log::records::NewRecord> = records
        .iter()
        .map(|(k, v)| {
            rafka::log::records::NewRecord::new(k.map(str::as_bytes), v.as_bytes())
                .at(rafka::log::now_ms())
        })
        .collect();
    Bytes::from(rafka::log::records::encode_batch(&recs, -1))
}

/// Polls `f` until it is true or `within` passes; the last answer.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// The bytes of every `.log` segment in a partition directory, in offset order: what two
/// replicas must agree on.
pub fn log_bytes(partition_dir: &std::path::Path) -> Vec<u8> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(partition_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap_or_default())
        .collect()
}

/// Produces `values` (no keys, one batch) to `partition` of `topic` with acks=all over
/// Produce v9, and checks that the partition answered without error.
pub async fn produce_values(c: &mut Client, topic: &str, partition: i32, values: &[&str]) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
    let records: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, *v)).collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(&records)))])]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

/// The (min, max) versions a broker advertises per API key, from ApiVersions v3.
pub async fn advertised(c: &mut Client) -> std::collections::HashMap<i16, (i16, i16)> {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    r.api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect()
}

/// Every value of `topic` (all `partitions`) a consumer with `isolation` reads, per
/// partition in offset order, once it has reached the partitions' ends.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> std::collections::BTreeMap<i32, Vec<String>> {
    use rdkafka::consumer::Consumer;
    use rdkafka::Message;
    let c: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("reader-{isolation}-{}", std::process::id()),
        )
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out: std::collections::BTreeMap<i32, Vec<String>> =
        (0..partitions).map(|p| (p, Vec::new())).collect();
    let mut at_end = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions as usize && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                out.entry(m.partition()).or_default().push(v);
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    assert_eq!(
        at_end.len(),
        partitions as usize,
        "every partition read to its end"
    );
    out
}
