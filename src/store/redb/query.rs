//! The read path: a subject's timeline lanes read only as far as a page needs (see
//! [`super::timelines`]), then a point lookup per entry — O(page).

use std::ops::Bound;

use redb::{AccessGuard, ReadableTable, ReadableTableMetadata};

use super::files::ReadTxn;

use super::records::decode_delivery;
use super::tables::{
    BODIES, BY_TIME, CHANGES, ChangeKey, DELIVERIES, EMAIL_STATUS, ENTRIES, TIMELINES, UNMATCHED,
};
use super::timelines::{self, Order};
use crate::activity::Details;
use crate::activity::{Entry, EntryId, Subject};
use crate::store::from_json;
use crate::store::project::Lanes;
use crate::store::{
    Change, ChangeCursor, Cursor, Feed, LaneCounts, Page, PageQuery, StoreError, StoredDelivery,
};

pub fn subject_entries(
    txn: &ReadTxn,
    subject: &Subject,
    query: &PageQuery,
) -> Result<Page, StoreError> {
    let key = subject.key();
    let limit = query.limit.clamp(1, PageQuery::MAX_LIMIT);
    let table = txn.open_table(TIMELINES)?;
    let before = match query.before {
        Some(c) => Bound::Excluded((c.occurred_micros, c.id.as_u128())),
        None => Bound::Unbounded,
    };
    // One more than asked tells whether an older page exists.
    let positions: Vec<(i64, u128)> = timelines::positions(
        &table,
        &key,
        Lanes::of(query),
        Bound::Unbounded,
        before,
        Order::NewestFirst,
    )?
    .take(limit + 1)
    .collect::<Result<_, _>>()?;
    page_of(txn, &positions, limit)
}

/// The page that `positions` (read one past `limit`) make: their entries, each with its
/// roll-up, and where the next page starts.
fn page_of(txn: &ReadTxn, positions: &[(i64, u128)], limit: usize) -> Result<Page, StoreError> {
    let entries_table = txn.open_table(ENTRIES)?;
    let mut entries = Vec::with_capacity(limit.min(positions.len()));
    for (_, raw_id) in positions.iter().take(limit) {
        let raw = entries_table.get(raw_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "index names missing entry {}",
                EntryId::from_u128(*raw_id)
            ))
        })?;
        entries.push(with_status(txn, from_json::<Entry>(raw.value())?)?);
    }
    let next = (positions.len() > limit)
        .then(|| positions.get(limit - 1))
        .flatten()
        .map(|&(occurred_micros, id)| Cursor {
            occurred_micros,
            id: EntryId::from_u128(id),
        });
    Ok(Page { entries, next })
}

/// The feed's changes after `after`, oldest first: a range of its change rows, then a point
/// lookup per entry — O(limit).
pub fn changes(
    txn: &ReadTxn,
    feed: Feed<'_>,
    after: ChangeCursor,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    let key = feed.key();
    let Some(table) = changes_table(txn)? else {
        return Ok(Vec::new());
    };
    let from = (key.as_str(), after.seq, after.id.as_u128());
    let to = (key.as_str(), u64::MAX, u128::MAX);
    let mut changes = Vec::new();
    for row in table
        .range((Bound::Excluded(from), Bound::Included(to)))?
        .take(limit.clamp(1, PageQuery::MAX_LIMIT))
    {
        let (_, seq, raw_id) = row?.0.value();
        let id = EntryId::from_u128(raw_id);
        // An entry is never removed while a change names it, but reindex may renumber a
        // delivery's entries: what no longer exists has nothing to show.
        if let Some(entry) = entry(txn, id)? {
            changes.push(Change {
                cursor: ChangeCursor { seq, id },
                entry,
            });
        }
    }
    Ok(changes)
}

/// The feed's latest change, or [`ChangeCursor::START`]: O(log n).
pub fn latest_change(txn: &ReadTxn, feed: Feed<'_>) -> Result<ChangeCursor, StoreError> {
    let key = feed.key();
    let Some(table) = changes_table(txn)? else {
        return Ok(ChangeCursor::START);
    };
    let rows = (key.as_str(), 0, 0)..=(key.as_str(), u64::MAX, u128::MAX);
    Ok(match table.range(rows)?.next_back().transpose()? {
        Some((row, _)) => {
            let (_, seq, id) = row.value();
            ChangeCursor {
                seq,
                id: EntryId::from_u128(id),
            }
        }
        None => ChangeCursor::START,
    })
}

/// The changes table; `None` in a file no writer has opened since it was added.
fn changes_table(
    txn: &ReadTxn,
) -> Result<Option<redb::ReadOnlyTable<ChangeKey<'static>, ()>>, StoreError> {
    match txn.open_table(CHANGES) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

pub fn entry(txn: &ReadTxn, id: EntryId) -> Result<Option<Entry>, StoreError> {
    let table = txn.open_table(ENTRIES)?;
    let Some(raw) = table.get(id.as_u128())? else {
        return Ok(None);
    };
    with_status(txn, from_json(raw.value())?).map(Some)
}

