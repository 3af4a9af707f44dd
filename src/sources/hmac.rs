//! A configurable HMAC verifier for senders with no scheme of their own: Zapier and Make
//! steps, in-house tools, and GitHub- or Shopify-style signatures. The settings say which
//! header carries the signature, the hash (SHA-1, SHA-256, SHA-512), the encoding (hex or
//! base64), a prefix to strip (`sha256=`), and what was signed: a template over the raw body,
//! an optional timestamp header and an optional delivery id header. Bodies are the event
//! catalog, as from the business app.
//!
//! Replays: the id header is the delivery's dedup id, but unless `signed_content` includes
//! `{id}` anyone can change it, so a captured delivery re-sent under a new id (or none) would
//! pass for a new one. Where the id is not signed, verification therefore hands the store the
//! hash of the signed content as a [`ReplayKey::SignedContent`]: the same signed content again
//! is a duplicate, whatever the id header says, across restarts. With `{id}` signed, the id
//! cannot change without breaking the signature, and dedup on it is enough. A source that
//! signs neither `{id}` nor a checked `{timestamp}` is named in a warning at startup: its
//! captured deliveries never expire.

use ::hmac::{Hmac, KeyInit, Mac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::kind::{self, Kind, Profile, Registration};
use super::signing::{Secret, text_secrets};
use super::{
    DEFAULT_TOLERANCE_SECS, Headers, RawDelivery, Rejection, ReplayKey, Verified, check_window,
};
use crate::activity::Normalized;
use crate::activity::catalog::{self, CatalogContext};

pub const KIND: &str = "hmac";

/// Kept whatever the settings; [`HmacSource::captured_headers`] adds the configured ones.
pub const CAPTURED_HEADERS: &[&str] = &["content-type", "user-agent"];

/// The `[[sources]]` settings of an `hmac` source.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Keys, used as their raw UTF-8 bytes; several allowed for rotation.
    pub secrets: Vec<String>,
    /// The header carrying the signature, e.g. `X-Hub-Signature-256`.
    pub header: String,
    #[serde(default)]
    pub algorithm: Algorithm,
    #[serde(default)]
    pub encoding: Encoding,
    /// Stripped from the header value before decoding, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// What was signed: `{body}`, `{timestamp}.{body}`, `{id}.{timestamp}.{body}`, or any
    /// text around those placeholders.
    #[serde(default = "default_signed_content")]
    pub signed_content: String,
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// The sender's delivery id (the dedup key), e.g. `X-GitHub-Delivery`. Unless
    /// `signed_content` includes `{id}`, it is not authenticated: deliveries are then also
    /// deduplicated on the hash of what was signed.
    #[serde(default)]
    pub id_header: Option<String>,
    /// Only meaningful when `signed_content` signs `{timestamp}`; default 300, 0 turns it off.
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
}

fn default_signed_content() -> String {
    "{body}".to_owned()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

/// One piece of the signed-content template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body,
    Timestamp,
    Id,
}

#[derive(Debug)]
pub struct HmacSource {
    secrets: Vec<Secret>,
    header: String,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: Option<String>,
    template: Vec<Part>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
    tolerance_secs: u64,
}

impl HmacSource {
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        let secrets = text_secrets(&settings.secrets, "secret")?;
        let header = header_name("header", &settings.header)?;
        let timestamp_header = settings
            .timestamp_header
            .as_deref()
            .map(|h| header_name("timestamp_header", h))
            .transpose()?;
        let id_header = settings
            .id_header
            .as_deref()
            .map(|h| header_name("id_header", h))
            .transpose()?;

