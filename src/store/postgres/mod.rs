//! The shared backend: one PostgreSQL database, any number of stateless gateways.
//!
//! The rules are the same code as the embedded backend's ([`crate::store::project`]); this
//! module provides their primitives ([`tables`]), the reads ([`query`]), the schema
//! ([`schema`]) and the change feed ([`feed`]). Each gateway group-commits its own batches;
//! across gateways, commits serialize on the one chain-head row, which keeps seq gap-free, the
//! integrity chain one chain, and dedup exact.

mod bridge;
pub mod feed;
mod query;
mod rows;
pub mod schema;
pub mod scratch;
mod search;
mod tables;
#[cfg(test)]
mod tests;
pub mod timing;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use self::bridge::Bridge;
use self::feed::{Listening, Origin};
use self::query::Direction;
use self::rows::{DELIVERY_COLUMNS, delivery_from, hash_from, seq_from_sql, seq_to_sql};
use self::tables::PgTables;
use self::timing::{Laps, Phase, PhaseSnapshot, PhaseTotals};
use super::chain::ChainWalk;
use super::project::{self, ChainHead, LaneCounts, Lanes};
use super::stamps::SubjectStamps;
use super::{
    Appended, BackupReport, Capture, ChainReport, Change, ChangeCursor, ChangeFeed, Cursor,
    ErasureReport, Feed, Follow, Page, PageQuery, ReadSide, ReindexReport, Rereader, Revocation,
    StoreError, StoredDelivery, WriteSide,
};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Entry, EntryId, Subject};
use crate::config::DatabaseUrl;
use crate::search::{SearchHits, SearchRequest};
use crate::store::tally::{Tally, TallyBatch, TallyRow};
use crate::store::{AlertRecord, RenormalizeReport, StoredAlert, from_json, to_json};
use crate::trust::heads::SignedHead;
use crate::trust::merkle::Hash;

/// How long a request waits for a connection, or for one to be made, before storage counts
/// as unavailable (503) rather than slow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows per round trip for whole-log reads (verify, export).
const PAGE_ROWS: usize = 500;

pub struct PgStore {
    bridge: Bridge,
    pool: Pool,
    stamps: Arc<SubjectStamps>,
    listening: Arc<Listening>,
    origin: Origin,
    phases: PhaseTotals,
    /// The writer's connection between batches.
    writer: Mutex<Option<Arc<Object>>>,
}

