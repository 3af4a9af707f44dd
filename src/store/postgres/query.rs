//! The read side on PostgreSQL. Every page is one index range: the timeline indexes match the
//! cursor (occurred µs, entry id) and the category lanes, entries and their roll-ups are
//! joined by key, so a page costs O(page) however long the history.

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::rows::{
    DELIVERY_COLUMNS, delivery_from, entry_from, id_bytes, id_from, seq_from_sql, seq_to_sql,
};
use crate::activity::{Entry, EntryId, Subject};
use crate::store::project::{CALLBACK_LANE, Lanes, lane};
use crate::store::{
    Change, ChangeCursor, Cursor, Feed, LaneCounts, Page, PageQuery, StoreError, StoredDelivery,
};

type Param = Box<dyn ToSql + Sync + Send>;

/// Which way a timeline is read.
#[derive(Clone, Copy)]
pub enum Direction {
    /// Newest first, before a cursor (pages).
    Older,
    /// Oldest first, after a cursor (exports).
    Newer,
}

/// A page of `subject`'s timeline in `lanes`: `limit` rows from `cursor` in `direction`.
///
/// Each lane set is read as one or two index ranges — the whole-timeline index (every lane but
/// the callbacks'), or one lane's primary-key range — merged by the planner (`UNION ALL` under
/// `ORDER BY … LIMIT`), so a page costs O(page) in every view.
pub async fn timeline(
    client: &impl GenericClient,
    subject: &Subject,
    lanes: Lanes,
    cursor: Option<Cursor>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<(Cursor, Entry)>, StoreError> {
    let mut params: Vec<Param> = vec![Box::new(subject.key())];
    let (compare, order) = match direction {
        Direction::Older => ("<", "DESC"),
        Direction::Newer => (">", "ASC"),
    };
    let position = match cursor {
        Some(cursor) => {
            params.push(Box::new(cursor.occurred_micros));
            params.push(Box::new(id_bytes(cursor.id)));
            let (a, b) = (params.len() - 1, params.len());
            format!(" AND (occurred, entry_id) {compare} (${a}, ${b})")
        }
        None => String::new(),
    };
    let mut ranges = Vec::new();
    match lanes.category {
        None => ranges.push(format!("lane <> {CALLBACK_LANE}")),
        Some(category) => ranges.push(format!("lane = {}", lane(category))),
    }
    if lanes.iter().any(|lane| lane == CALLBACK_LANE) {
        ranges.push(format!("lane = {CALLBACK_LANE}"));
    }
    params.push(Box::new(limit as i64));
    let limit_param = params.len();
    let union = ranges
        .iter()
        .map(|range| {
            format!(
                "(SELECT occurred, entry_id FROM subject_timelines \
                 WHERE subject = $1 AND {range}{position} \
                 ORDER BY occurred {order}, entry_id {order} LIMIT ${limit_param})"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "SELECT t.occurred, t.entry_id, e.entry, s.status FROM ({union}) t \
         JOIN entries e ON e.id = t.entry_id \
         LEFT JOIN email_status s ON s.entry_id = t.entry_id \
         ORDER BY t.occurred {order}, t.entry_id {order} LIMIT ${limit_param}"
    );
    let rows = query(client, &sql, &params).await?;
    rows.iter()
        .map(|row| {
            let cursor = Cursor {
                occurred_micros: row.try_get(0)?,
                id: id_from(row.try_get(1)?)?,
            };
            Ok((cursor, entry_from(row.try_get(2)?, row.try_get(3)?)?))
        })
        .collect()
}

/// A page of a subject's timeline, newest first.
pub async fn subject_entries(
    client: &impl GenericClient,
    subject: &Subject,
    page: &PageQuery,
) -> Result<Page, StoreError> {
    let limit = page.limit.clamp(1, PageQuery::MAX_LIMIT);
    // One more than asked tells whether an older page exists.
    let mut rows = timeline(
        client,
        subject,
        Lanes::of(page),
        page.before,
        Direction::Older,
        limit + 1,
    )
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|(cursor, _)| *cursor))
        .flatten();
    Ok(Page {
        entries: rows.into_iter().map(|(_, entry)| entry).collect(),
        next,
    })
}

/// A feed's changes after `after`, oldest first: one range of the changes key, each entry and
/// its roll-up joined by key.
pub async fn changes(
    client: &impl GenericClient,
    feed: Feed<'_>,
    after: ChangeCursor,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    let limit = limit.clamp(1, PageQuery::MAX_LIMIT) as i64;
    let rows = client
        .query(
            "SELECT c.seq, c.entry_id, e.entry, s.status FROM subject_changes c \
             JOIN entries e ON e.id = c.entry_id \
             LEFT JOIN email_status s ON s.entry_id = c.entry_id \
             WHERE c.subject = $1 AND (c.seq, c.entry_id) > ($2, $3) \
             ORDER BY c.seq, c.entry_id LIMIT $4",
            &[
                &feed.key(),
                &seq_to_sql(after.seq)?,
                &id_bytes(after.id),
                &limit,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let cursor = ChangeCursor {
                seq: seq_from_sql(row.try_get(0)?)?,
                id: id_from(row.try_get(1)?)?,
            };
            let entry = entry_from(row.try_get(2)?, row.try_get(3)?)?;
            Ok(Change { cursor, entry })
        })
        .collect()
}

/// The feed's latest change: the last row of its range.
pub async fn latest_change(
    client: &impl GenericClient,
    feed: Feed<'_>,
) -> Result<ChangeCursor, StoreError> {
    let row = client
        .query_opt(
            "SELECT seq, entry_id FROM subject_changes WHERE subject = $1 \
             ORDER BY seq DESC, entry_id DESC LIMIT 1",
            &[&feed.key()],
        )
        .await?;
    match row {
        Some(row) => Ok(ChangeCursor {
            seq: seq_from_sql(row.try_get(0)?)?,
            id: id_from(row.try_get(1)?)?,
        }),
        None => Ok(ChangeCursor::START),
    }
}

/// Every subject's latest entries by when they happened: one range of the index by time,
/// read backwards, each entry and its roll-up joined by key.
pub async fn recent(
    client: &impl GenericClient,
    before: Option<Cursor>,
    limit: usize,
) -> Result<Page, StoreError> {
    let limit = limit.clamp(1, PageQuery::MAX_LIMIT);
    // Past every position: the largest time, then an id longer than any.
    let (occurred, id) = before.map_or((i64::MAX, vec![0xff; 17]), |c| {
        (c.occurred_micros, id_bytes(c.id))
    });
    let rows = client
        .query(
            "SELECT t.occurred, t.entry_id, e.entry, s.status FROM entries_by_time t \
             JOIN entries e ON e.id = t.entry_id \
             LEFT JOIN email_status s ON s.entry_id = t.entry_id \
             WHERE (t.occurred, t.entry_id) < ($1, $2) \
             ORDER BY t.occurred DESC, t.entry_id DESC LIMIT $3",
            &[&occurred, &id, &((limit + 1) as i64)],
        )
        .await?;
    let mut read = rows
        .iter()
        .map(|row| {
            let cursor = Cursor {
                occurred_micros: row.try_get(0)?,
                id: id_from(row.try_get(1)?)?,
            };
            Ok((cursor, entry_from(row.try_get(2)?, row.try_get(3)?)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let more = read.len() > limit;
    read.truncate(limit);
    let next = more
        .then(|| read.last().map(|(cursor, _)| *cursor))
        .flatten();
    Ok(Page {
        entries: read.into_iter().map(|(_, entry)| entry).collect(),
        next,
    })
}

const ENTRY_WITH_STATUS: &str = "SELECT e.entry, s.status FROM entries e \
     LEFT JOIN email_status s ON s.entry_id = e.id";

pub async fn entry(client: &impl GenericClient, id: EntryId) -> Result<Option<Entry>, StoreError> {
    let sql = format!("{ENTRY_WITH_STATUS} WHERE e.id = $1");
    let row = client.query_opt(&sql, &[&id_bytes(id)]).await?;
    row.map(|row| entry_from(row.try_get(0)?, row.try_get(1)?))
        .transpose()
}

/// Entries by receipt (entry ids are time-ordered), the oldest after `after` first: what an
/// export of everything reads. The cursor is an id, so a page is one range of the key.
pub async fn after_receipt(
    client: &impl GenericClient,
    after: Option<EntryId>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let limit = limit.max(1) as i64;
    let after = after.map_or_else(Vec::new, id_bytes);
    let sql = format!("{ENTRY_WITH_STATUS} WHERE e.id > $1 ORDER BY e.id LIMIT $2");
    entries(&client.query(&sql, &[&after, &limit]).await?)
}

pub async fn unmatched(
    client: &impl GenericClient,
    before: Option<EntryId>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let limit = limit.clamp(1, PageQuery::MAX_LIMIT) as i64;
    let before = before.map_or_else(|| vec![0xff; 17], id_bytes);
    let rows = client
        .query(
            "SELECT e.entry FROM unmatched_entries u JOIN entries e ON e.id = u.entry_id \
             WHERE u.entry_id < $1 ORDER BY u.entry_id DESC LIMIT $2",
            &[&before, &limit],
        )
        .await?;
    rows.iter()
        .map(|row| crate::store::from_json(row.try_get::<_, &[u8]>(0)?))
        .collect()
}

/// Each lane's rows, counted no further than [`LaneCounts::UP_TO`]: one primary-key range per
/// lane, cut off at the cap.
pub async fn lane_counts(
    client: &impl GenericClient,
    subject: &Subject,
) -> Result<LaneCounts, StoreError> {
    let lanes: Vec<i16> = Lanes::EVERYTHING.iter().map(i16::from).collect();
    let up_to = LaneCounts::UP_TO as i64;
    let rows = client
        .query(
            "SELECT l.lane, (SELECT count(*) FROM (SELECT 1 FROM subject_timelines t \
             WHERE t.subject = $1 AND t.lane = l.lane LIMIT $3) capped) \
             FROM unnest($2::smallint[]) AS l(lane)",
            &[&subject.key(), &lanes, &up_to],
        )
        .await?;
    let mut counts = LaneCounts::default();
    for row in rows {
        let lane: i16 = row.try_get(0)?;
        let counted: i64 = row.try_get(1)?;
        let lane = u8::try_from(lane)
            .map_err(|_| StoreError::Corrupt(format!("a timeline lane numbered {lane}")))?;
        counts.set(lane, usize::try_from(counted).unwrap_or(0));
    }
    Ok(counts)
}

pub async fn unmatched_count(client: &impl GenericClient) -> Result<u64, StoreError> {
    let count: i64 = client
        .query_one("SELECT count(*) FROM unmatched_entries", &[])
        .await?
        .try_get(0)?;
    Ok(count.unsigned_abs())
}

/// Deliveries with seq ≥ `from`, in order, at most `limit`.
pub async fn deliveries(
    client: &impl GenericClient,
    from: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let from = seq_to_sql(from)?;
    deliveries_where(client, "d.seq >= $1 ORDER BY d.seq", from, limit).await
}

/// Deliveries with seq ≥ `from`, at most `limit`, without their bodies.
pub async fn delivery_records(
    client: &impl GenericClient,
    from: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.seq >= $1 ORDER BY d.seq LIMIT $2"
    );
    let rows = client
        .query(&sql, &[&seq_to_sql(from)?, &(limit as i64)])
        .await?;
    rows.iter().map(|row| delivery_from(row, false)).collect()
}

/// Deliveries with seqs below `before`, newest first, at most `limit`.
pub async fn deliveries_before(
    client: &impl GenericClient,
    before: u64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    // Seqs are at most i64::MAX in the database: any larger bound reads from the newest.
    let before = i64::try_from(before).unwrap_or(i64::MAX);
    deliveries_where(client, "d.seq < $1 ORDER BY d.seq DESC", before, limit).await
}

/// Deliveries with their bodies, as `range_and_order` (on `$1`, a seq) picks them.
async fn deliveries_where(
    client: &impl GenericClient,
    range_and_order: &str,
    seq: i64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS}, b.body FROM deliveries d \
         LEFT JOIN delivery_bodies b ON b.seq = d.seq WHERE {range_and_order} LIMIT $2"
    );
    let rows = client.query(&sql, &[&seq, &(limit as i64)]).await?;
    rows.iter().map(|row| delivery_from(row, true)).collect()
}

fn entries(rows: &[Row]) -> Result<Vec<Entry>, StoreError> {
    rows.iter()
        .map(|row| entry_from(row.try_get(0)?, row.try_get(1)?))
        .collect()
}

async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[Param],
) -> Result<Vec<Row>, StoreError> {
    let params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    Ok(client.query(sql, &params).await?)
}
