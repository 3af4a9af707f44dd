//! The intake tally (see [`crate::store::tally`]): counts by (source, bucket, outcome) and each
//! source's latest stored delivery, in two small tables written in a short transaction of
//! their own. Not projections of the log: `reindex` leaves them alone.

use chrono::{DateTime, Utc};
use redb::ReadableTable;

use super::files::{Files, ReadTxn, WriteTxn};

use super::tables::{SOURCE_LAST_STORED, SOURCE_TALLY};
use crate::store::StoreError;
use crate::store::tally::{Tally, TallyBatch, TallyRow, bucket_of};

/// Creates both tables, so readers never meet a file without them.
pub fn create_tables(txn: &WriteTxn<'_>) -> Result<(), StoreError> {
    txn.open_table(SOURCE_TALLY)?;
    txn.open_table(SOURCE_LAST_STORED)?;
    Ok(())
}

pub fn add(db: &Files, batch: &TallyBatch) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut counts = txn.open_table(SOURCE_TALLY)?;
        counts.retain(|(_, bucket, _), _| bucket >= batch.drop_before)?;
        for row in &batch.rows {
            let key = (row.source.as_str(), row.bucket, row.outcome.as_str());
            let before = counts.get(key)?.map_or(0, |count| count.value());
            counts.insert(key, before.saturating_add(row.count))?;
        }
        let mut last = txn.open_table(SOURCE_LAST_STORED)?;
        for (source, at) in &batch.last_stored {
            let at = at.timestamp_micros();
            let before = last.get(source.as_str())?.map(|at| at.value());
            if before.is_none_or(|before| before < at) {
                last.insert(source.as_str(), at)?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

pub fn read(txn: &ReadTxn, since: DateTime<Utc>) -> Result<Tally, StoreError> {
    let from = bucket_of(since);
    let mut tally = Tally::default();
    for row in txn.open_table(SOURCE_TALLY)?.iter()? {
        let (key, count) = row?;
        let (source, bucket, outcome) = key.value();
        if bucket >= from {
            tally.rows.push(TallyRow {
                source: source.to_owned(),
                bucket,
                outcome: outcome.to_owned(),
                count: count.value(),
            });
        }
    }
    for row in txn.open_table(SOURCE_LAST_STORED)?.iter()? {
        let (source, at) = row?;
        let at = DateTime::from_timestamp_micros(at.value())
            .ok_or_else(|| StoreError::Corrupt("a source's last delivery time".into()))?;
        tally.last_stored.insert(source.value().to_owned(), at);
    }
    Ok(tally)
}
