//! Kafka's KRaft metadata records, byte for byte as Kafka 4.x writes them as the values of
//! `__cluster_metadata` records (keys are null). Kafka defines them as messages of type
//! "metadata" (`metadata/src/main/resources/common/metadata/*.json`); the kafka-protocol
//! crate does not carry them, so they are written out here by hand.
//!
//! Every value is framed as Kafka's `ApiMessageAndVersion` (`AbstractApiMessageSerde`):
//!
//! ```text
//! frame version (unsigned varint, always 1) | api key (uvarint) | version (uvarint) | body
//! ```
//!
//! Every metadata record is flexible from version 0: compact strings and arrays (length + 1
//! as an unsigned varint, 0 for null) and a tagged fields section at the end of the body.
//! Decoding never panics and never allocates from a length it has not checked against the
//! bytes it has; unknown tagged fields are skipped, and bytes after the body are an error,
//! as Kafka's serde treats them.
//!
//! What this module does not own: applying records (that is [`super::image`]), and the
//! Raft control records (LeaderChange, SnapshotHeader, ...) that live in control batches.

mod wire;

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use wire::{
    put_bool, put_bytes, put_i32s, put_nullable_string, put_nullable_uuids, put_string,
    put_structs, put_uuid, put_uuids, put_uvarint, Reader, Tagged,
};

/// The only frame version Kafka reads and writes (version 0 was KRaft's 2.8 preview).
pub const FRAME_VERSION: u32 = 1;

