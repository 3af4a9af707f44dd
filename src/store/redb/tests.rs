//! The redb backend against the storage contract: dedup, ordering, pagination, chain, reindex.

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use redb::ReadableTable;

use super::records::{decode_delivery, encode_delivery};
use super::tables::DELIVERIES;
use super::{RedbSnapshot, RedbStore};
use crate::activity::details::{Details, EmailEvent, EmailStatus};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Actor, Category, EntryKind, NewEntry, Normalized, Outcome, Subject};
use crate::sources::{RawDelivery, ReplayKey};
use crate::store::{Appended, Capture, ChainReport, PageQuery, Reread, Store};

fn store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("test.redb")).unwrap();
    (dir, store)
}

/// Three deliveries on job:1, seqs 1 to 3.
fn store_with_three_deliveries() -> (tempfile::TempDir, RedbStore) {
    let (dir, store) = store();
    let batch = [
        single("a", "job:1", 1),
        single("b", "job:1", 2),
        single("c", "job:1", 3),
    ];
    store.append(&batch).unwrap();
    (dir, store)
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn entry(subject: &str, category: Category, occurred: i64, event_id: Option<&str>) -> NewEntry {
    NewEntry {
        kind: EntryKind::new("status.changed").unwrap(),
        category,
        occurred_at: at(occurred),
        actor: Actor::system(),
        subjects: vec![subject.parse::<Subject>().unwrap()],
        summary: format!("at {occurred}"),
        details: Details::StatusChange {
            from: None,
            to: format!("{occurred}"),
        },
        event_id: event_id.map(str::to_owned),
        correlation: Vec::new(),
    }
}

fn capture(delivery_id: Option<&str>, entries: Vec<NewEntry>) -> Capture {
    Capture::new(
        "hoops",
        Utc::now(),
        vec![("webhook-id".into(), delivery_id.unwrap_or("-").into())],
        Bytes::from(format!("{{\"id\":{delivery_id:?}}}")),
        Normalized {
            delivery_id: delivery_id.map(str::to_owned),
            entries,
            outcome: Outcome::Normalized,
        },
    )
}

fn single(id: &str, subject: &str, occurred: i64) -> Capture {
    capture(
        Some(id),
        vec![entry(subject, Category::Workflow, occurred, Some(id))],
    )
}

fn page(store: &RedbStore, subject: &str, query: PageQuery) -> crate::store::Page {
    store
        .subject_entries(&subject.parse().unwrap(), &query)
        .unwrap()
}

fn query(limit: usize) -> PageQuery {
    PageQuery {
        limit,
        before: None,
        category: None,
    }
}

#[test]
fn a_batch_is_stored_with_gap_free_seqs_and_dedup() {
    let (_dir, store) = store();
    let outcomes = store
        .append(&[
            single("a", "job:1", 1),
            single("b", "job:1", 2),
            single("a", "job:1", 3),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            Appended::Stored {
                seq: 1,
                entries: 1,
                unmatched: 0
            },
            Appended::Stored {
                seq: 2,
                entries: 1,
                unmatched: 0
            },
            Appended::Duplicate { seq: 1 },
        ]
    );
    assert_eq!(
        store.append(&[single("b", "job:1", 9)]).unwrap(),
        vec![Appended::Duplicate { seq: 2 }]
    );
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 2);
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 2, .. }
    ));
}

