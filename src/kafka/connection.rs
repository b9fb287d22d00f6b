//! One Kafka connection: a reader that parses frames and starts requests one at a time in
//! arrival order (as Kafka does: clients rely on it to keep pipelined batches in order),
//! and a writer that sends the responses strictly in request order. Clients pipeline (Java
//! up to 5, librdkafka more): up to `max_in_flight_per_connection` responses may be
//! pending (produce requests waiting for their fsync); past that the reader stops reading.
//! It also stops (the connection is muted, as Kafka mutes a channel until its response is
//! sent) while more than [`QUEUED_RESPONSE_BYTES`] of responses wait to be sent, so a
//! client that pipelines fetches and reads nothing holds about one response, not 64.
//! A long-polling fetch holds up only its own connection.
//!
//! Hostile or vanished peers are not waited for:
//!
//! - While a request runs (a fetch may wait up to its `max_wait_ms`, 24.8 days at most),
//!   the reader reads ahead (up to 64 KiB): a peer that closes ends the connection, and
//!   the request is dropped, at once. So is a waiting fetch at shutdown.
//! - `connections.max.idle.ms`: nothing read or written for that long closes the
//!   connection, whatever its requests wait for (as Kafka's selector does).
//! - `socket.request.receive.timeout.ms`: once a request's first byte has arrived, the
//!   whole frame must arrive within it.
//!
//! Every request goes through [`route::serve`] with its [`RequestContext`]. Responses come
//! back as [`Frame`]s of parts: in-memory chunks, written with vectored writes, and for a
//! Fetch, record sections still in their segment files ([`FileRange`]s). How those are
//! sent depends on the stream ([`ResponseWriter`]):
//!
//! - a plaintext `TcpStream` ([`serve_tcp`]): `sendfile` from the segment file to the
//!   socket (rustix's safe wrapper), so fetched bytes never enter user space;
//! - any other stream ([`serve`]: a TLS connection, whose bytes are encrypted in user
//!   space): the range is read into a pooled buffer and written, the copy path.
//!
//! A connection knows the listener it came in on ([`ListenerConfig`]: name, security
//! protocol, advertised endpoint) for the request route to use. On a SASL listener its
//! [`Authenticator`] sees every frame first: it answers the SASL handshake and
//! authentication itself, and lets requests through to the route as the authenticated
//! principal.
//!
//! A frame that cannot be served (bad size, unknown API, unsupported version, malformed
//! body) closes this connection after the responses before it are written, with a log
//! line; the broker and every other connection carry on. A panicking handler is caught by
//! its task and treated the same way.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
// Tokio's clock, so that a test with paused time sees idle timeouts as it should
use tokio::time::Instant;
use tracing::{debug, debug_span, error, info, info_span, warn, Instrument};

use super::answer::Outcome;
use super::codec::{self, Frame, Part};
use super::context::{KafkaPrincipal, RequestContext};
use super::route;
use super::sasl::{Authenticator, Verdict};
use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::log::FileRange;
use crate::metrics::RequestTimer;

/// Serves one connection until the client closes it, it misbehaves, or shutdown.
/// `stream` is ready to use (the server set `TCP_NODELAY`, a TLS handshake is done);
/// `peer` is its remote address; `listener` is the listener it was accepted on;
/// `principal` is who the stream authenticated (`User:ANONYMOUS` if nobody). Fetched
/// record sections still in their segment files are read and written (the copy path), as
/// any stream can take them: a plaintext TCP connection is better served by [`serve_tcp`].
pub async fn serve<S>(
    broker: Arc<Broker>,
    stream: S,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    principal: KafkaPrincipal,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = info_span!("connection", %peer, listener = %listener.name);
    let (rd, wr) = tokio::io::split(stream);
    run(broker, rd, wr, peer, listener, principal, shutdown)
        .instrument(span)
        .await
}

/// [`serve`] for a plaintext TCP connection: fetched record sections still in their
/// segment files go from the file to the socket with `sendfile`, never through user space.
pub async fn serve_tcp(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("connection", %peer, listener = %listener.name);
    let (rd, wr) = stream.into_split();
    let principal = KafkaPrincipal::anonymous();
    run(broker, rd, wr, peer, listener, principal, shutdown)
        .instrument(span)
        .await
}

/// The write side of a connection, and how it sends a record section that is still in
/// its segment file.
pub trait ResponseWriter: AsyncWrite + Unpin + Send + Sized + 'static {
    /// Sends `range` after everything written to `out` so far.
    fn send_file(
        out: &mut BufWriter<Self>,
        range: &FileRange,
    ) -> impl Future<Output = io::Result<()>> + Send;
}

