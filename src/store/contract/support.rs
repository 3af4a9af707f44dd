//! What the contract cases build their deliveries from.

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use super::Fixture;
use crate::activity::details::{Details, EmailEvent, EmailStatus};
use crate::activity::{Actor, Category, EntryKind, NewEntry, Normalized, Outcome, Subject};
use crate::store::{Capture, PageQuery, Store};

/// Three deliveries on job:1, seqs 1 to 3.
pub fn three_deliveries(fixture: &mut Fixture) -> &dyn Store {
    let store = fixture.store();
    let batch = [
        single("a", "job:1", 1),
        single("b", "job:1", 2),
        single("c", "job:1", 3),
    ];
    store.append(&batch).unwrap();
    store
}

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

pub fn entry(subject: &str, category: Category, occurred: i64, event_id: Option<&str>) -> NewEntry {
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

pub fn capture(delivery_id: Option<&str>, entries: Vec<NewEntry>) -> Capture {
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

pub fn single(id: &str, subject: &str, occurred: i64) -> Capture {
    capture(
        Some(id),
        vec![entry(subject, Category::Workflow, occurred, Some(id))],
    )
}

pub fn page(store: &dyn Store, subject: &str, query: PageQuery) -> crate::store::Page {
    store
        .subject_entries(&subject.parse().unwrap(), &query)
        .unwrap()
}

/// A page of every line, callbacks included.
pub fn query(limit: usize) -> PageQuery {
    PageQuery {
        callbacks: true,
        limit,
        before: None,
        category: None,
    }
}

pub fn email_sent(id: &str, subject: &str, provider_message_id: &str) -> Capture {
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

pub fn callback(
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

/// An email on `subject` (event `m1`, provider id `sg-erase`) and its bounce from
/// ann@acme.test (event `ev1`): two deliveries, what the erasure cases erase.
pub fn an_email_bounced_by_ann(store: &dyn Store, subject: &str) {
    store
        .append(&[email_sent("m1", subject, "sg-erase")])
        .unwrap();
    store
        .append(&[callback("ev1", "sg-erase", EmailStatus::Bounced, 5)])
        .unwrap();
}

/// The event ids of `entries`, in order: which deliveries' entries a read returned.
pub fn event_ids(entries: &[crate::activity::Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| entry.source.event_id.clone().unwrap_or_default())
        .collect()
}
