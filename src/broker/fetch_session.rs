//! Fetch sessions (KIP-227, "Incremental FetchRequests"): the broker's cache of each
//! fetcher's partitions, so that a consumer with many partitions can send only what changed
//! and get back only what changed.
//!
//! This module owns the session state machine and nothing else: no I/O, no clock, no lock
//! (the Fetch handler keeps one [`FetchSessionCache`] behind a `parking_lot::Mutex` and holds
//! it only for [`FetchSessionCache::new_context`] and [`FetchSessionCache::complete`], never
//! across the log reads or an `.await`). Reading the logs, long polling and encoding the
//! response stay with the Fetch handler.
//!
//! # Kafka's behaviour, as this module implements it
//!
//! Follows Kafka 4.x (`FetchManager`, `FetchSession`, `FetchSessionCacheShard`, `FetchContext`
//! in `org.apache.kafka.server`, formerly `core/.../FetchSession.scala`):
//!
//! - A request carries `(session_id, session_epoch)`. Epoch 0 (`INITIAL_EPOCH`) or -1
//!   (`FINAL_EPOCH`) make it a *full* fetch: every partition is listed. A full fetch naming a
//!   session closes that session first. Epoch 0 then asks for a new session (created when the
//!   response is completed, if the cache has or can free a slot; otherwise the answer carries
//!   session id 0 and the client keeps sending full fetches); epoch -1 never creates one
//!   (sessionless, what librdkafka always sends: id 0, epoch -1).
//! - Any other epoch is *incremental*: the session must exist (else
//!   FETCH_SESSION_ID_NOT_FOUND), its epoch must equal the request's (else
//!   INVALID_FETCH_SESSION_EPOCH), and its use of topic ids must match the request version's
//!   (v13+ uses ids, else FETCH_SESSION_TOPIC_ID_ERROR). The request's partitions are added
//!   to or updated in the session, the forgotten ones removed, and the fetch reads *every*
//!   partition of the session. A session left empty is closed and the fetch served
//!   sessionless. The epoch is bumped here, when the context is made (as Kafka does), so a
//!   duplicate of the same request is refused; completing checks that it was not bumped again
//!   meanwhile.
//! - An incremental response carries only partitions with records, an error, a moved high
//!   watermark, last stable offset or log start offset, or something the handler says must
//!   go out (diverging epoch, preferred read replica). An error also resets the cached high
//!   watermark to -1, so the partition is sent again once the error is gone. Partitions that
//!   returned records move to the back of the session, so the next fetch reads the others
//!   first when `max_bytes` cuts it short.
//! - Epochs wrap as Kafka's `FetchMetadata.nextEpoch`: after `i32::MAX` comes 1.
//! - Partitions are keyed by topic id when it is not nil (v13+: a recreated topic under the
//!   same name is another partition; the Java client forgets the old id and adds the new),
//!   else by topic name. Checking a partition's id against the log (INCONSISTENT_TOPIC_ID,
//!   UNKNOWN_TOPIC_ID) is the read path's job, not the session's.
//!
//! # Eviction and memory
//!
//! Kafka's policy (`FetchSessionCacheShard.tryEvict`): with every slot taken, a new session
//! may evict the least recently used session if that one is *stale* (unused for longer than
//! `min.incremental.fetch.session.eviction.ms`); otherwise the least valuable session among
//! those created longer ago than that, if the newcomer is worth more: follower sessions
//! (privileged) beat consumer sessions, then more partitions beat fewer. A follower may also
//! evict a consumer session younger than that. Kafka decides "created long enough ago" when a
//! session is touched; this module decides it at eviction time, and finds the candidates by
//! a scan of the sessions (at most `max_slots`), only when the cache is full.
//!
//! Memory is bounded twice: at most `max_slots` sessions (`max.incremental.fetch.session.cache.slots`,
//! default 1000), and at most `max_cached_partitions` cached partitions over all sessions
//! (default 1,000,000, about 150 bytes each, so ~150 MB at worst). Kafka has no partition
//! cap (it relies on the request size limit, but incremental fetches can grow a session a
//! request at a time). A full fetch that would pass the cap gets no session; an incremental
//! fetch that would grow past it closes its session and is served sessionless, which the
//! Java client takes as "session closed by the broker" and answers with a full fetch.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::map::MutableKeys;
use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::ErrorCode;

/// The session id of "no session" (Kafka's `FetchMetadata.INVALID_SESSION_ID`).
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full fetch that asks for a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch that wants no session (and closes the one it names).
pub const FINAL_EPOCH: i32 = -1;
/// `max.incremental.fetch.session.cache.slots`'s default.
pub const DEFAULT_MAX_SLOTS: usize = 1000;
/// `min.incremental.fetch.session.eviction.ms`'s default.
pub const DEFAULT_EVICTION_MS: i64 = 120_000;
/// The default cap on cached partitions over all sessions (Rafka's; Kafka has none).
pub const DEFAULT_MAX_CACHED_PARTITIONS: usize = 1_000_000;

/// The epoch that follows `epoch` (Kafka's `FetchMetadata.nextEpoch`): a negative epoch
/// stays [`FINAL_EPOCH`], and after `i32::MAX` comes 1 (0 is reserved for new sessions).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// A request's session id and epoch, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchMetadata {
    pub session_id: i32,
    pub epoch: i32,
}

impl FetchMetadata {
    /// A full fetch lists every partition: epoch [`INITIAL_EPOCH`] or [`FINAL_EPOCH`].
    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH || self.epoch == FINAL_EPOCH
    }
}

/// A topic as a fetch request names it: by id from v13 (the name is then what the broker
/// resolved, empty if unknown), by name before (the id is nil).
///
/// Equality follows Kafka's `CachedPartition`: by id unless both ids are nil, then by name.
#[derive(Clone, Debug)]
pub struct TopicKey {
    pub id: Uuid,
    pub name: Arc<str>,
}

impl TopicKey {
    /// A topic named by a v0-v12 request.
    pub fn by_name(name: impl Into<Arc<str>>) -> Self {
        Self {
            id: Uuid::nil(),
            name: name.into(),
        }
    }

    /// A topic named by a v13+ request, with the name the broker knows it by ("" if none).
    pub fn by_id(id: Uuid, name: impl Into<Arc<str>>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }
}

impl PartialEq for TopicKey {
    fn eq(&self, other: &Self) -> bool {
        if self.id.is_nil() && other.id.is_nil() {
            self.name == other.name
        } else {
            self.id == other.id
        }
    }
}

impl Eq for TopicKey {}

impl Hash for TopicKey {
    // Invariant: equal keys hash alike. Two keys are equal by name only when both ids are
    // nil, and by id otherwise, in which case neither id is nil.
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.id.is_nil() {
            self.name.hash(state);
        } else {
            self.id.hash(state);
        }
    }
}

