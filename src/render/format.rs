//! How times read on a page: in the configured timezone, relative, day headings. Pure
//! functions, so they are tested without a page. (Money reads through
//! [`crate::activity::money`], the same on a page as in a summary.)

use std::sync::LazyLock;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// One instant as a page shows it: relative text, with the exact local time on hover and the
/// machine-readable value in `<time datetime>` (which the page script uses to keep the
/// relative text current).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeView {
    /// RFC 3339 in UTC, for `datetime`.
    pub iso: String,
    /// `Wed, Mar 4, 2026, 9:16:17 AM CST`.
    pub exact: String,
    /// `3 hours ago`, `yesterday`, `5 days ago`.
    pub relative: String,
    /// `2:31 PM`: the local time of day, which a line shows beside the relative time.
    pub clock: String,
}

impl TimeView {
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> TimeView {
        TimeView {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exact: exact_time(at, zone),
            relative: relative_time(at, now, zone),
            clock: zoned(at, zone).format("%-I:%M %p").to_string(),
        }
    }
}

/// `Wed, Mar 4, 2026, 9:16:17 AM CST`; the format is parsed once, not for every time shown.
pub fn exact_time(at: DateTime<Utc>, zone: Tz) -> String {
    static EXACT: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| {
        StrftimeItems::new("%a, %b %-d, %Y, %-I:%M:%S %p %Z")
            .parse_to_owned()
            .unwrap_or_default()
    });
    zoned(at, zone).format_with_items(EXACT.iter()).to_string()
}

/// `at` in `zone`; in UTC when its local time there would be beyond the dates chrono can hold
/// (within a day of its limits, years ±262,143), where chrono's local-time accessors panic.
/// Entries are kept to a plausible range when written, but a page shows whatever is stored.
fn zoned(at: DateTime<Utc>, zone: Tz) -> DateTime<Tz> {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    let representable = at.naive_utc().checked_add_offset(offset).is_some();
    at.with_timezone(if representable { &zone } else { &Tz::UTC })
}

/// Beyond this many calendar days, a time reads as its date.
const RELATIVE_DAYS: i64 = 30;

/// `just now`, `5 minutes ago`, `3 hours ago` the same local day; then `yesterday`, `2 days
/// ago` by calendar days, as the day headings count them (a time from late yesterday is
/// `yesterday` under "Yesterday", not `14 hours ago`); after 30 days the local date. Times a
/// little in the future (clock skew between the business app and this server) read `just now`.
pub fn relative_time(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let seconds = (now - at).num_seconds();
    if seconds < -90 {
        return format!("in {}", span(-seconds));
    }
    if seconds < 45 {
        return "just now".to_owned();
    }
    match days_between(at, now, zone) {
        days if days <= 0 => return format!("{} ago", span(seconds)),
        1 => return "yesterday".to_owned(),
        days if days < RELATIVE_DAYS => return format!("{days} days ago"),
        _ => {}
    }
    let local = zoned(at, zone);
    if local.year() == zoned(now, zone).year() {
        local.format("%b %-d").to_string()
    } else {
        local.format("%b %-d, %Y").to_string()
    }
}

