//! What the group tests share: the broker under test ([`Target`]), topic and produce
//! helpers, consumer-protocol bytes, a raw classic-protocol group [`Member`], and
//! OffsetCommit / OffsetFetch / DescribeGroups / ListGroups helpers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::support::{self, Client};

// ---------------------------------------------------------------- error codes

pub const NONE: i16 = 0;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NOT_COORDINATOR: i16 = 16;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// Session timeout of the raw members (within 1000..=1_800_000 on both targets).
pub const SESSION_MS: i32 = 10_000;
/// Rebalance timeout of the raw members: below the 10 s a raw response may take
/// (`support::Client::recv_frame`).
pub const REBALANCE_MS: i32 = 6_000;

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn group_id(v: &str) -> GroupId {
    GroupId(s(v))
}

pub fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// A name no earlier run used (an external broker keeps its groups and topics).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

// ---------------------------------------------------------------- the broker under test

/// Names an already running broker to test instead of Rafka in-process: `host:port`.
pub const EXTERNAL: &str = "GROUPS_TEST_BOOTSTRAP";

/// True when the tests run against an external broker ([`EXTERNAL`]).
pub fn external_broker() -> bool {
    std::env::var_os(EXTERNAL).is_some()
}

/// Rafka in-process (the default) or an external broker ([`EXTERNAL`]).
pub struct Target {
    pub addr: SocketAddr,
    pub local: Option<(rafka::BrokerHandle, tempfile::TempDir)>,
}

impl Target {
    pub async fn start() -> Target {
        Target::start_with(|_| {}).await
    }

    /// In-process: the test defaults, then `f`.
    pub async fn start_with(f: impl FnOnce(&mut rafka::config::Config)) -> Target {
        let target = match std::env::var(EXTERNAL) {
            Ok(addr) => Target {
                addr: addr.parse().expect("GROUPS_TEST_BOOTSTRAP is host:port"),
                local: None,
            },
            Err(_) => {
                let (broker, dir) = support::start_broker_with(|c| {
                    group_test_settings(c);
                    f(c);
                })
                .await;
                Target {
                    addr: broker.kafka_addr(),
                    local: Some((broker, dir)),
                }
            }
        };
        target.require_group_coordinator().await;
        target
    }

    pub fn external(&self) -> bool {
        self.local.is_none()
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Fails early, and says why, when the broker has no group coordinator; waits while
    /// the coordinator is still loading (Kafka creates `__consumer_offsets` on the first
    /// FindCoordinator and answers COORDINATOR_NOT_AVAILABLE until it is ready).
    pub async fn require_group_coordinator(&self) {
        let mut c = self.client().await;
        let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &api_versions()).await;
        assert_eq!(r.error_code, NONE, "ApiVersions v3");
        for api in [
            ApiKey::FindCoordinator,
            ApiKey::JoinGroup,
            ApiKey::OffsetCommit,
        ] {
            assert!(
                r.api_keys.iter().any(|k| k.api_key == api as i16),
                "the broker does not advertise {api:?} (key {}) in ApiVersions: no group coordinator",
                api as i16
            );
        }
        let coordinator = find_coordinator(&mut c, 3, &["warm-up"]).await;
        assert_eq!(coordinator[0].3, NONE, "FindCoordinator: {coordinator:?}");
        // and until it has loaded (Kafka: COORDINATOR_LOAD_IN_PROGRESS for a while)
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let d = describe(&mut c, "warm-up").await;
            if !matches!(
                d.error_code,
                COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
            ) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "group coordinator not ready: {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shutdown(self) {
        if let Some((broker, _dir)) = self.local {
            broker.shutdown().await.expect("shutdown");
        }
    }
}

/// What every in-process group test broker runs with: groups form at once, sessions may
/// be short, and 3 `__consumer_offsets` partitions (not 50 per test broker).
pub fn group_test_settings(c: &mut rafka::config::Config) {
    c.group.initial_rebalance_delay_ms = 0;
    c.group.min_session_timeout_ms = 1000;
    c.group.offsets_topic_num_partitions = 3;
    // KIP-848 members heartbeat every 500 ms (Kafka's least is 5 s)
    c.group.consumer.min_heartbeat_interval_ms = 100;
    c.group.consumer.heartbeat_interval_ms = 500;
}

