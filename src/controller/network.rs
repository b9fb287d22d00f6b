//! openraft's RPCs between controllers, in Kafka-style frames on the controller port.
//!
//! Request: `size: i32` (bytes after it), `api_key: i16` (one of ours, outside Kafka's
//! range), `api_version: i16` (0), `correlation_id: i32`, body. Response: `size: i32`,
//! `correlation_id: i32`, `error_code: i16` (0, or [`REMOTE_FAILED`]), body. Bodies, all
//! big-endian:
//!
//! - vote = term i64, voted_for i32 (-1: none), committed i8; log id = term i64, index
//!   i64 (index -1: none);
//! - Vote: vote, last log id → vote, granted i8, last log id;
//! - AppendEntries: vote, prev log id, leader commit, count i32, then per entry a length
//!   i32 and the entry as the record batch the log stores ([`super::records`]), but with
//!   the Raft index as its base offset (the log assigns Kafka offsets of its own) →
//!   tag i8 (0 success, 1 partial + log id, 2 conflict, 3 higher vote + vote);
//! - FullSnapshot: vote, last log id, membership log id, membership (length i32 + a
//!   `VotersRecord` value), snapshot id (i16 length + UTF-8: Kafka's snapshot id
//!   `<end offset>-<epoch>`, which the receiver notes for its log store before
//!   installing), count i32, per record a
//!   length i32 and its bytes → vote.
//!
//! Every length read from the wire is checked against the bytes actually received before
//! anything is allocated; a frame is read as it arrives (at most [`MAX_FRAME`]). A bad
//! frame closes that connection and nothing else.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{RaftNetwork, RaftNetworkFactory};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::log_store::SnapshotEnds;
use super::records::{decode_entry, decode_voters, encode_entry, encode_voters, LeaderHint};
use super::snapshot::parse_id;
use super::types::{
    log_id, LogId, Node, NodeId, Raft, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
    TypeConfig, Vote,
};

/// Private api keys (Kafka's own end well below 1000).
pub const API_VOTE: i16 = 32000;
pub const API_APPEND_ENTRIES: i16 = 32001;
pub const API_FULL_SNAPSHOT: i16 = 32002;
/// Answers requests on the controller port that are not the quorum's own: Kafka's APIs a
/// controller serves (broker registration and heartbeats, admin requests, DescribeQuorum).
/// Given the frame after its size prefix, returns the whole response frame (size prefix
/// included), or `None` to close the connection (a frame it cannot read).
pub trait ForeignApis: Send + Sync + 'static {
    fn handle(&self, frame: Bytes) -> Pin<Box<dyn Future<Output = Option<Bytes>> + Send + '_>>;
}

