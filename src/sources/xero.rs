//! Xero: `x-xero-signature` is the standard base64 of HMAC-SHA256 over the raw body, keyed with
//! the app's webhook key used as UTF-8 text. The key looks like base64 but is not decoded.
//!
//! Webhooks are per app, so one POST can batch events from every connected organisation:
//! `{"events":[…], "firstEventSequence", "lastEventSequence", "entropy"}`. Each event is thin
//! (category, resource id, type, time, tenant) and becomes one entry. When a subscription is
//! created or its URL changes, Xero first sends "intent to receive" deliveries: the same shape
//! with no events, some signed correctly and some not. They verify like any delivery (the
//! wrongly signed ones must be refused, which is how Xero checks the endpoint) and normalize
//! to nothing.
//!
//! No time is signed and events carry no id, so each entry's dedup id is the composite
//! `{tenantId}:{eventCategory}:{resourceId}:{eventType}:{eventDateUtc}` and the delivery has
//! none: a retried batch adds nothing, an overlapping one only what is new.
//!
//! Categories: invoices and credit notes are `accounting`; contact edits and the app's own
//! App Store subscription are `system` (reference data and billing of the integration itself,
//! not money moving for a job).

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::RawDelivery;
use super::json::lenient;
use super::kind::{self, Profile, Registration};
use super::signing::{BodyScheme, BodySignature, KeysOnly};
use crate::activity::details::{AccountingEvent, Text};
use crate::activity::entry::one_line;
use crate::activity::links::accounting_key;
use crate::activity::{Actor, Category, Details, EntryKind, NewEntry, Normalized, Outcome};

pub const KIND: &str = "xero";

pub const CAPTURED_HEADERS: &[&str] = &[SIGNATURE_HEADER, "content-type", "user-agent"];

const SIGNATURE_HEADER: &str = "x-xero-signature";

const SCHEME: BodyScheme = BodyScheme {
    profile: &Profile::new(KIND, CAPTURED_HEADERS, normalize),
    header: SIGNATURE_HEADER,
    empty_responses: true,
};

const PLATFORM: &str = "xero";

/// Summaries are one line on a timeline.
const SUMMARY_MAX_CHARS: usize = 200;

/// The `[[sources]]` settings of a `xero` source: its webhook keys.
pub type Settings = KeysOnly;

/// A `xero` source: Xero's scheme, one `x-xero-signature` holding the base64
/// HMAC-SHA256 of the raw body.
pub type Xero = BodySignature;

/// The source a `xero` table configures.
pub fn from_settings(settings: Settings) -> Result<Xero, String> {
    BodySignature::from_settings(SCHEME, settings, "webhook key")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    events: Vec<Value>,
    // The sequence numbers and entropy are read only to recognise the shape: entries are
    // deduped one by one, which also covers whole batches sent again.
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct XeroEvent {
    resource_id: Text,
    #[serde(default)]
    event_date_utc: Option<String>,
    event_type: String,
    event_category: String,
    tenant_id: Text,
    /// Only credit notes carry data (their type and status); anything odd in it is ignored.
    #[serde(default, deserialize_with = "lenient")]
    data: Option<CreditNoteData>,
}

#[derive(Deserialize)]
struct CreditNoteData {
    #[serde(rename = "Type", default)]
    note_type: Option<String>,
    #[serde(rename = "Status", default)]
    status: Option<String>,
}

/// One entry per event; intent-to-receive bodies give none. Never fails: a body that is not a
/// Xero payload is flagged unparseable, and events that cannot be read are skipped and flag the
/// delivery malformed while the readable ones are kept.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let payload: Payload = match serde_json::from_slice(delivery.body) {
        Ok(payload) => payload,
        Err(err) => {
            let reason = format!("not a Xero webhook payload: {err}");
            return Normalized::flagged(None, Outcome::Unparseable { reason });
        }
    };
    let mut entries = Vec::with_capacity(payload.events.len());
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    let mut unknown = None;
    for (n, event) in payload.events.iter().enumerate() {
        let event: XeroEvent = match XeroEvent::deserialize(event) {
            Ok(event) => event,
            Err(err) => {
                problems.push(format!("events[{n}]: {err}"));
                continue;
            }
        };
        let entry = match entry(&event, delivery.received_at) {
            Ok(entry) => entry,
            Err(problem) => {
                problems.push(format!("events[{n}]: {problem}"));
                continue;
            }
        };
        if !entry.known {
            unknown.get_or_insert_with(|| {
                format!(
                    "{}.{}",
                    event.event_category.trim(),
                    event.event_type.trim()
                )
            });
        }
        // The store dedups against what it holds, not within one delivery.
        if let Some(id) = &entry.entry.event_id
            && !seen.insert(id.clone())
        {
            continue;
        }
        entries.push(entry.entry);
    }
    let outcome = match (problems.first(), unknown) {
        (Some(first), _) => {
            let more = problems.len() - 1;
            let reason = if more == 0 {
                first.clone()
            } else {
                format!("{first} (and {more} more)")
            };
            Outcome::Malformed { reason }
        }
        (None, Some(event_type)) => Outcome::UnknownType { event_type },
        (None, None) => Outcome::Normalized,
    };
    Normalized {
        delivery_id: None,
        entries,
        outcome,
    }
}

