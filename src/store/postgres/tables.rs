//! The projection primitives on PostgreSQL (see [`crate::store::project::Tables`]).
//!
//! A round trip per primitive would cost a batch hundreds of them. Instead the transaction
//! keeps what it has read and what it has written in memory: [`PgTables::prefetch`] reads, in
//! one pipelined round trip, every row a batch is likely to look at (its dedup keys, the links
//! its entries correlate through, the entries waiting for the links it establishes); the rules
//! then run against memory; and [`PgTables::flush`] writes everything with one multi-row
//! statement per table. A row nobody foresaw is read on demand, so the rules stay exact
//! whatever they ask. Every commit holds the chain-head row lock, so what a transaction has
//! read cannot change under it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::bridge::Bridge;
use super::rows::{
    DELIVERY_COLUMNS, DeliveryRow, delivery_from, hash_from, id_bytes, id_from, seq_from_sql,
    seq_to_sql,
};
use super::search::{self, DocumentColumns};
use crate::activity::details::DeliveryStatus;
use crate::activity::{Entry, EntryId, Subject, links};
use crate::search::SearchDocument;
use crate::store::project::{ChainHead, LinkTarget, Tables, Visit, keys};
use crate::store::{Capture, StoreError, StoredDelivery, from_json, to_json};
use crate::trust::merkle::{Frontier, Subtree};

type Client = Arc<Object>;
type Work<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Rows read per round trip by the whole-store passes.
const SCAN_PAGE: i64 = 1_000;

/// One write transaction's view of the tables: what it read, what it will write.
pub struct PgTables<'b> {
    bridge: &'b Bridge,
    client: Client,
    /// The chain head as locked at the start.
    locked_head: ChainHead,
    /// How long taking the lock waited for other writers (the server's clock).
    lock_wait: Duration,
    dedup: HashMap<(String, String), Option<u64>>,
    links: HashMap<String, Option<LinkTarget>>,
    entries: HashMap<EntryId, Option<Entry>>,
    statuses: HashMap<EntryId, Option<DeliveryStatus>>,
    unmatched: HashMap<EntryId, bool>,
    /// The entries waiting on a link key, for keys read whole.
    pending: HashMap<String, BTreeSet<EntryId>>,
    writes: Writes,
}

#[derive(Default)]
struct Writes {
    head: Option<ChainHead>,
    deliveries: BTreeMap<i64, DeliveryRow>,
    bodies: Vec<(i64, Vec<u8>)>,
    flagged: BTreeSet<i64>,
    dedup: HashMap<(String, String), i64>,
    /// Ids whose cached entry is to be written.
    entries: BTreeSet<EntryId>,
    timelines: Vec<(String, i16, i64, EntryId)>,
    changes: Vec<(String, i64, EntryId)>,
    by_time: Vec<(i64, EntryId)>,
    links: BTreeSet<String>,
    unmatched: BTreeSet<EntryId>,
    pending_taken: BTreeSet<String>,
    pending_added: Vec<(String, EntryId)>,
    statuses: BTreeSet<EntryId>,
    subtrees: Vec<(i16, i64, Vec<u8>)>,
}

