//! Standard Webhooks (and Svix, which Resend uses): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` headers (or their `svix-` spellings); HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`; `v1,<base64>` signatures, space-separated; `whsec_<base64>` keys.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::DateTime;
use serde::Deserialize;

use super::kind::{self, Kind, Profile, Registration};
use super::signing::{Secret, hmac_sha256, hmac_sha256_matches};
use super::{DEFAULT_TOLERANCE_SECS, Headers, RawDelivery, Rejection, Verified, check_window};
use crate::activity::Normalized;
use crate::activity::catalog::{self, CatalogContext};

pub const KIND: &str = "standard-webhooks";

pub const CAPTURED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "content-type",
    "user-agent",
];

/// The longest `webhook-id` accepted; real ids are short (`msg_…`).
const MAX_ID_LEN: usize = 256;

/// The `[[sources]]` settings of a `standard-webhooks` source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub secrets: Vec<String>,
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

pub struct StandardWebhooks {
    secrets: Vec<Secret>,
    tolerance_secs: u64,
}

impl StandardWebhooks {
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        if settings.secrets.is_empty() {
            return Err("secrets: at least one whsec_ secret is required".to_owned());
        }
        let secrets = settings
            .secrets
            .iter()
            .enumerate()
            .map(|(i, text)| decode_secret(text).map_err(|why| format!("secrets[{i}]: {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StandardWebhooks {
            secrets,
            tolerance_secs: settings.tolerance_secs,
        })
    }
}

impl StandardWebhooks {
    /// Signs as a Standard Webhooks sender: a fresh `msg_` id, the time, every secret's signature.
    pub fn sign_request(&self, body: &[u8], now: i64) -> Vec<(String, String)> {
        self.sign_request_with_id(body, now, &format!("msg_{}", ulid::Ulid::generate()))
    }

    /// Signs as a sender retrying delivery `id` would (the id is signed, so it cannot simply be
    /// swapped afterwards): how `hooktrail send --id` makes a duplicate.
    pub fn sign_request_with_id(&self, body: &[u8], now: i64, id: &str) -> Vec<(String, String)> {
        let signatures: Vec<String> = self
            .secrets
            .iter()
            .map(|secret| sign(secret, id, now, body))
            .collect();
        vec![
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), now.to_string()),
            ("webhook-signature".to_owned(), signatures.join(" ")),
        ]
    }
}

/// The three signing headers, found under either spelling.
struct SignedHeaders<'a> {
    id: &'a str,
    timestamp: i64,
    /// The decoded `v1` signatures; other versions (`v1a`, future ones) are skipped.
    signatures: Vec<Vec<u8>>,
}

impl<'a> SignedHeaders<'a> {
    fn read(headers: &'a dyn Headers) -> Result<Self, Rejection> {
        let svix = headers.header("webhook-id").is_none() && headers.header("svix-id").is_some();
        let [id_name, timestamp_name, signature_name] = if svix {
            ["svix-id", "svix-timestamp", "svix-signature"]
        } else {
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        };
        let id = headers
            .header(id_name)
            .ok_or(Rejection::MissingHeader(id_name))?
            .trim();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(Rejection::MalformedHeader(id_name));
        }
        let timestamp = headers
            .header(timestamp_name)
            .ok_or(Rejection::MissingHeader(timestamp_name))?
            .trim()
            .parse::<i64>()
            .map_err(|_| Rejection::MalformedHeader(timestamp_name))?;
        let signature_header = headers
            .header(signature_name)
            .ok_or(Rejection::MissingHeader(signature_name))?;
        let signatures: Vec<Vec<u8>> = signature_header
            .split_whitespace()
            .filter_map(|versioned| versioned.split_once(','))
            .filter(|(version, _)| *version == "v1")
            // Undecodable base64 can never match; it stays in the list as an empty signature.
            .map(|(_, encoded)| STANDARD.decode(encoded).unwrap_or_default())
            .collect();
        if signatures.is_empty() {
            return Err(Rejection::MalformedHeader(signature_name));
        }
        Ok(SignedHeaders {
            id,
            timestamp,
            signatures,
        })
    }
}

/// `whsec_<base64>` (the prefix is optional, padding too) → key bytes; never empty.
pub fn decode_secret(text: &str) -> Result<Secret, String> {
    let encoded = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
    let bytes = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| "not a whsec_ secret (base64 after the prefix)".to_owned())?;
    Secret::new(bytes).ok_or_else(|| "the secret is empty".to_owned())
}