/// One partition of a fetch: Kafka's `TopicIdPartition`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: TopicKey,
    pub partition: i32,
}

/// What a fetch asks of one partition: the request's `FetchPartition`, or for an incremental
/// fetch what the session remembers of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPartitionRequest {
    pub key: PartitionKey,
    pub fetch_offset: i64,
    /// The fetcher's log start offset (followers; consumers send -1).
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
    /// -1 if the fetcher does not know it, as on the wire.
    pub current_leader_epoch: i32,
    /// -1 if none (v12+), as on the wire.
    pub last_fetched_epoch: i32,
}

/// What reading one partition gave, for [`FetchSessionCache::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionResult {
    pub key: PartitionKey,
    pub error_code: i16,
    /// The values the partition's response carries.
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// True if the response carries record bytes for this partition.
    pub has_records: bool,
    /// True if the response must carry this partition whatever else changed: it has a
    /// diverging epoch or a preferred read replica (Kafka always sends those).
    pub must_respond: bool,
}

/// What kind of fetch a request is, decided by [`FetchSessionCache::new_context`] and handed
/// back to [`FetchSessionCache::complete`].
#[derive(Debug)]
pub enum FetchContext {
    /// A full fetch without a session: answer every partition, session id 0.
    Sessionless,
    /// A full fetch that asks for a session: answer every partition; completing it tries to
    /// create the session.
    Full(FullFetch),
    /// A fetch within a session: the reads cover every partition of the session, the
    /// response only what changed.
    Incremental { session_id: i32, request_epoch: i32 },
    /// The session could not be used: answer with this top-level error, session id 0 and no
    /// partitions, without reading any.
    Error { error_code: i16 },
}

/// A full fetch's partitions, kept until the response is completed and the session created.
#[derive(Debug)]
pub struct FullFetch {
    partitions: IndexMap<PartitionKey, CachedPartition>,
    uses_topic_ids: bool,
    privileged: bool,
}

/// How to answer a fetch, from [`FetchSessionCache::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedFetch {
    /// The response's top-level error code.
    pub error_code: i16,
    /// The response's session id: 0 unless a session goes on.
    pub session_id: i32,
    /// Which results go into the response, as indexes into the results, in order.
    pub include: Vec<usize>,
}

/// What the session keeps of one partition (Kafka's `CachedPartition`): the last request's
/// parameters and the last response's offsets.
#[derive(Clone, Debug)]
struct CachedPartition {
    fetch_offset: i64,
    fetcher_log_start_offset: i64,
    partition_max_bytes: i32,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
    /// -1 until a response was sent, and after an error.
    high_watermark: i64,
    last_stable_offset: i64,
    /// The partition's log start offset on this broker, as last sent.
    local_log_start_offset: i64,
    /// Set while completing a response with records for it: moves it to the back.
    returned_records: bool,
}

impl CachedPartition {
    fn from_request(req: &FetchPartitionRequest) -> Self {
        Self {
            fetch_offset: req.fetch_offset,
            fetcher_log_start_offset: req.log_start_offset,
            partition_max_bytes: req.partition_max_bytes,
            current_leader_epoch: req.current_leader_epoch,
            last_fetched_epoch: req.last_fetched_epoch,
            high_watermark: -1,
            last_stable_offset: -1,
            local_log_start_offset: -1,
            returned_records: false,
        }
    }

    fn update_request(&mut self, req: &FetchPartitionRequest) {
        self.fetch_offset = req.fetch_offset;
        self.fetcher_log_start_offset = req.log_start_offset;
        self.partition_max_bytes = req.partition_max_bytes;
        self.current_leader_epoch = req.current_leader_epoch;
        self.last_fetched_epoch = req.last_fetched_epoch;
    }

    fn request(&self, key: &PartitionKey) -> FetchPartitionRequest {
        FetchPartitionRequest {
            key: key.clone(),
            fetch_offset: self.fetch_offset,
            log_start_offset: self.fetcher_log_start_offset,
            partition_max_bytes: self.partition_max_bytes,
            current_leader_epoch: self.current_leader_epoch,
            last_fetched_epoch: self.last_fetched_epoch,
        }
    }

    /// Records a result; true if the incremental response must carry it (Kafka's
    /// `maybeUpdateResponseData`, plus the last stable offset).
    fn update_response(&mut self, result: &PartitionResult) -> bool {
        let mut must_respond = result.has_records || result.must_respond;
        if self.high_watermark != result.high_watermark {
            self.high_watermark = result.high_watermark;
            must_respond = true;
        }
        if self.last_stable_offset != result.last_stable_offset {
            self.last_stable_offset = result.last_stable_offset;
            must_respond = true;
        }
        if self.local_log_start_offset != result.log_start_offset {
            self.local_log_start_offset = result.log_start_offset;
            must_respond = true;
        }
        if result.error_code != ErrorCode::None.code() {
            // so that the partition is sent again once the error is gone
            self.high_watermark = -1;
            must_respond = true;
        }
        must_respond
    }
}

/// One fetcher's session.
#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    epoch: i32,
    /// Created by a follower (a replica fetching), which outranks consumers in eviction.
    privileged: bool,
    uses_topic_ids: bool,
    created_ms: i64,
    last_used_ms: i64,
    /// In the order the next fetch reads them.
    partitions: IndexMap<PartitionKey, CachedPartition>,
}

/// Every fetch session of the broker (Kafka's `FetchSessionCache` with one shard, plus
/// `FetchManager.newContext`).
#[derive(Debug)]
pub struct FetchSessionCache {
    max_slots: usize,
    eviction_ms: i64,
    max_cached_partitions: usize,
    sessions: HashMap<i32, Session>,
    /// Invariant: the sum of the sessions' partition counts.
    cached_partitions: usize,
    evictions: u64,
    /// xorshift64* state for session ids; never 0.
    rng: u64,
}

impl FetchSessionCache {
    /// A cache of at most `max_slots` sessions (`max.incremental.fetch.session.cache.slots`;
    /// 0 turns sessions off), with the default eviction time and partition cap.
    pub fn new(max_slots: usize) -> Self {
        let (a, b) = Uuid::new_v4().as_u64_pair();
        Self {
            max_slots,
            eviction_ms: DEFAULT_EVICTION_MS,
            max_cached_partitions: DEFAULT_MAX_CACHED_PARTITIONS,
            sessions: HashMap::new(),
            cached_partitions: 0,
            evictions: 0,
            rng: (a ^ b) | 1,
        }
    }

