//! Committed offsets (OffsetCommit v2-v9, OffsetFetch v1-v9, OffsetDelete), the group
//! admin APIs (DeleteGroups, ListGroups, DescribeGroups) and durability across a restart.

use std::collections::BTreeMap;

use kafka_protocol::messages::*;

use crate::support::Client;
use crate::wire::*;

/// OffsetCommit v2..v9 and OffsetFetch v1..v9 round-trip: offsets, metadata, and the
/// leader epoch where both versions carry it; a partition never committed reads -1;
/// "all partitions" (null topics, v2+) returns exactly the committed ones; OffsetFetch
/// v8 batches two groups (KIP-709); metadata over offset.metadata.max.bytes (4096) is
/// OFFSET_METADATA_TOO_LARGE for that partition only. Every commit here is a simple one
/// (generation -1, no member id) to a group without members: accepted.
#[tokio::test]
async fn offset_commit_v2_to_v9_and_fetch_v1_to_v9_round_trip() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("oc");
    create_topic(&mut c, &topic, 3).await;
    let mut groups = Vec::new();
    for cv in 2..=9i16 {
        let group = unique(&format!("oc-v{cv}"));
        let mut p0 = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(0)
            .with_committed_offset(100 + i64::from(cv))
            .with_committed_metadata(Some(s(&format!("meta-v{cv}"))));
        if cv >= 6 {
            p0 = p0.with_committed_leader_epoch(7);
        }
        let p1 = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(1)
            .with_committed_offset(200 + i64::from(cv))
            .with_committed_metadata(None);
        let req = OffsetCommitRequest::default()
            .with_group_id(group_id(&group))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(vec![p0, p1]),
            ]);
        let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, cv, &req).await;
        assert_eq!(r.topics.len(), 1, "OffsetCommit v{cv}");
        assert_eq!(r.topics[0].name.as_str(), topic, "v{cv}");
        let errors: Vec<(i32, i16)> = r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        assert_eq!(errors, vec![(0, NONE), (1, NONE)], "OffsetCommit v{cv}");

        for fv in 1..=9i16 {
            let (err, got) = fetch(&mut c, fv, &group, &topic, Some(&[0, 1, 2])).await;
            assert_eq!(err, NONE, "commit v{cv}, fetch v{fv}");
            let epoch = if fv >= 5 && cv >= 6 { 7 } else { -1 };
            let key = |p: i32| (topic.clone(), p);
            assert_eq!(
                got.get(&key(0)),
                Some(&Committed {
                    offset: 100 + i64::from(cv),
                    metadata: Some(format!("meta-v{cv}")),
                    leader_epoch: epoch,
                    error: NONE,
                }),
                "commit v{cv}, fetch v{fv}: partition 0"
            );
            let p1 = got.get(&key(1)).expect("partition 1");
            assert_eq!(
                (
                    p1.offset,
                    p1.metadata.clone().unwrap_or_default().as_str(),
                    p1.error
                ),
                (200 + i64::from(cv), "", NONE),
                "commit v{cv}, fetch v{fv}: partition 1 (null metadata)"
            );
            let p2 = got.get(&key(2)).expect("partition 2");
            assert_eq!((p2.offset, p2.error), (-1, NONE), "never committed: -1");
            if fv >= 2 {
                let (err, all) = fetch(&mut c, fv, &group, &topic, None).await;
                assert_eq!(err, NONE);
                let keys: Vec<(String, i32)> = all.keys().cloned().collect();
                assert_eq!(keys, vec![key(0), key(1)], "fetch v{fv} of all partitions");
            }
        }
        groups.push(group);
    }

    // KIP-709: one OffsetFetch v8 for two groups
    let req = OffsetFetchRequest::default().with_groups(
        groups[..2]
            .iter()
            .map(|g| {
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(g))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic_name(&topic))
                            .with_partition_indexes(vec![0]),
                    ]))
            })
            .collect(),
    );
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 8, &req).await;
    let got: Vec<(String, i64)> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.topics[0].partitions[0].committed_offset,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(groups[0].clone(), 102), (groups[1].clone(), 103)]
    );

    // offset.metadata.max.bytes: only that partition fails
    let group = unique("oc-big");
    let big = "m".repeat(5000);
    let req = OffsetCommitRequest::default()
        .with_group_id(group_id(&group))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_metadata(Some(s(&big))),
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(2),
                ]),
        ]);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 8, &req).await;
    let errors: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(errors, vec![OFFSET_METADATA_TOO_LARGE, NONE]);
    assert_eq!(committed_offset(&mut c, &group, &topic, 0).await, -1);
    assert_eq!(committed_offset(&mut c, &group, &topic, 1).await, 2);
    t.shutdown().await;
}

