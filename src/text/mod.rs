//! The line-based text protocol (`docs/text-protocol.md`): one command per line, one reply
//! per command, for humans with `nc` and for scripts. It is a second front door to the
//! same [`Broker`]: a record produced here is an ordinary v2 batch that Kafka clients
//! fetch, and CONSUME decodes whatever Kafka clients wrote (compressed or not).
//!
//! Shaped like tokio-rs/mini-redis: this file owns a connection (bounded line reading,
//! writing replies, shutdown); [`command`] parses a line into a [`Command`] (pure);
//! [`cmd`] applies each command to the broker; [`escape`] prints keys and values on one
//! line; [`partitioner`] is Kafka's murmur2 key partitioner. It does not own topics or
//! logs (the broker does) nor listeners or connection limits (`server` does).
//!
//! Memory per connection is bounded: a line is read in chunks into a buffer of at most
//! [`MAX_LINE_BYTES`]; a longer line is discarded to its end and answered with
//! `ERR MESSAGE_TOO_LARGE`, and the connection stays usable. Commands on one connection
//! run one at a time, in order; replies are flushed when no further input is buffered.
//!
//! Time per connection is bounded as on the Kafka port: a connection that sends nothing
//! for `connections.max.idle.ms` is closed, and so is one whose line, once its first byte
//! has arrived, is not complete within `socket.request.receive.timeout.ms`.

pub mod cmd;
pub mod command;
pub mod error;
pub mod escape;
pub mod partitioner;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};

use tokio::sync::watch;
use tracing::{debug, error, info_span, warn, Instrument};

use crate::broker::Broker;
pub use command::Command;
pub use error::TextError;

/// The longest line accepted, without its `\n` or `\r\n` (1 MiB).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// State shared by every text connection of one broker.
#[derive(Debug)]
pub struct Context {
    broker: Arc<Broker>,
    /// Per topic: the next partition for an unkeyed record (Kafka's
    /// `RoundRobinPartitioner` keeps the same counter per topic).
    round_robin: Mutex<HashMap<String, usize>>,
}

