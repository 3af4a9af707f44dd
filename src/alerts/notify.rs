//! Notifications: Slack-compatible JSON (`text`, which Slack and most chat tools show, plus an
//! `alert` object for programs), signed with Standard Webhooks so the receiver can verify that
//! the gateway sent it. The `webhook-id` is the same on every retry of one change, so a
//! receiver that saw it already can drop the repeat.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::AlertRule;
use crate::sources::standard_webhooks;

/// How long a receiver may take to answer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What a notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Firing,
    Resolved,
    /// Sent from the console's "Send a test" button.
    Test,
}

/// One notification, before it is signed.
#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    /// The message a chat tool shows.
    pub text: String,
    pub alert: AlertNote<'a>,
}

#[derive(Debug, Serialize)]
pub struct AlertNote<'a> {
    pub name: &'a str,
    pub when: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    pub state: Event,
    /// When the state began (for a test, when it was sent).
    pub since: DateTime<Utc>,
    pub summary: &'a str,
    /// The gateway that sent it.
    pub gateway: &'a str,
}

impl<'a> Notification<'a> {
    pub fn new(
        rule: &'a AlertRule,
        state: Event,
        since: DateTime<Utc>,
        summary: &'a str,
        gateway: &'a str,
    ) -> Notification<'a> {
        let name = slack_escape(&rule.name);
        let said = slack_escape(summary);
        let text = match state {
            Event::Firing => format!(":rotating_light: Hooktrail alert *{name}* is firing: {said}"),
            Event::Resolved => {
                format!(":white_check_mark: Hooktrail alert *{name}* resolved: {said}")
            }
            Event::Test => format!(
                ":bell: A test of Hooktrail alert *{name}* from {}: {said}",
                slack_escape(gateway)
            ),
        };
        Notification {
            text,
            alert: AlertNote {
                name: &rule.name,
                when: rule.when.name(),
                source: rule.source.as_deref(),
                state,
                since,
                summary,
                gateway,
            },
        }
    }
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions); anything else is text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

/// Signs and posts `note` to the rule's URL as delivery `id`; Ok once it answered 2xx.
pub async fn send(
    client: &reqwest::Client,
    rule: &AlertRule,
    id: &str,
    note: &Notification<'_>,
    now: DateTime<Utc>,
) -> Result<u16, SendError> {
    let body = serde_json::to_vec(note).map_err(|err| SendError::Transport(err.to_string()))?;
    let timestamp = now.timestamp();
    let signature = standard_webhooks::sign(&rule.secret, id, timestamp, &body);
    let response = client
        .post(&rule.notify_url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|err| SendError::Transport(transport_words(&err.without_url())))?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

/// The error and its causes in one line (`error sending request: connection refused`),
/// without the URL: a chat webhook's path is its credential, and this goes to logs and pages.
fn transport_words(err: &reqwest::Error) -> String {
    let mut words = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        words.push_str(": ");
        words.push_str(&inner.to_string());
        cause = inner.source();
    }
    words
}

/// The client notifications go out on: bounded in time, and never redirected (a redirect
/// would carry the signed body somewhere not configured).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;
    use crate::config::AlertWhen;
    use crate::crypto::Secret;

    fn rule(notify_url: &str) -> AlertRule {
        AlertRule {
            name: "xero-silent".to_owned(),
            when: AlertWhen::SourceSilent,
            source: Some("xero".to_owned()),
            threshold: NonZeroU64::MIN,
            window_secs: NonZeroU64::MIN,
            notify_url: notify_url.to_owned(),
            secret: Secret::new(b"k".to_vec()).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_failed_send_never_quotes_the_webhook_url() {
        // Nothing listens on the discard port: the connection is refused.
        let rule = rule("http://127.0.0.1:9/services/T0/B0/the-credential");
        let note = Notification::new(&rule, Event::Test, Utc::now(), "test", "gw");
        let err = send(&client(), &rule, "id", &note, Utc::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("error sending request"), "{err}");
        assert!(!err.contains("the-credential"), "{err}");
    }

    #[test]
    fn the_text_is_slack_safe_and_the_alert_object_is_exact() {
        let rule = rule("http://127.0.0.1:9/");
        let since = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let note = Notification::new(&rule, Event::Firing, since, "a <b> & c", "gw-1:8080");
        let json = serde_json::to_value(&note).unwrap();
        assert_eq!(
            json["text"],
            ":rotating_light: Hooktrail alert *xero-silent* is firing: a &lt;b&gt; &amp; c"
        );
        assert_eq!(
            json["alert"],
            serde_json::json!({
                "name": "xero-silent", "when": "source_silent", "source": "xero",
                "state": "firing", "since": "2027-01-15T08:00:00Z", "summary": "a <b> & c",
                "gateway": "gw-1:8080"
            })
        );
    }
}
