//! Read-only access to a store file no gateway has open (CLI verbs on a stopped gateway; a
//! running one answers the same questions through its API).

use std::fs::File;
use std::path::Path;

use redb::backends::FileBackend;
use redb::{Builder, ReadOnlyDatabase};

use super::files::{self, ReadTxn};
use super::{backup, export, maintenance, migrate};
use crate::activity::{Entry, Subject};
use crate::store::{ChainReport, Cursor, Page, StoreError};

pub struct RedbSnapshot {
    log: ReadOnlyDatabase,
    /// `None` for a backup, whose one file holds the views too.
    views: Option<ReadOnlyDatabase>,
}

impl RedbSnapshot {
    /// Fails if a file needs recovery after a crash, if the log still has an earlier version's
    /// table layout, or if the views are missing or not the log's: only a writer may repair,
    /// upgrade or rebuild them (start the gateway, or open the store with
    /// [`super::RedbStore::open`] once, as the CLI's read-only verbs do for a stopped gateway).
    pub fn open(path: &Path) -> Result<RedbSnapshot, StoreError> {
        let log = Builder::new().open_read_only(path)?;
        // An earlier version's single file holds the views itself.
        if ReadTxn::of_one_file(&log)?.log_holds_views()? {
            return Err(outdated(path.display()));
        }
        let views_path = files::views_path_for(path);
        if !views_path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} has no views file beside it; opening it for writing once rebuilds them",
                path.display()
            )));
        }
        let snapshot = RedbSnapshot {
            log,
            views: Some(Builder::new().open_read_only(&views_path)?),
        };
        snapshot.checked(path.display())
    }

    /// A store file already open: a backup just written, read back through the very handle
    /// it was written through (its path is not looked up again).
    pub fn from_file(file: File) -> Result<RedbSnapshot, StoreError> {
        let log = Builder::new().open_read_only_with_backend(FileBackend::new(file)?)?;
        RedbSnapshot { log, views: None }.checked("the file")
    }

    fn checked(self, name: impl std::fmt::Display) -> Result<RedbSnapshot, StoreError> {
        let txn = self.begin_read()?;
        if migrate::is_outdated(&txn)? {
            return Err(outdated(name));
        }
        if self.views.is_some() && !txn.views_match()? {
            return Err(StoreError::Unavailable(format!(
                "the views beside {name} are not the log's; opening it for writing once rebuilds them"
            )));
        }
        drop(txn);
        Ok(self)
    }

    fn begin_read(&self) -> Result<ReadTxn, StoreError> {
        match &self.views {
            Some(views) => ReadTxn::of_files(&self.log, views),
            None => ReadTxn::of_one_file(&self.log),
        }
    }

    pub fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        maintenance::verify_chain(&self.begin_read()?)
    }

    /// A page of an export (see [`crate::store::Store::export_page`]).
    pub fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        export::page(&self.begin_read()?, subject, after, limit)
    }

    /// Every entry (of `subject`, or all), oldest first, handed to `sink` one at a time.
    pub fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        export::entries(&self.begin_read()?, subject, sink)
    }

    /// How many entries `export` will hand over (for progress), in O(1) where possible.
    pub fn count(&self, subject: Option<&Subject>) -> Result<u64, StoreError> {
        export::count(&self.begin_read()?, subject)
    }

    /// Copies the snapshot into `target`, a new, empty file.
    pub fn backup(&self, target: File) -> Result<crate::store::BackupReport, StoreError> {
        backup::copy(&self.begin_read()?, target)
    }
}

fn outdated(name: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!(
        "{name} has an earlier version's table layout; opening it for writing once moves it over"
    ))
}
