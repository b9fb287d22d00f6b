//! The admin APIs (DescribeConfigs, IncrementalAlterConfigs, CreatePartitions,
//! DescribeCluster, DescribeTopicPartitions, DeleteRecords) through real frames, each at
//! its lowest and highest supported version.

mod support;

use std::collections::BTreeMap;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{start_broker, Client};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

fn create(broker: &rafka::BrokerHandle, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let overrides: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    broker
        .broker()
        .create_topic(name, partitions, 1, overrides, false)
        .expect("topic");
}

fn describe_topic(
    name: &str,
    keys: Option<&[&str]>,
) -> describe_configs_request::DescribeConfigsResource {
    describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s(name))
        .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| s(k)).collect()))
}

fn describe_broker(name: &str) -> describe_configs_request::DescribeConfigsResource {
    describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s(name))
        .with_configuration_keys(None)
}

/// (value, source) of each described key.
fn config_map(
    r: &describe_configs_response::DescribeConfigsResult,
) -> BTreeMap<String, (Option<String>, i8)> {
    r.configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                (c.value.as_ref().map(|v| v.to_string()), c.config_source),
            )
        })
        .collect()
}

async fn topic_configs(c: &mut Client, name: &str) -> BTreeMap<String, (Option<String>, i8)> {
    let r: DescribeConfigsResponse = c
        .call(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default().with_resources(vec![describe_topic(name, None)]),
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    config_map(&r.results[0])
}

#[tokio::test]
async fn new_admin_apis_are_advertised() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let versions = support::advertised(&mut c).await;
    let range = |api: ApiKey| versions.get(&(api as i16)).copied();
    assert_eq!(range(ApiKey::DeleteRecords), Some((0, 2)));
    assert_eq!(range(ApiKey::DescribeConfigs), Some((1, 4)));
    assert_eq!(range(ApiKey::CreatePartitions), Some((0, 3)));
    assert_eq!(range(ApiKey::IncrementalAlterConfigs), Some((0, 1)));
    assert_eq!(range(ApiKey::DescribeCluster), Some((0, 2)));
    assert_eq!(range(ApiKey::DescribeTopicPartitions), Some((0, 0)));
    assert_eq!(range(ApiKey::ElectLeaders), Some((0, 2)));
    assert_eq!(range(ApiKey::AlterPartitionReassignments), Some((0, 1)));
    assert_eq!(range(ApiKey::ListPartitionReassignments), Some((0, 0)));
    assert_eq!(
        range(ApiKey::DescribeQuorum),
        None,
        "a single node has no quorum to describe"
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn describe_configs_topic_and_broker_resources() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "dc", 1, &[("retention.ms", "1000")]);
    let node = broker.broker().node_id().to_string();
    let mut c = Client::connect(broker.kafka_addr()).await;
    let default_segment_bytes = broker.broker().config().log.segment_bytes.to_string();
    for version in [1i16, 4] {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_topic("dc", None),
            describe_topic(
                "dc",
                Some(&["retention.ms", "segment.bytes", "no.such.key"]),
            ),
            describe_topic("missing", None),
            describe_topic("bad name!", None),
            describe_broker(""),
            describe_broker(&node),
            describe_broker("99"),
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(8)
                .with_resource_name(s(&node))
                .with_configuration_keys(None),
        ]);
        let r: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, version, &req).await;
        assert_eq!(r.results.len(), 8, "v{version}");

        let all = &r.results[0];
        assert_eq!(
            (all.error_code, &all.error_message, all.resource_type),
            (0, &None, 2)
        );
        assert_eq!(all.resource_name.as_str(), "dc");
        let configs = config_map(all);
        let keys: Vec<&str> = configs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            rafka::broker::topic_config::KEYS,
            "every key, v{version}"
        );
        assert_eq!(configs["retention.ms"], (Some("1000".to_string()), 1));
        assert_eq!(
            configs["segment.bytes"],
            (Some(default_segment_bytes.clone()), 5)
        );
        assert_eq!(configs["cleanup.policy"], (Some("delete".to_string()), 5));
        for e in &all.configs {
            assert!(!e.read_only && !e.is_sensitive && e.synonyms.is_empty());
        }
        let retention = all
            .configs
            .iter()
            .find(|e| e.name.as_str() == "retention.ms")
            .expect("retention.ms");
        // LONG from v3, absent (0) before
        assert_eq!(retention.config_type, if version >= 3 { 5 } else { 0 });

        let filtered = config_map(&r.results[1]);
        assert_eq!(
            filtered.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["retention.ms", "segment.bytes"],
            "only the requested keys"
        );

        assert_eq!(r.results[2].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
        assert!(r.results[2].configs.is_empty());
        assert_eq!(r.results[3].error_code, 17, "INVALID_TOPIC_EXCEPTION");

        for b in &r.results[4..6] {
            assert_eq!((b.error_code, b.resource_type), (0, 4));
            assert!(b.configs.is_empty(), "broker configs are not described");
        }
        assert_eq!(
            r.results[6].error_code, 42,
            "another broker id: INVALID_REQUEST"
        );
        assert!(r.results[6].error_message.is_some());
        assert_eq!(
            r.results[7].error_code, 42,
            "broker loggers: INVALID_REQUEST"
        );

        // with synonyms: an override lists itself (source TOPIC_CONFIG), defaults nothing
        let req = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![describe_topic(
                "dc",
                Some(&["retention.ms", "segment.ms"]),
            )]);
        let r: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, version, &req).await;
        let configs = &r.results[0].configs;
        assert_eq!(configs.len(), 2);
        let synonyms: Vec<(String, Option<String>, i8)> = configs[0]
            .synonyms
            .iter()
            .map(|y| {
                (
                    y.name.to_string(),
                    y.value.as_ref().map(|v| v.to_string()),
                    y.source,
                )
            })
            .collect();
        assert_eq!(
            synonyms,
            vec![("retention.ms".to_string(), Some("1000".to_string()), 1)]
        );
        assert!(configs[1].synonyms.is_empty());
    }
    broker.shutdown().await.expect("shutdown");
}

