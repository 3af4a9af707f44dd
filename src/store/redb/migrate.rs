//! Bringing files written by earlier versions to the current timeline layout, on open.
//!
//! Earlier layouts: first two tables (every entry; by category), then one table of lanes in
//! which lane 0 held every entry besides each category's lane. Now an entry has one row per
//! subject, in its category's lane, and the whole timeline is the lanes merged (see
//! [`super::timelines`]). The first time a writer opens an older file, one transaction moves
//! the category rows over, removes the rest, and records the layout in `meta`. Everything it
//! touches is projection, so a migration cut short by a crash is not committed and runs again.

use redb::{
    ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, UntypedTableHandle,
};

use super::files::{ReadTxn, WriteTxn};

use super::tables::{BY_TIME, ENTRIES, META, TIMELINES, lane, read_chain_head};
use crate::activity::{Category, Entry};
use crate::store::{StoreError, from_json};

pub(super) const OLD_TIMELINE: TableDefinition<(&str, i64, u128), ()> =
    TableDefinition::new("subject_timeline");
pub(super) const OLD_CATEGORY_TIMELINE: TableDefinition<(&str, u8, i64, u128), ()> =
    TableDefinition::new("subject_category_timeline");

/// The `meta` row naming the timeline layout, and the current layout's name.
pub(super) const LAYOUT: &str = "timeline_layout";
const CATEGORY_LANES: &[u8] = b"category-lanes";
/// The lane of every entry in the previous layout.
const EVERY_ENTRY_LANE: u8 = 0;

/// Whether a file is in an earlier layout: it can be read only after a writer has opened it
/// once (which upgrades it).
pub fn is_outdated(txn: &ReadTxn) -> Result<bool, StoreError> {
    if has_old_tables(txn.log_tables()?) {
        return Ok(true);
    }
    let meta = txn.open_table(META)?;
    if meta
        .get(LAYOUT)?
        .is_none_or(|layout| layout.value() != CATEGORY_LANES)
    {
        return Ok(true);
    }
    // Written before the Merkle tree: a writer grows it (see `project::tree::catch_up`).
    let head = read_chain_head(&meta)?;
    Ok(head.tree.size() != head.seq)
}

fn has_old_tables(mut tables: impl Iterator<Item = UntypedTableHandle>) -> bool {
    let old_names = [OLD_TIMELINE.name(), OLD_CATEGORY_TIMELINE.name()];
    tables.any(|table| old_names.contains(&table.name()))
}

/// Fills the index of entries by time for a file written before it existed (the entries are
/// there, the index is empty); how many entries it indexed (0 when there was nothing to do).
pub fn index_entries_by_time(txn: &WriteTxn<'_>) -> Result<u64, StoreError> {
    let mut by_time = txn.open_table(BY_TIME)?;
    if !by_time.is_empty()? {
        return Ok(0);
    }
    let entries = txn.open_table(ENTRIES)?;
    let mut indexed = 0;
    for row in entries.iter()? {
        let (id, raw) = row?;
        let entry: Entry = from_json(raw.value())?;
        by_time.insert((entry.occurred_at.timestamp_micros(), id.value()), ())?;
        indexed += 1;
    }
    Ok(indexed)
}

/// Brings the timelines to the current layout; returns how many rows it moved or removed
/// (0 for a file in the current layout, or a new one).
pub fn upgrade_timelines(txn: &WriteTxn<'_>) -> Result<u64, StoreError> {
    let mut changed = merge_timeline_tables(txn)?;
    let mut meta = txn.open_table(META)?;
    let current = meta
        .get(LAYOUT)?
        .is_some_and(|layout| layout.value() == CATEGORY_LANES);
    if !current {
        let mut timelines = txn.open_table(TIMELINES)?;
        let before = timelines.len()?;
        timelines.retain(|(_, lane, _, _), ()| lane != EVERY_ENTRY_LANE)?;
        changed += before - timelines.len()?;
        meta.insert(LAYOUT, CATEGORY_LANES)?;
    }
    Ok(changed)
}