/// Any stream (TLS later): the copy path. The range is read into a pooled buffer (a
/// `pread`, as the log's own reads) and written like any other chunk.
impl<S: AsyncRead + AsyncWrite + Send + 'static> ResponseWriter for WriteHalf<S> {
    async fn send_file(out: &mut BufWriter<Self>, range: &FileRange) -> io::Result<()> {
        let bytes = range.read().map_err(io::Error::other)?;
        out.write_all(&bytes).await
    }
}

/// A plaintext TCP connection: `sendfile` from the segment file to the socket.
impl ResponseWriter for OwnedWriteHalf {
    #[cfg(target_os = "linux")]
    async fn send_file(out: &mut BufWriter<Self>, range: &FileRange) -> io::Result<()> {
        // what is buffered goes first, then the file's bytes straight from the page cache
        out.flush().await?;
        let stream: &TcpStream = out.get_ref().as_ref();
        send_file(stream, range).await
    }

    /// No `sendfile` wrapper off Linux: the copy path.
    #[cfg(not(target_os = "linux"))]
    async fn send_file(out: &mut BufWriter<Self>, range: &FileRange) -> io::Result<()> {
        let bytes = range.read().map_err(io::Error::other)?;
        out.write_all(&bytes).await
    }
}

/// Sends the whole range with `sendfile`, as the socket takes it: waits until it is
/// writable, sends what it accepts (a partial send advances `offset`), and again until
/// the range is sent. The range only covers whole, checked batches below the segment's
/// size; a file cut short under it (truncation) ends the send with an error, which
/// closes the connection mid-frame: there is no way to finish that response.
#[cfg(target_os = "linux")]
async fn send_file(stream: &TcpStream, range: &FileRange) -> io::Result<()> {
    use tokio::io::Interest;
    let mut offset = range.position();
    let end = offset + range.len() as u64;
    while offset < end {
        let count = usize::try_from(end - offset).unwrap_or(usize::MAX);
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, range.file(), Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                warn!(path = %range.path().display(), offset, end, "segment file cut short under a fetch; closing connection");
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Most response bytes a connection may have waiting to be sent before it stops reading
/// requests (Kafka mutes a connection until its response is sent): memory per connection
/// stays within this, one response (at most `fetch.max.bytes` of records) and one request.
/// Small pipelined responses (a producer's acks) never reach it.
pub const QUEUED_RESPONSE_BYTES: usize = 1 << 20;

/// Bytes read ahead of the request being served, so that a peer that closes while its
/// request waits (a long-polling fetch) is seen at once. Past this the connection stops
/// reading until the request is done.
const READ_AHEAD: usize = 64 * 1024;

/// What the reader and the writer of one connection share.
struct Shared {
    /// When the connection last read or wrote, in ms since `epoch`.
    last_activity_ms: AtomicU64,
    epoch: Instant,
    /// Bytes of responses handed to the writer and not yet written.
    queued_bytes: AtomicUsize,
    /// Signalled by the writer after each response it wrote.
    written: Notify,
}

impl Shared {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last_activity(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }
}

/// Why the reader stopped.
#[derive(Debug)]
enum Stop {
    /// The peer closed (or reset) the connection: nothing more can be sent to it.
    PeerGone,
    /// Nothing read or written for `connections.max.idle.ms`.
    Idle,
    /// A request's bytes did not all arrive in time.
    ReceiveTimeout,
    /// Shutdown, a bad frame, or a request with no answer: finish what is in flight.
    Finish,
}

/// The read side: the read-ahead buffer and the deadlines.
struct Reader<R> {
    rd: R,
    buf: BytesMut,
    shared: Arc<Shared>,
    idle: Option<Duration>,
    receive_timeout: Duration,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads more into the buffer, at most `limit` bytes in it. `Err(PeerGone)` on EOF or
    /// an error. Cancel safe: bytes read are in the buffer.
    async fn fill(&mut self, limit: usize) -> Result<(), Stop> {
        let room = limit.saturating_sub(self.buf.len());
        if room == 0 {
            return std::future::pending().await;
        }
        self.buf.reserve(room.min(READ_AHEAD));
        match (&mut self.rd)
            .take(room as u64)
            .read_buf(&mut self.buf)
            .await
        {
            Ok(0) | Err(_) => Err(Stop::PeerGone),
            Ok(_) => {
                self.shared.touch();
                Ok(())
            }
        }
    }

    /// Watches the peer while a request is in progress: reads ahead (up to
    /// [`READ_AHEAD`]) and returns only when the peer is gone or the connection idled out.
    async fn watch(&mut self) -> Stop {
        let (shared, idle) = (Arc::clone(&self.shared), self.idle);
        loop {
            tokio::select! {
                r = self.fill(READ_AHEAD) => if let Err(stop) = r { return stop },
                stop = idle_expired(&shared, idle) => return stop,
            }
        }
    }

    /// The next frame (its size prefix removed), reading as needed.
    async fn next_frame(&mut self, max: usize) -> Result<Bytes, Stop> {
        // the first byte: wait as long as the connection may idle
        let (shared, idle) = (Arc::clone(&self.shared), self.idle);
        while self.buf.is_empty() {
            tokio::select! {
                r = self.fill(READ_AHEAD) => r?,
                stop = idle_expired(&shared, idle) => return Err(stop),
            }
        }
        // then the whole frame within the receive timeout
        let deadline = Instant::now() + self.receive_timeout;
        let result = tokio::time::timeout_at(deadline, async {
            while self.buf.len() < 4 {
                self.fill(4).await?;
            }
            let prefix: [u8; 4] = self
                .buf
                .get(..4)
                .and_then(|p| p.try_into().ok())
                .ok_or(Stop::Finish)?;
            let size = match codec::check_size(prefix, max) {
                Ok(size) => size,
                Err(e) => {
                    warn!(cause = %e, "closing connection");
                    return Err(Stop::Finish);
                }
            };
            let whole = 4 + size;
            // only this frame's bytes: `fill` never reads past `whole`
            self.buf.reserve(whole.saturating_sub(self.buf.len()));
            while self.buf.len() < whole {
                self.fill(whole)
                    .await
                    .inspect_err(|_| debug!("connection closed mid-frame"))?;
            }
            let mut frame = self.buf.split_to(whole);
            let _ = frame.split_to(4);
            Ok(frame.freeze())
        })
        .await;
        match result {
            Ok(frame) => frame,
            Err(_) => {
                warn!(
                    timeout_ms = self.receive_timeout.as_millis() as u64,
                    "request not received in time (socket.request.receive.timeout.ms); closing connection"
                );
                Err(Stop::ReceiveTimeout)
            }
        }
    }
}

/// Resolves once the connection has read and written nothing for `idle` (never if
/// `None`).
async fn idle_expired(shared: &Shared, idle: Option<Duration>) -> Stop {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        let due = shared.last_activity() + idle;
        if Instant::now() >= due {
            debug!(
                idle_ms = idle.as_millis() as u64,
                "idle connection closed (connections.max.idle.ms)"
            );
            return Stop::Idle;
        }
        tokio::time::sleep_until(due).await;
    }
}

async fn run<R, W>(
    broker: Arc<Broker>,
    rd: R,
    wr: W,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    principal: KafkaPrincipal,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: ResponseWriter,
{
    let config = broker.config();
    let max = config.socket_request_max_bytes;
    let (tx, rx) = mpsc::channel::<Pending>(config.max_in_flight_per_connection.max(1));
    // open until this function returns: the connection's reader is the connection
    let _open = broker.metrics().connection_opened(&listener.name);
    let shared = Arc::new(Shared {
        last_activity_ms: AtomicU64::new(0),
        epoch: Instant::now(),
        queued_bytes: AtomicUsize::new(0),
        written: Notify::new(),
    });
    let mut reader = Reader {
        rd,
        buf: BytesMut::new(),
        shared: Arc::clone(&shared),
        idle: config.connections_max_idle_ms.map(Duration::from_millis),
        receive_timeout: Duration::from_millis(config.request_receive_timeout_ms),
    };
    let mut principal = Arc::new(principal);
    let mut auth = listener.sasl.clone().map(|sasl| {
        let credentials: Arc<dyn crate::security::ScramCredentials> =
            broker.local_metadata().clone();
        Authenticator::new(sasl, credentials)
    });
    let writer = tokio::spawn(
        write_responses(wr, rx, Arc::clone(&shared), Arc::clone(&broker)).in_current_span(),
    );
    let stop = 'connection: loop {
        let frame_max = auth.as_ref().map_or(max, |a| a.max_frame(max));
        let frame = tokio::select! {
            r = reader.next_frame(frame_max) => match r {
                Ok(frame) => frame,
                Err(stop) => break stop,
            },
            _ = shutdown.changed() => break Stop::Finish,
            _ = tx.closed() => break Stop::PeerGone,
        };
        // what the frame gets: the authenticator's own answer, or the route's; `last`: the
        // connection closes after it
        let (out, timer, client_id, last) = 'frame: {
            // after a SaslHandshake v0 the client sends its SASL tokens bare, not as requests
            if let Some(a) = auth.as_mut().filter(|a| a.wants_bare_token()) {
                let verdict = a.bare_token(&frame, Instant::now());
                // counted as what it stands for: a SaslAuthenticate v0
                let timer = broker
                    .metrics()
                    .requests()
                    .received(ApiKey::SaslAuthenticate, 0, -1);
                match sasl_outcome(verdict, &mut shutdown).await {
                    Ok((out, last)) => break 'frame (out, timer, None, last),
                    Err(stop) => break 'connection stop,
                }
            }
            let req = match codec::parse_request(frame) {
                Ok(req) => req,
                Err(e) => {
                    warn!(cause = %e, "closing connection");
                    break 'connection Stop::Finish;
                }
            };
            if let Some(a) = auth.as_mut() {
                match a.request(&req, Instant::now()) {
                    Verdict::Route(p) => principal = p,
                    verdict => {
                        let timer = broker.metrics().requests().received(
                            req.api_key,
                            req.api_version,
                            req.correlation_id,
                        );
                        match sasl_outcome(verdict, &mut shutdown).await {
                            Ok((out, last)) => break 'frame (out, timer, req.client_id, last),
                            Err(stop) => break 'connection stop,
                        }
                    }
                }
            }
            let span = debug_span!(
                "request",
                api = ?req.api_key,
                version = req.api_version,
                correlation_id = req.correlation_id,
                client_id = req.client_id.as_deref().unwrap_or("")
            );
            // a fetch only reads: at shutdown it is dropped rather than waited for
            let is_fetch = req.api_key == ApiKey::Fetch;
            let timer = broker.metrics().requests().received(
                req.api_key,
                req.api_version,
                req.correlation_id,
            );
            let client_id = req.client_id.clone();
            let ctx = RequestContext {
                api_key: req.api_key,
                api_version: req.api_version,
                correlation_id: req.correlation_id,
                client_id: req.client_id,
                peer: Some(peer),
                listener: Arc::clone(&listener),
                principal: Arc::clone(&principal),
            };
            // while the request runs (a fetch may wait minutes for data), the peer is
            // watched: one that leaves frees the connection and what the request holds at once
            let out = tokio::select! {
                out = route::serve(Arc::clone(&broker), ctx, req.body).instrument(span) => out,
                stop = reader.watch() => break 'connection stop,
                _ = shutdown.changed(), if is_fetch => break 'connection Stop::Finish,
            };
            // after a request that gets no answer, the connection closes: read and run
            // nothing more (a client retries what it sent after it; running it would
            // duplicate it)
            let failed = matches!(out, Outcome::Ready(Err(_)));
            (out, timer, client_id, failed)
        };
        let bytes = match &out {
            Outcome::Ready(Ok(Some(frame))) => frame.len(),
            _ => 0,
        };
        shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        tokio::select! {
            r = tx.send(Pending { out, bytes, timer, client_id }) => if r.is_err() { break Stop::PeerGone },
            stop = reader.watch() => break stop,
        }
        if last {
            break Stop::Finish;
        }
        // muted (no request is read) while too many response bytes wait to be sent
        while shared.queued_bytes.load(Ordering::Acquire) > QUEUED_RESPONSE_BYTES {
            tokio::select! {
                _ = shared.written.notified() => {}
                stop = reader.watch() => break 'connection stop,
                _ = tx.closed() => break 'connection Stop::PeerGone,
                _ = shutdown.changed() => break 'connection Stop::Finish,
            }
        }
    };
    finish(stop, tx, writer, &reader).await
}