/// Where the foreign API handler goes once it exists (it needs the running quorum, so it
/// is set after [`super::Quorum::start`]); until then such requests close their
/// connection, and the client tries again. Emptied when the quorum stops: the handler
/// holds what holds the quorum.
pub type ForeignSlot = Arc<parking_lot::Mutex<Option<Arc<dyn ForeignApis>>>>;

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 64 << 20;
/// The response error code when the receiving node could not handle the request (it is
/// shutting down, or its Raft failed).
pub const REMOTE_FAILED: i16 = -1;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A frame or body that does not decode.
#[derive(Debug, Error)]
pub enum WireError {
    /// The frame's size prefix is negative or larger than [`MAX_FRAME`].
    #[error("frame size {0} out of bounds")]
    FrameSize(i64),
    /// The body is shorter than its fields say, or a field is invalid.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// An api key that is not one of ours.
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    /// The peer answered a different correlation id.
    #[error("correlation id {got}, expected {expected}")]
    Correlation { got: i32, expected: i32 },
    /// The peer reported a failure.
    #[error("remote error {0}")]
    Remote(i16),
    /// The socket.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The fault switch of tests cut this node off.
    #[error("network isolated (fault switch)")]
    Isolated,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// A test switch that cuts a node's controller traffic both ways (its calls fail, its
/// server drops every connection), as a network partition would.
#[derive(Clone, Debug, Default)]
pub struct FaultSwitch(Arc<AtomicBool>);

impl FaultSwitch {
    pub fn set_isolated(&self, isolated: bool) {
        self.0.store(isolated, Ordering::Release);
    }
    pub fn is_isolated(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

// ---- body codec ----

fn put_vote(b: &mut BytesMut, v: &Vote) {
    b.put_i64(v.leader_id.term as i64);
    b.put_i32(
        v.leader_id
            .voted_for
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(-1),
    );
    b.put_i8(i8::from(v.committed));
}

fn put_log_id(b: &mut BytesMut, l: Option<&LogId>) {
    match l {
        Some(l) => {
            b.put_i64(l.leader_id.term as i64);
            b.put_i64(l.index as i64);
        }
        None => {
            b.put_i64(0);
            b.put_i64(-1);
        }
    }
}

/// A bounds-checked reader over a received body.
struct Body(Bytes);

impl Body {
    fn need(&self, n: usize, what: &'static str) -> Result<(), WireError> {
        if self.0.remaining() < n {
            return Err(WireError::Malformed(what));
        }
        Ok(())
    }
    fn i8(&mut self, what: &'static str) -> Result<i8, WireError> {
        self.need(1, what)?;
        Ok(self.0.get_i8())
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, WireError> {
        self.need(2, what)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        self.need(4, what)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        self.need(8, what)?;
        Ok(self.0.get_i64())
    }
    /// `n` bytes, where `n` came from the wire: checked against what is left.
    fn bytes(&mut self, n: i64, what: &'static str) -> Result<Bytes, WireError> {
        let n = usize::try_from(n).map_err(|_| WireError::Malformed(what))?;
        self.need(n, what)?;
        Ok(self.0.split_to(n))
    }
    /// A count of items each at least `min_size` bytes: bounded by what is left.
    fn count(&mut self, min_size: usize, what: &'static str) -> Result<usize, WireError> {
        let n = self.i32(what)?;
        let n = usize::try_from(n).map_err(|_| WireError::Malformed(what))?;
        if n.saturating_mul(min_size) > self.0.remaining() {
            return Err(WireError::Malformed(what));
        }
        Ok(n)
    }
    /// A Raft term: it becomes a KRaft epoch (an int32 in every batch), so a larger one
    /// is refused here; accepted and persisted, it would stop every voter's log.
    fn term(&mut self, what: &'static str) -> Result<u64, WireError> {
        let term = self.i64(what)?;
        if !(0..=i64::from(i32::MAX)).contains(&term) {
            return Err(WireError::Malformed(what));
        }
        u64::try_from(term).map_err(|_| WireError::Malformed(what))
    }
    fn vote(&mut self) -> Result<Vote, WireError> {
        let term = self.term("vote term")?;
        let voted = self.i32("voted for")?;
        let committed = self.i8("committed")? != 0;
        Ok(super::types::vote_for(term, i64::from(voted), committed))
    }
    fn log_id(&mut self) -> Result<Option<LogId>, WireError> {
        let term = self.i64("log id term")?;
        let index = self.i64("log id index")?;
        if index < 0 {
            return Ok(None);
        }
        if !(0..=i64::from(i32::MAX)).contains(&term) {
            return Err(WireError::Malformed("log id term"));
        }
        let term = u64::try_from(term).map_err(|_| WireError::Malformed("log id term"))?;
        let index = u64::try_from(index).map_err(|_| WireError::Malformed("log id index"))?;
        Ok(Some(log_id(term, index)))
    }
}

fn encode_vote_request(r: &VoteRequest<NodeId>) -> BytesMut {
    let mut b = BytesMut::new();
    put_vote(&mut b, &r.vote);
    put_log_id(&mut b, r.last_log_id.as_ref());
    b
}

fn decode_vote_request(mut b: Body) -> Result<VoteRequest<NodeId>, WireError> {
    Ok(VoteRequest::new(b.vote()?, b.log_id()?))
}

fn encode_vote_response(r: &VoteResponse<NodeId>) -> BytesMut {
    let mut b = BytesMut::new();
    put_vote(&mut b, &r.vote);
    b.put_i8(i8::from(r.vote_granted));
    put_log_id(&mut b, r.last_log_id.as_ref());
    b
}

fn decode_vote_response(mut b: Body) -> Result<VoteResponse<NodeId>, WireError> {
    let vote = b.vote()?;
    let granted = b.i8("granted")? != 0;
    let last = b.log_id()?;
    Ok(VoteResponse {
        vote,
        vote_granted: granted,
        last_log_id: last,
    })
}

fn encode_append(r: &AppendEntriesRequest<TypeConfig>) -> Result<BytesMut, WireError> {
    let mut b = BytesMut::new();
    put_vote(&mut b, &r.vote);
    put_log_id(&mut b, r.prev_log_id.as_ref());
    put_log_id(&mut b, r.leader_commit.as_ref());
    b.put_i32(i32::try_from(r.entries.len()).map_err(|_| WireError::Malformed("entries"))?);
    let hint = LeaderHint {
        leader_id: r
            .vote
            .leader_id
            .voted_for
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(-1),
        voters: Vec::new(),
    };
    for e in &r.entries {
        let batch = encode_entry(e, &hint).map_err(|_| WireError::Malformed("entry"))?;
        b.put_i32(i32::try_from(batch.len()).map_err(|_| WireError::Malformed("entry"))?);
        b.put_slice(&batch);
    }
    Ok(b)
}

fn decode_append(mut b: Body) -> Result<AppendEntriesRequest<TypeConfig>, WireError> {
    let vote = b.vote()?;
    let prev_log_id = b.log_id()?;
    let leader_commit = b.log_id()?;
    let n = b.count(4, "entry count")?;
    let mut entries = Vec::new();
    // entries follow prev_log_id one index at a time, in terms that never go down and
    // never pass the sender's vote: anything else would stop the log store
    let mut next_index = prev_log_id.map_or(0, |p| p.index.saturating_add(1));
    let mut min_term = prev_log_id.map_or(0, |p| p.leader_id.term);
    for _ in 0..n {
        let len = b.i32("entry length")?;
        let batch = b.bytes(i64::from(len), "entry")?;
        let entry = decode_entry(&batch).map_err(|_| WireError::Malformed("entry batch"))?;
        let term = entry.log_id.leader_id.term;
        if entry.log_id.index != next_index || term < min_term || term > vote.leader_id.term {
            return Err(WireError::Malformed("entries out of order"));
        }
        next_index = next_index.saturating_add(1);
        min_term = term;
        entries.push(entry);
    }
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

fn encode_append_response(r: &AppendEntriesResponse<NodeId>) -> BytesMut {
    let mut b = BytesMut::new();
    match r {
        AppendEntriesResponse::Success => b.put_i8(0),
        AppendEntriesResponse::PartialSuccess(l) => {
            b.put_i8(1);
            put_log_id(&mut b, l.as_ref());
        }
        AppendEntriesResponse::Conflict => b.put_i8(2),
        AppendEntriesResponse::HigherVote(v) => {
            b.put_i8(3);
            put_vote(&mut b, v);
        }
    }
    b
}

fn decode_append_response(mut b: Body) -> Result<AppendEntriesResponse<NodeId>, WireError> {
    Ok(match b.i8("append tag")? {
        0 => AppendEntriesResponse::Success,
        1 => AppendEntriesResponse::PartialSuccess(b.log_id()?),
        2 => AppendEntriesResponse::Conflict,
        3 => AppendEntriesResponse::HigherVote(b.vote()?),
        _ => return Err(WireError::Malformed("append tag")),
    })
}

fn encode_snapshot(vote: &Vote, s: &Snapshot) -> Result<BytesMut, WireError> {
    let mut b = BytesMut::new();
    put_vote(&mut b, vote);
    put_log_id(&mut b, s.meta.last_log_id.as_ref());
    put_log_id(&mut b, s.meta.last_membership.log_id().as_ref());
    let m = encode_voters(s.meta.last_membership.membership())
        .map_err(|_| WireError::Malformed("membership"))?;
    b.put_i32(i32::try_from(m.len()).map_err(|_| WireError::Malformed("membership"))?);
    b.put_slice(&m);
    let id = s.meta.snapshot_id.as_bytes();
    b.put_i16(i16::try_from(id.len()).map_err(|_| WireError::Malformed("snapshot id"))?);
    b.put_slice(id);
    b.put_i32(
        i32::try_from(s.snapshot.records.len()).map_err(|_| WireError::Malformed("records"))?,
    );
    for r in &s.snapshot.records {
        b.put_i32(i32::try_from(r.len()).map_err(|_| WireError::Malformed("record"))?);
        b.put_slice(r);
    }
    Ok(b)
}

/// The smallest KRaft record value: frame version, api key and version, one byte each.
const MIN_RECORD: usize = 3;

/// A peer that has started a frame must finish it within this (and an idle connection is
/// closed after it): a trickling or silent peer cannot hold a connection's buffer forever.
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections the controller port serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;

fn decode_snapshot(mut b: Body) -> Result<(Vote, Snapshot), WireError> {
    let vote = b.vote()?;
    let last_log_id = b.log_id()?;
    let membership_log_id = b.log_id()?;
    let len = b.i32("membership length")?;
    let m = b.bytes(i64::from(len), "membership")?;
    let membership = decode_voters(&m).map_err(|_| WireError::Malformed("membership"))?;
    let len = b.i16("snapshot id length")?;
    let id = b.bytes(i64::from(len), "snapshot id")?;
    let snapshot_id =
        String::from_utf8(id.to_vec()).map_err(|_| WireError::Malformed("snapshot id"))?;
    // a KRaft record is at least its 3-byte frame header (frame version, api key,
    // version): with the length, 7 bytes each, so a frame cannot make millions of empty
    // records (each a `Bytes`, several times its wire size in memory)
    let n = b.count(4 + MIN_RECORD, "record count")?;
    let mut records = Vec::new();
    for _ in 0..n {
        let len = b.i32("record length")?;
        if usize::try_from(len).map_or(true, |l| l < MIN_RECORD) {
            return Err(WireError::Malformed("record length"));
        }
        records.push(b.bytes(i64::from(len), "record")?);
    }
    let meta = SnapshotMeta {
        last_log_id,
        last_membership: StoredMembership::new(membership_log_id, membership),
        snapshot_id,
    };
    Ok((
        vote,
        Snapshot {
            meta,
            snapshot: Box::new(SnapshotData { records }),
        },
    ))
}

// ---- frames ----

/// Reads one frame's payload (after the size prefix): `Ok(None)` at a clean end of stream
/// before a frame starts. The payload is read as it arrives, so a lying size prefix costs
/// no more memory than the bytes actually sent.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Bytes>, WireError> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size)
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or(WireError::FrameSize(i64::from(size)))?;
    let mut buf = Vec::new();
    let got = r.take(len as u64).read_to_end(&mut buf).await?;
    if got != len {
        return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(Bytes::from(buf)))
}

fn frame(header: impl FnOnce(&mut BytesMut), body: &[u8]) -> Result<BytesMut, WireError> {
    let mut b = BytesMut::with_capacity(16 + body.len());
    b.put_i32(0);
    header(&mut b);
    b.put_slice(body);
    let size = b.len() - 4;
    if size > MAX_FRAME {
        return Err(WireError::FrameSize(size as i64));
    }
    if let Some(prefix) = b.get_mut(..4) {
        prefix.copy_from_slice(&(size as i32).to_be_bytes());
    }
    Ok(b)
}

// ---- server ----

/// Answers controller RPCs on `listener` for `raft` until the task is aborted (dropping
/// it ends every connection too).
pub async fn serve(
    listener: TcpListener,
    raft: Raft,
    fault: FaultSwitch,
    snapshot_ends: SnapshotEnds,
    foreign: ForeignSlot,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if conns.len() < MAX_CONNECTIONS => match accepted {
                Ok((stream, peer)) => {
                    let raft = raft.clone();
                    let fault = fault.clone();
                    let ends = snapshot_ends.clone();
                    let foreign = foreign.clone();
                    let span = tracing::debug_span!("controller_connection", %peer);
                    conns.spawn(
                        async move {
                            if let Err(e) = serve_conn(stream, &raft, &fault, &ends, &foreign).await {
                                tracing::debug!(cause = %e, "controller connection closed");
                            }
                        }
                        .instrument(span),
                    );
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "failed to accept a controller connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(
    stream: TcpStream,
    raft: &Raft,
    fault: &FaultSwitch,
    ends: &SnapshotEnds,
    foreign: &ForeignSlot,
) -> Result<(), WireError> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(payload) = tokio::time::timeout(FRAME_TIMEOUT, read_frame(&mut rd))
            .await
            .map_err(|_| WireError::Timeout)??
        else {
            break;
        };
        if fault.is_isolated() {
            return Err(WireError::Isolated);
        }
        let mut body = Body(payload.clone());
        let api_key = body.i16("api key")?;
        if !(API_VOTE..=API_FULL_SNAPSHOT).contains(&api_key) {
            let handler = foreign.lock().clone();
            let Some(handler) = handler else {
                return Err(WireError::UnknownApi(api_key));
            };
            let Some(out) = handler.handle(payload).await else {
                return Err(WireError::UnknownApi(api_key));
            };
            wr.write_all(&out).await?;
            continue;
        }
        let _version = body.i16("api version")?;
        let correlation_id = body.i32("correlation id")?;
        let (code, resp) = handle(api_key, body, raft, ends).await?;
        let out = frame(
            |b| {
                b.put_i32(correlation_id);
                b.put_i16(code);
            },
            &resp,
        )?;
        wr.write_all(&out).await?;
    }
    Ok(())
}

async fn handle(
    api_key: i16,
    body: Body,
    raft: &Raft,
    ends: &SnapshotEnds,
) -> Result<(i16, BytesMut), WireError> {
    let failed = |e: &dyn std::fmt::Display| {
        tracing::warn!(api_key, cause = %e, "controller rpc failed");
        (REMOTE_FAILED, BytesMut::new())
    };
    Ok(match api_key {
        API_VOTE => match raft.vote(decode_vote_request(body)?).await {
            Ok(r) => (0, encode_vote_response(&r)),
            Err(e) => failed(&e),
        },
        API_APPEND_ENTRIES => match raft.append_entries(decode_append(body)?).await {
            Ok(r) => (0, encode_append_response(&r)),
            Err(e) => failed(&e),
        },
        API_FULL_SNAPSHOT => {
            let (vote, snapshot) = decode_snapshot(body)?;
            // openraft purges the log up to the snapshot before this node has installed
            // it: the log store needs its Kafka end offset first, to start the log there
            if let Some(last) = snapshot.meta.last_log_id {
                let (end, _) = parse_id(&snapshot.meta.snapshot_id)
                    .ok_or(WireError::Malformed("snapshot id"))?;
                // durable first: the purge that follows must never outrun the snapshot
                let (to_disk, membership) = (ends.clone(), snapshot.meta.last_membership.clone());
                let records = snapshot.snapshot.records.clone();
                let written = tokio::task::spawn_blocking(move || {
                    to_disk.persist(&last, end, &membership, &records)
                })
                .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Ok(failed(&e)),
                    Err(e) => return Ok(failed(&e)),
                }
                ends.note(last.index, end);
            }
            match raft.install_full_snapshot(vote, snapshot).await {
                Ok(r) => {
                    let mut b = BytesMut::new();
                    put_vote(&mut b, &r.vote);
                    (0, b)
                }
                Err(e) => failed(&e),
            }
        }
        other => return Err(WireError::UnknownApi(other)),
    })
}

// ---- client ----

/// Makes a [`PeerClient`] per target; addresses come from the static voter set.
pub struct Network {
    pub fault: FaultSwitch,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.parse().ok(),
            conn: None,
            correlation_id: 0,
            fault: self.fault.clone(),
        }
    }
}

/// One peer's connection: opened on first use, dropped on any error and reopened by the
/// next call (openraft backs off between retries).
pub struct PeerClient {
    target: NodeId,
    addr: Option<SocketAddr>,
    conn: Option<BufReader<TcpStream>>,
    correlation_id: i32,
    fault: FaultSwitch,
}

impl PeerClient {
    async fn call(&mut self, api_key: i16, body: &[u8], ttl: Duration) -> Result<Body, WireError> {
        if self.fault.is_isolated() {
            self.conn = None;
            return Err(WireError::Isolated);
        }
        let res = tokio::time::timeout(ttl, self.call_inner(api_key, body))
            .await
            .unwrap_or(Err(WireError::Timeout));
        if res.is_err() {
            self.conn = None;
        }
        res
    }

