//! Per-topic configs: the keys Rafka supports (Kafka's topic-level names), how they turn
//! into a [`LogConfig`], their defaults as DescribeConfigs reports them, and where overrides
//! are stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::log::{checkpoint, CleanupPolicy, LogConfig, LogError, Ratio, TimestampType};

/// A topic config that Rafka does not accept.
#[derive(Debug, thiserror::Error)]
pub enum TopicConfigError {
    /// INVALID_CONFIG (40): a key Rafka does not know.
    #[error("unknown topic config '{0}'")]
    UnknownKey(String),
    /// INVALID_CONFIG (40): a value of the wrong form.
    #[error("invalid value '{value}' for topic config '{key}'")]
    InvalidValue { key: String, value: String },
}

/// Topic config keys Rafka supports, with the broker setting each one defaults to.
pub const KEYS: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.ms",
];

/// The effective value of a key under `config`, as DescribeConfigs shows it.
pub fn value_of(config: &LogConfig, key: &str) -> Option<String> {
    Some(match key {
        "cleanup.policy" => config.cleanup_policy.to_string(),
        "delete.retention.ms" => config.delete_retention_ms.to_string(),
        "max.compaction.lag.ms" => config.max_compaction_lag_ms.to_string(),
        "min.cleanable.dirty.ratio" => config.min_cleanable_dirty_ratio.to_string(),
        "min.compaction.lag.ms" => config.min_compaction_lag_ms.to_string(),
        "flush.messages" => config
            .flush_messages
            .map_or(i64::MAX.to_string(), |v| v.to_string()),
        "flush.ms" => config
            .flush_ms
            .map_or(i64::MAX.to_string(), |v| v.to_string()),
        "index.interval.bytes" => config.index_interval_bytes.to_string(),
        "max.message.bytes" => config.max_message_bytes.to_string(),
        "message.timestamp.type" => match config.timestamp_type {
            TimestampType::CreateTime => "CreateTime".to_string(),
            TimestampType::LogAppendTime => "LogAppendTime".to_string(),
        },
        "min.insync.replicas" => config.min_insync_replicas.to_string(),
        "retention.bytes" => config.retention_bytes.to_string(),
        "retention.ms" => config.retention_ms.to_string(),
        "segment.bytes" => config.segment_bytes.to_string(),
        "segment.index.bytes" => config.segment_index_bytes.to_string(),
        "segment.ms" => config.segment_ms.to_string(),
        _ => return None,
    })
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, TopicConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| TopicConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
        })
}

