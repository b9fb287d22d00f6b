//! The transaction coordinator's shard: every transactional id of one `__transaction_state`
//! partition (Kafka's `TransactionStateManager` for one partition, with the decisions of
//! its `TransactionCoordinator`). The transaction APIs are its events; each returns a
//! [`TxnResult`] whose record (the id's new `TransactionLogValue`) changes the state only
//! once it is written (replayed), so a failed append changes nothing. No I/O, no clock.
//!
//! A transaction's life (transaction version 1, what every client speaks):
//! `Empty` → (AddPartitionsToTxn) `Ongoing` → (EndTxn) `PrepareCommit` / `PrepareAbort` →
//! (once every partition has its marker) `CompleteCommit` / `CompleteAbort` → (the next
//! AddPartitionsToTxn) `Ongoing` ... Writing the markers is the caller's: an event that
//! reaches a `Prepare*` state returns a [`MarkerJob`], and [`TxnShard::complete`] records
//! that they are written.

use std::collections::{BTreeMap, BTreeSet};

use super::records::{self, TxnLogValue, TxnStatus};
use crate::coordinator::{CoordinatorResult, Effect, EventContext, Ms, Shard};
use crate::error::ErrorCode;
use crate::log::records::NewRecord;

/// What a transaction event returns.
pub type TxnResult<T> = CoordinatorResult<T, TxnShard>;

/// A producer epoch this close to `i16::MAX` cannot be bumped again: the id gets a new
/// producer id (Kafka's `isProducerEpochExhausted`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// One transactional id's state (Kafka's `TransactionMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMeta {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (memory only, as in Kafka): a retried
    /// InitProducerId that names it is answered with the current epoch.
    pub last_producer_epoch: i16,
    /// Transaction version 2 only: the producer id the producer continues with once the
    /// decided transaction is complete, when its epoch ran out (-1: none).
    pub next_producer_id: i64,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction began (-1: none).
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The transaction version the producer speaks (0 or 1: version 1's protocol; 2:
    /// KIP-890's, where every EndTxn bumps the epoch).
    pub client_transaction_version: i16,
}

impl TxnMeta {
    fn from_value(v: TxnLogValue) -> TxnMeta {
        TxnMeta {
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: -1,
            next_producer_id: v.next_producer_id,
            timeout_ms: v.timeout_ms,
            status: v.status,
            partitions: v
                .partitions
                .into_iter()
                .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
                .collect(),
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
            client_transaction_version: v.client_transaction_version,
        }
    }

    fn to_value(&self) -> TxnLogValue {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.partitions {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        TxnLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            next_producer_epoch: -1,
            timeout_ms: self.timeout_ms,
            status: self.status,
            partitions: by_topic
                .into_iter()
                .map(|(t, ps)| (t.to_string(), ps))
                .collect(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
            client_transaction_version: self.client_transaction_version,
        }
    }

    fn record(&self, transactional_id: &str) -> NewRecord {
        NewRecord {
            key: Some(records::txn_key(transactional_id)),
            value: Some(records::txn_value(&self.to_value())),
            headers: Vec::new(),
            timestamp: self.last_update_ms,
        }
    }

    fn is_complete_or_empty(&self) -> bool {
        matches!(
            self.status,
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
        )
    }
}

/// The markers a decided transaction needs: one per partition, then
/// [`TxnShard::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
}

/// What EndTxn answers: the producer id and epoch to go on with (or the error), and the
/// markers to write when the transaction was decided now.
pub type EndOutcome = (Result<(i64, i16), ErrorCode>, Option<MarkerJob>);

/// What InitProducerId answers for a transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOutcome {
    pub answer: Result<(i64, i16), ErrorCode>,
    /// An open transaction the call fenced: it is being aborted (the answer is
    /// CONCURRENT_TRANSACTIONS, and the producer asks again).
    pub abort: Option<MarkerJob>,
}

/// One transaction as DescribeTransactions and ListTransactions report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnSummary {
    pub transactional_id: String,
    pub meta: TxnMeta,
}

/// The transactional ids of one partition of `__transaction_state`.
#[derive(Debug, Default)]
pub struct TxnShard {
    txns: BTreeMap<String, TxnMeta>,
}

