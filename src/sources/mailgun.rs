//! Mailgun webhooks: one event per POST, `{"signature": {timestamp, token, signature},
//! "event-data": {...}}`. The signature is lowercase hex HMAC-SHA256, keyed with the HTTP
//! webhook signing key, over `timestamp ‖ token` (no separator).
//!
//! The signature does not cover `event-data`: what makes a delivery authentic is a fresh token
//! signed with our key, so every verified token becomes a replay key the store refuses to see
//! twice. Subaccount domains add a `parent-signature` (same scheme, the primary account's key),
//! accepted as well so one key can serve every subaccount.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::email::{
    EmailCallback, SUBJECT_KEY, UnknownEmailEvent, correlation_keys, subjects_from, text_of,
    unix_time,
};
use super::kind::{self, Kind, Profile, Registration};
use super::signing::{Secret, hmac_sha256, hmac_sha256_matches, text_secrets};
use super::{Headers, RawDelivery, Rejection, ReplayKey, Verified, check_window};
use crate::activity::details::{EmailStatus, SafeUrl};
use crate::activity::{Normalized, Outcome};

pub const KIND: &str = "mailgun";

/// The signature travels in the body, which the log keeps whole; these are for diagnosis.
pub const CAPTURED_HEADERS: &[&str] = &["content-type", "user-agent"];

/// Eight hours, not five minutes. Mailgun asks receivers not to check the timestamp
/// aggressively because deliveries can be delayed, and retries a failed delivery for about
/// eight hours (5 min, 10 min, 15 min, 1 h, 2 h, 4 h); whether a retry is signed afresh is not
/// documented. A short window could turn one slow acknowledgement into a lost event. The
/// replay defence is the token, which the store refuses to accept twice; the window only
/// bounds how long a captured signature stays usable, and how long tokens must be remembered.
pub const DEFAULT_TOLERANCE_SECS: u64 = 8 * 60 * 60;

/// The `[[sources]]` settings of a `mailgun` source.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP webhook signing keys, used as their UTF-8 bytes; several allowed for rotation.
    pub secrets: Vec<String>,
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

/// Mailgun's tokens are 50 characters; anything far longer is not one, and it becomes a key.
const MAX_TOKEN_LEN: usize = 256;

#[derive(Debug)]
pub struct Mailgun {
    secrets: Vec<Secret>,
    tolerance_secs: u64,
}

impl Mailgun {
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        let secrets = text_secrets(&settings.secrets, "webhook signing key")?;
        Ok(Mailgun {
            secrets,
            tolerance_secs: settings.tolerance_secs,
        })
    }

    /// Signs like Mailgun: `body` is either a whole webhook body (its `signature` replaced) or
    /// a bare `event-data` object (wrapped). Returns the new body; the signature lives in it,
    /// so there are no headers to add. A fresh token per call, as Mailgun does.
    pub fn sign_body(&self, body: &[u8], now: i64) -> Result<Vec<u8>, String> {
        let Some(secret) = self.secrets.first() else {
            return Err("no signing key".to_owned());
        };
        let mut root = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(root)) => root,
            Ok(_) => return Err("the body is not a JSON object".to_owned()),
            Err(err) => return Err(format!("the body is not JSON: {err}")),
        };
        if !root.contains_key("event-data") {
            let mut wrapped = Map::new();
            wrapped.insert("event-data".to_owned(), Value::Object(root));
            root = wrapped;
        }
        let timestamp = now.to_string();
        let token = fresh_token();
        let signature = sign(secret, &timestamp, &token);
        let block =
            serde_json::json!({"timestamp": timestamp, "token": token, "signature": signature});
        root.insert("signature".to_owned(), block);
        serde_json::to_vec(&Value::Object(root)).map_err(|err| err.to_string())
    }
}

/// The hex signature Mailgun computes for `timestamp` and `token`.
pub fn sign(secret: &Secret, timestamp: &str, token: &str) -> String {
    hex::encode(hmac_sha256(
        secret,
        &[timestamp.as_bytes(), token.as_bytes()],
    ))
}

