//! Byte-exact checks against hand-decoded hex, older and newer versions, hostile input,
//! and proptest round trips of every record type.

use super::*;
use proptest::prelude::*;

fn uuid_seq() -> Uuid {
    Uuid::from_bytes(std::array::from_fn(|i| i as u8))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn topic_record_bytes() {
    let rec = MetadataRecord::from(TopicRecord {
        name: "foo".into(),
        topic_id: uuid_seq(),
    });
    // frame 1, api key 2, version 0 | compact "foo" | uuid | no tagged fields
    assert_eq!(
        hex(&rec.encode()),
        "010200_04666f6f_000102030405060708090a0b0c0d0e0f_00".replace('_', "")
    );
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
}

#[test]
fn scram_credential_record_bytes() {
    let rec = MetadataRecord::from(UserScramCredentialRecord {
        name: "a".into(),
        mechanism: 1,
        salt: vec![0x5a],
        stored_key: vec![1, 2],
        server_key: vec![3],
        iterations: 4096,
    });
    // frame 1, api key 11, version 0 | compact "a" | mechanism | compact bytes salt,
    // stored key, server key | iterations | no tagged fields
    assert_eq!(
        hex(&rec.encode()),
        "010b00_0261_01_025a_030102_0203_00001000_00".replace('_', "")
    );
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
    // nothing of the keys in its Debug form
    assert!(!format!("{rec:?}").contains("stored_key"));
    let rec = MetadataRecord::from(RemoveUserScramCredentialRecord {
        name: "al".into(),
        mechanism: 2,
    });
    // frame 1, api key 22, version 0 | compact "al" | mechanism | no tagged fields
    assert_eq!(hex(&rec.encode()), "011600_03616c_02_00".replace('_', ""));
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
    // a null salt is not a credential
    assert!(MetadataRecord::decode(&[0x01, 0x0b, 0x00, 0x02, 0x61, 0x01, 0x00]).is_err());
}

#[test]
fn acl_record_bytes() {
    let rec = MetadataRecord::from(AccessControlEntryRecord {
        id: uuid_seq(),
        resource_type: 2,
        resource_name: "t".into(),
        pattern_type: 3,
        principal: "User:a".into(),
        host: "*".into(),
        operation: 3,
        permission_type: 3,
    });
    // frame 1, api key 18, version 0 | id | TOPIC | compact "t" | LITERAL | "User:a" | "*" |
    // READ | ALLOW | no tagged fields
    assert_eq!(
        hex(&rec.encode()),
        "011200_000102030405060708090a0b0c0d0e0f_02_0274_03_07557365723a61_022a_03_03_00"
            .replace('_', "")
    );
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
    let rec = MetadataRecord::from(RemoveAccessControlEntryRecord { id: uuid_seq() });
    assert_eq!(
        hex(&rec.encode()),
        "011300_000102030405060708090a0b0c0d0e0f_00".replace('_', "")
    );
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
}

#[test]
fn clear_elr_record_bytes() {
    let rec = MetadataRecord::from(ClearElrRecord {
        topic_name: "foo".into(),
    });
    // frame 1, api key 28, version 0 | compact "foo" | no tagged fields (Kafka 4.x's
    // ClearElrRecord, written when eligible leader replicas may no longer be eligible)
    assert_eq!(hex(&rec.encode()), "011c00_04666f6f_00".replace('_', ""));
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
    let mut image = crate::metadata::image::MetadataImage::new();
    for r in [
        MetadataRecord::from(TopicRecord {
            name: "foo".into(),
            topic_id: uuid_seq(),
        }),
        MetadataRecord::from(PartitionRecord {
            partition_id: 0,
            topic_id: uuid_seq(),
            replicas: vec![1, 2],
            isr: vec![],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: -1,
            leader_recovery_state: 0,
            leader_epoch: 3,
            partition_epoch: 3,
            directories: vec![],
            eligible_leader_replicas: Some(vec![1]),
            last_known_elr: Some(vec![2]),
        }),
        rec,
    ] {
        image.apply(&r);
    }
    let p = &image.topic("foo").expect("topic").partitions[&0];
    assert!(p.elr.is_empty() && p.last_known_elr.is_empty(), "{p:?}");
    assert_eq!(p.partition_epoch, 4, "a change, as Kafka merges it");
}

#[test]
fn partition_change_record_bytes() {
    let mut change = PartitionChangeRecord::new(uuid_seq(), 1);
    change.isr = Some(vec![1, 2]);
    change.leader = 2;
    let rec = MetadataRecord::from(change);
    // frame 1, api key 5, version 2 | partition 1 | uuid | 2 tagged fields:
    // tag 0 (ISR), 9 bytes: compact array of 2 | tag 1 (leader), 4 bytes
    let want = "010502_00000001_000102030405060708090a0b0c0d0e0f_02\
                _00_09_03_00000001_00000002_01_04_00000002";
    assert_eq!(hex(&rec.encode()), want.replace(['_', ' '], ""));
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
}

#[test]
fn register_broker_record_bytes() {
    let rec = MetadataRecord::from(RegisterBrokerRecord {
        broker_id: 1,
        is_migrating_zk_broker: false,
        incarnation_id: uuid_seq(),
        broker_epoch: 5,
        end_points: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "h".into(),
            port: 9092,
            security_protocol: 0,
        }],
        features: vec![],
        rack: None,
        fenced: true,
        in_controlled_shutdown: false,
        log_dirs: vec![],
    });
    // frame 1, key 0, v3 | id 1 | not migrating | incarnation | epoch 5 | 1 endpoint:
    // "PLAINTEXT" "h" 9092 PLAINTEXT(0) no tags | 0 features | null rack | fenced |
    // not in controlled shutdown | no tagged fields
    let want = "010003_00000001_00_000102030405060708090a0b0c0d0e0f_0000000000000005\
                _02_0a504c41494e54455854_0268_2384_0000_00_01_00_01_00_00";
    assert_eq!(hex(&rec.encode()), want.replace(['_', ' '], ""));
    assert_eq!(MetadataRecord::decode(&rec.encode()).expect("present"), rec);
}