impl<'b> PgTables<'b> {
    /// Starts a write transaction on `client` and takes the chain-head row lock, which every
    /// writer of every gateway takes first: from here on nobody else writes. With a `batch`,
    /// reads ahead what appending it will look at (see [`ReadAhead`]) in the same pipelined
    /// round trip, executed once the lock is held.
    pub fn begin(
        bridge: &'b Bridge,
        client: Client,
        batch: Option<&[Capture]>,
    ) -> Result<PgTables<'b>, StoreError> {
        let ahead = batch.map(ReadAhead::for_batch).unwrap_or_default();
        let (head, lock_wait, found) = bridge.run({
            let client = client.clone();
            let ahead = ahead.clone();
            async move {
                let (clock, lock, dedup, links, pending) = tokio::try_join!(
                    client.prepare_cached(
                        "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint"
                    ),
                    client.prepare_cached("SELECT seq, hash, tree FROM chain_head FOR UPDATE"),
                    client.prepare_cached(READ_AHEAD_DEDUP),
                    client.prepare_cached(READ_AHEAD_LINKS),
                    client.prepare_cached(READ_AHEAD_PENDING),
                )?;
                // Sent together, executed in order: the reads run once the lock is held.
                let dedup_params: [&(dyn ToSql + Sync); 2] = [&ahead.sources, &ahead.dedup_keys];
                let links_params: [&(dyn ToSql + Sync); 1] = [&ahead.correlation];
                let pending_params: [&(dyn ToSql + Sync); 1] = [&ahead.established];
                let read_ahead = !ahead.is_empty();
                // The server's clock on both sides of the lock: how long it was waited for.
                let (_, before, head, after, dedup, links, pending) = tokio::try_join!(
                    client.batch_execute("BEGIN"),
                    client.query_one(&clock, &[]),
                    client.query_one(&lock, &[]),
                    client.query_one(&clock, &[]),
                    async {
                        if read_ahead {
                            client.query(&dedup, &dedup_params).await
                        } else {
                            Ok(Vec::new())
                        }
                    },
                    async {
                        if read_ahead {
                            client.query(&links, &links_params).await
                        } else {
                            Ok(Vec::new())
                        }
                    },
                    async {
                        if read_ahead {
                            client.query(&pending, &pending_params).await
                        } else {
                            Ok(Vec::new())
                        }
                    },
                )?;
                let head = head_from(&head)?;
                let waited = after.try_get::<_, i64>(0)? - before.try_get::<_, i64>(0)?;
                let lock_wait = Duration::from_micros(waited.max(0).unsigned_abs());
                Ok((head, lock_wait, (dedup, links, pending)))
            }
        })?;
        let mut tables = PgTables {
            bridge,
            client,
            locked_head: head,
            lock_wait,
            dedup: HashMap::new(),
            links: HashMap::new(),
            entries: HashMap::new(),
            statuses: HashMap::new(),
            unmatched: HashMap::new(),
            pending: HashMap::new(),
            writes: Writes::default(),
        };
        tables.remember(ahead, found)?;
        Ok(tables)
    }

    /// Writes what is buffered and commits, in one pipelined round trip; `notify` is sent
    /// with the commit (see [`super::feed`]).
    pub fn commit(mut self, notify: Option<String>) -> Result<(), StoreError> {
        let writes = std::mem::take(&mut self.writes);
        let statements = Statements::build(writes, &self)?;
        self.run(|client| async move { statements.execute(&client, Some(notify)).await })
    }

    fn run<T: Send + 'static, F>(&self, work: impl FnOnce(Client) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.bridge.run(work(self.client.clone()))
    }

    /// How long taking the chain-head lock waited for other writers.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// Keeps what was read ahead: found rows, and the absence of the rest.
    fn remember(&mut self, ahead: ReadAhead, found: Found) -> Result<(), StoreError> {
        let (found_dedup, found_links, found_pending) = found;
        let ReadAhead {
            sources,
            dedup_keys,
            correlation,
            established,
        } = ahead;
        let dedup = sources.into_iter().zip(dedup_keys);
        for key in dedup {
            self.dedup.entry(key).or_insert(None);
        }
        for row in found_dedup {
            let key = (row.try_get(0)?, row.try_get(1)?);
            self.dedup.insert(key, Some(seq_from_sql(row.try_get(2)?)?));
        }
        for key in &correlation {
            self.links.entry(key.clone()).or_insert(None);
        }
        for row in found_links {
            let target: LinkTarget = from_json(row.try_get(1)?)?;
            let status = row.try_get::<_, Option<&[u8]>>(2)?;
            self.statuses
                .insert(target.entry_id, status.map(from_json).transpose()?);
            self.links.insert(row.try_get(0)?, Some(target));
        }
        for key in &established {
            self.pending.entry(key.clone()).or_default();
        }
        for row in found_pending {
            let key: String = row.try_get(0)?;
            let id = id_from(row.try_get(1)?)?;
            if let Some(stored) = row.try_get::<_, Option<&[u8]>>(2)? {
                let status = row.try_get::<_, Option<&[u8]>>(3)?;
                self.entries.insert(id, Some(from_json(stored)?));
                self.statuses.insert(id, status.map(from_json).transpose()?);
            }
            self.pending.entry(key).or_default().insert(id);
        }
        Ok(())
    }

    /// Writes everything buffered, one multi-row statement per table, pipelined. What was
    /// read stays known (nobody else writes while the lock is held), except entries, which
    /// the whole-store passes may remove.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let writes = std::mem::take(&mut self.writes);
        let statements = Statements::build(writes, self)?;
        if statements.is_empty() {
            return Ok(());
        }
        self.run(|client| async move { statements.execute(&client, None).await })?;
        self.entries.clear();
        Ok(())
    }

    fn immediately<T: Send + 'static, F>(
        &mut self,
        work: impl FnOnce(Client) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.flush()?;
        self.run(work)
    }
}

/// The chain head from its row (`seq, hash, tree`); a NULL tree was written before the tree
/// existed, and is grown on open (see [`crate::store::project::tree::catch_up`]).
pub(super) fn head_from(row: &tokio_postgres::Row) -> Result<ChainHead, StoreError> {
    let tree = match row.try_get::<_, Option<&[u8]>>(2)? {
        None => Frontier::EMPTY,
        Some(bytes) => Frontier::from_bytes(bytes)
            .ok_or_else(|| StoreError::Corrupt("the chain head's tree".into()))?,
    };
    Ok(ChainHead {
        seq: seq_from_sql(row.try_get(0)?)?,
        hash: hash_from(row.try_get(1)?, "the chain head")?,
        tree,
    })
}

/// The dedup keys a batch names that are stored already. One primary-key probe per key,
/// whatever the planner believes about the table's size: a plain join, planned while the table
/// was small, went on scanning all of it as it grew (O(history) per batch). `LIMIT 1` keeps
/// the lookup a subquery of its own, run once per key.
pub(super) const READ_AHEAD_DEDUP: &str = "SELECT k.source, k.key, k.seq \
     FROM unnest($1::text[], $2::text[]) AS w(source, key), \
     LATERAL (SELECT d.source, d.key, d.seq FROM dedup_keys d \
              WHERE d.source = w.source AND d.key = w.key LIMIT 1) AS k";