        let template = parse_template(&settings.signed_content)
            .map_err(|why| format!("signed_content: {why}"))?;
        let signs_timestamp = template.contains(&Part::Timestamp);
        if signs_timestamp && timestamp_header.is_none() {
            return Err(
                "signed_content: uses {timestamp}, so timestamp_header must be set".to_owned(),
            );
        }
        if template.contains(&Part::Id) && id_header.is_none() {
            return Err("signed_content: uses {id}, so id_header must be set".to_owned());
        }
        // A window over a timestamp nobody signed would stop no replay, only late retries.
        if settings.tolerance_secs.is_some() && !signs_timestamp {
            return Err(
                "tolerance_secs: applies only when signed_content includes {timestamp}".to_owned(),
            );
        }
        let prefix = settings.prefix.filter(|p| !p.is_empty());
        Ok(HmacSource {
            secrets,
            header,
            algorithm: settings.algorithm,
            encoding: settings.encoding,
            prefix,
            template,
            timestamp_header,
            id_header,
            tolerance_secs: settings.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS),
        })
    }

    // The rejections name the configured headers by role; the settings say which header that is.

    fn signs_id(&self) -> bool {
        self.template.contains(&Part::Id)
    }

    /// The headers a sender configured like this would put on `body` at time `now`: the
    /// signature under the first secret, the timestamp and a fresh id where configured.
    pub fn sign_request(&self, body: &[u8], now: i64) -> Vec<(String, String)> {
        self.sign_request_with_id(body, now, &ulid::Ulid::generate().to_string())
    }

    /// As [`HmacSource::sign_request`], with delivery id `id` (used only where an `id_header`
    /// is configured): how `hooktrail send --id` makes a duplicate.
    pub fn sign_request_with_id(&self, body: &[u8], now: i64, id: &str) -> Vec<(String, String)> {
        let timestamp = now.to_string();
        let mut headers = Vec::new();
        if let Some(secret) = self.secrets.first() {
            let mac = self
                .algorithm
                .sign(secret.expose(), &self.content(body, &timestamp, id));
            let prefix = self.prefix.as_deref().unwrap_or("");
            headers.push((
                self.header.clone(),
                format!("{prefix}{}", self.encoding.encode(&mac)),
            ));
        }
        if let Some(name) = &self.timestamp_header {
            headers.push((name.clone(), timestamp));
        }
        if let Some(name) = &self.id_header {
            headers.push((name.clone(), id.to_owned()));
        }
        headers
    }

    /// The header that carries the sender's delivery id (its dedup key), where configured.
    pub fn id_header(&self) -> Option<&str> {
        self.id_header.as_deref()
    }

    /// The template filled in, as the byte slices the MAC runs over (the body is not copied).
    fn content<'a>(&'a self, body: &'a [u8], timestamp: &'a str, id: &'a str) -> Vec<&'a [u8]> {
        self.template
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.as_bytes(),
                Part::Body => body,
                Part::Timestamp => timestamp.as_bytes(),
                Part::Id => id.as_bytes(),
            })
            .collect()
    }
}

/// A header name as HTTP allows it (letters, digits, `-`, `_`), stored as configured.
fn header_name(key: &str, name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{key}: must not be empty"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{key}: {name:?} is not a header name"));
    }
    Ok(name.to_owned())
}

/// `{body}` exactly once (a signature that does not cover the body authenticates nothing),
/// `{timestamp}` and `{id}` as needed, literal text anywhere.
fn parse_template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a '{' is never closed".to_owned())?;
        let part = match &after[..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            other => {
                return Err(format!(
                    "unknown placeholder {{{other}}} (known: {{body}}, {{timestamp}}, {{id}})"
                ));
            }
        };
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(part);
        rest = &after[close + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    match parts.iter().filter(|p| **p == Part::Body).count() {
        1 => Ok(parts),
        0 => Err("must include {body}".to_owned()),
        _ => Err("must include {body} only once".to_owned()),
    }
}

impl Algorithm {
    /// Constant-time comparison of the decoded signature (`Mac::verify_slice`).
    fn matches(self, key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
        match self {
            Algorithm::Sha1 => matches::<Hmac<Sha1>>(key, parts, expected),
            Algorithm::Sha256 => matches::<Hmac<Sha256>>(key, parts, expected),
            Algorithm::Sha512 => matches::<Hmac<Sha512>>(key, parts, expected),
        }
    }

    fn sign(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Algorithm::Sha1 => sign::<Hmac<Sha1>>(key, parts),
            Algorithm::Sha256 => sign::<Hmac<Sha256>>(key, parts),
            Algorithm::Sha512 => sign::<Hmac<Sha512>>(key, parts),
        }
    }
}

/// HMAC takes keys of any length, so keying only fails in theory; then nothing matches.
fn keyed<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<M> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

fn matches<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    keyed::<M>(key, parts).is_some_and(|mac| mac.verify_slice(expected).is_ok())
}

fn sign<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    keyed::<M>(key, parts)
        .map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

impl Encoding {
    /// Hex in either case; base64 with or without padding. Decoded bytes are what is compared,
    /// so case and padding never decide a match.
    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => STANDARD
                .decode(text)
                .or_else(|_| STANDARD_NO_PAD.decode(text))
                .ok(),
        }
    }

    fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
        }
    }
}

