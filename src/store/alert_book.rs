//! The state of each alert rule (see [`crate::alerts`]), kept in the store so that gateways
//! sharing it agree on whether an alert is firing and notify each change once between them.
//!
//! The store holds records, not rules: it offers a read of every record and a compare-and-swap
//! of one, by revision. Whoever swaps first wins a change; the others read again next round.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One alert's state, and how far its notification has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub firing: bool,
    /// When the current state began.
    pub since: DateTime<Utc>,
    /// Why, in words, as the rule saw it when the state began.
    pub summary: String,
    /// How many times the state has changed: each change is notified once.
    pub change: u64,
    /// The last change whose notification the receiver accepted (0: none yet).
    pub notified: u64,
    /// Failed attempts at notifying the current change.
    pub attempts: u32,
    /// No attempt before this: a gateway's claim on the notification, or the backoff after a
    /// failure.
    pub next_attempt: Option<DateTime<Utc>>,
    /// The last failed attempt's error, for the console.
    pub last_error: Option<String>,
}

impl AlertRecord {
    /// Whether the current change still waits for its notification.
    pub fn unnotified(&self) -> bool {
        self.notified < self.change
    }
}

/// A record as stored, with the revision a swap must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    pub name: String,
    pub revision: u64,
    pub record: AlertRecord,
}

/// The stored form: JSON, so a record written by one version reads in the next.
pub(crate) fn encode(record: &AlertRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

pub(crate) fn decode(bytes: &[u8]) -> Result<AlertRecord, super::StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|err| super::StoreError::Corrupt(format!("an alert record: {err}")))
}
