//! One Kafka connection: a reader that parses frames and starts requests one at a time in
//! arrival order (as Kafka does: clients rely on it to keep pipelined batches in order),
//! and a writer that sends the responses strictly in request order. Clients pipeline (Java
//! up to 5, librdkafka more): up to `max_in_flight_per_connection` responses may be
//! pending (produce requests waiting for their fsync); past that the reader stops reading,
//! so memory per connection stays bounded by that many requests of at most
//! `socket.request.max.bytes`. A long-polling fetch holds up only its own connection.
//!
//! Every request goes through [`route::serve`] with its [`RequestContext`]. Responses come
//! back as [`Frame`]s of parts: in-memory chunks, written with vectored writes, and for a
//! Fetch, record sections still in their segment files ([`FileRange`]s). How those are
//! sent depends on the stream ([`ResponseWriter`]):
//!
//! - a plaintext `TcpStream` ([`serve_tcp`]): `sendfile` from the segment file to the
//!   socket (rustix's safe wrapper), so fetched bytes never enter user space;
//! - any other stream ([`serve`]: TLS or SASL can wrap a connection later, and TLS must
//!   encrypt the bytes in user space): the range is read into a pooled buffer and
//!   written, the copy path.
//!
//! A connection knows the listener it came in on ([`ListenerConfig`]: name, security
//! protocol, advertised endpoint) for the request route to use.
//!
//! A frame that cannot be served (bad size, unknown API, unsupported version, malformed
//! body) closes this connection after the responses before it are written, with a log
//! line; the broker and every other connection carry on. A panicking handler is caught by
//! its task and treated the same way.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, debug_span, error, info_span, warn, Instrument};

use super::answer::Outcome;
use super::codec::{self, Frame, Part};
use super::context::{KafkaPrincipal, RequestContext};
use super::route;
use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::log::FileRange;

/// Serves one connection until the client closes it, it misbehaves, or shutdown.
/// `stream` is ready to use (the server set `TCP_NODELAY`); `peer` is its remote address;
/// `listener` is the listener it was accepted on. Fetched record sections still in their
/// segment files are read and written (the copy path), as any stream can take them: a
/// plaintext TCP connection is better served by [`serve_tcp`].
pub async fn serve<S>(
    broker: Arc<Broker>,
    stream: S,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = info_span!("connection", %peer, listener = %listener.name);
    let (rd, wr) = tokio::io::split(stream);
    run(broker, rd, wr, peer, listener, shutdown)
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
    run(broker, rd, wr, peer, listener, shutdown)
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

async fn run<R, W>(
    broker: Arc<Broker>,
    mut rd: R,
    wr: W,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: ResponseWriter,
{
    let max = broker.config().socket_request_max_bytes;
    let (tx, rx) = mpsc::channel::<Outcome>(broker.config().max_in_flight_per_connection.max(1));
    let principal = Arc::new(KafkaPrincipal::anonymous());
    let writer = tokio::spawn(write_responses(wr, rx).in_current_span());
    loop {
        let mut prefix = [0u8; 4];
        tokio::select! {
            r = rd.read_exact(&mut prefix) => if r.is_err() { break },
            _ = shutdown.changed() => break,
            _ = tx.closed() => break,
        }
        let size = match codec::check_size(prefix, max) {
            Ok(size) => size,
            Err(e) => {
                warn!(cause = %e, "closing connection");
                break;
            }
        };
        let frame = tokio::select! {
            r = read_body(&mut rd, size) => match r {
                Ok(frame) => frame,
                Err(_) => {
                    debug!("connection closed mid-frame");
                    break;
                }
            },
            _ = shutdown.changed() => break,
        };
        let req = match codec::parse_request(frame) {
            Ok(req) => req,
            Err(e) => {
                warn!(cause = %e, "closing connection");
                break;
            }
        };
        let span = debug_span!(
            "request",
            api = ?req.api_key,
            version = req.api_version,
            correlation_id = req.correlation_id,
            client_id = req.client_id.as_deref().unwrap_or("")
        );
        let ctx = RequestContext {
            api_key: req.api_key,
            api_version: req.api_version,
            correlation_id: req.correlation_id,
            client_id: req.client_id,
            peer: Some(peer),
            listener: Arc::clone(&listener),
            principal: Arc::clone(&principal),
        };
        let out = route::serve(Arc::clone(&broker), ctx, req.body)
            .instrument(span)
            .await;
        // after a request that gets no answer, the connection closes: read and run nothing
        // more (a client retries what it sent after it; running it would duplicate it)
        let failed = matches!(out, Outcome::Ready(Err(_)));
        if tx.send(out).await.is_err() || failed {
            break;
        }
    }
    drop(tx); // the writer finishes what is in flight, then stops
    let _ = writer.await;
}

/// Reads a frame's `size` bytes (its size prefix already read). `read_buf` fills the
/// buffer's spare capacity, so the bytes are not zero-filled first (that was 29% of the
/// produce path's instructions with `vec![0; size]` + `read_exact`).
async fn read_body<R: AsyncRead + Unpin>(rd: &mut R, size: usize) -> std::io::Result<Bytes> {
    let mut frame = BytesMut::with_capacity(size);
    // `take`: never read past this frame, whatever spare capacity the buffer has
    let mut body = rd.take(size as u64);
    while frame.len() < size {
        if body.read_buf(&mut frame).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(frame.freeze())
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

async fn write_responses<W: ResponseWriter>(wr: W, mut rx: mpsc::Receiver<Outcome>) {
    let mut out = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(next) = rx.recv().await {
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
            }
            Ok(Ok(None)) => {} // acks=0 produce: no response
            Ok(Err(e)) => {
                warn!(cause = %e, "closing connection");
                break;
            }
            Err(e) => {
                error!(cause = %e, "request handler failed; closing connection");
                break;
            }
        }
        if rx.is_empty() && out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.flush().await;
    let _ = out.into_inner().shutdown().await;
}
