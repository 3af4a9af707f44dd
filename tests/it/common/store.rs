//! Stores for fault tests: one that holds its first commit (to fill the queue), one that holds
//! its first backup (to ask for another meanwhile), one that fails commits (as on a full disk).
//! Each wraps the write side of a real redb store, and leaves the rest alone. One more fails
//! reads of the change feed (as when a database is briefly out of reach).
#![allow(dead_code)]

use hooktrail::store::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use hooktrail::activity::redact::ErasureTarget;
use hooktrail::activity::{Entry, EntryId, Subject};
use hooktrail::store::project::ChainHead;
use hooktrail::store::redb::RedbStore;
use hooktrail::store::{
    Appended, BackupReport, Capture, ChainReport, Change, ChangeCursor, Cursor, ErasureReport,
    Feed, LaneCounts, Page, PageQuery, ReindexReport, Rereader, Revocation, Storage, StoreError,
    StoredDelivery,
};
use hooktrail::trust::heads::SignedHead;

/// A store whose write side can be held shut (to fill the queue) or made to fail (to break
/// commits). Reads and the change feed go to the real store untouched.
pub struct ControlledStore {
    inner: Arc<RedbStore>,
    commit_hold: std::sync::Mutex<Option<Hold>>,
    backup_hold: std::sync::Mutex<Option<Hold>>,
    pub failing: AtomicBool,
}

impl ControlledStore {
    /// The storage a gateway is started with: the real store, this around its write side.
    pub fn storage(self: &Arc<Self>) -> Storage {
        let controlled = self.clone();
        Storage::new(self.inner.clone()).wrap_write_side(|_| controlled)
    }
}

/// Where a held operation says it has been entered, and the gate it then waits for.
type Hold = (mpsc::Sender<()>, mpsc::Receiver<()>);

/// Which operation a gated store holds: its first commit or its first backup.
enum Held {
    Commit,
    Backup,
}

/// Waits at the gate if this operation is the held one.
fn pass(hold: &std::sync::Mutex<Option<Hold>>) {
    if let Some((entered, gate)) = hold.lock().unwrap().take() {
        // Nobody listens when a test does not need to know.
        let _ = entered.send(());
        // Released when the gate opens, or when a failing test drops it.
        let _ = gate.recv();
    }
}

impl WriteSide for ControlledStore {
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
        pass(&self.commit_hold);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated disk failure".into()));
        }
        self.inner.append(batch)
    }
    fn after_batch(&self) -> Result<(), StoreError> {
        self.inner.after_batch()
    }
    fn journals(&self) -> bool {
        self.inner.journals()
    }
    fn index_for_search(&self) -> Result<hooktrail::search::Indexing, StoreError> {
        self.inner.index_for_search()
    }
    fn add_to_tally(&self, batch: &hooktrail::store::TallyBatch) -> Result<(), StoreError> {
        self.inner.add_to_tally(batch)
    }
    fn swap_alert(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &hooktrail::store::AlertRecord,
    ) -> Result<bool, StoreError> {
        self.inner.swap_alert(name, expected, record)
    }
    fn add_tree_head(&self, head: &SignedHead) -> Result<bool, StoreError> {
        self.inner.add_tree_head(head)
    }
    fn renormalize(
        &self,
        seqs: &[u64],
        reread: &Rereader<'_>,
        request: &hooktrail::store::project::RenormalizeRequest,
    ) -> Result<hooktrail::store::RenormalizeReport, StoreError> {
        self.inner.renormalize(seqs, reread, request)
    }
    fn reindex(&self, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
        self.inner.reindex(reread)
    }
    fn prune_bodies(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        self.inner.prune_bodies(cutoff)
    }
    fn erase(
        &self,
        target: &ErasureTarget,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ErasureReport, StoreError> {
        self.inner.erase(target, now)
    }
    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError> {
        pass(&self.backup_hold);
        self.inner.backup(target)
    }
    fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }
    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.inner.revoke_sessions(revocation, now)
    }
}

/// A store whose first commit waits for the gate: the receiver hears when it is held, the
/// sender opens it.
pub fn controlled(
    dir: &tempfile::TempDir,
) -> (Arc<ControlledStore>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    gated(dir, Held::Commit)
}

/// A store whose first backup waits for the gate: the receiver hears when it is held (the
/// backup file exists, nothing is copied yet), the sender opens it.
pub fn holding_backup(
    dir: &tempfile::TempDir,
) -> (Arc<ControlledStore>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    gated(dir, Held::Backup)
}

