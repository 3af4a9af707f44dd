//! When an entry happened. Events say so themselves (a catalog `timestamp`, Stripe's `created`,
//! a provider's event time), and a signed event can still say anything: the year 1, the year
//! 9999, the edge of what a date can hold. A claim outside [`plausible_range`] is not used: the
//! entry is placed at its receipt and flagged, and the claim is kept in the flag.
//!
//! This is applied in one place, [`crate::activity::Entry::from_new`], where every normalizer's
//! entry meets its delivery's receipt time, so no source can bypass it and `reindex` reproduces
//! it exactly (it depends on the stored receipt time, not on the clock).

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// 2000-01-01T00:00:00Z. Nothing this gateway tracks happened earlier, while the usual wrong
/// values do: Unix time 0 (1970) and the zero values of other languages' date types (year 1).
pub const EARLIEST_SECS: i64 = 946_684_800;

/// How far after its receipt an event may say it happened: clocks disagree, and a local time
/// sent as if it were UTC is off by up to 14 hours. Anything later was not true on arrival.
pub const AFTER_RECEIPT: TimeDelta = TimeDelta::days(1);

/// The range in words, for people reading a flagged entry.
pub const PLAUSIBLE_RANGE_TEXT: &str = "from 2000 until a day after it was received";

/// Why an entry wants a person's look, beside its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum EntryFlag {
    /// The event claimed a time outside the plausible range (from 2000 until a day after it was
    /// received: `plausible_range`); the entry is placed at its receipt instead. The claim is RFC 3339 text, in UTC (chrono's, which writes any year).
    OccurredAtOutOfRange { claimed_occurred_at: String },
}

/// The times an event received at `received_at` may plausibly claim to have happened at.
pub fn plausible_range(received_at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = DateTime::from_timestamp(EARLIEST_SECS, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let latest = received_at
        .checked_add_signed(AFTER_RECEIPT)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (earliest, latest)
}

/// The time to place an entry at: what it claims when plausible, else its receipt, flagged.
pub fn settle(
    claimed: DateTime<Utc>,
    received_at: DateTime<Utc>,
) -> (DateTime<Utc>, Option<EntryFlag>) {
    let (earliest, latest) = plausible_range(received_at);
    if (earliest..=latest).contains(&claimed) {
        return (claimed, None);
    }
    let flag = EntryFlag::OccurredAtOutOfRange {
        // UTC has no offset to add, so this cannot overflow even at chrono's limits.
        claimed_occurred_at: claimed.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    };
    (received_at, Some(flag))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn received() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap()
    }

    #[test]
    fn plausible_claims_are_kept() {
        for claimed in [
            Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2015, 10, 5, 21, 42, 19).unwrap(),
            received(),
            received() + TimeDelta::hours(14),
            received() + AFTER_RECEIPT,
        ] {
            assert_eq!(settle(claimed, received()), (claimed, None), "{claimed}");
        }
    }

    #[test]
    fn implausible_claims_are_placed_at_receipt_and_kept_in_the_flag() {
        let cases = [
            (
                DateTime::from_timestamp(-8_334_601_228_800, 0).unwrap(),
                "-262143-01-01T00:00:00Z",
            ),
            (
                Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
                "9999-12-31T23:59:59Z",
            ),
            (
                DateTime::<Utc>::MAX_UTC,
                "+262142-12-31T23:59:59.999999999Z",
            ),
            (DateTime::UNIX_EPOCH, "1970-01-01T00:00:00Z"),
            (
                Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
                "0001-01-01T00:00:00Z",
            ),
            (
                Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap(),
                "1999-12-31T23:59:59Z",
            ),
            (
                received() + AFTER_RECEIPT + TimeDelta::seconds(1),
                "2026-03-05T15:00:01Z",
            ),
        ];
        for (claimed, text) in cases {
            let (at, flag) = settle(claimed, received());
            assert_eq!(at, received(), "{text}");
            assert_eq!(
                flag,
                Some(EntryFlag::OccurredAtOutOfRange {
                    claimed_occurred_at: text.to_owned()
                })
            );
        }
    }

    #[test]
    fn the_flag_reads_as_the_api_shows_it() {
        let flag = EntryFlag::OccurredAtOutOfRange {
            claimed_occurred_at: "0001-01-01T00:00:00Z".to_owned(),
        };
        let json = serde_json::to_value(&flag).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"reason": "occurred_at_out_of_range", "claimed_occurred_at": "0001-01-01T00:00:00Z"})
        );
        assert_eq!(serde_json::from_value::<EntryFlag>(json).unwrap(), flag);
    }

    #[test]
    fn a_receipt_at_the_end_of_time_does_not_overflow() {
        let (at, flag) = settle(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!((at, flag), (DateTime::<Utc>::MAX_UTC, None));
    }
}
