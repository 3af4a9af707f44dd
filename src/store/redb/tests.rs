//! What only the embedded backend has: its file, its record layout and its earlier layouts. (The
//! storage contract every backend passes is in [`crate::store::contract`].)

use redb::ReadableTable;

use super::records::{decode_delivery, encode_delivery};
use super::tables::DELIVERIES;
use super::{RedbSnapshot, RedbStore};
use crate::activity::{Category, Subject};
use crate::store::contract::support::*;
use crate::store::prelude::*;
use crate::store::{Appended, Capture, ChainReport, PageQuery};

/// Turns the store at `path` into one file that holds the log and the views together, as an
/// earlier version wrote it (a backup has that shape).
fn as_one_file(store: RedbStore, path: &std::path::Path) {
    let one = path.with_extension("one");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&one)
        .unwrap();
    store.backup(file).unwrap();
    drop(store);
    std::fs::remove_file(super::files::views_path_for(path)).unwrap();
    std::fs::remove_file(super::journal::path_for(path)).unwrap();
    std::fs::rename(&one, path).unwrap();
}

/// Three deliveries on job:1, seqs 1 to 3, in a file the test may alter.
fn store_with_three_deliveries() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("test.redb")).unwrap();
    let batch = [
        single("a", "job:1", 1),
        single("b", "job:1", 2),
        single("c", "job:1", 3),
    ];
    store.append(&batch).unwrap();
    (dir, store)
}

/// Three deliveries on job:1, seqs 1 to 3.

#[test]
fn verify_names_the_first_altered_delivery() {
    let (_dir, store) = store_with_three_deliveries();
    store.raw(|db| {
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(DELIVERIES).unwrap();
            let raw = table.get(2).unwrap().unwrap().value().to_vec();
            let mut delivery = decode_delivery(&raw).unwrap();
            delivery.source = "forged".into();
            table
                .insert(2, encode_delivery(&delivery).unwrap().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    });
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Broken { seq: 2, .. }
    ));
}

#[test]
fn delivery_rows_written_as_json_by_earlier_versions_still_verify_and_read() {
    let (_dir, store) = store_with_three_deliveries();
    let before = store.deliveries(1, 10).unwrap();
    store.raw(|db| {
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(DELIVERIES).unwrap();
            for seq in [1, 3] {
                let raw = table.get(seq).unwrap().unwrap().value().to_vec();
                let json = crate::store::to_json(&decode_delivery(&raw).unwrap()).unwrap();
                assert_eq!(json[0], b'{');
                table.insert(seq, json.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    });
    assert_eq!(store.deliveries(1, 10).unwrap(), before);
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 3, .. }
    ));
}

#[test]
fn verify_notices_a_removed_delivery() {
    let (_dir, store) = store_with_three_deliveries();
    store.raw(|db| {
        let txn = db.begin_write().unwrap();
        txn.open_table(DELIVERIES).unwrap().remove(2).unwrap();
        txn.commit().unwrap();
    });
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Broken { seq: 2, .. }
    ));
}

#[test]
fn the_file_reopens_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        store.append(&[single("a", "job:1", 1)]).unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 1);
    assert_eq!(
        store.append(&[single("b", "job:1", 2)]).unwrap(),
        vec![Appended::Stored {
            seq: 2,
            entries: 1,
            unmatched: 0
        }]
    );
}

