//! Properties over random inputs: every signing scheme round-trips and refuses any single
//! altered byte; cursor pages over random timelines neither skip nor repeat an entry and come
//! newest first; late events land in `occurred_at` order whatever the arrival order; any
//! timeline, at any time in any zone, renders and serializes without a panic.

use crate::common;

use std::collections::HashSet;
use std::sync::LazyLock;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use hooktrail::activity::details::{
    AccountingEvent, Amount, DeliveryStatus, Details, EmailEvent, EmailMessage, EmailStatus,
    InvoiceInfo, PurchaseOrderAction, PurchaseOrderInfo, StatusUpdate, Text,
};
use hooktrail::activity::{
    Actor, ActorKind, Category, Entry, EntryFlag, EntryId, EntryKind, NewEntry, Normalized,
    Outcome, SourceRef, Subject, SubjectKind,
};
use hooktrail::config::Config;
use hooktrail::render::view::{DayGroup, TrackedClock, group_by_day};
use hooktrail::render::{Origin, Renderer};
use hooktrail::store::prelude::*;
use hooktrail::store::redb::RedbStore;
use hooktrail::store::{Capture, PageQuery};
use proptest::prelude::*;

const NOW: i64 = 1_772_700_000;

/// One source of every kind, and the generic HMAC source in several shapes.
fn signing_config() -> Config {
    let extra = common::provider_sources()
        + r#"
[[sources]]
name = "hmac-hex"
kind = "hmac"
secrets = ["zapier-secret"]
header = "X-Signature"
algorithm = "sha256"
encoding = "hex"
prefix = "sha256="

[[sources]]
name = "hmac-base64"
kind = "hmac"
secrets = ["make-secret"]
header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
signed_content = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"

[[sources]]
name = "hmac-sha1"
kind = "hmac"
secrets = ["legacy-secret"]
header = "X-Hub-Signature"
algorithm = "sha1"
encoding = "hex"
signed_content = "{id}.{timestamp}.{body}"
timestamp_header = "X-Timestamp"
id_header = "X-Delivery-Id"
"#;
    common::parse_config(&common::config_text(
        std::path::Path::new("unused.redb"),
        &extra,
    ))
}

/// Schemes whose signature covers the body. Postmark signs nothing (basic auth); Mailgun signs
/// only its timestamp and token.
fn signs_the_body(source: &str) -> bool {
    !matches!(source, "postmark" | "mailgun")
}

/// Where the signature travels: the header holding it, or `None` for Mailgun (in the body).
fn signature_header(headers: &[(String, String)]) -> Option<usize> {
    headers.iter().position(|(name, _)| {
        let name = name.to_ascii_lowercase();
        name.contains("signature") || name == "authorization"
    })
}

/// An `Authorization` value with its scheme in lower case: schemes are case-insensitive,
/// credentials are not.
fn scheme_folded(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, credentials)) => format!("{} {credentials}", scheme.to_ascii_lowercase()),
        None => value.to_owned(),
    }
}

fn hex_encoded(source: &str) -> bool {
    matches!(source, "stripe" | "hmac-hex" | "hmac-sha1" | "mailgun")
}

/// `text` with the byte at `at` (modulo its length) replaced by a different printable ASCII
/// character chosen by `pick`.
fn replace_char(text: &str, at: usize, pick: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % bytes.len();
    let printable = 0x21 + pick % 94; // '!'..='~'
    bytes[at] = if printable == bytes[at] {
        if printable == b'~' {
            b'!'
        } else {
            printable + 1
        }
    } else {
        printable
    };
    String::from_utf8(bytes).expect("ASCII stays UTF-8")
}

/// A body the source's signer accepts: Mailgun's signer wraps a JSON object.
fn body_for(source: &str, raw: &[u8]) -> Vec<u8> {
    if source == "mailgun" {
        serde_json::to_vec(
            &serde_json::json!({"event": "delivered", "note": String::from_utf8_lossy(raw)}),
        )
        .unwrap()
    } else {
        raw.to_vec()
    }
}