    /// Sets `min.incremental.fetch.session.eviction.ms`.
    pub fn with_eviction_ms(mut self, eviction_ms: i64) -> Self {
        self.eviction_ms = eviction_ms;
        self
    }

    /// Sets the cap on cached partitions over all sessions.
    pub fn with_max_cached_partitions(mut self, max: usize) -> Self {
        self.max_cached_partitions = max;
        self
    }

    /// How many sessions there are (Kafka's `NumIncrementalFetchSessions`).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// How many partitions the sessions hold (`NumIncrementalFetchPartitionsCached`).
    pub fn cached_partitions(&self) -> usize {
        self.cached_partitions
    }

    /// How many sessions were evicted to make room for others.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Decides what kind of fetch a request is and which partitions to read, in order: a full
    /// fetch's own partitions (for [`FetchContext::Full`] without duplicates), an incremental
    /// fetch's whole session with the request's changes applied, none for an error.
    ///
    /// `uses_topic_ids` is true for Fetch v13+; `is_from_follower` for a replica's fetch
    /// (`replica_id` / `replica_state.replica_id` >= 0).
    pub fn new_context(
        &mut self,
        metadata: FetchMetadata,
        uses_topic_ids: bool,
        is_from_follower: bool,
        partitions: Vec<FetchPartitionRequest>,
        forgotten: &[PartitionKey],
        now_ms: i64,
    ) -> (FetchContext, Vec<FetchPartitionRequest>) {
        if metadata.is_full() {
            if metadata.session_id != INVALID_SESSION_ID {
                // any session a full fetch names is closed
                self.remove(metadata.session_id);
            }
            if metadata.epoch == FINAL_EPOCH {
                return (FetchContext::Sessionless, partitions);
            }
            let mut cached = IndexMap::with_capacity(partitions.len());
            for p in &partitions {
                cached.insert(p.key.clone(), CachedPartition::from_request(p));
            }
            let deduped = if cached.len() == partitions.len() {
                partitions
            } else {
                cached.iter().map(|(k, c)| c.request(k)).collect()
            };
            let full = FullFetch {
                partitions: cached,
                uses_topic_ids,
                privileged: is_from_follower,
            };
            return (FetchContext::Full(full), deduped);
        }
        let error = |error_code| (FetchContext::Error { error_code }, Vec::new());
        let Some(session) = self.sessions.get_mut(&metadata.session_id) else {
            return error(ErrorCode::FetchSessionIdNotFound.code());
        };
        if session.epoch != metadata.epoch {
            return error(ErrorCode::InvalidFetchSessionEpoch.code());
        }
        if session.uses_topic_ids != uses_topic_ids {
            return error(ErrorCode::FetchSessionTopicIdError.code());
        }
        let before = session.partitions.len();
        for p in &partitions {
            match session.partitions.get_full_mut2(&p.key) {
                Some((_, key, c)) => {
                    c.update_request(p);
                    // Kafka's maybeResolveUnknownName: a topic id the broker now knows. The
                    // name is not part of an id key's identity, so its hash stays valid.
                    if !key.topic.id.is_nil() && key.topic.name.is_empty() {
                        key.topic.name = p.key.topic.name.clone();
                    }
                }
                None => {
                    session
                        .partitions
                        .insert(p.key.clone(), CachedPartition::from_request(p));
                }
            }
        }
        if !forgotten.is_empty() {
            let forgotten: HashSet<&PartitionKey> = forgotten.iter().collect();
            session.partitions.retain(|k, _| !forgotten.contains(k));
        }
        let after = session.partitions.len();
        self.cached_partitions = self.cached_partitions.saturating_sub(before) + after;
        if after == 0 || self.cached_partitions > self.max_cached_partitions {
            // Kafka closes a session left empty and serves the request sessionless; a session
            // grown past the cap is closed the same way
            tracing::debug!(
                session_id = metadata.session_id,
                partitions = after,
                "closing fetch session"
            );
            self.remove(metadata.session_id);
            return (FetchContext::Sessionless, partitions);
        }
        session.last_used_ms = now_ms;
        session.epoch = next_epoch(session.epoch);
        let all = session
            .partitions
            .iter()
            .map(|(k, c)| c.request(k))
            .collect();
        let ctx = FetchContext::Incremental {
            session_id: metadata.session_id,
            request_epoch: metadata.epoch,
        };
        (ctx, all)
    }

    /// After the reads: records each partition's result in the session and says how to
    /// answer. A full fetch's response carries every result and, for
    /// [`FetchContext::Full`], the id of the session created for it (0 if the cache had no
    /// room). An incremental one carries only the results that changed (results for
    /// partitions outside the session are left out: the client would reject them).
    pub fn complete(
        &mut self,
        ctx: FetchContext,
        results: &[PartitionResult],
        now_ms: i64,
    ) -> CompletedFetch {
        let all = || (0..results.len()).collect();
        match ctx {
            FetchContext::Error { error_code } => CompletedFetch {
                error_code,
                session_id: INVALID_SESSION_ID,
                include: Vec::new(),
            },
            FetchContext::Sessionless => CompletedFetch {
                error_code: ErrorCode::None.code(),
                session_id: INVALID_SESSION_ID,
                include: all(),
            },
            FetchContext::Full(full) => CompletedFetch {
                error_code: ErrorCode::None.code(),
                session_id: self.create_session(full, results, now_ms),
                include: all(),
            },
            FetchContext::Incremental {
                session_id,
                request_epoch,
            } => {
                let Some(session) = self.sessions.get_mut(&session_id) else {
                    // evicted since the context was made: every result is still valid data,
                    // and session id 0 tells the client to start over with a full fetch
                    return CompletedFetch {
                        error_code: ErrorCode::None.code(),
                        session_id: INVALID_SESSION_ID,
                        include: all(),
                    };
                };
                if session.epoch != next_epoch(request_epoch) {
                    // another request of this session came in between (Kafka: "possible
                    // duplicate request")
                    return CompletedFetch {
                        error_code: ErrorCode::InvalidFetchSessionEpoch.code(),
                        session_id,
                        include: Vec::new(),
                    };
                }
                let mut include = Vec::new();
                let mut any_records = false;
                for (i, r) in results.iter().enumerate() {
                    let Some(cached) = session.partitions.get_mut(&r.key) else {
                        continue;
                    };
                    if cached.update_response(r) {
                        include.push(i);
                        if r.has_records {
                            cached.returned_records = true;
                            any_records = true;
                        }
                    }
                }
                if any_records {
                    // stable: the others keep their order, those with records go to the back
                    session
                        .partitions
                        .sort_by(|_, a, _, b| a.returned_records.cmp(&b.returned_records));
                    for c in session.partitions.values_mut() {
                        c.returned_records = false;
                    }
                }
                CompletedFetch {
                    error_code: ErrorCode::None.code(),
                    session_id,
                    include,
                }
            }
        }
    }