impl PgStore {
    /// Connects, brings the schema up to date (under a lock: gateways may start together),
    /// checks that commits are durable, and starts following the change feed.
    pub fn connect(url: &DatabaseUrl, pool_size: usize) -> Result<PgStore, StoreError> {
        let bridge = Bridge::new()?;
        let mut config = url.connect_config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("hooktrail");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|err| StoreError::Unavailable(format!("PostgreSQL pool: {err}")))?;
        let applied = bridge.run(async move {
            let (mut client, connection) = config.connect(NoTls).await?;
            let driver = tokio::spawn(connection);
            let applied = schema::migrate(&mut client).await;
            let backfilled = match &applied {
                Ok(versions) if versions.contains(&schema::SEARCH_VERSION) => {
                    search::backfill(&client, 1000).await
                }
                _ => Ok(0),
            };
            let durable = schema::check_durability(&client).await;
            drop(client);
            let _ = driver.await;
            durable?;
            let backfilled = backfilled?;
            if backfilled > 0 {
                tracing::info!(
                    entries = backfilled,
                    "search documents written for stored entries"
                );
            }
            applied
        })?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, database = %url, "schema migrations applied");
        }
        let stamps = Arc::new(SubjectStamps::new());
        let listening = Arc::new(Listening::default());
        let origin = Origin::random();
        bridge.handle().spawn(feed::listen(
            url.clone(),
            origin,
            stamps.clone(),
            listening.clone(),
        ));
        // Serve once changes can be followed; if the feed is slow to come up, pages are
        // rendered afresh until it is (see `subject_stamp`).
        let live = bridge.run({
            let listening = listening.clone();
            async move { Ok(listening.wait(CONNECT_TIMEOUT).await) }
        })?;
        if !live {
            tracing::warn!(
                "the change feed is not listening yet; rendered pages are not reused until it is"
            );
        }
        let store = PgStore {
            bridge,
            pool,
            stamps,
            listening,
            origin,
            phases: PhaseTotals::default(),
            writer: Mutex::new(None),
        };
        // A database written before the Merkle tree gets it now, once (a short look at the
        // head otherwise).
        let grown = store.write(|tables| project::tree::catch_up(tables), |_| None)?;
        if grown > 0 {
            tracing::info!(
                deliveries = grown,
                "the Merkle tree over deliveries was grown from the log (a database written before it)"
            );
        }
        Ok(store)
    }

    /// Where appends spent their time so far, phase by phase.
    pub fn phases(&self) -> PhaseSnapshot {
        self.phases.snapshot()
    }

    /// Appends a batch in one transaction, timing each phase.
    fn append_timed(&self, batch: &[Capture]) -> Result<project::Committed, StoreError> {
        let mut laps = Laps::start();
        let client = self.writer_connection()?;
        laps.lap(Phase::Connect);
        let begun = PgTables::begin(&self.bridge, client.clone(), Some(batch));
        let result = begun.and_then(|mut tables| {
            laps.split(Phase::Lock, Phase::Read, tables.lock_wait());
            let committed = project::append_batch(&mut tables, batch)?;
            laps.lap(Phase::Rules);
            tables.commit(feed::payload(self.origin, &committed.touched))?;
            laps.lap(Phase::Commit);
            Ok(committed)
        });
        match &result {
            Ok(_) => self.phases.record(&laps),
            Err(_) => {
                self.writer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                self.abandon(client);
            }
        }
        result
    }

    /// The writer's own connection, kept from batch to batch (taking one from the pool costs a
    /// round trip to the client's runtime each time); replaced after any failure.
    fn writer_connection(&self) -> Result<Arc<Object>, StoreError> {
        let mut kept = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match kept.as_ref() {
            Some(client) if !client.is_closed() => Ok(client.clone()),
            _ => {
                let client = self.connection()?;
                *kept = Some(client.clone());
                Ok(client)
            }
        }
    }

    fn connection(&self) -> Result<Arc<Object>, StoreError> {
        let pool = self.pool.clone();
        Ok(Arc::new(
            self.bridge.run(async move { Ok(pool.get().await?) })?,
        ))
    }

    /// Runs `work` with a pooled connection.
    fn read<T: Send + 'static, F>(
        &self,
        work: impl FnOnce(Object) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.bridge
            .run(async move { work(pool.get().await?).await })
    }

    /// Runs `work` in one write transaction holding the chain-head lock; commits with
    /// `notify(result)` as the change feed's message, or rolls back on any failure.
    fn write<T>(
        &self,
        work: impl FnOnce(&mut PgTables<'_>) -> Result<T, StoreError>,
        notify: impl FnOnce(&T) -> Option<String>,
    ) -> Result<T, StoreError> {
        let client = self.connection()?;
        let result = PgTables::begin(&self.bridge, client.clone(), None).and_then(|mut tables| {
            let done = work(&mut tables)?;
            let message = notify(&done);
            tables.commit(message)?;
            Ok(done)
        });
        if result.is_err() {
            self.abandon(client);
        }
        result
    }

    /// Ends a transaction without keeping it — a failed write, or a read-only snapshot that is
    /// done; a connection that cannot even roll back is closed rather than handed to the next
    /// request.
    fn abandon(&self, client: Arc<Object>) {
        let rolled_back = self.bridge.run({
            let client = client.clone();
            async move { Ok(client.batch_execute("ROLLBACK").await?) }
        });
        if rolled_back.is_err()
            && let Ok(object) = Arc::try_unwrap(client)
        {
            drop(Object::take(object));
        }
    }

    /// Runs `work` against one consistent snapshot (a read-only repeatable-read transaction):
    /// verify and export see the log as it was when they began, while gateways go on writing.
    fn snapshot<T>(
        &self,
        work: impl FnOnce(&Snapshot<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        let client = Arc::new(self.bridge.run(async move {
            let client = pool.get().await?;
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            Ok(client)
        })?);
        let snapshot = Snapshot {
            bridge: &self.bridge,
            client: client.clone(),
        };
        let result = work(&snapshot);
        self.abandon(client);
        result
    }
}

/// A read-only snapshot, for whole-log reads.
struct Snapshot<'b> {
    bridge: &'b Bridge,
    client: Arc<Object>,
}