    async fn call_inner(&mut self, api_key: i16, body: &[u8]) -> Result<Body, WireError> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let addr = self.addr.ok_or(WireError::Malformed("peer address"))?;
                let s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| WireError::Timeout)??;
                let _ = s.set_nodelay(true);
                BufReader::new(s)
            }
        };
        let conn = self.conn.insert(conn);
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let cid = self.correlation_id;
        let out = frame(
            |b| {
                b.put_i16(api_key);
                b.put_i16(0);
                b.put_i32(cid);
            },
            body,
        )?;
        conn.get_mut().write_all(&out).await?;
        let payload = read_frame(conn)
            .await?
            .ok_or(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()))?;
        let mut b = Body(payload);
        let got = b.i32("correlation id")?;
        if got != cid {
            return Err(WireError::Correlation { got, expected: cid });
        }
        let code = b.i16("error code")?;
        if code != 0 {
            return Err(WireError::Remote(code));
        }
        Ok(b)
    }
}

fn rpc_err<E: std::error::Error>(e: WireError) -> RPCError<NodeId, Node, E> {
    match e {
        WireError::Malformed(_) | WireError::Correlation { .. } => {
            RPCError::Network(NetworkError::new(&e))
        }
        _ => RPCError::Unreachable(Unreachable::new(&e)),
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let body = encode_append(&rpc).map_err(rpc_err)?;
        let resp = self
            .call(API_APPEND_ENTRIES, &body, option.hard_ttl())
            .await
            .map_err(rpc_err)?;
        decode_append_response(resp).map_err(rpc_err)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let body = encode_vote_request(&rpc);
        let resp = self
            .call(API_VOTE, &body, option.hard_ttl())
            .await
            .map_err(rpc_err)?;
        decode_vote_response(resp).map_err(rpc_err)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let body = encode_snapshot(&vote, &snapshot)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let target = self.target;
        let call = self.call(API_FULL_SNAPSHOT, &body, option.hard_ttl());
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = call => r,
        };
        let mut resp = resp.map_err(|e| {
            tracing::debug!(target, cause = %e, "snapshot not sent");
            StreamingError::Unreachable(Unreachable::new(&e))
        })?;
        let vote = resp
            .vote()
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        Ok(SnapshotResponse::new(vote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::EntryPayload;

    /// A term past int32 (a KRaft epoch) would, once voted for and persisted, stop every
    /// voter's log at the next leader's first entry: refused at decoding.
    #[test]
    fn terms_past_an_int32_epoch_are_refused() {
        let huge = 1u64 << 40;
        let mut b = BytesMut::new();
        put_vote(&mut b, &Vote::new(huge, 1));
        put_log_id(&mut b, Some(&log_id(1, 3)));
        assert!(decode_vote_request(Body(b.freeze())).is_err());

        let mut b = BytesMut::new();
        put_vote(&mut b, &Vote::new(2, 1));
        put_log_id(&mut b, Some(&log_id(huge, 3)));
        assert!(decode_vote_request(Body(b.freeze())).is_err());

        let mut b = BytesMut::new();
        put_vote(&mut b, &Vote::new(i32::MAX as u64, 1));
        put_log_id(&mut b, Some(&log_id(7, 3)));
        assert!(decode_vote_request(Body(b.freeze())).is_ok());
    }

    /// Entries that skip an index, go back in term or pass the sender's term are refused
    /// before they reach the log store (which would stop the node on them).
    #[test]
    fn append_entries_out_of_order_are_refused() {
        let entry = |term, index| openraft::Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(super::super::types::Proposal(vec![Bytes::from_static(
                b"r",
            )])),
        };
        let req = |prev: Option<LogId>, entries| AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: prev,
            entries,
            leader_commit: None,
        };
        let decodes = |r: &AppendEntriesRequest<TypeConfig>| {
            decode_append(Body(encode_append(r).expect("test setup").freeze())).is_ok()
        };
        assert!(decodes(&req(
            Some(log_id(2, 4)),
            vec![entry(2, 5), entry(3, 6)]
        )));
        assert!(decodes(&req(None, vec![entry(1, 0)])));
        assert!(
            !decodes(&req(Some(log_id(2, 4)), vec![entry(2, 6)])),
            "a gap"
        );
        assert!(
            !decodes(&req(Some(log_id(2, 4)), vec![entry(3, 5), entry(2, 6)])),
            "term down"
        );
        assert!(
            !decodes(&req(Some(log_id(2, 4)), vec![entry(1, 5)])),
            "below prev's term"
        );
        assert!(
            !decodes(&req(Some(log_id(2, 4)), vec![entry(4, 5)])),
            "past the vote's term"
        );
    }

    #[test]
    fn append_entries_round_trip_and_every_cut_is_an_error() {
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(2, 4)),
            entries: vec![
                openraft::Entry {
                    log_id: log_id(3, 5),
                    payload: EntryPayload::Blank,
                },
                openraft::Entry {
                    log_id: log_id(3, 6),
                    payload: EntryPayload::Normal(super::super::types::Proposal(vec![
                        Bytes::from_static(b"r"),
                    ])),
                },
            ],
            leader_commit: None,
        };
        let b = encode_append(&req).expect("test setup").freeze();
        let back = decode_append(Body(b.clone())).expect("test setup");
        assert_eq!(back.vote, req.vote);
        assert_eq!(back.prev_log_id, req.prev_log_id);
        assert_eq!(back.leader_commit, None);
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.entries[1].log_id, log_id(3, 6));
        for cut in 0..b.len() {
            assert!(decode_append(Body(b.slice(..cut))).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn full_snapshots_round_trip() {
        let ids: std::collections::BTreeSet<NodeId> = [1, 2, 3].into_iter().collect();
        let nodes: std::collections::BTreeMap<NodeId, Node> = ids
            .iter()
            .map(|&i| (i, Node::new(format!("127.0.0.1:{}", 9000 + i))))
            .collect();
        let membership = super::super::types::Membership::new(vec![ids], nodes);
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_log_id: Some(log_id(4, 41)),
                last_membership: StoredMembership::new(Some(log_id(0, 0)), membership),
                snapshot_id: "41-1".into(),
            },
            snapshot: Box::new(SnapshotData {
                records: vec![
                    Bytes::from_static(b"\x01\x02\x00r1"),
                    Bytes::from_static(b"abc"),
                ],
            }),
        };
        let vote = Vote::new_committed(4, 2);
        let b = encode_snapshot(&vote, &snapshot)
            .expect("test setup")
            .freeze();
        let (v, back) = decode_snapshot(Body(b.clone())).expect("test setup");
        assert_eq!(v, vote);
        assert_eq!(back.meta, snapshot.meta);
        assert_eq!(back.snapshot, snapshot.snapshot);
        for cut in 0..b.len() {
            assert!(decode_snapshot(Body(b.slice(..cut))).is_err(), "cut {cut}");
        }
        // a record shorter than a KRaft frame header is refused
        let mut short = snapshot;
        short.snapshot.records.push(Bytes::from_static(b"ab"));
        let b = encode_snapshot(&vote, &short).expect("test setup").freeze();
        assert!(decode_snapshot(Body(b)).is_err());
    }

    #[tokio::test]
    async fn frame_sizes_are_bounded() {
        let mut neg: &[u8] = &(-1i32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut neg).await,
            Err(WireError::FrameSize(-1))
        ));
        let mut big: &[u8] = &i32::MAX.to_be_bytes();
        assert!(matches!(
            read_frame(&mut big).await,
            Err(WireError::FrameSize(_))
        ));
        // a size larger than what follows: an error after reading what came, no more
        let mut lying: Vec<u8> = 1000i32.to_be_bytes().to_vec();
        lying.extend_from_slice(b"abc");
        assert!(read_frame(&mut lying.as_slice()).await.is_err());
    }
}
