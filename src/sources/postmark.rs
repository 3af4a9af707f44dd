//! Postmark webhooks: one JSON record per POST, routed by `RecordType` (Delivery, Bounce,
//! SpamComplaint, Open, Click, SubscriptionChange). Postmark signs nothing; the protection it
//! offers is HTTP Basic auth (credentials in the webhook URL or its `HttpAuth` setting), which
//! is what this source checks.
//!
//! Postmark drops a delivery on any 4xx other than 408/429 without retrying, so a refused
//! credential loses the event for good: rotate credentials on both sides together.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::email::{
    EmailCallback, SUBJECT_KEY, UnknownEmailEvent, correlation_keys, subjects_from, text_of,
};
use super::kind::{self, Kind, Profile, Registration};
use super::signing::Secret;
use super::{Headers, RawDelivery, Rejection, Verified};
use crate::activity::catalog::parse_time;
use crate::activity::details::{EmailStatus, SafeUrl};
use crate::activity::{Normalized, Outcome};

pub const KIND: &str = "postmark";

pub const TRACE_HEADER: &str = "X-PM-Webhook-Trace-Id";

/// `Authorization` is deliberately not kept: it is the credential itself, and the log must
/// never hold a reusable secret. The trace id is the retry-stable dedup key.
pub const CAPTURED_HEADERS: &[&str] = &[
    "x-pm-webhook-trace-id",
    "x-pm-retries-remaining",
    "content-type",
    "user-agent",
];

/// The `[[sources]]` settings of a `postmark` source: the Basic auth credentials configured
/// on the Postmark webhook.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub username: String,
    pub password: String,
}

pub struct Postmark {
    username: String,
    password: Secret,
    /// SHA-256 of `username:password`. Comparing digests in constant time means neither the
    /// content nor the length of the expected credentials leaks through timing.
    expected: [u8; 32],
}

impl fmt::Debug for Postmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postmark")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Postmark {
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        if settings.username.is_empty() {
            return Err("username: must not be empty".to_owned());
        }
        // Basic auth splits user from password at the first colon (RFC 7617), so a colon in
        // the user name could never be checked as configured.
        if settings.username.contains(':') {
            return Err("username: must not contain ':'".to_owned());
        }
        if settings.username.chars().any(char::is_control) {
            return Err("username: must not contain control characters".to_owned());
        }
        let credentials = format!("{}:{}", settings.username, settings.password);
        let expected = Sha256::digest(credentials.as_bytes()).into();
        let password = Secret::new(settings.password.into_bytes())
            .ok_or_else(|| "password: must not be empty".to_owned())?;
        Ok(Postmark {
            username: settings.username,
            password,
            expected,
        })
    }

    /// What Postmark sends: the Basic credentials and a fresh trace id.
    pub fn sign_request(&self, _body: &[u8], _now: i64) -> Vec<(String, String)> {
        let mut credentials = format!("{}:", self.username).into_bytes();
        credentials.extend_from_slice(self.password.expose());
        vec![
            (
                "Authorization".to_owned(),
                format!("Basic {}", STANDARD.encode(&credentials)),
            ),
            (TRACE_HEADER.to_owned(), fresh_trace_id()),
        ]
    }
}