fn tombstone(transactional_id: &str, wall: i64) -> NewRecord {
    NewRecord {
        key: Some(records::txn_key(transactional_id)),
        value: None,
        headers: Vec::new(),
        timestamp: wall,
    }
}

fn job(tid: &str, m: &TxnMeta, commit: bool) -> MarkerJob {
    MarkerJob {
        transactional_id: tid.to_string(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        commit,
        partitions: m.partitions.iter().cloned().collect(),
    }
}

impl TxnShard {
    pub fn new() -> TxnShard {
        TxnShard::default()
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMeta> {
        self.txns.get(transactional_id)
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Every transactional id of the shard.
    pub fn list(&self) -> Vec<TxnSummary> {
        self.txns
            .iter()
            .map(|(tid, m)| TxnSummary {
                transactional_id: tid.clone(),
                meta: m.clone(),
            })
            .collect()
    }

    /// The transactions waiting for their markers (after a load, or a marker run that
    /// stopped).
    pub fn undecided_markers(&self) -> Vec<MarkerJob> {
        self.txns
            .iter()
            .filter_map(|(tid, m)| match m.status {
                TxnStatus::PrepareCommit => Some(job(tid, m, true)),
                TxnStatus::PrepareAbort => Some(job(tid, m, false)),
                _ => None,
            })
            .collect()
    }

    /// InitProducerId for `transactional_id` (Kafka's `handleInitProducerId`, transaction
    /// version 1). `expected`: the producer's current id and epoch (v3+, KIP-360);
    /// `fresh_pid`: an unused producer id, taken if the id is new or its epoch is spent.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_pid: i64,
        ctx: &EventContext,
    ) -> TxnResult<InitOutcome> {
        let fail = |code| {
            CoordinatorResult::of(InitOutcome {
                answer: Err(code),
                abort: None,
            })
        };
        let Some(current) = self.txns.get(transactional_id) else {
            let m = TxnMeta {
                producer_id: fresh_pid,
                previous_producer_id: -1,
                producer_epoch: 0,
                last_producer_epoch: -1,
                next_producer_id: -1,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: ctx.wall,
                client_transaction_version: 0,
            };
            return CoordinatorResult::of(InitOutcome {
                answer: Ok((m.producer_id, m.producer_epoch)),
                abort: None,
            })
            .with_replayed_records(vec![m.record(transactional_id)]);
        };
        // Kafka's isValidProducerId: the current id, or the previous one whose epoch was
        // spent (a retry of the call that rotated it)
        if let Some((pid, epoch)) = expected {
            let known = pid == current.producer_id
                || (pid == current.previous_producer_id && epoch >= EPOCH_EXHAUSTED);
            if !known {
                return fail(ErrorCode::ProducerFenced);
            }
        }
        match current.status {
            TxnStatus::PrepareCommit
            | TxnStatus::PrepareAbort
            | TxnStatus::PrepareEpochFence
            | TxnStatus::Dead => fail(ErrorCode::ConcurrentTransactions),
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                let mut m = current.clone();
                // Kafka's prepareIncrementProducerEpoch: the epoch the producer names must
                // be the current one (bump) or the one before the last bump (a retry of
                // it: answered again, no bump)
                let last = match expected {
                    Some((pid, epoch)) if pid == m.producer_id && epoch != m.producer_epoch => {
                        if epoch == m.last_producer_epoch && m.last_producer_epoch >= 0 {
                            return CoordinatorResult::of(InitOutcome {
                                answer: Ok((m.producer_id, m.producer_epoch)),
                                abort: None,
                            });
                        }
                        return fail(ErrorCode::ProducerFenced);
                    }
                    Some((pid, _)) if pid == m.producer_id => m.producer_epoch,
                    _ => -1,
                };
                if m.producer_epoch >= EPOCH_EXHAUSTED {
                    m.previous_producer_id = m.producer_id;
                    m.producer_id = fresh_pid;
                    m.producer_epoch = 0;
                } else {
                    m.producer_epoch += 1;
                }
                m.timeout_ms = timeout_ms;
                m.status = TxnStatus::Empty;
                m.partitions.clear();
                m.start_ms = -1;
                m.last_update_ms = ctx.wall;
                // memory only, as in Kafka: set now, kept by the replay of the record
                if let Some(c) = self.txns.get_mut(transactional_id) {
                    c.last_producer_epoch = last;
                }
                CoordinatorResult::of(InitOutcome {
                    answer: Ok((m.producer_id, m.producer_epoch)),
                    abort: None,
                })
                .with_replayed_records(vec![m.record(transactional_id)])
            }
            TxnStatus::Ongoing => {
                // fence the open transaction's producer and abort it; the caller comes back
                let m = fenced_abort(current, ctx.wall);
                let abort = job(transactional_id, &m, false);
                CoordinatorResult::of(InitOutcome {
                    answer: Err(ErrorCode::ConcurrentTransactions),
                    abort: Some(abort),
                })
                .with_replayed_records(vec![m.record(transactional_id)])
            }
        }
    }

    /// Checks a client's producer id and epoch against the id's (AddPartitionsToTxn,
    /// AddOffsetsToTxn, EndTxn).
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&TxnMeta, ErrorCode> {
        let m = self
            .txns
            .get(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): the partitions join the open transaction, which opens if there is none.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        client_transaction_version: i16,
        ctx: &EventContext,
    ) -> TxnResult<Result<(), ErrorCode>> {
        let m = match self.check_producer(transactional_id, producer_id, epoch) {
            Ok(m) => m,
            Err(e) => return CoordinatorResult::of(Err(e)),
        };
        match m.status {
            TxnStatus::PrepareCommit
            | TxnStatus::PrepareAbort
            | TxnStatus::PrepareEpochFence
            | TxnStatus::Dead => {
                return CoordinatorResult::of(Err(ErrorCode::ConcurrentTransactions))
            }
            TxnStatus::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => {
                return CoordinatorResult::of(Ok(()))
            }
            _ => {}
        }
        let mut m = m.clone();
        if m.status != TxnStatus::Ongoing {
            m.start_ms = ctx.wall;
            m.partitions.clear();
        }
        m.status = TxnStatus::Ongoing;
        m.partitions.extend(partitions.iter().cloned());
        m.last_update_ms = ctx.wall;
        m.client_transaction_version = m.client_transaction_version.max(client_transaction_version);
        CoordinatorResult::of(Ok(())).with_replayed_records(vec![m.record(transactional_id)])
    }

    /// KIP-890's verification (AddPartitionsToTxn with `verify_only`, what a partition
    /// leader asks before a transaction's first write to it): per partition, NONE if it
    /// is in the id's open transaction, TRANSACTION_ABORTABLE if not; `Err` for all of
    /// them (unknown id or producer, a fenced epoch, a transaction being decided), as
    /// Kafka's `handleVerifyPartitionsInTransaction`.
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let m = self.check_producer(transactional_id, producer_id, epoch)?;
        if matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort) {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|p| {
                if m.partitions.contains(p) {
                    ErrorCode::None
                } else {
                    ErrorCode::TransactionAbortable
                }
            })
            .collect())
    }

    /// EndTxn: an open transaction is decided (`Prepare*`, written) and its markers are
    /// the caller's job; a retry of a decided one is answered as it was. The answer is the
    /// producer id and epoch the producer goes on with: unchanged in transaction version
    /// 1; in version 2 (`v2`, EndTxn v5) the epoch is bumped at every EndTxn (the markers
    /// carry the bumped one), and when it runs out the producer goes on with `fresh_pid`
    /// at epoch 0 (Kafka's `prepareAbortOrCommit`); a version 2 EndTxn with no open
    /// transaction ends an empty one (the client cannot know whether its writes added
    /// partitions).
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        v2: Option<i64>,
        ctx: &EventContext,
    ) -> TxnResult<EndOutcome> {
        let answer = |code: ErrorCode| CoordinatorResult::of((Err(code), None));
        let decided = |m: &TxnMeta| match (m.status, commit) {
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                CoordinatorResult::of((Ok(going_on(m)), None))
            }
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                answer(ErrorCode::ConcurrentTransactions)
            }
            (TxnStatus::PrepareEpochFence | TxnStatus::Dead, _) => {
                answer(ErrorCode::ConcurrentTransactions)
            }
            _ => answer(ErrorCode::InvalidTxnState),
        };
        if v2.is_some() {
            // a retry of the call that bumped the epoch (Kafka's stateless check, so it
            // holds after a restart or a new coordinator too): the state has the epoch
            // after the producer's, or the producer id it rotated to
            if let Some(m) = self.txns.get(transactional_id) {
                let bumped = m.producer_id == producer_id
                    && i32::from(epoch) + 1 == i32::from(m.producer_epoch);
                let rotated = m.previous_producer_id == producer_id
                    && m.producer_id != producer_id
                    && epoch >= EPOCH_EXHAUSTED - 1;
                if bumped || rotated {
                    return decided(m);
                }
            }
        }
        let m = match self.check_producer(transactional_id, producer_id, epoch) {
            Ok(m) => m,
            Err(e) => return CoordinatorResult::of((Err(e), None)),
        };
        let open = m.status == TxnStatus::Ongoing || (v2.is_some() && m.is_complete_or_empty());
        if !open {
            return decided(m);
        }
        let mut m = m.clone();
        if m.status != TxnStatus::Ongoing {
            // an empty transaction (version 2): it begins and ends now
            m.start_ms = ctx.wall;
        }
        m.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        m.last_update_ms = ctx.wall;
        let mut last = None;
        if let Some(fresh_pid) = v2 {
            last = Some(m.producer_epoch);
            m.producer_epoch = m.producer_epoch.saturating_add(1);
            m.client_transaction_version = 2;
            if m.producer_epoch >= EPOCH_EXHAUSTED {
                m.next_producer_id = fresh_pid;
            }
        }
        if let (Some(last), Some(c)) = (last, self.txns.get_mut(transactional_id)) {
            // memory only, as in Kafka: set now, kept by the replay of the record
            c.last_producer_epoch = last;
        }
        let markers = job(transactional_id, &m, commit);
        CoordinatorResult::of((Ok(going_on(&m)), Some(markers)))
            .with_replayed_records(vec![m.record(transactional_id)])
    }

    /// Every partition has the decided transaction's marker: `Complete*`, no partitions.
    /// Nothing when the id has moved on meanwhile.
    pub fn complete(&mut self, done: &MarkerJob, ctx: &EventContext) -> TxnResult<bool> {
        let Some(m) = self.txns.get(&done.transactional_id) else {
            return CoordinatorResult::of(false);
        };
        let prepared = if done.commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        if m.status != prepared
            || m.producer_id != done.producer_id
            || m.producer_epoch != done.producer_epoch
        {
            return CoordinatorResult::of(false);
        }
        let mut m = m.clone();
        m.status = if done.commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        m.partitions.clear();
        if m.next_producer_id >= 0 {
            // transaction version 2 ran out of epochs: the producer goes on with its new id
            m.previous_producer_id = m.producer_id;
            m.producer_id = m.next_producer_id;
            m.producer_epoch = 0;
            m.next_producer_id = -1;
        }
        m.last_update_ms = ctx.wall;
        CoordinatorResult::of(true).with_replayed_records(vec![m.record(&done.transactional_id)])
    }

    /// Open transactions older than their timeout are aborted, their producers fenced
    /// (the epoch bumped, as Kafka's `abortTimedOutTransactions`).
    pub fn abort_timed_out(&mut self, ctx: &EventContext) -> TxnResult<Vec<MarkerJob>> {
        let mut jobs = Vec::new();
        let mut records = Vec::new();
        for (tid, m) in &self.txns {
            if m.status == TxnStatus::Ongoing
                && m.start_ms >= 0
                && m.start_ms.saturating_add(i64::from(m.timeout_ms)) < ctx.wall
            {
                let m = fenced_abort(m, ctx.wall);
                jobs.push(job(tid, &m, false));
                records.push(m.record(tid));
            }
        }
        CoordinatorResult::of(jobs).with_replayed_records(records)
    }

    /// Forgets ids with no transaction for `expiration_ms` (`transactional.id.expiration.ms`):
    /// a tombstone each.
    pub fn expire(&mut self, expiration_ms: i64, ctx: &EventContext) -> TxnResult<usize> {
        let records: Vec<NewRecord> = self
            .txns
            .iter()
            .filter(|(_, m)| {
                m.is_complete_or_empty()
                    && m.last_update_ms.saturating_add(expiration_ms) < ctx.wall
            })
            .map(|(tid, _)| tombstone(tid, ctx.wall))
            .collect();
        CoordinatorResult::of(records.len()).with_replayed_records(records)
    }
}