/// The links a batch's entries correlate through, with their emails' roll-ups.
pub(super) const READ_AHEAD_LINKS: &str = "SELECT l.key, l.target, s.status FROM links l \
     LEFT JOIN LATERAL (SELECT status FROM email_status WHERE entry_id = l.entry_id LIMIT 1) s \
     ON true WHERE l.key = ANY($1)";

/// What waits on the links a batch establishes, with those entries and their roll-ups.
pub(super) const READ_AHEAD_PENDING: &str = "SELECT p.key, p.entry_id, e.entry, s.status \
     FROM pending_links p \
     LEFT JOIN LATERAL (SELECT entry FROM entries WHERE id = p.entry_id LIMIT 1) e ON true \
     LEFT JOIN LATERAL (SELECT status FROM email_status WHERE entry_id = p.entry_id LIMIT 1) s \
     ON true WHERE p.key = ANY($1)";

type Found = (
    Vec<tokio_postgres::Row>,
    Vec<tokio_postgres::Row>,
    Vec<tokio_postgres::Row>,
);

/// The rows a batch is likely to look at, read while the lock is taken: its dedup keys, the
/// links its entries correlate through (with their emails' roll-ups), and what waits on the
/// links it establishes (with those entries).
#[derive(Clone, Default)]
struct ReadAhead {
    sources: Vec<String>,
    dedup_keys: Vec<String>,
    correlation: Vec<String>,
    established: Vec<String>,
}