impl Snapshot<'_> {
    fn run<T: Send + 'static, F>(
        &self,
        work: impl FnOnce(Arc<Object>) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.bridge.run(work(self.client.clone()))
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let limit = limit.max(1);
        let subject = subject.cloned();
        let positioned: Vec<(Cursor, Entry)> = self.run(|client| async move {
            match subject {
                Some(subject) => {
                    query::timeline(
                        &***client,
                        &subject,
                        Lanes::EVERYTHING,
                        after,
                        Direction::Newer,
                        limit,
                    )
                    .await
                }
                None => Ok(query::after_receipt(&***client, after.map(|c| c.id), limit)
                    .await?
                    .into_iter()
                    .map(|entry| {
                        let cursor = Cursor {
                            occurred_micros: 0,
                            id: entry.id,
                        };
                        (cursor, entry)
                    })
                    .collect()),
            }
        })?;
        let next = (positioned.len() == limit)
            .then(|| positioned.last().map(|(cursor, _)| *cursor))
            .flatten();
        Ok(Page {
            entries: positioned.into_iter().map(|(_, entry)| entry).collect(),
            next,
        })
    }
}

impl WriteSide for PgStore {
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        let committed = self.append_timed(batch)?;
        // This gateway's own pages follow at once; the others on the notification.
        self.stamps
            .bump(committed.touched.iter().map(String::as_str));
        Ok(committed.outcomes)
    }

    fn reindex(&self, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        let report = self.write(
            |tables| project::reindex(tables, reread),
            |_| Some(feed::everything(self.origin)),
        );
        self.stamps.bump_all();
        report
    }

    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = rows::nanos(cutoff)?;
        // In chunks, each its own short transaction: gateways go on committing in between.
        let mut dropped = 0u64;
        loop {
            let chunk = self.read(move |client| async move {
                Ok(client
                    .execute(
                        "DELETE FROM delivery_bodies WHERE seq IN (\
                         SELECT b.seq FROM delivery_bodies b JOIN deliveries d ON d.seq = b.seq \
                         WHERE d.received_at_nanos < $1 ORDER BY b.seq LIMIT 1000)",
                        &[&cutoff],
                    )
                    .await?)
            })?;
            dropped += chunk;
            if chunk == 0 {
                return Ok(dropped);
            }
        }
    }

    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let report = self.write(
            |tables| project::erase(tables, target, now),
            |_| Some(feed::everything(self.origin)),
        );
        self.stamps.bump_all();
        report
    }

    fn renormalize(
        &self,
        seqs: &[u64],
        reread: &Rereader<'_>,
        request: &project::RenormalizeRequest,
    ) -> Result<RenormalizeReport, StoreError> {
        let record = self.write(
            |tables| project::renormalize(tables, seqs, reread, request),
            |_| Some(feed::everything(self.origin)),
        );
        self.stamps.bump_all();
        record
    }

    fn backup(&self, _target: std::fs::File) -> Result<BackupReport, StoreError> {
        Err(StoreError::Unsupported(
            "a PostgreSQL deployment is backed up with pg_dump (see docs/operations.md)",
        ))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.read(|client| async move {
            let row = client
                .query_one(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')",
                    &[],
                )
                .await?;
            let (standby, read_only): (bool, String) = (row.try_get(0)?, row.try_get(1)?);
            if standby || read_only == "on" {
                return Err(StoreError::Unavailable(
                    "PostgreSQL is read-only here (a standby?): the gateway needs the primary"
                        .to_owned(),
                ));
            }
            Ok(())
        })
    }

    fn add_to_tally(&self, batch: &TallyBatch) -> Result<(), StoreError> {
        let batch = batch.clone();
        self.read(move |mut client| async move {
            let txn = client.transaction().await?;
            txn.execute(
                "DELETE FROM source_tally WHERE bucket < $1",
                &[&batch.drop_before],
            )
            .await?;
            let add = txn
                .prepare(
                    "INSERT INTO source_tally (source, bucket, outcome, count) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (source, bucket, outcome) \
                     DO UPDATE SET count = source_tally.count + excluded.count",
                )
                .await?;
            for row in &batch.rows {
                let count = i64::try_from(row.count).unwrap_or(i64::MAX);
                txn.execute(&add, &[&row.source, &row.bucket, &row.outcome, &count])
                    .await?;
            }
            for (source, at) in &batch.last_stored {
                txn.execute(
                    "INSERT INTO source_last_stored (source, received) VALUES ($1, $2) \
                     ON CONFLICT (source) DO UPDATE \
                     SET received = GREATEST(source_last_stored.received, excluded.received)",
                    &[source, &at.timestamp_micros()],
                )
                .await?;
            }
            txn.commit().await?;
            Ok(())
        })
    }

    fn add_tree_head(&self, head: &SignedHead) -> Result<bool, StoreError> {
        let number = seq_to_sql(head.number)?;
        let tree_size = seq_to_sql(head.tree_size)?;
        let text = String::from_utf8(to_json(head)?)
            .map_err(|_| StoreError::Corrupt("a tree head is not UTF-8".into()))?;
        self.read(move |client| async move {
            // The next number only: after the latest, and never beside one taken by another
            // gateway (the primary key settles a race).
            let added = client
                .execute(
                    "INSERT INTO tree_heads (number, tree_size, head) \
                     SELECT $1, $2, $3 \
                     WHERE $1 = (SELECT coalesce(max(number), 0) + 1 FROM tree_heads) \
                     ON CONFLICT (number) DO NOTHING",
                    &[&number, &tree_size, &text],
                )
                .await?;
            Ok(added == 1)
        })
    }

    fn swap_alert(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let text = String::from_utf8(crate::store::alert_book::encode(record))
            .map_err(|_| StoreError::Corrupt("an alert record is not UTF-8".into()))?;
        let revision = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.read(move |client| async move {
            let changed = match expected {
                None => {
                    client
                        .execute(
                            "INSERT INTO alerts (name, revision, record) VALUES ($1, 1, $2) \
                             ON CONFLICT (name) DO NOTHING",
                            &[&name, &text],
                        )
                        .await?
                }
                Some(expected) => {
                    client
                        .execute(
                            "UPDATE alerts SET revision = $2 + 1, record = $3 \
                             WHERE name = $1 AND revision = $2",
                            &[&name, &revision(expected), &text],
                        )
                        .await?
                }
            };
            Ok(changed == 1)
        })
    }

    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let notice = feed::revoked(self.origin, revocation);
        let revocation = revocation.clone();
        let now = now.timestamp_micros();
        self.read(move |mut client| async move {
            let txn = client.transaction().await?;
            txn.execute("DELETE FROM revoked_sessions WHERE expires <= $1", &[&now])
                .await?;
            txn.execute("DELETE FROM session_cutoffs WHERE expires <= $1", &[&now])
                .await?;
            match revocation {
                Revocation::Session { id, expires } => {
                    txn.execute(
                        "INSERT INTO revoked_sessions (id, expires) VALUES ($1, $2) \
                         ON CONFLICT (id) DO UPDATE SET expires = excluded.expires",
                        &[&id.to_be_bytes().to_vec(), &expires.timestamp_micros()],
                    )
                    .await?;
                }
                Revocation::AllSessionsOf {
                    username,
                    issued_up_to,
                    expires,
                } => {
                    txn.execute(
                        "INSERT INTO session_cutoffs (username, issued_up_to, expires) \
                         VALUES ($1, $2, $3) ON CONFLICT (username) DO UPDATE SET \
                         issued_up_to = greatest(session_cutoffs.issued_up_to, excluded.issued_up_to), \
                         expires = greatest(session_cutoffs.expires, excluded.expires)",
                        &[
                            &username,
                            &issued_up_to.timestamp_micros(),
                            &expires.timestamp_micros(),
                        ],
                    )
                    .await?;
                }
            }
            // The other gateways hear of it when it commits.
            txn.execute("SELECT pg_notify($1, $2)", &[&feed::CHANNEL, &notice])
                .await?;
            txn.commit().await?;
            Ok(())
        })
    }
}

