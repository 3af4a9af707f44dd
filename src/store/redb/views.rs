//! Opening the views file beside the log, and bringing it to the log.
//!
//! Three cases, each told in the log:
//! - **An earlier version's single file** still holds the view tables. They are moved into a
//!   new views file as they are (an upgrade in place; restoring a backup, which is one file,
//!   goes the same way), and dropped from the log file.
//! - **A views file that cannot be opened** (not a redb file, or corrupt past redb's own
//!   repair) is removed and made anew.
//! - **Views that are not the log's** — made anew, removed, restored from elsewhere, or left
//!   behind by a crash between the two halves of a durable commit (see [`super::files`]) —
//!   are rebuilt from the log by the rules `reindex` runs.

use std::path::Path;

use redb::{Database, Key, TableDefinition, TableHandle, Value};

use super::backup::copy_table;
use super::files::{self, Files, ReadTxn, VIEWS_META};
use super::tables::{
    BY_TIME, CHANGES, EMAIL_STATUS, LINKS, META, PENDING_LINKS, TIMELINES, UNMATCHED,
};
use super::{maintenance, open_database};
use crate::store::{ReindexReport, Rereader, StoreError};

/// Why the views must be rebuilt (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuild {
    /// There was no views file, or one that could not be opened (made anew).
    Missing,
    /// It was there, but made with another state of the log.
    Stale,
}

impl std::fmt::Display for Rebuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rebuild::Missing => write!(f, "is missing"),
            Rebuild::Stale => write!(f, "does not match the log"),
        }
    }
}

/// Opens the views file for the log file at `path` (already open as `log`), moving an earlier
/// version's view tables into it first.
pub fn open(path: &Path, log: &Database, cache_bytes: usize) -> Result<Database, StoreError> {
    let views_path = files::views_path_for(path);
    if holds_views(log)? {
        return move_out_of(log, &views_path, cache_bytes);
    }
    let existed = views_path.exists();
    match open_database(&views_path, cache_bytes) {
        Ok(views) => {
            if !existed {
                tracing::debug!(path = %views_path.display(), "views file created");
            }
            Ok(views)
        }
        Err(StoreError::Unavailable(reason)) if existed => {
            tracing::warn!(
                path = %views_path.display(),
                %reason,
                "the views file cannot be opened; removing it, to rebuild it from the log"
            );
            remove(&views_path)?;
            open_database(&views_path, cache_bytes)
        }
        Err(err) => Err(err),
    }
}

/// Whether the views must be rebuilt, and why: to be asked before anything commits durably to
/// the pair (which stamps both files with the same epoch).
pub fn check(files: &Files) -> Result<Option<Rebuild>, StoreError> {
    if files.begin_read()?.views_match()? {
        return Ok(None);
    }
    Ok(Some(if table_exists(&files.views, VIEWS_META)? {
        Rebuild::Stale
    } else {
        Rebuild::Missing
    }))
}

/// Rebuilds the views from the log, by the rules `reindex` runs. `reread` is how deliveries
/// are normalized again (see [`crate::store::project::reindex`]); without it every delivery
/// keeps the entries it has.
pub fn rebuild(
    files: &Files,
    path: &Path,
    reason: &Rebuild,
    reread: Option<&Rereader<'_>>,
) -> Result<ReindexReport, StoreError> {
    let views_path = files::views_path_for(path);
    tracing::warn!(
        path = %views_path.display(),
        "the views file {reason}; rebuilding it from the log before serving"
    );
    let started = std::time::Instant::now();
    let keep = |_: &crate::sources::RawDelivery<'_>| None;
    let report = maintenance::reindex(files, reread.unwrap_or(&keep))?;
    tracing::warn!(
        path = %views_path.display(),
        deliveries = report.deliveries,
        entries = report.entries,
        normalized_again = reread.is_some(),
        took_ms = started.elapsed().as_millis() as u64,
        "the views were rebuilt from the log"
    );
    Ok(report)
}

/// Whether the log file still holds view tables (an earlier version's single file).
fn holds_views(log: &Database) -> Result<bool, StoreError> {
    let txn = redb::ReadableDatabase::begin_read(log)?;
    let mut tables = txn.list_tables()?;
    Ok(tables.any(|table| files::is_view(table.name())))
}

fn table_exists<K: Key + 'static, V: Value + 'static>(
    db: &Database,
    table: TableDefinition<K, V>,
) -> Result<bool, StoreError> {
    let txn = redb::ReadableDatabase::begin_read(db)?;
    match txn.open_table(table) {
        Ok(_) => Ok(true),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Moves the view tables out of an earlier version's single file into a new views file. The
/// views file is written and synced first, then the tables are dropped from the log: a crash
/// between leaves them in the log, and the move runs again at the next open.
fn move_out_of(
    log: &Database,
    views_path: &Path,
    cache_bytes: usize,
) -> Result<Database, StoreError> {
    if views_path.exists() {
        // Whatever is there predates the single file it sits beside.
        remove(views_path)?;
    }
    let views = open_database(views_path, cache_bytes)?;
    let started = std::time::Instant::now();
    // Read from the log file alone, where this version looks for them in the views file.
    let source = ReadTxn::of_one_file(log)?;
    let mut rows = 0;
    rows += copy_table(&source, &views, TIMELINES)?;
    rows += copy_table(&source, &views, CHANGES)?;
    rows += copy_table(&source, &views, BY_TIME)?;
    rows += copy_table(&source, &views, LINKS)?;
    rows += copy_table(&source, &views, PENDING_LINKS)?;
    rows += copy_table(&source, &views, UNMATCHED)?;
    rows += copy_table(&source, &views, EMAIL_STATUS)?;
    drop(source);
    // They are the views of the log as it is: its last durable commit's epoch says so.
    let epoch = files::epoch_of(&redb::ReadableDatabase::begin_read(log)?.open_table(META))?;
    if let Some(epoch) = epoch {
        let txn = views.begin_write()?;
        txn.open_table(VIEWS_META)?
            .insert(files::EPOCH, epoch.as_slice())?;
        txn.commit()?;
    }
    let txn = log.begin_write()?;
    for name in files::VIEW_TABLES {
        txn.delete_table(TableDefinition::<(), ()>::new(name))?;
    }
    txn.commit()?;
    tracing::info!(
        path = %views_path.display(),
        rows,
        took_ms = started.elapsed().as_millis() as u64,
        "the views moved out of the log file into a file of their own"
    );
    Ok(views)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path)
        .map_err(|err| StoreError::Unavailable(format!("cannot remove {}: {err}", path.display())))
}