fn alter(
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> incremental_alter_configs_request::AlterConfigsResource {
    incremental_alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s(name))
        .with_configs(
            ops.iter()
                .map(|(k, op, v)| {
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s(k))
                        .with_config_operation(*op)
                        .with_value(v.map(s))
                })
                .collect(),
        )
}

#[tokio::test]
async fn incremental_alter_configs_sets_and_deletes_topic_overrides() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "ia", 2, &[]);
    let mut c = Client::connect(broker.kafka_addr()).await;

    // v0: SET two keys, and APPEND to the list key with what it already holds
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![alter(
        "ia",
        &[
            ("retention.ms", 0, Some("2000")),
            ("segment.ms", 0, Some("60000")),
            ("cleanup.policy", 2, Some("delete")),
        ],
    )]);
    let r: IncrementalAlterConfigsResponse = c.call(ApiKey::IncrementalAlterConfigs, 0, &req).await;
    let res = &r.responses[0];
    assert_eq!((res.error_code, &res.error_message), (0, &None));
    assert_eq!((res.resource_type, res.resource_name.as_str()), (2, "ia"));
    let configs = topic_configs(&mut c, "ia").await;
    assert_eq!(configs["retention.ms"], (Some("2000".to_string()), 1));
    assert_eq!(configs["segment.ms"], (Some("60000".to_string()), 1));
    assert_eq!(configs["cleanup.policy"], (Some("delete".to_string()), 1));
    let topic = broker.broker().topic("ia").expect("topic");
    assert_eq!(
        topic.partitions[1].config().retention_ms,
        2000,
        "applied to the logs"
    );

    // v1: DELETE one, validate_only leaves everything as it was
    let req = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![alter("ia", &[("retention.ms", 1, None)])]);
    let r: IncrementalAlterConfigsResponse = c.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(true)
        .with_resources(vec![alter("ia", &[("segment.ms", 0, Some("1"))])]);
    let r: IncrementalAlterConfigsResponse = c.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    let configs = topic_configs(&mut c, "ia").await;
    assert_eq!(configs["retention.ms"].1, 5, "back to the default");
    assert_eq!(configs["segment.ms"], (Some("60000".to_string()), 1));

    // errors, one per resource (each in a request of its own: Kafka refuses a resource
    // named twice in one request, below)
    let broker_resource = incremental_alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s(""))
        .with_configs(vec![]);
    let resources = vec![
        alter("ia", &[("no.such.key", 0, Some("1"))]),
        alter("ia", &[("retention.ms", 0, Some("soon"))]),
        alter("ia", &[("retention.ms", 2, Some("5"))]),
        alter("ia", &[("cleanup.policy", 3, Some("delete"))]),
        alter("ia", &[("cleanup.policy", 0, Some("compacted"))]),
        alter("ia", &[("retention.ms", 0, None)]),
        alter(
            "ia",
            &[("retention.ms", 0, Some("1")), ("retention.ms", 1, None)],
        ),
        alter("missing", &[("retention.ms", 0, Some("1"))]),
        broker_resource,
    ];
    for version in [0i16, 1] {
        let responses = alter_each(&mut c, version, &resources).await;
        let codes: Vec<i16> = responses.iter().map(|x| x.error_code).collect();
        assert_eq!(codes, vec![40, 40, 40, 40, 40, 42, 42, 3, 42], "v{version}");
        assert!(
            responses.iter().all(|x| x.error_message.is_some()),
            "every error has a message"
        );
        assert_eq!(responses[8].resource_type, 4);
    }
    // a resource named twice: both refused, nothing applied
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        alter("ia", &[("segment.ms", 0, Some("1"))]),
        alter("ia", &[("segment.ms", 0, Some("2"))]),
    ]);
    let r: IncrementalAlterConfigsResponse = c.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
    let answers: Vec<(i16, Option<&str>)> = r
        .responses
        .iter()
        .map(|x| (x.error_code, x.error_message.as_deref()))
        .collect();
    assert_eq!(
        answers,
        [(42, Some("Each resource must appear at most once.")); 2]
    );
    let configs = topic_configs(&mut c, "ia").await;
    assert_eq!(
        configs["segment.ms"],
        (Some("60000".to_string()), 1),
        "nothing changed"
    );
    assert_eq!(configs["retention.ms"].1, 5);
    broker.shutdown().await.expect("shutdown");
}