/// What the connection sends for a frame the authenticator answered itself, and whether
/// the connection closes after it. A failed authentication waits `delay` first (Kafka
/// delays the close: a client guessing passwords gets one guess per delay); a close
/// without an answer is `Err`.
async fn sasl_outcome(
    verdict: Verdict,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(Outcome, bool), Stop> {
    match verdict {
        // (never asked for: the caller routes those)
        Verdict::Route(_) => Ok((Outcome::Ready(Ok(None)), false)),
        Verdict::Answer(frame) => Ok((Outcome::Ready(Ok(Some(Frame::from(frame)))), false)),
        Verdict::Close(reason) => {
            info!(%reason, "closing the connection (SASL)");
            Err(Stop::Finish)
        }
        Verdict::Fail {
            answer,
            reason,
            delay,
        } => {
            info!(%reason, "failed authentication; closing the connection");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return Err(Stop::Finish),
            }
            Ok((Outcome::Ready(Ok(answer.map(Frame::from))), true))
        }
    }
}

/// Ends a connection: after shutdown or a bad frame the writer finishes what is in flight,
/// unless it makes no progress for `connections.max.idle.ms` (a peer that reads nothing
/// would otherwise hold the connection for ever); when the peer is gone or the connection
/// timed out, it is stopped at once.
async fn finish<T, R>(
    stop: Stop,
    tx: mpsc::Sender<T>,
    mut writer: JoinHandle<()>,
    reader: &Reader<R>,
) {
    drop(tx); // the writer finishes what is in flight, then stops
    match stop {
        Stop::Finish => tokio::select! {
            _ = &mut writer => return,
            _ = idle_expired(&reader.shared, reader.idle) => writer.abort(),
        },
        Stop::PeerGone | Stop::Idle | Stop::ReceiveTimeout => writer.abort(),
    }
    let _ = writer.await;
}