/// An entry, and whether its category and type were ones Xero documents.
struct Built {
    entry: NewEntry,
    known: bool,
}

fn entry(event: &XeroEvent, received_at: DateTime<Utc>) -> Result<Built, String> {
    let tenant = event.tenant_id.0.trim();
    let resource = event.resource_id.0.trim();
    if tenant.is_empty() || resource.is_empty() {
        return Err("tenantId and resourceId must not be empty".to_owned());
    }
    let category_code = event.event_category.trim().to_ascii_uppercase();
    let type_code = event.event_type.trim().to_ascii_uppercase();
    let (entity, known_entity) = Entity::from_category(&category_code)?;
    let (operation, past, known_type) = match type_code.as_str() {
        "CREATE" => ("Create".to_owned(), "created".to_owned(), true),
        "UPDATE" => ("Update".to_owned(), "updated".to_owned(), true),
        other => (title_case(other), kind_safe(other), false),
    };
    let kind = EntryKind::new(format!("xero.{}.{past}", entity.kind_part))
        .filter(|_| !past.is_empty())
        .ok_or_else(|| format!("the event type {:?} is unusable", event.event_type))?;

    let data = event.data.as_ref();
    let status = data
        .and_then(|data| data.status.as_deref())
        .map(str::trim)
        .filter(|status| !status.is_empty())
        .map(str::to_owned);
    let words = match data
        .and_then(|data| data.note_type.as_deref())
        .map(str::trim)
    {
        Some("ACCRECCREDIT") if entity.name == "CreditNote" => "customer credit note",
        Some("ACCPAYCREDIT") if entity.name == "CreditNote" => "supplier credit note",
        _ => entity.words.as_str(),
    };
    let mut summary = format!("Xero {words} {resource} {past}");
    if let Some(status) = &status {
        summary.push_str(&format!(" ({status})"));
    }

    let date = event
        .event_date_utc
        .as_deref()
        .map(str::trim)
        .filter(|date| !date.is_empty());
    // Without its time an event's id could match a later genuine change and hide it, so it
    // goes without one (a redelivery may then show it twice).
    let event_id =
        date.map(|date| format!("{tenant}:{category_code}:{resource}:{type_code}:{date}"));
    let entry = NewEntry {
        kind,
        category: entity.category,
        occurred_at: date.and_then(parse_time).unwrap_or(received_at),
        actor: Actor::integration("Xero"),
        subjects: Vec::new(),
        summary: one_line(&summary, SUMMARY_MAX_CHARS),
        details: Details::AccountingEvent {
            event: AccountingEvent {
                platform: PLATFORM.to_owned(),
                account_id: Some(tenant.to_owned()),
                entity: entity.name.clone(),
                entity_id: resource.to_owned(),
                operation,
                number: None,
                amount: None,
                currency: None,
                status,
            },
        },
        event_id,
        correlation: vec![accounting_key(PLATFORM, tenant, &entity.name, resource)],
    };
    Ok(Built {
        entry,
        known: known_entity && known_type,
    })
}

/// An event category as an entity: its API name (used in link keys, so it must match what the
/// business app records, e.g. `Invoice`), words for summaries, entry-kind segment, category.
struct Entity {
    name: String,
    words: String,
    kind_part: String,
    category: Category,
}

impl Entity {
    /// The entity for an (uppercased) `eventCategory`, and whether Xero documents it. Unknown
    /// categories are kept under their own name.
    fn from_category(code: &str) -> Result<(Entity, bool), String> {
        let known = match code {
            "INVOICE" => Some(("Invoice", "invoice", Category::Accounting)),
            "CREDITNOTE" => Some(("CreditNote", "credit note", Category::Accounting)),
            "CONTACT" => Some(("Contact", "contact", Category::System)),
            "SUBSCRIPTION" => Some(("Subscription", "app subscription", Category::System)),
            _ => None,
        };
        if let Some((name, words, category)) = known {
            return Ok((
                Entity {
                    name: name.to_owned(),
                    words: words.to_owned(),
                    kind_part: name.to_ascii_lowercase(),
                    category,
                },
                true,
            ));
        }
        let kind_part = kind_safe(code).replace(['_', '-'], "");
        if kind_part.is_empty() || kind_part.len() > 60 {
            return Err(format!("the event category {code:?} is unusable"));
        }
        let entity = Entity {
            name: title_case(&kind_part),
            words: kind_part.clone(),
            kind_part,
            category: Category::Accounting,
        };
        Ok((entity, false))
    }
}