const SOURCES: [&str; 10] = [
    "hoops",
    "quickbooks",
    "xero",
    "stripe",
    "sendgrid",
    "mailgun",
    "postmark",
    "hmac-hex",
    "hmac-base64",
    "hmac-sha1",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn signing_then_verifying_succeeds_and_any_altered_byte_fails(
        which in 0..SOURCES.len(),
        raw in proptest::collection::vec(any::<u8>(), 0..300),
        flip_at in any::<usize>(),
        flip_with in 1u8..=255,
        pick in any::<u8>(),
    ) {
        let config = signing_config();
        let name = SOURCES[which];
        let source = config.source(name).unwrap();
        let body = body_for(name, &raw);
        let signed = source.sign(&body, NOW, None).unwrap();
        prop_assert!(
            source.verify(&signed.headers, &signed.body, NOW).is_ok(),
            "{name}: a fresh signature must verify"
        );

        if signs_the_body(name) && !signed.body.is_empty() {
            let mut altered = signed.body.clone();
            let at = flip_at % altered.len();
            altered[at] ^= flip_with;
            prop_assert!(
                source.verify(&signed.headers, &altered, NOW).is_err(),
                "{name}: body byte {at} altered, still verified"
            );
        }

        match signature_header(&signed.headers) {
            Some(index) => {
                let original = &signed.headers[index].1;
                let altered = replace_char(original, flip_at, pick);
                // Hex digits decode the same in either case, and an authorization scheme is
                // case-insensitive (`BASIC` is Basic): not a different signature.
                prop_assume!(!(hex_encoded(name) && altered.eq_ignore_ascii_case(original)));
                let is_authorization = signed.headers[index].0.eq_ignore_ascii_case("authorization");
                prop_assume!(!(is_authorization && scheme_folded(&altered) == scheme_folded(original)));
                let mut headers = signed.headers.clone();
                headers[index].1 = altered;
                prop_assert!(
                    source.verify(&headers, &signed.body, NOW).is_err(),
                    "{name}: signature header altered ({:?} → {:?}), still verified",
                    original, headers[index].1
                );
            }
            None => {
                // Mailgun: the signature is a hex field of the body's `signature` block.
                let value: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
                let signature = value["signature"]["signature"].as_str().unwrap().to_owned();
                let altered = replace_char(&signature, flip_at, pick);
                prop_assume!(!altered.eq_ignore_ascii_case(&signature));
                let text = String::from_utf8(signed.body.clone()).unwrap();
                let body = text.replace(&signature, &altered);
                prop_assert!(source.verify(&signed.headers, body.as_bytes(), NOW).is_err());
            }
        }
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(NOW + secs, 0).unwrap()
}

/// A delivery with one entry on job:p, at `occurred` seconds, in `category`.
fn capture(n: usize, occurred: i64, category: Category) -> Capture {
    let entry = NewEntry {
        kind: EntryKind::new("status.changed").unwrap(),
        category,
        occurred_at: at(occurred),
        actor: Actor::system(),
        subjects: vec!["job:p".parse().unwrap()],
        summary: format!("#{n} at {occurred}"),
        details: Details::StatusChange {
            from: None,
            to: format!("#{n}"),
        },
        event_id: None,
        correlation: Vec::new(),
    };
    Capture::new(
        "hoops",
        Utc::now(),
        Vec::new(),
        Bytes::from(format!("delivery {n}")),
        Normalized {
            delivery_id: Some(format!("msg_{n}")),
            entries: vec![entry],
            outcome: Outcome::Normalized,
        },
    )
}

/// Appends the timeline in arrival order, in batches of the given sizes (cycled).
fn store_timeline(
    timeline: &[(i64, Category)],
    batches: &[usize],
) -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("prop.redb")).unwrap();
    let captures: Vec<Capture> = timeline
        .iter()
        .enumerate()
        .map(|(n, (occurred, category))| capture(n, *occurred, *category))
        .collect();
    let mut rest = captures.as_slice();
    for size in batches.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, later) = rest.split_at((*size).min(rest.len()));
        store.append(batch).unwrap();
        rest = later;
    }
    (dir, store)
}