/// Writes one frame: runs of in-memory chunks with vectored writes (small ones gather in
/// the buffer, large ones go straight out), file ranges as the stream sends them.
async fn write_frame<W: ResponseWriter>(out: &mut BufWriter<W>, frame: Frame) -> io::Result<()> {
    for part in frame.into_parts() {
        match part {
            Part::Bytes(mut run) => out.write_all_buf(&mut run).await?,
            Part::File(range) => W::send_file(out, &range).await?,
        }
    }
    Ok(())
}

/// A request handed to the writer: its outcome, the bytes it queues, and what its metrics
/// and the slow-request log need.
struct Pending {
    out: Outcome,
    bytes: usize,
    timer: RequestTimer,
    client_id: Option<StrBytes>,
}

/// Requests that wait by design, left out of the slow-request log: a Fetch waits up to its
/// `max_wait_ms` for data, a JoinGroup or SyncGroup for the group's rebalance. Their
/// latency is in the histogram all the same.
fn waits_by_design(api: ApiKey) -> bool {
    matches!(api, ApiKey::Fetch | ApiKey::JoinGroup | ApiKey::SyncGroup)
}

/// Counts a request done (`failed`: it got no response) and logs it if slow.
fn request_done(broker: &Broker, slow: Option<Duration>, p: &Pending, failed: bool) {
    let took = broker.metrics().requests().finished(&p.timer, failed);
    if slow.is_some_and(|slow| took > slow) && !waits_by_design(p.timer.api) {
        warn!(
            api = ?p.timer.api,
            version = p.timer.version,
            correlation_id = p.timer.correlation_id,
            client_id = p.client_id.as_deref().unwrap_or(""),
            took_ms = took.as_millis() as u64,
            "slow request (log.slow.request.ms)"
        );
    }
}

