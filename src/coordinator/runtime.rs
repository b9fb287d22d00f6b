//! The driver of [`Shard`]s: the I/O their results ask for.
//!
//! One shard per partition of the internal topic, each behind its own `parking_lot`
//! mutex (not a task with a queue: an event is a few microseconds of state machine work
//! plus a page-cache append, so a lock costs less than a channel hop, and a caller that
//! finds the shard busy waits about as long as a queue would make it). Shards on
//! different partitions never wait for each other.
//!
//! An event, step by step ([`CoordinatorRuntime::write`], [`CoordinatorRuntime::park`]):
//!
//! 1. under the shard's lock: the shard handles the event and returns a
//!    [`CoordinatorResult`]; its records are appended to the partition (in event order,
//!    because under the lock) and, if the result says so, replayed into the shard; timers
//!    are set or cancelled; the channels of the parked requests it answers are taken out;
//! 2. the lock released, the appended records are fsynced (concurrent events share one
//!    fdatasync: the group commit of `PartitionLog::flush_to`);
//! 3. then, and only then, every answer of the result is given: the caller's, and the
//!    parked requests'. If the append or the fsync failed, each gets the error instead.
//!
//! The runtime's tick ([`CoordinatorRuntime::tick`]) fires due timers the same way. Its
//! driver sleeps until the earliest deadline ([`CoordinatorRuntime::next_timer_in`]) and
//! is woken ([`CoordinatorRuntime::timers_moved`]) when an event sets an earlier one, so a
//! timer fires when it is due, as Kafka's do. A timer an event sets for a deadline
//! already reached fires at the end of that event, under the same lock: a zero
//! `group.initial.rebalance.delay.ms` forms the first generation at once, with the members
//! that have joined, not up to a polling period later with whoever came meanwhile.
//! Nothing here is held across an `.await` but the answers being given.
//!
//! Invariant: a parked request's channel is in exactly one shard's `parked`, from the
//! event that parked it until the event that answers it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};
use tracing::{debug, error, info, warn};

use super::timer::Timers;
use super::{CoordinatorError, CoordinatorResult, Effect, EventContext, Ms, ResponseId, Shard};
use crate::log::batch::BatchIter;
use crate::log::now_ms;
use crate::log::records::{decode_batch, encode_batch, NewRecord};
use crate::partition::{AppendOrigin, Partition, PartitionError, ReadBound};

/// Records per appended batch: a rewrite of a large shard goes in several.
const MAX_BATCH_RECORDS: usize = 500;

type Answer<S> = Result<<S as Shard>::Deferred, CoordinatorError>;
type Sender<S> = oneshot::Sender<Answer<S>>;

/// Makes an empty shard for a partition (at load, and again for each leadership).
type NewShard<S> = Box<dyn Fn(&Partition) -> S + Send + Sync>;

/// The shards of one internal topic on this broker, and their I/O.
pub struct CoordinatorRuntime<S: Shard> {
    shards: Vec<ShardSlot<S>>,
    new_shard: NewShard<S>,
    clock: Instant,
    next_request: AtomicU64,
    /// Signalled when an event moves a shard's earliest timer earlier.
    timers_moved: Notify,
}

impl<S: Shard> std::fmt::Debug for CoordinatorRuntime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorRuntime")
            .field("shards", &self.shards.len())
            .finish()
    }
}

struct ShardSlot<S: Shard> {
    partition: Arc<Partition>,
    state: Mutex<ShardState<S>>,
    status: Mutex<Status>,
}

/// Whether a shard serves (Kafka's coordinator states, per partition leadership).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    /// Replayed when this broker became the leader at `epoch`; serves while it leads at
    /// that epoch.
    Loaded { epoch: i32 },
    /// Not loaded: another broker leads the partition, or the load is yet to run.
    Unloaded,
    /// The partition could not be replayed at `epoch` (Kafka's FAILED state): the shard
    /// takes no event, so nothing is answered from, or written on top of, a partial
    /// state. A new leadership tries again.
    Failed { epoch: i32, reason: String },
}

impl<S: Shard> ShardSlot<S> {
    fn is_loaded(&self) -> bool {
        matches!(*self.status.lock(), Status::Loaded { epoch }
            if self.partition.is_leader() && self.partition.leader_epoch() == epoch)
    }
}

/// What the shard's lock guards.
struct ShardState<S: Shard> {
    shard: S,
    /// The channels of the requests the shard parked, by their token.
    parked: HashMap<ResponseId, Sender<S>>,
    timers: Timers<S::TimerKey>,
}

/// What an event leaves to do once the lock is released: the fsync, then the answers.
struct Pending<S: Shard> {
    flush_to: Option<i64>,
    /// The leader epoch the appends were made under.
    epoch: i32,
    deliveries: Vec<(Sender<S>, Answer<S>)>,
}

