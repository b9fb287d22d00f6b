//! Every partition log under one log dir (Kafka's `LogManager`): loading them at start
//! (with or without recovery), creating and deleting them, the root checkpoints
//! (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`), `meta.properties`,
//! retention, and the clean shutdown marker that lets the next start skip recovery.
//! Like Kafka, it holds an exclusive lock on `<log dir>/.lock` while open, so a second
//! broker (or `rafka log write`) cannot open the same log dir underneath it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use tracing::{info, warn};
use uuid::Uuid;

use super::checkpoint::{self, MetaProperties};
use super::creation;
use super::partition_log::{LoadOptions, LoadReport};
use super::{io_err, LogConfig, LogError, PartitionLog, TopicPartition};

/// Directories in a log dir that are not partitions Rafka serves.
fn is_partition_dir(name: &str) -> bool {
    // KRaft's metadata log, and Kafka's directories pending deletion or being moved
    name != "__cluster_metadata-0" && !name.ends_with("-delete") && !name.ends_with("-future")
}

/// The longest file name (in bytes) Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The name a partition dir is renamed to before it is removed:
/// `<topic>-<partition>.<unique id>-delete`, with the topic shortened so that the whole
/// fits in [`NAME_MAX`] (as Kafka's `LocalLog.logDeleteDirName`: a 249-character topic
/// would not fit otherwise).
fn delete_dir_name(tp: &TopicPartition) -> String {
    let suffix = format!("-{}.{}-delete", tp.partition, Uuid::new_v4().simple());
    let keep = NAME_MAX.saturating_sub(suffix.len()).min(tp.topic.len());
    // topic names are ASCII: any byte length is a char boundary
    let prefix = tp.topic.get(..keep).unwrap_or_default();
    format!("{prefix}{suffix}")
}

/// The lock file in a log dir (Kafka's `LogManager.LockFileName`).
pub const LOCK_FILE: &str = ".lock";

/// At most this many threads create (or remove) partition dirs for one call. The work is
/// nearly all waiting for fsyncs, which ext4 folds into shared journal commits when many
/// are in flight: on the 2-core development VM, 2,000 fsyncs (1,000 new dirs, each with a
/// file) took 6.9 s one after another and 0.15 s from 16 threads.
const IO_THREADS: usize = 16;

/// The `fcntl` (POSIX record) lock Apache Kafka takes on `.lock` (Java's
/// `FileChannel.tryLock`), which a `flock` neither sees nor blocks: taken or tested as
/// well, so that Rafka and Kafka each refuse a log dir the other is serving.
fn posix_lock(file: &File, shared: bool, dir: &Path, path: &Path) -> Result<(), LogError> {
    use rustix::fs::{fcntl_lock, FlockOperation};
    let op = if shared {
        FlockOperation::NonBlockingLockShared
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    match fcntl_lock(file, op) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {
            Err(LogError::DirInUse(dir.to_path_buf()))
        }
        Err(e) => Err(io_err(path)(e.into())),
    }
}

/// Takes `<dir>/.lock` exclusively, or fails with [`LogError::DirInUse`] if another
/// process (or another manager in this one) holds it. The lock lasts as long as the file.
/// Both locks are taken: the `flock` (which also keeps out another manager of this
/// process) and Kafka's `fcntl` one (process-wide: it keeps out an Apache Kafka).
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
    posix_lock(&file, false, dir, &path)?;
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

/// Fails with [`LogError::DirInUse`] if a process holds `<dir>/.lock` (a Rafka or an
/// Apache Kafka serving that log dir), without keeping a lock: for tools that only read,
/// and before adopting a Kafka dir. (A `fcntl` lock is the process's: calling this in a
/// process that serves `dir` would release its own; tools run in their own process.)
pub fn ensure_not_in_use(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(LOCK_FILE);
    let Ok(file) = File::open(&path) else {
        return Ok(()); // no lock file: nobody has it open
    };
    lock_outcome(file.try_lock_shared(), dir, &path)?;
    // a running Apache Kafka holds only the fcntl lock (released as `file` closes)
    posix_lock(&file, true, dir, &path)
}