/// The `webhook-signature` value a sender would put on this delivery.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        secret,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// Catalog events (and, through the same endpoint, Resend's email events) → entries.
pub fn normalize(delivery: &RawDelivery<'_>) -> Normalized {
    let headers = delivery.headers;
    let event_id = headers
        .header("webhook-id")
        .or_else(|| headers.header("svix-id"));
    let signed_at = headers
        .header("webhook-timestamp")
        .or_else(|| headers.header("svix-timestamp"))
        .and_then(|ts| ts.trim().parse::<i64>().ok())
        .and_then(|ts| DateTime::from_timestamp(ts, 0));
    let fallback_time = signed_at.unwrap_or(delivery.received_at);
    let ctx = CatalogContext {
        source: delivery.source,
        event_id,
        fallback_time,
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(delivery.body) else {
        return catalog::normalize(delivery.body, &ctx);
    };
    // Resend's email events arrive through the same scheme; everything else is the catalog.
    super::resend::normalize_envelope(&body, event_id, fallback_time)
        .unwrap_or_else(|| catalog::normalize_value(body, &ctx))
}

/// What every `standard-webhooks` source shares.
const PROFILE: Profile = Profile::new(KIND, CAPTURED_HEADERS, normalize);

/// The `standard-webhooks` kind in the table of kinds.
pub const REGISTRATION: Registration = Registration::new(&PROFILE, |table| {
    kind::build(table, StandardWebhooks::from_settings)
});

impl Kind for StandardWebhooks {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn verify(&self, headers: &dyn Headers, body: &[u8], now: i64) -> Result<Verified, Rejection> {
        let signed = SignedHeaders::read(headers)?;
        check_window(signed.timestamp, now, self.tolerance_secs)?;
        let timestamp = signed.timestamp.to_string();
        let content: [&[u8]; 5] = [signed.id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        // Every (secret, signature) pair is tried, so rotation works from either side.
        let matched = signed.signatures.iter().any(|signature| {
            self.secrets
                .iter()
                .any(|secret| hmac_sha256_matches(secret, &content, signature))
        });
        if matched {
            Ok(Verified {
                signed_at: Some(signed.timestamp),
                replay_key: None,
            })
        } else {
            Err(Rejection::BadSignature)
        }
    }

    fn signing_headers(&self, body: &[u8], now: i64) -> Option<Vec<(String, String)>> {
        Some(self.sign_request(body, now))
    }

    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<super::Signed, String> {
        Ok(kind::with_headers(
            self.sign_request_with_id(body, now, id),
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SW-1, published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn source(secrets: &[&str], tolerance_secs: u64) -> StandardWebhooks {
        let secrets = secrets.iter().map(|s| s.to_string()).collect();
        StandardWebhooks::from_settings(Settings {
            secrets,
            tolerance_secs,
        })
        .unwrap()
    }

    fn headers(prefix: &str, id: &str, timestamp: &str, signature: &str) -> Vec<(String, String)> {
        vec![
            (format!("{prefix}-id"), id.to_owned()),
            (format!("{prefix}-timestamp"), timestamp.to_owned()),
            (format!("{prefix}-signature"), signature.to_owned()),
        ]
    }

    fn verify(
        source: &StandardWebhooks,
        #[allow(clippy::ptr_arg)] headers: &Vec<(String, String)>,
        body: &[u8],
    ) -> Result<Verified, Rejection> {
        source.verify(headers, body, TIMESTAMP)
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        let secret = decode_secret(SECRET).unwrap();
        assert_eq!(secret.expose().len(), 24);
        assert_eq!(sign(&secret, ID, TIMESTAMP, BODY), SIGNATURE);
        let verified = verify(
            &source(&[SECRET], 300),
            &headers("webhook", ID, "1614265330", SIGNATURE),
            BODY,
        );
        assert_eq!(
            verified,
            Ok(Verified {
                signed_at: Some(TIMESTAMP),
                replay_key: None
            })
        );
    }

    #[test]
    fn svix_spelling_verifies_too() {
        let result = verify(
            &source(&[SECRET], 300),
            &headers("svix", ID, "1614265330", SIGNATURE),
            BODY,
        );
        assert!(result.is_ok());
    }

    #[test]
    fn secret_without_prefix_or_padding_is_accepted() {
        let bare = SECRET.trim_start_matches("whsec_");
        assert_eq!(decode_secret(bare).unwrap(), decode_secret(SECRET).unwrap());
        let unpadded = "whsec_dGVzdA"; // "test" without its == padding
        assert_eq!(decode_secret(unpadded).unwrap().expose(), b"test");
    }

    #[test]
    fn empty_or_garbage_secrets_are_refused() {
        assert!(decode_secret("whsec_").is_err());
        assert!(decode_secret("whsec_!!!").is_err());
        assert!(
            StandardWebhooks::from_settings(Settings {
                secrets: vec![],
                tolerance_secs: 300
            })
            .is_err()
        );
    }

    #[test]
    fn any_of_several_signatures_matches() {
        let header = format!("v1,Zm9vYmFy {SIGNATURE} v2,whatever");
        assert!(
            verify(
                &source(&[SECRET], 300),
                &headers("webhook", ID, "1614265330", &header),
                BODY
            )
            .is_ok()
        );
    }

    #[test]
    fn any_of_several_secrets_matches() {
        let other = "whsec_c2VjcmV0LW9uZS10aGF0LWlzLWxvbmc=";
        let result = verify(
            &source(&[other, SECRET], 300),
            &headers("webhook", ID, "1614265330", SIGNATURE),
            BODY,
        );
        assert!(result.is_ok());
    }

    #[test]
    fn tampering_with_anything_signed_fails() {
        let source = source(&[SECRET], 0);
        let cases = [
            (
                headers("webhook", ID, "1614265330", SIGNATURE),
                &br#"{"test": 2432232315}"#[..],
            ),
            (
                headers("webhook", "msg_other", "1614265330", SIGNATURE),
                BODY,
            ),
            (headers("webhook", ID, "1614265331", SIGNATURE), BODY),
            (
                headers(
                    "webhook",
                    ID,
                    "1614265330",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
                ),
                BODY,
            ),
            (headers("webhook", ID, "1614265330", "v1,not base64!"), BODY),
        ];
        for (headers, body) in cases {
            assert_eq!(
                verify(&source, &headers, body),
                Err(Rejection::BadSignature)
            );
        }
    }

    #[test]
    fn wrong_key_fails() {
        let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx";
        let result = verify(
            &source(&[wrong], 300),
            &headers("webhook", ID, "1614265330", SIGNATURE),
            BODY,
        );
        assert_eq!(result, Err(Rejection::BadSignature));
    }

    #[test]
    fn partial_or_unversioned_signatures_fail() {
        let source = source(&[SECRET], 300);
        let truncated = &SIGNATURE[..SIGNATURE.len() - 8];
        let unversioned = SIGNATURE.trim_start_matches("v1,");
        let wrong_version = SIGNATURE.replace("v1,", "v2,");
        for signature in [truncated, unversioned, wrong_version.as_str(), "", "v1,"] {
            let result = verify(
                &source,
                &headers("webhook", ID, "1614265330", signature),
                BODY,
            );
            assert!(result.is_err(), "{signature:?} verified");
        }
    }

    #[test]
    fn missing_headers_fail() {
        let source = source(&[SECRET], 300);
        let full = headers("webhook", ID, "1614265330", SIGNATURE);
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let partial: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
            assert_eq!(
                verify(&source, &partial, BODY),
                Err(Rejection::MissingHeader(missing))
            );
        }
        let garbled = headers("webhook", ID, "soon", SIGNATURE);
        assert_eq!(
            verify(&source, &garbled, BODY),
            Err(Rejection::MalformedHeader("webhook-timestamp"))
        );
    }

    #[test]
    fn timestamps_outside_the_window_fail_both_ways() {
        let source = source(&[SECRET], 300);
        let headers = headers("webhook", ID, "1614265330", SIGNATURE);
        assert!(source.verify(&headers, BODY, TIMESTAMP + 300).is_ok());
        assert!(source.verify(&headers, BODY, TIMESTAMP - 300).is_ok());
        assert_eq!(
            source.verify(&headers, BODY, TIMESTAMP + 301),
            Err(Rejection::StaleTimestamp {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            source.verify(&headers, BODY, TIMESTAMP - 301),
            Err(Rejection::FutureTimestamp {
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn zero_tolerance_turns_the_window_off() {
        let headers = headers("webhook", ID, "1614265330", SIGNATURE);
        assert!(
            source(&[SECRET], 0)
                .verify(&headers, BODY, TIMESTAMP + 10_000_000)
                .is_ok()
        );
    }
}
