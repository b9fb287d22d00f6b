//! Per-partition wake-ups for waiting fetches (Kafka's fetch purgatory, keyed by
//! partition). A long-polling fetch makes one [`FetchWaker`] and registers it with each
//! partition it asked for; an append or a high-watermark move on a partition wakes only
//! the fetches registered there. A wake-up that comes before the fetch waits is kept as a
//! permit (`Notify::notify_one`), so registering before the first read misses nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// What one waiting fetch waits on: woken by any partition it is registered with.
pub type FetchWaker = Arc<Notify>;

/// The fetches waiting on one partition.
#[derive(Debug, Default)]
pub struct Waiters {
    wakers: Mutex<Vec<FetchWaker>>,
    /// `wakers.len()`, read without the lock: most appends have nobody to wake.
    count: AtomicUsize,
}

impl Waiters {
    /// Registers `waker` until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, waker: &FetchWaker) -> Registration {
        let mut wakers = self.wakers.lock();
        wakers.push(Arc::clone(waker));
        self.count.store(wakers.len(), Ordering::Release);
        Registration {
            waiters: Arc::clone(self),
            waker: Arc::clone(waker),
        }
    }

    /// Wakes every fetch registered here.
    pub fn wake_all(&self) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        for w in self.wakers.lock().iter() {
            w.notify_one();
        }
    }

    /// How many fetches wait here now.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A fetch's registration with one partition; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    waiters: Arc<Waiters>,
    waker: FetchWaker,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut wakers = self.waiters.wakers.lock();
        if let Some(i) = wakers.iter().position(|w| Arc::ptr_eq(w, &self.waker)) {
            wakers.swap_remove(i);
        }
        self.waiters.count.store(wakers.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_wakers_are_woken_and_dropping_unregisters() {
        let a = Arc::new(Waiters::default());
        let b = Arc::new(Waiters::default());
        let on_a: FetchWaker = Arc::new(Notify::new());
        let on_b: FetchWaker = Arc::new(Notify::new());
        let ra = a.register(&on_a);
        let _rb = b.register(&on_b);
        a.wake_all();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // the permit left by wake_all completes the wait at once
            on_a.notified().await;
            // a timeout of zero polls once: ready only if a wake-up is waiting
            let woken = tokio::time::timeout(std::time::Duration::ZERO, on_b.notified());
            assert!(woken.await.is_err(), "b's fetch was not woken");
        });
        drop(ra);
        assert!(a.is_empty());
        assert_eq!(b.len(), 1);
    }
}
