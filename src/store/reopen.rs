//! Healing after I/O failures without a restart.
//!
//! redb latches the first I/O error of a file (a write or an fsync that failed, say on a full
//! disk): from then on every operation on that `Database` answers `PreviousIo`, until it is
//! closed and opened again, which recovers the file to its last committed transaction. So a
//! gateway that merely retried would stay broken after the disk had room again.
//! [`ReopeningStore`] wraps a store and, after an operation reported storage as unavailable,
//! closes it and opens it anew before the next operation (at most once per
//! [`RETRY_INTERVAL`], since reopening a file left by a failure means a repair scan).
//! Nothing half-written survives: a failed commit is not part of the file redb recovers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{
    Appended, BackupReport, Capture, ChainReport, Cursor, ErasureReport, Page, PageQuery,
    ReindexReport, Rereader, Revocation, Store, StoreError, StoredDelivery,
};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Entry, EntryId, Subject};

/// The least time between two attempts to reopen a failed store.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);

type Opener = Box<dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync>;

pub struct ReopeningStore {
    open: Opener,
    /// `None` between closing a failed store and opening its replacement successfully.
    current: RwLock<Option<Box<dyn Store>>>,
    /// An operation failed with `Unavailable`: reopen before trusting the store again.
    suspect: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
}

impl ReopeningStore {
    /// Opens the store with `open`, which is called again for every reopen.
    pub fn open(
        open: impl Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync + 'static,
    ) -> Result<ReopeningStore, StoreError> {
        let store = open()?;
        Ok(ReopeningStore {
            open: Box::new(open),
            current: RwLock::new(Some(store)),
            suspect: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
        })
    }

    /// Runs `operation` on the current store, reopening it first if the last operation failed.
    /// Operations share a read lock; a reopen takes the write lock, so it never closes a
    /// store under an operation in progress.
    fn with<T>(
        &self,
        operation: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.suspect.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let store = current.as_deref().ok_or_else(|| {
            StoreError::Unavailable("storage failed and could not be reopened yet".to_owned())
        })?;
        let result = operation(store);
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.suspect.store(true, Ordering::Release);
        }
        result
    }

    fn reopen(&self) -> Result<(), StoreError> {
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RETRY_INTERVAL) {
                // Too soon to try again: use what is there (a store that fails fast, or none).
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
        let store = (self.open)().inspect_err(|err| {
            tracing::warn!(error = %err, "storage is still failing; will retry");
        })?;
        *current = Some(store);
        self.suspect.store(false, Ordering::Release);
        tracing::info!("storage reopened after a failure");
        Ok(())
    }
}

