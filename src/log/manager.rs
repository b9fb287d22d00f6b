//! Every partition log under one log dir (Kafka's `LogManager`): loading them at start
//! (with or without recovery), creating and deleting them, the root checkpoints
//! (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`), `meta.properties`,
//! retention, and the clean shutdown marker that lets the next start skip recovery.
//! Like Kafka, it holds an exclusive lock on `<log dir>/.lock` while open, so a second
//! broker (or `rafka log write`) cannot open the same log dir underneath it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};
use uuid::Uuid;

use super::checkpoint::{self, MetaProperties};
use super::partition_log::{LoadOptions, LoadReport};
use super::{io_err, LogConfig, LogError, PartitionLog, TopicPartition};

/// Directories in a log dir that are not partitions Rafka serves.
fn is_partition_dir(name: &str) -> bool {
    // KRaft's metadata log, and Kafka's directories pending deletion or being moved
    name != "__cluster_metadata-0" && !name.ends_with("-delete") && !name.ends_with("-future")
}

/// The lock file in a log dir (Kafka's `LogManager.LockFileName`).
pub const LOCK_FILE: &str = ".lock";

/// Takes `<dir>/.lock` exclusively, or fails with [`LogError::DirInUse`] if another
/// process (or another manager in this one) holds it. The lock lasts as long as the file.
fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    lock_outcome(file.try_lock(), dir, &path)?;
    Ok(file)
}

/// A `try_lock*` result as the log's error: another holder is [`LogError::DirInUse`].
fn lock_outcome(
    r: Result<(), std::fs::TryLockError>,
    dir: &Path,
    path: &Path,
) -> Result<(), LogError> {
    match r {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::DirInUse(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(path)(e)),
    }
}

/// Fails with [`LogError::DirInUse`] if a process holds `<dir>/.lock` (a broker serving
/// that log dir), without taking it: for tools that only read.
pub fn ensure_not_in_use(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(LOCK_FILE);
    let Ok(file) = File::open(&path) else {
        return Ok(()); // no lock file: nobody has it open
    };
    lock_outcome(file.try_lock_shared(), dir, &path)
}

/// All partition logs of one log dir.
pub struct LogManager {
    dir: PathBuf,
    default_config: LogConfig,
    meta: MetaProperties,
    logs: RwLock<BTreeMap<TopicPartition, Arc<PartitionLog>>>,
    /// The held `.lock`; released by [`Self::shutdown`] (or when dropped).
    lock: Mutex<Option<File>>,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("dir", &self.dir)
            .finish()
    }
}

