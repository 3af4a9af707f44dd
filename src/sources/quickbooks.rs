//! QuickBooks Online (Intuit): `intuit-signature` is the standard base64 of HMAC-SHA256 over the
//! raw body, keyed with the app's verifier token used as UTF-8 bytes.
//!
//! Nothing time-bound is signed, so there is no replay window: dedup rests on ids. Intuit sends
//! two payload shapes and both are accepted, told apart by their first byte:
//! - legacy: `{"eventNotifications":[{"realmId", "dataChangeEvent":{"entities":[…]}}]}`, which
//!   has no event id, so each change gets the composite id
//!   `{realm}:{entity}:{id}:{operation}:{lastUpdated}`;
//! - CloudEvents: a JSON array of `{"id", "type":"qbo.<entity>.<action>.v1", "time",
//!   "intuitaccountid", "intuitentityid", "data"}`, deduped on the CloudEvent `id`.
//!
//! A batch carries no id of its own (`delivery_id` is `None`), so the store dedups entry by
//! entry: a redelivered batch adds nothing and an overlapping one adds only what is new.
//!
//! Categories: transactions (invoices, payments, bills, journal entries, …) are `accounting`,
//! purchase orders `purchasing`, and list or settings changes (customers, vendors, items,
//! accounts, terms, preferences, …) `system`. Those reference-data edits are frequent and move
//! no money, so on a timeline filtered to accounting they would only bury what matters.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::RawDelivery;
use super::json::lenient;
use super::kind::{self, Profile, Registration};
use super::signing::{BodyScheme, BodySignature, KeysOnly};
use crate::activity::details::{AccountingEvent, Text};
use crate::activity::entry::one_line;
use crate::activity::links::accounting_key;
use crate::activity::{Actor, Category, Details, EntryKind, NewEntry, Normalized, Outcome};

pub const KIND: &str = "quickbooks";

pub const CAPTURED_HEADERS: &[&str] = &[SIGNATURE_HEADER, "content-type", "user-agent"];

const SIGNATURE_HEADER: &str = "intuit-signature";

const SCHEME: BodyScheme = BodyScheme {
    profile: &Profile::new(KIND, CAPTURED_HEADERS, normalize),
    header: SIGNATURE_HEADER,
    empty_responses: false,
};

const PLATFORM: &str = "quickbooks";

/// Summaries are one line on a timeline.
const SUMMARY_MAX_CHARS: usize = 200;

/// The `[[sources]]` settings of a `quickbooks` source: its verifier tokens.
pub type Settings = KeysOnly;

/// A `quickbooks` source: Intuit's scheme, one `intuit-signature` holding the base64
/// HMAC-SHA256 of the raw body.
pub type QuickBooks = BodySignature;

/// The source a `quickbooks` table configures.
pub fn from_settings(settings: Settings) -> Result<QuickBooks, String> {
    BodySignature::from_settings(SCHEME, settings, "verifier token")
}

/// One entry per entity change, from either payload shape. Never fails: a body that is not a
/// notification is flagged unparseable; changes that cannot be read are skipped and flag the
/// delivery malformed, while the readable ones in the same batch are kept.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let first = delivery
        .body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace());
    match first {
        Some(b'[') => cloud_events(delivery),
        Some(b'{') => legacy(delivery),
        _ => unparseable(
            "not a QuickBooks notification: expected a JSON object or a CloudEvents array",
        ),
    }
}