async fn write_responses<W: ResponseWriter>(
    wr: W,
    mut rx: mpsc::Receiver<Pending>,
    shared: Arc<Shared>,
    broker: Arc<Broker>,
) {
    let slow = Some(broker.config().observe.slow_request_ms)
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis);
    let mut out = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(mut pending) = rx.recv().await {
        let queued = pending.bytes;
        let next = std::mem::replace(&mut pending.out, Outcome::Ready(Ok(None)));
        let result: Result<Result<Option<Frame>, _>, _> = match next {
            Outcome::Ready(r) => Ok(r),
            Outcome::Deferred(task) => task.await,
        };
        match result {
            Ok(Ok(Some(frame))) => {
                if let Err(e) = write_frame(&mut out, frame).await {
                    debug!(cause = %e, "write failed; closing connection");
                    break;
                }
                shared.touch();
                request_done(&broker, slow, &pending, false);
            }
            Ok(Ok(None)) => request_done(&broker, slow, &pending, false), // acks=0 produce: no response
            Ok(Err(e)) => {
                request_done(&broker, slow, &pending, true);
                warn!(cause = %e, "closing connection");
                break;
            }
            Err(e) => {
                request_done(&broker, slow, &pending, true);
                error!(cause = %e, "request handler failed; closing connection");
                break;
            }
        }
        if rx.is_empty() && out.flush().await.is_err() {
            break;
        }
        // the frame is in the socket (or the buffer): the reader may read again
        shared.queued_bytes.fetch_sub(queued, Ordering::AcqRel);
        shared.written.notify_one();
    }
    let _ = out.flush().await;
    let _ = out.into_inner().shutdown().await;
}