/// MirrorMaker 2's topic config sync (issue #16): one IncrementalAlterConfigs v1 request
/// per topic that SETs the keys it copies and DELETEs every other Kafka 4 topic key. The
/// DELETEs of keys Rafka does not support are no-ops, as in Kafka 4 (its controller writes a
/// record only for a key whose value changes), so the SET applies; setting such a key is
/// INVALID_CONFIG, saying Rafka does not support it, and setting a key Kafka does not know
/// either is INVALID_CONFIG too. Kafka 4.3.1's controller answers a DELETE of an unknown
/// key with no error (nothing to delete, nothing validated), and so does Rafka.
#[tokio::test]
async fn incremental_alter_configs_takes_mirrormakers_deletes_of_unsupported_keys() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "mm", 1, &[]);
    let mut c = Client::connect(broker.kafka_addr()).await;
    let mut ops: Vec<(&str, i8, Option<&str>)> = vec![("retention.ms", 0, Some("3600000"))];
    for key in [
        "cleanup.policy",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.type",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    ] {
        ops.push((key, 1, None));
    }
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![alter("mm", &ops)]);
    let r: IncrementalAlterConfigsResponse = c.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
    let res = &r.responses[0];
    assert_eq!((res.error_code, &res.error_message), (0, &None));
    let configs = topic_configs(&mut c, "mm").await;
    assert_eq!(configs["retention.ms"], (Some("3600000".to_string()), 1));
    let topic = broker.broker().topic("mm").expect("topic");
    assert_eq!(topic.partitions[0].config().retention_ms, 3_600_000);

    for version in [0i16, 1] {
        let resources = [
            alter("mm", &[("compression.type", 0, Some("gzip"))]),
            alter("mm", &[("no.such.key", 0, Some("1"))]),
            alter("mm", &[("no.such.key", 1, None)]),
        ];
        let responses = alter_each(&mut c, version, &resources).await;
        let answers: Vec<(i16, Option<&str>)> = responses
            .iter()
            .map(|x| (x.error_code, x.error_message.as_ref().map(|m| m.as_str())))
            .collect();
        assert_eq!(
            answers,
            vec![
                (
                    40,
                    Some("Rafka does not support topic config 'compression.type' yet")
                ),
                (40, Some("unknown topic config 'no.such.key'")),
                (0, None),
            ],
            "v{version}"
        );
    }
    let configs = topic_configs(&mut c, "mm").await;
    assert!(!configs.contains_key("compression.type"));
    assert_eq!(configs["retention.ms"], (Some("3600000".to_string()), 1));
    broker.shutdown().await.expect("shutdown");
}

