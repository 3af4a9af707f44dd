//! Reading a subject's timeline out of its lanes.
//!
//! Each entry has one row per subject, in the lane of its category (see
//! [`super::tables::lane`]). A filtered timeline is one lane, read as one range; the whole
//! timeline is the lanes merged — one range per category, each read only as far as the page
//! needs, so a page still costs O(page) however long the history. (Earlier versions also kept a
//! lane of every entry: a second row per entry, which cost each delivery a B-tree insert.)

use std::iter::Peekable;
use std::ops::Bound;

use redb::{AccessGuard, ReadableTable};

use super::tables::TimelineKey;
use crate::store::StoreError;
use crate::store::project::Lanes;

/// Where an entry stands in a timeline: (occurred µs, entry id), the order of its rows.
pub type Position = (i64, u128);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

type Rows<'t> = Box<dyn Iterator<Item = Result<Position, StoreError>> + 't>;

/// The positions of `subject`'s entries in `lanes` between `from` and `to`, in `order`.
pub fn positions<'t>(
    table: &'t impl ReadableTable<TimelineKey<'static>, ()>,
    subject: &str,
    lanes: Lanes,
    from: Bound<Position>,
    to: Bound<Position>,
    order: Order,
) -> Result<Positions<'t>, StoreError> {
    let lanes = lanes
        .iter()
        .map(|lane| lane_positions(table, subject, lane, from, to, order))
        .collect::<Result<_, _>>()?;
    Ok(Positions { lanes, order })
}

/// How many rows `subject`'s `lane` holds, counted no further than `up_to`.
pub fn lane_len(
    table: &impl ReadableTable<TimelineKey<'static>, ()>,
    subject: &str,
    lane: u8,
    up_to: usize,
) -> Result<usize, StoreError> {
    let rows = lane_positions(
        table,
        subject,
        lane,
        Bound::Unbounded,
        Bound::Unbounded,
        Order::OldestFirst,
    )?;
    rows.take(up_to)
        .try_fold(0, |counted, row| row.map(|_| counted + 1))
}

fn lane_positions<'t>(
    table: &'t impl ReadableTable<TimelineKey<'static>, ()>,
    subject: &str,
    lane: u8,
    from: Bound<Position>,
    to: Bound<Position>,
    order: Order,
) -> Result<Peekable<Rows<'t>>, StoreError> {
    let key = |(occurred, id): Position| (subject, lane, occurred, id);
    let lower = match from {
        Bound::Included(position) => Bound::Included(key(position)),
        Bound::Excluded(position) => Bound::Excluded(key(position)),
        Bound::Unbounded => Bound::Included(key((i64::MIN, 0))),
    };
    let upper = match to {
        Bound::Included(position) => Bound::Included(key(position)),
        Bound::Excluded(position) => Bound::Excluded(key(position)),
        Bound::Unbounded => Bound::Included(key((i64::MAX, u128::MAX))),
    };
    let range = table.range::<TimelineKey<'_>>((lower, upper))?;
    type Row<'t> = (AccessGuard<'t, TimelineKey<'static>>, AccessGuard<'t, ()>);
    let rows = |item: Result<Row<'t>, redb::StorageError>| {
        let (row, _) = item?;
        let (_, _, occurred, id) = row.value();
        Ok((occurred, id))
    };
    let rows: Rows<'t> = match order {
        Order::OldestFirst => Box::new(range.map(rows)),
        Order::NewestFirst => Box::new(range.rev().map(rows)),
    };
    Ok(rows.peekable())
}

/// A subject's positions, its lanes merged into one order.
pub struct Positions<'t> {
    lanes: Vec<Peekable<Rows<'t>>>,
    order: Order,
}

impl Iterator for Positions<'_> {
    type Item = Result<Position, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, Position)> = None;
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            match lane.peek() {
                None => {}
                // A failed read ends the walk with its error.
                Some(Err(_)) => return lane.next(),
                Some(Ok(position)) => {
                    let better = best.is_none_or(|(_, current)| match self.order {
                        Order::OldestFirst => *position < current,
                        Order::NewestFirst => *position > current,
                    });
                    if better {
                        best = Some((index, *position));
                    }
                }
            }
        }
        let (index, _) = best?;
        self.lanes[index].next()
    }
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase};

    use super::*;
    use crate::activity::Category;
    use crate::store::project::{CALLBACK_LANE, lane};
    use crate::store::redb::tables::TIMELINES;

    #[test]
    fn lanes_merge_in_either_order_between_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder()
            .create(dir.path().join("t.redb"))
            .unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TIMELINES).unwrap();
            let rows = [
                (Category::Workflow, 10, 1),
                (Category::Accounting, 20, 2),
                (Category::Workflow, 20, 3),
                (Category::Communication, 30, 4),
                (Category::Accounting, 40, 5),
            ];
            for (category, occurred, id) in rows {
                table
                    .insert(("job:1", lane(category), occurred, id), ())
                    .unwrap();
            }
            // A callback folded into its email: only in views that ask for callbacks.
            table.insert(("job:1", CALLBACK_LANE, 35, 6), ()).unwrap();
            // Another subject's rows stay out of it.
            table
                .insert(("job:2", lane(Category::Workflow), 15, 9), ())
                .unwrap();
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TIMELINES).unwrap();
        let read = |category, from, to, order| -> Vec<u128> {
            let lanes = Lanes {
                category,
                callbacks: false,
            };
            positions(&table, "job:1", lanes, from, to, order)
                .unwrap()
                .map(|position| position.unwrap().1)
                .collect()
        };
        use Bound::{Excluded, Included, Unbounded};
        use Order::{NewestFirst, OldestFirst};
        assert_eq!(
            read(None, Unbounded, Unbounded, OldestFirst),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            read(None, Unbounded, Unbounded, NewestFirst),
            [5, 4, 3, 2, 1]
        );
        assert_eq!(
            read(None, Unbounded, Excluded((30, 4)), NewestFirst),
            [3, 2, 1]
        );
        assert_eq!(
            read(None, Excluded((20, 2)), Unbounded, OldestFirst),
            [3, 4, 5]
        );
        assert_eq!(
            read(
                Some(Category::Accounting),
                Included((20, 2)),
                Unbounded,
                OldestFirst
            ),
            [2, 5]
        );
        assert!(
            read(
                Some(Category::Purchasing),
                Unbounded,
                Unbounded,
                OldestFirst
            )
            .is_empty()
        );
        let with_callbacks = |category| -> Vec<u128> {
            let lanes = Lanes {
                category,
                callbacks: true,
            };
            positions(&table, "job:1", lanes, Unbounded, Unbounded, OldestFirst)
                .unwrap()
                .map(|position| position.unwrap().1)
                .collect()
        };
        assert_eq!(with_callbacks(None), [1, 2, 3, 4, 6, 5]);
        assert_eq!(with_callbacks(Some(Category::Communication)), [4, 6]);
        assert_eq!(with_callbacks(Some(Category::Workflow)), [1, 3]);
    }
}