impl ReadAhead {
    fn for_batch(batch: &[Capture]) -> ReadAhead {
        let mut dedup = BTreeSet::new();
        let mut correlation = BTreeSet::new();
        let mut established = BTreeSet::new();
        for capture in batch {
            let source = capture.source();
            let normalized = &capture.normalized;
            if let Some(id) = &normalized.delivery_id {
                dedup.insert((source.to_owned(), keys::delivery(id)));
            }
            if let Some(key) = &capture.replay_key {
                dedup.insert((source.to_owned(), keys::replay(key)));
            }
            for entry in &normalized.entries {
                if let Some(key) = keys::entry(normalized, entry) {
                    dedup.insert((source.to_owned(), key));
                }
                correlation.extend(entry.correlation.iter().cloned());
                established.extend(links::established_by(&entry.details));
            }
        }
        let (sources, dedup_keys) = dedup.into_iter().unzip();
        ReadAhead {
            sources,
            dedup_keys,
            correlation: correlation.into_iter().collect(),
            established: established.into_iter().collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.correlation.is_empty() && self.established.is_empty()
    }
}

/// The owned parameters of a flush.
#[derive(Default)]
struct Statements {
    head: Option<(i64, Vec<u8>, Vec<u8>)>,
    deliveries: Vec<DeliveryRow>,
    bodies: (Vec<i64>, Vec<Vec<u8>>),
    flagged: Vec<i64>,
    dedup: (Vec<String>, Vec<String>, Vec<i64>),
    entries: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    timelines: (Vec<String>, Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
    changes: (Vec<String>, Vec<i64>, Vec<Vec<u8>>),
    by_time: (Vec<i64>, Vec<Vec<u8>>),
    links: (Vec<String>, Vec<Vec<u8>>, Vec<Vec<u8>>),
    unmatched_on: Vec<Vec<u8>>,
    unmatched_off: Vec<Vec<u8>>,
    pending_taken: Vec<String>,
    pending_added: (Vec<String>, Vec<Vec<u8>>),
    statuses: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    search: DocumentColumns,
    subtrees: (Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
}

impl Statements {
    /// The statements for `writes`, with the values they name taken from `tables`' caches.
    fn build(writes: Writes, tables: &PgTables<'_>) -> Result<Statements, StoreError> {
        let mut out = Statements {
            head: writes
                .head
                .map(|head| {
                    let seq = seq_to_sql(head.seq)?;
                    Ok::<_, StoreError>((seq, head.hash.to_vec(), head.tree.to_bytes()))
                })
                .transpose()?,
            deliveries: writes.deliveries.into_values().collect(),
            flagged: writes.flagged.into_iter().collect(),
            pending_taken: writes.pending_taken.into_iter().collect(),
            ..Statements::default()
        };
        for (seq, body) in writes.bodies {
            out.bodies.0.push(seq);
            out.bodies.1.push(body);
        }
        for ((source, key), seq) in writes.dedup {
            out.dedup.0.push(source);
            out.dedup.1.push(key);
            out.dedup.2.push(seq);
        }
        for id in writes.entries {
            if let Some(Some(entry)) = tables.entries.get(&id) {
                out.entries.0.push(id_bytes(id));
                out.entries.1.push(to_json(entry)?);
                out.search.push(&SearchDocument::of(entry));
            }
        }
        for (subject, lane, occurred, id) in writes.timelines {
            out.timelines.0.push(subject);
            out.timelines.1.push(lane);
            out.timelines.2.push(occurred);
            out.timelines.3.push(id_bytes(id));
        }
        for (subject, seq, id) in writes.changes {
            out.changes.0.push(subject);
            out.changes.1.push(seq);
            out.changes.2.push(id_bytes(id));
        }
        for (occurred, id) in writes.by_time {
            out.by_time.0.push(occurred);
            out.by_time.1.push(id_bytes(id));
        }
        for id in writes.unmatched {
            match tables.unmatched.get(&id) {
                Some(true) => out.unmatched_on.push(id_bytes(id)),
                _ => out.unmatched_off.push(id_bytes(id)),
            }
        }
        for (key, id) in writes.pending_added {
            out.pending_added.0.push(key);
            out.pending_added.1.push(id_bytes(id));
        }
        for key in writes.links {
            if let Some(Some(target)) = tables.links.get(&key) {
                out.links.0.push(key);
                out.links.1.push(id_bytes(target.entry_id));
                out.links.2.push(to_json(target)?);
            }
        }
        for (height, index, hash) in writes.subtrees {
            out.subtrees.0.push(height);
            out.subtrees.1.push(index);
            out.subtrees.2.push(hash);
        }
        for id in writes.statuses {
            if let Some(Some(status)) = tables.statuses.get(&id) {
                out.statuses.0.push(id_bytes(id));
                out.statuses.1.push(to_json(status)?);
            }
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.head.is_none()
            && self.deliveries.is_empty()
            && self.bodies.0.is_empty()
            && self.flagged.is_empty()
            && self.dedup.0.is_empty()
            && self.entries.0.is_empty()
            && self.timelines.0.is_empty()
            && self.changes.0.is_empty()
            && self.by_time.0.is_empty()
            && self.links.0.is_empty()
            && self.unmatched_on.is_empty()
            && self.unmatched_off.is_empty()
            && self.pending_taken.is_empty()
            && self.pending_added.0.is_empty()
            && self.statuses.0.is_empty()
            && self.search.is_empty()
            && self.subtrees.0.is_empty()
    }

    /// Sends every statement at once, in order, after preparing them all (a statement
    /// prepared on the way would reach the server behind the ones sent after it). With
    /// `commit`, the notification and `COMMIT` follow in the same round trip: if any statement
    /// fails, the server turns the `COMMIT` into a rollback, and the error is what this returns.
    async fn execute(
        self,
        client: &Object,
        commit: Option<Option<String>>,
    ) -> Result<(), StoreError> {
        let used: Vec<&'static str> = [
            (!self.deliveries.is_empty(), sql::DELIVERIES),
            (!self.bodies.0.is_empty(), sql::BODIES),
            (!self.flagged.is_empty(), sql::FLAGGED),
            (!self.dedup.0.is_empty(), sql::DEDUP),
            (!self.entries.0.is_empty(), sql::ENTRIES),
            (!self.timelines.0.is_empty(), sql::TIMELINES),
            (!self.changes.0.is_empty(), sql::CHANGES),
            (!self.by_time.0.is_empty(), sql::BY_TIME),
            (!self.links.0.is_empty(), sql::LINKS),
            (!self.unmatched_on.is_empty(), sql::UNMATCHED_ON),
            (!self.unmatched_off.is_empty(), sql::UNMATCHED_OFF),
            (!self.pending_taken.is_empty(), sql::PENDING_TAKEN),
            (!self.pending_added.0.is_empty(), sql::PENDING_ADDED),
            (!self.statuses.0.is_empty(), sql::STATUSES),
            (!self.search.is_empty(), search::UPSERT),
            (!self.subtrees.0.is_empty(), sql::SUBTREES),
            (self.head.is_some(), sql::HEAD),
            (commit.as_ref().is_some_and(Option::is_some), sql::NOTIFY),
        ]
        .into_iter()
        .filter_map(|(used, sql)| used.then_some(sql))
        .collect();
        let prepared: HashMap<&str, tokio_postgres::Statement> =
            futures_util::future::try_join_all(used.iter().map(|sql| async move {
                Ok::<_, StoreError>((*sql, client.prepare_cached(sql).await?))
            }))
            .await?
            .into_iter()
            .collect();
        let statement = |sql: &str| prepared.get(sql).cloned();
        let delivery_columns = DeliveryColumns::of(&self.deliveries);
        let channel = super::feed::CHANNEL;
        let notify = commit.clone().flatten();
        let mut work: Vec<Work<'_>> = Vec::new();
        let mut run = |sql: &'static str, params| push(&mut work, client, statement(sql), params);
        run(sql::DELIVERIES, delivery_columns.params());
        run(sql::BODIES, vec![&self.bodies.0, &self.bodies.1]);
        run(sql::FLAGGED, vec![&self.flagged]);
        run(
            sql::DEDUP,
            vec![&self.dedup.0, &self.dedup.1, &self.dedup.2],
        );
        run(sql::ENTRIES, vec![&self.entries.0, &self.entries.1]);
        run(
            sql::TIMELINES,
            vec![
                &self.timelines.0,
                &self.timelines.1,
                &self.timelines.2,
                &self.timelines.3,
            ],
        );
        run(
            sql::CHANGES,
            vec![&self.changes.0, &self.changes.1, &self.changes.2],
        );
        run(sql::BY_TIME, vec![&self.by_time.0, &self.by_time.1]);
        run(
            sql::LINKS,
            vec![&self.links.0, &self.links.1, &self.links.2],
        );
        run(sql::UNMATCHED_ON, vec![&self.unmatched_on]);
        run(sql::UNMATCHED_OFF, vec![&self.unmatched_off]);
        // In this order: a key taken and waited on again within one flush keeps only what
        // came after the take.
        run(sql::PENDING_TAKEN, vec![&self.pending_taken]);
        run(
            sql::PENDING_ADDED,
            vec![&self.pending_added.0, &self.pending_added.1],
        );
        run(sql::STATUSES, vec![&self.statuses.0, &self.statuses.1]);
        run(search::UPSERT, self.search.params());
        run(
            sql::SUBTREES,
            vec![&self.subtrees.0, &self.subtrees.1, &self.subtrees.2],
        );
        if let Some((seq, hash, tree)) = &self.head {
            run(sql::HEAD, vec![seq, hash, tree]);
        }
        if let Some(payload) = &notify {
            run(sql::NOTIFY, vec![&channel, payload]);
        }
        if commit.is_some() {
            work.push(Box::pin(async move {
                client.batch_execute("COMMIT").await?;
                Ok(())
            }));
        }
        futures_util::future::try_join_all(work).await?;
        Ok(())
    }
}

/// Adds `statement` (when it is used) with `params` to what a flush sends.
fn push<'a>(
    work: &mut Vec<Work<'a>>,
    client: &'a Object,
    statement: Option<tokio_postgres::Statement>,
    params: Vec<&'a (dyn ToSql + Sync)>,
) {
    if let Some(statement) = statement {
        work.push(Box::pin(async move {
            client.execute(&statement, &params).await?;
            Ok(())
        }));
    }
}

/// The flush's statements.
mod sql {
    pub const DELIVERIES: &str = "INSERT INTO deliveries (seq, source, received_at_nanos, \
         headers, body_sha256, chain, delivery_id, replay_key, outcome) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], \
         $5::bytea[], $6::bytea[], $7::text[], $8::text[], $9::bytea[]) \
         ON CONFLICT (seq) DO UPDATE SET delivery_id = excluded.delivery_id, \
         replay_key = excluded.replay_key, outcome = excluded.outcome";
    pub const BODIES: &str = "INSERT INTO delivery_bodies (seq, body) \
         SELECT * FROM unnest($1::bigint[], $2::bytea[]) ON CONFLICT (seq) DO NOTHING";
    pub const FLAGGED: &str = "INSERT INTO flagged_deliveries (seq) \
         SELECT * FROM unnest($1::bigint[]) ON CONFLICT DO NOTHING";
    pub const DEDUP: &str = "INSERT INTO dedup_keys (source, key, seq) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (source, key) DO UPDATE SET seq = excluded.seq";
    pub const ENTRIES: &str = "INSERT INTO entries (id, entry) \
         SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
         ON CONFLICT (id) DO UPDATE SET entry = excluded.entry";
    pub const TIMELINES: &str = "INSERT INTO subject_timelines (subject, lane, occurred, entry_id) \
         SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bytea[]) \
         ON CONFLICT DO NOTHING";
    pub const CHANGES: &str = "INSERT INTO subject_changes (subject, seq, entry_id) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING";
    pub const BY_TIME: &str = "INSERT INTO entries_by_time (occurred, entry_id) \
         SELECT * FROM unnest($1::bigint[], $2::bytea[]) ON CONFLICT DO NOTHING";
    pub const LINKS: &str = "INSERT INTO links (key, entry_id, target) \
         SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
         ON CONFLICT (key) DO UPDATE SET entry_id = excluded.entry_id, target = excluded.target";
    pub const UNMATCHED_ON: &str = "INSERT INTO unmatched_entries (entry_id) \
         SELECT * FROM unnest($1::bytea[]) ON CONFLICT DO NOTHING";
    pub const UNMATCHED_OFF: &str = "DELETE FROM unmatched_entries WHERE entry_id = ANY($1)";
    pub const PENDING_TAKEN: &str = "DELETE FROM pending_links WHERE key = ANY($1)";
    pub const PENDING_ADDED: &str = "INSERT INTO pending_links (key, entry_id) \
         SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING";
    pub const STATUSES: &str = "INSERT INTO email_status (entry_id, status) \
         SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
         ON CONFLICT (entry_id) DO UPDATE SET status = excluded.status";
    pub const HEAD: &str = "UPDATE chain_head SET seq = $1, hash = $2, tree = $3";
    /// A subtree, once complete, never changes: one there already is kept (a rebuild deletes
    /// them all first; a mismatch would show when the notary checks its root before signing).
    pub const SUBTREES: &str = "INSERT INTO merkle_subtrees (height, idx, hash) \
         SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) \
         ON CONFLICT (height, idx) DO NOTHING";
    pub const NOTIFY: &str = "SELECT pg_notify($1, $2)";
}

/// The delivery rows as one array per column.
struct DeliveryColumns<'a> {
    seqs: Vec<i64>,
    sources: Vec<&'a str>,
    received: Vec<i64>,
    headers: Vec<&'a [u8]>,
    hashes: Vec<&'a [u8]>,
    chains: Vec<&'a [u8]>,
    ids: Vec<Option<&'a str>>,
    replay: Vec<Option<&'a str>>,
    outcomes: Vec<&'a [u8]>,
}

impl<'a> DeliveryColumns<'a> {
    fn of(rows: &'a [DeliveryRow]) -> DeliveryColumns<'a> {
        DeliveryColumns {
            seqs: rows.iter().map(|r| r.seq).collect(),
            sources: rows.iter().map(|r| r.source.as_str()).collect(),
            received: rows.iter().map(|r| r.received_at_nanos).collect(),
            headers: rows.iter().map(|r| r.headers.as_slice()).collect(),
            hashes: rows.iter().map(|r| r.body_sha256.as_slice()).collect(),
            chains: rows.iter().map(|r| r.chain.as_slice()).collect(),
            ids: rows.iter().map(|r| r.delivery_id.as_deref()).collect(),
            replay: rows.iter().map(|r| r.replay_key.as_deref()).collect(),
            outcomes: rows.iter().map(|r| r.outcome.as_slice()).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.seqs,
            &self.sources,
            &self.received,
            &self.headers,
            &self.hashes,
            &self.chains,
            &self.ids,
            &self.replay,
            &self.outcomes,
        ]
    }
}

impl Tables for PgTables<'_> {
    fn chain_head(&mut self) -> Result<ChainHead, StoreError> {
        Ok(self.locked_head.clone())
    }