/// A simple commit (generation -1, empty member id: how kcat and kafka-consumer-groups
/// --reset-offsets commit) is accepted while the group has no members and refused with
/// UNKNOWN_MEMBER_ID while it has one (Kafka's ClassicGroup.validateOffsetCommit); the
/// member's own commits go through.
#[tokio::test]
async fn simple_commits_only_while_the_group_is_empty() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("simple");
    create_topic(&mut c, &topic, 1).await;
    let group = unique("simple");
    assert_eq!(
        simple_commit(&mut c, &group, &topic, &[(0, 3)]).await,
        vec![NONE],
        "no group yet"
    );
    assert_eq!(committed_offset(&mut c, &group, &topic, 0).await, 3);
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    sync_all(&mut ms, &topic, 1).await;
    assert_eq!(
        simple_commit(&mut c, &group, &topic, &[(0, 4)]).await,
        vec![UNKNOWN_MEMBER_ID],
        "a simple commit to a group with a member"
    );
    let (generation, id) = (ms[0].generation, ms[0].member_id.clone());
    assert_eq!(
        commit(&mut c, 8, &group, generation, &id, &topic, &[(0, 5)]).await,
        vec![NONE]
    );
    assert_eq!(committed_offset(&mut c, &group, &topic, 0).await, 5);
    assert_eq!(ms[0].leave().await, NONE);
    assert_eq!(
        simple_commit(&mut c, &group, &topic, &[(0, 6)]).await,
        vec![NONE],
        "empty again"
    );
    assert_eq!(committed_offset(&mut c, &group, &topic, 0).await, 6);
    t.shutdown().await;
}

/// OffsetDelete v0: removes committed offsets of an empty group; for a group with
/// members, a topic they subscribe to is GROUP_SUBSCRIBED_TO_TOPIC (86) and another topic
/// can go; an unknown group is GROUP_ID_NOT_FOUND.
#[tokio::test]
async fn offset_delete() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let (subscribed, other) = (unique("od-sub"), unique("od-other"));
    create_topic(&mut c, &subscribed, 2).await;
    create_topic(&mut c, &other, 1).await;
    let group = unique("od");
    let mut ms = vec![Member::new(t.addr, &group, Versions::LATEST, &subscribed).await];
    form_group(&mut ms).await;
    sync_all(&mut ms, &subscribed, 2).await;
    let (generation, id) = (ms[0].generation, ms[0].member_id.clone());
    let r = commit(
        &mut c,
        8,
        &group,
        generation,
        &id,
        &subscribed,
        &[(0, 1), (1, 2)],
    )
    .await;
    assert_eq!(r, vec![NONE, NONE]);
    assert_eq!(
        commit(&mut c, 8, &group, generation, &id, &other, &[(0, 3)]).await,
        vec![NONE]
    );

    let delete = |group: &str, topics: &[(&str, i32)]| {
        OffsetDeleteRequest::default()
            .with_group_id(group_id(group))
            .with_topics(
                topics
                    .iter()
                    .map(|(t, p)| {
                        offset_delete_request::OffsetDeleteRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(vec![
                                offset_delete_request::OffsetDeleteRequestPartition::default()
                                    .with_partition_index(*p),
                            ])
                    })
                    .collect(),
            )
    };
    let r: OffsetDeleteResponse = c
        .call(
            ApiKey::OffsetDelete,
            0,
            &delete(&group, &[(&subscribed, 0), (&other, 0)]),
        )
        .await;
    assert_eq!(r.error_code, NONE);
    let errors: BTreeMap<String, i16> = r
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        errors[&subscribed], GROUP_SUBSCRIBED_TO_TOPIC,
        "a topic the member consumes"
    );
    assert_eq!(errors[&other], NONE, "a topic nobody in the group consumes");
    assert_eq!(committed_offset(&mut c, &group, &subscribed, 0).await, 1);
    assert_eq!(committed_offset(&mut c, &group, &other, 0).await, -1);

    assert_eq!(ms[0].leave().await, NONE);
    let r: OffsetDeleteResponse = c
        .call(
            ApiKey::OffsetDelete,
            0,
            &delete(&group, &[(&subscribed, 0)]),
        )
        .await;
    assert_eq!(
        (r.error_code, r.topics[0].partitions[0].error_code),
        (NONE, NONE)
    );
    assert_eq!(committed_offset(&mut c, &group, &subscribed, 0).await, -1);
    assert_eq!(
        committed_offset(&mut c, &group, &subscribed, 1).await,
        2,
        "the other partition stays"
    );

    let r: OffsetDeleteResponse = c
        .call(
            ApiKey::OffsetDelete,
            0,
            &delete(&unique("od-none"), &[(&subscribed, 0)]),
        )
        .await;
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    t.shutdown().await;
}