/// A UUID-shaped id, as Postmark's trace ids are, from a ULID's randomness.
fn fresh_trace_id() -> String {
    let hex = format!("{:032x}", ulid::Ulid::generate().0);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

const PROVIDER: &str = "postmark";
const PROVIDER_NAME: &str = "Postmark";

/// One Postmark record → one entry. The event id (and the delivery's dedup id) is the
/// `X-PM-Webhook-Trace-Id` header, which stays the same across retries; without it,
/// `{RecordType}:{MessageID}:{ID or event time}`.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let trace_id = delivery
        .headers
        .header(TRACE_HEADER)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let record = match serde_json::from_slice::<Value>(delivery.body) {
        Ok(Value::Object(record)) => record,
        Ok(_) => {
            let reason = "not a Postmark webhook (expected a JSON object)".to_owned();
            return Normalized::flagged(trace_id, Outcome::Unparseable { reason });
        }
        Err(err) => {
            let reason = format!("not a Postmark webhook: {err}");
            return Normalized::flagged(trace_id, Outcome::Unparseable { reason });
        }
    };
    let Some(record_type) = text_of(record.get("RecordType")) else {
        let reason = "no RecordType: not a Postmark outbound webhook".to_owned();
        return Normalized::flagged(trace_id, Outcome::Unparseable { reason });
    };

    let message_id = text_of(record.get("MessageID"));
    let time_text = time_text(&record, &record_type);
    let occurred_at = time_text
        .as_deref()
        .and_then(|text| parse_time(&Value::String(text.to_owned())))
        .unwrap_or(delivery.received_at);
    let event_id = trace_id.or_else(|| {
        let discriminator = text_of(record.get("ID")).or_else(|| time_text.clone());
        fallback_event_id(
            &record_type,
            message_id.as_deref(),
            discriminator.as_deref(),
        )
    });
    let recipient = text_of(record.get("Recipient")).or_else(|| text_of(record.get("Email")));
    let subjects = subjects_from(record.get("Metadata").and_then(|m| m.get(SUBJECT_KEY)));

    let mut provider_event = record_type.clone();
    let (status, reason) = match record_type.as_str() {
        "Delivery" => (EmailStatus::Delivered, None),
        "Bounce" => {
            let type_name = text_of(record.get("Type"));
            let type_code = record.get("TypeCode").and_then(Value::as_i64);
            let status = bounce_status(type_name.as_deref(), type_code);
            provider_event = type_name.unwrap_or(provider_event);
            (status, bounce_reason(&record))
        }
        "SpamComplaint" => (EmailStatus::SpamReport, None),
        "Open" => (EmailStatus::Opened, None),
        "Click" => (EmailStatus::Clicked, None),
        "SubscriptionChange" => match record.get("SuppressSending").and_then(Value::as_bool) {
            Some(true) => (
                EmailStatus::Unsubscribed,
                text_of(record.get("SuppressionReason")),
            ),
            Some(false) => (EmailStatus::Resubscribed, None),
            None => {
                return unknown(
                    &record,
                    &record_type,
                    recipient,
                    occurred_at,
                    subjects,
                    message_id,
                    event_id,
                );
            }
        },
        _ => {
            return unknown(
                &record,
                &record_type,
                recipient,
                occurred_at,
                subjects,
                message_id,
                event_id,
            );
        }
    };
    let mut callback =
        EmailCallback::new(PROVIDER, PROVIDER_NAME, status, provider_event, occurred_at);
    callback.recipient = recipient;
    callback.provider_message_id = message_id;
    callback.subject = text_of(record.get("Subject"));
    callback.reason = reason;
    callback.url = record
        .get("OriginalLink")
        .and_then(Value::as_str)
        .and_then(SafeUrl::parse);
    callback.subjects = subjects;
    callback.event_id = event_id.clone();
    Normalized {
        delivery_id: event_id,
        entries: vec![callback.into_entry()],
        outcome: Outcome::Normalized,
    }
}

/// The record's own time, named per record type.
fn time_text(record: &Map<String, Value>, record_type: &str) -> Option<String> {
    let field = match record_type {
        "Delivery" => "DeliveredAt",
        "Bounce" | "SpamComplaint" => "BouncedAt",
        "Open" | "Click" => "ReceivedAt",
        "SubscriptionChange" => "ChangedAt",
        _ => {
            return ["ReceivedAt", "DeliveredAt", "BouncedAt", "ChangedAt"]
                .iter()
                .find_map(|f| text_of(record.get(*f)));
        }
    };
    text_of(record.get(field))
}

