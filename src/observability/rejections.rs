//! The last refused deliveries of each source, in memory: what answers "why is Xero failing?"
//! at a glance. A refusal stores nothing durable (that promise stays), so this ring is all
//! there is of one: the time, the cause, who sent it and which check failed. Never a body or
//! a header value, which may be a forgery's payload.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Refusals kept per source; the oldest goes as a new one comes.
pub const PER_SOURCE: usize = 50;
/// Refusals kept for names no source is configured under, all together: anyone can make
/// those up, so they share one ring and cannot crowd out a real source's.
pub const UNKNOWN_SOURCES: usize = 50;
/// The longest name of an unknown source kept (the rest is cut: it is the sender's text).
const NAME_CHARS: usize = 64;

/// One refused delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    #[serde(serialize_with = "crate::activity::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// The label of `hooktrail_deliveries_rejected_total` (`bad_signature`, `stale_timestamp`…).
    pub cause: &'static str,
    /// Which check failed, in words (`the webhook-signature header is missing`).
    pub check: String,
    /// The address of the connection (not a forwarded-for header, which the sender writes).
    #[schema(value_type = Option<String>)]
    pub remote: Option<IpAddr>,
    /// For an unknown source: the name it was sent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
}

/// The rings, shared by every intake worker.
#[derive(Debug, Default)]
pub struct RecentRejections {
    rings: Mutex<Rings>,
}

#[derive(Debug, Default)]
struct Rings {
    by_source: HashMap<String, VecDeque<Refusal>>,
    unknown: VecDeque<Refusal>,
}

impl RecentRejections {
    /// Records a refusal by a configured source (only those: the caller checks the name, so
    /// a stranger cannot grow the map).
    pub fn record(&self, source: &str, refusal: Refusal) {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let ring = match rings.by_source.get_mut(source) {
            Some(ring) => ring,
            None => rings.by_source.entry(source.to_owned()).or_default(),
        };
        push_bounded(ring, refusal, PER_SOURCE);
    }

    /// Records a delivery sent to a name no source is configured under.
    pub fn record_unknown(&self, name: &str, mut refusal: Refusal) {
        refusal.sent_to = Some(name.chars().take(NAME_CHARS).collect());
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        push_bounded(&mut rings.unknown, refusal, UNKNOWN_SOURCES);
    }

    /// A source's refusals, newest first.
    pub fn of(&self, source: &str) -> Vec<Refusal> {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        rings
            .by_source
            .get(source)
            .map(|ring| ring.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Refusals of unknown sources, newest first.
    pub fn of_unknown_sources(&self) -> Vec<Refusal> {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        rings.unknown.iter().rev().cloned().collect()
    }
}

fn push_bounded(ring: &mut VecDeque<Refusal>, refusal: Refusal, capacity: usize) {
    if ring.len() == capacity {
        ring.pop_front();
    }
    ring.push_back(refusal);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(n: i64) -> Refusal {
        Refusal {
            at: DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap(),
            cause: "bad_signature",
            check: "no signature matches".to_owned(),
            remote: Some("192.0.2.7".parse().unwrap()),
            sent_to: None,
        }
    }

    #[test]
    fn each_source_keeps_its_latest_refusals_newest_first() {
        let recent = RecentRejections::default();
        for n in 0..(PER_SOURCE as i64 + 5) {
            recent.record("xero", refusal(n));
        }
        recent.record("stripe", refusal(1_000));
        let xero = recent.of("xero");
        assert_eq!(xero.len(), PER_SOURCE);
        assert_eq!(xero[0], refusal(PER_SOURCE as i64 + 4));
        assert_eq!(xero[PER_SOURCE - 1], refusal(5), "the oldest five went");
        assert_eq!(recent.of("stripe"), vec![refusal(1_000)]);
        assert!(recent.of("mailgun").is_empty());
    }

    #[test]
    fn unknown_names_share_one_bounded_ring_and_are_cut_short() {
        let recent = RecentRejections::default();
        let long = "x".repeat(10_000);
        for _ in 0..(UNKNOWN_SOURCES + 10) {
            recent.record_unknown(&long, refusal(0));
        }
        let unknown = recent.of_unknown_sources();
        assert_eq!(unknown.len(), UNKNOWN_SOURCES);
        assert_eq!(
            unknown[0].sent_to.as_deref().map(str::len),
            Some(NAME_CHARS)
        );
        assert!(recent.of(&long).is_empty());
    }
}