#[test]
fn overlapping_batches_without_delivery_ids_add_only_what_is_new() {
    let (_dir, store) = store();
    let first = capture(
        None,
        vec![
            entry("job:1", Category::Accounting, 1, Some("e1")),
            entry("job:1", Category::Accounting, 2, Some("e2")),
        ],
    );
    let again = first.clone();
    let overlap = capture(
        None,
        vec![
            entry("job:1", Category::Accounting, 2, Some("e2")),
            entry("job:1", Category::Accounting, 3, Some("e3")),
        ],
    );
    assert_eq!(
        store.append(&[first]).unwrap(),
        vec![Appended::Stored {
            seq: 1,
            entries: 2,
            unmatched: 0
        }]
    );
    assert_eq!(
        store.append(&[again]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
    assert_eq!(
        store.append(&[overlap]).unwrap(),
        vec![Appended::Stored {
            seq: 2,
            entries: 1,
            unmatched: 0
        }]
    );
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 3);
}

#[test]
fn timelines_are_newest_first_by_occurred_at_even_when_late() {
    let (_dir, store) = store();
    store
        .append(&[single("a", "job:1", 10), single("b", "job:1", 30)])
        .unwrap();
    store
        .append(&[single("late", "job:1", 20), single("other", "job:2", 25)])
        .unwrap();
    let summaries: Vec<String> = page(&store, "job:1", query(10))
        .entries
        .into_iter()
        .map(|e| e.summary)
        .collect();
    assert_eq!(summaries, ["at 30", "at 20", "at 10"]);
}

#[test]
fn cursor_pages_cover_everything_once() {
    let (_dir, store) = store();
    // Several entries share an occurred_at, so the cursor must break ties by id.
    let batch: Vec<Capture> = (0..23)
        .map(|i| single(&format!("d{i}"), "job:7", i / 3))
        .collect();
    store.append(&batch).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = page(
            &store,
            "job:7",
            PageQuery {
                limit: 5,
                before,
                category: None,
            },
        );
        assert!(page.entries.len() <= 5);
        seen.extend(page.entries.iter().map(|e| (e.occurred_at, e.id)));
        match page.next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(
        seen, sorted,
        "pages must be strictly newest first with nothing repeated"
    );
}

#[test]
fn category_pages_use_their_own_index() {
    let (_dir, store) = store();
    let batch: Vec<Capture> = (0..10)
        .map(|i| {
            let category = if i % 2 == 0 {
                Category::Workflow
            } else {
                Category::Accounting
            };
            capture(
                Some(&format!("c{i}")),
                vec![entry("job:3", category, i, None)],
            )
        })
        .collect();
    store.append(&batch).unwrap();
    let accounting = page(
        &store,
        "job:3",
        PageQuery {
            limit: 3,
            before: None,
            category: Some(Category::Accounting),
        },
    );
    assert_eq!(accounting.entries.len(), 3);
    assert!(
        accounting
            .entries
            .iter()
            .all(|e| e.category == Category::Accounting)
    );
    let rest = page(
        &store,
        "job:3",
        PageQuery {
            limit: 10,
            before: accounting.next,
            category: Some(Category::Accounting),
        },
    );
    assert_eq!(rest.entries.len(), 2);
    assert!(rest.next.is_none());
}

#[test]
fn flagged_deliveries_are_kept_without_entries() {
    let (_dir, store) = store();
    let mut flagged = capture(Some("bad"), Vec::new());
    flagged.normalized.outcome = Outcome::Unparseable {
        reason: "not JSON".into(),
    };
    assert_eq!(
        store.append(&[flagged]).unwrap(),
        vec![Appended::Stored {
            seq: 1,
            entries: 0,
            unmatched: 0
        }]
    );
    let delivery = store.delivery(1).unwrap().unwrap();
    assert!(delivery.outcome.is_flagged());
    assert!(delivery.body.is_some());
}

#[test]
fn verify_names_the_first_altered_delivery() {
    let (_dir, store) = store_with_three_deliveries();
    let txn = store.db.begin_write().unwrap();
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
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Broken { seq: 2, .. }
    ));
}

#[test]
fn delivery_rows_written_as_json_by_earlier_versions_still_verify_and_read() {
    let (_dir, store) = store_with_three_deliveries();
    let before = store.deliveries(1, 10).unwrap();
    let txn = store.db.begin_write().unwrap();
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
    assert_eq!(store.deliveries(1, 10).unwrap(), before);
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 3, .. }
    ));
}

#[test]
fn verify_notices_a_removed_delivery() {
    let (_dir, store) = store_with_three_deliveries();
    let txn = store.db.begin_write().unwrap();
    txn.open_table(DELIVERIES).unwrap().remove(2).unwrap();
    txn.commit().unwrap();
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Broken { seq: 2, .. }
    ));
}