impl ReadSide for PgStore {
    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        let (subject, query) = (subject.clone(), *query);
        self.read(
            move |client| async move { query::subject_entries(&**client, &subject, &query).await },
        )
    }

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        self.read(move |client| async move { query::entry(&**client, id).await })
    }

    fn search(&self, request: &SearchRequest) -> Result<SearchHits, StoreError> {
        let request = request.clone();
        self.read(move |mut client| async move { search::search(&mut client, &request).await })
    }

    fn changes(
        &self,
        feed: Feed<'_>,
        after: ChangeCursor,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let key = Follow::of(feed);
        self.read(
            move |client| async move { query::changes(&**client, key.feed(), after, limit).await },
        )
    }

    fn latest_change(&self, feed: Feed<'_>) -> Result<ChangeCursor, StoreError> {
        let key = Follow::of(feed);
        self.read(move |client| async move { query::latest_change(&**client, key.feed()).await })
    }

    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        let subject = subject.clone();
        self.read(move |client| async move {
            let first = query::timeline(
                &**client,
                &subject,
                Lanes::EVERYTHING,
                None,
                Direction::Newer,
                1,
            )
            .await?;
            Ok(first.into_iter().next().map(|(_, entry)| entry))
        })
    }

    fn lane_counts(&self, subject: &Subject) -> Result<LaneCounts, StoreError> {
        let subject = subject.clone();
        self.read(move |client| async move { query::lane_counts(&**client, &subject).await })
    }

    fn recent(&self, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError> {
        self.read(move |client| async move { query::recent(&**client, before, limit).await })
    }

    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.read(move |client| async move { query::unmatched(&**client, before, limit).await })
    }

    fn unmatched_count(&self) -> Result<u64, StoreError> {
        self.read(|client| async move { query::unmatched_count(&**client).await })
    }

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        Ok(self
            .deliveries(seq, 1)?
            .into_iter()
            .find(|delivery| delivery.seq == seq))
    }

    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.read(move |client| async move { query::deliveries(&**client, from, limit).await })
    }

    fn delivery_records(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.read(
            move |client| async move { query::delivery_records(&**client, from, limit).await },
        )
    }

    fn deliveries_before(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        self.read(
            move |client| async move { query::deliveries_before(&**client, before, limit).await },
        )
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.snapshot(|snapshot| {
            let head = snapshot.run(|client| async move {
                let row = client
                    .query_one("SELECT seq, hash, tree FROM chain_head", &[])
                    .await?;
                tables::head_from(&row)
            })?;
            let mut walk = ChainWalk::default();
            let mut from = 0i64;
            loop {
                let rows = snapshot.run(|client| async move {
                    // The body's hash is computed by the server: bodies never cross the wire.
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS}, sha256(b.body) FROM deliveries d \
                         LEFT JOIN delivery_bodies b ON b.seq = d.seq \
                         WHERE d.seq > $1 ORDER BY d.seq LIMIT $2"
                    );
                    Ok(client.query(&sql, &[&from, &(PAGE_ROWS as i64)]).await?)
                })?;
                let Some(last) = rows.last() else {
                    return Ok(walk.finish(head));
                };
                from = last.try_get(0)?;
                for row in &rows {
                    let seq = seq_from_sql(row.try_get(0)?)?;
                    let record = delivery_from(row, false).map_err(|err| err.to_string());
                    let kept = row
                        .try_get::<_, Option<&[u8]>>(9)?
                        .map(|hash| hash_from(hash, "a body hash"))
                        .transpose()?;
                    if let Some(broken) =
                        walk.check(seq, record.as_ref().map_err(Clone::clone), kept)
                    {
                        return Ok(broken);
                    }
                }
            }
        })
    }

    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.snapshot(|snapshot| {
            let mut written = 0;
            let mut after = None;
            loop {
                let page = snapshot.export_page(subject, after, PAGE_ROWS)?;
                for entry in page.entries {
                    sink(entry)?;
                    written += 1;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok(written),
                }
            }
        })
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.snapshot(|snapshot| snapshot.export_page(subject, after, limit))
    }

    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        self.read(move |client| async move { Ok(feed::revocations_in_force(&client, now).await?) })
    }

    fn tally(&self, since: DateTime<Utc>) -> Result<Tally, StoreError> {
        let from = crate::store::tally::bucket_of(since);
        self.read(move |client| async move {
            let mut tally = Tally::default();
            let rows = client
                .query(
                    "SELECT source, bucket, outcome, count FROM source_tally WHERE bucket >= $1",
                    &[&from],
                )
                .await?;
            for row in rows {
                tally.rows.push(TallyRow {
                    source: row.try_get(0)?,
                    bucket: row.try_get(1)?,
                    outcome: row.try_get(2)?,
                    count: u64::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
                });
            }
            for row in client
                .query("SELECT source, received FROM source_last_stored", &[])
                .await?
            {
                let at = DateTime::from_timestamp_micros(row.try_get(1)?)
                    .ok_or_else(|| StoreError::Corrupt("a source's last delivery time".into()))?;
                tally.last_stored.insert(row.try_get(0)?, at);
            }
            Ok(tally)
        })
    }

    fn chain_head(&self) -> Result<ChainHead, StoreError> {
        self.read(move |client| async move {
            let row = client
                .query_one("SELECT seq, hash, tree FROM chain_head", &[])
                .await?;
            tables::head_from(&row)
        })
    }

    fn subtree(&self, height: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let (Ok(height), Ok(index)) = (i16::try_from(height), i64::try_from(index)) else {
            return Ok(None);
        };
        self.read(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT hash FROM merkle_subtrees WHERE height = $1 AND idx = $2",
                    &[&height, &index],
                )
                .await?;
            row.map(|row| hash_from(row.try_get(0)?, "a Merkle subtree"))
                .transpose()
        })
    }

    fn tree_heads(&self, before: Option<u64>, limit: usize) -> Result<Vec<SignedHead>, StoreError> {
        let before = before.map_or(i64::MAX, |before| i64::try_from(before).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |client| async move {
            let rows = client
                .query(
                    "SELECT head FROM tree_heads WHERE number < $1 ORDER BY number DESC LIMIT $2",
                    &[&before, &limit],
                )
                .await?;
            rows.iter()
                .map(|row| from_json(row.try_get::<_, &str>(0)?.as_bytes()))
                .collect()
        })
    }

    fn tree_head_of_size(&self, tree_size: u64) -> Result<Option<SignedHead>, StoreError> {
        let Ok(tree_size) = i64::try_from(tree_size) else {
            return Ok(None);
        };
        self.read(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT head FROM tree_heads WHERE tree_size = $1 \
                     ORDER BY number DESC LIMIT 1",
                    &[&tree_size],
                )
                .await?;
            row.map(|row| from_json(row.try_get::<_, &str>(0)?.as_bytes()))
                .transpose()
        })
    }

    fn alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.read(move |client| async move {
            let rows = client
                .query(
                    "SELECT name, revision, record FROM alerts ORDER BY name",
                    &[],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let record: String = row.try_get(2)?;
                    Ok(StoredAlert {
                        name: row.try_get(0)?,
                        revision: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                        record: crate::store::alert_book::decode(record.as_bytes())?,
                    })
                })
                .collect()
        })
    }
}

impl ChangeFeed for PgStore {
    fn revocations_from_elsewhere(&self) -> Vec<Revocation> {
        self.listening.take_revocations()
    }

    fn stamp(&self, feed: Feed<'_>) -> Result<u64, StoreError> {
        if !self.listening.is_live() {
            // Other gateways' changes cannot be followed right now: trust no rendered page.
            return Ok(SubjectStamps::unknown());
        }
        Ok(self.stamps.get(&feed.key()))
    }

    /// Other gateways' commits arrive as notifications, which bump the same stamps; when the
    /// feed reconnects every stamp is bumped, so a waiting timeline reads what it missed.
    fn waker(&self, feed: Feed<'_>) -> std::sync::Arc<tokio::sync::Notify> {
        self.stamps.waker(&feed.key())
    }
}