impl Store for ReopeningStore {
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        self.with(|store| store.append(batch))
    }

    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        self.with(|store| store.subject_entries(subject, query))
    }

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        self.with(|store| store.entry(id))
    }

    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.with(|store| store.unmatched(limit, before))
    }

    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        self.with(|store| store.subject_origin(subject))
    }

    /// Read on the async workers (see [`Store::subject_stamp`]), so unlike every other
    /// operation it never reopens the file (a repair scan) and never waits for a reopen in
    /// progress: the next operation on the blocking pool does that.
    fn subject_stamp(&self, subject: &Subject) -> Result<u64, StoreError> {
        let current = self.current.try_read().map_err(|_| {
            StoreError::Unavailable("storage is being reopened after a failure".to_owned())
        })?;
        let store = current.as_deref().ok_or_else(|| {
            StoreError::Unavailable("storage failed and could not be reopened yet".to_owned())
        })?;
        store.subject_stamp(subject)
    }

    fn recent(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.with(|store| store.recent(limit, before))
    }

    fn unmatched_count(&self) -> Result<u64, StoreError> {
        self.with(|store| store.unmatched_count())
    }

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        self.with(|store| store.delivery(seq))
    }

    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.with(|store| store.deliveries(from, limit))
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.with(|store| store.verify_chain())
    }

    fn reindex(&self, normalize: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        self.with(|store| store.reindex(normalize))
    }

    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with(|store| store.prune_bodies(cutoff))
    }

    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        self.with(|store| store.erase(target, now))
    }

    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.with(|store| store.export(subject, sink))
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.with(|store| store.export_page(subject, after, limit))
    }

    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
        self.with(|store| store.backup(target))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.with(|store| store.check_writable())
    }

    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|store| store.revoke_sessions(revocation, now))
    }

    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        self.with(|store| store.revocations(now))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::store::redb::RedbStore;

    /// A store whose appends fail while `failing` is set.
    struct Flaky {
        inner: RedbStore,
        failing: Arc<AtomicBool>,
    }

    impl Store for Flaky {
        fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("simulated I/O error".into()));
            }
            self.inner.append(batch)
        }
        fn subject_entries(&self, s: &Subject, q: &PageQuery) -> Result<Page, StoreError> {
            self.inner.subject_entries(s, q)
        }
        fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
            self.inner.entry(id)
        }
        fn unmatched(&self, l: usize, b: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
            self.inner.unmatched(l, b)
        }
        fn subject_origin(&self, s: &Subject) -> Result<Option<Entry>, StoreError> {
            self.inner.subject_origin(s)
        }
        fn subject_stamp(&self, s: &Subject) -> Result<u64, StoreError> {
            self.inner.subject_stamp(s)
        }
        fn recent(&self, l: usize, b: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
            self.inner.recent(l, b)
        }
        fn unmatched_count(&self) -> Result<u64, StoreError> {
            self.inner.unmatched_count()
        }
        fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
            self.inner.delivery(seq)
        }
        fn deliveries(&self, f: u64, l: usize) -> Result<Vec<StoredDelivery>, StoreError> {
            self.inner.deliveries(f, l)
        }
        fn verify_chain(&self) -> Result<ChainReport, StoreError> {
            self.inner.verify_chain()
        }
        fn reindex(&self, n: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
            self.inner.reindex(n)
        }
        fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
            self.inner.prune_bodies(cutoff)
        }
        fn erase(
            &self,
            t: &ErasureTarget,
            now: DateTime<Utc>,
        ) -> Result<ErasureReport, StoreError> {
            self.inner.erase(t, now)
        }
        fn export(
            &self,
            s: Option<&Subject>,
            sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
        ) -> Result<u64, StoreError> {
            self.inner.export(s, sink)
        }
        fn export_page(
            &self,
            s: Option<&Subject>,
            a: Option<Cursor>,
            l: usize,
        ) -> Result<Page, StoreError> {
            self.inner.export_page(s, a, l)
        }
        fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
            self.inner.backup(target)
        }
        fn check_writable(&self) -> Result<(), StoreError> {
            self.inner.check_writable()
        }
        fn revoke_sessions(&self, r: &Revocation, now: DateTime<Utc>) -> Result<(), StoreError> {
            self.inner.revoke_sessions(r, now)
        }
        fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
            self.inner.revocations(now)
        }
    }

    #[test]
    fn a_failed_operation_makes_the_next_one_reopen_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reopen.redb");
        let failing = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let store = ReopeningStore::open({
            let (failing, opened) = (failing.clone(), opened.clone());
            move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(Flaky {
                    inner: RedbStore::open(&path)?,
                    failing: failing.clone(),
                }) as Box<dyn Store>)
            }
        })
        .unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 1);

        failing.store(true, Ordering::SeqCst);
        assert!(store.append(&[]).is_err());
        failing.store(false, Ordering::SeqCst);
        // The file is still locked by the failed handle unless it was closed first.
        store.check_writable().unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        store.check_writable().unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 2, "healthy: no reopen");
    }

    #[test]
    fn reading_a_stamp_never_reopens_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stamps.redb");
        let failing = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let store = ReopeningStore::open({
            let (failing, opened) = (failing.clone(), opened.clone());
            move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(Flaky {
                    inner: RedbStore::open(&path)?,
                    failing: failing.clone(),
                }) as Box<dyn Store>)
            }
        })
        .unwrap();
        let job: Subject = "job:1".parse().unwrap();
        failing.store(true, Ordering::SeqCst);
        assert!(store.append(&[]).is_err());
        // Stamps are read on the async workers: a repair scan there would stall them.
        store.subject_stamp(&job).unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        // The next real operation reopens, as before.
        failing.store(false, Ordering::SeqCst);
        store.check_writable().unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // A reopen in progress holds the lock: the stamp is refused, not waited for.
        let reopening = store.current.write().unwrap();
        assert!(matches!(
            store.subject_stamp(&job),
            Err(StoreError::Unavailable(_))
        ));
        drop(reopening);
        store.subject_stamp(&job).unwrap();
    }
}
