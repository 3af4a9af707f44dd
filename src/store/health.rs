//! What the gateway remembers about its storage between requests: whether the last commit
//! failed, and why, and how far the start-up replay has come. `/readyz` reads both; the
//! writer's batch reports and the replay update them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a failed commit keeps `/readyz` at 503 when no later commit succeeded. Long enough
/// for a load balancer to notice; short enough that an idle instance (no traffic, so no commit
/// to prove recovery) is not held out of rotation once its storage check passes again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct StorageHealth {
    commits: Mutex<Commits>,
}

/// What the writer's batch reports leave behind: one lock per batch.
#[derive(Debug, Default)]
struct Commits {
    last_failure: Option<(Instant, String)>,
    /// When the writer last committed a batch: whether intake is busy right now.
    last_success: Option<Instant>,
}

impl StorageHealth {
    pub fn commit_succeeded(&self) {
        let mut commits = self.lock();
        commits.last_failure = None;
        commits.last_success = Some(Instant::now());
    }

    pub fn commit_failed(&self, reason: String) {
        self.lock().last_failure = Some((Instant::now(), reason));
    }

    /// Whether the writer committed a batch within `within`: intake is taking deliveries.
    pub fn committed_within(&self, within: Duration) -> bool {
        self.lock()
            .last_success
            .is_some_and(|at| at.elapsed() < within)
    }

    /// Why the last commit failed, if it failed within `within` and nothing committed since.
    pub fn recent_failure(&self, within: Duration) -> Option<String> {
        self.lock()
            .last_failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < within)
            .map(|(_, reason)| reason.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Commits> {
        // The guarded value is a plain record: a panic elsewhere cannot leave it half-updated.
        self.commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether storage takes deliveries now, or why not: the store can open and commit a write
/// transaction (asking also lets a store that failed reopen itself), and no commit failed
/// within [`FAILURE_MEMORY`] without one succeeding since. `/readyz` and the `not_ready`
/// alert both ask this.
pub fn readiness(store: &dyn super::WriteSide, health: &StorageHealth) -> Result<(), String> {
    if let Err(err) = store.check_writable() {
        return Err(format!("storage cannot write: {err}"));
    }
    match health.recent_failure(FAILURE_MEMORY) {
        Some(reason) => Err(format!("the last commit failed: {reason}")),
        None => Ok(()),
    }
}

/// How far opening the store has come: the embedded store appends the journal's deliveries
/// again before intake opens, and `/readyz` says "replaying n/m" meanwhile. Counters only, so
/// the replay pays nothing to report.
#[derive(Debug, Default)]
pub struct OpeningProgress {
    journaled: AtomicU64,
    replayed: AtomicU64,
    /// The views are being rebuilt from the log (see [`crate::store::redb::views`]).
    rebuilding: AtomicBool,
}

impl OpeningProgress {
    /// The replay has begun, with `journaled` deliveries to go through.
    pub fn replaying(&self, journaled: u64) {
        self.replayed.store(0, Ordering::Relaxed);
        self.journaled.store(journaled, Ordering::Relaxed);
    }

    /// `count` more deliveries went through (or were skipped, already in the checkpoint).
    pub fn replayed(&self, count: u64) {
        self.replayed.fetch_add(count, Ordering::Relaxed);
    }

    /// Whether the views are being rebuilt from the log.
    pub fn rebuilding(&self, rebuilding: bool) {
        self.rebuilding.store(rebuilding, Ordering::Relaxed);
    }

    /// What opening is doing, for `/readyz`: "replaying 1200/20000 journaled deliveries",
    /// "rebuilding the views from the log", or "opening the store" before either starts (or
    /// when there is nothing to do).
    pub fn describe(&self) -> String {
        if self.rebuilding.load(Ordering::Relaxed) {
            return "rebuilding the views from the log".to_owned();
        }
        match self.journaled.load(Ordering::Relaxed) {
            0 => "opening the store".to_owned(),
            journaled => format!(
                "replaying {}/{journaled} journaled deliveries",
                self.replayed.load(Ordering::Relaxed).min(journaled)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_progress_reads_replaying_n_of_m() {
        let progress = OpeningProgress::default();
        assert_eq!(progress.describe(), "opening the store");
        progress.replaying(300);
        progress.replayed(120);
        assert_eq!(
            progress.describe(),
            "replaying 120/300 journaled deliveries"
        );
        progress.replayed(180);
        assert_eq!(
            progress.describe(),
            "replaying 300/300 journaled deliveries"
        );
    }

    #[test]
    fn opening_progress_tells_a_rebuild_of_the_views() {
        let progress = OpeningProgress::default();
        progress.rebuilding(true);
        assert_eq!(progress.describe(), "rebuilding the views from the log");
        progress.rebuilding(false);
        assert_eq!(progress.describe(), "opening the store");
    }

    #[test]
    fn a_failure_is_reported_until_a_commit_succeeds_or_it_ages_out() {
        let health = StorageHealth::default();
        assert_eq!(health.recent_failure(FAILURE_MEMORY), None);
        health.commit_failed("disk full".into());
        assert_eq!(
            health.recent_failure(FAILURE_MEMORY).as_deref(),
            Some("disk full")
        );
        assert_eq!(health.recent_failure(Duration::ZERO), None);
        health.commit_succeeded();
        assert_eq!(health.recent_failure(FAILURE_MEMORY), None);
    }

    #[test]
    fn intake_is_busy_only_right_after_a_commit() {
        let health = StorageHealth::default();
        assert!(
            !health.committed_within(Duration::from_secs(60)),
            "nothing committed yet"
        );
        health.commit_failed("disk full".into());
        assert!(
            !health.committed_within(Duration::from_secs(60)),
            "a failure is no commit"
        );
        health.commit_succeeded();
        assert!(health.committed_within(Duration::from_secs(60)));
        assert!(!health.committed_within(Duration::ZERO));
    }
}