#[test]
fn reindex_rebuilds_identical_projections() {
    let (_dir, store) = store();
    store
        .append(&[
            single("a", "job:1", 1),
            single("b", "job:1", 2),
            single("c", "salesdoc:9", 3),
        ])
        .unwrap();
    let before = page(&store, "job:1", query(10));
    // The stand-in normalizer rebuilds what intake produced, from the log alone.
    let report = store
        .reindex(&|raw| {
            let id = raw
                .headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())?;
            let subject = if id == "c" { "salesdoc:9" } else { "job:1" };
            let occurred = match id.as_str() {
                "a" => 1,
                "b" => 2,
                _ => 3,
            };
            Some(
                Normalized {
                    delivery_id: Some(id.clone()),
                    entries: vec![entry(subject, Category::Workflow, occurred, Some(&id))],
                    outcome: Outcome::Normalized,
                }
                .into(),
            )
        })
        .unwrap();
    assert_eq!(report.deliveries, 3);
    assert_eq!(report.entries, 3);
    assert_eq!(page(&store, "job:1", query(10)), before);
    // Dedup keys were rebuilt too.
    assert_eq!(
        store.append(&[single("a", "job:1", 1)]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
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

fn email_sent(id: &str, subject: &str, provider_message_id: &str) -> Capture {
    let mut new = entry(subject, Category::Communication, 1, Some(id));
    new.kind = EntryKind::new("email.sent").unwrap();
    new.details = Details::Email {
        message: crate::activity::details::EmailMessage {
            provider: Some("sendgrid".into()),
            provider_message_id: Some(provider_message_id.into()),
            subject: Some("Your proof".into()),
            ..Default::default()
        },
    };
    capture(Some(id), vec![new])
}

fn callback(
    event_id: &str,
    provider_message_id: &str,
    status: EmailStatus,
    occurred: i64,
) -> Capture {
    let key = crate::activity::links::email_provider_key("sendgrid", provider_message_id);
    let new = NewEntry {
        kind: EntryKind::new(format!("email.{}", status.label().replace(' ', "_"))).unwrap(),
        category: Category::Communication,
        occurred_at: at(occurred),
        actor: Actor::integration("SendGrid"),
        subjects: Vec::new(),
        summary: status.label().to_owned(),
        details: Details::EmailEvent {
            event: EmailEvent {
                provider: "sendgrid".into(),
                status,
                provider_event: status.label().into(),
                recipient: Some("ann@acme.test".into()),
                provider_message_id: Some(provider_message_id.into()),
                message_id: None,
                subject: None,
                reason: (status == EmailStatus::Bounced).then(|| "550 no such user".into()),
                url: None,
            },
        },
        event_id: Some(event_id.into()),
        correlation: vec![key],
    };
    capture(None, vec![new])
}

#[test]
fn callbacks_attach_to_their_email_and_roll_up_its_status() {
    let (_dir, store) = store();
    store
        .append(&[email_sent("m1", "job:1042", "sg-abc")])
        .unwrap();
    store
        .append(&[
            callback("ev1", "sg-abc", EmailStatus::Delivered, 5),
            callback("ev2", "sg-abc", EmailStatus::Opened, 9),
        ])
        .unwrap();
    let entries = page(&store, "job:1042", query(10)).entries;
    assert_eq!(entries.len(), 3, "both callbacks join the job's timeline");
    let email = entries
        .iter()
        .find(|e| e.kind.as_str() == "email.sent")
        .unwrap();
    let status = email.delivery_status.clone().unwrap();
    assert_eq!(status.current, Some(EmailStatus::Opened));
    assert_eq!(
        status.history.iter().map(|u| u.status).collect::<Vec<_>>(),
        [EmailStatus::Delivered, EmailStatus::Opened]
    );
    assert_eq!(
        store.entry(email.id).unwrap().unwrap().delivery_status,
        Some(status)
    );
    assert!(store.unmatched(10, None).unwrap().is_empty());
}

#[test]
fn an_entry_attached_later_in_its_own_delivery_is_not_counted_unmatched() {
    let (_dir, store) = store();
    let waiting = callback("ev1", "sg-same", EmailStatus::Delivered, 5)
        .normalized
        .entries;
    let email = email_sent("m1", "job:7", "sg-same").normalized.entries;
    let both = capture(Some("d1"), [waiting, email].concat());
    let appended = store.append(&[both]).unwrap();
    assert_eq!(
        appended,
        [Appended::Stored {
            seq: 1,
            entries: 2,
            unmatched: 0
        }]
    );
    assert_eq!(store.unmatched_count().unwrap(), 0);
    assert_eq!(page(&store, "job:7", query(10)).entries.len(), 2);
}

#[test]
fn callbacks_before_their_link_are_unmatched_then_attached_retroactively() {
    let (_dir, store) = store();
    let appended = store
        .append(&[callback("ev1", "sg-late", EmailStatus::Bounced, 5)])
        .unwrap();
    assert!(
        matches!(appended[..], [Appended::Stored { unmatched: 1, .. }]),
        "{appended:?}"
    );
    let unmatched = store.unmatched(10, None).unwrap();
    assert_eq!(unmatched.len(), 1);
    assert!(unmatched[0].subjects.is_empty());
    assert!(page(&store, "job:7", query(10)).entries.is_empty());

    assert_eq!(store.unmatched_count().unwrap(), 1);

    store
        .append(&[email_sent("m1", "job:7", "sg-late")])
        .unwrap();
    assert!(store.unmatched(10, None).unwrap().is_empty());
    assert_eq!(store.unmatched_count().unwrap(), 0);
    let entries = page(&store, "job:7", query(10)).entries;
    assert_eq!(entries.len(), 2);
    let bounce = entries
        .iter()
        .find(|e| e.kind.as_str() == "email.bounced")
        .unwrap();
    assert_eq!(bounce.subjects, vec!["job:7".parse::<Subject>().unwrap()]);
    let email = entries
        .iter()
        .find(|e| e.kind.as_str() == "email.sent")
        .unwrap();
    let status = email.delivery_status.clone().unwrap();
    assert_eq!(status.current, Some(EmailStatus::Bounced));
    assert_eq!(
        status.history[0].reason.as_deref(),
        Some("550 no such user")
    );
}

#[test]
fn a_reused_replay_key_is_refused_but_a_provider_retry_is_a_duplicate() {
    let (_dir, store) = store();
    let first =
        single("evt-1", "job:1", 1).with_replay_key(Some(ReplayKey::Token("token-1".into())));
    // The provider's own retry: the same delivery, received again later.
    let retry =
        single("evt-1", "job:1", 1).with_replay_key(Some(ReplayKey::Token("token-1".into())));
    let replay =
        single("evt-2", "job:1", 2).with_replay_key(Some(ReplayKey::Token("token-1".into())));
    assert_eq!(
        store.append(&[first]).unwrap(),
        vec![Appended::Stored {
            seq: 1,
            entries: 1,
            unmatched: 0
        }]
    );
    assert_eq!(
        store.append(&[retry, replay]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }, Appended::Replayed]
    );
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 1);
}

