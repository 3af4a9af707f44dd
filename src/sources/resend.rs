//! Resend email events. Resend delivers through Svix, so its requests are verified by the
//! `standard-webhooks` source (`svix-*` headers); this module only reads them. A Resend event
//! is `{"type": "email.<event>", "created_at": "<RFC 3339>", "data": {"email_id": …, …}}` and
//! carries no id of its own: the delivery's `svix-id` is its dedup key.
//!
//! The business app's own catalog has an `email.sent` too, with a `data.message` object and no
//! `email_id`; [`is_resend_event`] tells the two apart so the catalog keeps its event.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::email::{
    EmailCallback, SUBJECT_KEY, UnknownEmailEvent, correlation_keys, subjects_from, text_of,
};
use crate::activity::catalog::parse_time;
use crate::activity::details::{EmailStatus, SafeUrl};
use crate::activity::{Normalized, Outcome, Subject};

const PROVIDER: &str = "resend";
const PROVIDER_NAME: &str = "Resend";

/// Whether an envelope of this type and `data` is one of Resend's email events: an `email.*`
/// type whose data names the Resend email (`email_id`).
pub fn is_resend_event(envelope_type: &str, data: &Value) -> bool {
    envelope_type.starts_with("email.") && data.get("email_id").is_some_and(Value::is_string)
}

/// A Resend email event → one entry, or `None` when the body is not a Resend email event (the
/// caller then reads it as a catalog event). `event_id` is the delivery's `svix-id` /
/// `webhook-id`; `fallback_time` is used when the event carries no readable time.
pub fn normalize_event(
    body: &[u8],
    event_id: Option<&str>,
    fallback_time: DateTime<Utc>,
) -> Option<Normalized> {
    let envelope: Value = serde_json::from_slice(body).ok()?;
    normalize_envelope(&envelope, event_id, fallback_time)
}

/// [`normalize_event`] for a body already parsed (the standard-webhooks source parses once
/// and then decides between Resend and the catalog).
pub fn normalize_envelope(
    envelope: &Value,
    event_id: Option<&str>,
    fallback_time: DateTime<Utc>,
) -> Option<Normalized> {
    let event_type = envelope.get("type")?.as_str()?;
    let data = envelope.get("data")?;
    if !is_resend_event(event_type, data) {
        return None;
    }
    let event_id = event_id.map(str::to_owned);
    let occurred_at = envelope
        .get("created_at")
        .and_then(parse_time)
        .unwrap_or(fallback_time);
    let provider_message_id = text_of(data.get("email_id"));
    let message_id = text_of(data.get("message_id"));
    let recipient = recipients(data.get("to"));
    let subjects = subject_of(data.get("tags"));

    let (status, reason) = match event_type {
        // Accepted by Resend, to go now or at the scheduled time.
        "email.sent" | "email.scheduled" => (EmailStatus::Processed, None),
        "email.delivered" => (EmailStatus::Delivered, None),
        "email.delivery_delayed" => (EmailStatus::Deferred, None),
        "email.bounced" => (EmailStatus::Bounced, bounce_reason(data)),
        "email.complained" => (EmailStatus::SpamReport, None),
        "email.opened" => (EmailStatus::Opened, None),
        "email.clicked" => (EmailStatus::Clicked, None),
        "email.failed" => (
            EmailStatus::Dropped,
            nested_text(data, "failed", &["reason"]),
        ),
        "email.suppressed" => (
            EmailStatus::Dropped,
            nested_text(data, "suppressed", &["message", "type"]),
        ),
        // `email.received` (inbound mail) and types added later: kept, with their raw data.
        other => {
            let entry = UnknownEmailEvent {
                provider: PROVIDER,
                provider_name: PROVIDER_NAME,
                event_type: other,
                data,
                recipient: recipient.as_deref(),
                occurred_at,
                subjects,
                correlation: correlation_keys(
                    PROVIDER,
                    provider_message_id.as_deref(),
                    message_id.as_deref(),
                ),
                event_id: event_id.clone(),
            }
            .into_entry();
            return Some(Normalized {
                delivery_id: event_id,
                entries: vec![entry],
                outcome: Outcome::UnknownType {
                    event_type: other.to_owned(),
                },
            });
        }
    };
    let mut callback = EmailCallback::new(PROVIDER, PROVIDER_NAME, status, event_type, occurred_at);
    callback.recipient = recipient;
    callback.provider_message_id = provider_message_id;
    callback.message_id = message_id;
    callback.subject = text_of(data.get("subject"));
    callback.reason = reason;
    callback.url = data
        .get("click")
        .and_then(|click| click.get("link"))
        .and_then(Value::as_str)
        .and_then(SafeUrl::parse);
    callback.subjects = subjects;
    callback.event_id = event_id.clone();
    Some(Normalized {
        delivery_id: event_id,
        entries: vec![callback.into_entry()],
        outcome: Outcome::Normalized,
    })
}