impl Context {
    pub fn new(broker: Arc<Broker>) -> Self {
        Context {
            broker,
            round_robin: Mutex::new(HashMap::new()),
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The partition for the next unkeyed record of `topic` among `partitions`.
    fn next_round_robin(&self, topic: &str, partitions: usize) -> usize {
        let mut counters = self.round_robin.lock();
        let counter = counters.entry(topic.to_string()).or_insert(0);
        let next = *counter;
        *counter = counter.wrapping_add(1);
        next % partitions.max(1)
    }
}

/// Serves one text connection until the client quits or closes it, or shutdown.
/// `stream` is any async byte stream, ready to use (the server set `TCP_NODELAY`);
/// `peer` is its remote address, for the logs.
pub async fn serve<S>(
    ctx: Arc<Context>,
    stream: S,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = info_span!("text_connection", %peer);
    run(ctx, stream, shutdown).instrument(span).await
}

async fn run<S>(ctx: Arc<Context>, stream: S, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = ctx.broker.config();
    // open until the connection ends (`rafka_connections{listener="text"}`)
    let _open = ctx.broker.metrics().connection_opened("text");
    let idle = config.connections_max_idle_ms.map(Duration::from_millis);
    let receive_timeout = Duration::from_millis(config.request_receive_timeout_ms);
    let (rd, wr) = tokio::io::split(stream);
    let mut rd = BufReader::new(rd);
    let mut out = BufWriter::new(wr);
    let mut line = Vec::new();
    loop {
        // the first byte of the next line: as long as the connection may idle
        if rd.buffer().is_empty() {
            let first = async {
                match idle {
                    Some(idle) => tokio::time::timeout(idle, rd.fill_buf()).await.ok(),
                    None => Some(rd.fill_buf().await),
                }
            };
            let first = tokio::select! {
                r = first => r,
                _ = shutdown.changed() => break,
            };
            match first {
                None => {
                    debug!("idle connection closed (connections.max.idle.ms)");
                    break;
                }
                Some(Ok([])) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    debug!(cause = %e, "read failed");
                    break;
                }
            }
        }
        // then the whole line within the receive timeout
        let read = tokio::select! {
            r = tokio::time::timeout(receive_timeout, read_line(&mut rd, &mut line, MAX_LINE_BYTES)) => match r {
                Ok(r) => r,
                Err(_) => {
                    warn!(
                        timeout_ms = config.request_receive_timeout_ms,
                        "line not received in time (socket.request.receive.timeout.ms); closing connection"
                    );
                    break;
                }
            },
            _ = shutdown.changed() => break,
        };
        let reply = match read {
            Ok(Line::Complete) => match command::parse(&line) {
                Ok(None) => continue,
                Ok(Some(Command::Quit)) => {
                    let _ = out.write_all(b"BYE\n").await;
                    break;
                }
                Ok(Some(cmd)) => cmd::apply(&ctx, cmd).await,
                Err(e) => Err(e),
            },
            Ok(Line::TooLong) => Err(TextError::LineTooLong {
                limit: MAX_LINE_BYTES,
            }),
            Ok(Line::Eof) => break,
            Err(e) => {
                debug!(cause = %e, "read failed");
                break;
            }
        };
        let text = match reply {
            Ok(text) => text,
            Err(e) => {
                if e.is_internal() {
                    error!(cause = %e, "text command failed");
                } else {
                    debug!(cause = %e, "text command refused");
                }
                e.to_line()
            }
        };
        if out.write_all(text.as_bytes()).await.is_err() {
            break;
        }
        // pipelined commands are answered in one write
        if rd.buffer().is_empty() && out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.flush().await;
    let _ = out.into_inner().shutdown().await;
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line is in the buffer, without its `\n` or `\r\n`.
    Complete,
    /// The line was longer than the limit; it has been read and discarded to its `\n`.
    TooLong,
    /// The peer closed the connection. An unterminated last line is dropped: it may be a
    /// PRODUCE cut short, which must not append a truncated value.
    Eof,
}

/// Reads one line into `buf` (cleared first), never holding more than `limit + 1` bytes
/// of it (the `+ 1` leaves room for the `\r` of a `\r\n`).
///
/// Cancel safety: not cancel safe across calls mid-line (a partial line is lost), which is
/// fine for shutdown, the only thing that cancels it.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = rd.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match available.split(|&b| b == b'\n').next() {
            Some(line) if line.len() < available.len() => (line, true),
            _ => (available, false),
        };
        if !too_long {
            if buf.len() + chunk.len() > limit + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(done);
        rd.consume(used);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.len() > limit {
                buf.clear();
                return Ok(Line::TooLong);
            }
            return Ok(Line::Complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: usize) -> Vec<Result<String, Line>> {
        let mut rd = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut rd, &mut buf, limit).await.expect("reads") {
                Line::Complete => out.push(Ok(String::from_utf8_lossy(&buf).into_owned())),
                Line::Eof => return out,
                other => out.push(Err(other)),
            }
        }
    }

    #[tokio::test]
    async fn lines_split_on_lf_and_crlf_in_any_chunking() {
        let got = lines(b"one\r\ntwo\n\nthree four\r\nunterminated", 100).await;
        assert_eq!(
            got,
            vec![
                Ok("one".into()),
                Ok("two".into()),
                Ok("".into()),
                Ok("three four".into())
            ]
        );
    }

    #[tokio::test]
    async fn long_lines_are_discarded_and_reading_goes_on() {
        let got = lines(b"12345\n123456\n1234567\r\n12345\r\n123456\r\nok\n", 6).await;
        assert_eq!(
            got,
            vec![
                Ok("12345".into()),
                Ok("123456".into()),
                Err(Line::TooLong),
                Ok("12345".into()),
                Ok("123456".into()),
                Ok("ok".into())
            ]
        );
        let got = lines(b"1234567\r\n", 6).await;
        assert_eq!(got, vec![Err(Line::TooLong)]);
        let got = lines(b"123456\r\r\n", 6).await;
        assert_eq!(got, vec![Err(Line::TooLong)]);
    }
}
