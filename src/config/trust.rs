//! `[trust]`: the key that signs tree heads (see [`crate::trust`]) and how often. Without a
//! key the gateway says so at start and everything else works; heads are simply not signed.

use std::num::NonZeroU64;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::trust::keys::TreeKey;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// `ed25519:<base64 seed>` from `hooktrail keygen`. Keep it in the environment
    /// (`HOOKTRAIL_TRUST__SIGNING_KEY`), not in the file.
    #[serde(default, deserialize_with = "signing_key")]
    pub signing_key: Option<TreeKey>,
    /// How often a head is signed (by whichever gateway sharing the store gets there first),
    /// and once more at shutdown if deliveries came after the last.
    #[serde(default = "default_digest_interval_secs")]
    pub digest_interval_secs: NonZeroU64,
    /// A folder each signed head is also written to, as `{number:010}.json` (e.g. one that is
    /// copied off the machine): copies that live outside the store.
    #[serde(default)]
    pub digests_dir: Option<PathBuf>,
    /// A URL each signed head is also posted to, as JSON (a head is signed already; the
    /// receiver checks it with the public key).
    #[serde(default, deserialize_with = "optional_http_url")]
    pub digests_url: Option<String>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            signing_key: None,
            digest_interval_secs: default_digest_interval_secs(),
            digests_dir: None,
            digests_url: None,
        }
    }
}

fn default_digest_interval_secs() -> NonZeroU64 {
    NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN)
}

fn signing_key<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TreeKey>, D::Error> {
    let text = String::deserialize(deserializer)?;
    TreeKey::parse(&text)
        .map(Some)
        .map_err(|err| serde::de::Error::custom(format!("{err} (from `hooktrail keygen`)")))
}

fn optional_http_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    super::alerts::http_url(deserializer).map(Some)
}