/// Writes a timeline, lets `rewrite` turn the file into an earlier layout, and checks that
/// read-only access refuses it until a writer has opened it, after which every page (whole and
/// filtered, with its cursor) reads as before.
fn reads_the_same_after_upgrading(rewrite: impl FnOnce(&redb::WriteTransaction)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let queries = || {
        [None, Some(Category::Accounting), Some(Category::Workflow)].map(|category| PageQuery {
            callbacks: true,
            limit: 4,
            before: None,
            category,
        })
    };
    let before: Vec<_> = {
        let store = RedbStore::open(&path).unwrap();
        let batch: Vec<Capture> = (0..9)
            .map(|i| {
                let category = [Category::Workflow, Category::Accounting][i % 2];
                let entry = entry("job:5", category, i as i64, None);
                capture(Some(&format!("o{i}")), vec![entry])
            })
            .collect();
        store.append(&batch).unwrap();
        let pages = queries()
            .into_iter()
            .map(|query| page(&store, "job:5", query))
            .collect();
        as_one_file(store, &path);
        pages
    };
    {
        let db = redb::Database::builder().create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        rewrite(&txn);
        txn.open_table(super::tables::META)
            .unwrap()
            .remove(super::migrate::LAYOUT)
            .unwrap();
        txn.commit().unwrap();
    }
    // Read-only access cannot upgrade the file: it refuses, rather than misread the timelines.
    let refused = RedbSnapshot::open(&path).err().unwrap();
    assert!(refused.to_string().contains("earlier version"), "{refused}");
    let store = RedbStore::open(&path).unwrap();
    for (query, expected) in queries().into_iter().zip(before) {
        let after = page(&store, "job:5", query);
        let ids = |p: &crate::store::Page| p.entries.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&after), ids(&expected));
        assert_eq!(after.next, expected.next);
        assert!(!after.entries.is_empty());
    }
    drop(store);
    let snapshot = RedbSnapshot::open(&path).unwrap();
    let job: Subject = "job:5".parse().unwrap();
    assert_eq!(snapshot.count(Some(&job)).unwrap(), 9);
    drop(snapshot);
    // One row per entry, each in its category's lane, in the views file.
    let db = redb::Database::builder()
        .create(super::files::views_path_for(&path))
        .unwrap();
    let txn = db.begin_write().unwrap();
    let timelines = txn.open_table(super::tables::TIMELINES).unwrap();
    let lanes: Vec<u8> = timelines
        .iter()
        .unwrap()
        .map(|row| row.unwrap().0.value().1)
        .collect();
    assert_eq!(lanes.len(), 9);
    assert!(!lanes.contains(&0), "{lanes:?}");
}

#[test]
fn a_file_with_the_oldest_timeline_tables_reads_the_same_after_opening() {
    use super::migrate::{OLD_CATEGORY_TIMELINE, OLD_TIMELINE};
    use super::tables::TIMELINES;
    // Two tables: every entry, and by category.
    reads_the_same_after_upgrading(|txn| {
        {
            let timelines = txn.open_table(TIMELINES).unwrap();
            let mut every = txn.open_table(OLD_TIMELINE).unwrap();
            let mut by_category = txn.open_table(OLD_CATEGORY_TIMELINE).unwrap();
            for row in timelines.iter().unwrap() {
                let (key, _) = row.unwrap();
                let (subject, lane, occurred, id) = key.value();
                every.insert((subject, occurred, id), ()).unwrap();
                by_category
                    .insert((subject, lane - 1, occurred, id), ())
                    .unwrap();
            }
        }
        txn.delete_table(TIMELINES).unwrap();
    });
}

#[test]
fn a_file_with_a_lane_of_every_entry_reads_the_same_after_opening() {
    use super::tables::TIMELINES;
    // One table of lanes, lane 0 holding every entry besides its category's lane.
    reads_the_same_after_upgrading(|txn| {
        let mut timelines = txn.open_table(TIMELINES).unwrap();
        let rows: Vec<(String, i64, u128)> = timelines
            .iter()
            .unwrap()
            .map(|row| {
                let (key, _) = row.unwrap();
                let (subject, _, occurred, id) = key.value();
                (subject.to_owned(), occurred, id)
            })
            .collect();
        for (subject, occurred, id) in rows {
            timelines
                .insert((subject.as_str(), 0, occurred, id), ())
                .unwrap();
        }
    });
}

#[test]
fn a_failed_operation_makes_the_next_one_reopen_the_file() {
    let (_dir, store) = store_with_three_deliveries();
    assert_eq!(store.times_opened(), 1);
    store.fail_operations(true);
    assert!(store.append(&[single("d", "job:1", 4)]).is_err());
    store.fail_operations(false);
    // The file is still locked by the failed handle unless it was closed first.
    store.check_writable().unwrap();
    assert_eq!(store.times_opened(), 2);
    store.check_writable().unwrap();
    assert_eq!(store.times_opened(), 2, "healthy: no reopen");
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 3);
}

#[test]
fn reading_a_stamp_never_touches_the_file() {
    let (_dir, store) = store_with_three_deliveries();
    let job: Subject = "job:1".parse().unwrap();
    store.fail_operations(true);
    assert!(store.append(&[single("d", "job:1", 4)]).is_err());
    // Stamps are read on the async workers: a repair scan there would stall them.
    store.subject_stamp(&job).unwrap();
    assert_eq!(store.times_opened(), 1);
    store.fail_operations(false);
    store.check_writable().unwrap();
    assert_eq!(store.times_opened(), 2);
}

