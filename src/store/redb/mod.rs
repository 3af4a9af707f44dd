//! The embedded backend: the log's redb file, the views' redb file beside it (see [`files`]),
//! and the journal (see [`journal`]). Keys are time-ordered (delivery seq, ULID entry ids,
//! `occurred_at` within a subject), which keeps B-tree appends cheap.

mod alerts;
mod append;
mod backup;
mod erase;
mod export;
pub mod files;
pub mod journal;
mod maintenance;
mod migrate;
mod query;
mod records;
mod renormalize;
pub mod reopen;
mod retention;
pub mod search;
mod sessions;
mod snapshot;
mod tables;
mod tally;
#[cfg(test)]
mod tests;
mod timelines;
mod tree;
pub mod views;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redb::Database;

pub use snapshot::RedbSnapshot;

use self::files::Files;
use self::reopen::ReopeningDatabase;
use super::health::OpeningProgress;
use super::project::{self, ChainHead, Views};
use super::stamps::SubjectStamps;
use super::{
    Appended, BackupReport, Capture, ChainReport, Change, ChangeCursor, ChangeFeed, Cursor,
    ErasureReport, Feed, LaneCounts, Page, PageQuery, ReadSide, ReindexReport, Rereader,
    Revocation, StoreError, StoredDelivery, WriteSide,
};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Entry, EntryId, Subject};
use crate::search::{Indexing, SearchHits, SearchRequest};
use crate::store::project::RenormalizeRequest;
use crate::store::tally::{Tally, TallyBatch};
use crate::store::{AlertRecord, RenormalizeReport, StoredAlert};
use crate::trust::heads::SignedHead;
use crate::trust::merkle::Hash;

pub struct RedbStore {
    db: ReopeningDatabase,
    /// Held by appends (journal, then commit), checkpoints and erasures (commit, then empty the
    /// journal), so none comes between another's two steps.
    journal: Mutex<Journaling>,
    stamps: SubjectStamps,
    views: Views,
    /// Off only in the intake bench, to show what the Merkle tree costs.
    tree: project::tree::Upkeep,
    search: search::SearchIndex,
    /// Off only in the intake bench, to show what following the feed costs.
    indexes_for_search: bool,
}

/// How often the store checkpoints (see [`journal`]): whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoints {
    /// Time since the last checkpoint, checked after each batch.
    pub every: Duration,
    /// Deliveries appended since the last checkpoint.
    pub deliveries: usize,
}

/// How the embedded store is opened: when it checkpoints, and how much memory its page cache
/// may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbSettings {
    pub checkpoints: Checkpoints,
    /// redb's cache of file pages: pages read, and pages committed since the last checkpoint
    /// (at most half of it; redb writes the rest to the file early, unsynced).
    pub cache_bytes: usize,
}

impl Default for RedbSettings {
    /// As `[storage]` has them by default.
    fn default() -> Self {
        RedbSettings {
            checkpoints: Checkpoints::default(),
            cache_bytes: crate::config::storage::DEFAULT_CACHE_MIB << 20,
        }
    }
}

impl Default for Checkpoints {
    /// As `[storage]` has them by default.
    fn default() -> Self {
        use crate::config::storage::{DEFAULT_CHECKPOINT_DELIVERIES, DEFAULT_CHECKPOINT_SECS};
        Checkpoints {
            every: Duration::from_secs(DEFAULT_CHECKPOINT_SECS),
            deliveries: DEFAULT_CHECKPOINT_DELIVERIES,
        }
    }
}

/// The journal, and how much it holds since the last checkpoint.
struct Journaling {
    journal: journal::Journal,
    policy: Checkpoints,
    deliveries: usize,
    since: Instant,
}

impl Journaling {
    /// Starts the journal over once a checkpoint holds all it held; the next checkpoint is
    /// counted from here.
    fn checkpointed(&mut self) -> Result<(), StoreError> {
        self.journal.recycle()?;
        self.counted_from_now();
        Ok(())
    }

    /// Empties the journal once an erasure's durable commit holds all it held: none of its
    /// bytes may stay on the disk.
    fn erased(&mut self) -> Result<(), StoreError> {
        self.journal.wipe()?;
        self.counted_from_now();
        Ok(())
    }

    fn counted_from_now(&mut self) {
        self.deliveries = 0;
        self.since = Instant::now();
    }
}

