//! Opening the views file beside the log, and bringing it to the log.
//!
//! Four cases, each told in the log:
//! - **An earlier version's single file** still holds the view tables. They are moved into a
//!   new views file as they are (an upgrade in place; restoring a backup, which is one file,
//!   goes the same way), and dropped from the log file.
//! - **A views file redb finds corrupt** (not a redb file, or past redb's own repair) is
//!   removed and made anew. Other failures to open it (permissions, I/O) are errors.
//! - **Views one durable commit ahead of the log** (the store stopped between the two files'
//!   syncs of a checkpoint) are rolled back to the savepoint they keep of the log's last
//!   durable state; the journal's replay then redoes both files.
//! - **Views that are not the log's otherwise** — made anew, removed, restored from
//!   elsewhere, or behind a log that kept commits they lost (see [`super::files`]) — are
//!   rebuilt from the log by the rules `reindex` runs.

use std::path::Path;

use redb::{Database, Key, TableDefinition, Value};

use super::backup::copy_view_tables;
use super::files::{self, Files, ReadTxn, VIEWS_META};
use super::{maintenance, open_database};
use crate::store::{ReindexReport, Rereader, StoreError};

/// Why the views must be rebuilt (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// There was no views file, or one that could not be opened (made anew).
    Missing,
    /// It was there, but holds another state of the log.
    Mismatched,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Missing => write!(f, "is missing"),
            Stale::Mismatched => write!(f, "does not match the log"),
        }
    }
}

/// Opens the views file for the log file at `path` (already open as `log`), moving an earlier
/// version's view tables into it first.
pub fn open(path: &Path, log: &Database, cache_bytes: usize) -> Result<Database, StoreError> {
    let views_path = files::views_path_for(path);
    if ReadTxn::of_one_file(log)?.log_holds_views()? {
        return move_out_of(log, &views_path, cache_bytes);
    }
    let corrupt = match open_database(&views_path, cache_bytes) {
        Ok(views) => return Ok(views),
        // Not a redb file, or damaged past redb's repair: derived data, so made anew. Any other
        // failure (permissions, I/O, a file in use) is the caller's to see, as for the log.
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason))) => reason,
        // What redb says of a file that is not one of its own.
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(err)))
            if err.kind() == std::io::ErrorKind::InvalidData =>
        {
            err.to_string()
        }
        Err(err) => return Err(err.into()),
    };
    tracing::warn!(
        path = %views_path.display(),
        reason = %corrupt,
        "the views file is corrupt; removing it, to rebuild it from the log"
    );
    remove(&views_path)?;
    Ok(open_database(&views_path, cache_bytes)?)
}

/// Whether the views must be rebuilt, and why. (No commit in between changes the answer: a
/// commit stamps only views that match; see [`files::Stamp`].)
pub fn check(files: &Files) -> Result<Option<Stale>, StoreError> {
    if files.in_step() {
        return Ok(None);
    }
    Ok(Some(if table_exists(&files.views, VIEWS_META)? {
        Stale::Mismatched
    } else {
        Stale::Missing
    }))
}

/// Rolls views ahead of the log back to the log's last durable state, which they keep as a
/// savepoint (see [`Files::roll_back_views`]): what a crash between the two files' syncs of a
/// checkpoint leaves. The journal's replay then redoes what both files lost. Whether they were
/// rolled back (a failure to is logged, and leaves them to be rebuilt).
pub fn roll_back(files: &Files, path: &Path) -> bool {
    let started = std::time::Instant::now();
    let rolled_back = files.roll_back_views().unwrap_or_else(|err| {
        // Derived data: what cannot be rolled back is rebuilt.
        tracing::warn!(error = %err, "the views could not be rolled back to the log's");
        false
    });
    if rolled_back {
        tracing::warn!(
            path = %files::views_path_for(path).display(),
            took_ms = started.elapsed().as_millis() as u64,
            "the views file was ahead of the log (the store stopped between the two files' \
             syncs); rolled it back to the log's last checkpoint"
        );
    }
    rolled_back
}

/// Rebuilds the views from the log, by the rules `reindex` runs. `reread` is how deliveries
/// are normalized again (see [`crate::store::project::reindex`]); without it every delivery
/// keeps the entries it has.
pub fn rebuild(
    files: &Files,
    path: &Path,
    reason: &Stale,
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
    copy_view_tables(&source, &views, &mut |copied| rows += copied)?;
    drop(source);
    let stamped = files::stamp_moved_views(log, &views)?;
    let txn = log.begin_write()?;
    for name in files::VIEW_TABLES {
        txn.delete_table(TableDefinition::<(), ()>::new(name))?;
    }
    txn.commit()?;
    tracing::info!(
        path = %views_path.display(),
        rows,
        as_they_are = stamped,
        took_ms = started.elapsed().as_millis() as u64,
        "the views moved out of the log file into a file of their own"
    );
    Ok(views)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path)
        .map_err(|err| StoreError::Unavailable(format!("cannot remove {}: {err}", path.display())))
}
