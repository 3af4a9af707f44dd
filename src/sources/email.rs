//! What every email source shares: [`EmailCallback`], the one way a provider callback
//! (SendGrid, Mailgun, Postmark, Resend) becomes an entry, so that kinds, summaries, subjects
//! and correlation keys agree whichever provider sent the email.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::activity::details::{EmailEvent, EmailStatus, SafeUrl};
use crate::activity::entry::one_line;
use crate::activity::{Actor, Category, Details, EntryKind, NewEntry, Subject, links};

/// The custom-argument / metadata / tag key through which the sender names the entry's subject
/// (`hooktrail_subject = "job:1042"`).
pub const SUBJECT_KEY: &str = "hooktrail_subject";

/// Summaries are one line on a timeline; longer text lives in the details.
pub const SUMMARY_MAX_CHARS: usize = 200;

/// One provider callback about one email, before it becomes an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailCallback {
    /// The provider's key (`sendgrid`): the email link namespace and `EmailEvent.provider`.
    pub provider: &'static str,
    /// The provider's display name (`SendGrid`): the actor and summaries.
    pub provider_name: &'static str,
    pub status: EmailStatus,
    pub provider_event: String,
    pub recipient: Option<String>,
    pub provider_message_id: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub url: Option<SafeUrl>,
    pub occurred_at: DateTime<Utc>,
    /// Named by the sender through [`SUBJECT_KEY`]; empty when it named none (the entry is
    /// then attached through its correlation keys, or stays unmatched).
    pub subjects: Vec<Subject>,
    pub event_id: Option<String>,
    /// Replaces the status word in the summary where the provider is more specific
    /// (`was blocked` rather than `bounced`).
    pub verb: Option<&'static str>,
}

impl EmailCallback {
    pub fn new(
        provider: &'static str,
        provider_name: &'static str,
        status: EmailStatus,
        provider_event: impl Into<String>,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        EmailCallback {
            provider,
            provider_name,
            status,
            provider_event: provider_event.into(),
            recipient: None,
            provider_message_id: None,
            message_id: None,
            subject: None,
            reason: None,
            url: None,
            occurred_at,
            subjects: Vec::new(),
            event_id: None,
            verb: None,
        }
    }

    pub fn into_entry(self) -> NewEntry {
        let correlation = correlation_keys(
            self.provider,
            self.provider_message_id.as_deref(),
            self.message_id.as_deref(),
        );
        let summary = one_line(&self.summary(), SUMMARY_MAX_CHARS);
        NewEntry {
            kind: status_kind(self.status),
            category: Category::Communication,
            occurred_at: self.occurred_at,
            actor: Actor::integration(self.provider_name),
            subjects: self.subjects,
            summary,
            details: Details::EmailEvent {
                event: EmailEvent {
                    provider: self.provider.to_owned(),
                    status: self.status,
                    provider_event: self.provider_event,
                    recipient: self.recipient,
                    provider_message_id: self.provider_message_id,
                    message_id: self.message_id,
                    subject: self.subject,
                    reason: self.reason,
                    url: self.url,
                },
            },
            event_id: self.event_id,
            correlation,
        }
    }

    /// "Email “Proof ready” to ann@acme.test bounced: 550 mailbox unavailable".
    fn summary(&self) -> String {
        let mut email = "Email".to_owned();
        if let Some(subject) = &self.subject {
            email.push_str(&format!(" “{subject}”"));
        }
        if let Some(recipient) = &self.recipient {
            email.push_str(&format!(" to {recipient}"));
        }
        let who = self.recipient.as_deref().unwrap_or("The recipient");
        let mut summary = match self.status {
            EmailStatus::Processed => format!("{email} accepted by {}", self.provider_name),
            EmailStatus::Clicked => {
                let mut text = format!("Link clicked in {}", lowercase_first(&email));
                if let Some(url) = &self.url {
                    text.push_str(&format!(": {}", url.as_str()));
                }
                return text;
            }
            EmailStatus::Unsubscribed => format!("{who} unsubscribed"),
            EmailStatus::Resubscribed => format!("{who} resubscribed"),
            status => format!("{email} {}", self.verb.unwrap_or(status.label())),
        };
        if let Some(reason) = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            summary.push_str(&format!(": {reason}"));
        }
        summary
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An email provider event with no status mapping: kept as a generic entry, still attached
/// to its subject and email, so nothing the provider reported disappears.
pub struct UnknownEmailEvent<'a> {
    pub provider: &'static str,
    pub provider_name: &'static str,
    pub event_type: &'a str,
    pub data: &'a Value,
    pub recipient: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
    pub subjects: Vec<Subject>,
    pub correlation: Vec<String>,
    pub event_id: Option<String>,
}