impl RedbStore {
    /// Opens the store at `path` for writing, creating the file (and its folder) on first use,
    /// with the default checkpoints.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        RedbStore::open_with(path, Checkpoints::default())
    }

    /// Opens the store at `path`: redb comes back at its last checkpoint (recovering by itself
    /// from an unclean shutdown), the journal's batches are appended again, and a checkpoint
    /// makes that durable. After an I/O failure the store reopens the file by itself, and
    /// replays the journal again (see [`reopen`]).
    pub fn open_with(path: &Path, checkpoints: Checkpoints) -> Result<Self, StoreError> {
        let settings = RedbSettings {
            checkpoints,
            ..RedbSettings::default()
        };
        RedbStore::open_reporting(path, settings, Arc::default(), None)
    }

    /// [`RedbStore::open_with`] with every setting, telling `progress` how far the replay has
    /// come. Views that must be rebuilt (see [`views`]) are rebuilt with `reread`, the
    /// sources' normalizers, when given; without it each delivery keeps the entries it has.
    pub fn open_reporting(
        path: &Path,
        settings: RedbSettings,
        progress: Arc<OpeningProgress>,
        reread: Option<&Rereader<'_>>,
    ) -> Result<Self, StoreError> {
        let path: PathBuf = path.to_owned();
        // First, since the log's lock makes this process the store's owner: a process refused
        // it ([`StoreError::InUse`]) has touched neither the journal nor the search index of
        // the gateway that owns them. The replay reads the journal by itself, up to its last
        // whole record.
        let (files, rebuilt) = open_files(&path, settings, &progress, Rebuild::Now(reread))?;
        let journal = journal::Journal::open(&journal::path_for(&path))?;
        let search = search::SearchIndex::open(&path)?;
        let db = ReopeningDatabase::opened(files, move || {
            Ok(open_files(&path, settings, &progress, Rebuild::Refused)?.0)
        });
        let store = RedbStore {
            db,
            journal: Mutex::new(Journaling {
                journal,
                policy: settings.checkpoints,
                deliveries: 0,
                since: Instant::now(),
            }),
            stamps: SubjectStamps::new(),
            views: Views::Kept,
            tree: project::tree::Upkeep::Kept,
            search,
            indexes_for_search: true,
        };
        if rebuilt {
            // The rebuilt feed of changes is indexed again from its start.
            store.search.reset(&store)?;
        }
        store.checkpoint()?;
        Ok(store)
    }

    /// The same store appending the log alone, with no views (see [`Views::Off`]): the intake
    /// bench's ceiling. Its timelines stay empty, and a start-up replay writes views again, so
    /// it is for a scratch store only.
    pub fn without_views(mut self) -> Self {
        self.views = Views::Off;
        self
    }

    /// The same store appending without growing the Merkle tree (see
    /// [`project::tree::Upkeep::Off`]): the intake bench's measure of what the tree costs.
    /// Proofs and heads of it are wrong, so it is for a scratch store only.
    pub fn without_tree(mut self) -> Self {
        self.tree = project::tree::Upkeep::Off;
        self
    }

    /// The same store with its search index left as it is (a bench-only setting): the intake
    /// bench's measure of what indexing costs. Searches then find only what was indexed
    /// before, so it is for a scratch store only.
    pub fn without_search_indexing(mut self) -> Self {
        self.indexes_for_search = false;
        self
    }

    /// The search index brought up to the store, with its background merges done: as a store
    /// that has served for a while has it (see [`search::SearchIndex::settle`]).
    pub fn settle_search_index(&self) -> Result<(), StoreError> {
        if !self.indexes_for_search {
            return Ok(());
        }
        self.search.catch_up_fully(self)?;
        self.search.settle()
    }

    /// Makes everything committed durable and starts the journal over.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        let mut journaling = self.journaling();
        self.checkpoint_holding(&mut journaling)
    }

    fn checkpoint_holding(&self, journaling: &mut Journaling) -> Result<u64, StoreError> {
        let started = Instant::now();
        let seq = self.with(append::checkpoint)?;
        tracing::debug!(
            seq,
            deliveries = journaling.deliveries,
            took_ms = started.elapsed().as_secs_f64() * 1e3,
            "checkpoint"
        );
        journaling.checkpointed()?;
        Ok(seq)
    }

    /// Runs an erasure holding the journal, which it then empties: the erasure's commit is
    /// durable, so it holds everything journaled before it, and what it erased must not stay
    /// on disk in the journal. (Single durable commits start it over: see
    /// [`RedbStore::durably`]. Reindex and retention leave it as it is: its records are then
    /// behind the store's head, and replay skips them. Retention in particular commits in
    /// chunks so that intake goes on between them.)
    fn erasing<T>(
        &self,
        operation: impl FnOnce(&Files) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut journaling = self.journaling();
        let result = self.with(operation)?;
        journaling.erased()?;
        Ok(result)
    }

    /// Runs a durable commit made outside the writer (a sign-out, the tally, an alert, a signed
    /// head) holding the journal. Such a commit makes every commit before it durable, as a
    /// checkpoint does, so it counts as one: the journal starts over after it, and the next
    /// checkpoint is counted from it rather than flushing again, soon after, what it flushed.
    /// An operation that ends up committing nothing (an alert swapped from a revision that
    /// moved on) leaves the journal as it is.
    ///
    /// The count of durable commits may also move for one made meanwhile by maintenance that
    /// does not hold the journal (retention, reindex). Starting over is as safe then: the
    /// writer journals and commits a batch under this same lock, so every batch the journal
    /// holds was committed before that durable commit, which made it durable.
    fn durably<T>(
        &self,
        operation: impl FnOnce(&Files) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut journaling = self.journaling();
        let mut checkpointed = false;
        let result = self.with(|db| {
            let before = db.durable_commits();
            let result = operation(db);
            checkpointed = db.durable_commits() > before;
            result
        });
        if checkpointed && let Err(err) = journaling.checkpointed() {
            // The commit stands; the journal's records are behind it, so a replay would skip
            // them, and the next checkpoint starts it over.
            tracing::warn!(error = %err, "the journal could not start over after a durable commit");
        }
        result
    }

    fn journaling(&self) -> MutexGuard<'_, Journaling> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many times the file was opened, the first time included.
    pub fn times_opened(&self) -> usize {
        self.db.times_opened()
    }

    /// The open file itself, for tests that alter it behind the store's back.
    #[cfg(test)]
    pub(crate) fn raw<T>(&self, work: impl FnOnce(&Files) -> T) -> T {
        let mut out = None;
        self.db
            .with(|db| {
                out = Some(work(db));
                Ok(())
            })
            .ok();
        out.expect("the test's file is open")
    }

    #[cfg(test)]
    pub(crate) fn fail_operations(&self, failing: bool) {
        self.db
            .failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    /// Runs `operation` on the open file (see [`ReopeningDatabase::with`]).
    fn with<T>(
        &self,
        operation: impl FnOnce(&Files) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.with(operation)
    }
}