/// `DELETE` → `Delete`.
fn title_case(code: &str) -> String {
    let lower = code.trim().to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect()
}

/// Lowercase, with anything an entry kind cannot hold dropped.
fn kind_safe(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `eventDateUtc` has no offset (`2024-06-21T01:15:39.902`) and is UTC; RFC 3339 is accepted
/// too in case Xero ever adds one.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|time| time.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| time.with_timezone(&Utc))
        })
}

/// The `xero` kind in the table of kinds.
pub const REGISTRATION: Registration =
    Registration::new(SCHEME.profile, |table| kind::build(table, from_settings));

#[cfg(test)]
mod tests {
    use super::kind::Kind;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use chrono::TimeZone;

    use super::*;
    use crate::crypto::Secret;
    use crate::sources::signing::sign_body;
    use crate::sources::{Rejection, Verified};

    // Xero publishes no fixed vector, so these were computed from the algorithm with Python's
    // standard library, independently of this code:
    //   base64.b64encode(hmac.new(KEY.encode("utf-8"), BODY, hashlib.sha256).digest())
    // where BODY is the exact bytes of the constant or fixture file. The key is made up, shaped
    // like a real one (88 characters of base64), and used as text: never base64-decoded.
    const KEY: &str =
        "g1S2CjYV8W+jaiLTUXzKer7E+1967kckJyzVzv1kJt9lRfMOHblexEv8sx5+zJ/EovuJ2KwupVmeWTvyfiNlXQ==";
    const ITR_BODY: &[u8] =
        br#"{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
    const ITR_SIGNATURE: &str = "8crN9wXPcSeSZKuhiy3ZRAOz+Rxv1oyMNCB6HKU3YJc=";
    const BATCH: &[u8] = include_bytes!("../../tests/fixtures/xero/events_batch.json");
    const BATCH_SIGNATURE: &str = "wmBQXNwkID8Q7PtHOsMjioZYE1EcTE2qUZoDKfddj0g=";

    const TENANT: &str = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f";
    const INVOICE: &str = "4d7c2bcc-2f3a-4b1e-9c55-7f0d2a6e8b31";

    fn source(keys: &[&str]) -> Xero {
        let secrets = keys.iter().map(|k| k.to_string()).collect();
        from_settings(Settings { secrets }).unwrap()
    }

    fn signed(signature: &str) -> Vec<(String, String)> {
        vec![("x-xero-signature".to_owned(), signature.to_owned())]
    }