#[test]
fn a_file_from_before_the_index_by_time_has_its_entries_indexed_when_opened() {
    use crate::store::contract::support::single;
    use crate::store::redb::tables::BY_TIME;
    use redb::ReadableTableMetadata;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let store = RedbStore::open(&path).unwrap();
    for (id, occurred) in [("a", 9), ("b", 1), ("c", 5)] {
        store.append(&[single(id, "job:1", occurred)]).unwrap();
    }
    as_one_file(store, &path);
    // As the file was before the index: the entries without their rows.
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(BY_TIME).unwrap();
    txn.commit().unwrap();
    drop(db);
    let store = RedbStore::open(&path).unwrap();
    let ids = crate::store::contract::support::event_ids(&store.recent(10, None).unwrap().entries);
    assert_eq!(ids, ["a", "c", "b"]);
    let db_rows = {
        drop(store);
        let db = redb::Database::open(super::files::views_path_for(&path)).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        txn.open_table(BY_TIME).unwrap().len().unwrap()
    };
    assert_eq!(db_rows, 3);
}

/// The store's files as a power cut would leave them while it runs: copied under it, without
/// closing it (redb's file then holds the last checkpoint; the journal everything since).
fn files_as_a_crash_leaves_them(from: &std::path::Path, to: &std::path::Path) {
    for name in ["test.redb", "test.views.redb", "test.redb.journal"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

/// Checkpoints only when a test makes one.
fn by_hand() -> super::Checkpoints {
    super::Checkpoints {
        every: std::time::Duration::from_secs(3600),
        deliveries: usize::MAX,
    }
}

/// A store checkpointed by hand, whose first deliveries (an email on job:1) a checkpoint made
/// durable: what the crash tests journal more deliveries after.
fn store_with_a_checkpointed_email(path: &std::path::Path) -> RedbStore {
    let store = RedbStore::open_with(path, by_hand()).unwrap();
    store
        .append(&[single("a", "job:1", 1), email_sent("m", "job:1", "sg-1")])
        .unwrap();
    store.checkpoint().unwrap();
    store
}

#[test]
fn what_was_appended_after_the_last_checkpoint_is_replayed_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_checkpointed_email(&dir.path().join("test.redb"));
    store.append(&[single("b", "job:1", 2)]).unwrap();
    store
        .append(&[callback(
            "cb",
            "sg-1",
            crate::activity::details::EmailStatus::Opened,
            3,
        )])
        .unwrap();
    // A duplicate: journaled, and again a duplicate on replay.
    assert!(matches!(
        store.append(&[single("b", "job:1", 2)]).unwrap()[0],
        Appended::Duplicate { seq: 3 }
    ));
    let crashed = tempfile::tempdir().unwrap();
    files_as_a_crash_leaves_them(dir.path(), crashed.path());
    let live = page(&store, "job:1", query(50));

    let reopened = RedbStore::open_with(&crashed.path().join("test.redb"), by_hand()).unwrap();
    assert_eq!(page(&reopened, "job:1", query(50)), live);
    assert!(matches!(
        reopened.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 4, .. }
    ));
    // Opening replayed, then checkpointed: the journal holds no record, and a second crash
    // now loses nothing either.
    assert_eq!(journaled(&crashed.path().join("test.redb.journal")), 0);
    let again = tempfile::tempdir().unwrap();
    files_as_a_crash_leaves_them(crashed.path(), again.path());
    let reopened = RedbStore::open(&again.path().join("test.redb")).unwrap();
    assert_eq!(page(&reopened, "job:1", query(50)), live);
}

#[test]
fn replay_skips_what_the_checkpoint_holds_and_refuses_a_gap() {
    let (_dir, store) = store_with_three_deliveries();
    let batch = [single("d", "job:1", 4)];
    store.raw(|db| {
        // Appended after seq 1: the store is past it (a crash between a checkpoint and the
        // journal's emptying leaves such records).
        assert!(!super::append::replay(db, 1, &batch).unwrap());
        // After seq 9: deliveries 4 to 9 are missing.
        let gap = super::append::replay(db, 9, &batch).unwrap_err();
        assert!(gap.to_string().contains("missing"), "{gap}");
        assert!(super::append::replay(db, 3, &batch).unwrap());
    });
    assert_eq!(page(&store, "job:1", query(50)).entries.len(), 4);
}