#[test]
fn older_versions_decode_with_defaults() {
    let rec = PartitionRecord {
        partition_id: 0,
        topic_id: uuid_seq(),
        replicas: vec![1, 2],
        isr: vec![1],
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader: 1,
        leader_recovery_state: 1,
        leader_epoch: 3,
        partition_epoch: 4,
        directories: vec![uuid_seq(), uuid_seq()],
        eligible_leader_replicas: Some(vec![2]),
        last_known_elr: None,
    };
    let v0 = MetadataRecord::from(rec.clone()).encode_version(0);
    let MetadataRecord::PartitionRecord(got) = MetadataRecord::decode(&v0).expect("present") else {
        panic!("not a PartitionRecord");
    };
    assert_eq!(got.directories, Vec::<Uuid>::new());
    assert_eq!(got.eligible_leader_replicas, None);
    assert_eq!(got.leader_recovery_state, 1);
    assert_eq!((got.replicas, got.leader_epoch), (rec.replicas, 3));
}

#[test]
fn newer_tagged_fields_are_skipped() {
    // RegisterBrokerRecord v4 (Kafka 4.3) = v3 + tagged CordonedLogDirs: a tag we do
    // not know is skipped
    let rec = RegisterBrokerRecord {
        broker_id: 7,
        is_migrating_zk_broker: false,
        incarnation_id: uuid_seq(),
        broker_epoch: 1,
        end_points: vec![],
        features: vec![],
        rack: Some("r1".into()),
        fenced: false,
        in_controlled_shutdown: false,
        log_dirs: vec![],
    };
    let mut bytes = MetadataRecord::from(rec.clone()).encode().to_vec();
    bytes[2] = 4; // version
    let last = bytes.len() - 1;
    bytes.truncate(last);
    bytes.extend_from_slice(&[1, 1, 1, 0]); // one tagged field: tag 1, 1 byte: null array
    assert_eq!(
        MetadataRecord::decode(&bytes).expect("present"),
        MetadataRecord::RegisterBrokerRecord(rec)
    );
}