/// Each resource altered in a request of its own: the answers, in order.
async fn alter_each(
    c: &mut Client,
    version: i16,
    resources: &[incremental_alter_configs_request::AlterConfigsResource],
) -> Vec<incremental_alter_configs_response::AlterConfigsResourceResponse> {
    let mut answers = Vec::new();
    for r in resources {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![r.clone()]);
        let resp: IncrementalAlterConfigsResponse =
            c.call(ApiKey::IncrementalAlterConfigs, version, &req).await;
        answers.extend(resp.responses);
    }
    answers
}

fn grow(
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
) -> create_partitions_request::CreatePartitionsTopic {
    create_partitions_request::CreatePartitionsTopic::default()
        .with_name(topic_name(name))
        .with_count(count)
        .with_assignments(assignments.map(|a| {
            a.into_iter()
                .map(|ids| {
                    create_partitions_request::CreatePartitionsAssignment::default()
                        .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                })
                .collect()
        }))
}

#[tokio::test]
async fn create_partitions_grows_topics() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "cp", 1, &[]);
    let me = broker.broker().node_id();
    let mut c = Client::connect(broker.kafka_addr()).await;
    let partitions = |b: &rafka::BrokerHandle| b.broker().topic("cp").expect("cp").partitions.len();

    // v0: 1 -> 2 without assignments; validate_only creates nothing
    let r: CreatePartitionsResponse = c
        .call(
            ApiKey::CreatePartitions,
            0,
            &CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![grow("cp", 2, None)]),
        )
        .await;
    assert_eq!(r.results[0].name.0.as_str(), "cp");
    assert_eq!(
        (r.results[0].error_code, &r.results[0].error_message),
        (0, &None)
    );
    assert_eq!(partitions(&broker), 2);
    let r: CreatePartitionsResponse = c
        .call(
            ApiKey::CreatePartitions,
            3,
            &CreatePartitionsRequest::default()
                .with_validate_only(true)
                .with_topics(vec![grow("cp", 5, None)]),
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(partitions(&broker), 2, "validate_only");

    // v3: 2 -> 4 with an assignment per new partition on this broker
    let r: CreatePartitionsResponse = c
        .call(
            ApiKey::CreatePartitions,
            3,
            &CreatePartitionsRequest::default().with_topics(vec![grow(
                "cp",
                4,
                Some(vec![vec![me], vec![me]]),
            )]),
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(partitions(&broker), 4);
    support::produce_values(&mut c, "cp", 3, &["into a new partition"]).await;
    let md: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name("cp"))),
            ])),
        )
        .await;
    assert_eq!(md.topics[0].partitions.len(), 4);

    for version in [0i16, 3] {
        let r: CreatePartitionsResponse = c
            .call(
                ApiKey::CreatePartitions,
                version,
                &CreatePartitionsRequest::default().with_topics(vec![
                    grow("cp", 4, None),
                    grow("missing", 2, None),
                    grow("dup", 3, None),
                    grow("dup", 3, None),
                ]),
            )
            .await;
        let codes: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
        assert_eq!(codes, vec![37, 3, 42, 42], "v{version}");
        assert!(r.results[0].error_message.is_some());
        for (count, assignments) in [
            (3, None),                     // shrinking
            (5, Some(vec![vec![me + 1]])), // another broker
            (6, Some(vec![vec![me]])),     // 2 new partitions, 1 assignment
            (5, Some(vec![vec![me, me]])), // replication factor 2
            (5, Some(vec![vec![]])),       // no replica
        ] {
            let expected = if assignments.is_none() { 37 } else { 39 };
            let r: CreatePartitionsResponse = c
                .call(
                    ApiKey::CreatePartitions,
                    version,
                    &CreatePartitionsRequest::default().with_topics(vec![grow(
                        "cp",
                        count,
                        assignments.clone(),
                    )]),
                )
                .await;
            assert_eq!(
                r.results[0].error_code, expected,
                "v{version} count {count} {assignments:?}"
            );
            assert!(r.results[0].error_message.is_some());
        }
    }
    assert_eq!(partitions(&broker), 4, "no failed request changed anything");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn describe_cluster_lists_this_broker() {
    let (broker, _dir) = start_broker().await;
    let b = broker.broker();
    let mut c = Client::connect(broker.kafka_addr()).await;
    for version in [0i16, 2] {
        let r: DescribeClusterResponse = c
            .call(
                ApiKey::DescribeCluster,
                version,
                &DescribeClusterRequest::default(),
            )
            .await;
        assert_eq!((r.error_code, &r.error_message), (0, &None), "v{version}");
        assert_eq!(r.endpoint_type, 1);
        assert_eq!(r.cluster_id.as_str(), b.cluster_id());
        assert_eq!(r.controller_id.0, b.node_id());
        assert_eq!(r.brokers.len(), 1);
        let me = &r.brokers[0];
        assert_eq!(me.broker_id.0, b.node_id());
        assert_eq!(me.host.as_str(), b.config().listeners[0].advertised.0);
        assert_eq!(me.port, i32::from(broker.kafka_addr().port()));
        assert_eq!(me.rack, None);
        assert!(!me.is_fenced);
        assert_eq!(r.cluster_authorized_operations, i32::MIN, "not requested");
        let r: DescribeClusterResponse = c
            .call(
                ApiKey::DescribeCluster,
                version,
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            )
            .await;
        // CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
        // IDEMPOTENT_WRITE: what Kafka answers without an authorizer
        assert_eq!(r.cluster_authorized_operations, 0b1_1111_1010_0000);
    }
    for (version, endpoint_type, expected) in [(1i16, 2i8, 114i16), (2, 2, 114), (2, 7, 115)] {
        let r: DescribeClusterResponse = c
            .call(
                ApiKey::DescribeCluster,
                version,
                &DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
            )
            .await;
        assert_eq!(
            r.error_code, expected,
            "v{version} endpoint type {endpoint_type}"
        );
        assert!(r.error_message.is_some());
        assert!(r.brokers.is_empty());
    }
    broker.shutdown().await.expect("shutdown");
}