/// Why a metadata record did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataRecordError {
    /// The bytes end inside the named field.
    #[error("metadata record truncated in {0}")]
    Truncated(&'static str),
    /// An unsigned varint longer than 5 bytes or beyond `u32`.
    #[error("malformed unsigned varint in {0}")]
    BadVarint(&'static str),
    /// A frame version other than 1 (0 is the unsupported 2.8 preview format).
    #[error("unsupported metadata record frame version {0}")]
    FrameVersion(u32),
    /// An api key or version beyond `i16::MAX`, as Kafka refuses them.
    #[error("{0} {1} is too large")]
    TooLarge(&'static str, u32),
    /// A version of a known record this decoder cannot read.
    #[error("unsupported version {version} of metadata record {name}")]
    UnsupportedVersion { name: &'static str, version: u16 },
    /// A null in a field that is not nullable.
    #[error("non-nullable field {0} was null")]
    NullField(&'static str),
    /// A string that is not UTF-8.
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A string longer than Kafka allows (32,767 bytes).
    #[error("string field {0} is longer than 32767 bytes")]
    StringTooLong(&'static str),
    /// A known tagged field whose size does not match its content.
    #[error("tagged field {0} has the wrong size")]
    TaggedFieldSize(u32),
    /// Tagged fields out of ascending order (or repeated).
    #[error("tagged field {0} out of order")]
    TagOrder(u32),
    /// Bytes after the end of the message.
    #[error("{0} byte(s) of garbage after the record")]
    TrailingBytes(usize),
}

type Result<T> = std::result::Result<T, MetadataRecordError>;

/// One record type's body: its api key, the version written, the versions read.
trait Body: Sized {
    const API_KEY: u16;
    const NAME: &'static str;
    /// The version Rafka writes: the newest that every Kafka 4.x decodes.
    const VERSION: u16;
    /// The newest version this decoder reads (newer ones that only add tagged fields can
    /// be read, their new fields skipped).
    const MAX_READ: u16;
    fn write(&self, out: &mut BytesMut, version: u16);
    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self>;
}

/// A broker's listener in its registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's `SecurityProtocol` id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.
    pub security_protocol: i16,
}

/// A feature a broker supports, with the range of levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFeature {
    pub name: String,
    pub min_supported_version: i16,
    pub max_supported_version: i16,
}

/// Api key 0: a broker registers (or re-registers with a new epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterBrokerRecord {
    pub broker_id: i32,
    /// v2+: a ZooKeeper broker in migration (always false on a KRaft-only cluster).
    pub is_migrating_zk_broker: bool,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub end_points: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    /// Kafka's default is true: a broker starts fenced until it catches up.
    pub fenced: bool,
    /// v1+.
    pub in_controlled_shutdown: bool,
    /// v3+, tag 0: the broker's available log directories.
    pub log_dirs: Vec<Uuid>,
}

impl Body for RegisterBrokerRecord {
    const API_KEY: u16 = 0;
    const NAME: &'static str = "RegisterBrokerRecord";
    const VERSION: u16 = 3;
    // v4 (Kafka 4.3) adds the tagged CordonedLogDirs, skipped here
    const MAX_READ: u16 = 4;

    fn write(&self, out: &mut BytesMut, version: u16) {
        out.put_i32(self.broker_id);
        if version >= 2 {
            put_bool(out, self.is_migrating_zk_broker);
        }
        put_uuid(out, &self.incarnation_id);
        out.put_i64(self.broker_epoch);
        put_structs(out, &self.end_points, |out, e| {
            put_string(out, &e.name);
            put_string(out, &e.host);
            out.put_u16(e.port);
            out.put_i16(e.security_protocol);
            put_uvarint(out, 0);
        });
        put_structs(out, &self.features, |out, f| {
            put_string(out, &f.name);
            out.put_i16(f.min_supported_version);
            out.put_i16(f.max_supported_version);
            put_uvarint(out, 0);
        });
        put_nullable_string(out, self.rack.as_deref());
        put_bool(out, self.fenced);
        if version >= 1 {
            put_bool(out, self.in_controlled_shutdown);
        }
        let mut tagged = Tagged::default();
        if version >= 3 && !self.log_dirs.is_empty() {
            tagged.add(0, |b| put_uuids(b, &self.log_dirs));
        }
        tagged.write(out);
    }

    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self> {
        let broker_id = r.i32("BrokerId")?;
        let is_migrating_zk_broker = version >= 2 && r.bool("IsMigratingZkBroker")?;
        let incarnation_id = r.uuid("IncarnationId")?;
        let broker_epoch = r.i64("BrokerEpoch")?;
        // name (1) + host (1) + port (2) + protocol (2) + tagged fields (1)
        let end_points = r.structs("EndPoints", 7, |r| {
            let e = BrokerEndpoint {
                name: r.string("EndPoints.Name")?,
                host: r.string("EndPoints.Host")?,
                port: r.u16("EndPoints.Port")?,
                security_protocol: r.i16("EndPoints.SecurityProtocol")?,
            };
            r.tagged_fields(|_, _| Ok(false))?;
            Ok(e)
        })?;
        let features = r.structs("Features", 6, |r| {
            let f = BrokerFeature {
                name: r.string("Features.Name")?,
                min_supported_version: r.i16("Features.MinSupportedVersion")?,
                max_supported_version: r.i16("Features.MaxSupportedVersion")?,
            };
            r.tagged_fields(|_, _| Ok(false))?;
            Ok(f)
        })?;
        let rack = r.nullable_string("Rack")?;
        let fenced = r.bool("Fenced")?;
        let in_controlled_shutdown = version >= 1 && r.bool("InControlledShutdown")?;
        let mut log_dirs = Vec::new();
        r.tagged_fields(|tag, r| match tag {
            0 if version >= 3 => {
                log_dirs = r.uuids("LogDirs")?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(RegisterBrokerRecord {
            broker_id,
            is_migrating_zk_broker,
            incarnation_id,
            broker_epoch,
            end_points,
            features,
            rack,
            fenced,
            in_controlled_shutdown,
            log_dirs,
        })
    }
}

/// Api key 1: a broker's registration is removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnregisterBrokerRecord {
    pub broker_id: i32,
    pub broker_epoch: i64,
}

impl Body for UnregisterBrokerRecord {
    const API_KEY: u16 = 1;
    const NAME: &'static str = "UnregisterBrokerRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        out.put_i32(self.broker_id);
        out.put_i64(self.broker_epoch);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = UnregisterBrokerRecord {
            broker_id: r.i32("BrokerId")?,
            broker_epoch: r.i64("BrokerEpoch")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 2: a topic is created (its partitions follow as [`PartitionRecord`]s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: Uuid,
}

impl Body for TopicRecord {
    const API_KEY: u16 = 2;
    const NAME: &'static str = "TopicRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_string(out, &self.name);
        put_uuid(out, &self.topic_id);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = TopicRecord {
            name: r.string("Name")?,
            topic_id: r.uuid("TopicId")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 3: a partition's whole state (at creation, and in snapshots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRecord {
    pub partition_id: i32,
    pub topic_id: Uuid,
    /// In preferred order.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// -1: no leader.
    pub leader: i32,
    /// Tag 0: 1 while recovering from an unclean election, else 0.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// v1+: each replica's log directory, in the order of `replicas`.
    pub directories: Vec<Uuid>,
    /// v2+, tag 1 (KIP-966).
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// v2+, tag 2 (KIP-966).
    pub last_known_elr: Option<Vec<i32>>,
}

impl PartitionRecord {
    /// A new partition on `replicas`, all in the ISR, the first one leading, in epoch 0.
    pub fn new(topic_id: Uuid, partition_id: i32, replicas: Vec<i32>) -> Self {
        PartitionRecord {
            partition_id,
            topic_id,
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            replicas,
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![],
            eligible_leader_replicas: None,
            last_known_elr: None,
        }
    }
}

impl Body for PartitionRecord {
    const API_KEY: u16 = 3;
    const NAME: &'static str = "PartitionRecord";
    const VERSION: u16 = 2;
    const MAX_READ: u16 = 2;

    fn write(&self, out: &mut BytesMut, version: u16) {
        out.put_i32(self.partition_id);
        put_uuid(out, &self.topic_id);
        put_i32s(out, &self.replicas);
        put_i32s(out, &self.isr);
        put_i32s(out, &self.removing_replicas);
        put_i32s(out, &self.adding_replicas);
        out.put_i32(self.leader);
        out.put_i32(self.leader_epoch);
        out.put_i32(self.partition_epoch);
        if version >= 1 {
            put_uuids(out, &self.directories);
        }
        let mut tagged = Tagged::default();
        if self.leader_recovery_state != 0 {
            tagged.add(0, |b| b.put_i8(self.leader_recovery_state));
        }
        if version >= 2 {
            if let Some(elr) = &self.eligible_leader_replicas {
                tagged.add(1, |b| put_i32s(b, elr));
            }
            if let Some(elr) = &self.last_known_elr {
                tagged.add(2, |b| put_i32s(b, elr));
            }
        }
        tagged.write(out);
    }

    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self> {
        let partition_id = r.i32("PartitionId")?;
        let topic_id = r.uuid("TopicId")?;
        let replicas = r.i32s("Replicas")?;
        let isr = r.i32s("Isr")?;
        let removing_replicas = r.i32s("RemovingReplicas")?;
        let adding_replicas = r.i32s("AddingReplicas")?;
        let leader = r.i32("Leader")?;
        let leader_epoch = r.i32("LeaderEpoch")?;
        let partition_epoch = r.i32("PartitionEpoch")?;
        let directories = if version >= 1 {
            r.uuids("Directories")?
        } else {
            Vec::new()
        };
        let (mut lrs, mut elr, mut last_elr) = (0, None, None);
        r.tagged_fields(|tag, r| match tag {
            0 => {
                lrs = r.i8("LeaderRecoveryState")?;
                Ok(true)
            }
            1 if version >= 2 => {
                elr = r.nullable_i32s("EligibleLeaderReplicas")?;
                Ok(true)
            }
            2 if version >= 2 => {
                last_elr = r.nullable_i32s("LastKnownElr")?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(PartitionRecord {
            partition_id,
            topic_id,
            replicas,
            isr,
            removing_replicas,
            adding_replicas,
            leader,
            leader_recovery_state: lrs,
            leader_epoch,
            partition_epoch,
            directories,
            eligible_leader_replicas: elr,
            last_known_elr: last_elr,
        })
    }
}

/// Kafka's `ConfigResource.Type` ids, as [`ConfigRecord::resource_type`] holds them.
pub mod config_resource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
    pub const BROKER_LOGGER: i8 = 8;
    pub const CLIENT_METRICS: i8 = 16;
    pub const GROUP: i8 = 32;
}

/// Api key 4: one config key of one resource set (or deleted, with a null value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRecord {
    /// A [`config_resource`] id.
    pub resource_type: i8,
    /// The topic name, the broker id ("" for the cluster-wide default), ...
    pub resource_name: String,
    pub name: String,
    /// `None` deletes the key.
    pub value: Option<String>,
}

impl Body for ConfigRecord {
    const API_KEY: u16 = 4;
    const NAME: &'static str = "ConfigRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        out.put_i8(self.resource_type);
        put_string(out, &self.resource_name);
        put_string(out, &self.name);
        put_nullable_string(out, self.value.as_deref());
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = ConfigRecord {
            resource_type: r.i8("ResourceType")?,
            resource_name: r.string("ResourceName")?,
            name: r.string("Name")?,
            value: r.nullable_string("Value")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// [`PartitionChangeRecord::leader`]: the leader did not change.
pub const NO_LEADER_CHANGE: i32 = -2;
/// A partition without a leader.
pub const NO_LEADER: i32 = -1;

/// Api key 5: a change to one partition. Every field but the ids is optional: `None` (or
/// [`NO_LEADER_CHANGE`], or -1 for the recovery state) leaves it as it was. Applying one
/// bumps the partition epoch, and the leader epoch if `leader` is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChangeRecord {
    pub partition_id: i32,
    pub topic_id: Uuid,
    /// Tag 0.
    pub isr: Option<Vec<i32>>,
    /// Tag 1: -2 no change, -1 no leader now, else the new leader.
    pub leader: i32,
    /// Tag 2.
    pub replicas: Option<Vec<i32>>,
    /// Tag 3.
    pub removing_replicas: Option<Vec<i32>>,
    /// Tag 4.
    pub adding_replicas: Option<Vec<i32>>,
    /// Tag 5: -1 no change, 0 recovered / elected from the ISR, 1 recovering.
    pub leader_recovery_state: i8,
    /// v1+, tag 8.
    pub directories: Option<Vec<Uuid>>,
    /// v2+, tag 6.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// v2+, tag 7.
    pub last_known_elr: Option<Vec<i32>>,
}

impl PartitionChangeRecord {
    /// A change of nothing yet, to fill in.
    pub fn new(topic_id: Uuid, partition_id: i32) -> Self {
        PartitionChangeRecord {
            partition_id,
            topic_id,
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: -1,
            directories: None,
            eligible_leader_replicas: None,
            last_known_elr: None,
        }
    }
}

impl Body for PartitionChangeRecord {
    const API_KEY: u16 = 5;
    const NAME: &'static str = "PartitionChangeRecord";
    const VERSION: u16 = 2;
    const MAX_READ: u16 = 2;

    fn write(&self, out: &mut BytesMut, version: u16) {
        out.put_i32(self.partition_id);
        put_uuid(out, &self.topic_id);
        let mut t = Tagged::default();
        if let Some(v) = &self.isr {
            t.add(0, |b| put_i32s(b, v));
        }
        if self.leader != NO_LEADER_CHANGE {
            t.add(1, |b| b.put_i32(self.leader));
        }
        if let Some(v) = &self.replicas {
            t.add(2, |b| put_i32s(b, v));
        }
        if let Some(v) = &self.removing_replicas {
            t.add(3, |b| put_i32s(b, v));
        }
        if let Some(v) = &self.adding_replicas {
            t.add(4, |b| put_i32s(b, v));
        }
        if self.leader_recovery_state != -1 {
            t.add(5, |b| b.put_i8(self.leader_recovery_state));
        }
        if version >= 2 {
            if let Some(v) = &self.eligible_leader_replicas {
                t.add(6, |b| put_i32s(b, v));
            }
            if let Some(v) = &self.last_known_elr {
                t.add(7, |b| put_i32s(b, v));
            }
        }
        if version >= 1 {
            if let Some(v) = &self.directories {
                t.add(8, |b| put_nullable_uuids(b, Some(v)));
            }
        }
        t.write(out);
    }

    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self> {
        let partition_id = r.i32("PartitionId")?;
        let topic_id = r.uuid("TopicId")?;
        let mut rec = PartitionChangeRecord::new(topic_id, partition_id);
        r.tagged_fields(|tag, r| {
            match tag {
                0 => rec.isr = r.nullable_i32s("Isr")?,
                1 => rec.leader = r.i32("Leader")?,
                2 => rec.replicas = r.nullable_i32s("Replicas")?,
                3 => rec.removing_replicas = r.nullable_i32s("RemovingReplicas")?,
                4 => rec.adding_replicas = r.nullable_i32s("AddingReplicas")?,
                5 => rec.leader_recovery_state = r.i8("LeaderRecoveryState")?,
                6 if version >= 2 => {
                    rec.eligible_leader_replicas = r.nullable_i32s("EligibleLeaderReplicas")?
                }
                7 if version >= 2 => rec.last_known_elr = r.nullable_i32s("LastKnownElr")?,
                8 if version >= 1 => rec.directories = r.nullable_uuids("Directories")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(rec)
    }
}

/// Api key 7: a broker is fenced (older metadata versions; newer ones write
/// [`BrokerRegistrationChangeRecord`]). Kafka still reads it in 4.x.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceBrokerRecord {
    pub id: i32,
    pub epoch: i64,
}

/// Api key 8: a broker is unfenced (see [`FenceBrokerRecord`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfenceBrokerRecord {
    pub id: i32,
    pub epoch: i64,
}

macro_rules! id_epoch_body {
    ($ty:ident, $key:expr, $name:expr) => {
        impl Body for $ty {
            const API_KEY: u16 = $key;
            const NAME: &'static str = $name;
            const VERSION: u16 = 0;
            const MAX_READ: u16 = 0;

            fn write(&self, out: &mut BytesMut, _version: u16) {
                out.put_i32(self.id);
                out.put_i64(self.epoch);
                put_uvarint(out, 0);
            }

            fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
                let rec = $ty {
                    id: r.i32("Id")?,
                    epoch: r.i64("Epoch")?,
                };
                r.tagged_fields(|_, _| Ok(false))?;
                Ok(rec)
            }
        }
    };
}

id_epoch_body!(FenceBrokerRecord, 7, "FenceBrokerRecord");
id_epoch_body!(UnfenceBrokerRecord, 8, "UnfenceBrokerRecord");

/// Api key 9: a topic and all its partitions are deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveTopicRecord {
    pub topic_id: Uuid,
}

impl Body for RemoveTopicRecord {
    const API_KEY: u16 = 9;
    const NAME: &'static str = "RemoveTopicRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_uuid(out, &self.topic_id);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = RemoveTopicRecord {
            topic_id: r.uuid("TopicId")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// The feature whose level says which records a log may contain; a new log (and every
/// snapshot) starts with its [`FeatureLevelRecord`].
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";

/// Api key 12: a feature's finalized level (0 removes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureLevelRecord {
    pub name: String,
    pub feature_level: i16,
}

impl Body for FeatureLevelRecord {
    const API_KEY: u16 = 12;
    const NAME: &'static str = "FeatureLevelRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_string(out, &self.name);
        out.put_i16(self.feature_level);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = FeatureLevelRecord {
            name: r.string("Name")?,
            feature_level: r.i16("FeatureLevel")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 15: the controller gave a broker a block of producer ids; `next_producer_id` is
/// the first id of the next block, so no id is ever handed out twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerIdsRecord {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub next_producer_id: i64,
}

impl Body for ProducerIdsRecord {
    const API_KEY: u16 = 15;
    const NAME: &'static str = "ProducerIdsRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        out.put_i32(self.broker_id);
        out.put_i64(self.broker_epoch);
        out.put_i64(self.next_producer_id);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = ProducerIdsRecord {
            broker_id: r.i32("BrokerId")?,
            broker_epoch: r.i64("BrokerEpoch")?,
            next_producer_id: r.i64("NextProducerId")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 17: a change to a registered broker (fencing, controlled shutdown, log dirs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistrationChangeRecord {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// Tag 0: -1 unfenced, 0 no change, 1 fenced.
    pub fenced: i8,
    /// v1+, tag 1: 0 no change, 1 in controlled shutdown.
    pub in_controlled_shutdown: i8,
    /// v2+, tag 2: the available log directories (empty: no change).
    pub log_dirs: Vec<Uuid>,
}

impl Body for BrokerRegistrationChangeRecord {
    const API_KEY: u16 = 17;
    const NAME: &'static str = "BrokerRegistrationChangeRecord";
    const VERSION: u16 = 2;
    // v3 (Kafka 4.3) adds the tagged CordonedLogDirs, skipped here
    const MAX_READ: u16 = 3;

    fn write(&self, out: &mut BytesMut, version: u16) {
        out.put_i32(self.broker_id);
        out.put_i64(self.broker_epoch);
        let mut t = Tagged::default();
        if self.fenced != 0 {
            t.add(0, |b| b.put_i8(self.fenced));
        }
        if version >= 1 && self.in_controlled_shutdown != 0 {
            t.add(1, |b| b.put_i8(self.in_controlled_shutdown));
        }
        if version >= 2 && !self.log_dirs.is_empty() {
            t.add(2, |b| put_uuids(b, &self.log_dirs));
        }
        t.write(out);
    }

    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self> {
        let mut rec = BrokerRegistrationChangeRecord {
            broker_id: r.i32("BrokerId")?,
            broker_epoch: r.i64("BrokerEpoch")?,
            fenced: 0,
            in_controlled_shutdown: 0,
            log_dirs: Vec::new(),
        };
        r.tagged_fields(|tag, r| {
            match tag {
                0 => rec.fenced = r.i8("Fenced")?,
                1 if version >= 1 => rec.in_controlled_shutdown = r.i8("InControlledShutdown")?,
                2 if version >= 2 => rec.log_dirs = r.uuids("LogDirs")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(rec)
    }
}

/// Api key 20: nothing; the active controller writes one now and then so the log (and
/// every broker's view of how far behind it is) keeps moving on an idle cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoOpRecord;

impl Body for NoOpRecord {
    const API_KEY: u16 = 20;
    const NAME: &'static str = "NoOpRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(NoOpRecord)
    }
}

/// Api key 28 (KIP-966): the eligible leader replicas of one topic's partitions (or of
/// every topic's, for the empty name) are cleared, as Kafka's controller does when they
/// may no longer be eligible (a `min.insync.replicas` change, ELR turned off).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearElrRecord {
    /// The topic, or empty for all of them.
    pub topic_name: String,
}

impl Body for ClearElrRecord {
    const API_KEY: u16 = 28;
    const NAME: &'static str = "ClearElrRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_string(out, &self.topic_name);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = ClearElrRecord {
            topic_name: r.string("TopicName")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 11: a user's SCRAM credential for one mechanism (set, or replaced). Never
/// printed: its keys are what a password can be guessed against.
#[derive(Clone, PartialEq, Eq)]
pub struct UserScramCredentialRecord {
    pub name: String,
    /// 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    pub mechanism: i8,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for UserScramCredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserScramCredentialRecord")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl Body for UserScramCredentialRecord {
    const API_KEY: u16 = 11;
    const NAME: &'static str = "UserScramCredentialRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_string(out, &self.name);
        out.put_i8(self.mechanism);
        put_bytes(out, &self.salt);
        put_bytes(out, &self.stored_key);
        put_bytes(out, &self.server_key);
        out.put_i32(self.iterations);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = UserScramCredentialRecord {
            name: r.string("Name")?,
            mechanism: r.i8("Mechanism")?,
            salt: r.bytes("Salt")?,
            stored_key: r.bytes("StoredKey")?,
            server_key: r.bytes("ServerKey")?,
            iterations: r.i32("Iterations")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 22: a user's SCRAM credential for one mechanism removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveUserScramCredentialRecord {
    pub name: String,
    pub mechanism: i8,
}

impl Body for RemoveUserScramCredentialRecord {
    const API_KEY: u16 = 22;
    const NAME: &'static str = "RemoveUserScramCredentialRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_string(out, &self.name);
        out.put_i8(self.mechanism);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = RemoveUserScramCredentialRecord {
            name: r.string("Name")?,
            mechanism: r.i8("Mechanism")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 18: one ACL, with the id it is removed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessControlEntryRecord {
    pub id: Uuid,
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

impl Body for AccessControlEntryRecord {
    const API_KEY: u16 = 18;
    const NAME: &'static str = "AccessControlEntryRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_uuid(out, &self.id);
        out.put_i8(self.resource_type);
        put_string(out, &self.resource_name);
        out.put_i8(self.pattern_type);
        put_string(out, &self.principal);
        put_string(out, &self.host);
        out.put_i8(self.operation);
        out.put_i8(self.permission_type);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = AccessControlEntryRecord {
            id: r.uuid("Id")?,
            resource_type: r.i8("ResourceType")?,
            resource_name: r.string("ResourceName")?,
            pattern_type: r.i8("PatternType")?,
            principal: r.string("Principal")?,
            host: r.string("Host")?,
            operation: r.i8("Operation")?,
            permission_type: r.i8("PermissionType")?,
        };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

/// Api key 19: an ACL removed, by its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveAccessControlEntryRecord {
    pub id: Uuid,
}

impl Body for RemoveAccessControlEntryRecord {
    const API_KEY: u16 = 19;
    const NAME: &'static str = "RemoveAccessControlEntryRecord";
    const VERSION: u16 = 0;
    const MAX_READ: u16 = 0;

    fn write(&self, out: &mut BytesMut, _version: u16) {
        put_uuid(out, &self.id);
        put_uvarint(out, 0);
    }

    fn read(r: &mut Reader<'_>, _version: u16) -> Result<Self> {
        let rec = RemoveAccessControlEntryRecord { id: r.uuid("Id")? };
        r.tagged_fields(|_, _| Ok(false))?;
        Ok(rec)
    }
}

macro_rules! metadata_records {
    ($($variant:ident),* $(,)?) => {
        /// One KRaft metadata record, the value of one `__cluster_metadata` record.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum MetadataRecord {
            $($variant($variant),)*
            /// A record type this module does not model (quotas,
            /// delegation tokens, metadata transactions, controller registrations, ...):
            /// kept as its frame's api key and version and its body, so it can be written
            /// back as it was.
            Unknown { api_key: u16, version: u16, body: Bytes },
        }

        impl MetadataRecord {
            /// Kafka's api key of this record type (`MetadataRecordType`).
            pub fn api_key(&self) -> u16 {
                match self {
                    $(MetadataRecord::$variant(_) => <$variant as Body>::API_KEY,)*
                    MetadataRecord::Unknown { api_key, .. } => *api_key,
                }
            }

            /// Kafka's name of this record type, for logs.
            pub fn name(&self) -> &'static str {
                match self {
                    $(MetadataRecord::$variant(_) => <$variant as Body>::NAME,)*
                    MetadataRecord::Unknown { .. } => "UnknownRecord",
                }
            }

            /// The version [`Self::encode`] writes.
            pub fn version(&self) -> u16 {
                match self {
                    $(MetadataRecord::$variant(_) => <$variant as Body>::VERSION,)*
                    MetadataRecord::Unknown { version, .. } => *version,
                }
            }

            /// The framed bytes at [`Self::version`]: the record value Kafka writes.
            pub fn encode(&self) -> Bytes {
                self.encode_version(self.version())
            }

            /// The framed bytes at `version` (fields that version does not have are left
            /// out; the unknown record ignores `version`). For tests of older versions.
            pub fn encode_version(&self, version: u16) -> Bytes {
                let mut out = BytesMut::with_capacity(64);
                put_uvarint(&mut out, FRAME_VERSION);
                put_uvarint(&mut out, u32::from(self.api_key()));
                match self {
                    $(MetadataRecord::$variant(r) => {
                        put_uvarint(&mut out, u32::from(version));
                        r.write(&mut out, version);
                    })*
                    MetadataRecord::Unknown { version, body, .. } => {
                        put_uvarint(&mut out, u32::from(*version));
                        out.put_slice(body);
                    }
                }
                out.freeze()
            }

            /// Decodes one framed record value. Never panics.
            pub fn decode(bytes: &[u8]) -> Result<MetadataRecord> {
                Self::decode_versioned(bytes).map(|(record, _)| record)
            }

            /// [`Self::decode`], with the version the record was written at.
            pub fn decode_versioned(bytes: &[u8]) -> Result<(MetadataRecord, u16)> {
                let mut r = Reader::new(bytes);
                let frame = r.uvarint("frame version")?;
                if frame != FRAME_VERSION {
                    return Err(MetadataRecordError::FrameVersion(frame));
                }
                let api_key = short(r.uvarint("api key")?, "api key")?;
                let version = short(r.uvarint("version")?, "version")?;
                let record = match api_key {
                    $(<$variant as Body>::API_KEY => {
                        if version > <$variant as Body>::MAX_READ {
                            return Err(MetadataRecordError::UnsupportedVersion {
                                name: <$variant as Body>::NAME,
                                version,
                            });
                        }
                        MetadataRecord::$variant(<$variant as Body>::read(&mut r, version)?)
                    })*
                    _ => {
                        let body = Bytes::copy_from_slice(r.take(r.remaining(), "body")?);
                        MetadataRecord::Unknown { api_key, version, body }
                    }
                };
                if r.remaining() > 0 {
                    return Err(MetadataRecordError::TrailingBytes(r.remaining()));
                }
                Ok((record, version))
            }
        }

        $(
            impl From<$variant> for MetadataRecord {
                fn from(r: $variant) -> Self {
                    MetadataRecord::$variant(r)
                }
            }
        )*
    };
}

metadata_records!(
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
    TopicRecord,
    PartitionRecord,
    ConfigRecord,
    PartitionChangeRecord,
    FenceBrokerRecord,
    UnfenceBrokerRecord,
    RemoveTopicRecord,
    FeatureLevelRecord,
    ProducerIdsRecord,
    BrokerRegistrationChangeRecord,
    NoOpRecord,
    ClearElrRecord,
    UserScramCredentialRecord,
    RemoveUserScramCredentialRecord,
    AccessControlEntryRecord,
    RemoveAccessControlEntryRecord,
);

/// Kafka reads api keys and versions as shorts and refuses larger values.
fn short(v: u32, what: &'static str) -> Result<u16> {
    match u16::try_from(v) {
        Ok(s) if s <= i16::MAX as u16 => Ok(s),
        _ => Err(MetadataRecordError::TooLarge(what, v)),
    }
}

#[cfg(test)]
mod tests;