#[test]
fn bad_frames_are_errors() {
    assert_eq!(
        MetadataRecord::decode(&[0, 2, 0]),
        Err(MetadataRecordError::FrameVersion(0))
    );
    assert_eq!(
        MetadataRecord::decode(&[1]),
        Err(MetadataRecordError::Truncated("api key"))
    );
    assert!(matches!(
        MetadataRecord::decode(&[1, 2, 1]),
        Err(MetadataRecordError::UnsupportedVersion { .. })
    ));
    assert_eq!(
        MetadataRecord::decode(&[1, 20, 0, 0, 0]),
        Err(MetadataRecordError::TrailingBytes(1))
    );
    // an array claiming 2^31 elements in 20 bytes: refused before any allocation
    let mut huge = vec![1, 3, 0, 0, 0, 0, 0];
    huge.extend_from_slice(&[0; 16]);
    huge.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    assert!(MetadataRecord::decode(&huge).is_err());
    // an unknown record type is kept whole
    let unknown = MetadataRecord::decode(&[1, 99, 3, 0xab]).expect("present");
    assert_eq!(
        unknown,
        MetadataRecord::Unknown {
            api_key: 99,
            version: 3,
            body: Bytes::from_static(&[0xab])
        }
    );
    assert_eq!(&unknown.encode()[..], &[1, 99, 3, 0xab]);
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}
fn ids() -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(any::<i32>(), 0..5)
}
fn opt_ids() -> impl Strategy<Value = Option<Vec<i32>>> {
    proptest::option::of(ids())
}
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._é-]{0,12}"
}
fn uuids() -> impl Strategy<Value = Vec<Uuid>> {
    proptest::collection::vec(uuid(), 0..3)
}

fn register_broker() -> impl Strategy<Value = MetadataRecord> {
    let endpoint =
        (name(), name(), any::<u16>(), 0i16..4).prop_map(|(n, h, p, s)| BrokerEndpoint {
            name: n,
            host: h,
            port: p,
            security_protocol: s,
        });
    let feature = (name(), any::<i16>(), any::<i16>()).prop_map(|(n, a, b)| BrokerFeature {
        name: n,
        min_supported_version: a,
        max_supported_version: b,
    });
    (
        (any::<i32>(), any::<bool>(), uuid(), any::<i64>()),
        proptest::collection::vec(endpoint, 0..3),
        proptest::collection::vec(feature, 0..3),
        (
            proptest::option::of(name()),
            any::<bool>(),
            any::<bool>(),
            uuids(),
        ),
    )
        .prop_map(|((id, zk, inc, epoch), eps, fs, (rack, f, cs, dirs))| {
            RegisterBrokerRecord {
                broker_id: id,
                is_migrating_zk_broker: zk,
                incarnation_id: inc,
                broker_epoch: epoch,
                end_points: eps,
                features: fs,
                rack,
                fenced: f,
                in_controlled_shutdown: cs,
                log_dirs: dirs,
            }
            .into()
        })
}

fn partition() -> impl Strategy<Value = MetadataRecord> {
    (
        (any::<i32>(), uuid(), ids(), ids(), ids(), ids()),
        (any::<i32>(), any::<i8>(), any::<i32>(), any::<i32>()),
        (uuids(), opt_ids(), opt_ids()),
    )
        .prop_map(|((p, t, r, i, rm, add), (l, lrs, le, pe), (d, e, lk))| {
            PartitionRecord {
                partition_id: p,
                topic_id: t,
                replicas: r,
                isr: i,
                removing_replicas: rm,
                adding_replicas: add,
                leader: l,
                leader_recovery_state: lrs,
                leader_epoch: le,
                partition_epoch: pe,
                directories: d,
                eligible_leader_replicas: e,
                last_known_elr: lk,
            }
            .into()
        })
}