/// An in-process broker on `dir` with [`group_test_settings`], then `f`: starting it
/// again on the same dir is a restart.
pub async fn start_in(
    dir: &std::path::Path,
    f: impl FnOnce(&mut rafka::config::Config),
) -> rafka::BrokerHandle {
    let mut b = rafka::BrokerBuilder::for_tests(dir);
    group_test_settings(b.config_mut());
    f(b.config_mut());
    b.start().await.expect("broker starts")
}

/// ApiVersions v3 with the client software name and version Kafka insists on (KIP-511).
pub fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("rafka-groups-test"))
        .with_client_software_version(s("0.1"))
}

/// FindCoordinator for `keys` (one key before v4), retried while the coordinator is not
/// available yet: `(key, node_id, host:port, error)` per key.
pub async fn find_coordinator(
    c: &mut Client,
    version: i16,
    keys: &[&str],
) -> Vec<(String, i32, String, i16)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut req = FindCoordinatorRequest::default();
        if version >= 4 {
            req = req.with_coordinator_keys(keys.iter().map(|k| s(k)).collect());
        } else {
            req = req.with_key(s(keys[0]));
        }
        let r: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, version, &req).await;
        let got: Vec<(String, i32, String, i16)> = if version >= 4 {
            r.coordinators
                .iter()
                .map(|x| {
                    (
                        x.key.to_string(),
                        x.node_id.0,
                        format!("{}:{}", x.host, x.port),
                        x.error_code,
                    )
                })
                .collect()
        } else {
            vec![(
                keys[0].to_string(),
                r.node_id.0,
                format!("{}:{}", r.host, r.port),
                r.error_code,
            )]
        };
        let loading = got.iter().any(|g| {
            matches!(
                g.3,
                COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
            )
        });
        if !loading || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CreateTopics, then waits until Metadata shows every partition with a leader.
pub async fn create_topic(c: &mut Client, name: &str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, NONE, "CreateTopics {name}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let md = metadata(c, name).await;
        if md.error_code == NONE
            && md.partitions.len() == partitions as usize
            && md.partitions.iter().all(|p| p.leader_id.0 >= 0)
        {
            return;
        }
        assert!(Instant::now() < deadline, "topic {name} not ready: {md:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn metadata(c: &mut Client, topic: &str) -> metadata_response::MetadataResponseTopic {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
    ]));
    let r: MetadataResponse = c.call(ApiKey::Metadata, 12, &req).await;
    r.topics.into_iter().next().expect("one topic")
}

/// Produces `values` to one partition (acks=all).
pub async fn produce(c: &mut Client, topic: &str, partition: i32, values: &[String]) {
    let records: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, v.as_str())).collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(support::batch(&records))),
            ])]);
    // a new topic's leadership may still be propagating (Kafka: NOT_LEADER_OR_FOLLOWER)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
        let error = r.responses[0].partition_responses[0].error_code;
        if error == NONE {
            return;
        }
        assert!(
            matches!(error, UNKNOWN_TOPIC_OR_PARTITION | NOT_LEADER_OR_FOLLOWER)
                && Instant::now() < deadline,
            "produce to {topic}-{partition}: error {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- consumer protocol bytes

/// ConsumerProtocolSubscription v0 (version prefix included), as a consumer's JoinGroup
/// metadata for the "range" protocol.
pub fn subscription(topics: &[&str], user_data: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| s(t)).collect())
        .with_user_data(Some(Bytes::copy_from_slice(user_data)))
        .encode(&mut b, 0)
        .expect("subscription encodes");
    b.freeze()
}

/// ConsumerProtocolAssignment v0 (version prefix included).
pub fn assignment(topic: &str, partitions: &[i32], user_data: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![consumer_protocol_assignment::TopicPartition::default(
        )
        .with_topic(topic_name(topic))
        .with_partitions(partitions.to_vec())])
        .with_user_data(Some(Bytes::copy_from_slice(user_data)))
        .encode(&mut b, 0)
        .expect("assignment encodes");
    b.freeze()
}