fn fallback_event_id(
    record_type: &str,
    message_id: Option<&str>,
    discriminator: Option<&str>,
) -> Option<String> {
    if message_id.is_none() && discriminator.is_none() {
        return None;
    }
    Some(format!(
        "{record_type}:{}:{}",
        message_id.unwrap_or(""),
        discriminator.unwrap_or("")
    ))
}

/// Postmark reports more than bounces as `Bounce` records; each type is read for what it is.
/// Types are matched by name, then by `TypeCode`; anything unlisted is a bounce.
fn bounce_status(type_name: Option<&str>, type_code: Option<i64>) -> EmailStatus {
    const TYPES: &[(&str, i64, EmailStatus)] = &[
        ("HardBounce", 1, EmailStatus::Bounced),
        // Delivery is delayed and still being attempted.
        ("Transient", 2, EmailStatus::Deferred),
        ("Unsubscribe", 16, EmailStatus::Unsubscribed),
        ("Subscribe", 32, EmailStatus::Resubscribed),
        // An out-of-office reply or an address-change notice means the email arrived.
        ("AutoResponder", 64, EmailStatus::Delivered),
        ("AddressChange", 128, EmailStatus::Delivered),
        ("DnsError", 256, EmailStatus::Deferred),
        ("SpamNotification", 512, EmailStatus::Bounced),
        ("OpenRelayTest", 1024, EmailStatus::Bounced),
        ("Unknown", 2048, EmailStatus::Bounced),
        ("SoftBounce", 4096, EmailStatus::Bounced),
        ("VirusNotification", 8192, EmailStatus::Bounced),
        // Held by the recipient's challenge-response filter until the sender confirms.
        ("ChallengeVerification", 16384, EmailStatus::Deferred),
        ("BadEmailAddress", 100000, EmailStatus::Bounced),
        ("SpamComplaint", 100001, EmailStatus::SpamReport),
        // Never sent: Postmark held it back (deactivated address, unconfirmed sender, API
        // or template error).
        ("ManuallyDeactivated", 100002, EmailStatus::Dropped),
        ("Unconfirmed", 100003, EmailStatus::Dropped),
        ("Blocked", 100006, EmailStatus::Bounced),
        ("SMTPApiError", 100007, EmailStatus::Dropped),
        ("InboundError", 100008, EmailStatus::Bounced),
        ("DMARCPolicy", 100009, EmailStatus::Bounced),
        ("TemplateRenderingFailed", 100010, EmailStatus::Dropped),
    ];
    let by_name =
        type_name.and_then(|name| TYPES.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)));
    let by_code = || type_code.and_then(|code| TYPES.iter().find(|(_, c, _)| *c == code));
    by_name
        .or_else(by_code)
        .map_or(EmailStatus::Bounced, |(_, _, status)| *status)
}

/// The receiving server's words (`Details`, e.g. `smtp;550 5.1.1 …`) when there are any,
/// else Postmark's description of the bounce type.
fn bounce_reason(record: &Map<String, Value>) -> Option<String> {
    text_of(record.get("Details")).or_else(|| text_of(record.get("Description")))
}

fn unknown(
    record: &Map<String, Value>,
    record_type: &str,
    recipient: Option<String>,
    occurred_at: DateTime<Utc>,
    subjects: Vec<crate::activity::Subject>,
    message_id: Option<String>,
    event_id: Option<String>,
) -> Normalized {
    let data = Value::Object(record.clone());
    let entry = UnknownEmailEvent {
        provider: PROVIDER,
        provider_name: PROVIDER_NAME,
        event_type: record_type,
        data: &data,
        recipient: recipient.as_deref(),
        occurred_at,
        subjects,
        correlation: correlation_keys(PROVIDER, message_id.as_deref(), None),
        event_id: event_id.clone(),
    }
    .into_entry();
    Normalized {
        delivery_id: event_id,
        entries: vec![entry],
        outcome: Outcome::UnknownType {
            event_type: record_type.to_owned(),
        },
    }
}

