//! The cases every backend must pass (see [`super`]).

use chrono::Utc;

use super::Fixture;
pub use super::search_cases::*;
use super::support::*;
pub use super::tree_cases::*;
use crate::activity::details::EmailStatus;
use crate::activity::redact::ErasureTarget;
use crate::activity::{Category, Normalized, Outcome, Subject};
use crate::sources::{RawDelivery, ReplayKey};
use crate::store::{Appended, Capture, ChainReport, Change, ChangeCursor, Feed, PageQuery, Reread};

pub fn a_batch_is_stored_with_gap_free_seqs_and_dedup(fixture: &mut Fixture) {
    let store = fixture.store();
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
    assert_eq!(page(store, "job:1", query(10)).entries.len(), 2);
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 2, .. }
    ));
}

pub fn overlapping_batches_without_delivery_ids_add_only_what_is_new(fixture: &mut Fixture) {
    let store = fixture.store();
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
    assert_eq!(page(store, "job:1", query(10)).entries.len(), 3);
}

pub fn timelines_are_newest_first_by_occurred_at_even_when_late(fixture: &mut Fixture) {
    let store = fixture.store();
    store
        .append(&[single("a", "job:1", 10), single("b", "job:1", 30)])
        .unwrap();
    store
        .append(&[single("late", "job:1", 20), single("other", "job:2", 25)])
        .unwrap();
    let summaries: Vec<String> = page(store, "job:1", query(10))
        .entries
        .into_iter()
        .map(|e| e.summary)
        .collect();
    assert_eq!(summaries, ["at 30", "at 20", "at 10"]);
}

