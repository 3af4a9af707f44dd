//! The search cases every backend must pass: one results contract (see [`crate::search`]).

use chrono::Utc;

use super::Fixture;
use super::support::*;
use crate::activity::details::{
    Details, EmailMessage, InvoiceInfo, ProofDecision, ProofInfo, Text,
};
use crate::activity::redact::ErasureTarget;
use crate::activity::{Actor, ActorKind, Category, EntryKind, NewEntry};
use crate::search::{self, Indexing, SearchParams};
use crate::store::Store;

/// Brings an index that follows the timelines up to them, as the background task would.
fn caught_up(store: &dyn Store) {
    while store.index_for_search().unwrap() == Indexing::Behind {}
}

fn params(q: &str) -> SearchParams {
    SearchParams {
        q: Some(q.to_owned()),
        ..SearchParams::default()
    }
}

/// The event ids found for `params`, in order, and the snippets.
fn found(store: &dyn Store, params: SearchParams) -> (Vec<String>, Vec<String>) {
    caught_up(store);
    let request = params.parse(chrono_tz::UTC).unwrap();
    let results = search::run(store, &request).unwrap();
    assert_eq!(results.behind.deliveries, 0, "caught up");
    let ids = results
        .found
        .iter()
        .map(|found| found.entry.source.event_id.clone().unwrap_or_default())
        .collect();
    let snippets = results
        .found
        .iter()
        .map(|found| found.snippet.as_html().to_owned())
        .collect();
    (ids, snippets)
}

fn ids(store: &dyn Store, q: &str) -> Vec<String> {
    found(store, params(q)).0
}

/// The entry with event id `id`: a `kind` on `subject` that happened at `occurred` and
/// reads `summary`.
fn new_entry(
    id: &str,
    subject: &str,
    occurred: i64,
    (kind, category): (&str, Category),
    summary: &str,
    details: Details,
) -> NewEntry {
    let mut new = entry(subject, category, occurred, Some(id));
    new.kind = EntryKind::new(kind).unwrap();
    new.summary = summary.to_owned();
    new.details = details;
    new
}

/// A small shop's week: an email about a reprint, an invoice, a proof approval, a note that
/// mentions the invoice's number in passing, and a hostile summary.
fn corpus(store: &dyn Store) {
    let email = new_entry(
        "e-reprint",
        "job:1042",
        10,
        ("email.sent", Category::Communication),
        "Email sent: Your reprint is ready",
        Details::Email {
            message: EmailMessage {
                from: Some("studio@printshop.example".into()),
                to: vec!["Maria@Acme-Coffee.example".into()],
                subject: Some("Your reprint is ready".into()),
                text: Some("Hi Maria, the reprint of the Acme mugs ships Monday.".into()),
                ..Default::default()
            },
        },
    );
    let invoice = new_entry(
        "e-inv",
        "salesdoc:Q-7",
        20,
        ("invoice.created", Category::Accounting),
        "Invoice INV-3307 created",
        Details::Invoice {
            invoice: InvoiceInfo {
                number: Some(Text("INV-3307".into())),
                ..Default::default()
            },
        },
    );
    let mut proof = new_entry(
        "e-proof",
        "job:1042",
        30,
        ("proof.approved", Category::Workflow),
        "Proof v2 approved",
        Details::Proof {
            proof: ProofInfo {
                version: Some(Text("v2".into())),
                name: Some("Mug wrap".into()),
                id: None,
            },
            decision: ProofDecision::Approved,
            comment: Some("Looks great, go ahead".into()),
        },
    );
    proof.actor = Actor {
        kind: ActorKind::Customer,
        id: Some("c-17".into()),
        name: "Dana Whitfield".into(),
    };
    let note = new_entry(
        "e-note",
        "job:7",
        40,
        ("user.action", Category::System),
        "Note added",
        Details::Note {
            action: None,
            description: Some("Customer asked whether 3307 ships with the reprint".into()),
        },
    );
    let mut hostile = entry("job:7", Category::Workflow, 50, Some("e-hostile"));
    hostile.summary = r#"<script>alert(1)</script><img src=x onerror=alert(2)> reprint"#.into();
    for new in [email, invoice, proof, note, hostile] {
        let id = new.event_id.clone();
        store.append(&[capture(id.as_deref(), vec![new])]).unwrap();
    }
}