// ---------------------------------------------------------------- group admin

/// DeleteGroups v0-v2: an unknown group is GROUP_ID_NOT_FOUND (69), a group with a member
/// NON_EMPTY_GROUP (68); an empty group (one whose member left, or one that only has
/// committed offsets) is deleted with its offsets, and is gone from ListGroups.
#[tokio::test]
async fn delete_groups() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("dg");
    create_topic(&mut c, &topic, 1).await;
    let delete = |groups: &[&str]| {
        DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|g| group_id(g)).collect())
    };
    // one result per group, in no particular order
    let results = |r: DeleteGroupsResponse| -> BTreeMap<String, i16> {
        r.results
            .iter()
            .map(|x| (x.group_id.to_string(), x.error_code))
            .collect()
    };
    let want = |x: &[(&String, i16)]| -> BTreeMap<String, i16> {
        x.iter().map(|(g, e)| ((*g).clone(), *e)).collect()
    };
    let (active, simple, unknown) = (unique("dg-active"), unique("dg-simple"), unique("dg-none"));
    let mut ms = vec![Member::new(t.addr, &active, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    sync_all(&mut ms, &topic, 1).await;
    let (generation, id) = (ms[0].generation, ms[0].member_id.clone());
    assert_eq!(
        commit(&mut c, 8, &active, generation, &id, &topic, &[(0, 4)]).await,
        vec![NONE]
    );
    assert_eq!(
        simple_commit(&mut c, &simple, &topic, &[(0, 9)]).await,
        vec![NONE]
    );
    for version in 0..=2 {
        let r: DeleteGroupsResponse = c
            .call(ApiKey::DeleteGroups, version, &delete(&[&unknown, &active]))
            .await;
        assert_eq!(
            results(r),
            want(&[(&unknown, GROUP_ID_NOT_FOUND), (&active, NON_EMPTY_GROUP)]),
            "DeleteGroups v{version}"
        );
    }
    assert_eq!(ms[0].leave().await, NONE);
    let r: DeleteGroupsResponse = c
        .call(ApiKey::DeleteGroups, 2, &delete(&[&active, &simple]))
        .await;
    assert_eq!(results(r), want(&[(&active, NONE), (&simple, NONE)]));
    assert_eq!(
        committed_offset(&mut c, &active, &topic, 0).await,
        -1,
        "offsets deleted"
    );
    assert_eq!(
        committed_offset(&mut c, &simple, &topic, 0).await,
        -1,
        "offsets deleted"
    );
    let listed = list_groups(&mut c, 4, None).await;
    assert!(!listed.contains_key(&active) && !listed.contains_key(&simple));
    let r: DeleteGroupsResponse = c.call(ApiKey::DeleteGroups, 1, &delete(&[&simple])).await;
    assert_eq!(
        results(r),
        want(&[(&simple, GROUP_ID_NOT_FOUND)]),
        "deleted twice"
    );
    t.shutdown().await;
}

/// ListGroups v0-v5 and DescribeGroups v0-v6 on a group with a member and on a group that
/// only has committed offsets: protocol type, state (ListGroups v4+, with a states filter),
/// group type (v5, "classic"), and the member with its metadata and assignment. A group
/// that does not exist is described as Dead before v6 and GROUP_ID_NOT_FOUND from v6
/// (KIP-1043).
#[tokio::test]
async fn list_and_describe_groups_at_every_version() {
    let t = Target::start().await;
    let mut c = t.client().await;
    let topic = unique("ld");
    create_topic(&mut c, &topic, 2).await;
    let (active, simple) = (unique("ld-active"), unique("ld-simple"));
    let mut ms = vec![Member::new(t.addr, &active, Versions::LATEST, &topic).await];
    form_group(&mut ms).await;
    let assigned = sync_all(&mut ms, &topic, 2).await.remove(0);
    assert_eq!(
        simple_commit(&mut c, &simple, &topic, &[(0, 1)]).await,
        vec![NONE]
    );

    for version in 0..=5 {
        let listed = list_groups(&mut c, version, None).await;
        let (state_active, state_simple, classic) = if version >= 4 {
            ("Stable", "Empty", if version >= 5 { "classic" } else { "" })
        } else {
            ("", "", "")
        };
        assert_eq!(
            listed.get(&active),
            Some(&(
                "consumer".to_string(),
                state_active.to_string(),
                classic.to_string()
            )),
            "ListGroups v{version}"
        );
        assert_eq!(
            listed.get(&simple),
            Some(&(String::new(), state_simple.to_string(), classic.to_string())),
            "ListGroups v{version}: a group with only committed offsets"
        );
        if version >= 4 {
            let stable = list_groups(&mut c, version, Some(&["Stable"])).await;
            assert!(
                stable.contains_key(&active) && !stable.contains_key(&simple),
                "states filter"
            );
        }
    }
    let req = ListGroupsRequest::default().with_types_filter(vec![s("consumer")]);
    let r: ListGroupsResponse = c.call(ApiKey::ListGroups, 5, &req).await;
    assert!(
        r.groups.iter().all(|g| g.group_id.as_str() != active),
        "types filter: a classic group is not of type consumer"
    );

    for version in 0..=6 {
        let d = describe_at(&mut c, version, &active).await;
        assert_eq!(d.error_code, NONE, "DescribeGroups v{version}");
        assert_eq!(
            (
                d.group_state.as_str(),
                d.protocol_type.as_str(),
                d.protocol_data.as_str()
            ),
            ("Stable", "consumer", "range"),
            "DescribeGroups v{version}"
        );
        assert_eq!(d.members.len(), 1);
        let m = &d.members[0];
        assert_eq!(m.member_id.as_str(), ms[0].member_id);
        assert_eq!(
            m.member_metadata, ms[0].protocols[0].1,
            "v{version}: metadata"
        );
        assert_eq!(m.member_assignment, assigned, "v{version}: assignment");
        assert_eq!(m.group_instance_id, None);
        assert_eq!(m.client_id.as_str(), "rafka-test");

        let d = describe_at(&mut c, version, &simple).await;
        assert_eq!(
            (
                d.error_code,
                d.group_state.as_str(),
                d.protocol_type.as_str(),
                d.members.len()
            ),
            (NONE, "Empty", "", 0),
            "DescribeGroups v{version}: offsets only"
        );

        let d = describe_at(&mut c, version, &unique("ld-none")).await;
        if version >= 6 {
            assert_eq!(
                d.error_code, GROUP_ID_NOT_FOUND,
                "DescribeGroups v6, unknown group"
            );
        } else {
            assert_eq!(
                (d.error_code, d.group_state.as_str(), d.members.len()),
                (NONE, "Dead", 0),
                "DescribeGroups v{version}, unknown group"
            );
        }
    }
    t.shutdown().await;
}

/// Committed offsets are durable in `__consumer_offsets` (an internal topic with
/// offsets.topic.num.partitions partitions): after a clean restart on the same data dir
/// every group reads back its latest commits, deleted groups and deleted offsets stay
/// deleted, and the groups are listed again (Empty).
#[tokio::test]
async fn committed_offsets_survive_a_restart() {
    if external_broker() {
        return; // restarts the broker: in-process only
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || start_in(dir.path(), |_| {});
    let broker = start().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let topic = "durable";
    create_topic(&mut c, topic, 2).await;
    let (a, b, gone, trimmed) = ("dur-a", "dur-b", "dur-deleted", "dur-trimmed");
    assert_eq!(
        simple_commit(&mut c, a, topic, &[(0, 5), (1, 3)]).await,
        vec![NONE, NONE]
    );
    assert_eq!(
        simple_commit(&mut c, a, topic, &[(0, 7)]).await,
        vec![NONE],
        "the latest wins"
    );
    let mut ms = vec![Member::new(broker.kafka_addr(), b, Versions::LATEST, topic).await];
    form_group(&mut ms).await;
    sync_all(&mut ms, topic, 2).await;
    let (generation, id) = (ms[0].generation, ms[0].member_id.clone());
    assert_eq!(
        commit(&mut c, 8, b, generation, &id, topic, &[(0, 11)]).await,
        vec![NONE]
    );
    assert_eq!(ms[0].leave().await, NONE);
    assert_eq!(
        simple_commit(&mut c, gone, topic, &[(0, 1)]).await,
        vec![NONE]
    );
    let r: DeleteGroupsResponse = c
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id(gone)]),
        )
        .await;
    assert_eq!(r.results[0].error_code, NONE);
    assert_eq!(
        simple_commit(&mut c, trimmed, topic, &[(0, 2), (1, 4)]).await,
        vec![NONE, NONE]
    );
    let r: OffsetDeleteResponse = c
        .call(
            ApiKey::OffsetDelete,
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(group_id(trimmed))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(1),
                        ]),
                ]),
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
    let internal = metadata(&mut c, "__consumer_offsets").await;
    assert_eq!(internal.error_code, NONE, "__consumer_offsets exists");
    assert!(internal.is_internal, "__consumer_offsets is internal");
    assert_eq!(internal.partitions.len(), 3, "offsets.topic.num.partitions");
    drop((c, ms));
    broker.shutdown().await.expect("shutdown");

    let broker = start().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let (err, got) = fetch(&mut c, 9, a, topic, Some(&[0, 1])).await;
    assert_eq!(err, NONE);
    let offsets: Vec<i64> = got.values().map(|x| x.offset).collect();
    assert_eq!(offsets, vec![7, 3], "{a} after the restart");
    assert_eq!(
        committed_offset(&mut c, b, topic, 0).await,
        11,
        "{b}: the member's commit"
    );
    assert_eq!(
        committed_offset(&mut c, gone, topic, 0).await,
        -1,
        "a deleted group"
    );
    assert_eq!(committed_offset(&mut c, trimmed, topic, 0).await, 2);
    assert_eq!(
        committed_offset(&mut c, trimmed, topic, 1).await,
        -1,
        "a deleted offset"
    );
    let listed = list_groups(&mut c, 4, None).await;
    for g in [a, b, trimmed] {
        assert_eq!(
            listed.get(g).map(|x| x.1.as_str()),
            Some("Empty"),
            "{g} listed after the restart"
        );
    }
    assert!(!listed.contains_key(gone));
    broker.shutdown().await.expect("shutdown");
}