/// The producer id and epoch a producer goes on with after EndTxn: a new id at epoch 0
/// when its epoch ran out (transaction version 2), else its own.
fn going_on(m: &TxnMeta) -> (i64, i16) {
    if m.next_producer_id >= 0 {
        (m.next_producer_id, 0)
    } else {
        (m.producer_id, m.producer_epoch)
    }
}

/// The open transaction of `m` aborted by the coordinator, its producer fenced.
/// Version 2 bumps twice, as Kafka (the fence, then the abort's own bump), so the
/// fenced producer's EndTxn cannot pass for a retry of the abort.
fn fenced_abort(m: &TxnMeta, wall: i64) -> TxnMeta {
    let mut m = m.clone();
    let bumps = if m.client_transaction_version >= 2 {
        2
    } else {
        1
    };
    for _ in 0..bumps {
        m.producer_epoch = m.producer_epoch.saturating_add(1);
    }
    m.status = TxnStatus::PrepareAbort;
    m.last_update_ms = wall;
    m
}

impl Shard for TxnShard {
    /// No request is parked.
    type Deferred = ();
    /// No timers: the coordinator's periodic passes call the events.
    type TimerKey = ();

    fn replay(&mut self, key: &[u8], value: Option<&[u8]>, _now: Ms, _wall: i64) {
        let Some(tid) = records::decode_key(key) else {
            return;
        };
        let Some(value) = value else {
            self.txns.remove(&tid);
            return;
        };
        match records::decode_value(value) {
            Ok(v) => {
                let mut m = TxnMeta::from_value(v);
                if let Some(old) = self.txns.get(&tid) {
                    m.last_producer_epoch = old.last_producer_epoch;
                }
                self.txns.insert(tid, m);
            }
            Err(e) => tracing::warn!(
                transactional_id = %tid,
                cause = %e,
                "undecodable transaction state skipped"
            ),
        }
    }