impl LogManager {
    /// Opens (or initialises) the log dir and loads every partition in it. After a clean
    /// shutdown no segment is scanned; otherwise each log is recovered from its recovery
    /// point. `node_id` is recorded in a new `meta.properties`.
    pub fn open(
        dir: impl Into<PathBuf>,
        default_config: LogConfig,
        node_id: i32,
    ) -> Result<Self, LogError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = lock_dir(&dir)?;
        let meta_path = dir.join(checkpoint::META_PROPERTIES_FILE);
        let meta = match checkpoint::read_meta_properties(&meta_path)? {
            Some(m) => m,
            None => {
                let m = MetaProperties {
                    node_id,
                    cluster_id: checkpoint::uuid_to_kafka(Uuid::new_v4()),
                    directory_id: Some(Uuid::new_v4()),
                };
                checkpoint::write_meta_properties(&meta_path, &m)?;
                m
            }
        };
        let marker = dir.join(checkpoint::CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        let recovery_points: HashMap<_, _> =
            checkpoint::read_offsets(&dir.join(checkpoint::RECOVERY_POINT_FILE))?
                .into_iter()
                .collect();
        let log_starts: HashMap<_, _> =
            checkpoint::read_offsets(&dir.join(checkpoint::LOG_START_OFFSET_FILE))?
                .into_iter()
                .collect();

        let mut logs = BTreeMap::new();
        let mut total = LoadReport::default();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if !entry.file_type().map_err(io_err(&dir))?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue; // Rafka's own metadata (.rafka/), not a partition
            }
            if name.ends_with("-delete") {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(io_err(&p))?;
                continue; // a deletion a crash interrupted
            }
            let Some(tp) = TopicPartition::from_dir_name(name).filter(|_| is_partition_dir(name))
            else {
                warn!(dir = name, "skipping a directory that is not a partition");
                continue;
            };
            let opts = LoadOptions {
                clean_shutdown,
                recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                log_start_offset: log_starts.get(&tp).copied().unwrap_or(0),
            };
            let (log, report) =
                PartitionLog::open(entry.path(), tp.clone(), default_config, None, opts)?;
            total.segments += report.segments;
            total.recovered_segments += report.recovered_segments;
            total.truncated_bytes += report.truncated_bytes;
            logs.insert(tp, Arc::new(log));
        }
        info!(
            dir = %dir.display(),
            partitions = logs.len(),
            segments = total.segments,
            clean_shutdown,
            recovered_segments = total.recovered_segments,
            truncated_bytes = total.truncated_bytes,
            "loaded logs"
        );
        let manager = LogManager {
            dir,
            default_config,
            meta,
            logs: RwLock::new(logs),
            lock: Mutex::new(Some(lock)),
        };
        manager.checkpoint()?;
        if clean_shutdown {
            std::fs::remove_file(&marker).map_err(io_err(&marker))?;
            checkpoint::sync_dir(&manager.dir)?;
        }
        Ok(manager)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn cluster_id(&self) -> &str {
        &self.meta.cluster_id
    }
    pub fn node_id(&self) -> i32 {
        self.meta.node_id
    }
    pub fn default_config(&self) -> LogConfig {
        self.default_config
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<PartitionLog>> {
        self.logs.read().get(tp).cloned()
    }

    /// Every log, ordered by topic and partition.
    pub fn logs(&self) -> Vec<Arc<PartitionLog>> {
        self.logs.read().values().cloned().collect()
    }

    /// Returns the log for `tp`, creating its directory when it does not exist yet.
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        topic_id: Option<Uuid>,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, LogError> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let mut logs = self.logs.write();
        if let Some(log) = logs.get(tp) {
            return Ok(Arc::clone(log));
        }
        let (log, _) = PartitionLog::open(
            self.dir.join(tp.dir_name()),
            tp.clone(),
            config,
            topic_id,
            LoadOptions::default(),
        )?;
        checkpoint::sync_dir(&self.dir)?;
        let log = Arc::new(log);
        logs.insert(tp.clone(), Arc::clone(&log));
        info!(partition = %tp, "created log");
        Ok(log)
    }

    /// Removes the partition and its files: first renames its directory to
    /// `<topic>-<partition>.<id>-delete` (atomic; such directories are never loaded), so the
    /// name is free at once, then removes it. Appends still in flight on the old log write
    /// into the renamed directory and are deleted with it.
    pub fn delete(&self, tp: &TopicPartition) -> Result<bool, LogError> {
        let Some(log) = self.logs.write().remove(tp) else {
            return Ok(false);
        };
        let dir = log.dir().to_path_buf();
        let doomed = self.dir.join(format!(
            "{}.{}-delete",
            tp.dir_name(),
            Uuid::new_v4().simple()
        ));
        std::fs::rename(&dir, &doomed).map_err(io_err(&dir))?;
        checkpoint::sync_dir(&self.dir)?;
        if let Err(e) = std::fs::remove_dir_all(&doomed) {
            // the name is free already; the next start removes what is left
            warn!(dir = %doomed.display(), cause = %e, "could not remove a deleted partition yet");
        }
        info!(partition = %tp, "deleted log");
        Ok(true)
    }

    /// Writes the recovery point and log start offset checkpoints.
    pub fn checkpoint(&self) -> Result<(), LogError> {
        let logs = self.logs();
        let points: Vec<_> = logs
            .iter()
            .map(|l| (l.topic_partition().clone(), l.recovery_point()))
            .collect();
        let starts: Vec<_> = logs
            .iter()
            .map(|l| (l.topic_partition().clone(), l.log_start_offset()))
            .collect();
        checkpoint::write_offsets(&self.dir.join(checkpoint::RECOVERY_POINT_FILE), &points)?;
        checkpoint::write_offsets(&self.dir.join(checkpoint::LOG_START_OFFSET_FILE), &starts)
    }

    /// Applies retention to every log; returns the number of segments deleted.
    pub fn enforce_retention(&self, now: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        for log in self.logs() {
            deleted += log.enforce_retention(now)?;
        }
        if deleted > 0 {
            self.checkpoint()?;
        }
        Ok(deleted)
    }

    /// Flushes logs whose `flush.ms` is due.
    /// Forgets idempotent producers idle longer than `expiration_ms`, in every log.
    pub fn expire_producers(&self, now: i64, expiration_ms: i64) -> usize {
        self.logs()
            .iter()
            .map(|l| l.expire_producers(now, expiration_ms))
            .sum()
    }

    /// One past the highest producer id any partition remembers (0 if none).
    pub fn next_unseen_producer_id(&self) -> i64 {
        self.logs()
            .iter()
            .filter_map(|l| l.producer_states().max_producer_id())
            .max()
            .map_or(0, |id| id + 1)
    }

    pub fn flush_due(&self, now: i64) -> Result<(), LogError> {
        for log in self.logs() {
            log.flush_if_due(now)?;
        }
        Ok(())
    }

    /// Seals and syncs every log, writes the checkpoints, then the clean shutdown marker,
    /// so the next open skips recovery. Appends must have stopped.
    pub fn shutdown(&self) -> Result<(), LogError> {
        for log in self.logs() {
            log.close()?;
        }
        self.checkpoint()?;
        checkpoint::write_atomic(
            &self.dir.join(checkpoint::CLEAN_SHUTDOWN_FILE),
            br#"{"version":0,"brokerEpoch":0}"#,
        )?;
        // the next broker may open the dir now, even while this value lingers
        self.lock.lock().take();
        info!(dir = %self.dir.display(), "logs closed cleanly");
        Ok(())
    }
}