/// The partitions in ConsumerProtocolAssignment bytes.
pub fn assigned_partitions(bytes: &Bytes) -> Vec<i32> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut b = bytes.clone();
    let version = b.get_i16();
    let a = ConsumerProtocolAssignment::decode(&mut b, version.min(3)).expect("assignment decodes");
    let mut ps: Vec<i32> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().copied())
        .collect();
    ps.sort_unstable();
    ps
}

/// Bytes that are not any protocol's: the broker must relay them as they are.
pub fn opaque_bytes(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect::<Vec<u8>>(),
    )
}

// ---------------------------------------------------------------- a raw group member

/// Request versions one raw member speaks.
#[derive(Clone, Copy, Debug)]
pub struct Versions {
    pub join: i16,
    pub sync: i16,
    pub heartbeat: i16,
    pub leave: i16,
}

impl Versions {
    /// The newest of each.
    pub const LATEST: Versions = Versions {
        join: 9,
        sync: 5,
        heartbeat: 4,
        leave: 5,
    };
}

/// A classic-protocol group member on its own connection, speaking raw frames and only
/// setting the fields its versions have.
pub struct Member {
    pub c: Client,
    pub addr: SocketAddr,
    pub group: String,
    pub v: Versions,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_ms: i32,
    // from the last successful JoinGroup
    pub generation: i32,
    pub leader: String,
    pub protocol_name: Option<String>,
    /// The members (id, metadata) the leader got.
    pub members: Vec<(String, Bytes)>,
}

