//! Sources: where webhooks come from. One file per provider, each with its verifier (raw bytes
//! and headers in, a verdict out) and its normalizer (a stored delivery in, entries out), both
//! pure functions, side by side with the provider's published test vectors.

pub mod email;
pub mod hmac;
pub mod internal;
mod json;
pub mod kind;
pub mod mailgun;
pub mod postmark;
pub mod quickbooks;
pub mod resend;
pub mod sendgrid;
pub mod signing;
pub mod standard_webhooks;
pub mod stripe;
pub mod xero;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::activity::Normalized;

pub use kind::{KINDS, Kind};
pub use signing::Secret;

/// Read access to request headers, by case-insensitive name. Implemented for actix's header
/// map and for stored deliveries, so verifiers and normalizers do not depend on the framework.
pub trait Headers {
    fn header(&self, name: &str) -> Option<&str>;
}

impl Headers for [(String, String)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl Headers for Vec<(String, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

#[cfg(feature = "gateway")]
impl Headers for actix_web::http::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        actix_web::http::header::HeaderMap::get(self, name).and_then(|value| value.to_str().ok())
    }
}

/// A logged delivery read again by today's source (see [`Source::reread`]).
#[derive(Debug, Clone)]
pub struct Reread {
    pub normalized: Normalized,
    /// The replay key the source's verification gives such a delivery, worked out again from
    /// its captured headers and body: a delivery logged before its scheme had one gains it.
    pub replay_key: Option<ReplayKey>,
}

impl From<Normalized> for Reread {
    fn from(normalized: Normalized) -> Self {
        Reread {
            normalized,
            replay_key: None,
        }
    }
}

/// Why a delivery was refused. Every variant means "not authentic": nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    #[error("no signature matches")]
    BadSignature,
    #[error("the signed timestamp is older than the {tolerance_secs} s tolerance")]
    StaleTimestamp { tolerance_secs: u64 },
    #[error("the signed timestamp is further in the future than the {tolerance_secs} s tolerance")]
    FutureTimestamp { tolerance_secs: u64 },
    #[error("this signature was already used (replay)")]
    Replayed,
}

impl Rejection {
    /// A short stable label, for logs and metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) | Rejection::MalformedHeader(_) => "missing_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::StaleTimestamp { .. } | Rejection::FutureTimestamp { .. } => {
                "stale_timestamp"
            }
            Rejection::Replayed => "replayed",
        }
    }
}

/// What a successful verification tells about the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// The time the sender signed, where the scheme signs one.
    pub signed_at: Option<i64>,
    /// For schemes whose signature covers no unique id of the delivery: what the store checks,
    /// across restarts, so that a captured delivery is never stored twice.
    pub replay_key: Option<ReplayKey>,
}

/// What keeps a captured delivery from being stored again when its signature covers no unique
/// id of the delivery (the "Replay keys" decision in docs/architecture.md). The store keeps
/// every key it has seen, per source, for good; it checks them after the delivery id, so a
/// provider's retry that repeats its id is a duplicate either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayKey {
    /// A one-time value the signature covers while the event beside it is unsigned (Mailgun's
    /// token, as `mailgun-token:…`). Seen again on a delivery that is not a retry of the
    /// first, it is a captured signature put on other content: refused
    /// ([`Rejection::Replayed`], 401).
    Token(String),
    /// The SHA-256 of exactly what the signature covers. Seen again, the delivery is the same
    /// authenticated message — a provider's retry under a fresh delivery id and a replay
    /// cannot be told apart, and neither may add anything — so it is a duplicate of the
    /// first: 2xx, nothing stored.
    SignedContent([u8; 32]),
}

impl ReplayKey {
    /// The key of a signature over these parts, in order: the SHA-256 of exactly the bytes
    /// it covers.
    pub fn signed_content(parts: &[&[u8]]) -> ReplayKey {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for part in parts {
            hash.update(part);
        }
        ReplayKey::SignedContent(hash.finalize().into())
    }

    /// How a signed-content key is written in delivery records; tokens are written as they
    /// are. A token never starts like this: verifiers name their scheme first
    /// (`mailgun-token:`).
    const SIGNED_CONTENT_PREFIX: &'static str = "signed-content:";

    /// The key as delivery records keep it.
    pub fn to_stored(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ReplayKey::Token(token) => std::borrow::Cow::Borrowed(token),
            ReplayKey::SignedContent(hash) => std::borrow::Cow::Owned(format!(
                "{}{}",
                Self::SIGNED_CONTENT_PREFIX,
                hex::encode(hash)
            )),
        }
    }

    /// Reads what [`ReplayKey::to_stored`] wrote (and the plain tokens of earlier versions).
    pub fn from_stored(text: &str) -> ReplayKey {
        let hash = text
            .strip_prefix(Self::SIGNED_CONTENT_PREFIX)
            .and_then(|hex_text| hex::decode(hex_text).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
        match hash {
            Some(hash) => ReplayKey::SignedContent(hash),
            None => ReplayKey::Token(text.to_owned()),
        }
    }
}