fn walk(store: &RedbStore, limit: usize, category: Option<Category>) -> Vec<Entry> {
    let subject = "job:p".parse().unwrap();
    let mut query = PageQuery {
        callbacks: true,
        limit,
        before: None,
        category,
    };
    let mut entries = Vec::new();
    loop {
        let page = store.subject_entries(&subject, &query).unwrap();
        assert!(page.entries.len() <= limit);
        entries.extend(page.entries);
        match page.next {
            Some(cursor) => query.before = Some(cursor),
            None => return entries,
        }
    }
}

fn category() -> impl Strategy<Value = Category> {
    proptest::sample::select(Category::ALL.to_vec())
}

proptest! {
    // Each case writes a redb file with an fsync per batch: few cases, still many shapes.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cursor_pages_neither_skip_nor_repeat_and_come_newest_first(
        // Few distinct times, so ties (broken by entry id) are common.
        timeline in proptest::collection::vec((0i64..20, category()), 0..40),
        batches in proptest::collection::vec(1usize..6, 1..4),
        limit in 1usize..8,
        filter in proptest::option::of(category()),
    ) {
        let (_dir, store) = store_timeline(&timeline, &batches);
        let entries = walk(&store, limit, filter);

        let expected = timeline.iter().filter(|(_, c)| filter.is_none_or(|f| f == *c)).count();
        prop_assert_eq!(entries.len(), expected, "an entry was skipped or repeated");
        let ids: HashSet<_> = entries.iter().map(|e| e.id).collect();
        prop_assert_eq!(ids.len(), entries.len(), "an entry was repeated");
        for pair in entries.windows(2) {
            let newer = (pair[0].occurred_at, pair[0].id);
            let older = (pair[1].occurred_at, pair[1].id);
            prop_assert!(newer > older, "not newest first: {:?} then {:?}", newer, older);
        }
        if let Some(filter) = filter {
            prop_assert!(entries.iter().all(|e| e.category == filter));
        }
    }

    #[test]
    fn late_events_land_in_occurred_at_order_whatever_the_arrival_order(
        timeline in proptest::collection::vec(-100_000i64..100_000, 1..30)
            .prop_shuffle(),
        batches in proptest::collection::vec(1usize..5, 1..3),
    ) {
        let timeline: Vec<(i64, Category)> =
            timeline.into_iter().map(|t| (t, Category::Workflow)).collect();
        let (_dir, store) = store_timeline(&timeline, &batches);
        let shown: Vec<DateTime<Utc>> =
            walk(&store, PageQuery::MAX_LIMIT, None).iter().map(|e| e.occurred_at).collect();
        let mut expected: Vec<DateTime<Utc>> = timeline.iter().map(|(t, _)| at(*t)).collect();
        expected.sort_by(|a, b| b.cmp(a));
        prop_assert_eq!(shown, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering is total: whatever a webhook carried, and whenever it claims it happened, a page
// renders it and the API serializes it.

/// Any instant chrono can hold, weighted towards its limits and towards the present (where
/// relative times and day headings change).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let clamp = |seconds: i64, nanos: u32| {
        DateTime::from_timestamp(seconds, nanos).unwrap_or(if seconds < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    };
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    prop_oneof![
        (any::<i64>(), 0u32..2_000_000_000).prop_map(move |(s, n)| clamp(s, n)),
        (min..=max, 0u32..1_000_000_000).prop_map(move |(s, n)| clamp(s, n)),
        (min..min + 3 * 86_400).prop_map(move |s| clamp(s, 0)),
        (max - 3 * 86_400..=max).prop_map(move |s| clamp(s, 999_999_999)),
        (-90 * 86_400i64..90 * 86_400).prop_map(move |d| clamp(NOW + d, 0)),
    ]
}

/// Any text, and text of the kinds pages have to be careful with.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        proptest::sample::select(vec![
            "<script>alert(1)</script>".to_owned(),
            "\u{202e}\u{0}\u{ffff}".to_owned(),
            "{{summary}}".to_owned(),
            String::new(),
        ]),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    "-?[0-9]{1,18}(\\.[0-9]{1,8})?".prop_map(|text| Amount::parse(&text).unwrap())
}