#[test]
fn an_erasure_empties_the_journal_so_what_it_erased_is_nowhere_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("test.redb")).unwrap();
    let email = email_sent("m", "job:1", "sg-1");
    store.append(std::slice::from_ref(&email)).unwrap();
    // A checkpoint starts the journal over, but leaves the bytes to be written over.
    store.checkpoint().unwrap();
    let journal = dir.path().join("test.redb.journal");
    let body = email.body().as_ref();
    let holds_the_body = |bytes: &[u8]| bytes.windows(body.len()).any(|window| window == body);
    assert!(holds_the_body(&std::fs::read(&journal).unwrap()));
    let target = crate::activity::redact::ErasureTarget::Subject("job:1".parse().unwrap());
    store.erase(&target, chrono::Utc::now()).unwrap();
    let left = std::fs::read(&journal).unwrap();
    assert_eq!(left.len(), super::journal::FILE_HEADER);
    assert!(!holds_the_body(&left));
}

#[test]
fn maintenance_between_checkpoints_leaves_the_journal_and_replay_skips_what_it_made_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open_with(&dir.path().join("test.redb"), by_hand()).unwrap();
    let journal = dir.path().join("test.redb.journal");
    store.append(&[single("a", "job:1", 1)]).unwrap();
    // A sign-out's durable commit counts as a checkpoint: it starts the journal over.
    let now = chrono::Utc::now();
    let revocation = crate::store::Revocation::Session {
        id: 7,
        expires: now + chrono::Duration::hours(1),
    };
    store.revoke_sessions(&revocation, now).unwrap();
    assert_eq!(journaled(&journal), 0);
    // Retention commits durably in chunks and leaves the journal: its record of `b` is then
    // behind the store's head, and the replay must skip it.
    store.append(&[single("b", "job:1", 2)]).unwrap();
    assert_eq!(
        store
            .prune_bodies(now + chrono::Duration::hours(1))
            .unwrap(),
        2
    );
    assert_eq!(journaled(&journal), 1);
    let crashed = tempfile::tempdir().unwrap();
    files_as_a_crash_leaves_them(dir.path(), crashed.path());
    let live = page(&store, "job:1", query(50));

    let reopened = RedbStore::open_with(&crashed.path().join("test.redb"), by_hand()).unwrap();
    assert_eq!(page(&reopened, "job:1", query(50)), live);
    assert_eq!(
        reopened.revocations(now).unwrap().len(),
        1,
        "the sign-out is kept"
    );
    assert!(matches!(
        reopened.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 2, .. }
    ));
}

/// A store that checkpoints every two deliveries (and never for time), and its journal.
fn checkpointing_every_two(dir: &std::path::Path) -> (RedbStore, std::path::PathBuf) {
    let every_two = super::Checkpoints {
        every: std::time::Duration::from_secs(3600),
        deliveries: 2,
    };
    let store = RedbStore::open_with(&dir.join("test.redb"), every_two).unwrap();
    (store, dir.join("test.redb.journal"))
}

/// The last delivery the store's last durable commit recorded that it holds.
fn recorded_checkpoint(store: &RedbStore) -> u64 {
    store.raw(|files| {
        let txn = files.begin_read().unwrap();
        let meta = txn.open_table(super::tables::META).unwrap();
        let raw = meta.get(super::tables::CHECKPOINT).unwrap().unwrap();
        u64::from_le_bytes(raw.value().try_into().unwrap())
    })
}

/// How many batches the journal at `path` holds.
fn journaled(path: &std::path::Path) -> usize {
    super::journal::read(path).unwrap().len()
}

#[test]
fn a_checkpoint_comes_after_the_batch_that_makes_it_due_never_inside_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, journal) = checkpointing_every_two(dir.path());
    let journaled = || journaled(&journal);

    store.append(&[single("a", "job:1", 1)]).unwrap();
    store.after_batch().unwrap();
    assert!(journaled() > 0, "one delivery: no checkpoint due yet");
    store.append(&[single("b", "job:1", 2)]).unwrap();
    assert!(journaled() > 0, "the commit itself never checkpoints");
    store.after_batch().unwrap();
    assert_eq!(
        journaled(),
        0,
        "two deliveries: checkpointed after the batch"
    );
}

