//! `[trust]`: the key that signs tree heads (see [`crate::trust`]) and how often. Without a
//! key the gateway says so at start and everything else works; heads are simply not signed.

use std::num::NonZeroU64;

use serde::{Deserialize, Deserializer};

use crate::trust::keys::TreeKey;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// `ed25519:<base64 seed>` from `hooktrail keygen`. Keep it in the environment
    /// (`HOOKTRAIL_TRUST__SIGNING_KEY`), not in the file.
    #[serde(default, deserialize_with = "signing_key")]
    pub signing_key: Option<TreeKey>,
    /// How often a head is signed while deliveries arrive.
    #[serde(default = "default_digest_interval_secs")]
    pub digest_interval_secs: NonZeroU64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            signing_key: None,
            digest_interval_secs: default_digest_interval_secs(),
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
