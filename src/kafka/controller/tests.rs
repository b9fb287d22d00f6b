//! The controller port end to end: a one-voter quorum with [`ControllerApis`] on its
//! listener, real Kafka frames over TCP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::controller::machine::ControllerConfig;
use crate::controller::{Quorum, QuorumConfig};

const TIMEOUT: Duration = Duration::from_secs(5);

struct Node {
    ctl: Arc<Controller>,
    client: ControllerClient,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Node {
    /// A one-voter quorum (node 1) serving the controller APIs, once it leads.
    async fn start() -> Node {
        Node::start_with(|_| {}).await
    }

    /// [`Node::start`] with a chance to change the quorum's config.
    async fn start_with(tune: impl FnOnce(&mut QuorumConfig)) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = QuorumConfig::new(1, BTreeMap::from([(1, addr)]), dir.path().into());
        tune(&mut config);
        config.election_timeout_min = Duration::from_millis(150);
        config.election_timeout_max = Duration::from_millis(300);
        config.heartbeat_interval = Duration::from_millis(50);
        let image = SharedImage::new();
        let quorum = Quorum::start(config, image.state_machine(), listener)
            .await
            .expect("quorum");
        let ctl = Controller::new(quorum, image, ControllerConfig::default());
        ctl.quorum().serve_foreign_apis(Arc::new(
            ControllerApis::new(ctl.clone()).with_cluster_id("c1"),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while ctl.quorum().leader() != Some(1) {
            assert!(Instant::now() < deadline, "no leader");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let client =
            ControllerClient::new(BTreeMap::from([(1, addr.to_string())]), None, "test".into());
        Node {
            ctl,
            client,
            addr,
            _dir: dir,
        }
    }

    async fn call<Req: Encodable, Resp: Decodable>(
        &self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        self.client
            .call(api, version, req, TIMEOUT, |_: &Resp| false)
            .await
            .expect("an answer")
    }

    /// Registers broker `id` and heartbeats until it is unfenced: its epoch.
    async fn broker(&self, id: i32) -> i64 {
        let req = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(id))
            .with_cluster_id(StrBytes::from_static_str("c1"))
            .with_incarnation_id(uuid::Uuid::from_u128(id as u128 + 100))
            .with_listeners(vec![Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(9092)])
            .with_rack(Some(StrBytes::from_static_str("r1")));
        let resp: BrokerRegistrationResponse = self.call(ApiKey::BrokerRegistration, 4, &req).await;
        assert_eq!(resp.error_code, 0);
        let epoch = resp.broker_epoch;
        assert!(epoch >= 0);
        let registered = self.ctl.image().read(|i| i.brokers.get(&id).cloned());
        let registered = registered.expect("registered");
        assert_eq!(registered.epoch, epoch);
        assert_eq!(registered.rack.as_deref(), Some("r1"));
        assert_eq!(registered.endpoints.first().map(|e| e.port), Some(9092));

        // not caught up: fenced
        let hb = |offset: i64| {
            BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(id))
                .with_broker_epoch(epoch)
                .with_current_metadata_offset(offset)
        };
        let resp: BrokerHeartbeatResponse = self.call(ApiKey::BrokerHeartbeat, 1, &hb(-1)).await;
        assert_eq!(resp.error_code, 0);
        assert!(resp.is_fenced && !resp.is_caught_up);
        for _ in 0..10 {
            let resp: BrokerHeartbeatResponse =
                self.call(ApiKey::BrokerHeartbeat, 1, &hb(epoch)).await;
            assert_eq!(resp.error_code, 0);
            assert!(resp.is_caught_up);
            if !resp.is_fenced {
                assert!(self.ctl.image().read(|i| i.is_live(id)));
                return epoch;
            }
        }
        panic!("broker {id} never unfenced");
    }
}

fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
}

/// A request frame with its size prefix.
fn frame(api: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("raw")));
    let mut b = BytesMut::new();
    header
        .encode(&mut b, api.request_header_version(version))
        .expect("header");
    b.put_slice(body);
    let mut out = BytesMut::new();
    out.put_i32(i32::try_from(b.len()).expect("size"));
    out.put_slice(&b);
    out.freeze()
}