/// 50 lowercase alphanumerics, like Mailgun's. Two ULIDs give 52 characters of which the
/// random parts make each token unique; only `hooktrail send` and tests use these.
fn fresh_token() -> String {
    let mut token =
        format!("{}{}", ulid::Ulid::generate(), ulid::Ulid::generate()).to_ascii_lowercase();
    token.truncate(50);
    token
}

/// The `signature` object of the body, checked for shape.
struct SignatureBlock {
    /// As sent: it is what was signed.
    timestamp_text: String,
    timestamp: i64,
    token: String,
    /// `signature` and, for subaccounts, `parent-signature`, decoded from hex.
    signatures: Vec<Vec<u8>>,
}

impl SignatureBlock {
    // The rejection variants speak of headers; for Mailgun they name the body's fields.
    fn read(body: &[u8]) -> Result<Self, Rejection> {
        #[derive(Deserialize)]
        struct Body {
            signature: Option<Raw>,
        }
        #[derive(Deserialize)]
        struct Raw {
            timestamp: Option<Value>,
            token: Option<String>,
            signature: Option<String>,
            #[serde(rename = "parent-signature")]
            parent_signature: Option<String>,
        }
        let parsed: Body =
            serde_json::from_slice(body).map_err(|_| Rejection::MalformedHeader("signature"))?;
        let raw = parsed
            .signature
            .ok_or(Rejection::MissingHeader("signature"))?;

        let timestamp_text = match raw
            .timestamp
            .ok_or(Rejection::MissingHeader("signature.timestamp"))?
        {
            Value::String(text) => text,
            // Documented as an int, sent as a string; either is read, as its decimal text.
            Value::Number(number) => number.to_string(),
            _ => return Err(Rejection::MalformedHeader("signature.timestamp")),
        };
        let timestamp = timestamp_text
            .parse::<i64>()
            .map_err(|_| Rejection::MalformedHeader("signature.timestamp"))?;

        let token = raw
            .token
            .ok_or(Rejection::MissingHeader("signature.token"))?;
        let token_ok = !token.is_empty()
            && token.len() <= MAX_TOKEN_LEN
            && token.bytes().all(|b| b.is_ascii_graphic());
        if !token_ok {
            return Err(Rejection::MalformedHeader("signature.token"));
        }

        let signature = raw
            .signature
            .ok_or(Rejection::MissingHeader("signature.signature"))?;
        let primary = hex::decode(signature.trim())
            .map_err(|_| Rejection::MalformedHeader("signature.signature"))?;
        if primary.is_empty() {
            return Err(Rejection::MalformedHeader("signature.signature"));
        }
        let mut signatures = vec![primary];
        // A garbled parent signature cannot match; the primary one still decides.
        if let Some(parent) = raw
            .parent_signature
            .and_then(|p| hex::decode(p.trim()).ok())
        {
            signatures.push(parent);
        }
        Ok(SignatureBlock {
            timestamp_text,
            timestamp,
            token,
            signatures,
        })
    }
}

const PROVIDER: &str = "mailgun";
const PROVIDER_NAME: &str = "Mailgun";

