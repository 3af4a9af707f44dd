//! Which deliveries an operator means: by source, outcome and time of receipt. The console's
//! deliveries list shows them a page at a time; a re-normalization takes all of them.

use chrono::{DateTime, TimeDelta, Utc};

use super::{ReadSide, StoreError, StoredDelivery};
use crate::activity::Outcome;

/// How far out of receipt order deliveries may be logged (several gateways commit to one
/// store; each stamps its own receipt time): a scan by time reads this much further back.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Deliveries read from the store per step of a scan.
const WINDOW: usize = 500;

#[derive(Debug, Default, Clone)]
pub struct DeliveryFilter {
    pub source: Option<String>,
    pub outcome: Option<OutcomeFilter>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeFilter {
    Normalized,
    UnknownType,
    Flagged,
}

impl OutcomeFilter {
    /// Each filter, its value in a URL and its label.
    pub const ALL: [(OutcomeFilter, &'static str, &'static str); 3] = [
        (OutcomeFilter::Normalized, "normalized", "Normalized"),
        (OutcomeFilter::UnknownType, "unknown_type", "Unknown type"),
        (OutcomeFilter::Flagged, "flagged", "Flagged"),
    ];

    /// `normalized`, `unknown_type`, `flagged`, or `all` (no filter).
    pub fn parse(text: &str) -> Result<Option<OutcomeFilter>, String> {
        if text == "all" {
            return Ok(None);
        }
        OutcomeFilter::ALL
            .iter()
            .find(|(_, name, _)| *name == text)
            .map(|(filter, _, _)| Some(*filter))
            .ok_or_else(|| {
                format!("“{text}” is not an outcome: use normalized, unknown_type or flagged")
            })
    }

    fn admits(self, outcome: &Outcome) -> bool {
        match self {
            OutcomeFilter::Normalized => matches!(outcome, Outcome::Normalized),
            OutcomeFilter::UnknownType => matches!(outcome, Outcome::UnknownType { .. }),
            OutcomeFilter::Flagged => outcome.is_flagged(),
        }
    }
}

impl DeliveryFilter {
    pub fn admits(&self, delivery: &StoredDelivery) -> bool {
        self.source.as_ref().is_none_or(|s| *s == delivery.source)
            && self.outcome.is_none_or(|o| o.admits(&delivery.outcome))
            && self.from.is_none_or(|from| delivery.received_at >= from)
            && self.to.is_none_or(|to| delivery.received_at < to)
    }

    /// Whether nothing older than `delivery` can match: it is well before `from`.
    pub fn passed(&self, delivery: &StoredDelivery) -> bool {
        self.from
            .is_some_and(|from| delivery.received_at < from - CLOCK_SKEW)
    }

    /// Every delivery the filter admits, by seq, oldest first: a scan from the newest back to
    /// `from` (or the log's start), O(what it passes over).
    pub fn every_seq(&self, store: &dyn ReadSide) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        let mut below = u64::MAX;
        loop {
            let window = store.deliveries_before(below, WINDOW)?;
            let reached_start = window.len() < WINDOW;
            for delivery in window {
                below = delivery.seq;
                if self.passed(&delivery) {
                    seqs.reverse();
                    return Ok(seqs);
                }
                if self.admits(&delivery) {
                    seqs.push(delivery.seq);
                }
            }
            if reached_start {
                seqs.reverse();
                return Ok(seqs);
            }
        }
    }

    /// The filter in words, for a run's log record.
    pub fn describe(&self) -> String {
        let outcome = match self.outcome {
            None => "deliveries",
            Some(OutcomeFilter::Flagged) => "flagged deliveries",
            Some(OutcomeFilter::UnknownType) => "deliveries of an unknown type",
            Some(OutcomeFilter::Normalized) => "normalized deliveries",
        };
        let mut words = match &self.source {
            Some(source) => format!("{outcome} of {source}"),
            None => format!("{outcome} of every source"),
        };
        if let Some(from) = self.from {
            words.push_str(&format!(" received from {}", from.to_rfc3339()));
        }
        if let Some(to) = self.to {
            words.push_str(&format!(" before {}", to.to_rfc3339()));
        }
        words
    }
}
