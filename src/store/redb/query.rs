//! The read path: one index range per page, then a point lookup per entry — O(page).

use std::ops::Bound;

use redb::ReadTransaction;

use super::tables::{BODIES, CATEGORY_TIMELINE, DELIVERIES, ENTRIES, TIMELINE, from_json};
use crate::activity::{Entry, EntryId, Subject};
use crate::store::{Cursor, Page, PageQuery, StoreError, StoredDelivery};

pub fn subject_entries(
    txn: &ReadTransaction,
    subject: &Subject,
    query: &PageQuery,
) -> Result<Page, StoreError> {
    let key = subject.key();
    let limit = query.limit.clamp(1, PageQuery::MAX_LIMIT);
    // One more than asked tells whether an older page exists.
    let positions: Vec<(i64, u128)> = match query.category {
        None => {
            let table = txn.open_table(TIMELINE)?;
            let upper = match query.before {
                Some(c) => Bound::Excluded((key.as_str(), c.occurred_micros, c.id.as_u128())),
                None => Bound::Included((key.as_str(), i64::MAX, u128::MAX)),
            };
            let range = table.range::<(&str, i64, u128)>((
                Bound::Included((key.as_str(), i64::MIN, 0)),
                upper,
            ))?;
            range
                .rev()
                .take(limit + 1)
                .map(|item| item.map(|(k, _)| (k.value().1, k.value().2)))
                .collect::<Result<_, _>>()?
        }
        Some(category) => {
            let table = txn.open_table(CATEGORY_TIMELINE)?;
            let code = category.code();
            let upper = match query.before {
                Some(c) => Bound::Excluded((key.as_str(), code, c.occurred_micros, c.id.as_u128())),
                None => Bound::Included((key.as_str(), code, i64::MAX, u128::MAX)),
            };
            let lower = Bound::Included((key.as_str(), code, i64::MIN, 0));
            let range = table.range::<(&str, u8, i64, u128)>((lower, upper))?;
            range
                .rev()
                .take(limit + 1)
                .map(|item| item.map(|(k, _)| (k.value().2, k.value().3)))
                .collect::<Result<_, _>>()?
        }
    };

    let entries_table = txn.open_table(ENTRIES)?;
    let mut entries = Vec::with_capacity(limit.min(positions.len()));
    for (_, raw_id) in positions.iter().take(limit) {
        let raw = entries_table.get(raw_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "index names missing entry {}",
                EntryId::from_u128(*raw_id)
            ))
        })?;
        entries.push(from_json::<Entry>(raw.value())?);
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

pub fn entry(txn: &ReadTransaction, id: EntryId) -> Result<Option<Entry>, StoreError> {
    let table = txn.open_table(ENTRIES)?;
    let raw = table.get(id.as_u128())?;
    raw.map(|raw| from_json(raw.value())).transpose()
}

pub fn deliveries(
    txn: &ReadTransaction,
    from: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let table = txn.open_table(DELIVERIES)?;
    let bodies = txn.open_table(BODIES)?;
    let mut out = Vec::with_capacity(limit.min(1024));
    for item in table.range(from..)?.take(limit) {
        let (seq, raw) = item?;
        let mut delivery: StoredDelivery = from_json(raw.value())?;
        delivery.body = bodies.get(seq.value())?.map(|body| body.value().to_vec());
        out.push(delivery);
    }
    Ok(out)
}