/// What every `postmark` source shares.
const PROFILE: Profile = Profile::new(KIND, CAPTURED_HEADERS, normalize);

/// The `postmark` kind in the table of kinds.
pub const REGISTRATION: Registration = Registration::new(&PROFILE, |table| {
    kind::build(table, Postmark::from_settings)
});

impl Kind for Postmark {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn verify(
        &self,
        headers: &dyn Headers,
        _body: &[u8],
        _now: i64,
    ) -> Result<Verified, Rejection> {
        let header = headers
            .header("authorization")
            .ok_or(Rejection::MissingHeader("Authorization"))?
            .trim();
        let (scheme, encoded) = header
            .split_once(' ')
            .ok_or(Rejection::MalformedHeader("Authorization"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Rejection::MalformedHeader("Authorization"));
        }
        let given = STANDARD
            .decode(encoded.trim())
            .map_err(|_| Rejection::MalformedHeader("Authorization"))?;
        let given: [u8; 32] = Sha256::digest(&given).into();
        if bool::from(given.ct_eq(&self.expected)) {
            // Nothing is signed: no time, and nothing that could be replayed only once.
            Ok(Verified::default())
        } else {
            Err(Rejection::BadSignature)
        }
    }

    fn signing_headers(&self, body: &[u8], now: i64) -> Option<Vec<(String, String)>> {
        Some(self.sign_request(body, now))
    }

    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<super::Signed, String> {
        // The trace id is not signed: the credentials stay, the id is the one given.
        let mut headers = self.sign_request(body, now);
        for (name, value) in &mut headers {
            if name.eq_ignore_ascii_case(TRACE_HEADER) {
                id.clone_into(value);
            }
        }
        Ok(kind::with_headers(headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::details::EmailEvent;
    use crate::activity::{Actor, Category, Details, Subject};

    const EVENTS: &str = include_str!("../../tests/fixtures/postmark/events.json");

    fn source() -> Postmark {
        Postmark::from_settings(Settings {
            username: "postmark".into(),
            password: "s3cret: with colon".into(),
        })
        .unwrap()
    }

    fn basic(credentials: &str) -> Vec<(String, String)> {
        vec![(
            "Authorization".to_owned(),
            format!("Basic {}", STANDARD.encode(credentials)),
        )]
    }

    fn delivery<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> RawDelivery<'a> {
        RawDelivery {
            source: "postmark",
            received_at: DateTime::from_timestamp(1_772_700_000, 0).unwrap(),
            headers,
            body,
        }
    }

    fn event_of(normalized: &Normalized) -> EmailEvent {
        match &normalized.entries[0].details {
            Details::EmailEvent { event } => event.clone(),
            other => panic!("not an email event: {other:?}"),
        }
    }

    #[test]
    fn the_right_credentials_pass() {
        assert_eq!(
            source().verify(&basic("postmark:s3cret: with colon"), b"{}", 0),
            Ok(Verified::default())
        );
        let lowercase_scheme = vec![(
            "authorization".to_owned(),
            format!("basic {}", STANDARD.encode("postmark:s3cret: with colon")),
        )];
        assert!(source().verify(&lowercase_scheme, b"{}", 0).is_ok());
    }

    #[test]
    fn wrong_or_partial_credentials_fail() {
        let source = source();
        for wrong in [
            "postmark:s3cret: with colo",
            "postmark:s3cret: with colonx",
            "Postmark:s3cret: with colon",
            "postmark",
            ":",
        ] {
            assert_eq!(
                source.verify(&basic(wrong), b"{}", 0),
                Err(Rejection::BadSignature),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn missing_or_malformed_authorization_fails() {
        let source = source();
        assert_eq!(
            source.verify(&Vec::new(), b"{}", 0),
            Err(Rejection::MissingHeader("Authorization"))
        );
        for header in [
            "Basic",
            "Bearer abc",
            "Basic not-base64!",
            "Digest username=x",
        ] {
            let headers = vec![("Authorization".to_owned(), header.to_owned())];
            assert_eq!(
                source.verify(&headers, b"{}", 0),
                Err(Rejection::MalformedHeader("Authorization")),
                "{header}"
            );
        }
    }

    #[test]
    fn signing_produces_credentials_that_verify() {
        let source = source();
        let headers = source.sign_request(b"{}", 0);
        assert!(source.verify(&headers, b"{}", 0).is_ok());
        let trace = headers.header(TRACE_HEADER).unwrap();
        assert_eq!(trace.len(), 36);
        assert_ne!(
            trace,
            source.sign_request(b"{}", 0).header(TRACE_HEADER).unwrap()
        );
    }

    #[test]
    fn settings_are_checked_and_secrets_do_not_print() {
        let err = |username: &str, password: &str| {
            Postmark::from_settings(Settings {
                username: username.into(),
                password: password.into(),
            })
            .unwrap_err()
        };
        assert!(err("", "p").starts_with("username:"));
        assert!(err("a:b", "p").starts_with("username:"));
        assert!(err("a\n", "p").starts_with("username:"));
        assert!(err("a", "").starts_with("password:"));
        assert!(
            serde_json::from_str::<Settings>(r#"{"username":"a","password":"b","secrets":[]}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Settings>(r#"{"username":"a"}"#).is_err());
        let printed = format!("{:?}", source());
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(
            CAPTURED_HEADERS
                .iter()
                .all(|h| !h.eq_ignore_ascii_case("authorization"))
        );
    }

    #[test]
    fn every_record_type_maps() {
        let records: Vec<Value> = serde_json::from_str(EVENTS).unwrap();
        let normalized: Vec<Normalized> = records
            .iter()
            .map(|record| normalize(&delivery(&[], &serde_json::to_vec(record).unwrap())))
            .collect();
        let kinds: Vec<&str> = normalized
            .iter()
            .map(|n| n.entries[0].kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "email.delivered",
                "email.bounced",
                "email.deferred",
                "email.dropped",
                "email.spam_report",
                "email.opened",
                "email.clicked",
                "email.unsubscribed",
                "email.resubscribed",
            ]
        );
        for n in &normalized {
            assert_eq!(n.outcome, Outcome::Normalized);
            assert_eq!(n.entries.len(), 1);
            assert_eq!(n.delivery_id, n.entries[0].event_id);
            assert_eq!(n.entries[0].category, Category::Communication);
            assert_eq!(n.entries[0].actor, Actor::integration("Postmark"));
        }
        let job = vec!["job:1042".parse::<Subject>().unwrap()];
        assert_eq!(normalized[0].entries[0].subjects, job);
        assert!(normalized[3].entries[0].subjects.is_empty());
        assert_eq!(
            normalized[0].entries[0].correlation,
            ["email:postmark:883953f4-6105-42a2-a16a-77a8eac79483"]
        );
        // Delivery keeps its sub-second precision and offset.
        assert_eq!(
            normalized[0].entries[0].occurred_at,
            DateTime::parse_from_rfc3339("2026-03-04T15:16:17.2735393Z").unwrap()
        );

        let bounce = event_of(&normalized[1]);
        assert_eq!(bounce.provider_event, "HardBounce");
        assert_eq!(bounce.recipient.as_deref(), Some("gone@acme.test"));
        assert_eq!(bounce.subject.as_deref(), Some("Proof ready for job 1042"));
        assert_eq!(
            bounce.reason.as_deref(),
            Some("smtp;550 5.1.1 mailbox unavailable")
        );
        assert_eq!(
            normalized[1].entries[0].summary,
            "Email “Proof ready for job 1042” to gone@acme.test bounced: smtp;550 5.1.1 mailbox unavailable"
        );
        // Without Details, the type's description is the reason.
        assert!(
            event_of(&normalized[2])
                .reason
                .unwrap()
                .starts_with("The server could not temporarily deliver")
        );
        assert_eq!(
            event_of(&normalized[6]).url.unwrap().as_str(),
            "https://shop.example.com/proofs/1042"
        );
        assert_eq!(
            event_of(&normalized[7]).reason.as_deref(),
            Some("ManualSuppression")
        );
        assert_eq!(
            normalized[7].entries[0].summary,
            "ann@acme.test unsubscribed: ManualSuppression"
        );
    }

    #[test]
    fn event_ids_prefer_the_trace_header_then_fall_back_per_record() {
        let records: Vec<Value> = serde_json::from_str(EVENTS).unwrap();
        let bounce = serde_json::to_vec(&records[1]).unwrap();
        let traced = vec![(
            TRACE_HEADER.to_owned(),
            "8f4d1c52-3e1a-4a0b-9c3d-2b1e0f9a8d7c".to_owned(),
        )];
        let normalized = normalize(&delivery(&traced, &bounce));
        assert_eq!(
            normalized.delivery_id.as_deref(),
            Some("8f4d1c52-3e1a-4a0b-9c3d-2b1e0f9a8d7c")
        );
        assert_eq!(normalized.entries[0].event_id, normalized.delivery_id);

        let untraced = normalize(&delivery(&[], &bounce));
        assert_eq!(
            untraced.delivery_id.as_deref(),
            Some("Bounce:9a1c5e3b-0d4f-4e8a-b7c2-1f6d8e9a0b3c:4323372036854775807")
        );
        let open = normalize(&delivery(&[], &serde_json::to_vec(&records[5]).unwrap()));
        assert_eq!(
            open.delivery_id.as_deref(),
            Some("Open:883953f4-6105-42a2-a16a-77a8eac79483:2026-03-04T15:30:00.123Z")
        );
    }

    #[test]
    fn bounce_types_map_by_name_or_code() {
        assert_eq!(
            bounce_status(Some("SoftBounce"), None),
            EmailStatus::Bounced
        );
        assert_eq!(bounce_status(None, Some(2)), EmailStatus::Deferred);
        assert_eq!(
            bounce_status(Some("AutoResponder"), Some(64)),
            EmailStatus::Delivered
        );
        assert_eq!(
            bounce_status(Some("Unsubscribe"), None),
            EmailStatus::Unsubscribed
        );
        assert_eq!(
            bounce_status(Some("TemplateRenderingFailed"), None),
            EmailStatus::Dropped
        );
        assert_eq!(
            bounce_status(Some("SomethingNew"), Some(999_999)),
            EmailStatus::Bounced
        );
        assert_eq!(bounce_status(None, None), EmailStatus::Bounced);
    }

    #[test]
    fn unknown_and_unreadable_records_are_kept_or_flagged() {
        let body = br#"{"RecordType":"Inbound","MessageID":"m1","Recipient":"shop@example.com","Metadata":{"hooktrail_subject":"job:5"}}"#;
        let normalized = normalize(&delivery(&[], body));
        assert_eq!(
            normalized.outcome,
            Outcome::UnknownType {
                event_type: "Inbound".to_owned()
            }
        );
        assert_eq!(normalized.entries[0].kind.as_str(), "postmark.Inbound");
        assert_eq!(normalized.entries[0].correlation, ["email:postmark:m1"]);
        assert_eq!(
            normalized.entries[0].subjects,
            vec!["job:5".parse::<Subject>().unwrap()]
        );

        let traced = vec![(TRACE_HEADER.to_owned(), "t-1".to_owned())];
        for body in [&b"nope"[..], b"[]", br#"{"MessageID":"m1"}"#] {
            let normalized = normalize(&delivery(&traced, body));
            assert!(matches!(normalized.outcome, Outcome::Unparseable { .. }));
            assert!(normalized.entries.is_empty());
            assert_eq!(normalized.delivery_id.as_deref(), Some("t-1"));
        }
    }
}
