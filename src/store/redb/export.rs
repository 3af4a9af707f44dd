//! Streaming reads of whole timelines or of everything, oldest first, one entry at a time —
//! memory stays constant whatever the size of the store.

use redb::{ReadableTable, ReadableTableMetadata};

use super::files::ReadTxn;

use super::query::with_status;
use super::tables::{ENTRIES, TIMELINES, lane_rows};
use super::timelines::{self, Order};
use crate::activity::{Entry, EntryId, Subject};
use crate::store::from_json;
use crate::store::project::Lanes;
use std::ops::Bound;

use crate::store::{Cursor, Page, StoreError};

pub fn entries(
    txn: &ReadTxn,
    subject: Option<&Subject>,
    sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let entries = txn.open_table(ENTRIES)?;
    let mut written = 0;
    match subject {
        Some(subject) => {
            let key = subject.key();
            let table = txn.open_table(TIMELINES)?;
            let all = Bound::Unbounded;
            for position in timelines::positions(
                &table,
                &key,
                Lanes::EVERYTHING,
                all,
                all,
                Order::OldestFirst,
            )? {
                let (_, id) = position?;
                let raw = entries.get(id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "index names missing entry {}",
                        EntryId::from_u128(id)
                    ))
                })?;
                sink(with_status(txn, from_json(raw.value())?)?)?;
                written += 1;
            }
        }
        None => {
            for item in entries.iter()? {
                let (_, raw) = item?;
                sink(with_status(txn, from_json(raw.value())?)?)?;
                written += 1;
            }
        }
    }
    Ok(written)
}

pub fn count(txn: &ReadTxn, subject: Option<&Subject>) -> Result<u64, StoreError> {
    match subject {
        None => Ok(txn.open_table(ENTRIES)?.len()?),
        Some(subject) => {
            let key = subject.key();
            let table = txn.open_table(TIMELINES)?;
            let mut count = 0;
            for lane in Lanes::EVERYTHING.iter() {
                count += table.range(lane_rows(&key, lane))?.count() as u64;
            }
            Ok(count)
        }
    }
}

pub fn page(
    txn: &ReadTxn,
    subject: Option<&Subject>,
    after: Option<Cursor>,
    limit: usize,
) -> Result<Page, StoreError> {
    let entries = txn.open_table(ENTRIES)?;
    let limit = limit.max(1);
    let positions: Vec<(i64, u128)> = match subject {
        Some(subject) => {
            let key = subject.key();
            let after = match after {
                Some(c) => Bound::Excluded((c.occurred_micros, c.id.as_u128())),
                None => Bound::Unbounded,
            };
            let table = txn.open_table(TIMELINES)?;
            timelines::positions(
                &table,
                &key,
                Lanes::EVERYTHING,
                after,
                Bound::Unbounded,
                Order::OldestFirst,
            )?
            .take(limit)
            .collect::<Result<_, _>>()?
        }
        None => {
            let from = after.map_or(0, |c| c.id.as_u128().saturating_add(1));
            entries
                .range(from..)?
                .take(limit)
                .map(|item| item.map(|(id, _)| (0, id.value())))
                .collect::<Result<_, _>>()?
        }
    };
    let mut page = Vec::with_capacity(positions.len());
    for (_, id) in &positions {
        let raw = entries.get(id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "index names missing entry {}",
                EntryId::from_u128(*id)
            ))
        })?;
        page.push(with_status(txn, from_json(raw.value())?)?);
    }
    let next = (positions.len() == limit)
        .then(|| positions.last())
        .flatten()
        .map(|&(occurred_micros, id)| Cursor {
            occurred_micros,
            id: EntryId::from_u128(id),
        });
    Ok(Page {
        entries: page,
        next,
    })
}