fn partition_change() -> impl Strategy<Value = MetadataRecord> {
    (
        (any::<i32>(), uuid(), opt_ids(), any::<i32>(), opt_ids()),
        (opt_ids(), opt_ids(), any::<i8>()),
        (proptest::option::of(uuids()), opt_ids(), opt_ids()),
    )
        .prop_map(|((p, t, isr, l, r), (rm, add, lrs), (d, e, lk))| {
            PartitionChangeRecord {
                partition_id: p,
                topic_id: t,
                isr,
                leader: l,
                replicas: r,
                removing_replicas: rm,
                adding_replicas: add,
                leader_recovery_state: lrs,
                directories: d,
                eligible_leader_replicas: e,
                last_known_elr: lk,
            }
            .into()
        })
}

fn record() -> impl Strategy<Value = MetadataRecord> {
    prop_oneof![
        register_broker(),
        (any::<i32>(), any::<i64>()).prop_map(|(b, e)| UnregisterBrokerRecord {
            broker_id: b,
            broker_epoch: e
        }
        .into()),
        (name(), uuid()).prop_map(|(n, t)| TopicRecord {
            name: n,
            topic_id: t
        }
        .into()),
        partition(),
        (any::<i8>(), name(), name(), proptest::option::of(name())).prop_map(|(t, r, n, v)| {
            ConfigRecord {
                resource_type: t,
                resource_name: r,
                name: n,
                value: v,
            }
            .into()
        }),
        partition_change(),
        (any::<i32>(), any::<i64>()).prop_map(|(id, epoch)| FenceBrokerRecord { id, epoch }.into()),
        (any::<i32>(), any::<i64>())
            .prop_map(|(id, epoch)| UnfenceBrokerRecord { id, epoch }.into()),
        uuid().prop_map(|t| RemoveTopicRecord { topic_id: t }.into()),
        (name(), any::<i16>()).prop_map(|(n, l)| FeatureLevelRecord {
            name: n,
            feature_level: l
        }
        .into()),
        (any::<i32>(), any::<i64>(), any::<i64>()).prop_map(|(b, e, n)| {
            ProducerIdsRecord {
                broker_id: b,
                broker_epoch: e,
                next_producer_id: n,
            }
            .into()
        }),
        (
            any::<i32>(),
            any::<i64>(),
            any::<i8>(),
            any::<i8>(),
            uuids()
        )
            .prop_map(|(b, e, f, cs, d)| BrokerRegistrationChangeRecord {
                broker_id: b,
                broker_epoch: e,
                fenced: f,
                in_controlled_shutdown: cs,
                log_dirs: d,
            }
            .into()),
        Just(MetadataRecord::NoOpRecord(NoOpRecord)),
        (
            name(),
            any::<i8>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..70),
            any::<i32>()
        )
            .prop_map(|(n, m, salt, key, i)| UserScramCredentialRecord {
                name: n,
                mechanism: m,
                salt,
                stored_key: key.clone(),
                server_key: key,
                iterations: i,
            }
            .into()),
        (name(), any::<i8>()).prop_map(|(n, m)| RemoveUserScramCredentialRecord {
            name: n,
            mechanism: m
        }
        .into()),
        (
            uuid(),
            any::<i8>(),
            name(),
            any::<i8>(),
            name(),
            name(),
            any::<i8>()
        )
            .prop_map(|(id, t, n, p, who, host, op)| AccessControlEntryRecord {
                id,
                resource_type: t,
                resource_name: n,
                pattern_type: p,
                principal: who,
                host,
                operation: op,
                permission_type: t,
            }
            .into()),
        uuid().prop_map(|id| RemoveAccessControlEntryRecord { id }.into()),
    ]
}

proptest! {
    #[test]
    fn round_trip(rec in record()) {
        let bytes = rec.encode();
        prop_assert_eq!(MetadataRecord::decode(&bytes), Ok(rec.clone()));
        // every truncation is an error, never a panic
        for cut in 0..bytes.len() {
            prop_assert!(MetadataRecord::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), key in 0u8..30) {
        let mut framed = vec![1, key, 0];
        framed.extend_from_slice(&bytes);
        let _ = MetadataRecord::decode(&framed);
        let _ = MetadataRecord::decode(&bytes);
    }
}
