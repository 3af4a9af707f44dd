//! The typed details of an entry, one variant per kind of story the timeline tells.
//!
//! These types are both the shape stored and served by the API and (leniently) the shape the
//! event catalog's `data` objects are read from: optional fields are optional, numbers given as
//! strings are accepted, and values that could be dangerous on a page (URLs) are checked here.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

pub use super::money::Amount;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Details {
    Job {
        job: JobInfo,
    },
    Salesdoc {
        salesdoc: SalesdocInfo,
    },
    StatusChange {
        from: Option<String>,
        to: String,
    },
    Artwork {
        file: FileInfo,
    },
    Proof {
        proof: ProofInfo,
        decision: ProofDecision,
        comment: Option<String>,
    },
    Invoice {
        invoice: InvoiceInfo,
    },
    AccountingSync {
        invoice: InvoiceInfo,
        platform: String,
        account_id: String,
        external_id: String,
    },
    InvoiceStatus {
        invoice: InvoiceInfo,
        from: Option<String>,
        to: String,
    },
    Payment {
        invoice: Option<InvoiceInfo>,
        amount: Amount,
        currency: Option<String>,
        method: Option<String>,
    },
    PurchaseOrder {
        purchase_order: PurchaseOrderInfo,
        action: PurchaseOrderAction,
    },
    Email {
        message: EmailMessage,
    },
    Notification {
        channel: String,
        to: Option<String>,
        text: Option<String>,
    },
    Automation {
        rule: RuleInfo,
        trigger: Option<String>,
        actions: Vec<String>,
    },
    Note {
        action: Option<String>,
        description: Option<String>,
    },
    /// A delivery or engagement event an email provider reported about one message.
    EmailEvent {
        event: EmailEvent,
    },
    /// A change an accounting or payments platform reported (QuickBooks, Xero, Stripe).
    AccountingEvent {
        event: AccountingEvent,
    },
    /// An event type the catalog does not know (yet): shown with its raw data.
    Generic {
        event_type: String,
        data: Value,
    },
}

/// Ids and numbers arrive as strings or as JSON numbers; both are kept as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Text(text)),
            Value::Number(number) => Ok(Text(number.to_string())),
            Value::Bool(flag) => Ok(Text(flag.to_string())),
            _ => Err(serde::de::Error::custom("expected a string or a number")),
        }
    }
}

/// Returned as text; sent as text or a JSON number.
impl utoipa::PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
            .description(Some(
                "An id or number of the business app's: returned as text, sent as text or a \
                 JSON number (kept as text).",
            ))
            .into()
    }
}

impl ToSchema for Text {}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A link that is safe to put in an `href`: absolute http(s) only, no whitespace or controls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SafeUrl(String);

impl SafeUrl {
    pub fn parse(text: &str) -> Option<SafeUrl> {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
        let clean = !text.chars().any(|c| c.is_whitespace() || c.is_control());
        (scheme_ok && clean && text.len() <= 2048).then(|| SafeUrl(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for SafeUrl {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[Hh][Tt][Tt][Pp][Ss]?://\S*$"))
            .max_length(Some(2048))
            .description(Some(
                "An absolute http(s) URL without whitespace. Sent otherwise, it is left out.",
            ))
            .into()
    }
}

impl ToSchema for SafeUrl {}

impl<'de> Deserialize<'de> for SafeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SafeUrl::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom("only http(s) URLs are allowed"))
    }
}

