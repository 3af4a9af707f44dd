//! Counts of what became of each source's deliveries, kept in the store so that they survive
//! restarts and read the same on every gateway sharing it (the operator console's "accepted,
//! duplicate, flagged, refused in the last hour and day").
//!
//! Intake counts in memory, on the request's thread, and a background task adds the counts
//! to the store every few seconds ([`TALLY_EVERY`]): counting costs intake no write, and
//! several gateways' additions sum. Counts are by five-minute bucket, kept for two days. A
//! crash loses at most the counts of its last few seconds, never a delivery: the log, not
//! the tally, is the record of what was received.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::COUNTS_KEPT_FOR;

/// How long a bucket is: the grain of "the last hour".
pub const BUCKET_SECS: i64 = 300;
/// How often a gateway adds what it counted to the store.
pub const TALLY_EVERY: Duration = Duration::from_secs(10);

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arrival {
    /// Stored, and read (normalized, or kept as an unknown type).
    Stored,
    /// Stored, and flagged: its content could not be read.
    Flagged,
    /// Seen before: nothing stored.
    Duplicate,
    /// Refused, for this cause (the label of `hooktrail_deliveries_rejected_total`).
    Refused(&'static str),
}

impl Arrival {
    /// The outcome as stored: `stored`, `flagged`, `duplicate` or `refused:<cause>`.
    pub fn key(self) -> String {
        match self {
            Arrival::Stored => "stored".to_owned(),
            Arrival::Flagged => "flagged".to_owned(),
            Arrival::Duplicate => "duplicate".to_owned(),
            Arrival::Refused(cause) => format!("refused:{cause}"),
        }
    }
}

/// One count: a source's deliveries with one outcome in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    pub source: String,
    /// The bucket's start, in seconds since the epoch (a multiple of [`BUCKET_SECS`]).
    pub bucket: i64,
    /// See [`Arrival::key`].
    pub outcome: String,
    pub count: u64,
}

/// What a gateway adds to the store at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyBatch {
    /// Counts to add to those stored.
    pub rows: Vec<TallyRow>,
    /// When each source last had a delivery stored (a later time stored wins).
    pub last_stored: Vec<(String, DateTime<Utc>)>,
    /// Buckets that start before this are dropped.
    pub drop_before: i64,
}

impl TallyBatch {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.last_stored.is_empty()
    }
}

/// What the store holds: counts since a time, and each source's latest stored delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub rows: Vec<TallyRow>,
    pub last_stored: HashMap<String, DateTime<Utc>>,
}

impl Tally {
    /// The count of `source`'s deliveries with `outcome` in the buckets from `since` on.
    pub fn count(&self, source: &str, outcome: &str, since: DateTime<Utc>) -> u64 {
        let from = bucket_of(since);
        self.rows
            .iter()
            .filter(|row| row.source == source && row.outcome == outcome && row.bucket >= from)
            .map(|row| row.count)
            .sum()
    }

    /// `source`'s refusals from `since` on, by cause, most first.
    pub fn refusals(&self, source: &str, since: DateTime<Utc>) -> Vec<(String, u64)> {
        let from = bucket_of(since);
        let mut by_cause: HashMap<&str, u64> = HashMap::new();
        for row in &self.rows {
            if row.source == source
                && row.bucket >= from
                && let Some(cause) = row.outcome.strip_prefix("refused:")
            {
                *by_cause.entry(cause).or_default() += row.count;
            }
        }
        let mut causes: Vec<(String, u64)> = by_cause
            .into_iter()
            .map(|(cause, count)| (cause.to_owned(), count))
            .collect();
        causes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        causes
    }
}

/// The start of the bucket `at` falls in.
pub fn bucket_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(BUCKET_SECS) * BUCKET_SECS
}

/// What this gateway has counted and not yet added to the store.
#[derive(Debug, Default)]
pub struct TallyCounter {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Source → (bucket, arrival) → count. Keyed by source first so that counting looks the
    /// name up by reference: a request allocates nothing once its source has been counted
    /// in this round.
    counts: HashMap<String, HashMap<(i64, Arrival), u64>>,
    last_stored: HashMap<String, DateTime<Utc>>,
    /// A batch the store refused, sent again with the next one (counts add up, so sending a
    /// row twice in one batch is the same as once with the sum).
    refused: TallyBatch,
}

impl TallyCounter {
    /// Counts one delivery of a configured source (never an unknown name: anyone can make
    /// those up, and each would be a row). On every intake request: a short lock, and no
    /// allocation but the first of a source in a round.
    pub fn count(&self, source: &str, arrival: Arrival, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = match pending.counts.get_mut(source) {
            Some(counts) => counts,
            None => pending.counts.entry(source.to_owned()).or_default(),
        };
        *counts.entry((bucket_of(at), arrival)).or_default() += 1;
        if matches!(arrival, Arrival::Stored | Arrival::Flagged) {
            match pending.last_stored.get_mut(source) {
                Some(last) => *last = (*last).max(at),
                None => {
                    pending.last_stored.insert(source.to_owned(), at);
                }
            }
        }
    }

    /// Adds what this counter holds to `store`'s tally; on failure it is kept for the next
    /// try.
    pub fn flush_to(&self, store: &dyn super::WriteSide) -> Result<(), super::StoreError> {
        let batch = self.take(Utc::now());
        if batch.is_empty() {
            return Ok(());
        }
        store
            .add_to_tally(&batch)
            .inspect_err(|_| self.restore(batch))
    }

    /// Takes what was counted, as a batch for the store (which drops buckets older than
    /// [`COUNTS_KEPT_FOR`] before `now`). Put it back with [`TallyCounter::restore`] if the store
    /// refuses it.
    pub fn take(&self, now: DateTime<Utc>) -> TallyBatch {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        batch_of(&std::mem::take(&mut *pending), now)
    }