/// `offsets.retention.minutes` and the size of `__consumer_offsets`: the offsets of a group
/// that never had members expire once they are older than the retention, and the group is
/// forgotten; a group with a member keeps its offsets. `__consumer_offsets` is a compacted
/// topic: the log cleaner leaves only each key's last record in its closed segments. Both
/// are in the log (tombstones, cleaned segments), so a restart brings back neither the
/// expired group nor the commits the cleaner dropped, and keeps the latest commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_expire_and_the_offsets_topic_stays_small() {
    if external_broker() {
        return; // needs short retention and a restart: in-process only
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || {
        start_in(dir.path(), |c| {
            c.group.offsets_retention_ms = 2_000;
            c.group.offsets_retention_check_interval_ms = 1_000;
            c.group.offsets_topic_segment_bytes = 1024;
            c.cleaner.backoff_ms = 200;
        })
    };
    let broker = start().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let topic = "expiring";
    create_topic(&mut c, topic, 1).await;
    let (idle, live) = ("exp-idle", "exp-live");
    assert_eq!(
        simple_commit(&mut c, idle, topic, &[(0, 5)]).await,
        vec![NONE]
    );
    let mut ms = vec![Member::new(broker.kafka_addr(), live, Versions::LATEST, topic).await];
    form_group(&mut ms).await;
    sync_all(&mut ms, topic, 1).await;
    let (generation, id) = (ms[0].generation, ms[0].member_id.clone());
    // enough commits to roll the group's __consumer_offsets partition many times
    for offset in 1..=200 {
        assert_eq!(
            commit(&mut c, 8, live, generation, &id, topic, &[(0, offset)]).await,
            vec![NONE]
        );
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while committed_offset(&mut c, idle, topic, 0).await != -1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{idle}'s offset never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !list_groups(&mut c, 4, None).await.contains_key(idle),
        "an expired group without offsets is forgotten"
    );
    assert_eq!(committed_offset(&mut c, live, topic, 0).await, 200);
    // the cleaner looks every 200 ms: wait for it to clean after the last commit (200
    // commits fill some 20 segments of 1 KiB; cleaned, a few hundred bytes remain)
    let internal = broker
        .broker()
        .topic("__consumer_offsets")
        .expect("__consumer_offsets");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while internal.partitions.iter().any(|p| p.size_in_bytes() > 4096) {
        assert!(
            std::time::Instant::now() < deadline,
            "__consumer_offsets keeps growing: {:?} bytes",
            internal
                .partitions
                .iter()
                .map(|p| p.size_in_bytes())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(ms[0].heartbeat().await, NONE, "the member is still in");
    drop((c, ms, internal));
    broker.shutdown().await.expect("shutdown");

    let broker = start().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    assert_eq!(
        committed_offset(&mut c, live, topic, 0).await,
        200,
        "the latest commit survives the cleaning and a restart"
    );
    assert_eq!(
        committed_offset(&mut c, idle, topic, 0).await,
        -1,
        "the expired offset stays expired"
    );
    assert!(!list_groups(&mut c, 4, None).await.contains_key(idle));
    broker.shutdown().await.expect("shutdown");
}

/// A commit is acknowledged only once it is durable: a `rafka` process is killed (SIGKILL)
/// while a client commits offset after offset as fast as it can, and after each restart on
/// the same data dir OffsetFetch returns at least the last acknowledged offset (and
/// nothing that was never sent). Several rounds, each with a different kill point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_kill_9() {
    if external_broker() {
        return; // kills the broker: a child process only
    }
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rafka"))
            .args(["serve", "--listener", &addr.to_string()])
            .args(["--text-listener", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["-o", "offsets.topic.num.partitions=3"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rafka")
    };
    let wait_for = || async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "rafka did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (group, topic) = ("crash-commits", "crash-topic");
    let mut child = spawn();
    wait_for().await;
    create_topic(&mut Client::connect(addr).await, topic, 1).await;
    let mut next = 1i64;
    for round in 0..4u64 {
        let acked = Arc::new(AtomicI64::new(-1));
        let committer = {
            let acked = Arc::clone(&acked);
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                // every commit is answered before the next is sent; a kill ends the loop
                for offset in next.. {
                    let req = OffsetCommitRequest::default()
                        .with_group_id(group_id(group))
                        .with_generation_id_or_member_epoch(-1)
                        .with_topics(vec![
                            offset_commit_request::OffsetCommitRequestTopic::default()
                                .with_name(topic_name(topic))
                                .with_partitions(vec![
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(offset),
                                ]),
                        ]);
                    let Some(r) = c
                        .try_call::<_, OffsetCommitResponse>(ApiKey::OffsetCommit, 8, &req)
                        .await
                    else {
                        return;
                    };
                    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
                    acked.store(offset, Ordering::SeqCst);
                }
            })
        };
        let target = 20 + (round * 37) % 100;
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.load(Ordering::SeqCst) < next + target as i64 {
            assert!(Instant::now() < deadline, "commits do not get through");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().expect("SIGKILL");
        let at_kill = acked.load(Ordering::SeqCst);
        child.wait().expect("reap");
        committer.await.expect("every answered commit succeeded");
        let last_acked = acked.load(Ordering::SeqCst);
        assert!(last_acked >= at_kill);

        child = spawn();
        wait_for().await;
        let mut c = Client::connect(addr).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        let found = loop {
            // the coordinator may still be loading right after the start
            let (err, got) = fetch(&mut c, 8, group, topic, Some(&[0])).await;
            if err == NONE {
                break got[&(topic.to_string(), 0)].offset;
            }
            assert!(Instant::now() < deadline, "OffsetFetch: error {err}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            found >= last_acked,
            "round {round}: acknowledged offset {last_acked} lost, {found} after the restart"
        );
        assert!(
            found <= last_acked + 1,
            "round {round}: {found} was never sent"
        );
        next = found + 1;
    }
    child.kill().expect("stop rafka");
    child.wait().expect("reap");
}
