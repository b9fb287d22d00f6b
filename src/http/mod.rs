//! The HTTP listener (`http.listener`, default `127.0.0.1:9193`): `/metrics`,
//! `/healthz`, `/readyz` and the status page at `/`, for orchestrators and for people.
//!
//! It is bound before the logs are recovered, so `/healthz` answers (the process is up)
//! while `/readyz` says 503 and why, until [`Readiness`] has every piece: the broker open
//! (recovery done), its Kafka and text listeners serving, and in a KRaft cluster the
//! metadata caught up and published. `/metrics` and `/` need the open broker (503 before).
//!
//! One task per connection (HTTP/1.1 with keep-alive, hyper), at most
//! [`MAX_CONNECTIONS`] at once; GET and HEAD only; request headers bounded
//! ([`MAX_HEADER_BYTES`]: larger gets 431) and read within [`READ_TIMEOUT`], request
//! bodies never read (a request announcing one is answered, then the connection closed),
//! so a slow or silent client holds one task for a while, never the broker. This module reads the broker and
//! writes nothing to it.
//!
//! What it does not own: the metrics themselves ([`crate::metrics`]), the overview it
//! renders (the broker's), binding and stopping (the server's, [`crate::server`]).

mod page;
mod sampler;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, debug_span, warn, Instrument};

use crate::broker::Broker;
pub use sampler::{Sampler, SAMPLES, SAMPLE_EVERY};

/// How long a client has to send a request's headers (also how long an idle keep-alive
/// connection is kept).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (request line and headers) read; hyper's buffer floor is
/// 8 KiB. Larger: 431 and the connection closed.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// HTTP connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 64;

const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
/// What `prometheus-client` writes: OpenMetrics text, ending `# EOF`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Prometheus' classic text format, for a body without the OpenMetrics `# EOF`.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/readyz` looks at; the server fills it in as the start goes on.
#[derive(Debug)]
pub struct Readiness {
    /// Set once the logs are recovered and the broker is open.
    broker: OnceLock<Arc<Broker>>,
    /// The Kafka and text listeners accept.
    serving: AtomicBool,
    /// A KRaft broker must catch up with the metadata before it is ready.
    needs_metadata: bool,
    /// The lifecycle's "caught up and published" flag, once it has started.
    metadata: OnceLock<watch::Receiver<bool>>,
    /// Shutdown has begun.
    stopping: AtomicBool,
    /// Throughput samples for the status page's sparklines.
    sampler: Sampler,
}

impl Readiness {
    /// `needs_metadata`: the node is a broker of a KRaft cluster.
    pub fn new(needs_metadata: bool) -> Self {
        Readiness {
            broker: OnceLock::new(),
            serving: AtomicBool::new(false),
            needs_metadata,
            metadata: OnceLock::new(),
            stopping: AtomicBool::new(false),
            sampler: Sampler::new(),
        }
    }

    /// The broker is open (its logs recovered).
    pub fn set_broker(&self, broker: &Arc<Broker>) {
        if self.broker.set(Arc::clone(broker)).is_ok() {
            // the sparklines' first point: the totals at open
            self.sampler.record(broker.metrics().totals());
        }
    }

    /// The Kafka and text listeners are accepting.
    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    /// The broker's metadata signal (true once caught up and published).
    pub fn set_metadata(&self, published: watch::Receiver<bool>) {
        let _ = self.metadata.set(published);
    }

    /// Shutdown has begun: not ready any more.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.get()
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), &'static str> {
        why_not(
            self.stopping.load(Ordering::Acquire),
            self.broker.get().is_some(),
            self.serving.load(Ordering::Acquire),
            self.needs_metadata
                .then(|| self.metadata.get().map(|rx| *rx.borrow())),
        )
    }
}

/// Readiness from its pieces: `metadata` is `None` when not needed, `Some(None)` before
/// the lifecycle started, `Some(Some(published))` after.
fn why_not(
    stopping: bool,
    opened: bool,
    serving: bool,
    metadata: Option<Option<bool>>,
) -> Result<(), &'static str> {
    if stopping {
        return Err("shutting down");
    }
    if !opened {
        return Err("recovering the logs");
    }
    if !serving {
        return Err("listeners not serving yet");
    }
    match metadata {
        Some(None) => Err("not registered with the controller yet"),
        Some(Some(false)) => Err("catching up with the cluster metadata"),
        None | Some(Some(true)) => Ok(()),
    }
}