/// Appends the journal's batches again, those the store is not past already (see
/// [`journal`]).
fn replay(db: &Files, journal_path: &Path, progress: &OpeningProgress) -> Result<(), StoreError> {
    let total = journal::deliveries_in(journal_path)?;
    if total == 0 {
        return Ok(());
    }
    let started = Instant::now();
    progress.replaying(total);
    tracing::info!(
        journaled = total,
        "appending the journal's deliveries since the last checkpoint again"
    );
    let mut replayed = 0;
    journal::replay_each(journal_path, |batch| {
        let applied =
            append::replay(db, batch.after, &batch.captures).map_err(|err| match err {
                StoreError::Corrupt(reason) => StoreError::Corrupt(format!(
                    "{reason}. If the store file was restored from a backup, remove the journal \
                 {} (it belongs to the file that was replaced)",
                    journal_path.display()
                )),
                other => other,
            })?;
        if applied {
            replayed += batch.captures.len();
        }
        progress.replayed(batch.captures.len() as u64);
        Ok(())
    })?;
    tracing::info!(
        journaled = total,
        replayed,
        took_ms = started.elapsed().as_millis() as u64,
        "the journal's deliveries since the last checkpoint were appended again"
    );
    Ok(())
}

/// What opening does with views that are not the log's.
#[derive(Clone, Copy)]
enum Rebuild<'r> {
    /// Rebuild them, normalizing every delivery again with `reread` when given (else each
    /// delivery keeps the entries it has).
    Now(Option<&'r Rereader<'r>>),
    /// Refuse to open: a reopen after an I/O failure, while the gateway serves, has no
    /// normalizers at hand, and must not hold every request for O(log).
    Refused,
}

/// Opens both files, brings the views to the log (rebuilding them if they are not the log's),
/// then appends the journal's batches again. Whether the views were rebuilt.
fn open_files(
    path: &Path,
    settings: RedbSettings,
    progress: &OpeningProgress,
    rebuild: Rebuild<'_>,
) -> Result<(Files, bool), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            StoreError::Unavailable(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    // The log first: it holds the lock that makes one process the store's owner.
    let log = open_database(path, settings.cache_bytes / 2)?;
    let views = views::open(path, &log, settings.cache_bytes / 2)?;
    let files = Files::new(log, views)?;
    let stale = match views::check(&files)? {
        // Before any commit: a durable one gives the log a new epoch, which no savepoint of
        // the views could then match.
        Some(views::Stale::Mismatched) if views::roll_back(&files, path) => None,
        stale => stale,
    };
    // Its commit leaves stale views stale (see `files::Stamp`): only the rebuild stamps them.
    create_tables(&files)?;
    if let Some(reason) = &stale {
        let Rebuild::Now(reread) = rebuild else {
            return Err(StoreError::Unavailable(format!(
                "the views file {reason} after a storage failure; restart the gateway to \
                 rebuild it from the log"
            )));
        };
        progress.rebuilding(true);
        let rebuilt = views::rebuild(&files, path, reason, reread);
        progress.rebuilding(false);
        rebuilt?;
    }
    replay(&files, &journal::path_for(path), progress)?;
    Ok((files, stale.is_some()))
}

