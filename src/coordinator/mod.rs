//! The coordinator runtime (Kafka's `CoordinatorRuntime`), shared by every coordinator
//! that keeps its state in an internal topic: the group coordinator today
//! ([`crate::group`]), the transaction coordinator and KIP-848's consumer groups later.
//!
//! - [`Shard`]: a coordinator's state for one partition of its internal topic (Kafka's
//!   `CoordinatorShard`). It is a state machine that does no I/O: an event goes in, a
//!   [`CoordinatorResult`] comes out, saying what to append to the partition, what to
//!   answer (the caller, and requests parked earlier) and which timers to set or cancel.
//! - [`CoordinatorRuntime`] ([`runtime`]): the thin driver. One shard per partition, each
//!   behind its own lock, so events for shards on different partitions run in parallel and
//!   a partition's shard can move to another broker with the partition's leadership. It
//!   appends the records through the shard's [`Partition`](crate::partition::Partition)
//!   (as [`AppendOrigin::Coordinator`](crate::partition::AppendOrigin)), fsyncs before it
//!   completes any response of a result that wrote (Kafka completes a write once it is
//!   committed), holds the response channels of parked requests, fires timers on its tick,
//!   replays the partition into a fresh shard at load, and rewrites a partition's live
//!   records when it has grown (compaction).
//! - [`timer`]: a shard's keyed timers.
//!
//! What it does not own: the meaning of records and events (the shard's), or when to tick
//! and compact (`server/jobs.rs` drives both).

pub mod runtime;
pub mod timer;

use std::fmt::Debug;

use crate::error::ErrorCode;
use crate::log::records::NewRecord;
use crate::partition::PartitionError;
pub use runtime::CoordinatorRuntime;

/// Monotonic milliseconds since the runtime started: deadlines. Wall-clock milliseconds
/// (timestamps stored in records) are passed separately.
pub type Ms = i64;

/// Names a request whose answer a shard gives later (a JoinGroup parked until the
/// rebalance completes). The runtime allocates it and holds the channel; the shard keeps
/// only this token, so it holds no channels and can be tested with plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseId(u64);

impl ResponseId {
    /// A token with this value; runtimes allocate them, tests make their own.
    pub const fn new(raw: u64) -> ResponseId {
        ResponseId(raw)
    }
}

/// What one event is handed besides its own arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventContext {
    /// Monotonic time, for deadlines.
    pub now: Ms,
    /// Wall-clock time, for stored timestamps.
    pub wall: i64,
    /// This request's token: a shard that parks the request answers it later with
    /// [`Effect::Respond`]`(request, ..)` (possibly in this very result).
    pub request: ResponseId,
}

/// Something the runtime does for a shard, besides appending records.
pub enum Effect<S: Shard> {
    /// Complete a parked request (this event's own, or one parked by an earlier event).
    Respond(ResponseId, S::Deferred),
    /// Fire [`Shard::on_timer`] with this key at `deadline` (replacing an earlier one).
    Schedule { key: S::TimerKey, deadline: Ms },
    /// Forget this key's timer.
    Cancel(S::TimerKey),
}

impl<S: Shard> Debug for Effect<S>
where
    S::Deferred: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Respond(id, r) => f.debug_tuple("Respond").field(id).field(r).finish(),
            Effect::Schedule { key, deadline } => f
                .debug_struct("Schedule")
                .field("key", key)
                .field("deadline", deadline)
                .finish(),
            Effect::Cancel(key) => f.debug_tuple("Cancel").field(key).finish(),
        }
    }
}

/// What a shard's event returns (Kafka's `CoordinatorResult`): the caller's answer, the
/// records to append, and effects. The runtime appends the records first; every answer of
/// the result (the caller's and the [`Effect::Respond`] ones) is given only once they are
/// durable, or as an error if they could not be written.
pub struct CoordinatorResult<T, S: Shard> {
    /// The caller's own answer (for a request the shard may park, see
    /// [`CoordinatorRuntime::park`], it is `()` and the answer is an effect).
    pub response: T,
    /// To append to the shard's partition, in order, as one batch.
    pub records: Vec<NewRecord>,
    /// Apply `records` to the shard through [`Shard::replay`] once appended: the state
    /// changes only if the write succeeds (an offset commit). `false` when the event
    /// changed the state itself and the records describe it (group metadata), as Kafka's
    /// `replayRecords`.
    pub replay: bool,
    /// Write `records` as a transaction's (this producer id and epoch, the transactional
    /// bit): a TxnOffsetCommit's offsets, which count once its COMMIT marker is written.
    pub producer: Option<(i64, i16)>,
    pub effects: Vec<Effect<S>>,
}

impl<T, S: Shard> CoordinatorResult<T, S> {
    /// An answer with nothing to write.
    pub fn of(response: T) -> Self {
        CoordinatorResult {
            response,
            records: Vec::new(),
            replay: false,
            producer: None,
            effects: Vec::new(),
        }
    }

    /// Makes the records a transaction's (see [`Self::producer`]).
    pub fn in_transaction(mut self, producer_id: i64, producer_epoch: i16) -> Self {
        self.producer = Some((producer_id, producer_epoch));
        self
    }

