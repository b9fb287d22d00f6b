//! One Kafka connection: a reader that parses frames and starts requests one at a time in
//! arrival order (as Kafka does: clients rely on it to keep pipelined batches in order),
//! and a writer that sends the responses strictly in request order. Clients pipeline (Java
//! up to 5, librdkafka more): up to `max_in_flight_per_connection` responses may be
//! pending (produce requests waiting for their fsync); past that the reader stops reading,
//! so memory per connection stays bounded by that many requests of at most
//! `socket.request.max.bytes`. A long-polling fetch holds up only its own connection.
//!
//! Every request goes through [`route::serve`] with its [`RequestContext`]. Responses come
//! back as [`Frame`]s of chunks (a Fetch's record sections are the buffers the log read
//! them into), written with vectored writes, so fetched bytes are never copied in user
//! space.
//!
//! A connection is any async byte stream (a `TcpStream` today, set up by `server`; TLS or
//! SASL can wrap it later), and knows the listener it came in on ([`ListenerConfig`]:
//! name, security protocol, advertised endpoint) for the request route to use.
//!
//! A frame that cannot be served (bad size, unknown API, unsupported version, malformed
//! body) closes this connection after the responses before it are written, with a log
//! line; the broker and every other connection carry on. A panicking handler is caught by
//! its task and treated the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, watch};
use tracing::{debug, debug_span, error, info_span, warn, Instrument};

use super::answer::Outcome;
use super::codec::{self, Frame};
use super::context::{KafkaPrincipal, RequestContext};
use super::route;
use crate::broker::Broker;
use crate::config::ListenerConfig;

/// Serves one connection until the client closes it, it misbehaves, or shutdown.
/// `stream` is ready to use (the server set `TCP_NODELAY`); `peer` is its remote address;
/// `listener` is the listener it was accepted on.
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
    run(broker, stream, peer, listener, shutdown)
        .instrument(span)
        .await
}

async fn run<S>(
    broker: Arc<Broker>,
    stream: S,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
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

async fn write_responses<W: AsyncWrite + Unpin>(wr: W, mut rx: mpsc::Receiver<Outcome>) {
    let mut out = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(next) = rx.recv().await {
        let result: Result<Result<Option<Frame>, _>, _> = match next {
            Outcome::Ready(r) => Ok(r),
            Outcome::Deferred(task) => task.await,
        };
        match result {
            // vectored: small chunks gather in the buffer, large ones go straight out
            Ok(Ok(Some(mut frame))) => {
                if out.write_all_buf(&mut frame).await.is_err() {
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
