//! The broker's periodic work, one tokio task per job so that a slow pass (a retention
//! sweep over many partitions) delays neither accepting connections nor the other jobs:
//! retention, `flush.ms` flushes, recovery-point checkpoints, group timers (sessions,
//! rebalance deadlines), committed offsets' expiry, idle producer ids' expiry, and the
//! log cleaner (compaction, `__consumer_offsets` included).
//!
//! Each pass runs on the blocking pool and is never cut short: [`Jobs::stop`] lets a
//! pass in progress finish, so once it returns nothing touches the logs and they can be
//! shut down. Jobs keep running while connections drain at shutdown (a parked JoinGroup
//! waits for the group timers; `flush.ms` still applies). The group timers are the
//! coordinator shards' own (see `coordinator`): their job only drives them, firing each
//! when it is due rather than on a period.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::{error, info_span, Instrument};

use crate::broker::Broker;
use crate::log::now_ms;

/// One periodic job: a name for the logs, its period, and one pass.
struct Job {
    name: &'static str,
    every: Duration,
    pass: fn(&Broker),
}

/// The running jobs.
pub(super) struct Jobs {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    broker: Arc<Broker>,
}

impl Jobs {
    /// Starts every job; each runs a first pass at once, then one per period (a period
    /// counts from the end of a pass that overran it).
    pub(super) fn start(broker: &Arc<Broker>) -> Jobs {
        let config = broker.config();
        let ms = Duration::from_millis;
        let mut jobs = vec![
            Job {
                name: "retention",
                every: ms(config.retention_check_interval_ms.max(1_000)),
                pass: enforce_retention,
            },
            Job {
                name: "flush",
                every: Duration::from_secs(1),
                pass: flush_due,
            },
            Job {
                name: "checkpoint",
                every: Duration::from_secs(60),
                pass: checkpoint,
            },
            Job {
                name: "offsets_cleanup",
                every: ms(config.group.offsets_retention_check_interval_ms.max(1_000)),
                pass: offsets_cleanup,
            },
            Job {
                name: "expire_producers",
                every: ms(config.producer_id_expiration_check_interval_ms.max(1_000)),
                pass: expire_producers,
            },
        ];
        if config.cleaner.enable {
            jobs.push(Job {
                name: "log_cleaner",
                every: ms(config.cleaner.backoff_ms.max(100)),
                pass: clean_logs,
            });
        }
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let span = info_span!("job", name = "group_timers");
        tasks.spawn(group_timers(Arc::clone(broker), stopped.clone()).instrument(span));
        let span = info_span!("job", name = "transactions");
        tasks.spawn(transactions(Arc::clone(broker), stopped.clone()).instrument(span));
        for job in jobs {
            let span = info_span!("job", name = job.name);
            tasks.spawn(run(job, Arc::clone(broker), stopped.clone()).instrument(span));
        }
        Jobs {
            stop,
            tasks,
            broker: Arc::clone(broker),
        }
    }

    /// Stops every job, waiting for passes in progress to finish (a cleaning gives up at
    /// its next batch).
    pub(super) async fn stop(mut self) {
        self.broker.cleaner().stop();
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn run(job: Job, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(job.every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // also when the sender is gone: nobody can stop this job any more
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        // awaited to the end, never dropped: a pass must not outlive `Jobs::stop`
        let b = Arc::clone(&broker);
        if tokio::task::spawn_blocking(move || (job.pass)(&b))
            .await
            .is_err()
        {
            error!("periodic job panicked");
        }
    }
}

fn enforce_retention(broker: &Broker) {
    if let Err(e) = broker.logs().enforce_retention(now_ms()) {
        error!(cause = %e, "retention failed");
    }
}

fn flush_due(broker: &Broker) {
    if let Err(e) = broker.logs().flush_due(now_ms()) {
        error!(cause = %e, "periodic flush failed");
    }
}

fn checkpoint(broker: &Broker) {
    if let Err(e) = broker.logs().checkpoint() {
        error!(cause = %e, "checkpoint failed");
    }
}

/// The longest the group timers' driver sleeps: the coordinator may start after the jobs
/// (it loads `__consumer_offsets` on first use), and then has no way to wake it.
const GROUP_TIMERS_MAX_SLEEP: Duration = Duration::from_millis(100);

/// Fires the group coordinator's timers (sessions, rebalance and join deadlines) when
/// they are due: sleeps until the earliest, or until an event sets an earlier one.
async fn group_timers(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    loop {
        let groups = broker.groups_if_started();
        let wait = groups
            .as_ref()
            .and_then(|g| g.runtime().next_timer_in())
            .map_or(GROUP_TIMERS_MAX_SLEEP, |d| d.min(GROUP_TIMERS_MAX_SLEEP));
        let moved = async {
            match &groups {
                Some(g) => g.runtime().timers_moved().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            // an earlier deadline: sleep again, to it
            _ = moved => continue,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(groups) = groups else { continue };
        // awaited to the end, never dropped: a pass must not outlive `Jobs::stop`
        if tokio::task::spawn_blocking(move || groups.tick())
            .await
            .is_err()
        {
            error!("group timers panicked");
        }
    }
}

/// The transaction coordinator's passes: every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, open transactions past
/// their timeout are aborted and the markers of decided ones no run is writing (after a
/// restart) are started; every `transaction.remove.expired.transaction.cleanup.interval.ms`,
/// idle transactional ids expire.
async fn transactions(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let config = broker.config().txn;
    let mut ticks = tokio::time::interval(Duration::from_millis(
        config.abort_timed_out_interval_ms.max(100),
    ));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let expire_every = Duration::from_millis(config.remove_expired_interval_ms.max(1_000));
    let mut last_expiry = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let Some(txns) = broker.txns_if_started() else {
            continue;
        };
        let expire = last_expiry.elapsed() >= expire_every;
        if expire {
            last_expiry = tokio::time::Instant::now();
        }
        let t = Arc::clone(&txns);
        let jobs = match tokio::task::spawn_blocking(move || {
            if expire {
                t.expire_ids();
            }
            t.abort_timed_out()
        })
        .await
        {
            Ok(jobs) => jobs,
            Err(_) => {
                error!("transaction pass panicked");
                continue;
            }
        };
        // a decision is acted on once it is replicated (the next pass takes the others)
        for job in jobs {
            if txns.replicated(&job.transactional_id) {
                broker.spawn_markers(&txns, job);
            }
        }
    }
}

fn offsets_cleanup(broker: &Broker) {
    if let Some(groups) = broker.groups_if_started() {
        groups.expire_offsets();
    }
}

fn clean_logs(broker: &Broker) {
    broker.clean_logs();
}

fn expire_producers(broker: &Broker) {
    broker
        .logs()
        .expire_producers(now_ms(), broker.config().producer_id_expiration_ms);
}
