//! The store's two files: the log, and the views beside it.
//!
//! The log file (`hooktrail.redb`) holds what only intake can write: deliveries, bodies, the
//! entries they produced, dedup keys, the chain and the Merkle tree, signed heads, sessions,
//! tallies and alerts. The views file (`hooktrail.views.redb`) holds what the projection rules
//! build from it: timelines, changes, the index by time, links, pending links, unmatched
//! entries and email roll-ups ([`VIEW_TABLES`]). A views file that is lost, corrupt, or from
//! another point of the log's history is rebuilt from the log when the store opens
//! (see [`super::views`]).
//!
//! One transaction of the store is a transaction on each file ([`WriteTxn`], [`ReadTxn`]):
//! a table opens in the file that holds it, so the code above sees one set of tables.
//! - **Commits are paired.** The views commit first, then the log, while readers are held
//!   off: a reader never pairs a timeline with a log older or newer than it.
//! - **The views record which log they are the views of** ([`Stamp`]): the log's head at
//!   every commit, and an epoch, fresh and random at every durable commit, that the log
//!   records too. They differ when one file kept commits the other lost (a crash between the
//!   two syncs of a checkpoint; a clean close of one file while the other had failed, since
//!   closing a redb file cleanly makes its unsynced commits durable), when the views file
//!   was replaced, or comes from another store. Then the views are rolled back (below) or,
//!   failing that, rebuilt.
//! - **A match is carried forward, never made.** A commit stamps the views only if they
//!   matched the log when it began; only a rebuild ([`WriteTxn::rebuilds_views`]) stamps
//!   views that did not. So stale views stay stale, through any commit, until rebuilt.
//! - **The views keep the log's last durable state** as a redb persistent savepoint, taken
//!   after every durable commit. The views sync first, so a crash between the two syncs of a
//!   checkpoint leaves views one commit *ahead* of the log, never behind it: rolling them back
//!   to that savepoint ([`Files::roll_back_views`]) makes them the log's again, and the
//!   journal's replay then redoes both. Recovery from that crash costs the journal, not a
//!   rebuild of the views from the whole log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use redb::{
    Database, Durability, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    Table, TableDefinition, TableError, TableHandle, UntypedTableHandle, Value, WriteTransaction,
};

use super::tables::{CHAIN_HEAD, CHECKPOINT, META};
use crate::store::StoreError;

/// The views file's own record of which state of the log it holds.
pub const VIEWS_META: TableDefinition<&str, &[u8]> = TableDefinition::new("views_meta");
/// The `meta` row (in both files) naming the last durable commit: 16 random bytes.
pub const EPOCH: &str = "epoch";
/// The `views_meta` row holding the log's head seq (8 bytes, big-endian) the views hold.
pub const LOG_HEAD: &str = "log_head";

/// The tables the views file holds; every other table is the log's.
pub const VIEW_TABLES: [&str; 8] = [
    "subject_timelines",
    "subject_changes",
    "entries_by_time",
    "links",
    "pending_links",
    "unmatched_entries",
    "email_status",
    "views_meta",
];

/// Whether the table named `name` lives in the views file.
pub fn is_view(name: &str) -> bool {
    VIEW_TABLES.contains(&name)
}

/// The views file beside the log file at `path`: `hooktrail.redb` → `hooktrail.views.redb`.
pub fn views_path_for(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(extension) => format!("{stem}.views.{}", extension.to_string_lossy()),
        None => format!("{stem}.views"),
    };
    path.with_file_name(name)
}

/// Both files, open for writing.
pub struct Files {
    pub log: Database,
    pub views: Database,
    /// Taken for writing around a commit's two halves, and for reading around a reader's two
    /// `begin_read`s.
    pairing: RwLock<()>,
    /// Whether the views are the log's: read from both files when they open, then kept by the
    /// commits (only through them can it change while the files are open), so a batch's
    /// transaction need not read both stamps again.
    in_step: AtomicBool,
    /// The views took a commit whose log half then failed: they are ahead of the log, so
    /// nothing may read or write through these handles until they are reopened (which rolls
    /// the views back).
    torn: AtomicBool,
    /// How many durable commits these handles made: each made every commit before it durable.
    durable_commits: AtomicU64,
    /// Tests set it to fail the log's half of every commit, as a crash between the two files'
    /// syncs, or a log whose sync failed, leaves them.
    #[cfg(test)]
    pub failing_log: AtomicBool,
}