fn unparseable(reason: impl Into<String>) -> Normalized {
    Normalized::flagged(
        None,
        Outcome::Unparseable {
            reason: reason.into(),
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyBody {
    event_notifications: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyNotification {
    realm_id: Text,
    #[serde(default)]
    data_change_event: Option<DataChangeEvent>,
}

#[derive(Deserialize)]
struct DataChangeEvent {
    #[serde(default)]
    entities: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyEntity {
    name: String,
    id: Text,
    operation: String,
    #[serde(default)]
    last_updated: Option<String>,
    /// Merges name the entity that was merged away.
    #[serde(default)]
    deleted_id: Option<Text>,
}

fn legacy(delivery: &RawDelivery<'_>) -> Normalized {
    let body: LegacyBody = match serde_json::from_slice(delivery.body) {
        Ok(body) => body,
        Err(err) => return unparseable(format!("not a QuickBooks notification: {err}")),
    };
    let mut batch = Batch::default();
    for (n, notification) in body.event_notifications.iter().enumerate() {
        let notification: LegacyNotification = match parse(notification) {
            Ok(notification) => notification,
            Err(err) => {
                batch.problem(format!("eventNotifications[{n}]: {err}"));
                continue;
            }
        };
        let entities = notification
            .data_change_event
            .map(|event| event.entities)
            .unwrap_or_default();
        for (e, entity) in entities.iter().enumerate() {
            let place = format!("eventNotifications[{n}].dataChangeEvent.entities[{e}]");
            let entity: LegacyEntity = match parse(entity) {
                Ok(entity) => entity,
                Err(err) => {
                    batch.problem(format!("{place}: {err}"));
                    continue;
                }
            };
            let Some(kind) = EntityKind::named(&entity.name) else {
                batch.problem(format!(
                    "{place}: the entity name {:?} is unusable",
                    entity.name
                ));
                continue;
            };
            let last_updated = entity.last_updated.as_deref().map(str::trim);
            // Without lastUpdated two genuine changes could share an id and one would be lost,
            // so such a change goes without one (a redelivery may then show it twice).
            let event_id = last_updated.map(|time| {
                format!(
                    "{}:{}:{}:{}:{time}",
                    notification.realm_id.0.trim(),
                    entity.name.trim(),
                    entity.id.0.trim(),
                    entity.operation.trim()
                )
            });
            batch.push(Change {
                realm: notification.realm_id.0.trim(),
                entity: kind,
                entity_id: entity.id.0.trim(),
                operation: Operation::from_legacy(&entity.operation),
                deleted_id: entity.deleted_id.as_ref().map(|id| id.0.trim()),
                occurred_at: last_updated.and_then(parse_time),
                event_id,
                fallback_time: delivery.received_at,
            });
        }
    }
    batch.finish()
}

#[derive(Deserialize)]
struct CloudEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    intuitaccountid: Option<Text>,
    #[serde(default)]
    intuitentityid: Option<Text>,
    /// Absent, `null`, `{}` or entity-specific; only `deletedid` matters here, so anything
    /// else in it must not cost the event.
    #[serde(default, deserialize_with = "lenient")]
    data: Option<CloudEventData>,
}

#[derive(Deserialize)]
struct CloudEventData {
    #[serde(default)]
    deletedid: Option<Text>,
}

fn cloud_events(delivery: &RawDelivery<'_>) -> Normalized {
    let events: Vec<Value> = match serde_json::from_slice(delivery.body) {
        Ok(events) => events,
        Err(err) => return unparseable(format!("not a CloudEvents array: {err}")),
    };
    let mut batch = Batch::default();
    for (n, event) in events.iter().enumerate() {
        let event: CloudEvent = match parse(event) {
            Ok(event) => event,
            Err(err) => {
                batch.problem(format!("[{n}]: {err}"));
                continue;
            }
        };
        let Some((entity, action)) = split_type(&event.event_type) else {
            batch.unknown_type(&event.event_type);
            continue;
        };
        let Some(kind) = EntityKind::named(entity) else {
            batch.unknown_type(&event.event_type);
            continue;
        };
        let (Some(realm), Some(entity_id)) = (&event.intuitaccountid, &event.intuitentityid) else {
            batch.problem(format!(
                "[{n}]: intuitaccountid and intuitentityid are required"
            ));
            continue;
        };
        let id = event.id.trim();
        if id.is_empty() {
            batch.problem(format!("[{n}]: the id is empty"));
            continue;
        }
        batch.push(Change {
            realm: realm.0.trim(),
            entity: kind,
            entity_id: entity_id.0.trim(),
            operation: Operation::from_action(action),
            deleted_id: event
                .data
                .as_ref()
                .and_then(|data| data.deletedid.as_ref())
                .map(|id| id.0.trim()),
            occurred_at: event.time.as_deref().and_then(parse_time),
            event_id: Some(id.to_owned()),
            fallback_time: delivery.received_at,
        });
    }
    batch.finish()
}

/// `qbo.<entity>.<action>.v<n>` → (entity, action).
fn split_type(event_type: &str) -> Option<(&str, &str)> {
    let mut parts = event_type.trim().split('.');
    let (Some("qbo"), Some(entity), Some(action), Some(version), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    version
        .starts_with('v')
        .then_some((entity, action))
        .filter(|(entity, action)| !entity.is_empty() && !action.is_empty())
}

/// One entity change, whichever shape it came in.
struct Change<'a> {
    realm: &'a str,
    entity: EntityKind,
    entity_id: &'a str,
    operation: Operation,
    deleted_id: Option<&'a str>,
    occurred_at: Option<DateTime<Utc>>,
    event_id: Option<String>,
    fallback_time: DateTime<Utc>,
}

/// The entries of one delivery, with what went wrong along the way.
#[derive(Default)]
struct Batch {
    entries: Vec<NewEntry>,
    seen: HashSet<String>,
    problems: Vec<String>,
    unknown: Option<String>,
}

impl Batch {
    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn unknown_type(&mut self, event_type: &str) {
        self.unknown.get_or_insert_with(|| event_type.to_owned());
    }

    fn push(&mut self, change: Change<'_>) {
        if change.realm.is_empty() || change.entity_id.is_empty() {
            self.problem(format!(
                "a {} change lacks its company or entity id",
                change.entity.name
            ));
            return;
        }
        // The store checks ids against what it holds, not within one delivery, so a batch
        // that repeats a change is deduped here.
        if let Some(id) = &change.event_id
            && !self.seen.insert(id.clone())
        {
            return;
        }
        if let Operation::Other(operation) = &change.operation {
            self.unknown_type(&format!("{}.{operation}", change.entity.name));
        }
        match entry(change) {
            Ok(entry) => self.entries.push(entry),
            Err(problem) => self.problem(problem),
        }
    }

    fn finish(self) -> Normalized {
        let outcome = match (self.problems.first(), self.unknown) {
            (Some(first), _) => {
                let more = self.problems.len() - 1;
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
            entries: self.entries,
            outcome,
        }
    }
}

fn entry(change: Change<'_>) -> Result<NewEntry, String> {
    let Change {
        realm,
        entity,
        entity_id,
        operation,
        deleted_id,
        ..
    } = change;
    let past = operation.past();
    let kind = EntryKind::new(format!("quickbooks.{}.{past}", entity.kind_part))
        .filter(|_| !past.is_empty())
        .ok_or_else(|| format!("the operation {:?} is unusable", operation.label()))?;
    let summary = match deleted_id {
        Some(deleted) if operation == Operation::Merge => format!(
            "QuickBooks {words} {deleted} merged into {words} {entity_id}",
            words = entity.words
        ),
        _ => format!("QuickBooks {} {entity_id} {past}", entity.words),
    };
    let mut correlation = vec![accounting_key(PLATFORM, realm, &entity.name, entity_id)];
    // The entity merged away has its own history; the merge belongs on it too.
    if let Some(deleted) = deleted_id.filter(|id| !id.is_empty() && *id != entity_id) {
        correlation.push(accounting_key(PLATFORM, realm, &entity.name, deleted));
    }
    Ok(NewEntry {
        kind,
        category: entity.category,
        occurred_at: change.occurred_at.unwrap_or(change.fallback_time),
        actor: Actor::integration("QuickBooks"),
        subjects: Vec::new(),
        summary: one_line(&summary, SUMMARY_MAX_CHARS),
        details: Details::AccountingEvent {
            event: AccountingEvent {
                platform: PLATFORM.to_owned(),
                account_id: Some(realm.to_owned()),
                entity: entity.name.clone(),
                entity_id: entity_id.to_owned(),
                operation: operation.label().to_owned(),
                number: None,
                amount: None,
                currency: None,
                status: None,
            },
        },
        event_id: change.event_id,
        correlation,
    })
}

/// What happened to the entity, in the legacy format's words.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Operation {
    Create,
    Update,
    Delete,
    Merge,
    Void,
    Emailed,
    /// An operation Intuit may add later: kept, and reported as an unknown type.
    Other(String),
}

impl Operation {
    /// `Create`, `Update`, … (legacy `operation`).
    fn from_legacy(text: &str) -> Operation {
        match text.trim().to_ascii_lowercase().as_str() {
            "create" => Operation::Create,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "merge" => Operation::Merge,
            "void" => Operation::Void,
            "emailed" => Operation::Emailed,
            _ => Operation::Other(text.trim().to_owned()),
        }
    }

    /// `created`, `updated`, … (the action in a CloudEvents `type`).
    fn from_action(text: &str) -> Operation {
        match text.trim().to_ascii_lowercase().as_str() {
            "created" => Operation::Create,
            "updated" => Operation::Update,
            "deleted" => Operation::Delete,
            "merged" => Operation::Merge,
            "voided" => Operation::Void,
            "emailed" => Operation::Emailed,
            _ => Operation::Other(text.trim().to_owned()),
        }
    }

    fn label(&self) -> &str {
        match self {
            Operation::Create => "Create",
            Operation::Update => "Update",
            Operation::Delete => "Delete",
            Operation::Merge => "Merge",
            Operation::Void => "Void",
            Operation::Emailed => "Emailed",
            Operation::Other(text) => text,
        }
    }

    /// The verb in entry kinds and summaries, the same for both payload shapes.
    fn past(&self) -> String {
        match self {
            Operation::Create => "created".to_owned(),
            Operation::Update => "updated".to_owned(),
            Operation::Delete => "deleted".to_owned(),
            Operation::Merge => "merged".to_owned(),
            Operation::Void => "voided".to_owned(),
            Operation::Emailed => "emailed".to_owned(),
            Operation::Other(text) => kind_safe(text),
        }
    }
}

/// An entity type: its API name (used in link keys, so it must match what the business app
/// records, e.g. `Invoice`), words for summaries, the entry-kind segment and the category.
struct EntityKind {
    name: String,
    words: String,
    kind_part: String,
    category: Category,
}

/// The entities QuickBooks sends webhooks for, with their summary words and category.
const ENTITIES: &[(&str, &str, Category)] = &[
    ("Account", "account", Category::System),
    ("Bill", "bill", Category::Accounting),
    ("BillPayment", "bill payment", Category::Accounting),
    ("Budget", "budget", Category::System),
    ("Class", "class", Category::System),
    ("CreditMemo", "credit memo", Category::Accounting),
    ("Currency", "currency", Category::System),
    ("Customer", "customer", Category::System),
    ("Department", "department", Category::System),
    ("Deposit", "deposit", Category::Accounting),
    ("Employee", "employee", Category::System),
    ("Estimate", "estimate", Category::Accounting),
    ("Invoice", "invoice", Category::Accounting),
    ("Item", "item", Category::System),
    ("JournalCode", "journal code", Category::System),
    ("JournalEntry", "journal entry", Category::Accounting),
    ("Payment", "payment", Category::Accounting),
    ("PaymentMethod", "payment method", Category::System),
    ("Preferences", "preferences", Category::System),
    ("Purchase", "purchase", Category::Accounting),
    ("PurchaseOrder", "purchase order", Category::Purchasing),
    ("RefundReceipt", "refund receipt", Category::Accounting),
    ("SalesReceipt", "sales receipt", Category::Accounting),
    ("TaxAgency", "tax agency", Category::System),
    ("Term", "term", Category::System),
    ("TimeActivity", "time activity", Category::System),
    ("Transfer", "transfer", Category::Accounting),
    ("Vendor", "vendor", Category::System),
    ("VendorCredit", "vendor credit", Category::Accounting),
];

impl EntityKind {
    /// By legacy name (`JournalEntry`) or CloudEvents segment (`journalentry`). Entities not
    /// in the table are kept under their own name; `None` only when nothing usable remains.
    fn named(text: &str) -> Option<EntityKind> {
        let kind_part = kind_safe(text).replace(['_', '-', '.'], "");
        if kind_part.is_empty() || kind_part.len() > 60 {
            return None;
        }
        let known = ENTITIES
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(&kind_part));
        Some(match known {
            Some((name, words, category)) => EntityKind {
                name: (*name).to_owned(),
                words: (*words).to_owned(),
                kind_part: name.to_ascii_lowercase(),
                category: *category,
            },
            None => {
                let name: String = text
                    .trim()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let mut chars = name.chars();
                let name: String = chars
                    .next()
                    .map(|first| first.to_ascii_uppercase())
                    .into_iter()
                    .chain(chars)
                    .collect();
                EntityKind {
                    words: kind_part.clone(),
                    name,
                    kind_part,
                    category: Category::Accounting,
                }
            }
        })
    }
}

/// Lowercase, with anything an entry kind cannot hold dropped.
fn kind_safe(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Intuit's timestamps, leniently: RFC 3339 (`…Z`, fractions up to nanoseconds), offsets
/// without a colon (`2015-10-05T14:42:19-0700`), and no offset at all (taken as UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc())
        })
}

fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    T::deserialize(value).map_err(|err| err.to_string())
}