/// Opens (or creates) one redb file. One process owns it. (redb's multi-process modes would
/// let other processes read it live, but they force a second fsync on every commit; live
/// reads go through the gateway's API instead.)
fn open_database(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(cache_bytes).create(path)
}

fn create_tables(db: &Files) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let changed = migrate::upgrade_timelines(&txn)?;
    if changed > 0 {
        tracing::info!(rows = changed, "timelines brought to the current layout");
    }
    let indexed = migrate::index_entries_by_time(&txn)?;
    if indexed > 0 {
        tracing::info!(entries = indexed, "entries indexed by when they happened");
    }
    let grown = project::tree::catch_up(&mut tables::WriteTables::open(&txn)?)?;
    if grown > 0 {
        tracing::info!(
            deliveries = grown,
            "the Merkle tree over deliveries was grown from the log (a store written before it)"
        );
    }
    tree::create_tables(&txn)?;
    sessions::create_tables(&txn)?;
    tally::create_tables(&txn)?;
    alerts::create_table(&txn)?;
    txn.commit()?;
    Ok(())
}

impl Drop for RedbStore {
    /// A last checkpoint, so the next start has nothing to replay.
    fn drop(&mut self) {
        if let Err(err) = self.checkpoint() {
            tracing::warn!(error = %err, "no checkpoint at close; the next start replays the journal");
        }
    }
}

impl ChangeFeed for RedbStore {
    /// One process owns the file, so every change passes through this store: the stamps it
    /// bumps at each commit are the whole feed.
    fn stamp(&self, feed: Feed<'_>) -> Result<u64, StoreError> {
        Ok(self.stamps.get(&feed.key()))
    }

    fn waker(&self, feed: Feed<'_>) -> std::sync::Arc<tokio::sync::Notify> {
        self.stamps.waker(&feed.key())
    }
}

impl WriteSide for RedbStore {
    fn journals(&self) -> bool {
        true
    }

    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        let mut journaling = self.journaling();
        let committed = self.with(|db| {
            append::append(db, &mut journaling.journal, batch, (self.views, self.tree))
        })?;
        self.stamps
            .bump(committed.touched.iter().map(String::as_str));
        journaling.deliveries += batch.len();
        Ok(committed.outcomes)
    }

    /// A checkpoint when one is due: after the batch was answered, so its fsync never holds an
    /// answer back. One that fails is tried again after the next batch; the journal keeps
    /// everything since the last.
    fn after_batch(&self) -> Result<(), StoreError> {
        let mut journaling = self.journaling();
        let due = journaling.deliveries >= journaling.policy.deliveries
            || journaling.since.elapsed() >= journaling.policy.every;
        if due {
            self.checkpoint_holding(&mut journaling)?;
        }
        Ok(())
    }

    fn index_for_search(&self) -> Result<Indexing, StoreError> {
        if !self.indexes_for_search {
            return Ok(Indexing::Off);
        }
        self.search.catch_up(self)
    }

    /// Rebuilds the views, then empties the search index: the rebuilt feed of changes is
    /// indexed again from its start.
    fn reindex(&self, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        let report = self.with(|db| maintenance::reindex(db, reread));
        // Reindexing and erasing may change any timeline, and both are rare: every subject
        // gets a new stamp, whatever the outcome.
        self.stamps.bump_all();
        self.search.reset(self)?;
        report
    }

    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with(|db| retention::prune_bodies(db, cutoff))
    }

    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let report = self.erasing(|db| erase::erase(db, target, now))?;
        self.stamps.bump_all();
        // Before answering: what was erased must not be findable, nor left in the index's
        // files. The erasure itself is committed by now; a failure here must say so, or the
        // caller would take the erasure for undone.
        self.search.scrub(self).map_err(|err| {
            StoreError::Unavailable(format!(
                "the erasure is done and logged, but the search index could not be cleaned \
                 of it ({err}); it is rebuilt from the store if its folder is removed"
            ))
        })?;
        Ok(report)
    }

    fn renormalize(
        &self,
        seqs: &[u64],
        reread: &Rereader<'_>,
        request: &RenormalizeRequest,
    ) -> Result<RenormalizeReport, StoreError> {
        // Outside the writer, like an erasure: it holds the journal, and empties it once its
        // durable commit holds every record, so no replay meets a batch it rewrote.
        let record = self.erasing(|db| renormalize::renormalize(db, seqs, reread, request))?;
        self.stamps.bump_all();
        Ok(record)
    }

    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
        self.with(|db| backup::copy(&db.begin_read()?, target))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.with(|db| {
            let txn = db.begin_write()?;
            txn.abort()?;
            Ok(())
        })
    }

    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.durably(|db| sessions::revoke(db, revocation, now))
    }

    fn add_to_tally(&self, batch: &TallyBatch) -> Result<(), StoreError> {
        self.durably(|db| tally::add(db, batch))
    }

    fn swap_alert(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError> {
        self.durably(|db| alerts::swap(db, name, expected, record))
    }

    fn add_tree_head(&self, head: &SignedHead) -> Result<bool, StoreError> {
        self.durably(|db| tree::add_head(db, head))
    }
}