/// Sends one frame on a fresh connection: the response (after its size prefix), or
/// `None` when the server closed the connection.
async fn raw(addr: SocketAddr, frame: &[u8]) -> Option<Bytes> {
    let work = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(frame).await.expect("write");
        let size = s.read_i32().await.ok()?;
        let mut body = vec![0u8; usize::try_from(size).ok()?];
        s.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    };
    tokio::time::timeout(TIMEOUT, work).await.expect("in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_lists_the_table_and_answers_an_unknown_version() {
    let node = Node::start().await;
    let resp: ApiVersionsResponse = node
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    let listed: Vec<(i16, i16, i16)> = resp
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    let table: Vec<(i16, i16, i16)> = advertised()
        .into_iter()
        .map(|(k, min, max)| (k as i16, min, max))
        .collect();
    assert_eq!(listed, table);
    assert!(listed.contains(&(ApiKey::BrokerRegistration as i16, 0, 4)));
    assert!(listed.contains(&(ApiKey::DescribeQuorum as i16, 0, 2)));

    // KIP-511: an ApiVersions version beyond ours gets a v0 answer with the list
    let mut answer = raw(node.addr, &frame(ApiKey::ApiVersions, 99, 7, &[]))
        .await
        .expect("answered");
    let header = ResponseHeader::decode(&mut answer, 0).expect("header");
    assert_eq!(header.correlation_id, 7);
    let body = ApiVersionsResponse::decode(&mut answer, 0).expect("body");
    assert_eq!(body.error_code, ErrorCode::UnsupportedVersion.code());
    assert_eq!(body.api_keys.len(), table.len());

    // an API the controller does not serve, and a version out of range: closed
    let produce = frame(ApiKey::Produce, 9, 8, &[0; 16]);
    assert!(raw(node.addr, &produce).await.is_none());
    let create = frame(ApiKey::CreateTopics, 1, 9, &[0; 16]);
    assert!(raw(node.addr, &create).await.is_none());
    node.ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_register_heartbeat_and_unregister() {
    let node = Node::start().await;
    let epoch = node.broker(1).await;

    // a stale epoch is refused in the error code
    let hb = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(1))
        .with_broker_epoch(epoch + 1000)
        .with_current_metadata_offset(epoch);
    let resp: BrokerHeartbeatResponse = node.call(ApiKey::BrokerHeartbeat, 1, &hb).await;
    assert_eq!(resp.error_code, ErrorCode::StaleBrokerEpoch.code());

    // another incarnation while the first is live: DUPLICATE_BROKER_REGISTRATION
    let again = BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(1))
        .with_incarnation_id(uuid::Uuid::from_u128(999));
    let resp: BrokerRegistrationResponse = node.call(ApiKey::BrokerRegistration, 4, &again).await;
    assert_eq!(
        resp.error_code,
        ErrorCode::DuplicateBrokerRegistration.code()
    );

    // producer ids come in blocks
    let req = AllocateProducerIdsRequest::default()
        .with_broker_id(BrokerId(1))
        .with_broker_epoch(epoch);
    let a: AllocateProducerIdsResponse = node.call(ApiKey::AllocateProducerIds, 0, &req).await;
    let b: AllocateProducerIdsResponse = node.call(ApiKey::AllocateProducerIds, 0, &req).await;
    assert_eq!((a.error_code, b.error_code), (0, 0));
    assert_eq!(b.producer_id_start.0 - a.producer_id_start.0, 1000);
    assert_eq!(a.producer_id_len, 1000);

    let req = UnregisterBrokerRequest::default().with_broker_id(BrokerId(1));
    let resp: UnregisterBrokerResponse = node.call(ApiKey::UnregisterBroker, 0, &req).await;
    assert_eq!(resp.error_code, 0);
    assert!(node.ctl.image().read(|i| !i.brokers.contains_key(&1)));
    let resp: UnregisterBrokerResponse = node.call(ApiKey::UnregisterBroker, 0, &req).await;
    assert_eq!(resp.error_code, ErrorCode::BrokerIdNotRegistered.code());
    node.ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_configured_elected_and_deleted() {
    let node = Node::start().await;
    let epoch = node.broker(1).await;

    // rf 1 is created; rf 2 with one broker is not; validate_only writes nothing
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic("a", 3, 1), topic("b", 1, 2)])
        .with_timeout_ms(5000);
    let resp: CreateTopicsResponse = node.call(ApiKey::CreateTopics, 7, &req).await;
    let [a, b] = resp.topics.as_slice() else {
        panic!("two answers: {resp:?}");
    };
    assert_eq!(
        (a.error_code, a.num_partitions, a.replication_factor),
        (0, 3, 1)
    );
    let id = node.ctl.image().read(|i| i.topic("a").map(|t| t.id));
    assert_eq!(Some(a.topic_id), id);
    assert!(!a.topic_id.is_nil());
    assert_eq!(b.error_code, ErrorCode::InvalidReplicationFactor.code());
    assert_eq!((b.num_partitions, b.replication_factor), (-1, -1));

    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic("c", 2, 1)])
        .with_validate_only(true);
    let resp: CreateTopicsResponse = node.call(ApiKey::CreateTopics, 5, &req).await;
    assert_eq!(resp.topics.first().map(|t| t.error_code), Some(0));
    assert!(node.ctl.image().read(|i| i.topic("c").is_none()));
    // again on v2: the same topic name already exists
    let req = CreateTopicsRequest::default().with_topics(vec![topic("a", 1, 1)]);
    let resp: CreateTopicsResponse = node.call(ApiKey::CreateTopics, 2, &req).await;
    assert_eq!(
        resp.topics.first().map(|t| t.error_code),
        Some(ErrorCode::TopicAlreadyExists.code())
    );

    // more partitions
    let req = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("a")))
            .with_count(4)
            .with_assignments(None),
    ]);
    let resp: CreatePartitionsResponse = node.call(ApiKey::CreatePartitions, 3, &req).await;
    assert_eq!(resp.results.first().map(|r| r.error_code), Some(0));
    assert_eq!(
        node.ctl
            .image()
            .read(|i| i.topic("a").map(|t| t.partitions.len())),
        Some(4)
    );

    // configs
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("a"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("1000"))),
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_config_operation(2)
                    .with_value(Some(StrBytes::from_static_str("compact"))),
            ]),
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("nope"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_config_operation(1)]),
    ]);
    let resp: IncrementalAlterConfigsResponse =
        node.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
    let codes: Vec<i16> = resp.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, ErrorCode::UnknownTopicOrPartition.code()]);
    let config = node.ctl.image().read(|i| i.topic_config("a").cloned());
    let config = config.expect("configs");
    assert_eq!(config.get("retention.ms").map(String::as_str), Some("1000"));
    assert_eq!(
        config.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );

    // preferred elections over every partition: the leaders are already preferred
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(None);
    let resp: ElectLeadersResponse = node.call(ApiKey::ElectLeaders, 2, &req).await;
    assert_eq!(resp.error_code, 0);
    let codes: Vec<(String, i32, i16)> = resp
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
        })
        .collect();
    // as Kafka: every topic listed, the partitions that need no election left out
    assert!(codes.is_empty(), "{codes:?}");
    let topics: Vec<&str> = resp
        .replica_election_results
        .iter()
        .map(|t| t.topic.0.as_str())
        .collect();
    assert_eq!(topics, vec!["a"]);
    // named, they are answered ELECTION_NOT_NEEDED
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(TopicName(StrBytes::from_static_str("a")))
        .with_partitions(vec![0, 1, 2, 3])]));
    let resp: ElectLeadersResponse = node.call(ApiKey::ElectLeaders, 2, &req).await;
    let not_needed = ErrorCode::ElectionNotNeeded.code();
    let codes: Vec<i16> = resp
        .replica_election_results
        .iter()
        .flat_map(|t| t.partition_result.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, vec![not_needed; 4]);
    // an unknown partition, by name
    let req = ElectLeadersRequest::default()
        .with_election_type(1)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(TopicName(StrBytes::from_static_str("zz")))
        .with_partitions(vec![0])]));
    let resp: ElectLeadersResponse = node.call(ApiKey::ElectLeaders, 1, &req).await;
    let code = resp
        .replica_election_results
        .first()
        .and_then(|t| t.partition_result.first())
        .map(|p| p.error_code);
    assert_eq!(code, Some(ErrorCode::UnknownTopicOrPartition.code()));

    // the leader's ISR, unchanged, by topic id (v3: with broker epochs)
    let a_id = id.expect("a");
    let req = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(1))
        .with_broker_epoch(epoch)
        .with_topics(vec![alter_partition_request::TopicData::default()
            .with_topic_id(a_id)
            .with_partitions(vec![
                alter_partition_request::PartitionData::default()
                    .with_partition_index(0)
                    .with_new_isr_with_epochs(vec![alter_partition_request::BrokerState::default(
                    )
                    .with_broker_id(BrokerId(1))
                    .with_broker_epoch(epoch)]),
            ])]);
    let resp: AlterPartitionResponse = node.call(ApiKey::AlterPartition, 3, &req).await;
    assert_eq!(resp.error_code, 0);
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .expect("answer");
    assert_eq!((p.error_code, p.leader_id.0), (0, 1));
    assert_eq!(p.isr, vec![BrokerId(1)]);
    let stale = req.with_broker_epoch(epoch + 1000);
    let resp: AlterPartitionResponse = node.call(ApiKey::AlterPartition, 3, &stale).await;
    assert_eq!(resp.error_code, ErrorCode::StaleBrokerEpoch.code());

    // a reassignment to the same replicas completes at once; an unknown partition does not
    let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        alter_partition_reassignments_request::ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("a")))
            .with_partitions(vec![
                alter_partition_reassignments_request::ReassignablePartition::default()
                    .with_partition_index(1)
                    .with_replicas(Some(vec![BrokerId(1)])),
                alter_partition_reassignments_request::ReassignablePartition::default()
                    .with_partition_index(9)
                    .with_replicas(Some(vec![BrokerId(1)])),
            ]),
    ]);
    let resp: AlterPartitionReassignmentsResponse = node
        .call(ApiKey::AlterPartitionReassignments, 1, &req)
        .await;
    assert_eq!(resp.error_code, 0);
    let codes: Vec<i16> = resp
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, vec![0, ErrorCode::UnknownTopicOrPartition.code()]);

    // no reassignment in progress
    let req = ListPartitionReassignmentsRequest::default();
    let resp: ListPartitionReassignmentsResponse =
        node.call(ApiKey::ListPartitionReassignments, 0, &req).await;
    assert_eq!(resp.error_code, 0);
    assert!(resp.topics.is_empty());

    // delete by name (v5) and by id (v6), and an unknown one
    let req = CreateTopicsRequest::default().with_topics(vec![topic("d", 1, 1)]);
    let resp: CreateTopicsResponse = node.call(ApiKey::CreateTopics, 7, &req).await;
    let d_id = resp.topics.first().map(|t| t.topic_id).expect("d");
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(StrBytes::from_static_str("a"))]);
    let resp: DeleteTopicsResponse = node.call(ApiKey::DeleteTopics, 5, &req).await;
    assert_eq!(resp.responses.first().map(|r| r.error_code), Some(0));
    let req = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default()
            .with_name(None)
            .with_topic_id(d_id),
        DeleteTopicState::default().with_name(Some(TopicName(StrBytes::from_static_str("a")))),
    ]);
    let resp: DeleteTopicsResponse = node.call(ApiKey::DeleteTopics, 6, &req).await;
    let [d, a] = resp.responses.as_slice() else {
        panic!("two answers: {resp:?}");
    };
    assert_eq!(d.error_code, 0);
    assert_eq!(d.topic_id, d_id);
    assert_eq!(
        d.name.as_ref().map(|n| n.0.to_string()),
        Some("d".to_string())
    );
    assert_eq!(a.error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert!(node.ctl.image().read(|i| i.topics().next().is_none()));
    node.ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_quorum_and_cluster_show_the_leader() {
    let node = Node::start().await;
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    for version in 0..=2 {
        let resp: DescribeQuorumResponse = node.call(ApiKey::DescribeQuorum, version, &req).await;
        assert_eq!(resp.error_code, 0);
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .expect("a partition");
        assert_eq!(p.error_code, 0);
        assert_eq!(p.leader_id.0, 1);
        assert!(p.leader_epoch >= 1);
        assert!(p.high_watermark >= 1);
        let voters: Vec<i32> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
        assert_eq!(voters, vec![1]);
        assert!(p.current_voters.iter().all(|v| v.log_end_offset >= 1));
        assert!(p.observers.is_empty());
        if version == 2 {
            let node_ports: Vec<(i32, Vec<u16>)> = resp
                .nodes
                .iter()
                .map(|n| (n.node_id.0, n.listeners.iter().map(|l| l.port).collect()))
                .collect();
            assert_eq!(node_ports, vec![(1, vec![node.addr.port()])]);
        }
    }
    // another partition: UNKNOWN_TOPIC_OR_PARTITION
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("x")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp: DescribeQuorumResponse = node.call(ApiKey::DescribeQuorum, 2, &req).await;
    let code = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| p.error_code);
    assert_eq!(code, Some(ErrorCode::UnknownTopicOrPartition.code()));

    let req = DescribeClusterRequest::default().with_endpoint_type(2);
    let resp: DescribeClusterResponse = node.call(ApiKey::DescribeCluster, 1, &req).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.controller_id.0, 1);
    assert_eq!(resp.cluster_id.as_str(), "c1");
    let brokers: Vec<(i32, i32)> = resp
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.port))
        .collect();
    assert_eq!(brokers, vec![(1, i32::from(node.addr.port()))]);
    let req = DescribeClusterRequest::default().with_endpoint_type(1);
    let resp: DescribeClusterResponse = node.call(ApiKey::DescribeCluster, 2, &req).await;
    assert_eq!(resp.error_code, ErrorCode::MismatchedEndpointType.code());
    node.ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_body_closes_its_connection_and_the_port_keeps_serving() {
    let node = Node::start().await;
    // a CreateTopics v7 body that says it holds 3 topics and ends (a hostile length that
    // would make the decoder allocate gigabytes is the binary's alloc guard's, which this
    // test binary does not install)
    let garbage = frame(ApiKey::CreateTopics, 7, 1, &[0x04, 0x02]);
    assert!(raw(node.addr, &garbage).await.is_none());
    let heartbeat = frame(ApiKey::BrokerHeartbeat, 1, 2, &[0x01]);
    assert!(raw(node.addr, &heartbeat).await.is_none());
    let resp: ApiVersionsResponse = node
        .call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    let mut body = BytesMut::new();
    ApiVersionsRequest::default()
        .encode(&mut body, 3)
        .expect("encode");
    let answer = raw(node.addr, &frame(ApiKey::ApiVersions, 3, 3, &body)).await;
    assert!(answer.is_some());
    node.ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_leader_every_api_answers_not_controller() {
    // two voters, one of them never started: no leader is ever elected
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let absent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let absent_addr = absent.local_addr().expect("addr");
    drop(absent);
    let voters = BTreeMap::from([(1, addr), (2, absent_addr)]);
    let mut config = QuorumConfig::new(1, voters, dir.path().into());
    config.election_timeout_min = Duration::from_millis(150);
    config.election_timeout_max = Duration::from_millis(300);
    config.heartbeat_interval = Duration::from_millis(50);
    let image = SharedImage::new();
    let quorum = Quorum::start(config, image.state_machine(), listener)
        .await
        .expect("quorum");
    let ctl = Controller::new(quorum, image, ControllerConfig::default());
    ctl.quorum()
        .serve_foreign_apis(Arc::new(ControllerApis::new(ctl.clone())));
    let node = Node {
        ctl,
        client: ControllerClient::new(BTreeMap::from([(1, addr.to_string())]), None, "t".into()),
        addr,
        _dir: dir,
    };
    let not_controller = ErrorCode::NotController.code();

    let req = BrokerRegistrationRequest::default().with_broker_id(BrokerId(3));
    let resp: BrokerRegistrationResponse = node.call(ApiKey::BrokerRegistration, 3, &req).await;
    assert_eq!((resp.error_code, resp.broker_epoch), (not_controller, -1));
    let req = CreateTopicsRequest::default().with_topics(vec![topic("a", 1, 1)]);
    let resp: CreateTopicsResponse = node.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(
        resp.topics.first().map(|t| t.error_code),
        Some(not_controller)
    );
    let req = ElectLeadersRequest::default().with_topic_partitions(None);
    let resp: ElectLeadersResponse = node.call(ApiKey::ElectLeaders, 2, &req).await;
    assert_eq!(resp.error_code, not_controller);
    let req = AlterPartitionRequest::default().with_broker_id(BrokerId(3));
    let resp: AlterPartitionResponse = node.call(ApiKey::AlterPartition, 3, &req).await;
    assert_eq!(resp.error_code, not_controller);
    let req = ListPartitionReassignmentsRequest::default();
    let resp: ListPartitionReassignmentsResponse =
        node.call(ApiKey::ListPartitionReassignments, 0, &req).await;
    assert_eq!(resp.error_code, not_controller);
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp: DescribeQuorumResponse = node.call(ApiKey::DescribeQuorum, 2, &req).await;
    let code = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| p.error_code);
    assert_eq!(code, Some(ErrorCode::NotLeaderOrFollower.code()));
    node.ctl.shutdown().await;
}

