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
mod retention;
mod sessions;
mod snapshot;
mod tables;
#[cfg(test)]
mod tests;
mod timelines;
mod write;

use std::path::Path;

use redb::{Database, ReadableDatabase};

pub use snapshot::RedbSnapshot;

use super::{
    Appended, Capture, ChainReport, Page, PageQuery, ReindexReport, Store, StoreError,
    StoredDelivery,
};
use chrono::{DateTime, Utc};

use super::stamps::SubjectStamps;
use super::{BackupReport, Cursor, ErasureReport, Rereader, Revocation};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Entry, EntryId, Subject};

pub struct RedbStore {
    db: Database,
    stamps: SubjectStamps,
}

impl RedbStore {
    /// Opens the store at `path` for writing, creating the file (and its folder) on first use.
    /// redb recovers from an unclean shutdown by itself on open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StoreError::Unavailable(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        // One process owns the file. (redb's multi-process modes would let other processes read
        // it live, but they force a second fsync on every commit; live reads go through the
        // gateway's API instead.)
        let db = Database::builder().create(path)?;
        let store = RedbStore {
            db,
            stamps: SubjectStamps::new(),
        };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        let changed = migrate::upgrade_timelines(&txn)?;
        if changed > 0 {
            tracing::info!(rows = changed, "timelines brought to the current layout");
        }
        tables::WriteTables::open(&txn)?;
        sessions::create_tables(&txn)?;
        txn.commit()?;
        Ok(())
    }
}

impl Store for RedbStore {
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        let committed = append::append(&self.db, batch)?;
        self.stamps
            .bump(committed.touched.iter().map(String::as_str));
        Ok(committed.outcomes)
    }

    fn subject_stamp(&self, subject: &Subject) -> Result<u64, StoreError> {
        Ok(self.stamps.get(&subject.key()))
    }

    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        query::subject_entries(&self.db.begin_read()?, subject, query)
    }

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        query::entry(&self.db.begin_read()?, id)
    }

    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        query::subject_origin(&self.db.begin_read()?, subject)
    }

    fn recent(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        query::recent(&self.db.begin_read()?, limit, before)
    }

    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        query::unmatched(&self.db.begin_read()?, limit, before)
    }

    fn unmatched_count(&self) -> Result<u64, StoreError> {
        query::unmatched_count(&self.db.begin_read()?)
    }

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        Ok(query::deliveries(&self.db.begin_read()?, seq, 1)?
            .into_iter()
            .find(|d| d.seq == seq))
    }

    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        query::deliveries(&self.db.begin_read()?, from, limit)
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        maintenance::verify_chain(&self.db.begin_read()?)
    }

    fn reindex(&self, normalize: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        let report = maintenance::reindex(&self.db, normalize);
        // Reindexing and erasing may change any timeline, and both are rare: every subject
        // gets a new stamp, whatever the outcome.
        self.stamps.bump_all();
        report
    }

    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        retention::prune_bodies(&self.db, cutoff)
    }

    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let report = erase::erase(&self.db, target, now);
        self.stamps.bump_all();
        report
    }

    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        export::entries(&self.db.begin_read()?, subject, sink)
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        export::page(&self.db.begin_read()?, subject, after, limit)
    }

    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
        backup::copy(&self.db.begin_read()?, target)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.abort()?;
        Ok(())
    }

    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sessions::revoke(&self.db, revocation, now)
    }

    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        sessions::revocations(&self.db.begin_read()?, now)
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
