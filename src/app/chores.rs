//! The gateway's background chores: dropping expired bodies, keeping the search index up,
//! adding intake's counts to the store's tally, checking alerts, signing tree heads. Each is
//! told when the gateway stops and is awaited, so none still holds the store once
//! `Gateway::stop` returns.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pacing::{Next, Pacing};
use crate::alerts::Alerting;
use crate::config::Config;
use crate::observability::metrics::Metrics;
use crate::store::health::StorageHealth;
use crate::store::tally::{TALLY_EVERY, TallyCounter};
use crate::store::{Storage, WriteSide};
use crate::trust::notary::{Copies, Due, Notary, Round, SigningStatus};

/// Drops expired raw bodies now and then, off the request threads. Pruning runs in short
/// transactions of its own, so intake commits keep flowing in between.
pub(super) async fn prune_periodically(
    config: Arc<Config>,
    store: Arc<dyn WriteSide>,
    mut stopping: Stopping,
) {
    let period = Duration::from_secs(config.retention.prune_interval_secs.get());
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.changed() => return,
        }
        let Some(cutoff) = config.retention.cutoff(chrono::Utc::now()) else {
            return;
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune_bodies(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(dropped)) => {
                tracing::info!(dropped, cutoff = %cutoff, "retention: dropped expired raw bodies")
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "retention: pruning failed; will retry"),
            Err(err) => tracing::warn!(error = %err, "retention: the pruning task failed"),
        }
    }
}

/// The search indexer thread's name (what `top -H`, `perf` and the intake bench see).
pub const INDEXER_THREAD: &str = "hooktrail-index";

/// Keeps a search index that follows the timelines (the embedded store's) up with them: at
/// once while it is behind and intake is quiet, every quarter second once it has caught up. A
/// backend that indexes in each commit ends this at the first call.
///
/// It runs on a thread of its own at the lowest CPU priority (nice 19; tantivy's threads, made
/// from it, inherit that), and gives way to intake for a bounded time while intake commits
/// (see [`Pacing`]): the index is a projection that may lag for a moment, intake is not.
pub(super) async fn index_for_search(
    store: Arc<dyn WriteSide>,
    health: Arc<StorageHealth>,
    mut stopping: Stopping,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let indexer = std::thread::Builder::new()
        .name(INDEXER_THREAD.to_owned())
        .spawn({
            let stop = stop.clone();
            move || follow_for_search(store.as_ref(), &health, &stop)
        });
    let indexer = match indexer {
        Ok(indexer) => indexer,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the search indexer; searches will fall behind");
            return;
        }
    };
    let _ = stopping.changed().await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    indexer.thread().unpark();
    // Joined off the async workers: a round of indexing may be finishing.
    if tokio::task::spawn_blocking(move || indexer.join())
        .await
        .map_or(true, |joined| joined.is_err())
    {
        tracing::warn!("the search indexer ended with a panic");
    }
}

/// The indexer thread's loop, until `stop` (it is unparked then) or the backend needs none.
fn follow_for_search(
    store: &dyn WriteSide,
    health: &StorageHealth,
    stop: &std::sync::atomic::AtomicBool,
) {
    if let Err(err) = rustix::process::setpriority_process(None, 19) {
        tracing::debug!(error = %err, "the search indexer keeps the normal CPU priority");
    }
    let mut pacing = Pacing::default();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        let next = match store.index_for_search() {
            Ok(outcome) => {
                let now = Instant::now();
                let intake_busy = health.committed_within(Pacing::BUSY_WITHIN);
                pacing.after(outcome, now - started, intake_busy, now)
            }
            Err(err) => {
                tracing::warn!(error = %err, "search indexing failed; will retry");
                Next::Rest(Pacing::AFTER_FAILURE)
            }
        };
        match next {
            Next::Round => {}
            Next::Rest(pause) => std::thread::park_timeout(pause),
            Next::Stop => return,
        }
    }
}

/// Adds what intake counted to the store's tally now and then, and once more on the way out.
pub(super) async fn keep_tally(
    store: Arc<dyn WriteSide>,
    counter: Arc<TallyCounter>,
    mut stopping: Stopping,
) {
    let mut ticks = tokio::time::interval(TALLY_EVERY);
    loop {
        let stop = tokio::select! {
            _ = ticks.tick() => false,
            _ = stopping.changed() => true,
        };
        let (store, counter) = (store.clone(), counter.clone());
        match tokio::task::spawn_blocking(move || counter.flush_to(store.as_ref())).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot add to the intake tally; will retry")
            }
            Err(err) => tracing::warn!(error = %err, "the intake tally task failed"),
        }
        if stop {
            return;
        }
    }
}