/// Local calendar days from `at` to `now` (0 the same day, 1 yesterday).
fn days_between(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> i64 {
    (local_date(now, zone) - local_date(at, zone)).num_days()
}

/// The age thresholds at which [`relative_time`] switches wording or unit within a day.
const RELATIVE_THRESHOLDS: [i64; 5] = [45, 90, 3_600, 5_400, 86_400];

/// A moment no later than the first at which [`relative_time`] of `at` reads differently than
/// it does at `now` (sooner is allowed: it only means rendering again). Past today, wording
/// changes only with the local day, so it holds until the next local midnight.
pub fn relative_time_changes_at(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    // Ages are counted in whole seconds, so a change can come up to a second early. (At the
    // end of time, `now` itself: sooner only means rendering again.)
    let in_seconds = |seconds: i64| {
        TimeDelta::try_seconds(seconds - 1)
            .and_then(|delta| now.checked_add_signed(delta))
            .unwrap_or(now)
    };
    let age = (now - at).num_seconds();
    if age < 45 {
        // `just now` until 45 s; before -90 s (skewed clocks) `in 2 minutes`, which turns
        // `just now` at -90 s and counts minutes down on the way.
        return in_seconds(if age < -90 {
            (-90 - age).min(30)
        } else {
            45 - age
        });
    }
    let midnight = next_local_midnight(now, zone);
    if days_between(at, now, zone) > 0 {
        return midnight;
    }
    // Counts round at the half unit: `5 minutes` turns `6 minutes` at 5 min 30 s.
    let (unit, half) = if age < 3_600 {
        (60, 30)
    } else {
        (3_600, 1_800)
    };
    let next_count = unit - (age + half).rem_euclid(unit);
    let next_threshold = RELATIVE_THRESHOLDS
        .iter()
        .find(|&&threshold| threshold > age)
        .map_or(i64::MAX, |threshold| threshold - age);
    in_seconds(next_count.min(next_threshold)).min(midnight)
}

/// The next midnight in `zone` after `now` (the first moment of the next local day; on a day
/// a DST change skips midnight, the earliest moment that exists).
pub fn next_local_midnight(now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let tomorrow = local_date(now, zone).succ_opt().unwrap_or(NaiveDate::MAX);
    (0..24)
        .find_map(|hour| {
            zone.from_local_datetime(&tomorrow.and_hms_opt(hour, 0, 0)?)
                .earliest()
        })
        .map_or_else(
            || now.checked_add_signed(TimeDelta::hours(1)).unwrap_or(now),
            |start| start.with_timezone(&Utc),
        )
        .max(now)
}

/// Minutes or hours, rounded; within a day (a time in the future may be further off, and
/// counts in hours).
fn span(seconds: i64) -> String {
    let (count, unit) = match seconds {
        s if s < 90 => (1, "minute"),
        s if s < 3_600 => ((s + 30) / 60, "minute"),
        s if s < 5_400 => (1, "hour"),
        s => ((s + 1_800) / 3_600, "hour"),
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// The local calendar day an instant falls on.
pub fn local_date(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    zoned(at, zone).date_naive()
}

/// `Today`, `Yesterday`, `Tuesday, March 3`, or with the year when it is not this year's.
pub fn day_heading(day: NaiveDate, today: NaiveDate) -> String {
    if day == today {
        return "Today".to_owned();
    }
    if today.pred_opt() == Some(day) {
        return "Yesterday".to_owned();
    }
    if day.year() == today.year() {
        day.format("%A, %B %-d").to_string()
    } else {
        day.format("%A, %B %-d, %Y").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_relative_time_reads_the_same_until_it_is_said_to_change() {
        let zone: Tz = "America/Chicago".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 15, 16, 17).unwrap();
        let mut ages: Vec<i64> = vec![-600, -91, -5, 0, 44, 45, 89, 90, 3_599, 3_600, 5_399];
        ages.extend([
            5_400, 86_399, 86_400, 129_599, 129_600, 2_591_999, 2_592_000,
        ]);
        ages.extend((0..60).map(|i| 37 * i * i * i + 11 * i));
        for age in ages {
            let at = now - TimeDelta::seconds(age);
            let label = relative_time(at, now, zone);
            let changes = relative_time_changes_at(at, now, zone);
            assert!(changes >= now, "age {age}: stale already");
            let horizon = (changes - now).num_seconds().min(2 * 86_400);
            for step in (0..horizon).step_by(7).chain((horizon - 1).max(0)..horizon) {
                let later = now + TimeDelta::seconds(step);
                assert_eq!(
                    relative_time(at, later, zone),
                    label,
                    "age {age}: the label changed {step} s later, before {changes}"
                );
            }
        }
        // Not absurdly cautious either: an hour-old time holds for a while.
        let hour_old = now - TimeDelta::seconds(4_000);
        assert!(relative_time_changes_at(hour_old, now, zone) - now > TimeDelta::minutes(10));
    }

    #[test]
    fn the_next_local_midnight_follows_the_zone_and_its_dst() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        // 11 PM on March 7 in Chicago (CST, UTC-6) is 05:00 UTC on March 8.
        let late = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap();
        assert_eq!(
            next_local_midnight(late, chicago),
            Utc.with_ymd_and_hms(2026, 3, 8, 6, 0, 0).unwrap()
        );
        // The day DST starts (March 8): the next midnight is at UTC-5.
        let after = Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap();
        assert_eq!(
            next_local_midnight(after, chicago),
            Utc.with_ymd_and_hms(2026, 3, 9, 5, 0, 0).unwrap()
        );
        // A zone whose DST change skips midnight itself (Havana, 2026-03-08 00:00 → 01:00).
        let havana: Tz = "America/Havana".parse().unwrap();
        let eve = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let start = next_local_midnight(eve, havana);
        assert!(start > eve, "{start}");
        assert_eq!(local_date(start, havana).to_string(), "2026-03-08");
        let just_before = start - TimeDelta::seconds(1);
        assert_eq!(local_date(just_before, havana).to_string(), "2026-03-07");
    }

    /// Zones at both ends of the offsets in use, with and without DST.
    fn far_zones() -> [Tz; 5] {
        [
            "America/Chicago",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
            "Australia/Lord_Howe",
            "UTC",
        ]
        .map(|name| name.parse().unwrap())
    }

    #[test]
    fn times_at_the_limits_of_a_date_read_in_every_zone() {
        let edge = DateTime::from_timestamp(-8_334_601_228_800, 0).unwrap();
        let limits = [
            edge,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 4, 15, 16, 17).unwrap(),
        ];
        for zone in far_zones() {
            for now in limits {
                let _ = next_local_midnight(now, zone);
                for at in limits {
                    let view = TimeView::new(at, now, zone);
                    assert!(!view.exact.is_empty() && !view.relative.is_empty());
                    assert!(relative_time_changes_at(at, now, zone) >= now);
                    let _ = day_heading(local_date(at, zone), local_date(now, zone));
                }
            }
        }
        // At the very edge, where the local time cannot be held, UTC stands in.
        let chicago: Tz = "America/Chicago".parse().unwrap();
        assert_eq!(local_date(edge, chicago), edge.date_naive());
        assert!(exact_time(edge, chicago).ends_with("UTC"));
        let kiritimati: Tz = "Pacific/Kiritimati".parse().unwrap();
        assert_eq!(local_date(edge, kiritimati).to_string(), "-262143-01-01");
    }

    #[test]
    fn relative_times_round_sensibly() {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap();
        let ago = |secs: i64| relative_time(now - chrono::Duration::seconds(secs), now, Tz::UTC);
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(-30), "just now");
        assert_eq!(ago(-600), "in 10 minutes");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(5 * 60 + 10), "5 minutes ago");
        assert_eq!(ago(3 * 3_600), "3 hours ago");
        // Calendar days, as the day headings count them: 15:00 is 15 hours into the day.
        assert_eq!(ago(14 * 3_600), "14 hours ago");
        assert_eq!(ago(16 * 3_600), "yesterday");
        assert_eq!(ago(30 * 3_600), "yesterday");
        assert_eq!(ago(45 * 3_600), "2 days ago");
        assert_eq!(ago(4 * 86_400), "4 days ago");
        assert_eq!(ago(40 * 86_400), "Jan 23");
        assert_eq!(ago(400 * 86_400), "Jan 28, 2025");
    }

    #[test]
    fn days_are_local_and_headed_kindly() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        // 03:00 UTC on the 5th is still the evening of the 4th in Chicago.
        let late = Utc.with_ymd_and_hms(2026, 3, 5, 3, 0, 0).unwrap();
        let day = local_date(late, chicago);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        assert_eq!(day_heading(day, day), "Today");
        assert_eq!(day_heading(day, day.succ_opt().unwrap()), "Yesterday");
        let later = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(day_heading(day, later), "Wednesday, March 4");
        let next_year = NaiveDate::from_ymd_opt(2027, 1, 2).unwrap();
        assert_eq!(day_heading(day, next_year), "Wednesday, March 4, 2026");
        assert_eq!(
            exact_time(late, chicago),
            "Wed, Mar 4, 2026, 9:00:00 PM CST"
        );
        let now = Utc.with_ymd_and_hms(2026, 3, 6, 15, 0, 0).unwrap();
        let view = TimeView::new(late, now, chicago);
        assert_eq!(view.clock, "9:00 PM");
        assert_eq!(view.relative, "2 days ago");
        assert_eq!(
            day_heading(day, local_date(now, chicago)),
            "Wednesday, March 4"
        );
    }
}