/// The `quickbooks` kind in the table of kinds.
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

    // QBO-1, published in Intuit's Java SDK tests.
    const TOKEN: &str = "b5771f19b12ddb4bcdb9f08bdc50bc63878a";
    const BODY: &[u8] = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;
    const SIGNATURE: &str = "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=";

    const LEGACY_BATCH: &[u8] = include_bytes!("../../tests/fixtures/quickbooks/legacy_batch.json");
    const CLOUD_EVENTS: &[u8] =
        include_bytes!("../../tests/fixtures/quickbooks/cloudevents_batch.json");

    const REALM: &str = "9130350266011486";

    fn source(tokens: &[&str]) -> QuickBooks {
        let secrets = tokens.iter().map(|t| t.to_string()).collect();
        from_settings(Settings { secrets }).unwrap()
    }

    fn signed(signature: &str) -> Vec<(String, String)> {
        vec![("intuit-signature".to_owned(), signature.to_owned())]
    }

    fn received() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 16, 0, 0).unwrap()
    }

    fn normalized(body: &[u8]) -> Normalized {
        let headers = signed("unused");
        normalize(&RawDelivery {
            source: "quickbooks",
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
    fn published_vector_signs_and_verifies() {
        let token = Secret::new(TOKEN.as_bytes().to_vec()).unwrap();
        assert_eq!(sign_body(&token, BODY), SIGNATURE);
        assert_eq!(
            hex::encode(STANDARD.decode(SIGNATURE).unwrap()),
            "242d865307223e6441c043bb5afad198aaaef6d18e28bf0515a965a1c4c58bc4"
        );
        assert_eq!(
            source(&[TOKEN]).verify(&signed(SIGNATURE), BODY, 0),
            Ok(Verified::default())
        );
    }

    #[test]
    fn the_header_name_is_case_insensitive_and_padding_optional() {
        let headers = vec![("Intuit-Signature".to_owned(), SIGNATURE.to_owned())];
        assert!(source(&[TOKEN]).verify(&headers, BODY, 0).is_ok());
        let unpadded = SIGNATURE.trim_end_matches('=');
        assert!(source(&[TOKEN]).verify(&signed(unpadded), BODY, 0).is_ok());
    }

    #[test]
    fn published_negative_and_tampering_fail() {
        let source = source(&[TOKEN]);
        assert_eq!(
            source.verify(&signed("1234"), BODY, 0),
            Err(Rejection::BadSignature)
        );
        let tampered = String::from_utf8(BODY.to_vec())
            .unwrap()
            .replace("\"id\":\"1\"", "\"id\":\"2\"");
        assert_eq!(
            source.verify(&signed(SIGNATURE), tampered.as_bytes(), 0),
            Err(Rejection::BadSignature)
        );
        let mut trailing = BODY.to_vec();
        trailing.push(b'\n');
        assert_eq!(
            source.verify(&signed(SIGNATURE), &trailing, 0),
            Err(Rejection::BadSignature)
        );
        for garbage in [
            "not base64!",
            "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8A=",
        ] {
            assert_eq!(
                source.verify(&signed(garbage), BODY, 0),
                Err(Rejection::BadSignature)
            );
        }
    }

    #[test]
    fn wrong_token_fails() {
        let wrong = "b5771f19b12ddb4bcdb9f08bdc50bc63878b";
        assert_eq!(
            source(&[wrong]).verify(&signed(SIGNATURE), BODY, 0),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn any_of_several_tokens_matches() {
        let result = source(&["rotated-out-token", TOKEN]).verify(&signed(SIGNATURE), BODY, 0);
        assert!(result.is_ok());
    }

    #[test]
    fn missing_or_empty_header_fails() {
        let source = source(&[TOKEN]);
        let none: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
        assert_eq!(
            source.verify(&none, BODY, 0),
            Err(Rejection::MissingHeader("intuit-signature"))
        );
        assert_eq!(
            source.verify(&signed("  "), BODY, 0),
            Err(Rejection::MalformedHeader("intuit-signature"))
        );
    }

    #[test]
    fn settings_are_checked() {
        let err = from_settings(Settings { secrets: vec![] }).err().unwrap();
        assert!(err.starts_with("secrets:"), "{err}");
        let err = from_settings(Settings {
            secrets: vec![TOKEN.into(), " ".into()],
        })
        .err()
        .unwrap();
        assert!(err.starts_with("secrets[1]:"), "{err}");
        let unknown = toml::from_str::<Settings>("secrets = [\"x\"]\ntolerance_secs = 300");
        assert!(unknown.is_err());
    }

    #[test]
    fn sign_request_round_trips() {
        let source = source(&[TOKEN, "older-token"]);
        let body = LEGACY_BATCH;
        let headers = source.sign_request(body, 1_700_000_000);
        assert_eq!(headers.len(), 1);
        assert!(source.verify(&headers, body, 1_900_000_000).is_ok());
        assert_eq!(
            source.sign_request(BODY, 0),
            vec![("intuit-signature".to_owned(), SIGNATURE.to_owned())]
        );
    }

    #[test]
    fn published_body_normalizes() {
        let result = normalized(BODY);
        assert_eq!(result.outcome, Outcome::Normalized);
        assert_eq!(result.delivery_id, None);
        let [entry] = result.entries.as_slice() else {
            panic!("one entry expected")
        };
        assert_eq!(entry.kind.as_str(), "quickbooks.customer.created");
        assert_eq!(entry.category, Category::System);
        assert_eq!(entry.summary, "QuickBooks customer 1 created");
        assert_eq!(entry.occurred_at, utc("2015-10-05T21:42:19Z"));
        assert_eq!(
            entry.event_id.as_deref(),
            Some("1185883450:Customer:1:Create:2015-10-05T14:42:19-0700")
        );
        assert_eq!(entry.correlation, ["quickbooks:1185883450:Customer:1"]);
        assert!(entry.subjects.is_empty());
        let event = event(entry);
        assert_eq!(event.platform, "quickbooks");
        assert_eq!(event.account_id.as_deref(), Some("1185883450"));
        assert_eq!(
            (
                event.entity.as_str(),
                event.entity_id.as_str(),
                event.operation.as_str()
            ),
            ("Customer", "1", "Create")
        );
    }

    #[test]
    fn legacy_batch_becomes_one_entry_per_change() {
        let result = normalized(LEGACY_BATCH);
        assert_eq!(result.outcome, Outcome::Normalized);
        assert_eq!(result.delivery_id, None);
        let kinds: Vec<&str> = result.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "quickbooks.invoice.updated",
                "quickbooks.invoice.emailed",
                "quickbooks.payment.created",
                "quickbooks.customer.merged",
                "quickbooks.invoice.voided",
                "quickbooks.purchaseorder.deleted",
            ]
        );
        let summaries: Vec<&str> = result.entries.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "QuickBooks invoice 130 updated",
                "QuickBooks invoice 131 emailed",
                "QuickBooks payment 87 created",
                "QuickBooks customer 61 merged into customer 58",
                "QuickBooks invoice 129 voided",
                "QuickBooks purchase order 12 deleted",
            ]
        );
        let categories: Vec<Category> = result.entries.iter().map(|e| e.category).collect();
        assert_eq!(
            categories,
            [
                Category::Accounting,
                Category::Accounting,
                Category::Accounting,
                Category::System,
                Category::Accounting,
                Category::Purchasing,
            ]
        );
        let times: Vec<DateTime<Utc>> = result.entries.iter().map(|e| e.occurred_at).collect();
        assert_eq!(
            times,
            [
                utc("2026-03-04T15:15:02Z"),
                utc("2026-03-04T15:15:40Z"),
                utc("2026-03-04T15:16:17.123Z"),
                utc("2026-03-04T15:17:00Z"),
                utc("2026-03-04T15:18:30Z"),
                utc("2026-03-04T15:19:00Z"),
            ]
        );
        let first = &result.entries[0];
        assert_eq!(
            first.event_id.as_deref(),
            Some("9130350266011486:Invoice:130:Update:2026-03-04T09:15:02-0600")
        );
        assert_eq!(
            first.correlation,
            [format!("quickbooks:{REALM}:Invoice:130")]
        );
        let merge = &result.entries[3];
        assert_eq!(event(merge).operation, "Merge");
        assert_eq!(
            merge.correlation,
            [
                format!("quickbooks:{REALM}:Customer:58"),
                format!("quickbooks:{REALM}:Customer:61"),
            ]
        );
        assert!(result.entries.iter().all(|e| e.subjects.is_empty()));
        let ids: HashSet<_> = result.entries.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids.len(), result.entries.len());
    }

    #[test]
    fn cloud_events_become_the_same_entries_keyed_by_their_ids() {
        let result = normalized(CLOUD_EVENTS);
        assert_eq!(result.outcome, Outcome::Normalized);
        assert_eq!(result.delivery_id, None);
        let kinds: Vec<&str> = result.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "quickbooks.invoice.updated",
                "quickbooks.payment.created",
                "quickbooks.customer.merged",
                "quickbooks.journalentry.deleted",
            ]
        );
        let ids: Vec<&str> = result
            .entries
            .iter()
            .map(|e| e.event_id.as_deref().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "88cd52aa-33b6-4351-9aa4-47572edbd068",
                "3f0e8f7c-6a59-4c1e-9b8e-0d6f3b7a1c22",
                "b1d2c3e4-0000-4a4a-8b8b-123456789abc-Customer-58",
                "c9e8d7f6-1111-4b4b-9c9c-abcdefabcdef",
            ]
        );
        let invoice = &result.entries[0];
        assert_eq!(invoice.summary, "QuickBooks invoice 130 updated");
        assert_eq!(invoice.occurred_at, utc("2026-03-04T15:15:02.179851517Z"));
        assert_eq!(
            invoice.correlation,
            [format!("quickbooks:{REALM}:Invoice:130")]
        );
        let details = event(invoice);
        assert_eq!(
            (details.entity.as_str(), details.operation.as_str()),
            ("Invoice", "Update")
        );
        assert_eq!(details.account_id.as_deref(), Some(REALM));
        let merge = &result.entries[2];
        assert_eq!(
            merge.summary,
            "QuickBooks customer 61 merged into customer 58"
        );
        assert_eq!(merge.correlation.len(), 2);
        let journal = &result.entries[3];
        assert_eq!(journal.summary, "QuickBooks journal entry 402 deleted");
        assert_eq!(event(journal).entity, "JournalEntry");
        assert_eq!(journal.category, Category::Accounting);
    }

    #[test]
    fn both_shapes_agree_on_kinds_and_link_keys() {
        let legacy = normalized(LEGACY_BATCH);
        let cloud = normalized(CLOUD_EVENTS);
        for (l, c) in [(0, 0), (2, 1), (3, 2)] {
            assert_eq!(legacy.entries[l].kind, cloud.entries[c].kind);
            assert_eq!(legacy.entries[l].correlation, cloud.entries[c].correlation);
            assert_eq!(legacy.entries[l].summary, cloud.entries[c].summary);
        }
    }

    #[test]
    fn repeated_changes_within_a_batch_count_once() {
        let body = format!(
            r#"{{"eventNotifications":[{{"realmId":"1","dataChangeEvent":{{"entities":[{e},{e}]}}}}]}}"#,
            e = r#"{"name":"Invoice","id":"5","operation":"Update","lastUpdated":"2026-03-04T15:00:00Z"}"#
        );
        assert_eq!(normalized(body.as_bytes()).entries.len(), 1);
    }

    #[test]
    fn unreadable_changes_are_skipped_and_flag_the_batch() {
        let body = br#"{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":[
            {"name":"Invoice","operation":"Update","lastUpdated":"2026-03-04T15:00:00Z"},
            {"name":"Invoice","id":6,"operation":"Update","lastUpdated":"2026-03-04T15:00:00Z"}]}},
            {"dataChangeEvent":{"entities":[]}}]}"#;
        let result = normalized(body);
        assert_eq!(result.entries.len(), 1);
        assert_eq!(result.entries[0].summary, "QuickBooks invoice 6 updated");
        match &result.outcome {
            Outcome::Malformed { reason } => {
                assert!(reason.contains("entities[0]"), "{reason}");
                assert!(reason.contains("and 1 more"), "{reason}");
            }
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn unknown_types_and_operations_are_counted() {
        let body = br#"[{"id":"a","type":"qbo.invoice.archived.v1","time":"2026-03-04T15:00:00Z","intuitaccountid":"1","intuitentityid":"9"},
                       {"id":"b","type":"com.intuit.something","intuitaccountid":"1","intuitentityid":"9"}]"#;
        let result = normalized(body);
        assert_eq!(result.entries.len(), 1);
        assert_eq!(
            result.entries[0].kind.as_str(),
            "quickbooks.invoice.archived"
        );
        assert_eq!(event(&result.entries[0]).operation, "archived");
        assert_eq!(
            result.outcome,
            Outcome::UnknownType {
                event_type: "Invoice.archived".into()
            }
        );
    }

    #[test]
    fn unreadable_bodies_are_flagged() {
        for body in [
            &b""[..],
            b"nope",
            b"{\"eventNotifications\":5}",
            b"[1",
            b"{}",
        ] {
            let result = normalized(body);
            assert!(result.entries.is_empty());
            assert!(
                matches!(result.outcome, Outcome::Unparseable { .. }),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn empty_batches_are_fine() {
        for body in [&b"[]"[..], b"{\"eventNotifications\":[]}"] {
            let result = normalized(body);
            assert!(result.entries.is_empty());
            assert_eq!(result.outcome, Outcome::Normalized);
        }
    }

    #[test]
    fn a_change_without_a_time_keeps_no_dedup_id() {
        let body = br#"{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":[{"name":"Invoice","id":"5","operation":"Update"}]}}]}"#;
        let result = normalized(body);
        assert_eq!(result.entries[0].event_id, None);
        assert_eq!(result.entries[0].occurred_at, received());
    }

    #[test]
    fn times_parse_leniently() {
        let expected = utc("2015-10-05T21:42:19Z");
        for text in [
            "2015-10-05T14:42:19-0700",
            "2015-10-05T14:42:19-07:00",
            "2015-10-05T21:42:19Z",
            "2015-10-05T21:42:19.000Z",
            "2015-10-05T21:42:19",
        ] {
            let parsed = parse_time(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(parsed.timestamp(), expected.timestamp(), "{text}");
        }
        assert_eq!(
            parse_time("2015-10-05T14:42:19.456-0700").unwrap(),
            utc("2015-10-05T21:42:19.456Z")
        );
        assert!(parse_time("yesterday").is_none());
    }
}