    fn received() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 16, 0, 0).unwrap()
    }

    fn normalized(body: &[u8]) -> Normalized {
        let headers = signed(ITR_SIGNATURE);
        normalize(&RawDelivery {
            source: "xero",
            received_at: received(),
            headers: &headers,
            body,
        })
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event(entry: &NewEntry) -> &AccountingEvent {
        match &entry.details {
            Details::AccountingEvent { event } => event,
            other => panic!("not an accounting event: {other:?}"),
        }
    }

    #[test]
    fn the_fixture_is_the_itr_body_byte_for_byte() {
        let fixture = include_bytes!("../../tests/fixtures/xero/intent_to_receive.json");
        assert_eq!(&fixture[..], ITR_BODY);
    }

    #[test]
    fn computed_vectors_sign_and_verify() {
        let key = Secret::new(KEY.as_bytes().to_vec()).unwrap();
        assert_eq!(sign_body(&key, ITR_BODY), ITR_SIGNATURE);
        assert_eq!(sign_body(&key, BATCH), BATCH_SIGNATURE);
        let source = source(&[KEY]);
        assert_eq!(
            source.verify(&signed(ITR_SIGNATURE), ITR_BODY, 0),
            Ok(Verified::default())
        );
        assert!(source.verify(&signed(BATCH_SIGNATURE), BATCH, 0).is_ok());
    }

    #[test]
    fn the_key_is_text_not_base64() {
        let decoded = STANDARD.decode(KEY).unwrap();
        let as_bytes = Secret::new(decoded).unwrap();
        assert_ne!(sign_body(&as_bytes, ITR_BODY), ITR_SIGNATURE);
    }

    #[test]
    fn intent_to_receive_checks_are_answered_both_ways() {
        // Xero sends the same body correctly and incorrectly signed; only the first may pass.
        let source = source(&[KEY]);
        assert!(source.verify(&signed(ITR_SIGNATURE), ITR_BODY, 0).is_ok());
        assert_eq!(
            source.verify(&signed(BATCH_SIGNATURE), ITR_BODY, 0),
            Err(Rejection::BadSignature)
        );
        let result = normalized(ITR_BODY);
        assert!(result.entries.is_empty());
        assert_eq!(result.outcome, Outcome::Normalized);
        assert_eq!(result.delivery_id, None);
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let source = source(&[KEY]);
        let tampered = String::from_utf8(BATCH.to_vec())
            .unwrap()
            .replace("\"UPDATE\"", "\"CREATE\"");
        assert_eq!(
            source.verify(&signed(BATCH_SIGNATURE), tampered.as_bytes(), 0),
            Err(Rejection::BadSignature)
        );
        for garbage in [
            "1234",
            "not base64!",
            "8crN9wXPcSeSZKuhiy3ZRAOz+Rxv1oyMNCB6HKU3YJd=",
        ] {
            assert_eq!(
                source.verify(&signed(garbage), ITR_BODY, 0),
                Err(Rejection::BadSignature)
            );
        }
        let wrong = format!("{KEY}x");
        assert_eq!(
            self::source(&[&wrong]).verify(&signed(ITR_SIGNATURE), ITR_BODY, 0),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn any_of_several_keys_matches() {
        let result = source(&["the-old-key", KEY]).verify(&signed(ITR_SIGNATURE), ITR_BODY, 0);
        assert!(result.is_ok());
    }

    #[test]
    fn missing_or_empty_header_fails() {
        let source = source(&[KEY]);
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(
            source.verify(&none, ITR_BODY, 0),
            Err(Rejection::MissingHeader("x-xero-signature"))
        );
        assert_eq!(
            source.verify(&signed(""), ITR_BODY, 0),
            Err(Rejection::MalformedHeader("x-xero-signature"))
        );
        let other_case = vec![("X-Xero-Signature".to_owned(), ITR_SIGNATURE.to_owned())];
        assert!(source.verify(&other_case, ITR_BODY, 0).is_ok());
    }

    #[test]
    fn settings_are_checked() {
        let err = from_settings(Settings { secrets: vec![] }).err().unwrap();
        assert!(err.starts_with("secrets:"), "{err}");
        let err = from_settings(Settings {
            secrets: vec![String::new()],
        })
        .err()
        .unwrap();
        assert!(err.starts_with("secrets[0]:"), "{err}");
        assert!(toml::from_str::<Settings>("secrets = [\"k\"]\nheader = \"x\"").is_err());
    }

    #[test]
    fn sign_request_round_trips() {
        let source = source(&[KEY, "the-old-key"]);
        let headers = source.sign_request(BATCH, 1_700_000_000);
        assert_eq!(
            headers,
            vec![("x-xero-signature".to_owned(), BATCH_SIGNATURE.to_owned())]
        );
        assert!(source.verify(&headers, BATCH, 1_900_000_000).is_ok());
    }

    #[test]
    fn a_batch_becomes_one_entry_per_event() {
        let result = normalized(BATCH);
        assert_eq!(result.outcome, Outcome::Normalized);
        assert_eq!(result.delivery_id, None);
        let kinds: Vec<&str> = result.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "xero.invoice.created",
                "xero.invoice.updated",
                "xero.contact.updated",
                "xero.creditnote.created",
                "xero.subscription.updated",
            ]
        );
        let categories: Vec<Category> = result.entries.iter().map(|e| e.category).collect();
        assert_eq!(
            categories,
            [
                Category::Accounting,
                Category::Accounting,
                Category::System,
                Category::Accounting,
                Category::System,
            ]
        );
        let times: Vec<DateTime<Utc>> = result.entries.iter().map(|e| e.occurred_at).collect();
        assert_eq!(
            times,
            [
                utc("2026-03-04T15:15:02.902Z"),
                utc("2026-03-04T15:20:41.113Z"),
                utc("2026-03-04T15:21:00Z"),
                utc("2026-03-04T15:22:10.5Z"),
                utc("2026-03-04T15:23:00Z"),
            ]
        );
        let created = &result.entries[0];
        assert_eq!(created.summary, format!("Xero invoice {INVOICE} created"));
        assert_eq!(
            created.event_id.as_deref(),
            Some(format!("{TENANT}:INVOICE:{INVOICE}:CREATE:2026-03-04T15:15:02.902").as_str())
        );
        assert_eq!(
            created.correlation,
            [format!("xero:{TENANT}:Invoice:{INVOICE}")]
        );
        assert!(created.subjects.is_empty());
        let details = event(created);
        assert_eq!(details.platform, "xero");
        assert_eq!(details.account_id.as_deref(), Some(TENANT));
        assert_eq!(
            (
                details.entity.as_str(),
                details.entity_id.as_str(),
                details.operation.as_str()
            ),
            ("Invoice", INVOICE, "Create")
        );

        let updated = &result.entries[1];
        assert_eq!(event(updated).operation, "Update");
        assert_eq!(
            updated.event_id.as_deref(),
            Some(format!("{TENANT}:INVOICE:{INVOICE}:UPDATE:2026-03-04T15:20:41.113").as_str())
        );

        let note = &result.entries[3];
        assert_eq!(
            note.summary,
            "Xero customer credit note 9a1d6c1e-5b7e-4e2f-8f3a-2c4b6d8e0f13 created (AUTHORISED)"
        );
        assert_eq!(event(note).status.as_deref(), Some("AUTHORISED"));
        assert_eq!(
            note.correlation,
            [
                "xero:5b9c1f3e-0d2a-4c6e-8f1b-3a5c7e9d1f20:CreditNote:9a1d6c1e-5b7e-4e2f-8f3a-2c4b6d8e0f13"
            ]
        );
        assert_eq!(event(&result.entries[2]).entity, "Contact");
        assert_eq!(event(&result.entries[4]).entity, "Subscription");

        let ids: HashSet<_> = result.entries.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn the_same_event_twice_in_a_batch_counts_once() {
        let one = r#"{"resourceId":"a","eventDateUtc":"2026-03-04T15:00:00","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"t"}"#;
        let shouted = one.replace("UPDATE", "update");
        let body = format!(
            r#"{{"events":[{one},{shouted}],"firstEventSequence":1,"lastEventSequence":2,"entropy":"x"}}"#
        );
        assert_eq!(normalized(body.as_bytes()).entries.len(), 1);
    }

    #[test]
    fn unreadable_events_are_skipped_and_flag_the_batch() {
        let body = br#"{"events":[
            {"resourceId":"a","eventType":"UPDATE","eventCategory":"INVOICE"},
            {"resourceId":"b","eventDateUtc":"2026-03-04T15:00:00","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"t","data":"odd"}]}"#;
        let result = normalized(body);
        assert_eq!(result.entries.len(), 1);
        assert_eq!(result.entries[0].summary, "Xero invoice b updated");
        assert!(
            matches!(&result.outcome, Outcome::Malformed { reason } if reason.starts_with("events[0]"))
        );
    }

    #[test]
    fn unknown_categories_and_types_are_kept_and_counted() {
        let body = br#"{"events":[{"resourceId":"p1","eventDateUtc":"2026-03-04T15:00:00","eventType":"DELETE","eventCategory":"PAYMENT","tenantId":"t"}]}"#;
        let result = normalized(body);
        assert_eq!(result.entries.len(), 1);
        assert_eq!(result.entries[0].kind.as_str(), "xero.payment.delete");
        assert_eq!(event(&result.entries[0]).entity, "Payment");
        assert_eq!(event(&result.entries[0]).operation, "Delete");
        assert_eq!(
            result.outcome,
            Outcome::UnknownType {
                event_type: "PAYMENT.DELETE".into()
            }
        );
    }

    #[test]
    fn an_event_without_a_date_keeps_no_dedup_id() {
        let body = br#"{"events":[{"resourceId":"a","eventType":"CREATE","eventCategory":"CONTACT","tenantId":"t"}]}"#;
        let result = normalized(body);
        assert_eq!(result.entries[0].event_id, None);
        assert_eq!(result.entries[0].occurred_at, received());
    }

    #[test]
    fn unreadable_bodies_are_flagged() {
        for body in [&b""[..], b"<xml/>", b"[]", b"{\"events\":{}}", b"{}"] {
            let result = normalized(body);
            assert!(result.entries.is_empty());
            assert!(matches!(result.outcome, Outcome::Unparseable { .. }));
        }
    }

    #[test]
    fn dates_are_utc_without_a_zone() {
        assert_eq!(
            parse_time("2024-06-21T01:15:39.902"),
            Some(utc("2024-06-21T01:15:39.902Z"))
        );
        assert_eq!(
            parse_time("2024-06-21T01:15:39Z"),
            Some(utc("2024-06-21T01:15:39Z"))
        );
        assert_eq!(parse_time("21/06/2024"), None);
    }
}
