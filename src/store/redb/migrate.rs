//! Bringing files written by earlier versions to the current table layout, on open.
//!
//! Earlier versions kept a subject's timelines in two tables (every entry; by category). They
//! are now lanes of one table ([`super::tables::TIMELINES`]); a file with the old tables gets
//! their rows moved over in one transaction the first time the gateway opens it. Everything
//! moved is projection, so a move cut short by a crash is simply not committed and runs again.

use redb::{
    ReadTransaction, ReadableTable, TableDefinition, TableHandle, UntypedTableHandle,
    WriteTransaction,
};

use super::tables::{TIMELINES, lane};
use crate::activity::Category;
use crate::store::StoreError;

pub(super) const OLD_TIMELINE: TableDefinition<(&str, i64, u128), ()> =
    TableDefinition::new("subject_timeline");
pub(super) const OLD_CATEGORY_TIMELINE: TableDefinition<(&str, u8, i64, u128), ()> =
    TableDefinition::new("subject_category_timeline");

/// Whether a file still has the tables of an earlier layout: it can be read only after a
/// writer has opened it once (which moves them over).
pub fn is_outdated(txn: &ReadTransaction) -> Result<bool, StoreError> {
    Ok(has_old_tables(txn.list_tables()?))
}

fn has_old_tables(mut tables: impl Iterator<Item = UntypedTableHandle>) -> bool {
    let old_names = [OLD_TIMELINE.name(), OLD_CATEGORY_TIMELINE.name()];
    tables.any(|table| old_names.contains(&table.name()))
}

/// Moves the rows of the old timeline tables into their lanes and drops the old tables.
/// Returns how many rows moved (0 for a file already in the current layout).
pub fn merge_timeline_tables(txn: &WriteTransaction) -> Result<u64, StoreError> {
    if !has_old_tables(txn.list_tables()?) {
        return Ok(0);
    }
    let mut moved = 0;
    let mut timelines = txn.open_table(TIMELINES)?;
    {
        let every = txn.open_table(OLD_TIMELINE)?;
        for row in every.iter()? {
            let (key, _) = row?;
            let (subject, occurred, id) = key.value();
            timelines.insert((subject, lane(None), occurred, id), ())?;
            moved += 1;
        }
        let by_category = txn.open_table(OLD_CATEGORY_TIMELINE)?;
        for row in by_category.iter()? {
            let (key, _) = row?;
            let (subject, code, occurred, id) = key.value();
            let category = Category::ALL
                .into_iter()
                .find(|category| category.code() == code)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown category code {code}")))?;
            timelines.insert((subject, lane(Some(category)), occurred, id), ())?;
            moved += 1;
        }
    }
    drop(timelines);
    txn.delete_table(OLD_TIMELINE)?;
    txn.delete_table(OLD_CATEGORY_TIMELINE)?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redb::tables::TimelineKey;
    use redb::Database;

    #[test]
    fn the_old_tables_move_into_lanes_and_disappear() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder()
            .create(dir.path().join("old.redb"))
            .unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut every = txn.open_table(OLD_TIMELINE).unwrap();
            every.insert(("job:1", 10, 7), ()).unwrap();
            every.insert(("job:1", 20, 8), ()).unwrap();
            let mut by_category = txn.open_table(OLD_CATEGORY_TIMELINE).unwrap();
            let code = Category::Communication.code();
            by_category.insert(("job:1", code, 20, 8), ()).unwrap();
        }
        assert_eq!(merge_timeline_tables(&txn).unwrap(), 3);
        txn.commit().unwrap();

        let txn = db.begin_write().unwrap();
        let names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        assert_eq!(names, ["subject_timelines"]);
        {
            let timelines = txn.open_table(TIMELINES).unwrap();
            let rows: Vec<(String, u8, i64, u128)> = timelines
                .iter()
                .unwrap()
                .map(|row| {
                    let (guard, _) = row.unwrap();
                    let key: TimelineKey<'_> = guard.value();
                    (key.0.to_owned(), key.1, key.2, key.3)
                })
                .collect();
            let emails = lane(Some(Category::Communication));
            assert_eq!(
                rows,
                [
                    ("job:1".to_owned(), 0, 10, 7),
                    ("job:1".to_owned(), 0, 20, 8),
                    ("job:1".to_owned(), emails, 20, 8),
                ]
            );
        }
        // A file in the current layout is left alone.
        assert_eq!(merge_timeline_tables(&txn).unwrap(), 0);
    }
}