impl Files {
    pub fn new(log: Database, views: Database) -> Result<Files, StoreError> {
        let files = Files {
            log,
            views,
            pairing: RwLock::new(()),
            in_step: AtomicBool::new(false),
            torn: AtomicBool::new(false),
            durable_commits: AtomicU64::new(0),
            #[cfg(test)]
            failing_log: AtomicBool::new(false),
        };
        let in_step = files.begin_read()?.views_match()?;
        files.in_step.store(in_step, Ordering::Release);
        if in_step {
            // The savepoint a crash in this session's first durable commit would need: the
            // last session may have stopped before keeping one of this state.
            keep_savepoint(files.views.begin_write()?, true)?;
        }
        Ok(files)
    }

    /// Refuses work through handles whose views are ahead of their log (see `torn`).
    fn usable(&self) -> Result<(), StoreError> {
        if self.torn.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the views took a commit the log did not; reopening the store".into(),
            ));
        }
        Ok(())
    }

    /// How many durable commits went through these handles (see `durable_commits`).
    pub fn durable_commits(&self) -> u64 {
        self.durable_commits.load(Ordering::Acquire)
    }

    /// Whether the views are the log's, as the files stood when opened and every commit since
    /// left them (see [`Stamp`]).
    pub fn in_step(&self) -> bool {
        self.in_step.load(Ordering::Acquire)
    }

    /// A write transaction on both files (the log's first, always, so two writers never wait
    /// on each other crosswise). Durable unless told otherwise.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>, StoreError> {
        self.usable()?;
        Ok(WriteTxn {
            log: self.log.begin_write()?,
            views: self.views.begin_write()?,
            durable: true,
            quick_repair: false,
            stamps_views: self.in_step(),
            files: self,
        })
    }

    /// A snapshot of both files, taken while no commit is between its two halves.
    pub fn begin_read(&self) -> Result<ReadTxn, StoreError> {
        let _paired = self.pairing.read().unwrap_or_else(PoisonError::into_inner);
        self.usable()?;
        let views = self.views.begin_read()?;
        let log = self.log.begin_read()?;
        Ok(ReadTxn { log, views })
    }

    /// Rolls views that are not the log's back to the newest of their savepoints that is: views
    /// one durable commit ahead of the log (a crash between the two syncs of a checkpoint, or
    /// a log whose commit failed after the views' succeeded). Whether they are the log's now;
    /// if not, only a rebuild can make them so.
    pub fn roll_back_views(&self) -> Result<bool, StoreError> {
        let log = Stamp::of_log(&self.log.begin_read()?.open_table(META))?;
        let listing = self.views.begin_write()?;
        let savepoints: Vec<u64> = listing.list_persistent_savepoints()?.collect();
        listing.abort()?;
        for id in savepoints.into_iter().rev() {
            let mut txn = self.views.begin_write()?;
            let savepoint = txn.get_persistent_savepoint(id)?;
            txn.restore_savepoint(&savepoint)?;
            drop(savepoint);
            let restored = Stamp::of_views(&txn.open_table(VIEWS_META))?;
            if restored == log {
                txn.set_quick_repair(true);
                txn.commit()?;
                self.in_step.store(true, Ordering::Release);
                return Ok(true);
            }
            txn.abort()?;
        }
        Ok(false)
    }

    /// The log's half of a commit (which tests can make fail: see `failing_log`).
    fn commit_log(&self, log: WriteTransaction) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.failing_log.load(Ordering::SeqCst) {
            log.abort()?;
            return Err(StoreError::Unavailable(
                "simulated failure of the log's commit".into(),
            ));
        }
        Ok(log.commit()?)
    }
}

/// Replaces the views' savepoints with one of the state `txn` began at. Unsynced commits cannot
/// make a persistent savepoint, so this is a durable commit of its own.
fn keep_savepoint(mut txn: WriteTransaction, quick_repair: bool) -> Result<(), StoreError> {
    let kept = txn.persistent_savepoint()?;
    let older: Vec<u64> = txn
        .list_persistent_savepoints()?
        .filter(|id| *id != kept)
        .collect();
    for id in older {
        txn.delete_persistent_savepoint(id)?;
    }
    txn.set_quick_repair(quick_repair);
    txn.commit()?;
    Ok(())
}