/// Removes a directory that is no longer wanted; a failure is only logged (the name is
/// out of the way or the next start deals with it).
fn remove_dir_logged(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        warn!(dir = %dir.display(), cause = %e, "could not remove a directory");
    }
}

/// `f` over every item on up to [`IO_THREADS`] scoped threads (the calling thread is one
/// of them, and the only one for a single item); the results come back in the items'
/// order.
fn run_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, LogError> + Sync,
) -> Vec<Result<R, LogError>> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let threads = items.len().min(IO_THREADS);
    let done: Vec<(usize, Result<R, LogError>)> = std::thread::scope(|s| {
        // a thread that cannot be spawned leaves its share to the others
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("log-io".into())
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        let mut done = work();
        for h in helpers {
            // a panicked helper's items stay unanswered: errors below
            if let Ok(d) = h.join() {
                done.extend(d);
            }
        }
        done
    });
    let mut slots: Vec<Option<Result<R, LogError>>> = items.iter().map(|_| None).collect();
    for (i, r) in done {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(r);
        }
    }
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(LogError::Internal("a log I/O thread panicked".into()))))
        .collect()
}

/// The log dir's recovery points. As Kafka's `LogManager.loadLogs`, a file that cannot be
/// read is logged and ignored: every recovery point is then 0, so after a crash each log is
/// recovered from its first segment.
fn read_recovery_points(dir: &Path) -> HashMap<TopicPartition, i64> {
    let path = dir.join(checkpoint::RECOVERY_POINT_FILE);
    match checkpoint::read_offsets(&path) {
        Ok(entries) => entries.into_iter().collect(),
        Err(e) => {
            warn!(file = %path.display(), cause = %e,
                "unreadable recovery point checkpoint, ignored: every recovery point is 0");
            HashMap::new()
        }
    }
}

/// The log dir's log start offsets; an unreadable file is logged and ignored (each log
/// then starts at its first segment's base offset), as in Kafka.
fn read_log_starts(dir: &Path) -> HashMap<TopicPartition, i64> {
    let path = dir.join(checkpoint::LOG_START_OFFSET_FILE);
    match checkpoint::read_offsets(&path) {
        Ok(entries) => entries.into_iter().collect(),
        Err(e) => {
            warn!(file = %path.display(), cause = %e,
                "unreadable log start offset checkpoint, ignored: each log starts at its first segment");
            HashMap::new()
        }
    }
}

/// How a partition of the log dir `dir` would be loaded by [`LogManager::open`] (clean
/// shutdown marker, recovery point, log start offset): for tools that open one partition.
pub fn load_options(dir: &Path, tp: &TopicPartition) -> LoadOptions {
    LoadOptions {
        clean_shutdown: dir.join(checkpoint::CLEAN_SHUTDOWN_FILE).exists(),
        recovery_point: read_recovery_points(dir).get(tp).copied().unwrap_or(0),
        log_start_offset: read_log_starts(dir).get(tp).copied().unwrap_or(0),
    }
}

/// The topic id to give each partition whose `partition.metadata` cannot be read: the id
/// in its topic's other partitions (the one clients know), or a new one if none has it.
/// Kafka takes the whole log dir offline for such a file; with one log dir that would stop
/// every partition, and the id is known from the siblings.
fn repair_ids(found: &[(TopicPartition, PathBuf)]) -> HashMap<TopicPartition, Uuid> {
    let mut known: HashMap<&str, Uuid> = HashMap::new();
    let mut damaged = Vec::new();
    for (tp, path) in found {
        match checkpoint::read_partition_metadata(&path.join(checkpoint::PARTITION_METADATA_FILE)) {
            Ok(Some(id)) => {
                known.entry(tp.topic.as_str()).or_insert(id);
            }
            Ok(None) => {}
            Err(_) => damaged.push(tp),
        }
    }
    let mut ids = HashMap::new();
    for tp in damaged {
        let id = *known.entry(tp.topic.as_str()).or_insert_with(Uuid::new_v4);
        ids.insert(tp.clone(), id);
    }
    ids
}

