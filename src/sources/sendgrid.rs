//! SendGrid (Twilio) Event Webhook: a JSON array of delivery and engagement events per POST,
//! signed with ECDSA P-256/SHA-256 over `timestamp ‖ raw body` (no separator). The signature
//! is base64 DER in `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in
//! `X-Twilio-Email-Event-Webhook-Timestamp`, and the verification key is the base64 DER
//! SubjectPublicKeyInfo shown in SendGrid's mail settings.
//!
//! The window is a day and an hour by default, not five minutes. SendGrid documents no
//! tolerance, its own verifiers apply none, and it retries a failed POST for 24 hours; whether
//! a retry is signed afresh is not documented. Under a five-minute window, a retry that kept
//! its first timestamp would be refused once it came more than five minutes after the first
//! attempt, and so would every later one, until SendGrid gave up and the events were lost.
//!
//! The window is not what stops replays. Every event's `sg_event_id` is signed (it is in the
//! body) and deduplicated, and the signed request itself is a replay key (the hash of
//! `timestamp ‖ body`), so a replayed batch adds nothing even when its events carry no id.
//! The window only bounds how long a captured batch stays usable at all.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, Utc};
use p256::SecretKey;
use p256::ecdsa::signature::{MultipartSigner, MultipartVerifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::email::{
    EmailCallback, SUBJECT_KEY, SUMMARY_MAX_CHARS, UnknownEmailEvent, correlation_keys,
    literal_kind, subjects_from, text_of, unix_time,
};
use super::kind::{self, Kind, Profile, Registration};
use super::{Headers, RawDelivery, Rejection, ReplayKey, Verified, check_window};
use crate::activity::details::{EmailStatus, SafeUrl};
use crate::activity::entry::one_line;
use crate::activity::{Actor, Category, Details, NewEntry, Normalized, Outcome};

pub const KIND: &str = "sendgrid";

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

pub const CAPTURED_HEADERS: &[&str] = &[
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "content-type",
    "user-agent",
];

/// SendGrid's published verification key for its SDK test vectors (SG-1). Test-only: it lets
/// a development config, `hooktrail send` and `hooktrail demo` sign like SendGrid does.
pub const TEST_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";

/// The private half of [`TEST_PUBLIC_KEY`] (base64 SEC1 DER), published in SendGrid's Go SDK
/// for tests. Never a production key: anyone can sign with it.
pub const TEST_PRIVATE_KEY: &str = "MHcCAQEEIEQmZgBEh9DcU9zMl34czK3xov4AYvm9P3r7rNB2dNXtoAoGCCqGSM49AwEHoUQDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";

/// The `[[sources]]` settings of a `sendgrid` source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The verification key: base64 DER SubjectPublicKeyInfo (PEM armour also accepted).
    pub public_key: String,
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

/// SendGrid's 24 hours of retries plus an hour for the last attempt and for clocks (see the
/// module documentation).
pub const DEFAULT_TOLERANCE_SECS: u64 = 25 * 60 * 60;

#[derive(Debug)]
pub struct SendGrid {
    key: VerifyingKey,
    tolerance_secs: u64,
}

impl SendGrid {
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        let key =
            decode_public_key(&settings.public_key).map_err(|why| format!("public_key: {why}"))?;
        Ok(SendGrid {
            key,
            tolerance_secs: settings.tolerance_secs,
        })
    }

    /// Whether this source verifies with SendGrid's published test key, whose private half
    /// is public too: a development setup, where `send` and `demo` may sign with it.
    pub fn uses_test_key(&self) -> bool {
        decode_public_key(TEST_PUBLIC_KEY).is_ok_and(|test| test == self.key)
    }
}

/// The window is a day long, and an event without `sg_event_id` (or a batch of unreadable
/// ones) has no id to deduplicate on: the signed request itself must not be storable twice.
fn replay_key(timestamp: &str, body: &[u8]) -> ReplayKey {
    ReplayKey::signed_content(&[timestamp.as_bytes(), body])
}

/// A base64 DER SubjectPublicKeyInfo (as SendGrid shows it), or the same in PEM armour.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|_| "not a P-256 public key (PEM SubjectPublicKeyInfo)".to_owned());
    }
    let der = decode_base64(text).ok_or_else(|| "not base64".to_owned())?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| "not a P-256 public key (base64 DER SubjectPublicKeyInfo)".to_owned())
}