impl<S: Shard> Default for Pending<S> {
    fn default() -> Self {
        Pending {
            flush_to: None,
            epoch: -1,
            deliveries: Vec::new(),
        }
    }
}

impl<S: Shard> Pending<S> {
    /// Gives the answers; after a failed fsync, the error instead.
    fn deliver(self, flushed: &Result<(), CoordinatorError>) {
        for (tx, answer) in self.deliveries {
            let answer = match flushed {
                Err(e) => Err(e.clone()),
                Ok(()) => answer,
            };
            // the requester may have gone (its connection closed): nothing to do
            let _ = tx.send(answer);
        }
    }
}

fn partition_name(p: &Partition) -> String {
    let tp = p.topic_partition();
    format!("{}-{}", tp.topic, tp.partition)
}

fn flush_blocking(partition: &Partition, to: Option<i64>) -> Result<(), CoordinatorError> {
    match to {
        None => Ok(()),
        Some(offset) => partition.flush_to(offset).map_err(|e| {
            warn!(partition = %partition_name(partition), cause = %e, "coordinator fsync failed");
            CoordinatorError::flush(&partition_name(partition), &e)
        }),
    }
}

/// How long a coordinator write waits for the partition's in-sync replicas (Kafka's
/// `offsets.commit.timeout.ms`).
const REPLICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// fsyncs on the blocking pool, then waits until every in-sync replica has the records
/// (at once when the partition is its own only replica), as Kafka's runtime answers a
/// write once the high watermark passes it.
async fn flush(
    partition: &Arc<Partition>,
    to: Option<i64>,
    epoch: i32,
) -> Result<(), CoordinatorError> {
    let Some(offset) = to else {
        return Ok(());
    };
    let p = Arc::clone(partition);
    match tokio::task::spawn_blocking(move || flush_blocking(&p, to)).await {
        Ok(r) => r?,
        Err(e) => {
            return Err(CoordinatorError::Flush {
                partition: partition_name(partition),
                message: e.to_string(),
            })
        }
    }
    partition
        .wait_replicated(offset, epoch, REPLICATION_TIMEOUT)
        .await
        .map_err(|code| CoordinatorError::Append {
            partition: partition_name(partition),
            code,
            message: format!("not replicated: {}", code.name()),
        })
}

/// True if a freshly loaded shard set a timer.
fn fresh_timers<S: Shard>(state: &ShardState<S>) -> bool {
    state.timers.next_deadline().is_some()
}

impl<S: Shard> ShardState<S> {
    fn new(shard: S) -> Self {
        ShardState {
            shard,
            parked: HashMap::new(),
            timers: Timers::default(),
        }
    }

    fn set_timer(&mut self, effect: Effect<S>) -> Option<(ResponseId, S::Deferred)> {
        match effect {
            Effect::Schedule { key, deadline } => self.timers.schedule(key, deadline),
            Effect::Cancel(key) => self.timers.cancel(&key),
            Effect::Respond(id, answer) => return Some((id, answer)),
        }
        None
    }

    /// Step 1 of an event for its result: append (and replay), timers, take the parked
    /// requests' channels. The caller's answer, or why the write failed.
    fn apply<T>(
        &mut self,
        partition: &Partition,
        result: CoordinatorResult<T, S>,
        now: Ms,
        wall: i64,
        pending: &mut Pending<S>,
    ) -> Result<T, CoordinatorError> {
        let CoordinatorResult {
            response,
            records,
            replay,
            producer,
            effects,
        } = result;
        let batch = Batch {
            records: &records,
            replay,
            producer,
        };
        let written = self.append(partition, batch, now, wall, pending);
        for effect in effects {
            let Some((id, answer)) = self.set_timer(effect) else {
                continue;
            };
            match self.parked.remove(&id) {
                Some(tx) => {
                    let answer = match &written {
                        Ok(()) => Ok(answer),
                        Err(e) => Err(e.clone()),
                    };
                    pending.deliveries.push((tx, answer));
                }
                None => debug!(?id, "no parked request to answer"),
            }
        }
        written.map(|()| response)
    }

