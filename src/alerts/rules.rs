//! What each kind of rule makes of what the gateway observed: firing or not, and why in words.
//! Pure, so every rule is tested without a store or a clock.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::{AlertRule, AlertWhen};
use crate::store::Tally;
use crate::store::tally::bucket_of;

/// The refusal causes that mean a delivery failed verification (see
/// [`crate::sources::Rejection::cause`]).
const VERIFICATION_CAUSES: [&str; 4] = [
    "missing_signature",
    "bad_signature",
    "stale_timestamp",
    "replayed",
];

/// What one check of the rules sees.
#[derive(Debug)]
pub struct Observations<'a> {
    pub now: DateTime<Utc>,
    /// The store's tally with this gateway's unsaved counts; `None` when it could not be read,
    /// and then the rules that count say nothing (their state stays as it was).
    pub tally: Option<&'a Tally>,
    /// Since when this gateway's storage has refused writes, and why; `None` while it takes
    /// them.
    pub not_ready: Option<&'a (DateTime<Utc>, String)>,
}

/// A rule's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub firing: bool,
    pub summary: String,
}

/// `rule`'s verdict on `seen`, or `None` when what it needs could not be observed.
pub fn judge(rule: &AlertRule, seen: &Observations<'_>) -> Option<Verdict> {
    let window = TimeDelta::seconds(i64::try_from(rule.window_secs.get()).unwrap_or(i64::MAX));
    let source = rule.source.as_deref();
    match rule.when {
        AlertWhen::SourceSilent => {
            let source = source?;
            let tally = seen.tally?;
            Some(match tally.last_stored.get(source) {
                None => Verdict {
                    firing: false,
                    summary: format!("nothing has been stored from {source} yet"),
                },
                Some(last) => {
                    let quiet = seen.now - *last;
                    let at = last.format("%Y-%m-%d %H:%M UTC");
                    let firing = quiet >= window;
                    let summary = if firing {
                        format!(
                            "nothing stored from {source} for {} (the last at {at})",
                            span_words(quiet)
                        )
                    } else {
                        format!("{source} delivers: the last stored at {at}")
                    };
                    Verdict { firing, summary }
                }
            })
        }
        AlertWhen::VerificationFailures => {
            let counted = count(seen.tally?, source, seen.now - window, |outcome| {
                outcome
                    .strip_prefix("refused:")
                    .is_some_and(|cause| VERIFICATION_CAUSES.contains(&cause))
            });
            Some(counted.verdict(rule, "failed verification", window))
        }
        AlertWhen::Flagged => {
            let counted = count(seen.tally?, source, seen.now - window, |outcome| {
                outcome == "flagged"
            });
            Some(counted.verdict(rule, "kept but flagged", window))
        }
        AlertWhen::QueueFull => {
            let counted = count(seen.tally?, source, seen.now - window, |outcome| {
                outcome == "refused:overloaded"
            });
            Some(counted.verdict(rule, "turned away by a full intake queue", window))
        }
        AlertWhen::NotReady => Some(match seen.not_ready {
            None => Verdict {
                firing: false,
                summary: "storage takes writes".to_owned(),
            },
            Some((since, reason)) => Verdict {
                firing: seen.now - *since >= window,
                summary: format!(
                    "storage has refused writes for {}: {reason}",
                    span_words(seen.now - *since)
                ),
            },
        }),
    }
}

/// Deliveries counted by one rule, by outcome.
struct Counted<'a> {
    source: Option<&'a str>,
    total: u64,
    by_outcome: Vec<(String, u64)>,
}

impl Counted<'_> {
    fn verdict(&self, rule: &AlertRule, what: &str, window: TimeDelta) -> Verdict {
        let whose = self
            .source
            .map_or_else(|| "all sources".to_owned(), str::to_owned);
        let noun = if self.total == 1 {
            "delivery"
        } else {
            "deliveries"
        };
        let mut summary = format!(
            "{} {noun} ({whose}) {what} in the last {} (threshold {})",
            self.total,
            span_words(window),
            rule.threshold
        );
        if self.by_outcome.len() > 1 || self.by_outcome.iter().any(|(o, _)| o.contains(':')) {
            let parts: Vec<String> = self
                .by_outcome
                .iter()
                .map(|(outcome, n)| {
                    let label = outcome.strip_prefix("refused:").unwrap_or(outcome);
                    format!("{label} {n}")
                })
                .collect();
            summary.push_str(&format!(": {}", parts.join(", ")));
        }
        Verdict {
            firing: self.total >= rule.threshold.get(),
            summary,
        }
    }
}