    fn loaded(&mut self, _now: Ms, _wall: i64) -> Vec<Effect<Self>> {
        Vec::new()
    }

    fn on_timer(&mut self, _key: (), _now: Ms, _wall: i64) -> TxnResult<()> {
        CoordinatorResult::of(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::ResponseId;

    fn ctx(wall: i64) -> EventContext {
        EventContext {
            now: wall,
            wall,
            request: ResponseId::new(1),
        }
    }

    /// Writes a result as the runtime would: its records replayed into the shard (and
    /// into `log`, to check that a replay of the log alone gives the same state).
    fn run<T>(s: &mut TxnShard, log: &mut Vec<NewRecord>, r: TxnResult<T>) -> T {
        assert!(
            r.replay || r.records.is_empty(),
            "transaction state is replayed"
        );
        for rec in &r.records {
            s.replay(
                rec.key.as_deref().expect("key"),
                rec.value.as_deref(),
                0,
                rec.timestamp,
            );
        }
        log.extend(r.records);
        r.response
    }

    fn parts(ps: &[(&str, i32)]) -> Vec<(String, i32)> {
        ps.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn init_bumps_the_epoch_and_fences_the_previous_instance() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        let r = s.init_producer_id("t", 60_000, None, 1000, &ctx(1));
        let first = run(&mut s, &mut log, r).answer.expect("new id");
        assert_eq!(first, (1000, 0));
        // a new instance (no id and epoch): bumped
        let r = s.init_producer_id("t", 60_000, None, 1001, &ctx(2));
        assert_eq!(run(&mut s, &mut log, r).answer, Ok((1000, 1)));
        // the previous instance, naming its epoch: fenced
        let r = s.init_producer_id("t", 60_000, Some((1000, 0)), 1002, &ctx(3));
        assert_eq!(
            run(&mut s, &mut log, r).answer,
            Err(ErrorCode::ProducerFenced)
        );
        // the current one, naming its epoch (KIP-360 after an error): bumped ...
        let r = s.init_producer_id("t", 60_000, Some((1000, 1)), 1003, &ctx(4));
        assert_eq!(run(&mut s, &mut log, r).answer, Ok((1000, 2)));
        // ... and its retry of that call gets the same answer, no second bump
        let r = s.init_producer_id("t", 60_000, Some((1000, 1)), 1004, &ctx(5));
        assert!(r.records.is_empty());
        assert_eq!(run(&mut s, &mut log, r).answer, Ok((1000, 2)));
        // an unknown producer id: fenced
        let r = s.init_producer_id("t", 60_000, Some((7, 0)), 1005, &ctx(6));
        assert_eq!(
            run(&mut s, &mut log, r).answer,
            Err(ErrorCode::ProducerFenced)
        );
    }

    #[test]
    fn a_spent_epoch_gets_a_new_producer_id() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        let r = s.init_producer_id("t", 1000, None, 5, &ctx(1));
        run(&mut s, &mut log, r);
        s.txns.get_mut("t").expect("t").producer_epoch = EPOCH_EXHAUSTED;
        let r = s.init_producer_id("t", 1000, None, 6, &ctx(2));
        assert_eq!(run(&mut s, &mut log, r).answer, Ok((6, 0)));
        assert_eq!(s.get("t").expect("t").previous_producer_id, 5);
    }

    #[test]
    fn a_transaction_from_add_to_complete() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        // unknown id
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 0, &ctx(1));
        assert_eq!(
            run(&mut s, &mut log, r),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        let r = s.init_producer_id("t", 1000, None, 1, &ctx(1));
        run(&mut s, &mut log, r);
        let r = s.add_partitions("t", 1, 1, &parts(&[("a", 0)]), 0, &ctx(2));
        assert_eq!(run(&mut s, &mut log, r), Err(ErrorCode::ProducerFenced));
        let r = s.add_partitions("t", 2, 0, &parts(&[("a", 0)]), 0, &ctx(2));
        assert_eq!(
            run(&mut s, &mut log, r),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        // EndTxn before anything was added
        let r = s.end_txn("t", 1, 0, true, None, &ctx(3));
        assert_eq!(run(&mut s, &mut log, r).0, Err(ErrorCode::InvalidTxnState));
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0), ("b", 1)]), 0, &ctx(10));
        assert_eq!(run(&mut s, &mut log, r), Ok(()));
        let m = s.get("t").expect("t");
        assert_eq!((m.status, m.start_ms), (TxnStatus::Ongoing, 10));
        // the same partitions again: nothing to write
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 0, &ctx(11));
        assert!(r.records.is_empty());
        assert_eq!(
            s.verify("t", 1, 0, &parts(&[("a", 0), ("c", 0)])),
            Ok(vec![ErrorCode::None, ErrorCode::TransactionAbortable])
        );
        let r = s.end_txn("t", 1, 0, true, None, &ctx(12));
        let (answer, job) = run(&mut s, &mut log, r);
        assert_eq!(answer, Ok((1, 0)), "version 1: the same epoch goes on");
        let job = job.expect("markers to write");
        assert_eq!(job.partitions, parts(&[("a", 0), ("b", 1)]));
        assert!(job.commit);
        assert_eq!(s.undecided_markers(), vec![job.clone()]);
        // while the markers are written
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 0, &ctx(13));
        assert_eq!(
            run(&mut s, &mut log, r),
            Err(ErrorCode::ConcurrentTransactions)
        );
        let r = s.end_txn("t", 1, 0, true, None, &ctx(13));
        assert_eq!(
            run(&mut s, &mut log, r).0,
            Err(ErrorCode::ConcurrentTransactions)
        );
        let r = s.end_txn("t", 1, 0, false, None, &ctx(13));
        assert_eq!(run(&mut s, &mut log, r).0, Err(ErrorCode::InvalidTxnState));
        assert_eq!(
            s.verify("t", 1, 0, &parts(&[("a", 0)])),
            Err(ErrorCode::ConcurrentTransactions)
        );
        let r = s.complete(&job, &ctx(14));
        assert!(run(&mut s, &mut log, r));
        let m = s.get("t").expect("t");
        assert_eq!(m.status, TxnStatus::CompleteCommit);
        assert!(m.partitions.is_empty());
        assert!(s.undecided_markers().is_empty());
        // a retried EndTxn is answered as it was; the other decision is refused
        let r = s.end_txn("t", 1, 0, true, None, &ctx(15));
        assert_eq!(run(&mut s, &mut log, r), (Ok((1, 0)), None));
        let r = s.end_txn("t", 1, 0, false, None, &ctx(15));
        assert_eq!(run(&mut s, &mut log, r).0, Err(ErrorCode::InvalidTxnState));
        // completing twice changes nothing
        let r = s.complete(&job, &ctx(16));
        assert!(!run(&mut s, &mut log, r));

        // the log alone gives the same state
        let mut replayed = TxnShard::new();
        for rec in &log {
            replayed.replay(rec.key.as_deref().expect("k"), rec.value.as_deref(), 0, 0);
        }
        assert_eq!(replayed.list().len(), 1);
        let (a, b) = (s.get("t").expect("t"), replayed.get("t").expect("t"));
        assert_eq!(
            (a.producer_id, a.producer_epoch, a.status),
            (b.producer_id, b.producer_epoch, b.status)
        );
    }

    #[test]
    fn a_new_instance_aborts_the_open_transaction_of_the_old_one() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        let r = s.init_producer_id("t", 1000, None, 1, &ctx(1));
        run(&mut s, &mut log, r);
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 0, &ctx(2));
        run(&mut s, &mut log, r).expect("added");
        let r = s.init_producer_id("t", 1000, None, 2, &ctx(3));
        let out = run(&mut s, &mut log, r);
        assert_eq!(out.answer, Err(ErrorCode::ConcurrentTransactions));
        let job = out.abort.expect("the open transaction is aborted");
        assert!(!job.commit);
        assert_eq!(job.producer_epoch, 1, "markers carry the fencing epoch");
        assert_eq!(s.get("t").expect("t").status, TxnStatus::PrepareAbort);
        // the old instance is fenced
        let r = s.end_txn("t", 1, 0, true, None, &ctx(4));
        assert_eq!(run(&mut s, &mut log, r).0, Err(ErrorCode::ProducerFenced));
        // until the markers are written, the new instance waits
        let r = s.init_producer_id("t", 1000, None, 3, &ctx(4));
        assert_eq!(
            run(&mut s, &mut log, r).answer,
            Err(ErrorCode::ConcurrentTransactions)
        );
        let r = s.complete(&job, &ctx(5));
        assert!(run(&mut s, &mut log, r));
        let r = s.init_producer_id("t", 1000, None, 3, &ctx(6));
        assert_eq!(run(&mut s, &mut log, r).answer, Ok((1, 2)));
    }

    #[test]
    fn timed_out_transactions_are_aborted_and_idle_ids_expire() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        for (tid, pid) in [("slow", 1), ("idle", 2)] {
            let r = s.init_producer_id(tid, 1000, None, pid, &ctx(0));
            run(&mut s, &mut log, r);
        }
        let r = s.add_partitions("slow", 1, 0, &parts(&[("a", 0)]), 0, &ctx(100));
        run(&mut s, &mut log, r).expect("added");
        // not yet: started at 100, timeout 1000
        let r = s.abort_timed_out(&ctx(1100));
        assert!(run(&mut s, &mut log, r).is_empty());
        let r = s.abort_timed_out(&ctx(1101));
        let jobs = run(&mut s, &mut log, r);
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].transactional_id.as_str(), jobs[0].producer_epoch),
            ("slow", 1)
        );
        // "idle" (Empty since 0) expires; "slow" is being aborted and stays
        let r = s.expire(500, &ctx(1200));
        assert_eq!(run(&mut s, &mut log, r), 1);
        assert!(s.get("idle").is_none());
        assert!(s.get("slow").is_some());
    }

    #[test]
    fn version_2_bumps_the_epoch_at_every_end_and_rotates_a_spent_one() {
        let (mut s, mut log) = (TxnShard::new(), Vec::new());
        let r = s.init_producer_id("t", 1000, None, 1, &ctx(1));
        run(&mut s, &mut log, r);
        // a partition leader adds the producer's first partition (AddPartitionsToTxn v5)
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 2, &ctx(2));
        run(&mut s, &mut log, r).expect("added");
        let r = s.end_txn("t", 1, 0, true, Some(-1), &ctx(3));
        let (answer, job) = run(&mut s, &mut log, r);
        assert_eq!(answer, Ok((1, 1)), "the epoch is bumped");
        let job = job.expect("markers");
        assert_eq!(job.producer_epoch, 1, "markers carry the bumped epoch");
        assert_eq!(s.get("t").expect("t").client_transaction_version, 2);
        // a retry with the old epoch while the markers are written, then after
        let r = s.end_txn("t", 1, 0, true, Some(-1), &ctx(4));
        assert_eq!(
            run(&mut s, &mut log, r).0,
            Err(ErrorCode::ConcurrentTransactions)
        );
        let r = s.complete(&job, &ctx(5));
        assert!(run(&mut s, &mut log, r));
        let r = s.end_txn("t", 1, 0, true, Some(-1), &ctx(6));
        assert_eq!(
            run(&mut s, &mut log, r),
            (Ok((1, 1)), None),
            "a retry: the same answer"
        );
        // also after a restart (a coordinator that replayed the log knows no last epoch)
        let mut reloaded = TxnShard::new();
        for rec in &log {
            reloaded.replay(rec.key.as_deref().expect("k"), rec.value.as_deref(), 0, 0);
        }
        let r = reloaded.end_txn("t", 1, 0, true, Some(-1), &ctx(6));
        assert_eq!(r.response, (Ok((1, 1)), None), "a retry after a reload");
        // the old epoch is fenced for anything else
        let r = s.add_partitions("t", 1, 0, &parts(&[("a", 0)]), 2, &ctx(7));
        assert_eq!(run(&mut s, &mut log, r), Err(ErrorCode::ProducerFenced));
        // an EndTxn with nothing added ends an empty transaction, bumping again
        let r = s.end_txn("t", 1, 1, false, Some(-1), &ctx(8));
        let (answer, job) = run(&mut s, &mut log, r);
        assert_eq!(answer, Ok((1, 2)));
        let job = job.expect("an empty marker run");
        assert!(job.partitions.is_empty());
        let r = s.complete(&job, &ctx(9));
        assert!(run(&mut s, &mut log, r));
        // a version 2 transaction that times out: the epoch is bumped twice (fence, abort),
        // so the producer's EndTxn is no retry of the abort
        let r = s.add_partitions("t", 1, 2, &parts(&[("a", 0)]), 2, &ctx(100));
        run(&mut s, &mut log, r).expect("added");
        let timeout = i64::from(s.get("t").expect("t").timeout_ms);
        let r = s.abort_timed_out(&ctx(101 + timeout));
        let jobs = run(&mut s, &mut log, r);
        assert_eq!(jobs.first().map(|j| j.producer_epoch), Some(4));
        let r = s.end_txn("t", 1, 2, true, Some(-1), &ctx(102 + timeout));
        assert_eq!(run(&mut s, &mut log, r).0, Err(ErrorCode::ProducerFenced));
        let r = s.complete(&jobs[0], &ctx(103 + timeout));
        assert!(run(&mut s, &mut log, r));
        // a spent epoch: the producer goes on with the new id at epoch 0
        s.txns.get_mut("t").expect("t").producer_epoch = EPOCH_EXHAUSTED - 1;
        let r = s.add_partitions(
            "t",
            1,
            EPOCH_EXHAUSTED - 1,
            &parts(&[("a", 0)]),
            2,
            &ctx(10),
        );
        run(&mut s, &mut log, r).expect("added");
        let r = s.end_txn("t", 1, EPOCH_EXHAUSTED - 1, true, Some(77), &ctx(11));
        let (answer, job) = run(&mut s, &mut log, r);
        assert_eq!(answer, Ok((77, 0)));
        let job = job.expect("markers");
        assert_eq!((job.producer_id, job.producer_epoch), (1, EPOCH_EXHAUSTED));
        let r = s.complete(&job, &ctx(12));
        assert!(run(&mut s, &mut log, r));
        let m = s.get("t").expect("t");
        assert_eq!(
            (m.producer_id, m.producer_epoch, m.previous_producer_id),
            (77, 0, 1)
        );
        // and the log alone says the same
        let mut replayed = TxnShard::new();
        for rec in &log {
            replayed.replay(rec.key.as_deref().expect("k"), rec.value.as_deref(), 0, 0);
        }
        let b = replayed.get("t").expect("t");
        assert_eq!(
            (
                b.producer_id,
                b.producer_epoch,
                b.client_transaction_version
            ),
            (77, 0, 2)
        );
    }
}
