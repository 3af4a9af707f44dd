//! The domain: subjects, entries, their typed details, and the event catalog that the business
//! app and its automation rules send.

pub mod catalog;
pub mod details;
pub mod entry;
pub mod links;
pub mod money;
pub mod occurred;
pub mod redact;
pub mod severity;
pub mod subject;
pub mod timestamp;
pub mod wording;

pub use details::Details;
pub use entry::{Actor, ActorKind, Category, Entry, EntryId, EntryKind, NewEntry, SourceRef};
pub use occurred::EntryFlag;
pub use subject::{Subject, SubjectKind};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What normalizing one delivery produced. Normalizing never fails: a body that cannot be read
/// is kept in the log and flagged, so nothing a provider signed is ever dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalized {
    /// The provider's id for the whole delivery (`webhook-id`, `evt_…`), its dedup key.
    /// `None` where the provider gives none; then each entry's own event id is the dedup key.
    pub delivery_id: Option<String>,
    pub entries: Vec<NewEntry>,
    pub outcome: Outcome,
}

impl Normalized {
    pub fn flagged(delivery_id: Option<String>, outcome: Outcome) -> Self {
        Normalized {
            delivery_id,
            entries: Vec::new(),
            outcome,
        }
    }
}

/// How a delivery's content was understood; stored with the delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every event became a typed entry.
    Normalized,
    /// An event type the catalog does not know: kept as a generic entry with its raw data.
    UnknownType { event_type: String },
    /// A known type whose data did not fit: kept as a generic entry, flagged for a look.
    Malformed { reason: String },
    /// Not readable at all (not JSON, no type, no subject): kept in the log only, flagged.
    Unparseable { reason: String },
}

impl Outcome {
    /// Flagged deliveries want a person's attention (and can be re-normalized after an upgrade).
    pub fn is_flagged(&self) -> bool {
        matches!(
            self,
            Outcome::Malformed { .. } | Outcome::Unparseable { .. }
        )
    }

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Normalized => "normalized",
            Outcome::UnknownType { .. } => "unknown_type",
            Outcome::Malformed { .. } => "malformed",
            Outcome::Unparseable { .. } => "unparseable",
        }
    }
}