fn dtp(names: &[&str], limit: i32, cursor: Option<(&str, i32)>) -> DescribeTopicPartitionsRequest {
    DescribeTopicPartitionsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| {
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic_name(n))
                })
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            describe_topic_partitions_request::Cursor::default()
                .with_topic_name(topic_name(t))
                .with_partition_index(p)
        }))
}

/// (topic, partition) pairs of a response, in order.
fn pairs(r: &DescribeTopicPartitionsResponse) -> Vec<(String, i32)> {
    r.topics
        .iter()
        .flat_map(|t| {
            let name = t.name.as_ref().expect("name").0.to_string();
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect()
}

#[tokio::test]
async fn describe_topic_partitions_pages_with_a_cursor() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "b", 2, &[]);
    create(&broker, "a", 3, &[]);
    create(&broker, "c", 1, &[]);
    let me = broker.broker().node_id();
    let mut c = Client::connect(broker.kafka_addr()).await;

    // by name, sorted, unknown and invalid names answered with their errors
    let r: DescribeTopicPartitionsResponse = c
        .call(
            ApiKey::DescribeTopicPartitions,
            0,
            &dtp(&["c", "missing", "a", "bad name!", "a"], 2000, None),
        )
        .await;
    let summary: Vec<(String, i16, usize)> = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().expect("name").0.to_string(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a".to_string(), 0, 3),
            ("bad name!".to_string(), 17, 0),
            ("c".to_string(), 0, 1),
            ("missing".to_string(), 3, 0),
        ]
    );
    assert_eq!(r.next_cursor, None);
    let a = &r.topics[0];
    assert_eq!(a.topic_id, broker.broker().topic("a").expect("a").id);
    assert!(!a.is_internal);
    // every topic operation, as Kafka answers without an authorizer
    assert_eq!(a.topic_authorized_operations, 0b1101_1111_1000);
    let p = &a.partitions[2];
    assert_eq!((p.error_code, p.partition_index, p.leader_id.0), (0, 2, me));
    assert_eq!(p.leader_epoch, 0);
    assert_eq!(p.replica_nodes, vec![BrokerId(me)]);
    assert_eq!(p.isr_nodes, vec![BrokerId(me)]);
    assert_eq!(p.eligible_leader_replicas, Some(vec![]));
    assert!(p.offline_replicas.is_empty());
    assert_eq!(r.topics[3].topic_id, uuid::Uuid::nil());

    // every topic (empty list), two partitions per page, following the cursor
    let mut seen = Vec::new();
    let mut cursor: Option<(String, i32)> = None;
    let mut pages = 0;
    loop {
        let req = dtp(&[], 2, cursor.as_ref().map(|(t, p)| (t.as_str(), *p)));
        let r: DescribeTopicPartitionsResponse =
            c.call(ApiKey::DescribeTopicPartitions, 0, &req).await;
        let got = pairs(&r);
        assert!(got.len() <= 2, "limit respected: {got:?}");
        seen.extend(got);
        pages += 1;
        match r.next_cursor {
            Some(next) => cursor = Some((next.topic_name.0.to_string(), next.partition_index)),
            None => break,
        }
        assert!(pages < 10, "paging terminates");
    }
    let expected: Vec<(String, i32)> = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("c", 0)]
        .iter()
        .map(|(t, p)| (t.to_string(), *p))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    // a cut inside a topic names the next partition of that topic
    let r: DescribeTopicPartitionsResponse = c
        .call(
            ApiKey::DescribeTopicPartitions,
            0,
            &dtp(&["a", "b"], 2, None),
        )
        .await;
    let next = r.next_cursor.expect("cut");
    assert_eq!((next.topic_name.0.as_str(), next.partition_index), ("a", 2));

    // a cursor naming a topic outside the list, or a negative partition: INVALID_REQUEST
    for req in [
        dtp(&["a", "b"], 10, Some(("c", 0))),
        dtp(&["a"], 10, Some(("a", -1))),
    ] {
        let r: DescribeTopicPartitionsResponse =
            c.call(ApiKey::DescribeTopicPartitions, 0, &req).await;
        assert!(!r.topics.is_empty());
        assert!(r
            .topics
            .iter()
            .all(|t| t.error_code == 42 && t.partitions.is_empty()));
    }
    broker.shutdown().await.expect("shutdown");
}

