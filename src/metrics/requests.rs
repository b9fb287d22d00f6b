//! Per API and version: requests, failed requests, error codes and latency. A fixed
//! table made once from the route table, indexed by API key and version: counting a
//! request is two array lookups and relaxed atomic adds, no lock, no hash.
//!
//! What counts as an error ([`RequestStats::errors`]): a request that got no response
//! because it could not be served (malformed, unsupported, a failed handler: the
//! connection closes), and a Produce or Fetch whose response carries an error code for a
//! partition (or the whole request). Each such code is also counted by name
//! ([`RequestTable::error`], Kafka's `ErrorsPerSec{request, error}`). Other APIs' error
//! codes are not looked at (that would mean walking every response).
//!
//! Latency ([`RequestStats::latency`]) is from the request's frame being read to its
//! response being handed to the socket (Kafka's `TotalTimeMs`): a Fetch's long poll and
//! an acks=all Produce's wait for replicas are in it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;

use crate::error::ErrorCode;
use crate::log::stats::LatencyHistogram;

/// One API version's figures.
#[derive(Debug, Default)]
pub struct RequestStats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests that failed (see the module's doc).
    pub errors: AtomicU64,
    /// Time from the request read to its response sent.
    pub latency: LatencyHistogram,
}

/// Every routed API's figures, per version.
#[derive(Debug)]
pub struct RequestTable {
    /// Indexed by API key; `None` for keys Rafka does not route.
    by_key: Vec<Option<(ApiKey, Box<[RequestStats]>)>>,
    /// Error codes answered, per (API key, code). Errors are the rare path: a lock is fine.
    codes: Mutex<BTreeMap<(i16, i16), u64>>,
}

/// A request being served: when it was read, and what the slow-request log says of it.
#[derive(Debug)]
pub struct RequestTimer {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub started: Instant,
}

impl Default for RequestTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestTable {
    /// A table for every API and version of [`crate::kafka::route::ROUTES`].
    pub fn new() -> Self {
        let mut by_key: Vec<Option<(ApiKey, Box<[RequestStats]>)>> = Vec::new();
        for route in crate::kafka::route::ROUTES {
            let Ok(key) = usize::try_from(route.api as i16) else {
                continue;
            };
            let versions = usize::try_from(route.max).unwrap_or(0) + 1;
            if by_key.len() <= key {
                by_key.resize_with(key + 1, || None);
            }
            if let Some(slot) = by_key.get_mut(key) {
                *slot = Some((
                    route.api,
                    (0..versions).map(|_| Default::default()).collect(),
                ));
            }
        }
        RequestTable {
            by_key,
            codes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The figures of `api` at `version`, if routed.
    pub fn get(&self, api: ApiKey, version: i16) -> Option<&RequestStats> {
        let key = usize::try_from(api as i16).ok()?;
        let (_, versions) = self.by_key.get(key)?.as_ref()?;
        versions.get(usize::try_from(version).ok()?)
    }

    /// Counts a request read, and starts its timer.
    pub fn received(&self, api: ApiKey, version: i16, correlation_id: i32) -> RequestTimer {
        if let Some(s) = self.get(api, version) {
            s.requests.fetch_add(1, Ordering::Relaxed);
        }
        RequestTimer {
            api,
            version,
            correlation_id,
            started: Instant::now(),
        }
    }

    /// Ends a request's timer (its response is sent, or it failed): its latency.
    pub fn finished(&self, timer: &RequestTimer, failed: bool) -> Duration {
        let took = timer.started.elapsed();
        if let Some(s) = self.get(timer.api, timer.version) {
            s.latency.observe(took);
            if failed {
                s.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        took
    }

    /// Counts a request of `api` answered with error `code` (once per partition that has
    /// it), and marks the request failed once (`first`: the first code of this request).
    pub fn error(&self, api: ApiKey, version: i16, code: i16, first: bool) {
        if first {
            if let Some(s) = self.get(api, version) {
                s.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        *self.codes.lock().entry((api as i16, code)).or_default() += 1;
    }

    /// Every routed API and version, with its figures.
    pub fn iter(&self) -> impl Iterator<Item = (ApiKey, i16, &RequestStats)> {
        self.by_key.iter().flatten().flat_map(|(api, versions)| {
            versions
                .iter()
                .enumerate()
                .map(move |(v, s)| (*api, i16::try_from(v).unwrap_or(i16::MAX), s))
        })
    }

    /// Error codes answered: (API, error name, count).
    pub fn error_codes(&self) -> Vec<(ApiKey, &'static str, u64)> {
        self.codes
            .lock()
            .iter()
            .filter_map(|(&(api, code), &n)| {
                let api = ApiKey::try_from(api).ok()?;
                Some((api, ErrorCode::from_code(code).name(), n))
            })
            .collect()
    }
}

/// Kafka's name of an API (`Produce`, `FetchConsumer` aside): its `ApiKey` variant.
pub fn api_name(api: ApiKey) -> String {
    format!("{api:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_version_has_figures_and_others_none() {
        let t = RequestTable::new();
        assert!(t.get(ApiKey::Produce, 13).is_some());
        assert!(t.get(ApiKey::Produce, 14).is_none());
        assert!(t.get(ApiKey::Produce, -1).is_none());
        let timer = t.received(ApiKey::Fetch, 12, 7);
        t.finished(&timer, true);
        let s = t.get(ApiKey::Fetch, 12).map(|s| {
            (
                s.requests.load(Ordering::Relaxed),
                s.errors.load(Ordering::Relaxed),
                s.latency.count(),
            )
        });
        assert_eq!(s, Some((1, 1, 1)));
        t.error(
            ApiKey::Produce,
            9,
            ErrorCode::NotLeaderOrFollower.code(),
            true,
        );
        t.error(
            ApiKey::Produce,
            9,
            ErrorCode::NotLeaderOrFollower.code(),
            false,
        );
        assert_eq!(
            t.error_codes(),
            vec![(ApiKey::Produce, "NOT_LEADER_OR_FOLLOWER", 2)]
        );
        let errors = t
            .get(ApiKey::Produce, 9)
            .map(|s| s.errors.load(Ordering::Relaxed));
        assert_eq!(errors, Some(1));
    }
}