fn gated(
    dir: &tempfile::TempDir,
    held: Held,
) -> (Arc<ControlledStore>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel();
    let hold = Some((entered_tx, gate_rx));
    let (commit_hold, backup_hold) = match held {
        Held::Commit => (hold, None),
        Held::Backup => (None, hold),
    };
    let store = Arc::new(ControlledStore {
        inner: Arc::new(RedbStore::open(&dir.path().join("controlled.redb")).unwrap()),
        commit_hold: std::sync::Mutex::new(commit_hold),
        backup_hold: std::sync::Mutex::new(backup_hold),
        failing: AtomicBool::new(false),
    });
    (store, entered_rx, gate_tx)
}

/// A store whose commits fail until `failing` is cleared, as on an I/O error.
pub fn failing(dir: &tempfile::TempDir) -> Arc<ControlledStore> {
    Arc::new(ControlledStore {
        inner: Arc::new(RedbStore::open(&dir.path().join("failing.redb")).unwrap()),
        commit_hold: std::sync::Mutex::new(None),
        backup_hold: std::sync::Mutex::new(None),
        failing: AtomicBool::new(true),
    })
}

/// A store whose reads of changes fail while `failing` is set; every other read, and the
/// writes, go to the real store.
pub struct FlakyChanges {
    inner: Arc<RedbStore>,
    pub failing: AtomicBool,
}

impl FlakyChanges {
    pub fn open(dir: &tempfile::TempDir) -> Arc<FlakyChanges> {
        Arc::new(FlakyChanges {
            inner: Arc::new(RedbStore::open(&dir.path().join("flaky.redb")).unwrap()),
            failing: AtomicBool::new(false),
        })
    }

    /// The storage a gateway is started with: the real store, this around its read side.
    pub fn storage(self: &Arc<Self>) -> Storage {
        let flaky = self.clone();
        Storage::new(self.inner.clone()).wrap_read_side(|_| flaky)
    }
}

impl ReadSide for FlakyChanges {
    fn changes(
        &self,
        feed: Feed<'_>,
        after: ChangeCursor,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated lost connection".into()));
        }
        self.inner.changes(feed, after, limit)
    }
    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError> {
        self.inner.subject_entries(subject, query)
    }
    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        self.inner.entry(id)
    }
    fn search(
        &self,
        request: &hooktrail::search::SearchRequest,
    ) -> Result<hooktrail::search::SearchHits, StoreError> {
        self.inner.search(request)
    }
    fn latest_change(&self, feed: Feed<'_>) -> Result<ChangeCursor, StoreError> {
        self.inner.latest_change(feed)
    }
    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError> {
        self.inner.subject_origin(subject)
    }
    fn lane_counts(&self, subject: &Subject) -> Result<LaneCounts, StoreError> {
        self.inner.lane_counts(subject)
    }
    fn recent(&self, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError> {
        self.inner.recent(limit, before)
    }
    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError> {
        self.inner.unmatched(limit, before)
    }
    fn unmatched_count(&self) -> Result<u64, StoreError> {
        self.inner.unmatched_count()
    }
    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError> {
        self.inner.delivery(seq)
    }
    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.inner.deliveries(from, limit)
    }
    fn delivery_records(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError> {
        self.inner.delivery_records(from, limit)
    }
    fn deliveries_before(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        self.inner.deliveries_before(before, limit)
    }
    fn tally(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<hooktrail::store::Tally, StoreError> {
        self.inner.tally(since)
    }
    fn alerts(&self) -> Result<Vec<hooktrail::store::StoredAlert>, StoreError> {
        self.inner.alerts()
    }
    fn chain_head(&self) -> Result<ChainHead, StoreError> {
        self.inner.chain_head()
    }
    fn subtree(&self, height: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.inner.subtree(height, index)
    }
    fn tree_heads(&self, before: Option<u64>, limit: usize) -> Result<Vec<SignedHead>, StoreError> {
        self.inner.tree_heads(before, limit)
    }
    fn tree_head_of_size(&self, tree_size: u64) -> Result<Option<SignedHead>, StoreError> {
        self.inner.tree_head_of_size(tree_size)
    }
    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.inner.verify_chain()
    }
    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.inner.export(subject, sink)
    }
    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner.export_page(subject, after, limit)
    }
    fn revocations(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.inner.revocations(now)
    }
}