    /// Creates a session for a completed full fetch if there is room (Kafka's
    /// `maybeCreateSession`); its id, or [`INVALID_SESSION_ID`].
    fn create_session(&mut self, full: FullFetch, results: &[PartitionResult], now_ms: i64) -> i32 {
        let FullFetch {
            mut partitions,
            uses_topic_ids,
            privileged,
        } = full;
        let size = partitions.len();
        if self.cached_partitions.saturating_add(size) > self.max_cached_partitions {
            return INVALID_SESSION_ID;
        }
        if self.sessions.len() >= self.max_slots && !self.try_evict(privileged, size, now_ms) {
            return INVALID_SESSION_ID;
        }
        let Some(id) = self.new_session_id() else {
            return INVALID_SESSION_ID;
        };
        for r in results {
            if let Some(c) = partitions.get_mut(&r.key) {
                c.update_response(r);
            }
        }
        self.cached_partitions += size;
        self.sessions.insert(
            id,
            Session {
                epoch: next_epoch(INITIAL_EPOCH),
                privileged,
                uses_topic_ids,
                created_ms: now_ms,
                last_used_ms: now_ms,
                partitions,
            },
        );
        tracing::debug!(
            session_id = id,
            partitions = size,
            privileged,
            "created fetch session"
        );
        id
    }