/// A base64 DER private key: SEC1 `ECPrivateKey` (what SendGrid's SDK publishes) or PKCS#8.
fn decode_private_key(text: &str) -> Result<SigningKey, String> {
    let der =
        decode_base64(text.trim()).ok_or_else(|| "the private key is not base64".to_owned())?;
    if let Ok(secret) = SecretKey::from_sec1_der(&der) {
        return Ok(SigningKey::from(secret));
    }
    SigningKey::from_pkcs8_der(&der)
        .map_err(|_| "not a P-256 private key (base64 DER, SEC1 or PKCS#8)".to_owned())
}

/// Keys are pasted from dashboards: line breaks and missing padding are forgiven.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .ok()
}

/// The headers SendGrid would send with `body` at time `now`, signed with a P-256 private key
/// (base64 DER, SEC1 or PKCS#8), e.g. [`TEST_PRIVATE_KEY`]. Signing is deterministic
/// (RFC 6979), so fixtures minted with it are stable.
pub fn sign_with_private_key(
    private_key_b64_sec1_der: &str,
    body: &[u8],
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let key = decode_private_key(private_key_b64_sec1_der)?;
    let timestamp = now.to_string();
    let signature: Signature = key
        .try_multipart_sign(&[timestamp.as_bytes(), body])
        .map_err(|_| "signing failed".to_owned())?;
    Ok(vec![
        (
            SIGNATURE_HEADER.to_owned(),
            STANDARD.encode(signature.to_der().as_bytes()),
        ),
        (TIMESTAMP_HEADER.to_owned(), timestamp),
    ])
}

/// A batch of SendGrid events → one entry per event. Each entry's event id is its
/// `sg_event_id` (SendGrid's dedup key); the batch as a whole has no id.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let events = match serde_json::from_slice::<Value>(delivery.body) {
        Ok(Value::Array(events)) => events,
        // Always an array in practice; a lone event is read rather than flagged.
        Ok(event @ Value::Object(_)) => vec![event],
        Ok(_) => {
            let reason = "not a SendGrid event batch (expected a JSON array of events)".to_owned();
            return Normalized::flagged(None, Outcome::Unparseable { reason });
        }
        Err(err) => {
            let reason = format!("not a SendGrid event batch: {err}");
            return Normalized::flagged(None, Outcome::Unparseable { reason });
        }
    };
    let mut tally = Tally::default();
    let mut entries = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        match entry_for(event, delivery.received_at) {
            Ok(Mapped::Known(entry)) => entries.push(entry),
            Ok(Mapped::Unknown(entry, event_type)) => {
                entries.push(entry);
                tally.unknown.get_or_insert(event_type);
            }
            Err(reason) => {
                tally
                    .malformed
                    .get_or_insert(format!("event {index}: {reason}"));
                tally.malformed_count += 1;
            }
        }
    }
    Normalized {
        delivery_id: None,
        entries,
        outcome: tally.outcome(),
    }
}

/// How a batch went, worst first: an unreadable event flags the delivery; an unknown type
/// is only counted.
#[derive(Default)]
struct Tally {
    malformed: Option<String>,
    malformed_count: usize,
    unknown: Option<String>,
}

impl Tally {
    fn outcome(self) -> Outcome {
        match (self.malformed, self.unknown) {
            (Some(first), _) if self.malformed_count > 1 => Outcome::Malformed {
                reason: format!(
                    "{first} (and {} more unreadable events)",
                    self.malformed_count - 1
                ),
            },
            (Some(reason), _) => Outcome::Malformed { reason },
            (None, Some(event_type)) => Outcome::UnknownType { event_type },
            (None, None) => Outcome::Normalized,
        }
    }
}

enum Mapped {
    Known(NewEntry),
    Unknown(NewEntry, String),
}

const PROVIDER: &str = "sendgrid";
const PROVIDER_NAME: &str = "SendGrid";