/// Moves the category rows of the oldest layout's tables into their lanes and drops both
/// tables (the table of every entry repeats what the category rows hold). Returns how many
/// rows it read.
fn merge_timeline_tables(txn: &WriteTxn<'_>) -> Result<u64, StoreError> {
    if !has_old_tables(txn.log_tables()?) {
        return Ok(0);
    }
    let mut moved = txn.open_table(OLD_TIMELINE)?.len()?;
    {
        let mut timelines = txn.open_table(TIMELINES)?;
        let by_category = txn.open_table(OLD_CATEGORY_TIMELINE)?;
        for row in by_category.iter()? {
            let (key, _) = row?;
            let (subject, code, occurred, id) = key.value();
            let category = Category::from_code(code)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown category code {code}")))?;
            timelines.insert((subject, lane(category), occurred, id), ())?;
            moved += 1;
        }
    }
    txn.delete_table(OLD_TIMELINE)?;
    txn.delete_table(OLD_CATEGORY_TIMELINE)?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redb::files::Files;
    use crate::store::redb::tables::TimelineKey;
    use redb::Database;

    /// A fresh pair of files in `dir`.
    fn files(dir: &tempfile::TempDir) -> Files {
        let open = |name: &str| Database::builder().create(dir.path().join(name)).unwrap();
        Files::new(open("old.redb"), open("old.views.redb")).unwrap()
    }

    fn rows(txn: &WriteTxn<'_>) -> Vec<(String, u8, i64, u128)> {
        let timelines = txn.open_table(TIMELINES).unwrap();
        timelines
            .iter()
            .unwrap()
            .map(|row| {
                let (guard, _) = row.unwrap();
                let key: TimelineKey<'_> = guard.value();
                (key.0.to_owned(), key.1, key.2, key.3)
            })
            .collect()
    }

    #[test]
    fn the_oldest_tables_leave_their_category_rows_in_lanes() {
        let dir = tempfile::tempdir().unwrap();
        let db = files(&dir);
        let txn = db.begin_write().unwrap();
        {
            let mut every = txn.open_table(OLD_TIMELINE).unwrap();
            every.insert(("job:1", 10, 7), ()).unwrap();
            every.insert(("job:1", 20, 8), ()).unwrap();
            let mut by_category = txn.open_table(OLD_CATEGORY_TIMELINE).unwrap();
            by_category
                .insert(("job:1", Category::Workflow.code(), 10, 7), ())
                .unwrap();
            by_category
                .insert(("job:1", Category::Communication.code(), 20, 8), ())
                .unwrap();
        }
        assert_eq!(upgrade_timelines(&txn).unwrap(), 4);
        txn.commit().unwrap();

        let txn = db.begin_write().unwrap();
        let mut names: Vec<String> = txn
            .log_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        // The old tables are gone from the log; the lanes are in the views file.
        assert_eq!(names, ["meta"]);
        assert_eq!(
            rows(&txn),
            [
                ("job:1".to_owned(), lane(Category::Workflow), 10, 7),
                ("job:1".to_owned(), lane(Category::Communication), 20, 8),
            ]
        );
        // A file in the current layout is left alone.
        assert_eq!(upgrade_timelines(&txn).unwrap(), 0);
    }

    #[test]
    fn the_lane_of_every_entry_goes() {
        let dir = tempfile::tempdir().unwrap();
        let db = files(&dir);
        let txn = db.begin_write().unwrap();
        {
            let mut timelines = txn.open_table(TIMELINES).unwrap();
            let accounting = lane(Category::Accounting);
            for (lane, occurred, id) in [(0, 5, 1), (accounting, 5, 1), (0, 6, 2)] {
                timelines.insert(("job:1", lane, occurred, id), ()).unwrap();
            }
        }
        assert_eq!(upgrade_timelines(&txn).unwrap(), 2);
        assert_eq!(
            rows(&txn),
            [("job:1".to_owned(), lane(Category::Accounting), 5, 1)]
        );
        assert_eq!(upgrade_timelines(&txn).unwrap(), 0);
    }
}
