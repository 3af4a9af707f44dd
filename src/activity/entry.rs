//! An activity entry: one line of a timeline, immutable once written.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::details::Details;
use super::occurred::{self, EntryFlag};
use super::subject::Subject;

/// What an entry is about. Each category's number is on disk — timeline index keys hold it
/// (see [`Category::code`]) — so the numbers are written out: never change one; a new
/// category takes the next.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[schema(description = "What an entry is about; each has its lane on a timeline.")]
#[repr(u8)]
pub enum Category {
    Workflow = 0,
    Communication = 1,
    Accounting = 2,
    Purchasing = 3,
    Automation = 4,
    System = 5,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Workflow,
        Category::Communication,
        Category::Accounting,
        Category::Purchasing,
        Category::Automation,
        Category::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Workflow => "workflow",
            Category::Communication => "communication",
            Category::Accounting => "accounting",
            Category::Purchasing => "purchasing",
            Category::Automation => "automation",
            Category::System => "system",
        }
    }

    /// A stable one-byte code, used in index keys: the category's written-out number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The category whose [`Category::code`] this is.
    pub fn from_code(code: u8) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|category| category.code() == code)
    }
}

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown category {0:?}")]
pub struct UnknownCategory(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Customer,
    Automation,
    Integration,
    System,
}

/// Who did it: a staff user, the customer, an automation rule, an integration or the system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
}

impl Actor {
    pub fn integration(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Integration,
            id: None,
            name: name.into(),
        }
    }

    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: "System".to_owned(),
        }
    }
}

/// The entry's kind: a dot-delimited event type such as `status.changed` or `email.delivered`.
/// Valid on construction (1–100 characters of `[A-Za-z0-9_.-]`), so it is safe in keys and markup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EntryKind(String);

impl EntryKind {
    pub fn new(kind: impl Into<String>) -> Option<Self> {
        let kind = kind.into();
        let valid = !kind.is_empty()
            && kind.len() <= 100
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then_some(EntryKind(kind))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for EntryKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        EntryKind::new(raw).ok_or_else(|| serde::de::Error::custom("invalid entry kind"))
    }
}

impl utoipa::PartialSchema for EntryKind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9_.-]{1,100}$"))
            .description(Some(
                "A dot-delimited event type: one of the catalog's, a provider's \
                 (`email.delivered`, `quickbooks.invoice.update`…), or one Hooktrail does not \
                 know yet.",
            ))
            .examples(["status.changed"])
            .into()
    }
}

impl ToSchema for EntryKind {}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Entry ids are ULIDs: time-ordered (cheap appends in a B-tree) and opaque in URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryId(Ulid);

impl EntryId {
    /// Entry ids are derived, not random: the receive time in milliseconds followed by the
    /// delivery seq and the entry's index within the delivery. That keeps them time-ordered,
    /// unique (seqs are), and identical when `reindex` rebuilds the projections.
    pub fn derive(received_at: DateTime<Utc>, delivery_seq: u64, index: u16) -> Self {
        let millis = u64::try_from(received_at.timestamp_millis()).unwrap_or(0);
        let random = (u128::from(delivery_seq) << 16) | u128::from(index);
        EntryId(Ulid::from_parts(millis, random))
    }

    pub fn as_u128(self) -> u128 {
        self.0.0
    }

    pub const fn from_u128(raw: u128) -> Self {
        EntryId(Ulid(raw))
    }
}

impl utoipa::PartialSchema for EntryId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))
            .description(Some("A ULID: time-ordered, opaque."))
            .examples(["01KJX4N2Q80000000100000000"])
            .into()
    }
}

impl ToSchema for EntryId {}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EntryId {
    type Err = ulid::DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(EntryId)
    }
}

/// Where an entry came from: the configured source, the provider's own event id, and the
/// delivery in the log that carried it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceRef {
    pub name: String,
    pub event_id: Option<String>,
    pub delivery_seq: u64,
}