/// Stamps views just moved out of an earlier version's single file `log` as that log's, if
/// they are: the file has no epoch, so no version that keeps the views apart ever wrote it (a
/// backup leaves the epoch out too). One with an epoch was written by this version and then
/// opened by an earlier one, which may have changed the log without these views: they stay
/// unstamped, to be rebuilt. Whether they were stamped.
pub fn stamp_moved_views(log: &Database, views: &Database) -> Result<bool, StoreError> {
    let stamp = Stamp::of_log(&log.begin_read()?.open_table(META))?;
    if stamp.epoch.is_some() {
        return Ok(false);
    }
    if let Some(head) = stamp.head {
        let txn = views.begin_write()?;
        txn.open_table(VIEWS_META)?
            .insert(LOG_HEAD, head.as_slice())?;
        txn.commit()?;
    }
    Ok(true)
}

/// Which state of the log a file speaks for: the log's head seq, and the epoch of the last
/// durable commit. The log's own is read from its `meta`; the views' from `views_meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    head: Option<[u8; 8]>,
    epoch: Option<Vec<u8>>,
}

impl Stamp {
    fn of_log<T: ReadableTable<&'static str, &'static [u8]>>(
        meta: &Result<T, TableError>,
    ) -> Result<Stamp, StoreError> {
        Stamp::read(meta, CHAIN_HEAD)
    }

    fn of_views<T: ReadableTable<&'static str, &'static [u8]>>(
        meta: &Result<T, TableError>,
    ) -> Result<Stamp, StoreError> {
        Stamp::read(meta, LOG_HEAD)
    }

    fn read<T: ReadableTable<&'static str, &'static [u8]>>(
        meta: &Result<T, TableError>,
        head_row: &str,
    ) -> Result<Stamp, StoreError> {
        let meta = match meta {
            Ok(meta) => meta,
            Err(TableError::TableDoesNotExist(_)) => {
                return Ok(Stamp {
                    head: None,
                    epoch: None,
                });
            }
            Err(err) => return Err(StoreError::Unavailable(err.to_string())),
        };
        let head = head_seq(meta.get(head_row)?);
        let epoch = meta.get(EPOCH)?.map(|raw| raw.value().to_vec());
        Ok(Stamp { head, epoch })
    }
}

/// The seq a head row begins with: the chain head's first 8 bytes (see
/// `tables::encode_head`), or the views' copy of them.
fn head_seq(row: Option<redb::AccessGuard<'_, &'static [u8]>>) -> Option<[u8; 8]> {
    row.and_then(|raw| raw.value().first_chunk::<8>().copied())
}

/// One transaction on both files.
pub struct WriteTxn<'a> {
    log: WriteTransaction,
    views: WriteTransaction,
    durable: bool,
    quick_repair: bool,
    /// The views matched the log when this began (or this rebuilds them): the commit stamps
    /// them with the log's new state.
    stamps_views: bool,
    files: &'a Files,
}