#[test]
fn seen_signed_content_is_a_duplicate_under_any_delivery_id_across_reopens_and_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.redb");
    let content = || Some(ReplayKey::SignedContent([7; 32]));
    let first = single("id-1", "job:1", 1).with_replay_key(content());
    {
        let store = RedbStore::open(&path).unwrap();
        assert!(matches!(
            store.append(&[first]).unwrap()[..],
            [Appended::Stored { seq: 1, .. }]
        ));
        // The same signed content under a new unsigned id, and under none.
        let new_id = single("id-2", "job:1", 1).with_replay_key(content());
        let no_id = capture(None, vec![entry("job:1", Category::Workflow, 1, None)])
            .with_replay_key(content());
        assert_eq!(
            store.append(&[new_id, no_id]).unwrap(),
            vec![Appended::Duplicate { seq: 1 }; 2]
        );
    }
    let store = RedbStore::open(&path).unwrap();
    let after_restart = single("id-3", "job:1", 1).with_replay_key(content());
    assert_eq!(
        store.append(&[after_restart]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
    // Kept in the delivery record, so reindex rebuilds it with the other dedup keys.
    store
        .reindex(&|_| {
            Some(
                Normalized {
                    delivery_id: Some("id-1".into()),
                    entries: vec![entry("job:1", Category::Workflow, 1, Some("id-1"))],
                    outcome: Outcome::Normalized,
                }
                .into(),
            )
        })
        .unwrap();
    let after_reindex = single("id-4", "job:1", 1).with_replay_key(content());
    assert_eq!(
        store.append(&[after_reindex]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
    // Other signed content is new.
    let other = single("id-5", "job:1", 2).with_replay_key(Some(ReplayKey::SignedContent([8; 32])));
    assert!(matches!(
        store.append(&[other]).unwrap()[..],
        [Appended::Stored { seq: 2, .. }]
    ));
    assert_eq!(page(&store, "job:1", query(10)).entries.len(), 2);
}

#[test]
fn a_delivery_logged_without_a_replay_key_gains_the_one_reindex_reads_again() {
    let (_dir, store) = store();
    let content = || Some(ReplayKey::SignedContent([9; 32]));
    // Logged before its scheme gave one.
    store.append(&[single("id-1", "job:1", 1)]).unwrap();
    let reread = |raw: &RawDelivery<'_>| {
        Some(Reread {
            normalized: Normalized {
                delivery_id: Some(format!("id-{}", raw.body.len())),
                entries: vec![entry("job:1", Category::Workflow, 1, None)],
                outcome: Outcome::Normalized,
            },
            replay_key: content(),
        })
    };
    store.reindex(&reread).unwrap();
    assert_eq!(
        store.delivery(1).unwrap().unwrap().replay_key,
        content(),
        "kept in the record"
    );
    let resent = single("id-2", "job:1", 1).with_replay_key(content());
    assert_eq!(
        store.append(&[resent]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
    // A key the record already holds is never replaced.
    let other = || Some(ReplayKey::SignedContent([10; 32]));
    store
        .reindex(&|raw| {
            reread(raw).map(|read| Reread {
                replay_key: other(),
                ..read
            })
        })
        .unwrap();
    assert_eq!(store.delivery(1).unwrap().unwrap().replay_key, content());
}

#[test]
fn recent_reads_every_subject_newest_receipt_first_in_pages() {
    let (_dir, store) = store();
    // Appended one by one, so each has a later receipt (and a later id) than the one before.
    for (id, subject, occurred) in [("a", "job:1", 9), ("b", "salesdoc:2", 1), ("c", "job:3", 5)] {
        store.append(&[single(id, subject, occurred)]).unwrap();
    }
    let newest: Vec<String> = store
        .recent(2, None)
        .unwrap()
        .iter()
        .map(|e| e.source.event_id.clone().unwrap())
        .collect();
    assert_eq!(newest, ["c", "b"]);
    let second = store.recent(2, Some(store.recent(2, None).unwrap()[1].id));
    let older: Vec<String> = second
        .unwrap()
        .iter()
        .map(|e| e.source.event_id.clone().unwrap())
        .collect();
    assert_eq!(older, ["a"]);
}

#[test]
fn the_origin_is_the_oldest_entry_of_a_timeline() {
    let (_dir, store) = store_with_three_deliveries();
    let origin = store
        .subject_origin(&"job:1".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(origin.source.event_id.as_deref(), Some("a"));
    assert!(
        store
            .subject_origin(&"job:2".parse().unwrap())
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_unmatched_count_survives_reindex() {
    let (_dir, store) = store();
    store
        .append(&[
            callback("ev1", "sg-x", EmailStatus::Delivered, 5),
            callback("ev2", "sg-y", EmailStatus::Delivered, 6),
        ])
        .unwrap();
    assert_eq!(store.unmatched_count().unwrap(), 2);
    let replayed = std::sync::Mutex::new(vec![
        callback("ev2", "sg-y", EmailStatus::Delivered, 6),
        callback("ev1", "sg-x", EmailStatus::Delivered, 5),
    ]);
    store
        .reindex(&|_| replayed.lock().unwrap().pop().map(|c| c.normalized.into()))
        .unwrap();
    assert_eq!(store.unmatched_count().unwrap(), 2);
}

#[test]
fn stamps_change_with_everything_a_timeline_shows_and_nothing_else() {
    let (_dir, store) = store();
    let stamp = |key: &str| store.subject_stamp(&key.parse().unwrap()).unwrap();
    let (job, other) = ("job:1042", "job:9");
    let before = (stamp(job), stamp(other));

    store.append(&[email_sent("m1", job, "sg-abc")]).unwrap();
    let written = stamp(job);
    assert_ne!(written, before.0, "a new entry");
    assert_eq!(stamp(other), before.1, "another subject keeps its stamp");

    // A duplicate changes nothing.
    store.append(&[email_sent("m1", job, "sg-abc")]).unwrap();
    assert_eq!(stamp(job), written);

    // A callback that names no subject reaches the job through the email's link.
    store
        .append(&[callback("ev1", "sg-abc", EmailStatus::Delivered, 5)])
        .unwrap();
    let rolled_up = stamp(job);
    assert_ne!(rolled_up, written);
    assert_eq!(stamp(other), before.1);

    store
        .erase(&ErasureTarget::Email("nobody@else.test".into()), Utc::now())
        .unwrap();
    let erased = (stamp(job), stamp(other));
    assert!(
        erased.0 != rolled_up && erased.1 != before.1,
        "erasure may change any"
    );

    store.reindex(&|_| None).unwrap();
    assert!(stamp(job) != erased.0 && stamp(other) != erased.1);
}

/// Writes a timeline, lets `rewrite` turn the file into an earlier layout, and checks that
/// read-only access refuses it until a writer has opened it, after which every page (whole and
/// filtered, with its cursor) reads as before.
fn reads_the_same_after_upgrading(rewrite: impl FnOnce(&redb::WriteTransaction)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let queries = || {
        [None, Some(Category::Accounting), Some(Category::Workflow)].map(|category| PageQuery {
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
        queries()
            .into_iter()
            .map(|query| page(&store, "job:5", query))
            .collect()
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
    // One row per entry, each in its category's lane.
    let db = redb::Database::builder().create(&path).unwrap();
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
