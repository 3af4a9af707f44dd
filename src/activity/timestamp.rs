//! Serializing the timestamps every entry and delivery record carries, exactly as chrono does
//! (RFC 3339 in UTC with `Z`, and as many fraction digits as the value needs: none, 3, 6 or 9),
//! without chrono's way there. chrono writes through `fmt` piece by piece, and serde_json
//! escapes each piece as it arrives; three timestamps per delivery made that a tenth of the
//! single writer's work. Here the text is laid out in a stack buffer and handed over whole.
//!
//! Only the serializing side: reading is chrono's own, which accepts whatever this writes.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest form written here.
const LONGEST: usize = 30;

/// For `#[serde(serialize_with = "timestamp::serialize")]`.
pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; LONGEST];
    match format(time, &mut buffer) {
        Some(text) => serializer.serialize_str(text),
        // Years outside 0000–9999 and leap seconds: rare enough to leave to chrono.
        None => time.serialize(serializer),
    }
}

/// The RFC 3339 text of `time` in `buffer`, or `None` where chrono's format differs from the
/// plain layout (a year outside 0000–9999, a leap second).
fn format<'b>(time: &DateTime<Utc>, buffer: &'b mut [u8; LONGEST]) -> Option<&'b str> {
    let year = u32::try_from(time.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let nanos = time.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    put_digits(&mut buffer[0..4], year);
    buffer[4] = b'-';
    put_digits(&mut buffer[5..7], time.month());
    buffer[7] = b'-';
    put_digits(&mut buffer[8..10], time.day());
    buffer[10] = b'T';
    put_digits(&mut buffer[11..13], time.hour());
    buffer[13] = b':';
    put_digits(&mut buffer[14..16], time.minute());
    buffer[16] = b':';
    put_digits(&mut buffer[17..19], time.second());
    let mut end = 19;
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, digits)) = fraction {
        buffer[end] = b'.';
        put_digits(&mut buffer[end + 1..end + 1 + digits], value);
        end += 1 + digits;
    }
    buffer[end] = b'Z';
    end += 1;
    std::str::from_utf8(&buffer[..end]).ok()
}

/// Writes `value` as decimal digits filling `out`, zero-padded on the left.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    #[derive(Serialize)]
    struct Fast(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn both(time: DateTime<Utc>) -> (String, String) {
        (
            serde_json::to_string(&Fast(time)).unwrap(),
            serde_json::to_string(&time).unwrap(),
        )
    }

    #[test]
    fn writes_what_chrono_writes_for_every_fraction_length() {
        let second = Utc.with_ymd_and_hms(2026, 3, 4, 9, 5, 7).unwrap();
        for nanos in [0, 120_000_000, 120_500_000, 120_500_001, 1, 999_999_999] {
            let time = second + chrono::Duration::nanoseconds(nanos);
            let (fast, chrono) = both(time);
            assert_eq!(fast, chrono);
        }
        assert_eq!(both(second).0, "\"2026-03-04T09:05:07Z\"");
    }

    #[test]
    fn leaves_far_years_and_leap_seconds_to_chrono() {
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        let before = Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap();
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        for time in [far, before, leap] {
            let (fast, chrono) = both(time);
            assert_eq!(fast, chrono);
        }
    }

    proptest! {
        #[test]
        fn any_instant_reads_as_chrono_writes_it(
            seconds in -62_167_219_200i64..253_402_300_800,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|n| n * 1_000_000),
                (0u32..1_000_000).prop_map(|n| n * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let time = Utc.timestamp_opt(seconds, nanos).unwrap();
            let (fast, chrono) = both(time);
            prop_assert_eq!(fast, chrono);
        }
    }
}