/// All partition logs of one log dir.
pub struct LogManager {
    dir: PathBuf,
    default_config: LogConfig,
    meta: MetaProperties,
    logs: RwLock<BTreeMap<TopicPartition, Arc<PartitionLog>>>,
    /// Partitions whose directories are being created or deleted. That disk I/O runs
    /// without the `logs` lock; a second create or delete of a claimed partition waits
    /// for `idle` until the first is done.
    /// Invariant: a partition is in `busy` only while one [`Self::create_logs`] or
    /// [`Self::delete_logs`] call works on it.
    busy: Mutex<HashSet<TopicPartition>>,
    /// Signalled whenever partitions leave `busy`.
    idle: Condvar,
    /// The held `.lock`; released by [`Self::shutdown`] (or when dropped).
    lock: Mutex<Option<File>>,
    /// Runs once inside the next `create_logs`, once its partitions are claimed and
    /// before any disk I/O (no lock held).
    #[cfg(test)]
    create_hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Every directory fsync of a create or delete, with the names in the directory at
    /// that moment (what the fsync made durable).
    #[cfg(test)]
    synced: Mutex<Vec<(PathBuf, Vec<String>)>>,
}

/// What one partition of a [`LogManager::create_logs`] came to.
enum Attempt {
    Made(Box<PartitionLog>),
    /// Not started: another partition had failed.
    Skipped,
    Failed {
        /// Its directory was made (and is to be removed).
        dir_made: bool,
        error: LogError,
    },
}