fn currency() -> impl Strategy<Value = Option<String>> {
    let codes = [
        "USD", "usd", "EUR", "JPY", "PYG", "XPF", "BIF", "KWD", "BHD", "CLF", "XAU", "XXX", "XYZ",
        " gbp ",
    ];
    prop_oneof![
        Just(None),
        proptest::sample::select(codes.to_vec()).prop_map(|code| Some(code.to_owned())),
        text().prop_map(Some),
    ]
}

fn email_status() -> impl Strategy<Value = EmailStatus> {
    proptest::sample::select(vec![
        EmailStatus::Processed,
        EmailStatus::Deferred,
        EmailStatus::Delivered,
        EmailStatus::Bounced,
        EmailStatus::Dropped,
        EmailStatus::Opened,
        EmailStatus::Clicked,
        EmailStatus::SpamReport,
        EmailStatus::Unsubscribed,
        EmailStatus::Resubscribed,
    ])
}

fn invoice() -> impl Strategy<Value = InvoiceInfo> {
    (
        proptest::option::of(text()),
        proptest::option::of(amount()),
        currency(),
    )
        .prop_map(|(number, total, currency)| InvoiceInfo {
            id: None,
            number: number.map(Text),
            total,
            currency,
        })
}

fn details() -> impl Strategy<Value = Details> {
    prop_oneof![
        (
            invoice(),
            amount(),
            currency(),
            proptest::option::of(text())
        )
            .prop_map(|(invoice, amount, currency, method)| Details::Payment {
                invoice: Some(invoice),
                amount,
                currency,
                method,
            }),
        invoice().prop_map(|invoice| Details::Invoice { invoice }),
        (invoice(), text(), text()).prop_map(|(invoice, from, to)| Details::InvoiceStatus {
            invoice,
            from: Some(from),
            to,
        }),
        (text(), proptest::option::of(amount()), currency()).prop_map(
            |(vendor, total, currency)| {
                Details::PurchaseOrder {
                    purchase_order: PurchaseOrderInfo {
                        id: None,
                        number: None,
                        vendor: Some(vendor),
                        total,
                        currency,
                    },
                    action: PurchaseOrderAction::Sent,
                }
            }
        ),
        (text(), proptest::option::of(amount()), currency()).prop_map(
            |(entity, amount, currency)| {
                Details::AccountingEvent {
                    event: AccountingEvent {
                        platform: entity.clone(),
                        account_id: None,
                        entity,
                        entity_id: "1".to_owned(),
                        operation: "Update".to_owned(),
                        number: None,
                        amount,
                        currency,
                        status: None,
                    },
                }
            }
        ),
        (text(), text(), proptest::option::of(instant())).prop_map(|(subject, html, sent_at)| {
            Details::Email {
                message: EmailMessage {
                    subject: Some(subject),
                    html: Some(html.clone()),
                    text: Some(html),
                    sent_at,
                    to: vec!["a@example.com".to_owned()],
                    ..EmailMessage::default()
                },
            }
        }),
        (email_status(), text()).prop_map(|(status, reason)| Details::EmailEvent {
            event: EmailEvent {
                provider: reason.clone(),
                status,
                provider_event: reason.clone(),
                recipient: None,
                provider_message_id: None,
                message_id: None,
                subject: None,
                reason: Some(reason),
                url: None,
            },
        }),
        (text(), text()).prop_map(|(from, to)| Details::StatusChange {
            from: Some(from),
            to
        }),
        (text(), text()).prop_map(|(event_type, value)| Details::Generic {
            event_type,
            data: serde_json::json!({"value": value}),
        }),
    ]
}