/// The tally's counts from `since` on (whole five-minute buckets: the window is rounded out
/// to the bucket `since` falls in) of `source`, or every source, whose outcome matches.
fn count<'a>(
    tally: &Tally,
    source: Option<&'a str>,
    since: DateTime<Utc>,
    matches: impl Fn(&str) -> bool,
) -> Counted<'a> {
    let from = bucket_of(since);
    let mut by_outcome: Vec<(String, u64)> = Vec::new();
    for row in &tally.rows {
        if row.bucket < from
            || source.is_some_and(|source| row.source != source)
            || !matches(&row.outcome)
        {
            continue;
        }
        match by_outcome.iter_mut().find(|(o, _)| *o == row.outcome) {
            Some((_, n)) => *n += row.count,
            None => by_outcome.push((row.outcome.clone(), row.count)),
        }
    }
    by_outcome.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Counted {
        source,
        total: by_outcome.iter().map(|(_, n)| n).sum(),
        by_outcome,
    }
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 days`.
pub fn span_words(span: TimeDelta) -> String {
    let secs = span.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => {
            let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
            match (hours, minutes) {
                (48.., _) => format!("{} days", hours / 24),
                (_, 0) => format!("{hours} h"),
                _ => format!("{hours} h {minutes} min"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;
    use crate::crypto::Secret;
    use crate::store::tally::{BUCKET_SECS, TallyRow};

    fn rule(when: AlertWhen, source: Option<&str>, threshold: u64, window_secs: u64) -> AlertRule {
        AlertRule {
            name: "rule".to_owned(),
            when,
            source: source.map(str::to_owned),
            threshold: NonZeroU64::new(threshold).unwrap(),
            window_secs: NonZeroU64::new(window_secs).unwrap(),
            notify_url: "http://127.0.0.1:9/".to_owned(),
            secret: Secret::new(b"key".to_vec()).unwrap(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn tally(rows: &[(&str, i64, &str, u64)]) -> Tally {
        let mut tally = Tally::default();
        for (source, buckets_ago, outcome, count) in rows {
            tally.rows.push(TallyRow {
                source: (*source).to_owned(),
                bucket: bucket_of(now()) - buckets_ago * BUCKET_SECS,
                outcome: (*outcome).to_owned(),
                count: *count,
            });
        }
        tally
    }

    fn judged(rule: &AlertRule, tally: &Tally) -> Verdict {
        let seen = Observations {
            now: now(),
            tally: Some(tally),
            not_ready: None,
        };
        judge(rule, &seen).unwrap()
    }

    #[test]
    fn spans_read_in_seconds_minutes_hours_then_days() {
        assert_eq!(span_words(TimeDelta::seconds(45)), "45 s");
        assert_eq!(span_words(TimeDelta::minutes(15)), "15 min");
        assert_eq!(span_words(TimeDelta::minutes(180)), "3 h");
        assert_eq!(span_words(TimeDelta::minutes(200)), "3 h 20 min");
        assert_eq!(span_words(TimeDelta::hours(47)), "47 h");
        assert_eq!(span_words(TimeDelta::hours(75)), "3 days");
    }

    #[test]
    fn a_source_is_silent_once_it_has_sent_nothing_for_the_window() {
        let silent = rule(AlertWhen::SourceSilent, Some("xero"), 1, 3 * 3600);
        let mut seen = tally(&[]);
        let never = judged(&silent, &seen);
        assert!(
            !never.firing,
            "a source that never delivered has not stopped"
        );
        seen.last_stored
            .insert("xero".to_owned(), now() - TimeDelta::minutes(179));
        assert!(!judged(&silent, &seen).firing);
        seen.last_stored
            .insert("xero".to_owned(), now() - TimeDelta::minutes(185));
        let verdict = judged(&silent, &seen);
        assert!(verdict.firing);
        assert!(
            verdict.summary.contains("for 3 h 5 min"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn verification_failures_count_only_failed_checks_in_the_window() {
        let seen = tally(&[
            ("xero", 0, "refused:bad_signature", 3),
            ("xero", 1, "refused:stale_timestamp", 2),
            ("xero", 0, "refused:too_large", 50),
            ("xero", 0, "stored", 90),
            ("xero", 12, "refused:bad_signature", 40),
            ("hoops", 0, "refused:bad_signature", 7),
        ]);
        let xero = rule(AlertWhen::VerificationFailures, Some("xero"), 5, 900);
        let verdict = judged(&xero, &seen);
        assert!(verdict.firing);
        assert_eq!(
            verdict.summary,
            "5 deliveries (xero) failed verification in the last 15 min (threshold 5): \
             bad_signature 3, stale_timestamp 2"
        );
        let higher = rule(AlertWhen::VerificationFailures, Some("xero"), 6, 900);
        assert!(!judged(&higher, &seen).firing);
        let everywhere = rule(AlertWhen::VerificationFailures, None, 12, 900);
        assert!(judged(&everywhere, &seen).firing, "7 + 5 across sources");
    }

    #[test]
    fn flagged_and_full_queue_rules_count_their_own_outcome() {
        let seen = tally(&[
            ("hoops", 0, "flagged", 2),
            ("hoops", 0, "refused:overloaded", 1),
        ]);
        assert!(judged(&rule(AlertWhen::Flagged, None, 2, 600), &seen).firing);
        assert!(!judged(&rule(AlertWhen::Flagged, None, 3, 600), &seen).firing);
        assert!(judged(&rule(AlertWhen::QueueFull, Some("hoops"), 1, 600), &seen).firing);
        assert!(!judged(&rule(AlertWhen::QueueFull, Some("xero"), 1, 600), &seen).firing);
    }

    #[test]
    fn storage_must_refuse_writes_for_the_whole_window() {
        let not_ready = rule(AlertWhen::NotReady, None, 1, 60);
        let judge_at = |since: Option<(DateTime<Utc>, String)>| {
            judge(
                &not_ready,
                &Observations {
                    now: now(),
                    tally: None,
                    not_ready: since.as_ref(),
                },
            )
            .unwrap()
        };
        assert!(!judge_at(None).firing);
        let brief = judge_at(Some((now() - TimeDelta::seconds(30), "disk full".into())));
        assert!(!brief.firing);
        let long = judge_at(Some((now() - TimeDelta::seconds(61), "disk full".into())));
        assert!(long.firing);
        assert!(long.summary.ends_with("disk full"), "{}", long.summary);
    }

    #[test]
    fn rules_that_count_say_nothing_without_a_tally() {
        let seen = Observations {
            now: now(),
            tally: None,
            not_ready: None,
        };
        assert_eq!(judge(&rule(AlertWhen::Flagged, None, 1, 60), &seen), None);
        assert_eq!(
            judge(&rule(AlertWhen::SourceSilent, Some("x"), 1, 60), &seen),
            None
        );
    }
}