impl Member {
    /// A "consumer" member offering "range" with a subscription to `topic`.
    pub async fn new(addr: SocketAddr, group: &str, v: Versions, topic: &str) -> Member {
        Member {
            c: Client::connect(addr).await,
            addr,
            group: group.to_string(),
            v,
            member_id: String::new(),
            instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), subscription(&[topic], b""))],
            session_ms: SESSION_MS,
            generation: -1,
            leader: String::new(),
            protocol_name: None,
            members: Vec::new(),
        }
    }

    pub fn is_leader(&self) -> bool {
        !self.member_id.is_empty() && self.member_id == self.leader
    }

    pub fn join_request(&self) -> JoinGroupRequest {
        let mut r = JoinGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_session_timeout_ms(self.session_ms)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(s(&self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(name, meta)| {
                        join_group_request::JoinGroupRequestProtocol::default()
                            .with_name(s(name))
                            .with_metadata(meta.clone())
                    })
                    .collect(),
            );
        if self.v.join >= 1 {
            r = r.with_rebalance_timeout_ms(REBALANCE_MS);
        }
        if self.v.join >= 5 {
            r = r.with_group_instance_id(self.instance_id.as_deref().map(s));
        }
        if self.v.join >= 8 {
            r = r.with_reason(Some(s("groups.rs")));
        }
        r
    }

    /// Sends a JoinGroup without waiting for its answer (it may wait for a rebalance).
    pub async fn send_join(&mut self) -> i32 {
        let req = self.join_request();
        self.c.send(ApiKey::JoinGroup, self.v.join, &req).await
    }

    /// The answer to `send_join`; a success updates this member's view of the group.
    pub async fn recv_join(&mut self, correlation_id: i32) -> JoinGroupResponse {
        let r: JoinGroupResponse = self
            .c
            .recv(ApiKey::JoinGroup, self.v.join, correlation_id)
            .await;
        if r.error_code == NONE {
            self.member_id = r.member_id.to_string();
            self.generation = r.generation_id;
            self.leader = r.leader.to_string();
            self.protocol_name = r.protocol_name.as_ref().map(|p| p.to_string());
            self.members = r
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                .collect();
        }
        r
    }

    pub async fn join(&mut self) -> JoinGroupResponse {
        let id = self.send_join().await;
        self.recv_join(id).await
    }

    /// KIP-394: from JoinGroup v4 a new dynamic member first gets MEMBER_ID_REQUIRED and
    /// the id to join with. Gets that id (without joining yet).
    pub async fn get_member_id(&mut self) {
        if self.v.join < 4 || self.instance_id.is_some() || !self.member_id.is_empty() {
            return;
        }
        let r = self.join().await;
        assert_eq!(
            r.error_code, MEMBER_ID_REQUIRED,
            "first JoinGroup v{}",
            self.v.join
        );
        assert!(!r.member_id.is_empty(), "MEMBER_ID_REQUIRED carries the id");
        self.member_id = r.member_id.to_string();
    }

    /// Joins as a new member (with the KIP-394 round trip where it applies); asserts
    /// success.
    pub async fn join_new(&mut self) -> JoinGroupResponse {
        self.get_member_id().await;
        let r = self.join().await;
        assert_eq!(r.error_code, NONE, "JoinGroup v{}: {r:?}", self.v.join);
        r
    }

    pub fn sync_request(&self, assignments: &[(String, Bytes)]) -> SyncGroupRequest {
        let mut r = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        sync_group_request::SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(a.clone())
                    })
                    .collect(),
            );
        if self.v.sync >= 3 {
            r = r.with_group_instance_id(self.instance_id.as_deref().map(s));
        }
        if self.v.sync >= 5 {
            r = r
                .with_protocol_type(Some(s(&self.protocol_type)))
                .with_protocol_name(self.protocol_name.as_deref().map(s));
        }
        r
    }

    pub async fn send_sync(&mut self, assignments: &[(String, Bytes)]) -> i32 {
        let req = self.sync_request(assignments);
        self.c.send(ApiKey::SyncGroup, self.v.sync, &req).await
    }

    pub async fn recv_sync(&mut self, correlation_id: i32) -> SyncGroupResponse {
        self.c
            .recv(ApiKey::SyncGroup, self.v.sync, correlation_id)
            .await
    }

    pub async fn sync(&mut self, assignments: &[(String, Bytes)]) -> SyncGroupResponse {
        let id = self.send_sync(assignments).await;
        self.recv_sync(id).await
    }

    pub async fn heartbeat(&mut self) -> i16 {
        let mut r = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id));
        if self.v.heartbeat >= 3 {
            r = r.with_group_instance_id(self.instance_id.as_deref().map(s));
        }
        let resp: HeartbeatResponse = self.c.call(ApiKey::Heartbeat, self.v.heartbeat, &r).await;
        resp.error_code
    }

    /// LeaveGroup; the member's error (v3+ answers per member).
    pub async fn leave(&mut self) -> i16 {
        let mut r = LeaveGroupRequest::default().with_group_id(group_id(&self.group));
        if self.v.leave < 3 {
            r = r.with_member_id(s(&self.member_id));
        } else {
            let mut who = leave_group_request::MemberIdentity::default()
                .with_member_id(s(&self.member_id))
                .with_group_instance_id(self.instance_id.as_deref().map(s));
            if self.v.leave >= 5 {
                who = who.with_reason(Some(s("groups.rs")));
            }
            r = r.with_members(vec![who]);
        }
        let resp: LeaveGroupResponse = self.c.call(ApiKey::LeaveGroup, self.v.leave, &r).await;
        if self.v.leave < 3 || resp.error_code != NONE {
            return resp.error_code;
        }
        assert_eq!(resp.members.len(), 1, "one member answered: {resp:?}");
        assert_eq!(resp.members[0].member_id.as_str(), self.member_id);
        resp.members[0].error_code
    }

    /// The leader's assignment: partition p of `topic` to member p % n (members sorted by
    /// id), user data naming generation and member so stale bytes would show.
    pub fn round_robin(&self, topic: &str, partitions: i32) -> Vec<(String, Bytes)> {
        let mut ids: Vec<&String> = self.members.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let mine: Vec<i32> = (0..partitions)
                    .filter(|p| *p as usize % ids.len() == i)
                    .collect();
                let tag = format!("g{}-{id}", self.generation);
                ((*id).clone(), assignment(topic, &mine, tag.as_bytes()))
            })
            .collect()
    }
}

/// DescribeGroups (v5) of one group.
pub async fn describe(c: &mut Client, group: &str) -> describe_groups_response::DescribedGroup {
    describe_at(c, 5, group).await
}