fn entry_for(event: &Value, received_at: DateTime<Utc>) -> Result<Mapped, String> {
    let Value::Object(fields) = event else {
        return Err("not a JSON object".to_owned());
    };
    let name = fields
        .get("event")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| "no event name".to_owned())?;
    let occurred_at = fields
        .get("timestamp")
        .and_then(unix_time)
        .unwrap_or(received_at);
    let recipient = text_of(fields.get("email"));
    // `sg_message_id` is the send call's X-Message-Id followed by `.filter…` routing parts.
    let provider_message_id = text_of(fields.get("sg_message_id"))
        .and_then(|id| id.split('.').next().map(str::to_owned))
        .filter(|id| !id.is_empty());
    let message_id = text_of(fields.get("smtp-id"));
    // custom_args (and legacy unique_args) arrive as top-level keys of each event.
    let subjects = subjects_from(fields.get(SUBJECT_KEY));
    let event_id = text_of(fields.get("sg_event_id"));

    let mut verb = None;
    let mut provider_event = name.to_owned();
    let (status, reason) = match name {
        "processed" => (EmailStatus::Processed, None),
        "dropped" => (
            EmailStatus::Dropped,
            first_text(fields, &["reason", "status"]),
        ),
        "delivered" => (EmailStatus::Delivered, None),
        "deferred" => {
            let mut reason = first_text(fields, &["response", "reason"]);
            if let (Some(text), Some(attempt)) = (reason.as_mut(), text_of(fields.get("attempt"))) {
                text.push_str(&format!(" (attempt {attempt})"));
            }
            (EmailStatus::Deferred, reason)
        }
        "bounce" => {
            // A block is the receiving server refusing this message (reputation, content),
            // not the address being bad: still undelivered, but told apart.
            if fields.get("type").and_then(Value::as_str) == Some("blocked") {
                provider_event = "blocked".to_owned();
                verb = Some("was blocked");
            }
            (
                EmailStatus::Bounced,
                first_text(fields, &["reason", "response", "status"]),
            )
        }
        "open" => (EmailStatus::Opened, None),
        "click" => (EmailStatus::Clicked, None),
        "spamreport" => (EmailStatus::SpamReport, None),
        "unsubscribe" | "group_unsubscribe" => (EmailStatus::Unsubscribed, None),
        "group_resubscribe" => (EmailStatus::Resubscribed, None),
        "account_status_change" => {
            // About the whole SendGrid account (e.g. a compliance suspension), not one email:
            // kept as a system entry because it explains every failure that follows.
            let change = text_of(fields.get("type")).unwrap_or_else(|| "unknown".to_owned());
            let summary = format!("SendGrid account status changed: {change}");
            let entry = NewEntry {
                kind: literal_kind("sendgrid.account_status_change"),
                category: Category::System,
                occurred_at,
                actor: Actor::integration(PROVIDER_NAME),
                subjects: Vec::new(),
                summary: one_line(&summary, SUMMARY_MAX_CHARS),
                details: Details::Generic {
                    event_type: name.to_owned(),
                    data: event.clone(),
                },
                event_id,
                correlation: Vec::new(),
            };
            return Ok(Mapped::Known(entry));
        }
        other => {
            let entry = UnknownEmailEvent {
                provider: PROVIDER,
                provider_name: PROVIDER_NAME,
                event_type: other,
                data: event,
                recipient: recipient.as_deref(),
                occurred_at,
                subjects,
                correlation: correlation_keys(
                    PROVIDER,
                    provider_message_id.as_deref(),
                    message_id.as_deref(),
                ),
                event_id,
            }
            .into_entry();
            return Ok(Mapped::Unknown(entry, other.to_owned()));
        }
    };
    let mut callback =
        EmailCallback::new(PROVIDER, PROVIDER_NAME, status, provider_event, occurred_at);
    callback.recipient = recipient;
    callback.provider_message_id = provider_message_id;
    callback.message_id = message_id;
    callback.reason = reason;
    callback.url = fields
        .get("url")
        .and_then(Value::as_str)
        .and_then(SafeUrl::parse);
    callback.subjects = subjects;
    callback.event_id = event_id;
    callback.verb = verb;
    Ok(Mapped::Known(callback.into_entry()))
}

fn first_text(fields: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| text_of(fields.get(*key)))
}

/// What every `sendgrid` source shares.
const PROFILE: Profile = Profile::new(KIND, CAPTURED_HEADERS, normalize);

/// The `sendgrid` kind in the table of kinds.
pub const REGISTRATION: Registration = Registration::new(&PROFILE, |table| {
    kind::build(table, SendGrid::from_settings)
});