/// Deserializes an optional field, turning a value that fails validation into `None` rather
/// than rejecting the whole event (a bad link must not hide the upload it belongs to).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    pub id: Option<Text>,
    pub number: Option<Text>,
    pub title: Option<String>,
    pub customer: Option<String>,
    /// Whatever else the business app said about the job (a due date, a quantity…), kept
    /// as it came and shown as it is.
    #[serde(flatten, default)]
    pub more: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SalesdocInfo {
    pub id: Option<Text>,
    pub number: Option<Text>,
    pub doc_type: Option<String>,
    pub customer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileInfo {
    pub name: String,
    pub size_bytes: Option<u64>,
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub url: Option<SafeUrl>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct ProofInfo {
    pub id: Option<Text>,
    pub version: Option<Text>,
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProofDecision {
    Approved,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct InvoiceInfo {
    pub id: Option<Text>,
    pub number: Option<Text>,
    #[serde(default, deserialize_with = "lenient")]
    pub total: Option<Amount>,
    pub currency: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct PurchaseOrderInfo {
    pub id: Option<Text>,
    pub number: Option<Text>,
    pub vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub total: Option<Amount>,
    pub currency: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseOrderAction {
    Created,
    Sent,
    Received,
    Updated,
}

impl PurchaseOrderAction {
    pub fn verb(self) -> &'static str {
        match self {
            PurchaseOrderAction::Created => "created",
            PurchaseOrderAction::Sent => "sent",
            PurchaseOrderAction::Received => "received",
            PurchaseOrderAction::Updated => "updated",
        }
    }
}

/// An email sent to the customer, with its full content. The HTML is stored as sent; pages
/// sanitize it before showing it.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct EmailMessage {
    /// RFC 5322 Message-ID.
    pub message_id: Option<String>,
    /// The sending provider (sendgrid, mailgun, postmark, resend, …).
    pub provider: Option<String>,
    /// The provider's id for the message, which its delivery callbacks carry.
    pub provider_message_id: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The files sent with it, as the event lists them (names and sizes, never content).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file attached to an email.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    #[serde(alias = "filename")]
    pub name: Option<String>,
    #[serde(alias = "size")]
    pub size_bytes: Option<u64>,
    pub content_type: Option<String>,
}

/// The delivery statuses an email goes through, as every provider's callbacks map onto them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Processed,
    Deferred,
    Delivered,
    Bounced,
    Dropped,
    Opened,
    Clicked,
    SpamReport,
    Unsubscribed,
    Resubscribed,
}

impl EmailStatus {
    pub fn label(self) -> &'static str {
        match self {
            EmailStatus::Processed => "processed",
            EmailStatus::Deferred => "deferred",
            EmailStatus::Delivered => "delivered",
            EmailStatus::Bounced => "bounced",
            EmailStatus::Dropped => "dropped",
            EmailStatus::Opened => "opened",
            EmailStatus::Clicked => "clicked",
            EmailStatus::SpamReport => "marked as spam",
            EmailStatus::Unsubscribed => "unsubscribed",
            EmailStatus::Resubscribed => "resubscribed",
        }
    }

    /// How far along an email got; the rollup shows the furthest status reached. Failures
    /// outrank everything: a bounce after a deferral is what staff need to see.
    pub fn rank(self) -> u8 {
        match self {
            EmailStatus::Processed => 1,
            EmailStatus::Deferred => 2,
            EmailStatus::Delivered => 3,
            EmailStatus::Opened => 4,
            EmailStatus::Clicked => 5,
            EmailStatus::Resubscribed => 6,
            EmailStatus::Unsubscribed => 7,
            EmailStatus::SpamReport => 8,
            EmailStatus::Dropped => 9,
            EmailStatus::Bounced => 10,
        }
    }
}

/// The delivery-status rollup of one sent email, built from its providers' callbacks.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct DeliveryStatus {
    /// The furthest status reached (a failure outranks everything: see `EmailStatus::rank`).
    pub current: Option<EmailStatus>,
    /// Every callback, oldest first.
    pub history: Vec<StatusUpdate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusUpdate {
    pub status: EmailStatus,
    pub at: DateTime<Utc>,
    pub provider: String,
    pub recipient: Option<String>,
    pub reason: Option<String>,
}

impl DeliveryStatus {
    pub fn record(&mut self, event: &EmailEvent, at: DateTime<Utc>) {
        let update = StatusUpdate {
            status: event.status,
            at,
            provider: event.provider.clone(),
            recipient: event.recipient.clone(),
            reason: event.reason.clone(),
        };
        let position = self.history.partition_point(|existing| existing.at <= at);
        self.history.insert(position, update);
        self.current = self
            .history
            .iter()
            .map(|u| u.status)
            .max_by_key(|status| status.rank());
    }
}

/// One email provider callback, normalized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmailEvent {
    /// sendgrid, mailgun, postmark, resend.
    pub provider: String,
    pub status: EmailStatus,
    /// The provider's own name for the event (`delivered`, `HardBounce`, `email.opened`, …).
    pub provider_event: String,
    pub recipient: Option<String>,
    pub provider_message_id: Option<String>,
    /// RFC 5322 Message-ID, where the callback carries it.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// Why it bounced, was dropped or deferred (the provider's words).
    pub reason: Option<String>,
    /// The link clicked.
    pub url: Option<SafeUrl>,
}

/// One accounting or payments platform event, normalized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountingEvent {
    /// quickbooks, xero, stripe.
    pub platform: String,
    /// The realm (QuickBooks), tenant (Xero) or account (Stripe Connect), where known.
    pub account_id: Option<String>,
    /// The platform's entity name: Invoice, Payment, Customer, CreditNote, PaymentIntent, …
    pub entity: String,
    pub entity_id: String,
    /// What happened: Create, Update, Delete, Merge, Void, Emailed, or the platform's event type.
    pub operation: String,
    pub number: Option<String>,
    pub amount: Option<Amount>,
    pub currency: Option<String>,
    pub status: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleInfo {
    pub id: Option<Text>,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_safe() {
        assert!(SafeUrl::parse("https://files.example.com/a.pdf").is_some());
        assert!(SafeUrl::parse("HTTP://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil",
            "https://a b",
            "ftp://x",
        ] {
            assert!(SafeUrl::parse(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn a_bad_link_does_not_reject_the_file() {
        let file: FileInfo =
            serde_json::from_str(r#"{"name":"a.pdf","url":"javascript:alert(1)"}"#).unwrap();
        assert_eq!(file.name, "a.pdf");
        assert!(file.url.is_none());
    }
}