pub fn search_finds_words_phrases_prefixes_and_whole_values(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    let mut reprint = ids(store, "reprint");
    reprint.sort();
    assert_eq!(reprint, ["e-hostile", "e-note", "e-reprint"]);
    assert_eq!(ids(store, "REPRINT acme"), ["e-reprint"]);
    assert_eq!(ids(store, r#""reprint is ready""#), ["e-reprint"]);
    assert!(
        ids(store, r#""ready is reprint""#).is_empty(),
        "a phrase keeps its order"
    );
    assert_eq!(ids(store, "whitf*"), ["e-proof"]);
    assert_eq!(ids(store, "to:maria@acme-coffee.example"), ["e-reprint"]);
    assert_eq!(ids(store, "to:maria*"), ["e-reprint"]);
    assert!(ids(store, "from:maria@acme-coffee.example").is_empty());
    assert_eq!(ids(store, "invoice:inv-3307"), ["e-inv"]);
    assert_eq!(ids(store, "proof:v2 approved"), ["e-proof"]);
    assert_eq!(ids(store, "customer:nobody").len(), 0);
    assert!(ids(store, "nothingmatchesthis").is_empty());
    assert_eq!(ids(store, "INV-3307"), ["e-inv"]);
    assert_eq!(ids(store, "inv-33*"), ["e-inv"]);
}

pub fn exact_values_rank_above_words(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    // `3307` is a word of the note and of the invoice's number, and the invoice's whole
    // number is only `inv-3307`: both match, the note by its word alone.
    let mut both = ids(store, "3307");
    both.sort();
    assert_eq!(both, ["e-inv", "e-note"]);
    // An address as typed matches as a whole value, and ranks above the words it is made of.
    let extra = new_entry(
        "e-words",
        "job:8",
        10,
        ("user.action", Category::System),
        "Note about maria at acme coffee example",
        Details::Note {
            action: None,
            description: Some("maria acme coffee example maria acme coffee example".into()),
        },
    );
    store
        .append(&[capture(Some("e-words"), vec![extra])])
        .unwrap();
    assert_eq!(
        ids(store, "maria@acme-coffee.example"),
        ["e-reprint", "e-words"]
    );
}

pub fn search_filters_combine_with_the_text(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    let with = |q: &str, edit: &dyn Fn(&mut SearchParams)| {
        let mut p = params(q);
        edit(&mut p);
        let mut found = found(store, p).0;
        found.sort();
        found
    };
    assert_eq!(
        with("reprint", &|p| p.category = Some("communication".into())),
        ["e-reprint"]
    );
    assert_eq!(
        with("reprint", &|p| p.subject = Some("job:7".into())),
        ["e-hostile", "e-note"]
    );
    assert_eq!(
        with("reprint", &|p| p.kind = Some("user.action".into())),
        ["e-note"]
    );
    assert_eq!(
        with("", &|p| p.actor = Some("dana whitfield".into())),
        ["e-proof"]
    );
    assert_eq!(with("", &|p| p.actor = Some("C-17".into())), ["e-proof"]);
    assert_eq!(
        with("kind:invoice.created", &|p| p.source = Some("hoops".into())),
        ["e-inv"]
    );
    assert!(with("kind:invoice.created", &|p| p.source = Some("xero".into())).is_empty());
    // Dates: from is inclusive, to (a time here) exclusive.
    let window = |p: &mut SearchParams| {
        p.from = Some(at(20).to_rfc3339());
        p.to = Some(at(40).to_rfc3339());
    };
    assert_eq!(with("", &window), ["e-inv", "e-proof"]);
    assert_eq!(with("approved", &window), ["e-proof"]);
}

pub fn search_pages_cover_everything_once_in_both_orders(fixture: &mut Fixture) {
    let store = fixture.store();
    // 25 entries, several at the same moment (ties are ordered by id).
    let batch: Vec<_> = (0..25)
        .map(|n| {
            let mut new = entry(
                "job:9",
                Category::Workflow,
                n / 3,
                Some(&format!("p{n:02}")),
            );
            new.summary = format!("Pallet {n} packed");
            capture(Some(&format!("p{n:02}")), vec![new])
        })
        .collect();
    store.append(&batch).unwrap();
    for sort in ["newest", "relevance"] {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let request = SearchParams {
                sort: Some(sort.into()),
                limit: Some(10),
                before: before.clone(),
                ..params("pallet")
            };
            caught_up(store);
            let results = search::run(store, &request.parse(chrono_tz::UTC).unwrap()).unwrap();
            assert!(results.found.len() <= 10);
            seen.extend(results.found.iter().map(|found| found.entry.clone()));
            match results.next {
                Some(next) => before = Some(next.to_string()),
                None => break,
            }
        }
        let mut ids: Vec<_> = seen.iter().map(|entry| entry.id).collect();
        assert_eq!(ids.len(), 25, "{sort}: every result once");
        if sort == "newest" {
            let keys: Vec<_> = seen.iter().map(|e| (e.occurred_at, e.id)).collect();
            let mut sorted = keys.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            assert_eq!(keys, sorted, "newest first, ties by id");
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 25, "{sort}: no result twice");
    }
}

pub fn search_snippets_mark_matches_and_stay_escaped(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    let (found_ids, snippets) = found(store, params("alert reprint"));
    assert_eq!(found_ids, ["e-hostile"]);
    let snippet = &snippets[0];
    assert!(snippet.contains("<mark>alert</mark>"), "{snippet}");
    let without_marks = snippet.replace("<mark>", "").replace("</mark>", "");
    assert!(!without_marks.contains('<'), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;"), "{snippet}");
    let (_, snippets) = found(store, params("mugs"));
    assert!(
        snippets[0].contains("the reprint of the Acme <mark>mugs</mark>"),
        "{snippets:?}"
    );
}

pub fn erased_text_is_not_findable(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    an_email_bounced_by_ann(store, "job:5");
    assert_eq!(ids(store, "to:ann@acme.test"), ["ev1"]);
    assert_eq!(ids(store, "ann"), ["ev1"]);
    let target = ErasureTarget::email("ann@acme.test").unwrap();
    store.erase(&target, Utc::now()).unwrap();
    assert!(ids(store, "to:ann@acme.test").is_empty());
    assert!(ids(store, "ann").is_empty());
    assert!(ids(store, "ann@acme.test").is_empty());
    // The rest stays findable.
    assert_eq!(ids(store, "to:maria@acme-coffee.example"), ["e-reprint"]);
}

pub fn reindex_and_retention_keep_entries_searchable(fixture: &mut Fixture) {
    let store = fixture.store();
    corpus(store);
    let before: Vec<_> = ["reprint", "invoice:INV-3307", "whitf*"]
        .iter()
        .map(|q| ids(store, q))
        .collect();
    store
        .prune_bodies(Utc::now() + chrono::Duration::days(1))
        .unwrap();
    let mut logged = Vec::new();
    store
        .export(None, &mut |entry| {
            logged.push(entry);
            Ok(())
        })
        .unwrap();
    assert!(
        store.delivery(1).unwrap().unwrap().body.is_none(),
        "bodies dropped"
    );
    let after: Vec<_> = ["reprint", "invoice:INV-3307", "whitf*"]
        .iter()
        .map(|q| ids(store, q))
        .collect();
    assert_eq!(after, before, "retention drops bodies, not entries");
    // Reindex with the bodies gone keeps the entries (nothing to read again) and the index
    // is rebuilt from the new feed to the same results.
    store.reindex(&|_| None).unwrap();
    let rebuilt: Vec<_> = ["reprint", "invoice:INV-3307", "whitf*"]
        .iter()
        .map(|q| ids(store, q))
        .collect();
    assert_eq!(rebuilt, before);
    assert!(!logged.is_empty());
}