    /// Adds records the event already applied to the state.
    pub fn with_records(mut self, records: Vec<NewRecord>) -> Self {
        self.records.extend(records);
        self
    }

    /// This result's records and effects, then `other`'s, with `other`'s answer: two
    /// parts of one event (both describing changes already made, or both to replay).
    pub fn merge<U>(mut self, other: CoordinatorResult<U, S>) -> CoordinatorResult<U, S> {
        self.records.extend(other.records);
        self.effects.extend(other.effects);
        CoordinatorResult {
            response: other.response,
            records: self.records,
            replay: other.replay,
            producer: other.producer.or(self.producer),
            effects: self.effects,
        }
    }

    /// Adds records to apply once written (see [`Self::replay`]).
    pub fn with_replayed_records(mut self, records: Vec<NewRecord>) -> Self {
        self.records.extend(records);
        self.replay = true;
        self
    }

    pub fn with_effects(mut self, effects: impl IntoIterator<Item = Effect<S>>) -> Self {
        self.effects.extend(effects);
        self
    }
}

/// A coordinator's state for one partition of its internal topic: a state machine with no
/// I/O. Events are the coordinator's own methods, called by the runtime under the shard's
/// lock with an [`EventContext`]; these are the ones the runtime itself needs.
pub trait Shard: Sized + Send + 'static {
    /// The answer to a parked request.
    type Deferred: Send + 'static;
    /// Names a timer.
    type TimerKey: Ord + Clone + Debug + Send + 'static;

    /// Applies one record of the partition: at load, and after the append of a result
    /// with [`CoordinatorResult::replay`]. `value` `None` is a tombstone.
    fn replay(&mut self, key: &[u8], value: Option<&[u8]>, now: Ms, wall: i64);

    /// Applies one record a transaction wrote (a batch with the transactional bit): it
    /// counts only if the transaction commits ([`Self::replay_end_txn`]). By default, as
    /// any record.
    fn replay_transactional(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
        now: Ms,
        wall: i64,
    ) {
        let _ = producer_id;
        self.replay(key, value, now, wall);
    }

    /// A COMMIT or ABORT marker of `producer_id`'s transaction was written to the
    /// partition (at load, and by [`CoordinatorRuntime::complete_transaction`]).
    fn replay_end_txn(&mut self, producer_id: i64, commit: bool, wall: i64) {
        let _ = (producer_id, commit, wall);
    }

    /// After the partition was replayed: the timers the loaded state needs.
    fn loaded(&mut self, now: Ms, wall: i64) -> Vec<Effect<Self>>;

    /// A timer set with [`Effect::Schedule`] is due.
    fn on_timer(&mut self, key: Self::TimerKey, now: Ms, wall: i64) -> CoordinatorResult<(), Self>;
}

/// Why the runtime could not complete an event's answers.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The records could not be appended to the partition; nothing was replayed.
    #[error("cannot append to {partition}: {message}")]
    Append {
        partition: String,
        /// The storage error's own code (MESSAGE_TOO_LARGE, KAFKA_STORAGE_ERROR, ...).
        code: ErrorCode,
        message: String,
    },
    /// The records were appended but could not be made durable.
    #[error("cannot fsync {partition}: {message}")]
    Flush { partition: String, message: String },
    /// This broker has no shard for the partition.
    #[error("no coordinator shard for partition {0}")]
    NoShard(usize),
    /// The shard's partition could not be replayed at load (a corrupt batch, an I/O
    /// error): Kafka's FAILED coordinator state, which clients see as NOT_COORDINATOR.
    #[error("coordinator partition {partition} failed to load: {reason}")]
    NotLoaded { partition: String, reason: String },
    /// The shard went away before it answered a parked request.
    #[error("the coordinator shard stopped before answering")]
    Gone,
    /// Another broker leads the shard's partition: NOT_COORDINATOR.
    #[error("this broker does not lead {partition}")]
    NotLeader { partition: String },
    /// This broker has just become the partition's leader and replays it:
    /// COORDINATOR_LOAD_IN_PROGRESS.
    #[error("{partition} is loading")]
    Loading { partition: String },
}

impl CoordinatorError {
    fn append(partition: &str, e: &PartitionError) -> Self {
        CoordinatorError::Append {
            partition: partition.to_string(),
            code: e.code(),
            message: e.to_string(),
        }
    }

    fn flush(partition: &str, e: &PartitionError) -> Self {
        CoordinatorError::Flush {
            partition: partition.to_string(),
            message: e.to_string(),
        }
    }

    /// The code of an error that says the coordinator is elsewhere or not ready
    /// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS), as every coordinator API answers it.
    pub fn placement_code(&self) -> Option<ErrorCode> {
        match self {
            CoordinatorError::NotLeader { .. }
            | CoordinatorError::NotLoaded { .. }
            | CoordinatorError::NoShard(_) => Some(ErrorCode::NotCoordinator),
            CoordinatorError::Loading { .. } => Some(ErrorCode::CoordinatorLoadInProgress),
            _ => None,
        }
    }

    /// The storage error's code, for an append that failed.
    pub fn append_code(&self) -> Option<ErrorCode> {
        match self {
            CoordinatorError::Append { code, .. } => Some(*code),
            _ => None,
        }
    }
}