pub async fn describe_at(
    c: &mut Client,
    version: i16,
    group: &str,
) -> describe_groups_response::DescribedGroup {
    let r: DescribeGroupsResponse = c
        .call(
            ApiKey::DescribeGroups,
            version,
            &DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
        )
        .await;
    assert_eq!(r.groups.len(), 1);
    r.groups.into_iter().next().expect("one group")
}

/// Waits until DescribeGroups shows `group` in `state` with `members` members.
pub async fn wait_for_state(c: &mut Client, group: &str, state: &str, members: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = describe(c, group).await;
        if d.group_state.as_str() == state && d.members.len() == members {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group}: {} with {} members, waited for {state} with {members}",
            d.group_state,
            d.members.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Forms one generation with all of `ms` in it, deterministically: the first member
/// joins alone and syncs (generation 1, Stable); the others' JoinGroups then wait in the
/// rebalance they start; once DescribeGroups lists all of them, the first member rejoins
/// and every JoinGroup completes. Returns the generation; nobody has synced it yet.
pub async fn form_group(ms: &mut [Member]) -> i32 {
    let (first, rest) = ms.split_first_mut().expect("at least one member");
    first.join_new().await;
    let own = vec![(first.member_id.clone(), Bytes::new())];
    let r = first.sync(&own).await;
    assert_eq!(r.error_code, NONE, "first member's SyncGroup");
    if rest.is_empty() {
        // rejoin so that the returned generation is unsynced, like the others
        let r = first.join().await;
        assert_eq!(r.error_code, NONE);
        return first.generation;
    }
    let mut pending = Vec::new();
    for m in rest.iter_mut() {
        m.get_member_id().await;
        pending.push(m.send_join().await);
    }
    let mut admin = Client::connect(first.addr).await;
    let group = first.group.clone();
    let n = rest.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = describe(&mut admin, &group).await;
        if d.members.len() == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "DescribeGroups lists {} of the {n} members while they join ({})",
            d.members.len(),
            d.group_state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_join = first.join().await;
    assert_eq!(first_join.error_code, NONE, "rejoin: {first_join:?}");
    for (m, id) in rest.iter_mut().zip(pending) {
        let r = m.recv_join(id).await;
        assert_eq!(r.error_code, NONE, "JoinGroup v{}: {r:?}", m.v.join);
    }
    let generation = first.generation;
    let leader = first.leader.clone();
    for m in ms.iter() {
        assert_eq!(m.generation, generation, "one generation for all");
        assert_eq!(m.leader, leader, "one leader for all");
    }
    let leader_view = ms.iter().find(|m| m.is_leader()).expect("a leader");
    assert_eq!(leader_view.members.len(), n, "the leader sees every member");
    generation
}

/// SyncGroup for all of `ms` (one generation): followers first, then the leader with a
/// round-robin plan over `partitions`. Asserts success and that each member got exactly
/// the leader's bytes for it; returns each member's assignment.
pub async fn sync_all(ms: &mut [Member], topic: &str, partitions: i32) -> Vec<Bytes> {
    let leader = ms.iter().position(Member::is_leader).expect("a leader");
    let plan: BTreeMap<String, Bytes> = ms[leader]
        .round_robin(topic, partitions)
        .into_iter()
        .collect();
    let mut waiting = Vec::new();
    for (i, m) in ms.iter_mut().enumerate() {
        if i != leader {
            waiting.push((i, m.send_sync(&[]).await));
        }
    }
    let sent: Vec<(String, Bytes)> = plan.clone().into_iter().collect();
    let mut got = vec![Bytes::new(); ms.len()];
    let r = ms[leader].sync(&sent).await;
    assert_eq!(r.error_code, NONE, "leader's SyncGroup");
    got[leader] = r.assignment;
    for (i, id) in waiting {
        let r = ms[i].recv_sync(id).await;
        assert_eq!(r.error_code, NONE, "follower's SyncGroup v{}", ms[i].v.sync);
        got[i] = r.assignment;
    }
    for (m, bytes) in ms.iter().zip(&got) {
        assert!(
            plan.get(&m.member_id) == Some(bytes),
            "{}: the leader's bytes",
            m.member_id
        );
    }
    got
}

// ---------------------------------------------------------------- committed offsets

/// OffsetCommit of `offsets` ((partition, offset), empty metadata) of one topic: the
/// per-partition errors.
pub async fn commit(
    c: &mut Client,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                        })
                        .collect(),
                ),
        ]);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, version, &req).await;
    assert_eq!(r.topics.len(), 1, "OffsetCommit v{version}: {r:?}");
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// A "simple" commit (generation -1, no member id), as kcat or the admin client make.
pub async fn simple_commit(
    c: &mut Client,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<i16> {
    commit(c, 8, group, -1, "", topic, offsets).await
}

/// One committed offset as OffsetFetch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub metadata: Option<String>,
    /// -1 where the version has no leader epoch
    pub leader_epoch: i32,
    pub error: i16,
}

