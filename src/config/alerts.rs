//! `[[alerts]]` and `[alerting]`: rules that notify a webhook (Slack-compatible, signed with
//! Standard Webhooks) when a source goes silent, verification keeps failing, deliveries are
//! flagged, the intake queue overflows or storage stops taking writes — once when an alert
//! fires and once when it resolves (see [`crate::alerts`]).

use std::num::NonZeroU64;

use serde::{Deserialize, Deserializer};

use crate::crypto::Secret;
use crate::sources::standard_webhooks::decode_secret;

/// How long the gateway keeps its counts of deliveries (the store's tallies): the longest
/// window a rule can count over.
pub const COUNTS_KEPT_FOR: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertWhen {
    /// A source that used to deliver has had nothing stored for `window_secs`.
    SourceSilent,
    /// At least `threshold` deliveries failed verification within `window_secs`.
    VerificationFailures,
    /// At least `threshold` deliveries were kept but flagged within `window_secs`.
    Flagged,
    /// This gateway's storage has refused writes for `window_secs` on end.
    NotReady,
    /// At least `threshold` deliveries were turned away because intake was full, within
    /// `window_secs`.
    QueueFull,
}

impl AlertWhen {
    pub fn name(self) -> &'static str {
        match self {
            AlertWhen::SourceSilent => "source_silent",
            AlertWhen::VerificationFailures => "verification_failures",
            AlertWhen::Flagged => "flagged",
            AlertWhen::NotReady => "not_ready",
            AlertWhen::QueueFull => "queue_full",
        }
    }

    /// Whether the rule counts deliveries in the store's tally (and so is shared by every
    /// gateway on the store), rather than watching this gateway alone.
    pub fn counts_deliveries(self) -> bool {
        matches!(
            self,
            AlertWhen::VerificationFailures | AlertWhen::Flagged | AlertWhen::QueueFull
        )
    }

    /// The window when none is configured: the console's "silent for 3 h", a quarter hour of
    /// counts, a minute of refused writes.
    fn default_window_secs(self) -> u64 {
        match self {
            AlertWhen::SourceSilent => 3 * 3600,
            AlertWhen::VerificationFailures | AlertWhen::Flagged | AlertWhen::QueueFull => 900,
            AlertWhen::NotReady => 60,
        }
    }
}

/// One `[[alerts]]` item, checked.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub when: AlertWhen,
    /// The source watched; for the counting rules, none means every source together.
    pub source: Option<String>,
    pub threshold: NonZeroU64,
    pub window_secs: NonZeroU64,
    pub notify_url: String,
    /// Signs notifications (Standard Webhooks), so the receiver can tell they are ours.
    pub secret: Secret,
}

/// `[alerting]`: how often the rules are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(default = "default_check_interval_secs")]
    pub check_interval_secs: NonZeroU64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            check_interval_secs: default_check_interval_secs(),
        }
    }
}

fn default_check_interval_secs() -> NonZeroU64 {
    NonZeroU64::new(30).unwrap_or(NonZeroU64::MIN)
}

/// An `[[alerts]]` item as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    name: String,
    when: AlertWhen,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    threshold: Option<NonZeroU64>,
    #[serde(default)]
    window_secs: Option<NonZeroU64>,
    #[serde(deserialize_with = "http_url")]
    notify_url: String,
    #[serde(deserialize_with = "whsec")]
    secret: Secret,
}

/// Checks every rule against the configured sources; errors are (key, message).
pub(super) fn build(
    raw: Vec<RawAlert>,
    source_names: &[&str],
) -> Result<Vec<AlertRule>, (String, String)> {
    let mut rules: Vec<AlertRule> = Vec::with_capacity(raw.len());
    for (index, alert) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("alerts[{index}].{key}");
        let valid_name = !alert.name.is_empty()
            && alert.name.len() <= 64
            && alert
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err((at("name"), "use 1–64 of a-z, A-Z, 0-9, - and _".to_owned()));
        }
        if rules.iter().any(|rule| rule.name == alert.name) {
            return Err((at("name"), format!("{:?} is used twice", alert.name)));
        }
        match (&alert.source, alert.when) {
            (None, AlertWhen::SourceSilent) => {
                return Err((
                    at("source"),
                    "is required with when = \"source_silent\"".into(),
                ));
            }
            (Some(_), AlertWhen::NotReady) => {
                return Err((
                    at("source"),
                    "does not apply to when = \"not_ready\"".into(),
                ));
            }
            (Some(source), _) if !source_names.contains(&source.as_str()) => {
                return Err((at("source"), format!("no source is named {source:?}")));
            }
            _ => {}
        }
        let window_secs = alert.window_secs.unwrap_or_else(|| {
            NonZeroU64::new(alert.when.default_window_secs()).unwrap_or(NonZeroU64::MIN)
        });
        let kept = COUNTS_KEPT_FOR.num_seconds().unsigned_abs();
        if alert.when.counts_deliveries() && window_secs.get() > kept {
            return Err((
                at("window_secs"),
                format!("counts are kept for {kept} s: use a window no longer"),
            ));
        }
        rules.push(AlertRule {
            name: alert.name,
            when: alert.when,
            source: alert.source,
            threshold: alert.threshold.unwrap_or(NonZeroU64::MIN),
            window_secs,
            notify_url: alert.notify_url,
            secret: alert.secret,
        });
    }
    Ok(rules)
}

/// An http(s) URL with a host (a place the gateway posts to).
pub(super) fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let parsed = url::Url::parse(&url).map_err(serde::de::Error::custom)?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Err(serde::de::Error::custom(
            "must be an http(s) URL with a host, e.g. https://hooks.slack.com/services/…",
        ));
    }
    Ok(url)
}

fn whsec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let text = String::deserialize(deserializer)?;
    decode_secret(&text).map_err(serde::de::Error::custom)
}