/// The event catalog with `event_id` as the delivery's dedup id and `sent_at`, else the
/// receive time, for events without a `timestamp`.
fn normalize_catalog(
    delivery: &RawDelivery<'_>,
    event_id: Option<&str>,
    sent_at: Option<DateTime<Utc>>,
) -> Normalized {
    let ctx = CatalogContext {
        source: delivery.source,
        event_id,
        fallback_time: sent_at.unwrap_or(delivery.received_at),
    };
    catalog::normalize(delivery.body, &ctx)
}

/// What a source without id and timestamp headers makes of a delivery.
fn normalize_with_defaults(delivery: &RawDelivery<'_>) -> Normalized {
    normalize_catalog(delivery, None, None)
}

/// What every `hmac` source shares.
const PROFILE: Profile = Profile::new(KIND, CAPTURED_HEADERS, normalize_with_defaults);

/// The `hmac` kind in the table of kinds.
pub const REGISTRATION: Registration = Registration::new(&PROFILE, |table| {
    kind::build(table, HmacSource::from_settings)
});

impl Kind for HmacSource {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn verify(&self, headers: &dyn Headers, body: &[u8], now: i64) -> Result<Verified, Rejection> {
        let value = headers
            .header(&self.header)
            .ok_or(Rejection::MissingHeader("signature"))?
            .trim();
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or(Rejection::MalformedHeader("signature"))?,
            None => value,
        };
        let expected = self
            .encoding
            .decode(encoded.trim())
            .ok_or(Rejection::MalformedHeader("signature"))?;
        if expected.is_empty() {
            return Err(Rejection::MalformedHeader("signature"));
        }

        let mut signed_at = None;
        let mut timestamp_text = "";
        if self.template.contains(&Part::Timestamp) {
            let name = self.timestamp_header.as_deref().unwrap_or_default();
            timestamp_text = headers
                .header(name)
                .ok_or(Rejection::MissingHeader("timestamp"))?
                .trim();
            let timestamp = timestamp_text
                .parse::<i64>()
                .map_err(|_| Rejection::MalformedHeader("timestamp"))?;
            check_window(timestamp, now, self.tolerance_secs)?;
            signed_at = Some(timestamp);
        }
        let mut id = "";
        if self.template.contains(&Part::Id) {
            let name = self.id_header.as_deref().unwrap_or_default();
            id = headers
                .header(name)
                .ok_or(Rejection::MissingHeader("id"))?
                .trim();
            if id.is_empty() {
                return Err(Rejection::MalformedHeader("id"));
            }
        }

