//! What the gateway remembers about its storage between requests: whether the last commit
//! failed, and why. `/readyz` reads it, the writer's batch reports update it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed commit keeps `/readyz` at 503 when no later commit succeeded. Long enough
/// for a load balancer to notice; short enough that an idle instance (no traffic, so no commit
/// to prove recovery) is not held out of rotation once its storage check passes again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct StorageHealth {
    last_failure: Mutex<Option<(Instant, String)>>,
}

impl StorageHealth {
    pub fn commit_succeeded(&self) {
        *self.lock() = None;
    }

    pub fn commit_failed(&self, reason: String) {
        *self.lock() = Some((Instant::now(), reason));
    }

    /// Why the last commit failed, if it failed within `within` and nothing committed since.
    pub fn recent_failure(&self, within: Duration) -> Option<String> {
        self.lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < within)
            .map(|(_, reason)| reason.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        // The guarded value is a plain record: a panic elsewhere cannot leave it half-updated.
        self.last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