    fn append(
        &mut self,
        partition: &Partition,
        batch: Batch<'_>,
        now: Ms,
        wall: i64,
        pending: &mut Pending<S>,
    ) -> Result<(), CoordinatorError> {
        let Batch {
            records,
            replay,
            producer,
        } = batch;
        for chunk in records.chunks(MAX_BATCH_RECORDS) {
            let info = partition
                .append(&encode(chunk, producer), AppendOrigin::Coordinator)
                .map_err(|e| {
                    warn!(partition = %partition_name(partition), cause = %e, "coordinator append failed");
                    CoordinatorError::append(&partition_name(partition), &e)
                })?;
            let end = info.last_offset + 1;
            pending.flush_to = Some(pending.flush_to.map_or(end, |f| f.max(end)));
            pending.epoch = info.leader_epoch;
            if replay {
                for r in chunk {
                    if let Some(key) = r.key.as_deref() {
                        match producer {
                            Some((pid, _)) => self.shard.replay_transactional(
                                pid,
                                key,
                                r.value.as_deref(),
                                now,
                                wall,
                            ),
                            None => self.shard.replay(key, r.value.as_deref(), now, wall),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a result appends: its records, whether to replay them, and the transaction
/// they belong to (if any).
struct Batch<'a> {
    records: &'a [NewRecord],
    replay: bool,
    producer: Option<(i64, i16)>,
}

/// One batch of a coordinator's records; a transaction's carries its producer id and
/// epoch and the transactional bit (no sequence: Kafka's coordinators write none).
fn encode(records: &[NewRecord], producer: Option<(i64, i16)>) -> Vec<u8> {
    let mut batch = encode_batch(records, -1);
    if let Some((producer_id, epoch)) = producer {
        crate::log::batch::put(
            &mut batch,
            crate::log::batch::ATTRIBUTES,
            &crate::log::batch::TRANSACTIONAL_MASK.to_be_bytes(),
        );
        crate::log::batch::set_producer(&mut batch, producer_id, epoch, -1);
    }
    batch
}

/// A control batch's marker: `Some(commit)` for a COMMIT or ABORT record (key: version
/// i16, type i16: 0 ABORT, 1 COMMIT), `None` for any other control record.
fn marker_of(batch: &[u8]) -> Option<bool> {
    let records = crate::log::records::decode_control_batch(batch).ok()?;
    let key = records.first()?.key.as_deref()?;
    match key.get(2..4) {
        Some([0, 0]) => Some(false),
        Some([0, 1]) => Some(true),
        _ => None,
    }
}

/// Why a partition could not be replayed.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    /// A read failed (a batch that fails its CRC check, an I/O error).
    #[error(transparent)]
    Read(#[from] PartitionError),
    /// A batch's records do not decode.
    #[error(transparent)]
    Decode(#[from] crate::log::LogError),
    /// The log ended early: no whole batch at `offset`, below the log end.
    #[error("no whole batch at offset {offset}, below the log end offset {log_end_offset}")]
    Short { offset: i64, log_end_offset: i64 },
}

/// Replays `partition` from its log start into `shard`: the number of records read.
/// Fails unless every batch up to the log end was replayed.
fn replay_partition<S: Shard>(
    partition: &Partition,
    shard: &mut S,
    now: Ms,
    wall: i64,
) -> Result<usize, ReplayError> {
    let mut records = 0usize;
    let mut offset = partition.log_start_offset();
    while offset < partition.log_end_offset() {
        let data = partition.read(offset, 1 << 20, true, ReadBound::LogEnd)?;
        if data.records.is_empty() {
            break;
        }
        let before = offset;
        for (at, h) in BatchIter::new(&data.records) {
            let Some(batch) = h.size().and_then(|size| data.records.get(at..at + size)) else {
                break;
            };
            if h.is_control() {
                if let Some(commit) = marker_of(batch) {
                    shard.replay_end_txn(h.producer_id, commit, wall);
                }
                offset = h.next_offset();
                continue;
            }
            for r in decode_batch(batch)? {
                if r.offset < offset {
                    continue;
                }
                records += 1;
                if let Some(key) = r.key.as_deref() {
                    if h.is_transactional() {
                        shard.replay_transactional(
                            h.producer_id,
                            key,
                            r.value.as_deref(),
                            now,
                            wall,
                        );
                    } else {
                        shard.replay(key, r.value.as_deref(), now, wall);
                    }
                }
            }
            offset = h.next_offset();
        }
        if offset == before {
            // not one whole batch in what was read: nothing more can be replayed
            break;
        }
    }
    let log_end_offset = partition.log_end_offset();
    if offset < log_end_offset {
        return Err(ReplayError::Short {
            offset,
            log_end_offset,
        });
    }
    Ok(records)
}

impl<S: Shard> CoordinatorRuntime<S> {
    /// Replays each partition (of the internal topic, in partition order) into a shard
    /// made by `new_shard`, and sets the timers the loaded shards ask for.
    ///
    /// A partition that cannot be replayed (a corrupt batch, an I/O error) is logged and
    /// left failed, as Kafka's runtime leaves a coordinator whose load failed in its
    /// FAILED state: its shard takes no event ([`CoordinatorError::NotLoaded`], which
    /// clients see as NOT_COORDINATOR), nothing is written to it, and every other
    /// partition is served.
    ///
    /// Only the partitions this broker leads are replayed; the others load when it comes
    /// to lead them ([`Self::sync_leadership`]).
    pub fn load(
        partitions: Vec<Arc<Partition>>,
        new_shard: impl Fn(&Partition) -> S + Send + Sync + 'static,
    ) -> Result<Self, PartitionError> {
        let runtime = CoordinatorRuntime {
            shards: partitions
                .into_iter()
                .map(|partition| ShardSlot {
                    state: Mutex::new(ShardState::new(new_shard(&partition))),
                    partition,
                    status: Mutex::new(Status::Unloaded),
                })
                .collect(),
            new_shard: Box::new(new_shard),
            clock: Instant::now(),
            next_request: AtomicU64::new(1),
            timers_moved: Notify::new(),
        };
        runtime.sync_leadership();
        Ok(runtime)
    }

    /// Follows the partitions' leadership (Kafka's `onElection` / `onResignation`): a
    /// shard whose partition this broker now leads, at an epoch it was not loaded for, is
    /// replayed from the log; one whose partition it no longer leads is emptied. Requests
    /// parked on a shard that is reloaded or emptied are dropped (their callers get
    /// [`CoordinatorError::Gone`], and clients look for the coordinator again). Blocks
    /// (reads the log): call it from the blocking pool.
    pub fn sync_leadership(&self) {
        let wall = now_ms();
        let (mut loaded, mut failed, mut records) = (0usize, 0usize, 0usize);
        for slot in &self.shards {
            let p = &slot.partition;
            let leads = p.is_leader();
            let epoch = p.leader_epoch();
            let up_to_date = || match &*slot.status.lock() {
                Status::Loaded { epoch: e } | Status::Failed { epoch: e, .. } => {
                    leads && *e == epoch
                }
                Status::Unloaded => !leads,
            };
            if up_to_date() {
                continue;
            }
            let mut state = slot.state.lock();
            // a concurrent run may have done it while this one waited for the shard
            if up_to_date() {
                continue;
            }
            let mut fresh = ShardState::new((self.new_shard)(p));
            if !leads {
                *state = fresh;
                *slot.status.lock() = Status::Unloaded;
                info!(partition = %partition_name(p), "coordinator partition resigned");
                continue;
            }
            let now = self.clock.elapsed().as_millis() as Ms;
            match replay_partition(p, &mut fresh.shard, now, wall) {
                Ok(n) => {
                    records += n;
                    loaded += 1;
                    for effect in fresh.shard.loaded(now, wall) {
                        if fresh.set_timer(effect).is_some() {
                            debug!("a loaded shard answered a request: ignored");
                        }
                    }
                    *state = fresh;
                    *slot.status.lock() = Status::Loaded { epoch };
                    if fresh_timers(&state) {
                        self.timers_moved.notify_one();
                    }
                }
                Err(e) => {
                    failed += 1;
                    error!(
                        partition = %partition_name(p),
                        cause = %e,
                        "coordinator partition failed to load; its groups get NOT_COORDINATOR"
                    );
                    // what was replayed is partial: forget it
                    *state = ShardState::new((self.new_shard)(p));
                    *slot.status.lock() = Status::Failed {
                        epoch,
                        reason: e.to_string(),
                    };
                }
            }
        }
        if loaded + failed > 0 {
            info!(
                partitions = self.shards.len(),
                loaded, failed, records, "replayed coordinator partitions"
            );
        }
    }

    /// How many shards (partitions of the internal topic).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The partition of shard `index`.
    pub fn partition(&self, index: usize) -> Option<&Arc<Partition>> {
        self.shards.get(index).map(|s| &s.partition)
    }

    /// Shard `index`, if it is loaded and this broker still leads its partition at the
    /// epoch it was loaded for.
    fn slot(&self, index: usize) -> Result<&ShardSlot<S>, CoordinatorError> {
        let slot = self
            .shards
            .get(index)
            .ok_or(CoordinatorError::NoShard(index))?;
        let partition = partition_name(&slot.partition);
        let leads = slot.partition.is_leader();
        let epoch = slot.partition.leader_epoch();
        match &*slot.status.lock() {
            Status::Loaded { epoch: e } if leads && *e == epoch => Ok(slot),
            Status::Failed { reason, .. } if leads => Err(CoordinatorError::NotLoaded {
                partition,
                reason: reason.clone(),
            }),
            // leading, not (yet) loaded at this epoch: the load is on its way
            _ if leads => Err(CoordinatorError::Loading { partition }),
            _ => Err(CoordinatorError::NotLeader { partition }),
        }
    }

    /// The shards that are loaded (those whose partition failed to load take no event).
    fn loaded(&self) -> impl Iterator<Item = &ShardSlot<S>> {
        self.shards.iter().filter(|s| s.is_loaded())
    }

    /// Whether shard `index` is loaded and serving (false for a partition that failed to
    /// load, one another broker leads, or none).
    pub fn is_loaded(&self, index: usize) -> bool {
        self.shards.get(index).is_some_and(ShardSlot::is_loaded)
    }

    /// Monotonic and wall-clock milliseconds.
    fn now(&self) -> (Ms, i64) {
        (self.clock.elapsed().as_millis() as Ms, now_ms())
    }

    fn context(&self) -> EventContext {
        let (now, wall) = self.now();
        EventContext {
            now,
            wall,
            request: ResponseId::new(self.next_request.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Step 1 of an event, under the shard's lock.
    fn event<T>(
        &self,
        slot: &ShardSlot<S>,
        parked: Option<Sender<S>>,
        op: impl FnOnce(&mut S, &EventContext) -> CoordinatorResult<T, S>,
    ) -> (Result<T, CoordinatorError>, Pending<S>) {
        let ctx = self.context();
        let mut pending = Pending::default();
        let mut state = slot.state.lock();
        if let Some(tx) = parked {
            state.parked.insert(ctx.request, tx);
        }
        let first_before = state.timers.next_deadline();
        let result = op(&mut state.shard, &ctx);
        let own = state.apply(&slot.partition, result, ctx.now, ctx.wall, &mut pending);
        // timers already due (a zero delay) fire in the same event, before anything else
        // reaches the shard, as the tick would have fired them
        for key in state.timers.pop_due(ctx.now) {
            let result = state.shard.on_timer(key, ctx.now, ctx.wall);
            // a failed write was logged; the answers carry the error
            let _ = state.apply(&slot.partition, result, ctx.now, ctx.wall, &mut pending);
        }
        let first = state.timers.next_deadline();
        if first.is_some_and(|f| first_before.is_none_or(|b| f < b)) {
            self.timers_moved.notify_one();
        }
        (own, pending)
    }

    /// Reads shard `index`'s state (no event: nothing written, no timer moved).
    pub fn read<T>(&self, index: usize, op: impl FnOnce(&S) -> T) -> Result<T, CoordinatorError> {
        let slot = self.slot(index)?;
        let state = slot.state.lock();
        Ok(op(&state.shard))
    }

    /// Reads every loaded shard's state, one after the other, in partition order.
    pub fn read_all<T>(&self, mut op: impl FnMut(&S) -> T) -> Vec<T> {
        self.loaded()
            .map(|slot| op(&slot.state.lock().shard))
            .collect()
    }

    /// Runs an event on shard `index` and answers once what it wrote is durable.
    pub async fn write<T>(
        &self,
        index: usize,
        op: impl FnOnce(&mut S, &EventContext) -> CoordinatorResult<T, S>,
    ) -> Result<T, CoordinatorError> {
        let slot = self.slot(index)?;
        let (own, pending) = self.event(slot, None, op);
        let flushed = flush(&slot.partition, pending.flush_to, pending.epoch).await;
        pending.deliver(&flushed);
        flushed.and(own)
    }

    /// Writes a transaction's COMMIT or ABORT marker to shard `index`'s partition and
    /// tells the shard ([`Shard::replay_end_txn`]), under the shard's lock so no event
    /// sees the marker written but not applied; answers once the marker is durable and
    /// replicated (WriteTxnMarkers on a coordinator's partition, as Kafka's
    /// `completeTransaction`).
    pub async fn complete_transaction(
        &self,
        index: usize,
        marker: &crate::log::producer_state::TxnMarker,
    ) -> Result<(), CoordinatorError> {
        let slot = self.slot(index)?;
        let (end, epoch) = {
            let mut state = slot.state.lock();
            let epoch = slot.partition.leader_epoch();
            let offset = slot.partition.append_marker(marker).map_err(|e| {
                warn!(partition = %partition_name(&slot.partition), cause = %e, "marker append failed");
                CoordinatorError::append(&partition_name(&slot.partition), &e)
            })?;
            state
                .shard
                .replay_end_txn(marker.producer_id, marker.commit, now_ms());
            (offset + 1, epoch)
        };
        flush(&slot.partition, Some(end), epoch).await
    }

    /// Runs an event that may park its request: its answer is the
    /// [`Effect::Respond`]`(ctx.request, ..)` of this event's result or of a later one.
    pub async fn park(
        &self,
        index: usize,
        op: impl FnOnce(&mut S, &EventContext) -> CoordinatorResult<(), S>,
    ) -> Result<S::Deferred, CoordinatorError> {
        let slot = self.slot(index)?;
        let (tx, rx) = oneshot::channel();
        // a failed write answers the request with the error if the result answered it;
        // if the shard parked it, its state says so and a later event answers it
        let (_, pending) = self.event(slot, Some(tx), op);
        let flushed = flush(&slot.partition, pending.flush_to, pending.epoch).await;
        pending.deliver(&flushed);
        rx.await.unwrap_or(Err(CoordinatorError::Gone))
    }

    /// Runs an event on shard `index` and answers once what it wrote is fsynced, on the
    /// calling thread (at load, or from the blocking pool).
    pub fn write_blocking<T>(
        &self,
        index: usize,
        op: impl FnOnce(&mut S, &EventContext) -> CoordinatorResult<T, S>,
    ) -> Result<T, CoordinatorError> {
        let slot = self.slot(index)?;
        let (own, pending) = self.event(slot, None, op);
        let flushed = flush_blocking(&slot.partition, pending.flush_to);
        pending.deliver(&flushed);
        flushed.and(own)
    }

    /// Runs an event on every loaded shard in turn (a periodic job: offsets expiry),
    /// fsyncing each shard's writes before its answers. Blocks: call it from the
    /// blocking pool.
    pub fn write_each_blocking<T>(
        &self,
        mut op: impl FnMut(&mut S, &EventContext) -> CoordinatorResult<T, S>,
    ) -> Vec<Result<T, CoordinatorError>> {
        self.loaded()
            .map(|slot| {
                let (own, pending) = self.event(slot, None, &mut op);
                let flushed = flush_blocking(&slot.partition, pending.flush_to);
                pending.deliver(&flushed);
                flushed.and(own)
            })
            .collect()
    }

    /// How long until the earliest timer of any loaded shard is due (zero if one is overdue);
    /// `None` when no timer is set.
    pub fn next_timer_in(&self) -> Option<std::time::Duration> {
        let (now, _) = self.now();
        // the shards the tick fires: a failed one's timers would make a due one forever
        self.loaded()
            .filter_map(|slot| slot.state.lock().timers.next_deadline())
            .min()
            .map(|d| std::time::Duration::from_millis(u64::try_from(d - now).unwrap_or(0)))
    }

    /// Completes when an event has set a timer earlier than its shard's earliest one
    /// since the last call (a signal given while nobody waits is kept for the next).
    pub async fn timers_moved(&self) {
        self.timers_moved.notified().await
    }

    /// Fires every due timer of every shard. Blocks (fsyncs): call it from the blocking
    /// pool when [`Self::next_timer_in`] says one is due.
    pub fn tick(&self) {
        let (now, wall) = self.now();
        for slot in self.loaded() {
            let mut pending = Pending::default();
            {
                let mut state = slot.state.lock();
                for key in state.timers.pop_due(now) {
                    let result = state.shard.on_timer(key, now, wall);
                    // a failed write was logged; the answers carry the error
                    let _ = state.apply(&slot.partition, result, now, wall, &mut pending);
                }
            }
            let flushed = flush_blocking(&slot.partition, pending.flush_to);
            pending.deliver(&flushed);
        }
    }

    /// Holds shard `index`'s lock until the guard is dropped (tests of parallelism).
    #[cfg(test)]
    pub(crate) fn hold(&self, index: usize) -> Option<impl Sized + '_> {
        self.shards.get(index).map(|s| s.state.lock())
    }

    /// Timers set in shard `index` (tests).
    #[cfg(test)]
    pub(crate) fn timer_deadline(&self, index: usize, key: &S::TimerKey) -> Option<Ms> {
        self.shards
            .get(index)
            .and_then(|s| s.state.lock().timers.deadline(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition_log::LoadOptions;
    use crate::log::{LogConfig, PartitionLog, TopicPartition};

    /// A toy shard: a counter per key, stored as records; `add` parks until `release`.
    #[derive(Default)]
    struct Counters {
        values: HashMap<Vec<u8>, u64>,
        waiting: Vec<ResponseId>,
        fired: Vec<String>,
    }

    impl Shard for Counters {
        type Deferred = u64;
        type TimerKey = String;

        fn replay(&mut self, key: &[u8], value: Option<&[u8]>, _now: Ms, _wall: i64) {
            match value.and_then(|v| <[u8; 8]>::try_from(v).ok()) {
                Some(v) => self.values.insert(key.to_vec(), u64::from_be_bytes(v)),
                None => self.values.remove(key),
            };
        }

        fn loaded(&mut self, now: Ms, _wall: i64) -> Vec<Effect<Self>> {
            vec![Effect::Schedule {
                key: "loaded".into(),
                deadline: now,
            }]
        }

        fn on_timer(&mut self, key: String, _now: Ms, _wall: i64) -> CoordinatorResult<(), Self> {
            self.fired.push(key);
            let answers = self.waiting.drain(..).map(|id| Effect::Respond(id, 7));
            CoordinatorResult::of(()).with_effects(answers.collect::<Vec<_>>())
        }
    }

    fn record(key: &[u8], value: Option<u64>, wall: i64) -> NewRecord {
        NewRecord {
            key: Some(key.to_vec()),
            value: value.map(|v| v.to_be_bytes().to_vec()),
            headers: Vec::new(),
            timestamp: wall,
        }
    }

    fn partition(dir: &std::path::Path, index: i32) -> Arc<Partition> {
        let (log, _) = PartitionLog::open(
            dir.join(format!("__consumer_offsets-{index}")),
            TopicPartition::new("__consumer_offsets", index),
            LogConfig::default(),
            None,
            LoadOptions::default(),
        )
        .expect("open");
        Arc::new(Partition::new_local_leader(Arc::new(log), 1))
    }

    #[tokio::test]
    async fn writes_are_replayed_durable_and_reloaded_and_parked_requests_answered_by_timers() {
        let dir = tempfile::tempdir().expect("tmp");
        let parts = vec![partition(dir.path(), 0), partition(dir.path(), 1)];
        let rt = CoordinatorRuntime::load(parts.clone(), |_| Counters::default()).expect("load");
        assert_eq!(rt.timer_deadline(0, &"loaded".to_string()), Some(0));
        // shard 0 busy: shard 1 does not wait for it
        let busy = rt.hold(0).expect("shard 0");
        let n = rt
            .write(1, |_, ctx| {
                CoordinatorResult::of(5).with_replayed_records(vec![record(
                    b"k",
                    Some(5),
                    ctx.wall,
                )])
            })
            .await
            .expect("written");
        assert_eq!(n, 5);
        assert_eq!(
            rt.read(1, |s| s.values.get(&b"k"[..]).copied())
                .expect("shard"),
            Some(5)
        );
        assert_eq!(parts[1].log_end_offset(), 1);
        assert_eq!(parts[0].log_end_offset(), 0, "shard 1's partition only");
        drop(busy);

        // the timer the loaded shard set is due: the tick fires it
        let rt = Arc::new(rt);
        tokio::task::spawn_blocking({
            let rt = Arc::clone(&rt);
            move || rt.tick()
        })
        .await
        .expect("tick");
        let fired = rt.read(0, |s| s.fired.clone()).expect("shard");
        assert_eq!(fired, vec!["loaded".to_string()]);

        // a parked request is answered by a later event (a timer), not before
        let parked = {
            let rt = Arc::clone(&rt);
            tokio::spawn(async move {
                rt.park(0, |s, ctx| {
                    s.waiting.push(ctx.request);
                    CoordinatorResult::of(())
                })
                .await
            })
        };
        while rt.read(0, |s| s.waiting.len()).expect("shard") == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!parked.is_finished());
        // a timer set for now fires at the end of the event that set it
        rt.write(0, |_, ctx| {
            CoordinatorResult::of(()).with_effects([Effect::Schedule {
                key: "release".into(),
                deadline: ctx.now,
            }])
        })
        .await
        .expect("write");
        assert_eq!(parked.await.expect("task").expect("answered"), 7);
        let fired = rt.read(0, |s| s.fired.clone()).expect("shard");
        assert_eq!(fired, vec!["loaded".to_string(), "release".to_string()]);

        // a fresh runtime replays what was written
        drop(rt);
        let again = CoordinatorRuntime::load(parts, |_| Counters::default()).expect("reload");
        assert_eq!(
            again
                .read(1, |s| s.values.get(&b"k"[..]).copied())
                .expect("shard"),
            Some(5)
        );
    }

    #[tokio::test]
    async fn timers_fire_when_due_an_earlier_one_wakes_the_driver_and_a_due_one_fires_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let rt = CoordinatorRuntime::load(vec![partition(dir.path(), 0)], |_| Counters::default())
            .expect("load");
        // the loaded shard's timer is due at once
        assert_eq!(rt.next_timer_in(), Some(std::time::Duration::ZERO));
        rt.tick();
        assert_eq!(rt.next_timer_in(), None, "fired and gone");

        let schedule = |key: &str, in_ms: Ms| {
            let key = key.to_string();
            move |_: &mut Counters, ctx: &EventContext| {
                CoordinatorResult::of(()).with_effects([Effect::Schedule {
                    key,
                    deadline: ctx.now + in_ms,
                }])
            }
        };
        rt.write(0, schedule("far", 3_600_000))
            .await
            .expect("write");
        let hour = rt.next_timer_in().expect("a timer");
        assert!(hour > std::time::Duration::from_secs(3_500), "{hour:?}");
        // the first timer of an idle shard signals; consume that signal
        tokio::time::timeout(std::time::Duration::from_secs(10), rt.timers_moved())
            .await
            .expect("signalled");
        // a later deadline leaves the earliest one as it was: no signal
        rt.write(0, schedule("later", 7_200_000))
            .await
            .expect("write");
        let woken = tokio::select! {
            biased;
            _ = rt.timers_moved() => true,
            _ = std::future::ready(()) => false,
        };
        assert!(!woken, "a later timer must not wake the driver");
        // an earlier one does, even though nobody was waiting when it was set
        rt.write(0, schedule("soon", 60_000)).await.expect("write");
        tokio::time::timeout(std::time::Duration::from_secs(10), rt.timers_moved())
            .await
            .expect("signalled");
        let soon = rt.next_timer_in().expect("a timer");
        assert!(soon <= std::time::Duration::from_secs(60), "{soon:?}");
        // one already due fires in the event that set it, before the event answers
        rt.write(0, schedule("now", 0)).await.expect("write");
        let fired = rt.read(0, |s| s.fired.clone()).expect("shard");
        assert_eq!(fired, vec!["loaded".to_string(), "now".to_string()]);
        assert!(
            rt.next_timer_in().is_some_and(|d| d <= soon),
            "\"soon\" is still the next"
        );
    }

    #[tokio::test]
    async fn a_failed_append_answers_with_its_error_and_replays_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = partition(dir.path(), 0);
        let rt = CoordinatorRuntime::load(vec![p], |_| Counters::default()).expect("load");
        let huge = NewRecord {
            key: Some(b"k".to_vec()),
            value: Some(vec![0; 2 << 20]),
            headers: Vec::new(),
            timestamp: 0,
        };
        let err = rt
            .write(0, |_, _| {
                CoordinatorResult::of(()).with_replayed_records(vec![huge])
            })
            .await
            .expect_err("too large");
        assert_eq!(
            err.append_code(),
            Some(crate::error::ErrorCode::MessageTooLarge)
        );
        assert!(rt.read(0, |s| s.values.is_empty()).expect("shard"));
        assert!(matches!(
            rt.write(9, |_, _| CoordinatorResult::of(())).await,
            Err(CoordinatorError::NoShard(9))
        ));
    }

    /// A partition whose batch fails its CRC check at replay is left failed (Kafka's
    /// FAILED coordinator state): its events get `NotLoaded`, its timers never fire, it
    /// is not compacted; the other shards load and serve as usual.
    #[tokio::test]
    async fn a_partition_that_fails_to_replay_is_failed_and_the_others_serve() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let parts = vec![partition(dir.path(), 0), partition(dir.path(), 1)];
            let rt =
                CoordinatorRuntime::load(parts.clone(), |_| Counters::default()).expect("load");
            for i in 0..2 {
                rt.write(i, |_, ctx| {
                    CoordinatorResult::of(()).with_replayed_records(vec![record(
                        b"k",
                        Some(4),
                        ctx.wall,
                    )])
                })
                .await
                .expect("written");
            }
            for p in &parts {
                p.flush().expect("flush");
            }
        }
        // one flipped byte in partition 0's batch (a record byte, under the CRC)
        let seg = dir
            .path()
            .join("__consumer_offsets-0")
            .join("00000000000000000000.log");
        let mut bytes = std::fs::read(&seg).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&seg, &bytes).expect("write");
        // reopened as after a clean shutdown: no recovery scan, the damage is met on replay
        let reopen = |index: i32| {
            let (log, _) = PartitionLog::open(
                dir.path().join(format!("__consumer_offsets-{index}")),
                TopicPartition::new("__consumer_offsets", index),
                LogConfig::default(),
                None,
                LoadOptions {
                    clean_shutdown: true,
                    recovery_point: 1,
                    log_start_offset: 0,
                },
            )
            .expect("open");
            Arc::new(Partition::new_local_leader(Arc::new(log), 1))
        };
        let parts = vec![reopen(0), reopen(1)];
        let rt = CoordinatorRuntime::load(parts.clone(), |_| Counters::default()).expect("load");
        assert!(!rt.is_loaded(0) && rt.is_loaded(1));
        let err = rt
            .write(0, |_, _| CoordinatorResult::of(()))
            .await
            .expect_err("shard 0 failed");
        assert!(matches!(err, CoordinatorError::NotLoaded { .. }), "{err:?}");
        assert!(rt.read(0, |_| ()).is_err());
        assert_eq!(
            rt.read(1, |s| s.values.get(&b"k"[..]).copied())
                .expect("shard 1"),
            Some(4)
        );
        assert_eq!(
            rt.timer_deadline(0, &"loaded".to_string()),
            None,
            "no timers"
        );
        assert_eq!(
            rt.read_all(|s| s.values.len()),
            vec![1],
            "only shard 1 is read"
        );
        tokio::task::spawn_blocking({
            let rt = Arc::new(rt);
            move || rt.tick()
        })
        .await
        .expect("tick");
        assert_eq!(
            parts[0].log_end_offset(),
            1,
            "nothing written to the failed partition"
        );
    }
}