    /// Frees a slot for a new session of `size` partitions, if Kafka's policy lets it (see
    /// the module doc). True if a session was evicted.
    fn try_evict(&mut self, privileged: bool, size: usize, now_ms: i64) -> bool {
        let eviction_ms = self.eviction_ms;
        let lru = self
            .sessions
            .iter()
            .min_by_key(|(id, s)| (s.last_used_ms, **id))
            .map(|(id, s)| (*id, s.last_used_ms));
        let Some((lru_id, lru_used)) = lru else {
            return false;
        };
        let victim = if now_ms.saturating_sub(lru_used) > eviction_ms {
            Some(lru_id)
        } else {
            let old = |s: &Session| now_ms.saturating_sub(s.created_ms) > eviction_ms;
            self.sessions
                .iter()
                .filter(|(_, s)| old(s) || (privileged && !s.privileged))
                .min_by_key(|(id, s)| (s.privileged, s.partitions.len(), **id))
                // the newcomer must be worth more: privileged first, then bigger
                .filter(|(_, s)| (privileged, size) > (s.privileged, s.partitions.len()))
                .map(|(id, _)| *id)
        };
        match victim {
            Some(id) => {
                tracing::debug!(session_id = id, "evicting fetch session");
                self.remove(id);
                self.evictions += 1;
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, session_id: i32) {
        if let Some(s) = self.sessions.remove(&session_id) {
            self.cached_partitions = self.cached_partitions.saturating_sub(s.partitions.len());
        }
    }

    /// A random positive id no live session has (Kafka's `newSessionId`).
    fn new_session_id(&mut self) -> Option<i32> {
        for _ in 0..64 {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let bits = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
            let id = i32::try_from(bits).unwrap_or(INVALID_SESSION_ID);
            if id != INVALID_SESSION_ID && !self.sessions.contains_key(&id) {
                return Some(id);
            }
        }
        // only with most of the 2^31 ids taken
        (1..=i32::MAX).find(|id| !self.sessions.contains_key(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    fn by_name(topic: &str, partition: i32) -> PartitionKey {
        PartitionKey {
            topic: TopicKey::by_name(topic),
            partition,
        }
    }

    fn by_id(id: Uuid, name: &str, partition: i32) -> PartitionKey {
        PartitionKey {
            topic: TopicKey::by_id(id, name),
            partition,
        }
    }

    fn req(key: &PartitionKey, fetch_offset: i64) -> FetchPartitionRequest {
        FetchPartitionRequest {
            key: key.clone(),
            fetch_offset,
            log_start_offset: -1,
            partition_max_bytes: 1 << 20,
            current_leader_epoch: 5,
            last_fetched_epoch: -1,
        }
    }

    /// A read with no records, offsets (hw, lso, log start).
    fn res(key: &PartitionKey, hw: i64, lso: i64, log_start: i64) -> PartitionResult {
        PartitionResult {
            key: key.clone(),
            error_code: ErrorCode::None.code(),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
            has_records: false,
            must_respond: false,
        }
    }

    fn meta(session_id: i32, epoch: i32) -> FetchMetadata {
        FetchMetadata { session_id, epoch }
    }

    fn keys(parts: &[FetchPartitionRequest]) -> Vec<PartitionKey> {
        parts.iter().map(|p| p.key.clone()).collect()
    }

    /// Creates a consumer session (v12, by name) over `parts`, every partition at hw 10.
    fn open(cache: &mut FetchSessionCache, parts: &[PartitionKey], now: i64) -> i32 {
        let reqs = parts.iter().map(|k| req(k, 0)).collect();
        let (ctx, reads) = cache.new_context(meta(0, INITIAL_EPOCH), false, false, reqs, &[], now);
        assert!(matches!(ctx, FetchContext::Full(_)));
        let results: Vec<_> = reads.iter().map(|p| res(&p.key, 10, 10, 0)).collect();
        let done = cache.complete(ctx, &results, now);
        assert_eq!(done.include, (0..parts.len()).collect::<Vec<_>>());
        done.session_id
    }

    /// An incremental fetch with no changes to the request; the partitions it reads.
    fn incremental(
        cache: &mut FetchSessionCache,
        id: i32,
        epoch: i32,
        parts: Vec<FetchPartitionRequest>,
        forgotten: &[PartitionKey],
    ) -> (FetchContext, Vec<FetchPartitionRequest>) {
        cache.new_context(meta(id, epoch), false, false, parts, forgotten, T0)
    }

    fn error_of(ctx: &FetchContext) -> Option<i16> {
        match ctx {
            FetchContext::Error { error_code } => Some(*error_code),
            _ => None,
        }
    }

    // FetchMetadata.nextEpoch: FINAL stays FINAL, i32::MAX wraps to 1 (never to INITIAL).
    #[test]
    fn next_epoch_wraps_like_kafka() {
        for (epoch, next) in [(0, 1), (1, 2), (41, 42), (i32::MAX, 1), (-1, -1), (-7, -1)] {
            assert_eq!(next_epoch(epoch), next, "after {epoch}");
        }
    }

    // FetchMetadata.isFull: epochs 0 and -1 are full fetches, whatever the session id.
    #[test]
    fn full_fetch_epochs() {
        for (m, full) in [
            (meta(0, 0), true),
            (meta(0, -1), true),
            (meta(7, 0), true),
            (meta(7, -1), true),
            (meta(7, 1), false),
            (meta(0, 3), false),
        ] {
            assert_eq!(m.is_full(), full, "{m:?}");
        }
    }

    // KIP-227 / FetchSessionTest.testFetchRequests: a full fetch with epoch 0 creates a
    // session answered with a non-zero id; its next epoch is 1.
    #[test]
    fn full_fetch_creates_session() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b) = (by_name("foo", 0), by_name("foo", 1));
        let id = open(&mut cache, &[a.clone(), b.clone()], T0);
        assert!(id > 0);
        assert_eq!((cache.len(), cache.cached_partitions()), (1, 2));
        let (ctx, reads) = incremental(&mut cache, id, 1, vec![], &[]);
        assert!(matches!(
            ctx,
            FetchContext::Incremental { session_id, request_epoch: 1 } if session_id == id
        ));
        assert_eq!(keys(&reads), vec![a, b]);
    }

    // FetchManager.newContext: epoch -1 with id 0 is sessionless (librdkafka's fetches): every
    // partition answered, id 0, nothing cached.
    #[test]
    fn final_epoch_without_session_is_sessionless() {
        let mut cache = FetchSessionCache::new(10);
        let a = by_name("foo", 0);
        let (ctx, reads) = cache.new_context(
            meta(0, FINAL_EPOCH),
            false,
            false,
            vec![req(&a, 3)],
            &[],
            T0,
        );
        assert!(matches!(ctx, FetchContext::Sessionless));
        assert_eq!(reads, vec![req(&a, 3)]);
        let done = cache.complete(ctx, &[res(&a, 10, 10, 0)], T0);
        assert_eq!(
            done,
            CompletedFetch {
                error_code: 0,
                session_id: 0,
                include: vec![0]
            }
        );
        assert!(cache.is_empty());
    }

    // FetchManager.newContext: a FINAL_EPOCH full fetch naming a session closes it and is
    // served without a session; the session id is then unknown.
    #[test]
    fn final_epoch_closes_session() {
        let mut cache = FetchSessionCache::new(10);
        let a = by_name("foo", 0);
        let id = open(&mut cache, std::slice::from_ref(&a), T0);
        let (ctx, reads) = cache.new_context(
            meta(id, FINAL_EPOCH),
            false,
            false,
            vec![req(&a, 5)],
            &[],
            T0,
        );
        assert!(matches!(ctx, FetchContext::Sessionless));
        assert_eq!(reads.len(), 1);
        assert_eq!(cache.complete(ctx, &[res(&a, 10, 10, 0)], T0).session_id, 0);
        assert_eq!((cache.len(), cache.cached_partitions()), (0, 0));
        let (ctx, _) = incremental(&mut cache, id, 1, vec![], &[]);
        assert_eq!(
            error_of(&ctx),
            Some(ErrorCode::FetchSessionIdNotFound.code())
        );
    }

    // FetchManager.newContext: an INITIAL_EPOCH full fetch naming a session closes it and
    // creates a new one (the client's nextCloseExistingAttemptNew).
    #[test]
    fn initial_epoch_with_session_replaces_it() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b) = (by_name("foo", 0), by_name("bar", 0));
        let old = open(&mut cache, &[a.clone(), b.clone()], T0);
        let (ctx, reads) = cache.new_context(
            meta(old, INITIAL_EPOCH),
            false,
            false,
            vec![req(&b, 7)],
            &[],
            T0,
        );
        assert!(matches!(ctx, FetchContext::Full(_)));
        assert_eq!(keys(&reads), vec![b.clone()]);
        assert_eq!((cache.len(), cache.cached_partitions()), (0, 0));
        let new = cache.complete(ctx, &[res(&b, 10, 10, 0)], T0).session_id;
        assert!(new > 0);
        assert_eq!((cache.len(), cache.cached_partitions()), (1, 1));
        let (_, reads) = incremental(&mut cache, new, 1, vec![], &[]);
        assert_eq!(reads, vec![req(&b, 7)]);
    }

    // FetchSession.update: an incremental fetch updates the partitions it names, adds new
    // ones at the end, and reads every partition of the session with the cached parameters
    // (FetchSessionTest.testCachedLeaderEpoch / testLastFetchedEpoch).
    #[test]
    fn incremental_fetch_adds_and_updates_partitions() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b, c) = (by_name("foo", 0), by_name("foo", 1), by_name("bar", 0));
        let id = open(&mut cache, &[a.clone(), b.clone()], T0);
        let mut moved = req(&b, 20);
        moved.current_leader_epoch = 6;
        moved.last_fetched_epoch = 4;
        let (_, reads) = incremental(&mut cache, id, 1, vec![moved.clone(), req(&c, 0)], &[]);
        assert_eq!(reads, vec![req(&a, 0), moved.clone(), req(&c, 0)]);
        assert_eq!(cache.cached_partitions(), 3);
        // the next fetch that names nothing reads the same
        let results: Vec<_> = reads.iter().map(|p| res(&p.key, 10, 10, 0)).collect();
        cache.complete(
            FetchContext::Incremental {
                session_id: id,
                request_epoch: 1,
            },
            &results,
            T0,
        );
        let (_, reads) = incremental(&mut cache, id, 2, vec![], &[]);
        assert_eq!(reads, vec![req(&a, 0), moved, req(&c, 0)]);
    }

    // FetchSession.update: forgotten partitions leave the session; a session left empty is
    // closed and the request served sessionless (FetchSessionTest.testZeroSizeFetchSession).
    #[test]
    fn forgotten_partitions_are_removed() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b) = (by_name("foo", 0), by_name("foo", 1));
        let id = open(&mut cache, &[a.clone(), b.clone()], T0);
        let (ctx, reads) = incremental(&mut cache, id, 1, vec![], std::slice::from_ref(&a));
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
        assert_eq!(keys(&reads), vec![b.clone()]);
        assert_eq!(cache.cached_partitions(), 1);
        cache.complete(ctx, &[res(&b, 10, 10, 0)], T0);

        let (ctx, reads) = incremental(&mut cache, id, 2, vec![], std::slice::from_ref(&b));
        assert!(matches!(ctx, FetchContext::Sessionless));
        assert!(reads.is_empty());
        assert_eq!(
            cache.complete(ctx, &[], T0),
            CompletedFetch {
                error_code: 0,
                session_id: 0,
                include: vec![]
            }
        );
        assert_eq!((cache.len(), cache.cached_partitions()), (0, 0));
    }

    // CachedPartition.maybeUpdateResponseData: an incremental response carries a partition
    // only if it has records, an error, a diverging epoch / preferred replica, or a moved
    // high watermark or log start offset (and, in Rafka, last stable offset).
    #[test]
    fn incremental_response_carries_only_changes() {
        let k = by_name("foo", 0);
        let base = res(&k, 10, 10, 0);
        let cases: Vec<(&str, PartitionResult, bool)> = vec![
            ("unchanged", base.clone(), false),
            (
                "records",
                PartitionResult {
                    has_records: true,
                    ..base.clone()
                },
                true,
            ),
            (
                "hw moved",
                PartitionResult {
                    high_watermark: 11,
                    ..base.clone()
                },
                true,
            ),
            (
                "lso moved",
                PartitionResult {
                    last_stable_offset: 9,
                    ..base.clone()
                },
                true,
            ),
            (
                "log start moved",
                PartitionResult {
                    log_start_offset: 3,
                    ..base.clone()
                },
                true,
            ),
            (
                "error",
                PartitionResult {
                    error_code: 6,
                    ..base.clone()
                },
                true,
            ),
            (
                "diverging epoch",
                PartitionResult {
                    must_respond: true,
                    ..base.clone()
                },
                true,
            ),
        ];
        for (name, result, included) in cases {
            let mut cache = FetchSessionCache::new(10);
            let id = open(&mut cache, std::slice::from_ref(&k), T0);
            let (ctx, _) = incremental(&mut cache, id, 1, vec![], &[]);
            let done = cache.complete(ctx, &[result], T0);
            let expected = if included { vec![0] } else { vec![] };
            assert_eq!(
                done,
                CompletedFetch {
                    error_code: 0,
                    session_id: id,
                    include: expected
                },
                "{name}"
            );
            // and the session remembers what it sent: the same result again is not news,
            // unless it is an error or carries records
            let (ctx, _) = incremental(&mut cache, id, 2, vec![], &[]);
            let again = cache.complete(ctx, std::slice::from_ref(&base), T0);
            let news = matches!(name, "hw moved" | "lso moved" | "log start moved" | "error");
            assert_eq!(
                again.include.len(),
                usize::from(news),
                "{name}, then unchanged"
            );
        }
    }

    // CachedPartition.maybeUpdateResponseData: after an error the cached high watermark is
    // -1, so the partition is sent again once the error is gone, even with the same offsets.
    #[test]
    fn partition_is_resent_after_error_clears() {
        let mut cache = FetchSessionCache::new(10);
        let k = by_name("foo", 0);
        let id = open(&mut cache, std::slice::from_ref(&k), T0);
        let (ctx, _) = incremental(&mut cache, id, 1, vec![], &[]);
        let err = PartitionResult {
            error_code: 6,
            ..res(&k, 10, 10, 0)
        };
        assert_eq!(cache.complete(ctx, &[err], T0).include, vec![0]);
        let (ctx, _) = incremental(&mut cache, id, 2, vec![], &[]);
        assert_eq!(
            cache.complete(ctx, &[res(&k, 10, 10, 0)], T0).include,
            vec![0]
        );
        let (ctx, _) = incremental(&mut cache, id, 3, vec![], &[]);
        assert_eq!(
            cache.complete(ctx, &[res(&k, 10, 10, 0)], T0).include,
            Vec::<usize>::new()
        );
    }

    // FetchSessionTest.testDeprioritizesPartitionsWithRecordsOnly: partitions that returned
    // records move to the back of the session; changed ones without records keep their place.
    #[test]
    fn partitions_with_records_move_to_the_back() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b, c) = (by_name("foo", 1), by_name("bar", 2), by_name("zar", 3));
        let id = open(&mut cache, &[a.clone(), b.clone(), c.clone()], T0);
        let (ctx, reads) = incremental(&mut cache, id, 1, vec![], &[]);
        assert_eq!(keys(&reads), vec![a.clone(), b.clone(), c.clone()]);
        let results = [
            res(&a, 11, 10, 0),
            PartitionResult {
                has_records: true,
                ..res(&b, 11, 10, 0)
            },
            res(&c, 10, 10, 0),
        ];
        assert_eq!(cache.complete(ctx, &results, T0).include, vec![0, 1]);
        let (_, reads) = incremental(&mut cache, id, 2, vec![], &[]);
        assert_eq!(keys(&reads), vec![a, c, b]);
    }

    // FetchManager.newContext: FETCH_SESSION_ID_NOT_FOUND for an unknown id,
    // INVALID_FETCH_SESSION_EPOCH for any epoch but the session's, FETCH_SESSION_TOPIC_ID_ERROR
    // for a request version on the other side of v13 than the session's. No partition is read
    // and the response has session id 0.
    #[test]
    fn session_errors() {
        let k = by_name("foo", 0);
        let cases: Vec<(&str, Option<i32>, i32, bool, i16)> = vec![
            // (case, session id (None: the live one), epoch, uses topic ids, error)
            (
                "unknown id",
                Some(12345),
                1,
                false,
                ErrorCode::FetchSessionIdNotFound.code(),
            ),
            (
                "id 0, incremental epoch",
                Some(0),
                1,
                false,
                ErrorCode::FetchSessionIdNotFound.code(),
            ),
            (
                "epoch ahead",
                None,
                2,
                false,
                ErrorCode::InvalidFetchSessionEpoch.code(),
            ),
            (
                "negative epoch",
                None,
                -2,
                false,
                ErrorCode::InvalidFetchSessionEpoch.code(),
            ),
            (
                "v13 on a v12 session",
                None,
                1,
                true,
                ErrorCode::FetchSessionTopicIdError.code(),
            ),
        ];
        for (name, id, epoch, ids, expected) in cases {
            let mut cache = FetchSessionCache::new(10);
            let live = open(&mut cache, std::slice::from_ref(&k), T0);
            let id = id.filter(|id| *id != live).unwrap_or(live);
            let (ctx, reads) =
                cache.new_context(meta(id, epoch), ids, false, vec![req(&k, 9)], &[], T0);
            assert_eq!(error_of(&ctx), Some(expected), "{name}");
            assert!(reads.is_empty(), "{name}");
            let done = cache.complete(ctx, &[], T0);
            assert_eq!(
                done,
                CompletedFetch {
                    error_code: expected,
                    session_id: 0,
                    include: vec![]
                },
                "{name}"
            );
            // the session is untouched: its expected epoch is still 1
            let (ctx, reads) = incremental(&mut cache, live, 1, vec![], &[]);
            assert!(matches!(ctx, FetchContext::Incremental { .. }), "{name}");
            assert_eq!(reads, vec![req(&k, 0)], "{name}");
        }
    }

    // FetchManager.newContext bumps the epoch when the context is made, so the same request
    // sent twice gets INVALID_FETCH_SESSION_EPOCH; IncrementalFetchContext checks at response
    // time that no other request bumped it meanwhile ("possible duplicate request").
    #[test]
    fn duplicate_and_overtaken_requests() {
        let mut cache = FetchSessionCache::new(10);
        let k = by_name("foo", 0);
        let id = open(&mut cache, std::slice::from_ref(&k), T0);
        let (first, _) = incremental(&mut cache, id, 1, vec![], &[]);
        let (dup, _) = incremental(&mut cache, id, 1, vec![], &[]);
        assert_eq!(
            error_of(&dup),
            Some(ErrorCode::InvalidFetchSessionEpoch.code())
        );
        let (second, _) = incremental(&mut cache, id, 2, vec![], &[]);
        let done = cache.complete(first, &[res(&k, 11, 11, 0)], T0);
        assert_eq!(
            done,
            CompletedFetch {
                error_code: ErrorCode::InvalidFetchSessionEpoch.code(),
                session_id: id,
                include: vec![]
            }
        );
        let done = cache.complete(second, &[res(&k, 11, 11, 0)], T0);
        assert_eq!(
            done,
            CompletedFetch {
                error_code: 0,
                session_id: id,
                include: vec![0]
            }
        );
    }

    // FetchMetadata.nextEpoch: a session at epoch i32::MAX expects 1 next, never 0.
    #[test]
    fn epoch_wraps_around() {
        let mut cache = FetchSessionCache::new(10);
        let k = by_name("foo", 0);
        let id = open(&mut cache, std::slice::from_ref(&k), T0);
        if let Some(s) = cache.sessions.get_mut(&id) {
            s.epoch = i32::MAX;
        }
        let (ctx, _) = incremental(&mut cache, id, i32::MAX, vec![], &[]);
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
        assert_eq!(
            cache.complete(ctx, &[res(&k, 10, 10, 0)], T0).error_code,
            ErrorCode::None.code()
        );
        let (ctx, _) = incremental(&mut cache, id, 0, vec![], &[]);
        assert!(
            matches!(ctx, FetchContext::Full(_)),
            "epoch 0 is a new full fetch"
        );
        let id = cache.complete(ctx, &[], T0).session_id;
        if let Some(s) = cache.sessions.get_mut(&id) {
            s.epoch = i32::MAX;
        }
        let (ctx, _) = incremental(&mut cache, id, i32::MAX, vec![req(&k, 1)], &[]);
        cache.complete(ctx, &[], T0);
        let (ctx, _) = incremental(&mut cache, id, 1, vec![], &[]);
        assert!(matches!(
            ctx,
            FetchContext::Incremental {
                request_epoch: 1,
                ..
            }
        ));
    }

    // CachedPartition.equals: by topic id when there is one (v13+), else by name. A topic
    // recreated under the same name (new id) is another partition of the session: the Java
    // client forgets the old id and adds the new one. A known name fills in an unknown one.
    #[test]
    fn topic_ids_key_partitions() {
        let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(by_id(old, "foo", 0), by_id(old, "", 0));
        assert_ne!(by_id(old, "foo", 0), by_id(new, "foo", 0));
        assert_ne!(by_id(old, "foo", 0), by_name("foo", 0));
        assert_eq!(by_name("foo", 0), by_name("foo", 0));
        assert_ne!(by_name("foo", 0), by_name("foo", 1));

        let mut cache = FetchSessionCache::new(10);
        let first = by_id(old, "", 0);
        let (ctx, _) = cache.new_context(meta(0, 0), true, false, vec![req(&first, 0)], &[], T0);
        let id = cache
            .complete(ctx, &[res(&first, 10, 10, 0)], T0)
            .session_id;
        // the name became known
        let (ctx, reads) = cache.new_context(
            meta(id, 1),
            true,
            false,
            vec![req(&by_id(old, "foo", 0), 4)],
            &[],
            T0,
        );
        assert_eq!(reads.len(), 1);
        assert_eq!(&*reads[0].key.topic.name, "foo");
        cache.complete(ctx, &[], T0);
        // recreated: the old id forgotten, the new added
        let recreated = by_id(new, "foo", 0);
        let (ctx, reads) = cache.new_context(
            meta(id, 2),
            true,
            false,
            vec![req(&recreated, 0)],
            &[by_id(old, "foo", 0)],
            T0,
        );
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
        assert_eq!(reads, vec![req(&recreated, 0)]);
        // a v12 request on this v13 session
        cache.complete(ctx, &[], T0);
        let (ctx, _) = cache.new_context(meta(id, 3), false, false, vec![], &[], T0);
        assert_eq!(
            error_of(&ctx),
            Some(ErrorCode::FetchSessionTopicIdError.code())
        );
    }

    // FetchSessionCacheShard.tryEvict (FetchSessionTest.testFetchSessionExpiration,
    // testPrivilegedSessionHandling): with every slot taken, a new session evicts the least
    // recently used one if stale; else one created long enough ago if the newcomer is bigger
    // (not equal); a follower's session evicts a consumer's; otherwise no session (id 0).
    #[test]
    fn eviction_when_full() {
        const EVICT: i64 = 1000;
        let parts = |n: i32| (0..n).map(|p| by_name("foo", p)).collect::<Vec<_>>();
        let full = |cache: &mut FetchSessionCache, n: i32, follower: bool, now: i64| {
            let reqs = parts(n).iter().map(|k| req(k, 0)).collect();
            let (ctx, _) = cache.new_context(meta(0, 0), false, follower, reqs, &[], now);
            cache.complete(ctx, &[], now).session_id
        };
        let new_cache = || FetchSessionCache::new(2).with_eviction_ms(EVICT);

        // fresh sessions, a newcomer of any size: refused
        let mut cache = new_cache();
        let (s1, s2) = (
            full(&mut cache, 1, false, T0),
            full(&mut cache, 2, false, T0 + 1),
        );
        assert!(s1 > 0 && s2 > 0);
        assert_eq!(full(&mut cache, 5, false, T0 + 2), 0);
        assert_eq!(cache.evictions(), 0);

        // the least recently used, once stale, goes (s2 is used, s1 is not)
        let (ctx, _) = incremental(&mut cache, s2, 1, vec![], &[]);
        cache.complete(ctx, &[], T0);
        let (ctx, _) = cache.new_context(meta(s2, 1), false, false, vec![], &[], T0 + EVICT);
        assert!(
            matches!(ctx, FetchContext::Error { .. }),
            "epoch moved on to 2"
        );
        let (ctx, _) = cache.new_context(meta(s2, 2), false, false, vec![], &[], T0 + EVICT);
        cache.complete(ctx, &[], T0 + EVICT);
        let s3 = full(&mut cache, 1, false, T0 + EVICT + 1);
        assert!(s3 > 0);
        assert!(!cache.sessions.contains_key(&s1) && cache.sessions.contains_key(&s2));
        assert_eq!(cache.evictions(), 1);

        // none stale, but s2 (2 partitions) is old enough: a bigger newcomer evicts the
        // smallest old session; one of the same size does not
        let now = T0 + 2 * EVICT;
        for id in [s2, s3] {
            let epoch = cache.sessions.get(&id).map_or(0, |s| s.epoch);
            let (ctx, _) = cache.new_context(meta(id, epoch), false, false, vec![], &[], now);
            cache.complete(ctx, &[], now);
        }
        assert_eq!(
            full(&mut cache, 2, false, now),
            0,
            "same size as s2; s3 too young"
        );
        let s4 = full(&mut cache, 3, false, now);
        assert!(s4 > 0);
        assert!(!cache.sessions.contains_key(&s2) && cache.sessions.contains_key(&s3));

        // a follower's session evicts a fresh consumer session, even a bigger one
        let mut cache = new_cache();
        let (c1, c2) = (
            full(&mut cache, 5, false, T0),
            full(&mut cache, 9, false, T0),
        );
        let f1 = full(&mut cache, 1, true, T0);
        assert!(f1 > 0);
        assert!(!cache.sessions.contains_key(&c1) && cache.sessions.contains_key(&c2));
        // but a consumer cannot evict a follower's session, nor a follower a fresh follower's
        let f2 = full(&mut cache, 1, true, T0);
        assert!(f2 > 0 && !cache.sessions.contains_key(&c2));
        assert_eq!(full(&mut cache, 50, true, T0), 0);
        for id in [f1, f2] {
            let epoch = cache.sessions.get(&id).map_or(0, |s| s.epoch);
            let (ctx, _) = cache.new_context(meta(id, epoch), false, true, vec![], &[], T0 + EVICT);
            cache.complete(ctx, &[], T0 + EVICT);
        }
        // old enough but used recently: a consumer still cannot evict them
        assert_eq!(full(&mut cache, 50, false, T0 + EVICT + 1), 0);
        assert_eq!((cache.len(), cache.cached_partitions()), (2, 2));
    }

    // max.incremental.fetch.session.cache.slots=0 turns sessions off: every full fetch is
    // answered with id 0.
    #[test]
    fn zero_slots_means_no_sessions() {
        let mut cache = FetchSessionCache::new(0);
        let k = by_name("foo", 0);
        let (ctx, _) = cache.new_context(meta(0, 0), false, false, vec![req(&k, 0)], &[], T0);
        assert_eq!(cache.complete(ctx, &[res(&k, 1, 1, 0)], T0).session_id, 0);
        assert!(cache.is_empty());
    }

    // Rafka's cap on cached partitions (Kafka has none): a full fetch past it gets no
    // session; an incremental fetch that grows past it closes the session and is served
    // sessionless, as Kafka does with a session left empty.
    #[test]
    fn cached_partitions_are_capped() {
        let parts: Vec<_> = (0..4).map(|p| by_name("foo", p)).collect();
        let mut cache = FetchSessionCache::new(10).with_max_cached_partitions(3);
        let reqs = parts.iter().map(|k| req(k, 0)).collect();
        let (ctx, reads) = cache.new_context(meta(0, 0), false, false, reqs, &[], T0);
        assert_eq!(reads.len(), 4);
        assert_eq!(cache.complete(ctx, &[], T0).session_id, 0);

        let id = open(&mut cache, &parts[..3], T0);
        assert_eq!(cache.cached_partitions(), 3);
        let (ctx, reads) = incremental(&mut cache, id, 1, vec![req(&parts[3], 0)], &[]);
        assert!(matches!(ctx, FetchContext::Sessionless));
        assert_eq!(keys(&reads), vec![parts[3].clone()]);
        assert_eq!((cache.len(), cache.cached_partitions()), (0, 0));
        // swapping one partition for another stays within the cap
        let id = open(&mut cache, &parts[..3], T0);
        let (ctx, _) = incremental(&mut cache, id, 1, vec![req(&parts[3], 0)], &parts[..1]);
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
        assert_eq!(cache.cached_partitions(), 3);
    }

    // A session evicted between the context and the response: the response carries every
    // result with session id 0, which the client takes as "session closed".
    #[test]
    fn session_gone_before_complete() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b) = (by_name("foo", 0), by_name("foo", 1));
        let id = open(&mut cache, &[a.clone(), b.clone()], T0);
        let (ctx, _) = incremental(&mut cache, id, 1, vec![], &[]);
        cache.remove(id);
        let done = cache.complete(ctx, &[res(&a, 10, 10, 0), res(&b, 10, 10, 0)], T0);
        assert_eq!(
            done,
            CompletedFetch {
                error_code: 0,
                session_id: 0,
                include: vec![0, 1]
            }
        );
    }

    // FetchRequest.fetchData is a map: a partition listed twice is one partition, with the
    // last parameters.
    #[test]
    fn full_fetch_deduplicates() {
        let mut cache = FetchSessionCache::new(10);
        let (a, b) = (by_name("foo", 0), by_name("foo", 1));
        let reqs = vec![req(&a, 1), req(&b, 2), req(&a, 3)];
        let (ctx, reads) = cache.new_context(meta(0, 0), false, false, reqs, &[], T0);
        assert_eq!(reads, vec![req(&a, 3), req(&b, 2)]);
        cache.complete(ctx, &[], T0);
        assert_eq!(cache.cached_partitions(), 2);
    }

    // FetchSessionCacheShard.newSessionId: positive, never 0, unique among live sessions.
    #[test]
    fn session_ids_are_positive_and_unique() {
        let mut cache = FetchSessionCache::new(500);
        let k = by_name("foo", 0);
        let mut ids = HashSet::new();
        for _ in 0..500 {
            let id = open(&mut cache, std::slice::from_ref(&k), T0);
            assert!(id > 0);
            assert!(ids.insert(id));
        }
        assert_eq!((cache.len(), cache.cached_partitions()), (500, 500));
        // a generator stuck on taken ids still finds a free one
        cache.rng = 1;
        let taken: Vec<i32> = (0..64).filter_map(|_| cache.new_session_id()).collect();
        cache.rng = 1;
        for id in &taken {
            cache.sessions.insert(
                *id,
                Session {
                    epoch: 1,
                    privileged: false,
                    uses_topic_ids: false,
                    created_ms: T0,
                    last_used_ms: T0,
                    partitions: IndexMap::new(),
                },
            );
        }
        let id = cache.new_session_id();
        assert!(id.is_some_and(|id| id > 0 && !cache.sessions.contains_key(&id)));
    }
}