impl WriteTxn<'_> {
    fn holding(&self, name: &str) -> &WriteTransaction {
        if is_view(name) {
            &self.views
        } else {
            &self.log
        }
    }

    pub fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<Table<'_, K, V>, TableError> {
        self.holding(table.name()).open_table(table)
    }

    pub fn delete_table(&self, table: impl TableHandle) -> Result<bool, TableError> {
        let name = table.name().to_owned();
        self.holding(&name).delete_table(table)
    }

    /// The log file's tables (where an earlier version's tables are found).
    pub fn log_tables(&self) -> Result<impl Iterator<Item = UntypedTableHandle> + '_, StoreError> {
        Ok(self.log.list_tables()?)
    }

    pub fn set_durability(&mut self, durability: Durability) -> Result<(), StoreError> {
        let unavailable = |err: redb::SetDurabilityError| StoreError::Unavailable(err.to_string());
        self.log.set_durability(durability).map_err(unavailable)?;
        self.views.set_durability(durability).map_err(unavailable)?;
        self.durable = !matches!(durability, Durability::None);
        Ok(())
    }

    pub fn set_quick_repair(&mut self, enabled: bool) {
        self.log.set_quick_repair(enabled);
        self.views.set_quick_repair(enabled);
        self.quick_repair = enabled;
    }

    /// This transaction rebuilds the views whole: its commit stamps them as the log's, whatever
    /// they were.
    pub fn rebuilds_views(&mut self) {
        self.stamps_views = true;
    }

    /// Commits the views, then the log. A durable commit first gives the log a new epoch; the
    /// views, if they matched it, get the log's head (at every commit) and that epoch. (Views
    /// in step already hold the log's epoch, so an unsynced commit leaves it.) Once both are
    /// durable, the views keep their new state as their savepoint.
    pub fn commit(self) -> Result<(), StoreError> {
        let epoch = if self.durable {
            Some(new_epoch()?)
        } else {
            None
        };
        {
            let mut meta = self.log.open_table(META)?;
            let head = head_seq(meta.get(CHAIN_HEAD)?);
            if let Some(epoch) = &epoch {
                meta.insert(EPOCH, epoch.as_slice())?;
                // A durable commit holds every delivery up to the head, whoever makes it: it is
                // a checkpoint, and records itself as one.
                let checkpoint = head.map_or(0, u64::from_be_bytes);
                meta.insert(CHECKPOINT, checkpoint.to_le_bytes().as_slice())?;
            }
            if self.stamps_views {
                let mut views_meta = self.views.open_table(VIEWS_META)?;
                match head {
                    Some(head) => views_meta.insert(LOG_HEAD, head.as_slice())?,
                    None => views_meta.remove(LOG_HEAD)?,
                };
                if let Some(epoch) = &epoch {
                    views_meta.insert(EPOCH, epoch.as_slice())?;
                }
            }
        }
        let files = self.files;
        let paired = files
            .pairing
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.views.commit()?;
        // Begun while this transaction still holds the log's writer, so no other commit comes
        // between the views' state it keeps and the log's.
        // (Views that are not the log's are not worth keeping: see `Files::roll_back_views`.)
        let keeping = (self.durable && self.stamps_views).then(|| files.views.begin_write());
        if let Err(err) = files.commit_log(self.log) {
            // The views are ahead of the log now: unreadable here (before readers are let in
            // again), and rolled back by the reopen this error leads to.
            files.in_step.store(false, Ordering::Release);
            files.torn.store(true, Ordering::Release);
            return Err(err);
        }
        // The log moved on: the views are in step only if they took the same commit, stamped.
        files.in_step.store(self.stamps_views, Ordering::Release);
        if self.durable {
            files.durable_commits.fetch_add(1, Ordering::AcqRel);
        }
        drop(paired);
        if let Some(keeping) = keeping {
            let kept = keeping
                .map_err(StoreError::from)
                .and_then(|txn| keep_savepoint(txn, self.quick_repair));
            if let Err(err) = kept {
                // Both files are durable. Only a crash in the next durable commit's gap would
                // need this savepoint; the views would then be rebuilt from the log instead.
                tracing::warn!(error = %err, "the views could not keep a savepoint of this commit");
            }
        }
        Ok(())
    }

    pub fn abort(self) -> Result<(), StoreError> {
        self.views.abort()?;
        self.log.abort()?;
        Ok(())
    }
}

/// One snapshot of both files (or of one file holding every table: a backup).
pub struct ReadTxn {
    log: ReadTransaction,
    views: ReadTransaction,
}

impl ReadTxn {
    /// The snapshot of a backup, whose one file holds the log and the views.
    pub fn of_one_file(db: &impl ReadableDatabase) -> Result<ReadTxn, StoreError> {
        Ok(ReadTxn {
            log: db.begin_read()?,
            views: db.begin_read()?,
        })
    }

    /// Snapshots of two files no writer has open (they cannot change between the two).
    pub fn of_files(
        log: &impl ReadableDatabase,
        views: &impl ReadableDatabase,
    ) -> Result<ReadTxn, StoreError> {
        Ok(ReadTxn {
            log: log.begin_read()?,
            views: views.begin_read()?,
        })
    }

    pub fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, TableError> {
        let holding = if is_view(table.name()) {
            &self.views
        } else {
            &self.log
        };
        holding.open_table(table)
    }