#[test]
fn a_durable_commit_outside_the_writer_counts_as_a_checkpoint_unless_it_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, journal) = checkpointing_every_two(dir.path());
    let journaled = || journaled(&journal);
    let alert = crate::store::AlertRecord {
        firing: true,
        since: chrono::Utc::now(),
        summary: "silent".into(),
        change: 1,
        notified: 0,
        attempts: 0,
        next_attempt: None,
        last_error: None,
    };

    store.append(&[single("a", "job:1", 1)]).unwrap();
    store.after_batch().unwrap();
    assert_eq!(journaled(), 1);
    assert!(store.swap_alert("xero-silent", None, &alert).unwrap());
    assert_eq!(
        journaled(),
        0,
        "the alert's durable commit holds the delivery"
    );
    assert_eq!(recorded_checkpoint(&store), 1, "and records itself");

    // The next checkpoint is counted from it: one delivery later none is due.
    store.append(&[single("b", "job:1", 2)]).unwrap();
    store.after_batch().unwrap();
    assert_eq!(journaled(), 1);
    // A swap from a revision that moved on commits nothing: the journal must keep the
    // delivery only it holds.
    assert!(!store.swap_alert("xero-silent", None, &alert).unwrap());
    assert_eq!(journaled(), 1);
    let crashed = tempfile::tempdir().unwrap();
    files_as_a_crash_leaves_them(dir.path(), crashed.path());
    let live = page(&store, "job:1", query(50));
    let reopened = RedbStore::open_with(&crashed.path().join("test.redb"), by_hand()).unwrap();
    assert_eq!(page(&reopened, "job:1", query(50)), live);
    assert_eq!(reopened.alerts().unwrap().len(), 1);
    assert!(matches!(
        reopened.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 2, .. }
    ));
}

#[test]
fn a_store_without_views_keeps_the_log_and_answers_duplicates_but_writes_no_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("log-only.redb"))
        .unwrap()
        .without_views();
    let stored = store
        .append(&[single("a", "job:1", 1), single("b", "job:1", 2)])
        .unwrap();
    assert_eq!(
        stored,
        vec![
            Appended::Stored {
                seq: 1,
                entries: 0,
                unmatched: 0
            },
            Appended::Stored {
                seq: 2,
                entries: 0,
                unmatched: 0
            }
        ]
    );
    assert_eq!(
        store.append(&[single("a", "job:1", 1)]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
    assert_eq!(store.deliveries(1, 10).unwrap().len(), 2);
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { .. }
    ));
    assert!(page(&store, "job:1", query(10)).entries.is_empty());
}

#[test]
fn a_store_without_search_indexing_keeps_its_timelines_and_leaves_the_index_alone() {
    use crate::search::Indexing;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("unindexed.redb"))
        .unwrap()
        .without_search_indexing();
    store.append(&[single("a", "job:1", 1)]).unwrap();
    assert_eq!(store.index_for_search().unwrap(), Indexing::Off);
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 1);
    assert!(store.search.terms().is_empty(), "nothing was indexed");
}

#[test]
fn a_capture_makes_its_journal_form_when_asked_and_the_embedded_store_asks() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("journals.redb")).unwrap();
    let capture = single("a", "job:1", 1);
    assert!(
        capture.normalized_json.get().is_none(),
        "made before anyone needs it"
    );
    assert!(store.journals());
    let prepared = capture.prepared_for(&store);
    let made = prepared
        .normalized_json
        .get()
        .expect("made for the journal");
    assert_eq!(
        made.as_ref(),
        serde_json::to_vec(&prepared.normalized).unwrap()
    );
    // Journaled in that form and committed, the capture reads as any other.
    store.append(&[prepared]).unwrap();
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 1);
}

fn searched(store: &RedbStore, q: &str) -> usize {
    while store.index_for_search().unwrap() == crate::search::Indexing::Behind {}
    let request = crate::search::SearchParams {
        q: Some(q.into()),
        ..Default::default()
    }
    .parse(chrono_tz::UTC)
    .unwrap();
    crate::search::run(store, &request).unwrap().found.len()
}

#[test]
fn an_erasure_leaves_nothing_of_what_it_erased_in_the_index_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("erase.redb")).unwrap();
    an_email_bounced_by_ann(&store, "job:5");
    assert_eq!(searched(&store, "to:ann@acme.test"), 1);
    let holds = |term: &str| store.search.terms().iter().any(|t| t.contains(term));
    assert!(holds("ann@acme.test") && holds("ann"));
    let target = crate::activity::redact::ErasureTarget::email("ann@acme.test").unwrap();
    store.erase(&target, chrono::Utc::now()).unwrap();
    // Not only hidden by a delete: every segment was rewritten without it.
    assert!(!holds("ann@acme.test"), "{:?}", store.search.terms());
    assert!(!holds("ann"));
    assert_eq!(searched(&store, "to:ann@acme.test"), 0);
}