/// Emails carry the rollup of their delivery callbacks, kept beside the immutable entry.
pub(super) fn with_status(txn: &ReadTxn, mut entry: Entry) -> Result<Entry, StoreError> {
    if matches!(entry.details, Details::Email { .. }) {
        let table = txn.open_table(EMAIL_STATUS)?;
        entry.delivery_status = table
            .get(entry.id.as_u128())?
            .map(|raw| from_json(raw.value()))
            .transpose()?;
    }
    Ok(entry)
}

pub fn subject_origin(txn: &ReadTxn, subject: &Subject) -> Result<Option<Entry>, StoreError> {
    let key = subject.key();
    let table = txn.open_table(TIMELINES)?;
    let first = timelines::positions(
        &table,
        &key,
        Lanes::EVERYTHING,
        Bound::Unbounded,
        Bound::Unbounded,
        Order::OldestFirst,
    )?
    .next()
    .transpose()?;
    match first {
        Some((_, id)) => entry(txn, EntryId::from_u128(id)),
        None => Ok(None),
    }
}

/// Each lane's rows, counted no further than [`LaneCounts::UP_TO`].
pub fn lane_counts(txn: &ReadTxn, subject: &Subject) -> Result<LaneCounts, StoreError> {
    let key = subject.key();
    let table = txn.open_table(TIMELINES)?;
    let mut counts = LaneCounts::default();
    for lane in Lanes::EVERYTHING.iter() {
        counts.set(
            lane,
            timelines::lane_len(&table, &key, lane, LaneCounts::UP_TO)?,
        );
    }
    Ok(counts)
}

/// Every subject's latest entries, by when they happened: a range of the index by time read
/// backwards, then a point lookup per entry — O(limit).
pub fn recent(txn: &ReadTxn, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError> {
    let limit = limit.clamp(1, PageQuery::MAX_LIMIT);
    let table = txn.open_table(BY_TIME)?;
    let upper = match before {
        Some(c) => Bound::Excluded((c.occurred_micros, c.id.as_u128())),
        None => Bound::Unbounded,
    };
    // One more than asked tells whether an older page exists.
    let positions: Vec<(i64, u128)> = table
        .range::<(i64, u128)>((Bound::Unbounded, upper))?
        .rev()
        .take(limit + 1)
        .map(|row| row.map(|(key, _)| key.value()))
        .collect::<Result<_, _>>()?;
    page_of(txn, &positions, limit)
}

pub fn unmatched(
    txn: &ReadTxn,
    limit: usize,
    before: Option<EntryId>,
) -> Result<Vec<Entry>, StoreError> {
    let table = txn.open_table(UNMATCHED)?;
    let entries = txn.open_table(ENTRIES)?;
    let upper = before.map_or(u128::MAX, |id| id.as_u128().saturating_sub(1));
    let mut out = Vec::new();
    for item in table
        .range(..=upper)?
        .rev()
        .take(limit.clamp(1, PageQuery::MAX_LIMIT))
    {
        let (id, _) = item?;
        if let Some(raw) = entries.get(id.value())? {
            out.push(from_json(raw.value())?);
        }
    }
    Ok(out)
}

/// redb keeps every table's length in its root header, so this is O(1) and always agrees
/// with the rows (a separate counter would be one more thing to keep in step).
pub fn unmatched_count(txn: &ReadTxn) -> Result<u64, StoreError> {
    Ok(txn.open_table(UNMATCHED)?.len()?)
}

/// Deliveries with seqs in `seqs`, in order, at most `limit`.
pub fn deliveries(
    txn: &ReadTxn,
    seqs: std::ops::RangeFrom<u64>,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let table = txn.open_table(DELIVERIES)?;
    let bodies = txn.open_table(BODIES)?;
    table
        .range(seqs)?
        .take(limit)
        .map(|item| with_body(&bodies, item?))
        .collect()
}

/// Deliveries with seq ≥ `from`, at most `limit`, without their bodies.
pub fn delivery_records(
    txn: &ReadTxn,
    from: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let table = txn.open_table(DELIVERIES)?;
    table
        .range(from..)?
        .take(limit)
        .map(|item| decode_delivery(item?.1.value()))
        .collect()
}

/// Deliveries with seqs below `before`, newest first, at most `limit`.
pub fn deliveries_before(
    txn: &ReadTxn,
    before: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let table = txn.open_table(DELIVERIES)?;
    let bodies = txn.open_table(BODIES)?;
    table
        .range(..before)?
        .rev()
        .take(limit)
        .map(|item| with_body(&bodies, item?))
        .collect()
}

fn with_body(
    bodies: &impl ReadableTable<u64, &'static [u8]>,
    (seq, raw): (AccessGuard<'_, u64>, AccessGuard<'_, &'static [u8]>),
) -> Result<StoredDelivery, StoreError> {
    let mut delivery = decode_delivery(raw.value())?;
    delivery.body = bodies.get(seq.value())?.map(|body| body.value().to_vec());
    Ok(delivery)
}