/// One Mailgun event → one entry. `event-data.id` is both the entry's event id and the
/// delivery's dedup id.
///
/// `stored` (inbound mail kept for a route) and mailing-list events concern no email this
/// shop sent, so they have no status: they are kept as generic entries
/// (`mailgun.stored`, …) and counted as unknown types, never dropped.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let root: Value = match serde_json::from_slice(delivery.body) {
        Ok(root) => root,
        Err(err) => {
            let reason = format!("not a Mailgun webhook: {err}");
            return Normalized::flagged(None, Outcome::Unparseable { reason });
        }
    };
    let Some(event_data @ Value::Object(data)) = root.get("event-data") else {
        let reason = "not a Mailgun webhook: no event-data object".to_owned();
        return Normalized::flagged(None, Outcome::Unparseable { reason });
    };
    let event_id = text_of(data.get("id"));
    let Some(event) = data
        .get("event")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    else {
        let reason = "event-data has no event name".to_owned();
        return Normalized::flagged(event_id, Outcome::Unparseable { reason });
    };

    let occurred_at = data
        .get("timestamp")
        .and_then(unix_time)
        .unwrap_or(delivery.received_at);
    let recipient = text_of(data.get("recipient"));
    let headers = data.get("message").and_then(|m| m.get("headers"));
    // Mailgun's send API returns the Message-ID as the message's id: one value, both keys.
    let message_id = text_of(headers.and_then(|h| h.get("message-id")));
    let subjects = subjects_from(data.get("user-variables").and_then(|v| v.get(SUBJECT_KEY)));

    let (status, reason) = match event {
        "accepted" => (EmailStatus::Processed, None),
        "rejected" => (EmailStatus::Dropped, rejection_reason(data)),
        "delivered" => (EmailStatus::Delivered, None),
        "failed" => failure(data),
        "opened" => (EmailStatus::Opened, None),
        "clicked" => (EmailStatus::Clicked, None),
        "unsubscribed" => (EmailStatus::Unsubscribed, None),
        "complained" => (EmailStatus::SpamReport, None),
        other => {
            let entry = UnknownEmailEvent {
                provider: PROVIDER,
                provider_name: PROVIDER_NAME,
                event_type: other,
                data: event_data,
                recipient: recipient.as_deref(),
                occurred_at,
                subjects,
                correlation: correlation_keys(
                    PROVIDER,
                    message_id.as_deref(),
                    message_id.as_deref(),
                ),
                event_id: event_id.clone(),
            }
            .into_entry();
            return Normalized {
                delivery_id: event_id,
                entries: vec![entry],
                outcome: Outcome::UnknownType {
                    event_type: other.to_owned(),
                },
            };
        }
    };
    let mut callback = EmailCallback::new(PROVIDER, PROVIDER_NAME, status, event, occurred_at);
    callback.recipient = recipient;
    callback.provider_message_id = message_id.clone();
    callback.message_id = message_id;
    callback.subject = text_of(headers.and_then(|h| h.get("subject")));
    callback.reason = reason;
    callback.url = data
        .get("url")
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

/// `failed`: temporary failures will be retried (deferred); permanent ones bounced, except
/// that Mailgun's `suppress-*` reasons mean it never tried (the address was already
/// suppressed), which is a drop.
fn failure(data: &Map<String, Value>) -> (EmailStatus, Option<String>) {
    let severity = data.get("severity").and_then(Value::as_str);
    let mailgun_reason = data.get("reason").and_then(Value::as_str).unwrap_or("");
    let status = match severity {
        Some("temporary") => EmailStatus::Deferred,
        _ if mailgun_reason.starts_with("suppress-") => EmailStatus::Dropped,
        _ => EmailStatus::Bounced,
    };
    let mut reason = delivery_status_reason(data).or_else(|| text_of(data.get("reason")));
    if status == EmailStatus::Deferred {
        let attempt = data
            .get("delivery-status")
            .and_then(|s| text_of(s.get("attempt-no")));
        if let (Some(text), Some(attempt)) = (reason.as_mut(), attempt) {
            text.push_str(&format!(" (attempt {attempt})"));
        }
    }
    (status, reason)
}

/// "550 5.1.1 mailbox unavailable" from `delivery-status {code, message, description}`.
fn delivery_status_reason(data: &Map<String, Value>) -> Option<String> {
    let status = data.get("delivery-status")?;
    let text = text_of(status.get("message")).or_else(|| text_of(status.get("description")))?;
    Some(match text_of(status.get("code")) {
        Some(code) if !text.starts_with(&code) => format!("{code} {text}"),
        _ => text,
    })
}

fn rejection_reason(data: &Map<String, Value>) -> Option<String> {
    let reject = data.get("reject");
    reject
        .and_then(|r| text_of(r.get("reason")))
        .or_else(|| reject.and_then(|r| text_of(r.get("description"))))
}

