//! `[embed]`: timelines shown inside the business app (`GET /embed/{kind}/{id}`), reached by
//! links it signs with a secret it shares with the gateway.

use std::num::NonZeroU64;

use serde::{Deserialize, Deserializer};

use crate::crypto::Secret;

/// The shortest embed secret accepted: 32 bytes, the size of the HMAC-SHA256 key it becomes.
pub const MIN_EMBED_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedConfig {
    /// Signs embed links. Without it `/embed` is off (404).
    #[serde(default, deserialize_with = "embed_secret")]
    pub secret: Option<Secret>,
    /// The origins that may frame an embedded timeline (`https://app.example.com`); none by
    /// default, so a link opens only as a page of its own.
    #[serde(default, deserialize_with = "origins")]
    pub allowed_origins: Vec<String>,
    /// How far ahead a link may expire: one that claims longer is refused, so a leaked link
    /// stops working soon whatever it says.
    #[serde(default = "default_max_ttl_secs")]
    pub max_ttl_secs: NonZeroU64,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            secret: None,
            allowed_origins: Vec::new(),
            max_ttl_secs: default_max_ttl_secs(),
        }
    }
}

fn default_max_ttl_secs() -> NonZeroU64 {
    NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN)
}

fn embed_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let secret = String::deserialize(deserializer)?;
    if secret.trim().len() < MIN_EMBED_SECRET_BYTES {
        return Err(serde::de::Error::custom(format!(
            "must be at least {MIN_EMBED_SECRET_BYTES} characters (e.g. `openssl rand -base64 48`)"
        )));
    }
    Ok(Secret::new(secret.trim().as_bytes().to_vec()))
}

/// Each an origin as a browser sends it: `https://host` or `https://host:port`, nothing more
/// (a path, a wildcard or a quote would change what `frame-ancestors` allows).
fn origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let origins = Vec::<String>::deserialize(deserializer)?;
    for origin in &origins {
        if !is_origin(origin) {
            return Err(serde::de::Error::custom(format!(
                "{origin:?} is not an origin: use scheme://host[:port], e.g. https://app.example.com"
            )));
        }
    }
    Ok(origins)
}

fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let host_chars =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    matches!(scheme, "https" | "http") && !rest.is_empty() && rest.chars().all(host_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_origins_may_frame() {
        assert!(is_origin("https://app.example-printshop.com"));
        assert!(is_origin("http://localhost:3000"));
        for bad in [
            "app.example.com",
            "https://",
            "https://app.example.com/",
            "https://*.example.com",
            "https://a.example.com 'unsafe-inline'",
            "javascript://x",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