/// What a normalizer produces: an entry before the store gives it an id and a delivery seq.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub category: Category,
    /// When the event says it happened; [`Entry::from_new`] decides whether that is used.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    pub subjects: Vec<Subject>,
    pub summary: String,
    pub details: Details,
    /// The provider's id for this event (`webhook-id`, `sg_event_id`, …), also its dedup key.
    pub event_id: Option<String>,
    /// Link keys (see [`crate::activity::links`]) through which the store finds the entry's
    /// subjects: a delivery callback names its email's provider message id, an accounting
    /// event its `{platform}:{account}:{entity}:{id}`. What no link resolves yet is unmatched,
    /// and is attached when the link arrives.
    pub correlation: Vec<String>,
}

/// A stored entry, as the API and the pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    pub id: EntryId,
    pub kind: EntryKind,
    pub category: Category,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub received_at: DateTime<Utc>,
    pub actor: Actor,
    pub subjects: Vec<Subject>,
    pub summary: String,
    pub details: Details,
    pub source: SourceRef,
    /// For `email.sent`: the rollup of its delivery callbacks, filled in when read (the entry
    /// itself stays immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<super::details::DeliveryStatus>,
    /// The link keys the entry is correlated through (`quickbooks:{realm}:Invoice:{id}`, a
    /// provider's message id…; see `NewEntry::correlation`); left out when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlation: Vec<String>,
    /// Set when something about the entry wants a person's look (a time it claimed that could
    /// not be used: see `activity::occurred`); left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<EntryFlag>,
}

impl Entry {
    /// The stored entry of `new`. Its time is settled here, where every source's entry meets
    /// its receipt time: a claim outside the plausible range is replaced by the receipt and
    /// kept in the flag ([`occurred::settle`]).
    pub fn from_new(
        new: NewEntry,
        id: EntryId,
        received_at: DateTime<Utc>,
        source: SourceRef,
    ) -> Self {
        let (occurred_at, flag) = occurred::settle(new.occurred_at, received_at);
        Entry {
            id,
            kind: new.kind,
            category: new.category,
            occurred_at,
            received_at,
            actor: new.actor,
            subjects: new.subjects,
            summary: new.summary,
            details: new.details,
            source,
            delivery_status: None,
            correlation: new.correlation,
            flag,
        }
    }
}

/// Summaries are one line: collapse whitespace and cap the length.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let mut cut: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_time_ordered_and_unique() {
        let t1 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t2 = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let a = EntryId::derive(t1, 7, 0);
        let b = EntryId::derive(t1, 7, 1);
        let c = EntryId::derive(t2, 1, 0);
        assert!(a < b && b < c);
        assert_eq!(a, EntryId::derive(t1, 7, 0));
        assert_eq!(a.to_string().parse::<EntryId>().unwrap(), a);
    }

    /// The codes timeline keys hold. A match, so a new category cannot go unpinned.
    fn pinned_code(category: Category) -> u8 {
        match category {
            Category::Workflow => 0,
            Category::Communication => 1,
            Category::Accounting => 2,
            Category::Purchasing => 3,
            Category::Automation => 4,
            Category::System => 5,
        }
    }

    #[test]
    fn category_codes_are_pinned_both_ways() {
        for category in Category::ALL {
            assert_eq!(category.code(), pinned_code(category), "{category:?}");
            assert_eq!(Category::from_code(pinned_code(category)), Some(category));
        }
        assert_eq!(Category::ALL.map(Category::code), [0, 1, 2, 3, 4, 5]);
        // Every code belongs to one category at most, and only pinned ones to any.
        for code in 0..=u8::MAX {
            match Category::from_code(code) {
                Some(category) => assert_eq!(pinned_code(category), code),
                None => assert!(Category::ALL.iter().all(|c| pinned_code(*c) != code)),
            }
        }
    }

    #[test]
    fn entry_kinds_are_restricted() {
        assert!(EntryKind::new("status.changed").is_some());
        assert!(EntryKind::new("").is_none());
        assert!(EntryKind::new("<script>").is_none());
        assert!(EntryKind::new("a".repeat(101)).is_none());
    }

    #[test]
    fn one_line_collapses_and_truncates() {
        assert_eq!(one_line("  a \n b\t c ", 80), "a b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }

    #[test]
    fn categories_round_trip() {
        for category in Category::ALL {
            assert_eq!(category.as_str().parse::<Category>().unwrap(), category);
        }
    }
}