impl ReadSide for RedbStore {
    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        self.with(|db| query::subject_entries(&db.begin_read()?, subject, query))
    }

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        self.with(|db| query::entry(&db.begin_read()?, id))
    }

    fn changes(
        &self,
        feed: Feed<'_>,
        after: ChangeCursor,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        self.with(|db| query::changes(&db.begin_read()?, feed, after, limit))
    }

    fn latest_change(&self, feed: Feed<'_>) -> Result<ChangeCursor, StoreError> {
        self.with(|db| query::latest_change(&db.begin_read()?, feed))
    }

    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        self.with(|db| query::subject_origin(&db.begin_read()?, subject))
    }

    fn lane_counts(&self, subject: &Subject) -> Result<LaneCounts, StoreError> {
        self.with(|db| query::lane_counts(&db.begin_read()?, subject))
    }

    fn recent(&self, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError> {
        self.with(|db| query::recent(&db.begin_read()?, limit, before))
    }

    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.with(|db| query::unmatched(&db.begin_read()?, limit, before))
    }

    fn unmatched_count(&self) -> Result<u64, StoreError> {
        self.with(|db| query::unmatched_count(&db.begin_read()?))
    }

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        Ok(self
            .deliveries(seq, 1)?
            .into_iter()
            .find(|delivery| delivery.seq == seq))
    }

    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.with(|db| query::deliveries(&db.begin_read()?, from.., limit))
    }

    fn delivery_records(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.with(|db| query::delivery_records(&db.begin_read()?, from, limit))
    }

    fn deliveries_before(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        self.with(|db| query::deliveries_before(&db.begin_read()?, before, limit))
    }

    fn search(&self, request: &SearchRequest) -> Result<SearchHits, StoreError> {
        self.search.search(self, request)
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.with(|db| maintenance::verify_chain(&db.begin_read()?))
    }

    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.with(|db| export::entries(&db.begin_read()?, subject, sink))
    }

    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.with(|db| export::page(&db.begin_read()?, subject, after, limit))
    }

    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        self.with(|db| sessions::revocations(&db.begin_read()?, now))
    }

    fn tally(&self, since: DateTime<Utc>) -> Result<Tally, StoreError> {
        self.with(|db| tally::read(&db.begin_read()?, since))
    }

    fn alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.with(|db| alerts::read(&db.begin_read()?))
    }

    fn chain_head(&self) -> Result<ChainHead, StoreError> {
        self.with(|db| tree::chain_head(&db.begin_read()?))
    }

    fn subtree(&self, height: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        self.with(|db| tree::subtree(&db.begin_read()?, height, index))
    }

    fn tree_heads(&self, before: Option<u64>, limit: usize) -> Result<Vec<SignedHead>, StoreError> {
        self.with(|db| tree::heads(&db.begin_read()?, before, limit))
    }

    fn tree_head_of_size(&self, tree_size: u64) -> Result<Option<SignedHead>, StoreError> {
        self.with(|db| tree::head_of_size(&db.begin_read()?, tree_size))
    }
}

/// Every redb failure means the same thing to callers: storage is unavailable right now.
macro_rules! unavailable_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(err: $error) -> Self {
                StoreError::Unavailable(err.to_string())
            }
        }
    )*};
}

impl From<redb::DatabaseError> for StoreError {
    fn from(err: redb::DatabaseError) -> Self {
        match err {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

unavailable_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SavepointError
);