pub fn cursor_pages_cover_everything_once(fixture: &mut Fixture) {
    let store = fixture.store();
    // Several entries share an occurred_at, so the cursor must break ties by id.
    let batch: Vec<Capture> = (0..23)
        .map(|i| single(&format!("d{i}"), "job:7", i / 3))
        .collect();
    store.append(&batch).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = page(
            store,
            "job:7",
            PageQuery {
                callbacks: true,
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

pub fn category_pages_use_their_own_index(fixture: &mut Fixture) {
    let store = fixture.store();
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
        store,
        "job:3",
        PageQuery {
            callbacks: true,
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
        store,
        "job:3",
        PageQuery {
            callbacks: true,
            limit: 10,
            before: accounting.next,
            category: Some(Category::Accounting),
        },
    );
    assert_eq!(rest.entries.len(), 2);
    assert!(rest.next.is_none());
}

pub fn flagged_deliveries_are_kept_without_entries(fixture: &mut Fixture) {
    let store = fixture.store();
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

pub fn reindex_rebuilds_identical_projections(fixture: &mut Fixture) {
    let store = fixture.store();
    store
        .append(&[
            single("a", "job:1", 1),
            single("b", "job:1", 2),
            single("c", "salesdoc:9", 3),
        ])
        .unwrap();
    let before = page(store, "job:1", query(10));
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
    assert_eq!(page(store, "job:1", query(10)), before);
    // Dedup keys were rebuilt too.
    assert_eq!(
        store.append(&[single("a", "job:1", 1)]).unwrap(),
        vec![Appended::Duplicate { seq: 1 }]
    );
}

pub fn callbacks_attach_to_their_email_and_roll_up_its_status(fixture: &mut Fixture) {
    let store = fixture.store();
    store
        .append(&[email_sent("m1", "job:1042", "sg-abc")])
        .unwrap();
    store
        .append(&[
            callback("ev1", "sg-abc", EmailStatus::Delivered, 5),
            callback("ev2", "sg-abc", EmailStatus::Opened, 9),
        ])
        .unwrap();
    let entries = page(store, "job:1042", query(10)).entries;
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

pub fn an_entry_attached_later_in_its_own_delivery_is_not_counted_unmatched(fixture: &mut Fixture) {
    let store = fixture.store();
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
    assert_eq!(page(store, "job:7", query(10)).entries.len(), 2);
}

pub fn callbacks_before_their_link_are_unmatched_then_attached_retroactively(
    fixture: &mut Fixture,
) {
    let store = fixture.store();
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
    assert!(page(store, "job:7", query(10)).entries.is_empty());

    assert_eq!(store.unmatched_count().unwrap(), 1);

    store
        .append(&[email_sent("m1", "job:7", "sg-late")])
        .unwrap();
    assert!(store.unmatched(10, None).unwrap().is_empty());
    assert_eq!(store.unmatched_count().unwrap(), 0);
    let entries = page(store, "job:7", query(10)).entries;
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

pub fn a_reused_replay_key_is_refused_but_a_provider_retry_is_a_duplicate(fixture: &mut Fixture) {
    let store = fixture.store();
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
    assert_eq!(page(store, "job:1", query(10)).entries.len(), 1);
}

pub fn seen_signed_content_is_a_duplicate_under_any_delivery_id_across_reopens_and_reindex(
    fixture: &mut Fixture,
) {
    let content = || Some(ReplayKey::SignedContent([7; 32]));
    let first = single("id-1", "job:1", 1).with_replay_key(content());
    {
        let store = fixture.store();
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
    fixture.reopen();
    let store = fixture.store();
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
    assert_eq!(page(store, "job:1", query(10)).entries.len(), 2);
}

pub fn a_delivery_logged_without_a_replay_key_gains_the_one_reindex_reads_again(
    fixture: &mut Fixture,
) {
    let store = fixture.store();
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

pub fn recent_reads_every_subject_by_when_it_happened_in_pages(fixture: &mut Fixture) {
    let store = fixture.store();
    // Received a, b, c in turn; they happened at 9, 1 and 5.
    for (id, subject, occurred) in [("a", "job:1", 9), ("b", "salesdoc:2", 1), ("c", "job:3", 5)] {
        store.append(&[single(id, subject, occurred)]).unwrap();
    }
    let ids = |page: &crate::store::Page| event_ids(&page.entries);
    let first = store.recent(2, None).unwrap();
    assert_eq!(ids(&first), ["a", "c"]);
    let second = store.recent(2, first.next).unwrap();
    assert_eq!(ids(&second), ["b"]);
    assert!(second.next.is_none());
    // Reindex rebuilds the index.
    store.reindex(&|_| None).unwrap();
    assert_eq!(ids(&store.recent(5, None).unwrap()), ["a", "c", "b"]);
}

pub fn the_origin_is_the_oldest_entry_of_a_timeline(fixture: &mut Fixture) {
    let store = three_deliveries(fixture);
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

pub fn the_unmatched_count_survives_reindex(fixture: &mut Fixture) {
    let store = fixture.store();
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

pub fn stamps_change_with_everything_a_timeline_shows_and_nothing_else(fixture: &mut Fixture) {
    let store = fixture.store();
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

/// The tree root the integrity walk reports, and the one computed here from the deliveries'
/// own hashes (the way an outsider would, with the reference construction).
fn tree_roots(store: &dyn crate::store::Store) -> ([u8; 32], [u8; 32]) {
    use crate::trust::merkle::{Frontier, leaf_hash};
    let ChainReport::Intact { tree_root, .. } = store.verify_chain().unwrap() else {
        panic!("the chain is broken");
    };
    let mut outside = Frontier::default();
    for delivery in store.deliveries(1, 1000).unwrap() {
        let hash = delivery.hash();
        outside.push(leaf_hash(&hash));
    }
    (tree_root, outside.root())
}

pub fn retention_drops_old_bodies_and_keeps_hashes_chain_and_entries(fixture: &mut Fixture) {
    let store = three_deliveries(fixture);
    let (tree_before, outside) = tree_roots(store);
    assert_eq!(
        tree_before, outside,
        "the walk's tree is the deliveries' tree"
    );
    let day = chrono::Duration::days(1);
    assert_eq!(
        store.prune_bodies(Utc::now() - day).unwrap(),
        0,
        "all younger"
    );
    assert_eq!(store.prune_bodies(Utc::now() + day).unwrap(), 3);
    assert_eq!(
        store.prune_bodies(Utc::now() + day).unwrap(),
        0,
        "nothing left"
    );
    let delivery = store.delivery(2).unwrap().unwrap();
    assert!(delivery.body.is_none());
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 3, .. }
    ));
    assert_eq!(page(store, "job:1", query(10)).entries.len(), 3);
    assert_eq!(
        tree_roots(store).0,
        tree_before,
        "leaves are delivery hashes: dropping bodies leaves the tree as it was"
    );
}

pub fn erasing_an_address_redacts_it_everywhere_and_logs_the_erasure(fixture: &mut Fixture) {
    let store = fixture.store();
    an_email_bounced_by_ann(store, "job:5");
    let mentions = |store: &dyn crate::store::Store| {
        let mut found = 0;
        store
            .export(None, &mut |entry| {
                let json = serde_json::to_string(&entry).unwrap();
                found += usize::from(json.contains("ann@acme.test"));
                Ok(())
            })
            .unwrap();
        found
    };
    assert!(mentions(store) > 0);
    let target = ErasureTarget::email("Ann@acme.test").unwrap();
    let report = store.erase(&target, Utc::now()).unwrap();
    assert!(report.entries >= 1, "{report:?}");
    assert_eq!(report.raw_bodies, 1, "the callback's body");
    assert_eq!(report.subjects, vec!["job:5".parse::<Subject>().unwrap()]);
    assert_eq!(mentions(store), 0, "entries and roll-ups are redacted");
    assert!(store.delivery(2).unwrap().unwrap().body.is_none());
    assert!(store.delivery(1).unwrap().unwrap().body.is_some());
    // The erasure is itself a delivery in the chain, and on the timeline it touched.
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { deliveries: 3, .. }
    ));
    let kinds: Vec<String> = page(store, "job:5", query(10))
        .entries
        .iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    assert!(kinds.iter().any(|k| k == "system.erasure"), "{kinds:?}");
}

pub fn erasing_a_subject_redacts_its_timeline_only(fixture: &mut Fixture) {
    let store = fixture.store();
    store
        .append(&[
            email_sent("m1", "job:5", "sg-a"),
            email_sent("m2", "job:6", "sg-b"),
        ])
        .unwrap();
    let job: Subject = "job:5".parse().unwrap();
    let report = store
        .erase(&ErasureTarget::Subject(job.clone()), Utc::now())
        .unwrap();
    assert_eq!(report.subjects, vec![job]);
    assert_eq!(report.raw_bodies, 1);
    assert!(store.delivery(1).unwrap().unwrap().body.is_none());
    assert!(store.delivery(2).unwrap().unwrap().body.is_some());
}

pub fn exports_read_oldest_first_in_pages_that_cover_everything_once(fixture: &mut Fixture) {
    let store = fixture.store();
    // Late events and ties on occurred_at: the export follows the timeline's order.
    let mut batch: Vec<Capture> = (0..12)
        .map(|i| single(&format!("x{i}"), "job:7", (12 - i) / 2))
        .collect();
    batch.extend((0..3).map(|i| single(&format!("y{i}"), "job:8", i)));
    store.append(&batch).unwrap();
    let job: Subject = "job:7".parse().unwrap();
    for subject in [Some(&job), None] {
        let mut whole = Vec::new();
        let count = store
            .export(subject, &mut |entry| {
                whole.push(entry);
                Ok(())
            })
            .unwrap();
        assert_eq!(count as usize, whole.len());
        assert_eq!(whole.len(), if subject.is_some() { 12 } else { 15 });
        let order: Vec<_> = match subject {
            Some(_) => whole.iter().map(|e| (e.occurred_at, e.id)).collect(),
            None => whole.iter().map(|e| (e.received_at, e.id)).collect(),
        };
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "oldest first");
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store.export_page(subject, after, 5).unwrap();
            paged.extend(page.entries);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(paged, whole, "pages cover the export once, in its order");
    }
}

pub fn deliveries_read_in_seq_order_from_any_point(fixture: &mut Fixture) {
    let store = three_deliveries(fixture);
    let seqs = |from, limit| -> Vec<u64> {
        store
            .deliveries(from, limit)
            .unwrap()
            .iter()
            .map(|d| d.seq)
            .collect()
    };
    assert_eq!(seqs(1, 10), [1, 2, 3]);
    assert_eq!(seqs(2, 1), [2]);
    assert!(seqs(4, 10).is_empty());
    let newest_first = |before, limit| -> Vec<u64> {
        store
            .deliveries_before(before, limit)
            .unwrap()
            .iter()
            .map(|d| d.seq)
            .collect()
    };
    assert_eq!(newest_first(u64::MAX, 2), [3, 2]);
    assert_eq!(newest_first(3, 10), [2, 1]);
    assert!(newest_first(1, 10).is_empty());
    let newest = &store.deliveries_before(u64::MAX, 1).unwrap()[0];
    assert_eq!(newest.body.as_deref(), Some(&b"{\"id\":Some(\"c\")}"[..]));
    let delivery = store.delivery(3).unwrap().unwrap();
    assert_eq!(delivery.source, "hoops");
    assert_eq!(delivery.delivery_id.as_deref(), Some("c"));
    assert_eq!(delivery.body.as_deref(), Some(&b"{\"id\":Some(\"c\")}"[..]));
    assert!(store.delivery(4).unwrap().is_none());
}

pub fn sign_outs_are_kept_until_every_session_they_cover_expired(fixture: &mut Fixture) {
    use crate::store::Revocation;
    let store = fixture.store();
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
    let one = Revocation::Session {
        id: 7,
        expires: at(100),
    };
    let everywhere = Revocation::AllSessionsOf {
        username: "dana".to_owned(),
        issued_up_to: at(10),
        expires: at(500),
    };
    store.revoke_sessions(&one, at(0)).unwrap();
    store.revoke_sessions(&everywhere, at(1)).unwrap();
    let mut live = store.revocations(at(50)).unwrap();
    live.sort_by_key(|r| r.expires());
    assert_eq!(live, [one, everywhere.clone()]);
    assert_eq!(store.revocations(at(200)).unwrap(), [everywhere]);
    fixture.reopen();
    assert!(fixture.store().revocations(at(600)).unwrap().is_empty());
}

pub fn changes_follow_new_entries_late_attachments_and_email_status_in_commit_order(
    fixture: &mut Fixture,
) {
    let store = fixture.store();
    let job: Subject = "job:7".parse().unwrap();
    let changes = |after: ChangeCursor| store.changes(Feed::Subject(&job), after, 50).unwrap();
    let kinds = |changes: &[Change]| -> Vec<String> {
        changes
            .iter()
            .map(|change| change.entry.kind.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        store.latest_change(Feed::Subject(&job)).unwrap(),
        ChangeCursor::START
    );

    // A callback before its email: unmatched, no change on the job yet.
    store
        .append(&[callback("ev1", "sg-1", EmailStatus::Delivered, 5)])
        .unwrap();
    assert!(changes(ChangeCursor::START).is_empty());

    // The email arrives (late in time: it happened before the status change below, which
    // was received first): a change of its delivery, with the callback it attached folded
    // into it (the callback is no line of its own, so no change of its own).
    store.append(&[single("s1", "job:7", 50)]).unwrap();
    let opened_at = store.latest_change(Feed::Subject(&job)).unwrap();
    store.append(&[email_sent("m1", "job:7", "sg-1")]).unwrap();
    let after_email = changes(opened_at);
    assert_eq!(kinds(&after_email), ["email.sent"]);
    let email = &after_email[0].entry;
    assert_eq!(
        email.delivery_status.as_ref().unwrap().current,
        Some(EmailStatus::Delivered)
    );

    // A later callback changes the email again: the email is a change once more, as it now
    // reads.
    let before_open = store.latest_change(Feed::Subject(&job)).unwrap();
    assert_eq!(before_open, after_email[0].cursor);
    store
        .append(&[callback("ev2", "sg-1", EmailStatus::Opened, 9)])
        .unwrap();
    let after_open = changes(before_open);
    assert_eq!(kinds(&after_open), ["email.sent"]);
    let reread = after_open.iter().find(|c| c.entry.id == email.id).unwrap();
    assert_eq!(
        reread.entry.delivery_status.as_ref().unwrap().current,
        Some(EmailStatus::Opened)
    );

    // From the start, everything once per change, in order; resuming from any cursor gives
    // exactly the rest; a limit cuts the list, never a change in half.
    let all = changes(ChangeCursor::START);
    assert_eq!(kinds(&all), ["status.changed", "email.sent", "email.sent"]);
    for (i, change) in all.iter().enumerate() {
        assert_eq!(changes(change.cursor), all[i + 1..]);
    }
    assert_eq!(
        store
            .changes(Feed::Subject(&job), ChangeCursor::START, 2)
            .unwrap(),
        all[..2]
    );
    let other: Subject = "job:8".parse().unwrap();
    assert!(
        store
            .changes(Feed::Subject(&other), ChangeCursor::START, 50)
            .unwrap()
            .is_empty()
    );

    // Everything: every entry placed (matched or not, folded or not), attached or changed, in
    // commit order — what the home page and the unmatched list follow.
    let everything = || {
        store
            .changes(Feed::Everything, ChangeCursor::START, 50)
            .unwrap()
    };
    let anywhere = everything();
    assert_eq!(
        kinds(&anywhere),
        [
            "email.delivered",
            "status.changed",
            "email.delivered",
            "email.sent",
            "email.sent",
            "email.opened"
        ]
    );
    assert_eq!(
        store.latest_change(Feed::Everything).unwrap(),
        anywhere[5].cursor
    );

    // Reindex, reading every delivery again, rebuilds the same changes, cursors included.
    let logged = [
        callback("ev1", "sg-1", EmailStatus::Delivered, 5),
        single("s1", "job:7", 50),
        email_sent("m1", "job:7", "sg-1"),
        callback("ev2", "sg-1", EmailStatus::Opened, 9),
    ];
    let next = std::sync::Mutex::new(logged.iter());
    let in_seq_order = |_: &RawDelivery<'_>| {
        let capture = next.lock().unwrap().next()?;
        Some(capture.normalized.clone().into())
    };
    store.reindex(&in_seq_order).unwrap();
    assert_eq!(changes(ChangeCursor::START), all);
    assert_eq!(everything(), anywhere);
}

pub fn callbacks_that_found_their_email_are_folded_out_of_the_default_view(fixture: &mut Fixture) {
    let store = fixture.store();
    let folded = |callbacks: bool, category: Option<Category>| -> Vec<String> {
        let query = PageQuery {
            callbacks,
            category,
            ..query(50)
        };
        page(store, "job:7", query)
            .entries
            .iter()
            .map(|entry| entry.kind.as_str().to_owned())
            .collect()
    };
    // One callback before its email (attached later), one after, and a status change.
    store
        .append(&[callback("ev1", "sg-1", EmailStatus::Delivered, 5)])
        .unwrap();
    store.append(&[email_sent("m1", "job:7", "sg-1")]).unwrap();
    store
        .append(&[callback("ev2", "sg-1", EmailStatus::Opened, 9)])
        .unwrap();
    store.append(&[single("s1", "job:7", 7)]).unwrap();
    // A callback for an email nobody sent stays unmatched, as a line of its own there.
    store
        .append(&[callback("ev3", "sg-unknown", EmailStatus::Bounced, 8)])
        .unwrap();

    assert_eq!(folded(false, None), ["status.changed", "email.sent"]);
    assert_eq!(
        folded(true, None),
        [
            "email.opened",
            "status.changed",
            "email.delivered",
            "email.sent"
        ]
    );
    assert_eq!(folded(false, Some(Category::Communication)), ["email.sent"]);
    assert_eq!(
        folded(true, Some(Category::Communication)),
        ["email.opened", "email.delivered", "email.sent"]
    );
    assert_eq!(folded(true, Some(Category::Workflow)), ["status.changed"]);
    let unmatched = store.unmatched(10, None).unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].kind.as_str(), "email.bounced");
    // The email's own line tells the callbacks.
    let email = store
        .subject_entries(&"job:7".parse().unwrap(), &query(50))
        .unwrap()
        .entries
        .into_iter()
        .find(|entry| entry.kind.as_str() == "email.sent")
        .unwrap();
    assert_eq!(email.delivery_status.unwrap().history.len(), 2);
    // An export, and the origin, see every line.
    let mut exported = 0;
    store
        .export(Some(&"job:7".parse().unwrap()), &mut |_| {
            exported += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(exported, 4);
}

pub fn lane_counts_agree_with_the_pages_they_count_and_stop_at_the_cap(fixture: &mut Fixture) {
    use crate::store::{LaneCounts, project::Lanes};
    let store = fixture.store();
    store.append(&[email_sent("m1", "job:7", "sg-1")]).unwrap();
    store
        .append(&[
            callback("ev1", "sg-1", EmailStatus::Delivered, 5),
            callback("ev2", "sg-1", EmailStatus::Opened, 9),
        ])
        .unwrap();
    store
        .append(&[single("s1", "job:7", 7), single("s2", "job:7", 8)])
        .unwrap();
    let job: Subject = "job:7".parse().unwrap();
    let counts = store.lane_counts(&job).unwrap();
    for category in std::iter::once(None).chain(Category::ALL.map(Some)) {
        for callbacks in [false, true] {
            let lanes = Lanes {
                category,
                callbacks,
            };
            let query = PageQuery {
                category,
                callbacks,
                ..query(PageQuery::MAX_LIMIT)
            };
            let shown = page(store, "job:7", query).entries.len();
            let counted = counts.lines(lanes);
            assert_eq!(
                (counted.at_least, counted.capped),
                (shown, false),
                "{lanes:?}"
            );
        }
    }
    assert_eq!(counts.lines(Lanes::EVERYTHING).to_string(), "5");

    // A long history is counted only as far as the cap, lane by lane.
    let many: Vec<Capture> = (0..LaneCounts::UP_TO + 5)
        .map(|n| single(&format!("w{n}"), "job:8", n as i64))
        .collect();
    store.append(&many).unwrap();
    store.append(&[email_sent("m2", "job:8", "sg-2")]).unwrap();
    let counts = store.lane_counts(&"job:8".parse().unwrap()).unwrap();
    let workflow = Lanes {
        category: Some(Category::Workflow),
        callbacks: false,
    };
    assert_eq!(counts.lines(workflow).to_string(), "100+");
    assert_eq!(counts.lines(Lanes::EVERYTHING).to_string(), "101+");
    let email = Lanes {
        category: Some(Category::Communication),
        callbacks: false,
    };
    assert_eq!(counts.lines(email).to_string(), "1");
    // A subject nothing was received for has nothing in any lane.
    let none = store.lane_counts(&"job:404".parse().unwrap()).unwrap();
    assert_eq!(none.lines(Lanes::EVERYTHING).to_string(), "0");
}

pub fn tallies_add_up_survive_reopening_and_drop_old_buckets(fixture: &mut Fixture) {
    use crate::store::tally::{BUCKET_SECS, TallyBatch, TallyRow, bucket_of};
    let first = bucket_of(at(0));
    let row = |source: &str, bucket: i64, outcome: &str, count| TallyRow {
        source: source.to_owned(),
        bucket: first + bucket * BUCKET_SECS,
        outcome: outcome.to_owned(),
        count,
    };
    let store = fixture.store();
    assert_eq!(store.tally(at(0)).unwrap(), crate::store::Tally::default());
    store
        .add_to_tally(&TallyBatch {
            rows: vec![
                row("hoops", 0, "stored", 2),
                row("hoops", 0, "refused:bad_signature", 1),
            ],
            last_stored: vec![("hoops".to_owned(), at(100))],
            drop_before: 0,
        })
        .unwrap();
    // Another gateway's counts add to these; an earlier last time changes nothing.
    store
        .add_to_tally(&TallyBatch {
            rows: vec![row("hoops", 0, "stored", 3), row("xero", 1, "duplicate", 1)],
            last_stored: vec![("hoops".to_owned(), at(50)), ("xero".to_owned(), at(400))],
            drop_before: 0,
        })
        .unwrap();
    fixture.reopen();
    let store = fixture.store();
    let tally = store.tally(at(0)).unwrap();
    assert_eq!(tally.count("hoops", "stored", at(0)), 5);
    assert_eq!(
        tally.refusals("hoops", at(0)),
        [("bad_signature".to_owned(), 1)]
    );
    assert_eq!(tally.count("xero", "duplicate", at(0)), 1);
    assert_eq!(tally.last_stored["hoops"], at(100));
    assert_eq!(tally.last_stored["xero"], at(400));
    // Reading from a later bucket leaves the earlier out.
    let later = store.tally(at(BUCKET_SECS)).unwrap();
    assert_eq!(later.count("hoops", "stored", at(0)), 0);
    assert_eq!(later.count("xero", "duplicate", at(0)), 1);
    // Old buckets go when a batch says so.
    store
        .add_to_tally(&TallyBatch {
            rows: Vec::new(),
            last_stored: Vec::new(),
            drop_before: first + BUCKET_SECS,
        })
        .unwrap();
    let kept = store.tally(at(0)).unwrap();
    assert_eq!(kept.rows, vec![row("xero", 1, "duplicate", 1)]);
    assert_eq!(kept.last_stored.len(), 2, "last times are kept");
}

pub fn alert_records_change_only_from_the_revision_read_and_survive_reopening(
    fixture: &mut Fixture,
) {
    use crate::store::AlertRecord;
    let record = |firing: bool, change: u64| AlertRecord {
        firing,
        since: at(change as i64),
        summary: format!("change {change}"),
        change,
        notified: 0,
        attempts: 0,
        next_attempt: None,
        last_error: None,
    };
    let store = fixture.store();
    assert!(store.alerts().unwrap().is_empty());
    // Two gateways see the alert fire: the first to swap wins, the other is told no.
    assert!(
        store
            .swap_alert("xero-silent", None, &record(true, 1))
            .unwrap()
    );
    assert!(
        !store
            .swap_alert("xero-silent", None, &record(true, 1))
            .unwrap()
    );
    assert!(store.swap_alert("flagged", None, &record(true, 1)).unwrap());
    // A swap from the revision read wins once; from a stale one, never.
    assert!(
        store
            .swap_alert("xero-silent", Some(1), &record(false, 2))
            .unwrap()
    );
    assert!(
        !store
            .swap_alert("xero-silent", Some(1), &record(true, 3))
            .unwrap()
    );
    assert!(
        !store
            .swap_alert("xero-silent", None, &record(true, 3))
            .unwrap()
    );
    fixture.reopen();
    let alerts = fixture.store().alerts().unwrap();
    let names: Vec<(&str, u64)> = alerts
        .iter()
        .map(|alert| (alert.name.as_str(), alert.revision))
        .collect();
    assert_eq!(names, [("flagged", 1), ("xero-silent", 2)]);
    assert_eq!(alerts[1].record, record(false, 2));
}

pub fn renormalizing_redoes_in_place_what_it_can_with_the_ids_reindex_gives(fixture: &mut Fixture) {
    use crate::activity::EntryId;
    use crate::sources::RawDelivery;
    use crate::store::project::RenormalizeRequest;
    let store = fixture.store();
    let mut flagged = capture(Some("f"), Vec::new());
    flagged.normalized = Normalized::flagged(
        Some("f".to_owned()),
        Outcome::Unparseable {
            reason: "a shape today's normalizer does not know".to_owned(),
        },
    );
    let mut generic = capture(
        Some("g"),
        vec![entry("job:1", Category::System, 5, Some("g"))],
    );
    generic.normalized.outcome = Outcome::UnknownType {
        event_type: "job.archived".to_owned(),
    };
    store
        .append(&[
            flagged,
            generic,
            single("n", "job:1", 3),
            email_sent("e", "job:3", "msg-1"),
        ])
        .unwrap();
    // The normalizer learned both shapes, and now words the email differently.
    let learned = |raw: &RawDelivery<'_>| {
        let id = raw
            .headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .map(|(_, v)| v.clone())?;
        let entries = match id.as_str() {
            "f" => vec![entry("job:2", Category::Workflow, 7, Some("f"))],
            "g" => vec![entry("job:1", Category::Workflow, 5, Some("g"))],
            "n" => vec![entry("job:1", Category::Workflow, 3, Some("n"))],
            _ => {
                let mut email = email_sent("e", "job:3", "msg-1").normalized;
                email.entries[0].summary = "Reworded".to_owned();
                return Some(email.into());
            }
        };
        Some(
            Normalized {
                delivery_id: Some(id),
                entries,
                outcome: Outcome::Normalized,
            }
            .into(),
        )
    };
    let request = RenormalizeRequest {
        by: "olive".to_owned(),
        selection: "deliveries 1-4".to_owned(),
        at: Utc::now(),
    };
    let report = store
        .renormalize(&[1, 2, 3, 4], &learned, &request)
        .unwrap();
    assert_eq!(report.logged_as, 5);
    let record = report.record;
    assert_eq!(record.deliveries, [1, 2, 3, 4]);
    assert_eq!(record.changed, [1, 2]);
    assert_eq!(
        record.needs_reindex,
        [4],
        "an email others hang off waits for reindex"
    );
    assert!(record.unreadable.is_empty());
    // The flagged delivery made its entry, with the id reindex gives it, and is no longer
    // flagged; the generic entry moved to the lane of its new category.
    let first = store.delivery(1).unwrap().unwrap();
    assert_eq!(first.outcome, Outcome::Normalized);
    let made = EntryId::derive(first.received_at, 1, 0);
    assert_eq!(store.entry(made).unwrap().unwrap().summary, "at 7");
    let job2 = page(store, "job:2", query(10));
    assert_eq!(
        job2.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [made]
    );
    let workflow = PageQuery {
        category: Some(Category::Workflow),
        ..query(10)
    };
    assert_eq!(page(store, "job:1", workflow).entries.len(), 2);
    let system = PageQuery {
        category: Some(Category::System),
        ..query(10)
    };
    assert!(page(store, "job:1", system).entries.is_empty());
    // The run is logged, after everything it changed.
    let audit = store.delivery(5).unwrap().unwrap();
    assert_eq!(audit.source, crate::sources::internal::SOURCE);
    assert_eq!(audit.outcome, Outcome::Normalized);
    let body: serde_json::Value = serde_json::from_slice(audit.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["renormalization"]["by"], "olive");
    assert_eq!(
        body["renormalization"]["changed"],
        serde_json::json!([1, 2])
    );
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { .. }
    ));

    // A second run changes nothing and keeps the ids.
    let again = store
        .renormalize(&[1, 2, 3], &learned, &request)
        .unwrap()
        .record;
    assert!(again.changed.is_empty(), "{again:?}");
    assert_eq!(page(store, "job:2", query(10)), job2);
    // What it made is what a full reindex makes.
    let before = (page(store, "job:1", query(10)), job2);
    store.reindex(&learned).unwrap();
    assert_eq!(
        (
            page(store, "job:1", query(10)),
            page(store, "job:2", query(10))
        ),
        before
    );
}