/// Tantivy merges segments in the background after commits. A settled index has finished
/// those merges and recorded them, so the next process to open it has none to redo.
#[test]
fn a_settled_index_has_merged_its_segments_and_opens_merged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settle.redb");
    let store = RedbStore::open(&path).unwrap();
    // A commit, so a segment, a round. The log merge policy merges eight small ones: the
    // eighth commit starts a merge, which is still running when the loop ends.
    for round in 0..8 {
        let batch: Vec<Capture> = (0..400)
            .map(|n| single(&format!("d{round}-{n}"), "job:1", n))
            .collect();
        store.append(&batch).unwrap();
        while store.index_for_search().unwrap() == crate::search::Indexing::Behind {}
    }
    store.settle_search_index().unwrap();
    let (segments, documents) = store.search.segments_and_documents().unwrap();
    assert!(segments < 8, "{segments} segments");
    assert_eq!(documents, 3_200);
    drop(store);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        store.search.segments_and_documents().unwrap(),
        (segments, documents)
    );
    assert_eq!(
        store.index_for_search().unwrap(),
        crate::search::Indexing::CaughtUp
    );
}

#[test]
fn an_index_that_does_not_match_its_store_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restored.redb");
    let backup = dir.path().join("backup.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        store.append(&[single("a", "job:1", 1)]).unwrap();
        let target = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&backup)
            .unwrap();
        store.backup(target).unwrap();
        store
            .append(&[single("b", "job:1", 2), single("c", "job:1", 3)])
            .unwrap();
        assert_eq!(searched(&store, "at"), 3);
    }
    // The backup is restored under the index, then something else arrives: the index was
    // ahead, and its chain at its last delivery is not the store's.
    std::fs::copy(&backup, &path).unwrap();
    let store = RedbStore::open(&path).unwrap();
    store.append(&[single("z", "job:2", 9)]).unwrap();
    assert_eq!(searched(&store, "at"), 2, "a and z, not b and c");
    drop(store);
    // A damaged index is made afresh and rebuilt.
    let index = super::search::path_for(&path);
    for file in std::fs::read_dir(&index).unwrap() {
        let file = file.unwrap().path();
        if file.file_name().is_some_and(|name| name == "meta.json") {
            std::fs::write(&file, b"{ not json").unwrap();
        }
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(searched(&store, "at"), 2);
    drop(store);
    // An index of an earlier layout, whose text field tantivy's own tokenizer cut (this one
    // names the shared rule's), is made afresh in this layout and rebuilt.
    let meta = index.join("meta.json");
    let current = std::fs::read_to_string(&meta).unwrap();
    assert!(current.contains("\"hooktrail_words\""), "{current}");
    std::fs::write(&meta, current.replace("\"hooktrail_words\"", "\"default\"")).unwrap();
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(searched(&store, "at"), 2);
    let remade = std::fs::read_to_string(&meta).unwrap();
    assert!(remade.contains("\"hooktrail_words\""), "{remade}");
}

/// An email on job:1 with a callback that found it, a callback that waits for an email not
/// yet sent, and a second job: timelines, roll-ups, links and pending links, what a rebuild
/// of the views must give back.
fn store_with_views_to_lose(path: &std::path::Path) -> RedbStore {
    let store = RedbStore::open(path).unwrap();
    store
        .append(&[single("a", "job:1", 1), email_sent("m", "job:1", "sg-1")])
        .unwrap();
    append_callbacks_and_a_second_job(&store);
    store
}

/// After job:1's email: a callback that finds it, one that waits for an email not yet sent,
/// and a second job.
fn append_callbacks_and_a_second_job(store: &RedbStore) {
    use crate::activity::details::EmailStatus;
    store
        .append(&[
            callback("cb", "sg-1", EmailStatus::Delivered, 3),
            callback("early", "sg-2", EmailStatus::Opened, 4),
            single("x", "job:2", 5),
        ])
        .unwrap();
}

/// Everything a reader sees of the views: both timelines, the home page, the unmatched list.
fn everything_read(store: &RedbStore) -> Vec<crate::store::Page> {
    let mut with_callbacks = query(50);
    with_callbacks.callbacks = true;
    vec![
        page(store, "job:1", with_callbacks),
        page(store, "job:1", query(50)),
        page(store, "job:2", query(50)),
        store.recent(50, None).unwrap(),
        crate::store::Page {
            entries: store.unmatched(50, None).unwrap(),
            next: None,
        },
    ]
}

