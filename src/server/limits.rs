//! Who may hold a connection: `max.connections` (every listener together, the text one
//! included) and `max.connections.per.ip` with its overrides, as Kafka's
//! `ConnectionQuotas` counts them. A connection holds a [`Slot`] from accept to close;
//! dropping it gives both counts back, so whatever ends a connection (its peer, the idle
//! timeout, shutdown, a panic) frees its place at once.
//!
//! Where Rafka differs: past `max.connections` a new connection is closed at once (Kafka's
//! acceptor stops accepting until one closes), so one listener's flood does not stall the
//! others' accept queues. Past the per-address limit both close the new connection.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `max.connections` connections are open.
    #[error("max.connections ({0}) reached")]
    Total(usize),
    /// This address has its limit (`max.connections.per.ip` or its override) open.
    #[error("max.connections.per.ip ({0}) reached for this address")]
    PerIp(usize),
}

/// The connection counts of one broker.
#[derive(Debug)]
pub struct ConnectionLimits {
    max: usize,
    per_ip: usize,
    overrides: BTreeMap<IpAddr, usize>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    pub fn new(max: usize, per_ip: usize, overrides: BTreeMap<IpAddr, usize>) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max: max.max(1),
            per_ip,
            overrides,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// The limit for `ip`: its override, else `max.connections.per.ip`.
    fn limit_for(&self, ip: IpAddr) -> usize {
        let ip = canonical(ip);
        self.overrides.get(&ip).copied().unwrap_or(self.per_ip)
    }

    /// A slot for a new connection from `ip`, or why there is none.
    pub fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let ip = canonical(ip);
        let limit = self.limit_for(ip);
        let mut counts = self.counts.lock();
        if counts.total >= self.max {
            return Err(Refused::Total(self.max));
        }
        let from_ip = counts.by_ip.entry(ip).or_insert(0);
        if *from_ip >= limit {
            if *from_ip == 0 {
                counts.by_ip.remove(&ip);
            }
            return Err(Refused::PerIp(limit));
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Slot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().total
    }
}

/// An IPv4 address seen through an IPv6 socket counts as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One open connection's place in the counts; given back on drop.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn per_ip_limit_overrides_and_total() {
        let limits = ConnectionLimits::new(5, 2, BTreeMap::from([(ip("10.0.0.9"), 3)]));
        let a1 = limits.try_admit(ip("10.0.0.1")).expect("first");
        let _a2 = limits.try_admit(ip("10.0.0.1")).expect("second");
        assert_eq!(
            limits.try_admit(ip("10.0.0.1")).err(),
            Some(Refused::PerIp(2))
        );
        let o: Vec<_> = (0..3)
            .map(|_| limits.try_admit(ip("::ffff:10.0.0.9")).expect("override"))
            .collect();
        assert_eq!(
            limits.try_admit(ip("10.0.0.9")).err(),
            Some(Refused::Total(5))
        );
        drop(o);
        assert!(
            limits.try_admit(ip("10.0.0.9")).is_ok(),
            "the override's slots were given back"
        );
        drop(a1);
        let _a3 = limits
            .try_admit(ip("10.0.0.1"))
            .expect("a slot was given back");
        assert_eq!(limits.open(), 2);
    }
}