/// Checks the alert rules every `every` (see [`crate::alerts`]), until the gateway stops.
pub(super) async fn watch_alerts(
    alerting: Arc<Alerting>,
    counter: Arc<TallyCounter>,
    health: Arc<StorageHealth>,
    every: NonZeroU64,
    mut stopping: Stopping,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(every.get()));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.changed() => return,
        }
        alerting
            .check(counter.clone(), health.clone(), stopping.clone())
            .await;
    }
}

/// Signs a tree head whenever one is due (see [`crate::trust::notary`]), looking every
/// `interval` or 30 s, whichever is shorter; and once more on the way out, after the last
/// request was answered, if deliveries came after the last head.
pub(super) async fn sign_tree_heads(
    notary: Arc<Notary>,
    storage: Storage,
    metrics: Arc<Metrics>,
    status: Arc<SigningStatus>,
    mut copies: Copies,
    interval: Duration,
    mut stopping: Stopping,
) {
    let mut ticks = tokio::time::interval(interval.min(Duration::from_secs(30)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            _ = ticks.tick() => false,
            _ = stopping.changed() => true,
        };
        let due = if stop {
            Due::IfGrown
        } else {
            Due::Every(interval)
        };
        let (notary, signing) = (notary.clone(), storage.clone());
        let round = tokio::task::spawn_blocking(move || {
            notary.round(
                signing.read.as_ref(),
                signing.write.as_ref(),
                due,
                chrono::Utc::now(),
            )
        })
        .await;
        match round {
            Ok(Ok(Round::Signed(head))) => {
                tracing::info!(number = head.number, tree_size = head.tree_size, root = %hex::encode(head.root), "signed a tree head");
                metrics.tree_head_round(true);
                status.succeeded();
                copies.keep(&head);
            }
            Ok(Ok(Round::NotDue | Round::Raced)) => status.succeeded(),
            Ok(Err(err)) => {
                tracing::error!(error = %err, "cannot sign a tree head");
                metrics.tree_head_round(false);
                status.failed(chrono::Utc::now(), err.to_string());
            }
            Err(err) => tracing::warn!(error = %err, "the tree-head task failed"),
        }
        copies.send().await;
        if stop {
            return;
        }
    }
}

/// Tells a chore that the gateway is stopping.
pub(super) type Stopping = tokio::sync::watch::Receiver<bool>;

/// Background loops that use the store. Aborting one would leave its blocking call running,
/// still holding the store after the gateway says it has stopped (so a restart finds the file
/// in use); instead each is told to stop and awaited, which waits out that call.
#[derive(Default)]
pub(super) struct Chores {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Chores {
    pub(super) fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(
        &mut self,
        chore: impl FnOnce(Stopping) -> F,
    ) {
        let stop = self
            .stop
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0);
        self.tasks.push(tokio::spawn(chore(stop.subscribe())));
    }

    pub(super) async fn finish(self) {
        if let Some(stop) = self.stop {
            stop.send_replace(true);
        }
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::warn!(error = %err, "a background task failed while stopping");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a restart needs: once the chores have finished, none of them holds what it was
    /// given, even one stopped in the middle of blocking work.
    #[tokio::test]
    async fn finished_chores_hold_nothing_even_when_stopped_mid_work() {
        let store = Arc::new(());
        let (started, mut working) = tokio::sync::mpsc::channel(1);
        let mut chores = Chores::default();
        chores.spawn(|mut stopping| {
            let store = store.clone();
            async move {
                loop {
                    let (store, started) = (store.clone(), started.clone());
                    let work = tokio::task::spawn_blocking(move || {
                        let _ = started.try_send(());
                        std::thread::sleep(Duration::from_millis(200));
                        drop(store);
                    });
                    let _ = work.await;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                        _ = stopping.changed() => return,
                    }
                }
            }
        });
        working.recv().await;
        chores.finish().await;
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "a chore still holds the store"
        );
    }
}