    fn set_chain_head(&mut self, head: &ChainHead) -> Result<(), StoreError> {
        self.locked_head = head.clone();
        self.writes.head = Some(head.clone());
        Ok(())
    }

    fn put_subtree(&mut self, subtree: &Subtree) -> Result<(), StoreError> {
        let height = i16::try_from(subtree.height)
            .map_err(|_| StoreError::Corrupt("a subtree taller than i16".into()))?;
        self.writes
            .subtrees
            .push((height, seq_to_sql(subtree.index)?, subtree.hash.to_vec()));
        Ok(())
    }

    fn clear_subtrees(&mut self) -> Result<(), StoreError> {
        self.immediately(|client| async move {
            client.batch_execute("DELETE FROM merkle_subtrees").await?;
            Ok(())
        })
    }

    fn put_delivery(
        &mut self,
        delivery: &StoredDelivery,
        body: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let row = DeliveryRow::from_delivery(delivery)?;
        if let Some(body) = body {
            self.writes.bodies.push((row.seq, body.to_vec()));
        }
        self.writes.deliveries.insert(row.seq, row);
        Ok(())
    }

    fn deliveries_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let (from, limit) = (seq_to_sql(from)?, limit as i64);
        self.immediately(|client| async move {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS}, b.body FROM deliveries d \
                 LEFT JOIN delivery_bodies b ON b.seq = d.seq \
                 WHERE d.seq >= $1 ORDER BY d.seq LIMIT $2"
            );
            let rows = client.query(&sql, &[&from, &limit]).await?;
            rows.iter().map(|row| delivery_from(row, true)).collect()
        })
    }

    fn delivery_records_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        self.immediately(move |client| async move {
            super::query::delivery_records(&***client, from, limit).await
        })
    }

    fn drop_body(&mut self, seq: u64) -> Result<bool, StoreError> {
        let seq = seq_to_sql(seq)?;
        self.immediately(|client| async move {
            let dropped = client
                .execute("DELETE FROM delivery_bodies WHERE seq = $1", &[&seq])
                .await?;
            Ok(dropped > 0)
        })
    }

    fn flag_delivery(&mut self, seq: u64) -> Result<(), StoreError> {
        self.writes.flagged.insert(seq_to_sql(seq)?);
        Ok(())
    }

    fn unflag_delivery(&mut self, seq: u64) -> Result<(), StoreError> {
        let seq = seq_to_sql(seq)?;
        self.writes.flagged.remove(&seq);
        self.immediately(move |client| async move {
            client
                .execute("DELETE FROM flagged_deliveries WHERE seq = $1", &[&seq])
                .await?;
            Ok(())
        })
    }

    fn dedup(&mut self, source: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let cache_key = (source.to_owned(), key.to_owned());
        if let Some(known) = self.dedup.get(&cache_key) {
            return Ok(*known);
        }
        let found = self.run(|client| {
            let (source, key) = cache_key.clone();
            async move {
                let row = client
                    .query_opt(
                        "SELECT seq FROM dedup_keys WHERE source = $1 AND key = $2",
                        &[&source, &key],
                    )
                    .await?;
                row.map(|row| seq_from_sql(row.try_get(0)?)).transpose()
            }
        })?;
        self.dedup.insert(cache_key, found);
        Ok(found)
    }

    fn put_dedup(&mut self, source: &str, key: &str, seq: u64) -> Result<(), StoreError> {
        let cache_key = (source.to_owned(), key.to_owned());
        self.dedup.insert(cache_key.clone(), Some(seq));
        self.writes.dedup.insert(cache_key, seq_to_sql(seq)?);
        Ok(())
    }

    fn entry(&mut self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        if let Some(known) = self.entries.get(&id) {
            return Ok(known.clone());
        }
        let found = self.run(|client| async move {
            let row = client
                .query_opt("SELECT entry FROM entries WHERE id = $1", &[&id_bytes(id)])
                .await?;
            row.map(|row| from_json::<Entry>(row.try_get(0)?))
                .transpose()
        })?;
        self.entries.insert(id, found.clone());
        Ok(found)
    }

    fn put_entry(&mut self, entry: &Entry) -> Result<(), StoreError> {
        self.entries.insert(entry.id, Some(entry.clone()));
        self.writes.entries.insert(entry.id);
        Ok(())
    }

    fn delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<Vec<Entry>, StoreError> {
        let (first, last) = entry_id_bounds(delivery);
        self.immediately(|client| async move {
            let rows = client
                .query(
                    "SELECT entry FROM entries WHERE id BETWEEN $1 AND $2 ORDER BY id",
                    &[&first, &last],
                )
                .await?;
            rows.iter()
                .map(|row| from_json(row.try_get::<_, &[u8]>(0)?))
                .collect()
        })
    }

    fn remove_delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<(), StoreError> {
        let (first, last) = entry_id_bounds(delivery);
        self.immediately(|client| async move {
            client
                .execute(
                    "DELETE FROM entries WHERE id BETWEEN $1 AND $2",
                    &[&first, &last],
                )
                .await?;
            client
                .execute(
                    "DELETE FROM search_documents WHERE id BETWEEN $1 AND $2",
                    &[&first, &last],
                )
                .await?;
            Ok(())
        })
    }

    fn remove_from_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError> {
        let (subject, lane) = (subject_key.to_owned(), i16::from(lane));
        let (occurred, id) = (entry.occurred_at.timestamp_micros(), id_bytes(entry.id));
        self.immediately(move |client| async move {
            client
                .execute(
                    "DELETE FROM subject_timelines \
                     WHERE subject = $1 AND lane = $2 AND occurred = $3 AND entry_id = $4",
                    &[&subject, &lane, &occurred, &id],
                )
                .await?;
            Ok(())
        })
    }

    fn unindex_by_time(&mut self, entry: &Entry) -> Result<(), StoreError> {
        let (occurred, id) = (entry.occurred_at.timestamp_micros(), id_bytes(entry.id));
        self.immediately(move |client| async move {
            client
                .execute(
                    "DELETE FROM entries_by_time WHERE occurred = $1 AND entry_id = $2",
                    &[&occurred, &id],
                )
                .await?;
            Ok(())
        })
    }

    fn add_to_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError> {
        self.writes.timelines.push((
            subject_key.to_owned(),
            i16::from(lane),
            entry.occurred_at.timestamp_micros(),
            entry.id,
        ));
        Ok(())
    }

    fn index_by_time(&mut self, entry: &Entry) -> Result<(), StoreError> {
        let row = (entry.occurred_at.timestamp_micros(), entry.id);
        self.writes.by_time.push(row);
        Ok(())
    }

    fn add_change(&mut self, subject_key: &str, seq: u64, id: EntryId) -> Result<(), StoreError> {
        let seq = seq_to_sql(seq)?;
        self.writes.changes.push((subject_key.to_owned(), seq, id));
        Ok(())
    }

    fn timeline_ids(&mut self, subject: &Subject) -> Result<Vec<EntryId>, StoreError> {
        let key = subject.key();
        self.immediately(|client| async move {
            let rows = client
                .query(
                    "SELECT entry_id FROM subject_timelines WHERE subject = $1 \
                     ORDER BY occurred, entry_id",
                    &[&key],
                )
                .await?;
            rows.iter().map(|row| id_from(row.try_get(0)?)).collect()
        })
    }

    fn link(&mut self, key: &str) -> Result<Option<LinkTarget>, StoreError> {
        if let Some(known) = self.links.get(key) {
            return Ok(known.clone());
        }
        let found = self.run(|client| {
            let key = key.to_owned();
            async move {
                let row = client
                    .query_opt("SELECT target FROM links WHERE key = $1", &[&key])
                    .await?;
                row.map(|row| from_json::<LinkTarget>(row.try_get(0)?))
                    .transpose()
            }
        })?;
        self.links.insert(key.to_owned(), found.clone());
        Ok(found)
    }

    fn put_link(&mut self, key: &str, target: &LinkTarget) -> Result<(), StoreError> {
        self.links.insert(key.to_owned(), Some(target.clone()));
        self.writes.links.insert(key.to_owned());
        Ok(())
    }

    fn set_unmatched(&mut self, id: EntryId, unmatched: bool) -> Result<(), StoreError> {
        self.unmatched.insert(id, unmatched);
        self.writes.unmatched.insert(id);
        Ok(())
    }

    fn is_unmatched(&mut self, id: EntryId) -> Result<bool, StoreError> {
        if let Some(known) = self.unmatched.get(&id) {
            return Ok(*known);
        }
        let found = self.run(|client| async move {
            let row = client
                .query_opt(
                    "SELECT 1 FROM unmatched_entries WHERE entry_id = $1",
                    &[&id_bytes(id)],
                )
                .await?;
            Ok(row.is_some())
        })?;
        self.unmatched.insert(id, found);
        Ok(found)
    }

    fn add_pending(&mut self, key: &str, id: EntryId) -> Result<(), StoreError> {
        if let Some(waiting) = self.pending.get_mut(key) {
            waiting.insert(id);
        }
        self.writes.pending_added.push((key.to_owned(), id));
        Ok(())
    }

    fn take_pending(&mut self, key: &str) -> Result<Vec<EntryId>, StoreError> {
        if !self.pending.contains_key(key) {
            let stored = self.run(|client| {
                let key = key.to_owned();
                async move {
                    let rows = client
                        .query("SELECT entry_id FROM pending_links WHERE key = $1", &[&key])
                        .await?;
                    rows.iter()
                        .map(|row| id_from(row.try_get(0)?))
                        .collect::<Result<BTreeSet<_>, _>>()
                }
            })?;
            // Added in this transaction but not yet written: waiting all the same.
            let buffered = self
                .writes
                .pending_added
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, id)| *id);
            let waiting = stored.into_iter().chain(buffered).collect();
            self.pending.insert(key.to_owned(), waiting);
        }
        let waiting = self.pending.insert(key.to_owned(), BTreeSet::new());
        self.writes.pending_added.retain(|(k, _)| k != key);
        self.writes.pending_taken.insert(key.to_owned());
        Ok(waiting.unwrap_or_default().into_iter().collect())
    }

    fn email_status(&mut self, email: EntryId) -> Result<Option<DeliveryStatus>, StoreError> {
        if let Some(known) = self.statuses.get(&email) {
            return Ok(known.clone());
        }
        let found = self.run(|client| async move {
            let row = client
                .query_opt(
                    "SELECT status FROM email_status WHERE entry_id = $1",
                    &[&id_bytes(email)],
                )
                .await?;
            row.map(|row| from_json::<DeliveryStatus>(row.try_get(0)?))
                .transpose()
        })?;
        self.statuses.insert(email, found.clone());
        Ok(found)
    }

    fn put_email_status(
        &mut self,
        email: EntryId,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError> {
        self.statuses.insert(email, Some(status.clone()));
        self.writes.statuses.insert(email);
        Ok(())
    }

    fn clear_projections(&mut self) -> Result<(), StoreError> {
        self.immediately(|client| async move {
            client
                // DELETE rather than TRUNCATE: readers on every gateway keep seeing the old
                // projections until the rebuilt ones commit.
                .batch_execute(
                    "DELETE FROM subject_timelines; DELETE FROM subject_changes; \
                     DELETE FROM entries_by_time; \
                     DELETE FROM dedup_keys; DELETE FROM links; \
                     DELETE FROM flagged_deliveries; DELETE FROM unmatched_entries; \
                     DELETE FROM pending_links; DELETE FROM email_status;",
                )
                .await?;
            Ok(())
        })?;
        self.dedup.clear();
        self.links.clear();
        self.statuses.clear();
        self.unmatched.clear();
        self.pending.clear();
        Ok(())
    }

    fn scan_entries(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError> {
        self.scan_by_entry_id(
            "SELECT id, entry FROM entries WHERE id > $1 ORDER BY id LIMIT $2",
            visit,
        )
    }

    fn scan_bodies(&mut self, visit: Visit<'_, u64>) -> Result<(), StoreError> {
        self.flush()?;
        let mut after = 0i64;
        loop {
            let rows = self.run(|client| async move {
                let rows = client
                    .query(
                        "SELECT seq, body FROM delivery_bodies WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&after, &SCAN_PAGE],
                    )
                    .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, Vec<u8>>(1)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            let Some(&(last, _)) = rows.last() else {
                return Ok(());
            };
            for (seq, body) in rows {
                visit(seq_from_sql(seq)?, &body)?;
            }
            after = last;
        }
    }

    fn scan_email_statuses(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError> {
        self.scan_by_entry_id(
            "SELECT entry_id, status FROM email_status WHERE entry_id > $1 \
             ORDER BY entry_id LIMIT $2",
            visit,
        )
    }
}

impl PgTables<'_> {
    /// Walks a table keyed by entry id, (id, stored JSON) in pages of [`SCAN_PAGE`] rows:
    /// memory stays bounded whatever its size.
    fn scan_by_entry_id(
        &mut self,
        sql: &'static str,
        visit: Visit<'_, EntryId>,
    ) -> Result<(), StoreError> {
        self.flush()?;
        let mut after: Vec<u8> = Vec::new();
        loop {
            let rows = self.run(|client| async move {
                let rows = client.query(sql, &[&after, &SCAN_PAGE]).await?;
                rows.iter()
                    .map(|row| Ok((row.try_get::<_, Vec<u8>>(0)?, row.try_get::<_, Vec<u8>>(1)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            let Some((last, _)) = rows.last() else {
                return Ok(());
            };
            after = last.clone();
            for (id, stored) in rows {
                visit(id_from(&id)?, &stored)?;
            }
        }
    }
}

/// The ids a delivery's entries can have (see [`EntryId::derive`]), as stored.
fn entry_id_bounds(delivery: &StoredDelivery) -> (Vec<u8>, Vec<u8>) {
    (
        id_bytes(EntryId::derive(delivery.received_at, delivery.seq, 0)),
        id_bytes(EntryId::derive(
            delivery.received_at,
            delivery.seq,
            u16::MAX,
        )),
    )
}