    /// The log file's tables (where an earlier version's tables are found).
    pub fn log_tables(&self) -> Result<impl Iterator<Item = UntypedTableHandle>, StoreError> {
        Ok(self.log.list_tables()?)
    }

    /// Whether the log file still holds view tables: an earlier version's single file (or a
    /// backup, which has that shape).
    pub fn log_holds_views(&self) -> Result<bool, StoreError> {
        Ok(self.log_tables()?.any(|table| is_view(table.name())))
    }

    /// Whether the views are the log's (see [`Stamp`]).
    pub fn views_match(&self) -> Result<bool, StoreError> {
        Ok(Stamp::of_log(&self.log.open_table(META))?
            == Stamp::of_views(&self.views.open_table(VIEWS_META))?)
    }
}

fn new_epoch() -> Result<[u8; 16], StoreError> {
    let mut epoch = [0u8; 16];
    getrandom::fill(&mut epoch)
        .map_err(|err| StoreError::Unavailable(format!("no randomness for an epoch: {err}")))?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_views_file_sits_beside_the_log() {
        assert_eq!(
            views_path_for(Path::new("data/hooktrail.redb")),
            Path::new("data/hooktrail.views.redb")
        );
        assert_eq!(views_path_for(Path::new("store")), Path::new("store.views"));
    }

    /// Whether the views are the log's, as the files say; the open files' own account agrees.
    fn matching(files: &Files) -> bool {
        let on_disk = files.begin_read().unwrap().views_match().unwrap();
        assert_eq!(files.in_step(), on_disk, "the kept state follows the files");
        on_disk
    }

    /// A commit of the pair whose log moves on to delivery `seq`.
    fn commit_head(files: &Files, seq: u64, durability: Durability) {
        try_commit_head(files, seq, durability).unwrap();
    }

    fn try_commit_head(files: &Files, seq: u64, durability: Durability) -> Result<(), StoreError> {
        let mut txn = files.begin_write()?;
        txn.set_durability(durability)?;
        txn.open_table(META)?
            .insert(CHAIN_HEAD, seq.to_be_bytes().as_slice())?;
        txn.commit()
    }

    /// A commit of the log file alone, behind the views' back, moving it to delivery `seq`.
    fn commit_log_alone(files: &Files, seq: u64) {
        let txn = files.log.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(CHAIN_HEAD, seq.to_be_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }

    /// The two files in a folder of their own, opened again as a restart opens them.
    struct Folder(tempfile::TempDir);

    impl Folder {
        fn new() -> Folder {
            Folder(tempfile::tempdir().unwrap())
        }

        fn reopen(&self, files: Option<Files>) -> Files {
            drop(files);
            let open = |name: &str| Database::create(self.0.path().join(name)).unwrap();
            Files::new(open("log.redb"), open("log.views.redb")).unwrap()
        }
    }

    /// The log head the views say they hold.
    fn views_head(files: &Files) -> Option<u64> {
        let txn = files.views.begin_read().unwrap();
        let meta = txn.open_table(VIEWS_META).unwrap();
        let head = meta.get(LOG_HEAD).unwrap();
        head.map(|raw| u64::from_be_bytes(raw.value().try_into().unwrap()))
    }

    fn savepoints(files: &Files) -> usize {
        let txn = files.views.begin_write().unwrap();
        let count = txn.list_persistent_savepoints().unwrap().count();
        txn.abort().unwrap();
        count
    }

    #[test]
    fn the_views_follow_the_log_and_a_mismatch_lasts_until_a_rebuild() {
        let folder = Folder::new();
        let files = folder.reopen(None);
        assert!(matching(&files), "a new store");
        commit_head(&files, 1, Durability::Immediate);
        commit_head(&files, 2, Durability::None);
        assert!(matching(&files));

        // The log kept a commit the views lost (one file closed cleanly, the other failed), as
        // the next open finds them.
        commit_log_alone(&files, 3);
        let files = folder.reopen(Some(files));
        assert!(!matching(&files));
        // No commit makes stale views the log's again, durable or not...
        commit_head(&files, 4, Durability::None);
        commit_head(&files, 5, Durability::Immediate);
        assert!(!matching(&files));
        // ...but one that rebuilds them.
        let mut txn = files.begin_write().unwrap();
        txn.rebuilds_views();
        txn.commit().unwrap();
        assert!(matching(&files));

        // A durable commit of the views alone (the log's sync failed): a new epoch apart.
        let views_epoch = |files: &Files| {
            let txn = files.views.begin_read().unwrap();
            let meta = txn.open_table(VIEWS_META).unwrap();
            meta.get(EPOCH).unwrap().map(|raw| raw.value().to_vec())
        };
        let before = views_epoch(&files);
        commit_head(&files, 6, Durability::Immediate);
        assert_ne!(
            views_epoch(&files),
            before,
            "every durable commit has an epoch of its own"
        );
        let txn = files.views.begin_write().unwrap();
        txn.open_table(VIEWS_META)
            .unwrap()
            .insert(EPOCH, [7u8; 16].as_slice())
            .unwrap();
        txn.commit().unwrap();
        let files = folder.reopen(Some(files));
        assert!(!matching(&files));
    }

    #[test]
    fn views_ahead_of_the_log_roll_back_to_its_last_durable_state_and_views_behind_it_cannot() {
        let folder = Folder::new();
        let files = folder.reopen(None);
        commit_head(&files, 1, Durability::Immediate);
        commit_head(&files, 2, Durability::None);
        commit_head(&files, 3, Durability::Immediate);
        assert_eq!(
            savepoints(&files),
            1,
            "one savepoint, of the last durable commit"
        );

        // The views of the next durable commit are synced; the log's half fails (as a crash
        // between the two syncs leaves them).
        files.failing_log.store(true, Ordering::SeqCst);
        assert!(try_commit_head(&files, 4, Durability::Immediate).is_err());
        // Views ahead of the log are read by no one until the files are reopened.
        assert!(files.begin_read().is_err());
        assert!(files.begin_write().is_err());
        let files = folder.reopen(Some(files));
        assert!(!matching(&files));
        assert_eq!(views_head(&files), Some(4));
        assert!(files.roll_back_views().unwrap());
        assert!(matching(&files));
        assert_eq!(views_head(&files), Some(3));
        // They follow the log again from there.
        commit_head(&files, 4, Durability::Immediate);
        let files = folder.reopen(Some(files));
        assert!(matching(&files));
        assert_eq!(views_head(&files), Some(4));

        // A session that stopped before keeping a savepoint of its last state: opening the
        // files keeps one, so a crash in the next session's first durable commit rolls back.
        let txn = files.views.begin_write().unwrap();
        let kept: Vec<u64> = txn.list_persistent_savepoints().unwrap().collect();
        for id in kept {
            txn.delete_persistent_savepoint(id).unwrap();
        }
        txn.commit().unwrap();
        let files = folder.reopen(Some(files));
        assert_eq!(savepoints(&files), 1);
        files.failing_log.store(true, Ordering::SeqCst);
        assert!(try_commit_head(&files, 5, Durability::Immediate).is_err());
        let files = folder.reopen(Some(files));
        assert!(files.roll_back_views().unwrap());
        assert_eq!(views_head(&files), Some(4));

        // Views behind the log (it kept a commit they lost) have nothing to roll back to.
        commit_log_alone(&files, 5);
        let files = folder.reopen(Some(files));
        assert!(!files.roll_back_views().unwrap());
        assert!(!matching(&files));
        assert_eq!(
            views_head(&files),
            Some(4),
            "left as they were, for a rebuild"
        );
    }

    #[test]
    fn every_view_table_is_routed_to_the_views_file() {
        use super::super::tables::*;
        let views = [
            TIMELINES.name(),
            CHANGES.name(),
            BY_TIME.name(),
            LINKS.name(),
            PENDING_LINKS.name(),
            UNMATCHED.name(),
            EMAIL_STATUS.name(),
            VIEWS_META.name(),
        ];
        assert_eq!(views, VIEW_TABLES);
        let log = [
            DELIVERIES.name(),
            BODIES.name(),
            ENTRIES.name(),
            DEDUP.name(),
            FLAGGED.name(),
            META.name(),
            SUBTREES.name(),
        ];
        for name in log {
            assert!(!is_view(name), "{name}");
        }
    }
}
