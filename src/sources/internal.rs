//! Hooktrail's own records in the delivery log (today: erasures). They are chained like every
//! delivery, so the log shows when personal data was erased, and `reindex` rebuilds their
//! entries like any other source's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RawDelivery;
use crate::activity::details::Details;
use crate::activity::{Actor, Category, EntryKind, NewEntry, Normalized, Outcome, Subject};

/// The reserved source name of internal records; no configured source may take it.
pub const SOURCE: &str = "hooktrail";

/// An erasure, as logged. It never holds the erased content itself (not even the address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub erased_at: DateTime<Utc>,
    /// `subject` or `email`.
    pub target: String,
    pub subjects: Vec<Subject>,
    pub entries: u64,
    pub raw_bodies: u64,
}

impl ErasureRecord {
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"type": "system.erasure", "erasure": self}))
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    record_type: String,
    erasure: ErasureRecord,
}

pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let envelope: Envelope = match serde_json::from_slice(delivery.body) {
        Ok(envelope) => envelope,
        Err(err) => {
            return Normalized::flagged(
                None,
                Outcome::Unparseable {
                    reason: err.to_string(),
                },
            );
        }
    };
    let (Some(kind), "system.erasure") = (
        EntryKind::new("system.erasure"),
        envelope.record_type.as_str(),
    ) else {
        let reason = format!("unknown internal record {:?}", envelope.record_type);
        return Normalized::flagged(None, Outcome::Unparseable { reason });
    };
    let erasure = envelope.erasure;
    let description = format!(
        "Personal data erased by request ({}): {} entries and {} raw deliveries redacted",
        if erasure.target == "email" {
            "an email address"
        } else {
            "this timeline"
        },
        erasure.entries,
        erasure.raw_bodies
    );
    let entries = if erasure.subjects.is_empty() {
        Vec::new()
    } else {
        vec![NewEntry {
            kind,
            category: Category::System,
            occurred_at: erasure.erased_at,
            actor: Actor::system(),
            subjects: erasure.subjects,
            summary: description.clone(),
            details: Details::Note {
                action: Some("erasure".to_owned()),
                description: Some(description),
            },
            event_id: None,
            correlation: Vec::new(),
        }]
    };
    Normalized {
        delivery_id: None,
        entries,
        outcome: Outcome::Normalized,
    }
}