impl Kind for SendGrid {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn verify(&self, headers: &dyn Headers, body: &[u8], now: i64) -> Result<Verified, Rejection> {
        // The timestamp is signed as the exact text sent, so that text is what is verified.
        let timestamp_text = headers
            .header(TIMESTAMP_HEADER)
            .ok_or(Rejection::MissingHeader(TIMESTAMP_HEADER))?
            .trim();
        let timestamp = timestamp_text
            .parse::<i64>()
            .map_err(|_| Rejection::MalformedHeader(TIMESTAMP_HEADER))?;
        let encoded = headers
            .header(SIGNATURE_HEADER)
            .ok_or(Rejection::MissingHeader(SIGNATURE_HEADER))?
            .trim();
        let der = STANDARD
            .decode(encoded)
            .map_err(|_| Rejection::MalformedHeader(SIGNATURE_HEADER))?;
        let signature = DerSignature::from_bytes(&der)
            .map_err(|_| Rejection::MalformedHeader(SIGNATURE_HEADER))?;
        check_window(timestamp, now, self.tolerance_secs)?;
        // Multipart verification hashes the two parts in order without copying the body.
        self.key
            .multipart_verify(&[timestamp_text.as_bytes(), body], &signature)
            .map_err(|_| Rejection::BadSignature)?;
        Ok(Verified {
            signed_at: Some(timestamp),
            replay_key: Some(replay_key(timestamp_text, body)),
        })
    }

    fn sign(
        &self,
        body: &[u8],
        now: i64,
        signing_key: Option<&str>,
    ) -> Result<super::Signed, String> {
        let key = match signing_key {
            Some(key) => key,
            None if self.uses_test_key() => TEST_PRIVATE_KEY,
            None => return Err("SendGrid signs with a private key: pass --signing-key".to_owned()),
        };
        Ok(kind::with_headers(
            sign_with_private_key(key, body, now)?,
            body,
        ))
    }

    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<super::Signed, String> {
        let _ = (body, now, id);
        Err(kind::id_in_body(KIND, "each event's `sg_event_id`"))
    }