/// Partitions claimed in [`LogManager::busy`]; released, and waiters woken, when dropped,
/// whichever way the operation ends.
struct Claim<'a> {
    manager: &'a LogManager,
    tps: Vec<TopicPartition>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut busy = self.manager.busy.lock();
        for tp in &self.tps {
            busy.remove(tp);
        }
        drop(busy);
        self.manager.idle.notify_all();
    }
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
        // segment files stay open only within half the open-file limit
        super::open_files::set_budget_from_limit(super::open_files::limit());
        let meta_path = dir.join(checkpoint::META_PROPERTIES_FILE);
        let (meta, new_dir) = match checkpoint::read_meta_properties(&meta_path)? {
            Some(m) if m.node_id != node_id => {
                return Err(LogError::NodeMismatch {
                    path: meta_path,
                    found: m.node_id,
                    expected: node_id,
                })
            }
            Some(m) => (m, false),
            None => {
                let m = MetaProperties {
                    node_id,
                    cluster_id: checkpoint::uuid_to_kafka(Uuid::new_v4()),
                    directory_id: Some(Uuid::new_v4()),
                };
                checkpoint::write_meta_properties(&meta_path, &m)?;
                (m, true)
            }
        };
        let marker = dir.join(checkpoint::CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        let recovery_points = read_recovery_points(&dir);
        let log_starts = read_log_starts(&dir);

        // creations a crash interrupted: finished or removed before anything is loaded
        creation::resolve(&dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if !entry.file_type().map_err(io_err(&dir))?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with("-delete") {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(io_err(&p))?;
                continue; // a deletion a crash interrupted
            }
            if name.starts_with('.') && TopicPartition::from_dir_name(name).is_none() {
                // Rafka's own metadata (.rafka/); a topic may start with '.' (.hidden-0)
                continue;
            }
            if name == "__cluster_metadata-0" || name == "__cluster_metadata-0.kafka" {
                continue; // the controller quorum's log (`controller::log_store`)
            }
            let Some(tp) = TopicPartition::from_dir_name(name).filter(|_| is_partition_dir(name))
            else {
                warn!(dir = name, "skipping a directory that is not a partition");
                continue;
            };
            found.push((tp, entry.path()));
        }
        let topic_ids = repair_ids(&found);

        let mut logs = BTreeMap::new();
        let mut total = LoadReport::default();
        for (tp, path) in found {
            let opts = LoadOptions {
                clean_shutdown,
                recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                log_start_offset: log_starts.get(&tp).copied().unwrap_or(0),
            };
            let topic_id = topic_ids.get(&tp).copied();
            let (log, report) =
                PartitionLog::open(path, tp.clone(), default_config, topic_id, opts)?;
            total.segments += report.segments;
            total.recovered_segments += report.recovered_segments;
            total.truncated_bytes += report.truncated_bytes;
            logs.insert(tp, Arc::new(log));
        }
        if new_dir && logs.is_empty() {
            info!(dir = %dir.display(), "new log dir: nothing to load");
        } else {
            info!(
                dir = %dir.display(),
                partitions = logs.len(),
                segments = total.segments,
                clean_shutdown,
                recovered_segments = total.recovered_segments,
                truncated_bytes = total.truncated_bytes,
                "loaded logs"
            );
        }
        let manager = LogManager {
            dir,
            default_config,
            meta,
            logs: RwLock::new(logs),
            busy: Mutex::new(HashSet::new()),
            idle: Condvar::new(),
            lock: Mutex::new(Some(lock)),
            #[cfg(test)]
            create_hook: Mutex::new(None),
            #[cfg(test)]
            synced: Mutex::new(Vec::new()),
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
        match self.create_logs(std::slice::from_ref(tp), topic_id, config) {
            Ok(logs) => logs
                .into_iter()
                .next()
                .ok_or_else(|| LogError::Internal(format!("no log created for {tp}"))),
            // created by a concurrent call in between
            Err(e) => self.get(tp).ok_or(e),
        }
    }

    /// Creates new, empty logs for `tps` (typically the partitions of one new topic) with
    /// `topic_id` in their `partition.metadata`, and returns them in the order given.
    ///
    /// All or nothing, across crashes too: fails if any of them exists (in this manager
    /// or as a directory); a creation intent ([`creation`]) is made durable before the
    /// first dir, so that a crash in the middle is finished or undone at the next start;
    /// once one partition fails no other is started, the dirs made so far are removed
    /// (after every file of theirs is closed: at the file descriptor limit, removing
    /// needs descriptors too) and none is registered.
    ///
    /// No lock is held across the disk I/O: the partitions are claimed first, so a
    /// concurrent create or delete of the same partitions waits for this one, while every
    /// other partition stays readable. Durability is batched: up to [`IO_THREADS`]
    /// threads each write a partition dir and fsync it (its `partition.metadata`, then the
    /// dir, once the first segment's files are in it), then the log dir is fsynced once
    /// for all of them.
    pub fn create_logs(
        &self,
        tps: &[TopicPartition],
        topic_id: Option<Uuid>,
        config: LogConfig,
    ) -> Result<Vec<Arc<PartitionLog>>, LogError> {
        if tps.is_empty() {
            return Ok(Vec::new());
        }
        let _claim = self.claim(tps);
        if let Some(tp) = {
            let logs = self.logs.read();
            tps.iter().find(|tp| logs.contains_key(*tp)).cloned()
        } {
            let dir = self.dir.join(tp.dir_name());
            return Err(io_err(&dir)(std::io::ErrorKind::AlreadyExists.into()));
        }
        #[cfg(test)]
        {
            let hook = self.create_hook.lock().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        let intent = creation::begin(&self.dir, tps, topic_id)?;
        let stop = AtomicBool::new(false);
        let attempts = run_parallel(tps, |tp| {
            if stop.load(Ordering::Relaxed) {
                return Ok(Attempt::Skipped);
            }
            let attempt = self.create_dir_log(tp, topic_id, config);
            if matches!(attempt, Attempt::Failed { .. }) {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(attempt)
        });
        let mut made = Vec::with_capacity(tps.len());
        let mut failed = None;
        // dirs this call made that must go if it fails (a dir that was there before is not
        // this call's to remove)
        let mut ours = Vec::new();
        // a thread panicked: which dirs it made is unknown, so the intent stays for the
        // next start to resolve
        let mut unknown = false;
        for (tp, attempt) in tps.iter().zip(attempts) {
            match attempt {
                Ok(Attempt::Made(log)) => {
                    ours.push(log.dir().to_path_buf());
                    made.push(*log);
                }
                Ok(Attempt::Skipped) => {}
                Ok(Attempt::Failed { dir_made, error }) => {
                    if dir_made {
                        ours.push(self.dir.join(tp.dir_name()));
                    }
                    failed.get_or_insert(error);
                }
                Err(e) => {
                    unknown = true;
                    failed.get_or_insert(e);
                }
            }
        }
        let synced = match failed {
            None => self.sync_dir(&self.dir),
            Some(e) => Err(e),
        };
        if let Err(e) = synced {
            // close every file first: at the fd limit, removing a tree needs descriptors
            drop(made);
            let removed = run_parallel(&ours, |d| match std::fs::remove_dir_all(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(d)(e)),
                _ => Ok(()),
            });
            let left = removed.iter().filter(|r| r.is_err()).count();
            if left > 0 || unknown {
                warn!(
                    partitions = tps.len(),
                    left, "could not remove every dir of a failed creation; the next start will"
                );
            } else if let Err(cause) = self
                .sync_dir(&self.dir)
                .and_then(|()| intent.done(&self.dir))
            {
                warn!(%cause, "could not close the intent of a failed creation; the next start will");
            }
            return Err(e);
        }
        if let Err(cause) = intent.done(&self.dir) {
            // every dir is durable: the next start finds them all and keeps them
            warn!(%cause, "could not remove a creation intent");
        }
        let made: Vec<Arc<PartitionLog>> = made.into_iter().map(Arc::new).collect();
        let mut logs = self.logs.write();
        for log in &made {
            logs.insert(log.topic_partition().clone(), Arc::clone(log));
        }
        drop(logs);
        if let Some(first) = made.first() {
            info!(topic = %first.topic_partition().topic, partitions = made.len(), "created logs");
        }
        Ok(made)
    }

    /// One new partition dir with its files durable (the caller syncs the log dir).
    /// A failure leaves what it made for the caller to remove (once every other file is
    /// closed).
    fn create_dir_log(
        &self,
        tp: &TopicPartition,
        topic_id: Option<Uuid>,
        config: LogConfig,
    ) -> Attempt {
        let dir = self.dir.join(tp.dir_name());
        // not create_dir_all: a directory already there is someone else's data
        if let Err(e) = std::fs::create_dir(&dir) {
            return Attempt::Failed {
                dir_made: false,
                error: io_err(&dir)(e),
            };
        }
        let made = (|| -> Result<PartitionLog, LogError> {
            if let Some(id) = topic_id {
                let path = dir.join(checkpoint::PARTITION_METADATA_FILE);
                checkpoint::write_partition_metadata_dir_unsynced(&path, id)?;
            }
            let (log, _) = PartitionLog::open(
                dir.clone(),
                tp.clone(),
                config,
                topic_id,
                LoadOptions::default(),
            )?;
            // the new files' names: durable before the dir's own name is (log dir fsync)
            self.sync_dir(&dir)?;
            Ok(log)
        })();
        match made {
            Ok(log) => Attempt::Made(Box::new(log)),
            Err(error) => Attempt::Failed {
                dir_made: true,
                error,
            },
        }
    }

    /// fsync of a directory of this log dir, so the names in it are durable.
    fn sync_dir(&self, dir: &Path) -> Result<(), LogError> {
        #[cfg(test)]
        {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            self.synced.lock().push((dir.to_path_buf(), names));
        }
        checkpoint::sync_dir(dir)
    }

    /// Waits until none of `tps` is claimed, then claims them all at once (so two callers
    /// never hold part of each other's set).
    fn claim(&self, tps: &[TopicPartition]) -> Claim<'_> {
        let mut busy = self.busy.lock();
        while tps.iter().any(|tp| busy.contains(tp)) {
            self.idle.wait(&mut busy);
        }
        busy.extend(tps.iter().cloned());
        Claim {
            manager: self,
            tps: tps.to_vec(),
        }
    }

    /// Test hook: `hook` runs once, inside the next [`Self::create_logs`], after its
    /// partitions are claimed and before any disk I/O.
    #[cfg(test)]
    pub(crate) fn set_create_hook(&self, hook: impl FnOnce() + Send + 'static) {
        *self.create_hook.lock() = Some(Box::new(hook));
    }

    /// Removes the partition and its files: see [`Self::delete_logs`].
    pub fn delete(&self, tp: &TopicPartition) -> Result<bool, LogError> {
        Ok(self.delete_logs(std::slice::from_ref(tp))? > 0)
    }

    /// Removes these partitions and their files; returns how many there were. Each
    /// directory is first renamed to `<topic>-<partition>.<id>-delete` (atomic; such
    /// directories are never loaded), so its name is free at once; the log dir is fsynced
    /// once for all the renames, then the directories are removed. Appends still in flight
    /// on an old log write into its renamed directory and are deleted with it.
    ///
    /// No lock is held across the I/O: the partitions are claimed, so a create of the same
    /// partitions waits until their directories are out of the way.
    pub fn delete_logs(&self, tps: &[TopicPartition]) -> Result<usize, LogError> {
        let _claim = self.claim(tps);
        let removed: Vec<Arc<PartitionLog>> = {
            let mut logs = self.logs.write();
            tps.iter().filter_map(|tp| logs.remove(tp)).collect()
        };
        let Some(first) = removed.first() else {
            return Ok(0);
        };
        let mut failed = None;
        let mut doomed = Vec::with_capacity(removed.len());
        for log in &removed {
            // a cleaning in progress must not swap files into the directory's next owner
            log.retire();
            let dir = log.dir();
            let to = self.dir.join(delete_dir_name(log.topic_partition()));
            match std::fs::rename(dir, &to) {
                Ok(()) => doomed.push(to),
                Err(e) => {
                    failed.get_or_insert(io_err(dir)(e));
                }
            }
        }
        let synced = self.sync_dir(&self.dir);
        // the names are free already; the next start removes what is left
        run_parallel(&doomed, |d| {
            remove_dir_logged(d);
            Ok(())
        });
        info!(topic = %first.topic_partition().topic, partitions = removed.len(), "deleted logs");
        match failed {
            Some(e) => Err(e),
            None => synced.map(|()| removed.len()),
        }
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
        // each close is fsyncs (segment, indexes, producer snapshot): on up to IO_THREADS
        // threads they share journal commits (10,000 partitions one by one took over 30 s)
        let logs = self.logs();
        for closed in run_parallel(&logs, |log| log.close()) {
            closed?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> LogManager {
        LogManager::open(dir, LogConfig::default(), 1).expect("open")
    }

    fn tps(topic: &str, n: i32) -> Vec<TopicPartition> {
        (0..n).map(|p| TopicPartition::new(topic, p)).collect()
    }

    fn loaded(m: &LogManager, topic: &str) -> usize {
        m.logs()
            .iter()
            .filter(|l| l.topic_partition().topic == topic)
            .count()
    }

    /// What a crash leaves in the middle of a creation (the intent, then some of the
    /// dirs) is undone at the next open: none of them is loaded or left on disk. A dir
    /// the intent names that belongs to another topic id is not this creation's: kept.
    #[test]
    fn a_creation_interrupted_midway_is_undone_at_open() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let id = Uuid::new_v4();
        {
            let m = open(tmp.path());
            let all = tps("big", 10);
            let _intent = creation::begin(tmp.path(), &all, Some(id)).expect("intent");
            for tp in &all[..4] {
                assert!(matches!(
                    m.create_dir_log(tp, Some(id), LogConfig::default()),
                    Attempt::Made(_)
                ));
            }
            // partition 5: someone else's dir (another topic id), there before
            let other = Uuid::new_v4();
            let dir = tmp.path().join("big-5");
            std::fs::create_dir(&dir).expect("mkdir");
            checkpoint::write_partition_metadata(
                &dir.join(checkpoint::PARTITION_METADATA_FILE),
                other,
            )
            .expect("metadata");
            // the crash: no shutdown, the intent stays
        }
        let m = open(tmp.path());
        let left: Vec<String> = m
            .logs()
            .iter()
            .map(|l| l.topic_partition().to_string())
            .collect();
        assert_eq!(left, ["big-5"], "only the dir that was not this creation's");
        assert!(
            !std::fs::read_dir(tmp.path())
                .expect("ls")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(".create-")),
            "the intent is gone"
        );
    }

    /// A crash after every dir was made but before the intent was removed: the creation
    /// was complete, and the next open keeps every partition.
    #[test]
    fn a_creation_interrupted_at_its_end_is_kept_at_open() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let id = Uuid::new_v4();
        {
            let m = open(tmp.path());
            let all = tps("done", 6);
            let _intent = creation::begin(tmp.path(), &all, Some(id)).expect("intent");
            for tp in &all {
                assert!(matches!(
                    m.create_dir_log(tp, Some(id), LogConfig::default()),
                    Attempt::Made(_)
                ));
            }
        }
        let m = open(tmp.path());
        assert_eq!(loaded(&m, "done"), 6);
    }

    /// A failed creation (a stray dir where partition 5 goes) stops, removes what it made
    /// and its intent, and registers nothing.
    #[test]
    fn a_failed_creation_removes_its_dirs_and_intent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = open(tmp.path());
        std::fs::create_dir(tmp.path().join("t-5")).expect("stray");
        let err = m
            .create_logs(&tps("t", 40), Some(Uuid::new_v4()), LogConfig::default())
            .expect_err("partition 5 exists");
        assert!(matches!(err, LogError::Io { .. }), "{err:?}");
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("t-") || n.starts_with(".create-"))
            .collect();
        names.sort();
        assert_eq!(names, ["t-5"]);
        assert_eq!(loaded(&m, "t"), 0);
    }

    /// Issue #13 item 11: a new partition dir is fsynced once its first segment's files
    /// and `partition.metadata` are in it, and the log dir after every new dir is in it,
    /// so a power loss cannot lose the entries; a deletion fsyncs the log dir once the
    /// dirs are renamed out of the way.
    #[test]
    fn new_and_deleted_partition_dirs_are_fsynced_with_their_parent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = open(tmp.path());
        let all = tps("t", 3);
        m.create_logs(&all, Some(Uuid::new_v4()), LogConfig::default())
            .expect("create");
        let synced = std::mem::take(&mut *m.synced.lock());
        let position = |dir: &Path| synced.iter().position(|(d, _)| d == dir);
        for tp in &all {
            let dir = tmp.path().join(tp.dir_name());
            let at = position(&dir).unwrap_or_else(|| panic!("{} fsynced", dir.display()));
            assert_eq!(
                synced[at].1,
                [
                    "00000000000000000000.index",
                    "00000000000000000000.log",
                    "00000000000000000000.timeindex",
                    "partition.metadata",
                ],
                "{tp}: fsynced with its files in it"
            );
        }
        let parent = synced
            .iter()
            .rposition(|(d, _)| d == tmp.path())
            .expect("the log dir is fsynced");
        for tp in &all {
            let name = tp.dir_name();
            assert!(synced[parent].1.contains(&name), "{name} in the log dir");
            assert!(
                position(&tmp.path().join(&name)) < Some(parent),
                "{name} first"
            );
        }

        assert_eq!(m.delete_logs(&all).expect("delete"), 3);
        let synced = std::mem::take(&mut *m.synced.lock());
        let (dir, names) = synced.last().expect("the log dir is fsynced");
        assert_eq!(dir, tmp.path());
        for tp in &all {
            assert!(!names.contains(&tp.dir_name()), "{tp} renamed away");
        }
        let doomed = names.iter().filter(|n| n.ends_with("-delete")).count();
        assert_eq!(doomed, 3, "the renames are what the fsync made durable");
    }

    /// Kafka's `-delete` dir names: the topic is shortened so the name fits in 255 bytes.
    #[test]
    fn delete_dir_names_fit() {
        for len in [1, 200, 249] {
            let tp = TopicPartition::new("t".repeat(len), 99_999);
            let name = delete_dir_name(&tp);
            assert!(name.len() <= NAME_MAX, "{len}: {}", name.len());
            assert!(name.ends_with("-delete") && name.starts_with('t'));
            assert!(name.contains("-99999."), "{name}");
        }
    }
}