impl serde::Serialize for ReplayKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_stored())
    }
}

impl<'de> serde::Deserialize<'de> for ReplayKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ReplayKey::from_stored(&text))
    }
}

/// A delivery as the log keeps it, which is all a normalizer may look at: normalizing again
/// after an upgrade (`hooktrail reindex`) must give what normalizing at intake gave.
#[derive(Debug, Clone, Copy)]
pub struct RawDelivery<'a> {
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A configured source: a name (its URL path segment) and a source of one of the [`KINDS`].
pub struct Source {
    pub name: String,
    kind_name: &'static str,
    kind: Box<dyn Kind>,
    captured_headers: Vec<String>,
}

/// A request as the provider would send it: its signing headers and its (possibly rewritten)
/// body — Mailgun puts its signature inside the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Source {
    /// A source named `name`, of the kind `kind` was built as.
    pub fn new(name: String, kind: Box<dyn Kind>) -> Source {
        let captured_headers = kind.captured_headers();
        Source {
            name,
            kind_name: kind.profile().name,
            kind,
            captured_headers,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        self.kind_name
    }

    /// Checks the delivery's signature over the exact raw bytes, at time `now` (Unix seconds).
    pub fn verify(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        self.kind.verify(headers, body, now)
    }

    pub fn normalize(&self, delivery: &RawDelivery<'_>) -> Normalized {
        self.kind.normalize(delivery)
    }

    /// Signs `body` as this source's provider would at time `now`: what `hooktrail send`,
    /// `hooktrail demo`, the benchmark and the tests use. SendGrid signs with a private key:
    /// `signing_key`, or SendGrid's published test key when the source verifies with its
    /// public half.
    pub fn sign(&self, body: &[u8], now: i64, signing_key: Option<&str>) -> Result<Signed, String> {
        self.kind.sign(body, now, signing_key)
    }

    /// Signs `body` as a retry of delivery `id` would be signed (`send --id`); kinds whose id
    /// is not beside the body say where it is instead.
    pub fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<Signed, String> {
        self.kind.sign_with_id(body, now, id)
    }

    /// The request headers worth keeping with the delivery: what the normalizer reads, and
    /// what would let someone re-check the signature later.
    pub fn captured_headers(&self) -> &[String] {
        &self.captured_headers
    }

    /// Xero requires every answer to have an empty body (and no cookies).
    pub fn wants_empty_responses(&self) -> bool {
        self.kind.wants_empty_responses()
    }

    /// A logged delivery read again by today's normalizer, with the replay key verification
    /// would give it (for `reindex` and for rebuilding the views).
    pub fn reread(&self, delivery: &RawDelivery<'_>) -> Reread {
        Reread {
            normalized: self.normalize(delivery),
            replay_key: self.replay_key(delivery),
        }
    }

    /// The replay key verification gives a delivery of this source, worked out again from the
    /// logged delivery: `reindex` gives it to deliveries logged before their scheme had one.
    /// Mailgun's tokens have always been logged.
    pub fn replay_key(&self, delivery: &RawDelivery<'_>) -> Option<ReplayKey> {
        self.kind.replay_key(delivery)
    }

    /// Whether a captured delivery of this source stays valid for good: its signature covers
    /// neither a timestamp that is checked nor a delivery id. Only a generic `hmac` source
    /// can be configured so: every provider's scheme signs a timestamp or the event ids in
    /// the body (Postmark signs nothing — its password is the whole defence — and its events
    /// are deduplicated on their ids).
    pub fn replays_never_expire(&self) -> bool {
        self.kind.replays_never_expire()
    }
}

/// Names, at startup, each source whose captured deliveries never expire. They are still
/// deduplicated on the hash of what was signed, so a replay stores nothing; but the operator
/// should know that only the store's memory of that hash stands between a capture and a
/// second entry (a restored backup forgets what came after it).
pub fn warn_about_replays_that_never_expire(sources: &[Source]) {
    for source in sources
        .iter()
        .filter(|source| source.replays_never_expire())
    {
        tracing::warn!(
            source = %source.name,
            "this hmac source signs neither a checked timestamp nor a delivery id, so a captured \
             delivery never expires: only dedup on the hash of the signed content stops a replay. \
             Sign {{timestamp}} or {{id}} (signed_content) to bound replays."
        );
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately omits the settings: they hold secrets.
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("kind", &self.kind_name())
            .finish()
    }
}

/// A signed timestamp must fall within `tolerance_secs` of now, both ways; 0 turns the check
/// off (for replaying old captures).
pub fn check_window(signed_at: i64, now: i64, tolerance_secs: u64) -> Result<(), Rejection> {
    if tolerance_secs == 0 {
        return Ok(());
    }
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    if now.saturating_sub(signed_at) > tolerance {
        return Err(Rejection::StaleTimestamp { tolerance_secs });
    }
    if signed_at.saturating_sub(now) > tolerance {
        return Err(Rejection::FutureTimestamp { tolerance_secs });
    }
    Ok(())
}

/// The default window for schemes that sign a timestamp.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