    /// The replay key [`SendGrid::verify`] gives a delivery, worked out again from a logged
    /// one: for deliveries logged before it gave one.
    fn replay_key(&self, delivery: &RawDelivery<'_>) -> Option<ReplayKey> {
        let timestamp = delivery.headers.header(TIMESTAMP_HEADER)?.trim();
        Some(replay_key(timestamp, delivery.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::SubjectKind;
    use crate::activity::{EntryKind, Subject};
    use crate::sources::email::status_kind;

    // SG-1, published in SendGrid's Node and Go SDKs.
    const PUBLIC_KEY: &str = TEST_PUBLIC_KEY;
    const TIMESTAMP: &str = "1588788367";
    const NOW: i64 = 1588788367;
    const PAYLOAD: &[u8] =
        br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    const SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const TAMPERED_SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";

    const BATCH: &str = include_str!("../../tests/fixtures/sendgrid/batch.json");

    fn source(tolerance_secs: u64) -> SendGrid {
        SendGrid::from_settings(Settings {
            public_key: PUBLIC_KEY.to_owned(),
            tolerance_secs,
        })
        .unwrap()
    }

    fn headers(signature: &str, timestamp: &str) -> Vec<(String, String)> {
        vec![
            (SIGNATURE_HEADER.to_owned(), signature.to_owned()),
            (TIMESTAMP_HEADER.to_owned(), timestamp.to_owned()),
        ]
    }

    fn delivery<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> RawDelivery<'a> {
        RawDelivery {
            source: "sendgrid",
            received_at: DateTime::from_timestamp(1_772_700_000, 0).unwrap(),
            headers,
            body,
        }
    }

    #[test]
    fn a_logged_delivery_gives_the_replay_key_its_verification_gave() {
        let headers = headers(SIGNATURE, TIMESTAMP);
        let verified = source(300).verify(&headers, PAYLOAD, NOW).unwrap();
        assert!(verified.replay_key.is_some());
        assert_eq!(
            source(300).replay_key(&delivery(&headers, PAYLOAD)),
            verified.replay_key
        );
    }

    #[test]
    fn published_vector_verifies() {
        let verified = source(300).verify(&headers(SIGNATURE, TIMESTAMP), PAYLOAD, NOW);
        assert_eq!(
            verified,
            Ok(Verified {
                signed_at: Some(NOW),
                replay_key: Some(ReplayKey::signed_content(&[TIMESTAMP.as_bytes(), PAYLOAD]))
            })
        );
    }

    #[test]
    fn published_negatives_fail() {
        let source = source(0);
        // The tampered signature is still well-formed DER: it is the math that refuses it.
        assert_eq!(
            source.verify(&headers(TAMPERED_SIGNATURE, TIMESTAMP), PAYLOAD, NOW),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            source.verify(&headers(SIGNATURE, TIMESTAMP), b"payload", NOW),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            source.verify(&headers(SIGNATURE, "timestamp"), PAYLOAD, NOW),
            Err(Rejection::MalformedHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            source.verify(&headers(SIGNATURE, "1588788368"), PAYLOAD, NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn the_published_private_key_matches_the_published_public_key() {
        let signing = decode_private_key(TEST_PRIVATE_KEY).unwrap();
        assert_eq!(
            signing.verifying_key(),
            &decode_public_key(TEST_PUBLIC_KEY).unwrap()
        );
    }

    #[test]
    fn signing_round_trips_and_is_deterministic() {
        let body = br#"[{"event":"delivered","email":"ann@acme.test"}]"#;
        let signed = sign_with_private_key(TEST_PRIVATE_KEY, body, 1_772_700_000).unwrap();
        assert_eq!(
            signed,
            sign_with_private_key(TEST_PRIVATE_KEY, body, 1_772_700_000).unwrap()
        );
        assert_eq!(signed[1].1, "1772700000");
        assert!(source(300).verify(&signed, body, 1_772_700_000).is_ok());
        assert_eq!(
            source(300).verify(&signed, b"[]", 1_772_700_000),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn pkcs8_private_keys_sign_too() {
        use p256::pkcs8::EncodePrivateKey;
        let pkcs8 = decode_private_key(TEST_PRIVATE_KEY)
            .unwrap()
            .to_pkcs8_der()
            .unwrap();
        let encoded = STANDARD.encode(pkcs8.as_bytes());
        let signed = sign_with_private_key(&encoded, PAYLOAD, NOW).unwrap();
        assert!(source(300).verify(&signed, PAYLOAD, NOW).is_ok());
        assert!(sign_with_private_key("not a key", PAYLOAD, NOW).is_err());
    }

    #[test]
    fn the_trailing_newline_is_part_of_the_signed_bytes() {
        let body = b"[{\"event\":\"open\"}]\r\n";
        let signed = sign_with_private_key(TEST_PRIVATE_KEY, body, NOW).unwrap();
        assert!(source(300).verify(&signed, body, NOW).is_ok());
        assert_eq!(
            source(300).verify(&signed, &body[..body.len() - 2], NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn a_different_key_fails() {
        let other = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other_public = {
            use p256::pkcs8::EncodePublicKey;
            other.verifying_key().to_public_key_der().unwrap()
        };
        let source = SendGrid::from_settings(Settings {
            public_key: STANDARD.encode(other_public.as_bytes()),
            tolerance_secs: 0,
        })
        .unwrap();
        assert_eq!(
            source.verify(&headers(SIGNATURE, TIMESTAMP), PAYLOAD, NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn missing_or_garbled_headers_fail() {
        let source = source(300);
        let only_signature = vec![(SIGNATURE_HEADER.to_owned(), SIGNATURE.to_owned())];
        let only_timestamp = vec![(TIMESTAMP_HEADER.to_owned(), TIMESTAMP.to_owned())];
        assert_eq!(
            source.verify(&only_signature, PAYLOAD, NOW),
            Err(Rejection::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            source.verify(&only_timestamp, PAYLOAD, NOW),
            Err(Rejection::MissingHeader(SIGNATURE_HEADER))
        );
        for garbled in ["not base64!", "", "AAAA"] {
            assert_eq!(
                source.verify(&headers(garbled, TIMESTAMP), PAYLOAD, NOW),
                Err(Rejection::MalformedHeader(SIGNATURE_HEADER)),
                "{garbled:?}"
            );
        }
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let lower = vec![
            (SIGNATURE_HEADER.to_ascii_lowercase(), SIGNATURE.to_owned()),
            (TIMESTAMP_HEADER.to_ascii_lowercase(), TIMESTAMP.to_owned()),
        ];
        assert!(source(300).verify(&lower, PAYLOAD, NOW).is_ok());
    }

    #[test]
    fn timestamps_outside_the_window_fail_both_ways() {
        let source = source(300);
        let headers = headers(SIGNATURE, TIMESTAMP);
        assert!(source.verify(&headers, PAYLOAD, NOW + 300).is_ok());
        assert!(source.verify(&headers, PAYLOAD, NOW - 300).is_ok());
        assert_eq!(
            source.verify(&headers, PAYLOAD, NOW + 301),
            Err(Rejection::StaleTimestamp {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            source.verify(&headers, PAYLOAD, NOW - 301),
            Err(Rejection::FutureTimestamp {
                tolerance_secs: 300
            })
        );
        // A stale timestamp is refused even when the signature is right; 0 turns the check off.
        assert!(
            self::source(0)
                .verify(&headers, PAYLOAD, NOW + 86_400 * 365)
                .is_ok()
        );
    }

    #[test]
    fn settings_accept_pem_and_name_the_key_when_wrong() {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &PUBLIC_KEY[..64],
            &PUBLIC_KEY[64..]
        );
        assert!(
            SendGrid::from_settings(Settings {
                public_key: pem,
                tolerance_secs: 300
            })
            .is_ok()
        );
        let wrapped = format!("{}\n{}", &PUBLIC_KEY[..40], &PUBLIC_KEY[40..]);
        assert!(
            SendGrid::from_settings(Settings {
                public_key: wrapped,
                tolerance_secs: 300
            })
            .is_ok()
        );
        for bad in ["", "!!!", "aGVsbG8=", TEST_PRIVATE_KEY] {
            let err = SendGrid::from_settings(Settings {
                public_key: bad.to_owned(),
                tolerance_secs: 300,
            })
            .unwrap_err();
            assert!(err.starts_with("public_key: "), "{err}");
        }
        let unknown: Result<Settings, _> =
            serde_json::from_str(r#"{"public_key":"x","secrets":[]}"#);
        assert!(unknown.is_err());
        let defaulted: Settings = serde_json::from_str(r#"{"public_key":"x"}"#).unwrap();
        assert_eq!(defaulted.tolerance_secs, DEFAULT_TOLERANCE_SECS);
    }

    #[test]
    fn a_retry_signed_hours_ago_verifies_under_the_default_window() {
        let settings = format!(r#"{{"public_key":"{TEST_PUBLIC_KEY}"}}"#);
        let source = SendGrid::from_settings(serde_json::from_str(&settings).unwrap()).unwrap();
        let hours = |h: i64| h * 60 * 60;
        for age in [hours(1), hours(6), hours(24)] {
            let signed = sign_with_private_key(TEST_PRIVATE_KEY, PAYLOAD, NOW - age).unwrap();
            assert_eq!(
                source.verify(&signed, PAYLOAD, NOW).map(|v| v.signed_at),
                Ok(Some(NOW - age)),
                "signed {age} s ago"
            );
        }
        // Past SendGrid's retries and the hour of slack, a capture is stale.
        let old = sign_with_private_key(TEST_PRIVATE_KEY, PAYLOAD, NOW - hours(25) - 1).unwrap();
        assert_eq!(
            source.verify(&old, PAYLOAD, NOW),
            Err(Rejection::StaleTimestamp {
                tolerance_secs: DEFAULT_TOLERANCE_SECS
            })
        );
    }

    #[test]
    fn a_signed_batch_verifies_and_normalizes_into_one_entry_per_event() {
        let signed =
            sign_with_private_key(TEST_PRIVATE_KEY, BATCH.as_bytes(), 1_772_700_000).unwrap();
        assert!(
            source(300)
                .verify(&signed, BATCH.as_bytes(), 1_772_700_000)
                .is_ok()
        );

        let normalized = normalize(&delivery(&signed, BATCH.as_bytes()));
        assert_eq!(normalized.outcome, Outcome::Normalized);
        assert_eq!(normalized.delivery_id, None);
        let kinds: Vec<&str> = normalized.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "email.processed",
                "email.dropped",
                "email.delivered",
                "email.deferred",
                "email.bounced",
                "email.bounced",
                "email.opened",
                "email.clicked",
                "email.spam_report",
                "email.unsubscribed",
                "email.unsubscribed",
                "email.resubscribed",
                "sendgrid.account_status_change",
            ]
        );
        let event_ids: Vec<Option<&str>> = normalized
            .entries
            .iter()
            .map(|e| e.event_id.as_deref())
            .collect();
        assert_eq!(event_ids[0], Some("rbtnWrG1DVDGGGFHFyun0A=="));
        assert_eq!(
            event_ids[12],
            Some("MjA5YmE1ZDMtYjg1Yy00ZTI3LWIwZTQtMzcyZjNkNTlhYzNi")
        );
        assert!(event_ids.iter().all(Option::is_some));

        for entry in &normalized.entries[..12] {
            assert_eq!(entry.category, Category::Communication);
            assert_eq!(entry.actor, Actor::integration("SendGrid"));
        }
        let job = |id: &str| vec![Subject::new(SubjectKind::Job, id).unwrap()];
        assert_eq!(normalized.entries[0].subjects, job("1042"));
        assert_eq!(
            normalized.entries[1].subjects,
            vec!["salesdoc:Q-7".parse::<Subject>().unwrap()]
        );
        assert_eq!(normalized.entries[3].subjects, job("1043"));
        // "order:9" is not a subject: ignored, the entry goes by its correlation keys.
        assert!(normalized.entries[11].subjects.is_empty());
        assert!(normalized.entries[12].subjects.is_empty());

        assert_eq!(
            normalized.entries[0].correlation,
            [
                "email:sendgrid:14c5d75ce93",
                "message-id:14c5d75ce93.dfd.64b469@ismtpd-555"
            ]
        );
        // Engagement events carry no smtp-id, only the provider's message id.
        assert_eq!(
            normalized.entries[6].correlation,
            ["email:sendgrid:14c5d75ce93"]
        );
        assert!(normalized.entries[12].correlation.is_empty());
        assert_eq!(
            normalized.entries[0].occurred_at,
            DateTime::from_timestamp(1_772_636_400, 0).unwrap()
        );
    }

    #[test]
    fn batch_details_and_summaries() {
        let normalized = normalize(&delivery(&[], BATCH.as_bytes()));
        let event = |index: usize| match &normalized.entries[index].details {
            Details::EmailEvent { event } => event.clone(),
            other => panic!("not an email event: {other:?}"),
        };
        let bounce = event(4);
        assert_eq!(bounce.provider, "sendgrid");
        assert_eq!(bounce.status, EmailStatus::Bounced);
        assert_eq!(bounce.provider_event, "bounce");
        assert_eq!(bounce.recipient.as_deref(), Some("gone@acme.test"));
        assert_eq!(bounce.provider_message_id.as_deref(), Some("14c5d75ce96"));
        assert_eq!(
            bounce.message_id.as_deref(),
            Some("<14c5d75ce96.dfd.64b469@ismtpd-555>")
        );
        assert_eq!(bounce.reason.as_deref(), Some("550 mailbox unavailable"));
        assert_eq!(
            normalized.entries[4].summary,
            "Email to gone@acme.test bounced: 550 mailbox unavailable"
        );

        assert_eq!(event(5).provider_event, "blocked");
        assert_eq!(
            normalized.entries[5].summary,
            "Email to wall@strict.test was blocked: 554 5.7.1 rejected by policy"
        );
        assert_eq!(event(1).reason.as_deref(), Some("Bounced Address"));
        assert_eq!(
            event(3).reason.as_deref(),
            Some("400 try again later (attempt 5)")
        );
        assert_eq!(
            normalized.entries[2].summary,
            "Email to ann@acme.test delivered"
        );
        assert_eq!(
            normalized.entries[0].summary,
            "Email to ann@acme.test accepted by SendGrid"
        );
        assert_eq!(
            event(7).url.unwrap().as_str(),
            "https://shop.example.com/proofs/1042?v=2"
        );
        assert_eq!(
            normalized.entries[7].summary,
            "Link clicked in email to ann@acme.test: https://shop.example.com/proofs/1042?v=2"
        );
        assert_eq!(
            normalized.entries[8].summary,
            "Email to ann@acme.test marked as spam"
        );
        assert_eq!(normalized.entries[9].summary, "ann@acme.test unsubscribed");
        assert_eq!(normalized.entries[12].category, Category::System);
        assert_eq!(
            normalized.entries[12].summary,
            "SendGrid account status changed: compliance_suspend"
        );
    }

    #[test]
    fn unknown_and_unreadable_events_are_kept_or_flagged() {
        let body = br#"[
            {"event":"machine_open","email":"ann@acme.test","timestamp":1772636400,"sg_event_id":"e1","sg_message_id":"abc.filter","hooktrail_subject":"job:7"},
            {"event":"delivered","email":"ann@acme.test","timestamp":1772636400,"sg_event_id":"e2"}
        ]"#;
        let normalized = normalize(&delivery(&[], body));
        assert_eq!(
            normalized.outcome,
            Outcome::UnknownType {
                event_type: "machine_open".to_owned()
            }
        );
        assert_eq!(normalized.entries.len(), 2);
        assert_eq!(normalized.entries[0].kind.as_str(), "sendgrid.machine_open");
        assert_eq!(normalized.entries[0].correlation, ["email:sendgrid:abc"]);
        assert_eq!(
            normalized.entries[0].subjects,
            vec!["job:7".parse::<Subject>().unwrap()]
        );

        let body = br#"[42, {"email":"x@y.test"}, {"event":"open","sg_event_id":"e3"}]"#;
        let normalized = normalize(&delivery(&[], body));
        assert_eq!(normalized.entries.len(), 1);
        assert!(normalized.outcome.is_flagged());
        assert!(
            matches!(&normalized.outcome, Outcome::Malformed { reason } if reason.starts_with("event 0:"))
        );

        for garbage in [&b"not json"[..], b"\"text\"", b""] {
            let normalized = normalize(&delivery(&[], garbage));
            assert!(matches!(normalized.outcome, Outcome::Unparseable { .. }));
            assert!(normalized.entries.is_empty());
        }
        assert_eq!(
            normalize(&delivery(&[], b"[]")).outcome,
            Outcome::Normalized
        );
    }

    #[test]
    fn a_missing_message_id_or_time_is_tolerated() {
        // Async bounces may come without sg_message_id; the time falls back to receipt.
        let body = br#"[{"event":"bounce","email":"a@b.test","sg_event_id":"e9","type":"bounce"}]"#;
        let normalized = normalize(&delivery(&[], body));
        assert_eq!(normalized.outcome, Outcome::Normalized);
        let entry = &normalized.entries[0];
        assert!(entry.correlation.is_empty());
        assert_eq!(
            entry.occurred_at,
            DateTime::from_timestamp(1_772_700_000, 0).unwrap()
        );
        assert_eq!(entry.summary, "Email to a@b.test bounced");
    }

    #[test]
    fn every_status_has_a_valid_kind_and_shared_helpers_behave() {
        let statuses = [
            EmailStatus::Processed,
            EmailStatus::Deferred,
            EmailStatus::Delivered,
            EmailStatus::Bounced,
            EmailStatus::Dropped,
            EmailStatus::Opened,
            EmailStatus::Clicked,
            EmailStatus::SpamReport,
            EmailStatus::Unsubscribed,
            EmailStatus::Resubscribed,
        ];
        for status in statuses {
            assert!(status_kind(status).as_str().starts_with("email."));
        }
        assert!(EntryKind::new("email.provider_event").is_some());
        assert!(EntryKind::new("sendgrid.account_status_change").is_some());

        assert_eq!(
            unix_time(&serde_json::json!(1521472262.908181))
                .unwrap()
                .timestamp_micros(),
            1521472262908181
        );
        assert_eq!(
            unix_time(&serde_json::json!("1521472262"))
                .unwrap()
                .timestamp(),
            1521472262
        );
        assert!(unix_time(&serde_json::json!(1e300)).is_none());
        assert!(unix_time(&serde_json::json!(null)).is_none());
        assert!(subjects_from(Some(&serde_json::json!(" job:1 "))).len() == 1);
        assert!(subjects_from(Some(&serde_json::json!(1042))).is_empty());
        assert!(correlation_keys("sendgrid", Some(" "), Some("<>")).is_empty());
    }
}
