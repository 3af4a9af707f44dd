//! What several providers' schemes share: keys given as text, and the body-HMAC header scheme
//! of QuickBooks and Xero. (Secrets and HMAC themselves are [`crate::crypto`]'s.)

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

pub use crate::crypto::{Secret, hmac_sha256, hmac_sha256_matches};

use serde::Deserialize;

use super::kind::{Kind, Profile};
use super::{Headers, Rejection, Signed, Verified};

/// Keys given as text and used as their UTF-8 bytes (QuickBooks, Xero, Stripe, Mailgun, …):
/// trimmed (whitespace from copying a key is never part of it), never empty. Errors name the
/// entry (`secrets[1]: the webhook key is empty`).
pub fn text_secrets(secrets: &[String], what: &str) -> Result<Vec<Secret>, String> {
    if secrets.is_empty() {
        return Err(format!("secrets: at least one {what} is required"));
    }
    secrets
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Secret::new(text.trim().as_bytes().to_vec())
                .ok_or_else(|| format!("secrets[{i}]: the {what} is empty"))
        })
        .collect()
}

/// The scheme QuickBooks and Xero share: one header holding the standard base64 of
/// HMAC-SHA256 over the raw body, keyed with a text key; no signed time, so no window.
pub struct BodySignature {
    scheme: BodyScheme,
    keys: Vec<Secret>,
}

/// What sets one body-signature kind apart from the other.
#[derive(Clone, Copy)]
pub struct BodyScheme {
    pub profile: &'static Profile,
    pub header: &'static str,
    /// Whether every answer must have an empty body (Xero).
    pub empty_responses: bool,
}

/// The `[[sources]]` settings of a body-signature kind: its keys, and nothing else. No
/// `tolerance_secs`: nothing signed carries a time, so the key would promise a check that
/// cannot happen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysOnly {
    /// Several while one is being replaced; the first is the one `sign_request` uses.
    pub secrets: Vec<String>,
}

impl BodySignature {
    /// The scheme on `header`, with the source's keys (`what` names them in errors:
    /// "verifier token", "webhook key").
    pub fn from_settings(
        scheme: BodyScheme,
        settings: KeysOnly,
        what: &str,
    ) -> Result<BodySignature, String> {
        Ok(BodySignature {
            scheme,
            keys: text_secrets(&settings.secrets, what)?,
        })
    }

    /// The header the provider would send, made with the current (first) key.
    pub fn sign_request(&self, body: &[u8], _now: i64) -> Vec<(String, String)> {
        self.keys
            .first()
            .map(|key| vec![(self.scheme.header.to_owned(), sign_body(key, body))])
            .unwrap_or_default()
    }
}

/// The header value for `body` under `key`.
pub fn sign_body(key: &Secret, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(key, &[body]))
}

impl Kind for BodySignature {
    fn profile(&self) -> &'static Profile {
        self.scheme.profile
    }

    /// Checks the header against every configured key (rotation), comparing decoded bytes in
    /// constant time, so padding and encoding quirks do not matter. `now` is unused: the
    /// scheme signs no time.
    fn verify(&self, headers: &dyn Headers, body: &[u8], _now: i64) -> Result<Verified, Rejection> {
        let value = headers
            .header(self.scheme.header)
            .ok_or(Rejection::MissingHeader(self.scheme.header))?
            .trim();
        if value.is_empty() {
            return Err(Rejection::MalformedHeader(self.scheme.header));
        }
        // Text that is not base64 can never match: it is compared as nothing.
        let signature = STANDARD
            .decode(value)
            .or_else(|_| STANDARD_NO_PAD.decode(value))
            .unwrap_or_default();
        if self
            .keys
            .iter()
            .any(|key| hmac_sha256_matches(key, &[body], &signature))
        {
            Ok(Verified::default())
        } else {
            Err(Rejection::BadSignature)
        }
    }

    fn signing_headers(&self, body: &[u8], now: i64) -> Option<Vec<(String, String)>> {
        Some(self.sign_request(body, now))
    }

    fn sign_with_id(&self, _body: &[u8], _now: i64, _id: &str) -> Result<Signed, String> {
        Err(format!(
            "a {} delivery has no id: each change in it is deduplicated on what it says \
             (entity, operation, time), so send the same file again to send a duplicate",
            self.scheme.profile.name
        ))
    }

    fn wants_empty_responses(&self) -> bool {
        self.scheme.empty_responses
    }
}
