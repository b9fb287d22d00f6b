//! A small, fixed, meaningful metadata log: what `rafka log write-metadata` writes (and
//! Kafka's `DumpLogSegments --cluster-metadata-decoder` must decode), and what tests build
//! images from. Every value is fixed (ids, epochs, UUIDs), so its image digest is too.

use uuid::Uuid;

use super::records::{
    config_resource, BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord, ConfigRecord,
    FeatureLevelRecord, FenceBrokerRecord, MetadataRecord, NoOpRecord, PartitionChangeRecord,
    PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord, TopicRecord, UnfenceBrokerRecord,
    METADATA_VERSION_FEATURE,
};

/// `metadata.version` 4.0-IV3 (level 25), which Kafka 4.x all know; it has the ELR fields.
pub const SAMPLE_METADATA_VERSION: i16 = 25;
/// The topic of the sample.
pub const SAMPLE_TOPIC: &str = "orders";
/// Its id.
pub const SAMPLE_TOPIC_ID: Uuid = Uuid::from_u128(0x5a6d_3c1e_8f2b_4d7a_9e01_b2c3_d4e5_f607);

fn incarnation(broker: i32) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 | broker as u128)
}

/// The records, in log order, each group as one batch would hold it:
/// 1. `metadata.version` and `group.version`;
/// 2. brokers 1, 2, 3 register (fenced, as a broker starts) and are unfenced;
/// 3. topic `orders` with 3 partitions, replicas spread over the 3 brokers (RF 3);
/// 4. a topic config (`retention.ms`) and a broker config (broker 1's
///    `log.cleaner.threads`);
/// 5. broker 3 is fenced (FenceBrokerRecord) and a PartitionChangeRecord moves partition
///    2's leadership from 3 to 1 and shrinks its ISR; broker 2 goes into controlled
///    shutdown (BrokerRegistrationChangeRecord);
/// 6. a producer id block for broker 1, and a NoOpRecord.
pub fn sample_cluster_batches() -> Vec<Vec<MetadataRecord>> {
    let mut batches = Vec::new();
    batches.push(vec![
        FeatureLevelRecord {
            name: METADATA_VERSION_FEATURE.into(),
            feature_level: SAMPLE_METADATA_VERSION,
        }
        .into(),
        FeatureLevelRecord {
            name: "group.version".into(),
            feature_level: 1,
        }
        .into(),
    ]);
    let mut brokers = Vec::new();
    for id in 1..=3 {
        brokers.push(
            RegisterBrokerRecord {
                broker_id: id,
                is_migrating_zk_broker: false,
                incarnation_id: incarnation(id),
                broker_epoch: 10 + i64::from(id),
                end_points: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9091 + id as u16,
                    security_protocol: 0,
                }],
                features: vec![BrokerFeature {
                    name: METADATA_VERSION_FEATURE.into(),
                    min_supported_version: 7,
                    max_supported_version: SAMPLE_METADATA_VERSION,
                }],
                rack: Some(format!("rack-{id}")),
                fenced: true,
                in_controlled_shutdown: false,
                log_dirs: vec![Uuid::from_u128(0xd1 + id as u128)],
            }
            .into(),
        );
    }
    for id in 1..=3 {
        brokers.push(
            UnfenceBrokerRecord {
                id,
                epoch: 10 + i64::from(id),
            }
            .into(),
        );
    }
    batches.push(brokers);
    let mut topic: Vec<MetadataRecord> = vec![TopicRecord {
        name: SAMPLE_TOPIC.into(),
        topic_id: SAMPLE_TOPIC_ID,
    }
    .into()];
    for p in 0..3i32 {
        // Kafka's spread: partition p's replicas start at broker p+1
        let replicas: Vec<i32> = (0..3).map(|i| (p + i) % 3 + 1).collect();
        topic.push(
            PartitionRecord {
                partition_id: p,
                topic_id: SAMPLE_TOPIC_ID,
                leader: replicas.first().copied().unwrap_or(-1),
                isr: replicas.clone(),
                directories: replicas
                    .iter()
                    .map(|&b| Uuid::from_u128(0xd1 + b as u128))
                    .collect(),
                replicas,
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader_recovery_state: 0,
                leader_epoch: 0,
                partition_epoch: 0,
                eligible_leader_replicas: Some(vec![]),
                last_known_elr: Some(vec![]),
            }
            .into(),
        );
    }
    batches.push(topic);
    batches.push(vec![
        ConfigRecord {
            resource_type: config_resource::TOPIC,
            resource_name: SAMPLE_TOPIC.into(),
            name: "retention.ms".into(),
            value: Some("86400000".into()),
        }
        .into(),
        ConfigRecord {
            resource_type: config_resource::BROKER,
            resource_name: "1".into(),
            name: "log.cleaner.threads".into(),
            value: Some("2".into()),
        }
        .into(),
    ]);
    let mut change = PartitionChangeRecord::new(SAMPLE_TOPIC_ID, 2);
    change.leader = 1;
    change.isr = Some(vec![1, 2]);
    batches.push(vec![
        FenceBrokerRecord { id: 3, epoch: 13 }.into(),
        change.into(),
        BrokerRegistrationChangeRecord {
            broker_id: 2,
            broker_epoch: 12,
            fenced: 0,
            in_controlled_shutdown: 1,
            log_dirs: vec![],
        }
        .into(),
    ]);
    batches.push(vec![
        ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 11,
            next_producer_id: 1000,
        }
        .into(),
        NoOpRecord.into(),
    ]);
    batches
}

/// [`sample_cluster_batches`] as one list.
pub fn sample_cluster_records() -> Vec<MetadataRecord> {
    sample_cluster_batches().into_iter().flatten().collect()
}