impl UnknownEmailEvent<'_> {
    pub fn into_entry(self) -> NewEntry {
        // `{provider}.{event}` keeps provider events apart from the catalog's own kinds.
        let kind = EntryKind::new(format!("{}.{}", self.provider, self.event_type))
            .unwrap_or_else(|| literal_kind("email.provider_event"));
        let mut summary = format!("{} event “{}”", self.provider_name, self.event_type);
        if let Some(recipient) = self.recipient {
            summary.push_str(&format!(" for {recipient}"));
        }
        NewEntry {
            kind,
            category: Category::Communication,
            occurred_at: self.occurred_at,
            actor: Actor::integration(self.provider_name),
            subjects: self.subjects,
            summary: one_line(&summary, SUMMARY_MAX_CHARS),
            details: Details::Generic {
                event_type: self.event_type.to_owned(),
                data: self.data.clone(),
            },
            event_id: self.event_id,
            correlation: self.correlation,
        }
    }
}

/// `email.<status>`: `email.delivered`, `email.bounced`, `email.spam_report`, …
pub fn status_kind(status: EmailStatus) -> EntryKind {
    literal_kind(match status {
        EmailStatus::Processed => "email.processed",
        EmailStatus::Deferred => "email.deferred",
        EmailStatus::Delivered => "email.delivered",
        EmailStatus::Bounced => "email.bounced",
        EmailStatus::Dropped => "email.dropped",
        EmailStatus::Opened => "email.opened",
        EmailStatus::Clicked => "email.clicked",
        EmailStatus::SpamReport => "email.spam_report",
        EmailStatus::Unsubscribed => "email.unsubscribed",
        EmailStatus::Resubscribed => "email.resubscribed",
    })
}

/// A kind spelled in this file. Every literal passed here is a valid kind (the tests check
/// each), so the fallback arm is never taken.
pub fn literal_kind(kind: &'static str) -> EntryKind {
    match EntryKind::new(kind) {
        Some(kind) => kind,
        None => unreachable!("{kind} is a valid entry kind"),
    }
}

/// The link keys through which a callback finds its email: the provider's message id and
/// the RFC 5322 Message-ID, where known.
pub fn correlation_keys(
    provider: &str,
    provider_message_id: Option<&str>,
    message_id: Option<&str>,
) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(id) = provider_message_id.filter(|id| !id.trim().is_empty()) {
        keys.push(links::email_provider_key(provider, id));
    }
    if let Some(id) = message_id.filter(|id| !id.trim().trim_matches(['<', '>']).is_empty()) {
        keys.push(links::message_id_key(id));
    }
    keys
}

/// The subject a sender attached (`"job:1042"`); anything else, or an invalid subject, is
/// ignored: the entry then relies on its correlation keys.
pub fn subjects_from(value: Option<&Value>) -> Vec<Subject> {
    value
        .and_then(Value::as_str)
        .and_then(|text| text.trim().parse::<Subject>().ok())
        .into_iter()
        .collect()
}

/// A non-empty string (or a number, as text), trimmed.
pub fn text_of(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Unix seconds as an integer, a float (Mailgun: `1521472262.908181`) or numeric text.
pub fn unix_time(value: &Value) -> Option<DateTime<Utc>> {
    let seconds = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !seconds.is_finite() {
        return None;
    }
    // Whole microseconds are all any provider sends; rounding there avoids float noise.
    let micros = (seconds * 1_000_000.0).round();
    if micros.abs() >= i64::MAX as f64 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}