fn delivery_status() -> impl Strategy<Value = Option<DeliveryStatus>> {
    proptest::option::of(
        proptest::collection::vec((email_status(), instant(), text()), 0..3).prop_map(|updates| {
            let history: Vec<StatusUpdate> = updates
                .into_iter()
                .map(|(status, at, reason)| StatusUpdate {
                    status,
                    at,
                    provider: "sendgrid".to_owned(),
                    recipient: None,
                    reason: Some(reason),
                })
                .collect();
            DeliveryStatus {
                current: history.first().map(|update| update.status),
                history,
            }
        }),
    )
}

fn arbitrary_entry() -> impl Strategy<Value = Entry> {
    (
        (any::<u128>(), instant(), instant()),
        (text(), text(), text()),
        details(),
        delivery_status(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                (id, occurred_at, received_at),
                (summary, actor, subject),
                details,
                delivery,
                claim,
            )| {
                let subjects = Subject::new(SubjectKind::Job, subject)
                    .into_iter()
                    .collect();
                Entry {
                    id: EntryId::from_u128(id),
                    kind: EntryKind::new("status.changed").unwrap(),
                    category: Category::Workflow,
                    occurred_at,
                    received_at,
                    actor: Actor {
                        kind: ActorKind::User,
                        id: None,
                        name: actor,
                    },
                    subjects,
                    summary,
                    details,
                    source: SourceRef {
                        name: "hoops".to_owned(),
                        event_id: None,
                        delivery_seq: 1,
                    },
                    delivery_status: delivery,
                    correlation: Vec::new(),
                    flag: claim.map(|claimed_occurred_at| EntryFlag::OccurredAtOutOfRange {
                        claimed_occurred_at,
                    }),
                }
            },
        )
}

fn zone() -> impl Strategy<Value = Tz> {
    proptest::sample::select(vec![
        Tz::America__Chicago,
        Tz::Pacific__Kiritimati,
        Tz::Pacific__Pago_Pago,
        Tz::Australia__Lord_Howe,
        Tz::America__Havana,
        Tz::UTC,
    ])
}

/// The compiled-in templates, as the gateway renders with them.
static RENDERER: LazyLock<Renderer> =
    LazyLock::new(|| Renderer::new(Origin::Embedded).expect("templates"));

/// What the day list partial reads (the pages hand it the same).
#[derive(serde::Serialize)]
struct Days<'a> {
    days: &'a [DayGroup],
    show_subjects: bool,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_timeline_renders_and_serializes_at_any_time_in_any_zone(
        entries in proptest::collection::vec(arbitrary_entry(), 0..6),
        now in instant(),
        zone in zone(),
        by_receipt in any::<bool>(),
    ) {
        // The API: every entry serializes, and reads back as it was (a stored entry loads).
        let json = serde_json::to_vec(&entries).unwrap();
        let back: Vec<Entry> = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&back, &entries);

        let count = entries.len();
        let clock = TrackedClock::new(now, zone);
        let days = group_by_day(entries, &clock, by_receipt);
        prop_assert_eq!(days.iter().map(|day| day.entries.len()).sum::<usize>(), count);
        let html = RENDERER
            .render("partials/days", &Days { days: &days, show_subjects: true })
            .unwrap();
        prop_assert_eq!(html.matches("<li class=\"entry").count(), count);
        prop_assert!(clock.fresh_until() >= now);
    }
}

/// The round-trip property must not be vacuous: the header it alters is found for every kind
/// but Mailgun.
#[test]
fn every_header_scheme_exposes_its_signature_header() {
    let config = signing_config();
    for name in SOURCES {
        let source = config.source(name).unwrap();
        let signed = source.sign(&body_for(name, b"{}"), NOW, None).unwrap();
        assert_eq!(
            signature_header(&signed.headers).is_some(),
            name != "mailgun",
            "{name}: {:?}",
            signed.headers.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
    }
}
