//! The keys that say how Rafka is watched: its HTTP listener (`/metrics`, `/healthz`,
//! `/readyz`, the status page at `/`) and its own logs. None of these exists in Kafka
//! (whose metrics are JMX beans), so the names are Rafka's, in Kafka's style.

use std::net::SocketAddr;

use super::{invalid, parse_listener, parse_num, ConfigError};

/// The HTTP listener's default port: next to the text listener's 9192.
pub const DEFAULT_HTTP_PORT: u16 = 9193;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing's human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// `http.listener`, `log.level`, `log.format`, `log.slow.request.ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserveConfig {
    /// `http.listener` (`host:port`; empty: none). Default `127.0.0.1:9193`, loopback
    /// only: metrics and the status page show topic and group names.
    pub http_listener: Option<SocketAddr>,
    /// Whether `http.listener` was given. The default address is taken only if free (a
    /// second broker on one machine logs a warning and serves no HTTP); an address that
    /// was asked for and cannot be bound stops the start, as any listener's.
    pub http_listener_set: bool,
    /// `log.level`: a tracing filter (`info`, `debug`, `info,rafka::kafka=debug`); the
    /// `RUST_LOG` environment variable wins over it.
    pub log_level: Option<String>,
    /// `log.format`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `log.slow.request.ms`: a Kafka request whose handling took longer is logged at
    /// warn with its API, version, client and correlation id; 0 turns it off. Requests
    /// that wait by design (a Fetch's `max.wait.ms`, a JoinGroup's rebalance) count only
    /// the time past their wait.
    pub slow_request_ms: u64,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        ObserveConfig {
            http_listener: Some(SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT))),
            http_listener_set: false,
            log_level: None,
            log_format: LogFormat::Text,
            slow_request_ms: 2_000,
        }
    }
}

impl ObserveConfig {
    /// Applies one key if it is one of these; `Ok(false)` for any other key.
    pub(super) fn apply(&mut self, k: &str, v: &str) -> Result<bool, ConfigError> {
        match k {
            "http.listener" => {
                self.http_listener_set = true;
                self.http_listener = if v.trim().is_empty() {
                    None
                } else {
                    Some(parse_listener(k, v)?)
                };
            }
            "log.level" => {
                let v = v.trim();
                self.log_level = (!v.is_empty()).then(|| v.to_string());
            }
            "log.format" => {
                self.log_format = match v.trim() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid(k, v, "expected text or json")),
                }
            }
            "log.slow.request.ms" => self.slow_request_ms = parse_num(k, v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}
