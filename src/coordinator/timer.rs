//! A shard's keyed timers (Kafka's `CoordinatorTimer`): the state machine schedules and
//! cancels them by key through [`super::Effect`]s, the runtime keeps them here and fires
//! the due ones on its tick. Scheduling a key again moves its deadline.
//!
//! Invariant: `by_key` and `queue` hold the same (key, deadline) pairs.

use std::collections::{BTreeMap, BTreeSet};

use super::Ms;

/// Deadlines by key, ordered by deadline.
#[derive(Debug)]
pub struct Timers<K> {
    by_key: BTreeMap<K, Ms>,
    queue: BTreeSet<(Ms, K)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_key: BTreeMap::new(),
            queue: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> Timers<K> {
    /// Sets `key` to fire at `deadline`, replacing its previous deadline.
    pub fn schedule(&mut self, key: K, deadline: Ms) {
        if let Some(old) = self.by_key.insert(key.clone(), deadline) {
            self.queue.remove(&(old, key.clone()));
        }
        self.queue.insert((deadline, key));
    }

    /// Forgets `key`'s timer, if any.
    pub fn cancel(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.queue.remove(&(old, key.clone()));
        }
    }

    /// Removes and returns the keys due at `now`, earliest first.
    pub fn pop_due(&mut self, now: Ms) -> Vec<K> {
        let mut due = Vec::new();
        while self.queue.first().is_some_and(|(d, _)| *d <= now) {
            let Some((_, key)) = self.queue.pop_first() else {
                break;
            };
            self.by_key.remove(&key);
            due.push(key);
        }
        due
    }

    /// The earliest deadline, if any timer is set.
    pub fn next_deadline(&self) -> Option<Ms> {
        self.queue.first().map(|(d, _)| *d)
    }

    /// When `key` fires, if it is scheduled.
    pub fn deadline(&self, key: &K) -> Option<Ms> {
        self.by_key.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_once_in_deadline_order_and_can_move_or_be_cancelled() {
        let mut t = Timers::default();
        t.schedule("b", 20);
        t.schedule("a", 10);
        t.schedule("c", 30);
        t.schedule("c", 5); // moved earlier
        t.cancel(&"b");
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_deadline(), Some(5));
        assert_eq!(t.pop_due(4), Vec::<&str>::new());
        assert_eq!(t.pop_due(10), vec!["c", "a"]);
        assert!(t.is_empty());
        assert_eq!(t.pop_due(100), Vec::<&str>::new());
        t.schedule("a", 50);
        assert_eq!(t.deadline(&"a"), Some(50));
    }
}