/// A number within Kafka's bounds for the key (most are Java ints).
fn bounded<T: std::str::FromStr + PartialOrd>(
    key: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, TopicConfigError> {
    let v: T = num(key, value)?;
    if v < min || v > max {
        return Err(TopicConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(v)
}

const INT_MAX: u64 = i32::MAX as u64;

/// Applies topic overrides on top of the broker's defaults.
pub fn log_config(
    defaults: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<LogConfig, TopicConfigError> {
    let mut c = *defaults;
    for (k, v) in overrides {
        let key = k.as_str();
        match key {
            "cleanup.policy" => {
                c.cleanup_policy =
                    CleanupPolicy::parse(v).ok_or_else(|| TopicConfigError::InvalidValue {
                        key: k.clone(),
                        value: v.clone(),
                    })?
            }
            "delete.retention.ms" => c.delete_retention_ms = bounded(key, v, 0, i64::MAX)?,
            "max.compaction.lag.ms" => c.max_compaction_lag_ms = bounded(key, v, 1, i64::MAX)?,
            "min.compaction.lag.ms" => c.min_compaction_lag_ms = bounded(key, v, 0, i64::MAX)?,
            "min.cleanable.dirty.ratio" => {
                c.min_cleanable_dirty_ratio =
                    Ratio::parse(v).ok_or_else(|| TopicConfigError::InvalidValue {
                        key: k.clone(),
                        value: v.clone(),
                    })?
            }
            "flush.messages" => c.flush_messages = Some(bounded(key, v, 1, u64::MAX)?),
            "flush.ms" => c.flush_ms = Some(bounded(key, v, 0, i64::MAX)?),
            "index.interval.bytes" => c.index_interval_bytes = bounded(key, v, 0, INT_MAX)?,
            "max.message.bytes" => c.max_message_bytes = bounded(key, v, 0, i32::MAX as usize)?,
            "message.timestamp.type" => {
                c.timestamp_type = match v.as_str() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(TopicConfigError::InvalidValue {
                            key: k.clone(),
                            value: v.clone(),
                        })
                    }
                }
            }
            "min.insync.replicas" => c.min_insync_replicas = bounded(key, v, 1, i32::MAX)?,
            "retention.bytes" => c.retention_bytes = num(key, v)?,
            "retention.ms" => c.retention_ms = bounded(key, v, -1, i64::MAX)?,
            // index positions are u32 and Kafka's segment.bytes is an int: at most 2 GiB
            // Kafka 4 refuses segment.bytes under 1 MiB from clients and takes its test key
            // internal.segment.bytes for smaller ones; Rafka takes both down to 14 bytes
            "segment.bytes" | "internal.segment.bytes" => {
                c.segment_bytes = bounded(key, v, 14, INT_MAX)?
            }
            "segment.index.bytes" => c.segment_index_bytes = bounded(key, v, 4, INT_MAX)?,
            "segment.ms" => c.segment_ms = bounded(key, v, 1, i64::MAX)?,
            _ => return Err(TopicConfigError::UnknownKey(k.clone())),
        }
    }
    Ok(c)
}

#[cfg(test)]
thread_local! {
    /// The directories [`Store`] fsynced on this thread (tests).
    static SYNCED: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The longest file name (in bytes) Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Override files: `<log dir>/.rafka/topics/<topic>.properties`. A topic name of up to
/// 249 characters does not always fit in a 255-byte file name with the suffix; for the
/// longest ones the topic part is shortened as Kafka shortens it in its `-delete` dir
/// names, and the topic id keeps the name unique: `<topic prefix>~<topic id>.properties`
/// (`~` is not a topic name character, so no other topic's file can have that name).
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(log_dir: &Path) -> Store {
        Store {
            dir: log_dir.join(".rafka").join("topics"),
        }
    }

    fn path(&self, topic: &str, id: Uuid) -> PathBuf {
        const SUFFIX: &str = ".properties";
        if topic.len() + SUFFIX.len() <= NAME_MAX {
            return self.dir.join(format!("{topic}{SUFFIX}"));
        }
        let id = checkpoint::uuid_to_kafka(id);
        // topic names are ASCII: any byte length is a char boundary
        let keep = NAME_MAX - SUFFIX.len() - 1 - id.len();
        let prefix = topic.get(..keep).unwrap_or(topic);
        self.dir.join(format!("{prefix}~{id}{SUFFIX}"))
    }

    pub fn load(&self, topic: &str, id: Uuid) -> Result<BTreeMap<String, String>, LogError> {
        let path = self.path(topic, id);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(crate::config::parse_properties(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(LogError::Io { path, source }),
        }
    }

    /// Makes `.rafka/topics` if it is missing, and the new directories' names durable
    /// (fsync of `.rafka` and of the log dir): else a power loss could take the override
    /// files with them, and `__consumer_offsets` would come back with the 7-day default
    /// retention.
    fn ensure_dir(&self) -> Result<(), LogError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| LogError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let rafka = self.dir.parent();
        for dir in [rafka, rafka.and_then(Path::parent)].into_iter().flatten() {
            #[cfg(test)]
            SYNCED.with(|s| s.borrow_mut().push(dir.to_path_buf()));
            checkpoint::sync_dir(dir)?;
        }
        Ok(())
    }

    pub fn save(
        &self,
        topic: &str,
        id: Uuid,
        overrides: &BTreeMap<String, String>,
    ) -> Result<(), LogError> {
        self.ensure_dir()?;
        let mut text = String::new();
        for (k, v) in overrides {
            text.push_str(&format!("{k}={v}\n"));
        }
        checkpoint::write_atomic(&self.path(topic, id), text.as_bytes())
    }

    pub fn remove(&self, topic: &str, id: Uuid) -> Result<(), LogError> {
        let path = self.path(topic, id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LogError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(k: &str, v: &str) -> Result<LogConfig, TopicConfigError> {
        log_config(
            &LogConfig::default(),
            &BTreeMap::from([(k.to_string(), v.to_string())]),
        )
    }

    /// Every topic name Kafka accepts has an override file name that fits in 255 bytes,
    /// and two long names with the same beginning get different files.
    #[test]
    fn override_file_names_fit_and_are_unique() {
        let store = Store::new(Path::new("/data"));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let short = store.path("orders", a);
        assert_eq!(short, Path::new("/data/.rafka/topics/orders.properties"));
        for len in [1, 244, 245, 249] {
            let name = "x".repeat(len);
            let p = store.path(&name, a);
            let file = p.file_name().map_or(0, |f| f.len());
            assert!(file <= NAME_MAX, "{len}: {file} bytes");
            let tmp = p.with_extension("tmp");
            assert!(tmp.file_name().map_or(0, |f| f.len()) <= NAME_MAX);
        }
        let long = "y".repeat(249);
        assert_ne!(store.path(&long, a), store.path(&long, b));
    }

    /// The first override file makes `.rafka/topics`: its name and `.rafka`'s are made
    /// durable in their parents (issue #13 item 11), once.
    #[test]
    fn a_new_override_dir_is_fsynced_in_its_parents() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::new(tmp.path());
        let one = BTreeMap::from([("retention.ms".to_string(), "-1".to_string())]);
        store.save("a", Uuid::new_v4(), &one).expect("save");
        let synced = SYNCED.with(|s| s.take());
        assert_eq!(
            synced,
            [tmp.path().join(".rafka"), tmp.path().to_path_buf()]
        );
        store.save("b", Uuid::new_v4(), &one).expect("save");
        assert!(SYNCED.with(|s| s.take()).is_empty(), "only when it is new");
        assert_eq!(store.load("a", Uuid::new_v4()).expect("load"), one);
    }

    /// Kafka's bounds: segment.bytes is an int (and index positions are u32), so more than
    /// 2 GiB would break the partition on the first append past 4 GiB.
    #[test]
    fn values_outside_kafkas_bounds_are_refused() {
        assert_eq!(
            with("segment.bytes", "2147483647")
                .expect("max int")
                .segment_bytes,
            i32::MAX as u64
        );
        for (k, v) in [
            ("segment.bytes", "8589934592"),
            ("segment.bytes", "13"),
            ("segment.ms", "0"),
            ("retention.ms", "-2"),
            ("segment.index.bytes", "3"),
            ("max.message.bytes", "-1"),
            ("flush.messages", "0"),
            ("cleanup.policy", "compacted"),
            ("cleanup.policy", ""),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("max.compaction.lag.ms", "0"),
            ("delete.retention.ms", "-1"),
            ("no.such.key", "1"),
        ] {
            assert!(with(k, v).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn cleanup_policies_and_compaction_settings_parse_as_kafka_shows_them() {
        for (v, shown) in [
            ("compact", "compact"),
            ("delete", "delete"),
            ("compact,delete", "compact,delete"),
            ("delete, compact", "compact,delete"),
        ] {
            let c = with("cleanup.policy", v).expect(v);
            assert_eq!(value_of(&c, "cleanup.policy").as_deref(), Some(shown));
        }
        let c = with("min.cleanable.dirty.ratio", "0.01").expect("ratio");
        assert_eq!(
            value_of(&c, "min.cleanable.dirty.ratio").as_deref(),
            Some("0.01")
        );
        let d = LogConfig::default();
        assert_eq!(
            value_of(&d, "min.cleanable.dirty.ratio").as_deref(),
            Some("0.5")
        );
        assert_eq!(
            value_of(&d, "delete.retention.ms").as_deref(),
            Some("86400000")
        );
        assert_eq!(
            value_of(&d, "max.compaction.lag.ms").as_deref(),
            Some("9223372036854775807")
        );
    }
}