        let content = self.content(body, timestamp_text, id);
        let matched = self
            .secrets
            .iter()
            .any(|secret| self.algorithm.matches(secret.expose(), &content, &expected));
        if !matched {
            return Err(Rejection::BadSignature);
        }
        // A signed id is the dedup key already; otherwise what was signed must be the key.
        let replay_key = (!self.signs_id()).then(|| ReplayKey::signed_content(&content));
        Ok(Verified {
            signed_at,
            replay_key,
        })
    }

    /// The event catalog. The id header (when configured) is the delivery's dedup id; the
    /// timestamp header, else the receive time, stands in for an event without `timestamp`.
    fn normalize(&self, delivery: &RawDelivery<'_>) -> Normalized {
        let header = |name: &Option<String>| {
            name.as_deref()
                .and_then(|name| delivery.headers.header(name))
                .map(str::trim)
        };
        let event_id = header(&self.id_header).filter(|id| !id.is_empty());
        let sent_at = header(&self.timestamp_header)
            .and_then(|ts| ts.parse::<i64>().ok())
            .and_then(|ts| DateTime::from_timestamp(ts, 0));
        normalize_catalog(delivery, event_id, sent_at)
    }

    fn signing_headers(&self, body: &[u8], now: i64) -> Option<Vec<(String, String)>> {
        Some(self.sign_request(body, now))
    }

    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<super::Signed, String> {
        if self.id_header().is_none() {
            return Err(
                "this source has no id_header, so its deliveries carry no id to reuse: \
                 they are deduplicated by the ids of the events in the body"
                    .to_owned(),
            );
        }
        Ok(kind::with_headers(
            self.sign_request_with_id(body, now, id),
            body,
        ))
    }

    /// The configured signature, timestamp and id headers (so a signature can be re-checked
    /// and the id and time read at normalization), plus [`CAPTURED_HEADERS`]; lowercase.
    fn captured_headers(&self) -> Vec<String> {
        let configured = [
            Some(&self.header),
            self.timestamp_header.as_ref(),
            self.id_header.as_ref(),
        ];
        let mut names: Vec<String> = configured
            .into_iter()
            .flatten()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        names.extend(CAPTURED_HEADERS.iter().map(|h| (*h).to_owned()));
        let mut seen = std::collections::HashSet::new();
        names.retain(|name| seen.insert(name.clone()));
        names
    }

    /// The replay key [`HmacSource::verify`] gives a delivery, worked out again from a logged
    /// one (its captured headers and body): for deliveries logged before it gave one.
    fn replay_key(&self, delivery: &RawDelivery<'_>) -> Option<ReplayKey> {
        if self.signs_id() {
            return None;
        }
        let timestamp = match &self.timestamp_header {
            Some(name) if self.template.contains(&Part::Timestamp) => {
                delivery.headers.header(name)?.trim()
            }
            _ => "",
        };
        Some(ReplayKey::signed_content(&self.content(
            delivery.body,
            timestamp,
            "",
        )))
    }

    /// Whether nothing the signature covers ever makes a captured delivery invalid: no
    /// delivery id, and no timestamp (or one whose window is turned off).
    fn replays_never_expire(&self) -> bool {
        let checks_time = self.template.contains(&Part::Timestamp) && self.tolerance_secs > 0;
        !self.signs_id() && !checks_time
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use sha2::Digest;

    use super::*;
    use crate::activity::Outcome;

    // GH-1, published by GitHub.
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    // Reference values recomputed with Python's hmac module over the same inputs.
    const GH_SHA1_HEX: &str = "01dc10d0c83e72ed246219cdd91669667fe2ca59";
    const GH_SHA512_BASE64: &str =
        "Ee01WmF+mBNOhCASp5RMz1nBAlbLGCNXvX46QgE/8Hw3b4wUz1zBkj2iC1HWQlay+4678QCqZ6YTJvYf6oERvA==";
    const CATALOG_BODY: &[u8] = br#"{"type":"job.created","data":{"subject":{"kind":"job","id":"1042"},"job":{"id":"1042","number":"1042","title":"Banners"}}}"#;
    const SHOPIFY_STYLE: &str = "jhvu/+J7NPEHmm54cY1wtUaEQcVr+0M5n0xrGKDGUF0=";
    const TIMESTAMPED_HEX: &str =
        "f1a8c950c625808b526fdb6ccaadf29d2fbcb3f4e488ff69946b41dd636676d5";
    const ID_TIMESTAMPED_SHA512: &str =
        "lmoWVVAupNxJ0xIfrmhUfc+sKjvPwmGp8UyOW6Fnu3dTjXu/ONweFahLELT3+GVRpNeXtyeyTx/5byvGXlHQiw==";
    const NOW: i64 = 1_772_700_000;
    /// SHA-256 of "Hello, World!", computed apart from this code.
    const GH_BODY_SHA256: &str = "dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f";

    /// The key of a delivery whose signed content is these parts, put together.
    fn content_key(parts: &[&[u8]]) -> ReplayKey {
        ReplayKey::SignedContent(Sha256::digest(parts.concat()).into())
    }

    fn settings(secret: &str, header: &str) -> Settings {
        Settings {
            secrets: vec![secret.to_owned()],
            header: header.to_owned(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: None,
            signed_content: default_signed_content(),
            timestamp_header: None,
            id_header: None,
            tolerance_secs: None,
        }
    }

    fn github() -> HmacSource {
        HmacSource::from_settings(Settings {
            prefix: Some("sha256=".to_owned()),
            id_header: Some("X-GitHub-Delivery".to_owned()),
            ..settings(GH_SECRET, "X-Hub-Signature-256")
        })
        .unwrap()
    }

    fn shopify() -> HmacSource {
        HmacSource::from_settings(Settings {
            encoding: Encoding::Base64,
            id_header: Some("X-Shopify-Webhook-Id".to_owned()),
            ..settings("shpss_test_secret", "X-Shopify-Hmac-SHA256")
        })
        .unwrap()
    }

    fn timestamped(tolerance_secs: Option<u64>) -> HmacSource {
        HmacSource::from_settings(Settings {
            signed_content: "{timestamp}.{body}".to_owned(),
            timestamp_header: Some("X-Timestamp".to_owned()),
            tolerance_secs,
            ..settings("zap-secret", "X-Signature")
        })
        .unwrap()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_published_vector_verifies_and_signs() {
        let source = github();
        let verified = source.verify(&h(&[("x-hub-signature-256", GH_SIGNATURE)]), GH_BODY, NOW);
        assert_eq!(
            verified,
            Ok(Verified {
                signed_at: None,
                replay_key: Some(ReplayKey::SignedContent(
                    hex::decode(GH_BODY_SHA256).unwrap().try_into().unwrap()
                ))
            })
        );
        let signed = source.sign_request(GH_BODY, NOW);
        assert_eq!(
            signed[0],
            ("X-Hub-Signature-256".to_owned(), GH_SIGNATURE.to_owned())
        );
        // Hex case does not matter: decoded bytes are compared.
        assert!(
            source
                .verify(
                    &h(&[(
                        "X-Hub-Signature-256",
                        &GH_SIGNATURE.to_uppercase().replace("SHA256=", "sha256=")
                    )]),
                    GH_BODY,
                    NOW
                )
                .is_ok()
        );
    }

    #[test]
    fn github_negatives_fail() {
        let source = github();
        let verify = |signature: &str, body: &[u8]| {
            source.verify(&h(&[("X-Hub-Signature-256", signature)]), body, NOW)
        };
        assert_eq!(
            verify(GH_SIGNATURE, b"Hello, World?"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(&GH_SIGNATURE.replace("e17", "e18"), GH_BODY),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(&GH_SIGNATURE[..GH_SIGNATURE.len() - 2], GH_BODY),
            Err(Rejection::BadSignature)
        );
        // Without its prefix, or not hex: malformed.
        assert_eq!(
            verify(GH_SIGNATURE.trim_start_matches("sha256="), GH_BODY),
            Err(Rejection::MalformedHeader("signature"))
        );
        assert_eq!(
            verify("sha256=xyz", GH_BODY),
            Err(Rejection::MalformedHeader("signature"))
        );
        assert_eq!(
            verify("sha256=", GH_BODY),
            Err(Rejection::MalformedHeader("signature"))
        );
        assert_eq!(
            source.verify(&Vec::new(), GH_BODY, NOW),
            Err(Rejection::MissingHeader("signature"))
        );

        let wrong_key = HmacSource::from_settings(Settings {
            prefix: Some("sha256=".to_owned()),
            ..settings("It's a Secret to Everybody!", "X-Hub-Signature-256")
        })
        .unwrap();
        assert_eq!(
            wrong_key.verify(&h(&[("X-Hub-Signature-256", GH_SIGNATURE)]), GH_BODY, NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn shopify_style_base64_verifies_and_the_id_is_the_delivery_id() {
        let source = shopify();
        let headers = h(&[
            ("X-Shopify-Hmac-SHA256", SHOPIFY_STYLE),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ]);
        assert!(source.verify(&headers, CATALOG_BODY, NOW).is_ok());
        assert!(
            source
                .verify(
                    &h(&[("X-Shopify-Hmac-SHA256", SHOPIFY_STYLE.trim_end_matches('='))]),
                    CATALOG_BODY,
                    NOW
                )
                .is_ok()
        );
        assert_eq!(
            source.verify(
                &h(&[("X-Shopify-Hmac-SHA256", SHOPIFY_STYLE)]),
                &CATALOG_BODY[1..],
                NOW
            ),
            Err(Rejection::BadSignature)
        );
        let signed = source.sign_request(CATALOG_BODY, NOW);
        assert_eq!(signed[0].1, SHOPIFY_STYLE);

        let delivery = RawDelivery {
            source: "shopify",
            received_at: Utc::now(),
            headers: &headers,
            body: CATALOG_BODY,
        };
        let normalized = source.normalize(&delivery);
        assert_eq!(normalized.outcome, Outcome::Normalized);
        assert_eq!(
            normalized.delivery_id.as_deref(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
        assert_eq!(normalized.entries[0].kind.as_str(), "job.created");
        assert_eq!(normalized.entries[0].event_id, normalized.delivery_id);
    }

    #[test]
    fn sha1_and_sha512_match_reference_values_and_round_trip() {
        let sha1 = HmacSource::from_settings(Settings {
            algorithm: Algorithm::Sha1,
            ..settings(GH_SECRET, "X-Hub-Signature")
        })
        .unwrap();
        assert!(
            sha1.verify(&h(&[("X-Hub-Signature", GH_SHA1_HEX)]), GH_BODY, NOW)
                .is_ok()
        );
        assert_eq!(sha1.sign_request(GH_BODY, NOW)[0].1, GH_SHA1_HEX);

        let sha512 = HmacSource::from_settings(Settings {
            algorithm: Algorithm::Sha512,
            encoding: Encoding::Base64,
            ..settings(GH_SECRET, "X-Signature")
        })
        .unwrap();
        assert!(
            sha512
                .verify(&h(&[("X-Signature", GH_SHA512_BASE64)]), GH_BODY, NOW)
                .is_ok()
        );
        for source in [&sha1, &sha512] {
            let signed = source.sign_request(CATALOG_BODY, NOW);
            assert!(source.verify(&signed, CATALOG_BODY, NOW).is_ok());
            assert_eq!(
                source.verify(&signed, GH_BODY, NOW),
                Err(Rejection::BadSignature)
            );
        }
        // A SHA-256 signature is not accepted where SHA-1 is configured.
        assert_eq!(
            sha1.verify(
                &h(&[(
                    "X-Hub-Signature",
                    GH_SIGNATURE.trim_start_matches("sha256=")
                )]),
                GH_BODY,
                NOW
            ),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn signed_timestamps_verify_inside_the_window_only() {
        let source = timestamped(None);
        let headers = h(&[
            ("X-Signature", TIMESTAMPED_HEX),
            ("X-Timestamp", "1772700000"),
        ]);
        assert_eq!(
            source.verify(&headers, CATALOG_BODY, NOW),
            Ok(Verified {
                signed_at: Some(NOW),
                replay_key: Some(content_key(&[b"1772700000.", CATALOG_BODY]))
            })
        );
        assert!(source.verify(&headers, CATALOG_BODY, NOW + 300).is_ok());
        assert_eq!(
            source.verify(&headers, CATALOG_BODY, NOW + 301),
            Err(Rejection::StaleTimestamp {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            source.verify(&headers, CATALOG_BODY, NOW - 301),
            Err(Rejection::FutureTimestamp {
                tolerance_secs: 300
            })
        );
        assert!(
            timestamped(Some(0))
                .verify(&headers, CATALOG_BODY, NOW + 1_000_000)
                .is_ok()
        );

        // The timestamp is signed: changing it breaks the signature even inside the window.
        let moved = h(&[
            ("X-Signature", TIMESTAMPED_HEX),
            ("X-Timestamp", "1772700001"),
        ]);
        assert_eq!(
            source.verify(&moved, CATALOG_BODY, NOW),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            source.verify(&h(&[("X-Signature", TIMESTAMPED_HEX)]), CATALOG_BODY, NOW),
            Err(Rejection::MissingHeader("timestamp"))
        );
        let garbled = h(&[
            ("X-Signature", TIMESTAMPED_HEX),
            ("X-Timestamp", "yesterday"),
        ]);
        assert_eq!(
            source.verify(&garbled, CATALOG_BODY, NOW),
            Err(Rejection::MalformedHeader("timestamp"))
        );
        let signed = source.sign_request(CATALOG_BODY, NOW);
        assert!(source.verify(&signed, CATALOG_BODY, NOW).is_ok());
    }

    #[test]
    fn id_timestamp_body_templates_sign_the_id() {
        let source = HmacSource::from_settings(Settings {
            algorithm: Algorithm::Sha512,
            encoding: Encoding::Base64,
            signed_content: "{id}.{timestamp}.{body}".to_owned(),
            timestamp_header: Some("X-Timestamp".to_owned()),
            id_header: Some("X-Delivery-Id".to_owned()),
            ..settings("zap-secret", "X-Signature")
        })
        .unwrap();
        let headers = h(&[
            ("X-Signature", ID_TIMESTAMPED_SHA512),
            ("X-Timestamp", "1772700000"),
            ("X-Delivery-Id", "evt_1"),
        ]);
        assert!(source.verify(&headers, CATALOG_BODY, NOW).is_ok());
        let other_id = h(&[
            ("X-Signature", ID_TIMESTAMPED_SHA512),
            ("X-Timestamp", "1772700000"),
            ("X-Delivery-Id", "evt_2"),
        ]);
        assert_eq!(
            source.verify(&other_id, CATALOG_BODY, NOW),
            Err(Rejection::BadSignature)
        );
        let no_id = h(&[
            ("X-Signature", ID_TIMESTAMPED_SHA512),
            ("X-Timestamp", "1772700000"),
        ]);
        assert_eq!(
            source.verify(&no_id, CATALOG_BODY, NOW),
            Err(Rejection::MissingHeader("id"))
        );
        let signed = source.sign_request(CATALOG_BODY, NOW);
        assert_eq!(signed.len(), 3);
        assert!(source.verify(&signed, CATALOG_BODY, NOW).is_ok());
    }

    fn source_signing(template: &str, tolerance_secs: Option<u64>) -> HmacSource {
        HmacSource::from_settings(Settings {
            signed_content: template.to_owned(),
            timestamp_header: Some("X-Timestamp".to_owned()),
            id_header: Some("X-Delivery-Id".to_owned()),
            tolerance_secs,
            ..settings("zap-secret", "X-Signature")
        })
        .unwrap()
    }

    /// The signed headers with the id header replaced (`Some`) or removed (`None`).
    fn with_id(signed: &[(String, String)], id: Option<&str>) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = signed
            .iter()
            .filter(|(name, _)| name != "X-Delivery-Id")
            .cloned()
            .collect();
        if let Some(id) = id {
            headers.push(("X-Delivery-Id".to_owned(), id.to_owned()));
        }
        headers
    }

    #[test]
    fn without_a_signed_id_the_signed_content_is_the_replay_key() {
        for (template, signed_content) in [
            ("{body}", CATALOG_BODY.to_vec()),
            (
                "{timestamp}.{body}",
                [b"1772700000.", CATALOG_BODY].concat(),
            ),
            (
                "v0:{timestamp}:{body}",
                [b"v0:1772700000:", CATALOG_BODY].concat(),
            ),
        ] {
            let source = source_signing(template, None);
            let signed = source.sign_request(CATALOG_BODY, NOW);
            let key = source
                .verify(&signed, CATALOG_BODY, NOW)
                .unwrap()
                .replay_key;
            assert_eq!(key, Some(content_key(&[&signed_content])), "{template}");
            // The unsigned id plays no part: a new one, or none, gives the same key.
            for id in [Some("another-id"), None] {
                let resent = source.verify(&with_id(&signed, id), CATALOG_BODY, NOW);
                assert_eq!(resent.unwrap().replay_key, key, "{template}, id {id:?}");
            }
        }
        // Other signed content, another key: a later signature over the same body.
        let source = source_signing("{timestamp}.{body}", None);
        let first = source.sign_request(CATALOG_BODY, NOW);
        let later = source.sign_request(CATALOG_BODY, NOW + 1);
        assert_ne!(
            source.verify(&first, CATALOG_BODY, NOW).unwrap().replay_key,
            source.verify(&later, CATALOG_BODY, NOW).unwrap().replay_key
        );
    }

    #[test]
    fn a_signed_id_needs_no_replay_key() {
        for template in ["{id}.{body}", "{id}.{timestamp}.{body}", "{body}|{id}"] {
            let source = source_signing(template, None);
            let signed = source.sign_request(CATALOG_BODY, NOW);
            assert_eq!(
                source
                    .verify(&signed, CATALOG_BODY, NOW)
                    .unwrap()
                    .replay_key,
                None,
                "{template}"
            );
            // The id cannot change without the signature breaking, so dedup on it holds.
            assert_eq!(
                source.verify(&with_id(&signed, Some("another-id")), CATALOG_BODY, NOW),
                Err(Rejection::BadSignature),
                "{template}"
            );
        }
    }

    #[test]
    fn a_logged_delivery_gives_the_replay_key_its_verification_gave() {
        let body = br#"{"type": "status.changed"}"#;
        for template in ["{body}", "{timestamp}.{body}", "{id}.{timestamp}.{body}"] {
            let source = source_signing(template, None);
            let signed = source.sign_request(body, NOW);
            let verified = source.verify(&signed, body, NOW).unwrap();
            // What the log keeps: the captured headers only.
            let captured = source.captured_headers();
            let logged: Vec<(String, String)> = signed
                .into_iter()
                .filter(|(name, _)| captured.contains(&name.to_ascii_lowercase()))
                .collect();
            let delivery = RawDelivery {
                source: "zapier",
                received_at: Utc::now(),
                headers: &logged,
                body,
            };
            assert_eq!(
                source.replay_key(&delivery),
                verified.replay_key,
                "{template}"
            );
        }
    }

    #[test]
    fn replays_never_expire_without_a_signed_id_or_a_checked_timestamp() {
        assert!(source_signing("{body}", None).replays_never_expire());
        assert!(github().replays_never_expire());
        assert!(source_signing("{timestamp}.{body}", Some(0)).replays_never_expire());
        assert!(!source_signing("{timestamp}.{body}", None).replays_never_expire());
        assert!(!source_signing("{id}.{body}", None).replays_never_expire());
        assert!(!source_signing("{id}.{timestamp}.{body}", Some(0)).replays_never_expire());
    }

    #[test]
    fn any_configured_secret_verifies() {
        let source = HmacSource::from_settings(Settings {
            secrets: vec!["old-secret".to_owned(), GH_SECRET.to_owned()],
            prefix: Some("sha256=".to_owned()),
            ..settings("unused", "X-Hub-Signature-256")
        })
        .unwrap();
        assert!(
            source
                .verify(&h(&[("X-Hub-Signature-256", GH_SIGNATURE)]), GH_BODY, NOW)
                .is_ok()
        );
    }

    #[test]
    fn settings_are_validated_and_errors_name_the_key() {
        let error = |settings: Settings| HmacSource::from_settings(settings).unwrap_err();
        let base = || settings("s", "X-Signature");
        assert!(
            error(Settings {
                secrets: vec![],
                ..base()
            })
            .starts_with("secrets:")
        );
        assert!(
            error(Settings {
                secrets: vec!["a".into(), String::new()],
                ..base()
            })
            .starts_with("secrets[1]:")
        );
        assert!(
            error(Settings {
                header: " ".into(),
                ..base()
            })
            .starts_with("header:")
        );
        assert!(
            error(Settings {
                header: "X Signature".into(),
                ..base()
            })
            .starts_with("header:")
        );
        assert!(
            error(Settings {
                id_header: Some("".into()),
                ..base()
            })
            .starts_with("id_header:")
        );
        for template in [
            "{timestamp}.{body}",
            "{id}.{body}",
            "{body}{body}",
            "{ts}.{body}",
            "{timestamp}",
            "{body",
            "",
        ] {
            let message = error(Settings {
                signed_content: template.into(),
                ..base()
            });
            assert!(
                message.starts_with("signed_content:"),
                "{template}: {message}"
            );
        }
        assert!(
            error(Settings {
                tolerance_secs: Some(60),
                ..base()
            })
            .starts_with("tolerance_secs:")
        );

        let parsed: Settings =
            serde_json::from_str(r#"{"secrets":["s"],"header":"X-Sig"}"#).unwrap();
        assert_eq!(
            (
                parsed.algorithm,
                parsed.encoding,
                parsed.signed_content.as_str()
            ),
            (Algorithm::Sha256, Encoding::Hex, "{body}")
        );
        for bad in [
            r#"{"secrets":["s"],"header":"X","algorithm":"md5"}"#,
            r#"{"secrets":["s"],"header":"X","encoding":"base32"}"#,
            r#"{"secrets":["s"],"header":"X","public_key":"k"}"#,
            r#"{"secrets":["s"]}"#,
        ] {
            assert!(serde_json::from_str::<Settings>(bad).is_err(), "{bad}");
        }
        // Literal text around the placeholders is fine (Slack-style `v0:{timestamp}:{body}`).
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            [
                Part::Literal("v0:".into()),
                Part::Timestamp,
                Part::Literal(":".into()),
                Part::Body
            ]
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let printed = format!("{:?}", github());
        assert!(!printed.contains("Secret to Everybody"), "{printed}");
    }

    #[test]
    fn captured_headers_follow_the_settings() {
        assert_eq!(
            github().captured_headers(),
            [
                "x-hub-signature-256",
                "x-github-delivery",
                "content-type",
                "user-agent"
            ]
        );
        assert_eq!(
            timestamped(None).captured_headers(),
            ["x-signature", "x-timestamp", "content-type", "user-agent"]
        );
    }

    #[test]
    fn normalize_uses_the_timestamp_header_as_the_fallback_time() {
        let source = timestamped(None);
        let headers = h(&[("X-Timestamp", "1772700000")]);
        let received_at = DateTime::from_timestamp(1_772_800_000, 0).unwrap();
        let delivery = RawDelivery {
            source: "zapier",
            received_at,
            headers: &headers,
            body: CATALOG_BODY,
        };
        let normalized = source.normalize(&delivery);
        assert_eq!(
            normalized.entries[0].occurred_at,
            DateTime::from_timestamp(NOW, 0).unwrap()
        );
        assert_eq!(normalized.delivery_id, None);

        let unreadable = RawDelivery {
            source: "zapier",
            received_at,
            headers: &[],
            body: b"<xml/>",
        };
        let normalized = source.normalize(&unreadable);
        assert!(matches!(normalized.outcome, Outcome::Unparseable { .. }));
    }
}
