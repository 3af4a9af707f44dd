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

/// A re-normalization run (or one part of a long one), as logged: who asked, for which
/// deliveries, and what became of them. It makes no entry: it is the audit of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenormalizationRecord {
    pub at: DateTime<Utc>,
    /// The operator (a username, an API token's name, or the CLI's `--by`).
    pub by: String,
    /// What was asked for, in words (`delivery 42`, `flagged deliveries of xero`).
    pub selection: String,
    /// Every delivery looked at, by seq.
    pub deliveries: Vec<u64>,
    /// Those whose entries or outcome changed.
    pub changed: Vec<u64>,
    /// Those left as they were because only a full `reindex` can redo them.
    pub needs_reindex: Vec<u64>,
    /// Those that could not be read again (body dropped, source no longer configured).
    pub unreadable: Vec<u64>,
}

impl RenormalizationRecord {
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"type": "system.renormalization", "renormalization": self}),
        )
        .unwrap_or_default()
    }
}

/// Every kind of internal record, by its `type`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Record {
    #[serde(rename = "system.erasure")]
    Erasure { erasure: ErasureRecord },
    #[serde(rename = "system.renormalization")]
    Renormalization {
        // Read to check the record's shape; it makes no entry, so nothing uses it.
        #[allow(dead_code)]
        renormalization: RenormalizationRecord,
    },
}

pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let record: Record = match serde_json::from_slice(delivery.body) {
        Ok(record) => record,
        Err(err) => {
            let reason = format!("not an internal record Hooktrail knows: {err}");
            return Normalized::flagged(None, Outcome::Unparseable { reason });
        }
    };
    let erasure = match record {
        Record::Erasure { erasure } => erasure,
        Record::Renormalization { .. } => {
            return Normalized {
                delivery_id: None,
                entries: Vec::new(),
                outcome: Outcome::Normalized,
            };
        }
    };
    let Some(kind) = EntryKind::new("system.erasure") else {
        return Normalized::flagged(
            None,
            Outcome::Unparseable {
                reason: "the erasure kind is not in the catalog".to_owned(),
            },
        );
    };
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
