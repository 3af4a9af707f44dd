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
//! - **Commits are paired.** The log commits first, then the views, while readers are held
//!   off: a reader never pairs a timeline with a log older than it.
//! - **Durable commits carry an epoch.** Every commit that syncs (checkpoints and
//!   maintenance) writes a fresh random epoch into both files. After a crash each file comes
//!   back at its last durable commit; if the two epochs differ, the crash fell between the
//!   two syncs, and the views are rebuilt.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use redb::{
    Database, Durability, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, Table,
    TableDefinition, TableError, TableHandle, UntypedTableHandle, Value, WriteTransaction,
};

use super::tables::META;
use crate::store::StoreError;

/// The views file's own record of which durable commit of the log it matches.
pub const VIEWS_META: TableDefinition<&str, &[u8]> = TableDefinition::new("views_meta");
/// The `meta` row (in both files) naming the last durable commit: 16 random bytes.
pub const EPOCH: &str = "epoch";

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
}

impl Files {
    pub fn new(log: Database, views: Database) -> Files {
        Files {
            log,
            views,
            pairing: RwLock::new(()),
        }
    }

    /// A write transaction on both files (the log's first, always, so two writers never wait
    /// on each other crosswise). Durable unless told otherwise.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>, StoreError> {
        Ok(WriteTxn {
            log: self.log.begin_write()?,
            views: self.views.begin_write()?,
            durable: true,
            pairing: &self.pairing,
        })
    }

    /// A snapshot of both files, taken while no commit is between its two halves.
    pub fn begin_read(&self) -> Result<ReadTxn, StoreError> {
        let _paired = self.pairing.read().unwrap_or_else(PoisonError::into_inner);
        Ok(ReadTxn {
            log: self.log.begin_read()?,
            views: self.views.begin_read()?,
        })
    }
}

/// One transaction on both files.
pub struct WriteTxn<'a> {
    log: WriteTransaction,
    views: WriteTransaction,
    durable: bool,
    pairing: &'a RwLock<()>,
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
    }

    /// Commits the log, then the views. A durable commit first stamps both with a new epoch.
    pub fn commit(self) -> Result<(), StoreError> {
        if self.durable {
            let epoch = new_epoch()?;
            self.log.open_table(META)?.insert(EPOCH, epoch.as_slice())?;
            self.views
                .open_table(VIEWS_META)?
                .insert(EPOCH, epoch.as_slice())?;
        }
        let _paired = self.pairing.write().unwrap_or_else(PoisonError::into_inner);
        self.log.commit()?;
        self.views.commit()?;
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

    /// Whether the views are the ones the log's last durable commit was made with.
    pub fn views_match(&self) -> Result<bool, StoreError> {
        Ok(epoch_of(&self.log.open_table(META))? == epoch_of(&self.views.open_table(VIEWS_META))?)
    }
}

/// The epoch a file's meta table records; `None` when it records none (or has no such table).
pub fn epoch_of<T: redb::ReadableTable<&'static str, &'static [u8]>>(
    table: &Result<T, TableError>,
) -> Result<Option<Vec<u8>>, StoreError> {
    match table {
        Ok(table) => Ok(table.get(EPOCH)?.map(|raw| raw.value().to_vec())),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(err) => Err(StoreError::Unavailable(err.to_string())),
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

    fn epochs(files: &Files) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let log = files.log.begin_read().unwrap();
        let views = files.views.begin_read().unwrap();
        (
            epoch_of(&log.open_table(META)).unwrap(),
            epoch_of(&views.open_table(VIEWS_META)).unwrap(),
        )
    }

    #[test]
    fn durable_commits_stamp_both_files_with_one_new_epoch_and_unsynced_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| Database::create(dir.path().join(name)).unwrap();
        let files = Files::new(open("log.redb"), open("log.views.redb"));
        assert_eq!(epochs(&files), (None, None));
        assert!(files.begin_read().unwrap().views_match().unwrap());

        files.begin_write().unwrap().commit().unwrap();
        let (log, views) = epochs(&files);
        assert!(log.is_some());
        assert_eq!(log, views);

        let mut unsynced = files.begin_write().unwrap();
        unsynced.set_durability(Durability::None).unwrap();
        unsynced.commit().unwrap();
        assert_eq!(epochs(&files), (log.clone(), views));

        files.begin_write().unwrap().commit().unwrap();
        let (again, _) = epochs(&files);
        assert_ne!(again, log, "every durable commit has an epoch of its own");
        assert!(files.begin_read().unwrap().views_match().unwrap());

        // One file moved on without the other: the views are not the log's.
        let txn = files.log.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(EPOCH, [7u8; 16].as_slice())
            .unwrap();
        txn.commit().unwrap();
        assert!(!files.begin_read().unwrap().views_match().unwrap());
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