fn delete(topic: &str, partitions: &[(i32, i64)]) -> delete_records_request::DeleteRecordsTopic {
    delete_records_request::DeleteRecordsTopic::default()
        .with_name(topic_name(topic))
        .with_partitions(
            partitions
                .iter()
                .map(|(p, o)| {
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(*p)
                        .with_offset(*o)
                })
                .collect(),
        )
}

async fn log_start(c: &mut Client, topic: &str, partition: i32) -> i64 {
    let lo = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-2),
            ])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &lo).await;
    r.topics[0].partitions[0].offset
}

#[tokio::test]
async fn delete_records_moves_the_log_start() {
    let (broker, _dir) = start_broker().await;
    create(&broker, "dr", 2, &[]);
    let mut c = Client::connect(broker.kafka_addr()).await;
    for _ in 0..3 {
        support::produce_values(&mut c, "dr", 0, &["x", "y"]).await;
        support::produce_values(&mut c, "dr", 1, &["x", "y"]).await;
    }
    // v0: up to offset 2 on partition 0
    let r: DeleteRecordsResponse = c
        .call(
            ApiKey::DeleteRecords,
            0,
            &DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![delete("dr", &[(0, 2)])]),
        )
        .await;
    assert_eq!(r.topics[0].name.0.as_str(), "dr");
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.partition_index, p.error_code, p.low_watermark),
        (0, 0, 2)
    );
    assert_eq!(log_start(&mut c, "dr", 0).await, 2);

    // v2: -1 means the high watermark; errors per partition and topic
    let r: DeleteRecordsResponse = c
        .call(
            ApiKey::DeleteRecords,
            2,
            &DeleteRecordsRequest::default().with_topics(vec![
                delete("dr", &[(1, -1), (0, 100), (0, -5), (7, 0)]),
                delete("missing", &[(0, 0)]),
            ]),
        )
        .await;
    let got: Vec<(i32, i16, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.low_watermark))
        .collect();
    assert_eq!(got, vec![(1, 0, 6), (0, 1, -1), (0, 1, -1), (7, 3, -1)]);
    let missing = &r.topics[1].partitions[0];
    assert_eq!((missing.error_code, missing.low_watermark), (3, -1));
    assert_eq!(log_start(&mut c, "dr", 1).await, 6);
    assert_eq!(
        log_start(&mut c, "dr", 0).await,
        2,
        "failed deletes change nothing"
    );

    // deleting below the current start is a no-op that reports the start
    let r: DeleteRecordsResponse = c
        .call(
            ApiKey::DeleteRecords,
            2,
            &DeleteRecordsRequest::default().with_topics(vec![delete("dr", &[(0, 1)])]),
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].low_watermark, 2);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn describe_log_dirs_lists_hosted_partitions_with_their_sizes() {
    let (broker, dir) = start_broker().await;
    create(&broker, "dirs", 2, &[]);
    create(&broker, "other", 1, &[]);
    let mut c = Client::connect(broker.kafka_addr()).await;
    support::produce_values(&mut c, "dirs", 1, &["a", "b", "c"]).await;
    let all: DescribeLogDirsResponse = c
        .call(
            ApiKey::DescribeLogDirs,
            4,
            &DescribeLogDirsRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(all.results.len(), 1);
    let r = &all.results[0];
    assert_eq!(r.error_code, 0);
    let canonical = std::fs::canonicalize(dir.path()).expect("dir");
    assert!(
        std::path::Path::new(r.log_dir.as_str()).starts_with(&canonical),
        "{} is the data dir",
        r.log_dir.as_str()
    );
    let sizes: BTreeMap<(String, i32), i64> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.0.to_string(), p.partition_index), p.partition_size))
        })
        .collect();
    assert!(sizes[&("dirs".to_string(), 1)] > 0, "{sizes:?}");
    assert_eq!(sizes[&("dirs".to_string(), 0)], 0);
    assert!(sizes.contains_key(&("other".to_string(), 0)));
    // asked for one partition: only that one
    let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(topic_name("dirs"))
            .with_partitions(vec![1]),
    ]));
    let one: DescribeLogDirsResponse = c.call(ApiKey::DescribeLogDirs, 1, &req).await;
    let listed: Vec<(String, Vec<i32>)> = one.results[0]
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    assert_eq!(listed, vec![("dirs".to_string(), vec![1])]);
}