/// What every `mailgun` source shares.
const PROFILE: Profile = Profile::new(KIND, CAPTURED_HEADERS, normalize);

/// The `mailgun` kind in the table of kinds.
pub const REGISTRATION: Registration =
    Registration::new(&PROFILE, |table| kind::build(table, Mailgun::from_settings));

impl Kind for Mailgun {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    /// Headers play no part: Mailgun signs inside the body.
    fn verify(&self, _headers: &dyn Headers, body: &[u8], now: i64) -> Result<Verified, Rejection> {
        let signed = SignatureBlock::read(body)?;
        check_window(signed.timestamp, now, self.tolerance_secs)?;
        let content: [&[u8]; 2] = [signed.timestamp_text.as_bytes(), signed.token.as_bytes()];
        let matched = signed.signatures.iter().any(|signature| {
            self.secrets
                .iter()
                .any(|secret| hmac_sha256_matches(secret, &content, signature))
        });
        if !matched {
            return Err(Rejection::BadSignature);
        }
        Ok(Verified {
            signed_at: Some(signed.timestamp),
            replay_key: Some(ReplayKey::Token(format!("mailgun-token:{}", signed.token))),
        })
    }

    fn sign(
        &self,
        body: &[u8],
        now: i64,
        _signing_key: Option<&str>,
    ) -> Result<super::Signed, String> {
        Ok(super::Signed {
            headers: Vec::new(),
            body: self.sign_body(body, now)?,
        })
    }

    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<super::Signed, String> {
        let _ = (body, now, id);
        Err(kind::id_in_body(KIND, "`event-data.id`"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::activity::details::EmailEvent;
    use crate::activity::{Category, Details, Subject};

    // MG-1, published in Mailgun's PHP SDK tests.
    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    const TIMESTAMP: &str = "1403645220";
    const NOW: i64 = 1403645220;
    const TOKEN: &str = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
    const OTHER_TOKEN: &str = "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr";
    const SIGNATURE: &str = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";

    const DELIVERED: &str = include_str!("../../tests/fixtures/mailgun/delivered.json");
    const FAILED: &str = include_str!("../../tests/fixtures/mailgun/failed-permanent.json");
    const EVENTS: &str = include_str!("../../tests/fixtures/mailgun/events.json");

    fn source(keys: &[&str], tolerance_secs: u64) -> Mailgun {
        let secrets = keys.iter().map(|k| k.to_string()).collect();
        Mailgun::from_settings(Settings {
            secrets,
            tolerance_secs,
        })
        .unwrap()
    }

    fn body(timestamp: &str, token: &str, signature: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {"event": "delivered", "id": "x"}
        }))
        .unwrap()
    }

    fn verify(source: &Mailgun, body: &[u8]) -> Result<Verified, Rejection> {
        source.verify(&Vec::new(), body, NOW)
    }