/// OffsetFetch of one group at `version` (v8+: batched form, KIP-709): the group's error
/// and, per (topic, partition), what is committed. `partitions` None asks for all (v2+).
pub async fn fetch(
    c: &mut Client,
    version: i16,
    group: &str,
    topic: &str,
    partitions: Option<&[i32]>,
) -> (i16, BTreeMap<(String, i32), Committed>) {
    let mut out = BTreeMap::new();
    if version < 8 {
        let topics = partitions.map(|ps| {
            vec![offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(ps.to_vec())]
        });
        let req = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics);
        let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, version, &req).await;
        for t in &r.topics {
            for p in &t.partitions {
                out.insert(
                    (t.name.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        metadata: p.metadata.as_ref().map(|m| m.to_string()),
                        leader_epoch: p.committed_leader_epoch,
                        error: p.error_code,
                    },
                );
            }
        }
        (r.error_code, out)
    } else {
        let topics = partitions.map(|ps| {
            vec![offset_fetch_request::OffsetFetchRequestTopics::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(ps.to_vec())]
        });
        let req = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(topics),
        ]);
        let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, version, &req).await;
        assert_eq!(r.groups.len(), 1, "OffsetFetch v{version}: one group");
        let g = &r.groups[0];
        assert_eq!(g.group_id.as_str(), group);
        for t in &g.topics {
            for p in &t.partitions {
                out.insert(
                    (t.name.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        metadata: p.metadata.as_ref().map(|m| m.to_string()),
                        leader_epoch: p.committed_leader_epoch,
                        error: p.error_code,
                    },
                );
            }
        }
        (g.error_code, out)
    }
}

/// The committed offset of one partition (-1: none), read with OffsetFetch v9.
pub async fn committed_offset(c: &mut Client, group: &str, topic: &str, partition: i32) -> i64 {
    let (err, got) = fetch(c, 9, group, topic, Some(&[partition])).await;
    assert_eq!(err, NONE, "OffsetFetch {group}");
    let one = &got[&(topic.to_string(), partition)];
    assert_eq!(one.error, NONE);
    one.offset
}

/// ListGroups at `version` (states filter from v4): group id -> (protocol type, state
/// (v4+, else ""), type (v5+, else "")).
pub async fn list_groups(
    c: &mut Client,
    version: i16,
    states: Option<&[&str]>,
) -> BTreeMap<String, (String, String, String)> {
    let mut req = ListGroupsRequest::default();
    if let Some(states) = states {
        req = req.with_states_filter(states.iter().map(|x| s(x)).collect());
    }
    let r: ListGroupsResponse = c.call(ApiKey::ListGroups, version, &req).await;
    assert_eq!(r.error_code, NONE, "ListGroups v{version}");
    r.groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                (
                    g.protocol_type.to_string(),
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                ),
            )
        })
        .collect()
}

/// DescribeGroups (v5) of several groups in one request.
pub async fn describe_many(
    c: &mut Client,
    names: &[String],
) -> Vec<describe_groups_response::DescribedGroup> {
    let req =
        DescribeGroupsRequest::default().with_groups(names.iter().map(|n| group_id(n)).collect());
    let r: DescribeGroupsResponse = c.call(ApiKey::DescribeGroups, 5, &req).await;
    assert_eq!(r.groups.len(), names.len());
    r.groups
}
