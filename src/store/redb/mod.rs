//! The embedded backend: one redb file. Keys are time-ordered (delivery seq, ULID entry ids,
//! `occurred_at` within a subject), which keeps B-tree appends cheap.

mod append;
mod backup;
mod erase;
mod export;
mod maintenance;
mod migrate;
mod query;
mod records;
pub mod reopen;
mod retention;
mod sessions;
mod snapshot;
mod tables;
#[cfg(test)]
mod tests;
mod timelines;
mod write;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase};

pub use snapshot::RedbSnapshot;

use self::reopen::ReopeningDatabase;
use super::stamps::SubjectStamps;
use super::{
    Appended, BackupReport, Capture, ChainReport, Change, ChangeCursor, ChangeFeed, Cursor,
    ErasureReport, Feed, LaneCounts, Page, PageQuery, ReadSide, ReindexReport, Rereader,
    Revocation, StoreError, StoredDelivery, WriteSide,
};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Entry, EntryId, Subject};

pub struct RedbStore {
    db: ReopeningDatabase,
    stamps: SubjectStamps,
}

impl RedbStore {
    /// Opens the store at `path` for writing, creating the file (and its folder) on first use.
    /// redb recovers from an unclean shutdown by itself on open; after an I/O failure the
    /// store reopens the file by itself (see [`reopen`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let path: PathBuf = path.to_owned();
        let db = ReopeningDatabase::open(move || open_file(&path))?;
        Ok(RedbStore {
            db,
            stamps: SubjectStamps::new(),
        })
    }

    /// How many times the file was opened, the first time included.
    pub fn times_opened(&self) -> usize {
        self.db.times_opened()
    }

    /// The open file itself, for tests that alter it behind the store's back.
    #[cfg(test)]
    pub(crate) fn raw<T>(&self, work: impl FnOnce(&Database) -> T) -> T {
        let mut out = None;
        self.db
            .with(|db| {
                out = Some(work(db));
                Ok(())
            })
            .ok();
        out.expect("the test's file is open")
    }

    #[cfg(test)]
    pub(crate) fn fail_operations(&self, failing: bool) {
        self.db
            .failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    /// Runs `operation` on the open file (see [`ReopeningDatabase::with`]).
    fn with<T>(
        &self,
        operation: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.with(operation)
    }
}

fn open_file(path: &Path) -> Result<Database, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            StoreError::Unavailable(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    // One process owns the file. (redb's multi-process modes would let other processes read
    // it live, but they force a second fsync on every commit; live reads go through the
    // gateway's API instead.)
    let db = Database::builder().create(path)?;
    create_tables(&db)?;
    Ok(db)
}

fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let changed = migrate::upgrade_timelines(&txn)?;
    if changed > 0 {
        tracing::info!(rows = changed, "timelines brought to the current layout");
    }
    let indexed = migrate::index_entries_by_time(&txn)?;
    if indexed > 0 {
        tracing::info!(entries = indexed, "entries indexed by when they happened");
    }
    tables::WriteTables::open(&txn)?;
    sessions::create_tables(&txn)?;
    txn.commit()?;
    Ok(())
}

impl ChangeFeed for RedbStore {
    /// One process owns the file, so every change passes through this store: the stamps it
    /// bumps at each commit are the whole feed.
    fn stamp(&self, feed: Feed<'_>) -> Result<u64, StoreError> {
        Ok(self.stamps.get(&feed.key()))
    }

    fn waker(&self, feed: Feed<'_>) -> std::sync::Arc<tokio::sync::Notify> {
        self.stamps.waker(&feed.key())
    }
}

impl WriteSide for RedbStore {
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        let committed = self.with(|db| append::append(db, batch))?;
        self.stamps
            .bump(committed.touched.iter().map(String::as_str));
        Ok(committed.outcomes)
    }

    fn reindex(&self, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        let report = self.with(|db| maintenance::reindex(db, reread));
        // Reindexing and erasing may change any timeline, and both are rare: every subject
        // gets a new stamp, whatever the outcome.
        self.stamps.bump_all();
        report
    }

    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with(|db| retention::prune_bodies(db, cutoff))
    }

    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let report = self.with(|db| erase::erase(db, target, now));
        self.stamps.bump_all();
        report
    }

    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
        self.with(|db| backup::copy(&db.begin_read()?, target))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.with(|db| {
            let txn = db.begin_write()?;
            txn.abort()?;
            Ok(())
        })
    }

    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|db| sessions::revoke(db, revocation, now))
    }
}

impl ReadSide for RedbStore {
    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        self.with(|db| query::subject_entries(&db.begin_read()?, subject, query))
    }

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        self.with(|db| query::entry(&db.begin_read()?, id))
    }

    fn changes(
        &self,
        feed: Feed<'_>,
        after: ChangeCursor,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        self.with(|db| query::changes(&db.begin_read()?, feed, after, limit))
    }

    fn latest_change(&self, feed: Feed<'_>) -> Result<ChangeCursor, StoreError> {
        self.with(|db| query::latest_change(&db.begin_read()?, feed))
    }

    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        self.with(|db| query::subject_origin(&db.begin_read()?, subject))
    }

    fn lane_counts(&self, subject: &Subject) -> Result<LaneCounts, StoreError> {
        self.with(|db| query::lane_counts(&db.begin_read()?, subject))
    }

    fn recent(&self, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError> {
        self.with(|db| query::recent(&db.begin_read()?, limit, before))
    }

    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.with(|db| query::unmatched(&db.begin_read()?, limit, before))
    }

    fn unmatched_count(&self) -> Result<u64, StoreError> {
        self.with(|db| query::unmatched_count(&db.begin_read()?))
    }

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        Ok(self
            .deliveries(seq, 1)?
            .into_iter()
            .find(|delivery| delivery.seq == seq))
    }

    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.with(|db| query::deliveries(&db.begin_read()?, from, limit))
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.with(|db| maintenance::verify_chain(&db.begin_read()?))
    }

    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.with(|db| export::entries(&db.begin_read()?, subject, sink))
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.with(|db| export::page(&db.begin_read()?, subject, after, limit))
    }

    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        self.with(|db| sessions::revocations(&db.begin_read()?, now))
    }
}

/// Every redb failure means the same thing to callers: storage is unavailable right now.
macro_rules! unavailable_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(err: $error) -> Self {
                StoreError::Unavailable(err.to_string())
            }
        }
    )*};
}

impl From<redb::DatabaseError> for StoreError {
    fn from(err: redb::DatabaseError) -> Self {
        match err {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

unavailable_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
