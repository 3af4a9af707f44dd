//! Healing after I/O failures without a restart.
//!
//! redb latches the first I/O error of a file (a write or an fsync that failed, say on a full
//! disk): from then on every operation on that `Database` answers `PreviousIo`, until it is
//! closed and opened again, which recovers the file to its last committed transaction. So a
//! gateway that merely retried would stay broken after the disk had room again.
//! [`ReopeningDatabase`] holds the files' handles and, after an operation reported storage as
//! unavailable, closes it and opens it anew before the next operation (at most once per
//! [`RETRY_INTERVAL`], since reopening a file left by a failure means a repair scan).
//! Nothing half-written survives: a failed commit is not part of the file redb recovers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::files::Files;

use crate::store::StoreError;

/// The least time between two attempts to reopen a failed file.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);

type Opener = Box<dyn Fn() -> Result<Files, StoreError> + Send + Sync>;

pub struct ReopeningDatabase {
    open: Opener,
    /// `None` between closing a failed handle and opening its replacement successfully.
    current: RwLock<Option<Files>>,
    /// An operation failed with `Unavailable`: reopen before trusting the handle again.
    suspect: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
    /// How many times the file was opened (the first time included).
    opened: AtomicUsize,
    /// Tests set it to make operations fail as on a latched I/O error.
    #[cfg(test)]
    pub failing: AtomicBool,
}

impl ReopeningDatabase {
    /// The files already open as `db`; `open` opens them again for every reopen.
    pub fn opened(
        db: Files,
        open: impl Fn() -> Result<Files, StoreError> + Send + Sync + 'static,
    ) -> ReopeningDatabase {
        ReopeningDatabase {
            open: Box::new(open),
            current: RwLock::new(Some(db)),
            suspect: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
            opened: AtomicUsize::new(1),
            #[cfg(test)]
            failing: AtomicBool::new(false),
        }
    }

    /// Runs `operation` on the current handle, reopening the file first if the last operation
    /// failed. Operations share a read lock; a reopen takes the write lock, so it never closes
    /// the file under an operation in progress.
    pub fn with<T>(
        &self,
        operation: impl FnOnce(&Files) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.suspect.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let db = current.as_ref().ok_or_else(|| {
            StoreError::Unavailable("storage failed and could not be reopened yet".to_owned())
        })?;
        #[cfg(test)]
        if self.failing.load(Ordering::SeqCst) {
            self.suspect.store(true, Ordering::Release);
            return Err(StoreError::Unavailable("simulated I/O error".into()));
        }
        let result = operation(db);
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.suspect.store(true, Ordering::Release);
        }
        result
    }

    /// How many times the file was opened, the first time included.
    pub fn times_opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    fn reopen(&self) -> Result<(), StoreError> {
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RETRY_INTERVAL) {
                // Too soon to try again: use what is there (a handle that fails fast, or none).
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if !self.suspect.load(Ordering::Acquire) {
            return Ok(()); // another caller reopened it while this one waited
        }
        // Close before opening: the file is locked while a handle is open.
        drop(current.take());
        let db = (self.open)().inspect_err(|err| {
            tracing::warn!(error = %err, "storage is still failing; will retry");
        })?;
        *current = Some(db);
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.suspect.store(false, Ordering::Release);
        tracing::info!("storage reopened after a failure");
        Ok(())
    }
}