/// A broker-only node's follower against the voter: it fetches the log from the start;
/// once the voter has purged its log below a snapshot, a fresh follower is told so and
/// takes the image with FetchSnapshot. Both end with the voter's image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_fetches_the_log_and_a_snapshot_once_it_is_purged() {
    use crate::controller::machine::AlterConfigOp;
    use crate::metadata::records::config_resource;

    let node = Node::start_with(|c| {
        c.snapshot_every = 5;
        c.entries_kept_after_snapshot = 0;
    })
    .await;
    let voters = BTreeMap::from([(1, node.addr.to_string())]);
    // a follower from the first entry on
    let early = SharedImage::new();
    let early_task = crate::broker::metadata_follower::start(
        8,
        early.clone(),
        ControllerClient::new(voters.clone(), None, "early".into()),
    );
    for i in 0..30 {
        node.ctl
            .run(|m, _| {
                let op = AlterConfigOp::Set(format!("k{i}"), "v".into());
                m.alter_configs(config_resource::BROKER, "", &[op], false)
            })
            .await
            .expect("committed");
    }
    // purged below a snapshot
    let reader = node.ctl.quorum().log_reader();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = reader.clone();
        let purged = tokio::task::spawn_blocking(move || r.read(0, i64::MAX, 1))
            .await
            .expect("join")
            .expect("read");
        if matches!(purged, crate::controller::LogRead::Purged { .. }) {
            break;
        }
        assert!(Instant::now() < deadline, "the log was never purged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // one more commit after the purge, so the image moves past the snapshot too
    node.ctl
        .run(|m, _| {
            let op = AlterConfigOp::Set("last".into(), "v".into());
            m.alter_configs(config_resource::BROKER, "", &[op], false)
        })
        .await
        .expect("committed");
    let target = node.ctl.image().digest();
    assert!(
        node.ctl
            .image()
            .read(|i| i.broker_config(None).is_some_and(|c| c.len() == 31)),
        "thirty-one cluster configs"
    );
    let late = SharedImage::new();
    // (in parts of 100 bytes)
    let late_task = crate::broker::metadata_follower::start_with(
        9,
        late.clone(),
        ControllerClient::new(voters, None, "late".into()),
        100,
    );
    for (name, image) in [("early", &early), ("late", &late)] {
        let same = image
            .wait_for(|i| i.digest() == target, Duration::from_secs(10))
            .await;
        assert!(same, "the {name} follower has the voter's image");
    }
    assert_eq!(late.applied_offset(), node.ctl.image().applied_offset());
    early_task.abort();
    late_task.abort();
}