/// A closed store with views to lose, and what it read before they were lost.
fn closed_store_with_views(
    dir: &tempfile::TempDir,
) -> (std::path::PathBuf, Vec<crate::store::Page>) {
    let path = dir.path().join("test.redb");
    let store = store_with_views_to_lose(&path);
    let before = everything_read(&store);
    drop(store);
    (path, before)
}

#[test]
fn a_lost_views_file_is_rebuilt_from_the_log_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = closed_store_with_views(&dir);

    std::fs::remove_file(super::files::views_path_for(&path)).unwrap();
    // Read-only access cannot rebuild them: it refuses, and says why.
    let refused = RedbSnapshot::open(&path).err().unwrap();
    assert!(refused.to_string().contains("no views file"), "{refused}");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
    the_early_callback_still_waits_for_its_email(&store);
    drop(store);
    assert!(RedbSnapshot::open(&path).is_ok());
}

/// The pending link of [`store_with_views_to_lose`]'s early callback is there (it shows on no
/// page): when its email arrives, the callback attaches to it.
fn the_early_callback_still_waits_for_its_email(store: &RedbStore) {
    assert_eq!(store.unmatched_count().unwrap(), 1);
    store.append(&[email_sent("m2", "job:2", "sg-2")]).unwrap();
    let job2 = event_ids(&page(store, "job:2", query(50)).entries);
    assert!(job2.contains(&"m2".to_owned()), "{job2:?}");
    assert_eq!(store.unmatched_count().unwrap(), 0);
}

#[test]
fn a_views_file_that_cannot_be_opened_is_replaced_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = closed_store_with_views(&dir);

    let views = super::files::views_path_for(&path);
    let length = std::fs::metadata(&views).unwrap().len();
    std::fs::write(&views, vec![0x5a; length as usize]).unwrap();
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
}

/// A closed store whose views file is as an earlier checkpoint left it, beside a log that went
/// on (as when one file kept commits the other lost, or a views file was put back), and what
/// the store read before it closed.
fn closed_store_with_older_views(
    dir: &tempfile::TempDir,
) -> (std::path::PathBuf, Vec<crate::store::Page>) {
    let path = dir.path().join("test.redb");
    let views = super::files::views_path_for(&path);
    let older = dir.path().join("older.views.redb");
    let store = store_with_views_to_lose(&path);
    store.checkpoint().unwrap();
    std::fs::copy(&views, &older).unwrap();
    store.append(&[single("later", "job:1", 9)]).unwrap();
    let before = everything_read(&store);
    drop(store);
    std::fs::copy(&older, &views).unwrap();
    (path, before)
}

#[test]
fn views_from_another_point_of_the_log_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = closed_store_with_older_views(&dir);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
    assert!(event_ids(&page(&store, "job:1", query(50)).entries).contains(&"later".to_owned()));
}

/// A store turned into one file holding its views (see [`as_one_file`]), and what it read
/// before.
fn one_file_with_views(dir: &tempfile::TempDir) -> (std::path::PathBuf, Vec<crate::store::Page>) {
    let path = dir.path().join("test.redb");
    let store = store_with_views_to_lose(&path);
    let before = everything_read(&store);
    as_one_file(store, &path);
    (path, before)
}

#[test]
fn a_single_file_from_an_earlier_version_moves_its_views_out_as_they_are() {
    use redb::TableHandle;
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = one_file_with_views(&dir);

    let refused = RedbSnapshot::open(&path).err().unwrap();
    assert!(refused.to_string().contains("earlier version"), "{refused}");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
    the_early_callback_still_waits_for_its_email(&store);
    drop(store);
    let log = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&log).unwrap();
    let in_log: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|table| table.name().to_owned())
        .filter(|name| super::files::is_view(name))
        .collect();
    assert_eq!(in_log, Vec::<String>::new());
    drop(txn);
    drop(log);
    // Moved, not rebuilt: the views are the log's, and read-only access takes them.
    assert!(RedbSnapshot::open(&path).is_ok());
}