/// `to` is a list (one email, possibly several recipients); the event does not say which
/// recipient it concerns, so all are named.
fn recipients(to: Option<&Value>) -> Option<String> {
    match to? {
        Value::Array(list) => {
            let names: Vec<String> = list.iter().filter_map(|v| text_of(Some(v))).collect();
            (!names.is_empty()).then(|| names.join(", "))
        }
        other => text_of(Some(other)),
    }
}

/// Tags come as a name → value map in events; the send API takes `[{name, value}]`, which is
/// read too in case an event echoes that shape.
fn subject_of(tags: Option<&Value>) -> Vec<Subject> {
    match tags {
        Some(Value::Object(map)) => subjects_from(map.get(SUBJECT_KEY)),
        Some(Value::Array(list)) => list
            .iter()
            .find(|tag| tag.get("name").and_then(Value::as_str) == Some(SUBJECT_KEY))
            .map(|tag| subjects_from(tag.get("value")))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The receiving server's message, else Resend's classification (`Permanent / General`).
fn bounce_reason(data: &Value) -> Option<String> {
    let bounce = data.get("bounce")?;
    text_of(bounce.get("message")).or_else(|| {
        let kind = [text_of(bounce.get("type")), text_of(bounce.get("subType"))];
        let parts: Vec<String> = kind.into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" / "))
    })
}