    fn delivery(body: &[u8]) -> RawDelivery<'_> {
        RawDelivery {
            source: "mailgun",
            received_at: DateTime::from_timestamp(1_772_700_000, 0).unwrap(),
            headers: &[],
            body,
        }
    }

    fn email_event(normalized: &Normalized) -> EmailEvent {
        match &normalized.entries[0].details {
            Details::EmailEvent { event } => event.clone(),
            other => panic!("not an email event: {other:?}"),
        }
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        let secret = Secret::new(KEY.as_bytes().to_vec()).unwrap();
        assert_eq!(sign(&secret, TIMESTAMP, TOKEN), SIGNATURE);
        let verified = verify(&source(&[KEY], 300), &body(TIMESTAMP, TOKEN, SIGNATURE));
        assert_eq!(
            verified,
            Ok(Verified {
                signed_at: Some(NOW),
                replay_key: Some(ReplayKey::Token(format!("mailgun-token:{TOKEN}")))
            })
        );
    }

    #[test]
    fn published_negatives_fail() {
        let source = source(&[KEY], 0);
        assert_eq!(
            verify(&source, &body(TIMESTAMP, OTHER_TOKEN, SIGNATURE)),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(&source, &body("", TOKEN, SIGNATURE)),
            Err(Rejection::MalformedHeader("signature.timestamp"))
        );
        assert_eq!(
            verify(&source, &body(TIMESTAMP, "", SIGNATURE)),
            Err(Rejection::MalformedHeader("signature.token"))
        );
        assert_eq!(
            verify(&source, &body(TIMESTAMP, TOKEN, "")),
            Err(Rejection::MalformedHeader("signature.signature"))
        );
    }

    #[test]
    fn tampered_or_wrongly_keyed_signatures_fail() {
        let mut flipped = SIGNATURE.to_owned();
        flipped.replace_range(63.., "4");
        assert_eq!(
            verify(&source(&[KEY], 0), &body(TIMESTAMP, TOKEN, &flipped)),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(&source(&[KEY], 0), &body("1403645221", TOKEN, SIGNATURE)),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(
                &source(&[KEY], 0),
                &body(TIMESTAMP, TOKEN, &SIGNATURE[..32])
            ),
            Err(Rejection::BadSignature)
        );
        let wrong = "key-3ax6xnjp29jd6fds4gc373sgvjxteol1";
        assert_eq!(
            verify(&source(&[wrong], 0), &body(TIMESTAMP, TOKEN, SIGNATURE)),
            Err(Rejection::BadSignature)
        );
        // Rotation: the right key anywhere in the list is enough.
        assert!(
            verify(
                &source(&[wrong, KEY], 0),
                &body(TIMESTAMP, TOKEN, SIGNATURE)
            )
            .is_ok()
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let source = source(&[KEY], 0);
        let cases: [(&[u8], Rejection); 7] = [
            (b"not json", Rejection::MalformedHeader("signature")),
            (b"[1,2]", Rejection::MalformedHeader("signature")),
            (
                br#"{"event-data":{}}"#,
                Rejection::MissingHeader("signature"),
            ),
            (
                br#"{"signature":{"token":"t","signature":"ab"}}"#,
                Rejection::MissingHeader("signature.timestamp"),
            ),
            (
                br#"{"signature":{"timestamp":"1","signature":"ab"}}"#,
                Rejection::MissingHeader("signature.token"),
            ),
            (
                br#"{"signature":{"timestamp":"1","token":"t"}}"#,
                Rejection::MissingHeader("signature.signature"),
            ),
            (
                br#"{"signature":{"timestamp":"1","token":"t","signature":"zz"}}"#,
                Rejection::MalformedHeader("signature.signature"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                verify(&source, body),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let spaced = body(TIMESTAMP, "a token", SIGNATURE);
        assert_eq!(
            verify(&source, &spaced),
            Err(Rejection::MalformedHeader("signature.token"))
        );
        let long = body(TIMESTAMP, &"t".repeat(MAX_TOKEN_LEN + 1), SIGNATURE);
        assert_eq!(
            verify(&source, &long),
            Err(Rejection::MalformedHeader("signature.token"))
        );
    }

    #[test]
    fn a_numeric_timestamp_is_read_as_its_text() {
        let body = serde_json::to_vec(&serde_json::json!({
            "signature": {"timestamp": 1403645220, "token": TOKEN, "signature": SIGNATURE}
        }))
        .unwrap();
        assert!(verify(&source(&[KEY], 300), &body).is_ok());
    }

    #[test]
    fn the_window_is_generous_by_default_and_applies_both_ways() {
        let settings: Settings =
            serde_json::from_str(&format!(r#"{{"secrets":["{KEY}"]}}"#)).unwrap();
        assert_eq!(settings.tolerance_secs, 8 * 60 * 60);
        let source = Mailgun::from_settings(settings).unwrap();
        let body = body(TIMESTAMP, TOKEN, SIGNATURE);
        assert!(source.verify(&Vec::new(), &body, NOW + 8 * 3600).is_ok());
        assert_eq!(
            source.verify(&Vec::new(), &body, NOW + 8 * 3600 + 1),
            Err(Rejection::StaleTimestamp {
                tolerance_secs: 28_800
            })
        );
        assert_eq!(
            source.verify(&Vec::new(), &body, NOW - 8 * 3600 - 1),
            Err(Rejection::FutureTimestamp {
                tolerance_secs: 28_800
            })
        );
    }

    #[test]
    fn subaccount_parent_signatures_verify_with_the_primary_key() {
        let body = serde_json::to_vec(&serde_json::json!({
            "signature": {"timestamp": TIMESTAMP, "token": TOKEN, "signature": "00".repeat(32), "parent-signature": SIGNATURE}
        }))
        .unwrap();
        assert!(verify(&source(&[KEY], 300), &body).is_ok());
    }

    #[test]
    fn settings_errors_name_the_key() {
        let empty = Mailgun::from_settings(Settings {
            secrets: vec![],
            tolerance_secs: 300,
        })
        .unwrap_err();
        assert!(empty.starts_with("secrets:"), "{empty}");
        let blank = Mailgun::from_settings(Settings {
            secrets: vec![KEY.into(), String::new()],
            tolerance_secs: 300,
        })
        .unwrap_err();
        assert!(blank.starts_with("secrets[1]:"), "{blank}");
        assert!(serde_json::from_str::<Settings>(r#"{"secrets":["k"],"header":"x"}"#).is_err());
    }

    #[test]
    fn signing_wraps_event_data_and_round_trips() {
        let source = source(&[KEY], 300);
        let bare = br#"{"event":"delivered","id":"e1","recipient":"ann@acme.test"}"#;
        let signed = source.sign_body(bare, NOW).unwrap();
        let verified = source.verify(&Vec::new(), &signed, NOW).unwrap();
        let Some(ReplayKey::Token(token)) = verified.replay_key else {
            panic!("no token: {verified:?}");
        };
        assert_eq!(token.len(), "mailgun-token:".len() + 50);
        let parsed: Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(parsed["event-data"]["id"], "e1");

        // A whole body gets a fresh signature (and token) in place of the old one.
        let resigned = source.sign_body(DELIVERED.as_bytes(), NOW + 60).unwrap();
        let again = source.verify(&Vec::new(), &resigned, NOW + 60).unwrap();
        assert_ne!(
            again.replay_key,
            Some(ReplayKey::Token(format!("mailgun-token:{TOKEN}")))
        );
        assert!(source.sign_body(b"[]", NOW).is_err());
    }

    #[test]
    fn the_delivered_fixture_verifies_and_normalizes() {
        let body = DELIVERED.as_bytes();
        assert!(verify(&source(&[KEY], 300), body).is_ok());
        let normalized = normalize(&delivery(body));
        assert_eq!(normalized.outcome, Outcome::Normalized);
        assert_eq!(
            normalized.delivery_id.as_deref(),
            Some("CPgfbmQMTCKtHW6uIWtuVe")
        );
        let entry = &normalized.entries[0];
        assert_eq!(entry.kind.as_str(), "email.delivered");
        assert_eq!(entry.category, Category::Communication);
        assert_eq!(entry.event_id.as_deref(), Some("CPgfbmQMTCKtHW6uIWtuVe"));
        assert_eq!(entry.subjects, vec!["job:1042".parse::<Subject>().unwrap()]);
        assert_eq!(
            entry.correlation,
            [
                "email:mailgun:20260304151617.1.ABCDEF@mg.shop.example.com",
                "message-id:20260304151617.1.ABCDEF@mg.shop.example.com"
            ]
        );
        assert_eq!(entry.occurred_at.timestamp_micros(), 1_403_645_219_908_181);
        assert_eq!(
            entry.summary,
            "Email “Proof ready for job 1042” to ann@acme.test delivered"
        );
        let event = email_event(&normalized);
        assert_eq!(event.provider, "mailgun");
        assert_eq!(event.provider_event, "delivered");
        assert_eq!(event.subject.as_deref(), Some("Proof ready for job 1042"));
    }

    #[test]
    fn the_failed_fixture_verifies_and_is_a_bounce() {
        let body = FAILED.as_bytes();
        let verified = source(&[KEY], 300)
            .verify(&Vec::new(), body, 1_772_636_500)
            .unwrap();
        assert_eq!(verified.signed_at, Some(1_772_636_500));
        let normalized = normalize(&delivery(body));
        let entry = &normalized.entries[0];
        assert_eq!(entry.kind.as_str(), "email.bounced");
        assert_eq!(
            entry.summary,
            "Email “Proof ready for job 1042” to gone@acme.test bounced: 550 5.1.1 mailbox unavailable"
        );
        assert_eq!(
            email_event(&normalized).reason.as_deref(),
            Some("550 5.1.1 mailbox unavailable")
        );
        // event-data is not signed: the stored fixture with another event id still verifies,
        // which is why the token (not the body) is what the store must never accept twice.
        let edited = FAILED.replace("G9Bn5sl1TC6nu79C8C0bwg", "forged");
        assert!(
            source(&[KEY], 0)
                .verify(&Vec::new(), edited.as_bytes(), 0)
                .is_ok()
        );
    }

    #[test]
    fn every_event_type_maps() {
        let events: Vec<Value> = serde_json::from_str(EVENTS).unwrap();
        let mut results = Vec::new();
        for event in &events {
            let body = serde_json::to_vec(&serde_json::json!({"event-data": event})).unwrap();
            let normalized = normalize(&delivery(&body));
            assert_eq!(normalized.entries.len(), 1);
            assert_eq!(normalized.delivery_id, normalized.entries[0].event_id);
            results.push((normalized.entries[0].clone(), normalized.outcome.clone()));
        }
        let kinds: Vec<&str> = results.iter().map(|(e, _)| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "email.processed",
                "email.dropped",
                "email.deferred",
                "email.dropped",
                "email.opened",
                "email.clicked",
                "email.unsubscribed",
                "email.spam_report",
                "mailgun.stored",
                "mailgun.list_member_uploaded",
            ]
        );
        assert_eq!(
            results[0].0.summary,
            "Email “Quote Q-7” to ann@acme.test accepted by Mailgun"
        );
        assert_eq!(
            results[0].0.subjects,
            vec!["salesdoc:Q-7".parse::<Subject>().unwrap()]
        );
        assert_eq!(
            results[1].0.summary,
            "Email dropped: Sandbox subdomains are for test purposes only"
        );
        assert_eq!(
            results[2].0.summary,
            "Email to bob@slow.test deferred: 452 4.2.2 mailbox full (attempt 2)"
        );
        assert_eq!(
            results[3].0.summary,
            "Email to old@acme.test dropped: 605 Not delivering to previously bounced address"
        );
        assert_eq!(
            results[5].0.summary,
            "Link clicked in email to ann@acme.test: https://shop.example.com/quotes/Q-7"
        );
        for (entry, outcome) in &results[..8] {
            assert_eq!(*outcome, Outcome::Normalized);
            assert_eq!(entry.category, Category::Communication);
        }
        assert_eq!(
            results[8].1,
            Outcome::UnknownType {
                event_type: "stored".to_owned()
            }
        );
        assert_eq!(
            results[8].0.correlation,
            ["email:mailgun:in1@acme.test", "message-id:in1@acme.test"]
        );
        assert!(results[9].0.correlation.is_empty());
        assert_eq!(results[9].0.event_id.as_deref(), Some("a10"));
    }

    #[test]
    fn unreadable_bodies_are_flagged_not_dropped() {
        for (body, delivery_id) in [
            (&b"not json"[..], None),
            (br#"{"signature":{}}"#, None),
            (br#"{"event-data":"x"}"#, None),
            (br#"{"event-data":{"id":"e1"}}"#, Some("e1")),
        ] {
            let normalized = normalize(&delivery(body));
            assert!(matches!(normalized.outcome, Outcome::Unparseable { .. }));
            assert!(normalized.entries.is_empty());
            assert_eq!(normalized.delivery_id.as_deref(), delivery_id);
        }
    }
}
