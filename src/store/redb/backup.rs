//! `hooktrail backup`: a consistent copy of a live store. One read transaction pins a snapshot;
//! every table is copied from it into a new file, in bounded write transactions so memory stays
//! flat, and the copy is then verified like the original.
//!
//! The copy goes into a file the caller has already created: where a backup may land (and that
//! no link is followed on the way there) is decided before the store is involved.

use std::fs::File;

use redb::backends::FileBackend;
use redb::{Database, Key, ReadableTable, TableDefinition, Value};

use super::files::ReadTxn;

use super::tables::{
    BODIES, BY_TIME, CHANGES, DEDUP, DELIVERIES, EMAIL_STATUS, ENTRIES, FLAGGED, LINKS, META,
    PENDING_LINKS, REVOKED_SESSIONS, SESSION_CUTOFFS, SUBTREES, TIMELINES, TREE_HEADS,
    TREE_HEADS_BY_SIZE, UNMATCHED,
};
use crate::store::{BackupReport, StoreError};

/// Rows per write transaction in the copy.
const CHUNK: usize = 20_000;

/// Copies the snapshot `source` into `target`, a new, empty file.
pub fn copy(source: &ReadTxn, target: File) -> Result<BackupReport, StoreError> {
    let length = target
        .metadata()
        .map_err(|err| StoreError::Unavailable(format!("cannot read the backup file: {err}")))?
        .len();
    if length != 0 {
        // Never merged into an existing store, nor written over anything.
        return Err(StoreError::Unavailable(
            "a backup is written only into a new, empty file".to_owned(),
        ));
    }
    let copy = Database::builder().create_with_backend(FileBackend::new(target)?)?;
    let mut report = BackupReport { rows: 0, tables: 0 };
    let mut add = |rows: u64| {
        report.rows += rows;
        report.tables += 1;
    };
    add(copy_table(source, &copy, DELIVERIES)?);
    add(copy_table(source, &copy, BODIES)?);
    add(copy_table(source, &copy, ENTRIES)?);
    add(copy_table(source, &copy, DEDUP)?);
    add(copy_table(source, &copy, FLAGGED)?);
    copy_view_tables(source, &copy, &mut add)?;
    add(copy_table(source, &copy, META)?);
    // One file holds the log and its views, as an earlier version wrote it: without the epoch
    // that pairs two files, opening it moves its views out as they are (see `views::open`).
    let txn = copy.begin_write()?;
    txn.open_table(META)?.remove(super::files::EPOCH)?;
    txn.commit()?;
    // The tree's subtrees answer proofs; the signed heads cannot be made again.
    add(copy_table(source, &copy, SUBTREES)?);
    add(copy_table(source, &copy, TREE_HEADS)?);
    add(copy_table(source, &copy, TREE_HEADS_BY_SIZE)?);
    // Restoring a backup must not bring signed-out sessions back.
    add(copy_table(source, &copy, REVOKED_SESSIONS)?);
    add(copy_table(source, &copy, SESSION_CUTOFFS)?);
    Ok(report)
}

/// Copies every view table of the snapshot `source` into `target` (a backup, or the views file
/// an earlier version's single file moves them to), telling `copied` each table's rows. The
/// views' own stamp (`views_meta`) is not among them: what it says holds only for the files it
/// was written in.
pub(super) fn copy_view_tables(
    source: &ReadTxn,
    target: &Database,
    copied: &mut dyn FnMut(u64),
) -> Result<(), StoreError> {
    copied(copy_table(source, target, TIMELINES)?);
    copied(copy_table(source, target, CHANGES)?);
    copied(copy_table(source, target, BY_TIME)?);
    copied(copy_table(source, target, LINKS)?);
    copied(copy_table(source, target, PENDING_LINKS)?);
    copied(copy_table(source, target, UNMATCHED)?);
    copied(copy_table(source, target, EMAIL_STATUS)?);
    Ok(())
}

/// Copies one table of the snapshot `source` into `target`, in bounded write transactions;
/// how many rows it copied (none from a table that was never written).
pub(super) fn copy_table<K: Key + 'static, V: Value + 'static>(
    source: &ReadTxn,
    target: &Database,
    table: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let from = match source.open_table(table) {
        Ok(from) => from,
        // A table that was never written (an old file) has nothing to copy.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(err) => return Err(err.into()),
    };
    let mut rows = 0u64;
    let mut items = from.iter()?.peekable();
    loop {
        let txn = target.begin_write()?;
        {
            let mut to = txn.open_table(table)?;
            for item in items.by_ref().take(CHUNK) {
                let (key, value) = item?;
                to.insert(key.value(), value.value())?;
                rows += 1;
            }
        }
        txn.commit()?;
        if items.peek().is_none() {
            return Ok(rows);
        }
    }
}