    /// What was counted and not yet taken, left in place: a reader adds it to the stored
    /// tally to be current without writing.
    pub fn snapshot(&self, now: DateTime<Utc>) -> TallyBatch {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        batch_of(&pending, now)
    }

    /// Keeps a batch the store could not take, to be added with the next one.
    pub fn restore(&self, batch: TallyBatch) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.refused.rows.extend(batch.rows);
        pending.refused.last_stored.extend(batch.last_stored);
    }
}

/// `pending` as one batch: rows merged by key, without buckets the store would drop, and
/// sorted, so that gateways adding to a shared database lock its rows in the same order (in
/// any other, two concurrent additions could deadlock). A batch refused again and again thus
/// stays as small as the keys it counts.
fn batch_of(pending: &Pending, now: DateTime<Utc>) -> TallyBatch {
    let drop_before = bucket_of(now - COUNTS_KEPT_FOR);
    let mut merged: std::collections::BTreeMap<(&str, i64, String), u64> = Default::default();
    for row in &pending.refused.rows {
        *merged
            .entry((row.source.as_str(), row.bucket, row.outcome.clone()))
            .or_default() += row.count;
    }
    for (source, counts) in &pending.counts {
        for ((bucket, arrival), count) in counts {
            *merged
                .entry((source.as_str(), *bucket, arrival.key()))
                .or_default() += count;
        }
    }
    let mut last_stored: std::collections::BTreeMap<&str, DateTime<Utc>> = Default::default();
    for (source, at) in pending
        .refused
        .last_stored
        .iter()
        .map(|(s, at)| (s, at))
        .chain(&pending.last_stored)
    {
        let last = last_stored.entry(source.as_str()).or_insert(*at);
        *last = (*last).max(*at);
    }
    TallyBatch {
        rows: merged
            .into_iter()
            .filter(|((_, bucket, _), _)| *bucket >= drop_before)
            .map(|((source, bucket, outcome), count)| TallyRow {
                source: source.to_owned(),
                bucket,
                outcome,
                count,
            })
            .collect(),
        last_stored: last_stored
            .into_iter()
            .map(|(source, at)| (source.to_owned(), at))
            .collect(),
        drop_before,
    }
}

impl Tally {
    /// Adds counts not yet stored (a [`TallyCounter::snapshot`]) to these.
    pub fn add(&mut self, batch: TallyBatch) {
        self.rows.extend(batch.rows);
        for (source, at) in batch.last_stored {
            let last = self.last_stored.entry(source).or_insert(at);
            *last = (*last).max(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_100 + secs, 0).unwrap()
    }

    #[test]
    fn counts_gather_by_source_bucket_and_outcome_until_taken() {
        let counter = TallyCounter::default();
        counter.count("xero", Arrival::Stored, at(0));
        counter.count("xero", Arrival::Stored, at(10));
        counter.count("xero", Arrival::Refused("bad_signature"), at(20));
        counter.count("xero", Arrival::Stored, at(BUCKET_SECS));
        let mut batch = counter.take(at(BUCKET_SECS));
        batch
            .rows
            .sort_by(|a, b| (a.bucket, &a.outcome).cmp(&(b.bucket, &b.outcome)));
        let rows: Vec<(i64, &str, u64)> = batch
            .rows
            .iter()
            .map(|row| {
                (
                    row.bucket - bucket_of(at(0)),
                    row.outcome.as_str(),
                    row.count,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, "refused:bad_signature", 1),
                (0, "stored", 2),
                (BUCKET_SECS, "stored", 1)
            ]
        );
        assert_eq!(batch.last_stored, [("xero".to_owned(), at(BUCKET_SECS))]);
        assert!(counter.take(at(0)).is_empty(), "taken once");
    }

    #[test]
    fn a_refused_batch_is_counted_again_next_time() {
        let counter = TallyCounter::default();
        counter.count("stripe", Arrival::Duplicate, at(0));
        counter.count("stripe", Arrival::Refused("stale_timestamp"), at(0));
        let batch = counter.take(at(0));
        counter.count("stripe", Arrival::Duplicate, at(1));
        counter.restore(batch);
        let again = counter.take(at(2));
        let tally = Tally {
            rows: again.rows,
            last_stored: HashMap::new(),
        };
        assert_eq!(tally.count("stripe", "duplicate", at(0)), 2);
        assert_eq!(
            tally.refusals("stripe", at(0)),
            [("stale_timestamp".to_owned(), 1)]
        );
    }

    #[test]
    fn reading_sums_the_buckets_since_a_time() {
        let row = |bucket: i64, outcome: &str, count| TallyRow {
            source: "hoops".to_owned(),
            bucket: bucket_of(at(0)) + bucket * BUCKET_SECS,
            outcome: outcome.to_owned(),
            count,
        };
        let tally = Tally {
            rows: vec![
                row(0, "stored", 5),
                row(1, "stored", 7),
                row(1, "refused:bad_signature", 2),
                row(1, "refused:missing_signature", 3),
                row(2, "refused:bad_signature", 2),
            ],
            last_stored: HashMap::new(),
        };
        assert_eq!(tally.count("hoops", "stored", at(0)), 12);
        assert_eq!(tally.count("hoops", "stored", at(BUCKET_SECS)), 7);
        assert_eq!(tally.count("xero", "stored", at(0)), 0);
        assert_eq!(
            tally.refusals("hoops", at(BUCKET_SECS)),
            [
                ("bad_signature".to_owned(), 4),
                ("missing_signature".to_owned(), 3)
            ]
        );
    }
}