fn nested_text(data: &Value, object: &str, keys: &[&str]) -> Option<String> {
    let inner = data.get(object)?;
    keys.iter().find_map(|key| text_of(inner.get(*key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::details::EmailEvent;
    use crate::activity::{Actor, Category, Details};

    const EVENTS: &str = include_str!("../../tests/fixtures/resend/events.json");

    fn fallback() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_700_000, 0).unwrap()
    }

    fn event_of(normalized: &Normalized) -> EmailEvent {
        match &normalized.entries[0].details {
            Details::EmailEvent { event } => event.clone(),
            other => panic!("not an email event: {other:?}"),
        }
    }

    fn all() -> Vec<Normalized> {
        let events: Vec<Value> = serde_json::from_str(EVENTS).unwrap();
        events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let body = serde_json::to_vec(event).unwrap();
                normalize_event(&body, Some(&format!("msg_{i}")), fallback()).unwrap()
            })
            .collect()
    }

    #[test]
    fn every_email_event_type_maps() {
        let normalized = all();
        let kinds: Vec<&str> = normalized
            .iter()
            .map(|n| n.entries[0].kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "email.processed",
                "email.processed",
                "email.delivered",
                "email.deferred",
                "email.bounced",
                "email.spam_report",
                "email.opened",
                "email.clicked",
                "email.dropped",
                "email.dropped",
                "resend.email.received",
            ]
        );
        for (i, n) in normalized.iter().enumerate() {
            assert_eq!(n.entries.len(), 1);
            assert_eq!(n.delivery_id.as_deref(), Some(format!("msg_{i}").as_str()));
            assert_eq!(n.entries[0].event_id, n.delivery_id);
            assert_eq!(n.entries[0].category, Category::Communication);
            assert_eq!(n.entries[0].actor, Actor::integration("Resend"));
        }
        assert_eq!(
            normalized[10].outcome,
            Outcome::UnknownType {
                event_type: "email.received".to_owned()
            }
        );
        assert!(
            normalized[..10]
                .iter()
                .all(|n| n.outcome == Outcome::Normalized)
        );
    }

    #[test]
    fn details_subjects_and_correlation() {
        let normalized = all();
        let sent = &normalized[0].entries[0];
        assert_eq!(sent.subjects, vec!["job:1042".parse::<Subject>().unwrap()]);
        assert_eq!(
            sent.correlation,
            ["email:resend:56761188-7520-42d8-8898-ff6fc54ce618"]
        );
        assert_eq!(
            sent.occurred_at,
            DateTime::parse_from_rfc3339("2026-03-04T15:16:17.126Z").unwrap()
        );
        assert_eq!(
            sent.summary,
            "Email “Proof ready for job 1042” to ann@acme.test accepted by Resend"
        );
        assert_eq!(event_of(&normalized[0]).provider_event, "email.sent");

        // A message id, where Resend gives one, is a second key.
        assert_eq!(
            normalized[2].entries[0].correlation,
            [
                "email:resend:56761188-7520-42d8-8898-ff6fc54ce618",
                "message-id:0100018d-aaaa-bbbb@email.amazonses.com"
            ]
        );
        // Tags in the send API's list shape are read too.
        assert_eq!(
            normalized[3].entries[0].subjects,
            vec!["job:1043".parse::<Subject>().unwrap()]
        );
        assert_eq!(
            normalized[4].entries[0].summary,
            "Email “Proof ready for job 1042” to gone@acme.test bounced: 550 mailbox unavailable"
        );
        assert_eq!(
            event_of(&normalized[7]).url.unwrap().as_str(),
            "https://shop.example.com/proofs/1042"
        );
        let failed = event_of(&normalized[8]);
        assert_eq!(
            failed.recipient.as_deref(),
            Some("ann@acme.test, ops@acme.test")
        );
        assert_eq!(failed.reason.as_deref(), Some("reached_daily_quota"));
        assert_eq!(
            event_of(&normalized[9]).reason.as_deref(),
            Some("The recipient is on the suppression list.")
        );
        // An invalid subject tag is ignored; the email id still links the entry.
        assert!(normalized[9].entries[0].subjects.is_empty());
        assert!(normalized[10].entries[0].subjects.is_empty());
    }

    #[test]
    fn the_catalog_email_sent_is_not_taken_for_resend() {
        let catalog = serde_json::json!({
            "type": "email.sent",
            "timestamp": "2026-03-04T15:16:17Z",
            "data": {
                "subject": {"kind": "job", "id": "1042"},
                "message": {"provider": "resend", "provider_message_id": "56761188", "to": ["ann@acme.test"]}
            }
        });
        assert!(!is_resend_event("email.sent", &catalog["data"]));
        assert!(
            normalize_event(
                &serde_json::to_vec(&catalog).unwrap(),
                Some("msg_1"),
                fallback()
            )
            .is_none()
        );
    }

    #[test]
    fn other_bodies_are_left_to_the_catalog() {
        let not_resend = [
            &br#"{"type":"job.created","data":{"email_id":"x"}}"#[..],
            br#"{"type":"contact.created","data":{"id":"c1"}}"#,
            br#"{"type":"email.opened","data":{"email_id":42}}"#,
            br#"{"type":"email.opened"}"#,
            b"not json",
        ];
        for body in not_resend {
            assert!(
                normalize_event(body, None, fallback()).is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(is_resend_event(
            "email.bounced",
            &serde_json::json!({"email_id": "e"})
        ));
    }

    #[test]
    fn missing_times_and_ids_fall_back() {
        let body = br#"{"type":"email.delivered","data":{"email_id":"e1","to":"ann@acme.test"}}"#;
        let normalized = normalize_event(body, None, fallback()).unwrap();
        assert_eq!(normalized.delivery_id, None);
        assert_eq!(normalized.entries[0].occurred_at, fallback());
        assert_eq!(
            normalized.entries[0].summary,
            "Email to ann@acme.test delivered"
        );
        let bounce = br#"{"type":"email.bounced","data":{"email_id":"e1","bounce":{"type":"Permanent","subType":"Suppressed"}}}"#;
        let normalized = normalize_event(bounce, None, fallback()).unwrap();
        assert_eq!(
            event_of(&normalized).reason.as_deref(),
            Some("Permanent / Suppressed")
        );
    }
}