/// Serves HTTP on `listener` until `shutdown` turns true or its sender is dropped; then
/// every open HTTP connection is dropped with the task. Samples the throughput for the
/// sparklines every [`SAMPLE_EVERY`] meanwhile.
pub fn spawn(
    listener: TcpListener,
    state: Arc<Readiness>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        if connections.len() >= MAX_CONNECTIONS {
                            warn!(%peer, limit = MAX_CONNECTIONS, "too many HTTP connections; closing the new one");
                            continue;
                        }
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve_connection(stream, peer, Arc::clone(&state)));
                    }
                    Err(e) => {
                        warn!(cause = %e, "failed to accept an HTTP connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = tick.tick() => {
                    if let Some(b) = state.broker() {
                        state.sampler.record(b.metrics().totals());
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        debug!(
            connections = connections.len(),
            "HTTP listener stopped; closing its connections"
        );
    })
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, state: Arc<Readiness>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move {
            let mut r = respond(&state, &req).await;
            // no request here has a body, and none is read: one announced ends the
            // connection after the answer, so a client trickling a body holds nothing
            if !req.body().is_end_stream() {
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(r)
        }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .instrument(debug_span!("http", %peer))
        .await;
    if let Err(e) = served {
        debug!(%peer, cause = %e, "HTTP connection ended with an error");
    }
}

/// The answer to one request.
async fn respond<B>(state: &Readiness, req: &Request<B>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
        "/readyz" => match state.check() {
            Ok(()) => reply(StatusCode::OK, TEXT, "ready\n"),
            Err(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => match state.broker() {
            Some(b) => {
                let b = Arc::clone(b);
                match tokio::task::spawn_blocking(move || crate::metrics::render(&b)).await {
                    Ok(body) => {
                        let kind = if body.trim_end().ends_with("# EOF") {
                            OPENMETRICS
                        } else {
                            PROMETHEUS_TEXT
                        };
                        reply(StatusCode::OK, kind, body)
                    }
                    Err(e) => internal(e),
                }
            }
            None => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "not ready: recovering the logs\n",
            ),
        },
        "/" => match state.broker() {
            Some(b) => {
                let b = Arc::clone(b);
                let rates = state.sampler.rates();
                let ready = state.check().err();
                let built = tokio::task::spawn_blocking(move || {
                    page::render(&crate::broker::overview::Overview::of(&b), &rates, ready)
                })
                .await;
                match built {
                    Ok(html) => reply(StatusCode::OK, HTML, html),
                    Err(e) => internal(e),
                }
            }
            None => reply(StatusCode::SERVICE_UNAVAILABLE, HTML, page::starting()),
        },
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found\n"),
    }
}

fn internal(e: tokio::task::JoinError) -> Response<Full<Bytes>> {
    warn!(cause = %e, "an HTTP handler failed");
    reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, "internal error\n")
}

fn reply(status: StatusCode, kind: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_says_what_is_missing_first() {
        assert_eq!(
            why_not(false, false, false, None),
            Err("recovering the logs")
        );
        assert_eq!(
            why_not(false, true, false, None),
            Err("listeners not serving yet")
        );
        assert_eq!(why_not(false, true, true, None), Ok(()));
        assert_eq!(why_not(true, true, true, None), Err("shutting down"));
    }

    #[test]
    fn a_kraft_broker_is_ready_once_its_metadata_is_published() {
        let not_yet = Err("not registered with the controller yet");
        assert_eq!(why_not(false, true, true, Some(None)), not_yet);
        let behind = Err("catching up with the cluster metadata");
        assert_eq!(why_not(false, true, true, Some(Some(false))), behind);
        assert_eq!(why_not(false, true, true, Some(Some(true))), Ok(()));
    }

    #[test]
    fn a_fresh_readiness_is_not_ready() {
        let r = Readiness::new(true);
        assert_eq!(r.check(), Err("recovering the logs"));
        r.set_stopping();
        assert_eq!(r.check(), Err("shutting down"));
    }
}
