//! Read-only access to a store file no gateway has open (CLI verbs on a stopped gateway; a
//! running one answers the same questions through its API).

use std::fs::File;
use std::path::Path;

use redb::backends::FileBackend;
use redb::{Builder, ReadOnlyDatabase, ReadableDatabase};

use super::{backup, export, maintenance, migrate};
use crate::activity::{Entry, Subject};
use crate::store::{ChainReport, Cursor, Page, StoreError};

pub struct RedbSnapshot {
    db: ReadOnlyDatabase,
}

impl RedbSnapshot {
    /// Fails if the file needs recovery after a crash, or still has an earlier version's table
    /// layout: only a writer may repair or upgrade it (start the gateway, or open it with
    /// [`super::RedbStore::open`] once, as the CLI's read-only verbs do for a stopped gateway).
    pub fn open(path: &Path) -> Result<RedbSnapshot, StoreError> {
        RedbSnapshot::checked(Builder::new().open_read_only(path)?, path.display())
    }

    /// A store file already open: a backup just written, read back through the very handle
    /// it was written through (its path is not looked up again).
    pub fn from_file(file: File) -> Result<RedbSnapshot, StoreError> {
        let db = Builder::new().open_read_only_with_backend(FileBackend::new(file)?)?;
        RedbSnapshot::checked(db, "the file")
    }

    fn checked(
        db: ReadOnlyDatabase,
        name: impl std::fmt::Display,
    ) -> Result<RedbSnapshot, StoreError> {
        if migrate::is_outdated(&db.begin_read()?)? {
            return Err(StoreError::Unavailable(format!(
                "{name} has an earlier version's table layout; opening it for writing once moves it over"
            )));
        }
        Ok(RedbSnapshot { db })
    }

    pub fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        maintenance::verify_chain(&self.db.begin_read()?)
    }

    /// A page of an export (see [`crate::store::Store::export_page`]).
    pub fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        export::page(&self.db.begin_read()?, subject, after, limit)
    }

    /// Every entry (of `subject`, or all), oldest first, handed to `sink` one at a time.
    pub fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        export::entries(&self.db.begin_read()?, subject, sink)
    }

    /// How many entries `export` will hand over (for progress), in O(1) where possible.
    pub fn count(&self, subject: Option<&Subject>) -> Result<u64, StoreError> {
        export::count(&self.db.begin_read()?, subject)
    }

    /// Copies the snapshot into `target`, a new, empty file.
    pub fn backup(&self, target: File) -> Result<crate::store::BackupReport, StoreError> {
        backup::copy(&self.db.begin_read()?, target)
    }
}