#[test]
fn a_reader_never_sees_the_views_ahead_of_or_behind_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(RedbStore::open(&dir.path().join("test.redb")).unwrap());
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                store
                    .append(&[single(&format!("e{i}"), "job:1", i)])
                    .unwrap();
            }
        })
    };
    // Every timeline row read names an entry the same read finds: the log is never behind.
    // And the count of rows never runs ahead of the deliveries: never ahead either.
    let mut reads = 0;
    while !writer.is_finished() {
        reads += 1;
        store.raw(|files| {
            let txn = files.begin_read().unwrap();
            let timelines = txn.open_table(super::tables::TIMELINES).unwrap();
            let entries = txn.open_table(super::tables::ENTRIES).unwrap();
            let deliveries = txn.open_table(DELIVERIES).unwrap();
            let rows = redb::ReadableTableMetadata::len(&timelines).unwrap();
            assert_eq!(rows, redb::ReadableTableMetadata::len(&deliveries).unwrap());
            for row in timelines.iter().unwrap() {
                let id = row.unwrap().0.value().3;
                assert!(entries.get(id).unwrap().is_some());
            }
        });
    }
    writer.join().unwrap();
    // Each append waits for the journal's sync: the reads ran while the writer did.
    assert!(reads > 0, "no read ran while the writer appended");
}

/// Opens the files as a reopen after a storage failure does: views that are not the log's may
/// be rolled back, but not rebuilt.
fn open_without_rebuilding(
    path: &std::path::Path,
) -> Result<(super::files::Files, bool), crate::store::StoreError> {
    super::open_files(
        path,
        super::RedbSettings::default(),
        &crate::store::health::OpeningProgress::default(),
        super::Rebuild::Refused,
    )
}

#[test]
fn a_reopen_after_a_failure_refuses_stale_views_and_leaves_them_to_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = closed_store_with_older_views(&dir);
    let refused = open_without_rebuilding(&path).err().unwrap();
    assert!(
        refused.to_string().contains("restart the gateway"),
        "{refused}"
    );
    // What that attempt committed did not make the stale views the log's: a start rebuilds.
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
}

#[test]
fn a_single_file_an_earlier_version_reopened_has_its_views_rebuilt_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = one_file_with_views(&dir);
    // This version wrote it (an epoch), then an earlier one changed its views alone: here,
    // a timeline row lost.
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(super::tables::META)
        .unwrap()
        .insert(super::files::EPOCH, [1u8; 16].as_slice())
        .unwrap();
    txn.open_table(super::tables::TIMELINES)
        .unwrap()
        .retain(|(subject, ..), ()| subject != "job:2")
        .unwrap();
    txn.commit().unwrap();
    drop(db);

    let store = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&store), before);
}

#[test]
fn views_a_checkpoint_ahead_of_the_log_are_rolled_back_and_the_journal_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_checkpointed_email(&dir.path().join("test.redb"));
    append_callbacks_and_a_second_job(&store);
    let live = everything_read(&store);
    // The next checkpoint's views are synced, and then its log's half fails: the files as a
    // crash between the two syncs leaves them.
    store.raw(|files| {
        files
            .failing_log
            .store(true, std::sync::atomic::Ordering::SeqCst)
    });
    assert!(store.checkpoint().is_err());
    let crashed = tempfile::tempdir().unwrap();
    files_as_a_crash_leaves_them(dir.path(), crashed.path());
    drop(store);

    // An open that may not rebuild the views (as a reopen while serving) opens these: they are
    // rolled back to the log's checkpoint, and the journal is replayed into both files.
    let path = crashed.path().join("test.redb");
    let (files, rebuilt) = open_without_rebuilding(&path).unwrap();
    assert!(!rebuilt);
    drop(files);
    let reopened = RedbStore::open(&path).unwrap();
    assert_eq!(everything_read(&reopened), live);
    assert!(matches!(
        reopened.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 5, .. }
    ));
}

/// A second opener of a store a process owns is refused before it touches anything of the
/// owner's: here the owner's search folder was removed (as an operator does to have it
/// rebuilt), and a refused `verify` must not make a fresh one, nor rewrite the journal.
#[test]
fn a_refused_opener_touches_neither_the_journal_nor_the_search_index() {
    let (dir, owner) = store_with_three_deliveries();
    let path = dir.path().join("test.redb");
    let search = super::search::path_for(&path);
    std::fs::remove_dir_all(&search).unwrap();
    let journal = super::journal::path_for(&path);
    let journaled = std::fs::read(&journal).unwrap();

    let refused = RedbStore::open(&path).err();
    assert!(
        matches!(refused, Some(crate::store::StoreError::InUse)),
        "{refused:?}"
    );
    assert!(!search.exists(), "the refused opener made a search folder");
    assert_eq!(std::fs::read(&journal).unwrap(), journaled);
    drop(owner);
}
